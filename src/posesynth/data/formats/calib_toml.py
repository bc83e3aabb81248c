"""Pose2Sim / Anipose camera calibration files (``Calib*.toml``): read and write.

One table per camera, as Pose2Sim's ``calibration.toml_write`` and aniposelib's
``CameraGroup.dump`` write them, plus tables that are not cameras::

    [cam_01]                                  # any table name; Pose2Sim uses the camera name
    name = "cam_01"
    size = [ 1920.0, 1080.0]                  # [width, height] pixels
    matrix = [ [ fx, 0.0, cx], [ 0.0, fy, cy], [ 0.0, 0.0, 1.0]]
    distortions = [ k1, k2, p1, p2]           # OpenCV order; a 5th value is k3 (Anipose)
    rotation = [ rx, ry, rz]                  # Rodrigues vector, world -> camera
    translation = [ tx, ty, tz]               # X_cam = R @ X_world + t (OpenCV), metres
    fisheye = false                           # true: distortions are k1..k4 (cv2.fisheye)

    [metadata]                                # skipped, as are capture_volume, charuco,
    adjusted = false                          # checkerboard and any non-table value
    error = 0.0

Conversions (to posesynth's ``X_cam = R (X_world - C)``): ``R`` is the Rodrigues vector's
matrix and ``C = -R.T @ t`` (:func:`posesynth.geometry.camera.rotation_center`); ``t`` is scaled by
``units`` (Pose2Sim writes metres; Anipose writes the unit of the board's square size, often
millimetres). Cameras map to the models ``opencv`` (k3 = 0 when 4 values are given) and
``fisheye``; the camera matrix must have zero skew.

World frame: the file's world is kept as it is. Pose2Sim's is Z up - its extrinsic
calibration uses a board lying on the floor (corners at ``(x, y, 0)``) or scene points given in
a Z-up frame, and it converts to OpenSim's Y up only when writing ``.trc`` files (``zup2yup``),
which :func:`posesynth.data.formats.trc.read_trc` undoes. So cameras from this reader and points
from that one share one world. Anipose's world is the board's frame and need not be Z up.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from posesynth.geometry.camera import Camera, CameraModel, rotation_center, rotation_translation
from posesynth.geometry.rotations import (
    matrix_to_quat,
    quat_to_matrix,
    quat_to_rotvec,
    rotvec_to_quat,
)
from posesynth.util.atomic import atomic_path

__all__ = ["NON_CAMERA_TABLES", "read_calib_toml", "write_calib_toml", "write_dataset_calib"]

#: Top-level tables that hold no camera (skipped on reading, refused as camera names).
NON_CAMERA_TABLES = ("metadata", "capture_volume", "charuco", "checkerboard")

#: Metres per file unit accepted by ``units``.
_UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001}
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_REQUIRED = ("size", "matrix", "distortions", "rotation", "translation")


def _vector(path: Path, table: str, key: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: [{table}] {key}: expected numbers of shape {shape}, got {value!r}") from None
    if arr.shape != shape:
        raise ValueError(f"{path}: [{table}] {key}: expected shape {shape}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{path}: [{table}] {key}: expected finite numbers, got {arr.tolist()}")
    return arr


def _camera(path: Path, table: str, data: dict, scale: float) -> tuple[Camera, str]:
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ValueError(f"{path}: [{table}]: missing field(s) {missing}; expected {list(_REQUIRED)}")
    name = data.get("name", table)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{path}: [{table}] name: expected a non-empty string, got {name!r}")
    fisheye = data.get("fisheye", False)
    if not isinstance(fisheye, bool):
        raise ValueError(f"{path}: [{table}] fisheye: expected true or false, got {fisheye!r}")
    size = _vector(path, table, "size", data["size"], (2,))
    if (size <= 0).any() or (size != np.round(size)).any():
        raise ValueError(f"{path}: [{table}] size: expected positive whole [width, height], got {size.tolist()}")
    k = _vector(path, table, "matrix", data["matrix"], (3, 3))
    if k[0, 1] != 0.0 or k[1, 0] != 0.0 or k[2, 0] != 0.0 or k[2, 1] != 0.0 or k[2, 2] != 1.0:
        raise ValueError(
            f"{path}: [{table}] matrix: expected [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] (no skew), got {k.tolist()}"
        )
    dist = np.asarray(data["distortions"], dtype=object)
    n_dist = dist.size if dist.ndim == 1 else -1
    allowed = (4,) if fisheye else (4, 5)
    if n_dist not in allowed:
        what = "k1..k4 (fisheye)" if fisheye else "k1, k2, p1, p2[, k3] (OpenCV)"
        raise ValueError(
            f"{path}: [{table}] distortions: expected {' or '.join(map(str, allowed))} values "
            f"{what}, got {data['distortions']!r}"
        )
    dist = _vector(path, table, "distortions", data["distortions"], (n_dist,))
    if not fisheye and n_dist == 4:
        dist = np.append(dist, 0.0)
    rvec = _vector(path, table, "rotation", data["rotation"], (3,))
    tvec = _vector(path, table, "translation", data["translation"], (3,)) * scale
    R = quat_to_matrix(rotvec_to_quat(rvec))
    R, C = rotation_center(R, tvec)
    try:
        camera = Camera(
            model=CameraModel.FISHEYE if fisheye else CameraModel.OPENCV,
            intrinsics=np.array([k[0, 0], k[1, 1], k[0, 2], k[1, 2]]),
            distortion=dist,
            rotation=R,
            center=C,
            image_size=size.astype(np.int64),
        )
    except ValueError as exc:
        raise ValueError(f"{path}: [{table}]: {exc}") from exc
    return camera, name


def read_calib_toml(path: str | Path, *, units: str = "m") -> tuple[Camera | list[Camera], list[str]]:
    """Read the cameras of a Pose2Sim / Anipose calibration file.

    Args:
        path: the ``.toml`` file.
        units: unit of ``translation`` in the file: ``"m"`` (Pose2Sim), ``"mm"`` or ``"cm"``.

    Returns:
        ``(cameras, names)`` in file order. ``cameras`` is one :class:`Camera` of batch
        shape ``(K,)`` when every camera has the same model (``opencv``, or ``fisheye``
        when ``fisheye = true``), otherwise a list of ``K`` unbatched cameras. World frame:
        the file's (Pose2Sim's is Z up; see the module docstring), metres; ``names`` are the
        ``name`` fields (the table name where absent).

    Raises:
        ValueError: naming the file, the table and the field: invalid TOML, no camera
            table, missing fields, wrong shapes, skew, an unsupported number of distortion
            coefficients, non-finite values, duplicate names, or an unknown ``units``.
            ``FileNotFoundError`` for a missing file.
    """
    path = Path(path)
    if units not in _UNITS:
        raise ValueError(f"units: expected one of {list(_UNITS)}, got {units!r}")
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML (not UTF-8 text: {exc})") from exc
    cameras: list[Camera] = []
    names: list[str] = []
    for table, data in doc.items():
        if table in NON_CAMERA_TABLES or not isinstance(data, dict):
            continue
        camera, name = _camera(path, table, data, _UNITS[units])
        if name in names:
            raise ValueError(f"{path}: [{table}] name: {name!r} is used by another camera")
        cameras.append(camera)
        names.append(name)
    if not cameras:
        raise ValueError(f"{path}: no camera table found (tables: {list(doc)}); expected tables with {list(_REQUIRED)}")
    if len({c.model for c in cameras}) > 1:
        return cameras, names
    return _stack(cameras), names


def _stack(cameras: list[Camera]) -> Camera:
    return Camera(
        model=cameras[0].model,
        intrinsics=np.stack([c.intrinsics for c in cameras]),
        distortion=np.stack([c.distortion for c in cameras]),
        rotation=np.stack([c.rotation for c in cameras]),
        center=np.stack([c.center for c in cameras]),
        image_size=np.stack([c.image_size for c in cameras]),
    )


def _toml_string(text: str) -> str:
    """``text`` as a TOML basic string (quoted, backslash and quote escaped)."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise ValueError(f"names: control characters are not allowed, got {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_key(name: str) -> str:
    return name if _BARE_KEY.match(name) else _toml_string(name)


def _f(v: float) -> str:
    return repr(float(v))


def _list(values: Sequence[float] | np.ndarray) -> str:
    return "[ " + ", ".join(_f(v) for v in values) + "]"


def _unbatch(cameras: Camera | Sequence[Camera]) -> list[Camera]:
    if isinstance(cameras, Camera):
        if cameras.batch_shape == ():
            return [cameras]
        if len(cameras.batch_shape) != 1:
            raise ValueError(f"cameras: expected a batch of shape (K,), got {cameras.batch_shape}")
        return [cameras[i] for i in range(cameras.batch_shape[0])]
    out = []
    for c in cameras:
        if not isinstance(c, Camera):
            raise ValueError(f"cameras: expected Camera objects, got {type(c).__name__}")
        out.extend(_unbatch(c))
    return out


def write_calib_toml(
    cameras: Camera | Sequence[Camera],
    names: Sequence[str],
    path: str | Path,
    *,
    units: str = "m",
    overwrite: bool = False,
) -> Path:
    """Write cameras as a Pose2Sim calibration file (readable by Pose2Sim and Anipose).

    Args:
        cameras: a :class:`Camera` batch ``(K,)`` (or unbatched), or a sequence of them;
            models ``pinhole`` (written as OpenCV with zero distortion), ``opencv``
            (4 coefficients when k3 = 0, else 5) or ``fisheye``. World frame as stored.
        names: one unique camera name per camera; also the table names.
        path: the ``.toml`` file (written atomically).
        units: unit of ``translation`` in the file (``"m"`` as Pose2Sim).
        overwrite: replace an existing file.

    Returns:
        ``path``. Each table holds ``name``, ``size``, ``matrix``, ``distortions``,
        ``rotation`` (Rodrigues vector of ``R``), ``translation`` (``t = -R @ C``) and
        ``fisheye``, followed by ``[metadata]`` as Pose2Sim writes it.

    Raises:
        ValueError: the ``h36m`` model (its tangential term is not OpenCV's), a names count
            other than the cameras count, duplicate or reserved names, unknown ``units``, or
            an existing ``path`` without ``overwrite``.
    """
    path = Path(path)
    if units not in _UNITS:
        raise ValueError(f"units: expected one of {list(_UNITS)}, got {units!r}")
    cams = _unbatch(cameras)
    names = [str(n) for n in names]
    if len(names) != len(cams):
        raise ValueError(f"names: expected {len(cams)} names (one per camera), got {len(names)}")
    if len(set(names)) != len(names):
        raise ValueError(f"names: expected unique names, got {names}")
    for n in names:
        if not n or n in NON_CAMERA_TABLES:
            raise ValueError(f"names: {n!r} is not allowed as a camera name")
    blocks = []
    for cam, name in zip(cams, names, strict=True):
        model = cam.model
        if model == CameraModel.H36M:
            raise ValueError(
                f"cameras: {name!r} uses the h36m model, whose tangential distortion differs "
                "from OpenCV's; Pose2Sim files hold opencv or fisheye cameras only"
            )
        fx, fy, cx, cy = (float(v) for v in cam.intrinsics)
        if model == CameraModel.PINHOLE:
            dist = [0.0, 0.0, 0.0, 0.0]
        else:
            dist = [float(v) for v in cam.distortion]
            if model == CameraModel.OPENCV and dist[4] == 0.0:
                dist = dist[:4]
        R, t = rotation_translation(cam.rotation, cam.center)
        rvec = quat_to_rotvec(matrix_to_quat(R))
        t = t / _UNITS[units]
        w, h = (int(v) for v in cam.image_size)
        blocks.append(
            f"[{_toml_key(name)}]\n"
            f"name = {_toml_string(name)}\n"
            f"size = [ {w}, {h}]\n"
            f"matrix = [ [ {_f(fx)}, 0.0, {_f(cx)}], [ 0.0, {_f(fy)}, {_f(cy)}], "
            "[ 0.0, 0.0, 1.0]]\n"
            f"distortions = {_list(dist)}\n"
            f"rotation = {_list(rvec)}\n"
            f"translation = {_list(t)}\n"
            f"fisheye = {'true' if model == CameraModel.FISHEYE else 'false'}\n"
        )
    text = "\n".join(blocks) + "\n[metadata]\nadjusted = false\nerror = 0.0\n"
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


#: File name written by :func:`write_dataset_calib` into a folder (Pose2Sim's ``Calib*.toml``).
CALIB_FILE = "Calib.toml"


def write_dataset_calib(dataset: Any, out: str | Path, *, overwrite: bool = False) -> Path:
    """Write the distinct cameras of a data set as a Pose2Sim calibration file.

    Args:
        dataset: a :class:`posesynth.data.dataset.PoseDataset` with cameras of model
            ``pinhole``, ``opencv`` or ``fisheye`` (``h36m`` is refused: its tangential term
            is not OpenCV's). A camera table is written as it is; per-sample cameras are
            written once per distinct camera (by their parameters, in order of first use).
        out: ``*.toml`` for the file itself; otherwise a folder to create, holding
            :data:`CALIB_FILE`.
        overwrite: replace an existing output.

    Returns:
        The ``.toml`` path. Camera names are the part after ``/`` of ``camera_names``
        (``S1/54138969`` -> ``54138969``; made unique with the index), else ``cam_<k>``
        (1-based, as Pose2Sim numbers cameras).
    """
    from posesynth.data.formats.videopose3d import _camera_table

    out = Path(out)
    if dataset.cameras is None:
        raise ValueError("dataset: has no cameras; a Calib.toml holds cameras")
    _, table = _camera_table(dataset)
    assert table is not None  # the data set has cameras (checked above)
    k = table.batch_shape[0]
    names = [f"cam_{i + 1:02d}" for i in range(k)]
    if dataset.camera_names is not None and dataset.camera_index is not None:
        raw = [str(n).rpartition("/")[2] or names[i] for i, n in enumerate(np.asarray(dataset.camera_names).tolist())]
        names = raw if len(set(raw)) == len(raw) else [f"{n}_{i + 1}" for i, n in enumerate(raw)]
    if out.suffix.lower() == ".toml":
        return write_calib_toml(table, names, out, overwrite=overwrite)
    if out.exists() and not overwrite:
        raise ValueError(f"{out}: already exists; pass overwrite=True (--overwrite) to replace it")
    if out.exists() and (not out.is_dir() or any(e.name != CALIB_FILE for e in out.iterdir())):
        raise ValueError(f"{out}: refusing to replace something other than a folder holding {CALIB_FILE}")
    with atomic_path(out, overwrite=overwrite) as tmp:
        tmp.mkdir()
        write_calib_toml(table, names, tmp / CALIB_FILE)
    return out / CALIB_FILE
