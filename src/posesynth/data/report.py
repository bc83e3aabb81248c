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

import os
from collections import deque
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from posesynth.data.dataset import PoseDataset
    from posesynth.data.store import Store

__all__ = [
    "ArrayRange",
    "ArraySpec",
    "DatasetInfo",
    "InfoReport",
    "RomSummary",
    "RomViolation",
    "StoreInfo",
    "describe",
    "describe_dataset",
    "describe_path",
    "describe_store",
    "rom_summary",
]

#: Angles within this many degrees outside their range count as in range (float32 rounding).
ROM_TOLERANCE_DEG = 0.1
#: Poses per batch of the ROM check, and samples per part of a store ``info`` reads: memory
#: stays a part's (the IK's temporaries are about 10 KB a pose; 1 M poses: 50,000 a batch
#: peaked at 690 MB, 10,000 at 285 MB, and were 1.4x slower from their larger working set).
ROM_CHUNK = 10_000
#: Units of the arrays of a :class:`PoseDataset` (readers convert to them).
DATASET_UNITS = {"joints_3d": "m", "joints_2d": "px"}


@dataclass(frozen=True)
class RomViolation:
    """One joint angle that poses leave their range of motion by, with the extremes seen."""

    angle: str
    samples: int  #: poses outside the range
    limits_deg: tuple[float, float]  #: the normal range (min, max), degrees
    min_deg: float  #: the smallest value over the violating poses, degrees
    max_deg: float  #: the largest value over the violating poses, degrees

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "limits_deg": list(self.limits_deg)}


@dataclass(frozen=True)
class RomSummary:
    """How many poses leave the normal range of motion (:func:`rom_summary`)."""

    source: str | None  #: the joint array the angles come from; None without 3D
    checked: int  #: poses checked (finite joints)
    skipped_non_finite: int
    samples_with_violations: int
    fraction: float | None  #: of the checked poses; None when none was checked
    tolerance_deg: float
    violations_by_angle: Mapping[str, int]  #: poses per angle, most first, only those > 0
    most_violated: tuple[RomViolation, ...]
    note: str | None  #: why the check could not run (then the counts are 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            **{f.name: getattr(self, f.name) for f in fields(self)},
            "violations_by_angle": dict(self.violations_by_angle),
            "most_violated": [v.to_dict() for v in self.most_violated],
        }


@dataclass(frozen=True)
class ArrayRange:
    """Per-axis range of the finite values of one joint array."""

    unit: str  #: ``m`` or ``px``
    min: tuple[float, ...] | None  #: per axis; None when no joint is finite
    max: tuple[float, ...] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "min": None if self.min is None else list(self.min),
            "max": None if self.max is None else list(self.max),
        }


@dataclass(frozen=True)
class ArraySpec:
    """dtype and shape of one store array."""

    dtype: str  #: NumPy's ``dtype.str`` (``<f4``)
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class StoreInfo:
    """What a posesynth store's manifest says beside the data (:func:`describe_store`)."""

    format_version: int
    shards: int
    arrays: Mapping[str, ArraySpec]
    seed: Any  #: the generating seed (or the source's), None when not recorded
    version: str | None  #: the posesynth version that wrote it
    config: Mapping[str, Any] | None  #: the generating configuration (open: any config's fields)
    verified: bool  #: every file's hash checked


@dataclass(frozen=True)
class DatasetInfo:
    """What the data of a :class:`PoseDataset` holds (:func:`describe_dataset`)."""

    samples: int
    joints: int
    skeleton: str
    joint_names: tuple[str, ...]
    subjects: int | None  #: distinct subjects; None without subject labels
    actions: int | None  #: distinct actions; None without action labels
    cameras: int  #: K distinct cameras
    camera_model: str | None
    units: Any  #: unit per quantity (a mapping): the library's, or the store's own
    arrays_present: tuple[str, ...]  #: the joint arrays held
    ranges: Mapping[str, ArrayRange]  #: per joint array
    nan: Mapping[str, int]  #: NaN/inf values per joint array
    nan_count: int
    rom: RomSummary | None  #: None with ``rom=False``

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "joints": self.joints,
            "skeleton": self.skeleton,
            "joint_names": list(self.joint_names),
            "subjects": self.subjects,
            "actions": self.actions,
            "cameras": self.cameras,
            "camera_model": self.camera_model,
            "units": _copy(self.units),
            "arrays_present": list(self.arrays_present),
            "ranges": {k: v.to_dict() for k, v in self.ranges.items()},
            "nan": dict(self.nan),
            "nan_count": self.nan_count,
            "rom": None if self.rom is None else self.rom.to_dict(),
        }


@dataclass(frozen=True)
class InfoReport:
    """The report of ``posesynth info`` (:meth:`to_dict` is its ``--json`` document) and of
    ``ps.info``.

    The top-level fields are always there; ``store`` holds what only a posesynth store's
    manifest says, ``data`` what only reading the data tells (None when the data were not
    read: a store whose arrays do not form a :class:`PoseDataset`, with the reason in ``note``).
    """

    path: str | None  #: None for a data set in memory
    format: str | None  #: the detected format (in memory: the reader's, if recorded)
    samples: int
    joints: int | None  #: None when a store describes neither skeleton nor joint arrays
    skeleton: str | None
    cameras: int | None
    camera_model: str | None
    units: Any  #: unit per quantity (a mapping); a store's as its manifest records them, or None
    store: StoreInfo | None = None
    data: DatasetInfo | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON document; its keys come in the order ``posesynth info --json`` has always
        printed (a store's manifest fields first, then the data's)."""
        top = {
            "path": self.path,
            "format": self.format,
            "samples": self.samples,
            "joints": self.joints,
            "skeleton": self.skeleton,
            "cameras": self.cameras,
            "camera_model": self.camera_model,
            "units": _copy(self.units),
        }
        data = {} if self.data is None else self.data.to_dict()
        if self.store is None:  # read by a format reader: the data's description, in its order
            doc = {"path": self.path, "format": self.format, **data}
            doc.update(top)
        else:
            st = self.store
            doc = {
                "path": self.path,
                "format": self.format,
                "format_version": st.format_version,
                **{k: top[k] for k in ("samples", "joints", "skeleton", "cameras", "camera_model", "units")},
                "shards": st.shards,
                "arrays": {k: v.to_dict() for k, v in st.arrays.items()},
                "seed": st.seed,
                "version": st.version,
                "config": _copy(st.config),
                "verified": st.verified,
                **{k: v for k, v in data.items() if k not in top},  # the data's own fields after
            }
        if self.note is not None:
            doc["note"] = self.note
        return doc


def describe(data: PoseDataset | Path | str, verify: bool = False, rom: bool = True) -> InfoReport:
    """The report of ``posesynth info`` for a data set in memory or at a path.

    A path goes through :func:`describe_path` (store manifests, ``verify`` checks every
    file's hash); a :class:`PoseDataset` through :func:`describe_dataset`.
    """
    if isinstance(data, (str, Path)):
        return describe_path(Path(data), verify=verify, rom=rom)
    return _from_data(None, data.meta.get("source_format"), describe_dataset(data, rom=rom))


def _from_data(path: str | None, fmt: str | None, data: DatasetInfo) -> InfoReport:
    return InfoReport(
        path=path,
        format=fmt,
        samples=data.samples,
        joints=data.joints,
        skeleton=data.skeleton,
        cameras=data.cameras,
        camera_model=data.camera_model,
        units=data.units,
        data=data,
    )


def describe_path(path: Path, verify: bool = False, rom: bool = True) -> InfoReport:
    """The :class:`InfoReport` of the data set at ``path`` (any readable format).

    A store whose arrays do not form a :class:`PoseDataset` (e.g. an older layout) is
    described from its manifest only (``data`` None), with the reason in ``note``.
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
        data = _describe_by_parts(path, fmt, rom)
        if data is None:  # read whole, which names what is wrong as before
            data = describe_dataset(read_any(path, format=fmt), rom=rom)
        return _from_data(str(path), fmt, data)
    store = open_store(path)
    if verify:
        store.verify()
    report = describe_store(store, verified=verify)
    if not is_pose_store(store):
        return report
    data = _describe_by_parts(path, fmt, rom)
    if data is None:  # read whole, which names what is wrong as before
        try:
            dataset = read_store(path)
        except OutOfBounds:
            raise  # bad values are refused, as read_any refuses them
        except ValueError as exc:  # a valid store whose arrays are not a PoseDataset's
            return replace(report, note=f"data not described: {exc}")
        data = describe_dataset(dataset, rom=rom)
    if report.units is not None:  # the store's own units (they name its angles too)
        data = replace(data, units=report.units)
    if data.cameras == 0 and report.cameras is not None:
        data = replace(data, cameras=report.cameras)
    return replace(
        report,
        samples=data.samples,
        joints=data.joints,
        skeleton=data.skeleton,
        cameras=data.cameras,
        camera_model=data.camera_model,
        units=data.units,
        data=data,
    )


def _describe_by_parts(path: Path, fmt: str, rom: bool) -> DatasetInfo | None:
    """:func:`describe_dataset` of the data at ``path`` read :data:`ROM_CHUNK` samples at a
    time where its format has a chunk reader (a store; MMPose, TRC, the seed's ``.h5``,
    VideoPose3D: :data:`~posesynth.data.formats.registry.CHUNK_READERS`), so memory is a part,
    not the whole as float64. None where it has none, or it is empty, or a part is refused,
    or a reader gives up: the whole read then gives the error (the first bad value of the
    whole, as before) or the description."""
    from posesynth.data.formats.registry import CHUNK_READERS, iter_chunks

    if fmt not in CHUNK_READERS:
        return None
    try:
        _, chunks = iter_chunks(path, fmt, ROM_CHUNK)
        return describe_chunks(chunks, rom=rom)
    except Exception:  # any failure: the whole read is the reference, and names it
        return None


def _copy(value: Any) -> Any:
    """A mapping as a new plain dict (the document owns its values), anything else as is."""
    return dict(value) if isinstance(value, Mapping) else value


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def describe_store(store: Store, verified: bool = False) -> InfoReport:
    """The :class:`InfoReport` of ``store`` from its manifest (no data read; ``data`` None).

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
    return InfoReport(
        path=str(store.path),
        format="posesynth",
        samples=store.samples,
        joints=joints,
        skeleton=skeleton.get("name"),
        cameras=count if isinstance(count, int) else None,
        camera_model=cameras.get("model"),
        units=meta.get("units"),
        store=StoreInfo(
            format_version=store.format_version,
            shards=len(store.shards),
            arrays={name: ArraySpec(spec.dtype.str, tuple(spec.shape)) for name, spec in store.arrays.items()},
            seed=meta.get("seed", source.get("seed")),
            version=meta.get("version"),
            config=meta.get("config", source.get("config")),
            verified=verified,
        ),
    )


# --------------------------------------------------------------------------- the data itself


def describe_dataset(
    dataset: PoseDataset, rom: bool = True, rom_tolerance_deg: float = ROM_TOLERANCE_DEG
) -> DatasetInfo:
    """Counts, value ranges, NaNs and range-of-motion violations of ``dataset``.

    Returns a :class:`DatasetInfo`: ``units`` are the library's (3D in m, 2D in px),
    ``ranges`` per joint array per-axis ``min`` / ``max`` of the finite values, ``nan`` per
    joint array the NaN/inf values, ``rom`` the :func:`rom_summary` (None with ``rom=False``).
    """
    return describe_chunks([dataset], rom, rom_tolerance_deg)


def describe_chunks(
    chunks: Iterable[PoseDataset], rom: bool = True, rom_tolerance_deg: float = ROM_TOLERANCE_DEG
) -> DatasetInfo:
    """:func:`describe_dataset` of the data set whose consecutive parts are ``chunks`` (one
    held at a time, e.g. a store's :func:`~posesynth.data.formats.registry.iter_store_chunks`):
    every figure is a count, an extreme or a set of names, merged over the parts, so the
    description is the whole's.

    Raises:
        ValueError: no chunks (an empty data set is described whole).
    """
    tally: _Tally | None = None
    try:
        for chunk in chunks:
            if tally is None:
                rom_tally = _RomTally(chunk.skeleton, rom_tolerance_deg, _rom_workers()) if rom else None
                tally = _Tally(chunk, rom_tally)
            tally.add(chunk)
        if tally is None:
            raise ValueError("chunks: expected at least one part, got none")
        return tally.result()
    finally:
        if tally is not None and tally.rom is not None:
            tally.rom.close(cancel=True)  # after an error: no thread left running


def _same_names(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


def _rom_workers() -> int:
    """Threads for the ROM check's IK: the cores this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


_POINTS = (("joints_3d_world", "m"), ("joints_3d_camera", "m"), ("joints_2d", "px"))


def _finite_point_extremes(arr: np.ndarray) -> tuple[int, np.ndarray | None, np.ndarray | None]:
    """Of points ``arr (..., k)``: the count of non-finite values, and the per-axis min and
    max ``(k,)`` of the points whose coordinates are all finite (None if there is none).

    The extremes of every point come first, one coordinate at a time (no temporary; 6x
    faster than ``min(axis=0)``, whose inner loop is ``k`` long): when they are finite, so
    is every value, and they are the answer. Only a part with a non-finite value pays for
    the mask and the copy of its finite points (a million poses: 0.4 GB less memory touched
    per array). The extremes are the masked path's bit for bit, signed zeros included
    (``tests/test_info_chunked.py``)."""
    flat = arr.reshape(-1, arr.shape[-1])
    if len(flat):
        lo = np.array([flat[:, c].min() for c in range(flat.shape[1])])
        hi = np.array([flat[:, c].max() for c in range(flat.shape[1])])
        if np.isfinite(lo).all() and np.isfinite(hi).all():
            return 0, lo, hi
    finite = np.isfinite(arr)
    rows = arr[finite.all(axis=-1)]
    if not len(rows):
        return int(arr.size - finite.sum()), None, None
    return int(arr.size - finite.sum()), rows.min(axis=0), rows.max(axis=0)


class _Tally:
    """What :func:`describe_chunks` keeps between parts: counts, per-axis extremes of the
    finite points, NaNs, distinct subject and action names, and the ROM tally."""

    def __init__(self, first: PoseDataset, rom: _RomTally | None) -> None:
        self.first = first.select(np.zeros(0, np.int64))  # its skeleton, cameras' model, arrays
        self.samples = 0
        self.cameras = 0
        self.lo: dict[str, np.ndarray | None] = {}
        self.hi: dict[str, np.ndarray | None] = {}
        self.nan: dict[str, int] = {}
        self.names: dict[str, set[str] | None] = {"subject": None, "action": None}
        self.rom = rom
        self.table: tuple[int, np.ndarray | None] | None = None  # the first part's camera table
        self.own_tables = False
        self.camera_names: set[str] = set()

    def add(self, part: PoseDataset) -> None:
        self.samples += len(part)
        if part.camera_index is None:  # cameras of their own samples add up
            self.cameras += part.num_cameras
        else:
            self._add_table(part)
        for name, _ in _POINTS:
            arr = getattr(part, name)
            if arr is None:
                continue
            missing, rows_lo, rows_hi = _finite_point_extremes(arr)
            self.nan[name] = self.nan.get(name, 0) + missing
            lo, hi = self.lo.get(name), self.hi.get(name)
            if rows_lo is not None and rows_hi is not None:
                lo = rows_lo if lo is None else np.minimum(lo, rows_lo)
                hi = rows_hi if hi is None else np.maximum(hi, rows_hi)
            self.lo[name], self.hi[name] = lo, hi
        for key in self.names:
            values = getattr(part, key)
            if values is not None:
                seen = self.names[key] = self.names[key] or set()
                seen.update(np.unique(np.asarray(values).astype(str)).tolist())
        if self.rom is not None:
            self.rom.add(part)

    def _add_table(self, part: PoseDataset) -> None:
        """A part's camera table: a store's is every part's (its size is the count); a reader
        of another format makes each part its own (MMPose), whose cameras are named: the
        whole's are the distinct names."""
        names = None if part.camera_names is None else np.asarray(part.camera_names).astype(str)
        if self.table is None:
            self.table = (part.num_cameras, names)
            self.cameras = part.num_cameras
        elif self.table[0] != part.num_cameras or not _same_names(self.table[1], names):
            self.own_tables = True
        if names is not None:
            self.camera_names.update(names.tolist())
        if self.own_tables:
            if names is None:
                raise ValueError("parts: camera tables of their own without camera names")
            self.cameras = len(self.camera_names)

    def result(self) -> DatasetInfo:
        ds = self.first
        ranges = {}
        for name, unit in _POINTS:
            if name in self.nan:
                lo, hi = self.lo[name], self.hi[name]
                ranges[name] = ArrayRange(
                    unit=unit,
                    min=None if lo is None else tuple(lo.tolist()),
                    max=None if hi is None else tuple(hi.tolist()),
                )
        subjects, actions = self.names["subject"], self.names["action"]
        return DatasetInfo(
            samples=self.samples,
            joints=ds.skeleton.num_joints,
            skeleton=ds.skeleton.name,
            joint_names=tuple(ds.skeleton.joint_names),
            subjects=None if subjects is None else len(subjects),
            actions=None if actions is None else len(actions),
            cameras=self.cameras,
            camera_model=None if ds.cameras is None else ds.cameras.model.value,
            units=dict(DATASET_UNITS),
            arrays_present=tuple(ranges),
            ranges=ranges,
            nan=dict(self.nan),
            nan_count=sum(self.nan.values()),
            rom=None if self.rom is None else self.rom.summary(),
        )


def rom_summary(dataset: PoseDataset, tolerance_deg: float = ROM_TOLERANCE_DEG, top: int = 5) -> RomSummary:
    """How many poses leave the normal range of motion, and which angles most often.

    Angles come from :func:`posesynth.body.angles.pose_angles` (inverse kinematics) on the world
    3D joints, else the camera-frame ones (angles do not depend on the frame); poses with a
    non-finite joint are skipped and counted. An angle more than ``tolerance_deg`` outside
    its range (:func:`posesynth.body.rom.rom_violations`) is a violation.

    Returns:
        A :class:`RomSummary`; ``most_violated`` holds up to ``top`` :class:`RomViolation`
        records, the extremes over the violating poses. When the check cannot run (no 3D, no
        range-of-motion table, no angles for the skeleton) ``note`` says why.
    """
    tally = _RomTally(dataset.skeleton, tolerance_deg, _rom_workers())
    try:
        tally.add(dataset)
        return tally.summary(top)
    finally:
        tally.close(cancel=True)


class _RomTally:
    """:func:`rom_summary` over consecutive parts of a data set: per angle the violating poses
    and their extremes, merged part by part. The poses go through the IK in batches of
    :data:`ROM_CHUNK`, each pose on its own, on ``workers`` threads (NumPy releases the GIL in
    its loops: 1.8x on 2 cores, the same angles), at most ``workers`` batches waiting."""

    def __init__(self, skeleton: Any, tolerance_deg: float, workers: int = 1) -> None:
        from posesynth.body.rom import rom_table

        self.skeleton = skeleton
        self.tolerance_deg = tolerance_deg
        self.tol = float(np.deg2rad(tolerance_deg))
        self.source: str | None = None
        self.skipped = 0
        self.checked = 0
        self.any_bad = 0
        self.note: str | None = None
        self.table: Any = None
        self.table_note: str | None = None
        try:
            self.table = rom_table(skeleton)
        except (KeyError, ValueError) as exc:
            self.table_note = f"no range-of-motion table for skeleton {skeleton.name!r} ({exc})"
        names = self.table or {}
        self.counts = dict.fromkeys(names, 0)
        self.lo = dict.fromkeys(names, np.inf)
        self.hi = dict.fromkeys(names, -np.inf)
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[Any]] = deque()
        self._batches = 0

    def add(self, part: PoseDataset) -> None:
        source = "joints_3d_world" if part.joints_3d_world is not None else "joints_3d_camera"
        p = getattr(part, source)
        if p is None:
            self.note = "no 3D joints"
            return
        finite = np.isfinite(p).all(axis=(1, 2))
        poses = p[finite]
        self.source = source
        self.skipped += int((~finite).sum())
        if self.table is None or self.note is not None:
            return
        for start in range(0, len(poses), ROM_CHUNK):
            chunk = poses[start : start + ROM_CHUNK]
            if self.workers <= 1 or self._batches == 0:  # the first here: its kernels load once
                self._fold(self._angles(chunk))
            else:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.workers)
                self._pending.append(self._pool.submit(self._angles, chunk))
                while len(self._pending) > self.workers:
                    self._fold(self._pending.popleft().result())
            self._batches += 1
        self.checked += len(poses)

    def _angles(self, chunk: np.ndarray) -> dict[str, np.ndarray] | str:
        """The batch's angles, or the note when the IK refuses it."""
        from posesynth.body.angles import pose_angles

        try:
            with np.errstate(all="ignore"):  # per thread: set where the IK runs
                return pose_angles(chunk, self.skeleton)
        except ValueError as exc:
            return f"cannot compute joint angles on skeleton {self.skeleton.name!r} ({exc})"

    def _fold(self, angles: dict[str, np.ndarray] | str) -> None:
        from posesynth.body.rom import rom_violations

        if self.note is not None:
            return
        if isinstance(angles, str):
            self.note = angles
            return
        flags = rom_violations(angles, self.skeleton, self.tol)
        bad_any: np.ndarray | None = None
        for name, bad in flags.items():
            bad_any = bad.copy() if bad_any is None else bad_any | bad
            if bad.any():
                self.counts[name] += int(bad.sum())
                self.lo[name] = min(self.lo[name], float(angles[name][bad].min()))
                self.hi[name] = max(self.hi[name], float(angles[name][bad].max()))
        self.any_bad += 0 if bad_any is None else int(bad_any.sum())

    def close(self, cancel: bool = False) -> None:
        """Fold the batches still running (or, with ``cancel``, drop them) and end the threads."""
        try:
            while self._pending and not cancel:
                self._fold(self._pending.popleft().result())
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
            self._pending.clear()

    def summary(self, top: int = 5) -> RomSummary:
        self.close()
        out: dict[str, Any] = {
            "source": None, "checked": 0, "skipped_non_finite": 0, "samples_with_violations": 0,
            "fraction": None, "tolerance_deg": self.tolerance_deg, "violations_by_angle": {},
            "most_violated": (), "note": None,
        }  # fmt: skip
        if self.note == "no 3D joints":
            out["note"] = self.note
            return RomSummary(**out)
        out.update(source=self.source, skipped_non_finite=self.skipped)
        if self.table is None or self.note is not None:
            out["note"] = self.table_note if self.table is None else self.note
            return RomSummary(**out)
        counts, table = self.counts, self.table
        checked = self.checked
        ranked = sorted((n for n in counts if counts[n]), key=lambda n: (-counts[n], n))
        out.update(
            checked=checked,
            samples_with_violations=self.any_bad,
            fraction=self.any_bad / checked if checked else None,
            violations_by_angle={n: counts[n] for n in ranked},
            most_violated=tuple(
                RomViolation(
                    angle=n,
                    samples=counts[n],
                    limits_deg=(table[n].min_deg, table[n].max_deg),
                    min_deg=round(float(np.rad2deg(self.lo[n])), 2),
                    max_deg=round(float(np.rad2deg(self.hi[n])), 2),
                )
                for n in ranked[:top]
            ),
        )
        return RomSummary(**out)


# ------------------------------------------------------------------------------- rendering
