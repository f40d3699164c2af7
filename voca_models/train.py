"""The training loop shared by every model.

AdamW; linear warmup then cosine decay (per step) or ReduceLROnPlateau (per epoch); gradient
clipping; early stopping on the dev split's main metric (frame AUC for frame-level models, video AUC
otherwise; ties broken by the other AUC); fixed seeds (the random state is re-seeded from ``(seed, epoch)`` at every epoch, which
makes ``resume`` continue exactly); AMP on CUDA; DDP under ``torchrun``.

A run directory holds ``best/`` and ``last/`` checkpoints (see :mod:`voca_models.checkpoint`),
``history.csv``, ``curves.png`` and ``config.json``.

>>> from voca_models import train
>>> summary = train("lstm", "lavdf.zarr", "runs/lstm", model_config={"hidden": 128},
...                 train_config={"epochs": 10, "batch_size": 16})        # doctest: +SKIP
>>> summary["best_metric"], summary["best_epoch"]                           # doctest: +SKIP
(0.97, 7)
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import logging
import math
import os
import random
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch.utils.data import DataLoader

from .checkpoint import (
    CheckpointError,
    check_feature_dims,
    load_checkpoint,
    load_training_state,
    read_meta,
    recover_checkpoint,
    resolve_checkpoint_dir,
    save_checkpoint,
)
from .data import StoreInfo, make_dataset, to_device
from .losses import reduce_terms
from .models import build, make_config, model_class
from .models.base import AUTO, AUTO_FEATURES
from .predict import VIDEO_TOP_K, predict
from .configs import TrainConfig
from .sampling import sample_frames

log = logging.getLogger(__name__)

__all__ = [
    "TrainConfig",
    "train",
    "compute_loss",
    "dev_metrics",
    "auto_pos_weight",
    "auto_features",
    "choose_video_score",
]

# options that may change between an interrupted run and its resumption without changing results
RUNTIME_OPTIONS = (
    "epochs",
    "patience",
    "progress",
    "num_workers",
    "device",
    "stop_after",
    "eval_batch_size",
)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _epoch_seed(seed: int, epoch: int) -> int:
    return (int(seed) * 1_000_003 + int(epoch) * 7919 + 17) % (2**31)


def compute_loss(
    model: torch.nn.Module, batch: Mapping[str, torch.Tensor], world_size: int = 1
) -> tuple[torch.Tensor, dict[str, float]]:
    """Forward ``batch`` through ``model`` (plain or DDP-wrapped) and reduce its loss terms so
    that DDP's gradient equals the single-process gradient on the global batch."""
    raw = model.module if hasattr(model, "module") else model
    out = model(batch)
    return reduce_terms(raw.loss_terms(batch, out), world_size)


def auto_pos_weight(ratio: float, what: str, where: str) -> float:
    """``n_negative / n_positive`` from a positive ratio, clamped to [1e-3, 1e3]."""
    if ratio <= 0:
        raise ValueError(
            f"{where}: no fake {what}s in the training split, so an automatic pos_weight "
            f"(-1) is undefined and the model cannot learn fakes; check the split or labels"
        )
    return float(min(max((1.0 - ratio) / ratio, 1e-3), 1e3))


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from .metrics import roc_auc  # the one ROC AUC (scikit-learn's) that evaluate reports too

    return roc_auc(y, p)


def dev_metrics(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Frame and video ROC AUC of :func:`voca_models.predict` rows (labels from the store).

    Frame AUC uses labelled frames of real videos and of fake videos that have fake frames (a fake
    video without known fake periods says nothing about its frames)."""
    labels = np.array([r["label"] for r in rows])
    probs = np.array([r["video_prob"] for r in rows])
    known = labels >= 0
    out = {"video_auc": _auc(labels[known], probs[known])}
    if rows and all("video_prob_frames" in r for r in rows):
        for source in ("head", "frames"):
            p = np.array([r[f"video_prob_{source}"] for r in rows], dtype=np.float64)
            out[f"video_auc_{source}"] = _auc(labels[known], np.nan_to_num(p[known], nan=0.0))
    ys, ps = [], []
    for r in rows:
        if r.get("frame_probs") is None or r["label"] < 0:
            continue
        fl = np.asarray(r["frame_labels"])
        if r["label"] == 1 and not (fl == 1).any():
            continue
        ok = fl >= 0
        ys.append(fl[ok])
        ps.append(r["frame_probs"][ok])
    if ys:
        out["frame_auc"] = _auc(np.concatenate(ys), np.concatenate(ps))
    return out


def choose_video_score(metrics: Mapping[str, float]) -> str:
    """``frames`` (mean of the top-k frame probabilities) when its dev video AUC is at least the
    video head's, else ``head``; ``head`` for models without frame outputs.

    >>> choose_video_score({"video_auc_head": 0.6, "video_auc_frames": 0.9})
    'frames'
    >>> choose_video_score({"video_auc": 0.8})
    'head'
    """
    head = metrics.get("video_auc_head", float("nan"))
    frames = metrics.get("video_auc_frames", float("nan"))
    if not math.isfinite(frames):
        return "head"
    return "frames" if not math.isfinite(head) or frames >= head else "head"


def _has_values(store: Any, name: str, idx: np.ndarray) -> bool:
    for i in idx[:3]:
        # through the Store handle: a failed read names the store, array, video and chunk
        values = np.asarray(store.read(int(i), [name])[name], np.float32)
        if np.isfinite(values).any():
            return True
    return False


def auto_features(info: StoreInfo, split: str) -> tuple[str, ...]:
    """The per-frame features ``features="auto"`` resolves to on ``info``'s store: those of
    ``visual``, ``audio``, ``av_similarity`` and ``visual_similarity`` that the store has and that
    hold finite values in ``split`` (an ``av_similarity`` left NaN by a store finalized without the
    AV-sync fit is left out, with a warning).

    >>> from voca_models.data import StoreInfo
    >>> auto_features(StoreInfo.load("lavdf.zarr"), "train")          # doctest: +SKIP
    ('visual', 'audio', 'av_similarity', 'visual_similarity')
    """
    idx = info.usable(split)
    out = []
    for name in AUTO_FEATURES:
        if name not in info.frame_variables or info.feature_dims.get(name, 0) <= 0:
            continue
        if _has_values(info.store, name, idx):
            out.append(name)
        else:
            log.warning(
                "%s: per-frame feature %r holds no values (all NaN) in split %r; features=auto "
                "leaves it out%s",
                info.path,
                name,
                split,
                " (run `voca finalize` with the AV-sync fit to compute it)"
                if name == "av_similarity"
                else "",
            )
    if not out:
        raise ValueError(
            f"{info.path}: features=auto found none of {list(AUTO_FEATURES)} with values in split "
            f"{split!r} (per-frame variables: {list(info.frame_variables)}); extract the store first"
        )
    return tuple(out)


def _lr_lambda(cfg: TrainConfig, steps_per_epoch: int):
    total = max(cfg.epochs * steps_per_epoch, 1)
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch)) if cfg.scheduler == "cosine" else 0

    def f(step: int) -> float:
        if cfg.scheduler != "cosine":
            return 1.0
        if warmup and step < warmup:
            return (step + 1) / warmup
        progress = min((step - warmup) / max(total - warmup, 1), 1.0)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


def _device(cfg: TrainConfig, local_rank: int) -> torch.device:
    from voca_data.devices import resolve_device

    return torch.device(resolve_device(cfg.device, index=local_rank))


class _Dist:
    """torch.distributed state from the torchrun environment (world size 1 without it)."""

    def __init__(self, device_type: str):
        import torch.distributed as dist

        self.dist = dist
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.owned = False
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
            self.owned = True
        if dist.is_available() and dist.is_initialized():
            self.world, self.rank = dist.get_world_size(), dist.get_rank()

    @property
    def main(self) -> bool:
        return self.rank == 0

    def broadcast(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64)
        self.dist.broadcast(t, src=0)
        return t.tolist()

    def mean(self, value: float) -> float:
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        self.dist.all_reduce(t)
        return float(t.item()) / self.world

    def close(self) -> None:
        if self.owned:
            self.dist.destroy_process_group()


def _write_history(out: Path, history: list[dict[str, Any]]) -> None:
    if not history:
        return
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    tmp = out / ".history.csv.tmp"
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for row in history:
            w.writerow(row)
    tmp.replace(out / "history.csv")


def plot_history(history: list[dict[str, Any]], file: Path) -> None:
    """Loss and dev-metric curves to ``file`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for key in [k for k in history[0] if k.startswith("train_")]:
        ax1.plot(epochs, [r.get(key, np.nan) for r in history], marker=".", label=key[6:])
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss")
    ax1.set_yscale("log")
    ax1.legend(fontsize=8)
    for key in [k for k in history[0] if k.startswith("dev_")]:
        ax2.plot(epochs, [r.get(key, np.nan) for r in history], marker=".", label=key[4:])
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("dev metric")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(file, dpi=100)
    plt.close(fig)


# --------------------------------------------------------------------------- the loop
def _run_locked(fn):
    """Give ``fn`` an ExitStack (``_locks``) that is closed when it returns: the run-directory
    lock it takes is released however the run ends."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with contextlib.ExitStack() as locks:
            return fn(*args, _locks=locks, **kwargs)

    return wrapper


@_run_locked
def train(
    model_name: str,
    store: str | Path,
    out_dir: str | Path | None,
    model_config: Mapping[str, Any] | None = None,
    train_config: Mapping[str, Any] | TrainConfig | None = None,
    resume: str | Path | None = None,
    overwrite: bool = False,
    _locks: contextlib.ExitStack | None = None,
) -> dict[str, Any]:
    """Train ``model_name`` on ``store``, writing checkpoints and curves to ``out_dir``.

    Parameters
    ----------
    model_name:
        ``localizer``, ``lstm`` or ``covfusion`` (see :func:`voca_models.list_models`).
    store:
        A finalized Zarr store with ``train``- and ``dev``-like splits.
    out_dir:
        Run directory (``best/``, ``last/``, ``history.csv``, ``curves.png``, ``config.json``).
        May be ``None`` with ``resume`` (continues in the resumed run's directory).
    model_config, train_config:
        Options of the model's config dataclass and of :class:`TrainConfig`. ``visual_dim`` and
        ``audio_dim`` are taken from the store. Automatic positive weights (-1) are resolved from
        the training split's fake-frame / fake-video ratio and recorded.
    resume:
        A run or checkpoint directory: continue from its ``last`` checkpoint (model, optimizer,
        scheduler, early-stopping state, history). With an unchanged configuration the result is
        identical to an uninterrupted run; only ``epochs``, ``patience`` and runtime options
        (``progress``, ``num_workers``, ``device``, ``stop_after``) may be changed.

    Returns
    -------
    dict
        ``out_dir``, ``main_metric``, ``best_metric``, ``best_epoch``, ``last_epoch``,
        ``stopped_early``, ``history`` (list of per-epoch dicts).

    Raises
    ------
    ValueError
        Before any training: unknown model/options, a store without a needed feature, an empty
        split, a split with one class, a resume checkpoint from another model or other feature dims.
    FileExistsError
        ``out_dir`` already holds a run and neither ``resume`` nor ``overwrite`` is given.
    """
    model_cls = model_class(model_name)
    given_train = (
        train_config.to_dict()
        if isinstance(train_config, TrainConfig)
        else dict(train_config or {})
    )
    state: dict[str, Any] | None = None
    optim_state: dict[str, Any] | None = None
    if resume is not None:
        recover_checkpoint(Path(resume) / "last")  # a save interrupted between its renames
        ckpt_dir = resolve_checkpoint_dir(
            Path(resume) / "last" if (Path(resume) / "last").exists() else resume
        )
        meta = read_meta(ckpt_dir)
        if meta["model"] != model_name:
            raise CheckpointError(
                f"cannot resume: {ckpt_dir} is a {meta['model']!r} checkpoint, not {model_name!r}"
            )
        optim_state, state = load_training_state(ckpt_dir)
        saved = dict(meta["train_config"])
        for key, value in given_train.items():
            if key not in RUNTIME_OPTIONS and saved.get(key) != value:
                raise ValueError(
                    f"cannot resume with {key}={value!r}: the run was trained with {saved.get(key)!r} "
                    f"(only {', '.join(RUNTIME_OPTIONS)} may change on resume)"
                )
        saved["stop_after"] = None  # applies to the invocation that set it
        saved.update({k: v for k, v in given_train.items() if k in RUNTIME_OPTIONS})
        cfg = TrainConfig.from_dict(saved)
        if model_config:
            changed = {k: v for k, v in model_config.items() if meta["model_config"].get(k) != v}
            if changed:
                raise ValueError(f"cannot resume with different model options {changed}")
        mcfg_data = dict(meta["model_config"])
        if out_dir is None:
            out_dir = ckpt_dir.parent
    else:
        if out_dir is None:
            raise ValueError("out_dir is required (or resume=)")
        cfg = TrainConfig.from_dict(given_train)
        mcfg_data = dict(model_config or {})
        meta = None
    out = Path(out_dir)
    if _locks is not None and int(os.environ.get("RANK", "0")) == 0:  # one writer per run dir
        from voca_data.lock import lock

        _locks.enter_context(lock(out, what="training run directory"))
    if resume is None and not overwrite and (out / "last" / "meta.json").exists():
        raise FileExistsError(
            f"{out} already holds a training run: continue it with resume={str(out)!r} "
            "(voca train --resume), choose another output directory, or pass overwrite=True "
            "(--overwrite) to replace it"
        )

    # ---- the store: checked before anything is built
    from voca_data.store.check import quick_check

    broken = quick_check(store)
    if broken:
        raise ValueError(f"{store} fails the integrity check ({len(broken)} problem(s); first: "
                         f"{broken[0]}); run voca check {store}")
    info = StoreInfo.load(store)
    train_split = info.resolve_split("train", cfg.train_split)
    dev_split = info.resolve_split("dev", cfg.dev_split)
    if train_split is None:
        raise ValueError(
            f"{store}: no training split found (splits {info.split_names}); set train_split"
        )
    if dev_split is None:
        raise ValueError(
            f"{store}: no dev/validation split found (splits {info.split_names}); set dev_split"
        )
    if train_split == dev_split:
        raise ValueError(
            f"train and dev split are both {train_split!r}: select on a held-out split"
        )
    info.check_split(train_split, "train")
    info.check_split(dev_split, "dev")
    requested = mcfg_data.get("features", model_cls.config_class().features)
    requested = (requested,) if isinstance(requested, str) else tuple(requested)
    if AUTO in requested:
        if requested != (AUTO,):
            raise ValueError(f"features {list(requested)}: 'auto' stands alone (it picks the features)")
        mcfg_data["features"] = auto_features(info, train_split)
        log.info("features=auto: %s", ", ".join(mcfg_data["features"]))
    mcfg_probe = make_config(
        model_name,
        {
            **mcfg_data,
            "visual_dim": info.feature_dims.get("visual", 0),
            "audio_dim": info.feature_dims.get("audio", 0),
        },
    )
    features = tuple(mcfg_probe.features)
    info.check_features(features, train_split)
    stats = info.check_stats(features)
    feature_dims = {f: int(info.feature_dims[f]) for f in features}
    if meta is not None:
        check_feature_dims(meta, info.feature_dims, str(resume))
    for key in ("visual_dim", "audio_dim"):
        given = mcfg_data.get(key)
        have = getattr(mcfg_probe, key)
        if given not in (None, 0, have):
            raise ValueError(f"{key}={given} does not match the store ({have})")
        mcfg_data[key] = have
    ratios = info.fake_ratios(train_split)
    if getattr(mcfg_probe, "frame_head", False) and "frame_head" not in mcfg_data and ratios["frame"] <= 0:
        mcfg_data["frame_head"] = False  # nothing to learn from: no fake periods
        log.info("frame_head off: split %r has no fake frames (no fake periods)", train_split)
    if model_cls.main_metric == "frame_auc":
        dev_ratio = info.fake_ratios(dev_split)["frame"]
        if ratios["frame"] <= 0 or dev_ratio <= 0:
            raise ValueError(
                f"{store}: the {model_name} model learns fake frames, but split "
                f"{train_split if ratios['frame'] <= 0 else dev_split!r} has no fake frames "
                "(no fake periods): use a video-level model (lstm, covfusion)"
            )
    for field_name, level in model_cls.auto_weights.items():
        if field_name == "frame_pos_weight" and not mcfg_data.get(
            "frame_head", getattr(mcfg_probe, "frame_head", False)
        ):
            continue  # no frame head: no frame loss to weigh
        if (
            mcfg_data.get(field_name, getattr(mcfg_probe, field_name)) is not None
            and float(mcfg_data.get(field_name, getattr(mcfg_probe, field_name))) < 0
        ):
            mcfg_data[field_name] = auto_pos_weight(ratios[level], level, str(store))
            log.info(
                "%s = %.3f (automatic: fake %s ratio %.4f in %r)",
                field_name,
                mcfg_data[field_name],
                level,
                ratios[level],
                train_split,
            )
    mcfg = make_config(model_name, mcfg_data)

    # ---- processes, device, model
    device = _device(cfg, int(os.environ.get("LOCAL_RANK", "0")))
    dist = _Dist(device.type)
    try:
        return _run(
            model_name,
            mcfg,
            cfg,
            info,
            store,
            out,
            train_split,
            dev_split,
            features,
            feature_dims,
            stats,
            ratios,
            dist,
            device,
            meta,
            optim_state,
            state,
        )
    finally:
        dist.close()


def _run(
    model_name,
    mcfg,
    cfg: TrainConfig,
    info: StoreInfo,
    store,
    out: Path,
    train_split,
    dev_split,
    features,
    feature_dims,
    stats,
    ratios,
    dist: _Dist,
    device,
    resume_meta,
    optim_state,
    state,
) -> dict[str, Any]:
    from voca_data.progress import tqdm

    from voca_data.torch import balanced_sampler, collate

    seed_everything(cfg.seed)
    model = build(model_name, mcfg).to(device)
    if resume_meta is not None:
        loaded, _ = load_checkpoint(resume_meta["checkpoint_dir"], model_name=model_name)
        model.load_state_dict(loaded.state_dict())
    main_metric = model.main_metric
    ddp_model: torch.nn.Module = model
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp_model = DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True,
        )
    train_ds = make_dataset(
        store,
        train_split,
        features,
        window=cfg.window,
        stats=stats,
        random_crop=True,
        max_videos=cfg.max_videos,
    )
    per_rank = math.ceil(len(train_ds) / dist.world)
    steps_per_epoch = max(math.ceil(per_rank / cfg.batch_size), 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    # per-step warmup + cosine; the plateau scheduler alone owns the LR otherwise (a LambdaLR
    # stepping beside it would reset every reduction)
    scheduler = (
        torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(cfg, steps_per_epoch))
        if cfg.scheduler == "cosine"
        else None
    )
    plateau = (
        torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=cfg.plateau_factor, patience=cfg.plateau_patience
        )
        if cfg.scheduler == "plateau"
        else None
    )
    use_amp = bool(cfg.amp and device.type == "cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    start_epoch, best, best_epoch, bad_epochs, history = 0, -math.inf, -1, 0, []
    # ties of the main metric (small dev splits reach AUC 1.0 early) are broken by the other AUC
    second_metric = "video_auc" if main_metric == "frame_auc" else "frame_auc"
    best_second = -math.inf
    if state is not None:
        optimizer.load_state_dict(optim_state)
        if scheduler is not None and state.get("scheduler"):
            scheduler.load_state_dict(state["scheduler"])
        if plateau is not None and state.get("plateau"):
            plateau.load_state_dict(state["plateau"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start_epoch = int(state["epoch"]) + 1
        best, best_epoch, bad_epochs = (
            float(state["best"]),
            int(state["best_epoch"]),
            int(state["bad_epochs"]),
        )
        best_second = float(state.get("best_second", -math.inf))
        history = list(state["history"])
        log.info(
            "resuming %s at epoch %d (best %s %.4f at epoch %d)",
            out,
            start_epoch,
            main_metric,
            best,
            best_epoch,
        )

    base_meta = {
        "train_config": cfg.to_dict(),
        "store": {
            "path": str(Path(store)),
            "provenance": info.provenance(),
            "splits": {"train": train_split, "dev": dev_split},
        },
        "features": list(features),
        "feature_dims": feature_dims,
        "stats": {k: v.tolist() for k, v in stats.items()},
        "fake_ratios": {f"train_{k}": v for k, v in ratios.items()},
        "main_metric": main_metric,
        "world_size": dist.world,
    }
    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(
            json.dumps({"model": model_name, "model_config": mcfg.to_dict(), **base_meta}, indent=2)
            + "\n"
        )
    eval_meta = {**base_meta, "checkpoint_dir": str(out)}
    stopped_early = False
    epochs_this_run = 0
    epoch = start_epoch - 1
    if start_epoch >= cfg.epochs:
        log.info("nothing to do: %d of %d epochs already done", start_epoch, cfg.epochs)
    for epoch in range(start_epoch, cfg.epochs):
        if cfg.stop_after is not None and epochs_this_run >= cfg.stop_after:
            break
        if cfg.patience and bad_epochs >= cfg.patience:
            stopped_early = True
            break
        t0 = time.time()
        seed = _epoch_seed(cfg.seed, epoch)
        seed_everything(seed)
        gen = torch.Generator().manual_seed(seed)
        if dist.world > 1:
            if cfg.balanced:
                sampler = balanced_sampler(
                    train_ds,
                    num_samples=per_rank,
                    generator=torch.Generator().manual_seed(seed + 1 + dist.rank),
                )
            else:
                from torch.utils.data.distributed import DistributedSampler

                sampler = DistributedSampler(
                    train_ds, num_replicas=dist.world, rank=dist.rank, shuffle=True, seed=cfg.seed
                )
                sampler.set_epoch(epoch)
            loader = DataLoader(
                train_ds,
                batch_size=cfg.batch_size,
                sampler=sampler,
                collate_fn=collate,
                num_workers=cfg.num_workers,
                generator=gen,
            )
        else:
            sampler = balanced_sampler(train_ds, generator=gen) if cfg.balanced else None
            loader = DataLoader(
                train_ds,
                batch_size=cfg.batch_size,
                sampler=sampler,
                shuffle=sampler is None,
                collate_fn=collate,
                num_workers=cfg.num_workers,
                generator=gen,
            )
        ddp_model.train()
        sums: dict[str, float] = {}
        n_steps = 0
        bar = tqdm(
            loader,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            unit="batch",
            leave=False,
            disable=not (cfg.progress and dist.main),
        )
        for batch in bar:
            batch = to_device(batch, device)
            if cfg.frames_per_video:
                batch = sample_frames(batch, cfg.frames_per_video, cfg.frame_sampling, generator=gen)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                loss, logs = compute_loss(ddp_model, batch, dist.world)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"epoch {epoch + 1}: the loss became {loss.item()} ({logs}); "
                    "lower the learning rate or check the features for extreme values"
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None:
                scheduler.step()
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            n_steps += 1
            bar.set_postfix(loss=f"{logs['loss']:.4f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}")
        bar.close()
        row: dict[str, Any] = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"]}
        for k, v in sums.items():
            row[f"train_{k}"] = dist.mean(v / max(n_steps, 1))

        # ---- selection on the dev split (rank 0), decision shared with every rank
        metrics: dict[str, float] = {}
        video_score = "head"
        if dist.main:
            rows = predict(
                model,
                store,
                split=dev_split,
                meta=eval_meta,
                device=device,
                batch_size=cfg.eval_batch_size or cfg.batch_size,
                max_videos=cfg.max_videos,
            )
            metrics = dev_metrics(rows)
            video_score = choose_video_score(metrics)
            if "video_auc_head" in metrics:
                metrics["video_auc"] = metrics[f"video_auc_{video_score}"]
            if main_metric not in metrics or not math.isfinite(metrics[main_metric]):
                raise ValueError(
                    f"dev split {dev_split!r}: {main_metric} is undefined ({metrics}); the split needs "
                    "both classes"
                )
        second = metrics.get(second_metric, -math.inf)
        value, second = dist.broadcast(
            [metrics.get(main_metric, 0.0), second if math.isfinite(second) else -math.inf]
        )
        for k, v in metrics.items():
            row[f"dev_{k}"] = v
        improved = value > best or (value == best and second > best_second)
        if improved:
            best, best_second, best_epoch, bad_epochs = value, second, epoch + 1, 0
        else:
            bad_epochs += 1
        if plateau is not None:
            plateau.step(value)
        row["seconds"] = round(time.time() - t0, 2)
        history.append(row)
        epochs_this_run += 1
        stop = bool(cfg.patience and bad_epochs >= cfg.patience)
        if dist.main:
            ckpt_meta = {
                **base_meta,
                "metrics": {f"dev_{k}": v for k, v in metrics.items()},
                "video_score": {"source": video_score, "top_k": VIDEO_TOP_K},
                "epoch": epoch + 1,
                "best_metric": best,
                "best_epoch": best_epoch,
            }
            if improved:
                save_checkpoint(out / "best", model, ckpt_meta)
            train_state = {
                "epoch": epoch,
                "best": best,
                "best_second": best_second,
                "best_epoch": best_epoch,
                "bad_epochs": bad_epochs,
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "plateau": plateau.state_dict() if plateau else None,
                "scaler": scaler.state_dict() if use_amp else None,
                "history": history,
            }
            save_checkpoint(
                out / "last", model, ckpt_meta, optimizer=optimizer, training_state=train_state
            )
            _write_history(out, history)
            try:
                plot_history(history, out / "curves.png")
            except Exception as exc:  # a plotting problem must never stop training
                log.warning("could not draw %s: %s", out / "curves.png", exc)
            log.info(
                "epoch %d/%d: loss %.4f, dev %s %.4f%s (%.1fs)",
                epoch + 1,
                cfg.epochs,
                row.get("train_loss", float("nan")),
                main_metric,
                value,
                " *" if improved else "",
                row["seconds"],
            )
        if stop:
            stopped_early = True
            log.info(
                "early stopping: no dev improvement for %d epochs (best %.4f at epoch %d)",
                bad_epochs,
                best,
                best_epoch,
            )
            break
    return {
        "out_dir": str(out),
        "main_metric": main_metric,
        "best_metric": best,
        "best_epoch": best_epoch,
        "last_epoch": (history[-1]["epoch"] if history else 0),
        "stopped_early": stopped_early,
        "features": list(features),
        "history": history,
    }
