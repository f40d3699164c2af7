"""Bring a store written with an older schema to the current one, in place (``voca upgrade``).

Schema 1 -> 2 adds two per-video variables and keeps every feature as it is:

* ``notes``: the remarks on an ok video (label notes, "no audio stream", ...), which schema 1
  kept in ``error``; ``error`` then says only why a video failed (empty for ok videos);
* ``has_audio``: 1 / 0 for ok videos (0 where schema 1's note said the media has no audio
  stream: the extractor wrote "no audio stream" there), -1 for pending and failed ones.

This is the one place that reads a schema-1 ``error`` text back. The upgrade is crash-safe: the
new variables are written and consolidated before ``voca_schema`` becomes 2, and the ``error`` of
ok videos is cleared last (running ``voca upgrade`` again finishes an interrupted upgrade).

Example
-------
>>> from voca_data.store.upgrade import upgrade
>>> upgrade("old.zarr")                          # doctest: +SKIP
{'store': 'old.zarr', 'from_schema': 1, 'to_schema': 2, 'videos': 120, 'without_audio': 3}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import schema

log = logging.getLogger(__name__)

__all__ = ["upgrade", "upgrade_hint"]

# what the schema-1 extractor wrote in `error` for an ok video whose media has no audio stream
_SCHEMA1_NO_AUDIO = "no audio"


def upgrade_hint(attrs: Mapping[str, Any], where: str | Path) -> str | None:
    """What to run to bring the store at ``where`` (root attributes ``attrs``) to the current
    schema; ``None`` when it is current.

    >>> upgrade_hint({"voca_schema": 1}, "old.zarr").split(":")[0]
    'old.zarr'
    >>> upgrade_hint({"voca_schema": 2}, "new.zarr") is None
    True
    """
    version = attrs.get("voca_schema")
    try:
        version = int(version)
    except (TypeError, ValueError):
        return None
    if version >= schema.SCHEMA_VERSION or version not in schema.READABLE_SCHEMAS:
        return None
    return (f"{where}: schema {version} (readable; its notes are in `error` and it does not record "
            "which videos have audio, so NaN audio is not checked): run `voca upgrade "
            f"{where}` to bring it to schema {schema.SCHEMA_VERSION} in place (features untouched)")


def _new_array(root: Any, path: Path, name: str, like: str, data: np.ndarray) -> None:
    """Create per-video variable ``name`` chunked and key-encoded like array ``like``."""
    from .writer import _chunk_key_encoding, _compressor, _fill_for, _string_compressor

    var = schema.VARIABLES[name]
    encoding = _chunk_key_encoding(path / like)
    arr = root.create_array(
        name=name, shape=data.shape, dtype=str if var.is_string else var.dtype,
        chunks=tuple(int(c) for c in root[like].chunks), fill_value=_fill_for(var),
        dimension_names=list(var.dims),
        attributes={"description": var.description, **({"units": var.units} if var.units else {})},
        chunk_key_encoding=({"name": "v2", "separator": "."} if encoding == "v2"
                            else {"name": "default", "separator": "/"}),
        compressors=_string_compressor() if var.is_string else _compressor(),
        overwrite=True,
    )
    arr[:] = data


def upgrade(path: str | Path) -> dict[str, Any]:
    """Upgrade the local Zarr store at ``path`` to schema :data:`~voca_data.store.schema.SCHEMA_VERSION`
    in place; returns what was done. A current store is left as it is. One writer at a time
    (the store's lock).

    >>> upgrade("old.zarr")["to_schema"]             # doctest: +SKIP
    2
    """
    import zarr

    from ..lock import lock
    from ..provenance import history_entry
    from .writer import _consolidate

    path = Path(path)
    if not (path / "zarr.json").is_file():
        raise ValueError(f"{path}: not a local Zarr store; only those are upgraded in place (an "
                         f"HDF5 file: voca convert FILE.h5 OUT.zarr, then voca upgrade OUT.zarr)")
    with lock(path, what="store"):
        root = zarr.open_group(str(path), mode="r+", zarr_format=3, use_consolidated=False)
        version = root.attrs.get("voca_schema")
        if version not in schema.READABLE_SCHEMAS:
            raise ValueError(f"{path}: voca_schema is {version!r}; voca upgrades schema "
                             f"{' and '.join(map(str, schema.READABLE_SCHEMAS[:-1]))} stores")
        status = np.asarray(root["status"][:])
        ok = status == schema.OK
        errors = np.array([str(e) for e in np.asarray(root["error"][:]).tolist()], dtype=object)
        done: dict[str, Any] = {"store": str(path), "from_schema": int(version),
                                "to_schema": schema.SCHEMA_VERSION, "videos": int(len(status))}
        if version == 1:
            notes = np.where(ok, errors, "").astype(object)
            no_audio = np.array([_SCHEMA1_NO_AUDIO in n.lower() for n in notes.tolist()], bool)
            has_audio = np.where(ok, np.where(no_audio, 0, 1), -1).astype(np.int8)
            _new_array(root, path, "notes", "error", notes)
            _new_array(root, path, "has_audio", "error", has_audio)
            history = list(root.attrs.get("history") or [])
            history.append(history_entry("upgrade", from_schema=1, to_schema=schema.SCHEMA_VERSION))
            _consolidate(path)
            root.attrs.update({"voca_schema": schema.SCHEMA_VERSION, "history": history})
            _consolidate(path)
            done["without_audio"] = int((has_audio == 0).sum())
            log.info("%s: upgraded to schema %d (%d ok videos, %d without audio)", path,
                     schema.SCHEMA_VERSION, int(ok.sum()), done["without_audio"])
        elif "notes" in root:
            notes = np.array([str(n) for n in np.asarray(root["notes"][:]).tolist()], dtype=object)
        else:
            notes = np.full(len(status), "", dtype=object)
        # schema 2: `error` only says why a video failed (also finishes an interrupted upgrade)
        moved = ok & (errors != "") & (errors == notes)
        if moved.any():
            root["error"][:] = np.where(moved, "", errors).astype(object)
            _consolidate(path)
        done["errors_cleared"] = int(moved.sum())
        return done
