"""Multi-FFDV source: label files in the challenge's format, absent test labels, bad rows."""

from __future__ import annotations

import csv
import logging
import shutil
from pathlib import Path

import pytest

from voca_data.records import ManifestError
from voca_data.sources import load
from voca_data.synth import make_dataset

FIXTURE = Path(__file__).parent / "fixtures" / "sources" / "ffdv"


def test_fixture():
    recs = load("ffdv", FIXTURE)
    assert [r.video_id for r in recs] == [
        "trainset/1f8702f426f383c4199da33c53cfb74c", "trainset/4cd64f2ab88bf95ed20627246cbdc4bb",
        "trainset/9a0c5e4f7b2d41e8a6c3f1d2e4b5a6c7",
        "valset/8ee40b0b7cd24955746f41534d70ffa9", "valset/74c6701a7e57a84bf18080facc555933",  # BOM + CRLF
        "testset/64364239a833c9d926e08d6b91742f9b", "testset/65029d8e5968f97213e57cd075438127",
    ]
    assert [r.label for r in recs] == [1, 0, 1, 0, 1, -1, -1]  # no testset_label.txt: unknown
    r = recs[0]
    assert r.path == "trainset/1f8702f426f383c4199da33c53cfb74c.mp4" and r.split == "trainset"
    assert (r.modify_video, r.modify_audio, r.fake_periods) == (-1, -1, ())
    # a fake without periods: frame labels unknown, said so
    assert r.extra == {"periods_known": False} and recs[1].extra == {}
    assert recs.manifests == [FIXTURE / "trainset_label.txt", FIXTURE / "valset_label.txt"]
    assert [r.video_id for r in load("ffdv", FIXTURE, splits="valset")] == [
        "valset/8ee40b0b7cd24955746f41534d70ffa9", "valset/74c6701a7e57a84bf18080facc555933"]


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "ffdv"
    shutil.copytree(FIXTURE, root)
    return root


def test_configurable_label_files(tmp_path: Path):
    root = _copy(tmp_path)
    (root / "labels").mkdir()
    (root / "labels" / "test_phase2.csv").write_text(
        "video_name,target,extra\n65029d8e5968f97213e57cd075438127.mp4,1,x\n64364239a833c9d926e08d6b91742f9b.mp4,0,y\n")
    recs = load("ffdv", root, label_files={"testset": "labels/test_phase2.csv"}, splits="testset")
    assert [(r.video_id, r.label) for r in recs] == [("testset/65029d8e5968f97213e57cd075438127", 1),
                                                     ("testset/64364239a833c9d926e08d6b91742f9b", 0)]
    recs = load("ffdv", root, label_files=["testset=labels/test_phase2.csv"])  # the CLI form
    assert len(recs) == 7 and -1 not in [r.label for r in recs]
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        load("ffdv", root, label_files={"testset": "missing.txt"})
    with pytest.raises(ValueError, match="SPLIT=FILE"):
        load("ffdv", root, label_files=["testset"])
    with pytest.raises(ValueError, match="unknown split"):
        load("ffdv", root, label_files={"test": "x.txt"})


def test_unlisted_videos_are_left_out_with_a_warning(tmp_path: Path, caplog):
    root = _copy(tmp_path)
    (root / "trainset" / "ffffffffffffffffffffffffffffffff.mp4").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="voca_data.sources"):
        recs = load("ffdv", root)
    assert len(recs) == 7
    assert "1 video(s)" in caplog.text and "trainset_label.txt" in caplog.text


@pytest.mark.parametrize("text, needle", [
    ("name,label\nx.mp4,1\n", "first line must be the header 'video_name,target'"),
    ("", "is empty"),
])
def test_bad_header_refuses_the_file(tmp_path: Path, text, needle):
    root = _copy(tmp_path)
    (root / "trainset_label.txt").write_text(text)
    with pytest.raises(ManifestError, match=needle):
        load("ffdv", root, skip_invalid=True)


@pytest.mark.parametrize("row, needle", [
    ("4cd64f2ab88bf95ed20627246cbdc4bb.mp4,2", "target must be 0 or 1, not '2'"),
    ("4cd64f2ab88bf95ed20627246cbdc4bb.mp4,fake", "target must be 0 or 1, not 'fake'"),
    ("4cd64f2ab88bf95ed20627246cbdc4bb.mp4", "expected 2 columns, found 1"),
    (",1", "video_name is empty"),
    ("../valset/8ee40b0b7cd24955746f41534d70ffa9.mp4,1", "contains '..'"),
    ("1f8702f426f383c4199da33c53cfb74c.mp4,0", "duplicate file 'trainset/1f8702f426f383c4199da33c53cfb74c.mp4'"),
    ("00000000000000000000000000000000.mp4,0", "listed file does not exist"),
])
def test_bad_rows(tmp_path: Path, row, needle):
    root = _copy(tmp_path)
    path = root / "trainset_label.txt"
    path.write_text(path.read_text() + row + "\n")
    with pytest.raises(ManifestError) as info:
        load("ffdv", root)
    assert "trainset_label.txt line 5" in str(info.value) and needle in str(info.value)
    recs = load("ffdv", root, skip_invalid=True)
    assert len(recs) == 7 and len(recs.problems) == 1 and needle in str(recs.problems[0])


def test_no_data(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no FFDV data"):
        load("ffdv", tmp_path)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load("ffdv", tmp_path / "nope")


def test_synthetic_ffdv_layout(tmp_path: Path):
    root = make_dataset(tmp_path / "ds", layout="ffdv", videos=6, seed=9, duration_range=(1.0, 1.4),
                        size=(160, 164), test_labels=False)
    truth = {e["file"]: e["kind"] for e in
             __import__("json").loads((root / "synth_manifest.json").read_text())["entries"]}
    recs = load("ffdv", root)
    assert len(recs) == 6
    for r in recs:
        expected = -1 if r.split == "testset" else int(truth[r.path] != "real")
        assert r.label == expected, r
    with open(root / "trainset_label.txt", newline="") as fh:
        assert next(csv.reader(fh)) == ["video_name", "target"]
