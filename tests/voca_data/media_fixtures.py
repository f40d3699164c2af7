"""Real media files for tests: a talking-face-like MP4 made from ``skimage.data.astronaut()`` and a
matrix of bad media (corrupt, truncated, no audio, no video stream, zero frames, not a video,
missing, unreadable, empty).

Everything is written with PyAV (no ffmpeg binary needed). Other test modules import these helpers:

>>> from media_fixtures import make_face_video, make_bad_media      # doctest: +SKIP
>>> make_face_video(tmp_path / "face.mp4", n_frames=25, fps=25)      # doctest: +SKIP
>>> bad = make_bad_media(tmp_path / "bad")                            # doctest: +SKIP
>>> sorted(bad)                                                       # doctest: +SKIP
['corrupt', 'empty', 'missing', 'no_audio', 'no_video', 'not_a_video', 'truncated', ...]

Each source frame carries its index in a 16x16 patch in the top-left corner (grey level
``(8 * index) % 256`` before encoding) so tests can check which source frame landed on which
store frame (see :func:`frame_index_mark`; indices are recovered modulo 32).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

MARK = 16  # side of the frame-index patch in the top-left corner (pixels, before rotation)


@functools.lru_cache(maxsize=1)
def _astronaut() -> np.ndarray:
    from skimage.data import astronaut

    return astronaut()  # 512 x 512 RGB, face around x 180..270, y 65..180


def astronaut_frame(size: tuple[int, int] = (192, 160), shift: int = 0) -> np.ndarray:
    """An RGB frame (H, W, 3) uint8 showing the astronaut's head and shoulders.

    ``size`` is (width, height); ``shift`` pans the view horizontally by that many source pixels
    (so a video of these frames has a face that moves a little); past 120 px the pan turns back,
    so long videos keep the face in view.
    """
    import cv2

    img = _astronaut()
    shift = int(shift) % 240
    x0 = 80 + (shift if shift <= 120 else 240 - shift)  # pans right, then back (stays in view)
    crop = np.ascontiguousarray(img[0:300, x0:x0 + 300])
    width, height = size
    interp = cv2.INTER_AREA if width < 300 else cv2.INTER_CUBIC
    return cv2.resize(crop, (width, height), interpolation=interp)


def frame_index_mark(frame: np.ndarray) -> int:
    """Read back the source-frame index written by :func:`make_face_video` (``mark_index=True``),
    modulo 32 (the grey level ``8 * index`` wraps at 256)."""
    level = float(frame[2:MARK - 2, 2:MARK - 2].mean())
    return int(round(level / 8.0)) % 32


def tone(duration: float, rate: int = 16000, freq: float = 440.0, amplitude: float = 0.3,
         bursts: Sequence[tuple[float, float]] = ()) -> np.ndarray:
    """Mono float32 audio: a steady tone, or silence with tone bursts at ``bursts`` [(start, end) s]."""
    t = np.arange(int(round(duration * rate))) / rate
    x = amplitude * np.sin(2 * np.pi * freq * t)
    if bursts:
        mask = np.zeros_like(t, dtype=bool)
        for s, e in bursts:
            mask |= (t >= s) & (t < e)
        x = np.where(mask, x, 0.0)
    return x.astype(np.float32)


def _write_audio(container: av.container.OutputContainer, stream, audio: np.ndarray,
                 rate: int) -> None:
    pts = 0
    step = 1024
    for k in range(0, len(audio), step):
        chunk = np.ascontiguousarray(audio[None, k:k + step], dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        frame.sample_rate = rate
        frame.pts = pts
        frame.time_base = Fraction(1, rate)
        pts += frame.samples
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def make_face_video(
    path: str | Path,
    n_frames: int = 50,
    fps: float = 25.0,
    size: tuple[int, int] = (192, 160),
    audio: bool | np.ndarray = True,
    audio_rate: int = 16000,
    vfr: bool = False,
    rotation: int = 0,
    mark_index: bool = True,
    pan: float = 0.5,
    codec: str = "libx264",
    faststart: bool = False,
) -> Path:
    """Write an MP4 of the astronaut's face with PyAV and return its path.

    Parameters
    ----------
    n_frames, fps : number of source frames and the nominal frame rate.
    size : (width, height) of the coded frames (before rotation metadata is applied).
    audio : True for a 440 Hz tone as long as the video, False for no audio stream, or a mono
        float32 array at ``audio_rate`` to use as the audio track.
    vfr : variable frame rate: frame durations cycle through 0.75, 1.0, 1.25 x (1/fps), so the
        mean rate is ``fps`` but no two neighbouring intervals are equal.
    rotation : display-matrix rotation in degrees counter-clockwise (PyAV ``set_display_rotation``,
        as phones write it). The coded frames are not rotated; a reader must apply it.
    mark_index : write the source-frame index into the top-left patch (:func:`frame_index_mark`).
    pan : horizontal pan of the view, source pixels per frame (the face moves).
    faststart : put the ``moov`` index before the media data (``-movflags +faststart``), so a
        truncated copy still opens.

    Timestamps are in a 1/1000 s (VFR) or 1/fps time base. The true duration is the sum of the
    frame durations: ``n_frames / fps`` for constant rate.

    >>> make_face_video("face.mp4", n_frames=30, fps=30)   # doctest: +SKIP
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    options = {"movflags": "+faststart"} if faststart else {}
    container = av.open(str(path), "w", options=options)
    rate = Fraction(fps).limit_denominator(1001)
    vs = container.add_stream(codec, rate=rate)
    vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
    if codec == "libx264":
        vs.options = {"crf": "18", "preset": "ultrafast"}
    if vfr:
        tb = Fraction(1, 1000)
        vs.time_base = tb
        vs.codec_context.time_base = tb
    else:
        tb = Fraction(1) / rate
        vs.codec_context.time_base = tb
    if rotation:
        vs.set_display_rotation(rotation)
    a_stream = None
    if audio is not False:
        a_stream = container.add_stream("aac", rate=audio_rate)
        a_stream.layout = "mono"

    pts = 0
    cycle = (0.75, 1.0, 1.25)
    base = None
    for i in range(n_frames):
        if base is None or pan:
            base = astronaut_frame(size, shift=int(round(i * pan)))
        img = base.copy()
        if mark_index:
            img[:MARK, :MARK] = (8 * i) % 256
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.time_base = tb
        if vfr:
            frame.pts = int(round(pts))
            pts += 1000.0 / fps * cycle[i % 3]
        else:
            frame.pts = i
        for packet in vs.encode(frame):
            container.mux(packet)
    for packet in vs.encode():
        container.mux(packet)

    if a_stream is not None:
        if isinstance(audio, np.ndarray):
            signal = np.asarray(audio, dtype=np.float32)
        else:
            signal = tone(video_duration(n_frames, fps, vfr), audio_rate)
        _write_audio(container, a_stream, signal, audio_rate)
    container.close()
    return path


def video_duration(n_frames: int, fps: float, vfr: bool = False) -> float:
    """The true duration of a :func:`make_face_video` file (seconds)."""
    if not vfr:
        return n_frames / fps
    cycle = (0.75, 1.0, 1.25)
    pts = [0.0]
    for i in range(n_frames):
        pts.append(pts[-1] + 1000.0 / fps * cycle[i % 3])
    # the last frame starts at round(pts[n-1]) ms; its duration is what the muxer gives it: the
    # previous interval. Tests allow one store frame of tolerance for VFR.
    return pts[-1] / 1000.0


def make_audio_only(path: str | Path, duration: float = 1.0, rate: int = 16000) -> Path:
    """An MP4 (M4A) with one AAC audio stream and no video stream."""
    path = Path(path)
    container = av.open(str(path), "w", format="mp4")
    stream = container.add_stream("aac", rate=rate)
    stream.layout = "mono"
    _write_audio(container, stream, tone(duration, rate), rate)
    container.close()
    return path


def make_zero_frames(path: str | Path, size: tuple[int, int] = (64, 64)) -> Path:
    """A Matroska file whose video stream exists but holds no frames (audio present).

    (The MP4 muxer drops a video stream without packets, so Matroska is used; name it ``.mkv``.)
    """
    path = Path(path)
    container = av.open(str(path), "w", format="matroska")
    vs = container.add_stream("libx264", rate=25)
    vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
    a_stream = container.add_stream("aac", rate=16000)
    a_stream.layout = "mono"
    _write_audio(container, a_stream, tone(0.5), 16000)
    container.close()
    return path


def make_bad_media(directory: str | Path) -> dict[str, Path]:
    """Write one file per kind of bad medium into ``directory``; return ``{kind: path}``.

    Kinds:
      ``corrupt``      a valid MP4 whose ``moov`` index was overwritten with noise
      ``truncated``    a faststart MP4 cut to 40 % of its bytes (index intact, media data missing)
      ``truncated_index`` a normal MP4 cut in half (the ``moov`` index at the end is lost)
      ``no_audio``     a good video without an audio stream (decodes; audio is None)
      ``no_video``     an audio-only MP4
      ``zero_frames``  a Matroska file (``.mkv``) with a video stream but no frames
      ``not_a_video``  a text file named ``.mp4``
      ``empty``        a 0-byte ``.mp4``
      ``missing``      a path that does not exist
      ``unreadable``   a file with mode 000; when running as root (where mode 000 still reads),
                       a directory named ``unreadable.mp4`` instead

    Only ``no_audio`` is a usable video: every other kind must raise ``MediaError``.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}

    good = make_face_video(d / "_good.mp4", n_frames=20, mark_index=False)
    data = bytearray(good.read_bytes())
    rng = np.random.default_rng(0)

    corrupt = d / "corrupt.mp4"
    moov = data.find(b"moov")
    noisy = bytearray(data)
    start = moov + 4 if moov > 0 else 64  # keep the box header, scramble the index's content
    end = min(len(noisy), start + 512)
    noisy[start:end] = rng.integers(0, 256, end - start, dtype=np.uint8).tobytes()
    corrupt.write_bytes(bytes(noisy))
    out["corrupt"] = corrupt

    fast = make_face_video(d / "_fast.mp4", n_frames=50, mark_index=False, faststart=True)
    fast_bytes = fast.read_bytes()
    truncated = d / "truncated.mp4"
    truncated.write_bytes(fast_bytes[: int(len(fast_bytes) * 0.4)])
    out["truncated"] = truncated
    fast.unlink()

    truncated_index = d / "truncated_index.mp4"
    truncated_index.write_bytes(bytes(data[: len(data) // 2]))
    out["truncated_index"] = truncated_index

    out["no_audio"] = make_face_video(d / "no_audio.mp4", n_frames=20, audio=False,
                                      mark_index=False)
    out["no_video"] = make_audio_only(d / "no_video.mp4")
    out["zero_frames"] = make_zero_frames(d / "zero_frames.mkv")

    not_video = d / "not_a_video.mp4"
    not_video.write_text("this is a text file, not a video\n" * 20)
    out["not_a_video"] = not_video

    empty = d / "empty.mp4"
    empty.write_bytes(b"")
    out["empty"] = empty

    out["missing"] = d / "missing.mp4"

    unreadable = d / "unreadable.mp4"
    if unreadable.is_dir():
        unreadable.rmdir()
    elif unreadable.exists():
        unreadable.unlink()
    unreadable.write_bytes(bytes(data))
    os.chmod(unreadable, 0)
    if os.access(unreadable, os.R_OK):  # root reads anything: use a directory instead
        os.chmod(unreadable, 0o644)
        unreadable.unlink()
        unreadable.mkdir()
    out["unreadable"] = unreadable

    good.unlink()
    return out
