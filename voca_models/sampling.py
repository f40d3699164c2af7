"""Frame sampling for video-level models: N frames per video, uniform or random, as the Kaggle
notebook's ResNet50 + LSTM pipeline does (``--frames-per-video``, ``--frame-sampling``).

A collated batch (see :mod:`voca_models.data`) is turned into one of ``n`` frames per row: the
frames are taken from each row's valid frames (the mask's prefix), in time order, and the mask
marks a prefix again, so every model reads the sampled batch as it reads a full one. Rows with
fewer than ``n`` frames keep all of theirs (the rest is padding).

>>> import torch
>>> b = {"visual": torch.arange(10.).reshape(1, 10, 1), "mask": torch.ones(1, 10, dtype=torch.bool)}
>>> sample_frames(b, 4, "uniform")["visual"].flatten().tolist()
[0.0, 3.0, 6.0, 9.0]
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .configs import SAMPLING_MODES

__all__ = ["SAMPLING_MODES", "frame_indices", "sample_frames"]


def frame_indices(
    length: int, n: int, mode: str = "uniform", generator: torch.Generator | None = None
) -> torch.Tensor:
    """Indices of ``min(n, length)`` frames out of ``length``, increasing: evenly spaced from the
    first to the last frame (``uniform``) or drawn without replacement (``random``).

    >>> frame_indices(9, 3).tolist(), frame_indices(2, 5).tolist()
    ([0, 4, 8], [0, 1])
    """
    if mode not in SAMPLING_MODES:
        raise ValueError(f"frame sampling {mode!r} is not one of {', '.join(SAMPLING_MODES)}")
    if n < 1:
        raise ValueError(f"frames per video must be >= 1, got {n}")
    if length <= n:
        return torch.arange(length)
    if mode == "uniform":
        return torch.linspace(0, length - 1, n).round().long()
    return torch.randperm(length, generator=generator)[:n].sort().values


def sample_frames(
    batch: Mapping[str, torch.Tensor],
    n: int,
    mode: str = "uniform",
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """``batch`` with ``n`` frames per row (see the module docstring); per-video entries
    (``label``, ``video``, ...) are kept as they are."""
    mask = batch["mask"].bool()
    b, t = mask.shape
    lengths = mask.sum(1).tolist()
    index = torch.zeros(b, n, dtype=torch.long)
    keep = torch.zeros(b, n, dtype=torch.bool)
    for row, length in enumerate(lengths):
        idx = frame_indices(int(length), n, mode, generator)
        index[row, : idx.numel()] = idx
        keep[row, : idx.numel()] = True
    index = index.to(mask.device)
    keep = keep.to(mask.device)
    out: dict[str, torch.Tensor] = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor) and value.dim() >= 2 and value.shape[:2] == (b, t):
            gather = index.reshape(b, n, *([1] * (value.dim() - 2))).expand(b, n, *value.shape[2:])
            picked = torch.gather(value, 1, gather)
            fill = keep.reshape(b, n, *([1] * (value.dim() - 2)))
            if key == "frame_label":
                picked = torch.where(fill, picked, torch.full_like(picked, -1))
            elif value.dtype == torch.bool:
                picked = picked & fill
            else:
                picked = torch.where(fill, picked, torch.zeros_like(picked))
            out[key] = picked
        else:
            out[key] = value
    return out
