"""Shared helpers of the extractor tests: small synthetic datasets, tiny settings, store equality.

>>> from extract_fixtures import TINY, assert_stores_equal       # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# tiny encoders, fast detector, small blocks: a whole extraction of 8 short videos in seconds
TINY = dict(visual_arch="voca-tiny", audio_encoder="logmel", detector="center", detect_every=5,
            block_size=4, batch_size=16, device="cpu")
SYNTH = dict(size=(96, 112), duration_range=(2.0, 2.6))


def tiny_config(**kw):
    from voca_data.extract import ExtractConfig

    return ExtractConfig(**{**TINY, **kw})


def make_synth(root: Path, layout: str = "lavdf", videos: int = 8, seed: int = 0, **kw) -> Path:
    from voca_data.synth import make_dataset

    return make_dataset(root, layout=layout, videos=videos, seed=seed, **{**SYNTH, **kw})


def store_arrays(path: Path) -> dict[str, np.ndarray]:
    import zarr

    group = zarr.open_group(str(path), mode="r")
    return {name: np.asarray(arr[...]) for name, arr in group.arrays()}


def assert_stores_equal(a: Path, b: Path, skip: tuple[str, ...] = ()) -> None:
    """Every variable of ``a`` equals ``b`` (NaN == NaN), same set of variables."""
    xa, xb = store_arrays(a), store_arrays(b)
    assert sorted(xa) == sorted(xb)
    for name in xa:
        if name in skip:
            continue
        va, vb = xa[name], xb[name]
        assert va.shape == vb.shape, name
        if va.dtype.kind in "fc":
            np.testing.assert_array_equal(va, vb, err_msg=name)  # NaN positions must match too
        else:
            assert [str(x) for x in va.ravel()] == [str(x) for x in vb.ravel()], name
