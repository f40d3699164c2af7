"""The training loop on real stores: outputs, exact resume, bad input refused before training,
the CLI, and learning on random features."""

from __future__ import annotations

import csv
import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file

from voca_data.cli import main as voca
from voca_data.testing import fill_block_random, random_records, random_store
from voca_data.store.writer import init
from voca_models import load_checkpoint, predict, train
from voca_models.train import dev_metrics

SMALL = {
    "localizer": dict(d_model=16, num_layers=1, nhead=2),
    "lstm": dict(hidden=16, num_layers=1, nhead=2),
    "covfusion": dict(k=16, d_model=16, hidden=16, channels=4),
}
QUICK = dict(epochs=2, batch_size=4, lr=3e-3, window=48, progress=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return random_store(
        tmp_path_factory.mktemp("tr") / "s.zarr",
        n_videos=30,
        visual_dim=8,
        audio_dim=6,
        max_frames=90,
        signal=3.0,
        block_size=8,
        seed=3,
    )


def _store_with(path, labels_by_split=None, splits=("train", "dev", "test"), n=18):
    """A random store whose labels can be forced per split."""
    recs = random_records(n, splits=splits, seed=5, max_frames=60)
    if labels_by_split:
        recs = [
            dataclasses.replace(
                r,
                label=labels_by_split[r.split],
                fake_periods=r.fake_periods
                if labels_by_split[r.split] == 1 and r.fake_periods
                else (((0.1, 0.5),) if labels_by_split[r.split] == 1 else ()),
            )
            if r.split in labels_by_split
            else r
            for r in recs
        ]
    w = init(path, recs, visual_dim=8, audio_dim=6, max_frames=60, block_size=6)
    for b in range(w.n_blocks):
        w.write_block(b, fill_block_random(w, b))
    w.finalize()
    return path


@pytest.mark.parametrize("name", list(SMALL))
def test_run_folder(store, tmp_path, name):
    out = tmp_path / "run"
    summary = train(name, store, out, model_config=SMALL[name], train_config=QUICK)
    assert summary["last_epoch"] == 2 and len(summary["history"]) == 2
    for f in (
        "best/model.safetensors",
        "best/meta.json",
        "last/model.safetensors",
        "last/meta.json",
        "last/state.safetensors",
        "last/state.json",
        "history.csv",
        "curves.png",
        "config.json",
    ):
        assert (out / f).is_file(), f
    assert not (out / "best" / "state.json").exists()
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    metric = "dev_frame_auc" if name == "localizer" else "dev_video_auc"
    assert all(0.0 <= float(r[metric]) <= 1.0 for r in rows) and float(rows[0]["train_loss"]) > 0
    model, meta = load_checkpoint(out)
    assert meta["model"] == name and meta["epoch"] == summary["best_epoch"]
    assert meta["metrics"][metric] == pytest.approx(summary["best_metric"])
    # features=auto: the random store fills visual_similarity but leaves av_similarity NaN
    assert meta["features"] == meta["model_config"]["features"] == summary["features"]
    assert meta["features"] == ["visual", "audio", "visual_similarity"]
    assert meta["feature_dims"] == {"visual": 8, "audio": 6, "visual_similarity": 1}
    assert meta["store"]["splits"] == {"train": "train", "dev": "dev"}
    assert meta["store"]["provenance"]["visual_encoder"]["name"] == "random"
    assert len(meta["stats"]["visual_mean"]) == 8
    if name == "localizer":  # automatic pos_weight recorded, from the train split's fake frames
        ratio = meta["fake_ratios"]["train_frame"]
        assert meta["model_config"]["pos_weight"] == pytest.approx((1 - ratio) / ratio)
    # the best checkpoint reproduces its recorded dev metric
    again = dev_metrics(predict(model, store, split="dev", meta=meta))
    assert again[meta["main_metric"]] == pytest.approx(summary["best_metric"], abs=1e-9)


@pytest.mark.parametrize("name", ["localizer", "lstm"])
def test_resume_is_exact(store, tmp_path, name):
    cfg = dict(QUICK, epochs=3, num_workers=0)
    full = train(name, store, tmp_path / "full", model_config=SMALL[name], train_config=cfg)
    part = train(
        name,
        store,
        tmp_path / "part",
        model_config=SMALL[name],
        train_config={**cfg, "stop_after": 1},
    )
    assert part["last_epoch"] == 1
    resumed = train(name, store, None, train_config={"progress": False}, resume=tmp_path / "part")
    assert resumed["last_epoch"] == 3
    for a, b in zip(full["history"], resumed["history"]):
        assert {k: v for k, v in a.items() if k != "seconds"} == {
            k: v for k, v in b.items() if k != "seconds"
        }
    wa = load_file(str(tmp_path / "full" / "last" / "model.safetensors"))
    wb = load_file(str(tmp_path / "part" / "last" / "model.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    sa = load_file(str(tmp_path / "full" / "last" / "state.safetensors"))
    sb = load_file(str(tmp_path / "part" / "last" / "state.safetensors"))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert (
        full["best_epoch"] == resumed["best_epoch"]
        and full["best_metric"] == resumed["best_metric"]
    )
    # nothing left to do
    again = train(name, store, None, train_config={"progress": False}, resume=tmp_path / "part")
    assert again["last_epoch"] == 3


def test_resume_refuses_changes(store, tmp_path):
    train(
        "lstm",
        store,
        tmp_path / "r",
        model_config=SMALL["lstm"],
        train_config={**QUICK, "epochs": 1},
    )
    # an existing run is never replaced silently
    before = (tmp_path / "r" / "last" / "model.safetensors").read_bytes()
    with pytest.raises(FileExistsError, match="already holds a training run"):
        train("lstm", store, tmp_path / "r", model_config=SMALL["lstm"], train_config=QUICK)
    assert (tmp_path / "r" / "last" / "model.safetensors").read_bytes() == before
    with pytest.raises(ValueError, match="another|not 'localizer'"):
        train("localizer", store, None, resume=tmp_path / "r")
    with pytest.raises(ValueError, match="cannot resume with lr"):
        train("lstm", store, None, train_config={"lr": 0.1}, resume=tmp_path / "r")
    with pytest.raises(ValueError, match="different model options"):
        train("lstm", store, None, model_config={"hidden": 32}, resume=tmp_path / "r")
    other = random_store(tmp_path / "o.zarr", n_videos=12, visual_dim=9, audio_dim=6, max_frames=40)
    with pytest.raises(ValueError, match="'visual' has 9 dims"):
        train("lstm", other, None, resume=tmp_path / "r")


def test_bad_input_refused_before_training(store, tmp_path):
    out = tmp_path / "never"
    with pytest.raises(ValueError, match="av_similarity.*no values"):
        train(
            "lstm",
            store,
            out,
            model_config={**SMALL["lstm"], "features": ["visual", "av_similarity"]},
            train_config=QUICK,
        )
    with pytest.raises(ValueError, match="does not have"):
        train(
            "lstm",
            store,
            out,
            model_config={**SMALL["lstm"], "features": ["visual", "lip_motion"]},
            train_config=QUICK,
        )
    with pytest.raises(ValueError, match="no split 'valid'"):
        train(
            "lstm",
            store,
            out,
            model_config=SMALL["lstm"],
            train_config={**QUICK, "dev_split": "valid"},
        )
    with pytest.raises(ValueError, match="unknown training option"):
        train("lstm", store, out, train_config={"epoch": 3})
    with pytest.raises(ValueError, match="unknown option"):
        train("lstm", store, out, model_config={"hiden": 3})
    one_class = _store_with(tmp_path / "one.zarr", {"dev": 1})
    with pytest.raises(ValueError, match="'dev' \\(dev\\) has videos of one class only"):
        train("lstm", one_class, out, model_config=SMALL["lstm"], train_config=QUICK)
    no_dev = _store_with(tmp_path / "nodev.zarr", splits=("train", "test"))
    with pytest.raises(ValueError, match="no dev/validation split"):
        train("lstm", no_dev, out, model_config=SMALL["lstm"], train_config=QUICK)
    failed = random_store(tmp_path / "failed.zarr", n_videos=9, fail=(1, 4, 7), max_frames=40)
    with pytest.raises(ValueError, match="'dev' \\(dev\\) has no usable videos"):
        train("lstm", failed, out, model_config=SMALL["lstm"], train_config=QUICK)
    assert not out.exists()


def test_features_auto_and_stores_that_lack_a_feature(store, tmp_path, capsys):
    """features=auto leaves out av_similarity when the store holds none (the random store's is
    NaN; test_learning checks that it is picked when present), the checkpoint records the list,
    and evaluate / infer refuse a store without a feature the checkpoint needs, naming it."""
    import shutil

    import zarr

    from voca_models.data import StoreInfo
    from voca_models.evaluate import evaluate
    from voca_models.infer import infer
    from voca_models.train import auto_features

    assert auto_features(StoreInfo.load(store), "train") == ("visual", "audio", "visual_similarity")
    with pytest.raises(ValueError, match="'auto' stands alone"):
        train("lstm", store, tmp_path / "x", model_config={"features": ["auto", "face_score"]})
    rc = voca(["train", "lstm", str(store), "--out", str(tmp_path / "run"), "--hidden", "16",
               "--nhead", "2", "--num-layers", "1", "--epochs", "1", "--window", "48",
               "--no-progress", "--frame-head"])
    assert rc == 0 and "features:   visual audio visual_similarity" in capsys.readouterr().out
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["features"] == ["visual", "audio", "visual_similarity"]
    _, meta = load_checkpoint(tmp_path / "run")
    assert meta["features"] == meta["model_config"]["features"] == config["features"]
    assert meta["model_config"]["frame_head"] is True
    assert meta["video_score"]["source"] in ("head", "frames")
    lacking = tmp_path / "lacking.zarr"
    shutil.copytree(store, lacking)
    del zarr.open_group(lacking, mode="r+")["visual_similarity"]
    zarr.consolidate_metadata(lacking)
    with pytest.raises(ValueError, match="no feature 'visual_similarity'"):
        evaluate(tmp_path / "run", lacking, split="test")
    with pytest.raises(ValueError, match="no per-frame feature 'visual_similarity'"):
        infer(tmp_path / "run", lacking)
    assert evaluate(tmp_path / "run", store, split="test")["metrics"]["video"]["auc"] >= 0.0


def test_ffdv_split_names_are_found(tmp_path):
    s = _store_with(tmp_path / "ffdv.zarr", splits=("trainset", "valset", "testset"), n=24)
    summary = train(
        "covfusion",
        s,
        tmp_path / "run",
        model_config=SMALL["covfusion"],
        train_config={**QUICK, "epochs": 1},
    )
    assert json.loads((tmp_path / "run" / "config.json").read_text())["store"]["splits"] == {
        "train": "trainset",
        "dev": "valset",
    }
    assert summary["last_epoch"] == 1


def test_cli(store, tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(
        json.dumps(
            {
                "model_config": {"d_model": 32, "nhead": 2, "num_layers": 1},
                "train_config": {"epochs": 1, "window": 48},
            }
        )
    )
    rc = voca(
        [
            "train",
            "localizer",
            str(store),
            "--out",
            str(tmp_path / "run"),
            "--config",
            str(cfg),
            "--d_model",
            "16",
            "--no-cross-attn",
            "--batch-size",
            "4",
            "--no-progress",
            "--use_focal",
        ]
    )
    assert rc == 0
    assert "best dev frame_auc" in capsys.readouterr().out
    meta = json.loads((tmp_path / "run" / "best" / "meta.json").read_text())
    assert meta["model_config"]["d_model"] == 16 and meta["model_config"]["no_cross_attn"] is True
    assert meta["model_config"]["use_focal"] is True and meta["train_config"]["batch_size"] == 4
    assert meta["train_config"]["window"] == 48
    rc = voca(["train", "lstm", str(store), "--out", str(tmp_path / "x"), "--k", "3"])
    assert rc == 2 and "--k is not an option of the lstm model" in capsys.readouterr().err
    rc = voca(["train", "lstm", str(tmp_path / "nowhere.zarr"), "--out", str(tmp_path / "x")])
    assert rc == 2 and "no such store" in capsys.readouterr().err
    rc = voca(["train", "localizer", str(store), "--out", str(tmp_path / "run"), "--no-progress"])
    assert rc == 2 and "already holds a training run" in capsys.readouterr().err
    rc = voca(
        [
            "train",
            "localizer",
            str(store),
            "--resume",
            str(tmp_path / "run"),
            "--epochs",
            "2",
            "--no-progress",
        ]
    )
    assert rc == 0 and "epochs:     2" in capsys.readouterr().out


@pytest.fixture(scope="module")
def learn_store(tmp_path_factory):
    return random_store(
        tmp_path_factory.mktemp("learn") / "s.zarr",
        n_videos=90,
        visual_dim=8,
        audio_dim=6,
        min_frames=30,
        max_frames=60,
        signal=3.0,
        block_size=16,
        seed=11,
    )


@pytest.mark.parametrize(
    "name,metric", [("localizer", "frame_auc"), ("lstm", "video_auc"), ("covfusion", "video_auc")]
)
def test_learns_random_features(learn_store, tmp_path, name, metric):
    """Fake frames of the random store are shifted: every model must learn it (test split)."""
    summary = train(
        name,
        learn_store,
        tmp_path / "run",
        model_config=SMALL[name],
        train_config={**QUICK, "epochs": 8, "patience": 0, "window": 64},
    )
    model, meta = load_checkpoint(tmp_path / "run")
    test = dev_metrics(predict(model, learn_store, split="test", meta=meta))
    assert summary["best_metric"] >= 0.85, summary["history"]
    assert test[metric] >= 0.85, test


def test_plateau_scheduler_and_balanced_sampling(store, tmp_path):
    cfg = {
        **QUICK,
        "epochs": 3,
        "scheduler": "plateau",
        "plateau_patience": 0,
        "plateau_factor": 0.5,
        "balanced": True,
        "grad_clip": 0.0,
        "patience": 0,
    }
    summary = train("lstm", store, tmp_path / "run", model_config=SMALL["lstm"], train_config=cfg)
    lrs = [row["lr"] for row in summary["history"]]
    assert lrs[0] == pytest.approx(3e-3)  # no warmup with plateau
    assert all(b <= a for a, b in zip(lrs, lrs[1:]))
    # the LR drops exactly after the epochs whose dev metric did not improve
    aucs = [row["dev_video_auc"] for row in summary["history"]]
    best = -1.0
    for i, auc in enumerate(aucs[:-1]):
        improved = auc > best
        best = max(best, auc)
        assert lrs[i + 1] == pytest.approx(lrs[i] * (1.0 if improved else 0.5))
    # a learning rate too small to change the dev ranking: after the first epoch (always an
    # improvement over nothing) every epoch halves it
    flat = train(
        "lstm",
        store,
        tmp_path / "flat",
        model_config=SMALL["lstm"],
        train_config={**cfg, "lr": 1e-6},
    )
    assert [row["lr"] for row in flat["history"]] == pytest.approx([1e-6, 1e-6, 5e-7])
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (
        saved["train_config"]["scheduler"] == "plateau"
        and saved["train_config"]["balanced"] is True
    )


def test_frames_per_video_sampling(store, tmp_path):
    """``frames_per_video``: the model sees N frames of each window (in order, mask a prefix);
    prediction scores N uniformly spaced frames; bad values are refused before training."""
    import torch

    from voca_data.torch import collate
    from voca_models.data import normalized_dataset, to_device
    from voca_models.sampling import sample_frames

    ds = normalized_dataset(store, "train", ("visual", "audio"), window=48, stats=None)
    batch = to_device(collate([ds[i] for i in range(4)]), "cpu")
    lengths = batch["mask"].sum(1)
    for mode in ("uniform", "random"):
        s = sample_frames(batch, 6, mode, generator=torch.Generator().manual_seed(0))
        assert s["visual"].shape[:2] == (4, 6) and s["label"].equal(batch["label"])
        assert s["mask"].sum(1).tolist() == [min(6, int(n)) for n in lengths]
        for row in range(4):  # every sampled frame is one of the row's frames, in time order
            n = int(s["mask"][row].sum())
            picked = s["visual"][row, :n]
            full = batch["visual"][row, : int(lengths[row])]
            where = [int((full == v).all(-1).nonzero()[0]) for v in picked]
            assert where == sorted(set(where))
    summary = train("lstm", store, tmp_path / "run", model_config=SMALL["lstm"],
                    train_config={**QUICK, "frames_per_video": 8, "frame_sampling": "random"})
    model, meta = load_checkpoint(tmp_path / "run")
    assert meta["train_config"]["frames_per_video"] == 8
    again = dev_metrics(predict(model, store, split="dev", meta=meta))
    assert again["video_auc"] == pytest.approx(summary["best_metric"], abs=1e-9)
    with pytest.raises(ValueError, match="frame_sampling must be one of uniform, random"):
        train("lstm", store, tmp_path / "bad", train_config={"frame_sampling": "every"})
