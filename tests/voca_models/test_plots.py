"""Plots are written as real PNGs with content, from evaluation-shaped dicts."""

from __future__ import annotations

import numpy as np
import pytest

from voca_data.testing import random_store
from voca_models import plots
from voca_models.evaluate import read_av_similarity, score_predictions, store_truth

mpimg = pytest.importorskip("matplotlib.image")


def _check_png(path, min_size=(400, 300)):
    assert path.exists() and path.stat().st_size > 5_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(str(path))
    h, w = img.shape[:2]
    assert w >= min_size[0] and h >= min_size[1]
    assert float(np.std(img[..., :3])) > 0.02   # not a blank canvas


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    store = random_store(tmp_path_factory.mktemp("pl") / "r.zarr", n_videos=24, seed=3)
    truth = store_truth(store, "test")
    rng = np.random.default_rng(0)
    preds = []
    for t in truth:
        p = np.clip(0.2 + 0.6 * (t["frame_labels"] == 1) + rng.normal(0, 0.15, t["n_frames"]), 0, 1)
        preds.append({"video_id": t["video_id"], "frame_probs": p, "video_prob": float(p.max())})
    res = score_predictions(preds, truth, fps=25.0, frame_threshold=0.5, video_threshold=0.6)
    res.update(fps=25.0, threshold={"frame": 0.5, "video": 0.6}, model="test", split="test")
    return store, res


def test_timeline_png(results, tmp_path):
    store, res = results
    fake = next(v for v in res["videos"] if v["label"] == 1)
    sim = read_av_similarity(store, [fake["video_id"]]).get(fake["video_id"])
    out = plots.plot_timeline(fake, tmp_path / "deep" / "t.png", fps=25.0, av_similarity=sim)
    _check_png(out, (900, 450))
    # without frame probabilities (video-level model), similarity or truth it still draws
    bare = {"video_id": "x", "n_frames": 40, "video_prob": 0.7, "segments": [[0.2, 0.9, 0.8]]}
    _check_png(plots.plot_timeline(bare, tmp_path / "bare.png"))


def test_summary_sheet_png(results, tmp_path):
    _, res = results
    _check_png(plots.plot_summary(res, tmp_path / "summary.png"), (1200, 700))
    # degenerate: one class only, no frame outputs
    only = {"videos": [{"video_id": "a", "label": 1, "video_prob": 0.9, "frame_probs": None}]}
    _check_png(plots.plot_summary(only, tmp_path / "only.png"), (1200, 700))


def test_plot_results_writes_summary_and_timelines(results, tmp_path):
    _, res = results
    paths = plots.plot_results(res, tmp_path / "out", max_videos=3)
    assert paths[0].name == "summary.png" and len(paths) == 4
    for p in paths:
        _check_png(p)
    assert plots.safe_name("test/000001") == "test_000001"


def test_titles_say_what_is_shown_and_legends_name_every_mark(results, tmp_path):
    _, res = results
    res = dict(res, store="/data/lavdf.zarr", checkpoint="runs/loc/best", model="localizer",
               threshold={"frame": 0.5, "video": 0.6, "source": "chosen on dev (max F1)"})
    line = plots.context_line(res)
    for part in ("store lavdf.zarr", "split test", "localizer checkpoint runs/loc/best",
                 "frame 0.50", "video 0.60", "(chosen on dev (max F1))"):
        assert part in line
    head = plots._headline(res)
    full = res["metrics"]["lavdf"]["full"]
    assert f"AP@0.5 {100 * full['AP@0.5']:.2f}" in head and f"AR@100 {100 * full['AR@100']:.2f}" in head

    import matplotlib.figure

    saved = []
    original = matplotlib.figure.Figure.savefig

    def keep(fig, *args, **kwargs):  # the real savefig, remembering the figure to inspect it
        saved.append(fig)
        return original(fig, *args, **kwargs)

    matplotlib.figure.Figure.savefig = keep
    try:
        plots.plot_results(res, tmp_path / "out", max_videos=1)
    finally:
        matplotlib.figure.Figure.savefig = original
    summary, timeline = saved
    assert summary._suptitle.get_text() == f"{line}\n{head}"
    labels = [t.get_text() for t in timeline.legends[0].get_texts()]
    for mark in ("ground truth fake", "fake probability", "predicted fake (P ≥ 0.50)",
                 "threshold 0.50", "true fake segment"):
        assert mark in labels, labels
    assert timeline._suptitle.get_text() == line
