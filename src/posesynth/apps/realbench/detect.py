"""Run a multi-person 2D detector on every chosen frame of several videos.

The detector is a :class:`MultiPersonDetector` (default :class:`BlazePoseDetector`, the
shipped BlazePose on LiteRT; tests pass a fake one): ``detect_all`` finds up to ``K`` people
in an image, ``landmarks_in_roi`` runs the landmark model on a given region. Every detection
is kept, in the detector's order (best score first).

Two passes: :func:`detect_videos` runs the detector on every frame (what a user of BlazePose
gets); :func:`detect_in_regions` then runs the landmark model alone on regions where the
triangulated people project in views where the detector missed them ("guided" detections).
Guided detections only help the triangulation; the scores use the detector's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from posesynth.detect.blazepose import NUM_LANDMARKS, PoseResult, roi_from_landmarks

__all__ = [
    "BlazePoseDetector",
    "MultiPersonDetector",
    "ViewDetections",
    "detect_in_regions",
    "detect_videos",
    "read_frames",
    "roi_from_landmarks",
    "video_frame_count",
]


class MultiPersonDetector(Protocol):
    """What the benchmark needs from a 2D detector (MediaPipe-33 landmarks)."""

    def detect_all(self, rgb: np.ndarray, max_people: int) -> Sequence[PoseResult]:
        """Every person in ``rgb`` ((H, W, 3) uint8), best first, at most ``max_people``."""
        ...

    def landmarks_in_roi(self, rgb: np.ndarray, centre: np.ndarray, side: float, rot: float) -> PoseResult | None:
        """The landmarks of the person in a square region (centre px, side px, rotation rad)."""
        ...


class BlazePoseDetector:
    """:class:`MultiPersonDetector` over :class:`posesynth.detect.BlazePose` (``demo`` extra).

    Args:
        detection_threshold: detector score threshold (lower than BlazePose's 0.5 default,
            so the person partly hidden behind the other is found more often).
        threads: LiteRT threads per model.
    """

    def __init__(self, detection_threshold: float = 0.3, threads: int = 2) -> None:
        from posesynth.detect.blazepose import BlazePose

        self.model = BlazePose(threads=threads, detection_threshold=detection_threshold)

    def detect_all(self, rgb: np.ndarray, max_people: int) -> Sequence[PoseResult]:
        return self.model.detect_all(rgb, max_people)

    def landmarks_in_roi(self, rgb: np.ndarray, centre: np.ndarray, side: float, rot: float) -> PoseResult | None:
        from posesynth.detect.blazepose import run_landmarks

        r = run_landmarks(self.model.landmarker, rgb, centre, side, rot)
        if r["score"] < self.model.presence_threshold:
            return None
        return PoseResult(detection_score=0.0, **r)


@dataclass(frozen=True)
class ViewDetections:
    """Detections of up to ``K`` people per frame in ``V`` views (MediaPipe-33 landmarks).

    Attributes:
        frames: ``(F,)`` int, video frame indices (0-based) that were run.
        keypoints_2d: ``(V, F, K, 33, 2)`` px, image frame; NaN where slot ``k`` is empty.
        visibility: ``(V, F, K, 33)`` 0-1 (0 where empty).
        world: ``(V, F, K, 33, 3)`` metres, BlazePose world landmarks (camera axes, origin the
            hip centre); NaN where empty.
        score: ``(V, F, K)`` landmark-model presence score (0 where empty).
        detection_score: ``(V, F, K)`` detector score (0 where empty).
        image_size: ``(V, 2)`` int (width, height) px.
    """

    frames: np.ndarray
    keypoints_2d: np.ndarray
    visibility: np.ndarray
    world: np.ndarray
    score: np.ndarray
    detection_score: np.ndarray
    image_size: np.ndarray

    @property
    def present(self) -> np.ndarray:
        """``(V, F, K)`` bool, the slot holds a detection."""
        return np.isfinite(self.keypoints_2d[..., 0, 0])

    def arrays(self) -> dict[str, np.ndarray]:
        """Every field by name (for ``np.savez``)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def video_frame_count(path: Path) -> int:
    """Frames OpenCV reports for a video; ``ValueError`` naming the file if it cannot open it."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not Path(path).is_file() or not cap.isOpened():
            raise ValueError(f"{path}: cannot read the video (missing, or not a format OpenCV decodes)")
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    if n <= 0:
        raise ValueError(f"{path}: cannot read the video (no frames)")
    return n


def read_frames(path: Path, frames: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, rgb (H, W, 3) uint8)`` for the sorted 0-based ``frames`` of a video.

    Decodes sequentially (seeking in MP4 is not frame-exact with every backend).

    Raises:
        ValueError: naming the file, if it cannot be opened or ends before a wanted frame.
    """
    import cv2

    wanted = {int(f) for f in frames}
    last = max(wanted) if wanted else -1
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise ValueError(f"{path}: cannot read the video (missing, or not a format OpenCV decodes)")
        for index in range(last + 1):
            ok, bgr = cap.read()
            if not ok or bgr is None:
                raise ValueError(
                    f"{path}: cannot read the video at frame {index} (damaged or shorter than {last + 1} frames)"
                )
            if index in wanted:
                yield index, np.ascontiguousarray(bgr[..., ::-1])
    finally:
        cap.release()


def detect_videos(
    videos: Sequence[Path],
    frames: np.ndarray,
    detector: MultiPersonDetector,
    max_people: int,
    progress: Callable[[str], None] | None = None,
) -> ViewDetections:
    """Run ``detector`` on frames ``frames`` (sorted, 0-based) of each video.

    Args:
        videos: ``V`` video files, one per camera.
        frames: ``(F,)`` frame indices.
        detector: its ``detect_all``; results beyond ``max_people`` are dropped.
        max_people: ``K``, slots per frame.
        progress: called with a short message per video.

    Returns:
        :class:`ViewDetections`.
    """
    frames = np.asarray(frames, dtype=np.int64)
    v, f, k, j = len(videos), len(frames), int(max_people), NUM_LANDMARKS
    kp = np.full((v, f, k, j, 2), np.nan)
    vis = np.zeros((v, f, k, j))
    world = np.full((v, f, k, j, 3), np.nan)
    score = np.zeros((v, f, k))
    det_score = np.zeros((v, f, k))
    size = np.zeros((v, 2), np.int64)
    slot = {int(fr): i for i, fr in enumerate(frames)}
    for vi, path in enumerate(videos):
        if progress is not None:
            progress(f"detecting people in {Path(path).name} ({f} frames)")
        for index, rgb in read_frames(Path(path), frames):
            size[vi] = (rgb.shape[1], rgb.shape[0])
            fi = slot[index]
            for ki, res in enumerate(list(detector.detect_all(rgb, k))[:k]):
                kp[vi, fi, ki] = res.keypoints_2d
                vis[vi, fi, ki] = res.visibility
                world[vi, fi, ki] = res.world
                score[vi, fi, ki] = res.score
                det_score[vi, fi, ki] = res.detection_score
    return ViewDetections(
        frames=frames,
        keypoints_2d=kp,
        visibility=vis,
        world=world,
        score=score,
        detection_score=det_score,
        image_size=size,
    )


def detect_in_regions(
    videos: Sequence[Path],
    frames: np.ndarray,
    regions: np.ndarray,
    detector: MultiPersonDetector,
    progress: Callable[[str], None] | None = None,
) -> ViewDetections:
    """Landmarks in given regions ("guided" detections), one slot per person.

    Args:
        videos: ``V`` videos.
        frames: ``(F,)`` sorted frame indices.
        regions: ``(V, F, P, 33, 2)`` px, where each person's landmarks are expected
            (e.g. the triangulated landmarks projected); NaN rows are skipped.
        detector: its ``landmarks_in_roi``.

    Returns:
        :class:`ViewDetections` with ``K = P`` (slot ``p`` = person ``p``); ``detection_score`` 0.
    """
    frames = np.asarray(frames, dtype=np.int64)
    v, f, p = regions.shape[:3]
    kp = np.full((v, f, p, NUM_LANDMARKS, 2), np.nan)
    vis = np.zeros((v, f, p, NUM_LANDMARKS))
    world = np.full((v, f, p, NUM_LANDMARKS, 3), np.nan)
    score = np.zeros((v, f, p))
    size = np.zeros((v, 2), np.int64)
    slot = {int(fr): i for i, fr in enumerate(frames)}
    for vi, path in enumerate(videos):
        todo = np.isfinite(regions[vi]).all(-1).any(-1)  # (F, P)
        if not todo.any():
            continue
        if progress is not None:
            progress(f"guided landmarks in {Path(path).name} ({int(todo.sum())} regions)")
        for index, rgb in read_frames(Path(path), frames[todo.any(-1)]):
            size[vi] = (rgb.shape[1], rgb.shape[0])
            fi = slot[index]
            for pi in np.flatnonzero(todo[fi]):
                roi = roi_from_landmarks(regions[vi, fi, pi])
                res = None if roi is None else detector.landmarks_in_roi(rgb, *roi)
                if res is not None:
                    kp[vi, fi, pi] = res.keypoints_2d
                    vis[vi, fi, pi] = res.visibility
                    world[vi, fi, pi] = res.world
                    score[vi, fi, pi] = res.score
    return ViewDetections(
        frames=frames,
        keypoints_2d=kp,
        visibility=vis,
        world=world,
        score=score,
        detection_score=np.zeros((v, f, p)),
        image_size=size,
    )
