"""What all sources share: registry, selection, command-line glue, path checks, the frame-label
rule (property tests), and refusal of a bad manifest before anything is written."""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voca_data.records import ManifestError, VideoRecord, check_relative_path, frame_labels
from voca_data.commands._sources import add_source_arguments, records_from_args
from voca_data.sources import Records, available, load, register, select
from voca_data.sources.base import Candidate, check_inside_root, finish
from voca_data.sources.lavdf import _bad_path

FIXTURES = Path(__file__).parent / "fixtures" / "sources"


def _recs(splits):
    return [VideoRecord(f"{s}/{i}", f"{s}/{i}.mp4", s) for i, s in enumerate(splits)]


def test_select_order_of_operations():
    recs = _recs(["train", "dev", "train", "test", "train", "train"])
    ids = lambda rs: [r.video_id for r in rs]
    assert ids(select(recs)) == ids(recs)
    assert ids(select(recs, splits="train")) == ["train/0", "train/2", "train/4", "train/5"]
    assert ids(select(recs, splits=["train,dev"], start=1, count=2)) == ["dev/1", "train/2"]
    assert ids(select(recs, splits="train", start=1, count=10, max_videos=2)) == ["train/2", "train/4"]
    assert ids(select(recs, start=4)) == ["train/4", "train/5"]
    assert select(recs, start=10) == [] and select(recs, max_videos=0) == []
    # shards cover the list exactly once
    shards = [select(recs, start=s, count=2) for s in range(0, 6, 2)]
    assert sum(shards, []) == recs
    for bad in ({"start": -1}, {"count": -1}, {"max_videos": -2}):
        with pytest.raises(ValueError):
            select(recs, **bad)
    with pytest.raises(ValueError, match=r"\['val'\] not in the dataset; it has \['train', 'dev', 'test'\]"):
        select(recs, splits="val")


def test_registry_and_options():
    assert {"lavdf", "ffdv", "folder"} <= set(available())
    with pytest.raises(ValueError, match="unknown source 'nope'; available: .*lavdf"):
        load("nope", ".")
    with pytest.raises(ValueError, match=r"does not take option\(s\) \['ratios'\]"):
        load("lavdf", FIXTURES / "lavdf", ratios=(1, 1, 1))


def test_a_new_source_can_be_registered(tmp_path: Path):
    """The recipe of docs/datasets.md: parse into candidates, hand them to finish()."""
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.mp4").write_bytes(b"")
    (tmp_path / "list.tsv").write_text("clips/a.mp4\t0\nclips/b.mp4\t1\n")

    def load_tsv(root, *, splits=None, start=0, count=None, max_videos=None, skip_invalid=False,
                 check_files=True):
        candidates = []
        for i, line in enumerate((Path(root) / "list.tsv").read_text().splitlines()):
            path, label = line.split("\t")
            candidates.append(Candidate(i, path, VideoRecord(path[:-4], path, "test", int(label)),
                                        where=f"list.tsv line {i + 1}"))
        return finish("tsv", root, candidates, skip_invalid=skip_invalid, check_files=check_files,
                      splits=splits, start=start, count=count, max_videos=max_videos)

    register("tsv-test")(load_tsv)
    try:
        with pytest.raises(ManifestError, match=r"list.tsv line 2 \(clips/b.mp4\): listed file does not exist"):
            load("tsv-test", tmp_path)
        recs = load("tsv-test", tmp_path, skip_invalid=True)
        assert isinstance(recs, Records) and [r.video_id for r in recs] == ["clips/a"]
        with pytest.raises(ValueError, match="already registered"):
            register("tsv-test")(lambda root: None)
    finally:
        from voca_data import sources

        sources._REGISTRY.pop("tsv-test", None)


def _parser():
    parser = argparse.ArgumentParser()
    add_source_arguments(parser.add_argument_group("source options"))
    return parser


def test_records_from_args_each_source(tmp_path: Path):
    p = _parser()
    recs = records_from_args("lavdf", FIXTURES / "lavdf", p.parse_args(
        ["--metadata", "metadata.json", "--splits", "train", "test", "--start", "1", "--count", "3",
         "--max-videos", "2"]))
    assert [r.video_id for r in recs] == ["test/000002", "train/000003"]
    recs = records_from_args("ffdv", FIXTURES / "ffdv", p.parse_args(["--splits", "valset,testset"]))
    assert [r.split for r in recs] == ["valset", "valset", "testset", "testset"]
    recs = records_from_args("folder", FIXTURES / "folder", p.parse_args([]))
    assert len(recs) == 5
    # options that do not apply to a source are refused, not ignored
    with pytest.raises(ValueError, match="--metadata does not apply to source 'ffdv'"):
        records_from_args("ffdv", FIXTURES / "ffdv", p.parse_args(["--metadata", "x.json"]))
    with pytest.raises(ValueError, match="--ratios does not apply to source 'lavdf'"):
        records_from_args("lavdf", FIXTURES / "lavdf", p.parse_args(["--ratios", "1", "1", "1"]))
    # --skip-invalid and --no-check-files
    root = tmp_path / "lavdf"
    shutil.copytree(FIXTURES / "lavdf", root)
    os.remove(root / "dev" / "000006.mp4")
    with pytest.raises(ManifestError):
        records_from_args("lavdf", root, p.parse_args([]))
    assert len(records_from_args("lavdf", root, p.parse_args(["--skip-invalid"]))) == 5
    assert len(records_from_args("lavdf", root, p.parse_args(["--no-check-files"]))) == 6
    flat = tmp_path / "flat"
    for i in range(20):
        (flat / "real").mkdir(parents=True, exist_ok=True)
        (flat / "real" / f"{i}.mp4").write_bytes(b"")
    recs = records_from_args("folder", flat, p.parse_args(["--ratios", "0", "0", "1", "--seed", "5"]))
    assert {r.split for r in recs} == {"test"}


def test_bad_manifest_is_refused_before_anything_is_written(tmp_path: Path, capsys):
    """`voca extract` with a malformed manifest exits with the problems and creates no store."""
    from voca_data.cli import main

    root = tmp_path / "lavdf"
    shutil.copytree(FIXTURES / "lavdf", root)
    items = json.loads((root / "metadata.min.json").read_text())
    items[2]["n_fakes"] = 5
    (root / "metadata.min.json").write_text(json.dumps(items))
    out = tmp_path / "out.zarr"
    assert main(["extract", "lavdf", str(root), str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "metadata.min.json record 2 (train/000003.mp4): n_fakes is 5 but fake_periods has 2" in err
    assert not out.exists()


# ------------------------------------------------------------------------------------------------
# property tests

_fps = st.sampled_from([25.0, 30.0, 12.5, 29.97, 50.0])
_period = st.tuples(st.floats(0, 20, allow_nan=False), st.floats(0.001, 5, allow_nan=False)).map(
    lambda p: (p[0], p[0] + p[1]))


@settings(max_examples=200, deadline=None)
@given(periods=st.lists(_period, max_size=4), n=st.integers(0, 600), fps=_fps)
def test_frame_labels_follow_the_centre_rule(periods, n, fps):
    labels = frame_labels(periods, n, fps)
    assert labels.dtype == np.int8 and labels.shape == (n,)
    for t in range(n):
        centre = (t + 0.5) / fps
        assert labels[t] == int(any(s <= centre < e for s, e in periods))
    # union of single-period labels; order of periods irrelevant
    union = np.zeros(n, np.int8)
    for p in periods:
        union |= frame_labels([p], n, fps)
    assert np.array_equal(labels, union)
    assert np.array_equal(labels, frame_labels(list(reversed(periods)), n, fps))


@settings(max_examples=200, deadline=None)
@given(a=st.integers(0, 400), length=st.integers(1, 200), n=st.integers(0, 700),
       fps=st.sampled_from([25, 30, 50]))
def test_frame_aligned_period_labels_exactly_its_frames(a, length, n, fps):
    """A period [a/fps, b/fps) labels exactly frames a..b-1 (those inside the video)."""
    b = a + length
    labels = frame_labels([(a / fps, b / fps)], n, fps)
    expected = np.zeros(n, np.int8)
    expected[a:b] = 1
    assert np.array_equal(labels, expected)


_segment = st.text(alphabet=st.characters(blacklist_characters="/\\\x00", blacklist_categories=("Cs",)),
                   min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(_segment, min_size=1, max_size=4))
def test_safe_relative_paths_are_accepted(parts):
    path = "/".join(parts)
    assert check_relative_path(path) == path
    assert _bad_path(path) is None


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(_segment, min_size=0, max_size=3), where=st.integers(0, 3),
       kind=st.sampled_from(["dotdot", "absolute", "backslash"]))
def test_unsafe_paths_are_refused(parts, where, kind):
    parts = list(parts)
    if kind == "dotdot":
        parts.insert(min(where, len(parts)), "..")
        path = "/".join(parts)
    elif kind == "absolute":
        path = "/" + "/".join(parts)
    else:
        parts.insert(min(where, len(parts)), "a\\b")
        path = "/".join(parts)
    with pytest.raises(ManifestError):
        check_relative_path(path)
    assert _bad_path(path) is not None


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=30))
def test_fast_path_check_agrees_with_the_reference(text):
    try:
        check_relative_path(text)
        ok = True
    except ManifestError:
        ok = False
    assert (_bad_path(text) is None) == ok


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    base = tmp_path_factory.mktemp("tree")
    root = base / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "v.mp4").write_bytes(b"")
    (root / "top.mp4").write_bytes(b"")
    (base / "out").mkdir()
    (base / "out" / "v.mp4").write_bytes(b"")
    os.symlink(base / "out", root / "a" / "escape")
    os.symlink(base / "out" / "v.mp4", root / "a" / "esc.mp4")
    os.symlink(root / "a" / "b" / "v.mp4", root / "in.mp4")
    os.symlink("../top.mp4", root / "a" / "rel.mp4")
    return root


@settings(max_examples=100, deadline=None)
@given(path=st.sampled_from(["a/b/v.mp4", "top.mp4", "in.mp4", "a/rel.mp4", "a/escape/v.mp4", "a/esc.mp4",
                             "a/b/missing.mp4", "a/b", "a/escape/../b/v.mp4"]))
def test_check_inside_root_matches_realpath(tree, path):
    """Reference: the file's realpath lies under the root's realpath and is a regular file."""
    root_real = os.path.realpath(tree)
    real = os.path.realpath(os.path.join(tree, path))
    inside = real.startswith(root_real + os.sep)
    expected_ok = inside and os.path.isfile(real)
    assert (check_inside_root(root_real, path) is None) == expected_ok, path


def test_many_files_per_folder_are_checked_like_one_by_one(tmp_path: Path):
    """Folders with many selected files are listed once; the verdicts equal the per-file check."""
    from voca_data.sources.base import _SCAN_THRESHOLD, check_files_inside_root

    root = tmp_path / "root"
    (root / "big").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.mp4").write_bytes(b"")
    paths = []
    for i in range(_SCAN_THRESHOLD + 10):
        (root / "big" / f"{i:03d}.mp4").write_bytes(b"")
        paths.append(f"big/{i:03d}.mp4")
    os.symlink(outside / "o.mp4", root / "big" / "out.mp4")
    os.symlink(root / "big" / "000.mp4", root / "big" / "in.mp4")
    os.symlink(root / "big" / "nothing.mp4", root / "big" / "broken.mp4")
    (root / "big" / "dir.mp4").mkdir()
    os.symlink(outside, root / "linked")
    paths += ["big/out.mp4", "big/in.mp4", "big/broken.mp4", "big/dir.mp4", "big/missing.mp4"]
    paths += [f"linked/o{i}.mp4" for i in range(_SCAN_THRESHOLD)] + ["nodir/x.mp4"]
    verdicts = check_files_inside_root(os.path.realpath(root), paths)
    reference = [check_inside_root(os.path.realpath(root), p) for p in paths]
    assert verdicts == reference
    bad = {p: v for p, v in zip(paths, verdicts) if v}
    assert set(bad) == {"big/out.mp4", "big/broken.mp4", "big/dir.mp4", "big/missing.mp4", "nodir/x.mp4",
                        *[f"linked/o{i}.mp4" for i in range(_SCAN_THRESHOLD)]}
    assert "outside the dataset root" in bad["big/out.mp4"] and "its folder resolves" in bad["linked/o0.mp4"]
