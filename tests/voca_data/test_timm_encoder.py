"""The timm visual encoder (``--visual-arch timm:NAME``): embeddings, weights from a local file,
offline-safe pretrained tags, and a whole extraction into a store with it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("timm")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))

from extract_fixtures import make_synth, tiny_config

from voca_data.encoders import TimmVisualEncoder, make_visual_encoder

ARCH = "timm:test_resnet"  # a tiny timm test model (96-dim pooled features)


def test_encode_and_weights_roundtrip(tmp_path):
    enc = make_visual_encoder(ARCH, seed=3)
    assert isinstance(enc, TimmVisualEncoder)
    crops = np.random.default_rng(0).integers(0, 255, (5, 70, 60, 3), dtype=np.uint8)
    emb = enc.encode(crops)
    assert emb.shape == (5, 96) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    info = enc.info()
    assert info["pretrained"] is False and info["architecture"].startswith("timm test_resnet")
    assert info["preprocessing"]["image_size"] == enc.image_size
    # spec() rebuilds the same encoder (seeded random init); saved weights load back identically
    assert np.array_equal(make_visual_encoder(**enc.spec()).encode(crops), emb)
    file = enc.save(tmp_path / "w.safetensors")
    loaded = make_visual_encoder(ARCH, weights=str(file))
    assert loaded.info()["pretrained"] is False  # random weights stay marked as such
    assert loaded.info()["weights_sha256"] and np.array_equal(loaded.encode(crops), emb)
    other = make_visual_encoder(ARCH, seed=4).encode(crops)
    assert not np.allclose(other, emb)


def test_refusals_name_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE is set.*local file"):
        make_visual_encoder(ARCH, weights="imagenet", cache_dir=str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="unknown timm model 'no_such_net'"):
        make_visual_encoder("timm:no_such_net")
    bad = tmp_path / "bad.safetensors"
    import torch
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(bad))
    with pytest.raises(ValueError, match="do not fit timm test_resnet"):
        make_visual_encoder(ARCH, weights=str(bad))


def test_extract_with_timm_encoder(tmp_path):
    import voca_data
    from voca_data.extract import extract
    from voca_data.sources import load

    root = make_synth(tmp_path / "lavdf", videos=4, seed=2)
    store = extract(load("lavdf", root), root, tmp_path / "t.zarr", tiny_config(visual_arch=ARCH),
                    scheduler="synchronous", progress=False)
    ds = voca_data.open(store)
    assert ds.attrs["visual_encoder"]["name"] == ARCH and int(ds.sizes["visual_dim"]) == 96
    assert (ds.status.values == 1).all()
    n = int(ds.n_frames[0])
    assert np.isfinite(np.asarray(ds.visual.isel(video=0).values[:n], np.float32)).all()
