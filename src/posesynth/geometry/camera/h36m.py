"""Human3.6M's own distortion model (radial k1, k2, k3; its own tangential term).

Stored in OpenCV's order ``(k1, k2, p1, p2, k3)``. With normalised ``x = X/Z, y = Y/Z``,
``r2 = x^2 + y^2``, radial ``a = 1 + k1 r2 + k2 r2^2 + k3 r2^3`` and tangential
``b = p2 x + p1 y``::

    u = fx (x (a + b) + p2 r2) + cx
    v = fy (y (a + b) + p1 r2) + cy

This is the formula of the dataset's own code and reproduces its 2D annotations; OpenCV's
tangential term is ``2 (p1 y + p2 x)`` in place of ``b``, so the two differ whenever p != 0.
(Human3.6M's metadata stores ``p = (p1, p2)`` in this order; VideoPose3D's
``tangential_distortion`` lists them swapped, ``(p2, p1)``.)

Camera frame OpenCV (x right, y down, z forward), metres; pixels with (0, 0) at the centre of
the top-left pixel. Usual broadcasting rules apply between the leading dims of points
``(..., J, k)`` and parameters ``(..., n)``.
"""

from __future__ import annotations

import numpy as np

from posesynth.geometry.camera import _common

#: Names of the distortion coefficients, in storage order (OpenCV's).
DISTORTION_NAMES: tuple[str, ...] = ("k1", "k2", "p1", "p2", "k3")


def validate(intrinsics: np.ndarray, distortion: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Check Human3.6M-model parameters; return them as float arrays.

    Args:
        intrinsics: ``(..., 4)`` ``(fx, fy, cx, cy)`` in pixels; finite, fx, fy > 0.
        distortion: ``(..., 5)`` ``(k1, k2, p1, p2, k3)``, finite; ``None`` means all zero.

    Returns:
        ``(intrinsics (..., 4), distortion (..., 5))``.

    Raises:
        ValueError: naming the argument, what arrived and what was expected.
    """
    return (
        _common.validate_intrinsics(intrinsics),
        _common.validate_distortion(distortion, DISTORTION_NAMES, "h36m"),
    )


def distort(x: np.ndarray, y: np.ndarray, distortion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distort normalised image coordinates ``x, y (..., J)``; ``distortion (..., 5)``."""
    k1, k2, p1, p2, k3 = (_common.per_point(distortion, i) for i in range(5))
    r2 = x * x + y * y
    ab = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3)) + p2 * x + p1 * y
    return x * ab + p2 * r2, y * ab + p1 * r2


def undistort(xd: np.ndarray, yd: np.ndarray, distortion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Invert :func:`distort` by fixed-iteration Newton.

    ``xd, yd (..., J)`` distorted normalised coordinates, ``distortion (..., 5)``; returns the
    undistorted ``x, y (..., J)``. Valid where the distortion is invertible.
    """
    k1, k2, p1, p2, k3 = (_common.per_point(distortion, i) for i in range(5))

    def residual_and_jacobian(x, y):
        r2 = x * x + y * y
        ab = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3)) + p2 * x + p1 * y
        da = 2.0 * (k1 + r2 * (2.0 * k2 + 3.0 * r2 * k3))  # d a / d(x or y), divided by x or y
        gx = x * ab + p2 * r2
        gy = y * ab + p1 * r2
        dgx_dx = ab + x * (x * da + p2) + 2.0 * p2 * x
        dgx_dy = x * (y * da + p1) + 2.0 * p2 * y
        dgy_dx = y * (x * da + p2) + 2.0 * p1 * x
        dgy_dy = ab + y * (y * da + p1) + 2.0 * p1 * y
        return gx, gy, dgx_dx, dgx_dy, dgy_dx, dgy_dy

    return _common.newton_2d(xd, yd, residual_and_jacobian)


def project(p_cam: np.ndarray, intrinsics: np.ndarray, distortion: np.ndarray | None = None) -> np.ndarray:
    """Project camera-frame points to pixels through Human3.6M's distortion.

    Args:
        p_cam: ``(..., J, 3)`` points in the camera frame, metres.
        intrinsics: ``(..., 4)`` ``(fx, fy, cx, cy)``, pixels.
        distortion: ``(..., 5)`` ``(k1, k2, p1, p2, k3)``; ``None`` means all zero.

    Returns:
        ``uv_px (..., J, 2)`` pixels. Z = 0 gives inf/NaN; points behind the camera are
        mirrored through the centre - use ``visibility.in_front``.
    """
    return _common.apply_model(_project, validate, p_cam, "p_cam", 3, intrinsics, distortion, 2, compiled="h36m")


def unproject(uv_px: np.ndarray, intrinsics: np.ndarray, distortion: np.ndarray | None = None) -> np.ndarray:
    """Rays through pixels, undistorting by fixed-iteration Newton.

    Args:
        uv_px: ``(..., J, 2)`` pixels.
        intrinsics: ``(..., 4)`` ``(fx, fy, cx, cy)``, pixels.
        distortion: ``(..., 5)`` ``(k1, k2, p1, p2, k3)``; ``None`` means all zero.

    Returns:
        ``rays_cam (..., J, 3)`` unit vectors in the camera frame (z > 0). Exact to round-off
        where the distortion is invertible (the image region of a real lens).
    """
    return _common.apply_model(_unproject, validate, uv_px, "uv_px", 2, intrinsics, distortion, 3)


def _project(p_cam: np.ndarray, intrinsics: np.ndarray, distortion: np.ndarray) -> np.ndarray:
    x, y = _common.normalised_xy(p_cam)
    with np.errstate(invalid="ignore", over="ignore"):
        xd, yd = distort(x, y, distortion)
    return _common.to_pixels(xd, yd, intrinsics)


def _unproject(uv_px: np.ndarray, intrinsics: np.ndarray, distortion: np.ndarray) -> np.ndarray:
    xd, yd = _common.from_pixels(uv_px, intrinsics)
    x, y = undistort(xd, yd, distortion)
    return _common.rays_from_xy(x, y)
