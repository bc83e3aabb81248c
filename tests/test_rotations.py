"""Quaternion operations against scipy.spatial.transform.Rotation, round trips and properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.transform import Rotation

from posesynth.geometry import rotations as rot


def random_quats(rng, shape):
    return Rotation.random(int(np.prod(shape)), random_state=rng).as_quat().reshape(shape + (4,))


def same_rotation(q1, q2, atol=1e-12):
    """q and -q are the same rotation."""
    d = np.minimum(np.abs(q1 - q2).max(axis=-1), np.abs(q1 + q2).max(axis=-1))
    return np.all(d < atol)


@pytest.mark.parametrize("shape", [(), (5,), (3, 4)])
def test_multiply_apply_matrix_match_scipy(shape):
    rng = np.random.default_rng(0)
    a, b = random_quats(rng, shape), random_quats(rng, shape)
    v = rng.normal(size=shape + (3,))
    ra, rb = Rotation.from_quat(a.reshape(-1, 4)), Rotation.from_quat(b.reshape(-1, 4))
    assert same_rotation(rot.quat_multiply(a, b).reshape(-1, 4), (ra * rb).as_quat())
    np.testing.assert_allclose(rot.quat_apply(a, v).reshape(-1, 3), ra.apply(v.reshape(-1, 3)), atol=1e-12)
    np.testing.assert_allclose(rot.quat_to_matrix(a).reshape(-1, 3, 3), ra.as_matrix(), atol=1e-12)
    assert rot.quat_multiply(a, b).shape == shape + (4,)


def test_matrix_to_quat_matches_scipy_including_half_turns():
    rng = np.random.default_rng(1)
    q = random_quats(rng, (500,))
    half = rot.axis_angle_to_quat(rng.normal(size=(50, 3)) / 1.0, np.full(50, np.pi))
    half /= np.linalg.norm(half, axis=-1, keepdims=True)
    q = np.concatenate([q, half, rot.quat_identity((1,))])
    m = Rotation.from_quat(q).as_matrix()
    assert same_rotation(rot.matrix_to_quat(m), q, atol=1e-10)


def test_rotvec_round_trip_and_scipy():
    rng = np.random.default_rng(2)
    rv = rng.normal(size=(200, 3))
    rv = rv / np.linalg.norm(rv, axis=-1, keepdims=True) * rng.uniform(0, np.pi - 1e-6, (200, 1))
    q = rot.rotvec_to_quat(rv)
    assert same_rotation(q, Rotation.from_rotvec(rv).as_quat())
    np.testing.assert_allclose(rot.quat_to_rotvec(q), rv, atol=1e-10)
    tiny = np.array([[1e-12, -2e-12, 3e-13]])
    np.testing.assert_allclose(rot.quat_to_rotvec(rot.rotvec_to_quat(tiny)), tiny, rtol=1e-9)


def test_conjugate_is_inverse():
    q = random_quats(np.random.default_rng(3), (20,))
    assert same_rotation(rot.quat_multiply(q, rot.quat_invert(q)), rot.quat_identity((20,)))


def test_quat_between_shortest_arc_and_antipodal():
    rng = np.random.default_rng(4)
    u, v = rng.normal(size=(100, 3)), rng.normal(size=(100, 3))
    q = rot.quat_between(u, v)
    vhat = v / np.linalg.norm(v, axis=-1, keepdims=True)
    np.testing.assert_allclose(rot.quat_apply(q, u / np.linalg.norm(u, axis=-1, keepdims=True)), vhat, atol=1e-12)
    cosang = np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
    np.testing.assert_allclose(rot.quat_angle(q), np.arccos(np.clip(cosang, -1, 1)), atol=1e-7)
    for w in ([0, 0, 1.0], [1.0, 0, 0], [0.3, -0.2, 0.9]):
        w = np.array(w)
        q = rot.quat_between(w, -w)
        np.testing.assert_allclose(rot.quat_apply(q, w), -w, atol=1e-12)


def test_swing_twist_recomposes_and_separates():
    rng = np.random.default_rng(5)
    q = random_quats(rng, (300,))
    axis = rng.normal(size=(300, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    swing, twist = rot.swing_twist(q, axis)
    assert same_rotation(rot.quat_multiply(swing, twist), q, atol=1e-12)
    # the twist's axis is the given one; the swing's axis is perpendicular to it
    np.testing.assert_allclose(np.cross(twist[:, :3], axis), 0, atol=1e-12)
    np.testing.assert_allclose(np.sum(swing[:, :3] * axis, -1), 0, atol=1e-12)
    ang = rot.twist_angle(q, axis)
    assert same_rotation(rot.axis_angle_to_quat(axis, ang), twist, atol=1e-12)


def test_frame_from_two_vectors_is_rotation():
    rng = np.random.default_rng(6)
    f = rot.frame_from_two_vectors(rng.normal(size=(50, 3)), rng.normal(size=(50, 3)))
    np.testing.assert_allclose(f @ np.swapaxes(f, -1, -2), np.broadcast_to(np.eye(3), f.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(f), 1.0, atol=1e-12)
    with pytest.raises(ValueError, match="parallel"):
        rot.frame_from_two_vectors(np.array([1.0, 0, 0]), np.array([2.0, 0, 0]))


def test_bad_input():
    with pytest.raises(ValueError, match=r"expected unit quaternions"):
        rot.check_unit_quat(np.array([1.0, 1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match=r"expected shape \(\.\.\., 4\)"):
        rot.check_unit_quat(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        rot.quat_normalize(np.array([np.nan, 0, 0, 1.0]))
    with pytest.raises(ValueError, match="zero"):
        rot.quat_normalize(np.zeros(4))


unit_vectors = arrays(np.float64, 3, elements=st.floats(-1, 1)).filter(lambda v: np.linalg.norm(v) > 1e-3)


@settings(max_examples=200, deadline=None)
@given(unit_vectors, st.floats(-np.pi, np.pi), arrays(np.float64, 3, elements=st.floats(-10, 10)))
def test_property_rotation_preserves_length_and_matches_matrix(axis, angle, v):
    axis = axis / np.linalg.norm(axis)
    q = rot.axis_angle_to_quat(axis, angle)
    out = rot.quat_apply(q, v)
    np.testing.assert_allclose(np.linalg.norm(out), np.linalg.norm(v), atol=1e-9)
    np.testing.assert_allclose(rot.quat_to_matrix(q) @ v, out, atol=1e-9)
    np.testing.assert_allclose(abs(rot.twist_angle(q, axis)), abs(angle), atol=1e-9)
