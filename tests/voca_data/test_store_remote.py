"""The Store handle opened from URLs: a real Range-capable HTTP server on 127.0.0.1 (its own
process, killed to simulate a dead server), a real S3-compatible server (moto's, on loopback),
publishing, the xarray engine and accessor, VideoDataset over URLs and HDF5."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import xarray as xr
import zarr
from torch.utils.data import DataLoader, Subset

import voca_data
from voca_data import Store, StoreReadError
from voca_data.store import schema
from voca_data.store.check import check_store
from voca_data.store.convert import convert
from voca_data.store.info import summary
from voca_data.store.publish import PublishError, publish
from voca_data.testing import random_store
from voca_data.testing_http import nginx_available, serve
from voca_data.torch import VideoDataset, collate

pytest.importorskip("aiohttp")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A finalized store in a folder served over HTTP: (local path, URL, server)."""
    root = tmp_path_factory.mktemp("www")
    path = random_store(root / "s.zarr", n_videos=10, block_size=4, max_frames=150)
    with serve(root) as server:
        yield path, f"{server.url}/s.zarr", server


def _same(a: xr.Dataset, b: xr.Dataset) -> None:
    xr.testing.assert_identical(a.drop_attrs(deep=False), b.drop_attrs(deep=False))


def test_open_url_sel_values_equal_local(served):
    path, url, server = served
    before = server.requests()
    remote = voca_data.open(url)
    local = voca_data.open(path)
    assert server.requests() > before  # really read over HTTP
    assert remote.attrs["source"] == url and remote.attrs["voca_schema"] == schema.SCHEMA_VERSION
    _same(remote.sel(split="test").load(), local.sel(split="test").load())
    one = remote.sel(video_id="dev/000004")
    n = int(one.n_frames)
    np.testing.assert_array_equal(one.visual.values[:n],
                                  local.sel(video_id="dev/000004").visual.values[:n])
    # file:// URLs, zarr groups and Store handles give the same view
    _same(voca_data.open(f"file://{path}"), local)
    _same(voca_data.open(zarr.open_group(str(path), mode="r")), local)
    _same(voca_data.open(Store.open(url)), local)


def test_storage_options_only_for_urls(served, tmp_path):
    path, url, _ = served
    with pytest.raises(ValueError, match="storage_options are for URLs"):
        voca_data.open(path, storage_options={"anon": True})
    # options reach fsspec: a header the test server ignores still opens the store
    ds = voca_data.open(url, storage_options={"headers": {"X-Voca": "1"}})
    assert ds.sizes["video"] == 10
    with pytest.raises(FileNotFoundError, match="no voca store there"):
        voca_data.open(url.replace("s.zarr", "missing.zarr"))


def test_store_handle_metadata_and_reads(served):
    path, url, _ = served
    store = Store.open(url)
    local = voca_data.open(path)
    assert store.split_names == ["dev", "test", "train"]
    assert store.resolve_split("dev") == "dev" and store.resolve_split("train", "train") == "train"
    with pytest.raises(ValueError, match="no split 'valset'.*splits are"):
        store.resolve_split("dev", "valset")
    np.testing.assert_array_equal(store.n_frames, local.n_frames.values)
    assert store.usable("test").tolist() == [i for i in range(10) if i % 3 == 2]
    got = store.read("test/000002", ["visual", "frame_label"])
    n = int(local.n_frames.values[2])
    np.testing.assert_array_equal(got["visual"], local.visual.values[2, :n])
    np.testing.assert_array_equal(got["frame_label"], local.frame_label.values[2, :n])
    info = summary(url)
    assert info["counts"] == {"pending": 0, "ok": 10, "failed": 0} and info["remote"] is True
    json.dumps(info)  # plain data, ready for --json


def test_xarray_engine_and_accessor(served):
    path, url, _ = served
    for source in (path, url):
        ds = xr.open_dataset(source, engine="voca")
        _same(ds, voca_data.open(source))
        assert set(ds.indexes) == {"video_id", "split"}
        assert ds.sel(split="test").sizes["video"] == 3
    ds = voca_data.open(path)
    assert ds.voca.split_names == ["dev", "test", "train"]
    video = ds.voca.video("test/000005")
    assert video.sizes["frame"] == int(ds.sel(video_id="test/000005").n_frames)
    assert np.isfinite(video.visual.values).all()
    assert ds.voca.ok().sizes["video"] == 10
    assert ds.voca.split("dev").sizes["video"] == 3
    with pytest.raises(KeyError, match="no video 'nope'"):
        ds.voca.video("nope")
    # the schema check applies to the engine too
    with pytest.raises(voca_data.StoreError, match="no 'voca_schema'"):
        other = path.parent / "other.zarr"
        zarr.open_group(str(other), mode="w").attrs["title"] = "not voca"
        xr.open_dataset(other, engine="voca")


@pytest.mark.skipif(not nginx_available(), reason="nginx is not installed (.ci/run installs "
                    "Debian's nginx-light where apt-get works)")
def test_nginx_server_serves_the_store_to_dataloader_workers(served):
    """The benchmark's nginx server (testing_http.serve(root, "nginx")): ranges, request count,
    a 2-worker DataLoader over it equal to the local store, and a clean stop."""
    path, _, _ = served
    local = VideoDataset(path, split="train", window=64)
    with serve(path.parent, "nginx") as server:
        remote = VideoDataset(f"{server.url}/s.zarr", split="train", window=64)
        a = list(DataLoader(local, batch_size=3, num_workers=2, collate_fn=collate))
        b = list(DataLoader(remote, batch_size=3, num_workers=2, collate_fn=collate))
        assert server.requests() > 0
        process = server.process
    assert process.poll() is not None
    assert len(a) == len(b) > 1
    for x, y in zip(a, b):
        for k in x:
            assert torch.equal(x[k], y[k]), k


@pytest.mark.parametrize("engine", ["auto", "zarr"])
def test_dataloader_two_workers_over_http_equals_local(served, engine):
    path, url, server = served
    kwargs = {"split": "train", "window": 64, "engine": engine}
    local = VideoDataset(path, **kwargs)
    remote = VideoDataset(url, **kwargs)
    assert remote.path == url and len(remote) == len(local)
    before = server.requests()
    a = list(DataLoader(local, batch_size=3, num_workers=2, collate_fn=collate))
    b = list(DataLoader(remote, batch_size=3, num_workers=2, collate_fn=collate))
    assert server.requests() > before
    assert len(a) == len(b) > 1
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            assert torch.equal(x[k], y[k]), k


def test_hdf5_store_in_video_dataset(served, tmp_path):
    path, _, _ = served
    h5 = convert(path, tmp_path / "s.h5")
    a = VideoDataset(path, split="dev", window=None)
    b = VideoDataset(h5, split="dev", window=None)
    for i in range(len(a)):
        x, y = a[i], b[i]
        assert all(torch.equal(x[k], y[k]) for k in x)
    assert b.active_engine == "h5py"
    batches = list(DataLoader(b, batch_size=2, num_workers=2, collate_fn=collate))
    assert sum(int(t["label"].numel()) for t in batches) == len(b)


def _read_in_worker(dataset, index):
    """One item read in a DataLoader worker: the main test process never reads with tensorstore
    (whose thread pool must not be used before a fork; see test_torch)."""
    loader = DataLoader(Subset(dataset, [index]), batch_size=1, num_workers=1, collate_fn=collate)
    return next(iter(loader))


def _copy_served(src, tmp_path):
    root = tmp_path / "www"
    shutil.copytree(src, root / "s.zarr")
    return root


def test_dead_server_is_a_clear_error(served, tmp_path):
    path, _, _ = served
    root = _copy_served(path, tmp_path)
    with serve(root) as server:
        url = f"{server.url}/s.zarr"
        store = Store.open(url)
        ts = VideoDataset(url, split="test", window=None, engine="tensorstore")
        zr = VideoDataset(url, split="test", window=None, engine="zarr")
        store.read(0, ["visual"]), zr[0]  # warm: connections open, shard indexes cached
        server.kill()
        with pytest.raises(StoreReadError, match=rf"{url}: reading 'visual' of video 9 .*"
                                                 r"chunk visual/c/2/0/0"):
            store.read(9, ["visual"])
        last = len(zr) - 1  # video 8: block 2, never read before
        with pytest.raises(StoreReadError, match=rf"{url}: reading .* of video 8 .*chunk"):
            zr[last]
        with pytest.raises(StoreReadError, match=rf"{url}: opening arrays .* with tensorstore"):
            _read_in_worker(ts, last)


def test_truncated_remote_chunk_is_reported_never_nan(served, tmp_path):
    path, _, _ = served
    root = _copy_served(path, tmp_path)
    shard = root / "s.zarr" / "visual" / "c" / "1" / "0" / "0"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    with serve(root) as server:
        url = f"{server.url}/s.zarr"
        store = Store.open(url)
        with pytest.raises(StoreReadError, match=r"'visual' of video 5 .*chunk visual/c/1/0/0"):
            store.read(5, ["visual"])
        for engine in ("tensorstore", "zarr"):
            ds = VideoDataset(url, split="dev", window=None, engine=engine)
            item = next(i for i, w in enumerate(ds.windows) if w[0] == 7)  # dev/000007, block 1
            with pytest.raises(StoreReadError, match="video 7 .*chunk visual/c/1/0/0"):
                _read_in_worker(ds, item)
        problems = check_store(url)
        assert any("visual: videos 4-7" in p and "cannot be read" in p for p in problems), problems


def test_voca_info_and_check_on_a_url(served):
    _, url, _ = served
    for command in (["info", url], ["check", url, "--no-progress"]):
        out = subprocess.run([sys.executable, "-m", "voca_data", *command], capture_output=True,
                             text=True, timeout=300, check=False)
        assert out.returncode == 0, out.stderr
        assert url in out.stdout
    out = subprocess.run([sys.executable, "-m", "voca_data", "info", url + "x"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 2 and "no voca store there" in out.stderr


def test_publish_to_a_folder_then_read_over_http(served, tmp_path):
    path, _, _ = served
    dest = tmp_path / "www" / "pub.zarr"
    assert publish(path, str(dest)) == str(dest)
    meta = json.loads((dest / "zarr.json").read_text())
    assert "consolidated_metadata" in meta
    with pytest.raises(PublishError, match="already exists"):
        publish(path, str(dest))
    with serve(tmp_path / "www") as server:
        url = f"{server.url}/pub.zarr"
        assert check_store(url) == []
        _same(voca_data.open(url), voca_data.open(path))
    unfinished = random_store(tmp_path / "u.zarr", n_videos=4, block_size=2, finalize=False)
    with pytest.raises(PublishError, match="not complete"):
        publish(unfinished, str(tmp_path / "u2.zarr"))


def test_publish_command_memory_fs(served):
    path, _, _ = served
    from voca_data.cli import main

    assert main(["publish", str(path), "memory://voca-test/s.zarr", "--no-progress"]) == 0
    _same(voca_data.open("memory://voca-test/s.zarr"), voca_data.open(path))


# ------------------------------------------------------------------------------------------ S3
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    options = {"key": "testing", "secret": "testing", "endpoint_url": endpoint,
               "client_kwargs": {"region_name": "eu-west-1"}}
    import s3fs

    deadline = time.monotonic() + 60
    while True:
        try:
            fs = s3fs.S3FileSystem(**options, skip_instance_cache=True)
            fs.mkdir("voca-bucket")
            break
        except Exception:  # noqa: BLE001 - not up yet: any error until the deadline
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("moto's S3 server did not start on 127.0.0.1")
            time.sleep(0.3)
    yield options
    proc.kill()
    proc.wait(timeout=30)


def test_s3_publish_open_and_dataloader(served, s3_server):
    path, _, _ = served
    url = "s3://voca-bucket/s.zarr"
    publish(path, url, storage_options=s3_server)
    assert check_store(url, storage_options=s3_server) == []
    remote = voca_data.open(url, storage_options=s3_server)
    _same(remote.sel(split="train").load(), voca_data.open(path).sel(split="train").load())
    a = VideoDataset(path, split="train", window=64)
    b = VideoDataset(url, split="train", window=64, storage_options=s3_server)
    x = list(DataLoader(a, batch_size=4, num_workers=2, collate_fn=collate))
    y = list(DataLoader(b, batch_size=4, num_workers=2, collate_fn=collate))
    for p, q in zip(x, y):
        assert all(torch.equal(p[k], q[k]) for k in p)


def test_remote_sessions_are_closed_and_nothing_is_printed_at_exit(served):
    """A script that opens a store over HTTP, reads it with the zarr engine in the main process
    and through DataLoader workers, and ends: aiohttp's "Unclosed client session" never appears
    (handles' sessions are closed when collected, at exit, or by ``Store.close``)."""
    import subprocess
    import sys

    _, url, _ = served
    code = (
        "import gc, sys, voca_data\n"
        "from torch.utils.data import DataLoader\n"
        "from voca_data.torch import VideoDataset, collate\n"
        "ds = voca_data.open(sys.argv[1]); print(ds.visual[0, :4].values.shape)\n"
        "d = VideoDataset(sys.argv[1], split=None, window=32, engine='zarr'); d[0]; gc.collect()\n"
        "print(sum(1 for _ in DataLoader(d, batch_size=4, num_workers=2, collate_fn=collate)))\n"
        "store = voca_data.Store.open(sys.argv[1]); store.close()\n"
        "del ds; gc.collect(); print('end')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-1] == "end"
    assert "Unclosed" not in proc.stderr, proc.stderr[-2000:]
