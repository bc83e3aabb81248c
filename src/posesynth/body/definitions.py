"""Keypoint definitions: where a detector's (or a data set's) Human3.6M-17 joints sit.

posesynth's joints are the joint centres of its body model (hip joint centres, ankle and
wrist joints, head top). A detector's keypoints are elsewhere: BlazePose's and COCO's hips are
higher and wider than the hip joint centres, their shoulders sit on the shoulder's outline, and
a "ground truth" triangulated from such a detector carries the same definition. A
:class:`KeypointDefinition` says where, as one offset per joint in a frame of the body:

* ``pelvis`` frame (root, hips, knees, feet, spine): ``right`` = from the left to the right hip,
  ``up`` = from the root towards the thorax (made orthogonal to ``right``), ``forward`` =
  ``up × right``;
* ``thorax`` frame (thorax, neck base, head, shoulders, elbows, wrists): ``right`` = from the
  left to the right shoulder, ``up`` = from the spine joint towards the thorax.

Offsets are (right, forward, up) fractions of body height (so they scale with the body); a
left joint's ``right`` component is mirrored from what is given for it, so a symmetric
definition lists the same numbers on both sides. The frames are built from the pose itself, so
the same offsets apply in the world frame and in any camera frame (both right-handed).

:func:`apply_definition` moves poses into a definition (for synthesising 2D — and 3D where the
user asks — the way a detector reports it); :func:`fit_definition` estimates the offsets that
take one set of poses to another (the mean residual in the body frames), e.g. a lifter's
predictions to a detector-based ground truth, to measure how much of an error is definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from posesynth.body.anthropometry import LIMB_PROPORTIONS, PROPORTION_NAMES, default_proportions
from posesynth.body.skeleton import H36M17
from posesynth.util.checks import check_finite, check_shape

__all__ = [
    "DEFINITIONS",
    "KeypointDefinition",
    "apply_definition",
    "body_frames",
    "fit_definition",
    "get_definition",
    "offset_joints",
    "random_offsets",
]

_PELVIS_JOINTS = ("root", "right_hip", "right_knee", "right_foot", "left_hip", "left_knee", "left_foot", "spine")
_J = {n: i for i, n in enumerate(H36M17.joint_names)}
_LEFT = np.array([n.startswith("left_") for n in H36M17.joint_names])
_FRAME_OF = np.array([0 if n in _PELVIS_JOINTS else 1 for n in H36M17.joint_names])  # 0 pelvis, 1 thorax


@dataclass(frozen=True)
class KeypointDefinition:
    """Per-joint offsets from posesynth's joint centres (see the module docstring).

    Attributes:
        name: the definition's name (said in reports: which definition a model outputs).
        offsets: joint name → (right, forward, up), fractions of body height, in the joint's
            body frame; a left joint's ``right`` is mirrored. Joints not listed: no offset.
        source: where the numbers come from.
    """

    name: str
    offsets: Mapping[str, tuple[float, float, float]] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.offsets) - set(_J))
        if unknown:
            raise ValueError(
                f"keypoint definition {self.name!r}: unknown joints {unknown}; expected Human3.6M-17 names"
            )
        if "root" in self.offsets and any(np.asarray(self.offsets["root"]) != 0):
            raise ValueError(f"keypoint definition {self.name!r}: the root is the reference; expected no root offset")

    def table(self) -> np.ndarray:
        """``(17, 3)`` offsets (right, forward, up), fractions of height, left sides mirrored."""
        out = np.zeros((17, 3))
        for name, off in self.offsets.items():
            out[_J[name]] = off
        out[_LEFT, 0] *= -1.0
        return out


#: Named definitions. ``h36m`` is posesynth's own (no offset).
DEFINITIONS: dict[str, KeypointDefinition] = {
    "h36m": KeypointDefinition("h36m", {}, "posesynth's joint centres, as Human3.6M's"),
}


def get_definition(name: str | KeypointDefinition) -> KeypointDefinition:
    """A definition by name (or itself); unknown names raise ``ValueError`` listing the known ones."""
    if isinstance(name, KeypointDefinition):
        return name
    if name not in DEFINITIONS:
        raise ValueError(f"keypoint definition: unknown {name!r}; expected one of {sorted(DEFINITIONS)}")
    return DEFINITIONS[name]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def body_frames(positions: np.ndarray) -> np.ndarray:
    """The pelvis and thorax frames of Human3.6M-17 poses.

    Args:
        positions: ``(..., 17, 3)`` metres, any right-handed frame (world or camera).

    Returns:
        ``(..., 2, 3, 3)`` rotation matrices (pelvis, thorax) whose columns are the (right,
        forward, up) axes in the input's frame.
    """
    p = check_shape(positions, (17, 3), "positions")
    frames = []
    for left, right, low, high in (
        ("left_hip", "right_hip", "root", "thorax"),
        ("left_shoulder", "right_shoulder", "spine", "thorax"),
    ):
        x = _unit(p[..., _J[right], :] - p[..., _J[left], :])
        up = p[..., _J[high], :] - p[..., _J[low], :]
        z = _unit(up - np.sum(up * x, axis=-1, keepdims=True) * x)
        y = np.cross(z, x)
        frames.append(np.stack([x, y, z], axis=-1))
    return np.stack(frames, axis=-3)


def estimate_height(positions: np.ndarray) -> np.ndarray:
    """Body height ``(...)`` metres of ``(..., 17, 3)`` poses from their limb bones (least squares
    against :mod:`~posesynth.body.anthropometry`'s default proportions)."""
    props = default_proportions()
    child = np.array([_J[n] for n in LIMB_PROPORTIONS])
    frac = np.array([props[PROPORTION_NAMES.index(b)] for b in LIMB_PROPORTIONS.values()])
    lengths = np.linalg.norm(positions[..., child, :] - positions[..., H36M17.parents_array[child], :], axis=-1)
    return lengths @ frac / (frac @ frac)


def apply_definition(
    positions: np.ndarray, definition: str | KeypointDefinition, heights: np.ndarray | None = None
) -> np.ndarray:
    """Poses moved into ``definition``.

    Args:
        positions: ``(..., 17, 3)`` metres, posesynth's joint centres, any right-handed frame.
        definition: a name of :data:`DEFINITIONS` or a :class:`KeypointDefinition`.
        heights: ``(...)`` metres; default: estimated from the limb bones.

    Returns:
        ``(..., 17, 3)`` metres, same frame: every joint plus its offset turned into the input's
        frame by its body frame (computed from the input pose) and scaled by the height; the
        root (the hips' midpoint in every definition) moves by the mean of the hips' offsets.
    """
    positions = check_finite(check_shape(positions, (17, 3), "positions"), "positions")
    table = get_definition(definition).table()
    if not table.any():
        return positions.copy()
    return offset_joints(positions, table, heights)


def offset_joints(positions: np.ndarray, offsets: np.ndarray, heights: np.ndarray | None = None) -> np.ndarray:
    """Poses with every joint moved by its offset in its body frame.

    Args:
        positions: ``(..., 17, 3)`` metres, posesynth's joint centres, any right-handed frame.
        offsets: ``(..., 17, 3)`` (right, forward, up) fractions of body height, broadcast against
            the poses (one table for all, or one per pose), left sides already mirrored (as
            :meth:`KeypointDefinition.table` and :func:`random_offsets` give them).
        heights: ``(...)`` metres; default: estimated from the limb bones.

    Returns:
        ``(..., 17, 3)`` metres, same frame; the root (the hips' midpoint in every definition)
        moves by the mean of the hips' offsets, whatever its own row says.
    """
    h = estimate_height(positions) if heights is None else np.asarray(heights, np.float64)
    frames = body_frames(positions)[..., _FRAME_OF, :, :]  # (..., 17, 3, 3)
    delta = np.einsum("...jab,...jb->...ja", frames, offsets) * h[..., None, None]
    # the root is the midpoint of the hips in both definitions: it moves with them
    delta[..., 0, :] = 0.5 * (delta[..., _J["right_hip"], :] + delta[..., _J["left_hip"], :])
    return positions + delta


#: The limbs' end joints (elbows, wrists, knees, feet): where detectors' keypoints and joint
#: centres agree best, and where a moved keypoint changes a short bone's length the most.
LIMB_ENDS: tuple[str, ...] = tuple(f"{s}_{j}" for s in ("right", "left") for j in ("elbow", "wrist", "knee", "foot"))


#: Forearms and shanks: bones whose ends (elbow and wrist, knee and ankle) detectors place
#: about where the joint centres are, so a new definition barely changes their length.
DISTAL_BONES: tuple[tuple[str, str], ...] = tuple(
    (f"{s}_{a}", f"{s}_{b}") for s in ("right", "left") for a, b in (("elbow", "wrist"), ("knee", "foot"))
)


def keep_lengths(
    moved: np.ndarray, original: np.ndarray, bones: tuple[tuple[str, str], ...] = DISTAL_BONES
) -> np.ndarray:
    """``moved`` poses whose ``bones`` have their length in ``original`` again.

    Args:
        moved: ``(..., 17, 3)`` metres, Human3.6M-17 keypoints in some definition.
        original: ``(..., 17, 3)`` the same poses before they were moved (their bone lengths).
        bones: (parent, child) joint names; each child is put back on the line from its
            (moved) parent through its moved position, at the original length. A bone whose
            moved length is 0 keeps its moved child.

    Returns:
        ``(..., 17, 3)``: a new array; the joints not named as a child are ``moved``'s.
    """
    out = np.array(moved, dtype=np.float64, copy=True)
    for parent, child in bones:
        a, b = _J[parent], _J[child]
        d = out[..., b, :] - out[..., a, :]
        n = np.linalg.norm(d, axis=-1, keepdims=True)
        length = np.linalg.norm(original[..., b, :] - original[..., a, :], axis=-1, keepdims=True)
        out[..., b, :] = np.where(n > 0, out[..., a, :] + d * (length / np.where(n > 0, n, 1.0)), out[..., b, :])
    return out


def random_offsets(
    rng: np.random.Generator, n: int, sigma: float, side_correlation: float = 0.8, limb_factor: float = 1.0
) -> np.ndarray:
    """``n`` random keypoint definitions: offset tables for :func:`offset_joints`.

    Detectors and data sets place the same named keypoint centimetres apart (hips over the
    trochanters or at the joint centres, shoulders on the outline or at the joint, ...). A
    lifter trained on one definition reads another as a different posture: narrower hips in
    2D as a turned pelvis, shorter thighs as a hip flexed towards the camera. Training on
    poses whose keypoints are moved by a fresh random definition per sample, in 2D and 3D
    alike, teaches it to follow where the 2D keypoints are rather than where the body
    model would put them (issue 17; docs/real-people.md).

    Args:
        rng: the random generator.
        n: definitions to draw.
        sigma: standard deviation of every offset component (right, forward, up), a fraction
            of body height (0.015 is 2.5 cm at 1.70 m); 0 gives zeros.
        side_correlation: correlation between a left joint's offset and its right partner's
            mirrored offset (definitions are mostly symmetric); each keeps ``sigma``.
        limb_factor: the offsets of :data:`LIMB_ENDS` scaled by it (the same draws): detectors
            disagree with joint centres mostly at the hips, shoulders and head, and a wrist
            moved by centimetres makes a 26 cm forearm read as pointing towards or away from
            the camera (docs/real-people.md, round 12).

    Returns:
        ``(n, 17, 3)`` float64, left sides mirrored; the root row is 0.
    """
    if not (sigma >= 0 and np.isfinite(sigma)):
        raise ValueError(f"keypoint jitter sigma: expected a finite value >= 0, got {sigma}")
    if not -1.0 <= side_correlation <= 1.0:
        raise ValueError(f"side_correlation: expected within [-1, 1], got {side_correlation}")
    if not (limb_factor >= 0 and np.isfinite(limb_factor)):
        raise ValueError(f"limb_factor: expected a finite value >= 0, got {limb_factor}")
    own = rng.normal(0.0, sigma, (n, 17, 3))
    left = np.flatnonzero(_LEFT)
    right = np.array([_J["right_" + H36M17.joint_names[i][len("left_") :]] for i in left])
    rho = side_correlation
    own[:, left] = rho * own[:, right] + np.sqrt(1.0 - rho * rho) * own[:, left]
    own[:, 0] = 0.0
    own[:, _LEFT, 0] *= -1.0
    if limb_factor != 1.0:
        own[:, [_J[j] for j in LIMB_ENDS]] *= limb_factor
    return own


def fit_definition(
    positions: np.ndarray,
    targets: np.ndarray,
    name: str,
    *,
    symmetric: bool = True,
    source: str = "",
    ridge: float = 0.0,
) -> KeypointDefinition:
    """The offsets that best take ``positions`` to ``targets`` (least squares in the body frames).

    The residuals are root-relative, and the root follows the hips (as in
    :func:`apply_definition`), so the model fitted is ``targets - positions = Δ_j - Δ_root``
    with ``Δ_j`` the joint's offset turned by its body frame and scaled by the height.

    Args:
        positions: ``(N, 17, 3)`` metres, the poses to move (e.g. a lifter's predictions),
            root-relative, any right-handed frame.
        targets: ``(N, 17, 3)`` metres, same frame (e.g. a detector-based ground truth).
        name: the new definition's name.
        symmetric: average each left/right pair (mirrored) into one offset.
        ridge: weight of a penalty on the offsets' size (per sample, in units of the mean
            height²): 0 for plain least squares.

    Returns:
        A :class:`KeypointDefinition`; the root's offset is 0 (poses are root-relative).
    """
    positions = check_finite(check_shape(positions, (17, 3), "positions"), "positions")
    targets = check_finite(check_shape(targets, (17, 3), "targets"), "targets")
    if positions.shape != targets.shape or positions.ndim != 3 or len(positions) == 0:
        raise ValueError(
            f"fit_definition: expected two (N, 17, 3) arrays with N > 0, got {positions.shape} and {targets.shape}"
        )
    frames = body_frames(positions)[:, _FRAME_OF]  # (N, 17, 3, 3)
    h = estimate_height(positions)
    sign = np.where(_LEFT[:, None], [-1.0, 1.0, 1.0], 1.0)  # (17, 3): left rows mirrored
    # Root-relative residual of joint j = Δ_j − Δ_root, Δ_root = mean of the hips' Δ (the root
    # follows them, as in apply_definition); Δ_j = h F_j (sign_j ⊙ θ_j): linear in θ.
    own = np.einsum("n,njab,jb->njab", h, frames, sign)  # (N, 17, 3 coords, 3 components)
    hips = [_J["right_hip"], _J["left_hip"]]
    a = np.zeros((len(h), 16, 3, 17, 3))  # (sample, joint 1..16, coord, parameter joint, component)
    for j in range(1, 17):
        a[:, j - 1, :, j, :] = own[:, j]
    a[:, :, :, hips, :] -= 0.5 * own[:, None, hips].transpose(0, 1, 3, 2, 4)
    groups = [[i] for i in range(1, 17) if not H36M17.joint_names[i].startswith(("left_", "right_"))]
    for i, n in enumerate(H36M17.joint_names):
        if n.startswith("right_"):
            k = _J["left_" + n[len("right_") :]]
            groups += [[i, k]] if symmetric else [[i], [k]]
    design = np.stack([a[..., g, :].sum(axis=-2) for g in groups], axis=-2)  # (N, 16, 3, G, 3)
    rhs = (targets - positions)[:, 1:].reshape(-1)
    design = design.reshape(len(rhs), -1)
    # Root-relative data barely see an offset shared by every joint (the root moves with it):
    # a small ridge keeps that direction at 0 instead of letting noise blow it up.
    k = design.shape[1]
    damp = np.sqrt(ridge * len(positions)) * np.mean(h) * np.eye(k)
    theta = np.linalg.lstsq(np.vstack([design, damp]), np.concatenate([rhs, np.zeros(k)]), rcond=None)[0]
    theta = theta.reshape(len(groups), 3)
    mean = np.zeros((17, 3))
    for g, t in zip(groups, theta, strict=True):
        mean[g] = t
    offsets = {
        n: (float(mean[i, 0]), float(mean[i, 1]), float(mean[i, 2])) for i, n in enumerate(H36M17.joint_names) if i
    }
    return KeypointDefinition(name, offsets, source)
