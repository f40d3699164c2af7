"""Opening a store as a lazy ``xarray.Dataset``: :func:`open`, through the :class:`Store` handle.

Example
-------
>>> import voca_data
>>> ds = voca_data.open("lavdf.zarr")                  # doctest: +SKIP
>>> ds = voca_data.open("http://127.0.0.1:8766/lavdf.zarr")  # doctest: +SKIP
>>> test = ds.sel(split="test")                         # doctest: +SKIP
>>> v = test.visual.isel(video=0)[: int(test.n_frames[0])]  # doctest: +SKIP
>>> ds.sel(video_id="test/000001").label.item()         # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import xarray as xr

from .handle import (
    JSON_ATTRS_KEY,
    IncompleteStoreWarning,
    Store,
    StoreError,
    StoreReadError,
    decode_attrs,
    is_hdf5,
)

__all__ = [
    "JSON_ATTRS_KEY",
    "IncompleteStoreWarning",
    "StoreError",
    "StoreReadError",
    "decode_attrs",
    "is_hdf5",
    "open",
]


def open(
    path: str | os.PathLike | Any,
    chunks: Mapping[str, int] | str | None = None,
    warn_incomplete: bool = True,
    storage_options: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Open a voca store (Zarr directory or HDF5 file, local or remote) as a lazy ``xarray.Dataset``.

    Parameters
    ----------
    path:
        A ``.zarr`` directory made by ``voca extract`` / ``voca import-npz``, an ``.h5`` file made
        by ``voca convert``, a URL of either (``file://``, ``http(s)://``, ``s3://``, ``gs://``,
        ``hf://``: anything fsspec reaches), a zarr ``Group`` or zarr store, or a :class:`Store`.
        Opening never writes (remote stores are opened read-only).
    chunks:
        ``None`` (default): per-frame variables stay lazily indexed without dask, so selecting
        and reading one video touch only its chunks. ``"shard"``: dask arrays with one chunk per
        shard (``block_size`` videos, all frames) for out-of-core computations; or a dict of dask
        chunks. Per-video variables (ids, labels, ``n_frames``, ``status`` ...) are always loaded.
    warn_incomplete:
        Warn (:class:`IncompleteStoreWarning`) when videos are pending or failed.
    storage_options:
        Passed to fsspec for URLs: credentials, endpoints, headers (e.g.
        ``{"key": ..., "secret": ..., "endpoint_url": ...}`` for S3, ``{"token": ...}`` for
        ``hf://``).

    Returns
    -------
    xarray.Dataset
        ``video_id`` and ``split`` are indexed coordinates along ``video``, so
        ``ds.sel(split="test")`` and ``ds.sel(video_id="test/000001")`` work. Fill values are kept
        as stored (NaN for floats, -1 for ``frame_label``): nothing is masked or rescaled. The
        ``ds.voca`` accessor adds per-video steps (``ds.voca.video(id)``, ``ds.voca.ok()``).

    Raises
    ------
    FileNotFoundError
        nothing at ``path``.
    StoreError
        ``path`` is not a voca store, or its schema is newer than this version reads.

    Example
    -------
    >>> ds = voca_data.open("s3://bucket/lavdf.zarr",
    ...                     storage_options={"endpoint_url": "http://127.0.0.1:9000"})  # doctest: +SKIP
    """
    store = Store.open(path, storage_options)
    if warn_incomplete:
        store.warn_if_incomplete(stacklevel=2)
    return store.to_xarray(chunks)
