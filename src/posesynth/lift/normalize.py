"""Lifter inputs that do not depend on image size or position, and standardised targets.

Input (CONVENTIONS.md, "Lifting from any camera"), method ``"root_bbox"``:

1. **root-centre**: subtract the pelvis (joint 0) from every joint, so the position of the
   person in the image does not matter;
2. **scale**: divide by the longest side of the 2D bounding box of the 17 joints (max over x
   and y of max − min), so the image size, focal length and distance do not matter
   (a pose fills a box of longest side 1 whatever its size in pixels);
3. **standardise**: per coordinate, subtract the mean and divide by the standard deviation of
   the training set's *clean* (noise-free) inputs of step 2. The root's coordinates are 0
   after step 1; their standard deviation (0) is replaced by 1 (so they stay 0).

The input keeps all 17 joints (34 numbers, root included) like MMPose's SimpleBaseline, so
imported MMPose weights fit the same layer shapes.

Method ``"mmpose_pixels"`` exists only to run imported MMPose checkpoints
(:mod:`posesynth.lift.mmpose_import`): the raw pixel coordinates standardised by MMPose's
``keypoints_mean`` / ``keypoints_std`` (its ``ImagePoseLifting`` codec), which ties such a model
to Human3.6M's cameras and image size.

Targets: camera-frame 3D (OpenCV axes), metres, root-relative, joints 1..16 (the root is 0
and dropped: 48 numbers), standardised per coordinate by the training set's mean and standard
deviation. Both statistics are stored in the checkpoint's ``meta.json``
(``normalization``), with this method's name and description.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = [
    "METHOD",
    "METHOD_DESCRIPTION",
    "NUM_JOINTS",
    "NormStats",
    "bbox_size",
    "centre_and_scale",
    "compute_stats",
    "normalise_inputs",
    "targets_from_3d",
]

NUM_JOINTS = 17
METHOD = "root_bbox"
METHOD_DESCRIPTION = (
    "2D px minus joint 0 (pelvis), divided by the longest side of the 17 joints' 2D bounding "
    "box, then per-coordinate (x - input_mean) / input_std of the training set; targets: "
    "camera-frame metres of joints 1..16 minus joint 0, (y - target_mean) / target_std"
)
MMPOSE_METHOD = "mmpose_pixels"
#: Every input normalisation a checkpoint may name, with its description.
METHODS = {
    METHOD: METHOD_DESCRIPTION,
    MMPOSE_METHOD: (
        "MMPose ImagePoseLifting: 2D px, per-coordinate (x - keypoints_mean) / keypoints_std "
        "(no centring or scaling: tied to the training cameras); targets as root_bbox"
    ),
}
#: Standard deviations below this are replaced by 1 (constant coordinates, e.g. the root).
STD_FLOOR = 1e-8
#: Bounding boxes smaller than this (in the input's unit) are treated as this size, so a pose
#: collapsed by noise onto its root gives zeros instead of NaN.
MIN_BOX = 1e-6


def bbox_size(uv: torch.Tensor) -> torch.Tensor:
    """Longest side of the 2D bounding box of each pose: (..., J, 2) → (...), unit of ``uv``."""
    extent = uv.amax(dim=-2) - uv.amin(dim=-2)
    return extent.amax(dim=-1)


def centre_and_scale(uv: torch.Tensor) -> torch.Tensor:
    """Steps 1–2: (..., J, 2) px → (..., J, 2), root at 0, bounding box longest side 1."""
    size = bbox_size(uv).clamp_min(MIN_BOX)
    return (uv - uv[..., :1, :]) / size[..., None, None]


def targets_from_3d(p_cam: torch.Tensor) -> torch.Tensor:
    """Root-relative joints 1..16, flattened: (..., 17, 3) metres → (..., 48) metres."""
    rel = p_cam[..., 1:, :] - p_cam[..., :1, :]
    return rel.reshape(*rel.shape[:-2], -1)


@dataclass(frozen=True, eq=False)
class NormStats:
    """Training-set statistics; float64 NumPy arrays, see the module docstring.

    Attributes:
        input_mean, input_std: (34,) of the centred-and-scaled 2D (unitless).
        target_mean, target_std: (48,) of the root-relative camera-frame 3D, metres.
    """

    input_mean: np.ndarray
    input_std: np.ndarray
    target_mean: np.ndarray
    target_std: np.ndarray
    method: str = METHOD

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"normalization.method: expected one of {list(METHODS)}, got {self.method!r}")
        for name, size in (("input_mean", 34), ("input_std", 34), ("target_mean", 48), ("target_std", 48)):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != (size,):
                raise ValueError(f"normalization.{name}: expected shape ({size},), got {arr.shape}")
            if not np.isfinite(arr).all():
                raise ValueError(f"normalization.{name}: expected finite values, got NaN/inf")
            if name.endswith("std") and (arr <= 0).any():
                raise ValueError(f"normalization.{name}: expected values > 0")
            object.__setattr__(self, name, arr)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the method, its description and the four statistics as float lists."""
        return {
            "method": self.method,
            "description": METHODS[self.method],
            "input_mean": self.input_mean.tolist(),
            "input_std": self.input_std.tolist(),
            "target_mean": self.target_mean.tolist(),
            "target_std": self.target_std.tolist(),
            "target_unit": "m",
            "target_frame": "camera (OpenCV), root-relative, joints 1..16",
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NormStats:
        """Inverse of :meth:`to_dict`; ``ValueError`` on another method or a missing field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"normalization: expected a mapping, got {type(data).__name__}")
        method = data.get("method")
        if method not in METHODS:
            raise ValueError(f"normalization.method: expected one of {list(METHODS)}, got {method!r}")
        missing = [k for k in ("input_mean", "input_std", "target_mean", "target_std") if k not in data]
        if missing:
            raise ValueError(f"normalization: missing field(s) {missing}")
        try:
            arrays = {
                k: np.asarray(data[k], dtype=np.float64)
                for k in ("input_mean", "input_std", "target_mean", "target_std")
            }
        except (TypeError, ValueError) as exc:
            raise ValueError(f"normalization: expected lists of numbers ({exc})") from None
        return cls(**arrays, method=method)

    def tensors(
        self, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
    ) -> dict[str, torch.Tensor]:
        """The four statistics as tensors of ``dtype`` on ``device``."""
        return {
            k: torch.as_tensor(getattr(self, k), dtype=dtype, device=device)
            for k in ("input_mean", "input_std", "target_mean", "target_std")
        }


def _std(x: np.ndarray) -> np.ndarray:
    std = x.std(axis=0)
    return np.where(std < STD_FLOOR, 1.0, std)


def compute_stats(uv_px: np.ndarray, p_cam: np.ndarray) -> NormStats:
    """Statistics of training inputs ``uv_px`` (N, 17, 2) px and targets ``p_cam`` (N, 17, 3) m."""
    if len(uv_px) == 0:
        raise ValueError("compute_stats: expected at least one training sample, got none")
    with torch.no_grad():
        x = centre_and_scale(torch.as_tensor(uv_px, dtype=torch.float64)).reshape(len(uv_px), -1).numpy()
        y = targets_from_3d(torch.as_tensor(p_cam, dtype=torch.float64)).numpy()
    return NormStats(x.mean(axis=0), _std(x), y.mean(axis=0), _std(y))


def normalise_inputs(uv: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, method: str = METHOD) -> torch.Tensor:
    """All input steps: (B, 17, 2) px → (B, 34) network input (``mean``/``std`` (34,)).

    ``method`` is the checkpoint's normalisation (``root_bbox``, or ``mmpose_pixels`` for
    imported MMPose weights).
    """
    x = uv if method == MMPOSE_METHOD else centre_and_scale(uv)
    return (x.reshape(uv.shape[0], uv.shape[-2] * uv.shape[-1]) - mean) / std  # explicit: B may be 0
