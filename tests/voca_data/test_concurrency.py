"""8 processes writing different blocks of one store lose nothing, and the store stays readable
by voca_data.open while they write."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import voca_data
from voca_data.store import schema
from voca_data.testing import random_records, random_store
from voca_data.store.writer import StoreWriter, init

sys.path.insert(0, str(Path(__file__).parent))
from test_crash_safety import assert_same_arrays

N_VIDEOS, BLOCK, SEED, WORKERS = 48, 3, 11, 8

WRITER = r"""
import sys, time
from voca_data.testing import fill_block_random, random_records
from voca_data.store.writer import StoreWriter
w = StoreWriter(sys.argv[1])
rank, size, seed = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for b in range(rank, w.n_blocks, size):
    w.write_block(b, fill_block_random(w, b, seed=seed,
                                        records=random_records(w.n_videos, seed=seed)))
    time.sleep(0.02)
"""


def test_eight_writers_lose_nothing_and_readers_see_whole_blocks(tmp_path):
    reference = random_store(tmp_path / "ref.zarr", n_videos=N_VIDEOS, block_size=BLOCK, seed=SEED,
                             finalize=False)
    ref = voca_data.open(reference, warn_incomplete=False)
    recs = random_records(N_VIDEOS, seed=SEED)
    w = init(tmp_path / "s.zarr", recs, visual_dim=16, audio_dim=8,
             max_frames=max(r.n_frames for r in recs), block_size=BLOCK)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(w.path), str(r), str(WORKERS), str(SEED)],
                              env=env, stderr=subprocess.PIPE, text=True) for r in range(WORKERS)]
    reads = 0
    seen_partial = False
    while any(p.poll() is None for p in procs) or reads == 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", voca_data.IncompleteStoreWarning)
            ds = voca_data.open(w.path)
        status = ds.status.values
        ok = np.flatnonzero(status == schema.OK)
        seen_partial |= 0 < ok.size < N_VIDEOS
        # every video marked ok is whole: its frames are already there, equal to the final data
        for g in ok[:: max(1, ok.size // 6)]:
            np.testing.assert_array_equal(ds.visual.isel(video=int(g)).values,
                                          ref.visual.isel(video=int(g)).values)
            assert int(ds.n_frames.values[g]) == int(ref.n_frames.values[g])
        reads += 1
        time.sleep(0.05)
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    assert reads > 1
    w = StoreWriter(w.path)
    assert w.pending_blocks() == []
    assert_same_arrays(reference, w.path)
    w.finalize()
    StoreWriter(reference).finalize()
    assert_same_arrays(reference, w.path)
