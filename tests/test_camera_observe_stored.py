"""``Camera.observe_stored``: what :meth:`Camera.observe` gives, cast to a store's dtypes, to
the byte, whether one compiled pass writes it (perspective models) or NumPy casts
``observe``'s float64 arrays (fisheye, Numba off, other dtypes, broadcast batches)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posesynth.body.skeleton import H36M17
from posesynth.geometry.camera import Camera
from posesynth.geometry.placement import sample_cameras
from posesynth.poses.procedural import sample_poses
from posesynth.util import jit

MODELS = ["pinhole", "opencv", "fisheye", "h36m"]


def _expected(cams: Camera, points: np.ndarray, dtype, min_depth: float = 1e-6) -> list[np.ndarray]:
    p_cam, uv, seen = cams.observe(points, min_depth)
    return [points.astype(dtype), p_cam.astype(dtype), uv.astype(dtype), seen.astype(np.uint8)]


def _assert_same(got, want) -> None:
    assert len(got) == len(want) == 4
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        assert np.ascontiguousarray(g).tobytes() == np.ascontiguousarray(w).tobytes()


def _edge_points(rng: np.random.Generator, cams: Camera, n: int) -> np.ndarray:
    """Points ``(n, 17, 3)`` around the cameras, many behind them or far off to the side
    (outside the image, behind the camera, near zero depth), some NaN."""
    p = rng.normal(0.0, 0.5, (n, 17, 3)) + np.asarray(cams.center)[:, None, :] * rng.uniform(-0.2, 1.2, (n, 1, 1))
    p[rng.random((n, 17)) < 0.05] = np.nan
    return p


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 30),
    model=st.sampled_from(MODELS),
    dtype=st.sampled_from(["float32", "float64"]),
    edge=st.booleans(),
    min_depth=st.sampled_from([0.0, 1e-6, 0.5]),
)
def test_observe_stored_is_observe_cast(seed, n, model, dtype, edge, min_depth) -> None:
    rng = np.random.default_rng(seed)
    poses = sample_poses(rng, n, H36M17).positions
    cams = sample_cameras(rng, poses, model)
    points = _edge_points(rng, cams, n) if edge else poses
    with pytest.MonkeyPatch.context() as mp:
        for path in ("numba", "numpy") if jit.numba_installed() else ("numpy",):
            mp.setenv(jit.ENV_VAR, path)
            _assert_same(cams.observe_stored(points, dtype, min_depth), _expected(cams, points, dtype, min_depth))


def test_image_edges_and_depth_limit_exactly(kernels: str) -> None:
    """Pixels exactly on the image's bounds (``-0.5`` is in, ``width - 0.5`` is out) and
    depths exactly at ``min_depth`` (out), with an identity camera whose arithmetic is exact."""
    cam = Camera("pinhole", [[2.0, 2.0, 0.5, 0.5]], [[]], [np.eye(3)], [[0.0, 0.0, 0.0]], [[4, 3]])
    # u = 2 x / z + 0.5: x = -0.5 -> -0.5 (in); x = 1.75 -> 4.0 (past 3.5: out); x = 1.5 -> 3.5 (out)
    xs = [-0.5, -0.5000001, 1.75, 1.5, 1.4999999, 0.0, 0.0, 0.0]
    ys = [0.0, 0.0, 0.0, 0.0, 0.0, -0.5, 1.0, 0.99999]
    points = np.array([[[x, y, 1.0] for x, y in zip(xs, ys, strict=True)] + [[0.0, 0.0, 0.25], [0.0, 0.0, -1.0]]])
    got = cam.observe_stored(points, np.float32, min_depth=0.25)
    _assert_same(got, _expected(cam, points, np.float32, 0.25))
    assert got[3].tolist() == [[1, 0, 0, 0, 1, 1, 0, 1, 0, 0]]


def test_shared_camera_and_batch_dims(kernels: str) -> None:
    """One camera for a ``(B, T)`` batch (stride-0 parameters), and per-pose cameras with two
    batch dims: the shapes of ``observe``, the same values."""
    rng = np.random.default_rng(3)
    poses = sample_poses(rng, 12, H36M17).positions
    cams = sample_cameras(rng, poses, "opencv")
    one = cams[4]
    batch = poses.reshape(3, 4, 17, 3)
    _assert_same(one.observe_stored(batch, np.float32), _expected(one, batch, np.float32))
    per = Camera(
        cams.model,
        cams.intrinsics.reshape(3, 4, 4),
        cams.distortion.reshape(3, 4, -1),
        cams.rotation.reshape(3, 4, 3, 3),
        cams.center.reshape(3, 4, 3),
        cams.image_size.reshape(3, 4, 2),
    )
    got = per.observe_stored(batch, np.float32)
    assert got[2].shape == (3, 4, 17, 2) and got[3].shape == (3, 4, 17)
    _assert_same(got, _expected(per, batch, np.float32))


def test_float64_points_are_kept_not_copied(kernels: str) -> None:
    rng = np.random.default_rng(5)
    poses = sample_poses(rng, 6, H36M17).positions
    got = sample_cameras(rng, poses, "pinhole").observe_stored(poses, np.float64)
    assert got[0] is poses or np.shares_memory(got[0], poses)


def test_other_dtypes_take_the_cast(kernels: str) -> None:
    rng = np.random.default_rng(6)
    poses = sample_poses(rng, 5, H36M17).positions
    cams = sample_cameras(rng, poses, "h36m")
    _assert_same(cams.observe_stored(poses, np.float16), _expected(cams, poses, np.float16))


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_min_depth_is_checked(bad: float, kernels: str) -> None:
    rng = np.random.default_rng(8)
    poses = sample_poses(rng, 2, H36M17).positions
    cams = sample_cameras(rng, poses, "pinhole")
    with pytest.raises(ValueError, match="min_depth: expected a finite value >= 0"):
        cams.observe_stored(poses, np.float32, bad)
