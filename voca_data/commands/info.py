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


#: version of the ``voca info --json`` document (its keys are listed in docs/cli.md); keys are
#: only ever added, and a change of meaning bumps it
INFO_FORMAT = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", type=Path, help="a .zarr store or an .h5 file")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (keys in docs/cli.md) instead of the text")


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


def summary(ds: Any, path: Path) -> str:
    """The text ``voca info`` prints for an opened store."""
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
    history = a.get("history") or []
    if history:
        out += ["", "history   " + ", ".join(f"{h.get('action')} {h.get('time', '')}" for h in history[-5:])]
    return "\n".join(out)


def _json_value(x: Any) -> Any:
    """numpy scalars (attributes read back from the store) as Python numbers."""
    item = getattr(x, "item", None)
    return item() if callable(item) else str(x)


def summary_dict(ds: Any, path: Path) -> dict[str, Any]:
    """What ``voca info --json`` prints for an opened store (keys documented in docs/cli.md).

    >>> summary_dict(voca_data.open("lavdf.zarr"), Path("lavdf.zarr"))["videos"]  # doctest: +SKIP
    {'total': 13, 'pending': 0, 'ok': 12, 'failed': 1}
    """
    import numpy as np

    from voca_data import schema

    a = ds.attrs
    status = np.asarray(ds["status"].values)
    labels = np.asarray(ds["label"].values)
    splits = [str(s) for s in np.asarray(ds["split"].values).tolist()]
    n_frames = np.asarray(ds["n_frames"].values).astype(np.int64)
    ok = status == schema.OK
    dataset = a.get("dataset")
    sizes = ds.sizes
    encoders = {}
    for key in _PROVENANCE_KEYS:
        enc = a.get(key)
        if isinstance(enc, dict):
            encoders[key] = {"name": enc.get("name"), "architecture": enc.get("architecture"),
                             "pretrained": enc.get("pretrained")}
        elif enc is not None:
            encoders[key] = {"name": str(enc), "architecture": None, "pretrained": None}
    stats = [n for n in schema.STAT_VARIABLES if n in ds.variables]
    by_split = []
    for split in sorted(set(splits), key=splits.index):
        in_split = np.array([s == split for s in splits])
        for lab in (1, 0, -1):
            sel = in_split & (labels == lab)
            if sel.any():
                by_split.append({"split": split, "label": _LABELS[lab],
                                 **{name: int((status[sel] == code).sum())
                                    for code, name in schema.STATUS_NAMES.items()},
                                 "total": int(sel.sum()), "frames_ok": int(n_frames[sel & ok].sum())})
    return {
        "info_format": INFO_FORMAT,
        "store": str(path), "format": "hdf5" if path.is_file() else "zarr",
        "size_bytes": size_on_disk(path),
        "schema": a.get("voca_schema"), "voca_version": a.get("voca_version"), "created": a.get("created"),
        "complete": bool(a.get("complete", False)),
        "videos": {"total": int(status.size),
                   **{name: int((status == code).sum()) for code, name in schema.STATUS_NAMES.items()}},
        "dataset": dataset.get("name") if isinstance(dataset, dict) else dataset,
        "fps": a.get("fps"),
        "frames": {"ok_total": int(n_frames[ok].sum()),
                   "min": int(n_frames[ok].min()) if ok.any() else 0,
                   "max": int(n_frames[ok].max()) if ok.any() else 0,
                   "dimension": int(sizes.get("frame", 0))},
        "dims": {"visual": int(sizes.get("visual_dim", 0)), "audio": int(sizes.get("audio_dim", 0)),
                 "segment": int(sizes.get("segment", 0))},
        "block_size": a.get("block_size"),
        "encoders": encoders,
        "statistics_split": ds[stats[0]].attrs.get("split") if stats else None,
        "splits": by_split,
        "history": [{"action": h.get("action"), "time": h.get("time")}
                    for h in (a.get("history") or []) if isinstance(h, dict)],
    }


def run(args: argparse.Namespace) -> int:
    import voca_data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", voca_data.IncompleteStoreWarning)
        ds = voca_data.open(args.store)
    if args.json:
        import json

        print(json.dumps(summary_dict(ds, Path(args.store)), indent=1, default=_json_value))
        return 0
    print(summary(ds, Path(args.store)))
    return 0
