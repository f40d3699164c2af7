"""Evaluate someone else's predictions with the official LAV-DF temporal localization metrics.

    python examples/evaluate_predictions.py STORE PREDICTIONS.json [--split test] [--frames]

PREDICTIONS.json is the official format: ``{video: [[score, start, end], ...]}`` (highest score
first), keyed by the store's ``video_id`` (``test/000001``) or by the file path the official
evaluator uses (``test/000001.mp4``). Times are in seconds, or in frames at 25 fps with
``--frames`` (what the official BA-TFD post-processing writes).
Ground truth (fake periods, modify flags) comes from the store.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import voca_data
from voca_models import metrics


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("predictions")
    parser.add_argument("--split", default="test")
    parser.add_argument("--frames", action="store_true", help="times are frames at --fps")
    parser.add_argument("--fps", type=float, default=25.0)
    args = parser.parse_args(argv)

    ds = voca_data.open(args.store, warn_incomplete=False).sel(split=args.split)
    with open(args.predictions) as f:
        raw = json.load(f)
    truth, proposals = [], {}
    for i in range(ds.sizes["video"]):
        v = ds.isel(video=i)
        vid, path = str(v.video_id.item()), str(v.path.item())
        key = vid if vid in raw else path if path in raw else None
        if key is None:
            raise SystemExit(f"{args.predictions} has no entry for {vid} (nor {path})")
        periods = v.fake_periods.values
        truth.append({"video_id": vid, "fake_periods": periods[np.isfinite(periods).all(axis=1)].tolist(),
                      "modify_video": int(v.modify_video), "modify_audio": int(v.modify_audio)})
        proposals[vid] = raw[key]
    results = metrics.lavdf_metrics(proposals, truth, time_scale=args.fps if args.frames else 1.0)
    columns = ["AP@0.5", "AP@0.75", "AP@0.95", "AR@100", "AR@50", "AR@20", "AR@10"]
    print("| subset | " + " | ".join(columns) + " | videos |")
    print("|---" * (len(columns) + 2) + "|")
    for subset, row in results.items():
        print(f"| {subset} | " + " | ".join(f"{100 * row[c]:.2f}" for c in columns) + f" | {row['n_videos']} |")
    return results


if __name__ == "__main__":
    main()
