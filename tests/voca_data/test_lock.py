"""Issue 10, point 4: one writer per store and per training run directory (real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from voca_data.lock import LockError, holder, lock, lock_path

HOLD = """
import sys, time
from voca_data.lock import lock
with lock(sys.argv[1], what=sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""


def _holder_process(path: Path, what: str = "store") -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), what], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_second_writer_is_refused_and_a_dead_holder_is_taken_over(tmp_path, caplog):
    store = tmp_path / "s.zarr"
    proc = _holder_process(store)
    try:
        info = holder(store)
        assert info["pid"] == proc.pid and info["what"] == "store"
        with pytest.raises(LockError, match=f"s.zarr: the store is being written by pid {proc.pid} on host"), \
                lock(store):
            pass
    finally:
        _kill(proc)
    # SIGKILL left the lock file behind; nobody holds it: the next writer takes it over
    assert lock_path(store).exists()
    with caplog.at_level("WARNING"), lock(store):
        assert holder(store)["pid"] == os.getpid()
        with lock(store):  # re-entrant in one process (extract -> finalize)
            pass
        assert lock_path(store).exists()
    assert f"taking over the lock of pid {proc.pid}" in caplog.text
    assert not lock_path(store).exists()
    # another path to the same store (a symlink) is the same lock
    store.mkdir()
    (tmp_path / "alias.zarr").symlink_to(store)
    proc = _holder_process(tmp_path / "alias.zarr")
    try:
        with pytest.raises(LockError, match=f"pid {proc.pid}"):
            with lock(store):
                pass
    finally:
        _kill(proc)


def test_convert_import_finalize_and_train_hold_the_lock(tmp_path):
    import voca_models
    from voca_data.store.convert import convert
    from voca_data.testing import random_store
    from voca_data.store.writer import StoreWriter

    store = random_store(tmp_path / "r.zarr", n_videos=12, seed=2)
    proc = _holder_process(store)
    try:
        with pytest.raises(LockError, match="being written by pid"):
            StoreWriter(store).finalize()
    finally:
        _kill(proc)
    out = tmp_path / "r.h5"
    proc = _holder_process(out)
    try:
        with pytest.raises(LockError, match="r.h5: the store is being written"):
            convert(store, out)
        assert not out.exists()
    finally:
        _kill(proc)
    assert convert(store, out) == out
    run = tmp_path / "run"
    proc = _holder_process(run, "training run directory")
    try:
        with pytest.raises(LockError, match="run: the training run directory is being written by pid"):
            voca_models.train("localizer", store, run, model_config={"d_model": 16, "num_layers": 1,
                                                                      "nhead": 2},
                              train_config={"epochs": 1, "window": 32, "batch_size": 4,
                                            "progress": False, "device": "cpu"})
        assert not (run / "last").exists()
    finally:
        _kill(proc)


def test_import_npz_holds_the_lock(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from npz_fixture import make_npz_tree

    from voca_data.sources.npz import import_npz

    fx = make_npz_tree(tmp_path / "npz", n_videos=3, visual_dim=8, audio_dim=4)
    out = tmp_path / "s.zarr"
    proc = _holder_process(out)
    try:
        with pytest.raises(LockError, match="s.zarr: the store is being written by pid"):
            import_npz(fx.root, out, metadata=fx.metadata)
        assert not out.exists()
    finally:
        _kill(proc)
    assert import_npz(fx.root, out, metadata=fx.metadata)["complete"]
