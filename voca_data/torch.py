"""PyTorch access to a store: windows of per-frame features as tensors, fork-safe.

:class:`VideoDataset` cuts each ok video of the chosen split(s) into windows of ``window`` frames
(``stride`` apart, default ``stride = window``; the last window of a video is padded), or yields
whole videos (``window=None``). Items are dicts of tensors; :func:`collate` stacks them, padding
whole videos to the longest in the batch; :func:`balanced_sampler` draws classes equally often.

The dataset object holds only small per-video metadata (read once through the
:class:`voca_data.Store` handle in ``__init__``) and the store's picklable
:class:`~voca_data.store.handle.Location` (a path or a URL), never an open store: each process
(every ``DataLoader`` worker) opens the per-frame arrays itself, lazily, on its first item,
without dask, through a fast read engine
(tensorstore's ``zarr3`` driver, zarr-python with the ``zarrs`` codec pipeline, or plain
zarr-python; ``engine="auto"`` takes the fastest installed one, ranked by ``benchmarks/loader.py``).

Example
-------
>>> from torch.utils.data import DataLoader
>>> from voca_data.torch import VideoDataset, collate, balanced_sampler
>>> train = VideoDataset("lavdf.zarr", split="train", window=512, random_crop=True)  # doctest: +SKIP
>>> loader = DataLoader(train, batch_size=16, num_workers=2, collate_fn=collate,
...                     sampler=balanced_sampler(train))                          # doctest: +SKIP
>>> batch = next(iter(loader))                                                    # doctest: +SKIP
>>> batch["visual"].shape, batch["mask"].shape                                    # doctest: +SKIP
(torch.Size([16, 512, 512]), torch.Size([16, 512]))
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import zarr
from torch.utils.data import Dataset, WeightedRandomSampler

from . import batch_memory
from .batch_memory import Slot
from .store import schema
from .store.handle import READ_TIMEOUT_S, Location, Store, StoreReadError, read_error

log = logging.getLogger(__name__)

__all__ = [
    "ENGINES",
    "PER_VIDEO_KEYS",
    "VideoDataset",
    "available_engines",
    "balanced_sampler",
    "collate",
]

#: Read engines, fastest first as measured by ``benchmarks/loader.py`` (docs/benchmarks.md):
#: ``engine="auto"`` takes the first one that is installed.
ENGINES = ("tensorstore", "zarrs", "zarr")

#: Keys of an item that are one number per item (everything else is per frame).
PER_VIDEO_KEYS = ("label", "video", "start", "length")

# padding values used by ``collate`` for per-frame keys (default 0)
_PAD = {"frame_label": -1, "mask": False, "valid": False}

# features normalised with the store's train-split statistics
_STAT_FEATURES = ("visual", "audio")


def available_engines() -> list[str]:
    """The read engines installed here, fastest first (see :data:`ENGINES`)."""
    found = []
    for name in ENGINES:
        module = {"tensorstore": "tensorstore", "zarrs": "zarrs", "zarr": "zarr"}[name]
        if importlib.util.find_spec(module) is not None:
            found.append(name)
    return found


# --------------------------------------------------------------------------------------- engines
class _ZarrReader:
    """zarr-python (local files or any fsspec URL), optionally with the zarrs (Rust) codec
    pipeline; all arrays of one item are read concurrently in one trip through zarr's event loop."""

    def __init__(self, location: Location, names: Sequence[str], zarrs: bool = False):
        config = {"codec_pipeline.path": "zarrs.ZarrsCodecPipeline"} if zarrs else {}
        store = location.zarr_store()
        self.url = location.url
        # the codec pipeline is bound when an array is opened: no global setting is left behind
        with zarr.config.set(config):
            self.arrays = {
                n: zarr.open_array(store, path=n, mode="r", zarr_format=3) for n in names
            }

    def read(self, video: int, start: int, stop: int) -> dict[str, np.ndarray]:
        return self.read_batch([(video, start, stop)])[0]

    def read_batch(self, plans: Sequence[tuple[int, int, int]]) -> list[dict[str, np.ndarray]]:
        """``(video, start, stop)`` of each item -> its arrays; every read of the batch is issued
        at once (one trip through zarr's event loop)."""
        from zarr.core.sync import sync

        names = list(self.arrays)

        async def gather() -> list[Any]:
            return await asyncio.gather(
                *(
                    self.arrays[n].async_array.getitem((v, slice(s, e)))
                    for v, s, e in plans
                    for n in names
                ),
                return_exceptions=True,
            )

        try:
            values = sync(gather(), timeout=READ_TIMEOUT_S)
        except TimeoutError as exc:
            (video, start, stop), name = plans[0], names[0]
            raise read_error(self.url, name, self.arrays[name], video, start, stop, exc) from exc
        out, it = [], iter(values)
        for video, start, stop in plans:
            item = {}
            for name in names:
                value = next(it)
                if isinstance(value, BaseException):
                    raise read_error(
                        self.url, name, self.arrays[name], video, start, stop, value
                    ) from value
                item[name] = np.asarray(value)
            out.append(item)
        return out


#: retries of one remote request by tensorstore before the read fails (then StoreReadError)
_TS_RETRIES = {"max_retries": 3, "initial_delay": "0.1s", "max_delay": "1s"}


class _TensorstoreReader:
    """tensorstore's ``zarr3`` driver (file, http, gcs, s3 kvstores): reads of one item are issued
    together, then awaited."""

    def __init__(self, location: Location, names: Sequence[str], cache_bytes: int = 16 << 20):
        import tensorstore as ts

        self.url = location.url
        context = ts.Context(
            {
                "cache_pool": {"total_bytes_limit": int(cache_bytes)},  # keeps shard indexes
                "data_copy_concurrency": {"limit": 1},  # DataLoader workers are the parallelism
                # a server that is gone is an error after a few quick retries, never a hang
                **{
                    f"{kind}_request_retries": dict(_TS_RETRIES)
                    for kind in ("http", "s3", "gcs")
                },
            }
        )
        self.arrays = {}
        for n in names:
            kvstore = location.tensorstore_kvstore(n)
            if kvstore is None:
                raise ValueError(f"{location.url}: tensorstore has no driver for this location")
            self.arrays[n] = ts.open(
                {
                    "driver": "zarr3",
                    "kvstore": kvstore,
                    "recheck_cached_data": False,
                    "recheck_cached_metadata": False,
                },
                read=True,
                context=context,
            ).result()

    def read(self, video: int, start: int, stop: int) -> dict[str, np.ndarray]:
        return self.read_batch([(video, start, stop)])[0]

    def read_batch(self, plans: Sequence[tuple[int, int, int]]) -> list[dict[str, np.ndarray]]:
        """``(video, start, stop)`` of each item -> its arrays. The reads of a whole batch go out
        as one ``ts.Batch``: reads that fall in the same shard share one shard-index lookup and
        adjacent byte ranges are coalesced (fewer requests over HTTP/S3/GCS)."""
        import tensorstore as ts

        with ts.Batch() as batch:
            futures = [
                {n: a[video, start:stop].read(batch=batch) for n, a in self.arrays.items()}
                for video, start, stop in plans
            ]
        out = []
        for (video, start, stop), item in zip(plans, futures):
            values = {}
            for n, f in item.items():
                try:
                    values[n] = np.asarray(f.result(timeout=READ_TIMEOUT_S))
                except Exception as exc:  # tensorstore raises ValueError/OSError-like errors
                    shards = self.arrays[n].chunk_layout.write_chunk.shape
                    raise StoreReadError(
                        f"{self.url}: reading {n!r} of video {video} frames {start}:{stop} (chunk "
                        f"{n}/c/{video // shards[0]}/{start // shards[1]}"
                        f"{'/0' * (len(shards) - 2)}) failed: {exc}. Check that the store is "
                        f"reachable and intact (`voca check {self.url}`)"
                    ) from exc
            out.append(values)
        return out


class _H5Reader:
    """h5py on an HDF5 store (``voca convert``), opened in the reading process."""

    def __init__(self, location: Location, names: Sequence[str]):
        import h5py

        self.url = location.url
        if location.is_remote:
            import fsspec

            self._file = h5py.File(
                fsspec.open(location.url, mode="rb", **dict(location.storage_options)).open(), "r"
            )
        else:
            self._file = h5py.File(location.url, "r")
        self.arrays = {n: self._file[n] for n in names}

    def read(self, video: int, start: int, stop: int) -> dict[str, np.ndarray]:
        out = {}
        for n, a in self.arrays.items():
            try:
                out[n] = np.asarray(a[video, start:stop])
            except Exception as exc:  # noqa: BLE001 - h5py raises OSError/ValueError
                raise StoreReadError(
                    f"{self.url}: reading {n!r} of video {video} frames {start}:{stop} failed: {exc}"
                ) from exc
        return out

    def read_batch(self, plans: Sequence[tuple[int, int, int]]) -> list[dict[str, np.ndarray]]:
        return [self.read(video, start, stop) for video, start, stop in plans]


# tensorstore and zarrs run their own native thread pools, which do not survive a fork: a forked
# child that reads with the engine its parent already used aborts (tensorstore: "fork() use
# detected") or hangs (zarrs). Remember the process in which this module first used each of them,
# and never use it in a process forked from that one. A per-process fact, not configuration.
_POOL_ENGINE_OWNER: dict[str, int] = {}


def _usable(engine: str) -> bool:
    owner = _POOL_ENGINE_OWNER.get(engine)
    return owner is None or owner == os.getpid()


def _resolve_engine(engine: str) -> str:
    """The engine this process reads with.

    ``auto``: inside a DataLoader worker the fastest installed engine; in any other process (which
    may fork workers later) the second fastest, so that its workers can still use the fastest. An
    engine the parent process already used is replaced by the next fastest usable one (explicit
    engines with a warning); zarr-python is always usable."""
    in_worker = torch.utils.data.get_worker_info() is not None
    ranked = available_engines()
    if engine == "auto":
        candidates = ranked if in_worker or len(ranked) == 1 else ranked[1:]
    else:
        candidates = [engine, *(e for e in ranked if e != engine)]
    chosen = next(e for e in candidates if _usable(e))
    if engine != "auto" and chosen != engine:
        log.warning(
            "process %d was forked from process %d, which already read with %s: its thread pool "
            "does not survive a fork, so this process reads with %s instead (same values). Read "
            "with engine='auto' (main process and workers then use different engines) or use a "
            "'spawn' DataLoader multiprocessing_context",
            os.getpid(),
            _POOL_ENGINE_OWNER[engine],
            engine,
            chosen,
        )
    if chosen != "zarr":
        _POOL_ENGINE_OWNER.setdefault(chosen, os.getpid())
    return chosen


def _open_reader(engine: str, location: Location, names: Sequence[str]) -> Any:
    if location.format == "hdf5":
        return _H5Reader(location, names)
    if engine == "tensorstore":
        return _TensorstoreReader(location, names)
    if engine == "zarrs":
        return _ZarrReader(location, names, zarrs=True)
    if engine == "zarr":
        return _ZarrReader(location, names, zarrs=False)
    raise ValueError(f"unknown engine {engine!r}: expected one of {('auto', *ENGINES)}")


# --------------------------------------------------------------------------------------- dataset
class VideoDataset(Dataset):
    """Windows (or whole videos) of a store's per-frame features, as dicts of tensors.

    Parameters
    ----------
    store:
        A store's path (Zarr directory or HDF5 file), its URL (``http(s)://``, ``s3://``,
        ``gs://``, ``hf://``, ...; credentials in ``storage_options``), a :class:`voca_data.Store`,
        or an ``xarray.Dataset`` from ``voca_data.open`` (its source is used). Each DataLoader
        worker reopens the store itself.
    split:
        A split name (``"train"``), a list of names, or ``None`` for every split.
    window:
        Frames per item. Videos longer than ``window`` give several items, shorter ones are padded
        (``mask`` false). ``None``: one item per whole video (``collate`` pads to the batch max).
    stride:
        Distance between window starts (default ``window``: every frame in exactly one window).
        With ``stride < window`` windows overlap; the last window of a video always reaches its
        last frame.
    features:
        Per-frame variables to return, each as a float32 ``(length, dim)`` tensor (``dim`` 1 for
        per-frame scalars such as ``av_similarity``): ``visual``, ``audio``, and any other
        per-frame variable of the store (``av_similarity``, ``visual_similarity``, ``face_score``,
        ``face_box``, ...). ``frame_label`` is always returned.
    normalize:
        ``True``: standardise ``visual``/``audio`` with the store's train-split statistics
        (``visual_mean``, ``visual_std``, ... written by ``finalize``; a store without them is an
        error). ``False``: raw values. A mapping ``{"visual_mean": ..., "visual_std": ..., ...}``:
        these statistics instead (e.g. those a model was trained with, from ``dataset.stats``).
        Features without statistics (similarities, scores) are never rescaled.
    random_crop:
        Training mode: each item takes a window at a random offset inside its video (drawn with
        torch's RNG, so ``torch.manual_seed`` / the DataLoader's ``generator`` make it
        reproducible). The number of items stays ``ceil(n_frames / stride)`` per video.
        ``False`` (evaluation): deterministic windows at ``0, stride, 2*stride, ...``.
    max_videos:
        Keep only the first ``max_videos`` selected videos (store order), for quick runs.
    engine:
        ``"auto"`` (fastest installed, see :data:`ENGINES`), ``"tensorstore"``, ``"zarrs"`` or
        ``"zarr"``. All give identical tensors. A location tensorstore has no driver for (e.g.
        ``hf://``, S3 with keys in ``storage_options``) is read with zarr-python through fsspec;
        HDF5 stores with h5py.
    storage_options:
        fsspec options for a URL (credentials, endpoint), as in :func:`voca_data.open`.
    reuse_memory:
        In DataLoader workers, fill each batch into shared memory that the worker reuses once the
        main process has dropped every tensor of an earlier batch (:mod:`voca_data.batch_memory`;
        fresh shared memory costs more than the read itself). Batches you keep stay intact. Set
        ``False`` if the main process passes batch tensors on to other processes without cloning
        them.

    Items
    -----
    ``visual`` ``(window, visual_dim)`` float32, ``audio`` ``(window, audio_dim)`` float32, extra
    features likewise; ``frame_label`` ``(window,)`` int64 (1 fake, 0 real, -1 on padding and for
    unlabelled videos); ``mask`` ``(window,)`` bool, true on the video's frames; ``valid``
    ``(window,)`` bool, true where the frame exists **and** every requested feature is finite;
    ``label`` (video label: 1 fake, 0 real, -1 unknown), ``video`` (index into the store's
    ``video`` dimension), ``start`` (first frame of the window), ``length`` (frames of the video in
    this item): int64 scalars. NaN values (e.g. a video without an audio stream) become 0 after
    normalisation (the train mean, when normalised) and are flagged by ``valid``.

    Only videos with ``status`` ok and ``n_frames > 0`` are used; pending and failed ones are
    skipped (and counted in the log).

    Example
    -------
    >>> ds = VideoDataset("lavdf.zarr", split="test", window=None)          # doctest: +SKIP
    >>> item = ds[0]; item["visual"].shape == (item["length"], ds.feature_dims["visual"])  # doctest: +SKIP
    True
    """

    def __init__(
        self,
        store: str | Path | Store | Any,
        split: str | Sequence[str] | None = "train",
        window: int | None = 512,
        stride: int | None = None,
        features: Sequence[str] = ("visual", "audio"),
        normalize: bool | Mapping[str, Any] = True,
        random_crop: bool = False,
        max_videos: int | None = None,
        engine: str = "auto",
        storage_options: Mapping[str, Any] | None = None,
        reuse_memory: bool = True,
    ):
        handle = Store.open(store, storage_options)
        #: where the store lives (what each worker reopens); ``path``: its path or URL
        self.location: Location = handle.location
        self.path: Path | str = (
            handle.url if handle.location.is_remote else Path(handle.url)
        )
        if window is not None and int(window) < 1:
            raise ValueError(f"window must be a positive number of frames or None, got {window}")
        if stride is not None and int(stride) < 1:
            raise ValueError(f"stride must be a positive number of frames, got {stride}")
        if window is None and stride is not None:
            raise ValueError("stride has no meaning with window=None (whole videos)")
        self.window = None if window is None else int(window)
        self.stride = None if window is None else int(stride or window)
        self.features = tuple(features)
        if len(set(self.features)) != len(self.features):
            raise ValueError(f"features {self.features} name a variable twice")
        self.random_crop = bool(random_crop)
        self.reuse_memory = bool(reuse_memory)
        self.engine = self._check_engine(engine)
        #: the engine this process reads with (set on the first item read in each process)
        self.active_engine: str | None = None

        self.attrs: dict[str, Any] = dict(handle.attrs)
        self.feature_dims: dict[str, int] = {}
        for name in self.features:
            if name == "frame_label":
                raise ValueError("frame_label is always returned; do not list it in features")
            if name not in handle.dataset.variables:
                raise ValueError(
                    f"{self.path} has no variable {name!r}; per-frame variables: "
                    f"{sorted(handle.frame_variables)}"
                )
            if name not in handle.frame_variables or handle.dataset[name].ndim > 3:
                raise ValueError(
                    f"{name!r} in {self.path} is not a per-frame variable "
                    f"(dims {handle.dataset[name].dims})"
                )
            self.feature_dims[name] = handle.feature_dims[name]
        self.n_frames_max = int(handle.sizes["frame"])

        # per-video metadata: small, read once by the Store handle
        status, n_frames, splits = handle.status, handle.n_frames, handle.splits
        labels, ids = handle.labels, handle.video_ids
        chosen = np.ones(status.shape, dtype=bool)
        if split is not None:
            wanted = [split] if isinstance(split, str) else list(split)
            present = sorted(set(splits.tolist()))
            unknown = sorted(set(wanted) - set(present))
            if unknown:
                raise ValueError(f"{self.path} has no split {unknown}; its splits are {present}")
            chosen &= np.logical_or.reduce([splits == w for w in wanted])
        self.split = split
        usable = chosen & (status == schema.OK) & (n_frames > 0)
        skipped = {
            name: int((chosen & (status == code)).sum())
            for code, name in schema.STATUS_NAMES.items()
            if code != schema.OK
        }
        if any(skipped.values()):
            log.info(
                "%s: skipping %s videos of split %r",
                self.path,
                " and ".join(f"{v} {k}" for k, v in skipped.items() if v),
                split,
            )
        videos = np.flatnonzero(usable)
        if max_videos is not None:
            videos = videos[: int(max_videos)]
        if videos.size == 0:
            raise ValueError(f"{self.path}: no ok videos in split {split!r} ({skipped} skipped)")
        #: store indices of the selected videos, in store order
        self.videos = videos
        #: video ids, labels and frame counts of the selected videos
        self.video_ids: list[str] = ids[videos].tolist()
        self.labels = labels[videos]
        self.n_frames = n_frames[videos]
        self._store_ids = ids  # store index -> id, for id_of
        self._store_labels = labels

        self.stats = self._load_stats(handle, normalize)
        self._norm = {
            f: (
                self.stats[f"{f}_mean"].astype(np.float32),
                (1.0 / self._safe_std(self.stats[f"{f}_std"])).astype(np.float32),
            )
            for f in _STAT_FEATURES
            if self.stats is not None and f in self.features
        }

        # item index: (position in self.videos, window start)
        rows, starts = [], []
        for pos, n in enumerate(self.n_frames.tolist()):
            for s in self._window_starts(n):
                rows.append(pos)
                starts.append(s)
        self._item_video = np.asarray(rows, dtype=np.int64)
        self._item_start = np.asarray(starts, dtype=np.int64)
        self._reader: Any = None
        self._reader_pid: int | None = None
        if handle is not store:  # opened here: DataLoader workers must not inherit its session
            handle.close()

    # ------------------------------------------------------------------ construction helpers
    @staticmethod
    def _check_engine(engine: str) -> str:
        found = available_engines()
        if engine == "auto":
            return engine
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}: expected 'auto' or one of {ENGINES}")
        if engine not in found:
            raise ValueError(
                f"engine {engine!r} is not installed (pip install 'voca[fast]'); installed: {found}"
            )
        return engine

    @staticmethod
    def _safe_std(std: np.ndarray) -> np.ndarray:
        std = np.asarray(std, dtype=np.float64)
        return np.where(np.isfinite(std) & (std > 1e-8), std, 1.0)

    def _load_stats(
        self, handle: Store, normalize: bool | Mapping[str, Any]
    ) -> dict[str, np.ndarray] | None:
        wanted = [f for f in _STAT_FEATURES if f in self.features]
        if normalize is False or normalize is None:
            return None
        if normalize is True:
            stored = handle.stats
            missing = [
                f"{f}_{s}" for f in wanted for s in ("mean", "std") if f"{f}_{s}" not in stored
            ]
            if missing:
                raise ValueError(
                    f"{self.path} has no statistics {missing}: the store is not finalized. Run "
                    f"`voca finalize {self.path}` (or pass normalize=False for raw features)"
                )
            stats = {
                f"{f}_{s}": stored[f"{f}_{s}"]
                for f in wanted
                for s in ("mean", "std")
            }
            for name, value in stats.items():
                if not np.isfinite(value).all():
                    raise ValueError(
                        f"{self.path}: {name} has NaN (no valid train frames when it was finalized); "
                        "finalize with another stats split or pass normalize=False"
                    )
        else:
            missing = [
                f"{f}_{s}" for f in wanted for s in ("mean", "std") if f"{f}_{s}" not in normalize
            ]
            if missing:
                raise ValueError(f"normalize mapping lacks {missing}")
            stats = {
                f"{f}_{s}": np.asarray(normalize[f"{f}_{s}"], dtype=np.float32)
                for f in wanted
                for s in ("mean", "std")
            }
        for f in wanted:
            for s in ("mean", "std"):
                if stats[f"{f}_{s}"].shape != (self.feature_dims[f],):
                    raise ValueError(
                        f"{f}_{s} has shape {stats[f'{f}_{s}'].shape}, "
                        f"expected ({self.feature_dims[f]},) for {self.path}"
                    )
        return stats

    def _window_starts(self, n: int) -> list[int]:
        if self.window is None:
            return [0]
        starts, s = [], 0
        while True:
            starts.append(s)
            if s + self.window >= n:
                return starts
            s += self.stride
            if s >= n:
                return starts

    # ------------------------------------------------------------------ pickling / lazy open
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_reader"] = None
        state["_reader_pid"] = None
        state["active_engine"] = None
        state.pop("_norm_torch", None)
        return state

    def _get_reader(self) -> Any:
        pid = os.getpid()
        if self._reader is None or self._reader_pid != pid:
            if self.location.format == "hdf5":
                self.active_engine = "h5py"
            elif self.location.tensorstore_kvstore("frame_label") is None:
                # tensorstore has no driver for this location: zarr-python through fsspec
                self.active_engine = "zarrs" if self.engine == "zarrs" else "zarr"
            else:
                self.active_engine = _resolve_engine(self.engine)
            names = [*self.features, "frame_label"]
            try:
                self._reader = _open_reader(self.active_engine, self.location, names)
            except (StoreReadError, ValueError) as exc:
                if isinstance(exc, StoreReadError) or not self.location.is_remote:
                    raise
                raise StoreReadError(
                    f"{self.location.url}: opening arrays {names} with {self.active_engine} "
                    f"failed: {type(exc).__name__}: {exc}. Check that the store is reachable"
                ) from exc
            except OSError as exc:
                raise StoreReadError(
                    f"{self.location.url}: opening arrays {names} with {self.active_engine} "
                    f"failed: {type(exc).__name__}: {exc}. Check that the store is reachable"
                ) from exc
            self._reader_pid = pid
            log.debug("%s: opened with engine %s in process %d", self.path, self.active_engine, pid)
        return self._reader

    # ------------------------------------------------------------------ public API
    def __len__(self) -> int:
        return int(self._item_video.size)

    @property
    def windows(self) -> list[tuple[int, int, int]]:
        """``(video, start, length)`` of every item (deterministic starts), ``video`` being the
        store index: what is needed to put per-window outputs back on each video's timeline."""
        out = []
        for pos, start in zip(self._item_video.tolist(), self._item_start.tolist()):
            n = int(self.n_frames[pos])
            length = n - start if self.window is None else min(self.window, n - start)
            out.append((int(self.videos[pos]), int(start), int(length)))
        return out

    @property
    def item_labels(self) -> np.ndarray:
        """Video label of every item (what :func:`balanced_sampler` balances)."""
        return self.labels[self._item_video]

    def id_of(self, video: int) -> str:
        """The ``video_id`` of a store index (the ``video`` entry of an item)."""
        return str(self._store_ids[int(video)])

    def _plan(self, index: int) -> tuple[int, int, int]:
        """``(video, start, stop)`` of item ``index`` (a random start with ``random_crop``)."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"item {index} out of range for {len(self)} items")
        index = int(index) % len(self)
        pos = int(self._item_video[index])
        n = int(self.n_frames[pos])
        start = int(self._item_start[index])
        if self.window is not None and self.random_crop and n > self.window:
            start = int(torch.randint(0, n - self.window + 1, ()).item())
        stop = n if self.window is None else min(start + self.window, n)
        return int(self.videos[pos]), start, stop

    def _specs(self, shape: tuple[int, ...]) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        """Shape and dtype of each output tensor for ``shape`` = (items, frames)."""
        out = {name: ((*shape, dim), torch.float32) for name, dim in self.feature_dims.items()}
        out["frame_label"] = (shape, torch.int64)
        out["mask"] = (shape, torch.bool)
        out["valid"] = (shape, torch.bool)
        for key in PER_VIDEO_KEYS:
            out[key] = (shape[:1], torch.int64)
        return out

    def _buffers(
        self, shape: tuple[int, ...], shared: bool
    ) -> tuple[dict[str, torch.Tensor], Slot | None]:
        """Uninitialised output tensors for ``shape`` = (items, frames): private memory, or (in a
        DataLoader worker) shared memory, in a reused slot of :mod:`voca_data.batch_memory` when
        one is free, else fresh."""
        specs = self._specs(shape)
        if shared and self.reuse_memory:
            offsets, nbytes = batch_memory.layout(specs)
            memory = batch_memory.worker_memory()
            slot = None if memory is None else memory.take(nbytes)
            if slot is not None:
                return {
                    name: slot.tensor(dtype, shp, offsets[name])
                    for name, (shp, dtype) in specs.items()
                }, slot
        return {name: _empty(shp, dtype, shared) for name, (shp, dtype) in specs.items()}, None

    def _fill(
        self,
        out: Mapping[str, torch.Tensor],
        row: int,
        plan: tuple[int, int, int],
        data: Mapping[str, np.ndarray],
    ) -> None:
        """Put one item's arrays ``data`` (as read) into row ``row`` of the tensors ``out``:
        normalised float32 features, NaN to 0, padding 0 / -1 / false.

        Where torch runs single-threaded (every DataLoader worker) the arithmetic runs in torch:
        its fp16 -> float32 conversion is several times faster than numpy's cast. In a process
        with several torch threads (a main process reading without workers) it runs in numpy:
        torch's intra-op thread pool would split each small op across threads that spin while
        the reads wait, costing far more CPU than it saves. Both compute
        ``(float32(x) - mean) * (1 / std)``: the values are bit-identical."""
        if torch.get_num_threads() == 1:
            self._fill_torch(out, row, plan, data)
        else:
            self._fill_numpy({k: v.numpy() for k, v in out.items()}, row, plan, data)

    def _fill_torch(self, out: Mapping[str, torch.Tensor], row: int, plan: tuple[int, int, int],
                    data: Mapping[str, np.ndarray]) -> None:
        def convert(name: str, head: torch.Tensor, x: np.ndarray) -> None:
            head.copy_(torch.from_numpy(x))  # fp16 -> float32
            if name in self._norm_t:
                mean, inv_std = self._norm_t[name]
                head.sub_(mean).mul_(inv_std)

        self._fill_row(out, row, plan, data, convert, torch.isfinite, torch.where, torch.from_numpy)

    def _fill_numpy(self, out: Mapping[str, np.ndarray], row: int, plan: tuple[int, int, int],
                    data: Mapping[str, np.ndarray]) -> None:
        def convert(name: str, head: np.ndarray, x: np.ndarray) -> None:
            if name in self._norm:
                mean, inv_std = self._norm[name]
                np.subtract(x, mean, out=head, dtype=np.float32)  # fp16 -> float32 and centre
                head *= inv_std
            else:
                head[...] = x

        self._fill_row(out, row, plan, data, convert, np.isfinite, np.where, np.asarray)

    def _fill_row(self, out: Mapping[str, Any], row: int, plan: tuple[int, int, int],
                  data: Mapping[str, np.ndarray], convert: Any, isfinite: Any, where: Any,
                  as_array: Any) -> None:
        """Row ``row`` of ``out`` (torch tensors or numpy arrays alike; ``convert``, ``isfinite``,
        ``where`` and ``as_array`` are the library's): the features through ``convert``, a frame
        with any NaN/inf set to 0 and marked invalid, labels and mask, padding 0 / -1 / false."""
        _, start, stop = plan
        length = stop - start
        valid = out["valid"][row]
        valid[:length] = True
        valid[length:] = False
        for name in self.features:
            target = out[name][row]
            target[length:] = 0
            head = target[:length]
            convert(name, head, np.asarray(data[name]).reshape(length, -1))
            bad = ~isfinite(head.sum(1))  # a row with any NaN/inf sums to NaN/inf
            if bool(bad.any()):
                rows = head[bad]
                head[bad] = where(isfinite(rows), rows, 0.0)
                valid[:length] &= ~bad
        labels = out["frame_label"][row]
        labels[:length] = as_array(data["frame_label"])
        labels[length:] = -1
        mask = out["mask"][row]
        mask[:length] = True
        mask[length:] = False
        self._fill_scalars(out, row, plan)

    def _fill_scalars(self, out: Mapping[str, Any], row: int, plan: tuple[int, int, int]) -> None:
        video, start, stop = plan
        out["label"][row] = int(self._store_labels[video])
        out["video"][row] = video
        out["start"][row] = start
        out["length"][row] = stop - start

    @property
    def _norm_t(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``self._norm`` as torch tensors (views of the numpy arrays, made once per process)."""
        cached = self.__dict__.get("_norm_torch")
        if cached is None:
            cached = {
                f: (torch.from_numpy(m), torch.from_numpy(s)) for f, (m, s) in self._norm.items()
            }
            self.__dict__["_norm_torch"] = cached
        return cached

    def _size(self, plan: tuple[int, int, int]) -> int:
        return plan[2] - plan[1] if self.window is None else self.window

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        plan = self._plan(index)
        tensors, _ = self._buffers((1, self._size(plan)), shared=False)
        (data,) = self._get_reader().read_batch([plan])
        self._fill(tensors, 0, plan, data)
        return {k: v[0] for k, v in tensors.items()}

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, torch.Tensor]]:
        """A whole batch at once (the DataLoader calls this): the reads of every item are issued
        together, then the items are converted straight into the batch tensors (in shared memory
        inside a worker), which :func:`collate` then returns without copying. Another
        ``collate_fn`` gets the same items as views."""
        plans = [self._plan(i) for i in indices]
        longest = max((self._size(p) for p in plans), default=0)
        in_worker = torch.utils.data.get_worker_info() is not None
        data = self._get_reader().read_batch(plans) if plans else []
        tensors, slot = self._buffers((len(plans), longest), shared=in_worker)
        for row, (plan, values) in enumerate(zip(plans, data)):
            self._fill(tensors, row, plan, values)
        items = _Batched({k: v[row] for k, v in tensors.items()} for row in range(len(plans)))
        items.batch, items.slot = tensors, slot
        return items

    def __repr__(self) -> str:
        win = (
            "whole videos" if self.window is None else f"window={self.window}, stride={self.stride}"
        )
        return (
            f"VideoDataset({str(self.path)!r}, split={self.split!r}, {len(self.videos)} videos, "
            f"{len(self)} items, {win}, features={list(self.features)}, engine={self.engine!r}, "
            f"normalize={self.stats is not None}, random_crop={self.random_crop})"
        )


# --------------------------------------------------------------------------------------- batching
def _empty(shape: tuple[int, ...], dtype: torch.dtype, shared: bool) -> torch.Tensor:
    """An uninitialised tensor; in a DataLoader worker moved to shared memory before it is
    filled (public ``share_memory_()``: it copies the untouched pages once), so that sending the
    filled batch to the main process copies nothing."""
    out = torch.empty(shape, dtype=dtype)
    return out.share_memory_() if shared else out


class _Batched(list):
    """Items of one batch already stacked by :meth:`VideoDataset.__getitems__` (``.batch``)."""

    batch: dict[str, torch.Tensor]
    slot: Slot | None


def collate(batch: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack items into a batch; per-frame tensors of different lengths (``window=None``) are
    padded to the longest (0, ``frame_label`` -1, ``mask``/``valid`` false).

    >>> b = collate([ds[0], ds[1]])      # doctest: +SKIP
    >>> b["mask"].shape                  # doctest: +SKIP
    torch.Size([2, 512])
    """
    if not batch:
        raise ValueError("collate: empty batch")
    if isinstance(batch, _Batched):
        if batch.slot is None:
            return dict(batch.batch)
        out = batch_memory.SharedBatch(batch.batch)
        out.slot = batch.slot
        return out
    out: dict[str, torch.Tensor] = {}
    in_worker = torch.utils.data.get_worker_info() is not None
    for key in batch[0]:
        values = [item[key] for item in batch]
        if key in PER_VIDEO_KEYS or values[0].dim() == 0:
            out[key] = torch.stack(values)
            continue
        longest = max(v.shape[0] for v in values)
        shape = (len(values), longest, *values[0].shape[1:])
        padded = _empty(shape, values[0].dtype, shared=in_worker)
        for k, v in enumerate(values):
            padded[k, : v.shape[0]] = v
            if v.shape[0] < longest:
                padded[k, v.shape[0] :] = _PAD.get(key, 0)
        out[key] = padded
    return out


def balanced_sampler(
    dataset: VideoDataset,
    num_samples: int | None = None,
    generator: torch.Generator | None = None,
) -> WeightedRandomSampler:
    """A sampler that draws items of every video label (real, fake, unknown) equally often, with
    replacement; ``num_samples`` defaults to the dataset length (one "epoch").

    >>> sampler = balanced_sampler(train)                     # doctest: +SKIP
    >>> DataLoader(train, sampler=sampler, collate_fn=collate)  # doctest: +SKIP
    """
    labels = np.asarray(dataset.item_labels)
    classes, counts = np.unique(labels, return_counts=True)
    if classes.size < 2:
        warnings.warn(
            f"balanced_sampler: every item has label {classes.tolist()}: nothing to balance",
            stacklevel=2,
        )
    weight_of = {int(c): 1.0 / int(k) for c, k in zip(classes, counts)}
    weights = torch.tensor([weight_of[int(c)] for c in labels], dtype=torch.double)
    return WeightedRandomSampler(
        weights, num_samples=int(num_samples or len(labels)), replacement=True, generator=generator
    )
