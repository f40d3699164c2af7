"""``voca info STORE``: what a store holds, at a glance.

Prints videos per split x label x status, frame counts, dimensions, the encoders with their
``pretrained`` flag, size and whether the store is complete. ``STORE`` is a path or a URL
(``http(s)://``, ``s3://``, ``hf://`` ...). The library function is
:func:`voca_data.store.info.summary` (a dict).

Example::

    voca info lavdf.zarr
    voca info http://127.0.0.1:8766/lavdf.zarr
"""

from __future__ import annotations

import argparse

HELP = "summarise a store: videos per split/label/status, frames, dims, encoders, size"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", help="a .zarr store or an .h5 file: a path or a URL")


def run(args: argparse.Namespace) -> int:
    from voca_data.store.info import format_summary, summary

    print(format_summary(summary(args.store)))
    return 0
