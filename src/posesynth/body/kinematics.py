"""Forward and inverse kinematics with local joint rotations as XYZW quaternions.

The kinematic state of a pose is two arrays over the skeleton's joints:

``local_rotations`` (..., J, 4)
    Rotation of each joint's frame relative to its parent's frame (the root's relative to
    the world). At anatomical rest every local rotation is the identity.
``bone_offsets`` (..., J, 3), metres
    Each joint's position relative to its parent, expressed in the parent's frame; row 0 is
    the root position in the world frame (Z up).

Forward kinematics: ``G_j = G_parent(j) ⊗ L_j`` and ``p_j = p_parent(j) + G_parent(j) · o_j``.
A joint's rotation therefore moves its children: the knee's rotation swings the shank.

Inverse kinematics returns a state that reproduces any input positions exactly (to floating
point), whatever the bone lengths. The bone directions fix every rotation except the twist
of a segment about its own axis, which is chosen by these documented rules, one per joint:

* **frame** joints (several children: pelvis root, thorax; ankle, wrist and head in the
  extended skeleton) get the frame spanned by a primary child direction and a secondary
  vector between two children (e.g. pelvis: root→spine, right hip→left hip).
* **hinge-parent** joints (hips, shoulders) take the twist that puts the next joint's hinge
  axis (knee, elbow) perpendicular to the plane of the limb (hip–knee–ankle), so the knee and
  elbow rotate about their own x axis only. The axis' sign follows the parent's transported
  lateral axis, so hyperextension reads as negative flexion. For a straight limb (plane
  undefined) the twist is zero relative to the parent (shortest-arc swing).
* every other joint with one child takes the shortest-arc swing from its rest bone
  direction (zero twist relative to its parent); leaves keep the identity.

Rest directions come from ``rest_offsets`` (…, J, 3) in the parent frame, by default the
anthropometric rest pose of a 1.70 m body (:func:`posesynth.body.anthropometry.rest_offsets`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np

from posesynth.body import _kernels
from posesynth.body.skeleton import Skeleton
from posesynth.geometry import rotations as rot
from posesynth.util.checks import check_finite, check_shape
from posesynth.util.jit import numba_enabled

#: Joints whose frame comes from several children: joint → (primary child, secondary from, secondary to).
FRAME_RULES: dict[str, tuple[str, str, str]] = {
    "root": ("spine", "right_hip", "left_hip"),
    "thorax": ("neck_base", "right_shoulder", "left_shoulder"),
    "head": ("nose", "right_ear", "left_ear"),
    "right_foot": ("right_big_toe", "right_big_toe", "right_small_toe"),
    "left_foot": ("left_big_toe", "left_big_toe", "left_small_toe"),
    "right_wrist": ("right_hand_tip", "right_hand_tip", "right_thumb_tip"),
    "left_wrist": ("left_hand_tip", "left_hand_tip", "left_thumb_tip"),
}

#: Joints whose twist is set by the hinge of their child: joint → hinge child (its only child is the end).
HINGE_RULES: dict[str, str] = {
    "right_hip": "right_knee",
    "left_hip": "left_knee",
    "right_shoulder": "right_elbow",
    "left_shoulder": "left_elbow",
}

#: Rest hinge axis of knees and elbows in their parent's frame: the body's lateral axis.
HINGE_AXIS_REST = np.array([1.0, 0.0, 0.0])

# Below this |thigh × shank| / (|thigh| |shank|) the limb plane is treated as undefined.
_STRAIGHT_LIMB_SIN = 1e-9


@dataclass(frozen=True)
class Rig:
    """How inverse kinematics treats each joint of one skeleton (derived, never stored)."""

    skeleton: Skeleton
    kind: tuple[str, ...]  # per joint: "frame", "hinge", "swing" or "leaf"
    primary: tuple[int, ...]  # child giving the bone direction (-1 for leaves)
    secondary: tuple[tuple[int, int], ...]  # frame joints: (from, to) children; else (-1, -1)
    hinge_end: tuple[int, ...]  # hinge joints: the joint after the hinge child; else -1


@functools.lru_cache(maxsize=64)
def build_rig(skeleton: Skeleton) -> Rig:
    """Classify every joint of ``skeleton`` for inverse kinematics (see the module docstring).

    Cached per skeleton (immutable in, immutable out): the hot paths ask for it per call."""
    names = skeleton.joint_names
    kinds: list[str] = []
    primary: list[int] = []
    secondary: list[tuple[int, int]] = []
    hinge_end: list[int] = []
    for j, name in enumerate(names):
        children = skeleton.children(j)
        if len(children) > 1:
            if name not in FRAME_RULES:
                raise ValueError(
                    f"skeleton {skeleton.name!r}: joint {name!r} has {len(children)} children but no "
                    f"frame rule; expected one of {sorted(FRAME_RULES)}"
                )
            a, b, c = (skeleton.index(n) for n in FRAME_RULES[name])
            kinds.append("frame")
            primary.append(a)
            secondary.append((b, c))
            hinge_end.append(-1)
        elif len(children) == 1:
            (c,) = children
            grand = skeleton.children(c)
            if name in HINGE_RULES and names[c] == HINGE_RULES[name] and len(grand) == 1:
                kinds.append("hinge")
                hinge_end.append(grand[0])
            else:
                kinds.append("swing")
                hinge_end.append(-1)
            primary.append(c)
            secondary.append((-1, -1))
        else:
            kinds.append("leaf")
            primary.append(-1)
            secondary.append((-1, -1))
            hinge_end.append(-1)
    return Rig(skeleton, tuple(kinds), tuple(primary), tuple(secondary), tuple(hinge_end))


def default_rest_offsets(skeleton: Skeleton) -> np.ndarray:
    """Rest bone offsets (J, 3) of a 1.70 m body in anatomical position, parent frames, metres.

    A fresh copy of a per-skeleton cached array (solving it takes milliseconds, and the hot
    paths ask for it on every call)."""
    return _default_rest_offsets(skeleton).copy()


@functools.lru_cache(maxsize=64)
def _default_rest_offsets(skeleton: Skeleton) -> np.ndarray:
    from posesynth.body.anthropometry import rest_offsets

    offsets = rest_offsets(skeleton, np.float64(1.70))
    offsets.setflags(write=False)
    return offsets


@overload
def forward_kinematics(
    local_rotations: np.ndarray,
    bone_offsets: np.ndarray,
    skeleton: Skeleton,
    *,
    return_global: Literal[False] = ...,
) -> np.ndarray: ...


@overload
def forward_kinematics(
    local_rotations: np.ndarray,
    bone_offsets: np.ndarray,
    skeleton: Skeleton,
    *,
    return_global: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...


@overload
def forward_kinematics(
    local_rotations: np.ndarray,
    bone_offsets: np.ndarray,
    skeleton: Skeleton,
    *,
    return_global: bool,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...


def forward_kinematics(
    local_rotations: np.ndarray,
    bone_offsets: np.ndarray,
    skeleton: Skeleton,
    *,
    return_global: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Joint positions (..., J, 3) in metres, world frame, from a kinematic state.

    Args:
        local_rotations: (..., J, 4) unit XYZW quaternions, each joint relative to its parent.
        bone_offsets: (..., J, 3) metres; row 0 the root position in the world, row j the
            offset of joint j from its parent in the parent's frame.
        skeleton: the tree; joints are visited in index order (parents first), each step
            vectorised over the batch.
        return_global: also return the global rotations (..., J, 4).

    Leading dimensions broadcast. Inputs are not re-validated here (hot path); use
    :func:`check_state` on untrusted data.
    """
    local_rotations = np.asarray(local_rotations, dtype=np.float64)
    bone_offsets = np.asarray(bone_offsets, dtype=np.float64)
    lead = np.broadcast_shapes(local_rotations.shape[:-2], bone_offsets.shape[:-2])
    J = skeleton.num_joints
    if numba_enabled():
        # the compiled kernel: one pass per pose, the same bits as the loop below
        q = np.broadcast_to(local_rotations, lead + (J, 4)).reshape(-1, J, 4)
        o = np.broadcast_to(bone_offsets, lead + (J, 3)).reshape(-1, J, 3)
        g = np.empty(q.shape)
        p = np.empty(o.shape)
        _kernels.forward_kinematics(q, o, skeleton.parents_array.astype(np.int64), g, p)
        positions = p.reshape(lead + (J, 3))
        return (positions, g.reshape(lead + (J, 4))) if return_global else positions
    # Components first, joints second, batch last: every quaternion/vector component of a
    # joint is one contiguous row, so each step below is a few fast passes over contiguous
    # memory (3x faster than gathering (..., k, 4) blocks level by level).
    q = np.moveaxis(np.broadcast_to(local_rotations, lead + (J, 4)), (-1, -2), (0, 1)).reshape(4, J, -1)
    o = np.moveaxis(np.broadcast_to(bone_offsets, lead + (J, 3)), (-1, -2), (0, 1)).reshape(3, J, -1)
    q, o = np.ascontiguousarray(q), np.ascontiguousarray(o)
    g = np.empty_like(q)
    p = np.empty_like(o)
    g[:, 0], p[:, 0] = q[:, 0], o[:, 0]
    for j, parent in enumerate(skeleton.parents[1:], start=1):
        ax, ay, az, aw = g[:, parent]
        bx, by, bz, bw = q[:, j]
        g[0, j] = aw * bx + ax * bw + ay * bz - az * by
        g[1, j] = aw * by - ax * bz + ay * bw + az * bx
        g[2, j] = aw * bz + ax * by - ay * bx + az * bw
        g[3, j] = aw * bw - ax * bx - ay * by - az * bz
        # p_j = p_parent + G_parent · o_j, as v + 2w(u×v) + 2u×(u×v)
        vx, vy, vz = o[:, j]
        tx, ty, tz = 2 * (ay * vz - az * vy), 2 * (az * vx - ax * vz), 2 * (ax * vy - ay * vx)
        p[0, j] = p[0, parent] + vx + aw * tx + (ay * tz - az * ty)
        p[1, j] = p[1, parent] + vy + aw * ty + (az * tx - ax * tz)
        p[2, j] = p[2, parent] + vz + aw * tz + (ax * ty - ay * tx)
    positions = np.moveaxis(p.reshape((3, J) + lead), (0, 1), (-1, -2))
    if not return_global:
        return positions
    return positions, np.moveaxis(g.reshape((4, J) + lead), (0, 1), (-1, -2))


def inverse_kinematics(
    positions: np.ndarray,
    skeleton: Skeleton,
    rest_offsets: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations and bone offsets that reproduce ``positions`` exactly.

    Args:
        positions: (..., J, 3) joint positions in metres, world frame.
        skeleton: the tree the positions follow.
        rest_offsets: (..., J, 3) rest bone offsets (parent frames) giving each bone's rest
            direction; default :func:`default_rest_offsets`.

    Returns:
        ``(local_rotations (..., J, 4), bone_offsets (..., J, 3))`` such that
        ``forward_kinematics(*result, skeleton) == positions`` to floating point. Offsets keep
        the input's bone lengths; twists follow the rules of the module docstring.

    Raises:
        ValueError: wrong shape, NaN/inf, a zero-length bone, or a frame joint whose children
            are collinear.
    """
    J = skeleton.num_joints
    positions = check_shape(positions, (J, 3), "positions")
    check_finite(positions, "positions")
    rest = default_rest_offsets(skeleton) if rest_offsets is None else check_shape(rest_offsets, (J, 3), "rest_offsets")
    rig = build_rig(skeleton)
    parents = skeleton.parents_array
    lead = positions.shape[:-2]

    bones = positions[..., 1:, :] - positions[..., parents[1:], :]
    length = np.linalg.norm(bones, axis=-1)
    if (length < 1e-9).any():
        k = np.argwhere(length < 1e-9)[0]
        child = int(k[-1]) + 1
        raise ValueError(
            f"positions: zero-length bone {skeleton.joint_names[parents[child]]}→"
            f"{skeleton.joint_names[child]} at sample {tuple(int(i) for i in k[:-1])}; expected distinct joints"
        )

    g_mat = np.empty(lead + (J, 3, 3))  # global joint frames (columns = local axes in world)
    local = np.empty(lead + (J, 4))
    identity = np.broadcast_to(np.eye(3), lead + (3, 3))
    for j in range(J):
        gp = identity if parents[j] < 0 else g_mat[..., parents[j], :, :]
        kind = rig.kind[j]
        if kind == "leaf":
            g_mat[..., j, :, :] = gp
            local[..., j, :] = rot.quat_identity(lead)
            continue
        a = rig.primary[j]
        d_world = positions[..., a, :] - positions[..., j, :]
        r_a = np.broadcast_to(rest[..., a, :], lead + (3,))
        if kind == "frame":
            b, c = rig.secondary[j]
            v_world = positions[..., c, :] - positions[..., b, :]
            v_rest = rest[..., c, :] - rest[..., b, :]
            cur = rot.frame_from_two_vectors(d_world, v_world)
            ref = rot.frame_from_two_vectors(r_a, v_rest)
            g_j = cur @ np.swapaxes(ref, -1, -2)
        else:
            d_local = _mat_t_vec(gp, d_world)
            swing = rot.quat_to_matrix(rot.quat_between(r_a, d_local))
            g_j = gp @ swing
            if kind == "hinge":
                g_j = _hinge_frame(g_j, d_world, positions[..., rig.hinge_end[j], :] - positions[..., a, :], r_a)
        g_mat[..., j, :, :] = g_j
        local[..., j, :] = rot.matrix_to_quat(np.swapaxes(gp, -1, -2) @ g_j)

    # Offsets from the frames FK will rebuild from the quaternions, so FK(IK(p)) closes exactly.
    _, g = forward_kinematics(local, np.zeros(lead + (J, 3)), skeleton, return_global=True)
    offsets = np.empty(lead + (J, 3))
    offsets[..., 0, :] = positions[..., 0, :]
    offsets[..., 1:, :] = rot.quat_apply(rot.quat_conjugate(g[..., parents[1:], :]), bones)
    return local, offsets


def _mat_t_vec(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``mᵀ v`` for (..., 3, 3) and (..., 3)."""
    return np.einsum("...ji,...j->...i", m, v)


def _hinge_frame(g_swing: np.ndarray, bone: np.ndarray, next_bone: np.ndarray, rest_dir: np.ndarray) -> np.ndarray:
    """Twist ``g_swing`` (..., 3, 3) about ``bone`` so its hinge axis is normal to (bone, next_bone)."""
    h_rest = HINGE_AXIS_REST - np.sum(HINGE_AXIS_REST * rest_dir, axis=-1, keepdims=True) * rest_dir
    h_rest = h_rest / np.linalg.norm(h_rest, axis=-1, keepdims=True)
    fallback = np.einsum("...ij,...j->...i", g_swing, h_rest)
    normal = np.cross(bone, next_bone)
    scale = np.linalg.norm(bone, axis=-1) * np.linalg.norm(next_bone, axis=-1)
    n_len = np.linalg.norm(normal, axis=-1)
    bent = n_len > _STRAIGHT_LIMB_SIN * scale
    sign = np.where(np.sum(normal * fallback, axis=-1) < 0, -1.0, 1.0)
    axis = np.where(bent[..., None], sign[..., None] * normal / np.where(bent, n_len, 1.0)[..., None], fallback)
    cur = rot.frame_from_two_vectors(bone, axis)
    ref = rot.frame_from_two_vectors(rest_dir, h_rest)
    return cur @ np.swapaxes(ref, -1, -2)


def check_state(local_rotations: np.ndarray, bone_offsets: np.ndarray, skeleton: Skeleton) -> None:
    """Validate a kinematic state: shapes (..., J, 4) / (..., J, 3), finite, unit quaternions."""
    J = skeleton.num_joints
    rot.check_unit_quat(check_shape(local_rotations, (J, 4), "local_rotations"), "local_rotations")
    check_finite(check_shape(bone_offsets, (J, 3), "bone_offsets"), "bone_offsets")
