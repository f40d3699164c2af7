"""Use a store from another project: mean-pooled embeddings into a scikit-learn classifier.

    python examples/sklearn_classifier.py STORE [--train-split train] [--test-split test]

Only ``voca_data.open`` (xarray) is needed; no voca_models, no torch.
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import voca_data


def pooled(ds, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One row per extracted, labelled video: mean and std of visual and audio over its frames."""
    part = ds.sel(split=split)
    keep = np.nonzero((part.status.values == voca_data.Store.OK) & (part.label.values >= 0))[0]
    rows = []
    for i in keep:
        n = int(part.n_frames.values[i])
        video = part.isel(video=int(i), frame=slice(0, n))      # reads only this video's chunks
        v = video.visual.values.astype(np.float32)
        a = video.audio.values.astype(np.float32)
        rows.append(np.concatenate([np.nanmean(v, 0), np.nanstd(v, 0), np.nanmean(a, 0), np.nanstd(a, 0)]))
    ids = [str(x) for x in part.video_id.values[keep]]
    return np.nan_to_num(np.stack(rows)), part.label.values[keep].astype(int), ids


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--train-split", default="train")
    parser.add_argument("--test-split", default="test")
    args = parser.parse_args(argv)

    ds = voca_data.open(args.store, warn_incomplete=False)
    x_train, y_train, _ = pooled(ds, args.train_split)
    x_test, y_test, ids = pooled(ds, args.test_split)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.5))
    clf.fit(x_train, y_train)
    scores = clf.predict_proba(x_test)[:, 1]
    result = {"n_train": len(y_train), "n_test": len(y_test),
              "auc": float(roc_auc_score(y_test, scores)) if len(set(y_test)) == 2 else float("nan"),
              "ap": float(average_precision_score(y_test, scores)) if y_test.any() else float("nan")}
    print(f"{result['n_train']} train / {result['n_test']} test videos: "
          f"video AUC {result['auc']:.3f}, AP {result['ap']:.3f}")
    for vid, s, y in list(zip(ids, scores, y_test))[:5]:
        print(f"  {vid}: P(fake) {s:.3f} (label {y})")
    return result


if __name__ == "__main__":
    main()
