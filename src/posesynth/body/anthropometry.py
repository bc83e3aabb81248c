"""Bone geometry from body height: segment proportions and the rest pose.

Source of the proportions
-------------------------
Segment lengths as fractions of body height ``H`` from Drillis & Contini (1966), *Body
Segment Parameters*, Technical Report 1166.03, New York University, as reproduced in
D. A. Winter, *Biomechanics and Motor Control of Human Movement*, 4th ed., Wiley, 2009,
Fig. 4.1. The figure gives standing landmark heights (shoulder 0.818 H, hip — greater
trochanter — 0.530 H, knee 0.285 H, ankle 0.039 H) and lengths/widths, among them upper
arm 0.186 H, forearm 0.146 H, hand 0.108 H, thigh 0.245 H, shank 0.246 H, foot length
0.152 H, foot width 0.055 H, shoulder width 0.259 H, hip width 0.191 H and head (vertex to
chin) 0.130 H.

The figure measures between surface landmarks (acromion, greater trochanter, outer
shoulder breadth). Human3.6M's joints are joint centres of a mocap skeleton, so a few
defaults below differ from the figure, each on purpose, so that a 1.70 m body gets bones
like Human3.6M's (hip half-width ≈ 0.13 m, root→spine and spine→thorax ≈ 0.23–0.26 m,
thorax→neck_base ≈ 0.10–0.12 m, neck_base→head ≈ 0.11 m, thorax→shoulder ≈ 0.15 m,
upper arm ≈ 0.28 m, forearm ≈ 0.25 m); the legs keep the figure's values (0.42 m each):

==================  ========  ==========  ===================================================
parameter           default   Fig. 4.1    note (all are fractions of H)
==================  ========  ==========  ===================================================
hip_width           0.156     0.191       between hip joint centres; the figure's breadth is
                                          over the trochanters (0.82 x figure)
thigh               0.245     0.245       hip (0.530 H) to knee (0.285 H)
shank               0.246     0.246       knee to ankle (0.039 H)
ankle_height        0.039     0.039       ankle joint above the floor
foot_length         0.152     0.152       heel to toe tip
foot_width          0.055     0.055
lower_trunk         0.144     0.288 / 2   root→spine: half of hip (0.530) to shoulder (0.818)
upper_trunk         0.144     0.288 / 2   spine→thorax, the other half
neck                0.062     --          thorax→neck_base (Human3.6M-like, ≈0.10 m at 1.70)
head                0.068     --          neck_base→head joint (Human3.6M-like, ≈0.11 m)
head_size           0.130     0.130       vertex to chin; scales the face keypoints
shoulder_width      0.176     0.259       between shoulder joint centres; the figure's is the
                                          outer shoulder breadth (0.68 x figure)
upper_arm           0.166     0.186       the figure measures from the acromion, about
                                          0.02 H above the glenohumeral joint centre
forearm             0.146     0.146
hand                0.108     0.108       wrist to middle fingertip
thumb               0.065     --          wrist to thumb tip (model choice, ≈0.11 m)
==================  ========  ==========  ===================================================

With these values the hip joints stand at 0.530 H, the thorax and shoulders at 0.818 H
(the figure's shoulder level) and Human3.6M's head joint at about 0.947 H: like Human3.6M's
head end-site it sits a few centimetres under the vertex. The toe, heel and face offsets
use fixed fractions of foot length/width and head size (see ``_joint_geometry``); they are
modelling choices, not table values.

Frames and units
----------------
Body frame: x = the subject's **right**, y = anterior (forward), z = up (right-handed: a
subject facing +y in a Z-up world has their right towards +x); metres. Rest pose:
standing, arms at the sides, palms forward, feet flat, face forward. In the rest pose every
joint frame is aligned with the body frame, so a bone vector "in the parent's frame" is
also a vector in the body frame.
"""

from __future__ import annotations

import functools

import numpy as np

from posesynth.body.skeleton import H36M_EXTENDED, Skeleton
from posesynth.util.checks import check_finite, check_positive, check_shape

__all__ = [
    "LIMB_PROPORTIONS",
    "PROPORTION_NAMES",
    "bone_lengths",
    "default_proportions",
    "proportion_names",
    "rest_offsets",
    "rest_positions",
    "sample_bodies",
    "sampled_rest_offsets",
]

_DEFAULTS: tuple[tuple[str, float], ...] = (
    ("hip_width", 0.156),
    ("thigh", 0.245),
    ("shank", 0.246),
    ("ankle_height", 0.039),
    ("foot_length", 0.152),
    ("foot_width", 0.055),
    ("lower_trunk", 0.144),
    ("upper_trunk", 0.144),
    ("neck", 0.062),
    ("head", 0.068),
    ("head_size", 0.130),
    ("shoulder_width", 0.176),
    ("upper_arm", 0.166),
    ("forearm", 0.146),
    ("hand", 0.108),
    ("thumb", 0.065),
)

PROPORTION_NAMES: tuple[str, ...] = tuple(n for n, _ in _DEFAULTS)

#: Human3.6M-17 limb joints -> the proportion of the bone that ends there (its parent's segment):
#: what estimates a body's height from its limbs, or scales offsets by them.
LIMB_PROPORTIONS: dict[str, str] = {
    "right_knee": "thigh",
    "left_knee": "thigh",
    "right_foot": "shank",
    "left_foot": "shank",
    "right_elbow": "upper_arm",
    "left_elbow": "upper_arm",
    "right_wrist": "forearm",
    "left_wrist": "forearm",
}
"""Names of the ``P`` proportion parameters, in the order of the last axis of
``proportions`` arrays."""

_P = len(PROPORTION_NAMES)
_PIDX = {n: i for i, n in enumerate(PROPORTION_NAMES)}


def proportion_names() -> tuple[str, ...]:
    """Names of the proportion parameters (the ``P`` axis), see :data:`PROPORTION_NAMES`."""
    return PROPORTION_NAMES


def default_proportions() -> np.ndarray:
    """Default proportions ``(P,)``, fractions of body height (a fresh array)."""
    return np.array([v for _, v in _DEFAULTS], dtype=np.float64)


_Vec3 = tuple[float, float, float]
# joint name -> (parent name, ((proportion name, direction), ...))
_Geometry = dict[str, tuple[str | None, tuple[tuple[str, _Vec3], ...]]]


def _unit(x: float, y: float, z: float) -> _Vec3:
    n = float(np.sqrt(x * x + y * y + z * z))
    return (x / n, y / n, z / n)


def _joint_geometry() -> _Geometry:
    """Rest bone vector of every known joint, from its H36M_EXTENDED parent.

    Each entry is ``name -> (parent name, ((parameter, direction), ...))``; the bone
    vector is ``H * sum(proportion[parameter] * direction)``. ``s = +1`` on the right,
    ``-1`` on the left (x points to the subject's right), so ``s * x`` is lateral.
    """
    down = (0.0, 0.0, -1.0)
    up = (0.0, 0.0, 1.0)
    g: _Geometry = {
        "root": (None, ()),
        "spine": ("root", (("lower_trunk", up),)),
        "thorax": ("spine", (("upper_trunk", up),)),
        # neck_base sits above and slightly in front of the thorax.
        "neck_base": ("thorax", (("neck", _unit(0.0, 0.2, 1.0)),)),
        "head": ("neck_base", (("head", up),)),
        # Face, relative to the head joint, in units of head size (vertex to chin).
        "nose": ("head", (("head_size", (0.0, 0.45, -0.27)),)),
    }
    for side, s in (("right", 1.0), ("left", -1.0)):
        g[f"{side}_hip"] = ("root", (("hip_width", (0.5 * s, 0.0, 0.0)),))
        g[f"{side}_knee"] = (f"{side}_hip", (("thigh", down),))
        g[f"{side}_foot"] = (f"{side}_knee", (("shank", down),))
        g[f"{side}_shoulder"] = ("thorax", (("shoulder_width", (0.5 * s, 0.0, 0.0)),))
        g[f"{side}_elbow"] = (f"{side}_shoulder", (("upper_arm", down),))
        g[f"{side}_wrist"] = (f"{side}_elbow", (("forearm", down),))
        g[f"{side}_hand_tip"] = (f"{side}_wrist", (("hand", down),))
        # Palms forward: the thumb points away from the body, forward and down.
        g[f"{side}_thumb_tip"] = (f"{side}_wrist", (("thumb", _unit(0.45 * s, 0.30, -0.84)),))
        # Foot keypoints lie on the floor (feet flat): the ankle is ankle_height above it,
        # 0.22 of the foot length in front of the back of the heel; the big toe is medial,
        # the small toe lateral and shorter.
        g[f"{side}_heel"] = (
            f"{side}_foot",
            (("foot_length", (0.0, -0.22, 0.0)), ("ankle_height", down)),
        )
        g[f"{side}_big_toe"] = (
            f"{side}_foot",
            (
                ("foot_length", (0.0, 0.78, 0.0)),
                ("foot_width", (-0.30 * s, 0.0, 0.0)),
                ("ankle_height", down),
            ),
        )
        g[f"{side}_small_toe"] = (
            f"{side}_foot",
            (
                ("foot_length", (0.0, 0.58, 0.0)),
                ("foot_width", (0.45 * s, 0.0, 0.0)),
                ("ankle_height", down),
            ),
        )
        g[f"{side}_eye"] = ("head", (("head_size", (0.14 * s, 0.36, -0.085)),))
        g[f"{side}_ear"] = ("head", (("head_size", (0.34 * s, -0.045, -0.18)),))
    return g


def _position_basis() -> tuple[dict[str, int], np.ndarray]:
    """Rest positions of all known joints relative to the root, as a linear map.

    Returns ``(index by name, B)`` with ``B`` of shape ``(J_known, P, 3)``: the rest
    position of joint ``j`` is ``H * proportions @ B[j]``. Built from H36M_EXTENDED's tree.
    """
    geo = _joint_geometry()
    names = H36M_EXTENDED.joint_names
    if set(names) != set(geo):  # internal consistency, cannot be triggered by callers
        raise RuntimeError("anthropometry geometry does not cover H36M_EXTENDED")
    offsets = np.zeros((len(names), _P, 3))
    for j, n in enumerate(names):
        parent, terms = geo[n]
        expected_parent = names[H36M_EXTENDED.parents[j]] if j else None
        if parent != expected_parent:
            raise RuntimeError(f"anthropometry geometry: {n} parent {parent} != {expected_parent}")
        for pname, vec in terms:
            offsets[j, _PIDX[pname]] += vec
    pos = np.zeros_like(offsets)
    for j in range(1, len(names)):
        pos[j] = pos[H36M_EXTENDED.parents[j]] + offsets[j]
    pos.setflags(write=False)
    return {n: i for i, n in enumerate(names)}, pos


_KNOWN_INDEX, _POSITION_BASIS = _position_basis()
# Height of the head joint above the floor per unit proportion, to keep stature fixed
# when proportions vary: root height (ankle_height + shank + thigh) plus the head's z.
_HEAD_HEIGHT_COEF = _POSITION_BASIS[_KNOWN_INDEX["head"], :, 2].copy()
_HEAD_HEIGHT_COEF[[_PIDX["ankle_height"], _PIDX["shank"], _PIDX["thigh"]]] += 1.0


def _skeleton_basis(skeleton: Skeleton) -> np.ndarray:
    """``(J, P, 3)`` basis of the skeleton's rest bone vectors (root row zero)."""
    if not isinstance(skeleton, Skeleton):
        raise ValueError(f"skeleton: expected a Skeleton, got {type(skeleton).__name__}")
    unknown = [n for n in skeleton.joint_names if n not in _KNOWN_INDEX]
    if unknown:
        raise ValueError(
            f"skeleton {skeleton.name!r}: no rest geometry for joint(s) {unknown}; known joints "
            f"are those of h36m_extended: {list(H36M_EXTENDED.joint_names)}"
        )
    idx = np.array([_KNOWN_INDEX[n] for n in skeleton.joint_names], dtype=np.int64)
    pos = _POSITION_BASIS[idx]
    basis = np.zeros_like(pos)
    par = skeleton.parents_array
    basis[1:] = pos[1:] - pos[par[1:]]
    return basis


def _prepare(height_m: np.ndarray | float, proportions: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    height = check_positive(np.asarray(height_m, dtype=np.float64), "height_m")
    if proportions is None:
        props = default_proportions()
    else:
        props = check_shape(proportions, [_P], "proportions")
        check_positive(props, "proportions")
    return height, props


def rest_offsets(skeleton: Skeleton, height_m: np.ndarray | float, proportions: np.ndarray | None = None) -> np.ndarray:
    """Rest bone vectors: each joint's offset from its parent, in metres.

    Args:
        skeleton: a skeleton whose joint names all belong to ``h36m_extended`` (any
            subset or re-parenting of it works); otherwise ``ValueError`` naming the joints.
        height_m: body height ``(...,)`` in metres, finite and > 0.
        proportions: ``(..., P)`` fractions of height in :data:`PROPORTION_NAMES` order,
            finite and > 0; ``None`` uses :func:`default_proportions`. Leading dimensions
            broadcast with ``height_m``.

    Returns:
        ``(..., J, 3)`` float64: the vector from each joint's parent to the joint, in the
        parent's frame at anatomical rest (equal to the body frame: x right, y forward,
        z up). Row 0 (the root) is zero.
    """
    height, props = _prepare(height_m, proportions)
    return sampled_rest_offsets(skeleton, height, props)


def sampled_rest_offsets(skeleton: Skeleton, heights: np.ndarray, proportions: np.ndarray) -> np.ndarray:
    """:func:`rest_offsets` ``(..., J, 3)`` of bodies from :func:`sample_bodies` (float64 heights
    ``(...,)`` and proportions ``(..., P)``, finite and > 0 by construction), without checking
    them again: the generator's hot path. The same values as :func:`rest_offsets`."""
    if not isinstance(skeleton, Skeleton):
        _skeleton_basis(skeleton)  # raises its ValueError (the cache below would hash it first)
    flat_basis = _flat_basis(skeleton)
    J = flat_basis.shape[1] // 3
    # one matrix product (BLAS) instead of einsum: this runs for every generated sample; the
    # heights multiplied in place (h * x == x * h in IEEE arithmetic: the same values)
    flat = proportions @ flat_basis
    offsets = flat.reshape(flat.shape[:-1] + (J, 3))
    if offsets.shape[:-2] != np.shape(heights):  # the leading dims broadcast: a new array
        return heights[..., None, None] * offsets
    offsets *= heights[..., None, None]
    return offsets


@functools.lru_cache(maxsize=64)
def _flat_basis(skeleton: Skeleton) -> np.ndarray:
    """``(P, J * 3)`` the skeleton's basis (:func:`_skeleton_basis`) as the matrix
    :func:`rest_offsets` multiplies by (cached per skeleton, read-only)."""
    basis = _skeleton_basis(skeleton)
    flat = basis.transpose(1, 0, 2).reshape(_P, basis.shape[0] * 3)
    flat.setflags(write=False)
    return flat


def rest_positions(
    skeleton: Skeleton, height_m: np.ndarray | float, proportions: np.ndarray | None = None
) -> np.ndarray:
    """Rest joint positions ``(..., J, 3)`` in the body frame, metres, root at the origin.

    Same arguments as :func:`rest_offsets`. The floor is at
    ``z = -(ankle_height + shank + thigh) * height`` (the feet's keypoints lie on it).
    """
    height, props = _prepare(height_m, proportions)
    _skeleton_basis(skeleton)  # validates the joint names
    idx = np.array([_KNOWN_INDEX[n] for n in skeleton.joint_names], dtype=np.int64)
    pos = _POSITION_BASIS[idx] - _POSITION_BASIS[idx[0]]
    return height[..., None, None] * np.einsum("...p,jpd->...jd", props, pos)


def bone_lengths(offsets: np.ndarray) -> np.ndarray:
    """Bone lengths ``(..., J)`` from bone vectors ``(..., J, 3)`` (root row gives 0)."""
    arr = check_shape(offsets, [None, 3], "offsets")
    return np.linalg.norm(arr, axis=-1)


def _truncated_normal_ppf(u: np.ndarray, a: float, b: float) -> np.ndarray:
    """Inverse CDF of the standard normal truncated to [a, b] at probabilities ``u``.

    Same values as ``scipy.stats.truncnorm.ppf`` for the moderate bounds used here, at a
    fraction of its cost (it sits on the generator's hot path).
    """
    # imported here: scipy.special costs 0.15-0.5 s at start-up, and only body sampling uses it
    from scipy.special import ndtr, ndtri

    lo, hi = ndtr(a), ndtr(b)
    # in place: the same operations as ``clip(ndtri(lo + u * (hi - lo)), a, b)``, without
    # three temporaries as large as ``u`` (a quarter of the bodies' time at 16 per sample)
    p = np.multiply(u, hi - lo)
    p += lo
    ndtri(p, out=p)
    return np.clip(p, a, b, out=p)


def sample_bodies(
    rng: np.random.Generator,
    n: int,
    height_mean: float = 1.70,
    height_sd: float = 0.09,
    height_range: tuple[float, float] = (1.45, 2.05),
    variation: float = 0.04,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``n`` bodies: heights and per-segment proportions.

    Heights (metres) follow a normal distribution ``N(height_mean, height_sd)`` truncated
    to ``height_range``. Each proportion is the default times ``exp(variation * z)`` with
    ``z`` a standard normal truncated to ``[-2.5, 2.5]`` (a truncated log-normal factor,
    ``variation`` ≈ relative standard deviation). One factor per segment serves both sides,
    so bodies stay left/right symmetric. Finally each body's proportions are rescaled
    together so that the head joint stands at the same fraction of height as with the
    defaults: ``height`` keeps meaning standing height.

    Args:
        rng: the random generator (the only source of randomness; same state, same output).
        n: number of bodies, >= 0.
        height_mean, height_sd: metres; ``height_sd >= 0`` (0 gives ``height_mean``).
        height_range: ``(low, high)`` metres, ``0 < low <= height_mean <= high``.
        variation: >= 0; 0 gives the default proportions for everyone.

    Returns:
        ``(heights (n,), proportions (n, P))``, float64.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n: expected an integer >= 0, got {n!r}")
    lo, hi = (float(v) for v in height_range)
    check_finite(
        np.array([height_mean, height_sd, lo, hi, variation], dtype=np.float64),
        "sample_bodies arguments",
    )
    if not 0 < lo <= height_mean <= hi:
        raise ValueError(
            f"height_range/height_mean: expected 0 < low <= mean <= high, got range ({lo}, {hi}) and mean {height_mean}"
        )
    if height_sd < 0:
        raise ValueError(f"height_sd: expected >= 0, got {height_sd}")
    if variation < 0:
        raise ValueError(f"variation: expected >= 0, got {variation}")
    n = int(n)
    u_height = rng.random(n)
    u_props = rng.random((n, _P))
    if height_sd == 0:
        heights = np.full(n, float(height_mean))
    else:
        a, b = (lo - height_mean) / height_sd, (hi - height_mean) / height_sd
        heights = height_mean + height_sd * _truncated_normal_ppf(u_height, a, b)
        heights = np.clip(heights, lo, hi)
    z = _truncated_normal_ppf(u_props, -2.5, 2.5)
    props = default_proportions() * np.exp(variation * z)
    props *= (_HEAD_HEIGHT_COEF @ default_proportions()) / (props @ _HEAD_HEIGHT_COEF)[:, None]
    return heights, props
