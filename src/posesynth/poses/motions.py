"""Reposing real or generated poses: set anatomical angles, scale bones, turn the body.

Every operation takes joint positions (N, J, 3) in metres (any frame whose z is up, e.g. the
world frame of Human3.6M) and returns new positions in the same frame, in which

* every bone keeps its length exactly (rotations only; scaling only where asked),
* joints that are not downstream of a moved joint are copied bit for bit,
* the angle read back by :func:`posesynth.body.angles.pose_angles` is the angle that was set.

Two paths give the same result (tested against each other):

* :func:`set_hinge_flexion` — knees and elbows: swing everything below the joint about the
  hinge axis. The axis is the normal of the limb's plane (hip–knee–ankle), oriented by the
  parent's lateral axis carried along the thigh, and that carried lateral axis itself when the
  limb is straight, so the motion is defined for a straight leg too. No inverse kinematics: it
  is the fast path of the seed's knee experiment.
* :func:`set_angles` — any anatomical angle (:mod:`posesynth.body.angles`): inverse kinematics,
  replace the local rotation of the joints whose angles change, forward kinematics.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from posesynth.body import _kernels
from posesynth.body.angles import angles_from_local, local_from_angles, skeleton_dofs
from posesynth.body.kinematics import (
    HINGE_AXIS_REST,
    build_rig,
    default_rest_offsets,
    forward_kinematics,
    inverse_kinematics,
)
from posesynth.body.skeleton import Skeleton
from posesynth.geometry import rotations as rot
from posesynth.util.checks import check_finite, check_shape
from posesynth.util.jit import numba_enabled

#: Sign turning the signed angle (parent bone → bone, about the hinge axis) into flexion.
HINGE_FLEXION_SIGN = {"knee": -1.0, "elbow": 1.0}


def descendants(skeleton: Skeleton, joint: int) -> np.ndarray:
    """Boolean (J,) mask of the joints strictly below ``joint`` in the tree."""
    mask = np.zeros(skeleton.num_joints, dtype=bool)
    parents = skeleton.parents_array
    for j in range(joint + 1, skeleton.num_joints):  # parents precede children
        p = parents[j]
        mask[j] = p == joint or (p >= 0 and mask[p])
    return mask


def _frame_joint_frame(positions: np.ndarray, skeleton: Skeleton, rest: np.ndarray, joint: int) -> np.ndarray:
    """Global frame (N, 3, 3) of a frame joint (pelvis, thorax) as inverse kinematics builds it.

    A frame joint's frame depends only on its own children, not on its parents' frames.
    """
    rig = build_rig(skeleton)
    if rig.kind[joint] != "frame":
        raise ValueError(f"joint {skeleton.joint_names[joint]!r}: expected a joint with a frame rule")
    a, (b, c) = rig.primary[joint], rig.secondary[joint]
    p = positions
    cur = rot.frame_from_two_vectors(p[..., a, :] - p[..., joint, :], p[..., c, :] - p[..., b, :])
    ref = rot.frame_from_two_vectors(rest[a], rest[c] - rest[b])
    return cur @ ref.T


def _hinge_geometry(
    positions: np.ndarray, skeleton: Skeleton, joint: str, rest_offsets: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(unit hinge axes (N, 3), flexion (N,) radians) of a knee or elbow."""
    if joint.split("_")[-1] not in HINGE_FLEXION_SIGN:
        raise ValueError(f"joint: expected a knee or elbow, got {joint!r}")
    rest = default_rest_offsets(skeleton) if rest_offsets is None else np.asarray(rest_offsets)
    j = skeleton.index(joint)
    if numba_enabled():
        return _hinge_geometry_compiled(positions, skeleton, j, rest)
    upper = skeleton.parents_array[j]  # hip or shoulder
    trunk = skeleton.parents_array[upper]  # root or thorax
    (child,) = skeleton.children(j)
    bone = positions[..., j, :] - positions[..., upper, :]
    lower = positions[..., child, :] - positions[..., j, :]
    g_trunk = _frame_joint_frame(positions, skeleton, rest, trunk)
    # the lateral axis carried along the upper bone by the shortest arc (zero twist)
    r_up = rest[j] / np.linalg.norm(rest[j])
    h_rest = HINGE_AXIS_REST - (HINGE_AXIS_REST @ r_up) * r_up
    carried = rot.quat_between(g_trunk @ r_up, bone)
    lateral = rot.quat_apply(carried, g_trunk @ (h_rest / np.linalg.norm(h_rest)))
    normal = np.cross(bone, lower)
    n_len = np.linalg.norm(normal, axis=-1)
    bent = n_len > 1e-9 * np.linalg.norm(bone, axis=-1) * np.linalg.norm(lower, axis=-1)
    sign = np.where(np.sum(normal * lateral, axis=-1) < 0, -1.0, 1.0)
    axis = np.where(bent[..., None], sign[..., None] * normal / np.where(bent, n_len, 1.0)[..., None], lateral)
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    flexion = HINGE_FLEXION_SIGN[joint.split("_")[-1]] * _signed_angle(bone, lower, axis)
    return axis, flexion


def _hinge_constants(
    skeleton: Skeleton, j: int, rest: np.ndarray
) -> tuple[tuple[int, ...], np.ndarray, np.ndarray, np.ndarray]:
    """What :func:`posesynth.body._kernels.hinge_geometry` needs of hinge joint ``j``: its
    joints (trunk, trunk's primary child, secondary from, to, upper, hinge, child) and the
    rest-pose constants (trunk rest frame transposed (3, 3), unit rest direction of the upper
    bone (3,), unit lateral axis ⟂ it (3,)), solved once per call."""
    parents = skeleton.parents_array
    upper = int(parents[j])
    trunk = int(parents[upper])
    (child,) = skeleton.children(j)
    rig = build_rig(skeleton)
    if rig.kind[trunk] != "frame":
        raise ValueError(f"joint {skeleton.joint_names[trunk]!r}: expected a joint with a frame rule")
    a, (b, c) = rig.primary[trunk], rig.secondary[trunk]
    ref = rot.frame_from_two_vectors(rest[a], rest[c] - rest[b])
    r_up = rest[j] / np.linalg.norm(rest[j])
    h_rest = HINGE_AXIS_REST - (HINGE_AXIS_REST @ r_up) * r_up
    joints = (trunk, int(a), int(b), int(c), upper, j, int(child))
    return joints, np.ascontiguousarray(ref.T), r_up, h_rest / np.linalg.norm(h_rest)


@dataclass(frozen=True)
class _HingePlan:
    """What the hinge kernels need of hinges ``joints`` (H) of a skeleton and rest offsets,
    built once per (skeleton, hinges, rest offsets): see :func:`_hinge_plan`."""

    joints: np.ndarray  # (H, 7) int64: the joints each hinge reads (see _hinge_constants)
    ref_t: np.ndarray  # (H, 3, 3) trunk rest frames, transposed
    r_up: np.ndarray  # (H, 3) unit rest directions of the upper bones
    h_unit: np.ndarray  # (H, 3) unit rest lateral axes
    signs: np.ndarray  # (H, 1) flexion = sign × signed angle
    independent: bool  # the hinges can be read and turned from the same poses (see _independent)
    pivots: np.ndarray  # (H,) int64
    members: np.ndarray  # int64: the joints below each hinge, hinge after hinge
    start: np.ndarray  # (H + 1,) int64: hinge h's members are members[start[h]:start[h + 1]]


def _hinge_plan(skeleton: Skeleton, joints: list[int], rest: np.ndarray) -> _HingePlan:
    """:class:`_HingePlan` of the hinges ``joints`` (cached by the rest offsets' content, so
    that an edited array is never read stale; solving it took 0.5 ms per call)."""
    rest = np.ascontiguousarray(rest, dtype=np.float64)
    if rest.shape != (skeleton.num_joints, 3):  # not a skeleton's rest offsets: never kept
        return _build_hinge_plan(skeleton, list(joints), rest)
    return _hinge_plan_cached(skeleton, tuple(joints), rest.tobytes())


@functools.lru_cache(maxsize=64)
def _hinge_plan_cached(skeleton: Skeleton, joints: tuple[int, ...], rest_bytes: bytes) -> _HingePlan:
    rest = np.frombuffer(rest_bytes, dtype=np.float64).reshape(skeleton.num_joints, 3)
    return _build_hinge_plan(skeleton, list(joints), rest)


def _build_hinge_plan(skeleton: Skeleton, idx: list[int], rest: np.ndarray) -> _HingePlan:
    """:class:`_HingePlan` of the hinges ``idx`` with rest offsets ``rest`` (J, 3), its arrays read-only."""
    parts = [_hinge_constants(skeleton, j, rest) for j in idx]
    below = [descendants(skeleton, j) for j in idx]
    members = [np.flatnonzero(mask) for mask in below]
    signs = [HINGE_FLEXION_SIGN[skeleton.joint_names[j].split("_")[-1]] for j in idx]
    plan = _HingePlan(
        joints=np.array([p[0] for p in parts], dtype=np.int64).reshape(len(idx), 7),
        ref_t=np.stack([p[1] for p in parts]) if parts else np.empty((0, 3, 3)),
        r_up=np.stack([p[2] for p in parts]) if parts else np.empty((0, 3)),
        h_unit=np.stack([p[3] for p in parts]) if parts else np.empty((0, 3)),
        signs=np.array(signs, dtype=np.float64).reshape(-1, 1),
        independent=_independent(skeleton, idx, below, rest),
        pivots=np.array(idx, dtype=np.int64),
        members=np.concatenate(members + [np.empty(0, np.int64)]).astype(np.int64),
        start=np.cumsum([0] + [len(m) for m in members]).astype(np.int64),
    )
    for field in dataclasses.fields(plan):  # shared by every caller: read-only
        value = getattr(plan, field.name)
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return plan


def _hinges_compiled(
    positions: np.ndarray, skeleton: Skeleton, joints: list[int], rest: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(axes (H, N, 3), flexion (H, N) radians) of the hinges ``joints`` of ``positions``
    flattened to (N, J, 3), by one pass of :func:`posesynth.body._kernels.hinge_geometry`
    (the same bits as :func:`_hinge_geometry` per hinge; ``atan2`` in NumPy, one call)."""
    plan = _hinge_plan(skeleton, joints, rest)
    pos = np.ascontiguousarray(positions, dtype=np.float64).reshape(-1, skeleton.num_joints, 3)
    axis = np.empty((len(joints), pos.shape[0], 3))
    sides = np.empty((2, len(joints), pos.shape[0]))  # atan2's sin and cos sides, each contiguous
    nonfinite = _kernels.hinge_geometry(pos, plan.joints, plan.ref_t, plan.r_up, plan.h_unit, axis, sides)
    if nonfinite:
        check_finite(positions, "positions")  # raises, naming the count and the first index
    flexion = np.arctan2(sides[0], sides[1])
    flexion *= plan.signs  # ± 1: exact, as sign × atan2
    return axis, flexion


def _hinge_geometry_compiled(
    positions: np.ndarray, skeleton: Skeleton, j: int, rest: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_hinge_geometry` by :func:`posesynth.body._kernels.hinge_geometry` (the same bits)."""
    axis, flexion = _hinges_compiled(positions, skeleton, [j], rest)
    lead = positions.shape[:-2]
    return axis[0].reshape(lead + (3,)), flexion[0].reshape(lead)


def hinge_axis(
    positions: np.ndarray, skeleton: Skeleton, joint: str, rest_offsets: np.ndarray | None = None
) -> np.ndarray:
    """Unit hinge axes (N, 3) of a knee or elbow, in the frame of ``positions``.

    The normal of the plane (upper bone, lower bone), signed to agree with the lateral axis
    of the parent segment's frame carried along the upper bone; for a straight limb, that
    carried lateral axis. Only the pelvis frame (thorax for elbows) is solved, not the whole
    skeleton.
    """
    return _hinge_geometry(positions, skeleton, joint, rest_offsets)[0]


def _signed_angle(u: np.ndarray, v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Angle (radians) rotating ``u`` onto ``v`` about ``axis`` (both ⟂ axis), in (−π, π]."""
    return np.arctan2(np.sum(np.cross(u, v) * axis, axis=-1), np.sum(u * v, axis=-1))


def hinge_flexion(
    positions: np.ndarray, skeleton: Skeleton, joint: str, rest_offsets: np.ndarray | None = None
) -> np.ndarray:
    """Flexion (N,) radians of a knee or elbow, as :func:`posesynth.body.angles.pose_angles` reads it."""
    return _hinge_geometry(positions, skeleton, joint, rest_offsets)[1]


def rotate_subtree(
    positions: np.ndarray, mask: np.ndarray, pivot: np.ndarray, axis: np.ndarray, angle: np.ndarray
) -> np.ndarray:
    """Rotate the joints ``mask`` (J,) of each pose about ``axis`` (N, 3) through ``pivot`` (N, 3).

    Returns new positions (N, J, 3); the other joints are copied exactly.
    """
    q = rot.axis_angle_to_quat(axis, angle)
    out = positions.copy()
    moved = positions[..., mask, :] - pivot[..., None, :]
    out[..., mask, :] = rot.quat_apply(q[..., None, :], moved) + pivot[..., None, :]
    return out


def bend_sideways(positions: np.ndarray, skeleton: Skeleton, angle: np.ndarray) -> np.ndarray:
    """Turn the upper body of poses sideways about the pelvis, the legs kept.

    Args:
        positions: (N, J, 3) joint positions in metres, any right-handed frame.
        skeleton: the tree; its joints other than the root, the hips and the hips' descendants
            (trunk, head, arms, and extra keypoints above the hips) turn.
        angle: (N,) radians about the body's forward axis through the root, + towards the
            right hip's side (the axis is the hips' axis, right -> left, x root -> thorax: forward).

    Returns:
        (N, J, 3) new positions; the root and the legs are copied exactly, every turned bone
        keeps its length. A pose whose trunk lies along its hips' axis is left as it is.
    """
    rh, lh = skeleton.index("right_hip"), skeleton.index("left_hip")
    upper = ~(descendants(skeleton, rh) | descendants(skeleton, lh))
    upper[[0, rh, lh]] = False
    root = positions[:, 0]
    axis = np.cross(positions[:, lh] - positions[:, rh], positions[:, skeleton.index("thorax")] - root)
    norm = np.linalg.norm(axis, axis=-1, keepdims=True)
    ok = norm[:, 0] > 1e-9
    axis = np.where(ok[:, None], axis / np.where(ok[:, None], norm, 1.0), np.array([1.0, 0.0, 0.0]))
    return rotate_subtree(positions, upper, root, axis, np.where(ok, angle, 0.0))


def set_hinge_flexion(
    positions: np.ndarray,
    skeleton: Skeleton,
    joint: str,
    flexion: np.ndarray,
    rest_offsets: np.ndarray | None = None,
) -> np.ndarray:
    """Positions (N, J, 3) with the knee/elbow ``joint`` at ``flexion`` (N,) radians; all below follow."""
    return repose_hinge(positions, skeleton, joint, flexion, None, rest_offsets)[0]


def repose_hinge(
    positions: np.ndarray,
    skeleton: Skeleton,
    joint: str,
    flexion: np.ndarray,
    take: np.ndarray | None = None,
    rest_offsets: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`set_hinge_flexion` where ``take`` (N,) bool is true (default: everywhere); the
    other poses keep their flexion (a zero turn). Returns ``(positions (N, J, 3), flexion
    before (N,) radians)``, the hinge geometry solved once for reading and setting.

    With Numba enabled the geometry and the turn run as compiled kernels, bit for bit the
    NumPy path's result (see :mod:`posesynth.body._kernels`).
    """
    positions = check_shape(positions, (skeleton.num_joints, 3), "positions")
    if not numba_enabled():  # the kernel checks finiteness as it reads
        check_finite(positions, "positions")
    j = skeleton.index(joint)
    axis, current = _hinge_geometry(positions, skeleton, joint, rest_offsets)
    target = np.asarray(flexion, dtype=np.float64)
    if take is not None:
        target = np.where(take, target, current)
    delta = HINGE_FLEXION_SIGN[joint.split("_")[-1]] * (target - current)
    below = descendants(skeleton, j)
    if not numba_enabled():
        return rotate_subtree(positions, below, positions[..., j, :], axis, delta), current
    half = 0.5 * np.broadcast_to(delta, current.shape)  # as rot.axis_angle_to_quat computes it
    plan = _hinge_plan(skeleton, [j], default_rest_offsets(skeleton) if rest_offsets is None else rest_offsets)
    out = _turn_compiled(positions, plan, axis.reshape(1, -1, 3), half.reshape(1, -1))
    return out, current


def repose_hinges(
    positions: np.ndarray,
    skeleton: Skeleton,
    joints: Sequence[str],
    flexion: Sequence[np.ndarray | float],
    take: Sequence[np.ndarray | None] | None = None,
    rest_offsets: np.ndarray | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """:func:`repose_hinge` on each of ``joints`` in turn (say both knees), with its
    ``flexion`` (each (N,) radians or a scalar) where its ``take`` (N,) bool is true.

    Returns ``(positions (N, J, 3), [flexion before (N,) radians per joint])``, bit for bit
    what the calls one after the other return. With Numba enabled and hinges that do not
    touch each other (no hinge moves a joint another reads or moves: the two knees, the two
    elbows, all four), the geometry of every hinge is one kernel pass over the poses, the
    ``atan2``, ``sin`` and ``cos`` one NumPy call each, and the turns a second pass that
    writes the poses once. Otherwise, the calls one after the other.
    """
    if len(flexion) != len(joints):
        raise ValueError(f"flexion: expected one value per joint ({len(joints)}), got {len(flexion)}")
    takes: Sequence[np.ndarray | None] = [None] * len(joints) if take is None else take
    if len(takes) != len(joints):
        raise ValueError(f"take: expected one mask (or None) per joint ({len(joints)}), got {len(takes)}")
    positions = check_shape(positions, (skeleton.num_joints, 3), "positions")
    idx = [skeleton.index(j) for j in joints]
    for name in joints:
        if name.split("_")[-1] not in HINGE_FLEXION_SIGN:
            raise ValueError(f"joint: expected a knee or elbow, got {name!r}")
    rest = default_rest_offsets(skeleton) if rest_offsets is None else np.asarray(rest_offsets)
    plan = _hinge_plan(skeleton, idx, rest) if numba_enabled() and joints else None
    if plan is None or not plan.independent:
        out, before = positions, []
        for name, f, t in zip(joints, flexion, takes, strict=True):
            out, current = repose_hinge(out, skeleton, name, np.asarray(f, dtype=np.float64), t, rest)
            before.append(current)
        return out, before
    axis, flat_current = _hinges_compiled(positions, skeleton, idx, rest)
    lead = positions.shape[:-2]
    half = np.empty(flat_current.shape)
    before = []
    for h, (f, t) in enumerate(zip(flexion, takes, strict=True)):
        current = flat_current[h].reshape(lead)
        target = np.asarray(f, dtype=np.float64)
        if t is not None:
            target = np.where(t, target, current)
        # half = 0.5 × (sign × (target − current)), as repose_hinge: sign = ± 1, so
        # (0.5 × sign) × d is the same number (rounding is symmetric in the sign)
        np.subtract(target, current, out=half[h].reshape(lead))
        half[h] *= 0.5 * plan.signs[h, 0]
        before.append(current)
    return _turn_compiled(positions, plan, axis, half), before


def _independent(skeleton: Skeleton, joints: list[int], below: list[np.ndarray], rest: np.ndarray) -> bool:
    """Whether the hinges ``joints`` (subtrees ``below``, masks (J,)) can be read and turned
    from the same poses: distinct, and no subtree holds a joint another hinge reads or turns."""
    if len(set(joints)) != len(joints):
        return False
    for h, j in enumerate(joints):
        reads = np.zeros(skeleton.num_joints, dtype=bool)
        reads[list(_hinge_constants(skeleton, j, rest)[0])] = True
        for g, mask in enumerate(below):
            if g != h and (mask & (reads | below[h])).any():
                return False
    return True


def _turn_compiled(positions: np.ndarray, plan: _HingePlan, axis: np.ndarray, half: np.ndarray) -> np.ndarray:
    """``positions`` (..., J, 3) with the subtrees of the hinges of ``plan`` turned about
    ``axis`` (H, N, 3) through the hinge joints by twice ``half`` (H, N) radians, by one
    pass of :func:`posesynth.body._kernels.rotate_subtree` writing the poses once (``sin``
    and ``cos`` in NumPy, one call each). The turns must be independent (disjoint subtrees
    holding no pivot)."""
    J = positions.shape[-2]
    pos = np.ascontiguousarray(positions, dtype=np.float64).reshape(-1, J, 3)
    out = np.empty_like(pos)
    _kernels.rotate_subtree(pos, plan.pivots, plan.members, plan.start, axis, np.sin(half), np.cos(half), out)
    return out.reshape(positions.shape)


def set_angles(
    positions: np.ndarray,
    skeleton: Skeleton,
    angles: dict[str, np.ndarray],
    rest_offsets: np.ndarray | None = None,
    *,
    add: bool = False,
) -> np.ndarray:
    """Positions (N, J, 3) with the named anatomical ``angles`` (each (N,) radians) set.

    With ``add``, the values are added to the current angles instead. Angles of a joint that
    are not named keep their current value; joints that no named angle moves keep their local
    rotation, and joints outside the moved subtrees are copied exactly.
    """
    positions = check_finite(check_shape(positions, (skeleton.num_joints, 3), "positions"), "positions")
    rest = default_rest_offsets(skeleton) if rest_offsets is None else rest_offsets
    local, offsets = inverse_kinematics(positions, skeleton, rest)
    current = angles_from_local(local, skeleton, rest)
    unknown = sorted(set(angles) - set(current))
    if unknown:
        raise ValueError(
            f"angles: unknown for skeleton {skeleton.name!r}: {unknown}; expected some of {sorted(current)}"
        )
    new = dict(current)
    for name, value in angles.items():
        new[name] = (
            current[name] + value if add else np.broadcast_to(np.asarray(value, dtype=np.float64), current[name].shape)
        )
    rebuilt = local_from_angles(new, skeleton, rest, shape=positions.shape[:-2])
    moved = np.zeros(skeleton.num_joints, dtype=bool)
    for dofs in skeleton_dofs(skeleton):
        if any(n in angles for n in dofs.names):
            j = skeleton.index(dofs.joint)
            local[..., j, :] = rebuilt[..., j, :]
            moved |= descendants(skeleton, j)
    out = positions.copy()
    out[..., moved, :] = forward_kinematics(local, offsets, skeleton)[..., moved, :]
    return out


def scale_bones(positions: np.ndarray, skeleton: Skeleton, factors: dict[str, np.ndarray]) -> np.ndarray:
    """Scale the bones ending at the named joints (each factor (N,) or scalar, > 0); children follow."""
    positions = check_shape(positions, (skeleton.num_joints, 3), "positions")
    parents = skeleton.parents_array
    bones = positions[..., 1:, :] - positions[..., parents[1:], :]
    scale = np.ones(positions.shape[:-1])
    for name, f in factors.items():
        f = np.asarray(f, dtype=np.float64)
        if (f <= 0).any() or not np.isfinite(f).all():
            raise ValueError(f"bone scale {name!r}: expected finite factors > 0, got {f.ravel()[:3].tolist()}")
        scale[..., skeleton.index(name)] = f
    out = np.empty_like(positions)
    out[..., 0, :] = positions[..., 0, :]
    for j in range(1, skeleton.num_joints):
        out[..., j, :] = out[..., parents[j], :] + scale[..., j, None] * bones[..., j - 1, :]
    return out


def rotate_about_vertical(positions: np.ndarray, yaw: np.ndarray, pivot_joint: int = 0) -> np.ndarray:
    """Turn whole poses (N, J, 3) by ``yaw`` (N,) radians about the vertical (z) axis through a joint."""
    pivot = positions[..., pivot_joint, :]
    axis = np.broadcast_to(np.array([0.0, 0.0, 1.0]), pivot.shape)
    return rotate_subtree(positions, np.ones(positions.shape[-2], dtype=bool), pivot, axis, yaw)
