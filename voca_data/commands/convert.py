"""``voca convert IN OUT``: Zarr <-> HDF5, lossless (bit-exact values, fills, strings, attributes).

Example::

    voca convert lavdf.zarr lavdf.h5
    voca convert lavdf.h5 copy.zarr
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "convert a store between Zarr (.zarr) and HDF5 (.h5), losslessly"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="a .zarr store or an .h5 file")
    parser.add_argument("output", type=Path, help="the other format: ends in .h5 or .zarr")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from voca_data.store.convert import convert

    out = convert(args.input, args.output, overwrite=args.overwrite, progress=not args.no_progress)
    print(f"wrote {out}")
    return 0
