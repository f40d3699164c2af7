"""Where the blocks run: this node's pipeline, the synchronous reference path, or a
``dask.distributed`` cluster whose worker nodes each run the pipeline over groups of blocks.

>>> run_blocks(writer, [0, 1], root, config, "cpu", "pipeline", cpu_workers=1)   # doctest: +SKIP
{'blocks': 2, 'videos': 8, 'frames': 412, 'failed': 0, 'seconds': 3.1, ...}
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from .config import ExtractConfig

log = logging.getLogger(__name__)

__all__ = ["SCHEDULERS", "run_blocks", "extract_blocks", "encoder_devices"]

SCHEDULERS = ("pipeline", "synchronous")
_STAGE_KEYS = ("cpu_busy_seconds", "cpu_wait_seconds", "encoder_busy_seconds",
               "encoder_wait_seconds", "encoder_visual_seconds", "encoder_audio_seconds",
               "writer_busy_seconds", "writer_wait_seconds", "cpu_worker_deaths",
               "cpu_process_seconds", "cpu_starved_seconds", "cpu_startup_seconds",
               "tail_seconds")


def encoder_devices(device: str, gpus: int | None = None) -> list[str]:
    """One entry per encoder: ``["cpu"]``, or the first ``gpus`` CUDA devices (default all).

    >>> encoder_devices("cpu")
    ['cpu']
    """
    if not device.startswith("cuda"):
        return [device]
    if ":" in device:
        return [device]
    import torch

    count = torch.cuda.device_count()
    n = count if gpus is None else int(gpus)
    if not 1 <= n <= count:
        raise ValueError(f"--gpus {n}: this node has {count} CUDA device(s)")
    return [f"cuda:{i}" for i in range(n)]


def extract_blocks(store: str, blocks: Sequence[int], root: str, config: ExtractConfig,
                   device: str, cpu_workers: int | None = None, gpus: int | None = None
                   ) -> dict[str, Any]:
    """A cluster task: run the pipeline over those of ``blocks`` still pending (a retried task
    skips what its first attempt wrote).

    >>> extract_blocks("s.zarr", [0, 1], "/data", ExtractConfig(), "cuda")   # doctest: +SKIP
    """
    from ..store.writer import StoreWriter
    from .pipeline import run_pipeline

    pending = set(StoreWriter(store).pending_blocks(retry_failed=True))
    todo = [b for b in blocks if b in pending]
    result = run_pipeline(store, todo, root, config, encoder_devices(device, gpus), cpu_workers)
    import socket

    result["node"] = f"{socket.gethostname()}:{os.getpid()}"
    return result


@contextlib.contextmanager
def _scheduler(scheduler: str, workers: int | None) -> Iterator[Any]:
    """A ``distributed.Client``: ``tcp://...`` connects to a running scheduler; ``threads`` /
    ``processes`` start a local cluster (tests, benchmarks)."""
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
        raise ValueError(f"not a dask scheduler: {scheduler!r}")
    with cluster, Client(cluster, set_as_default=False) as client:
        yield client


class _Progress:
    """tqdm bar over videos with frames/s; sums the stage timings of finished work."""

    def __init__(self, total: int, enabled: bool):
        self.t0 = time.perf_counter()
        self.frames = 0
        self.failed = 0
        self.videos = 0
        self.timing: dict[str, float] = {}
        self.lock = threading.Lock()
        self.bar = None
        if enabled:
            from voca_data.progress import tqdm

            self.bar = tqdm(total=total, desc="extract", unit="video", dynamic_ncols=True)

    def update(self, result: Mapping[str, Any]) -> None:
        with self.lock:
            self.videos += int(result["videos"])
            self.frames += int(result["frames"])
            self.failed += int(result["failed"])
            if self.bar is not None:
                dt = max(time.perf_counter() - self.t0, 1e-9)
                self.bar.set_postfix(frames_s=f"{self.frames / dt:.1f}", failed=self.failed,
                                     refresh=False)
                self.bar.update(int(result["videos"]))

    def add_timing(self, result: Mapping[str, Any]) -> None:
        for key in (*_STAGE_KEYS, "visual_seconds", "audio_seconds", "wait_seconds"):
            if key in result:
                self.timing[key] = self.timing.get(key, 0.0) + float(result[key])

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _groups(blocks: Sequence[int], n_workers: int) -> list[list[int]]:
    """Blocks cut into about 4 groups per cluster worker (contiguous, so a node's shards are
    neighbours), at least one block each."""
    n = max(1, min(len(blocks), 4 * max(1, n_workers)))
    size = math.ceil(len(blocks) / n)
    return [list(blocks[i:i + size]) for i in range(0, len(blocks), size)]


def run_blocks(writer: Any, blocks: Sequence[int], root: Path, config: ExtractConfig, device: str,
               scheduler: str, *, cpu_workers: int | None = None, gpus: int | None = None,
               progress: bool = True,
               metadata_frames: Sequence[int | None] | None = None) -> dict[str, Any]:
    """Run ``blocks`` of ``writer``'s store; returns the history summary (frames/s, per-stage busy
    and wait seconds, block errors). ``metadata_frames`` (the manifest's frame count of each
    store video) go into the timeline notes of the local schedulers; cluster tasks compare the
    stored periods only."""
    from .blocks import extract_block
    from .pipeline import run_pipeline

    todo_videos = sum(writer.block_slice(b).stop - writer.block_slice(b).start for b in blocks)
    bar = _Progress(todo_videos, progress)
    errors: list[str] = []
    store = str(writer.path)
    extra: dict[str, Any] = {}
    try:
        if scheduler == "synchronous":
            for b in blocks:
                result = extract_block(store, b, str(root), config, device, metadata_frames)
                bar.update(result)
                bar.add_timing(result)
        elif scheduler == "pipeline":
            result = run_pipeline(store, blocks, root, config, encoder_devices(device, gpus),
                                  cpu_workers, on_block=bar.update,
                                  metadata_frames=metadata_frames)
            bar.add_timing(result)
            errors.extend(result["block_errors"])
            extra = {k: result[k] for k in ("cpu_workers", "devices", "max_in_flight",
                                            "peak_in_flight", "cpu_worker_peak_rss_mib")}
        else:
            from distributed import as_completed

            with _scheduler(scheduler, None) as client:
                info = client.scheduler_info()
                n_workers = len(info.get("workers", {}))
                gpu_workers = [w for w in info.get("workers", {}).values()
                               if (w.get("resources") or {}).get("GPU")]
                resources = {"GPU": 1} if device.startswith("cuda") and gpu_workers else None
                token = hashlib.sha1(f"{store}{time.time()}".encode()).hexdigest()[:8]
                futures = [client.submit(extract_blocks, store, group, str(root), config, device,
                                         cpu_workers, gpus, resources=resources,
                                         key=f"voca-extract-{token}-blocks-{group[0]}-{group[-1]}",
                                         pure=False, retries=1)
                           for group in _groups(blocks, n_workers)]
                for fut in as_completed(futures, loop=client.loop):
                    try:
                        result = fut.result()
                    except Exception as e:  # noqa: BLE001 - keep going; the blocks stay pending
                        log.error("%s failed: %s: %s", fut.key, type(e).__name__, e)
                        errors.append(f"{fut.key}: {type(e).__name__}: {e}")
                        continue
                    bar.update(result)
                    bar.add_timing(result)
                    errors.extend(result["block_errors"])
                    extra["cpu_workers"] = result["cpu_workers"]  # per node
                    extra.setdefault("nodes", set()).add(result["node"])
                extra["tasks"] = len(futures)
                extra["nodes"] = len(extra.get("nodes", ()))
    finally:
        bar.close()
    dt = time.perf_counter() - bar.t0
    return {"blocks": len(blocks), "videos": bar.videos, "frames": bar.frames, "failed": bar.failed,
            "seconds": round(dt, 3), "frames_per_second": round(bar.frames / max(dt, 1e-9), 2),
            **extra,
            # summed over nodes / block tasks: busy and waiting seconds of each stage
            **{f"stage_{k}": round(v, 3) for k, v in bar.timing.items()},
            "block_errors": errors}
