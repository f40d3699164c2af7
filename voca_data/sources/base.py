"""What every source shares: problems, the validated result (:class:`Records`), the checks that run
on every manifest (duplicates, paths inside the root, files that exist) and the refuse-or-skip rule.

A source parses its layout into *candidates* — one :class:`Candidate` per listed video, holding
either a :class:`~voca_data.records.VideoRecord` or the problems that stopped one being made — and
hands them to :func:`finish`, which

1. checks duplicates (same file or same ``video_id``) over the whole manifest,
2. refuses the manifest (raises :class:`~voca_data.records.ManifestError` listing every problem,
   capped at :data:`MAX_LISTED`) unless ``skip_invalid``, in which case bad records are left out and
   reported (logged, and kept in :attr:`Records.problems`),
3. applies the selection (:func:`voca_data.sources.select.select`),
4. checks the selected files on disk: each must exist and must not resolve (through symlinks)
   outside the dataset root — the same refuse-or-skip rule applies.

Example
-------
>>> from voca_data.sources.base import Candidate, finish
>>> from voca_data.records import VideoRecord
>>> recs = finish("demo", root, [Candidate(0, "a.mp4", VideoRecord("a", "a.mp4", "train", 0))],
...               check_files=False)                                           # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..records import MAX_VIDEO_SECONDS

from ..records import ManifestError, VideoRecord

log = logging.getLogger(__name__)

__all__ = [
    "MAX_LISTED",
    "MAX_VIDEO_SECONDS",
    "PERIOD_TOLERANCE",
    "VIDEO_EXTENSIONS",
    "Candidate",
    "Problem",
    "Records",
    "check_inside_root",
    "check_periods",
    "finish",
    "walk_media",
]

#: how many problems an error message lists before "... and N more"
MAX_LISTED = 20
#: seconds a fake period may start before 0 or end after the video before it is an error (such
#: periods are clipped to the video; the labels of existing frames do not change)
PERIOD_TOLERANCE = 0.05
#: media files a folder source picks up (case-insensitive)
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")


def walk_media(folder: Path, root: Path | None = None) -> list[str]:
    """Media files (:data:`VIDEO_EXTENSIONS`) under ``folder``, hidden files and folders skipped,
    as sorted POSIX paths relative to ``root`` (default: ``folder``)."""
    root = folder if root is None else root
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in filenames:
            if not f.startswith(".") and f.lower().endswith(VIDEO_EXTENSIONS):
                found.append(os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/"))
    return sorted(found)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest or one of its records.

    ``where`` locates it in the manifest (``"metadata.min.json record 12"``, ``"trainset_label.txt
    line 5"``); ``file`` is the record's media file when known.
    """

    where: str
    message: str
    file: str | None = None
    index: int | None = None

    def __str__(self) -> str:
        file = f" ({self.file})" if self.file else ""
        return f"{self.where}{file}: {self.message}"


@dataclass
class Candidate:
    """A listed video: its record, or the problems that kept it from being one."""

    index: int
    file: str | None
    record: VideoRecord | None = None
    problems: list[Problem] = field(default_factory=list)
    where: str = ""


class Records(list):
    """A validated manifest: a plain ``list[VideoRecord]`` that also carries the source's name, the
    dataset root and the problems skipped with ``skip_invalid`` (empty otherwise).

    >>> recs = voca_data.sources.load("lavdf", "LAV-DF")     # doctest: +SKIP
    >>> len(recs), recs.problems[:1]                          # doctest: +SKIP
    """

    def __init__(self, records: Iterable[VideoRecord] = (), *, source: str = "", root: Path | None = None,
                 problems: Sequence[Problem] = (), manifest: Path | None = None,
                 manifests: Sequence[Path] = (), n_listed: int | None = None) -> None:
        super().__init__(records)
        self.source = source
        self.root = root
        self.problems: list[Problem] = list(problems)
        self.manifest = manifest  # the metadata / label file read, if exactly one
        self.manifests: list[Path] = list(manifests) or ([manifest] if manifest else [])
        self.n_listed = n_listed  # records listed by the source before selection

    def report(self) -> str:
        """One line per skipped problem (empty string when nothing was skipped)."""
        return "\n".join(str(p) for p in self.problems)


def problems_message(source: str, root: Path, problems: Sequence[Problem]) -> str:
    head = f"{source} dataset {root}: {len(problems)} problem{'s' if len(problems) != 1 else ''}"
    lines = [f"  - {p}" for p in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        lines.append(f"  ... and {len(problems) - MAX_LISTED} more")
    tail = ("Fix the manifest, or pass --skip-invalid (skip_invalid=True) to leave the bad records out "
            "and get them as a report.")
    return "\n".join([head + ":", *lines, tail])


def refuse(source: str, root: Path, problems: Sequence[Problem]) -> ManifestError:
    """A :class:`ManifestError` listing ``problems`` (also available as ``error.problems``)."""
    error = ManifestError(problems_message(source, root, problems))
    error.problems = list(problems)  # type: ignore[attr-defined]
    return error


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool; an int too large for a float is not a number)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # a JSON integer such as 10**400
        return False


def short_repr(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters (a 400-digit number stays one short line)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def check_periods(periods: Any, limit: float | None, clip_to: float | None,
                  tolerance: float = PERIOD_TOLERANCE) -> tuple[list[tuple[float, float]], list[str]]:
    """Validate fake periods (a list of ``[start, end]`` seconds). Returns (sorted periods clipped to
    ``[0, clip_to]``, messages). A start below 0 or an end past ``limit`` by at most ``tolerance``
    seconds is clipped; by more, it is an error. A period left empty by the clip is an error."""
    errors: list[str] = []
    out: list[tuple[float, float]] = []
    if not isinstance(periods, list):
        return [], [f"fake_periods must be a list of [start, end], not {type(periods).__name__}"]
    for j, p in enumerate(periods):
        if not (isinstance(p, (list, tuple)) and len(p) == 2 and all(is_number(v) for v in p)):
            errors.append(f"fake period {j} must be [start, end] in seconds, not {short_repr(p)}")
            continue
        s, e = float(p[0]), float(p[1])
        if max(abs(s), abs(e)) > MAX_VIDEO_SECONDS:
            errors.append(f"fake period {j} [{s:g}, {e:g}] lies beyond {MAX_VIDEO_SECONDS:g} s "
                          "(24 h), the longest video voca accepts")
            continue
        if e <= s:
            errors.append(f"fake period {j} [{s}, {e}] is inverted or empty (end <= start)")
            continue
        if s < -tolerance:
            errors.append(f"fake period {j} [{s}, {e}] starts before 0 (tolerance {tolerance} s)")
            continue
        if limit is not None and e > limit + tolerance:
            errors.append(f"fake period {j} [{s}, {e}] ends after the video ({limit:.3f} s, "
                          f"tolerance {tolerance} s)")
            continue
        s = max(s, 0.0)
        if clip_to is not None:
            e = min(e, clip_to)
            if e <= s:
                errors.append(f"fake period {j} [{p[0]}, {p[1]}] lies after the last frame ({clip_to:.3f} s)")
                continue
        out.append((s, e))
    out.sort()
    return out, errors


def check_inside_root(root_real: str, path: str, dir_cache: dict[str, str] | None = None) -> str | None:
    """``None`` if ``root/path`` exists and resolves (following symlinks) inside ``root_real`` (the
    root's realpath); otherwise what is wrong. Parent directories are resolved once (``dir_cache``)
    so checking 100k files costs about one ``lstat`` each."""
    full = os.path.join(root_real, path)
    parent = os.path.dirname(full)
    cache = dir_cache if dir_cache is not None else {}
    real_parent = cache.get(parent)
    if real_parent is None:
        real_parent = cache[parent] = os.path.realpath(parent)
    prefix = root_real.rstrip(os.sep) + os.sep
    if not (real_parent + os.sep).startswith(prefix):
        return f"its folder resolves to {real_parent}, outside the dataset root {root_real}"
    candidate = os.path.join(real_parent, os.path.basename(full))
    try:
        st = os.lstat(candidate)
    except FileNotFoundError:
        return "listed file does not exist"
    except OSError as exc:
        return f"cannot stat the file: {exc}"
    if os.path.stat.S_ISLNK(st.st_mode):
        target = os.path.realpath(candidate)
        if not target.startswith(prefix):
            return f"is a symlink to {target}, outside the dataset root {root_real}"
        if not os.path.exists(target):
            return f"is a broken symlink (to {target})"
        if not os.path.isfile(target):
            return "is not a file"
    elif not os.path.stat.S_ISREG(st.st_mode):
        return "is not a file"
    return None


#: a folder with at least this many selected files is listed once (``os.scandir``) instead of one
#: ``lstat`` per file
_SCAN_THRESHOLD = 64


def check_files_inside_root(root_real: str, paths: Sequence[str]) -> list[str | None]:
    """:func:`check_inside_root` for many paths: ``None`` or what is wrong, per path. Folders with
    many selected files are read once with ``os.scandir`` (no ``stat`` per regular file)."""
    groups: dict[str, list[int]] = {}
    for i, path in enumerate(paths):
        groups.setdefault(os.path.dirname(path), []).append(i)
    out: list[str | None] = [None] * len(paths)
    cache: dict[str, str] = {}
    prefix = root_real.rstrip(os.sep) + os.sep
    for folder, indices in groups.items():
        if len(indices) < _SCAN_THRESHOLD:
            for i in indices:
                out[i] = check_inside_root(root_real, paths[i], cache)
            continue
        full = os.path.join(root_real, folder)
        real_folder = os.path.realpath(full)
        if not (real_folder + os.sep).startswith(prefix):
            for i in indices:
                out[i] = f"its folder resolves to {real_folder}, outside the dataset root {root_real}"
            continue
        try:
            with os.scandir(real_folder) as it:
                entries = {e.name: e for e in it}
        except FileNotFoundError:
            entries = {}
        except OSError as exc:
            for i in indices:
                out[i] = f"cannot list its folder: {exc}"
            continue
        for i in indices:
            entry = entries.get(os.path.basename(paths[i]))
            if entry is None:
                out[i] = "listed file does not exist"
            elif entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                out[i] = check_inside_root(root_real, paths[i], cache)
    return out


def finish(source: str, root: str | Path, candidates: Sequence[Candidate], *, skip_invalid: bool = False,
           check_files: bool = True, manifest: Path | None = None, manifests: Sequence[Path] = (),
           splits: Sequence[str] | str | None = None,
           start: int = 0, count: int | None = None, max_videos: int | None = None) -> Records:
    """Validate across records, refuse or skip, select, check files. See the module docstring."""
    from .select import select

    root = Path(root)
    prefix = manifest.name if manifest is not None else source

    def where(c: Candidate) -> str:
        return c.where or f"{prefix} record {c.index}"

    problems: list[Problem] = []
    good: list[Candidate] = []
    for c in candidates:
        if c.problems or c.record is None:
            problems.extend(c.problems or [Problem(where(c), "invalid record", c.file, c.index)])
        else:
            good.append(c)
    # duplicates over the whole manifest (first occurrence kept, later ones reported)
    seen_path: dict[str, Candidate] = {}
    seen_id: dict[str, Candidate] = {}
    unique: list[Candidate] = []
    for c in good:
        r = c.record
        assert r is not None
        first = seen_path.get(r.path) or seen_id.get(r.video_id)
        if first is not None:
            what = "file" if r.path in seen_path else "video_id"
            value = r.path if what == "file" else r.video_id
            problems.append(Problem(where(c), f"duplicate {what} {value!r} (first listed at {where(first)})",
                                    c.file, c.index))
            continue
        seen_path[r.path] = c
        seen_id[r.video_id] = c
        unique.append(c)
    if problems and not skip_invalid:
        raise refuse(source, root, problems)

    selected = select([c.record for c in unique], splits=splits, start=start, count=count,  # type: ignore[misc]
                      max_videos=max_videos)
    if check_files and selected:
        by_id = {c.record.video_id: c for c in unique}  # type: ignore[union-attr]
        root_real = os.path.realpath(root)
        if not os.path.isdir(root_real):
            raise FileNotFoundError(f"{source} dataset root {root} is not a directory")
        file_problems = []
        kept = []
        for r, wrong in zip(selected, check_files_inside_root(root_real, [r.path for r in selected])):
            if wrong is None:
                kept.append(r)
            else:
                c = by_id[r.video_id]
                file_problems.append(Problem(where(c), wrong, c.file, c.index))
        if file_problems and not skip_invalid:
            raise refuse(source, root, file_problems)
        problems.extend(file_problems)
        selected = kept
    if problems:
        log.warning("%s dataset %s: skipped %d invalid record(s):\n%s", source, root, len(problems),
                    "\n".join(f"  - {p}" for p in problems[:MAX_LISTED])
                    + (f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""))
    log.info("%s dataset %s: %d video(s) selected of %d listed", source, root, len(selected), len(candidates))
    return Records(selected, source=source, root=root, problems=problems, manifest=manifest,
                   manifests=manifests, n_listed=len(candidates))
