"""Folder source: split folders or a hash split, sidecar periods, symlinks, ambiguous layouts."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from voca_data.records import ManifestError
from voca_data.sources import load
from voca_data.sources.folder import hash_split
from voca_data.synth import make_dataset

FIXTURE = Path(__file__).parent / "fixtures" / "sources" / "folder"


def test_fixture_with_split_folders():
    recs = load("folder", FIXTURE)
    by = {r.video_id: r for r in recs}
    # hidden files and non-media files are skipped; extensions in any case
    assert sorted(by) == ["test/fake/e", "test/real/d", "train/fake/b", "train/fake/sub/c", "train/real/a"]
    assert by["train/real/a"].label == 0 and by["train/real/a"].split == "train"
    assert by["train/fake/b"].fake_periods == ((0.5, 1.25),) and by["train/fake/b"].label == 1
    # <name>.mp4.json works too, periods sorted; the sidecar's duration is kept
    e = by["test/fake/e"]
    assert e.fake_periods == ((0.2, 0.4), (1.0, 2.0)) and e.path == "test/fake/e.mkv"
    assert e.extra["metadata_duration"] == 3.0
    c = by["train/fake/sub/c"]
    assert c.path == "train/fake/sub/c.MOV" and c.fake_periods == () and c.extra["periods_known"] is False
    assert by["test/real/d"].path == "test/real/d.webm"
    assert all(r.modify_video == -1 and r.modify_audio == -1 for r in recs)
    assert [r.video_id for r in load("folder", FIXTURE, splits="test")] == ["test/fake/e", "test/real/d"]


def _flat(tmp_path: Path, n: int = 60) -> Path:
    root = tmp_path / "flat"
    for cls in ("real", "fake"):
        (root / cls / "nested").mkdir(parents=True)
    for i in range(n):
        cls = "fake" if i % 3 else "real"
        sub = "nested/" if i % 5 == 0 else ""
        (root / cls / f"{sub}v{i:03d}.mp4").write_bytes(b"")
    return root


def test_flat_layout_hash_split(tmp_path: Path):
    root = _flat(tmp_path)
    recs = load("folder", root, ratios=(0.5, 0.25, 0.25), seed=3)
    assert len(recs) == 60
    for r in recs:
        assert r.split == hash_split(r.path, (0.5, 0.25, 0.25), seed=3)
        assert r.label == (1 if r.path.startswith("fake/") else 0)
        assert r.video_id == r.path[:-4]
    counts = Counter(r.split for r in recs)
    assert set(counts) == {"train", "dev", "test"} and counts["train"] > counts["test"]
    # deterministic and stable: a video keeps its split when others are added
    (root / "fake" / "extra.mp4").write_bytes(b"")
    again = {r.video_id: r.split for r in load("folder", root, ratios=(0.5, 0.25, 0.25), seed=3)}
    assert all(again[r.video_id] == r.split for r in recs)
    other_seed = {r.video_id: r.split for r in load("folder", root, ratios=(0.5, 0.25, 0.25), seed=4)}
    assert any(other_seed[r.video_id] != r.split for r in recs)
    # a zero ratio never receives videos
    assert {r.split for r in load("folder", root, ratios=(1, 0, 1))} == {"train", "test"}
    with pytest.raises(ValueError, match="ratios"):
        load("folder", root, ratios=(1, -1, 1))
    with pytest.raises(ValueError, match="ratios"):
        load("folder", root, ratios=(1, 1))


def test_ambiguous_and_empty_layouts(tmp_path: Path):
    root = _flat(tmp_path)
    (root / "train" / "real").mkdir(parents=True)
    with pytest.raises(ManifestError, match="ambiguous"):
        load("folder", root)
    with pytest.raises(FileNotFoundError, match="no real/ or fake/"):
        load("folder", root / "fake" / "nested")


@pytest.mark.parametrize("where, sidecar, needle", [
    ("fake", "{not json", "is not valid JSON"),
    ("fake", '{"periods": []}', "must be a JSON object with a 'fake_periods' list"),
    ("fake", '{"fake_periods": [[1.0, 0.5]]}', "is inverted or empty"),
    ("fake", '{"fake_periods": [[-1.0, 0.5]]}', "starts before 0"),
    ("fake", '{"fake_periods": [[1.0, 4.0]], "duration": 3.0}', "ends after the video (3.000 s"),
    ("fake", '{"fake_periods": [[1.0, 2.0]], "duration": "3"}', "duration must be a number > 0"),
    ("fake", '{"fake_periods": []}', "gives no fake periods for a video under fake/"),
    ("real", '{"fake_periods": [[0.1, 0.2]]}', "gives fake periods for a video under real/"),
])
def test_bad_sidecars(tmp_path: Path, where, sidecar, needle):
    root = tmp_path / "ds"
    shutil.copytree(FIXTURE, root)
    name = "train/fake/b" if where == "fake" else "train/real/a"
    (root / f"{name}.json").write_text(sidecar)
    with pytest.raises(ManifestError) as info:
        load("folder", root)
    assert f"{name}.mp4 ({name}.mp4): sidecar {name}.json" in str(info.value) and needle in str(info.value)
    recs = load("folder", root, skip_invalid=True)
    assert len(recs) == 4 and name not in [r.video_id for r in recs]
    assert len(recs.problems) == 1 and recs.problems[0].file == f"{name}.mp4"


def test_duplicates_and_symlinks(tmp_path: Path):
    root = tmp_path / "ds"
    shutil.copytree(FIXTURE, root)
    (root / "train" / "real" / "a.avi").write_bytes(b"")
    with pytest.raises(ManifestError, match=r"duplicate video_id 'train/real/a'"):
        load("folder", root)
    os.remove(root / "train" / "real" / "a.avi")
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "x.mp4").write_bytes(b"")
    (outside / "deep" / "y.mp4").write_bytes(b"")
    os.symlink(outside / "x.mp4", root / "train" / "fake" / "x.mp4")
    os.symlink(outside / "deep", root / "train" / "fake" / "linked")  # folder symlinks: not followed
    os.symlink(root / "train" / "real" / "a.mp4", root / "test" / "real" / "alias.mp4")  # inside: fine
    with pytest.raises(ManifestError) as info:
        load("folder", root)
    assert "train/fake/x.mp4 (train/fake/x.mp4): is a symlink to" in str(info.value)
    assert "outside the dataset root" in str(info.value)
    recs = load("folder", root, skip_invalid=True)
    ids = [r.video_id for r in recs]
    assert "test/real/alias" in ids and "train/fake/x" not in ids and "train/fake/linked/y" not in ids


def test_synthetic_folder_layouts(tmp_path: Path):
    for split_folders in (True, False):
        root = make_dataset(tmp_path / f"ds{split_folders}", layout="folder", videos=5, seed=6,
                            duration_range=(1.0, 1.4), size=(160, 164), split_folders=split_folders)
        truth = {e["file"]: e for e in json.loads((root / "synth_manifest.json").read_text())["entries"]}
        recs = load("folder", root)
        assert len(recs) == 5
        for r in recs:
            t = truth[r.path]
            assert r.label == int(t["kind"] != "real")
            assert [list(p) for p in r.fake_periods] == t["fake_periods"]
            if split_folders:
                assert r.split == t["split"]
