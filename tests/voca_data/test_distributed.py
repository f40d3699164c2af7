"""dask.distributed: a LocalCluster of 2 worker processes on loopback writes the same arrays as the
local pipeline, also when one worker process is SIGKILLed mid-run (its task is retried)."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
import zarr

import sys  # noqa: E402
from pathlib import Path as _Path  # noqa: E402

sys.path.insert(0, str(_Path(__file__).parent))

from extract_fixtures import assert_stores_equal, make_synth, tiny_config

from voca_data.store import schema
from voca_data.extract import extract

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from voca_data.sources import load

    root = make_synth(tmp_path_factory.mktemp("dist") / "ds", "lavdf", videos=10, seed=7)
    records = load("lavdf", root)
    ref = extract(records, root, tmp_path_factory.mktemp("ref") / "ref.zarr",
                  tiny_config(block_size=2), cpu_workers=2, progress=False)
    return root, records, ref


@pytest.fixture(scope="module")
def cluster():
    import dask

    # non-daemonic workers may start the pipeline's CPU worker processes (docs/extraction.md)
    with dask.config.set({"distributed.worker.daemon": False}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     host="127.0.0.1", dashboard_address="127.0.0.1:0") as c:
        yield c


def test_local_cluster_equals_local_pipeline(dataset, cluster, tmp_path):
    root, records, ref = dataset
    out = extract(records, root, tmp_path / "d.zarr", tiny_config(block_size=2),
                  scheduler=cluster.scheduler_address, cpu_workers=1, progress=False)
    assert_stores_equal(ref, out)
    history = zarr.open_group(str(out), mode="r").attrs["history"]
    run = [h for h in history if h["action"] == "extract"][-1]
    assert run["stage_cpu_busy_seconds"] > 0 and run["frames"] > 0
    assert run["cpu_workers"] == 1 and run["nodes"] == 2  # CPU worker processes on both nodes
    with distributed.Client(cluster, set_as_default=False) as client:
        pids = set(client.run(os.getpid).values())
    assert os.getpid() not in pids and len(pids) == 2  # work ran in the worker processes


def test_worker_killed_mid_run(dataset, cluster, tmp_path):
    root, records, ref = dataset
    out = tmp_path / "k.zarr"
    killed: list[int] = []

    def killer():
        with distributed.Client(cluster, set_as_default=False) as client:
            pids = list(client.run(os.getpid).values())
            deadline = time.time() + 120
            while time.time() < deadline:
                try:
                    status = zarr.open_array(str(out / "status"), mode="r")[:]
                except Exception:  # noqa: BLE001 - store not there yet
                    status = np.zeros(1)
                if (status == schema.OK).any():
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(int((status == schema.PENDING).sum()))
                    return
                time.sleep(0.02)

    t = threading.Thread(target=killer)
    t.start()
    extract(records, root, out, tiny_config(block_size=2), scheduler=cluster.scheduler_address,
            cpu_workers=1, progress=False)
    t.join()
    assert killed, "no worker was killed"
    assert killed[0] > 0, "the worker was killed after the work was done"
    status = zarr.open_array(str(out / "status"), mode="r")[:]
    assert (status == schema.OK).all()
    assert_stores_equal(ref, out)
