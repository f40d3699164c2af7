"""Evaluation of a checkpoint on a store split: every metric of :mod:`voca_models.metrics`.

:func:`evaluate` loads a checkpoint, predicts the split (and the dev split, to choose thresholds
when none is given), generates temporal proposals from the frame probabilities
(:mod:`voca_models.proposals`) and scores everything with :func:`score_predictions`, which also
works on predictions made elsewhere (any list of ``{video_id, frame_probs, video_prob}``).

Example
-------
>>> from voca_models.evaluate import evaluate, write_results
>>> results = evaluate("runs/localizer", "lavdf.zarr", split="test")     # doctest: +SKIP
>>> results["metrics"]["lavdf"]["full"]["AP@0.5"]                        # doctest: +SKIP
0.91
>>> write_results(results, "results.json")                               # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics as M
from .proposals import generate_proposals

log = logging.getLogger(__name__)

__all__ = [
    "RESULTS_FORMAT",
    "choose_thresholds",
    "evaluate",
    "plot_evaluation",
    "read_av_similarity",
    "score_predictions",
    "store_truth",
    "write_results",
]

RESULTS_FORMAT = "voca-results"


def _open(store: str | Path | Any) -> Any:
    """The :class:`voca_data.Store` of a path, URL or already opened store (opened once)."""
    import voca_data

    return voca_data.Store.open(store)


def store_truth(store: str | Path | Any, split: str | None = None,
                video_ids: Sequence[str] | None = None,
                frame_labels: bool = True) -> list[dict[str, Any]]:
    """Ground truth of the ok videos of ``split`` (or of ``video_ids``), in store order:
    ``video_id, video (store index), label, n_frames, fake_periods (seconds), modify_video,
    modify_audio`` and, with ``frame_labels=True``, the stored ``frame_labels`` (``n_frames`` long).
    ``store``: a path, URL or :class:`voca_data.Store`.

    >>> truth = store_truth("lavdf.zarr", "test")                      # doctest: +SKIP
    >>> truth[0]["fake_periods"]                                        # doctest: +SKIP
    [[2.1, 2.6]]
    """
    handle = _open(store)
    ds = handle.dataset
    ids = handle.video_ids.tolist()
    if video_ids is not None:
        missing = [v for v in video_ids if v not in set(ids)]
        if missing:
            raise KeyError(f"{handle.url}: no video {missing[0]!r} ({len(missing)} id(s) not in the store)")
        idx = [handle.index_of(v) for v in video_ids]
    else:
        if split is not None and split not in handle.split_names:
            raise ValueError(f"{handle.url} has no split {split!r}: it has {handle.split_names}")
        idx = np.flatnonzero(handle.select(split) & (handle.status == handle.OK)).tolist()
    periods = np.asarray(ds["fake_periods"].values, dtype=np.float64)
    n_videos = handle.n_videos
    mv = np.asarray(ds["modify_video"].values) if "modify_video" in ds else np.full(n_videos, -1)
    ma = np.asarray(ds["modify_audio"].values) if "modify_audio" in ds else np.full(n_videos, -1)
    out = []
    for i in idx:
        p = periods[i]
        p = p[np.isfinite(p).all(axis=1)] if p.ndim == 2 else np.zeros((0, 2))
        row = {"video_id": ids[i], "video": int(i), "label": int(handle.labels[i]),
               "n_frames": int(handle.n_frames[i]), "fake_periods": p.tolist(),
               "modify_video": int(mv[i]), "modify_audio": int(ma[i])}
        if frame_labels:
            row["frame_labels"] = np.asarray(handle.read(i, ["frame_label"])["frame_label"],
                                             dtype=np.int8)
        out.append(row)
    return out


def read_av_similarity(store: str | Path | Any, video_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """The stored ``av_similarity`` of a few videos (for timelines); empty if the store has none."""
    handle = _open(store)
    if "av_similarity" not in handle.frame_variables:
        return {}
    known = set(handle.video_ids.tolist())
    return {vid: np.asarray(handle.read(vid, ["av_similarity"])["av_similarity"], dtype=np.float64)
            for vid in video_ids if vid in known}


def plot_evaluation(results: Mapping[str, Any], store: str | Path | Any, out_dir: str | Path,
                    max_plots: int = 8) -> list[Path]:
    """The summary sheet and the timelines of up to ``max_plots`` videos (fake videos first, with
    the store's ``av_similarity`` when it has one) of :func:`evaluate`'s ``results``, as PNGs in
    ``out_dir``; returns the written paths (the summary first).

    >>> paths = plot_evaluation(evaluate("runs/loc", "lavdf.zarr"), "lavdf.zarr", "plots/")  # doctest: +SKIP
    """
    from .plots import plot_results

    fakes_first = sorted(results["videos"], key=lambda v: -(v.get("label") == 1))
    sims = read_av_similarity(store, [v["video_id"] for v in fakes_first[:max_plots]])
    return plot_results(results, out_dir, max_videos=max_plots, av_similarity=sims)


def choose_thresholds(predictions: Sequence[Mapping[str, Any]], truth: Sequence[Mapping[str, Any]],
                      video_score: str = "head", criterion: str = "f1") -> dict[str, float]:
    """Frame and video thresholds maximising ``criterion`` on these (dev) predictions."""
    by_id = {t["video_id"]: t for t in truth}
    pairs = [(p, by_id[p["video_id"]]) for p in predictions if p["video_id"] in by_id]
    frame_p = [np.asarray(p["frame_probs"]) for p, _ in pairs if p.get("frame_probs") is not None]
    frame_l = [t["frame_labels"] for p, t in pairs if p.get("frame_probs") is not None]
    out = {}
    if frame_p:
        out["frame"] = M.choose_threshold(np.concatenate([l[: p.size] for p, l in zip(frame_p, frame_l)]),
                                          np.concatenate([p[: l.size] for p, l in zip(frame_p, frame_l)]),
                                          criterion)
    scores = M.video_scores([p.get("frame_probs") for p, _ in pairs],
                            [p.get("video_prob") for p, _ in pairs], video_score)
    out["video"] = M.choose_threshold([t["label"] for _, t in pairs], scores, criterion)
    return out


def score_predictions(
    predictions: Sequence[Mapping[str, Any]], truth: Sequence[Mapping[str, Any]], fps: float = 25.0,
    frame_threshold: float = 0.5, video_threshold: float = 0.5, video_score: str = "head",
    proposal_options: Mapping[str, Any] | None = None, subsets: Sequence[str] = M.LAVDF_SUBSETS,
) -> dict[str, Any]:
    """All metrics for ``predictions`` against ``truth`` (from :func:`store_truth`).

    ``predictions``: one dict per video with ``video_id``, ``video_prob`` and ``frame_probs``
    (``None`` for video-level models) and optionally ``segments`` (``[[start_s, end_s, score],
    ...]``; generated from ``frame_probs`` when absent). Returns ``{"metrics": {frame, video, iou,
    lavdf}, "videos": [...]}``; frame-level entries are ``None`` when no video has frame
    probabilities. Every video of ``truth`` must have a prediction.
    """
    by_id = {p["video_id"]: p for p in predictions}
    missing = [t["video_id"] for t in truth if t["video_id"] not in by_id]
    if missing:
        raise KeyError(f"no prediction for video {missing[0]!r} ({len(missing)} missing)")
    videos = []
    has_frames = any(by_id[t["video_id"]].get("frame_probs") is not None for t in truth)
    for t in truth:
        p = by_id[t["video_id"]]
        probs = p.get("frame_probs")
        probs = None if probs is None else np.asarray(probs, dtype=np.float64)
        segments = p.get("segments")
        if segments is None:
            segments = (generate_proposals(probs, fps, **dict(proposal_options or {})).tolist()
                        if probs is not None else [])
        n = int(t.get("n_frames") or (probs.size if probs is not None else 0))
        entry: dict[str, Any] = {
            "video_id": t["video_id"], "label": int(t.get("label", -1)), "n_frames": n,
            "video_prob": p.get("video_prob"), "frame_probs": probs, "segments": segments,
            "fake_periods": t.get("fake_periods", []), "modify_video": t.get("modify_video", -1),
            "modify_audio": t.get("modify_audio", -1),
        }
        labels = t.get("frame_labels")
        # without stored frame labels: from the periods, unless a fake video has none (unknown)
        if labels is None and (t.get("label", -1) == 0
                               or (t.get("label", -1) == 1 and len(t.get("fake_periods") or []))):
            import voca_data

            labels = voca_data.frame_labels([tuple(x) for x in t.get("fake_periods", [])], n, fps)
        entry["_labels"] = None if labels is None else np.asarray(labels)
        videos.append(entry)

    vscores = M.video_scores([v["frame_probs"] for v in videos], [v["video_prob"] for v in videos],
                             video_score)
    for v, s in zip(videos, vscores):
        v["video_prob"] = None if not np.isfinite(s) else float(s)
        v["video_pred"] = None if v["video_prob"] is None else int(v["video_prob"] >= video_threshold)
    metrics: dict[str, Any] = {}
    labelled = [i for i, v in enumerate(videos) if v["label"] in (0, 1)]
    metrics["video"] = M.binary_metrics([videos[i]["label"] for i in labelled], vscores[labelled],
                                        video_threshold)
    if has_frames:
        fv = [v for v in videos if v["frame_probs"] is not None and v["_labels"] is not None]
        metrics["frame"] = M.frame_metrics([v["frame_probs"] for v in fv], [v["_labels"] for v in fv],
                                           frame_threshold)
        for v in fv:
            lab = v["_labels"]
            pred = np.nan_to_num(v["frame_probs"]) >= frame_threshold
            ok = (lab == 0) | (lab == 1)
            v["fake_ratio"] = float((lab[ok] == 1).mean()) if ok.any() else None
            v["fake_ratio_pred"] = float(pred[: lab.size][ok[: pred.size]].mean()) if ok.any() else None
            if v["label"] == 1:
                v["iou"] = M.mask_iou(pred, lab)
                v["f1"] = M.mask_f1(pred, lab)
        metrics["iou"] = M.iou_summary(v["iou"] for v in fv if "iou" in v)
        metrics["f1_per_video"] = M.iou_summary(v["f1"] for v in fv if "f1" in v)
        located = [v for v in videos if v["label"] in (0, 1)]
        proposals = {v["video_id"]: M.segments_to_official(v["segments"]) for v in located}
        metrics["lavdf"] = M.lavdf_metrics(proposals, located, subsets=subsets)
    else:
        metrics["frame"] = metrics["iou"] = metrics["f1_per_video"] = metrics["lavdf"] = None
    for v in videos:
        v.pop("_labels", None)
    return {"metrics": metrics, "videos": videos}


def evaluate(
    checkpoint: str | Path, store: str | Path, split: str = "test", threshold: float | None = None,
    video_threshold: float | None = None, video_score: str = "head", threshold_split: str | None = "dev",
    batch_size: int = 8, device: str = "cpu", proposal_options: Mapping[str, Any] | None = None,
    progress: bool = False, model: Any = None, meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate a checkpoint on ``split`` of ``store``.

    Parameters
    ----------
    checkpoint:
        Checkpoint or run directory (:func:`voca_models.load_checkpoint`); ignored when ``model``
        and ``meta`` are given.
    threshold, video_threshold:
        Frame and video decision thresholds. ``None``: chosen (max F1) on ``threshold_split``
        when the store has it with labels, else 0.5. ``video_threshold`` defaults to
        ``threshold`` when only that is given.
    video_score:
        Video score from the model's video head (``head``) or the ``max``/``mean`` of the frame
        probabilities.
    proposal_options:
        Keyword arguments of :func:`voca_models.proposals.generate_proposals`.

    Returns
    -------
    dict
        JSON-ready (after :func:`write_results`): ``format``, ``checkpoint``, ``model``, ``store``,
        ``split``, ``fps``, ``threshold`` {frame, video, source}, ``video_score``, ``metrics``
        {frame, video, iou, f1_per_video, lavdf {full, visual-only-subset, audio-only-subset}},
        ``videos`` [{video_id, label, n_frames, video_prob, video_pred, frame_probs, segments,
        fake_periods, modify_video, modify_audio, iou, f1, fake_ratio, fake_ratio_pred}].
    """
    import voca_models
    from voca_data.devices import resolve_device

    device = resolve_device(device)  # "auto" -> cuda when there is one, else cpu
    if model is None or meta is None:
        model, meta = voca_models.load_checkpoint(checkpoint, map_location=device)
    handle = _open(store)
    fps = handle.fps
    splits = set(handle.split_names)
    # the store's name for the split (``dev`` -> ``valset`` ...: voca_data.SPLIT_ALIASES)
    requested, split = split, handle.resolve_split("evaluation", split)
    if split != requested:
        log.info("split %r not in the store: using %r", requested, split)
    if threshold_split:
        try:
            threshold_split = handle.resolve_split("thresholds", threshold_split)
        except ValueError:  # not in this store: default thresholds (the source says so)
            threshold_split = None
    preds = voca_models.predict(model, store, split=split, meta=meta, batch_size=batch_size,
                                device=device, progress=progress)
    truth = store_truth(store, split)
    source = "given"
    thresholds = {"frame": threshold, "video": video_threshold if video_threshold is not None else threshold}
    if thresholds["frame"] is None or thresholds["video"] is None:
        chosen: dict[str, float] = {}
        if threshold_split and threshold_split in splits and threshold_split != split:
            dev_truth = [t for t in store_truth(store, threshold_split) if t["label"] in (0, 1)]
            if dev_truth and len({t["label"] for t in dev_truth}) == 2:
                dev_preds = voca_models.predict(model, store, split=threshold_split, meta=meta,
                                                batch_size=batch_size, device=device, progress=progress)
                chosen = choose_thresholds(dev_preds, dev_truth, video_score)
                source = f"chosen on {threshold_split} (max F1)"
        if not chosen:
            source = "default"
        for k in ("frame", "video"):
            if thresholds[k] is None:
                thresholds[k] = float(chosen.get(k, 0.5))
        if threshold is not None or video_threshold is not None:
            source = f"given / {source}"
    scored = score_predictions(preds, truth, fps=fps, frame_threshold=float(thresholds["frame"]),
                               video_threshold=float(thresholds["video"]), video_score=video_score,
                               proposal_options=proposal_options)
    import voca_data

    return {
        "format": RESULTS_FORMAT, "format_version": 1,
        "voca_version": getattr(voca_data, "__version__", None) or handle.attrs.get("voca_version"),
        "checkpoint": str(meta.get("checkpoint_dir", checkpoint)), "model": meta.get("model"),
        "store": str(store), "split": split, "fps": fps, "n_videos": len(truth),
        "threshold": {"frame": float(thresholds["frame"]), "video": float(thresholds["video"]),
                      "source": source},
        "video_score": video_score, "proposals": dict(proposal_options or {}),
        "metrics": scored["metrics"], "videos": scored["videos"],
    }


def write_results(results: Mapping[str, Any], path: str | Path, digits: int = 6) -> Path:
    """Write results (or predictions) as JSON, atomically: NaN -> null, arrays -> lists, frame
    probabilities rounded to ``digits`` decimals, one line per video so large files stay readable.
    A list is written as one entry per line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def compact(v: Any) -> Any:
        if isinstance(v, Mapping):
            v = dict(v)
            if v.get("frame_probs") is not None:
                v["frame_probs"] = np.round(np.asarray(v["frame_probs"], dtype=np.float64), digits)
        return M.to_jsonable(v)

    if isinstance(results, Mapping):
        data = M.to_jsonable({k: v for k, v in results.items() if k != "videos"})
        text = json.dumps(data, indent=1)
        if "videos" in results:
            rows = ",\n".join("  " + json.dumps(compact(v)) for v in results["videos"])
            head = text[:-2] + ",\n" if data else "{\n"
            text = head + ' "videos": [\n' + rows + "\n ]\n}"
    else:
        text = "[\n" + ",\n".join(" " + json.dumps(compact(v)) for v in results) + "\n]"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)
    return path
