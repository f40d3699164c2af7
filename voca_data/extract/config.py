"""Extraction settings (:class:`ExtractConfig`) and the device choice (:func:`resolve_device`).

>>> cfg = ExtractConfig(visual_arch="voca-tiny", detector="center")
>>> cfg.content_settings()["detector"]
'center'
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

from ..devices import resolve_device
from ..store import schema

__all__ = ["ExtractConfig", "resolve_device"]


@dataclass
class ExtractConfig:
    """Everything that decides the content of a store's features.

    visual_arch, visual_weights:
        open_clip architecture (``ViT-B-32``, ``ViT-S-32``..., or ``voca-tiny`` for tests) and
        its weights: a local file, an HF-cache/hub tag (online), or ``None`` for random weights
        (recorded as ``pretrained: false``).
    audio_encoder, audio_weights:
        ``logmel`` (no weights) or a torchaudio bundle (``wav2vec2_base``, ``hubert_large``,
        ``wavlm_large``) with its weights directory (``None``: random init, recorded).
    detector, detect_every:
        Face detector (``mtcnn``, ``face_alignment``, ``center``) and detection stride in frames.
    min_face_size:
        MTCNN: smallest face searched for, in pixels of the detection frame (``None``: 15 % of
        the frame's shorter side, at least 20 px). Smaller values find small faces, 2-4x slower.
    detect_threshold:
        Lowest detector confidence kept as a face (MTCNN / face_alignment, default 0.5).
    detect_max_side:
        MTCNN: frames whose longer side exceeds this are downscaled for detection only
        (default 480 px; boxes are mapped back to source pixels). Lower it when faces are large.
    crop_size:
        Side of the lower-face crop in pixels (``None``: the visual encoder's input size).
    fps, audio_rate:
        Store timeline and audio sample rate.
    block_size:
        Videos per block and per shard (only used when the store is created).
    batch_size:
        Crops per visual-encoder batch (filled across the videos of a block).
    device:
        ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
    prefetch:
        ``synchronous`` path: videos decoded and cropped ahead of the encoders inside a block.
    av_pca, av_components, av_window, av_centre_window:
        AV synchrony fit at finalize (see :class:`voca_data.avsync.AVSyncConfig`).
    av_reference:
        A finalized store whose fitted AV synchrony model scores this store instead of a fit on
        its own real train videos (``voca infer`` on new videos: the training store).
    """

    visual_arch: str = "ViT-B-32"
    visual_weights: str | None = None
    audio_encoder: str = "logmel"
    audio_weights: str | None = None
    detector: str = "mtcnn"
    detect_every: int = 5
    min_face_size: int | None = None
    detect_threshold: float = 0.5
    detect_max_side: int = 480
    crop_size: int | None = None
    fps: float = schema.DEFAULT_FPS
    audio_rate: int = schema.AUDIO_RATE
    block_size: int = schema.DEFAULT_BLOCK_SIZE
    batch_size: int = 64
    device: str = "auto"
    prefetch: int = 2
    av_pca: int = 64
    av_components: int = 1
    av_window: int = 9
    av_centre_window: bool = False
    av_reference: str | None = None
    #: a metadata frame count or fake period that disagrees with the media fails the video
    #: (default: a ``label note`` in its ``notes``); not a content setting
    strict: bool = False

    # settings that change the content of features (must match when resuming a store); a store
    # written before a setting existed is read as having its default
    _CONTENT = ("visual_arch", "visual_weights", "audio_encoder", "audio_weights", "detector",
                "detect_every", "min_face_size", "detect_threshold", "detect_max_side",
                "crop_size", "fps", "audio_rate")

    def __post_init__(self) -> None:
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every}")
        if self.block_size < 1 or self.batch_size < 1:
            raise ValueError("block_size and batch_size must be >= 1")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu or cuda, not {self.device!r}")
        if self.prefetch < 0:
            raise ValueError("prefetch must be >= 0")
        if self.min_face_size is not None and self.min_face_size < 1:
            raise ValueError(f"min_face_size must be >= 1 pixel, got {self.min_face_size}")
        if not 0.0 <= float(self.detect_threshold) <= 1.0:
            raise ValueError(f"detect_threshold must be in [0, 1], got {self.detect_threshold}")
        if self.detect_max_side < 32:
            raise ValueError(f"detect_max_side must be >= 32 pixels, got {self.detect_max_side}")
        if self.detector == "center" and (self.min_face_size is not None
                                          or float(self.detect_threshold) != 0.5):
            raise ValueError("min_face_size / detect_threshold have no meaning for the 'center' "
                             "detector (it finds no faces); use --detector mtcnn")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def content_settings(self) -> dict[str, Any]:
        """The settings that decide the features (compared when a store is resumed)."""
        return {k: getattr(self, k) for k in self._CONTENT}

    def detector_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`voca_data.faces.make_detector` for ``detector``.

        >>> ExtractConfig(detector="mtcnn", min_face_size=40).detector_options()["min_face_size"]
        40
        """
        if self.detector == "mtcnn":
            return {"min_face_size": self.min_face_size, "min_score": float(self.detect_threshold),
                    "max_side": int(self.detect_max_side)}
        if self.detector == "face_alignment":
            return {"min_score": float(self.detect_threshold)}
        return {}

    def av_config(self) -> Any:
        from ..avsync import AVSyncConfig

        return AVSyncConfig(pca=self.av_pca, components=self.av_components, window=self.av_window,
                            centre_window=self.av_centre_window)

    @classmethod
    def from_store(cls, path_or_attrs: str | os.PathLike | Mapping[str, Any], **overrides: Any
                   ) -> "ExtractConfig":
        """The settings a store was extracted with (its ``extraction`` attribute), so new videos
        (e.g. ``voca infer`` on raw media) get the same encoders. ``overrides`` replace fields
        (e.g. ``device="cpu"``).

        >>> cfg = ExtractConfig.from_store("lavdf.zarr", device="cpu")      # doctest: +SKIP
        """
        if isinstance(path_or_attrs, Mapping):
            attrs = dict(path_or_attrs)
        else:
            import zarr

            path = Path(path_or_attrs)
            if not (path / "zarr.json").exists():
                raise FileNotFoundError(f"{path} is not a voca store (no zarr.json)")
            attrs = dict(zarr.open_group(str(path), mode="r").attrs)
        settings = attrs.get("extraction")
        if not isinstance(settings, Mapping):
            raise ValueError(
                "the store has no 'extraction' attribute (it was not made by voca extract, e.g. "
                "imported from npz files); build an ExtractConfig by hand with its encoders")
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in settings.items() if k in names}
        kwargs.update(overrides)
        return cls(**kwargs)
