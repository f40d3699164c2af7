"""Multi-FFDV (Inclusion 2024 global multimedia deepfake detection challenge, track 2).

Layout::

    ROOT/trainset/<name>.mp4   ROOT/trainset_label.txt
    ROOT/valset/<name>.mp4     ROOT/valset_label.txt
    ROOT/testset/<name>.mp4    ROOT/testset_label.txt   (may be absent: the test labels were hidden)

A label file is CSV with the header ``video_name,target`` (1 = fake, 0 = real), one row per
video, ``video_name`` relative to the split's folder (``1f87...74c.mp4``). Other columns are
ignored.

What becomes what: ``video_id`` = ``<split>/<name without extension>``, ``path`` =
``<split>/<video_name>``, ``label`` = ``target``; no fake periods (FFDV labels whole videos), no
LAV-DF flags (-1). A split whose label file is absent is listed from its folder
(``*.mp4, *.avi, *.mov, *.mkv, *.webm``, sorted) with ``label = -1``. Videos present in a folder
but missing from its label file are left out with a warning.

Fake videos carry no periods, so their *frame* labels are unknown: such records have
``extra["periods_known"] = False`` (a store must not turn them into all-real frame labels).

Validated: the header (else the whole file is refused), per row (named by file and line): an
empty ``video_name``, a ``target`` that is not 0 or 1, an unsafe path, duplicate names; then
every selected file must exist inside the root.

Example
-------
>>> from voca_data.sources import load
>>> load("ffdv", "/data/multi-ffdv", label_files={"testset": "testset_label_phase2.txt"})  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..records import ManifestError, VideoRecord
from .base import Candidate, Problem, Records, finish, walk_media

log = logging.getLogger(__name__)

__all__ = ["FFDV_SPLITS", "load_ffdv", "parse_label_files"]

FFDV_SPLITS = ("trainset", "valset", "testset")


def parse_label_files(label_files: Mapping[str, str] | Sequence[str] | None) -> dict[str, str]:
    """``{"testset": "x.txt"}`` or ``["testset=x.txt", ...]`` (the CLI form) -> a dict."""
    if label_files is None:
        return {}
    if isinstance(label_files, Mapping):
        return {str(k): str(v) for k, v in label_files.items()}
    out = {}
    for item in label_files:
        split, sep, name = str(item).partition("=")
        if not sep or not split.strip() or not name.strip():
            raise ValueError(f"label file {item!r} must be given as SPLIT=FILE, e.g. testset=testset_label.txt")
        out[split.strip()] = name.strip()
    return out


def _read_label_file(path: Path, split: str, start_index: int) -> list[Candidate]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"FFDV label file {path} is not UTF-8 text: {exc}") from exc
    reader = csv.reader(io.StringIO(text))
    try:
        rows = list(reader)
    except csv.Error as exc:  # e.g. a field over csv.field_size_limit() (131,072 characters)
        raise ManifestError(f"FFDV label file {path} line {reader.line_num}: {exc}; each line must be "
                            "video_name,target") from None
    while rows and not any(c.strip() for c in rows[0]):
        rows.pop(0)
    if not rows:
        raise ManifestError(f"FFDV label file {path} is empty; expected a header video_name,target")
    header = [c.strip().lower() for c in rows[0]]
    if "video_name" not in header or "target" not in header:
        raise ManifestError(f"FFDV label file {path}: the first line must be the header "
                            f"'video_name,target', found {','.join(rows[0])!r}")
    i_name, i_target = header.index("video_name"), header.index("target")
    out: list[Candidate] = []
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        index = start_index + len(out)
        where = f"{path.name} line {line_no}"
        if len(row) <= max(i_name, i_target):
            out.append(Candidate(index, None, where=where, problems=[
                Problem(where, f"expected {len(header)} columns, found {len(row)}: {','.join(row)!r}", None, index)]))
            continue
        name, target = row[i_name].strip(), row[i_target].strip()
        rel = f"{split}/{name}" if name else None
        errors = []
        if not name:
            errors.append("video_name is empty")
        if target not in ("0", "1"):
            errors.append(f"target must be 0 or 1, not {target!r}")
        record = None
        if not errors:
            stem = name.rsplit(".", 1)[0] if "." in name.rsplit("/", 1)[-1] else name
            try:
                record = VideoRecord(video_id=f"{split}/{stem}", path=rel, split=split, label=int(target),
                                     extra={} if target == "0" else {"periods_known": False})
            except ManifestError as exc:
                errors.append(str(exc).split(": ", 1)[-1])
        out.append(Candidate(index, rel, record=record, where=where,
                             problems=[Problem(where, e, rel, index) for e in errors]))
    return out


def load_ffdv(root: str | Path, *, label_files: Mapping[str, str] | Sequence[str] | None = None,
              split_names: Sequence[str] = FFDV_SPLITS, splits: str | Sequence[str] | None = None,
              start: int = 0, count: int | None = None, max_videos: int | None = None,
              skip_invalid: bool = False, check_files: bool = True) -> Records:
    """Records of a Multi-FFDV dataset rooted at ``root``.

    ``label_files``: label file per split, relative to ``root`` (default ``<split>_label.txt``),
    as a dict or ``["SPLIT=FILE", ...]``. ``split_names``: the split folders to look for.
    Selection, ``skip_invalid`` and ``check_files`` as for every source.

    >>> load_ffdv("/data/multi-ffdv", splits="valset")        # doctest: +SKIP
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"FFDV dataset root {root} is not a directory")
    overrides = parse_label_files(label_files)
    unknown = sorted(set(overrides) - set(split_names))
    if unknown:
        raise ValueError(f"label files given for unknown split(s) {unknown}; splits are {list(split_names)}")
    candidates: list[Candidate] = []
    manifests = []
    for split in split_names:
        label_path = root / overrides.get(split, f"{split}_label.txt")
        folder = root / split
        if label_path.is_file():
            manifests.append(label_path)
            part = _read_label_file(label_path, split, len(candidates))
            candidates.extend(part)
            if folder.is_dir():
                listed = {c.file for c in part if c.file}
                unlisted = [f for f in walk_media(folder) if f"{split}/{f}" not in listed]
                if unlisted:
                    log.warning("FFDV %s: %d video(s) in %s are not in %s and are left out (e.g. %s)",
                                root, len(unlisted), folder, label_path.name, unlisted[0])
        elif split in overrides:
            raise FileNotFoundError(f"FFDV label file {label_path} (given for {split}) does not exist")
        elif folder.is_dir():
            log.info("FFDV %s: no %s, %s is unlabelled (label -1)", root, label_path.name, split)
            for name in walk_media(folder):
                index = len(candidates)
                stem = name.rsplit(".", 1)[0]
                rel = f"{split}/{name}"
                candidates.append(Candidate(index, rel, where=f"{split}/ file {name}", record=VideoRecord(
                    video_id=f"{split}/{stem}", path=rel, split=split, label=-1)))
    if not candidates and not manifests:
        raise FileNotFoundError(f"no FFDV data in {root}: expected folders {', '.join(split_names)} "
                                f"and/or label files like {split_names[0]}_label.txt")
    return finish("FFDV", root, candidates, skip_invalid=skip_invalid, check_files=check_files,
                  manifest=manifests[0] if len(manifests) == 1 else None, manifests=manifests, splits=splits, start=start,
                  count=count, max_videos=max_videos)
