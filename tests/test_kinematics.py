"""Forward / inverse kinematics: round trips, an outside reference (SciPy), batch shapes, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.transform import Rotation

from posesynth.body import kinematics as K
from posesynth.body.anthropometry import rest_offsets, rest_positions, sample_bodies
from posesynth.body.skeleton import H36M17, H36M_EXTENDED
from posesynth.poses.procedural import sample_poses

SKELETONS = [H36M17, H36M_EXTENDED]
SKEL_IDS = [s.name for s in SKELETONS]
CLOSE_M = 1e-9  # FK(IK(p)) must reproduce p to this, metres


# ----------------------------------------------------------------------------- helpers
def same_rotation(q1, q2, atol=1e-9):
    """Max over the batch of min(|q1 - q2|, |q1 + q2|): q and -q are the same rotation."""
    d = np.minimum(np.abs(q1 - q2).max(axis=-1), np.abs(q1 + q2).max(axis=-1))
    return float(np.max(d)) < atol


def random_quats(rng, shape):
    n = int(np.prod(shape))
    return Rotation.random(n, random_state=rng).as_quat().reshape(tuple(shape) + (4,))


def random_bodies(rng, n, skeleton):
    heights, props = sample_bodies(rng, n)
    return rest_offsets(skeleton, heights, props)  # (n, J, 3)


def fk_random_rotations(rng, n, skeleton):
    """Positions from random SciPy rotations at every joint on random anthropometric bodies."""
    rest = random_bodies(rng, n, skeleton)
    local = random_quats(rng, (n, skeleton.num_joints))
    offsets = rest.copy()
    offsets[:, 0] = rng.uniform(-3, 3, (n, 3))
    return K.forward_kinematics(local, offsets, skeleton), rest


def random_clouds(rng, n, skeleton):
    """Fully random point clouds: every joint anywhere in a 2 m box (distinct almost surely)."""
    return rng.uniform(-1.0, 1.0, (n, skeleton.num_joints, 3))


def fk_reference(local, offsets, skeleton):
    """Plain per-joint loop with scipy Rotation: G_j = G_p * L_j, p_j = p_p + G_p o_j."""
    J = skeleton.num_joints
    g = [None] * J
    p = np.zeros((J, 3))
    g[0] = Rotation.from_quat(local[0])
    p[0] = offsets[0]
    for j in range(1, J):
        par = skeleton.parents[j]
        g[j] = g[par] * Rotation.from_quat(local[j])
        p[j] = p[par] + g[par].apply(offsets[j])
    return p, np.stack([r.as_quat() for r in g])


def descendants(skeleton, j):
    """Strict descendants of joint j, from the parent list alone."""
    out = set()
    for k in range(skeleton.num_joints):
        a = skeleton.parents[k]
        while a >= 0:
            if a == j:
                out.add(k)
                break
            a = skeleton.parents[a]
    return out


def bone_vectors(positions, skeleton):
    par = skeleton.parents_array
    return positions[..., 1:, :] - positions[..., par[1:], :]


# ------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_fk_ik_round_trip_random_rotations(skeleton):
    rng = np.random.default_rng(10)
    positions, rest = fk_random_rotations(rng, 300, skeleton)
    local, offsets = K.inverse_kinematics(positions, skeleton, rest)
    assert np.abs(K.forward_kinematics(local, offsets, skeleton) - positions).max() < CLOSE_M
    # also with the default rest directions (a different body than the one posed)
    local, offsets = K.inverse_kinematics(positions, skeleton)
    assert np.abs(K.forward_kinematics(local, offsets, skeleton) - positions).max() < CLOSE_M
    np.testing.assert_allclose(np.linalg.norm(local, axis=-1), 1.0, atol=1e-12)


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_fk_ik_round_trip_random_point_clouds(skeleton):
    rng = np.random.default_rng(11)
    positions = random_clouds(rng, 300, skeleton)
    local, offsets = K.inverse_kinematics(positions, skeleton)
    assert np.abs(K.forward_kinematics(local, offsets, skeleton) - positions).max() < CLOSE_M


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_fk_ik_round_trip_procedural_poses(skeleton):
    batch = sample_poses(np.random.default_rng(12), 200, skeleton)
    for rest in (batch.rest_offsets, None):
        local, offsets = K.inverse_kinematics(batch.positions, skeleton, rest)
        assert np.abs(K.forward_kinematics(local, offsets, skeleton) - batch.positions).max() < CLOSE_M


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_fk_ik_round_trip_singular_limbs(skeleton):
    """Straight limbs (plane undefined), limbs folded back on themselves, bones opposite rest."""
    rest = rest_positions(skeleton, 1.70)
    poses = [rest.copy()]
    # right shank folded exactly back onto the thigh (knee flexion 180°, limb plane undefined)
    folded = rest.copy()
    knee, foot = skeleton.index("right_knee"), skeleton.index("right_foot")
    shift = 2 * (folded[knee] - folded[foot])
    for k in {foot} | descendants(skeleton, foot):
        folded[k] = folded[k] + shift
    poses.append(folded)
    # both arms pointing straight up (bone exactly opposite its rest direction: half-turn swing)
    up = rest.copy()
    for side in ("right", "left"):
        s = skeleton.index(f"{side}_shoulder")
        for k in descendants(skeleton, s):
            up[k, 2] = 2 * rest[s, 2] - rest[k, 2]  # mirror the arm through the shoulder's level
    poses.append(up)
    positions = np.stack(poses)
    local, offsets = K.inverse_kinematics(positions, skeleton)
    assert np.isfinite(local).all()
    assert np.abs(K.forward_kinematics(local, offsets, skeleton) - positions).max() < CLOSE_M


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_ik_of_rest_pose_is_identity(skeleton):
    """The anatomical rest pose of any height has identity local rotations and the rest offsets."""
    for height in (1.50, 1.70, 1.95):
        rest_off = rest_offsets(skeleton, height)
        positions = rest_positions(skeleton, height) + np.array([0.3, -1.2, 0.9])
        local, offsets = K.inverse_kinematics(positions, skeleton)
        ident = np.zeros_like(local)
        ident[..., 3] = 1.0
        assert same_rotation(local, ident, atol=1e-12)
        np.testing.assert_allclose(offsets[1:], rest_off[1:], atol=1e-12)
        np.testing.assert_allclose(offsets[0], positions[0], atol=0)


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_ik_rotations_carry_rest_bones_onto_bones(skeleton):
    """Each non-leaf joint's primary child keeps its rest direction in the parent frame.

    Guards against the trivial 'identity rotations, offsets = bone vectors' solution, which
    would also close FK(IK(p)) == p.
    """
    rng = np.random.default_rng(13)
    positions = random_clouds(rng, 100, skeleton)
    rest = K.default_rest_offsets(skeleton)
    _, offsets = K.inverse_kinematics(positions, skeleton)
    rig = K.build_rig(skeleton)
    for j in range(skeleton.num_joints):
        a = rig.primary[j]
        if a < 0:
            continue
        got = offsets[:, a] / np.linalg.norm(offsets[:, a], axis=-1, keepdims=True)
        want = rest[a] / np.linalg.norm(rest[a])
        np.testing.assert_allclose(
            got,
            np.broadcast_to(want, got.shape),
            atol=1e-9,
            err_msg=f"{skeleton.joint_names[j]} → {skeleton.joint_names[a]}",
        )


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_ik_hinges_rotate_about_their_own_x_axis(skeleton):
    """Knees and elbows: local rotation about x only (its y, z quaternion parts vanish)."""
    rng = np.random.default_rng(14)
    positions = random_clouds(rng, 200, skeleton)
    local, _ = K.inverse_kinematics(positions, skeleton)
    for name in ("right_knee", "left_knee", "right_elbow", "left_elbow"):
        q = local[:, skeleton.index(name)]
        assert np.abs(q[:, 1:3]).max() < 1e-9, name
        assert np.abs(q[:, 0]).max() > 0.1, name  # and they really do bend


# ------------------------------------------------------------------------ bone lengths
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_ik_offsets_keep_bone_lengths_under_rigid_motion(skeleton):
    rng = np.random.default_rng(15)
    positions = np.concatenate([random_clouds(rng, 50, skeleton), fk_random_rotations(rng, 50, skeleton)[0]])
    lengths = np.linalg.norm(bone_vectors(positions, skeleton), axis=-1)
    R = Rotation.random(len(positions), random_state=rng).as_matrix()
    t = rng.uniform(-5, 5, (len(positions), 1, 3))
    moved = np.einsum("nij,nkj->nki", R, positions) + t
    for p in (positions, moved):
        _, offsets = K.inverse_kinematics(p, skeleton)
        np.testing.assert_allclose(np.linalg.norm(offsets[:, 1:], axis=-1), lengths, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        K.inverse_kinematics(moved, skeleton)[1][:, 1:],
        K.inverse_kinematics(positions, skeleton)[1][:, 1:],
        atol=1e-9,
    )


# ------------------------------------------------------------------------ forward pass
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_fk_identity_rotations_give_rest_pose(skeleton):
    rng = np.random.default_rng(16)
    heights, props = sample_bodies(rng, 20)
    offsets = rest_offsets(skeleton, heights, props)
    ident = np.zeros((20, skeleton.num_joints, 4))
    ident[..., 3] = 1.0
    np.testing.assert_allclose(
        K.forward_kinematics(ident, offsets, skeleton), rest_positions(skeleton, heights, props), atol=1e-12
    )
    # the root row of the offsets is the root position in the world
    offsets[:, 0] = [1.0, 2.0, 3.0]
    np.testing.assert_allclose(
        K.forward_kinematics(ident, offsets, skeleton),
        rest_positions(skeleton, heights, props) + [1.0, 2.0, 3.0],
        atol=1e-12,
    )


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_fk_matches_scipy_reference_loop(skeleton):
    rng = np.random.default_rng(17)
    n = 10
    local = random_quats(rng, (n, skeleton.num_joints))
    offsets = random_bodies(rng, n, skeleton)
    offsets[:, 0] = rng.normal(size=(n, 3))
    p, g = K.forward_kinematics(local, offsets, skeleton, return_global=True)
    for i in range(n):
        p_ref, g_ref = fk_reference(local[i], offsets[i], skeleton)
        np.testing.assert_allclose(p[i], p_ref, atol=1e-12)
        assert same_rotation(g[i], g_ref, atol=1e-12)


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_rotation_moves_only_descendants(skeleton):
    rng = np.random.default_rng(18)
    local = random_quats(rng, (skeleton.num_joints,))
    offsets = K.default_rest_offsets(skeleton)
    base = K.forward_kinematics(local, offsets, skeleton)
    for j in range(skeleton.num_joints):
        turned = local.copy()
        turned[j] = (Rotation.from_quat(local[j]) * Rotation.from_rotvec([0.4, -0.7, 0.5])).as_quat()
        moved = np.linalg.norm(K.forward_kinematics(turned, offsets, skeleton) - base, axis=-1) > 1e-9
        want = np.zeros(skeleton.num_joints, bool)
        want[list(descendants(skeleton, j))] = True
        np.testing.assert_array_equal(moved, want, err_msg=skeleton.joint_names[j])


# ---------------------------------------------------------------------- batch shapes
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
@pytest.mark.parametrize("lead", [(), (4,), (2, 3)], ids=["()", "(B,)", "(B,T)"])
def test_batch_shapes(skeleton, lead):
    rng = np.random.default_rng(19)
    J = skeleton.num_joints
    flat = random_clouds(rng, int(np.prod(lead, dtype=int)), skeleton)
    positions = flat.reshape(lead + (J, 3))
    local, offsets = K.inverse_kinematics(positions, skeleton)
    assert local.shape == lead + (J, 4) and offsets.shape == lead + (J, 3)
    p, g = K.forward_kinematics(local, offsets, skeleton, return_global=True)
    assert p.shape == lead + (J, 3) and g.shape == lead + (J, 4)
    np.testing.assert_allclose(p, positions, atol=CLOSE_M)
    # batched IK equals IK one sample at a time
    for i, single in enumerate(flat):
        l1, o1 = K.inverse_kinematics(single, skeleton)
        np.testing.assert_allclose(local.reshape(-1, J, 4)[i], l1, atol=1e-12)
        np.testing.assert_allclose(offsets.reshape(-1, J, 3)[i], o1, atol=1e-12)


def test_fk_broadcasts_offsets_against_rotations():
    rng = np.random.default_rng(20)
    J = H36M17.num_joints
    local = random_quats(rng, (5, 2, J))
    offsets = K.default_rest_offsets(H36M17)  # (J, 3)
    p = K.forward_kinematics(local, offsets, H36M17)
    assert p.shape == (5, 2, J, 3)
    np.testing.assert_allclose(p, K.forward_kinematics(local, np.broadcast_to(offsets, (5, 2, J, 3)), H36M17), atol=0)


# ----------------------------------------------------------------------------- bad input
def test_ik_rejects_wrong_shapes():
    rest = rest_positions(H36M17, 1.7)
    with pytest.raises(ValueError, match=r"positions.*\(\.\.\., 17, 3\).*\(17, 2\)"):
        K.inverse_kinematics(rest[:, :2], H36M17)
    with pytest.raises(ValueError, match=r"positions.*\(16, 3\)"):
        K.inverse_kinematics(rest[:16], H36M17)
    with pytest.raises(ValueError, match=r"positions.*\(17, 3\)"):
        K.inverse_kinematics(rest, H36M_EXTENDED)
    with pytest.raises(ValueError, match=r"positions.*\(3,\)"):
        K.inverse_kinematics(np.zeros(3), H36M17)
    with pytest.raises(ValueError, match=r"rest_offsets.*\(17, 4\)"):
        K.inverse_kinematics(rest, H36M17, np.zeros((17, 4)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_ik_rejects_non_finite(bad):
    positions = np.stack([rest_positions(H36M17, 1.7)] * 3)
    positions[1, 5, 2] = bad
    with pytest.raises(ValueError, match=r"positions: expected finite.*1 NaN/inf.*\(1, 5, 2\)"):
        K.inverse_kinematics(positions, H36M17)


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_ik_rejects_zero_length_bone(skeleton):
    positions = np.stack([rest_positions(skeleton, 1.7)] * 4)
    positions[2, skeleton.index("left_elbow")] = positions[2, skeleton.index("left_shoulder")]
    with pytest.raises(ValueError, match=r"zero-length bone left_shoulder→left_elbow at sample \(2,\)"):
        K.inverse_kinematics(positions, skeleton)


def test_ik_rejects_collinear_frame_children():
    """Root frame: hips on the root→spine line leave the pelvis frame undefined."""
    positions = rest_positions(H36M17, 1.7)
    up = positions[H36M17.index("spine")] - positions[0]
    positions[H36M17.index("right_hip")] = positions[0] - 0.3 * up
    positions[H36M17.index("left_hip")] = positions[0] - 0.6 * up
    with pytest.raises(ValueError, match="parallel"):
        K.inverse_kinematics(positions, H36M17)


def test_check_state_rejects_bad_states():
    J = H36M17.num_joints
    ident = np.zeros((J, 4))
    ident[:, 3] = 1.0
    offsets = K.default_rest_offsets(H36M17)
    K.check_state(ident, offsets, H36M17)  # valid
    with pytest.raises(ValueError, match=r"local_rotations.*\(17, 3\)"):
        K.check_state(ident[:, :3], offsets, H36M17)
    with pytest.raises(ValueError, match=r"local_rotations: expected unit quaternions.*norm 2"):
        K.check_state(2 * ident, offsets, H36M17)
    bad = offsets.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"bone_offsets: expected finite"):
        K.check_state(ident, bad, H36M17)
    with pytest.raises(ValueError, match=r"bone_offsets.*\(16, 3\)"):
        K.check_state(ident, offsets[:16], H36M17)


# ----------------------------------------------------------------------- property test
_POOL = {
    s.name: np.concatenate(
        [
            sample_poses(np.random.default_rng(21), 8, s).positions,
            random_clouds(np.random.default_rng(22), 8, s),
        ]
    )
    for s in SKELETONS
}


@settings(max_examples=60, deadline=None)
@given(
    skel_index=st.integers(0, 1),
    pose_index=st.integers(0, 15),
    rotvec=arrays(np.float64, 3, elements=st.floats(-4.0, 4.0, allow_nan=False)),
    t=arrays(np.float64, 3, elements=st.floats(-10.0, 10.0, allow_nan=False)),
)
def test_ik_is_equivariant_under_rigid_motion(skel_index, pose_index, rotvec, t):
    """IK(R p + t): same local rotations and offsets except the root, whose frame turns by R."""
    skeleton = SKELETONS[skel_index]
    p = _POOL[skeleton.name][pose_index]
    r = Rotation.from_rotvec(rotvec)
    moved = r.apply(p) + t
    local, offsets = K.inverse_kinematics(p, skeleton)
    local_m, offsets_m = K.inverse_kinematics(moved, skeleton)
    assert same_rotation(local_m[1:], local[1:], atol=1e-8)
    np.testing.assert_allclose(offsets_m[1:], offsets[1:], atol=1e-9)
    np.testing.assert_allclose(offsets_m[0], moved[0], atol=1e-12)
    assert same_rotation(local_m[0], (r * Rotation.from_quat(local[0])).as_quat(), atol=1e-8)
    assert np.abs(K.forward_kinematics(local_m, offsets_m, skeleton) - moved).max() < CLOSE_M
