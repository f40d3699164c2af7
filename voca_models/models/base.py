"""What every voca model shares: a config dataclass, a ``forward(batch) -> dict`` contract, masks.

A *batch* is a dict of tensors: ``visual`` (B, T, Dv), ``audio`` (B, T, Da), optionally scalar
per-frame features such as ``av_similarity`` (B, T), ``mask`` (B, T) bool (true on real frames,
a prefix of each row), ``frame_label`` (B, T) (-1 where unknown), ``label`` (B,) (-1 unknown).

``forward`` returns ``frame_logits`` (B, T) or ``None``, ``video_logit`` (B,) and model-specific
extras. Outputs on valid frames never depend on the content of padded frames.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import torch
from torch import Tensor, nn

from ..losses import Term

VECTOR_FEATURES = ("visual", "audio")

#: ``features = ("auto",)`` (the default): :func:`voca_models.train` replaces it with those of
#: these per-frame variables that the store has and fills (see ``voca_models.train.auto_features``)
AUTO = "auto"
AUTO_FEATURES = ("visual", "audio", "av_similarity", "visual_similarity")


@dataclass
class ModelConfig:
    """Fields every model config has. ``visual_dim``/``audio_dim`` come from the store."""

    visual_dim: int = 0
    audio_dim: int = 0
    # "auto": resolved against the store by train(); a model built without a store reads
    # visual and audio
    features: tuple[str, ...] = (AUTO,)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelConfig":
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(
                f"{cls.__name__}: unknown option(s) {unknown}; valid options are {sorted(names)}"
            )
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**kw)

    def feature_dim(self, name: str) -> int:
        if name == "visual":
            return int(self.visual_dim)
        if name == "audio":
            return int(self.audio_dim)
        return 1  # scalar per-frame features (av_similarity, visual_similarity, face_score)

    def resolve_without_store(self) -> None:
        """Replace ``features = ("auto",)`` by ``("visual", "audio")`` (what a model built without a
        store reads); :func:`voca_models.train` resolves it against the store instead."""
        feats = (self.features,) if isinstance(self.features, str) else tuple(self.features)
        if AUTO in feats:
            if feats != (AUTO,):
                raise ValueError(f"features {feats}: 'auto' stands alone (it picks the features)")
            feats = VECTOR_FEATURES
        self.features = feats

    def check(self, required: tuple[str, ...] = ()) -> None:
        self.resolve_without_store()
        feats = tuple(self.features)
        if len(set(feats)) != len(feats):
            raise ValueError(f"features {feats} lists a feature twice")
        for name in required:
            if name not in feats:
                raise ValueError(f"this model needs the {name!r} feature; features={feats}")
        for name in feats:
            if name in VECTOR_FEATURES and self.feature_dim(name) <= 0:
                raise ValueError(
                    f"{name}_dim must be set (> 0) when {name!r} is a feature; it comes from the store"
                )


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
