"""Import per-video npz feature folders (the layout today's LAV-DF scripts write) into a store.

Layout::

    ROOT/<split>/<name>/visual_embeddings.npz   embeddings (T, D_v) float32, frame_labels (T,), paths (T,)
    ROOT/<split>/<name>/audio_embeddings.npz    embeddings (T_a, D_a)
    ROOT/<split>/<name>/similarity_stats.npz    optional: similarities (L,) + scalar statistics

The store's ``video_id`` is ``"<split>/<name>"``, its timeline the visual one (``n_frames = T`` at
``fps``). What becomes what:

* ``visual`` <- ``embeddings`` of ``visual_embeddings.npz`` (cast to float16).
* ``audio`` <- ``embeddings`` of ``audio_embeddings.npz``, **resampled onto the frame timeline by
  linear interpolation** when ``T_a != T``: both sequences span the same clip, audio row ``j``
  is centred at ``(j + 0.5) / T_a`` of it and frame ``t`` at ``(t + 0.5) / T``; frame ``t``
  takes the linear interpolation of the two audio rows around its centre (the first/last row
  beyond the ends). The root attribute ``npz_import.audio_alignment`` records the rule and how
  many videos were resampled; each resampled video's ``notes`` say ``T_a -> T``.
* labels: from the LAV-DF metadata when given, read and validated by the LAV-DF source
  (:func:`voca_data.sources.lavdf.load_lavdf`, with ``check_files=False``: a bad record is
  refused with the same message as ``voca extract lavdf`` gives; ``label`` = 1 when it has fake
  periods); ``frame_label`` then follows the store's rule from the periods, and a disagreement
  with the npz's ``frame_labels`` is noted in ``notes``. Without metadata, ``frame_label`` is the
  npz's ``frame_labels`` and ``fake_periods`` are its runs of fake frames
  (``[first/fps, (last+1)/fps)``, which give back exactly those frames); ``label`` = any fake frame.
* ``visual_similarity`` = cos(visual[t], visual[t-1]) computed from the float32 embeddings.
* ``av_similarity`` <- ``similarities`` of ``similarity_stats.npz`` (the scripts' per-frame cosine
  of audio[t] and visual[t] after truncating both to the shorter length, not resampled) for its
  first ``min(L, T)`` frames, NaN after; its scalar statistics (mean, std, percentiles, ...) are not
  stored (they follow from the curve).
* ``has_audio`` = 1 for every imported video (its audio embeddings are the audio).
* ``duration`` = ``T / fps`` (the feature timeline), ``source_fps`` = ``fps``; no faces
  (``face_box`` NaN, ``face_score`` 0).

A missing or unreadable file fails that video only (``status = failed``, ``error`` names the
file and says what is wrong); the import goes on. Re-running on an unfinished store resumes it.

Example
-------
>>> from voca_data.sources.npz import import_npz
>>> import_npz("LAV-DF_feats", "lavdf.zarr", metadata="metadata.min.json")   # doctest: +SKIP
{'complete': True, 'ok': ..., 'failed': ..., 'pending': 0, ...}
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..store import schema
from ..provenance import sha256_file
from ..records import VideoRecord, frame_labels

log = logging.getLogger(__name__)

__all__ = [
    "AUDIO_FILE",
    "SIMILARITY_FILE",
    "VISUAL_FILE",
    "import_npz",
    "resample_linear",
    "runs_to_periods",
    "scan",
]

VISUAL_FILE = "visual_embeddings.npz"
AUDIO_FILE = "audio_embeddings.npz"
SIMILARITY_FILE = "similarity_stats.npz"
_FILES = (VISUAL_FILE, AUDIO_FILE, SIMILARITY_FILE)

ALIGNMENT_RULE = (
    "linear interpolation onto the frame timeline: audio row j centred at (j+0.5)/T_a of the clip, "
    "frame t at (t+0.5)/T; frame t = linear interpolation of the two audio rows around its centre, "
    "first/last row beyond the ends; identity when T_a == T"
)


class NpzError(ValueError):
    """One video's npz file is missing or unreadable (the message names the file)."""


# --------------------------------------------------------------------------- small pure helpers
def resample_linear(x: np.ndarray, n: int) -> np.ndarray:
    """Resample rows of ``x`` (T_a, D) onto ``n`` frames spanning the same clip (see module doc).

    >>> resample_linear(np.array([[0.0], [1.0]]), 4).ravel().tolist()
    [0.0, 0.25, 0.75, 1.0]
    """
    x = np.asarray(x)
    t_a = x.shape[0]
    if t_a == n:
        return x.copy()
    if t_a == 0:
        raise ValueError("cannot resample an empty sequence")
    if t_a == 1:
        return np.repeat(x, n, axis=0)
    pos = (np.arange(n, dtype=np.float64) + 0.5) * t_a / n - 0.5
    pos = np.clip(pos, 0.0, t_a - 1.0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, t_a - 1)
    frac = (pos - lo)[:, None]
    xf = x.astype(np.float64)
    return ((1.0 - frac) * xf[lo] + frac * xf[hi]).astype(x.dtype if x.dtype.kind == "f" else np.float32)


def runs_to_periods(labels: np.ndarray, fps: float) -> tuple[tuple[float, float], ...]:
    """Fake periods ``[first/fps, (last+1)/fps)`` of each run of 1s: the frame-label rule gives
    back exactly these frames.

    >>> runs_to_periods(np.array([0, 1, 1, 0, 1]), 25.0)
    ((0.04, 0.12), (0.16, 0.2))
    """
    lab = (np.asarray(labels).ravel() == 1).astype(np.int8)
    edges = np.diff(np.concatenate([[0], lab, [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return tuple((float(s) / fps, float(e) / fps) for s, e in zip(starts, ends))


def _npy_header(path: Path, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of array ``key`` of an npz file without reading its data."""
    if not path.is_file():
        raise NpzError(f"{path.name} is missing")
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if f"{key}.npy" not in names:
                raise NpzError(f"{path.name} has no {key!r} array (has {sorted(n[:-4] for n in names)})")
            with zf.open(f"{key}.npy") as f:
                major, _ = np.lib.format.read_magic(f)
                read = (np.lib.format.read_array_header_1_0 if major == 1
                        else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read(f)
        return tuple(shape), np.dtype(dtype)
    except NpzError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError ...
        raise NpzError(f"{path.name} is unreadable ({type(exc).__name__}: {exc})") from exc


def _load(path: Path, keys: Sequence[str], optional: Sequence[str] = ()) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise NpzError(f"{path.name} is missing")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise NpzError(f"{path.name} has no {missing[0]!r} array (has {sorted(z.files)})")
            return {k: np.asarray(z[k]) for k in (*keys, *optional) if k in z.files}
    except NpzError:
        raise
    except Exception as exc:
        raise NpzError(f"{path.name} is unreadable ({type(exc).__name__}: {exc})") from exc


# --------------------------------------------------------------------------- the manifest
@dataclass
class NpzVideo:
    """One video folder of the npz layout, and what the scan found."""

    record: VideoRecord
    folder: Path
    n_frames: int = 0
    problem: str = ""  # why the video will fail, found while scanning
    notes: list[str] = field(default_factory=list)
    audio_frames: int | None = None  # T_a from the audio npy header (None: unreadable)


def scan(root: str | Path, metadata: str | Path | None = None, fps: float = schema.DEFAULT_FPS,
         progress: bool = False) -> list[NpzVideo]:
    """The videos of an npz tree, with their frame counts read from the npy headers (cheap).

    With ``metadata`` the videos are the metadata's records (a record without a folder is kept and
    will fail); without it, every ``ROOT/<split>/<name>/`` folder, labelled from its
    ``frame_labels``.
    """
    from voca_data.progress import tqdm

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such directory (expected ROOT/<split>/<video>/*.npz)")
    videos: list[NpzVideo] = []
    if metadata is not None:
        from .lavdf import load_lavdf

        # the LAV-DF source's parser and checks; the media files are not here (check_files=False)
        for record in load_lavdf(root, metadata=metadata, fps=fps, check_files=False):
            videos.append(NpzVideo(record, root / record.split / Path(record.path).stem))
        known = {v.folder for v in videos}
        extra = [d for d in root.glob("*/*") if d.is_dir() and d not in known]
        if extra:
            log.warning("%d folders under %s are not in %s and are skipped (e.g. %s)", len(extra), root,
                        metadata, extra[0].relative_to(root))
    else:
        folders = sorted(d for d in root.glob("*/*")
                         if d.is_dir() and any((d / f).exists() for f in _FILES))
        if not folders:
            raise FileNotFoundError(f"{root}: no ROOT/<split>/<video>/{VISUAL_FILE} folders found")
        for d in folders:
            split, name = d.parent.name, d.name
            videos.append(NpzVideo(VideoRecord(f"{split}/{name}", f"{split}/{name}", split), d))
    for v in tqdm(videos, desc="scan", disable=not progress, leave=False):
        try:
            shape, _ = _npy_header(v.folder / VISUAL_FILE, "embeddings")
            if len(shape) != 2 or shape[0] < 1:
                raise NpzError(f"{VISUAL_FILE}: embeddings have shape {shape}, expected (T, D) with T >= 1")
            v.n_frames = int(shape[0])
            try:
                audio_shape, _ = _npy_header(v.folder / AUDIO_FILE, "embeddings")
                v.audio_frames = int(audio_shape[0]) if audio_shape else None
            except NpzError:
                v.audio_frames = None  # the video fails when it is loaded, naming the file
            if metadata is None:
                labels = _load(v.folder / VISUAL_FILE, [], optional=["frame_labels"]).get("frame_labels")
                if labels is not None and labels.shape == (v.n_frames,):
                    r = v.record
                    v.record = VideoRecord(r.video_id, r.path, r.split, label=int((labels == 1).any()),
                                           fake_periods=runs_to_periods(labels, fps), n_frames=v.n_frames)
                else:
                    v.notes.append(f"{VISUAL_FILE} has no frame_labels of length T: label unknown")
        except NpzError as exc:
            v.problem = str(exc) if str(exc).startswith(VISUAL_FILE) else f"{VISUAL_FILE}: {exc}"
    return videos


# --------------------------------------------------------------------------- one video
_FLOAT16_MAX = float(np.finfo(np.float16).max)


def _check_float16_range(x: np.ndarray, file: str) -> None:
    """The store keeps embeddings as float16: a value beyond its range would become inf."""
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak > _FLOAT16_MAX:
        raise NpzError(f"{file}: embeddings reach {peak:.6g}, beyond float16's range (+-{_FLOAT16_MAX:g}) "
                       "that the store uses; they would be stored as inf. Rescale them")


def _load_video(v: NpzVideo, visual_dim: int, audio_dim: int, fps: float,
                metadata: bool) -> dict[str, Any]:
    """Arrays for one video; raises NpzError naming the file on any problem."""
    if v.problem:
        raise NpzError(v.problem)
    notes = list(v.notes)
    vis = _load(v.folder / VISUAL_FILE, ["embeddings"], optional=["frame_labels"])
    emb = vis["embeddings"]
    t = emb.shape[0] if emb.ndim == 2 else -1
    if emb.ndim != 2 or emb.shape[1] != visual_dim or t != v.n_frames:
        raise NpzError(f"{VISUAL_FILE}: embeddings have shape {emb.shape}, expected ({v.n_frames}, {visual_dim})")
    if emb.dtype.kind != "f":
        raise NpzError(f"{VISUAL_FILE}: embeddings have dtype {emb.dtype}, expected floats")
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        raise NpzError(f"{VISUAL_FILE}: embeddings are NaN/inf at {int(bad.sum())} of {t} frames")
    _check_float16_range(emb, VISUAL_FILE)
    try:
        aud = _load(v.folder / AUDIO_FILE, ["embeddings"])["embeddings"]
    except NpzError as exc:
        raise NpzError(f"{AUDIO_FILE}: {exc}" if not str(exc).startswith(AUDIO_FILE) else str(exc)) from None
    if aud.ndim != 2 or aud.shape[0] < 1 or aud.shape[1] != audio_dim or aud.dtype.kind != "f":
        raise NpzError(f"{AUDIO_FILE}: embeddings have shape {aud.shape} ({aud.dtype}), "
                       f"expected (T_a, {audio_dim}) floats")
    if not np.isfinite(aud).all():
        raise NpzError(f"{AUDIO_FILE}: embeddings contain NaN/inf")
    _check_float16_range(aud, AUDIO_FILE)
    resampled = aud.shape[0] != t
    if resampled:
        notes.append(f"audio resampled from {aud.shape[0]} to {t} frames (linear)")
        aud = resample_linear(aud.astype(np.float32), t)
    av = None
    sim_path = v.folder / SIMILARITY_FILE
    if sim_path.exists():
        sims = _load(sim_path, [], optional=["similarities"]).get("similarities")
        if sims is None:
            notes.append(f"{SIMILARITY_FILE} has no 'similarities': av_similarity left NaN")
        elif sims.ndim != 1:
            raise NpzError(f"{SIMILARITY_FILE}: similarities have shape {sims.shape}, expected (L,)")
        else:
            av = sims[:t].astype(np.float32)
    labels = vis.get("frame_labels")
    if metadata and labels is not None and v.record.label != -1:
        expected = frame_labels(v.record.fake_periods, t, fps)
        if labels.shape != (t,):
            notes.append(f"{VISUAL_FILE} frame_labels have shape {labels.shape}, not ({t},): ignored")
        elif (diff := int((labels.astype(np.int64) != expected).sum())):
            notes.append(f"{VISUAL_FILE} frame_labels disagree with the metadata's fake periods at "
                         f"{diff} of {t} frames (metadata used)")
    e32 = emb.astype(np.float32)
    unit = e32 / np.maximum(np.linalg.norm(e32, axis=1, keepdims=True), 1e-12)
    vsim = np.full(t, np.nan, dtype=np.float32)
    vsim[1:] = (unit[1:] * unit[:-1]).sum(axis=1)
    return {"visual": emb, "audio": aud, "av_similarity": av, "visual_similarity": vsim,
            "n_frames": t, "notes": notes, "resampled": resampled}


# --------------------------------------------------------------------------- the import
def _dims(videos: Iterable[NpzVideo]) -> tuple[int, int]:
    """Visual and audio dims: the most common ones among readable files."""
    from collections import Counter

    vis, aud = Counter(), Counter()
    for v in videos:
        if v.problem:
            continue
        try:
            vis[_npy_header(v.folder / VISUAL_FILE, "embeddings")[0][1]] += 1
            shape = _npy_header(v.folder / AUDIO_FILE, "embeddings")[0]
            if len(shape) == 2:
                aud[shape[1]] += 1
        except (NpzError, IndexError):
            continue
        if sum(aud.values()) >= 16:
            break
    if not vis or not aud:
        raise ValueError("no readable visual_embeddings.npz and audio_embeddings.npz pair found: "
                         "cannot tell the embedding sizes")
    return vis.most_common(1)[0][0], aud.most_common(1)[0][0]


def import_npz(
    root: str | Path,
    out: str | Path,
    metadata: str | Path | None = None,
    fps: float = schema.DEFAULT_FPS,
    block_size: int = schema.DEFAULT_BLOCK_SIZE,
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Import an npz feature tree into a new store at ``out`` and finalize it.

    If ``out`` is an unfinished store made by an earlier import of the same ``root``, the import
    resumes (only blocks with pending videos are written). Returns finalize's summary
    (``complete``, counts of ok/failed/pending, ...). One writer at a time: a second import
    into ``out`` gets :class:`voca_data.lock.LockError`.

    >>> import_npz("features/", "lavdf.zarr", metadata="metadata.min.json")    # doctest: +SKIP
    """
    from ..lock import lock

    with lock(out, what="store"):
        return _import_npz(root, out, metadata, fps, block_size, overwrite, progress)


def _import_npz(root: str | Path, out: str | Path, metadata: str | Path | None, fps: float,
                block_size: int, overwrite: bool, progress: bool) -> dict[str, Any]:
    from voca_data.progress import tqdm

    from ..store.writer import StoreWriter, init

    root, out = Path(root), Path(out)
    writer: StoreWriter | None = None
    videos = scan(root, metadata, fps=fps, progress=progress)
    by_id = {v.record.video_id: v for v in videos}
    if out.exists() and not overwrite:
        try:
            existing = StoreWriter(out)
        except (FileNotFoundError, ValueError):
            existing = None
        same = existing is not None and (existing.attrs.get("npz_import") or {}).get("root") == str(root.resolve())
        if not same or existing.attrs.get("complete"):
            raise FileExistsError(
                f"{out} already exists{' and is complete' if same else ''}; pass --overwrite "
                "(overwrite=True) to replace it")
        writer = existing
        writer.remove_partial_files()  # one process imports: nothing else is writing
        if not writer._block_chunked():
            writer.prepare_for_writing()
        log.info("%s: resuming, %d blocks pending", out, len(writer.pending_blocks()))
    if writer is None:
        visual_dim, audio_dim = _dims(videos)
        provenance = {
            "dataset": {
                "name": "npz-import", "root": str(root.resolve()),
                **({"manifest": str(Path(metadata).resolve()), "manifest_sha256": sha256_file(metadata)}
                   if metadata else {}),
            },
            "visual_encoder": {"name": "imported", "source": VISUAL_FILE, "pretrained": None},
            "audio_encoder": {"name": "imported", "source": AUDIO_FILE, "pretrained": None},
            "npz_import": {
                "root": str(root.resolve()), "layout": "ROOT/<split>/<video>/{visual,audio}_embeddings.npz",
                "labels": "metadata fake_periods" if metadata else "npz frame_labels (periods = runs of fake frames)",
                "audio_alignment": {"method": "linear", "rule": ALIGNMENT_RULE},
                "visual_similarity": "cos(visual[t], visual[t-1]) from the float32 embeddings",
                "av_similarity": f"'similarities' of {SIMILARITY_FILE} where present (source cosine, "
                                 "min-length alignment), else NaN",
            },
        }
        writer = init(out, [v.record for v in videos], visual_dim=visual_dim, audio_dim=audio_dim,
                      max_frames=max([v.n_frames for v in videos] + [1]), provenance=provenance,
                      block_size=block_size, fps=fps, overwrite=overwrite)
    for b in tqdm(writer.pending_blocks(), desc="import", disable=not progress):
        block = writer.empty_block(b)
        for k, rec in enumerate(writer.records(b)):
            v = by_id.get(rec.video_id)
            try:
                if v is None:
                    raise NpzError(f"{rec.video_id}: no longer found under {root}")
                got = _load_video(v, writer.visual_dim, writer.audio_dim, fps, metadata is not None)
            except NpzError as exc:
                where = f"{v.folder.relative_to(root)}/" if v is not None else ""
                block["status"][k] = schema.FAILED
                block["error"][k] = f"{where}{exc}"
                log.warning("%s failed: %s%s", rec.video_id, where, exc)
                continue
            t = got["n_frames"]
            block["visual"][k, :t] = got["visual"]
            block["audio"][k, :t] = got["audio"]
            block["visual_similarity"][k, :t] = got["visual_similarity"]
            if got["av_similarity"] is not None:
                block["av_similarity"][k, : len(got["av_similarity"])] = got["av_similarity"]
            block["n_frames"][k] = t
            block["duration"][k] = t / fps
            block["source_fps"][k] = fps
            block["status"][k] = schema.OK
            block["notes"][k] = schema.join_notes(*got["notes"])
            block["has_audio"][k] = 1
            if rec.label != -1:
                block["frame_label"][k, :t] = frame_labels(rec.fake_periods, t, fps)
        writer.write_block(b, block)
    # counted over the whole store (the scan read every audio header), so a resumed import counts
    # the blocks of earlier runs too
    ok = writer.status() == schema.OK
    ids = np.asarray(writer.array("video_id")[:]).tolist()
    resampled = 0
    for k in np.flatnonzero(ok):
        v = by_id.get(str(ids[k]))
        resampled += int(v is not None and v.audio_frames is not None
                         and v.audio_frames != v.n_frames)
    info = dict(writer.attrs.get("npz_import") or {})
    info["audio_alignment"] = {**info.get("audio_alignment", {}), "videos_resampled": resampled}
    writer.update_attrs(npz_import=info)
    return writer.finalize()
