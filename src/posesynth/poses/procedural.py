"""Procedural whole-body poses: the embedded default that needs no data set.

A pose is drawn in five vectorised steps, for a batch at once:

1. a body: height and per-segment proportions (:func:`posesynth.body.anthropometry.sample_bodies`);
2. an activity per sample, then every anatomical angle from that activity's prior
   (:data:`ACTIVITIES`, degrees), redrawn until it lies inside the range of motion (or the
   narrower limits asked for), so no angle is ever out of range and none piles up at a limit;
3. a global orientation (any heading, a few degrees of pitch and roll), plus the forward tilt
   of the pelvis where the activity's prior draws one (a hip hinge: ``bend``);
4. forward kinematics, then a limb–limb collision check (:mod:`posesynth.body.collision`):
   colliding samples are drawn again;
5. the body put on the ground plane z = 0 by its lowest contact point: heel/toe where the
   skeleton has them, else the ankles lifted by the anthropometric ankle height; or a knee
   lifted by :data:`KNEE_CLEARANCE` when kneeling.

Asymmetric activities (walk, lunge, kick, reach) name angles of a ``lead`` and a ``trail``
side; each sample picks which body side leads at random.

Two kinds of activity prior: the independent ones of :data:`ACTIVITIES` (each angle drawn on
its own; ``posesynth generate``'s default mix) and the coupled ones of
:mod:`posesynth.poses.prior` (idle, hold, gesture, gait, run, sit_chair, one_leg, throw, dance,
sport, bend, floor: angles that move together, contralateral arm and leg in gait).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import cast

import numpy as np

from posesynth.body import _kernels
from posesynth.body.angles import angle_names, kernel_tables, local_from_angles
from posesynth.body.anthropometry import PROPORTION_NAMES, sample_bodies, sampled_rest_offsets
from posesynth.body.collision import colliding, collision_model
from posesynth.body.kinematics import forward_kinematics
from posesynth.body.rom import (
    SHOULDER_ELEVATION_CAP_DEG,
    base_angle_name,
    limits_with_overrides,
    sample_uniform,
    shoulder_elevation_cap,
)
from posesynth.body.skeleton import Skeleton
from posesynth.geometry import rotations as rot
from posesynth.poses.prior import COUPLED_ACTIVITIES, PELVIS_TILT, CoupledPrior, sample_coupled
from posesynth.util.jit import interrupts_held, numba_enabled

U, N, F = "uniform", "normal", "follow"

_RELAXED_ARMS = {
    "shoulder_elevation": (N, 8, 6),
    "shoulder_plane": (U, -20, 100),
    "shoulder_rotation": (N, 0, 15),
    "elbow_flexion": (N, 15, 10),
    "wrist_flexion": (N, 0, 10),
    "forearm_pronation": (N, 0, 20),
}
_NEUTRAL_TRUNK = {
    "spine_flexion": (N, 3, 5),
    "spine_lateral_flexion": (N, 0, 3),
    "thorax_flexion": (N, 2, 4),
    "thorax_lateral_flexion": (N, 0, 3),
    "thorax_rotation": (N, 0, 8),
    "neck_flexion": (N, 5, 10),
    "neck_lateral_flexion": (N, 0, 5),
    "head_rotation": (N, 0, 20),
}

#: Activity priors: angle (base name, or lead_/trail_ + base name) → (kind, a, b) in degrees,
#: ``uniform`` over [a, b], ``normal`` with mean a and standard deviation b, or ``follow``:
#: the same side's angle a plus b (± 5°). Angles not listed stay at zero; ``rom`` draws every
#: angle uniformly over its full range.
AngleSpec = tuple[str, float, float] | tuple[str, str, float]  # (kind, a, b); follow: a is an angle name
ACTIVITIES: dict[str, dict[str, AngleSpec] | CoupledPrior] = {
    "stand": {
        **_NEUTRAL_TRUNK,
        **_RELAXED_ARMS,
        "hip_flexion": (N, 2, 5),
        "hip_abduction": (N, 4, 3),
        "hip_rotation": (N, -5, 8),
        "knee_flexion": (N, 4, 4),
        "ankle_dorsiflexion": (N, 0, 4),
    },
    "walk": {
        **_NEUTRAL_TRUNK,
        "lead_hip_flexion": (U, 5, 35),
        "trail_hip_flexion": (U, -20, 5),
        "hip_abduction": (N, 2, 3),
        "hip_rotation": (N, -5, 6),
        "lead_knee_flexion": (U, 0, 30),
        "trail_knee_flexion": (U, 5, 65),
        "lead_ankle_dorsiflexion": (U, -10, 15),
        "trail_ankle_dorsiflexion": (U, -20, 10),
        "lead_shoulder_elevation": (U, 0, 30),
        "lead_shoulder_plane": (N, 170, 10),
        "trail_shoulder_elevation": (U, 0, 35),
        "trail_shoulder_plane": (N, 5, 10),
        "shoulder_rotation": (N, 10, 10),
        "elbow_flexion": (U, 5, 45),
    },
    "sit": {
        **_NEUTRAL_TRUNK,
        "spine_flexion": (U, -5, 30),
        "hip_flexion": (U, 70, 105),
        "hip_abduction": (U, 0, 20),
        "hip_rotation": (N, -5, 10),
        "knee_flexion": (U, 60, 115),
        "ankle_dorsiflexion": (U, -20, 15),
        "shoulder_elevation": (U, 0, 45),
        "shoulder_plane": (U, -20, 60),
        "shoulder_rotation": (N, 20, 15),
        "elbow_flexion": (U, 20, 110),
    },
    "squat": {
        **_NEUTRAL_TRUNK,
        "spine_flexion": (U, 5, 45),
        "thorax_flexion": (U, 0, 25),
        "hip_flexion": (U, 75, 120),
        "hip_abduction": (U, 5, 35),
        "hip_rotation": (U, -30, 5),
        "knee_flexion": (U, 95, 150),
        "ankle_dorsiflexion": (U, 5, 20),
        "shoulder_elevation": (U, 20, 100),
        "shoulder_plane": (U, -20, 40),
        "elbow_flexion": (U, 0, 100),
    },
    "lunge": {
        **_NEUTRAL_TRUNK,
        "spine_flexion": (U, -10, 20),
        "lead_hip_flexion": (U, 55, 100),
        "lead_knee_flexion": (U, 60, 115),
        "lead_hip_abduction": (U, 0, 15),
        "trail_hip_flexion": (U, -30, -5),
        "trail_knee_flexion": (U, 10, 110),
        "trail_hip_abduction": (U, 0, 10),
        "lead_ankle_dorsiflexion": (U, 0, 20),
        "trail_ankle_dorsiflexion": (U, -40, 10),
        "shoulder_elevation": (U, 0, 180),
        "shoulder_plane": (U, -20, 100),
        "elbow_flexion": (U, 0, 90),
    },
    "reach": {
        **_NEUTRAL_TRUNK,
        "spine_flexion": (U, -10, 45),
        "spine_lateral_flexion": (U, -20, 20),
        "thorax_rotation": (U, -40, 40),
        "hip_flexion": (U, -5, 40),
        "hip_abduction": (U, 0, 25),
        "knee_flexion": (U, 0, 40),
        "lead_shoulder_elevation": (U, 80, 180),
        "lead_shoulder_plane": (U, -40, 120),
        "lead_elbow_flexion": (U, 0, 40),
        "trail_shoulder_elevation": (U, 0, 180),
        "trail_shoulder_plane": (U, -20, 120),
        "trail_elbow_flexion": (U, 0, 120),
        "shoulder_rotation": (U, -40, 60),
    },
    "kick": {
        **_NEUTRAL_TRUNK,
        "spine_flexion": (U, -15, 25),
        "lead_hip_flexion": (U, 40, 120),
        "lead_knee_flexion": (U, 0, 70),
        "lead_hip_abduction": (U, 0, 40),
        "lead_hip_rotation": (U, -40, 20),
        "lead_ankle_dorsiflexion": (U, -50, 10),
        "trail_hip_flexion": (U, -10, 15),
        "trail_knee_flexion": (U, 0, 30),
        "shoulder_elevation": (U, 20, 100),
        "shoulder_plane": (U, 40, 120),
        "elbow_flexion": (U, 0, 90),
    },
    "quad_stretch": {
        **_NEUTRAL_TRUNK,
        "lead_hip_flexion": (U, -25, 10),
        "lead_knee_flexion": (U, 125, 150),
        "lead_hip_abduction": (U, -5, 10),
        "lead_ankle_dorsiflexion": (U, -50, -20),
        "trail_hip_flexion": (N, 0, 4),
        "trail_knee_flexion": (U, 0, 10),
        "lead_shoulder_elevation": (U, 20, 55),
        "lead_shoulder_plane": (U, 150, 180),
        "lead_elbow_flexion": (U, 10, 60),
        "trail_shoulder_elevation": (U, 0, 100),
        "trail_shoulder_plane": (U, 40, 110),
        "trail_elbow_flexion": (U, 0, 40),
    },
    "kneel": {
        **_NEUTRAL_TRUNK,
        # shins on the floor: the shank is level when knee flexion ≈ hip flexion + 90°
        "hip_flexion": (U, 0, 60),
        "hip_abduction": (U, 0, 15),
        "hip_rotation": (N, 0, 8),
        "knee_flexion": (F, "hip_flexion", 90),
        "ankle_dorsiflexion": (U, -50, -25),
        "shoulder_elevation": (U, 0, 60),
        "shoulder_plane": (U, -20, 90),
        "elbow_flexion": (U, 0, 90),
    },
    "rom": {},
}
#: The independent priors above, in their order (posesynth generate's default mixture).
INDEPENDENT_ACTIVITIES: tuple[str, ...] = tuple(ACTIVITIES)
# Coupled priors (:mod:`posesynth.poses.prior`) come after them, so the indices of the
# activities above, and the poses they draw, stay what they were.
ACTIVITIES.update(COUPLED_ACTIVITIES)

#: Default activity mixture of ``posesynth generate``: the independent priors, as before the
#: coupled ones existed (choose those by name, e.g. ``activities: {gait: 1, idle: 1}``).
DEFAULT_ACTIVITY_WEIGHTS: dict[str, float] = dict.fromkeys(INDEPENDENT_ACTIVITIES, 1.0)

_MAX_REDRAWS = 64


def _still_colliding(left: int, n: int) -> ValueError:
    return ValueError(
        f"procedural poses: {left} of {n} samples still collide after {_MAX_REDRAWS} redraws; "
        "the angle limits or activity mix leave too little room"
    )


@dataclass(frozen=True)
class PoseBatch:
    """A batch of procedural poses; all arrays share the leading dimension ``n``."""

    positions: np.ndarray  # (n, J, 3) metres, world frame, Z up, feet on z = 0
    local_rotations: np.ndarray | None  # (n, J, 4) XYZW, relative to the parent; None: not asked for
    bone_offsets: np.ndarray | None  # (n, J, 3) metres, parent frames (row 0: root position); None as above
    rest_offsets: np.ndarray  # (n, J, 3) the body's rest pose, parent frames
    angles: dict[str, np.ndarray]  # name → (n,) radians
    heights: np.ndarray  # (n,) metres
    activity: np.ndarray  # (n,) index into the activity names
    rejected: int  # draws discarded by the collision check


def _draw(rng: np.random.Generator, spec: tuple, n: int, followed: np.ndarray | None = None) -> np.ndarray:
    kind, a, b = spec
    if kind == F:
        return followed + np.deg2rad(b + rng.normal(0.0, 5.0, n))
    if kind == U:
        return np.deg2rad(rng.uniform(a, b, n))
    if kind == N:
        return np.deg2rad(rng.normal(a, b, n))
    raise ValueError(f"activity prior: unknown distribution {kind!r}; expected 'uniform', 'normal' or 'follow'")


def _resolve_side(key: str, lead_right: np.ndarray, name: str) -> np.ndarray | None:
    """Mask of samples for which prior ``key`` applies to sided angle ``name`` (None: all or none)."""
    side = "right" if name.startswith("right_") else "left" if name.startswith("left_") else None
    if key.startswith(("lead_", "trail_")):
        if side is None:
            return np.zeros_like(lead_right)
        lead = key.startswith("lead_")
        return lead_right == (lead == (side == "right"))
    return None


def _draw_angle(
    rng: np.random.Generator,
    activity: str,
    name: str,
    lead_right: np.ndarray,
    bounds: tuple[float, float],
    drawn: dict[str, np.ndarray] | None = None,
    rows: np.ndarray | slice = slice(None),
) -> np.ndarray:
    """Values (len(lead_right),) of one angle from an activity's prior, inside ``bounds``.

    ``drawn`` holds the angles drawn so far (for ``follow`` priors), ``rows`` which of their
    samples these are.
    """
    lo, hi = bounds
    n = len(lead_right)
    prior = ACTIVITIES[activity]
    assert isinstance(prior, dict)  # sample_angles hands coupled priors to sample_coupled
    base = base_angle_name(name)
    specs = [(k, v) for k, v in prior.items() if k.startswith(("lead_", "trail_")) and k.split("_", 1)[1] == base]
    specs += [(k, v) for k, v in prior.items() if k == base]
    if activity == "rom":
        return rng.uniform(lo, hi, n)
    value = np.clip(np.zeros(n), lo, hi)  # angles an activity does not name stay neutral
    for key, spec in specs:
        mask = _resolve_side(key, lead_right, name)
        sel = np.ones(n, bool) if mask is None else mask
        followed = None
        if spec[0] == F:
            if drawn is None:
                raise ValueError(
                    f"activity {activity!r}: angle {name!r} follows another angle, "
                    "but no angles drawn so far were given"
                )
            followed = drawn[name.replace(base, cast(str, spec[1]))][rows]  # follow: (F, angle name, offset)
        value[sel] = _draw(rng, spec, int(sel.sum()), None if followed is None else followed[sel])
        for _ in range(_MAX_REDRAWS):
            bad = sel & ((value < lo) | (value > hi))
            if not bad.any():
                break
            value[bad] = _draw(rng, spec, int(bad.sum()), None if followed is None else followed[bad])
        bad = sel & ((value < lo) | (value > hi))
        value[bad] = rng.uniform(lo, hi, int(bad.sum()))
    return value


@dataclass(frozen=True)
class _DrawPlan:
    """An independent prior's specs for some angles, as the arrays of
    :func:`posesynth.body._kernels.prior_draws` (see there)."""

    kind: np.ndarray  # (S,) int64
    a: np.ndarray  # (S,) degrees
    b: np.ndarray  # (S,) degrees
    rows: np.ndarray  # (S,) int64
    follow: np.ndarray  # (S,) int64 index into the angles, -1 if none
    start: np.ndarray  # (A + 1,) int64: angle i's specs are start[i] .. start[i + 1]
    lo: np.ndarray  # (A,) radians
    hi: np.ndarray  # (A,) radians


def _draw_plan(
    activity: str, names: list[str], limits: dict[str, tuple[float, float]], follows: bool
) -> _DrawPlan | None:
    """The compiled draws of angles ``names`` of an independent activity, or None where the
    NumPy path must run (a coupled prior, an unknown distribution, a followed angle not drawn
    before: it raises what it raises). ``follows``: ``follow`` priors may read the angles
    drawn before in ``names`` (else they raise, as :func:`_draw_angle` without ``drawn``)."""
    prior = ACTIVITIES[activity]
    if not isinstance(prior, dict):
        return None
    # keyed by the prior's content, so a table changed in place is never read stale
    specs = _plan_specs(activity, tuple(prior.items()), tuple(names), follows)
    if specs is None:
        return None
    lo = np.array([limits[n][0] for n in names], np.float64)
    hi = np.array([limits[n][1] for n in names], np.float64)
    kind, a, b, rows, follow, start = specs
    return _DrawPlan(kind, a, b, rows, follow, start, lo, hi)


@functools.lru_cache(maxsize=256)
def _plan_specs(
    activity: str, items: tuple[tuple[str, AngleSpec], ...], names: tuple[str, ...], follows: bool
) -> tuple[np.ndarray, ...] | None:
    """(kind, a, b, rows, follow, start) of :class:`_DrawPlan` (see :func:`_draw_plan`); ``rom``:
    every angle uniform over its bounds (:data:`posesynth.body._kernels.PRIOR_BOUNDS`)."""
    kind, a, b, rows, follow, start = [], [], [], [], [], [0]
    for i, name in enumerate(names):
        if activity == "rom":
            kind.append(_kernels.PRIOR_BOUNDS)
            a.append(0.0)
            b.append(0.0)
            rows.append(_kernels.PRIOR_ROWS["all"])
            follow.append(-1)
            start.append(len(kind))
            continue
        base = base_angle_name(name)
        specs = [(k, v) for k, v in items if k.startswith(("lead_", "trail_")) and k.split("_", 1)[1] == base]
        specs += [(k, v) for k, v in items if k == base]
        side = "right" if name.startswith("right_") else "left" if name.startswith("left_") else None
        for key, spec in specs:
            if spec[0] not in _kernels.PRIOR_KINDS:
                return None
            if key.startswith(("lead_", "trail_")):  # the rows of _resolve_side
                right = key.startswith("lead_") == (side == "right")
                rows.append(_kernels.PRIOR_ROWS["none" if side is None else "right_leads" if right else "left_leads"])
            else:
                rows.append(_kernels.PRIOR_ROWS["all"])
            followed = -1
            if spec[0] == F:
                if not follows:
                    raise ValueError(
                        f"activity {activity!r}: angle {name!r} follows another angle, "
                        "but no angles drawn so far were given"
                    )
                target = name.replace(base, cast(str, spec[1]))
                if target not in names[:i]:
                    return None
                followed = names.index(target)
            kind.append(_kernels.PRIOR_KINDS[spec[0]])
            a.append(0.0 if spec[0] == F else float(spec[1]))
            b.append(float(spec[2]))
            follow.append(followed)
        start.append(len(kind))
    arrays = (
        np.array(kind, np.int64), np.array(a, np.float64), np.array(b, np.float64), np.array(rows, np.int64),
        np.array(follow, np.int64), np.array(start, np.int64),
    )  # fmt: skip
    for arr in arrays:
        arr.flags.writeable = False  # shared by every call through the cache
    return arrays


def _compiled_draws(rng: np.random.Generator, plan: _DrawPlan, lead_right: np.ndarray) -> np.ndarray:
    """Angles (A, n) radians of ``plan`` for ``n = len(lead_right)`` samples, by the kernel."""
    m = len(lead_right)
    out = np.empty((m, len(plan.lo)))  # the kernel's layout: a sample per row
    _kernels.prior_draws(
        rng, np.ascontiguousarray(lead_right, dtype=np.bool_), np.arange(m), plan.kind, plan.a, plan.b, plan.rows,
        plan.follow, plan.start, plan.lo, plan.hi, np.arange(len(plan.lo)), _MAX_REDRAWS, out,
    )  # fmt: skip
    return np.ascontiguousarray(out.T)


def _independent_angles(
    rng: np.random.Generator, activity: str, names: list[str], lead_right: np.ndarray, limits: dict
) -> dict[str, np.ndarray]:
    """Angles ``names`` (radians, each (n,)) from an independent prior, drawn in order (a
    ``follow`` prior reads an angle drawn before it): compiled where Numba is enabled."""
    plan = _draw_plan(activity, names, limits, follows=True) if numba_enabled() else None
    if plan is not None:
        return dict(zip(names, _compiled_draws(rng, plan, lead_right), strict=True))
    out: dict[str, np.ndarray] = {}
    for name in names:  # hips before knees: a knee may follow its hip
        out[name] = _draw_angle(rng, activity, name, lead_right, limits[name], out)
    return out


def _redraw_angle(
    rng: np.random.Generator, activity: str, name: str, lead_right: np.ndarray, bounds: tuple[float, float]
) -> np.ndarray:
    """:func:`_draw_angle` without the angles drawn so far, compiled where Numba is enabled."""
    plan = _draw_plan(activity, [name], {name: bounds}, follows=False) if numba_enabled() else None
    if plan is not None:
        return _compiled_draws(rng, plan, lead_right)[0]
    return _draw_angle(rng, activity, name, lead_right, bounds)


def sample_angles(
    rng: np.random.Generator,
    activity: str,
    n: int,
    skeleton: Skeleton,
    limits: dict[str, tuple[float, float]],
) -> dict[str, np.ndarray]:
    """Angles (radians, each (n,)) of ``n`` poses of one activity, all inside ``limits``.

    Values outside the limits are redrawn from the same prior (up to 64 times, then drawn
    uniformly within the limits), so the prior's shape is kept without piling at a bound.
    A shoulder whose elevation exceeds the cap of its plane of elevation has both redrawn
    the same way, then, if still outside, is drawn uniformly from the feasible region.
    A coupled prior that names a pelvis tilt adds it under
    :data:`~posesynth.poses.prior.PELVIS_TILT` (radians, + forward; not an angle of the skeleton).
    """
    if activity not in ACTIVITIES:
        raise ValueError(f"activity: unknown {activity!r}; expected one of {sorted(ACTIVITIES)}")
    lead_right = rng.random(n) < 0.5
    prior = ACTIVITIES[activity]
    if isinstance(prior, CoupledPrior):
        return sample_coupled(rng, prior, angle_names(skeleton), limits, lead_right)
    out = _independent_angles(rng, activity, list(angle_names(skeleton)), lead_right, limits)
    for elev in [a for a in out if base_angle_name(a) == "shoulder_elevation"]:
        plane = elev.replace("elevation", "plane")
        if plane not in out:
            continue
        for attempt in range(_MAX_REDRAWS + 1):
            bad = out[elev] > shoulder_elevation_cap(out[plane]) + 1e-12
            if not bad.any():
                break
            if attempt < _MAX_REDRAWS:
                out[plane][bad] = _redraw_angle(rng, activity, plane, lead_right[bad], limits[plane])
                out[elev][bad] = _redraw_angle(rng, activity, elev, lead_right[bad], limits[elev])
            else:
                box = {plane: limits[plane], elev: limits[elev]}
                uniform = sample_uniform(rng, int(bad.sum()), skeleton, box)
                out[plane][bad], out[elev][bad] = uniform[plane], uniform[elev]
    return out


#: The sign of a pitch about the world x axis (after the heading) that tilts the body forward.
_FORWARD_PITCH_SIGN = -1.0


def _root_rotation(rng: np.random.Generator, n: int, tilt_sd_deg: float, forward_tilt: np.ndarray) -> np.ndarray:
    """Root orientations (n, 4): any heading, a few degrees of pitch and roll, plus
    ``forward_tilt`` (n,) radians of the activity's pelvis tilt (+ forward)."""
    yaw = rng.uniform(-np.pi, np.pi, n)
    pitch = np.deg2rad(rng.normal(0.0, tilt_sd_deg, n)) + _FORWARD_PITCH_SIGN * forward_tilt
    roll = np.deg2rad(rng.normal(0.0, tilt_sd_deg, n))
    ex, ey, ez = np.eye(3)
    q = rot.quat_multiply(rot.axis_angle_to_quat(ez, yaw), rot.axis_angle_to_quat(ex, pitch))
    return rot.quat_multiply(q, rot.axis_angle_to_quat(ey, roll))


#: Half the thickness of the knee in front of its joint centre, as a fraction of height: the
#: clearance of a kneeling knee above the floor (≈ 5 cm at 1.70 m).
KNEE_CLEARANCE = 0.03


def _ground_contacts(skeleton: Skeleton, proportions: np.ndarray, heights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joints that can touch the floor (K,) and their clearance above it (n, K), metres.

    Feet: heel and toes (clearance 0) where the skeleton has them, else the ankles at the
    anthropometric ankle height; knees, for kneeling, at :data:`KNEE_CLEARANCE` × height.
    """
    feet = [n for n in skeleton.joint_names if n.endswith(("_heel", "_big_toe", "_small_toe"))]
    knees = list(skeleton.indices(["right_knee", "left_knee"]))
    knee_gap = np.repeat((KNEE_CLEARANCE * heights)[:, None], 2, axis=1)
    if feet:
        foot_idx, foot_gap = list(skeleton.indices(feet)), np.zeros((len(heights), len(feet)))
    else:
        foot_idx = list(skeleton.indices(["right_foot", "left_foot"]))
        ankle = proportions[:, PROPORTION_NAMES.index("ankle_height")] * heights
        foot_gap = np.repeat(ankle[:, None], 2, axis=1)
    return np.array(foot_idx + knees), np.concatenate([foot_gap, knee_gap], axis=1)


def _numpy_passes(
    rng: np.random.Generator,
    skeleton: Skeleton,
    names: list[str],
    activity: np.ndarray,
    heights: np.ndarray,
    rest: np.ndarray,
    limits: dict[str, tuple[float, float]],
    tilt_sd_deg: float,
    collision_tolerance: float,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], int]:
    """The draws of :func:`sample_poses` until no sample collides, step by step in NumPy:
    ``(local rotations (n, J, 4), positions (n, J, 3) before the ground contact, angles,
    draws rejected)``."""
    n = len(activity)
    model = collision_model(skeleton)
    angles = {a: np.zeros(n) for a in angle_names(skeleton)}
    pelvis_tilt = np.zeros(n)
    local = np.empty((n, skeleton.num_joints, 4))
    positions = np.empty((n, skeleton.num_joints, 3))
    todo = np.arange(n)
    rejected = 0
    for _ in range(_MAX_REDRAWS):
        full = len(todo) == n  # the first pass: every sample, so views instead of gathers
        rows = slice(None) if full else todo
        todo_activity = activity[rows]
        for k in np.unique(todo_activity):
            idx = todo[todo_activity == k]
            drawn = sample_angles(rng, names[k], len(idx), skeleton, limits)
            pelvis_tilt[idx] = drawn.pop(PELVIS_TILT, 0.0)
            for a, v in drawn.items():
                angles[a][idx] = v
        sub = angles if full else {a: v[todo] for a, v in angles.items()}
        rest_t = rest[rows]
        local_t = local_from_angles(sub, skeleton, rest_t, shape=(len(todo),))
        local_t[:, 0] = _root_rotation(rng, len(todo), tilt_sd_deg, pelvis_tilt[rows])
        pos_t = forward_kinematics(local_t, rest_t, skeleton)
        if full:
            local, positions = local_t, pos_t
        else:
            local[todo], positions[todo] = local_t, pos_t
        bad = colliding(pos_t, heights[todo], model, collision_tolerance)
        rejected += int(bad.sum())
        todo = todo[bad]
        if len(todo) == 0:
            break
    else:
        raise _still_colliding(len(todo), n)
    return local, positions, angles, rejected


def _compiled_passes(
    rng: np.random.Generator,
    skeleton: Skeleton,
    names: list[str],
    activity: np.ndarray,
    heights: np.ndarray,
    rest: np.ndarray,
    limits: dict[str, tuple[float, float]],
    tilt_sd_deg: float,
    collision_tolerance: float,
    contact: np.ndarray,
    clearance: np.ndarray,
    with_rotations: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None, dict[str, np.ndarray], int]:
    """:func:`_numpy_passes` with one compiled pass per sample and draw round
    (:func:`posesynth.body._kernels.pose_pass`: angles -> local rotations -> root -> forward
    kinematics -> collision test -> the ground contact of the samples that pass, the joints
    ``contact (K,)`` at ``clearance (n, K)``), the angles kept as one (n, A) array (a sample's
    angles together: the per-activity draws and the pass read and write them by sample; the
    returned dict holds its columns): the same
    draws of ``rng`` in the same order, the same bits. Returns ``(local rotations, positions
    on the ground, bone offsets, angles, draws rejected)``; without ``with_rotations`` the
    rotations and offsets are None, and the pass does not write them."""
    n, J = len(activity), skeleton.num_joints
    angle_list = angle_names(skeleton)
    row_of = {a: k for k, a in enumerate(angle_list)}
    tables = kernel_tables(skeleton)
    pairs, radius_sum = _collision_pairs(skeleton)
    parents = _parents(skeleton)
    angles = np.zeros((n, len(angle_list)))
    pelvis_tilt = np.zeros(n)
    kept = n if with_rotations else 0  # zero rows: the pass writes only the positions
    local = np.empty((kept, J, 4))
    positions = np.empty((n, J, 3))
    offsets = np.empty((kept, J, 3))
    contact = np.ascontiguousarray(contact, dtype=np.int64)
    todo = np.arange(n)
    rejected = 0
    for _ in range(_MAX_REDRAWS):
        full = len(todo) == n
        todo_activity = activity if full else activity[todo]
        for k in np.unique(todo_activity):
            idx = todo[todo_activity == k]
            if not _draw_into(rng, names[k], idx, skeleton, limits, angles):
                drawn = sample_angles(rng, names[k], len(idx), skeleton, limits)
                pelvis_tilt[idx] = drawn.pop(PELVIS_TILT, 0.0)
                for a, v in drawn.items():
                    angles[idx, row_of[a]] = v
        m = len(todo)
        root_sin, root_cos = _root_half_angles(rng, m, tilt_sd_deg, pelvis_tilt if full else pelvis_tilt[todo])
        hit = np.empty(m, dtype=np.bool_)
        _kernels.pose_pass(
            angles, todo, root_sin, root_cos, rest, heights, tables.joint, tables.kind, tables.signs, tables.columns,
            tables.primary, parents, pairs, radius_sum, float(collision_tolerance), contact, clearance, local,
            positions, offsets, hit,
        )  # fmt: skip
        rejected += int(hit.sum())
        todo = todo[hit]
        if len(todo) == 0:
            break
    else:
        raise _still_colliding(len(todo), n)
    named = dict(zip(angle_list, angles.T, strict=True))
    return (local, positions, offsets, named, rejected) if with_rotations else (None, positions, None, named, rejected)


def _draw_into(
    rng: np.random.Generator,
    activity: str,
    idx: np.ndarray,
    skeleton: Skeleton,
    limits: dict[str, tuple[float, float]],
    angles: np.ndarray,
) -> bool:
    """:func:`sample_angles` for the samples ``idx`` of an independent activity, written into
    the rows ``idx`` of ``angles (n, A)`` (columns in :func:`angle_names` order) by the
    kernels, the shoulder caps included: the same draws in the same order. False (nothing
    drawn) where the kernels cannot run it (a coupled prior, an unknown
    distribution, a ``follow`` the plan cannot read, or one in a capped shoulder angle)."""
    names = angle_names(skeleton)
    plan = _draw_plan(activity, list(names), limits, follows=True)
    caps = _cap_pairs(skeleton)
    follow = _kernels.PRIOR_KINDS[F]
    if plan is None or any((plan.kind[plan.start[i] : plan.start[i + 1]] == follow).any() for c in caps for i in c):
        return False  # a capped angle that follows another: sample_angles raises what it raises
    m = len(idx)
    lead_right = rng.random(m) < 0.5
    rows = np.arange(len(names))
    _kernels.prior_draws(
        rng, lead_right, idx, plan.kind, plan.a, plan.b, plan.rows, plan.follow, plan.start, plan.lo, plan.hi, rows,
        _MAX_REDRAWS, angles,
    )  # fmt: skip
    knot_x, knot_y, slopes = _CAP_KNOTS
    bad = np.empty(m, dtype=np.bool_)
    for plane, elev in caps:
        left = _kernels.shoulder_cap(
            rng, lead_right, idx, plan.kind, plan.a, plan.b, plan.rows, plan.follow, plan.start, plan.lo, plan.hi,
            rows, _MAX_REDRAWS, plane, elev, knot_x, knot_y, slopes, angles, bad,
        )  # fmt: skip
        if left:  # still above the cap after the redraws: uniform over the feasible region
            box = {names[plane]: limits[names[plane]], names[elev]: limits[names[elev]]}
            uniform = sample_uniform(rng, left, skeleton, box)
            cols = idx[bad]
            angles[cols, plane], angles[cols, elev] = uniform[names[plane]], uniform[names[elev]]
    return True


def _cap_knots() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The knots of ``rom.shoulder_elevation_cap`` (radians: plane of elevation -> largest
    elevation) and their slopes, as ``np.interp`` computes them."""
    knots = np.deg2rad(np.array(SHOULDER_ELEVATION_CAP_DEG))
    x, y = np.ascontiguousarray(knots[:, 0]), np.ascontiguousarray(knots[:, 1])
    if not (np.diff(x) > 0).all():  # the kernel's knot search needs them strictly increasing
        raise ValueError("SHOULDER_ELEVATION_CAP_DEG: expected strictly increasing planes of elevation")
    return x, y, (y[1:] - y[:-1]) / (x[1:] - x[:-1])


_CAP_KNOTS = _cap_knots()


@functools.lru_cache(maxsize=64)
def _cap_pairs(skeleton: Skeleton) -> tuple[tuple[int, int], ...]:
    """(plane, elevation) rows of each capped shoulder, in the order :func:`sample_angles`
    checks them (its elevation's order in :func:`angle_names`)."""
    names = list(angle_names(skeleton))
    return tuple(
        (names.index(elev.replace("elevation", "plane")), names.index(elev))
        for elev in names
        if base_angle_name(elev) == "shoulder_elevation" and elev.replace("elevation", "plane") in names
    )


def _root_half_angles(
    rng: np.random.Generator, n: int, tilt_sd_deg: float, forward_tilt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sines and cosines (3, n) of half the heading, pitch and roll of :func:`_root_rotation`:
    the same draws, and NumPy's ``sin``/``cos`` on the same (n, 1) arrays as
    ``rotations.axis_angle_to_quat`` (the kernel composes the quaternions)."""
    yaw = rng.uniform(-np.pi, np.pi, n)
    pitch = np.deg2rad(rng.normal(0.0, tilt_sd_deg, n)) + _FORWARD_PITCH_SIGN * forward_tilt
    roll = np.deg2rad(rng.normal(0.0, tilt_sd_deg, n))
    sin, cos = np.empty((3, n)), np.empty((3, n))
    for k, angle in enumerate((yaw, pitch, roll)):
        half = 0.5 * np.asarray(angle, dtype=np.float64)[..., None]
        sin[k], cos[k] = np.sin(half)[:, 0], np.cos(half)[:, 0]
    return sin, cos


@functools.lru_cache(maxsize=64)
def _collision_pairs(skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """The capsule pairs of :func:`collision_model` as ``(pairs (P, 4) int64 (a0, a1, b0, b1),
    radius sums (P,))``, read-only."""
    model = collision_model(skeleton)
    pairs = np.ascontiguousarray(np.stack([model.a0, model.a1, model.b0, model.b1], axis=1), dtype=np.int64)
    radius = np.ascontiguousarray(model.radius_sum, dtype=np.float64)
    pairs.setflags(write=False)
    radius.setflags(write=False)
    return pairs, radius


@functools.lru_cache(maxsize=64)
def _parents(skeleton: Skeleton) -> np.ndarray:
    parents = skeleton.parents_array.astype(np.int64)
    parents.setflags(write=False)
    return parents


def sample_poses(
    rng: np.random.Generator,
    n: int,
    skeleton: Skeleton,
    activity_weights: dict[str, float] | None = None,
    angle_limits_deg: dict[str, tuple[float, float]] | None = None,
    *,
    height_mean: float = 1.70,
    height_sd: float = 0.09,
    body_variation: float = 0.04,
    tilt_sd_deg: float = 4.0,
    collision_tolerance: float = 0.3,
    with_rotations: bool = True,
) -> PoseBatch:
    """Draw ``n`` plausible whole-body poses on the ground plane (see the module docstring).

    Args:
        rng: the only source of randomness; same state → same poses.
        n: number of poses (> 0).
        skeleton: joint layout (h36m17 or h36m_extended).
        activity_weights: activity name → relative weight (default: all equal).
        angle_limits_deg: narrower per-angle limits in degrees (e.g. ``{"knee_flexion": (0, 60)}``).
        with_rotations: also return the local rotations and the bone offsets (forward
            kinematics' input); False leaves them None, for a caller that keeps positions
            and angles only (``generate``: 1.4 KB less written per sample, 8 % of the
            compiled pass). The other fields are the same either way.
    """
    if n <= 0:
        raise ValueError(f"samples: expected a positive count, got {n}")
    weights = dict(DEFAULT_ACTIVITY_WEIGHTS if activity_weights is None else activity_weights)
    unknown = sorted(set(weights) - set(ACTIVITIES))
    if unknown:
        raise ValueError(f"activities: unknown {unknown}; expected some of {sorted(ACTIVITIES)}")
    names = list(ACTIVITIES)
    w = np.array([max(float(weights.get(a, 0.0)), 0.0) for a in names])
    if any(float(v) < 0 for v in weights.values()) or w.sum() <= 0:
        raise ValueError(f"activities: expected non-negative weights with a positive sum, got {weights}")
    limits = limits_with_overrides(skeleton, angle_limits_deg)

    heights, proportions = sample_bodies(rng, n, height_mean=height_mean, height_sd=height_sd, variation=body_variation)
    rest = sampled_rest_offsets(skeleton, heights, proportions)
    activity = rng.choice(len(names), size=n, p=w / w.sum())
    contact, clearance = _ground_contacts(skeleton, proportions, heights)
    if numba_enabled():  # the lift is done in the kernel's passes
        with interrupts_held():  # one SIGINT guard for its 100-odd kernel calls with rng
            local, positions, bone_offsets, angles, rejected = _compiled_passes(
                rng,
                skeleton,
                names,
                activity,
                heights,
                rest,
                limits,
                tilt_sd_deg,
                collision_tolerance,
                contact,
                clearance,
                with_rotations,
            )
    else:
        local, positions, angles, rejected = _numpy_passes(
            rng, skeleton, names, activity, heights, rest, limits, tilt_sd_deg, collision_tolerance
        )
        lift = -(positions[:, contact, 2] - clearance).min(axis=1)
        positions[:, :, 2] += lift[:, None]
        bone_offsets = None
        if with_rotations:
            bone_offsets = rest.copy()
            bone_offsets[:, 0, 2] += lift
        else:
            local = None
    return PoseBatch(positions, local, bone_offsets, rest, angles, heights, activity, rejected)


def activity_names() -> tuple[str, ...]:
    """Activity names in the order of :attr:`PoseBatch.activity` indices."""
    return tuple(ACTIVITIES)
