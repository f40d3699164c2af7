"""The store, checked before anything is built: its integrity, the train and dev splits, the
features the model reads (``features="auto"`` resolved), the statistics it is normalised with,
and the model options that depend on the data (feature dimensions, automatic positive weights,
the frame head of a store without fake periods).

>>> from voca_models.training.preflight import plan_store                      # doctest: +SKIP
>>> plan = plan_store("localizer", "lavdf.zarr", TrainConfig(), {"features": ("auto",)})  # doctest: +SKIP
>>> plan.train_split, plan.features                                            # doctest: +SKIP
('train', ('visual', 'audio', 'av_similarity', 'visual_similarity'))
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..configs import AUTO, AUTO_FEATURES, ModelConfig, TrainConfig
from ..data import StoreInfo

log = logging.getLogger(__name__)

__all__ = ["StorePlan", "auto_features", "auto_pos_weight", "check_store", "plan_store"]


@dataclass
class StorePlan:
    """Everything about the store a run needs, checked: the model's final config and the data
    it trains on."""

    info: StoreInfo
    model_config: ModelConfig
    train_split: str
    dev_split: str
    features: tuple[str, ...]
    feature_dims: dict[str, int]
    stats: dict[str, np.ndarray]
    ratios: dict[str, float]  #: fake ``frame`` and ``video`` ratios of the train split


def check_store(store: str | Path | Any) -> None:
    """Refuse a store that fails :func:`voca_data.store.check.quick_check`, naming the first
    problem and the command that lists them all."""
    from voca_data.store.check import quick_check

    broken = quick_check(store)
    if broken:
        raise ValueError(f"{store} fails the integrity check ({len(broken)} problem(s); first: "
                         f"{broken[0]}); run voca check {store}")


def auto_pos_weight(ratio: float, what: str, where: str) -> float:
    """``n_negative / n_positive`` from a positive ratio, clamped to [1e-3, 1e3].

    >>> auto_pos_weight(0.2, "frame", "lavdf.zarr")
    4.0
    """
    if ratio <= 0:
        raise ValueError(
            f"{where}: no fake {what}s in the training split, so an automatic pos_weight "
            f"(-1) is undefined and the model cannot learn fakes; check the split or labels"
        )
    return float(min(max((1.0 - ratio) / ratio, 1e-3), 1e3))


def auto_features(info: StoreInfo, split: str) -> tuple[str, ...]:
    """The per-frame features ``features="auto"`` resolves to on ``info``'s store: those of
    ``visual``, ``audio``, ``av_similarity`` and ``visual_similarity`` that the store has and that
    hold finite values in ``split`` (an ``av_similarity`` left NaN by a store finalized without the
    AV-sync fit is left out, with a warning).

    >>> from voca_models.data import StoreInfo
    >>> auto_features(StoreInfo.load("lavdf.zarr"), "train")          # doctest: +SKIP
    ('visual', 'audio', 'av_similarity', 'visual_similarity')
    """
    out = []
    for name in AUTO_FEATURES:
        if name not in info.frame_variables or info.feature_dims.get(name, 0) <= 0:
            continue
        if info.has_values(name, split):
            out.append(name)
        else:
            log.warning(
                "%s: per-frame feature %r holds no values (all NaN) in split %r; features=auto "
                "leaves it out%s",
                info.path,
                name,
                split,
                " (run `voca finalize` with the AV-sync fit to compute it)"
                if name == "av_similarity"
                else "",
            )
    if not out:
        raise ValueError(
            f"{info.path}: features=auto found none of {list(AUTO_FEATURES)} with values in split "
            f"{split!r} (per-frame variables: {list(info.frame_variables)}); extract the store first"
        )
    return tuple(out)


def _splits(info: StoreInfo, cfg: TrainConfig, store: Any) -> tuple[str, str]:
    train_split = info.resolve_split("train", cfg.train_split)
    dev_split = info.resolve_split("dev", cfg.dev_split)
    if train_split is None:
        raise ValueError(
            f"{store}: no training split found (splits {info.split_names}); set train_split"
        )
    if dev_split is None:
        raise ValueError(
            f"{store}: no dev/validation split found (splits {info.split_names}); set dev_split"
        )
    if train_split == dev_split:
        raise ValueError(
            f"train and dev split are both {train_split!r}: select on a held-out split"
        )
    info.check_split(train_split, "train")
    info.check_split(dev_split, "dev")
    return train_split, dev_split


def plan_store(
    model_name: str,
    store: str | Path | Any,
    cfg: TrainConfig,
    model_options: Mapping[str, Any],
    resume_meta: Mapping[str, Any] | None = None,
    resume_from: str | None = None,
) -> StorePlan:
    """Check ``store`` for training ``model_name`` with ``cfg`` and resolve ``model_options``
    against it (``ValueError`` naming the store and what to do on any problem)."""
    from ..checkpoint import check_feature_dims
    from ..models import make_config, model_class

    model_cls = model_class(model_name)
    mcfg_data = dict(model_options)
    check_store(store)
    info = StoreInfo.load(store)
    train_split, dev_split = _splits(info, cfg, store)
    requested = mcfg_data.get("features", model_cls.config_class().features)
    requested = (requested,) if isinstance(requested, str) else tuple(requested)
    if AUTO in requested:
        if requested != (AUTO,):
            raise ValueError(f"features {list(requested)}: 'auto' stands alone (it picks the features)")
        mcfg_data["features"] = auto_features(info, train_split)
        log.info("features=auto: %s", ", ".join(mcfg_data["features"]))
    mcfg_probe = make_config(
        model_name,
        {
            **mcfg_data,
            "visual_dim": info.feature_dims.get("visual", 0),
            "audio_dim": info.feature_dims.get("audio", 0),
        },
    )
    features = tuple(mcfg_probe.features)
    info.check_features(features, train_split)
    stats = info.check_stats(features)
    feature_dims = {f: int(info.feature_dims[f]) for f in features}
    if resume_meta is not None:
        check_feature_dims(resume_meta, info.feature_dims, str(resume_from))
    for key in ("visual_dim", "audio_dim"):
        given = mcfg_data.get(key)
        have = getattr(mcfg_probe, key)
        if given not in (None, 0, have):
            raise ValueError(f"{key}={given} does not match the store ({have})")
        mcfg_data[key] = have
    ratios = info.fake_ratios(train_split)
    if getattr(mcfg_probe, "frame_head", False) and "frame_head" not in mcfg_data and ratios["frame"] <= 0:
        mcfg_data["frame_head"] = False  # nothing to learn from: no fake periods
        log.info("frame_head off: split %r has no fake frames (no fake periods)", train_split)
    if model_cls.main_metric == "frame_auc":
        dev_ratio = info.fake_ratios(dev_split)["frame"]
        if ratios["frame"] <= 0 or dev_ratio <= 0:
            raise ValueError(
                f"{store}: the {model_name} model learns fake frames, but split "
                f"{train_split if ratios['frame'] <= 0 else dev_split!r} has no fake frames "
                "(no fake periods): use a video-level model (lstm, covfusion)"
            )
    for field_name, level in model_cls.auto_weights.items():
        if field_name == "frame_pos_weight" and not mcfg_data.get(
            "frame_head", getattr(mcfg_probe, "frame_head", False)
        ):
            continue  # no frame head: no frame loss to weigh
        if (
            mcfg_data.get(field_name, getattr(mcfg_probe, field_name)) is not None
            and float(mcfg_data.get(field_name, getattr(mcfg_probe, field_name))) < 0
        ):
            mcfg_data[field_name] = auto_pos_weight(ratios[level], level, str(store))
            log.info(
                "%s = %.3f (automatic: fake %s ratio %.4f in %r)",
                field_name,
                mcfg_data[field_name],
                level,
                ratios[level],
                train_split,
            )
    return StorePlan(
        info=info,
        model_config=make_config(model_name, mcfg_data),
        train_split=train_split,
        dev_split=dev_split,
        features=features,
        feature_dims=feature_dims,
        stats=stats,
        ratios=ratios,
    )
