"""Every script in examples/ runs, as a user would run it, on a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import voca_data
from voca_data.testing import random_store

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return random_store(tmp_path_factory.mktemp("examples") / "r.zarr", n_videos=24, seed=1, signal=2.0)


def _run(script: str, *args: str, cwd: Path) -> str:
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", MPLBACKEND="Agg",
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def test_every_example_has_a_test():
    scripts = {p.name for p in EXAMPLES.glob("*.py")} - {"demo.py"}   # demo.py: `make demo`
    assert scripts == {"plot_timeline.py", "sklearn_classifier.py", "custom_model.py",
                       "evaluate_predictions.py"}


def test_plot_timeline(store, tmp_path):
    out = tmp_path / "t.png"
    text = _run("plot_timeline.py", str(store), "--split", "test", "--out", str(out), cwd=tmp_path)
    assert "wrote" in text
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    vid = voca_data.open(store).sel(split="dev").video_id.values[0]
    _run("plot_timeline.py", str(store), "--split", "dev", "--video", str(vid), "--out", str(out), cwd=tmp_path)


def test_sklearn_classifier(store, tmp_path):
    text = _run("sklearn_classifier.py", str(store), cwd=tmp_path)
    n_test = int((voca_data.open(store).split.values == "test").sum())
    assert f"/ {n_test} test videos: video AUC" in text


def test_custom_model(store, tmp_path):
    text = _run("custom_model.py", str(store), "--out", str(tmp_path / "run"), "--epochs", "2", cwd=tmp_path)
    assert "'visual': (4, 64, 16)" in text and "frame AUC" in text
    assert (tmp_path / "run" / "best" / "model.safetensors").exists()
    meta = json.loads((tmp_path / "run" / "best" / "meta.json").read_text())
    assert meta["model"] == "temporal-conv"


def test_evaluate_predictions_official_format(store, tmp_path):
    ds = voca_data.open(store).sel(split="test")
    preds, n_segments = {}, 0
    for i in range(ds.sizes["video"]):
        v = ds.isel(video=i)
        periods = v.fake_periods.values
        periods = periods[np.isfinite(periods).all(axis=1)]
        n_segments += len(periods)
        # official files: keyed by file path, times in frames at 25 fps, highest score first
        preds[str(v.path.item())] = [[0.9, float(s) * 25, float(e) * 25] for s, e in periods]
    path = tmp_path / "preds.json"
    path.write_text(json.dumps(preds))
    text = _run("evaluate_predictions.py", str(store), str(path), "--frames", cwd=tmp_path)
    full = next(line for line in text.splitlines() if line.startswith("| full |"))
    cells = [c.strip() for c in full.strip("|").split("|")]
    # perfect proposals: every AR is 100; AP = 1 - 1/N (the first recall step is not counted)
    assert cells[4:8] == ["100.00"] * 4
    assert float(cells[1]) == pytest.approx(100 * (1 - 1 / n_segments), abs=0.01)
