"""The projection models as an enum, and dispatch to their modules.

Each model lives in its own module (``pinhole``, ``opencv``, ``fisheye``, ``h36m``) with
``validate``, ``project`` and ``unproject``; this module maps enum members to them explicitly.
"""

from __future__ import annotations

import enum
from types import ModuleType

import numpy as np

from posesynth.geometry.camera import fisheye, h36m, opencv, pinhole


class CameraModel(enum.Enum):
    """Projection model of a camera; the value is its name in files and configuration."""

    PINHOLE = "pinhole"
    OPENCV = "opencv"
    FISHEYE = "fisheye"
    H36M = "h36m"

    @classmethod
    def parse(cls, value: CameraModel | str) -> CameraModel:
        """Return the member for ``value`` (a member, or its name/value, case-insensitive).

        Raises:
            ValueError: listing the valid names when ``value`` names no model.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            key = value.strip().lower()
            for member in cls:
                if member.value == key:
                    return member
        valid = [m.value for m in cls]
        raise ValueError(f"model: expected one of {valid}, got {value!r}")

    @property
    def distortion_names(self) -> tuple[str, ...]:
        """Names of the distortion coefficients, in storage order."""
        return _MODULES[self].DISTORTION_NAMES

    @property
    def distortion_size(self) -> int:
        """Length D of this model's distortion vector ``(..., D)``."""
        return len(_MODULES[self].DISTORTION_NAMES)


_MODULES: dict[CameraModel, ModuleType] = {
    CameraModel.PINHOLE: pinhole,
    CameraModel.OPENCV: opencv,
    CameraModel.FISHEYE: fisheye,
    CameraModel.H36M: h36m,
}


def model_module(model: CameraModel | str) -> ModuleType:
    """The module implementing ``model`` (``validate``, ``project``, ``unproject``)."""
    return _MODULES[CameraModel.parse(model)]


def validate(
    model: CameraModel | str, intrinsics: np.ndarray, distortion: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Check a model's parameters; return ``(intrinsics (..., 4), distortion (..., D))`` as floats.

    ``distortion=None`` means all zeros. Raises ``ValueError`` naming the bad argument.
    """
    return model_module(model).validate(intrinsics, distortion)


def project(
    model: CameraModel | str,
    p_cam: np.ndarray,
    intrinsics: np.ndarray,
    distortion: np.ndarray | None = None,
) -> np.ndarray:
    """Project camera-frame points to pixels with ``model``.

    Args:
        model: a :class:`CameraModel` or its name.
        p_cam: ``(..., J, 3)`` points in the camera frame (OpenCV: x right, y down, z forward),
            metres.
        intrinsics: ``(..., 4)`` ``(fx, fy, cx, cy)``, pixels.
        distortion: ``(..., D)`` in the model's order (``CameraModel.distortion_names``);
            ``None`` means all zero.

    Returns:
        ``uv_px (..., J, 2)`` pixels, (0, 0) the centre of the top-left pixel. Leading dims of
        points and parameters broadcast.
    """
    return model_module(model).project(p_cam, intrinsics, distortion)


def unproject(
    model: CameraModel | str,
    uv_px: np.ndarray,
    intrinsics: np.ndarray,
    distortion: np.ndarray | None = None,
) -> np.ndarray:
    """Unit rays in the camera frame through pixels, with ``model``.

    Args:
        model: a :class:`CameraModel` or its name.
        uv_px: ``(..., J, 2)`` pixels, (0, 0) the centre of the top-left pixel.
        intrinsics: ``(..., 4)`` ``(fx, fy, cx, cy)``, pixels.
        distortion: ``(..., D)`` in the model's order; ``None`` means all zero.

    Returns:
        ``rays_cam (..., J, 3)`` unit vectors, camera frame (OpenCV). Leading dims broadcast.
    """
    return model_module(model).unproject(uv_px, intrinsics, distortion)
