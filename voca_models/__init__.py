"""voca_models: a small model zoo that trains and predicts on voca stores.

>>> import voca_models
>>> voca_models.list_models()
['covfusion', 'localizer', 'lstm']
>>> run = voca_models.train("localizer", "lavdf.zarr", "runs/loc",
...                         model_config={"d_model": 256}, train_config={"epochs": 20})  # doctest: +SKIP
>>> model, meta = voca_models.load_checkpoint("runs/loc")                                # doctest: +SKIP
>>> rows = voca_models.predict(model, "lavdf.zarr", split="test", meta=meta)              # doctest: +SKIP
"""

from .checkpoint import CheckpointError, load_checkpoint
from .models import build, list_models
from .predict import predict
from .train import TrainConfig, train  # binds the function over the submodule attribute

__all__ = [
    "build",
    "list_models",
    "load_checkpoint",
    "predict",
    "train",
    "TrainConfig",
    "CheckpointError",
]
