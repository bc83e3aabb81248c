"""Fisheye projection: Kannala-Brandt on an equidistant base, coefficients k1..k4.

Matches ``cv2.fisheye.projectPoints`` (zero skew) in front of the camera and extends it
beyond 90 degrees. With ``r = hypot(X, Y)`` and the angle from the optical axis
``theta = atan2(r, Z)`` (so points at or behind 90 degrees are handled)::

    theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)
    u = fx theta_d X / r + cx,  v = fy theta_d Y / r + cy

With all k = 0 this is the equidistant model ``|uv - c| = f theta`` (per axis).

Camera frame OpenCV (x right, y down, z forward), metres; pixels with (0, 0) at the centre of
the top-left pixel; angles in radians. Usual broadcasting rules apply between the leading dims
of points ``(..., J, k)`` and parameters ``(..., n)``.
"""

from __future__ import annotations

import numpy as np

from posesynth.geometry.camera import _common

#: Names of the distortion coefficients, in storage order (OpenCV's).
DISTORTION_NAMES: tuple[str, ...] = ("k1", "k2", "k3", "k4")


def validate(intrinsics: np.ndarray, distortion: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Check fisheye parameters; return them as float arrays.

    Args:
        intrinsics: ``(..., 4)`` ``(fx, fy, cx, cy)`` in pixels; finite, fx, fy > 0.
        distortion: ``(..., 4)`` ``(k1, k2, k3, k4)``, finite; ``None`` means all zero.

    Returns:
        ``(intrinsics (..., 4), distortion (..., 4))``.

    Raises:
        ValueError: naming the argument, what arrived and what was expected.
    """
    return (
        _common.validate_intrinsics(intrinsics),
        _common.validate_distortion(distortion, DISTORTION_NAMES, "fisheye"),
    )


def distort_angle(theta: np.ndarray, distortion: np.ndarray) -> np.ndarray:
    """``theta_d (..., J)`` from the angle to the optical axis ``theta (..., J)``, radians."""
    k1, k2, k3, k4 = (_common.per_point(distortion, i) for i in range(4))
    t2 = theta * theta
    return theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))


def undistort_angle(
    theta_d: np.ndarray, distortion: np.ndarray, iterations: int = _common.NEWTON_ITERATIONS
) -> np.ndarray:
    """Invert :func:`distort_angle` by fixed-iteration Newton on theta, kept in ``[0, pi]``.

    Valid where ``theta_d(theta)`` is increasing (the image circle of a real lens).
    """
    k1, k2, k3, k4 = (_common.per_point(distortion, i) for i in range(4))
    theta = np.clip(theta_d, 0.0, np.pi)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(iterations):
            t2 = theta * theta
            f = theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - theta_d
            df = 1.0 + t2 * (3.0 * k1 + t2 * (5.0 * k2 + t2 * (7.0 * k3 + t2 * 9.0 * k4)))
            ok = np.abs(df) > 1e-12
            step = np.where(ok, f / np.where(ok, df, 1.0), 0.0)
            theta = np.clip(theta - step, 0.0, np.pi)
    return theta


def project(p_cam: np.ndarray, intrinsics: np.ndarray, distortion: np.ndarray | None = None) -> np.ndarray:
    """Project camera-frame points to pixels through the Kannala-Brandt model.

    Args:
        p_cam: ``(..., J, 3)`` points in the camera frame, metres; any direction (beyond 90
            degrees too).
        intrinsics: ``(..., 4)`` ``(fx, fy, cx, cy)``, pixels.
        distortion: ``(..., 4)`` ``(k1, k2, k3, k4)``; ``None`` means all zero.

    Returns:
        ``uv_px (..., J, 2)`` pixels, as ``cv2.fisheye.projectPoints`` for Z > 0. A point on
        the optical axis in front maps to the principal point; one at the camera centre or
        exactly behind it (no defined direction in the image) gives NaN.
    """
    return _common.apply_model(_project, validate, p_cam, "p_cam", 3, intrinsics, distortion, 2, compiled="fisheye")


def unproject(uv_px: np.ndarray, intrinsics: np.ndarray, distortion: np.ndarray | None = None) -> np.ndarray:
    """Rays through pixels, solving for theta by fixed-iteration Newton.

    Args:
        uv_px: ``(..., J, 2)`` pixels.
        intrinsics: ``(..., 4)`` ``(fx, fy, cx, cy)``, pixels.
        distortion: ``(..., 4)`` ``(k1, k2, k3, k4)``; ``None`` means all zero.

    Returns:
        ``rays_cam (..., J, 3)`` unit vectors in the camera frame; z < 0 for pixels beyond 90
        degrees. Exact to round-off where ``theta_d(theta)`` is increasing.
    """
    return _common.apply_model(_unproject, validate, uv_px, "uv_px", 2, intrinsics, distortion, 3)


def _project(p_cam: np.ndarray, intrinsics: np.ndarray, distortion: np.ndarray) -> np.ndarray:
    px, py, pz = p_cam[..., 0], p_cam[..., 1], p_cam[..., 2]
    r = np.hypot(px, py)
    theta_d = distort_angle(np.arctan2(r, pz), distortion)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scale = theta_d / r
        on_axis = r == 0.0
        if on_axis.any():  # theta_d / r -> 1 / Z as r -> 0 in front; undefined behind
            scale = np.where(on_axis, np.where(pz > 0.0, 1.0 / pz, np.nan), scale)
        return _common.to_pixels(px * scale, py * scale, intrinsics)


def _unproject(uv_px: np.ndarray, intrinsics: np.ndarray, distortion: np.ndarray) -> np.ndarray:
    xd, yd = _common.from_pixels(uv_px, intrinsics)
    theta_d = np.hypot(xd, yd)
    theta = undistort_angle(theta_d, distortion)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.sin(theta) / theta_d
    at_centre = theta_d == 0.0
    if at_centre.any():  # sin(theta) / theta_d -> 1 as theta_d -> 0 (theta ~ theta_d there)
        scale = np.where(at_centre, 1.0, scale)
    rays = np.empty(theta.shape + (3,), dtype=theta.dtype)
    rays[..., 0] = xd * scale
    rays[..., 1] = yd * scale
    rays[..., 2] = np.cos(theta)
    return rays
