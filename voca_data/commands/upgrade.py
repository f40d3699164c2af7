"""``voca upgrade STORE``: bring a store written with an older schema to the current one, in place.

Example::

    voca check old.zarr      # says when a store is schema 1
    voca upgrade old.zarr
"""

from __future__ import annotations

import argparse

HELP = "bring a store of an older schema (1) to the current one in place; features untouched"
DESCRIPTION = HELP + """

Schema 2 adds the per-video variables notes (remarks on a video, which schema 1 kept in error)
and has_audio (1/0: the media has an audio stream; -1 unknown). A current store is left as it is;
an interrupted upgrade is finished by running the command again. Local Zarr stores only (an HDF5
file: voca convert it to Zarr first). See docs/store.md."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", help="a local .zarr store")


def run(args: argparse.Namespace) -> int:
    from voca_data.store.upgrade import upgrade

    done = upgrade(args.store)
    if done["from_schema"] == done["to_schema"]:
        print(f"{args.store}: already schema {done['to_schema']}"
              + (f" (finished an interrupted upgrade: {done['errors_cleared']} notes moved out of "
                 "error)" if done["errors_cleared"] else ""))
    else:
        print(f"{args.store}: schema {done['from_schema']} -> {done['to_schema']}: "
              f"{done['videos']} videos, {done['without_audio']} without audio, "
              f"{done['errors_cleared']} notes moved from error to notes")
    return 0
