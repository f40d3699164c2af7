"""Metrics: hand-computed cases for the official LAV-DF conventions, scikit-learn where it overlaps."""

from __future__ import annotations

import numpy as np
import pytest

from voca_models import metrics as M

sklearn_metrics = pytest.importorskip("sklearn.metrics")


# ------------------------------------------------------------------ binary metrics vs scikit-learn
@pytest.mark.parametrize("seed", range(6))
def test_binary_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = 200
    y = rng.integers(0, 2, n)
    # rounded scores: many ties, which is where implementations differ
    s = np.round(np.clip(0.3 * y + rng.normal(0.4, 0.25, n), 0, 1), 1 if seed % 2 else 3)
    m = M.binary_metrics(y, s, threshold=0.5)
    pred = (s >= 0.5).astype(int)
    assert m["auc"] == pytest.approx(sklearn_metrics.roc_auc_score(y, s), abs=1e-12)
    assert m["ap"] == pytest.approx(sklearn_metrics.average_precision_score(y, s), abs=1e-12)
    assert m["f1"] == pytest.approx(sklearn_metrics.f1_score(y, pred, zero_division=0))
    assert m["precision"] == pytest.approx(sklearn_metrics.precision_score(y, pred, zero_division=0))
    assert m["recall"] == pytest.approx(sklearn_metrics.recall_score(y, pred, zero_division=0))
    assert m["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(y, pred))
    assert m["confusion"] == sklearn_metrics.confusion_matrix(y, pred, labels=[0, 1]).tolist()
    p, r, t = M.pr_curve(y, s)
    sp, sr, st = sklearn_metrics.precision_recall_curve(y, s)
    # sklearn lists decreasing thresholds reversed, plus a final (precision 1, recall 0) point
    np.testing.assert_allclose(p, sp[:-1][::-1])
    np.testing.assert_allclose(r, sr[:-1][::-1])
    np.testing.assert_allclose(t, st[::-1])
    fpr, tpr, _ = M.roc_curve(y, s)
    sf, stp, _ = sklearn_metrics.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sf)
    np.testing.assert_allclose(tpr, stp)


def test_binary_metrics_ignore_fill_and_nan():
    m = M.binary_metrics([0, 1, -1, 1], [0.1, 0.9, 0.99, np.nan], threshold=0.5)
    assert m["n"] == 2 and m["auc"] == 1.0 and m["recall"] == 1.0
    assert np.isnan(M.binary_metrics([1, 1], [0.2, 0.3])["auc"])  # one class: AUC undefined


def test_choose_threshold_maximises_f1_against_sklearn():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    s = np.clip(0.35 * y + rng.normal(0.3, 0.2, 300), 0, 1)
    t = M.choose_threshold(y, s)
    best = max(sklearn_metrics.f1_score(y, (s >= c).astype(int)) for c in np.unique(s))
    assert sklearn_metrics.f1_score(y, (s >= t).astype(int)) == pytest.approx(best)
    with pytest.raises(ValueError, match="unknown threshold criterion"):
        M.choose_threshold(y, s, criterion="nope")


def test_frame_metrics_pool_valid_frames_only():
    probs = [np.array([0.9, 0.8, 0.1, 0.7]), np.array([0.2, 0.6])]
    labels = [np.array([1, 1, 0, -1]), np.array([0, 1])]
    m = M.frame_metrics(probs, labels, threshold=0.5)
    assert m["n"] == 5 and m["n_positive"] == 3
    assert m["confusion"] == [[2, 0], [0, 3]]


def test_video_scores_sources():
    probs = [np.array([0.1, 0.5, np.nan]), np.array([0.2, 0.4])]
    assert M.video_scores(probs, source="max").tolist() == [0.5, 0.4]
    assert M.video_scores(probs, source="mean").tolist() == pytest.approx([0.3, 0.3])
    assert M.video_scores(probs, [0.7, None], source="head").tolist() == [0.7, 0.4]
    with pytest.raises(ValueError):
        M.video_scores(probs, source="median")


def test_mask_iou_and_summary():
    assert M.mask_iou(np.array([1, 1, 0, 0]), np.array([0, 1, 1, -1])) == pytest.approx(1 / 3)
    assert M.mask_iou(np.zeros(4), np.zeros(4)) == 1.0
    assert M.mask_f1(np.array([1, 1, 0]), np.array([0, 1, 1])) == pytest.approx(0.5)
    s = M.iou_summary([0.2, 0.4, 0.9, float("nan")])
    assert s["n"] == 3 and s["median"] == pytest.approx(0.4)
    assert s["std"] == pytest.approx(np.std([0.2, 0.4, 0.9]))


# ------------------------------------------------------------------ official LAV-DF conventions
def test_iou_1d_is_intersection_over_outer_span():
    iou = M.iou_1d(np.array([[0.0, 1.0], [0.5, 1.5], [3, 4]]), np.array([[0.0, 2.0]]))
    np.testing.assert_allclose(iou[:, 0], [0.5, 0.5, 0.0])


def test_strict_iou_threshold():
    # IoU exactly 0.5 is NOT a true positive at 0.5 (strictly greater), but is at 0.45
    rows = M.lavdf_ap_values(np.array([[0.9, 0.0, 1.0]]), np.array([[0.0, 2.0]]), 0.5)
    assert rows[:, 1].tolist() == [0.0]
    rows = M.lavdf_ap_values(np.array([[0.9, 0.0, 1.0]]), np.array([[0.0, 2.0]]), 0.45)
    assert rows[:, 1].tolist() == [1.0]
    # AR: best IoU 0.8 is recalled at 0.5..0.75 (6 of 10 thresholds), not at 0.8
    ar = M.lavdf_ar({"a": [[0.9, 0.0, 0.8]]}, [{"video_id": "a", "fake_periods": [[0.0, 1.0]]}])
    assert ar[100] == pytest.approx(0.6)


def test_duplicate_proposals_and_greedy_list_order():
    # two identical proposals for one segment: the first (in list order) is the TP, the copy a FP
    rows = M.lavdf_ap_values(np.array([[0.9, 0, 1], [0.9, 0, 1]]), np.array([[0, 1]]), 0.5)
    assert rows[:, 1].tolist() == [1.0, 0.0]
    # a proposal is taken by the first segment (in ground-truth order) it matches, even when it
    # fits the second better; the second segment then takes the next free matching proposal
    props = np.array([[0.9, 0.0, 1.0], [0.8, 0.0, 1.9], [0.7, 5, 6]])
    gts = np.array([[0.0, 1.05], [0.0, 1.0]])
    assert M.lavdf_ap_values(props, gts, 0.5)[:, 1].tolist() == [1.0, 1.0, 0.0]
    # list order, not score order, decides which duplicate is the TP
    rows = M.lavdf_ap_values(np.array([[0.2, 0, 1], [0.9, 0, 1]]), np.array([[0, 1]]), 0.5)
    assert rows[:, 1].tolist() == [1.0, 0.0]


def test_ap_hand_computed_skips_first_recall_step():
    truth = [{"video_id": "v1", "fake_periods": [[0, 1], [2, 3]]},
             {"video_id": "v2", "fake_periods": [[0, 2]]}]
    props = {"v1": [[0.9, 0, 1], [0.8, 5, 6], [0.7, 2, 3]],
             "v2": [[0.85, 0, 1], [0.6, 0, 2]]}          # [0, 1] vs [0, 2]: IoU 0.5, not > 0.5
    # pooled by score: TP FP FP TP TP, 3 segments -> P = 1 .5 .333 .5 .6, R = 1/3 1/3 1/3 2/3 1
    # AP = sum_{k>=2} (r_k - r_{k-1}) max_{j>=k} p_j = (1/3)(.6) + (1/3)(.6) = 0.4
    # (the step 0 -> 1/3 at precision 1 is not counted: VOC-style AP would be 0.733)
    ap = M.lavdf_ap(props, truth)
    assert ap == pytest.approx({0.5: 0.4, 0.75: 0.4, 0.95: 0.4})


def test_real_videos_add_false_positives_and_no_recall_terms():
    truth = [{"video_id": "a", "fake_periods": [[0, 1]]}, {"video_id": "b", "fake_periods": [[0, 1]]}]
    props = {"a": [[0.9, 0, 1]], "b": [[0.8, 0, 1]]}
    assert M.lavdf_ap(props, truth)[0.5] == pytest.approx(0.5)   # TP TP: only the second step
    # a real video whose proposal outranks both: FP TP TP, P = 0 .5 .667, R = 0 .5 1
    truth_r = truth + [{"video_id": "r", "fake_periods": []}]
    props_r = dict(props, r=[[0.95, 0, 1]])
    # AP = (0.5 - 0) * max(.5, .667) + (1 - 0.5) * .667: the leading false positive *raises* AP
    assert M.lavdf_ap(props_r, truth_r)[0.5] == pytest.approx(1 / 3 + 1 / 3)
    # AR ignores the real video entirely
    assert M.lavdf_ar(props_r, truth_r) == M.lavdf_ar(props, truth)


def test_no_proposals_count_all_segments_as_fn():
    truth = [{"video_id": "a", "fake_periods": [[0, 1]]},
             {"video_id": "b", "fake_periods": [[0, 1], [2, 3]]}]
    props = {"a": [[0.9, 0, 0.8], [0.5, 0, 1]], "b": []}
    ar = M.lavdf_ar(props, truth, n_proposals=[1, 2, 100])
    # a: top-1 best IoU 0.8 -> 6/10 thresholds, top-2 best 1.0 -> 10/10; b: 2 FN everywhere
    assert ar[1] == pytest.approx(6 / 10 / 3)
    assert ar[2] == pytest.approx(1 / 3)
    assert ar[100] == pytest.approx(1 / 3)      # fewer proposals than N: all of them
    assert M.lavdf_ap(props, truth)[0.5] == pytest.approx(0.0)  # a single TP row: no counted step
    with pytest.raises(KeyError, match="no proposals for video 'b'"):
        M.lavdf_ap({"a": []}, truth)


def test_ar_top_n_is_list_order():
    truth = [{"video_id": "a", "fake_periods": [[0, 1]]}]
    # the perfect proposal is second in the list: AR@1 does not see it, whatever its score
    props = {"a": [[0.1, 5, 6], [0.9, 0, 1]]}
    ar = M.lavdf_ar(props, truth, n_proposals=[1, 2])
    assert ar == {1: 0.0, 2: 1.0}


def test_time_scale_reads_official_frame_units():
    truth = [{"video_id": "a", "fake_periods": [[0.4, 0.8]]}, {"video_id": "b", "fake_periods": [[1, 2]]}]
    sec = {"a": [[0.9, 0.4, 0.8]], "b": [[0.7, 1.0, 2.0]]}
    frames = {"a": [[0.9, 10, 20]], "b": [[0.7, 25, 50]]}
    assert M.lavdf_metrics(frames, truth, time_scale=25) == M.lavdf_metrics(sec, truth)


def test_subsets_follow_modify_flags():
    truth = [
        {"video_id": "real", "fake_periods": [], "modify_video": 0, "modify_audio": 0},
        {"video_id": "vis", "fake_periods": [[0, 1]], "modify_video": 1, "modify_audio": 0},
        {"video_id": "aud", "fake_periods": [[0, 1]], "modify_video": 0, "modify_audio": 1},
        {"video_id": "both", "fake_periods": [[0, 1]], "modify_video": 1, "modify_audio": 1},
        {"video_id": "unknown", "fake_periods": [[0, 1]]},
    ]
    assert M.lavdf_subset_mask(truth, "full").all()
    assert M.lavdf_subset_mask(truth, "visual-only-subset").tolist() == [1, 1, 0, 1, 1]
    assert M.lavdf_subset_mask(truth, "audio-only-subset").tolist() == [1, 0, 1, 1, 1]
    assert M.lavdf_subset_mask(truth, "subset_for_audio_only").tolist() == [1, 0, 1, 1, 1]
    props = {"real": [], "vis": [[0.9, 0, 1]], "aud": [], "both": [[0.8, 0, 1]], "unknown": []}
    r = M.lavdf_metrics(props, truth)
    assert [r[s]["n_videos"] for s in M.LAVDF_SUBSETS] == [5, 4, 4]
    assert r["full"]["AR@100"] == pytest.approx(2 / 4)
    assert r["visual-only-subset"]["AR@100"] == pytest.approx(2 / 3)
    assert r["audio-only-subset"]["AR@100"] == pytest.approx(1 / 3)
    assert set(r["full"]) >= {"AP@0.5", "AP@0.75", "AP@0.95", "AR@100", "AR@50", "AR@20", "AR@10"}
    with pytest.raises(ValueError, match="unknown LAV-DF subset"):
        M.lavdf_subset_mask(truth, "video")


def _reference_ap(rows: list[tuple[float, bool]], n_segments: int) -> float:
    """The issue's formula written out directly: rows ranked by score (stable),
    AP = sum_{k=2..n} (r_k - r_{k-1}) * max_{j>=k} p_j."""
    ranked = sorted(rows, key=lambda r: -r[0])   # Python's sort is stable
    tp = 0
    p, r = [], []
    for k, (_, hit) in enumerate(ranked, start=1):
        tp += hit
        p.append(tp / k)
        r.append(tp / n_segments)
    return sum((r[k] - r[k - 1]) * max(p[k:]) for k in range(1, len(ranked)))


@pytest.mark.parametrize("seed", range(5))
def test_ap_matches_the_written_formula_on_random_cases(seed):
    rng = np.random.default_rng(seed)
    truth, props = [], {}
    for v in range(12):
        n_seg = int(rng.integers(0, 3))
        starts = np.sort(rng.uniform(0, 8, n_seg))
        segs = [[float(a), float(a + rng.uniform(0.3, 2))] for a in starts]
        truth.append({"video_id": f"v{v}", "fake_periods": segs})
        ps = []
        for _ in range(int(rng.integers(0, 6))):
            if segs and rng.random() < 0.6:
                a, b = segs[int(rng.integers(len(segs)))]
                a, b = a + rng.normal(0, 0.15), b + rng.normal(0, 0.15)
            else:
                a = rng.uniform(0, 9)
                b = a + rng.uniform(0.2, 2)
            ps.append([float(np.round(rng.uniform(), 1)), float(a), float(max(b, a + 0.05))])
        ps.sort(key=lambda x: -x[0])
        props[f"v{v}"] = ps
    n_segments = sum(len(t["fake_periods"]) for t in truth)
    for thr, ap in M.lavdf_ap(props, truth).items():
        rows = []
        for t in truth:
            pv = np.asarray(props[t["video_id"]]).reshape(-1, 3)
            rows += [(float(s), bool(h)) for s, h in M.lavdf_ap_values(pv, t["fake_periods"], thr)]
        assert ap == pytest.approx(_reference_ap(rows, n_segments))


def test_no_ground_truth_segments_gives_nan():
    r = M.lavdf_metrics({"a": [[0.9, 0, 1]]}, [{"video_id": "a", "fake_periods": []}])
    assert np.isnan(r["full"]["AP@0.5"]) and np.isnan(r["full"]["AR@100"])


def test_segments_to_official_orders_by_score():
    assert M.segments_to_official([[0, 1, 0.2], [2, 3, 0.9]]) == [[0.9, 2, 3], [0.2, 0, 1]]


def test_training_selects_with_the_auc_that_evaluate_reports():
    # dev_metrics (checkpoint selection) and binary_metrics (voca evaluate) share metrics.roc_auc
    from voca_models.train import dev_metrics

    rng = np.random.default_rng(7)
    rows = []
    for k in range(12):
        label = k % 2
        frame_labels = np.r_[np.zeros(10, int), np.full(6, label), np.full(4, -1)]
        rows.append({"label": label, "video_prob": float(np.round(rng.random(), 1)),
                     "frame_labels": frame_labels,
                     "frame_probs": np.round(0.3 * frame_labels + rng.random(20), 1)})
    got = dev_metrics(rows)
    labels = [r["label"] for r in rows]
    probs = [r["video_prob"] for r in rows]
    assert got["video_auc"] == M.binary_metrics(labels, probs)["auc"]
    assert got["video_auc"] == pytest.approx(sklearn_metrics.roc_auc_score(labels, probs), abs=1e-12)
    fl = np.concatenate([r["frame_labels"] for r in rows])
    fp = np.concatenate([r["frame_probs"] for r in rows])
    assert got["frame_auc"] == M.frame_metrics([fp], [fl])["auc"]
    assert got["frame_auc"] == pytest.approx(sklearn_metrics.roc_auc_score(fl[fl >= 0], fp[fl >= 0]))
    # one class: undefined, not an error, in both
    assert np.isnan(dev_metrics(rows[:1])["video_auc"]) and np.isnan(M.roc_auc([1], [0.3]))
