"""``voca import-npz ROOT OUT.zarr``: a store from per-video npz feature folders (the layout of
today's LAV-DF scripts: ``ROOT/<split>/<video>/{visual,audio}_embeddings.npz``, optional
``similarity_stats.npz``).

Example::

    voca import-npz LAV-DF_feats lavdf.zarr --metadata LAV-DF/metadata.min.json --fps 25
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "import per-video npz feature folders (LAV-DF scripts' layout) into a store"
DESCRIPTION = HELP + """

Labels and fake periods come from --metadata (LAV-DF's metadata.min.json) when given, otherwise
from the npz frame_labels (periods = runs of fake frames). Audio with another number of rows than
the visual frames is resampled onto the frame timeline by linear interpolation (recorded in the
store's provenance). A missing or corrupt file fails that video only. Re-running on an unfinished
store resumes it; an existing complete store needs --overwrite."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", type=Path, help="ROOT of ROOT/<split>/<video>/*.npz")
    parser.add_argument("output", type=Path, help="the store to write (.zarr)")
    parser.add_argument("--metadata", type=Path, default=None, help="LAV-DF metadata.min.json")
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate of the npz timeline (25)")
    parser.add_argument("--block-size", type=int, default=64, help="videos per shard (64)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from voca_data.sources.npz import import_npz

    if args.output.suffix != ".zarr":
        raise ValueError(f"{args.output}: the output store must end in .zarr")
    summary = import_npz(args.root, args.output, metadata=args.metadata, fps=args.fps,
                         block_size=args.block_size, overwrite=args.overwrite,
                         progress=not args.no_progress)
    print(f"{args.output}: {summary['ok']} ok, {summary['failed']} failed, {summary['pending']} pending; "
          f"complete: {summary['complete']}")
    return 0
