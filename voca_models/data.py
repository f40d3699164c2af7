"""Glue between a store and the models: split names, checks before training, datasets, loaders.

Stores are read only through voca_data's public API (the :class:`voca_data.Store` handle for
per-video metadata, statistics and reads, :class:`voca_data.torch.VideoDataset` for per-frame
tensors); a store may be a path, a URL or an opened ``Store``.

>>> from voca_models.data import StoreInfo
>>> info = StoreInfo.load("lavdf.zarr")                        # doctest: +SKIP
>>> info.resolve_split("dev"), info.feature_dims["visual"]     # doctest: +SKIP
('dev', 512)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

import voca_data

log = logging.getLogger(__name__)

__all__ = ["StoreInfo", "normalized_dataset", "to_device"]

#: store attributes copied into a checkpoint (where the features came from)
PROVENANCE_KEYS = (
    "visual_encoder",
    "audio_encoder",
    "face_detector",
    "extraction",
    "av_sync",
    "dataset",
    "fps",
    "audio_rate",
    "voca_schema",
    "voca_version",
)



@dataclass
class StoreInfo:
    """Per-video metadata of a store (no per-frame data), read with ``voca_data.open``."""

    path: Path
    splits: np.ndarray
    labels: np.ndarray
    status: np.ndarray
    n_frames: np.ndarray
    fake_periods: np.ndarray
    fps: float
    attrs: dict[str, Any]
    feature_dims: dict[str, int]
    frame_variables: tuple[str, ...]
    stats: dict[str, np.ndarray] = field(default_factory=dict)

    store: Any = None  #: the :class:`voca_data.Store` this was read from

    @classmethod
    def load(cls, store: str | Path | Any,
             storage_options: Mapping[str, Any] | None = None) -> "StoreInfo":
        """Read from a path, URL or :class:`voca_data.Store` (opened once, kept in ``.store``)."""
        handle = voca_data.Store.open(store, storage_options)
        dims = {
            "visual": int(handle.sizes.get("visual_dim", 0)),
            "audio": int(handle.sizes.get("audio_dim", 0)),
        }
        for n, d in handle.feature_dims.items():
            if n not in dims and d == 1:
                dims[n] = 1
        return cls(
            path=handle.url if handle.location.is_remote else Path(handle.url),
            splits=handle.splits.astype(object),
            labels=handle.labels,
            status=handle.status,
            n_frames=handle.n_frames,
            fake_periods=np.asarray(handle.dataset["fake_periods"].values, dtype=np.float64),
            fps=handle.fps,
            attrs=dict(handle.attrs),
            feature_dims=dims,
            frame_variables=handle.frame_variables,
            stats=handle.stats,
            store=handle,
        )

    # ---------------------------------------------------------------- splits
    @property
    def split_names(self) -> list[str]:
        return sorted(set(self.splits.tolist()))

    def resolve_split(self, role: str, name: str | None = None) -> str | None:
        """The split to use for ``role`` (train/dev/test): ``name`` if given (checked), else the
        first alias present in the store (``train``/``trainset``, ``dev``/``val``/``valset``, ...)."""
        return self.store.resolve_split(role, name)

    def usable(self, split: str) -> np.ndarray:
        """Store indices of ok videos with frames in ``split``."""
        ok = self.status == voca_data.Store.OK
        return np.flatnonzero((self.splits == split) & ok & (self.n_frames > 0))

    def check_split(self, split: str, role: str, both_classes: bool = True) -> None:
        """Refuse an empty split or (for training/selection) one with a single class."""
        idx = self.usable(split)
        if idx.size == 0:
            total = int((self.splits == split).sum())
            raise ValueError(
                f"{self.path}: split {split!r} ({role}) has no usable videos "
                f"({total} listed, none with status ok and frames); extract it first"
            )
        if both_classes:
            labels = self.labels[idx]
            known = labels[labels >= 0]
            classes = sorted(set(known.tolist()))
            if classes != [0, 1]:
                raise ValueError(
                    f"{self.path}: split {split!r} ({role}) has videos of one class only "
                    f"({', '.join(f'{c}: {int((known == c).sum())}' for c in classes) or 'no labels'};"
                    " labels 0 real / 1 fake): AUC and training need real and fake videos"
                )

    def check_features(self, features: Sequence[str], split: str) -> None:
        """Refuse a store that lacks (or never filled) a feature the model needs."""
        for name in features:
            if name not in self.frame_variables:
                raise ValueError(
                    f"{self.path}: the model needs per-frame feature {name!r}, which the "
                    f"store does not have (per-frame variables: {list(self.frame_variables)})"
                )
            if self.feature_dims.get(name, 0) <= 0:
                raise ValueError(f"{self.path}: feature {name!r} has dimension 0")
        for name in features:
            if not self.has_values(name, split):
                hint = (
                    " (run `voca finalize` with the AV-sync fit to compute it)"
                    if name == "av_similarity"
                    else ""
                )
                raise ValueError(
                    f"{self.path}: feature {name!r} holds no values (all NaN) in split "
                    f"{split!r}{hint}"
                )

    def has_values(self, name: str, split: str) -> bool:
        """Whether per-frame feature ``name`` holds finite values in ``split``, judged on its first
        three usable videos (read through the Store handle: a failed read names the store, array,
        video and chunk)."""
        for i in self.usable(split)[:3]:
            values = np.asarray(self.store.read(int(i), [name])[name], dtype=np.float32)
            if np.isfinite(values).any():
                return True
        return False

    def check_stats(self, features: Sequence[str]) -> dict[str, np.ndarray]:
        """The train statistics the model will be normalised with (finalized stores have them)."""
        out = {}
        for f in features:
            if f not in ("visual", "audio"):
                continue
            for s in ("mean", "std"):
                v = self.stats.get(f"{f}_{s}")
                if v is None or not np.isfinite(v).all():
                    raise ValueError(
                        f"{self.path} has no finite {f}_{s} statistics: the store is not "
                        f"finalized; run `voca finalize {self.path}`"
                    )
                out[f"{f}_{s}"] = v
        return out

    # ---------------------------------------------------------------- class balance
    def fake_ratios(self, split: str) -> dict[str, float]:
        """Fraction of fake frames and of fake videos among labelled ok videos of ``split``
        (frame labels from the stored fake periods by the one frame-label rule; fakes without
        known periods, e.g. Multi-FFDV, count for videos only)."""
        idx = self.usable(split)
        labels = self.labels[idx]
        known = idx[labels >= 0]
        fake_frames = total = 0
        for i in known:
            n = int(self.n_frames[i])
            periods = self.fake_periods[i]
            periods = (
                periods[np.isfinite(periods).all(axis=1)] if periods.ndim == 2 else np.zeros((0, 2))
            )
            if self.labels[i] == 1 and len(periods) == 0:
                continue  # a fake without known periods: its frames are unlabelled
            fake_frames += int(
                voca_data.frame_labels([tuple(p) for p in periods], n, self.fps).sum()
            )
            total += n
        n_known = max(int(known.size), 1)
        return {
            "frame": fake_frames / max(total, 1),
            "video": float((self.labels[known] == 1).sum()) / n_known,
        }

    def provenance(self) -> dict[str, Any]:
        return {k: self.attrs[k] for k in PROVENANCE_KEYS if k in self.attrs}


def normalized_dataset(
    store: str | Path | Any,
    split: str,
    features: Sequence[str],
    window: int | None,
    stats: Mapping[str, Any] | None,
    random_crop: bool = False,
    stride: int | None = None,
    max_videos: int | None = None,
) -> Any:
    """A :class:`voca_data.torch.VideoDataset` normalised with ``stats`` (the training store's);
    ``store`` is a path, URL or :class:`voca_data.Store` (a :class:`StoreInfo` passes its own).
    (:func:`voca_data.synth.make_dataset` is another thing: it writes a synthetic dataset.)

    >>> ds = normalized_dataset("lavdf.zarr", "train", ("visual", "audio"), window=128,
    ...                         stats=StoreInfo.load("lavdf.zarr").check_stats(("visual", "audio")))  # doctest: +SKIP
    """
    if isinstance(store, StoreInfo):
        store = store.store
    from voca_data.torch import VideoDataset

    normalize: bool | Mapping[str, Any] = dict(stats) if stats else False
    return VideoDataset(
        store,
        split=split,
        window=window,
        stride=stride,
        features=tuple(features),
        normalize=normalize,
        random_crop=random_crop,
        max_videos=max_videos,
    )


def to_device(
    batch: Mapping[str, torch.Tensor], device: torch.device | str
) -> dict[str, torch.Tensor]:
    """Move a collated batch to ``device``; scalar features become (B, T); frames past the
    longest video of the batch are cut (windows are padded to the window length, and padding
    never changes a valid frame's output, so this only saves time: attention is quadratic)."""
    out = {}
    mask = batch.get("mask")
    keep = None
    if isinstance(mask, torch.Tensor) and mask.dim() == 2 and mask.shape[1] > 1:
        longest = int(mask.sum(1).max()) if mask.numel() else 0
        keep = max(longest, 1) if longest < mask.shape[1] else None
    for k, v in batch.items():
        if keep is not None and isinstance(v, torch.Tensor) and v.dim() >= 2 and (
            v.shape[1] == mask.shape[1]
        ):
            v = v[:, :keep]
        if isinstance(v, torch.Tensor):
            if v.dim() == 3 and v.shape[-1] == 1 and k not in ("visual", "audio"):
                v = v.squeeze(-1)
            out[k] = v.to(device, non_blocking=True)
        else:
            out[k] = v
    return out
