"""The one place that turns a device name into the device to use.

``auto`` picks CUDA when torch sees a GPU, else CPU; an explicit ``cuda`` (or ``cuda:N``)
without a GPU is an error that says what to do. Every part of voca (extraction, encoders,
training, inference) resolves its ``--device`` here.

>>> resolve_device("cpu")
'cpu'
>>> resolve_device("auto", index=0) in ("cpu", "cuda:0")
True
"""

from __future__ import annotations

__all__ = ["resolve_device"]


def resolve_device(device: str = "auto", *, index: int | None = None) -> str:
    """``auto`` -> ``cuda`` (``cuda:INDEX`` when ``index`` is given) when torch sees a GPU, else
    ``cpu``; a CUDA device requested without a GPU raises :class:`ValueError`.

    >>> resolve_device("cpu")
    'cpu'
    """
    import torch

    if device == "auto":
        if not torch.cuda.is_available():
            return "cpu"
        return "cuda" if index is None else f"cuda:{index}"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but torch sees no CUDA device; "
                         "use --device cpu (or auto)")
    return device
