"""``posesynth augment``: repose real poses over the range of motion and view them anew.

Stages, each a pure function over batched arrays:

1. source 3D in a Z-up frame (world 3D; or camera 3D turned Z-up when a file has no world);
   frames with NaN or invisible joints are skipped and counted;
2. ``variants`` copies per frame, each reposed by the motions file (:mod:`posesynth.motions_file`)
   — one inverse kinematics, every angle change in file order, one forward kinematics — then
   the ROM policy (reject or clamp), bone scaling, a turn about the vertical;
3. the collision check (:mod:`posesynth.collision`), rejected variants counted;
4. optional extra keypoints (:mod:`posesynth.keypoints`);
5. cameras: new ones around each pose (:mod:`posesynth.placement`, any model, ``count`` per
   pose), a fixed rig, or the source's own camera; then 2D and visibility.

Only keypoints are produced: images are not re-rendered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from posesynth import __version__
from posesynth.angles import angles_from_local, local_from_angles, skeleton_dofs
from posesynth.camera import Camera, h36m_subject_cameras, stack_cameras
from posesynth.collision import colliding, collision_model
from posesynth.dataset import PoseDataset
from posesynth.generate import CameraConfig
from posesynth.keypoints import add_extra_keypoints, estimate_height
from posesynth.kinematics import (
    default_rest_offsets,
    forward_kinematics,
    inverse_kinematics,
)
from posesynth.motions import (
    HINGE_FLEXION_SIGN,
    descendants,
    hinge_flexion,
    rotate_about_vertical,
    scale_bones,
    set_hinge_flexion,
)
from posesynth.motions_file import SEGMENTS, MotionsConfig
from posesynth.placement import sample_cameras
from posesynth.rom import out_of_range, rom_table, shoulder_elevation_cap
from posesynth.skeleton import H36M_EXTENDED, Skeleton
from posesynth.yaml_config import load_model

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
    """Source 3D (N, J, 3) in a Z-up frame: world 3D, else camera 3D turned Z-up."""
    ds = dataset.complete()
    if ds.joints_3d_world is not None:
        return ds.joints_3d_world
    if ds.joints_3d_camera is not None:
        return ds.joints_3d_camera @ _CAM_TO_ZUP.T
    raise ValueError("augment: the input has no 3D joints (2D only); expected world or camera 3D")


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


def _rig_cameras(cfg: CamerasConfig, subjects: np.ndarray | None, n: int) -> tuple[Camera, np.ndarray, int]:
    """(camera table, per-sample index (n·K,), K cameras per pose) of a fixed rig."""
    if cfg.rig == "h36m":
        if subjects is None:
            raise ValueError("cameras: rig 'h36m' needs subject ids (S1, S5, ...) in the input")
        names = sorted(set(subjects.tolist()))
        tables = [h36m_subject_cameras(s) for s in names]
        k = len(tables[0])
        table = stack_cameras([t[i] for t in tables for i in range(k)])
        base = np.array([names.index(s) for s in subjects]) * k
        return table, (base[:, None] + np.arange(k)).ravel(), k
    from posesynth.formats.calib_toml import read_calib_toml

    cams, _ = read_calib_toml(cfg.rig)
    table = cams if isinstance(cams, Camera) else stack_cameras(list(cams))
    k = table.batch_shape[0]
    return table, np.tile(np.arange(k), n), k


def augment(
    dataset: PoseDataset,
    motions: MotionsConfig,
    cameras: CamerasConfig | None = None,
    seed: int = 0,
    chunk: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> AugmentResult:
    """Repose every usable frame of ``dataset`` ``motions.variants`` times; see the module docstring.

    ``progress`` is called with the number of variants done after each chunk (skipped
    frames count as done at once), adding up to ``len(dataset) * variants``.
    """
    rng = np.random.default_rng(seed)
    skeleton = dataset.skeleton
    motions.check(skeleton)
    p_src = source_positions(dataset)
    ok = _usable(dataset, p_src)
    src_idx = np.repeat(np.flatnonzero(ok), motions.variants)
    summary: dict[str, Any] = {
        "source_frames": len(dataset), "skipped_frames": int((~ok).sum()),
        "variants": motions.variants, "rejected_rom": 0, "rejected_collision": 0,
    }
    if progress is not None and summary["skipped_frames"]:
        progress(summary["skipped_frames"] * motions.variants)
    if len(src_idx) == 0:
        raise ValueError(f"augment: no usable frames (all {len(dataset)} have NaN or invisible joints)")

    parts, keep_parts, before_parts, after_parts = [], [], [], []
    for start in range(0, len(src_idx), chunk):
        idx = src_idx[start:start + chunk]
        p, rom_ok, before, after = repose(rng, p_src[idx], skeleton, motions)
        for seg, (lo, hi) in motions.bone_scale.items():
            f = rng.uniform(lo, hi, len(idx))
            p = scale_bones(p, skeleton, {j: f for j in SEGMENTS[seg] if j in skeleton.joint_names})
        yaw_lo, yaw_hi = np.deg2rad(motions.global_rotation.yaw_deg)
        if yaw_hi > yaw_lo or yaw_lo != 0:
            p = rotate_about_vertical(p, rng.uniform(yaw_lo, yaw_hi, len(idx)))
        keep = rom_ok.copy()
        summary["rejected_rom"] += int((~rom_ok).sum())
        if motions.collisions == "reject":
            hit = colliding(p, estimate_height(p[:, :17]), collision_model(skeleton)) & keep
            summary["rejected_collision"] += int(hit.sum())
            keep &= ~hit
        parts.append(p[keep]), keep_parts.append(idx[keep])
        before_parts.append({k: v[keep] for k, v in before.items()})
        after_parts.append({k: v[keep] for k, v in after.items()})
        if progress is not None:
            progress(len(idx))
    positions = np.concatenate(parts)
    src = np.concatenate(keep_parts)
    if len(src) == 0:
        raise ValueError("augment: every variant was rejected by the ROM or collision checks")
    out_skeleton = skeleton
    if motions.extra_keypoints and skeleton.num_joints == 17:
        positions, out_skeleton = add_extra_keypoints(positions), H36M_EXTENDED
    # variant numbers of the kept samples: position within each source frame's block
    _, first = np.unique(src, return_index=True)
    variant = np.arange(len(src)) - np.repeat(first, np.diff(np.append(first, len(src))))

    ids = {k: None if getattr(dataset, k) is None else getattr(dataset, k)[src] for k in ("subject", "action", "frame")}
    source_p = p_src[src]
    table, cam_index, per_pose = None, None, 1
    if cameras is not None and cameras.rig is not None:
        table, cam_index, per_pose = _rig_cameras(cameras, ids["subject"], len(src))
    elif cameras is not None:
        per_pose = cameras.count
        reps = np.repeat(positions, per_pose, axis=0)
        table = sample_cameras(rng, reps, cameras.model, cameras.ranges())
    elif dataset.cameras is not None and dataset.joints_3d_world is not None:
        table = dataset.sample_cameras()[src]
    if per_pose > 1:
        positions = np.repeat(positions, per_pose, axis=0)
        src, variant, source_p = (np.repeat(a, per_pose, axis=0) for a in (src, variant, source_p))
        ids = {k: None if v is None else np.repeat(v, per_pose) for k, v in ids.items()}
    out = PoseDataset(
        skeleton=out_skeleton, joints_3d_world=positions, cameras=table, camera_index=cam_index,
        subject=ids["subject"], action=ids["action"], frame=ids["frame"],
        extra={"source_index": src.astype(np.int64), "variant": variant.astype(np.int64)},
        meta={
            "generator": "posesynth augment", "version": __version__, "seed": seed,
            "motions": motions.model_dump(mode="json"),
            "cameras": None if cameras is None else cameras.model_dump(mode="json"),
            "source": dict(dataset.meta),
        },
    ).complete()
    if out.cameras is not None:
        vis = out.sample_cameras().visible(out.joints_3d_world)
        out = replace(out, visibility=vis.astype(np.float64))
    summary.update(samples=len(out), cameras=out.num_cameras, skeleton=out_skeleton.name)
    summary["angles"] = _histograms(before_parts, after_parts)
    return AugmentResult(out, summary, source_p)


def _histograms(before_parts: list[dict], after_parts: list[dict]) -> dict[str, dict[str, Any]]:
    """Per angle that any motion moved: 15° histograms before and after (counts)."""
    if not after_parts or not after_parts[0]:
        return {}
    out = {}
    for name in after_parts[0]:
        b = np.rad2deg(np.concatenate([d[name] for d in before_parts]))
        a = np.rad2deg(np.concatenate([d[name] for d in after_parts]))
        if np.array_equal(a, b):
            continue
        lo = float(np.floor(min(a.min(), b.min()) / 15.0) * 15.0)
        hi = float(np.ceil(max(a.max(), b.max()) / 15.0) * 15.0 + 1e-9)
        edges = np.arange(lo, hi + 15.0, 15.0)
        out[name] = {
            "bin_edges_deg": edges.tolist(),
            "before": np.histogram(b, edges)[0].tolist(),
            "after": np.histogram(a, edges)[0].tolist(),
            "before_range_deg": [round(float(b.min()), 2), round(float(b.max()), 2)],
            "after_range_deg": [round(float(a.min()), 2), round(float(a.max()), 2)],
        }
    return out
