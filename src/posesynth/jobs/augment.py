"""``posesynth augment``: repose real poses over the range of motion and view them anew.

Stages, each a pure function over batched arrays:

1. source 3D in a Z-up frame (world 3D; or camera 3D turned Z-up when a file has no world);
   frames with NaN or invisible joints are skipped and counted (:mod:`posesynth.jobs.augment_source`);
2. ``variants`` copies per frame, each reposed by the motions file (:mod:`posesynth.poses.repose`)
   — one inverse kinematics, every angle change in file order, one forward kinematics — then
   the ROM policy (reject or clamp), bone scaling, a turn about the vertical;
3. the collision check (:mod:`posesynth.body.collision`), rejected variants counted;
4. optional extra keypoints (:mod:`posesynth.poses.keypoints`);
5. cameras: new ones around each pose (:mod:`posesynth.geometry.placement`, any model, ``count`` per
   pose), a fixed rig, or the source's own camera; then 2D and visibility.

Every shard is a :class:`~posesynth.data.dataset.PoseDataset`; :func:`augment_task` turns it
into store arrays for the sharded job, :func:`augment` concatenates them in memory. Only
keypoints are produced: images are not re-rendered.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from posesynth import __version__
from posesynth.body.collision import colliding, collision_model
from posesynth.body.skeleton import H36M_EXTENDED, Skeleton
from posesynth.data.dataset import PoseDataset, concat_datasets
from posesynth.data.formats.store_io import DEFAULT_SHARD_SIZE, dataset_store_arrays
from posesynth.geometry.camera import Camera, CameraModel
from posesynth.geometry.placement import sample_cameras
from posesynth.jobs.augment_source import CAMERA_ARRAYS, source_rows
from posesynth.jobs.augment_stats import angle_counts, merge_shard_stats
from posesynth.jobs.camera_config import CamerasConfig
from posesynth.jobs.shards import ShardedJob, ShardOutput, ShardTask, shard_sizes
from posesynth.poses.hand_targets import reach_targets
from posesynth.poses.keypoints import add_extra_keypoints, estimate_height
from posesynth.poses.motion_spec import SEGMENTS, MotionsConfig
from posesynth.poses.motions import bend_sideways, rotate_about_vertical, scale_bones
from posesynth.poses.repose import repose


@dataclass(frozen=True)
class AugmentSummary:
    """What an augment job made; :meth:`to_dict` is the store's ``augment.json`` and the counts
    of ``posesynth augment --json``."""

    source_frames: int  #: frames of the input
    skipped_frames: int  #: input frames without a usable pose
    variants: int  #: reposed copies drawn per usable frame
    rejected_rom: int  #: copies rejected by the range-of-motion check
    rejected_collision: int  #: copies rejected by the collision check
    samples: int  #: samples written (kept copies x cameras)
    cameras: int  #: distinct cameras of the output
    skeleton: str  #: the output's skeleton
    angles: Mapping[str, Any]  #: per moved angle, its range and histograms before / after

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (keys in this order)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class AugmentResult:
    dataset: PoseDataset
    summary: AugmentSummary
    source_positions: np.ndarray  # (M, J, 3) the source pose of each output sample (Z-up frame)


@dataclass(frozen=True)
class AugmentShard:
    """One shard's samples (None when every variant was rejected) and its statistics
    (``variants``, ``rejected_rom``, ``rejected_collision``, ``samples``, ``angles``)."""

    dataset: PoseDataset | None
    stats: dict[str, Any]


CameraMode = Literal["new", "rig", "table", "per_sample", "none"]


@dataclass(frozen=True)
class AugmentPlan:
    """Everything a shard of an augment job needs (small and picklable but for ``rows``).

    Attributes:
        skeleton: the source poses' layout; ``out_skeleton`` the output's (extended when
            extra keypoints are added).
        motions, cameras: the validated configuration.
        camera_mode: ``new`` (random cameras, ``cameras.count`` per pose, per sample),
            ``rig`` (every pose seen by each of a subject's ``rig_size`` cameras of
            ``table``), ``table`` (each pose keeps its source camera of ``table``),
            ``per_sample`` (each keeps its own source camera), ``none`` (no cameras).
        table: the camera table of ``rig`` and ``table`` modes, else None.
        rows: the usable source frames (see :func:`source_rows`), in memory, or the folder
            holding them as ``<name>.npy`` (staged for worker processes; memory-mapped).
    """

    skeleton: Skeleton
    out_skeleton: Skeleton
    motions: MotionsConfig
    cameras: CamerasConfig | None
    camera_mode: CameraMode
    table: Camera | None
    camera_names: np.ndarray | None
    per_sample_model: str | None
    rig_size: int
    rows: Mapping[str, np.ndarray] | str

    def memory_rows(self) -> Mapping[str, np.ndarray]:
        """The rows, when they are held in memory (a plan from :func:`make_plan`)."""
        if isinstance(self.rows, str):
            raise ValueError(f"augment plan: the rows are staged in {self.rows}, not in memory")
        return self.rows


def make_plan(dataset: PoseDataset, motions: MotionsConfig, cameras: CamerasConfig | None) -> AugmentPlan:
    """The plan of augmenting ``dataset``, its usable ``rows`` held in memory."""
    rows, fields = source_rows(dataset, motions, cameras)
    skeleton = dataset.skeleton
    extended = motions.extra_keypoints and skeleton.num_joints == 17
    plan = AugmentPlan(
        skeleton=skeleton, out_skeleton=H36M_EXTENDED if extended else skeleton, motions=motions,
        cameras=cameras, rows=rows, **fields,
    )  # fmt: skip
    return plan


def frames_per_shard(shard_size: int, variants: int) -> int:
    """Source frames per shard: ``shard_size`` variants, in whole frames (at least one)."""
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(f"shard_size: expected an integer >= 1, got {shard_size!r}")
    return max(1, shard_size // variants)


def rows_checksum(rows: Mapping[str, np.ndarray]) -> str:
    """SHA-256 of the rows (names, dtypes, shapes and bytes): a resumed job must see the same input."""
    digest = hashlib.sha256()
    for name in sorted(rows):
        arr = np.ascontiguousarray(rows[name])
        digest.update(f"{name}:{arr.dtype.str}:{arr.shape};".encode())
        # numpy's stubs give ndarray __buffer__ only for Python >= 3.12 (python_version is 3.11)
        digest.update(memoryview(arr.reshape(-1).view(np.uint8)))  # type: ignore[arg-type]
    return digest.hexdigest()


def augment_meta(
    plan: AugmentPlan, dataset_meta: Mapping[str, Any], seed: int, shard_size: int, checksum: str
) -> dict[str, Any]:
    """The store ``meta`` of the augment job (also its identity when resuming)."""
    from posesynth.data.formats.store_io import pose_store_meta

    provenance = {
        "generator": "posesynth augment", "version": __version__, "seed": seed, "shard_size": shard_size,
        "motions": plan.motions.model_dump(mode="json"),
        "cameras": None if plan.cameras is None else plan.cameras.model_dump(mode="json"),
        "source": dict(dataset_meta), "source_rows_sha256": checksum,
    }  # fmt: skip
    model = plan.per_sample_model
    if plan.camera_mode == "new":
        model = CameraModel.parse(plan.cameras.model).value  # type: ignore[union-attr]
    return pose_store_meta(
        plan.out_skeleton, provenance, extra=("source_index", "variant"), camera_model=model,
        camera_table=plan.table, camera_names=plan.camera_names,
    )  # fmt: skip


def augment_job(plan: AugmentPlan, meta: Mapping[str, Any], frames: int, seed: int, shard_size: int) -> ShardedJob:
    """The augment of ``frames`` usable source frames as a sharded job: shard ``k`` reposes
    a block of consecutive frames (all their variants) from its own random stream."""
    return ShardedJob(
        meta=meta, sizes=tuple(shard_sizes(frames, frames_per_shard(shard_size, plan.motions.variants))),
        seed=seed, make_shard=functools.partial(augment_task, plan), exact_sizes=False,
    )  # fmt: skip


def _load_rows(plan: AugmentPlan, start: int, stop: int) -> dict[str, np.ndarray]:
    if isinstance(plan.rows, str):
        folder = Path(plan.rows)
        return {
            f.stem: np.array(np.load(f, mmap_mode="r", allow_pickle=False)[start:stop])
            for f in sorted(folder.glob("*.npy"))
        }
    return {k: np.asarray(v)[start:stop] for k, v in plan.rows.items()}


def augment_shard(plan: AugmentPlan, task: ShardTask) -> AugmentShard:
    """Shard ``task`` of an augment job: the variants of source frames ``task.start ..
    task.start + task.samples`` that pass the checks, and the shard's counts (``variants``,
    ``rejected_rom``, ``rejected_collision``) and angle histograms."""
    rng = np.random.default_rng(task.seed)
    rows = _load_rows(plan, task.start, task.start + task.samples)
    motions, skeleton = plan.motions, plan.skeleton
    n = len(rows["frame_index"])
    local = np.repeat(np.arange(n), motions.variants)
    p, rom_ok, before, after = repose(rng, rows["positions"][local], skeleton, motions)
    if motions.hand_targets.active:  # drawn only when asked, so other motions keep their bytes
        h = motions.hand_targets
        reached = reach_targets(rng, p, skeleton, h.probability, h.weights, h.offset_sd_m, h.swivel_deg)
        p, rows_moved = reached.positions, reached.moved.any(axis=1)
        if rows_moved.any():  # the angles recorded are those of the pose made
            after = {k: np.where(rows_moved, reached.angles[k], v) for k, v in after.items()}
    if motions.side_bend.active:  # drawn only when asked, so other motions keep their bytes
        lo, hi = np.deg2rad(motions.side_bend.range_deg)
        bend = rng.uniform(lo, hi, len(local)) * (rng.random(len(local)) < motions.side_bend.probability)
        p = bend_sideways(p, skeleton, bend)
    for seg, (lo, hi) in motions.bone_scale.items():
        f = rng.uniform(lo, hi, len(local))
        p = scale_bones(p, skeleton, {j: f for j in SEGMENTS[seg] if j in skeleton.joint_names})
    yaw_lo, yaw_hi = np.deg2rad(motions.global_rotation.yaw_deg)
    if yaw_hi > yaw_lo or yaw_lo != 0:
        p = rotate_about_vertical(p, rng.uniform(yaw_lo, yaw_hi, len(local)))
    keep = rom_ok.copy()
    stats: dict[str, Any] = {"variants": len(local), "rejected_rom": int((~rom_ok).sum()), "rejected_collision": 0}
    if motions.collisions == "reject":
        hit = colliding(p, estimate_height(p[:, :17]), collision_model(skeleton)) & keep
        stats["rejected_collision"] = int(hit.sum())
        keep &= ~hit
    stats["angles"] = angle_counts({k: v[keep] for k, v in before.items()}, {k: v[keep] for k, v in after.items()})
    stats["samples"] = int(keep.sum()) * (plan.cameras.count if plan.camera_mode == "new" else plan.rig_size)  # type: ignore[union-attr]
    if not keep.any():
        return AugmentShard(None, stats)
    if not keep.all():
        p, local = p[keep], local[keep]
    positions = p
    # kept variants of each frame are numbered 0, 1, ... (rows of a frame are adjacent)
    _, first = np.unique(local, return_index=True)
    variant = np.arange(len(local)) - np.repeat(first, np.diff(np.append(first, len(local))))
    if plan.out_skeleton is not skeleton:
        positions = add_extra_keypoints(positions)

    cameras, camera_index, per_pose = None, None, 1
    if plan.camera_mode == "new":
        per_pose = plan.cameras.count  # type: ignore[union-attr]
        reps = np.repeat(positions, per_pose, axis=0)
        cameras = sample_cameras(rng, reps, plan.cameras.model, plan.cameras.ranges())  # type: ignore[union-attr]
    elif plan.camera_mode == "rig":
        per_pose, cameras = plan.rig_size, plan.table
        base = rows["subject_code"][local] * per_pose if "subject_code" in rows else np.zeros(len(local), np.int64)
        camera_index = (base[:, None] + np.arange(per_pose)).ravel()
    elif plan.camera_mode == "table":
        cameras, camera_index = plan.table, rows["camera_index"][local]
    elif plan.camera_mode == "per_sample":
        fields = {field: rows[name][local] for name, field in CAMERA_ARRAYS.items()}
        cameras = Camera(model=CameraModel.parse(str(plan.per_sample_model)), **fields)
    # one sample per pose: the arrays themselves (each made for this shard), not copies
    rep = (lambda a: a) if per_pose == 1 else (lambda a: np.repeat(a, per_pose, axis=0))
    p_world = rep(positions)
    ids: dict[str, Any] = {k: rep(rows[k][local]) for k in ("subject", "action", "frame") if k in rows}
    names = plan.camera_names if plan.camera_mode == "table" else None
    if plan.camera_mode == "per_sample" and "camera_name" in rows:  # a large source table taken apart
        names = rows["camera_name"][local]
    ds = PoseDataset(
        skeleton=plan.out_skeleton, joints_3d_world=p_world, cameras=cameras, camera_index=camera_index,
        camera_names=names, **ids,
        extra={"source_index": rep(rows["frame_index"][local]), "variant": rep(variant.astype(np.int64))},
    )  # fmt: skip
    if ds.cameras is not None:  # camera 3D, 2D and visibility in one pass (what complete() + visible() give)
        p_cam, uv, seen = ds.sample_cameras().observe(p_world)
        ds = replace(ds, joints_3d_camera=p_cam, joints_2d=uv, visibility=seen.astype(np.float64))
    return AugmentShard(ds, stats)


def augment_task(plan: AugmentPlan, task: ShardTask) -> ShardOutput:
    """Shard ``task`` as store arrays for :mod:`posesynth.jobs.shards` (an empty shard: a
    zero-row ``joints_3d_world``, which the job drops)."""
    made = augment_shard(plan, task)
    if made.dataset is None:
        return ShardOutput({"joints_3d_world": np.zeros((0, plan.out_skeleton.num_joints, 3))}, made.stats)
    return ShardOutput(dataset_store_arrays(made.dataset), made.stats)


def augment(
    dataset: PoseDataset,
    motions: MotionsConfig,
    cameras: CamerasConfig | None = None,
    seed: int = 0,
    shard_size: int = DEFAULT_SHARD_SIZE,
    progress: Callable[[int], None] | None = None,
) -> AugmentResult:
    """Repose every usable frame of ``dataset`` ``motions.variants`` times, in memory.

    The same shards as :func:`posesynth.jobs.augment_store.augment_to_store` writes (same
    ``seed`` and ``shard_size``: the same samples), run one after the other here.
    ``progress`` is called with the number of source frames done after each shard
    (skipped frames count as done at once), adding up to ``len(dataset)``.
    """
    plan = make_plan(dataset, motions, cameras)
    rows = plan.memory_rows()
    meta = augment_meta(plan, dataset.meta, seed, shard_size, rows_checksum(rows))
    job = augment_job(plan, meta, len(rows["frame_index"]), seed, shard_size)
    skipped = len(dataset) - len(rows["frame_index"])
    if progress is not None and skipped:
        progress(skipped)
    parts, stats = [], []
    for task in job.tasks():
        made = augment_shard(plan, task)
        stats.append(made.stats)
        if made.dataset is not None:
            parts.append(made.dataset)
        if progress is not None:
            progress(task.samples)
    if not parts:
        raise ValueError("augment: every variant was rejected by the ROM or collision checks")
    out = concat_datasets(parts, meta=meta["source"])
    summary = augment_summary(plan, len(dataset), skipped, stats)
    return AugmentResult(
        out, summary, rows["positions"][np.searchsorted(rows["frame_index"], out.extra["source_index"])]
    )


def augment_summary(
    plan: AugmentPlan, source_frames: int, skipped: int, stats: Sequence[Mapping[str, Any]]
) -> AugmentSummary:
    """The summary of an augment job from its shards' statistics: counts (frames, skipped,
    rejected, samples written, distinct cameras), then the moved angles' histograms."""
    merged = merge_shard_stats(stats)
    samples = merged["samples"]
    if plan.table is not None:
        cameras = plan.table.batch_shape[0]
    else:
        cameras = samples if plan.camera_mode in ("new", "per_sample") else 0
    return AugmentSummary(
        source_frames=source_frames, skipped_frames=skipped, variants=plan.motions.variants,
        rejected_rom=merged["rejected_rom"], rejected_collision=merged["rejected_collision"],
        samples=samples, cameras=cameras, skeleton=plan.out_skeleton.name, angles=merged["angles"],
    )  # fmt: skip
