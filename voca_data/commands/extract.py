"""``voca extract SOURCE ROOT OUT.zarr``: features of a dataset into a store, then finalize.

Example::

    voca extract lavdf /data/LAV-DF lavdf.zarr --visual-weights clip-vit-b-32.bin --cpu-workers 15
    voca extract folder /data/clips clips.zarr --scheduler tcp://10.0.0.5:8786   # a dask cluster
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "extract features of a dataset (a source: lavdf, ffdv, folder, ...) into a Zarr store, then finalize"
DESCRIPTION = HELP + """

Creates OUT (or resumes it: only blocks with pending videos are run, after checking that the
manifest and every content setting match the store's; --retry-failed also redoes failed videos).
A pipeline runs the blocks of --block-size videos: --cpu-workers processes decode, detect faces
and crop, one encoder per device embeds, a writer writes whole shards. A bad video becomes a
failed record with the reason; the rest goes on. After extraction the store is finalized (train
statistics, AV synchrony fit, complete flag) unless --no-finalize. SOURCE is one of the installed
sources (the voca.sources entry points: voca's lavdf, ffdv, folder and any other package's). See
docs/extraction.md and docs/datasets.md."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from voca_data.extract import ExtractConfig

    from voca_data.sources import available

    from ._sources import add_source_arguments

    d = ExtractConfig()
    parser.add_argument("source", choices=available(), help="dataset layout (installed sources)")
    parser.add_argument("root", type=Path, help="dataset root directory")
    parser.add_argument("out", type=Path, help="output store (.zarr); resumed if it exists")
    add_source_arguments(parser.add_argument_group("source options"))
    g = parser.add_argument_group("encoders")
    g.add_argument("--visual-arch", default=None,
                   help=f"open_clip architecture, timm:NAME (a timm model, e.g. timm:resnet50), or "
                        f"voca-tiny for tests (default {d.visual_arch})")
    g.add_argument("--visual-weights", default=None,
                   help="weights: a local file, an HF cache/hub tag; default random weights "
                        "(recorded as pretrained: false, for testing only)")
    g.add_argument("--audio-encoder", default=None,
                   help="logmel, wav2vec2_base, hubert_large, wavlm_large (default logmel)")
    g.add_argument("--audio-weights", default=None, help="directory holding the torchaudio bundle weights")
    g.add_argument("--detector", default=None, help="mtcnn (default), face_alignment, center")
    g.add_argument("--detect-every", type=int, default=None,
                   help=f"run the face detector every N frames (default {d.detect_every})")
    g.add_argument("--min-face-size", type=int, default=None,
                   help="mtcnn: smallest face searched for, in pixels of the detection frame "
                        "(default 15%% of its shorter side, at least 20); smaller is slower")
    g.add_argument("--detect-threshold", type=float, default=None,
                   help=f"lowest detector confidence kept as a face (default {d.detect_threshold})")
    g.add_argument("--detect-max-side", type=int, default=None,
                   help=f"mtcnn: downscale frames whose longer side exceeds this, for detection "
                        f"only (default {d.detect_max_side}); lower is faster when faces are large")
    g.add_argument("--crop-size", type=int, default=None, help="lower-face crop side (default: the encoder's)")
    r = parser.add_argument_group("execution")
    r.add_argument("--block-size", type=int, default=None,
                   help=f"videos per block task and per shard (default {d.block_size}; new stores only)")
    r.add_argument("--batch-size", type=int, default=None,
                   help=f"crops per visual-encoder batch (default {d.batch_size}; a resumed store "
                        "keeps its own unless given)")
    r.add_argument("--scheduler", default="pipeline",
                   help="pipeline (default, this node), synchronous (the reference per-block "
                        "path, for debugging), or tcp://HOST:PORT of a running dask.distributed "
                        "scheduler (each worker node runs the pipeline); threads and processes "
                        "(voca 1) are read as pipeline")
    r.add_argument("--cpu-workers", type=int, default=None,
                   help="CPU worker processes decoding, detecting and cropping, per node "
                        "(default: cores - 1; 0: in the encoder's process)")
    r.add_argument("--workers", type=int, default=None, help=argparse.SUPPRESS)
    r.add_argument("--device", default="auto", help="auto (default), cpu, cuda")
    r.add_argument("--gpus", type=int, default=None,
                   help="with --device cuda: GPUs of the node to use, one encoder each (default all)")
    r.add_argument("--retry-failed", action="store_true", help="redo failed videos (their blocks)")
    r.add_argument("--no-finalize", action="store_true", help="leave the store unfinalized")
    r.add_argument("--strict", action="store_true",
                   help="fail a video whose metadata (frame count, fake periods) disagrees with its "
                        "media by more than 0.05 s (default: a 'label note' in its notes, labels "
                        "from the media's timeline)")
    r.add_argument("--av-window", type=int, default=d.av_window,
                   help=f"AV synchrony window in frames (default {d.av_window})")
    r.add_argument("--av-pca", type=int, default=d.av_pca,
                   help=f"PCA components per stream for AV synchrony (default {d.av_pca})")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace):
    from voca_data.extract import ExtractConfig

    d = ExtractConfig()
    return ExtractConfig(
        **_given_content_options(args),
        block_size=args.block_size or d.block_size, batch_size=args.batch_size or d.batch_size,
        device=args.device, strict=args.strict,
        av_window=args.av_window, av_pca=args.av_pca,
    )


def _given_content_options(args: argparse.Namespace) -> dict:
    """Content settings given on the command line (compared with the store's when resuming, so
    ``--detector mtcnn`` on a ``center`` store is refused instead of silently ignored)."""
    names = ("visual_arch", "visual_weights", "audio_encoder", "audio_weights", "detector",
             "detect_every", "min_face_size", "detect_threshold", "detect_max_side", "crop_size")
    return {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}


def run(args: argparse.Namespace) -> int:
    from voca_data.extract import extract, ExtractConfig

    if (args.out / "zarr.json").exists():
        # resume with the store's own settings; execution options come from the command line,
        # and a content option given explicitly must match the store's (else a clear error)
        overrides = {"device": args.device, "strict": args.strict}
        if args.batch_size:
            overrides["batch_size"] = args.batch_size
        overrides.update(_given_content_options(args))
        config = ExtractConfig.from_store(args.out, **overrides)
    else:
        config = config_from_args(args)
    from ._sources import records_from_args

    records = records_from_args(args.source, args.root, args)
    info = {"name": args.source}
    extract(records, args.root, args.out, config, scheduler=args.scheduler,
            cpu_workers=args.cpu_workers if args.cpu_workers is not None else args.workers,
            gpus=args.gpus, retry_failed=args.retry_failed, finalize=not args.no_finalize,
            progress=not args.no_progress, dataset_info=info)
    import warnings

    from voca_data.store.handle import IncompleteStoreWarning, Store

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteStoreWarning)  # the counts below say it
        store = Store.open(args.out)
    n = store.counts()
    print(f"{args.out}: {n['ok']} ok, {n['failed']} failed, {n['pending']} pending; "
          f"complete={store.attrs.get('complete')}")
    return 0
