"""Models: shapes, masks honoured, gradients, config errors, the covariance branch, losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voca_models import build, list_models
from voca_models.losses import Term, bce_sum, focal_sum, reduce_terms, smoothness_sum
from voca_models.models import make_config
from voca_models.models.covfusion import top_energy_covariance

DV, DA = 12, 6
SMALL = {
    "localizer": dict(d_model=16, num_layers=2, nhead=4, dropout=0.0),
    "localizer-ablations": dict(
        d_model=16,
        num_layers=1,
        nhead=2,
        dropout=0.0,
        no_cross_attn=True,
        no_video_head=True,
        no_similarity=True,
    ),
    # the temporal convolution (padding zeroed before it), input dropout, the direct scalar path
    "localizer-conv": dict(
        d_model=16,
        num_layers=1,
        nhead=4,
        dropout=0.0,
        conv_kernel=5,
        input_dropout=0.1,
        direct_head=True,
        features=("visual", "audio", "av_similarity"),
    ),
    "lstm": dict(hidden=8, num_layers=2, nhead=2, dropout=0.0, frame_head=True),
    "lstm-visual": dict(hidden=8, num_layers=1, nhead=2, dropout=0.0, features=("visual",)),
    "covfusion": dict(k=8, d_model=8, hidden=8, channels=4, dropout=0.0),
    "covfusion-long": dict(k=4, d_model=8, hidden=8, channels=4, dropout=0.0),  # T > k: selection
}


def _name(key: str) -> str:
    return key.split("-")[0]


def _batch(lengths=(20, 13, 5), t=20, seed=0, pad_value=0.0):
    g = torch.Generator().manual_seed(seed)
    b = len(lengths)
    mask = torch.arange(t)[None, :] < torch.tensor(lengths)[:, None]
    visual = torch.randn(b, t, DV, generator=g)
    audio = torch.randn(b, t, DA, generator=g)
    frame_label = torch.randint(0, 2, (b, t), generator=g)
    frame_label[~mask] = -1
    visual[~mask] = pad_value
    audio[~mask] = pad_value
    return {
        "visual": visual,
        "audio": audio,
        "mask": mask,
        "frame_label": frame_label,
        "label": torch.tensor([1, 0, 1][:b]),
        "av_similarity": torch.randn(b, t, generator=g),
    }


def _model(key: str):
    torch.manual_seed(0)
    return build(_name(key), visual_dim=DV, audio_dim=DA, **SMALL[key])


def test_registry():
    assert list_models() == ["covfusion", "localizer", "lstm"]
    with pytest.raises(ValueError, match="unknown model 'resnet'.*localizer"):
        build("resnet", visual_dim=4, audio_dim=4)
    with pytest.raises(ValueError, match="unknown option.*d_modle"):
        build("localizer", visual_dim=4, audio_dim=4, d_modle=8)
    with pytest.raises(ValueError, match="visual_dim must be set"):
        build("localizer", audio_dim=4)
    with pytest.raises(ValueError, match="divisible by nhead"):
        build("localizer", visual_dim=4, audio_dim=4, d_model=10, nhead=4)
    with pytest.raises(ValueError, match="conv_kernel must be odd"):
        build("localizer", visual_dim=4, audio_dim=4, d_model=8, nhead=4, conv_kernel=4)
    with pytest.raises(ValueError, match="needs the 'audio' feature"):
        build("covfusion", visual_dim=4, audio_dim=4, features=("visual",))
    cfg = make_config("localizer", {"d_model": 64}, num_layers=2)
    assert (
        cfg.d_model,
        cfg.num_layers,
        cfg.video_loss_weight,
        cfg.smooth_loss_weight,
        cfg.similarity_loss_weight,
    ) == (64, 2, 0.3, 0.1, 0.2)
    # the defaults chosen by benchmarks/defaults.py (docs/models.md, "Default configuration")
    assert make_config("localizer").d_model == 128 and make_config("localizer").num_layers == 1
    assert make_config("localizer").conv_kernel == 9
    assert make_config("localizer").features == ("auto",)
    assert type(cfg).from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("key", list(SMALL))
def test_forward_shapes_and_mask(key):
    model = _model(key).eval()
    batch = _batch()
    out = model(batch)
    b, t = batch["mask"].shape
    assert out["video_logit"].shape == (b,)
    if model.frame_level:
        assert out["frame_logits"].shape == (b, t)
    else:
        assert out["frame_logits"] is None
    # change everything on padded frames (even NaN): outputs on valid frames stay the same
    noisy = dict(batch)
    pad = ~batch["mask"]
    noisy["visual"] = batch["visual"].clone()
    noisy["visual"][pad] = torch.randn(int(pad.sum()), DV) * 50
    noisy["audio"] = batch["audio"].clone()
    noisy["audio"][pad] = float("nan")
    out2 = model(noisy)
    torch.testing.assert_close(out2["video_logit"], out["video_logit"], rtol=0, atol=1e-5)
    if model.frame_level:
        m = batch["mask"]
        torch.testing.assert_close(
            out2["frame_logits"][m], out["frame_logits"][m], rtol=0, atol=1e-5
        )
        assert torch.isfinite(out2["frame_logits"]).all()
    # and a video alone gives what it gives inside a padded batch
    single = {k: v[1:2, :13] if v.dim() > 1 else v[1:2] for k, v in batch.items()}
    alone = model(single)
    torch.testing.assert_close(alone["video_logit"], out["video_logit"][1:2], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("key", list(SMALL))
def test_backward_on_padded_batch(key):
    model = _model(key).train()
    batch = _batch()
    batch["visual"][~batch["mask"]] = float("nan")  # padding content must not reach the loss
    out = model(batch)
    loss, logs = reduce_terms(model.loss_terms(batch, out))
    assert torch.isfinite(loss) and logs["loss"] > 0
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_localizer_similarity_is_cosine_of_projections():
    model = _model("localizer").eval()
    batch = _batch()
    out = model(batch)
    sim = out["similarity"]
    assert sim[batch["mask"]].abs().max() <= 1.0 + 1e-6
    v = model.v_proj(batch["visual"])
    a = model.a_proj(batch["audio"])
    expected = torch.nn.functional.cosine_similarity(v, a, dim=-1)
    torch.testing.assert_close(sim[batch["mask"]], expected[batch["mask"]], rtol=1e-5, atol=1e-5)
    assert set(model.loss_terms(batch, out)) == {"frame", "video", "smooth", "similarity"}
    abl = _model("localizer-ablations")
    assert set(abl.loss_terms(batch, abl(batch))) == {"frame", "smooth"}
    assert abl.video_head is None and abl.cross is None


def test_extra_scalar_feature_is_used():
    torch.manual_seed(0)
    model = build(
        "lstm",
        visual_dim=DV,
        audio_dim=DA,
        hidden=8,
        num_layers=1,
        nhead=2,
        features=("visual", "audio", "av_similarity"),
    ).eval()
    batch = _batch()
    a = model(batch)["video_logit"]
    batch["av_similarity"] = batch["av_similarity"] + 3.0
    assert not torch.allclose(model(batch)["video_logit"], a)
    del batch["av_similarity"]
    with pytest.raises(KeyError, match="av_similarity"):
        model(batch)


def test_lstm_refuses_non_prefix_mask():
    model = _model("lstm")
    batch = _batch()
    batch["mask"] = batch["mask"].flip(1)
    with pytest.raises(ValueError, match="prefix"):
        model(batch)


def test_top_energy_covariance_matches_numpy():
    rng = np.random.default_rng(0)
    t, d, k, n = 12, 5, 4, 9
    x = rng.standard_normal((1, t, d)).astype(np.float32)
    x[0, 2:5] += 3.0  # high-energy frames
    mask = np.zeros((1, t), bool)
    mask[0, :n] = True
    got = top_energy_covariance(torch.from_numpy(x), torch.from_numpy(mask), k)[0].numpy()
    xv = x[0, :n].astype(np.float64)
    xc = xv - xv.mean(0)
    cov = xc @ xc.T / d
    keep = np.sort(np.argsort(-(cov**2).sum(1), kind="stable")[:k])
    np.testing.assert_allclose(got, cov[np.ix_(keep, keep)], rtol=1e-4, atol=1e-5)
    assert set(range(2, 5)) <= set(keep.tolist())
    # shorter than k: the valid n x n block, zero-padded
    short = top_energy_covariance(
        torch.from_numpy(x[:, :3]), torch.ones(1, 3, dtype=torch.bool), 6
    )[0].numpy()
    assert short.shape == (6, 6)
    xs = x[0, :3].astype(np.float64) - x[0, :3].mean(0)
    np.testing.assert_allclose(short[:3, :3], xs @ xs.T / d, rtol=1e-4, atol=1e-5)
    assert not short[3:].any() and not short[:, 3:].any()


def test_losses():
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    target = torch.tensor([[1.0, 0.0, 1.0]])
    valid = torch.tensor([[True, True, False]])
    total, count = bce_sum(logits, target, valid)
    expected = -np.log(1 / (1 + np.exp(-2.0))) - np.log(1 - 1 / (1 + np.exp(1.0)))
    assert int(count) == 2 and float(total) == pytest.approx(expected, rel=1e-5)
    weighted, _ = bce_sum(logits, target, valid, pos_weight=3.0)
    assert float(weighted) == pytest.approx(
        3 * -np.log(1 / (1 + np.exp(-2.0))) - np.log(1 - 1 / (1 + np.exp(1.0))), rel=1e-5
    )
    # focal with gamma 0 and alpha -1 is plain BCE; gamma > 0 down-weights easy examples
    f0, _ = focal_sum(logits, target, valid, alpha=-1, gamma=0.0)
    assert float(f0) == pytest.approx(float(total), rel=1e-5)
    f2, _ = focal_sum(logits, target, valid, alpha=-1, gamma=2.0)
    assert float(f2) < float(total)
    s, pairs = smoothness_sum(
        torch.tensor([[0.0, 0.0, 10.0, 10.0]]), torch.tensor([[True, True, True, False]])
    )
    assert int(pairs) == 2 and float(s) == pytest.approx(
        (1 / (1 + np.exp(-10)) - 0.5) ** 2, rel=1e-5
    )
    loss, logs = reduce_terms(
        {
            "a": Term(1.0, torch.tensor(4.0), torch.tensor(2)),
            "b": Term(0.5, torch.tensor(3.0), torch.tensor(3)),
        }
    )
    assert float(loss) == pytest.approx(2.0 + 0.5) and logs["a"] == 2.0 and logs["b"] == 1.0


def test_localizer_config_saved_before_the_temporal_conv_rebuilds_its_model():
    # a checkpoint written before conv_kernel / input_dropout / direct_head existed records every
    # other field: it must rebuild the model its weights belong to (no convolution)
    torch.manual_seed(0)
    old = build("localizer", visual_dim=DV, audio_dim=DA, d_model=16, nhead=4, num_layers=1,
                conv_kernel=0)
    saved = {k: v for k, v in old.config.to_dict().items()
             if k not in ("conv_kernel", "input_dropout", "direct_head")}
    again = build("localizer", saved)
    assert again.conv is None and again.direct is None
    again.load_state_dict(old.state_dict())  # strict: the same modules
    # a partial config (a user's options) still gets the default convolution
    assert build("localizer", {"visual_dim": DV, "audio_dim": DA, "d_model": 16}).conv is not None
