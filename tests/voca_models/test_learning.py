"""Learning is real: a synthetic LAV-DF-layout dataset (real MP4s) is extracted with the tiny test
encoders into a store, and each model, trained with its defaults (no option but ``progress``:
``features`` auto, the tuned sizes and learning rate) on 2 CPU cores, must separate fakes on the
held-out test split: localizer frame AUC >= 0.9, video AUC >= 0.9 for all three.

``features=auto`` picks the store's ``av_similarity`` (AV-synchrony score) here; docs/models.md
has the measurements with and without it. A few minutes in all.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

N_VIDEOS = 150
SEED = 0
MODELS = {"localizer": ("frame_auc", "video_auc"), "lstm": ("video_auc",), "covfusion": ("video_auc",)}
TRAIN = dict(progress=False)  # everything else: the defaults


@pytest.fixture(scope="module")
def lavdf_store(tmp_path_factory):
    from voca_data.extract import ExtractConfig, extract
    from voca_data.sources import load
    from voca_data.synth import make_dataset

    base = tmp_path_factory.mktemp("learning")
    root = make_dataset(
        base / "lavdf",
        layout="lavdf",
        videos=N_VIDEOS,
        seed=SEED,
        size=(96, 112),
        duration_range=(2.0, 3.0),
        workers=2,
    )
    records = load("lavdf", root)
    config = ExtractConfig(
        visual_arch="voca-tiny",
        audio_encoder="logmel",
        detector="center",
        detect_every=5,
        block_size=8,
        batch_size=32,
        device="cpu",
    )
    return extract(
        records, root, base / "lavdf.zarr", config, scheduler="threads", workers=1, progress=False
    )


def test_store_is_complete(lavdf_store):
    import voca_data

    ds = voca_data.open(lavdf_store)
    assert ds.attrs["complete"] and (ds.status.values == 1).all()
    assert ds.attrs["visual_encoder"]["pretrained"] is False
    splits = {str(s) for s in ds.split.values}
    assert splits == {"train", "dev", "test"}
    av = ds.av_similarity.isel(video=0).values[: int(ds.n_frames[0])]
    assert np.isfinite(av).all()


def test_features_auto_picks_av_similarity(lavdf_store):
    from voca_models.data import StoreInfo
    from voca_models.train import auto_features

    assert auto_features(StoreInfo.load(lavdf_store), "train") == (
        "visual", "audio", "av_similarity", "visual_similarity")


@pytest.mark.parametrize("name", list(MODELS))
def test_model_learns_synthetic_lavdf(lavdf_store, tmp_path, name):
    from voca_models import load_checkpoint, predict, train
    from voca_models.train import dev_metrics

    summary = train(name, lavdf_store, tmp_path / name, train_config=TRAIN)
    model, meta = load_checkpoint(tmp_path / name)
    assert "voca-tiny" in str(meta["store"]["provenance"]["visual_encoder"])
    assert meta["features"] == ["visual", "audio", "av_similarity", "visual_similarity"]
    test = dev_metrics(predict(model, lavdf_store, split="test", meta=meta))
    print(f"{name}: dev {summary['main_metric']} {summary['best_metric']:.3f} "
          f"(epoch {summary['best_epoch']}), video score {meta['video_score']}, test {test}")
    for metric in MODELS[name]:
        assert test[metric] >= 0.9, (metric, test, summary["history"])
