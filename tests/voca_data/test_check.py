"""voca check catches each corruption it claims to catch: a real store is corrupted through zarr
directly, then checked (as Zarr, and converted to HDF5)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

from voca_data.store import schema
from voca_data.store.check import check_store
from voca_data.store.convert import convert
from voca_data.testing import random_store

sys.path.insert(0, str(Path(__file__).parent))
from npz_fixture import run_command

pytestmark = pytest.mark.filterwarnings("ignore:Consolidated metadata")


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    path = random_store(tmp_path_factory.mktemp("check") / "clean.zarr", n_videos=10, block_size=4,
                        fail=[6], visual_dim=6, audio_dim=3)
    assert check_store(path) == []
    return path


def _copy(clean, tmp_path) -> tuple[Path, zarr.Group, dict]:
    path = tmp_path / "bad.zarr"
    shutil.copytree(clean, path)
    root = zarr.open_group(str(path), mode="r+", use_consolidated=False)
    info = {
        "ids": np.asarray(root["video_id"][:]).tolist(),
        "n_frames": np.asarray(root["n_frames"][:]),
        "label": np.asarray(root["label"][:]),
    }
    return path, root, info


def _fake_video(info) -> int:
    return int(np.flatnonzero(info["label"] == 1)[0])


# name -> (corrupt(root, info) -> video index, text every reported problem line must contain)
def _pad_visual(root, info):
    k = 1
    root["visual"][k, int(info["n_frames"][k]) + 2, 0] = 0.5
    return k, "visual: video 1 ('dev/000001') has non-fill values past n_frames"


def _pad_label(root, info):
    k = 2
    root["frame_label"][k, int(info["n_frames"][k])] = 0
    return k, "frame_label: video 2 ('test/000002') has non-fill values past n_frames"


def _pad_failed(root, info):
    root["face_score"][6, 0] = 0.9
    return 6, "face_score: video 6 ('train/000006') has non-fill values although the video is failed"


def _nan_visual(root, info):
    root["visual"][3, 5, 2] = np.nan
    return 3, "visual: video 3 ('train/000003') is ok but has NaN in 1 of"


def _nan_audio(root, info):
    root["audio"][4, 0:3, 0] = np.nan
    return 4, "audio: video 4 ('dev/000004') is ok but has NaN in 3 of"


def _frame_label(root, info):
    k = _fake_video(info)
    fl = root["frame_label"][k]
    t = int(np.flatnonzero(fl == 1)[0])
    root["frame_label"][k, t] = 0
    return k, f"frame_label: video {k} ('{info['ids'][k]}') disagrees with fake_periods at 1 of"


def _periods_moved(root, info):
    k = _fake_video(info)
    p = root["fake_periods"][:]
    p[k, 0] += 0.4
    root["fake_periods"][:] = p
    return k, f"frame_label: video {k} ('{info['ids'][k]}') disagrees with fake_periods"


def _periods_bad(root, info):
    k = _fake_video(info)
    p = root["fake_periods"][:]
    p[k, 0] = [1.0, 0.5]
    root["fake_periods"][:] = p
    return k, f"fake_periods: video {k} ('{info['ids'][k]}') has periods"


def _status_value(root, info):
    s = root["status"][:]
    s[6] = 7
    root["status"][:] = s
    return 6, "status: video 6 ('train/000006') has 7, allowed values are [0, 1, 2]"


def _label_value(root, info):
    x = root["label"][:]
    x[0] = 4
    root["label"][:] = x
    return 0, "label: video 0 ('train/000000') has 4"


def _modify_flag_value(root, info):
    x = root["modify_audio"][:]
    x[3] = 2
    root["modify_audio"][:] = x
    return 3, "modify_audio: video 3 ('train/000003') has 2"


def _n_fakes_range(root, info):
    x = root["n_fakes"][:]
    x[1] = root["fake_periods"].shape[1] + 1
    root["n_fakes"][:] = x
    return 1, "n_fakes: video 1 ('dev/000001') has"


def _periods_past_n_fakes(root, info):
    k = int(np.flatnonzero(root["n_fakes"][:] == 0)[0])
    p = root["fake_periods"][:]
    p[k, 0] = [0.1, 0.2]
    root["fake_periods"][:] = p
    return k, f"fake_periods: video {k} ('{info['ids'][k]}') has values past its 0 periods"


def _empty_id(root, info):
    ids = np.asarray(root["video_id"][:]).tolist()
    ids[5] = ""
    root["video_id"][:] = np.array(ids, dtype=object)
    return 5, "video_id: video 5 ('') has an empty id"


def _duplicate_id(root, info):
    ids = np.asarray(root["video_id"][:]).tolist()
    ids[7] = ids[2]
    root["video_id"][:] = np.array(ids, dtype=object)
    return 7, "video_id: 'test/000002' appears twice (videos 2 and 7)"


def _absolute_path(root, info):
    paths = np.asarray(root["path"][:]).tolist()
    paths[8] = "/data/lavdf/x.mp4"
    root["path"][:] = np.array(paths, dtype=object)
    return 8, "path: video 8 ('test/000008'): path '/data/lavdf/x.mp4' is absolute"


def _escaping_path(root, info):
    paths = np.asarray(root["path"][:]).tolist()
    paths[9] = "train/../../secret.mp4"
    root["path"][:] = np.array(paths, dtype=object)
    return 9, "path: video 9 ('train/000009'): path 'train/../../secret.mp4' contains '..'"


def _n_frames_range(root, info):
    n = root["n_frames"][:]
    n[2] = 10_000
    root["n_frames"][:] = n
    return 2, "n_frames: video 2 ('test/000002') has 10000, outside [0, "


def _failed_without_error(root, info):
    e = np.asarray(root["error"][:]).tolist()
    e[6] = ""
    root["error"][:] = np.array(e, dtype=object)
    return 6, "error: video 6 ('train/000006') failed but its error is empty"


def _complete_but_pending(root, info):
    s = root["status"][:]
    s[1] = schema.PENDING
    root["status"][:] = s
    return 1, "attribute complete is true but 1 videos are pending"


def _missing_variable(root, info):
    del root["face_score"]
    return None, "variable 'face_score' is missing"


def _wrong_dtype(root, info):
    old = root["n_fakes"][:]
    del root["n_fakes"]
    root.create_array("n_fakes", shape=old.shape, dtype="float32", dimension_names=["video"])[:] = old
    return None, "variable 'n_fakes' has dtype float32, expected int16"


def _schema_newer_attr_missing(root, info):
    del root.attrs["fps"]
    return None, "root attribute 'fps' is missing"


CORRUPTIONS = {f.__name__.strip("_"): f for f in [
    _pad_visual, _pad_label, _pad_failed, _nan_visual, _nan_audio, _frame_label, _periods_moved,
    _periods_bad, _status_value, _label_value, _modify_flag_value, _n_fakes_range,
    _periods_past_n_fakes, _empty_id, _duplicate_id, _absolute_path, _escaping_path,
    _n_frames_range, _failed_without_error, _complete_but_pending, _missing_variable, _wrong_dtype,
    _schema_newer_attr_missing,
]}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_check_catches(name, clean, tmp_path):
    path, root, info = _copy(clean, tmp_path)
    _, expected = CORRUPTIONS[name](root, info)
    zarr.consolidate_metadata(str(path))
    problems = check_store(path)
    assert any(expected in p for p in problems), (expected, problems)
    # nothing else is reported for a single corruption of a per-frame value
    if name in ("pad_visual", "pad_label", "pad_failed", "nan_visual", "nan_audio", "frame_label"):
        assert len(problems) == 1, problems


def test_no_audio_stream_excuses_nan_audio(clean, tmp_path):
    path, root, _ = _copy(clean, tmp_path)
    root["audio"][4, :, :] = np.nan
    has_audio = root["has_audio"][:]
    has_audio[4] = 0
    root["has_audio"][:] = has_audio
    assert check_store(path) == []
    root["visual"][4, 0, 0] = np.nan  # but visual must still be there
    assert [p.split(":")[0] for p in check_store(path)] == ["visual"]


def test_cli_lists_every_problem_and_exits_1_also_for_hdf5(clean, tmp_path, capsys):
    assert run_command("check", ["--no-progress", str(clean)]) == 0
    assert "ok" in capsys.readouterr().out
    path, root, info = _copy(clean, tmp_path)
    for name in ("pad_visual", "nan_audio", "status_value", "absolute_path", "frame_label"):
        CORRUPTIONS[name](root, info)
    zarr.consolidate_metadata(str(path))
    assert run_command("check", ["--no-progress", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1].endswith("5 problems")
    assert sorted(line.split(":")[0] for line in out[:-1]) == ["audio", "frame_label", "path", "status", "visual"]
    h5 = convert(path, tmp_path / "bad.h5")
    assert sorted(check_store(h5)) == sorted(out[:-1])


def test_unopenable_store_is_one_problem(tmp_path):
    (tmp_path / "x.zarr").mkdir()
    problems = check_store(tmp_path / "x.zarr")
    assert len(problems) == 1 and "not a Zarr v3 store" in problems[0]
