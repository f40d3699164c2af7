"""The learning-rate schedule: linear warmup then cosine decay to ``min_lr_ratio`` (stepped per
batch), or ReduceLROnPlateau on the dev metric (stepped per epoch), or constant.

>>> import torch
>>> from voca_models.configs import TrainConfig
>>> opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
>>> per_step, per_epoch = make_schedulers(TrainConfig(scheduler="cosine"), opt, steps_per_epoch=10)
>>> per_epoch is None
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ..configs import TrainConfig

__all__ = ["lr_lambda", "make_schedulers"]


def lr_lambda(cfg: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """The learning-rate factor of each optimizer step (``LambdaLR``) under ``cfg``."""
    total = max(cfg.epochs * steps_per_epoch, 1)
    warmup = round(cfg.warmup_epochs * steps_per_epoch) if cfg.scheduler == "cosine" else 0

    def f(step: int) -> float:
        if cfg.scheduler != "cosine":
            return 1.0
        if warmup and step < warmup:
            return (step + 1) / warmup
        progress = min((step - warmup) / max(total - warmup, 1), 1.0)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


def make_schedulers(
    cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int
) -> tuple[Any, Any]:
    """``(per_step, per_epoch)``: a ``LambdaLR`` for the cosine schedule, a ``ReduceLROnPlateau``
    for the plateau one, ``None`` for the other (and both for ``constant``). The plateau scheduler
    alone owns the LR when chosen: a LambdaLR stepping beside it would reset every reduction."""
    per_step = (
        torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, steps_per_epoch))
        if cfg.scheduler == "cosine"
        else None
    )
    per_epoch = (
        torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=cfg.plateau_factor, patience=cfg.plateau_patience
        )
        if cfg.scheduler == "plateau"
        else None
    )
    return per_step, per_epoch
