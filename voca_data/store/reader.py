"""Opening a store as a lazy ``xarray.Dataset``.

Example
-------
>>> import voca_data
>>> ds = voca_data.open("lavdf.zarr")                  # doctest: +SKIP
>>> test = ds.sel(split="test")                         # doctest: +SKIP
>>> v = test.visual.isel(video=0)[: int(test.n_frames[0])]  # doctest: +SKIP
>>> ds.sel(video_id="test/000001").label.item()         # doctest: +SKIP
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import schema

__all__ = ["IncompleteStoreWarning", "StoreError", "is_hdf5", "open"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
JSON_ATTRS_KEY = "_voca_json_attrs"  # HDF5 attributes cannot hold nested dicts: listed keys are JSON


class StoreError(ValueError):
    """The path is not a store this version of voca can read."""


class IncompleteStoreWarning(UserWarning):
    """The store has pending or failed videos."""


def is_hdf5(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(8) == _HDF5_MAGIC
    except OSError:
        return False


def decode_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Undo the JSON encoding of nested attributes used for HDF5 files."""
    out = dict(attrs)
    keys = out.pop(JSON_ATTRS_KEY, None)
    if keys is None:
        return out
    for key in json.loads(keys):
        if key in out:
            out[key] = json.loads(out[key])
    return out


def open(
    path: str | Path,
    chunks: Mapping[str, int] | str | None = None,
    warn_incomplete: bool = True,
) -> xr.Dataset:
    """Open a voca store (Zarr directory or HDF5 file) as a lazy ``xarray.Dataset``.

    Parameters
    ----------
    path:
        A ``.zarr`` directory made by ``voca extract`` / ``voca import-npz`` or an ``.h5`` file made
        by ``voca convert``.
    chunks:
        ``None`` (default): per-frame variables stay lazily indexed without dask, so selecting
        and reading one video touch only its chunks (a 136,304-video store opens in ~0.2 s).
        ``"shard"``: dask arrays with one chunk per shard (``block_size`` videos, all frames) for
        out-of-core computations; or a dict of dask chunks. Per-video variables (ids, labels,
        ``n_frames``, ``status`` ...) are always loaded.
    warn_incomplete:
        Warn (:class:`IncompleteStoreWarning`) when videos are pending or failed.

    Returns
    -------
    xarray.Dataset
        ``video_id`` and ``split`` are indexed coordinates along ``video``, so
        ``ds.sel(split="test")`` and ``ds.sel(video_id="test/000001")`` work. Fill values are kept
        as stored (NaN for floats, -1 for ``frame_label``): nothing is masked or rescaled.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    StoreError
        ``path`` is not a voca store, or its schema is newer than this version reads.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such store (expected a .zarr directory or an .h5 file)")
    try:
        if path.is_dir():
            if not (path / "zarr.json").exists():
                raise StoreError(
                    f"{path} is a directory but not a Zarr v3 store (no zarr.json): expected a store "
                    "written by voca (voca extract / voca import-npz)"
                )
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Consolidated metadata")
                # a store whose attributes changed after finalize has no consolidated metadata:
                # reading it without is correct (just slower), not worth a warning
                warnings.filterwarnings("ignore", message="Failed to open Zarr store with consolidated")
                ds = xr.open_zarr(path, consolidated=None, mask_and_scale=False, chunks=None,
                                  decode_times=False, zarr_format=3)
        elif is_hdf5(path):
            ds = xr.open_dataset(path, engine="h5netcdf", mask_and_scale=False, chunks=None,
                                 decode_times=False)
            ds.attrs = decode_attrs(ds.attrs)
            for var in ds.variables.values():
                # HDF5 keeps the fill value as an attribute; Zarr as array metadata: same view
                fill = var.attrs.pop("_FillValue", None)
                if fill is not None:
                    var.encoding["_FillValue"] = fill
                var.attrs = decode_attrs(var.attrs)
        else:
            raise StoreError(
                f"{path} is neither a Zarr store directory nor an HDF5 file: expected a voca store"
            )
    except (StoreError, FileNotFoundError):
        raise
    except PermissionError as exc:
        raise StoreError(f"{path}: cannot read the store ({exc}); check its permissions") from exc
    except Exception as exc:  # zarr/h5 errors come in many types
        raise StoreError(f"{path}: cannot be opened as a voca store ({type(exc).__name__}: {exc})") from exc

    version = ds.attrs.get("voca_schema")
    if version is None:
        raise StoreError(f"{path} has no 'voca_schema' attribute: not a voca store")
    if int(version) > schema.SCHEMA_VERSION:
        raise StoreError(
            f"{path} uses voca store schema {version}, newer than the {schema.SCHEMA_VERSION} this "
            "version of voca reads: upgrade voca"
        )
    # per-video variables are small: load them; per-frame ones stay lazily indexed (dask on request)
    block = int(ds.attrs.get("block_size", schema.DEFAULT_BLOCK_SIZE))
    # `status` first: a block task writes it last, so every video read as ok here has all its
    # other variables already written, even while other processes are writing
    names = sorted(ds.variables, key=lambda n: n != "status")
    for name in names:
        var = ds.variables[name]
        if "frame" not in var.dims:
            ds[name] = var.load()
    ds = ds.set_coords([n for n in ("video_id", "split") if n in ds.variables])
    for name in ("video_id", "split"):
        if name in ds.coords:
            ds = ds.set_xindex(name)
    if chunks is not None:
        chunks = {"video": block, "frame": -1} if chunks == "shard" else dict(chunks)
        for name in [n for n, v in ds.data_vars.items() if "frame" in v.dims]:
            ds[name] = ds[name].chunk({k: v for k, v in chunks.items() if k in ds[name].dims})
    if warn_incomplete and "status" in ds:
        status = np.asarray(ds["status"].values)
        pending = int((status == schema.PENDING).sum())
        failed = int((status == schema.FAILED).sum())
        if pending or failed or not ds.attrs.get("complete", False):
            warnings.warn(
                f"{path}: store is {'complete' if ds.attrs.get('complete') else 'incomplete'}: "
                f"{pending} pending and {failed} failed of {status.size} videos",
                IncompleteStoreWarning, stacklevel=2,
            )
    ds.attrs["source"] = str(path)
    return ds
