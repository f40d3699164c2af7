"""Fixture generator: a synthetic per-video npz feature tree in the layout today's LAV-DF scripts
write, plus its LAV-DF ``metadata.min.json``.

    ROOT/<split>/<name>/visual_embeddings.npz   embeddings (T, D_v) float32, frame_labels (T,), paths (T,)
    ROOT/<split>/<name>/audio_embeddings.npz    embeddings (T_a, D_a) float32, T_a often != T
    ROOT/<split>/<name>/similarity_stats.npz    similarities (min(T, T_a),) + scalar stats (some videos)

Used by the tests and by ``make demo``::

    python tests/voca_data/npz_fixture.py /tmp/npz_demo        # writes the tree + metadata.min.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voca_data.records import frame_labels


@dataclass
class NpzFixture:
    root: Path
    metadata: Path
    records: list[dict]  # the metadata records, in order
    # per video id ("<split>/<name>"): the float32 arrays written, for comparisons
    visual: dict[str, np.ndarray] = field(default_factory=dict)
    audio: dict[str, np.ndarray] = field(default_factory=dict)
    similarities: dict[str, np.ndarray] = field(default_factory=dict)
    corrupt: dict[str, str] = field(default_factory=dict)  # video id -> file name broken


def make_npz_tree(
    root: str | Path,
    n_videos: int = 12,
    visual_dim: int = 512,
    audio_dim: int = 64,
    splits: Sequence[str] = ("train", "dev", "test"),
    min_frames: int = 30,
    max_frames: int = 160,
    fps: float = 25.0,
    seed: int = 0,
    corrupt: Sequence[int] = (),
    missing_audio: Sequence[int] = (),
    with_similarity: bool = True,
) -> NpzFixture:
    """Write the tree. Video ``i`` gets T frames and T_a = T (every third video), round(T*0.64)
    or round(T*1.5) audio rows; ``corrupt`` videos get a truncated visual npz, ``missing_audio``
    ones no audio npz. Fake videos are shifted along feature 0 inside their fake periods."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    fx = NpzFixture(root=root, metadata=root / "metadata.min.json", records=[])
    for i in range(n_videos):
        split = splits[i % len(splits)]
        name = f"{i:06d}"
        vid = f"{split}/{name}"
        t = int(rng.integers(min_frames, max_frames + 1))
        dur = t / fps
        fake = i % 4 != 1
        periods: list[list[float]] = []
        if fake:
            start = round(float(rng.uniform(0.0, dur * 0.5)), 3)
            end = round(min(dur, start + float(rng.uniform(0.3, dur * 0.4))), 3)
            periods.append([start, end])
            if t > 100 and rng.random() < 0.5 and end + 0.5 < dur:
                s2 = round(end + 0.2, 3)
                periods.append([s2, round(min(dur, s2 + 0.3), 3)])
        labels = frame_labels(periods, t, fps)
        folder = root / split / name
        folder.mkdir(parents=True, exist_ok=True)
        vis = rng.standard_normal((t, visual_dim)).astype(np.float32)
        vis[:, 0] += 2.0 * labels
        t_a = [t, round(t * 0.64), round(t * 1.5)][i % 3]
        aud = rng.standard_normal((t_a, audio_dim)).astype(np.float32)
        paths = np.array([f"{vid}/bottom_faces/{k:05d}.jpg" for k in range(t)])
        np.savez(folder / "visual_embeddings.npz", embeddings=vis, frame_labels=labels.astype(np.int64),
                 paths=paths)
        if i not in missing_audio:
            np.savez(folder / "audio_embeddings.npz", embeddings=aud)
        if with_similarity and i % 2 == 0:
            n = min(t, t_a)
            d = min(visual_dim, audio_dim)
            a, v = aud[:n, :d], vis[:n, :d]
            sims = ((a * v).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(v, axis=1))).astype(np.float64)
            np.savez(folder / "similarity_stats.npz", similarities=sims, mean=sims.mean(), std=sims.std(),
                     min=sims.min(), max=sims.max(), median=np.median(sims), num_frames=n)
            fx.similarities[vid] = sims
        if i in corrupt:
            data = (folder / "visual_embeddings.npz").read_bytes()
            (folder / "visual_embeddings.npz").write_bytes(data[: len(data) // 3])
            fx.corrupt[vid] = "visual_embeddings.npz"
        fx.visual[vid], fx.audio[vid] = vis, aud
        fx.records.append({
            "file": f"{split}/{name}.mp4", "split": split, "n_fakes": len(periods),
            "fake_periods": periods, "duration": dur, "original": None if not fake else f"{split}/x.mp4",
            "modify_video": bool(fake and i % 2 == 0), "modify_audio": bool(fake and i % 2 == 1),
            "video_frames": t, "audio_channels": 1, "audio_frames": int(dur * 16000),
        })
    fx.metadata.write_text(json.dumps(fx.records))
    return fx


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path)
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--visual-dim", type=int, default=512)
    parser.add_argument("--audio-dim", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    fx = make_npz_tree(a.root, n_videos=a.videos, visual_dim=a.visual_dim, audio_dim=a.audio_dim, seed=a.seed)
    print(f"wrote {len(fx.records)} videos under {fx.root} and {fx.metadata}")


def run_command(name: str, argv: list[str]) -> int:
    """Run one ``voca`` command module (``voca_data.commands.<name>``) the way ``voca`` does
    (user errors -> one line on stderr, exit 2), without building the whole CLI (whose other
    commands may need optional parts)."""
    import importlib
    import sys

    module = importlib.import_module(f"voca_data.commands.{name}")
    parser = argparse.ArgumentParser(prog=f"voca {name}")
    module.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return int(module.run(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError) as exc:
        print(f"voca {name}: error: {exc}", file=sys.stderr)
        return 2
