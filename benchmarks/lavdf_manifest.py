"""How long parsing a LAV-DF-sized manifest takes (136,304 records, like the real metadata.min.json).

    python benchmarks/lavdf_manifest.py [--records 136304] [--with-files]

Prints the time of ``json.load`` alone (the floor) and of ``voca_data.sources.load("lavdf", ...)``
with and without the file checks (``--with-files`` creates the 136k empty files in a temporary
directory first). Ratios against ``json.load`` are what to compare across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def write_metadata(root: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    splits = np.array(["train", "dev", "test"])[rng.choice(3, size=n, p=[0.577, 0.231, 0.192])]
    items = []
    for i in range(n):
        frames = int(rng.integers(50, 500))
        dur = round(frames / 25 + float(rng.uniform(-0.1, 0.15)), 3)
        fake = rng.random() < 0.73
        periods = []
        if fake:
            s = round(float(rng.uniform(0, frames / 25 - 0.5)), 3)
            periods = [[s, round(s + float(rng.uniform(0.1, 0.45)), 3)]]
        mv, ma = (bool(rng.random() < 0.6), bool(rng.random() < 0.6)) if fake else (False, False)
        if fake and not (mv or ma):
            mv = True
        items.append({"file": f"{splits[i]}/{i:06d}.mp4", "n_fakes": len(periods), "fake_periods": periods,
                      "duration": max(dur, 0.1), "original": f"{splits[i]}/{(i + 1):06d}.mp4" if fake else None,
                      "modify_video": mv, "modify_audio": ma, "split": str(splits[i]),
                      "video_frames": frames, "audio_channels": 1, "audio_frames": int(dur * 16000)})
    path = root / "metadata.min.json"
    path.write_text(json.dumps(items, separators=(",", ":")))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=136304)
    ap.add_argument("--with-files", action="store_true")
    args = ap.parse_args()
    from voca_data.sources import load

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = write_metadata(root, args.records)
        print(f"{args.records} records, {path.stat().st_size / 1e6:.1f} MB")
        t = time.perf_counter()
        with open(path, "rb") as fh:
            json.load(fh)
        t_json = time.perf_counter() - t
        print(f"json.load                         {t_json:6.2f} s  (1.00x)")
        t = time.perf_counter()
        recs = load("lavdf", root, check_files=False)
        t_load = time.perf_counter() - t
        print(f"load('lavdf', check_files=False)  {t_load:6.2f} s  ({t_load / t_json:.2f}x)  {len(recs)} records")
        if args.with_files:
            for split in ("train", "dev", "test"):
                (root / split).mkdir()
            for r in recs:
                os.close(os.open(root / r.path, os.O_CREAT | os.O_WRONLY))
            t = time.perf_counter()
            recs = load("lavdf", root)
            t_files = time.perf_counter() - t
            print(f"load('lavdf') with file checks    {t_files:6.2f} s  ({t_files / t_json:.2f}x)")


if __name__ == "__main__":
    main()
