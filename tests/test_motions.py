"""Reposing (:mod:`posesynth.poses.motions`): bones kept, angles read back, upstream joints untouched.

Layers: the hinge fast path against the inverse-kinematics path; every settable angle read
back by :func:`posesynth.body.angles.pose_angles`; the singular cases (a straight limb, a
hyperextended one); batch shapes ``()``, ``(B,)``, ``(B, T)``; bad input.
Source poses: procedural poses of every activity and random forward-kinematics poses (random
bodies, any root orientation, angles over and beyond the range of motion).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posesynth.body.angles import local_from_angles, pose_angles
from posesynth.body.anthropometry import rest_offsets, rest_positions, sample_bodies
from posesynth.body.kinematics import forward_kinematics
from posesynth.body.rom import rom_table
from posesynth.body.skeleton import H36M17, H36M_EXTENDED
from posesynth.poses.motions import (
    descendants,
    hinge_axis,
    hinge_flexion,
    rotate_about_vertical,
    scale_bones,
    set_angles,
    set_hinge_flexion,
)
from posesynth.poses.procedural import ACTIVITIES, sample_poses

SKELETONS = [H36M17, H36M_EXTENDED]
SKEL_IDS = [s.name for s in SKELETONS]
HINGES = ("right_knee", "left_knee", "right_elbow", "left_elbow")
DEG = np.pi / 180
ANGLE_TOL = 1e-6  # radians
BONE_TOL = 1e-9  # metres
PER_ACTIVITY = 6
N_FK = 48


# ----------------------------------------------------------------------------- helpers
def wrapped(a, b):
    """|a - b| on the circle, radians."""
    return np.abs(np.angle(np.exp(1j * (np.asarray(a) - np.asarray(b)))))


def bone_lengths(p, skeleton):
    par = skeleton.parents_array
    return np.linalg.norm(p[..., 1:, :] - p[..., par[1:], :], axis=-1)


def subtree_ref(skeleton, joint):
    """Descendants of ``joint`` by walking every joint's ancestors (independent of the code)."""
    mask = np.zeros(skeleton.num_joints, dtype=bool)
    for k in range(skeleton.num_joints):
        a = skeleton.parents[k]
        while a >= 0:
            if a == joint:
                mask[k] = True
                break
            a = skeleton.parents[a]
    return mask


def fk_poses(rng, n, skeleton, widen_deg=20.0):
    """Random FK poses: random bodies, any root orientation and position, angles over the
    ROM widened by ``widen_deg`` (kept off the swing singularities at ±90° / 0° / 180°)."""
    heights, props = sample_bodies(rng, n)
    rest = rest_offsets(skeleton, heights, props)
    angles = {}
    for name, r in rom_table(skeleton).items():
        lo, hi = np.deg2rad(r.min_deg - widen_deg), np.deg2rad(r.max_deg + widen_deg)
        v = rng.uniform(lo, hi, n)
        if name.endswith(("abduction", "lateral_flexion", "radial_deviation", "inversion")):
            v = np.clip(v, -75 * DEG, 75 * DEG)
        if name.endswith("shoulder_elevation"):
            v = np.clip(v, 5 * DEG, 175 * DEG)
        angles[name] = v
    local = local_from_angles(angles, skeleton, rest, shape=(n,))
    local[:, 0] = Rotation.random(n, random_state=int(rng.integers(2**31))).as_quat()
    offsets = rest.copy()
    offsets[:, 0] = rng.normal(0.0, 2.0, (n, 3))
    return forward_kinematics(local, offsets, skeleton)


def _sources(skeleton):
    rng = np.random.default_rng(20240611 + skeleton.num_joints)
    proc = [sample_poses(rng, PER_ACTIVITY, skeleton, {a: 1.0}).positions for a in ACTIVITIES]
    return np.concatenate(proc + [fk_poses(rng, N_FK, skeleton)])


_CACHE: dict[str, np.ndarray] = {}


def sources(skeleton):
    """Procedural poses of every activity followed by random FK poses (cached, read-only)."""
    if skeleton.name not in _CACHE:
        p = _sources(skeleton)
        p.flags.writeable = False
        _CACHE[skeleton.name] = p
    return _CACHE[skeleton.name]


def bent(angles, name, min_deg=5.0):
    """Mask of poses whose knee/elbow below a hip/shoulder angle is bent > ``min_deg``."""
    side = name.split("_")[0]
    limb = "knee" if "_hip_" in name else "elbow"
    return np.abs(angles[f"{side}_{limb}_flexion"]) > min_deg * DEG


def well_posed(angles):
    """Poses on which every angle is observable: knees and elbows bent, arms raised."""
    ok = np.ones(len(next(iter(angles.values()))), dtype=bool)
    for side in ("right", "left"):
        ok &= np.abs(angles[f"{side}_knee_flexion"]) > 5 * DEG
        ok &= np.abs(angles[f"{side}_elbow_flexion"]) > 5 * DEG
        ok &= angles[f"{side}_shoulder_elevation"] > 5 * DEG
    return ok


def targets(skeleton, name, rng, n):
    """``n`` values to set ``name`` to: its ROM, off the singularities of the reading."""
    lo, hi = rom_table(skeleton)[name].bounds
    if name.endswith("shoulder_elevation"):
        lo, hi = 10 * DEG, 170 * DEG
    if name.endswith(("knee_flexion", "elbow_flexion")):
        lo = -10 * DEG  # hyperextension included
    return rng.uniform(lo, hi, n)


# ----------------------------------------------------------------------------- descendants
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_descendants_matches_ancestor_walk(skeleton):
    for j in range(skeleton.num_joints):
        got = descendants(skeleton, j)
        assert got.dtype == bool and got.shape == (skeleton.num_joints,)
        np.testing.assert_array_equal(got, subtree_ref(skeleton, j), err_msg=skeleton.joint_names[j])
    assert descendants(skeleton, 0).sum() == skeleton.num_joints - 1


# ----------------------------------------------------------------------------- hinge readings
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_hinge_flexion_is_what_pose_angles_reads(skeleton):
    p = sources(skeleton)
    angles = pose_angles(p, skeleton)
    for joint in HINGES:
        got = hinge_flexion(p, skeleton, joint)
        assert got.shape == (len(p),)
        np.testing.assert_allclose(got, angles[f"{joint}_flexion"], atol=ANGLE_TOL, err_msg=joint)


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_hinge_axis_is_unit_and_normal_to_the_limb(skeleton):
    p = sources(skeleton)
    angles = pose_angles(p, skeleton)
    for joint in HINGES:
        j = skeleton.index(joint)
        upper, (child,) = skeleton.parents_array[j], skeleton.children(j)
        axis = hinge_axis(p, skeleton, joint)
        assert axis.shape == (len(p), 3)
        np.testing.assert_allclose(np.linalg.norm(axis, axis=-1), 1.0, atol=1e-12)
        ok = np.abs(angles[f"{joint}_flexion"]) > 1 * DEG
        for a, b in ((upper, j), (j, child)):
            u = p[:, b] - p[:, a]
            u /= np.linalg.norm(u, axis=-1, keepdims=True)
            assert np.abs(np.sum(axis * u, axis=-1))[ok].max() < 1e-9


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_hinge_axis_at_rest_is_the_lateral_axis(skeleton):
    rest = rest_positions(skeleton, 1.70)
    for joint in HINGES:
        assert hinge_flexion(rest, skeleton, joint) == 0.0
        np.testing.assert_allclose(hinge_axis(rest, skeleton, joint), [1.0, 0.0, 0.0], atol=1e-12)


# ----------------------------------------------------------------------------- set_hinge_flexion
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
@pytest.mark.parametrize("joint", HINGES)
def test_set_hinge_flexion_reads_back_keeps_bones_and_upstream(skeleton, joint):
    rng = np.random.default_rng(1)
    p = sources(skeleton)
    flexion = rng.uniform(-10 * DEG, 150 * DEG, len(p))
    out = set_hinge_flexion(p, skeleton, joint, flexion)
    assert out.shape == p.shape and out.dtype == np.float64
    np.testing.assert_allclose(pose_angles(out, skeleton)[f"{joint}_flexion"], flexion, atol=ANGLE_TOL)
    np.testing.assert_allclose(hinge_flexion(out, skeleton, joint), flexion, atol=ANGLE_TOL)
    assert np.abs(bone_lengths(out, skeleton) - bone_lengths(p, skeleton)).max() < BONE_TOL
    below = descendants(skeleton, skeleton.index(joint))
    assert np.array_equal(out[:, ~below], p[:, ~below])  # bit for bit, the hinge joint included
    moved = np.linalg.norm(out[:, below] - p[:, below], axis=-1).max(axis=-1)
    assert (moved > 0).mean() > 0.95


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_set_hinge_flexion_changes_no_other_angle(skeleton):
    """The lower limb swings rigidly: hip/shoulder angles and the foot/hand angles are kept."""
    rng = np.random.default_rng(2)
    p = sources(skeleton)
    before = pose_angles(p, skeleton)
    ok = well_posed(before)
    assert ok.sum() > 40
    for joint in HINGES:
        flexion = rng.uniform(5 * DEG, 150 * DEG, len(p))
        after = pose_angles(set_hinge_flexion(p, skeleton, joint, flexion), skeleton)
        for name, value in after.items():
            if name != f"{joint}_flexion":
                assert wrapped(value, before[name])[ok].max() < ANGLE_TOL, (joint, name)


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
@pytest.mark.parametrize("joint", HINGES)
def test_set_angles_and_set_hinge_flexion_agree(skeleton, joint):
    rng = np.random.default_rng(3)
    p = sources(skeleton)
    flexion = rng.uniform(-10 * DEG, 150 * DEG, len(p))
    fast = set_hinge_flexion(p, skeleton, joint, flexion)
    ik = set_angles(p, skeleton, {f"{joint}_flexion": flexion})
    np.testing.assert_allclose(fast, ik, atol=1e-9)


def straighten(p, skeleton, joint):
    """Poses with ``joint``'s limb exactly straight: the lower bone laid along the upper one,
    everything below it translated along."""
    out = p.copy()
    j = skeleton.index(joint)
    upper, (child,) = skeleton.parents_array[j], skeleton.children(j)
    u = p[:, j] - p[:, upper]
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    length = np.linalg.norm(p[:, child] - p[:, j], axis=-1, keepdims=True)
    shift = (p[:, j] + length * u) - p[:, child]
    below = descendants(skeleton, child) | (np.arange(skeleton.num_joints) == child)
    out[:, below] += shift[:, None, :]
    return out


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
@pytest.mark.parametrize("joint", HINGES)
def test_a_straight_limb_can_be_bent(skeleton, joint):
    rng = np.random.default_rng(4)
    p = straighten(sources(skeleton), skeleton, joint)
    assert np.abs(hinge_flexion(p, skeleton, joint)).max() < 1e-7
    axis = hinge_axis(p, skeleton, joint)
    assert np.isfinite(axis).all()
    np.testing.assert_allclose(np.linalg.norm(axis, axis=-1), 1.0, atol=1e-12)
    flexion = rng.uniform(1 * DEG, 150 * DEG, len(p))
    out = set_hinge_flexion(p, skeleton, joint, flexion)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(pose_angles(out, skeleton)[f"{joint}_flexion"], flexion, atol=ANGLE_TOL)
    assert np.abs(bone_lengths(out, skeleton) - bone_lengths(p, skeleton)).max() < BONE_TOL
    np.testing.assert_allclose(out, set_angles(p, skeleton, {f"{joint}_flexion": flexion}), atol=1e-9)


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_bending_the_rest_pose_goes_the_anatomical_way(skeleton):
    """From exactly straight (flexion == 0): knees bend backward, elbows forward (y anterior)."""
    rest = rest_positions(skeleton, 1.70)
    for joint, sign in (("right_knee", -1), ("left_knee", -1), ("right_elbow", 1), ("left_elbow", 1)):
        j = skeleton.index(joint)
        (child,) = skeleton.children(j)
        for flexion, direction in ((0.6, sign), (-0.15, -sign)):  # flexion, then hyperextension
            out = set_hinge_flexion(rest, skeleton, joint, flexion)
            assert np.sign(out[child, 1] - out[j, 1]) == direction, (joint, flexion)
            assert abs(out[child, 0] - out[j, 0]) < 1e-12  # stays in the sagittal plane
            assert abs(pose_angles(out, skeleton)[f"{joint}_flexion"] - flexion) < ANGLE_TOL


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
@pytest.mark.parametrize("joint", HINGES)
def test_hyperextension_reads_negative_and_round_trips(skeleton, joint):
    """Negative flexion is reached, read back negative, and bending again lands where a direct
    set does (the axis does not flip when the limb crosses straight)."""
    rng = np.random.default_rng(5)
    p = sources(skeleton)
    hyper = rng.uniform(-20 * DEG, -0.5 * DEG, len(p))
    out = set_hinge_flexion(p, skeleton, joint, hyper)
    np.testing.assert_allclose(pose_angles(out, skeleton)[f"{joint}_flexion"], hyper, atol=ANGLE_TOL)
    assert np.abs(bone_lengths(out, skeleton) - bone_lengths(p, skeleton)).max() < BONE_TOL
    back = set_hinge_flexion(out, skeleton, joint, 0.7)
    np.testing.assert_allclose(back, set_hinge_flexion(p, skeleton, joint, 0.7), atol=1e-9)
    np.testing.assert_allclose(set_angles(p, skeleton, {f"{joint}_flexion": hyper}), out, atol=1e-9)


# ----------------------------------------------------------------------------- set_angles
MOVED_ANGLES = (
    "right_hip_flexion",
    "left_hip_abduction",
    "right_hip_rotation",
    "left_hip_rotation",
    "right_shoulder_elevation",
    "left_shoulder_elevation",
    "right_shoulder_plane",
    "left_shoulder_rotation",
    "right_shoulder_rotation",
    "spine_flexion",
    "spine_lateral_flexion",
    "thorax_flexion",
    "thorax_lateral_flexion",
    "thorax_rotation",
    "neck_flexion",
    "neck_lateral_flexion",
)


def joint_of(skeleton, name):
    """The joint whose local rotation carries angle ``name``."""
    from posesynth.body.angles import skeleton_dofs

    (joint,) = [d.joint for d in skeleton_dofs(skeleton) if name in d.names]
    return skeleton.index(joint)


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
@pytest.mark.parametrize("name", MOVED_ANGLES)
def test_set_angles_reads_back_keeps_bones_and_upstream(skeleton, name):
    rng = np.random.default_rng(6)
    p = sources(skeleton)
    before = pose_angles(p, skeleton)
    value = targets(skeleton, name, rng, len(p))
    out = set_angles(p, skeleton, {name: value})
    after = pose_angles(out, skeleton)
    ok = np.ones(len(p), dtype=bool)
    if name.endswith(("hip_rotation", "shoulder_rotation")):
        ok = bent(before, name)  # rotation is read from the knee/elbow plane
    if name.endswith(("shoulder_plane", "shoulder_rotation")):
        ok &= before[name.replace(name.split("_", 1)[1], "shoulder_elevation")] > 5 * DEG
    assert ok.sum() > 40
    assert wrapped(after[name], value)[ok].max() < ANGLE_TOL
    assert np.abs(bone_lengths(out, skeleton) - bone_lengths(p, skeleton)).max() < BONE_TOL
    below = descendants(skeleton, joint_of(skeleton, name))
    assert np.array_equal(out[:, ~below], p[:, ~below])


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_set_every_angle_changes_only_that_angle(skeleton):
    """Every angle of the ROM table, set alone, is read back and leaves the others as they were
    (on poses where every angle is observable: limbs bent, arms raised)."""
    rng = np.random.default_rng(7)
    p = sources(skeleton)
    before = pose_angles(p, skeleton)
    ok = well_posed(before)
    p = p[ok]
    before = {k: v[ok] for k, v in before.items()}
    for name in rom_table(skeleton):
        value = targets(skeleton, name, rng, len(p))
        if name.endswith(("knee_flexion", "elbow_flexion")):
            value = np.abs(value) + 5 * DEG  # keep the hinge bent: hip/shoulder rotation observable
        after = pose_angles(set_angles(p, skeleton, {name: value}), skeleton)
        assert wrapped(after[name], value).max() < ANGLE_TOL, name
        for other, v in after.items():
            if other != name:
                assert wrapped(v, before[other]).max() < ANGLE_TOL, (name, other)


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_set_angles_several_at_once_and_add_mode(skeleton):
    rng = np.random.default_rng(8)
    p = sources(skeleton)
    before = pose_angles(p, skeleton)
    n = len(p)
    want = {
        "right_hip_flexion": rng.uniform(-30, 120, n) * DEG,
        "left_knee_flexion": rng.uniform(5, 150, n) * DEG,
        "spine_flexion": rng.uniform(-15, 50, n) * DEG,
        "right_elbow_flexion": rng.uniform(5, 150, n) * DEG,
    }
    after = pose_angles(set_angles(p, skeleton, want), skeleton)
    for name, value in want.items():
        assert wrapped(after[name], value).max() < ANGLE_TOL, name
    delta = {"left_hip_flexion": rng.uniform(-10, 10, n) * DEG, "neck_flexion": np.full(n, 5 * DEG)}
    added = pose_angles(set_angles(p, skeleton, delta, add=True), skeleton)
    for name, d in delta.items():
        assert wrapped(added[name], before[name] + d).max() < ANGLE_TOL, name
    # a scalar broadcasts over the batch
    scalar = pose_angles(set_angles(p, skeleton, {"spine_lateral_flexion": 0.1}), skeleton)
    assert wrapped(scalar["spine_lateral_flexion"], 0.1).max() < ANGLE_TOL


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_set_angles_to_current_values_changes_nothing(skeleton):
    p = sources(skeleton)
    current = pose_angles(p, skeleton)
    out = set_angles(p, skeleton, current)
    np.testing.assert_allclose(out, p, atol=1e-9)
    assert np.array_equal(set_angles(p, skeleton, {}), p)


# ----------------------------------------------------------------------------- rotate_about_vertical
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_rotate_about_vertical_keeps_every_angle_and_bone(skeleton):
    rng = np.random.default_rng(9)
    p = sources(skeleton)
    yaw = rng.uniform(-np.pi, np.pi, len(p))
    out = rotate_about_vertical(p, yaw)
    assert np.abs(bone_lengths(out, skeleton) - bone_lengths(p, skeleton)).max() < BONE_TOL
    before, after = pose_angles(p, skeleton), pose_angles(out, skeleton)
    for name in before:
        assert wrapped(after[name], before[name]).max() < ANGLE_TOL, name
    assert np.array_equal(out[:, 0], p[:, 0])  # the pivot stays put
    np.testing.assert_allclose(out[..., 2], p[..., 2], atol=1e-12)  # heights kept
    # the horizontal part of every joint turned by yaw about the pivot
    d0, d1 = p[..., :2] - p[:, None, 0, :2], out[..., :2] - out[:, None, 0, :2]
    far = np.linalg.norm(d0, axis=-1) > 1e-3
    z0, z1 = (d[far][:, 0] + 1j * d[far][:, 1] for d in (d0, d1))
    yaw_per_joint = np.broadcast_to(yaw[:, None], far.shape)[far]
    assert wrapped(np.angle(z1 / z0), yaw_per_joint).max() < 1e-9


def test_rotate_about_vertical_composes_and_pivots():
    rng = np.random.default_rng(10)
    p = sources(H36M17)
    a, b = rng.uniform(-np.pi, np.pi, (2, len(p)))
    np.testing.assert_allclose(
        rotate_about_vertical(rotate_about_vertical(p, a), b), rotate_about_vertical(p, a + b), atol=1e-12
    )
    np.testing.assert_allclose(rotate_about_vertical(p, np.zeros(len(p))), p, atol=0)
    head = H36M17.index("head")
    out = rotate_about_vertical(p, a, pivot_joint=head)
    assert np.array_equal(out[:, head], p[:, head])


# ----------------------------------------------------------------------------- scale_bones
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_scale_bones_scales_exactly_the_named_bones(skeleton):
    rng = np.random.default_rng(11)
    p = sources(skeleton)
    named = ["right_knee", "left_knee", "spine", "left_wrist"]
    factors = {j: rng.uniform(0.8, 1.2, len(p)) for j in named}
    factors["spine"] = 1.1  # a scalar for every pose
    out = scale_bones(p, skeleton, factors)
    ratio = bone_lengths(out, skeleton) / bone_lengths(p, skeleton)
    for k in range(1, skeleton.num_joints):
        name = skeleton.joint_names[k]
        want = np.broadcast_to(factors.get(name, 1.0), (len(p),))
        np.testing.assert_allclose(ratio[:, k - 1], want, rtol=1e-12, err_msg=name)
    # directions kept, root kept
    par = skeleton.parents_array
    u0 = p[:, 1:] - p[:, par[1:]]
    u1 = out[:, 1:] - out[:, par[1:]]
    cos = np.sum(u0 * u1, -1) / np.linalg.norm(u0, axis=-1) / np.linalg.norm(u1, axis=-1)
    np.testing.assert_allclose(cos, 1.0, atol=1e-12)
    assert np.array_equal(out[:, 0], p[:, 0])
    np.testing.assert_allclose(scale_bones(p, skeleton, {}), p, atol=1e-12)


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf])
def test_scale_bones_rejects_bad_factors(bad):
    with pytest.raises(ValueError, match="right_knee"):
        scale_bones(sources(H36M17), H36M17, {"right_knee": bad})


# ----------------------------------------------------------------------------- batch shapes
@pytest.mark.parametrize("lead", [(), (5,), (2, 3)])
def test_batch_shapes(lead):
    p = sources(H36M_EXTENDED)[: int(np.prod(lead))].reshape(lead + (H36M_EXTENDED.num_joints, 3))
    flex = np.full(lead, 0.9)
    ops = {
        "hinge": lambda x, f: set_hinge_flexion(x, H36M_EXTENDED, "left_knee", f),
        "angles": lambda x, f: set_angles(x, H36M_EXTENDED, {"right_hip_flexion": f, "neck_flexion": f / 3}),
        "yaw": lambda x, f: rotate_about_vertical(x, f),
        "scale": lambda x, f: scale_bones(x, H36M_EXTENDED, {"right_foot": f + 0.2}),
    }
    for name, op in ops.items():
        out = op(p, flex)
        assert out.shape == p.shape, name
        flat = op(p.reshape(-1, *p.shape[-2:]), flex.reshape(-1))
        np.testing.assert_allclose(out.reshape(flat.shape), flat, atol=1e-12, err_msg=name)
    assert hinge_axis(p, H36M_EXTENDED, "right_elbow").shape == lead + (3,)
    assert hinge_flexion(p, H36M_EXTENDED, "right_elbow").shape == lead


# ----------------------------------------------------------------------------- bad input
def test_bad_input_raises_value_error():
    p = np.array(sources(H36M17)[:4])
    with pytest.raises(ValueError, match="knee or elbow"):
        set_hinge_flexion(p, H36M17, "right_hip", 0.3)
    with pytest.raises(ValueError, match="knee or elbow"):
        hinge_flexion(p, H36M17, "spine")
    with pytest.raises(ValueError, match="toe_wiggle"):
        set_angles(p, H36M17, {"toe_wiggle": 0.1})
    with pytest.raises(ValueError, match="ankle_dorsiflexion"):
        set_angles(p, H36M17, {"right_ankle_dorsiflexion": 0.1})  # extended skeleton only
    with pytest.raises(ValueError, match="17"):
        set_hinge_flexion(p[:, :16], H36M17, "right_knee", 0.3)
    with pytest.raises(ValueError, match="17"):
        set_angles(sources(H36M_EXTENDED)[:4], H36M17, {"spine_flexion": 0.1})
    nan = p.copy()
    nan[2, 5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        set_hinge_flexion(nan, H36M17, "left_knee", 0.3)
    with pytest.raises(ValueError, match="NaN"):
        set_angles(nan, H36M17, {"left_knee_flexion": 0.3})


def test_inputs_are_not_modified():
    p = np.array(sources(H36M_EXTENDED)[:8])
    copy = p.copy()
    set_hinge_flexion(p, H36M_EXTENDED, "right_knee", 1.0)
    set_angles(p, H36M_EXTENDED, {"right_hip_flexion": 1.0})
    rotate_about_vertical(p, np.ones(8))
    scale_bones(p, H36M_EXTENDED, {"right_knee": 1.1})
    assert np.array_equal(p, copy)
