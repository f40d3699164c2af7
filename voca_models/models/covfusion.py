"""``covfusion``: the Multi-FFDV covariance idea on store features (video-level).

::

    visual (B,T,Dv) ─ centre over valid frames ─ C = Xc Xcᵀ / Dv (T×T frame-by-frame covariance)
        ─ keep the k rows of largest energy (and the same columns), in time order ─ k×k
          (zero-padded when a video has fewer than k frames)
        ─ small CNN (3 strided convs, pool 4×4) ─ Linear ─ visual branch zv (B,d)
    audio (B,T,Da) (| scalar extras) ─ Σ per-feature Linear ─ GELU ─ Linear ─ [masked mean, masked max] ─ Linear ─ za (B,d)
    score = MLP([zv, za]) + α · cos(zv, za)                                  ─ video_logit (B,)
    (frame_head, default on) [per-frame audio branch, Linear(visual)] ─ MLP ─ frame_logits (B,T)

Loss = video BCE(pos_weight) or focal (+ frame_loss_weight · frame BCE when ``frame_head``).
The video score is the head's or the mean of the top-k frame probabilities, whichever scores
better on the dev split (chosen by :func:`voca_models.train`, recorded in the checkpoint).

>>> import torch
>>> from voca_models import build
>>> m = build("covfusion", visual_dim=16, audio_dim=8, k=8, d_model=16, hidden=16)
>>> b = {"visual": torch.randn(2, 10, 16), "audio": torch.randn(2, 10, 8),
...      "mask": torch.ones(2, 10, dtype=torch.bool)}
>>> m(b)["video_logit"].shape
torch.Size([2])
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..losses import Term, masked_max, masked_mean
from ..configs import CovFusionConfig
from .base import (
    FeatureProjection,
    VideoModel,
    video_and_frame_terms,
    zero_padding,
)


def top_energy_covariance(visual: Tensor, mask: Tensor, k: int) -> Tensor:
    """(B, k, k) frame-by-frame covariance of the centred visual sequence restricted to the k
    frames whose covariance rows have the largest energy (sum of squares), kept in time order.
    Videos shorter than k are zero-padded."""
    x = zero_padding(visual.float(), mask)
    b, t, d = x.shape
    if t < k:
        x = F.pad(x, (0, 0, 0, k - t))
        mask = F.pad(mask, (0, k - t))
        t = k
    mean = masked_mean(x, mask)
    xc = zero_padding(x - mean[:, None, :], mask)
    cov = xc @ xc.transpose(1, 2) / max(d, 1)
    energy = cov.pow(2).sum(-1)
    energy = torch.where(mask, energy, torch.full_like(energy, float("-inf")))
    idx = energy.topk(k, dim=1).indices.sort(dim=1).values
    rows = torch.gather(cov, 1, idx[:, :, None].expand(b, k, t))
    out = torch.gather(rows, 2, idx[:, None, :].expand(b, k, k))
    sel = torch.gather(mask, 1, idx)
    keep = sel[:, :, None] & sel[:, None, :]
    return torch.where(keep, out, torch.zeros_like(out))


class CovFusion(VideoModel):
    name = "covfusion"
    config_class = CovFusionConfig
    main_metric = "video_auc"
    auto_weights = {"pos_weight": "video", "frame_pos_weight": "frame"}

    def __init__(self, config: CovFusionConfig):
        super().__init__(config)
        config.check(required=("visual", "audio"))
        if config.k < 2:
            raise ValueError(f"k must be >= 2, got {config.k}")
        c, d = config.channels, config.d_model
        self.cnn = nn.Sequential(
            nn.Conv2d(1, c, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1),
            nn.GELU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(4 * c * 16, d),
        )
        self.audio_features = tuple(f for f in config.features if f != "visual")
        self.audio_proj = FeatureProjection(
            {f: config.feature_dim(f) for f in self.audio_features}, d
        )
        self.audio_mlp = nn.Sequential(nn.GELU(), nn.Linear(d, d))
        self.audio_out = nn.Linear(2 * d, d)
        self.head = nn.Sequential(
            nn.Linear(2 * d, config.hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, 1),
        )
        if config.frame_head:
            self.frame_visual = nn.Linear(config.visual_dim, d)
            self.frame_out = nn.Sequential(
                nn.GELU(), nn.Dropout(config.dropout), nn.Linear(2 * d, config.hidden), nn.GELU(),
                nn.Linear(config.hidden, 1),
            )
        else:
            self.frame_visual = self.frame_out = None

    @property
    def frame_level(self) -> bool:
        return self.frame_out is not None

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor | None]:
        mask = batch["mask"].bool()
        cov = top_energy_covariance(batch["visual"], mask, self.config.k)
        zv = self.cnn(cov.unsqueeze(1))
        a = self.audio_mlp(self.audio_proj(batch, mask))
        za = self.audio_out(torch.cat([masked_mean(a, mask), masked_max(a, mask)], dim=-1))
        agreement = F.cosine_similarity(zv, za, dim=-1, eps=1e-6)
        video_logit = (
            self.head(torch.cat([zv, za], dim=-1)).squeeze(-1) + self.config.alpha * agreement
        )
        frame_logits = None
        if self.frame_out is not None:
            fv = self.frame_visual(zero_padding(batch["visual"].float(), mask))
            frame_logits = self.frame_out(torch.cat([a, fv], dim=-1)).squeeze(-1)
            frame_logits = torch.where(mask, frame_logits, torch.zeros_like(frame_logits))
        return {
            "frame_logits": frame_logits,
            "video_logit": video_logit,
            "agreement": agreement,
            "covariance": cov,
        }

    def loss_terms(self, batch: Mapping[str, Tensor], out: Mapping[str, Tensor]) -> dict[str, Term]:
        return video_and_frame_terms(self, batch, out)
