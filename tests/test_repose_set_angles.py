"""``set_angles``: set anatomical angles, read them back, bones keep their lengths."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import posesynth as ps
from posesynth.body.angles import pose_angles
from posesynth.poses.repose import set_angles


@pytest.fixture(scope="module")
def poses():
    return ps.generate(samples=8, seed=5, activities={"stand": 1.0, "walk": 1.0})


def _bones(p, skeleton):
    par = skeleton.parents_array
    return np.linalg.norm(p[..., 1:, :] - p[..., par[1:], :], axis=-1)


@settings(max_examples=25, deadline=None)
@given(knee=st.floats(0.0, 150.0), elbow=st.floats(0.0, 140.0), hip=st.floats(-20.0, 110.0))
def test_angles_read_back_and_bones_keep_their_lengths(poses, knee, elbow, hip) -> None:
    sk = poses.skeleton
    want = {
        "left_knee_flexion": np.deg2rad(knee),
        "right_elbow_flexion": np.deg2rad(elbow),
        "right_hip_flexion": np.deg2rad(hip),
    }
    out = set_angles(poses.joints_3d_world, sk, want)
    got = pose_angles(out, sk)
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, atol=1e-9)
    np.testing.assert_allclose(_bones(out, sk), _bones(poses.joints_3d_world, sk), atol=1e-12)


def test_untouched_joints_keep_their_exact_positions(poses) -> None:
    sk = poses.skeleton
    out = set_angles(poses.joints_3d_world, sk, {"right_knee_flexion": 1.0})
    moved = [sk.index("right_foot")]
    still = [j for j in range(sk.num_joints) if j not in moved]
    np.testing.assert_array_equal(out[:, still], poses.joints_3d_world[:, still])
    assert not np.allclose(out[:, moved], poses.joints_3d_world[:, moved])


def test_batch_shapes_broadcast(poses) -> None:
    sk = poses.skeleton
    p = poses.joints_3d_world[:6].reshape(2, 3, 17, 3)
    out = set_angles(p, sk, {"left_elbow_flexion": np.deg2rad([[10, 20, 30], [40, 50, 60]])})
    assert out.shape == p.shape
    np.testing.assert_allclose(np.rad2deg(pose_angles(out, sk)["left_elbow_flexion"]), [[10, 20, 30], [40, 50, 60]])


def test_unknown_angle_and_bad_shape_are_refused(poses) -> None:
    with pytest.raises(ValueError, match="angles: unknown"):
        set_angles(poses.joints_3d_world, poses.skeleton, {"left_knee_twist": 0.1})
    with pytest.raises(ValueError, match="positions: expected shape"):
        set_angles(np.zeros((4, 16, 3)), poses.skeleton, {})
