"""``voca info STORE``: what a store holds, at a glance.

Prints videos per split x label x status, frame counts, dimensions, the encoders with their
``pretrained`` flag, size on disk and whether the store is complete.

Example::

    voca info lavdf.zarr
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path
from typing import Any

HELP = "summarise a store: videos per split/label/status, frames, dims, encoders, size"

_LABELS = {1: "fake", 0: "real", -1: "unknown"}
_PROVENANCE_KEYS = ("visual_encoder", "audio_encoder", "face_detector")


#: failed videos listed by default (``--failed``: all)
FAILED_LISTED = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", type=Path, help="a .zarr store or an .h5 file")
    parser.add_argument("--failed", action="store_true",
                        help=f"list every failed video with its reason (default: the first "
                             f"{FAILED_LISTED})")


def size_on_disk(path: Path) -> int:
    """Bytes used by a store (a directory's files summed, or a file's size)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) if c else cell.ljust(w) for c, (cell, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def failed_videos(ds: Any) -> list[tuple[str, str]]:
    """``(video_id, reason)`` of every failed video, in store order."""
    import numpy as np

    from voca_data import schema

    status = np.asarray(ds["status"].values)
    ids = [str(v) for v in np.asarray(ds["video_id"].values).tolist()]
    errors = ([str(e) for e in np.asarray(ds["error"].values).tolist()] if "error" in ds.variables
              else [""] * len(ids))
    return [(ids[k], errors[k] or "(no reason recorded)") for k in np.flatnonzero(status == schema.FAILED)]


def _failed_lines(ds: Any, limit: int | None) -> list[str]:
    failed = failed_videos(ds)
    if not failed:
        return []
    shown = failed if limit is None else failed[:limit]
    out = ["", f"failed    {len(failed)} video{'s' if len(failed) != 1 else ''}:"]
    out += [f"  {vid}: {why}" for vid, why in shown]
    if len(shown) < len(failed):
        out.append(f"  ... {len(failed) - len(shown)} more (voca info --failed lists all)")
    return out


def summary(ds: Any, path: Path, failed_limit: int | None = FAILED_LISTED) -> str:
    """The text ``voca info`` prints for an opened store (failed videos with their reasons, the
    first ``failed_limit``; ``None``: all)."""
    import numpy as np

    from voca_data import schema

    a = ds.attrs
    status = np.asarray(ds["status"].values)
    labels = np.asarray(ds["label"].values)
    splits = [str(s) for s in np.asarray(ds["split"].values).tolist()]
    n_frames = np.asarray(ds["n_frames"].values).astype(np.int64)
    ok = status == schema.OK
    complete = bool(a.get("complete", False))
    counts = {name: int((status == code).sum()) for code, name in schema.STATUS_NAMES.items()}
    dataset = a.get("dataset")
    dataset_name = dataset.get("name", "?") if isinstance(dataset, dict) else (dataset or "?")
    fmin = int(n_frames[ok].min()) if ok.any() else 0
    fmax = int(n_frames[ok].max()) if ok.any() else 0
    size = human_bytes(size_on_disk(path))
    sizes = ds.sizes
    out = [
        f"store     {path}  ({'HDF5' if path.is_file() else 'Zarr'}, {size} on disk)",
        (f"schema    {a.get('voca_schema')}  (voca {a.get('voca_version', '?')}, "
        f"created {a.get('created', '?')})"),
        (f"complete  {'yes' if complete else 'NO'}  ({counts['ok']} ok, {counts['failed']} failed, "
        f"{counts['pending']} pending of {status.size} videos)"),
        f"dataset   {dataset_name}",
        (f"frames    {int(n_frames[ok].sum()):,} in ok videos; per video min {fmin}, max {fmax}; "
        f"frame dimension {sizes.get('frame', 0)} at {a.get('fps', '?')} fps"),
        (f"dims      visual {sizes.get('visual_dim', 0)}, audio {sizes.get('audio_dim', 0)}, "
        f"segment {sizes.get('segment', 0)}; block size {a.get('block_size', '?')}"),
    ]
    for key in _PROVENANCE_KEYS:
        enc = a.get(key)
        if isinstance(enc, dict):
            pretrained = enc.get("pretrained")
            flag = {True: "pretrained", False: "pretrained: false (random weights, for testing only)"}.get(
                pretrained, "pretrained: unknown")
            name = enc.get("name", "?")
            arch = enc.get("architecture")
            out.append(f"{key:<15} {name}{f' ({arch})' if arch and arch != name else ''}, {flag}")
        elif enc is not None:
            out.append(f"{key:<15} {enc}")
    stats = [n for n in schema.STAT_VARIABLES if n in ds.variables]
    out.append(f"statistics {'over split ' + repr(ds[stats[0]].attrs.get('split', '?')) if stats else 'none (not finalized)'}")
    # videos per split x label x status
    rows = [["split", "label", "pending", "ok", "failed", "total", "frames(ok)"]]
    for split in sorted(set(splits), key=splits.index):
        in_split = np.array([s == split for s in splits])
        for lab in (1, 0, -1):
            sel = in_split & (labels == lab)
            if not sel.any():
                continue
            counts = [int((status[sel] == c).sum()) for c in (schema.PENDING, schema.OK, schema.FAILED)]
            rows.append([split, _LABELS[lab], *map(str, counts), str(int(sel.sum())),
                         f"{int(n_frames[sel & ok].sum()):,}"])
    rows.append(["all", "", *(str(int((status == c).sum())) for c in (schema.PENDING, schema.OK, schema.FAILED)),
                 str(status.size), f"{int(n_frames[ok].sum()):,}"])
    out += ["", _table(rows)]
    out += _failed_lines(ds, failed_limit)
    history = a.get("history") or []
    if history:
        out += ["", "history   " + ", ".join(f"{h.get('action')} {h.get('time', '')}" for h in history[-5:])]
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    import voca_data
    from voca_data.check import quick_check

    problems = quick_check(args.store) if Path(args.store).is_dir() else []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", voca_data.IncompleteStoreWarning)
            ds = voca_data.open(args.store)
        text = summary(ds, Path(args.store), None if args.failed else FAILED_LISTED)
    except (ValueError, OSError, KeyError, TypeError, OverflowError) as exc:
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
