"""Proposal generation: runs, scoring, Soft-NMS, the 100-proposal cap, seconds on the store timeline."""

from __future__ import annotations

import numpy as np
import pytest

from voca_data import frame_labels
from voca_models import metrics as M
from voca_models import proposals as P


def test_runs_and_gaps():
    assert P.runs(np.array([1, 1, 0, 1, 0, 0, 1])) == [(0, 2), (3, 4), (6, 7)]
    assert P.runs(np.zeros(0)) == []
    assert P.runs(np.array([0, 1, 1, 0, 1]).astype(bool)) == [(1, 3), (4, 5)]
    assert P.runs(P.close_gaps(np.array([1, 0, 1, 0, 0, 1]), 1)) == [(0, 3), (5, 6)]


def test_clean_segment_is_recovered_exactly_in_seconds():
    fps = 25.0
    periods = ((1.2, 2.0), (3.0, 3.6))
    n = 125
    lab = frame_labels(periods, n, fps)
    probs = np.where(lab == 1, 0.9, 0.05)
    props = P.generate_proposals(probs, fps)
    assert props.shape[1] == 3 and len(props) >= 2
    top2 = sorted(props[:2, :2].tolist())
    np.testing.assert_allclose(top2, [[1.2, 2.0], [3.0, 3.6]], atol=1e-9)
    # the mask of the proposals gives back the labels (store frame-label rule)
    assert (P.segments_to_mask(props[:2], n, fps) == (lab == 1)).all()
    # and they score perfectly with the official metrics
    r = M.lavdf_metrics({"v": M.segments_to_official(props)},
                        [{"video_id": "v", "fake_periods": [list(p) for p in periods]}])
    assert r["full"]["AR@10"] == 1.0


def test_scores_are_sorted_bounded_and_capped():
    rng = np.random.default_rng(0)
    probs = np.clip(rng.random(2000) ** 3 + 0.3 * np.sin(np.arange(2000) / 7), 0, 1)
    props = P.generate_proposals(probs, fps=25, max_proposals=100)
    assert 0 < len(props) <= 100
    assert (np.diff(props[:, 2]) <= 1e-12).all()
    assert (props[:, 2] > 0).all() and (props[:, 2] <= 1).all()
    assert (props[:, 1] > props[:, 0]).all() and props[:, 0].min() >= 0
    assert props[:, 1].max() <= 2000 / 25 + 1e-9
    assert len(P.generate_proposals(probs, fps=25, max_proposals=7)) == 7


def test_contrast_ranks_a_sharp_segment_above_a_plateau():
    probs = np.r_[np.full(20, 0.1), np.full(20, 0.9), np.full(20, 0.1)]
    sharp = P.score_segment(probs, 20, 40)
    loose = P.score_segment(probs, 15, 45)   # includes low frames, weaker contrast
    assert sharp > loose > 0


def test_flat_or_empty_inputs():
    assert P.generate_proposals(np.zeros(50), fps=25).shape == (0, 3)
    assert P.generate_proposals(np.array([]), fps=25).shape == (0, 3)
    # a video that is fake throughout: one whole-video segment
    props = P.generate_proposals(np.full(30, 0.95), fps=25)
    assert props[0, :2].tolist() == [0.0, pytest.approx(1.2)]
    # NaN frames count as 0
    assert len(P.generate_proposals(np.full(30, np.nan), fps=25)) == 0


def test_soft_nms_decays_overlaps_only():
    seg = np.array([[0.0, 1.0, 0.9], [0.1, 1.0, 0.85], [5.0, 6.0, 0.5]])
    out = P.soft_nms(seg, sigma=0.5)
    assert out[0].tolist() == [0.0, 1.0, 0.9]
    assert out[1].tolist() == [5.0, 6.0, 0.5]           # untouched: no overlap
    assert out[2, 2] == pytest.approx(0.85 * np.exp(-(0.9 ** 2) / 0.5))
    assert len(P.soft_nms(seg, max_keep=1)) == 1
