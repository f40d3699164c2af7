"""voca_data.media on real MP4s written by media_fixtures (PyAV)."""

from __future__ import annotations

import math
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")
sys.path.insert(0, str(Path(__file__).parent))
from media_fixtures import (
    frame_index_mark,
    make_bad_media,
    make_face_video,
    tone,
    video_duration,
)

from voca_data.media import MediaError, decode, probe


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    burst = tone(2.0, bursts=[(1.0, 1.4)])
    return {
        "25": make_face_video(d / "f25.mp4", n_frames=50, fps=25),
        "30": make_face_video(d / "f30.mp4", n_frames=30, fps=30),
        "vfr": make_face_video(d / "vfr.mp4", n_frames=50, fps=25, vfr=True),
        "rot": make_face_video(d / "rot.mp4", n_frames=10, fps=25, rotation=90),
        "burst": make_face_video(d / "burst.mp4", n_frames=50, fps=25, audio=burst),
        "bad": make_bad_media(d / "bad"),
    }


def marks(frames):
    return [frame_index_mark(f) for f in frames]


def test_25fps_frames_audio_and_probe(media):
    v = decode(media["25"])
    assert v.n_frames == 50 == v.frames.shape[0]
    assert v.frames.shape[1:] == (160, 192, 3) and v.frames.dtype == np.uint8
    assert v.duration == pytest.approx(2.0, abs=1e-6)
    assert v.source_fps == pytest.approx(25.0)
    assert (v.width, v.height) == (192, 160)
    assert marks(v.frames) == [t % 32 for t in range(50)]
    assert v.audio is not None and v.audio.dtype == np.float32
    assert v.audio.shape == (32000,)
    assert np.abs(v.audio).max() <= 1.0
    rms = float(np.sqrt(np.mean(v.audio[1600:-1600] ** 2)))
    assert rms == pytest.approx(0.3 / math.sqrt(2), rel=0.15)  # the 0.3-amplitude tone survived
    assert v.notes == []
    p = probe(media["25"])
    assert p["has_audio"] and p["n_frames_estimate"] == 50 and p["source_fps"] == 25.0
    assert (p["width"], p["height"]) == (192, 160) and p["duration"] == pytest.approx(2.0)


def test_30fps_source_lands_on_25fps_timeline_by_centre(media):
    v = decode(media["30"], fps=25.0)
    assert v.n_frames == 25
    assert v.duration == pytest.approx(1.0, abs=1e-6)
    assert v.source_fps == pytest.approx(30.0)
    # store frame t shows the last source frame starting at or before its centre (t + 0.5) / 25
    expected = [math.floor((t + 0.5) / 25 * 30 + 1e-9) % 32 for t in range(25)]
    assert marks(v.frames) == expected
    assert v.audio.shape == (16000,)


def test_vfr_source(media):
    v = decode(media["vfr"], fps=25.0)
    true_duration = video_duration(50, 25, vfr=True)
    assert v.duration == pytest.approx(true_duration, abs=1 / 25)
    assert abs(v.n_frames - round(true_duration * 25)) <= 1
    assert any("variable frame rate" in n for n in v.notes)
    starts, t = [], 0.0
    for i in range(50):
        starts.append(round(t) / 1000)
        t += 1000 / 25 * (0.75, 1.0, 1.25)[i % 3]
    expected = [max(i for i, s in enumerate(starts) if s <= (k + 0.5) / 25 + 1e-6) % 32
                for k in range(v.n_frames)]
    assert marks(v.frames) == expected
    assert v.audio.shape == (round(v.n_frames / 25 * 16000),)


def test_rotation_metadata_is_applied(media):
    p = probe(media["rot"])
    assert p["rotation"] == 90 and (p["width"], p["height"]) == (160, 192)
    v = decode(media["rot"])
    assert v.frames.shape == (10, 192, 160, 3)
    assert (v.width, v.height) == (160, 192)
    # 90 deg counter-clockwise: the coded top-left mark is now bottom-left; undo to read it
    assert marks(np.rot90(f, k=-1) for f in v.frames) == list(range(10))
    assert any("rotation 90" in n for n in v.notes)


def test_audio_stays_aligned_with_video(media):
    v = decode(media["burst"])
    env = np.sqrt(np.convolve(v.audio ** 2, np.ones(160) / 160, mode="same"))
    loud = np.flatnonzero(env > 0.1) / 16000
    assert loud.min() == pytest.approx(1.0, abs=0.03)
    assert loud.max() == pytest.approx(1.4, abs=0.03)


def test_max_frames_cuts_but_measures_whole_duration(media):
    v = decode(media["25"], max_frames=10)
    assert v.n_frames == 10 and v.frames.shape[0] == 10
    assert marks(v.frames) == list(range(10))
    assert v.duration == pytest.approx(2.0, abs=1e-6)
    assert v.audio.shape == (6400,)
    assert any("cut to the first 10" in n for n in v.notes)


def test_no_audio_stream_gives_none_and_a_note(media):
    v = decode(media["bad"]["no_audio"])
    assert v.audio is None and "no audio stream" in v.notes
    assert v.n_frames == 20
    assert probe(media["bad"]["no_audio"])["has_audio"] is False


BAD = {
    "corrupt": "corrupt", "truncated": "truncated", "truncated_index": "truncated",
    "no_video": "no_video", "zero_frames": "zero_frames", "not_a_video": "not_a_video",
    "empty": "empty", "missing": "missing", "unreadable": "unreadable",
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_media_raise_a_clear_media_error(media, kind):
    path = media["bad"][kind]
    with pytest.raises(MediaError) as info:
        decode(path)
    err = info.value
    assert err.reason == BAD[kind]
    assert str(path) in str(err)
    assert BAD[kind].replace("_", " ") in str(err)
    again = pickle.loads(pickle.dumps(err))  # crosses dask process boundaries intact
    assert str(again) == str(err) and again.reason == err.reason
    if kind != "truncated":  # a faststart file cut short still has a readable header
        with pytest.raises(MediaError):
            probe(path)


def test_max_side_downscales_frames_and_reports_the_scale(media):
    full = decode(media["25"], max_frames=5)
    small = decode(media["25"], max_frames=5, max_side=96)
    assert small.frames.shape == (5, 80, 96, 3)
    assert small.scale == pytest.approx(0.5) and full.scale == 1.0
    assert any("downscaled from 192x160" in n for n in small.notes)
    # the same picture, at half the size: compare with a 2x2 average of the full frames
    pooled = full.frames.astype(float).reshape(5, 80, 2, 96, 2, 3).mean(axis=(2, 4))
    assert np.abs(pooled - small.frames).mean() < 4.0


@pytest.mark.skipif(sys.platform != "linux", reason="counts context switches (getrusage)")
def test_one_thread_decode_hands_no_frame_to_threads_and_gives_the_same_frames(media):
    """``threads=1`` (what every CPU worker of extraction uses) keeps FFmpeg's decoder *and* its
    swscale RGB conversion in the calling thread: a swscale thread pool woke its threads for
    every frame, which left cores idle when one worker process ran per core. The frames are the
    same as with FFmpeg's own thread choice, downscaled or not."""
    import subprocess

    code = (
        "import resource, sys\n"
        "from voca_data.media import decode\n"
        "decode(sys.argv[1], threads=1)  # warm: imports, first-use allocations\n"
        "for threads in (1, 0):\n"
        "    before = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw\n"
        "    n = decode(sys.argv[1], threads=threads).n_frames\n"
        "    n += decode(sys.argv[1], threads=threads, max_side=96).n_frames\n"
        "    print(n, resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(media["25"])], capture_output=True,
                         text=True, check=True, timeout=120).stdout.split()
    frames, one, auto = int(out[0]), int(out[1]), int(out[3])
    # a thread pool sleeps and wakes for every frame; one thread blocks only now and then
    assert one < frames / 4, f"{one} voluntary context switches for {frames} frames ({auto} with "
    "FFmpeg's own thread choice)"
    for max_side in (None, 96):
        one = decode(media["25"], threads=1, max_side=max_side)
        auto = decode(media["25"], threads=0, max_side=max_side)
        np.testing.assert_array_equal(one.frames, auto.frames)
        np.testing.assert_array_equal(one.audio, auto.audio)
