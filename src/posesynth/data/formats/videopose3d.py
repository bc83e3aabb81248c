"""VideoPose3D's data files: ``data_3d_<name>.npz`` and ``data_2d_<name>_<source>.npz``.

The layout is the one VideoPose3D's ``data/prepare_data_h36m.py`` and
``data/prepare_data_2d_custom.py`` write with ``np.savez_compressed`` (each field a pickled
dict stored as a 0-d object array) and its ``run.py`` reads back:

``data_3d_*.npz``
    ``positions_3d = {subject: {action: (T, J, 3)}}``, world frame, **metres**, float32.
    VideoPose3D's Human3.6M file keeps the raw **32** mocap joints (its loader drops 15 of
    them); 17-joint files are read too.
``data_2d_*.npz``
    ``positions_2d = {subject: {action: [(T, J, 2) per camera]}}``, **pixels**, and
    ``metadata = {"layout_name": ..., "num_joints": J, "keypoints_symmetry": [left, right]}``
    (``layout_name`` is absent from the ground-truth Human3.6M file; ``video_metadata =
    {video: {"w": ..., "h": ...}}`` is added by ``prepare_data_2d_custom``). Layouts read:
    ``h36m`` (17 joints, also when ``layout_name`` is absent), ``coco`` (17), ``mpii`` (16)
    and the raw 32-joint Human3.6M layout; ``keypoints_symmetry`` must match the layout.

Everything is returned as Human3.6M-17 (:data:`posesynth.body.skeleton.H36M17`): 32-joint data
keeps the joints ``[0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]``; COCO and
MPII 2D are converted by :mod:`posesynth.body.mappings` (with its documented approximations).

Cameras: the files hold none. VideoPose3D pairs the 2D list of a Human3.6M subject with its
four calibrated cameras in the order of its ``h36m_cameras_intrinsic_params`` - 54138969,
55011271, 58860488, 60457274, i.e. :data:`posesynth.geometry.camera.H36M_CAMERA_IDS`. So when every
subject has published calibration (:data:`posesynth.geometry.camera.H36M_SUBJECTS`: S1, S5-S9, S11)
and every action has exactly four 2D sequences, the samples get the Human3.6M presets
(:func:`posesynth.geometry.camera.h36m_subject_cameras`, model ``h36m``); otherwise they get no
cameras. ``extra["camera"]`` always holds the index in
the file's camera list.

Security: the fields are pickles, and ``np.load(..., allow_pickle=True)`` would run any code a
pickle names. The reader never calls it: it opens the zip itself and unpickles each field with
the NumPy-only unpickler of :mod:`posesynth.data.formats.numpy_pickle` (containers, arrays, dtypes and
scalars load; any other global is refused, naming the file, before anything runs). The writer
writes the layout ``np.savez_compressed`` writes (a deflated ``<field>.npy`` per field), with
pickles that NumPy 1.x loads too; each dict is pickled in fixed batches of its items, each after
a no-op marker (:class:`_StreamedDict`), and every member has the same time stamp, so a data
set gives the same bytes whether it is written whole or streamed in chunks.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

from posesynth.body.mappings import (
    H36M32_TO_17,
    LayoutMapping,
    apply_mapping,
    convert_keypoints,
    layout_joint_names,
    mapping,
)
from posesynth.body.skeleton import H36M17
from posesynth.data.dataset import PoseDataset
from posesynth.data.formats._camera_pickle import ITEMS_HEAD as _ITEMS_HEAD
from posesynth.data.formats._camera_pickle import dict_items_pickle, seeded_pickler
from posesynth.data.formats.numpy_pickle import (
    NumpyOnlyUnpickler,
    RefusedGlobal,
    dumps_numpy_pickle,
)
from posesynth.data.validate import check_elements
from posesynth.geometry.camera import (
    H36M_CAMERA_IDS,
    H36M_SUBJECTS,
    Camera,
    CameraModel,
    h36m_subject_cameras,
)
from posesynth.util.atomic import atomic_path

__all__ = ["H36M32_PARENTS", "read_videopose3d", "write_videopose3d"]

#: Parents of the raw 32-joint Human3.6M skeleton (VideoPose3D's ``h36m_skeleton``).
H36M32_PARENTS: tuple[int, ...] = (
    -1,
    0,
    1,
    2,
    3,
    4,
    0,
    6,
    7,
    8,
    9,
    0,
    11,
    12,
    13,
    14,
    12,
    16,
    17,
    18,
    19,
    20,
    19,
    22,
    12,
    24,
    25,
    26,
    27,
    28,
    27,
    30,
)

# VideoPose3D's ``layout_name`` -> posesynth keypoint layout.
_LAYOUT_NAMES = {"h36m": "h36m17", "coco": "coco17", "mpii": "mpii16"}
# Layout to assume from the joint count when ``layout_name`` is absent.
_LAYOUT_BY_COUNT = {17: "h36m17", 32: "h36m32"}
_ZIP_MAGIC = b"PK\x03\x04"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------


def _load_fields(path: Path, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
    """The pickled dicts stored as 0-d object arrays in an ``.npz``, unpickled safely.

    Each member ``<key>.npy`` is an ``.npy`` header (object dtype, shape ``()``) followed by a
    pickle, which is loaded with the NumPy-only unpickler of :mod:`posesynth.data.formats.numpy_pickle`:
    containers, NumPy arrays, dtypes and scalars load; any other global is refused before
    anything runs.
    """
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != _ZIP_MAGIC:
        raise ValueError(f"{path}: not an .npz (zip) archive (starts with {magic!r})")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from exc
    out: dict[str, Any] = {}
    with archive:
        members = {n[: -len(".npy")]: n for n in archive.namelist() if n.endswith(".npy")}
        for key in required + optional:
            if key not in members:
                if key in required:
                    raise ValueError(f"{path}: missing field {key!r} (fields present: {sorted(members)})")
                continue
            value = _load_member(path, archive, members[key], key)
            if not isinstance(value, dict):
                raise ValueError(f"{path}: field {key!r}: expected a dict, got {type(value).__name__}")
            out[key] = value
    return out


def npy_header(fp: Any) -> tuple[tuple[int, int], tuple[int, ...] | None, np.dtype | None]:
    """``(version, shape, dtype)`` of the ``.npy`` stream ``fp`` at its start, leaving ``fp``
    at the data; shape and dtype None for a version other than 1.0 and 2.0 (the caller says
    what that means). NumPy's own errors (a bad magic, a damaged header) pass through."""
    version = npy_format.read_magic(fp)
    if version == (1, 0):
        shape, _, dtype = npy_format.read_array_header_1_0(fp)
    elif version == (2, 0):
        shape, _, dtype = npy_format.read_array_header_2_0(fp)
    else:
        return version, None, None
    return version, shape, dtype


def _load_member(path: Path, archive: zipfile.ZipFile, member: str, key: str) -> Any:
    try:
        with archive.open(member) as fp:
            version, shape, dtype = npy_header(fp)
            if dtype is None:
                raise ValueError(f"unsupported .npy version {version}")
            if dtype != np.dtype(object) or shape != ():
                raise _NotADict(
                    f"{path}: field {key!r}: expected a pickled dict (0-d object array), got "
                    f"{dtype} array of shape {shape}"
                )
            holder = NumpyOnlyUnpickler(fp, f"{path} (field {key!r})").load()
    except (_NotADict, RefusedGlobal):
        raise
    except Exception as exc:  # CRC errors, truncated members, broken pickles
        raise ValueError(f"{path}: field {key!r} cannot be read ({type(exc).__name__}: {exc})") from exc
    if not isinstance(holder, np.ndarray) or holder.shape != ():
        raise ValueError(f"{path}: field {key!r}: expected a 0-d object array in the pickle")
    return holder.item()


class _NotADict(ValueError):
    """A field that is an ordinary array rather than a pickled dict."""


def _numeric(path: Path, where: str, value: Any, dims: tuple[int, ...]) -> np.ndarray:
    """``value`` as float64 ``(T, J, D)`` with ``D`` in ``dims``; finite or NaN (missing)."""
    return _stored(path, where, value, dims).astype(np.float64)


def _stored(path: Path, where: str, value: Any, dims: tuple[int, ...], block: int = 4096) -> np.ndarray:
    """``value`` as stored, checked as :func:`_numeric` checks it (numeric ``(T, J, D)`` with
    ``D`` in ``dims``, no inf; the same errors), without a copy: inf is looked for a block
    of frames at a time."""
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise ValueError(f"{path}: {where}: not an array ({exc})") from exc
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{path}: {where}: expected a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 3 or arr.shape[-1] not in dims:
        want = " or ".join(f"(T, J, {d})" for d in dims)
        raise ValueError(f"{path}: {where}: expected shape {want}, got {arr.shape}")
    if arr.dtype.kind != "f":
        return arr
    count, first = 0, None
    for lo in range(0, arr.shape[0], block):
        bad = np.isinf(arr[lo : lo + block])
        k = int(bad.sum())
        if k and first is None:
            at = np.argwhere(bad)[0]
            first = (lo + int(at[0]), *(int(i) for i in at[1:]))
        count += k
    if count:
        raise ValueError(
            f"{path}: {where}: expected finite values (NaN marks a missing point), got "
            f"{count} inf (first at index {first})"
        )
    return arr


def _nested(path: Path, field: str, data: dict) -> list[tuple[str, str, Any]]:
    """Flatten ``{subject: {action: value}}`` into ``(subject, action, value)``, checked."""
    out = []
    for subject, actions in data.items():
        if not isinstance(subject, str):
            raise ValueError(f"{path}: {field}: expected subject names (str), got {subject!r}")
        if not isinstance(actions, dict):
            raise ValueError(f"{path}: {field}[{subject!r}]: expected a dict of actions, got {type(actions).__name__}")
        for action, value in actions.items():
            if not isinstance(action, str):
                raise ValueError(f"{path}: {field}[{subject!r}]: expected action names (str), got {action!r}")
            out.append((subject, action, value))
    return out


def _read_3d(path: Path) -> tuple[list[tuple[str, str, np.ndarray]], str]:
    data = _load_fields(path, ("positions_3d",))["positions_3d"]
    seqs = []
    joints = None
    nested = _nested(path, "positions_3d", data)
    total = sum(int(np.size(v)) for _, _, v in nested if isinstance(v, np.ndarray))
    check_elements(f"{path}: positions_3d", total, 8)  # before the float64 copies (audit F06)
    for subject, action, value in nested:
        where = f"positions_3d[{subject!r}][{action!r}]"
        arr = _numeric(path, where, value, (3,))
        if joints is None:
            joints = arr.shape[1]
            if joints not in _LAYOUT_BY_COUNT:
                raise ValueError(
                    f"{path}: {where}: expected 17 (Human3.6M-17) or 32 (raw Human3.6M) joints, got {joints}"
                )
        elif arr.shape[1] != joints:
            raise ValueError(f"{path}: {where}: expected {joints} joints like the other sequences, got {arr.shape[1]}")
        seqs.append((subject, action, arr))
    if not seqs:
        raise ValueError(f"{path}: positions_3d: expected at least one sequence, got none")
    assert joints is not None  # set by the first sequence
    return seqs, _LAYOUT_BY_COUNT[joints]


def _expected_symmetry(layout: str) -> tuple[set[int], set[int]]:
    names = layout_joint_names(layout)
    left = {i for i, n in enumerate(names) if n.startswith("left_")}
    right = {i for i, n in enumerate(names) if n.startswith("right_")}
    return left, right


def _layout_2d(path: Path, metadata: dict, joints: int) -> str:
    name = metadata.get("layout_name")
    if name is None:
        layout = _LAYOUT_BY_COUNT.get(joints)
        if layout is None:
            raise ValueError(
                f"{path}: metadata has no 'layout_name' and {joints} joints; expected 17 "
                "(Human3.6M-17) or 32 joints, or a layout_name among "
                f"{sorted(_LAYOUT_NAMES)}"
            )
    else:
        layout = _LAYOUT_NAMES.get(str(name))
        if layout is None:
            raise ValueError(f"{path}: metadata.layout_name: expected one of {sorted(_LAYOUT_NAMES)}, got {name!r}")
    expected_joints = len(layout_joint_names(layout))
    if joints != expected_joints:
        raise ValueError(f"{path}: positions_2d: layout {layout!r} has {expected_joints} joints, got {joints}")
    num = metadata.get("num_joints")
    if num is None:
        raise ValueError(f"{path}: metadata: missing field 'num_joints'")
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)):  # e.g. [17]: audit F11
        raise ValueError(f"{path}: metadata.num_joints: expected an integer, got {num!r}")
    if int(num) != joints:
        raise ValueError(f"{path}: metadata.num_joints: says {num}, the arrays have {joints} joints")
    sym = metadata.get("keypoints_symmetry")
    if sym is None:
        raise ValueError(f"{path}: metadata: missing field 'keypoints_symmetry'")
    try:
        left, right = ({int(i) for i in side} for side in sym)
    except (TypeError, ValueError):
        raise ValueError(
            f"{path}: metadata.keypoints_symmetry: expected [left indices, right indices], got {sym!r}"
        ) from None
    want_left, want_right = _expected_symmetry(layout)
    if (left, right) != (want_left, want_right):
        raise ValueError(
            f"{path}: metadata.keypoints_symmetry: expected "
            f"{[sorted(want_left), sorted(want_right)]} for layout {layout!r}, got "
            f"{[sorted(left), sorted(right)]}"
        )
    return layout


def camera_views(
    path: Path,
    where: str,
    value: Any,
    joints: int | None,
    read: Callable[[Path, str, Any, tuple[int, ...]], np.ndarray],
) -> tuple[list[np.ndarray], int]:
    """One 2D sequence's per-camera ``(T, J, 2 or 3)`` arrays, each through ``read`` (e.g.
    :func:`_numeric`), and their joint count; every sequence of a file must have ``joints``
    joints (None: the first sets it). Raises ``ValueError`` naming ``path`` and ``where``."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(
            f"{path}: {where}: expected a non-empty list of per-camera (T, J, 2) arrays, got {type(value).__name__}"
        )
    cams = []
    for c, item in enumerate(value):
        arr = read(path, f"{where}[{c}]", item, (2, 3))
        if joints is None:
            joints = int(arr.shape[1])
        elif arr.shape[1] != joints:
            raise ValueError(
                f"{path}: {where}[{c}]: expected {joints} joints like the other sequences, got {arr.shape[1]}"
            )
        cams.append(arr)
    assert joints is not None
    return cams, joints


def _read_2d(path: Path) -> tuple[dict[tuple[str, str], list[np.ndarray]], str]:
    fields = _load_fields(path, ("positions_2d", "metadata"))
    seqs: dict[tuple[str, str], list[np.ndarray]] = {}
    joints = None
    nested = _nested(path, "positions_2d", fields["positions_2d"])
    # counted before any float64 copy: one array referenced 200,000 times by a 2 KB pickle
    # would need 54 GB (reliability audit F06)
    total = sum(
        int(np.size(item))
        for _, _, value in nested
        if isinstance(value, (list, tuple))
        for item in value
        if isinstance(item, np.ndarray)
    )
    check_elements(f"{path}: positions_2d", total, 8)
    for subject, action, value in nested:
        cams, joints = camera_views(path, f"positions_2d[{subject!r}][{action!r}]", value, joints, _numeric)
        seqs[(subject, action)] = cams
    if not seqs:
        raise ValueError(f"{path}: positions_2d: expected at least one sequence, got none")
    assert joints is not None  # set by the first sequence
    return seqs, _layout_2d(path, fields["metadata"], joints)


def _to_h36m17(points: np.ndarray, layout: str, conf: np.ndarray | None = None, m: LayoutMapping | None = None):
    """``points`` of ``layout`` as Human3.6M-17 and their visibility; ``m``: the layout's
    ``mapping(layout, "h36m17")``, made once by a caller that converts many sequences."""
    if layout == "h36m17":
        vis = np.isfinite(points).all(axis=-1).astype(np.float64)
        if conf is not None:
            vis = np.minimum(vis, conf)
        return points, vis
    if m is None:
        return convert_keypoints(points, layout, "h36m17", conf)
    return apply_mapping(m, points, conf)


def _camera_entry(path: Path, s: str, entry: Any, model: Any) -> tuple[Any, list, dict[str, np.ndarray]]:
    """Subject ``s``'s entry of a cameras file checked: ``(model, ids, {field: (len(ids), ...)
    float64})``; ``model`` is the model name of the subjects before (None: none yet)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("ids"), list):
        raise ValueError(f"{path}: cameras: no camera list for subject {s!r}")
    ids = entry["ids"]
    cam = entry.get("cameras")
    if not isinstance(cam, dict) or any(f not in cam for f in ("model", *_CAM_FIELDS)):
        raise ValueError(f"{path}: cameras[{s!r}]: expected Camera.to_dict() fields {['model', *_CAM_FIELDS]}")
    if model is None:
        model = cam["model"]
    elif cam["model"] != model:
        raise ValueError(f"{path}: cameras[{s!r}]: model {cam['model']!r}, the others {model!r}")
    arrays = {}
    for f in _CAM_FIELDS:
        try:
            arr = np.asarray(cam[f], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: cameras[{s!r}].{f}: expected numbers ({exc})") from None
        if arr.ndim < 1 or arr.shape[0] != len(ids):
            raise ValueError(f"{path}: cameras[{s!r}].{f}: {len(ids)} ids but shape {arr.shape}")
        arrays[f] = arr
    return model, ids, arrays


def _check_views(path: Path, s: str, action: str, count: int, cameras: int) -> None:
    """A sequence's 2D arrays pair with its subject's cameras by index: the counts agree."""
    if count != cameras:
        raise ValueError(
            f"{path}: subject {s!r} has {cameras} cameras but "
            f"positions_2d[{s!r}][{action!r}] has {count} arrays; VideoPose3D pairs "
            "them by index, so the counts must agree"
        )


#: Frames of :func:`read_videopose3d`'s sequences converted to Human3.6M-17 at once (short
#: sequences, such as a subject per sample, together; a longer one alone).
CONVERT_FRAMES = 4096

_Converted = tuple["np.ndarray | None", "np.ndarray | None", list[tuple[np.ndarray, np.ndarray]]]


def _converted_rows(rows: list, layout_3d: str | None, layout_2d: str | None, m3: Any, m2: Any) -> Iterator[_Converted]:
    """``(world 17 or None, its visibility or None, [(2D 17, visibility) per view])`` of each
    row ``(subject, action, world, views)`` of :func:`read_videopose3d`, in order: rows whose
    arrays have the same per-frame shapes are converted together, up to
    :data:`CONVERT_FRAMES` frames, and split back. Each step of the conversion is per frame,
    so the values are those of each sequence converted alone."""
    group: list = []
    frames = 0
    for row in rows:
        if group and _row_shapes(row) != _row_shapes(group[0]):
            yield from _converted_group(group, layout_3d, layout_2d, m3, m2)
            group, frames = [], 0
        group.append(row)
        _, _, world, views = row
        frames += (0 if world is None else len(world)) + sum(len(v) for v in views or ())
        if frames >= CONVERT_FRAMES:
            yield from _converted_group(group, layout_3d, layout_2d, m3, m2)
            group, frames = [], 0
    if group:
        yield from _converted_group(group, layout_3d, layout_2d, m3, m2)


def _row_shapes(row: tuple) -> tuple[Any, Any]:
    _, _, world, views = row
    return (None if world is None else world.shape[1:]), (
        None if views is None else tuple(sorted({v.shape[1:] for v in views}))
    )


def _converted_group(
    group: list, layout_3d: str | None, layout_2d: str | None, m3: Any, m2: Any
) -> Iterator[_Converted]:
    worlds = [w for _, _, w, _ in group if w is not None]
    w_all = v3_all = None
    if worlds:
        assert layout_3d is not None  # world comes from the 3D file
        w_all, v3_all = _to_h36m17(worlds[0] if len(worlds) == 1 else np.concatenate(worlds), layout_3d, m=m3)
    views = [v for _, _, _, vs in group for v in vs or ()]
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    if views:
        assert layout_2d is not None  # views come from the 2D file
        if len({v.shape[1:] for v in views}) == 1:  # one shape: converted together
            uv = views[0] if len(views) == 1 else np.concatenate(views)
            uv17, v2 = _to_h36m17(uv[..., :2], layout_2d, uv[..., 2] if uv.shape[-1] == 3 else None, m2)
            at = np.cumsum([0] + [len(v) for v in views]).tolist()
            pairs = [(uv17[a:b], v2[a:b]) for a, b in itertools.pairwise(at)]
        else:  # a row whose views differ (a score column in some): one by one
            pairs = [_to_h36m17(v[..., :2], layout_2d, v[..., 2] if v.shape[-1] == 3 else None, m2) for v in views]
    w_at = p_at = 0
    for _, _, world, vs in group:
        w17 = v3 = None
        if world is not None:
            assert w_all is not None and v3_all is not None
            w17, v3 = w_all[w_at : w_at + len(world)], v3_all[w_at : w_at + len(world)]
            w_at += len(world)
        n = len(vs or ())
        yield w17, v3, pairs[p_at : p_at + n]
        p_at += n


def _read_cameras_file(path: Path, subjects: list[str], rows: list) -> tuple[Camera, np.ndarray, dict[str, int]]:
    """The cameras of ``subjects`` from a ``cameras_<name>.json``: table (K,), names, offsets."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != CAMERAS_FORMAT:
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"{path}: format: expected {CAMERAS_FORMAT!r}, got {got!r}")
    if doc.get("version") != CAMERAS_VERSION:
        raise ValueError(f"{path}: version: expected {CAMERAS_VERSION}, got {doc.get('version')!r}")
    table = doc.get("cameras")
    if not isinstance(table, dict):
        raise ValueError(f"{path}: cameras: expected a dict subject -> {{ids, cameras}}")
    views_of: dict[str, list[tuple[str, int]]] = {}  # subject -> (action, 2D arrays), one pass
    for subject, action, _, views in rows:
        if views is not None:
            views_of.setdefault(subject, []).append((action, len(views)))
    fields: dict[str, list[np.ndarray]] = {f: [] for f in _CAM_FIELDS}
    names, offsets, k = [], {}, 0
    model: Any = None  # the file's model name (Camera parses it); None before the first subject
    for s in subjects:
        model, ids, arrays = _camera_entry(path, s, table.get(s), model)
        for f in _CAM_FIELDS:
            fields[f].append(arrays[f])
        for action, count in views_of.get(s, []):
            _check_views(path, s, action, count, len(ids))
        offsets[s] = k
        k += len(ids)
        names += [f"{s}/{cid}" for cid in ids]
    try:
        cameras = Camera(model=model, **{f: np.concatenate(v) for f, v in fields.items()})
    except ValueError as exc:
        raise ValueError(f"{path}: cameras: {exc}") from None
    return cameras, np.array(names), offsets


def _h36m_cameras(subjects: list[str]) -> tuple[Camera, np.ndarray]:
    cams = [h36m_subject_cameras(s) for s in subjects]
    camera = Camera(
        model=CameraModel.H36M,
        intrinsics=np.concatenate([c.intrinsics for c in cams]),
        distortion=np.concatenate([c.distortion for c in cams]),
        rotation=np.concatenate([c.rotation for c in cams]),
        center=np.concatenate([c.center for c in cams]),
        image_size=np.concatenate([c.image_size for c in cams]),
    )
    names = np.array([f"{s}/{cid}" for s in subjects for cid in H36M_CAMERA_IDS])
    return camera, names


def read_videopose3d(
    path_3d: str | Path | None = None,
    path_2d: str | Path | None = None,
    cameras_path: str | Path | None = None,
) -> PoseDataset:
    """Read VideoPose3D's 3D file, 2D file, or both, as Human3.6M-17 samples.

    Args:
        path_3d: ``data_3d_*.npz`` (``positions_3d``: world metres), or None.
        path_2d: ``data_2d_*.npz`` (``positions_2d``: pixels, and ``metadata``), or None.
        cameras_path: posesynth's ``cameras_<name>.json`` (each subject's camera list, see
            :func:`write_videopose3d`); None looks for it beside the files
            (:func:`cameras_file_for`). With it, sample ``c`` of a subject's 2D list gets
            that subject's camera ``c`` (exact model), named ``"<subject>/<id>"``.

    Returns:
        A :class:`PoseDataset` with skeleton ``H36M17``:

        - 3D only: one sample per (subject, action, frame); ``joints_3d_world (N, 17, 3)``
          metres, world frame as stored (Human3.6M's is Z up); no cameras.
        - 2D only: one sample per (subject, action, camera, frame); ``joints_2d (N, 17, 2)``
          pixels.
        - both: one sample per (subject, action, camera, frame) of the 3D file, the world 3D
          repeated for each camera. As VideoPose3D's ``run.py`` does, a 2D sequence longer
          than its 3D sequence is cut to the 3D length (Human3.6M videos have a few extra
          frames; recorded in ``meta["trimmed_2d"]``); a shorter one is an error. 2D
          sequences without 3D are left out (``meta["unmatched_2d"]``).

        ``frame`` is the index in the sequence (0-based), ``extra["camera"]`` the index in
        the file's camera list (when 2D is read). ``visibility (N, 17)`` is 0 where a point
        is missing (NaN in the file) and otherwise 1 or, for 2D with a third (score)
        column, that score; it is None when nothing is missing. Cameras: Human3.6M presets
        when the module's rule applies (see the module docstring), else None.

    Raises:
        ValueError: naming the file and the field for anything malformed: not a zip, a
            missing field, an unreadable pickle, a wrong shape or joint count, inf values,
            metadata that contradicts the arrays, a 3D sequence with no 2D, or 2D shorter
            than 3D. ``FileNotFoundError`` for a missing file.
    """
    if path_3d is None and path_2d is None:
        raise ValueError("read_videopose3d: expected path_3d, path_2d or both, got neither")
    p3 = None if path_3d is None else Path(path_3d)
    p2 = None if path_2d is None else Path(path_2d)
    seqs_3d, layout_3d = _read_3d(p3) if p3 is not None else (None, None)
    seqs_2d, layout_2d = _read_2d(p2) if p2 is not None else (None, None)

    meta: dict[str, Any] = {
        "format": "videopose3d",
        "files": {k: str(v) for k, v in (("3d", p3), ("2d", p2)) if v is not None},
        "layout_3d": layout_3d,
        "layout_2d": layout_2d,
        "units": {"joints_3d_world": "m", "joints_2d": "px"},
    }

    # (subject, action, world (T, J3, 3) or None, per camera 2D (T, J2, D) or None)
    rows: list[tuple[str, str, np.ndarray | None, list[np.ndarray] | None]] = []
    world: np.ndarray | None  # a sequence's world 3D (None: a row with 2D only)
    if seqs_3d is not None and seqs_2d is not None:
        trimmed = []
        for subject, action, world in seqs_3d:
            cams = seqs_2d.get((subject, action))
            if cams is None:
                raise ValueError(
                    f"{p2}: positions_2d: missing {subject}/{action}, which {p3} has "
                    f"(positions_3d[{subject!r}][{action!r}])"
                )
            t3 = world.shape[0]
            kept = []
            for c, uv in enumerate(cams):
                if uv.shape[0] < t3:
                    raise ValueError(
                        f"{p2}: positions_2d[{subject!r}][{action!r}][{c}]: {uv.shape[0]} "
                        f"frames, fewer than the {t3} frames of {p3} "
                        f"(positions_3d[{subject!r}][{action!r}])"
                    )
                if uv.shape[0] > t3:
                    trimmed.append(
                        {
                            "subject": subject,
                            "action": action,
                            "camera": c,
                            "frames_2d": int(uv.shape[0]),
                            "frames_3d": int(t3),
                        }
                    )
                kept.append(uv[:t3])
            rows.append((subject, action, world, kept))
        meta["trimmed_2d"] = trimmed
        used = {(s, a) for s, a, _ in seqs_3d}
        meta["unmatched_2d"] = [f"{s}/{a}" for (s, a) in seqs_2d if (s, a) not in used]
    elif seqs_3d is not None:
        rows = [(s, a, w, None) for s, a, w in seqs_3d]
    else:
        assert seqs_2d is not None  # path_2d given: neither path was refused above
        rows = [(s, a, None, cams) for (s, a), cams in seqs_2d.items()]

    # first appearance (a dict: a list's membership test made a subject per sample quadratic,
    # 66 s for 100,000 of them)
    subjects: list[str] = list(dict.fromkeys(s for s, _, _, _ in rows))
    with_2d = seqs_2d is not None
    if cameras_path is None:
        for p in (p3, p2):
            if p is not None and cameras_path is None:
                cameras_path = cameras_file_for(p)
    own = None
    if cameras_path is not None and with_2d:
        own = _read_cameras_file(Path(cameras_path), subjects, rows)
    use_presets = own is None and (
        with_2d
        and all(s in H36M_SUBJECTS for s in subjects)
        and all(cams is not None and len(cams) == len(H36M_CAMERA_IDS) for _, _, _, cams in rows)
    )

    world_parts, uv_parts, vis_parts = [], [], []
    subj_parts, act_parts, frame_parts, cam_parts, cidx_parts = [], [], [], [], []
    # each layout's mapping made once, not per sequence
    m3, m2 = (None if lay in (None, "h36m17") else mapping(lay, "h36m17") for lay in (layout_3d, layout_2d))
    converted = _converted_rows(rows, layout_3d, layout_2d, m3, m2)
    for (subject, action, world, cams), (w17, v3, views) in zip(rows, converted, strict=True):
        n_cams = 1 if cams is None else len(cams)
        for c in range(n_cams):
            if cams is not None:
                uv = cams[c]
                uv17, v2 = views[c]
                uv_parts.append(uv17)
                t = uv.shape[0]
                vis = v2 if v3 is None else np.minimum(v2, v3)
            else:
                assert world is not None and v3 is not None  # a row without 2D comes from the 3D file
                t = world.shape[0]
                vis = v3
            if w17 is not None:
                world_parts.append(w17)
            vis_parts.append(vis)
            subj_parts.append(np.full(t, subject, dtype=object))
            act_parts.append(np.full(t, action, dtype=object))
            frame_parts.append(np.arange(t, dtype=np.int64))
            if cams is not None:
                cam_parts.append(np.full(t, c, dtype=np.int64))
                if use_presets:  # Human3.6M's subjects: a few
                    k = subjects.index(subject) * len(H36M_CAMERA_IDS) + c
                    cidx_parts.append(np.full(t, k, dtype=np.int64))
                elif own is not None:
                    cidx_parts.append(np.full(t, own[2][subject] + c, dtype=np.int64))

    def cat(parts: list[np.ndarray], trailing: tuple[int, ...]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros((0,) + trailing)

    visibility = cat(vis_parts, (17,))
    missing = int((visibility == 0).sum())
    meta["missing_points"] = missing
    cameras = camera_index = camera_names = None
    if use_presets:
        cameras, camera_names = _h36m_cameras(subjects)
        camera_index = cat(cidx_parts, ()).astype(np.int64)
        meta["cameras"] = "human3.6m presets (VideoPose3D camera order)"
    elif own is not None:
        cameras, camera_names = own[0], own[1]
        camera_index = cat(cidx_parts, ()).astype(np.int64)
        meta["cameras"] = str(cameras_path)
    else:
        meta["cameras"] = None
    extra = {"camera": cat(cam_parts, ()).astype(np.int64)} if with_2d else {}
    return PoseDataset(
        skeleton=H36M17,
        joints_3d_world=cat(world_parts, (17, 3)) if seqs_3d is not None else None,
        joints_2d=cat(uv_parts, (17, 2)) if with_2d else None,
        visibility=None if (visibility == 1).all() else visibility,
        cameras=cameras,
        camera_index=camera_index,
        camera_names=camera_names,
        subject=cat(subj_parts, ()).astype(str),
        action=cat(act_parts, ()).astype(str),
        frame=cat(frame_parts, ()).astype(np.int64),
        meta=meta,
        extra=extra,
    )


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartIds:
    """Consecutive samples (a part of whole subjects for :func:`write_videopose3d_parts`) as
    the writer reads them when their points stay on disk: the ids, cameras, ``extra`` and
    ``meta`` of a :class:`PoseDataset`, and the points by rows: ``world_rows(idx)`` gives
    the world 3D ``(m, J, 3)`` metres and ``uv_rows(idx)`` the 2D ``(m, J, 2)`` pixels
    (float64, the skeleton's joints) of the part's samples ``idx (m,)``. The writer reads
    them a step at a time (a sequence's first sample of each frame, a block of samples, a
    camera's views), so a subject's points are never in memory whole."""

    skeleton: Any
    subject: np.ndarray
    world_rows: Callable[[np.ndarray], np.ndarray]
    uv_rows: Callable[[np.ndarray], np.ndarray]
    cameras: Camera | None = None
    camera_index: np.ndarray | None = None
    camera_names: np.ndarray | None = None
    action: np.ndarray | None = None
    frame: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.subject)

    def sample_cameras(self) -> Camera:
        """The camera of every sample, a batch of shape (N,)."""
        if self.cameras is None:
            raise ValueError("part: has no cameras")
        return self.cameras if self.camera_index is None else self.cameras[self.camera_index]


def _h36m17_to_h36m32(p17: np.ndarray) -> np.ndarray:
    """``(T, 17, 3)`` -> ``(T, 32, 3)``; the 15 joints H36M-17 lacks copy their nearest kept
    ancestor (VideoPose3D's loader drops them, so only their presence matters)."""
    out = np.zeros(p17.shape[:1] + (32, 3), dtype=p17.dtype)
    out[:, list(H36M32_TO_17)] = p17
    kept = set(H36M32_TO_17)
    for j in range(32):
        if j not in kept:
            out[:, j] = out[:, H36M32_PARENTS[j]]
    return out


def _camera_table(ds: PoseDataset | PartIds) -> tuple[np.ndarray, Camera | None]:
    """``(key (N,), table)``: one integer per sample naming its distinct camera, and the
    cameras of those keys as a batch ``(K,)`` (None without cameras).

    A camera table (``camera_index``) gives the keys directly; per-sample cameras are told
    apart by their parameters (numbered by first appearance, so the order follows the data);
    without cameras ``extra["camera"]`` (a VideoPose3D list index) or a single camera 0.
    """
    n = len(ds)
    if ds.cameras is not None:
        if ds.camera_index is not None:
            return np.asarray(ds.camera_index, dtype=np.int64), ds.cameras
        c = ds.cameras
        params = np.concatenate(
            [c.intrinsics, c.distortion, c.rotation.reshape(n, 9), c.center, c.image_size.astype(np.float64)],
            axis=1,
        )
        if n == 0:
            return np.zeros(0, dtype=np.int64), c
        _, first, inverse = np.unique(params, axis=0, return_index=True, return_inverse=True)
        order = np.argsort(first)
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        return rank[inverse.ravel()].astype(np.int64), c[first[order]]
    if "camera" in ds.extra:
        keys = np.asarray(ds.extra["camera"])
        if keys.dtype.kind in "iu" and keys.shape == (n,):
            return keys.astype(np.int64), None
    return np.zeros(n, dtype=np.int64), None


def _codes(values: np.ndarray) -> np.ndarray:
    """Integer codes of ``values`` (N,), numbered by first appearance."""
    if len(values) <= 1:  # a subject per sample: np.unique's fixed cost, three times a sample
        return np.zeros(len(values), dtype=np.int64)
    _, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse.ravel()].astype(np.int64)


def _row_codes(keys: np.ndarray) -> np.ndarray:
    """Integer codes of the rows of ``keys`` (N, K), numbered by first appearance."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse.ravel()].astype(np.int64)


def pose_ids(ds: PoseDataset | PartIds) -> tuple[np.ndarray, str]:
    """One integer per sample naming its pose (samples of one pose show it through several
    cameras), and how it was found: ``(subject, action, frame)`` ids, augment's
    ``(source_index, variant)``, or the sample itself. Shared with the TRC writer."""
    n = len(ds)
    if ds.frame is not None:
        frame = np.asarray(ds.frame)
        if frame.dtype.kind not in "iu":
            raise ValueError(f"dataset.frame: expected integers, got dtype {frame.dtype}")
        # integer codes, not a joined string: no separator survives NumPy (it drops a string's
        # trailing NULs), and 100,000 keys of 40 characters are 16 MB a copy
        subject = np.zeros(n, np.int64) if ds.subject is None else _codes(np.asarray(ds.subject).astype(str))
        action = np.zeros(n, np.int64) if ds.action is None else _codes(np.asarray(ds.action).astype(str))
        return _row_codes(np.stack([subject, action, frame.astype(np.int64)], axis=1)), "frame"
    if "source_index" in ds.extra and "variant" in ds.extra:  # augment's output
        src = np.asarray(ds.extra["source_index"]).astype(np.int64)
        var = np.asarray(ds.extra["variant"]).astype(np.int64)
        return _codes(src * (int(var.max(initial=0)) + 1) + var), "source_index, variant"
    return np.arange(n, dtype=np.int64), "sample"


def rig_ranks(pose: np.ndarray, cam_key: np.ndarray) -> tuple[np.ndarray, int]:
    """Each sample's *rig* (the set of cameras that see its pose), numbered by first
    appearance in the data, and how many rigs there are: the writer's subject of data
    without subject ids (:func:`rig_names`). ``pose`` (N,) and ``cam_key`` (N,) are integer
    ids of each sample's pose and camera (any ids: only which are equal matters)."""
    n = len(pose)
    if n == 0:
        return np.zeros(0, np.int64), 0
    order = np.lexsort((cam_key, pose))
    bounds = np.flatnonzero(np.diff(pose[order])) + 1
    cams = cam_key[order]
    starts = np.concatenate([[0], bounds])
    if (np.minimum.reduceat(cams, starts) == np.maximum.reduceat(cams, starts)).all():
        # each pose seen by one camera (generated data): its rig is that camera, and a camera
        # first appears at the first sample of the first pose it sees, so the rigs' order of
        # first appearance is the cameras' (the loop below: a dict entry per pose, 250 bytes)
        ranks = _codes(cam_key)
        return ranks, int(ranks.max()) + 1
    return _rig_ranks_by_pose(pose, cam_key, order, bounds)


def _rig_ranks_by_pose(
    pose: np.ndarray, cam_key: np.ndarray, order: np.ndarray, bounds: np.ndarray
) -> tuple[np.ndarray, int]:
    """:func:`rig_ranks` pose by pose, for any rigs (``order``: the samples by pose, then
    camera; ``bounds``: where the pose changes in that order)."""
    rigs: dict[tuple[int, ...], int] = {}
    rig_of_pose: dict[int, int] = {}
    for chunk in np.split(order, bounds):
        rig = tuple(np.unique(cam_key[chunk]).tolist())
        rig_of_pose[int(pose[chunk[0]])] = rigs.setdefault(rig, len(rigs))
    first_pose = pose[np.sort(np.unique(pose, return_index=True)[1])]
    rig_rank = _codes(np.array([rig_of_pose[int(p)] for p in first_pose]))  # by first appearance
    rank_of_pose = dict(zip(first_pose.tolist(), rig_rank.tolist()))
    return np.array([rank_of_pose[int(p)] for p in pose], dtype=np.int64), len(rigs)


def rig_names(name: str, ranks: np.ndarray, count: int) -> np.ndarray:
    """The subject names of rigs ``ranks`` (N,) of ``count``: ``<name>_000000``, ... (six digits
    at least, as many as the largest rank needs)."""
    width = max(6, len(str(max(count - 1, 0))))
    return np.array([f"{name}_{r:0{width}d}" for r in ranks.tolist()]) if len(ranks) else np.zeros(0, str)


def h36m_slot_of(subject: str, cameras: Camera) -> np.ndarray:
    """For cameras ``(K,)`` of ``subject``: the slot of each in VideoPose3D's camera list of a
    Human3.6M subject (the calibrated camera it is, to 1 mm and 1e-4 in rotation), -1 where
    it is none of them (or ``subject`` has no published calibration, or the model is not
    ``h36m``)."""
    k = int(cameras.batch_shape[0]) if cameras.batch_shape else 1
    if subject not in H36M_SUBJECTS or cameras.model is not CameraModel.H36M:
        return np.full(k, -1, np.int64)
    presets = h36m_subject_cameras(subject)
    center = np.asarray(cameras.center).reshape(k, 1, 3)
    rotation = np.asarray(cameras.rotation).reshape(k, 1, 9)
    close = np.isclose(presets.center[None], center, atol=1e-3).all(axis=-1) & np.isclose(
        presets.rotation.reshape(1, 4, 9), rotation, atol=1e-4
    ).all(axis=-1)
    return np.where(close.any(axis=1), np.argmax(close, axis=1), -1).astype(np.int64)


def _activity_names(ds: PoseDataset | PartIds) -> np.ndarray | None:
    """Per-sample activity names of generated data (``extra["activity"]``), or None."""
    act = ds.extra.get("activity")
    if act is None or np.asarray(act).ndim != 1:
        return None
    act = np.asarray(act)
    if act.dtype.kind in "US":
        return act.astype(str)
    names = ds.meta.get("activity_names")
    if names is None:
        from posesynth.poses.procedural import activity_names

        names = activity_names()
    names = np.asarray(list(names), dtype=str)
    if act.dtype.kind not in "iu" or (act.size and (act.min() < 0 or act.max() >= len(names))):
        return None
    return names[act.astype(np.int64)]


def _to_17(ds: PoseDataset | PartIds, points: np.ndarray) -> np.ndarray:
    if ds.skeleton.joint_names == H36M17.joint_names:
        return points
    if ds.skeleton.joint_names[:17] == H36M17.joint_names:
        return points[:, :17]
    return convert_keypoints(points, ds.skeleton.name, "h36m17")[0]


@dataclass(frozen=True)
class _VP3DOut:
    """The dicts :func:`_vp3d_payload` fills, subject by subject."""

    positions_3d: dict[str, dict[str, np.ndarray]]
    positions_2d: dict[str, dict[str, list[np.ndarray]]]
    video_metadata: dict[str, dict[str, int]]
    cams_vp3d: dict[str, list[dict[str, Any]]]
    cams_exact: dict[str, dict[str, Any]]
    out_index: np.ndarray


#: Samples of a one-camera payload (:class:`_OneCamera`) whose points are read and cast at a
#: time (a longer sequence is a block of its own).
_ONE_CAMERA_BLOCK = 8192


@dataclass(frozen=True)
class _OneCamera:
    """:func:`_vp3d_payload`'s samples when every subject is seen by one camera and every
    sequence ``(subject, action)`` has each frame once (each sample its own frame id, or
    without frame ids its own pose): a subject per sample (generated data), augment's rigs of
    one camera. Then each step of its per-subject loop is rows of whole arrays:

    ``order``: the samples as the loop writes them (subject by subject, a subject's actions
    by first appearance, a sequence's frames by frame id or, without them, as they come);
    ``bounds``: where each sequence starts in ``order`` (and ``n`` at the end);
    ``subjects``, ``actions``: each sequence's; ``firsts``: where each subject starts in
    ``order``; ``base``: each sequence's first sample's index among its subject's samples."""

    order: np.ndarray
    bounds: np.ndarray
    subjects: list[str]
    actions: list[str]
    firsts: np.ndarray
    base: np.ndarray


def _one_camera_plan(
    ds: PoseDataset | PartIds,
    subject: np.ndarray,
    action: np.ndarray,
    pose: np.ndarray,
    cam_key: np.ndarray,
    table: Camera | None,
) -> _OneCamera | None:
    """The :class:`_OneCamera` plan of these samples, or None: a subject seen by two cameras,
    a frame twice in a sequence, or a subject that may take Human3.6M's preset cameras go
    through the loop (which also gives their errors)."""
    n = len(subject)
    if n == 0:
        return None
    if table is not None and table.model is CameraModel.H36M and np.isin(subject, list(H36M_SUBJECTS)).any():
        return None
    subj = _codes(subject)
    act = _codes(action)
    frame = None if ds.frame is None else np.asarray(ds.frame).astype(np.int64)
    # a sequence is known by its first sample: a subject's actions then come in the loop's order
    _, first, inverse = np.unique(subj * (int(act.max()) + 1) + act, return_index=True, return_inverse=True)
    seq_first = first[inverse.ravel()]
    order = np.lexsort((np.arange(n) if frame is None else frame, seq_first, subj))
    seq = seq_first[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(seq)) + 1])
    subj_sorted = subj[order]
    firsts = np.concatenate([[0], np.flatnonzero(np.diff(subj_sorted)) + 1])
    keys = cam_key[order]
    if not (np.minimum.reduceat(keys, firsts) == np.maximum.reduceat(keys, firsts)).all():
        return None
    # each frame once per sequence: frame ids (sorted within it), else pose ids (any order)
    if frame is not None:
        f = frame[order]
        if ((seq[1:] == seq[:-1]) & (f[1:] == f[:-1])).any():
            return None
    else:
        seq_rank = np.cumsum(np.concatenate([[0], (seq[1:] != seq[:-1]).astype(np.int64)]))
        if np.unique(seq_rank * (int(pose.max()) + 1) + pose[order]).size != n:
            return None
    bounds = np.concatenate([starts, [n]])
    # a sequence's samples before it in its subject: its start minus its subject's start
    subject_start = firsts[np.searchsorted(firsts, starts, side="right") - 1]
    return _OneCamera(
        order=order,
        bounds=bounds,
        subjects=[str(s) for s in subject[order[starts]].tolist()],
        actions=[str(a) for a in action[order[starts]].tolist()],
        firsts=firsts,
        base=starts - subject_start,
    )


def _one_camera_subjects(
    ds: PoseDataset | PartIds,
    plan: _OneCamera,
    cam_key: np.ndarray,
    table: tuple[CameraModel, dict[str, np.ndarray], np.ndarray] | None,
    out: _VP3DOut,
) -> None:
    """Each subject's camera (its only one) in :func:`_vp3d_payload`'s documents, from the
    camera table's rows at once. ``table``: the model, field arrays and camera->world
    quaternions (K, 4) of the distinct cameras (None: no cameras)."""
    if table is None:
        return
    model, tab, tab_quat = table
    keys = cam_key[plan.order[plan.firsts]]
    names = [plan.subjects[i] for i in np.searchsorted(plan.bounds, plan.firsts).tolist()]
    if ds.camera_names is not None and ds.camera_index is not None:
        given = np.asarray(ds.camera_names)[keys].tolist()
        ids = [str(nm).rpartition("/")[2] or f"cam{k}" for nm, k in zip(given, keys.tolist())]
    else:
        ids = [f"cam{k}" for k in keys.tolist()]
    for lo in range(0, len(keys), _ONE_CAMERA_BLOCK):
        hi = min(lo + _ONE_CAMERA_BLOCK, len(keys))
        rows = {f: tab[f][keys[lo:hi]] for f in _CAM_FIELDS}
        docs = _camera_docs(model, rows)
        vp3d = _vp3d_cameras(model, rows, ids[lo:hi], tab_quat[keys[lo:hi]])
        sizes = rows["image_size"].tolist()
        for j, s in enumerate(names[lo:hi]):
            out.cams_exact[s] = {"ids": [ids[lo + j]], "cameras": docs[j]}
            out.cams_vp3d[s] = [vp3d[j]]
            w, h = (int(v) for v in sizes[j])
            out.video_metadata[s] = {"w": w, "h": h}


def _one_camera_points(
    plan: _OneCamera,
    world_rows: Callable[[np.ndarray], np.ndarray] | None,
    uv_rows: Callable[[np.ndarray], np.ndarray] | None,
    layout_3d: str,
    dtype: type,
    out: _VP3DOut,
) -> None:
    """Each sequence's 3D and its one view's 2D, rows of whole sequences read and cast a block
    at a time (the same values as :func:`_vp3d_payload`'s loop), and where each sample is
    read back (``out_index``: its sequence's base plus its frame's row)."""
    bounds = plan.bounds
    count = len(bounds) - 1
    q = 0
    while q < count:
        # whole sequences up to a block's samples (one longer sequence alone)
        end = max(q + 1, int(np.searchsorted(bounds, bounds[q] + _ONE_CAMERA_BLOCK, side="right")) - 1)
        lo, hi = int(bounds[q]), int(bounds[end])
        idx = plan.order[lo:hi]
        cuts = (bounds[q : end + 1] - lo).tolist()
        if world_rows is not None:
            seq: np.ndarray = world_rows(idx).astype(dtype)
            if layout_3d == "h36m32":
                seq = _h36m17_to_h36m32(seq)
            for k in range(q, end):
                a, b = cuts[k - q], cuts[k - q + 1]
                out.positions_3d.setdefault(plan.subjects[k], {})[plan.actions[k]] = seq[a:b]
        if uv_rows is not None:
            uv: np.ndarray = uv_rows(idx).astype(dtype)
            rows = np.arange(hi - lo) - np.repeat(np.asarray(cuts[:-1]), np.diff(cuts))
            out.out_index[idx] = np.repeat(plan.base[q:end], np.diff(cuts)) + rows
            for k in range(q, end):
                a, b = cuts[k - q], cuts[k - q + 1]
                out.positions_2d.setdefault(plan.subjects[k], {})[plan.actions[k]] = [uv[a:b]]
        q = end


def _h36m_slots(subject: str, keys: list[int], table: Camera | None) -> list[int] | None:
    """For a Human3.6M subject whose cameras are its calibrated ones: the slot (index in
    VideoPose3D's camera list of the subject) of each camera key; else None."""
    if subject not in H36M_SUBJECTS or table is None or table.model is not CameraModel.H36M:
        return None
    slots = h36m_slot_of(subject, table[np.asarray(keys, dtype=np.int64)])
    return None if (slots < 0).any() else slots.tolist()


_CAM_FIELDS = ("intrinsics", "distortion", "rotation", "center", "image_size")


def _vp3d_cameras(
    model: CameraModel, f: dict[str, np.ndarray], ids: list[str], quat_xyzw: np.ndarray
) -> list[dict[str, Any]]:
    """Cameras ``(K,)`` given as field arrays, in the dict form of VideoPose3D's
    ``h36m_cameras_*_params`` (raw pixels; ``orientation`` the camera->world quaternion
    **w, x, y, z**; ``translation`` the centre in **metres**, as its loader holds it after
    dividing Human3.6M's millimetres). ``quat_xyzw`` (K, 4) is the camera->world rotation."""
    brown = model in (CameraModel.H36M, CameraModel.OPENCV)
    out = []
    intr, dist, size = f["intrinsics"].tolist(), f["distortion"].tolist(), f["image_size"].tolist()
    quat, centre = quat_xyzw.tolist(), f["center"].tolist()
    for i, cam_id in enumerate(ids):
        fx, fy, cx, cy = intr[i]
        d = dist[i]
        w, h = (int(v) for v in size[i])
        x, y, z, qw = quat[i]
        out.append(
            {
                "id": cam_id,
                "center": [cx, cy],
                "focal_length": [fx, fy],
                "radial_distortion": [d[0], d[1], d[4]] if brown else [0.0, 0.0, 0.0],
                "tangential_distortion": [d[2], d[3]] if brown else [0.0, 0.0],
                "res_w": w,
                "res_h": h,
                "orientation": [qw, x, y, z],
                "translation": centre[i],
                "model": model.value,
            }
        )
    return out


def _camera_doc(model: CameraModel, f: dict[str, np.ndarray]) -> dict[str, Any]:
    """``Camera.to_dict()`` of the batch given as field arrays (without building a Camera)."""
    return {
        "model": model.value,
        "batch_shape": [int(f["intrinsics"].shape[0])],
        "intrinsics": f["intrinsics"].tolist(),
        "distortion": f["distortion"].tolist(),
        "distortion_names": list(model.distortion_names),
        "rotation": f["rotation"].tolist(),
        "center": f["center"].tolist(),
        "image_size": f["image_size"].tolist(),
    }


def _camera_docs(model: CameraModel, f: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """``[_camera_doc(model, {k: v[i : i + 1]}) for each camera i]``: a document per camera, the
    arrays listed once."""
    lists = {k: f[k].tolist() for k in ("intrinsics", "distortion", "rotation", "center", "image_size")}
    names = list(model.distortion_names)
    return [
        {
            "model": model.value,
            "batch_shape": [1],
            "intrinsics": [lists["intrinsics"][i]],
            "distortion": [lists["distortion"][i]],
            "distortion_names": list(names),
            "rotation": [lists["rotation"][i]],
            "center": [lists["center"][i]],
            "image_size": [lists["image_size"][i]],
        }
        for i in range(len(lists["intrinsics"]))
    ]


#: The cameras file beside the data files: ``cameras_<name>.json``.
CAMERAS_FORMAT = "posesynth-videopose3d-cameras"
CAMERAS_VERSION = 1


def cameras_file_for(path: Path) -> Path | None:
    """``cameras_<name>.json`` beside ``data_3d_<name>.npz`` or ``data_2d_<name>_<src>.npz``."""
    stem = path.name[: -len(".npz")] if path.name.endswith(".npz") else path.name
    for prefix in ("data_3d_", "data_2d_"):
        if stem.startswith(prefix):
            parts = stem[len(prefix) :].split("_")
            for k in range(len(parts), 0, -1):
                cand = path.with_name(f"cameras_{'_'.join(parts[:k])}.json")
                if cand.is_file():
                    return cand
    return None


def _check_name_and_layout(name: Any, layout_3d: Any) -> None:
    """``ValueError`` unless ``name`` is a file-name-safe word and ``layout_3d`` a 3D layout."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"name: expected letters, digits, '_', '-' or '.', got {name!r}")
    if layout_3d not in ("h36m32", "h36m17"):
        raise ValueError(f"layout_3d: expected 'h36m32' or 'h36m17', got {layout_3d!r}")


def _check_folder(out_dir: Path) -> None:
    """``ValueError`` if ``out_dir`` exists and is not a folder (the export writes one)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir}: exists and is not a folder; VideoPose3D export writes a folder")


def write_videopose3d(
    dataset: PoseDataset,
    out_dir: str | Path,
    name: str = "custom",
    overwrite: bool = False,
    *,
    layout_3d: str = "h36m32",
    dtype: type = np.float32,
) -> tuple[Path | None, Path | None]:
    """Write ``data_3d_<name>.npz``, ``data_2d_<name>_gt.npz`` and ``cameras_<name>.json``.

    How VideoPose3D consumes the files (its ``common/h36m_dataset.py`` and the data
    preparation of ``run.py``): ``dataset[subject][action]["positions"]`` is the world 3D
    (T, J, 3); ``dataset.cameras()[subject]`` is **one list of cameras per subject**; for
    each camera ``i`` of that list ``run.py`` makes ``positions_3d[i] = world_to_camera(
    positions, cam[i])`` and normalises ``keypoints[subject][action][i]`` with
    ``cam[i]["res_w"], cam[i]["res_h"]``. So **the i-th 2D array of every sequence must be
    the view of the i-th camera of its subject**, for every frame of the 3D. This writer
    makes every sequence's 2D list exactly that list:

    - **subject**: ``dataset.subject``; without subject ids, one subject per *rig*, i.e.
      per distinct set of cameras that see a pose (``<name>_000000``, ``<name>_000001``,
      ... in order of first appearance): a fixed rig is one subject like Human3.6M's; data
      whose every pose has its own cameras (generated, augmented with new cameras) gets
      one subject per pose.
    - **action**: ``dataset.action``; else the generated activity (``extra["activity"]``);
      else ``"custom"``.
    - **frames**: a pose is a ``(subject, action, frame)`` when frame ids exist, else an
      augmented ``(source_index, variant)``, else a sample; frames are in ``frame`` order
      (first appearance otherwise) and written as consecutive rows.
    - **cameras**: a subject's list is its distinct cameras in order of first appearance,
      except for a Human3.6M subject (S1, S5-S9, S11) whose cameras are its calibrated ones:
      then the list is VideoPose3D's own four (54138969, 55011271, 58860488, 60457274), as
      its ``Human36mDataset`` hard-codes them. **A view the source lacks** (a camera of the
      subject that did not see some frame) is projected from the world 3D through that
      camera (the dataset's own, or the Human3.6M preset for a calibrated camera the data
      set does not hold); without world 3D or camera parameters the writer refuses. The
      number of projected views is recorded as ``projected_views`` in the cameras file.
    - ``cameras_<name>.json`` holds each subject's list, both in VideoPose3D's dict form
      (``"videopose3d"``: id, center, focal_length, radial/tangential distortion, res_w,
      res_h, orientation (w, x, y, z camera->world), translation (metres)) for a custom
      ``MocapDataset``, and exactly (``"cameras"``: ``Camera.to_dict()`` per subject), which
      :func:`read_videopose3d` reads back.

    Args:
        dataset: a skeleton of ``h36m17`` or ``h36m_extended`` (written as its first 17
            joints) or any layout :func:`posesynth.body.mappings.convert_keypoints` maps to
            ``h36m17``. World 3D and 2D are filled from the cameras where missing
            (:meth:`PoseDataset.complete`).
        out_dir: folder (created if needed; on any error nothing is created or left).
        name: the ``<name>`` in the file names.
        overwrite: replace existing files; otherwise an existing file is an error.
        layout_3d: ``"h36m32"`` (default) writes the raw 32-joint layout VideoPose3D's
            ``Human36mDataset`` expects (the 15 joints H36M-17 lacks copy their nearest kept
            ancestor; VideoPose3D drops them on load); ``"h36m17"`` writes 17 joints.
        dtype: float type of the arrays (VideoPose3D writes float32).

    Returns:
        ``(path_3d, path_2d)``; either is None when the dataset has no world 3D / no 2D.
        ``metadata`` is ``{"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry":
        [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]], "video_metadata": {subject: {"w",
        "h"}}}`` (the size of the subject's first camera). Values are written as they are
        (NaN stays NaN; VideoPose3D has no visibility).

    Raises:
        ValueError: when neither world 3D nor 2D is available, for an invalid ``name`` or
            ``layout_3d``, existing files without ``overwrite``, samples of one frame with
            different world poses, a camera seen twice at one frame, or a missing view that
            cannot be projected.
    """
    _check_name_and_layout(name, layout_3d)
    ds = dataset.complete()
    if ds.joints_3d_world is None and ds.joints_2d is None:
        raise ValueError(
            "dataset: VideoPose3D stores world 3D and 2D; this dataset has neither (camera-"
            "frame 3D without cameras cannot be placed in a world)"
        )
    out_dir = Path(out_dir)
    path_3d = out_dir / f"data_3d_{name}.npz" if ds.joints_3d_world is not None else None
    path_2d = out_dir / f"data_2d_{name}_gt.npz" if ds.joints_2d is not None else None
    path_cams = out_dir / f"cameras_{name}.json"
    for p in (path_3d, path_2d, path_cams if ds.cameras is not None else None):
        if p is not None and p.exists() and not overwrite:
            raise ValueError(f"{p}: already exists; pass overwrite=True to replace it")
    _check_folder(out_dir)

    payload = _vp3d_payload(ds, name, layout_3d, dtype)
    paths = {"3d": path_3d, "2d": path_2d, "cams": path_cams if payload[3] is not None else None}
    # the writer of the streamed path too (one payload here): the same data, the same bytes
    _write_vp3d_files(out_dir, paths, overwrite, [payload])
    return path_3d, path_2d


def _vp3d_payload(ds: PoseDataset | PartIds, name: str, layout_3d: str, dtype: type):
    """``positions_3d``, ``positions_2d``, ``video_metadata``, the cameras document, and
    ``out_index (N,)``: where each sample is among its subject's samples read back
    (:func:`read_videopose3d_chunks`: action by action, camera slot by slot, frame by frame;
    -1 without 2D)."""
    from posesynth.geometry.camera import project, world_to_camera
    from posesynth.geometry.rotations import matrix_to_quat

    n = len(ds)
    cam_key, table = _camera_table(ds)
    pose, _ = pose_ids(ds)
    # the camera table as plain arrays, once (no Camera object per subject or camera)
    tab = None if table is None else {f: np.asarray(getattr(table, f)) for f in _CAM_FIELDS}
    tab_quat = None if tab is None else matrix_to_quat(np.swapaxes(tab["rotation"], -1, -2))
    # the points by rows (Human3.6M-17, float64): a part's stay on disk until a step needs them
    world_rows: Callable[[np.ndarray], np.ndarray] | None
    uv_rows: Callable[[np.ndarray], np.ndarray] | None
    if isinstance(ds, PartIds):
        part = ds
        world_rows = lambda idx: _to_17(part, part.world_rows(idx))
        uv_rows = lambda idx: _to_17(part, part.uv_rows(idx))
    else:
        world = None if ds.joints_3d_world is None else _to_17(ds, ds.joints_3d_world)
        uv = None if ds.joints_2d is None else _to_17(ds, ds.joints_2d)
        world_rows = None if world is None else world.__getitem__
        uv_rows = None if uv is None else uv.__getitem__

    # subject per sample
    if ds.subject is not None:
        subject = np.asarray(ds.subject).astype(str)
    else:
        subject = rig_names(name, *rig_ranks(pose, cam_key))
    if ds.action is not None:
        action = np.asarray(ds.action).astype(str)
    else:
        names = _activity_names(ds)
        action = names if names is not None else np.full(n, "custom")

    positions_3d: dict[str, dict[str, np.ndarray]] = {}
    positions_2d: dict[str, dict[str, list[np.ndarray]]] = {}
    video_metadata: dict[str, dict[str, int]] = {}
    cams_vp3d: dict[str, list[dict[str, Any]]] = {}
    cams_exact: dict[str, dict[str, Any]] = {}
    out_index = np.full(n, -1, dtype=np.int64)
    subj_code = _codes(subject)
    by_subject = np.argsort(subj_code, kind="stable")
    cuts = np.flatnonzero(np.diff(subj_code[by_subject])) + 1
    projected = 0
    # a subject per sample (data without subject ids, as ``generate`` writes) or seen by one
    # camera (augment's): every step of the loop below is rows of whole arrays instead
    plan = _one_camera_plan(ds, subject, action, pose, cam_key, table)
    if plan is not None:
        filled = _VP3DOut(positions_3d, positions_2d, video_metadata, cams_vp3d, cams_exact, out_index)
        cam_rows = None if table is None or tab is None or tab_quat is None else (table.model, tab, tab_quat)
        _one_camera_subjects(ds, plan, cam_key, cam_rows, filled)
        _one_camera_points(plan, world_rows, uv_rows, layout_3d, dtype, filled)
    for in_subject in np.split(by_subject, cuts) if n and plan is None else []:
        s = str(subject[in_subject[0]])
        keys = _codes(cam_key[in_subject])  # first-appearance order within the subject
        first_of_key = np.unique(keys, return_index=True)[1]
        distinct = cam_key[in_subject[first_of_key]].tolist()
        slots = _h36m_slots(s, distinct, table)
        cams: dict[str, np.ndarray] | None = None
        model = None if table is None else table.model
        if slots is not None:  # VideoPose3D's own camera list of a Human3.6M subject
            presets = h36m_subject_cameras(s)
            cams = {f: np.array(getattr(presets, f)) for f in _CAM_FIELDS}
            assert tab is not None  # slots imply a camera table
            for f in cams:
                cams[f][slots] = tab[f][distinct]
            quat = matrix_to_quat(np.swapaxes(cams["rotation"], -1, -2))
            slot_of_key = dict(zip(distinct, slots))
            cam_ids = list(H36M_CAMERA_IDS)
        else:
            if tab is not None:
                cams = {f: tab[f][distinct] for f in _CAM_FIELDS}
                assert tab_quat is not None  # made with tab
                quat = tab_quat[distinct]
            slot_of_key = {k: i for i, k in enumerate(distinct)}
            cam_ids = [_camera_id(ds, k) for k in distinct]
        n_slots = len(cam_ids)
        if cams is not None:
            assert model is not None  # cams come from the camera table
            cams_exact[s] = {"ids": cam_ids, "cameras": _camera_doc(model, cams)}
            cams_vp3d[s] = _vp3d_cameras(model, cams, cam_ids, quat)
            w, h = (int(v) for v in cams["image_size"][0].tolist())
            video_metadata[s] = {"w": w, "h": h}
        act_code = _codes(action[in_subject])
        base = 0  # samples of the subject's earlier sequences, read back
        for ac in range(int(act_code.max(initial=-1)) + 1):
            idx = in_subject[act_code == ac]
            a = str(action[idx[0]])
            where = f"dataset: sequence {s}/{a}"
            if ds.frame is not None:
                fr = np.asarray(ds.frame)[idx].astype(np.int64)
                frame_ids, row = np.unique(fr, return_inverse=True)
            else:
                row = _codes(pose[idx])
                frame_ids = np.arange(int(row.max(initial=-1)) + 1)
            row = row.ravel()
            t = frame_ids.size
            seq = None
            if world_rows is not None:
                first_of_row = np.full(t, -1)
                first_of_row[row[::-1]] = idx[::-1]  # the first sample of each frame
                seq = world_rows(first_of_row)
                if not _same_poses(world_rows, idx, seq, row):
                    raise ValueError(
                        f"{where}: samples of the same frame have different world 3D poses; "
                        "VideoPose3D stores one 3D pose per frame (give them distinct subject, "
                        "action or frame ids)"
                    )
                seq_out: np.ndarray = seq.astype(dtype)  # cast first: the 32-joint copy is made in dtype
                positions_3d.setdefault(s, {})[a] = _h36m17_to_h36m32(seq_out) if layout_3d == "h36m32" else seq_out
            if uv_rows is None:
                continue
            key_list = np.array(list(slot_of_key), dtype=np.int64)
            by_key = np.argsort(key_list)
            slot_list = np.array(list(slot_of_key.values()), dtype=np.int64)[by_key]
            slot_of_sample = slot_list[np.searchsorted(key_list[by_key], cam_key[idx])]
            out_index[idx] = base + slot_of_sample * t + row
            base += t * n_slots
            per_cam: list[np.ndarray] = []
            for slot in range(n_slots):
                out: np.ndarray = np.full((t, 17, 2), np.nan, dtype=dtype)  # values cast as they are set
                have = np.zeros(t, dtype=bool)
                keys_here = [k for k, sl in slot_of_key.items() if sl == slot]
                for k in keys_here:
                    sel = idx[cam_key[idx] == k]
                    r = row[np.searchsorted(idx, sel)]
                    if np.unique(r).size != r.size:
                        counts = np.bincount(r)
                        dup = int(frame_ids[np.flatnonzero(counts > 1)[0]])
                        raise ValueError(f"{where}: camera {cam_ids[slot]} has two samples of frame {dup}")
                    out[r] = uv_rows(sel)
                    have[r] = True
                if not have.all():
                    missing = np.flatnonzero(~have)
                    if seq is None or cams is None:
                        raise ValueError(
                            f"{where}: camera {cam_ids[slot]} (index {slot} of subject {s}'s camera "
                            f"list) has no 2D for {missing.size} of {t} frames (first: frame "
                            f"{int(frame_ids[missing[0]])}) and they cannot be projected "
                            f"({'no world 3D' if seq is None else 'no camera parameters'}); "
                            "VideoPose3D pairs the i-th 2D array with the subject's i-th camera, "
                            "so every camera needs every frame"
                        )
                    assert model is not None  # cams come from the camera table
                    p_cam = world_to_camera(seq[missing], cams["rotation"][slot], cams["center"][slot])
                    out[missing] = project(model, p_cam, cams["intrinsics"][slot], cams["distortion"][slot])
                    projected += missing.size
                per_cam.append(out)
            positions_2d.setdefault(s, {})[a] = per_cam
    doc = None
    if cams_vp3d:
        doc = {
            "format": CAMERAS_FORMAT,
            "version": CAMERAS_VERSION,
            "about": "each subject's camera list in VideoPose3D's order: the i-th 2D array of "
            "a sequence is the view of the i-th camera. 'videopose3d': VideoPose3D's camera "
            "dicts (pixels; orientation w,x,y,z camera->world; translation metres); "
            "'cameras': the exact models, read by posesynth",
            "videopose3d": cams_vp3d,
            "cameras": cams_exact,
            "projected_views": int(projected),
        }
    return positions_3d, positions_2d, video_metadata, doc, out_index


def _same_poses(
    world_rows: Callable[[np.ndarray], np.ndarray], idx: np.ndarray, seq: np.ndarray, row: np.ndarray, block: int = 8192
) -> bool:
    """Whether every sample ``idx[j]`` (its world 3D read by ``world_rows``) has its frame's
    pose ``seq[row[j]]`` (to 1e-9 m; NaN where NaN): ``np.allclose`` over blocks of samples,
    so a long sequence needs no copies of its whole 3D."""
    if idx.size == seq.shape[0]:  # a sample per frame: each is its frame's pose
        return True
    for lo in range(0, idx.size, block):
        a, b = world_rows(idx[lo : lo + block]), seq[row[lo : lo + block]]
        if not np.allclose(a, b, rtol=0.0, atol=1e-9, equal_nan=True):
            return False
    return True


def _camera_id(ds: PoseDataset | PartIds, k: int) -> str:
    if ds.camera_names is not None and ds.camera_index is not None:
        return str(np.asarray(ds.camera_names)[k]).rpartition("/")[2] or f"cam{k}"
    return f"cam{k}"


# ------------------------------------------------------------------------- streamed writing
#: Key of the one-item dict that marks, in a template pickle, where a streamed dict's items go.
_PLACEHOLDER = "posesynth-stream-placeholder"


def _spliced_pickle(obj: Any) -> tuple[bytes, bytes]:
    """``(head, tail)`` of the pickle :func:`dumps_numpy_pickle` writes for ``obj`` (wrapped in a 0-d
    object array), where ``obj`` holds one dict ``{_PLACEHOLDER: None}``: ``head`` ends with
    that dict made (``EMPTY_DICT; BINPUT``), ``tail`` is what follows its item. Between them
    go ``MARK key value ... SETITEMS`` batches; they refer to memo index 0 (the array
    reconstructor, ``head``'s first global) and put their own objects from index 2 on, and the
    tail gets nothing from the memo, so the batches load inside the dict."""
    import pickletools

    holder = np.empty((), dtype=object)
    holder[()] = obj
    raw = dumps_numpy_pickle(holder)
    ops = list(pickletools.genops(raw))
    at = next(k for k, (op, arg, _) in enumerate(ops) if op.name == "BINUNICODE" and arg == _PLACEHOLDER)
    names = [op.name for op, _, _ in ops]
    reconstruct = ops[1][1] == "numpy.core.multiarray _reconstruct" and ops[2][0].name == "BINPUT" and ops[2][1] == 0
    if (
        not reconstruct
        or names[at - 2 : at] != ["EMPTY_DICT", "BINPUT"]
        or names[at + 1 : at + 4] != ["BINPUT", "NONE", "SETITEM"]
        or any(n in ("BINGET", "LONG_BINGET", "GET") for n in names[at + 4 :])
    ):
        raise RuntimeError("videopose3d: unexpected pickle layout")  # a NumPy whose pickles differ
    head_end = ops[at][2]
    tail_start = ops[at + 4][2] if at + 4 < len(ops) else len(raw)
    assert isinstance(head_end, int) and isinstance(tail_start, int)  # genops of bytes
    return raw[:head_end], raw[tail_start:]


#: A batch of a streamed dict (:class:`_Batches`) closes after this many items, or once the
#: arrays of its items hold :data:`BATCH_BYTES`: a rule of the items alone, so the same data
#: give the same batches, and the same bytes, however the samples were chunked.
BATCH_ITEMS = 1000
BATCH_BYTES = 8 << 20


def _array_bytes(value: Any) -> int:
    """Bytes of the arrays in ``value`` (an array, or dicts / lists of them)."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(_array_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_array_bytes(v) for v in value)
    return 0


class _Batches:
    """The items of one dict, pickled in batches
    (:func:`~posesynth.data.formats._camera_pickle.dict_items_pickle`, each after a no-op
    marker holding its length, as MMPose's streamed ``cameras.pkl``) and
    passed to ``write``. A batch holds :data:`BATCH_ITEMS` items, or fewer whose arrays reach
    :data:`BATCH_BYTES`, in the order added: how the items were handed over does not matter."""

    def __init__(self, write: Any) -> None:
        self.write = write
        self.items: dict[Any, Any] = {}
        self.nbytes = 0
        self.batches = 0

    def add(self, items: dict[Any, Any]) -> None:
        for key, value in items.items():
            if key in self.items:
                raise ValueError(f"chunks: {key!r} given twice")
            self.items[key] = value
            self.nbytes += _array_bytes(value)
            if len(self.items) >= BATCH_ITEMS or self.nbytes >= BATCH_BYTES:
                self.flush()

    def flush(self) -> None:
        from posesynth.data.formats.mmpose import _fragment_marker

        if self.items:
            if self.nbytes <= BATCH_BYTES:  # small arrays: pickled once, in memory
                fragment = dict_items_pickle(self.items)
                self.write(_fragment_marker(len(fragment)))
                self.write(fragment)
            else:
                # a large subject: the same bytes pickled twice (counted, then written) and
                # never held whole, so its arrays are not copied three times over
                self.write(_fragment_marker(_items_pickle(self.items, None)))
                _items_pickle(self.items, self.write)
            self.batches += 1
            self.items, self.nbytes = {}, 0


#: What :func:`pickle.Pickler` writes after a dict's items (STOP); with what it writes before
#: them (:data:`~._camera_pickle.ITEMS_HEAD`), left out of a batch's fragment.
_ITEMS_STOP = b"."


def _items_pickle(items: dict[Any, Any], write: Any) -> int:
    """The ``MARK key value ... SETITEMS`` opcodes of ``items`` (what
    :func:`posesynth.data.formats._camera_pickle.dict_items_pickle` returns, the same bytes)
    passed to ``write`` as the pickler makes them, or only counted when ``write`` is None; returns
    their length. The pickler writes an array's data (a copy, kept in its memo until the
    end) straight to ``write``, so memory is the items and one copy of their arrays.

    Raises:
        RuntimeError: the pickle is not laid out as expected (a NumPy global not seeded).
    """
    sink = _FragmentSink(write)
    seeded_pickler(sink).dump(dict(items))
    sink.close()
    return sink.count


class _FragmentSink:
    """A file for :class:`pickle.Pickler` that passes on what it is given except the first
    bytes (:data:`~._camera_pickle.ITEMS_HEAD`) and the last (:data:`_ITEMS_STOP`, held back until the next
    write), counting what it passes on, and checks that no ``numpy._core`` global is written
    (the opcodes come in small writes; an array's data in one large write)."""

    def __init__(self, write: Any) -> None:
        self.out = write
        self.count = 0
        self.head = b""
        self.held = b""
        self.recent = b""  # the end of the last small writes: a global split between two

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        size = view.nbytes
        if len(self.head) < len(_ITEMS_HEAD):
            take = len(_ITEMS_HEAD) - len(self.head)
            self.head += bytes(view[:take])
            view = view[take:]
        if view.nbytes < (1 << 16):
            text = self.recent + bytes(view)
            if b"cnumpy._core" in text:
                raise RuntimeError("videopose3d: unexpected pickle layout (a numpy._core global)")
            self.recent = text[-16:]
        else:
            self.recent = b""
        if view.nbytes:
            self._emit(self.held)
            self._emit(view[:-1])
            self.held = bytes(view[-1:])
        return size

    def _emit(self, data: Any) -> None:
        n = len(data)
        if n:
            self.count += n
            if self.out is not None:
                self.out(data)

    def close(self) -> None:
        if self.head != _ITEMS_HEAD or self.held != _ITEMS_STOP:
            raise RuntimeError("videopose3d: unexpected pickle layout")  # a NumPy whose pickles differ


def _member(zf: zipfile.ZipFile, key: str) -> Any:
    """A new deflated member ``<key>.npy`` open for writing, with a fixed time stamp (the same
    bytes whenever they are written) and the ZIP64 fields, which a member of unknown size needs."""
    info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return zf.open(info, "w", force_zip64=True)


def _npy_object_header() -> bytes:
    holder = np.empty((), dtype=object)
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(buf, npy_format.header_data_from_array_1_0(holder))
    return buf.getvalue()


class _StreamedDict:
    """A member ``<key>.npy`` of an ``.npz`` (deflated, what ``np.savez_compressed`` writes
    for a dict field) holding the pickle of ``template`` in which one dict is filled batch by
    batch (:meth:`add`, :class:`_Batches`), so :func:`read_videopose3d_chunks` can take one
    batch at a time. Loads as the whole dict with ``np.load(..., allow_pickle=True)`` and
    :func:`read_videopose3d`. The only way this module writes a dict field."""

    def __init__(self, zf: zipfile.ZipFile, key: str, template: Any) -> None:
        self.fh = _member(zf, key)
        self.head, self.tail = _spliced_pickle(template)
        self.fh.write(_npy_object_header() + self.head)
        self.batches = _Batches(self.fh.write)

    def add(self, items: dict[Any, Any]) -> None:
        self.batches.add(items)

    def close(self) -> None:
        self.batches.flush()
        self.fh.write(self.tail)
        self.fh.close()


def stream_camera_key_hashes(chunks: Iterable[dict[str, np.ndarray]]) -> np.ndarray:
    """One 64-bit hash per sample of its camera's parameters (the fields
    :func:`_camera_table` tells per-sample cameras apart by), for samples given as
    consecutive chunks of ``{field: (n, ...) array}`` (``intrinsics``, ``distortion``,
    ``rotation``, ``center``, ``image_size``). Equal cameras hash equal (``-0.0`` counts as
    ``0.0``, as ``np.unique`` compares); distinct ones almost never do, and a repeated hash
    only sends the caller to the in-memory writer."""
    out = []
    for c in chunks:
        n = len(c["intrinsics"])
        params = np.concatenate(
            [
                np.asarray(c["intrinsics"], dtype=np.float64),
                np.asarray(c["distortion"], dtype=np.float64).reshape(n, -1),
                np.asarray(c["rotation"], dtype=np.float64).reshape(n, 9),
                np.asarray(c["center"], dtype=np.float64),
                np.asarray(c["image_size"]).astype(np.float64),
            ],
            axis=1,
        )
        words = np.ascontiguousarray(params + 0.0).view(np.uint64)
        h = np.full(n, np.uint64(0xCBF29CE484222325))
        with np.errstate(over="ignore"):
            for col in range(words.shape[1]):  # FNV-1a over 64-bit words, then a final mix
                h = (h ^ words[:, col]) * np.uint64(0x100000001B3)
            h ^= h >> np.uint64(29)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(32)
        out.append(h)
    return np.concatenate(out) if out else np.zeros(0, np.uint64)


def write_videopose3d_chunks(
    chunks: Iterable[PoseDataset],
    out_dir: str | Path,
    samples: int,
    name: str = "custom",
    overwrite: bool = False,
    *,
    layout_3d: str = "h36m32",
    dtype: type = np.float32,
) -> tuple[Path | None, Path | None]:
    """:func:`write_videopose3d` of a data set given as consecutive chunks whose every
    sample is its own pose seen by its own camera, in one pass and a chunk's memory.

    That is generated data (no ``subject``, ``frame`` or augment ids; one camera per
    sample, no two alike): the in-memory writer gives each sample its own subject
    ``<name>_<index>`` (one rig per camera), its activity as the action, one frame, one
    camera ``cam<index>``. The caller checks these conditions
    (:func:`posesynth.data.formats.registry.convert_streamed` with
    :func:`stream_camera_key_hashes`). Each chunk's files' content comes from the in-memory
    writer's own code on the chunk, and is written as it comes: the dicts of the ``.npz``
    files as pickles filled batch by batch (:class:`_StreamedDict`; they load as the same
    dicts, and :func:`read_videopose3d_chunks` reads them a batch at a time), the cameras
    file as the same JSON text (sections copied from temporary parts).

    Args:
        chunks: the samples in order (``samples`` in all).
        samples: their count (it sets the width of the subject numbers).
        out_dir, name, overwrite, layout_3d, dtype: as :func:`write_videopose3d`.

    Returns:
        ``(path_3d, path_2d)`` as :func:`write_videopose3d`.

    Raises:
        ValueError: as :func:`write_videopose3d`; chunks with subject or frame ids or a
            camera table; a sample count other than ``samples``.
    """
    from dataclasses import replace

    _check_name_and_layout(name, layout_3d)
    out_dir = Path(out_dir)
    _check_folder(out_dir)
    width = max(6, len(str(max(samples - 1, 0))))
    it = iter(chunks)
    first = next(it, None)
    if first is None or samples < 1:
        raise ValueError("dataset: no samples to write")
    ds0 = first.complete()
    if ds0.joints_3d_world is None and ds0.joints_2d is None:
        raise ValueError(
            "dataset: VideoPose3D stores world 3D and 2D; this dataset has neither (camera-"
            "frame 3D without cameras cannot be placed in a world)"
        )
    paths = {
        "3d": out_dir / f"data_3d_{name}.npz" if ds0.joints_3d_world is not None else None,
        "2d": out_dir / f"data_2d_{name}_gt.npz" if ds0.joints_2d is not None else None,
        "cams": out_dir / f"cameras_{name}.json" if ds0.cameras is not None else None,
    }
    for p in paths.values():
        if p is not None and p.exists() and not overwrite:
            raise ValueError(f"{p}: already exists; pass overwrite=True to replace it")

    def payloads() -> Iterator[Any]:
        lo = 0
        for chunk in _chain(first, it):
            m = len(chunk)
            if m == 0:
                continue
            if chunk.subject is not None or chunk.frame is not None or chunk.camera_index is not None:
                raise ValueError("chunks: expected samples without subject or frame ids and a camera per sample")
            subject = np.array([f"{name}_{lo + i:0{width}d}" for i in range(m)])
            part = chunk
            if chunk.cameras is not None:
                part = replace(
                    chunk,
                    camera_index=np.arange(m),
                    camera_names=np.array([f"cam{lo + i}" for i in range(m)]),
                )
            yield _vp3d_payload(replace(part, subject=subject).complete(), name, layout_3d, dtype)
            lo += m
        if lo != samples:
            raise ValueError(f"chunks: {lo} samples, expected {samples}")

    _write_vp3d_files(out_dir, paths, overwrite, payloads())
    return paths["3d"], paths["2d"]


def write_videopose3d_parts(
    parts: Iterable[PoseDataset | PartIds],
    out_dir: str | Path,
    name: str = "custom",
    overwrite: bool = False,
    *,
    layout_3d: str = "h36m32",
    dtype: type = np.float32,
    on_part: Any = None,
) -> tuple[Path | None, Path | None]:
    """:func:`write_videopose3d` of a data set given as consecutive parts that each hold
    whole subjects (every sample of a subject in one part), in one pass and a part's memory.

    Each part is written as the in-memory writer writes those subjects, so the files equal
    its own for the whole data set when the parts carry what it would find in it: the
    ``subject`` of every sample (given, or the rig names it would give) and its cameras as
    a table whose ``camera_names`` give the ids it would give (``cam<k>`` with ``k`` the
    camera's first-appearance number in the whole data set, for cameras without names).
    :func:`posesynth.data.formats.registry.convert_streamed` prepares such parts from a store.

    Args:
        parts: the samples in order; each with ``subject`` ids, world 3D, 2D and cameras
            (a :class:`PoseDataset`, or a :class:`PartIds` whose points are read by rows).
        out_dir, name, overwrite, layout_3d, dtype: as :func:`write_videopose3d`.
        on_part: called with each part's ``out_index`` (where each sample is among its
            subject's samples read back) and ``{subject: samples read back}``.

    Returns:
        ``(path_3d, path_2d)`` as :func:`write_videopose3d`.

    Raises:
        ValueError: as :func:`write_videopose3d`; a part without subject ids, 2D or cameras;
            a subject in two parts.
    """
    _check_name_and_layout(name, layout_3d)
    out_dir = Path(out_dir)
    _check_folder(out_dir)
    paths: dict[str, Path | None] = {
        "3d": out_dir / f"data_3d_{name}.npz",
        "2d": out_dir / f"data_2d_{name}_gt.npz",
        "cams": out_dir / f"cameras_{name}.json",
    }
    for p in paths.values():
        if p is not None and p.exists() and not overwrite:
            raise ValueError(f"{p}: already exists; pass overwrite=True to replace it")

    def payloads() -> Iterator[Any]:
        for part in parts:
            if len(part) == 0:
                continue
            ds: PoseDataset | PartIds
            if isinstance(part, PartIds):  # points read by rows
                ds = part
                if ds.cameras is None:
                    raise ValueError("parts: expected samples with subject ids, world 3D, 2D and cameras")
            else:  # world 3D and 2D are all the writer reads: the camera-frame 3D is not made for it
                ds = part if part.joints_3d_world is not None and part.joints_2d is not None else part.complete()
                if ds.subject is None or ds.joints_2d is None or ds.joints_3d_world is None or ds.cameras is None:
                    raise ValueError("parts: expected samples with subject ids, world 3D, 2D and cameras")
            payload = _vp3d_payload(ds, name, layout_3d, dtype)
            del part, ds  # the payload holds copies: the part's arrays go before the next is read
            if on_part is not None:
                counts = {s: sum(len(v) * len(v[0]) for v in acts.values()) for s, acts in payload[1].items()}
                on_part(payload[4], counts)
            yield payload
            del payload

    _write_vp3d_files(out_dir, paths, overwrite, payloads())
    return paths["3d"], paths["2d"]


def _write_vp3d_files(out_dir: Path, paths: dict[str, Path | None], overwrite: bool, payloads: Iterable[Any]) -> None:
    """Write the files of :func:`write_videopose3d` from consecutive parts of the payload
    (:func:`_vp3d_payload`'s ``positions_3d``, ``positions_2d``, ``video_metadata`` and
    cameras document, each holding other subjects), in one pass: the one writer of both the
    in-memory export (one part) and the streamed one (a part per chunk).

    The ``.npz`` dicts are pickled in fixed batches (:class:`_StreamedDict`), so the bytes
    depend on the data alone, not on the parts; ``video_metadata`` goes to a temporary file
    until ``positions_2d`` is complete (a zip writes one member at a time). The cameras file
    is the JSON of the whole document (sorted keys, no spaces), but with its subjects in the
    order of the data files' dicts (first appearance), written part by part. Files are replaced
    one by one in an existing folder, a new folder is built whole under a temporary name: on
    any error nothing is left half-written.
    """
    import contextlib
    import shutil
    import tempfile

    metadata: dict[str, Any] = {
        "layout_name": "h36m",
        "num_joints": 17,
        "keypoints_symmetry": [list(H36M17.left), list(H36M17.right)],
    }
    with contextlib.ExitStack() as stack:
        if out_dir.is_dir():  # each file replaced on its own
            tmp = {
                k: stack.enter_context(atomic_path(p, overwrite=overwrite)) for k, p in paths.items() if p is not None
            }
        else:  # a new folder: built whole under a temporary name, so an error leaves nothing
            folder = stack.enter_context(atomic_path(out_dir))
            folder.mkdir()
            tmp = {k: folder / p.name for k, p in paths.items() if p is not None}
        work = Path(tempfile.mkdtemp(prefix=".parts-", dir=next(iter(tmp.values())).parent))
        stack.callback(shutil.rmtree, work, True)
        zips = {k: stack.enter_context(zipfile.ZipFile(tmp[k], "w", allowZip64=True)) for k in ("3d", "2d") if k in tmp}
        d3 = _StreamedDict(zips["3d"], "positions_3d", {_PLACEHOLDER: None}) if "3d" in zips else None
        d2 = _StreamedDict(zips["2d"], "positions_2d", {_PLACEHOLDER: None}) if "2d" in zips else None
        for d in (d3, d2):  # on an error, before their archive (which refuses to close over them)
            if d is not None:
                stack.callback(d.fh.close)
        video_fh = open(work / "video.pkl", "wb") if "2d" in zips else None  # noqa: SIM115
        cams_json = open(tmp["cams"], "w", encoding="utf-8") if "cams" in tmp else None  # noqa: SIM115
        vp3d_part = open(work / "vp3d.txt", "w", encoding="utf-8") if "cams" in tmp else None  # noqa: SIM115
        for fh in (video_fh, cams_json, vp3d_part):
            if fh is not None:
                stack.callback(fh.close)
        video = _Batches(video_fh.write) if video_fh is not None else None
        about = None
        last_subject: str | None = None
        projected = 0
        if cams_json is not None:
            cams_json.write('{"about":')
        for positions_3d, positions_2d, video_metadata, doc, *_ in payloads:
            if d3 is not None:
                d3.add(positions_3d)
            if d2 is not None:
                d2.add(positions_2d)
            if video is not None:
                video.add(video_metadata)
            if doc is not None and cams_json is not None and vp3d_part is not None and doc["cameras"]:
                if about is None:
                    about = doc["about"]
                    cams_json.write(json.dumps(about) + ',"cameras":{')
                sep = "," if last_subject is not None else ""
                cams_json.write(sep + _json_items(doc["cameras"]))
                vp3d_part.write(sep + _json_items(doc["videopose3d"]))
                projected += int(doc["projected_views"])
                last_subject = next(reversed(doc["cameras"]))
            # pickled (or in a batch): gone before the next part is made
            del positions_3d, positions_2d, video_metadata, doc, _
        if d3 is not None:
            d3.close()
        if d2 is not None and video is not None and video_fh is not None:
            d2.close()
            video.flush()
            video_fh.close()
            if video.batches:
                meta = _StreamedDict(zips["2d"], "metadata", {**metadata, "video_metadata": {_PLACEHOLDER: None}})
                with open(work / "video.pkl", "rb") as src:
                    shutil.copyfileobj(src, meta.fh, 1 << 20)
                meta.fh.write(meta.tail)
                meta.fh.close()
            else:
                _write_member(zips["2d"], "metadata", metadata)
        if cams_json is not None and vp3d_part is not None:
            vp3d_part.close()
            cams_json.write(f'}},"format":{json.dumps(CAMERAS_FORMAT)},"projected_views":{projected}')
            cams_json.write(f',"version":{json.dumps(CAMERAS_VERSION)},"videopose3d":{{')
            with open(work / "vp3d.txt", encoding="utf-8") as src:
                shutil.copyfileobj(src, cams_json, 1 << 20)
            cams_json.write("}}\n")
            cams_json.close()
        for zf in zips.values():
            zf.close()


def _chain(first: PoseDataset, rest: Iterator[PoseDataset]) -> Iterator[PoseDataset]:
    yield first
    yield from rest


def _json_items(mapping: dict[str, Any]) -> str:
    """The items of ``mapping`` as JSON object members, in the mapping's order (each value
    with sorted keys, no spaces): the subjects' entries of the cameras file, in the order of
    the data files' dicts, however many parts write them."""
    return ",".join(
        json.dumps(key) + ":" + json.dumps(value, sort_keys=True, separators=(",", ":"))
        for key, value in mapping.items()
    )


def _write_member(zf: zipfile.ZipFile, key: str, value: Any) -> None:
    """A dict field written whole (``metadata`` without ``video_metadata``), with pickles
    NumPy 1.x loads too (:func:`dumps_numpy_pickle`)."""
    holder = np.empty((), dtype=object)
    holder[()] = value
    with _member(zf, key) as fh:
        fh.write(_npy_object_header() + dumps_numpy_pickle(holder))


# ------------------------------------------------------------------------- chunked reading
def _member_fragments(path: Path, key: str) -> Iterator[dict[Any, Any]]:
    """The batches of the dict that :class:`_StreamedDict` wrote into member ``<key>.npy`` of
    ``path``, one dict at a time, read from the deflated member in order (each unpickled
    with the NumPy-only unpickler). Nothing is yielded for a member written whole."""
    import struct

    from posesynth.data.formats.mmpose import _FRAGMENT_MARKER_BYTES, _FRAGMENT_TAG
    from posesynth.data.formats.numpy_pickle import _check_opcodes

    prefix = b"X" + struct.pack("<I", len(_FRAGMENT_TAG) + 16) + _FRAGMENT_TAG.encode("ascii")
    with zipfile.ZipFile(path) as zf:
        try:
            fh = zf.open(f"{key}.npy")
            size = zf.getinfo(f"{key}.npy").file_size
        except KeyError:
            raise ValueError(f"{path}: missing field {key!r}") from None
        with fh:
            head = fh.read(1 << 16)  # the template pickle's head is a few hundred bytes
            at = head.find(prefix)
            if at < 0:
                return
            buf = bytearray(head[at:])
            while True:
                if len(buf) < _FRAGMENT_MARKER_BYTES:
                    buf += fh.read(_FRAGMENT_MARKER_BYTES - len(buf))
                if not buf.startswith(prefix):
                    return  # the template's tail: the dict is complete
                marker = bytes(buf[:_FRAGMENT_MARKER_BYTES])
                del buf[:_FRAGMENT_MARKER_BYTES]
                try:
                    length = int(marker[len(prefix) : -1])
                except ValueError:
                    raise ValueError(f"{path}: {key}: a damaged batch marker") from None
                if length > size:  # a damaged marker: allocate no more than the member holds
                    raise ValueError(f"{path}: {key}: truncated (a batch of {length} bytes ends early)")
                data = _fragment_pickle(fh, buf, length, f"{path}: {key}")
                try:
                    _check_opcodes(data)  # type: ignore[arg-type]
                    with io.BufferedReader(_BufferRaw(data), 1 << 16) as stream:
                        part = NumpyOnlyUnpickler(stream, path, limit_bytes=len(data)).load()
                except RefusedGlobal:
                    raise
                except Exception as exc:
                    raise ValueError(f"{path}: {key}: not a valid pickle ({type(exc).__name__}: {exc})") from exc
                del data  # not kept while the batch is used
                if not isinstance(part, dict):
                    raise ValueError(f"{path}: {key}: expected a dict")
                yield part


def _fragment_pickle(fh: Any, buf: bytearray, length: int, where: str) -> bytearray:
    """The pickle of the next batch: :data:`~posesynth.data.formats._camera_pickle.STREAM_HEAD`, its
    ``length`` bytes (what ``buf`` holds of them, taken out of it, then read from ``fh``) and
    STOP, in one buffer filled in place (no second copy of a batch of a subject's arrays)."""
    from posesynth.data.formats._camera_pickle import STREAM_HEAD as _STREAM_HEAD

    start = len(_STREAM_HEAD)
    data = bytearray(start + length + 1)
    data[:start] = _STREAM_HEAD
    have = min(len(buf), length)
    data[start : start + have] = buf[:have]
    del buf[:have]
    with memoryview(data) as whole:
        view = whole[start + have : start + length]
        while view.nbytes:
            got = fh.readinto(view[: 1 << 20])  # in pieces: a zip member reads through a copy
            if not got:
                raise ValueError(f"{where}: truncated (a batch of {length} bytes ends early)")
            view = view[got:]
        view.release()
    data[-1] = ord(".")
    return data


class _BufferRaw(io.RawIOBase):
    """A raw file reading a buffer without copying it (``io.BytesIO`` copies a bytearray);
    wrapped in :class:`io.BufferedReader` for :class:`pickle.Unpickler`, whose many small
    reads then stay in C, while a large array is read straight into its bytes."""

    def __init__(self, data: bytearray) -> None:
        super().__init__()
        self.view = memoryview(data)
        self.pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        with memoryview(b) as target, target.cast("B") as flat:
            n = min(flat.nbytes, self.view.nbytes - self.pos)
            flat[:n] = self.view[self.pos : self.pos + n]
        self.pos += n
        return n

    def close(self) -> None:
        self.view.release()
        super().close()


def _subject_items(path: Path, key: str) -> Iterator[tuple[Any, Any]]:
    """``(subject, value)`` of the dict in member ``<key>.npy`` of ``path``, one batch in memory."""
    for batch in _member_fragments(path, key):
        while batch:  # popped: an item handed on is not kept here while the next batch is read
            first = next(iter(batch))
            yield first, batch.pop(first)


@dataclass(frozen=True)
class SubjectViews:
    """One subject of written VideoPose3D files in the stored dtype (float32): its camera
    list and, per action, the 3D ``(T, J, 3)`` (the 17 joints read back;
    :func:`read_videopose3d_subjects` drops the 32-joint layout's others) and the 2D view of each camera
    ``(T, 17, 2)``. :meth:`dataset` makes samples of it (all, or some) in the read-back order:
    action by action, camera slot by slot, frame by frame."""

    out_dir: Path
    subject: str
    model: Any
    params: dict[str, np.ndarray]
    actions: tuple[tuple[str, np.ndarray, tuple[np.ndarray, ...]], ...]

    def __len__(self) -> int:
        return sum(len(views) * p3.shape[0] for _, p3, views in self.actions)

    @property
    def nbytes(self) -> int:
        """Bytes of its arrays."""
        return sum(p3.nbytes + sum(v.nbytes for v in views) for _, p3, views in self.actions)

    def dataset(self, pick: np.ndarray | None = None) -> PoseDataset:
        """Samples ``pick`` (indices in the read-back order; all when None) as
        :func:`read_videopose3d_chunks` gives them, but without the camera-frame 3D
        (``.complete()`` adds it): Human3.6M-17 world 3D (metres) and 2D (pixels) as float64,
        the subject's camera of each, ``subject``, ``action``, ``frame`` (index in the
        sequence) and ``extra["camera"]`` (its slot). Only the picked rows are copied."""
        world, uv, frame, slot, action = self._picked(pick)
        return PoseDataset(
            skeleton=H36M17,
            joints_3d_world=world,
            joints_2d=uv,
            cameras=Camera(model=self.model, **{f: self.params[f][slot] for f in _CAM_FIELDS}),
            subject=np.full(len(slot), self.subject),
            action=action,
            frame=frame,
            meta={"format": "videopose3d", "source": str(self.out_dir)},
            extra={"camera": slot},
        )

    def _picked(self, pick: np.ndarray | None) -> tuple[np.ndarray, ...]:
        """``(world (m, 17, 3), uv (m, 17, 2), frame (m,), slot (m,), action (m,))`` of the
        samples ``pick`` (:meth:`dataset`'s arrays)."""
        n_slots = int(self.params["intrinsics"].shape[0])
        lengths = [p3.shape[0] for _, p3, _ in self.actions]
        bases = np.cumsum([0] + [t * n_slots for t in lengths])
        pick = np.arange(int(bases[-1])) if pick is None else np.asarray(pick, dtype=np.int64)
        m = pick.size
        which = np.searchsorted(bases, pick, side="right") - 1
        world, uv = np.empty((m, 17, 3)), np.empty((m, 17, 2))
        frame, slot = np.empty(m, np.int64), np.empty(m, np.int64)
        action = np.empty(m, dtype=f"<U{max([len(a) for a, _, _ in self.actions] + [1])}")
        for k, (a, p3, views) in enumerate(self.actions):
            sel = np.flatnonzero(which == k)
            if sel.size == 0:
                continue
            local = pick[sel] - bases[k]
            cam, row = local // lengths[k], local % lengths[k]
            w = np.asarray(p3[row], dtype=np.float64)
            world[sel] = w[:, list(H36M32_TO_17)] if w.shape[1] == 32 else w
            for c in np.unique(cam).tolist():
                at = cam == c
                uv[sel[at]] = views[c][row[at]]
            frame[sel], slot[sel], action[sel] = row, cam, a
        return world, uv, frame, slot, action


def picked_dataset(picks: list[tuple[SubjectViews, np.ndarray]]) -> PoseDataset:
    """``concat_datasets([views.dataset(pick) for views, pick in picks])``, the same arrays and
    dtypes, with one ``Camera`` and one data set for all (augment's export has a subject per
    three samples: a ``Camera`` and a data set each took about 170 µs). Subjects of several
    camera models go one by one (where ``concat_cameras`` refuses them)."""
    from posesynth.data.dataset import concat_datasets

    if len(picks) == 1 or len({views.model for views, _ in picks}) > 1:
        parts = [views.dataset(pick) for views, pick in picks]
        return parts[0] if len(parts) == 1 else concat_datasets(parts)
    arrays = [views._picked(pick) for views, pick in picks]
    slots = [a[3] for a in arrays]
    counts = [len(s) for s in slots]
    first = picks[0][0]
    return PoseDataset(
        skeleton=H36M17,
        joints_3d_world=np.concatenate([a[0] for a in arrays]),
        joints_2d=np.concatenate([a[1] for a in arrays]),
        cameras=Camera(
            model=first.model,
            **{f: np.concatenate([v.params[f][s] for (v, _), s in zip(picks, slots)]) for f in _CAM_FIELDS},
        ),
        subject=np.concatenate([np.full(m, views.subject) for (views, _), m in zip(picks, counts)]),
        action=np.concatenate([a[4] for a in arrays]),
        frame=np.concatenate([a[2] for a in arrays]),
        meta={"format": "videopose3d", "source": str(first.out_dir)},
        extra={"camera": np.concatenate(slots)},
    )


def read_videopose3d_subjects(out_dir: str | Path, name: str = "custom") -> Iterator[SubjectViews]:
    """What :func:`write_videopose3d` wrote into ``out_dir``, one subject at a time, as stored
    (:class:`SubjectViews`): the dicts' batches are read one at a time with the same subjects'
    entries of ``cameras_<name>.json``, so memory is a batch and a subject's arrays.

    Raises:
        ValueError: files missing or damaged (a field, shape or value), or whose subjects do
            not match each other.
    """
    from posesynth.data.formats._json_stream import JsonItems, json_layout

    out_dir = Path(out_dir)
    path_3d, path_2d = out_dir / f"data_3d_{name}.npz", out_dir / f"data_2d_{name}_gt.npz"
    path_cams = out_dir / f"cameras_{name}.json"
    for p in (path_3d, path_2d, path_cams):
        if not p.is_file():
            raise ValueError(f"{p}: missing")
    starts, _ = json_layout(path_cams, {("cameras",), ("videopose3d",)})
    if ("cameras",) not in starts:
        raise ValueError(f"{path_cams}: cameras: missing")
    cams = JsonItems(path_cams, starts[("cameras",)], pairs=True)
    paths = (path_3d, path_2d, path_cams)
    raw = _raw_subjects(out_dir, paths, cams)
    try:
        more = True
        while more:
            # a group of subjects read, then checked and handed on one by one; a read error
            # comes after the subjects read before it, as when each was handed on at once
            group: list[_RawSubject] = []
            failed: ValueError | None = None
            more, size = False, 0
            try:
                for got in raw:
                    group.append(got)
                    size += _raw_size(got)
                    if len(group) >= _GROUP_SUBJECTS or size >= _GROUP_BYTES:
                        more = True
                        break
            except ValueError as exc:
                failed = exc
            tables = _group_tables([g[3] for g in group]) if len(group) > 1 else None
            while group:  # popped: a subject handed on is not kept here
                s, acts, views_of, entry = group.pop(0)
                table = None if tables is None else tables.pop(0)
                made = _subject_views(out_dir, str(s), acts, views_of, entry, paths, table)
                del acts, views_of, entry
                if made is not None:
                    held = [made]
                    del made
                    yield held.pop()  # popped: no reference here while the caller uses it
            if failed is not None:
                raise failed
    finally:
        cams.close()


_RawSubject = tuple[Any, Any, Any, Any]

#: Subjects whose cameras are checked together (a subject per sample: one ``Camera`` per
#: group, not one per sample), and the bytes of arrays a group may hold.
_GROUP_SUBJECTS = 512
_GROUP_BYTES = 8 << 20


def _raw_subjects(out_dir: Path, paths: tuple[Path, Path, Path], cams: Any) -> Iterator[_RawSubject]:
    """``(subject, 3D dict, 2D dict, cameras file entry)`` of each subject, as read, the three
    files in step (their subjects checked against each other, nothing else)."""
    from posesynth.data.formats._json_stream import END

    path_3d, path_2d, path_cams = paths
    # each subject's arrays are handed on and not kept here (no zip: it would hold the last
    # pair while the next is read)
    items_3d = _subject_items(path_3d, "positions_3d")
    items_2d = _subject_items(path_2d, "positions_2d")
    while True:
        got_3d, got_2d = next(items_3d, None), next(items_2d, None)
        if got_3d is None or got_2d is None:
            if got_3d is not None or got_2d is not None:
                raise ValueError(f"{out_dir}: the 3D and 2D files hold different subjects")
            break
        (s, acts), (s2, views_of) = got_3d, got_2d
        del got_3d, got_2d
        if s != s2 or not isinstance(acts, dict) or not isinstance(views_of, dict):
            raise ValueError(f"{out_dir}: the 3D and 2D files hold different subjects ({s!r}, {s2!r})")
        item = cams.next()
        if item is END or item[0] != s:
            raise ValueError(
                f"{path_cams}: cameras: expected subject {s!r} next, got {item if item is END else item[0]!r}"
            )
        held = [(s, acts, views_of, item[1])]
        del acts, views_of, item
        yield held.pop()
    if cams.next() is not END:
        raise ValueError(f"{path_cams}: cameras: more subjects than the data files hold")


def _raw_size(raw: _RawSubject) -> int:
    """Bytes of the arrays a read subject holds (what is not an array counts nothing)."""
    _, acts, views_of, _ = raw
    size = sum(int(getattr(v, "nbytes", 0)) for v in acts.values())
    for views in views_of.values():
        if isinstance(views, list):
            size += sum(int(getattr(v, "nbytes", 0)) for v in views)
    return size


@dataclass(frozen=True)
class _Table:
    """A subject's checked cameras: their model, field arrays ``(K, ...)`` and count ``K``."""

    model: CameraModel
    params: dict[str, np.ndarray]
    count: int


def _group_tables(entries: list[Any]) -> list[_Table] | None:
    """The cameras of several subjects' file entries checked as one ``Camera`` batch, split back
    per subject; None where any entry is outside the plain form (a field's dtype, shape or count
    differs from the rest, names or models differ, or the batch is refused): those subjects
    then go one at a time, which gives each its own error. The plain form is what
    ``Camera.to_dict`` writes, and every check of a ``Camera`` is per camera, so a batch that
    passes is what the subjects one by one would give, value for value."""
    from posesynth.geometry.camera.camera import camera_field_tails, camera_fields_from_dict

    first = None
    fields: dict[str, list[np.ndarray]] = {f: [] for f in _CAM_FIELDS}
    counts: list[int] = []
    for entry in entries:
        doc = entry.get("cameras") if isinstance(entry, dict) else None
        if not isinstance(doc, dict) or not isinstance(name := doc.get("model"), str):
            return None
        if first is None:
            first = name
        elif name != first:
            return None
        try:
            model, arrays = camera_fields_from_dict(doc)
        except (ValueError, TypeError):
            return None
        k = None
        for f, tail in camera_field_tails(model).items():
            arr = arrays[f]
            if arr.dtype != (np.int64 if f == "image_size" else np.float64) or arr.shape[1:] != tail:
                return None
            if arr.ndim != len(tail) + 1 or arr.shape[0] < 1 or (k is not None and arr.shape[0] != k):
                return None
            k = arr.shape[0]
            fields[f].append(arr)
        assert k is not None
        counts.append(k)
    assert first is not None
    try:
        batch = Camera(model=CameraModel.parse(first), **{f: np.concatenate(v) for f, v in fields.items()})
    except ValueError:
        return None
    ends = np.cumsum(counts).tolist()
    out = []
    for lo, hi, k in zip([0, *ends[:-1]], ends, counts):
        out.append(_Table(batch.model, {f: np.asarray(getattr(batch, f))[lo:hi] for f in _CAM_FIELDS}, k))
    return out


def _subject_views(
    out_dir: Path,
    s: str,
    acts: dict,
    views_of: dict,
    entry: Any,
    paths: tuple[Path, Path, Path],
    table: _Table | None = None,
) -> SubjectViews | None:
    """One subject of written files (its 3D and 2D dicts and its cameras file entry), checked,
    as :class:`SubjectViews` (None: no actions). The 32-joint 3D is kept as its 17 joints.
    ``table``: the entry's cameras already checked (:func:`_group_tables`)."""
    path_3d, path_2d, path_cams = paths
    if table is None:
        doc = entry.get("cameras") if isinstance(entry, dict) else None
        try:
            cam = Camera.from_dict(doc if isinstance(doc, dict) else {})
        except ValueError as exc:
            raise ValueError(f"{path_cams}: cameras.{s}: {exc}") from None
        table = _Table(cam.model, {f: np.asarray(getattr(cam, f)) for f in _CAM_FIELDS}, cam.batch_shape[0])
    actions = []
    for a, p3 in acts.items():
        _stored(path_3d, f"positions_3d[{s!r}][{a!r}]", p3, (3,))  # checked, kept as stored
        views = views_of.get(a)
        if not isinstance(views, list) or len(views) != table.count:
            raise ValueError(f"{path_2d}: positions_2d[{s!r}][{a!r}]: expected one array per camera of {s}")
        for i, v in enumerate(views):
            _stored(path_2d, f"positions_2d[{s!r}][{a!r}][{i}]", v, (2,))
            if v.shape[:2] != (p3.shape[0], 17):
                raise ValueError(
                    f"{path_2d}: positions_2d[{s!r}][{a!r}][{i}]: expected ({p3.shape[0]}, 17, 2), got {v.shape}"
                )
        # the joints read back (a copy in the stored dtype: the 15 others go now)
        kept = p3[:, list(H36M32_TO_17)] if p3.shape[1] == 32 else p3
        actions.append((str(a), kept, tuple(views)))
    if not actions:
        return None
    return SubjectViews(out_dir, s, table.model, table.params, tuple(actions))


def read_videopose3d_chunks(out_dir: str | Path, name: str = "custom", rows: int = 10_000) -> Iterator[PoseDataset]:
    """What :func:`write_videopose3d_chunks` (or :func:`write_videopose3d`) wrote into
    ``out_dir``, as consecutive data sets of ``rows`` samples (the last one shorter): the
    dicts' batches are read one at a time, subject by subject, with the same subjects'
    entries of ``cameras_<name>.json``, so memory is about a chunk and a batch. Each sequence
    gives one sample per frame and camera, camera by camera (as :func:`read_videopose3d`);
    Human3.6M-17 joints, world 3D (metres), 2D (pixels), the cameras file's exact per-sample
    cameras, ``subject``, ``action``, ``frame`` (index in the sequence) and
    ``extra["camera"]`` (index in the subject's list).

    Raises:
        ValueError: files missing or damaged, or whose subjects do not match each other.
    """
    if rows < 1:
        raise ValueError(f"rows: expected a positive count, got {rows}")
    from posesynth.data.dataset import concat_datasets

    pending: list[PoseDataset] = []
    group: list[SubjectViews] = []  # subjects not made into samples yet: made together
    held = 0
    for subject in read_videopose3d_subjects(out_dir, name):
        group.append(subject)
        held += len(subject)
        if held >= rows:
            pending.append(_subjects_dataset(group))
            group = []
        while held >= rows:
            joined = pending[0] if len(pending) == 1 else concat_datasets(pending)
            pending = [joined.select(slice(rows, held))] if held > rows else []
            held -= rows
            yield joined.select(slice(0, rows)).complete()
    if group:
        pending.append(_subjects_dataset(group))
    if held:
        yield (pending[0] if len(pending) == 1 else concat_datasets(pending)).complete()


def _subjects_dataset(subjects: list[SubjectViews]) -> PoseDataset:
    """``concat_datasets([s.dataset() for s in subjects])``, the same arrays and dtypes, made
    in one pass: posesynth's export of generated data has a subject per sample, and a data
    set and a ``Camera`` per subject took 117 µs each. Subjects of several camera models go
    the per-subject way (whose ``concat_cameras`` refuses them)."""
    from posesynth.data.dataset import concat_datasets

    if len(subjects) == 1 or len({s.model for s in subjects}) > 1:
        parts = [s.dataset() for s in subjects]
        return parts[0] if len(parts) == 1 else concat_datasets(parts)
    world: list[np.ndarray] = []
    uv: list[np.ndarray] = []
    frame: list[np.ndarray] = []
    slot: list[np.ndarray] = []
    action: list[np.ndarray] = []
    fields: dict[str, list[np.ndarray]] = {f: [] for f in _CAM_FIELDS}
    counts = []
    for s in subjects:  # read-back order: action by action, camera slot by slot, frame by frame
        n_slots = int(s.params["intrinsics"].shape[0])
        for a, p3, views in s.actions:
            t = p3.shape[0]
            kept = p3[:, list(H36M32_TO_17)] if p3.shape[1] == 32 else p3
            world += [kept] * n_slots
            uv += list(views)
            frame.append(np.tile(np.arange(t, dtype=np.int64), n_slots))
            cams = np.repeat(np.arange(n_slots, dtype=np.int64), t)
            slot.append(cams)
            action.append(np.full(t * n_slots, a))
            for f in _CAM_FIELDS:
                fields[f].append(s.params[f][cams])
        counts.append(len(s))
    m = sum(counts)
    width = max([len(a) for s in subjects for a, _, _ in s.actions] + [1])
    slots = np.concatenate(slot)
    return PoseDataset(
        skeleton=H36M17,
        joints_3d_world=np.concatenate(world).astype(np.float64, copy=False).reshape(m, 17, 3),
        joints_2d=np.concatenate(uv).astype(np.float64, copy=False).reshape(m, 17, 2),
        cameras=Camera(model=subjects[0].model, **{f: np.concatenate(v) for f, v in fields.items()}),
        subject=np.repeat(np.array([s.subject for s in subjects]), counts),
        action=np.concatenate(action).astype(f"<U{width}"),
        frame=np.concatenate(frame),
        meta={"format": "videopose3d", "source": str(subjects[0].out_dir)},
        extra={"camera": slots},
    )
