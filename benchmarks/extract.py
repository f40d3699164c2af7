"""Extraction benchmark (voca 2's pipeline), every number a ratio against a baseline measured in the
same run on the same machine:

* the pipeline (``voca extract``'s default scheduler) with each ``--cpu-workers`` count;
* the "sum of parts" ceiling: decode + face detection + tracking + crop per frame on one core
  (a single-threaded process, the CPU stage's own code), times the cores given to the CPU stage;
* the visual encoder alone on pre-cut uint8 crops, same batch size, on the device;
* the per-video script way (sequential; MTCNN on every frame; a PNG per crop; embed; npz);
* detection choices: MTCNN on the full frame and on a downscaled one (``--detect-max-side``).

Random encoder weights (timing only). Prints a Markdown table; ``--output`` writes it to a file.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/extract.py --device cpu --arch voca-tiny \
        --cpu-workers 1 2 --videos 8
    python3 benchmarks/extract.py --device cuda --arch ViT-B-32 --videos 32 --cpu-workers 15 \
        --batch-size 256          # the GPU node (benchmarks/extract_gpu.sh)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402


def _dataset(root: Path, videos: int, seed: int = 0, duration: tuple[float, float] = (3.0, 5.0),
             workers: int = 1) -> Path:
    from voca_data.synth import make_dataset

    if (root / "synth_manifest.json").exists():
        return root
    # LAV-DF-like: 224 x 224
    return make_dataset(root, layout="lavdf", videos=videos, seed=seed, size=(224, 224),
                        duration_range=duration, workers=workers)


def _records(root: Path):
    from voca_data.sources import load

    return load("lavdf", root)


def _in_thread(fn, *args, **kwargs):
    """Run ``fn`` in a fresh thread and return its result. The pipeline's encoder runs in a dask
    worker thread; measured here, torch on a busy machine ran 2-4x faster in a fresh thread than in
    the main thread, so every measurement runs in the same kind of thread."""
    import threading

    out: dict = {}

    def target():
        try:
            out["result"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001
            out["error"] = e

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["result"]


def _config(arch: str, batch: int, block: int, device: str, detector: str = "mtcnn",
            detect_every: int = 5, **kw):
    from voca_data.extract import ExtractConfig

    return ExtractConfig(visual_arch=arch, detector=detector, detect_every=detect_every,
                         block_size=block, batch_size=batch, device=device, **kw)


def pipeline(root: Path, out: Path, arch: str, batch: int, block: int, cpu_workers: int,
             device: str = "cpu", detector: str = "mtcnn", **kw) -> dict:
    """``voca extract``'s pipeline on ``root`` (no finalize); frames/s and stage busy shares."""
    from voca_data.extract import audio_encoder, extract, resolve_device, visual_encoder

    config = _config(arch, batch, block, device, detector, **kw)
    dev = resolve_device(device)
    # models are loaded once per process; load them before timing (as a long run amortises it)
    visual_encoder(config, dev), audio_encoder(config, dev)
    records = _records(root)

    def cpu_seconds(who: int) -> float:
        r = resource.getrusage(who)
        return r.ru_utime + r.ru_stime

    c0, s0 = cpu_seconds(resource.RUSAGE_CHILDREN), cpu_seconds(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    extract(records, root, out, config, cpu_workers=cpu_workers, finalize=False, progress=False)
    dt = time.perf_counter() - t0
    # CPU seconds used: the CPU workers (joined children) and this process (encoder, writer)
    children = cpu_seconds(resource.RUSAGE_CHILDREN) - c0
    own = cpu_seconds(resource.RUSAGE_SELF) - s0
    import zarr

    frames = int(np.asarray(zarr.open_array(str(out / "n_frames"), mode="r")[:]).sum())
    entry = [h for h in zarr.open_group(str(out), mode="r").attrs["history"]
             if h["action"] == "extract"][-1]
    wall = max(entry.get("seconds", dt), 1e-9)  # the run itself (CPU workers' start included)
    return {"frames": frames, "seconds": wall, "fps": frames / wall, "with_init_seconds": dt,
            "encoder_busy": entry.get("stage_encoder_busy_seconds", 0.0) / wall,
            "cpu_busy": entry.get("stage_cpu_busy_seconds", 0.0) / (wall * max(1, cpu_workers)),
            "writer_busy": entry.get("stage_writer_busy_seconds", 0.0) / wall,
            "workers_cpu_seconds": children, "main_cpu_seconds": own,
            # where the wall time goes (history): workers' CPU seconds on videos (the rest of
            # workers_cpu_seconds is start-up and exit), the first video's start, the run's end
            # after the last video was prepared, idle workers waiting on the in-flight bound
            "videos_cpu_seconds": entry.get("stage_cpu_process_seconds", 0.0),
            "startup_seconds": entry.get("stage_cpu_startup_seconds", 0.0),
            "tail_seconds": entry.get("stage_tail_seconds", 0.0),
            "starved_seconds": entry.get("stage_cpu_starved_seconds", 0.0)}


def _parts_child(root: str, paths: list, arch_size: int, detect_every: int, max_sides: list,
                 max_frames: int) -> dict:
    """In a single-threaded process: seconds of decode, MTCNN on the keyframes (per max_side) and
    lower-face crops, over ``paths``."""
    import cv2

    cv2.setNumThreads(1)
    from voca_data.faces import lower_face_crops, make_detector, track_faces
    from voca_data.media import decode

    dets = {m: make_detector("mtcnn", max_side=m, threads=1) for m in max_sides}
    out = {"frames": 0, "decode": 0.0, "track_crop": 0.0, **{f"mtcnn_{m}": 0.0 for m in max_sides},
           "detected_frames": 0}
    for path in paths:
        t = time.perf_counter()
        v = decode(Path(root) / path, max_frames=max_frames, threads=1)  # one core, as a worker
        out["decode"] += time.perf_counter() - t
        out["frames"] += v.n_frames
        keyframes = v.frames[::detect_every]
        out["detected_frames"] += len(keyframes)
        for m, det in dets.items():
            t = time.perf_counter()
            det.detect(keyframes)
            out[f"mtcnn_{m}"] += time.perf_counter() - t
        track = track_faces(v.frames, dets[max_sides[0]], every=detect_every)
        t = time.perf_counter()
        lower_face_crops(v.frames, track, arch_size)
        out["track_crop"] += time.perf_counter() - t
    return out


def parts(root: Path, arch_size: int, detect_every: int, max_sides: list[int], videos: int) -> dict:
    """Per-frame CPU-stage costs on one core (a spawned single-threaded process)."""
    import concurrent.futures as cf
    import multiprocessing as mp

    from voca_data.extract.pipeline import single_threaded_env

    paths = [r.path for r in _records(root)[:videos]]
    with single_threaded_env(), cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        res = pool.submit(_parts_child, str(root), paths, arch_size, detect_every, max_sides,
                          100000).result()
    n = max(1, res["frames"])
    per = {"decode_ms": 1e3 * res["decode"] / n, "crop_ms": 1e3 * res["track_crop"] / n}
    for m in max_sides:
        per[f"mtcnn_{m}_ms_per_detection"] = 1e3 * res[f"mtcnn_{m}"] / max(1, res["detected_frames"])
        per[f"mtcnn_{m}_ms_per_frame"] = 1e3 * res[f"mtcnn_{m}"] / n
    per["cpu_ms_per_frame"] = per["decode_ms"] + per[f"mtcnn_{max_sides[0]}_ms_per_frame"] \
        + per["crop_ms"]
    per["frames"] = res["frames"]
    return per


def encoder_only(root: Path, arch: str, batch: int, max_frames: int, device: str = "cpu") -> dict:
    """The visual encoder alone on pre-decoded lower-face crops, same batch size."""
    from voca_data.extract import ExtractConfig, visual_encoder
    from voca_data.faces import lower_face_crops, make_detector, track_faces
    from voca_data.media import decode

    from voca_data.extract import resolve_device

    dev = resolve_device(device)
    config = ExtractConfig(visual_arch=arch, batch_size=batch, device=dev)
    enc = visual_encoder(config, dev)
    size = int(getattr(enc, "image_size", 224))
    det = make_detector("center")
    crops = []
    for rec in _records(root):
        v = decode(root / rec.path)
        crops.append(lower_face_crops(v.frames, track_faces(v.frames, det, every=5), size))
        if sum(len(c) for c in crops) >= max_frames:
            break
    crops = np.concatenate(crops)[:max_frames]
    enc.encode(crops[:batch])  # warm-up
    _sync(dev)
    t0 = time.perf_counter()
    for i in range(0, len(crops), batch):
        enc.encode(crops[i:i + batch])
    _sync(dev)
    dt = time.perf_counter() - t0
    return {"frames": len(crops), "seconds": dt, "fps": len(crops) / dt}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def baseline(root: Path, arch: str, batch: int, work: Path, max_videos: int,
             device: str = "cpu") -> dict:
    """Today's per-video scripts: sequential; decode; MTCNN on every frame; PNG per crop; embed
    the PNGs; np.savez per video."""
    import cv2

    from voca_data.extract import ExtractConfig, audio_encoder, visual_encoder
    from voca_data.faces import FaceTrack, lower_face_crops, make_detector
    from voca_data.media import decode

    from voca_data.extract import resolve_device

    dev = resolve_device(device)
    config = ExtractConfig(visual_arch=arch, batch_size=batch, device=dev)
    enc = visual_encoder(config, dev)
    aenc = audio_encoder(config, dev)
    size = int(getattr(enc, "image_size", 224))
    det = make_detector("mtcnn")
    frames_total = 0
    t0 = time.perf_counter()
    for rec in _records(root)[:max_videos]:
        v = decode(root / rec.path)
        boxes, scores = [], []
        for frame in v.frames:  # a detection on every frame
            dets = det.detect(frame[None])[0]
            if dets:
                box, score = max(dets, key=lambda d: (d[0][2] - d[0][0]) * (d[0][3] - d[0][1]))
                boxes.append(np.asarray(box, np.float32))
                scores.append(float(score))
            else:
                boxes.append(boxes[-1] if boxes else [0, 0, v.width, v.height]); scores.append(0.0)
        track = FaceTrack(boxes=np.asarray(boxes, np.float32), scores=np.asarray(scores, np.float32),
                          landmarks=None)
        crops = lower_face_crops(v.frames, track, size)
        folder = work / rec.video_id.replace("/", "_")
        folder.mkdir(parents=True, exist_ok=True)
        for t, crop in enumerate(crops):
            cv2.imwrite(str(folder / f"{t:05d}.png"), crop[:, :, ::-1])
        loaded = np.stack([cv2.imread(str(folder / f"{t:05d}.png"))[:, :, ::-1]
                           for t in range(len(crops))])
        emb = np.concatenate([enc.encode(loaded[i:i + batch]) for i in range(0, len(loaded), batch)])
        aud = aenc.encode(v.audio, v.n_frames, 25.0, 16000)
        np.savez(folder.with_suffix(".npz"), visual=emb, audio=aud)
        frames_total += v.n_frames
    dt = time.perf_counter() - t0
    return {"frames": frames_total, "seconds": dt, "fps": frames_total / dt}


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def peak_memory(root: Path, arch: str, batch: int, block: int) -> dict:
    """Memory of a fresh process extracting ``root`` (this script, ``--pipeline-only``): RSS once
    the models are loaded, the peak RSS sampled during the extraction, and the process's max RSS."""
    res = subprocess.run([sys.executable, __file__, "--pipeline-only", str(root), arch, str(batch),
                          str(block)], capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(res.stderr[-2000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def _pipeline_only(argv: list[str]) -> None:
    import threading

    from voca_data.extract import ExtractConfig, audio_encoder, visual_encoder

    root, arch, batch, block = Path(argv[0]), argv[1], int(argv[2]), int(argv[3])
    config = ExtractConfig(visual_arch=arch, batch_size=batch, device="cpu")
    visual_encoder(config, "cpu"), audio_encoder(config, "cpu")
    before = _rss_mib()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], _rss_mib())

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    with tempfile.TemporaryDirectory() as d:
        pipeline(root, Path(d) / "s.zarr", arch, batch, block, 1)  # RSS of the encoder's process
    done.set()
    t.join()
    print(json.dumps({"models_loaded": before, "peak_during": peak[0],
                      "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([pos, neg]))
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def avsync_sweep(dataset: Path, store: Path, splits: tuple[str, ...] = ("dev", "test")) -> list[dict]:
    """AUC of ``av_similarity`` separating real frames (frame_label 0) from fake frames of
    audio-only and video-only fakes (in-sync "both" fakes excluded), on ``splits``, for a grid of
    AV synchrony settings. ``dataset`` is a synthetic dataset (its synth_manifest.json gives the
    kind of fake), ``store`` its extraction."""
    import zarr

    from voca_data import avsync
    from voca_data.store.writer import StoreWriter

    manifest = json.loads((dataset / "synth_manifest.json").read_text())
    kind_of = {e["file"]: e["kind"] for e in manifest["entries"]}
    writer = StoreWriter(store)
    g = zarr.open_group(str(store), mode="r")
    paths = [str(x) for x in g["path"][:]]
    split = [str(x) for x in g["split"][:]]
    n_frames = g["n_frames"][:]
    status = g["status"][:]
    vis, aud, lab = g["visual"][...], g["audio"][...], g["frame_label"][...]
    chosen = [k for k in range(len(paths)) if split[k] in splits and status[k] == 1]

    def evaluate(cfg: "avsync.AVSyncConfig") -> dict:
        model = avsync.fit(writer, cfg)
        pos, neg = [], []
        for k in chosen:
            n = int(n_frames[k])
            sc = avsync.score_video(model, vis[k, :n], aud[k, :n])
            kind = kind_of[paths[k]]
            pos.append(sc[lab[k, :n] == 0])
            if kind in ("modify_audio", "modify_video"):
                neg.append(sc[lab[k, :n] == 1])
        pos_a, neg_a = np.concatenate(pos), np.concatenate(neg)
        ok = np.isfinite(pos_a).all() and np.isfinite(neg_a).all()
        return {"auc": _auc(pos_a, neg_a) if ok else float("nan"), "real_frames": len(pos_a),
                "fake_frames": len(neg_a), "fit_frames": model.n_frames,
                "pca_visual": model.visual_pca.shape[1], "pca_audio": model.audio_pca.shape[1],
                "correlation": [round(float(c), 3) for c in model.correlation]}

    rows = []
    base = dict(pca=64, components=1, window=9, centre_window=False, centre_video=True)
    grid = [dict(base)]
    grid += [{**base, "centre_video": False, "window": 1}, {**base, "centre_video": False}]
    grid += [{**base, "window": w} for w in (1, 5, 15, 25)]
    grid += [{**base, "pca": p} for p in (8, 16, 32, 128)]
    grid += [{**base, "components": c} for c in (2, 4, 8)]
    grid += [{**base, "centre_window": True}]
    for settings in grid:
        res = evaluate(avsync.AVSyncConfig(**settings))
        rows.append({**settings, **res})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu or cuda (the encoder's device)")
    p.add_argument("--videos", type=int, default=6)
    p.add_argument("--duration", type=float, nargs=2, default=[3.0, 5.0],
                   help="video durations drawn from this range (s)")
    p.add_argument("--arch", "--archs", dest="archs", nargs="+", default=["voca-tiny"])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--block-size", type=int, default=4)
    p.add_argument("--cpu-workers", type=int, nargs="+", default=[1, 2],
                   help="pipeline runs, one per count (the first is the scaling reference)")
    p.add_argument("--detect-every", type=int, default=5)
    p.add_argument("--max-sides", type=int, nargs="+", default=[480, 112],
                   help="MTCNN detection sizes measured (the first is the pipeline's)")
    p.add_argument("--parts-videos", type=int, default=3)
    p.add_argument("--baseline-videos", type=int, default=2)
    p.add_argument("--encoder-frames", type=int, default=512)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--synth-workers", type=int, default=1)
    p.add_argument("--memory", action="store_true", help="also measure peak memory (two sizes)")
    p.add_argument("--memory-only", action="store_true", help="only the memory table")
    p.add_argument("--memory-videos", type=int, nargs=2, default=[8, 32],
                   help="the two dataset sizes of the memory runs")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "voca_bench_extract")
    p.add_argument("--output", type=Path, default=None)
    args = p.parse_args()
    args.memory = args.memory or args.memory_only

    import torch

    from voca_data.extract.pipeline import default_cpu_workers

    args.work.mkdir(parents=True, exist_ok=True)
    root = _dataset(args.work / f"lavdf{args.videos}_{args.duration[0]:g}_{args.duration[1]:g}",
                    args.videos, duration=tuple(args.duration), workers=args.synth_workers)
    cores = len(os.sched_getaffinity(0))
    gpu = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "none"
    device = (f"{platform.processor() or platform.machine()}, {cores} cores, GPU {gpu}, "
              f"torch threads {torch.get_num_threads()}")
    load_before = os.getloadavg()
    lines: list[str] = []
    for arch in ([] if args.memory_only else args.archs):
        size = 224 if arch != "voca-tiny" else 64
        runs: dict[str, list[dict]] = {f"pipe{n}": [] for n in args.cpu_workers}
        runs.update(encoder=[], baseline=[], parts=[])
        for rep in range(args.repeats):  # interleaved: the runs see the same (shared) load
            runs["parts"].append(parts(root, size, args.detect_every, args.max_sides,
                                       args.parts_videos))
            print(json.dumps({"parts": runs["parts"][-1]}), flush=True)
            with tempfile.TemporaryDirectory(dir=args.work) as d:
                for n in args.cpu_workers:
                    runs[f"pipe{n}"].append(pipeline(root, Path(d) / f"s{n}.zarr", arch,
                                                     args.batch_size, args.block_size, n,
                                                     args.device))
                    print(json.dumps({"arch": arch, "cpu_workers": n, **runs[f"pipe{n}"][-1]}),
                          flush=True)
                runs["encoder"].append(_in_thread(encoder_only, root, arch, args.batch_size,
                                                  args.encoder_frames, args.device))
                if args.baseline_videos:
                    runs["baseline"].append(_in_thread(baseline, root, arch, args.batch_size,
                                                       Path(d) / "baseline", args.baseline_videos,
                                                       args.device))
            print(json.dumps({"arch": arch, "repeat": rep, "encoder": runs["encoder"][-1],
                              "baseline": runs["baseline"][-1] if runs["baseline"] else None}),
                  flush=True)
        part = min(runs.pop("parts"), key=lambda r: r["cpu_ms_per_frame"])  # best, as the others
        best = {k: max(v, key=lambda r: r["fps"]) for k, v in runs.items() if v}
        first = best[f"pipe{args.cpu_workers[0]}"]
        frames = first["frames"]
        lines += [f"### {arch}, device {args.device}", "",
                  f"{args.videos} synthetic 224 px videos of {args.duration[0]:g}-{args.duration[1]:g} s "
                  f"({frames} frames), random weights, MTCNN every {args.detect_every}th frame "
                  f"(max side {args.max_sides[0]}), batch {args.batch_size}, block {args.block_size}; "
                  f"best of {args.repeats}. Machine: {device}.", "",
                  "CPU stage on one core (single-threaded process, ms per frame): "
                  f"decode {part['decode_ms']:.2f}, "
                  + ", ".join(f"MTCNN max side {m} {part[f'mtcnn_{m}_ms_per_detection']:.1f} per "
                              f"detection = {part[f'mtcnn_{m}_ms_per_frame']:.2f} per frame"
                              for m in args.max_sides)
                  + f", crop {part['crop_ms']:.2f}; total "
                  f"{part['cpu_ms_per_frame']:.2f} ms = {1e3 / part['cpu_ms_per_frame']:.0f} "
                  "frames/s a core.", "",
                  "| run | frames/s | ratio | encoder busy | CPU workers busy | CPU s: workers (on videos) / main process | s: first video starts / after last video / workers starved |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        ceiling1 = 1e3 / part["cpu_ms_per_frame"]
        for n in args.cpu_workers:
            r = best[f"pipe{n}"]
            ceiling = ceiling1 * n
            lines.append(f"| pipeline, {n} CPU worker(s) | {r['fps']:.1f} | "
                         f"{r['fps'] / first['fps']:.2f}x the {args.cpu_workers[0]}-worker run; "
                         f"{r['fps'] / ceiling:.2f} of the sum-of-parts ceiling ({ceiling:.0f}) | "
                         f"{100 * r['encoder_busy']:.0f} % | {100 * r['cpu_busy']:.0f} % | "
                         f"{r['workers_cpu_seconds']:.1f} ({r['videos_cpu_seconds']:.1f}) / "
                         f"{r['main_cpu_seconds']:.1f} | {r['startup_seconds']:.2f} / "
                         f"{r['tail_seconds']:.2f} / {r['starved_seconds']:.2f} |")
        top = max((best[f"pipe{n}"] for n in args.cpu_workers), key=lambda r: r["fps"])
        enc = best["encoder"]
        lines.append(f"| visual encoder alone (uint8 crops, batch {args.batch_size}) | "
                     f"{enc['fps']:.1f} | best pipeline / encoder = {top['fps'] / enc['fps']:.2f} | | | | |")
        if "baseline" in best:
            b = best["baseline"]
            lines.append(f"| per-video script way ({args.baseline_videos} videos) | {b['fps']:.1f} | "
                         f"best pipeline / script = {top['fps'] / b['fps']:.1f}x | | | | |")
        lines.append("")
        print("\n".join(lines), flush=True)
    load_after = os.getloadavg()
    lines.append(f"Load average (1 min) {load_before[0]:.1f} before, {load_after[0]:.1f} after; "
                 f"default --cpu-workers here would be {default_cpu_workers()}.")
    if args.memory:
        sizes = (args.memory_videos[0], args.memory_videos[1])
        lines += ["", f"Memory of a fresh process running the pipeline ({args.archs[0]}, MTCNN, 1 CPU "
                  "worker; the encoder's process): RSS once the models are loaded, the peak sampled "
                  "every 50 ms during extraction, and what extraction adds on top.", "",
                  "| dataset videos | frames | block | batch | RSS, models loaded (MiB) | peak during extraction (MiB) | added by extraction (MiB) |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for n in sizes:
            ds = _dataset(args.work / f"lavdf_mem{n}", n, seed=5)
            frames = sum(int(r.n_frames or 0) for r in _records(ds))
            for block, batch in ((args.block_size, args.batch_size), (4 * args.block_size, 4 * args.batch_size)):
                mem = peak_memory(ds, args.archs[0], batch, block)
                lines.append(f"| {n} | {frames or '?'} | {block} | {batch} | {mem['models_loaded']:.0f} | "
                             f"{mem['peak_during']:.0f} | {mem['peak_during'] - mem['models_loaded']:.0f} |")
                print(lines[-1], flush=True)
    text = "\n".join(lines)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--pipeline-only":
        _pipeline_only(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "--avsync":
        avsync_sweep(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()
