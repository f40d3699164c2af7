"""Model selection on the dev split: the frame and video ROC AUC of an epoch's predictions, and the
video score (the video head, or the mean of the top-k frame probabilities) that scores better.

>>> choose_video_score({"video_auc_head": 0.6, "video_auc_frames": 0.9})
'frames'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["choose_video_score", "dev_metrics"]


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from ..metrics import roc_auc  # the one ROC AUC (scikit-learn's) that evaluate reports too

    return roc_auc(y, p)


def dev_metrics(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Frame and video ROC AUC of :func:`voca_models.predict` rows (labels from the store).

    Frame AUC uses labelled frames of real videos and of fake videos that have fake frames (a fake
    video without known fake periods says nothing about its frames)."""
    labels = np.array([r["label"] for r in rows])
    probs = np.array([r["video_prob"] for r in rows])
    known = labels >= 0
    out = {"video_auc": _auc(labels[known], probs[known])}
    if rows and all("video_prob_frames" in r for r in rows):
        for source in ("head", "frames"):
            p = np.array([r[f"video_prob_{source}"] for r in rows], dtype=np.float64)
            out[f"video_auc_{source}"] = _auc(labels[known], np.nan_to_num(p[known], nan=0.0))
    ys, ps = [], []
    for r in rows:
        if r.get("frame_probs") is None or r["label"] < 0:
            continue
        fl = np.asarray(r["frame_labels"])
        if r["label"] == 1 and not (fl == 1).any():
            continue
        ok = fl >= 0
        ys.append(fl[ok])
        ps.append(r["frame_probs"][ok])
    if ys:
        out["frame_auc"] = _auc(np.concatenate(ys), np.concatenate(ps))
    return out


def choose_video_score(metrics: Mapping[str, float]) -> str:
    """``frames`` (mean of the top-k frame probabilities) when its dev video AUC is at least the
    video head's, else ``head``; ``head`` for models without frame outputs.

    >>> choose_video_score({"video_auc_head": 0.6, "video_auc_frames": 0.9})
    'frames'
    >>> choose_video_score({"video_auc": 0.8})
    'head'
    """
    head = metrics.get("video_auc_head", float("nan"))
    frames = metrics.get("video_auc_frames", float("nan"))
    if not math.isfinite(frames):
        return "head"
    return "frames" if not math.isfinite(head) or frames >= head else "head"
