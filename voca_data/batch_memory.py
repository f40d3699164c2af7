"""Shared memory for the batches that DataLoader workers send, reused instead of made anew.

A DataLoader worker hands its batch to the main process through shared memory. Fresh shared
memory costs more than the reading itself: every page of it is allocated and zeroed by the kernel
on first touch (on this project's 2-core VM, 2026-11-30: 8.6 ms for one 16 x 128-frame batch of
512 + 1024 float32 dims, against 0.5 ms to fill memory that is already mapped; the
``reuse_memory=False`` row of docs/benchmarks.md shows the effect on a DataLoader). So each
worker keeps a few shared-memory slots and fills a free one:

* :meth:`BatchMemory.take` gives a slot that no process uses and marks it *lent*;
* the batch travels as a :class:`SharedBatch`, whose unpickling in the receiving process
  (:func:`_received`) watches the tensors' storage there;
* when the receiving process has dropped every tensor of the batch (views included: the storage
  itself has died), it marks the slot free again in a small flag array both processes map.

A slot is never written while any tensor of the batch it held is alive in the process that
received it, so kept batches stay intact (their slots are simply not reused; a worker with no free
slot allocates fresh memory, as before). The one pattern this cannot see is the receiving
process passing a batch tensor on to a third process through ``torch.multiprocessing`` and then
dropping its own reference: clone such a tensor first, or build the dataset with
``reuse_memory=False`` (see :class:`voca_data.torch.VideoDataset`).

>>> memory = BatchMemory(slots=2)                      # doctest: +SKIP
>>> slot = memory.take(1 << 20)                        # doctest: +SKIP
>>> x = slot.tensor(torch.float32, (16, 128), offset=0)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["BatchMemory", "SharedBatch", "Slot", "worker_memory"]

#: slots per worker: one being filled, the DataLoader's prefetched ones (2 by default), the
#: batch the training loop holds and the one it is receiving, and one spare
SLOTS = 6

#: byte alignment of each tensor inside a slot
ALIGN = 64


def _fresh_storage(nbytes: int) -> torch.UntypedStorage:
    """``nbytes`` of new shared memory (public ``share_memory_()``; a slot is made once)."""
    return torch.empty(max(int(nbytes), 1), dtype=torch.uint8).share_memory_().untyped_storage()


class Slot:
    """One lent slot: ``storage`` to carve the batch's tensors from, ``index`` in its flags."""

    def __init__(self, memory: BatchMemory, index: int, storage: torch.UntypedStorage):
        self.memory, self.index, self.storage = memory, index, storage

    def tensor(self, dtype: torch.dtype, shape: tuple[int, ...], offset: int) -> torch.Tensor:
        """A ``dtype`` tensor of ``shape`` at byte ``offset`` of the slot (a multiple of its
        element size)."""
        size = dtype.itemsize
        if offset % size:
            raise ValueError(f"offset {offset} is not a multiple of {dtype}'s {size} bytes")
        return torch.empty(0, dtype=dtype).set_(self.storage, offset // size, shape)


class BatchMemory:
    """The slots of one process; ``flags[i]`` is 1 while slot ``i`` is lent out, 0 when free."""

    def __init__(self, slots: int = SLOTS):
        self.pid = os.getpid()
        self.flags = torch.zeros(slots, dtype=torch.uint8).share_memory_()
        self._flags = self.flags.numpy()
        self.storages: list[torch.UntypedStorage | None] = [None] * slots
        #: slots lent, slots made (a free one too small is made anew), times none was free
        self.lent = self.made = self.none_free = 0

    def take(self, nbytes: int) -> Slot | None:
        """A free slot of at least ``nbytes``, now marked lent; ``None`` when every slot is
        lent (the caller then allocates fresh memory)."""
        free = [i for i, f in enumerate(self._flags.tolist()) if f == 0]
        if not free:
            self.none_free += 1
            return None
        fits = [i for i in free if self.storages[i] is not None
                and self.storages[i].nbytes() >= nbytes]
        index = fits[0] if fits else free[0]
        if not fits:  # a new slot, or a free one that is too small for this batch
            self.storages[index] = None  # the old memory goes before the new is made
            self.storages[index] = _fresh_storage(nbytes)
            self.made += 1
        self._flags[index] = 1
        self.lent += 1
        storage = self.storages[index]
        assert storage is not None
        return Slot(self, index, storage)


_MEMORY: BatchMemory | None = None


def storage_objects_preserved() -> bool:
    """Whether torch keeps a storage's Python object alive as long as the storage itself (torch
    2.1 and later): releasing a slot when that object dies relies on it."""
    x = torch.zeros(1)
    ref = weakref.ref(x.untyped_storage())
    return ref() is not None


_PRESERVED = storage_objects_preserved()


def worker_memory() -> BatchMemory | None:
    """This process's :class:`BatchMemory` (a forked child makes its own); ``None`` with a torch
    too old to reuse memory safely."""
    global _MEMORY
    if not _PRESERVED:
        return None
    if _MEMORY is None or _MEMORY.pid != os.getpid():
        _MEMORY = BatchMemory()
    return _MEMORY


def layout(specs: Mapping[str, tuple[tuple[int, ...], torch.dtype]]) -> tuple[dict[str, int], int]:
    """Byte offset of each ``name -> (shape, dtype)`` in one slot, and the bytes needed."""
    offsets, pos = {}, 0
    for name, (shape, dtype) in specs.items():
        pos = -(-pos // ALIGN) * ALIGN
        offsets[name] = pos
        n = 1
        for d in shape:
            n *= int(d)
        pos += n * dtype.itemsize
    return offsets, pos


class SharedBatch(dict):
    """A batch (a ``dict`` of tensors) in a lent slot: sending it to another process lets that
    process give the slot back once it has dropped every tensor of the batch. It arrives as a
    plain ``dict``."""

    slot: Slot

    def __reduce__(self) -> tuple[Any, ...]:
        return (_received, (dict(self), self.slot.memory.flags, self.slot.index))


class _Release:
    """Marks a slot free once every storage of its batch has died in the receiving process."""

    def __init__(self, flags: torch.Tensor, index: int, pending: int):
        self.flags, self.index, self.pending = flags, index, pending

    def __call__(self) -> None:
        self.pending -= 1
        if self.pending == 0:
            self.flags[self.index] = 0


def _received(tensors: dict[str, torch.Tensor], flags: torch.Tensor, index: int) -> dict:
    """Unpickling a :class:`SharedBatch`: watch the storages the batch's tensors map here."""
    storages = {}
    for t in tensors.values():
        s = t.untyped_storage()
        storages[id(s)] = s
    release = _Release(flags, index, len(storages))
    for s in storages.values():
        weakref.finalize(s, release).atexit = False
    return tensors
