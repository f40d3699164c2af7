"""Import of per-video npz feature folders (LAV-DF scripts' layout), on real npz files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import voca_data
from voca_data.store import schema
from voca_data.store.check import check_store
from voca_data.records import frame_labels
from voca_data.sources.npz import import_npz, resample_linear, runs_to_periods

sys.path.insert(0, str(Path(__file__).parent))
from npz_fixture import make_npz_tree, run_command

pytestmark = pytest.mark.filterwarnings("ignore:Consolidated metadata")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_npz_tree(tmp_path_factory.mktemp("npz") / "feats", n_videos=12, visual_dim=512,
                         audio_dim=24, corrupt=[4], missing_audio=[7], seed=2)


def test_resample_linear_keeps_linear_signals_and_identity():
    x = np.arange(10, dtype=np.float32)[:, None] * np.array([[1.0, -2.0]], np.float32)
    np.testing.assert_array_equal(resample_linear(x, 10), x)
    # a linear signal of time stays linear: value at frame centre t = slope * time
    for n in (7, 16, 25):
        y = resample_linear(x, n)
        t_audio = (np.arange(n) + 0.5) * 10 / n - 0.5  # frame centres in audio-row units
        inside = (t_audio >= 0) & (t_audio <= 9)
        np.testing.assert_allclose(y[inside, 0], t_audio[inside], rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(y[~inside, 0], np.clip(t_audio[~inside], 0, 9), atol=1e-6)
    assert resample_linear(np.ones((1, 3), np.float32), 4).shape == (4, 3)


def test_runs_to_periods_give_back_the_frames():
    rng = np.random.default_rng(0)
    for _ in range(20):
        lab = (rng.random(int(rng.integers(1, 300))) < 0.3).astype(np.int8)
        periods = np.asarray(runs_to_periods(lab, 25.0), np.float32)  # as stored
        np.testing.assert_array_equal(frame_labels(periods.tolist(), lab.size, 25.0), lab)


def test_import_with_metadata(tree, tmp_path):
    out = tmp_path / "s.zarr"
    summary = import_npz(tree.root, out, metadata=tree.metadata, block_size=4)
    assert summary["complete"] is True and summary["ok"] == 10 and summary["failed"] == 2
    ds = voca_data.open(out, warn_incomplete=False)
    assert check_store(out) == []
    assert ds.sizes["visual_dim"] == 512 and ds.sizes["audio_dim"] == 24
    resampled = 0
    for k, rec in enumerate(tree.records):
        vid = rec["file"][: -len(".mp4")]
        one = ds.sel(video_id=vid)
        assert one.path.item() == rec["file"] and one.split.item() == rec["split"]
        assert int(one.n_fakes) == rec["n_fakes"]
        assert int(one.label) == int(bool(rec["fake_periods"]) or rec["modify_video"] or rec["modify_audio"])
        assert int(one.modify_video) == int(rec["modify_video"])
        if vid in tree.corrupt or k == 7:
            assert int(one.status) == schema.FAILED
            name = "visual_embeddings.npz" if vid in tree.corrupt else "audio_embeddings.npz"
            assert f"{vid}/{name}" in one.error.item(), one.error.item()
            assert np.isnan(one.visual.values).all()
            continue
        assert int(one.status) == schema.OK
        t = rec["video_frames"]
        assert int(one.n_frames) == t
        np.testing.assert_array_equal(one.visual.values[:t], tree.visual[vid].astype(np.float16))
        aud = tree.audio[vid]
        expected = aud if len(aud) == t else resample_linear(aud, t)
        np.testing.assert_array_equal(one.audio.values[:t], expected.astype(np.float16))
        if len(aud) != t:
            resampled += 1
            assert f"audio resampled from {len(aud)} to {t} frames" in one.notes.item()
        np.testing.assert_array_equal(one.frame_label.values[:t],
                                      frame_labels(rec["fake_periods"], t, 25.0))
        sims = tree.similarities.get(vid)
        av = one.av_similarity.values[:t]
        if sims is None:
            assert np.isnan(av).all()
        else:
            np.testing.assert_array_equal(av[: len(sims)], sims.astype(np.float32))
            assert np.isnan(av[len(sims):]).all()
        v = tree.visual[vid]
        cos = (v[1:] * v[:-1]).sum(1) / np.linalg.norm(v[1:], axis=1) / np.linalg.norm(v[:-1], axis=1)
        np.testing.assert_allclose(one.visual_similarity.values[1:t], cos, rtol=1e-5, atol=1e-6)
        assert np.isnan(one.visual_similarity.values[0])
    assert resampled > 0
    prov = ds.attrs["npz_import"]
    assert prov["audio_alignment"]["method"] == "linear" and prov["audio_alignment"]["videos_resampled"] == resampled
    assert ds.attrs["dataset"]["manifest_sha256"]
    assert [h["action"] for h in ds.attrs["history"]] == ["init", "finalize"]


def test_import_without_metadata_labels_from_npz(tree, tmp_path, capsys):
    out = tmp_path / "s.zarr"
    assert run_command("import_npz", ["--no-progress", "--block-size", "5", str(tree.root), str(out)]) == 0
    assert "10 ok, 2 failed" in capsys.readouterr().out
    ds = voca_data.open(out, warn_incomplete=False)
    assert check_store(out) == []
    for rec in tree.records:
        vid = rec["file"][:-4]
        one = ds.sel(video_id=vid)
        if int(one.status) != schema.OK:
            continue
        t = int(one.n_frames)
        npz_labels = np.load(tree.root / vid / "visual_embeddings.npz")["frame_labels"]
        np.testing.assert_array_equal(one.frame_label.values[:t], npz_labels)
        assert int(one.label) == int(npz_labels.any())
        assert one.path.item() == vid and int(one.modify_video) == -1
    # an existing complete store is not replaced without --overwrite
    assert run_command("import_npz", ["--no-progress", str(tree.root), str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert run_command("import_npz", ["--no-progress", "--overwrite", str(tree.root), str(out)]) == 0


def test_bad_metadata_is_refused(tree, tmp_path):
    bad = tmp_path / "meta.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        import_npz(tree.root, tmp_path / "a.zarr", metadata=bad)
    bad.write_text(json.dumps([{"file": "/abs/x.mp4", "split": "train"}]))
    with pytest.raises(ValueError, match="absolute"):
        import_npz(tree.root, tmp_path / "b.zarr", metadata=bad)
    assert not (tmp_path / "a.zarr").exists() and not (tmp_path / "b.zarr").exists()


def test_import_resumes_an_unfinished_store(tree, tmp_path):
    import zarr

    out = tmp_path / "s.zarr"
    import_npz(tree.root, out, metadata=tree.metadata, block_size=4)
    ref = voca_data.open(out, warn_incomplete=False).load()
    # an interrupted import: block 1 pending again, its frames never written, store not complete
    root = zarr.open_group(str(out), mode="r+", use_consolidated=False)
    for name in schema.FRAME_VARIABLES:
        root[name][4:8] = schema.VARIABLES[name].fill
    status = root["status"][:]
    status[4:8] = schema.PENDING
    root["status"][:] = status
    root.attrs["complete"] = False
    zarr.consolidate_metadata(str(out))
    assert voca_data.open(out, warn_incomplete=False).status.values.tolist() != ref.status.values.tolist()
    summary = import_npz(tree.root, out, metadata=tree.metadata, block_size=4)
    assert summary["complete"] is True
    again = voca_data.open(out, warn_incomplete=False)
    for name in ref.variables:
        a, b = ref[name].values, again[name].values
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}"), err_msg=name)
        else:
            assert a.tolist() == b.tolist(), name
    assert [h["action"] for h in again.attrs["history"]] == ["init", "finalize", "finalize"]
