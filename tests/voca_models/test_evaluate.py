"""``voca evaluate`` end to end on real stores with tiny trained models."""

from __future__ import annotations

import json

import numpy as np
import pytest

import voca_models
from voca_data import cli
from voca_data.testing import random_store
from voca_models import metrics as M
from voca_models.evaluate import evaluate, score_predictions, store_truth, write_results

sklearn_metrics = pytest.importorskip("sklearn.metrics")

TINY = {"localizer": {"d_model": 32, "num_layers": 1, "nhead": 4},
        "lstm": {"hidden": 16, "num_layers": 1, "nhead": 2}}
TRAIN = {"epochs": 2, "window": 64, "batch_size": 8, "progress": False, "device": "cpu", "seed": 0,
         "lr": 3e-3}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return random_store(tmp_path_factory.mktemp("ev") / "r.zarr", n_videos=24, signal=2.0, seed=1)


@pytest.fixture(scope="module")
def run(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("ev") / "loc"
    voca_models.train("localizer", store, out, model_config=TINY["localizer"], train_config=TRAIN)
    return out


def test_evaluate_computes_every_metric_and_per_video_outputs(store, run, tmp_path):
    res = evaluate(run, store, split="test")
    truth = {t["video_id"]: t for t in store_truth(store, "test")}
    assert res["model"] == "localizer" and res["split"] == "test" and res["n_videos"] == len(truth)
    m = res["metrics"]
    for level in ("frame", "video"):
        assert set(m[level]) >= {"auc", "ap", "f1", "precision", "recall"}
    assert set(m["iou"]) == {"mean", "median", "std", "n"}
    assert set(m["lavdf"]) == set(M.LAVDF_SUBSETS)
    assert set(m["lavdf"]["full"]) >= {"AP@0.5", "AP@0.75", "AP@0.95", "AR@100", "AR@50", "AR@20", "AR@10"}
    assert res["threshold"]["source"].startswith("chosen on dev")
    for v in res["videos"]:
        t = truth[v["video_id"]]
        assert len(v["frame_probs"]) == t["n_frames"]
        assert 0 <= v["video_prob"] <= 1
        assert len(v["segments"]) <= 100
        for s in v["segments"]:
            assert 0 <= s[0] < s[1] <= t["n_frames"] / 25 + 1e-6 and 0 < s[2] <= 1
        assert [s[2] for s in v["segments"]] == sorted((s[2] for s in v["segments"]), reverse=True)

    # the JSON holds everything needed to recompute the metrics independently
    path = write_results(res, tmp_path / "results.json")
    back = json.loads(path.read_text())
    probs = np.concatenate([np.asarray(v["frame_probs"]) for v in back["videos"]])
    labels = np.concatenate([truth[v["video_id"]]["frame_labels"] for v in back["videos"]])
    assert back["metrics"]["frame"]["auc"] == pytest.approx(sklearn_metrics.roc_auc_score(labels, probs),
                                                            abs=1e-4)
    vlab = [truth[v["video_id"]]["label"] for v in back["videos"]]
    vprob = [v["video_prob"] for v in back["videos"]]
    assert back["metrics"]["video"]["auc"] == pytest.approx(sklearn_metrics.roc_auc_score(vlab, vprob))
    props = {v["video_id"]: M.segments_to_official(v["segments"]) for v in back["videos"]}
    again = M.lavdf_metrics(props, [truth[v["video_id"]] for v in back["videos"]])
    for subset, row in again.items():
        for k, x in row.items():
            assert back["metrics"]["lavdf"][subset][k] == pytest.approx(x, nan_ok=True)


def test_given_thresholds_and_video_score_sources(store, run):
    model, meta = voca_models.load_checkpoint(run)
    res = evaluate(run, store, split="test", threshold=0.3, video_score="max", model=model, meta=meta)
    assert res["threshold"]["frame"] == 0.3 and res["threshold"]["video"] == 0.3
    assert res["threshold"]["source"] == "given"
    for v in res["videos"]:
        assert v["video_prob"] == pytest.approx(max(v["frame_probs"]), rel=1e-6)
        assert v["video_pred"] == int(v["video_prob"] >= 0.3)
    mean = evaluate(run, store, split="test", threshold=0.5, video_score="mean", model=model, meta=meta)
    v = mean["videos"][0]
    assert v["video_prob"] == pytest.approx(float(np.mean(v["frame_probs"])), rel=1e-5)


def test_voca_evaluate_command(store, run, tmp_path, capsys):
    out = tmp_path / "res.json"
    code = cli.main(["evaluate", str(run), str(store), "--split", "test", "--out", str(out),
                     "--plot", str(tmp_path / "plots"), "--max-plots", "2"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "AP@0.5" in printed and "AR@100" in printed and "frame" in printed
    data = json.loads(out.read_text())
    assert data["format"] == "voca-results" and len(data["videos"]) == data["n_videos"]
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert "summary.png" in pngs and len(pngs) == 3
    assert all((tmp_path / "plots" / p).stat().st_size > 10_000 for p in pngs)
    # user errors are one-line messages, exit 2
    assert cli.main(["evaluate", str(run), str(store), "--split", "nope", "--out", str(out)]) == 2
    assert "no split 'nope'" in capsys.readouterr().err


def test_video_level_model_has_no_localization(store, tmp_path):
    run = tmp_path / "lstm"
    voca_models.train("lstm", store, run, model_config={**TINY["lstm"], "frame_head": False},
                      train_config=TRAIN)  # frame_head is on by default
    res = evaluate(run, store, split="test", threshold=0.5)
    assert res["metrics"]["frame"] is None and res["metrics"]["lavdf"] is None
    assert res["metrics"]["video"]["n"] == res["n_videos"]
    assert all(v["frame_probs"] is None and v["segments"] == [] for v in res["videos"])
    write_results(res, tmp_path / "r.json")   # None-valued entries serialise


def test_score_predictions_needs_every_video(store):
    truth = store_truth(store, "test")
    preds = [{"video_id": t["video_id"], "video_prob": 0.5, "frame_probs": np.full(t["n_frames"], 0.5)}
             for t in truth[1:]]
    with pytest.raises(KeyError, match="no prediction for video"):
        score_predictions(preds, truth)
    # perfect frame predictions give frame AUC 1 and IoU 1 on every fake video
    perfect = [{"video_id": t["video_id"], "video_prob": float(t["label"]),
                "frame_probs": (t["frame_labels"] == 1).astype(float)} for t in truth]
    r = score_predictions(perfect, truth)["metrics"]
    assert r["frame"]["auc"] == 1.0 and r["iou"]["mean"] == 1.0 and r["video"]["f1"] == 1.0


def test_truth_without_frame_labels_uses_periods_and_skips_unknown():
    truth = [{"video_id": "real", "label": 0, "n_frames": 10, "fake_periods": []},
             {"video_id": "fake", "label": 1, "n_frames": 10, "fake_periods": [[0.2, 0.4]]},
             {"video_id": "fake-no-periods", "label": 1, "n_frames": 10, "fake_periods": []}]
    probs = {"real": np.zeros(10), "fake": np.r_[np.zeros(5), np.ones(5), np.zeros(0)],
             "fake-no-periods": np.ones(10)}
    preds = [{"video_id": k, "video_prob": float(v.max()), "frame_probs": v} for k, v in probs.items()]
    m = score_predictions(preds, truth, fps=25.0)["metrics"]
    # frames of the fake video without periods are unknown: only 20 frames count
    assert m["frame"]["n"] == 20 and m["frame"]["n_positive"] == 5
    assert m["iou"]["n"] == 1 and m["iou"]["mean"] == 1.0


def test_ffdv_split_names_are_resolved(tmp_path):
    store = random_store(tmp_path / "f.zarr", n_videos=24, seed=1, splits=("trainset", "valset", "testset"))
    run = tmp_path / "run"
    voca_models.train("localizer", store, run, model_config=TINY["localizer"], train_config=TRAIN)
    res = evaluate(run, store, split="test")            # -> testset; thresholds chosen on valset
    assert res["split"] == "testset" and res["threshold"]["source"] == "chosen on valset (max F1)"
    assert res["n_videos"] == len(store_truth(store, "testset"))
