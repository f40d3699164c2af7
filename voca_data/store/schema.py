"""Store schema, version 2: the one place that names every dimension, variable, dtype, fill value
and chunk shape. See ``docs/schema.md`` for the prose version.

Example
-------
>>> from voca_data.store import schema
>>> schema.VARIABLES["visual"].dims
('video', 'frame', 'visual_dim')
>>> schema.frame_extent(300)
384
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

SCHEMA_VERSION = 2
#: schema versions this voca reads (a schema-1 store lacks ``notes`` and ``has_audio``: its notes
#: are in ``error``; ``voca upgrade STORE`` adds them, :mod:`voca_data.store.upgrade`)
READABLE_SCHEMAS = (1, 2)
#: variables added by schema 2
ADDED_IN_SCHEMA_2 = ("notes", "has_audio")
DEFAULT_FPS = 25.0
AUDIO_RATE = 16_000
FRAME_CHUNK = 128  # inner chunk length along `frame`
DEFAULT_BLOCK_SIZE = 64  # videos per shard / per block task

# status codes
PENDING, OK, FAILED = 0, 1, 2
STATUS_NAMES = {PENDING: "pending", OK: "ok", FAILED: "failed"}

DIMENSIONS = ("video", "frame", "visual_dim", "audio_dim", "segment", "bound", "box")

# kinds of variables, by who writes them
STATIC = "static"  # per video, written once by `init`, one chunk
BLOCK = "block"  # per video, written by the block task, chunk = block
FRAME = "frame"  # per video and frame, sharded by block
STAT = "stat"  # written by `finalize`


@dataclass(frozen=True)
class Variable:
    name: str
    dims: tuple[str, ...]
    dtype: str  # numpy dtype name, or "str" for variable-length UTF-8 strings
    fill: Any
    kind: str
    description: str
    units: str = ""

    @property
    def is_string(self) -> bool:
        return self.dtype == "str"

    def numpy_dtype(self) -> np.dtype:
        return np.dtype(object) if self.is_string else np.dtype(self.dtype)


_NAN = float("nan")

_VARS = [
    # --- per video, static (written by init) ---
    Variable("video_id", ("video",), "str", "", STATIC, "stable id, unique in the store"),
    Variable("split", ("video",), "str", "", STATIC, "the source's split name"),
    Variable("label", ("video",), "int8", -1, STATIC, "1 fake, 0 real, -1 unknown"),
    Variable("path", ("video",), "str", "", STATIC, "media path relative to the dataset root"),
    Variable("fake_periods", ("video", "segment", "bound"), "float64", _NAN, STATIC,
             "fake intervals [start, end), NaN past n_fakes", "s"),
    Variable("n_fakes", ("video",), "int16", 0, STATIC, "number of fake periods"),
    Variable("modify_video", ("video",), "int8", -1, STATIC, "LAV-DF flag, -1 where unknown"),
    Variable("modify_audio", ("video",), "int8", -1, STATIC, "LAV-DF flag, -1 where unknown"),
    # --- per video, written by the block task ---
    Variable("n_frames", ("video",), "int32", 0, BLOCK, "frames on the store timeline"),
    Variable("duration", ("video",), "float32", _NAN, BLOCK, "media duration", "s"),
    Variable("source_fps", ("video",), "float32", _NAN, BLOCK, "frame rate of the media", "1/s"),
    Variable("status", ("video",), "int8", PENDING, BLOCK, "0 pending, 1 ok, 2 failed"),
    Variable("error", ("video",), "str", "", BLOCK,
             "why a video failed (schema 1: also the notes on an ok one)"),
    Variable("notes", ("video",), "str", "", BLOCK,
             "remarks on a video, '; '-separated (label notes, audio resampled, no audio stream)"),
    Variable("has_audio", ("video",), "int8", -1, BLOCK,
             "1 the media has an audio stream, 0 it has none, -1 unknown (pending, failed, not recorded)"),
    # --- per frame ---
    Variable("visual", ("video", "frame", "visual_dim"), "float16", _NAN, FRAME,
             "image embedding of the lower-face crop"),
    Variable("audio", ("video", "frame", "audio_dim"), "float16", _NAN, FRAME,
             "audio embedding aligned to the frame"),
    Variable("frame_label", ("video", "frame"), "int8", -1, FRAME,
             "1 where the frame centre lies in a fake period, -1 past n_frames"),
    Variable("face_box", ("video", "frame", "box"), "float32", _NAN, FRAME,
             "x0, y0, x1, y1 of the face", "source pixels"),
    Variable("face_score", ("video", "frame"), "float16", 0.0, FRAME,
             "detector confidence, 0 where no face"),
    Variable("visual_similarity", ("video", "frame"), "float32", _NAN, FRAME,
             "cos(visual[t], visual[t-1])"),
    Variable("av_similarity", ("video", "frame"), "float32", _NAN, FRAME,
             "audio-visual synchrony score fitted at finalize"),
    # --- statistics over the train split (finalize) ---
    Variable("visual_mean", ("visual_dim",), "float32", _NAN, STAT, "mean of visual over train frames"),
    Variable("visual_std", ("visual_dim",), "float32", _NAN, STAT, "std of visual over train frames"),
    Variable("audio_mean", ("audio_dim",), "float32", _NAN, STAT, "mean of audio over train frames"),
    Variable("audio_std", ("audio_dim",), "float32", _NAN, STAT, "std of audio over train frames"),
]

VARIABLES: dict[str, Variable] = {v.name: v for v in _VARS}
STATIC_VARIABLES = [v.name for v in _VARS if v.kind == STATIC]
BLOCK_VARIABLES = [v.name for v in _VARS if v.kind == BLOCK]
FRAME_VARIABLES = [v.name for v in _VARS if v.kind == FRAME]
STAT_VARIABLES = [v.name for v in _VARS if v.kind == STAT]
# what a block task may hand to ``write_block`` (status/error are computed by it from `status` too)
BLOCK_INPUTS = ["n_frames", "duration", "source_fps", "status", "error", "notes", "has_audio",
                *FRAME_VARIABLES]


def join_notes(*notes: str) -> str:
    """A video's ``notes``: the non-empty remarks, ``'; '``-separated.

    >>> join_notes("no audio stream", "", "label note: ...")
    'no audio stream; label note: ...'
    """
    return "; ".join(n for n in notes if n)


def is_fill(data: np.ndarray, fill: Any) -> np.ndarray:
    """Elementwise "is the fill value": NaN-aware (a NaN fill matches every NaN, whatever its bit
    pattern), ``None`` meaning ``""`` for strings. The one padding test of :mod:`.check` and
    :mod:`.convert`.

    >>> is_fill(np.array([np.nan, 0.5], np.float16), float("nan")).tolist()
    [True, False]
    >>> is_fill(np.array([-1, 1], np.int8), -1).tolist()
    [True, False]
    """
    data = np.asarray(data)
    if data.dtype.kind == "f" and fill is not None and np.isnan(fill):
        return np.isnan(data)
    if data.dtype.kind in "fiub":
        return data == np.asarray(fill, dtype=data.dtype)
    return data == ("" if fill is None else fill)


def frame_extent(max_frames: int) -> int:
    """Length of the ``frame`` dimension: the longest video rounded up to a multiple of 128."""
    return max(FRAME_CHUNK, int(math.ceil(max(int(max_frames), 1) / FRAME_CHUNK)) * FRAME_CHUNK)


def shape_of(name: str, sizes: Mapping[str, int]) -> tuple[int, ...]:
    return tuple(int(sizes[d]) for d in VARIABLES[name].dims)


def inner_chunks(name: str, sizes: Mapping[str, int], block_size: int) -> tuple[int, ...]:
    """Inner chunk shape: ``(1, 128, dim)`` for per-frame arrays, the block for per-video arrays."""
    var = VARIABLES[name]
    out = []
    for d in var.dims:
        if d == "video":
            if var.kind == FRAME:
                out.append(1)
            elif var.kind == BLOCK:
                out.append(min(block_size, max(sizes["video"], 1)))
            else:
                out.append(max(sizes["video"], 1))
        elif d == "frame":
            out.append(FRAME_CHUNK)
        else:
            out.append(max(int(sizes[d]), 1))
    return tuple(out)


def shard_shape(name: str, sizes: Mapping[str, int], block_size: int) -> tuple[int, ...] | None:
    """Shard shape ``(B, all frames, dim)`` for per-frame arrays, ``None`` for unsharded ones."""
    var = VARIABLES[name]
    if var.kind != FRAME:
        return None
    return tuple(
        block_size if d == "video" else max(int(sizes[d]), 1) for d in var.dims
    )


def validate(ds: Any) -> list[str]:
    """Problems with an ``xarray.Dataset`` against its schema version (empty list: conforms; a
    schema-1 store conforms without the variables schema 2 added).

    Checks the schema attribute, presence of every variable, its dimensions and dtype, and the
    ``frame`` extent rule. Content checks (padding, labels) live in :mod:`voca_data.store.check`.
    """
    problems: list[str] = []
    version = ds.attrs.get("voca_schema")
    if version is None:
        problems.append("root attribute 'voca_schema' is missing: not a voca store")
    elif int(version) not in READABLE_SCHEMAS:
        problems.append(f"voca_schema is {version}, this version of voca reads "
                        f"{' and '.join(map(str, READABLE_SCHEMAS))}")
    for key in ("fps", "audio_rate", "complete", "created", "history"):
        if key not in ds.attrs:
            problems.append(f"root attribute {key!r} is missing")
    for var in _VARS:
        if var.name not in ds.variables:
            if version is not None and int(version) < 2 and var.name in ADDED_IN_SCHEMA_2:
                continue
            if var.kind != STAT:  # statistics appear at finalize
                problems.append(f"variable {var.name!r} is missing")
            continue
        arr = ds.variables[var.name]
        if tuple(arr.dims) != var.dims:
            problems.append(f"variable {var.name!r} has dims {tuple(arr.dims)}, expected {var.dims}")
        if var.is_string:
            if arr.dtype.kind not in "OUT":
                problems.append(f"variable {var.name!r} has dtype {arr.dtype}, expected strings")
        elif arr.dtype != np.dtype(var.dtype) and not (
                var.name == "fake_periods" and arr.dtype == np.float32):  # stores before float64
            problems.append(f"variable {var.name!r} has dtype {arr.dtype}, expected {var.dtype}")
    if "frame" in ds.sizes and ds.sizes["frame"] % FRAME_CHUNK:
        problems.append(f"dimension 'frame' is {ds.sizes['frame']}, not a multiple of {FRAME_CHUNK}")
    if ds.sizes.get("bound", 2) != 2:
        problems.append("dimension 'bound' must be 2 (start, end)")
    if ds.sizes.get("box", 4) != 4:
        problems.append("dimension 'box' must be 4 (x0, y0, x1, y1)")
    return problems
