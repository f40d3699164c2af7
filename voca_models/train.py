"""The training entry point shared by every model: :func:`train`.

AdamW; linear warmup then cosine decay (per step) or ReduceLROnPlateau (per epoch); gradient
clipping; early stopping on the dev split's main metric (frame AUC for frame-level models, video AUC
otherwise; ties broken by the other AUC); fixed seeds (the random state is re-seeded from ``(seed, epoch)`` at every epoch, which
makes ``resume`` continue exactly); AMP on CUDA; DDP under ``torchrun``.

The steps live in :mod:`voca_models.training`, one module per concern: the configuration and resume
reconciliation (``resume``), the store checks (``preflight``), the device and process group
(``distributed``), the LR schedule (``schedule``), the :class:`~voca_models.training.Trainer`
(``trainer``), model selection (``selection``) and ``history.csv`` (``history``).

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
import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .configs import TrainConfig
from .training import (
    RUNTIME_OPTIONS,
    Distributed,
    Trainer,
    auto_features,
    auto_pos_weight,
    choose_video_score,
    compute_loss,
    dev_metrics,
    prepare_out_dir,
    reconcile_config,
    training_device,
)
from .training.preflight import plan_store

__all__ = [
    "RUNTIME_OPTIONS",
    "TrainConfig",
    "auto_features",
    "auto_pos_weight",
    "choose_video_score",
    "compute_loss",
    "dev_metrics",
    "train",
]


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
    from .models import model_class

    model_class(model_name)  # an unknown model is refused first
    run = reconcile_config(model_name, out_dir, model_config, train_config, resume)
    prepare_out_dir(run, overwrite, _locks)
    # the store: checked before anything is built
    plan = plan_store(model_name, store, run.config, run.model_options, run.resume_meta,
                      run.resume_from)
    device = training_device(run.config.device, int(os.environ.get("LOCAL_RANK", "0")))
    dist = Distributed(device.type)
    try:
        return Trainer.from_plan(model_name, store, run, plan, dist, device).fit()
    finally:
        dist.close()
