"""Data-parallel training with torchrun on CPU (gloo, 2 processes): the gradient of the global batch
split across processes equals the single-process gradient, and a whole `voca train` run works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from voca_data.testing import random_store
from voca_data.torch import VideoDataset, collate
from voca_models import build
from voca_models.data import StoreInfo, to_device
from voca_models.train import compute_loss

CONFIGS = {
    "localizer": dict(d_model=16, num_layers=1, nhead=2, dropout=0.0),
    "lstm": dict(hidden=8, num_layers=1, nhead=2, dropout=0.0, frame_head=True),
    "covfusion": dict(k=8, d_model=8, hidden=8, channels=4, dropout=0.0),
}

WORKER = textwrap.dedent("""
    import json, os, sys
    import torch
    import torch.distributed as dist
    from safetensors.torch import save_file
    from torch.nn.parallel import DistributedDataParallel
    torch.set_num_threads(1)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from ddp_common import global_batch, CONFIGS
    from voca_models import build
    from voca_models.train import compute_loss

    store, out = sys.argv[1], sys.argv[2]
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    batch = global_batch(store)
    n = batch["mask"].shape[0] // world
    local = {k: v[rank * n:(rank + 1) * n] for k, v in batch.items()}
    for name, cfg in CONFIGS.items():
        torch.manual_seed(0)
        model = build(name, visual_dim=8, audio_dim=6, **cfg)
        ddp = DistributedDataParallel(model)
        loss, _ = compute_loss(ddp, local, world)
        loss.backward()
        if rank == 0:
            save_file({k: p.grad.contiguous() for k, p in model.named_parameters()}, f"{out}/{name}.safetensors")
    dist.barrier()
    dist.destroy_process_group()
""")


def global_batch(store):
    """8 windows of the train split as one batch: the 4 longest, then the 4 shortest (so the two
    processes see different numbers of valid frames)."""
    info = StoreInfo.load(store)
    ds = VideoDataset(
        store,
        split="train",
        window=40,
        features=("visual", "audio"),
        normalize=info.check_stats(("visual", "audio")),
    )
    items = sorted(
        (ds[i] for i in range(len(ds))), key=lambda it: (-int(it["length"]), int(it["video"]))
    )
    return to_device(collate(items[:4] + items[-4:]), "cpu")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return random_store(
        tmp_path_factory.mktemp("ddp") / "s.zarr",
        n_videos=30,
        visual_dim=8,
        audio_dim=6,
        max_frames=70,
        signal=3.0,
        block_size=8,
        seed=4,
    )


def _torchrun(args, cwd, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        *args,
    ]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def test_gradient_matches_single_process(store, tmp_path):
    common = tmp_path / "ddp_common.py"
    common.write_text(
        "import json\nfrom voca_models.data import StoreInfo, to_device\n"
        "from voca_data.torch import VideoDataset, collate\n"
        f"CONFIGS = json.loads({json.dumps(json.dumps(CONFIGS))})\n"
        + textwrap.dedent(__import__("inspect").getsource(global_batch))
    )
    (tmp_path / "worker.py").write_text(WORKER)
    _torchrun([str(tmp_path / "worker.py"), str(store), str(tmp_path)], cwd=tmp_path)
    batch = global_batch(store)
    lengths = batch["mask"].sum(1)
    assert lengths[:4].sum() != lengths[4:].sum()  # ranks see different numbers of valid frames
    for name, cfg in CONFIGS.items():
        torch.manual_seed(0)
        model = build(name, visual_dim=8, audio_dim=6, **cfg)
        loss, _ = compute_loss(model, batch, 1)
        loss.backward()
        ddp_grads = load_file(str(tmp_path / f"{name}.safetensors"))
        assert set(ddp_grads) == {k for k, _ in model.named_parameters()}
        for k, p in model.named_parameters():
            torch.testing.assert_close(
                ddp_grads[k], p.grad, rtol=1e-4, atol=1e-6, msg=f"{name}: {k}"
            )


def test_voca_train_under_torchrun(store, tmp_path):
    out = tmp_path / "run"
    _torchrun(
        [
            "-m",
            "voca_data.cli",
            "train",
            "lstm",
            str(store),
            "--out",
            str(out),
            "--epochs",
            "2",
            "--batch-size",
            "4",
            "--window",
            "48",
            "--hidden",
            "8",
            "--nhead",
            "2",
            "--num-layers",
            "1",
            "--no-progress",
        ],
        cwd=tmp_path,
    )
    meta = json.loads((out / "best" / "meta.json").read_text())
    assert meta["world_size"] == 2 and meta["model"] == "lstm"
    history = json.loads((out / "last" / "state.json").read_text())["history"]
    assert [r["epoch"] for r in history] == [1, 2]
    assert all(0.0 <= r["dev_video_auc"] <= 1.0 for r in history)
