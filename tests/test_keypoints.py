"""Extra keypoints for 17-joint poses (:mod:`posesynth.poses.keypoints`): the 17 copied, feet on the
floor, the documented orientation rules, height from the limb bones, bad input refused."""

from __future__ import annotations

import numpy as np
import pytest

from posesynth.body.angles import pose_angles
from posesynth.body.anthropometry import rest_offsets, rest_positions
from posesynth.body.rom import rom_table
from posesynth.body.skeleton import H36M17
from posesynth.body.skeleton import H36M_EXTENDED as EXT
from posesynth.poses.keypoints import add_extra_keypoints, estimate_height
from posesynth.poses.motions import rotate_about_vertical
from posesynth.poses.procedural import ACTIVITIES, sample_poses

DEG = np.pi / 180
FEET = {
    "right": EXT.indices(["right_big_toe", "right_small_toe", "right_heel"]),
    "left": EXT.indices(["left_big_toe", "left_small_toe", "left_heel"]),
}
ANKLES = H36M17.indices(["right_foot", "left_foot"])


def procedural(seed, n, activities=None, skeleton=H36M17, **kw):
    batch = sample_poses(np.random.default_rng(seed), n, skeleton, activities, **kw)
    return batch.positions[:, :17], batch.heights


def contact_heights(out):
    """(N, 2, 3) heights of (right, left) × (big toe, small toe, heel)."""
    return np.stack([out[:, FEET["right"], 2], out[:, FEET["left"], 2]], axis=1)


# ----------------------------------------------------------------------------- the 17 joints
@pytest.mark.parametrize("activity", list(ACTIVITIES))
def test_first_17_joints_are_copied_exactly(activity):
    p, _ = procedural(1, 16, {activity: 1.0})
    out = add_extra_keypoints(p)
    assert out.shape == (16, EXT.num_joints, 3) and out.dtype == np.float64
    assert np.array_equal(out[:, :17], p)
    assert np.isfinite(out).all()


def test_source_from_an_extended_skeleton_keeps_its_first_17():
    p, _ = procedural(2, 24, skeleton=EXT)
    assert np.array_equal(add_extra_keypoints(p)[:, :17], p)


@pytest.mark.parametrize("lead", [(), (4,), (2, 3)])
def test_batch_shapes(lead):
    p, _ = procedural(3, 6)
    x = p[: int(np.prod(lead))].reshape(lead + (17, 3))
    out = add_extra_keypoints(x)
    assert out.shape == lead + (EXT.num_joints, 3)
    flat = add_extra_keypoints(x.reshape(-1, 17, 3))
    np.testing.assert_allclose(out.reshape(flat.shape), flat, atol=1e-12)
    assert estimate_height(x).shape == lead


# ----------------------------------------------------------------------------- feet on the floor
def test_standing_feet_are_flat_on_the_floor():
    """Standing upright (no body tilt), sample_poses puts the ankles at their height above z = 0;
    the supporting foot's heel and toes land within 2 cm of the floor."""
    p, _ = procedural(4, 200, {"stand": 1.0}, tilt_sd_deg=0.0)
    z = contact_heights(add_extra_keypoints(p))
    low = np.argmin(p[:, ANKLES, 2], axis=1)
    support = z[np.arange(len(p)), low]
    assert np.abs(support).max() < 0.02
    # the other foot too where both ankles are level
    level = np.abs(p[:, ANKLES[0], 2] - p[:, ANKLES[1], 2]) < 0.005
    assert level.sum() > 50
    assert np.abs(z[level]).max() < 0.025
    assert np.median(np.abs(z)) < 0.01


def test_standing_with_tilt_keeps_the_lowest_contact_near_the_floor():
    p, _ = procedural(5, 200, {"stand": 1.0})
    lowest = contact_heights(add_extra_keypoints(p)).reshape(len(p), -1).min(axis=1)
    assert np.abs(lowest).max() < 0.03


def test_feet_follow_the_floor_not_the_origin():
    """Raising the whole pose raises the extra joints with it (levelling uses relative heights)."""
    p, _ = procedural(6, 32, {"stand": 1.0, "walk": 1.0})
    out = add_extra_keypoints(p)
    up = add_extra_keypoints(p + np.array([0.3, -1.2, 0.8]))
    np.testing.assert_allclose(up, out + np.array([0.3, -1.2, 0.8]), atol=1e-9)


def test_turning_the_pose_about_the_vertical_turns_the_extra_joints():
    rng = np.random.default_rng(7)
    p, _ = procedural(7, 48)
    yaw = rng.uniform(-np.pi, np.pi, len(p))
    np.testing.assert_allclose(
        add_extra_keypoints(rotate_about_vertical(p, yaw)),
        rotate_about_vertical(add_extra_keypoints(p), yaw),
        atol=1e-9,
    )


# ----------------------------------------------------------------------------- orientation rules
def test_orientation_rules():
    """Hands: the forearm frame (wrist angles 0). Face: the neck frame (head angles 0). Feet:
    only dorsi/plantar-flexion, within the ankle's ROM; a raised foot keeps the neutral ankle."""
    p, _ = procedural(8, 240)
    out = add_extra_keypoints(p)
    a = pose_angles(out, EXT)
    zero = ["head_flexion", "head_lateral_flexion", "head_rotation"] + [
        f"{side}_{name}"
        for side in ("right", "left")
        for name in (
            "ankle_inversion",
            "ankle_adduction",
            "wrist_flexion",
            "wrist_radial_deviation",
            "forearm_pronation",
        )
    ]
    for name in zero:
        assert np.abs(a[name]).max() < 1e-6, name
    lo, hi = rom_table(EXT)["right_ankle_dorsiflexion"].bounds
    raised = p[:, ANKLES, 2] - p[:, ANKLES, 2].min(axis=1, keepdims=True) > 0.12
    assert raised.any() and (~raised).any()
    for k, side in enumerate(("right", "left")):
        d = a[f"{side}_ankle_dorsiflexion"]
        assert (d >= lo - 1e-9).all() and (d <= hi + 1e-9).all()
        assert np.abs(d[raised[:, k]]).max() < 1e-9


def test_support_height_decides_which_feet_stand_flat():
    p, _ = procedural(9, 120, {"kick": 1.0, "walk": 1.0})
    a_all = pose_angles(add_extra_keypoints(p, support_height=10.0), EXT)
    a_none = pose_angles(add_extra_keypoints(p, support_height=-1.0), EXT)
    for side in ("right", "left"):
        assert np.abs(a_none[f"{side}_ankle_dorsiflexion"]).max() < 1e-9
        assert np.abs(a_all[f"{side}_ankle_dorsiflexion"]).max() > 5 * DEG


def test_extra_bones_have_the_anthropometric_lengths_of_the_estimated_height():
    p, _ = procedural(10, 64)
    out = add_extra_keypoints(p)
    par = EXT.parents_array
    got = np.linalg.norm(out[:, 17:] - out[:, par[17:]], axis=-1)
    want = np.linalg.norm(rest_offsets(EXT, estimate_height(p))[:, 17:], axis=-1)
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_rest_pose_gives_the_rest_pose_of_the_extended_skeleton():
    """A standing 17-joint rest pose (feet flat, hands hanging) is completed to the extended
    skeleton's own rest pose, up to the ankle levelling of the supporting feet."""
    height = 1.82
    p17 = rest_positions(H36M17, height)[None]
    p17 = p17 - np.array([0.0, 0.0, p17[0, :, 2].min()])  # ankles at z = 0 (both supporting)
    out = add_extra_keypoints(p17, support_height=-1.0)[0]  # no levelling: neutral ankles
    ref = rest_positions(EXT, height)
    ref = ref - ref[0] + out[0]
    np.testing.assert_allclose(out, ref, atol=1e-9)


# ----------------------------------------------------------------------------- height
@pytest.mark.parametrize("activity", list(ACTIVITIES))
def test_estimate_height_within_ten_percent(activity):
    p, heights = procedural(11, 64, {activity: 1.0})
    h = estimate_height(p)
    assert h.shape == (64,)
    assert np.abs(h / heights - 1).max() < 0.10


@pytest.mark.parametrize("height", [1.5, 1.7, 1.95])
def test_estimate_height_is_exact_on_a_default_body(height):
    assert abs(estimate_height(rest_positions(H36M17, height)) - height) < 1e-9


def test_estimate_height_scales_with_the_body():
    p, _ = procedural(12, 16)
    np.testing.assert_allclose(estimate_height(1.1 * p), 1.1 * estimate_height(p), rtol=1e-12)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("shape", [(4, 16, 3), (4, 32, 3), (4, 17, 2), (17,)])
def test_wrong_shape_is_refused(shape):
    with pytest.raises(ValueError, match="17"):
        add_extra_keypoints(np.zeros(shape))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_refused(bad):
    p, _ = procedural(13, 4)
    p = p.copy()
    p[1, 9, 2] = bad
    with pytest.raises(ValueError, match="finite"):
        add_extra_keypoints(p)


def test_input_is_not_modified():
    p, _ = procedural(14, 4)
    copy = p.copy()
    add_extra_keypoints(p)
    estimate_height(p)
    assert np.array_equal(p, copy)
