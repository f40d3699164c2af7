"""Sources: turn a dataset's on-disk layout into a validated manifest (a list of
:class:`~voca_data.records.VideoRecord`).

>>> from voca_data.sources import load
>>> records = load("lavdf", "/data/LAV-DF", splits="test", max_videos=10)    # doctest: +SKIP
>>> records = load("ffdv", "/data/multi-ffdv", skip_invalid=True)            # doctest: +SKIP
>>> records.problems                                                         # doctest: +SKIP

Built in: ``lavdf`` (:mod:`.lavdf`), ``ffdv`` (:mod:`.ffdv`), ``folder`` (:mod:`.folder`). Every
source takes the selection options ``splits``, ``start``, ``count``, ``max_videos`` and
``skip_invalid`` / ``check_files``, and returns :class:`~voca_data.sources.base.Records` (a list
with ``.problems``, ``.manifest``, ``.source``, ``.root``). A malformed manifest raises
:class:`~voca_data.records.ManifestError` listing every problem before anything is written.

Adding a source: write a function ``load_x(root, *, splits=None, start=0, count=None,
max_videos=None, skip_invalid=False, check_files=True, **own_options) -> Records`` that parses the
layout into :class:`~voca_data.sources.base.Candidate` objects and returns
:func:`~voca_data.sources.base.finish`\\ (...) — then ``register("x")(load_x)``. ``load("x", root)``
and ``voca extract x ROOT OUT.zarr`` then work (see docs/datasets.md).
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .base import Problem, Records

__all__ = [
    "Problem",
    "Records",
    "add_source_arguments",
    "available",
    "load",
    "records_from_args",
    "register",
    "select",
]

SourceLoader = Callable[..., Records]
_REGISTRY: dict[str, SourceLoader] = {}


def register(name: str) -> Callable[[SourceLoader], SourceLoader]:
    """Decorator registering a source loader under ``name`` (``load(name, root, **options)``).

    >>> @register("my-layout")                                  # doctest: +SKIP
    ... def load_mine(root, *, splits=None, start=0, count=None, max_videos=None,
    ...               skip_invalid=False, check_files=True): ...
    """
    if not name or not isinstance(name, str):
        raise ValueError(f"a source name must be a non-empty string, not {name!r}")

    def decorate(func: SourceLoader) -> SourceLoader:
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not func and \
                (existing.__module__, existing.__qualname__) != (func.__module__, func.__qualname__):
            raise ValueError(f"source {name!r} is already registered ({existing.__module__}.{existing.__qualname__})")
        _REGISTRY[name] = func
        return func

    return decorate


def available() -> list[str]:
    """Names of the registered sources."""
    return sorted(_REGISTRY)


def _loader(kind: str) -> SourceLoader:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise ValueError(f"unknown source {kind!r}; available: {', '.join(available())}") from None


def options_of(kind: str) -> list[str]:
    """The keyword options source ``kind`` accepts."""
    params = inspect.signature(_loader(kind)).parameters
    return [n for n, p in params.items() if p.kind == inspect.Parameter.KEYWORD_ONLY]


def load(kind: str, root: str | Path, **options: Any) -> Records:
    """The validated records of the ``kind`` dataset at ``root``.

    Options common to all sources: ``splits`` (names, or ``"train,dev"``), ``start``, ``count``,
    ``max_videos`` (selection, in that order), ``skip_invalid`` (leave bad records out, reported in
    ``.problems``, instead of raising :class:`~voca_data.records.ManifestError`), ``check_files``
    (default True: selected files must exist inside the root). Source options: lavdf ``metadata``,
    ``fps``, ``period_tolerance``; ffdv ``label_files``, ``split_names``; folder ``ratios``,
    ``seed``, ``split_names``, ``period_tolerance``.

    >>> records = load("folder", "clips", ratios=(0.8, 0.1, 0.1))     # doctest: +SKIP
    """
    loader = _loader(kind)
    accepted = options_of(kind)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"source {kind!r} does not take option(s) {unknown}; it takes {accepted}")
    return loader(root, **options)


# ------------------------------------------------------------------------------------------------
# command-line glue (used by `voca extract SOURCE ROOT OUT`)

# argparse dest -> (loader option, applies to)
_CLI_OPTIONS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "metadata": ("metadata", ("lavdf",)),
    "splits": ("splits", None),
    "start": ("start", None),
    "count": ("count", None),
    "max_videos": ("max_videos", None),
    "skip_invalid": ("skip_invalid", None),
    "no_check_files": ("check_files", None),
    "label_files": ("label_files", ("ffdv",)),
    "ratios": ("ratios", ("folder",)),
    "seed": ("seed", ("folder",)),
    "period_tolerance": ("period_tolerance", ("lavdf", "folder")),
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

    Every default is ``None`` (meaning: the source's default), so :func:`records_from_args` can
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


def options_from_args(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """The loader options given on the command line (those left at ``None`` are omitted)."""
    _loader(kind)
    options: dict[str, Any] = {}
    for dest, (option, kinds) in _CLI_OPTIONS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if kinds is not None and kind not in kinds:
            flag = "--" + dest.replace("_", "-")
            raise ValueError(f"{flag} does not apply to source {kind!r} (only {', '.join(kinds)})")
        if dest == "no_check_files":
            value = not value
        options[option] = value
    accepted = set(options_of(kind))
    return {k: v for k, v in options.items() if k in accepted}


def records_from_args(kind: str, root: str | Path, args: argparse.Namespace) -> Records:
    """``load(kind, root, **options)`` with the options parsed by :func:`add_source_arguments`.

    >>> parser = argparse.ArgumentParser(); add_source_arguments(parser)
    >>> args = parser.parse_args(["--splits", "test", "--max-videos", "5"])
    >>> records = records_from_args("lavdf", "/data/LAV-DF", args)       # doctest: +SKIP
    """
    return load(kind, root, **options_from_args(kind, args))


from . import ffdv, folder, lavdf  # noqa: F401  (register the built-in sources)
from .select import select
