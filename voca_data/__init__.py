"""voca_data: audio-visual deepfake features in one chunked, self-describing Zarr store.

>>> import voca_data
>>> ds = voca_data.open("lavdf.zarr")        # doctest: +SKIP
>>> ds.sel(split="test")                      # doctest: +SKIP
>>> store = voca_data.Store.open("http://127.0.0.1:8766/lavdf.zarr")  # doctest: +SKIP
"""

from .store import backend as _backend  # noqa: F401  (registers the ds.voca accessor)
from .store.handle import SPLIT_ALIASES, Location, Store, StoreReadError
from .store.reader import IncompleteStoreWarning, StoreError, open
from .records import VideoRecord, frame_labels
from .store.schema import SCHEMA_VERSION
from .store.writer import StoreWriter, init

__all__ = [
    "open", "init", "StoreWriter", "VideoRecord", "frame_labels", "SCHEMA_VERSION",
    "StoreError", "IncompleteStoreWarning", "Store", "Location", "StoreReadError", "SPLIT_ALIASES",
]
