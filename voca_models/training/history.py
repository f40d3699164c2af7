"""``history.csv``: one row per epoch (epoch, lr, train_* losses, dev_* metrics, seconds), rewritten
atomically after every epoch. The curves (``curves.png``) are drawn by
:func:`voca_models.plots.plot_history`.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> write_history(d, [{"epoch": 1, "train_loss": 0.7}, {"epoch": 2, "train_loss": 0.5, "dev_video_auc": 0.9}])
>>> (d / "history.csv").read_text().splitlines()[0]
'epoch,train_loss,dev_video_auc'
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

__all__ = ["write_history"]


def write_history(out: Path, history: list[dict[str, Any]]) -> None:
    """Write ``out/history.csv`` (columns: every key of every row, in first-seen order)."""
    if not history:
        return
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    tmp = out / ".history.csv.tmp"
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for row in history:
            w.writerow(row)
    tmp.replace(out / "history.csv")
