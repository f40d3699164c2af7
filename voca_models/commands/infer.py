"""``voca infer``: predictions of a checkpoint on a store, a video file or a folder of videos."""

from __future__ import annotations

import argparse

HELP = "predict fake probability and fake segments for a store, a video or a folder of videos"
DESCRIPTION = """\
Predict every video of SOURCE: a voca store, one video file, or a directory of video files (searched
recursively). Raw videos are first extracted with the encoders recorded in the checkpoint's training
store (a mismatch of feature dimensions is refused), on CPU or GPU.

Output JSON: a list with, per video, {video_id, num_frames, video_prob, video_pred,
fake_ratio_pred, num_fake_frames_pred, segments: [[start_s, end_s, score], ...]} (segments highest
score first, at most 100; a video that could not be read has an "error" instead).

examples:
  voca infer runs/localizer lavdf.zarr --split test --out predictions.json
  voca infer runs/localizer clip.mp4 --plot plots/
  voca infer runs/localizer videos/ --device cuda --threshold 0.6 --work-dir features/
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint directory or training run directory (uses best/)")
    parser.add_argument("source", help="a store (.zarr/.h5), a video file, or a directory of videos")
    parser.add_argument("--out", default="predictions.json", help="output JSON (default: predictions.json)")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="decision threshold for video_pred and fake frames (default: 0.5)")
    parser.add_argument("--split", default=None, help="only this split of a store (default: all)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    parser.add_argument("--batch-size", type=int, default=8, help="videos per batch (default: 8)")
    parser.add_argument("--work-dir", default=None,
                        help="keep the features extracted from raw videos here (default: temporary)")
    parser.add_argument("--plot", metavar="DIR", default=None, help="write a timeline PNG per video to DIR")
    parser.add_argument("--max-plots", type=int, default=20, help="timelines to draw (default: 20)")
    parser.add_argument("--frame-probs", action="store_true", help="also write per-frame probabilities")
    parser.add_argument("--visual-weights", default=None, metavar="FILE",
                        help="visual encoder weights for raw videos (default: the checkpoint's, "
                             "only if it names none or an open_clip tag)")
    parser.add_argument("--audio-weights", default=None, metavar="DIR",
                        help="torchaudio bundle weights directory for raw videos")
    parser.add_argument("--av-reference", default=None, metavar="STORE",
                        help="store whose fitted AV synchrony scores raw videos (the training store)")
    parser.add_argument("--trust-checkpoint-paths", action="store_true",
                        help="follow the weight files and training store named in the checkpoint's "
                             "meta.json (off: a checkpoint never makes voca load outside files)")


def run(args: argparse.Namespace) -> int:
    from ..evaluate import write_results
    from ..infer import infer

    rows = infer(args.checkpoint, args.source, threshold=args.threshold, device=args.device,
                 batch_size=args.batch_size, split=args.split, work_dir=args.work_dir,
                 plot_dir=args.plot, max_plots=args.max_plots, keep_frame_probs=args.frame_probs,
                 progress=not args.no_progress, trust_checkpoint_paths=args.trust_checkpoint_paths,
                 extract_options={k: getattr(args, k) for k in
                                  ("visual_weights", "audio_weights", "av_reference")
                                  if getattr(args, k) is not None})
    out = write_results(rows, args.out)
    n_fake = sum(1 for r in rows if r.get("video_pred") == 1)
    failed = sum(1 for r in rows if r.get("error"))
    print(f"{len(rows)} video(s): {n_fake} predicted fake, {len(rows) - n_fake - failed} real"
          + (f", {failed} unreadable" if failed else "") + f" -> {out}")
    for r in rows[:10]:
        if r.get("error"):
            print(f"  {r['video_id']}: error: {r['error']}")
            continue
        top = r["segments"][0] if r["segments"] else None
        seg = f", top segment {top[0]:.2f}-{top[1]:.2f} s ({top[2]:.2f})" if top else ""
        print(f"  {r['video_id']}: P(fake) {r['video_prob']:.3f}{seg}")
    if len(rows) > 10:
        print(f"  ... ({len(rows) - 10} more in {out})")
    if args.plot:
        print(f"timelines: {args.plot}")
    return 0
