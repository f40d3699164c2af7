"""Inference on whole videos: windows are run through the model and stitched back.

>>> from voca_models import load_checkpoint, predict
>>> model, meta = load_checkpoint("runs/localizer")                    # doctest: +SKIP
>>> rows = predict(model, "lavdf.zarr", split="test", meta=meta)       # doctest: +SKIP
>>> rows[0]["video_id"], rows[0]["frame_probs"].shape, rows[0]["video_prob"]   # doctest: +SKIP
('test/000001', (312,), 0.97)

Long videos are cut into windows of the training window length (non-overlapping unless
``stride`` is given); a frame's probability is the sigmoid of its logit averaged over the windows
that contain it, and a video's probability is the sigmoid of the largest window video logit
(a video is as fake as its most fake part) -- or, when the checkpoint's ``video_score`` says
``frames`` (chosen on the dev split by :func:`voca_models.train`), the mean of its ``top_k``
largest frame probabilities.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch.utils.data import DataLoader
from voca_data.progress import tqdm

from .checkpoint import check_feature_dims
from .data import StoreInfo, normalized_dataset, to_device
from .models import VideoModel

log = logging.getLogger(__name__)

__all__ = ["predict", "DEFAULT_WINDOW", "VIDEO_TOP_K", "top_k_mean"]

DEFAULT_WINDOW = 512
#: frames averaged by the ``frames`` video score (0.2 s at 25 fps, shorter than LAV-DF's fakes)
VIDEO_TOP_K = 5


def top_k_mean(probs: np.ndarray, k: int = VIDEO_TOP_K) -> float:
    """Mean of the ``k`` largest finite values of ``probs`` (all of them when fewer).

    >>> top_k_mean(np.array([0.1, 0.9, 0.8, 0.2]), k=2)
    0.85
    """
    p = np.asarray(probs, dtype=np.float64)
    p = p[np.isfinite(p)]
    if p.size == 0:
        return float("nan")
    k = max(1, min(int(k), p.size))
    return float(np.round(np.sort(p)[-k:].mean(), 12))


def _sigmoid(x: np.ndarray | float) -> Any:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


@torch.no_grad()
def predict(
    model: VideoModel,
    store: str | Path,
    split: str | list[str] | None = None,
    meta: Mapping[str, Any] | None = None,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    window: int | None = None,
    stride: int | None = None,
    max_videos: int | None = None,
    progress: bool = False,
    num_workers: int = 0,
) -> list[dict[str, Any]]:
    """Per-video predictions of ``model`` on the ok videos of ``split`` (``None``: all splits).

    Parameters
    ----------
    model:
        A model from :func:`voca_models.build` or :func:`voca_models.load_checkpoint`.
    store:
        Path of a Zarr store; its feature dims must match the model's.
    meta:
        The checkpoint's meta dict: features are normalised with the *training* store's
        statistics and windows default to the training window. Without it, the store's own
        statistics are used.
    window, stride:
        Window length and step in frames (default: the training window, non-overlapping).

    Returns
    -------
    list of dict
        One per video, in store order: ``video`` (store index), ``video_id``, ``n_frames``,
        ``label`` (-1 unknown), ``frame_labels`` (int8 ``(n_frames,)`` as stored: 1 fake, 0 real,
        -1 unknown), ``frame_probs`` (float32 ``(n_frames,)``, ``None`` for video-level
        models), ``video_prob`` (float: the checkpoint's ``video_score``, default the head);
        models with frame outputs add ``video_prob_head`` and ``video_prob_frames`` (mean of the
        top-k frame probabilities).
    """
    info = StoreInfo.load(store)
    features = tuple(model.config.features)
    if meta is not None:
        check_feature_dims(
            meta, info.feature_dims, str(meta.get("checkpoint_dir", "the checkpoint"))
        )
        stats = {k: np.asarray(v, dtype=np.float32) for k, v in (meta.get("stats") or {}).items()}
        window = window or int((meta.get("train_config") or {}).get("window") or DEFAULT_WINDOW)
    else:
        for name in features:
            want = model.config.feature_dim(name)
            if info.feature_dims.get(name) != want:
                raise ValueError(
                    f"{store}: feature {name!r} has {info.feature_dims.get(name)} dims, the model "
                    f"expects {want}"
                )
        stats = info.check_stats(features)
        window = window or DEFAULT_WINDOW
    if isinstance(split, str):
        info.resolve_split("predict", split)
    dataset = normalized_dataset(
        info.store,  # opened once by StoreInfo.load
        split,
        features,
        window=window,
        stats=stats,
        random_crop=False,
        stride=stride,
        max_videos=max_videos,
    )
    from voca_data.torch import collate

    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, collate_fn=collate, num_workers=num_workers
    )
    # a model trained on N sampled frames per window scores N uniformly spaced frames per window
    frames_per_video = int(((meta or {}).get("train_config") or {}).get("frames_per_video") or 0)
    was_training = model.training
    model.eval()
    if not isinstance(device, torch.device):  # "auto", "cuda" ...: the one resolve_device
        from voca_data.devices import resolve_device

        device = resolve_device(device)
    device = torch.device(device)
    n_frames = {int(v): int(n) for v, n in zip(dataset.videos, dataset.n_frames)}
    frame_sum: dict[int, np.ndarray] = {}
    frame_count: dict[int, np.ndarray] = {}
    frame_labels = {v: np.full(n, -1, np.int8) for v, n in n_frames.items()}
    video_logit: dict[int, float] = {}
    try:
        for batch in tqdm(loader, desc="predict", unit="batch", disable=not progress, leave=False):
            batch = to_device(batch, device)
            out = model(batch)
            vl = out["video_logit"].float().cpu().numpy()
            if frames_per_video:
                from .sampling import sample_frames

                sampled = model(sample_frames(batch, frames_per_video, "uniform"))
                vl = sampled["video_logit"].float().cpu().numpy()
            fls = batch["frame_label"].cpu().numpy()
            fl = (
                None
                if out.get("frame_logits") is None
                else out["frame_logits"].float().cpu().numpy()
            )
            for k in range(vl.shape[0]):
                v = int(batch["video"][k])
                start = int(batch["start"][k])
                length = int(batch["mask"][k].sum())
                video_logit[v] = max(video_logit.get(v, -np.inf), float(vl[k]))
                frame_labels[v][start : start + length] = fls[k, :length]
                if fl is not None:
                    if v not in frame_sum:
                        frame_sum[v] = np.zeros(n_frames[v], np.float64)
                        frame_count[v] = np.zeros(n_frames[v], np.int64)
                    frame_sum[v][start : start + length] += fl[k, :length]
                    frame_count[v][start : start + length] += 1
    finally:
        model.train(was_training)
    score = dict((meta or {}).get("video_score") or {})
    source, top_k = score.get("source", "head"), int(score.get("top_k", VIDEO_TOP_K))
    if source not in ("head", "frames"):
        raise ValueError(f"the checkpoint's video_score source {source!r} is not head or frames")
    rows = []
    for v, vid, label in zip(dataset.videos.tolist(), dataset.video_ids, dataset.labels.tolist()):
        probs = None
        if v in frame_sum:
            if (frame_count[v] == 0).any():  # cannot happen with stride <= window
                raise RuntimeError(f"video {vid}: some frames were in no window")
            probs = _sigmoid(frame_sum[v] / frame_count[v]).astype(np.float32)
        row = {
            "video": int(v),
            "video_id": str(vid),
            "n_frames": n_frames[v],
            "label": int(label),
            "frame_labels": frame_labels[v],
            "frame_probs": probs,
            "video_prob": float(_sigmoid(video_logit[v])),
        }
        if probs is not None:
            row["video_prob_head"] = row["video_prob"]
            row["video_prob_frames"] = top_k_mean(probs, top_k)
            if source == "frames":
                row["video_prob"] = row["video_prob_frames"]
        rows.append(row)
    return rows
