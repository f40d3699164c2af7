"""A contact sheet of one video of a store: frames with the face box, the lower-face crops that
were embedded, and the timeline of frame labels, visual and AV similarity (one PNG instead of
per-frame PNG folders and per-video similarity plots).

Example
-------
>>> from voca_data.preview import contact_sheet
>>> contact_sheet("lavdf.zarr", "test/000001", "000001.png")        # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from .store import schema

log = logging.getLogger(__name__)

__all__ = ["contact_sheet", "load_video_features"]


def load_video_features(store: str | os.PathLike | Any, video_id: str) -> dict[str, Any]:
    """Per-video and per-frame values of one video (cut to its ``n_frames``); ``store`` is a
    path, URL or :class:`voca_data.Store`."""
    from .store.handle import Store

    handle = Store.open(store)
    k = handle.index_of(video_id)
    n = int(handle.n_frames[k])
    ds = handle.dataset
    out: dict[str, Any] = {"index": k, "video_id": video_id, "n_frames": n,
                           "path": str(ds["path"].values[k]), "status": int(handle.status[k]),
                           "error": str(ds["error"].values[k]), "label": int(handle.labels[k]),
                           "notes": str(ds["notes"].values[k]) if "notes" in ds.variables else "",
                           "attrs": dict(handle.attrs), "fps": handle.fps}
    names = ("face_box", "face_score", "frame_label", "visual_similarity", "av_similarity")
    out.update(handle.read(k, [m for m in names if m in handle.frame_variables], 0, n))
    return out


def contact_sheet(store: str | os.PathLike, video_id: str, out: str | os.PathLike,
                  root: str | os.PathLike | None = None, columns: int = 8) -> Path:
    """Draw the contact sheet of ``video_id`` to ``out`` (PNG).

    ``root`` is the dataset root the store's ``path`` is relative to (default: the store's
    ``dataset.root`` provenance attribute). The video is decoded again; the face box is the
    stored one and the crop is cut from it exactly as the extractor did.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from .faces import FaceTrack, lower_face_crops
    from .media import MediaError, decode

    feats = load_video_features(store, video_id)
    if feats["status"] != schema.OK:
        raise ValueError(f"{video_id} has status {schema.STATUS_NAMES[feats['status']]}"
                         f"{': ' + feats['error'] if feats['error'] else ''}; nothing to preview")
    if root is None:
        root = (feats["attrs"].get("dataset") or {}).get("root")
        if not root:
            raise ValueError(f"{store} records no dataset root; pass --root")
    from .records import ManifestError, check_relative_path

    try:  # the stored path is data: never follow it outside the dataset root
        check_relative_path(str(feats["path"]), what=f"{store}: video {video_id!r}")
    except ManifestError as exc:
        raise ValueError(f"{exc}; refusing to open it (voca check flags it too)") from None
    media = Path(root) / feats["path"]
    real_root = os.path.realpath(root)
    if not os.path.realpath(media).startswith(real_root.rstrip(os.sep) + os.sep):
        raise ValueError(f"{store}: video {video_id!r}: path {feats['path']!r} resolves to "
                         f"{os.path.realpath(media)}, outside the dataset root {real_root}; "
                         "refusing to open it")
    n = feats["n_frames"]
    try:
        video = decode(media, fps=feats["fps"], max_frames=n)
    except MediaError as e:
        raise FileNotFoundError(f"cannot re-decode {video_id}: {e}; pass the dataset root "
                                "(--root) if the dataset moved") from e
    frames = video.frames[:n]
    n = min(n, len(frames))
    boxes = feats["face_box"][:n].astype(np.float32)
    scores = feats["face_score"][:n].astype(np.float32)
    settings = feats["attrs"].get("extraction") or {}
    crop_size = int(settings.get("crop_size") or 96)
    track = FaceTrack(boxes=boxes, scores=scores, landmarks=None)
    cols = max(1, min(columns, n))
    picks = np.unique(np.linspace(0, n - 1, cols).round().astype(int))
    crops = lower_face_crops(frames[picks], FaceTrack(boxes=boxes[picks], scores=scores[picks],
                                                      landmarks=None), crop_size)
    del track

    fig = plt.figure(figsize=(2.0 * len(picks), 6.4))
    grid = fig.add_gridspec(3, len(picks), height_ratios=[1.2, 1.0, 1.4])
    for j, t in enumerate(picks):
        ax = fig.add_subplot(grid[0, j])
        ax.imshow(frames[t])
        x0, y0, x1, y1 = boxes[t]
        if np.isfinite([x0, y0, x1, y1]).all():
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.5,
                                   color="lime" if scores[t] > 0 else "orange"))
        fake = feats["frame_label"][t] == 1
        ax.set_title(f"t={t} ({t / feats['fps']:.2f}s){' FAKE' if fake else ''}", fontsize=7,
                     color="red" if fake else "black")
        ax.axis("off")
        ax2 = fig.add_subplot(grid[1, j])
        ax2.imshow(crops[j])
        ax2.set_title(f"face {scores[t]:.2f}", fontsize=7)
        ax2.axis("off")
    ax = fig.add_subplot(grid[2, :])
    t = np.arange(n) / feats["fps"]
    lab = feats["frame_label"][:n]
    if (lab == 1).any():
        ax.fill_between(t, 0, 1, where=lab == 1, step="mid", color="red", alpha=0.15,
                        transform=ax.get_xaxis_transform(), label="fake frames")
    ax.plot(t, feats["visual_similarity"][:n], lw=1, label="visual similarity")
    ax.plot(t, feats["av_similarity"][:n], lw=1, label="AV similarity")
    ax.set_xlabel("time (s)")
    ax.set_xlim(0, max(t[-1], 1e-3) if n else 1)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title(f"{video_id}  label={feats['label']}  {feats['error'] or feats['notes']}", fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
