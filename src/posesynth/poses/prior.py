"""Coupled pose priors: angles that move together, as people hold them.

The independent priors of :data:`posesynth.poses.procedural.ACTIVITIES` draw every angle on
its own, so an elbow does not know where its shoulder is and the left arm ignores the right.
A :class:`CoupledPrior` is a linear factor model over an activity's angles (degrees)::

    angle = mean + Σ_f loading_f · factor_f + sd · ε,        ε ~ N(0, 1) per angle

with factors shared by the angles of one sample:

* ``normal`` factors, N(0, 1): correlation (``arms`` loading both elbows makes the two arms
  bend together; one factor loading shoulder abduction and flexion makes the arm rise in the
  scapular plane);
* ``uniform`` factors, U(-1, 1): a bounded posture mix (weight shift from one leg to the other);
* ``.side`` after a loading key flips its sign with the leading side (a trunk that turns
  towards the throwing arm);
* ``phase`` factors, φ ~ U(0, 2π), seen through ``<name>.cos``, ``<name>.sin``, ``<name>.cos2``,
  ``<name>.sin2``: a cyclic movement such as the gait cycle, where each leg and the opposite
  arm follow one phase (contralateral coupling), written as two Fourier harmonics of joint
  angle curves. ``<name>.cos@0.5`` reads the phase half a cycle later (the other leg).

Angle keys: a sided name (``right_elbow_flexion``), ``lead_`` / ``trail_`` + base name (each
sample picks its leading side at random, as in :mod:`~posesynth.poses.procedural`), or a base
name (both sides, each with its own ε). Besides the anatomical angles, the shoulder may be
given by the two components of its elevation vector, ``shoulder_flex`` (forward +, backward −)
and ``shoulder_abd`` (sideways), degrees; they become ``shoulder_elevation`` =
hypot(flex, abd) and ``shoulder_plane`` = atan2(abd, flex), so an arm swinging through the
body's side is one linear movement, not a jump of the plane from 0° to 180°.

Angles outside the range of motion get their ε redrawn (the factors kept) up to 32 times and
are then clipped into range; a shoulder outside its (plane, elevation) range or above the
elevation cap of its plane has its pair redrawn the same way, then drawn uniformly from the
feasible region (never clipped: elevation 180° is a singular pose).
Angles the prior does not name stay at 0 (the anatomical rest).

Every other activity keeps the pelvis upright (a few degrees of pitch), so a trunk that leans
forward does it in the spine. A prior may also name :data:`PELVIS_TILT`, the pelvis's forward
tilt: the whole body pitches forward about the hips by it (added to the root orientation), and
the prior gives the hips as much more flexion to keep the legs where they were. That is the hip
hinge of bending to pick something up (``bend``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from posesynth.body.rom import base_angle_name, sample_uniform, shoulder_elevation_cap
from posesynth.body.skeleton import H36M17

__all__ = ["CoupledPrior", "Term", "sample_coupled"]

_REDRAWS = 32
_SIDE = "\0side"
_SHOULDER_SKELETON = H36M17  # only its shoulder angles' names are used, to draw a (plane, elevation) pair  # the ±1 of the leading side, kept beside the factors
_KINDS = ("normal", "uniform", "phase")
#: The key of the pelvis's forward tilt (degrees in a prior, radians out of
#: :func:`sample_coupled`; + forward), a pitch of the whole body about the hips' axis that
#: :func:`posesynth.poses.procedural.sample_poses` adds to the root orientation. It is not an
#: anatomical angle: a hip hinge is this tilt plus as much hip flexion, so the legs stay.
PELVIS_TILT = "pelvis_tilt"
#: Tilts a prior may reach (radians): from a backward slouch to a deep forward bend.
PELVIS_TILT_LIMITS_RAD = (np.deg2rad(-30.0), np.deg2rad(90.0))
_HARMONICS = {"cos": (np.cos, 1), "sin": (np.sin, 1), "cos2": (np.cos, 2), "sin2": (np.sin, 2)}


@dataclass(frozen=True)
class Term:
    """One angle's law: ``mean + Σ loadings[f] · f + sd · ε`` (degrees)."""

    mean: float
    sd: float = 0.0
    loadings: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CoupledPrior:
    """An activity's coupled prior (see the module docstring).

    Attributes:
        terms: angle key → :class:`Term`, degrees.
        factors: factor name → ``normal``, ``uniform`` or ``phase``.
    """

    terms: Mapping[str, Term]
    factors: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = {k: v for k, v in self.factors.items() if v not in _KINDS}
        if bad:
            raise ValueError(f"coupled prior: unknown factor kinds {bad}; expected one of {_KINDS}")
        for key, term in self.terms.items():
            for load in term.loadings:
                if _factor_name(load) not in self.factors:
                    raise ValueError(f"coupled prior: angle {key!r} loads on undeclared factor {load!r}")


def _factor_name(load: str) -> str:
    return load.split(".", 1)[0]


def _factor_value(load: str, values: Mapping[str, np.ndarray], kinds: Mapping[str, str]) -> np.ndarray:
    """The (n,) value of one loading key: a factor, or a harmonic of a phase factor; a
    ``.side`` suffix multiplies it by +1 where the right side leads, -1 elsewhere."""
    if load.endswith(".side"):
        return values[_SIDE] * _factor_value(load[: -len(".side")], values, kinds)
    name, _, rest = load.partition(".")
    if kinds[name] != "phase":
        return values[name]
    harmonic, _, shift = rest.partition("@")
    if harmonic not in _HARMONICS:
        raise ValueError(f"coupled prior: phase {name!r} has no harmonic {harmonic!r}; expected {sorted(_HARMONICS)}")
    fn, k = _HARMONICS[harmonic]
    phase = values[name] + 2.0 * np.pi * (float(shift) if shift else 0.0)
    return fn(k * phase)


def _term_for(prior: CoupledPrior, name: str, lead_right: np.ndarray) -> list[tuple[np.ndarray | None, Term]]:
    """(row mask or None = all rows, term) pairs that give sided or unsided angle ``name``."""
    if name in prior.terms:
        return [(None, prior.terms[name])]
    base = base_angle_name(name)
    side = "right" if name.startswith("right_") else "left" if name.startswith("left_") else None
    out: list[tuple[np.ndarray | None, Term]] = []
    if side is not None and any(p + base in prior.terms for p in ("lead_", "trail_")):
        is_lead = lead_right if side == "right" else ~lead_right
        for prefix, mask in (("lead_", is_lead), ("trail_", ~is_lead)):
            term = prior.terms.get(prefix + base, prior.terms.get(base))  # the side's own, else both sides'
            if term is not None:
                out.append((mask, term))
    elif base in prior.terms:
        out.append((None, prior.terms[base]))
    return out


def _draw_term(
    rng: np.random.Generator, term: Term, rows: np.ndarray, factors: Mapping[str, np.ndarray], kinds: Mapping[str, str]
) -> np.ndarray:
    """Degrees (len(rows),) of ``term`` for the samples ``rows`` (one fresh ε each)."""
    value = np.full(len(rows), float(term.mean))
    for load, weight in term.loadings.items():
        value += weight * _factor_value(load, factors, kinds)[rows]
    if term.sd:
        value += term.sd * rng.standard_normal(len(rows))
    return value


def sample_coupled(
    rng: np.random.Generator,
    prior: CoupledPrior,
    names: tuple[str, ...],
    limits: Mapping[str, tuple[float, float]],
    lead_right: np.ndarray,
) -> dict[str, np.ndarray]:
    """Angles (radians, each (n,)) of ``n = len(lead_right)`` poses drawn from ``prior``.

    Args:
        rng: the only source of randomness.
        prior: the activity's coupled prior.
        names: the skeleton's angle names (:func:`posesynth.body.angles.angle_names`).
        limits: name → (low, high) radians; every angle returned lies inside.
        lead_right: (n,) bool, samples whose right side leads.

    Returns:
        angle name → (n,) radians for every name of ``names``; and, where the prior names it,
        :data:`PELVIS_TILT` → (n,) radians inside :data:`PELVIS_TILT_LIMITS_RAD`.
    """
    n = len(lead_right)
    kinds = MappingProxyType(dict(prior.factors))
    factors: dict[str, np.ndarray] = {}
    for fname, kind in sorted(kinds.items()):  # sorted: the draw order is part of the bytes
        if kind == "normal":
            factors[fname] = rng.standard_normal(n)
        elif kind == "uniform":
            factors[fname] = rng.uniform(-1.0, 1.0, n)
        else:
            factors[fname] = rng.uniform(0.0, 2.0 * np.pi, n)
    factors[_SIDE] = np.where(lead_right, 1.0, -1.0)
    rows_all = np.arange(n)
    out: dict[str, np.ndarray] = {}
    for name in names:
        lo, hi = limits[name]
        deg = np.zeros(n)
        sides = _term_for(prior, name, lead_right)
        flex_abd = None
        if base_angle_name(name) in ("shoulder_elevation", "shoulder_plane"):
            side = name[: len(name) - len(base_angle_name(name))]
            flex_abd = [_term_for(prior, side + c, lead_right) for c in ("shoulder_flex", "shoulder_abd")]
            if not (flex_abd[0] and flex_abd[1]):
                flex_abd = None
        if flex_abd is not None:
            continue  # drawn as a pair below
        for mask, term in sides:
            rows = rows_all if mask is None else rows_all[mask]
            deg[rows] = _draw_term(rng, term, rows, factors, kinds)
            for _ in range(_REDRAWS):
                bad = rows[(np.deg2rad(deg[rows]) < lo) | (np.deg2rad(deg[rows]) > hi)]
                if not len(bad):
                    break
                deg[bad] = _draw_term(rng, term, bad, factors, kinds)
        out[name] = np.clip(np.deg2rad(deg), lo, hi)
    for side in ("right_", "left_"):
        elev, plane = side + "shoulder_elevation", side + "shoulder_plane"
        if elev not in names:
            continue
        if elev in out:  # given as elevation and plane themselves: keep the elevation under its cap
            out[elev] = np.minimum(out[elev], shoulder_elevation_cap(out[plane]))
            continue
        terms = [_term_for(prior, side + c, lead_right) for c in ("shoulder_flex", "shoulder_abd")]

        def pair(rows: np.ndarray, terms: list = terms) -> tuple[np.ndarray, np.ndarray]:
            comp = []
            for parts in terms:
                v = np.zeros(n)
                for mask, term in parts:
                    sel = rows if mask is None else rows[mask[rows]]
                    v[sel] = _draw_term(rng, term, sel, factors, kinds)
                comp.append(np.deg2rad(v[rows]))
            return np.arctan2(comp[1], comp[0]), np.hypot(comp[0], comp[1])  # plane, elevation

        p, e = np.zeros(n), np.zeros(n)
        todo = rows_all
        for _ in range(_REDRAWS):
            p[todo], e[todo] = pair(todo)
            bad = (p < limits[plane][0]) | (p > limits[plane][1]) | (e < limits[elev][0]) | (e > limits[elev][1])
            bad |= e > shoulder_elevation_cap(p)
            todo = rows_all[bad]
            if not len(todo):
                break
        if len(todo):  # still outside after the redraws: uniform over the feasible (plane, elevation) region
            box = sample_uniform(
                rng,
                len(todo),
                _SHOULDER_SKELETON,
                {"right_shoulder_plane": limits[plane], "right_shoulder_elevation": limits[elev]},
            )
            p[todo], e[todo] = box["right_shoulder_plane"], box["right_shoulder_elevation"]
        out[plane], out[elev] = p, e
    result = {name: out[name] for name in names}
    if PELVIS_TILT in prior.terms:  # drawn last, so priors without it keep their bytes
        lo, hi = PELVIS_TILT_LIMITS_RAD
        term, rows = prior.terms[PELVIS_TILT], rows_all
        deg = _draw_term(rng, term, rows, factors, kinds)
        for _ in range(_REDRAWS):
            bad = rows[(np.deg2rad(deg) < lo) | (np.deg2rad(deg) > hi)]
            if not len(bad):
                break
            deg[bad] = _draw_term(rng, term, bad, factors, kinds)
        result[PELVIS_TILT] = np.clip(np.deg2rad(deg), lo, hi)
    return result


# --------------------------------------------------------------------------- the activities
# Degrees. Signs (posesynth's angles): shoulder_flex + forward, shoulder_abd + sideways,
# shoulder_rotation + internal (forearm of a bent elbow towards the belly), hip_rotation −
# external, spine/thorax/neck flexion + forward. Means and spreads are what people do in
# daily life, sport and on the floor (gait curves: two-harmonic fits of textbook sagittal
# hip and knee curves, heel strike at phase 0); nothing is fitted to a benchmark.

T = Term


def _arms(flex: Term, abd: Term, rotation: Term, elbow: Term, prefix: str = "") -> dict[str, Term]:
    return {
        f"{prefix}shoulder_flex": flex,
        f"{prefix}shoulder_abd": abd,
        f"{prefix}shoulder_rotation": rotation,
        f"{prefix}elbow_flexion": elbow,
    }


#: Upright trunk: mild flexion and lean shared by the lumbar and thoracic joints.
_UPRIGHT = {
    "spine_flexion": T(4, 3, {"bend": 4}),
    "thorax_flexion": T(3, 2, {"bend": 3}),
    "spine_lateral_flexion": T(0, 2, {"lean": 3}),
    "thorax_lateral_flexion": T(0, 1.5, {"lean": 2}),
    "thorax_rotation": T(0, 7),
    "neck_flexion": T(8, 8, {"bend": -2}),
    "neck_lateral_flexion": T(0, 4, {"lean": -2}),
}
#: Standing legs with a weight shift: the stance (lead) leg straight, the other relaxed.
_STANCE_LEGS = {
    "hip_flexion": T(2, 4),
    "hip_rotation": T(-6, 7),
    "lead_hip_abduction": T(2, 2, {"shift": 3}),
    "trail_hip_abduction": T(6, 2, {"shift": 3}),
    "lead_knee_flexion": T(3, 3),
    "trail_knee_flexion": T(9, 6, {"shift": 5}),
}
#: Hanging arms, elbows a little bent; ``hands`` brings both hands forward together.
_HANGING_ARMS = _arms(
    T(8, 7, {"arms": 5, "hands": 8}),
    T(10, 4, {"arms": 3}),
    T(15, 14, {"hands": 14}),
    T(22, 10, {"arms": 6, "hands": 22}),
)
_ARM_FACTORS = {"arms": "normal", "hands": "normal", "bend": "normal", "lean": "normal", "shift": "uniform"}

_GAIT_HIP = {"gait.cos": 17.5, "gait.sin": -5.5, "gait.cos2": -2.2, "gait.sin2": -1.6}
_GAIT_KNEE = {"gait.cos": -4.1, "gait.sin": -19.2, "gait.cos2": -9.6, "gait.sin2": 5.7}
_GAIT_ARM = {"gait.cos": -14.0, "gait.sin": 4.0}  # the arm swings against its own side's leg


def _half_cycle(loads: dict[str, float], scale: float = 1.0) -> dict[str, float]:
    return {f"{k}@0.5": scale * v for k, v in loads.items()}


def _scaled(loads: dict[str, float], scale: float) -> dict[str, float]:
    return {k: scale * v for k, v in loads.items()}


#: Coupled priors of everyday, sport and floor activities (see the module docstring).
COUPLED_ACTIVITIES: dict[str, CoupledPrior] = {
    # standing still: talking, waiting, looking around
    "idle": CoupledPrior({**_UPRIGHT, **_STANCE_LEGS, **_HANGING_ARMS}, _ARM_FACTORS),
    # both hands in front of the body: a phone, a cup, crossed arms, handling something
    "hold": CoupledPrior(
        {
            **_UPRIGHT,
            **_STANCE_LEGS,
            "neck_flexion": T(18, 10),
            **_arms(
                T(25, 10, {"hands": 10}),
                T(12, 6, {"arms": 4}),
                T(40, 15, {"hands": 10}),
                T(85, 15, {"hands": 20, "arms": 6}),
            ),
        },
        _ARM_FACTORS,
    ),
    # one hand gestures or points, the other hangs
    "gesture": CoupledPrior(
        {
            **_UPRIGHT,
            **_STANCE_LEGS,
            **_HANGING_ARMS,
            **_arms(T(35, 20, {"hands": 15}), T(20, 12, {"arms": 10}), T(15, 25), T(60, 30, {"hands": 20}), "lead_"),
        },
        _ARM_FACTORS,
    ),
    # walking: one phase drives both legs (half a cycle apart) and the opposite arms
    "gait": CoupledPrior(
        {
            **_UPRIGHT,
            "thorax_rotation": T(0, 4, {"gait.cos.side": 5.0}),
            "lead_hip_flexion": T(13.5, 3, _GAIT_HIP),
            "trail_hip_flexion": T(13.5, 3, _half_cycle(_GAIT_HIP)),
            "lead_knee_flexion": T(24, 4, _GAIT_KNEE),
            "trail_knee_flexion": T(24, 4, _half_cycle(_GAIT_KNEE)),
            "hip_abduction": T(3, 2),
            "hip_rotation": T(-5, 5),
            "lead_shoulder_flex": T(4, 4, _GAIT_ARM),
            "trail_shoulder_flex": T(4, 4, _half_cycle(_GAIT_ARM)),
            "shoulder_abd": T(9, 3),
            "shoulder_rotation": T(12, 10),
            "lead_elbow_flexion": T(22, 8, {"gait.cos": -8.0}),
            "trail_elbow_flexion": T(22, 8, {"gait.cos@0.5": -8.0}),
        },
        {**_ARM_FACTORS, "gait": "phase"},
    ),
    # running: the same coupling, larger, elbows at about a right angle, trunk forward
    "run": CoupledPrior(
        {
            **_UPRIGHT,
            "spine_flexion": T(8, 4),
            "thorax_flexion": T(5, 3),
            "thorax_rotation": T(0, 5, {"gait.cos.side": 8.0}),
            "lead_hip_flexion": T(20, 5, _scaled(_GAIT_HIP, 1.6)),
            "trail_hip_flexion": T(20, 5, _half_cycle(_GAIT_HIP, 1.6)),
            "lead_knee_flexion": T(50, 8, _scaled(_GAIT_KNEE, 2.0)),
            "trail_knee_flexion": T(50, 8, _half_cycle(_GAIT_KNEE, 2.0)),
            "hip_abduction": T(4, 2),
            "hip_rotation": T(-5, 5),
            "lead_shoulder_flex": T(5, 6, _scaled(_GAIT_ARM, 2.2)),
            "trail_shoulder_flex": T(5, 6, _half_cycle(_GAIT_ARM, 2.2)),
            "shoulder_abd": T(12, 5),
            "shoulder_rotation": T(20, 12),
            "elbow_flexion": T(85, 15),
        },
        {**_ARM_FACTORS, "gait": "phase"},
    ),
    # sitting on a chair: hands on the lap or a desk, some slouch
    "sit_chair": CoupledPrior(
        {
            **_UPRIGHT,
            "spine_flexion": T(10, 6, {"slouch": 8}),
            "thorax_flexion": T(5, 4, {"slouch": 5}),
            "hip_flexion": T(85, 8, {"slouch": -6}),
            "knee_flexion": T(88, 12, {"legs": 12}),
            "hip_abduction": T(8, 5, {"legs": 3}),
            "hip_rotation": T(-5, 8),
            **_arms(T(22, 10, {"hands": 8}), T(10, 5), T(35, 15, {"hands": 10}), T(80, 18, {"hands": 15, "arms": 5})),
        },
        {**_ARM_FACTORS, "slouch": "normal", "legs": "normal"},
    ),
    # balancing on one leg: the free (lead) leg anywhere in front, arms out for balance
    "one_leg": CoupledPrior(
        {
            **_UPRIGHT,
            "spine_lateral_flexion": T(0, 4, {"lean": 3}),
            "lead_hip_flexion": T(40, 18, {"lift": 18}),
            "lead_knee_flexion": T(65, 25, {"lift": 25}),
            "lead_hip_abduction": T(12, 12),
            "lead_hip_rotation": T(-12, 14),
            "trail_hip_flexion": T(2, 4),
            "trail_knee_flexion": T(5, 4),
            "trail_hip_abduction": T(-2, 3),
            **_arms(T(12, 18, {"arms": 10}), T(40, 18, {"arms": 18}), T(0, 20), T(25, 15, {"arms": 8})),
        },
        {**_ARM_FACTORS, "lift": "normal"},
    ),
    # throwing: the lead arm from cocked (throw = -1) to follow-through (+1), the other leg forward
    "throw": CoupledPrior(
        {
            **_UPRIGHT,
            "spine_flexion": T(10, 6, {"throw": 10}),
            "thorax_rotation": T(0, 6, {"throw.side": 25}),
            "lead_hip_flexion": T(-8, 7),
            "lead_knee_flexion": T(20, 10),
            "trail_hip_flexion": T(35, 12),
            "trail_knee_flexion": T(30, 12),
            "hip_abduction": T(10, 5),
            **_arms(
                T(20, 15, {"throw": 50}),
                T(80, 12, {"throw": -20}),
                T(-20, 20, {"throw": 40}),
                T(70, 20, {"throw": -30}),
                "lead_",
            ),
            **_arms(T(45, 20, {"throw": -25}), T(25, 12), T(10, 20), T(40, 20), "trail_"),
        },
        {**_ARM_FACTORS, "throw": "uniform"},
    ),
    # dancing: arms anywhere up and out, together or not; one leg lifted or stepping
    "dance": CoupledPrior(
        {
            **_UPRIGHT,
            "spine_lateral_flexion": T(0, 6, {"lean": 4}),
            "thorax_rotation": T(0, 14),
            "spine_flexion": T(4, 8),
            "lead_hip_flexion": T(25, 22),
            "lead_knee_flexion": T(30, 22),
            "lead_hip_abduction": T(10, 12),
            "trail_hip_flexion": T(5, 8),
            "trail_knee_flexion": T(15, 12),
            "hip_rotation": T(-8, 12),
            **_arms(T(40, 40, {"arms": 25}), T(60, 35, {"arms": 20}), T(0, 30), T(45, 30, {"hands": 15})),
        },
        _ARM_FACTORS,
    ),
    # athletic ready stance: hips and knees bent together, trunk forward, hands in front
    "sport": CoupledPrior(
        {
            **_UPRIGHT,
            "spine_flexion": T(22, 7, {"depth": 5}),
            "thorax_flexion": T(10, 5),
            "neck_flexion": T(-10, 10),
            "hip_flexion": T(45, 10, {"depth": 12}),
            "knee_flexion": T(50, 10, {"depth": 15}),
            "hip_abduction": T(12, 5),
            "hip_rotation": T(-10, 8),
            **_arms(T(40, 22, {"hands": 10}), T(20, 10), T(20, 20), T(75, 22, {"hands": 10})),
        },
        {**_ARM_FACTORS, "depth": "normal"},
    ),
    # sitting on the floor, from legs straight (cross = -1) to cross-legged (+1), hands down
    "floor": CoupledPrior(
        {
            **_UPRIGHT,
            "spine_flexion": T(15, 10),
            "thorax_flexion": T(8, 5),
            "hip_flexion": T(78, 10),
            "hip_abduction": T(20, 6, {"cross": 15}),
            "hip_rotation": T(-20, 8, {"cross": -18}),
            "knee_flexion": T(60, 12, {"cross": 55}),
            **_arms(T(0, 22), T(20, 10), T(10, 20), T(25, 20)),
        },
        {**_ARM_FACTORS, "cross": "uniform"},
    ),
    # bending forward to pick up, reach low or lean over a table: a hip hinge (the pelvis tilts
    # forward over the legs, the hips flex as much), knees from straight (stoop) to bent (squat
    # lift), the lead hand reaching down or forward
    "bend": CoupledPrior(
        {
            **_UPRIGHT,
            PELVIS_TILT: T(35, 8, {"depth": 12}),
            "spine_flexion": T(12, 6, {"depth": 4}),
            "thorax_flexion": T(8, 4),
            "neck_flexion": T(-5, 12),
            "hip_flexion": T(42, 6, {"depth": 12, "squat": 6}),
            "hip_abduction": T(8, 5),
            "hip_rotation": T(-8, 8),
            "knee_flexion": T(22, 8, {"squat": 16}),
            **_arms(T(55, 20, {"depth": 10, "hands": 10}), T(12, 8), T(15, 20), T(25, 18, {"hands": 10}), "lead_"),
            **_arms(T(40, 22, {"depth": 8}), T(15, 10, {"arms": 6}), T(10, 20), T(30, 20, {"arms": 8}), "trail_"),
        },
        {**_ARM_FACTORS, "depth": "normal", "squat": "normal"},
    ),
}
