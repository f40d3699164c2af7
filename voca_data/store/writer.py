"""Writing a store: ``init`` / ``write_block`` / ``finalize`` (like anemoi-datasets'
init / load / finalise).

* :func:`init` writes every per-video variable known from the manifest (ids, split, label, fake
  periods) with ``status = pending`` and creates the empty, sharded per-frame arrays.
* :meth:`StoreWriter.write_block` writes the whole shards of block ``i`` (videos
  ``[i*B, (i+1)*B)``), then that block's ``n_frames``/``duration``/``source_fps``/``error``/
  ``notes``/``has_audio`` chunks, and ``status`` last. Each block owns its own files, so any number of processes may write
  different blocks at once; every file write is atomic (temporary file + rename), so a process
  killed at any point leaves the block ``pending`` and a re-run rewrites it whole.
* :meth:`StoreWriter.finalize` computes per-feature mean/std over the train split only,
  consolidates the metadata and sets ``complete = true``.

Example
-------
>>> from voca_data.records import VideoRecord
>>> from voca_data.store.writer import init
>>> recs = [VideoRecord(f"train/{i}", f"train/{i}.mp4", "train", label=0) for i in range(3)]
>>> w = init(tmp_path / "s.zarr", recs, visual_dim=8, audio_dim=4, max_frames=50)  # doctest: +SKIP
>>> block = w.empty_block(0)                                                      # doctest: +SKIP
>>> block["n_frames"][:] = 50; block["status"][:] = 1                             # doctest: +SKIP
>>> w.write_block(0, block); w.finalize()                                         # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from . import schema
from ..provenance import command_line, history_entry, now, software_versions, voca_version
from ..records import MAX_VIDEO_SECONDS, VideoRecord, timeline_notes, video_frame_labels

log = logging.getLogger(__name__)

__all__ = ["StoreWriter", "init"]

_FRAME_ARRAY_CONFIG = {"write_empty_chunks": False}


def _compressor() -> Any:
    """Numeric arrays' bytes codecs: Blosc zstd, then a ``crc32c`` checksum of every chunk (a
    flipped bit is a read error, never a wrong value; shard indexes carry their own crc32c).

    Level 5 rather than 3: Blosc's blocks grow with the level, so on a 128-frame fp16 chunk the
    same encode time gives the same size and decodes 12-30 % faster (loader reads are mostly
    decompression; measured with numcodecs on random and NaN-padded chunks, 2026-11-30)."""
    return [zarr.codecs.BloscCodec(cname="zstd", clevel=5, shuffle="shuffle"), zarr.codecs.Crc32cCodec()]


def _string_compressor() -> Any:
    """String arrays' bytes codecs: zstd and a ``crc32c`` checksum."""
    return [zarr.codecs.ZstdCodec(level=0, checksum=False), zarr.codecs.Crc32cCodec()]


def _consolidate(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata")
        zarr.consolidate_metadata(str(path))


def _crash_window(stage: str, name: str) -> None:
    """A point between two steps of a multi-file update (tests inject crashes here)."""


def _chunk_key_encoding(array_dir: Path) -> str:
    import json

    meta = json.loads((array_dir / "zarr.json").read_text())
    return str((meta.get("chunk_key_encoding") or {}).get("name", "default"))


def _remove_stale_chunks(array_dir: Path) -> None:
    """Delete the chunk files of the layout ``zarr.json`` does not use (``c/...`` for the ``v2``
    key encoding, top-level ``0``, ``1`` ... for the ``default`` one)."""
    if _chunk_key_encoding(array_dir) == "v2":
        shutil.rmtree(array_dir / "c", ignore_errors=True)
    else:
        for f in array_dir.iterdir():
            if f.is_file() and f.name.split(".")[0].isdigit():
                f.unlink(missing_ok=True)


def _fill_for(var: schema.Variable) -> Any:
    return "" if var.is_string else var.fill


def init(
    path: str | Path,
    records: Sequence[VideoRecord],
    visual_dim: int,
    audio_dim: int,
    max_frames: int,
    max_segments: int | None = None,
    provenance: Mapping[str, Any] | None = None,
    block_size: int = schema.DEFAULT_BLOCK_SIZE,
    fps: float = schema.DEFAULT_FPS,
    audio_rate: int = schema.AUDIO_RATE,
    overwrite: bool = False,
) -> StoreWriter:
    """Create a store for ``records`` and return its writer.

    Parameters
    ----------
    path:
        Directory of the new Zarr v3 store (``.zarr``).
    records:
        The manifest; ``video_id`` must be unique.
    visual_dim, audio_dim:
        Embedding sizes.
    max_frames:
        Longest video on the store timeline; ``frame`` becomes this rounded up to 128.
    max_segments:
        Size of the ``segment`` dimension (default: the most fake periods of any record, at least 1).
    provenance:
        Root attributes to record (``dataset``, ``visual_encoder``, ``audio_encoder``,
        ``face_detector``, ...).
    block_size:
        Videos per shard and per block task (B).
    overwrite:
        Replace an existing store at ``path``; without it an existing path is an error.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path} already exists; open it with StoreWriter({str(path)!r}) to resume, "
            "or pass overwrite=True to replace it"
        )
    if not records:
        raise ValueError("cannot create a store with no videos: the manifest is empty")
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    if visual_dim < 1 or audio_dim < 1:
        raise ValueError(f"visual_dim and audio_dim must be >= 1, got {visual_dim}, {audio_dim}")
    if not 0 <= max_frames <= MAX_VIDEO_SECONDS * fps:
        raise ValueError(f"max_frames {max_frames} is more than {MAX_VIDEO_SECONDS:g} s (24 h) at "
                         f"{fps:g} fps: a record or media file claims an impossible length; size the "
                         "frame dimension from the media, not from the metadata")
    ids = [r.video_id for r in records]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise ValueError(f"video_id {dup!r} appears more than once in the manifest")
    n = len(records)
    n_seg = max([max_segments or 0, 1, *(r.n_fakes for r in records)])
    sizes = {
        "video": n,
        "frame": schema.frame_extent(max_frames),
        "visual_dim": int(visual_dim),
        "audio_dim": int(audio_dim),
        "segment": n_seg,
        "bound": 2,
        "box": 4,
    }
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    attrs = {
        "voca_schema": schema.SCHEMA_VERSION,
        "voca_version": voca_version(),
        "created": now(),
        "complete": False,
        "fps": float(fps),
        "audio_rate": int(audio_rate),
        "block_size": int(block_size),
        "software": software_versions(),
        "command": command_line(),
        **dict(provenance or {}),
        "history": [history_entry("init", videos=n, frames=sizes["frame"])],
    }
    root.attrs.update(attrs)

    for var in schema._VARS:
        if var.kind == schema.STAT:
            continue
        shape = schema.shape_of(var.name, sizes)
        kwargs: dict[str, Any] = dict(
            name=var.name,
            shape=shape,
            dtype=str if var.is_string else var.dtype,
            chunks=schema.inner_chunks(var.name, sizes, block_size),
            fill_value=_fill_for(var),
            dimension_names=list(var.dims),
            attributes={"description": var.description, **({"units": var.units} if var.units else {})},
        )
        if var.kind == schema.FRAME:
            kwargs["shards"] = schema.shard_shape(var.name, sizes, block_size)
            kwargs["config"] = _FRAME_ARRAY_CONFIG
        kwargs["compressors"] = _string_compressor() if var.is_string else _compressor()
        root.create_array(**kwargs)

    # static per-video variables, written once
    # float64: a boundary on a frame centre (0.14 s) must give the labels frame_labels gives
    periods = np.full((n, n_seg, 2), np.nan, dtype=np.float64)
    for i, r in enumerate(records):
        if r.fake_periods:
            periods[i, : r.n_fakes] = np.asarray(r.fake_periods, dtype=np.float64)
    root["video_id"][:] = np.array(ids, dtype=object)
    root["split"][:] = np.array([r.split for r in records], dtype=object)
    root["path"][:] = np.array([r.path for r in records], dtype=object)
    root["label"][:] = np.array([r.label for r in records], dtype=np.int8)
    root["fake_periods"][:] = periods
    root["n_fakes"][:] = np.array([r.n_fakes for r in records], dtype=np.int16)
    root["modify_video"][:] = np.array([r.modify_video for r in records], dtype=np.int8)
    root["modify_audio"][:] = np.array([r.modify_audio for r in records], dtype=np.int8)
    _consolidate(path)
    log.info("initialised %s: %d videos, %d frames max, %d blocks", path, n, sizes["frame"],
             math.ceil(n / block_size))
    return StoreWriter(path)


class StoreWriter:
    """Writes blocks of an existing store; cheap to construct, safe to use from many processes.

    Parameters
    ----------
    path:
        An existing store made by :func:`init`.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not (self.path / "zarr.json").exists():
            raise FileNotFoundError(
                f"{self.path} is not a voca store (no zarr.json); create one with voca_data.store.writer.init"
            )
        self._recover()
        self._root = zarr.open_group(str(self.path), mode="r+", zarr_format=3, use_consolidated=False)
        version = self._root.attrs.get("voca_schema")
        if version != schema.SCHEMA_VERSION:
            upgrade = (f": run `voca upgrade {self.path}` first (adds the schema-2 variables, "
                       "keeps every feature)" if version in schema.READABLE_SCHEMAS else "")
            raise ValueError(
                f"{self.path}: voca_schema is {version!r}; this writer writes schema "
                f"{schema.SCHEMA_VERSION}{upgrade}"
            )
        self.block_size = int(self._root.attrs["block_size"])
        self.fps = float(self._root.attrs["fps"])
        v = self._root["visual"]
        self.n_videos, self.n_frames_max, self.visual_dim = (int(s) for s in v.shape)
        self.audio_dim = int(self._root["audio"].shape[2])
        self.n_blocks = math.ceil(self.n_videos / self.block_size)

    # ----------------------------------------------------------------- reading helpers
    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self._root.attrs)

    def array(self, name: str) -> zarr.Array:
        return self._root[name]

    def block_slice(self, i: int) -> slice:
        """Videos of block ``i`` as a slice along ``video``."""
        if not 0 <= int(i) < self.n_blocks:
            raise IndexError(f"block {i} is out of range: {self.path} has blocks 0..{self.n_blocks - 1}")
        start = int(i) * self.block_size
        return slice(start, min(start + self.block_size, self.n_videos))

    def records(self, i: int | None = None) -> list[VideoRecord]:
        """The manifest as stored (all videos, or those of block ``i``)."""
        sl = slice(0, self.n_videos) if i is None else self.block_slice(i)
        r = self._root
        ids, paths, splits = r["video_id"][sl], r["path"][sl], r["split"][sl]
        labels, n_fakes, periods = r["label"][sl], r["n_fakes"][sl], r["fake_periods"][sl]
        mv, ma = r["modify_video"][sl], r["modify_audio"][sl]
        return [
            VideoRecord(
                video_id=str(ids[k]), path=str(paths[k]), split=str(splits[k]), label=int(labels[k]),
                fake_periods=tuple(map(tuple, periods[k, : int(n_fakes[k])].tolist())),
                modify_video=int(mv[k]), modify_audio=int(ma[k]),
            )
            for k in range(len(ids))
        ]

    def _timeline_notes(self, i: int, checked: dict[str, np.ndarray], n_frames: np.ndarray,
                        strict: bool, metadata_frames: Sequence[int | None] | None) -> None:
        """Notes (or, ``strict``, failures) for ok videos whose metadata disagrees with the media:
        a ``label note`` in ``notes``, or (``strict``) the reason in ``error``."""
        status = checked["status"]
        recs = None
        errors = notes = None
        for k in range(len(status)):
            if status[k] != schema.OK:
                continue
            recs = recs or self.records(i)
            meta_n = None if metadata_frames is None else metadata_frames[k]
            found = timeline_notes(recs[k].label, recs[k].fake_periods, int(n_frames[k]), self.fps,
                                   metadata_frames=meta_n)
            if not found:
                continue
            if errors is None:
                errors = [str(x) for x in checked.get("error", np.full(len(status), "", object))]
                notes = [str(x) for x in checked.get("notes", np.full(len(status), "", object))]
            text = "; ".join(found)
            if strict:
                status[k] = schema.FAILED
                errors[k] = f"labels disagree with the media (strict): {text}"
                checked["n_frames"][k] = 0
                said = errors[k]
            else:
                notes[k] = schema.join_notes(notes[k], f"label note: {text}")
                said = notes[k]
            log.warning("%s: video %r: %s", self.path, recs[k].video_id, said)
        if errors is not None:
            checked["error"] = np.array(errors, dtype=object)
            checked["notes"] = np.array(notes, dtype=object)

    def status(self) -> np.ndarray:
        return np.asarray(self._root["status"][:])

    def pending_blocks(self, retry_failed: bool = False) -> list[int]:
        """Blocks with at least one pending video (or failed one, with ``retry_failed``)."""
        status = self.status()
        todo = status == schema.PENDING
        if retry_failed:
            todo |= status == schema.FAILED
        return sorted({int(k) // self.block_size for k in np.flatnonzero(todo)})

    # ----------------------------------------------------------------- writing
    def empty_block(self, i: int) -> dict[str, np.ndarray]:
        """Arrays for block ``i`` filled with fill values, in the shapes ``write_block`` expects."""
        sl = self.block_slice(i)
        nb = sl.stop - sl.start
        sizes = self._sizes(nb)
        out: dict[str, np.ndarray] = {}
        for name in schema.BLOCK_INPUTS:
            var = schema.VARIABLES[name]
            shape = schema.shape_of(name, sizes)
            if var.is_string:
                out[name] = np.full(shape, "", dtype=object)
            else:
                out[name] = np.full(shape, var.fill, dtype=var.dtype)
        return out

    def _sizes(self, nb: int) -> dict[str, int]:
        return {"video": nb, "frame": self.n_frames_max, "visual_dim": self.visual_dim,
                "audio_dim": self.audio_dim, "box": 4}

    def write_block(self, i: int, arrays: Mapping[str, np.ndarray], strict: bool = False,
                    metadata_frames: Sequence[int | None] | None = None) -> None:
        """Write block ``i``: whole shards of every per-frame array, then its per-video chunks,
        ``status`` last.

        ``arrays`` maps variable names to arrays shaped for the block (``(n, frame, dim)`` for
        per-frame variables, ``(n,)`` for per-video ones, ``n`` the videos in the block).
        ``n_frames`` and ``status`` are required; a missing per-frame variable is written as fill,
        a missing ``frame_label`` (or one left all fill for an ok video, as :meth:`empty_block`
        gives it) is computed from the stored fake periods of labelled videos. Values past each
        video's ``n_frames`` are reset to the fill value.

        The media's ``n_frames`` decide the timeline: where the stored fake periods (or
        ``metadata_frames``, the manifest's frame counts of the block's videos) disagree with it
        (:func:`voca_data.records.timeline_notes`), the video's ``notes`` get a ``label note``;
        with ``strict`` the video fails instead. ``has_audio`` is -1 (unknown) for a video that is
        not ok.
        """
        sl = self.block_slice(i)
        nb = sl.stop - sl.start
        sizes = self._sizes(nb)
        if not self._block_chunked():
            raise RuntimeError(
                f"{self.path} is finalized (per-video variables compacted); call "
                "StoreWriter.prepare_for_writing() once before writing blocks"
            )
        unknown = set(arrays) - set(schema.BLOCK_INPUTS)
        if unknown:
            raise ValueError(
                f"write_block: {sorted(unknown)} are not block variables; expected some of {schema.BLOCK_INPUTS}"
            )
        for name in ("n_frames", "status"):
            if name not in arrays:
                raise ValueError(f"write_block: {name!r} is required")
        checked: dict[str, np.ndarray] = {}
        for name, value in arrays.items():
            var = schema.VARIABLES[name]
            expected = schema.shape_of(name, sizes)
            arr = np.asarray(value)
            if arr.shape != expected:
                raise ValueError(
                    f"write_block({i}): {name!r} has shape {arr.shape}, expected {expected} "
                    f"(dims {var.dims}); a block holds videos {sl.start}..{sl.stop - 1}"
                )
            if var.is_string:
                arr = np.array([str(x) for x in arr.ravel()], dtype=object).reshape(arr.shape)
            else:
                arr = arr.astype(var.dtype, copy=False)
            checked[name] = arr
        n_frames = checked["n_frames"].astype(np.int64)
        if (n_frames < 0).any() or (n_frames > self.n_frames_max).any():
            raise ValueError(
                f"write_block({i}): n_frames must lie in [0, {self.n_frames_max}], got {n_frames.tolist()}"
            )
        status = checked["status"] = checked["status"].copy()  # timeline notes may fail a video
        checked["n_frames"] = checked["n_frames"].copy()
        if not np.isin(status, (schema.OK, schema.FAILED)).all():
            raise ValueError(f"write_block({i}): status must be 1 (ok) or 2 (failed), got {status.tolist()}")
        # frame labels missing, or left at fill (as empty_block gives them) for a labelled ok
        # video: computed from the stored fake periods by the one frame-label rule
        fl = checked.get("frame_label")
        if fl is None:
            fl = np.full((nb, self.n_frames_max), -1, dtype=np.int8)
        else:
            fl = fl.copy()
        recs = None
        for k in range(nb):
            n = int(n_frames[k])
            if status[k] != schema.OK or n == 0 or not (fl[k, :n] == -1).all():
                continue
            recs = recs or self.records(i)
            fl[k, :n] = video_frame_labels(recs[k].label, recs[k].fake_periods, n, self.fps)
        checked["frame_label"] = fl
        self._timeline_notes(i, checked, n_frames, strict, metadata_frames)
        # per-frame: pad past n_frames, failed videos entirely fill, then write whole shards
        valid = np.arange(self.n_frames_max)[None, :] < n_frames[:, None]
        valid &= (status == schema.OK)[:, None]
        for name in schema.FRAME_VARIABLES:
            var = schema.VARIABLES[name]
            if name in checked:
                arr = checked[name].copy()
                mask = ~valid if arr.ndim == 2 else ~valid[:, :, None].repeat(arr.shape[2], axis=2)
                arr[mask] = var.fill
            else:
                arr = np.full(schema.shape_of(name, sizes), var.fill, dtype=var.dtype)
            self._root[name][sl] = arr
        if "has_audio" in checked:
            checked["has_audio"] = np.where(status == schema.OK, checked["has_audio"],
                                             schema.VARIABLES["has_audio"].fill).astype(np.int8)
        for name in ("n_frames", "duration", "source_fps", "error", "notes", "has_audio"):
            if name in checked:
                self._root[name][sl] = checked[name]
            else:
                var = schema.VARIABLES[name]
                self._root[name][sl] = (
                    np.full(nb, "", dtype=object) if var.is_string else np.full(nb, var.fill, var.dtype)
                )
        self._root["status"][sl] = status
        log.debug("%s: wrote block %d (videos %d..%d)", self.path, i, sl.start, sl.stop - 1)

    def write_variable(
        self, name: str, data: np.ndarray, dims: Sequence[str], attrs: Mapping[str, Any] | None = None
    ) -> None:
        """Write (or replace) a small extra variable, e.g. fitted projections at finalize."""
        data = np.asarray(data)
        if data.ndim != len(dims):
            raise ValueError(f"write_variable: {name!r} has {data.ndim} dims, got names {list(dims)}")
        if name in schema.VARIABLES and schema.VARIABLES[name].kind != schema.STAT:
            raise ValueError(f"write_variable: {name!r} is a block or static variable of the schema")
        if name in self._root:
            del self._root[name]
        arr = self._root.create_array(
            name=name, shape=data.shape, dtype=data.dtype, chunks=data.shape or None,
            dimension_names=list(dims), attributes=dict(attrs or {}),
            fill_value=np.nan if data.dtype.kind == "f" else 0, compressors=_compressor(),
        )
        arr[...] = data
        _consolidate(self.path)

    def update_attrs(self, **attrs: Any) -> None:
        """Set root attributes (from one process: the coordinator), re-consolidating metadata."""
        self._root.attrs.update(attrs)
        _consolidate(self.path)

    def add_history(self, action: str, **info: Any) -> None:
        history = list(self._root.attrs.get("history", []))
        history.append(history_entry(action, **info))
        self._root.attrs["history"] = history

    # ----------------------------------------------------------------- block-chunk layout
    def _block_chunked(self) -> bool:
        arr = self._root["status"]
        return int(arr.chunks[0]) == min(self.block_size, self.n_videos)

    def _rechunk_block_variables(self, chunk: int) -> None:
        """Rewrite the per-video block variables with ``chunk`` videos per chunk, crash-safely and
        without a half state for readers. The new chunks use the other chunk-key encoding
        (``c/0`` <-> ``0``), so both layouts' files coexist in the array's directory while:

        1. the new array is written as ``_tmp_NAME`` and its chunk files moved into ``NAME/``;
        2. ``NAME/zarr.json`` is replaced atomically by the new metadata;
        3. the consolidated metadata (what readers use) is rewritten atomically;
        4. the old layout's chunk files are deleted.

        Metadata never names chunk files that are gone; :meth:`_recover` finishes any step a
        crash interrupted (it runs whenever a writer opens the store)."""
        for name in schema.BLOCK_VARIABLES:
            var = schema.VARIABLES[name]
            old = self._root[name]
            if int(old.chunks[0]) == chunk:
                continue
            data = old[:]
            encoding = _chunk_key_encoding(self.path / name)
            tmp = f"_tmp_{name}"
            shutil.rmtree(self.path / tmp, ignore_errors=True)
            kwargs: dict[str, Any] = dict(
                name=tmp, shape=old.shape, dtype=str if var.is_string else var.dtype, chunks=(chunk,),
                fill_value=_fill_for(var), dimension_names=list(var.dims),
                attributes=dict(old.attrs),
                chunk_key_encoding=({"name": "v2", "separator": "."} if encoding == "default"
                                    else {"name": "default", "separator": "/"}),
            )
            kwargs["compressors"] = _string_compressor() if var.is_string else _compressor()
            new = self._root.create_array(**kwargs)
            new[:] = data
            for f in sorted((self.path / tmp).rglob("*")):
                if f.is_file() and f.name != "zarr.json":
                    dest = self.path / name / f.relative_to(self.path / tmp)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    os.rename(f, dest)
            _crash_window("chunks moved", name)
            os.replace(self.path / tmp / "zarr.json", self.path / name / "zarr.json")
            shutil.rmtree(self.path / tmp, ignore_errors=True)
            _crash_window("metadata replaced", name)
            _consolidate(self.path)
            _crash_window("consolidated", name)
            _remove_stale_chunks(self.path / name)
        self._root = zarr.open_group(str(self.path), mode="r+", zarr_format=3, use_consolidated=False)

    def _recover(self) -> None:
        """Finish a block-variable rechunk that a crash interrupted (see
        :meth:`_rechunk_block_variables`); also the directory swaps of stores written before."""
        import json

        stale_consolidated = False
        try:
            consolidated = json.loads((self.path / "zarr.json").read_text()).get(
                "consolidated_metadata") or {}
        except (OSError, ValueError):
            consolidated = {}
        for name in schema.BLOCK_VARIABLES:
            old, tmp, cur = self.path / f"_old_{name}", self.path / f"_tmp_{name}", self.path / name
            if (old.exists() or tmp.exists()) and not (cur / "zarr.json").exists():
                # a directory swap of the earlier layout: put the complete array back in place
                if tmp.exists() and (tmp / "zarr.json").exists() and not old.exists():
                    os.rename(tmp, cur)
                elif old.exists():
                    shutil.rmtree(cur, ignore_errors=True)
                    os.rename(old, cur)
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
            entry = (consolidated.get("metadata") or {}).get(name)
            if entry is not None and (cur / "zarr.json").exists():
                meta = json.loads((cur / "zarr.json").read_text())
                if meta.get("chunk_grid") != entry.get("chunk_grid") or \
                        meta.get("chunk_key_encoding") != entry.get("chunk_key_encoding"):
                    stale_consolidated = True
        if stale_consolidated:  # step 3 was interrupted: readers still use the old layout
            _consolidate(self.path)
            log.warning("%s: finished an interrupted rechunk (consolidated metadata rewritten)",
                        self.path)
        for name in schema.BLOCK_VARIABLES:
            if (self.path / name / "zarr.json").exists():
                _remove_stale_chunks(self.path / name)

    def remove_partial_files(self) -> int:
        """Delete the temporary ``*.partial`` files that writers killed mid-write leave behind
        (zarr writes each file as a temporary then renames it). Call only while no other process
        writes to the store. Returns how many were removed."""
        removed = 0
        for tmp in self.path.rglob("*.partial"):
            tmp.unlink(missing_ok=True)
            removed += 1
        if removed:
            log.info("%s: removed %d partial files left by interrupted writers", self.path, removed)
        return removed

    def prepare_for_writing(self) -> None:
        """Make a finalized store writable again (block-sized chunks for the per-video variables,
        ``complete = false``). Call once, from one process, before dispatching block tasks."""
        self._rechunk_block_variables(min(self.block_size, self.n_videos))
        if self._root.attrs.get("complete"):
            self._root.attrs["complete"] = False
        _consolidate(self.path)

    # ----------------------------------------------------------------- finalize
    def feature_statistics(self, split: str | None = None) -> dict[str, np.ndarray]:
        """Per-feature mean and std of ``visual`` and ``audio`` over valid frames of ok videos of
        ``split`` (default: the store's train split, the first of
        :data:`~voca_data.store.handle.SPLIT_ALIASES` ``["train"]`` present). Read block by block:
        memory is bounded."""
        from .handle import resolve_split

        splits = np.asarray(self._root["split"][:])
        split = split or resolve_split(sorted({str(s) for s in splits.tolist()}), "train")
        status = self.status()
        out: dict[str, np.ndarray] = {}
        acc = {f: [0.0, None, None] for f in ("visual", "audio")}
        if split is not None:
            chosen = (splits == split) & (status == schema.OK)
            n_frames = np.asarray(self._root["n_frames"][:])
            for b in range(self.n_blocks):
                sl = self.block_slice(b)
                rows = np.flatnonzero(chosen[sl])
                if rows.size == 0:
                    continue
                for f in acc:
                    data = self._root[f][sl]  # stored dtype (fp16): a quarter of float64's memory
                    for k in rows:
                        x = data[k, : n_frames[sl.start + k]].astype(np.float64)
                        x = x[np.isfinite(x).all(axis=1)]
                        if len(x) == 0:
                            continue
                        a = acc[f]
                        a[0] += len(x)
                        a[1] = x.sum(0) if a[1] is None else a[1] + x.sum(0)
                        a[2] = (x * x).sum(0) if a[2] is None else a[2] + (x * x).sum(0)
        for f, (count, s1, s2) in acc.items():
            dim = self.visual_dim if f == "visual" else self.audio_dim
            if count == 0:
                log.warning("no valid %s frames in split %r: statistics left NaN", f, split)
                out[f"{f}_mean"] = np.full(dim, np.nan, np.float32)
                out[f"{f}_std"] = np.full(dim, np.nan, np.float32)
                continue
            mean = s1 / count
            var = np.maximum(s2 / count - mean * mean, 0.0)
            out[f"{f}_mean"] = mean.astype(np.float32)
            out[f"{f}_std"] = np.sqrt(var).astype(np.float32)
        out["_split"] = np.array(split or "")
        return out

    def finalize(
        self,
        stats_split: str | None = None,
        hooks: Sequence[Callable[[StoreWriter], Mapping[str, Any] | None]] = (),
    ) -> dict[str, Any]:
        """Statistics over the train split, optional extra steps (``hooks``, e.g. the AV synchrony
        fit), consolidated metadata, ``complete`` set when no video is pending. Holds the
        store's lock (:mod:`voca_data.lock`): one finalize at a time, none while another
        process writes."""
        from ..lock import lock

        with lock(self.path, what="store"):
            return self._finalize(stats_split, hooks)

    def _finalize(self, stats_split: str | None,
                  hooks: Sequence[Callable[[StoreWriter], Mapping[str, Any] | None]]) -> dict[str, Any]:
        stats = self.feature_statistics(stats_split)
        split = str(stats.pop("_split"))
        for name, value in stats.items():
            feature = name.split("_")[0]
            dim = "visual_dim" if feature == "visual" else "audio_dim"
            self.write_variable(name, value, (dim,), {
                "description": schema.VARIABLES[name].description, "split": split})
        info: dict[str, Any] = {"stats_split": split}
        for hook in hooks:
            info.update(hook(self) or {})
        status = self.status()
        counts = {name: int((status == code).sum()) for code, name in schema.STATUS_NAMES.items()}
        complete = counts["pending"] == 0
        # one chunk per per-video variable: a finalized store opens in well under a second
        self._rechunk_block_variables(self.n_videos)
        self._root.attrs["complete"] = complete
        self.add_history("finalize", **counts, **info)
        _consolidate(self.path)
        if not complete:
            log.warning("%s: %d videos still pending: the store is not complete", self.path, counts["pending"])
        return {"complete": complete, **counts, **info}
