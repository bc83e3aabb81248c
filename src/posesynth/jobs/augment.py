"""``posesynth augment``: repose real poses over the range of motion and view them anew.

Stages, each a pure function over batched arrays:

1. source 3D in a Z-up frame (world 3D; or camera 3D turned Z-up when a file has no world);
   frames with NaN or invisible joints are skipped and counted;
2. ``variants`` copies per frame, each reposed by the motions file (:mod:`posesynth.poses.motion_spec`)
   — one inverse kinematics, every angle change in file order, one forward kinematics — then
   the ROM policy (reject or clamp), bone scaling, a turn about the vertical;
3. the collision check (:mod:`posesynth.body.collision`), rejected variants counted;
4. optional extra keypoints (:mod:`posesynth.poses.keypoints`);
5. cameras: new ones around each pose (:mod:`posesynth.geometry.placement`, any model, ``count`` per
   pose), a fixed rig, or the source's own camera; then 2D and visibility.

Only keypoints are produced: images are not re-rendered.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from posesynth import __version__
from posesynth.body.angles import angles_from_local, local_from_angles, skeleton_dofs
from posesynth.geometry.camera import Camera, CameraModel, h36m_subject_cameras, stack_cameras
from posesynth.body.collision import colliding, collision_model
from posesynth.data.dataset import PoseDataset
from posesynth.jobs.generate import CameraConfig
from posesynth.poses.keypoints import add_extra_keypoints, estimate_height
from posesynth.body.kinematics import (
    default_rest_offsets,
    forward_kinematics,
    inverse_kinematics,
)
from posesynth.poses.motions import (
    HINGE_FLEXION_SIGN,
    descendants,
    hinge_flexion,
    rotate_about_vertical,
    scale_bones,
    set_hinge_flexion,
)
from posesynth.poses.motion_spec import SEGMENTS, MotionsConfig
from posesynth.geometry.placement import sample_cameras
from posesynth.body.rom import out_of_range, rom_table, shoulder_elevation_cap
from posesynth.jobs.shards import ShardedJob, ShardOutput, ShardTask, shard_sizes
from posesynth.body.skeleton import H36M_EXTENDED, Skeleton
from posesynth.util.yaml_config import load_model

# camera frame (x right, y down, z forward) → a Z-up frame (x right, y forward, z up)
_CAM_TO_ZUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


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
    return cfg


@dataclass(frozen=True)
class AugmentResult:
    dataset: PoseDataset
    summary: dict[str, Any]
    source_positions: np.ndarray  # (M, J, 3) the source pose of each output sample (Z-up frame)


def source_positions(dataset: PoseDataset) -> np.ndarray:
    """Source 3D (N, J, 3) in a Z-up frame: world 3D, else camera 3D taken to the world by
    the cameras, else camera 3D turned Z-up."""
    if dataset.joints_3d_world is not None:
        return dataset.joints_3d_world
    if dataset.joints_3d_camera is not None:
        if dataset.cameras is not None:
            return dataset.complete().joints_3d_world
        return dataset.joints_3d_camera @ _CAM_TO_ZUP.T
    raise ValueError("augment: the input has no 3D joints (2D only); expected world or camera 3D")


#: What augment reads of a posesynth store: 3D, visibility, ids and cameras (not 2D, angles...).
SOURCE_ARRAYS = frozenset(
    ("joints_3d_world", "joints_3d_camera", "visibility", "subject", "action", "frame", "camera_index",
     "camera_name", "camera_intrinsics", "camera_distortion", "camera_rotation", "camera_center",
     "camera_image_size")
)  # fmt: skip


def read_source(path: Path | str) -> PoseDataset:
    """The input of an augment job from ``path`` in any readable format; from a posesynth
    store only :data:`SOURCE_ARRAYS` are read (camera 3D only when it has no world 3D), so
    memory holds what augment uses."""
    from posesynth.data.formats.registry import detect_format, read_any
    from posesynth.data.formats.store_io import read_store
    from posesynth.data.store import open_store

    if detect_format(path) != "posesynth":
        return read_any(path)
    names = set(open_store(path).array_names) & SOURCE_ARRAYS
    if "joints_3d_world" in names:
        names.discard("joints_3d_camera")
    elif "joints_3d_camera" not in names:
        raise ValueError(f"{path}: augment: the store has no 3D joints (2D only); expected world or camera 3D")
    return read_store(path, arrays=names)


def _usable(dataset: PoseDataset, p: np.ndarray) -> np.ndarray:
    ok = np.isfinite(p).all(axis=(-1, -2))
    if dataset.visibility is not None:
        ok &= (dataset.visibility > 0).all(axis=-1)
    return ok


def _hinge_only(motions: MotionsConfig, skeleton: Skeleton) -> bool:
    """True when every motion sets a knee/elbow flexion and nothing needs the full angle set."""
    if motions.rom != "off":
        return False
    for m in motions.motions:
        if m.mode != "set" or any(n.split("_")[1] not in HINGE_FLEXION_SIGN for n in m.targets(skeleton)):
            return False
    return True


def _clamp_to_rom(angles: dict[str, np.ndarray], skeleton: Skeleton) -> dict[str, np.ndarray]:
    table = rom_table(skeleton)
    out = {}
    for name, v in angles.items():
        lo, hi = table[name].bounds
        out[name] = np.clip(v, lo, hi)
    for name in out:
        plane = out.get(name.replace("elevation", "plane"))
        if name.endswith("shoulder_elevation") and plane is not None:
            out[name] = np.minimum(out[name], shoulder_elevation_cap(plane))
    return out


def repose(
    rng: np.random.Generator, positions: np.ndarray, skeleton: Skeleton, motions: MotionsConfig
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Apply the motions to poses (M, J, 3); returns (positions, rom_ok (M,), angles before, after)."""
    m = positions.shape[0]
    rest = default_rest_offsets(skeleton)
    if _hinge_only(motions, skeleton):
        out = positions
        before, after = {}, {}
        for motion in motions.motions:
            for name in motion.targets(skeleton):
                joint = name[: -len("_flexion")]
                value = motion.draw(rng, m, name)
                take = rng.random(m) < motion.probability
                cur = hinge_flexion(out, skeleton, joint, rest)
                before.setdefault(name, cur)
                after[name] = np.where(take, value, cur)
                out = set_hinge_flexion(out, skeleton, joint, after[name], rest)
        return out, np.ones(m, dtype=bool), before, after

    local, offsets = inverse_kinematics(positions, skeleton, rest)
    before = angles_from_local(local, skeleton, rest)
    new = dict(before)
    for motion in motions.motions:
        for name in motion.targets(skeleton):
            value = motion.draw(rng, m, name)
            take = rng.random(m) < motion.probability
            new[name] = np.where(take, new[name] + value if motion.mode == "add" else value, new[name])
    if motions.rom == "clamp":
        new = _clamp_to_rom(new, skeleton)
    rebuilt = local_from_angles(new, skeleton, rest, shape=(m,))
    moved = np.zeros(skeleton.num_joints, dtype=bool)
    for dofs in skeleton_dofs(skeleton):
        changed = any(not np.array_equal(new[n], before[n]) for n in dofs.names)
        if changed:
            j = skeleton.index(dofs.joint)
            local[:, j] = rebuilt[:, j]
            moved |= descendants(skeleton, j)
    out = positions.copy()
    out[:, moved] = forward_kinematics(local, offsets, skeleton)[:, moved]
    rom_ok = np.ones(m, dtype=bool)
    if motions.rom != "off":
        # judge the pose that was made, as pose_angles reads it: a limb clamped straight hands
        # its unobservable twist to the next joint, which may then leave its range
        new = angles_from_local(inverse_kinematics(out, skeleton, rest)[0], skeleton, rest)
        rom_ok = ~out_of_range(new, skeleton, tol=1e-9)
    return out, rom_ok, before, new


# ------------------------------------------------------------------------------ the shard job

#: Variants per shard by default (rounded down to whole source frames).
DEFAULT_SHARD_SIZE = 20_000
#: Histogram bins of the summary, degrees (on a fixed grid, so shards add up).
BIN_DEG = 15.0

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


def source_rows(
    dataset: PoseDataset, motions: MotionsConfig, cameras: CamerasConfig | None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The usable frames of ``dataset`` as arrays of one row per frame, and the plan fields.

    Rows: ``frame_index`` (int64 index into ``dataset``), ``positions`` (U, J, 3) metres in
    a Z-up frame, ``subject``/``action``/``frame`` where the dataset has them (fixed-width
    strings), ``subject_code`` (int64 into the sorted subjects; ``rig`` mode),
    ``camera_index`` (``table`` mode), ``camera_<field>`` arrays (``per_sample`` mode).

    Raises:
        ValueError: no usable frame; the input has no 3D; rig ``h36m`` without subjects.
    """
    from posesynth.data.formats.store_io import storable

    skeleton = dataset.skeleton
    motions.check(skeleton)
    p_src = source_positions(dataset)
    ok = _usable(dataset, p_src)
    if not ok.any():
        raise ValueError(f"augment: no usable frames (all {len(dataset)} have NaN or invisible joints)")
    keep = np.flatnonzero(ok)
    rows: dict[str, np.ndarray] = {"frame_index": keep.astype(np.int64), "positions": p_src[keep]}
    for name in ("subject", "action", "frame"):
        value = getattr(dataset, name)
        if value is not None:
            rows[name] = storable(np.asarray(value)[keep], name)
    plan: dict[str, Any] = {"table": None, "camera_names": None, "per_sample_model": None, "rig_size": 1}
    if cameras is not None and cameras.rig is not None:
        plan["camera_mode"] = "rig"
        plan["table"], plan["rig_size"], codes = _rig_table(cameras, rows.get("subject"))
        if codes is not None:
            rows["subject_code"] = codes
    elif cameras is not None:
        plan["camera_mode"] = "new"
    elif dataset.cameras is not None and dataset.joints_3d_world is not None:
        if dataset.camera_index is not None:
            plan.update(camera_mode="table", table=dataset.cameras, camera_names=dataset.camera_names)
            rows["camera_index"] = np.asarray(dataset.camera_index, dtype=np.int64)[keep]
        else:
            plan.update(camera_mode="per_sample", per_sample_model=dataset.cameras.model.value)
            for name, field in _CAMERA_ARRAYS.items():
                rows[name] = np.asarray(getattr(dataset.cameras, field))[keep]
    else:
        plan["camera_mode"] = "none"
    return rows, plan


_CAMERA_ARRAYS = {
    "camera_intrinsics": "intrinsics", "camera_distortion": "distortion", "camera_rotation": "rotation",
    "camera_center": "center", "camera_image_size": "image_size",
}  # fmt: skip


def _rig_table(cfg: CamerasConfig, subjects: np.ndarray | None) -> tuple[Camera, int, np.ndarray | None]:
    """(camera table, K cameras per pose, per-row subject codes or None) of a fixed rig."""
    if cfg.rig == "h36m":
        if subjects is None:
            raise ValueError("cameras: rig 'h36m' needs subject ids (S1, S5, ...) in the input")
        names, codes = np.unique(subjects, return_inverse=True)
        tables = [h36m_subject_cameras(str(s)) for s in names]
        k = len(tables[0])
        return stack_cameras([t[i] for t in tables for i in range(k)]), k, codes.astype(np.int64)
    from posesynth.data.formats.calib_toml import read_calib_toml

    cams, _ = read_calib_toml(cfg.rig)
    table = cams if isinstance(cams, Camera) else stack_cameras(list(cams))
    return table, table.batch_shape[0], None


def make_plan(
    dataset: PoseDataset, motions: MotionsConfig, cameras: CamerasConfig | None
) -> AugmentPlan:
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
        digest.update(arr.reshape(-1).view(np.uint8) if arr.size else b"")
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


def augment_job(
    plan: AugmentPlan, meta: Mapping[str, Any], frames: int, seed: int, shard_size: int
) -> ShardedJob:
    """The augment of ``frames`` usable source frames as a sharded job: shard ``k`` reposes
    a block of consecutive frames (all their variants) from its own random stream."""
    return ShardedJob(
        meta=meta, sizes=tuple(shard_sizes(frames, frames_per_shard(shard_size, plan.motions.variants))),
        seed=seed, make_shard=functools.partial(augment_shard, plan), exact_sizes=False,
    )  # fmt: skip


def _load_rows(plan: AugmentPlan, start: int, stop: int) -> dict[str, np.ndarray]:
    if isinstance(plan.rows, str):
        folder = Path(plan.rows)
        return {
            f.stem: np.array(np.load(f, mmap_mode="r", allow_pickle=False)[start:stop])
            for f in sorted(folder.glob("*.npy"))
        }
    return {k: np.asarray(v)[start:stop] for k, v in plan.rows.items()}


def augment_shard(plan: AugmentPlan, task: ShardTask) -> ShardOutput:
    """Shard ``task`` of an augment job: the store arrays of the variants of source frames
    ``task.start .. task.start + task.samples`` that pass the checks, and the shard's counts
    (``variants``, ``rejected_rom``, ``rejected_collision``) and angle histograms."""
    from posesynth.data.formats.store_io import dataset_store_arrays

    rng = np.random.default_rng(task.seed)
    rows = _load_rows(plan, task.start, task.start + task.samples)
    motions, skeleton = plan.motions, plan.skeleton
    n = len(rows["frame_index"])
    local = np.repeat(np.arange(n), motions.variants)
    p, rom_ok, before, after = repose(rng, rows["positions"][local], skeleton, motions)
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
    stats["angles"] = _angle_counts({k: v[keep] for k, v in before.items()}, {k: v[keep] for k, v in after.items()})
    stats["samples"] = int(keep.sum()) * (plan.cameras.count if plan.camera_mode == "new" else plan.rig_size)  # type: ignore[union-attr]
    if not keep.any():
        return ShardOutput({"joints_3d_world": np.zeros((0, plan.out_skeleton.num_joints, 3))}, stats)
    positions, local = p[keep], local[keep]
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
        fields = {field: rows[name][local] for name, field in _CAMERA_ARRAYS.items()}
        cameras = Camera(model=plan.per_sample_model, **fields)
    rep = lambda a: np.repeat(a, per_pose, axis=0)  # noqa: E731
    ds = PoseDataset(
        skeleton=plan.out_skeleton, joints_3d_world=rep(positions), cameras=cameras, camera_index=camera_index,
        camera_names=plan.camera_names if plan.camera_mode == "table" else None,
        **{k: rep(rows[k][local]) for k in ("subject", "action", "frame") if k in rows},
        extra={"source_index": rep(rows["frame_index"][local]), "variant": rep(variant.astype(np.int64))},
    ).complete()  # fmt: skip
    if ds.cameras is not None:
        ds = replace(ds, visibility=ds.sample_cameras().visible(ds.joints_3d_world).astype(np.float64))
    return ShardOutput(dataset_store_arrays(ds), stats)


def _angle_counts(before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Per angle: counts over :data:`BIN_DEG` bins of a fixed grid (from bin ``lo_bin``),
    before and after, their exact ranges in degrees and whether any value changed."""
    out: dict[str, Any] = {}
    for name, a_rad in after.items():
        if len(a_rad) == 0:
            continue
        b, a = np.rad2deg(before[name]), np.rad2deg(a_rad)
        bins_b, bins_a = np.floor(b / BIN_DEG).astype(np.int64), np.floor(a / BIN_DEG).astype(np.int64)
        lo = int(min(bins_b.min(), bins_a.min()))
        hi = int(max(bins_b.max(), bins_a.max()))
        out[name] = {
            "lo_bin": lo,
            "before": np.bincount(bins_b - lo, minlength=hi - lo + 1).tolist(),
            "after": np.bincount(bins_a - lo, minlength=hi - lo + 1).tolist(),
            "before_range_deg": [float(b.min()), float(b.max())],
            "after_range_deg": [float(a.min()), float(a.max())],
            "changed": not np.array_equal(a, b),
        }
    return out


def merge_shard_stats(stats: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The counts and angle histograms of a whole job from those of its shards (any order)."""
    merged: dict[str, Any] = {
        key: sum(int(s[key]) for s in stats) for key in ("variants", "rejected_rom", "rejected_collision", "samples")
    }
    per_name: dict[str, list[Mapping[str, Any]]] = {}
    for s in stats:
        for name, h in s["angles"].items():
            per_name.setdefault(name, []).append(h)
    angles: dict[str, Any] = {}
    for name, hs in per_name.items():
        if not any(h["changed"] for h in hs):
            continue
        lo = min(h["lo_bin"] for h in hs)
        hi = max(h["lo_bin"] + len(h["before"]) for h in hs)
        counts = {"before": np.zeros(hi - lo, np.int64), "after": np.zeros(hi - lo, np.int64)}
        for h in hs:
            for key, total in counts.items():
                total[h["lo_bin"] - lo : h["lo_bin"] - lo + len(h[key])] += h[key]
        angles[name] = {
            "bin_edges_deg": [BIN_DEG * k for k in range(lo, hi + 1)],
            "before": counts["before"].tolist(),
            "after": counts["after"].tolist(),
            **{
                f"{key}_range_deg": [
                    round(min(h[f"{key}_range_deg"][0] for h in hs), 2),
                    round(max(h[f"{key}_range_deg"][1] for h in hs), 2),
                ]
                for key in ("before", "after")
            },
        }
    merged["angles"] = angles
    return merged


def augment(
    dataset: PoseDataset,
    motions: MotionsConfig,
    cameras: CamerasConfig | None = None,
    seed: int = 0,
    shard_size: int = DEFAULT_SHARD_SIZE,
    progress: Callable[[int], None] | None = None,
) -> AugmentResult:
    """Repose every usable frame of ``dataset`` ``motions.variants`` times, in memory.

    The same shards as :func:`posesynth.augment_job.augment_to_store` writes (same
    ``seed`` and ``shard_size``: the same samples), run one after the other here.
    ``progress`` is called with the number of source frames done after each shard
    (skipped frames count as done at once), adding up to ``len(dataset)``.
    """
    from posesynth.data.formats.store_io import dataset_from_store_arrays

    plan = make_plan(dataset, motions, cameras)
    rows = plan.rows
    meta = augment_meta(plan, dataset.meta, seed, shard_size, rows_checksum(rows))
    job = augment_job(plan, meta, len(rows["frame_index"]), seed, shard_size)
    skipped = len(dataset) - len(rows["frame_index"])
    if progress is not None and skipped:
        progress(skipped)
    parts, stats = [], []
    for task in job.tasks():
        made = augment_shard(plan, task)
        stats.append(made.stats)
        if len(next(iter(made.arrays.values()))):
            parts.append(made.arrays)
        if progress is not None:
            progress(task.samples)
    if not parts:
        raise ValueError("augment: every variant was rejected by the ROM or collision checks")
    arrays = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    out = dataset_from_store_arrays(meta, arrays, "augment")
    out = replace(out, meta=dict(meta["source"]))
    summary = augment_summary(plan, len(dataset), skipped, stats)
    return AugmentResult(out, summary, rows["positions"][np.searchsorted(rows["frame_index"], out.extra["source_index"])])


def augment_summary(
    plan: AugmentPlan, source_frames: int, skipped: int, stats: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The summary of an augment job from its shards' statistics: counts (frames, skipped,
    rejected, samples written, distinct cameras), then the moved angles' histograms."""
    merged = merge_shard_stats(stats)
    samples = merged["samples"]
    if plan.table is not None:
        cameras = plan.table.batch_shape[0]
    else:
        cameras = samples if plan.camera_mode in ("new", "per_sample") else 0
    return {
        "source_frames": source_frames, "skipped_frames": skipped, "variants": plan.motions.variants,
        "rejected_rom": merged["rejected_rom"], "rejected_collision": merged["rejected_collision"],
        "samples": samples, "cameras": cameras, "skeleton": plan.out_skeleton.name, "angles": merged["angles"],
    }  # fmt: skip
