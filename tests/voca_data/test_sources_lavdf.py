"""LAV-DF source: the real metadata format (hand-written fixture and synthetic dataset) and every
kind of bad input, refused with the record's index and file, or skipped and reported."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from voca_data.records import ManifestError, frame_labels
from voca_data.sources import load
from voca_data.sources.lavdf import _bad_path
from voca_data.synth import make_dataset

FIXTURE = Path(__file__).parent / "fixtures" / "sources" / "lavdf"


def test_fixture_min_json():
    recs = load("lavdf", FIXTURE)
    assert recs.manifest == FIXTURE / "metadata.min.json"
    assert [r.video_id for r in recs] == ["test/000001", "test/000002", "train/000003", "train/000004",
                                          "train/000005", "dev/000006"]
    by = {r.video_id: r for r in recs}
    real = by["test/000001"]
    assert (real.label, real.fake_periods, real.modify_video, real.modify_audio) == (0, (), 0, 0)
    # duration trusts video_frames / 25 (like the official code); the metadata's value is kept aside
    assert real.duration == pytest.approx(103 / 25) and real.n_frames == 103
    assert real.extra["metadata_duration"] == pytest.approx(4.224)
    assert real.path == "test/000001.mp4" and real.split == "test"
    two = by["train/000003"]
    assert two.label == 1 and two.fake_periods == ((0.64, 1.0), (3.1, 3.5))  # sorted
    assert (two.modify_video, two.modify_audio) == (0, 1)
    assert by["test/000002"].extra["original"] == "test/000001.mp4"
    # a period ending at the metadata duration (4.224) past video_frames / 25 (4.12) is kept: the
    # media's own frame count decides the timeline (issue 10, point 2a)
    five = by["train/000005"]
    assert five.fake_periods == ((4.1, 4.224),)
    # on the metadata's timeline only the last frame (centre 4.10 s) is fake
    labels = frame_labels(five.fake_periods, five.n_frames, 25)
    assert labels.tolist() == frame_labels([(4.1, 4.224)], 103, 25).tolist()
    assert labels[-2:].tolist() == [0, 1] and labels.sum() == 1
    assert recs.problems == []


def test_metadata_json_with_timestamps_and_selection():
    recs = load("lavdf", FIXTURE, metadata="metadata.json", splits=["train", "dev"], start=1, count=2)
    assert recs.manifest == FIXTURE / "metadata.json"
    assert [r.video_id for r in recs] == ["train/000004", "train/000005"]
    assert all("timestamps" not in r.extra and "transcript" not in r.extra for r in recs)
    assert [r.video_id for r in load("lavdf", FIXTURE, splits="test,dev", max_videos=2)] == \
        ["test/000001", "test/000002"]
    with pytest.raises(ValueError, match="not in the dataset"):
        load("lavdf", FIXTURE, splits="val")


def test_metadata_elsewhere_and_missing(tmp_path: Path):
    # a sharded copy of the metadata outside the root: file paths stay relative to the root
    items = json.loads((FIXTURE / "metadata.min.json").read_text())
    shard = tmp_path / "train_part1.json"
    shard.write_text(json.dumps([m for m in items if m["split"] == "train"][:2]))
    recs = load("lavdf", FIXTURE, metadata=str(shard))
    assert [r.video_id for r in recs] == ["train/000003", "train/000004"]
    with pytest.raises(FileNotFoundError, match="metadata.min.json or metadata.json"):
        load("lavdf", tmp_path)
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load("lavdf", FIXTURE, metadata="nope.json")


def test_synthetic_lavdf_layout(tmp_path: Path):
    root = make_dataset(tmp_path / "ds", layout="lavdf", videos=6, seed=4, duration_range=(1.0, 1.6),
                        size=(160, 164))
    truth = {e["file"]: e for e in json.loads((root / "synth_manifest.json").read_text())["entries"]}
    recs = load("lavdf", root)
    assert len(recs) == 6
    for r in recs:
        t = truth[r.path]
        assert r.label == int(t["kind"] != "real")
        assert r.n_frames == t["n_frames"]
        assert [list(p) for p in r.fake_periods] == t["fake_periods"]
        assert r.modify_audio == int(t["kind"] in ("modify_audio", "both"))
        assert r.modify_video == int(t["kind"] in ("modify_video", "both"))


# ------------------------------------------------------------------------------------------------
# bad input


def _root_with(tmp_path: Path, items, text: str | None = None) -> Path:
    root = tmp_path / "lavdf"
    if not root.exists():
        shutil.copytree(FIXTURE, root)
    (root / "metadata.min.json").write_text(text if text is not None else json.dumps(items))
    return root


def _items() -> list[dict]:
    return json.loads((FIXTURE / "metadata.min.json").read_text())


def _refused(root: Path, *needles: str) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        load("lavdf", root)
    message = str(info.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in:\n{message}"
    assert "--skip-invalid" in message
    return info.value


def test_invalid_json_and_not_a_list(tmp_path: Path):
    root = _root_with(tmp_path, None, text='[{"file": "test/000001.mp4",')
    with pytest.raises(ManifestError, match=r"not valid JSON: .* line 1 column"):
        load("lavdf", root)
    root = _root_with(tmp_path, {"file": "x"})
    with pytest.raises(ManifestError, match="must be a JSON list"):
        load("lavdf", root)
    # invalid JSON is refused even with skip_invalid: there are no records to keep
    with pytest.raises(ManifestError):
        _root_with(tmp_path, None, text="{{")
        load("lavdf", root, skip_invalid=True)


@pytest.mark.parametrize("index, change, needle", [
    (1, {"n_fakes": None}, "missing field(s) n_fakes"),
    (1, {"video_frames": None, "split": None}, "missing field(s) split, video_frames"),
    (2, {"n_fakes": "2"}, "n_fakes must be an integer >= 0, not '2'"),
    (2, {"n_fakes": True}, "n_fakes must be an integer >= 0, not True"),
    (0, {"modify_video": "no"}, "modify_video must be true or false, not 'no'"),
    (0, {"video_frames": 0}, "video_frames must be an integer > 0 and at most 2160000 (24 h at 25 fps), not 0"),
    (0, {"video_frames": 10**9}, "video_frames must be an integer > 0 and at most 2160000"),
    (0, {"video_frames": 10**30}, "not 1000000000000000000000000000000"),
    (0, {"duration": 10**400}, "duration must be a number > 0 and at most 86400 s, not 100000"),
    (0, {"video_frames": 103.0}, "video_frames must be an integer > 0"),
    (0, {"duration": "4.2"}, "duration must be a number > 0"),
    (0, {"file": 7}, "file must be a non-empty string, not 7"),
    (0, {"split": ""}, "split must be a non-empty string"),
    (0, {"original": 3}, "original must be null or a string"),
    (0, {"audio_frames": -1}, "audio_frames must be an integer >= 0"),
    (1, {"fake_periods": "2.9-3.4"}, "fake_periods must be a list"),
    (1, {"fake_periods": [[2.9]]}, "fake period 0 must be [start, end]"),
    (1, {"fake_periods": [[2.9, "3.4"]]}, "fake period 0 must be [start, end]"),
    (1, {"n_fakes": 2}, "n_fakes is 2 but fake_periods has 1 period(s)"),
    (1, {"fake_periods": [[-0.2, 1.0]]}, "fake period 0 [-0.2, 1.0] starts before 0"),
    (1, {"fake_periods": [[3.4, 2.9]]}, "fake period 0 [3.4, 2.9] is inverted or empty"),
    (1, {"fake_periods": [[3.0, 3.0]]}, "is inverted or empty"),
    (1, {"fake_periods": [[5.0, 6.3]]}, "fake period 0 [5.0, 6.3] ends after the video (6.144 s"),
    # [6.09, 6.15] after video_frames / 25 (6.08 s) but inside the duration is no longer refused:
    # the media decides (test_defect2_periods_past_the_metadata_frames_are_kept)
    (1, {"modify_video": False}, "has fake periods but neither modify_video nor modify_audio"),
    (0, {"modify_audio": True}, "modify_video/modify_audio is set but there are no fake periods"),
    (0, {"file": "/data/test/000001.mp4"}, "is absolute"),
    (0, {"file": "test/../../etc/000001.mp4"}, "contains '..'"),
    (0, {"file": "test\\000001.mp4"}, "backslashes"),
])
def test_bad_record_is_refused_with_index_and_file(tmp_path: Path, index, change, needle):
    items = _items()
    for k, v in change.items():
        if v is None:
            del items[index][k]
        else:
            items[index][k] = v
    root = _root_with(tmp_path, items)
    file = items[index].get("file")
    needles = [f"metadata.min.json record {index}", needle]
    if isinstance(file, str):
        needles.append(f"({file})")
    err = _refused(root, *needles)
    assert len(err.problems) >= 1
    # skip_invalid: the other records are kept and the problem is reported
    recs = load("lavdf", root, skip_invalid=True)
    assert len(recs) == len(items) - 1
    assert any(needle in str(p) and p.index == index for p in recs.problems)


def test_not_an_object_and_nan(tmp_path: Path):
    items = _items()
    items[3] = ["train/000004.mp4"]
    root = _root_with(tmp_path, items)
    _refused(root, "record 3", "must be a JSON object, not list")
    root = _root_with(tmp_path, None,
                      text=json.dumps(_items()).replace('"duration": 3.2', '"duration": NaN'))
    _refused(root, "record 5", "(dev/000006.mp4)", "duration must be a number > 0 and at most 86400 s, not nan")


def test_period_tolerance(tmp_path: Path):
    items = _items()
    items[1]["fake_periods"] = [[-0.03, 1.0]]      # within 0.05 s of 0: clipped
    items[2]["fake_periods"] = [[0.64, 1.0], [5.0, 5.41]]  # ends 0.034 s after 5.376: within tolerance
    root = _root_with(tmp_path, items)
    by = {r.video_id: r for r in load("lavdf", root)}
    assert by["test/000002"].fake_periods == ((0.0, 1.0),)
    # not clipped to video_frames / 25 (5.28 s): the media's frame count decides (issue 10, 2a)
    assert by["train/000003"].fake_periods == ((0.64, 1.0), (5.0, 5.41))
    with pytest.raises(ManifestError, match="ends after the video"):
        load("lavdf", root, period_tolerance=0.01)


def test_duplicates_missing_files_and_symlinks(tmp_path: Path):
    items = _items()
    items.append(dict(items[0]))                       # duplicate file
    dup = dict(items[1])
    dup["file"] = "test/000002.avi"                     # same video_id, other file
    items.append(dup)
    root = _root_with(tmp_path, items)
    err = _refused(root, "record 6 (test/000001.mp4): duplicate file 'test/000001.mp4' "
                   "(first listed at metadata.min.json record 0)",
                   "record 7 (test/000002.avi): duplicate video_id 'test/000002'")
    assert len(err.problems) == 2

    items = _items()
    os.remove(root / "train/000004.mp4")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"")
    os.remove(root / "test/000002.mp4")
    os.symlink(outside / "secret.mp4", root / "test/000002.mp4")       # file symlink out of the root
    os.symlink(outside, root / "escape")                                 # folder symlink out of the root
    items.append(dict(items[0], file="escape/secret.mp4"))
    os.symlink(root / "test/000001.mp4", root / "dev/inside.mp4")        # symlink inside: fine
    items.append(dict(items[0], file="dev/inside.mp4", split="dev"))
    os.symlink(root / "gone.mp4", root / "dev/broken.mp4")
    items.append(dict(items[0], file="dev/broken.mp4", split="dev"))
    root = _root_with(tmp_path, items)
    err = _refused(root, "record 3 (train/000004.mp4): listed file does not exist",
                   "record 1 (test/000002.mp4): is a symlink to", "outside the dataset root",
                   "record 6 (escape/secret.mp4): its folder resolves to",
                   "record 8 (dev/broken.mp4): is a broken symlink")
    assert len(err.problems) == 4
    recs = load("lavdf", root, skip_invalid=True)
    assert "dev/inside" in [r.video_id for r in recs]
    assert len(recs) == len(items) - 4 and len(recs.problems) == 4
    # the file checks are optional (e.g. to inspect metadata without the media)
    assert len(load("lavdf", root, check_files=False)) == len(items)
    # and only the selected records' files are checked
    assert len(load("lavdf", root, splits="train", start=0, count=1)) == 1


def test_many_problems_are_capped_and_logged(tmp_path: Path, caplog):
    items = _items() * 30  # 150 duplicates
    root = _root_with(tmp_path, items)
    err = _refused(root, "174 problems", "... and 154 more")
    assert len(str(err).splitlines()) < 30
    with caplog.at_level(logging.WARNING, logger="voca_data.sources"):
        recs = load("lavdf", root, skip_invalid=True)
    assert len(recs) == 6 and len(recs.problems) == 174
    assert "skipped 174 invalid record(s)" in caplog.text


def test_bad_path_matches_check_relative_path():
    from voca_data.records import check_relative_path

    for p in ["a/b.mp4", "/a", "a/../b", "..", "a\\b", "a/./b", "a..b", "./a", "a//b", "...", "a/.."]:
        try:
            check_relative_path(p)
            ref = None
        except ManifestError:
            ref = "bad"
        assert (_bad_path(p) is None) == (ref is None), p


def test_full_size_manifest(tmp_path: Path):
    """136,304 records (LAV-DF's size) parse, a bad one deep inside is named (timing lives in
    benchmarks/lavdf_manifest.py)."""
    template = _items()
    n = 136_304
    items = []
    for i in range(n):
        m = dict(template[i % len(template)])
        m["file"] = f"{m['split']}/{i:06d}.mp4"
        items.append(m)
    items[77_777]["n_fakes"] = 3  # one bad record deep inside
    (tmp_path / "metadata.min.json").write_text(json.dumps(items, separators=(",", ":")))
    with pytest.raises(ManifestError, match=r"1 problem:\n  - metadata.min.json record 77777 \("):
        load("lavdf", tmp_path, check_files=False)
    recs = load("lavdf", tmp_path, check_files=False, skip_invalid=True)
    assert len(recs) == n - 1 and recs.n_listed == n
    assert sum(r.label for r in recs) == sum(1 for i, m in enumerate(items) if m["n_fakes"] and i != 77_777)
    assert recs[-1].video_id == f"{items[-1]['split']}/{n - 1:06d}"
