"""The input of an augment job: source 3D in a Z-up frame, its usable frames as rows, and
how their cameras are chosen (new random ones, a fixed rig, or the source's own).

Rows are plain arrays (one row per usable source frame) so that they can be staged on disk
and memory-mapped by worker processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from posesynth.data.dataset import PoseDataset
from posesynth.geometry.camera import Camera, h36m_subject_cameras, stack_cameras
from posesynth.jobs.camera_config import CamerasConfig
from posesynth.poses.motion_spec import MotionsConfig

__all__ = ["CAMERA_ARRAYS", "MAX_TABLE_CAMERAS", "SOURCE_ARRAYS", "read_source", "source_positions", "source_rows"]

# camera frame (x right, y down, z forward) → a Z-up frame (x right, y forward, z up)
_CAM_TO_ZUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def source_positions(dataset: PoseDataset) -> np.ndarray:
    """Source 3D (N, J, 3) in a Z-up frame: world 3D, else camera 3D taken to the world by
    the cameras, else camera 3D turned Z-up."""
    if dataset.joints_3d_world is not None:
        return dataset.joints_3d_world
    if dataset.joints_3d_camera is not None:
        world = dataset.complete().joints_3d_world if dataset.cameras is not None else None
        if world is not None:
            return world
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


def source_rows(
    dataset: PoseDataset, motions: MotionsConfig, cameras: CamerasConfig | None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The usable frames of ``dataset`` as arrays of one row per frame, and the plan fields
    (when every frame is usable, ``positions`` and the ids are the data set's own arrays, not
    copies: read them, do not write them).

    Rows: ``frame_index`` (int64 index into ``dataset``), ``positions`` (U, J, 3) metres in
    a Z-up frame, ``subject``/``action``/``frame`` where the dataset has them (fixed-width
    strings), ``subject_code`` (int64 into the sorted subjects; ``rig`` mode),
    ``camera_index`` (``table`` mode), ``camera_<field>`` arrays (``per_sample`` mode: a source
    with a camera per sample, or a table of more than :data:`MAX_TABLE_CAMERAS` cameras, whose
    names, if any, become the per-sample ``camera_name``).

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
    every = len(keep) == len(ok)  # every frame usable: rows are the arrays themselves, not copies
    pick = (lambda a: np.asarray(a)) if every else (lambda a: np.asarray(a)[keep])
    rows: dict[str, np.ndarray] = {"frame_index": keep.astype(np.int64), "positions": pick(p_src)}
    for name in ("subject", "action", "frame"):
        value = getattr(dataset, name)
        if value is not None:
            rows[name] = storable(pick(value), name)
    plan: dict[str, Any] = {"table": None, "camera_names": None, "per_sample_model": None, "rig_size": 1}
    if cameras is not None and cameras.rig is not None:
        plan["camera_mode"] = "rig"
        plan["table"], plan["rig_size"], codes = _rig_table(cameras, rows.get("subject"))
        if codes is not None:
            rows["subject_code"] = codes
    elif cameras is not None:
        plan["camera_mode"] = "new"
    elif dataset.cameras is not None and dataset.joints_3d_world is not None:
        table_size = dataset.cameras.batch_shape[0] if dataset.camera_index is not None else 0
        if dataset.camera_index is not None and table_size <= MAX_TABLE_CAMERAS:
            plan.update(camera_mode="table", table=dataset.cameras, camera_names=dataset.camera_names)
            rows["camera_index"] = np.asarray(dataset.camera_index, dtype=np.int64)[keep]
        else:
            # one camera per sample; a large table (a file with a camera per frame) is taken
            # apart into per-sample rows, so the store's manifest does not hold it
            plan.update(camera_mode="per_sample", per_sample_model=dataset.cameras.model.value)
            index = keep if dataset.camera_index is None else np.asarray(dataset.camera_index, np.int64)[keep]
            for name, field in CAMERA_ARRAYS.items():
                rows[name] = np.asarray(getattr(dataset.cameras, field))[index]
            if dataset.camera_index is not None and dataset.camera_names is not None:
                rows["camera_name"] = storable(np.asarray(dataset.camera_names)[index], "camera_names")
    else:
        plan["camera_mode"] = "none"
    return rows, plan


#: Cameras a source's table may hold and still be written as the output's camera table (in the
#: store's manifest, serialised as JSON); a larger table (MMPose files of generated data have a
#: camera per frame) becomes per-sample camera arrays in the shards, whose cost does not grow
#: with the manifest. Human3.6M's whole rig is 11 subjects x 4 cameras.
MAX_TABLE_CAMERAS = 256

CAMERA_ARRAYS = {
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

    cams, _ = read_calib_toml(str(cfg.rig))
    table = cams if isinstance(cams, Camera) else stack_cameras(list(cams))
    return table, table.batch_shape[0], None
