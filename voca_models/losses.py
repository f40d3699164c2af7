"""Loss terms shared by the models, written as (sum, count) pairs so that data-parallel training
normalises by the *global* number of valid frames/videos and matches single-process training exactly.

A model's ``loss_terms(batch, out)`` returns ``{name: Term(weight, total, count)}``;
:func:`reduce_terms` turns them into one scalar loss.

>>> import torch
>>> from voca_models.losses import Term, reduce_terms, bce_sum
>>> logits, target = torch.zeros(2, 3), torch.tensor([[1., 0, 0], [0, 0, 1]])
>>> valid = torch.ones(2, 3, dtype=torch.bool)
>>> total, count = bce_sum(logits, target, valid)
>>> loss, logs = reduce_terms({"frame": Term(1.0, total, count)})
>>> round(float(loss), 4)
0.6931
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "Term",
    "reduce_terms",
    "bce_sum",
    "focal_sum",
    "smoothness_sum",
    "mse_sum",
    "masked_mean",
    "masked_max",
]


@dataclass
class Term:
    """One loss term: ``weight * total / count`` (``count`` summed over processes under DDP)."""

    weight: float
    total: Tensor
    count: Tensor


def reduce_terms(terms: dict[str, Term], world_size: int = 1) -> tuple[Tensor, dict[str, float]]:
    """Combine loss terms into one scalar.

    With ``world_size > 1`` (inside an initialised ``torch.distributed`` group) the counts are
    summed across processes, and each term is scaled by ``world_size`` so that DDP's gradient
    averaging yields exactly the gradient of the loss over the global batch.
    Returns ``(loss, logs)``; ``logs`` holds each term's local mean (for progress display).
    """
    if not terms:
        raise ValueError("no loss terms")
    counts = torch.stack([t.count.detach().float().reshape(()) for t in terms.values()])
    if world_size > 1:
        import torch.distributed as dist

        counts = counts.clone()
        dist.all_reduce(counts, op=dist.ReduceOp.SUM)
    loss = None
    logs: dict[str, float] = {}
    for (name, term), count in zip(terms.items(), counts):
        value = term.total * (world_size / count.clamp_min(1.0))
        local = float(term.total.detach()) / max(float(term.count.detach()), 1.0)
        logs[name] = local
        if term.weight:
            loss = term.weight * value if loss is None else loss + term.weight * value
    if loss is None:  # every weight is zero: keep the graph alive
        loss = sum(t.total * 0.0 for t in terms.values())
    logs["loss"] = float(loss.detach()) / world_size
    return loss, logs


def bce_sum(
    logits: Tensor, target: Tensor, valid: Tensor, pos_weight: float = 1.0
) -> tuple[Tensor, Tensor]:
    """Binary cross-entropy (with logits) summed over ``valid`` entries, and their count."""
    logits = logits.float()
    target = target.float().clamp(0, 1)
    pw = torch.as_tensor(float(pos_weight), dtype=logits.dtype, device=logits.device)
    per = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pw, reduction="none")
    per = torch.where(valid, per, torch.zeros_like(per))
    return per.sum(), valid.sum()


def focal_sum(
    logits: Tensor, target: Tensor, valid: Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> tuple[Tensor, Tensor]:
    """Focal loss (Lin et al. 2017) summed over ``valid`` entries; ``alpha`` weighs positives."""
    logits = logits.float()
    target = target.float().clamp(0, 1)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * target + (1 - p) * (1 - target)
    a_t = alpha * target + (1 - alpha) * (1 - target) if alpha >= 0 else torch.ones_like(target)
    per = a_t * (1 - p_t).pow(gamma) * ce
    per = torch.where(valid, per, torch.zeros_like(per))
    return per.sum(), valid.sum()


def smoothness_sum(frame_logits: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Temporal smoothness: squared difference of consecutive frame probabilities, summed over
    pairs of valid neighbours."""
    p = torch.sigmoid(frame_logits.float())
    pair = mask[:, 1:] & mask[:, :-1]
    diff = (p[:, 1:] - p[:, :-1]).pow(2)
    diff = torch.where(pair, diff, torch.zeros_like(diff))
    return diff.sum(), pair.sum()


def mse_sum(value: Tensor, target: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    """Squared error summed over ``valid`` entries."""
    per = (value.float() - target.float()).pow(2)
    per = torch.where(valid, per, torch.zeros_like(per))
    return per.sum(), valid.sum()


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean over time of ``x`` (B, T, D) using only frames where ``mask`` (B, T) is true."""
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


def masked_max(x: Tensor, mask: Tensor) -> Tensor:
    """Max over time of ``x`` (B, T) or (B, T, D) using only frames where ``mask`` is true."""
    m = mask if x.dim() == mask.dim() else mask.unsqueeze(-1)
    return torch.where(m, x, torch.full_like(x, float("-inf"))).amax(1)
