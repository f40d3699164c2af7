"""The training loop of :func:`voca_models.train`, one module per concern.

=================  =====================================================================
module             concern
=================  =====================================================================
``resume``         the run's configuration: a fresh run's, or a resumed run's saved one
                   reconciled with what may change (``RUNTIME_OPTIONS``); the run directory
``preflight``      the store, checked before anything is built: integrity, splits, features
                   (``features="auto"``), statistics, automatic positive weights
``distributed``    the device, the torchrun process group (:class:`Distributed`), the seeds
``schedule``       the learning-rate schedule (warmup + cosine per step, or plateau per epoch)
``trainer``        :class:`Trainer`: build the data, the model, the optimizer; one epoch;
                   validation; checkpoints and history, one method each
``selection``      the dev-split metrics that select the best epoch and the video score
``history``        ``history.csv`` (the curves, ``curves.png``, are drawn by
                   :func:`voca_models.plots.plot_history`)
=================  =====================================================================

:func:`voca_models.train` (in :mod:`voca_models.train`) runs them in that order.

>>> from voca_models.training import Trainer                         # doctest: +SKIP
"""

from __future__ import annotations

from .distributed import Distributed, seed_everything, training_device
from .preflight import StorePlan, auto_features, auto_pos_weight, check_store
from .resume import RUNTIME_OPTIONS, RunConfig, prepare_out_dir, reconcile_config
from .selection import choose_video_score, dev_metrics
from .trainer import Trainer, compute_loss

__all__ = [
    "RUNTIME_OPTIONS",
    "Distributed",
    "RunConfig",
    "StorePlan",
    "Trainer",
    "auto_features",
    "auto_pos_weight",
    "check_store",
    "choose_video_score",
    "compute_loss",
    "dev_metrics",
    "prepare_out_dir",
    "reconcile_config",
    "seed_everything",
    "training_device",
]
