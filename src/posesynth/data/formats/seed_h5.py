"""The seed's Human3.6M input: ``annot/{train,valid}.h5`` and the optional ``.mat`` with ``K``.

These are the annotations of Pavlakos et al.'s "Coarse-to-Fine Volumetric Prediction"
(``c2f-vol-train`` / ``c2f-vol-demo``, ``data/h36m/annot/``), which the seed's
``h36m_helper/h36m_reader.py`` reads. What is known of them, and from where:

``S``
    3D joints, **millimetres, camera frame**: ``c2f-vol-demo/matlab/evalH36M.m`` takes the
    ground-truth root depth as ``S(3, 1)`` of one sample and ``utils/estimate3D.m``
    back-projects ``X = (u - cx) Z / fx`` with a 2000 (mm) initial depth. In the ``.mat``
    it is ``(N, 3, 17)`` (MATLAB ``squeeze(annot.S(i, :, :))`` is 3 x 17); the seed swaps
    the h5's axes 1 and 2 to compare with it, so the h5 holds ``(N, 17, 3)``. Both
    layouts are accepted here. Joints in the H36M-17 order (c2f's flip pairs
    ``{2,5},{3,6},{4,7},{12,15},{13,16},{14,17}`` are those of H36M-17).
``part``
    2D joints (N, 17, 2), pixels, 0-based (c2f adds 1 for Lua); a third column, if any, is
    taken as visibility.
``center``, ``scale``
    the hourglass crop: centre (N, 2) px and scale (N,) in units of 200 px. Kept in
    ``extra``; they follow the hourglass convention, not MMPose's.
``zind``
    per-joint depth bin (N, 17), 1..64, relative to the root (c2f's volumetric target).
    Kept in ``extra``.
``imgname``
    ``S9_Posing_1.55011271_000001.jpg`` (subject_action.camera_frame, frame 1-based). c2f
    reads names from ``*_images.txt`` ("reading strings wasn't working from hdf5"), so the
    h5's encoding is not documented: str, byte strings, (N, 1) arrays and zero-padded
    character-code matrices are accepted. The ``.mat`` holds them as a cell array,
    extension-less; the seed prefers the ``.mat``'s names, and so does this reader.
``.mat`` (``annot`` struct, or top-level variables)
    ``K``: per-sample 3 x 3 intrinsics (a cell array), ``imgname``, and copies of ``S``,
    ``center``, ``scale`` (the seed asserts they agree with the h5; so does this reader
    for ``S`` and the sample count).

Not confirmed by any source found (assumptions): that ``S`` has not been made
root-relative (evalH36M.m uses its root depth, so it is absolute) and that the h5's ``S``
is in millimetres like the ``.mat``'s (the seed compares them for equality).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posesynth.body.skeleton import H36M17
from posesynth.data.dataset import PoseDataset
from posesynth.data.formats.mmpose import parse_h36m_imgname
from posesynth.geometry.camera import (
    H36M_CAMERA_IDS,
    H36M_SUBJECTS,
    Camera,
    CameraModel,
    h36m_camera_extrinsics,
    h36m_camera_intrinsics,
    stack_cameras,
)
from posesynth.util.checks import as_finite_float

__all__ = ["read_seed_h5", "read_seed_h5_chunks"]

#: The file's unit for ``S``: millimetres.
MM_TO_M = 1e-3
#: Tolerance (mm) of the check that the ``.mat``'s ``S`` equals the h5's.
S_AGREEMENT_MM = 1e-2

_J = 17


def read_seed_h5(path: Path | str, mat_path: Path | str | None = None) -> PoseDataset:
    """Read the seed's ``annot/<split>.h5`` (and optional ``.mat``) into a :class:`PoseDataset`.

    Args:
        path: the ``.h5`` with datasets ``S`` and ``part`` (``center``, ``scale``, ``zind``,
            ``imgname`` optional).
        mat_path: the ``.mat`` of the same split (``annot`` struct with ``K``, optionally
            ``imgname``, ``S``, ``center``, ``scale``), or None. MATLAB v7.3 files are not
            read (scipy.io limitation).

    Returns:
        Skeleton H36M17; ``joints_3d_camera`` (N, 17, 3) metres (``S`` / 1000);
        ``joints_2d`` (N, 17, 2) px; ``visibility`` from a third ``part`` column, else
        None; ``subject``/``action``/``frame`` (0-based) parsed from the image names when
        all parse (else None; the names are kept in ``extra["imgname"]``). Cameras, when
        every sample's (subject, camera) is a Human3.6M one: extrinsics from posesynth's
        Human3.6M presets (the files carry none) and intrinsics from the ``.mat``'s ``K``
        (model ``pinhole``, as c2f uses it), or without a ``.mat`` the presets' intrinsics
        and distortion (model ``h36m``); world 3D is then derived. ``extra``: ``center``,
        ``scale``, ``zind``, ``K`` (N, 3, 3) and ``imgname`` where present.

    Raises:
        ValueError: naming the file and field for an unreadable/truncated file, missing
            ``S``/``part``, wrong shapes, NaN/inf, sample counts that differ between
            fields or between the two files, a ``.mat`` ``S`` that disagrees with the h5's,
            or a ``K`` that is not an intrinsic matrix.
    """
    path = Path(path)
    fields = _read_h5(path)
    s_mm = _check_s(fields["S"], path, "S")
    n = s_mm.shape[0]
    part = _numeric(fields["part"], path, "part")
    if part.shape[1:] not in ((_J, 2), (_J, 3)):
        raise ValueError(f"{path}: part: expected shape (N, {_J}, 2), got {part.shape}")
    _same_count(part, n, path, "part")
    extra: dict[str, np.ndarray] = {}
    if "center" in fields:
        extra["center"] = _shaped(fields["center"], path, "center", n, [(2,)])
    if "scale" in fields:
        extra["scale"] = _shaped(fields["scale"], path, "scale", n, [(), (1,)]).reshape(n)
    if "zind" in fields:
        extra["zind"] = _shaped(fields["zind"], path, "zind", n, [(_J,)])
    names = _h5_strings(fields["imgname"], n, path) if "imgname" in fields else None

    K = None
    mat_file = None if mat_path is None else Path(mat_path)
    if mat_file is not None:
        mat = _read_mat(mat_file)
        K = _check_k(mat["K"], n, mat_file)
        extra["K"] = K
        if "S" in mat:
            mat_s_mm = _check_s(mat["S"], mat_file, "S")
            _same_count(mat_s_mm, n, mat_file, "S", other=f"{path}: S")
            if not np.allclose(mat_s_mm, s_mm, rtol=0.0, atol=S_AGREEMENT_MM):
                worst = float(np.abs(mat_s_mm - s_mm).max())
                raise ValueError(
                    f"{mat_file}: S: expected the same 3D joints as {path} (within "
                    f"{S_AGREEMENT_MM} mm), got a difference of up to {worst:.4g} mm"
                )
        for field in ("center", "scale"):
            if field in mat:
                _same_count(np.asarray(mat[field]), n, mat_file, field, other=str(path))
        if "imgname" in mat:
            names = _mat_strings(mat["imgname"], n, mat_file)

    meta: dict[str, Any] = {
        "format": "seed_h5",
        "source": str(path),
        "mat_file": None if mat_file is None else str(mat_file),
        "units_assumed": "S in millimetres, camera frame (c2f-vol annotations)",
        "frame_base": 0,
    }
    subject = action = frame = camera_id = None
    if names is not None:
        extra["imgname"] = np.array(names, dtype=str)
        try:
            parsed = [parse_h36m_imgname(name) for name in names]
        except ValueError as exc:
            meta["imgname_unparsed"] = str(exc)
        else:
            if parsed:
                subject, action, camera_id, frame = (np.array(v) for v in zip(*parsed))
                frame = frame.astype(np.int64)

    cameras = camera_index = camera_names = None
    if (
        subject is not None
        and camera_id is not None
        and all(  # set together, from the image names
            s in H36M_SUBJECTS and c in H36M_CAMERA_IDS for s, c in zip(subject.tolist(), camera_id.tolist())
        )
    ):
        cameras, camera_index, camera_names = _preset_cameras(subject, camera_id, K)
        meta["cameras_source"] = (
            "intrinsics: .mat K (pinhole); extrinsics: Human3.6M presets"
            if K is not None
            else "Human3.6M presets (model h36m); the files carry no camera"
        )
    visibility = part[..., 2] if part.shape[-1] == 3 else None
    dataset = PoseDataset(
        skeleton=H36M17,
        joints_3d_camera=s_mm * MM_TO_M,
        joints_2d=part[..., :2],
        visibility=visibility,
        cameras=cameras,
        camera_index=camera_index,
        camera_names=camera_names,
        subject=subject,
        action=action,
        frame=frame,
        meta=meta,
        extra=extra,
    )
    return dataset.complete()


# ------------------------------------------------------------------------------ files
def _read_h5(path: Path) -> dict[str, np.ndarray]:
    import h5py

    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        handle = h5py.File(path, "r")
    except Exception as exc:  # OSError for truncated / not HDF5
        raise ValueError(f"{path}: not a readable HDF5 file ({type(exc).__name__}: {exc})") from exc
    with handle:
        try:
            return _h5_datasets(handle, path, h5py.Dataset)
        except ValueError:
            raise
        except Exception as exc:  # a damaged file: h5py raises RuntimeError, KeyError, OSError...
            raise ValueError(f"{path}: a damaged HDF5 file ({type(exc).__name__}: {exc})") from exc


def _h5_datasets(handle: Any, path: Path, dataset_type: type[Any]) -> dict[str, np.ndarray]:
    """The seed's datasets of an open HDF5 file (``S`` and ``part`` required)."""
    out = {}
    for key, node in _h5_nodes(handle, path, dataset_type).items():
        try:
            out[key] = np.asarray(node[()])
        except Exception as exc:
            raise ValueError(f"{path}: {key}: cannot read ({type(exc).__name__}: {exc})") from exc
    return out


def _h5_nodes(handle: Any, path: Path, dataset_type: type[Any]) -> dict[str, Any]:
    """The seed's dataset nodes of an open HDF5 file, unread (``S`` and ``part`` required)."""
    missing = [k for k in ("S", "part") if k not in handle]
    if missing:
        raise ValueError(f"{path}: missing dataset(s) {missing}; the file has {sorted(handle.keys())}")
    out = {}
    for key in ("S", "part", "center", "scale", "zind", "imgname"):
        if key not in handle:
            continue
        node = handle[key]
        if not isinstance(node, dataset_type):
            raise ValueError(f"{path}: {key}: expected a dataset, got a {type(node).__name__}")
        out[key] = node
    return out


# ------------------------------------------------------------------------ in chunks
def read_seed_h5_chunks(path: Path | str, rows: int = 10_000) -> tuple[int, Iterator[PoseDataset]]:
    """``(samples, chunks)``: :func:`read_seed_h5` of ``path`` (without a ``.mat``) as
    consecutive data sets of ``rows`` samples, each equal to ``read_seed_h5(path).select(...)``
    of its range (string widths, camera table and ``meta`` those of the whole). The datasets
    are read in slices (h5py reads a slice without the rest), so memory is a chunk.

    The sample count is ``S``'s first axis (0 when ``S`` has none). The first ``next()``
    surveys the file (:func:`_survey`: every value of ``S``, ``part``, ``center``, ``scale``
    and ``zind`` checked finite, the shapes, every image name decoded and parsed: the
    camera table), with :func:`read_seed_h5`'s errors in its order, before the first chunk.

    Raises:
        ValueError: as :func:`read_seed_h5` (a NaN named by its index in the whole file).
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        with h5py.File(path, "r") as handle:
            nodes = _h5_nodes(handle, path, h5py.Dataset)
            n = int(nodes["S"].shape[0]) if nodes["S"].ndim else 0
    except ValueError:
        raise
    except Exception as exc:  # OSError for truncated / not HDF5
        raise ValueError(f"{path}: not a readable HDF5 file ({type(exc).__name__}: {exc})") from exc
    return n, _chunks(path, rows)


def _read_slice(node: Any, lo: int, hi: int, path: Path, key: str, axis: int = 0) -> np.ndarray:
    try:
        if node.ndim == 0:
            return np.asarray(node[()])
        return np.asarray(node[lo:hi] if axis == 0 else node[:, lo:hi])
    except Exception as exc:
        raise ValueError(f"{path}: {key}: cannot read ({type(exc).__name__}: {exc})") from exc


def _check_numeric_slices(node: Any, path: Path, key: str, rows: int) -> None:
    """:func:`_numeric`'s check of a whole dataset, a slice at a time: the same message
    (the count of NaN/inf in the whole and the first one's index in it)."""
    if node.dtype.kind not in "fiu":
        raise ValueError(f"{path}: {key}: expected a numeric array, got dtype {node.dtype}")
    total, first = 0, None
    size = int(node.shape[0]) if node.ndim else 1
    for lo in range(0, size, rows):
        bad = ~np.isfinite(_read_slice(node, lo, lo + rows, path, key).astype(np.float64))
        if bad.any():
            total += int(bad.sum())
            if first is None:
                at = np.argwhere(bad)[0]
                if node.ndim:
                    at[0] += lo
                first = tuple(int(i) for i in at)
    if total:
        raise ValueError(f"{path}: {key}: expected finite values, got {total} NaN/inf (first at index {first})")


@dataclass
class _Survey:
    """What the whole file gives each chunk (:func:`_survey`)."""

    n: int
    s_swapped: bool
    part_cols: int
    extra: list[str]
    #: image names: "codes" (character codes, ``names_axis`` the sample axis), "strings", or None
    names: str | None = None
    names_axis: int = 0
    widths: dict[str, int] = field(default_factory=dict)
    parsed: bool = False
    cameras: Camera | None = None
    camera_names: np.ndarray | None = None
    slot_of: dict[tuple[str, str], int] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def _shape_check(shape: tuple[int, ...], path: Path, field_: str, n: int, options: list[tuple[int, ...]]) -> None:
    """:func:`_shaped`'s shape and count checks of a dataset's shape."""
    if len(shape) == 0 or shape[1:] not in options:
        want = " or ".join(str(("N", *t)).replace("'", "").replace(",)", ")") for t in options)
        raise ValueError(f"{path}: {field_}: expected shape {want}, got {shape}")
    if shape[:1] != (n,):
        raise ValueError(f"{path}: {field_}: expected {n} samples (as S), got shape {shape}")


def _survey(nodes: dict[str, Any], path: Path, rows: int) -> _Survey:
    """:func:`read_seed_h5`'s checks of the whole file in its order, a slice at a time."""
    s = nodes["S"]
    _check_numeric_slices(s, path, "S", rows)
    shape = tuple(s.shape)
    swapped = len(shape) == 3 and shape[1:] == (3, _J)
    if swapped:
        shape = (shape[0], _J, 3)
    if len(shape) != 3 or shape[1:] != (_J, 3):
        raise ValueError(f"{path}: S: expected shape (N, {_J}, 3) or (N, 3, {_J}), got {tuple(s.shape)}")
    n = shape[0]
    part = nodes["part"]
    _check_numeric_slices(part, path, "part", rows)
    if tuple(part.shape[1:]) not in ((_J, 2), (_J, 3)):
        raise ValueError(f"{path}: part: expected shape (N, {_J}, 2), got {tuple(part.shape)}")
    if tuple(part.shape[:1]) != (n,):
        raise ValueError(f"{path}: part: expected {n} samples (as S), got shape {tuple(part.shape)}")
    extra = []
    shapes: tuple[tuple[str, list[tuple[int, ...]]], ...] = (
        ("center", [(2,)]),
        ("scale", [(), (1,)]),
        ("zind", [(_J,)]),
    )
    for key, options in shapes:
        if key in nodes:
            _check_numeric_slices(nodes[key], path, key, rows)
            _shape_check(tuple(nodes[key].shape), path, key, n, options)
            extra.append(key)
    survey = _Survey(n, swapped, int(part.shape[2]), extra)
    survey.meta = {
        "format": "seed_h5",
        "source": str(path),
        "mat_file": None,
        "units_assumed": "S in millimetres, camera frame (c2f-vol annotations)",
        "frame_base": 0,
    }
    if "imgname" not in nodes:
        return survey
    node = nodes["imgname"]
    shape = tuple(node.shape)
    if node.dtype.kind in "iu" and len(shape) == 2:
        survey.names = "codes"
        survey.names_axis = 1 if shape[0] != n and shape[1] == n else 0
        count = shape[survey.names_axis]
        if count != n:
            got = shape if survey.names_axis == 0 else shape[::-1]
            raise ValueError(f"{path}: imgname: expected {n} samples (as S), got shape {got}")
        lows, highs = [], []
        for lo in range(0, n, rows):
            codes = _read_slice(node, lo, lo + rows, path, "imgname", survey.names_axis)
            if codes.size:
                lows.append(codes.min())
                highs.append(codes.max())
        lo_code, hi_code = min(lows, default=0), max(highs, default=0)
        if lo_code < 0 or hi_code > 0x10FFFF:
            raise ValueError(f"{path}: imgname: character codes out of range [{lo_code}, {hi_code}]")
    else:
        if len(shape) == 2 and shape[1] == 1:
            shape = shape[:1]
        if len(shape) != 1 or node.dtype.kind not in "SUO":
            raise ValueError(f"{path}: imgname: expected (N,) strings or character codes, got {shape} {node.dtype}")
        if shape != (n,):
            raise ValueError(f"{path}: imgname: expected {n} samples (as S), got shape {shape}")
        survey.names = "strings"
    # every name decoded and parsed, a slice at a time: widths, the first unparsed, the cameras
    failed: str | None = None
    pairs: dict[tuple[str, str], int] = {}
    presets = True
    widths = {"imgname": 1, "subject": 1, "action": 1}
    for lo in range(0, n, rows):
        names = _names_slice(node, survey, lo, min(lo + rows, n), path)
        widths["imgname"] = max(widths["imgname"], max((len(x) for x in names), default=1))
        if failed is not None:
            continue
        for name in names:
            try:
                subject, action, camera, _ = parse_h36m_imgname(name)
            except ValueError as exc:
                failed = str(exc)
                break
            widths["subject"] = max(widths["subject"], len(subject))
            widths["action"] = max(widths["action"], len(action))
            if (subject, camera) not in pairs:
                pairs[(subject, camera)] = len(pairs)
                presets = presets and subject in H36M_SUBJECTS and camera in H36M_CAMERA_IDS
    survey.widths = widths
    if failed is not None:
        survey.meta["imgname_unparsed"] = failed
        return survey
    survey.parsed = n > 0
    if survey.parsed and presets:
        keys = list(pairs)
        table, _, names_ = _preset_cameras(np.array([k[0] for k in keys]), np.array([k[1] for k in keys]), None)
        survey.cameras, survey.camera_names, survey.slot_of = table, names_, pairs
        survey.meta["cameras_source"] = "Human3.6M presets (model h36m); the files carry no camera"
    return survey


def _names_slice(node: Any, survey: _Survey, lo: int, hi: int, path: Path) -> list[str]:
    """Image names ``lo:hi`` decoded as :func:`_h5_strings` decodes the whole."""
    arr = _read_slice(node, lo, hi, path, "imgname", survey.names_axis)
    if survey.names == "codes":
        rows_ = arr.T if survey.names_axis == 1 else arr
        return ["".join(chr(c) for c in row if c).strip() for row in rows_.tolist()]
    if arr.ndim == 2:
        arr = arr[:, 0]
    return [_decode(item, path, f"imgname[{lo + i}]") for i, item in enumerate(arr.tolist())]


def _chunks(path: Path, rows: int) -> Iterator[PoseDataset]:
    import h5py

    try:
        handle = h5py.File(path, "r")
    except Exception as exc:
        raise ValueError(f"{path}: not a readable HDF5 file ({type(exc).__name__}: {exc})") from exc
    with handle:
        nodes = _h5_nodes(handle, path, h5py.Dataset)
        survey = _survey(nodes, path, rows)
        for lo in range(0, survey.n, rows):
            yield _chunk(nodes, survey, lo, min(lo + rows, survey.n), path)


def _chunk(nodes: dict[str, Any], survey: _Survey, lo: int, hi: int, path: Path) -> PoseDataset:
    """Samples ``lo:hi`` as :func:`read_seed_h5` makes the whole (then ``select``)."""
    s_mm = _numeric(_read_slice(nodes["S"], lo, hi, path, "S"), path, "S")
    if survey.s_swapped:
        s_mm = np.swapaxes(s_mm, 1, 2)
    part = _numeric(_read_slice(nodes["part"], lo, hi, path, "part"), path, "part")
    k = hi - lo
    extra: dict[str, np.ndarray] = {}
    for key in survey.extra:
        value = _numeric(_read_slice(nodes[key], lo, hi, path, key), path, key)
        extra[key] = value.reshape(k) if key == "scale" else value
    subject = action = frame = None
    camera_index = None
    if survey.names is not None:
        names = _names_slice(nodes["imgname"], survey, lo, hi, path)
        extra["imgname"] = np.array(names, dtype=f"<U{survey.widths['imgname']}")
        if survey.parsed:
            parsed = [parse_h36m_imgname(name) for name in names]
            subj, act, cam, fr = zip(*parsed, strict=True)
            subject = np.array(subj, dtype=f"<U{survey.widths['subject']}")
            action = np.array(act, dtype=f"<U{survey.widths['action']}")
            frame = np.array(fr).astype(np.int64)
            if survey.cameras is not None:
                camera_index = np.array([survey.slot_of[sc] for sc in zip(subj, cam, strict=True)], dtype=np.int64)
    dataset = PoseDataset(
        skeleton=H36M17,
        joints_3d_camera=s_mm * MM_TO_M,
        joints_2d=part[..., :2],
        visibility=part[..., 2] if survey.part_cols == 3 else None,
        cameras=survey.cameras if camera_index is not None else None,
        camera_index=camera_index,
        camera_names=survey.camera_names if camera_index is not None else None,
        subject=subject,
        action=action,
        frame=frame,
        meta=survey.meta,
        extra=extra,
    )
    return dataset.complete()


def _read_mat(path: Path) -> dict[str, Any]:
    """The ``annot`` struct's fields (or the top-level variables) of a MATLAB file."""
    import scipy.io

    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        content = scipy.io.loadmat(path)
    except NotImplementedError as exc:
        raise ValueError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; save it with -v7 ({exc})") from exc
    except Exception as exc:  # truncated / corrupt: ValueError, TypeError, OSError, MatReadError
        raise ValueError(f"{path}: not a readable .mat file ({type(exc).__name__}: {exc})") from exc
    fields: Mapping[str, Any] = content
    annot = content.get("annot")
    if isinstance(annot, np.ndarray) and annot.dtype.names:
        if annot.size != 1:
            raise ValueError(f"{path}: annot: expected a 1 x 1 struct, got shape {annot.shape}")
        record = annot.reshape(-1)[0]
        fields = {name: record[name] for name in annot.dtype.names}
    if "K" not in fields:
        present = sorted(k for k in fields if not k.startswith("__"))
        raise ValueError(f"{path}: missing field K (camera intrinsics); it has {present}")
    return dict(fields)


# ------------------------------------------------------------------------------ checks
def _numeric(arr: Any, path: Path, field: str) -> np.ndarray:
    return as_finite_float(arr, f"{path}: {field}")


def _same_count(arr: np.ndarray, n: int, path: Path, field: str, other: str = "S") -> None:
    if arr.shape[:1] != (n,):
        raise ValueError(f"{path}: {field}: expected {n} samples (as {other}), got shape {arr.shape}")


def _shaped(arr: Any, path: Path, field: str, n: int, options: list[tuple[int, ...]]) -> np.ndarray:
    arr = _numeric(arr, path, field)
    if arr.ndim == 0 or arr.shape[1:] not in options:
        want = " or ".join(str(("N", *t)).replace("'", "").replace(",)", ")") for t in options)
        raise ValueError(f"{path}: {field}: expected shape {want}, got {arr.shape}")
    _same_count(arr, n, path, field)
    return arr


def _check_s(arr: Any, path: Path, field: str) -> np.ndarray:
    """``S`` as (N, 17, 3) millimetres, from (N, 17, 3) or MATLAB's (N, 3, 17)."""
    arr = _numeric(arr, path, field)
    if arr.ndim == 3 and arr.shape[1:] == (3, _J):
        arr = np.swapaxes(arr, 1, 2)
    if arr.ndim != 3 or arr.shape[1:] != (_J, 3):
        raise ValueError(f"{path}: {field}: expected shape (N, {_J}, 3) or (N, 3, {_J}), got {arr.shape}")
    return arr


def _check_k(arr: Any, n: int, path: Path) -> np.ndarray:
    """Per-sample intrinsic matrices (n, 3, 3) from a cell array, (n, 3, 3), (3, 3, n) or (3, 3)."""
    arr = np.asarray(arr)
    if arr.dtype.kind == "O":
        try:
            arr = np.stack([np.asarray(item, dtype=np.float64) for item in arr.ravel()])
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: K: expected a cell array of 3 x 3 matrices ({exc})") from exc
    k = _numeric(arr, path, "K")
    if k.shape == (3, 3):
        k = np.broadcast_to(k, (n, 3, 3)).copy()
    elif k.ndim == 3 and k.shape[:2] == (3, 3) and k.shape[2] == n and k.shape[0] != n:
        k = np.moveaxis(k, 2, 0)  # MATLAB stacking 3 x 3 x N
    if k.shape[1:] != (3, 3):
        raise ValueError(f"{path}: K: expected shape (N, 3, 3) (or a cell array of 3 x 3), got {k.shape}")
    _same_count(k, n, path, "K")
    zero = np.abs(k[:, [0, 1, 2, 2], [1, 0, 0, 1]]).max(axis=1) > 1e-9
    bad = zero | (np.abs(k[:, 2, 2] - 1.0) > 1e-9) | (k[:, 0, 0] <= 0) | (k[:, 1, 1] <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{path}: K[{i}]: expected [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0, got {k[i].tolist()}"
        )
    return k


def _h5_strings(arr: np.ndarray, n: int, path: Path) -> list[str]:
    """Image names from str/bytes (N,) or (N, 1), or zero-padded character codes (N, L)/(L, N)."""
    if arr.dtype.kind in "iu" and arr.ndim == 2:
        if arr.shape[0] != n and arr.shape[1] == n:
            arr = arr.T
        _same_count(arr, n, path, "imgname")
        if arr.size and (arr.min() < 0 or arr.max() > 0x10FFFF):
            raise ValueError(f"{path}: imgname: character codes out of range [{arr.min()}, {arr.max()}]")
        return ["".join(chr(c) for c in row if c).strip() for row in arr.tolist()]
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.dtype.kind not in "SUO":
        raise ValueError(f"{path}: imgname: expected (N,) strings or character codes, got {arr.shape} {arr.dtype}")
    _same_count(arr, n, path, "imgname")
    return [_decode(item, path, f"imgname[{i}]") for i, item in enumerate(arr.tolist())]


def _mat_strings(arr: Any, n: int, path: Path) -> list[str]:
    """Names from a MATLAB cell array (N, 1) of char rows, or a char matrix read as (N,) str."""
    arr = np.asarray(arr)
    if arr.dtype.kind == "O":
        if arr.ndim != 2 or 1 not in arr.shape:
            raise ValueError(f"{path}: imgname: expected an N x 1 cell array, got shape {arr.shape}")
        out = []
        for i, item in enumerate(arr.ravel().tolist()):
            item = np.asarray(item).ravel()
            if item.size != 1:
                raise ValueError(f"{path}: imgname[{i}]: expected one string, got {item.size} items")
            out.append(_decode(item[0], path, f"imgname[{i}]"))
    else:
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1 or arr.dtype.kind not in "SU":
            raise ValueError(f"{path}: imgname: expected N strings, got {arr.shape} {arr.dtype}")
        out = [_decode(item, path, f"imgname[{i}]") for i, item in enumerate(arr.tolist())]
    if len(out) != n:
        raise ValueError(f"{path}: imgname: expected {n} samples (as the h5's S), got {len(out)}")
    return out


def _decode(item: Any, path: Path, field: str) -> str:
    if isinstance(item, bytes):
        try:
            item = item.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: {field}: not UTF-8 text ({exc})") from exc
    if not isinstance(item, str):
        raise ValueError(f"{path}: {field}: expected a string, got {type(item).__name__}")
    return item.strip()


# ----------------------------------------------------------------------------- cameras
def _preset_cameras(
    subject: np.ndarray, camera_id: np.ndarray, K: np.ndarray | None
) -> tuple[Camera, np.ndarray, np.ndarray]:
    """One camera per distinct (subject, camera[, K]); Human3.6M preset poses."""
    intrinsics_of = (lambda i: tuple(K[i][[0, 1, 0, 1], [0, 1, 2, 2]].tolist())) if K is not None else (lambda i: ())
    keys = [(s, c, intrinsics_of(i)) for i, (s, c) in enumerate(zip(subject.tolist(), camera_id.tolist()))]
    slots: dict[tuple, int] = {}
    cams: list[Camera] = []
    names: list[str] = []
    for key in keys:
        if key in slots:
            continue
        s, c, fxfycxcy = key
        rotation, center = h36m_camera_extrinsics(s, c)
        preset_intrinsics, preset_distortion, image_size = h36m_camera_intrinsics(c)
        if K is not None:
            no_distortion: Any = None  # Camera: distortion=None means all zero (the field is typed as stored)
            cam = Camera(CameraModel.PINHOLE, np.array(fxfycxcy), no_distortion, rotation, center, image_size)
        else:
            cam = Camera(CameraModel.H36M, preset_intrinsics, preset_distortion, rotation, center, image_size)
        name = f"{s}/{c}"
        if name in names:
            name = f"{name}#{sum(n.split('#')[0] == name for n in names)}"
        slots[key] = len(cams)
        cams.append(cam)
        names.append(name)
    index = np.array([slots[key] for key in keys], dtype=np.int64)
    return stack_cameras(cams), index, np.array(names)
