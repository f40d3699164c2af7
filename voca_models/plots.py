"""Figures (matplotlib, Agg backend, PNG): a per-video timeline and a summary sheet.

Both take the plain dicts that ``voca evaluate`` writes (``results["videos"][i]``) and
``voca infer`` returns, so a results JSON can be re-plotted without the model or the store.

Example
-------
>>> import json
>>> from voca_models import plots
>>> results = json.load(open("results.json"))                       # doctest: +SKIP
>>> plots.plot_timeline(results["videos"][0], "video0.png", fps=results["fps"])  # doctest: +SKIP
>>> plots.plot_summary(results, "summary.png")                      # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics as M

log = logging.getLogger(__name__)

__all__ = ["context_line", "plot_history", "plot_results", "plot_summary", "plot_timeline",
           "result_frame_labels", "safe_name"]

_FAKE = "#d62728"
_PRED = "#1f77b4"
_SIM = "#2ca02c"


def _figure(figsize: tuple[float, float]):
    # no pyplot: a Figure with an Agg canvas leaves no global state behind (safe in threads/tests)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def context_line(results: Mapping[str, Any]) -> str:
    """What a figure shows, for its title: store, split, model and checkpoint, thresholds and
    where they came from (from the results of ``voca evaluate``).

    >>> context_line({"store": "data/lavdf.zarr", "split": "test", "model": "localizer",
    ...               "checkpoint": "runs/loc/best",
    ...               "threshold": {"frame": 0.42, "video": 0.5, "source": "chosen on dev (max F1)"}})
    'store lavdf.zarr, split test  |  localizer checkpoint runs/loc/best  |  thresholds frame 0.42, video 0.50 (chosen on dev (max F1))'
    """
    parts = []
    store, split = results.get("store"), results.get("split")
    if store or split:
        parts.append(", ".join(x for x in (f"store {Path(str(store)).name}" if store else "",
                                           f"split {split}" if split else "") if x))
    if results.get("checkpoint") or results.get("model"):
        parts.append(" ".join(str(x) for x in (results.get("model"), "checkpoint",
                                               results.get("checkpoint") or "?") if x))
    thr = results.get("threshold")
    if isinstance(thr, Mapping):
        text = f"thresholds frame {float(thr.get('frame', 0.5)):.2f}, video {float(thr.get('video', 0.5)):.2f}"
        parts.append(text + (f" ({thr['source']})" if thr.get("source") else " (source not recorded)"))
    elif thr is not None:
        parts.append(f"threshold {float(thr):.2f} (source not recorded)")
    return "  |  ".join(parts)


def _headline(results: Mapping[str, Any]) -> str:
    """The headline numbers: LAV-DF AP/AR on the full set when computed, frame and video AUC/AP."""
    m = results.get("metrics") or {}
    lines = []
    full = (m.get("lavdf") or {}).get("full") if isinstance(m.get("lavdf"), Mapping) else None
    if full:
        keys = [k for k in (*(f"AP@{t}" for t in M.LAVDF_AP_THRESHOLDS),
                            *(f"AR@{n}" for n in M.LAVDF_AR_PROPOSALS)) if full.get(k) is not None]
        lines.append("LAV-DF temporal localization (full set, official AP/AR): "
                     + "   ".join(f"{k} {100 * float(full[k]):.2f}" for k in keys))
    level = []
    for name in ("frame", "video"):
        mm = m.get(name)
        if isinstance(mm, Mapping) and mm.get("auc") is not None:
            level.append(f"{name} AUC {float(mm['auc']):.3f}, AP {float(mm.get('ap', float('nan'))):.3f}")
    if level:
        lines.append("   ".join(level))
    return "\n".join(lines)


def safe_name(video_id: str) -> str:
    """A file name for a video id (``test/000001`` -> ``test_000001``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(video_id)).strip("_") or "video"


def result_frame_labels(video: Mapping[str, Any], fps: float) -> np.ndarray | None:
    """Frame labels of a results entry: its ``frame_labels`` if present, else computed from
    ``fake_periods`` with the store's frame-label rule (:func:`voca_data.frame_labels`); ``None``
    when the truth is unknown. (:func:`voca_data.records.video_frame_labels` labels a store's video.)

    >>> result_frame_labels({"label": 1, "n_frames": 4, "fake_periods": [[0.04, 0.12]]}, fps=25.0)
    array([0, 1, 1, 0], dtype=int8)
    """
    if video.get("frame_labels") is not None:
        return np.asarray(video["frame_labels"])
    if not video.get("fake_periods") and video.get("label") != 0:
        return None  # unknown label, or a fake video without periods: frame truth unknown
    from voca_data import frame_labels

    n = int(video.get("n_frames") or video.get("num_frames") or len(video.get("frame_probs") or []))
    periods = [tuple(p) for p in (video.get("fake_periods") or [])]
    return frame_labels(periods, n, fps).astype(np.int8)


def plot_timeline(video: Mapping[str, Any], path: str | Path, fps: float = 25.0,
                  threshold: float = 0.5, max_segments: int = 5,
                  av_similarity: np.ndarray | None = None, context: str | None = None) -> Path:
    """One video's timeline: fake probability per frame with the ground truth shaded and the
    threshold; the true and the top predicted segments as bars; the audio-visual similarity.

    ``video`` needs ``frame_probs`` (or only ``segments`` for video-level models) and may have
    ``video_id``, ``fake_periods``, ``label``, ``video_prob``, ``segments``
    (``[[start_s, end_s, score], ...]``) and ``av_similarity``. ``context`` (e.g.
    :func:`context_line` of an evaluation) heads the figure: store, split, checkpoint, threshold
    and where the threshold came from. Every mark is in a legend.

    >>> plot_timeline({"video_id": "a", "frame_probs": [0.1, 0.9, 0.8, 0.2],
    ...                "fake_periods": [[0.04, 0.12]]}, "/tmp/a.png")  # doctest: +SKIP
    """
    path = Path(path)
    probs = video.get("frame_probs")
    probs = None if probs is None else np.asarray(probs, dtype=np.float64)
    n = int(video.get("n_frames") or video.get("num_frames") or (0 if probs is None else probs.size))
    sim = av_similarity if av_similarity is not None else video.get("av_similarity")
    sim = None if sim is None else np.asarray(sim, dtype=np.float64)
    t = np.arange(n) / fps
    duration = max(n / fps, 1e-3)
    periods = [tuple(p) for p in (video.get("fake_periods") or [])]
    segments = sorted((list(s) for s in (video.get("segments") or [])), key=lambda s: -s[2])

    fig = _figure((11, 5.6))
    axes = fig.subplots(3, 1, sharex=True, height_ratios=[3, 1.5, 1.4])
    ax = axes[0]
    for k, (s, e) in enumerate(periods):
        ax.axvspan(s, e, color=_FAKE, alpha=0.18, lw=0, label="ground truth fake" if k == 0 else None)
    if probs is not None and probs.size:
        ax.plot(t[: probs.size] + 0.5 / fps, probs[:n], color=_PRED, lw=1.4, label="fake probability")
        pred = np.nan_to_num(probs) >= threshold
        ax.fill_between(t[: probs.size] + 0.5 / fps, 0, 1, where=pred[:n], step="mid",
                        color=_PRED, alpha=0.12, lw=0, transform=ax.get_xaxis_transform(),
                        label=f"predicted fake (P ≥ {threshold:.2f})")
    else:
        ax.text(0.5, 0.75, "no frame probabilities (video-level model)", ha="center", va="center",
                transform=ax.transAxes, color="0.4")
    ax.axhline(threshold, color="0.3", ls="--", lw=0.9, label=f"threshold {threshold:.2f}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("P(fake)")
    title = str(video.get("video_id", ""))
    label = video.get("label")
    if label in (0, 1):
        title += f"  —  truth: {'fake' if label == 1 else 'real'}"
    if video.get("video_prob") is not None:
        title += f"  —  video P(fake) = {float(video['video_prob']):.3f}"
    iou = video.get("iou")
    if iou is not None and np.isfinite(iou):
        title += f"  —  frame IoU = {float(iou):.3f}"
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(alpha=0.25)

    ax = axes[1]
    shown = segments[:max_segments]
    lanes = ["truth"] + [f"pred {k + 1}" for k in range(len(shown))]
    for k, (s, e) in enumerate(periods):
        ax.broken_barh([(s, e - s)], (-0.35, 0.7), color=_FAKE, alpha=0.8,
                       label="true fake segment" if k == 0 else None)
    for k, seg in enumerate(shown, start=1):
        s, e, score = seg[:3]
        ax.broken_barh([(s, e - s)], (k - 0.35, 0.7), color=_PRED,
                       alpha=float(np.clip(0.3 + 0.7 * score, 0.3, 1.0)),
                       label="predicted segment (darker = higher score, score at its end)"
                       if k == 1 else None)
        ax.text(min(e, duration), k, f" {score:.2f}", fontsize=7, va="center", color="0.2")
    ax.set_yticks(range(len(lanes)), lanes, fontsize=7)
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.25)
    if len(segments) > len(shown):
        ax.set_title(f"top {len(shown)} of {len(segments)} predicted segments", fontsize=8,
                     loc="right", color="0.3")

    ax = axes[2]
    if sim is not None and np.isfinite(sim).any():
        for k, (s, e) in enumerate(periods):
            ax.axvspan(s, e, color=_FAKE, alpha=0.18, lw=0, label="ground truth fake" if k == 0 else None)
        ax.plot(t[: sim.size] + 0.5 / fps, sim[:n], color=_SIM, lw=1.1,
                label="audio-visual synchrony (store's av_similarity)")
        ax.set_ylabel("AV sync")
    else:
        ax.text(0.5, 0.5, "no audio-visual similarity in the store", ha="center", va="center",
                transform=ax.transAxes, color="0.4", fontsize=9)
        ax.set_yticks([])
    ax.set_xlabel("time (s)")
    ax.set_xlim(0, duration)
    ax.grid(alpha=0.25)
    # one legend for the three panels: every mark drawn above, each once
    marks: dict[str, Any] = {}
    for a in axes:
        for handle, name in zip(*a.get_legend_handles_labels()):
            marks.setdefault(name, handle)
    fig.legend(list(marks.values()), list(marks), loc="outside lower center", ncol=3, fontsize=8,
               frameon=False)
    if context:
        fig.suptitle(context, fontsize=9, color="0.25")

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _curve_axes(ax, curves: Sequence[tuple[str, np.ndarray, np.ndarray, float]], kind: str) -> None:
    for name, x, y, value in curves:
        if x is None or not np.isfinite(value):
            continue
        ax.plot(x, y, lw=1.5, label=f"{name} ({'AUC' if kind == 'roc' else 'AP'} {value:.3f})",
                drawstyle="default" if kind == "roc" else "steps-post")
    if kind == "roc":
        ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1, label="chance")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title("ROC")
    else:
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title("precision-recall")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.grid(alpha=0.25)
    handles, labels = ax.get_legend_handles_labels()
    if any(label != "chance" for label in labels):
        ax.legend(fontsize=8, loc="lower right" if kind == "roc" else "lower left")
    else:
        ax.text(0.5, 0.5, "needs both classes", ha="center", va="center", transform=ax.transAxes)
        if handles:
            ax.legend(fontsize=8, loc="lower right")


def _collect(results: Mapping[str, Any]) -> dict[str, Any]:
    fps = float(results.get("fps", 25.0))
    thr = results.get("threshold", {})
    frame_thr = float(thr.get("frame", 0.5)) if isinstance(thr, Mapping) else float(thr)
    video_thr = float(thr.get("video", 0.5)) if isinstance(thr, Mapping) else float(thr)
    fprobs, flabels, vlabels, vprobs, ious, f1s, ratios = [], [], [], [], [], [], []
    for v in results.get("videos", []):
        labels = result_frame_labels(v, fps)
        probs = v.get("frame_probs")
        if v.get("label") in (0, 1) and v.get("video_prob") is not None:
            vlabels.append(int(v["label"]))
            vprobs.append(float(v["video_prob"]))
        if probs is None or labels is None:
            continue
        probs = np.asarray(probs, dtype=np.float64)
        fprobs.append(probs)
        flabels.append(labels)
        if v.get("label") == 1:
            pred = np.nan_to_num(probs) >= frame_thr
            valid = labels[: pred.size]
            ious.append(M.mask_iou(pred, valid))
            f1s.append(M.mask_f1(pred, valid))
            ok = (valid == 0) | (valid == 1)
            ratios.append(float((valid[ok] == 1).mean()) if ok.any() else np.nan)
    return {"fps": fps, "frame_thr": frame_thr, "video_thr": video_thr, "fprobs": fprobs,
            "flabels": flabels, "vlabels": np.asarray(vlabels), "vprobs": np.asarray(vprobs),
            "ious": np.asarray(ious), "f1s": np.asarray(f1s), "ratios": np.asarray(ratios)}


def plot_summary(results: Mapping[str, Any], path: str | Path, title: str | None = None) -> Path:
    """Summary sheet of an evaluation: ROC and PR curves (frame and video level), the video
    confusion matrix, per-fake-video IoU and F1 distributions, IoU against fake ratio. The title
    says what was evaluated (:func:`context_line`: store, split, checkpoint, thresholds and their
    source; ``title`` replaces it) and the headline numbers: the official LAV-DF AP/AR on the
    full set (in percent, when computed) and frame/video AUC and AP.

    ``results`` is what :func:`voca_models.evaluate.evaluate` returns (``videos`` with
    ``frame_probs``, ``video_prob``, ``label``, ``fake_periods``/``n_frames``; ``threshold``;
    ``fps``)."""
    path = Path(path)
    c = _collect(results)
    fig = _figure((15, 8.6))
    axes = fig.subplots(2, 3)
    if c["fprobs"]:
        fl = np.concatenate([lab[: p.size] for p, lab in zip(c["fprobs"], c["flabels"])])
        fp = np.concatenate([p[: lab.size] for p, lab in zip(c["fprobs"], c["flabels"])])
        f_roc = M.roc_curve(fl, fp)
        f_pr = M.pr_curve(fl, fp)
        f_auc = M.roc_auc(fl, fp)
        # AP with one class only is trivial (1 with positives only): no curve, like the ROC
        f_ap = M.average_precision(fl, fp) if np.isfinite(f_auc) else float("nan")
    else:
        f_roc = f_pr = (None, None, None)
        f_auc = f_ap = float("nan")
    v_roc = M.roc_curve(c["vlabels"], c["vprobs"])
    v_pr = M.pr_curve(c["vlabels"], c["vprobs"])
    v_auc = M.roc_auc(c["vlabels"], c["vprobs"])
    v_ap = M.average_precision(c["vlabels"], c["vprobs"]) if np.isfinite(v_auc) else float("nan")
    _curve_axes(axes[0, 0], [("frames", f_roc[0], f_roc[1], f_auc),
                             ("videos", v_roc[0], v_roc[1], v_auc)], "roc")
    _curve_axes(axes[0, 1], [("frames", f_pr[1], f_pr[0], f_ap),
                             ("videos", v_pr[1], v_pr[0], v_ap)], "pr")

    ax = axes[0, 2]
    cm = M.confusion(c["vlabels"], (c["vprobs"] >= c["video_thr"]).astype(int)) if c["vlabels"].size \
        else np.zeros((2, 2), int)
    ax.imshow(cm, cmap="Blues", vmin=0, vmax=max(int(cm.max()), 1))
    for i in range(2):
        for j in range(2):
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=16,
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xticks([0, 1], ["real", "fake"])
    ax.set_yticks([0, 1], ["real", "fake"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("truth")
    ax.set_title(f"videos at threshold {c['video_thr']:.2f}")

    bins = np.linspace(0, 1, 21)
    for ax, values, name in ((axes[1, 0], c["ious"], "IoU"), (axes[1, 1], c["f1s"], "F1")):
        if values.size:
            ax.hist(values, bins=bins, color=_PRED, alpha=0.8, edgecolor="white",
                    label="fake videos per bin")
            ax.axvline(values.mean(), color=_FAKE, ls="--", lw=1.2, label=f"mean {values.mean():.3f}")
            ax.axvline(np.median(values), color="0.2", ls=":", lw=1.2,
                       label=f"median {np.median(values):.3f}")
            ax.legend(fontsize=8, loc="upper left")
        else:
            ax.text(0.5, 0.5, "no fake videos with frame probabilities", ha="center", va="center",
                    transform=ax.transAxes, color="0.4")
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"frame {name} per fake video (threshold {c['frame_thr']:.2f})")
        ax.set_ylabel("videos")
        ax.set_title(f"{name} distribution ({values.size} fake videos)")
        ax.grid(alpha=0.25)

    ax = axes[1, 2]
    if c["ious"].size:
        ax.scatter(c["ratios"], c["ious"], s=18, alpha=0.7, color=_PRED, edgecolor="none",
                   label="one fake video")
        ax.legend(fontsize=8, loc="lower right")
    else:
        ax.text(0.5, 0.5, "no fake videos with frame probabilities", ha="center", va="center",
                transform=ax.transAxes, color="0.4")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("true fake ratio (fake frames / frames)")
    ax.set_ylabel("frame IoU")
    ax.set_title("IoU against fake ratio")
    ax.grid(alpha=0.25)

    head = title or context_line(results)
    headline = _headline(results)
    text = "\n".join(x for x in (head, headline) if x)
    if text:
        fig.suptitle(text, fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def plot_results(results: Mapping[str, Any], out_dir: str | Path, max_videos: int = 8,
                 av_similarity: Mapping[str, np.ndarray] | None = None) -> list[Path]:
    """The summary sheet and timelines of up to ``max_videos`` videos (fake videos first) into
    ``out_dir``; returns the written paths."""
    out_dir = Path(out_dir)
    fps = float(results.get("fps", 25.0))
    thr = results.get("threshold", {})
    frame_thr = float(thr.get("frame", 0.5)) if isinstance(thr, Mapping) else float(thr)
    paths = [plot_summary(results, out_dir / "summary.png")]
    videos = sorted(results.get("videos", []), key=lambda v: -(v.get("label") == 1))
    for v in videos[:max_videos]:
        sim = (av_similarity or {}).get(v.get("video_id"))
        paths.append(plot_timeline(v, out_dir / f"{safe_name(v.get('video_id', 'video'))}.png", fps=fps,
                                   threshold=frame_thr, av_similarity=sim,
                                   context=context_line(results)))
    return paths


def plot_history(history: Sequence[Mapping[str, Any]], file: str | Path) -> Path:
    """A training run's curves to ``file`` (PNG): the ``train_*`` losses (log scale) and the
    ``dev_*`` metrics per epoch, from the rows of ``history.csv``.

    >>> plot_history([{"epoch": 1, "train_loss": 0.7, "dev_video_auc": 0.8},
    ...               {"epoch": 2, "train_loss": 0.5, "dev_video_auc": 0.9}], "curves.png")  # doctest: +SKIP
    PosixPath('curves.png')
    """
    file = Path(file)
    epochs = [r["epoch"] for r in history]
    keys = list(dict.fromkeys(k for row in history for k in row))  # every row's, first-seen order
    fig = _figure((10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    for key in [k for k in keys if k.startswith("train_")]:
        ax1.plot(epochs, [r.get(key, np.nan) for r in history], marker=".", label=key[6:])
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss")
    ax1.set_yscale("log")
    ax1.legend(fontsize=8)
    for key in [k for k in keys if k.startswith("dev_")]:
        ax2.plot(epochs, [r.get(key, np.nan) for r in history], marker=".", label=key[4:])
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("dev metric")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.savefig(file, dpi=100)
    return file
