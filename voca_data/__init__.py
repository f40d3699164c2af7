"""voca_data: audio-visual deepfake features in one chunked, self-describing Zarr store.

>>> import voca_data
>>> ds = voca_data.open("lavdf.zarr")        # doctest: +SKIP
>>> ds.sel(split="test")                      # doctest: +SKIP
"""

import importlib
from typing import TYPE_CHECKING, Any

# public name -> the submodule that defines it, imported on first use: `voca --help` imports
# voca_data.cli and must not pay for xarray, zarr and dask
_EXPORTS = {
    "open": ".reader", "IncompleteStoreWarning": ".reader", "StoreError": ".reader",
    "VideoRecord": ".records", "frame_labels": ".records",
    "SCHEMA_VERSION": ".schema",
    "StoreWriter": ".writer", "init": ".writer",
}

__all__ = [
    "open", "init", "StoreWriter", "VideoRecord", "frame_labels", "SCHEMA_VERSION",
    "StoreError", "IncompleteStoreWarning",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'voca_data' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # pragma: no cover
    from .reader import IncompleteStoreWarning, StoreError, open
    from .records import VideoRecord, frame_labels
    from .schema import SCHEMA_VERSION
    from .writer import StoreWriter, init
