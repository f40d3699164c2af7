"""``voca infer`` on a store, on raw video files and on a directory of videos."""

from __future__ import annotations

import json

import numpy as np
import pytest

import voca_models
from voca_data import cli
from voca_data.testing import random_store
from voca_models.evaluate import store_truth
from voca_models.infer import infer, is_store, video_records

TINY = {"d_model": 32, "num_layers": 1, "nhead": 4}
TRAIN = {"epochs": 1, "window": 64, "batch_size": 8, "progress": False, "device": "cpu", "seed": 0}
KEYS = {"video_id", "num_frames", "video_prob", "video_pred", "fake_ratio_pred", "num_fake_frames_pred",
        "segments"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("inf")
    store = random_store(d / "r.zarr", n_videos=24, seed=1)
    voca_models.train("localizer", store, d / "run", model_config=TINY, train_config=TRAIN)
    return store, d / "run"


def test_infer_on_store(trained, tmp_path):
    store, run = trained
    rows = infer(run, store, split="test", threshold=0.5, plot_dir=tmp_path / "plots", max_plots=2)
    truth = store_truth(store, "test", frame_labels=False)
    assert [r["video_id"] for r in rows] == [t["video_id"] for t in truth]
    for r, t in zip(rows, truth):
        assert set(r) >= KEYS
        assert r["num_frames"] == t["n_frames"]
        assert r["video_pred"] == int(r["video_prob"] >= 0.5)
        assert r["num_fake_frames_pred"] == round(r["fake_ratio_pred"] * r["num_frames"])
        for s in r["segments"]:
            assert len(s) == 3 and 0 <= s[0] < s[1] <= r["num_frames"] / 25 + 1e-6
    assert len(list((tmp_path / "plots").glob("*.png"))) == 2
    assert all(r["plot"].endswith(".png") for r in rows[:2])
    # a stricter threshold predicts no more fake frames
    strict = infer(run, store, split="test", threshold=0.9)
    assert all(s["num_fake_frames_pred"] <= r["num_fake_frames_pred"] for s, r in zip(strict, rows))


def test_voca_infer_command_and_refusals(trained, tmp_path, capsys):
    store, run = trained
    out = tmp_path / "p.json"
    assert cli.main(["infer", str(run), str(store), "--out", str(out), "--frame-probs"]) == 0
    rows = json.loads(out.read_text())
    assert len(rows) == 24 and all(set(r) >= KEYS | {"frame_probs"} for r in rows)
    assert all(len(r["frame_probs"]) == r["num_frames"] for r in rows)
    assert "predicted fake" in capsys.readouterr().out
    # a store made with other encoders (other feature dims) is refused
    other = random_store(tmp_path / "other.zarr", n_videos=6, visual_dim=12, audio_dim=8)
    assert cli.main(["infer", str(run), str(other), "--out", str(out)]) == 2
    assert "dims" in capsys.readouterr().err
    # not a store, not a video
    (tmp_path / "notes.txt").write_text("hello")
    assert cli.main(["infer", str(run), str(tmp_path / "notes.txt"), "--out", str(out)]) == 2
    assert "neither a voca store nor a video" in capsys.readouterr().err
    assert cli.main(["infer", str(run), str(tmp_path / "missing"), "--out", str(out)]) == 2


def test_video_records_and_store_detection(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/x.mp4", "a/b/y.MOV", "a/readme.md"):
        (tmp_path / name).write_bytes(b"\0")
    root, recs = video_records(tmp_path / "a")
    assert root == tmp_path / "a"
    assert [r.video_id for r in recs] == ["b/y", "x"] and [r.path for r in recs] == ["b/y.MOV", "x.mp4"]
    assert all(r.split == "test" and r.label == -1 for r in recs)
    root, recs = video_records(tmp_path / "a" / "x.mp4")
    assert root == tmp_path / "a" and [r.path for r in recs] == ["x.mp4"]
    assert not is_store(tmp_path / "a")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no video files"):
        video_records(tmp_path / "empty")


# ------------------------------------------------------------------ raw synthetic videos
@pytest.fixture(scope="module")
def raw_setup(tmp_path_factory):
    pytest.importorskip("voca_data.encoders", reason="the encoders are not in this tree yet")
    sources = pytest.importorskip("voca_data.sources", reason="dataset sources not in this tree yet")
    if not hasattr(sources, "load"):
        pytest.skip("voca_data.sources.load not in this tree yet")
    from voca_data.extract import ExtractConfig, extract
    from voca_data.synth import make_dataset

    d = tmp_path_factory.mktemp("raw")
    root = make_dataset(d / "data", layout="lavdf", videos=8, seed=0)
    records = sources.load("lavdf", root)
    store = extract(records, root, d / "train.zarr",
                    ExtractConfig(visual_arch="voca-tiny", detector="center", block_size=4, device="cpu"),
                    scheduler="synchronous", progress=False)
    voca_models.train("localizer", store, d / "run", model_config=TINY, train_config=TRAIN)
    return root, store, d / "run", records


def test_infer_on_raw_video_file_and_directory(raw_setup, tmp_path):
    root, store, run, records = raw_setup
    test = [r for r in records if r.split == "test"]
    one = root / test[0].path
    rows = infer(run, one, work_dir=tmp_path / "work", plot_dir=tmp_path / "plots",
                 trust_checkpoint_paths=True)  # AV synchrony from the training store it names
    assert len(rows) == 1 and set(rows[0]) >= KEYS
    assert rows[0]["video_id"] == one.stem
    # the features extracted from the raw file are the ones in the training store
    from voca_data import open as open_store

    ds = open_store(tmp_path / "work" / "features.zarr")
    ref = open_store(store).sel(video_id=test[0].video_id)
    n = int(ref.n_frames)
    assert rows[0]["num_frames"] == n
    np.testing.assert_allclose(np.asarray(ds.visual.isel(video=0)[:n], np.float32),
                               np.asarray(ref.visual[:n], np.float32), atol=1e-2)
    # AV synchrony of the new video is scored with the training store's fitted model
    sim_new = np.asarray(ds.av_similarity.isel(video=0)[:n], np.float64)
    sim_ref = np.asarray(ref.av_similarity[:n], np.float64)
    assert np.isfinite(sim_new).all() == np.isfinite(sim_ref).all()
    np.testing.assert_allclose(sim_new, sim_ref, atol=0.05)
    assert (tmp_path / "plots" / f"{one.stem}.png").stat().st_size > 5_000
    # the same video through the store gives the same prediction
    via_store = {r["video_id"]: r for r in infer(run, store, split="test")}
    assert rows[0]["video_prob"] == pytest.approx(via_store[test[0].video_id]["video_prob"], abs=2e-2)

    out = tmp_path / "dir.json"
    assert cli.main(["infer", str(run), str(root / "test"), "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    assert sorted(r["video_id"] for r in got) == sorted(r.path.split("/")[-1][:-4] for r in test)


def test_evaluate_on_extracted_synthetic_lavdf_store(raw_setup, tmp_path):
    from voca_data.sources.detect import detect_layout
    from voca_models.evaluate import evaluate

    _, store, run, records = raw_setup
    res = evaluate(run, store, split="test")
    test = [r for r in records if r.split == "test"]
    assert res["n_videos"] == len(test)
    lav = res["metrics"]["lavdf"]
    audio_only = sum(r.modify_audio == 1 and r.modify_video == 0 for r in test)
    video_only = sum(r.modify_video == 1 and r.modify_audio == 0 for r in test)
    assert lav["full"]["n_videos"] == len(test)
    assert lav["visual-only-subset"]["n_videos"] == len(test) - audio_only
    assert lav["audio-only-subset"]["n_videos"] == len(test) - video_only
    assert lav["full"]["n_segments"] == sum(len(r.fake_periods) for r in test)
    by_id = {r.video_id: r for r in test}
    for v in res["videos"]:
        np.testing.assert_allclose(np.reshape(v["fake_periods"], (-1, 2)),
                                   np.reshape(by_id[v["video_id"]].fake_periods, (-1, 2)), atol=1e-3)
    assert detect_layout(store) == "lavdf"


def test_extract_config_comes_from_the_checkpoint(tmp_path):
    from voca_data.extract import ExtractConfig
    from voca_models.infer import extract_config_for

    settings = ExtractConfig(visual_arch="voca-tiny", detector="center", detect_every=3).to_dict()
    meta = {"store": {"path": str(tmp_path / "gone.zarr"), "provenance": {"extraction": settings}}}
    cfg = extract_config_for(meta, device="cpu")
    assert (cfg.visual_arch, cfg.detector, cfg.detect_every, cfg.device) == ("voca-tiny", "center", 3, "cpu")
    with pytest.raises(ValueError, match="does not record how its training store was extracted"):
        extract_config_for({"store": {"path": str(tmp_path / "gone.zarr"), "provenance": {}}})


class _Payload:
    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_defect1_checkpoint_never_names_files_to_load(trained, tmp_path, caplog):
    """Issue 10 (1): a checkpoint (JSON + safetensors) whose meta.json names a weights directory
    holding a pickled bundle file makes ``voca infer`` on a video refuse, naming the path and the
    flags, and the payload never runs."""
    import shutil

    import torch

    from voca_data.extract import ExtractConfig

    _, run = trained
    ckpt = tmp_path / "ckpt"
    shutil.copytree(run / "best", ckpt)
    weights = tmp_path / "weights"
    weights.mkdir()
    marker = tmp_path / "pwned"
    torch.save({"w": _Payload(marker)}, weights / "wav2vec2_fairseq_base_ls960.pth")
    meta = json.loads((ckpt / "meta.json").read_text())
    settings = ExtractConfig(visual_arch="voca-tiny", detector="center", audio_encoder="wav2vec2_base",
                             audio_weights=str(weights)).to_dict()
    meta["store"] = {"path": str(tmp_path / "elsewhere.zarr"), "provenance": {"extraction": settings}}
    (ckpt / "meta.json").write_text(json.dumps(meta))
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "clip.mp4").write_bytes(b"\0")
    with pytest.raises(ValueError, match=f"audio_weights={weights}.*--trust-checkpoint-paths"):
        infer(ckpt, tmp_path / "v" / "clip.mp4", work_dir=tmp_path / "work")
    assert cli.main(["infer", str(ckpt), str(tmp_path / "v"), "--out", str(tmp_path / "p.json")]) == 2
    assert not marker.exists()
    # even when trusted, the pickled file is refused by the weights loader, naming it
    with pytest.raises(ValueError, match="wav2vec2_fairseq_base_ls960.pth: refused"):
        infer(ckpt, tmp_path / "v" / "clip.mp4", work_dir=tmp_path / "work2",
              trust_checkpoint_paths=True)
    assert not marker.exists()
