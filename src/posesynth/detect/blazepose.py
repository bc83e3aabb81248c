"""MediaPipe BlazePose (pose detector + full landmark model) on LiteRT, without ``mediapipe``.

Needs the ``demo`` extra (``pip install 'posesynth[demo]'``: ``ai-edge-litert``). The two
models ship in ``posesynth/detect/models`` (Apache-2.0, see the ``NOTICE`` there).

Pipeline, as MediaPipe's single-image ("static image mode") pose graph does it:

1. :func:`detect_person`: letterbox the image to 224 × 224, run the SSD detector, decode its
   2254 anchors and keep the best-scoring one (one person). Its four keypoints are, in pixels,
   the hip centre, a point on the full-body circle, the shoulder centre and a point on the
   upper-body circle.
2. :func:`roi_from_detection`: a square region of interest centred on the hip centre, side
   2 × 1.25 × radius, rotated so the hip→circle-point direction points up.
3. :func:`run_landmarks`: crop that region to 256 × 256, run the landmark model, map the 33
   landmarks back to image pixels and rotate the world landmarks by the region's rotation.

Frames. Image landmarks: pixels, (0, 0) the centre of the top-left pixel, x right, y down.
World landmarks: metres, origin at the hip centre, x right and y down as in the image, z away
from the camera (MediaPipe: "smaller z is closer to the camera"), i.e. the OpenCV camera axes
up to a translation; MediaPipe estimates them with a weak-perspective model, so they are not
metrically exact.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np

__all__ = [
    "DETECTOR_INPUT",
    "LANDMARK_INPUT",
    "BlazePose",
    "PoseResult",
    "detect_people",
    "detect_person",
    "load_blazepose",
    "model_paths",
    "roi_from_detection",
    "roi_from_landmarks",
    "run_landmarks",
    "ssd_anchors",
]

DETECTOR_INPUT = 224
LANDMARK_INPUT = 256
NUM_LANDMARKS = 33
_EXTRA_HINT = "pip install 'posesynth[demo]'"


def model_paths() -> tuple[Path, Path]:
    """Paths of the shipped ``pose_detection.tflite`` and ``pose_landmark_full.tflite``."""
    base = Path(str(resources.files("posesynth.detect") / "models"))
    return base / "pose_detection.tflite", base / "pose_landmark_full.tflite"


def ssd_anchors(input_size: int = DETECTOR_INPUT, strides: tuple[int, ...] = (8, 16, 32, 32, 32)) -> np.ndarray:
    """Anchor centres of MediaPipe's pose detector (``SsdAnchorsCalculator`` options).

    Fixed-size anchors, two per layer and cell; consecutive layers with the same stride share
    one feature map. Returns (2254, 2) float32, normalised [0, 1] (x, y) in the 224 × 224 input.
    """
    out: list[tuple[float, float]] = []
    i = 0
    while i < len(strides):
        per_cell = 0
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            per_cell += 2
            j += 1
        fm = math.ceil(input_size / strides[i])
        for y in range(fm):
            for x in range(fm):
                out.extend([((x + 0.5) / fm, (y + 0.5) / fm)] * per_cell)
        i = j
    return np.asarray(out, np.float32)


_ANCHORS = ssd_anchors()


def _interpreter(path: Path, threads: int) -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ModuleNotFoundError:
        raise ValueError(f"the pose detector needs the 'demo' extra (ai-edge-litert): {_EXTRA_HINT}") from None
    if not Path(path).is_file():
        raise ValueError(f"{path}: model file missing (reinstall posesynth)")
    # LiteRT's C++ logs "INFO: Created TensorFlow Lite XNNPACK delegate" straight to fd 2;
    # keep stderr to posesynth's own one-line messages.
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        interp = Interpreter(model_path=str(path), num_threads=threads)
        interp.allocate_tensors()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return interp


def _run(interp: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return {t["name"]: interp.get_tensor(t["index"]) for t in interp.get_output_details()}


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(v, np.float64), -100.0, 100.0)))


def detect_person(detector: Any, rgb: np.ndarray, threshold: float = 0.5) -> tuple[float, np.ndarray] | None:
    """The best person detection in an image.

    Args:
        detector: a LiteRT interpreter of ``pose_detection.tflite``.
        rgb: (H, W, 3) uint8 RGB image.
        threshold: minimum detection score (0–1).

    Returns:
        ``(score, keypoints (4, 2) px)`` — hip centre, full-body circle point, shoulder centre,
        upper-body circle point — or ``None`` if no anchor scores ``threshold`` or more.
    """
    h, w = rgb.shape[:2]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    square = cv2.copyMakeBorder(rgb, top, side - h - top, left, side - w - left, cv2.BORDER_CONSTANT, value=0)
    x = cv2.resize(square, (DETECTOR_INPUT, DETECTOR_INPUT), interpolation=cv2.INTER_LINEAR)
    x = x.astype(np.float32)[None] / 127.5 - 1.0
    out = _run(detector, x)
    regression = out["Identity"][0]  # (2254, 12): box cx, cy, w, h + 4 keypoints (x, y), in input px
    scores = _sigmoid(out["Identity_1"][0, :, 0])
    k = int(np.argmax(scores))
    if scores[k] < threshold:
        return None
    kps = regression[k, 4:].reshape(4, 2) / DETECTOR_INPUT + _ANCHORS[k]
    kps = kps * side - np.array([left, top], np.float32)
    return float(scores[k]), kps.astype(np.float64)


def _box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of ``box (4,)`` with ``boxes (N, 4)``, both ``(x0, y0, x1, y1)``."""
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=-1)
    area = np.prod(box[2:] - box[:2]) + np.prod(boxes[:, 2:] - boxes[:, :2], axis=-1) - inter
    return inter / np.maximum(area, 1e-12)


def detect_people(
    detector: Any,
    rgb: np.ndarray,
    threshold: float = 0.5,
    max_people: int = 4,
    iou_threshold: float = 0.3,
) -> list[tuple[float, np.ndarray]]:
    """Every person the detector finds in an image, best score first.

    Anchors scoring ``threshold`` or more are grouped by weighted non-maximum suppression, as
    MediaPipe's pose graph does (``NonMaxSuppressionCalculator``, WEIGHTED, overlap 0.3): the
    best remaining anchor takes every anchor whose box overlaps it by ``iou_threshold`` or more,
    and its keypoints are their score-weighted mean.

    Args:
        detector: a LiteRT interpreter of ``pose_detection.tflite``.
        rgb: (H, W, 3) uint8 RGB image.
        threshold: minimum detection score (0–1).
        max_people: most detections returned.
        iou_threshold: box overlap (IoU) above which two anchors are one person.

    Returns:
        Up to ``max_people`` ``(score, keypoints (4, 2) px)`` as :func:`detect_person` returns.
    """
    h, w = rgb.shape[:2]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    square = cv2.copyMakeBorder(rgb, top, side - h - top, left, side - w - left, cv2.BORDER_CONSTANT, value=0)
    x = cv2.resize(square, (DETECTOR_INPUT, DETECTOR_INPUT), interpolation=cv2.INTER_LINEAR)
    x = x.astype(np.float32)[None] / 127.5 - 1.0
    out = _run(detector, x)
    regression = out["Identity"][0].astype(np.float64)  # (2254, 12), input px, anchor-relative
    scores = _sigmoid(out["Identity_1"][0, :, 0])
    cand = np.flatnonzero(scores >= threshold)
    cand = cand[np.argsort(-scores[cand], kind="stable")]
    if cand.size == 0:
        return []
    anchors = _ANCHORS[cand].astype(np.float64)
    centre = regression[cand, :2] / DETECTOR_INPUT + anchors
    half = regression[cand, 2:4] / DETECTOR_INPUT / 2.0
    boxes = np.concatenate([centre - half, centre + half], axis=-1)  # normalised input
    kps = regression[cand, 4:].reshape(-1, 4, 2) / DETECTOR_INPUT + anchors[:, None]
    offset = np.array([left, top], np.float64)
    alive = np.ones(cand.size, bool)
    found: list[tuple[float, np.ndarray]] = []
    for i in range(cand.size):
        if not alive[i]:
            continue
        group = alive & (_box_iou(boxes[i], boxes) >= iou_threshold)
        group[i] = True
        alive &= ~group
        wts = scores[cand][group]
        mean_kps = np.tensordot(wts, kps[group], axes=1) / wts.sum()
        found.append((float(scores[cand[i]]), mean_kps * side - offset))
        if len(found) >= max_people:
            break
    return found


def square_crops(height: int, width: int, count: int = 3) -> list[tuple[int, int, int]]:
    """Squares of an image for a second look by the detector: ``count`` squares of side
    ``min(height, width)`` spread evenly along the longer side, first to last, as ``(x, y,
    side)`` px of their top-left corners; none for a square image (the squares would be the
    image itself)."""
    side = min(height, width)
    if height == width or side < 1:
        return []
    starts = np.linspace(0, max(height, width) - side, count).round().astype(int)
    return [(int(s), 0, side) if width > height else (0, int(s), side) for s in starts]


def roi_from_detection(keypoints: np.ndarray, scale: float = 1.25) -> tuple[np.ndarray, float, float]:
    """The landmark model's square region (``AlignmentPointsRects`` + ``RectTransformation``).

    Args:
        keypoints: (4, 2) px from :func:`detect_person`.
        scale: enlargement of the full-body circle's diameter.

    Returns:
        ``(centre (2,) px, side px, rotation rad)``; the rotation (in (−π, π]) turns the
        crop so the hip→circle-point direction is up.
    """
    c, e = keypoints[0], keypoints[1]
    side = 2.0 * float(np.linalg.norm(e - c)) * scale
    rot = math.pi / 2 - math.atan2(-(e[1] - c[1]), e[0] - c[0])
    rot -= 2 * math.pi * math.floor((rot + math.pi) / (2 * math.pi))
    return np.asarray(c, np.float64), side, rot


#: MediaPipe-33 indices of the hips and shoulders.
_HIPS, _SHOULDERS = (23, 24), (11, 12)


def roi_from_landmarks(uv_px: np.ndarray, scale: float = 1.25) -> tuple[np.ndarray, float, float] | None:
    """The landmark model's region for a person whose 33 landmarks project to ``uv_px``.

    Mirrors MediaPipe's tracking region (the region of the next landmark run comes from the
    last landmarks, not from the detector): centred on the hip centre, turned so the
    hip->shoulder direction is up, side ``2 * scale * r`` with ``r`` the largest landmark
    distance from the hip centre.

    Args:
        uv_px: ``(33, 2)`` px, image frame (NaN allowed where a landmark is missing).
        scale: enlargement of the circle's diameter, as in :func:`roi_from_detection`.

    Returns:
        ``(centre (2,) px, side px, rotation rad)`` or ``None`` without hips and shoulders.
    """
    hip = uv_px[list(_HIPS)].mean(axis=0)
    shoulder = uv_px[list(_SHOULDERS)].mean(axis=0)
    if not (np.isfinite(hip).all() and np.isfinite(shoulder).all()):
        return None
    radius = float(np.nanmax(np.linalg.norm(uv_px - hip, axis=-1)))
    up = shoulder - hip
    norm = float(np.linalg.norm(up))
    if not norm > 0 or not radius > 0:
        return None
    kps = np.stack([hip, hip + up / norm * radius, shoulder, shoulder])
    return roi_from_detection(kps, scale)


def _checked_rgb(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` as an array, checked to be an (H, W, 3) uint8 image."""
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"rgb: expected an (H, W, 3) uint8 image, got {arr.shape} {arr.dtype}")
    return arr


@dataclass(frozen=True)
class PoseResult:
    """One person's BlazePose landmarks (MediaPipe ``PoseLandmark`` order, 33 joints).

    Attributes:
        keypoints_2d: (33, 2) px, image frame (x right, y down).
        visibility: (33,) 0–1, likelihood of being visible (not occluded).
        presence: (33,) 0–1, likelihood of being inside the image.
        world: (33, 3) metres, origin the hip centre; x right, y down, z away from the camera.
        depth: (33,) px-scaled relative depth of the image landmarks (MediaPipe's ``z``).
        score: landmark model's pose-presence score (0–1).
        detection_score: detector score (0–1); NaN when ``tracked``.
        tracked: the landmark model ran on the region of the previous frame's landmarks
            (MediaPipe's tracking), and the detector did not run.
    """

    keypoints_2d: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray
    world: np.ndarray
    depth: np.ndarray
    score: float
    detection_score: float
    tracked: bool = False


def run_landmarks(landmarker: Any, rgb: np.ndarray, centre: np.ndarray, side: float, rot: float) -> dict[str, Any]:
    """Run the landmark model on a rotated square crop.

    Args:
        landmarker: a LiteRT interpreter of ``pose_landmark_full.tflite``.
        rgb: (H, W, 3) uint8 RGB image.
        centre, side, rot: the region from :func:`roi_from_detection` (px, px, rad).

    Returns:
        dict with ``keypoints_2d`` (33, 2) px, ``depth`` (33,), ``visibility`` (33,),
        ``presence`` (33,), ``world`` (33, 3) m, ``score`` float (see :class:`PoseResult`).
    """
    cs, sn = math.cos(rot), math.sin(rot)
    k = side / LANDMARK_INPUT
    # crop pixel (u, v) -> image pixel: p = centre + R(rot) @ ((u, v) - 128) * side / 256
    affine = np.array([[cs * k, -sn * k, 0.0], [sn * k, cs * k, 0.0]])
    half = LANDMARK_INPUT / 2
    affine[:, 2] = centre - affine[:, :2] @ np.array([half, half])
    crop = cv2.warpAffine(
        rgb,
        affine,
        (LANDMARK_INPUT, LANDMARK_INPUT),
        flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
    )
    out = _run(landmarker, crop.astype(np.float32)[None] / 255.0)
    lm = out["Identity"][0].reshape(39, 5)[:NUM_LANDMARKS].astype(np.float64)
    world_crop = out["Identity_4"][0].reshape(39, 3)[:NUM_LANDMARKS].astype(np.float64)
    rz = np.array([[cs, -sn, 0.0], [sn, cs, 0.0], [0.0, 0.0, 1.0]])
    return {
        "keypoints_2d": np.c_[lm[:, :2], np.ones(NUM_LANDMARKS)] @ affine.T,
        "depth": lm[:, 2] * k,
        "visibility": _sigmoid(lm[:, 3]),
        "presence": _sigmoid(lm[:, 4]),
        "world": world_crop @ rz.T,
        "score": float(out["Identity_1"].reshape(-1)[0]),
    }


class BlazePose:
    """Detector + landmark model; call it on an RGB image.

    Args:
        detector_path, landmark_path: ``.tflite`` files (default: the shipped ones).
        threads: CPU threads per interpreter.
        detection_threshold: minimum detector score.
        presence_threshold: minimum landmark-model pose score.
    """

    def __init__(
        self,
        detector_path: Path | str | None = None,
        landmark_path: Path | str | None = None,
        threads: int = 2,
        detection_threshold: float = 0.5,
        presence_threshold: float = 0.5,
    ) -> None:
        det_default, lmk_default = model_paths()
        self.detector = _interpreter(Path(detector_path or det_default), threads)
        self.landmarker = _interpreter(Path(landmark_path or lmk_default), threads)
        self.detection_threshold = detection_threshold
        self.presence_threshold = presence_threshold

    def __call__(self, rgb: np.ndarray, refine: bool = False, previous: PoseResult | None = None) -> PoseResult | None:
        """Landmarks of the most confident person in ``rgb`` ((H, W, 3) uint8 RGB), or ``None``.

        ``refine``: run the landmark model a second time, on the region its first landmarks
        give (:func:`roi_from_landmarks`), as MediaPipe's tracking does from one frame to the
        next. The detector's region is looser than the body; on the real benchmark the
        second run lowers the error of BlazePose's own 3D and of a lifter from its 2D by
        3 mm each (docs/real-people.md). The first run is kept when the second finds no one.

        ``previous``: the person's landmarks in the frame before (a video), tracked as
        MediaPipe's video mode does: the landmark model runs first on the region those
        landmarks give, and the detector only when that region holds no one (its score under
        ``presence_threshold``). The tracked region is tight on the body, and it stays on
        the same person: in the first 30 frames of Sports2D's demo video the tracked pelvis
        stays within 18 x 65 px (the person jumps in place), while frame by frame detection
        moves it over 226 x 253 px (loose regions, where the landmark model misplaces the
        body, and another person).

        Without ``previous``, or when its region holds no one, see :meth:`_detected`.
        """
        arr = _checked_rgb(rgb)
        r, det_score = None, math.nan
        if previous is not None and (roi := roi_from_landmarks(previous.keypoints_2d)) is not None:
            r = self._confirmed(arr, roi)
        tracked = r is not None
        if r is None:
            found = self._detected(arr)
            if found is None:
                return None
            det_score, r = found
        if refine and (roi := roi_from_landmarks(r["keypoints_2d"])) is not None:
            r = self._confirmed(arr, roi) or r
        return PoseResult(detection_score=det_score, tracked=tracked, **r)

    def _confirmed(self, arr: np.ndarray, roi: tuple[np.ndarray, float, float]) -> dict[str, Any] | None:
        """:func:`run_landmarks` on the region ``roi``, or None when its pose score is under
        ``presence_threshold`` (nobody there)."""
        r = run_landmarks(self.landmarker, arr, *roi)
        return r if r["score"] >= self.presence_threshold else None

    def _detected_at(
        self, arr: np.ndarray, x: int = 0, y: int = 0, side: int | None = None
    ) -> tuple[float, dict[str, Any]] | None:
        """``(detector score, landmarks)`` of the detector's best person in ``arr``, or in its
        square of ``side`` px at ``(x, y)``, confirmed by the landmark model on the whole
        image; None when the detector or the landmark model finds no one."""
        crop = arr if side is None else np.ascontiguousarray(arr[y : y + side, x : x + side])
        det = detect_person(self.detector, crop, self.detection_threshold)
        if det is None:
            return None
        kps = det[1] if side is None else det[1] + [x, y]  # the square's px -> the image's
        r = self._confirmed(arr, roi_from_detection(kps))
        return None if r is None else (det[0], r)

    def _detected(self, arr: np.ndarray) -> tuple[float, dict[str, Any]] | None:
        """``(detector score, landmarks)`` of the most confident person the landmark model
        confirms (score >= ``presence_threshold``), or None.

        The detector sees the whole image first. When that finds no one, it sees squares of
        the image (:func:`square_crops`) and the best confirmed landmarks win: its input is
        224 px, so a person a third of a wide frame's height is about 75 px to it in the
        whole frame, and 1.8 times that in a square of a 16:9 frame. On Sports2D's demo video
        the whole frame finds the person in 121 of 230 frames, and the squares in 107 more.
        """
        whole = self._detected_at(arr)
        if whole is not None:
            return whole
        found = [f for f in (self._detected_at(arr, *square) for square in square_crops(*arr.shape[:2])) if f]
        return max(found, key=lambda f: f[1]["score"], default=None)  # ties: the first square

    def detect_all(self, rgb: np.ndarray, max_people: int = 4) -> list[PoseResult]:
        """Landmarks of every person in ``rgb`` ((H, W, 3) uint8 RGB), best detection first.

        One landmark run per detection of :func:`detect_people` (up to ``max_people``);
        results under ``presence_threshold`` are left out.
        """
        arr = _checked_rgb(rgb)
        results = []
        for score, kps in detect_people(self.detector, arr, self.detection_threshold, max_people):
            centre, side, rot = roi_from_detection(kps)
            r = run_landmarks(self.landmarker, arr, centre, side, rot)
            if r["score"] >= self.presence_threshold:
                results.append(PoseResult(detection_score=score, **r))
        return results


@lru_cache(maxsize=1)
def load_blazepose() -> BlazePose:
    """A shared :class:`BlazePose` with the shipped models (loaded once per process)."""
    return BlazePose()
