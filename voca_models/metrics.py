"""Detection and localization metrics (numpy and scikit-learn: no torch needed to compute them).

Three families:

* **binary** metrics for frames and videos: ROC AUC, average precision, F1, precision, recall at
  a threshold (given, or chosen on the dev split with :func:`choose_threshold`). ROC and PR
  curves, ROC AUC and AP are scikit-learn's (one implementation for training's checkpoint
  selection, ``voca evaluate`` and the plots);
* **segment IoU** per fake video between the predicted and the true fake frames
  (:func:`mask_iou`, summarised by :func:`iou_summary`);
* the **official LAV-DF temporal localization metrics** AP@{0.5, 0.75, 0.95} and
  AR@{100, 50, 20, 10}, reproducing the conventions of the official evaluator
  (``ControlNet/LAV-DF`` ``metrics.py``) exactly: see ``docs/evaluation.md`` and
  :func:`lavdf_ap` / :func:`lavdf_ar` / :func:`lavdf_metrics`.

Example
-------
>>> import numpy as np
>>> from voca_models import metrics
>>> m = metrics.binary_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], threshold=0.5)
>>> round(m["auc"], 2), m["precision"], m["recall"]
(0.75, 1.0, 0.5)
>>> truth = [{"video_id": "a", "fake_periods": [[1.0, 2.0]]}]
>>> metrics.lavdf_metrics({"a": [[0.9, 1.0, 2.0]]}, truth)["full"]["AR@100"]
1.0
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

__all__ = [
    "LAVDF_AP_THRESHOLDS",
    "LAVDF_AR_PROPOSALS",
    "LAVDF_AR_THRESHOLDS",
    "LAVDF_SUBSETS",
    "average_precision",
    "binary_metrics",
    "choose_threshold",
    "confusion",
    "frame_metrics",
    "iou_1d",
    "iou_summary",
    "lavdf_ap",
    "lavdf_ap_values",
    "lavdf_ar",
    "lavdf_metrics",
    "lavdf_subset_mask",
    "mask_f1",
    "mask_iou",
    "pr_curve",
    "roc_auc",
    "roc_curve",
    "segments_to_official",
    "to_jsonable",
    "video_scores",
]

#: AP IoU thresholds of the official evaluator
LAVDF_AP_THRESHOLDS: tuple[float, ...] = (0.5, 0.75, 0.95)
#: AR IoU thresholds of the official evaluator: 0.5:0.05:0.95 (written out, as the official code does)
LAVDF_AR_THRESHOLDS: tuple[float, ...] = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
#: AR proposal budgets of the official evaluator
LAVDF_AR_PROPOSALS: tuple[int, ...] = (100, 50, 20, 10)
#: evaluation subsets: ``full``; ``visual-only-subset`` drops audio-only fakes
#: (modify_audio and not modify_video); ``audio-only-subset`` drops video-only fakes
LAVDF_SUBSETS: tuple[str, ...] = ("full", "visual-only-subset", "audio-only-subset")
# the official evaluator's names for the subsets
_SUBSET_ALIASES = {"subset_for_visual_only": "visual-only-subset",
                   "subset_for_audio_only": "audio-only-subset"}


# --------------------------------------------------------------------------- binary metrics
def _binary_inputs(y_true: Iterable, scores: Iterable) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.float64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels ({y.size}) and scores ({s.size}) differ in length")
    keep = np.isfinite(s) & ((y == 0) | (y == 1))
    return y[keep].astype(np.int8), s[keep]


def _both_classes(y: np.ndarray) -> bool:
    return bool(y.size) and 0 < int(y.sum()) < y.size


def roc_curve(y_true: Iterable, scores: Iterable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve ``(fpr, tpr, thresholds)``: ``sklearn.metrics.roc_curve`` with every distinct
    score kept (``drop_intermediate=False``), starting at the origin (threshold ``inf``).

    Labels other than 0/1 (e.g. the -1 fill of unknown frames) and non-finite scores are ignored;
    with one class only, the rate of the missing class is NaN.

    >>> fpr, tpr, thr = roc_curve([0, 1, 0, 1], [0.1, 0.9, 0.5, 0.5])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 1.0], [0.0, 0.5, 1.0, 1.0])
    """
    from sklearn.metrics import roc_curve as _roc_curve

    y, s = _binary_inputs(y_true, scores)
    if _both_classes(y):
        fpr, tpr, thresholds = _roc_curve(y, s, drop_intermediate=False)
        return fpr, tpr, thresholds
    # one class: sklearn warns and divides by zero; the defined rate is still useful
    distinct = np.unique(s)[::-1]
    hits = np.array([(s >= c).sum() for c in distinct], dtype=np.float64)
    n_pos = int(y.sum())
    rate = np.r_[0.0, hits / y.size] if y.size else np.array([np.nan])
    nan = np.full(rate.size, np.nan)
    fpr, tpr = (nan, rate) if n_pos else (rate, nan)
    return fpr, tpr, np.r_[np.inf, distinct]


def roc_auc(y_true: Iterable, scores: Iterable) -> float:
    """Area under the ROC curve, ``sklearn.metrics.roc_auc_score`` (ties count one half); NaN
    when only one class is present. Training selects checkpoints with this same function.

    >>> roc_auc([0, 1, 0, 1], [0.1, 0.9, 0.5, 0.5])
    0.875
    """
    from sklearn.metrics import roc_auc_score

    y, s = _binary_inputs(y_true, scores)
    if not _both_classes(y):
        return float("nan")
    return float(roc_auc_score(y, s))


def pr_curve(y_true: Iterable, scores: Iterable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision-recall curve ``(precision, recall, thresholds)`` with recall increasing, one point
    per distinct score: ``sklearn.metrics.precision_recall_curve`` reversed, without its final
    ``(precision 1, recall 0)`` point. Recall is NaN without positives.

    >>> p, r, t = pr_curve([0, 1, 0, 1], [0.1, 0.9, 0.5, 0.6])
    >>> p.tolist(), r.tolist(), t.tolist()
    ([1.0, 1.0, 0.6666666666666666, 0.5], [0.5, 1.0, 1.0, 1.0], [0.9, 0.6, 0.5, 0.1])
    """
    from sklearn.metrics import precision_recall_curve

    y, s = _binary_inputs(y_true, scores)
    if not y.size:
        return np.array([]), np.array([]), np.array([])
    if not y.sum():  # sklearn warns and divides by zero: precision is 0, recall undefined
        distinct = np.unique(s)[::-1]
        return np.zeros(distinct.size), np.full(distinct.size, np.nan), distinct
    precision, recall, thresholds = precision_recall_curve(y, s)
    return precision[:-1][::-1], recall[:-1][::-1], thresholds[::-1]


def average_precision(y_true: Iterable, scores: Iterable) -> float:
    """Average precision Σ (R_k − R_{k−1}) P_k over distinct score thresholds,
    ``sklearn.metrics.average_precision_score`` (no interpolation); NaN without positives.

    >>> average_precision([0, 1, 0, 1], [0.1, 0.9, 0.5, 0.6])
    1.0
    """
    from sklearn.metrics import average_precision_score

    y, s = _binary_inputs(y_true, scores)
    if not y.size or not y.sum():
        return float("nan")
    return float(average_precision_score(y, s))


def confusion(y_true: Iterable, y_pred: Iterable) -> np.ndarray:
    """2×2 confusion matrix ``[[tn, fp], [fn, tp]]`` (rows: truth, columns: prediction)."""
    y = np.asarray(y_true).ravel().astype(np.int64)
    p = np.asarray(y_pred).ravel().astype(np.int64)
    keep = (y == 0) | (y == 1)
    y, p = y[keep], p[keep]
    return np.array([[np.sum((y == 0) & (p == 0)), np.sum((y == 0) & (p == 1))],
                     [np.sum((y == 1) & (p == 0)), np.sum((y == 1) & (p == 1))]], dtype=np.int64)


def binary_metrics(y_true: Iterable, scores: Iterable, threshold: float = 0.5) -> dict[str, Any]:
    """AUC, AP, F1, precision, recall, accuracy and the confusion matrix at ``threshold``
    (prediction = ``score >= threshold``). Labels other than 0/1 and NaN scores are ignored.

    Precision (recall, F1) is 0 when nothing is predicted positive (no positives), as in
    scikit-learn's ``zero_division=0``.

    >>> binary_metrics([0, 1, 1], [0.2, 0.7, 0.4], threshold=0.5)["f1"]
    0.6666666666666666
    """
    y, s = _binary_inputs(y_true, scores)
    pred = (s >= threshold).astype(np.int8)
    (tn, fp), (fn, tp) = confusion(y, pred)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "auc": roc_auc(y, s), "ap": average_precision(y, s), "f1": float(f1),
        "precision": float(precision), "recall": float(recall),
        "accuracy": float((tp + tn) / y.size) if y.size else float("nan"),
        "threshold": float(threshold), "n": int(y.size), "n_positive": int(y.sum()),
        "confusion": [[int(tn), int(fp)], [int(fn), int(tp)]],
    }


def choose_threshold(y_true: Iterable, scores: Iterable, criterion: str = "f1") -> float:
    """The threshold maximising F1 (``criterion="f1"``) or Youden's J (``"youden"``) on these
    scores — call it on the dev split, then apply it to test. Falls back to 0.5 when a class
    is missing.

    >>> choose_threshold([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.9])
    0.6
    """
    y, s = _binary_inputs(y_true, scores)
    if not y.size or y.min() == y.max():
        return 0.5
    if criterion == "f1":
        precision, recall, thr = pr_curve(y, s)
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0)
        return float(thr[int(np.argmax(f1))])
    if criterion == "youden":
        fpr, tpr, thr = roc_curve(y, s)
        k = int(np.argmax(tpr - fpr))
        return float(thr[k]) if np.isfinite(thr[k]) else float(s.max())
    raise ValueError(f"unknown threshold criterion {criterion!r}: use 'f1' or 'youden'")


def frame_metrics(frame_probs: Sequence[np.ndarray], frame_labels: Sequence[np.ndarray],
                  threshold: float = 0.5) -> dict[str, Any]:
    """:func:`binary_metrics` over all *valid* frames of all videos pooled: frames whose label
    is 0/1 (the -1 fill is not a frame) and whose probability is finite.

    >>> frame_metrics([np.array([0.1, 0.9, 0.8])], [np.array([0, 1, -1])])["n"]
    2
    """
    if len(frame_probs) != len(frame_labels):
        raise ValueError(f"{len(frame_probs)} probability arrays for {len(frame_labels)} label arrays")
    probs, labels = [], []
    for p, lab in zip(frame_probs, frame_labels):
        p = np.asarray(p, dtype=np.float64).ravel()
        lab = np.asarray(lab).ravel()
        n = min(p.size, lab.size)
        probs.append(p[:n])
        labels.append(lab[:n])
    if not probs:
        return binary_metrics([], [], threshold)
    return binary_metrics(np.concatenate(labels), np.concatenate(probs), threshold)


def video_scores(frame_probs: Sequence[np.ndarray | None] | None = None,
                 video_probs: Sequence[float | None] | None = None,
                 source: str = "head") -> np.ndarray:
    """One score per video: ``"head"`` (the model's video head, falling back to the max of the
    frame probabilities where a video has none), ``"max"`` or ``"mean"`` of the frame
    probabilities (NaN frames ignored).

    >>> video_scores([np.array([0.1, 0.7])], source="max").tolist()
    [0.7]
    """
    if source not in ("head", "max", "mean"):
        raise ValueError(f"unknown video score source {source!r}: use 'head', 'max' or 'mean'")
    n = len(frame_probs) if frame_probs is not None else len(video_probs or [])
    out = np.full(n, np.nan)
    for i in range(n):
        head = video_probs[i] if video_probs is not None else None
        if source == "head" and head is not None and np.isfinite(head):
            out[i] = float(head)
            continue
        p = None if frame_probs is None else frame_probs[i]
        if p is None:
            if head is not None:
                out[i] = float(head)
            continue
        p = np.asarray(p, dtype=np.float64)
        p = p[np.isfinite(p)]
        if p.size:
            out[i] = float(p.mean() if source == "mean" else p.max())
    return out


# --------------------------------------------------------------------------- segment IoU
def mask_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """IoU between predicted and true fake frames of one video (frames with label -1 ignored);
    1.0 when both are empty.

    >>> mask_iou(np.array([0, 1, 1, 0]), np.array([0, 0, 1, 1]))
    0.3333333333333333
    """
    pred = np.asarray(pred).ravel()
    truth = np.asarray(truth).ravel()
    n = min(pred.size, truth.size)
    pred, truth = pred[:n], truth[:n]
    valid = (truth == 0) | (truth == 1)
    p = (pred[valid] > 0)
    t = (truth[valid] == 1)
    union = np.sum(p | t)
    return 1.0 if union == 0 else float(np.sum(p & t) / union)


def mask_f1(pred: np.ndarray, truth: np.ndarray) -> float:
    """Frame F1 of one video (frames with label -1 ignored); 1.0 when both are empty."""
    pred = np.asarray(pred).ravel()
    truth = np.asarray(truth).ravel()
    n = min(pred.size, truth.size)
    valid = (truth[:n] == 0) | (truth[:n] == 1)
    p = pred[:n][valid] > 0
    t = truth[:n][valid] == 1
    denom = p.sum() + t.sum()
    return 1.0 if denom == 0 else float(2 * np.sum(p & t) / denom)


def iou_summary(ious: Iterable[float]) -> dict[str, float]:
    """Mean, median and (population) standard deviation of per-video IoUs, and their count."""
    a = np.asarray([x for x in ious if x is not None and np.isfinite(x)], dtype=np.float64)
    if not a.size:
        return {"mean": float("nan"), "median": float("nan"), "std": float("nan"), "n": 0}
    return {"mean": float(a.mean()), "median": float(np.median(a)), "std": float(a.std()),
            "n": int(a.size)}


# --------------------------------------------------------------------------- official LAV-DF
def iou_1d(proposals: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """IoU of 1-D segments, ``(M, 2) × (N, 2) -> (M, N)``, as the official evaluator computes it:
    intersection / (max end − min start).

    >>> iou_1d(np.array([[0.0, 2.0]]), np.array([[1.0, 3.0], [5.0, 6.0]])).tolist()
    [[0.3333333333333333, 0.0]]
    """
    p = np.asarray(proposals, dtype=np.float64).reshape(-1, 2)
    t = np.asarray(targets, dtype=np.float64).reshape(-1, 2)
    inter = np.clip(np.minimum(p[:, 1:2], t[None, :, 1]) - np.maximum(p[:, 0:1], t[None, :, 0]),
                    0.0, None)
    outer = np.maximum(p[:, 1:2], t[None, :, 1]) - np.minimum(p[:, 0:1], t[None, :, 0])
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / outer


def _as_proposals(proposals: Any, scale: float = 1.0) -> np.ndarray:
    """``[[score, start, end], ...]`` -> float array (K, 3) with times divided by ``scale``."""
    a = np.asarray(proposals if proposals is not None else [], dtype=np.float64)
    if a.size == 0:
        return np.zeros((0, 3))
    if a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"proposals must be [[score, start, end], ...], got shape {a.shape}")
    a = a.copy()
    a[:, 1:] /= scale
    return a


def _as_segments(periods: Any) -> np.ndarray:
    a = np.asarray(periods if periods is not None else [], dtype=np.float64)
    if a.size == 0:
        return np.zeros((0, 2))
    a = a.reshape(-1, 2)
    return a[np.isfinite(a).all(axis=1)]


def lavdf_ap_values(proposals: np.ndarray, segments: np.ndarray,
                    iou_threshold: float) -> np.ndarray:
    """Rows ``(score, is_tp)`` of one video, in proposal list order (the official ``get_values``):
    for each ground-truth segment in order, the first proposal in list order whose IoU is
    strictly greater than ``iou_threshold`` and which no earlier segment took is a true positive.

    >>> lavdf_ap_values(np.array([[0.9, 0, 1], [0.8, 0, 1]]), np.array([[0, 1]]), 0.5).tolist()
    [[0.9, 1.0], [0.8, 0.0]]
    """
    proposals = _as_proposals(proposals)
    segments = _as_segments(segments)
    is_tp = np.zeros(len(proposals), dtype=bool)
    if len(segments) and len(proposals):
        hit = iou_1d(proposals[:, 1:], segments) > iou_threshold
        for i in range(len(segments)):
            for j in np.nonzero(hit[:, i])[0]:
                if not is_tp[j]:
                    is_tp[j] = True
                    break
    return np.column_stack([proposals[:, 0], is_tp.astype(np.float64)])


def _ap_from_rows(rows: np.ndarray, n_segments: int) -> float:
    """The official curve and sum: rows sorted by score (stable, descending), precision =
    cumTP / rank, recall = cumTP / n_segments; the curve is (1, 0) followed by the reversed
    (recall, precision) points; AP = Σ |Δrecall| · running max of precision, which equals
    Σ_{k=2..n} (r_k − r_{k−1}) · max_{j≥k} p_j (the step 0 -> r_1 is not counted)."""
    if n_segments == 0:
        return float("nan")
    if not len(rows):
        return 0.0
    order = np.argsort(-rows[:, 0], kind="stable")
    is_tp = rows[order, 1]
    acc = np.cumsum(is_tp)
    precision = acc / np.arange(1, len(acc) + 1)
    recall = acc / n_segments
    x = np.r_[1.0, recall[::-1]]
    y = np.r_[0.0, precision[::-1]]
    y_max = np.maximum.accumulate(y)
    return float(np.sum(np.abs(np.diff(x)) * y_max[:-1]))


def _pairs(proposals: Mapping[str, Any], truth: Sequence[Mapping[str, Any]], scale: float):
    for t in truth:
        vid = t["video_id"]
        if vid not in proposals:
            raise KeyError(f"no proposals for video {vid!r}: a predictions file must list every "
                           "evaluated video (use [] for a video without proposals)")
        yield _as_proposals(proposals[vid], scale), _as_segments(t.get("fake_periods"))


def lavdf_ap(proposals: Mapping[str, Any], truth: Sequence[Mapping[str, Any]],
             iou_thresholds: Sequence[float] = LAVDF_AP_THRESHOLDS,
             time_scale: float = 1.0) -> dict[float, float]:
    """Official LAV-DF AP at each IoU threshold.

    Parameters
    ----------
    proposals:
        ``video_id -> [[score, start, end], ...]`` (highest score first, as the official
        post-processing writes them); times in seconds, or in units of ``1 / time_scale``
        seconds (official JSON files hold frames at 25 fps: ``time_scale=25``).
    truth:
        One mapping per evaluated video with ``video_id`` and ``fake_periods`` (seconds); real
        videos have no periods (their proposals are all false positives).

    Returns NaN when there is no ground-truth segment at all (the official code divides by 0).

    >>> lavdf_ap({"a": [[0.9, 0, 1], [0.5, 2, 3]]}, [{"video_id": "a", "fake_periods": [[0, 1], [2, 3]]}])
    {0.5: 0.5, 0.75: 0.5, 0.95: 0.5}
    """
    pairs = list(_pairs(proposals, truth, time_scale))
    n_segments = sum(len(s) for _, s in pairs)
    out = {}
    for thr in iou_thresholds:
        rows = [lavdf_ap_values(p, s, thr) for p, s in pairs]
        rows = np.concatenate(rows) if rows else np.zeros((0, 2))
        out[float(thr)] = _ap_from_rows(rows, n_segments)
    return out


def lavdf_ar(proposals: Mapping[str, Any], truth: Sequence[Mapping[str, Any]],
             n_proposals: Sequence[int] = LAVDF_AR_PROPOSALS,
             iou_thresholds: Sequence[float] = LAVDF_AR_THRESHOLDS,
             time_scale: float = 1.0) -> dict[int, float]:
    """Official LAV-DF AR@N: per video the first N proposals in list order (all of them when it
    has fewer); a ground-truth segment is recalled at an IoU threshold when its best IoU among
    them is strictly greater; TP and FN are summed over all videos (a video without proposals
    contributes all its segments as FN); recall per threshold, averaged over the thresholds.

    >>> lavdf_ar({"a": [[0.9, 0, 1]], "b": []}, [{"video_id": "a", "fake_periods": [[0, 1]]},
    ...          {"video_id": "b", "fake_periods": [[0, 1]]}], n_proposals=[10])
    {10: 0.5}
    """
    thr = np.asarray(iou_thresholds, dtype=np.float64)
    budgets = [int(n) for n in n_proposals]
    tp = np.zeros((len(thr), len(budgets)))
    total = 0
    for props, segs in _pairs(proposals, truth, time_scale):
        total += len(segs)
        if not len(segs) or not len(props):
            continue
        props = props[: max(budgets)]
        best = np.maximum.accumulate(iou_1d(props[:, 1:], segs), axis=0)  # (K, n_segments)
        for b, n in enumerate(budgets):
            row = best[min(n, len(props)) - 1]
            tp[:, b] += (row[None, :] > thr[:, None]).sum(axis=1)
    if total == 0:
        return {n: float("nan") for n in budgets}
    recall = tp / total
    return {n: float(recall[:, b].mean()) for b, n in enumerate(budgets)}


def lavdf_subset_mask(truth: Sequence[Mapping[str, Any]], subset: str) -> np.ndarray:
    """Which videos an official subset keeps. ``full``: all; ``visual-only-subset``: all but
    audio-only fakes (``modify_audio`` true and ``modify_video`` false); ``audio-only-subset``:
    all but video-only fakes. Unknown flags (-1/None) never exclude a video."""
    subset = _SUBSET_ALIASES.get(subset, subset)
    if subset not in LAVDF_SUBSETS:
        raise ValueError(f"unknown LAV-DF subset {subset!r}: use one of {', '.join(LAVDF_SUBSETS)}")

    def flag(t: Mapping[str, Any], key: str) -> int:
        v = t.get(key, -1)
        if v is None:
            return -1
        return int(v)  # bools (True/False in LAV-DF metadata) become 1/0

    keep = []
    for t in truth:
        mv, ma = flag(t, "modify_video"), flag(t, "modify_audio")
        if subset == "visual-only-subset":
            keep.append(not (mv == 0 and ma == 1))
        elif subset == "audio-only-subset":
            keep.append(not (mv == 1 and ma == 0))
        else:
            keep.append(True)
    return np.asarray(keep, dtype=bool)


def lavdf_metrics(proposals: Mapping[str, Any], truth: Sequence[Mapping[str, Any]],
                  subsets: Sequence[str] = LAVDF_SUBSETS, time_scale: float = 1.0,
                  ap_thresholds: Sequence[float] = LAVDF_AP_THRESHOLDS,
                  ar_proposals: Sequence[int] = LAVDF_AR_PROPOSALS,
                  ar_thresholds: Sequence[float] = LAVDF_AR_THRESHOLDS) -> dict[str, dict[str, float]]:
    """AP@{0.5,0.75,0.95} and AR@{100,50,20,10} for each subset, keyed ``"AP@0.5"``,
    ``"AR@100"`` ..., plus ``n_videos`` and ``n_segments``.

    ``truth`` entries: ``video_id``, ``fake_periods`` (seconds), ``modify_video``,
    ``modify_audio``. ``proposals``: ``video_id -> [[score, start, end], ...]``.

    >>> t = [{"video_id": "a", "fake_periods": [[1, 2]], "modify_video": 0, "modify_audio": 1}]
    >>> r = lavdf_metrics({"a": [[0.9, 1, 2]]}, t)
    >>> r["full"]["n_videos"], r["visual-only-subset"]["n_videos"]
    (1, 0)
    """
    out: dict[str, dict[str, float]] = {}
    for subset in subsets:
        keep = lavdf_subset_mask(truth, subset)
        sub = [t for t, k in zip(truth, keep) if k]
        ap = lavdf_ap(proposals, sub, ap_thresholds, time_scale)
        ar = lavdf_ar(proposals, sub, ar_proposals, ar_thresholds, time_scale)
        row: dict[str, float] = {f"AP@{_fmt(k)}": v for k, v in ap.items()}
        row.update({f"AR@{k}": v for k, v in ar.items()})
        row["n_videos"] = len(sub)
        row["n_segments"] = int(sum(len(_as_segments(t.get("fake_periods"))) for t in sub))
        out[_SUBSET_ALIASES.get(subset, subset)] = row
    return out


def _fmt(x: float) -> str:
    return f"{x:g}"


def segments_to_official(segments: Sequence[Sequence[float]]) -> list[list[float]]:
    """Our ``[[start_s, end_s, score], ...]`` -> the official ``[[score, start_s, end_s], ...]``,
    highest score first (stable)."""
    rows = [[float(s[2]), float(s[0]), float(s[1])] for s in segments]
    order = sorted(range(len(rows)), key=lambda i: -rows[i][0])
    return [rows[i] for i in order]


def to_jsonable(x: Any) -> Any:
    """JSON-friendly copy: NaN/inf -> None, numpy arrays and scalars -> Python lists/numbers.

    >>> to_jsonable({"auc": float("nan"), "n": np.int64(3), "p": np.array([0.5])})
    {'auc': None, 'n': 3, 'p': [0.5]}
    """
    if isinstance(x, dict):
        return {k: to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return to_jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(float(x)) else None
    if isinstance(x, np.integer):
        return int(x)
    return x
