"""Limb–limb interpenetration: body segments as capsules, checked pairwise.

A pose is rejected when two capsules overlap by more than a tolerance, e.g. a foot inside the
other thigh or a forearm through the trunk. Radii are fractions of body height, rough adult
averages (thigh 0.05 H at mid-thigh, shank 0.03 H, trunk 0.055 H seen from the side, upper arm
0.025 H, forearm 0.022 H) chosen so that the anatomical rest pose and ordinary contact (hands on
thighs, thighs together) pass.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np

from posesynth.body import _kernels
from posesynth.body.skeleton import Skeleton
from posesynth.util.jit import numba_enabled

#: Capsules: name → (from joint, to joint, radius as a fraction of height).
CAPSULES: dict[str, tuple[str, str, float]] = {
    "trunk": ("root", "thorax", 0.055),
    "right_thigh": ("right_hip", "right_knee", 0.05),
    "left_thigh": ("left_hip", "left_knee", 0.05),
    "right_shank": ("right_knee", "right_foot", 0.03),
    "left_shank": ("left_knee", "left_foot", 0.03),
    "right_upper_arm": ("right_shoulder", "right_elbow", 0.025),
    "left_upper_arm": ("left_shoulder", "left_elbow", 0.025),
    "right_forearm": ("right_elbow", "right_wrist", 0.022),
    "left_forearm": ("left_elbow", "left_wrist", 0.022),
}

#: Pairs that must not interpenetrate (neighbours sharing a joint are never listed).
PAIRS: tuple[tuple[str, str], ...] = (
    ("right_thigh", "left_thigh"),
    ("right_thigh", "left_shank"),
    ("right_shank", "left_thigh"),
    ("right_shank", "left_shank"),
    ("trunk", "right_forearm"),
    ("trunk", "left_forearm"),
    ("trunk", "right_shank"),
    ("trunk", "left_shank"),
    ("right_forearm", "left_forearm"),
)
# Forearm–thigh pairs are left out on purpose: hands rest on thighs, and a hanging arm's
# capsule overlaps the thigh's widest part without any real interpenetration.


@dataclass(frozen=True)
class CollisionModel:
    """Index arrays of the capsule pairs of one skeleton (derived from :data:`PAIRS`)."""

    a0: np.ndarray
    a1: np.ndarray
    b0: np.ndarray
    b1: np.ndarray
    radius_sum: np.ndarray  # (P,) fraction of height
    names: tuple[tuple[str, str], ...]


@functools.lru_cache(maxsize=64)
def collision_model(skeleton: Skeleton) -> CollisionModel:
    """The capsule pairs of :data:`PAIRS` whose joints all exist in ``skeleton`` (cached per
    skeleton; the index arrays are read-only)."""
    names = set(skeleton.joint_names)
    usable = [(a, b) for a, b in PAIRS if set(CAPSULES[a][:2]) <= names and set(CAPSULES[b][:2]) <= names]

    def frozen(arr: np.ndarray) -> np.ndarray:  # the model is cached and shared: read-only
        arr.setflags(write=False)
        return arr

    def idx(c: int, k: Literal[0, 1]) -> np.ndarray:  # capsule end k (a joint name) of pair member c
        return frozen(np.array([skeleton.index(CAPSULES[p[c]][k]) for p in usable], dtype=np.int64))

    return CollisionModel(
        a0=idx(0, 0),
        a1=idx(0, 1),
        b0=idx(1, 0),
        b1=idx(1, 1),
        radius_sum=frozen(np.array([CAPSULES[a][2] + CAPSULES[b][2] for a, b in usable])),
        names=tuple(usable),
    )


def segment_distance(p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """Smallest distance (...) between segments [p0, p1] and [q0, q1], each end (..., 3).

    Closest points by clamped parameters (Ericson, *Real-Time Collision Detection*, 5.1.9);
    degenerate (zero-length) segments are handled.
    """
    # components first: every dot product below is three passes over contiguous rows
    p0, p1, q0, q1 = (np.moveaxis(np.asarray(v, dtype=np.float64), -1, 0) for v in np.broadcast_arrays(p0, p1, q0, q1))
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    dot = lambda u, v: u[0] * v[0] + u[1] * v[1] + u[2] * v[2]
    a, e, f, c, b = dot(d1, d1), dot(d2, d2), dot(d2, r), dot(d1, r), dot(d1, d2)
    denom = a * e - b * b
    eps = 1e-30
    safe = lambda x: np.where(x > eps, x, 1.0)
    # parallel test relative to the lengths (a e = |d1|² |d2|²), so tiny segments work too
    nonparallel = denom > 1e-12 * a * e
    s0 = np.where(nonparallel, np.clip((b * f - c * e) / np.where(nonparallel, denom, 1.0), 0.0, 1.0), 0.0)
    t0 = np.where(e > eps, (b * s0 + f) / safe(e), 0.0)
    # the closest point of the infinite line pair fell off segment q: clamp t, redo s
    s = np.where(
        t0 < 0.0, np.clip(-c / safe(a), 0.0, 1.0), np.where(t0 > 1.0, np.clip((b - c) / safe(a), 0.0, 1.0), s0)
    )
    t = np.clip(t0, 0.0, 1.0)
    s = np.where(e > eps, s, np.clip(-c / safe(a), 0.0, 1.0))  # q is a point
    t = np.where(a > eps, t, np.clip(f / safe(e), 0.0, 1.0))  # p is a point
    s = np.where(a > eps, s, 0.0)
    diff = (r + d1 * s) - d2 * t
    return np.sqrt(dot(diff, diff))


def penetration(positions: np.ndarray, heights: np.ndarray, model: CollisionModel) -> np.ndarray:
    """Overlap depth (..., P) in metres of each capsule pair (≤ 0 when apart).

    ``positions`` (..., J, 3) metres; ``heights`` (...) body heights in metres.
    """
    flat = _flat_poses(positions, heights) if numba_enabled() else None
    if flat is not None:
        pos, h = flat
        depth = np.empty((pos.shape[0], len(model.names)))
        _kernels.penetration(pos, h, model.a0, model.a1, model.b0, model.b1, model.radius_sum, depth)
        return depth.reshape(np.shape(heights) + (len(model.names),))
    dist = segment_distance(
        positions[..., model.a0, :],
        positions[..., model.a1, :],
        positions[..., model.b0, :],
        positions[..., model.b1, :],
    )
    return model.radius_sum * np.asarray(heights)[..., None] - dist


def colliding(positions: np.ndarray, heights: np.ndarray, model: CollisionModel, tolerance: float = 0.3) -> np.ndarray:
    """Boolean (...) True where any capsule pair overlaps by more than ``tolerance`` × its radius sum.

    Soft tissue yields, so a little overlap (default 30 %) counts as contact, not collision.
    """
    if len(model.names) == 0:
        return np.zeros(np.shape(heights), dtype=bool)
    flat = _flat_poses(positions, heights) if numba_enabled() else None
    if flat is not None:
        pos, h = flat
        hit = np.empty(pos.shape[0], dtype=bool)
        _kernels.colliding(pos, h, model.a0, model.a1, model.b0, model.b1, model.radius_sum, float(tolerance), hit)
        return hit.reshape(np.shape(heights))
    depth = penetration(positions, heights, model)
    return (depth > tolerance * model.radius_sum * np.asarray(heights)[..., None]).any(axis=-1)


def _flat_poses(positions: np.ndarray, heights: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(positions (N, J, 3), heights (N,))`` float64 for the compiled kernels, or None when
    the leading dims of the two differ (the NumPy path then broadcasts them)."""
    positions = np.asarray(positions, dtype=np.float64)
    heights = np.asarray(heights, dtype=np.float64)
    if positions.ndim < 2 or positions.shape[:-2] != heights.shape:
        return None
    return positions.reshape((-1,) + positions.shape[-2:]), heights.reshape(-1)
