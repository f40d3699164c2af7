"""One writer at a time: an exclusive lock file next to a store or a training run directory.

The lock of ``PATH`` is the file ``.NAME.lock`` beside it (beside, not inside: it exists before
a new store is created and survives the renames that put one in place). It holds the holder's
pid, host, start time and command line as JSON, and an ``fcntl.flock`` held for the lock's
lifetime, so the kernel releases it when the holder dies however it dies (SIGKILL included):

* a second writer gets :class:`LockError` at once, naming the path, pid, host and command;
* a lock file left by a dead process is not held: the next writer takes it over (logging who
  held it) without any guess about pids; no two processes can both take it over;
* the same process may lock the same path again (``extract`` calling ``finalize``): locks are
  counted per process and released by the outermost holder.

Example
-------
>>> from voca_data.lock import lock
>>> with lock("lavdf.zarr", what="store"):          # doctest: +SKIP
...     ...                                          # the only writer of lavdf.zarr
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["LockError", "holder", "lock", "lock_path"]


class LockError(RuntimeError):
    """Another live process holds the lock of a store or run directory."""


# locks this process holds: resolved lock path -> [fd, depth] (re-entrant per process)
_HELD: dict[str, list[int]] = {}
_HELD_GUARD = threading.Lock()


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file of ``path``: ``.NAME.lock`` in the same directory, symlinks resolved (two
    paths to one store share one lock).

    >>> lock_path("/data/lavdf.zarr").name
    '.lavdf.zarr.lock'
    """
    path = Path(os.path.realpath(os.fspath(path)))
    return path.parent / f".{path.name}.lock"


def holder(path: str | os.PathLike) -> dict[str, Any] | None:
    """What the lock file of ``path`` says about its holder (``None``: no lock file). The holder
    may be gone: only :func:`lock` knows whether the lock is live."""
    try:
        text = lock_path(path).read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return {"unreadable": text[:200]}
    return data if isinstance(data, dict) else {"unreadable": text[:200]}


def _describe(info: dict[str, Any] | None) -> str:
    if not info:
        return "another process (no holder recorded yet)"
    if "unreadable" in info:
        return "another process (its lock file is unreadable)"
    return (f"pid {info.get('pid')} on host {info.get('host')} since {info.get('since')} "
            f"({info.get('command', '?')})")


def _acquire(file: Path, path: Path, what: str) -> int:
    file.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):  # retried only when a releasing holder unlinks the file under us
        fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise LockError(
                f"{path}: the {what} is being written by {_describe(holder(path))}; only one "
                f"writer at a time. Wait for it to finish (or stop it); a lock left by a dead "
                f"process is taken over automatically ({file})") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(file).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the previous holder unlinked this file as we opened it: retry
            os.close(fd)
            continue
        stale = os.read(fd, 4096)
        if stale.strip():
            try:
                old = json.loads(stale)
            except ValueError:
                old = {"unreadable": stale[:200].decode(errors="replace")}
            log.warning("%s: taking over the lock of %s, which is no longer held (the process "
                        "ended without releasing it)", path, _describe(old))
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "command": " ".join([os.path.basename(sys.argv[0] or "python"), *sys.argv[1:]])[:500],
                "what": what}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        os.fsync(fd)
        return fd
    raise LockError(f"{path}: could not acquire the {what} lock {file} (it kept changing)")


@contextlib.contextmanager
def lock(path: str | os.PathLike, what: str = "store") -> Iterator[Path]:
    """Hold the exclusive lock of ``path`` (a store or run directory, existing or not) for the
    ``with`` block; :class:`LockError` names the holder if another live process has it.

    >>> with lock(tmp / "s.zarr"):                  # doctest: +SKIP
    ...     lock_path(tmp / "s.zarr").exists()
    True
    """
    path = Path(path)
    file = lock_path(path)
    key = str(file)
    with _HELD_GUARD:
        entry = _HELD.get(key)
        if entry is not None:
            entry[1] += 1
        else:
            _HELD[key] = [_acquire(file, path, what), 1]
    try:
        yield file
    finally:
        with _HELD_GUARD:
            entry = _HELD[key]
            entry[1] -= 1
            if entry[1] == 0:
                del _HELD[key]
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(file)  # still holding the flock: nobody else owns this file yet
                os.close(entry[0])
