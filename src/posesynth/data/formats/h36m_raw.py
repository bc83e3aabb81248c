"""Raw Human3.6M pose files: ``S*/MyPoseFeatures/D3_Positions*/<Action> <n>[.<camera>].cdf``.

Each file is a NASA CDF holding the variable ``Pose``: one record of ``(T, 96)`` values - 32
joints times (x, y, z), **millimetres**, 50 Hz - which ``cdflib`` returns as ``(1, T, 96)``
(VideoPose3D's ``prepare_data_h36m.py --from-source-cdf`` reshapes it to ``(T, 32, 3)`` the
same way). Folders:

``D3_Positions``
    World frame (Human3.6M's: Z up). File ``Directions 1.cdf``.
``D3_Positions_mono``
    The same joints in one camera's frame, ``X_cam = R (X_world - C)`` with the calibrated
    camera (x right, y down, z forward, as posesynth's camera frame). File
    ``Directions 1.54138969.cdf``: the suffix is the camera id.
``D3_Positions_mono_universal``
    Camera frame, poses of a "universal" skeleton with the same limb lengths for every
    subject; read like ``D3_Positions_mono`` (``meta["universal"]`` is True).

The 32 joints are reduced to Human3.6M-17 with the conventions' keep list
``[0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]`` and converted to metres.
Subject and action come from the path (the ``S<n>`` folder, the file name without camera
suffix and ``.cdf``) unless given. Action names are kept as the dataset spells them
(VideoPose3D renames ``TakingPhoto`` to ``Photo`` and ``WalkingDog`` to ``WalkDog``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from posesynth.body.mappings import convert_keypoints
from posesynth.body.skeleton import H36M17
from posesynth.data.dataset import PoseDataset
from posesynth.geometry.camera import H36M_CAMERA_IDS, H36M_SUBJECTS, h36m_subject_cameras

__all__ = ["H36M_FRAME_RATE_HZ", "read_h36m_cdf"]

#: Frame rate of Human3.6M's motion capture and videos.
H36M_FRAME_RATE_HZ = 50.0

_SUBJECT_RE = re.compile(r"^S\d+$")
_SPACES = ("world", "camera")


def _parse_path(path: Path) -> tuple[str | None, str, str | None]:
    """``(subject or None, action, camera id or None)`` from a Human3.6M file path."""
    subject = next((p for p in reversed(path.parts[:-1]) if _SUBJECT_RE.match(p)), None)
    stem = path.name[: -len(".cdf")] if path.name.lower().endswith(".cdf") else path.stem
    action, camera = stem, None
    head, dot, tail = stem.rpartition(".")
    if dot and tail in H36M_CAMERA_IDS:
        action, camera = head, tail
    return subject, action, camera


def _read_pose(path: Path) -> np.ndarray:
    """The ``Pose`` variable as float64 ``(T, 32, 3)`` millimetres."""
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    import cdflib  # deferred: only this reader needs it

    try:
        cdf = cdflib.CDF(str(path))
        info = cdf.cdf_info()
        names = list(info.zVariables) + list(info.rVariables)
    except Exception as exc:  # not a CDF, truncated, unsupported
        raise ValueError(f"{path}: not a readable CDF file ({type(exc).__name__}: {exc})") from exc
    if "Pose" not in names:
        raise ValueError(f"{path}: missing variable 'Pose' (variables present: {names})")
    try:
        data = cdf.varget("Pose")
    except Exception as exc:
        raise ValueError(f"{path}: variable 'Pose' cannot be read ({type(exc).__name__}: {exc})") from exc
    arr = np.asarray(data)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{path}: variable 'Pose': expected numbers, got dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2 or arr.shape[1] != 96:
        raise ValueError(
            f"{path}: variable 'Pose': expected shape (1, T, 96) or (T, 96) (32 joints x xyz), got {np.shape(data)}"
        )
    arr = arr.astype(np.float64).reshape(-1, 32, 3)
    if np.isinf(arr).any():
        first = tuple(int(i) for i in np.argwhere(np.isinf(arr))[0])
        raise ValueError(
            f"{path}: variable 'Pose': expected finite values (NaN marks a missing joint), got "
            f"{int(np.isinf(arr).sum())} inf (first at frame, joint, axis {first})"
        )
    return arr


def read_h36m_cdf(
    path: str | Path,
    subject: str | None = None,
    action: str | None = None,
    *,
    space: str | None = None,
) -> PoseDataset:
    """Read one raw Human3.6M ``D3_Positions*`` CDF file as Human3.6M-17 poses in metres.

    Args:
        path: the ``.cdf`` file, e.g. ``S1/MyPoseFeatures/D3_Positions/Directions 1.cdf``.
        subject: subject id (``"S1"``); default: the ``S<n>`` folder in ``path``.
        action: action name; default: the file name without ``.cdf`` and camera suffix.
        space: ``"world"`` or ``"camera"``; default from the folder (``D3_Positions`` is
            world, ``D3_Positions_mono*`` camera) or, failing that, from a camera-id suffix
            in the file name.

    Returns:
        A :class:`PoseDataset` (skeleton ``H36M17``) with one sample per frame (``frame``
        0-based, 50 Hz): ``joints_3d_world (T, 17, 3)`` metres, world frame (Z up); or, for
        camera-frame files, ``joints_3d_camera (T, 17, 3)`` metres, camera frame (OpenCV)
        and, when the subject and camera are Human3.6M's, that preset camera
        (``cameras`` of batch (1,), so :meth:`PoseDataset.complete` gives the world poses and
        2D). ``visibility`` is 0 for NaN joints (None when none is missing).

    Raises:
        ValueError: naming the file for an unreadable CDF, a missing ``Pose`` variable, a
            shape other than 96 values per frame, inf values, an unknown ``space``, or a
            camera-frame file without camera id. ``FileNotFoundError`` for a missing file.
    """
    path = Path(path)
    parsed_subject, parsed_action, camera_id = _parse_path(path)
    if space is None:
        folder = path.parent.name
        if folder == "D3_Positions":
            space = "world"
        elif folder.startswith("D3_Positions_mono"):
            space = "camera"
        else:
            space = "camera" if camera_id is not None else "world"
    elif space not in _SPACES:
        raise ValueError(f"space: expected one of {list(_SPACES)}, got {space!r}")
    subject = parsed_subject if subject is None else subject
    action = parsed_action if action is None else action

    pose_mm = _read_pose(path)
    points, vis = convert_keypoints(pose_mm / 1000.0, "h36m32", "h36m17")
    n = points.shape[0]
    meta: dict[str, Any] = {
        "format": "h36m_cdf",
        "file": str(path),
        "space": space,
        "universal": path.parent.name.endswith("_universal"),
        "units_in_file": "mm",
        "frame_rate_hz": H36M_FRAME_RATE_HZ,
        "missing_points": int((vis == 0).sum()),
        "camera_id": camera_id,
    }
    common: dict[str, Any] = {
        "skeleton": H36M17,
        "visibility": None if (vis == 1).all() else vis,
        "subject": None if subject is None else np.full(n, subject),
        "action": np.full(n, action),
        "frame": np.arange(n, dtype=np.int64),
        "meta": meta,
    }
    if space == "world":
        return PoseDataset(joints_3d_world=points, **common)
    if camera_id is None:
        raise ValueError(
            f"{path}: a camera-frame file needs a camera id suffix in its name (e.g. "
            f"'Directions 1.54138969.cdf', one of {list(H36M_CAMERA_IDS)})"
        )
    cameras = camera_index = camera_names = None
    if subject is not None and subject in H36M_SUBJECTS:
        k = H36M_CAMERA_IDS.index(camera_id)
        cameras = h36m_subject_cameras(subject)[k : k + 1]
        camera_index = np.zeros(n, dtype=np.int64)
        camera_names = np.array([f"{subject}/{camera_id}"])
    return PoseDataset(
        joints_3d_camera=points,
        cameras=cameras,
        camera_index=camera_index,
        camera_names=camera_names,
        **common,
    )
