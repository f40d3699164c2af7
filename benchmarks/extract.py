"""Extraction benchmark: frames/s of the whole pipeline against, in the same run on the same device,
(a) the visual encoder alone on pre-decoded crops with the same batch size, and (b) a baseline the
way per-video scripts do it (sequential, decode, MTCNN on EVERY frame, each crop saved as PNG,
embed, ``np.savez`` per video); plus the pipeline's peak memory for two dataset sizes.

Random encoder weights (timing only). Prints a Markdown table; ``--output`` writes it to a file.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/extract.py --videos 12 --archs ViT-S-32 ViT-B-32
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


def _dataset(root: Path, videos: int, seed: int = 0) -> Path:
    from voca_data.synth import make_dataset

    if (root / "synth_manifest.json").exists():
        return root
    # LAV-DF-like: 224 x 224, 3-5 s
    return make_dataset(root, layout="lavdf", videos=videos, seed=seed, size=(224, 224),
                        duration_range=(3.0, 5.0), workers=1)


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


def pipeline(root: Path, out: Path, arch: str, batch: int, block: int, workers: int,
             scheduler: str = "threads") -> dict:
    from voca_data.extract import ExtractConfig, extract, visual_encoder, audio_encoder

    config = ExtractConfig(visual_arch=arch, detector="mtcnn", detect_every=5, block_size=block,
                           batch_size=batch, device="cpu")
    # models are loaded once per process; load them before timing (as a long run amortises it)
    visual_encoder(config, "cpu"), audio_encoder(config, "cpu")
    records = _records(root)
    t0 = time.perf_counter()
    extract(records, root, out, config, scheduler=scheduler, workers=workers, finalize=False,
            progress=False)
    dt = time.perf_counter() - t0
    import zarr

    frames = int(np.asarray(zarr.open_array(str(out / "n_frames"), mode="r")[:]).sum())
    entry = [h for h in zarr.open_group(str(out), mode="r").attrs["history"] if h["action"] == "extract"][-1]
    task = max(entry.get("task_seconds", 0.0), 1e-9)
    return {"frames": frames, "seconds": dt, "fps": frames / dt,
            # share of the block tasks' time spent in the visual encoder / waiting for decoding
            "encoder_busy": entry.get("task_visual_seconds", 0.0) / task,
            "waiting": entry.get("task_wait_seconds", 0.0) / task}


def encoder_only(root: Path, arch: str, batch: int, max_frames: int) -> dict:
    """The visual encoder alone on pre-decoded lower-face crops, same batch size."""
    from voca_data.extract import ExtractConfig, visual_encoder
    from voca_data.faces import lower_face_crops, make_detector, track_faces
    from voca_data.media import decode

    config = ExtractConfig(visual_arch=arch, batch_size=batch, device="cpu")
    enc = visual_encoder(config, "cpu")
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
    t0 = time.perf_counter()
    for i in range(0, len(crops), batch):
        enc.encode(crops[i:i + batch])
    dt = time.perf_counter() - t0
    return {"frames": len(crops), "seconds": dt, "fps": len(crops) / dt}


def baseline(root: Path, arch: str, batch: int, work: Path, max_videos: int) -> dict:
    """Today's per-video scripts: sequential; decode; MTCNN on every frame; PNG per crop; embed
    the PNGs; np.savez per video."""
    import cv2

    from voca_data.extract import ExtractConfig, audio_encoder, visual_encoder
    from voca_data.faces import FaceTrack, lower_face_crops, make_detector
    from voca_data.media import decode

    config = ExtractConfig(visual_arch=arch, batch_size=batch, device="cpu")
    enc = visual_encoder(config, "cpu")
    aenc = audio_encoder(config, "cpu")
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
        pipeline(root, Path(d) / "s.zarr", arch, batch, block, 1)
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
    import itertools
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
    p.add_argument("--videos", type=int, default=6)
    p.add_argument("--archs", nargs="+", default=["ViT-S-32", "ViT-B-32"])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--block-size", type=int, default=4)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--baseline-videos", type=int, default=2)
    p.add_argument("--encoder-frames", type=int, default=256)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--torch-threads", type=int, default=None,
                   help="torch intra-op threads for every measurement (default: torch's)")
    p.add_argument("--memory", action="store_true", help="also measure peak memory (two sizes)")
    p.add_argument("--memory-only", action="store_true", help="only the memory table")
    p.add_argument("--memory-videos", type=int, nargs=2, default=[8, 32],
                   help="the two dataset sizes of the memory runs")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "voca_bench_extract")
    p.add_argument("--output", type=Path, default=None)
    args = p.parse_args()
    args.memory = args.memory or args.memory_only

    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    args.work.mkdir(parents=True, exist_ok=True)
    root = _dataset(args.work / f"lavdf{args.videos}", args.videos)
    device = f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"
    load_before = os.getloadavg()
    rows = []
    for arch in ([] if args.memory_only else args.archs):
        runs: dict[str, list[dict]] = {"pipeline": [], "encoder": [], "baseline": []}
        # interleaved repeats: the three measurements see the same (shared-machine) load
        for rep in range(args.repeats):
            with tempfile.TemporaryDirectory(dir=args.work) as d:
                runs["pipeline"].append(pipeline(root, Path(d) / "s.zarr", arch, args.batch_size,
                                                 args.block_size, args.workers))
                runs["encoder"].append(_in_thread(encoder_only, root, arch, args.batch_size,
                                                  max_frames=args.encoder_frames))
                runs["baseline"].append(_in_thread(baseline, root, arch, args.batch_size,
                                                   Path(d) / "baseline", args.baseline_videos))
            print(json.dumps({"arch": arch, "repeat": rep,
                              **{k: v[-1] for k, v in runs.items()}}), flush=True)
        best = {k: max(v, key=lambda r: r["fps"]) for k, v in runs.items()}
        rows.append((arch, best["pipeline"], best["encoder"], best["baseline"]))
    load_after = os.getloadavg()
    lines = [f"Device: {device}. Dataset: {args.videos} synthetic LAV-DF-like videos (224x224, 3-5 s, "
             f"25 fps; {rows[0][1]['frames'] if rows else '?'} frames), random weights, MTCNN every 5 frames, batch "
             f"{args.batch_size}, block {args.block_size}, scheduler threads x{args.workers}. Best of "
             f"{args.repeats} interleaved runs each; baseline on {args.baseline_videos} videos; encoder "
             f"alone on {args.encoder_frames} crops. Load average (1 min) {load_before[0]:.1f} before, "
             f"{load_after[0]:.1f} after (shared machine).", "",
             "| encoder | pipeline frames/s | encoder alone frames/s | pipeline / encoder | "
             "baseline frames/s | pipeline / baseline |",
             "| --- | --- | --- | --- | --- | --- |"]
    if args.memory_only:
        lines = [f"Device: {device}."]
    for arch, pipe, enc, base in rows:
        lines.append(f"| {arch} | {pipe['fps']:.1f} | {enc['fps']:.1f} | {pipe['fps'] / enc['fps']:.2f} | "
                     f"{base['fps']:.1f} | {pipe['fps'] / base['fps']:.2f}x |")
    if args.memory:
        sizes = (args.memory_videos[0], args.memory_videos[1])
        lines += ["", f"Memory of a fresh process running the pipeline ({args.archs[0]}, MTCNN, threads x1): "
                  "RSS once the models are loaded, the peak sampled every 50 ms during extraction, "
                  "and what extraction adds on top of the loaded models.", "",
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
