"""Training-free audio-visual synchrony (FaceSync-style), fitted at ``finalize``.

Lip-synced speech makes the mouth's appearance and the voice co-vary *frame by frame*. Identity
and voice timbre dominate raw features, so, as FaceSync (Slaney & Covell 2000) did:

1. remove each video's own mean from its visual and its audio feature sequence;
2. reduce each with PCA (default 64 components, bounded by the dims and the fit frames);
3. fit canonical correlation analysis (whitening + SVD, in numpy) on the frames of the **real
   train videos only** (nothing from dev/test or from fakes is used);
4. score every frame of every ok video by the correlation of the leading canonical variate
   pair(s) over a short centred window (default 9 frames), weighted by their canonical
   correlations. This is ``av_similarity``: near 1 where audio and mouth move together, near 0
   (or below) where one of the two streams was replaced.

The fitted projections are stored in the store (``av_visual_pca``, ``av_audio_pca``,
``av_cca_visual``, ``av_cca_audio``, ``av_cca_correlation``) and the settings in the root
attribute ``av_sync``, so :func:`score_video` can score new videos (e.g. at inference) exactly as
the store's frames were scored.

Example
-------
>>> from voca_data.store.writer import StoreWriter
>>> from voca_data.avsync import AVSyncConfig, finalize_hook
>>> w = StoreWriter("lavdf.zarr")                                    # doctest: +SKIP
>>> w.finalize(hooks=[finalize_hook(AVSyncConfig(window=9))])         # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

import numpy as np

from .store import schema

log = logging.getLogger(__name__)

__all__ = ["AVSyncConfig", "AVSyncModel", "fit", "score_video", "write_scores", "finalize_hook",
           "windowed_correlation", "load_model"]

@dataclass(frozen=True)
class AVSyncConfig:
    """Settings of the synchrony fit (defaults measured on synthetic data, docs/extraction.md).

    pca:
        PCA components kept for each stream (bounded by its dim and the number of fit frames).
    components:
        Leading canonical variate pairs used in the score.
    window:
        Frames of the centred window over which variates are correlated (odd; 1 = per frame).
    centre_window:
        Subtract the window's mean before correlating (Pearson) instead of a cosine around the
        video mean.
    ridge:
        Eigenvalues below ``ridge * largest`` are dropped before whitening.
    split:
        Split whose real videos fit the model (default: the store's train split, the first of
        :data:`voca_data.store.handle.SPLIT_ALIASES` ``["train"]`` present).
    centre_video:
        Remove each video's own mean from both streams (FaceSync; turning it off, for ablation
        only, centres with the mean of the fit frames instead).
    """

    pca: int = 64
    components: int = 1
    window: int = 9
    centre_window: bool = False
    ridge: float = 1e-6
    split: str | None = None
    centre_video: bool = True

    def __post_init__(self) -> None:
        if self.pca < 1 or self.components < 1:
            raise ValueError("AVSyncConfig: pca and components must be >= 1")
        if self.window < 1:
            raise ValueError("AVSyncConfig: window must be >= 1")


@dataclass
class AVSyncModel:
    """Fitted projections: ``visual_pca`` (visual_dim, kv), ``audio_pca`` (audio_dim, ka),
    ``cca_visual`` (kv, k), ``cca_audio`` (ka, k) and canonical ``correlation`` (k,)."""

    visual_pca: np.ndarray
    audio_pca: np.ndarray
    cca_visual: np.ndarray
    cca_audio: np.ndarray
    correlation: np.ndarray
    config: AVSyncConfig
    n_videos: int
    n_frames: int
    split: str
    visual_mean: np.ndarray | None = None  # only without per-video centring
    audio_mean: np.ndarray | None = None

    def project(self, visual: np.ndarray, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-video centred canonical variates ``(n, k)`` of one video's features."""
        v = np.asarray(visual, np.float64)
        a = np.asarray(audio, np.float64)
        if self.config.centre_video:
            v = v - v.mean(0)
            a = a - a.mean(0)
        else:
            v = v - self.visual_mean
            a = a - self.audio_mean
        return v @ self.visual_pca @ self.cca_visual, a @ self.audio_pca @ self.cca_audio


def _valid_rows(v: np.ndarray, a: np.ndarray) -> np.ndarray:
    return np.isfinite(v).all(axis=1) & np.isfinite(a).all(axis=1)


def _strings(arr: Any) -> np.ndarray:
    return np.array([str(x) for x in np.asarray(arr[:]).ravel()], dtype=str)


def _fit_split(writer: Any, split: str | None) -> str | None:
    from .store.handle import resolve_split

    if split is not None:
        return split
    return resolve_split(sorted(set(_strings(writer.array("split")).tolist())), "train")


def fit(writer: Any, config: AVSyncConfig = AVSyncConfig()) -> AVSyncModel | None:
    """Fit PCA + CCA on the real, ok videos of the train split, reading block by block.

    Returns ``None`` (with a warning) when there are fewer than 2 usable frames.
    """
    split = _fit_split(writer, config.split)
    if split is None:
        log.warning("AV sync: no train split in %s; av_similarity left NaN", writer.path)
        return None
    splits = _strings(writer.array("split"))
    labels = np.asarray(writer.array("label")[:])
    status = writer.status()
    n_frames = np.asarray(writer.array("n_frames")[:])
    chosen = (splits == split) & (labels == 0) & (status == schema.OK)
    dv, da = writer.visual_dim, writer.audio_dim
    svv = np.zeros((dv, dv))
    saa = np.zeros((da, da))
    sva = np.zeros((dv, da))
    sv, sa = np.zeros(dv), np.zeros(da)
    count = 0
    n_videos = 0
    for b in range(writer.n_blocks):
        sl = writer.block_slice(b)
        rows = np.flatnonzero(chosen[sl])
        if rows.size == 0:
            continue
        vis = writer.array("visual")[sl]
        aud = writer.array("audio")[sl]
        for k in rows:
            n = int(n_frames[sl.start + k])
            v = np.asarray(vis[k, :n], np.float64)
            a = np.asarray(aud[k, :n], np.float64)
            ok = _valid_rows(v, a)
            if ok.sum() < 2:
                continue
            v, a = v[ok], a[ok]
            if config.centre_video:
                v = v - v.mean(0)
                a = a - a.mean(0)
            sv += v.sum(0)
            sa += a.sum(0)
            svv += v.T @ v
            saa += a.T @ a
            sva += v.T @ a
            count += len(v)
            n_videos += 1
    if count < 2:
        log.warning("AV sync: no real %s video with audio and visual features in %s; "
                    "av_similarity left NaN", split, writer.path)
        return None
    mv, ma = sv / count, sa / count
    svv = svv / count - np.outer(mv, mv)
    saa = saa / count - np.outer(ma, ma)
    sva = sva / count - np.outer(mv, ma)

    def _pca(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vals, vecs = np.linalg.eigh(cov)
        order = np.argsort(vals)[::-1]
        vals, vecs = vals[order], vecs[:, order]
        keep = vals > config.ridge * max(vals[0], 1e-300)
        k = int(min(config.pca, keep.sum(), count - 1))
        k = max(k, 1)
        # deterministic sign: largest-magnitude loading positive
        vecs = vecs[:, :k]
        signs = np.sign(vecs[np.abs(vecs).argmax(0), np.arange(k)])
        signs[signs == 0] = 1
        return vecs * signs, np.maximum(vals[:k], 1e-300)

    pv, lv = _pca(svv)
    pa, la = _pca(saa)
    wv = 1.0 / np.sqrt(lv)
    wa = 1.0 / np.sqrt(la)
    cross = (pv.T @ sva @ pa) * wv[:, None] * wa[None, :]
    u, s, vt = np.linalg.svd(cross, full_matrices=False)
    k = int(min(config.components, len(s)))
    u, vt, s = u[:, :k], vt[:k].T, s[:k]
    signs = np.sign(u[np.abs(u).argmax(0), np.arange(k)])
    signs[signs == 0] = 1
    model = AVSyncModel(
        visual_pca=pv, audio_pca=pa,
        cca_visual=wv[:, None] * u * signs, cca_audio=wa[:, None] * vt * signs,
        correlation=np.clip(s, 0.0, 1.0), config=config, n_videos=n_videos, n_frames=count,
        split=split, visual_mean=mv, audio_mean=ma,
    )
    log.info("AV sync: fitted on %d real %s videos (%d frames): PCA %d/%d, canonical correlations %s",
             n_videos, split, count, pv.shape[1], pa.shape[1], np.round(model.correlation, 3).tolist())
    return model


def windowed_correlation(u: np.ndarray, w: np.ndarray, window: int, centre: bool = False) -> np.ndarray:
    """Correlation of ``u[t]`` and ``w[t]`` (``(n,)`` or ``(n, k)``) over the centred window
    ``[t - window//2, t + window//2]`` (clipped at the ends). ``centre`` subtracts the window
    means first (Pearson); otherwise a cosine around zero (the video mean, after centring).

    >>> t = np.arange(20.0); x = np.sin(t)
    >>> bool(np.all(windowed_correlation(x, x, 5) > 0.999))
    True
    """
    u = np.asarray(u, np.float64)
    w = np.asarray(w, np.float64)
    squeeze = u.ndim == 1
    if squeeze:
        u, w = u[:, None], w[:, None]
    n = len(u)
    if n == 0:
        return np.zeros((0,) if squeeze else (0, u.shape[1]))
    half = window // 2
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)

    def _wsum(x: np.ndarray) -> np.ndarray:
        c = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
        return c[hi] - c[lo]

    cnt = (hi - lo)[:, None].astype(np.float64)
    suw, suu, sww = _wsum(u * w), _wsum(u * u), _wsum(w * w)
    if centre:
        su, sw = _wsum(u), _wsum(w)
        suw = suw - su * sw / cnt
        suu = suu - su * su / cnt
        sww = sww - sw * sw / cnt
    denom = np.sqrt(np.maximum(suu, 0) * np.maximum(sww, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(denom > 1e-12, suw / np.where(denom > 1e-12, denom, 1.0), 0.0)
    r = np.clip(r, -1.0, 1.0)
    return r[:, 0] if squeeze else r


def score_video(model: AVSyncModel, visual: np.ndarray, audio: np.ndarray) -> np.ndarray:
    """``av_similarity`` of one video's ``(n, visual_dim)`` / ``(n, audio_dim)`` features: NaN
    where either stream is missing (e.g. no audio track)."""
    v = np.asarray(visual, np.float64)
    a = np.asarray(audio, np.float64)
    out = np.full(len(v), np.nan, np.float32)
    ok = _valid_rows(v, a)
    if ok.sum() < 2:
        return out
    pu, pw = model.project(v[ok], a[ok])
    r = windowed_correlation(pu, pw, model.config.window, model.config.centre_window)
    weights = model.correlation / max(model.correlation.sum(), 1e-12)
    out[ok] = (r @ weights).astype(np.float32)
    return out


def write_scores(writer: Any, model: AVSyncModel | None) -> int:
    """Write ``av_similarity`` block by block (whole shards); returns the number of scored videos.
    With ``model=None`` every value is reset to NaN."""
    n_frames_all = np.asarray(writer.array("n_frames")[:])
    status = writer.status()
    target = writer.array("av_similarity")
    scored = 0
    for b in range(writer.n_blocks):
        sl = writer.block_slice(b)
        out = np.full((sl.stop - sl.start, writer.n_frames_max), np.nan, np.float32)
        if model is not None and (status[sl] == schema.OK).any():
            vis = writer.array("visual")[sl]
            aud = writer.array("audio")[sl]
            for k in range(sl.stop - sl.start):
                if status[sl.start + k] != schema.OK:
                    continue
                n = int(n_frames_all[sl.start + k])
                out[k, :n] = score_video(model, vis[k, :n], aud[k, :n])
                scored += 1
        target[sl] = out  # the block's whole shard
    return scored


def save_model(writer: Any, model: AVSyncModel) -> None:
    """Store the fitted projections as variables and the settings in the ``av_sync`` attribute."""
    common = {"method": "per-video centring, PCA, CCA on real train frames (FaceSync)"}
    writer.write_variable("av_visual_pca", model.visual_pca.astype(np.float32),
                          ("visual_dim", "av_visual_pc"), {**common, "description": "PCA basis of centred visual"})
    writer.write_variable("av_audio_pca", model.audio_pca.astype(np.float32),
                          ("audio_dim", "av_audio_pc"), {**common, "description": "PCA basis of centred audio"})
    writer.write_variable("av_cca_visual", model.cca_visual.astype(np.float64),
                          ("av_visual_pc", "av_component"), {"description": "canonical weights on visual PCs"})
    writer.write_variable("av_cca_audio", model.cca_audio.astype(np.float64),
                          ("av_audio_pc", "av_component"), {"description": "canonical weights on audio PCs"})
    if not model.config.centre_video:
        writer.write_variable("av_visual_mean", np.asarray(model.visual_mean, np.float64),
                              ("visual_dim",), {"description": "mean of the fit frames"})
        writer.write_variable("av_audio_mean", np.asarray(model.audio_mean, np.float64),
                              ("audio_dim",), {"description": "mean of the fit frames"})
    writer.write_variable("av_cca_correlation", model.correlation.astype(np.float64),
                          ("av_component",), {"description": "canonical correlations on the fit frames"})


def load_model(path_or_group: Any) -> AVSyncModel | None:
    """The fitted model of a finalized store (``None`` if the store has none).

    >>> model = load_model("lavdf.zarr")                                # doctest: +SKIP
    >>> score_video(model, visual, audio)                                # doctest: +SKIP
    """
    import zarr

    group = path_or_group
    if not hasattr(group, "attrs"):
        group = zarr.open_group(str(path_or_group), mode="r")
    attrs = dict(group.attrs).get("av_sync") or {}
    if not attrs.get("fitted"):
        return None
    settings = {k: attrs[k] for k in ("pca", "components", "window", "centre_window", "ridge", "split",
                                      "centre_video") if k in attrs}
    return AVSyncModel(
        visual_pca=np.asarray(group["av_visual_pca"][:], np.float64),
        audio_pca=np.asarray(group["av_audio_pca"][:], np.float64),
        cca_visual=np.asarray(group["av_cca_visual"][:], np.float64),
        cca_audio=np.asarray(group["av_cca_audio"][:], np.float64),
        correlation=np.asarray(group["av_cca_correlation"][:], np.float64),
        config=AVSyncConfig(**settings), n_videos=int(attrs.get("n_videos", 0)),
        n_frames=int(attrs.get("n_frames", 0)), split=str(attrs.get("fit_split", "")),
        visual_mean=np.asarray(group["av_visual_mean"][:]) if "av_visual_mean" in group else None,
        audio_mean=np.asarray(group["av_audio_mean"][:]) if "av_audio_mean" in group else None,
    )


def _single_threaded_blas() -> Any:
    """BLAS limited to one thread: results then do not depend on the machine's thread count, so a
    resumed or re-run finalize writes bit-identical projections and scores."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def run(writer: Any, config: AVSyncConfig = AVSyncConfig(),
        reference: str | os.PathLike | None = None) -> dict[str, Any]:
    """Fit, store the projections, write ``av_similarity``; returns a summary for the history.

    ``reference``: a finalized store whose fitted model scores this store instead of a new fit
    (e.g. new videos extracted for inference are scored with the training store's projections).
    """
    with _single_threaded_blas():
        if reference is not None:
            model = load_model(reference)
            if model is None:
                raise ValueError(f"{reference} has no fitted AV synchrony model (finalize it first)")
            if model.visual_pca.shape[0] != writer.visual_dim or model.audio_pca.shape[0] != writer.audio_dim:
                raise ValueError(f"{reference}: its AV synchrony model has other feature dims than "
                                 f"{writer.path}; extract with the same encoders")
            return _run(writer, model.config, model, str(reference))
        return _run(writer, config, fit(writer, config), None)


def _run(writer: Any, config: AVSyncConfig, model: AVSyncModel | None, reference: str | None
         ) -> dict[str, Any]:
    settings = asdict(config)
    if model is None:
        write_scores(writer, None)
        writer.update_attrs(av_sync={**settings, "fitted": False,
                                     "reason": "no real train video with both features"})
        return {"av_sync": "not fitted"}
    save_model(writer, model)
    scored = write_scores(writer, model)
    writer.update_attrs(av_sync={
        **settings, "fitted": True, "fit_split": model.split, "n_videos": model.n_videos,
        "n_frames": model.n_frames, "pca_visual": int(model.visual_pca.shape[1]),
        "pca_audio": int(model.audio_pca.shape[1]), "correlation": model.correlation.tolist(),
        "method": "per-video centring; PCA; CCA (whitening + SVD) on real train frames; "
                  "windowed correlation of canonical variates weighted by canonical correlation",
        **({"reference_store": reference} if reference else {}),
    })
    return {"av_sync_videos_fit": model.n_videos, "av_sync_frames_fit": model.n_frames,
            "av_sync_videos_scored": scored}


def finalize_hook(config: AVSyncConfig | Mapping[str, Any] | None = None,
                  reference: str | os.PathLike | None = None) -> Callable[[Any], dict]:
    """A ``StoreWriter.finalize`` hook running :func:`run` with ``config`` (or the fitted model of
    the ``reference`` store)."""
    if config is None:
        config = AVSyncConfig()
    elif not isinstance(config, AVSyncConfig):
        config = AVSyncConfig(**dict(config))

    def _hook(writer: Any) -> dict[str, Any]:
        return run(writer, config, reference)

    _hook.__name__ = "av_sync"
    return _hook
