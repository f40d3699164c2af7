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

__all__ = ["format_summary", "human_bytes", "json_document", "summary"]


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


#: failed videos listed by default (``voca info --failed``: all)
FAILED_LISTED = 10  # voca_data.commands.info repeats it (help imports nothing heavy)


def _todo(info: Mapping[str, Any]) -> str:
    """What to do about an incomplete store (the words of ``IncompleteStoreWarning``)."""
    from .handle import _incomplete_message

    counts = info["counts"]
    message = _incomplete_message(str(info["store"]), counts["pending"], counts["failed"],
                                  info["videos"], bool(info["complete"]))
    return message.split(": ", 1)[1]


def format_summary(info: Mapping[str, Any], failed_limit: int | None = FAILED_LISTED) -> str:
    """The text ``voca info`` prints for a :func:`summary` (failed videos with their reasons: the
    first ``failed_limit``, ``None`` for all)."""
    counts = info["counts"]
    dims = info["dims"]
    out = [
        (f"store     {info['store']}  ({info['format']}, {human_bytes(info['bytes'])}"
         f"{' on disk' if not info['remote'] else ''})"),
        (f"schema    {info['voca_schema']}  (voca {info.get('voca_version') or '?'}, "
         f"created {info.get('created') or '?'})"),
        (f"complete  {'yes' if info['complete'] else 'NO'}  ({counts['ok']} ok, "
         f"{counts['failed']} failed, {counts['pending']} pending of {info['videos']} videos)"),
        *([f"          {_todo(info)}"] if not info["complete"] else []),
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
    out += _failed_lines(info.get("failed") or [], failed_limit)
    history = info.get("history") or []
    if history:
        out += ["", "history   " + ", ".join(f"{h.get('action')} {h.get('time') or ''}"
                                             for h in history[-5:])]
        out += _last_extract(history)
    return "\n".join(out)


def _failed_lines(failed: list[Mapping[str, str]], limit: int | None) -> list[str]:
    if not failed:
        return []
    shown = failed if limit is None else failed[:limit]
    out = ["", f"failed    {len(failed)} video{'s' if len(failed) != 1 else ''}:"]
    out += [f"  {f['video_id']}: {f['error']}" for f in shown]
    if len(shown) < len(failed):
        out.append(f"  ... {len(failed) - len(shown)} more (voca info --failed lists all)")
    return out


def _last_extract(history: list) -> list[str]:
    """The last extract run's rate and which stage was busiest (voca extract's history entry)."""
    runs = [h for h in history if h.get("action") == "extract" and h.get("frames_per_second")]
    if not runs:
        return []
    h = runs[-1]
    line = (f"last extract {h.get('frames', 0):,} frames in {h.get('seconds', 0):.1f} s = "
            f"{h['frames_per_second']:,.1f} frames/s ({h.get('scheduler', '?')}, "
            f"{h.get('device', '?')}, cpu_workers {h.get('cpu_workers', '?')})")
    busy = {stage: h.get(f"stage_{stage}_busy_seconds") for stage in ("cpu", "encoder", "writer")}
    if all(v is not None for v in busy.values()):
        line += "; busy s: " + ", ".join(f"{k} {v:.1f}" for k, v in busy.items())
    return [line]


#: version of the ``voca info --json`` document (its keys are listed in docs/cli.md); keys are
#: only ever added, and a change of meaning bumps it
INFO_FORMAT = 1


def json_document(info: Mapping[str, Any]) -> dict[str, Any]:
    """The ``voca info --json`` document of a :func:`summary` (stable keys, docs/cli.md).

    >>> json_document(summary("lavdf.zarr"))["videos"]     # doctest: +SKIP
    {'total': 13, 'pending': 0, 'ok': 12, 'failed': 1}
    """
    dims = info["dims"]
    encoders = {key: ({"name": enc.get("name"), "architecture": enc.get("architecture"),
                       "pretrained": enc.get("pretrained")} if isinstance(enc, dict) else
                      {"name": str(enc), "architecture": None, "pretrained": None})
                for key, enc in info["encoders"].items() if enc is not None}
    return {
        "info_format": INFO_FORMAT,
        "store": info["store"], "format": info["format"].lower(), "size_bytes": info["bytes"],
        "schema": info["voca_schema"], "voca_version": info.get("voca_version"),
        "created": info.get("created"), "complete": bool(info["complete"]),
        "videos": {"total": int(info["videos"]), **info["counts"]},
        "dataset": info.get("dataset"), "fps": info.get("fps"),
        "frames": {"ok_total": info["frames_ok"], "min": info["frames_min"],
                   "max": info["frames_max"], "dimension": int(info["frame_extent"])},
        "dims": {"visual": int(dims["visual_dim"]), "audio": int(dims["audio_dim"]),
                 "segment": int(dims["segment"])},
        "block_size": info.get("block_size"),
        "encoders": encoders,
        "statistics_split": info.get("statistics_split"),
        "splits": list(info["splits"]),
        "failed": list(info.get("failed") or []),
        "history": [{"action": h.get("action"), "time": h.get("time")} for h in info["history"]],
    }


def json_value(x: Any) -> Any:
    """``json.dumps(default=...)``: numpy scalars (attributes read back) as Python numbers."""
    item = getattr(x, "item", None)
    return item() if callable(item) else str(x)
