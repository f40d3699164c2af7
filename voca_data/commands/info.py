"""``voca info STORE``: what a store holds, at a glance.

Prints videos per split x label x status, frame counts, dimensions, the encoders with their
``pretrained`` flag, size and whether the store is complete, the failed videos with their reasons
(the first 10; ``--failed`` for all) and the last extract run's rate. ``STORE`` is a path or a URL
(``http(s)://``, ``s3://``, ``hf://`` ...). The library function is
:func:`voca_data.store.info.summary` (a dict). A broken store is reported line by line, never with
a traceback (exit 1); ``voca check`` says more.

Example::

    voca info lavdf.zarr
    voca info http://127.0.0.1:8766/lavdf.zarr
"""

from __future__ import annotations

import argparse
import os
import warnings

HELP = "summarise a store: videos per split/label/status, frames, dims, encoders, size"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from voca_data.store.info import FAILED_LISTED

    parser.add_argument("store", help="a .zarr store or an .h5 file: a path or a URL")
    parser.add_argument("--failed", action="store_true",
                        help=f"list every failed video with its reason (default: the first "
                             f"{FAILED_LISTED})")


def run(args: argparse.Namespace) -> int:
    from voca_data.store.check import quick_check
    from voca_data.store.handle import IncompleteStoreWarning
    from voca_data.store.info import FAILED_LISTED, format_summary, summary

    problems = quick_check(args.store) if os.path.isdir(str(args.store)) else []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IncompleteStoreWarning)
            text = format_summary(summary(args.store), None if args.failed else FAILED_LISTED)
    except (ValueError, OSError, KeyError, TypeError, OverflowError) as exc:
        if isinstance(exc, FileNotFoundError) and not problems:
            raise  # no store there at all: a user error (exit 2), not a broken store
        # a broken store: say what is wrong in one line per problem, never a traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        for p in problems:
            print(f"broken    {p}")
        print(f"{args.store}: cannot be summarised ({type(exc).__name__}: {first}); run voca check "
              f"{args.store}")
        return 1
    print(text)
    if problems:
        print("")
        for p in problems:
            print(f"BROKEN    {p}")
        print(f"{args.store}: {len(problems)} integrity problem{'s' if len(problems) != 1 else ''}: "
              f"the store is NOT usable as it is; run voca check {args.store}")
        return 1
    return 0
