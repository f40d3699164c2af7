"""The CPU stage's work on one video: decode (PyAV), track the face, cut the lower-face crops.

:func:`prepare_video` returns a :class:`Prepared` (or the reason the video failed). It imports
no torch: CPU worker processes stay small (numpy, OpenCV, PyAV).

>>> from voca_data.extract import ExtractConfig
>>> prep = prepare_video(0, record, root, ExtractConfig(detector="center"), 512, 64)  # doctest: +SKIP
>>> prep.crops.shape
(50, 64, 64, 3)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..records import VideoRecord
from .config import ExtractConfig

__all__ = ["Prepared", "prepare_video"]


@dataclass
class Prepared:
    """A decoded video with its face track and crops (or the reason it failed)."""

    k: int
    error: str = ""
    notes: list[str] = field(default_factory=list)
    n_frames: int = 0
    duration: float = float("nan")
    source_fps: float = float("nan")
    audio: np.ndarray | None = None
    boxes: np.ndarray | None = None
    scores: np.ndarray | None = None
    crops: np.ndarray | None = None
    seconds: float = 0.0


def _relative_message(exc: BaseException, full: Path, rel: str) -> str:
    return str(exc).replace(str(full), rel)


def prepare_video(k: int, record: VideoRecord, root: Path, config: ExtractConfig, max_frames: int,
                  crop_size: int, detector: Any = None) -> Prepared:
    """Decode ``record`` (under ``root``), track its face and crop the lower face.

    ``detector``: a face detector to use (a CPU worker keeps its own); ``None`` borrows one from
    this process's pool. A failure is returned (``error``), never raised.
    """
    from ..faces import lower_face_crops, track_faces
    from ..media import MediaError, decode

    t0 = time.perf_counter()
    full = root / record.path
    out = Prepared(k)
    try:
        video = decode(full, fps=config.fps, audio_rate=config.audio_rate, max_frames=max_frames,
                       threads=1)
    except MediaError as e:
        out.error = _relative_message(e, full, record.path)
        return out
    except Exception as e:  # noqa: BLE001 - any decoder crash is this video's failure
        out.error = f"{record.path}: decoding failed: {type(e).__name__}: {e}"
        return out
    if video.n_frames < 1:
        out.error = f"{record.path}: zero frames: nothing on the store timeline"
        return out
    try:
        if detector is None:
            from .models import _detector

            with _detector(config) as det:
                track = track_faces(video.frames, det, every=config.detect_every)
        else:
            track = track_faces(video.frames, detector, every=config.detect_every)
        crops = lower_face_crops(video.frames, track, crop_size)
    except Exception as e:  # noqa: BLE001
        out.error = f"{record.path}: face tracking failed: {type(e).__name__}: {e}"
        return out
    out.notes = [_relative_message(Exception(n), full, record.path)
                 for n in [*video.notes, *getattr(track, "notes", [])]]
    out.n_frames = int(video.n_frames)
    out.duration = float(video.duration)
    out.source_fps = float(video.source_fps)
    out.audio = video.audio
    out.boxes = np.asarray(track.boxes, np.float32)
    out.scores = np.asarray(track.scores, np.float32)
    out.crops = crops
    out.seconds = time.perf_counter() - t0
    return out
