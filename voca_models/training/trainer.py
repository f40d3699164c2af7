"""The :class:`Trainer`: one object per run whose fields are everything the loop needs, and one
method per step (build the model, the data, the optimizer; restore a resumed run; one training
epoch; validation on the dev split; checkpoints and history). :func:`voca_models.train` builds it
from the reconciled configuration (:mod:`.resume`) and the checked store (:mod:`.preflight`).

>>> trainer = Trainer.from_plan("localizer", "lavdf.zarr", run, plan, dist, device)  # doctest: +SKIP
>>> summary = trainer.fit()                                                         # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from ..configs import ModelConfig, TrainConfig
from ..data import StoreInfo, normalized_dataset, to_device
from ..losses import reduce_terms
from ..sampling import sample_frames
from .distributed import Distributed, epoch_seed, seed_everything
from .history import write_history
from .preflight import StorePlan
from .resume import RunConfig
from .schedule import make_schedulers
from .selection import choose_video_score, dev_metrics

log = logging.getLogger(__name__)

__all__ = ["Trainer", "compute_loss"]


def compute_loss(
    model: torch.nn.Module, batch: Mapping[str, torch.Tensor], world_size: int = 1
) -> tuple[torch.Tensor, dict[str, float]]:
    """Forward ``batch`` through ``model`` (plain or DDP-wrapped) and reduce its loss terms so
    that DDP's gradient equals the single-process gradient on the global batch."""
    raw = model.module if hasattr(model, "module") else model
    out = model(batch)
    return reduce_terms(raw.loss_terms(batch, out), world_size)


@dataclass
class Trainer:
    """One training run. The fields are its inputs; :meth:`fit` runs it and returns the summary
    that :func:`voca_models.train` returns."""

    model_name: str
    model_config: ModelConfig  #: resolved against the store
    config: TrainConfig
    info: StoreInfo
    store: Any  #: as given (path, URL or Store): recorded in the checkpoints
    out: Path
    train_split: str
    dev_split: str
    features: tuple[str, ...]
    feature_dims: dict[str, int]
    stats: dict[str, Any]
    ratios: dict[str, float]
    dist: Distributed
    device: torch.device
    resume_meta: dict[str, Any] | None = None
    optimizer_state: dict[str, Any] | None = None
    training_state: dict[str, Any] | None = None

    # built by the steps
    model: Any = field(default=None, init=False)
    ddp_model: Any = field(default=None, init=False)
    train_ds: Any = field(default=None, init=False)
    per_rank: int = field(default=0, init=False)
    steps_per_epoch: int = field(default=0, init=False)
    optimizer: Any = field(default=None, init=False)
    scheduler: Any = field(default=None, init=False)  #: per step (cosine)
    plateau: Any = field(default=None, init=False)  #: per epoch (plateau)
    scaler: Any = field(default=None, init=False)
    use_amp: bool = field(default=False, init=False)
    base_meta: dict[str, Any] = field(default_factory=dict, init=False)
    # the early-stopping state (saved in ``last``, restored on resume)
    start_epoch: int = field(default=0, init=False)
    best: float = field(default=-math.inf, init=False)
    best_second: float = field(default=-math.inf, init=False)
    best_epoch: int = field(default=-1, init=False)
    bad_epochs: int = field(default=0, init=False)
    history: list[dict[str, Any]] = field(default_factory=list, init=False)

    @classmethod
    def from_plan(cls, model_name: str, store: Any, run: RunConfig, plan: StorePlan,
                  dist: Distributed, device: torch.device) -> Trainer:
        """A trainer for ``run`` (configuration, directory, resume state) on ``plan``'s store."""
        return cls(
            model_name=model_name, model_config=plan.model_config, config=run.config,
            info=plan.info, store=store, out=run.out, train_split=plan.train_split,
            dev_split=plan.dev_split, features=plan.features, feature_dims=plan.feature_dims,
            stats=plan.stats, ratios=plan.ratios, dist=dist, device=device,
            resume_meta=run.resume_meta, optimizer_state=run.optimizer_state,
            training_state=run.training_state,
        )

    # ------------------------------------------------------------------ properties
    @property
    def main_metric(self) -> str:
        return self.model.main_metric

    @property
    def second_metric(self) -> str:
        """Ties of the main metric (small dev splits reach AUC 1.0 early) are broken by the other
        AUC."""
        return "video_auc" if self.main_metric == "frame_auc" else "frame_auc"

    # ------------------------------------------------------------------ build
    def build_model(self) -> None:
        """The model (seeded with ``seed``; a resumed run's weights), DDP-wrapped under torchrun."""
        from ..checkpoint import load_checkpoint
        from ..models import build

        seed_everything(self.config.seed)
        self.model = build(self.model_name, self.model_config).to(self.device)
        if self.resume_meta is not None:
            loaded, _ = load_checkpoint(self.resume_meta["checkpoint_dir"], model_name=self.model_name)
            self.model.load_state_dict(loaded.state_dict())
        self.ddp_model = self.model
        if self.dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.ddp_model = DistributedDataParallel(
                self.model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True,
            )

    def build_data(self) -> None:
        """The training windows (random crops, normalised with the train statistics)."""
        cfg = self.config
        self.train_ds = normalized_dataset(
            self.store,
            self.train_split,
            self.features,
            window=cfg.window,
            stats=self.stats,
            random_crop=True,
            max_videos=cfg.max_videos,
        )
        self.per_rank = math.ceil(len(self.train_ds) / self.dist.world)
        self.steps_per_epoch = max(math.ceil(self.per_rank / cfg.batch_size), 1)

    def build_optimizer(self) -> None:
        """AdamW, the LR schedule (:mod:`.schedule`) and the AMP gradient scaler (CUDA only)."""
        cfg = self.config
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        self.scheduler, self.plateau = make_schedulers(cfg, self.optimizer, self.steps_per_epoch)
        self.use_amp = bool(cfg.amp and self.device.type == "cuda")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)

    def restore(self) -> None:
        """A resumed run's optimizer, schedulers, scaler, early-stopping state and history."""
        state = self.training_state
        if state is None:
            return
        self.optimizer.load_state_dict(self.optimizer_state)
        if self.scheduler is not None and state.get("scheduler"):
            self.scheduler.load_state_dict(state["scheduler"])
        if self.plateau is not None and state.get("plateau"):
            self.plateau.load_state_dict(state["plateau"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.start_epoch = int(state["epoch"]) + 1
        self.best, self.best_epoch, self.bad_epochs = (
            float(state["best"]),
            int(state["best_epoch"]),
            int(state["bad_epochs"]),
        )
        self.best_second = float(state.get("best_second", -math.inf))
        self.history = list(state["history"])
        log.info(
            "resuming %s at epoch %d (best %s %.4f at epoch %d)",
            self.out,
            self.start_epoch,
            self.main_metric,
            self.best,
            self.best_epoch,
        )

    def write_config(self) -> None:
        """The metadata every checkpoint carries, and ``config.json`` (rank 0)."""
        self.base_meta = {
            "train_config": self.config.to_dict(),
            "store": {
                "path": str(Path(self.store)),
                "provenance": self.info.provenance(),
                "splits": {"train": self.train_split, "dev": self.dev_split},
            },
            "features": list(self.features),
            "feature_dims": self.feature_dims,
            "stats": {k: v.tolist() for k, v in self.stats.items()},
            "fake_ratios": {f"train_{k}": v for k, v in self.ratios.items()},
            "main_metric": self.main_metric,
            "world_size": self.dist.world,
        }
        if self.dist.main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(
                json.dumps(
                    {"model": self.model_name, "model_config": self.model_config.to_dict(),
                     **self.base_meta},
                    indent=2,
                )
                + "\n"
            )

    # ------------------------------------------------------------------ one epoch
    def loader(self, epoch: int, seed: int, gen: torch.Generator) -> DataLoader:
        """The epoch's DataLoader: balanced or shuffled, split between ranks under torchrun."""
        from voca_data.torch import balanced_sampler, collate

        cfg, dist = self.config, self.dist
        if dist.world > 1:
            if cfg.balanced:
                sampler = balanced_sampler(
                    self.train_ds,
                    num_samples=self.per_rank,
                    generator=torch.Generator().manual_seed(seed + 1 + dist.rank),
                )
            else:
                from torch.utils.data.distributed import DistributedSampler

                sampler = DistributedSampler(
                    self.train_ds, num_replicas=dist.world, rank=dist.rank, shuffle=True,
                    seed=cfg.seed,
                )
                sampler.set_epoch(epoch)
            return DataLoader(
                self.train_ds,
                batch_size=cfg.batch_size,
                sampler=sampler,
                collate_fn=collate,
                num_workers=cfg.num_workers,
                generator=gen,
            )
        sampler = balanced_sampler(self.train_ds, generator=gen) if cfg.balanced else None
        return DataLoader(
            self.train_ds,
            batch_size=cfg.batch_size,
            sampler=sampler,
            shuffle=sampler is None,
            collate_fn=collate,
            num_workers=cfg.num_workers,
            generator=gen,
        )

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        """One pass over the training windows (re-seeded from ``(seed, epoch)``); the history row
        with the learning rate and the mean of each loss term over the ranks."""
        from voca_data.progress import tqdm

        cfg, dist, device = self.config, self.dist, self.device
        seed = epoch_seed(cfg.seed, epoch)
        seed_everything(seed)
        gen = torch.Generator().manual_seed(seed)
        loader = self.loader(epoch, seed, gen)
        self.ddp_model.train()
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
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=self.use_amp):
                loss, logs = compute_loss(self.ddp_model, batch, dist.world)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"epoch {epoch + 1}: the loss became {loss.item()} ({logs}); "
                    "lower the learning rate or check the features for extreme values"
                )
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if cfg.grad_clip:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.scheduler is not None:
                self.scheduler.step()
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            n_steps += 1
            bar.set_postfix(loss=f"{logs['loss']:.4f}",
                            lr=f"{self.optimizer.param_groups[0]['lr']:.2e}")
        bar.close()
        row: dict[str, Any] = {"epoch": epoch + 1, "lr": self.optimizer.param_groups[0]["lr"]}
        for k, v in sums.items():
            row[f"train_{k}"] = dist.mean(v / max(n_steps, 1))
        return row

    # ------------------------------------------------------------------ validation
    def validate(self) -> tuple[dict[str, float], str, float, float]:
        """Dev-split metrics (rank 0) and the decision shared with every rank:
        ``(metrics, video_score, main value, second value)``."""
        from ..predict import predict

        cfg, main_metric = self.config, self.main_metric
        metrics: dict[str, float] = {}
        video_score = "head"
        if self.dist.main:
            rows = predict(
                self.model,
                self.store,
                split=self.dev_split,
                meta={**self.base_meta, "checkpoint_dir": str(self.out)},
                device=self.device,
                batch_size=cfg.eval_batch_size or cfg.batch_size,
                max_videos=cfg.max_videos,
            )
            metrics = dev_metrics(rows)
            video_score = choose_video_score(metrics)
            if "video_auc_head" in metrics:
                metrics["video_auc"] = metrics[f"video_auc_{video_score}"]
            if main_metric not in metrics or not math.isfinite(metrics[main_metric]):
                raise ValueError(
                    f"dev split {self.dev_split!r}: {main_metric} is undefined ({metrics}); the "
                    "split needs both classes"
                )
        second = metrics.get(self.second_metric, -math.inf)
        value, second = self.dist.broadcast(
            [metrics.get(main_metric, 0.0), second if math.isfinite(second) else -math.inf]
        )
        return metrics, video_score, value, second

    def select(self, epoch: int, value: float, second: float) -> bool:
        """Update the early-stopping state with this epoch's dev values; ``True`` if it is the
        best epoch so far."""
        improved = value > self.best or (value == self.best and second > self.best_second)
        if improved:
            self.best, self.best_second, self.best_epoch, self.bad_epochs = (
                value, second, epoch + 1, 0)
        else:
            self.bad_epochs += 1
        if self.plateau is not None:
            self.plateau.step(value)
        return improved

    # ------------------------------------------------------------------ saving
    def save(self, epoch: int, metrics: Mapping[str, float], video_score: str,
             improved: bool) -> None:
        """``best/`` (when improved) and ``last/`` (with the optimizer and training state),
        ``history.csv`` and ``curves.png`` (rank 0)."""
        from ..checkpoint import save_checkpoint
        from ..predict import VIDEO_TOP_K

        ckpt_meta = {
            **self.base_meta,
            "metrics": {f"dev_{k}": v for k, v in metrics.items()},
            "video_score": {"source": video_score, "top_k": VIDEO_TOP_K},
            "epoch": epoch + 1,
            "best_metric": self.best,
            "best_epoch": self.best_epoch,
        }
        if improved:
            save_checkpoint(self.out / "best", self.model, ckpt_meta)
        train_state = {
            "epoch": epoch,
            "best": self.best,
            "best_second": self.best_second,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "plateau": self.plateau.state_dict() if self.plateau else None,
            "scaler": self.scaler.state_dict() if self.use_amp else None,
            "history": self.history,
        }
        save_checkpoint(
            self.out / "last", self.model, ckpt_meta, optimizer=self.optimizer,
            training_state=train_state,
        )
        write_history(self.out, self.history)
        try:
            from ..plots import plot_history

            plot_history(self.history, self.out / "curves.png")
        except Exception as exc:  # noqa: BLE001 (a plotting problem must never stop training)
            log.warning("could not draw %s: %s", self.out / "curves.png", exc)

    # ------------------------------------------------------------------ the loop
    def fit(self) -> dict[str, Any]:
        """Build everything, then train until ``epochs``, early stopping (``patience``) or
        ``stop_after`` epochs of this invocation; the run's summary."""
        cfg = self.config
        self.build_model()
        self.build_data()
        self.build_optimizer()
        self.restore()
        self.write_config()
        stopped_early = False
        epochs_this_run = 0
        if self.start_epoch >= cfg.epochs:
            log.info("nothing to do: %d of %d epochs already done", self.start_epoch, cfg.epochs)
        for epoch in range(self.start_epoch, cfg.epochs):
            if cfg.stop_after is not None and epochs_this_run >= cfg.stop_after:
                break
            if cfg.patience and self.bad_epochs >= cfg.patience:
                stopped_early = True
                break
            t0 = time.time()
            row = self.train_epoch(epoch)
            metrics, video_score, value, second = self.validate()
            for k, v in metrics.items():
                row[f"dev_{k}"] = v
            improved = self.select(epoch, value, second)
            row["seconds"] = round(time.time() - t0, 2)
            self.history.append(row)
            epochs_this_run += 1  # noqa: SIM113 (counts epochs of this invocation, not of the run)
            stop = bool(cfg.patience and self.bad_epochs >= cfg.patience)
            if self.dist.main:
                self.save(epoch, metrics, video_score, improved)
                log.info(
                    "epoch %d/%d: loss %.4f, dev %s %.4f%s (%.1fs)",
                    epoch + 1,
                    cfg.epochs,
                    row.get("train_loss", float("nan")),
                    self.main_metric,
                    value,
                    " *" if improved else "",
                    row["seconds"],
                )
            if stop:
                stopped_early = True
                log.info(
                    "early stopping: no dev improvement for %d epochs (best %.4f at epoch %d)",
                    self.bad_epochs,
                    self.best,
                    self.best_epoch,
                )
                break
        return {
            "out_dir": str(self.out),
            "main_metric": self.main_metric,
            "best_metric": self.best,
            "best_epoch": self.best_epoch,
            "last_epoch": (self.history[-1]["epoch"] if self.history else 0),
            "stopped_early": stopped_early,
            "features": list(self.features),
            "history": self.history,
        }
