"""Temporal proposals (scored fake segments) from frame probabilities.

Recipe (:func:`generate_proposals`):

1. at each threshold level (default 0.2, 0.3, ..., 0.9) the runs of frames with probability
   ``>= level`` are candidate segments; each level also contributes the runs after closing gaps
   shorter than ``merge_gap`` frames (a short dip does not split a segment);
2. each candidate is scored ``mean probability inside × boundary contrast``, where the contrast
   is the inside mean minus the mean of the ``context`` frames just outside each boundary
   (clipped at 0; a boundary at the start/end of the video counts as contrast against 0);
3. duplicates are removed and Gaussian Soft-NMS decays the scores of overlapping candidates;
4. at most ``max_proposals`` (100, the official AR budget) remain, highest score first.

Segments are in seconds on the store timeline: frame ``t`` covers ``[t/fps, (t+1)/fps)``, so
frames ``a..b-1`` give ``[a/fps, b/fps]``.

Example
-------
>>> import numpy as np
>>> from voca_models.proposals import generate_proposals
>>> p = np.r_[np.full(10, 0.05), np.full(10, 0.95), np.full(10, 0.05)]
>>> generate_proposals(p, fps=25)[0].round(3).tolist()
[0.4, 0.8, 0.855]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "DEFAULT_LEVELS",
    "close_gaps",
    "generate_proposals",
    "runs",
    "score_segment",
    "segments_to_mask",
    "soft_nms",
]

DEFAULT_LEVELS: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of true values as ``(start, stop)`` frame indices, ``stop`` exclusive.

    >>> runs(np.array([0, 1, 1, 0, 1]))
    [(1, 3), (4, 5)]
    """
    m = np.asarray(mask, dtype=bool).ravel()
    if not m.size:
        return []
    d = np.diff(np.r_[0, m.astype(np.int8), 0])
    starts = np.nonzero(d == 1)[0]
    stops = np.nonzero(d == -1)[0]
    return [(int(a), int(b)) for a, b in zip(starts, stops)]


def close_gaps(mask: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill false gaps of at most ``max_gap`` frames between two true runs.

    >>> close_gaps(np.array([1, 0, 1, 0, 0, 0, 1]), 1).astype(int).tolist()
    [1, 1, 1, 0, 0, 0, 1]
    """
    m = np.asarray(mask, dtype=bool).copy()
    r = runs(m)
    for (_, b), (c, _) in zip(r[:-1], r[1:]):  # noqa: RUF007 - python 3.10 has pairwise, kept simple
        if c - b <= max_gap:
            m[b:c] = True
    return m


def score_segment(probs: np.ndarray, start: int, stop: int, context: int = 5) -> float:
    """``mean(probs[start:stop]) × contrast``, contrast = inside mean − mean of the ``context``
    frames on each side outside (0 outside the video), clipped to [0, 1].

    >>> round(score_segment(np.array([0.0, 0.0, 1.0, 1.0, 0.0]), 2, 4), 2)
    1.0
    """
    p = probs
    inside = float(np.mean(p[start:stop]))
    left = p[max(0, start - context):start]
    right = p[stop:stop + context]
    # frames missing outside the video count as 0 (a segment touching the border is bounded by it)
    n_left = context - left.size
    n_right = context - right.size
    outside = (float(left.sum()) + float(right.sum())) / (left.size + right.size + n_left + n_right)
    contrast = min(max(inside - outside, 0.0), 1.0)
    return inside * contrast


def soft_nms(segments: np.ndarray, sigma: float = 0.5, iou_threshold: float = 0.0,
             max_keep: int = 100, min_score: float = 1e-4) -> np.ndarray:
    """Gaussian Soft-NMS on ``[[start, end, score], ...]``: repeatedly keep the highest-scoring
    segment and multiply the scores of the others by ``exp(-iou² / sigma)`` where their IoU with
    it exceeds ``iou_threshold``. Returns at most ``max_keep`` rows, highest score first.

    >>> soft_nms(np.array([[0, 1, 0.9], [0, 1, 0.8], [2, 3, 0.5]]), sigma=0.5)[:, 2].round(3).tolist()
    [0.9, 0.5, 0.108]
    """
    seg = np.asarray(segments, dtype=np.float64).reshape(-1, 3).copy()
    keep = []
    while len(seg) and len(keep) < max_keep:
        k = int(np.argmax(seg[:, 2]))
        best = seg[k]
        if best[2] < min_score:
            break
        keep.append(best.copy())
        seg = np.delete(seg, k, axis=0)
        if not len(seg):
            break
        inter = np.clip(np.minimum(seg[:, 1], best[1]) - np.maximum(seg[:, 0], best[0]), 0, None)
        union = np.maximum(seg[:, 1], best[1]) - np.minimum(seg[:, 0], best[0])
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
        decay = np.where(iou > iou_threshold, np.exp(-(iou ** 2) / sigma), 1.0)
        seg[:, 2] *= decay
    out = np.asarray(keep).reshape(-1, 3)
    return out[np.argsort(-out[:, 2], kind="stable")] if len(out) else out


def generate_proposals(
    frame_probs: np.ndarray, fps: float, levels: Sequence[float] = DEFAULT_LEVELS,
    merge_gap: int = 3, min_frames: int = 1, context: int = 5, sigma: float = 0.5,
    max_proposals: int = 100,
) -> np.ndarray:
    """Scored segments ``[[start_s, end_s, score], ...]`` (float array, highest score first,
    at most ``max_proposals`` rows) from one video's frame probabilities. NaN frames count as 0.

    Parameters
    ----------
    frame_probs:
        Fake probability per frame (``n_frames`` long).
    fps:
        Frame rate of the store timeline (segments are returned in seconds).
    levels:
        Threshold levels; each gives the runs with probability ``>= level``.
    merge_gap:
        Also propose the runs after closing gaps of at most this many frames (0: off).
    min_frames:
        Drop candidates shorter than this.
    context:
        Frames on each side used for the boundary contrast.
    sigma:
        Soft-NMS Gaussian width.
    """
    p = np.nan_to_num(np.asarray(frame_probs, dtype=np.float64).ravel(), nan=0.0)
    if not p.size:
        return np.zeros((0, 3))
    cands: set[tuple[int, int]] = set()
    for level in levels:
        mask = p >= level
        cands.update(runs(mask))
        if merge_gap > 0:
            cands.update(runs(close_gaps(mask, merge_gap)))
    rows = [(a / fps, b / fps, score_segment(p, a, b, context))
            for a, b in sorted(cands) if b - a >= min_frames]
    rows = [r for r in rows if r[2] > 0]
    if not rows:
        return np.zeros((0, 3))
    return soft_nms(np.asarray(rows), sigma=sigma, max_keep=max_proposals)


def segments_to_mask(segments: np.ndarray | Sequence[Sequence[float]], n_frames: int, fps: float,
                     min_score: float = 0.0) -> np.ndarray:
    """Frames whose centre lies in a segment scoring at least ``min_score`` (the store's
    frame-label rule applied to predicted segments).

    >>> segments_to_mask([[0.4, 0.8, 0.9]], 25, 25.0).nonzero()[0].tolist()
    [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
    """
    centres = (np.arange(n_frames) + 0.5) / fps
    mask = np.zeros(n_frames, dtype=bool)
    for s in segments:
        if len(s) > 2 and s[2] < min_score:
            continue
        mask |= (centres >= s[0]) & (centres < s[1])
    return mask
