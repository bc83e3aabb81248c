"""Batched rotations: unit quaternions in (x, y, z, w) order, scalar last, as SciPy uses.

Every function accepts leading batch dimensions ``(...)``; usual broadcasting rules apply.
Rotations act on column vectors: ``quat_apply(q, v)`` is ``quat_to_matrix(q) @ v``, and
``quat_multiply(a, b)`` is the rotation that applies ``b`` first, then ``a`` (as
``scipy.spatial.transform.Rotation`` composes ``a * b``). Angles are radians.
"""

from __future__ import annotations

import numpy as np

from posesynth.util.checks import check_finite, check_shape

_UNIT_TOL = 1e-6


def check_unit_quat(q: np.ndarray, name: str = "quaternion", tol: float = _UNIT_TOL) -> np.ndarray:
    """Return ``q`` (..., 4) as float64 after checking it is finite and of unit norm within ``tol``."""
    q = check_shape(q, (4,), name)
    check_finite(q, name)
    norm = np.linalg.norm(q, axis=-1)
    bad = np.abs(norm - 1.0) > tol
    if bad.any():
        raise ValueError(
            f"{name}: expected unit quaternions (x, y, z, w), got norm {float(norm[bad].ravel()[0]):.6g}"
            f" for {int(bad.sum())} of {norm.size}"
        )
    return q


def quat_normalize(q: np.ndarray) -> np.ndarray:
    """Scale quaternions (..., 4) to unit norm; raises on zero or non-finite input."""
    q = check_shape(q, (4,), "quaternion")
    check_finite(q, "quaternion")
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if (norm < 1e-12).any():
        raise ValueError("quaternion: expected non-zero norm, got a zero quaternion")
    return q / norm


def quat_identity(shape: tuple[int, ...] = ()) -> np.ndarray:
    """Identity quaternions of shape ``shape + (4,)``."""
    q = np.zeros(shape + (4,))
    q[..., 3] = 1.0
    return q


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    """Conjugate (..., 4); for unit quaternions this is the inverse rotation."""
    out = np.array(q, dtype=np.float64, copy=True)
    out[..., :3] *= -1.0
    return out


quat_invert = quat_conjugate


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a ⊗ b`` of (..., 4) XYZW quaternions: rotate by ``b``, then by ``a``."""
    ax, ay, az, aw = np.moveaxis(np.asarray(a, dtype=np.float64), -1, 0)
    bx, by, bz, bw = np.moveaxis(np.asarray(b, dtype=np.float64), -1, 0)
    return np.stack(
        (
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ),
        axis=-1,
    )


def quat_apply(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v`` (..., 3) by unit quaternions ``q`` (..., 4); returns (..., 3)."""
    q = np.asarray(q, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    xyz = q[..., :3]
    # v' = v + 2 w (u × v) + 2 u × (u × v): two cross products, no matrix needed.
    t = 2.0 * np.cross(xyz, v)
    return v + q[..., 3:4] * t + np.cross(xyz, t)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4) XYZW → rotation matrices (..., 3, 3) acting on column vectors."""
    x, y, z, w = np.moveaxis(np.asarray(q, dtype=np.float64), -1, 0)
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    m = np.stack(
        (
            1 - 2 * (yy + zz),
            2 * (xy - wz),
            2 * (xz + wy),
            2 * (xy + wz),
            1 - 2 * (xx + zz),
            2 * (yz - wx),
            2 * (xz - wy),
            2 * (yz + wx),
            1 - 2 * (xx + yy),
        ),
        axis=-1,
    )
    return m.reshape(m.shape[:-1] + (3, 3))


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) → unit quaternions (..., 4) XYZW with w ≥ 0.

    Uses the largest of the four candidate denominators (Shepperd's method), so it is
    accurate for every rotation, including half turns.
    """
    m = check_shape(m, (3, 3), "rotation matrix")
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # Each row is 4·q·q_k for one choice of k; pick the row with the largest |q_k|.
    cands = np.stack(
        (
            np.stack((1 + m00 - m11 - m22, m01 + m10, m02 + m20, m21 - m12), -1),
            np.stack((m01 + m10, 1 - m00 + m11 - m22, m12 + m21, m02 - m20), -1),
            np.stack((m02 + m20, m12 + m21, 1 - m00 - m11 + m22, m10 - m01), -1),
            np.stack((m21 - m12, m02 - m20, m10 - m01, 1 + m00 + m11 + m22), -1),
        ),
        axis=-2,
    )
    diag = np.stack((m00 - m11 - m22, m11 - m00 - m22, m22 - m00 - m11, m00 + m11 + m22), -1)
    best = np.argmax(diag, axis=-1)
    q = np.take_along_axis(cands, best[..., None, None], axis=-2)[..., 0, :]
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., 3:4] < 0, -q, q)


def axis_angle_to_quat(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Unit ``axis`` (..., 3) and ``angle`` (...) in radians → quaternions (..., 4)."""
    axis = np.asarray(axis, dtype=np.float64)
    half = 0.5 * np.asarray(angle, dtype=np.float64)[..., None]
    xyz = axis * np.sin(half)
    w = np.broadcast_to(np.cos(half), xyz.shape[:-1] + (1,))
    return np.concatenate((xyz, w), axis=-1)


def rotvec_to_quat(rotvec: np.ndarray) -> np.ndarray:
    """Rotation vectors (..., 3) (axis × angle, radians) → quaternions (..., 4).

    Near zero angle, sin(θ/2)/θ is replaced by its Taylor series so tiny rotations stay exact.
    """
    rotvec = check_shape(rotvec, (3,), "rotation vector")
    theta = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    small = theta < 1e-4
    safe = np.where(small, 1.0, theta)
    scale = np.where(small, 0.5 - theta**2 / 48.0, np.sin(0.5 * safe) / safe)
    return np.concatenate((rotvec * scale, np.cos(0.5 * theta)), axis=-1)


def quat_to_rotvec(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4) → rotation vectors (..., 3) with angle in [0, π]."""
    q = np.asarray(q, dtype=np.float64)
    q = np.where(q[..., 3:4] < 0, -q, q)
    s = np.linalg.norm(q[..., :3], axis=-1, keepdims=True)
    theta = 2.0 * np.arctan2(s, q[..., 3:4])
    small = s < 1e-8
    scale = np.where(small, 2.0 / np.where(small, q[..., 3:4], 1.0), theta / np.where(small, 1.0, s))
    return q[..., :3] * scale


def quat_angle(q: np.ndarray) -> np.ndarray:
    """Rotation angle in [0, π] (radians) of unit quaternions (..., 4)."""
    q = np.asarray(q, dtype=np.float64)
    return 2.0 * np.arctan2(np.linalg.norm(q[..., :3], axis=-1), np.abs(q[..., 3]))


def quat_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Shortest-arc rotation (..., 4) taking direction ``u`` (..., 3) onto direction ``v`` (..., 3).

    Inputs need not be unit length but must be non-zero. When ``v`` is opposite to ``u`` the
    half turn is taken about an axis perpendicular to ``u`` (the one closest to x, else y),
    so the result is always a valid rotation.
    """
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    u = u / np.linalg.norm(u, axis=-1, keepdims=True)
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    u, v = np.broadcast_arrays(u, v)
    dot = np.sum(u * v, axis=-1, keepdims=True)
    q = np.concatenate((np.cross(u, v), 1.0 + dot), axis=-1)
    opposite = (1.0 + dot[..., 0]) < 1e-12
    if opposite.any():
        uo = u[opposite]
        helper = np.where(np.abs(uo[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
        axis = np.cross(uo, helper)
        q[opposite] = np.concatenate(
            (axis / np.linalg.norm(axis, axis=-1, keepdims=True), np.zeros((len(uo), 1))), axis=-1
        )
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def swing_twist(q: np.ndarray, axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split rotations ``q`` (..., 4) into ``swing ⊗ twist`` with the twist about unit ``axis`` (..., 3).

    The twist rotates about ``axis``; the swing takes ``axis`` to ``q · axis`` by the shortest arc.
    At a swing of exactly π the twist is undefined and the identity is returned for it.
    Returns ``(swing, twist)``, both (..., 4).
    """
    q = np.asarray(q, dtype=np.float64)
    axis = np.asarray(axis, dtype=np.float64)
    proj = np.sum(q[..., :3] * axis, axis=-1, keepdims=True) * axis
    w = np.broadcast_to(q[..., 3:4], proj.shape[:-1] + (1,))
    twist = np.concatenate((proj, w), axis=-1)
    norm = np.linalg.norm(twist, axis=-1, keepdims=True)
    degenerate = norm < 1e-12
    twist = np.where(degenerate, quat_identity(()), twist / np.where(degenerate, 1.0, norm))
    swing = quat_multiply(q, quat_conjugate(twist))
    return swing, twist


def twist_angle(q: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Signed twist angle (...) in (−π, π] of ``q`` (..., 4) about unit ``axis`` (..., 3)."""
    q = np.asarray(q, dtype=np.float64)
    proj = np.sum(q[..., :3] * np.asarray(axis, dtype=np.float64), axis=-1)
    angle = 2.0 * np.arctan2(proj, q[..., 3])
    return np.where(angle > np.pi, angle - 2 * np.pi, np.where(angle <= -np.pi, angle + 2 * np.pi, angle))


def frame_from_two_vectors(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Right-handed orthonormal frames (..., 3, 3) with columns ``e1 = û``, ``e2``, ``e3 = e1 × e2``.

    ``u`` (..., 3) gives the first axis exactly; ``e2`` is the part of ``v`` (..., 3) perpendicular
    to ``u``, normalised, so ``v`` only fixes the rotation about ``u``. Raises if ``u`` is zero or
    parallel to ``v``.
    """
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    e1 = u / _nonzero_norm(u, "frame primary vector")
    w = v - np.sum(v * e1, axis=-1, keepdims=True) * e1
    e2 = w / _nonzero_norm(w, "frame secondary vector (parallel to the primary)")
    e3 = np.cross(e1, e2)
    return np.stack((e1, e2, e3), axis=-1)


def _nonzero_norm(x: np.ndarray, name: str) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    if (n < 1e-12).any():
        raise ValueError(f"{name}: expected non-zero length, got {int((n < 1e-12).sum())} zero-length vectors")
    return n
