"""Visual (open_clip, or timm with ``arch="timm:NAME"``) and audio (log-mel, torchaudio SSL bundles) encoders for the store.

>>> from voca_data.encoders import make_visual_encoder, make_audio_encoder
>>> visual = make_visual_encoder("voca-tiny")                  # random init, for tests
>>> visual.encode(crops).shape                                 # doctest: +SKIP
(250, 32)
>>> audio = make_audio_encoder("logmel")
>>> audio.encode(video.audio, n_frames=video.n_frames).shape   # doctest: +SKIP
(250, 256)

Both load their model once and are reused. ``encoder.spec()`` is a small dict such that
``make_visual_encoder(**spec)`` / ``make_audio_encoder(**spec)`` rebuilds the same encoder
(random initialisation is seeded, so every dask worker builds identical weights).

Weights (nothing downloads in tests; ``HF_HUB_OFFLINE=1`` is respected):

* visual ``weights=None``: random init, ``pretrained: false`` in ``info()`` and a warning;
  ``weights="/path/file"`` (``.safetensors``, ``.pt``, ``.bin``: an open_clip checkpoint or a
  visual-tower state dict, e.g. written by :meth:`VisualEncoder.save`); ``weights="openai"`` or
  another open_clip tag: from the Hugging Face cache, downloaded only when online.
* audio SSL bundles: the bundle's file (e.g. ``wav2vec2_fairseq_base_ls960.pth``) from
  ``weights_dir`` or ``$TORCH_HOME/hub/checkpoints``; when absent, random init with
  ``pretrained: false`` (``pretrained=True`` demands the file and names it in the error).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .devices import resolve_device
from .provenance import sha256_file

log = logging.getLogger(__name__)

__all__ = [
    "AUDIO_ENCODERS", "TIMM_PREFIX", "TINY_ARCH", "AudioEncoder", "TimmVisualEncoder",
    "UnsafeWeightsError", "VisualEncoder", "list_audio_encoders",
    "list_visual_architectures", "make_audio_encoder", "make_visual_encoder",
    "register_tiny_architecture",
]

#: a tiny open_clip architecture for tests: encodes 64 px crops in milliseconds on a CPU
TINY_ARCH = "voca-tiny"
_TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32,
                   "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1},
}


def register_tiny_architecture() -> str:
    """Register :data:`TINY_ARCH` with open_clip (idempotent) and return its name."""
    import open_clip

    if TINY_ARCH in open_clip.list_models():
        return TINY_ARCH
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"{TINY_ARCH}.json"
        path.write_text(json.dumps(_TINY_CONFIG))
        open_clip.add_model_config(path)  # reads the file now; the entry stays registered
    return TINY_ARCH


def list_visual_architectures() -> list[str]:
    """open_clip architecture names usable as ``arch`` (including :data:`TINY_ARCH`)."""
    import open_clip

    register_tiny_architecture()
    return list(open_clip.list_models())


@contextlib.contextmanager
def _seeded(seed: int):
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


class UnsafeWeightsError(ValueError):
    """A weights file that would need pickle (arbitrary code) to load: it is never loaded."""


def _torch_load_weights_only(path: Path) -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain containers only. A file that
    needs more (a pickled object, possibly code) is refused with one line naming it."""
    import pickle

    import torch

    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise UnsafeWeightsError(
            f"{path}: refused, it holds pickled objects beyond tensors (loading it could run "
            "code); convert it to safetensors or a plain state dict of tensors") from e
    except (RuntimeError, EOFError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: not a readable torch weights file ({first})") from e


def _load_state_dict(path: Path) -> tuple[dict, dict]:
    """A state dict from a safetensors or torch file (``weights_only``), and safetensors
    metadata (empty for torch files)."""
    meta: dict = {}
    if path.suffix == ".safetensors":
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
        return load_file(str(path)), meta
    state = _torch_load_weights_only(path)
    for key in ("state_dict", "model", "module"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a state dict (got {type(state).__name__})")
    return state, meta


# --------------------------------------------------------------------------- visual

def _weights_unavailable(what: str, exc: BaseException) -> FileNotFoundError:
    """The error for hub weights that could not be had, saying why and what to do."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    why = ("HF_HUB_OFFLINE is set and they are not in the Hugging Face cache"
           if offline else "they could not be downloaded")
    return FileNotFoundError(f"{what}: {why} ({type(exc).__name__}: {exc}). Download them once "
                             "online (or copy the HF cache), or pass a local file as weights")


class VisualEncoder:
    """An open_clip image tower that embeds (N, H, W, 3) uint8 RGB crops.

    Crops are scaled to [0, 1], resized to ``image_size`` (bicubic, antialiased) when they are
    not already that size, normalised with the model's mean/std, encoded in batches of
    ``batch_size`` under ``torch.inference_mode`` (fp16 autocast on CUDA), and L2-normalised
    when ``normalize`` (default).

    >>> enc = make_visual_encoder("voca-tiny")
    >>> enc.encode(np.zeros((3, 64, 64, 3), np.uint8)).shape
    (3, 32)
    """

    def __init__(self, arch: str = "ViT-B-32", weights: str | None = None, device: str = "cpu",
                 batch_size: int = 64, seed: int = 0, normalize: bool = True,
                 cache_dir: str | None = None):
        import open_clip
        import torch

        if arch == TINY_ARCH:
            register_tiny_architecture()
        if arch not in open_clip.list_models():
            raise ValueError(f"unknown open_clip architecture {arch!r}; see "
                             "voca_data.encoders.list_visual_architectures()")
        self._init_settings(arch, weights, device, batch_size, seed, normalize, cache_dir)

        tags = set(open_clip.list_pretrained_tags_by_model(arch))
        if self.weights is None:
            with _seeded(self.seed):
                model = open_clip.create_model(arch, pretrained=None)
            log.warning("visual encoder %s has random weights (seed %d): pretrained=False, the "
                        "features are for testing only", arch, self.seed)
        elif Path(self.weights).expanduser().is_file():
            path = Path(self.weights).expanduser().resolve()
            with _seeded(self.seed):
                model = open_clip.create_model(arch, pretrained=None)
            state, meta = _load_state_dict(path)
            self._load_into(model, state, path)
            self.weights_source = str(path)
            self.weights_sha256 = sha256_file(path)
            self.pretrained = meta.get("voca_pretrained", "true").lower() != "false"
        elif self.weights in tags:
            model, ckpt = self._from_tag(arch, self.weights, self.cache_dir)
            self.weights_source = f"open_clip:{arch}/{self.weights}" + (f" ({ckpt})" if ckpt
                                                                       else "")
            self.weights_sha256 = sha256_file(ckpt) if ckpt and Path(ckpt).is_file() else None
            self.pretrained = True
        else:
            hint = f"; tags for {arch}: {', '.join(sorted(tags))}" if tags else ""
            raise FileNotFoundError(f"visual weights {self.weights!r}: no such file and not an "
                                    f"open_clip pretrained tag for {arch}{hint}")

        self.model = model.visual.to(self.device).eval()
        del model
        cfg = open_clip.get_model_preprocess_cfg(self.model)
        size = cfg.get("size", getattr(self.model, "image_size", 224))
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.mean = tuple(float(x) for x in cfg.get("mean", open_clip.OPENAI_DATASET_MEAN))
        self.std = tuple(float(x) for x in cfg.get("std", open_clip.OPENAI_DATASET_STD))
        self._mean_t = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        self._std_t = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        with torch.inference_mode():
            probe = torch.zeros(1, 3, self.image_size, self.image_size, device=self.device)
            self.dim = int(self.model(probe).shape[-1])

    def _init_settings(self, arch: str, weights: str | None, device: str, batch_size: int,
                       seed: int, normalize: bool, cache_dir: str | None) -> None:
        """The construction settings (:meth:`spec`) and the provenance of random weights, before
        any weights are loaded (every visual encoder class starts here)."""
        self.arch = arch
        self.name = arch
        self.weights = None if weights in (None, "", "none", "random") else str(weights)
        self.device = resolve_device(device)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.normalize = bool(normalize)
        self.cache_dir = None if cache_dir is None else str(cache_dir)
        self.pretrained = False
        self.weights_sha256: str | None = None
        self.weights_source = "random init"

    @staticmethod
    def _load_into(model, state: dict, path: Path) -> None:
        state = {k.removeprefix("module."): v for k, v in state.items()}
        if any(k.startswith("visual.") for k in state):
            state = {k[len("visual."):]: v for k, v in state.items() if k.startswith("visual.")}
        try:
            model.visual.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise ValueError(f"{path}: weights do not fit this architecture ({e})") from e

    @staticmethod
    def _from_tag(arch: str, tag: str, cache_dir: str | None):
        import open_clip
        from open_clip.pretrained import download_pretrained, get_pretrained_cfg

        try:
            ckpt = download_pretrained(get_pretrained_cfg(arch, tag), cache_dir=cache_dir)
            model = open_clip.create_model(arch, pretrained=tag, cache_dir=cache_dir)
        except Exception as e:
            raise _weights_unavailable(f"open_clip weights {arch}/{tag}", e) from e
        return model, ckpt

    def spec(self) -> dict[str, Any]:
        """Construction arguments: ``make_visual_encoder(**enc.spec())`` rebuilds it."""
        return {"arch": self.arch, "weights": self.weights, "device": self.device,
                "batch_size": self.batch_size, "seed": self.seed, "normalize": self.normalize,
                "cache_dir": self.cache_dir}

    def info(self) -> dict[str, Any]:
        """Provenance for the store's ``visual_encoder`` attribute."""
        return {
            "name": self.name, "architecture": f"open_clip {self.arch} image tower",
            "weights": self.weights_source, "weights_sha256": self.weights_sha256,
            "pretrained": self.pretrained, "dim": self.dim,
            "seed": None if self.pretrained else self.seed,
            "preprocessing": {"image_size": self.image_size, "mean": list(self.mean),
                              "std": list(self.std), "resize": "bicubic, antialiased",
                              "l2_normalized": self.normalize},
        }

    def encode(self, crops: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB -> (N, dim) float32."""
        import torch
        import torch.nn.functional as F

        crops = np.asarray(crops)
        if crops.ndim != 4 or crops.shape[-1] != 3:
            raise ValueError(f"crops must be (N, H, W, 3) uint8, got {crops.shape}")
        out = np.empty((len(crops), self.dim), np.float32)
        cuda = self.device.startswith("cuda")
        with torch.inference_mode():
            for s in range(0, len(crops), self.batch_size):
                x = torch.from_numpy(np.ascontiguousarray(crops[s:s + self.batch_size]))
                # from pinned memory (the pipeline's staging buffer) the copy is asynchronous
                x = x.to(self.device, non_blocking=cuda).permute(0, 3, 1, 2).float().div_(255.0)
                if x.shape[-2:] != (self.image_size, self.image_size):
                    x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bicubic",
                                      align_corners=False, antialias=True).clamp_(0, 1)
                x = (x - self._mean_t) / self._std_t
                with torch.autocast("cuda", dtype=torch.float16, enabled=cuda):
                    y = self.model(x)
                y = y.float()
                if self.normalize:
                    y = F.normalize(y, dim=-1)
                out[s:s + len(y)] = y.cpu().numpy()
        return out

    def save(self, path: str | Path) -> Path:
        """Write the image tower's weights as safetensors (with ``voca_pretrained`` metadata, so
        random weights stay marked ``pretrained: false`` when loaded back)."""
        from safetensors.torch import save_file

        path = Path(path)
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(path), metadata={"voca_pretrained": str(self.pretrained).lower(),
                                              "arch": self.arch})
        return path


#: ``--visual-arch timm:NAME`` selects a timm image model (e.g. ``timm:resnet50``)
TIMM_PREFIX = "timm:"


class TimmVisualEncoder(VisualEncoder):
    """A timm image model (classifier removed: its pooled features) that embeds (N, H, W, 3)
    uint8 RGB crops like :class:`VisualEncoder`, e.g. the ImageNet ResNet-50 of the Kaggle
    notebook (``arch="timm:resnet50"``, 2048 dims).

    Weights: ``None`` random init (seeded, ``pretrained: false``); a local ``.safetensors`` /
    ``.pth`` / ``.bin`` file (loaded with ``weights_only``; a timm checkpoint or one written by
    :meth:`save`); or a timm pretrained tag such as ``"imagenet"`` (the model's default) or
    ``"a1_in1k"``, taken from the Hugging Face cache (downloaded only when online; with
    ``HF_HUB_OFFLINE=1`` and no cache the error says what to do).

    >>> enc = make_visual_encoder("timm:test_resnet")           # a tiny timm test model
    >>> enc.encode(np.zeros((2, 64, 64, 3), np.uint8)).shape
    (2, 96)
    """

    def __init__(self, arch: str = "timm:resnet50", weights: str | None = None, device: str = "cpu",
                 batch_size: int = 64, seed: int = 0, normalize: bool = True,
                 cache_dir: str | None = None):
        import timm
        import torch

        name = arch.removeprefix(TIMM_PREFIX)
        if not timm.list_models(name.split(".")[0]):
            raise ValueError(f"unknown timm model {name!r}; see timm.list_models()")
        self._init_settings(TIMM_PREFIX + name, weights, device, batch_size, seed, normalize,
                            cache_dir)
        if self.weights is None:
            with _seeded(self.seed):
                model = timm.create_model(name, pretrained=False, num_classes=0)
            log.warning("visual encoder %s has random weights (seed %d): pretrained=False, the "
                        "features are for testing only", self.arch, self.seed)
        elif Path(self.weights).expanduser().is_file():
            path = Path(self.weights).expanduser().resolve()
            with _seeded(self.seed):
                model = timm.create_model(name, pretrained=False, num_classes=0)
            state, meta = _load_state_dict(path)
            state = {k.removeprefix("module."): v for k, v in state.items()}
            head = set(model.state_dict()) ^ set(state)
            state = {k: v for k, v in state.items() if k in model.state_dict()}
            missing = [k for k in model.state_dict() if k not in state]
            if missing:
                raise ValueError(f"{path}: weights do not fit timm {name} (missing "
                                 f"{missing[:3]}{' ...' if len(missing) > 3 else ''})")
            model.load_state_dict(state, strict=True)
            if head:
                log.info("%s: ignored %d classifier tensors", path, len(head - set(missing)))
            self.weights_source = str(path)
            self.weights_sha256 = sha256_file(path)
            self.pretrained = meta.get("voca_pretrained", "true").lower() != "false"
        else:
            tag = "" if self.weights in ("imagenet", "default") else self.weights
            full = f"{name.split('.')[0]}.{tag}" if tag else name
            try:
                model = timm.create_model(full, pretrained=True, num_classes=0,
                                          cache_dir=self.cache_dir)
            except Exception as e:
                raise _weights_unavailable(f"timm weights {full}", e) from e
            self.weights_source = f"timm:{model.pretrained_cfg.get('hf_hub_id') or full}"
            self.pretrained = True
        self.model = model.to(self.device).eval()
        cfg = dict(model.pretrained_cfg or {})
        self.image_size = int((cfg.get("input_size") or (3, 224, 224))[-1])
        self.mean = tuple(float(x) for x in cfg.get("mean", (0.485, 0.456, 0.406)))
        self.std = tuple(float(x) for x in cfg.get("std", (0.229, 0.224, 0.225)))
        self._mean_t = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        self._std_t = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        self.dim = int(model.num_features)

    def info(self) -> dict[str, Any]:
        out = super().info()
        out["architecture"] = f"timm {self.arch[len(TIMM_PREFIX):]} (pooled features)"
        return out


def make_visual_encoder(arch: str = "ViT-B-32", weights: str | None = None, device: str = "cpu",
                        batch_size: int = 64, seed: int = 0, normalize: bool = True,
                        cache_dir: str | None = None) -> VisualEncoder:
    """Build an open_clip visual encoder (see :class:`VisualEncoder`), or a timm one for
    ``arch="timm:NAME"`` (see :class:`TimmVisualEncoder`). ``cache_dir`` is where pretrained
    tags are looked up (default: the Hugging Face cache).

    >>> make_visual_encoder("voca-tiny").info()["pretrained"]
    False
    """
    if arch.startswith(TIMM_PREFIX):
        return TimmVisualEncoder(arch=arch, weights=weights, device=device, batch_size=batch_size,
                                 seed=seed, normalize=normalize, cache_dir=cache_dir)
    return VisualEncoder(arch=arch, weights=weights, device=device, batch_size=batch_size,
                         seed=seed, normalize=normalize, cache_dir=cache_dir)


# --------------------------------------------------------------------------- audio

#: SSL bundles: name -> (torchaudio.pipelines attribute, torchaudio.models factory, dim)
AUDIO_ENCODERS = {
    "logmel": (None, None, 256),
    "wav2vec2_base": ("WAV2VEC2_BASE", "wav2vec2_base", 768),
    "hubert_large": ("HUBERT_LARGE", "hubert_large", 1024),
    "wavlm_large": ("WAVLM_LARGE", "wavlm_large", 1024),
}


def list_audio_encoders() -> list[str]:
    return list(AUDIO_ENCODERS)


def _fit_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    audio = np.asarray(audio, np.float32).reshape(-1)
    if len(audio) >= n_samples:
        return audio[:n_samples]
    return np.pad(audio, (0, n_samples - len(audio)))


class AudioEncoder:
    """Audio features on the video frame timeline: ``encode(audio, n_frames)`` ->
    (n_frames, dim) float32.

    ``logmel`` (no weights; LAV-DF BA-TFD's front end): ``MelSpectrogram(n_fft=321, n_mels=64)``
    at 16 kHz (window 321 samples, hop 160 = 10 ms, centred frames), ``log(x + 0.01)``; video
    frame ``t`` takes the 4 mel frames centred at ``(t + k / 4) / fps`` s, k = 0..3 (for 25 fps
    exactly mel frames ``4t .. 4t+3``, as BA-TFD's (64, 4T) input), flattened sub-frame-major:
    feature ``k * 64 + m`` is mel band ``m`` of sub-frame ``k`` -> 256 dims.

    SSL bundles (``wav2vec2_base`` 768, ``hubert_large`` 1024, ``wavlm_large`` 1024 dims): the
    last transformer layer's 50 Hz features (frame ``i`` centred at ``(320 i + 200) / 16000``
    s) are averaged over each video frame whose interval contains their centre (2 per 40 ms
    frame); a video frame without one takes the nearest. Audio is processed in chunks of
    ``chunk_seconds`` (default 30 s) so memory does not grow with the video's length.

    ``audio=None`` (no audio stream) gives all-NaN rows. Audio shorter or longer than
    ``n_frames / fps`` is zero-padded or trimmed at the end.
    """

    def __init__(self, name: str = "logmel", weights_dir: str | None = None, device: str = "cpu",
                 pretrained: bool | None = None, seed: int = 0, chunk_seconds: float = 30.0):
        import torch

        if name not in AUDIO_ENCODERS:
            raise ValueError(f"unknown audio encoder {name!r}; choose one of "
                             f"{', '.join(AUDIO_ENCODERS)}")
        self.name = name
        self.weights_dir = None if weights_dir is None else str(weights_dir)
        self.device = resolve_device(device)
        self.seed = int(seed)
        self.chunk_seconds = float(chunk_seconds)
        self.requested_pretrained = pretrained
        self.rate = 16000
        self.weights_source: str | None = None
        self.weights_sha256: str | None = None
        bundle_name, factory, self.dim = AUDIO_ENCODERS[name]
        if name == "logmel":
            import torchaudio

            self.pretrained = False  # nothing to train: a fixed transform
            self.model = torchaudio.transforms.MelSpectrogram(
                sample_rate=self.rate, n_fft=321, n_mels=64).to(self.device)
            self.hop = 160
            self.normalize_waveform = False
            return

        import torchaudio

        bundle = getattr(torchaudio.pipelines, bundle_name)
        self.normalize_waveform = bool(getattr(bundle, "_normalize_waveform", False))
        file_name = bundle._path.rsplit("/", 1)[-1]
        dirs = [Path(self.weights_dir)] if self.weights_dir else \
            [Path(torch.hub.get_dir()) / "checkpoints"]
        found = next((d / file_name for d in dirs if (d / file_name).is_file()), None)
        if found is None and (pretrained or self.weights_dir):
            raise FileNotFoundError(
                f"{name} weights not found: {file_name} is not in "
                f"{', '.join(str(d) for d in dirs)}. Copy the file there (it is "
                f"https://download.pytorch.org/torchaudio/models/{file_name}), or use "
                "pretrained=False for random weights (testing only)")
        if found is not None and pretrained is not False:
            model = _bundle_model(bundle, factory, found)
            self.pretrained = True
            self.weights_source = str(found)
            self.weights_sha256 = sha256_file(found)
        else:
            with _seeded(self.seed):
                model = getattr(torchaudio.models, factory)()
            self.pretrained = False
            self.weights_source = "random init"
            log.warning("audio encoder %s has random weights (seed %d): pretrained=False, the "
                        "features are for testing only", name, self.seed)
        self.model = model.to(self.device).eval()
        self.hop = 320

    def spec(self) -> dict[str, Any]:
        """Construction arguments: ``make_audio_encoder(**enc.spec())`` rebuilds it."""
        return {"name": self.name, "weights_dir": self.weights_dir, "device": self.device,
                "pretrained": self.requested_pretrained, "seed": self.seed,
                "chunk_seconds": self.chunk_seconds}

    def info(self) -> dict[str, Any]:
        if self.name == "logmel":
            return {"name": "logmel", "architecture": "log mel spectrogram (LAV-DF BA-TFD)",
                    "weights": None, "weights_sha256": None, "pretrained": False, "dim": 256,
                    "preprocessing": {"sample_rate": self.rate, "n_fft": 321, "win_length": 321,
                                      "hop_length": 160, "n_mels": 64, "power": 2.0,
                                      "log_offset": 0.01, "frames_per_video_frame": 4,
                                      "layout": "sub-frame major (k * 64 + mel)"}}
        return {"name": self.name,
                "architecture": f"torchaudio.pipelines.{AUDIO_ENCODERS[self.name][0]}",
                "weights": self.weights_source, "weights_sha256": self.weights_sha256,
                "pretrained": self.pretrained, "dim": self.dim,
                "seed": None if self.pretrained else self.seed,
                "preprocessing": {"sample_rate": self.rate, "layer": "last transformer layer",
                                  "normalize_waveform": self.normalize_waveform,
                                  "pooling": "mean of the 50 Hz frames centred in each video "
                                             "frame"}}

    def encode(self, audio: np.ndarray | None, n_frames: int, fps: float = 25.0,
               rate: int = 16000) -> np.ndarray:
        """(n_samples,) float mono audio at ``rate`` -> (n_frames, dim) float32 aligned to the
        frame timeline (frame t covers [t / fps, (t + 1) / fps)); NaN rows for ``None``."""
        import torch

        n_frames = int(n_frames)
        if audio is None:
            return np.full((n_frames, self.dim), np.nan, np.float32)
        if n_frames == 0:
            return np.zeros((0, self.dim), np.float32)
        audio = np.asarray(audio, np.float32).reshape(-1)
        if rate != self.rate:
            import torchaudio.functional as AF

            audio = AF.resample(torch.from_numpy(audio), rate, self.rate).numpy()
        n_samples = int(round(n_frames / fps * self.rate))
        audio = _fit_length(audio, n_samples)
        if self.name == "logmel":
            return self._logmel(audio, n_frames, fps)
        return self._ssl(audio, n_frames, fps)

    def _logmel(self, audio: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
        import torch

        with torch.inference_mode():
            spec = self.model(torch.from_numpy(audio).to(self.device))  # (64, M)
            spec = torch.log(spec + 0.01).cpu().numpy()
        m = spec.shape[1]
        centres = (np.arange(n_frames)[:, None] + np.arange(4)[None, :] / 4.0) / fps
        idx = np.clip(np.floor(centres * self.rate / self.hop + 0.5 + 1e-9).astype(int), 0, m - 1)
        return np.ascontiguousarray(spec.T[idx].reshape(n_frames, 256), dtype=np.float32)

    def _ssl(self, audio: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        hop, field = 320, 400
        chunk = max(hop, int(self.chunk_seconds * self.rate) // hop * hop)
        feats = []
        cuda = self.device.startswith("cuda")
        with torch.inference_mode():
            for s in range(0, len(audio), chunk):
                piece = audio[s:s + chunk + field - hop]
                want = math.ceil(min(chunk, len(audio) - s) / hop)
                if len(piece) < (want - 1) * hop + field:
                    piece = np.pad(piece, (0, (want - 1) * hop + field - len(piece)))
                x = torch.from_numpy(piece).to(self.device)[None]
                if self.normalize_waveform:
                    x = F.layer_norm(x, x.shape)
                with torch.autocast("cuda", dtype=torch.float16, enabled=cuda):
                    layers, _ = self.model.extract_features(x)
                feats.append(layers[-1][0, :want].float().cpu().numpy())
        f = np.concatenate(feats) if feats else np.zeros((0, self.dim), np.float32)
        centres = (np.arange(len(f)) * hop + field / 2) / self.rate
        owner = np.floor(centres * fps + 1e-9).astype(int)
        keep = owner < n_frames
        out = np.zeros((n_frames, self.dim), np.float64)
        count = np.zeros(n_frames)
        np.add.at(out, owner[keep], f[keep])
        np.add.at(count, owner[keep], 1)
        empty = count == 0
        if empty.any() and len(f):
            frame_centres = (np.flatnonzero(empty) + 0.5) / fps
            nearest = np.abs(frame_centres[:, None] - centres[None, :]).argmin(axis=1)
            out[empty] = f[nearest]
            count[empty] = 1
        return (out / np.maximum(count, 1)[:, None]).astype(np.float32)


def _bundle_model(bundle: Any, factory: str, path: Path) -> Any:
    """The bundle's architecture with the state dict of ``path`` loaded without pickle
    (torchaudio's own ``bundle.get_model`` calls ``torch.load(weights_only=False)``)."""
    import torchaudio

    state = _torch_load_weights_only(path)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a state dict (got {type(state).__name__})")
    try:
        from torchaudio.pipelines._wav2vec2 import utils as bundle_utils

        model = bundle_utils._get_model(bundle._model_type, bundle._params)
    except (ImportError, AttributeError):  # another torchaudio layout: the public factory
        model = getattr(torchaudio.models, factory)()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(f"{path}: weights do not fit {factory} "
                         f"({str(e).strip().splitlines()[0]})") from e
    return model


def make_audio_encoder(name: str = "logmel", weights_dir: str | None = None, device: str = "cpu",
                       pretrained: bool | None = None, seed: int = 0,
                       chunk_seconds: float = 30.0) -> AudioEncoder:
    """Build an audio encoder: ``logmel`` (default, no weights), ``wav2vec2_base``,
    ``hubert_large``, ``wavlm_large`` (see :class:`AudioEncoder`).

    >>> make_audio_encoder("logmel").dim
    256
    """
    return AudioEncoder(name=name, weights_dir=weights_dir, device=device, pretrained=pretrained,
                        seed=seed, chunk_seconds=chunk_seconds)
