"""Inference with a checkpoint on a store, one video file, or a directory of videos.

Raw videos are first extracted into a store (in ``work_dir``, a temporary directory by default)
with the encoders recorded in the checkpoint's training store, so the features are the ones the
model was trained on; a mismatch of feature dimensions is refused. Then every video gets::

    {video_id, num_frames, video_prob, video_pred, fake_ratio_pred, num_fake_frames_pred,
     segments: [[start_s, end_s, score], ...]}

(``frame_probs`` too with ``keep_frame_probs=True``). Segments are the temporal proposals of
:mod:`voca_models.proposals` (highest score first, at most 100), in seconds.

Example
-------
>>> from voca_models.infer import infer
>>> rows = infer("runs/localizer", "clip.mp4", device="cpu")          # doctest: +SKIP
>>> rows[0]["video_prob"], rows[0]["segments"][:1]                      # doctest: +SKIP
(0.93, [[2.12, 3.4, 0.81]])
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .proposals import generate_proposals

log = logging.getLogger(__name__)

__all__ = ["EXTERNAL_PATH_SETTINGS", "VIDEO_SUFFIXES", "external_paths", "extract_config_for", "infer",
           "is_store", "video_records"]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv")


def is_store(path: str | Path) -> bool:
    """A voca store: a Zarr v3 directory (``zarr.json``) or an HDF5 file."""
    path = Path(path)
    if path.is_dir():
        return (path / "zarr.json").exists()
    if path.is_file():
        from voca_data.store.reader import is_hdf5

        return is_hdf5(path)
    return False


def video_records(source: str | Path) -> tuple[Path, list[Any]]:
    """``(root, records)`` for one video file or every video under a directory (recursively);
    ids are the paths relative to the root without suffix, split ``test``, label unknown."""
    from voca_data import VideoRecord

    source = Path(source)
    if source.is_file():
        if source.suffix.lower() not in VIDEO_SUFFIXES:
            raise ValueError(f"{source} is neither a voca store nor a video file "
                             f"({', '.join(VIDEO_SUFFIXES)})")
        root, files = source.parent, [source]
    elif source.is_dir():
        root = source
        files = sorted(p for p in source.rglob("*")
                       if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith("."))
        if not files:
            raise ValueError(f"{source} holds no video files ({', '.join(VIDEO_SUFFIXES)}) and is not a "
                             "voca store")
    else:
        raise FileNotFoundError(f"{source}: no such store, video file or directory")
    records = []
    for f in files:
        rel = f.relative_to(root).as_posix()
        records.append(VideoRecord(video_id=rel.rsplit(".", 1)[0], path=rel, split="test", label=-1))
    return root, records


#: extraction settings that name files outside the checkpoint
EXTERNAL_PATH_SETTINGS = ("visual_weights", "audio_weights", "av_reference")


def _names_a_file(name: str, value: Any) -> bool:
    """Whether an extraction setting names a file or directory (an open_clip tag such as
    ``openai`` does not: it is resolved in the Hugging Face cache, never from the checkpoint)."""
    if value in (None, "", "none", "random"):
        return False
    if name != "visual_weights":
        return True
    text = str(value)
    return ("/" in text or "\\" in text or text.startswith((".", "~"))
            or text.lower().endswith((".pt", ".pth", ".bin", ".safetensors", ".ckpt")))


def external_paths(config: Any, given: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The settings of ``config`` that name files outside the checkpoint and were not ``given``
    explicitly by the caller.

    >>> from voca_data.extract import ExtractConfig
    >>> external_paths(ExtractConfig(audio_weights="/w"), given={})
    {'audio_weights': '/w'}
    """
    given = given or {}
    return {n: str(getattr(config, n)) for n in EXTERNAL_PATH_SETTINGS
            if n not in given and _names_a_file(n, getattr(config, n, None))}


def extract_config_for(meta: Mapping[str, Any], device: str = "cpu",
                       trust_paths: bool = False) -> Any:
    """The :class:`voca_data.extract.ExtractConfig` of the checkpoint's training store: from the
    ``extraction`` settings recorded in the checkpoint's store provenance, else (only with
    ``trust_paths``: the path is written in the checkpoint) from the training store itself if it
    is still on disk. Paths in the result are not checked here: see :func:`external_paths`."""
    from voca_data.extract import ExtractConfig

    store = meta.get("store") or {}
    candidates: list[Mapping[str, Any]] = []
    for holder in (store.get("provenance") or {}, store, meta.get("provenance") or {}):
        if isinstance(holder, Mapping) and isinstance(holder.get("extraction"), Mapping):
            candidates.append({"extraction": holder["extraction"]})
    if candidates:
        return ExtractConfig.from_store(candidates[0], device=device)
    path = store.get("path")
    if trust_paths and path and Path(path).exists() and is_store(path):
        return ExtractConfig.from_store(path, device=device)
    raise ValueError(
        f"the checkpoint {meta.get('checkpoint_dir', '')} does not record how its training store was "
        "extracted (no 'extraction' settings)"
        + ("" if trust_paths else " and the training store it names is not read without "
           "--trust-checkpoint-paths")
        + ": extract the videos yourself with the same encoders (voca extract) and run voca infer "
        "on that store")


def _av_reference(meta: Mapping[str, Any], trust_paths: bool = False) -> str | None:
    """The training store, whose fitted AV synchrony model scores the new videos (they have no
    real train videos to fit one), when ``trust_paths`` allows following the path the checkpoint
    names; ``None`` (``av_similarity`` left NaN) otherwise or when it is gone."""
    path = (meta.get("store") or {}).get("path")
    features = meta.get("features") or []
    hurt = " (the model uses it: predictions will suffer)" if "av_similarity" in features else ""
    if not trust_paths:
        if path:
            log.warning("the checkpoint names its training store %s for AV synchrony; it is not "
                        "read without --trust-checkpoint-paths (or pass --av-reference STORE): "
                        "av_similarity of the new videos stays NaN%s", path, hurt)
        return None
    if path and is_store(path):
        return str(path)
    log.warning("the checkpoint's training store %s is not on disk: av_similarity of the new videos "
                "stays NaN%s", path, hurt)
    return None


def _check_dims(meta: Mapping[str, Any], store: Any) -> None:
    from .data import StoreInfo

    info = StoreInfo.load(store)
    store = info.path
    want = meta.get("feature_dims") or {}
    for name in meta.get("features") or list(want):
        if name not in info.feature_dims:
            raise ValueError(
                f"{store}: the store has no per-frame feature {name!r}, which the model needs (it was "
                f"trained with features {list(meta.get('features') or want)}): use a store that has it")
        if name in want and info.feature_dims.get(name) != int(want[name]):
            raise ValueError(
                f"{store}: feature {name!r} has {info.feature_dims.get(name)} dims but the model was trained "
                f"on {want[name]}: the encoders differ from the checkpoint's training store")


@contextlib.contextmanager
def _work_dir(work_dir: str | Path | None) -> Iterator[Path]:
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        yield Path(work_dir)
        return
    with tempfile.TemporaryDirectory(prefix="voca-infer-") as d:
        yield Path(d)


def infer(
    checkpoint: str | Path, source: str | Path, threshold: float = 0.5, device: str = "cpu",
    batch_size: int = 8, split: str | None = None, work_dir: str | Path | None = None,
    plot_dir: str | Path | None = None, max_plots: int = 20, keep_frame_probs: bool = False,
    proposal_options: Mapping[str, Any] | None = None, progress: bool = False,
    extract_options: Mapping[str, Any] | None = None, trust_checkpoint_paths: bool = False,
) -> list[dict[str, Any]]:
    """Predict every video of ``source`` (a store path or URL, a video file or a directory of
    videos).

    Parameters
    ----------
    threshold:
        Decision threshold for ``video_pred`` and for the predicted fake frames
        (``fake_ratio_pred``, ``num_fake_frames_pred``).
    device:
        ``cpu``, ``cuda`` or ``auto`` (model and, for raw videos, the encoders).
    split:
        Only this split of a store (default: all its ok videos).
    work_dir:
        Where raw videos are extracted (kept); default a temporary directory (removed).
    plot_dir:
        Write a timeline PNG per video (up to ``max_plots``) there.
    extract_options:
        Overrides of the extraction settings (e.g. ``{"batch_size": 16}``); the encoders
        themselves always come from the checkpoint. ``visual_weights``, ``audio_weights`` and
        ``av_reference`` given here are the caller's own choice of files.
    trust_checkpoint_paths:
        Follow the weight files, weight directories and training store whose paths are written
        in the checkpoint's ``meta.json``. Off by default: a checkpoint is JSON + safetensors and
        never makes voca load a file from outside itself; a checkpoint naming such a file is
        refused (with the name) unless the file is given in ``extract_options`` or this is set.
    """
    import voca_models

    from voca_data.devices import resolve_device

    device = resolve_device(device)
    model, meta = voca_models.load_checkpoint(checkpoint, map_location=device)
    import voca_data

    remote = isinstance(source, str) and "://" in source  # a store URL (http://, s3://, ...)
    if not remote:
        source = Path(source)
    with _work_dir(work_dir) as wd:
        if remote or is_store(source):
            store = voca_data.Store.open(source)  # opened once, used by every step below
            _check_dims(meta, store)
        else:
            from voca_data.extract import extract

            root, records = video_records(source)
            given = dict(extract_options or {})
            config = extract_config_for(meta, device=device, trust_paths=trust_checkpoint_paths)
            if hasattr(config, "av_reference") and not getattr(config, "av_reference", None) \
                    and "av_reference" not in given:
                config.av_reference = _av_reference(meta, trust_checkpoint_paths)
            for k, v in given.items():
                setattr(config, k, v)
            named = {} if trust_checkpoint_paths else external_paths(config, given)
            if named:
                flags = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in named.items())
                raise ValueError(
                    f"the checkpoint {meta.get('checkpoint_dir', checkpoint)} names files outside "
                    f"itself ({', '.join(f'{k}={v}' for k, v in named.items())}); they are not "
                    f"loaded unless you pass them yourself ({flags}) or --trust-checkpoint-paths")
            config.block_size = min(config.block_size, max(1, len(records)))
            out_path = wd / "features.zarr"
            log.info("extracting %d video(s) from %s with %s / %s", len(records), source,
                     config.visual_arch, config.audio_encoder)
            extract(records, root, out_path, config, scheduler="synchronous", progress=progress,
                    dataset_info={"name": "voca-infer", "source": str(source)})
            store = voca_data.Store.open(out_path)
            _check_dims(meta, store)
        if split is not None:  # the store's name for it (``dev`` -> ``valset`` ...)
            split = store.resolve_split("prediction", split)
        rows = voca_models.predict(model, store, split=split, meta=meta, batch_size=batch_size,
                                   device=device, progress=progress)
        fps = store.fps
        out = []
        failed = _failed_videos(store, split)
        for r in rows:
            out.append(_prediction(r, fps, threshold, proposal_options, keep_frame_probs))
        for vid, err in failed:
            out.append({"video_id": vid, "num_frames": 0, "video_prob": None, "video_pred": None,
                        "fake_ratio_pred": None, "num_fake_frames_pred": None, "segments": [],
                        "error": err})
        if plot_dir is not None:
            from .evaluate import read_av_similarity
            from .plots import plot_timeline, safe_name

            shown = [r for r in out if r.get("error") is None][:max_plots]
            sims = read_av_similarity(store, [r["video_id"] for r in shown])
            probs = {r["video_id"]: r for r in rows}
            context = (f"source {Path(str(source)).name}" + (f", split {split}" if split else "")
                       + f"  |  checkpoint {checkpoint}  |  threshold {threshold:.2f} "
                       "(given to voca infer; default 0.5)")
            for r in shown:
                v = dict(r, frame_probs=probs[r["video_id"]]["frame_probs"], n_frames=r["num_frames"])
                r["plot"] = str(plot_timeline(v, Path(plot_dir) / f"{safe_name(r['video_id'])}.png", fps=fps,
                                              threshold=threshold, av_similarity=sims.get(r["video_id"]),
                                              context=context))
    return out


def _failed_videos(store: Any, split: str | None = None) -> list[tuple[str, str]]:
    """``(video_id, error)`` of the videos of ``split`` that are not ok (pending or failed)."""
    errors = store.dataset["error"].values.tolist() if "error" in store.dataset else None
    idx = np.flatnonzero(store.select(split) & (store.status != store.OK))
    return [(str(store.video_ids[i]), str((errors[i] if errors else "") or "") or "not extracted")
            for i in idx.tolist()]


def _prediction(row: Mapping[str, Any], fps: float, threshold: float,
                proposal_options: Mapping[str, Any] | None, keep_frame_probs: bool) -> dict[str, Any]:
    probs = row.get("frame_probs")
    n = int(row["n_frames"])
    video_prob = float(row["video_prob"])
    out: dict[str, Any] = {"video_id": row["video_id"], "num_frames": n, "video_prob": video_prob,
                           "video_pred": int(video_prob >= threshold)}
    if probs is not None:
        probs = np.asarray(probs, dtype=np.float64)
        fake = int((np.nan_to_num(probs) >= threshold).sum())
        out["num_fake_frames_pred"] = fake
        out["fake_ratio_pred"] = fake / n if n else 0.0
        out["segments"] = [[round(float(a), 4), round(float(b), 4), round(float(s), 6)]
                           for a, b, s in generate_proposals(probs, fps, **dict(proposal_options or {}))]
        if keep_frame_probs:
            out["frame_probs"] = probs
    else:  # video-level model: no localization
        out["num_fake_frames_pred"] = None
        out["fake_ratio_pred"] = None
        out["segments"] = []
    return out
