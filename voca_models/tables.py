"""Markdown tables of results: the evaluation summary printed by ``voca evaluate`` and the
benchmark tables of ``voca benchmark`` (LAV-DF in the official column layout; FFDV and folder
stores with video-level AUC/AP/F1).

Example
-------
>>> from voca_models.tables import lavdf_table, REFERENCE_ROWS
>>> print(lavdf_table([], reference=True).splitlines()[2])
| BA-TFD (published, LAV-DF README) | 79.15 | 38.57 | 0.24 | 67.03 | 64.18 | 60.89 | 58.51 | — | — |
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "CLASSIFICATION_COLUMNS",
    "LAVDF_COLUMNS",
    "REFERENCE_ROWS",
    "classification_table",
    "lavdf_table",
    "markdown_table",
    "percent",
    "percent_mean_std",
    "results_table",
]

#: the official LAV-DF column layout, then frame and video AUC
LAVDF_COLUMNS: tuple[str, ...] = ("AP@0.5", "AP@0.75", "AP@0.95", "AR@100", "AR@50", "AR@20", "AR@10",
                                  "frame AUC", "video AUC")
CLASSIFICATION_COLUMNS: tuple[str, ...] = ("video AUC", "video AP", "video F1", "frame AUC")

#: published full-set numbers (percent) from the LAV-DF repository README (ControlNet/LAV-DF);
#: they are the authors' results on the real LAV-DF test set, not numbers reproduced here
REFERENCE_ROWS: tuple[tuple[str, Mapping[str, float]], ...] = (
    ("BA-TFD (published, LAV-DF README)",
     {"AP@0.5": 79.15, "AP@0.75": 38.57, "AP@0.95": 0.24, "AR@100": 67.03, "AR@50": 64.18,
      "AR@20": 60.89, "AR@10": 58.51}),
    ("BA-TFD+ (published, LAV-DF README)",
     {"AP@0.5": 96.30, "AP@0.75": 84.96, "AP@0.95": 4.44, "AR@100": 81.62, "AR@50": 80.48,
      "AR@20": 79.40, "AR@10": 78.75}),
)


def percent(x: Any) -> str:
    """A metric in [0, 1] as a percentage with two decimals; ``—`` when missing/NaN.

    >>> percent(0.79153), percent(None), percent(float("nan"))
    ('79.15', '—', '—')
    """
    if x is None:
        return "—"
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "—"
    return "—" if not math.isfinite(x) else f"{100 * x:.2f}"


def percent_mean_std(values: Sequence[Any]) -> str:
    """Metrics over seeds as ``mean ± std`` in percent (population std; missing values skipped);
    one value is shown as :func:`percent` shows it.

    >>> percent_mean_std([0.9, 1.0]), percent_mean_std([0.8]), percent_mean_std([None])
    ('95.00 ± 5.00', '80.00', '—')
    """
    xs = []
    for x in values:
        try:
            x = float(x)
        except (TypeError, ValueError):
            continue
        if math.isfinite(x):
            xs.append(x)
    if not xs:
        return "—"
    if len(values) == 1:
        return percent(xs[0])
    mean = sum(xs) / len(xs)
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs))
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def _cell(per_seed: Sequence[Mapping[str, Any]], column: str) -> str:
    return percent_mean_std([r.get(column) for r in per_seed])


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table (first column left-aligned, the rest right-aligned)."""
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join([":---"] + ["---:"] * (len(header) - 1)) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _metrics_of(results: Mapping[str, Any]) -> Mapping[str, Any]:
    return results.get("metrics", results)


def lavdf_row(results: Mapping[str, Any], subset: str = "full") -> dict[str, Any]:
    """The LAV-DF columns (fractions) of one evaluation's results."""
    m = _metrics_of(results)
    loc = ((m.get("lavdf") or {}).get(subset)) or {}
    row = {c: loc.get(c) for c in LAVDF_COLUMNS[:7]}
    row["frame AUC"] = (m.get("frame") or {}).get("auc")
    row["video AUC"] = (m.get("video") or {}).get("auc")
    return row


def lavdf_table(rows: Sequence[tuple[str, Mapping[str, Any]]], reference: bool = True,
                subset: str = "full") -> str:
    """LAV-DF table, official column order, values in percent. ``rows``: ``(name, results)``
    pairs (results from :func:`voca_models.evaluate.evaluate`, or already-extracted rows of
    fractions). With ``reference=True`` the published BA-TFD / BA-TFD+ rows (full set) come
    first. The full set also gets frame and video AUC; the subsets only AP/AR (the AUCs are
    full-set numbers). A list of results (one per seed) gives ``mean ± std`` cells."""
    columns = LAVDF_COLUMNS if subset == "full" else LAVDF_COLUMNS[:7]
    body = []
    if reference and subset == "full":
        for name, ref in REFERENCE_ROWS:
            body.append([name] + [f"{ref[c]:.2f}" if c in ref else "—" for c in columns])
    for name, res in rows:
        runs = res if isinstance(res, (list, tuple)) else [res]  # several seeds: mean ± std
        per_seed = [lavdf_row(r, subset) if ("metrics" in r or "lavdf" in r) else r for r in runs]
        body.append([name] + [_cell(per_seed, c) for c in columns])
    return markdown_table(["Model"] + list(columns), body)


def classification_table(rows: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """Video-level AUC / AP / F1 (and frame AUC where the model has frame outputs), percent;
    a list of results (one per seed) gives ``mean ± std``."""
    body = []
    for name, res in rows:
        runs = res if isinstance(res, (list, tuple)) else [res]  # several seeds: mean ± std
        per_seed = []
        for r in runs:
            m = _metrics_of(r)
            v, f = m.get("video") or {}, m.get("frame") or {}
            per_seed.append({"video AUC": v.get("auc"), "video AP": v.get("ap"),
                             "video F1": v.get("f1"), "frame AUC": f.get("auc")})
        body.append([name] + [_cell(per_seed, c) for c in CLASSIFICATION_COLUMNS])
    return markdown_table(["Model"] + list(CLASSIFICATION_COLUMNS), body)


def results_table(results: Mapping[str, Any]) -> str:
    """The human summary of one evaluation: frame/video metrics, IoU, LAV-DF AP/AR per subset."""
    m = _metrics_of(results)
    out = []
    thr = results.get("threshold") or {}
    head = f"{results.get('model', 'model')} on {results.get('store', '?')} [{results.get('split', '?')}]" \
           f", {results.get('n_videos', '?')} videos"
    if thr:
        head += (f"; thresholds frame {thr.get('frame', float('nan')):.3f}, video "
                 f"{thr.get('video', float('nan')):.3f} ({thr.get('source', '')})")
    out.append(head)
    out.append("")
    cols = ("auc", "ap", "f1", "precision", "recall", "accuracy")
    rows = []
    for level in ("frame", "video"):
        x = m.get(level)
        if x:
            rows.append([level] + [percent(x.get(c)) for c in cols] + [str(x.get("n", ""))])
    out.append(markdown_table(["level", "AUC", "AP", "F1", "precision", "recall", "accuracy", "n"], rows))
    iou = m.get("iou")
    if iou:
        out.append("")
        out.append(markdown_table(
            ["per fake video", "mean", "median", "std", "videos"],
            [["frame IoU", percent(iou.get("mean")), percent(iou.get("median")), percent(iou.get("std")),
              str(iou.get("n"))]]
            + ([["frame F1", percent(m["f1_per_video"].get("mean")), percent(m["f1_per_video"].get("median")),
                 percent(m["f1_per_video"].get("std")), str(m["f1_per_video"].get("n"))]]
               if m.get("f1_per_video") else [])))
    lav = m.get("lavdf")
    if lav:
        out.append("")
        cols7 = LAVDF_COLUMNS[:7]
        out.append(markdown_table(["LAV-DF subset"] + list(cols7) + ["videos"],
                                  [[name] + [percent(r.get(c)) for c in cols7] + [str(r.get("n_videos"))]
                                   for name, r in lav.items()]))
    return "\n".join(out)
