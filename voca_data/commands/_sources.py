"""Command-line glue of the sources (``voca extract SOURCE ROOT OUT``): the source options as
argparse flags, and the flags back into :func:`voca_data.sources.load` keyword options.

A flag applies to the sources whose loader takes the matching keyword (``--metadata`` to
``lavdf``, ``--ratios`` to ``folder``, ...): given to another source it is refused, not ignored.
A third-party source's own options go through ``--source-option NAME=VALUE`` (VALUE read as JSON
when it parses, else as a string).

>>> import argparse
>>> parser = argparse.ArgumentParser(); add_source_arguments(parser)
>>> args = parser.parse_args(["--splits", "test", "--max-videos", "5"])
>>> options_from_args("lavdf", args)
{'splits': ['test'], 'max_videos': 5}
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

# argparse dest -> loader keyword
_FLAGS: dict[str, str] = {
    "metadata": "metadata",
    "splits": "splits",
    "start": "start",
    "count": "count",
    "max_videos": "max_videos",
    "skip_invalid": "skip_invalid",
    "no_check_files": "check_files",
    "label_files": "label_files",
    "ratios": "ratios",
    "seed": "seed",
    "period_tolerance": "period_tolerance",
}


def add_source_arguments(parser: argparse.ArgumentParser | Any) -> None:
    """Add the source options to an argparse parser (or argument group)::

        --metadata PATH          lavdf: metadata file (default ROOT/metadata.min.json, else metadata.json)
        --splits S [S ...]       only these splits (names or comma-separated)
        --start N --count N      take COUNT records from index START (after --splits): shards
        --max-videos N           at most N videos (after the above)
        --skip-invalid           leave invalid records out and report them instead of refusing
        --no-check-files         do not check that the selected files exist inside ROOT
        --label-files SPLIT=FILE [...]   ffdv: label file per split (default SPLIT_label.txt)
        --ratios TRAIN DEV TEST  folder without split folders: hash-split proportions (0.8 0.1 0.1)
        --seed N                 folder without split folders: seed of the hash split (0)
        --period-tolerance SEC   lavdf/folder: slack for periods past 0 or the end (0.05)
        --source-option NAME=VALUE [...]   any other keyword option of the source

    Every default is ``None`` (meaning: the source's default), so :func:`options_from_args` can
    tell which options were given and refuse those that do not apply to the source.
    """
    parser.add_argument("--metadata", default=None, metavar="PATH",
                        help="lavdf: metadata file (default ROOT/metadata.min.json, else ROOT/metadata.json)")
    parser.add_argument("--splits", nargs="+", default=None, metavar="SPLIT",
                        help="only these splits (e.g. --splits test, or train,dev)")
    parser.add_argument("--start", type=int, default=None, metavar="N",
                        help="first record to take (after --splits; default 0)")
    parser.add_argument("--count", type=int, default=None, metavar="N",
                        help="number of records to take from --start (default: all)")
    parser.add_argument("--max-videos", type=int, default=None, metavar="N", help="at most N videos")
    parser.add_argument("--skip-invalid", action="store_true", default=None,
                        help="leave invalid records out (reported) instead of refusing the manifest")
    parser.add_argument("--no-check-files", action="store_true", default=None,
                        help="do not check that the selected media files exist inside ROOT")
    parser.add_argument("--label-files", nargs="+", default=None, metavar="SPLIT=FILE",
                        help="ffdv: label file per split, relative to ROOT (default SPLIT_label.txt)")
    parser.add_argument("--ratios", nargs=3, type=float, default=None, metavar=("TRAIN", "DEV", "TEST"),
                        help="folder (no split folders): split proportions by path hash (default 0.8 0.1 0.1)")
    parser.add_argument("--seed", type=int, default=None, metavar="N",
                        help="folder (no split folders): seed of the hash split (default 0)")
    parser.add_argument("--period-tolerance", type=float, default=None, metavar="SEC",
                        help="lavdf/folder: seconds a fake period may pass 0 or the video's end "
                             "(clipped) before it is an error (default 0.05)")
    parser.add_argument("--source-option", nargs="+", default=None, metavar="NAME=VALUE",
                        help="another keyword option of the source (e.g. a third-party source's "
                             "own); VALUE is read as JSON when it parses, else as a string")


def _takers(option: str) -> list[str]:
    """The available sources whose loader takes ``option`` (for an error message)."""
    from voca_data.sources import available, options_of

    takers = []
    for name in available():
        try:
            if option in options_of(name):
                takers.append(name)
        except ValueError:  # a broken third-party source: not named here
            continue
    return takers


def _parse_source_options(items: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--source-option {item!r}: expected NAME=VALUE (e.g. fps=30)")
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError:
            value = text
        options[name.strip().replace("-", "_")] = value
    return options


def options_from_args(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """The loader options of source ``kind`` given on the command line (those left at ``None``
    are omitted); an option the source does not take is refused with the sources that take it."""
    from voca_data.sources import options_of

    accepted = set(options_of(kind))
    options: dict[str, Any] = {}
    for dest, option in _FLAGS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if option not in accepted:
            flag = "--" + dest.replace("_", "-")
            takers = _takers(option)
            only = f"only {', '.join(takers)}" if takers else "no installed source takes it"
            raise ValueError(f"{flag} does not apply to source {kind!r} ({only})")
        options[option] = (not value) if dest == "no_check_files" else value
    extra = _parse_source_options(getattr(args, "source_option", None) or [])
    unknown = sorted(set(extra) - accepted)
    if unknown:
        raise ValueError(f"--source-option {', '.join(unknown)}: source {kind!r} does not take "
                         f"it; it takes {sorted(accepted)}")
    return {**options, **extra}


def records_from_args(kind: str, root: str | Path, args: argparse.Namespace):
    """``voca_data.sources.load(kind, root, **options)`` with the options parsed by
    :func:`add_source_arguments`.

    >>> parser = argparse.ArgumentParser(); add_source_arguments(parser)
    >>> args = parser.parse_args(["--splits", "test", "--max-videos", "5"])
    >>> records = records_from_args("lavdf", "/data/LAV-DF", args)       # doctest: +SKIP
    """
    from voca_data.sources import load

    return load(kind, root, **options_from_args(kind, args))
