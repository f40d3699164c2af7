"""The reference path: one block of videos in the calling thread (``scheduler="synchronous"``).

:func:`extract_block` is the per-block extractor of voca 1 kept as it was: it decodes its videos
(a background thread decodes and crops the next ``prefetch`` videos while the encoders run), embeds
the crops in batches filled across the block's videos, embeds the audio, computes
``visual_similarity`` and writes the block's whole shards, ``status`` last. The pipeline
(:mod:`voca_data.extract.pipeline`) must give the same arrays on CPU; the tests compare the two.

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

import numpy as np

from ..store import schema
from .config import ExtractConfig
from .encode import cosine_to_previous, take_batch
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
        parts, spans = take_batch(buffer, n)
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
            arrays["notes"][k] = schema.join_notes(*prep.notes)
            arrays["has_audio"][k] = int(prep.audio is not None)
            visual32[k] = np.empty((n, writer.visual_dim), np.float32)
            remaining[k] = n
            buffer.append((k, 0, prep.crops[:n]))
            buffered += n
            while buffered >= batch_size:
                run_batch(batch_size)
        if buffered:
            run_batch(buffered)
    arrays["error"][:] = np.array(errors, dtype=object)
    sl = writer.block_slice(block)
    writer.write_block(block, arrays, strict=config.strict,
                       metadata_frames=None if metadata_frames is None
                       else metadata_frames[sl.start:sl.stop])
    return {"block": block, "videos": nb, "frames": n_frames_total, "failed": failed,
            "seconds": time.perf_counter() - t0, "pid": os.getpid(), **timing}

