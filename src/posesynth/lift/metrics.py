"""3D pose metrics, NumPy only (no torch): MPJPE and its aligned variants, PCK3D, AUC, bones.

Every error function takes predicted and ground-truth joints ``(..., J, 3)`` in one unit
(metres inside the library) and returns errors in that same unit; :func:`lift_metrics`
turns them into the reported figures, in millimetres (CONVENTIONS.md, "Metrics").

Definitions (as in the Human3.6M literature, e.g. VideoPose3D and MMPose):

* **MPJPE** (protocol 1): both poses root-aligned (joint 0 subtracted), mean Euclidean
  distance over all ``J`` joints, the root included (its error is 0 by construction, as in
  Human3.6M's 17-joint protocol).
* **P-MPJPE** (protocol 2): per sample, the prediction is aligned to the ground truth by the
  similarity transform (rotation, translation and uniform scale; no reflection) minimising
  the squared error (Umeyama's closed form via a 3 × 3 SVD), then MPJPE.
* **N-MPJPE** (Rhodin et al. 2018): both root-aligned, the prediction scaled by the
  least-squares factor ``s = Σ p·g / Σ p·p``, then MPJPE.
* **PCK3D** at ``t``: the fraction of joint errors (root-aligned) *strictly below* ``t``,
  over the non-root joints (the root's error is 0 by construction and would inflate it).
* **AUC**: the mean PCK3D over ``AUC_THRESHOLDS_M`` (0, 5, ..., 150 mm: 31 thresholds).
* **Bone-length error**: mean absolute difference of bone lengths, over bones and samples.
* **MPJPE by body part**: MPJPE over the joints of one part (:func:`body_parts`: legs, trunk
  and head, arms), the root left out. It tells depth-ambiguous limbs apart from the rest:
  a forearm seen end-on in 2D may point towards or away from the camera.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from posesynth.body.skeleton import Skeleton
from posesynth.util.checks import check_shape

__all__ = [
    "AUC_THRESHOLDS_M",
    "KNEE_BIN_EDGES_DEG",
    "KNEE_BIN_LABELS",
    "PCK_THRESHOLD_M",
    "auc",
    "body_parts",
    "bone_length_error",
    "by_body_part",
    "by_knee_flexion",
    "joint_errors",
    "lift_metrics",
    "mpjpe",
    "n_mpjpe",
    "p_mpjpe",
    "pck",
    "procrustes_align",
    "procrustes_errors",
    "scale_align",
    "scaled_errors",
]

PCK_THRESHOLD_M = 0.150
#: 0, 5, ..., 150 mm (31 thresholds), in metres.
AUC_THRESHOLDS_M = np.linspace(0.0, 0.150, 31)
#: Knee-flexion bins: [0, 30), [30, 60), ..., [120, 150), [150, ∞) degrees; flexion below 0
#: (hyperextension) falls in the first bin.
KNEE_BIN_EDGES_DEG = (30.0, 60.0, 90.0, 120.0, 150.0)
KNEE_BIN_LABELS = ("0-30", "30-60", "60-90", "90-120", "120-150", "150+")


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = check_shape(pred, (None, 3), "pred")
    gt = check_shape(gt, (None, 3), "gt")
    if pred.shape != gt.shape:
        raise ValueError(f"pred: expected the shape of gt {gt.shape}, got {pred.shape}")
    return pred.astype(np.float64, copy=False), gt.astype(np.float64, copy=False)


def _root_aligned(p: np.ndarray) -> np.ndarray:
    return p - p[..., :1, :]


# ---------------------------------------------------------------------------------- alignments


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``pred`` (..., J, 3) moved onto ``gt`` (..., J, 3) by the best similarity transform.

    Per pose: ``s R p + t`` with ``R`` a proper rotation (det +1), ``s >= 0`` and ``t``
    minimising the summed squared distance to ``gt`` (Umeyama 1991). A prediction with all
    joints at one point gets ``s = 0`` (every joint at the ground truth's centroid).
    """
    pred, gt = _pair(pred, gt)
    mu_p = pred.mean(axis=-2, keepdims=True)
    mu_g = gt.mean(axis=-2, keepdims=True)
    p0, g0 = pred - mu_p, gt - mu_g
    h = np.swapaxes(g0, -1, -2) @ p0  # (..., 3, 3) = Σ_j g_j p_jᵀ
    u, sv, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(u @ vt))
    d = np.where(d == 0, 1.0, d)
    sv = sv.copy()
    sv[..., -1] *= d
    u = u.copy()
    u[..., :, -1] *= d[..., None]
    r = u @ vt  # (..., 3, 3), proper rotation
    var_p = (p0**2).sum(axis=(-1, -2))
    trace = sv.sum(axis=-1)
    s = np.divide(trace, var_p, out=np.zeros_like(trace), where=var_p > 0)
    return s[..., None, None] * (p0 @ np.swapaxes(r, -1, -2)) + mu_g


def scale_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Root-aligned ``pred`` (..., J, 3) scaled by the least-squares factor onto root-aligned ``gt``.

    Returns the scaled prediction, root at the origin; ``s = Σ p·g / Σ p·p`` per pose (0 for a
    prediction with every joint at the root).
    """
    pred, gt = _pair(pred, gt)
    p, g = _root_aligned(pred), _root_aligned(gt)
    num = (p * g).sum(axis=(-1, -2))
    den = (p * p).sum(axis=(-1, -2))
    s = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return s[..., None, None] * p


# ------------------------------------------------------------------------- per-joint errors


def joint_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Root-aligned Euclidean error per joint, (..., J), in the unit of the inputs (..., J, 3)."""
    pred, gt = _pair(pred, gt)
    return np.linalg.norm(_root_aligned(pred) - _root_aligned(gt), axis=-1)


def procrustes_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-joint error (..., J) after :func:`procrustes_align`, in the unit of the inputs."""
    pred, gt = _pair(pred, gt)
    return np.linalg.norm(procrustes_align(pred, gt) - gt, axis=-1)


def scaled_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-joint error (..., J) after :func:`scale_align`, in the unit of the inputs."""
    pred, gt = _pair(pred, gt)
    return np.linalg.norm(scale_align(pred, gt) - _root_aligned(gt), axis=-1)


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean root-aligned joint error over all poses and joints (root included), input unit."""
    return float(joint_errors(pred, gt).mean())


def p_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean joint error after per-pose similarity Procrustes alignment, input unit."""
    return float(procrustes_errors(pred, gt).mean())


def n_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean joint error after per-pose least-squares scale alignment (root-aligned), input unit."""
    return float(scaled_errors(pred, gt).mean())


def pck(errors: np.ndarray, threshold: float = PCK_THRESHOLD_M) -> float:
    """The fraction of ``errors`` (any shape, one unit with ``threshold``) strictly below ``threshold``."""
    errors = np.asarray(errors, dtype=np.float64)
    if errors.size == 0:
        raise ValueError("errors: expected at least one error, got an empty array")
    return float((errors < threshold).mean())


def auc(errors: np.ndarray, thresholds: Sequence[float] | np.ndarray = AUC_THRESHOLDS_M) -> float:
    """The mean of :func:`pck` over ``thresholds`` (default 0..150 mm in 31 steps, metres)."""
    errors = np.asarray(errors, dtype=np.float64)
    thr = np.asarray(thresholds, dtype=np.float64)
    if errors.size == 0 or thr.size == 0:
        raise ValueError(f"auc: expected errors and thresholds, got {errors.size} and {thr.size}")
    return float((errors.reshape(-1)[None, :] < thr.reshape(-1)[:, None]).mean())


#: Joint-name suffixes of each body part (a joint belongs to the first part it matches).
_PART_SUFFIXES = {
    "legs": ("_hip", "_knee", "_foot", "_toe", "_heel"),
    "arms": ("_elbow", "_wrist", "_hand_tip", "_thumb_tip"),
}


def body_parts(skeleton: Skeleton) -> dict[str, list[int]]:
    """Joint indices of each body part: ``legs`` (hips, knees, ankles, feet), ``arms``
    (elbows, wrists, hands) and ``trunk_head`` (every other joint but the root: spine,
    thorax, neck, head, shoulders, face)."""
    parts: dict[str, list[int]] = {"legs": [], "trunk_head": [], "arms": []}
    for j, name in enumerate(skeleton.joint_names[1:], start=1):
        part = next((p for p, ends in _PART_SUFFIXES.items() if name.endswith(ends)), "trunk_head")
        parts[part].append(j)
    return parts


def by_body_part(errors: np.ndarray, skeleton: Skeleton) -> dict[str, float]:
    """Mean error of each body part (:func:`body_parts`) of per-joint ``errors`` (..., J).

    Parts without a joint in ``skeleton`` are left out.
    """
    errors = check_shape(errors, (skeleton.num_joints,), "errors")
    return {part: float(errors[..., idx].mean()) for part, idx in body_parts(skeleton).items() if idx}


def bone_length_error(pred: np.ndarray, gt: np.ndarray, parents: Sequence[int] | np.ndarray) -> float:
    """Mean |length(pred bone) − length(gt bone)| over every bone and pose, input unit.

    ``parents`` (J,) gives each joint's parent (−1 for the root); one bone per non-root joint.
    """
    pred, gt = _pair(pred, gt)
    parents = np.asarray(parents, dtype=np.int64)
    if parents.shape != pred.shape[-2:-1]:
        raise ValueError(f"parents: expected one per joint ({pred.shape[-2]}), got {parents.shape}")
    child = np.flatnonzero(parents >= 0)
    if child.size == 0:
        raise ValueError("parents: expected at least one bone, got only roots")

    def lengths(p: np.ndarray) -> np.ndarray:
        return np.linalg.norm(p[..., child, :] - p[..., parents[child], :], axis=-1)

    return float(np.abs(lengths(pred) - lengths(gt)).mean())


# ------------------------------------------------------------------------------ summaries


def by_knee_flexion(
    gt: np.ndarray, pose_errors: np.ndarray, knee_errors: dict[str, np.ndarray], skeleton: Skeleton
) -> dict[str, dict[str, Any]]:
    """Errors binned by the ground truth's knee flexion, per leg.

    Each leg of each pose enters the bin of its own knee flexion (from
    :func:`posesynth.body.angles.pose_angles` on ``gt``), so a pose counts twice, once per leg, and
    ``samples`` counts legs. Per bin: ``mpjpe_mm`` is the mean pose MPJPE of those entries and
    ``knee_mm`` the mean error of that leg's own knee. Legs whose angle cannot be computed
    (non-finite) are left out. Empty bins have ``samples`` 0 and ``None`` errors.

    Args:
        gt: (N, J, 3) ground-truth poses, metres, any frame.
        pose_errors: (N,) pose MPJPE in mm.
        knee_errors: ``{"left": (N,), "right": (N,)}`` knee error in mm.
        skeleton: the skeleton of ``gt`` (needs ``left_knee`` / ``right_knee``).
    """
    from posesynth.body.angles import pose_angles

    with np.errstate(all="ignore"):
        angles = pose_angles(gt, skeleton)
    values: list[np.ndarray] = []
    pose: list[np.ndarray] = []
    knee: list[np.ndarray] = []
    for side in ("left", "right"):
        flex = np.rad2deg(np.asarray(angles[f"{side}_knee_flexion"], dtype=np.float64))
        ok = np.isfinite(flex)
        values.append(flex[ok])
        pose.append(pose_errors[ok])
        knee.append(knee_errors[side][ok])
    flex_all, pose_all, knee_all = (np.concatenate(v) for v in (values, pose, knee))
    bins = np.digitize(flex_all, KNEE_BIN_EDGES_DEG)
    out: dict[str, dict[str, Any]] = {}
    for b, label in enumerate(KNEE_BIN_LABELS):
        m = bins == b
        n = int(m.sum())
        out[label] = {
            "samples": n,
            "mpjpe_mm": float(pose_all[m].mean()) if n else None,
            "knee_mm": float(knee_all[m].mean()) if n else None,
        }
    return out


def lift_metrics(pred: np.ndarray, gt: np.ndarray, skeleton: Skeleton) -> dict[str, Any]:
    """Every reported metric of predictions ``pred`` against ``gt``, both (N, J, 3) metres.

    Returns a JSON-ready dict, errors in millimetres: ``samples``, ``mpjpe_mm``,
    ``p_mpjpe_mm``, ``n_mpjpe_mm``, ``pck3d_150`` (fraction), ``auc`` (fraction),
    ``bone_length_error_mm``, ``per_joint_mpjpe_mm`` (joint name → mm),
    ``by_body_part_mm`` (see :func:`by_body_part`) and
    ``by_knee_flexion`` (see :func:`by_knee_flexion`; absent without both knees).
    """
    pred, gt = _pair(pred, gt)
    if pred.ndim != 3 or pred.shape[1] != skeleton.num_joints:
        raise ValueError(
            f"pred: expected shape (N, {skeleton.num_joints}, 3) for skeleton {skeleton.name!r}, got {pred.shape}"
        )
    if len(pred) == 0:
        raise ValueError("pred: expected at least one pose, got none")
    err = joint_errors(pred, gt) * 1000.0  # (N, J) mm
    non_root = err[:, 1:]
    doc: dict[str, Any] = {
        "samples": len(pred),
        "mpjpe_mm": float(err.mean()),
        "p_mpjpe_mm": float(procrustes_errors(pred, gt).mean() * 1000.0),
        "n_mpjpe_mm": float(scaled_errors(pred, gt).mean() * 1000.0),
        "pck3d_150": pck(non_root, PCK_THRESHOLD_M * 1000.0),
        "auc": auc(non_root, AUC_THRESHOLDS_M * 1000.0),
        "bone_length_error_mm": bone_length_error(pred, gt, skeleton.parents) * 1000.0,
        "per_joint_mpjpe_mm": {name: float(v) for name, v in zip(skeleton.joint_names, err.mean(axis=0), strict=True)},
        "by_body_part_mm": by_body_part(err, skeleton),
    }
    if {"left_knee", "right_knee"} <= set(skeleton.joint_names):
        knees = {side: err[:, skeleton.index(f"{side}_knee")] for side in ("left", "right")}
        doc["by_knee_flexion"] = by_knee_flexion(gt, err.mean(axis=1), knees, skeleton)
    return doc
