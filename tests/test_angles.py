"""Anatomical angles: round trips through FK and IK, clinical signs on hand-built poses."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posesynth.body import angles as A
from posesynth.body import kinematics as K
from posesynth.body import rom
from posesynth.body.anthropometry import rest_positions
from posesynth.body.skeleton import H36M17, H36M_EXTENDED
from posesynth.poses.procedural import sample_poses

SKELETONS = [H36M17, H36M_EXTENDED]
SKEL_IDS = [s.name for s in SKELETONS]
TOL = 1e-6  # radians
DEG = np.pi / 180


def wrapped_diff(a, b):
    """|a - b| on the circle, radians."""
    return np.abs(np.angle(np.exp(1j * (np.asarray(a) - np.asarray(b)))))


def descendants(skeleton, j):
    out = []
    for k in range(skeleton.num_joints):
        a = skeleton.parents[k]
        while a >= 0:
            if a == j:
                out.append(k)
                break
            a = skeleton.parents[a]
    return out


def rest_pose(skeleton):
    """Anatomical rest pose of the default 1.70 m body (the default IK rest directions)."""
    return rest_positions(skeleton, 1.70)


def rotate_below(positions, skeleton, joint, rotvec):
    """Rotate every descendant of ``joint`` about the joint by ``rotvec`` (body frame)."""
    out = positions.copy()
    j = skeleton.index(joint)
    idx = descendants(skeleton, j)
    out[idx] = Rotation.from_rotvec(rotvec).apply(positions[idx] - positions[j]) + positions[j]
    return out


def base_name(name):
    """Angle name without its side: right_knee_flexion → knee_flexion."""
    for prefix in ("right_", "left_"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def unit(v):
    return v / np.linalg.norm(v)


def read(positions, skeleton, name):
    return float(A.pose_angles(positions, skeleton)[name])


def round_trip(angles, skeleton):
    local = A.local_from_angles(angles, skeleton)
    positions = K.forward_kinematics(local, K.default_rest_offsets(skeleton), skeleton)
    return A.pose_angles(positions, skeleton)


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
@pytest.mark.parametrize("knee_deg", [(5.0, 150.0), (-10.0, -3.0)], ids=["flexed_knees", "hyperextended_knees"])
def test_angles_fk_ik_round_trip_inside_rom(skeleton, knee_deg):
    """local_from_angles → FK → pose_angles reads every requested angle back."""
    rng = np.random.default_rng(0)
    limits = rom.limits_with_overrides(
        skeleton,
        {"knee_flexion": knee_deg, "elbow_flexion": (5.0, 150.0), "shoulder_elevation": (5.0, 175.0)},
    )
    want = rom.sample_uniform(rng, 300, skeleton, limits)
    assert set(want) == set(A.angle_names(skeleton))
    got = round_trip(want, skeleton)
    assert set(got) == set(want)
    for name in want:
        assert got[name].shape == (300,)
        err = wrapped_diff(got[name], want[name]).max()
        assert err < TOL, f"{name}: error {err:.3g} rad"


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_angles_round_trip_at_rom_limits(skeleton):
    """Each angle alone at its ROM min and max (others at a generic, well-conditioned pose)."""
    base = dict.fromkeys(A.angle_names(skeleton), 0.0)
    for n in base:
        b = base_name(n)
        base[n] = {"knee_flexion": 30, "elbow_flexion": 40, "shoulder_elevation": 35, "shoulder_plane": 20}.get(
            b, 0.0
        ) * DEG
    limits = rom.limits_with_overrides(skeleton)
    for name, (lo, hi) in limits.items():
        for value in (lo, hi):
            want = dict(base, **{name: value})
            if base_name(name) == "shoulder_elevation":
                plane = name.replace("elevation", "plane")
                want[plane] = 45 * DEG  # cap of 180° there
            got = round_trip(want, skeleton)
            skip = set()
            if base_name(name) == "shoulder_elevation":  # plane (and twist at 180°) undefined
                skip = {name.replace("elevation", "plane"), name.replace("elevation", "rotation")}
            if name.endswith("elbow_flexion") and value == 0:
                skip = {name.replace("elbow_flexion", "shoulder_rotation")}
            for k in want:
                if k not in skip:
                    err = wrapped_diff(got[k], want[k])
                    assert err < TOL, f"{name}={np.rad2deg(value):.0f}°: {k} off by {err:.3g} rad"


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_angles_from_local_inverts_local_from_angles(skeleton):
    rng = np.random.default_rng(1)
    want = rom.sample_uniform(rng, 200, skeleton)
    got = A.angles_from_local(A.local_from_angles(want, skeleton), skeleton)
    for name in want:
        assert wrapped_diff(got[name], want[name]).max() < 1e-9, name


@pytest.mark.parametrize("shape", [(), (4,), (2, 3)], ids=["()", "(B,)", "(B,T)"])
def test_local_from_angles_batch_shapes_and_defaults(shape):
    rng = np.random.default_rng(2)
    J = H36M17.num_joints
    knee = rng.uniform(0.2, 2.0, shape)
    local = A.local_from_angles({"right_knee_flexion": knee}, H36M17)
    assert local.shape == shape + (J, 4)
    got = A.angles_from_local(local, H36M17)
    assert got["right_knee_flexion"].shape == shape
    np.testing.assert_allclose(got["right_knee_flexion"], knee, atol=1e-12)
    # angles not given are zero: every other joint keeps the identity
    others = [j for j in range(J) if j != H36M17.index("right_knee")]
    np.testing.assert_allclose(np.abs(local[..., others, 3]), 1.0, atol=1e-12)
    # a scalar angle broadcast to an explicit shape
    local = A.local_from_angles({"left_elbow_flexion": 0.5}, H36M17, shape=(3,))
    assert local.shape == (3, J, 4)
    ident = A.local_from_angles({}, H36M17)
    assert ident.shape == (J, 4)
    np.testing.assert_allclose(ident, np.tile([0.0, 0.0, 0.0, 1.0], (J, 1)), atol=0)


# ----------------------------------------------------------------------- clinical signs
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("theta_deg", [10.0, 45.0, 90.0, 130.0])
def test_knee_bent_backwards_is_positive_flexion(skeleton, side, theta_deg):
    theta = theta_deg * DEG
    rest = rest_pose(skeleton)
    # thigh 20° forward first, so the check does not lean on an upright thigh
    pose = rotate_below(rest, skeleton, f"{side}_hip", [20 * DEG, 0, 0])
    pose = rotate_below(pose, skeleton, f"{side}_knee", [-theta, 0, 0])  # shank swings backwards
    hip, knee, ankle = (pose[skeleton.index(f"{side}_{j}")] for j in ("hip", "knee", "foot"))
    sagittal = lambda v: np.arctan2(v[1], -v[2])
    assert sagittal(ankle - knee) < sagittal(knee - hip)  # the shank swung back from the thigh line
    geometric = np.arccos(np.dot(unit(knee - hip), unit(ankle - knee)))
    got = A.pose_angles(pose, skeleton)
    assert got[f"{side}_knee_flexion"] > 0
    assert abs(got[f"{side}_knee_flexion"] - geometric) < TOL
    assert abs(got[f"{side}_knee_flexion"] - theta) < TOL
    other = "left" if side == "right" else "right"
    assert abs(got[f"{other}_knee_flexion"]) < TOL


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_knee_hyperextension_is_negative_flexion(skeleton):
    pose = rotate_below(rest_pose(skeleton), skeleton, "right_knee", [8 * DEG, 0, 0])  # shank forward
    assert read(pose, skeleton, "right_knee_flexion") == pytest.approx(-8 * DEG, abs=TOL)


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
@pytest.mark.parametrize("side", ["right", "left"])
def test_thigh_forward_is_positive_hip_flexion(skeleton, side):
    for theta in (15 * DEG, 60 * DEG, 100 * DEG):
        pose = rotate_below(rest_pose(skeleton), skeleton, f"{side}_hip", [theta, 0, 0])
        assert pose[skeleton.index(f"{side}_knee"), 1] > 0  # the knee went forward (+y)
        got = A.pose_angles(pose, skeleton)
        assert got[f"{side}_hip_flexion"] == pytest.approx(theta, abs=TOL)
        assert got[f"{side}_hip_abduction"] == pytest.approx(0.0, abs=TOL)
    # thigh backwards: extension reads negative
    pose = rotate_below(rest_pose(skeleton), skeleton, f"{side}_hip", [-20 * DEG, 0, 0])
    assert read(pose, skeleton, f"{side}_hip_flexion") == pytest.approx(-20 * DEG, abs=TOL)


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_leg_away_from_midline_is_positive_abduction(skeleton):
    phi = 25 * DEG
    rest = rest_pose(skeleton)
    # right leg to the subject's right (+x): a rotation about -y at the hip
    right_out = rotate_below(rest, skeleton, "right_hip", [0, -phi, 0])
    assert right_out[skeleton.index("right_knee"), 0] > rest[skeleton.index("right_knee"), 0]
    got = A.pose_angles(right_out, skeleton)
    assert got["right_hip_abduction"] == pytest.approx(phi, abs=TOL)
    assert got["right_hip_flexion"] == pytest.approx(0.0, abs=TOL)
    # left leg to the subject's left (-x)
    left_out = rotate_below(rest, skeleton, "left_hip", [0, phi, 0])
    assert left_out[skeleton.index("left_knee"), 0] < rest[skeleton.index("left_knee"), 0]
    assert read(left_out, skeleton, "left_hip_abduction") == pytest.approx(phi, abs=TOL)
    # right leg across the midline (-x): adduction reads negative
    right_in = rotate_below(rest, skeleton, "right_hip", [0, phi, 0])
    assert read(right_in, skeleton, "right_hip_abduction") == pytest.approx(-phi, abs=TOL)


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
@pytest.mark.parametrize("side", ["right", "left"])
def test_arm_raised_forward_and_sideways(skeleton, side):
    lateral = 1.0 if side == "right" else -1.0
    for theta_deg in (30.0, 90.0, 150.0):
        theta = theta_deg * DEG
        forward = rotate_below(rest_pose(skeleton), skeleton, f"{side}_shoulder", [theta, 0, 0])
        got = A.pose_angles(forward, skeleton)
        assert got[f"{side}_shoulder_elevation"] == pytest.approx(theta, abs=TOL)
        assert got[f"{side}_shoulder_plane"] == pytest.approx(0.0, abs=TOL)
        sideways = rotate_below(rest_pose(skeleton), skeleton, f"{side}_shoulder", [0, -lateral * theta, 0])
        elbow = sideways[skeleton.index(f"{side}_elbow")]
        assert lateral * elbow[0] > lateral * rest_pose(skeleton)[skeleton.index(f"{side}_shoulder"), 0]
        got = A.pose_angles(sideways, skeleton)
        assert got[f"{side}_shoulder_elevation"] == pytest.approx(theta, abs=TOL)
        assert got[f"{side}_shoulder_plane"] == pytest.approx(np.pi / 2, abs=TOL)
    # arm swung backwards: extension plane (180°)
    back = rotate_below(rest_pose(skeleton), skeleton, f"{side}_shoulder", [-40 * DEG, 0, 0])
    got = A.pose_angles(back, skeleton)
    assert got[f"{side}_shoulder_elevation"] == pytest.approx(40 * DEG, abs=TOL)
    assert got[f"{side}_shoulder_plane"] == pytest.approx(np.pi, abs=TOL)


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
@pytest.mark.parametrize("side", ["right", "left"])
def test_forearm_forward_is_positive_elbow_flexion(skeleton, side):
    pose = rotate_below(rest_pose(skeleton), skeleton, f"{side}_elbow", [70 * DEG, 0, 0])
    assert pose[skeleton.index(f"{side}_wrist"), 1] > 0
    assert read(pose, skeleton, f"{side}_elbow_flexion") == pytest.approx(70 * DEG, abs=TOL)


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
@pytest.mark.parametrize("side", ["right", "left"])
def test_internal_rotation_is_positive(skeleton, side):
    """Knee (elbow) flexed 90°: internal hip rotation swings the foot outwards, internal shoulder
    rotation swings the hand inwards, towards the belly."""
    lateral = 1.0 if side == "right" else -1.0
    alpha = 30 * DEG
    rest = rest_pose(skeleton)
    leg = rotate_below(rest, skeleton, f"{side}_knee", [-90 * DEG, 0, 0])  # shank backwards
    leg = rotate_below(leg, skeleton, f"{side}_hip", [0, 0, lateral * alpha])  # about the thigh
    foot = leg[skeleton.index(f"{side}_foot")] - leg[skeleton.index(f"{side}_knee")]
    assert lateral * foot[0] > 0  # the foot moved outwards
    assert read(leg, skeleton, f"{side}_hip_rotation") == pytest.approx(alpha, abs=TOL)
    arm = rotate_below(rest, skeleton, f"{side}_elbow", [90 * DEG, 0, 0])  # forearm forwards
    arm = rotate_below(arm, skeleton, f"{side}_shoulder", [0, 0, lateral * alpha])
    hand = arm[skeleton.index(f"{side}_wrist")] - arm[skeleton.index(f"{side}_elbow")]
    assert lateral * hand[0] < 0  # the hand moved inwards
    assert read(arm, skeleton, f"{side}_shoulder_rotation") == pytest.approx(alpha, abs=TOL)


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_trunk_leaning_forward_is_positive_spine_flexion(skeleton):
    rest = rest_pose(skeleton)
    lean = rotate_below(rest, skeleton, "spine", [-30 * DEG, 0, 0])  # thorax goes forward
    assert lean[skeleton.index("thorax"), 1] > 0
    got = A.pose_angles(lean, skeleton)
    assert got["spine_flexion"] == pytest.approx(30 * DEG, abs=TOL)
    assert got["spine_lateral_flexion"] == pytest.approx(0.0, abs=TOL)
    side = rotate_below(rest, skeleton, "spine", [0, 15 * DEG, 0])  # thorax to the subject's right
    assert side[skeleton.index("thorax"), 0] > 0
    assert read(side, skeleton, "spine_lateral_flexion") == pytest.approx(15 * DEG, abs=TOL)


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_rest_pose_reads_all_zero(skeleton):
    got = A.pose_angles(rest_pose(skeleton) + [0.5, 2.0, 0.9], skeleton)
    for name, value in got.items():
        if name.endswith("shoulder_plane"):  # undefined with the arm hanging (elevation 0)
            continue
        assert abs(value) < 1e-9, name


# ---------------------------------------------------------------------------- invariance
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_angles_invariant_under_global_rotation(skeleton):
    rng = np.random.default_rng(3)
    batch = sample_poses(rng, 100, skeleton)
    R = Rotation.random(100, random_state=rng).as_matrix()
    moved = np.einsum("nij,nkj->nki", R, batch.positions) + rng.uniform(-5, 5, (100, 1, 3))
    before = A.pose_angles(batch.positions, skeleton, batch.rest_offsets)
    after = A.pose_angles(moved, skeleton, batch.rest_offsets)
    for name in before:
        assert wrapped_diff(after[name], before[name]).max() < 1e-8, name


# ----------------------------------------------------------------------------- names
def test_angle_names_per_skeleton():
    small, big = A.angle_names(H36M17), A.angle_names(H36M_EXTENDED)
    assert len(set(small)) == len(small) and len(set(big)) == len(big)
    assert set(small) < set(big)
    for name in ("right_knee_flexion", "left_hip_rotation", "right_shoulder_plane", "spine_flexion"):
        assert name in small
    # ankles, wrists and head need the extended skeleton's foot / hand / face keypoints
    for name in ("right_ankle_dorsiflexion", "left_forearm_pronation", "head_rotation"):
        assert name in big and name not in small


def test_unknown_angle_name_raises():
    with pytest.raises(ValueError, match=r"unknown angle names \['knee_flexion'\].*right_knee_flexion"):
        A.local_from_angles({"knee_flexion": 0.3}, H36M17)
    with pytest.raises(ValueError, match="right_ankle_dorsiflexion"):
        A.local_from_angles({"right_ankle_dorsiflexion": 0.1}, H36M17)
    A.local_from_angles({"right_ankle_dorsiflexion": 0.1}, H36M_EXTENDED)  # fine there


def test_pose_angles_rejects_bad_positions():
    with pytest.raises(ValueError, match=r"positions.*\(17, 2\)"):
        A.pose_angles(np.zeros((17, 2)), H36M17)
    with pytest.raises(ValueError, match=r"local_rotations.*\(17, 3\)"):
        A.angles_from_local(np.zeros((17, 3)), H36M17)
