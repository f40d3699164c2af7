"""LAV-DF: ``metadata.min.json`` (or ``metadata.json``) — a JSON list, one object per video.

A real record::

    {"file": "test/000001.mp4", "n_fakes": 0, "fake_periods": [], "duration": 4.224,
     "original": null, "modify_video": false, "modify_audio": false, "split": "test",
     "video_frames": 103, "audio_channels": 1, "audio_frames": 65536}

``metadata.json`` has the same fields plus ``timestamps`` and ``transcript`` (ignored).

What becomes what:

* ``video_id`` = ``file`` without its extension (``test/000001``); ``path`` = ``file``;
  ``split`` = ``split``; ``label`` = 1 if ``n_fakes > 0`` else 0;
  ``modify_video`` / ``modify_audio`` = the flags as 1/0.
* **Duration.** LAV-DF's ``duration`` and ``video_frames / 25`` disagree (the example above: 4.224 s
  vs 4.12 s). Like the official code (``dataset/lavdf.py``: ``corrected_second = frames / fps``),
  voca trusts the frames: ``duration = video_frames / 25`` and ``n_frames = video_frames`` (scaled
  to the store's ``fps`` when it is not 25). The metadata's own value is kept in
  ``extra["metadata_duration"]``; the extractor measures the media anyway.
* **Fake periods** (seconds) are checked against ``max(duration, video_frames / 25)``: a start
  below 0 or an end past it by at most ``period_tolerance`` (default 0.05 s) is clipped; by more it
  is an error. Ends are *not* clipped to ``video_frames / 25``: the media's own frame count decides
  the timeline, and the extractor notes a period or frame count that disagrees with the media.
* **Bounds.** ``video_frames`` above 24 h at 25 fps, a ``duration`` above 24 h, or a period
  bound beyond 24 h is an error naming the record, before anything is allocated from it.

Validated per record (each problem names the record's index in the JSON list and its file):
required fields present and of the right type (``file`` str, ``split`` str, ``n_fakes`` int >= 0,
``fake_periods`` list of ``[start, end]`` numbers, ``duration`` number > 0, ``modify_video`` /
``modify_audio`` bool, ``video_frames`` int > 0; optional ``original`` null or str,
``audio_channels`` / ``audio_frames`` int >= 0), ``n_fakes == len(fake_periods)``, a fake video
has a modified modality and a real one none, periods not negative, inverted or beyond the video.

Example
-------
>>> from voca_data.sources import load
>>> records = load("lavdf", "/data/LAV-DF", splits="test", max_videos=100)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..records import ManifestError, VideoRecord
from .base import (
    MAX_VIDEO_SECONDS,
    PERIOD_TOLERANCE,
    Candidate,
    Problem,
    Records,
    check_periods,
    finish,
    is_number,
    short_repr,
)

log = logging.getLogger(__name__)

__all__ = ["LAVDF_FPS", "REQUIRED_FIELDS", "find_metadata", "load_lavdf"]

LAVDF_FPS = 25.0
METADATA_NAMES = ("metadata.min.json", "metadata.json")
REQUIRED_FIELDS = ("file", "split", "n_fakes", "fake_periods", "duration", "modify_video",
                   "modify_audio", "video_frames")


def find_metadata(root: str | Path, metadata: str | Path | None = None) -> Path:
    """The metadata file: ``metadata`` if given (relative to ``root`` when it exists there, else as
    given), otherwise ``ROOT/metadata.min.json`` or ``ROOT/metadata.json``."""
    root = Path(root)
    if metadata is not None:
        m = Path(metadata)
        if not m.is_absolute() and (root / m).is_file():
            return root / m
        if m.is_file():
            return m
        raise FileNotFoundError(f"LAV-DF metadata {metadata} not found (looked in {root} and the "
                                f"current directory)")
    for name in METADATA_NAMES:
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(f"no LAV-DF metadata in {root}: expected {' or '.join(METADATA_NAMES)} "
                            f"(or pass --metadata PATH)")


def _bad_path(path: str) -> str | None:
    """Same rules as :func:`voca_data.records.check_relative_path`, as string operations."""
    if "\\" in path:
        return f"path {path!r} uses backslashes; use '/' separators"
    if path.startswith("/"):
        return f"path {path!r} is absolute; paths must be relative to the dataset root"
    if ".." in path.split("/"):
        return f"path {path!r} contains '..'; paths must stay inside the dataset root"
    return None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_MAX_FRAMES = int(MAX_VIDEO_SECONDS * LAVDF_FPS)


def _parse(items: list[Any], fps: float, tolerance: float, name: str) -> list[Candidate]:
    """One candidate per metadata item: the LAV-DF fields checked here (types, counts, flags,
    periods), the record's own invariants by :class:`VideoRecord` (the one place records are
    validated)."""
    candidates: list[Candidate] = []
    scale = fps / LAVDF_FPS
    for i, m in enumerate(items):
        where = f"{name} record {i}"
        if not isinstance(m, dict):
            candidates.append(Candidate(i, None, problems=[Problem(where, f"must be a JSON object, not "
                                                                   f"{type(m).__name__}", None, i)], where=where))
            continue
        file = m.get("file")
        errors: list[str] = []
        missing = [k for k in REQUIRED_FIELDS if k not in m]
        if missing:
            errors.append(f"missing field(s) {', '.join(missing)}")
        if "file" in m and not (isinstance(file, str) and file):
            errors.append(f"file must be a non-empty string, not {file!r}")
            file = None
        elif isinstance(file, str):
            bad = _bad_path(file)
            if bad:
                errors.append(bad)
        split = m.get("split")
        if "split" in m and not (isinstance(split, str) and split):
            errors.append(f"split must be a non-empty string, not {split!r}")
        n_fakes = m.get("n_fakes")
        if "n_fakes" in m and not (_is_int(n_fakes) and n_fakes >= 0):
            errors.append(f"n_fakes must be an integer >= 0, not {n_fakes!r}")
        duration = m.get("duration")
        if "duration" in m and not (is_number(duration) and 0 < duration <= MAX_VIDEO_SECONDS):
            errors.append(f"duration must be a number > 0 and at most {MAX_VIDEO_SECONDS:g} s, not "
                          f"{short_repr(duration)}")
            duration = None
        flags = []
        for key in ("modify_video", "modify_audio"):
            v = m.get(key)
            if key in m and not (isinstance(v, bool) or (_is_int(v) and v in (0, 1))):
                errors.append(f"{key} must be true or false, not {v!r}")
            flags.append(bool(v) if v in (True, False, 0, 1) else None)
        frames = m.get("video_frames")
        if "video_frames" in m and not (_is_int(frames) and 0 < frames <= _MAX_FRAMES):
            errors.append(f"video_frames must be an integer > 0 and at most {_MAX_FRAMES} (24 h at 25 fps), "
                          f"not {short_repr(frames)}")
            frames = None
        original = m.get("original")
        if original is not None and not isinstance(original, str):
            errors.append(f"original must be null or a string, not {original!r}")
        for key in ("audio_channels", "audio_frames"):
            v = m.get(key)
            if v is not None and not (_is_int(v) and v >= 0):
                errors.append(f"{key} must be an integer >= 0, not {v!r}")
        periods_raw = m.get("fake_periods")
        periods: list[tuple[float, float]] = []
        if "fake_periods" in m:
            video_seconds = frames / LAVDF_FPS if _is_int(frames) and frames > 0 else None
            limit = None
            if video_seconds is not None:
                limit = max(video_seconds, duration) if is_number(duration) else video_seconds
            # no clip at video_frames / 25: the media's own frame count decides the timeline
            periods, period_errors = check_periods(periods_raw, limit, None, tolerance)
            errors.extend(period_errors)
            if isinstance(periods_raw, list) and _is_int(n_fakes) and n_fakes != len(periods_raw):
                errors.append(f"n_fakes is {n_fakes} but fake_periods has {len(periods_raw)} period(s)")
        if not errors and None not in flags:
            fake = n_fakes > 0
            if fake and not (flags[0] or flags[1]):
                errors.append("has fake periods but neither modify_video nor modify_audio is set")
            elif not fake and (flags[0] or flags[1]):
                errors.append("modify_video/modify_audio is set but there are no fake periods")
        if errors:
            candidates.append(Candidate(i, file, problems=[Problem(where, e, file, i) for e in errors],
                                        where=where))
            continue
        stem = file.rsplit(".", 1)[0] if "." in file.rsplit("/", 1)[-1] else file
        video_id = stem if "/" in stem else f"{split}/{stem}"
        n_frames = frames if scale == 1.0 else int(round(frames * scale))
        values = {
            "video_id": video_id, "path": file, "split": split, "label": 1 if n_fakes else 0,
            "fake_periods": tuple(periods), "modify_video": int(flags[0]), "modify_audio": int(flags[1]),
            "duration": frames / LAVDF_FPS, "n_frames": n_frames,
            "extra": {"metadata_duration": float(duration), "original": original},
        }
        try:
            record = VideoRecord(**values)
        except ManifestError as exc:  # pragma: no cover - the checks above cover these
            candidates.append(Candidate(i, file, problems=[Problem(where, str(exc), file, i)], where=where))
            continue
        candidates.append(Candidate(i, file, record=record, where=where))
    return candidates


def load_lavdf(root: str | Path, *, metadata: str | Path | None = None, splits: str | Sequence[str] | None = None,
               start: int = 0, count: int | None = None, max_videos: int | None = None,
               skip_invalid: bool = False, check_files: bool = True, fps: float = LAVDF_FPS,
               period_tolerance: float = PERIOD_TOLERANCE) -> Records:
    """Records of a LAV-DF dataset rooted at ``root`` (see the module docstring for the rules).

    ``metadata``: the metadata file (default ``ROOT/metadata.min.json``, else ``metadata.json``; a
    sharded copy such as ``metadata_shards/train_part1.json`` works, its ``file`` paths stay
    relative to ``root``). ``splits``/``start``/``count``/``max_videos``: selection
    (:func:`~voca_data.sources.select.select`). ``skip_invalid``: leave bad records out and report
    them instead of refusing the manifest. ``check_files``: check the selected files exist inside
    the root. ``fps``: the store's frame rate (``n_frames`` is scaled from LAV-DF's 25 fps).

    >>> records = load_lavdf("/data/LAV-DF", splits=["test"])          # doctest: +SKIP
    """
    if not (is_number(fps) and fps > 0):
        raise ValueError(f"fps must be > 0, got {fps!r}")
    path = find_metadata(root, metadata)
    if not math.isfinite(period_tolerance) or period_tolerance < 0:
        raise ValueError(f"period_tolerance must be >= 0, got {period_tolerance}")
    return _load(root, path, float(fps), float(period_tolerance), skip_invalid=skip_invalid,
                 check_files=check_files, splits=splits, start=start, count=count, max_videos=max_videos)


def _load(root: str | Path, path: Path, fps: float, period_tolerance: float, **finish_options: Any) -> Records:
    try:
        with open(path, "rb") as fh:
            items = json.load(fh)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"LAV-DF metadata {path} is not valid JSON: {exc.msg} at line {exc.lineno} "
                            f"column {exc.colno}") from exc
    except UnicodeDecodeError as exc:
        raise ManifestError(f"LAV-DF metadata {path} is not UTF-8 text: {exc}") from exc
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4300 digits
        raise ManifestError(f"LAV-DF metadata {path} cannot be read as JSON: "
                            f"{str(exc).splitlines()[0][:200]}") from exc
    if not isinstance(items, list):
        raise ManifestError(f"LAV-DF metadata {path} must be a JSON list of records, not a "
                            f"{type(items).__name__}")
    candidates = _parse(items, fps, period_tolerance, os.path.basename(path))
    del items
    return finish("LAV-DF", root, candidates, manifest=path, **finish_options)
