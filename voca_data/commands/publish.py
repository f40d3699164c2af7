"""``voca publish STORE DEST``: copy a finalized store to any fsspec destination (a folder,
``s3://``, ``gs://``, ``hf://``) with consolidated metadata, then ``voca check`` the copy.

Example::

    voca publish lavdf.zarr s3://my-bucket/lavdf.zarr -o endpoint_url=http://127.0.0.1:9000
    voca publish lavdf.zarr hf://datasets/me/lavdf-clip/lavdf.zarr
    voca check s3://my-bucket/lavdf.zarr
"""

from __future__ import annotations

import argparse
import json

HELP = "copy a finalized store to a folder or an object store (s3://, gs://, hf://) and check it"


def _option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", help="the store to publish (path or URL)")
    parser.add_argument("dest", help="destination: a path or an fsspec URL")
    parser.add_argument("-o", "--storage-option", type=_option, action="append", default=[],
                        metavar="KEY=VALUE",
                        help="fsspec option for DEST (repeatable; VALUE parsed as JSON if it can "
                             "be), e.g. -o endpoint_url=http://127.0.0.1:9000 -o anon=false")
    parser.add_argument("--overwrite", action="store_true", help="replace what is at DEST")
    parser.add_argument("--allow-incomplete", action="store_true",
                        help="publish a store that is not finalized")
    parser.add_argument("--no-verify", action="store_true", help="skip `voca check DEST`")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from voca_data.store.publish import publish

    dest = publish(args.store, args.dest, dict(args.storage_option) or None,
                   overwrite=args.overwrite, allow_incomplete=args.allow_incomplete,
                   verify=not args.no_verify, progress=not args.no_progress)
    print(f"published {args.store} to {dest}" + ("" if args.no_verify else " (checked: ok)"))
    return 0
