"""Where a run computes: its device (the one :func:`voca_data.devices.resolve_device`), the
torchrun process group (:class:`Distributed`, world size 1 without torchrun), and its seeds.

>>> from voca_models.training.distributed import Distributed, training_device
>>> device = training_device("cpu", local_rank=0)
>>> dist = Distributed(device.type)          # world 1, rank 0 outside torchrun
>>> dist.main, dist.mean(0.5)
(True, 0.5)
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["Distributed", "epoch_seed", "seed_everything", "training_device"]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's random generators."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of ``epoch`` of a run seeded with ``seed`` (re-seeding at every epoch is what makes
    a resumed run continue exactly)."""
    return (int(seed) * 1_000_003 + int(epoch) * 7919 + 17) % (2**31)


def training_device(device: str, local_rank: int = 0) -> torch.device:
    """The torch device for ``device`` (``cpu``, ``cuda``, ``cuda:N``, ``auto``); under torchrun
    ``cuda`` means this process's GPU, ``local_rank``."""
    from voca_data.devices import resolve_device

    return torch.device(resolve_device(device, index=local_rank))


class Distributed:
    """torch.distributed state from the torchrun environment (world size 1 without it); the
    process group is created here (``nccl`` on CUDA, else ``gloo``) and destroyed by
    :meth:`close` when this object created it."""

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
        """Rank 0: the process that validates, saves and logs."""
        return self.rank == 0

    def broadcast(self, values: list[float]) -> list[float]:
        """Rank 0's ``values`` on every rank."""
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64)
        self.dist.broadcast(t, src=0)
        return t.tolist()

    def mean(self, value: float) -> float:
        """The mean of ``value`` over the ranks."""
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        self.dist.all_reduce(t)
        return float(t.item()) / self.world

    def close(self) -> None:
        if self.owned:
            self.dist.destroy_process_group()
