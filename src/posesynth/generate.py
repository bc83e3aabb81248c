"""``posesynth generate``: a procedural data set, written shard by shard to a posesynth store.

The job is a list of pure stages applied per shard: procedural poses → cameras → projection
→ visibility. Shard ``k`` draws from its own stream ``SeedSequence(seed).spawn(n_shards)[k]``,
so the bytes do not depend on how many shards run at once or in which order. The store is
written under a temporary name and renamed when complete (see :mod:`posesynth.store`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from posesynth import __version__
from posesynth.angles import angle_names
from posesynth.camera import Camera, CameraModel
from posesynth.dataset import PoseDataset
from posesynth.placement import PlacementRanges, sample_cameras
from posesynth.procedural import ACTIVITIES, DEFAULT_ACTIVITY_WEIGHTS, activity_names, sample_poses
from posesynth.rom import limits_with_overrides
from posesynth.skeleton import get_skeleton, skeleton_names
from posesynth.store import StoreWriter

Range2 = tuple[float, float]


class CameraConfig(BaseModel):
    """Where the virtual cameras come from; angles in degrees, distances in metres."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
        return v

    @model_validator(mode="after")
    def _fov(self) -> CameraConfig:
        if not (1.0 <= self.fov_deg[0] and self.fov_deg[1] < 170.0):
            raise ValueError(f"fov_deg: expected within [1, 170) degrees, got {list(self.fov_deg)}")
        if not (10.0 <= self.fisheye_fov_deg[0] and self.fisheye_fov_deg[1] <= 240.0):
            raise ValueError(f"fisheye_fov_deg: expected within [10, 240] degrees, got {list(self.fisheye_fov_deg)}")
        if self.distance_scale[0] < 1.0:
            raise ValueError(f"distance_scale: expected >= 1 (the body must fit), got {list(self.distance_scale)}")
        if not (-90 <= self.elevation_deg[0] and self.elevation_deg[1] <= 90):
            raise ValueError(f"elevation_deg: expected within [-90, 90], got {list(self.elevation_deg)}")
        return self

    def ranges(self) -> PlacementRanges:
        fields = PlacementRanges.__dataclass_fields__
        return PlacementRanges(**{k: v for k, v in self.model_dump().items() if k in fields})


class GenerateConfig(BaseModel):
    """Everything that determines a generated data set (with the package version)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    samples: int = Field(100_000, gt=0)
    seed: int = Field(0, ge=0)
    skeleton: str = "h36m17"
    shard_size: int = Field(20_000, gt=0)
    activities: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_ACTIVITY_WEIGHTS))
    angle_limits_deg: dict[str, Range2] = Field(default_factory=dict)
    height_mean_m: float = Field(1.70, gt=0.5, lt=2.5)
    height_sd_m: float = Field(0.09, ge=0, lt=0.5)
    body_variation: float = Field(0.04, ge=0, lt=0.3)
    tilt_sd_deg: float = Field(4.0, ge=0, le=45)
    collision_tolerance: float = Field(0.3, ge=0, le=1)
    dtype: Literal["float32", "float64"] = "float32"
    camera: CameraConfig = Field(default_factory=CameraConfig)

    @field_validator("skeleton")
    @classmethod
    def _skeleton(cls, v: str) -> str:
        if v not in skeleton_names():
            raise ValueError(f"unknown skeleton {v!r}; expected one of {list(skeleton_names())}")
        return v

    @field_validator("activities")
    @classmethod
    def _activities(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(ACTIVITIES))
        if unknown:
            raise ValueError(f"unknown activities {unknown}; expected some of {sorted(ACTIVITIES)}")
        if any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
            raise ValueError(f"expected non-negative weights with a positive sum, got {v}")
        return v

    @model_validator(mode="after")
    def _limits(self) -> GenerateConfig:
        limits_with_overrides(get_skeleton(self.skeleton), self.angle_limits_deg)
        return self


def _format_validation_error(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(top level)"
    value = first.get("input")
    got = "" if isinstance(value, dict) else f", got {value!r}"
    return f"{source}: field '{field}': {first['msg']}{got}"


def load_config(path: Path | str | None = None, **overrides: Any) -> GenerateConfig:
    """A validated :class:`GenerateConfig` from a YAML file plus keyword overrides.

    Overrides whose value is ``None`` are ignored; ``camera_model`` sets ``camera.model``.
    Errors raise ``ValueError`` naming the file and the field.
    """
    data: dict[str, Any] = {}
    source = "config"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ValueError(f"{path}: cannot read the config file ({exc.strerror})") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ValueError(f"{path}: expected a mapping of settings at the top level, got {type(loaded).__name__}")
        data = dict(loaded or {})
    camera_model = overrides.pop("camera_model", None)
    data.update({k: v for k, v in overrides.items() if v is not None})
    if camera_model is not None:
        data["camera"] = {**dict(data.get("camera") or {}), "model": camera_model}
    try:
        return GenerateConfig(**data)
    except ValidationError as err:
        raise ValueError(_format_validation_error(err, source)) from None


def shard_sizes(samples: int, shard_size: int) -> list[int]:
    """Sizes of the shards a job of ``samples`` is cut into (all ``shard_size`` but the last)."""
    full, rest = divmod(samples, shard_size)
    return [shard_size] * full + ([rest] if rest else [])


def generate_shard(config: GenerateConfig, seed: np.random.SeedSequence, n: int) -> dict[str, np.ndarray]:
    """The arrays of one shard of ``n`` samples (a pure function of config, seed and n)."""
    rng = np.random.default_rng(seed)
    skeleton = get_skeleton(config.skeleton)
    poses = sample_poses(
        rng, n, skeleton, config.activities, config.angle_limits_deg,
        height_mean=config.height_mean_m, height_sd=config.height_sd_m,
        body_variation=config.body_variation, tilt_sd_deg=config.tilt_sd_deg,
        collision_tolerance=config.collision_tolerance,
    )
    cameras = sample_cameras(rng, poses.positions, config.camera.model, config.camera.ranges())
    p_cam = cameras.world_to_camera(poses.positions)
    uv = cameras.project_world(poses.positions)
    visible = cameras.visible(poses.positions)
    f = np.dtype(config.dtype)
    names = angle_names(skeleton)
    return {
        "joints_3d_world": poses.positions.astype(f),
        "joints_3d_camera": p_cam.astype(f),
        "joints_2d": uv.astype(f),
        "visibility": visible.astype(np.uint8),
        "angles": np.stack([poses.angles[a] for a in names], axis=1).astype(f),
        "activity": poses.activity.astype(np.uint8),
        "height": poses.heights.astype(f),
        "camera_intrinsics": np.asarray(cameras.intrinsics, dtype=np.float64),
        "camera_distortion": np.asarray(cameras.distortion, dtype=np.float64),
        "camera_rotation": np.asarray(cameras.rotation, dtype=np.float64),
        "camera_center": np.asarray(cameras.center, dtype=np.float64),
        "camera_image_size": np.asarray(cameras.image_size, dtype=np.int32),
    }


def iter_shards(config: GenerateConfig) -> Iterator[dict[str, np.ndarray]]:
    """Every shard of the job, in order."""
    sizes = shard_sizes(config.samples, config.shard_size)
    for seq, n in zip(np.random.SeedSequence(config.seed).spawn(len(sizes)), sizes):
        yield generate_shard(config, seq, n)


def generate_dataset(config: GenerateConfig) -> PoseDataset:
    """The data set of ``config`` in memory (same values as :func:`generate` writes)."""
    parts = list(iter_shards(config))
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    cameras = Camera(
        model=config.camera.model, intrinsics=arrays["camera_intrinsics"],
        distortion=arrays["camera_distortion"], rotation=arrays["camera_rotation"],
        center=arrays["camera_center"], image_size=arrays["camera_image_size"],
    )
    f64 = lambda k: arrays[k].astype(np.float64)  # noqa: E731
    return PoseDataset(
        skeleton=get_skeleton(config.skeleton), joints_3d_world=f64("joints_3d_world"),
        joints_3d_camera=f64("joints_3d_camera"), joints_2d=f64("joints_2d"),
        visibility=f64("visibility"), cameras=cameras,
        extra={k: arrays[k] for k in ("angles", "activity", "height")}, meta=dataset_meta(config),
    )


def dataset_meta(config: GenerateConfig) -> dict[str, Any]:
    """What the store carries beside the arrays, so any sample can be regenerated."""
    skeleton = get_skeleton(config.skeleton)
    model = CameraModel.parse(config.camera.model)
    return {
        "generator": "posesynth generate",
        "version": __version__,
        "seed": config.seed,
        "config": config.model_dump(mode="json"),
        "skeleton": skeleton.to_dict(),
        "angle_names": list(angle_names(skeleton)),
        "activity_names": list(activity_names()),
        "cameras": {
            "model": model.value,
            "count": config.samples,
            "per_sample": True,
            "distortion_names": list(model.distortion_names),
            "arrays": ["camera_intrinsics", "camera_distortion", "camera_rotation", "camera_center", "camera_image_size"],
            "convention": "X_cam = R (X_world - C); OpenCV camera frame; pixel (0,0) = centre of top-left pixel",
        },
        "units": {"joints_3d": "m", "joints_2d": "px", "angles": "rad", "height": "m"},
        "frames": {"joints_3d_world": "world, Z up", "joints_3d_camera": "camera (OpenCV)"},
    }


def _coverage(angles: np.ndarray, names: list[str]) -> dict[str, dict[str, float]]:
    deg = np.rad2deg(angles.astype(np.float64))
    q = np.percentile(deg, [0, 5, 50, 95, 100], axis=0)
    keys = ("min_deg", "p5_deg", "p50_deg", "p95_deg", "max_deg")
    return {n: {k: round(float(q[i, j]), 2) for i, k in enumerate(keys)} for j, n in enumerate(names)}


def generate(
    config: GenerateConfig,
    out: Path | str,
    *,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    preview: bool = True,
) -> dict[str, Any]:
    """Write the procedural data set of ``config`` to ``out`` and return a summary.

    Nothing appears at ``out`` unless the job completes. The summary holds the sample and
    camera counts, the activity mix and each angle's coverage in degrees.
    """
    out = Path(out)
    start = time.perf_counter()
    meta = dataset_meta(config)
    names = meta["angle_names"]
    activity_counts = np.zeros(len(meta["activity_names"]), dtype=np.int64)
    angle_parts: list[np.ndarray] = []
    first: dict[str, np.ndarray] | None = None
    with StoreWriter(out, meta, overwrite=overwrite) as writer:
        for shard in iter_shards(config):
            writer.write_shard(shard)
            activity_counts += np.bincount(shard["activity"], minlength=len(activity_counts))
            angle_parts.append(shard["angles"])
            first = first if first is not None else {k: shard[k][:8] for k in ("joints_2d", "joints_3d_world", "camera_image_size")}
            if progress is not None:
                progress(len(shard["activity"]))
        if preview and first is not None:
            from posesynth.viz.preview import save_preview

            skeleton = get_skeleton(config.skeleton)
            save_preview(
                writer.tmp_path / "preview.png", first["joints_2d"], first["joints_3d_world"],
                skeleton.parents_array, first["camera_image_size"], skeleton.left, skeleton.right,
            )
        path = writer.commit()
    return {
        "out": str(path),
        "samples": config.samples,
        "cameras": config.samples,
        "seed": config.seed,
        "skeleton": config.skeleton,
        "camera_model": config.camera.model,
        "seconds": round(time.perf_counter() - start, 3),
        "activities": {a: int(c) for a, c in zip(meta["activity_names"], activity_counts)},
        "angle_coverage": _coverage(np.concatenate(angle_parts), names),
        "preview": str(path / "preview.png") if preview else None,
    }
