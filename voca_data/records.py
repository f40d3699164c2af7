"""The manifest: one :class:`VideoRecord` per video, and the frame-label rule.

A source (LAV-DF metadata, Multi-FFDV label files, a folder) turns its on-disk layout into a list
of ``VideoRecord``; the writer turns that list into a store's per-video variables.

Example
-------
>>> from voca_data.records import VideoRecord, frame_labels
>>> rec = VideoRecord("test/000001", "test/000001.mp4", "test", label=1,
...                   fake_periods=((0.2, 0.6),))
>>> frame_labels(rec.fake_periods, n_frames=20, fps=25).tolist()[:16]
[0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any

import numpy as np

__all__ = ["LABEL_TOLERANCE", "MAX_VIDEO_SECONDS", "ManifestError", "VideoRecord", "check_relative_path", "frame_labels",
           "timeline_notes", "video_frame_labels"]


#: longest video any metadata may claim (24 h): larger durations, frame counts or period bounds are
#: refused before anything is allocated from them
MAX_VIDEO_SECONDS = 24 * 3600.0

#: seconds by which metadata (a frame count, a period's end) may disagree with the media's own
#: timeline before the video gets a note (a failure under ``strict``)
LABEL_TOLERANCE = 0.05


class ManifestError(ValueError):
    """A manifest (or one record of it) is invalid; the message names the record."""


@dataclass(frozen=True)
class VideoRecord:
    """One video of a dataset, as its source describes it.

    Parameters
    ----------
    video_id:
        Stable identifier, unique in the dataset (LAV-DF: ``"test/000001"``).
    path:
        Media file relative to the dataset root, POSIX separators, never absolute, never ``..``.
    split:
        The source's own split name (``train``/``dev``/``test``, ``trainset``, ``val`` ...).
    label:
        1 fake, 0 real, -1 unknown.
    fake_periods:
        Fake intervals ``(start, end)`` in seconds, sorted, each ``0 <= start < end``.
    modify_video, modify_audio:
        LAV-DF's flags (1/0), -1 where the source has none.
    duration:
        Duration the *metadata* claims, in seconds (the extractor measures the media itself).
    n_frames:
        Frame count the metadata claims on the store timeline, if any.
    """

    video_id: str
    path: str
    split: str
    label: int = -1
    fake_periods: tuple[tuple[float, float], ...] = ()
    modify_video: int = -1
    modify_audio: int = -1
    duration: float | None = None
    n_frames: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        periods = tuple((float(s), float(e)) for s, e in self.fake_periods)
        object.__setattr__(self, "fake_periods", periods)
        for name in ("video_id", "path", "split"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ManifestError(f"record {self.video_id!r}: {name} must be a non-empty string")
        if self.label not in (-1, 0, 1):
            raise ManifestError(f"record {self.video_id!r}: label must be -1, 0 or 1, not {self.label!r}")
        for s, e in periods:
            if not (math.isfinite(s) and math.isfinite(e)) or s < 0 or e <= s:
                raise ManifestError(
                    f"record {self.video_id!r}: fake period [{s}, {e}] must satisfy 0 <= start < end"
                )
            if e > MAX_VIDEO_SECONDS:
                raise ManifestError(f"record {self.video_id!r}: fake period [{s:g}, {e:g}] lies beyond "
                                    f"{MAX_VIDEO_SECONDS:g} s (24 h), the longest video voca accepts")
        if self.duration is not None and not 0 <= self.duration <= MAX_VIDEO_SECONDS:
            raise ManifestError(f"record {self.video_id!r}: duration {self.duration:g} s is outside "
                                f"[0, {MAX_VIDEO_SECONDS:g}] (24 h)")
        check_relative_path(self.path, what=f"record {self.video_id!r}")

    @property
    def n_fakes(self) -> int:
        return len(self.fake_periods)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fake_periods"] = [list(p) for p in self.fake_periods]
        return d


def check_relative_path(path: str, what: str = "path") -> str:
    """Refuse absolute paths, ``..`` components and backslashes; return the path unchanged."""
    if "\\" in path:
        raise ManifestError(f"{what}: path {path!r} uses backslashes; use '/' separators")
    p = PurePosixPath(path)
    if p.is_absolute():
        raise ManifestError(f"{what}: path {path!r} is absolute; paths must be relative to the dataset root")
    if any(part == ".." for part in p.parts):
        raise ManifestError(f"{what}: path {path!r} contains '..'; paths must stay inside the dataset root")
    return path


def frame_labels(
    fake_periods: Iterable[Sequence[float]], n_frames: int, fps: float
) -> np.ndarray:
    """Per-frame labels on the store timeline (int8, 1 fake, 0 real).

    Frame ``t`` covers ``[t/fps, (t+1)/fps)``; it is fake iff its centre ``(t + 0.5)/fps`` lies in
    some half-open period ``[start, end)``. This is the one place the rule lives.
    """
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    centres = (np.arange(n_frames, dtype=np.float64) + 0.5) / float(fps)
    labels = np.zeros(n_frames, dtype=np.int8)
    for start, end in fake_periods:
        labels[(centres >= float(start)) & (centres < float(end))] = 1
    return labels


def video_frame_labels(
    label: int, fake_periods: Iterable[Sequence[float]], n_frames: int, fps: float
) -> np.ndarray:
    """Frame labels of one video, with unknowns: all -1 when the video's label is unknown (-1) or
    when it is fake but its fake periods are not known (e.g. Multi-FFDV, which labels whole
    videos), else :func:`frame_labels`. Never a silently "real" frame of a fake video.
    """
    periods = [tuple(p) for p in fake_periods]
    if label == -1 or (label == 1 and not periods):
        return np.full(n_frames, -1, dtype=np.int8)
    return frame_labels(periods, n_frames, fps)


def timeline_notes(
    label: int, fake_periods: Iterable[Sequence[float]], n_frames: int, fps: float,
    metadata_frames: int | None = None, tolerance: float = LABEL_TOLERANCE,
) -> list[str]:
    """Where a video's metadata disagrees with its media (``n_frames`` decoded frames at ``fps``):
    each disagreement is one sentence (empty list: none). The media's timeline decides the
    labels; these notes say when the metadata's own timeline would have given others.

    * ``metadata_frames`` (the metadata's frame count on the store timeline) off by more than
      ``tolerance`` seconds;
    * a fake period ending after the media by more than ``tolerance``;
    * a fake video (label 1, periods known) of which no frame lies in a fake period.

    >>> timeline_notes(1, [(5.0, 6.0)], n_frames=100, fps=25)[1]
    'labelled fake but none of its 100 frames lies in a fake period'
    """
    notes: list[str] = []
    end = n_frames / float(fps)
    if metadata_frames is not None and abs(int(metadata_frames) - n_frames) / fps > tolerance:
        notes.append(f"the metadata says {int(metadata_frames)} frames, the media has {n_frames}")
    periods = [(float(s), float(e)) for s, e in fake_periods]
    late = [p for p in periods if p[1] > end + tolerance]
    if late:
        notes.append(f"fake period(s) {', '.join(f'[{s:g}, {e:g}]' for s, e in late)} end after "
                     f"the media ({end:.3f} s)")
    if label == 1 and periods and not frame_labels(periods, n_frames, fps).any():
        notes.append(f"labelled fake but none of its {n_frames} frames lies in a fake period")
    return notes
