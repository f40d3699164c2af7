"""The whole voca loop on a small synthetic LAV-DF-layout dataset (``make demo``).

Runs, as a researcher would type them, the commands::

    voca synth --layout lavdf OUT/lavdf --videos 48 --seed 0
    voca extract lavdf OUT/lavdf OUT/lavdf.zarr --visual-arch ViT-S-32 ...
    voca check OUT/lavdf.zarr
    voca info OUT/lavdf.zarr
    voca train localizer OUT/lavdf.zarr --out OUT/run
    voca evaluate OUT/run OUT/lavdf.zarr --split test --out OUT/results.json --plot OUT/plots

then prints the result table and the paths of the plots. No weights are downloaded: the
visual encoder is an open_clip ViT-S-32 with random weights (the store records
``pretrained: false``), which is enough for the synthetic fakes; pass ``--visual-weights`` to
``voca extract`` for real ones.

Training uses ``voca train``'s defaults (``features`` auto, so the store's AV-synchrony score is
read; sizes and learning rate from ``benchmarks/defaults.py``), no hand-picked flag.

Usage: ``python examples/demo.py --out demo_output [--videos 48] [--epochs N] [--fresh]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def run(step: str, args: list[str]) -> None:
    cmd = [sys.executable, "-m", "voca_data.cli", *args]
    print(f"\n=== {step}\n$ voca {' '.join(args)}", flush=True)
    t0 = time.time()
    result = subprocess.run(cmd)
    if result.returncode != 0:
        sys.exit(f"demo: step '{step}' failed with exit code {result.returncode}")
    print(f"--- {step}: {time.time() - t0:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="demo_output", help="folder for everything the demo writes")
    parser.add_argument("--videos", type=int, default=48, help="synthetic videos (default 48)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="localizer epochs (default: voca train's default)")
    parser.add_argument("--visual-arch", default="ViT-S-32", help="open_clip architecture")
    parser.add_argument("--fresh", action="store_true", help="delete OUT first")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = Path(args.out)
    if args.fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    data, store, run_dir = out / "lavdf", out / "lavdf.zarr", out / "run"
    t0 = time.time()
    if not (data / "metadata.min.json").exists():
        run("1/5 synthesize a LAV-DF-layout dataset (real MP4s)",
            ["synth", "--layout", "lavdf", str(data), "--videos", str(args.videos), "--seed", "0"])
    # extract resumes an existing store: a demo interrupted here continues where it stopped
    run("2/5 extract features into one Zarr store",
        ["extract", "lavdf", str(data), str(store), "--visual-arch", args.visual_arch,
         "--detector", "mtcnn", "--block-size", "8", "--workers", "2", "--device", "auto"])
    run("3/5 check and describe the store", ["check", str(store)])
    run("3/5 check and describe the store", ["info", str(store)])
    if run_dir.exists():
        shutil.rmtree(run_dir)
    # the defaults (features auto, sizes and learning rate chosen by benchmarks/defaults.py on
    # other synthetic seeds): no hand-picked flag
    run("4/5 train the cross-modal localizer",
        ["train", "localizer", str(store), "--out", str(run_dir)]
        + (["--epochs", str(args.epochs)] if args.epochs else []))
    run("5/5 evaluate on the test split",
        ["evaluate", str(run_dir), str(store), "--split", "test",
         "--out", str(out / "results.json"), "--plot", str(out / "plots"), "--max-plots", "6"])
    print(f"\ndemo finished in {time.time() - t0:.0f} s; everything is in {out}/:")
    print(f"  store          {store}")
    print(f"  training run   {run_dir} (history.csv, curves.png, best/, last/)")
    print(f"  results        {out / 'results.json'}")
    print(f"  plots          {out / 'plots'}/summary.png and per-video timelines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
