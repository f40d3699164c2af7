"""Plug a custom PyTorch model into ``VideoDataset`` and the voca training loop.

    python examples/custom_model.py STORE [--out runs/custom] [--epochs 3]

1. read batches of a store with :class:`voca_data.torch.VideoDataset` (what every model sees);
2. write a model: a subclass of ``voca_models.models.VideoModel`` with a config dataclass, a
   ``forward(batch) -> {"frame_logits", "video_logit"}`` and ``loss_terms``;
3. register it, then ``voca_models.train`` gives it checkpoints, early stopping, resume, and
   ``voca_models.evaluate`` every metric, like the zoo models.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader

import voca_models
from voca_data.torch import VideoDataset, collate
from voca_models.evaluate import evaluate
from voca_models.losses import Term
from voca_models.models import MODELS, ModelConfig, VideoModel


@dataclass
class ConvConfig(ModelConfig):
    hidden: int = 32
    kernel: int = 5


class TemporalConv(VideoModel):
    """Two temporal convolutions over the concatenated visual and audio features."""

    name = "temporal-conv"
    config_class = ConvConfig
    main_metric = "frame_auc"

    def __init__(self, config: ConvConfig):
        super().__init__(config)
        d_in = config.visual_dim + config.audio_dim
        self.net = nn.Sequential(
            nn.Conv1d(d_in, config.hidden, config.kernel, padding=config.kernel // 2), nn.GELU(),
            nn.Conv1d(config.hidden, 1, config.kernel, padding=config.kernel // 2))

    def forward(self, batch):
        mask = batch["mask"].bool()
        x = torch.cat([batch["visual"], batch["audio"]], dim=-1).float()
        x = torch.where(mask[..., None], torch.nan_to_num(x), torch.zeros_like(x))
        frame_logits = self.net(x.transpose(1, 2)).squeeze(1)
        frame_logits = frame_logits.masked_fill(~mask, -1e4)
        video_logit = frame_logits.max(dim=1).values        # a video is as fake as its most fake frame
        return {"frame_logits": frame_logits.masked_fill(~mask, 0.0), "video_logit": video_logit}

    def loss_terms(self, batch, out):
        mask = batch["mask"].bool()
        labels = batch["frame_label"]
        valid = mask & (labels >= 0)
        frame = nn.functional.binary_cross_entropy_with_logits(
            out["frame_logits"][valid], labels[valid].float(), reduction="sum")
        known = batch["label"].reshape(-1) >= 0
        video = nn.functional.binary_cross_entropy_with_logits(
            out["video_logit"][known], batch["label"].reshape(-1)[known].float(), reduction="sum")
        return {"frame": Term(1.0, frame, valid.sum()), "video": Term(0.3, video, known.sum())}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--out", default="runs/custom")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)

    # 1. what a model receives: dicts of tensors, windows of frames, padded and masked
    data = VideoDataset(args.store, split="train", window=64, features=("visual", "audio"))
    batch = next(iter(DataLoader(data, batch_size=4, collate_fn=collate)))
    print({k: tuple(v.shape) for k, v in batch.items()})

    # 2-3. register the model and train it with the zoo's training loop
    MODELS[TemporalConv.name] = TemporalConv
    voca_models.train(TemporalConv.name, args.store, args.out, model_config={"hidden": 16},
                      train_config={"epochs": args.epochs, "window": 64, "device": "cpu",
                                    "progress": False, "seed": 0, "lr": 3e-3})
    results = evaluate(args.out, args.store, split="test")
    m = results["metrics"]
    print(f"frame AUC {m['frame']['auc']:.3f}, video AUC {m['video']['auc']:.3f}, "
          f"AP@0.5 {m['lavdf']['full']['AP@0.5']:.3f}")
    return results


if __name__ == "__main__":
    main()
