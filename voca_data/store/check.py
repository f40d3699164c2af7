"""Content checks of a store: everything :func:`voca_data.store.schema.validate` cannot see from the
metadata alone. Reads the per-frame arrays block by block, so memory stays bounded by one block
whatever the store's size. Works on Zarr stores and HDF5 files alike.

What is checked (each problem is one line naming the variable and the video):

* integrity (Zarr stores, :func:`check_files`): every ``zarr.json`` present, valid JSON and
  agreeing with the consolidated metadata; every chunk decoded with its ``crc32c`` checksum, a
  corrupt or truncated one named by array, videos, frames and file; no ``visual``/``audio``
  shard missing under ok videos (:func:`quick_check` is the cheap subset ``info`` and ``train``
  run);
* the schema (:func:`voca_data.store.schema.validate`): attributes, variables, dims, dtypes, extents;
* per video: ``video_id`` non-empty and unique; ``path`` relative, inside the root; ``status`` in
  {0 pending, 1 ok, 2 failed}; ``label``/``modify_video``/``modify_audio`` in {-1, 0, 1};
  ``n_frames`` within ``[0, frame]``; ``n_fakes`` within ``[0, segment]``; ``fake_periods``
  finite with ``0 <= start < end`` for the first ``n_fakes``, NaN after; failed videos say why in
  ``error``; ``complete`` only when no video is pending;
* per frame: values past ``n_frames`` (and everywhere for pending/failed videos) are the fill
  value; ``visual`` has no NaN inside ``n_frames`` of an ok video, nor has ``audio`` where the
  video's ``has_audio`` is 1 (0: no audio stream, -1: not recorded; a schema-1 store does not record it, so its audio
  is not checked for NaN: ``voca upgrade`` adds ``has_audio``); ``frame_label`` equals
  :func:`voca_data.records.video_frame_labels` of the label and stored ``fake_periods`` (-1 where
  unknown: unlabelled videos, fakes without periods) for ok videos.

Example
-------
>>> from voca_data.store.check import check_store
>>> problems = check_store("lavdf.zarr")     # doctest: +SKIP
>>> problems                                  # doctest: +SKIP
[]
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from . import schema
from ..records import ManifestError, check_relative_path, video_frame_labels

log = logging.getLogger(__name__)

__all__ = ["check_files", "check_store", "quick_check", "repair_metadata"]


def _without_audio(status: np.ndarray, has_audio: np.ndarray | None) -> np.ndarray:
    """Videos whose audio may be NaN inside ``n_frames``: ok videos whose ``has_audio`` is not 1
    (0: no audio stream; -1: not recorded, as by a writer that did not say), and every ok video of
    a schema-1 store (no ``has_audio``)."""
    if has_audio is None:
        return status == schema.OK
    return (status == schema.OK) & (has_audio != 1)


def _strings(values: Any) -> list[str]:
    return [str(v) for v in np.asarray(values).tolist()]


_REPAIR = ("Re-extract the affected blocks (reset their status to pending and run voca extract "
           "again) or restore the store from a copy")


def _chunk_file(path: Path, name: str, coords: tuple[int, ...]) -> Path:
    """The file of chunk (or shard) ``coords`` of array ``name`` (``default`` chunk key encoding,
    or ``v2`` as finalized per-video arrays use)."""
    import json

    try:
        encoding = json.loads((path / name / "zarr.json").read_text()).get("chunk_key_encoding") or {}
    except (OSError, ValueError, AttributeError):
        encoding = {}
    if encoding.get("name") == "v2":
        sep = (encoding.get("configuration") or {}).get("separator", ".")
        return path / name / sep.join(str(c) for c in coords)
    return path / name / "c" / Path(*[str(c) for c in coords])


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "checksum" in text.lower():
        return "checksum mismatch: its bytes changed on disk (truncated, bit rot, a bad copy)"
    return f"cannot be decoded ({type(exc).__name__}: {text[:160]}); it is truncated or corrupt"


def _locate_bad_chunks(path: Path | None, name: str, sl: slice, ids: list[str],
                       exc: BaseException) -> list[str]:
    """One line per unreadable inner chunk of per-frame array ``name`` in videos ``sl`` (or one for
    the shard file when none of its chunks can be read)."""
    if path is None:
        return [f"{name}: videos {sl.start}..{sl.stop - 1} cannot be read: {_why(exc)}"]
    import zarr

    arr = zarr.open_group(str(path), mode="r")[name]
    step = int(arr.chunks[1])
    shard_rows = int(arr.shards[0]) if getattr(arr, "shards", None) else int(arr.chunks[0])
    shard = _chunk_file(path, name, (sl.start // shard_rows,) + (0,) * (arr.ndim - 1))
    bad: list[str] = []
    total = 0
    for v in range(sl.start, sl.stop):
        for f in range(0, arr.shape[1], step):
            total += 1
            try:
                arr[v, f:f + step]
            except Exception as inner:  # noqa: BLE001 - every decoding failure is reported
                bad.append(f"{name}: chunk of video {v} ({ids[v]!r}), frames {f}..{f + step - 1}, "
                           f"in shard file {shard}: {_why(inner)}. {_REPAIR}")
    if not bad or len(bad) == total:
        return [f"{name}: shard file {shard} (videos {sl.start}..{sl.stop - 1}): {_why(exc)}. "
                f"{_REPAIR}"]
    return bad


def _core_metadata(meta: Any) -> Any:
    if not isinstance(meta, dict):
        return meta
    return {k: meta.get(k) for k in ("node_type", "shape", "data_type", "codecs", "chunk_grid",
                                     "fill_value")}


def check_files(path: str | Path) -> list[str]:
    """File-level integrity of a Zarr store, one line per broken file: the root and every array's
    ``zarr.json`` (present, valid JSON, agreeing with the consolidated copy in the root's
    ``zarr.json``), and every chunk of the per-video arrays decoded (crc32c checked). Per-frame
    chunks are decoded by :func:`check_store`'s content checks.

    >>> check_files("lavdf.zarr")          # doctest: +SKIP
    ['lavdf.zarr/status/zarr.json is not valid JSON (...)']
    """
    import json

    import zarr

    path = Path(path)
    root_file = path / "zarr.json"
    try:
        root_meta = json.loads(root_file.read_text())
    except FileNotFoundError:
        return [f"{root_file} is missing: {path} is not a Zarr store (or its root metadata was deleted)"]
    except (ValueError, UnicodeDecodeError) as exc:
        return [f"{root_file} is not valid JSON ({str(exc)[:120]}): the store cannot be opened; "
                "restore the file from a copy"]
    problems: list[str] = []
    consolidated = ((root_meta.get("consolidated_metadata") or {}).get("metadata") or {}) \
        if isinstance(root_meta, dict) else {}
    names = sorted(set(consolidated) | {p.parent.name for p in path.glob("*/zarr.json")}
                   | {v.name for v in schema._VARS if (path / v.name).is_dir()})
    fixable = "voca check --repair rewrites it from the consolidated metadata"
    for name in names:
        file = path / name / "zarr.json"
        if name.startswith(("_tmp_", "_old_")):
            continue
        try:
            meta = json.loads(file.read_text())
        except FileNotFoundError:
            problems.append(f"{file} is missing" + (f" ({fixable})" if name in consolidated else ""))
            continue
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(f"{file} is not valid JSON ({str(exc)[:80]})"
                            + (f"; {fixable}" if name in consolidated else ""))
            continue
        if name in consolidated and _core_metadata(meta) != _core_metadata(consolidated[name]):
            problems.append(f"{file} disagrees with the consolidated metadata in {root_file} "
                            f"(shape, dtype, chunks or codecs); {fixable}")
    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return problems + [f"{path}: cannot be opened as a Zarr group: {_why(exc)}"]
    for name in names:
        var = schema.VARIABLES.get(name)
        if var is None or var.kind == schema.FRAME or name not in consolidated:
            continue
        try:
            arr = group[name]
        except Exception:  # noqa: BLE001 - its zarr.json problem is reported above
            continue
        step = int(arr.chunks[0]) if arr.ndim else 1
        for start in range(0, int(arr.shape[0]) if arr.ndim else 1, max(step, 1)):
            try:
                arr[start:start + step] if arr.ndim else arr[...]
            except Exception as exc:  # noqa: BLE001 - every decoding failure is reported
                coords = (start // step,) + (0,) * max(arr.ndim - 1, 0)
                problems.append(f"{name}: chunk file {_chunk_file(path, name, coords)} (videos "
                                f"{start}..{min(start + step, arr.shape[0]) - 1}): {_why(exc)}. "
                                f"{_REPAIR}")
    return problems


def quick_check(path: str | Path) -> list[str]:
    """The cheap part of :func:`check_store`, for commands that must not start on a broken
    store (``train``, ``info``): :func:`check_files`, the ``visual`` and ``audio`` shard files of
    every block holding ok videos present, and every shard's index intact (a truncated shard
    fails). Per-frame chunks are not decoded (their checksums are verified as they are read).
    HDF5 files: ``[]``.

    >>> quick_check("lavdf.zarr")          # doctest: +SKIP
    []
    """
    path = Path(path)
    if not path.is_dir():
        return []
    problems = check_files(path)
    if problems:
        return problems
    problems += _missing_shards(path)
    for name in schema.FRAME_VARIABLES:
        if (path / name).is_dir():
            problems.extend(_shard_index_problems(path, name))
    return problems


def _missing_shards(path: Path) -> list[str]:
    """The ``visual`` (and ``audio``, unless the videos have no audio stream) shard files of
    blocks holding ok videos that are missing: their features are gone, readers would see NaN."""
    import zarr

    problems: list[str] = []
    try:
        group = zarr.open_group(str(path), mode="r")
        status = np.asarray(group["status"][:])
        n_frames = np.asarray(group["n_frames"][:])
        has_audio = np.asarray(group["has_audio"][:]) if "has_audio" in group else None
        shard_rows = int(group["visual"].shards[0])
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return [f"{path}: cannot read status, n_frames, has_audio or visual: {_why(exc)}"]
    has = (status == schema.OK) & (n_frames > 0)
    has_audio = has & ~_without_audio(status, has_audio)
    for name, needed in (("visual", has), ("audio", has_audio)):
        for b in range(0, len(status), shard_rows):
            if needed[b:b + shard_rows].any():
                shard = _chunk_file(path, name, (b // shard_rows, 0, 0))
                if not shard.exists():
                    problems.append(f"{name}: shard file {shard} is missing, but videos {b}.."
                                    f"{min(b + shard_rows, len(status)) - 1} hold ok videos. "
                                    f"{_REPAIR}")
    return problems


def _shard_index_problems(path: Path, name: str) -> list[str]:
    """Every shard file of per-frame array ``name`` checked without decoding its chunks: the index
    at its end (``n_chunks`` x (offset, nbytes) uint64 + crc32c) intact and every chunk it lists
    inside the file. A truncated or overwritten shard fails this; a flipped bit inside a chunk is
    caught when the chunk is read."""
    import json

    import google_crc32c

    meta = json.loads((path / name / "zarr.json").read_text())
    codec = meta["codecs"][0]
    if codec.get("name") != "sharding_indexed":
        return []
    conf = codec["configuration"]
    shard_shape = meta["chunk_grid"]["configuration"]["chunk_shape"]
    n_chunks = int(np.prod([s // c for s, c in zip(shard_shape, conf["chunk_shape"])]))
    checksummed = any(c.get("name") == "crc32c" for c in conf.get("index_codecs", []))
    size = 16 * n_chunks + (4 if checksummed else 0)
    problems = []
    root = path / name / "c"
    for file in sorted(root.rglob("*")) if root.is_dir() else []:
        if not file.is_file():
            continue
        total = file.stat().st_size
        why = None
        if total < size:
            why = f"{total} bytes, shorter than its index ({size} bytes): truncated"
        else:
            with open(file, "rb") as fh:
                fh.seek(total - size)
                raw = fh.read(size)
            body = raw[:16 * n_chunks]
            if checksummed and np.uint32(google_crc32c.value(body)).tobytes() != raw[-4:]:
                why = "its index fails its checksum: truncated or overwritten"
            else:
                index = np.frombuffer(body, "<u8").reshape(-1, 2)
                used = index[index[:, 0] != np.iinfo(np.uint64).max]
                if len(used) and int((used[:, 0] + used[:, 1]).max()) > total - size:
                    why = "its index lists chunks past the end of the file: truncated"
        if why:
            problems.append(f"{name}: shard file {file}: {why}. {_REPAIR}")
    return problems


def repair_metadata(path: str | Path) -> list[str]:
    """Rewrite every array ``zarr.json`` that is missing, unreadable or disagrees with the
    consolidated metadata of the root ``zarr.json``; returns the files rewritten. Chunks are
    not touched (a corrupt chunk must be re-extracted or restored).

    >>> repair_metadata("lavdf.zarr")      # doctest: +SKIP
    ['lavdf.zarr/status/zarr.json']
    """
    import json

    path = Path(path)
    root_meta = json.loads((path / "zarr.json").read_text())
    consolidated = (root_meta.get("consolidated_metadata") or {}).get("metadata") or {}
    fixed = []
    for name, meta in consolidated.items():
        file = path / name / "zarr.json"
        try:
            current = json.loads(file.read_text())
        except (FileNotFoundError, ValueError, UnicodeDecodeError):
            current = None
        if _core_metadata(current) != _core_metadata(meta):
            file.parent.mkdir(exist_ok=True)
            tmp = file.with_name("zarr.json.repair")
            tmp.write_text(json.dumps(meta, indent=2))
            tmp.replace(file)
            fixed.append(str(file))
            log.warning("%s: rewritten from the consolidated metadata", file)
    return fixed


def _per_video(ds: Any, problems: list[str], ids: list[str]) -> dict[str, np.ndarray]:
    sizes = ds.sizes
    add = problems.append

    def named(k: int) -> str:
        return f"video {k} ({ids[k]!r})" if k < len(ids) else f"video {k}"

    def values(name: str) -> np.ndarray | None:
        return np.asarray(ds[name].values) if name in ds.variables else None

    seen: dict[str, int] = {}
    for k, vid in enumerate(ids):
        if not vid:
            add(f"video_id: {named(k)} has an empty id")
        elif vid in seen:
            add(f"video_id: {vid!r} appears twice (videos {seen[vid]} and {k})")
        else:
            seen[vid] = k
    if "path" in ds.variables:
        for k, p in enumerate(_strings(ds["path"].values)):
            try:
                if not p:
                    raise ManifestError(f"{named(k)}: path is empty")
                check_relative_path(p, what=named(k))
            except ManifestError as exc:
                add(f"path: {exc}")
    out: dict[str, np.ndarray] = {}
    allowed = {"status": (schema.PENDING, schema.OK, schema.FAILED), "label": (-1, 0, 1),
               "modify_video": (-1, 0, 1), "modify_audio": (-1, 0, 1), "has_audio": (-1, 0, 1)}
    for name, ok_values in allowed.items():
        v = values(name)
        if v is None:
            continue
        for k in np.flatnonzero(~np.isin(v, ok_values)):
            add(f"{name}: {named(int(k))} has {int(v[k])}, allowed values are {list(ok_values)}")
        out[name] = v
    n_frames = values("n_frames")
    if n_frames is not None:
        bad = (n_frames < 0) | (n_frames > sizes.get("frame", 0))
        for k in np.flatnonzero(bad):
            add(f"n_frames: {named(int(k))} has {int(n_frames[k])}, outside [0, {sizes.get('frame', 0)}]")
        out["n_frames"] = np.clip(n_frames, 0, sizes.get("frame", 0))
    n_fakes, periods = values("n_fakes"), values("fake_periods")
    if n_fakes is not None and periods is not None and periods.ndim == 3:
        n_seg = periods.shape[1]
        for k in range(len(n_fakes)):
            nf = int(n_fakes[k])
            if not 0 <= nf <= n_seg:
                add(f"n_fakes: {named(k)} has {nf}, outside [0, {n_seg}]")
                continue
            p = periods[k]
            used, rest = p[:nf], p[nf:]
            if not np.isfinite(used).all() or (used[:, 0] < 0).any() or (used[:, 1] <= used[:, 0]).any():
                add(f"fake_periods: {named(k)} has periods {used.tolist()}: each must be finite "
                    "with 0 <= start < end")
            if not np.isnan(rest).all():
                add(f"fake_periods: {named(k)} has values past its {nf} periods (must be NaN)")
        out["n_fakes"], out["fake_periods"] = n_fakes, periods
    status = out.get("status")
    if status is not None:
        has_audio = out.get("has_audio")
        out["no_audio"] = _without_audio(status, has_audio)
    if status is not None and "error" in ds.variables:
        errors = _strings(ds["error"].values)
        for k in np.flatnonzero(status == schema.FAILED):
            if not errors[k]:
                add(f"error: {named(int(k))} failed but its error is empty (it must say why)")
        pending = int((status == schema.PENDING).sum())
        if ds.attrs.get("complete") and pending:
            add(f"attribute complete is true but {pending} videos are pending")
    return out


def _frame_checks(ds: Any, per: dict[str, np.ndarray], ids: list[str], problems: list[str],
                  block: int, progress: bool, zarr_path: Path | None = None) -> None:
    from voca_data.progress import tqdm

    n_videos = ds.sizes.get("video", 0)
    n_frames = per.get("n_frames", np.zeros(n_videos, dtype=np.int64)).astype(np.int64)
    status = per.get("status", np.zeros(n_videos, dtype=np.int8))
    labels = per.get("label", np.full(n_videos, -1, dtype=np.int8))
    no_audio = per.get("no_audio", np.zeros(n_videos, dtype=bool))
    periods, n_fakes = per.get("fake_periods"), per.get("n_fakes")
    fps = float(ds.attrs.get("fps", schema.DEFAULT_FPS))
    frame_vars = [n for n in schema.FRAME_VARIABLES if n in ds.variables
                  and tuple(ds[n].dims) == schema.VARIABLES[n].dims]
    # valid extent: n_frames for ok videos, nothing for pending/failed ones
    extent = np.where(status == schema.OK, n_frames, 0)
    starts = range(0, n_videos, max(block, 1))
    for start in tqdm(starts, desc="check", disable=not progress, leave=False):
        sl = slice(start, min(start + block, n_videos))
        valid = np.arange(ds.sizes["frame"])[None, :] < extent[sl, None]
        for name in frame_vars:
            var = schema.VARIABLES[name]
            try:
                data = np.asarray(ds[name].isel(video=sl).values)
            except Exception as exc:  # noqa: BLE001 - checksum mismatch, truncated shard, server gone
                if zarr_path is None:  # remote or HDF5: name the videos and the shard key
                    problems.append(f"{name}: videos {sl.start}-{sl.stop - 1} (shard {name}/c/"
                                    f"{sl.start // max(block, 1)}/0...) cannot be read: "
                                    f"{type(exc).__name__}: {exc}")
                else:  # a local Zarr store: name each bad chunk and its file
                    problems.extend(_locate_bad_chunks(zarr_path, name, sl, ids, exc))
                continue
            is_fill = schema.is_fill(data, var.fill)
            is_fill_all = is_fill.all(axis=2) if data.ndim == 3 else is_fill
            bad_pad = ~is_fill_all & ~valid
            for k in np.flatnonzero(bad_pad.any(axis=1)):
                g = start + int(k)
                first = int(np.flatnonzero(bad_pad[k])[0])
                why = ("past n_frames" if status[g] == schema.OK else
                       f"although the video is {schema.STATUS_NAMES.get(int(status[g]), status[g])}")
                problems.append(f"{name}: video {g} ({ids[g]!r}) has non-fill values {why} "
                                f"(first at frame {first}, n_frames {int(n_frames[g])})")
            if name in ("visual", "audio"):
                nan_inside = np.isnan(data).any(axis=2) & valid
                for k in np.flatnonzero(nan_inside.any(axis=1)):
                    g = start + int(k)
                    if name == "audio" and no_audio[g]:
                        continue
                    count = int(nan_inside[k].sum())
                    problems.append(f"{name}: video {g} ({ids[g]!r}) is ok but has NaN in {count} of its "
                                    f"{int(n_frames[g])} frames")
            if name == "frame_label" and periods is not None and n_fakes is not None:
                for k in range(data.shape[0]):
                    g = start + k
                    if status[g] != schema.OK:
                        continue
                    n = int(n_frames[g])
                    nf = int(np.clip(n_fakes[g], 0, periods.shape[1]))
                    expected = video_frame_labels(int(labels[g]), periods[g, :nf].tolist(), n, fps)
                    got = data[k, :n]
                    if not np.array_equal(got, expected):
                        diff = np.flatnonzero(got != expected)
                        problems.append(
                            f"frame_label: video {g} ({ids[g]!r}) disagrees with fake_periods at "
                            f"{diff.size} of {n} frames (first at frame {int(diff[0])}: stored "
                            f"{int(got[diff[0]])}, periods give {int(expected[diff[0]])})")


def check_store(path: str | Path | Any, progress: bool = False,
                storage_options: dict[str, Any] | None = None,
                notes: list[str] | None = None) -> list[str]:
    """All problems found in the store at ``path`` (a path, a URL or a :class:`Store`; an empty
    list: the store is sound). ``notes``, when given, receives remarks that are not problems
    (a schema-1 store: how to upgrade it).

    Zarr stores on local disk are first checked file by file (:func:`check_files`: every
    ``zarr.json``, every per-video chunk decoded with its checksum); every per-frame chunk is
    decoded as the content checks read it, and one that fails is named (array, video, frames, and
    the file or the shard key of a remote store: server gone, truncated or corrupt). A store that
    cannot be opened at all gives the file problems found and one line saying why.
    """
    from .handle import Store, StoreError

    local = (Path(path) if isinstance(path, (str, Path)) and Path(str(path)).is_dir() else None)
    problems = check_files(local) if local is not None and (local / "zarr.json").is_file() else []
    if problems and problems[0].startswith(str(local / "zarr.json")):
        return problems  # the root metadata itself is broken: nothing else can be read
    if local is not None and (local / "zarr.json").is_file() and not problems:
        problems += _missing_shards(local)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            store = Store.open(path, storage_options)
    except (StoreError, FileNotFoundError, OSError) as exc:
        return problems + [str(exc).splitlines()[0]]
    except Exception as exc:  # noqa: BLE001 - a broken chunk read at open: one line, no traceback
        return problems + [f"{path}: cannot be opened: {_why(exc)}"]
    where = store.url
    ds = store.dataset
    problems += list(schema.validate(ds))
    if notes is not None:
        from .upgrade import upgrade_hint

        hint = upgrade_hint(ds.attrs, where)
        if hint:
            notes.append(hint)
    ids = _strings(ds["video_id"].values) if "video_id" in ds.variables else []
    per = _per_video(ds, problems, ids)
    if "frame" in ds.sizes and "video" in ds.sizes:
        ids = ids + [""] * max(0, ds.sizes["video"] - len(ids))
        block = int(ds.attrs.get("block_size", schema.DEFAULT_BLOCK_SIZE))
        _frame_checks(ds, per, ids, problems, block, progress, local)
    if problems:
        log.info("%s: %d problems", where, len(problems))
    return problems
