"""Which points a camera sees: in front of it (per model) and inside the image.

Camera frame OpenCV (x right, y down, z forward), metres; pixels with (0, 0) at the centre of
the top-left pixel, so the image covers ``-0.5 <= u < width - 0.5``, ``-0.5 <= v < height -
0.5``. Angles in radians. Parameter arrays ``(...)`` broadcast against points ``(..., J)``.
No occlusion test: a point hidden behind another still counts as visible.
"""

from __future__ import annotations

import math

import numpy as np

from posesynth.geometry.camera import _common
from posesynth.geometry.camera.models import CameraModel
from posesynth.util.checks import check_finite, check_positive, check_shape


def _per_point(value: np.ndarray) -> np.ndarray:
    """``(...)`` -> ``(..., 1)`` to broadcast over J; scalars stay scalars."""
    return value[..., None] if value.ndim else value


def in_front(
    p_cam: np.ndarray,
    model: CameraModel | str,
    min_depth: float = 1e-6,
    max_half_fov: np.ndarray | float | None = None,
) -> np.ndarray:
    """Whether points lie in the part of space ``model`` can image.

    Perspective models (pinhole, opencv, h36m): depth ``Z > min_depth``, and, when
    ``max_half_fov`` is given (in ``(0, pi/2]``), angle to the optical axis
    ``theta = atan2(hypot(X, Y), Z) < max_half_fov``.

    Fisheye: ``theta < max_half_fov`` (default ``pi/2``, i.e. the front half-space; up to
    ``pi`` for lenses that see behind 90 degrees) and distance to the camera centre
    ``|p| > min_depth`` (depth along Z means nothing beyond 90 degrees).

    Args:
        p_cam: ``(..., J, 3)`` camera frame, metres.
        model: a :class:`CameraModel` or its name.
        min_depth: metres, >= 0.
        max_half_fov: ``(...)`` or scalar, radians; ``None`` for the model's default.

    Returns:
        ``(..., J)`` bool. Non-finite points are never in front.
    """
    model = CameraModel.parse(model)
    p_cam = _common.check_points(p_cam, 3, "p_cam")
    min_depth = check_min_depth(min_depth)
    x, y, z = p_cam[..., 0], p_cam[..., 1], p_cam[..., 2]
    if model is CameraModel.FISHEYE:
        ok = x * x + y * y + z * z > min_depth * min_depth
        if max_half_fov is None:
            max_half_fov = math.pi / 2
    else:
        ok = z > min_depth
        if max_half_fov is None:
            return ok
    m = _check_half_fov(max_half_fov, model)
    # theta < m  <=>  sin(m - theta) > 0 for theta, m in [0, pi]  <=>  z sin m > r cos m.
    return ok & (z * np.sin(m) > np.hypot(x, y) * np.cos(m))


def check_min_depth(min_depth: float) -> float:
    """``min_depth`` (metres) as a float; ``ValueError`` unless it is finite and >= 0."""
    min_depth = float(min_depth)
    if not (math.isfinite(min_depth) and min_depth >= 0):
        raise ValueError(f"min_depth: expected a finite value >= 0, got {min_depth}")
    return min_depth


def _check_half_fov(max_half_fov: np.ndarray | float, model: CameraModel) -> np.ndarray:
    """``(...)`` -> ``(..., 1)``, in ``(0, pi]`` for fisheye and ``(0, pi/2]`` otherwise."""
    limit = math.pi if model is CameraModel.FISHEYE else math.pi / 2
    m = check_positive(max_half_fov, "max_half_fov")
    if (m > limit).any():
        raise ValueError(
            f"max_half_fov: expected values in (0, {limit:.6g}] for model {model.value}, "
            f"got {m[m > limit].ravel()[:5].tolist()}"
        )
    return _per_point(m)


def in_image(uv_px: np.ndarray, width: np.ndarray | float, height: np.ndarray | float) -> np.ndarray:
    """Whether pixels fall inside a ``width x height`` image, pixel-centre convention.

    Inside means ``-0.5 <= u < width - 0.5`` and ``-0.5 <= v < height - 0.5``.

    Args:
        uv_px: ``(..., J, 2)`` pixels, (0, 0) the centre of the top-left pixel.
        width: ``(...)`` or scalar, pixels, > 0.
        height: ``(...)`` or scalar, pixels, > 0.

    Returns:
        ``(..., J)`` bool; NaN pixels are outside.
    """
    uv_px = _common.check_points(uv_px, 2, "uv_px")
    width = _per_point(check_positive(width, "width"))
    height = _per_point(check_positive(height, "height"))
    u, v = uv_px[..., 0], uv_px[..., 1]
    return (u >= -0.5) & (u < width - 0.5) & (v >= -0.5) & (v < height - 0.5)


def visible(
    p_cam: np.ndarray,
    uv_px: np.ndarray,
    model: CameraModel | str,
    image_size: np.ndarray,
    min_depth: float = 1e-6,
    max_half_fov: np.ndarray | float | None = None,
) -> np.ndarray:
    """``in_front(p_cam, ...) & in_image(uv_px, ...)``.

    Args:
        p_cam: ``(..., J, 3)`` camera frame, metres.
        uv_px: ``(..., J, 2)`` the same points projected with ``model``, pixels.
        model: a :class:`CameraModel` or its name.
        image_size: ``(..., 2)`` ``(width, height)``, pixels.
        min_depth, max_half_fov: as in :func:`in_front`.

    Returns:
        ``(..., J)`` bool.
    """
    image_size = check_finite(check_shape(image_size, (2,), "image_size"), "image_size")
    front = in_front(p_cam, model, min_depth=min_depth, max_half_fov=max_half_fov)
    return front & in_image(uv_px, image_size[..., 0], image_size[..., 1])
