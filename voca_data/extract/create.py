"""Create or resume a store, run the extraction, finalize: :func:`extract`.

:func:`extract` creates the store (or resumes it: only blocks with pending videos are run, after
checking that the manifest and every content setting match the store's), runs the blocks through
the pipeline (:mod:`voca_data.extract.pipeline`) on this node or on a ``dask.distributed``
cluster (:mod:`voca_data.extract.schedule`), then finalizes (train statistics, the AV synchrony
fit of :mod:`voca_data.avsync`, ``complete``).

Example
-------
>>> from voca_data.sources import load
>>> from voca_data.extract import ExtractConfig, extract
>>> records = load("lavdf", "/data/LAV-DF")                                 # doctest: +SKIP
>>> extract(records, "/data/LAV-DF", "lavdf.zarr",
...         ExtractConfig(visual_arch="ViT-B-32", visual_weights="clip.bin"),
...         cpu_workers=15)                                                 # doctest: +SKIP
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..lock import lock
from ..records import VideoRecord
from .config import ExtractConfig, resolve_device
from .models import _info, audio_encoder, detector_info, visual_encoder
from .schedule import SCHEDULERS, run_blocks

log = logging.getLogger(__name__)

__all__ = ["extract", "finalize_store", "SettingsMismatch"]


class SettingsMismatch(ValueError):
    """Resuming a store with another manifest or other content settings than it was made with."""


def _probe_all(records: Sequence[VideoRecord], root: Path, fps: float, progress: bool) -> list[int]:
    """Frame estimates of every video from its media (0 where probing fails: decoding will fail
    it too), probed by a thread pool."""
    from ..media import probe

    def one(rec: VideoRecord) -> int:
        try:
            return int(probe(root / rec.path, fps=fps)["n_frames_estimate"])
        except Exception as e:  # noqa: BLE001 - decode will report it as the video's failure
            log.debug("probe %s: %s", rec.path, e)
            return 0  # never size the store from metadata alone (it may claim 10**9 frames)

    with cf.ThreadPoolExecutor(max_workers=min(8, max(1, len(records)))) as pool:
        it = pool.map(one, records)
        if progress:
            from voca_data.progress import tqdm

            it = tqdm(it, total=len(records), desc="probe", unit="video", leave=False)
        return list(it)


def _manifest_digest(records: Sequence[VideoRecord]) -> str:
    text = json.dumps([r.to_dict() for r in records], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _dataset_provenance(records: Sequence[VideoRecord], root: Path,
                        dataset_info: Mapping[str, Any] | None) -> dict[str, Any]:
    """``dataset`` attribute: name, absolute root, the manifest file(s) the source read and their
    sha256 (relative to the root when inside it), and a digest of the records themselves."""
    from ..provenance import sha256_file

    root_abs = root.resolve()
    dataset: dict[str, Any] = {"name": getattr(records, "source", "") or "unknown",
                               "root": str(root_abs), "videos": len(records),
                               "records_sha256": _manifest_digest(records)}
    files = [Path(m) for m in (getattr(records, "manifests", None) or []) if m]
    if files:
        names, digests = [], []
        for f in files:
            f_abs = f if f.is_absolute() else root_abs / f
            try:
                names.append(str(f_abs.resolve().relative_to(root_abs)))
            except ValueError:
                names.append(str(f_abs))
            digests.append(sha256_file(f_abs) if f_abs.is_file() else "")
        dataset["manifest"] = names[0] if len(names) == 1 else names
        dataset["manifest_sha256"] = digests[0] if len(digests) == 1 else digests
    dataset.update(dict(dataset_info or {}))
    return dataset


def _create_store(records: Sequence[VideoRecord], root: Path, out: Path, config: ExtractConfig,
                  dataset_info: Mapping[str, Any] | None, progress: bool) -> Any:
    from ..store.writer import StoreWriter, init

    estimates = _probe_all(records, root, config.fps, progress)
    # the media decide the extent (metadata frame counts are only compared, in timeline notes);
    # frame_extent rounds up to the inner chunk, and decode cuts at the extent with a note
    max_frames = max([1, *estimates])
    venc = visual_encoder(config, "cpu")
    aenc = audio_encoder(config, "cpu")
    dataset = _dataset_provenance(records, root, dataset_info)
    provenance = {
        "dataset": dataset,
        "visual_encoder": _info(venc),
        "audio_encoder": _info(aenc),
        "face_detector": detector_info(config),
        "extraction": config.to_dict(),
    }
    tmp = out.with_name(out.name + ".init-tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    init(tmp, records, visual_dim=int(venc.dim), audio_dim=int(aenc.dim), max_frames=max_frames,
         provenance=provenance, block_size=config.block_size, fps=config.fps,
         audio_rate=config.audio_rate)
    os.replace(tmp, out)  # the store appears whole or not at all
    return StoreWriter(out)



def _settings_mismatch(stored: Mapping[str, Any], config: ExtractConfig) -> list[str]:
    """Content settings where ``config`` differs from the store's ``extraction`` attribute (a
    setting the store predates counts as its default)."""
    defaults = ExtractConfig().content_settings()
    out = []
    for k, v in config.content_settings().items():
        s = stored.get(k, defaults[k])
        same = (s == v) or (isinstance(s, (int, float)) and isinstance(v, (int, float))
                            and not isinstance(s, bool) and float(s) == float(v))
        if not same:
            out.append(f"{k}: store {s!r}, requested {v!r}")
    return out


def _record_differences(given: Sequence[VideoRecord], stored: Sequence[VideoRecord],
                        limit: int = 5) -> list[str]:
    """Records whose stored fields (id, path, split, label, LAV-DF flags, fake periods) differ."""
    out = []
    for g, s in zip(given, stored):
        fields = []
        for name in ("video_id", "path", "split", "label", "modify_video", "modify_audio"):
            if getattr(g, name) != getattr(s, name):
                fields.append(f"{name} {getattr(s, name)!r} -> {getattr(g, name)!r}")
        gp = np.asarray(g.fake_periods, np.float64).reshape(-1, 2)
        sp = np.asarray(s.fake_periods, np.float64).reshape(-1, 2)
        if gp.shape != sp.shape or not np.allclose(gp, sp, atol=1e-4):
            fields.append(f"fake_periods {s.fake_periods} -> {g.fake_periods}")
        if fields:
            out.append(f"{s.video_id} ({', '.join(fields)})")
    if len(out) > limit:
        out = out[:limit] + [f"... {len(out) - limit} more"]
    return out


def _open_existing(records: Sequence[VideoRecord] | None, out: Path, config: ExtractConfig) -> Any:
    """The store's writer, after checking that ``records`` and ``config`` are the ones the store
    was made with; else :class:`SettingsMismatch` naming the differing settings / records."""
    from ..store.writer import StoreWriter

    writer = StoreWriter(out)
    stored = writer.attrs.get("extraction") or {}
    what = f"{out} was extracted with other settings"
    todo = "resume with the store's settings (omit the option) or write a new store"
    mismatched = _settings_mismatch(stored, config)
    if mismatched:
        raise SettingsMismatch(f"{what} ({'; '.join(mismatched)}); {todo}")
    if records is not None:
        ids = [r.video_id for r in records]
        stored_records = writer.records()
        stored_ids = [r.video_id for r in stored_records]
        if ids != stored_ids:
            extra = sorted(set(ids) - set(stored_ids))[:3]
            missing = sorted(set(stored_ids) - set(ids))[:3]
            raise SettingsMismatch(
                f"{out} holds a different manifest ({len(stored_ids)} videos) than the one given "
                f"({len(ids)} videos; new e.g. {extra}, missing e.g. {missing}); use the same "
                "source and options, or a new output path")
        diffs = _record_differences(records, stored_records)
        dataset = writer.attrs.get("dataset") or {}
        digest = dataset.get("records_sha256")
        if diffs or (digest and digest != _manifest_digest(records)):
            detail = "; ".join(diffs) if diffs else (
                "records differ in fields kept only in the manifest digest (metadata duration / "
                "frame counts, extra fields)")
            raise SettingsMismatch(
                f"{out} was made from another version of the manifest (records_sha256 "
                f"{str(digest)[:12]}...): {detail}; a relabelled dataset needs a new store (or "
                "the manifest the store was made from)")
    return writer


def finalize_store(store: str | os.PathLike, config: ExtractConfig | None = None) -> dict[str, Any]:
    """Finalize ``store``: train statistics, the AV synchrony fit (settings from ``config`` or
    the store's ``extraction`` attribute), consolidated metadata, ``complete``.

    >>> finalize_store("lavdf.zarr")["complete"]        # doctest: +SKIP
    True
    """
    from ..avsync import finalize_hook
    from ..store.writer import StoreWriter

    writer = StoreWriter(store)
    if config is None:
        try:
            config = ExtractConfig.from_store(writer.attrs)
        except ValueError:
            config = ExtractConfig()
    return writer.finalize(hooks=[finalize_hook(config.av_config(), reference=config.av_reference)])


def extract(
    records: Sequence[VideoRecord],
    root: str | os.PathLike,
    out: str | os.PathLike,
    config: ExtractConfig | None = None,
    *,
    scheduler: str = "pipeline",
    cpu_workers: int | None = None,
    gpus: int | None = None,
    workers: int | None = None,
    retry_failed: bool = False,
    finalize: bool = True,
    progress: bool = True,
    dataset_info: Mapping[str, Any] | None = None,
) -> Path:
    """Extract features of ``records`` (media under ``root``) into the store ``out``.

    Parameters
    ----------
    records:
        The manifest (from :func:`voca_data.sources.load`).
    root:
        Dataset root; record paths are relative to it.
    out:
        Store directory. Created if missing; if it exists, only its pending blocks are run
        (resume), with the same manifest and content settings (else :class:`SettingsMismatch`).
    config:
        Encoders, detector, timeline, block and batch sizes, device (:class:`ExtractConfig`).
    scheduler:
        ``pipeline`` (default: CPU worker processes -> one encoder per device -> writer, on this
        node), ``synchronous`` (the reference per-block path in this thread, for debugging and
        tests) or ``tcp://HOST:PORT`` of a running ``dask.distributed`` scheduler whose workers see
        the same ``root`` and ``out`` paths (each runs the pipeline over the blocks it is given).
        ``threads`` and ``processes`` (voca 1) are read as ``pipeline`` with a warning.
    cpu_workers:
        CPU worker processes per node (default: cores - 1; 0 decodes in the encoder's process).
    gpus:
        With ``device`` ``cuda``: how many GPUs of the node to use, one encoder each (default all).
    workers:
        Deprecated (voca 1's parallel block tasks); read as ``cpu_workers``.
    retry_failed:
        Also redo the blocks holding failed videos.
    finalize:
        Finalize after extraction (statistics, AV synchrony, ``complete``).
    progress:
        Show a progress bar (videos, frames/s, ETA, failures).
    dataset_info:
        Merged into the ``dataset`` provenance attribute (``name``, ``manifest``, its ``sha256``).

    Returns the store path.

    >>> extract(records, root, "out.zarr", ExtractConfig(visual_arch="voca-tiny",
    ...         detector="center", block_size=4), cpu_workers=1)            # doctest: +SKIP
    """
    config = config or ExtractConfig()
    root = Path(root)
    out = Path(out)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root {root} is not a directory")
    if scheduler in ("threads", "processes"):
        log.warning("scheduler %r is voca 1's; the pipeline replaces it (--cpu-workers sets its "
                    "CPU worker processes)", scheduler)
        scheduler = "pipeline"
    if workers is not None and cpu_workers is None:
        cpu_workers = workers
    if scheduler not in SCHEDULERS and not scheduler.startswith(("tcp://", "tls://", "inproc://")):
        raise ValueError(f"scheduler must be one of {SCHEDULERS} or tcp://HOST:PORT, not {scheduler!r}")
    device = resolve_device(config.device)
    with lock(out, what="store"):  # one writer per store (a second extract is refused, named)
        return _extract_locked(records, root, out, config, device, scheduler, cpu_workers, gpus,
                               retry_failed, finalize, progress, dataset_info)


def _extract_locked(records: Sequence[VideoRecord], root: Path, out: Path, config: ExtractConfig,
                    device: str, scheduler: str, cpu_workers: int | None, gpus: int | None,
                    retry_failed: bool, finalize: bool, progress: bool,
                    dataset_info: Mapping[str, Any] | None) -> Path:
    if (out / "zarr.json").exists():
        writer = _open_existing(records, out, config)
        log.info("resuming %s", out)
    else:
        if out.exists() and any(out.iterdir()):
            raise FileExistsError(f"{out} exists and is not a voca store; choose another output path")
        if out.exists():
            out.rmdir()
        if not records:
            raise ValueError("the manifest is empty: no videos to extract")
        writer = _create_store(records, root, out, config, dataset_info, progress)
    blocks = writer.pending_blocks(retry_failed=retry_failed)
    if blocks:
        writer.prepare_for_writing()
        log.info("%s: %d block(s) to extract with the %s scheduler on %s", out, len(blocks),
                 scheduler, device)
        by_id = {r.video_id: r.n_frames for r in records or ()}
        metadata_frames = [by_id.get(r.video_id) for r in writer.records()] if by_id else None
        summary = run_blocks(writer, blocks, root, config, device, scheduler,
                             cpu_workers=cpu_workers, gpus=gpus, progress=progress,
                             metadata_frames=metadata_frames)
        writer.add_history("extract", scheduler=scheduler, device=device,
                           retry_failed=retry_failed, **summary)
        if summary["block_errors"]:
            raise RuntimeError(
                f"{len(summary['block_errors'])} block task(s) failed ({summary['block_errors'][0]}); "
                f"their videos stay pending: run the same command again to resume")
    else:
        log.info("%s: no pending blocks", out)
    if finalize and (blocks or not writer.attrs.get("complete")):
        info = finalize_store(out, config)
        log.info("finalized %s: %s", out, info)
    return out
