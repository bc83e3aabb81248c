"""``posesynth generate``: a procedural data set, written shard by shard to a posesynth store.

The job is a list of pure stages applied per shard: procedural poses → cameras → projection
→ visibility. Shard ``k`` draws from its own stream ``SeedSequence(seed).spawn(n_shards)[k]``,
so the bytes do not depend on how many shards run at once or in which order. Shards run on
any executor (:mod:`posesynth.jobs.executors`: in this process, local processes, Dask) and stream
into ``<out>.partial-job``, renamed to ``out`` when complete; a killed job rerun with the same
configuration makes only the missing shards (see :mod:`posesynth.jobs.shards`).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from posesynth.body.angles import angle_names
from posesynth.body.rom import limits_with_overrides
from posesynth.body.skeleton import get_skeleton, skeleton_names
from posesynth.data.dataset import PoseDataset, concat_datasets
from posesynth.data.formats.store_io import (
    DEFAULT_SHARD_SIZE,
    camera_meta,
    camera_store_arrays,
    compact_dtypes,
    store_meta,
)
from posesynth.geometry.camera import Camera
from posesynth.geometry.placement import sample_cameras
from posesynth.jobs.camera_config import CameraConfig
from posesynth.jobs.executors import Executor, InProcessExecutor
from posesynth.jobs.shards import (
    DeferredShard,
    ShardedJob,
    ShardOutput,
    ShardTask,
    read_shard_array,
    run_sharded,
    shard_sizes,
)
from posesynth.poses.procedural import (
    ACTIVITIES,
    DEFAULT_ACTIVITY_WEIGHTS,
    PoseBatch,
    activity_names,
    sample_poses,
)
from posesynth.util.checks import check_weights
from posesynth.util.yaml_config import load_model, read_mapping

#: Up to this many samples the summary's angle percentiles are exact; above, they come from
#: this many samples spread evenly over the shards (min and max stay exact), so the summary
#: costs bounded memory whatever the size of the job.
COVERAGE_SAMPLES = 200_000

Range2 = tuple[float, float]


class GenerateConfig(BaseModel):
    """Everything that determines a generated data set (with the package version)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    samples: int = Field(100_000, gt=0)
    seed: int = Field(0, ge=0)
    skeleton: str = "h36m17"
    shard_size: int = Field(DEFAULT_SHARD_SIZE, gt=0)
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
        return check_weights(v, ACTIVITIES, "activities")

    @model_validator(mode="after")
    def _limits(self) -> GenerateConfig:
        limits_with_overrides(get_skeleton(self.skeleton), self.angle_limits_deg)
        return self


def load_config(path: Path | str | None = None, **overrides: Any) -> GenerateConfig:
    """A validated :class:`GenerateConfig` from a YAML file plus keyword overrides.

    Overrides whose value is ``None`` are ignored; ``camera_model`` sets ``camera.model``.
    Errors raise ``ValueError`` naming the file, the line and the field.
    """
    data = read_mapping(path)[0] if path is not None else {}
    camera_model = overrides.pop("camera_model", None)
    if camera_model is not None:
        base = overrides.get("camera") or data.get("camera") or {}
        overrides["camera"] = {**dict(base), "model": camera_model}
    return load_model(GenerateConfig, path, overrides)


@dataclass(frozen=True)
class _Drawn:
    """One shard as the kernels make it (float64 points, boolean visibility)."""

    poses: PoseBatch
    cameras: Camera  #: one per sample, batch shape (n,)
    joints_3d_camera: np.ndarray  #: (n, J, 3) metres, OpenCV camera frame
    joints_2d: np.ndarray  #: (n, J, 2) pixels
    visible: np.ndarray  #: (n, J) bool


def _draw(config: GenerateConfig, seed: np.random.SeedSequence, n: int) -> _Drawn:
    """The kernels of one shard: procedural poses -> one camera each -> camera 3D, pixels,
    visibility (each point transformed and projected once)."""
    rng = np.random.default_rng(seed)
    return _observed(config, rng, _poses(config, rng, n))


def _poses(config: GenerateConfig, rng: np.random.Generator, n: int) -> PoseBatch:
    """A shard's first half: its procedural poses (the first draws of its ``rng``)."""
    return sample_poses(
        rng,
        n,
        get_skeleton(config.skeleton),
        config.activities,
        config.angle_limits_deg,
        height_mean=config.height_mean_m,
        height_sd=config.height_sd_m,
        body_variation=config.body_variation,
        tilt_sd_deg=config.tilt_sd_deg,
        collision_tolerance=config.collision_tolerance,
        with_rotations=False,  # a data set keeps the positions and the angles
    )


def _cameras(config: GenerateConfig, rng: np.random.Generator, poses: PoseBatch) -> Camera:
    """A shard's cameras, one per pose: the draws of ``rng`` after the poses'."""
    return sample_cameras(rng, poses.positions, config.camera.model, config.camera.ranges())


def _observed(config: GenerateConfig, rng: np.random.Generator, poses: PoseBatch) -> _Drawn:
    """A shard's second half: one camera per pose (:func:`_cameras`), then camera 3D, pixels
    and visibility."""
    cameras = _cameras(config, rng, poses)
    return _Drawn(poses, cameras, *cameras.observe(poses.positions))


def _extra_arrays(config: GenerateConfig, poses: PoseBatch) -> dict[str, np.ndarray]:
    """The store's extra arrays: angles (n, A) radians and heights (n,) metres in
    ``config.dtype``, activity codes (n,) uint8."""
    f = np.dtype(config.dtype)
    names = angle_names(get_skeleton(config.skeleton))
    return {
        # stacked straight into f: each value rounded once, as stacking in float64 first;
        # angle by angle then transposed: contiguous reads and writes, 3x faster than
        # stacking along axis 1 (which writes each column with the row's stride)
        "angles": np.ascontiguousarray(np.stack([poses.angles[a] for a in names], dtype=f).T),
        "activity": poses.activity.astype(np.uint8),
        "height": poses.heights.astype(f),
    }


def generate_shard(config: GenerateConfig, seed: np.random.SeedSequence, n: int) -> PoseDataset:
    """One shard of ``n`` samples as a :class:`PoseDataset` (a pure function of config, seed
    and n). Joints, angles and heights are already rounded to ``config.dtype`` (the arrays
    are float64 holding those values), so the dataset equals what the store holds."""
    drawn = _draw(config, seed, n)
    f = np.dtype(config.dtype)
    rounded = lambda a: a.astype(f).astype(np.float64)
    return PoseDataset(
        skeleton=get_skeleton(config.skeleton),
        joints_3d_world=rounded(drawn.poses.positions),
        joints_3d_camera=rounded(drawn.joints_3d_camera),
        joints_2d=rounded(drawn.joints_2d),
        visibility=drawn.visible.astype(np.float64),
        cameras=drawn.cameras,
        extra=_extra_arrays(config, drawn.poses),
        meta=dataset_meta(config),
    )


def generate_job(config: GenerateConfig) -> ShardedJob:
    """The generate job of ``config`` as a :class:`~posesynth.jobs.shards.ShardedJob` (meta =
    :func:`dataset_meta`, shards of ``config.shard_size``, made by :func:`generate_shard`)."""
    return ShardedJob(
        meta=dataset_meta(config),
        sizes=tuple(shard_sizes(config.samples, config.shard_size)),
        seed=config.seed,
        make_shard=functools.partial(generate_task, config),
    )


def generate_task(config: GenerateConfig, task: ShardTask) -> DeferredShard:
    """The shard ``task`` of the generate job of ``config``: its poses now, the rest where it
    is written (:class:`~posesynth.jobs.shards.DeferredShard`; in-process on the writer
    thread, beside the next shard's poses). ``finish()`` gives :func:`_store_shard`'s arrays
    and statistics."""
    rng = np.random.default_rng(task.seed)
    return DeferredShard(functools.partial(_store_shard, config, rng, _poses(config, rng, task.samples)))


def _store_shard(config: GenerateConfig, rng: np.random.Generator, poses: PoseBatch) -> ShardOutput:
    """A shard's store arrays and its record's statistics (:func:`_shard_stats`), from its
    poses and the rest of its ``rng``: the arrays ``dataset_store_arrays(generate_shard(...),
    compact_dtypes(config.dtype))`` gives, the points, pixels and visibility written
    straight in the store's dtypes (:meth:`~posesynth.geometry.camera.Camera.observe_stored`;
    the data set record rounds every point to ``config.dtype``, back to float64 and again to
    ``config.dtype``: the same values, a third of ``generate``'s time outside the kernels)."""
    cameras = _cameras(config, rng, poses)
    world, p_cam, uv_px, seen = cameras.observe_stored(poses.positions, config.dtype)
    dtypes = compact_dtypes(config.dtype)
    arrays = {
        "joints_3d_world": world,
        "joints_3d_camera": p_cam,
        "joints_2d": uv_px,
        "visibility": seen,
        **camera_store_arrays(cameras),
    }
    arrays = {name: a.astype(dtypes.get(name, a.dtype), copy=False) for name, a in arrays.items()}
    arrays.update(_extra_arrays(config, poses))
    return ShardOutput(arrays, _shard_stats(len(_used_activity_names(config.activities)), arrays))


def iter_shards(config: GenerateConfig) -> Iterator[PoseDataset]:
    """Every shard of the job, in order, in memory."""
    for task in generate_job(config).tasks():
        yield generate_shard(config, task.seed, task.samples)


def generate_dataset(config: GenerateConfig) -> PoseDataset:
    """The data set of ``config`` in memory (the same values as :func:`generate` writes)."""
    return concat_datasets(list(iter_shards(config)))


def _used_activity_names(weights: dict[str, float]) -> list[str]:
    names = list(activity_names())
    last = max((names.index(a) for a, w in weights.items() if w > 0), default=len(names) - 1)
    return names[: last + 1]


def dataset_meta(config: GenerateConfig) -> dict[str, Any]:
    """What the store carries beside the arrays, so any sample can be regenerated (built by
    the store layer, :func:`~posesynth.data.formats.store_io.store_meta`)."""
    skeleton = get_skeleton(config.skeleton)
    return store_meta(
        skeleton,
        provenance={"generator": "posesynth generate", "seed": config.seed, "config": config.model_dump(mode="json")},
        units={"angles": "rad", "height": "m"},
        columns={
            "angle_names": list(angle_names(skeleton)),
            # the names of the codes this data set can hold: up to the last activity with a
            # weight (the default mix's list stays what it was before the coupled priors)
            "activity_names": _used_activity_names(config.activities),
        },
        cameras=camera_meta(config.camera.model, count=config.samples, arrays_order="fields"),
    )


@dataclass(frozen=True)
class AngleCoverage:
    """How one joint angle is spread over a generated data set, in degrees."""

    min_deg: float
    p5_deg: float
    p50_deg: float
    p95_deg: float
    max_deg: float


@dataclass(frozen=True)
class GenerateSummary:
    """What :func:`generate` wrote; :meth:`to_dict` is the document ``posesynth generate --json``
    prints (and ``ps.generate(..., out=...)`` returns this)."""

    out: str  #: the data set's folder
    samples: int
    cameras: int  #: one camera per sample
    seed: int
    skeleton: str
    camera_model: str
    seconds: float  #: wall time of the whole job
    activities: Mapping[str, int]  #: samples per activity, in the store's activity order
    angle_coverage: Mapping[str, AngleCoverage]  #: per joint angle, in the store's angle order
    preview: str | None  #: the preview PNG, None with ``preview=False``
    shards: int
    resumed_shards: int  #: shards kept from an earlier, killed run
    redone_shards: int  #: shards of an earlier run made again after failing their checks
    executor: str  #: where the shards ran, in words

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (keys in this order)."""
        doc = asdict(self)  # recurses into the AngleCoverage records, keeps the field order
        doc["activities"] = dict(self.activities)
        return doc


@dataclass(frozen=True)
class _ShardStats:
    activities: np.ndarray  # (n_activities,) int64 counts
    coverage: dict[str, AngleCoverage]


def _coverage(angles: np.ndarray, names: list[str], lo: np.ndarray, hi: np.ndarray) -> dict[str, AngleCoverage]:
    """Per-angle min, 5th, 50th and 95th percentile and max in degrees; ``angles`` (m, A)
    radians gives the percentiles, ``lo``/``hi`` (A,) degrees the exact min and max."""

    # one angle at a time, contiguous: the percentiles' partitions run 2x faster than down
    # the columns of (m, A), with the same values, and each angle's 1.6 MB of degrees is
    # memory the allocator reuses (the whole (A, m) block in float64 and the copy
    # np.percentile partitions were 110 MB of fresh pages: 0.35 s against 0.1 s). The 0th and
    # 100th are the exact lo and hi: not partitioned for (each percentile comes from its own
    # order statistics, so the others keep their values). The angles run on up to 4 threads:
    # the conversions and partitions release the GIL (0.1 -> 0.045 s at 200,000 rows, 2 cores)
    def percentiles(j: int) -> np.ndarray:
        return np.percentile(np.rad2deg(angles[:, j].astype(np.float64)), [5, 50, 95])

    inner = np.empty((3, angles.shape[1]))
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        for j, values in enumerate(pool.map(percentiles, range(angles.shape[1]))):
            inner[:, j] = values
    q = np.concatenate([lo[None], inner, hi[None]])
    return {n: AngleCoverage(*(round(float(v), 2) for v in q[:, j])) for j, n in enumerate(names)}


def _shard_stats(n_activities: int, arrays: Mapping[str, np.ndarray]) -> dict[str, list[Any]]:
    """What the summary needs of one shard's stored arrays, for its record: the activity
    counts and each angle's extremes (radians, the stored values, exact as JSON floats)."""
    angles = arrays["angles"]
    return {
        "activities": np.bincount(arrays["activity"], minlength=n_activities).tolist(),
        "angle_min": angles.min(axis=0).tolist(),
        "angle_max": angles.max(axis=0).tolist(),
    }


def _summarize(
    root: Path,
    sizes: tuple[int, ...],
    n_activities: int,
    names: list[str],
    recorded: Mapping[int, Any] | None = None,
    kept: Mapping[int, np.ndarray] | None = None,
) -> _ShardStats:
    """Activity counts and angle coverage of the store at ``root``, shard by shard.

    ``recorded`` maps shard indices to their records' :func:`_shard_stats` (made beside the
    next shard's kernels); a shard without them (a partial job of an older version) is read.
    ``kept`` maps shard indices to the rows of their angles the percentiles take
    (:func:`_keeping_coverage_rows`); a shard without them (resumed, or made in another
    process) is read.
    Memory is bounded: one shard's angles at a time, plus at most about
    :data:`COVERAGE_SAMPLES` rows (the first rows of every shard, in proportion) for the
    percentiles; with fewer samples in all, every sample is used.
    """
    recorded, kept = recorded or {}, kept or {}
    total = sum(sizes)
    counts = np.zeros(n_activities, dtype=np.int64)
    lo = np.full(len(names), np.inf)
    hi = np.full(len(names), -np.inf)
    sample: list[np.ndarray] = []
    for index, n in enumerate(sizes):
        stats = recorded.get(index)
        if stats is None:
            stats = _shard_stats(n_activities, {k: read_shard_array(root, index, k) for k in ("activity", "angles")})
        counts += np.asarray(stats["activities"], dtype=np.int64)
        # min and max in the stored dtype, in degrees once at the end: rad2deg is monotonic,
        # so these are the extremes of the degrees (without converting every sample)
        lo, hi = np.minimum(lo, stats["angle_min"]), np.maximum(hi, stats["angle_max"])
        rows = kept.get(index)
        sample.append(read_shard_array(root, index, "angles", _coverage_rows(total, n)) if rows is None else rows)
    return _ShardStats(counts, _coverage(np.concatenate(sample), names, np.rad2deg(lo), np.rad2deg(hi)))


def _coverage_rows(total: int, n: int) -> int:
    """How many of a shard's ``n`` first rows the percentiles of a ``total``-sample job take."""
    return n if total <= COVERAGE_SAMPLES else -(-n * COVERAGE_SAMPLES // total)


def _keeping_coverage_rows(config: GenerateConfig, kept: dict[int, np.ndarray], task: ShardTask) -> DeferredShard:
    """:func:`generate_task`, also keeping in ``kept[task.index]`` the first angle rows the
    summary's percentiles take (for a job run in this process: the summary then reads none
    of them back from the disk, where the shards' pages no longer are)."""
    deferred = generate_task(config, task)

    def finish() -> ShardOutput:
        made = deferred.finish()
        assert isinstance(made, ShardOutput)
        kept[task.index] = np.array(made.arrays["angles"][: _coverage_rows(config.samples, task.samples)])
        return made

    return DeferredShard(finish)


def generate(
    config: GenerateConfig,
    out: Path | str,
    *,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    preview: bool = True,
    executor: Executor | None = None,
    max_in_flight: int | None = None,
) -> GenerateSummary:
    """Write the procedural data set of ``config`` to ``out`` and return its summary.

    Nothing appears at ``out`` unless the job completes. Shards run on ``executor``
    (default: in this process; see :mod:`posesynth.jobs.executors`), at most ``max_in_flight``
    at once (default twice the workers); the bytes written are the same on every executor.
    A partial folder ``<out>.partial-job`` left by a killed run of the same configuration is
    resumed; one of another configuration is refused (see :func:`posesynth.jobs.shards.run_sharded`).

    The :class:`GenerateSummary` holds the sample and camera counts, the activity mix, each
    angle's coverage in degrees (min and max exact; percentiles exact up to
    :data:`COVERAGE_SAMPLES` samples, from an even subsample above), the shard count and how
    many shards were resumed; its ``to_dict()`` is what ``posesynth generate --json`` prints.
    """
    out = Path(out)
    start = time.perf_counter()
    job = generate_job(config)
    meta = job.meta
    skeleton = get_skeleton(config.skeleton)

    recorded: dict[int, Any] = {}
    kept: dict[int, np.ndarray] = {}
    if executor is None or isinstance(executor, InProcessExecutor):
        job = replace(job, make_shard=functools.partial(_keeping_coverage_rows, config, kept))

    def before_commit(root: Path, stats: Mapping[int, Any]) -> None:
        recorded.update(stats)
        if not preview:
            return
        from posesynth.viz.preview import save_preview

        first = {k: read_shard_array(root, 0, k, 8) for k in ("joints_2d", "joints_3d_world", "camera_image_size")}
        save_preview(
            root / "preview.png",
            first["joints_2d"],
            first["joints_3d_world"],
            skeleton.parents_array,
            first["camera_image_size"],
            skeleton.left,
            skeleton.right,
        )

    result = run_sharded(
        job,
        out,
        executor,
        overwrite=overwrite,
        progress=progress,
        before_commit=before_commit,
        max_in_flight=max_in_flight,
    )
    stats = _summarize(result.path, job.sizes, len(meta["activity_names"]), meta["angle_names"], recorded, kept)
    return GenerateSummary(
        out=str(result.path),
        samples=config.samples,
        cameras=config.samples,
        seed=config.seed,
        skeleton=config.skeleton,
        camera_model=config.camera.model,
        seconds=round(time.perf_counter() - start, 3),
        activities={a: int(c) for a, c in zip(meta["activity_names"], stats.activities)},
        angle_coverage=stats.coverage,
        preview=str(result.path / "preview.png") if preview else None,
        shards=result.shards,
        resumed_shards=result.resumed,
        redone_shards=len(result.redone),
        executor=result.executor,
    )
