"""The configurations of the zoo, as plain dataclasses with no torch import: the model configs
(:class:`ModelConfig` and one subclass per model) and :class:`TrainConfig`. ``voca train --help``
builds its flags from them, so help stays fast; the models and the training loop import them from
here.

>>> from voca_models.configs import CONFIGS, TrainConfig
>>> sorted(CONFIGS)
['covfusion', 'localizer', 'lstm']
>>> CONFIGS["lstm"]().hidden, TrainConfig().epochs
(128, 40)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

#: frame sampling of video-level models (``--frame-sampling``; :mod:`voca_models.sampling`)
SAMPLING_MODES = ("uniform", "random")

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


@dataclass
class LocalizerConfig(ModelConfig):
    """Options of the ``localizer`` (names follow the LAV-DF localisation scripts' flags)."""

    d_model: int = 128  # defaults chosen by benchmarks/defaults.py
    num_layers: int = 1
    nhead: int = 8
    dim_feedforward: int = 0  # 0: 2 × d_model
    dropout: float = 0.1
    no_cross_attn: bool = False
    no_video_head: bool = False
    no_similarity: bool = False
    pos_weight: float = (
        -1.0
    )  # frame BCE positive weight; -1: n_real/n_fake frames of the train split
    use_focal: bool = False
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    video_loss_weight: float = 0.3  # α
    smooth_loss_weight: float = 0.1  # β
    similarity_loss_weight: float = 0.2  # γ
    # > 0 (odd): a residual depthwise temporal convolution over this many frames before the
    # encoder, the local context a transformer lacks on small data
    conv_kernel: int = 9
    input_dropout: float = 0.0  # dropout on the projected visual and audio frames (training)
    # a linear path from the per-frame scalars (similarity, scalar extras) to the frame logits,
    # added to the head's
    direct_head: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelConfig":
        """As :meth:`ModelConfig.from_dict`; a whole config saved before ``conv_kernel``,
        ``input_dropout`` and ``direct_head`` existed (an older checkpoint) gets them off, so the
        model it builds matches its weights.

        >>> old = {k: v for k, v in LocalizerConfig().to_dict().items() if k not in _LATER}
        >>> LocalizerConfig.from_dict(old).conv_kernel, LocalizerConfig.from_dict({}).conv_kernel
        (0, 9)
        """
        names = {f.name for f in dataclasses.fields(cls)}
        if set(data) == names - set(_LATER):
            data = {**data, **_LATER}
        return super().from_dict(data)


#: LocalizerConfig fields added after localizer checkpoints were first written, with the values
#: that rebuild those checkpoints' models
_LATER: dict[str, Any] = {"conv_kernel": 0, "input_dropout": 0.0, "direct_head": False}


@dataclass
class LSTMConfig(ModelConfig):
    """Options of the ``lstm`` model. ``features`` may be ``("visual",)``, ``("audio",)`` or both,
    plus scalar per-frame features such as ``av_similarity``."""

    hidden: int = 128  # defaults chosen by benchmarks/defaults.py
    num_layers: int = 1
    nhead: int = 4
    dropout: float = 0.2
    # per-frame logits trained on the frame labels (dense supervision: on small data the video
    # score follows the frames); train() turns it off on stores without fake periods
    frame_head: bool = True
    pos_weight: float = 1.0  # video BCE positive weight; -1: n_real/n_fake train videos
    frame_pos_weight: float = -1.0  # frame BCE positive weight (frame_head); -1: automatic
    frame_loss_weight: float = 1.0
    use_focal: bool = False
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0


@dataclass
class CovFusionConfig(ModelConfig):
    """Options of ``covfusion``. Scalar extras in ``features`` (e.g. ``av_similarity``) join the
    audio branch's per-frame input."""

    k: int = 64  # defaults chosen by benchmarks/defaults.py
    d_model: int = 128
    hidden: int = 256
    channels: int = 16
    alpha: float = -1.0  # weight of cos(visual branch, audio branch) in the score
    dropout: float = 0.2
    pos_weight: float = 1.0  # video BCE positive weight; -1: n_real/n_fake train videos
    use_focal: bool = False
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    # per-frame logits from the per-frame audio branch and a visual projection, trained on the
    # frame labels; train() turns it off on stores without fake periods
    frame_head: bool = True
    frame_pos_weight: float = -1.0  # frame BCE positive weight (frame_head); -1: automatic
    frame_loss_weight: float = 1.0


@dataclass
class TrainConfig:
    """Training options (the ``--flags`` of ``voca train``)."""

    # defaults chosen by benchmarks/defaults.py (docs/models.md, "Default configuration")
    epochs: int = 40
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.01
    scheduler: str = "cosine"  # cosine | plateau | constant
    warmup_epochs: float = 1.0  # linear warmup (cosine scheduler)
    min_lr_ratio: float = 0.01  # cosine floor, as a fraction of lr
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    grad_clip: float = 1.0  # max gradient norm; 0 disables
    patience: int = 10  # early stopping: epochs without dev improvement; 0 disables
    seed: int = 0
    amp: bool = True  # mixed precision, CUDA only
    window: int = 512  # frames per training window (random crop) and per inference window
    train_split: str | None = None  # default: train / trainset / training
    dev_split: str | None = None  # default: dev / val / valset / validation
    balanced: bool = False  # sample real and fake videos equally often
    num_workers: int = 0
    max_videos: int | None = None  # per split, for quick runs
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    eval_batch_size: int | None = None
    progress: bool = True
    stop_after: int | None = None  # stop this invocation after N more epochs (resume later)
    frames_per_video: int = 0  # > 0: the model sees N frames of each window (video-level models)
    frame_sampling: str = "uniform"  # uniform | random (training; predict samples uniformly)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "TrainConfig":
        data = dict(data or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; valid: {sorted(names)}")
        cfg = cls(**data)
        if cfg.scheduler not in ("cosine", "plateau", "constant"):
            raise ValueError(
                f"scheduler must be cosine, plateau or constant, got {cfg.scheduler!r}"
            )
        if cfg.frame_sampling not in SAMPLING_MODES:
            raise ValueError(
                f"frame_sampling must be one of {', '.join(SAMPLING_MODES)}, got {cfg.frame_sampling!r}"
            )
        if int(cfg.frames_per_video) < 0:
            raise ValueError(f"frames_per_video must be >= 0 (0: every frame), got {cfg.frames_per_video}")
        for name in ("epochs", "batch_size", "window"):
            if int(getattr(cfg, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)}")
        if cfg.lr <= 0:
            raise ValueError(f"lr must be > 0, got {cfg.lr}")
        return cfg


#: model name -> its config class (the registry of :mod:`voca_models.models` without torch)
CONFIGS: dict[str, type[ModelConfig]] = {
    "localizer": LocalizerConfig,
    "lstm": LSTMConfig,
    "covfusion": CovFusionConfig,
}
