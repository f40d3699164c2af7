"""Choose which videos of a manifest to process — the selection today's scripts offer
(``--splits``, ``--start_idx``/``--num_videos``, ``--max_videos``).

Order of operations: keep the records whose split is in ``splits`` (manifest order preserved),
then take ``count`` records starting at ``start`` (to shard a split across parallel runs), then at
most ``max_videos`` of those.

>>> from voca_data.records import VideoRecord
>>> recs = [VideoRecord(f"{s}/{i}", f"{s}/{i}.mp4", s) for i, s in enumerate("train dev train train".split())]
>>> [r.video_id for r in select(recs, splits="train", start=1, count=5)]
['train/2', 'train/3']
>>> [r.video_id for r in select(recs, max_videos=1)]
['train/0']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..records import VideoRecord

__all__ = ["parse_splits", "select"]


def parse_splits(splits: str | Sequence[str] | None) -> list[str] | None:
    """``"train,dev"``, ``["train", "dev"]`` or ``["train,dev"]`` -> ``["train", "dev"]``; None/empty -> None."""
    if splits is None:
        return None
    items = [splits] if isinstance(splits, str) else list(splits)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"split names must be strings, not {item!r}")
        out.extend(s.strip() for s in item.split(",") if s.strip())
    return out or None


def select(records: Iterable[VideoRecord], splits: str | Sequence[str] | None = None, start: int = 0,
           count: int | None = None, max_videos: int | None = None) -> list[VideoRecord]:
    """The records in ``splits`` (all if None), then ``[start : start + count]``, then the first
    ``max_videos``. Unknown split names raise ``ValueError`` naming the splits present."""
    records = list(records)
    wanted = parse_splits(splits)
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    if count is not None and count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if max_videos is not None and max_videos < 0:
        raise ValueError(f"max_videos must be >= 0, got {max_videos}")
    if wanted is not None:
        present = list(dict.fromkeys(r.split for r in records))
        unknown = [s for s in wanted if s not in present]
        if unknown and records:
            raise ValueError(f"split(s) {unknown} not in the dataset; it has {present}")
        keep = set(wanted)
        records = [r for r in records if r.split in keep]
    end = None if count is None else start + count
    records = records[start:end]
    if max_videos is not None:
        records = records[:max_videos]
    return records
