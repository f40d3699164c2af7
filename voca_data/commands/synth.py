"""``voca synth``: write a synthetic talking-face dataset (real MP4s) in a dataset layout."""

from __future__ import annotations

import argparse

HELP = "write a synthetic talking-face dataset (real MP4s) in the LAV-DF, FFDV or folder layout"
DESCRIPTION = """\
Write a small dataset of real MP4 files (H.264 + AAC 16 kHz mono, 25 fps) showing a talking face
whose lips follow a speech-like audio signal, with LAV-DF-style partial fakes (modify_audio,
modify_video, both) inside 0.3-1.5 s periods, about 3 fakes : 1 real. Deterministic per --seed.

examples:
  voca synth --layout lavdf data/synth-lavdf --videos 24 --seed 0
  voca synth --layout ffdv data/synth-ffdv --videos 200 --workers 2 --no-test-labels
  voca synth --layout folder data/synth-folder --flat
"""


def _pair(kind):
    def parse(text: str):
        parts = text.replace(":", ",").split(",")
        if len(parts) != 2:
            raise argparse.ArgumentTypeError(f"expected two values like 2,4, got {text!r}")
        try:
            return tuple(kind(p) for p in parts)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", help="output directory (created; must be empty unless --overwrite)")
    parser.add_argument("--layout", choices=("lavdf", "ffdv", "folder"), default="lavdf",
                        help="dataset layout to write (default: lavdf)")
    parser.add_argument("--videos", type=int, default=24, help="number of videos (default: 24)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--size", type=_pair(int), default=(160, 224), metavar="MIN,MAX",
                        help="frame width/height range in pixels (default: 160,224)")
    parser.add_argument("--duration", type=_pair(float), default=(2.0, 4.0), metavar="MIN,MAX",
                        help="video duration range in seconds (default: 2,4)")
    parser.add_argument("--period", type=_pair(float), default=(0.3, 1.5), metavar="MIN,MAX",
                        help="fake period length range in seconds (default: 0.3,1.5)")
    parser.add_argument("--ratios", type=float, nargs=3, default=(0.5, 0.25, 0.25),
                        metavar=("TRAIN", "DEV", "TEST"), help="split proportions (default: 0.5 0.25 0.25)")
    parser.add_argument("--no-test-labels", action="store_true",
                        help="ffdv: do not write testset_label.txt (as in the challenge)")
    parser.add_argument("--flat", action="store_true",
                        help="folder: write ROOT/{real,fake}/ without split folders")
    parser.add_argument("--workers", type=int, default=1, help="processes (default: 1)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace OUT if it holds a previous synthetic dataset (synth_manifest.json)")


def run(args: argparse.Namespace) -> int:
    from ..synth import make_dataset

    out = make_dataset(
        args.out, layout=args.layout, videos=args.videos, seed=args.seed, size=args.size,
        duration_range=args.duration, period_range=args.period, ratios=args.ratios,
        test_labels=not args.no_test_labels, split_folders=not args.flat, workers=args.workers,
        overwrite=args.overwrite, progress=not args.no_progress,
    )
    print(f"wrote {args.videos} videos ({args.layout} layout) to {out}")
    return 0
