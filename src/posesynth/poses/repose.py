"""Reposing: apply a motions file's angle changes to batches of 3D poses.

One inverse kinematics, every angle change in file order, the ROM policy (reject or clamp),
one forward kinematics, and only the moved joints' descendants rewritten. Knee/elbow-only
files with the ROM check off take the hinge shortcut (:func:`posesynth.poses.motions.set_hinge_flexion`,
no IK). Positions are metres in a Z-up frame, angles radians.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from posesynth.body.angles import angles_from_local, local_from_angles, skeleton_dofs
from posesynth.body.kinematics import default_rest_offsets, forward_kinematics, inverse_kinematics
from posesynth.body.rom import out_of_range, rom_table, shoulder_elevation_cap
from posesynth.body.skeleton import Skeleton
from posesynth.poses.motion_spec import Motion, MotionsConfig
from posesynth.poses.motions import HINGE_FLEXION_SIGN, descendants, repose_hinges

__all__ = ["CLAMP_PASSES", "repose", "set_angles"]

#: With ``rom: clamp``, passes of clamp-and-reread after the first: a limb clamped straight
#: hands its unobservable twist to the next joint, which may leave its range in turn.
CLAMP_PASSES = 3


def _hinge_only(motions: MotionsConfig, skeleton: Skeleton) -> bool:
    """True when every motion sets a knee/elbow flexion and nothing needs the full angle set."""
    if motions.rom != "off":
        return False
    for m in motions.motions:
        if m.mode != "set" or any(n.split("_")[1] not in HINGE_FLEXION_SIGN for n in m.targets(skeleton)):
            return False
    return True


def _clamp_to_rom(angles: dict[str, np.ndarray], skeleton: Skeleton) -> dict[str, np.ndarray]:
    table = rom_table(skeleton)
    out = {}
    for name, v in angles.items():
        lo, hi = table[name].bounds
        out[name] = np.clip(v, lo, hi)
    for name in out:
        plane = out.get(name.replace("elevation", "plane"))
        if name.endswith("shoulder_elevation") and plane is not None:
            out[name] = np.minimum(out[name], shoulder_elevation_cap(plane))
    return out


def _rebuild(
    positions: np.ndarray,
    local: np.ndarray,
    offsets: np.ndarray,
    before: dict[str, np.ndarray],
    new: dict[str, np.ndarray],
    skeleton: Skeleton,
    rest: np.ndarray,
) -> np.ndarray:
    """Poses (M, J, 3) with the joints whose angles differ between ``before`` and ``new``
    rebuilt from ``new`` (their descendants follow); every other joint keeps its position."""
    m = positions.shape[0]
    rebuilt = local_from_angles(new, skeleton, rest, shape=(m,))
    moved = np.zeros(skeleton.num_joints, dtype=bool)
    for dofs in skeleton_dofs(skeleton):
        changed = any(not np.array_equal(new[n], before[n]) for n in dofs.names)
        if changed:
            j = skeleton.index(dofs.joint)
            local[:, j] = rebuilt[:, j]
            moved |= descendants(skeleton, j)
    out = positions.copy()
    out[:, moved] = forward_kinematics(local, offsets, skeleton)[:, moved]
    return out


def set_angles(positions: np.ndarray, skeleton: Skeleton, angles: Mapping[str, ArrayLike]) -> np.ndarray:
    """Set anatomical angles of poses and let the children follow, every bone keeping its length.

    Args:
        positions: (..., J, 3) metres, a Z-up frame.
        skeleton: their layout (``J`` joints).
        angles: angle name (see :func:`posesynth.body.angles.angle_names`) -> radians,
            broadcastable to the batch shape ``(...)``.

    Returns:
        (..., J, 3) metres: the poses with those angles (read back by
        :func:`posesynth.body.angles.pose_angles` to machine precision); joints whose angles
        did not change keep their exact positions. No range-of-motion check.

    Raises:
        ValueError: an unknown angle name, or positions not of shape (..., J, 3).
    """
    p = np.asarray(positions, dtype=np.float64)
    if p.ndim < 2 or p.shape[-2:] != (skeleton.num_joints, 3):
        raise ValueError(f"positions: expected shape (..., {skeleton.num_joints}, 3), got {p.shape}")
    batch = p.shape[:-2]
    flat = p.reshape(-1, skeleton.num_joints, 3)
    rest = default_rest_offsets(skeleton)
    local, offsets = inverse_kinematics(flat, skeleton, rest)
    before = angles_from_local(local, skeleton, rest)
    unknown = sorted(set(angles) - set(before))
    if unknown:
        raise ValueError(f"angles: unknown {unknown}; expected some of {sorted(before)}")
    new = dict(before)
    for name, value in angles.items():
        new[name] = np.broadcast_to(np.asarray(value, dtype=np.float64), batch).reshape(-1)
    return _rebuild(flat, local, offsets, before, new, skeleton, rest).reshape(p.shape)


class _Draw(NamedTuple):
    motion: Motion
    name: str  # sided angle name
    value: np.ndarray  # (m,) radians
    take: np.ndarray  # (m,) bool: the motion applies to the pose


def _draw_motions(rng: np.random.Generator, m: int, skeleton: Skeleton, motions: MotionsConfig) -> list[_Draw]:
    """Every motion's draws for ``m`` poses, in the file's order; they do not depend on the
    poses. With ``bilateral``, the chosen poses' left-side angles take their right side's draws."""
    pair = rng.random(m) < motions.bilateral.probability if motions.bilateral.active else None
    draws = []
    for motion in motions.motions:
        own: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in motion.targets(skeleton):
            own[name] = (motion.draw(rng, m, name), rng.random(m) < motion.probability)
        for name, (value, take) in own.items():
            right = own.get("right_" + name.removeprefix("left_")) if name.startswith("left_") else None
            if pair is not None and right is not None:
                value, take = np.where(pair, right[0], value), np.where(pair, right[1], take)
            draws.append(_Draw(motion, name, value, take))
    return draws


def repose(
    rng: np.random.Generator, positions: np.ndarray, skeleton: Skeleton, motions: MotionsConfig
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Apply the motions to poses (M, J, 3); returns (positions, rom_ok (M,), angles before, after)."""
    m: int = positions.shape[0]
    rest = default_rest_offsets(skeleton)
    if _hinge_only(motions, skeleton):
        before: dict[str, np.ndarray] = {}
        after: dict[str, np.ndarray] = {}
        draws = _draw_motions(rng, m, skeleton, motions)
        names = [d.name for d in draws]
        values = [d.value for d in draws]
        takes = [d.take for d in draws]
        # every hinge read and set, in one pass where they are independent (both knees): the
        # same values as repose_hinge on each in turn
        joints = [name[: -len("_flexion")] for name in names]
        out, currents = repose_hinges(positions, skeleton, joints, values, takes, rest)
        for name, value, take, cur in zip(names, values, takes, currents, strict=True):
            before.setdefault(name, cur)
            after[name] = np.where(take, value, cur)
        return out, np.ones(m, dtype=bool), before, after

    local, offsets = inverse_kinematics(positions, skeleton, rest)
    before = angles_from_local(local, skeleton, rest)
    new = dict(before)
    for motion, name, value, take in _draw_motions(rng, m, skeleton, motions):
        new[name] = np.where(take, new[name] + value if motion.mode == "add" else value, new[name])
    if motions.rom == "clamp":
        new = _clamp_to_rom(new, skeleton)
    out = _rebuild(positions, local, offsets, before, new, skeleton, rest)
    rom_ok = np.ones(m, dtype=bool)
    if motions.rom != "off":
        # judge the pose that was made, as pose_angles reads it: a limb clamped straight hands
        # its unobservable twist to the next joint, which may then leave its range
        local, offsets = inverse_kinematics(out, skeleton, rest)
        new = angles_from_local(local, skeleton, rest)
        rom_ok = ~out_of_range(new, skeleton, tol=1e-9)
        for _ in range(CLAMP_PASSES if motions.rom == "clamp" else 0):
            if rom_ok.all():
                break
            # clamp what the handed-over twist pushed out, and read the pose again
            bad = ~rom_ok
            sub = {k: v[bad] for k, v in new.items()}
            out[bad] = _rebuild(out[bad], local[bad], offsets[bad], sub, _clamp_to_rom(sub, skeleton), skeleton, rest)
            local, offsets = inverse_kinematics(out, skeleton, rest)
            new = angles_from_local(local, skeleton, rest)
            rom_ok = ~out_of_range(new, skeleton, tol=1e-9)
    return out, rom_ok, before, new
