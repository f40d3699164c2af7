"""The extraction pipeline on one node: CPU worker processes -> one encoder per device -> writer.

::

    blocks -> videos (in order)
        |  task per video (bounded: at most ``max_in_flight`` videos between submission and the
        v  encoder taking them)
    CPU stage: ``cpu_workers`` processes, each single-threaded (OpenCV, BLAS): decode + detect +
        |       track + lower-face crops; crops come back in shared memory, the rest (audio,
        |       boxes, scores, notes or the failure) through a pipe
        v  results put back in video order
    encoder stage: one thread per device (``cuda:0``, ``cuda:1``... or ``cpu``), each owning whole
        |       blocks: visual batches filled across the block's videos, audio per video
        v  a finished block (bounded queue of 2)
    writer stage: a thread writing the block's whole shards, ``status`` last

A CPU worker that dies (killed, out of memory, a decoder crash) is replaced and its videos are
given to another worker; a video that kills two workers becomes a failed record. Nothing a stage
does depends on timing: the arrays equal the synchronous path's for the same device.

>>> run_pipeline("s.zarr", [0, 1], "/data/LAV-DF", ExtractConfig(visual_arch="voca-tiny"),
...              ["cpu"], cpu_workers=2)                                  # doctest: +SKIP
{'blocks': 2, 'videos': 128, 'frames': 40011, 'failed': 0, ...}
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import queue
import threading
import time
from dataclasses import dataclass
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .config import ExtractConfig
from .encode import BlockAssembler, PinnedStaging
from .prepare import Prepared, prepare_video

log = logging.getLogger(__name__)

__all__ = ["run_pipeline", "default_cpu_workers"]

# environment of a CPU worker process: one thread per library, so N workers use N cores
_SINGLE_THREAD_ENV = {name: "1" for name in (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "OPENCV_FOR_THREADS_NUM")}
_MAX_DEATHS = 2  # a video that kills this many workers becomes a failed record


@contextlib.contextmanager
def single_threaded_env() -> Iterator[None]:
    """Set :data:`_SINGLE_THREAD_ENV` while a child process starts (a spawned child reads it at
    import: OpenCV, torch and BLAS stay single-threaded), then restore the parent's values."""
    saved = {k: os.environ.get(k) for k in _SINGLE_THREAD_ENV}
    os.environ.update(_SINGLE_THREAD_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def default_cpu_workers() -> int:
    """Cores available to this process minus one (for the encoder and writer), at least 1."""
    return max(1, _cores() - 1)


# --------------------------------------------------------------------------- CPU worker process

def _worker_main(conn: Any, root: str, config: ExtractConfig, max_frames: int,
                 crop_size: int) -> None:
    """Loop of one CPU worker process: (seq, k, record) in, (seq, Prepared, shm, CPU seconds,
    peak RSS MiB) out, one video at a time."""
    import cv2

    cv2.setNumThreads(1)
    from .models import make_config_detector

    detector = make_config_detector(config, threads=1)
    root_path = Path(root)
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        seq, k, record = task
        cpu0 = time.process_time()
        prep = prepare_video(k, record, root_path, config, max_frames, crop_size, detector=detector)
        shm_spec = None
        if prep.crops is not None and prep.crops.size:
            crops = np.ascontiguousarray(prep.crops)
            shm = shared_memory.SharedMemory(create=True, size=crops.nbytes)
            np.ndarray(crops.shape, crops.dtype, buffer=shm.buf)[...] = crops
            shm_spec = (shm.name, crops.shape, crops.dtype.str)
            shm.close()
            prep.crops = None
        try:
            conn.send((seq, prep, shm_spec, time.process_time() - cpu0, _peak_rss_mib()))
        except (BrokenPipeError, OSError):  # the pipeline is gone (killed): leave nothing behind
            if shm_spec is not None:
                with contextlib.suppress(FileNotFoundError):
                    shared_memory.SharedMemory(name=shm_spec[0]).unlink()
            return


def _peak_rss_mib() -> float:
    """This process's peak resident memory (MiB) since it started its own program: ``VmHWM``
    (``ru_maxrss`` would count the parent's memory at the fork before ``exec``); 0 off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:  # pragma: no cover - not Linux
        pass
    return 0.0


class _SharedCrops:
    """Crops in a CPU worker's shared memory, mapped here (the name is unlinked at once, so
    nothing is left behind if this process dies)."""

    def __init__(self, name: str, shape: tuple[int, ...], dtype: str):
        self.shm = shared_memory.SharedMemory(name=name)
        try:
            self.shm.unlink()
        except FileNotFoundError:  # pragma: no cover
            pass
        self.array: np.ndarray | None = np.ndarray(shape, np.dtype(dtype), buffer=self.shm.buf)

    def close(self) -> None:
        self.array = None
        try:
            self.shm.close()
        except BufferError:  # a view is still alive; the mapping goes with it
            pass


@dataclass(eq=False)
class _Worker:
    process: Any
    conn: Any
    task: tuple[int, int, Any] | None = None  # the video it is working on
    busy_since: float = 0.0
    done: int = 0


class _CpuStage:
    """``n`` CPU worker processes fed through one pipe each (``n = 0``: in this thread).

    A worker is given a video only when it is idle (no video queued behind another in a
    worker's pipe): the lowest-numbered video waiting always goes to the first free worker, so a
    long video never holds back the next ones that the encoder needs in order, and the run's tail
    is at most one video per worker. The cost is one pipe round trip per video (about a
    millisecond against hundreds for decoding and detection).
    """

    def __init__(self, n: int, root: Path, config: ExtractConfig, max_frames: int, crop_size: int,
                 stats: dict[str, float]):
        self.n = n
        self.args = (str(root), config, max_frames, crop_size)
        self.root, self.config, self.max_frames, self.crop_size = root, config, max_frames, crop_size
        self.stats = stats
        self.ctx = mp.get_context("spawn")
        self.workers: list[_Worker] = []
        self.deaths: collections.Counter = collections.Counter()
        self.results = 0
        self.deaths_before_first_result = 0
        self.peak_rss_mib = 0.0  # the largest peak resident memory a worker reported
        self.detector = None
        for _ in range(n):
            self.workers.append(self._start())

    def _start(self) -> _Worker:
        parent, child = self.ctx.Pipe()
        process = self.ctx.Process(target=_worker_main, args=(child, *self.args), daemon=True,
                                   name="voca-cpu-worker")
        with single_threaded_env():
            process.start()
        child.close()
        return _Worker(process, parent)

    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers]

    def capacity(self) -> int:
        """Videos that can be handed out now: the idle workers (1 when decoding in this thread)."""
        return sum(w.task is None for w in self.workers) if self.n else 1

    def submit(self, task: tuple[int, int, Any]) -> None:
        worker = next(w for w in self.workers if w.task is None)
        worker.busy_since = time.perf_counter()
        worker.task = task
        worker.conn.send(task)

    def run_inline(self, task: tuple[int, int, Any]) -> tuple[int, Prepared, None]:
        from .models import make_config_detector

        if self.detector is None:
            self.detector = make_config_detector(self.config)
        seq, k, record = task
        t, c = time.perf_counter(), time.process_time()
        prep = prepare_video(k, record, self.root, self.config, self.max_frames, self.crop_size,
                             detector=self.detector)
        self.stats["cpu_busy_seconds"] += time.perf_counter() - t
        self.stats["cpu_process_seconds"] += time.process_time() - c
        return seq, prep, None

    def collect(self, timeout: float, wake: Any = None
                ) -> tuple[list[tuple[int, Prepared, Any]], list[tuple[int, int, Any]]]:
        """Results ready within ``timeout`` and tasks to redo (their worker died). A message on
        ``wake`` (a connection another thread writes to) ends the wait early."""
        if not self.workers:
            return [], []
        by_conn = {w.conn: w for w in self.workers}
        by_sentinel = {w.process.sentinel: w for w in self.workers}
        ready = mpc.wait([*by_conn, *by_sentinel, *([wake] if wake is not None else [])],
                         timeout=timeout)
        results, redo = [], []
        dead: list[_Worker] = []
        for obj in ready:
            if obj is wake:
                while wake.poll():
                    wake.recv_bytes()
                continue
            w = by_conn.get(obj)
            if w is not None:
                try:
                    seq, prep, shm_spec, cpu_seconds, peak_rss = w.conn.recv()
                    task, w.task = w.task, None
                    self.stats["cpu_busy_seconds"] += time.perf_counter() - w.busy_since
                    self.stats["cpu_process_seconds"] += cpu_seconds
                    self.stats["cpu_frames"] += prep.n_frames
                    self.peak_rss_mib = max(self.peak_rss_mib, peak_rss)
                    assert task is not None and task[0] == seq, (task, seq)
                    w.done += 1
                    self.results += 1
                    results.append((seq, prep, shm_spec))
                except Exception:  # noqa: BLE001 - EOF or a half-written message: it died
                    dead.append(w)
            else:
                dead.append(by_sentinel[obj])
        for w in dict.fromkeys(dead):
            if w.process.is_alive() and w.process.exitcode is None:
                continue  # pipe still open: the sentinel said nothing
            w.process.join(1)
            log.warning("CPU worker %d died (exit code %s)%s", w.process.pid, w.process.exitcode,
                        "" if w.task is None else
                        f" while preparing {w.task[2].path}; giving it to another worker")
            self.stats["cpu_worker_deaths"] += 1
            w.conn.close()
            if w.done == 0 and self.results == 0:
                self.deaths_before_first_result += 1
                if self.deaths_before_first_result > self.n + 2:
                    raise RuntimeError(
                        f"{self.deaths_before_first_result} CPU worker processes died before any "
                        f"video was done (last exit code {w.process.exitcode}): see their errors "
                        "above; fix the environment (or run with --cpu-workers 0) and run the same "
                        "command again")
            self.workers.remove(w)
            if w.task is not None:
                self.deaths[w.task[0]] += 1
                redo.append(w.task)
            self.workers.append(self._start())
        return results, redo

    def stop(self) -> None:
        """Ask the workers to exit (they finish nothing more); :meth:`close` waits for them."""
        for w in self.workers:
            with contextlib.suppress(OSError, BrokenPipeError):
                w.conn.send(None)

    def close(self) -> None:
        self.stop()
        for w in self.workers:
            w.process.join(5)
            if w.process.is_alive():
                w.process.terminate()
                w.process.join(5)
            w.conn.close()
        self.workers = []


# --------------------------------------------------------------------------- encoder + writer

class _TorchThreads:
    """torch's CPU threads for an encoder on ``cpu`` sharing the cores with ``cpu_workers``
    worker processes. torch's threads spin while they wait for work, so an encoder holding every
    core while the workers decode takes CPU time the workers need; an encoder that limits the run
    (a large model) needs every core. So: all threads until both stages have done a video, then
    only the cores the workers leave free (at least 1) while the encoder, even slowed down in
    proportion, would be busy at most half the time the CPU stage needs per frame (its busy
    seconds per frame over the workers; both are wall-clock seconds, so a loaded machine slows
    both alike), else all of them again.

    The embeddings do not depend on the number of threads (checked bitwise for voca-tiny and
    ViT-B-32, 1 vs 2 threads; the pipeline-equals-synchronous test runs the two counts).
    torch's setting is per process: :meth:`restore` gives the caller's value back."""

    def __init__(self, device: str, cpu_workers: int):
        import torch

        self.torch = torch
        self.cpu_workers = cpu_workers
        self.full = torch.get_num_threads()
        self.light = self.full
        if device == "cpu" and cpu_workers:
            self.light = max(1, min(self.full, _cores() - cpu_workers))
        self.now = self.full

    def update(self, stats: dict[str, float], encoded_frames: int) -> None:
        """Choose from the stages' costs so far (``stats``: the pipeline's stage counters)."""
        if self.light == self.full or not encoded_frames or not stats.get("cpu_frames"):
            return
        encoder = stats["encoder_busy_seconds"] / encoded_frames * (self.now / self.light)
        cpu = stats["cpu_busy_seconds"] / stats["cpu_frames"] / self.cpu_workers
        self._set(self.light if encoder <= 0.5 * cpu else self.full)

    def _set(self, want: int) -> None:
        if want != self.now:
            log.debug("encoder: %d torch thread(s) (was %d)", want, self.now)
            self.torch.set_num_threads(want)
            self.now = want

    def restore(self) -> None:
        self._set(self.full)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class _Lane(threading.Thread):
    """One encoder (one device): takes its blocks' videos in order, hands finished blocks to the
    writer queue."""

    def __init__(self, device: str, writer: Any, config: ExtractConfig, out: "queue.Queue[Any]",
                 taken: Callable[[], None], stats: dict[str, float], cpu_workers: int = 0):
        super().__init__(name=f"voca-encoder-{device}", daemon=True)
        from .models import audio_encoder, visual_encoder

        self.device = device
        self.cpu_workers = cpu_workers
        self.writer, self.config, self.out, self.taken = writer, config, out, taken
        self.venc = visual_encoder(config, device)
        self.aenc = audio_encoder(config, device)
        self.inbox: "queue.Queue[Any]" = queue.Queue()
        # CUDA: visual batches assembled in pinned memory, copied with non_blocking=True
        self.staging = PinnedStaging(config.batch_size) if device.startswith("cuda") else None
        self.stats = stats
        self.error: BaseException | None = None

    def run(self) -> None:
        timing: dict[str, float] = {}
        blocks: dict[int, BlockAssembler] = {}
        holders: dict[tuple[int, int], _SharedCrops] = {}
        threads = _TorchThreads(self.device, self.cpu_workers)
        encoded_frames = 0
        try:
            while True:
                t = time.perf_counter()
                item = self.inbox.get()
                self.stats["encoder_wait_seconds"] += time.perf_counter() - t
                if item is None:
                    return
                block, prep, holder = item
                self.taken()
                t = time.perf_counter()
                asm = blocks.get(block)
                if asm is None:
                    def release(k: int, block: int = block) -> None:
                        h = holders.pop((block, k), None)
                        if h is not None:
                            h.close()

                    asm = blocks[block] = BlockAssembler(
                        self.writer, block, self.venc, self.aenc, self.config.fps,
                        self.config.audio_rate, self.config.batch_size, timing, release,
                        self.staging)
                if holder is not None:
                    holders[(block, prep.k)] = holder
                threads.update(self.stats, encoded_frames)
                asm.add(prep)
                prep.crops = None
                if asm.done:
                    del blocks[block]
                    self.out.put((block, asm))
                self.stats["encoder_busy_seconds"] += time.perf_counter() - t
                encoded_frames += prep.n_frames
        except BaseException as e:  # noqa: BLE001 - reported by run_pipeline
            log.exception("encoder on %s failed", self.device)
            self.error = e
            self.out.put(("lane-error", self.device, e))
        finally:
            threads.restore()
            for key in ("visual_seconds", "audio_seconds"):
                self.stats[f"encoder_{key}"] += timing.get(key, 0.0)
            for h in holders.values():
                h.close()


def _writer_loop(writer: Any, inbox: "queue.Queue[Any]", on_block: Callable[[dict], None],
                 stats: dict[str, float], errors: list[str], lanes: int, strict: bool = False,
                 metadata_frames: Sequence[int | None] | None = None) -> None:
    finished = 0
    while finished < lanes:
        t = time.perf_counter()
        item = inbox.get()
        stats["writer_wait_seconds"] += time.perf_counter() - t
        if item is None:
            finished += 1
            continue
        if item[0] == "lane-error":
            errors.append(f"encoder on {item[1]}: {type(item[2]).__name__}: {item[2]}")
            continue
        block, asm = item
        t = time.perf_counter()
        try:
            sl = writer.block_slice(block)
            writer.write_block(block, asm.result(), strict=strict,
                               metadata_frames=(None if metadata_frames is None
                                                else metadata_frames[sl.start:sl.stop]))
        except Exception as e:  # noqa: BLE001 - the block stays pending
            log.error("writing block %d failed: %s: %s", block, type(e).__name__, e)
            errors.append(f"block {block}: {type(e).__name__}: {e}")
            continue
        finally:
            stats["writer_busy_seconds"] += time.perf_counter() - t
        on_block({"block": block, "videos": asm.nb, "frames": asm.frames, "failed": asm.failed})


# --------------------------------------------------------------------------- the pipeline

def run_pipeline(store: str | os.PathLike, blocks: Sequence[int], root: str | os.PathLike,
                 config: ExtractConfig, devices: Sequence[str], cpu_workers: int | None = None,
                 max_in_flight: int | None = None,
                 on_block: Callable[[dict], None] | None = None,
                 on_start: Callable[[list[int]], None] | None = None,
                 metadata_frames: Sequence[int | None] | None = None) -> dict[str, Any]:
    """Extract and write ``blocks`` of ``store`` with the pipeline; returns the run's summary.

    ``devices``: one encoder per entry (``["cpu"]``, ``["cuda:0", "cuda:1"]``). ``cpu_workers``:
    CPU worker processes (``None``: cores - 1; ``0``: decode in this thread). ``max_in_flight``:
    videos between submission and the encoder (default ``2 * cpu_workers + 2``): with the
    writer's queue of 2 blocks this bounds memory whatever the number of videos.
    ``on_block(result)`` is called from the writer thread after each written block;
    ``on_start(pids)`` with the CPU workers' process ids. ``metadata_frames`` (per store video,
    the manifest's frame counts) are compared with the media in each video's timeline notes.

    >>> run_pipeline("s.zarr", [0], root, ExtractConfig(visual_arch="voca-tiny", detector="center"),
    ...              ["cpu"], cpu_workers=1)["blocks"]                     # doctest: +SKIP
    1
    """
    from ..store.writer import StoreWriter

    t0 = time.perf_counter()
    writer = StoreWriter(store)
    root = Path(root)
    if cpu_workers is None:
        cpu_workers = default_cpu_workers()
    if cpu_workers and mp.current_process().daemon:
        log.warning("this process is daemonic (a dask worker with distributed.worker.daemon=True) "
                    "and cannot start CPU worker processes: decoding in the task's thread; set "
                    "DASK_DISTRIBUTED__WORKER__DAEMON=False on the workers to use them")
        cpu_workers = 0
    max_in_flight = int(max_in_flight or 2 * cpu_workers + 2)
    devices = list(devices) or ["cpu"]
    stats: dict[str, float] = collections.defaultdict(float)
    errors: list[str] = []
    results: list[dict] = []

    def block_done(result: dict) -> None:
        results.append(result)
        if on_block is not None:
            try:
                on_block(result)
            except Exception as e:  # noqa: BLE001 - a progress display must not stop the writer
                log.warning("progress callback failed: %s: %s", type(e).__name__, e)

    # models first (a bad setting fails before any worker starts)
    to_writer: "queue.Queue[Any]" = queue.Queue(maxsize=2)
    in_flight = [0]
    in_flight_lock = threading.Lock()
    # an encoder taking a video when the in-flight bound was reached wakes the dispatch loop
    wake_r, wake_w = mp.Pipe(duplex=False)

    def taken() -> None:
        with in_flight_lock:
            in_flight[0] -= 1
            if cpu_workers and in_flight[0] == max_in_flight - 1:  # (0: nobody waits on it)
                with contextlib.suppress(OSError):
                    wake_w.send_bytes(b"")

    from .models import visual_encoder

    # the first encoder first (a bad setting fails before any worker starts; it is cached, so
    # the lane below gets the same one), then the CPU workers, which import and build their
    # detectors while this process sets up the encoder lanes, the writer and the task list
    crop_size = int(config.crop_size or getattr(visual_encoder(config, devices[0]), "image_size", 0)
                    or 224)
    cpu = _CpuStage(cpu_workers, root, config, writer.n_frames_max, crop_size, stats)
    try:
        lanes = [_Lane(d, writer, config, to_writer, taken, stats, cpu_workers) for d in devices]
        # tasks in order: (seq, k, record); seq -> (lane, block)
        tasks: collections.deque = collections.deque()
        route: dict[int, tuple[int, int]] = {}
        seq = 0
        # the manifest read once (9 reads) rather than per block (9 reads each)
        every = writer.records() if len(blocks) > 1 else None
        for i, b in enumerate(blocks):
            sl = writer.block_slice(b)
            for k, record in enumerate(writer.records(b) if every is None
                                       else every[sl.start:sl.stop]):
                tasks.append((seq, k, record))
                route[seq] = (i % len(lanes), b)
                seq += 1
    except BaseException:
        cpu.close()
        raise
    writer_thread = threading.Thread(target=_writer_loop, name="voca-writer", daemon=True,
                                     args=(writer, to_writer, block_done, stats, errors, len(lanes),
                                           config.strict, metadata_frames))
    total = seq
    if on_start is not None:
        on_start(cpu.pids())
    for lane in lanes:
        lane.start()
    writer_thread.start()
    pending: dict[int, tuple[Prepared, Any]] = {}
    next_seq = 0
    peak = 0
    first_result, last_result = 0.0, t0
    try:
        while next_seq < total:
            if any(lane.error for lane in lanes):
                break
            while tasks and in_flight[0] < max_in_flight and cpu.capacity() > 0:
                task = tasks.popleft()
                with in_flight_lock:
                    in_flight[0] += 1
                    peak = max(peak, in_flight[0])
                if cpu.n:
                    cpu.submit(task)
                else:
                    s, prep, _ = cpu.run_inline(task)
                    pending[s] = (prep, None)
            # idle workers while videos wait for the in-flight bound (the encoder is behind, or
            # an earlier video is still being prepared): the CPU stage is starved
            starved, t = (cpu.capacity() if tasks and cpu.n else 0), time.perf_counter()
            got, redo = cpu.collect(timeout=0.5, wake=wake_r) if cpu.n else ([], [])
            stats["cpu_starved_seconds"] += starved * (time.perf_counter() - t)
            for s, prep, shm_spec in got:
                pending[s] = (prep, _SharedCrops(*shm_spec) if shm_spec else None)
                if not first_result:  # when the first worker started its first video
                    first_result = time.perf_counter() - prep.seconds - t0
                last_result = time.perf_counter()
            for task in reversed(redo):
                if cpu.deaths[task[0]] >= _MAX_DEATHS:
                    record = task[2]
                    prep = Prepared(task[1], error=(
                        f"{record.path}: crashed {_MAX_DEATHS} CPU worker processes while being "
                        "decoded (killed or out of memory?); check the file, then run again with "
                        "--retry-failed"))
                    pending[task[0]] = (prep, None)
                else:
                    with in_flight_lock:
                        in_flight[0] -= 1
                    tasks.appendleft(task)
            while next_seq in pending:
                prep, holder = pending.pop(next_seq)
                if holder is not None:
                    prep.crops = holder.array
                lane_i, block = route[next_seq]
                lanes[lane_i].inbox.put((block, prep, holder))
                next_seq += 1
            if not cpu.n and not tasks and next_seq < total and not pending:
                break  # pragma: no cover - nothing can arrive
    finally:
        cpu.stop()  # the workers exit while the encoders and the writer finish the last blocks
        for lane in lanes:
            lane.inbox.put(None)
        for lane in lanes:
            lane.join()
        for lane in lanes:
            to_writer.put(None)
        writer_thread.join()
        cpu.close()
        wake_r.close()
        wake_w.close()
        for prep, holder in pending.values():
            if holder is not None:
                holder.close()
    wall = time.perf_counter() - t0
    if cpu.n:  # where the wall time goes at both ends of the run
        stats["cpu_startup_seconds"] = first_result
        stats["tail_seconds"] = time.perf_counter() - last_result
    frames = sum(r["frames"] for r in results)
    stage = {k: round(v, 3) for k, v in sorted(stats.items())}
    stage["cpu_wait_seconds"] = round(max(0.0, max(1, cpu_workers) * wall
                                          - stats["cpu_busy_seconds"]), 3)
    return {"blocks": len(results), "videos": sum(r["videos"] for r in results), "frames": frames,
            "failed": sum(r["failed"] for r in results), "seconds": round(wall, 3),
            "frames_per_second": round(frames / max(wall, 1e-9), 2), "cpu_workers": cpu_workers,
            "devices": devices, "max_in_flight": max_in_flight, "peak_in_flight": peak,
            "cpu_worker_peak_rss_mib": round(cpu.peak_rss_mib, 1),
            **stage, "block_errors": errors, "written_blocks": [r["block"] for r in results]}
