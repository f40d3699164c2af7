"""``lstm``: a bidirectional LSTM sequence classifier over per-frame store features.

It replaces the ResNet50 + BiLSTM + attention notebook pipeline that ran on raw frames: the
frame encoder is now the store's (CLIP) embedding, so training needs no images.

::

    Σ_f Linear_f(feature f) over visual | audio | both (| scalar extras) ─ LN+GELU ─ BiLSTM (packed)
        ─ h (B,T,2H) ─ multi-head self-attention (masked) + residual + LN ─ h'
        ├─ attention pooling (learned query, masked, nhead) ─ MLP ─ video_logit (B,)
        └─ (frame_head, default on) Linear ─ frame_logits (B,T)

Loss = video BCE(pos_weight) or focal (+ frame_loss_weight · frame BCE when ``frame_head``).
The video score is the head's or the mean of the top-k frame probabilities, whichever scores
better on the dev split (chosen by :func:`voca_models.train`, recorded in the checkpoint).

>>> import torch
>>> from voca_models import build
>>> m = build("lstm", visual_dim=16, audio_dim=8, hidden=16, num_layers=1, nhead=2)
>>> b = {"visual": torch.randn(2, 10, 16), "audio": torch.randn(2, 10, 8),
...      "mask": torch.ones(2, 10, dtype=torch.bool)}
>>> m(b)["video_logit"].shape
torch.Size([2])
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..losses import Term
from ..configs import LSTMConfig
from .base import (
    FeatureProjection,
    VideoModel,
    lengths_of,
    video_and_frame_terms,
    zero_padding,
)


class LSTMClassifier(VideoModel):
    name = "lstm"
    config_class = LSTMConfig
    main_metric = "video_auc"
    auto_weights = {"pos_weight": "video", "frame_pos_weight": "frame"}

    def __init__(self, config: LSTMConfig):
        super().__init__(config)
        config.check()
        if not config.features:
            raise ValueError("lstm needs at least one feature (visual, audio or both)")
        h = config.hidden
        if (2 * h) % config.nhead:
            raise ValueError(f"2 × hidden ({2 * h}) must be divisible by nhead ({config.nhead})")
        self.proj = FeatureProjection({f: config.feature_dim(f) for f in config.features}, h)
        self.inp = nn.Sequential(nn.LayerNorm(h), nn.GELU(), nn.Dropout(config.dropout))
        self.lstm = nn.LSTM(
            h,
            h,
            num_layers=config.num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.attn = nn.MultiheadAttention(
            2 * h, config.nhead, dropout=config.dropout, batch_first=True
        )
        self.norm = nn.LayerNorm(2 * h)
        self.query = nn.Parameter(torch.randn(1, 1, 2 * h) * 0.02)
        self.pool = nn.MultiheadAttention(
            2 * h, config.nhead, dropout=config.dropout, batch_first=True
        )
        self.head = nn.Sequential(
            nn.Linear(2 * h, h), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(h, 1)
        )
        self.frame_out = nn.Linear(2 * h, 1) if config.frame_head else None

    @property
    def frame_level(self) -> bool:
        return self.frame_out is not None

    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor | None]:
        mask = batch["mask"].bool()
        lengths = lengths_of(mask)
        x = self.inp(self.proj(batch, mask))
        packed = pack_padded_sequence(
            x, lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = self.lstm(packed)
        h, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        pad = ~mask
        h2, _ = self.attn(h, h, h, key_padding_mask=pad, need_weights=False)
        h = zero_padding(self.norm(h + h2), mask)
        q = self.query.expand(h.shape[0], -1, -1)
        pooled, _ = self.pool(q, h, h, key_padding_mask=pad, need_weights=False)
        video_logit = self.head(pooled.squeeze(1)).squeeze(-1)
        frame_logits = None
        if self.frame_out is not None:
            frame_logits = self.frame_out(h).squeeze(-1)
            frame_logits = torch.where(mask, frame_logits, torch.zeros_like(frame_logits))
        return {"frame_logits": frame_logits, "video_logit": video_logit}

    def loss_terms(self, batch: Mapping[str, Tensor], out: Mapping[str, Tensor]) -> dict[str, Term]:
        return video_and_frame_terms(self, batch, out)
