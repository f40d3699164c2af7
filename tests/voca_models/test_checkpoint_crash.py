"""Issue 10, point 7: a crash between save_checkpoint's two renames never loses ``last/``."""
from __future__ import annotations

import pytest

import voca_models
from voca_data.testing import random_store
from voca_models import checkpoint

TINY = {"d_model": 16, "num_layers": 1, "nhead": 2}


class Crash(Exception):
    pass


def test_defect7_checkpoint_save_crash_keeps_a_resumable_run(tmp_path, monkeypatch):
    store = random_store(tmp_path / "r.zarr", n_videos=16, seed=1)
    run = tmp_path / "run"
    cfg = {"epochs": 1, "window": 32, "batch_size": 4, "progress": False, "device": "cpu", "seed": 0}
    voca_models.train("localizer", store, run, model_config=TINY, train_config=cfg)
    before = (run / "last" / "meta.json").read_text()

    def crash(stage, directory):
        if directory.name == "last":
            raise Crash(stage)

    monkeypatch.setattr(checkpoint, "_crash_window", crash)
    with pytest.raises(Crash):
        voca_models.train("localizer", store, run, model_config=TINY,
                          train_config={**cfg, "epochs": 2}, resume=run)
    monkeypatch.undo()
    assert not (run / "last").exists()  # the window: last/ moved aside
    # loading and resuming restore the previous checkpoint, then continue
    _, meta = voca_models.load_checkpoint(run / "last")
    assert meta["model"] == "localizer"
    assert (run / "last" / "meta.json").read_text() == before
    result = voca_models.train("localizer", store, run, model_config=TINY,
                               train_config={**cfg, "epochs": 2}, resume=run)
    assert result is not None
    assert not list(run.glob(".last.old-*")) and not list(run.glob(".last.tmp-*"))
