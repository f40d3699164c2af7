"""``voca preview STORE VIDEO_ID -o out.png``: contact sheet of one video.

Example::

    voca preview lavdf.zarr test/000001 -o 000001.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "draw a contact sheet of one video: frames with face box, lower-face crops, timelines"
DESCRIPTION = HELP + """

Re-decodes the video (relative to the store's recorded dataset root, or --root) and draws frames
with the stored face box, the lower-face crops that were embedded, and the timeline of frame
labels, visual similarity and AV similarity."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", help="a .zarr store: a path or a URL")
    parser.add_argument("video_id", help="the video's id, e.g. test/000001")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="PNG to write (default: <video_id with / -> _>.png)")
    parser.add_argument("--root", type=Path, default=None,
                        help="dataset root (default: the store's dataset.root attribute)")
    parser.add_argument("--columns", type=int, default=8, help="frames shown (default 8)")


def run(args: argparse.Namespace) -> int:
    from voca_data.preview import contact_sheet

    out = args.output or Path(args.video_id.replace("/", "_") + ".png")
    path = contact_sheet(args.store, args.video_id, out, root=args.root, columns=args.columns)
    print(path)
    return 0
