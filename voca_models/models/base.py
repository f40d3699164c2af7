"""What every voca model shares: a config dataclass, a ``forward(batch) -> dict`` contract, masks.

A *batch* is a dict of tensors: ``visual`` (B, T, Dv), ``audio`` (B, T, Da), optionally scalar
per-frame features such as ``av_similarity`` (B, T), ``mask`` (B, T) bool (true on real frames,
a prefix of each row), ``frame_label`` (B, T) (-1 where unknown), ``label`` (B,) (-1 unknown).

``forward`` returns ``frame_logits`` (B, T) or ``None``, ``video_logit`` (B,) and model-specific
extras. Outputs on valid frames never depend on the content of padded frames.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import torch
from torch import Tensor, nn

from ..losses import Term, bce_sum, focal_sum

from ..configs import AUTO, AUTO_FEATURES, VECTOR_FEATURES, ModelConfig  # noqa: F401 (re-exported)


class VideoModel(nn.Module):
    """Base class: subclasses set ``name``, ``config_class``, ``main_metric``, ``frame_level``."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    main_metric: ClassVar[str] = "video_auc"
    #: which fake ratio an automatic (-1) ``pos_weight``-like option is computed from
    auto_weights: ClassVar[dict[str, str]] = {}

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config

    @property
    def frame_level(self) -> bool:
        return True

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.config.features)

    def loss_terms(self, batch: Mapping[str, Tensor], out: Mapping[str, Tensor]) -> dict[str, Term]:
        raise NotImplementedError


def frame_inputs(batch: Mapping[str, Tensor], names: tuple[str, ...], mask: Tensor) -> Tensor:
    """Concatenate per-frame features (vectors and scalars) into (B, T, D), zero on padding."""
    parts = []
    for name in names:
        if name not in batch:
            raise KeyError(f"batch has no {name!r} feature (batch keys: {sorted(batch)})")
        x = batch[name]
        if x.dim() == 2:
            x = x.unsqueeze(-1)
        parts.append(x.float())
    x = torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]
    return zero_padding(x, mask)


class FeatureProjection(nn.Module):
    """Sum of one linear projection per feature: a 1-dim feature (``av_similarity``) gets as
    much say at initialisation as a 1024-dim embedding, instead of 1/1025 of a concatenation."""

    def __init__(self, dims: Mapping[str, int], out: int):
        super().__init__()
        self.names = tuple(dims)
        self.proj = nn.ModuleDict({n: nn.Linear(int(d), out) for n, d in dims.items()})

    def forward(self, batch: Mapping[str, Tensor], mask: Tensor) -> Tensor:
        total = None
        for name in self.names:
            y = self.proj[name](frame_inputs(batch, (name,), mask))
            total = y if total is None else total + y
        return zero_padding(total, mask)


def zero_padding(x: Tensor, mask: Tensor) -> Tensor:
    """``x`` (B, T, ...) with NaNs and padded frames set to 0 (so padding cannot leak in)."""
    m = mask.reshape(mask.shape + (1,) * (x.dim() - mask.dim()))
    return torch.where(m, torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0), torch.zeros_like(x))


def lengths_of(mask: Tensor) -> Tensor:
    """Valid lengths of a prefix mask (B, T); raises if the mask is not a prefix."""
    lengths = mask.sum(1)
    expected = torch.arange(mask.shape[1], device=mask.device)[None, :] < lengths[:, None]
    if not torch.equal(expected, mask.bool()):
        raise ValueError(
            "mask must mark a prefix of each sequence (valid frames first, then padding)"
        )
    return lengths


def video_targets(batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
    """Video labels as floats and where they are known (label 0/1)."""
    label = batch["label"].reshape(-1)
    return label.float().clamp(0, 1), (label == 0) | (label == 1)


def frame_targets(batch: Mapping[str, Tensor], mask: Tensor) -> tuple[Tensor, Tensor]:
    """Frame labels as floats and where they are known (valid frame, label 0/1)."""
    lab = batch["frame_label"]
    return lab.float().clamp(0, 1), mask & ((lab == 0) | (lab == 1))


def classification_term(logits: Tensor, target: Tensor, valid: Tensor, config: Any,
                        pos_weight: float, weight: float = 1.0) -> Term:
    """The loss term of a binary head: focal (``config.use_focal``, ``config.focal_alpha`` /
    ``focal_gamma``) or BCE with ``pos_weight`` (an automatic, negative one not yet resolved
    counts as 1), on the ``valid`` entries, weighted ``weight``."""
    if config.use_focal:
        part = focal_sum(logits, target, valid, config.focal_alpha, config.focal_gamma)
    else:
        part = bce_sum(logits, target, valid, max(pos_weight, 0.0) or 1.0)
    return Term(weight, *part)


def video_and_frame_terms(model: nn.Module, batch: Mapping[str, Tensor],
                          out: Mapping[str, Tensor]) -> dict[str, Term]:
    """The loss terms of a video classifier with an optional per-frame head (the lstm and
    covariance fusion): ``video`` on ``out["video_logit"]`` with ``config.pos_weight``, and
    ``frame`` on ``out["frame_logits"]`` (``config.frame_pos_weight``, weighted
    ``config.frame_loss_weight``) when ``model.frame_out`` exists and that weight is not 0."""
    c = model.config
    vt, vvalid = video_targets(batch)
    terms = {"video": classification_term(out["video_logit"], vt, vvalid, c, c.pos_weight)}
    if model.frame_out is not None and c.frame_loss_weight:
        target, valid = frame_targets(batch, batch["mask"].bool())
        terms["frame"] = classification_term(out["frame_logits"], target, valid, c,
                                             c.frame_pos_weight, c.frame_loss_weight)
    return terms


class SinusoidalPosition(nn.Module):
    """Fixed sinusoidal positional encoding added to (B, T, D)."""

    def __init__(self, d_model: int):
        super().__init__()
        self.d_model = d_model

    def forward(self, x: Tensor) -> Tensor:
        t = x.shape[1]
        pos = torch.arange(t, device=x.device, dtype=torch.float32)[:, None]
        i = torch.arange(0, self.d_model, 2, device=x.device, dtype=torch.float32)
        angle = pos / torch.pow(10000.0, i / self.d_model)
        pe = torch.zeros(t, self.d_model, device=x.device)
        pe[:, 0::2] = torch.sin(angle)
        pe[:, 1::2] = torch.cos(angle[:, : self.d_model // 2])
        return x + pe.to(x.dtype)[None]
