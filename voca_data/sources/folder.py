"""Any folder of real and fake videos.

Two layouts::

    ROOT/<split>/real/**/*.mp4     ROOT/<split>/fake/**/*.mp4       (splits given by folders)
    ROOT/real/**/*.mp4             ROOT/fake/**/*.mp4               (split by a hash, see below)

Media extensions: ``.mp4 .avi .mov .mkv .webm`` (any case). Hidden files and folders (``.x``) are
skipped; symlinked *folders* are not followed; symlinked files are accepted when they resolve
inside the root.

Without split folders, a video's split is a deterministic function of its relative path and
``seed``: ``u = sha1(f"{seed}:{path}")`` read as a number in [0, 1), compared with the cumulative
``ratios`` (default 0.8 / 0.1 / 0.1 for ``train`` / ``dev`` / ``test``). Adding or removing other
videos never moves a video to another split.

An optional sidecar JSON next to a video, ``<name>.json`` (or ``<name>.mp4.json``), gives its fake
periods in seconds: ``{"fake_periods": [[0.5, 1.2], ...]}``, optionally ``"duration"`` (seconds)
to check them against. A fake video without a sidecar is labelled fake with unknown frame labels
(``extra["periods_known"] = False``).

``video_id`` = the relative path without its extension (``train/fake/clip01``); ``label`` = 1
under ``fake/``, 0 under ``real/``; LAV-DF flags -1. Records come in path order.

Validated: the layout is unambiguous; per video: its sidecar is valid JSON with a valid
``fake_periods`` list (not negative, inverted, or past ``duration`` beyond the tolerance); a real
video's sidecar has no periods; a fake's sidecar does not list zero periods; no two videos share a
``video_id`` (``a.mp4`` and ``a.avi``); files inside the root.

Example
-------
>>> from voca_data.sources import load
>>> load("folder", "/data/my_clips", ratios=(0.7, 0.15, 0.15), seed=1)      # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ..records import ManifestError, VideoRecord
from .base import (
    MAX_VIDEO_SECONDS,
    PERIOD_TOLERANCE,
    Candidate,
    Problem,
    Records,
    check_inside_root,
    check_periods,
    finish,
    is_number,
    short_repr,
    walk_media,
)

log = logging.getLogger(__name__)

__all__ = ["CLASSES", "hash_split", "load_folder"]

CLASSES = {"real": 0, "fake": 1}
DEFAULT_RATIOS = (0.8, 0.1, 0.1)
DEFAULT_SPLIT_NAMES = ("train", "dev", "test")


def hash_split(path: str, ratios: Sequence[float] = DEFAULT_RATIOS,
               names: Sequence[str] = DEFAULT_SPLIT_NAMES, seed: int = 0) -> str:
    """The split of ``path`` (a relative POSIX path) for the flat layout.

    >>> hash_split("fake/a.mp4") in ("train", "dev", "test")
    True
    """
    weights = _check_ratios(ratios, names)
    digest = hashlib.sha1(f"{seed}:{path}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0 ** 64
    total = 0.0
    for name, w in zip(names, weights):
        total += w
        if u < total:
            return name
    return names[max(i for i, w in enumerate(weights) if w > 0)]


def _check_ratios(ratios: Sequence[float], names: Sequence[str]) -> list[float]:
    r = [float(x) for x in ratios]
    if len(r) != len(names) or any(not is_number(x) or x < 0 for x in r) or sum(r) <= 0:
        raise ValueError(f"ratios must be {len(names)} non-negative numbers ({', '.join(names)}) with a "
                         f"positive sum, not {list(ratios)!r}")
    s = sum(r)
    return [x / s for x in r]


def _sidecar(root: Path, rel: str) -> str | None:
    stem = rel.rsplit(".", 1)[0]
    for candidate in (stem + ".json", rel + ".json"):
        if (root / candidate).is_file():
            return candidate
    return None


def _record(root: Path, root_real: str, rel: str, split: str, label: int, index: int,
            tolerance: float) -> Candidate:
    where = rel
    video_id = rel.rsplit(".", 1)[0]
    sidecar = _sidecar(root, rel)
    periods: list[tuple[float, float]] = []
    extra: dict = {}
    errors: list[str] = []
    if sidecar is not None:
        wrong = check_inside_root(root_real, sidecar)
        data = None
        if wrong:
            errors.append(f"sidecar {sidecar}: {wrong}")
        else:
            try:
                data = json.loads((root / sidecar).read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                errors.append(f"sidecar {sidecar} is not valid JSON: {exc}")
        if data is not None:
            if not isinstance(data, dict) or "fake_periods" not in data:
                errors.append(f"sidecar {sidecar} must be a JSON object with a 'fake_periods' list")
            else:
                duration = data.get("duration")
                if duration is not None and not (is_number(duration) and 0 < duration <= MAX_VIDEO_SECONDS):
                    errors.append(f"sidecar {sidecar}: duration must be a number > 0 and at most "
                                  f"{MAX_VIDEO_SECONDS:g} s, not {short_repr(duration)}")
                    duration = None
                periods, period_errors = check_periods(data["fake_periods"], duration, duration, tolerance)
                errors.extend(f"sidecar {sidecar}: {e}" for e in period_errors)
                if not period_errors and isinstance(data["fake_periods"], list):
                    if label == 0 and data["fake_periods"]:
                        errors.append(f"sidecar {sidecar} gives fake periods for a video under real/")
                    if label == 1 and not data["fake_periods"]:
                        errors.append(f"sidecar {sidecar} gives no fake periods for a video under fake/ "
                                      f"(remove the sidecar if its periods are unknown)")
                if duration is not None:
                    extra["metadata_duration"] = float(duration)
        extra["sidecar"] = sidecar
    elif label == 1:
        extra["periods_known"] = False
    record = None
    if not errors:
        try:
            record = VideoRecord(video_id=video_id, path=rel, split=split, label=label,
                                 fake_periods=tuple(periods), extra=extra)
        except ManifestError as exc:
            errors.append(str(exc).split(": ", 1)[-1])
    return Candidate(index, rel, record=record, where=where,
                     problems=[Problem(where, e, rel, index) for e in errors])


def load_folder(root: str | Path, *, ratios: Sequence[float] = DEFAULT_RATIOS, seed: int = 0,
                split_names: Sequence[str] = DEFAULT_SPLIT_NAMES, splits: str | Sequence[str] | None = None,
                start: int = 0, count: int | None = None, max_videos: int | None = None,
                skip_invalid: bool = False, check_files: bool = True,
                period_tolerance: float = PERIOD_TOLERANCE) -> Records:
    """Records of a folder dataset rooted at ``root`` (layouts in the module docstring).

    ``ratios``/``seed``/``split_names``: the hash split of the flat layout. Selection,
    ``skip_invalid`` and ``check_files`` as for every source.

    >>> load_folder("/data/my_clips", splits="test")          # doctest: +SKIP
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"folder dataset root {root} is not a directory")
    _check_ratios(ratios, split_names)
    root_real = os.path.realpath(root)
    flat = [c for c in CLASSES if (root / c).is_dir()]
    nested = sorted(d.name for d in root.iterdir()
                    if d.is_dir() and not d.name.startswith(".") and d.name not in CLASSES
                    and any((d / c).is_dir() for c in CLASSES))
    if flat and nested:
        raise ManifestError(f"folder dataset {root} is ambiguous: it has both {'/, '.join(flat)}/ at the top "
                            f"and split folders {nested} holding real/ or fake/; use one layout")
    if not flat and not nested:
        raise FileNotFoundError(f"folder dataset {root}: no real/ or fake/ folders (expected "
                                f"ROOT/<split>/{{real,fake}}/ or ROOT/{{real,fake}}/)")
    found: list[tuple[str, str, int]] = []  # (relative path, split, label)
    if flat:
        for cls in flat:
            found += [(rel, hash_split(rel, ratios, split_names, seed), CLASSES[cls])
                      for rel in walk_media(root / cls, root)]
    else:
        for split in nested:
            for cls, label in CLASSES.items():
                if (root / split / cls).is_dir():
                    found += [(rel, split, label) for rel in walk_media(root / split / cls, root)]
    found.sort()  # path order
    candidates = [_record(root, root_real, rel, split, label, i, period_tolerance)
                  for i, (rel, split, label) in enumerate(found)]
    if not candidates:
        log.warning("folder dataset %s: no videos found", root)
    return finish("folder", root, candidates, skip_invalid=skip_invalid, check_files=check_files,
                  splits=splits, start=start, count=count, max_videos=max_videos)
