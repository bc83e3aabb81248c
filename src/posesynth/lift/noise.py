"""2D noise models for training a lifter, applied to pixel inputs on the fly, seeded.

A detector's 2D differs from a perfect projection in three ways, each modelled here and all
off by default (:class:`NoiseConfig`); they are applied in this order to a batch of clean 2D
keypoints in pixels, before the input normalisation (:mod:`posesynth.lift.normalize`):

1. **Gaussian jitter** on every joint, the root included: independent per coordinate with
   standard deviation ``sqrt(sigma_px² + (sigma_bbox · box)²)`` pixels, where ``box`` is
   the longest side of the pose's clean 2D bounding box.
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

from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from posesynth.lift.normalize import bbox_size
from posesynth.util.yaml_config import load_model

__all__ = ["NoiseConfig", "apply_noise", "load_noise_config"]


class NoiseConfig(BaseModel):
    """The 2D noise applied to training inputs (see the module docstring); all off by default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sigma_px: float = Field(0.0, ge=0, description="Gaussian jitter, pixels")
    sigma_bbox: float = Field(0.0, ge=0, le=1, description="Gaussian jitter, fraction of the bbox's longest side")
    outlier_prob: float = Field(0.0, ge=0, le=1, description="probability a non-root joint jumps to a random place")
    outlier_box_scale: float = Field(1.5, gt=0, le=10, description="outliers land in this multiple of the bbox")
    drop_prob: float = Field(0.0, ge=0, le=1, description="probability a non-root joint is dropped (set to the root)")

    @property
    def active(self) -> bool:
        """Whether any noise is applied at all."""
        return bool(self.sigma_px or self.sigma_bbox or self.outlier_prob or self.drop_prob)


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
    opts = {"generator": generator, "dtype": uv_px.dtype, "device": uv_px.device}
    size = bbox_size(uv_px)  # (B,)
    out = uv_px
    if config.sigma_px or config.sigma_bbox:
        sigma = torch.sqrt(config.sigma_px**2 + (config.sigma_bbox * size) ** 2)
        out = out + torch.randn(uv_px.shape, **opts) * sigma[:, None, None]
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
