"""Hands reaching for targets on and around the body (posesynth.poses.hand_targets)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from posesynth.body.angles import pose_angles
from posesynth.body.rom import rom_violations
from posesynth.body.skeleton import H36M17, H36M_EXTENDED
from posesynth.data.dataset import PoseDataset
from posesynth.jobs.augment import augment
from posesynth.poses.hand_targets import TARGETS, _two_bone, reach_targets
from posesynth.poses.motion_spec import HandTargets, MotionsConfig, load_motions
from posesynth.poses.procedural import sample_poses

SKELETONS = [H36M17, H36M_EXTENDED]


def poses(skeleton, n=40, seed=0):
    rng = np.random.default_rng(seed)
    acts = {"stand": 1.0, "squat": 1.0, "kick": 1.0, "kneel": 1.0}
    return sample_poses(rng, n, skeleton, acts).positions


def bones(p, skeleton):
    par = skeleton.parents_array
    return np.linalg.norm(p[..., 1:, :] - p[..., par[1:], :], axis=-1)


@pytest.mark.parametrize("skeleton", SKELETONS, ids=[s.name for s in SKELETONS])
def test_only_the_arms_move_bones_keep_their_length_and_moved_arms_stay_in_range(skeleton):
    src = poses(skeleton)
    out, moved, _ = reach_targets(np.random.default_rng(1), src, skeleton, 0.8, dict.fromkeys(TARGETS, 1.0))
    assert moved.mean() > 0.5
    np.testing.assert_allclose(bones(out, skeleton), bones(src, skeleton), atol=1e-9)
    names = skeleton.joint_names
    arms = np.array([n.split("_", 1)[-1] in ("elbow", "wrist", "hand_tip", "thumb_tip") for n in names])
    assert np.array_equal(out[:, ~arms], src[:, ~arms])  # every joint outside the arms is copied exactly
    for col, side in enumerate(("right", "left")):
        arm = arms & np.array([n.startswith(f"{side}_") for n in names])
        assert np.array_equal(out[~moved[:, col]][:, arm], src[~moved[:, col]][:, arm])  # and arms not moved
        arm_angles = tuple(f"{side}_{j}" for j in ("shoulder", "elbow", "wrist", "forearm"))
        angles = {k: v for k, v in pose_angles(out[moved[:, col]], skeleton).items() if k.startswith(arm_angles)}
        bad = {k: int(v.sum()) for k, v in rom_violations(angles, skeleton, tol=1e-6).items() if v.any()}
        assert not bad, bad


@pytest.mark.parametrize("target", ["own_knee", "own_foot", "head", "forward", "side", "overhead"])
def test_the_hand_reaches_its_landmark_or_direction(target):
    src = poses(H36M17, 60)
    out, moved, _ = reach_targets(np.random.default_rng(2), src, H36M17, 1.0, {target: 1.0}, offset_sd_m=0.0)
    assert moved[:, 0].mean() > 0.5
    rows = moved[:, 0]
    s, e, w = H36M17.indices(["right_shoulder", "right_elbow", "right_wrist"])
    hand, shoulder = out[rows, w], out[rows, s]
    reach = np.linalg.norm(src[rows, e] - src[rows, s], axis=-1) + np.linalg.norm(src[rows, w] - src[rows, e], axis=-1)
    if target in ("own_knee", "own_foot", "head"):
        goal = src[rows, H36M17.index({"own_knee": "right_knee", "own_foot": "right_foot"}.get(target, target))]
        gap = np.linalg.norm(hand - goal, axis=-1)
        far = np.linalg.norm(goal - shoulder, axis=-1) >= 0.999 * reach
        np.testing.assert_allclose(gap[~far], 0.0, atol=1e-9)  # within reach: on the landmark
        # out of reach: the arm points straight at it
        toward = (hand - shoulder)[far] / np.linalg.norm((hand - shoulder)[far], axis=-1, keepdims=True)
        line = (goal - shoulder)[far] / np.linalg.norm((goal - shoulder)[far], axis=-1, keepdims=True)
        np.testing.assert_allclose((toward * line).sum(-1), 1.0, atol=1e-9)
    else:
        up = src[rows, H36M17.index("thorax")] - src[rows, 0]
        up /= np.linalg.norm(up, axis=-1, keepdims=True)
        across = src[rows, H36M17.index("right_hip")] - src[rows, H36M17.index("left_hip")]
        d = (hand - shoulder) / np.linalg.norm(hand - shoulder, axis=-1, keepdims=True)
        dist = np.linalg.norm(hand - shoulder, axis=-1)
        assert (dist >= 0.6 * reach - 1e-9).all() and (dist <= reach).all()
        if target == "overhead":
            assert ((d * up).sum(-1) > 0.6).all()
        if target == "side":
            assert ((d * across).sum(-1) > 0).all()  # the right hand out to the right


@settings(max_examples=60, deadline=None)
@given(
    st.floats(0.2, 0.4), st.floats(0.2, 0.4), st.floats(0.0, 1.2),
    st.floats(-np.pi, np.pi), st.integers(0, 2**32 - 1),
)  # fmt: skip
def test_two_bone_keeps_lengths_and_puts_the_wrist_on_reachable_targets(upper, fore, frac, swivel, seed):
    rng = np.random.default_rng(seed)
    shoulder = rng.normal(size=(1, 3))
    u = rng.normal(size=3)
    u /= np.linalg.norm(u)
    lo, hi = abs(upper - fore) + 1e-3, 0.999 * (upper + fore)
    dist = lo + frac * (hi - lo)
    target = shoulder + dist * u
    elbow, wrist = _two_bone(
        shoulder, target, np.array([upper]), np.array([fore]), rng.normal(size=(1, 3)), np.array([swivel])
    )
    assert np.linalg.norm(elbow - shoulder) == pytest.approx(upper, abs=1e-9)
    assert np.linalg.norm(wrist - elbow) == pytest.approx(fore, abs=1e-9)
    expect = target if frac <= 1 else shoulder + hi * u  # past the reach: as far as it goes, on the line
    np.testing.assert_allclose(wrist, expect, atol=1e-9)


def test_the_body_frame_is_read_from_each_pose():
    """Turned and moved poses reach the same places turned and moved (SciPy's rotation)."""
    src = poses(H36M17, 30)
    turn = Rotation.random(len(src), random_state=3)
    shift = np.random.default_rng(4).normal(size=(len(src), 1, 3))
    moved_src = np.stack([turn[i].apply(src[i]) for i in range(len(src))]) + shift
    a, ma, _ = reach_targets(np.random.default_rng(5), src, H36M17, 0.7, dict.fromkeys(TARGETS, 1.0))
    b, mb, _ = reach_targets(np.random.default_rng(5), moved_src, H36M17, 0.7, dict.fromkeys(TARGETS, 1.0))
    assert np.array_equal(ma, mb)
    expect = np.stack([turn[i].apply(a[i]) for i in range(len(a))]) + shift
    np.testing.assert_allclose(b, expect, atol=1e-9)


def test_same_seed_same_bytes_and_probability_zero_changes_nothing():
    src = poses(H36M17, 20)
    w = dict.fromkeys(TARGETS, 1.0)
    a, _, _ = reach_targets(np.random.default_rng(7), src, H36M17, 0.5, w)
    b, _, _ = reach_targets(np.random.default_rng(7), src, H36M17, 0.5, w)
    assert a.tobytes() == b.tobytes()
    c, moved, _ = reach_targets(np.random.default_rng(7), src, H36M17, 0.0, w)
    assert not moved.any() and np.array_equal(c, src)
    with pytest.raises(ValueError, match="unknown"):
        reach_targets(np.random.default_rng(7), src, H36M17, 0.5, {"elbow_of_a_friend": 1.0})
    with pytest.raises(ValueError, match="positive weight"):
        reach_targets(np.random.default_rng(7), src, H36M17, 0.5, {"head": 0.0})


def test_motions_field_off_by_default_and_the_preset():
    assert not MotionsConfig().hand_targets.active
    assert "hand_targets" not in MotionsConfig().model_dump(mode="json")  # files written before it keep their bytes
    hands = load_motions("full-rom-hands", H36M17)
    wide = load_motions("full-rom-pair-wide", H36M17)
    assert hands.model_dump() == {**wide.model_dump(), "hand_targets": HandTargets(probability=0.5).model_dump()}
    assert MotionsConfig(**hands.model_dump(mode="json")) == hands
    with pytest.raises(ValueError, match="unknown targets"):
        HandTargets(probability=0.5, weights={"tail": 1.0})
    with pytest.raises(ValueError, match="positive sum"):
        HandTargets(probability=0.5, weights={"head": 0.0})
    with pytest.raises(ValueError, match="positive sum"):
        HandTargets(probability=0.5, weights={"head": float("nan")})
    # off: the same bytes as a config without the field (no draw is made)
    src = poses(H36M17, 4)
    ds = PoseDataset(skeleton=H36M17, joints_3d_world=src)
    full = load_motions("full-rom", H36M17)
    off = MotionsConfig(**{**full.model_dump(), "hand_targets": {"probability": 0.0}})
    assert np.array_equal(
        augment(ds, full, seed=0).dataset.joints_3d_world, augment(ds, off, seed=0).dataset.joints_3d_world
    )


def test_augment_with_hand_targets_records_the_angles_of_the_poses_made():
    src = poses(H36M17, 10)
    motions = MotionsConfig(
        rom="reject", collisions="off", hand_targets={"probability": 1.0, "weights": {"forward": 1.0}}
    )
    res = augment(PoseDataset(skeleton=H36M17, joints_3d_world=src), motions, seed=0)
    out = res.dataset.joints_3d_world
    assert not np.array_equal(out, src[res.dataset.extra["source_index"]])
    # forward: the hands in front of the body's frontal plane
    s, w = H36M17.indices(["right_shoulder", "right_wrist"])
    up = out[:, H36M17.index("thorax")] - out[:, 0]
    across = out[:, H36M17.index("right_hip")] - out[:, H36M17.index("left_hip")]
    forward = np.cross(up, across)
    assert ((((out[:, w] - out[:, s]) * forward).sum(-1)) > 0).mean() > 0.9
