"""``voca benchmark`` (also ``python -m benchmarks.tables``): train and evaluate every zoo model on
a store with fixed seeds and write the Markdown tables researchers publish.

>>> from voca_models.commands.benchmark import run_benchmark
>>> summary = run_benchmark("lavdf.zarr", "bench/", epochs=30)            # doctest: +SKIP
>>> print(open("bench/tables.md").read())                                # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HELP = "train and evaluate every zoo model with fixed seeds; write Markdown result tables"
DESCRIPTION = """\
Train every model of the zoo (or --models) on the store's train split with a fixed seed, evaluate it
on --split (thresholds chosen on dev), and write DIR/tables.md, DIR/benchmark.json, one results JSON
per model (DIR/results/MODEL.json) and the training runs (DIR/runs/MODEL/).

LAV-DF-layout stores get the official column layout (AP@0.5, AP@0.75, AP@0.95, AR@100, AR@50,
AR@20, AR@10, plus frame and video AUC) for the full set and the visual-only / audio-only subsets,
with the published BA-TFD / BA-TFD+ rows for reference; FFDV and folder stores get video AUC / AP /
F1. --size tiny --epochs 1 makes a smoke run that takes seconds.

examples:
  voca benchmark lavdf.zarr --out bench/
  voca benchmark synth.zarr --out bench-tiny/ --size tiny --epochs 2
  voca benchmark synth.zarr --out bench-3/ --seeds 0 1 2          # mean ± std over seeds
  python -m benchmarks.tables ffdv.zarr --out bench-ffdv/ --models lstm covfusion
"""

#: model-size presets: applied to the options each model's config actually has
SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"d_model": 32, "num_layers": 1, "nhead": 4, "hidden": 32, "k": 16, "channels": 4},
    "small": {"d_model": 128, "num_layers": 2, "nhead": 4, "hidden": 128, "k": 64, "channels": 8},
    "default": {},
}

LAYOUTS = ("auto", "lavdf", "ffdv", "folder")


def detect_layout(store: str | Path) -> str:
    """``lavdf`` / ``ffdv`` / ``folder`` from the store's dataset provenance; stores of unknown
    origin count as LAV-DF-like when they carry fake periods and LAV-DF modify flags."""
    import warnings

    import numpy as np

    import voca_data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", voca_data.IncompleteStoreWarning)
        ds = voca_data.open(store)
    dataset = ds.attrs.get("dataset") or {}
    text = " ".join(str(dataset.get(k, "")) for k in ("layout", "source", "name", "kind")).lower()
    for name in ("lavdf", "lav-df", "ffdv", "folder"):
        if name in text:
            return name.replace("-", "")
    mv = np.asarray(ds["modify_video"].values) if "modify_video" in ds else np.array([-1])
    ma = np.asarray(ds["modify_audio"].values) if "modify_audio" in ds else np.array([-1])
    n_fakes = np.asarray(ds["n_fakes"].values) if "n_fakes" in ds else np.array([0])
    if ((mv >= 0) | (ma >= 0)).any() and (n_fakes > 0).any():
        return "lavdf"
    return "folder"


def model_options(name: str, size: str) -> dict[str, Any]:
    """The ``size`` preset restricted to the options of model ``name``."""
    import dataclasses

    from ..models import model_class

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

    from ..evaluate import evaluate, write_results
    from ..tables import classification_table, lavdf_table

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
    from ..metrics import to_jsonable

    (out / "benchmark.json").write_text(json.dumps(to_jsonable(summary), indent=1))
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", help="store to train and evaluate on (needs train/dev/test-like splits)")
    parser.add_argument("--out", required=True, help="output directory (tables.md, benchmark.json, runs/)")
    parser.add_argument("--models", nargs="+", default=None, help="models to run (default: the whole zoo)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the model's)")
    parser.add_argument("--size", choices=tuple(SIZES), default="default",
                        help="model size preset: tiny (smoke runs), small, default")
    parser.add_argument("--seed", type=int, default=0, help="random seed for every model (default: 0)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="train every model once per seed; tables show mean ± std (e.g. --seeds 0 1 2)")
    parser.add_argument("--split", default="test", help="evaluation split (default: test)")
    parser.add_argument("--layout", choices=LAYOUTS, default="auto",
                        help="table layout (default: from the store's dataset provenance)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--window", type=int, default=None, help="training window in frames")
    parser.add_argument("--batch-size", type=int, default=None, help="training batch size")
    parser.add_argument("--max-videos", type=int, default=None, help="videos per split (quick runs)")
    parser.add_argument("--features", nargs="+", default=None,
                        help="per-frame features the models read (default: auto, those of visual, "
                             "audio, av_similarity, visual_similarity the store has and fills)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    summary = run_benchmark(args.store, args.out, models=args.models, epochs=args.epochs, size=args.size,
                            seed=args.seed, split=args.split, layout=args.layout, device=args.device,
                            window=args.window, batch_size=args.batch_size, max_videos=args.max_videos,
                            features=args.features, seeds=args.seeds, progress=not args.no_progress)
    for title, table in summary["tables"].items():
        print(f"## {title}\n\n{table}\n")
    print(f"tables: {Path(args.out) / 'tables.md'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks.tables``: the same options as ``voca benchmark``."""
    import sys

    parser = argparse.ArgumentParser(prog="python -m benchmarks.tables", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"benchmark: error: {exc}", file=sys.stderr)
        return 2
