"""World <-> camera transforms, look_at and orbit."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from posesynth.geometry.camera import (
    Camera,
    CameraModel,
    camera_to_world,
    look_at,
    opencv,
    orbit,
    pinhole,
    rotation_center,
    rotation_translation,
    world_to_camera,
)

INTR = np.array([1000.0, 1000.0, 640.0, 360.0])
UP = np.array([0.0, 0.0, 1.0])


def assert_rotation(R: np.ndarray, atol: float = 1e-12) -> None:
    eye = np.broadcast_to(np.eye(3), R.shape)
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), eye, atol=atol)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=atol)


finite = st.floats(-50.0, 50.0, allow_nan=False)
points3 = st.tuples(finite, finite, finite).map(np.array)


# ------------------------------------------------------------------ world <-> camera
def test_world_to_camera_formula_and_inverse():
    rng = np.random.default_rng(0)
    R = Rotation.random(6, random_state=1).as_matrix().reshape(2, 3, 3, 3)
    C = rng.normal(size=(2, 3, 3))
    p_world = rng.normal(size=(2, 3, 17, 3))
    p_cam = world_to_camera(p_world, R, C)
    assert p_cam.shape == (2, 3, 17, 3)
    expected = np.einsum("bcij,bckj->bcki", R, p_world - C[:, :, None, :])
    np.testing.assert_allclose(p_cam, expected, atol=1e-12)
    np.testing.assert_allclose(camera_to_world(p_cam, R, C), p_world, atol=1e-12)
    # The camera centre maps to the camera-frame origin.
    np.testing.assert_allclose(world_to_camera(C[..., None, :], R, C), 0.0, atol=1e-12)


def test_world_to_camera_broadcasts_one_camera_over_a_batch_of_points():
    R = Rotation.from_euler("xyz", [0.3, -0.2, 1.0]).as_matrix()
    C = np.array([1.0, 2.0, 3.0])
    p_world = np.random.default_rng(0).normal(size=(4, 5, 6, 3))
    p_cam = world_to_camera(p_world, R, C)
    np.testing.assert_allclose(p_cam[2, 3], (p_world[2, 3] - C) @ R.T, atol=1e-12)
    with pytest.raises(ValueError, match=r"p_world: leading dimensions must broadcast"):
        world_to_camera(p_world, np.stack([R, R]), C)
    with pytest.raises(ValueError, match=r"R: expected shape \(\.\.\., 3, 3\), got \(3, 4\)"):
        world_to_camera(p_world, np.zeros((3, 4)), C)
    with pytest.raises(ValueError, match=r"C: expected shape \(\.\.\., 3\), got \(2,\)"):
        world_to_camera(p_world, R, C[:2])


def test_extrinsics_match_cv2_project_points_via_rotation_translation():
    rng = np.random.default_rng(5)
    R = Rotation.random(random_state=5).as_matrix()
    C = np.array([0.5, -3.0, 1.5])
    dist = np.array([-0.1, 0.02, 0.001, -0.002, 0.003])
    R_cv, t = rotation_translation(R, C)
    np.testing.assert_allclose(t, -R @ C)
    p_world = C + (R.T @ np.array([0.0, 0.0, 4.0])) + rng.normal(scale=0.5, size=(100, 3))
    camera = Camera(CameraModel.OPENCV, INTR, dist, R, C, (1280, 720))
    ref, _ = cv2.projectPoints(
        p_world, cv2.Rodrigues(R_cv)[0], t, np.array([[INTR[0], 0, INTR[2]], [0, INTR[1], INTR[3]], [0, 0, 1]]), dist
    )
    np.testing.assert_allclose(camera.project_world(p_world), ref.reshape(-1, 2), atol=1e-6)
    _, C_back = rotation_center(R_cv, t)
    np.testing.assert_allclose(C_back, C, atol=1e-12)


@settings(max_examples=50, deadline=None)
@given(
    quat=st.tuples(*[st.floats(-1, 1)] * 4),
    C=points3,
    p=st.lists(points3, min_size=1, max_size=5),
)
def test_property_world_camera_round_trip(quat, C, p):
    q = np.array(quat)
    assume(np.linalg.norm(q) > 0.1)
    R = Rotation.from_quat(q).as_matrix()
    p_world = np.stack(p)
    back = camera_to_world(world_to_camera(p_world, R, C), R, C)
    np.testing.assert_allclose(back, p_world, atol=1e-9)
    # Distances are preserved.
    np.testing.assert_allclose(
        np.linalg.norm(world_to_camera(p_world, R, C), axis=-1),
        np.linalg.norm(p_world - C, axis=-1),
        atol=1e-9,
    )


# --------------------------------------------------------------------------- look_at
def test_look_at_known_pose():
    # Camera on -Y looking along +Y at the origin, Z up: x_cam = +X, y_cam = -Z, z_cam = +Y.
    R = look_at(np.array([0.0, -5.0, 0.0]), np.zeros(3))
    np.testing.assert_allclose(R, [[1, 0, 0], [0, 0, -1], [0, 1, 0]], atol=1e-15)


@settings(max_examples=80, deadline=None)
@given(eye=points3, target=points3, roll=st.floats(-math.pi, math.pi))
def test_property_look_at(eye, target, roll):
    forward = target - eye
    assume(np.linalg.norm(forward) > 1e-3)
    horizontal = np.linalg.norm(forward[:2]) / np.linalg.norm(forward)
    R = look_at(eye, target, roll=roll)
    assert_rotation(R, atol=1e-9)
    # The target lies on the optical axis: it projects to the principal point.
    uv = pinhole.project(world_to_camera(target[None], R, eye), INTR)
    np.testing.assert_allclose(uv[0], INTR[2:], atol=1e-6)
    if horizontal > 1e-6:
        R0 = look_at(eye, target)
        up_cam = R0 @ UP
        assert abs(up_cam[0]) < 1e-9  # world vertical stays vertical in the image ...
        assert up_cam[1] < 0  # ... and points to the top of the image (camera -y)
        # Roll turns the camera about its optical axis only.
        np.testing.assert_allclose(R[2], R0[2], atol=1e-12)
        c, s = math.cos(roll), math.sin(roll)
        np.testing.assert_allclose(R[0], c * R0[0] + s * R0[1], atol=1e-12)


def test_look_at_roll_turns_the_scene_counter_clockwise_in_the_image():
    eye, target = np.array([0.0, -5.0, 1.0]), np.array([0.0, 0.0, 1.0])
    above = (target + 0.5 * UP)[None]
    for roll, expect_u in ((0.0, 0), (0.2, -1), (-0.2, +1)):
        R = look_at(eye, target, roll=roll)
        u, v = pinhole.project(world_to_camera(above, R, eye), INTR)[0]
        assert v < INTR[3]
        assert np.sign(round(u - INTR[2], 9)) == expect_u


@pytest.mark.parametrize("direction", [-1.0, 1.0])
def test_look_at_straight_down_or_up_uses_documented_fallback(direction):
    target = np.array([1.0, 2.0, 0.0])
    eye = target - direction * np.array([0.0, 0.0, 3.0])
    R = look_at(eye, target)
    assert_rotation(R)
    np.testing.assert_allclose(R[2], [0.0, 0.0, direction], atol=1e-15)
    # Fallback: world +X (the axis least aligned with up) is image up (camera -y).
    np.testing.assert_allclose(R @ np.array([1.0, 0.0, 0.0]), [0.0, -1.0, 0.0], atol=1e-15)
    assert np.isfinite(R).all()


@pytest.mark.parametrize("offset", [6e-8, 1e-9 * 3.0 * 1.0001, 1e-6])
def test_look_at_nearly_straight_down_stays_orthonormal(offset):
    # Just outside the fallback cone, ``up`` minus its component along z cancels badly.
    R = look_at(np.zeros(3), np.array([0.0, offset, 3.0]))
    assert_rotation(R, atol=1e-12)
    uv = pinhole.project(world_to_camera(np.array([[0.0, offset, 3.0]]), R, np.zeros(3)), INTR)
    np.testing.assert_allclose(uv[0], INTR[2:], atol=1e-9)


def test_look_at_batched_and_custom_up():
    rng = np.random.default_rng(2)
    eye = rng.normal(size=(4, 5, 3)) * 5
    target = rng.normal(size=(4, 5, 3))
    roll = rng.uniform(-1, 1, (4, 5))
    R = look_at(eye, target, roll=roll)
    assert R.shape == (4, 5, 3, 3)
    np.testing.assert_allclose(R[1, 2], look_at(eye[1, 2], target[1, 2], roll=roll[1, 2]))
    R_y_up = look_at(np.array([0.0, 0.0, -5.0]), np.zeros(3), up=[0.0, 2.0, 0.0])
    np.testing.assert_allclose(R_y_up @ [0.0, 1.0, 0.0], [0.0, -1.0, 0.0], atol=1e-15)


def test_look_at_bad_input():
    with pytest.raises(ValueError, match=r"target: expected a point different from eye"):
        look_at(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match=r"up: expected a non-zero vector"):
        look_at(np.zeros(3), np.ones(3), up=np.zeros(3))
    with pytest.raises(ValueError, match=r"eye: expected finite values"):
        look_at(np.array([np.nan, 0, 0]), np.ones(3))
    with pytest.raises(ValueError, match=r"eye: expected shape \(\.\.\., 3\), got \(2,\)"):
        look_at(np.zeros(2), np.ones(3))


# ----------------------------------------------------------------------------- orbit
@settings(max_examples=80, deadline=None)
@given(
    target=points3,
    azimuth=st.floats(-2 * math.pi, 2 * math.pi),
    elevation=st.floats(-math.pi / 2, math.pi / 2),
    distance=st.floats(0.1, 100.0),
    roll=st.floats(-math.pi, math.pi),
)
def test_property_orbit(target, azimuth, elevation, distance, roll):
    R, C = orbit(target, azimuth, elevation, distance, roll)
    assert_rotation(R, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(C - target), distance, rtol=1e-9)
    offset = C - target
    np.testing.assert_allclose(
        offset,
        distance
        * np.array(
            [math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth), math.sin(elevation)]
        ),
        atol=1e-9,
    )
    uv = pinhole.project(world_to_camera(target[None], R, C), INTR)
    np.testing.assert_allclose(uv[0], INTR[2:], atol=1e-6)
    if abs(elevation) < math.pi / 2 - 1e-6:
        np.testing.assert_allclose(R, look_at(C, target, roll=roll), atol=1e-8)


def test_orbit_azimuth_and_elevation_directions():
    target = np.array([1.0, 2.0, 0.5])
    _, C = orbit(target, 0.0, 0.0, 3.0)
    np.testing.assert_allclose(C, target + [3.0, 0.0, 0.0], atol=1e-15)
    _, C = orbit(target, math.pi / 2, 0.0, 3.0)  # from +X towards +Y
    np.testing.assert_allclose(C, target + [0.0, 3.0, 0.0], atol=1e-15)
    _, C = orbit(target, 0.3, math.pi / 2, 3.0)  # above
    np.testing.assert_allclose(C, target + [0.0, 0.0, 3.0], atol=1e-15)


def test_orbit_at_the_pole_is_continuous():
    target = np.zeros(3)
    R_pole, _ = orbit(target, 0.7, math.pi / 2, 2.0)
    R_near, _ = orbit(target, 0.7, math.pi / 2 - 1e-7, 2.0)
    assert_rotation(R_pole)
    np.testing.assert_allclose(R_pole, R_near, atol=1e-6)


def test_orbit_batch_shapes():
    az = np.linspace(0, 2 * math.pi, 8, endpoint=False)
    el = np.array([0.1, 0.4, 0.8])[:, None]
    R, C = orbit(np.zeros(3), az, el, 4.0)
    assert R.shape == (3, 8, 3, 3) and C.shape == (3, 8, 3)
    R, C = orbit(np.zeros(3), 0.0, 0.0, 4.0, roll=np.zeros(5))
    assert R.shape == (5, 3, 3) and C.shape == (5, 3)
    with pytest.raises(ValueError, match=r"distance: expected values > 0, got \[-1\.0\]"):
        orbit(np.zeros(3), 0.0, 0.0, -1.0)
    with pytest.raises(ValueError, match=r"azimuth: expected finite values"):
        orbit(np.zeros(3), np.nan, 0.0, 1.0)


def test_orbit_cameras_see_world_up_as_image_up():
    R, C = orbit(np.zeros(3), np.linspace(-3, 3, 7), 0.3, 5.0)
    up_cam = np.einsum("nij,j->ni", R, UP)
    np.testing.assert_allclose(up_cam[:, 0], 0.0, atol=1e-12)
    assert (up_cam[:, 1] < 0).all()
    uv = opencv.project(world_to_camera(np.zeros((7, 1, 3)), R, C), INTR)
    np.testing.assert_allclose(uv, np.broadcast_to(INTR[2:], (7, 1, 2)), atol=1e-9)
