"""voca_data.open: selection, and the errors and warnings it promises."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest
import zarr

import voca_data
from voca_data.store import schema
from voca_data.store.reader import IncompleteStoreWarning, StoreError
from voca_data.testing import random_store
from voca_data.testing import fill_block_random, random_records
from voca_data.store.writer import StoreWriter, init


def test_sel_by_split_and_id_and_lazy_frames(tmp_path):
    path = random_store(tmp_path / "s.zarr", n_videos=9, block_size=4)
    ds = voca_data.open(path)
    test = ds.sel(split="test")
    assert test.sizes["video"] == 3 and set(test.split.values.tolist()) == {"test"}
    one = ds.sel(video_id="dev/000004")
    assert one.video_id.item() == "dev/000004"
    n = int(one.n_frames)
    assert np.isfinite(one.visual.values[:n]).all() and np.isnan(one.visual.values[n:]).all()
    # per-frame variables are not loaded by open; chunks="shard" gives one dask chunk per shard
    assert ds.visual.variable._in_memory is False
    dsk = voca_data.open(path, chunks="shard")
    assert dsk.visual.chunks[0] == (4, 4, 1)
    np.testing.assert_array_equal(dsk.visual.isel(video=5).values, ds.visual.isel(video=5).values)


def test_not_a_store(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="not a Zarr v3 store"):
        voca_data.open(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(StoreError, match="neither a Zarr store directory nor an HDF5 file"):
        voca_data.open(tmp_path / "notes.txt")
    zarr.open_group(str(tmp_path / "other.zarr"), mode="w").attrs["title"] = "someone else's"
    with pytest.raises(StoreError, match="no 'voca_schema' attribute"):
        voca_data.open(tmp_path / "other.zarr")
    with pytest.raises(FileNotFoundError, match="no such store"):
        voca_data.open(tmp_path / "missing.zarr")


def test_newer_schema_is_refused(tmp_path):
    path = random_store(tmp_path / "s.zarr", n_videos=4, block_size=2)
    root = zarr.open_group(str(path), mode="r+")
    root.attrs["voca_schema"] = schema.SCHEMA_VERSION + 1
    zarr.consolidate_metadata(str(path))
    with pytest.raises(StoreError, match=f"schema {schema.SCHEMA_VERSION + 1}, newer .* upgrade voca"):
        voca_data.open(path)


def test_unreadable_store(tmp_path):
    path = random_store(tmp_path / "s.zarr", n_videos=4, block_size=2)
    (path / "zarr.json").write_text("{ this is not json")
    with pytest.raises(StoreError, match="cannot be opened as a voca store"):
        voca_data.open(path)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads anything")
def test_permission_denied(tmp_path):
    path = random_store(tmp_path / "s.zarr", n_videos=4, block_size=2)
    os.chmod(path / "zarr.json", 0)
    try:
        with pytest.raises(StoreError, match="permission|cannot"):
            voca_data.open(path)
    finally:
        os.chmod(path / "zarr.json", 0o644)


def test_incomplete_store_warns_counting_pending_and_failed(tmp_path):
    recs = random_records(10, seed=3)
    w = init(tmp_path / "s.zarr", recs, visual_dim=4, audio_dim=2, max_frames=200, block_size=3)
    w.write_block(0, fill_block_random(w, 0, fail=[1]))   # 2 ok, 1 failed
    w.write_block(2, fill_block_random(w, 2))             # 3 ok; blocks 1 and 3 pending (4 videos)
    with pytest.warns(IncompleteStoreWarning) as caught:
        ds = voca_data.open(w.path)
    (message,) = [str(c.message) for c in caught]
    assert "4 of 10 videos are still pending" in message and "run the same `voca extract`" in message
    assert "1 of 10 videos failed extraction" in message and "--retry-failed" in message
    assert message.endswith("the store is not finalized")
    assert (ds.status.values == schema.PENDING).sum() == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        voca_data.open(w.path, warn_incomplete=False)
    # finalized with a failure: warns about the failure only, without contradicting itself
    for b in StoreWriter(w.path).pending_blocks():
        w.write_block(b, fill_block_random(w, b))
    w.finalize()
    with pytest.warns(IncompleteStoreWarning) as caught:
        voca_data.open(w.path)
    (message,) = [str(c.message) for c in caught]
    assert message == (f"{w.path}: 1 of 10 videos failed extraction and have no features "
                       "(their `error` variable says why; `voca extract --retry-failed` redoes them)")


def test_attrs_and_history_readable(tmp_path):
    path = random_store(tmp_path / "s.zarr", n_videos=4, block_size=2)
    ds = voca_data.open(path)
    assert ds.attrs["visual_encoder"]["pretrained"] is False
    assert json.dumps(ds.attrs["history"])  # plain JSON types


def test_voca_info_table(tmp_path, capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from npz_fixture import run_command

    recs = random_records(9, seed=4)
    w = init(tmp_path / "s.zarr", recs, visual_dim=4, audio_dim=2, max_frames=200, block_size=3,
             provenance={"visual_encoder": {"name": "ViT-B-16", "pretrained": True},
                         "audio_encoder": {"name": "wav2vec2", "pretrained": False}})
    w.write_block(0, fill_block_random(w, 0, fail=[0]))
    w.write_block(1, fill_block_random(w, 1))
    assert run_command("info", [str(w.path)]) == 0
    out = capsys.readouterr().out
    assert "complete  NO  (5 ok, 1 failed, 3 pending of 9 videos)" in out
    # ... and what to do about it, on the next line
    assert "3 of 9 videos are still pending (not extracted yet: run the same `voca extract`" in out
    assert "`voca extract --retry-failed` redoes them" in out
    assert "ViT-B-16, pretrained" in out and "wav2vec2, pretrained: false" in out
    status = StoreWriter(w.path).status()
    labels = np.array([r.label for r in recs])
    splits = [r.split for r in recs]
    for split in ("train", "dev", "test"):
        for lab, lab_name in ((1, "fake"), (0, "real")):
            sel = np.array([s == split for s in splits]) & (labels == lab)
            if not sel.any():
                continue
            row = [ln.split() for ln in out.splitlines() if ln.split()[:2] == [split, lab_name]]
            counts = [int((status[sel] == c).sum()) for c in (0, 1, 2)]
            assert row and [int(x) for x in row[0][2:5]] == counts and int(row[0][5]) == sel.sum()
    assert "all" in out and " on disk)" in out


def test_extraction_leaves_dask_default_scheduler_alone(tmp_path):
    """Extracting with a distributed client must not leave dask pointing at a closed client
    (a later ``open(..., chunks="shard")`` computation would fail)."""
    import dask

    from voca_data.extract.schedule import _scheduler

    before = dask.config.get("scheduler", None)
    with _scheduler("threads", 1) as client:
        assert client is not None
    assert dask.config.get("scheduler", None) == before
    path = random_store(tmp_path / "s.zarr", n_videos=4, block_size=2)
    ds = voca_data.open(path, chunks="shard")
    assert np.isfinite(float(ds.visual.isel(video=0).mean().compute()))
