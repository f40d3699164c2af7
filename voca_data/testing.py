"""Helpers for tests and benchmarks: stores of random features with known content.

>>> from voca_data.testing import random_store
>>> path = random_store(tmp_path / "r.zarr", n_videos=10)   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .store import schema
from .extract import cosine_to_previous
from .records import VideoRecord, frame_labels
from .store.writer import StoreWriter, init


def random_records(
    n_videos: int, splits: Sequence[str] = ("train", "dev", "test"), seed: int = 0,
    min_frames: int = 20, max_frames: int = 200, fps: float = schema.DEFAULT_FPS,
) -> list[VideoRecord]:
    """Records with ~3 fakes : 1 real, 1-2 fake periods each, ``n_frames`` set from metadata."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_videos):
        split = splits[i % len(splits)]
        n = int(rng.integers(min_frames, max_frames + 1))
        dur = n / fps
        fake = rng.random() < 0.75
        periods: list[tuple[float, float]] = []
        if fake:
            for _ in range(int(rng.integers(1, 3))):
                length = float(rng.uniform(0.2, max(0.25, dur / 3)))
                start = float(rng.uniform(0, max(dur - length, 0.01)))
                periods.append((round(start, 3), round(min(start + length, dur), 3)))
            periods.sort()
            merged: list[tuple[float, float]] = []
            for s, e in periods:
                if merged and s <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
                else:
                    merged.append((s, e))
            periods = merged
        out.append(VideoRecord(
            video_id=f"{split}/{i:06d}", path=f"{split}/{i:06d}.mp4", split=split,
            label=int(fake), fake_periods=tuple(periods),
            modify_video=int(fake and rng.random() < 0.6), modify_audio=int(fake and rng.random() < 0.6),
            duration=dur, n_frames=n,
        ))
    return out


def fill_block_random(writer: StoreWriter, i: int, seed: int = 0, signal: float = 1.0,
                      fail: Sequence[int] = (), records: Sequence[VideoRecord] | None = None,
                      ) -> dict[str, np.ndarray]:
    """Random features for block ``i`` where fake frames are shifted by ``signal`` (so a model
    can learn them); videos at positions ``fail`` (global indices) are marked failed.
    ``records`` (the whole manifest given to ``init``) supplies each video's ``n_frames``;
    without it every video gets 50 frames."""
    rng = np.random.default_rng([seed, i])
    sl = writer.block_slice(i)
    recs = list(records[sl]) if records is not None else writer.records(i)
    block = writer.empty_block(i)
    for k, r in enumerate(recs):
        if sl.start + k in fail:
            block["status"][k] = schema.FAILED
            block["error"][k] = "synthetic failure for tests"
            continue
        n = min(int(r.n_frames or 50), writer.n_frames_max)
        lab = frame_labels(r.fake_periods, n, writer.fps)
        v = rng.standard_normal((n, writer.visual_dim)).astype(np.float32)
        a = rng.standard_normal((n, writer.audio_dim)).astype(np.float32)
        v[:, 0] += signal * lab
        a[:, 0] -= signal * lab
        block["visual"][k, :n] = v
        block["audio"][k, :n] = a
        block["frame_label"][k, :n] = lab
        block["face_box"][k, :n] = [10, 20, 110, 140]
        block["face_score"][k, :n] = 0.99
        block["visual_similarity"][k, :n] = cosine_to_previous(v)
        block["n_frames"][k] = n
        block["duration"][k] = n / writer.fps
        block["source_fps"][k] = writer.fps
        block["status"][k] = schema.OK
        block["has_audio"][k] = 1
    return block


def random_store(
    path: str | Path, n_videos: int = 24, visual_dim: int = 16, audio_dim: int = 8,
    block_size: int = 4, seed: int = 0, signal: float = 1.0, fail: Sequence[int] = (),
    splits: Sequence[str] = ("train", "dev", "test"), finalize: bool = True,
    min_frames: int = 20, max_frames: int = 200,
) -> Path:
    """A complete store of random features (see :func:`fill_block_random`)."""
    recs = random_records(n_videos, splits=splits, seed=seed, min_frames=min_frames,
                          max_frames=max_frames)
    w = init(path, recs, visual_dim=visual_dim, audio_dim=audio_dim,
             max_frames=max(r.n_frames or 0 for r in recs), block_size=block_size,
             provenance={"dataset": {"name": "random", "root": ""},
                         "visual_encoder": {"name": "random", "pretrained": False},
                         "audio_encoder": {"name": "random", "pretrained": False}})
    for b in range(w.n_blocks):
        w.write_block(b, fill_block_random(w, b, seed=seed, signal=signal, fail=fail, records=recs))
    if finalize:
        w.finalize()
    return Path(path)
