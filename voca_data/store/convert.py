"""Lossless conversion between a Zarr store and an HDF5 file (netCDF4 layout, written by h5netcdf).

Every array keeps its dtype, shape, dimension names, fill value, attributes and bytes (NaN fills,
integer fills and UTF-8 strings included); root attributes that HDF5 cannot hold (nested dicts,
lists, booleans, ``None``) are stored as JSON strings listed under ``_voca_json_attrs`` (the same
for a variable's attributes). Per-frame arrays are copied block by block (``block_size`` videos at
a time), so memory stays bounded by one shard whatever the store's size. Converting back gives
the same Zarr layout (inner chunks, shards, per-video chunking) as the original.

Example
-------
>>> from voca_data.store.convert import convert
>>> convert("lavdf.zarr", "lavdf.h5")          # doctest: +SKIP
>>> convert("lavdf.h5", "copy.zarr")           # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import schema
from ..provenance import history_entry
from .reader import JSON_ATTRS_KEY, StoreError, decode_attrs, is_hdf5

log = logging.getLogger(__name__)

__all__ = ["convert", "encode_attrs"]

HDF5_SUFFIXES = (".h5", ".hdf5", ".nc", ".h5nc")
_HDF5_COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
_FILL_KEY = "_FillValue"


def encode_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes an HDF5 file can hold: strings and (non-bool) numbers stay, everything else
    (dicts, lists, booleans, ``None``) becomes a JSON string whose key is listed under
    ``_voca_json_attrs``. :func:`voca_data.store.reader.decode_attrs` undoes it.

    >>> encode_attrs({"fps": 25.0, "complete": True})
    {'fps': 25.0, 'complete': 'true', '_voca_json_attrs': '["complete"]'}
    """
    out: dict[str, Any] = {}
    encoded: list[str] = []
    for key, value in attrs.items():
        if isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            out[key] = value
        else:
            out[key] = json.dumps(value, allow_nan=True)
            encoded.append(key)
    if encoded:
        out[JSON_ATTRS_KEY] = json.dumps(encoded)
    return out


def _plain(value: Any) -> Any:
    """numpy scalars/arrays from h5py attributes -> python values (as JSON would hold them)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()] if value.dtype.kind in "SO" else value.tolist()
    return value


def _kind(path: Path) -> str:
    if path.is_dir():
        return "zarr"
    if path.exists() and is_hdf5(path):
        return "hdf5"
    if path.exists():
        raise StoreError(f"{path} is neither a Zarr store directory nor an HDF5 file")
    raise FileNotFoundError(f"{path}: no such store")


def _out_kind(path: Path) -> str:
    if path.suffix.lower() == ".zarr":
        return "zarr"
    if path.suffix.lower() in HDF5_SUFFIXES:
        return "hdf5"
    raise ValueError(f"{path}: output must end in .zarr or one of {', '.join(HDF5_SUFFIXES)}")



def _frame_extent_written(data: np.ndarray, fill: Any, frame_axis: int, chunk: int) -> int:
    """Frames (rounded up to ``chunk``) that hold anything but fill in this block: the rest stays
    unwritten in HDF5 and reads back as the fill value, so padding costs no disk."""
    nonfill = ~schema.is_fill(data, fill)
    if data.dtype.kind == "f":  # a NaN with another payload than the fill's is data too
        nonfill |= np.isnan(data) & (data.view(f"u{data.itemsize}") != np.asarray(
            fill, dtype=data.dtype).view(f"u{data.itemsize}"))
    axes = tuple(a for a in range(data.ndim) if a != frame_axis)
    used = np.flatnonzero(nonfill.any(axis=axes)) if data.size else np.array([], dtype=int)
    if used.size == 0:
        return 0
    return min(data.shape[frame_axis], int(np.ceil((used[-1] + 1) / chunk)) * chunk)


def _blocks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, max(size, 1)):
        yield slice(start, min(start + size, n))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _swap_in(staged: Path, out: Path) -> None:
    """Put the finished ``staged`` output at ``out``, crash-safely: a file replaces atomically; a
    directory goes through ``.NAME.replaced`` (the old output), which :func:`_recover_out` puts
    back if a crash leaves ``out`` missing. A reader never sees a half-written ``out``."""
    if staged.is_file():
        os.replace(staged, out)
        return
    old = out.with_name(f".{out.name}.replaced")
    _remove(old)
    if out.exists():
        os.rename(out, old)
    os.rename(staged, out)
    _remove(old)


def _recover_out(out: Path) -> None:
    """Undo a swap a crash interrupted: the old output back in place if ``out`` is missing."""
    old = out.with_name(f".{out.name}.replaced")
    if old.exists():
        if out.exists():
            _remove(old)
        else:
            os.rename(old, out)
            log.warning("%s: restored the previous output (a conversion was interrupted)", out)


# --------------------------------------------------------------------------- Zarr -> HDF5
def _zarr_to_hdf5(src: Path, out: Path, progress: bool) -> None:
    import h5netcdf
    import h5py
    import zarr
    from voca_data.progress import tqdm

    root = zarr.open_group(str(src), mode="r", zarr_format=3, use_consolidated=False)
    attrs = dict(root.attrs)
    if "voca_schema" not in attrs:
        raise StoreError(f"{src} has no 'voca_schema' attribute: not a voca store")
    block = int(attrs.get("block_size", schema.DEFAULT_BLOCK_SIZE))
    arrays = dict(root.arrays())
    names = [n for n in schema.VARIABLES if n in arrays] + sorted(n for n in arrays if n not in schema.VARIABLES)
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        tmp.unlink()
    with h5netcdf.File(tmp, "w", invalid_netcdf=True) as f:
        for name in names:
            arr = arrays[name]
            dims = list(arr.metadata.dimension_names or [f"{name}_dim_{k}" for k in range(arr.ndim)])
            for d, size in zip(dims, arr.shape):
                if d in f.dimensions:
                    if f.dimensions[d].size != size:
                        raise StoreError(f"{src}: dimension {d!r} of {name!r} has size {size}, "
                                         f"another variable has {f.dimensions[d].size}")
                else:
                    f.dimensions[d] = int(size)
            is_str = arr.dtype.kind not in "fiub"
            kwargs: dict[str, Any] = {}
            if arr.ndim and all(arr.shape):
                kwargs["chunks"] = tuple(min(int(c), int(s)) for c, s in zip(arr.chunks, arr.shape))
                kwargs.update(_HDF5_COMPRESSION)
            if is_str:
                dtype: Any = h5py.string_dtype("utf-8")
            else:
                dtype = arr.dtype
                kwargs["fillvalue"] = np.asarray(arr.fill_value, dtype=arr.dtype)[()]
            var = f.create_variable(name, tuple(dims), dtype=dtype, **kwargs)
            var.attrs.update(encode_attrs(dict(arr.attrs)))
            if len(dims) > 1 and dims[:2] == ["video", "frame"]:
                frame_axis = dims.index("frame")
                chunk = int(arr.chunks[frame_axis])
                for sl in tqdm(list(_blocks(arr.shape[0], block)), desc=f"{name} -> hdf5",
                               disable=not progress, leave=False):
                    data = np.asarray(arr[sl])
                    ext = _frame_extent_written(data, arr.fill_value, frame_axis, chunk)
                    if ext:
                        var[sl, :ext] = data[:, :ext]
            elif is_str:
                data = arr[...]
                var[...] = np.array(np.asarray(data).tolist(), dtype=object).reshape(arr.shape)
            else:
                var[...] = np.asarray(arr[...])
        history = list(attrs.get("history", []))
        history.append(history_entry("convert", source=str(src), to="hdf5"))
        attrs["history"] = history
        f.attrs.update(encode_attrs(attrs))
    tmp.rename(out)


def _child_zarr_to_hdf5() -> None:
    """``python -c`` body of :func:`_isolated_zarr_to_hdf5`'s child: arguments as JSON on stdin,
    the outcome as one JSON line on stdout."""
    import sys

    args = json.loads(sys.stdin.read())
    out = sys.stdout
    failures: list[BaseException] = []

    def report(exc: BaseException | None) -> None:
        if exc is None:
            doc: dict[str, Any] = {"ok": True}
        else:
            doc = {"ok": False, "type": type(exc).__name__, "message": str(exc),
                   "errno": getattr(exc, "errno", None) if isinstance(exc, OSError) else None}
        out.write(json.dumps(doc) + "\n")
        out.flush()

    def unraisable(hook: Any) -> None:  # h5py reports failed chunk flushes here, not as raises
        failures.append(hook.exc_value)

    sys.unraisablehook = unraisable
    sys.excepthook = lambda *exc: failures.append(exc[1])  # (Cython prints them through it)
    try:
        _zarr_to_hdf5(Path(args["src"]), Path(args["out"]), bool(args["progress"]))
        first = next((f for f in failures if isinstance(f, OSError)), None)
        report(first)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        first = next((f for f in failures if isinstance(f, OSError)), None)
        report(first if first is not None and not isinstance(exc, StoreError) else exc)
    finally:
        # skip the interpreter's teardown: h5py objects left in a failed state (a full disk)
        # crash it with SIGSEGV when they are freed
        os._exit(0)


def _isolated_zarr_to_hdf5(src: Path, out: Path, progress: bool, shown: Path) -> None:
    """:func:`_zarr_to_hdf5` in a child process, so that a failed write (a full disk, a file-size
    limit) is one exception here, never HDF5's crash of this process, and the partial file is
    removed. An I/O failure is raised as ``OSError(errno, strerror, SHOWN)``."""
    import subprocess
    import sys

    code = "from voca_data.store.convert import _child_zarr_to_hdf5; _child_zarr_to_hdf5()"
    request = json.dumps({"src": str(src), "out": str(out), "progress": progress})
    proc = subprocess.run([sys.executable, "-c", code], input=request, stdout=subprocess.PIPE,
                          text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    doc = json.loads(lines[-1]) if lines else None
    if doc is not None and doc["ok"] and proc.returncode == 0:
        return
    for partial in (out, out.with_name(out.name + ".partial")):
        _remove(partial)
    if doc is None:
        raise RuntimeError(f"writing {shown} (HDF5) stopped: the writer process ended with exit "
                           f"code {proc.returncode}; the partial output was removed")
    if doc.get("errno"):
        raise OSError(doc["errno"], os.strerror(doc["errno"]), str(shown))
    if doc["type"] == "StoreError":
        raise StoreError(doc["message"])
    if doc["type"] == "KeyboardInterrupt":
        raise KeyboardInterrupt
    raise RuntimeError(f"writing {shown} (HDF5): {doc['type']}: {doc['message']}")


# --------------------------------------------------------------------------- HDF5 -> Zarr
def _hdf5_to_zarr(src: Path, out: Path, progress: bool) -> None:
    import h5netcdf
    import zarr
    from voca_data.progress import tqdm

    from .writer import _compressor, _consolidate, _string_compressor

    with h5netcdf.File(src, "r") as f:
        attrs = decode_attrs({k: _plain(v) for k, v in f.attrs.items()})
        if "voca_schema" not in attrs:
            raise StoreError(f"{src} has no 'voca_schema' attribute: not a voca store")
        block = int(attrs.get("block_size", schema.DEFAULT_BLOCK_SIZE))
        history = list(attrs.get("history", []))
        history.append(history_entry("convert", source=str(src), to="zarr"))
        attrs["history"] = history
        tmp = out.with_name(out.name + ".partial")
        if tmp.exists():
            shutil.rmtree(tmp)
        root = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        root.attrs.update(attrs)
        for name, var in f.variables.items():
            vattrs = {k: _plain(v) for k, v in var.attrs.items()}
            fill = vattrs.pop(_FILL_KEY, None)
            vattrs = decode_attrs(vattrs)
            is_str = var.dtype.kind not in "fiub"
            dims = list(var.dimensions)
            shape = tuple(int(s) for s in var.shape)
            h5_chunks = tuple(var.chunks) if var.chunks else (shape or None)
            kwargs: dict[str, Any] = {"name": name, "shape": shape, "dimension_names": dims, "attributes": vattrs}
            if is_str:
                kwargs.update(dtype=str, fill_value="", compressors=_string_compressor())
            else:
                kwargs.update(dtype=var.dtype, compressors=_compressor(),
                              fill_value=np.asarray(0 if fill is None else fill, dtype=var.dtype)[()])
            frame_var = len(dims) > 1 and dims[:2] == ["video", "frame"]
            if frame_var:
                # shards as the writer makes them: (block_size, all frames, dim), a whole number
                # of inner chunks
                kwargs["chunks"] = h5_chunks
                kwargs["shards"] = tuple(
                    int(np.ceil((block if k == 0 else s) / c)) * c
                    for k, (s, c) in enumerate(zip(shape, h5_chunks)))
                kwargs["config"] = {"write_empty_chunks": False}
            elif shape:
                kwargs["chunks"] = h5_chunks
            arr = root.create_array(**kwargs)
            if frame_var:
                for sl in tqdm(list(_blocks(shape[0], block)), desc=f"{name} -> zarr",
                               disable=not progress, leave=False):
                    arr[sl] = var[sl]
            elif is_str:
                raw = var[...]
                values = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in np.ravel(raw)]
                arr[...] = np.array(values, dtype=object).reshape(shape)
            else:
                arr[...] = var[...]
    _consolidate(tmp)
    tmp.rename(out)


def convert(src: str | Path, out: str | Path, overwrite: bool = False, progress: bool = False) -> Path:
    """Convert a store between Zarr (``.zarr`` directory) and HDF5 (``.h5`` file), losslessly.

    The direction follows from ``src`` (a Zarr directory or an HDF5 file) and ``out``'s suffix.
    The output is written under a temporary name and renamed when complete, so an interrupted
    conversion never leaves a half-written ``out``. A ``convert`` entry is appended to ``history``.

    Raises
    ------
    FileExistsError
        ``out`` exists and ``overwrite`` is false.
    ValueError
        Same format on both sides, or an unknown output suffix.
    """
    src, out = Path(src), Path(out)
    kind_in, kind_out = _kind(src), _out_kind(out)
    if kind_in == kind_out:
        raise ValueError(f"{src} is already {kind_in}; convert goes Zarr <-> HDF5 "
                         f"(give an output ending in {'.h5' if kind_in == 'zarr' else '.zarr'})")
    if src.resolve() == out.resolve():
        raise ValueError(f"input and output are the same path: {src}")
    from ..lock import lock

    with lock(out, what="store"):
        _recover_out(out)
        if out.exists() and not overwrite:
            raise FileExistsError(f"{out} already exists; pass --overwrite (overwrite=True) to replace it")
        staged = out.with_name(f".{out.name}.converted")
        _remove(staged)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Consolidated metadata")
            if kind_in == "zarr":
                _isolated_zarr_to_hdf5(src, staged, progress, shown=out)
            else:
                _hdf5_to_zarr(src, staged, progress)
        _swap_in(staged, out)
    log.info("converted %s (%s) -> %s (%s)", src, kind_in, out, kind_out)
    return out
