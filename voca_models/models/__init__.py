"""The model registry: ``build(name, **config)``, ``list_models()``, ``model_class(name)``.

>>> from voca_models.models import build, list_models
>>> list_models()
['covfusion', 'localizer', 'lstm']
>>> m = build("lstm", visual_dim=16, audio_dim=8, hidden=16, num_layers=1)
>>> m.config.hidden
16
"""

from __future__ import annotations

from typing import Any, Mapping

from .base import ModelConfig, VideoModel
from .covfusion import CovFusion, CovFusionConfig
from .localizer import Localizer, LocalizerConfig
from .lstm import LSTMClassifier, LSTMConfig

MODELS: dict[str, type[VideoModel]] = {
    "localizer": Localizer,
    "lstm": LSTMClassifier,
    "covfusion": CovFusion,
}

__all__ = [
    "build",
    "list_models",
    "model_class",
    "make_config",
    "MODELS",
    "VideoModel",
    "ModelConfig",
    "Localizer",
    "LocalizerConfig",
    "LSTMClassifier",
    "LSTMConfig",
    "CovFusion",
    "CovFusionConfig",
]


def list_models() -> list[str]:
    """Names of the registered models."""
    return sorted(MODELS)


def model_class(name: str) -> type[VideoModel]:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; available models: {', '.join(list_models())}"
        ) from None


def make_config(
    name: str, config: Mapping[str, Any] | ModelConfig | None = None, **overrides: Any
) -> ModelConfig:
    """The config dataclass of model ``name`` from a dict/dataclass plus keyword overrides."""
    cls = model_class(name).config_class
    if isinstance(config, ModelConfig):
        data = config.to_dict()
    else:
        data = dict(config or {})
    data.update(overrides)
    return cls.from_dict(data)


def build(
    name: str, config: Mapping[str, Any] | ModelConfig | None = None, **overrides: Any
) -> VideoModel:
    """Build model ``name`` with its config (``visual_dim``/``audio_dim`` are required)."""
    return model_class(name)(make_config(name, config, **overrides))
