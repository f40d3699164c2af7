"""``voca train MODEL STORE --out DIR``: train a model of the zoo on a store.

Every option of the model's config and of the training config is a flag (``--d-model 256``,
``--no-cross-attn``, ``--pos-weight 5``, ``--epochs 50``, ``--batch-size 16``, ...; the LAV-DF
scripts' underscore spellings such as ``--d_model`` work too). ``--config FILE.json`` gives them
as ``{"model_config": {...}, "train_config": {...}}`` (or one flat object); flags override it.

Examples::

    voca train localizer lavdf.zarr --out runs/loc          # the tuned defaults, features auto
    voca train localizer lavdf.zarr --out runs/loc --epochs 50 --batch-size 8 --lr 1e-4
    voca train localizer lavdf.zarr --out runs/loc-nox --no-cross-attn --similarity-loss-weight 0
    voca train lstm ffdv.zarr --out runs/lstm --features visual audio av_similarity --use-focal
    voca train covfusion ffdv.zarr --out runs/cov --k 64 --alpha -1
    voca train localizer lavdf.zarr --resume runs/loc --epochs 80        # continue a run
    torchrun --nproc_per_node=4 -m voca_data.cli train localizer lavdf.zarr --out runs/loc   # DDP
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

HELP = "train a model (localizer, lstm, covfusion) on a store"
DESCRIPTION = __doc__

_SKIP = {"visual_dim", "audio_dim"}  # from the store

# the flags' help; the LAV-DF scripts' spellings are accepted as aliases (ALIASES)
HELP_TEXT = {
    "epochs": "maximum number of epochs",
    "batch_size": "windows per batch (per process under DDP)",
    "lr": "peak learning rate (AdamW)",
    "weight_decay": "AdamW weight decay",
    "scheduler": "cosine (warmup then cosine, per step), plateau (ReduceLROnPlateau on the dev metric) or constant",
    "warmup_epochs": "linear warmup length in epochs (cosine)",
    "min_lr_ratio": "cosine floor as a fraction of lr",
    "plateau_factor": "LR factor on plateau",
    "plateau_patience": "epochs without improvement before LR drops",
    "grad_clip": "max gradient norm (0: off)",
    "patience": "early stopping after this many epochs without dev improvement (0: off)",
    "seed": "random seed",
    "amp": "mixed precision on CUDA",
    "window": "frames per window (random crop in training; inference windows)",
    "train_split": "training split (default: train/trainset/training)",
    "dev_split": "selection split (default: dev/val/valset/validation)",
    "balanced": "draw real and fake videos equally often",
    "num_workers": "DataLoader workers",
    "max_videos": "use only the first N videos of each split (quick runs)",
    "device": "auto, cpu, cuda, cuda:N",
    "eval_batch_size": "batch size on the dev split (default: batch size)",
    "progress": "progress bars",
    "stop_after": "stop after N epochs in this invocation (resume later with --resume)",
    "frames_per_video": "video-level models: N frames of each window (0: every frame), as the Kaggle notebook samples frames",
    "frame_sampling": "uniform (evenly spaced) or random frames per window in training (--frames-per-video); prediction samples uniformly",
    "features": "per-frame store features the model reads: auto (default) takes those of visual, "
    "audio, av_similarity, visual_similarity that the store has and fills (the run's config.json "
    "and the checkpoint record the list), or name them (visual audio av_similarity face_score ...)",
    "d_model": "hidden size",
    "num_layers": "Transformer / LSTM layers",
    "nhead": "attention heads",
    "dim_feedforward": "Transformer feed-forward size (0: 2 x d_model)",
    "dropout": "dropout",
    "no_cross_attn": "ablation: no cross-modal attention (fuse by averaging)",
    "no_video_head": "ablation: no video head (video score = max frame logit)",
    "no_similarity": "ablation: no similarity input (and no similarity loss)",
    "conv_kernel": "frames of the residual depthwise temporal convolution before the encoder "
                   "(odd; 0: none)",
    "input_dropout": "dropout on the projected visual and audio frames (training)",
    "direct_head": "add a linear path from the per-frame scalars (similarity, extras) to the "
                   "frame logits",
    "pos_weight": "positive-class BCE weight (-1: automatic from the train split's fake ratio)",
    "use_focal": "focal loss instead of BCE",
    "focal_alpha": "focal alpha",
    "focal_gamma": "focal gamma",
    "video_loss_weight": "alpha: weight of the video loss",
    "smooth_loss_weight": "beta: temporal smoothness weight",
    "similarity_loss_weight": "gamma: weight of the similarity MSE to 1 - frame label",
    "hidden": "hidden size (LSTM units per direction / MLP)",
    "frame_head": "also predict frames",
    "frame_pos_weight": "frame BCE positive weight (-1: automatic)",
    "frame_loss_weight": "weight of the frame loss",
    "k": "covariance frames kept (k x k)",
    "channels": "CNN channels of the covariance branch",
    "alpha": "weight of cos(visual branch, audio branch) in the score",
}
ALIASES = {"window": ["--max-frames", "--max_frames"]}


def _fields() -> tuple[
    dict[str, dataclasses.Field], dict[str, dataclasses.Field], dict[str, list[str]]
]:
    from voca_models.configs import CONFIGS, TrainConfig  # no torch: help stays fast

    model_fields: dict[str, dataclasses.Field] = {}
    owners: dict[str, list[str]] = {}
    for name, config_class in sorted(CONFIGS.items()):
        for f in dataclasses.fields(config_class):
            if f.name in _SKIP:
                continue
            model_fields.setdefault(f.name, f)
            owners.setdefault(f.name, []).append(name)
    train_fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    return model_fields, train_fields, owners


def _kind(f: dataclasses.Field) -> str:
    t = str(f.type)
    for kind in ("tuple", "bool", "float", "int", "str"):
        if kind in t:
            return kind
    return "str"


def _add(group: Any, prefix: str, f: dataclasses.Field, help_text: str) -> None:
    dest = f"{prefix}{f.name}"
    help_text = HELP_TEXT.get(f.name, help_text) + (f" [{help_text}]" if prefix == "m__" else "")
    spell = lambda n: (
        [f"--{n.replace('_', '-')}"]
        + ([f"--{n}"] if "_" in n else [])  # noqa: E731
        + ALIASES.get(f.name, [])
    )
    kind = _kind(f)
    default = f.default if f.default is not dataclasses.MISSING else None
    if kind == "bool":
        if default is True:
            spellings = [(f"no_{f.name}", False, f"{help_text} (disable; default on)"),
                         (f.name, True, f"{help_text} (on: the default; for scripts that spell it out)")]
        else:
            spellings = [(f.name, True, f"{help_text} (default off)")]
        for name, const, text in spellings:
            group.add_argument(*spell(name), dest=dest, action="store_const", const=const,
                               default=None, help=text)
        return
    conv = {"float": float, "int": int, "str": str, "tuple": str}[kind]
    group.add_argument(
        *spell(f.name),
        dest=dest,
        type=conv,
        default=None,
        nargs="+" if kind == "tuple" else None,
        metavar=f.name.upper(),
        help=f"{help_text} (default {' '.join(default) if isinstance(default, tuple) else repr(default)})",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from voca_models.configs import CONFIGS

    parser.add_argument("model", choices=sorted(CONFIGS), help="model to train")
    parser.add_argument("store", help="a finalized store: a path or a URL (http(s)://, s3:// ...)")
    parser.add_argument(
        "--out",
        "--output-dir",
        "--output_dir",
        type=Path,
        default=None,
        help="run directory (default with --resume: the resumed run)",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="JSON file of model_config / train_config options"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run already in --out (default: refuse)",
    )
    parser.add_argument(
        "--resume", type=Path, default=None, help="continue a run (its last/ checkpoint)"
    )
    model_fields, train_fields, owners = _fields()
    tg = parser.add_argument_group("training options")
    for name, f in train_fields.items():
        _add(tg, "t__", f, "training")
    mg = parser.add_argument_group("model options (each applies to the models named)")
    for name, f in model_fields.items():
        _add(mg, "m__", f, "/".join(owners[name]))


def _read_config(path: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    if path is None:
        return {}, {}
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such config file")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    model = dict(data.pop("model_config", None) or data.pop("model", None) or {})
    train = dict(data.pop("train_config", None) or data.pop("train", None) or {})
    _, train_fields, _ = _fields()
    for key, value in data.items():  # a flat object: sort keys by owner
        (train if key in train_fields else model)[key] = value
    return model, train


def run(args: argparse.Namespace) -> int:
    import math

    from voca_models.models import model_class
    from voca_models.train import train

    model_config, train_config = _read_config(args.config)
    valid_model = {f.name for f in dataclasses.fields(model_class(args.model).config_class)}
    for key, value in vars(args).items():
        if value is None:
            continue
        if key.startswith("t__"):
            train_config[key[3:]] = value
        elif key.startswith("m__"):
            name = key[3:]
            if name not in valid_model:
                raise ValueError(
                    f"--{name.replace('_', '-')} is not an option of the {args.model} model "
                    f"(its options: {', '.join(sorted(valid_model - _SKIP))})"
                )
            model_config[name] = tuple(value) if isinstance(value, list) else value
    if getattr(args, "no_progress", False):  # -q, or --no-progress before the command
        train_config["progress"] = False
    if args.out is None and args.resume is None:
        raise ValueError("--out DIR is required (or --resume DIR)")
    summary = train(
        args.model,
        args.store,
        args.out,
        model_config=model_config,
        train_config=train_config,
        resume=args.resume,
        overwrite=args.overwrite,
    )
    best = summary["best_metric"]
    print(f"run:        {summary['out_dir']}")
    print(f"features:   {' '.join(summary.get('features', []))}")
    print(
        f"epochs:     {summary['last_epoch']}"
        + (" (stopped early)" if summary["stopped_early"] else "")
    )
    if math.isfinite(best):
        print(f"best dev {summary['main_metric']}: {best:.4f} (epoch {summary['best_epoch']})")
        print(f"checkpoint: {Path(summary['out_dir']) / 'best'}")
    return 0
