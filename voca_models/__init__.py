"""voca_models: a small model zoo that trains and predicts on voca stores.

>>> import voca_models
>>> voca_models.list_models()
['covfusion', 'localizer', 'lstm']
>>> run = voca_models.train("localizer", "lavdf.zarr", "runs/loc",
...                         model_config={"d_model": 256}, train_config={"epochs": 20})  # doctest: +SKIP
>>> model, meta = voca_models.load_checkpoint("runs/loc")                                # doctest: +SKIP
>>> rows = voca_models.predict(model, "lavdf.zarr", split="test", meta=meta)              # doctest: +SKIP
"""

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

# public name -> the submodule that defines it, imported on first use, so that `voca evaluate
# --help` (which imports voca_models.commands.evaluate) does not import torch
_EXPORTS = {
    "CheckpointError": ".checkpoint", "load_checkpoint": ".checkpoint",
    "build": ".models", "list_models": ".models",
    "predict": ".predict",
    "train": ".train", "TrainConfig": ".configs",
}


class _Package(types.ModuleType):
    """``voca_models.train`` and ``voca_models.predict`` are the functions even once their
    submodules (which the import system also binds to those names) are imported."""

    def __getattribute__(self, name: str) -> Any:
        if name in _EXPORTS:
            return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        return super().__getattribute__(name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(_EXPORTS))


sys.modules[__name__].__class__ = _Package

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from .checkpoint import CheckpointError, load_checkpoint  # noqa: TC004
    from .models import build, list_models  # noqa: TC004
    from .predict import predict  # noqa: TC004
    from .configs import TrainConfig  # noqa: TC004
    from .train import train  # noqa: TC004

__all__ = [
    "build",
    "list_models",
    "load_checkpoint",
    "predict",
    "train",
    "TrainConfig",
    "CheckpointError",
]
