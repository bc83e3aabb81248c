"""Triangulation: exact 3D back from synthetic views, outlier views rejected, weights respected,
and OpenCV's ``triangulatePoints`` as an outside reference."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from posesynth.geometry.camera import Camera, look_at
from posesynth.geometry.triangulation import (
    reprojection_errors,
    triangulate,
    triangulate_rays,
    triangulate_robust,
)

CENTERS = np.array([[3.0, 0.0, 1.5], [0.0, 3.2, 1.7], [-2.8, 0.3, 1.4], [0.2, -3.0, 2.1]])
MODELS = {
    "pinhole": None,
    "opencv": np.array([-0.2, 0.08, 0.001, -0.002, 0.01]),
    "fisheye": np.array([0.05, -0.01, 0.002, -0.0005]),
    "h36m": np.array([-0.2, 0.2, -0.001, 0.002, -0.003]),
}


def _cameras(model: str = "pinhole", centers: np.ndarray = CENTERS) -> Camera:
    return Camera(
        model=model,
        intrinsics=np.array([1500.0, 1510.0, 540.0, 960.0]),
        distortion=MODELS[model],
        rotation=look_at(centers, np.array([0.0, 0.0, 1.0])),
        center=centers,
        image_size=np.array([1088, 1920]),
    )


def _points(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform([-0.5, -0.5, 0.0], [0.5, 0.5, 2.0], shape + (3,))


@pytest.mark.parametrize("model", list(MODELS))
def test_exact_points_come_back(model: str) -> None:
    rng = np.random.default_rng(0)
    cams = _cameras(model)
    p_world = _points(rng, (5, 17))
    uv = cams.project_world(p_world[:, None])  # (5, V, 17, 2)
    got = triangulate(uv, cams)
    assert got.shape == (5, 17, 3)
    np.testing.assert_allclose(got, p_world, atol=1e-9)
    assert np.nanmax(reprojection_errors(got, uv, cams)) < 1e-6


@pytest.mark.parametrize("batch", [(), (3,), (2, 4)])
def test_batch_shapes(batch: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    cams = _cameras()
    p_world = _points(rng, batch + (6,))
    uv = cams.project_world(p_world[..., None, :, :])
    got = triangulate_robust(uv, cams)
    assert got.points_world.shape == batch + (6, 3)
    assert got.reprojection_error_px.shape == batch + (4, 6)
    np.testing.assert_allclose(got.points_world, p_world, atol=1e-9)
    assert got.used.all()


def test_two_views_and_missing_views() -> None:
    rng = np.random.default_rng(2)
    cams = _cameras("opencv")
    p_world = _points(rng, (10,))
    uv = cams.project_world(p_world[None])  # (V, 10, 2)
    uv[0, :5] = np.nan  # view 0 misses half the points
    uv[1, :2] = np.nan
    uv[2, 0] = np.nan
    uv[3, 0] = np.nan  # point 0 seen by no view: NaN
    got = triangulate(uv, cams)
    assert np.isnan(got[0]).all()
    np.testing.assert_allclose(got[1:], p_world[1:], atol=1e-9)
    # one view only: NaN
    w = np.zeros((4, 10))
    w[2] = 1.0
    assert np.isnan(triangulate(uv, cams, w)).all()


def test_outlier_view_rejected() -> None:
    rng = np.random.default_rng(3)
    cams = _cameras("opencv")
    p_world = _points(rng, (50,))
    uv = cams.project_world(p_world[None]) + rng.normal(0.0, 0.5, (4, 50, 2))
    uv[2, :20] += np.array([60.0, -45.0])  # a gross error in view 2 for 20 points
    res = triangulate_robust(uv, cams, max_error_px=10.0)
    assert not res.used[2, :20].any()
    assert res.used[:, 20:].all()
    err_robust = np.linalg.norm(res.points_world - p_world, axis=-1)
    err_plain = np.linalg.norm(triangulate(uv, cams) - p_world, axis=-1)
    assert err_robust[:20].max() < 0.01  # mm-level with 0.5 px noise
    assert err_plain[:20].min() > 0.02  # the outlier drags a plain DLT by centimetres
    # its error is still reported, in pixels, for the rejected view
    assert (res.reprojection_error_px[2, :20] > 40.0).all()


def test_min_views_leaves_points_out() -> None:
    rng = np.random.default_rng(4)
    cams = _cameras()
    p_world = _points(rng, (8,))
    uv = cams.project_world(p_world[None])
    uv[1:, :3] = np.nan  # points 0-2 only in view 0
    res = triangulate_robust(uv, cams, min_views=3)
    assert np.isnan(res.points_world[:3]).all()
    np.testing.assert_allclose(res.points_world[3:], p_world[3:], atol=1e-9)
    assert res.views_used.tolist() == [0, 0, 0, 4, 4, 4, 4, 4]


def test_weights_respected() -> None:
    """A view's pixel offset pulls the point in proportion to its weight; weight 0 ignores it."""
    rng = np.random.default_rng(5)
    cams = _cameras()
    p_world = _points(rng, (20,))
    uv = cams.project_world(p_world[None])
    uv[0] += 8.0  # view 0 off by 8 px
    w = np.ones((4, 20))
    errs = []
    for w0 in (0.0, 0.2, 1.0, 5.0):
        w[0] = w0
        got = triangulate(uv, cams, w)
        errs.append(np.abs(reprojection_errors(got, uv, cams)[0]).mean())
        if w0 == 0.0:
            np.testing.assert_allclose(got, p_world, atol=1e-9)
    # the heavier view 0 is, the closer the solution reprojects to its (offset) pixels
    assert errs[0] > errs[1] > errs[2] > errs[3]
    with pytest.raises(ValueError, match="weights"):
        triangulate(uv, cams, -w)


def test_matches_opencv_triangulate_points() -> None:
    rng = np.random.default_rng(6)
    cams = _cameras()
    p_world = _points(rng, (200,))
    k = np.array([[1500.0, 0.0, 540.0], [0.0, 1510.0, 960.0], [0.0, 0.0, 1.0]])
    proj = [k @ np.c_[r, -r @ c] for r, c in zip(cams.rotation, cams.center, strict=True)]
    for noise in (0.0, 0.3):
        uv = cams.project_world(p_world[None])[:2] + rng.normal(0.0, noise, (2, 200, 2))
        x_h = cv2.triangulatePoints(proj[0], proj[1], uv[0].T, uv[1].T)
        ref = (x_h[:3] / x_h[3]).T
        got = triangulate(uv, cams[:2])
        tol = 1e-9 if noise == 0.0 else 1e-3  # OpenCV weighs the algebraic error in pixels
        np.testing.assert_allclose(got, ref, atol=tol)


def test_rays_form_and_bad_shapes() -> None:
    rng = np.random.default_rng(7)
    cams = _cameras()
    p_world = _points(rng, (4,))
    p_cam = cams.world_to_camera(p_world[None])  # (V, 4, 3) rays of any length
    np.testing.assert_allclose(triangulate_rays(p_cam, cams.rotation, cams.center), p_world, atol=1e-9)
    with pytest.raises(ValueError, match="views"):
        triangulate_rays(p_cam, cams.rotation[:3], cams.center)
    with pytest.raises(ValueError, match="uv_px"):
        triangulate(np.zeros((4, 3)), cams)
    with pytest.raises(ValueError, match="min_views"):
        triangulate_robust(np.zeros((4, 1, 2)), cams, min_views=1)
