"""The reference path: one block of videos in the calling thread (``scheduler="synchronous"``).

:func:`extract_block` is voca 1's per-block task: a background thread decodes and crops the next
``prefetch`` videos while this thread hands them, in order, to the same
:class:`~voca_data.extract.encode.BlockAssembler` the pipeline uses (batches filled across the
block's videos, audio, ``visual_similarity``), then writes the block's whole shards, ``status``
last. Assembly is one piece of code, so the tests comparing this path with the pipeline
(:mod:`voca_data.extract.pipeline`) compare scheduling only.

>>> extract_block("s.zarr", 0, "/data/LAV-DF", ExtractConfig(visual_arch="voca-tiny"))  # doctest: +SKIP
{'block': 0, 'videos': 64, 'frames': 20125, 'failed': 1, 'seconds': 41.2, ...}
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import time
from pathlib import Path
from typing import Any, Sequence

from .config import ExtractConfig
from .encode import BlockAssembler
from .models import audio_encoder, visual_encoder
from .prepare import prepare_video as _prepare

log = logging.getLogger(__name__)

__all__ = ["extract_block"]


def extract_block(store: str | os.PathLike, block: int, root: str | os.PathLike,
                  config: ExtractConfig, device: str = "cpu",
                  metadata_frames: Sequence[int | None] | None = None) -> dict[str, Any]:
    """Extract and write block ``block`` of ``store``; returns counts for the progress bar.

    Runs anywhere the store and the media are reachable (a thread, a process, a cluster node).

    >>> extract_block("s.zarr", 0, "/data/LAV-DF", ExtractConfig(visual_arch="voca-tiny"))  # doctest: +SKIP
    {'block': 0, 'videos': 64, 'frames': 20125, 'failed': 1, 'seconds': 41.2}
    """
    from ..store.writer import StoreWriter

    t0 = time.perf_counter()
    writer = StoreWriter(store)
    root = Path(root)
    records = writer.records(block)
    sl = writer.block_slice(block)
    nb = sl.stop - sl.start
    venc = visual_encoder(config, device)
    aenc = audio_encoder(config, device)
    crop_size = int(config.crop_size or getattr(venc, "image_size", 0) or 224)

    timing = {"visual_seconds": 0.0, "audio_seconds": 0.0, "wait_seconds": 0.0}
    asm = BlockAssembler(writer, block, venc, aenc, config.fps, config.audio_rate,
                         config.batch_size, timing)
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
            asm.add(prep)
    writer.write_block(block, asm.result(), strict=config.strict,
                       metadata_frames=None if metadata_frames is None
                       else metadata_frames[sl.start:sl.stop])
    return {"block": block, "videos": nb, "frames": asm.frames, "failed": asm.failed,
            "seconds": time.perf_counter() - t0, "pid": os.getpid(), **timing}
