"""voca_data: audio-visual deepfake features in one chunked, self-describing Zarr store.

>>> import voca_data
>>> ds = voca_data.open("lavdf.zarr")        # doctest: +SKIP
>>> ds.sel(split="test")                      # doctest: +SKIP
>>> store = voca_data.Store.open("http://127.0.0.1:8766/lavdf.zarr")  # doctest: +SKIP
"""

import importlib
from typing import TYPE_CHECKING, Any

# public name -> the submodule that defines it, imported on first use: `voca --help` imports
# voca_data.cli and must not pay for xarray, zarr and dask
_EXPORTS = {
    "open": ".store.reader", "IncompleteStoreWarning": ".store.reader",
    "StoreError": ".store.reader",
    "Store": ".store.handle", "Location": ".store.handle", "StoreReadError": ".store.handle",
    "SPLIT_ALIASES": ".store.handle",
    "VideoRecord": ".records", "frame_labels": ".records",
    "SCHEMA_VERSION": ".store.schema",
    "StoreWriter": ".store.writer", "init": ".store.writer",
}

__all__ = [
    "open", "init", "StoreWriter", "VideoRecord", "frame_labels", "SCHEMA_VERSION",
    "StoreError", "IncompleteStoreWarning", "Store", "Location", "StoreReadError", "SPLIT_ALIASES",
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
    from .records import VideoRecord, frame_labels
    from .store.handle import SPLIT_ALIASES, Location, Store, StoreReadError
    from .store.reader import IncompleteStoreWarning, StoreError, open
    from .store.schema import SCHEMA_VERSION
    from .store.writer import StoreWriter, init
