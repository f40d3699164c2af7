"""The extractor: videos -> a complete store, one Dask task per block of videos.

Each block task (:func:`extract_block`) decodes its videos, tracks the face and crops the lower
face, embeds the crops with the visual encoder (batches filled across the block's videos), embeds
the audio, computes ``visual_similarity`` and writes the block's whole shards with
:meth:`voca_data.writer.StoreWriter.write_block` (``status`` last). A background thread decodes and
crops the next videos of the block while the encoders run. A bad video becomes
``status = failed`` with the reason in ``error``; the rest of the block goes on.

:func:`extract` creates the store (or resumes it: only blocks with pending videos are run),
dispatches the block tasks to a scheduler (``threads``, ``processes``, ``synchronous`` or the
address ``tcp://HOST:PORT`` of a running ``dask.distributed`` scheduler), shows progress, then
finalizes (train statistics, the AV synchrony fit of :mod:`voca_data.avsync`, ``complete``).

Models are loaded once per worker process: :func:`extract_block` keeps them in a per-process
cache keyed by the encoder settings and device (``_MODEL_CACHE`` below; face detectors are
pooled, one per concurrently running thread, since OpenCV networks are not thread-safe).

Example
-------
>>> from voca_data.sources import load
>>> from voca_data.extract import ExtractConfig, extract
>>> records = load("lavdf", "/data/LAV-DF")                                 # doctest: +SKIP
>>> extract(records, "/data/LAV-DF", "lavdf.zarr",
...         ExtractConfig(visual_arch="ViT-B-32", visual_weights="clip.bin"),
...         scheduler="processes", workers=2)                                # doctest: +SKIP
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import queue
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from . import schema
from .records import VideoRecord

log = logging.getLogger(__name__)

__all__ = ["ExtractConfig", "extract", "extract_block", "finalize_store", "resolve_device",
           "SCHEDULERS"]

SCHEDULERS = ("threads", "processes", "synchronous")

# per-process model cache (spec key -> encoder) and detector pools (spec key -> queue)
_MODEL_CACHE: dict[str, Any] = {}
_DETECTOR_POOLS: dict[str, "queue.SimpleQueue[Any]"] = {}
_CACHE_LOCK = threading.Lock()


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
    crop_size:
        Side of the lower-face crop in pixels (``None``: the visual encoder's input size).
    fps, audio_rate:
        Store timeline and audio sample rate.
    block_size:
        Videos per block task and per shard (only used when the store is created).
    batch_size:
        Crops per visual-encoder batch (filled across the videos of a block).
    device:
        ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
    prefetch:
        Videos decoded and cropped ahead of the encoders inside a block task.
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

    # settings that change the content of features (must match when resuming a store)
    _CONTENT = ("visual_arch", "visual_weights", "audio_encoder", "audio_weights", "detector",
                "detect_every", "crop_size", "fps", "audio_rate")

    def __post_init__(self) -> None:
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every}")
        if self.block_size < 1 or self.batch_size < 1:
            raise ValueError("block_size and batch_size must be >= 1")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu or cuda, not {self.device!r}")
        if self.prefetch < 0:
            raise ValueError("prefetch must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def content_settings(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._CONTENT}

    def av_config(self) -> Any:
        from .avsync import AVSyncConfig

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


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; ``cuda`` without a GPU is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but torch sees no CUDA device; use --device cpu")
    return device


# --------------------------------------------------------------------------- models (per process)

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
    from .encoders import make_visual_encoder

    spec = dict(arch=config.visual_arch, weights=config.visual_weights, device=device,
                batch_size=config.batch_size)
    return _cached(_key("visual", **spec), lambda: make_visual_encoder(**spec))


def audio_encoder(config: ExtractConfig, device: str) -> Any:
    """The audio encoder of ``config`` on ``device`` (built once per process)."""
    from .encoders import make_audio_encoder

    spec = dict(name=config.audio_encoder, weights_dir=config.audio_weights, device=device)
    return _cached(_key("audio", **spec), lambda: _make_audio(make_audio_encoder, spec))


def _make_audio(make: Callable[..., Any], spec: Mapping[str, Any]) -> Any:
    name = spec["name"]
    rest = {k: v for k, v in spec.items() if k != "name"}
    return make(name, **rest)


@contextlib.contextmanager
def _detector(config: ExtractConfig) -> Iterator[Any]:
    """Borrow a face detector from this process's pool (one per concurrent user)."""
    from .faces import make_detector

    key = _key("detector", name=config.detector)
    with _CACHE_LOCK:
        pool = _DETECTOR_POOLS.setdefault(key, queue.SimpleQueue())
    try:
        det = pool.get_nowait()
    except queue.Empty:
        log.info("loading %s in process %d", key, os.getpid())
        det = make_detector(config.detector)
    try:
        yield det
    finally:
        pool.put(det)


def _info(obj: Any) -> dict[str, Any]:
    info = obj.info() if hasattr(obj, "info") else {"name": type(obj).__name__}
    return json.loads(json.dumps(info, default=str))


# --------------------------------------------------------------------------- the block task

@dataclass
class _Prepared:
    """A decoded video with its face track and crops (or the reason it failed)."""

    k: int
    error: str = ""
    notes: list[str] = field(default_factory=list)
    n_frames: int = 0
    duration: float = float("nan")
    source_fps: float = float("nan")
    audio: np.ndarray | None = None
    boxes: np.ndarray | None = None
    scores: np.ndarray | None = None
    crops: np.ndarray | None = None
    seconds: float = 0.0


def _relative_message(exc: BaseException, full: Path, rel: str) -> str:
    return str(exc).replace(str(full), rel)


def _prepare(k: int, record: VideoRecord, root: Path, config: ExtractConfig, max_frames: int,
             crop_size: int) -> _Prepared:
    from .faces import lower_face_crops, track_faces
    from .media import MediaError, decode

    t0 = time.perf_counter()
    full = root / record.path
    out = _Prepared(k)
    try:
        video = decode(full, fps=config.fps, audio_rate=config.audio_rate, max_frames=max_frames)
    except MediaError as e:
        out.error = _relative_message(e, full, record.path)
        return out
    except Exception as e:  # noqa: BLE001 - any decoder crash is this video's failure
        out.error = f"{record.path}: decoding failed: {type(e).__name__}: {e}"
        return out
    if video.n_frames < 1:
        out.error = f"{record.path}: zero frames: nothing on the store timeline"
        return out
    try:
        with _detector(config) as det:
            track = track_faces(video.frames, det, every=config.detect_every)
        crops = lower_face_crops(video.frames, track, crop_size)
    except Exception as e:  # noqa: BLE001
        out.error = f"{record.path}: face tracking failed: {type(e).__name__}: {e}"
        return out
    out.notes = [_relative_message(Exception(n), full, record.path)
                 for n in [*video.notes, *getattr(track, "notes", [])]]
    out.n_frames = int(video.n_frames)
    out.duration = float(video.duration)
    out.source_fps = float(video.source_fps)
    out.audio = video.audio
    out.boxes = np.asarray(track.boxes, np.float32)
    out.scores = np.asarray(track.scores, np.float32)
    out.crops = crops
    out.seconds = time.perf_counter() - t0
    return out


def cosine_to_previous(x: np.ndarray) -> np.ndarray:
    """cos(x[t], x[t-1]) per frame, NaN at t = 0 (no previous frame)."""
    out = np.full(len(x), np.nan, np.float32)
    if len(x) > 1:
        norms = np.linalg.norm(x, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[1:] = (x[1:] * x[:-1]).sum(1) / (norms[1:] * norms[:-1])
    return out


def extract_block(store: str | os.PathLike, block: int, root: str | os.PathLike,
                  config: ExtractConfig, device: str = "cpu") -> dict[str, Any]:
    """Extract and write block ``block`` of ``store``; returns counts for the progress bar.

    Runs anywhere the store and the media are reachable (a thread, a process, a cluster node).

    >>> extract_block("s.zarr", 0, "/data/LAV-DF", ExtractConfig(visual_arch="voca-tiny"))  # doctest: +SKIP
    {'block': 0, 'videos': 64, 'frames': 20125, 'failed': 1, 'seconds': 41.2}
    """
    from .writer import StoreWriter

    t0 = time.perf_counter()
    writer = StoreWriter(store)
    root = Path(root)
    records = writer.records(block)
    sl = writer.block_slice(block)
    nb = sl.stop - sl.start
    venc = visual_encoder(config, device)
    aenc = audio_encoder(config, device)
    crop_size = int(config.crop_size or getattr(venc, "image_size", 0) or 224)
    batch_size = int(config.batch_size)

    arrays = writer.empty_block(block)
    del arrays["frame_label"]  # write_block computes it from the stored fake periods
    del arrays["av_similarity"]  # fitted at finalize
    errors = [""] * nb
    visual32: dict[int, np.ndarray] = {}   # per-video float32 embeddings until complete
    remaining: dict[int, int] = {}         # frames still to embed per video
    buffer: list[tuple[int, int, np.ndarray]] = []  # (video k, first frame, crops)
    buffered = 0
    timing = {"visual_seconds": 0.0, "audio_seconds": 0.0, "wait_seconds": 0.0}

    def finish_video(k: int) -> None:
        emb = visual32.pop(k)
        arrays["visual"][k, : len(emb)] = emb
        arrays["visual_similarity"][k, : len(emb)] = cosine_to_previous(emb)
        arrays["status"][k] = schema.OK

    def run_batch(n: int) -> None:
        nonlocal buffered
        parts, taken = [], 0
        spans: list[tuple[int, int, int]] = []
        while taken < n:
            k, start, crops = buffer[0]
            use = min(len(crops), n - taken)
            parts.append(crops[:use])
            spans.append((k, start, use))
            if use == len(crops):
                buffer.pop(0)
            else:
                buffer[0] = (k, start + use, crops[use:])
            taken += use
        t = time.perf_counter()
        emb = np.asarray(venc.encode(np.concatenate(parts) if len(parts) > 1 else parts[0]),
                         np.float32)
        timing["visual_seconds"] += time.perf_counter() - t
        buffered -= n
        pos = 0
        for k, start, use in spans:
            visual32[k][start:start + use] = emb[pos:pos + use]
            pos += use
            remaining[k] -= use
            if remaining[k] == 0:
                finish_video(k)

    n_frames_total = 0
    failed = 0
    with cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="voca-prefetch") as pool:
        ahead = max(1, config.prefetch)
        futures: dict[int, cf.Future] = {}

        def submit(k: int) -> None:
            if k < nb and k not in futures:
                futures[k] = pool.submit(_prepare, k, records[k], root, config,
                                         writer.n_frames_max, crop_size)

        for k in range(min(ahead, nb)):
            submit(k)
        for k in range(nb):
            t = time.perf_counter()
            prep = futures.pop(k).result()
            timing["wait_seconds"] += time.perf_counter() - t
            submit(k + ahead)
            if prep.error:
                errors[k] = prep.error
                arrays["status"][k] = schema.FAILED
                failed += 1
                log.warning("block %d: %s", block, prep.error)
                continue
            n = prep.n_frames
            n_frames_total += n
            arrays["n_frames"][k] = n
            arrays["duration"][k] = prep.duration
            arrays["source_fps"][k] = prep.source_fps
            arrays["face_box"][k, :n] = prep.boxes[:n]
            arrays["face_score"][k, :n] = prep.scores[:n]
            t = time.perf_counter()
            arrays["audio"][k, :n] = np.asarray(
                aenc.encode(prep.audio, n, config.fps, config.audio_rate), np.float32)[:n]
            timing["audio_seconds"] += time.perf_counter() - t
            errors[k] = "; ".join(prep.notes)
            visual32[k] = np.empty((n, writer.visual_dim), np.float32)
            remaining[k] = n
            buffer.append((k, 0, prep.crops[:n]))
            buffered += n
            while buffered >= batch_size:
                run_batch(batch_size)
        if buffered:
            run_batch(buffered)
    arrays["error"][:] = np.array(errors, dtype=object)
    writer.write_block(block, arrays)
    return {"block": block, "videos": nb, "frames": n_frames_total, "failed": failed,
            "seconds": time.perf_counter() - t0, "pid": os.getpid(), **timing}


# --------------------------------------------------------------------------- the coordinator

def _probe_all(records: Sequence[VideoRecord], root: Path, fps: float, progress: bool) -> list[int]:
    """Frame estimates of every video (0 where probing fails), probed by a thread pool."""
    from .media import probe

    def one(rec: VideoRecord) -> int:
        try:
            return int(probe(root / rec.path, fps=fps)["n_frames_estimate"])
        except Exception as e:  # noqa: BLE001 - decode will report it as the video's failure
            log.debug("probe %s: %s", rec.path, e)
            return int(rec.n_frames or 0)

    with cf.ThreadPoolExecutor(max_workers=min(8, max(1, len(records)))) as pool:
        it = pool.map(one, records)
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(it, total=len(records), desc="probe", unit="video", leave=False)
        return list(it)


def _manifest_digest(records: Sequence[VideoRecord]) -> str:
    text = json.dumps([r.to_dict() for r in records], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _dataset_provenance(records: Sequence[VideoRecord], root: Path,
                        dataset_info: Mapping[str, Any] | None) -> dict[str, Any]:
    """``dataset`` attribute: name, absolute root, the manifest file(s) the source read and their
    sha256 (relative to the root when inside it), and a digest of the records themselves."""
    from .provenance import sha256_file

    root_abs = root.resolve()
    dataset: dict[str, Any] = {"name": getattr(records, "source", "") or "unknown",
                               "root": str(root_abs), "videos": len(records),
                               "records_sha256": _manifest_digest(records)}
    files = [Path(m) for m in (getattr(records, "manifests", None) or []) if m]
    if files:
        names, digests = [], []
        for f in files:
            f_abs = f if f.is_absolute() else root_abs / f
            try:
                names.append(str(f_abs.resolve().relative_to(root_abs)))
            except ValueError:
                names.append(str(f_abs))
            digests.append(sha256_file(f_abs) if f_abs.is_file() else "")
        dataset["manifest"] = names[0] if len(names) == 1 else names
        dataset["manifest_sha256"] = digests[0] if len(digests) == 1 else digests
    dataset.update(dict(dataset_info or {}))
    return dataset


def _create_store(records: Sequence[VideoRecord], root: Path, out: Path, config: ExtractConfig,
                  dataset_info: Mapping[str, Any] | None, progress: bool) -> Any:
    from .writer import StoreWriter, init

    estimates = _probe_all(records, root, config.fps, progress)
    # a little slack: metadata can under-state; decode cuts at the store extent with a note
    max_frames = max([1, *estimates, *(int(r.n_frames or 0) for r in records)])
    venc = visual_encoder(config, "cpu")
    aenc = audio_encoder(config, "cpu")
    from .faces import make_detector

    det_info = _info(make_detector(config.detector))
    dataset = _dataset_provenance(records, root, dataset_info)
    provenance = {
        "dataset": dataset,
        "visual_encoder": _info(venc),
        "audio_encoder": _info(aenc),
        "face_detector": {**det_info, "detect_every": config.detect_every},
        "extraction": config.to_dict(),
    }
    tmp = out.with_name(out.name + ".init-tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    init(tmp, records, visual_dim=int(venc.dim), audio_dim=int(aenc.dim), max_frames=max_frames,
         provenance=provenance, block_size=config.block_size, fps=config.fps,
         audio_rate=config.audio_rate)
    os.replace(tmp, out)  # the store appears whole or not at all
    return StoreWriter(out)


def _open_existing(records: Sequence[VideoRecord] | None, out: Path, config: ExtractConfig) -> Any:
    from .writer import StoreWriter

    writer = StoreWriter(out)
    stored = writer.attrs.get("extraction") or {}
    mismatched = {k: (stored.get(k), v) for k, v in config.content_settings().items()
                  if k in stored and stored.get(k) != v}
    if mismatched:
        detail = ", ".join(f"{k}: store {a!r} vs requested {b!r}" for k, (a, b) in mismatched.items())
        raise ValueError(
            f"{out} was extracted with other settings ({detail}); resume with the store's "
            "settings or write a new store")
    if records is not None:
        ids = [r.video_id for r in records]
        stored_ids = [r.video_id for r in writer.records()]
        if ids != stored_ids:
            raise ValueError(
                f"{out} holds a different manifest ({len(stored_ids)} videos) than the one given "
                f"({len(ids)} videos); use the same source and options, or a new output path")
    return writer


@contextlib.contextmanager
def _scheduler(scheduler: str, workers: int | None) -> Iterator[Any]:
    """A ``distributed.Client`` for ``threads`` / ``processes`` / ``tcp://...`` (None for
    ``synchronous``)."""
    if scheduler == "synchronous":
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
        with Client(scheduler, set_as_default=False) as client:
            yield client
        return
    if scheduler == "threads":
        cluster = LocalCluster(processes=False, n_workers=1, threads_per_worker=max(1, workers or 1),
                               dashboard_address="127.0.0.1:0", silence_logs=logging.WARNING)
    elif scheduler == "processes":
        cluster = LocalCluster(processes=True, n_workers=max(1, workers or (os.cpu_count() or 1)),
                               threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0",
                               silence_logs=logging.WARNING)
    else:
        raise ValueError(f"scheduler must be one of {SCHEDULERS} or tcp://HOST:PORT, not {scheduler!r}")
    with cluster, Client(cluster, set_as_default=False) as client:
        yield client


class _Progress:
    def __init__(self, total: int, enabled: bool):
        self.t0 = time.perf_counter()
        self.frames = 0
        self.failed = 0
        self.videos = 0
        self.timing: dict[str, float] = {}
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="extract", unit="video", dynamic_ncols=True)

    def update(self, result: Mapping[str, Any]) -> None:
        for key in ("seconds", "visual_seconds", "audio_seconds", "wait_seconds"):
            self.timing[key] = self.timing.get(key, 0.0) + float(result.get(key, 0.0))
        self.videos += int(result["videos"])
        self.frames += int(result["frames"])
        self.failed += int(result["failed"])
        if self.bar is not None:
            dt = max(time.perf_counter() - self.t0, 1e-9)
            self.bar.set_postfix(frames_s=f"{self.frames / dt:.1f}", failed=self.failed, refresh=False)
            self.bar.update(int(result["videos"]))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_blocks(writer: Any, blocks: Sequence[int], root: Path, config: ExtractConfig, device: str,
                scheduler: str, workers: int | None, progress: bool) -> dict[str, Any]:
    todo_videos = sum(writer.block_slice(b).stop - writer.block_slice(b).start for b in blocks)
    bar = _Progress(todo_videos, progress)
    errors: list[str] = []
    store = str(writer.path)
    try:
        with _scheduler(scheduler, workers) as client:
            if client is None:
                for b in blocks:
                    bar.update(extract_block(store, b, str(root), config, device))
            else:
                from distributed import as_completed

                token = hashlib.sha1(f"{store}{time.time()}".encode()).hexdigest()[:8]
                futures = [client.submit(extract_block, store, b, str(root), config, device,
                                         key=f"voca-extract-{token}-block-{b}", pure=False,
                                         retries=1)
                           for b in blocks]
                for fut in as_completed(futures, loop=client.loop):
                    try:
                        bar.update(fut.result())
                    except Exception as e:  # noqa: BLE001 - keep going; the block stays pending
                        log.error("%s failed: %s: %s", fut.key, type(e).__name__, e)
                        errors.append(f"{fut.key}: {type(e).__name__}: {e}")
    finally:
        bar.close()
    dt = time.perf_counter() - bar.t0
    return {"blocks": len(blocks), "videos": bar.videos, "frames": bar.frames, "failed": bar.failed,
            "seconds": round(dt, 3), "frames_per_second": round(bar.frames / max(dt, 1e-9), 2),
            # summed over block tasks: time in the visual / audio encoders, waiting for decode
            **{f"task_{k}": round(v, 3) for k, v in bar.timing.items()},
            "block_errors": errors}


def finalize_store(store: str | os.PathLike, config: ExtractConfig | None = None) -> dict[str, Any]:
    """Finalize ``store``: train statistics, the AV synchrony fit (settings from ``config`` or
    the store's ``extraction`` attribute), consolidated metadata, ``complete``.

    >>> finalize_store("lavdf.zarr")["complete"]        # doctest: +SKIP
    True
    """
    from .avsync import finalize_hook
    from .writer import StoreWriter

    writer = StoreWriter(store)
    if config is None:
        try:
            config = ExtractConfig.from_store(writer.attrs)
        except ValueError:
            config = ExtractConfig()
    return writer.finalize(hooks=[finalize_hook(config.av_config(), reference=config.av_reference)])


def extract(
    records: Sequence[VideoRecord],
    root: str | os.PathLike,
    out: str | os.PathLike,
    config: ExtractConfig | None = None,
    *,
    scheduler: str = "threads",
    workers: int | None = None,
    retry_failed: bool = False,
    finalize: bool = True,
    progress: bool = True,
    dataset_info: Mapping[str, Any] | None = None,
) -> Path:
    """Extract features of ``records`` (media under ``root``) into the store ``out``.

    Parameters
    ----------
    records:
        The manifest (from :func:`voca_data.sources.load`).
    root:
        Dataset root; record paths are relative to it.
    out:
        Store directory. Created if missing; if it exists, only its pending blocks are run
        (resume), with the same manifest and content settings.
    config:
        Encoders, detector, timeline, block and batch sizes, device (:class:`ExtractConfig`).
    scheduler:
        ``threads`` (one process, ``workers`` block tasks at once), ``processes`` (a local
        ``dask.distributed`` cluster of ``workers`` processes), ``synchronous`` (in this thread,
        for debugging) or ``tcp://HOST:PORT`` of a running ``dask.distributed`` scheduler whose
        workers see the same ``root`` and ``out`` paths.
    workers:
        Parallel block tasks (threads: default 1; processes: default the CPU count).
    retry_failed:
        Also redo the blocks holding failed videos.
    finalize:
        Finalize after extraction (statistics, AV synchrony, ``complete``).
    progress:
        Show a progress bar (videos/s, frames/s, ETA, failures).
    dataset_info:
        Merged into the ``dataset`` provenance attribute (``name``, ``manifest``, its ``sha256``).

    Returns the store path.

    >>> extract(records, root, "out.zarr", ExtractConfig(visual_arch="voca-tiny",
    ...         detector="center", block_size=4), scheduler="synchronous")   # doctest: +SKIP
    """
    config = config or ExtractConfig()
    root = Path(root)
    out = Path(out)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root {root} is not a directory")
    device = resolve_device(config.device)
    if (out / "zarr.json").exists():
        writer = _open_existing(records, out, config)
        log.info("resuming %s", out)
    else:
        if out.exists() and any(out.iterdir()):
            raise FileExistsError(f"{out} exists and is not a voca store; choose another output path")
        if out.exists():
            out.rmdir()
        if not records:
            raise ValueError("the manifest is empty: no videos to extract")
        writer = _create_store(records, root, out, config, dataset_info, progress)
    blocks = writer.pending_blocks(retry_failed=retry_failed)
    if blocks:
        writer.prepare_for_writing()
        log.info("%s: %d block(s) to extract with %s scheduler on %s", out, len(blocks), scheduler,
                 device)
        summary = _run_blocks(writer, blocks, root, config, device, scheduler, workers, progress)
        writer.add_history("extract", scheduler=scheduler, workers=workers, device=device,
                           retry_failed=retry_failed, **summary)
        if summary["block_errors"]:
            raise RuntimeError(
                f"{len(summary['block_errors'])} block task(s) failed ({summary['block_errors'][0]}); "
                f"their videos stay pending: run the same command again to resume")
    else:
        log.info("%s: no pending blocks", out)
    if finalize and (blocks or not writer.attrs.get("complete")):
        info = finalize_store(out, config)
        log.info("finalized %s: %s", out, info)
    return out
