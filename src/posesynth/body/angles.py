"""Anatomical joint angles ↔ local joint rotations.

Body frame at anatomical rest (standing, arms at the sides, palms forward): **x = the
subject's right, y = anterior (forward), z = up** — right-handed, metres. Every joint's local
frame coincides with it at rest. Angles are radians; names end in ``_deg`` only at the edges.

Each moving joint has a small set of named angles, computed from the direction ``d`` (unit,
parent frame) of the bone to its primary child and, where it is observable, the twist ``τ``
of the joint about its rest bone direction (swing–twist decomposition, twist applied first):

* ``limb`` (hips): flexion = atan2(d_y, −d_z) (sagittal, forward +), abduction = ±asin(d_x)
  (away from the midline +), rotation = ∓τ (internal +).
* ``hinge`` (knees, elbows): flexion = atan2(±d_y, −d_z) (knee backward +, elbow forward +).
* ``shoulder``: elevation = angle from hanging (0–π), plane of elevation = atan2(outward,
  forward) (0 flexion plane, π/2 abduction plane, π extension; wrapped to (−π/2, 3π/2]),
  rotation = ∓τ (internal +). This avoids the gimbal lock of Euler angles at 90° abduction.
* ``trunk`` (spine, neck_base): flexion = atan2(d_y, d_z) (forward +), lateral flexion =
  asin(d_x) (to the right +).
* ``euler`` (thorax; ankle, wrist, head of the extended skeleton): intrinsic X-Y-Z angles
  of the local rotation with per-angle signs (see :data:`JOINT_DOFS`).

For a joint whose child is a leaf, only the bone direction is observable from positions, so
only its swing angles exist. Hip and shoulder rotation are read from the knee/elbow plane and
are ill-conditioned when that limb is straight (see :mod:`posesynth.body.kinematics`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from posesynth.body import _kernels
from posesynth.body.kinematics import build_rig, default_rest_offsets, inverse_kinematics
from posesynth.body.skeleton import Skeleton
from posesynth.geometry import rotations as rot
from posesynth.util.checks import check_shape
from posesynth.util.jit import numba_enabled


@dataclass(frozen=True)
class JointDofs:
    """The named angles carried by one joint's local rotation."""

    joint: str
    kind: str  # "limb", "hinge", "shoulder", "trunk", "euler"
    names: tuple[str, ...]
    signs: tuple[float, ...]  # meaning depends on kind, see angles_from_local / local_from_angles


def _sided(side: str, joint: str, kind: str, bases: tuple[str, ...], signs: tuple[float, ...]) -> JointDofs:
    return JointDofs(f"{side}_{joint}", kind, tuple(f"{side}_{b}" for b in bases), signs)


#: Every anatomical angle the package knows, by joint. Signs make + the clinical direction.
JOINT_DOFS: tuple[JointDofs, ...] = (
    JointDofs("spine", "trunk", ("spine_flexion", "spine_lateral_flexion"), (1.0, 1.0)),
    JointDofs("thorax", "euler", ("thorax_flexion", "thorax_lateral_flexion", "thorax_rotation"), (-1.0, 1.0, -1.0)),
    JointDofs("neck_base", "trunk", ("neck_flexion", "neck_lateral_flexion"), (1.0, 1.0)),
    JointDofs("head", "euler", ("head_flexion", "head_lateral_flexion", "head_rotation"), (-1.0, 1.0, -1.0)),
    _sided("right", "hip", "limb", ("hip_flexion", "hip_abduction", "hip_rotation"), (1.0, -1.0)),
    _sided("left", "hip", "limb", ("hip_flexion", "hip_abduction", "hip_rotation"), (-1.0, 1.0)),
    _sided("right", "knee", "hinge", ("knee_flexion",), (-1.0,)),
    _sided("left", "knee", "hinge", ("knee_flexion",), (-1.0,)),
    _sided("right", "foot", "euler", ("ankle_dorsiflexion", "ankle_inversion", "ankle_adduction"), (1.0, 1.0, 1.0)),
    _sided("left", "foot", "euler", ("ankle_dorsiflexion", "ankle_inversion", "ankle_adduction"), (1.0, -1.0, -1.0)),
    _sided("right", "shoulder", "shoulder", ("shoulder_elevation", "shoulder_plane", "shoulder_rotation"), (1.0, -1.0)),
    _sided("left", "shoulder", "shoulder", ("shoulder_elevation", "shoulder_plane", "shoulder_rotation"), (-1.0, 1.0)),
    _sided("right", "elbow", "hinge", ("elbow_flexion",), (1.0,)),
    _sided("left", "elbow", "hinge", ("elbow_flexion",), (1.0,)),
    _sided(
        "right", "wrist", "euler", ("wrist_flexion", "wrist_radial_deviation", "forearm_pronation"), (1.0, -1.0, 1.0)
    ),
    _sided(
        "left", "wrist", "euler", ("wrist_flexion", "wrist_radial_deviation", "forearm_pronation"), (1.0, 1.0, -1.0)
    ),
)


@functools.lru_cache(maxsize=64)
def skeleton_dofs(skeleton: Skeleton) -> tuple[JointDofs, ...]:
    """The angle sets observable on ``skeleton`` (its joint exists and moves a child).

    Twist angles (hip/shoulder rotation) need a hinge below them, and Euler joints need a
    frame (several children); joints lacking those drop the angles they cannot show.
    """
    rig = build_rig(skeleton)
    out = []
    for dofs in JOINT_DOFS:
        if dofs.joint not in skeleton.joint_names:
            continue
        kind = rig.kind[skeleton.index(dofs.joint)]
        if dofs.kind == "euler" and kind != "frame":
            continue
        if dofs.kind in ("limb", "shoulder") and kind != "hinge":
            dofs = JointDofs(dofs.joint, dofs.kind, dofs.names[:2], dofs.signs)
        if kind == "leaf":
            continue
        out.append(dofs)
    return tuple(out)


@functools.lru_cache(maxsize=64)
def angle_names(skeleton: Skeleton) -> tuple[str, ...]:
    """Names of every anatomical angle observable on ``skeleton``, in a fixed order."""
    return tuple(n for dofs in skeleton_dofs(skeleton) for n in dofs.names)


def _rest_directions(skeleton: Skeleton, rest_offsets: np.ndarray | None) -> np.ndarray:
    rest = default_rest_offsets(skeleton) if rest_offsets is None else np.asarray(rest_offsets, dtype=np.float64)
    norm = np.linalg.norm(rest, axis=-1, keepdims=True)
    return rest / np.where(norm > 0, norm, 1.0)


def _wrap_plane(p: np.ndarray) -> np.ndarray:
    return np.where(p <= -np.pi / 2, p + 2 * np.pi, p)


def _euler_xyz(m: np.ndarray) -> np.ndarray:
    """Intrinsic X-Y-Z angles (..., 3) of rotation matrices (..., 3, 3): m = Rx(a) Ry(b) Rz(c)."""
    b = np.arcsin(np.clip(m[..., 0, 2], -1.0, 1.0))
    a = np.arctan2(-m[..., 1, 2], m[..., 2, 2])
    c = np.arctan2(-m[..., 0, 1], m[..., 0, 0])
    return np.stack((a, b, c), axis=-1)


def _quat_xyz(abc: np.ndarray) -> np.ndarray:
    """Quaternion (..., 4) of intrinsic X-Y-Z angles (..., 3)."""
    ex, ey, ez = np.eye(3)
    return rot.quat_multiply(
        rot.quat_multiply(rot.axis_angle_to_quat(ex, abc[..., 0]), rot.axis_angle_to_quat(ey, abc[..., 1])),
        rot.axis_angle_to_quat(ez, abc[..., 2]),
    )


def angles_from_local(
    local_rotations: np.ndarray, skeleton: Skeleton, rest_offsets: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Anatomical angles (radians, each (...)) from local rotations (..., J, 4).

    ``rest_offsets`` (..., J, 3) gives the rest bone directions (default: the 1.70 m rest pose);
    it must be the one the rotations were built or solved with.
    """
    J = skeleton.num_joints
    local_rotations = check_shape(local_rotations, (J, 4), "local_rotations")
    rest_dir = _rest_directions(skeleton, rest_offsets)
    rig = build_rig(skeleton)
    out: dict[str, np.ndarray] = {}
    for dofs in skeleton_dofs(skeleton):
        j = skeleton.index(dofs.joint)
        q = local_rotations[..., j, :]
        if dofs.kind == "euler":
            abc = _euler_xyz(rot.quat_to_matrix(q))
            for k, name in enumerate(dofs.names):
                out[name] = dofs.signs[k] * abc[..., k]
            continue
        r = rest_dir[..., rig.primary[j], :]
        d = rot.quat_apply(q, r)
        dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
        if dofs.kind == "limb":
            vals = [np.arctan2(dy, -dz), dofs.signs[0] * np.arcsin(np.clip(dx, -1, 1))]
        elif dofs.kind == "hinge":
            vals = [np.arctan2(dofs.signs[0] * dy, -dz)]
        elif dofs.kind == "shoulder":
            vals = [np.arccos(np.clip(-dz, -1, 1)), _wrap_plane(np.arctan2(dofs.signs[0] * dx, dy))]
        else:  # trunk
            vals = [np.arctan2(dy, dz), np.arcsin(np.clip(dx, -1, 1))]
        if len(dofs.names) == 3:
            vals.append(dofs.signs[1] * rot.twist_angle(q, r))
        out.update(zip(dofs.names, vals))
    return out


def local_from_angles(
    angles: dict[str, np.ndarray],
    skeleton: Skeleton,
    rest_offsets: np.ndarray | None = None,
    shape: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Local rotations (..., J, 4) realising anatomical ``angles`` (radians, each broadcastable).

    Angles not given are zero; joints without angles (root, leaves) get the identity. The
    inverse of :func:`angles_from_local` on the skeleton's observable angles. Unknown angle
    names raise ``ValueError`` listing the valid ones.
    """
    valid = angle_names(skeleton)
    unknown = sorted(set(angles) - set(valid))
    if unknown:
        raise ValueError(
            f"angles: unknown angle names {unknown} for skeleton {skeleton.name!r}; expected some of {list(valid)}"
        )
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in angles.items()}
    if shape is None:
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values())) if arrays else ()
    rig = build_rig(skeleton)
    if numba_enabled():
        rest = default_rest_offsets(skeleton) if rest_offsets is None else np.asarray(rest_offsets, dtype=np.float64)
        if rest.shape[:-2] in ((), tuple(shape)):
            return _local_from_angles_compiled(arrays, skeleton, rig, rest, tuple(shape))
    rest_dir = _rest_directions(skeleton, rest_offsets)
    local = rot.quat_identity(tuple(shape) + (skeleton.num_joints,))
    zero = np.zeros(shape)
    for dofs in skeleton_dofs(skeleton):
        j = skeleton.index(dofs.joint)
        vals = [np.broadcast_to(arrays.get(n, zero), shape) for n in dofs.names]
        if dofs.kind == "euler":
            local[..., j, :] = _quat_xyz(np.stack([s * v for s, v in zip(dofs.signs, vals)], axis=-1))
            continue
        if dofs.kind == "limb":
            f, a = vals[0], dofs.signs[0] * vals[1]
            d = np.stack((np.sin(a), np.cos(a) * np.sin(f), -np.cos(a) * np.cos(f)), axis=-1)
        elif dofs.kind == "hinge":
            f = vals[0]
            d = np.stack((zero, dofs.signs[0] * np.sin(f), -np.cos(f)), axis=-1)
        elif dofs.kind == "shoulder":
            e, p = vals[0], vals[1]
            d = np.stack((dofs.signs[0] * np.sin(e) * np.sin(p), np.sin(e) * np.cos(p), -np.cos(e)), axis=-1)
        else:  # trunk
            f, a = vals
            d = np.stack((np.sin(a), np.cos(a) * np.sin(f), np.cos(a) * np.cos(f)), axis=-1)
        r = np.broadcast_to(rest_dir[..., rig.primary[j], :], d.shape)
        q = rot.quat_between(r, d)
        if len(dofs.names) == 3:
            q = rot.quat_multiply(q, rot.axis_angle_to_quat(r, dofs.signs[1] * vals[2]))
        local[..., j, :] = q
    return local


def _local_from_angles_compiled(
    arrays: dict[str, np.ndarray], skeleton: Skeleton, rig: Any, rest: np.ndarray, shape: tuple[int, ...]
) -> np.ndarray:
    """:func:`local_from_angles` by the compiled kernel: the angles as columns (N, A), one
    pass over the poses; ``rest`` (J, 3) or (..., J, 3) rest offsets (normalised in the kernel)."""
    J = skeleton.num_joints
    dofs_all = skeleton_dofs(skeleton)
    names = [n for dofs in dofs_all for n in dofs.names if n in arrays]
    n = int(np.prod(shape, dtype=np.int64))
    values = np.zeros((n, len(names) + 1))  # the last column: zero, for angles not given
    for k, name in enumerate(names):
        values[:, k] = np.broadcast_to(arrays[name], shape).reshape(-1)
    column = {name: k for k, name in enumerate(names)}
    zero_col = len(names)
    D = len(dofs_all)
    columns = np.full((D, 3), -1, dtype=np.int64)
    signs = np.zeros((3, D))
    for d, dofs in enumerate(dofs_all):
        for k, name in enumerate(dofs.names):
            columns[d, k] = column.get(name, zero_col)
        signs[: len(dofs.signs), d] = dofs.signs
    joint = np.array([skeleton.index(dofs.joint) for dofs in dofs_all], dtype=np.int64)
    kind = np.array([_kernels.KIND_CODES[dofs.kind] for dofs in dofs_all], dtype=np.int64)
    primary = np.array([rig.primary[j] for j in joint], dtype=np.int64)
    rest = np.ascontiguousarray(rest.reshape((-1, J, 3)))
    local = np.empty((n, J, 4))
    _kernels.local_from_angles(values, joint, kind, signs[0], signs[1], signs[2], columns, primary, rest, local)
    return local.reshape(shape + (J, 4))


@dataclass(frozen=True)
class KernelTables:
    """A skeleton's moving joints as the arrays of the compiled angle kernels
    (:func:`posesynth.body._kernels.pose_pass`), every angle of :func:`angle_names` given."""

    joint: np.ndarray  # (D,) int64 joint index
    kind: np.ndarray  # (D,) int64 :data:`posesynth.body._kernels.KIND_CODES`
    signs: np.ndarray  # (3, D) float64 the angle signs (0 where absent)
    columns: np.ndarray  # (D, 3) int64 row of each angle in angle_names order; -1 absent
    primary: np.ndarray  # (D,) int64 the primary child giving the bone direction


@functools.lru_cache(maxsize=64)
def kernel_tables(skeleton: Skeleton) -> KernelTables:
    """:class:`KernelTables` of ``skeleton`` (cached per skeleton; the arrays are read-only)."""
    dofs_all = skeleton_dofs(skeleton)
    column = {name: k for k, name in enumerate(angle_names(skeleton))}
    rig = build_rig(skeleton)
    columns = np.full((len(dofs_all), 3), -1, dtype=np.int64)
    signs = np.zeros((3, len(dofs_all)))
    for d, dofs in enumerate(dofs_all):
        for k, name in enumerate(dofs.names):
            columns[d, k] = column[name]
        signs[: len(dofs.signs), d] = dofs.signs
    joint = np.array([skeleton.index(dofs.joint) for dofs in dofs_all], dtype=np.int64)
    kind = np.array([_kernels.KIND_CODES[dofs.kind] for dofs in dofs_all], dtype=np.int64)
    primary = np.array([rig.primary[j] for j in joint], dtype=np.int64)
    for arr in (joint, kind, signs, columns, primary):
        arr.setflags(write=False)
    return KernelTables(joint, kind, signs, columns, primary)


def pose_angles(
    positions: np.ndarray, skeleton: Skeleton, rest_offsets: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Anatomical angles (radians, each (...)) of poses ``positions`` (..., J, 3), metres, any frame.

    Solves inverse kinematics first; see :mod:`posesynth.body.kinematics` for the twist rules.
    """
    local, _ = inverse_kinematics(positions, skeleton, rest_offsets)
    return angles_from_local(local, skeleton, rest_offsets)
