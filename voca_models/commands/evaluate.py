"""``voca evaluate``: every metric of a checkpoint on a store split, as JSON, a table and plots."""

from __future__ import annotations

import argparse

HELP = "evaluate a checkpoint on a store split (frame/video metrics, IoU, official LAV-DF AP/AR)"
DESCRIPTION = """\
Predict a split of a store with a checkpoint and compute every metric: frame level (AUC, AP, F1,
precision, recall over valid frames), video level (from the video head or the max/mean of the frame
probabilities), per-fake-video frame IoU (mean, median, std), and the official LAV-DF temporal
localization metrics AP@0.5/0.75/0.95 and AR@100/50/20/10 on the full, visual-only and audio-only
subsets (see docs/evaluation.md). Thresholds not given are chosen on the dev split (max F1).

The JSON holds the metrics and, per video, video_id, video_prob, frame_probs (n_frames long) and
segments ([[start_s, end_s, score], ...], highest score first).

examples:
  voca evaluate runs/localizer lavdf.zarr --split test --out results.json
  voca evaluate runs/localizer lavdf.zarr --threshold 0.5 --plot plots/ --max-plots 20
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint directory or training run directory (uses best/)")
    parser.add_argument("store", help="store to evaluate on (.zarr directory or .h5 file)")
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument("--out", default="results.json", help="results JSON (default: results.json)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="frame (and video) decision threshold (default: max F1 on --threshold-split)")
    parser.add_argument("--video-threshold", type=float, default=None,
                        help="video decision threshold (default: --threshold or chosen on dev)")
    parser.add_argument("--threshold-split", default="dev",
                        help="split on which missing thresholds are chosen (default: dev)")
    parser.add_argument("--video-score", choices=("head", "max", "mean"), default="head",
                        help="video score: the model's video head, or max/mean of frame probabilities")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    parser.add_argument("--batch-size", type=int, default=8, help="videos per batch (default: 8)")
    parser.add_argument("--plot", metavar="DIR", default=None,
                        help="write the summary sheet and per-video timelines (PNG) to DIR")
    parser.add_argument("--max-plots", type=int, default=8, help="timelines to draw (default: 8)")


def run(args: argparse.Namespace) -> int:
    from ..evaluate import evaluate, plot_evaluation, write_results
    from ..tables import results_table

    results = evaluate(args.checkpoint, args.store, split=args.split, threshold=args.threshold,
                       video_threshold=args.video_threshold, video_score=args.video_score,
                       threshold_split=args.threshold_split, batch_size=args.batch_size,
                       device=args.device, progress=not args.no_progress)
    out = write_results(results, args.out)
    print(results_table(results))
    print(f"\nresults: {out}")
    if args.plot:
        paths = plot_evaluation(results, args.store, args.plot, max_plots=args.max_plots)
        print(f"plots: {paths[0]} and {len(paths) - 1} timeline(s) in {args.plot}")
    return 0
