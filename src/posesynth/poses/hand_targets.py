"""Hands placed where people put them: on the knees, the feet, the hips, the head, out to balance.

Angle draws move each arm on its own, so a reposed body rarely holds a foot in a quad stretch,
rests its hands on its knees in a squat or spreads its arms over a raised leg. Here an arm
reaches for a point chosen on the body itself (a landmark of the same pose, plus a small
offset) or in the space around it (forward, to the side, overhead), by two-bone inverse
kinematics: the elbow's bend comes from the distance to the point, the elbow's position around
the shoulder–hand line (the swivel) from a natural "elbow down and out" direction turned by a
random angle. Only the elbow and the wrist (and the wrist's descendants, carried rigidly) move;
every bone keeps its length. An arm whose new angles leave the range of motion
(:func:`posesynth.body.rom.out_of_range`, e.g. a shoulder twisted too far) keeps its old pose.

Positions are metres in any right-handed frame: the body's own axes (right, forward, up) are
read from each pose (hips and trunk), so the targets follow the body wherever it stands.
"""

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from posesynth.body.angles import angles_from_local
from posesynth.body.kinematics import default_rest_offsets, inverse_kinematics
from posesynth.body.rom import out_of_range
from posesynth.body.skeleton import Skeleton
from posesynth.geometry import rotations as rot
from posesynth.poses.motions import descendants

__all__ = ["TARGETS", "Reached", "reach_targets"]

#: Where a hand can go. ``own_`` / ``other_``: the joint of the reaching arm's side or of the
#: other side; ``forward``, ``side`` and ``overhead`` are directions from the shoulder, the hand
#: at 60–100 % of the arm's reach (``side`` is out to balance).
TARGETS: tuple[str, ...] = (
    "own_knee",
    "other_knee",
    "own_foot",
    "other_foot",
    "own_hip",
    "other_hip",
    "head",
    "neck_base",
    "forward",
    "side",
    "overhead",
)

# Per direction target, the ranges of the random direction's (forward, outward, up) components
# before normalisation.
_DIRECTIONS: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "forward": ((1.0, 1.0), (-0.4, 0.6), (-0.7, 0.7)),
    "side": ((-0.5, 0.5), (1.0, 1.0), (-0.6, 0.8)),
    "overhead": ((-0.4, 0.4), (-0.2, 0.5), (1.0, 1.0)),
}


#: Degrees between the elbow positions tried after the wanted one (±30°, ±60°, … to 180°).
_SWIVEL_STEP_DEG = 30.0
_TURNS = np.deg2rad([0.0, *[sign * k * _SWIVEL_STEP_DEG for k in range(1, 7) for sign in (1, -1)][:-1]])


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > 1e-12, n, 1.0)


def _body_axes(positions: np.ndarray, skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(right, forward, up) unit vectors (N, 3) of each pose: up from the root to the thorax,
    right from the left hip to the right hip (made orthogonal to up), forward = up × right."""
    root = positions[:, 0]
    up = _unit(positions[:, skeleton.index("thorax")] - root)
    across = positions[:, skeleton.index("right_hip")] - positions[:, skeleton.index("left_hip")]
    right = _unit(across - np.sum(across * up, axis=-1, keepdims=True) * up)
    return right, np.cross(up, right), up


def _target_points(
    rng: np.random.Generator,
    positions: np.ndarray,
    skeleton: Skeleton,
    side: str,
    kinds: np.ndarray,
    reach: np.ndarray,
    axes: tuple[np.ndarray, np.ndarray, np.ndarray],
    offset_sd: float,
) -> np.ndarray:
    """Target points (N, 3) of one arm, ``kinds`` (N,) indices into :data:`TARGETS`."""
    n = len(kinds)
    other = "left" if side == "right" else "right"
    right, forward, up = axes
    outward = right if side == "right" else -right
    shoulder = positions[:, skeleton.index(f"{side}_shoulder")]
    out = np.empty((n, 3))
    # every draw is made for every pose, so one pose's target does not shift another's draws
    noise = rng.normal(0.0, offset_sd, (n, 3))
    mix = rng.random((n, 3))
    fraction = rng.uniform(0.6, 1.0, n)
    for k, name in enumerate(TARGETS):
        rows = kinds == k
        if not rows.any():
            continue
        if name in _DIRECTIONS:
            bounds = np.array(_DIRECTIONS[name])
            c = bounds[:, 0] + (bounds[:, 1] - bounds[:, 0]) * mix[rows]  # (forward, outward, up) parts
            d = _unit(c[:, :1] * forward[rows] + c[:, 1:2] * outward[rows] + c[:, 2:] * up[rows])
            out[rows] = shoulder[rows] + (fraction[rows] * reach[rows])[:, None] * d
        else:
            joint = name.replace("own_", f"{side}_").replace("other_", f"{other}_")
            off = noise[rows, :1] * right[rows] + noise[rows, 1:2] * forward[rows] + noise[rows, 2:] * up[rows]
            out[rows] = positions[rows, skeleton.index(joint)] + off
    return out


def _two_bone(
    shoulder: np.ndarray,
    target: np.ndarray,
    upper: np.ndarray,
    fore: np.ndarray,
    natural: np.ndarray,
    swivel: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Elbow and wrist (N, 3) of an arm from ``shoulder`` towards ``target`` with bone lengths
    ``upper`` and ``fore`` (N,): the wrist on the target, or as near as the arm reaches along
    its line; the elbow on the circle the two lengths allow, at ``swivel`` (N,) radians from
    the point of that circle nearest the ``natural`` (N, 3) direction."""
    line = target - shoulder
    u = _unit(line)
    d = np.clip(np.linalg.norm(line, axis=-1), np.abs(upper - fore) + 1e-3, 0.999 * (upper + fore))
    a = (upper**2 - fore**2 + d**2) / (2 * d)
    h = np.sqrt(np.maximum(upper**2 - a**2, 0.0))
    w0 = natural - np.sum(natural * u, axis=-1, keepdims=True) * u
    # a natural direction along the line itself leaves the circle's start open: take any normal
    spare = np.cross(u, np.where(np.abs(u[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]))
    w0 = _unit(np.where(np.linalg.norm(w0, axis=-1, keepdims=True) > 1e-6, w0, spare))
    w = np.cos(swivel)[:, None] * w0 + np.sin(swivel)[:, None] * np.cross(u, w0)
    return shoulder + a[:, None] * u + h[:, None] * w, shoulder + d[:, None] * u


class Reached(NamedTuple):
    """What :func:`reach_targets` made."""

    positions: np.ndarray  #: (N, J, 3) the new poses; poses and arms not moved copied exactly
    moved: np.ndarray  #: (N, 2) bool, which arms (right, left) reached their target
    angles: dict[str, np.ndarray]  #: every angle (N,) radians of the poses made, where an arm moved (else NaN)


def reach_targets(
    rng: np.random.Generator,
    positions: np.ndarray,
    skeleton: Skeleton,
    probability: float,
    weights: Mapping[str, float],
    offset_sd_m: float = 0.05,
    swivel_deg: float = 45.0,
) -> Reached:
    """Move hands to targets on or around the body.

    Args:
        rng: the random stream; the draws do not depend on the poses' values, only on their
            number.
        positions: (N, J, 3) metres, any right-handed frame; ``skeleton`` must have the root
            first, hips, thorax, shoulders, elbows and wrists (and any joint a weighted target
            names).
        skeleton: their layout.
        probability: per arm and pose, the chance that the hand reaches for a target.
        weights: target name (:data:`TARGETS`) → relative weight; names left out are not drawn.
        offset_sd_m: standard deviation (m) of the isotropic offset of a landmark target: a hand
            rests on a body part's surface, not at its joint centre.
        swivel_deg: the elbow's turn about the shoulder–hand line, U(−swivel, swivel) degrees from
            its natural direction (down, outward and back).

    Returns:
        :class:`Reached`: the new poses, which arms reached their target, and the angles the
        range-of-motion check read from the poses made (the caller need not read them again).

    Raises:
        ValueError: a target name not in :data:`TARGETS`, or no target with a positive weight.
    """
    unknown = sorted(set(weights) - set(TARGETS))
    if unknown:
        raise ValueError(f"hand targets: unknown {unknown}; expected some of {list(TARGETS)}")
    names = [t for t in TARGETS if weights.get(t, 0.0) > 0]
    if not names:
        raise ValueError("hand targets: expected at least one target with a positive weight")
    p = np.asarray(positions, dtype=np.float64)
    n = p.shape[0]
    prob = np.array([weights[t] for t in names], dtype=np.float64)
    kinds_of = np.array([TARGETS.index(t) for t in names])
    axes = _body_axes(p, skeleton)
    right, forward, up = axes
    rest = default_rest_offsets(skeleton)
    out = p.copy()
    moved = np.zeros((n, 2), dtype=bool)
    angles: dict[str, np.ndarray] = {}
    for col, side in enumerate(("right", "left")):
        take = np.less(rng.random(n), probability)
        kinds = kinds_of[rng.choice(len(names), size=n, p=prob / prob.sum())]
        swivel = np.deg2rad(rng.uniform(-swivel_deg, swivel_deg, n))
        arm_prefixes = (f"{side}_shoulder", f"{side}_elbow", f"{side}_wrist", f"{side}_forearm")
        s, e, w = (skeleton.index(f"{side}_{j}") for j in ("shoulder", "elbow", "wrist"))
        upper = np.linalg.norm(p[:, e] - p[:, s], axis=-1)
        fore = np.linalg.norm(p[:, w] - p[:, e], axis=-1)
        target = _target_points(rng, p, skeleton, side, kinds, upper + fore, axes, offset_sd_m)
        if not take.any():
            continue
        outward = right if side == "right" else -right
        natural = -up + 0.6 * outward - 0.3 * forward
        hand = descendants(skeleton, w)
        pending = np.flatnonzero(take)
        # the elbow's place on its circle: the wanted swivel first, then ever farther turns
        # (a few at a time, for the arms not placed yet); the first that keeps the arm in its
        # range of motion is taken
        for turns in np.array_split(_TURNS, 4):
            if not len(pending):
                break
            k, m = len(turns), len(pending)
            rep = np.tile(pending, k)  # turn-major
            elbow, wrist = _two_bone(p[rep, s], target[rep], upper[rep], fore[rep], natural[rep],
                                     (swivel[pending][None, :] + turns[:, None]).ravel())  # fmt: skip
            new = out[rep]
            if hand.any():  # the hand's joints turn with the forearm and follow the wrist
                q = rot.quat_between(_unit(new[:, w] - new[:, e]), _unit(wrist - elbow))
                new[:, hand] = rot.quat_apply(q[:, None], new[:, hand] - new[:, w, None]) + wrist[:, None]
            new[:, e], new[:, w] = elbow, wrist
            local, _ = inverse_kinematics(new, skeleton, rest)
            read = angles_from_local(local, skeleton, rest)
            # only this arm's angles judge it: the rest of the pose is the caller's
            arm = {name: v for name, v in read.items() if name.startswith(arm_prefixes)}
            ok = (~out_of_range(arm, skeleton, tol=1e-9)).reshape(k, m)
            first = np.argmax(ok, axis=0)
            found = ok[first, np.arange(m)]
            pick = (first * m + np.arange(m))[found]
            out[pending[found]] = new[pick]
            moved[pending[found], col] = True
            # the left arm's passes start from the poses the right arm's made: theirs are final
            for name, v in read.items():
                angles.setdefault(name, np.full(n, np.nan))[pending[found]] = v[pick]
            pending = pending[~found]
    return Reached(out, moved, angles)
