"""The benchmark runner behind ``voca benchmark`` and ``python -m benchmarks.tables``: train and
evaluate every zoo model on a store with fixed seeds and write the Markdown tables researchers
publish (LAV-DF's temporal-localization layout for LAV-DF-like stores, video-level detection
tables otherwise).

>>> from voca_models.benchmark import run_benchmark
>>> summary = run_benchmark("lavdf.zarr", "bench/", epochs=30)            # doctest: +SKIP
>>> print(open("bench/tables.md").read())                                # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["LAYOUTS", "SIZES", "model_options", "run_benchmark"]

#: model-size presets: applied to the options each model's config actually has
SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"d_model": 32, "num_layers": 1, "nhead": 4, "hidden": 32, "k": 16, "channels": 4},
    "small": {"d_model": 128, "num_layers": 2, "nhead": 4, "hidden": 128, "k": 64, "channels": 8},
    "default": {},
}

#: table layouts: ``auto`` (the store's, by :func:`voca_data.sources.detect.detect_layout`) or one
#: of its layouts
LAYOUTS = ("auto", "lavdf", "ffdv", "folder")


def model_options(name: str, size: str) -> dict[str, Any]:
    """The ``size`` preset restricted to the options of model ``name``."""
    import dataclasses

    from .models import model_class

    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}: use one of {', '.join(SIZES)}")
    fields = {f.name for f in dataclasses.fields(model_class(name).config_class)}
    return {k: v for k, v in SIZES[size].items() if k in fields}


def run_benchmark(
    store: str | Path, out: str | Path, models: Sequence[str] | None = None, epochs: int | None = None,
    size: str = "default", seed: int = 0, split: str = "test", layout: str = "auto",
    device: str = "cpu", window: int | None = None, batch_size: int | None = None,
    max_videos: int | None = None, model_config: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = True, features: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Train, evaluate and tabulate every model; returns the summary written to
    ``OUT/benchmark.json`` (``tables`` holds the Markdown text of each table).

    ``features`` defaults to ``auto`` (the models' default: visual, audio, av_similarity,
    visual_similarity, those the store has and fills; see docs/models.md). With several ``seeds``
    every model is trained once per seed (``OUT/runs/MODEL/seedS``, ``OUT/results/MODEL-seedS.json``)
    and every cell is ``mean ± std`` over the seeds, so small-data tables show their noise.
    Runs in ``OUT/runs`` are replaced, so a benchmark can be re-run into the same folder."""
    import voca_models
    from voca_data.sources.detect import detect_layout

    from .evaluate import evaluate, write_results
    from .tables import classification_table, lavdf_table

    store = Path(store)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = list(models or voca_models.list_models())
    unknown = [m for m in names if m not in voca_models.list_models()]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; the zoo has {voca_models.list_models()}")
    layout = detect_layout(store) if layout == "auto" else layout
    if layout not in LAYOUTS[1:]:
        raise ValueError(f"unknown layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    seed_list = [int(x) for x in (seeds if seeds else [seed])]
    multi = len(seed_list) > 1
    train_config: dict[str, Any] = {"device": device, "progress": progress}
    for key, value in (("epochs", epochs), ("window", window), ("batch_size", batch_size),
                       ("max_videos", max_videos)):
        if value is not None:
            train_config[key] = value
    features = tuple(features) if features else ("auto",)
    rows: list[tuple[str, Any]] = []
    summary: dict[str, Any] = {"store": str(store), "layout": layout, "split": split,
                               "seed": seed_list[0], "seeds": seed_list, "size": size,
                               "features": list(features), "train_config": train_config, "models": {}}
    used_features: set[str] = set()
    for name in names:
        config = {**model_options(name, size), "features": features,
                  **dict((model_config or {}).get(name, {}))}
        per_seed = []
        for s in seed_list:
            run_dir = out / "runs" / name / f"seed{s}" if multi else out / "runs" / name
            file = out / "results" / (f"{name}-seed{s}.json" if multi else f"{name}.json")
            log.info("benchmark: training %s (%s) seed %d on %s", name, config, s, store)
            t0 = time.perf_counter()
            trained = voca_models.train(name, store, run_dir, model_config=config,
                                        train_config={**train_config, "seed": s}, overwrite=True)
            used_features.update(trained["features"])
            t1 = time.perf_counter()
            results = evaluate(run_dir, store, split=split, device=device, progress=progress)
            t2 = time.perf_counter()
            write_results(results, file)
            per_seed.append(results)
            summary["models"].setdefault(name, {"model_config": config, "runs": []})["runs"].append(
                {"seed": s, "run": str(run_dir), "results": str(file), "features": trained["features"],
                 "metrics": results["metrics"], "threshold": results["threshold"],
                 "train_seconds": round(t1 - t0, 2), "eval_seconds": round(t2 - t1, 2)})
        if not multi:  # the single-seed summary keeps its flat layout
            summary["models"][name].update(summary["models"][name].pop("runs")[0])
        rows.append((name, per_seed if multi else per_seed[0]))
    tables: dict[str, str] = {}
    seed_text = (f"seeds {' '.join(map(str, seed_list))} (mean ± std)" if multi
                 else f"seed {seed_list[0]}")
    feature_text = ", ".join(f for f in ("visual", "audio", "av_similarity", "visual_similarity",
                                         *sorted(used_features)) if f in used_features)
    feature_text = feature_text if "auto" in features else ", ".join(features)
    note = (f"Store `{store.name}` ({layout} layout), split `{split}`, {seed_text}, size `{size}`, "
            f"epochs {train_config.get('epochs', 'default')}, features {feature_text}; "
            "values in percent.")
    if layout == "lavdf":
        tables["LAV-DF temporal localization (full set)"] = lavdf_table(rows, reference=True)
        tables["visual-only subset"] = lavdf_table(rows, reference=False, subset="visual-only-subset")
        tables["audio-only subset"] = lavdf_table(rows, reference=False, subset="audio-only-subset")
    tables["video-level detection"] = classification_table(rows)
    text = [f"# Benchmark: {store.name}", "", note, ""]
    if layout == "lavdf":
        text += [("Rows marked *published* are the authors' numbers on the real LAV-DF test set "
                  "(LAV-DF repository README), shown for the column layout; they were not reproduced "
                  "here."), ""]
    for title, table in tables.items():
        text += [f"## {title}", "", table, ""]
    (out / "tables.md").write_text("\n".join(text))
    summary["tables"] = tables
    from .metrics import to_jsonable

    (out / "benchmark.json").write_text(json.dumps(to_jsonable(summary), indent=1))
    return summary
