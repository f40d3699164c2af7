"""AV synchrony fit: windowed correlation, fit on real train frames only, scores in the store."""

from __future__ import annotations

import numpy as np
import pytest

from voca_data import avsync
from voca_data.store import schema
from voca_data.records import VideoRecord, frame_labels
from voca_data.store.writer import StoreWriter, init


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(score of a random pos > random neg) by ranks (ties count half)."""
    scores = np.concatenate([pos, neg])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    # average ranks of ties
    _, inv, counts = np.unique(scores, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    ranks = (sums / counts)[inv]
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _smooth_latent(rng, n, k=3):
    z = rng.standard_normal((n + 4, k))
    z = (z[:-4] + z[1:-3] + z[2:-2] + z[3:-1] + z[4:]) / 5  # ~5-frame smooth mouth motion
    return z


def _sync_store(path, n_videos=18, seed=0, vdim=24, adim=12, n=60):
    """Features where visual and audio share a latent (mouth motion) except in fake periods of
    audio-only / video-only fakes; each video has a large identity / voice offset."""
    rng = np.random.default_rng(seed)
    mv = rng.standard_normal((3, vdim))
    ma = rng.standard_normal((3, adim))
    recs, kinds = [], []
    splits = ["train"] * 10 + ["test"] * 8
    for i in range(n_videos):
        split = splits[i % len(splits)]
        kind = ["real", "audio", "video"][i % 3]
        periods = () if kind == "real" else ((0.8, 1.8),)
        recs.append(VideoRecord(f"{split}/{i}", f"{split}/{i}.mp4", split, label=int(kind != "real"),
                                fake_periods=periods))
        kinds.append(kind)
    w = init(path, recs, visual_dim=vdim, audio_dim=adim, max_frames=n, block_size=4)
    for b in range(w.n_blocks):
        block = w.empty_block(b)
        del block["frame_label"]  # computed by write_block from the stored periods
        for k, r in enumerate(w.records(b)):
            i = w.block_slice(b).start + k
            z = _smooth_latent(rng, n)
            za = z.copy()
            zv = z.copy()
            lab = frame_labels(r.fake_periods, n, w.fps).astype(bool)
            if kinds[i] == "audio":
                za[lab] = _smooth_latent(rng, n)[lab]
            elif kinds[i] == "video":
                zv[lab] = _smooth_latent(rng, n)[lab]
            block["visual"][k, :n] = 5 * rng.standard_normal(vdim) + zv @ mv + 0.3 * rng.standard_normal((n, vdim))
            block["audio"][k, :n] = 5 * rng.standard_normal(adim) + za @ ma + 0.3 * rng.standard_normal((n, adim))
            block["n_frames"][k] = n
            block["status"][k] = schema.OK
        w.write_block(b, block)
    return w, kinds


def test_windowed_correlation_matches_naive_loop():
    rng = np.random.default_rng(1)
    u, w = rng.standard_normal((30, 2)), rng.standard_normal((30, 2))
    for centre in (False, True):
        got = avsync.windowed_correlation(u, w, 7, centre=centre)
        for t in range(30):
            lo, hi = max(0, t - 3), min(30, t + 4)
            for j in range(2):
                a, b = u[lo:hi, j], w[lo:hi, j]
                if centre:
                    a, b = a - a.mean(), b - b.mean()
                assert got[t, j] == pytest.approx((a @ b) / np.sqrt((a @ a) * (b @ b)))


def test_fit_scores_and_stores_projections(tmp_path):
    w, kinds = _sync_store(tmp_path / "s.zarr")
    info = w.finalize(hooks=[avsync.finalize_hook(avsync.AVSyncConfig(pca=8, window=9))])
    assert info["complete"] and info["av_sync_videos_scored"] == 18
    w = StoreWriter(tmp_path / "s.zarr")
    attrs = w.attrs["av_sync"]
    assert attrs["fitted"] and attrs["fit_split"] == "train" and attrs["pca_visual"] == 8
    # real train videos only: every third video is real, 10 train videos -> indices 0,3,6,9
    assert attrs["n_videos"] == 4
    av = w.array("av_similarity")[:]
    fl = w.array("frame_label")[:]
    real = av[fl == 0]
    fake = av[fl == 1]
    assert np.isfinite(real).all() and np.isfinite(fake).all()
    assert _auc(real, fake) >= 0.9
    assert np.isnan(av[:, 60:]).all()  # padding stays NaN
    # the stored model reproduces the stored scores
    model = avsync.load_model(tmp_path / "s.zarr")
    vis, aud = w.array("visual")[5, :60], w.array("audio")[5, :60]
    np.testing.assert_allclose(avsync.score_video(model, vis, aud), av[5, :60], rtol=1e-5, atol=1e-6)


def test_fit_ignores_fakes_and_other_splits(tmp_path):
    w1, kinds = _sync_store(tmp_path / "a.zarr", seed=3)
    m1 = avsync.fit(w1, avsync.AVSyncConfig(pca=6))
    # overwrite every fake and every test video with noise: the fit must not change
    rng = np.random.default_rng(9)
    labels = w1.array("label")[:]
    splits = w1.array("split")[:]
    for b in range(w1.n_blocks):
        sl = w1.block_slice(b)
        vis = w1.array("visual")[sl]
        aud = w1.array("audio")[sl]
        for k in range(sl.stop - sl.start):
            i = sl.start + k
            if labels[i] == 1 or splits[i] != "train":
                vis[k, :60] = rng.standard_normal(vis[k, :60].shape)
                aud[k, :60] = rng.standard_normal(aud[k, :60].shape)
        w1.array("visual")[sl] = vis
        w1.array("audio")[sl] = aud
    m2 = avsync.fit(w1, avsync.AVSyncConfig(pca=6))
    np.testing.assert_allclose(m1.visual_pca, m2.visual_pca)
    np.testing.assert_allclose(m1.cca_audio, m2.cca_audio)
    np.testing.assert_allclose(m1.correlation, m2.correlation)


def test_no_train_split_leaves_nan(tmp_path):
    recs = [VideoRecord(f"test/{i}", f"test/{i}.mp4", "test", label=0) for i in range(3)]
    w = init(tmp_path / "t.zarr", recs, visual_dim=4, audio_dim=3, max_frames=10, block_size=2)
    for b in range(w.n_blocks):
        block = w.empty_block(b)
        block["visual"][:, :10] = 1.0
        block["audio"][:, :10] = 1.0
        block["n_frames"][:] = 10
        block["status"][:] = schema.OK
        w.write_block(b, block)
    info = w.finalize(hooks=[avsync.finalize_hook()])
    assert info["av_sync"] == "not fitted"
    assert np.isnan(StoreWriter(tmp_path / "t.zarr").array("av_similarity")[:]).all()
    assert avsync.load_model(tmp_path / "t.zarr") is None


def test_av_similarity_ranks_async_fakes_below_real_frames_on_synthetic_media(tmp_path):
    """Real MP4s (synthetic talking faces), tiny visual encoder + logmel: av_similarity alone
    separates frames of audio-only and video-only fakes from real frames (AUC >= 0.9); in-sync
    "both" fakes are excluded, as in LAV-DF."""
    import json
    import sys
    from pathlib import Path

    import zarr

    sys.path.insert(0, str(Path(__file__).parent))
    from extract_fixtures import make_synth, tiny_config

    from voca_data.extract import extract
    from voca_data.sources import load

    root = make_synth(tmp_path / "ds", "lavdf", videos=24, seed=11, duration_range=(2.0, 3.0))
    # MTCNN: the crop follows the mouth (the synthetic faces move and vary in scale per video)
    store = extract(load("lavdf", root), root, tmp_path / "s.zarr",
                    tiny_config(block_size=8, detector="mtcnn"), scheduler="synchronous",
                    progress=False)
    kind = {e["file"]: e["kind"] for e in json.loads((root / "synth_manifest.json").read_text())["entries"]}
    g = zarr.open_group(str(store), mode="r")
    assert g.attrs["av_sync"]["fitted"] and g.attrs["av_sync"]["window"] == 9
    paths = [str(x) for x in g["path"][:]]
    n_frames, av, lab = g["n_frames"][:], g["av_similarity"][...], g["frame_label"][...]
    real, fake = [], []
    for k, p in enumerate(paths):
        a, lk = av[k, : n_frames[k]], lab[k, : n_frames[k]]
        real.append(a[lk == 0])
        if kind[p] in ("modify_audio", "modify_video"):
            fake.append(a[lk == 1])
    real, fake = np.concatenate(real), np.concatenate(fake)
    assert len(fake) > 100 and np.isfinite(real).all() and np.isfinite(fake).all()
    assert _auc(real, fake) >= 0.9


def test_reference_store_model_scores_another_store(tmp_path):
    wa, _ = _sync_store(tmp_path / "a.zarr", seed=0)
    wa.finalize(hooks=[avsync.finalize_hook(avsync.AVSyncConfig(pca=8))])
    wb, _ = _sync_store(tmp_path / "b.zarr", seed=5)
    wb.finalize(hooks=[avsync.finalize_hook(reference=tmp_path / "a.zarr")])
    wb = StoreWriter(tmp_path / "b.zarr")
    assert wb.attrs["av_sync"]["reference_store"] == str(tmp_path / "a.zarr")
    model_a = avsync.load_model(tmp_path / "a.zarr")
    np.testing.assert_array_equal(avsync.load_model(tmp_path / "b.zarr").cca_visual, model_a.cca_visual)
    for k in (0, 7):
        expected = avsync.score_video(model_a, wb.array("visual")[k, :60], wb.array("audio")[k, :60])
        np.testing.assert_allclose(wb.array("av_similarity")[k, :60], expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="no fitted AV synchrony model"):
        avsync.run(wb, reference=_unfitted(tmp_path))


def _unfitted(tmp_path):
    recs = [VideoRecord(f"test/{i}", f"test/{i}.mp4", "test", label=0) for i in range(2)]
    init(tmp_path / "u.zarr", recs, visual_dim=24, audio_dim=12, max_frames=10, block_size=2)
    return tmp_path / "u.zarr"
