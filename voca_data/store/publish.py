"""Publishing: copy a finalized store to any fsspec destination (a folder, ``s3://``, ``gs://``,
``hf://`` ...), with consolidated metadata, then verify the copy with :func:`check_store`.

Files are copied data first and metadata (``zarr.json``) last, the root ``zarr.json`` at the
very end: an interrupted publish leaves no store that opens as complete.

Example
-------
>>> from voca_data.store.publish import publish
>>> publish("lavdf.zarr", "s3://my-bucket/lavdf.zarr",
...         storage_options={"key": "...", "secret": "..."})                  # doctest: +SKIP
's3://my-bucket/lavdf.zarr'
>>> publish("lavdf.zarr", "hf://datasets/me/lavdf-clip/lavdf.zarr")          # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .handle import Location, Store, StoreError

log = logging.getLogger(__name__)

__all__ = ["PublishError", "publish"]


class PublishError(ValueError):
    """The store cannot be published, or the published copy does not check."""


def _source_files(location: Location) -> tuple[Any, str, list[str]]:
    """``(filesystem, root, relative file names)`` of a store."""
    import fsspec

    if location.is_remote:
        fs, root = fsspec.core.url_to_fs(location.url, **dict(location.storage_options))
    else:
        fs, root = fsspec.filesystem("file"), location.url
    if location.format == "hdf5":
        return fs, root, [""]
    root = root.rstrip("/")
    names = [f[len(root) + 1:] for f in fs.find(root)]
    return fs, root, names


def _order(name: str) -> tuple[int, str]:
    """Data first, then array metadata, the root ``zarr.json`` last."""
    if name == "zarr.json":
        return (2, name)
    if name.endswith("zarr.json"):
        return (1, name)
    return (0, name)


def publish(
    store: str | os.PathLike | Store,
    dest: str,
    storage_options: Mapping[str, Any] | None = None,
    *,
    source_options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    allow_incomplete: bool = False,
    verify: bool = True,
    progress: bool = False,
) -> str:
    """Copy ``store`` to ``dest`` (an fsspec URL or a local path) and return ``dest``.

    Parameters
    ----------
    store:
        The store to publish (path, URL or :class:`Store`); it must be complete (finalized)
        unless ``allow_incomplete``.
    dest:
        Where to: ``s3://bucket/name.zarr``, ``hf://datasets/user/repo/name.zarr``,
        ``gs://...``, ``file:///...`` or a local path.
    storage_options:
        fsspec options for ``dest`` (credentials, ``endpoint_url``, ``token`` ...).
    source_options:
        fsspec options for a remote ``store``.
    overwrite:
        Replace what is at ``dest`` (default: refuse).
    verify:
        Run :func:`voca_data.store.check.check_store` on ``dest`` after copying; problems raise
        :class:`PublishError` listing them.

    Raises
    ------
    PublishError
        incomplete source, something already at ``dest``, or the published copy has problems.
    """
    import fsspec
    from voca_data.progress import tqdm

    source = Store.open(store, source_options)
    if not source.complete and not allow_incomplete:
        raise PublishError(
            f"{source.url} is not complete (not finalized, or videos pending/failed: "
            f"{source.counts()}); run `voca finalize` first, or pass allow_incomplete=True "
            "(--allow-incomplete)")
    options = dict(storage_options or {})
    dest = str(dest)
    dest = dest.removeprefix("file://")
    fs, root = fsspec.core.url_to_fs(dest, **options)
    root = root.rstrip("/")
    if fs.exists(root):
        if not overwrite:
            raise PublishError(f"{dest} already exists; pass overwrite=True (--overwrite) to "
                               "replace it")
        fs.rm(root, recursive=True)
    src_fs, src_root, names = _source_files(source.location)
    names.sort(key=_order)
    for name in tqdm(names, desc="publish", disable=not progress, leave=False):
        src = f"{src_root}/{name}" if name else src_root
        dst = f"{root}/{name}" if name else root
        parent = dst.rsplit("/", 1)[0]
        if parent and not fs.exists(parent):
            fs.makedirs(parent, exist_ok=True)
        fs.pipe_file(dst, src_fs.cat_file(src))
    if source.location.format == "zarr":
        _consolidate(fs, root, dest, options)
    log.info("%s: published %d files to %s", source.url, len(names), dest)
    if verify:
        from .check import check_store

        problems = check_store(dest if "://" in dest else Path(dest),
                               storage_options=options or None)
        if problems:
            raise PublishError(f"{dest}: the published copy has {len(problems)} problem(s): "
                               + "; ".join(problems[:5]))
    return dest


def _consolidate(fs: Any, root: str, dest: str, options: Mapping[str, Any]) -> None:
    """Consolidated metadata in the root ``zarr.json`` (one request opens the store)."""
    import zarr
    import zarr.storage

    if "://" in dest:
        zstore = zarr.storage.FsspecStore.from_url(dest, storage_options=dict(options) or None,
                                                   read_only=False)
    else:
        zstore = zarr.storage.LocalStore(dest)
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Consolidated metadata")
            zarr.consolidate_metadata(zstore, zarr_format=3)
    except Exception as exc:
        raise StoreError(f"{dest}: cannot write consolidated metadata ({exc})") from exc
