"""VideoDataset on real stores, through real DataLoaders with worker processes."""

import json
import pickle
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import voca_data
from voca_data.store import schema
from voca_data.records import frame_labels
from voca_data.testing import random_records
from voca_data.torch import VideoDataset, available_engines, balanced_sampler, collate
from voca_data.store.writer import init

FAILED = (3, 10)


def _make_store(
    path,
    n_videos=24,
    visual_dim=16,
    audio_dim=8,
    block_size=4,
    fail=(),
    seed=0,
    min_frames=20,
    max_frames=200,
    splits=("train", "dev", "test"),
    blocks=None,
    finalize=True,
    nan_audio=(),
):
    """A store of random features whose videos have the lengths of their records (20-200
    frames), fake frames shifted; ``fail`` videos failed, ``nan_audio`` videos without audio,
    only ``blocks`` written (default all)."""
    recs = random_records(
        n_videos, splits=splits, seed=seed, min_frames=min_frames, max_frames=max_frames
    )
    w = init(
        path,
        recs,
        visual_dim=visual_dim,
        audio_dim=audio_dim,
        max_frames=max(r.n_frames for r in recs),
        block_size=block_size,
    )
    rng = np.random.default_rng(seed)
    for b in range(w.n_blocks) if blocks is None else blocks:
        sl = w.block_slice(b)
        block = w.empty_block(b)
        for k, r in enumerate(recs[sl]):
            if sl.start + k in fail:
                block["status"][k] = schema.FAILED
                block["error"][k] = "synthetic failure"
                continue
            n = r.n_frames
            lab = frame_labels(r.fake_periods, n, w.fps)
            v = rng.standard_normal((n, visual_dim)) * 2 + 1
            a = rng.standard_normal((n, audio_dim)) - 3
            v[:, 0] += lab
            if sl.start + k in nan_audio:
                a[:] = np.nan
            vn = v / np.linalg.norm(v, axis=1, keepdims=True)
            block["visual"][k, :n], block["audio"][k, :n] = v, a
            block["visual_similarity"][k, 1:n] = (vn[1:] * vn[:-1]).sum(1)
            block["face_box"][k, :n] = [10, 20, 110, 140]
            block["n_frames"][k], block["status"][k] = n, schema.OK
        w.write_block(b, block)
    if finalize:
        w.finalize()
    return w.path


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return _make_store(tmp_path_factory.mktemp("torch") / "s.zarr", fail=FAILED)


@pytest.fixture(scope="module")
def opened(store):
    return voca_data.open(store, warn_incomplete=False)


def _expected(ds, video, feature, normalize=True):
    """What voca_data.open says the frames of ``video`` are, normalised like VideoDataset."""
    n = int(ds.n_frames.values[video])
    x = ds[feature].isel(video=video).values[:n].astype(np.float32)
    if normalize:
        x = (x - ds[f"{feature}_mean"].values) / ds[f"{feature}_std"].values
    return x


class _WithEngine(torch.utils.data.Dataset):
    """Reports which engine the worker process actually read with."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        item = self.ds[i]
        return item, self.ds.active_engine


def _collate_with_engine(batch):
    return collate([b[0] for b in batch]), {b[1] for b in batch}


def test_windows_cover_every_valid_frame_once_through_workers(store, opened):
    ds = VideoDataset(store, split=None, window=64)
    ok = np.flatnonzero(opened.status.values == schema.OK)
    assert sorted(ds.videos.tolist()) == ok.tolist()
    assert not set(FAILED) & set(ds.videos.tolist())
    assert ds.feature_dims == {"visual": 16, "audio": 8}
    assert ds.video_ids == [str(opened.video_id.values[v]) for v in ok]
    seen = defaultdict(lambda: None)
    loader = DataLoader(ds, batch_size=5, num_workers=2, collate_fn=collate)
    for batch in loader:
        assert batch["visual"].shape[1:] == (64, 16) and batch["audio"].shape[1:] == (64, 8)
        assert batch["visual"].dtype == torch.float32 and batch["mask"].dtype == torch.bool
        for k in range(batch["mask"].shape[0]):
            v, start, length = (int(batch[key][k]) for key in ("video", "start", "length"))
            mask = batch["mask"][k].numpy()
            assert mask[:length].all() and not mask[length:].any()
            # padding: zero features, frame label -1
            assert (batch["frame_label"][k, length:] == -1).all()
            assert (batch["visual"][k, length:] == 0).all() and (
                batch["audio"][k, length:] == 0
            ).all()
            assert int(batch["label"][k]) == int(opened.label.values[v])
            if seen[v] is None:
                seen[v] = np.zeros(int(opened.n_frames.values[v]), dtype=int)
            seen[v][start : start + length] += 1
            for f in ("visual", "audio"):
                want = _expected(opened, v, f)[start : start + length]
                np.testing.assert_allclose(batch[f][k, :length].numpy(), want, rtol=1e-5, atol=1e-5)
            np.testing.assert_array_equal(
                batch["frame_label"][k, :length].numpy(),
                opened.frame_label.values[v, start : start + length],
            )
    assert sorted(seen) == ok.tolist()
    for v, counts in seen.items():
        assert (counts == 1).all(), f"video {v}: frames covered {set(counts.tolist())} times"


def test_overlapping_windows_reach_the_last_frame(store, opened):
    ds = VideoDataset(
        store, split="train", window=50, stride=30, features=("visual",), normalize=False
    )
    by_video = defaultdict(list)
    for v, start, length in ds.windows:
        by_video[v].append((start, length))
    for v, wins in by_video.items():
        n = int(opened.n_frames.values[v])
        assert [s for s, _ in wins] == list(range(0, 30 * len(wins), 30))
        assert wins[-1][0] + wins[-1][1] == n
        assert len(wins) == 1 or wins[-2][0] + 50 < n
    item = ds[3]
    v, s, n = int(item["video"]), int(item["start"]), int(item["length"])
    raw = opened.visual.values[v, s : s + n].astype(np.float32)
    np.testing.assert_array_equal(item["visual"][:n].numpy(), raw)  # normalize=False: raw values


def test_whole_videos_and_collate_pads_to_the_batch_max(store, opened):
    ds = VideoDataset(store, split="test", window=None)
    items = [ds[i] for i in range(3)]
    lengths = [int(it["length"]) for it in items]
    assert [it["visual"].shape[0] for it in items] == lengths
    assert lengths == [int(opened.n_frames.values[v]) for v in ds.videos[:3]]
    batch = collate(items)
    longest = max(lengths)
    assert batch["visual"].shape == (3, longest, 16) and batch["audio"].shape == (3, longest, 8)
    assert batch["frame_label"].shape == (3, longest) and batch["mask"].shape == (3, longest)
    assert batch["label"].shape == (3,) and batch["video"].shape == (3,)
    for k, n in enumerate(lengths):
        assert batch["mask"][k].sum() == n
        assert (batch["frame_label"][k, n:] == -1).all() and not batch["valid"][k, n:].any()
    with pytest.raises(ValueError, match="stride"):
        VideoDataset(store, window=None, stride=10)


def _engine_run(store, out):
    """Run in a fresh process (``python test_torch.py STORE OUT``): each engine through DataLoader
    workers, then fast engines used in the parent before forking workers. Saves tensors and the
    engines the workers actually used."""
    report, tensors = {}, {}
    for engine in available_engines():
        ds = VideoDataset(
            store,
            split=None,
            window=48,
            engine=engine,
            features=("visual", "audio", "visual_similarity"),
        )
        loader = DataLoader(
            _WithEngine(ds),
            batch_size=6,
            num_workers=2,
            collate_fn=_collate_with_engine,
            timeout=120,
        )
        batches, used = [], set()
        for batch, engines in loader:
            batches.append(batch)
            used |= engines
        report[engine] = sorted(used)
        for key in batches[0]:
            tensors[f"{engine}/{key}"] = torch.cat([b[key] for b in batches]).numpy()
    for engine in ("zarrs", "tensorstore"):  # the parent reads first, then forks workers
        ds = VideoDataset(store, split="dev", window=32, engine=engine)
        first = ds[0]
        loader = DataLoader(
            _WithEngine(ds),
            batch_size=4,
            num_workers=2,
            collate_fn=_collate_with_engine,
            timeout=120,
        )
        batches = list(loader)
        report[f"parent-{engine}"] = {
            "parent": ds.active_engine,
            "workers": sorted({e for _, es in batches for e in es}),
            "same": bool(torch.equal(batches[0][0]["visual"][0], first["visual"])),
        }
    np.savez(out, **tensors)
    Path(str(out) + ".json").write_text(json.dumps(report))


def test_engines_identical_and_fork_safe(store, tmp_path):
    out = tmp_path / "engines.npz"
    proc = subprocess.run(
        [sys.executable, __file__, str(store), str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(Path(str(out) + ".json").read_text())
    tensors = np.load(out)
    assert {"zarr", "zarrs", "tensorstore"} <= set(report)
    for engine in available_engines():
        assert report[engine] == [engine], f"workers asked for {engine} read with {report[engine]}"
        for key in (
            "visual",
            "audio",
            "visual_similarity",
            "frame_label",
            "mask",
            "valid",
            "video",
            "start",
        ):
            np.testing.assert_array_equal(
                tensors[f"{engine}/{key}"],
                tensors[f"zarr/{key}"],
                err_msg=f"{engine} differs from zarr in {key!r}",
            )
    # a child forked after its parent read with tensorstore aborts, with zarrs it can hang:
    # the workers switch to another engine instead, with the same values
    for engine in ("zarrs", "tensorstore"):
        got = report[f"parent-{engine}"]
        assert got["parent"] == engine and got["same"]
        assert len(got["workers"]) == 1 and engine not in got["workers"]


def test_main_process_auto_engine_stays_fork_safe(store):
    ds = VideoDataset(store, split="dev", window=32)
    first = ds[0]  # read in the main process first, then fork workers
    ranked = available_engines()
    assert ds.active_engine == ranked[1]  # the fastest engine is kept for the workers
    loader = DataLoader(
        _WithEngine(ds), batch_size=4, num_workers=2, collate_fn=_collate_with_engine
    )
    batches = list(loader)
    assert {e for _, es in batches for e in es} == {ranked[0]}
    assert torch.equal(batches[0][0]["visual"][0], first["visual"])


def test_batched_reads_equal_single_items(store):
    """The DataLoader reads whole batches through __getitems__: same tensors as item by item."""
    from torch.utils.data import default_collate

    idx = [0, 5, 2, 7, 5]
    for window in (None, 64):
        ds = VideoDataset(
            store, split=None, window=window, features=("visual", "audio", "visual_similarity")
        )
        batched = ds.__getitems__(idx)
        single = collate([ds[i] for i in idx])
        for key, value in collate(batched).items():
            assert torch.equal(value, single[key]), (window, key)
        if window is not None:  # another collate_fn gets plain items
            for key, value in default_collate(list(batched)).items():
                assert torch.equal(value, single[key]), key


def test_pickles_without_open_handles(store):
    ds = VideoDataset(store, split="train", window=40, engine="zarr")
    before = ds[2]
    assert ds._reader is not None
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._reader is None and clone.active_engine is None
    after = clone[2]
    for key in before:
        assert torch.equal(before[key], after[key]), key


def test_balanced_sampler_draws_classes_equally(store):
    ds = VideoDataset(store, split=None, window=32)
    labels = ds.item_labels
    assert (
        0.6 < (labels == 1).mean() < 0.95
    )  # the store is mostly fake: there is something to balance
    sampler = balanced_sampler(ds, num_samples=6000, generator=torch.Generator().manual_seed(0))
    drawn = labels[list(sampler)]
    assert len(drawn) == 6000
    assert abs((drawn == 1).mean() - 0.5) < 0.03


def test_random_crop_is_random_full_and_reproducible(store, opened):
    ds = VideoDataset(store, split="train", window=32, random_crop=True, features=("visual",))
    long = next(i for i, (v, s, n) in enumerate(ds.windows) if opened.n_frames.values[v] > 100)
    torch.manual_seed(1)
    starts = [int(ds[long]["start"]) for _ in range(20)]
    torch.manual_seed(1)
    assert starts == [int(ds[long]["start"]) for _ in range(20)]
    assert len(set(starts)) > 5
    item = ds[long]
    v, s = int(item["video"]), int(item["start"])
    assert item["mask"].all() and s + 32 <= int(opened.n_frames.values[v])
    np.testing.assert_allclose(
        item["visual"].numpy(), _expected(opened, v, "visual")[s : s + 32], rtol=1e-5, atol=1e-5
    )
    assert len(ds) == len(VideoDataset(store, split="train", window=32))


def test_extra_features_and_nan_frames(tmp_path):
    path = _make_store(
        tmp_path / "nan.zarr",
        n_videos=8,
        visual_dim=6,
        audio_dim=5,
        seed=3,
        splits=("train",),
        nan_audio=(1,),
    )  # video 1 has no audio stream
    opened = voca_data.open(path)
    ds = VideoDataset(
        path,
        split="train",
        window=None,
        features=("visual", "audio", "visual_similarity", "face_box"),
    )
    assert ds.feature_dims == {"visual": 6, "audio": 5, "visual_similarity": 1, "face_box": 4}
    item = ds[1]
    n = int(item["length"])
    assert item["mask"].all() and not item["valid"].any()  # frames exist, but audio is missing
    assert (item["audio"] == 0).all() and torch.isfinite(item["visual"]).all()
    item = ds[0]
    sim = opened.visual_similarity.values[0, : int(item["length"])]
    assert item["visual_similarity"].shape == (len(sim), 1)
    assert not item["valid"][0] and item["valid"][1:].all()  # similarity undefined at frame 0
    np.testing.assert_array_equal(item["visual_similarity"][1:, 0].numpy(), sim[1:])
    assert item["visual_similarity"][0, 0] == 0
    np.testing.assert_array_equal(item["face_box"].numpy(), opened.face_box.values[0, : len(sim)])
    # statistics were computed from frames with audio only, and are used as stored
    assert np.allclose(ds.stats["audio_mean"], opened.audio_mean.values)
    assert n == int(opened.n_frames.values[1])


def test_pending_skipped_and_unfinalized_store_refused(tmp_path):
    path = _make_store(
        tmp_path / "partial.zarr",
        n_videos=12,
        visual_dim=4,
        audio_dim=3,
        seed=5,
        blocks=[0, 2],
        fail=[9],
        finalize=False,
    )
    with pytest.raises(ValueError, match="not finalized"):
        VideoDataset(path, split=None)
    ds = VideoDataset(path, split=None, normalize=False)
    assert ds.videos.tolist() == [0, 1, 2, 3, 8, 10, 11]
    stats = {
        "visual_mean": np.ones(4),
        "visual_std": np.full(4, 2.0),
        "audio_mean": np.zeros(3),
        "audio_std": np.ones(3),
    }
    given = VideoDataset(path, split=None, normalize=stats)
    raw = ds[0]["visual"][: int(ds[0]["length"])]
    np.testing.assert_allclose(given[0]["visual"][: int(ds[0]["length"])], (raw - 1) / 2, rtol=1e-6)
    with pytest.raises(ValueError, match="no split"):
        VideoDataset(path, split="valset", normalize=False)
    with pytest.raises(ValueError, match="no variable 'lip'"):
        VideoDataset(path, split=None, normalize=False, features=("visual", "lip"))
    with pytest.raises(ValueError, match="unknown engine"):
        VideoDataset(path, split=None, normalize=False, engine="h5")


def test_max_videos_and_dataset_source(store, opened):
    ds = VideoDataset(opened, split="train", max_videos=3, window=1000)
    assert len(ds.videos) == 3 == len(ds)
    assert ds.attrs["voca_schema"] == schema.SCHEMA_VERSION
    assert ds.id_of(int(ds[0]["video"])) == ds.video_ids[0]


def test_benchmark_quick_writes_a_loader_table(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Extraction\n\nkept\n")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.loader",
            "--quick",
            "--doc",
            str(doc),
            "--work",
            str(tmp_path / "work"),
        ],
        check=False,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = doc.read_text()
    assert "## Extraction\n\nkept" in text
    section = text.split("## Loader", 1)[1]
    assert "| bytes on disk" in section and "samples/s" in section
    assert not (tmp_path / "work").exists()  # temporary data cleaned up


if __name__ == "__main__":
    _engine_run(Path(sys.argv[1]), Path(sys.argv[2]))


def test_normalisation_is_numpy_float32_arithmetic_exactly(store):
    """fp16 -> float32, minus the mean, times 1/std: the same bits as the numpy formula."""
    ds = VideoDataset(store, split=None, window=None, engine="zarr")
    handle = voca_data.Store.open(store)
    threads = torch.get_num_threads()
    items = []
    try:
        for n in (1, 2):  # torch arithmetic (single-threaded torch, as in workers) and numpy
            torch.set_num_threads(n)
            items += [ds[0], ds[3]]
    finally:
        torch.set_num_threads(threads)
    for item in items:
        video, n = int(item["video"]), int(item["length"])
        raw = handle.read(video, ["visual", "audio"])
        for name in ("visual", "audio"):
            mean = ds.stats[f"{name}_mean"].astype(np.float32)
            inv_std = (1.0 / ds._safe_std(ds.stats[f"{name}_std"])).astype(np.float32)
            want = (raw[name].astype(np.float32) - mean) * inv_std
            np.testing.assert_array_equal(item[name][:n].numpy(), want)


def _collate_reporting_shared(items):
    batch = collate(items)
    return batch, all(v.is_shared() for v in batch.values())


def test_worker_batches_are_built_in_shared_memory(store):
    """Inside a worker the batch tensors are allocated in shared memory (so handing them to the
    main process copies nothing), through torch's public API only."""
    ds = VideoDataset(store, split=None, window=32)
    loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=_collate_reporting_shared)
    flags = [shared for _, shared in loader]
    assert flags and all(flags)
    local = ds.__getitems__([0, 1])  # the main process: plain tensors
    assert not any(v.is_shared() for v in collate(local).values())
    root = Path(__file__).resolve().parents[2] / "voca_data"
    for module in ("torch.py", "batch_memory.py"):
        source = (root / module).read_text()
        for private in ("_new_shared", "_typed_storage", "_share_fd", "_share_file"):
            assert private not in source, f"voca_data/{module} uses torch's private {private}"


def _collate_reporting_memory(items):
    """The batch and, from the worker's batch memory, (pid, slots lent, slots made, none free)."""
    from voca_data import batch_memory

    batch = collate(items)
    memory = batch_memory.worker_memory()
    return batch, (memory.pid, memory.lent, memory.made, memory.none_free)


def _reference_batches(ds, batch_size):
    """The batches of a sequential loader, built in this process (no shared memory)."""
    order = list(range(len(ds)))
    return [collate(ds.__getitems__(order[i : i + batch_size]))
            for i in range(0, len(order), batch_size)]


def _assert_same_batch(got, want):
    assert got.keys() == want.keys()
    for key in want:
        assert torch.equal(got[key], want[key]), key


def test_workers_reuse_batch_memory_and_batches_stay_correct(store):
    """Workers fill each batch into shared memory they reuse once the main process has dropped
    the batch: every batch equals the one built in the main process, and far fewer slots are made
    than batches sent."""
    from voca_data import batch_memory

    ds = VideoDataset(store, split=None, window=16)
    want = _reference_batches(ds, 3)
    assert len(want) >= 4 * batch_memory.SLOTS  # every worker sends more batches than it has slots
    lent, made = {}, {}
    for k, (batch, (pid, n_lent, n_made, _)) in enumerate(
        DataLoader(ds, batch_size=3, num_workers=2, collate_fn=_collate_reporting_memory)
    ):
        assert type(batch) is dict  # a SharedBatch arrives as a plain dict
        _assert_same_batch(batch, want[k])
        lent[pid], made[pid] = n_lent, n_made
        del batch  # the slot goes back to its worker
    assert len(lent) == 2
    for pid in lent:
        assert made[pid] <= batch_memory.SLOTS < lent[pid], (made, lent)


def test_kept_batches_are_never_overwritten(store):
    """A training loop that keeps every batch (and views of them) holds every slot: the workers
    then allocate fresh memory and no kept batch changes."""
    ds = VideoDataset(store, split=None, window=16)
    want = _reference_batches(ds, 3)
    kept, views, none_free = [], [], 0
    for batch, (_, _, _, n_none_free) in DataLoader(
        ds, batch_size=3, num_workers=2, collate_fn=_collate_reporting_memory
    ):
        views.append(batch["visual"][:, :4])  # a view keeps the slot too
        kept.append({k: v for k, v in batch.items() if k != "visual"})
        none_free = max(none_free, n_none_free)
    assert none_free > 0  # the workers ran out of free slots
    for got, want_batch, view in zip(kept, want, views):
        for key in got:
            assert torch.equal(got[key], want_batch[key]), key
        assert torch.equal(view, want_batch["visual"][:, :4])


def test_reuse_memory_false_gives_the_same_batches(store):
    ds = VideoDataset(store, split=None, window=16, reuse_memory=False)
    want = _reference_batches(ds, 3)
    for k, (batch, (_, n_lent, _, _)) in enumerate(
        DataLoader(ds, batch_size=3, num_workers=2, collate_fn=_collate_reporting_memory)
    ):
        _assert_same_batch(batch, want[k])
        assert n_lent == 0
        assert all(v.is_shared() for v in batch.values())


def test_opening_and_reading_do_not_import_dask(store):
    """Store.open and a VideoDataset (what every DataLoader worker builds on) never import dask:
    it costs ~0.5 s of a first open, and dask-backed reads hang in forked workers."""
    code = (
        "import sys, voca_data\n"
        "from voca_data.torch import VideoDataset\n"
        f"store = voca_data.Store.open({str(store)!r})\n"
        "assert list(store.dataset.indexes) == ['video_id', 'split'], list(store.dataset.indexes)\n"
        f"VideoDataset({str(store)!r}, split='dev', window=16, engine='zarr')[0]\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'dask'))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
