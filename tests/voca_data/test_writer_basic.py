import numpy as np
import pytest

import voca_data
from voca_data.store import schema
from voca_data.testing import random_store
from voca_data.store.writer import StoreWriter


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


def test_fake_without_periods_gets_unknown_frame_labels(tmp_path):
    from voca_data import VideoRecord
    from voca_data.store.check import check_store
    from voca_data.store.writer import init

    recs = [VideoRecord("a", "a.mp4", "trainset", label=1),  # FFDV-style: fake, periods unknown
            VideoRecord("b", "b.mp4", "trainset", label=0),
            VideoRecord("c", "c.mp4", "testset", label=-1),
            VideoRecord("d", "d.mp4", "trainset", label=1, fake_periods=((0.0, 0.2),))]
    w = init(tmp_path / "s.zarr", recs, visual_dim=4, audio_dim=4, max_frames=10, block_size=4)
    block = w.empty_block(0)
    block["n_frames"][:] = 10
    block["status"][:] = 1
    block["visual"][:, :10] = 0.5
    block["audio"][:, :10] = 0.5
    w.write_block(0, block)
    w.finalize()
    fl = voca_data.open(tmp_path / "s.zarr").frame_label.values[:, :10]
    assert (fl[0] == -1).all() and (fl[1] == 0).all() and (fl[2] == -1).all()
    assert fl[3].tolist() == [1] * 5 + [0] * 5
    assert check_store(tmp_path / "s.zarr") == []
