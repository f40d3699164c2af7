"""voca_data: audio-visual deepfake features in one chunked, self-describing Zarr store.

>>> import voca_data
>>> ds = voca_data.open("lavdf.zarr")        # doctest: +SKIP
>>> ds.sel(split="test")                      # doctest: +SKIP
"""

from .store.reader import IncompleteStoreWarning, StoreError, open
from .records import VideoRecord, frame_labels
from .store.schema import SCHEMA_VERSION
from .store.writer import StoreWriter, init

__all__ = [
    "open", "init", "StoreWriter", "VideoRecord", "frame_labels", "SCHEMA_VERSION",
    "StoreError", "IncompleteStoreWarning",
]
