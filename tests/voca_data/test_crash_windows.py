"""Issue 10, point 7: crashes injected between the renames of finalize's rechunk: a reader never
sees a half state, and the next writer repairs it (real stores)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from extract_fixtures import assert_stores_equal

import voca_data
from voca_data.store import schema, writer
from voca_data.store.check import check_store
from voca_data.testing import random_store


class Crash(Exception):
    pass


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return random_store(tmp_path_factory.mktemp("ref") / "ref.zarr", n_videos=10, seed=4, fail=[3])


@pytest.mark.parametrize("stage", ["chunks moved", "metadata replaced", "consolidated"])
@pytest.mark.parametrize("variable", ["n_frames", "status"])
def test_defect7_finalize_rechunk_crash_is_invisible_and_repaired(tmp_path, monkeypatch, reference,
                                                                   stage, variable):
    path = random_store(tmp_path / "s.zarr", n_videos=10, seed=4, fail=[3], finalize=False)
    expected = voca_data.open(reference, warn_incomplete=False)

    def crash(at: str, name: str) -> None:
        if (at, name) == (stage, variable):
            raise Crash(f"{at} {name}")

    monkeypatch.setattr(writer, "_crash_window", crash)
    with pytest.raises(Crash):
        writer.StoreWriter(path).finalize()
    monkeypatch.undo()
    # a reader in the crash window sees every per-video value (n_frames was 0 before)
    ds = voca_data.open(path, warn_incomplete=False)
    np.testing.assert_array_equal(ds.n_frames.values, expected.n_frames.values)
    np.testing.assert_array_equal(ds.status.values, expected.status.values)
    assert (ds.status.values == schema.OK).sum() == 9
    # the next writer finishes the swap; finalize again gives the uninterrupted store
    writer.StoreWriter(path).finalize()
    assert check_store(path) == []
    assert_stores_equal(path, reference)
    leftovers = [p.name for p in path.iterdir() if p.name.startswith(("_tmp_", "_old_"))]
    assert leftovers == []
