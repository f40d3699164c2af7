"""A writer process killed with SIGKILL in the middle of a run, then resumed, gives exactly the
content of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import zarr

from voca_data.store import schema
from voca_data.testing import random_records, random_store
from voca_data.store.writer import StoreWriter, init

N_VIDEOS, BLOCK, SEED, VDIM, ADIM = 40, 4, 7, 48, 24

# a real block-writing loop: resume-by-default, like `voca extract`
WRITER = r"""
import sys
from voca_data.testing import fill_block_random, random_records
from voca_data.store.writer import StoreWriter
w = StoreWriter(sys.argv[1])
for b in w.pending_blocks():
    w.write_block(b, fill_block_random(w, b, seed=int(sys.argv[2]),
                                        records=random_records(w.n_videos, seed=int(sys.argv[2]))))
    print(b, flush=True)
if len(sys.argv) > 3:
    w.finalize()
print("done", flush=True)
"""


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _new_store(path):
    recs = random_records(N_VIDEOS, seed=SEED)
    return init(path, recs, visual_dim=VDIM, audio_dim=ADIM, max_frames=max(r.n_frames for r in recs),
                block_size=BLOCK)


def assert_same_arrays(a_path, b_path):
    a = zarr.open_group(str(a_path), mode="r", use_consolidated=False)
    b = zarr.open_group(str(b_path), mode="r", use_consolidated=False)
    assert sorted(a.array_keys()) == sorted(b.array_keys())
    for name in a.array_keys():
        x, y = a[name][...], b[name][...]
        assert x.dtype == y.dtype and x.shape == y.shape, name
        if x.dtype.kind in "fiu":
            np.testing.assert_array_equal(x.view(f"u{x.itemsize}"), y.view(f"u{y.itemsize}"), err_msg=name)
        else:
            assert bool((x == y).all()), name


@pytest.mark.parametrize("kill_after", [1, 5])
def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path, kill_after):
    reference = random_store(tmp_path / "ref.zarr", n_videos=N_VIDEOS, block_size=BLOCK, seed=SEED,
                             visual_dim=VDIM, audio_dim=ADIM)
    w = _new_store(tmp_path / "s.zarr")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(w.path), str(SEED)],
                            stdout=subprocess.PIPE, text=True, env=_env())
    done: list[int] = []
    for line in proc.stdout:
        done.append(int(line))
        if len(done) == kill_after:
            os.kill(proc.pid, signal.SIGKILL)  # while it writes the next block
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    # nothing reported written is lost; the interrupted block is pending, to be rewritten whole
    w = StoreWriter(w.path)
    status = w.status()
    for b in done:
        assert (status[w.block_slice(b)] != schema.PENDING).all()
    pending = w.pending_blocks()
    assert pending and not set(pending) & set(done)
    # the killed writer may have left a temporary file mid-write: the coordinator clears them
    w.remove_partial_files()
    assert not list(w.path.rglob("*.partial"))
    # resume in a fresh process, uninterrupted, then finalize
    out = subprocess.run([sys.executable, "-c", WRITER, str(w.path), str(SEED), "finalize"],
                         capture_output=True, text=True, env=_env(), timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert [int(x) for x in out.stdout.split()[:-1]] == pending
    assert_same_arrays(reference, w.path)
    assert StoreWriter(w.path).attrs["complete"] is True
