"""``voca check STORE``: validate a store's schema and content; exit 1 listing every problem.

Example::

    voca check lavdf.zarr && echo sound
    voca check http://127.0.0.1:8766/lavdf.zarr
"""

from __future__ import annotations

import argparse

HELP = "validate a store (schema, shapes, padding, NaN, frame labels); exit 1 listing every problem"
DESCRIPTION = HELP + """

Checks: the schema (attributes, variables, dims, dtypes); ids unique and non-empty; paths relative;
status/label/flag values; n_frames and n_fakes in range; fake periods well formed; failed videos
say why; padding past n_frames (and pending/failed videos) is the fill value; no NaN in visual
(and audio, unless the video's has_audio is 0) inside n_frames of ok videos;
frame_label agrees with fake_periods. Integrity (Zarr): every zarr.json present, valid and agreeing
with the consolidated metadata; every chunk decoded with its crc32c checksum (a flipped bit or a
truncated file is named: array, videos, frames, file); no visual/audio shard missing under ok videos.
Reads block by block: memory stays bounded. A schema-1 store is checked as such, with a
line saying how to upgrade it (voca upgrade STORE)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", help="a .zarr store or an .h5 file: a path or a URL")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--repair", action="store_true",
                        help="first rewrite array zarr.json files that are missing or broken from "
                             "the consolidated metadata (chunks are never changed)")
    parser.add_argument("--json", action="store_true",
                        help='print one JSON object {"check_format", "store", "ok", "n_problems", '
                             '"problems"} instead of the text (same exit code)')


def run(args: argparse.Namespace) -> int:
    from voca_data.store.check import check_store, repair_metadata

    if args.repair:
        from voca_data.lock import lock

        with lock(args.store, what="store"):
            for file in repair_metadata(args.store):
                print(f"repaired {file}")
    notes: list[str] = []
    problems = check_store(args.store, progress=not args.no_progress, notes=notes)
    if args.json:
        import json

        print(json.dumps({"check_format": 1, "store": str(args.store), "ok": not problems,
                          "n_problems": len(problems), "problems": [str(p) for p in problems]},
                         indent=1))
        return 1 if problems else 0
    for note in notes:
        print(f"note: {note}")
    if problems:
        for p in problems:
            print(p)
        print(f"{args.store}: {len(problems)} problem{'s' if len(problems) != 1 else ''}")
        return 1
    print(f"{args.store}: ok")
    return 0
