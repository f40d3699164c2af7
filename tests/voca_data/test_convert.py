"""voca convert: Zarr -> HDF5 -> Zarr is bit-exact, and the HDF5 file is a store voca_data.open reads."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

import voca_data
from voca_data.store import schema
from voca_data.store.convert import convert
from voca_data.store.reader import is_hdf5
from voca_data.testing import fill_block_random, random_records, random_store
from voca_data.store.writer import StoreWriter, init

sys.path.insert(0, str(Path(__file__).parent))
from npz_fixture import run_command


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(f"u{a.itemsize}") if a.dtype.kind in "fiu" else a


def assert_same_store(a_path, b_path, history_added: int = 0):
    a = zarr.open_group(str(a_path), mode="r", use_consolidated=False)
    b = zarr.open_group(str(b_path), mode="r", use_consolidated=False)
    assert sorted(a.array_keys()) == sorted(b.array_keys())
    for name in a.array_keys():
        x, y = a[name], b[name]
        assert (x.dtype, x.shape, x.chunks, x.shards) == (y.dtype, y.shape, y.chunks, y.shards), name
        assert x.metadata.dimension_names == y.metadata.dimension_names, name
        assert dict(x.attrs) == dict(y.attrs), name
        assert _bits(np.asarray(x.fill_value, x.dtype)).tobytes() == _bits(np.asarray(y.fill_value, y.dtype)).tobytes() \
            if x.dtype.kind in "fiu" else x.fill_value == y.fill_value, name
        xv, yv = x[...], y[...]
        if x.dtype.kind in "fiu":
            np.testing.assert_array_equal(_bits(xv), _bits(yv), err_msg=name)  # NaN payloads too
        else:
            assert xv.shape == yv.shape and bool((xv == yv).all()), name
    aa, bb = dict(a.attrs), dict(b.attrs)
    assert {k: v for k, v in aa.items() if k != "history"} == {k: v for k, v in bb.items() if k != "history"}
    assert bb["history"][: len(aa["history"])] == aa["history"]
    assert [h["action"] for h in bb["history"][len(aa["history"]):]] == ["convert"] * history_added


def test_zarr_hdf5_zarr_is_bit_exact(tmp_path):
    src = random_store(tmp_path / "s.zarr", n_videos=11, block_size=4, fail=[2, 7])
    w = StoreWriter(src)
    # nested attributes of every JSON kind, strings with non-ASCII, an extra variable
    w.update_attrs(face_detector={"name": "mtcnn", "pretrained": True, "thresholds": [0.6, 0.7],
                                  "nested": {"none": None, "nan": float("nan")}}, note="ünïcödé ✓")
    w.write_variable("av_projection", np.arange(48, dtype=np.float32).reshape(3, 16), ("cca", "visual_dim"),
                     {"fitted_on": {"split": "train", "videos": 3}})
    h5 = convert(src, tmp_path / "s.h5")
    assert is_hdf5(h5)
    back = convert(h5, tmp_path / "back.zarr")
    assert_same_store(src, back, history_added=2)

    # the HDF5 file is a store: same values through voca_data.open
    dz = voca_data.open(src, warn_incomplete=False)
    dh = voca_data.open(h5, warn_incomplete=False)
    assert schema.validate(dh) == []
    assert dh.attrs["face_detector"]["thresholds"] == [0.6, 0.7] and dh.attrs["complete"] is True
    assert dh.av_projection.attrs["fitted_on"] == {"split": "train", "videos": 3}
    for name in dz.variables:
        x, y = dz[name].values, dh[name].values
        if x.dtype.kind in "fiu":
            np.testing.assert_array_equal(_bits(x), _bits(y), err_msg=name)
        else:
            assert x.tolist() == y.tolist(), name
    test = dh.sel(split="test")
    assert test.video_id.values.tolist() == dz.sel(split="test").video_id.values.tolist()
    # padding costs (almost) nothing in HDF5 either: unwritten chunks read back as fill
    assert h5.stat().st_size < 2 * sum(f.stat().st_size for f in src.rglob("*") if f.is_file()) + 200_000


def test_unfinished_store_converts_and_resumes(tmp_path):
    recs = random_records(7, seed=5)
    w = init(tmp_path / "s.zarr", recs, visual_dim=5, audio_dim=3, max_frames=200, block_size=3)
    w.write_block(1, fill_block_random(w, 1))
    h5 = convert(w.path, tmp_path / "s.h5")
    back = convert(h5, tmp_path / "back.zarr")
    assert_same_store(w.path, back, history_added=2)
    # the converted store keeps the block layout: writing can go on
    w2 = StoreWriter(back)
    assert w2.pending_blocks() == [0, 2]
    for b in w2.pending_blocks():
        w2.write_block(b, fill_block_random(w2, b))
    assert w2.finalize()["complete"] is True


def test_convert_refuses_to_overwrite_and_bad_outputs(tmp_path, capsys):
    src = random_store(tmp_path / "s.zarr", n_videos=4, block_size=2)
    out = tmp_path / "s.h5"
    assert run_command("convert", ["--no-progress", str(src), str(out)]) == 0
    before = out.read_bytes()
    assert run_command("convert", ["--no-progress", str(src), str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == before
    assert run_command("convert", ["--no-progress", "--overwrite", str(src), str(out)]) == 0
    with pytest.raises(ValueError, match="already zarr"):
        convert(src, tmp_path / "again.zarr")
    with pytest.raises(ValueError, match="must end in"):
        convert(src, tmp_path / "s.parquet")
    with pytest.raises(FileNotFoundError):
        convert(tmp_path / "nope.zarr", tmp_path / "nope.h5")
    assert not list(tmp_path.glob("*.partial"))
