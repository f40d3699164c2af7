"""``voca benchmark`` / ``python -m benchmarks.tables`` on a tiny store produce every table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import voca_models
from voca_data import cli
from voca_data.testing import random_store
from voca_data.sources.detect import detect_layout
from voca_models.benchmark import model_options
from voca_models.tables import REFERENCE_ROWS, lavdf_table, percent

REPO = Path(__file__).resolve().parents[2]
TINY_ARGS = ["--size", "tiny", "--epochs", "1", "--window", "64", "--seed", "0"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return random_store(tmp_path_factory.mktemp("bm") / "r.zarr", n_videos=24, seed=1, signal=2.0)


def _table_rows(md: str, title: str) -> list[list[str]]:
    block = md.split(f"## {title}\n\n", 1)[1].split("\n\n", 1)[0]
    lines = block.strip().splitlines()
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]


def test_voca_benchmark_writes_every_table(store, tmp_path, capsys):
    out = tmp_path / "bench"
    assert cli.main(["benchmark", str(store), "--out", str(out), *TINY_ARGS]) == 0
    md = (out / "tables.md").read_text()
    assert capsys.readouterr().out.count("| Model |") == 4
    models = voca_models.list_models()
    full = _table_rows(md, "LAV-DF temporal localization (full set)")
    header = md.split("## LAV-DF temporal localization (full set)\n\n", 1)[1].splitlines()[0]
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "Model", "AP@0.5", "AP@0.75", "AP@0.95", "AR@100", "AR@50", "AR@20", "AR@10", "frame AUC",
        "video AUC"]
    assert [r[0] for r in full] == [n for n, _ in REFERENCE_ROWS] + models
    assert full[0][1:8] == ["79.15", "38.57", "0.24", "67.03", "64.18", "60.89", "58.51"]
    assert full[1][1:8] == ["96.30", "84.96", "4.44", "81.62", "80.48", "79.40", "78.75"]
    for title in ("visual-only subset", "audio-only subset", "video-level detection"):
        assert [r[0] for r in _table_rows(md, title)] == models
    summary = json.loads((out / "benchmark.json").read_text())
    assert summary["layout"] == "lavdf" and set(summary["models"]) == set(models)
    for name in models:
        res = json.loads((out / "results" / f"{name}.json").read_text())
        row = next(r for r in full if r[0] == name)
        # the table shows the evaluation's numbers, in percent
        assert row[-1] == percent(res["metrics"]["video"]["auc"])
        if res["metrics"]["lavdf"]:
            assert row[1] == percent(res["metrics"]["lavdf"]["full"]["AP@0.5"])
        assert (out / "runs" / name / "best" / "model.safetensors").exists()


def test_benchmark_module_classification_layout(store, tmp_path):
    out = tmp_path / "bench-ffdv"
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.tables", str(store), "--out", str(out),
                           "--layout", "ffdv", "--models", "lstm", *TINY_ARGS],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    md = (out / "tables.md").read_text()
    assert "AP@0.5" not in md and "## video-level detection" in md
    assert [r[0] for r in _table_rows(md, "video-level detection")] == ["lstm"]
    bad = subprocess.run([sys.executable, "-m", "benchmarks.tables", str(store), "--out", str(out),
                          "--models", "nope"], cwd=REPO, env=env, capture_output=True, text=True,
                         check=False, timeout=300)
    assert bad.returncode == 2 and "unknown model" in bad.stderr


def test_layout_and_size_presets(store):
    assert detect_layout(store) == "lavdf"   # modify flags + fake periods
    assert model_options("localizer", "tiny") == {"d_model": 32, "num_layers": 1, "nhead": 4}
    assert "d_model" not in model_options("lstm", "tiny")
    with pytest.raises(ValueError, match="unknown size"):
        model_options("lstm", "huge")
    assert "AP@0.5" in lavdf_table([], reference=True)


def test_benchmark_seeds_mean_std(store, tmp_path):
    """--seeds trains once per seed; every cell is mean ± std of the per-seed results."""
    out = tmp_path / "bench-seeds"
    assert cli.main(["benchmark", str(store), "--out", str(out), "--models", "lstm", "covfusion",
                     *TINY_ARGS, "--seeds", "0", "1"]) == 0
    md = (out / "tables.md").read_text()
    assert "seeds 0 1 (mean ± std)" in md
    summary = json.loads((out / "benchmark.json").read_text())
    assert summary["seeds"] == [0, 1]
    for row in _table_rows(md, "video-level detection"):
        runs = summary["models"][row[0]]["runs"]
        assert [r["seed"] for r in runs] == [0, 1]
        aucs = [json.loads(Path(r["results"]).read_text())["metrics"]["video"]["auc"] for r in runs]
        mean = sum(aucs) / 2
        std = abs(aucs[0] - aucs[1]) / 2
        assert row[1] == f"{100 * mean:.2f} ± {100 * std:.2f}"
        for s in (0, 1):
            assert (out / "runs" / row[0] / f"seed{s}" / "best" / "model.safetensors").exists()
