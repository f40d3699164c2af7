"""Decode a video file with PyAV: frames on the store's timeline, audio as 16 kHz mono float.

>>> from voca_data.media import decode, probe
>>> info = probe("clip.mp4")                      # doctest: +SKIP
>>> video = decode("clip.mp4", fps=25.0)          # doctest: +SKIP
>>> video.frames.shape, video.audio.shape         # doctest: +SKIP
((250, 224, 224, 3), (160000,))

Timeline rule
-------------
Store frame ``t`` covers ``[t / fps, (t + 1) / fps)``. It shows the source frame that is *on
screen at the centre* of that interval, ``(t + 0.5) / fps``: the last source frame whose
presentation time is <= the centre (times measured from the first video frame). This is the same
centre rule :func:`voca_data.frame_labels` uses, it has no ties for same-rate sources (frame ``t``
of a 25 fps source is store frame ``t``), and it works for 30 fps and variable-frame-rate
sources. ``n_frames = round(duration * fps)`` where ``duration`` is measured from the media:
last frame's time + its duration (the packet/frame duration, else the median source interval),
never trusted from container metadata.

Audio is decoded from the first audio stream, resampled with PyAV's ``AudioResampler`` to
``audio_rate`` mono float32, placed on the same time origin as the video (a stream that starts
later is padded with silence at the front, one that starts earlier is trimmed), then padded or
trimmed to ``round(duration * audio_rate)`` samples.

Rotation: the display matrix (PyAV ``VideoFrame.rotation``, degrees counter-clockwise, as phones
write it) is applied to the pixels, in multiples of 90 degrees; width/height are reported after
rotation. Flips in the display matrix are not applied.

Failures raise :class:`MediaError` whose message names the file and says what is wrong
(missing, unreadable, empty, not a video, corrupt, truncated, no video stream, zero frames).
"""

from __future__ import annotations

import logging
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["DecodedVideo", "MediaError", "decode", "probe"]

#: reasons a :class:`MediaError` can carry (``error.reason``)
REASONS = ("missing", "unreadable", "empty", "not_a_video", "corrupt", "truncated", "no_video",
           "zero_frames")


class MediaError(Exception):
    """A media file that cannot be used. ``str(e)`` names the file and says what is wrong;
    ``e.reason`` is one of :data:`REASONS`, ``e.path`` the file.

    >>> raise MediaError("x.mp4", "missing", "no such file")   # doctest: +SKIP
    MediaError: x.mp4: missing: no such file
    """

    def __init__(self, path: str | os.PathLike, reason: str, detail: str = ""):
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        text = f"{self.path}: {reason.replace('_', ' ')}"
        super().__init__(f"{text}: {detail}" if detail else text)

    def __reduce__(self):  # picklable across dask workers
        return (MediaError, (self.path, self.reason, self.detail))


@dataclass
class DecodedVideo:
    """A decoded video on the store timeline.

    ``frames`` (n_frames, H, W, 3) uint8 RGB with rotation applied; ``audio`` (n_samples,) float32
    mono in [-1, 1] at ``audio_rate`` or None when the file has no audio stream; ``duration``
    seconds measured from the media; ``source_fps`` the measured mean source frame rate;
    ``notes`` human-readable remarks ("no audio stream", "variable frame rate ...").
    """

    frames: np.ndarray
    audio: np.ndarray | None
    n_frames: int
    duration: float
    source_fps: float
    width: int
    height: int
    notes: list[str] = field(default_factory=list)
    fps: float = 25.0
    audio_rate: int = 16000
    rotation: int = 0
    n_source_frames: int = 0
    path: str = ""
    scale: float = 1.0  # frame pixels per source pixel (< 1 when max_side downscaled the frames)


# --------------------------------------------------------------------------- file checks

_CONTAINER_MAGIC = (
    (4, b"ftyp"), (4, b"moov"), (4, b"mdat"), (4, b"free"), (4, b"wide"), (4, b"skip"),
    (0, b"\x1aE\xdf\xa3"), (0, b"RIFF"), (0, b"FLV"), (0, b"OggS"), (0, b"\x00\x00\x01\xba"),
    (0, b"\x00\x00\x01\xb3"), (0, b"\x30\x26\xb2\x75"),
)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise MediaError(path, "missing", "no such file; check the dataset root and the manifest")
    if path.is_dir():
        raise MediaError(path, "unreadable", "it is a directory, not a file")
    if not os.access(path, os.R_OK):
        raise MediaError(path, "unreadable", "permission denied; check the file's permissions")
    if path.stat().st_size == 0:
        raise MediaError(path, "empty", "the file has 0 bytes")


def _sniff(path: Path) -> tuple[bool, bool]:
    """(looks like a media container, looks like text) from the first bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False, False
    known = any(head[o:o + len(m)] == m for o, m in _CONTAINER_MAGIC)
    if not known and len(head) >= 189 and head[0] == 0x47 and head[188] == 0x47:
        known = True  # MPEG-TS sync bytes
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head)
    return known, bool(head) and printable / len(head) > 0.95


def _isobmff_truncation(path: Path) -> str | None:
    """For ISO BMFF (MP4/MOV) files: a message if a top-level box runs past the end of the file
    or the ``moov`` index is missing, else None."""
    size = path.stat().st_size
    pos = 0
    seen: list[str] = []
    try:
        with open(path, "rb") as f:
            while pos + 8 <= size:
                f.seek(pos)
                hdr = f.read(16)
                box_size = int.from_bytes(hdr[:4], "big")
                box_type = hdr[4:8].decode("latin-1")
                if box_size == 1 and len(hdr) >= 16:
                    box_size = int.from_bytes(hdr[8:16], "big")
                elif box_size == 0:
                    box_size = size - pos
                if box_size < 8 or not box_type.isprintable():
                    return None  # not a box structure we understand: let FFmpeg judge
                if pos + box_size > size:
                    return (f"box '{box_type}' at byte {pos} declares {box_size} bytes but the "
                            f"file ends after {size - pos}: the file was cut short")
                seen.append(box_type)
                pos += box_size
    except OSError:
        return None
    if seen and seen[0] == "ftyp" and "moov" not in seen:
        return "no 'moov' index box: the file was cut short or never finished writing"
    return None


def _open(path: Path):
    import av

    _check_file(path)
    try:
        return av.open(str(path), metadata_errors="ignore")
    except PermissionError as e:
        raise MediaError(path, "unreadable", str(e)) from e
    except (av.error.FFmpegError, OSError, ValueError) as e:
        known, text = _sniff(path)
        detail = f"FFmpeg: {getattr(e, 'strerror', None) or e}"
        if known:
            trunc = _isobmff_truncation(path)
            if trunc:
                raise MediaError(path, "truncated", trunc) from e
            raise MediaError(path, "corrupt",
                             f"a media container whose header/index cannot be read ({detail})"
                             ) from e
        kind = "a text file" if text else "no known media container"
        raise MediaError(path, "not_a_video", f"{kind} ({detail})") from e


# --------------------------------------------------------------------------- probe

def probe(path: str | os.PathLike, fps: float = 25.0) -> dict[str, Any]:
    """Container metadata only (fast): ``duration`` (s), ``source_fps``, ``n_frames_estimate``
    (on the ``fps`` timeline), ``has_audio``, ``width``, ``height`` (after rotation),
    ``rotation``, ``n_source_frames`` (declared, 0 if unknown), ``codec``. Reads at most one
    video frame (for the rotation; a video stream without any frame raises). Metadata can lie:
    :func:`decode` measures, and a truncated file may pass ``probe`` and fail ``decode``.

    >>> probe("clip.mp4")["has_audio"]     # doctest: +SKIP
    True
    """
    path = Path(path)
    container = _open(path)
    try:
        _require_video(path, container)
        vs = container.streams.video[0]
        duration = 0.0
        if vs.duration is not None and vs.time_base is not None:
            duration = float(vs.duration * vs.time_base)
        if duration <= 0 and container.duration:
            duration = container.duration / 1e6
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        source_fps = float(rate) if rate else 0.0
        declared = int(vs.frames or 0)
        if duration <= 0 and declared and source_fps:
            duration = declared / source_fps
        rotation = 0
        got_frame = False
        try:
            for frame in container.decode(vs):
                rotation, got_frame = _rotation(frame), True
                break
        except Exception:  # noqa: BLE001 - probe is best effort beyond the header
            got_frame = True
        if not got_frame:
            raise MediaError(path, "zero_frames", "the video stream holds no frames")
        width, height = int(vs.codec_context.width), int(vs.codec_context.height)
        if rotation % 180:
            width, height = height, width
        return {
            "path": str(path), "duration": duration, "source_fps": source_fps,
            "n_frames_estimate": int(round(duration * fps)), "n_source_frames": declared,
            "has_audio": bool(container.streams.audio), "width": width, "height": height,
            "rotation": rotation, "codec": vs.codec_context.name,
        }
    finally:
        container.close()


def _require_video(path: Path, container) -> None:
    if container.streams.video:
        return
    kinds = [s.type for s in container.streams]
    if not kinds:
        raise MediaError(path, "corrupt", "no stream could be read: the container's header or "
                         "index is damaged")
    raise MediaError(path, "no_video", f"the file has no video stream (streams: "
                     f"{', '.join(kinds)})")


def _rotation(frame) -> int:
    try:
        rot = int(round(float(frame.rotation or 0) / 90.0)) * 90
    except Exception:  # noqa: BLE001 - no display matrix
        return 0
    return rot % 360


def _rotate(img: np.ndarray, rotation: int) -> np.ndarray:
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(img, k=k)) if k else img


# --------------------------------------------------------------------------- decode

_EPS = 1e-6  # a source frame starting within 1 us after a centre counts as on screen (ties)


class _Timeline:
    """Places source frames (in presentation order) on the store timeline (centre rule)."""

    def __init__(self, fps: float, max_frames: int | None, max_side: int | None = None,
                 threads: int = 0):
        self.fps = fps
        self.threads = threads  # swscale threads of the RGB conversion (0: one per core)
        self.max_frames = max_frames
        self.max_side = max_side
        self.scale = 1.0
        self.source_size = (0, 0)  # coded (width, height) of the first converted frame
        self.out: list[np.ndarray] = []
        self.prev = None          # the av.VideoFrame currently on screen
        self.prev_img = None      # its RGB array, converted on first use
        self.rotation = 0

    def full(self) -> bool:
        return self.max_frames is not None and len(self.out) >= self.max_frames

    def _img(self) -> np.ndarray:
        if self.prev_img is None:
            self.rotation = _rotation(self.prev)
            self.prev_img = _rotate(self._convert(self.prev), self.rotation)
        return self.prev_img

    def _convert(self, frame) -> np.ndarray:
        w, h = int(frame.width), int(frame.height)
        if not self.source_size[0]:
            self.source_size = (w, h)
        if self.max_side and max(w, h) > self.max_side:
            self.scale = self.max_side / max(w, h)
            return frame.to_ndarray(format="rgb24", width=max(2, round(w * self.scale)),
                                    height=max(2, round(h * self.scale)), interpolation="AREA",
                                    threads=self.threads)
        return frame.to_ndarray(format="rgb24", threads=self.threads)

    def push(self, frame, time: float) -> None:
        if self.prev is not None:
            while not self.full() and (len(self.out) + 0.5) / self.fps < time - _EPS:
                self.out.append(self._img())
        self.prev, self.prev_img = frame, None

    def finish(self, n_frames: int) -> list[np.ndarray]:
        while self.prev is not None and len(self.out) < n_frames:
            self.out.append(self._img())
        return self.out[:n_frames]


def decode(path: str | os.PathLike, fps: float = 25.0, audio_rate: int = 16000,
           max_frames: int | None = None, audio: bool = True,
           max_side: int | None = None, threads: int = 0) -> DecodedVideo:
    """Decode ``path``: frames on the ``fps`` timeline and ``audio_rate`` mono float32 audio.

    ``max_frames`` keeps only the first ``max_frames`` store frames (and the audio under them);
    the rest of the file is then only demuxed, so ``duration`` is still the whole media's and
    a note says the video was cut. ``audio=False`` skips audio decoding (``audio`` is None).
    ``max_side`` downscales frames whose longer side exceeds it (swscale, area), bounding memory
    for high-resolution sources; ``scale`` then says frame pixels per source pixel (divide boxes
    found on the frames by it to get source pixels). ``threads`` is the number of FFmpeg threads
    of the decoder and of the swscale RGB conversion (0: FFmpeg's choice, one per core);
    extraction uses 1, since each CPU worker is meant to keep one core busy (the frames are the
    same either way, and so is the reason given for a broken file). swscale's threads hand every
    frame to a pool (about 8 context switches a frame): with one worker per core those wake-ups
    left cores idle while two workers waited on each other's threads.
    Raises :class:`MediaError` for unusable files.

    >>> v = decode("clip.mp4")                     # doctest: +SKIP
    >>> v.n_frames == round(v.duration * 25)       # doctest: +SKIP
    True
    """
    import av

    path = Path(path)
    container = _open(path)
    notes: list[str] = []
    try:
        _require_video(path, container)
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        if threads:
            vs.thread_count = int(threads)
        as_ = container.streams.audio[0] if (audio and container.streams.audio) else None
        if audio and as_ is None:
            notes.append("no audio stream")
        resampler = (av.AudioResampler(format="flt", layout="mono", rate=audio_rate)
                     if as_ is not None else None)
        declared = int(vs.frames or 0)
        rate = vs.average_rate or vs.guessed_rate
        nominal_interval = 1.0 / float(rate) if rate else 1.0 / fps

        timeline = _Timeline(fps, max_frames, max_side, threads=int(threads or 0))
        origin: float | None = None
        times: list[float] = []
        last_frame_duration = 0.0
        end_time = 0.0          # media end measured from packets after a max_frames cut
        video_errors: list[str] = []
        audio_chunks: list[np.ndarray] = []
        audio_start: float | None = None
        audio_errors = 0
        cut_time = (max_frames / fps) if max_frames is not None else None

        streams = [vs] + ([as_] if as_ is not None else [])
        try:
            packets = container.demux(*streams)
            for packet in packets:
                if packet.stream.type == "video":
                    if timeline.full():  # cut by max_frames: only measure the duration
                        if packet.pts is not None and packet.time_base is not None:
                            end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                            end_time = max(end_time, end)
                        continue
                    try:
                        frames = packet.decode()
                    except av.error.FFmpegError as e:
                        video_errors.append(f"frame {len(times)}: {e}")
                        continue
                    for frame in frames:
                        t = frame.time
                        if t is None:
                            t = (times[-1] + nominal_interval) if times else 0.0
                        if origin is None:
                            origin = t
                        t -= origin
                        if times and t <= times[-1]:
                            t = times[-1] + 1e-6  # out-of-order/duplicate pts: keep order
                        times.append(t)
                        if frame.duration and frame.time_base is not None:
                            last_frame_duration = float(frame.duration * frame.time_base)
                        else:
                            last_frame_duration = 0.0
                        timeline.push(frame, t)
                else:
                    if cut_time is not None and timeline.full() and audio_start is not None \
                            and origin is not None and packet.pts is not None \
                            and float(packet.pts * packet.time_base) - origin > cut_time + 1:
                        continue
                    try:
                        for aframe in packet.decode():
                            if audio_start is None:
                                audio_start = float(aframe.time or 0.0)
                            for out in resampler.resample(aframe):
                                audio_chunks.append(out.to_ndarray().reshape(-1))
                    except av.error.FFmpegError:
                        audio_errors += 1
        except av.error.FFmpegError as e:  # demuxer error: the file ends or breaks mid-way
            video_errors.append(f"demux: {e}")
        if resampler is not None:
            try:
                for out in resampler.resample(None):
                    audio_chunks.append(out.to_ndarray().reshape(-1))
            except av.error.FFmpegError:
                audio_errors += 1

        n_source = len(times)
        if n_source == 0:
            if video_errors:
                raise MediaError(path, "corrupt", "no video frame could be decoded ("
                                 + "; ".join(video_errors[:3]) + ")")
            raise MediaError(path, "zero_frames", "the video stream holds no frames")
        if declared and n_source < 0.9 * declared and not timeline.full():
            why = f"; {video_errors[0]}" if video_errors else ""
            raise MediaError(path, "truncated",
                             f"decoded {n_source} of the {declared} frames the container "
                             f"declares{why}")
        if video_errors:
            notes.append(f"{len(video_errors)} damaged video packet(s) skipped "
                         f"({video_errors[0]})")
            log.warning("%s: %s", path, notes[-1])

        intervals = np.diff(times) if n_source > 1 else np.array([])
        if last_frame_duration <= 0:
            last_frame_duration = (float(statistics.median(intervals)) if len(intervals)
                                   else nominal_interval)
        duration = times[-1] + last_frame_duration
        if timeline.full() and origin is not None and end_time - origin > duration:
            duration = end_time - origin
        source_fps = n_source / duration if not timeline.full() else (
            1.0 / float(np.median(intervals)) if len(intervals) else 1.0 / nominal_interval)
        if len(intervals) > 2:
            body = intervals
            lo, hi, med = float(body.min()), float(body.max()), float(np.median(body))
            if med > 0 and (hi - lo) / med > 0.1:
                notes.append(f"variable frame rate (source intervals {lo * 1e3:.1f}-"
                             f"{hi * 1e3:.1f} ms)")

        n_frames = int(round(duration * fps))
        if max_frames is not None and n_frames > max_frames:
            notes.append(f"cut to the first {max_frames} frames (media has {n_frames})")
            n_frames = max_frames
        n_frames = max(n_frames, 1)
        frames_list = timeline.finish(n_frames)
        frames = np.stack(frames_list) if frames_list else np.zeros((0, 0, 0, 3), np.uint8)
        if timeline.rotation:
            notes.append(f"rotation {timeline.rotation} deg applied")
        if timeline.scale != 1.0:
            sw, sh = timeline.source_size
            notes.append(f"frames downscaled from {sw}x{sh} by {timeline.scale:.3f} (max_side "
                         f"{max_side})")

        samples = None
        if as_ is not None:
            samples = np.concatenate(audio_chunks).astype(np.float32) if audio_chunks else \
                np.zeros(0, np.float32)
            offset = int(round(((audio_start or 0.0) - (origin or 0.0)) * audio_rate))
            if offset > 0:
                samples = np.concatenate([np.zeros(offset, np.float32), samples])
            elif offset < 0:
                samples = samples[-offset:]
            want = int(round(n_frames / fps * audio_rate))
            if len(samples) < want:
                missing = (want - len(samples)) / audio_rate
                if missing > 0.1:
                    notes.append(f"audio shorter than video by {missing:.2f} s (padded with "
                                 f"silence)")
                samples = np.pad(samples, (0, want - len(samples)))
            samples = np.clip(samples[:want], -1.0, 1.0)
            if audio_errors:
                notes.append(f"{audio_errors} damaged audio packet(s) skipped")

        h, w = frames.shape[1:3]
        return DecodedVideo(
            frames=frames, audio=samples, n_frames=int(frames.shape[0]),
            duration=round(float(duration), 6),
            source_fps=float(source_fps), width=int(w), height=int(h), notes=notes, fps=fps,
            audio_rate=audio_rate, rotation=timeline.rotation, n_source_frames=n_source,
            path=str(path), scale=float(timeline.scale),
        )
    except MediaError:
        raise
    except MemoryError as e:
        raise MediaError(path, "unreadable", f"out of memory while decoding ({e}); use "
                         "max_frames or a smaller block size") from e
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise MediaError(path, "corrupt", f"decoding failed: {e}") from e
    finally:
        container.close()
