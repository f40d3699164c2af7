"""Writer round trip of every variable, and what bad input to write_block gets."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

import voca_data
from voca_data.store import schema
from voca_data.records import VideoRecord, frame_labels
from voca_data.store.writer import StoreWriter, init


def _records() -> list[VideoRecord]:
    return [
        VideoRecord("train/a", "train/a.mp4", "train", label=1, fake_periods=((0.2, 0.6), (1.0, 1.5)),
                    modify_video=1, modify_audio=0),
        VideoRecord("train/b", "train/b.mp4", "train", label=0, modify_video=0, modify_audio=0),
        VideoRecord("dev/c", "dév/c é.mp4", "dev", label=1, fake_periods=((0.0, 0.44),)),
        VideoRecord("test/d", "test/d.mp4", "test", label=-1),
        VideoRecord("test/e", "test/e.mp4", "test", label=0),
    ]


def _block_values(w: StoreWriter, b: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    block = w.empty_block(b)
    for k, rec in enumerate(w.records(b)):
        n = int(rng.integers(30, w.n_frames_max + 1))
        if rec.video_id == "dev/c":  # a failed video: frames must come back as fill
            block["status"][k] = schema.FAILED
            block["error"][k] = "decode error: moov atom not found ✗"
            block["n_frames"][k] = n
            block["visual"][k] = 1.0  # all of it must be reset to fill
            continue
        block["n_frames"][k] = n
        block["duration"][k] = n / w.fps + 0.013
        block["source_fps"][k] = 29.97
        block["status"][k] = schema.OK
        block["error"][k] = "" if k else "note: ünïcode ok"
        for name in ("visual", "audio", "face_box"):
            block[name][k] = rng.standard_normal(block[name].shape[1:]).astype(block[name].dtype)
        for name in ("face_score", "visual_similarity", "av_similarity"):
            block[name][k] = rng.random(block[name].shape[1:]).astype(block[name].dtype)
    return block


def test_round_trip_of_every_variable(tmp_path):
    recs = _records()
    w = init(tmp_path / "s.zarr", recs, visual_dim=6, audio_dim=3, max_frames=140, block_size=2,
             provenance={"dataset": {"name": "unit", "root": "/data"}, "visual_encoder": {"pretrained": False}})
    assert w.n_blocks == 3 and w.n_frames_max == 256
    rng = np.random.default_rng(1)
    written = {b: _block_values(w, b, rng) for b in range(w.n_blocks)}
    for b, block in written.items():
        w.write_block(b, block)
    w.finalize()

    ds = voca_data.open(tmp_path / "s.zarr", warn_incomplete=False)
    assert schema.validate(ds) == []
    assert set(schema.VARIABLES) <= set(ds.variables)
    # static variables, from the manifest
    assert ds.video_id.values.tolist() == [r.video_id for r in recs]
    assert ds.split.values.tolist() == [r.split for r in recs]
    assert ds.path.values.tolist() == [r.path for r in recs]
    assert ds.label.values.tolist() == [r.label for r in recs]
    assert ds.n_fakes.values.tolist() == [r.n_fakes for r in recs]
    assert ds.modify_video.values.tolist() == [r.modify_video for r in recs]
    assert ds.modify_audio.values.tolist() == [r.modify_audio for r in recs]
    for k, r in enumerate(recs):
        p = ds.fake_periods.values[k]
        np.testing.assert_array_equal(p[: r.n_fakes], np.asarray(r.fake_periods, np.float64).reshape(-1, 2))
        assert np.isnan(p[r.n_fakes:]).all()
    # block and frame variables
    for b, block in written.items():
        sl = w.block_slice(b)
        for k in range(sl.stop - sl.start):
            g = sl.start + k
            ok = block["status"][k] == schema.OK
            n = int(block["n_frames"][k])
            assert int(ds.status.values[g]) == block["status"][k]
            assert str(ds.error.values[g]) == block["error"][k]
            assert int(ds.n_frames.values[g]) == n
            for name in ("duration", "source_fps"):
                np.testing.assert_array_equal(ds[name].values[g], block[name][k])
            extent = n if ok else 0
            for name in ("visual", "audio", "face_box", "face_score", "visual_similarity", "av_similarity"):
                got = ds[name].isel(video=g).values
                fill = schema.VARIABLES[name].fill
                np.testing.assert_array_equal(got[:extent], block[name][k][:extent])
                pad = got[extent:]
                assert (np.isnan(pad).all() if np.isnan(fill) else (pad == fill).all()), name
            fl = ds.frame_label.isel(video=g).values
            rec = recs[g]
            if ok and rec.label != -1:
                np.testing.assert_array_equal(fl[:n], frame_labels(rec.fake_periods, n, 25.0))
                assert (fl[n:] == -1).all()
            else:
                assert (fl == -1).all()
    # statistics over the train split only (videos 0 and 1)
    tr = [ds.visual.isel(video=g).values[: int(ds.n_frames.values[g])].astype(np.float64) for g in (0, 1)]
    np.testing.assert_allclose(ds.visual_mean.values, np.concatenate(tr).mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ds.visual_std.values, np.concatenate(tr).std(0), rtol=1e-4, atol=1e-6)
    assert ds.attrs["complete"] is True and ds.attrs["dataset"] == {"name": "unit", "root": "/data"}
    assert [h["action"] for h in ds.attrs["history"]] == ["init", "finalize"]


def test_write_block_refuses_bad_shapes_naming_the_variable(tmp_path):
    w = init(tmp_path / "s.zarr", _records(), visual_dim=6, audio_dim=3, max_frames=100, block_size=2)
    good = w.empty_block(0)
    good["n_frames"][:] = 10
    good["status"][:] = schema.OK
    for name, bad in [("visual", np.zeros((2, 128, 5), np.float32)),
                      ("audio", np.zeros((2, 100, 3), np.float32)),
                      ("frame_label", np.zeros((3, 128), np.int8)),
                      ("n_frames", np.zeros(3, np.int32))]:
        block = dict(good, **{name: bad})
        with pytest.raises(ValueError, match=rf"'{name}' has shape {tuple(bad.shape)}".replace("(", r"\(").replace(")", r"\)")):
            w.write_block(0, block)
    with pytest.raises(ValueError, match="not block variables"):
        w.write_block(0, dict(good, label=np.zeros(2, np.int8)))
    with pytest.raises(ValueError, match="'status' is required"):
        w.write_block(0, {k: v for k, v in good.items() if k != "status"})
    with pytest.raises(ValueError, match="status must be 1"):
        w.write_block(0, dict(good, status=np.zeros(2, np.int8)))
    with pytest.raises(ValueError, match="n_frames must lie"):
        w.write_block(0, dict(good, n_frames=np.full(2, 129, np.int32)))
    for i in (3, -1, 99):
        with pytest.raises(IndexError, match="out of range"):
            w.write_block(i, good)
    # nothing of the refused writes landed: every video still pending, frames all fill
    assert (w.status() == schema.PENDING).all()
    assert np.isnan(zarr.open_array(str(tmp_path / "s.zarr" / "visual"), mode="r")[:]).all()


def test_finalized_store_needs_prepare_for_writing(tmp_path):
    w = init(tmp_path / "s.zarr", _records(), visual_dim=6, audio_dim=3, max_frames=100, block_size=2)
    w.finalize()
    block = w.empty_block(1)
    block["n_frames"][:] = 20
    block["status"][:] = schema.OK
    with pytest.raises(RuntimeError, match="prepare_for_writing"):
        w.write_block(1, block)
    w.prepare_for_writing()
    w.write_block(1, block)
    assert w.pending_blocks() == [0, 2]
    summary = w.finalize()
    assert summary["ok"] == 2 and summary["pending"] == 3 and summary["complete"] is False


def test_init_refuses_bad_manifests(tmp_path):
    recs = _records()
    with pytest.raises(ValueError, match="'train/a' appears more than once"):
        init(tmp_path / "a.zarr", recs + recs[:1], visual_dim=4, audio_dim=4, max_frames=10)
    with pytest.raises(ValueError, match="manifest is empty"):
        init(tmp_path / "b.zarr", [], visual_dim=4, audio_dim=4, max_frames=10)
    init(tmp_path / "c.zarr", recs, visual_dim=4, audio_dim=4, max_frames=10)
    with pytest.raises(FileExistsError, match="overwrite"):
        init(tmp_path / "c.zarr", recs, visual_dim=4, audio_dim=4, max_frames=10)
