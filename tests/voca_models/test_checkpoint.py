"""Checkpoints: safetensors + JSON round trip, refusal of corrupt / pickled / mismatched ones."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from voca_data.testing import random_store
from voca_models import CheckpointError, build, load_checkpoint, predict
from voca_models.checkpoint import read_meta, save_checkpoint
from voca_models.data import StoreInfo

CONFIGS = {
    "localizer": dict(d_model=16, num_layers=1, nhead=2),
    "lstm": dict(hidden=8, num_layers=1, nhead=2, frame_head=True),
    "covfusion": dict(k=8, d_model=8, hidden=8, channels=4),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return random_store(
        tmp_path_factory.mktemp("ck") / "s.zarr",
        n_videos=12,
        visual_dim=10,
        audio_dim=6,
        max_frames=80,
    )


def _meta(store, model, window=32):
    info = StoreInfo.load(store)
    feats = list(model.config.features)
    return {
        "train_config": {"window": window},
        "store": {"path": str(store), "provenance": info.provenance()},
        "features": feats,
        "feature_dims": {f: info.feature_dims[f] for f in feats},
        "stats": {k: v.tolist() for k, v in info.check_stats(feats).items()},
        "metrics": {"dev_video_auc": 0.5},
        "epoch": 3,
    }


@pytest.mark.parametrize("name", list(CONFIGS))
def test_round_trip_identical_outputs(store, tmp_path, name):
    torch.manual_seed(1)
    model = build(name, visual_dim=10, audio_dim=6, **CONFIGS[name]).eval()
    meta = _meta(store, model)
    save_checkpoint(tmp_path / "ck", model, meta)
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["meta.json", "model.safetensors"]
    loaded, meta2 = load_checkpoint(tmp_path / "ck")
    assert type(loaded) is type(model) and loaded.config == model.config and not loaded.training
    assert (
        meta2["model"] == name
        and meta2["epoch"] == 3
        and meta2["feature_dims"] == meta["feature_dims"]
    )
    assert meta2["store"]["provenance"]["visual_encoder"]["pretrained"] is False
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    a = predict(model, store, split="test", meta=meta2, batch_size=3)
    b = predict(loaded, store, split="test", meta=meta2, batch_size=3)
    assert [r["video_id"] for r in a] == [r["video_id"] for r in b] and len(a) == 4
    for ra, rb in zip(a, b):
        assert ra["video_prob"] == rb["video_prob"]
        if ra["frame_probs"] is not None:
            np.testing.assert_array_equal(ra["frame_probs"], rb["frame_probs"])
            assert ra["frame_probs"].shape == (ra["n_frames"],)


def test_predict_stitches_windows(store, tmp_path):
    """Windows of long videos are put back on each video's timeline: every frame gets exactly one
    probability and its stored label, whatever the window and stride."""
    torch.manual_seed(0)
    model = build(
        "lstm", visual_dim=10, audio_dim=6, hidden=8, num_layers=1, nhead=2, frame_head=True
    ).eval()
    meta = _meta(store, model)
    whole = predict(model, store, split="train", meta=meta, window=128)
    cut = predict(model, store, split="train", meta=meta, window=16)
    info = StoreInfo.load(store)
    for w, c in zip(whole, cut):
        assert w["n_frames"] == c["n_frames"] == int(info.n_frames[w["video"]])
        assert c["frame_probs"].shape == (c["n_frames"],) and np.isfinite(c["frame_probs"]).all()
        np.testing.assert_array_equal(w["frame_labels"], c["frame_labels"])
        assert (w["frame_labels"] >= 0).all()
    # overlapping windows average; every frame covered
    over = predict(model, store, split="train", meta=meta, window=16, stride=8)
    assert all(np.isfinite(r["frame_probs"]).all() for r in over)


def test_refuses_corrupt_and_pickled(store, tmp_path):
    model = build("lstm", visual_dim=10, audio_dim=6, hidden=8, num_layers=1, nhead=2)
    ck = save_checkpoint(tmp_path / "ck", model, _meta(store, model))
    # truncated weights
    data = (ck / "model.safetensors").read_bytes()
    (ck / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(ck)
    # garbage meta
    ck2 = save_checkpoint(tmp_path / "ck2", model, _meta(store, model))
    (ck2 / "meta.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(ck2)
    # a pickle is never unpickled: loading it would create `marker`
    marker = tmp_path / "marker"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "best.pth"
    evil.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match="never loaded"):
        load_checkpoint(evil)
    evil_dir = tmp_path / "evil"
    evil_dir.mkdir()
    (evil_dir / "meta.json").write_text(
        json.dumps({**json.loads((ck2.parent / "ck" / "meta.json").read_text())})
    )
    (evil_dir / "model.safetensors").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match="corrupt or not a safetensors"):
        load_checkpoint(evil_dir)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="no voca checkpoint"):
        load_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing")


def test_refuses_other_model_and_other_dims(store, tmp_path):
    model = build("localizer", visual_dim=10, audio_dim=6, d_model=8, num_layers=1, nhead=2)
    ck = save_checkpoint(tmp_path / "ck", model, _meta(store, model))
    with pytest.raises(CheckpointError, match="'localizer' checkpoint, not 'lstm'"):
        load_checkpoint(ck, model_name="lstm")
    with pytest.raises(CheckpointError, match="'visual' has 12 dims"):
        load_checkpoint(ck, feature_dims={"visual": 12, "audio": 6})
    other = random_store(
        tmp_path / "other.zarr", n_videos=6, visual_dim=12, audio_dim=6, max_frames=40
    )
    loaded, meta = load_checkpoint(ck)
    with pytest.raises(CheckpointError, match="trained on 10"):
        predict(loaded, other, split="test", meta=meta)
    # weights that do not fit the described model
    meta_json = json.loads((ck / "meta.json").read_text())
    meta_json["model_config"]["d_model"] = 16
    meta_json["model_config"]["nhead"] = 2
    (ck / "meta.json").write_text(json.dumps(meta_json))
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(ck)
    meta_json["format"] = "something-else"
    (ck / "meta.json").write_text(json.dumps(meta_json))
    with pytest.raises(CheckpointError, match="not a voca checkpoint"):
        read_meta(ck)


def test_save_is_atomic_and_replaces(store, tmp_path):
    model = build("lstm", visual_dim=10, audio_dim=6, hidden=8, num_layers=1, nhead=2)
    meta = _meta(store, model)
    save_checkpoint(tmp_path / "last", model, {**meta, "epoch": 1})
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(
        dict(
            visual=torch.randn(2, 5, 10),
            audio=torch.randn(2, 5, 6),
            mask=torch.ones(2, 5, dtype=torch.bool),
        )
    )["video_logit"].sum().backward()
    optimizer.step()
    save_checkpoint(
        tmp_path / "last",
        model,
        {**meta, "epoch": 2},
        optimizer=optimizer,
        training_state={"epoch": 1, "best": float("-inf")},
    )
    assert read_meta(tmp_path / "last")["epoch"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "last"
    ]  # no temporary or old folders left
    from voca_models.checkpoint import load_training_state

    opt_state, state = load_training_state(tmp_path / "last")
    assert state["best"] == float("-inf")
    fresh = torch.optim.AdamW(model.parameters(), lr=1e-3)
    fresh.load_state_dict(opt_state)
    for k, v in optimizer.state_dict()["state"].items():
        for key, t in v.items():
            assert torch.equal(t, fresh.state_dict()["state"][k][key])
