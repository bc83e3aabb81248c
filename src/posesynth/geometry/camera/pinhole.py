"""Pinhole (perspective, undistorted) projection.

``u = fx X/Z + cx``, ``v = fy Y/Z + cy``. Camera frame OpenCV (x right, y down, z forward),
metres; pixels with (0, 0) at the centre of the top-left pixel. Intrinsics ``(..., 4) =
(fx, fy, cx, cy)`` in pixels; distortion has length 0. Usual broadcasting rules apply between
the leading dims of points ``(..., J, k)`` and parameters ``(..., n)``.
"""

from __future__ import annotations

import numpy as np

from posesynth.geometry.camera import _common

#: Names of the distortion coefficients, in storage order (none).
DISTORTION_NAMES: tuple[str, ...] = ()


def validate(intrinsics: np.ndarray, distortion: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Check pinhole parameters; return them as float arrays.

    Args:
        intrinsics: ``(..., 4)`` ``(fx, fy, cx, cy)`` in pixels; finite, fx, fy > 0.
        distortion: ``(..., 0)`` or ``None``.

    Returns:
        ``(intrinsics (..., 4), distortion (..., 0))``.

    Raises:
        ValueError: naming the argument, what arrived and what was expected.
    """
    return (
        _common.validate_intrinsics(intrinsics),
        _common.validate_distortion(distortion, DISTORTION_NAMES, "pinhole"),
    )


def project(p_cam: np.ndarray, intrinsics: np.ndarray, distortion: np.ndarray | None = None) -> np.ndarray:
    """Project camera-frame points to pixels.

    Args:
        p_cam: ``(..., J, 3)`` points in the camera frame, metres.
        intrinsics: ``(..., 4)`` ``(fx, fy, cx, cy)``, pixels.
        distortion: ``(..., 0)`` or ``None``.

    Returns:
        ``uv_px (..., J, 2)`` pixels. Points with Z = 0 give inf/NaN; points behind the camera
        (Z < 0) are projected through the centre (mirrored) - use ``visibility.in_front``.
    """
    p_cam = _common.check_points(p_cam, 3, "p_cam")
    intrinsics, distortion = validate(intrinsics, distortion)
    _common.check_batch(p_cam, "p_cam", intrinsics=intrinsics, distortion=distortion)
    uv_px = _common.project_compiled("pinhole", p_cam, intrinsics, distortion)
    if uv_px is not None:
        return uv_px
    return _common.map_blocks(_project, [(p_cam, 2), (intrinsics, 1)], p_cam.shape[-2:-1] + (2,))


def unproject(uv_px: np.ndarray, intrinsics: np.ndarray, distortion: np.ndarray | None = None) -> np.ndarray:
    """Rays through pixels.

    Args:
        uv_px: ``(..., J, 2)`` pixels.
        intrinsics: ``(..., 4)`` ``(fx, fy, cx, cy)``, pixels.
        distortion: ``(..., 0)`` or ``None``.

    Returns:
        ``rays_cam (..., J, 3)`` unit vectors in the camera frame (z > 0).
    """
    uv_px = _common.check_points(uv_px, 2, "uv_px")
    intrinsics, distortion = validate(intrinsics, distortion)
    _common.check_batch(uv_px, "uv_px", intrinsics=intrinsics, distortion=distortion)
    return _common.map_blocks(_unproject, [(uv_px, 2), (intrinsics, 1)], uv_px.shape[-2:-1] + (3,))


def _project(p_cam: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    x, y = _common.normalised_xy(p_cam)
    return _common.to_pixels(x, y, intrinsics)


def _unproject(uv_px: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    x, y = _common.from_pixels(uv_px, intrinsics)
    return _common.rays_from_xy(x, y)
