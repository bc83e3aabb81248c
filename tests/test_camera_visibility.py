"""in_front / in_image / visible."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posesynth.geometry.camera import CameraModel, fisheye, in_front, in_image, pinhole, visible


def at_angle(theta: float, distance: float = 2.0) -> np.ndarray:
    return distance * np.array([math.sin(theta), 0.0, math.cos(theta)])


def test_in_image_pixel_centre_convention():
    w, h = 640, 480
    uv = np.array(
        [
            [-0.5, -0.5],  # corner of the top-left pixel: inside
            [-0.5 - 1e-9, 10.0],  # just left: outside
            [w - 0.5 - 1e-9, 10.0],  # just inside the right edge
            [w - 0.5, 10.0],  # right edge itself: outside
            [10.0, h - 0.5],  # bottom edge: outside
            [10.0, h - 0.5 - 1e-9],  # just inside the bottom edge
            [np.nan, 10.0],
            [w / 2, h / 2],
        ]
    )
    np.testing.assert_array_equal(in_image(uv, w, h), [True, False, True, False, False, True, False, True])


def test_in_image_per_camera_sizes_broadcast():
    uv = np.array([[[700.0, 10.0]], [[700.0, 10.0]]])  # (2 cameras, 1 point, 2)
    np.testing.assert_array_equal(in_image(uv, np.array([640, 1280]), 480), [[False], [True]])
    with pytest.raises(ValueError, match=r"width: expected values > 0"):
        in_image(uv, 0, 480)


@pytest.mark.parametrize("model", ["pinhole", "opencv", "h36m"])
def test_in_front_perspective_models_use_depth(model):
    p = np.array([[0.0, 0.0, 1e-7], [0.0, 0.0, 1e-3], [5.0, 0.0, 0.01], [0.0, 1.0, -2.0]])
    np.testing.assert_array_equal(in_front(p, model), [False, True, True, False])
    np.testing.assert_array_equal(in_front(p, model, min_depth=0.005), [False, False, True, False])
    # An optional cone narrows it.
    np.testing.assert_array_equal(in_front(p, model, max_half_fov=math.radians(60)), [False, True, False, False])
    with pytest.raises(ValueError, match=r"max_half_fov: expected values in \(0, 1\.5708\]"):
        in_front(p, model, max_half_fov=2.0)


def test_in_front_fisheye_uses_angle_to_the_optical_axis():
    p = np.stack([at_angle(math.radians(d)) for d in (0, 60, 89.9, 95, 120, 180)])
    np.testing.assert_array_equal(in_front(p, "fisheye"), [True, True, True, False, False, False])
    np.testing.assert_array_equal(
        in_front(p, CameraModel.FISHEYE, max_half_fov=math.radians(100)),
        [True, True, True, True, False, False],
    )
    np.testing.assert_array_equal(
        in_front(p, CameraModel.FISHEYE, max_half_fov=math.pi),
        [True, True, True, True, True, False],
    )
    np.testing.assert_array_equal(in_front(np.zeros((1, 3)), "fisheye"), [False])
    with pytest.raises(ValueError, match=r"max_half_fov: expected values > 0"):
        in_front(p, "fisheye", max_half_fov=0.0)


def test_visible_combines_and_broadcasts():
    intr = np.array([[500.0, 500.0, 320.0, 240.0], [500.0, 500.0, 640.0, 240.0]])
    size = np.array([[640, 480], [1280, 480]])
    p = np.array([[0.0, 0.0, 2.0], [0.0, 0.0, -2.0], [1.0, 0.0, 2.0], [1e3, 0.0, 2.0]])
    p = np.broadcast_to(p, (2, 4, 3))
    uv = pinhole.project(p, intr)
    vis = visible(p, uv, "pinhole", size)
    assert vis.shape == (2, 4) and vis.dtype == bool
    # Point 1 is behind (its mirrored pixel lands in the image); point 2 is at u = 570 / 890.
    np.testing.assert_array_equal(vis, [[True, False, True, False], [True, False, True, False]])
    assert in_image(uv, size[:, 0], size[:, 1])[:, 1].all()


def test_visible_fisheye_beyond_90_degrees():
    intr = np.array([200.0, 200.0, 500.0, 500.0])
    p = np.stack([at_angle(math.radians(d)) for d in (30, 100)])
    uv = fisheye.project(p, intr)
    np.testing.assert_array_equal(visible(p, uv, "fisheye", (1000, 1000)), [True, False])
    np.testing.assert_array_equal(visible(p, uv, "fisheye", (1000, 1000), max_half_fov=math.radians(110)), [True, True])
