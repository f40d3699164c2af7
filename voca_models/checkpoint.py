"""Checkpoints as safetensors + JSON: nothing is ever unpickled.

A checkpoint is a directory::

    model.safetensors   the weights
    meta.json           model name and config, training config, store provenance (encoders, face
                        detector, dataset), feature names/dims, normalisation statistics, metrics, epoch
    state.safetensors   optimizer tensors        } only for resuming training
    state.json          optimizer param groups, scheduler, grad scaler, early-stopping state, history

A training run writes ``OUT/best/`` and ``OUT/last/``; :func:`load_checkpoint` accepts either a
checkpoint directory or a run directory (then ``best/``).

>>> from voca_models import load_checkpoint
>>> model, meta = load_checkpoint("runs/localizer")        # doctest: +SKIP
>>> meta["model"], meta["feature_dims"]                      # doctest: +SKIP
('localizer', {'visual': 512, 'audio': 1024})
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .models import VideoModel, build, model_class

log = logging.getLogger(__name__)

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "read_meta",
    "load_training_state",
    "resolve_checkpoint_dir",
    "recover_checkpoint",
    "CheckpointError",
    "FORMAT",
    "FORMAT_VERSION",
]

FORMAT = "voca-checkpoint"
FORMAT_VERSION = 1
MODEL_FILE, META_FILE, STATE_FILE, STATE_META_FILE = (
    "model.safetensors",
    "meta.json",
    "state.safetensors",
    "state.json",
)


class CheckpointError(ValueError):
    """A checkpoint that cannot be used (missing, corrupt, or made for another model or store)."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _jsonable(value.tolist())
    if hasattr(value, "tolist"):  # numpy
        return _jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return value  # json writes Infinity/NaN, and reads them back
    return value


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(_jsonable(data), indent=2, sort_keys=False) + "\n")


def _flatten_optimizer(state: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, Any] = {}
    for idx, entry in state["state"].items():
        plain[str(idx)] = {}
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                name = f"optimizer.{idx}.{key}"
                tensors[name] = value.detach().cpu().contiguous()
                plain[str(idx)][key] = {"tensor": name}
            else:
                plain[str(idx)][key] = value
    return tensors, {"state": plain, "param_groups": state["param_groups"]}


def _unflatten_optimizer(
    tensors: Mapping[str, torch.Tensor], data: Mapping[str, Any]
) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for idx, entry in data["state"].items():
        state[int(idx)] = {
            key: tensors[value["tensor"]]
            if isinstance(value, dict) and "tensor" in value
            else value
            for key, value in entry.items()
        }
    return {"state": state, "param_groups": data["param_groups"]}


def save_checkpoint(
    directory: str | Path,
    model: VideoModel,
    meta: Mapping[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    training_state: Mapping[str, Any] | None = None,
) -> Path:
    """Write a checkpoint directory atomically (a crash leaves the previous one intact).

    ``meta`` should hold ``train_config``, ``store``, ``feature_dims``, ``stats``, ``metrics`` and
    ``epoch``; the model name and config are added here. ``training_state`` (scheduler, scaler,
    early-stopping counters ...) must be JSON-serialisable; the optimizer's tensors go to
    ``state.safetensors``.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(weights, str(tmp / MODEL_FILE), metadata={"format": FORMAT, "model": model.name})
        full = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": model.name,
            "model_config": model.config.to_dict(),
            **dict(meta),
        }
        _write_json(tmp / META_FILE, full)
        if optimizer is not None or training_state is not None:
            tensors, opt_meta = (
                _flatten_optimizer(optimizer.state_dict()) if optimizer is not None else ({}, None)
            )
            save_file(tensors, str(tmp / STATE_FILE), metadata={"format": FORMAT})
            _write_json(
                tmp / STATE_META_FILE, {"optimizer": opt_meta, **dict(training_state or {})}
            )
        old = None
        recover_checkpoint(directory)
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
            if old.exists():
                shutil.rmtree(old)
            directory.rename(old)
        _crash_window("previous checkpoint moved aside", directory)
        tmp.rename(directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def _crash_window(stage: str, directory: Path) -> None:
    """A point between the two renames of :func:`save_checkpoint` (tests inject crashes here)."""


def recover_checkpoint(directory: str | Path) -> bool:
    """Finish a :func:`save_checkpoint` that a crash interrupted between its two renames: when
    ``directory`` is missing but the previous checkpoint was moved aside (``.NAME.old-PID``), put
    it back. Leftover temporary directories (``.NAME.tmp-*``) of dead saves are removed once
    ``directory`` exists. Returns whether a checkpoint was restored.

    >>> recover_checkpoint("runs/localizer/last")     # doctest: +SKIP
    False
    """
    directory = Path(directory)
    parent = directory.parent
    if not parent.is_dir():
        return False
    restored = False
    try:
        olds = sorted(parent.glob(f".{directory.name}.old-*"), key=lambda p: p.stat().st_mtime)
        if not directory.exists() and olds:
            newest = olds.pop()
            newest.rename(directory)
            restored = True
            log.warning("%s: restored the previous checkpoint (a save was interrupted)", directory)
        if directory.exists():
            for stale in olds:
                shutil.rmtree(stale, ignore_errors=True)
    except OSError as exc:  # read-only run directory: use what is there
        log.debug("cannot recover %s: %s", directory, exc)
    return restored


def resolve_checkpoint_dir(path: str | Path) -> Path:
    """A checkpoint directory from a checkpoint or run directory (``best/`` preferred)."""
    path = Path(path)
    for candidate in (path, path / "best", path / "last"):
        recover_checkpoint(candidate)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    if path.is_file():
        if path.name in (MODEL_FILE, META_FILE):
            return path.parent
        raise CheckpointError(
            f"{path} is a file, not a voca checkpoint directory (model.safetensors + meta.json). Pickled "
            "checkpoints (.pth/.pt/.ckpt) are never loaded: they can run arbitrary code"
        )
    if (path / META_FILE).exists():
        return path
    for sub in ("best", "last"):
        if (path / sub / META_FILE).exists():
            return path / sub
    raise CheckpointError(
        f"{path} holds no voca checkpoint (no meta.json in it, nor in best/ or last/)"
    )


def read_meta(path: str | Path) -> dict[str, Any]:
    """The ``meta.json`` of a checkpoint (validated)."""
    directory = resolve_checkpoint_dir(path)
    file = directory / META_FILE
    try:
        meta = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(
            f"{file} is corrupt (not valid JSON: {exc}); use another checkpoint"
        ) from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{file} is not a voca checkpoint description (format != {FORMAT!r})")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{file}: checkpoint format {meta['format_version']} is newer than this "
            f"voca reads ({FORMAT_VERSION}); upgrade voca"
        )
    model_class(str(meta.get("model")))  # unknown model -> ValueError naming the choices
    meta["checkpoint_dir"] = str(directory)
    return meta


def _load_tensors(file: Path) -> dict[str, torch.Tensor]:
    if not file.exists():
        raise CheckpointError(f"{file} is missing; the checkpoint is incomplete")
    try:
        return load_file(str(file), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{file} is corrupt or not a safetensors file ({exc}); it was not loaded"
        ) from exc


def load_checkpoint(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    model_name: str | None = None,
    feature_dims: Mapping[str, int] | None = None,
) -> tuple[VideoModel, dict[str, Any]]:
    """Load a model (in eval mode) and its ``meta`` dict from a checkpoint or run directory.

    ``model_name``/``feature_dims``, when given, must match the checkpoint (else
    :class:`CheckpointError`). ``meta`` holds ``model``, ``model_config``, ``train_config``,
    ``store`` (path, provenance, splits), ``features``, ``feature_dims``, ``stats``, ``metrics``,
    ``epoch``.
    """
    meta = read_meta(path)
    directory = Path(meta["checkpoint_dir"])
    if model_name is not None and meta["model"] != model_name:
        raise CheckpointError(f"{directory} is a {meta['model']!r} checkpoint, not {model_name!r}")
    if feature_dims is not None:
        check_feature_dims(meta, feature_dims, str(directory))
    weights = _load_tensors(directory / MODEL_FILE)
    model = build(meta["model"], meta["model_config"])
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{directory / MODEL_FILE} does not fit the {meta['model']!r} model described "
            f"in meta.json: {str(exc).splitlines()[0]}"
        ) from exc
    model.to(map_location)
    model.eval()
    return model, meta


def check_feature_dims(
    meta: Mapping[str, Any], feature_dims: Mapping[str, int], where: str
) -> None:
    """Refuse a store whose feature dimensions differ from those the model was trained on."""
    for name in meta.get("features", []):
        want = int(meta["feature_dims"][name])
        have = feature_dims.get(name)
        if have is None:
            raise CheckpointError(
                f"the store has no feature {name!r}, which the model from {where} needs"
            )
        if int(have) != want:
            raise CheckpointError(
                f"feature {name!r} has {have} dims in the store but the model from {where} "
                f"was trained on {want}: use a store extracted with the same encoders"
            )


def load_training_state(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(optimizer_state_dict, training_state)`` of a checkpoint, for exact resume."""
    directory = resolve_checkpoint_dir(path)
    file = directory / STATE_META_FILE
    if not file.exists():
        raise CheckpointError(
            f"{directory} has no training state ({STATE_META_FILE}): it cannot be resumed"
        )
    try:
        data = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{file} is corrupt (not valid JSON: {exc})") from exc
    tensors = _load_tensors(directory / STATE_FILE)
    opt = data.pop("optimizer", None)
    return (_unflatten_optimizer(tensors, opt) if opt else {}), data
