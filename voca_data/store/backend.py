"""xarray integration: the ``voca`` backend engine and the ``ds.voca`` accessor.

``xr.open_dataset(path_or_url, engine="voca")`` gives the same Dataset as
:func:`voca_data.open` (schema check, per-video variables loaded, ``video_id`` / ``split``
indexes); ``storage_options=`` works as there. The accessor adds the common per-video steps.

Example
-------
>>> import xarray as xr
>>> ds = xr.open_dataset("lavdf.zarr", engine="voca")          # doctest: +SKIP
>>> ds.voca.split_names                                         # doctest: +SKIP
['dev', 'test', 'train']
>>> ds.voca.video("test/000001").visual.shape                   # doctest: +SKIP
(312, 512)
>>> ds.voca.ok().voca.split("dev").sizes["video"]               # doctest: +SKIP
31501
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import xarray as xr
from xarray.backends import BackendEntrypoint

from . import schema
from .handle import Store, resolve_split

__all__ = ["VocaAccessor", "VocaBackendEntrypoint"]


class VocaBackendEntrypoint(BackendEntrypoint):
    """``engine="voca"``: open a voca store (path, URL, zarr store) like :func:`voca_data.open`.

    >>> xr.open_dataset("http://127.0.0.1:8766/s.zarr", engine="voca")   # doctest: +SKIP
    """

    description = "Open a voca store (Zarr v3 or HDF5, local or any fsspec URL) with its indexes"
    url = "https://github.com/voca/voca/blob/main/docs/store.md"
    open_dataset_parameters = ("filename_or_obj", "drop_variables", "storage_options")

    def open_dataset(  # type: ignore[override]
        self,
        filename_or_obj: Any,
        *,
        drop_variables: str | Iterable[str] | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> xr.Dataset:
        ds = Store.open(filename_or_obj, storage_options).dataset
        if drop_variables is not None:
            names = [drop_variables] if isinstance(drop_variables, str) else list(drop_variables)
            ds = ds.drop_vars(names, errors="ignore")
        return ds

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        # explicit engine="voca" only: a .zarr path belongs to the zarr engine by default
        return False


@xr.register_dataset_accessor("voca")
class VocaAccessor:
    """Per-video steps on a Dataset opened by :func:`voca_data.open` or ``engine="voca"``."""

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    @property
    def split_names(self) -> list[str]:
        """The split names present, sorted."""
        return sorted({str(s) for s in np.asarray(self._ds["split"].values).tolist()})

    def resolve_split(self, role: str, name: str | None = None) -> str | None:
        """The split for ``role`` (train/dev/test) with the aliases of :data:`SPLIT_ALIASES`."""
        return resolve_split(self.split_names, role, name,
                             where=str(self._ds.attrs.get("source", "the dataset")))

    def split(self, role_or_name: str) -> xr.Dataset:
        """The videos of a split, by name or role (``ds.voca.split("dev")`` on a ``val`` store)."""
        name = self.resolve_split(role_or_name, role_or_name)
        return self._ds.isel(video=np.flatnonzero(
            np.asarray(self._ds["split"].values) == name))

    def ok(self) -> xr.Dataset:
        """Only the videos with ``status`` ok and at least one frame."""
        status = np.asarray(self._ds["status"].values)
        n = np.asarray(self._ds["n_frames"].values)
        return self._ds.isel(video=np.flatnonzero((status == schema.OK) & (n > 0)))

    def video(self, video_id: str | int, trim: bool = True) -> xr.Dataset:
        """One video (by id or position), per-frame variables cut to its ``n_frames``."""
        if isinstance(video_id, str):
            hits = np.flatnonzero(np.asarray(self._ds["video_id"].values) == video_id)
            if hits.size == 0:
                raise KeyError(f"{self._ds.attrs.get('source', 'dataset')} has no video {video_id!r}")
            i = int(hits[0])
        else:
            i = int(video_id)
        one = self._ds.isel(video=i)
        if trim and "frame" in one.dims:
            one = one.isel(frame=slice(0, int(one["n_frames"])))
        return one

    def store(self, storage_options: Mapping[str, Any] | None = None) -> Store:
        """The :class:`Store` handle of this Dataset's source."""
        return Store.open(os.fspath(self._ds.attrs["source"]), storage_options)
