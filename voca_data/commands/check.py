"""``voca check STORE``: validate a store's schema and content; exit 1 listing every problem.

Example::

    voca check lavdf.zarr && echo sound
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "validate a store (schema, shapes, padding, NaN, frame labels); exit 1 listing every problem"
DESCRIPTION = HELP + """

Checks: the schema (attributes, variables, dims, dtypes); ids unique and non-empty; paths relative;
status/label/flag values; n_frames and n_fakes in range; fake periods well formed; failed videos
say why; padding past n_frames (and pending/failed videos) is the fill value; no NaN in visual
(and audio, unless the video notes it has no audio stream) inside n_frames of ok videos;
frame_label agrees with fake_periods. Reads block by block: memory stays bounded."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", type=Path, help="a .zarr store or an .h5 file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true",
                        help='print one JSON object {"check_format", "store", "ok", "n_problems", '
                             '"problems"} instead of the text (same exit code)')


def run(args: argparse.Namespace) -> int:
    from voca_data.check import check_store

    problems = check_store(args.store, progress=not args.no_progress)
    if args.json:
        import json

        print(json.dumps({"check_format": 1, "store": str(args.store), "ok": not problems,
                          "n_problems": len(problems), "problems": [str(p) for p in problems]},
                         indent=1))
        return 1 if problems else 0
    if problems:
        for p in problems:
            print(p)
        print(f"{args.store}: {len(problems)} problem{'s' if len(problems) != 1 else ''}")
        return 1
    print(f"{args.store}: ok")
    return 0
