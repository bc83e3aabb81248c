"""2D noise models for training a lifter, applied to pixel inputs on the fly, seeded.

A detector's 2D differs from a perfect projection in three ways, each modelled here and all
off by default (:class:`NoiseConfig`); they are applied in this order to a batch of clean 2D
keypoints in pixels, before the input normalisation (:mod:`posesynth.lift.normalize`):

1. **Gaussian jitter** on every joint, the root included: independent per coordinate with
   standard deviation ``sqrt(sigma_px² + (sigma_bbox · box)² + (sigma_joints[j] · box)²)``
   pixels, where ``box`` is the longest side of the pose's clean 2D bounding box and
   ``sigma_joints`` (one value per joint, optional) is a detector's own spread per joint —
   e.g. BlazePose's residuals against a triangulated reprojection
   (:func:`detector_sigma_joints` measures it), large at wrists, small at the trunk.
2. **Outliers** (a detector locking onto the wrong limb or the background): each non-root
   joint, with probability ``outlier_prob``, is moved to a uniform random point of the square
   of side ``outlier_box_scale · box`` centred on the clean bounding box.
3. **Dropped joints** (a missed detection): each non-root joint, with probability
   ``drop_prob``, is put on the root's (noisy) position, i.e. at 0 after root-centring — the
   value a lifter then sees for "missing". The root is never dropped or made an outlier: it
   is the reference of the normalisation.

Randomness comes only from the ``torch.Generator`` passed in; with every probability and
sigma 0 the batch is returned unchanged and nothing is drawn.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from posesynth.lift.normalize import bbox_size
from posesynth.util.yaml_config import load_model

__all__ = ["NoiseConfig", "apply_noise", "detector_sigma_joints", "load_noise_config"]


class NoiseConfig(BaseModel):
    """The 2D noise applied to training inputs (see the module docstring); all off by default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sigma_px: float = Field(0.0, ge=0, description="Gaussian jitter, pixels")
    sigma_bbox: float = Field(0.0, ge=0, le=1, description="Gaussian jitter, fraction of the bbox's longest side")
    outlier_prob: float = Field(0.0, ge=0, le=1, description="probability a non-root joint jumps to a random place")
    outlier_box_scale: float = Field(1.5, gt=0, le=10, description="outliers land in this multiple of the bbox")
    drop_prob: float = Field(0.0, ge=0, le=1, description="probability a non-root joint is dropped (set to the root)")
    sigma_joints: tuple[float, ...] | None = Field(
        None, description="per-joint Gaussian jitter, fractions of the bbox's longest side (one per joint)"
    )

    @field_validator("sigma_joints")
    @classmethod
    def _sigma_joints(cls, v: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if v is not None and not all(math.isfinite(x) and 0.0 <= x <= 1.0 for x in v):
            raise ValueError(f"expected values in [0, 1] (fractions of the bbox), got {list(v)}")
        return v

    @property
    def active(self) -> bool:
        """Whether any noise is applied at all."""
        return bool(
            self.sigma_px
            or self.sigma_bbox
            or self.outlier_prob
            or self.drop_prob
            or (self.sigma_joints is not None and any(self.sigma_joints))
        )


def load_noise_config(path: Path | str | None = None, **overrides: Any) -> NoiseConfig:
    """A :class:`NoiseConfig` from a small YAML mapping plus keyword overrides (``None`` ignored).

    Example file::

        sigma_px: 2.0
        outlier_prob: 0.02
        drop_prob: 0.01
    """
    return load_model(NoiseConfig, path, overrides, what="noise")


def apply_noise(uv_px: torch.Tensor, config: NoiseConfig, generator: torch.Generator) -> torch.Tensor:
    """Noisy copy of clean 2D keypoints ``uv_px`` (B, J, 2), pixels; joint 0 is the root.

    Returns a new (B, J, 2) tensor (or ``uv_px`` itself when ``config`` adds no noise).
    """
    if not config.active:
        return uv_px
    b, j, _ = uv_px.shape
    opts: dict[str, Any] = {"generator": generator, "dtype": uv_px.dtype, "device": uv_px.device}
    size = bbox_size(uv_px)  # (B,)
    out = uv_px
    sigma_joints = config.sigma_joints or ()
    per_joint = any(sigma_joints)
    if per_joint and len(sigma_joints) != j:
        raise ValueError(f"noise sigma_joints: expected {j} values (one per joint), got {len(sigma_joints)}")
    if config.sigma_px or config.sigma_bbox or per_joint:
        var = (config.sigma_px**2 + (config.sigma_bbox * size) ** 2)[:, None]  # (B, 1)
        if per_joint:
            frac = torch.as_tensor(sigma_joints, dtype=uv_px.dtype, device=uv_px.device)
            var = var + (frac[None, :] * size[:, None]) ** 2  # (B, J)
        sigma = torch.sqrt(var.expand(b, j))
        out = out + torch.randn(uv_px.shape, **opts) * sigma[..., None]
    if config.outlier_prob:
        hit = torch.rand((b, j), **opts) < config.outlier_prob
        hit[:, 0] = False
        centre = 0.5 * (uv_px.amax(dim=1) + uv_px.amin(dim=1))  # (B, 2)
        half = 0.5 * config.outlier_box_scale * size
        spot = centre[:, None, :] + (2.0 * torch.rand(uv_px.shape, **opts) - 1.0) * half[:, None, None]
        out = torch.where(hit[..., None], spot, out)
    if config.drop_prob:
        drop = torch.rand((b, j), **opts) < config.drop_prob
        drop[:, 0] = False
        out = torch.where(drop[..., None], out[:, :1, :], out)
    return out


def detector_sigma_joints(detected_px: np.ndarray, reference_px: np.ndarray) -> tuple[float, ...]:
    """Per-joint 2D spread of a detector, as fractions of the person's bbox (for ``sigma_joints``).

    Args:
        detected_px: ``(N, J, 2)`` the detector's keypoints, pixels (NaN rows are left out).
        reference_px: ``(N, J, 2)`` the same people's reference keypoints in the same images
            (e.g. a multi-view triangulation reprojected), pixels.

    Returns:
        ``J`` values: per joint, the root-mean-square over samples and both coordinates of
        ``(detected - reference) / box``, with ``box`` the longest side of the reference's
        bbox — the standard deviation :func:`apply_noise` draws per coordinate.
    """
    det = np.asarray(detected_px, np.float64)
    ref = np.asarray(reference_px, np.float64)
    if det.shape != ref.shape or det.ndim != 3 or det.shape[-1] != 2:
        raise ValueError(f"detector_sigma_joints: expected two (N, J, 2) arrays, got {det.shape} and {ref.shape}")
    ok = np.isfinite(det).all(axis=(1, 2)) & np.isfinite(ref).all(axis=(1, 2))
    if not ok.any():
        raise ValueError("detector_sigma_joints: no sample with every joint finite in both arrays")
    det, ref = det[ok], ref[ok]
    box = (ref.max(axis=1) - ref.min(axis=1)).max(axis=-1)  # (N,)
    if (box <= 0).any():
        raise ValueError("detector_sigma_joints: a reference pose has an empty bounding box")
    rel = (det - ref) / box[:, None, None]
    return tuple(float(v) for v in np.sqrt((rel**2).mean(axis=(0, 2))))
