"""Open a store, select a split and plot one video's timeline.

    python examples/plot_timeline.py STORE [--split test] [--video VIDEO_ID] [--out timeline.png]

Everything here is plain xarray: ``voca_data.open`` returns a lazy ``xarray.Dataset`` whose
per-frame variables are read only for the video you select.
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import voca_data


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--split", default="test")
    parser.add_argument("--video", default=None, help="video id (default: the first fake video)")
    parser.add_argument("--out", default="timeline.png")
    args = parser.parse_args(argv)

    ds = voca_data.open(args.store, warn_incomplete=False)
    part = ds.sel(split=args.split)                      # plain xarray selection
    part = part.isel(video=np.nonzero(part.status.values == voca_data.Store.OK)[0])  # extracted only
    if args.video is None:   # the first fake video with fake frames on its timeline
        video = part.isel(video=0)
        for i in np.nonzero(part.label.values == 1)[0]:
            candidate = part.isel(video=int(i))
            if (candidate.frame_label.values[: int(candidate.n_frames)] == 1).any():
                video = candidate
                break
    else:
        video = part.sel(video_id=args.video)
    n = int(video.n_frames)
    t = (np.arange(n) + 0.5) / float(ds.attrs["fps"])   # frame centres in seconds

    fig, axes = plt.subplots(3, 1, figsize=(10, 6), sharex=True)
    periods = video.fake_periods.values
    for ax in axes:
        for start, end in periods[np.isfinite(periods).all(axis=1)]:
            ax.axvspan(start, end, color="tab:red", alpha=0.2, lw=0)
    axes[0].step(t, video.frame_label.values[:n], where="mid", color="tab:red")
    axes[0].set_ylabel("frame label")
    axes[1].plot(t, video.visual_similarity.values[:n], label="visual cos(t, t-1)")
    axes[1].plot(t, video.face_score.values[:n].astype(float), label="face score")
    axes[1].legend(fontsize=8)
    axes[2].plot(t, video.av_similarity.values[:n], color="tab:green")
    axes[2].set_ylabel("AV similarity")
    axes[2].set_xlabel("time (s)")
    axes[2].set_xlim(0, n / float(ds.attrs["fps"]))
    axes[0].set_title(f"{video.video_id.item()} ({args.split}, label {int(video.label)}, {n} frames)")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    plt.close(fig)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
