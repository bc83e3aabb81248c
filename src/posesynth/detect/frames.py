"""Frames of a video file or a folder of images, one RGB array at a time (for ``posesynth demo``).

A video is decoded with OpenCV (``cv2.VideoCapture``: whatever its FFmpeg build reads); a
folder yields its images (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``, ``.webp``, ``.tif``,
``.tiff``) in name order. Frames are never all held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "FrameSource", "is_frame_source", "open_frames"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


def is_frame_source(path: Path | str) -> bool:
    """Whether ``path`` is a folder or a video file (by its suffix), not a single image."""
    p = Path(path)
    return p.is_dir() or p.suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class FrameSource:
    """The frames to read.

    Attributes:
        path: the video or folder.
        kind: ``"video"`` or ``"folder"``.
        count: how many frames will be yielded (after ``max_frames``).
        fps: frames per second of a video (None for a folder, or when the file does not say).
        names: a folder's file names (None for a video).
    """

    path: Path
    kind: str
    count: int
    fps: float | None
    names: tuple[str, ...] | None

    def __iter__(self) -> Iterator[tuple[int, str, np.ndarray]]:
        """``(index, name, rgb (H, W, 3) uint8)`` per frame; a frame that cannot be decoded
        raises ``ValueError`` naming it."""
        import cv2

        if self.kind == "folder":
            for i, name in enumerate(self.names or ()):
                data = np.fromfile(self.path / name, dtype=np.uint8)
                bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
                if bgr is None:
                    raise ValueError(f"{self.path / name}: cannot read it as an image")
                yield i, name, np.ascontiguousarray(bgr[..., ::-1])
            return
        cap = cv2.VideoCapture(str(self.path))
        try:
            for i in range(self.count):
                ok, bgr = cap.read()
                if not ok:
                    if i == 0:
                        raise ValueError(f"{self.path}: cannot decode its first frame")
                    return  # the container promised more frames than it holds
                yield i, f"{i:06d}", np.ascontiguousarray(bgr[..., ::-1])
        finally:
            cap.release()


def open_frames(path: Path | str, max_frames: int | None = None) -> FrameSource:
    """The frames of a video file or an image folder, checked before any frame is read.

    Args:
        path: a video (see :data:`VIDEO_SUFFIXES`) or a folder of images.
        max_frames: read at most this many frames (>= 1), from the start.

    Raises:
        ValueError: a missing path, a folder without images, a video OpenCV cannot open or
            that reports no frames, or ``max_frames < 1``.
    """
    import cv2

    p = Path(path)
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"--max-frames: expected >= 1, got {max_frames}")
    if p.is_dir():
        names = tuple(sorted(f.name for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES))
        if not names:
            raise ValueError(f"{p}: a folder without images ({', '.join(IMAGE_SUFFIXES)})")
        names = names[:max_frames] if max_frames else names
        return FrameSource(p, "folder", len(names), None, names)
    if not p.is_file():
        raise ValueError(f"{p}: no such video file or folder")
    cap = cv2.VideoCapture(str(p))
    try:
        if not cap.isOpened():
            raise ValueError(f"{p}: OpenCV cannot open it as a video")
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or None
    finally:
        cap.release()
    if count <= 0:
        raise ValueError(f"{p}: the video reports no frames")
    count = min(count, max_frames) if max_frames else count
    return FrameSource(p, "video", count, fps, None)
