"""One handle on a voca store, opened once from a path, a URL or a zarr store.

:class:`Store` knows the per-video metadata (ids, split, label, status, frame counts), the
store's fps, dimensions and encoders, resolves split names with their aliases, and hands out the
lazy ``xarray.Dataset`` view and per-video reads. :class:`Location` is the small, picklable
description of where a store lives (what a ``DataLoader`` worker needs to reopen it).

Example
-------
>>> from voca_data.store import Store
>>> store = Store.open("lavdf.zarr")                                    # doctest: +SKIP
>>> store = Store.open("http://127.0.0.1:8766/lavdf.zarr")              # doctest: +SKIP
>>> store = Store.open("s3://bucket/lavdf.zarr",
...                    storage_options={"anon": True})                  # doctest: +SKIP
>>> store.resolve_split("dev"), store.split_names                      # doctest: +SKIP
('val', ['test', 'train', 'val'])
>>> store.read(store.index_of("test/000001"), ["visual"], 0, 100)["visual"].shape  # doctest: +SKIP
(100, 512)
>>> ds = store.dataset                                                  # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import warnings
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import schema

log = logging.getLogger(__name__)

__all__ = [
    "SPLIT_ALIASES",
    "IncompleteStoreWarning",
    "Location",
    "Store",
    "StoreError",
    "StoreReadError",
    "is_hdf5",
]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
JSON_ATTRS_KEY = "_voca_json_attrs"  # HDF5 attributes cannot hold nested dicts: listed keys are JSON

#: split names looked for when a role's split is not given, in order (LAV-DF, FFDV, folder)
SPLIT_ALIASES: dict[str, tuple[str, ...]] = {
    "train": ("train", "trainset", "training"),
    "dev": ("dev", "val", "valset", "validation", "valid"),
    "test": ("test", "testset"),
}

_PROVENANCE_KEYS = ("visual_encoder", "audio_encoder", "face_detector")
#: seconds one read of a video may take before it fails (a server that never answers)
READ_TIMEOUT_S = 120.0
_LABEL_NAMES = {1: "fake", 0: "real", -1: "unknown"}


class StoreError(ValueError):
    """The path is not a store this version of voca can read."""


class StoreReadError(OSError):
    """Reading part of a store failed (server gone, truncated or corrupt chunk): the message names
    the store, the array, the video and the chunk."""


class IncompleteStoreWarning(UserWarning):
    """The store has pending or failed videos."""


def is_hdf5(path: str | Path) -> bool:
    """Whether ``path`` (a local file) starts with the HDF5 signature."""
    try:
        with Path(path).open("rb") as f:
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


def _is_url(text: str) -> bool:
    return "://" in text and not text.startswith("file://")


# --------------------------------------------------------------------------------------- location

# by id: fsspec file systems with the same options compare equal, so a WeakSet would keep one
_REMOTE_FILESYSTEMS: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()


def _close_session(fs: Any) -> None:
    """Close ``fs``'s HTTP session (an fsspec file system zarr made asynchronous, whose session
    lives on zarr's event loop and that nothing else closes: aiohttp would print "Unclosed client
    session" when it is collected or the process ends)."""
    session = getattr(fs, "_session", None)
    if session is None or getattr(session, "closed", True):
        return
    import asyncio

    from zarr.core.sync import sync

    try:
        asyncio.get_running_loop().create_task(session.close())  # collected on the loop itself
    except RuntimeError:  # no loop running in this thread: run it on zarr's
        try:
            sync(session.close(), timeout=5)
        except Exception as exc:  # noqa: BLE001 - best effort; nothing is written
            log.debug("%s: closing its HTTP session failed: %s", fs, exc)


def _close_sessions() -> None:
    for fs in list(_REMOTE_FILESYSTEMS.values()):
        _close_session(fs)


def _close_when_done(store: Any) -> None:
    """Close the session of ``store``'s file system when the store is collected, or at exit (a
    hook registered after zarr's own, so it runs while zarr's loop still does)."""
    if not getattr(_close_when_done, "registered", False):
        atexit.register(_close_sessions)
        _close_when_done.registered = True  # type: ignore[attr-defined]
    _REMOTE_FILESYSTEMS[id(store.fs)] = store.fs
    weakref.finalize(store, _close_session, store.fs).atexit = False


@dataclass(frozen=True)
class Location:
    """Where a store lives: a local path or a URL with its ``storage_options``; picklable, so a
    DataLoader worker can reopen the store. ``format`` is ``"zarr"`` or ``"hdf5"``.

    >>> Location.parse("file:///data/lavdf.zarr").path
    '/data/lavdf.zarr'
    >>> Location.parse("http://127.0.0.1:8766/s.zarr/").url
    'http://127.0.0.1:8766/s.zarr'
    """

    url: str  # a URL (http://, s3://, ...) or an absolute local path
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    format: str = "zarr"

    @classmethod
    def parse(cls, source: str | os.PathLike, storage_options: Mapping[str, Any] | None = None,
              ) -> Location:
        text = os.fspath(source)
        text = text.removeprefix("file://")
        if _is_url(text):
            return cls(text.rstrip("/"), dict(storage_options or {}))
        if storage_options:
            raise ValueError(
                f"{text}: storage_options are for URLs (s3://, http://, ...); a local path takes none"
            )
        path = Path(text).expanduser()
        fmt = "hdf5" if path.is_file() and is_hdf5(path) else "zarr"
        return cls(str(path.absolute()), {}, fmt)

    @property
    def is_remote(self) -> bool:
        return _is_url(self.url)

    @property
    def path(self) -> str:
        """The local path (a URL for remote stores)."""
        return self.url

    @property
    def protocol(self) -> str:
        return self.url.split("://", 1)[0] if self.is_remote else "file"

    def child(self, name: str) -> str:
        return f"{self.url}/{name}"

    def zarr_store(self) -> Any:
        """A read-only zarr store for this location (zarr's LocalStore or FsspecStore)."""
        import zarr.storage

        if not self.is_remote:
            return zarr.storage.LocalStore(self.url, read_only=True)
        try:
            # a file system of its own (not fsspec's per-process instance cache): its HTTP
            # session and pooled connections belong to this store alone
            options = {"skip_instance_cache": True, **dict(self.storage_options)}
            store = zarr.storage.FsspecStore.from_url(self.url, storage_options=options,
                                                      read_only=True)
            _close_when_done(store)
            return store
        except ImportError as exc:
            raise StoreError(
                f"{self.url}: reading {self.protocol}:// needs an fsspec implementation that is not "
                f"installed ({exc}); e.g. pip install aiohttp (http), s3fs (s3), gcsfs (gs)"
            ) from exc

    def tensorstore_kvstore(self, name: str) -> dict[str, Any] | None:
        """tensorstore's kvstore spec for array ``name``, or ``None`` where tensorstore has no
        driver for this location (then zarr-python reads it through fsspec)."""
        if not self.is_remote:
            return {"driver": "file", "path": str(Path(self.url) / name) + "/"}
        proto, rest = self.url.split("://", 1)
        if proto in ("http", "https") and not self.storage_options:
            return {"driver": "http", "base_url": f"{self.url}/{name}/"}
        bucket, _, prefix = rest.partition("/")
        key = f"{prefix}/{name}/" if prefix else f"{name}/"
        if proto == "gs" and not self.storage_options:
            return {"driver": "gcs", "bucket": bucket, "path": key}
        if proto == "s3":
            opts = dict(self.storage_options)
            spec: dict[str, Any] = {"driver": "s3", "bucket": bucket, "path": key}
            endpoint = opts.pop("endpoint_url", None) or (opts.get("client_kwargs") or {}).get(
                "endpoint_url")
            opts.pop("client_kwargs", None)
            if endpoint:
                spec["endpoint"] = endpoint
            if opts.pop("anon", False):
                spec["aws_credentials"] = {"type": "anonymous"}
            if opts.pop("key", None) or opts.pop("secret", None):
                return None  # explicit keys: tensorstore reads them from the environment only
            if opts:
                return None
            return spec
        return None


# --------------------------------------------------------------------------------------- opening
def _open_zarr(store: Any, where: str, group: str | None = None) -> xr.Dataset:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata")
        # a store whose attributes changed after finalize has no consolidated metadata: reading it
        # without is correct (just slower), not worth a warning
        warnings.filterwarnings("ignore", message="Failed to open Zarr store with consolidated")
        return xr.open_zarr(store, group=group, consolidated=None, mask_and_scale=False,
                            chunks=None, decode_times=False, zarr_format=3)


def _open_hdf5(obj: Any) -> xr.Dataset:
    ds = xr.open_dataset(obj, engine="h5netcdf", mask_and_scale=False, chunks=None,
                         decode_times=False)
    ds.attrs = decode_attrs(ds.attrs)
    for var in ds.variables.values():
        # HDF5 keeps the fill value as an attribute; Zarr as array metadata: same view
        fill = var.attrs.pop("_FillValue", None)
        if fill is not None:
            var.encoding["_FillValue"] = fill
        var.attrs = decode_attrs(var.attrs)
    return ds


def _open_location(loc: Location) -> tuple[xr.Dataset, Any]:
    """The dataset at ``loc``, and the fsspec file system it reads through (``None`` locally)."""
    where = loc.url
    if not loc.is_remote:
        path = Path(where)
        if not path.exists():
            raise FileNotFoundError(
                f"{path}: no such store (expected a .zarr directory or an .h5 file)")
        if path.is_dir():
            if not (path / "zarr.json").exists():
                raise StoreError(
                    f"{path} is a directory but not a Zarr v3 store (no zarr.json): expected a "
                    "store written by voca (voca extract / voca import-npz)")
            return _open_zarr(loc.zarr_store(), where), None
        if loc.format == "hdf5":
            return _open_hdf5(path), None
        raise StoreError(
            f"{path} is neither a Zarr store directory nor an HDF5 file: expected a voca store")
    # remote: an HDF5 file is one object; a Zarr store has a zarr.json under its URL
    if loc.url.endswith((".h5", ".hdf5", ".nc")):
        import fsspec

        fobj = fsspec.open(loc.url, mode="rb", **dict(loc.storage_options)).open()
        return _open_hdf5(fobj), None
    zstore = loc.zarr_store()
    try:
        return _open_zarr(zstore, where), getattr(zstore, "fs", None)
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"{where}: no voca store there (no zarr.json under that URL); check the URL and "
            "that the store was published with `voca publish`") from exc


class Store:
    """An opened voca store: per-video metadata in memory, per-frame data read on demand.

    Open with :meth:`Store.open`. Attributes: ``location`` (:class:`Location`), ``attrs`` (root
    attributes), ``video_ids``, ``splits`` (numpy str arrays), ``labels``, ``status``,
    ``n_frames`` (int64 arrays), ``fps``, ``sizes`` (dimension sizes), ``feature_dims``
    (per-frame variable -> feature size, 1 for per-frame scalars), ``encoders``.

    >>> store = Store.open("lavdf.zarr")                       # doctest: +SKIP
    >>> store.usable("test")[:3], store.fps                      # doctest: +SKIP
    (array([3, 4, 5]), 25.0)
    """

    PENDING, OK, FAILED = schema.PENDING, schema.OK, schema.FAILED
    STATUS_NAMES = schema.STATUS_NAMES

    def __init__(self, ds: xr.Dataset, location: Location):
        self.location = location
        self._ds = ds
        self.attrs: dict[str, Any] = dict(ds.attrs)
        self.video_ids = np.asarray([str(v) for v in ds["video_id"].values.tolist()], dtype=str) \
            if "video_id" in ds.variables else np.zeros(0, dtype=str)
        self.splits = np.asarray([str(v) for v in ds["split"].values.tolist()], dtype=str) \
            if "split" in ds.variables else np.zeros(0, dtype=str)
        n = int(ds.sizes.get("video", 0))

        def ints(name: str, default: int) -> np.ndarray:
            if name in ds.variables:
                return np.asarray(ds[name].values).astype(np.int64)
            return np.full(n, default, dtype=np.int64)

        self.labels = ints("label", -1)
        self.status = ints("status", schema.PENDING)
        self.n_frames = ints("n_frames", 0)
        self.fps = float(self.attrs.get("fps", schema.DEFAULT_FPS))
        self.sizes: dict[str, int] = {str(k): int(v) for k, v in ds.sizes.items()}
        self.frame_variables: tuple[str, ...] = tuple(
            name for name, v in ds.data_vars.items() if tuple(v.dims[:2]) == ("video", "frame"))
        self.feature_dims: dict[str, int] = {
            name: (int(ds[name].shape[2]) if ds[name].ndim == 3 else 1)
            for name in self.frame_variables}
        self.encoders: dict[str, Any] = {k: self.attrs[k] for k in _PROVENANCE_KEYS
                                         if k in self.attrs}
        self._index: dict[str, int] | None = None
        self._arrays: dict[str, Any] = {}
        self._filesystem: Any = None  # the fsspec file system of a remote store (see close)

    def close(self) -> None:
        """Close the HTTP session of a remote store this handle opened (a local store holds
        nothing open); reads through this handle fail afterwards. Done anyway when the handle is
        collected or the process ends; closing early keeps a forked child (a DataLoader worker)
        from inheriting an open session.

        >>> store = Store.open("https://example.org/lavdf.zarr")      # doctest: +SKIP
        >>> ids = store.video_ids; store.close()                      # doctest: +SKIP
        """
        if self._filesystem is not None:
            _close_session(self._filesystem)

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls,
        source: str | os.PathLike | Any,
        storage_options: Mapping[str, Any] | None = None,
        *,
        warn_incomplete: bool = False,
    ) -> Store:
        """Open a store from a local path, a URL (``file://``, ``http(s)://``, ``s3://``,
        ``gs://``, ``hf://``, anything fsspec reaches; credentials in ``storage_options``), a
        zarr ``Group`` or a zarr store. Opening never writes.

        Raises ``FileNotFoundError`` (nothing there), :class:`StoreError` (not a voca store, or a
        newer schema).

        >>> Store.open("hf://datasets/me/lavdf-clip/lavdf.zarr")      # doctest: +SKIP
        """
        if isinstance(source, Store):
            return source
        if isinstance(source, xr.Dataset):
            src = source.attrs.get("source")
            if not src:
                raise StoreError("this Dataset has no 'source' attribute: open it with voca_data.open")
            return cls.open(src, storage_options or source.attrs.get("_storage_options"))
        if isinstance(source, (str, os.PathLike)):
            location = Location.parse(source, storage_options)
            try:
                ds, filesystem = _open_location(location)
            except (StoreError, FileNotFoundError):
                raise
            except PermissionError as exc:
                raise StoreError(
                    f"{location.url}: cannot read the store ({exc}); check its permissions") from exc
            except Exception as exc:  # zarr/h5/fsspec errors come in many types
                raise StoreError(
                    f"{location.url}: cannot be opened as a voca store "
                    f"({type(exc).__name__}: {exc})") from exc
        else:  # a zarr Group or a zarr store
            import zarr

            if isinstance(source, zarr.Group):
                zstore, group, where = source.store, source.path or None, f"{source.store}"
            else:
                zstore, group, where = source, None, f"{source}"
            try:
                ds = _open_zarr(zstore, where, group=group)
            except Exception as exc:
                raise StoreError(f"{where}: cannot be opened as a voca store "
                                 f"({type(exc).__name__}: {exc})") from exc
            root = getattr(zstore, "root", None)
            url = str(root) if root is not None and not group else where
            location = Location(url, {}, "zarr")
            filesystem = None  # the caller's store: the caller's to close
        ds = _prepare(ds, location.url)
        store = cls(ds, location)
        store._filesystem = filesystem
        if warn_incomplete:
            store.warn_if_incomplete(stacklevel=3)
        return store

    def warn_if_incomplete(self, stacklevel: int = 2) -> None:
        """Warn (:class:`IncompleteStoreWarning`) when videos are pending or failed, or the store
        is not finalized, saying exactly which and what to do."""
        pending = int((self.status == schema.PENDING).sum())
        failed = int((self.status == schema.FAILED).sum())
        if pending or failed or not self.complete:
            warnings.warn(_incomplete_message(self.location.url, pending, failed,
                                              int(self.status.size), self.complete),
                          IncompleteStoreWarning, stacklevel=stacklevel + 1)

    # ------------------------------------------------------------------ metadata
    @property
    def url(self) -> str:
        return self.location.url

    @property
    def complete(self) -> bool:
        return bool(self.attrs.get("complete", False))

    @property
    def n_videos(self) -> int:
        return int(self.status.size)

    @property
    def split_names(self) -> list[str]:
        """The store's split names, sorted."""
        return sorted(set(self.splits.tolist()))

    @property
    def stats(self) -> dict[str, np.ndarray]:
        """Train-split statistics written by finalize (``visual_mean`` ...), float32."""
        return {n: np.asarray(self._ds[n].values, dtype=np.float32)
                for n in schema.STAT_VARIABLES if n in self._ds.variables}

    def index_of(self, video_id: str) -> int:
        """Store index of ``video_id`` (``KeyError`` naming the store if absent)."""
        if self._index is None:
            self._index = {v: i for i, v in enumerate(self.video_ids.tolist())}
        try:
            return self._index[video_id]
        except KeyError:
            raise KeyError(f"{self.url} has no video {video_id!r}") from None

    def resolve_split(self, role: str, name: str | None = None) -> str | None:
        """The split to use for ``role`` (train/dev/test): ``name`` if given (checked), else the
        first alias present in the store (``train``/``trainset``, ``dev``/``val``/``valset``,
        ``test``/``testset``); ``None`` when the store has none.

        >>> Store.open("ffdv.zarr").resolve_split("dev")              # doctest: +SKIP
        'valset'
        """
        return resolve_split(self.split_names, role, name, where=self.url)

    def select(self, split: str | Sequence[str] | None = None) -> np.ndarray:
        """Boolean mask of videos in ``split`` (a name, a list of names, or ``None``: all);
        unknown names are an error listing the store's splits."""
        chosen = np.ones(self.status.shape, dtype=bool)
        if split is None:
            return chosen
        wanted = [split] if isinstance(split, str) else list(split)
        unknown = sorted(set(wanted) - set(self.split_names))
        if unknown:
            raise ValueError(f"{self.url} has no split {unknown}; its splits are {self.split_names}")
        return np.isin(self.splits, wanted)

    def usable(self, split: str | Sequence[str] | None = None) -> np.ndarray:
        """Store indices of ok videos with frames in ``split``."""
        return np.flatnonzero(self.select(split) & (self.status == schema.OK) & (self.n_frames > 0))

    def counts(self, split: str | Sequence[str] | None = None) -> dict[str, int]:
        """Videos per status name in ``split``."""
        sel = self.select(split)
        return {name: int((sel & (self.status == code)).sum())
                for code, name in schema.STATUS_NAMES.items()}

    def failed(self, split: str | None = None) -> list[tuple[str, str]]:
        """``(video_id, error)`` of the failed videos (of ``split``)."""
        idx = np.flatnonzero(self.select(split) & (self.status == schema.FAILED))
        errors = self._ds["error"].values if "error" in self._ds.variables else None
        return [(str(self.video_ids[i]), str(errors[i]) if errors is not None else "")
                for i in idx.tolist()]

    # ------------------------------------------------------------------ views and reads
    @property
    def dataset(self) -> xr.Dataset:
        """The lazy ``xarray.Dataset`` view (what :func:`voca_data.open` returns)."""
        return self._ds

    def to_xarray(self, chunks: Mapping[str, int] | str | None = None) -> xr.Dataset:
        """The xarray view; ``chunks="shard"`` (one dask chunk per shard) or a dict of dask
        chunks for out-of-core work."""
        if chunks is None:
            return self._ds
        block = int(self.attrs.get("block_size", schema.DEFAULT_BLOCK_SIZE))
        spec = {"video": block, "frame": -1} if chunks == "shard" else dict(chunks)
        ds = self._ds.copy()
        for name in self.frame_variables:
            ds[name] = ds[name].chunk({k: v for k, v in spec.items() if k in ds[name].dims})
        return ds

    def video(self, video: int | str, trim: bool = True) -> xr.Dataset:
        """One video as a Dataset (per-frame variables cut to its ``n_frames`` with ``trim``).

        >>> store.video("test/000001").visual.shape                    # doctest: +SKIP
        (312, 512)
        """
        i = self.index_of(video) if isinstance(video, str) else int(video)
        one = self._ds.isel(video=i)
        if trim:
            one = one.isel(frame=slice(0, int(self.n_frames[i])))
        return one

    def _array(self, name: str) -> Any:
        arr = self._arrays.get(name)
        if arr is None:
            import zarr

            if name not in self._ds.variables:
                raise KeyError(f"{self.url} has no variable {name!r}")
            arr = zarr.open_array(self.location.zarr_store(), path=name, mode="r", zarr_format=3)
            self._arrays[name] = arr
        return arr

    def read(self, video: int | str, names: Sequence[str] | None = None, start: int = 0,
             stop: int | None = None) -> dict[str, np.ndarray]:
        """Frames ``start:stop`` (default: the whole video) of per-frame variables ``names``
        (default: all) of one video, as numpy arrays in the stored dtypes. A failed read raises
        :class:`StoreReadError` naming the store, array, video and chunk.

        >>> store.read("test/000001", ["visual", "frame_label"])["visual"].dtype   # doctest: +SKIP
        dtype('float16')
        """
        i = self.index_of(video) if isinstance(video, str) else int(video)
        stop = int(self.n_frames[i]) if stop is None else int(stop)
        names = list(self.frame_variables if names is None else names)
        if self.location.format == "hdf5":
            return {n: np.asarray(self._ds[n].isel(video=i, frame=slice(start, stop)).values)
                    for n in names}
        import asyncio

        from zarr.core.sync import sync

        arrays = [self._array(n) for n in names]
        sel = (i, slice(int(start), stop))

        async def gather() -> list[Any]:
            return await asyncio.gather(*(a.async_array.getitem(sel) for a in arrays),
                                        return_exceptions=True)

        try:
            values = sync(gather(), timeout=READ_TIMEOUT_S)
        except TimeoutError as exc:
            raise read_error(self.url, names[0], arrays[0], i, start, stop, exc) from exc
        out = {}
        for name, arr, value in zip(names, arrays, values):
            if isinstance(value, BaseException):
                raise read_error(self.url, name, arr, i, start, stop, value) from value
            out[name] = np.asarray(value)
        return out

    def summary(self) -> dict[str, Any]:
        """What ``voca info`` shows, as plain JSON-able data: counts per status and per
        split x label x status, frames, dimensions, encoders, statistics, history, size.

        >>> Store.open("lavdf.zarr").summary()["counts"]               # doctest: +SKIP
        {'pending': 0, 'ok': 1200, 'failed': 3}
        """
        ok = self.status == schema.OK
        dataset = self.attrs.get("dataset")
        stats = [n for n in schema.STAT_VARIABLES if n in self._ds.variables]
        table = []
        for split in dict.fromkeys(self.splits.tolist()):
            in_split = self.splits == split
            for lab in (1, 0, -1):
                sel = in_split & (self.labels == lab)
                if not sel.any():
                    continue
                table.append({
                    "split": split, "label": _LABEL_NAMES[lab],
                    **{name: int((sel & (self.status == code)).sum())
                       for code, name in schema.STATUS_NAMES.items()},
                    "total": int(sel.sum()), "frames_ok": int(self.n_frames[sel & ok].sum()),
                })
        return {
            "store": self.url,
            "format": "HDF5" if self.location.format == "hdf5" else "Zarr",
            "remote": self.location.is_remote,
            "bytes": size_of(self.location),
            "voca_schema": self.attrs.get("voca_schema"),
            "voca_version": self.attrs.get("voca_version"),
            "created": self.attrs.get("created"),
            "complete": self.complete,
            "videos": self.n_videos,
            "counts": self.counts(),
            "dataset": dataset.get("name") if isinstance(dataset, dict) else dataset,
            "frames_ok": int(self.n_frames[ok].sum()),
            "frames_min": int(self.n_frames[ok].min()) if ok.any() else 0,
            "frames_max": int(self.n_frames[ok].max()) if ok.any() else 0,
            "frame_extent": self.sizes.get("frame", 0),
            "fps": self.attrs.get("fps"),
            "dims": {k: self.sizes.get(k, 0) for k in ("visual_dim", "audio_dim", "segment")},
            "block_size": self.attrs.get("block_size"),
            "encoders": self.encoders,
            "statistics_split": (self._ds[stats[0]].attrs.get("split", "?") if stats else None),
            "splits": table,
            "failed": [{"video_id": vid, "error": why or "(no reason recorded)"}
                       for vid, why in self.failed()],
            "history": [dict(h) for h in (self.attrs.get("history") or []) if isinstance(h, dict)],
        }

    def __repr__(self) -> str:
        return (f"Store({self.url!r}, {self.n_videos} videos, splits {self.split_names}, "
                f"{'complete' if self.complete else 'incomplete'})")


def resolve_split(names: Sequence[str], role: str, name: str | None = None,
                  where: str = "the store") -> str | None:
    """The split of ``names`` to use for ``role`` (train/dev/test): ``name`` if given (or, for a
    role name given as the split, e.g. ``dev`` on a store with ``valset``, its first alias
    present), else the first alias of ``role`` present; ``None`` when there is none.

    >>> resolve_split(["trainset", "valset"], "dev")
    'valset'
    """
    if name:
        if name in names:
            return name
        for alias in SPLIT_ALIASES.get(name, ()):
            if alias in names:
                return alias
        raise ValueError(f"{where}: no split {name!r} for {role}; the store's splits are "
                         f"{sorted(names)}")
    return next((a for a in SPLIT_ALIASES.get(role, (role,)) if a in names), None)


def _incomplete_message(where: str, pending: int, failed: int, total: int, complete: bool) -> str:
    """What :class:`IncompleteStoreWarning` says: exactly which videos lack features and what to
    do about it (never "complete" and "incomplete" at once)."""
    parts = []
    if pending:
        parts.append(f"{pending} of {total} videos are still pending (not extracted yet: run the "
                     "same `voca extract` command again to resume)")
    if failed:
        parts.append(f"{failed} of {total} videos failed extraction and have no features "
                     "(their `error` variable says why; `voca extract --retry-failed` redoes them)")
    if not complete:
        parts.append("the store is not finalized (no train statistics or AV synchrony yet: "
                     f"`voca finalize {where}`)" if not pending else "the store is not finalized")
    return f"{where}: " + "; ".join(parts)


def read_error(url: str, name: str, arr: Any, video: int, start: int, stop: int,
               exc: BaseException) -> StoreReadError:
    """A :class:`StoreReadError` naming the store, array, video, frames and chunk key."""
    key = "?"
    try:
        shards = getattr(arr, "shards", None) or arr.chunks
        coords = [video // shards[0], start // shards[1]] + [0] * (len(shards) - 2)
        key = f"{name}/c/" + "/".join(map(str, coords))
    except Exception as key_exc:  # noqa: BLE001 - the key is a hint, the error is what matters
        log.debug("no chunk key for %s: %s", name, key_exc)
    return StoreReadError(
        f"{url}: reading {name!r} of video {video} frames {start}:{stop} (chunk {key}) failed: "
        f"{type(exc).__name__}: {exc}. Check that the store is reachable and intact "
        f"(`voca check {url}`)")


def size_of(location: Location) -> int | None:
    """Bytes of a store (``None`` when the file system cannot tell)."""
    if not location.is_remote:
        path = Path(location.url)
        if path.is_file():
            return path.stat().st_size
        total = 0
        for dirpath, _, files in os.walk(path):
            for name in files:
                try:
                    total += os.stat(os.path.join(dirpath, name)).st_size
                except OSError:
                    continue
        return total
    try:
        import fsspec

        fs, root = fsspec.core.url_to_fs(location.url, **dict(location.storage_options))
        return int(fs.du(root))
    except Exception:  # noqa: BLE001 - http has no listing: size unknown
        return None


def _prepare(ds: xr.Dataset, where: str) -> xr.Dataset:
    """Schema check, per-video variables loaded, indexes on ``video_id`` and ``split``."""
    version = ds.attrs.get("voca_schema")
    if version is None:
        raise StoreError(f"{where} has no 'voca_schema' attribute: not a voca store")
    if int(version) > schema.SCHEMA_VERSION:
        raise StoreError(
            f"{where} uses voca store schema {version}, newer than the {schema.SCHEMA_VERSION} this "
            "version of voca reads: upgrade voca")
    # `status` first: a block task writes it last, so every video read as ok here has all its
    # other variables already written, even while other processes are writing
    small = sorted((n for n, v in ds.variables.items() if "frame" not in v.dims),
                   key=lambda n: n != "status")
    loaded = _load_small(ds, small)
    for name in small:
        ds[name] = loaded[name]
    ds = ds.set_coords([n for n in ("video_id", "split") if n in ds.variables])
    for name in ("video_id", "split"):
        if name in ds.coords:
            var = ds.variables[name]
            ds = ds.assign_coords(_index_coords(var, name))
            ds.variables[name].attrs.update(var.attrs)
            ds.variables[name].encoding.update(var.encoding)
    ds.attrs["source"] = where
    return ds


def _index_coords(var: xr.Variable, name: str) -> xr.Coordinates:
    """The indexed coordinate ``name`` along ``video``, what ``ds.set_xindex(name)`` builds, made
    from a ready ``pandas.Index``: xarray's own cast of the values to an index checks for dask
    arrays, which imports dask (~0.5 s of a first ``open``) for plain numpy data."""
    import pandas as pd
    from xarray.indexes import PandasIndex

    index = pd.Index(np.asarray(var.values), name=name)
    return xr.Coordinates.from_xindex(PandasIndex(index, var.dims[0], coord_dtype=var.dtype))


def _load_small(ds: xr.Dataset, names: Sequence[str]) -> dict[str, xr.Variable]:
    """Load the small (per-video) variables; ``status`` strictly first, the rest concurrently
    (one trip through zarr's event loop for a Zarr store: matters over HTTP)."""
    out: dict[str, xr.Variable] = {}
    if not names:
        return out
    first, rest = names[0], list(names[1:])
    out[first] = ds.variables[first].load()
    arrays = {}
    for name in rest:
        arr = _zarr_array_of(ds.variables[name])
        if arr is None:
            arrays = {}
            break
        arrays[name] = arr
    if arrays:
        import asyncio

        from zarr.core.sync import sync

        async def gather() -> list[Any]:
            return await asyncio.gather(*(a._async_array.getitem(...) for a in arrays.values()))

        for name, value in zip(arrays, sync(gather())):
            var = ds.variables[name]
            # fastpath: the data is a plain numpy array (the slow path imports dask, ~1 s)
            out[name] = xr.Variable(var.dims, np.asarray(value), var.attrs, var.encoding,
                                    fastpath=True)
        return out
    for name in rest:
        out[name] = ds.variables[name].load()
    return out


def _zarr_array_of(var: xr.Variable) -> Any:
    """The zarr array behind a lazily indexed, unsliced xarray variable (``None`` otherwise)."""
    data, key = var._data, None
    for _ in range(8):
        if type(data).__name__ == "ZarrArrayWrapper":
            full = key is None or all(k == slice(None) for k in key.tuple)
            return getattr(data, "_array", None) if full else None
        key = getattr(data, "key", key)
        data = getattr(data, "array", None)
        if data is None:
            return None
    return None
