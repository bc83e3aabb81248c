"""Scores on the pseudo ground truth: lifters from BlazePose 2D and from ideal 2D, BlazePose's 3D.

A sample is one person in one frame seen by one view, kept where the pseudo ground truth has
all 17 joints and the *detector* (not a guided region) found the person in that view. On the
same samples:

- each lifter from that view's BlazePose 2D (MediaPipe-33 mapped to Human3.6M-17), px;
- each lifter from the pseudo ground truth projected into that view ("ideal 2D"), px;
- BlazePose's own world landmarks, mapped to Human3.6M-17.

Every 3D pose is compared in the view's camera frame (OpenCV axes), root-relative, metres;
errors are reported in mm (:mod:`posesynth.lift.metrics`): P-MPJPE (similarity-aligned),
MPJPE (root-aligned), PCK3D at 150 mm (root-aligned, non-root joints), per body part.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from posesynth.apps.realbench.pseudo_gt import PersonData
from posesynth.body.skeleton import H36M17
from posesynth.lift.metrics import (
    PCK_THRESHOLD_M,
    body_parts,
    joint_errors,
    procrustes_errors,
)

__all__ = ["BLAZEPOSE", "INPUTS", "LifterLike", "ModelScore", "Scores", "sample_mask", "score_models"]

#: Model name of BlazePose's own world landmarks.
BLAZEPOSE = "blazepose_world"
#: Inputs of the lifters: the detector's 2D, the pseudo ground truth projected.
INPUTS = ("blazepose_2d", "ideal_2d")
#: What each kind of model outputs (said in every report).
LIFTER_DEFINITION = (
    "Human3.6M-17 as posesynth synthesises it (joint centres of posesynth's body model: hip "
    "joint centres, foot = ankle joint, head = head top); the shipped lifters were trained with "
    "each sample's keypoints moved by a random definition (sd 3 % of height, 1.8 % at the elbows, "
    "wrists, knees and ankles; 2D and 3D alike), "
    "so they follow the definition of their 2D input"
)
BLAZEPOSE_DEFINITION = "BlazePose world landmarks mapped to Human3.6M-17 (the ground truth's mapping)"


class LifterLike(Protocol):
    """Anything with :meth:`posesynth.lift.Lifter.predict`'s contract."""

    def predict(self, joints_2d: np.ndarray) -> np.ndarray:
        """``(N, 17, 2)`` px -> ``(N, 17, 3)`` m, camera axes, root-relative."""
        ...


@dataclass(frozen=True)
class Scores:
    """Errors of one model on a set of samples (mm; fractions for PCK).

    Attributes:
        samples: poses scored.
        p_mpjpe_mm, mpjpe_mm: mean over samples and joints.
        pck3d_150: fraction of non-root joint errors (root-aligned) under 150 mm.
        p_mpjpe_by_part_mm, mpjpe_by_part_mm: ``legs``, ``trunk_head``, ``arms`` (root left out).
    """

    samples: int
    p_mpjpe_mm: float
    mpjpe_mm: float
    pck3d_150: float
    p_mpjpe_by_part_mm: dict[str, float]
    mpjpe_by_part_mm: dict[str, float]


@dataclass(frozen=True)
class ModelScore:
    """One model on one input.

    Attributes:
        model: lifter name, or ``blazepose_world``.
        input: ``blazepose_2d`` or ``ideal_2d`` for lifters; ``image`` for BlazePose (its own 3D from the image).
        keypoints: the keypoint definition the model outputs.
        overall: over every sample.
        per_view: camera name -> scores of its samples.
        per_person: ``"0"``, ``"1"``, ... -> scores of that person's samples.
        p_mpjpe_ratio: ``overall.p_mpjpe_mm`` / BlazePose world's, same samples.
        mpjpe_ratio: the same for MPJPE.
    """

    model: str
    input: str
    keypoints: str
    overall: Scores
    per_view: dict[str, Scores]
    per_person: dict[str, Scores]
    p_mpjpe_ratio: float
    mpjpe_ratio: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def sample_mask(data: PersonData) -> np.ndarray:
    """``(P, F, V)`` bool: the samples scored (see the module docstring)."""
    gt_ok = np.isfinite(data.points_world).all(axis=(-1, -2))[:, :, None]
    det_ok = np.isfinite(data.blazepose_2d()).all(axis=(-1, -2))
    world_ok = np.isfinite(data.blazepose_world()).all(axis=(-1, -2))
    return gt_ok & det_ok & world_ok


def _scores(pa: np.ndarray, root: np.ndarray) -> Scores:
    """``pa``, ``root``: (N, 17) per-joint errors in metres (aligned / root-aligned)."""
    parts = body_parts(H36M17)
    return Scores(
        samples=len(pa),
        p_mpjpe_mm=float(pa.mean() * 1000.0),
        mpjpe_mm=float(root.mean() * 1000.0),
        pck3d_150=float((root[:, 1:] < PCK_THRESHOLD_M).mean()),
        p_mpjpe_by_part_mm={k: float(pa[:, idx].mean() * 1000.0) for k, idx in parts.items()},
        mpjpe_by_part_mm={k: float(root[:, idx].mean() * 1000.0) for k, idx in parts.items()},
    )


def _model_score(
    model: str,
    inp: str,
    keypoints: str,
    pred: np.ndarray,
    gt: np.ndarray,
    view: np.ndarray,
    person: np.ndarray,
    names: list[str],
    reference: Scores | None,
) -> ModelScore:
    pa = procrustes_errors(pred, gt)
    root = joint_errors(pred, gt)
    overall = _scores(pa, root)
    per_view = {names[i]: _scores(pa[view == i], root[view == i]) for i in range(len(names)) if (view == i).any()}
    per_person = {str(p): _scores(pa[person == p], root[person == p]) for p in np.unique(person)}
    ref = reference or overall
    return ModelScore(
        model=model,
        input=inp,
        keypoints=keypoints,
        overall=overall,
        per_view=per_view,
        per_person=per_person,
        p_mpjpe_ratio=overall.p_mpjpe_mm / ref.p_mpjpe_mm if ref.p_mpjpe_mm > 0 else float("nan"),
        mpjpe_ratio=overall.mpjpe_mm / ref.mpjpe_mm if ref.mpjpe_mm > 0 else float("nan"),
    )


def score_models(data: PersonData, lifters: Mapping[str, LifterLike]) -> list[ModelScore]:
    """Score BlazePose's world landmarks and every lifter on both inputs.

    Args:
        data: the benchmark's :class:`PersonData`.
        lifters: name -> lifter (``predict((N, 17, 2) px) -> (N, 17, 3) m``).

    Returns:
        BlazePose first, then per lifter its ``blazepose_2d`` and ``ideal_2d`` rows.

    Raises:
        ValueError: no sample to score (no person triangulated and detected).
    """
    mask = sample_mask(data)
    if not mask.any():
        raise ValueError("real benchmark: no person was both triangulated and detected; nothing to score")
    person, _, view = np.nonzero(mask)
    names = [str(n) for n in data.camera_names]
    gt = data.ground_truth_camera()[mask]
    inputs = {"blazepose_2d": data.blazepose_2d()[mask], "ideal_2d": data.ideal_2d()[mask]}
    ref = _model_score(
        BLAZEPOSE,
        "image",
        BLAZEPOSE_DEFINITION,
        data.blazepose_world()[mask],
        gt,
        view,
        person,
        names,
        None,
    )
    rows = [ref]
    for name, lifter in lifters.items():
        for inp in INPUTS:
            pred = np.asarray(lifter.predict(inputs[inp]), np.float64)
            if pred.shape != gt.shape:
                raise ValueError(f"lifter {name!r}: expected predictions of shape {gt.shape}, got {pred.shape}")
            rows.append(_model_score(name, inp, LIFTER_DEFINITION, pred, gt, view, person, names, ref.overall))
    return rows
