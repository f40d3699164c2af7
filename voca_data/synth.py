"""Synthetic talking-face datasets: real MP4 files (H.264 + AAC 16 kHz mono) in the LAV-DF,
Multi-FFDV or folder layout, with LAV-DF-style partial fakes.

Every video shows a real photograph (``skimage.data.astronaut()``) varied per video (crop, scale,
position, colour, flip, background) whose mouth opens and closes with the envelope of a speech-like
voiced signal (harmonics shaped by vowel formants, syllables at 3-6 Hz). Fakes follow LAV-DF's
semantics *inside each fake period only*:

``modify_audio``
    the audio is replaced by another utterance with a different, "synthetic" timbre (another
    speaker, flatter spectrum, frame-stepped envelope, a faint high band); the lips keep following
    the original utterance, so sound and lips disagree.
``modify_video``
    the lips are re-rendered to follow another utterance, with a subtle generator artifact in the
    mouth region (slight blur and colour shift); the audio is original, so they disagree.
``both``
    new (synthetic) audio *and* lips re-rendered to follow it: in sync, each with its artifact.

Real videos agree everywhere. Videos come in a repeating, shuffled pattern of real /
modify_audio / modify_video / both inside each split (about 3 fakes : 1 real), with 1-2 fake
periods of 0.3-1.5 s per fake. Everything is deterministic for a seed.

Example
-------
>>> from voca_data.synth import make_dataset
>>> root = make_dataset(tmp_path / "lavdf", layout="lavdf", videos=8, seed=0)   # doctest: +SKIP
>>> from voca_data.sources import load
>>> records = load("lavdf", root)                                               # doctest: +SKIP

The per-video ground truth (kind of fake, periods, speaker, geometry) is also written to
``OUT/synth_manifest.json`` in every layout.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import shutil
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .records import frame_labels

log = logging.getLogger(__name__)

__all__ = ["KINDS", "LAYOUTS", "SynthVideo", "make_dataset", "make_video", "write_mp4"]

LAYOUTS = ("lavdf", "ffdv", "folder")
KINDS = ("real", "modify_audio", "modify_video", "both")

FPS = 25
AUDIO_RATE = 16000

# Geometry of skimage.data.astronaut() (512 x 512), measured with MTCNN: face box (184, 63, 86, 112),
# mouth corners (204, 142) and (247, 145).
_FACE_CENTRE = (227.0, 119.0)
_FACE_HEIGHT = 112.0
_MOUTH = (225.5, 143.5)
_MOUTH_HALF_WIDTH = 21.5
_HEAD_ELLIPSE = ((226.0, 112.0), (78.0, 100.0))  # centre, semi-axes (x, y) incl. hair

# vowel formants (F1, F2, F3) in Hz and how open the mouth is for it
_VOWELS = np.array([
    (730, 1090, 2440),  # a
    (530, 1840, 2480),  # e
    (270, 2290, 3010),  # i
    (570, 840, 2410),   # o
    (300, 870, 2240),   # u
    (660, 1720, 2410),  # ae
], dtype=np.float64)


# ----------------------------------------------------------------------------------------------
# audio


@dataclass(frozen=True)
class _Speaker:
    f0: float            # mean pitch, Hz
    formant_scale: float  # vocal tract length factor
    tilt: float          # spectral tilt exponent of the harmonics
    breath: float        # breath noise level
    synthetic: bool = False  # vocoder-like artifacts


def _random_speaker(rng: np.random.Generator, synthetic: bool = False, avoid: _Speaker | None = None
                    ) -> _Speaker:
    f0 = float(rng.uniform(95, 230))
    if avoid is not None:  # a clearly different voice
        factor = float(rng.uniform(1.25, 1.6))
        f0 = avoid.f0 * factor if avoid.f0 * factor <= 260 else avoid.f0 / factor
    return _Speaker(
        f0=f0,
        formant_scale=float(rng.uniform(0.9, 1.15)),
        tilt=float(rng.uniform(0.2, 0.4) if synthetic else rng.uniform(0.7, 1.0)),
        breath=float(rng.uniform(0.0, 0.01) if synthetic else rng.uniform(0.02, 0.05)),
        synthetic=synthetic,
    )


def _syllables(rng: np.random.Generator, duration: float) -> list[tuple[float, float, float, int]]:
    """(start, length, peak amplitude, vowel index) of the syllables of one utterance."""
    out = []
    t = float(rng.uniform(0.0, 0.25))
    rate = float(rng.uniform(3.0, 6.0))  # syllables per second while speaking
    while t < duration - 0.08:
        length = float(np.clip(rng.normal(0.65 / rate, 0.04), 0.08, 0.32))
        out.append((t, length, float(rng.uniform(0.45, 1.0)), int(rng.integers(len(_VOWELS)))))
        t += length + float(rng.uniform(0.03, 0.45 / rate))
        if rng.random() < 0.12:  # a pause between words/phrases
            t += float(rng.uniform(0.15, 0.45))
    return out


def _utterance(rng: np.random.Generator, speaker: _Speaker, n_samples: int, sr: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """A voiced, speech-like signal and its amplitude envelope (both float32, ``n_samples``)."""
    t = np.arange(n_samples, dtype=np.float64) / sr
    duration = n_samples / sr
    env = np.zeros(n_samples)
    vowel = np.zeros(n_samples, dtype=np.int64)
    accent = np.zeros(n_samples)
    for start, length, amp, v in _syllables(rng, duration):
        i0, i1 = int(start * sr), min(int((start + length) * sr), n_samples)
        if i1 <= i0:
            continue
        phase = (t[i0:i1] - start) / length
        env[i0:i1] = np.maximum(env[i0:i1], amp * np.clip(np.sin(np.pi * phase), 0, 1) ** 1.5)
        vowel[i0:i1] = v
        accent[i0:i1] = amp - 0.7
    if speaker.synthetic:  # frame-based vocoder: envelope held per 10 ms hop
        hop = sr // 100
        held = env[: n_samples - n_samples % hop].reshape(-1, hop).mean(1).repeat(hop)
        env = np.concatenate([held, env[len(held):]])
    f0 = speaker.f0 * (1 + 0.06 * np.sin(2 * np.pi * rng.uniform(0.4, 0.9) * t + rng.uniform(0, 6.3))
                       - 0.08 * t / max(duration, 1e-6) + 0.12 * accent)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    # smoothed formant tracks
    formants = _VOWELS[vowel] * speaker.formant_scale  # (n, 3)
    k = max(1, int(0.02 * sr))
    padded = np.concatenate([np.repeat(formants[:1], k // 2, 0), formants,
                             np.repeat(formants[-1:], k - k // 2, 0)])
    csum = np.concatenate([np.zeros((1, 3)), np.cumsum(padded, 0)])
    formants = (csum[k:k + n_samples] - csum[:n_samples]) / k          # 20 ms moving average
    n_harm = int(min(40, (0.45 * sr) // speaker.f0))
    # harmonic amplitudes change slowly: compute them at a 400 Hz control rate, interpolate
    hop = max(sr // 400, 1)
    ctrl = np.arange(0, n_samples + hop, hop)
    ctrl_i = np.minimum(ctrl, n_samples - 1)
    h = np.arange(1, n_harm + 1, dtype=np.float64)
    fh = f0[ctrl_i, None] * h[None, :]                                   # (C, H)
    widths = np.array([90.0, 120.0, 160.0])
    gains = np.array([1.0, 0.6, 0.3])
    amp = (gains / (1.0 + ((fh[..., None] - formants[ctrl_i, None, :]) / widths) ** 2)).sum(-1)
    amp = (amp + 0.02) * h ** (-speaker.tilt)                            # (C, H)
    pos = np.arange(n_samples) / hop
    i0 = np.floor(pos).astype(np.int64)
    frac = (pos - i0)[:, None]
    amp_full = amp[i0] * (1 - frac) + amp[i0 + 1] * frac                 # (N, H)
    voiced = np.einsum("nh,nh->n", amp_full, np.sin(phase[:, None] * h[None, :]))
    noise = rng.standard_normal(n_samples)
    signal = env * (voiced / (np.abs(voiced).max() + 1e-9) + speaker.breath * noise)
    if speaker.synthetic:  # a faint high band (vocoder aliasing), only while voiced
        high = np.sin(2 * np.pi * 5600 * t + 3 * np.sin(2 * np.pi * 90 * t))
        signal += 0.04 * env * high
    signal *= 0.5 / (np.abs(signal).max() + 1e-9)
    return signal.astype(np.float32), env.astype(np.float32)


def _splice(base: np.ndarray, other: np.ndarray, periods: Sequence[tuple[float, float]], sr: int,
            fade: float = 0.008) -> np.ndarray:
    """``base`` with ``other`` inside each period, raised-cosine cross-fades of ``fade`` seconds."""
    n = len(base)
    w = np.zeros(n, dtype=np.float64)
    t = (np.arange(n) + 0.5) / sr
    for s, e in periods:
        up = np.clip((t - s) / fade + 0.5, 0, 1)
        down = np.clip((e - t) / fade + 0.5, 0, 1)
        w = np.maximum(w, np.minimum(up, down))
    w = 0.5 - 0.5 * np.cos(np.pi * w)
    return (base * (1 - w) + other * w).astype(np.float32)


def _frame_envelope(env: np.ndarray, n_frames: int, samples_per_frame: int) -> np.ndarray:
    """Mean envelope per video frame."""
    e = env[: n_frames * samples_per_frame].reshape(n_frames, samples_per_frame).mean(1)
    return e.astype(np.float32)


# ----------------------------------------------------------------------------------------------
# video


@dataclass(frozen=True)
class _Look:
    """How the photograph is placed in the frame for one video (one 'identity')."""
    width: int
    height: int
    matrix: np.ndarray     # 2x3 affine, astronaut pixels -> output pixels (before the flip)
    flip: bool             # mirror left-right after warping
    gains: np.ndarray      # per-channel colour gains
    gamma: float
    background: str        # "photo" or "gradient"
    bg_colours: np.ndarray  # (2, 3) gradient end colours
    bg_angle: float


def _random_look(rng: np.random.Generator, size: tuple[int, int]) -> _Look:
    width = 2 * int(rng.integers(size[0] // 2, size[1] // 2 + 1))
    height = 2 * int(rng.integers(size[0] // 2, size[1] // 2 + 1))
    crop = _FACE_HEIGHT * float(rng.uniform(1.7, 2.5))        # source pixels shown along the short side
    scale = min(width, height) / crop
    cx = _FACE_CENTRE[0] + float(rng.uniform(-0.12, 0.12)) * crop
    cy = _FACE_CENTRE[1] + float(rng.uniform(-0.10, 0.12)) * crop
    flip = bool(rng.random() < 0.3)  # MTCNN is less sure of the mirrored photograph
    # the mirror image is taken after warping (a negative-scale warpAffine renders a face MTCNN misses)
    matrix = np.array([[scale, 0.0, width / 2 - scale * cx], [0.0, scale, height / 2 - scale * cy]])
    return _Look(
        width=width, height=height, matrix=matrix, flip=flip,
        gains=rng.uniform(0.88, 1.1, size=3).astype(np.float32),
        gamma=float(rng.uniform(0.85, 1.15)),
        background="gradient" if rng.random() < 0.5 else "photo",
        bg_colours=rng.uniform(20, 235, size=(2, 3)).astype(np.float32),
        bg_angle=float(rng.uniform(0, 2 * np.pi)),
    )


@functools.lru_cache(maxsize=1)
def _astronaut() -> np.ndarray:
    from skimage import data

    photo = data.astronaut()
    photo.setflags(write=False)
    return photo


def _render_base(look: _Look, photo: np.ndarray) -> tuple[np.ndarray, tuple[float, float], float]:
    """The still frame (float32 RGB, 0-255), the mouth centre (x, y) and half-width in output px."""
    import cv2

    w, h = look.width, look.height
    img = cv2.warpAffine(photo, look.matrix, (w, h), flags=cv2.INTER_AREA,
                         borderMode=cv2.BORDER_REFLECT).astype(np.float32)
    if look.background == "gradient":
        (ecx, ecy), (ax, ay) = _HEAD_ELLIPSE
        yy, xx = np.mgrid[0:photo.shape[0], 0:photo.shape[1]].astype(np.float32)
        r = np.sqrt(((xx - ecx) / ax) ** 2 + ((yy - ecy) / ay) ** 2)
        head = np.clip((1.08 - r) / 0.16, 0, 1)
        head[int(ecy):, int(ecx - 0.55 * ax):int(ecx + 0.55 * ax)] = np.maximum(
            head[int(ecy):, int(ecx - 0.55 * ax):int(ecx + 0.55 * ax)], 1.0)  # neck and shoulders
        alpha = cv2.warpAffine(head, look.matrix, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)[..., None]
        gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
        proj = (gx * math.cos(look.bg_angle) + gy * math.sin(look.bg_angle))
        proj = (proj - proj.min()) / max(float(np.ptp(proj)), 1.0)
        bg = look.bg_colours[0] * (1 - proj[..., None]) + look.bg_colours[1] * proj[..., None]
        img = img * alpha + bg * (1 - alpha)
    img = 255.0 * (np.clip(img * look.gains / 255.0, 0, 1) ** look.gamma)
    m = look.matrix
    mx = m[0, 0] * _MOUTH[0] + m[0, 1] * _MOUTH[1] + m[0, 2]
    my = m[1, 0] * _MOUTH[0] + m[1, 1] * _MOUTH[1] + m[1, 2]
    if look.flip:
        img = np.ascontiguousarray(img[:, ::-1])
        mx = (w - 1) - mx
    return img.astype(np.float32), (float(mx), float(my)), _MOUTH_HALF_WIDTH * abs(float(m[1, 1]))


def _render_mouths(base: np.ndarray, mouth: tuple[float, float], half_width: float,
                   opening: np.ndarray) -> np.ndarray:
    """All frames at once: the lower lip and jaw drop by ``opening`` (0-1 per frame) and the gap
    shows the mouth's interior (teeth on top, dark below). Returns uint8 (T, H, W, 3)."""
    h, w, _ = base.shape
    n = len(opening)
    mx, my = mouth
    mw = max(half_width, 3.0)
    depth = 1.7 * mw                         # rows below the lip line that move (to the chin)
    max_drop = 0.75 * mw
    x0, x1 = max(int(mx - 1.3 * mw), 0), min(int(mx + 1.3 * mw) + 2, w)
    y0, y1 = max(int(my) - 1, 0), min(int(my + depth) + 2, h)
    frames = np.broadcast_to(base, (n, h, w, 3)).copy()
    if x1 <= x0 or y1 <= y0:
        return np.clip(frames, 0, 255).astype(np.uint8)
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]            # (R, 1)
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]            # (1, W)
    dy = ys - my                                                 # rows below the lip line
    across = np.clip(1.0 - ((xs - mx) / (1.1 * mw)) ** 2, 0, 1) ** 0.5  # lens-shaped opening
    fall = np.clip((depth - dy) / (0.5 * depth), 0, 1) * (dy >= 0)      # 1 near the lips, 0 at chin
    drop = max_drop * np.clip(opening, 0, 1).astype(np.float32)[:, None, None]  # (T, 1, 1)
    disp = drop * (across * fall)[None]                          # (T, R, W)
    src = np.clip(ys[None] - disp, y0, h - 1)                    # source rows (float)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, h - 1)
    frac = (src - lo)[..., None]
    cols = np.arange(x0, x1)[None, None, :]
    warped = base[lo, cols] * (1 - frac) + base[hi, cols] * frac     # (T, R, W, 3)
    gap = drop * across[None]                                     # (T, 1, W) gap height per column
    inside = np.clip(dy[None] + 0.5, 0, 1) * np.clip(gap - dy[None], 0, 1)  # soft interior mask
    teeth = np.clip(0.3 * gap - dy[None] + 0.5, 0, 1) * (gap > 2.5)
    colour = (teeth[..., None] * np.array([205, 195, 185], np.float32)
              + (1 - teeth[..., None]) * np.array([45, 12, 18], np.float32))
    roi = warped * (1 - inside[..., None]) + colour * inside[..., None]
    frames[:, y0:y1, x0:x1] = roi
    return np.clip(frames + 0.5, 0, 255).astype(np.uint8)


def _mouth_artifact(frames: np.ndarray, fake: np.ndarray, mouth: tuple[float, float], half_width: float,
                    rng: np.random.Generator) -> None:
    """In place: a generator's trace on the mouth region of the ``fake`` frames (slight blur and a
    colour shift under a soft elliptical mask)."""
    import cv2

    if not fake.any():
        return
    h, w = frames.shape[1:3]
    mx, my = mouth
    mw = max(half_width, 3.0)
    x0, x1 = max(int(mx - 1.6 * mw), 0), min(int(mx + 1.6 * mw) + 1, w)
    y0, y1 = max(int(my - 0.8 * mw), 0), min(int(my + 1.9 * mw) + 1, h)
    if x1 <= x0 or y1 <= y0:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    r = np.sqrt(((xx - mx) / (1.5 * mw)) ** 2 + ((yy - (my + 0.5 * mw)) / (1.3 * mw)) ** 2)
    mask = np.clip((1.0 - r) / 0.3, 0, 1)[..., None]
    shift = np.array([1.05, 0.98, 0.95], np.float32) if rng.random() < 0.5 else \
        np.array([0.96, 1.02, 1.05], np.float32)
    sigma = float(rng.uniform(0.8, 1.2))
    for t in np.flatnonzero(fake):
        roi = frames[t, y0:y1, x0:x1].astype(np.float32)
        blurred = cv2.GaussianBlur(roi, (0, 0), sigma) * shift
        frames[t, y0:y1, x0:x1] = np.clip(roi * (1 - mask) + blurred * mask + 0.5, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# one video


@dataclass
class SynthVideo:
    """One synthetic video before encoding (see :func:`make_video`)."""

    frames: np.ndarray           # uint8 (n_frames, height, width, 3) RGB
    audio: np.ndarray            # float32 (n_samples,) mono in [-1, 1]
    fps: int
    audio_rate: int
    kind: str                    # one of KINDS
    fake_periods: list[tuple[float, float]]
    mouth_opening: np.ndarray    # float32 (n_frames,) what the lips follow, 0-1
    audio_envelope: np.ndarray   # float32 (n_frames,) envelope of what is heard, per frame
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps

    @property
    def frame_fake(self) -> np.ndarray:
        return frame_labels(self.fake_periods, self.n_frames, self.fps)


def _fake_periods(rng: np.random.Generator, duration: float, period_range: tuple[float, float]
                  ) -> list[tuple[float, float]]:
    n = int(rng.integers(1, 3))
    lo, hi = period_range
    margin = 0.1
    for _ in range(100):
        periods = []
        for _ in range(n):
            length = float(rng.uniform(lo, min(hi, max(lo, duration / (n + 0.5)))))
            start = float(rng.uniform(margin, max(margin, duration - margin - length)))
            periods.append((round(start, 3), round(start + length, 3)))
        periods.sort()
        ok = all(b[0] - a[1] >= 0.2 for a, b in zip(periods, periods[1:]))
        if ok and periods[-1][1] <= duration - 0.02:
            return periods
        if n == 2 and _ >= 50:
            n = 1
    length = min(lo, duration / 2)
    return [(round(margin, 3), round(margin + length, 3))]


def make_video(seed: int | Sequence[int], kind: str = "real", duration: float | None = None,
               size: tuple[int, int] = (160, 224), duration_range: tuple[float, float] = (2.0, 4.0),
               period_range: tuple[float, float] = (0.3, 1.5), fps: int = FPS,
               audio_rate: int = AUDIO_RATE) -> SynthVideo:
    """Render one synthetic talking-face video (frames + audio, not encoded).

    >>> v = make_video(seed=3, kind="modify_audio")
    >>> v.frames.shape[0] == round(v.duration * 25), v.audio.shape[0] == v.n_frames * 640
    (True, True)
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if audio_rate % fps:
        raise ValueError(f"audio_rate ({audio_rate}) must be a multiple of fps ({fps})")
    rng = np.random.default_rng(seed)
    if duration is None:
        duration = float(rng.uniform(*duration_range))
    n_frames = max(int(round(duration * fps)), 2)
    spf = audio_rate // fps
    n_samples = n_frames * spf
    look = _random_look(rng, size)
    speaker = _random_speaker(rng)
    audio, env = _utterance(rng, speaker, n_samples, audio_rate)
    scale = float(np.percentile(env, 97)) + 1e-6

    periods: list[tuple[float, float]] = []
    heard = audio
    info: dict[str, Any] = {"speaker_f0": round(speaker.f0, 1), "background": look.background,
                            "flip": look.flip, "width": look.width, "height": look.height}
    if kind != "real":
        periods = _fake_periods(rng, n_frames / fps, period_range)
        synthetic = kind in ("modify_audio", "both")
        other_speaker = _random_speaker(rng, synthetic=synthetic, avoid=speaker if synthetic else None)
        if not synthetic:
            other_speaker = speaker
        other_audio, other_env = _utterance(rng, other_speaker, n_samples, audio_rate)
        # level-match the replacement so loudness alone gives nothing away
        other_audio = other_audio * (np.sqrt(np.mean(audio ** 2)) / (np.sqrt(np.mean(other_audio ** 2)) + 1e-9))
        other_audio = np.clip(other_audio, -1, 1).astype(np.float32)
        other_env = other_env * (scale / (float(np.percentile(other_env, 97)) + 1e-6))
        if kind in ("modify_audio", "both"):
            heard = _splice(audio, other_audio, periods, audio_rate)
        heard_env = _splice(env, other_env, periods, audio_rate) if kind != "modify_video" else env
        info["other_speaker_f0"] = round(other_speaker.f0, 1)
    else:
        heard_env = env

    # the lips are re-rendered exactly on the frames labelled fake (frame centre in a period)
    fake = frame_labels(periods, n_frames, fps).astype(bool)
    opening = np.clip(_frame_envelope(env, n_frames, spf) / scale, 0, 1) ** 0.8
    if kind in ("modify_video", "both"):
        other_opening = np.clip(_frame_envelope(other_env, n_frames, spf) / scale, 0, 1) ** 0.8
        opening = np.where(fake, other_opening, opening)
    photo = _astronaut()
    base, mouth, half_width = _render_base(look, photo)
    frames = _render_mouths(base, mouth, half_width, opening)
    if kind in ("modify_video", "both"):
        _mouth_artifact(frames, fake, mouth, half_width, rng)
    info.update(mouth=[round(mouth[0], 1), round(mouth[1], 1)], mouth_half_width=round(half_width, 2))
    return SynthVideo(
        frames=frames, audio=heard, fps=fps, audio_rate=audio_rate, kind=kind, fake_periods=periods,
        mouth_opening=opening.astype(np.float32),
        audio_envelope=np.clip(_frame_envelope(heard_env, n_frames, spf) / scale, 0, None).astype(np.float32),
        info=info,
    )


def write_mp4(path: str | Path, frames: np.ndarray, audio: np.ndarray | None, fps: int = FPS,
              audio_rate: int = AUDIO_RATE, crf: int = 20) -> Path:
    """Encode RGB ``frames`` (uint8, T x H x W x 3, even H and W) as H.264 and mono ``audio``
    (float32) as AAC into an MP4, with PyAV. Deterministic (one encoder thread).

    >>> write_mp4(tmp_path / "a.mp4", np.zeros((25, 64, 64, 3), np.uint8), np.zeros(16000, np.float32))  # doctest: +SKIP
    """
    import av

    path = Path(path)
    frames = np.ascontiguousarray(frames)
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"{path}: frame size {w}x{h} must be even for yuv420p")
    with av.open(str(path), mode="w", format="mp4") as container:
        vs = container.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.thread_count = 1
        vs.options = {"crf": str(crf), "preset": "veryfast", "threads": "1"}
        vs.time_base = Fraction(1, fps)
        a_stream = None
        if audio is not None:
            a_stream = container.add_stream("aac", rate=audio_rate, layout="mono")
            a_stream.codec_context.thread_count = 1
            a_stream.bit_rate = 64000
        for i in range(t):
            frame = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
            frame.pts = i
            for packet in vs.encode(frame):
                container.mux(packet)
        for packet in vs.encode():
            container.mux(packet)
        if a_stream is not None:
            samples = np.clip(np.asarray(audio, np.float32), -1, 1)
            chunk = 1024
            for start in range(0, len(samples), chunk):
                block = samples[start:start + chunk][None, :]
                aframe = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="fltp", layout="mono")
                aframe.sample_rate = audio_rate
                aframe.pts = start
                aframe.time_base = Fraction(1, audio_rate)
                for packet in a_stream.encode(aframe):
                    container.mux(packet)
            for packet in a_stream.encode():
                container.mux(packet)
    return path


# ----------------------------------------------------------------------------------------------
# datasets


_SPLITS = {
    "lavdf": ("train", "dev", "test"),
    "ffdv": ("trainset", "valset", "testset"),
    "folder": ("train", "dev", "test"),
}


def _plan(videos: int, seed: int, ratios: Sequence[float]) -> list[tuple[int, str]]:
    """(split index, kind) per video: contiguous splits by ``ratios``; inside each split the kinds
    repeat in a shuffled real / modify_audio / modify_video / both pattern (3 fakes : 1 real); a
    split's last, partial block starts with a real, so every split of 2+ videos has both classes."""
    rng = np.random.default_rng([seed, 7])
    r = np.asarray(ratios, dtype=np.float64)
    if len(r) != 3 or (r < 0).any() or r.sum() <= 0:
        raise ValueError(f"ratios must be three non-negative numbers (train, dev, test), not {ratios!r}")
    r = r / r.sum()
    counts = np.floor(r * videos).astype(int)
    order = np.argsort(-(r * videos - counts), kind="stable")
    for j in order[: videos - counts.sum()]:
        counts[j] += 1
    plan = []
    for split, count in enumerate(counts):
        kinds: list[str] = []
        while len(kinds) + len(KINDS) <= count:
            kinds.extend(KINDS[j] for j in rng.permutation(len(KINDS)))
        if len(kinds) < count:  # a partial block starts with a real so small splits have one
            kinds.append("real")
            kinds.extend(KINDS[1 + j] for j in rng.permutation(len(KINDS) - 1))
        plan.extend((split, k) for k in kinds[:count])
    return plan


def _video_task(args: tuple) -> dict[str, Any]:
    path, seed, index, kind, opts = args
    video = make_video((seed, index), kind=kind, **opts)
    write_mp4(path, video.frames, video.audio, fps=video.fps, audio_rate=video.audio_rate)
    return {"kind": kind, "fake_periods": [list(p) for p in video.fake_periods],
            "n_frames": video.n_frames, "duration": video.duration,
            "audio_frames": int(video.audio.shape[0]), **video.info}


def make_dataset(out: str | Path, layout: str = "lavdf", videos: int = 24, seed: int = 0, *,
                 size: tuple[int, int] = (160, 224), duration_range: tuple[float, float] = (2.0, 4.0),
                 period_range: tuple[float, float] = (0.3, 1.5),
                 ratios: Sequence[float] = (0.5, 0.25, 0.25), test_labels: bool = True,
                 split_folders: bool = True, sidecars: bool = True, workers: int = 1,
                 overwrite: bool = False, progress: bool = False) -> Path:
    """Write a synthetic talking-face dataset of real MP4 files in one of :data:`LAYOUTS`.

    Parameters
    ----------
    out:
        Output directory (created; must be empty or absent, or, with ``overwrite``, a previous
        synthetic dataset — one with ``synth_manifest.json`` — which is deleted first).
    layout:
        ``"lavdf"``: ``train|dev|test/NNNNNN.mp4`` + ``metadata.min.json``;
        ``"ffdv"``: ``trainset|valset|testset/<md5>.mp4`` + ``<split>_label.txt``
        (``video_name,target``);
        ``"folder"``: ``<split>/{real,fake}/<name>.mp4`` (or ``{real,fake}/`` without split folders
        when ``split_folders=False``) with ``<name>.json`` sidecars ``{"fake_periods": ...}`` for fakes.
    videos, seed:
        Number of videos; everything is a deterministic function of ``seed``.
    size:
        Frame width and height are drawn (even) from this range, pixels.
    duration_range, period_range:
        Video length and fake-period length ranges in seconds.
    ratios:
        Train / dev / test proportions.
    test_labels:
        FFDV only: write ``testset_label.txt`` (the challenge's test labels were hidden).
    workers:
        Processes used to render and encode (1: in this process).

    Returns the output directory. A ``synth_manifest.json`` with the ground truth of every video is
    written next to the layout's own metadata.

    >>> root = make_dataset(tmp_path / "ds", layout="folder", videos=4)   # doctest: +SKIP
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    if videos < 1:
        raise ValueError(f"videos must be >= 1, got {videos}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} exists and is not empty; choose another directory or pass overwrite")
        if not (out / "synth_manifest.json").is_file():
            raise FileExistsError(f"{out} is not a synthetic dataset (no synth_manifest.json); refusing to "
                                  f"delete it for overwrite: choose an empty or new directory")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    split_names = _SPLITS[layout]
    plan = _plan(videos, seed, ratios)
    opts = {"size": tuple(size), "duration_range": tuple(duration_range),
            "period_range": tuple(period_range)}

    rel_paths = []
    for index, (split_i, kind) in enumerate(plan):
        split = split_names[split_i]
        if layout == "lavdf":
            rel = f"{split}/{index:06d}.mp4"
        elif layout == "ffdv":
            rel = f"{split}/{hashlib.md5(f'voca-synth-{seed}-{index}'.encode()).hexdigest()}.mp4"
        else:
            cls = "real" if kind == "real" else "fake"
            rel = f"{split}/{cls}/{index:06d}.mp4" if split_folders else f"{cls}/{index:06d}.mp4"
        rel_paths.append(rel)
        (out / rel).parent.mkdir(parents=True, exist_ok=True)

    tasks = [(out / rel, seed, index, kind, opts) for index, ((_, kind), rel) in enumerate(zip(plan, rel_paths))]
    iterator: Any
    if workers > 1:
        pool = ProcessPoolExecutor(max_workers=workers)
        iterator = pool.map(_video_task, tasks, chunksize=4)
    else:
        pool = None
        iterator = map(_video_task, tasks)
    if progress:
        from voca_data.progress import tqdm

        iterator = tqdm(iterator, total=len(tasks), desc=f"synth {layout}", unit="video")
    try:
        truths = list(iterator)
    finally:
        if pool is not None:
            pool.shutdown()

    entries = []
    for index, ((split_i, kind), rel, truth) in enumerate(zip(plan, rel_paths, truths)):
        entries.append({"index": index, "file": rel, "split": split_names[split_i], **truth})
    if layout == "lavdf":
        _write_lavdf(out, entries)
    elif layout == "ffdv":
        _write_ffdv(out, entries, split_names, test_labels)
    elif sidecars:
        for e in entries:
            if e["kind"] != "real":
                sidecar = (out / e["file"]).with_suffix(".json")
                sidecar.write_text(json.dumps({"fake_periods": e["fake_periods"]}))
    manifest = {"generator": "voca_data.synth", "layout": layout, "seed": seed, "videos": videos,
                "fps": FPS, "audio_rate": AUDIO_RATE, "options": {**opts, "ratios": list(ratios)},
                "entries": entries}
    (out / "synth_manifest.json").write_text(json.dumps(manifest, indent=1))
    log.info("wrote %d synthetic videos (%s layout) to %s", videos, layout, out)
    return out


def _write_lavdf(out: Path, entries: list[dict[str, Any]]) -> None:
    records = []
    for e in entries:
        fake = e["kind"] != "real"
        records.append({
            "file": e["file"], "n_fakes": len(e["fake_periods"]), "fake_periods": e["fake_periods"],
            "duration": round(e["duration"], 3), "original": None,
            "modify_video": e["kind"] in ("modify_video", "both"),
            "modify_audio": e["kind"] in ("modify_audio", "both"),
            "split": e["split"], "video_frames": e["n_frames"], "audio_channels": 1,
            "audio_frames": e["audio_frames"],
        })
        assert fake == bool(records[-1]["n_fakes"])
    (out / "metadata.min.json").write_text(json.dumps(records, separators=(",", ":")))


def _write_ffdv(out: Path, entries: list[dict[str, Any]], split_names: Sequence[str], test_labels: bool
                ) -> None:
    for split in split_names:
        if split == split_names[-1] and not test_labels:
            continue
        lines = ["video_name,target"]
        lines += [f"{Path(e['file']).name},{int(e['kind'] != 'real')}" for e in entries if e["split"] == split]
        (out / f"{split}_label.txt").write_text("\n".join(lines) + "\n")
