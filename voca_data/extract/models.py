"""Models, built once per process: the visual and audio encoders (cached by settings and device)
and pooled face detectors (one per thread using one at a time: OpenCV networks are not
thread-safe). Tasks and worker processes receive settings (an :class:`ExtractConfig`), never models.

>>> from voca_data.extract import ExtractConfig
>>> enc = visual_encoder(ExtractConfig(visual_arch="voca-tiny"), "cpu")     # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
from typing import Any, Callable, Iterator, Mapping

from .config import ExtractConfig

log = logging.getLogger(__name__)

__all__ = ["visual_encoder", "audio_encoder", "make_config_detector", "detector_info"]

# per-process model cache (spec key -> encoder) and detector pools (spec key -> queue)
_MODEL_CACHE: dict[str, Any] = {}
_DETECTOR_POOLS: dict[str, "queue.SimpleQueue[Any]"] = {}
_CACHE_LOCK = threading.Lock()


def _key(kind: str, **spec: Any) -> str:
    return kind + ":" + json.dumps(spec, sort_keys=True, default=str)


def _cached(key: str, build: Callable[[], Any]) -> Any:
    with _CACHE_LOCK:
        model = _MODEL_CACHE.get(key)
        if model is None:
            log.info("loading %s in process %d", key, os.getpid())
            model = _MODEL_CACHE[key] = build()
        return model


def visual_encoder(config: ExtractConfig, device: str) -> Any:
    """The visual encoder of ``config`` on ``device`` (built once per process)."""
    from ..encoders import make_visual_encoder

    spec = dict(arch=config.visual_arch, weights=config.visual_weights, device=device,
                batch_size=config.batch_size)
    return _cached(_key("visual", **spec), lambda: make_visual_encoder(**spec))


def audio_encoder(config: ExtractConfig, device: str) -> Any:
    """The audio encoder of ``config`` on ``device`` (built once per process)."""
    from ..encoders import make_audio_encoder

    spec = dict(name=config.audio_encoder, weights_dir=config.audio_weights, device=device)
    return _cached(_key("audio", **spec), lambda: _make_audio(make_audio_encoder, spec))


def _make_audio(make: Callable[..., Any], spec: Mapping[str, Any]) -> Any:
    name = spec["name"]
    rest = {k: v for k, v in spec.items() if k != "name"}
    return make(name, **rest)


def make_config_detector(config: ExtractConfig, threads: int | None = None) -> Any:
    """A new face detector with ``config``'s detector settings (``--min-face-size``,
    ``--detect-threshold``, ``--detect-max-side``).

    >>> make_config_detector(ExtractConfig(detector="center")).name
    'center'
    """
    from ..faces import make_detector

    options = config.detector_options()
    if threads is not None and config.detector == "mtcnn":
        options["threads"] = threads
    return make_detector(config.detector, **options)


def detector_info(config: ExtractConfig) -> dict[str, Any]:
    """The ``face_detector`` provenance attribute of a store made with ``config``."""
    det = make_config_detector(config)
    return {**_info(det), "detect_every": config.detect_every,
            "min_face_size": config.min_face_size, "detect_threshold": config.detect_threshold,
            "detect_max_side": config.detect_max_side}


@contextlib.contextmanager
def _detector(config: ExtractConfig) -> Iterator[Any]:
    """Borrow a face detector from this process's pool (one per concurrent user)."""
    key = _key("detector", name=config.detector, **config.detector_options())
    with _CACHE_LOCK:
        pool = _DETECTOR_POOLS.setdefault(key, queue.SimpleQueue())
    try:
        det = pool.get_nowait()
    except queue.Empty:
        log.info("loading %s in process %d", key, os.getpid())
        det = make_config_detector(config)
    try:
        yield det
    finally:
        pool.put(det)


def _info(obj: Any) -> dict[str, Any]:
    info = obj.info() if hasattr(obj, "info") else {"name": type(obj).__name__}
    return json.loads(json.dumps(info, default=str))
