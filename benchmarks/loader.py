"""Loader benchmark: a voca store against today's per-video npz folders, from the same random data.

    python -m benchmarks.loader [--videos 2000] [--quick] [--doc docs/benchmarks.md]

Builds, under ``benchmarks/_work/`` (removed afterwards unless ``--keep``), ``N`` videos of
50-500 frames with 512 visual + 1024 audio dims as

* a voca store (``voca_data.store.writer``: fp16, Blosc zstd, sharded Zarr v3), and
* the LAV-DF npz layout ``ROOT/<split>/<id>/visual_embeddings.npz`` (``embeddings`` float32,
  ``frame_labels``, ``paths``) + ``audio_embeddings.npz`` (``embeddings``), one ``np.savez`` each,

then measures, in one run: bytes on disk; DataLoader samples/s with 2 workers over random windows
(store: :class:`voca_data.torch.VideoDataset` with each read engine; npz: a dataset that loads the
whole video per sample and crops, like today's scripts, returning the same tensors); time to open
and list all videos; and ``voca_data.open`` + ``.sel(split="test")`` of a 136,304-video store with
tiny dims at two frame extents (time and memory, each in a fresh process), through the ``Store`` handle; then the DataLoader
and the big open again over a Range-capable HTTP server on 127.0.0.1 (requests per sample
counted): Debian's nginx where installed (``apt-get install nginx-light``; a C server, as real
object stores are, that leaves the 2 shared cores to the client), else voca's aiohttp test
server (``--http-server``). The results replace the
``## Loader`` section of the Markdown file given by ``--doc`` (other sections are kept).

``--quick`` (a smoke test, < 1 min): 64 videos, few samples, a 6,816-video open store, and the
table is only printed unless ``--doc`` is given.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("benchmarks.loader")

ROOT = Path(__file__).resolve().parents[1]
VISUAL_DIM, AUDIO_DIM = 512, 1024
BIG_VIDEOS = 136_304  # LAV-DF
FRESH = "fresh"  # the first engine with reuse_memory=False (fresh shared memory every batch)


# ----------------------------------------------------------------------------------- data
def _records(n_videos: int, seed: int, min_frames: int = 50, max_frames: int = 500) -> list[Any]:
    from voca_data.records import VideoRecord

    rng = np.random.default_rng(seed)
    splits = rng.choice(["train", "dev", "test"], size=n_videos, p=[0.7, 0.1, 0.2])
    out = []
    for i in range(n_videos):
        n = int(rng.integers(min_frames, max_frames + 1))
        fake = bool(rng.random() < 0.75)
        periods: tuple[tuple[float, float], ...] = ()
        if fake:
            dur = n / 25.0
            length = float(rng.uniform(0.2, dur / 3))
            start = float(rng.uniform(0, dur - length))
            periods = ((round(start, 3), round(start + length, 3)),)
        out.append(
            VideoRecord(
                f"{splits[i]}/{i:06d}",
                f"{splits[i]}/{i:06d}.mp4",
                str(splits[i]),
                label=int(fake),
                fake_periods=periods,
                n_frames=n,
                duration=n / 25.0,
            )
        )
    return out


def build(work: Path, n_videos: int, seed: int = 0) -> tuple[Path, Path]:
    """The same random features as a voca store and as an npz folder tree."""
    from tqdm import tqdm

    from voca_data.store import schema
    from voca_data.records import frame_labels
    from voca_data.store.writer import init

    store, npz_root = work / "store.zarr", work / "npz"
    recs = _records(n_videos, seed)
    w = init(
        store,
        recs,
        VISUAL_DIM,
        AUDIO_DIM,
        max_frames=max(r.n_frames for r in recs),
        provenance={
            "dataset": {"name": "benchmark-random", "root": ""},
            "visual_encoder": {"name": "random", "pretrained": False},
            "audio_encoder": {"name": "random", "pretrained": False},
        },
    )
    rng = np.random.default_rng(seed + 1)
    for b in tqdm(range(w.n_blocks), desc="building store + npz", unit="block"):
        sl = w.block_slice(b)
        block = w.empty_block(b)
        for k, r in enumerate(recs[sl]):
            n = r.n_frames
            visual = rng.standard_normal((n, VISUAL_DIM), dtype=np.float32)
            audio = rng.standard_normal((n, AUDIO_DIM), dtype=np.float32)
            labels = frame_labels(r.fake_periods, n, w.fps)
            folder = npz_root / r.video_id
            folder.mkdir(parents=True, exist_ok=True)
            np.savez(
                folder / "visual_embeddings.npz",
                embeddings=visual,
                frame_labels=labels,
                paths=np.array([f"frames/{t:06d}.jpg" for t in range(n)]),
            )
            np.savez(folder / "audio_embeddings.npz", embeddings=audio)
            block["visual"][k, :n], block["audio"][k, :n] = visual, audio
            block["n_frames"][k], block["status"][k] = n, schema.OK
        w.write_block(b, block)
    w.finalize()
    return store, npz_root


def disk_bytes(path: Path) -> int:
    """Bytes allocated on disk (like ``du``) under ``path``."""
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


# ----------------------------------------------------------------------------------- npz baseline
class NpzWindowDataset:
    """Today's way: one sample per video, the whole video loaded with ``np.load``, then a random
    window cropped, normalised and padded (same output as ``VideoDataset``)."""

    def __init__(self, root: Path, window: int, stats: dict[str, np.ndarray]):
        self.folders = list_npz(root)
        self.window = window
        self.norm = {f: (stats[f"{f}_mean"], 1.0 / stats[f"{f}_std"]) for f in ("visual", "audio")}

    def __len__(self) -> int:
        return len(self.folders)

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        folder = self.folders[index]
        with np.load(folder / "visual_embeddings.npz") as f:
            visual, labels = f["embeddings"], f["frame_labels"]
        with np.load(folder / "audio_embeddings.npz") as f:
            audio = f["embeddings"]
        n = len(visual)
        start = int(torch.randint(0, max(n - self.window, 0) + 1, ()).item())
        stop = min(start + self.window, n)
        item = {}
        for name, x in (("visual", visual), ("audio", audio)):
            mean, inv_std = self.norm[name]
            out = np.zeros((self.window, x.shape[1]), np.float32)
            out[: stop - start] = (x[start:stop] - mean) * inv_std
            item[name] = torch.from_numpy(out)
        fl = np.full(self.window, -1, np.int64)
        fl[: stop - start] = labels[start:stop]
        mask = np.zeros(self.window, bool)
        mask[: stop - start] = True
        item.update(
            frame_label=torch.from_numpy(fl),
            mask=torch.from_numpy(mask),
            valid=torch.from_numpy(mask.copy()),
            label=torch.tensor(int(labels.max() > 0)),
            video=torch.tensor(index),
            start=torch.tensor(start),
            length=torch.tensor(stop - start),
        )
        return item


def list_npz(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.glob("*/*/visual_embeddings.npz"))


def npz_frame_count(folder: Path) -> int:
    """Frames of one npz video from the .npy header alone (the fastest way to list lengths)."""
    with zipfile.ZipFile(folder / "visual_embeddings.npz") as z, z.open("embeddings.npy") as f:
        major, _ = np.lib.format.read_magic(f)
        read_header = (
            np.lib.format.read_array_header_1_0
            if major == 1
            else np.lib.format.read_array_header_2_0
        )
        shape = read_header(f)[0]
    return int(shape[0])


# ----------------------------------------------------------------------------------- measurements
def _cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the DataLoader workers)."""
    import resource

    own, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


#: CPU milliseconds per sample (main process + its 2 workers) of the last :func:`loader_rate`
LAST_CPU_MS: list[float] = [float("nan")]


def loader_rate(dataset: Any, samples: int, batch_size: int = 16, seed: int = 0) -> float:
    """Samples per second through a DataLoader with 2 workers (worker start-up included); the
    CPU time it took per sample (main process and workers, what a loaded machine does not
    change much) is left in ``LAST_CPU_MS[0]``."""
    import torch
    from torch.utils.data import DataLoader, RandomSampler

    from voca_data.torch import collate

    sampler = RandomSampler(
        dataset,
        replacement=True,
        num_samples=samples,
        generator=torch.Generator().manual_seed(seed),
    )
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=2,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(seed),
    )
    t0, c0 = time.perf_counter(), _cpu_seconds()
    n = 0
    for batch in loader:
        n += int(batch["mask"].shape[0])
    elapsed = time.perf_counter() - t0
    del loader  # workers exit (and are waited for) before their CPU time is read
    LAST_CPU_MS[0] = (_cpu_seconds() - c0) / max(n, 1) * 1000
    return n / elapsed


def best_of(fn: Callable[[], float], rounds: int, higher: bool = True) -> float:
    values = [fn() for _ in range(rounds)]
    return max(values) if higher else min(values)


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def item_ms(dataset: Any, reads: int, seed: int = 0) -> float:
    """Mean CPU ms per item (read, normalise, pad) in this process, random items: CPU time of
    every thread of the process (tensorstore decodes on its own threads), which a loaded machine
    changes much less than the wall time it takes to get scheduled."""
    import torch

    torch.manual_seed(seed)
    idx = np.random.default_rng(seed).integers(0, len(dataset), reads)
    dataset[0]
    t0 = time.process_time()
    for i in idx:
        dataset[int(i)]
    return (time.process_time() - t0) / reads * 1000


_OPEN_PROBE = r"""
import json, sys, time
import voca_data
if len(sys.argv) > 3:  # one-time lazy imports (xarray, zarr, dask, codecs) on another store
    voca_data.Store.open(sys.argv[3]).dataset.sel(split="test")
memory = sys.argv[2] == "memory"
if memory:  # tracemalloc slows Python code down a lot: memory is measured in runs of its own
    import tracemalloc, psutil
    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    tracemalloc.start()
t0, c0 = time.perf_counter(), time.process_time()
ds = voca_data.Store.open(sys.argv[1]).dataset
test = ds.sel(split="test")
elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
out = {"seconds": elapsed, "cpu_seconds": cpu, "n_test": int(test.sizes["video"]),
       "frame_extent": int(ds.sizes["frame"])}
if memory:
    out.update(peak_bytes=tracemalloc.get_traced_memory()[1],
               rss_bytes=proc.memory_info().rss - rss0)
    tracemalloc.stop()
print(json.dumps(out))
"""


def build_big(path: Path, n_videos: int, max_frames: int, seed: int = 0) -> None:
    """A finalized store of ``n_videos`` ok videos with tiny dims and no frame data written (only
    per-video variables matter to ``open``)."""
    from voca_data.store import schema
    from voca_data.records import VideoRecord
    from voca_data.store.writer import init

    rng = np.random.default_rng(seed)
    splits = rng.choice(["train", "dev", "test"], size=n_videos, p=[0.7, 0.1, 0.2])
    n_frames = rng.integers(1, max_frames + 1, n_videos).astype(np.int32)
    recs = [
        VideoRecord(f"{s}/{i:06d}", f"{s}/{i:06d}.mp4", str(s), label=int(i % 4 != 0))
        for i, s in enumerate(splits)
    ]
    w = init(path, recs, visual_dim=4, audio_dim=4, max_frames=max_frames)
    w.array("n_frames")[:] = n_frames
    w.array("duration")[:] = n_frames / 25.0
    w.array("source_fps")[:] = np.full(n_videos, 25.0, np.float32)
    w.array("status")[:] = np.full(n_videos, schema.OK, np.int8)
    logging.getLogger("voca_data.store.writer").setLevel(logging.ERROR)
    w.finalize(stats_split="none")  # no frames written: skip the statistics pass


def open_probe(path: Path | str, warm: Path | str, runs: int) -> dict[str, Any]:
    """``Store.open(path).dataset`` + ``.sel(split="test")`` in fresh processes after ``import
    voca_data`` (``path`` a directory or a URL): as the first call of the process, and after
    opening the small store ``warm`` (one-time lazy imports done). Medians of ``runs`` processes
    each (wall and CPU seconds); memory from separate runs with tracemalloc on (which slows the
    open itself several times, so it is never on while timing)."""

    def probe(mode: str, *extra: Path | str) -> list[dict[str, Any]]:
        out = []
        for _ in range(runs):
            proc = subprocess.run(
                [sys.executable, "-c", _OPEN_PROBE, str(path), mode, *map(str, extra)],
                check=True,
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        return sorted(out, key=lambda r: r["seconds"])

    first, later = probe("time"), probe("time", warm)
    memory = probe("memory", warm)[len(later) // 2]
    result = dict(later[len(later) // 2])
    result["first"] = first[len(first) // 2]["seconds"]
    result["first_cpu"] = first[len(first) // 2]["cpu_seconds"]
    result["peak_bytes"], result["rss_bytes"] = memory["peak_bytes"], memory["rss_bytes"]
    return result


# ----------------------------------------------------------------------------------- report
def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB" if n < 1e9 else f"{n / 1e9:,.2f} GB"


def machine() -> str:
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()}-core {cpu}, {platform.system()}, load average {load:.1f} at start"


def run(args: argparse.Namespace) -> str:
    import voca_data
    from voca_data.torch import ENGINES, VideoDataset, available_engines

    quick = args.quick
    n_videos = args.videos or (64 if quick else 2000)
    samples = args.samples or (96 if quick else 2400)
    rounds = 1 if quick else 2
    big_videos = args.big_videos or (6_816 if quick else BIG_VIDEOS)
    from voca_data.testing_http import nginx_available

    http_server = args.http_server
    if http_server == "auto":
        http_server = "nginx" if nginx_available() else "python"
    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    load_at_start = machine()
    started = time.time()
    try:
        store, npz_root = build(work, n_videos, seed=args.seed)
        build_seconds = time.time() - started
        store_bytes, npz_bytes = disk_bytes(store), disk_bytes(npz_root)
        log.info("disk: store %s, npz %s", _mb(store_bytes), _mb(npz_bytes))

        # open and list (warm page cache: both were just written)
        t_open_store = min(
            timed(lambda: voca_data.open(store).video_id.values.tolist()) for _ in range(3)
        )
        t_dataset = min(
            timed(lambda: VideoDataset(store, split=None, window=128)) for _ in range(3)
        )
        t_list_npz = min(timed(lambda: list_npz(npz_root)) for _ in range(3))
        t_count_npz = min(
            timed(lambda: [npz_frame_count(f) for f in list_npz(npz_root)])
            for _ in range(1 if quick else 2)
        )

        # DataLoader throughput; the main process never reads features, so every engine is
        # usable in the forked workers
        engines = available_engines()
        stats = VideoDataset(store, split=None, window=128).stats
        rates: dict[tuple[str, int], list[float]] = {}
        cpu_ms: dict[tuple[str, int], list[float]] = {}
        for window in (128, 512):
            for _ in range(rounds):  # interleaved rounds: load changes hit every reader alike
                npz = NpzWindowDataset(npz_root, window, stats)
                rates.setdefault(("npz", window), []).append(loader_rate(npz, samples))
                cpu_ms.setdefault(("npz", window), []).append(LAST_CPU_MS[0])
                for engine in [*engines, FRESH]:
                    ds = VideoDataset(
                        store, split=None, window=window, random_crop=True,
                        engine=engines[0] if engine == FRESH else engine,
                        reuse_memory=engine != FRESH,
                    )
                    rates.setdefault((engine, window), []).append(loader_rate(ds, samples))
                    cpu_ms.setdefault((engine, window), []).append(LAST_CPU_MS[0])
                log.info(
                    "window %d: %s",
                    window,
                    {k[0]: [round(x) for x in v] for k, v in rates.items() if k[1] == window},
                )
        rate = {k: max(v) for k, v in rates.items()}
        cpu = {k: min(v) for k, v in cpu_ms.items()}

        # the same loaders over loopback HTTP (a Range-capable server in its own process)
        http: dict[tuple[str, int], float] = {}
        http_requests: dict[tuple[str, int], float] = {}
        http_cpu: dict[tuple[str, int], float] = {}
        http_local: dict[tuple[str, int], float] = {}
        if not args.no_http:
            from voca_data.testing_http import serve

            http_samples = max(samples // 4, 48)
            with serve(work, http_server) as server:
                url = f"{server.url}/{store.name}"
                for window in (128, 512):
                    for engine in [e for e in ("tensorstore", "zarr") if e in engines]:
                        ds = VideoDataset(
                            url, split=None, window=window, random_crop=True, engine=engine
                        )
                        # the same loader on local disk right before: both see the same load
                        local = VideoDataset(
                            store, split=None, window=window, random_crop=True, engine=engine
                        )
                        http_local[(engine, window)] = loader_rate(local, http_samples)
                        before = server.requests()
                        http[(engine, window)] = loader_rate(ds, http_samples)
                        http_cpu[(engine, window)] = LAST_CPU_MS[0]
                        http_requests[(engine, window)] = (
                            server.requests() - before
                        ) / http_samples
                    log.info("http window %d: %s", window, http)

        # one process, one read at a time (last: fast engines may not be used before a fork)
        reads = 100 if quick else 600
        single = {
            (e, w): item_ms(
                VideoDataset(store, split=None, window=w, random_crop=True, engine=e), reads
            )
            for e in engines
            for w in (128, 512)
        }
        npz_single = {w: item_ms(NpzWindowDataset(npz_root, w, stats), reads) for w in (128, 512)}

        # open + sel of a LAV-DF-sized store, two frame extents
        big = {}
        big_http: dict[str, Any] = {}
        for max_frames in (512, 8192):
            path = work / f"big_{max_frames}.zarr"
            t0 = time.time()
            build_big(path, big_videos, max_frames)
            log.info("built %s in %.0f s", path.name, time.time() - t0)
            big[max_frames] = open_probe(path, store, runs=1 if quick else 3)
            if not args.no_http and max_frames == 512:
                from voca_data.testing_http import serve

                with serve(work, http_server) as server:
                    big_http = open_probe(f"{server.url}/{path.name}",
                                          f"{server.url}/{store.name}", runs=1 if quick else 3)
            shutil.rmtree(path)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    ranked = sorted(engines, key=lambda e: -rate[(e, 128)])
    fresh_label = f"`{engines[0]}`, `reuse_memory=False`"
    best = ranked[0]
    lines = [
        (
            f"Measured {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {load_at_start}, by "
            f"`python -m benchmarks.loader{' --quick' if quick else ''}`"
            f"{'' if n_videos == 2000 or quick else f' --videos {n_videos}'} "
            f"({time.time() - started:.0f} s, data built in {build_seconds:.0f} s). "
            f"{n_videos:,} videos of 50-500 frames, {VISUAL_DIM} visual + {AUDIO_DIM} audio dims of "
            "random normal values (incompressible: real embeddings compress a little better). "
            "The machine is shared with other jobs, so timings are noisy; readers were measured in "
            f"interleaved rounds and the best of {rounds} kept. The page cache is warm (both layouts "
            "were just written)."
        ),
        "",
        "| measure | voca store | npz folders | store / npz | target |",
        "| --- | --- | --- | --- | --- |",
        (
            f"| bytes on disk | {_mb(store_bytes)} | {_mb(npz_bytes)} | "
            f"**{store_bytes / npz_bytes:.2f}x** | <= 0.5x |"
        ),
    ]
    for window in (128, 512):
        what = "random 128-frame windows" if window == 128 else "512-frame windows (whole videos)"
        lines.append(
            f"| DataLoader samples/s, 2 workers, {what}, engine `{best}` | "
            f"{rate[(best, window)]:,.0f} | {rate[('npz', window)]:,.0f} | "
            f"**{rate[(best, window)] / rate[('npz', window)]:.1f}x** | >= 1.5x |"
        )
    lines += [
        (
            f"| open and list all {n_videos:,} videos (`voca_data.open` + ids / `glob`) | "
            f"{t_open_store * 1000:,.0f} ms | {t_list_npz * 1000:,.0f} ms | "
            f"{t_open_store / t_list_npz:.1f}x | |"
        ),
        (
            f"| ... and every video's frame count, ready to cut windows (`VideoDataset(...)` / "
            f"every npz header) | {t_dataset * 1000:,.0f} ms | {t_count_npz * 1000:,.0f} ms | "
            f"{t_dataset / t_count_npz:.2f}x | |"
        ),
        "",
        (
            "Both loaders return the same tensors (normalised features, frame labels, mask, padded "
            "to the window). The npz loader reads both whole files of a video for every sample, "
            "as today's scripts do; the store reads only the 128-frame inner chunks a window "
            "touches, in fp16. Both batch with `voca_data.torch.collate` (for the npz items it is "
            "faster than torch's `default_collate`). A worker hands each batch to the main "
            "process in shared memory; fresh shared memory is costly (the kernel allocates and "
            "zeroes every page on first touch), so `VideoDataset` workers fill memory they reuse "
            "once the main process has dropped a batch (`voca_data.batch_memory`); the "
            "`reuse_memory=False` row below shows the same reads into fresh memory, as the npz "
            "loader's batches are. "
            "`open and list` favours a bare `glob`, which knows only folder names; the second row "
            "compares what a windowed dataset needs before its first sample."
        ),
        "",
        (
            'Read engines of `VideoDataset` (same store, identical tensors; `engine="auto"` uses the '
            "fastest in DataLoader workers and the second in the main process, see docs/store.md):"
        ),
        "",
        (
            "| engine | samples/s, 2 workers, 128-frame windows | 512-frame windows | CPU ms per "
            "sample in the DataLoader (main + workers), 128 / 512 | CPU ms per item in "
            "one process (read, normalise, pad), 128 / 512 frames |"
        ),
        "| --- | --- | --- | --- | --- |",
    ]
    for engine in [*ranked, FRESH, "npz"]:
        label = {"npz": "npz (whole video + crop)", FRESH: fresh_label}.get(engine, f"`{engine}`")
        one = (npz_single if engine == "npz" else
               {w: single[(engines[0] if engine == FRESH else engine, w)] for w in (128, 512)})
        lines.append(
            f"| {label} | {rate[(engine, 128)]:,.0f} | {rate[(engine, 512)]:,.0f} | "
            f"{cpu[(engine, 128)]:.2f} / {cpu[(engine, 512)]:.2f} | "
            f"{one[128]:.2f} / {one[512]:.2f} |"
        )
    order_note = (
        "matches"
        if tuple(ranked) == tuple(e for e in ENGINES if e in engines)
        else f"differs from `voca_data.torch.ENGINES` {list(ENGINES)}: update it"
    )
    lines += [
        "",
        f"Measured ranking (128-frame windows): {' > '.join(ranked)}; this {order_note}.",
        "",
        (
            f'`voca_data.open(store)` + `.sel(split="test")` of a finalized {big_videos:,}-video store '
            f"({'LAV-DF size; ' if big_videos == BIG_VIDEOS else ''}4 + 4 dims), in a fresh process "
            "after `import voca_data`, medians of "
            f"{1 if quick else 3} processes (target < 1 s for the first call), wall and CPU "
            "seconds. The first `open` of a process also pays one-time imports (xarray and "
            "pandas, zarr, and dask, which xarray's `.sel` imports whenever it is installed); "
            f"the next column opens the {n_videos:,}-video benchmark store first. Memory comes "
            "from separate runs of the latter with tracemalloc on (it slows the open down "
            "several times, so it is never on while timing):"
        ),
        "",
        (
            "| frame extent | test videos | open + sel, first call (CPU) | open + sel, imports done "
            "(CPU) | peak Python/numpy memory (tracemalloc) | RSS growth |"
        ),
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in big.values():
        lines.append(
            f"| {r['frame_extent']:,} | {r['n_test']:,} | **{r['first']:.2f} s** "
            f"({r['first_cpu']:.2f} s) | {r['seconds']:.2f} s ({r['cpu_seconds']:.2f} s) | "
            f"{_mb(r['peak_bytes'])} | {_mb(r['rss_bytes'])} |"
        )
    ext = list(big.values())
    lines += [
        "",
        (
            f"Memory does not grow with the frame extent ({ext[0]['frame_extent']:,} vs "
            f"{ext[1]['frame_extent']:,} frames: {_mb(ext[0]['peak_bytes'])} vs "
            f"{_mb(ext[1]['peak_bytes'])}): `open` loads only per-video variables; per-frame arrays "
            "stay lazy until indexed."
        ),
    ]
    if http:
        lines += [
            "",
            (
                "Over loopback HTTP ("
                + (
                    "Debian's nginx-light with one worker process, through "
                    "`voca_data.testing_http.serve(root, 'nginx')`"
                    if http_server == "nginx"
                    else "`voca_data.testing_http`: aiohttp's static files with Range support, in "
                    "its own process"
                )
                + " on 127.0.0.1, sharing the 2 cores with the client; "
                f"same store, same 2-worker DataLoader, {max(samples // 4, 48):,} samples each), "
                "against the same engine reading the local store in the run just before "
                "(target >= 0.5x):"
            ),
            "",
            (
                "| engine over HTTP | window | samples/s (local) | HTTP / local | HTTP requests per sample "
                "| client CPU ms per sample (main + workers) |"
            ),
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for (engine, window), value in http.items():
            lines.append(
                f"| `{engine}` | {window} | {value:,.0f} ({http_local[(engine, window)]:,.0f}) | "
                f"**{value / http_local[(engine, window)]:.2f}x** | "
                f"{http_requests[(engine, window)]:.1f} "
                f"| {http_cpu[(engine, window)]:.2f} |"
            )
    if big_http:
        lines += [
            "",
            (
                f"The {big_videos:,}-video store (512 frames) over the same HTTP server "
                "(consolidated metadata, target < 2 s): open + sel "
                f"**{big_http['first']:.2f} s** first call (CPU {big_http['first_cpu']:.2f} s), "
                f"{big_http['seconds']:.2f} s with imports done (CPU "
                f"{big_http['cpu_seconds']:.2f} s)."
            ),
        ]
    return "\n".join(lines) + "\n"


def replace_section(doc: Path, heading: str, body: str, intro: str) -> None:
    """Write ``body`` under ``heading`` in ``doc``, keeping every other section."""
    text = doc.read_text() if doc.exists() else intro
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    block = f"{heading}\n\n{body}\n"
    if start is None:
        text = text.rstrip("\n") + "\n\n" + block
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        text = "".join(lines[:start]) + block + "".join(lines[end:])
    doc.write_text(text)


INTRO = """# Benchmarks

Measurements of voca on this project's machine, each produced by a script in `benchmarks/`
(re-run it to refresh its section). Timings are ratios against a baseline measured in the same
run: the machine is shared, so absolute numbers vary from run to run.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.loader", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--videos", type=int, default=None, help="videos to build (default 2000; 64 with --quick)"
    )
    parser.add_argument(
        "--samples", type=int, default=None, help="samples per DataLoader measurement"
    )
    parser.add_argument(
        "--big-videos",
        type=int,
        default=None,
        help=f"videos of the open/sel store (default {BIG_VIDEOS:,}; 6,816 with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke test in under a minute")
    parser.add_argument(
        "--doc",
        default=None,
        help="Markdown file whose '## Loader' section is replaced (default "
        "docs/benchmarks.md; with --quick only printed unless given)",
    )
    parser.add_argument(
        "--work",
        default=str(ROOT / "benchmarks" / "_work" / "loader"),
        help="temporary data (removed afterwards)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data")
    parser.add_argument("--no-http", action="store_true",
                        help="skip the loopback HTTP measurements")
    parser.add_argument(
        "--http-server", choices=("auto", "nginx", "python"), default="auto",
        help="loopback HTTP server: nginx (Debian's nginx-light; the default where installed) "
        "or voca_data.testing_http's aiohttp server",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    body = run(args)
    print("## Loader\n\n" + body)
    doc = args.doc or (None if args.quick else str(ROOT / "docs" / "benchmarks.md"))
    if doc:
        replace_section(Path(doc), "## Loader", body, INTRO)
        log.info("wrote the '## Loader' section of %s", doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
