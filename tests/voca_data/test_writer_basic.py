import numpy as np
import pytest

import voca_data
from voca_data import schema
from voca_data.testing import random_store
from voca_data.writer import StoreWriter


def test_round_trip_and_sel(tmp_path):
    path = random_store(tmp_path / "s.zarr", n_videos=10, block_size=4, fail=[3])
    ds = voca_data.open(path, warn_incomplete=False)
    assert schema.validate(ds) == []
    assert ds.sizes["video"] == 10 and ds.sizes["frame"] % 128 == 0
    test = ds.sel(split="test")
    assert set(test.split.values.tolist()) == {"test"}
    one = ds.sel(video_id="train/000000")
    n = int(one.n_frames)
    assert np.isfinite(one.visual.values[:n]).all()
    assert np.isnan(one.visual.values[n:]).all()
    assert (one.frame_label.values[n:] == -1).all()
    assert int(ds.status.values[3]) == schema.FAILED
    assert ds.attrs["complete"] is True
    assert ds.visual_mean.shape == (16,)


def test_write_block_refuses_bad_shapes(tmp_path):
    path = random_store(tmp_path / "s.zarr", n_videos=6, block_size=4, finalize=False)
    w = StoreWriter(path)
    block = w.empty_block(1)
    block["visual"] = block["visual"][:, :10]
    block["n_frames"][:] = 5
    block["status"][:] = 1
    with pytest.raises(ValueError, match="'visual' has shape"):
        w.write_block(1, block)
    with pytest.raises(IndexError):
        w.block_slice(2)
