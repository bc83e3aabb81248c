"""From a :class:`~posesynth.data.dataset.PoseDataset` to the arrays a lifter trains and is scored on.

A lifter of this package works on the Human3.6M-17 skeleton. A data set qualifies when its
first 17 joints are H36M17's (same names and parents), so the extended skeleton
(``h36m_extended``) is used through its first 17 joints. It needs 2D keypoints (pixels) and
camera-frame 3D (metres); either is derived from the other arrays and the cameras where the
data set has them (:meth:`PoseDataset.complete`). Visibility is not used: a joint's 2D is
taken as given, occluded or not (its projection exists all the same); samples with NaN/inf
are left out of training and refused by evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from posesynth.body.skeleton import H36M17, Skeleton
from posesynth.data.dataset import PoseDataset

__all__ = ["LiftData", "check_h36m17", "check_joints_2d", "lift_arrays", "provenance"]

NUM_JOINTS = H36M17.num_joints


def check_h36m17(skeleton: Skeleton, what: str = "dataset") -> None:
    """Raise ``ValueError`` unless ``skeleton`` starts with H36M17's 17 joints (names and parents)."""
    ok = (
        skeleton.num_joints >= NUM_JOINTS
        and tuple(skeleton.joint_names[:NUM_JOINTS]) == H36M17.joint_names
        and tuple(skeleton.parents[:NUM_JOINTS]) == H36M17.parents
    )
    if not ok:
        raise ValueError(
            f"{what}: skeleton {skeleton.name!r} ({skeleton.num_joints} joints, starting "
            f"{list(skeleton.joint_names[:3])}) is not Human3.6M-17; expected 'h36m17' or a "
            "skeleton whose first 17 joints are h36m17's (e.g. 'h36m_extended')"
        )


def check_joints_2d(uv_px: np.ndarray, name: str = "joints_2d") -> np.ndarray:
    """``uv_px`` as float64 (N, 17, 2) pixels; ``ValueError`` on another shape, NaN/inf or a
    pose whose joints all sit on one point (no bounding box to scale by)."""
    arr = np.asarray(uv_px)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 3 or arr.shape[1:] != (NUM_JOINTS, 2):
        raise ValueError(f"{name}: expected shape (N, {NUM_JOINTS}, 2) pixels (Human3.6M-17 joints), got {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(arr).all(axis=(1, 2))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}: expected finite 2D keypoints, got NaN/inf in {int(bad.sum())} of {len(arr)} "
            f"poses (first: pose {first}); fill or drop missing joints first"
        )
    flat = np.ptp(arr, axis=1).max(axis=-1) <= 0
    if flat.any():
        raise ValueError(
            f"{name}: {int(flat.sum())} poses have every joint at one point (first: pose "
            f"{int(np.flatnonzero(flat)[0])}); the 2D bounding box needs a positive size"
        )
    return arr


@dataclass(frozen=True, eq=False)
class LiftData:
    """Lifter arrays of one data set.

    Attributes:
        uv_px: (N, 17, 2) float64 2D keypoints, pixels.
        p_cam: (N, 17, 3) float64 camera-frame 3D joints (OpenCV), metres (not root-relative).
        dropped: samples left out for non-finite values or a zero-size 2D box.
        total: samples in the data set.
    """

    uv_px: np.ndarray
    p_cam: np.ndarray
    dropped: int = 0
    total: int = 0

    def __len__(self) -> int:
        return len(self.uv_px)


def lift_arrays(dataset: PoseDataset, *, invalid: Literal["drop", "raise"] = "drop") -> LiftData:
    """The 2D (px) and camera-frame 3D (m) Human3.6M-17 joints of ``dataset``.

    Args:
        dataset: a data set whose skeleton starts with H36M17's joints (see the module
            docstring), with 2D and camera-frame 3D or what derives them.
        invalid: samples with NaN/inf (2D or 3D) or all 2D joints on one point are left out
            and counted (``"drop"``, for training) or raise ``ValueError`` (``"raise"``).

    Raises:
        ValueError: another skeleton, or no 2D / camera-frame 3D to be had.
    """
    check_h36m17(dataset.skeleton)
    ds = dataset
    if ds.joints_2d is None or ds.joints_3d_camera is None:
        ds = ds.complete()
    missing = [n for n in ("joints_2d", "joints_3d_camera") if getattr(ds, n) is None]
    if missing:
        raise ValueError(
            f"dataset: a lifter needs 2D keypoints and camera-frame 3D joints, but {missing} "
            "are missing and cannot be derived (no cameras, or no 3D)"
        )
    assert ds.joints_2d is not None and ds.joints_3d_camera is not None  # checked just above
    uv = np.asarray(ds.joints_2d[:, :NUM_JOINTS], dtype=np.float64)
    p = np.asarray(ds.joints_3d_camera[:, :NUM_JOINTS], dtype=np.float64)
    total = len(uv)
    if invalid == "raise":
        uv = check_joints_2d(uv)
        bad3 = ~np.isfinite(p).all(axis=(1, 2))
        if bad3.any():
            raise ValueError(
                f"joints_3d_camera: expected finite 3D joints, got NaN/inf in {int(bad3.sum())} of "
                f"{total} poses (first: pose {int(np.flatnonzero(bad3)[0])})"
            )
        return LiftData(uv, p, 0, total)
    if invalid != "drop":
        raise ValueError(f"invalid: expected 'drop' or 'raise', got {invalid!r}")
    ok = np.isfinite(uv).all(axis=(1, 2)) & np.isfinite(p).all(axis=(1, 2))
    with np.errstate(invalid="ignore"):
        ok &= np.nan_to_num(np.ptp(uv, axis=1).max(axis=-1)) > 0
    return LiftData(uv[ok], p[ok], int(total - ok.sum()), total)


def provenance(dataset: PoseDataset, path: Path | str | None) -> dict[str, Any]:
    """Where training data came from: path, format, sample count and its meta's seed/version."""
    meta = dict(dataset.meta)
    return {
        "path": None if path is None else str(Path(path).resolve()),
        "format": meta.get("source_format"),
        "samples": len(dataset),
        "skeleton": dataset.skeleton.name,
        "seed": meta.get("seed"),
        "version": meta.get("version"),
        "generator": meta.get("generator"),
    }
