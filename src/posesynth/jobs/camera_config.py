"""Where virtual cameras come from: the camera part of ``generate``'s and ``augment``'s configs.

Angles in degrees, distances in metres (user-facing configuration); :meth:`CameraConfig.ranges`
hands :mod:`posesynth.geometry.placement` its ranges.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from posesynth.geometry.placement import PlacementRanges
from posesynth.util.yaml_config import load_model

__all__ = ["CameraConfig", "CamerasConfig", "load_cameras_config"]

Range2 = tuple[float, float]


class CameraConfig(BaseModel):
    """Where the virtual cameras come from; angles in degrees, distances in metres."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    model: Literal["pinhole", "opencv", "fisheye", "h36m"] = "pinhole"
    image_size: tuple[int, int] = (1000, 1000)
    fov_deg: Range2 = (40.0, 75.0)
    fisheye_fov_deg: Range2 = (120.0, 190.0)
    azimuth_deg: Range2 = (-180.0, 180.0)
    elevation_deg: Range2 = (-10.0, 45.0)
    roll_sd_deg: float = Field(3.0, ge=0)
    distance_scale: Range2 = (1.05, 2.5)
    principal_jitter: float = Field(0.03, ge=0, le=0.4)
    target_jitter_m: float = Field(0.1, ge=0)

    @field_validator("fov_deg", "fisheye_fov_deg", "azimuth_deg", "elevation_deg", "distance_scale")
    @classmethod
    def _ordered(cls, v: Range2) -> Range2:
        if v[0] > v[1]:
            raise ValueError(f"expected [min, max] with min <= max, got {list(v)}")
        return v

    @field_validator("image_size")
    @classmethod
    def _size(cls, v: tuple[int, int]) -> tuple[int, int]:
        if min(v) < 16:
            raise ValueError(f"expected width and height >= 16 px, got {list(v)}")
        if max(v) > 100_000:  # the reader bound (data/validate.py); 1e20 overflows int32 (audit F14)
            raise ValueError(f"expected width and height <= 100000 px, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _fov(self) -> CameraConfig:
        if not (self.fov_deg[0] >= 1.0 and self.fov_deg[1] < 170.0):
            raise ValueError(f"fov_deg: expected within [1, 170) degrees, got {list(self.fov_deg)}")
        if not (self.fisheye_fov_deg[0] >= 10.0 and self.fisheye_fov_deg[1] <= 240.0):
            raise ValueError(f"fisheye_fov_deg: expected within [10, 240] degrees, got {list(self.fisheye_fov_deg)}")
        if self.distance_scale[0] < 1.0:
            raise ValueError(f"distance_scale: expected >= 1 (the body must fit), got {list(self.distance_scale)}")
        if not (self.elevation_deg[0] >= -90 and self.elevation_deg[1] <= 90):
            raise ValueError(f"elevation_deg: expected within [-90, 90], got {list(self.elevation_deg)}")
        return self

    def ranges(self) -> PlacementRanges:
        fields = PlacementRanges.__dataclass_fields__
        return PlacementRanges(**{k: v for k, v in self.model_dump().items() if k in fields})


class CamerasConfig(CameraConfig):
    """New viewpoints: ``count`` random cameras per pose, or a fixed ``rig``."""

    count: int = 1
    rig: str | None = None  # "h36m" (each subject's four cameras) or a Calib*.toml path


def load_cameras_config(path: Path | str | None) -> CamerasConfig | None:
    """A validated :class:`CamerasConfig` from YAML (None → keep the source cameras)."""
    if path is None:
        return None
    cfg = load_model(CamerasConfig, path, what="cameras")
    if cfg.count < 1:
        raise ValueError(f"{path}: field 'count': expected >= 1, got {cfg.count}")
    if cfg.count > MAX_CAMERAS_PER_POSE:  # checked before any allocation (reliability audit F16)
        raise ValueError(
            f"{path}: field 'count': {cfg.count} cameras per pose multiply the output by as much; "
            f"expected at most {MAX_CAMERAS_PER_POSE}"
        )
    return cfg


#: Most random cameras per pose (``count``): each multiplies the samples written.
MAX_CAMERAS_PER_POSE = 1000
