"""Content checks of a store: everything :func:`voca_data.schema.validate` cannot see from the
metadata alone. Reads the per-frame arrays block by block, so memory stays bounded by one block
whatever the store's size. Works on Zarr stores and HDF5 files alike.

What is checked (each problem is one line naming the variable and the video):

* the schema (:func:`voca_data.schema.validate`): attributes, variables, dims, dtypes, extents;
* per video: ``video_id`` non-empty and unique; ``path`` relative, inside the root; ``status`` in
  {0 pending, 1 ok, 2 failed}; ``label``/``modify_video``/``modify_audio`` in {-1, 0, 1};
  ``n_frames`` within ``[0, frame]``; ``n_fakes`` within ``[0, segment]``; ``fake_periods``
  finite with ``0 <= start < end`` for the first ``n_fakes``, NaN after; failed videos say why in
  ``error``; ``complete`` only when no video is pending;
* per frame: values past ``n_frames`` (and everywhere for pending/failed videos) are the fill
  value; ``visual`` has no NaN inside ``n_frames`` of an ok video, nor has ``audio`` unless the
  video's ``error`` notes it has no audio stream; ``frame_label`` equals
  :func:`voca_data.records.video_frame_labels` of the label and stored ``fake_periods`` (-1 where
  unknown: unlabelled videos, fakes without periods) for ok videos.

Example
-------
>>> from voca_data.check import check_store
>>> problems = check_store("lavdf.zarr")     # doctest: +SKIP
>>> problems                                  # doctest: +SKIP
[]
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from . import schema
from .records import ManifestError, check_relative_path, video_frame_labels

log = logging.getLogger(__name__)

__all__ = ["NO_AUDIO_PATTERN", "check_store"]

# an ok video whose `error` matches this has no audio stream: NaN audio inside n_frames is expected
NO_AUDIO_PATTERN = re.compile(r"no audio", re.IGNORECASE)


def _strings(values: Any) -> list[str]:
    return [str(v) for v in np.asarray(values).tolist()]


def _is_fill(data: np.ndarray, fill: Any) -> np.ndarray:
    if data.dtype.kind == "f" and isinstance(fill, float) and np.isnan(fill):
        return np.isnan(data)
    return data == np.asarray(fill, dtype=data.dtype)


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
               "modify_video": (-1, 0, 1), "modify_audio": (-1, 0, 1)}
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
    if status is not None and "error" in ds.variables:
        errors = _strings(ds["error"].values)
        out["no_audio"] = np.array([bool(NO_AUDIO_PATTERN.search(e)) for e in errors])
        for k in np.flatnonzero(status == schema.FAILED):
            if not errors[k]:
                add(f"error: {named(int(k))} failed but its error is empty (it must say why)")
        pending = int((status == schema.PENDING).sum())
        if ds.attrs.get("complete") and pending:
            add(f"attribute complete is true but {pending} videos are pending")
    return out


def _frame_checks(ds: Any, per: dict[str, np.ndarray], ids: list[str], problems: list[str],
                  block: int, progress: bool) -> None:
    from tqdm import tqdm

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
            data = np.asarray(ds[name].isel(video=sl).values)
            is_fill = _is_fill(data, var.fill)
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


def check_store(path: str | Path, progress: bool = False) -> list[str]:
    """All problems found in the store at ``path`` (an empty list: the store is sound).

    A store that cannot be opened at all gives a single problem saying why.
    """
    from .reader import StoreError
    from .reader import open as open_store

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = open_store(path, warn_incomplete=False)
    except (StoreError, FileNotFoundError, OSError) as exc:
        return [str(exc)]
    problems = list(schema.validate(ds))
    ids = _strings(ds["video_id"].values) if "video_id" in ds.variables else []
    per = _per_video(ds, problems, ids)
    if "frame" in ds.sizes and "video" in ds.sizes:
        ids = ids + [""] * max(0, ds.sizes["video"] - len(ids))
        block = int(ds.attrs.get("block_size", schema.DEFAULT_BLOCK_SIZE))
        _frame_checks(ds, per, ids, problems, block, progress)
    if problems:
        log.info("%s: %d problems", path, len(problems))
    return problems
