"""``voca finalize STORE``: train statistics, AV synchrony fit, ``complete`` flag.

Example::

    voca finalize lavdf.zarr
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "finalize a store: train-split statistics, AV synchrony fit, consolidated metadata"
DESCRIPTION = HELP + """

Runs automatically at the end of `voca extract`. Safe to re-run (e.g. after resuming or with
other AV synchrony settings); the store is complete when no video is pending."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", type=Path, help="a .zarr store made by voca extract")
    parser.add_argument("--av-window", type=int, default=None, help="AV synchrony window (frames)")
    parser.add_argument("--av-pca", type=int, default=None, help="PCA components per stream")
    parser.add_argument("--av-components", type=int, default=None, help="canonical pairs in the score")


def run(args: argparse.Namespace) -> int:
    from voca_data.extract import ExtractConfig, finalize_store

    if not (args.store / "zarr.json").exists():
        raise FileNotFoundError(f"{args.store} is not a voca store (no zarr.json)")
    try:
        config = ExtractConfig.from_store(args.store)
    except ValueError:
        config = ExtractConfig()
    for name in ("av_window", "av_pca", "av_components"):
        value = getattr(args, name)
        if value is not None:
            setattr(config, name, value)
    info = finalize_store(args.store, config)
    print(f"{args.store}: complete={info['complete']} ok={info.get('ok')} failed={info.get('failed')} "
          f"pending={info.get('pending')}")
    return 0
