"""What a data set holds, as data: the report ``posesynth info`` prints and ``ps.info`` returns.

The format is detected (:func:`posesynth.data.formats.registry.detect_format`); a posesynth store is
described from its manifest (arrays, shards, config, seed) and, when it holds joints, from its
data too; every other format is read with :func:`~posesynth.data.formats.registry.read_any`.
Either way the data passes the one validator (:mod:`posesynth.data.validate`) first: inf or an
out-of-bounds value is refused with one error naming the file and the array, and NaN is
counted only where it means a missing joint. The data's description (:func:`describe_dataset`)
gives counts, value ranges, NaNs and how many poses leave the normal range of motion
(:mod:`posesynth.body.rom`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from posesynth.data.dataset import PoseDataset
    from posesynth.data.store import Store

__all__ = ["describe", "describe_dataset", "describe_path", "describe_store", "rom_summary"]

#: Angles within this many degrees outside their range count as in range (float32 rounding).
ROM_TOLERANCE_DEG = 0.1
#: Poses per batch of the ROM check (bounds memory on large data sets).
ROM_CHUNK = 50_000
#: Units of the arrays of a :class:`PoseDataset` (readers convert to them).
DATASET_UNITS = {"joints_3d": "m", "joints_2d": "px"}


def describe(data: PoseDataset | Path | str, verify: bool = False, rom: bool = True) -> dict[str, Any]:
    """The report of ``posesynth info`` for a data set in memory or at a path (JSON-ready).

    A path goes through :func:`describe_path` (store manifests, ``verify`` checks every
    file's hash); a :class:`PoseDataset` through :func:`describe_dataset`.
    """
    if isinstance(data, (str, Path)):
        return describe_path(Path(data), verify=verify, rom=rom)
    return {"path": None, "format": data.meta.get("source_format"), **describe_dataset(data, rom=rom)}


def describe_path(path: Path, verify: bool = False, rom: bool = True) -> dict[str, Any]:
    """A JSON-ready description of the data set at ``path`` (any readable format).

    Keys (at least): ``path``, ``format``, ``samples``, ``joints``, ``skeleton``,
    ``cameras`` (count), ``units``; with the data read also those of :func:`describe_dataset`.
    A store whose arrays do not form a :class:`PoseDataset` (e.g. an older layout) is
    described from its manifest only, with the reason in ``note``.
    Raises ``ValueError`` (one line) for a missing, unknown or damaged input, and for data
    the one validator refuses (:mod:`posesynth.data.validate`: inf anywhere, NaN anywhere but
    as a missing joint, values out of bounds), whatever the format: a store's values are
    checked like every other reader's.
    """
    from posesynth.data.formats.registry import detect_format, read_any
    from posesynth.data.formats.store_io import is_pose_store, read_store
    from posesynth.data.store import open_store
    from posesynth.data.validate import OutOfBounds

    fmt = detect_format(path)
    if fmt != "posesynth":
        dataset = read_any(path, format=fmt)
        return {"path": str(path), "format": fmt, **describe_dataset(dataset, rom=rom)}
    store = open_store(path)
    if verify:
        store.verify()
    doc = describe_store(store, verified=verify)
    if is_pose_store(store):
        try:
            dataset = read_store(path)
        except OutOfBounds:
            raise  # bad values are refused, as read_any refuses them
        except ValueError as exc:  # a valid store whose arrays are not a PoseDataset's
            doc["note"] = f"data not described: {exc}"
            return doc
        data = describe_dataset(dataset, rom=rom)
        data["units"] = doc["units"] if doc["units"] is not None else data["units"]
        if data["cameras"] == 0 and doc["cameras"] is not None:
            data["cameras"] = doc["cameras"]
        doc.update(data)
    return doc


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def describe_store(store: Store, verified: bool = False) -> dict[str, Any]:
    """A JSON-ready description of ``store`` from its manifest (no data read).

    Reads the ``meta`` that ``posesynth generate`` and ``write_store_dataset`` write
    (``skeleton``, ``cameras``, ``units``, ``config``, ``seed``, ``version``; ``seed`` and
    ``config`` also from ``meta.source``, the provenance of a converted data set); fields a
    store lacks are ``None``. ``joints`` falls back to the joint axis of the joint arrays
    when the skeleton is not described.
    """
    meta = store.meta
    source = _dict(meta.get("source"))
    skeleton = _dict(meta.get("skeleton"))
    cameras = _dict(meta.get("cameras"))
    joint_names = skeleton.get("joint_names")
    joints: int | None = len(joint_names) if isinstance(joint_names, list) else None
    if joints is None:
        for name in ("joints_3d_world", "joints_3d_camera", "joints_2d", "joints_3d"):
            spec = store.arrays.get(name)
            if spec is not None and len(spec.shape) >= 3:
                joints = spec.shape[-2]
                break
    count = cameras.get("count")
    if not isinstance(count, int) and cameras.get("per_sample") is True:
        count = store.samples  # one camera per sample, counted only once written (augment)
    return {
        "path": str(store.path),
        "format": "posesynth",
        "format_version": store.format_version,
        "samples": store.samples,
        "joints": joints,
        "skeleton": skeleton.get("name"),
        "cameras": count if isinstance(count, int) else None,
        "camera_model": cameras.get("model"),
        "units": meta.get("units"),
        "shards": len(store.shards),
        "arrays": {name: {"dtype": spec.dtype.str, "shape": list(spec.shape)} for name, spec in store.arrays.items()},
        "seed": meta.get("seed", source.get("seed")),
        "version": meta.get("version"),
        "config": meta.get("config", source.get("config")),
        "verified": verified,
    }


# --------------------------------------------------------------------------- the data itself


def describe_dataset(
    dataset: PoseDataset, rom: bool = True, rom_tolerance_deg: float = ROM_TOLERANCE_DEG
) -> dict[str, Any]:
    """Counts, value ranges, NaNs and range-of-motion violations of ``dataset``.

    Returns a JSON-ready dict: ``samples``, ``joints``, ``skeleton`` (name), ``joint_names``,
    ``subjects`` / ``actions`` (distinct counts, None when absent), ``cameras`` (count K),
    ``camera_model``, ``units`` (of the library: 3D in m, 2D in px), ``arrays_present``,
    ``ranges`` (per joint array: ``unit``, per-axis ``min`` / ``max`` of the finite values),
    ``nan`` (per joint array: NaN/inf values), ``nan_count`` (their total) and ``rom``
    (:func:`rom_summary`; None with ``rom=False``).
    """
    points = {
        "joints_3d_world": (dataset.joints_3d_world, "m"),
        "joints_3d_camera": (dataset.joints_3d_camera, "m"),
        "joints_2d": (dataset.joints_2d, "px"),
    }
    ranges: dict[str, Any] = {}
    nan: dict[str, int] = {}
    for name, (arr, unit) in points.items():
        if arr is None:
            continue
        finite = np.isfinite(arr)
        nan[name] = int(arr.size - finite.sum())
        rows = arr[finite.all(axis=-1)]
        ranges[name] = {
            "unit": unit,
            "min": rows.min(axis=0).tolist() if len(rows) else None,
            "max": rows.max(axis=0).tolist() if len(rows) else None,
        }
    cams = dataset.cameras
    return {
        "samples": len(dataset),
        "joints": dataset.skeleton.num_joints,
        "skeleton": dataset.skeleton.name,
        "joint_names": list(dataset.skeleton.joint_names),
        "subjects": _distinct(dataset.subject),
        "actions": _distinct(dataset.action),
        "cameras": dataset.num_cameras,
        "camera_model": None if cams is None else cams.model.value,
        "units": dict(DATASET_UNITS),
        "arrays_present": list(ranges),
        "ranges": ranges,
        "nan": nan,
        "nan_count": sum(nan.values()),
        "rom": rom_summary(dataset, rom_tolerance_deg) if rom else None,
    }


def _distinct(values: np.ndarray | None) -> int | None:
    return None if values is None else len(np.unique(np.asarray(values).astype(str)))


def rom_summary(dataset: PoseDataset, tolerance_deg: float = ROM_TOLERANCE_DEG, top: int = 5) -> dict[str, Any]:
    """How many poses leave the normal range of motion, and which angles most often.

    Angles come from :func:`posesynth.body.angles.pose_angles` (inverse kinematics) on the world
    3D joints, else the camera-frame ones (angles do not depend on the frame); poses with a
    non-finite joint are skipped and counted. An angle more than ``tolerance_deg`` outside
    its range (:func:`posesynth.body.rom.rom_violations`) is a violation.

    Returns:
        ``{"source"`` (array used), ``"checked"``, ``"skipped_non_finite"``,
        ``"samples_with_violations"``, ``"fraction"``, ``"tolerance_deg"``,
        ``"violations_by_angle"`` (name -> poses, most first, only those > 0),
        ``"most_violated"`` (up to ``top`` of ``{"angle", "samples", "limits_deg",
        "min_deg", "max_deg"}``, the extremes over the violating poses), ``"note"``}.
    """
    from posesynth.body.angles import pose_angles
    from posesynth.body.rom import rom_table, rom_violations

    source = "joints_3d_world" if dataset.joints_3d_world is not None else "joints_3d_camera"
    p = getattr(dataset, source)
    out: dict[str, Any] = {
        "source": None, "checked": 0, "skipped_non_finite": 0, "samples_with_violations": 0,
        "fraction": None, "tolerance_deg": tolerance_deg, "violations_by_angle": {},
        "most_violated": [], "note": None,
    }  # fmt: skip
    if p is None:
        out["note"] = "no 3D joints"
        return out
    skeleton = dataset.skeleton
    finite = np.isfinite(p).all(axis=(1, 2))
    poses = p[finite]
    out.update(source=source, skipped_non_finite=int((~finite).sum()))
    tol = float(np.deg2rad(tolerance_deg))
    try:
        table = rom_table(skeleton)
    except (KeyError, ValueError) as exc:
        out["note"] = f"no range-of-motion table for skeleton {skeleton.name!r} ({exc})"
        return out
    counts = dict.fromkeys(table, 0)
    lo = dict.fromkeys(table, np.inf)
    hi = dict.fromkeys(table, -np.inf)
    any_bad = 0
    for start in range(0, len(poses), ROM_CHUNK):
        chunk = poses[start : start + ROM_CHUNK]
        try:
            with np.errstate(all="ignore"):
                angles = pose_angles(chunk, skeleton)
        except ValueError as exc:
            out["note"] = f"cannot compute joint angles on skeleton {skeleton.name!r} ({exc})"
            return out
        flags = rom_violations(angles, skeleton, tol)
        bad_any = np.zeros(len(chunk), dtype=bool)
        for name, bad in flags.items():
            bad_any |= bad
            if bad.any():
                counts[name] += int(bad.sum())
                lo[name] = min(lo[name], float(angles[name][bad].min()))
                hi[name] = max(hi[name], float(angles[name][bad].max()))
        any_bad += int(bad_any.sum())
    checked = len(poses)
    ranked = sorted((n for n in counts if counts[n]), key=lambda n: (-counts[n], n))
    out.update(
        checked=checked,
        samples_with_violations=any_bad,
        fraction=any_bad / checked if checked else None,
        violations_by_angle={n: counts[n] for n in ranked},
        most_violated=[
            {
                "angle": n,
                "samples": counts[n],
                "limits_deg": [table[n].min_deg, table[n].max_deg],
                "min_deg": round(float(np.rad2deg(lo[n])), 2),
                "max_deg": round(float(np.rad2deg(hi[n])), 2),
            }
            for n in ranked[:top]
        ],
    )
    return out


# ------------------------------------------------------------------------------- rendering
