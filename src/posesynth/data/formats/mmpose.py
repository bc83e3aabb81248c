"""MMPose's Human3.6M annotations: ``h36m_*.npz`` + ``cameras.pkl`` (+ joint statistics).

The layout is that of MMPose 1.x's ``tools/dataset_converters/preprocess_h36m.py`` and what
its ``Human36mDataset`` / ``BaseMocapDataset`` load (``np.load`` without pickles, camera file
through ``mmengine.load``):

``h36m_<split>.npz`` (N samples, 17 joints in the H36M-17 order of CONVENTIONS.md)
    ``imgname`` (N,) str ``S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg``:
    subject / ``<subject>_<action>.<camera>`` / same stem ``_<frame>.jpg`` with the video frame
    **1-based**; ``center`` (N, 2) px, the centre of the 2D keypoints' bounding box; ``scale``
    (N,) = 1.2 x its longest side / 200; ``part`` (N, 17, 3) pixels + visibility; ``S``
    (N, 17, 4) **camera-frame metres** (OpenCV axes) + visibility.
``cameras.pkl``
    dict ``(subject, camera_id) -> {R (3, 3), T (3, 1) m, c (2, 1) px, f (2, 1) px,
    k (3, 1), p (2, 1), w, h, name, id}`` with ``X_cam = R.T @ (X_world - T)``: ``R`` is
    camera->world (the transpose of ours) and ``T`` the camera centre in metres. Distortion
    is Human3.6M's (model ``h36m`` here), with ``k = (k1, k2, k3)``, ``p = (p1, p2)``.
``joint2d_stats.pkl``, ``joint3d_stats.pkl``, ``joint2d_rel_stats.pkl``, ``joint3d_rel_stats.pkl``
    ``{'mean': (J, D), 'std': (J, D)}`` over the file's samples, as ``preprocess_h36m.py``
    writes them (``*_rel``: joints 1..16 minus the root, shape (16, D)). MMPose's
    ``pose-lift_simplebaseline3d_8xb64-200e_h36m.py`` pastes ``joint2d_stats`` into the
    ``ImagePoseLifting`` codec as ``keypoints_mean``/``keypoints_std`` (17, 2) px and
    ``joint3d_rel_stats`` as ``target_mean``/``target_std`` (16, 3) m (with
    ``remove_root=True``); the codec asserts exactly these shapes.

Inside posesynth: metres, pixels with (0, 0) the centre of the top-left pixel, frames
**0-based** (imgname number - 1), camera names ``"<subject>/<camera id>"``.

A note on MMPose's own projection: ``mmpose.utils.camera.SimpleCamera.camera_to_pixel``
doubles the tangential term (``2 (p2 x + p1 y)``); Human3.6M's code, and the ``h36m`` model
here, do not. The annotations follow Human3.6M's code.
"""

from __future__ import annotations

import io
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from posesynth.body.skeleton import H36M17
from posesynth.data.dataset import PoseDataset
from posesynth.data.formats._camera_pickle import STREAM_HEAD as _STREAM_HEAD
from posesynth.data.formats._camera_pickle import CameraColumns, camera_items_pickle
from posesynth.data.formats._json_stream import END, JsonItems, json_layout
from posesynth.data.formats._mmpose_kernels import MAX_FRAME_DIGITS
from posesynth.data.formats._npz_map import file_mapping, mapped_member
from posesynth.data.formats.numpy_pickle import (
    NumpyOnlyUnpickler,
    PickledRecords,
    RefusedGlobal,
    _check_opcodes,
    _pickled_records,
    dumps_numpy_pickle,
    load_numpy_pickle,
)
from posesynth.geometry.camera import H36M_CAMERA_IDS, Camera, CameraModel
from posesynth.util.atomic import atomic_path
from posesynth.util.checks import as_finite_float

__all__ = [
    "CAMERAS_FILE",
    "SIDECAR_FILE",
    "STATS_FILES",
    "format_h36m_imgname",
    "ids_as_written",
    "parse_h36m_imgname",
    "read_mmpose",
    "read_mmpose_chunks",
    "write_mmpose",
    "write_mmpose_chunks",
]

#: Name of the camera file beside (or one folder above) the annotations.
CAMERAS_FILE = "cameras.pkl"
#: The exact camera models, beside ``cameras.pkl``, for cameras its Human3.6M model cannot hold.
SIDECAR_FILE = "posesynth_cameras.json"
SIDECAR_FORMAT = "posesynth-mmpose-cameras"
SIDECAR_VERSION = 1
#: Statistics files written beside the annotations (names as MMPose's preprocess_h36m.py).
STATS_FILES = (
    "joint2d_stats.pkl",
    "joint3d_stats.pkl",
    "joint2d_rel_stats.pkl",
    "joint3d_rel_stats.pkl",
)

#: Subject written when a dataset has none (an "S<number>" that is no Human3.6M subject).
DEFAULT_SUBJECT = "S0"
#: Action written when a dataset has none.
DEFAULT_ACTION = "posesynth"
#: Padding of the bounding box in ``scale``, and MMPose's 200-pixel unit.
BBOX_PADDING = 1.2
SCALE_UNIT_PX = 200.0

_NUM_JOINTS = 17
# Basename: <subject>_<action>.<camera>_<frame>[.ext]; MMPose's Human36mDataset splits the
# same way (first "_", then first ".", then first "_").
_IMGNAME = re.compile(
    r"^(?P<subject>[^_/\\.]+)_(?P<action>[^./\\]+)\.(?P<camera>[^_./\\]+)_(?P<frame>\d+)"
    r"(?:\.[A-Za-z0-9]+)?$"
)
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9-]")
_UNSAFE_ACTION = re.compile(r"[^A-Za-z0-9_-]")


# ------------------------------------------------------------------------------ imgname
def parse_h36m_imgname(imgname: str) -> tuple[str, str, str, int]:
    """Split a Human3.6M image name into ``(subject, action, camera_id, frame)``.

    Accepts MMPose's ``S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg``, its
    basename, or the extension-less ``S9_Posing_1.55011271_000001`` of other tools. ``frame``
    is returned **0-based** (the file's number is 1-based).

    Raises:
        ValueError: naming the name when it does not have that form or its number is 0.
    """
    base = re.split(r"[/\\]", str(imgname).strip())[-1]
    match = _IMGNAME.match(base)
    if match is None or int(match["frame"]) < 1:
        raise ValueError(
            f"imgname: expected '<subject>_<action>.<camera>_<frame, 1-based>[.jpg]' such as "
            f"'S1_Directions_1.54138969_000001.jpg', got {str(imgname)!r}"
        )
    return match["subject"], match["action"], match["camera"], int(match["frame"]) - 1


def format_h36m_imgname(subject: str, action: str, camera_id: str, frame: int) -> str:
    """MMPose's image path of ``frame`` (0-based); the inverse of :func:`parse_h36m_imgname`.

    ``("S1", "Directions_1", "54138969", 0)`` ->
    ``"S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg"``.
    """
    name = _imgname(subject, action, camera_id, int(frame))
    if parse_h36m_imgname(name) != (subject, action, camera_id, int(frame)):
        raise ValueError(
            f"imgname: subject {subject!r}, action {action!r}, camera {camera_id!r} and frame "
            f"{frame!r} do not make a parseable name (subject and camera without '_', '.', '/'; "
            "action without '.', '/'; frame >= 0)"
        )
    return name


# ----------------------------------------------------------------------------- reading
def read_mmpose(npz_path: Path | str, cameras_path: Path | str | None = None) -> PoseDataset:
    """Read MMPose Human3.6M annotations (and their cameras) into a :class:`PoseDataset`.

    Args:
        npz_path: ``h36m_<split>.npz`` with ``imgname``, ``S`` and ``part`` (``center`` and
            ``scale`` optional). ``imgname`` may be str or byte strings, (N,) or (N, 1);
            ``S`` may be (N, 17, 3) without visibility, ``part`` (N, 17, 2).
        cameras_path: ``cameras.pkl``. ``None`` looks for ``<npz folder>/cameras.pkl``, then
            ``<npz folder>/../cameras.pkl`` (MMPose keeps it in ``annotation_body3d/`` above
            ``fps50/``); when neither exists the dataset has no cameras. The pickle is
            loaded with a restricted unpickler (NumPy arrays and plain containers only).

    Returns:
        Skeleton H36M17; ``joints_3d_camera`` (N, 17, 3) m = ``S[..., :3]``; ``joints_2d``
        (N, 17, 2) px = ``part[..., :2]``; ``visibility`` (N, 17) = ``part[..., 2]`` (else
        ``S[..., 3]``, else None); with cameras, model ``h36m`` cameras (K,) named
        ``"S1/54138969"``, one per (subject, camera) used, world 3D (Z up, m) derived from
        them, and ``camera_index``; ``subject``, ``action`` (e.g. ``"Directions_1"``) and
        ``frame`` (0-based) from ``imgname``; ``extra``: ``center`` (N, 2) px, ``scale``
        (N,), ``visibility_3d`` (N, 17) when ``S``'s visibility differs from ``part``'s, and
        without cameras ``camera_id`` (N,) str.

    Raises:
        ValueError: naming the file and field for a missing/unreadable/corrupt file, missing
            keys, wrong shapes, NaN/inf, mismatched sample counts, unparseable image names,
            a (subject, camera) absent from ``cameras.pkl``, a bad camera entry, or a pickle
            that names anything but NumPy arrays.
    """
    npz_path = Path(npz_path)
    arrays = _load_npz(npz_path, required=("imgname", "S", "part"), optional=("center", "scale"))
    cams_file = _find_cameras_file(npz_path, cameras_path)
    table = None if cams_file is None else load_numpy_pickle(cams_file, records=_RECORD_FIELDS)
    return _mmpose_dataset(arrays, npz_path, cams_file, table)


#: The ``cameras.pkl`` fields :func:`read_mmpose` reads straight into arrays (see
#: :func:`_cameras_from_records`).
_RECORD_FIELDS = ("R", "T", "c", "f", "k", "p", "w", "h")


def _mmpose_dataset(
    arrays: Mapping[str, np.ndarray],
    npz_path: Path,
    cams_file: Path | None,
    table: Any,
    sidecar: tuple[dict[tuple[str, str], int], Camera] | None = None,
) -> PoseDataset:
    """:func:`read_mmpose`'s data set from the ``.npz`` members (all samples, or one chunk
    of them) and the ``cameras.pkl`` dict (all entries, or those the samples use);
    ``sidecar``: :func:`_load_sidecar`'s result, loaded once by a chunked reader."""
    names, (subject, action, camera_id, frame) = _names_parsed(arrays["imgname"], npz_path)
    n = len(names)
    s = _points(arrays["S"], npz_path, "S", n, (3, 4))
    part = _points(arrays["part"], npz_path, "part", n, (2, 3))
    extra: dict[str, np.ndarray] = {}
    if "center" in arrays:
        extra["center"] = _rows(arrays["center"], npz_path, "center", n, [(2,)])
    if "scale" in arrays:
        extra["scale"] = _rows(arrays["scale"], npz_path, "scale", n, [(), (1,)]).reshape(n)

    visibility = part[..., 2] if part.shape[-1] == 3 else (s[..., 3] if s.shape[-1] == 4 else None)
    if visibility is not None and s.shape[-1] == 4 and not np.array_equal(s[..., 3], visibility):
        extra["visibility_3d"] = s[..., 3]

    cameras = camera_index = camera_names = None
    if cams_file is not None:
        cameras, camera_index, camera_names = _cameras_for(
            table, cams_file, npz_path, names, subject, camera_id, sidecar
        )
    else:
        extra["camera_id"] = camera_id  # keep the camera of each sample without a camera table
    dataset = PoseDataset(
        skeleton=H36M17,
        joints_3d_camera=s[..., :3],
        joints_2d=part[..., :2],
        visibility=visibility,
        cameras=cameras,
        camera_index=camera_index,
        camera_names=camera_names,
        subject=subject,
        action=action,
        frame=frame,
        meta={
            "format": "mmpose",
            "source": str(npz_path),
            "cameras_file": None if cams_file is None else str(cams_file),
            "frame_base": 0,
        },
        extra=extra,
    )
    return dataset.complete()


def _load_npz(path: Path, required: Sequence[str], optional: Sequence[str]) -> dict[str, np.ndarray]:
    """The named members of an ``.npz`` (object arrays refused), as NumPy arrays."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:  # BadZipFile, EOFError, OSError, ValueError (pickled data)
        raise ValueError(f"{path}: not a readable .npz archive ({type(exc).__name__}: {exc})") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: expected an .npz archive of named arrays, got a single .npy array")
    with archive:
        missing = [k for k in required if k not in archive.files]
        if missing:
            raise ValueError(f"{path}: missing key(s) {missing}; the file has {sorted(archive.files)}")
        # stored members are mapped, not copied (their pages are the page cache's: no fresh
        # memory); any member that cannot be is read as np.load reads it, with its errors
        mapping = file_mapping(path)
        members = {} if archive.zip is None else {i.filename: i for i in archive.zip.infolist()}
        out = {}
        for key in [*required, *(k for k in optional if k in archive.files)]:
            info = members.get(f"{key}.npy")
            mapped = None if mapping is None or info is None else mapped_member(mapping, info)
            if mapped is not None:
                out[key] = mapped
                continue
            try:
                out[key] = np.asarray(archive[key])
            except Exception as exc:  # truncated member, CRC error, object array
                raise ValueError(f"{path}: {key}: cannot read ({type(exc).__name__}: {exc})") from exc
    return out


def _strings(arr: np.ndarray, path: Path, field: str) -> list[str]:
    """(N,) or (N, 1) str/bytes array -> list of N str."""
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.dtype.kind not in "USO":
        raise ValueError(f"{path}: {field}: expected (N,) or (N, 1) strings, got {arr.shape} {arr.dtype}")
    out = []
    for i, item in enumerate(arr.tolist()):
        if isinstance(item, bytes):
            try:
                item = item.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(f"{path}: {field}[{i}]: not UTF-8 text ({exc})") from exc
        if not isinstance(item, str):
            raise ValueError(f"{path}: {field}[{i}]: expected a string, got {type(item).__name__}")
        out.append(item.strip())
    return out


def _numeric(arr: Any, path: Path, field: str) -> np.ndarray:
    return as_finite_float(arr, f"{path}: {field}")


def _rows(arr: np.ndarray, path: Path, field: str, n: int, options: Sequence[tuple[int, ...]]) -> np.ndarray:
    """Numeric, finite, ``n`` rows whose trailing shape is one of ``options``."""
    arr = _numeric(arr, path, field)
    if arr.shape[1:] not in [tuple(t) for t in options]:
        want = " or ".join(str(("N", *t)).replace("'", "").replace(",)", ")") for t in options)
        raise ValueError(f"{path}: {field}: expected shape {want}, got {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{path}: {field}: expected {n} samples (as imgname), got {arr.shape[0]}")
    return arr


def _points(arr: np.ndarray, path: Path, field: str, n: int, dims: tuple[int, ...]) -> np.ndarray:
    return _rows(arr, path, field, n, [(_NUM_JOINTS, d) for d in dims])


#: :data:`_IMGNAME` over many names at once, one a line (``\n`` kept out of every part) and
#: with ASCII frame digits (``\d`` also takes other scripts' digits: those names go one by one).
_IMGNAMES = re.compile(
    r"^(?:[^\n]*[/\\])?(?P<subject>[^_/\\.\n]+)_(?P<action>[^./\\\n]+)\.(?P<camera>[^_./\\\n]+)_(?P<frame>[0-9]+)"
    r"(?:\.[A-Za-z0-9]+)?$",
    re.MULTILINE,
)


def _parse_names_at_once(names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`_parse_names` by one regular-expression pass over all names (a Python call per
    name was most of reading a file's names); None when any name needs the one-by-one
    parse (a newline in it, a non-ASCII digit, frame 0, a number too long: its error or reading)."""
    text = "\n".join(names)
    if text.count("\n") != len(names) - 1:  # a name holding a newline
        return None
    parts = _IMGNAMES.findall(text)
    if len(parts) != len(names):  # each match is one whole line: equal counts, one per name
        return None
    subject, action, camera_id, frame_text = (np.array(column) for column in zip(*parts))
    if np.char.str_len(frame_text).max() > 18:  # beyond int64: Python's int decides
        return None
    frame = frame_text.astype(np.int64)
    if (frame < 1).any():
        return None
    return subject, action, camera_id, frame - 1


def _first(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(column of each row's first True, whether the row has one) of a (N, W) bool mask."""
    at = np.argmax(mask, axis=1)
    return at, mask[np.arange(len(mask)), at]


def _cut(chars: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """(N,) str ``<U{longest}`` of the ASCII code ranges ``chars[i, start[i]:stop[i]]`` (all
    non-empty), the dtype ``np.array`` gives a list of the same strings."""
    length = stop - start
    cols = np.arange(int(length.max()))
    picked = np.take_along_axis(chars, np.minimum(start[:, None] + cols, chars.shape[1] - 1), axis=1)
    picked = np.where(cols < length[:, None], picked, 0).astype(np.uint32)
    return np.ascontiguousarray(picked).view(f"<U{len(cols)}").reshape(len(chars))


def _parse_name_array(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`_parse_names` of ``_strings(arr)`` straight from the ``.npz``'s fixed-width
    ``imgname`` array, by whole-array passes over its character codes (no Python string per
    name: building a million of them, joining them and splitting the regex's matches into
    columns was most of reading a generated file's names).

    Returns the same four arrays, dtypes included, or None when any name is outside what
    these passes model: a character that is not printable ASCII (or a space) or a space at
    either end (``str.strip`` and UTF-8 decoding would change it), a NUL inside a name, a
    name that does not parse, frame 0, a frame number of more than 18 digits; an empty or
    non-native-order array. The caller then takes the string path, which reads or refuses
    it with its precise error.
    """
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or len(arr) == 0 or arr.dtype.kind not in "US" or not arr.dtype.isnative:
        return None
    width = arr.dtype.itemsize // (4 if arr.dtype.kind == "U" else 1)
    if width == 0:
        return None
    codes = np.ascontiguousarray(arr).view(np.uint32 if arr.dtype.kind == "U" else np.uint8).reshape(-1, width)
    from posesynth.util.jit import numba_enabled

    if numba_enabled():
        return _parse_name_codes(codes)
    if codes.max() > 126:
        return None
    c = codes.astype(np.uint8)
    n = len(c)
    rows = np.arange(n)
    col = np.arange(width)
    text = c >= 32  # printable ASCII or space; after the name only NUL padding
    length = text.sum(axis=1)
    if (length == 0).any() or not ((text | (c == 0)) & (text == (col < length[:, None]))).all():
        return None
    if (c[:, 0] == 32).any() or (c[rows, length - 1] == 32).any():  # str.strip would cut it
        return None
    # the base name: after the last / or \ (no part may hold one)
    sep = (c == 47) | (c == 92)
    last = width - 1 - np.argmax(sep[:, ::-1], axis=1)
    base = np.where(sep[rows, last], last + 1, 0)[:, None]
    # <subject>_<action>.<camera>_<frame>[.<ext>]: subject up to the first "_" and no ".",
    # action up to the next ".", camera up to the next "_" and no ".", then ASCII digits
    under, dot = c == 95, c == 46
    u1, ok = _first(under & (col >= base))
    d1, found = _first(dot & (col >= base))
    ok &= found & (u1 > base[:, 0]) & (d1 >= u1 + 2)
    u2, found = _first(under & (col > d1[:, None]))
    d2, dot_after = _first(dot & (col > d1[:, None]))
    ok &= found & (u2 >= d1 + 2) & (~dot_after | (d2 > u2))
    digit = (c >= 48) & (c <= 57)
    end, found = _first(~digit & (col > u2[:, None]))
    end = np.where(found, end, width)
    digits = end - u2 - 1
    ok &= digits >= 1
    # after the digits: the end, or "." and one or more ASCII letters or digits to the end
    alnum = digit | ((c >= 65) & (c <= 90)) | ((c >= 97) & (c <= 122))
    tail_bad = (~alnum & (col > end[:, None]) & (col < length[:, None])).any(axis=1)
    at_end = end == length
    ok &= at_end | ((c[rows, np.minimum(end, width - 1)] == 46) & (end + 1 < length) & ~tail_bad)
    if not ok.all() or digits.max() > MAX_FRAME_DIGITS:
        return None
    frame = np.zeros(n, np.int64)
    for k in range(int(digits.max())):
        value = c[rows, np.minimum(u2 + 1 + k, width - 1)].astype(np.int64) - 48
        frame = np.where(k < digits, frame * 10 + value, frame)
    if (frame < 1).any():
        return None
    return _cut(c, base[:, 0], u1), _cut(c, u1 + 1, d1), _cut(c, d1 + 1, u2), frame - 1


def _parse_name_codes(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`_parse_name_array`'s compiled path over the character codes (N, W)."""
    from posesynth.data.formats._mmpose_kernels import cut, name_parts

    at = np.empty((len(codes), 5), np.int64)
    if name_parts(codes, at) >= 0:
        return None
    widths = (at[:, 1] - at[:, 0], at[:, 2] - at[:, 1] - 1, at[:, 3] - at[:, 2] - 1)
    parts = [np.empty((len(codes), int(w.max())), np.uint32) for w in widths]
    cut(codes, at, *parts)
    subject, action, camera = (part.view(f"<U{part.shape[1]}").reshape(len(codes)) for part in parts)
    return subject, action, camera, at[:, 4] - 1


def _names_parsed(arr: np.ndarray, path: Path) -> tuple[Sequence[str] | np.ndarray, tuple[np.ndarray, ...]]:
    """The image names (what :func:`_name` reads one of) and their (subject, action,
    camera_id, frame): by :func:`_parse_name_array` where it decides, else by
    :func:`_strings` and :func:`_parse_names` (their errors name ``path``)."""
    fast = _parse_name_array(arr)
    if fast is not None:
        return arr.reshape(len(arr)), fast
    names = _strings(arr, path, "imgname")
    return names, _parse_names(names, path)


def _name(names: Sequence[str] | np.ndarray, i: int) -> str:
    """Image name ``i`` as text (of :func:`_names_parsed`' list or array), for messages."""
    value = names[i]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _parse_names(names: list[str], path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if names:
        at_once = _parse_names_at_once(names)
        if at_once is not None:
            return at_once
    parsed = []
    for i, name in enumerate(names):
        try:
            parsed.append(parse_h36m_imgname(name))
        except ValueError as exc:
            raise ValueError(f"{path}: imgname[{i}]: {exc}") from None
    if not parsed:
        empty = np.array([], dtype=str)
        return empty, empty, empty, np.array([], dtype=np.int64)
    subject, action, camera_id, frame = zip(*parsed)
    return np.array(subject), np.array(action), np.array(camera_id), np.array(frame, dtype=np.int64)


def _find_cameras_file(npz_path: Path, cameras_path: Path | str | None) -> Path | None:
    if cameras_path is not None:
        path = Path(cameras_path)
        if not path.is_file():
            raise ValueError(f"{path}: no such camera file (cameras_path)")
        return path
    for candidate in (npz_path.parent / CAMERAS_FILE, npz_path.parent.parent / CAMERAS_FILE):
        if candidate.is_file():
            return candidate
    return None


def _cameras_for(
    table: Any,
    cams_file: Path,
    npz_path: Path,
    names: Sequence[str] | np.ndarray,
    subject: np.ndarray,
    camera_id: np.ndarray,
    sidecar_loaded: tuple[dict[tuple[str, str], int], Camera] | None = None,
) -> tuple[Camera, np.ndarray, np.ndarray]:
    """Cameras (K,) of the (subject, camera) pairs used, the per-sample index and the names.

    The table is built once per distinct (subject, camera) as arrays and made into one batched
    :class:`Camera`; samples index it (no per-sample objects: a generated data set has one
    camera per sample, and building ``Camera`` objects one by one dominated reading). When
    :data:`SIDECAR_FILE` lies beside ``cams_file`` its exact models replace the Human3.6M
    approximations of the pickle. ``table``: the unpickled dict, or its :class:`PickledRecords`.
    """
    if isinstance(table, PickledRecords):
        fast = _cameras_from_records(table, cams_file, npz_path, names, subject, camera_id, sidecar_loaded)
        if fast is not None:
            return fast
        # an entry only the careful path below may judge (its error, or a layout it accepts)
        table = load_numpy_pickle(cams_file)
    if not isinstance(table, Mapping):
        raise ValueError(f"{cams_file}: expected a dict keyed (subject, camera_id), got {type(table).__name__}")
    by_key: dict[tuple[str, str], Any] = {}
    for key, value in table.items():
        if not (isinstance(key, tuple) and len(key) == 2):
            raise ValueError(f"{cams_file}: expected keys (subject, camera_id), got {key!r}")
        by_key[(_text(key[0]), _text(key[1]))] = value
    pair = np.char.add(np.char.add(subject.astype(str), "\x00"), camera_id.astype(str))
    _, first, index = np.unique(pair, return_index=True, return_inverse=True)
    used = [(str(subject[i]), str(camera_id[i])) for i in first]
    for j, key in enumerate(used):
        if key not in by_key:
            i = int(first[j])
            raise ValueError(
                f"{cams_file}: no camera {key} (subject, camera_id), needed by sample {i} "
                f"({_name(names, i)!r}) of {npz_path}; the file has {len(by_key)} cameras"
            )
    cameras = _camera_batch(_entries_arrays([by_key[key] for key in used], used, cams_file), used, cams_file)
    sidecar = cams_file.parent / SIDECAR_FILE
    if sidecar_loaded is not None or sidecar.is_file():
        cameras = _exact_cameras(sidecar, used, cameras, cams_file, sidecar_loaded)
    camera_names = np.array([f"{s}/{c}" for s, c in used]) if used else np.array([], dtype=str)
    return cameras, index.ravel().astype(np.int64), camera_names


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _cameras_from_records(
    table: PickledRecords,
    cams_file: Path,
    npz_path: Path,
    names: Sequence[str] | np.ndarray,
    subject: np.ndarray,
    camera_id: np.ndarray,
    sidecar_loaded: tuple[dict[tuple[str, str], int], Camera] | None,
) -> tuple[Camera, np.ndarray, np.ndarray] | None:
    """:func:`_cameras_for` from the entries' arrays gathered at once: the same cameras,
    index and names, with no Python object per camera. None when a used entry is one that
    :func:`_entries_arrays`' lean pass would leave to :func:`_entry_fields` (a missing
    field, an odd shape or size, a non-finite value): the caller then takes the careful path,
    which raises its precise error or reads what it accepts."""
    # the dict: a repeated key's last entry; keys sorted (np.unique) for the look-up
    table_key = np.char.add(np.char.add(table.key0, "\x00"), table.key1)
    distinct, last_rev = np.unique(table_key[::-1], return_index=True)
    entry_of = len(table_key) - 1 - last_rev
    pair = np.char.add(np.char.add(subject.astype(str), "\x00"), camera_id.astype(str))
    used_pair, first, index = np.unique(pair, return_index=True, return_inverse=True)
    if len(distinct) == len(used_pair) and np.array_equal(distinct, used_pair):
        rows = entry_of  # every camera of the file is used (a generated file): no look-up
    else:
        at = np.minimum(np.searchsorted(distinct, used_pair), max(len(distinct) - 1, 0))
        found = distinct[at] == used_pair if len(distinct) else np.zeros(len(used_pair), bool)
        if not found.all():
            i = int(first[int(np.argmin(found))])
            key = (str(subject[i]), str(camera_id[i]))
            raise ValueError(
                f"{cams_file}: no camera {key} (subject, camera_id), needed by sample {i} "
                f"({_name(names, i)!r}) of {npz_path}; the file has {len(distinct)} cameras"
            )
        rows = entry_of[at]
    k_cams = len(rows)
    lean = _lean_fields(table, rows)
    if lean is None:
        return None
    out, image_size = lean
    r_pkl = out["R"].reshape(k_cams, 3, 3)
    stacked = {
        "intrinsics": np.concatenate([out["f"], out["c"]], axis=1),
        "distortion": np.stack(
            [out["k"][:, 0], out["k"][:, 1], out["p"][:, 0], out["p"][:, 1], out["k"][:, 2]], axis=1
        ),
        "rotation": np.swapaxes(r_pkl, 1, 2),  # R_pkl is camera->world
        "center": out["T"],  # T is the camera centre, metres
        "image_size": image_size,
    }
    try:
        cameras = Camera(model=CameraModel.H36M, **stacked)
    except ValueError:  # name the camera at fault (only on this error path: a key per camera)
        used = [(str(subject[i]), str(camera_id[i])) for i in first]
        cameras = _camera_batch(stacked, used, cams_file)
    sidecar = cams_file.parent / SIDECAR_FILE
    if sidecar_loaded is not None or sidecar.is_file():
        used = [(str(subject[i]), str(camera_id[i])) for i in first]
        cameras = _exact_cameras(sidecar, used, cameras, cams_file, sidecar_loaded)
    if k_cams == 0:
        camera_names = np.array([], dtype=str)
    else:
        joined = np.char.add(np.char.add(subject[first].astype(str), "/"), camera_id[first].astype(str))
        camera_names = joined.astype(f"<U{int(np.char.str_len(joined).max())}")  # as np.array(list) types it
    return cameras, index.ravel().astype(np.int64), camera_names


def _lean_fields(table: PickledRecords, rows: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray] | None:
    """The fields R (K, 9), T, c, f, k, p (K, size) float64 of entries ``rows`` of ``table``
    (k, p 0.0 where absent) and their image sizes (K, 2) int64; None when an entry is one
    :func:`_cameras_from_records` leaves to the careful path (non-finite values included).
    Compiled (:func:`._mmpose_kernels.camera_fields`, one pass per entry) or in NumPy."""
    from posesynth.util.jit import numba_enabled

    if numba_enabled():
        from posesynth.data.formats._mmpose_kernels import CAMERA_FIELDS, camera_fields

        cols = np.array([table.fields.index(name) for name in _RECORD_FIELDS], np.int64)
        bits = tuple(np.empty((len(rows), n), np.uint64) for n in CAMERA_FIELDS.values())
        size = np.empty((len(rows), 2), np.int64)
        raw = np.frombuffer(table.data, np.uint8)
        args = (table.entry_ok, table.kind, table.dims, table.offset, table.value)
        if camera_fields(raw, np.ascontiguousarray(rows, np.int64), *args, cols, bits, size) >= 0:
            return None
        out = {name: b.view(np.float64) for name, b in zip(CAMERA_FIELDS, bits, strict=True)}
    else:
        out_size = _lean_fields_numpy(table, rows)
        if out_size is None:
            return None
        out, size = out_size
    if not all(np.isfinite(v).all() for v in out.values()):
        return None
    return out, size


def _lean_fields_numpy(table: PickledRecords, rows: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray] | None:
    """:func:`_lean_fields` by NumPy passes (a gather per field and column), without the
    finiteness check."""
    from posesynth.data.formats._pickle_scan import FIELD_ABSENT, FIELD_FLOATS, FIELD_INT

    kind = table.kind[rows]
    dims = table.dims[rows]
    col = {name: j for j, name in enumerate(table.fields)}
    ok = table.entry_ok[rows].copy()
    for name in ("R", "T", "c", "f"):
        ok &= kind[:, col[name]] == FIELD_FLOATS
    r_dims = dims[:, col["R"]]
    ok &= (r_dims[:, 0] == 2) & (r_dims[:, 1] == 3) & (r_dims[:, 2] == 3)
    for name, size in _VECTOR_FIELDS.items():
        d = dims[:, col[name]]
        shaped = ((d[:, 0] == 1) & (d[:, 1] == size)) | (
            (d[:, 0] == 2) & (((d[:, 1] == size) & (d[:, 2] == 1)) | ((d[:, 1] == 1) & (d[:, 2] == size)))
        )
        present = kind[:, col[name]] == FIELD_FLOATS
        ok &= (present & shaped) | ((kind[:, col[name]] == FIELD_ABSENT) & (name in ("k", "p")))
    for name in ("w", "h"):
        ok &= (kind[:, col[name]] == FIELD_INT) & (table.value[rows, col[name]] > 0)
    if not ok.all():
        return None
    out = {name: table.floats(name, size, rows) for name, size in (("R", 9), *_VECTOR_FIELDS.items())}
    for name in ("k", "p"):
        out[name][kind[:, col[name]] == FIELD_ABSENT] = 0.0
    return out, np.stack([table.value[rows, col["w"]], table.value[rows, col["h"]]], axis=1)


def _entry_fields(entry: Any, key: tuple[str, str], path: Path) -> dict[str, np.ndarray]:
    """One ``cameras.pkl`` entry, checked, as ``Camera`` fields of model ``h36m`` (our extrinsics)."""
    where = f"{path}: camera {key}"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: expected a dict of parameters, got {type(entry).__name__}")
    entry = {_text(k): v for k, v in entry.items()}
    missing = [k for k in ("R", "T", "c", "f", "w", "h") if k not in entry]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}")

    def vec(field: str, size: int, default: np.ndarray | None = None) -> np.ndarray:
        if field not in entry:
            if default is None:  # f and c: checked present above
                raise ValueError(f"{where}: missing field(s) {[field]}")
            return default
        arr = np.asarray(entry[field])
        if arr.shape not in ((size,), (size, 1), (1, size)):
            raise ValueError(f"{where}: {field}: expected shape ({size}, 1), got {arr.shape}")
        return _numeric(arr, path, f"camera {key}: {field}").reshape(size)

    r_pkl = np.asarray(entry["R"])
    if r_pkl.shape != (3, 3):
        raise ValueError(f"{where}: R: expected shape (3, 3), got {r_pkl.shape}")
    r_pkl = _numeric(r_pkl, path, f"camera {key}: R")
    if "k" in entry and np.asarray(entry["k"]).size == 6:
        raise ValueError(f"{where}: k: 6 radial coefficients (rational model) are not supported; expected 3")
    k = vec("k", 3, np.zeros(3))
    p = vec("p", 2, np.zeros(2))
    f, c = vec("f", 2), vec("c", 2)
    size = []
    for field in ("w", "h"):
        value = np.asarray(entry[field])
        if value.shape not in ((), (1,)) or value.dtype.kind not in "fiu" or float(value.ravel()[0]) % 1:
            raise ValueError(f"{where}: {field}: expected an integer image size in pixels, got {entry[field]!r}")
        size.append(int(value.ravel()[0]))
    return {
        "intrinsics": np.array([f[0], f[1], c[0], c[1]]),
        "distortion": np.array([k[0], k[1], p[0], p[1], k[2]]),
        "rotation": r_pkl.T,  # R_pkl is camera->world
        "center": vec("T", 3),  # T is the camera centre, metres
        "image_size": np.array(size),
    }


_VECTOR_FIELDS = {"T": 3, "c": 2, "f": 2, "k": 3, "p": 2}


def _entries_arrays(entries: list[Any], keys: list[tuple[str, str]], path: Path) -> dict[str, np.ndarray]:
    """The ``cameras.pkl`` entries of ``keys`` as stacked ``Camera`` fields of model ``h36m``.

    One lean pass copies each entry's arrays into preallocated (K, ...) arrays; finiteness is
    checked once over the stack. Any entry the lean pass cannot take, and the first non-finite
    one, goes through :func:`_entry_fields`, which raises the precise error naming its key
    (one checked entry at a time was most of the reading time of a 100k-camera file).
    """
    k_cams = len(entries)
    out = {
        "R": np.empty((k_cams, 3, 3)),
        "T": np.empty((k_cams, 3)),
        "c": np.empty((k_cams, 2)),
        "f": np.empty((k_cams, 2)),
        "k": np.zeros((k_cams, 3)),
        "p": np.zeros((k_cams, 2)),
        "size": np.empty((k_cams, 2), dtype=np.int64),
    }
    required = ("R", "T", "c", "f", "w", "h")
    for i, (entry, key) in enumerate(zip(entries, keys)):
        try:
            if not isinstance(entry, dict) or any(r not in entry for r in required):
                raise _Slow
            r = np.asarray(entry["R"], dtype=np.float64)
            if r.shape != (3, 3):
                raise _Slow
            out["R"][i] = r
            for name, size in _VECTOR_FIELDS.items():
                if name in entry:
                    a = np.asarray(entry[name], dtype=np.float64)
                    if a.shape not in ((size,), (size, 1), (1, size)):
                        raise _Slow
                    out[name][i] = a.reshape(size)
            for j, name in enumerate(("w", "h")):
                v = entry[name]
                if type(v) is not int or v <= 0:  # numpy or float sizes: the careful path
                    raise _Slow
                out["size"][i, j] = v
        except (_Slow, TypeError, ValueError):
            fields = _entry_fields(entry, key, path)  # raises the precise error, or accepts it
            out["R"][i] = fields["rotation"].T
            out["T"][i] = fields["center"]
            fx, fy, cx, cy = fields["intrinsics"]
            out["f"][i], out["c"][i] = (fx, fy), (cx, cy)
            k1, k2, p1, p2, k3 = fields["distortion"]
            out["k"][i], out["p"][i] = (k1, k2, k3), (p1, p2)
            out["size"][i] = fields["image_size"]
    for name in ("R", "T", "c", "f", "k", "p"):
        bad = ~np.isfinite(out[name].reshape(k_cams, -1)).all(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            _entry_fields(entries[i], keys[i], path)  # raises, naming the key and field
    return {
        "intrinsics": np.concatenate([out["f"], out["c"]], axis=1),
        "distortion": np.stack(
            [out["k"][:, 0], out["k"][:, 1], out["p"][:, 0], out["p"][:, 1], out["k"][:, 2]], axis=1
        ),
        "rotation": np.swapaxes(out["R"], 1, 2),  # R_pkl is camera->world
        "center": out["T"],  # T is the camera centre, metres
        "image_size": out["size"],
    }


class _Slow(Exception):
    """An entry the lean pass of :func:`_entries_arrays` leaves to :func:`_entry_fields`."""


def _camera_batch(stacked: dict[str, np.ndarray], keys: list[tuple[str, str]], path: Path) -> Camera:
    """One ``h36m`` :class:`Camera` batch (K,) from stacked fields; errors name the key."""
    try:
        return Camera(model=CameraModel.H36M, **stacked)
    except ValueError:
        # Find the entry at fault (only on this error path: one object per camera).
        for i, key in enumerate(keys):
            try:
                Camera(model=CameraModel.H36M, **{n: v[i] for n, v in stacked.items()})
            except ValueError as exc:
                raise ValueError(f"{path}: camera {key}: {exc}") from None
        raise


def _exact_cameras(
    sidecar: Path,
    used: list[tuple[str, str]],
    approx: Camera,
    cams_file: Path,
    loaded: tuple[dict[tuple[str, str], int], Camera] | None = None,
) -> Camera:
    """The exact cameras of ``used`` from :data:`SIDECAR_FILE` (or its ``loaded``
    :func:`_load_sidecar`), checked against ``cameras.pkl``."""
    slot, cams = _load_sidecar(sidecar) if loaded is None else loaded
    missing = [key for key in used if key not in slot]
    if missing:
        raise ValueError(
            f"{sidecar}: no exact model for camera {missing[0]} of {cams_file} "
            f"({len(missing)} missing); the sidecar and cameras.pkl are from different exports"
        )
    exact = cams[np.array([slot[key] for key in used], dtype=np.int64)]
    for name in ("rotation", "center", "intrinsics", "image_size"):
        a, b = np.asarray(getattr(exact, name)), np.asarray(getattr(approx, name))
        bad = ~np.isclose(a, b, rtol=1e-12, atol=1e-12).reshape(len(used), -1).all(axis=1)
        if bad.any():
            raise ValueError(
                f"{sidecar}: camera {used[int(np.argmax(bad))]}: {name} differs from {cams_file}; "
                "the sidecar is stale (re-export, or delete it to use cameras.pkl alone)"
            )
    return exact


def _load_sidecar(sidecar: Path) -> tuple[dict[tuple[str, str], int], Camera]:
    """:data:`SIDECAR_FILE`'s (subject, camera id) -> slot table and its (K,) camera batch."""
    try:
        doc = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{sidecar}: not a readable JSON file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != SIDECAR_FORMAT:
        raise ValueError(f"{sidecar}: format: expected {SIDECAR_FORMAT!r}, got {_get(doc, 'format')!r}")
    if doc.get("version") != SIDECAR_VERSION:
        raise ValueError(f"{sidecar}: version: expected {SIDECAR_VERSION}, got {doc.get('version')!r}")
    keys = doc.get("keys")
    if not isinstance(keys, list) or not all(
        isinstance(k, list) and len(k) == 2 and all(isinstance(x, str) for x in k) for k in keys
    ):
        raise ValueError(f"{sidecar}: keys: expected a list of [subject, camera_id] strings")
    try:
        cams = Camera.from_dict(c if isinstance(c := doc.get("cameras"), dict) else {})
    except ValueError as exc:
        raise ValueError(f"{sidecar}: cameras: {exc}") from None
    if cams.batch_shape != (len(keys),):
        raise ValueError(
            f"{sidecar}: cameras: expected a batch of {len(keys)} cameras (one per key), got "
            f"batch shape {cams.batch_shape}"
        )
    return {(s, c): i for i, (s, c) in enumerate(keys)}, cams


#: Largest sidecar :func:`read_mmpose_chunks` loads whole; a larger one is read item by item.
SIDECAR_WHOLE_BYTES = 16 << 20

_SIDE_FIELDS = ("intrinsics", "distortion", "rotation", "center", "image_size")


class _SidecarEntries:
    """The exact cameras of :data:`SIDECAR_FILE` that chunks ask for (:meth:`take`).

    A file of at most :data:`SIDECAR_WHOLE_BYTES` is loaded whole (:func:`_load_sidecar`).
    A larger one (``write_mmpose_chunks`` of a million cameras: about 0.5 GB) is first walked
    once to find where its lists start (skipping them item by item, holding none), then read
    through one cursor per list (``keys`` and the five camera fields) in step, item ``i`` of
    each together: cameras are kept until a chunk takes them, and once more than ``cache``
    are held, taken ones are dropped (a later chunk that needs a dropped one reads the lists
    again from their start). Checked as :func:`_load_sidecar` checks the whole file: format,
    version, ``[subject, camera_id]`` keys, one camera per key, the model's distortion names.
    """

    def __init__(self, path: Path, cache: int) -> None:
        self.path = path
        self.cache = cache
        self.whole: tuple[dict[tuple[str, str], int], Camera] | None = None
        self.held: dict[tuple[str, str], tuple[Any, ...]] = {}
        self.dropped = False
        if path.stat().st_size <= SIDECAR_WHOLE_BYTES:
            self.whole = _load_sidecar(path)
            return
        lists = {("keys",), *(("cameras", f) for f in _SIDE_FIELDS)}
        starts, values = json_layout(path, lists)
        self.starts = {key[-1]: offset for key, offset in starts.items()}
        self.scalars = {key[-1]: v for key, v in values.items() if key[0] in ("cameras", "format", "version")}
        if values.get(("format",)) != SIDECAR_FORMAT:
            raise ValueError(f"{path}: format: expected {SIDECAR_FORMAT!r}, got {values.get(('format',))!r}")
        if values.get(("version",)) != SIDECAR_VERSION:
            raise ValueError(f"{path}: version: expected {SIDECAR_VERSION}, got {values.get(('version',))!r}")
        missing = [f for f in ("keys", *_SIDE_FIELDS) if f not in self.starts]
        if missing or "model" not in self.scalars:
            raise ValueError(f"{path}: cameras: expected the lists {list(_SIDE_FIELDS)}, 'model' and 'keys'")
        try:
            self.model = CameraModel.parse(self.scalars["model"])
        except ValueError as exc:
            raise ValueError(f"{path}: cameras: {exc}") from None
        names = self.scalars.get("distortion_names")
        if names is not None and tuple(names) != self.model.distortion_names:
            raise ValueError(
                f"{path}: cameras: distortion_names: expected {list(self.model.distortion_names)} "
                f"for model {self.model.value}, got {names}"
            )
        self.batch = self.scalars.get("batch_shape")
        self.cursors: list[JsonItems] | None = None
        self.count = 0

    def take(self, keys: list[tuple[str, str]]) -> tuple[dict[tuple[str, str], int], Camera]:
        """``(slot, cameras)`` as :func:`_load_sidecar` returns them, for ``keys`` (those the
        file holds; :func:`_exact_cameras` reports a missing one)."""
        if self.whole is not None:
            return self.whole
        try:
            return self._take(keys)
        except BaseException:
            self.close()
            raise

    def _take(self, keys: list[tuple[str, str]]) -> tuple[dict[tuple[str, str], int], Camera]:
        want = {k for k in keys if k not in self.held}
        if want and self.cursors is None and self.count == 0:
            self._open()
        while want and self.cursors is not None:
            want.discard(self._next())
        if want and self.dropped:  # dropped earlier: read the lists again from their start
            self._open()
            while want and self.cursors is not None:
                want.discard(self._next(keep=want))
        found = [k for k in dict.fromkeys(keys) if k in self.held]
        values = [self.held[k] for k in found]
        doc: dict[str, Any] = {"model": self.model.value, "batch_shape": [len(found)]}
        for j, name in enumerate(_SIDE_FIELDS):
            doc[name] = [v[j] for v in values]
        try:
            cams = Camera.from_dict(doc)
        except ValueError as exc:
            raise ValueError(f"{self.path}: cameras: {exc}") from None
        if cams.batch_shape != (len(found),):
            raise ValueError(f"{self.path}: cameras: expected one camera per key, got batch shape {cams.batch_shape}")
        if len(self.held) > self.cache:
            for k in found:
                del self.held[k]
            self.dropped = True
        return {k: i for i, k in enumerate(found)}, cams

    def close(self) -> None:
        """Close the open cursors' files (the whole-file case holds none)."""
        if self.whole is None and self.cursors is not None:
            for c in self.cursors:
                c.close()
            self.cursors = None

    def _open(self) -> None:
        self.close()
        self.cursors = [JsonItems(self.path, self.starts[f]) for f in ("keys", *_SIDE_FIELDS)]
        self.count = 0

    def _next(self, keep: set[tuple[str, str]] | None = None) -> tuple[str, str] | None:
        """Read item ``count`` of every list; hold it (only if in ``keep``, when given)."""
        assert self.cursors is not None  # the caller checks
        items = [c.next() for c in self.cursors]
        ended = [c is END for c in items]
        if all(ended):
            for c in self.cursors:
                c.close()
            self.cursors = None
            if self.batch is not None and list(self.batch) != [self.count]:
                raise ValueError(
                    f"{self.path}: cameras: expected a batch of {self.count} cameras (one per key), "
                    f"got batch shape {tuple(self.batch)}"
                )
            return None
        if any(ended):
            short = [f for f, e in zip(("keys", *_SIDE_FIELDS), ended, strict=True) if e]
            raise ValueError(
                f"{self.path}: cameras: {short} end after {self.count} items, the other lists go on "
                "(expected one camera per key)"
            )
        key = items[0]
        if not (isinstance(key, list) and len(key) == 2 and all(isinstance(x, str) for x in key)):
            raise ValueError(f"{self.path}: keys: expected a list of [subject, camera_id] strings")
        k = (key[0], key[1])
        if keep is None or k in keep:
            self.held[k] = tuple(items[1:])
        self.count += 1
        return k


def _get(doc: Any, key: str) -> Any:
    return doc.get(key) if isinstance(doc, dict) else None


# --------------------------------------------------------------------------- chunked reading
def read_mmpose_chunks(
    npz_path: Path | str, rows: int, cameras_path: Path | str | None = None, *, cache_cameras: int = 10_000
) -> tuple[int, Iterator[PoseDataset]]:
    """``(samples, chunks)``: :func:`read_mmpose`'s data set, ``rows`` samples at a time.

    Each chunk equals ``read_mmpose(npz_path).select(slice(lo, lo + rows))`` sample by sample
    (its ``camera_index`` and ``camera_names`` number only the chunk's cameras). Memory:

    - the ``.npz`` members are read row block by row block from the archive (stored or
      deflated; a member in Fortran order cannot be, and raises);
    - ``cameras.pkl`` written by :func:`write_mmpose_chunks` is read one marked fragment at a
      time; entries are kept until a chunk uses them, and once more than ``cache_cameras``
      are held, used ones are dropped (a later chunk that needs a dropped one rescans the
      file). Any other ``cameras.pkl`` (:func:`write_mmpose`'s, MMPose's own) is one pickle
      and is loaded whole: it holds one entry per (subject, camera), about 1.7 KB each;
    - the sidecar :data:`SIDECAR_FILE` (``opencv`` / ``fisheye`` cameras, about 0.5 KB of
      JSON per camera) is loaded whole up to :data:`SIDECAR_WHOLE_BYTES`; a larger one is
      read item by item alongside the chunks (:class:`_SidecarEntries`), keeping the
      cameras of the current chunk (and up to ``cache_cameras`` read ahead).

    Raises:
        ValueError: as :func:`read_mmpose`, naming the file and field.
    """
    import zipfile

    npz_path = Path(npz_path)
    if rows < 1:
        raise ValueError(f"rows: expected a positive number of samples per chunk, got {rows}")
    if not npz_path.is_file():
        raise ValueError(f"{npz_path}: no such file")
    try:
        archive = zipfile.ZipFile(npz_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{npz_path}: not a readable .npz archive ({type(exc).__name__}: {exc})") from None
    members = {name[: -len(".npy")]: name for name in archive.namelist() if name.endswith(".npy")}
    missing = [k for k in ("imgname", "S", "part") if k not in members]
    if missing:
        archive.close()
        raise ValueError(f"{npz_path}: missing key(s) {missing}; the file has {sorted(members)}")
    wanted = [k for k in ("imgname", "S", "part", "center", "scale") if k in members]
    try:
        heads = {k: _member_head(archive, members[k], npz_path, k) for k in wanted}
    except BaseException:
        archive.close()
        raise
    n = heads["imgname"][1][0] if heads["imgname"][1] else 0
    for k in wanted:
        if not heads[k][1] or heads[k][1][0] != n:
            archive.close()
            raise ValueError(f"{npz_path}: {k}: expected {n} samples (as imgname), got shape {heads[k][1]}")
    cams_file = _find_cameras_file(npz_path, cameras_path)

    def chunks() -> Iterator[PoseDataset]:
        sidecar = None
        if cams_file is not None and (cams_file.parent / SIDECAR_FILE).is_file():
            sidecar = _SidecarEntries(cams_file.parent / SIDECAR_FILE, cache_cameras)
        table = None if cams_file is None else _CameraEntries(cams_file, cache_cameras)
        streams = {k: archive.open(members[k]) for k in wanted}
        try:
            for k in wanted:
                streams[k].seek(heads[k][2])  # past the .npy header
            for lo in range(0, n, rows):
                arrays: dict[str, np.ndarray] = {}
                for k in wanted:
                    dtype, shape, _ = heads[k]
                    count = min(rows, n - lo)
                    arrays[k] = _read_rows(streams[k], dtype, shape, count, npz_path, k)
                entries: dict[tuple[str, str], Any] | PickledRecords | None = None
                exact = None
                if table is not None:
                    _, (subject, _, camera_id, _) = _names_parsed(arrays["imgname"], npz_path)
                    entries = table.take_in_order(subject, camera_id)
                    if entries is None or sidecar is not None:
                        keys = list(dict.fromkeys(zip(subject.tolist(), camera_id.tolist())))
                        entries = table.take(keys) if entries is None else entries
                        exact = None if sidecar is None else sidecar.take(keys)
                yield _mmpose_dataset(arrays, npz_path, cams_file, entries, exact)
        finally:
            for stream in streams.values():
                stream.close()
            archive.close()
            if sidecar is not None:
                sidecar.close()

    return n, chunks()


def _member_head(archive: Any, member: str, path: Path, key: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """``(dtype, shape, header bytes)`` of an ``.npz`` member's ``.npy`` header."""
    from numpy.lib import format as npy_format

    try:
        with archive.open(member) as fh:
            version = npy_format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = npy_format.read_array_header_2_0(fh)
            offset = fh.tell()
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path}: {key}: cannot read its .npy header ({type(exc).__name__}: {exc})") from None
    if fortran and len(shape) > 1:
        raise ValueError(f"{path}: {key}: stored in Fortran order, which cannot be read in row blocks")
    if dtype.hasobject:
        raise ValueError(f"{path}: {key}: an object array (pickled data), refused")
    return dtype, tuple(shape), offset


def _read_rows(fh: Any, dtype: np.dtype, shape: tuple[int, ...], count: int, path: Path, key: str) -> np.ndarray:
    """The next ``count`` rows of a member whose stream ``fh`` stands at a row boundary."""
    row = dtype.itemsize * int(np.prod(shape[1:], dtype=np.int64))
    data = fh.read(count * row)
    if len(data) != count * row:
        raise ValueError(f"{path}: {key}: truncated (expected {shape[0]} rows of {row} bytes)")
    return np.frombuffer(data, dtype=dtype).reshape((count, *shape[1:]))


class _CameraEntries:
    """The entries of a ``cameras.pkl`` that chunks ask for, read fragment by fragment.

    A file written by :func:`write_mmpose_chunks` is :data:`_STREAM_HEAD`, then marked
    fragments (:func:`_fragment_marker`), then STOP; each fragment with the head before it and
    STOP after it is a pickle of its entries alone. Any other file is loaded whole.

    With the compiled kernels, a fragment is read by the records walk
    (:func:`~posesynth.data.formats.numpy_pickle.load_numpy_pickle`'s ``records``) and its
    entries stay columns (``(records, row)`` pairs): unpickling 10,000 camera dicts per
    fragment and stacking them again took most of ``posesynth convert --to mmpose``'s
    read-back check. A fragment the walk does not model, or with an entry
    :func:`_lean_fields` leaves to the careful path, is unpickled as before (its entries
    held as :class:`_Unpickled`).
    """

    def __init__(self, path: Path, cache: int) -> None:
        self.path = path
        self.cache = cache
        self.held: dict[tuple[str, str], Any] = {}
        self.whole: dict[tuple[str, str], Any] | None = None
        self.offset: int | None = None  # next marker's offset; None: read to the end
        self.dropped = False
        # take_in_order's walked fragment and how many of its entries it has handed out; the
        # entries it handed out are not kept (a later chunk asking again rescans, as when dropped)
        self.run: PickledRecords | None = None
        self.run_codes = np.zeros(0, str)
        self.cursor = 0
        self.forgotten = False
        with open(path, "rb") as fh:
            head = fh.read(len(_STREAM_HEAD) + _FRAGMENT_MARKER_BYTES)
        if head[: len(_STREAM_HEAD)] == _STREAM_HEAD and head[len(_STREAM_HEAD) :][:1] in (b"X", b"."):
            self.offset = len(_STREAM_HEAD)
        else:
            table = load_numpy_pickle(path)
            if not isinstance(table, Mapping):
                raise ValueError(f"{path}: expected a dict keyed (subject, camera_id), got {type(table).__name__}")
            self.whole = {}
            for key, value in table.items():
                if not (isinstance(key, tuple) and len(key) == 2):
                    raise ValueError(f"{path}: expected keys (subject, camera_id), got {key!r}")
                self.whole[(_text(key[0]), _text(key[1]))] = value

    def take(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Any] | PickledRecords:
        """The entries of ``keys`` that the file holds (a missing one is left out, for
        :func:`_cameras_for` to report): their :class:`PickledRecords` when every one was
        walked, else a dict of entries."""
        if self.whole is not None:
            return {k: self.whole[k] for k in keys if k in self.whole}
        self._hold_run()
        want = [k for k in keys if k not in self.held]
        while want and self.offset is not None:
            self._next_fragment()
            want = [k for k in want if k not in self.held]
        if want and (self.dropped or self.forgotten):  # let go earlier: find them again from the start
            self._rescan(set(want))
        out = {k: self.held[k] for k in keys if k in self.held}
        if len(self.held) > self.cache:
            for k in out:
                del self.held[k]
            self.dropped = True
        return _taken(self.path, out)

    def take_in_order(self, subject: np.ndarray, camera_id: np.ndarray) -> PickledRecords | None:
        """The entries of a chunk's samples (``subject``, ``camera_id``: (N,) str), as
        :meth:`take` gives them, when they are the file's next entries in order (what
        :func:`write_mmpose_chunks` writes for data read in the same order): rows of the
        walked fragments, compared as arrays, with no Python object per camera.

        None otherwise, and what it read goes to :meth:`take`: when the keys are in another
        order, or when a key repeats among the entries :meth:`take` would have read for
        them (it keeps the later one)."""
        if self.whole is not None or self.held:
            return None
        key0, key1 = _in_first_appearance(subject, camera_id)
        # every fragment this call looks at, from its first row not handed out before
        seen = [] if self.run is None else [(self.run, self.cursor, self.run_codes[self.cursor :])]
        parts: list[tuple[PickledRecords, np.ndarray]] = []
        got = 0
        while got < len(key0):
            if self.run is None or self.cursor == len(self.run):
                walked = self._next_table()
                if walked is None:
                    break
                (self.run, self.run_codes), self.cursor = walked, 0
                seen.append((self.run, 0, self.run_codes))
            run, at = self.run, self.cursor
            m = min(len(key0) - got, len(run) - at)
            if not (
                np.array_equal(run.key0[at : at + m], key0[got : got + m])
                and np.array_equal(run.key1[at : at + m], key1[got : got + m])
            ):
                break
            parts.append((run, np.arange(at, at + m)))
            self.cursor, got = at + m, got + m
        if got == len(key0) and parts:
            codes = np.concatenate([c for _, _, c in seen])
            if len(np.unique(codes)) == len(codes):
                self.forgotten = True
                return _joined_records(self.path, parts)
        for table, first, _ in seen:  # not in order, or a key repeats: all of it back, for take
            self._hold(table, first)
        self.run, self.cursor = None, 0
        return None

    def _next_table(self) -> tuple[PickledRecords, np.ndarray] | None:
        """The next fragment walked, and its keys as one string each (:func:`_pair_codes`),
        when every entry takes the lean path (else None, the offset left there for
        :meth:`take` to read it as before)."""
        if self.offset is None:
            return None
        with open(self.path, "rb") as fh:
            data, after = self._fragment_bytes(fh, self.offset)
        table = None if data is None else _walked_table(self.path, data)
        if table is None or len(table) == 0:
            return None
        self.offset = after
        return table, _pair_codes(table.key0, table.key1)

    def _hold(self, table: PickledRecords, first: int) -> None:
        """Entries ``first:`` of a walked fragment into :attr:`held`, as :meth:`take` keeps them."""
        keys = zip(table.key0[first:].tolist(), table.key1[first:].tolist(), strict=True)
        self.held.update(zip(keys, zip(itertools.repeat(table), range(first, len(table)))))

    def _hold_run(self) -> None:
        """The run's entries not handed out yet into :attr:`held`."""
        if self.run is not None:
            self._hold(self.run, self.cursor)
        self.run, self.cursor = None, 0

    def _fragment_bytes(self, fh: Any, offset: int) -> tuple[bytes | None, int | None]:
        """The fragment at ``offset`` as a pickle of its own (None at the end), and the next
        offset."""
        fh.seek(offset)
        marker = fh.read(_FRAGMENT_MARKER_BYTES)
        if marker[:1] == b".":
            return None, None
        text = marker[5:-1].decode("ascii", errors="replace")
        if marker[:1] != b"X" or marker[-1:] != b"0" or not text.startswith(_FRAGMENT_TAG):
            raise ValueError(f"{self.path}: not a valid pickle of NumPy arrays (bad fragment marker at byte {offset})")
        try:
            length = int(text[len(_FRAGMENT_TAG) :])
        except ValueError:
            raise ValueError(f"{self.path}: bad fragment length {text!r} at byte {offset}") from None
        fragment = fh.read(length)
        if len(fragment) != length:
            raise ValueError(f"{self.path}: truncated (a fragment of {length} bytes at byte {offset} ends early)")
        return _STREAM_HEAD + fragment + b".", offset + _FRAGMENT_MARKER_BYTES + length

    def _read_fragment(self, fh: Any, offset: int) -> tuple[dict, int | None]:
        """The entries of the fragment whose marker is at ``offset``, and the next offset."""
        data, after = self._fragment_bytes(fh, offset)
        if data is None:
            return {}, None
        walked = _walked_entries(self.path, data)
        if walked is not None:
            return walked, after
        try:
            _check_opcodes(data)
            part = NumpyOnlyUnpickler(io.BytesIO(data), self.path, limit_bytes=len(data)).load()
        except RefusedGlobal:
            raise
        except Exception as exc:  # truncated or corrupt: EOFError, UnpicklingError, ...
            raise ValueError(f"{self.path}: not a valid pickle of NumPy arrays ({type(exc).__name__}: {exc})") from exc
        if not isinstance(part, dict):
            raise ValueError(f"{self.path}: expected a dict keyed (subject, camera_id)")
        entries = {}
        for key, value in part.items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise ValueError(f"{self.path}: expected keys (subject, camera_id), got {key!r}")
            entries[(_text(key[0]), _text(key[1]))] = _Unpickled(value)
        return entries, after

    def _next_fragment(self) -> None:
        assert self.offset is not None  # the caller checks
        with open(self.path, "rb") as fh:
            entries, self.offset = self._read_fragment(fh, self.offset)
        self.held.update(entries)

    def _rescan(self, want: set[tuple[str, str]]) -> None:
        offset: int | None = len(_STREAM_HEAD)
        with open(self.path, "rb") as fh:
            while want and offset is not None:
                entries, offset = self._read_fragment(fh, offset)
                for key in want & entries.keys():
                    self.held[key] = entries[key]
                want -= entries.keys()


class _Unpickled(NamedTuple):
    """An entry of a fragment that was unpickled (held beside the walked ``(records, row)``
    pairs of other fragments)."""

    value: Any


def _walked_entries(path: Path, data: bytes) -> dict[tuple[str, str], tuple[PickledRecords, int]] | None:
    """The entries of one fragment's pickle ``data`` as ``(records, row)``, rows of its
    :class:`PickledRecords` (a repeated key: its last entry, as the dict holds), or None
    where the walk does not model it or an entry would take :func:`_cameras_from_records`'
    careful path (the caller then unpickles it, which raises the precise error or reads
    what it accepts)."""
    table = _walked_table(path, data)
    if table is None:
        return None
    keys = zip(table.key0.tolist(), table.key1.tolist(), strict=True)
    return dict(zip(keys, zip(itertools.repeat(table), range(len(table)))))  # pairs made in C


def _walked_table(path: Path, data: bytes) -> PickledRecords | None:
    """One fragment's pickle ``data`` walked (:func:`_walked_entries`' conditions), or None."""
    from posesynth.util.jit import numba_enabled

    if not numba_enabled():
        return None
    try:
        table = _pickled_records(path, data, _RECORD_FIELDS)
    except Exception:  # the unpickling path words the error
        return None
    if table is None or _lean_fields(table, np.arange(len(table))) is None:
        return None
    return table


def _pair_codes(key0: np.ndarray, key1: np.ndarray) -> np.ndarray:
    """One string per (key0, key1) pair, equal only for equal pairs (keys hold no NUL)."""
    return np.char.add(np.char.add(np.asarray(key0, str), "\0"), np.asarray(key1, str))


def _in_first_appearance(key0: np.ndarray, key1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (key0, key1) pairs in order of first appearance (``dict.fromkeys``'s)."""
    if len(key0) == 0:
        return key0, key1
    _, first = np.unique(_pair_codes(key0, key1), return_index=True)
    order = np.sort(first)
    return key0[order], key1[order]


def _joined_records(path: Path, parts: Sequence[tuple[PickledRecords, np.ndarray]]) -> PickledRecords:
    """One :class:`PickledRecords` of rows ``rows`` of each table of ``parts``, in order
    (several tables: their bytes joined, offsets moved with them)."""
    first = parts[0][0]
    if len(parts) == 1:
        shifted = [(first, parts[0][1], 0)]
        data = first.data
    else:
        starts = np.cumsum([0, *(len(t.data) for t, _ in parts)])
        shifted = [(t, rows, int(starts[j])) for j, (t, rows) in enumerate(parts)]
        data = b"".join(bytes(t.data) for t, _ in parts)
    return PickledRecords(
        path=path,
        data=data,
        key0=np.concatenate([t.key0[at] for t, at, _ in shifted]),
        key1=np.concatenate([t.key1[at] for t, at, _ in shifted]),
        entry_ok=np.concatenate([t.entry_ok[at] for t, at, _ in shifted]),
        fields=first.fields,
        kind=np.concatenate([t.kind[at] for t, at, _ in shifted]),
        dims=np.concatenate([t.dims[at] for t, at, _ in shifted]),
        offset=np.concatenate([t.offset[at] + shift for t, at, shift in shifted]),
        value=np.concatenate([t.value[at] for t, at, _ in shifted]),
    )


def _taken(path: Path, entries: Mapping[tuple[str, str], Any]) -> dict[tuple[str, str], Any] | PickledRecords:
    """``entries`` for :func:`_cameras_for`: one :class:`PickledRecords` of their rows when all
    were walked (the fragments' bytes joined, offsets moved with them), else a dict of
    entries, the walked ones made dicts of their fields (a file with a fragment that had to
    be unpickled)."""
    values = list(entries.values())
    if not values:
        return {}
    if any(type(v) is _Unpickled for v in values):
        return {key: v.value if type(v) is _Unpickled else _entry_of_row(*v) for key, v in entries.items()}
    tables = {id(table): table for table, _ in values}
    rows = np.fromiter((row for _, row in values), np.int64, len(values))
    if len(tables) == 1:
        return _joined_records(path, [(values[0][0], rows)])
    # a chunk over fragments: each fragment's rows, in order of first use
    number = {key: j for j, key in enumerate(tables)}
    owner = np.fromiter((number[id(table)] for table, _ in values), np.int64, len(values))
    return _joined_records(path, [(t, rows[owner == j]) for j, t in enumerate(tables.values())])


def _entry_of_row(records: PickledRecords, row: int) -> dict[str, Any]:
    """A walked entry as the dict :func:`_entry_fields` reads (its fields' values)."""
    lean = _lean_fields(records, np.array([row], np.int64))
    assert lean is not None  # _walked_entries keeps only entries it reads
    out, size = lean
    entry: dict[str, Any] = {name: out[name][0].copy() for name in _VECTOR_FIELDS}
    entry["R"] = out["R"][0].reshape(3, 3).copy()
    entry["w"], entry["h"] = int(size[0, 0]), int(size[0, 1])
    return entry


# ----------------------------------------------------------------------------- writing
def write_mmpose(
    dataset: PoseDataset,
    out_dir: Path | str,
    name: str = "h36m_train.npz",
    overwrite: bool = False,
) -> Path:
    """Write ``dataset`` as MMPose Human3.6M annotations into the folder ``out_dir``.

    Writes ``out_dir/<name>``, ``out_dir/cameras.pkl`` and the four statistics pickles
    (:data:`STATS_FILES`) in the layout of the module docstring, so that MMPose 1.x's
    ``Human36mDataset`` (``ann_file=<name>``, ``camera_param_file=cameras.pkl``) and the
    ``ImagePoseLifting`` codec (statistics pasted from the pickles) take them. The folder
    is built under a temporary name and renamed: on any error nothing is left behind.

    Args:
        dataset: needs camera-frame 3D (or world 3D and cameras), 2D (or cameras to project
            with) and cameras. Its skeleton is H36M17, or one whose first 17 joints are
            H36M17's (H36M_EXTENDED: the rest are dropped). Any camera model: ``h36m`` and
            ``pinhole`` cameras are exact in ``cameras.pkl``; ``opencv`` and ``fisheye``
            cameras also get the sidecar :data:`SIDECAR_FILE` (see below).
        out_dir: the folder to create (its parent must exist). An existing empty folder is
            used; a non-empty one only with ``overwrite``, and only if it holds nothing but
            ``.npz``/``.pkl`` files and the sidecar (a previous export), which are then all
            replaced.
        name: file name of the annotations, ending in ``.npz``.
        overwrite: replace an existing export folder.

    What is written per sample: ``imgname`` from ``subject`` (default ``"S0"``), ``action``
    (default ``"posesynth"``; spaces become ``_``, other characters outside ``[A-Za-z0-9_-]``
    become ``-``), the camera id (the part after ``/`` of ``camera_names``, or ``cam<k>``
    for camera ``k``; characters outside ``[A-Za-z0-9-]`` become ``-``) and ``frame + 1``
    (without frames: 1, 2, ... within each subject/action/camera); when the dataset has no
    ``subject`` but camera names ``"<subject>/<id>"``, that subject. ``center``/``scale``
    from the bounding box of the visible 2D joints (all joints if none is visible);
    ``part = [joints_2d, visibility]``; ``S = [joints_3d_camera, visibility_3d or
    visibility]`` (visibility 1 when absent). ``cameras.pkl`` holds each (subject, camera
    id) used, with ``R`` = our rotation transposed, ``T`` = centre (3, 1) m. Arrays are
    float64. Pickles are protocol 3 with ``numpy.core`` names, loadable by NumPy 1.x and 2.x.

    Cameras that Human3.6M's model cannot hold: ``part`` is always the true projection (the
    dataset's own model). ``cameras.pkl`` holds what MMPose can represent - the exact pose
    (``R``, ``T``), ``f``, ``c``, ``w``, ``h`` and, for ``opencv``, the radial ``k`` and the
    ``p`` as given (Human3.6M's tangential formula differs from OpenCV's), for ``fisheye``
    ``k = p = 0`` (a pinhole approximation). The exact models go into
    ``posesynth_cameras.json`` beside it: ``{"format": "posesynth-mmpose-cameras",
    "version": 1, "keys": [[subject, camera_id], ...], "cameras": Camera.to_dict() of the
    (K,) batch in key order}``, written for every ``opencv`` and ``fisheye`` data set, which
    :func:`read_mmpose` uses instead of the pickle's approximation (after checking that
    pose, intrinsics and image size agree with the pickle). MMPose ignores the file.

    Returns:
        The path of the ``.npz``.

    Raises:
        ValueError: for a dataset that lacks what MMPose needs (naming it), non-finite
            values, unrepresentable cameras, a bad ``name``, or an ``out_dir`` that exists
            without ``overwrite`` (or holds other files).
    """
    out_dir = Path(out_dir)
    if Path(name).name != name or not name.endswith(".npz") or name == ".npz":
        raise ValueError(f"name: expected a plain file name ending in '.npz', got {name!r}")
    annotations, cameras_pkl, sidecar = _mmpose_payload(dataset)
    stats = _joint_stats(annotations["part"][..., :2], annotations["S"][..., :3])
    replace = _check_out_dir(out_dir, overwrite)
    with atomic_path(out_dir, overwrite=replace) as tmp:
        tmp.mkdir()
        with open(tmp / name, "wb") as fh:
            # mypy matches **annotations against savez's allow_pickle: bool too; every key is an array
            np.savez(fh, **annotations)  # type: ignore[arg-type]
        (tmp / CAMERAS_FILE).write_bytes(dumps_numpy_pickle(cameras_pkl.as_dict()))
        if sidecar is not None:
            text = json.dumps(sidecar, sort_keys=True, separators=(",", ":"))
            (tmp / SIDECAR_FILE).write_text(text + "\n", encoding="utf-8")
        for file_name, stat in stats.items():
            (tmp / file_name).write_bytes(dumps_numpy_pickle(stat))
    return out_dir / name


def _check_out_dir(out_dir: Path, overwrite: bool) -> bool:
    """Whether ``atomic_path`` may replace ``out_dir``; raises when it must not."""
    if not out_dir.exists() and not out_dir.is_symlink():
        return False
    if not out_dir.is_dir() or out_dir.is_symlink():
        raise ValueError(f"{out_dir}: exists and is not a folder; MMPose export writes a folder")
    entries = list(out_dir.iterdir())
    if not entries:
        return True
    if not overwrite:
        raise ValueError(f"{out_dir}: already exists; pass overwrite=True (--overwrite) to replace it")
    foreign = [
        e.name for e in entries if not (e.is_file() and (e.suffix in (".npz", ".pkl") or e.name == SIDECAR_FILE))
    ]
    if foreign:
        raise ValueError(
            f"{out_dir}: refusing to replace a folder holding more than an MMPose export "
            f"(.npz/.pkl files and {SIDECAR_FILE}): found {sorted(foreign)[:5]}"
        )
    return True


def _mmpose_payload(
    dataset: PoseDataset,
    counters: dict[tuple[str, str, str], int] | None = None,
    camera_base: int = 0,
    sample_base: int = 0,
) -> tuple[dict[str, np.ndarray], _CameraTable, dict[str, Any] | None]:
    """The ``.npz`` arrays, the ``cameras.pkl`` entries and the sidecar document (or None)
    for ``dataset`` (no disk access); ``sample_base``: the index of its first sample in the
    whole data set (a chunk's), which errors name."""
    names = dataset.skeleton.joint_names
    if tuple(names[:_NUM_JOINTS]) != tuple(H36M17.joint_names):
        raise ValueError(
            f"dataset.skeleton: expected H36M17 (or a skeleton starting with its 17 joints), "
            f"got {dataset.skeleton.name!r} with joints {list(names[:4])}..."
        )
    if dataset.cameras is None:
        raise ValueError("dataset: MMPose export needs cameras (for cameras.pkl), got none")
    ds = dataset.complete()
    if ds.joints_3d_camera is None or ds.joints_2d is None:
        raise ValueError("dataset: MMPose export needs camera-frame 3D and 2D keypoints (or world 3D)")
    assert ds.cameras is not None  # complete() keeps the cameras (checked above)
    n = len(ds)
    j = slice(0, _NUM_JOINTS)
    p_cam = np.asarray(ds.joints_3d_camera)[:, j]
    uv_px = np.asarray(ds.joints_2d)[:, j]
    vis = np.ones((n, _NUM_JOINTS)) if ds.visibility is None else np.asarray(ds.visibility)[:, j]
    vis_3d = ds.extra.get("visibility_3d")
    vis_3d = vis if vis_3d is None else np.asarray(vis_3d, dtype=np.float64)[:, j]
    for field, arr in (("joints_3d_camera", p_cam), ("joints_2d", uv_px), ("visibility", vis)):
        bad = ~np.isfinite(arr)
        if bad.any():
            at = np.argwhere(bad)[0]
            first = (int(at[0]) + sample_base, *(int(i) for i in at[1:]))  # the whole data set's sample
            raise ValueError(
                f"dataset.{field}: expected finite values for MMPose export, got "
                f"{int(bad.sum())} NaN/inf (first at index {first})"
            )

    k_cams = ds.num_cameras
    cam_of_sample = np.arange(n) if ds.camera_index is None else np.asarray(ds.camera_index)
    cam_subject, cam_id = _camera_ids(ds.camera_names, k_cams)
    subjects = _sample_subjects(ds.subject, cam_subject, cam_of_sample, n)
    actions = _clean_actions(ds.action, n)
    sample_cam = [cam_id[k] for k in cam_of_sample.tolist()]
    frames = _sample_frames(ds.frame, subjects, actions, sample_cam, counters)

    # format_h36m_imgname without its parse-back check, which these always pass: subjects and
    # camera ids are cleaned to [A-Za-z0-9-] (never empty), actions to [A-Za-z0-9_-], frames >= 0
    imgname = [_imgname(*ids) for ids in zip(subjects, actions, sample_cam, frames, strict=True)]
    center, scale = _bbox_center_scale(uv_px, vis)
    annotations = {
        "imgname": np.array(imgname, dtype=str) if n else np.array([], dtype="<U1"),
        "center": center,
        "scale": scale,
        "part": np.concatenate([uv_px, vis[..., None]], axis=-1),
        "S": np.concatenate([p_cam, vis_3d[..., None]], axis=-1),
    }
    # One entry per (subject, camera) in order of first appearance among the samples.
    subject_code = (
        np.unique(np.array(subjects, dtype=str), return_inverse=True)[1].ravel() if n else np.zeros(0, np.int64)
    )
    pair = subject_code.astype(np.int64) * max(k_cams, 1) + cam_of_sample.astype(np.int64)
    _, first_rows = np.unique(pair, return_index=True)
    first_rows = np.sort(first_rows)
    ks = cam_of_sample[first_rows].astype(np.int64)
    keys = [(subjects[i], cam_id[int(k)]) for i, k in zip(first_rows.tolist(), ks.tolist())]
    # an entry's id is the same str object as its key's camera id (the pickle refers back to it)
    columns = _camera_columns(ds.cameras, ks, [key[1] for key in keys], camera_base)
    sidecar = None
    if ds.cameras.model in (CameraModel.OPENCV, CameraModel.FISHEYE):
        sidecar = {
            "format": SIDECAR_FORMAT,
            "version": SIDECAR_VERSION,
            "about": "exact camera models of cameras.pkl's entries (which hold Human3.6M's "
            "distortion model only); read by posesynth, ignored by MMPose",
            "keys": [list(key) for key in keys],
            "cameras": ds.cameras[ks].to_dict(),
        }
    return annotations, _CameraTable(keys, columns), sidecar


class _CameraTable(NamedTuple):
    """``cameras.pkl``'s entries for one data set or chunk: ``keys`` (subject, camera id) and
    their :class:`CameraColumns`, in order of first use by the samples."""

    keys: list[tuple[str, str]]
    columns: CameraColumns

    def as_dict(self) -> dict[tuple[str, str], dict[str, Any]]:
        return dict(zip(self.keys, self.columns.entries(), strict=True))


def _camera_ids(camera_names: np.ndarray | None, k_cams: int) -> tuple[list[str | None], list[str]]:
    """Per camera: the subject prefix of its name (or None) and a unique MMPose-safe id."""
    subjects: list[str | None] = [None] * k_cams
    ids = [f"cam{k}" for k in range(k_cams)]
    if camera_names is not None:
        for k, raw in enumerate(np.asarray(camera_names).tolist()):
            text = _text(raw)
            head, sep, tail = text.rpartition("/")
            if sep and head:
                subjects[k] = _clean_id(head) or None
            ids[k] = _clean_id(tail) or f"cam{k}"
    seen: dict[str, int] = {}
    for k, cid in enumerate(ids):
        if cid in seen:
            ids[k] = f"{cid}-{k}"
        seen[ids[k]] = k
    return subjects, ids


def _imgname(subject: str, action: str, camera_id: str, frame: int) -> str:
    stem = f"{subject}_{action}.{camera_id}"
    return f"{subject}/{stem}/{stem}_{frame + 1:06d}.jpg"


def _clean_actions(action: np.ndarray | None, n: int) -> list[str]:
    """:func:`_clean_action` of each sample's action (``DEFAULT_ACTION`` without them), each
    distinct string cleaned once (a data set has a few actions over many samples)."""
    if action is None:
        return [DEFAULT_ACTION] * n
    values = np.asarray(action)
    if values.dtype.kind not in "US" or n == 0:
        return [_clean_action(a) for a in values.tolist()]
    distinct, inverse = np.unique(values, return_inverse=True)
    cleaned = [_clean_action(a) for a in distinct.tolist()]
    return [cleaned[i] for i in inverse.ravel().tolist()]


def _clean_id(text: str) -> str:
    return _UNSAFE_ID.sub("-", str(text).strip())


def _clean_action(text: Any) -> str:
    cleaned = _UNSAFE_ACTION.sub("-", _text(text).strip().replace(" ", "_"))
    return cleaned or DEFAULT_ACTION


def _sample_subjects(
    subject: np.ndarray | None, cam_subject: list[str | None], cam_of_sample: np.ndarray, n: int
) -> list[str]:
    if subject is not None:
        out = [_clean_id(_text(s)) for s in np.asarray(subject).tolist()]
    else:
        out = [cam_subject[k] or DEFAULT_SUBJECT for k in cam_of_sample.tolist()]
    return [s or DEFAULT_SUBJECT for s in out]


def ids_as_written(dataset: PoseDataset) -> PoseDataset:
    """``dataset`` with its ids as :func:`write_mmpose` writes them into the image names and
    :func:`read_mmpose` reads them back: what ``convert``'s round-trip check compares with.

    An image name keeps ``[A-Za-z0-9-]`` in a subject or camera id and ``[A-Za-z0-9_-]`` in an
    action (``custom_000001`` is written ``custom-000001``; an action's spaces become ``_``),
    and a camera is read back as ``<subject>/<camera id>``: one camera per (subject, camera)
    pair, so the cameras are gathered to those pairs. Ids the data set lacks stay absent
    (the reader's defaults are not compared). Shapes and arrays other than the ids are kept.
    """
    n = len(dataset)
    changes: dict[str, Any] = {}
    if dataset.action is not None:
        changes["action"] = np.array([_clean_action(a) for a in np.asarray(dataset.action).tolist()])
    if dataset.subject is not None or dataset.camera_names is not None:
        k_cams = dataset.num_cameras
        cam_of_sample = np.arange(n) if dataset.camera_index is None else np.asarray(dataset.camera_index)
        cam_subject, cam_id = _camera_ids(dataset.camera_names, k_cams)
        subjects = _sample_subjects(dataset.subject, cam_subject, cam_of_sample, n)
        if dataset.subject is not None:
            changes["subject"] = np.array(subjects)
        if dataset.camera_names is not None and dataset.cameras is not None and n:
            per_sample = np.array([f"{subjects[i]}/{cam_id[k]}" for i, k in enumerate(cam_of_sample.tolist())])
            names, first, index = np.unique(per_sample, return_index=True, return_inverse=True)
            changes["cameras"] = dataset.cameras[cam_of_sample[first]]
            changes["camera_names"] = names
            changes["camera_index"] = index.astype(np.int64)
    return replace(dataset, **changes) if changes else dataset


def _sample_frames(
    frame: np.ndarray | None,
    subjects: list[str],
    actions: list[str],
    cams: list[str],
    counters: dict[tuple[str, str, str], int] | None = None,
) -> list[int]:
    if frame is not None:
        arr = np.asarray(frame)
        if arr.dtype.kind not in "iu" or (arr.size and arr.min() < 0):
            raise ValueError(f"dataset.frame: expected integers >= 0 (0-based), got {arr.dtype} {arr[:5]}")
        return arr.astype(np.int64).tolist()
    counters = {} if counters is None else counters  # carried across chunks by the streamed writer
    out = []
    for key in zip(subjects, actions, cams):
        out.append(counters.get(key, 0))
        counters[key] = out[-1] + 1
    return out


def _bbox_center_scale(uv_px: np.ndarray, vis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``center (N, 2)`` px and ``scale (N,)`` = 1.2 x longest side / 200 of the visible joints."""
    use = vis > 0
    use[~use.any(axis=1)] = True  # no visible joint: use them all
    lo = np.where(use[..., None], uv_px, np.inf).min(axis=1)
    hi = np.where(use[..., None], uv_px, -np.inf).max(axis=1)
    center = (lo + hi) / 2.0
    scale = BBOX_PADDING * np.max(hi - lo, axis=1) / SCALE_UNIT_PX
    return center, scale


def _camera_columns(cams: Camera, ks: np.ndarray, ids: list[str], base: int = 0) -> CameraColumns:
    """``cameras.pkl`` entries for the cameras ``ks`` of the batch ``cams`` (K,), as columns.

    ``h36m``, ``pinhole`` and radial-only ``opencv`` cameras are exact; other ``opencv`` and
    all ``fisheye`` cameras get what Human3.6M's model can hold (see :func:`write_mmpose`).
    """
    dist = np.asarray(cams.distortion, dtype=np.float64)[ks]
    m = len(ks)
    if cams.model in (CameraModel.H36M, CameraModel.OPENCV):
        k1, k2, p1, p2, k3 = dist.T
    else:  # pinhole: no distortion; fisheye: Kannala-Brandt has no Human3.6M counterpart
        k1 = k2 = p1 = p2 = k3 = np.zeros(m)
    intr = np.asarray(cams.intrinsics, dtype=np.float64)[ks]
    return CameraColumns(
        R=np.ascontiguousarray(np.swapaxes(np.asarray(cams.rotation, dtype=np.float64)[ks], -1, -2)),  # cam->world
        T=np.ascontiguousarray(np.asarray(cams.center, dtype=np.float64)[ks]).reshape(m, 3, 1),
        c=np.ascontiguousarray(intr[:, 2:4]).reshape(m, 2, 1),
        f=np.ascontiguousarray(intr[:, 0:2]).reshape(m, 2, 1),
        k=np.stack([k1, k2, k3], axis=1).reshape(m, 3, 1),
        p=np.stack([p1, p2], axis=1).reshape(m, 2, 1),
        size=np.asarray(cams.image_size)[ks].tolist(),
        name=[
            f"camera{H36M_CAMERA_IDS.index(cam_id) + 1}"
            if cam_id in H36M_CAMERA_IDS
            else f"camera{base + k + 1}"  # base: the chunk's first camera in the whole data set
            for cam_id, k in zip(ids, ks.tolist(), strict=True)
        ],
        id=ids,
    )


def _joint_stats(uv_px: np.ndarray, p_cam: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """MMPose's four statistics files: mean/std over samples, absolute and root-relative."""

    def stats(x: np.ndarray) -> dict[str, np.ndarray]:
        if len(x) == 0:
            return {"mean": np.full(x.shape[1:], np.nan), "std": np.full(x.shape[1:], np.nan)}
        return {"mean": x.mean(axis=0), "std": x.std(axis=0)}

    return {
        "joint2d_stats.pkl": stats(uv_px),
        "joint3d_stats.pkl": stats(p_cam),
        "joint2d_rel_stats.pkl": stats(uv_px[:, 1:] - uv_px[:, :1]),
        "joint3d_rel_stats.pkl": stats(p_cam[:, 1:] - p_cam[:, :1]),
    }


# ------------------------------------------------------------------------ streamed writing
#: Text of the no-op marker before each fragment of a streamed ``cameras.pkl``: the fragment's
#: byte length, so that a reader can take the dict one fragment at a time.
_FRAGMENT_TAG = "posesynth-fragment:"
_FRAGMENT_DIGITS = 16
#: Bytes of one marker: BINUNICODE (1 + 4 length bytes + text), POP.
_FRAGMENT_MARKER_BYTES = 1 + 4 + len(_FRAGMENT_TAG) + _FRAGMENT_DIGITS + 1


def _fragment_marker(length: int) -> bytes:
    """``BINUNICODE "posesynth-fragment:<length>"; POP``: pushes a string and pops it again,
    so every unpickler (MMPose's included) loads the same dict; :func:`_camera_fragments`
    reads the length to take the next fragment alone."""
    import struct

    text = f"{_FRAGMENT_TAG}{length:0{_FRAGMENT_DIGITS}d}".encode("ascii")
    return b"X" + struct.pack("<I", len(text)) + text + b"0"


def write_mmpose_chunks(
    chunks: Iterable[PoseDataset],
    out_dir: Path | str,
    name: str = "h36m_train.npz",
    overwrite: bool = False,
) -> Path:
    """:func:`write_mmpose` for a data set given as consecutive chunks, in constant memory.

    Writes the same arrays, camera entries, sidecar and statistics as :func:`write_mmpose` of
    the concatenated chunks (synthesised frame numbers continue across chunks), streaming
    each ``.npz`` member through a temporary file and ``cameras.pkl`` as one dict pickled
    batch by batch (:func:`~._camera_pickle.camera_items_pickle`, each batch after a no-op
    marker holding its length, :func:`_fragment_marker`; it loads as the same dict, with
    NumPy 1.x and 2.x, but its bytes differ from a whole-dict pickle's, and
    :func:`read_mmpose_chunks` reads it one batch at a time). The ``.npz``, statistics and
    sidecar bytes equal :func:`write_mmpose`'s.
    Memory stays that of one chunk. Used by ``posesynth convert`` for large stores.

    Args:
        chunks: the samples in order, one skeleton and camera model. A chunk with per-sample
            cameras must carry ``camera_names`` that stay unique across chunks (the store
            reader of :mod:`posesynth.data.formats.registry` names them ``cam<global index>``).
        out_dir, name, overwrite: as :func:`write_mmpose`.

    Raises:
        ValueError: as :func:`write_mmpose`.
    """
    import shutil
    import tempfile
    import zipfile

    out_dir = Path(out_dir)
    if Path(name).name != name or not name.endswith(".npz") or name == ".npz":
        raise ValueError(f"name: expected a plain file name ending in '.npz', got {name!r}")
    replace_ok = _check_out_dir(out_dir, overwrite)
    with atomic_path(out_dir, overwrite=replace_ok) as tmp:
        tmp.mkdir()
        work = Path(tempfile.mkdtemp(prefix=".parts-", dir=tmp))  # removed before the rename
        members = ("center", "scale", "part", "S")
        raw = {m: open(work / f"{m}.bin", "wb") for m in members}  # noqa: SIM115
        names_dir = work / "imgname"
        names_dir.mkdir()
        shapes: dict[str, tuple[int, ...]] = {}
        pkl = open(tmp / CAMERAS_FILE, "wb")  # noqa: SIM115
        pkl.write(_STREAM_HEAD)
        side_parts: dict[str, int] = {}
        side_model: str | None = None
        seen: set[tuple[str, str]] = set()
        counters: dict[tuple[str, str, str], int] = {}
        n = 0
        width = 1
        try:
            for c, chunk in enumerate(chunks):
                if len(chunk) == 0:
                    continue
                base = n if chunk.camera_index is None else 0  # per-sample cameras number on
                # frame counters matter only for a shared camera table (per-sample cameras make
                # every key new): not keeping them otherwise keeps memory flat
                keep = counters if chunk.camera_index is not None else {}
                annotations, cams_pkl, sidecar = _mmpose_payload(chunk, keep, base, sample_base=n)
                for m in members:
                    arr = np.ascontiguousarray(annotations[m], dtype=np.float64)
                    shapes[m] = arr.shape[1:]
                    raw[m].write(arr.tobytes())
                names = annotations["imgname"]
                width = max(width, names.dtype.itemsize // 4)
                np.save(names_dir / f"{c:08d}.npy", names)
                rows = [j for j, key in enumerate(cams_pkl.keys) if key not in seen]
                new = {cams_pkl.keys[j] for j in rows}
                if chunk.camera_index is not None:  # a shared table: entries repeat across chunks
                    seen.update(new)
                if rows:
                    columns = cams_pkl.columns if len(rows) == len(cams_pkl.keys) else cams_pkl.columns.take(rows)
                    fragment = camera_items_pickle([cams_pkl.keys[j] for j in rows], columns)  # MARK k v ... SETITEMS
                    pkl.write(_fragment_marker(len(fragment)) + fragment)
                if sidecar is not None:
                    side_model = sidecar["cameras"]["model"]
                    kept = [i for i, key in enumerate(sidecar["keys"]) if tuple(key) in new]
                    _append_sidecar_parts(work, side_parts, sidecar, kept)
                n += len(chunk)
            pkl.write(b".")
        finally:
            for fh in raw.values():
                fh.close()
            pkl.close()
        if n == 0:
            raise ValueError("dataset: no samples to write")
        # the .npz: np.savez's members and order, each an .npy header and the raw rows
        with zipfile.ZipFile(tmp / name, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:

            def member(key: str, dtype: np.dtype, shape: tuple[int, ...], write: Callable[[Any], None]) -> None:
                info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                with zf.open(info, "w", force_zip64=True) as fh:
                    _npy_header(fh, dtype, shape)
                    write(fh)

            def names_writer(fh: Any) -> None:
                for part in sorted(names_dir.iterdir()):
                    fh.write(np.load(part).astype(f"<U{width}").tobytes())

            member("imgname", np.dtype(f"<U{width}"), (n,), names_writer)
            for m in members:

                def copy(fh: Any, m: str = m) -> None:
                    with open(work / f"{m}.bin", "rb") as src:
                        shutil.copyfileobj(src, fh, 1 << 22)

                member(m, np.dtype(np.float64), (n, *shapes[m]), copy)
        stats = _joint_stats_streamed(work / "part.bin", work / "S.bin", n)
        for file_name, stat in stats.items():
            (tmp / file_name).write_bytes(dumps_numpy_pickle(stat))
        if side_parts:
            assert side_model is not None  # set with the first sidecar part
            _write_sidecar_streamed(tmp / SIDECAR_FILE, work, side_parts, side_model)
        shutil.rmtree(work)
    return out_dir / name


def _npy_header(fh: Any, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    from numpy.lib import format as npy_format

    header = {"descr": npy_format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    try:
        npy_format.write_array_header_1_0(fh, header)
    except ValueError:  # a header over 64 KiB: version 2.0, as np.save does
        npy_format.write_array_header_2_0(fh, header)


def _append_sidecar_parts(work: Path, parts: dict[str, int], sidecar: Mapping[str, Any], keep: list[int]) -> None:
    """Append the kept cameras' JSON list items of each sidecar field to a temporary file."""
    cams = sidecar["cameras"]
    fields = {"keys": [sidecar["keys"][i] for i in keep]}
    for f in ("intrinsics", "distortion", "rotation", "center", "image_size"):
        fields[f] = [cams[f][i] for i in keep]
    for f, items in fields.items():
        if not items:
            continue
        text = json.dumps(items, separators=(",", ":"))[1:-1]  # the items, without brackets
        with open(work / f"side-{f}.txt", "a", encoding="utf-8") as fh:
            fh.write(("," if parts.get(f) else "") + text)
        parts[f] = parts.get(f, 0) + len(items)


def _write_sidecar_streamed(path: Path, work: Path, parts: Mapping[str, int], model: str) -> None:
    """The sidecar, laid out as ``json.dumps(doc, sort_keys=True, separators=(",", ":"))``."""
    names = list(CameraModel.parse(model).distortion_names)

    import shutil

    about = json.dumps(
        "exact camera models of cameras.pkl's entries (which hold Human3.6M's distortion model "
        "only); read by posesynth, ignored by MMPose"
    )
    with open(path, "w", encoding="utf-8") as fh:

        def field(f: str) -> str:  # the part file copied in blocks: a million cameras are ~0.5 GB
            fh.write("[")
            if parts.get(f):
                with open(work / f"side-{f}.txt", encoding="utf-8") as src:
                    shutil.copyfileobj(src, fh, 1 << 20)
            return "]"

        fh.write('{"about":' + about + ',"cameras":{"batch_shape":[' + str(parts.get("keys", 0)) + "]")
        fh.write(',"center":')
        fh.write(field("center") + ',"distortion":')
        fh.write(field("distortion") + ',"distortion_names":' + json.dumps(names, separators=(",", ":")))
        fh.write(',"image_size":')
        fh.write(field("image_size") + ',"intrinsics":')
        fh.write(field("intrinsics") + ',"model":' + json.dumps(model) + ',"rotation":')
        fh.write(field("rotation") + "}")
        fh.write(',"format":' + json.dumps(SIDECAR_FORMAT) + ',"keys":')
        fh.write(field("keys") + ',"version":' + json.dumps(SIDECAR_VERSION) + "}\n")


def _joint_stats_streamed(part_bin: Path, s_bin: Path, n: int, rows: int = 65536) -> dict[str, dict[str, np.ndarray]]:
    """:func:`_joint_stats` over the raw rows of ``part`` (N, 17, 3) and ``S`` (N, 17, 4),
    read back in blocks of ``rows``: the mean from a sum over blocks, the std in a second
    pass (the same sums, so the same bits, as one statistic at a time). Each pass reads a
    block once for all four statistics, into buffers made once: resident memory stays one
    block, and no block takes fresh pages (their first touch was most of the time)."""
    rows = max(1, min(rows, n))
    part = np.empty((rows, _NUM_JOINTS, 3))
    s = np.empty((rows, _NUM_JOINTS, 4))
    rel = (np.empty((rows, _NUM_JOINTS - 1, 2)), np.empty((rows, _NUM_JOINTS - 1, 3)))
    plain = (np.empty((rows, _NUM_JOINTS, 2)), np.empty((rows, _NUM_JOINTS, 3)))

    def blocks() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        with open(part_bin, "rb") as fa, open(s_bin, "rb") as fb:
            for lo in range(0, n, rows):  # n > 0 (the caller refuses an empty data set)
                m = min(rows, n - lo)
                for fh, buf in ((fa, part), (fb, s)):
                    if fh.readinto(buf[:m].data) != buf[:m].nbytes:
                        raise OSError(f"{fh.name}: shorter than its {n} rows")  # our own temporary file
                yield part[:m], s[:m]

    def views(a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
        m = len(a)
        return [
            a[..., :2],
            b[..., :3],
            np.subtract(a[:, 1:, :2], a[:, :1, :2], out=rel[0][:m]),
            np.subtract(b[:, 1:, :3], b[:, :1, :3], out=rel[1][:m]),
        ]

    def summed(values: Callable[[np.ndarray, np.ndarray], list[np.ndarray]]) -> list[np.ndarray]:
        totals: list[np.ndarray] = []
        for a, b in blocks():
            sums = [x.sum(axis=0) for x in values(a, b)]
            totals = sums if not totals else [t + x for t, x in zip(totals, sums, strict=True)]
        return totals

    def squares(a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
        m = len(a)
        out = []
        for i, (x, mean) in enumerate(zip(views(a, b), means, strict=True)):
            d = np.subtract(x, mean, out=x if i >= 2 else plain[i][:m])  # the rel buffers are views' own
            out.append(np.square(d, out=d))
        return out

    means = [total / n for total in summed(views)]
    sq = summed(squares)
    names = ("joint2d_stats.pkl", "joint3d_stats.pkl", "joint2d_rel_stats.pkl", "joint3d_rel_stats.pkl")
    return {name: {"mean": mean, "std": np.sqrt(q / n)} for name, mean, q in zip(names, means, sq, strict=True)}
