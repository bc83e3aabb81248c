"""Keypoint definitions: per-joint offsets in body frames (posesynth.body.definitions)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posesynth.body.definitions import (
    KeypointDefinition,
    apply_definition,
    body_frames,
    estimate_height,
    fit_definition,
    get_definition,
)
from posesynth.body.skeleton import H36M17
from posesynth.poses.procedural import sample_poses

J = {n: i for i, n in enumerate(H36M17.joint_names)}
HIPS_UP_WIDE = KeypointDefinition(
    "test",
    {
        "right_hip": (0.015, 0.0, 0.03),
        "left_hip": (0.015, 0.0, 0.03),
        "right_wrist": (0.0, 0.01, 0.0),
        "left_wrist": (0.0, 0.01, 0.0),
    },
)


@pytest.fixture(scope="module")
def poses():
    batch = sample_poses(np.random.default_rng(0), 200, H36M17, {"stand": 1, "squat": 1, "gait": 1})
    return batch.positions, batch.heights


def test_frames_are_right_handed_rotations(poses):
    frames = body_frames(poses[0])
    assert frames.shape == (200, 2, 3, 3)
    np.testing.assert_allclose(
        frames @ np.swapaxes(frames, -1, -2), np.broadcast_to(np.eye(3), frames.shape), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(frames), 1.0, atol=1e-12)


def test_h36m_is_the_identity_and_unknown_names_are_refused(poses):
    np.testing.assert_array_equal(apply_definition(poses[0], "h36m"), poses[0])
    with pytest.raises(ValueError, match="unknown 'coco'"):
        get_definition("coco")
    with pytest.raises(ValueError, match="unknown joints"):
        KeypointDefinition("x", {"nose": (0, 0, 0)})


def test_offsets_land_where_they_say(poses):
    pos, h = poses
    moved = apply_definition(pos, HIPS_UP_WIDE, h)
    f = body_frames(pos)[:, 0]  # pelvis frame
    for side, sign in (("right_hip", 1.0), ("left_hip", -1.0)):
        local = np.einsum("nba,nb->na", f, moved[:, J[side]] - pos[:, J[side]]) / h[:, None]
        np.testing.assert_allclose(local, np.broadcast_to([sign * 0.015, 0, 0.03], local.shape), atol=1e-12)
    # the hips move apart by 2 × 1.5 % of height and up by 3 %; the root follows their midpoint
    width = np.linalg.norm(moved[:, J["right_hip"]] - moved[:, J["left_hip"]], axis=-1)
    np.testing.assert_allclose(width, np.linalg.norm(pos[:, 1] - pos[:, 4], axis=-1) + 0.03 * h, atol=1e-9)
    np.testing.assert_allclose(moved[:, 0], 0.5 * (moved[:, 1] + moved[:, 4]), atol=1e-12)
    untouched = [i for n, i in J.items() if n not in ("root", "right_hip", "left_hip", "right_wrist", "left_wrist")]
    np.testing.assert_array_equal(moved[:, untouched], pos[:, untouched])


def test_same_in_any_frame(poses):
    """Frames come from the pose: rotating and moving the input moves the output the same way."""
    pos, h = poses
    r = Rotation.from_rotvec([0.3, -1.2, 2.0])
    t = np.array([1.0, -2.0, 3.0])
    a = r.apply(apply_definition(pos, HIPS_UP_WIDE, h).reshape(-1, 3)).reshape(pos.shape) + t
    b = apply_definition(r.apply(pos.reshape(-1, 3)).reshape(pos.shape) + t, HIPS_UP_WIDE, h)
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_fit_recovers_the_offsets_of_root_relative_poses(poses):
    pos, h = poses
    np.testing.assert_allclose(estimate_height(pos), h, rtol=0.08)  # bodies vary ±4 % per segment
    rel = pos - pos[:, :1]
    target = apply_definition(rel, HIPS_UP_WIDE)
    target = target - target[:, :1]
    fitted = fit_definition(rel, target, "fit")
    moved = apply_definition(rel, fitted)
    np.testing.assert_allclose(moved - moved[:, :1], target, atol=1e-9)
    for name, off in HIPS_UP_WIDE.offsets.items():
        np.testing.assert_allclose(fitted.offsets[name], off, atol=1e-9)
    # one-sided offsets need symmetric=False
    one = KeypointDefinition("one", {"right_elbow": (0.01, 0.02, -0.01)})
    target = apply_definition(rel, one)
    fitted = fit_definition(rel, target - target[:, :1], "fit", symmetric=False)
    np.testing.assert_allclose(fitted.offsets["right_elbow"], (0.01, 0.02, -0.01), atol=1e-9)
    np.testing.assert_allclose(fitted.offsets["left_elbow"], 0.0, atol=1e-9)


def test_fit_refuses_mismatched_input():
    with pytest.raises(ValueError, match=r"two \(N, 17, 3\) arrays"):
        fit_definition(np.zeros((3, 17, 3)), np.zeros((4, 17, 3)), "x")
