"""Which source layout a store was extracted from: ``lavdf``, ``ffdv`` or ``folder``.

The store's ``dataset`` provenance names it (its ``layout``, ``source``, ``name`` or ``kind``);
a store of unknown origin counts as LAV-DF-like when it carries fake periods and LAV-DF's
``modify_video`` / ``modify_audio`` flags, else as a folder of real/fake videos. The benchmark
uses it to choose its tables (LAV-DF's temporal-localization columns, or video-level ones).

>>> from voca_data.sources.detect import detect_layout
>>> detect_layout("lavdf.zarr")                                     # doctest: +SKIP
'lavdf'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LAYOUTS", "detect_layout"]

#: the layouts :func:`detect_layout` tells apart
LAYOUTS = ("lavdf", "ffdv", "folder")


def detect_layout(store: str | Path | Any) -> str:
    """``lavdf`` / ``ffdv`` / ``folder`` for a store (a path, URL or :class:`voca_data.Store`),
    from its dataset provenance, else from its variables (see the module's docstring)."""
    from ..store.handle import Store

    handle = Store.open(store)  # no incomplete-store warning: only the metadata is read
    dataset = handle.attrs.get("dataset") or {}
    text = " ".join(str(dataset.get(k, "")) for k in ("layout", "source", "name", "kind")).lower()
    for name in ("lavdf", "lav-df", "ffdv", "folder"):
        if name in text:
            return name.replace("-", "")
    ds = handle.dataset
    mv = np.asarray(ds["modify_video"].values) if "modify_video" in ds else np.array([-1])
    ma = np.asarray(ds["modify_audio"].values) if "modify_audio" in ds else np.array([-1])
    n_fakes = np.asarray(ds["n_fakes"].values) if "n_fakes" in ds else np.array([0])
    if ((mv >= 0) | (ma >= 0)).any() and (n_fakes > 0).any():
        return "lavdf"
    return "folder"
