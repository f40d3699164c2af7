"""The encoder stage: a block's videos (prepared by the CPU stage) -> its feature arrays.

:class:`BlockAssembler` takes a block's prepared videos in order, embeds the crops in batches of
``batch_size`` filled across the block's videos (the same batches as the synchronous path, so the
store's arrays do not depend on how many workers ran), embeds each video's audio, computes
``visual_similarity`` and hands the finished arrays to the writer.

Batches do not span blocks: on a CPU a matrix product's last bits depend on the batch it is in,
and a store must not depend on scheduling. The cost is at most one partial batch per block.

>>> cosine_to_previous(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
array([nan,  1.,  0.], dtype=float32)
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import numpy as np

from ..store import schema
from .prepare import Prepared

log = logging.getLogger(__name__)

__all__ = ["cosine_to_previous", "BlockAssembler", "PinnedStaging"]


def cosine_to_previous(x: np.ndarray) -> np.ndarray:
    """cos(x[t], x[t-1]) per frame, NaN at t = 0 (no previous frame)."""
    out = np.full(len(x), np.nan, np.float32)
    if len(x) > 1:
        norms = np.linalg.norm(x, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[1:] = (x[1:] * x[:-1]).sum(1) / (norms[1:] * norms[:-1])
    return out


def take_batch(buffer: list[tuple[int, int, Any]], n: int
               ) -> tuple[list[Any], list[tuple[int, int, int]]]:
    """Take the next ``n`` crops from ``buffer`` (``(video k, first frame, crops)`` entries, in
    order; consumed entries are removed, a partly used one is cut): the crop arrays to concatenate
    and ``(k, first frame, count)`` spans saying where their embeddings go. The synchronous path
    and the pipeline fill batches with it, so both batch the same frames together.

    >>> take_batch([(0, 0, "abc"), (1, 0, "de")], 4)
    (['abc', 'd'], [(0, 0, 3), (1, 0, 1)])
    """
    parts: list[Any] = []
    spans: list[tuple[int, int, int]] = []
    taken = 0
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
    return parts, spans


class PinnedStaging:
    """One page-locked host buffer (per encoder on a CUDA device) that visual batches are
    assembled in, so the encoder's host-to-device copy is a ``non_blocking`` DMA from pinned
    memory, without the extra host copy ``Tensor.pin_memory()`` would make. The buffer is reused
    batch after batch: the encoder reads its embeddings back (a synchronisation) before the next
    batch is assembled. Not used on CPU (nothing to copy; the CPU path is unchanged).

    >>> staging = PinnedStaging(256)                     # doctest: +SKIP
    >>> batch = staging.assemble([crops_a, crops_b])     # doctest: +SKIP
    """

    def __init__(self, batch_size: int, pin: bool = True):
        self.batch_size = int(batch_size)
        self.pin = pin  # False: ordinary memory (the same assembly, testable without a GPU)
        self.tensor: Any = None
        self.array: np.ndarray | None = None

    def assemble(self, parts: list[np.ndarray]) -> np.ndarray:
        """``parts`` concatenated into the pinned buffer (grown when a batch needs more)."""
        n = sum(len(p) for p in parts)
        shape = (n, *parts[0].shape[1:])
        if (self.array is None or self.array.shape[0] < n or self.array.shape[1:] != shape[1:]
                or self.array.dtype != parts[0].dtype):
            import torch

            rows = max(n, self.batch_size)
            self.tensor = torch.empty((rows, *shape[1:]),
                                      dtype=torch.from_numpy(parts[0][:0]).dtype, pin_memory=self.pin)
            self.array = self.tensor.numpy()
        out = self.array[:n]
        np.concatenate(parts, out=out)
        return out


class BlockAssembler:
    """The arrays of one block, filled video by video (in order) by one encoder.

    ``release(k)`` is called once video ``k``'s crops have all been embedded (the CPU stage's
    shared memory can go). ``timing`` accumulates ``visual_seconds`` / ``audio_seconds``.
    ``staging``: a :class:`PinnedStaging` to assemble visual batches in (CUDA encoders).
    """

    def __init__(self, writer: Any, block: int, venc: Any, aenc: Any, fps: float, audio_rate: int,
                 batch_size: int, timing: dict[str, float],
                 release: Callable[[int], None] | None = None,
                 staging: PinnedStaging | None = None):
        self.block = block
        sl = writer.block_slice(block)
        self.nb = sl.stop - sl.start
        self.venc, self.aenc = venc, aenc
        self.fps, self.audio_rate = fps, audio_rate
        self.batch_size = int(batch_size)
        self.visual_dim = int(writer.visual_dim)
        self.timing = timing
        self.release = release or (lambda k: None)
        self.staging = staging
        self.arrays = writer.empty_block(block)
        del self.arrays["frame_label"]  # write_block computes it from the stored fake periods
        del self.arrays["av_similarity"]  # fitted at finalize
        self.errors = [""] * self.nb
        self.notes = [""] * self.nb
        self.visual32: dict[int, np.ndarray] = {}
        self.remaining: dict[int, int] = {}
        self.buffer: list[tuple[int, int, np.ndarray]] = []
        self.buffered = 0
        self.next_k = 0
        self.frames = 0
        self.failed = 0

    @property
    def done(self) -> bool:
        return self.next_k == self.nb

    def add(self, prep: Prepared) -> None:
        """Video ``prep.k`` (must be the next one of the block)."""
        k = prep.k
        if k != self.next_k:
            raise RuntimeError(f"block {self.block}: video {k} arrived before video {self.next_k}")
        self.next_k += 1
        arrays = self.arrays
        if prep.error:
            self.errors[k] = prep.error
            arrays["status"][k] = schema.FAILED
            self.failed += 1
            log.warning("block %d: %s", self.block, prep.error)
            self.release(k)
        else:
            n = prep.n_frames
            self.frames += n
            arrays["n_frames"][k] = n
            arrays["duration"][k] = prep.duration
            arrays["source_fps"][k] = prep.source_fps
            arrays["face_box"][k, :n] = prep.boxes[:n]
            arrays["face_score"][k, :n] = prep.scores[:n]
            t = time.perf_counter()
            arrays["audio"][k, :n] = np.asarray(
                self.aenc.encode(prep.audio, n, self.fps, self.audio_rate), np.float32)[:n]
            self.timing["audio_seconds"] = self.timing.get("audio_seconds", 0.0) \
                + time.perf_counter() - t
            self.notes[k] = schema.join_notes(*prep.notes)
            arrays["has_audio"][k] = int(prep.audio is not None)
            self.visual32[k] = np.empty((n, self.visual_dim), np.float32)
            self.remaining[k] = n
            self.buffer.append((k, 0, prep.crops[:n]))
            self.buffered += n
            while self.buffered >= self.batch_size:
                self._run_batch(self.batch_size)
        if self.done and self.buffered:
            self._run_batch(self.buffered)

    def result(self) -> dict[str, np.ndarray]:
        """The block's arrays for :meth:`voca_data.store.writer.StoreWriter.write_block`."""
        self.arrays["error"][:] = np.array(self.errors, dtype=object)
        self.arrays["notes"][:] = np.array(self.notes, dtype=object)
        return self.arrays

    def _finish_video(self, k: int) -> None:
        emb = self.visual32.pop(k)
        self.arrays["visual"][k, : len(emb)] = emb
        self.arrays["visual_similarity"][k, : len(emb)] = cosine_to_previous(emb)
        self.arrays["status"][k] = schema.OK
        self.release(k)

    def _run_batch(self, n: int) -> None:
        parts, spans = take_batch(self.buffer, n)
        t = time.perf_counter()
        if self.staging is not None:
            batch = self.staging.assemble(parts)
        else:
            batch = np.concatenate(parts) if len(parts) > 1 else parts[0]
        emb = np.asarray(self.venc.encode(batch), np.float32)
        del batch, parts  # drop views of shared memory before it is released
        self.timing["visual_seconds"] = self.timing.get("visual_seconds", 0.0) \
            + time.perf_counter() - t
        self.buffered -= n
        pos = 0
        for k, start, use in spans:
            self.visual32[k][start:start + use] = emb[pos:pos + use]
            pos += use
            self.remaining[k] -= use
            if self.remaining[k] == 0:
                self._finish_video(k)
