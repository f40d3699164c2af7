"""Issue 10, point 6: every broken byte of a store is named (real stores, real files)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from voca_data import cli
from voca_data.store.check import check_files, check_store, quick_check
from voca_data.testing import random_store


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return random_store(tmp_path_factory.mktemp("integrity") / "r.zarr", n_videos=8, seed=0, fail=[2])


@pytest.fixture
def store(pristine, tmp_path):
    return shutil.copytree(pristine, tmp_path / "r.zarr")


def test_every_chunk_and_shard_index_carries_a_crc32c(store):
    for name in ("visual", "status", "video_id", "fake_periods"):
        meta = json.loads((store / name / "zarr.json").read_text())
        codecs = meta["codecs"]
        if codecs[0]["name"] == "sharding_indexed":
            assert codecs[0]["configuration"]["index_codecs"][-1]["name"] == "crc32c"
            codecs = codecs[0]["configuration"]["codecs"]
        assert codecs[-1]["name"] == "crc32c", name
    assert check_store(store) == []


def test_defect6_one_flipped_bit_is_named(store):
    import voca_data

    shard = store / "visual" / "c" / "0" / "0" / "0"
    data = bytearray(shard.read_bytes())
    data[200] ^= 0x10
    shard.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):  # never a silently wrong value
        np.asarray(voca_data.open(store, warn_incomplete=False).visual.isel(video=0).values)
    problems = check_store(store)
    assert len(problems) == 1
    assert problems[0].startswith(f"visual: chunk of video 0 ('train/000000'), frames 0..127, in shard "
                                  f"file {shard}: checksum mismatch")


def test_defect6_flipped_bit_stops_train_in_one_line(store, capsys):
    shard = store / "visual" / "c" / "0" / "0" / "0"
    data = bytearray(shard.read_bytes())
    data[300] ^= 0x10
    shard.write_bytes(bytes(data))
    code = cli.main(["-q", "train", "localizer", str(store), "--out", str(store.parent / "run"),
                     "--epochs", "1", "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    # the Store handle names the store, the array and the video; the checksum is named as the cause
    assert err[0].startswith(f"voca train: error: {store}: reading 'visual' of video 0")
    assert "crc32c checksum fails" in err[0]
    assert err[0].endswith("voca check STORE names the array, videos and file")


def test_defect6_missing_shard_is_named_by_check_info_and_train(store, capsys):
    import voca_models

    shard = store / "visual" / "c" / "1" / "0" / "0"
    os.remove(shard)
    problems = check_store(store)
    assert problems[0].startswith(f"visual: shard file {shard} is missing, but videos 4..7 hold ok videos")
    assert quick_check(store) == [problems[0]]
    audio = store / "audio" / "c" / "0" / "0" / "0"
    os.remove(audio)
    assert quick_check(store)[1].startswith(f"audio: shard file {audio} is missing, but videos 0..3")
    assert cli.main(["info", str(store)]) == 1
    out = capsys.readouterr().out
    assert f"BROKEN    visual: shard file {shard} is missing" in out
    with pytest.raises(ValueError, match="fails the integrity check"):
        voca_models.train("localizer", store, store.parent / "run",
                          model_config={"d_model": 16, "num_layers": 1, "nhead": 2},
                          train_config={"epochs": 1, "progress": False, "device": "cpu"})
    assert not (store.parent / "run" / "last").exists()


def test_defect6_truncated_status_chunk_and_shard(store, capsys):
    status = store / "status" / "0"  # finalized per-video arrays: one chunk, v2 key encoding
    status.write_bytes(status.read_bytes()[:10])
    audio = store / "audio" / "c" / "1" / "0" / "0"
    audio.write_bytes(audio.read_bytes()[: audio.stat().st_size // 2])
    problems = check_store(store)
    assert problems[0].startswith(f"status: chunk file {status} (videos 0..7): checksum mismatch")
    assert problems[-1].endswith("cannot be opened: checksum mismatch: its bytes changed on disk "
                                 "(truncated, bit rot, a bad copy)")
    assert cli.main(["info", str(store)]) == 1  # no traceback
    assert f"broken    status: chunk file {status}" in capsys.readouterr().out
    assert cli.main(["check", str(store), "--no-progress"]) == 1


def test_defect6_truncated_shard_named(pristine, tmp_path):
    import voca_models

    store = shutil.copytree(pristine, tmp_path / "t.zarr")
    audio = store / "audio" / "c" / "1" / "0" / "0"
    audio.write_bytes(audio.read_bytes()[: audio.stat().st_size // 2])
    # the quick check (info, train) verifies shard indexes without decoding the chunks
    quick = quick_check(store)
    assert quick == [f"audio: shard file {audio}: its index fails its checksum: truncated or "
                     "overwritten. Re-extract the affected blocks (reset their status to pending and "
                     "run voca extract again) or restore the store from a copy"]
    with pytest.raises(ValueError, match="fails the integrity check"):  # was a traceback
        voca_models.train("localizer", store, tmp_path / "run",
                          model_config={"d_model": 16, "num_layers": 1, "nhead": 2},
                          train_config={"epochs": 1, "progress": False, "device": "cpu"})
    assert check_store(store) == [f"audio: shard file {audio} (videos 4..7): checksum mismatch: its bytes "
                                  "changed on disk (truncated, bit rot, a bad copy). Re-extract the "
                                  "affected blocks (reset their status to pending and run voca extract "
                                  "again) or restore the store from a copy"]


def test_defect6_broken_zarr_json_found_and_repaired(store, capsys):
    import voca_data

    os.remove(store / "label" / "zarr.json")
    (store / "n_frames" / "zarr.json").write_text("garbage")
    voca_data.open(store, warn_incomplete=False)  # the consolidated copy hides it from readers...
    problems = check_files(store)
    assert problems == [
        f"{store / 'label' / 'zarr.json'} is missing (voca check --repair rewrites it from the "
        "consolidated metadata)",
        f"{store / 'n_frames' / 'zarr.json'} is not valid JSON (Expecting value: line 1 column 1 "
        "(char 0)); voca check --repair rewrites it from the consolidated metadata"]
    assert cli.main(["check", str(store), "--no-progress"]) == 1  # ...not from check
    assert cli.main(["check", str(store), "--no-progress", "--repair"]) == 0
    assert "repaired" in capsys.readouterr().out
    assert check_store(store) == []
