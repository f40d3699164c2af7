"""Schema 2 (per-video ``notes`` and ``has_audio``) and the schema-1 stores written before it:
they keep opening and reading, ``voca check`` says how to upgrade them, ``voca upgrade`` does."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

import voca_data
from voca_data.store import schema
from voca_data.store.check import check_store
from voca_data.store.upgrade import upgrade
from voca_data.store.writer import StoreWriter
from voca_data.testing import random_store

sys.path.insert(0, str(Path(__file__).parent))
from npz_fixture import run_command  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore:Consolidated metadata"),
              pytest.mark.filterwarnings("ignore::voca_data.store.handle.IncompleteStoreWarning")]

NO_AUDIO, FAILED_VIDEO, NOTED = 4, 6, 2


def _as_schema_1(path: Path) -> Path:
    """Rewrite a store the way voca wrote schema 1: no ``notes``/``has_audio`` variables, the
    notes of ok videos in ``error`` ("no audio stream" for a video without audio)."""
    root = zarr.open_group(str(path), mode="r+", use_consolidated=False)
    errors = np.asarray(root["error"][:]).tolist()
    errors[NO_AUDIO] = "no audio stream"
    errors[NOTED] = "label note: the media has 3 frames more than the metadata"
    root["error"][:] = np.array(errors, dtype=object)
    root["audio"][NO_AUDIO, :, :] = np.nan
    for name in schema.ADDED_IN_SCHEMA_2:
        del root[name]
    root.attrs["voca_schema"] = 1
    zarr.consolidate_metadata(str(path))
    return path


@pytest.fixture(scope="module")
def schema2(tmp_path_factory) -> Path:
    return random_store(tmp_path_factory.mktemp("upgrade") / "s2.zarr", n_videos=10, block_size=4,
                        fail=[FAILED_VIDEO])


@pytest.fixture
def schema1(schema2: Path, tmp_path: Path) -> Path:
    path = tmp_path / "s1.zarr"
    shutil.copytree(schema2, path)
    return _as_schema_1(path)


def test_a_new_store_is_schema_2_with_notes_and_has_audio(schema2: Path):
    ds = voca_data.open(schema2)
    assert ds.attrs["voca_schema"] == schema.SCHEMA_VERSION == 2
    has_audio = ds["has_audio"].values
    assert has_audio.dtype == np.int8 and ds["notes"].dtype.kind in "OUT"
    assert has_audio[FAILED_VIDEO] == -1 and set(np.delete(has_audio, FAILED_VIDEO)) == {1}
    assert str(ds["error"].values[FAILED_VIDEO]) == "synthetic failure for tests"


def test_schema_1_store_opens_reads_and_check_says_how_to_upgrade(schema1: Path, capsys):
    ds = voca_data.open(schema1)
    assert ds.attrs["voca_schema"] == 1 and "notes" not in ds.variables
    assert np.isfinite(ds["visual"].isel(video=0).values[: int(ds.n_frames[0])]).all()
    notes: list[str] = []
    assert check_store(schema1, notes=notes) == []
    assert len(notes) == 1 and f"run `voca upgrade {schema1}`" in notes[0]
    assert run_command("check", ["--no-progress", str(schema1)]) == 0
    out = capsys.readouterr().out
    assert f"note: {schema1}: schema 1" in out and f"voca upgrade {schema1}" in out
    with pytest.raises(ValueError, match=f"run `voca upgrade {schema1}` first"):
        StoreWriter(schema1)


def test_voca_upgrade_moves_notes_and_sets_has_audio(schema1: Path, capsys):
    assert run_command("upgrade", [str(schema1)]) == 0
    assert "schema 1 -> 2: 10 videos, 1 without audio, 2 notes moved" in capsys.readouterr().out
    ds = voca_data.open(schema1)
    assert ds.attrs["voca_schema"] == 2 and ds.attrs["history"][-1]["action"] == "upgrade"
    assert ds["has_audio"].values.tolist() == [1, 1, 1, 1, 0, 1, -1, 1, 1, 1]
    notes, errors = ds["notes"].values.tolist(), ds["error"].values.tolist()
    assert notes[NO_AUDIO] == "no audio stream" and notes[NOTED].startswith("label note: ")
    assert errors[NO_AUDIO] == errors[NOTED] == ""
    assert errors[FAILED_VIDEO] == "synthetic failure for tests" and notes[FAILED_VIDEO] == ""
    notes_after: list[str] = []
    assert check_store(schema1, notes=notes_after) == [] and notes_after == []
    StoreWriter(schema1)  # writable again (a resumed extraction)
    # has_audio now decides: NaN audio in a video that has audio is a problem
    zarr.open_group(str(schema1), mode="r+")["audio"][1, 0, 0] = np.nan
    assert [p.split(":")[0] for p in check_store(schema1)] == ["audio"]
    assert run_command("upgrade", [str(schema1)]) == 0
    assert "already schema 2" in capsys.readouterr().out


def test_upgrade_refuses_what_it_cannot_upgrade(tmp_path: Path):
    with pytest.raises(ValueError, match="not a local Zarr store"):
        upgrade(tmp_path / "nothing.zarr")
