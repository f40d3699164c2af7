"""``voca info STORE``: what a store holds, at a glance.

Prints videos per split x label x status, frame counts, dimensions, the encoders with their
``pretrained`` flag, size and whether the store is complete, the failed videos with their reasons
(the first 10; ``--failed`` for all) and the last extract run's rate; ``--json`` prints the same
as one JSON object (keys in docs/cli.md). ``STORE`` is a path or a URL (``http(s)://``, ``s3://``,
``hf://`` ...). The library functions are :func:`voca_data.store.info.summary` (a dict) and
:func:`voca_data.store.info.json_document`. A broken store is reported line by line, never with
a traceback (exit 1); ``voca check`` says more.

Example::

    voca info lavdf.zarr
    voca info http://127.0.0.1:8766/lavdf.zarr --json
"""

from __future__ import annotations

import argparse
import os
import warnings

HELP = "summarise a store: videos per split/label/status, frames, dims, encoders, size"

#: failed videos listed by default (``--failed``: all); the library's value, here so that
#: ``voca info --help`` imports nothing heavy
FAILED_LISTED = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", help="a .zarr store or an .h5 file: a path or a URL")
    parser.add_argument("--failed", action="store_true",
                        help=f"list every failed video with its reason (default: the first "
                             f"{FAILED_LISTED})")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (keys in docs/cli.md) instead of the text")


def run(args: argparse.Namespace) -> int:
    from voca_data.store.check import quick_check
    from voca_data.store.handle import IncompleteStoreWarning
    from voca_data.store.info import format_summary, json_document, json_value, summary

    problems = quick_check(args.store) if os.path.isdir(str(args.store)) else []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IncompleteStoreWarning)
            info = summary(args.store)
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
    if args.json:
        import json

        doc = json_document(info)
        doc["problems"] = problems
        print(json.dumps(doc, indent=1, default=json_value))
        return 1 if problems else 0
    print(format_summary(info, None if args.failed else FAILED_LISTED))
    if problems:
        print("")
        for p in problems:
            print(f"BROKEN    {p}")
        print(f"{args.store}: {len(problems)} integrity problem{'s' if len(problems) != 1 else ''}: "
              f"the store is NOT usable as it is; run voca check {args.store}")
        return 1
    return 0
