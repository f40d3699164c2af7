"""The configuration of a training run: a fresh run's, or a resumed run's saved configuration
reconciled with the options given now; and the run directory (never silently overwritten).

>>> from voca_models.training.resume import reconcile_config
>>> run = reconcile_config("lstm", "runs/lstm", {"hidden": 64}, {"epochs": 3})
>>> run.config.epochs, run.out, run.resumed
(3, PosixPath('runs/lstm'), False)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..configs import TrainConfig

__all__ = ["RUNTIME_OPTIONS", "RunConfig", "prepare_out_dir", "reconcile_config"]

#: options that may change between an interrupted run and its resumption without changing results
RUNTIME_OPTIONS = (
    "epochs",
    "patience",
    "progress",
    "num_workers",
    "device",
    "stop_after",
    "eval_batch_size",
)


@dataclass
class RunConfig:
    """What a run starts from: the training configuration, the model options given (not yet
    resolved against the store), the run directory and, on resume, the checkpoint's state."""

    config: TrainConfig
    model_options: dict[str, Any]
    out: Path
    resume_meta: dict[str, Any] | None = None  #: the resumed ``last`` checkpoint's meta.json
    optimizer_state: dict[str, Any] | None = None
    training_state: dict[str, Any] | None = None
    resume_from: str | None = None  #: the ``resume`` argument, for messages

    @property
    def resumed(self) -> bool:
        return self.resume_meta is not None


def reconcile_config(
    model_name: str,
    out_dir: str | Path | None,
    model_config: Mapping[str, Any] | None,
    train_config: Mapping[str, Any] | TrainConfig | None,
    resume: str | Path | None = None,
) -> RunConfig:
    """The run's configuration. Without ``resume``: ``train_config`` and ``model_config`` as
    given. With ``resume`` (a run or checkpoint directory): the configuration saved in its ``last``
    checkpoint, where only :data:`RUNTIME_OPTIONS` may differ from what is given now (anything else
    is a ``ValueError`` naming the option and both values), and its optimizer and training state.
    """
    from ..checkpoint import (
        CheckpointError,
        load_training_state,
        read_meta,
        recover_checkpoint,
        resolve_checkpoint_dir,
    )

    given_train = (
        train_config.to_dict()
        if isinstance(train_config, TrainConfig)
        else dict(train_config or {})
    )
    if resume is None:
        if out_dir is None:
            raise ValueError("out_dir is required (or resume=)")
        return RunConfig(TrainConfig.from_dict(given_train), dict(model_config or {}), Path(out_dir))
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
    return RunConfig(
        config=cfg,
        model_options=dict(meta["model_config"]),
        out=Path(out_dir) if out_dir is not None else ckpt_dir.parent,
        resume_meta=meta,
        optimizer_state=optim_state,
        training_state=state,
        resume_from=str(resume),
    )


def prepare_out_dir(run: RunConfig, overwrite: bool, locks: Any = None) -> None:
    """Take the run directory's lock (rank 0, into the ``contextlib.ExitStack`` ``locks``) and
    refuse a directory that already holds a run unless it is resumed or ``overwrite`` is set."""
    import os

    if locks is not None and int(os.environ.get("RANK", "0")) == 0:  # one writer per run dir
        from voca_data.lock import lock

        locks.enter_context(lock(run.out, what="training run directory"))
    if not run.resumed and not overwrite and (run.out / "last" / "meta.json").exists():
        raise FileExistsError(
            f"{run.out} already holds a training run: continue it with resume={str(run.out)!r} "
            "(voca train --resume), choose another output directory, or pass overwrite=True "
            "(--overwrite) to replace it"
        )
