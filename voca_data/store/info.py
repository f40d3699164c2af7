"""What a store holds, at a glance: :func:`summary` (a dict, JSON-able) and :func:`format_summary`
(the text ``voca info`` prints).

Example
-------
>>> from voca_data.store.info import summary, format_summary
>>> info = summary("lavdf.zarr")                 # doctest: +SKIP
>>> info["counts"]                               # doctest: +SKIP
{'pending': 0, 'ok': 136304, 'failed': 0}
>>> print(format_summary(info))                  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .handle import Store

__all__ = ["format_summary", "human_bytes", "summary"]


def summary(store: str | os.PathLike | Store, storage_options: Mapping[str, Any] | None = None,
            ) -> dict[str, Any]:
    """The summary of a store (path, URL or :class:`Store`): see :meth:`Store.summary`."""
    return Store.open(store, storage_options).summary()


def human_bytes(n: float | None) -> str:
    """``123.4 MB`` style; ``unknown`` for ``None``."""
    if n is None:
        return "unknown size"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) if c else cell.ljust(w)
                       for c, (cell, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_summary(info: Mapping[str, Any]) -> str:
    """The text ``voca info`` prints for a :func:`summary`."""
    counts = info["counts"]
    dims = info["dims"]
    out = [
        (f"store     {info['store']}  ({info['format']}, {human_bytes(info['bytes'])}"
         f"{' on disk' if not info['remote'] else ''})"),
        (f"schema    {info['voca_schema']}  (voca {info.get('voca_version') or '?'}, "
         f"created {info.get('created') or '?'})"),
        (f"complete  {'yes' if info['complete'] else 'NO'}  ({counts['ok']} ok, "
         f"{counts['failed']} failed, {counts['pending']} pending of {info['videos']} videos)"),
        f"dataset   {info.get('dataset') or '?'}",
        (f"frames    {info['frames_ok']:,} in ok videos; per video min {info['frames_min']}, max "
         f"{info['frames_max']}; frame dimension {info['frame_extent']} at {info.get('fps') or '?'} fps"),
        (f"dims      visual {dims['visual_dim']}, audio {dims['audio_dim']}, segment "
         f"{dims['segment']}; block size {info.get('block_size') or '?'}"),
    ]
    for key, enc in info["encoders"].items():
        if isinstance(enc, dict):
            flag = {True: "pretrained",
                    False: "pretrained: false (random weights, for testing only)"}.get(
                enc.get("pretrained"), "pretrained: unknown")
            name = enc.get("name", "?")
            arch = enc.get("architecture")
            out.append(f"{key:<15} {name}{f' ({arch})' if arch and arch != name else ''}, {flag}")
        elif enc is not None:
            out.append(f"{key:<15} {enc}")
    split = info.get("statistics_split")
    out.append(f"statistics {'none (not finalized)' if split is None else 'over split ' + repr(split)}")
    rows = [["split", "label", "pending", "ok", "failed", "total", "frames(ok)"]]
    for r in info["splits"]:
        rows.append([r["split"], r["label"], str(r["pending"]), str(r["ok"]), str(r["failed"]),
                     str(r["total"]), f"{r['frames_ok']:,}"])
    rows.append(["all", "", str(counts["pending"]), str(counts["ok"]), str(counts["failed"]),
                 str(info["videos"]), f"{info['frames_ok']:,}"])
    out += ["", _table(rows)]
    history = info.get("history") or []
    if history:
        out += ["", "history   " + ", ".join(f"{h.get('action')} {h.get('time') or ''}"
                                             for h in history[-5:])]
    return "\n".join(out)
