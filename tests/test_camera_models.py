"""Projection models against OpenCV, the Human3.6M formula, each other, and themselves."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posesynth.geometry.camera import (
    CameraModel,
    fisheye,
    h36m,
    opencv,
    pinhole,
    project,
    unproject,
)
from posesynth.geometry.camera.models import model_module, validate

N_POINTS = 2000
PX_TOL = 1e-6  # against OpenCV
ROUND_TRIP_PX = 1e-9
ROUND_TRIP_RAD = 1e-9


def random_intrinsics(rng: np.random.Generator, shape: tuple[int, ...] = ()) -> np.ndarray:
    f = rng.uniform(300.0, 2000.0, shape + (1,))
    aspect = rng.uniform(0.95, 1.05, shape + (1,))
    c = rng.uniform(200.0, 800.0, shape + (2,))
    return np.concatenate([f, f * aspect, c], axis=-1)


def random_opencv_distortion(rng: np.random.Generator, shape: tuple[int, ...] = ()) -> np.ndarray:
    """Realistic Brown-Conrady coefficients (k1, k2, p1, p2, k3)."""
    k1 = rng.uniform(-0.3, 0.3, shape)
    k2 = rng.uniform(-0.1, 0.1, shape)
    p = rng.uniform(-0.003, 0.003, shape + (2,))
    k3 = rng.uniform(-0.02, 0.02, shape)
    return np.stack([k1, k2, p[..., 0], p[..., 1], k3], axis=-1)


def random_fisheye_distortion(rng: np.random.Generator, shape: tuple[int, ...] = (), wide: bool = False) -> np.ndarray:
    """Realistic Kannala-Brandt coefficients (k1..k4).

    Monotonic (so invertible) up to ~100 degrees, or up to 120 degrees with ``wide``.
    """
    scale = np.array([0.03, 0.003, 0.0003, 0.00003] if wide else [0.05, 0.01, 0.003, 0.001])
    return rng.uniform(-1.0, 1.0, shape + (4,)) * scale


def fisheye_is_monotonic(dist: np.ndarray, max_theta: float) -> bool:
    theta = np.linspace(0.0, max_theta, 2000)
    k1, k2, k3, k4 = dist
    t2 = theta**2
    return bool((1 + 3 * k1 * t2 + 5 * k2 * t2**2 + 7 * k3 * t2**3 + 9 * k4 * t2**4 > 0).all())


def random_points_in_fov(
    rng: np.random.Generator, n: int, half_fov: float, depth: tuple[float, float] = (0.5, 10.0)
) -> np.ndarray:
    """``(n, 3)`` camera-frame points at angles up to ``half_fov`` from the optical axis."""
    theta = half_fov * np.sqrt(rng.uniform(0.0, 1.0, n))
    phi = rng.uniform(-np.pi, np.pi, n)
    dist = rng.uniform(*depth, n)
    return dist[:, None] * np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], axis=-1)


def camera_matrix(intrinsics: np.ndarray) -> np.ndarray:
    fx, fy, cx, cy = intrinsics
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (rad) between vectors, accurate for tiny angles."""
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    return np.arctan2(cross, np.sum(a * b, axis=-1))


# --------------------------------------------------------------------- against OpenCV
@pytest.mark.parametrize("seed", range(5))
def test_pinhole_matches_cv2_project_points(seed):
    rng = np.random.default_rng(seed)
    intr = random_intrinsics(rng)
    p_cam = random_points_in_fov(rng, N_POINTS, math.radians(60))
    ours = pinhole.project(p_cam, intr)
    ref, _ = cv2.projectPoints(p_cam, np.zeros(3), np.zeros(3), camera_matrix(intr), None)
    np.testing.assert_allclose(ours, ref.reshape(-1, 2), atol=PX_TOL, rtol=0)


@pytest.mark.parametrize("seed", range(10))
def test_opencv_matches_cv2_project_points(seed):
    rng = np.random.default_rng(seed)
    intr = random_intrinsics(rng)
    dist = random_opencv_distortion(rng)
    p_cam = random_points_in_fov(rng, N_POINTS, math.radians(40))
    ours = opencv.project(p_cam, intr, dist)
    ref, _ = cv2.projectPoints(p_cam, np.zeros(3), np.zeros(3), camera_matrix(intr), dist)
    np.testing.assert_allclose(ours, ref.reshape(-1, 2), atol=PX_TOL, rtol=0)


def test_opencv_matches_cv2_with_strong_tangential_terms():
    rng = np.random.default_rng(42)
    intr = random_intrinsics(rng)
    dist = np.array([-0.2, 0.05, 0.02, -0.015, 0.01])
    p_cam = random_points_in_fov(rng, N_POINTS, math.radians(45))
    ref, _ = cv2.projectPoints(p_cam, np.zeros(3), np.zeros(3), camera_matrix(intr), dist)
    np.testing.assert_allclose(opencv.project(p_cam, intr, dist), ref.reshape(-1, 2), atol=PX_TOL)


@pytest.mark.parametrize("seed", range(10))
def test_fisheye_matches_cv2_fisheye_project_points(seed):
    rng = np.random.default_rng(seed)
    intr = random_intrinsics(rng)
    intr[:2] *= 0.3  # fisheye focal lengths are short
    dist = random_fisheye_distortion(rng)
    p_cam = random_points_in_fov(rng, N_POINTS, math.radians(89))
    ours = fisheye.project(p_cam, intr, dist)
    ref, _ = cv2.fisheye.projectPoints(p_cam[:, None, :], np.zeros(3), np.zeros(3), camera_matrix(intr), dist)
    np.testing.assert_allclose(ours, ref.reshape(-1, 2), atol=PX_TOL, rtol=0)


def test_fisheye_on_axis_point_is_principal_point():
    intr = np.array([300.0, 310.0, 500.0, 400.0])
    uv = fisheye.project(np.array([[0.0, 0.0, 2.0]]), intr, [0.1, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(uv, [[500.0, 400.0]])
    behind = fisheye.project(np.array([[0.0, 0.0, -2.0], [0.0, 0.0, 0.0]]), intr)
    assert np.isnan(behind).all()


# ----------------------------------------------------------------------------- h36m
def h36m_reference(p_cam, intr, dist):
    """Point-by-point transcription of CONVENTIONS.md's Human3.6M formula."""
    fx, fy, cx, cy = intr
    k1, k2, p1, p2, k3 = dist
    out = []
    for X, Y, Z in p_cam:
        x, y = X / Z, Y / Z
        r2 = x**2 + y**2
        a = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
        b = p2 * x + p1 * y
        u = fx * (x * (a + b) + p2 * r2) + cx
        v = fy * (y * (a + b) + p1 * r2) + cy
        out.append((u, v))
    return np.array(out)


@pytest.mark.parametrize("seed", range(5))
def test_h36m_matches_conventions_formula(seed):
    rng = np.random.default_rng(seed)
    intr = random_intrinsics(rng)
    dist = random_opencv_distortion(rng)
    p_cam = random_points_in_fov(rng, 300, math.radians(40))
    np.testing.assert_allclose(h36m.project(p_cam, intr, dist), h36m_reference(p_cam, intr, dist), atol=1e-9, rtol=0)


def test_h36m_differs_from_opencv_only_through_tangential_terms():
    # Human3.6M camera 54138969's published intrinsics and distortion (k1, k2, p1, p2, k3).
    intr = np.array([1145.04940458804, 1143.78109572365, 512.541504956548, 515.4514869776])
    dist = np.array(
        [-0.207098910824901, 0.247775183068982, -0.00142447157470321, -0.000975698859470499, -0.00307515035078854]
    )
    rng = np.random.default_rng(0)
    p_cam = random_points_in_fov(rng, N_POINTS, math.radians(22))  # about the image
    diff = np.abs(h36m.project(p_cam, intr, dist) - opencv.project(p_cam, intr, dist)).max()
    assert 0.05 < diff < 5.0  # measurable: OpenCV is off by ~0.1 px on Human3.6M
    no_tangential = dist * np.array([1, 1, 0, 0, 1])
    np.testing.assert_allclose(
        h36m.project(p_cam, intr, no_tangential),
        opencv.project(p_cam, intr, no_tangential),
        atol=1e-9,
    )


# ------------------------------------------------------------------------ round trips
MODELS_AND_DISTORTIONS = [
    (CameraModel.PINHOLE, lambda rng: None, 60),
    (CameraModel.OPENCV, random_opencv_distortion, 40),
    (CameraModel.H36M, random_opencv_distortion, 40),
    (CameraModel.FISHEYE, lambda rng: random_fisheye_distortion(rng, wide=True), 120),
]


@pytest.mark.parametrize("model, make_dist, half_fov_deg", MODELS_AND_DISTORTIONS)
@pytest.mark.parametrize("seed", range(3))
def test_unproject_then_project_round_trip(model, make_dist, half_fov_deg, seed):
    rng = np.random.default_rng(seed)
    intr = random_intrinsics(rng)
    if model is CameraModel.FISHEYE:
        intr[:2] *= 0.3
    dist = make_dist(rng)
    if model is CameraModel.FISHEYE:
        assert fisheye_is_monotonic(dist, math.radians(half_fov_deg))
    p_cam = random_points_in_fov(rng, N_POINTS, math.radians(half_fov_deg))
    uv = project(model, p_cam, intr, dist)
    rays = unproject(model, uv, intr, dist)
    np.testing.assert_allclose(np.linalg.norm(rays, axis=-1), 1.0, atol=1e-12)
    uv_again = project(model, rays, intr, dist)
    assert np.abs(uv_again - uv).max() < ROUND_TRIP_PX
    assert angle_between(rays, p_cam).max() < ROUND_TRIP_RAD


def test_fisheye_unprojects_beyond_90_degrees():
    intr = np.array([250.0, 250.0, 640.0, 480.0])
    dist = np.array([0.02, -0.005, 0.001, -0.0002])
    p_cam = random_points_in_fov(np.random.default_rng(1), N_POINTS, math.radians(110))
    rays = fisheye.unproject(fisheye.project(p_cam, intr, dist), intr, dist)
    assert (rays[..., 2] < 0).any()
    assert angle_between(rays, p_cam).max() < ROUND_TRIP_RAD


@pytest.mark.parametrize("seed", range(5))
def test_opencv_unproject_matches_cv2_undistort_points(seed):
    rng = np.random.default_rng(seed)
    intr = random_intrinsics(rng)
    dist = random_opencv_distortion(rng)
    # Pixels of the lens' image region (where the distortion is invertible).
    uv = opencv.project(random_points_in_fov(rng, N_POINTS, math.radians(40)), intr, dist)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-16)
    ref = cv2.undistortPoints(uv[:, None, :], camera_matrix(intr), dist, criteria=criteria)
    rays = opencv.unproject(uv, intr, dist)
    np.testing.assert_allclose(rays[:, :2] / rays[:, 2:], ref.reshape(-1, 2), atol=1e-9, rtol=0)


@pytest.mark.parametrize("seed", range(3))
def test_fisheye_unproject_matches_cv2_fisheye_undistort_points(seed):
    rng = np.random.default_rng(seed)
    intr = random_intrinsics(rng) * np.array([0.3, 0.3, 1.0, 1.0])
    dist = random_fisheye_distortion(rng)
    p_cam = random_points_in_fov(rng, N_POINTS, math.radians(70))
    uv = fisheye.project(p_cam, intr, dist)
    # COUNT only: with EPS, OpenCV flags points that miss the epsilon as -1e6.
    criteria = (cv2.TERM_CRITERIA_COUNT, 100, 0.0)
    ref = cv2.fisheye.undistortPoints(uv[:, None, :], camera_matrix(intr), dist, criteria=criteria)
    rays = fisheye.unproject(uv, intr, dist)
    np.testing.assert_allclose(rays[:, :2] / rays[:, 2:], ref.reshape(-1, 2), atol=1e-9, rtol=0)


@settings(max_examples=60, deadline=None)
@given(
    model=st.sampled_from([CameraModel.OPENCV, CameraModel.H36M]),
    k1=st.floats(-0.3, 0.3),
    k2=st.floats(-0.1, 0.1),
    p1=st.floats(-0.003, 0.003),
    p2=st.floats(-0.003, 0.003),
    k3=st.floats(-0.02, 0.02),
    x=st.floats(-0.6, 0.6),
    y=st.floats(-0.6, 0.6),
    z=st.floats(0.1, 100.0),
)
def test_property_distortion_round_trip(model, k1, k2, p1, p2, k3, x, y, z):
    intr = np.array([1000.0, 1010.0, 500.0, 480.0])
    dist = np.array([k1, k2, p1, p2, k3])
    p_cam = np.array([[x * z, y * z, z]])
    uv = project(model, p_cam, intr, dist)
    rays = unproject(model, uv, intr, dist)
    assert angle_between(rays, p_cam).max() < ROUND_TRIP_RAD


@settings(max_examples=60, deadline=None)
@given(
    theta=st.floats(0.0, math.radians(120)),
    phi=st.floats(-math.pi, math.pi),
    k=st.tuples(
        st.floats(-0.03, 0.03),
        st.floats(-0.003, 0.003),
        st.floats(-0.0003, 0.0003),
        st.floats(-0.00003, 0.00003),
    ),
)
def test_property_fisheye_round_trip(theta, phi, k):
    intr = np.array([300.0, 300.0, 500.0, 500.0])
    p_cam = np.array([[math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi), math.cos(theta)]]) * 3.0
    uv = fisheye.project(p_cam, intr, np.array(k))
    rays = fisheye.unproject(uv, intr, np.array(k))
    assert angle_between(rays, p_cam).max() < ROUND_TRIP_RAD


# ------------------------------------------------------------------ zero coefficients
def test_zero_coefficients_reduce_to_pinhole_and_equidistant():
    rng = np.random.default_rng(3)
    intr = random_intrinsics(rng)
    p_cam = random_points_in_fov(rng, N_POINTS, math.radians(60))
    ref = pinhole.project(p_cam, intr)
    np.testing.assert_allclose(opencv.project(p_cam, intr, np.zeros(5)), ref, atol=1e-10, rtol=0)
    np.testing.assert_allclose(h36m.project(p_cam, intr, np.zeros(5)), ref, atol=1e-10, rtol=0)
    np.testing.assert_allclose(opencv.project(p_cam, intr), ref, atol=1e-10, rtol=0)
    uv = rng.uniform(0, 1000, (100, 2))
    for module in (opencv, h36m):
        np.testing.assert_allclose(module.unproject(uv, intr, np.zeros(5)), pinhole.unproject(uv, intr), atol=1e-14)

    # Equidistant: distance from the principal point (in focal units) equals theta.
    wide = random_points_in_fov(rng, N_POINTS, math.radians(170))
    r = np.hypot(wide[:, 0], wide[:, 1])
    theta = np.arctan2(r, wide[:, 2])
    equidistant = intr[2:] + intr[:2] * (theta / r)[:, None] * wide[:, :2]
    np.testing.assert_allclose(fisheye.project(wide, intr, np.zeros(4)), equidistant, atol=1e-9)


# ------------------------------------------------------------------------- batch shapes
@pytest.mark.parametrize("model", list(CameraModel))
@pytest.mark.parametrize(
    "point_batch, param_batch",
    [((), ()), ((4,), (4,)), ((3, 5), (3, 5)), ((3, 5), (3, 1)), ((3, 5), ()), ((), (3,))],
)
def test_batch_shapes_broadcast(model, point_batch, param_batch):
    rng = np.random.default_rng(7)
    n_joints = 6
    p_cam = random_points_in_fov(rng, int(np.prod(point_batch, dtype=int)) * n_joints, math.radians(40)).reshape(
        point_batch + (n_joints, 3)
    )
    intr = random_intrinsics(rng, param_batch)
    dist = {
        CameraModel.PINHOLE: np.zeros(param_batch + (0,)),
        CameraModel.OPENCV: random_opencv_distortion(rng, param_batch),
        CameraModel.H36M: random_opencv_distortion(rng, param_batch),
        CameraModel.FISHEYE: random_fisheye_distortion(rng, param_batch),
    }[model]
    uv = project(model, p_cam, intr, dist)
    batch = np.broadcast_shapes(point_batch, param_batch)
    assert uv.shape == batch + (n_joints, 2)
    assert uv.dtype == np.float64
    rays = unproject(model, uv, intr, dist)
    assert rays.shape == batch + (n_joints, 3)
    # Each batch element equals an unbatched call with its own parameters.
    p_b = np.broadcast_to(p_cam, batch + (n_joints, 3))
    i_b = np.broadcast_to(intr, batch + (4,))
    d_b = np.broadcast_to(dist, batch + dist.shape[-1:])
    for index in np.ndindex(*batch):
        np.testing.assert_allclose(uv[index], project(model, p_b[index], i_b[index], d_b[index]), rtol=0, atol=1e-12)


def test_project_does_not_modify_inputs_and_accepts_lists_and_ints():
    p_cam = np.array([[0.1, -0.2, 2.0], [0.3, 0.1, 4.0]])
    before = p_cam.copy()
    uv = project("opencv", p_cam, [1000, 1000, 500, 500], [0.1, 0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(p_cam, before)
    np.testing.assert_allclose(
        uv, opencv.project(p_cam.tolist(), np.array([1e3, 1e3, 5e2, 5e2]), np.array([0.1, 0, 0, 0, 0]))
    )


# ------------------------------------------------------------------------------ errors
P = np.array([[0.1, 0.2, 2.0]])
GOOD_INTR = np.array([1000.0, 1000.0, 500.0, 500.0])


@pytest.mark.parametrize(
    "intrinsics, match",
    [
        ([-3.0, 1000.0, 500.0, 500.0], r"intrinsics: expected fx > 0, got -3\.0"),
        ([1000.0, 0.0, 500.0, 500.0], r"intrinsics: expected fy > 0, got 0\.0"),
        ([1000.0, np.nan, 500.0, 500.0], r"intrinsics: expected finite values"),
        ([1000.0, 1000.0, np.inf, 500.0], r"intrinsics: expected finite values"),
        ([1000.0, 1000.0, 500.0], r"intrinsics: expected shape \(\.\.\., 4\), got \(3,\)"),
        ("abcd", r"intrinsics: expected a numeric array"),
    ],
)
@pytest.mark.parametrize("model", list(CameraModel))
def test_bad_intrinsics_raise(model, intrinsics, match):
    with pytest.raises(ValueError, match=match):
        project(model, P, intrinsics)
    with pytest.raises(ValueError, match=match):
        unproject(model, P[:, :2], intrinsics)


@pytest.mark.parametrize(
    "model, distortion, match",
    [
        ("pinhole", [0.1], r"distortion \(pinhole: none\): expected shape \(\.\.\., 0\)"),
        (
            "opencv",
            [0.1, 0.0, 0.0, 0.0],
            r"distortion \(opencv: k1, k2, p1, p2, k3\): expected "
            r"shape \(\.\.\., 5\), got \(4,\)",
        ),
        ("h36m", np.zeros(4), r"distortion \(h36m: k1, k2, p1, p2, k3\)"),
        (
            "fisheye",
            np.zeros(5),
            r"distortion \(fisheye: k1, k2, k3, k4\): expected shape "
            r"\(\.\.\., 4\), got \(5,\)",
        ),
        ("opencv", [np.nan, 0, 0, 0, 0], r"distortion: expected finite values"),
    ],
)
def test_bad_distortion_raises(model, distortion, match):
    with pytest.raises(ValueError, match=match):
        project(model, P, GOOD_INTR, distortion)
    with pytest.raises(ValueError, match=match):
        validate(model, GOOD_INTR, distortion)


@pytest.mark.parametrize("model", list(CameraModel))
def test_bad_point_shapes_raise(model):
    with pytest.raises(ValueError, match=r"p_cam: expected shape \(\.\.\., \*, 3\), got \(3,\)"):
        project(model, P[0], GOOD_INTR)
    with pytest.raises(ValueError, match=r"p_cam: expected shape \(\.\.\., \*, 3\), got \(1, 2\)"):
        project(model, P[:, :2], GOOD_INTR)
    with pytest.raises(ValueError, match=r"uv_px: expected shape \(\.\.\., \*, 2\), got \(1, 3\)"):
        unproject(model, P, GOOD_INTR)
    with pytest.raises(
        ValueError,
        match=r"p_cam: leading dimensions must broadcast.*\(3, 1, 3\)"
        r".*intrinsics \(2, 4\)",
    ):
        project(model, np.ones((3, 1, 3)), np.tile(GOOD_INTR, (2, 1)))


def test_unknown_model_name_lists_valid_names():
    with pytest.raises(
        ValueError,
        match=r"model: expected one of \['pinhole', 'opencv', "
        r"'fisheye', 'h36m'\], got 'kb4'",
    ):
        project("kb4", P, GOOD_INTR)
    with pytest.raises(ValueError, match="model: expected one of"):
        CameraModel.parse(3)


def test_camera_model_enum():
    assert CameraModel.parse("OpenCV") is CameraModel.OPENCV
    assert CameraModel.parse(CameraModel.H36M) is CameraModel.H36M
    assert {m: m.distortion_size for m in CameraModel} == {
        CameraModel.PINHOLE: 0,
        CameraModel.OPENCV: 5,
        CameraModel.FISHEYE: 4,
        CameraModel.H36M: 5,
    }
    assert CameraModel.OPENCV.distortion_names == ("k1", "k2", "p1", "p2", "k3")
    assert model_module("fisheye") is fisheye


# ------------------------------------------------------------------- blocked evaluation
@pytest.mark.parametrize("model", list(CameraModel))
@pytest.mark.parametrize(
    "point_batch, param_batch",
    [((7,), (7,)), ((7, 3), (7, 1)), ((7, 3), ()), ((), (7,)), ((1, 3), (7, 3)), ((7, 3), (3,))],
)
def test_blocked_evaluation_equals_one_shot(monkeypatch, model, point_batch, param_batch):
    from posesynth.geometry.camera import _common, camera_to_world, world_to_camera

    rng = np.random.default_rng(11)
    n_joints = 5
    p_cam = random_points_in_fov(rng, int(np.prod(point_batch, dtype=int)) * n_joints, math.radians(40)).reshape(
        point_batch + (n_joints, 3)
    )
    intr = random_intrinsics(rng, param_batch)
    dist = {
        CameraModel.PINHOLE: None,
        CameraModel.OPENCV: random_opencv_distortion(rng, param_batch),
        CameraModel.H36M: random_opencv_distortion(rng, param_batch),
        CameraModel.FISHEYE: random_fisheye_distortion(rng, param_batch),
    }[model]
    R = np.broadcast_to(np.eye(3), param_batch + (3, 3))
    C = rng.normal(size=param_batch + (3,))
    uv = project(model, p_cam, intr, dist)
    rays = unproject(model, uv, intr, dist)
    p_world = camera_to_world(p_cam, R, C)
    p_back = world_to_camera(p_world, R, C)
    monkeypatch.setattr(_common, "BLOCK_POINTS", 4)  # forces blocks of one or a few rows
    np.testing.assert_array_equal(project(model, p_cam, intr, dist), uv)
    np.testing.assert_array_equal(unproject(model, uv, intr, dist), rays)
    np.testing.assert_array_equal(camera_to_world(p_cam, R, C), p_world)
    np.testing.assert_array_equal(world_to_camera(p_world, R, C), p_back)


def test_large_batch_matches_per_sample_projection():
    rng = np.random.default_rng(12)
    n = 3000  # 3000 x 17 points: above the block threshold
    p_cam = random_points_in_fov(rng, n * 17, math.radians(40)).reshape(n, 17, 3)
    intr = random_intrinsics(rng, (n,))
    dist = random_opencv_distortion(rng, (n,))
    uv = opencv.project(p_cam, intr, dist)
    for i in (0, 1234, n - 1):
        np.testing.assert_array_equal(uv[i], opencv.project(p_cam[i], intr[i], dist[i]))
