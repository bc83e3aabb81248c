"""Keypoint layouts and the mappings between them, as data.

A mapping from layout ``src`` (``J_in`` joints) to layout ``dst`` (``J_out`` joints) is a
weight matrix ``W`` of shape ``(J_out, J_in)`` with ``out = W @ in`` per coordinate, plus a
boolean ``defined`` mask ``(J_out,)``. A row with one weight 1 copies a joint; a row with
several weights (summing to 1, an affine combination) derives a joint, e.g. the pelvis as
the mean of the hips. Rows of joints that cannot be derived are all zero and
``defined`` is False there: :func:`convert_keypoints` returns NaN for them, with
visibility 0. A derived joint's visibility is the minimum over its sources.

Layouts (:func:`keypoint_layout_names`, :func:`layout_joint_names`):

``h36m17``
    Human3.6M-17, MMPose / VideoPose3D order (``posesynth.body.skeleton.H36M17``). ``head`` is
    the head end-site of Human3.6M's mocap skeleton, usually called the head top; it lies
    a few centimetres under the vertex. ``neck_base`` is the mocap ``Head`` joint (top of
    the neck, ~chin level), the one some tools call "nose". ``*_foot`` is the ankle.
``h36m_extended``
    Human3.6M-17 followed by toes, heels, hand tips, thumb tips, nose, eyes and ears
    (``posesynth.body.skeleton.H36M_EXTENDED``).
``h36m32``
    The raw 32-joint Human3.6M mocap layout, names from its metadata in snake case
    (``Site`` end-points named after their parent). Note its ``left_shoulder`` is the
    clavicle: the shoulder joint is ``left_arm``, the elbow ``left_fore_arm``, the wrist
    ``left_hand``. H36M-17 keeps ``[0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]``.
``coco17``
    COCO keypoints (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles).
``mpii16``
    MPII Human Pose: right_ankle, right_knee, right_hip, left_hip, left_knee, left_ankle,
    pelvis, thorax, upper_neck, head_top, right_wrist, right_elbow, right_shoulder,
    left_shoulder, left_elbow, left_wrist.
``mediapipe33``
    MediaPipe / BlazePose 33 landmarks in ``PoseLandmark`` order. Its ``*_index`` and
    ``*_pinky`` landmarks are the first knuckles of those fingers and ``*_thumb`` a thumb
    knuckle, not fingertips; ``*_foot_index`` is the tip of the foot.

Approximations made when deriving Human3.6M joints (each mapping's ``notes`` repeats the
ones it uses):

- ``root`` = mean of the hips; ``thorax`` = mean of the shoulders (exact for posesynth's
  bodies, where hips and shoulders are symmetric about root and thorax);
  ``spine`` = mean of root and thorax (exact only with an unbent spine).
- From COCO / MediaPipe, ``neck_base`` = 0.4 thorax + 0.15 nose + 0.45 ear midpoint and
  ``head`` = -0.8 nose + 1.1 eye midpoint + 0.7 ear midpoint. Both are affine combinations
  fitted to posesynth's rest geometry (``posesynth.body.anthropometry``); ``head`` uses face
  points only, so it follows head rotations rigidly. They reproduce the rest pose within
  3 mm; away from rest they are approximations. MMPose's own COCO→H36M conversion uses
  ``neck_base`` = nose and ``head`` = eye midpoint instead; to feed an imported MMPose
  checkpoint use :func:`mmpose_coco17_to_h36m17`.
- From MPII, ``neck_base`` = ``upper_neck`` and ``head`` = ``head_top``.
- From MediaPipe, ``big_toe`` = ``foot_index`` (the foot tip, between big and second toe),
  ``small_toe`` is undefined, ``hand_tip`` = index knuckle + pinky knuckle - wrist (the
  knuckles taken to lie half-way along the hand), ``thumb_tip`` = the thumb landmark
  (a knuckle, short of the tip by about a phalanx).
- COCO, MPII and Human3.6M-17 have no toes, heels, hand or thumb tips; Human3.6M-17 and
  MPII have no face keypoints: those outputs are undefined.

Pairs without a direct table are composed through ``h36m_extended`` or ``h36m17`` when
both legs exist (e.g. ``mpii16`` → ``coco17``); an output is defined only if every
intermediate joint it uses is.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType

import numpy as np

from posesynth.body.skeleton import H36M17, H36M_EXTENDED

__all__ = [
    "H36M32_TO_17",
    "LayoutMapping",
    "apply_mapping",
    "convert_keypoints",
    "keypoint_layout_names",
    "layout_joint_names",
    "mapping",
    "mmpose_coco17_to_h36m17",
    "supported_pairs",
]

_COCO17 = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)

_MPII16 = (
    "right_ankle",
    "right_knee",
    "right_hip",
    "left_hip",
    "left_knee",
    "left_ankle",
    "pelvis",
    "thorax",
    "upper_neck",
    "head_top",
    "right_wrist",
    "right_elbow",
    "right_shoulder",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
)

_MEDIAPIPE33 = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)

_H36M32 = (
    "hips",
    "right_up_leg",
    "right_leg",
    "right_foot",
    "right_toe_base",
    "right_toe_site",
    "left_up_leg",
    "left_leg",
    "left_foot",
    "left_toe_base",
    "left_toe_site",
    "spine",
    "spine1",
    "neck",
    "head",
    "head_site",
    "left_shoulder",
    "left_arm",
    "left_fore_arm",
    "left_hand",
    "left_hand_thumb",
    "left_thumb_site",
    "left_wrist_end",
    "left_wrist_end_site",
    "right_shoulder",
    "right_arm",
    "right_fore_arm",
    "right_hand",
    "right_hand_thumb",
    "right_thumb_site",
    "right_wrist_end",
    "right_wrist_end_site",
)

H36M32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
"""Indices of the raw 32 Human3.6M joints kept, in H36M-17 order."""

_LAYOUTS = MappingProxyType(
    {
        "h36m17": H36M17.joint_names,
        "h36m_extended": H36M_EXTENDED.joint_names,
        "h36m32": _H36M32,
        "coco17": _COCO17,
        "mpii16": _MPII16,
        "mediapipe33": _MEDIAPIPE33,
    }
)


def keypoint_layout_names() -> tuple[str, ...]:
    """Names of the keypoint layouts this module knows."""
    return tuple(_LAYOUTS)


def layout_joint_names(layout: str) -> tuple[str, ...]:
    """Joint names of ``layout`` in array order; ``ValueError`` listing layouts if unknown."""
    try:
        return _LAYOUTS[layout]
    except (KeyError, TypeError):
        raise ValueError(f"unknown keypoint layout {layout!r}; valid layouts are {list(_LAYOUTS)}") from None


# ------------------------------------------------------------------ tables
# Each table maps a destination joint name to a source joint name (copy) or to
# {source name: weight}. Destination joints not listed are undefined.
_Row = str | dict[str, float]

_LIMBS_H36M_FROM_COCO: dict[str, _Row] = {
    "right_hip": "right_hip",
    "right_knee": "right_knee",
    "right_foot": "right_ankle",
    "left_hip": "left_hip",
    "left_knee": "left_knee",
    "left_foot": "left_ankle",
    "left_shoulder": "left_shoulder",
    "left_elbow": "left_elbow",
    "left_wrist": "left_wrist",
    "right_shoulder": "right_shoulder",
    "right_elbow": "right_elbow",
    "right_wrist": "right_wrist",
}

# COCO and MediaPipe share these names for the joints used here.
_H36M17_FROM_COCO_LIKE: dict[str, _Row] = {
    "root": {"left_hip": 0.5, "right_hip": 0.5},
    "spine": {"left_hip": 0.25, "right_hip": 0.25, "left_shoulder": 0.25, "right_shoulder": 0.25},
    "thorax": {"left_shoulder": 0.5, "right_shoulder": 0.5},
    "neck_base": {
        "left_shoulder": 0.2,
        "right_shoulder": 0.2,
        "nose": 0.15,
        "left_ear": 0.225,
        "right_ear": 0.225,
    },
    "head": {
        "nose": -0.8,
        "left_eye": 0.55,
        "right_eye": 0.55,
        "left_ear": 0.35,
        "right_ear": 0.35,
    },
    **_LIMBS_H36M_FROM_COCO,
}

# H36M-17 limb joint -> COCO / MPII name, inverted.
_INV_LIMBS: dict[str, _Row] = {str(v): k for k, v in _LIMBS_H36M_FROM_COCO.items()}

_FACE: dict[str, _Row] = {n: n for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")}

_NOTES_COCO_LIKE = (
    "root = mean of hips; thorax = mean of shoulders; spine = mean of root and thorax; "
    "neck_base = 0.4 thorax + 0.15 nose + 0.45 ear midpoint; "
    "head (head top) = -0.8 nose + 1.1 eye midpoint + 0.7 ear midpoint "
    "(fitted to posesynth's rest geometry, within 3 mm at rest); H36M foot = ankle"
)

_TABLES: MappingProxyType[tuple[str, str], tuple[dict[str, _Row], str]] = MappingProxyType(
    {
        ("coco17", "h36m17"): (_H36M17_FROM_COCO_LIKE, _NOTES_COCO_LIKE),
        ("coco17", "h36m_extended"): (
            {**_H36M17_FROM_COCO_LIKE, **_FACE},
            _NOTES_COCO_LIKE + "; toes, heels, hand and thumb tips undefined",
        ),
        ("h36m17", "coco17"): (
            _INV_LIMBS,
            "limbs copied (H36M foot = ankle); nose, eyes and ears undefined",
        ),
        ("h36m_extended", "coco17"): (
            {**_INV_LIMBS, **_FACE},
            "all copied (H36M foot = ankle)",
        ),
        ("mediapipe33", "coco17"): ({n: n for n in _COCO17}, "the COCO joints picked out"),
        ("mediapipe33", "h36m17"): (_H36M17_FROM_COCO_LIKE, _NOTES_COCO_LIKE),
        ("mediapipe33", "h36m_extended"): (
            {
                **_H36M17_FROM_COCO_LIKE,
                **_FACE,
                "right_big_toe": "right_foot_index",
                "right_heel": "right_heel",
                "left_big_toe": "left_foot_index",
                "left_heel": "left_heel",
                "left_hand_tip": {"left_index": 1.0, "left_pinky": 1.0, "left_wrist": -1.0},
                "left_thumb_tip": "left_thumb",
                "right_hand_tip": {"right_index": 1.0, "right_pinky": 1.0, "right_wrist": -1.0},
                "right_thumb_tip": "right_thumb",
            },
            _NOTES_COCO_LIKE + "; big_toe = foot_index (foot tip); small_toe undefined; "
            "hand_tip = index knuckle + pinky knuckle - wrist (knuckles at half the hand); "
            "thumb_tip = thumb landmark (a knuckle)",
        ),
        ("mpii16", "h36m17"): (
            {
                "root": "pelvis",
                "spine": {"pelvis": 0.5, "thorax": 0.5},
                "thorax": "thorax",
                "neck_base": "upper_neck",
                "head": "head_top",
                **_LIMBS_H36M_FROM_COCO,  # MPII names its limb joints as COCO does
            },
            "root = pelvis; spine = mean of pelvis and thorax; neck_base = upper_neck; "
            "head = head_top; H36M foot = ankle",
        ),
        ("h36m17", "mpii16"): (
            {
                "pelvis": "root",
                "thorax": "thorax",
                "upper_neck": "neck_base",
                "head_top": "head",
                **_INV_LIMBS,
            },
            "pelvis = root; upper_neck = neck_base; head_top = head; ankle = H36M foot",
        ),
        ("h36m32", "h36m17"): (
            {H36M17.joint_names[i]: _H36M32[k] for i, k in enumerate(H36M32_TO_17)},
            "keeps raw joints [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]",
        ),
        ("h36m17", "h36m32"): (
            {_H36M32[k]: H36M17.joint_names[i] for i, k in enumerate(H36M32_TO_17)},
            "fills the 17 kept raw joints; the other 15 (toes, sites, clavicles, thumbs, "
            "wrist ends, spine base) are undefined",
        ),
        ("h36m_extended", "h36m17"): ({n: n for n in H36M17.joint_names}, "the first 17 joints"),
        ("h36m17", "h36m_extended"): (
            {n: n for n in H36M17.joint_names},
            "the first 17 joints; toes, heels, hand and thumb tips, face undefined",
        ),
    }
)


_HUBS = ("h36m_extended", "h36m17")


@dataclass(frozen=True, eq=False)
class LayoutMapping:
    """A keypoint mapping ``src`` → ``dst`` as data.

    Attributes:
        weights: read-only ``(J_out, J_in)`` float64; ``out = weights @ in``.
        defined: read-only ``(J_out,)`` bool; False where ``dst`` joints cannot be derived.
        src, dst: layout names.
        notes: the approximations this mapping makes.
    """

    weights: np.ndarray
    defined: np.ndarray
    src: str
    dst: str
    notes: str

    @cached_property
    def padded_sources(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(order, weights, used)``, each ``(J_out, K)``: per output joint its K source
        indices and their weights, padded with weight 0 (``used`` False), K the most sources
        any output joint has. Made once per mapping, not per :func:`apply_mapping` call."""
        w = self.weights
        k = max(1, int((w != 0).sum(axis=1).max()))
        order = np.argsort(w == 0, axis=1, kind="stable")[:, :k]
        wk = np.take_along_axis(w, order, axis=1)
        return order, wk, wk != 0

    def __post_init__(self) -> None:
        w = np.asarray(self.weights)
        d = np.asarray(self.defined)
        if w.ndim != 2:
            raise ValueError(f"LayoutMapping.weights: expected shape (J_out, J_in), got {w.shape}")
        if d.shape != (w.shape[0],) or d.dtype != bool:
            raise ValueError(
                f"LayoutMapping.defined: expected a bool array of shape ({w.shape[0]},), got {d.dtype} {d.shape}"
            )

    @property
    def src_joint_names(self) -> tuple[str, ...]:
        return layout_joint_names(self.src)

    @property
    def dst_joint_names(self) -> tuple[str, ...]:
        return layout_joint_names(self.dst)

    def sources(self, joint: str) -> dict[str, float]:
        """The source joints and weights of output ``joint`` (empty if undefined)."""
        names = self.dst_joint_names
        if joint not in names:
            raise ValueError(f"layout {self.dst!r} has no joint {joint!r}; valid names are {list(names)}")
        row = self.weights[names.index(joint)]
        return {self.src_joint_names[k]: float(row[k]) for k in np.flatnonzero(row)}


def _frozen(weights: np.ndarray, src: str, dst: str, notes: str) -> LayoutMapping:
    weights = np.where(np.abs(weights) < 1e-12, 0.0, weights).astype(np.float64)
    defined = np.any(weights != 0.0, axis=1)
    weights.setflags(write=False)
    defined.setflags(write=False)
    return LayoutMapping(weights=weights, defined=defined, src=src, dst=dst, notes=notes)


def _table_matrix(table: dict[str, _Row], src: str, dst: str) -> np.ndarray:
    src_names, dst_names = _LAYOUTS[src], _LAYOUTS[dst]
    w = np.zeros((len(dst_names), len(src_names)))
    for out_name, row in table.items():
        i = dst_names.index(out_name)
        for in_name, weight in ({row: 1.0} if isinstance(row, str) else row).items():
            w[i, src_names.index(in_name)] += weight
    return w


def _from_table(src: str, dst: str) -> LayoutMapping:
    table, notes = _TABLES[(src, dst)]
    return _frozen(_table_matrix(table, src, dst), src, dst, notes)


def supported_pairs() -> tuple[tuple[str, str], ...]:
    """Every ``(src, dst)`` pair :func:`mapping` accepts (direct, composed or identity)."""
    pairs = set(_TABLES)
    for hub in _HUBS:
        pairs |= {(a, d) for (a, b) in _TABLES if b == hub for (c, d) in _TABLES if c == hub}
    pairs |= {(n, n) for n in _LAYOUTS}
    return tuple(sorted(pairs))


def mapping(src: str, dst: str) -> LayoutMapping:
    """The mapping from layout ``src`` to layout ``dst``.

    Direct tables are used where they exist; other pairs are composed through
    ``h36m_extended`` or ``h36m17``. ``ValueError`` for unknown layouts or pairs, listing
    what is supported.
    """
    layout_joint_names(src)
    layout_joint_names(dst)
    if src == dst:
        return _frozen(np.eye(len(_LAYOUTS[src])), src, dst, "identity")
    if (src, dst) in _TABLES:
        return _from_table(src, dst)
    for hub in _HUBS:
        if (src, hub) in _TABLES and (hub, dst) in _TABLES:
            first, second = _from_table(src, hub), _from_table(hub, dst)
            w = second.weights @ first.weights
            # An output is defined only if every intermediate joint it uses is defined.
            uses_undefined = (second.weights != 0) & ~first.defined[None, :]
            w[uses_undefined.any(axis=1)] = 0.0
            return _frozen(w, src, dst, f"via {hub}: {first.notes}; then {second.notes}")
    raise ValueError(f"no keypoint mapping from {src!r} to {dst!r}; supported pairs are {list(supported_pairs())}")


def mmpose_coco17_to_h36m17() -> LayoutMapping:
    """COCO-17 → H36M-17 as MMPose's lifting demos convert it (for MMPose checkpoints).

    Same as ``mapping("coco17", "h36m17")`` except ``neck_base`` = nose and ``head`` = mean
    of the eyes (MMPose ``body3d_pose_lifter_demo``); pass it to :func:`convert_keypoints`
    to :func:`apply_mapping`.
    """
    table = {
        **_H36M17_FROM_COCO_LIKE,
        "neck_base": "nose",
        "head": {"left_eye": 0.5, "right_eye": 0.5},
    }
    return _frozen(
        _table_matrix(table, "coco17", "h36m17"),
        "coco17",
        "h36m17",
        "MMPose convention: root = mean of hips; thorax = mean of shoulders; spine = mean of "
        "root and thorax; neck_base = nose; head = eye midpoint; H36M foot = ankle",
    )


def convert_keypoints(
    points: np.ndarray,
    src: str,
    dst: str,
    visibility: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Convert keypoints from layout ``src`` to ``dst`` (``apply_mapping(mapping(src, dst), ...)``).

    Args:
        points: ``(..., J_in, D)`` with ``D`` = 2 (pixels or any 2D unit) or 3 (metres or any
            3D unit); the unit and frame are kept. Any leading dimensions.
        src, dst: layout names (:func:`keypoint_layout_names`).
        visibility: ``(..., J_in)`` visibility or confidence, broadcastable to
            ``points.shape[:-1]``; ``None`` means 1 where the point is finite, else 0.

    Returns:
        ``(points (..., J_out, D), visibility (..., J_out))``, float64. Undefined outputs
        are NaN with visibility 0; a derived joint's visibility is the minimum of its
        sources'; an output that is not finite gets visibility 0.

    Raises:
        ValueError: unknown layouts or pair; ``J_in`` not the joint count of ``src``
            (the message names the layout, expected and received count); ``D`` not 2 or 3;
            visibility of the wrong shape.
    """
    return apply_mapping(mapping(src, dst), points, visibility)


def apply_mapping(
    m: LayoutMapping, points: np.ndarray, visibility: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Apply mapping ``m`` to ``points (..., J_in, D)``; see :func:`convert_keypoints`."""
    if not isinstance(m, LayoutMapping):
        raise ValueError(f"m: expected a LayoutMapping, got {type(m).__name__}")
    src = m.src
    j_in = m.weights.shape[1]
    arr = np.asarray(points)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"points: expected a numeric array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim < 2 or arr.shape[-2] != j_in:
        got = arr.shape[-2] if arr.ndim >= 2 else "no joint axis"
        raise ValueError(
            f"points: layout {src!r} expects {j_in} joints, received {got} "
            f"(expected shape (..., {j_in}, D), got {arr.shape})"
        )
    if arr.shape[-1] not in (2, 3):
        raise ValueError(f"points: expected D = 2 or 3 in shape (..., {j_in}, D), got {arr.shape}")
    if visibility is None:
        vis = np.isfinite(arr).all(axis=-1).astype(np.float64)
    else:
        vis = np.asarray(visibility, dtype=np.float64)
        if vis.ndim >= 1 and vis.shape[-1] != j_in:
            raise ValueError(
                f"visibility: layout {src!r} expects {j_in} joints, received {vis.shape[-1]} "
                f"(expected shape {arr.shape[:-1]}, got {vis.shape})"
            )
        try:
            vis = np.broadcast_to(vis, arr.shape[:-1])
        except ValueError:
            raise ValueError(
                f"visibility: expected shape {arr.shape[:-1]} (or broadcastable), got {vis.shape}"
            ) from None

    order, wk, used = m.padded_sources
    gathered = arr[..., order, :]  # (..., J_out, K, D)
    with np.errstate(invalid="ignore"):  # inf * 0 in padded slots, discarded by the where
        out = np.where(used[..., None], gathered * wk[..., None], 0.0).sum(axis=-2)
    out[..., ~m.defined, :] = np.nan

    vis_g = vis[..., order]  # (..., J_out, K)
    vis_out = np.where(used, vis_g, np.inf).min(axis=-1)
    vis_out = np.where(m.defined & np.isfinite(out).all(axis=-1), vis_out, 0.0)
    return out, vis_out
