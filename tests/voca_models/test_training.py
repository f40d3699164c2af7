"""The steps of :mod:`voca_models.training` on their own: the LR schedule, the run configuration,
history.csv and the training curves (the whole loop is exercised by test_train.py)."""

from __future__ import annotations

import csv
import itertools
import math

import pytest
import torch

from voca_models.configs import TrainConfig
from voca_models.plots import plot_history
from voca_models.training.history import write_history
from voca_models.training.resume import prepare_out_dir, reconcile_config
from voca_models.training.schedule import make_schedulers


def _lrs(cfg: TrainConfig, steps_per_epoch: int) -> list[float]:
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    per_step, per_epoch = make_schedulers(cfg, opt, steps_per_epoch)
    assert per_epoch is None
    out = []
    for _ in range(cfg.epochs * steps_per_epoch):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        per_step.step()
    return out


def test_cosine_schedule_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(epochs=3, lr=1e-3, scheduler="cosine", warmup_epochs=0.5, min_lr_ratio=0.1)
    lrs = _lrs(cfg, steps_per_epoch=10)
    warmup = 5
    assert lrs[:warmup] == pytest.approx([1e-3 * (k + 1) / warmup for k in range(warmup)])
    after = lrs[warmup:]
    assert after[0] == pytest.approx(1e-3)
    assert all(b < a for a, b in itertools.pairwise(after))     # strictly decreasing
    assert after[-1] > 1e-4 and after[-1] == pytest.approx(1e-4, rel=0.05)   # towards the floor


def test_plateau_and_constant_schedules():
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    per_step, per_epoch = make_schedulers(
        TrainConfig(scheduler="plateau", plateau_factor=0.5, plateau_patience=0), opt, 10)
    assert per_step is None
    per_epoch.step(0.8)
    per_epoch.step(0.7)                                          # worse: halved at once
    assert opt.param_groups[0]["lr"] == pytest.approx(5e-4)
    assert make_schedulers(TrainConfig(scheduler="constant"), opt, 10) == (None, None)


def test_fresh_run_configuration_and_an_occupied_run_directory(tmp_path):
    run = reconcile_config("lstm", tmp_path / "run", {"hidden": 8}, {"epochs": 2})
    assert (run.config.epochs, run.model_options, run.resumed) == (2, {"hidden": 8}, False)
    with pytest.raises(ValueError, match="out_dir is required"):
        reconcile_config("lstm", None, {}, {})
    (tmp_path / "run" / "last").mkdir(parents=True)
    (tmp_path / "run" / "last" / "meta.json").write_text("{}")
    with pytest.raises(FileExistsError, match="resume="):
        prepare_out_dir(run, overwrite=False)
    prepare_out_dir(run, overwrite=True)                        # allowed: replaced by the run


def test_history_csv_and_curves(tmp_path):
    rows = [{"epoch": 1, "lr": 1e-3, "train_loss": 0.7},
            {"epoch": 2, "lr": 9e-4, "train_loss": 0.5, "dev_video_auc": 0.9}]
    write_history(tmp_path, rows)
    with (tmp_path / "history.csv").open() as f:
        read = list(csv.DictReader(f))
    assert list(read[0]) == ["epoch", "lr", "train_loss", "dev_video_auc"]
    assert read[0]["dev_video_auc"] == "" and float(read[1]["dev_video_auc"]) == 0.9
    assert not (tmp_path / ".history.csv.tmp").exists()
    png = plot_history(rows, tmp_path / "curves.png")
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 1000
    assert math.isfinite(float(read[1]["train_loss"]))
