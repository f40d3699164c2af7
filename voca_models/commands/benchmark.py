"""``voca benchmark`` (also ``python -m benchmarks.tables``): the arguments of
:func:`voca_models.benchmark.run_benchmark`, which trains and evaluates every zoo model on a store
with fixed seeds and writes the Markdown tables researchers publish."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "train and evaluate every zoo model with fixed seeds; write Markdown result tables"
DESCRIPTION = """\
Train every model of the zoo (or --models) on the store's train split with a fixed seed, evaluate it
on --split (thresholds chosen on dev), and write DIR/tables.md, DIR/benchmark.json, one results JSON
per model (DIR/results/MODEL.json) and the training runs (DIR/runs/MODEL/).

LAV-DF-layout stores get the official column layout (AP@0.5, AP@0.75, AP@0.95, AR@100, AR@50,
AR@20, AR@10, plus frame and video AUC) for the full set and the visual-only / audio-only subsets,
with the published BA-TFD / BA-TFD+ rows for reference; FFDV and folder stores get video AUC / AP /
F1. --size tiny --epochs 1 makes a smoke run that takes seconds.

examples:
  voca benchmark lavdf.zarr --out bench/
  voca benchmark synth.zarr --out bench-tiny/ --size tiny --epochs 2
  voca benchmark synth.zarr --out bench-3/ --seeds 0 1 2          # mean ± std over seeds
  python -m benchmarks.tables ffdv.zarr --out bench-ffdv/ --models lstm covfusion
"""

def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..benchmark import LAYOUTS, SIZES  # torch-free: `voca benchmark --help` stays fast

    parser.add_argument("store", help="store to train and evaluate on (needs train/dev/test-like splits)")
    parser.add_argument("--out", required=True, help="output directory (tables.md, benchmark.json, runs/)")
    parser.add_argument("--models", nargs="+", default=None, help="models to run (default: the whole zoo)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the model's)")
    parser.add_argument("--size", choices=tuple(SIZES), default="default",
                        help="model size preset: tiny (smoke runs), small, default")
    parser.add_argument("--seed", type=int, default=0, help="random seed for every model (default: 0)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="train every model once per seed; tables show mean ± std (e.g. --seeds 0 1 2)")
    parser.add_argument("--split", default="test", help="evaluation split (default: test)")
    parser.add_argument("--layout", choices=LAYOUTS, default="auto",
                        help="table layout (default: from the store's dataset provenance)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    parser.add_argument("--window", type=int, default=None, help="training window in frames")
    parser.add_argument("--batch-size", type=int, default=None, help="training batch size")
    parser.add_argument("--max-videos", type=int, default=None, help="videos per split (quick runs)")
    parser.add_argument("--features", nargs="+", default=None,
                        help="per-frame features the models read (default: auto, those of visual, "
                             "audio, av_similarity, visual_similarity the store has and fills)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from ..benchmark import run_benchmark

    summary = run_benchmark(args.store, args.out, models=args.models, epochs=args.epochs, size=args.size,
                            seed=args.seed, split=args.split, layout=args.layout, device=args.device,
                            window=args.window, batch_size=args.batch_size, max_videos=args.max_videos,
                            features=args.features, seeds=args.seeds, progress=not args.no_progress)
    for title, table in summary["tables"].items():
        print(f"## {title}\n\n{table}\n")
    print(f"tables: {Path(args.out) / 'tables.md'}")
    return 0
