"""End to end extraction of real MP4s (synthetic datasets) into complete, checked stores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

import sys  # noqa: E402
from pathlib import Path as _Path  # noqa: E402

sys.path.insert(0, str(_Path(__file__).parent))

from extract_fixtures import assert_stores_equal, make_synth, tiny_config

from voca_data.store import schema
from voca_data.extract import ExtractConfig, extract
from voca_data.records import frame_labels


@pytest.fixture(scope="module")
def lavdf_root(tmp_path_factory):
    return make_synth(tmp_path_factory.mktemp("lavdf") / "ds", "lavdf", videos=8, seed=0)


def _check(store: Path) -> None:
    from voca_data.store.check import check_store

    assert check_store(store) == []


def test_lavdf_end_to_end_with_mtcnn(lavdf_root, tmp_path):
    from voca_data.media import decode
    from voca_data.sources import load

    records = load("lavdf", lavdf_root)
    out = extract(records, lavdf_root, tmp_path / "s.zarr", tiny_config(detector="mtcnn"),
                  scheduler="synchronous", progress=False)
    _check(out)
    g = zarr.open_group(str(out), mode="r")
    attrs = dict(g.attrs)
    assert attrs["complete"] is True
    assert attrs["visual_encoder"]["pretrained"] is False
    assert attrs["face_detector"]["detect_every"] == 5
    assert attrs["extraction"]["visual_arch"] == "voca-tiny"
    assert attrs["dataset"]["root"] == str(lavdf_root.resolve())
    assert attrs["dataset"]["name"] == records.source == "LAV-DF"
    assert attrs["dataset"]["manifest"] == "metadata.min.json"
    from voca_data.provenance import sha256_file

    assert attrs["dataset"]["manifest_sha256"] == sha256_file(lavdf_root / "metadata.min.json")
    assert [h["action"] for h in attrs["history"]][-2:] == ["extract", "finalize"]
    assert attrs["av_sync"]["fitted"] is True
    status = g["status"][:]
    assert (status == schema.OK).all()
    n_frames = g["n_frames"][:]
    ids = [str(x) for x in g["video_id"][:]]
    by_id = {r.video_id: r for r in records}
    for k in (0, 5):
        rec = by_id[ids[k]]
        video = decode(lavdf_root / rec.path)
        n = int(n_frames[k])
        assert n == video.n_frames
        vis = g["visual"][k, :n].astype(np.float32)
        assert np.isfinite(vis).all() and np.isnan(g["visual"][k, n:]).all()
        assert np.isfinite(g["audio"][k, :n].astype(np.float32)).all()
        np.testing.assert_array_equal(g["frame_label"][k, :n], frame_labels(rec.fake_periods, n, 25.0))
        # the detector found the face in the synthetic videos
        assert (g["face_score"][k, :n].astype(np.float32) > 0.5).mean() > 0.8
        boxes = g["face_box"][k, :n]
        assert np.isfinite(boxes).all()
        assert ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all()
        assert (boxes[:, 2] <= video.width + 1).all() and (boxes[:, 3] <= video.height + 1).all()
        # visual similarity is the cosine of consecutive (float32) embeddings
        sim = g["visual_similarity"][k, :n]
        assert np.isnan(sim[0]) and np.isfinite(sim[1:]).all()
        vn = vis / np.linalg.norm(vis, axis=1, keepdims=True)
        np.testing.assert_allclose(sim[1:], (vn[1:] * vn[:-1]).sum(1), atol=2e-2)
        av = g["av_similarity"][k, :n]
        assert np.isfinite(av).all() and (np.abs(av) <= 1).all()
    assert "av_visual_pca" in g and "visual_mean" in g
    # resume on a complete store does nothing and changes nothing
    before = {n: np.asarray(a[...]) for n, a in g.arrays() if n in ("visual", "status")}
    extract(records, lavdf_root, out, tiny_config(detector="mtcnn"), scheduler="synchronous",
            progress=False)
    g2 = zarr.open_group(str(out), mode="r")
    np.testing.assert_array_equal(g2["visual"][...], before["visual"])
    assert [h["action"] for h in g2.attrs["history"]].count("extract") == 1


@pytest.mark.parametrize("layout", ["ffdv", "folder"])
def test_cli_end_to_end_other_layouts(layout, tmp_path):
    from voca_data.cli import main

    root = make_synth(tmp_path / "ds", layout, videos=6, seed=2)
    out = tmp_path / "s.zarr"
    argv = ["extract", layout, str(root), str(out), "--visual-arch", "voca-tiny", "--detector",
            "center", "--block-size", "4", "--batch-size", "16", "--device", "cpu",
            "--scheduler", "threads", "--workers", "2", "--no-progress"]
    assert main(argv) == 0
    assert main(["check", str(out), "--no-progress"]) == 0
    g = zarr.open_group(str(out), mode="r")
    assert g.attrs["complete"] is True and g.attrs["dataset"]["name"] == layout
    assert (g["status"][:] == schema.OK).all()
    assert (g["n_frames"][:] > 40).all()
    # finalize again from the CLI is idempotent for the data
    av = g["av_similarity"][...]
    assert main(["finalize", str(out)]) == 0
    np.testing.assert_array_equal(zarr.open_group(str(out), mode="r")["av_similarity"][...], av)


def test_threads_equals_synchronous_and_config_roundtrip(lavdf_root, tmp_path):
    from voca_data.sources import load

    records = load("lavdf", lavdf_root)
    a = extract(records, lavdf_root, tmp_path / "a.zarr", tiny_config(), scheduler="synchronous",
                progress=False)
    b = extract(records, lavdf_root, tmp_path / "b.zarr", tiny_config(), scheduler="threads",
                workers=2, progress=False)
    assert_stores_equal(a, b)
    cfg = ExtractConfig.from_store(a)
    assert cfg == tiny_config()
    assert ExtractConfig.from_store(a, device="auto").device == "auto"
    # resuming with other encoder settings is refused
    with pytest.raises(ValueError, match="other settings"):
        extract(records, lavdf_root, a, tiny_config(detect_every=2), progress=False)
