"""voca_data.encoders: tiny open_clip tower, log-mel alignment, a random-init wav2vec2."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")
pytest.importorskip("torchaudio")
sys.path.insert(0, str(Path(__file__).parent))
from media_fixtures import make_face_video, tone

from voca_data.encoders import (
    TINY_ARCH,
    list_visual_architectures,
    make_audio_encoder,
    make_visual_encoder,
)
from voca_data.media import decode


@pytest.fixture(scope="module")
def tiny():
    return make_visual_encoder(TINY_ARCH, batch_size=4)


@pytest.fixture(scope="module")
def crops():
    return np.random.default_rng(0).integers(0, 256, (10, 64, 64, 3)).astype(np.uint8)


def test_tiny_visual_encoder_shape_determinism_and_provenance(tiny, crops):
    assert TINY_ARCH in list_visual_architectures()
    out = tiny.encode(crops)
    assert out.shape == (10, tiny.dim) == (10, 32) and out.dtype == np.float32
    assert np.isfinite(out).all()
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    # batching (4 per batch here) does not change the result
    np.testing.assert_allclose(tiny.encode(crops[:3]), out[:3], rtol=1e-5, atol=1e-6)
    # different crops give different embeddings
    assert np.abs(out[0] - out[1]).max() > 1e-3
    info = tiny.info()
    assert info["pretrained"] is False and info["weights_sha256"] is None
    assert info["preprocessing"]["image_size"] == 64 and len(info["preprocessing"]["mean"]) == 3
    # the same seed rebuilds the same weights (what every dask worker does from the spec)
    again = make_visual_encoder(**tiny.spec())
    np.testing.assert_array_equal(again.encode(crops), out)
    other = make_visual_encoder(TINY_ARCH, seed=1)
    assert np.abs(other.encode(crops) - out).max() > 1e-3
    assert tiny.encode(np.zeros((0, 64, 64, 3), np.uint8)).shape == (0, 32)


def test_crops_of_another_size_are_resized(tiny):
    big = np.random.default_rng(1).integers(0, 256, (2, 100, 100, 3)).astype(np.uint8)
    out = tiny.encode(big)
    assert out.shape == (2, 32) and np.isfinite(out).all()
    with pytest.raises(ValueError, match="N, H, W, 3"):
        tiny.encode(big[..., 0])


def test_weights_file_round_trip(tiny, crops, tmp_path):
    path = tiny.save(tmp_path / "tiny.safetensors")
    loaded = make_visual_encoder(TINY_ARCH, weights=str(path), seed=123, batch_size=4)
    np.testing.assert_array_equal(loaded.encode(crops), tiny.encode(crops))
    info = loaded.info()
    assert info["weights_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info["weights"] == str(path.resolve())
    assert info["pretrained"] is False  # the file says its weights were random
    assert make_visual_encoder(**loaded.spec()).spec() == loaded.spec()

    # a full open_clip checkpoint (visual.* and text keys, torch format) loads too
    import open_clip

    full = open_clip.create_model(TINY_ARCH)
    torch.save({"state_dict": full.state_dict()}, tmp_path / "full.pt")
    from_pt = make_visual_encoder(TINY_ARCH, weights=str(tmp_path / "full.pt"))
    expected = torch.nn.functional.normalize(full.visual(
        (torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255
         - from_pt._mean_t) / from_pt._std_t), dim=-1).detach().numpy()
    np.testing.assert_allclose(from_pt.encode(crops), expected, rtol=1e-4, atol=1e-5)
    assert from_pt.info()["pretrained"] is True


def test_missing_weights_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file and not an open_clip"):
        make_visual_encoder(TINY_ARCH, weights=str(tmp_path / "nope.safetensors"))
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE"):
        make_visual_encoder("ViT-B-32", weights="openai", cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="unknown open_clip architecture"):
        make_visual_encoder("ViT-Nope")


def band_energy(feats, fps_frames=4):
    """Mean log-mel energy of the bands around 440 Hz (64 mels at 16 kHz: bands 6-9)."""
    f = feats.reshape(len(feats), fps_frames, 64)
    return f[:, :, 6:10].mean(axis=(1, 2))


@pytest.mark.parametrize("fps", [25.0, 30.0])
def test_logmel_tone_burst_lands_on_the_right_frames(fps):
    enc = make_audio_encoder("logmel")
    assert enc.info()["pretrained"] is False and enc.dim == 256
    audio = tone(2.0, bursts=[(1.0, 1.4)])
    n = int(round(2.0 * fps))
    feats = enc.encode(audio, n_frames=n, fps=fps)
    assert feats.shape == (n, 256) and feats.dtype == np.float32 and np.isfinite(feats).all()
    e = band_energy(feats)
    loud = np.flatnonzero(e > (e.max() + e.min()) / 2)
    first, last = int(np.ceil(1.0 * fps)), int(np.ceil(1.4 * fps)) - 1
    assert loud.min() in (first - 1, first) and loud.max() in (last, last + 1)
    assert set(range(first, last + 1)) <= set(loud)
    assert len(loud) <= last - first + 3


def test_logmel_through_a_real_decoded_video(tmp_path):
    path = make_face_video(tmp_path / "burst.mp4", n_frames=50, fps=25,
                           audio=tone(2.0, bursts=[(0.6, 1.0)]))
    video = decode(path)
    feats = make_audio_encoder("logmel").encode(video.audio, video.n_frames)
    e = band_energy(feats)
    loud = set(np.flatnonzero(e > (e.max() + e.min()) / 2))
    assert set(range(15, 25)) <= loud <= set(range(14, 26))


def test_no_audio_and_length_mismatch():
    enc = make_audio_encoder("logmel")
    nan = enc.encode(None, n_frames=7)
    assert nan.shape == (7, 256) and np.isnan(nan).all()
    short = enc.encode(tone(0.5), n_frames=25)        # 0.5 s of audio for a 1 s video
    assert short.shape == (25, 256)
    assert band_energy(short)[:10].min() > band_energy(short)[15:].max()   # padded silence
    np.testing.assert_allclose(short[15:], np.log(0.01), atol=1e-5)
    long = enc.encode(tone(3.0), n_frames=25)
    assert long.shape == (25, 256)
    # audio at another rate is resampled
    at8k = enc.encode(tone(1.0, rate=8000), n_frames=25, rate=8000)
    np.testing.assert_allclose(band_energy(at8k)[2:-2], band_energy(long)[2:-2], atol=0.5)


def test_wav2vec2_base_random_init(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache: random weights
    enc = make_audio_encoder("wav2vec2_base")
    info = enc.info()
    assert info["pretrained"] is False and info["weights"] == "random init" and enc.dim == 768
    audio = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    feats = enc.encode(audio, n_frames=25)
    assert feats.shape == (25, 768) and feats.dtype == np.float32 and np.isfinite(feats).all()
    assert np.isnan(enc.encode(None, n_frames=3)).all()
    rebuilt = make_audio_encoder(**enc.spec())  # seeded init: every worker gets these weights
    assert rebuilt.spec() == enc.spec()
    np.testing.assert_array_equal(rebuilt.encode(audio, n_frames=25), feats)
    with pytest.raises(FileNotFoundError, match="wav2vec2_fairseq_base_ls960.pth"):
        make_audio_encoder("wav2vec2_base", pretrained=True)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "w")):
        make_audio_encoder("wav2vec2_base", weights_dir=str(tmp_path / "w"))
    with pytest.raises(ValueError, match="unknown audio encoder"):
        make_audio_encoder("mfcc")


class _Payload:
    """Pickles to a call that creates a file: proof that loading ran code."""

    def __init__(self, target: Path):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_defect1_pickled_weights_never_run(tmp_path, monkeypatch):
    """Issue 10 (1): a pickled torchaudio bundle file or --visual-weights file is refused in one
    line, and its payload never runs; a plain state dict of tensors still loads."""
    from voca_data.encoders import UnsafeWeightsError

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    marker = tmp_path / "pwned"
    bundle_dir = tmp_path / "w"
    bundle_dir.mkdir()
    evil = bundle_dir / "wav2vec2_fairseq_base_ls960.pth"
    torch.save({"x": torch.zeros(1), "y": _Payload(marker)}, evil)
    # the payload is real: an unsafe load runs it
    torch.load(evil, weights_only=False)
    assert marker.exists()
    marker.unlink()
    with pytest.raises(UnsafeWeightsError, match="wav2vec2_fairseq_base_ls960.pth: refused") as e:
        make_audio_encoder("wav2vec2_base", weights_dir=str(bundle_dir))
    assert "\n" not in str(e.value) and "weights_only=False" not in str(e.value)
    assert not marker.exists()
    visual = tmp_path / "visual.pt"
    torch.save({"state_dict": _Payload(marker)}, visual)
    with pytest.raises(UnsafeWeightsError, match="visual.pt: refused"):
        make_visual_encoder(TINY_ARCH, weights=str(visual))
    assert not marker.exists()
    # a real state dict (tensors only) in the bundle's file loads, without torchaudio's pickle path
    random_enc = make_audio_encoder("wav2vec2_base", pretrained=False, seed=3)
    torch.save(random_enc.model.state_dict(), evil)
    loaded = make_audio_encoder("wav2vec2_base", weights_dir=str(bundle_dir))
    assert loaded.info()["pretrained"] is True and loaded.info()["weights"] == str(evil)
    audio = np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32)
    np.testing.assert_allclose(loaded.encode(audio, n_frames=12), random_enc.encode(audio, n_frames=12),
                               atol=1e-5)


def test_defect1_pickled_face_alignment_weights_never_run(tmp_path, monkeypatch):
    from voca_data.encoders import UnsafeWeightsError
    from voca_data.faces import FaceAlignmentDetector, _fa_expected_files

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    ckpt = tmp_path / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    files = _fa_expected_files()
    marker = tmp_path / "pwned"
    torch.save({"w": _Payload(marker)}, ckpt / files["s3fd"])
    (ckpt / files["2DFAN-4"]).write_bytes(b"PK")
    with pytest.raises(UnsafeWeightsError, match=f"{files['s3fd']}: refused"):
        FaceAlignmentDetector()
    assert not marker.exists()
