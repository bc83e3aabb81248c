"""A :class:`PoseDataset` to and from posesynth's own store (see :mod:`posesynth.data.store`).

Arrays of a pose store (every one ``(N, ...)``, one row per sample)::

    joints_3d_world    (N, J, 3) m, world frame (Z up)      } at least one of the three
    joints_3d_camera   (N, J, 3) m, camera frame (OpenCV)   }
    joints_2d          (N, J, 2) px                         }
    visibility         (N, J)    in [0, 1]
    subject, action    (N,)      fixed-width unicode (``<U…``), never object dtype
    frame              (N,)      int
    camera_index       (N,)      int64 into the camera table in ``meta.cameras.table``
    camera_intrinsics  (N, 4), camera_distortion (N, D), camera_rotation (N, 3, 3),
    camera_center (N, 3), camera_image_size (N, 2)     one camera per sample (no table)
    camera_name        (N,)      unicode, per-sample camera ids (no table)
    <anything else>    (N, ...)  the dataset's ``extra`` arrays (``angles``, ``activity``...)

``meta``: ``skeleton`` (``Skeleton.to_dict()``), ``cameras`` (``model``, ``count``,
``per_sample``, and ``table`` = ``Camera.to_dict()`` + ``names`` when there is a table),
``units``, ``frames``, ``version`` (of the package that wrote it), ``writer`` and ``source``
(the written dataset's own ``meta``: its provenance). ``posesynth generate`` writes the same
layout (per-sample cameras, with its config and seed at the top level of ``meta``).

Floats keep their dtype (float64 round trips exactly, float32 stores read back exactly);
camera tables go through JSON, which holds float64 exactly.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import DTypeLike

from posesynth import __version__
from posesynth.body.skeleton import Skeleton
from posesynth.data.dataset import PoseDataset
from posesynth.data.store import Store, StoreWriter, open_store
from posesynth.data.validate import OutOfBounds, validate_camera_fields, validate_dataset
from posesynth.geometry.camera import Camera, CameraModel
from posesynth.util.jsonable import to_jsonable

__all__ = [
    "POINT_ARRAYS",
    "RESERVED_ARRAYS",
    "camera_meta",
    "camera_store_arrays",
    "compact_dtypes",
    "dataset_from_store_arrays",
    "dataset_store_arrays",
    "is_pose_store",
    "pose_store_meta",
    "read_store",
    "storable",
    "store_meta",
    "write_store_dataset",
]

#: The arrays holding joints; a store with none of them is not a pose store.
POINT_ARRAYS = ("joints_3d_world", "joints_3d_camera", "joints_2d")
_CAMERA_FIELDS = {  # store array -> Camera field
    "camera_intrinsics": "intrinsics",
    "camera_distortion": "distortion",
    "camera_rotation": "rotation",
    "camera_center": "center",
    "camera_image_size": "image_size",
}
_ID_ARRAYS = ("subject", "action", "frame")
#: Array names with a fixed meaning; any other array of a store is an ``extra`` array.
RESERVED_ARRAYS = frozenset((*POINT_ARRAYS, "visibility", *_ID_ARRAYS, "camera_index", "camera_name", *_CAMERA_FIELDS))
_STRUCTURAL_META = ("skeleton", "cameras")
_CONVENTION = "X_cam = R (X_world - C); OpenCV camera frame; pixel (0,0) = centre of top-left pixel"
DEFAULT_SHARD_SIZE = 20_000


# ----------------------------------------------------------------------------------- reading


def is_pose_store(store: Store) -> bool:
    """True when ``store`` holds at least one of :data:`POINT_ARRAYS`."""
    return any(name in store.arrays for name in POINT_ARRAYS)


def read_store(
    path: Path | str,
    skeleton: Skeleton | None = None,
    arrays: Collection[str] | None = None,
    *,
    validate: bool = True,
) -> PoseDataset:
    """Read the posesynth store at ``path`` into memory as a :class:`PoseDataset`.

    Args:
        path: the store's folder (holding ``dataset.json``).
        skeleton: used only when the store's ``meta`` has no ``skeleton``.
        arrays: read only these of the store's arrays (names it lacks are ignored), e.g.
            to leave out 2D and ``angles`` when only 3D is needed; default all.
        validate: check the values with the one validator
            (:func:`posesynth.data.validate.validate_dataset`), as every reader's output is
            checked: finite, within the documented bounds (NaN only as a missing joint).

    Returns:
        The dataset, arrays copied out of the files (not memory maps), float64 points
        (metres / pixels, as stored). Cameras: the table of ``meta.cameras.table`` with
        ``camera_index`` when the store has both, else one camera per sample
        (``camera_index`` None) from the ``camera_*`` arrays, else none. Arrays other than
        the reserved ones (``angles``, ``activity``, ``height``...) go to ``extra``; ``meta``
        is the store's ``meta`` without ``skeleton`` and ``cameras`` (now objects), plus
        ``source_format`` and ``source_path``.

    Raises:
        ValueError: naming the store and what is wrong (not a store, no joint arrays, no
            skeleton, a camera array missing, inconsistent shapes);
            :class:`~posesynth.data.validate.OutOfBounds` (a ``ValueError``) naming the store,
            the array and the first bad sample when a value is out of bounds (inf anywhere,
            NaN in cameras or visibility, a focal length below 1 px...).
    """
    store = open_store(path)
    where = store.path
    if not is_pose_store(store):
        raise ValueError(
            f"{where}: a posesynth store without joint arrays (it holds {list(store.arrays)}; "
            f"expected at least one of {list(POINT_ARRAYS)})"
        )
    names = [n for n in store.array_names if arrays is None or n in arrays]
    if not any(n in POINT_ARRAYS for n in names):
        raise ValueError(f"{where}: none of the arrays asked for ({sorted(arrays or ())}) holds joints")
    data = {}
    for name in names:
        arr = store.read(name)  # one shard: a memory map, to copy; several: already a new array
        data[name] = np.array(arr) if isinstance(arr, np.memmap) else arr
    dataset = dataset_from_store_arrays(store.meta, data, where, skeleton)
    if validate:
        validate_dataset(dataset, where)
    return replace(dataset, meta={**dataset.meta, "source_format": "posesynth", "source_path": str(where)})


def dataset_from_store_arrays(
    meta: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    where: Path | str,
    skeleton: Skeleton | None = None,
) -> PoseDataset:
    """The :class:`PoseDataset` of a pose store's ``meta`` and whole arrays (see
    :func:`read_store`; ``where`` names the data in error messages).

    Camera values are checked (:func:`~posesynth.data.validate.validate_camera_fields`)
    before the cameras are built; the rest is left to the caller's
    :func:`~posesynth.data.validate.validate_dataset`."""
    where = Path(where)
    skel = _read_skeleton(meta, where, skeleton)
    cameras, camera_index, camera_names = _read_cameras(meta, arrays, where)
    extra = {k: v for k, v in arrays.items() if k not in RESERVED_ARRAYS}
    out_meta = {k: v for k, v in meta.items() if k not in _STRUCTURAL_META}
    try:
        return PoseDataset(
            skeleton=skel,
            **{name: arrays.get(name) for name in (*POINT_ARRAYS, "visibility", *_ID_ARRAYS)},
            cameras=cameras,
            camera_index=camera_index,
            camera_names=camera_names,
            meta=out_meta,
            extra=extra,
        )
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _read_skeleton(meta: Mapping[str, Any], where: Path, fallback: Skeleton | None) -> Skeleton:
    data = meta.get("skeleton")
    if data is None:
        if fallback is None:
            raise ValueError(f"{where}: meta has no 'skeleton'; pass the skeleton explicitly")
        return fallback
    try:
        return Skeleton.from_dict(data)
    except ValueError as exc:
        raise ValueError(f"{where}: meta field 'skeleton': {exc}") from None


def _read_cameras(
    meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray], where: Path
) -> tuple[Camera | None, np.ndarray | None, np.ndarray | None]:
    info = meta.get("cameras")
    info = info if isinstance(info, Mapping) else {}
    present = [name for name in _CAMERA_FIELDS if name in arrays]
    table = info.get("table")
    try:
        if "camera_index" in arrays:
            if not isinstance(table, Mapping):
                raise ValueError("has a 'camera_index' array but no camera table in meta field 'cameras.table'")
            validate_camera_fields(where, **_table_values(table))
            cameras = Camera.from_dict(table)
            names = info.get("names")
            return cameras, arrays["camera_index"], None if names is None else np.array(names, dtype=str)
        if not present:
            return None, None, None
        missing = sorted(set(_CAMERA_FIELDS) - set(present) - {"camera_distortion"})
        if missing:
            raise ValueError(f"has per-sample camera arrays {present} but misses {missing}")
        if "model" not in info:
            raise ValueError("has camera arrays but no camera model in meta field 'cameras.model'")
        model = CameraModel.parse(info["model"])
        fields: dict[str, Any] = {  # distortion may be None (Camera: all zero)
            field: arrays[name] for name, field in _CAMERA_FIELDS.items() if name in arrays
        }
        fields.setdefault("distortion", None)
        validate_camera_fields(where, **fields)
        return Camera(model=model, **fields), None, arrays.get("camera_name")
    except OutOfBounds:
        raise  # names the store and the field already
    except ValueError as exc:
        raise ValueError(f"{where}: cameras: {exc}") from None


def _table_values(table: Mapping[str, Any]) -> dict[str, Any]:
    """The numeric fields of a camera table (``Camera.to_dict()``) that hold numbers, for
    :func:`~posesynth.data.validate.validate_camera_fields`; anything else is left to
    :meth:`Camera.from_dict`'s own errors."""
    values: dict[str, Any] = {}
    for field in ("intrinsics", "distortion", "rotation", "center", "image_size"):
        try:
            value = np.asarray(table.get(field), dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if value.size and value.ndim >= 1:
            values[field] = value
    values.setdefault("intrinsics", np.zeros((0, 4)))
    return values


# ----------------------------------------------------------------------------------- writing


def write_store_dataset(
    dataset: PoseDataset,
    path: Path | str,
    overwrite: bool = False,
    shard_size: int = DEFAULT_SHARD_SIZE,
) -> Path:
    """Write ``dataset`` as a posesynth store at ``path`` (atomically) and return ``path``.

    Every array keeps its dtype (float64 points stay float64, so :func:`read_store` gives the
    same values bit for bit); strings become fixed-width unicode ``.npy`` (never pickled
    object arrays). A camera table (``camera_index`` given) goes to ``meta.cameras.table``
    as JSON; one camera per sample goes to the ``camera_*`` arrays. ``meta.source`` keeps the
    dataset's own ``meta`` (converted to JSON types: paths and unknown objects as strings,
    NaN/inf as null).

    Raises:
        ValueError: an empty dataset, an ``extra`` name that clashes with a reserved array
            or is not a valid file name, a non-string object array, or ``path`` existing
            without ``overwrite`` (see :class:`posesynth.data.store.StoreWriter`).
    """
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(f"shard_size: expected an integer >= 1, got {shard_size!r}")
    n = len(dataset)
    if n == 0:
        raise ValueError(f"{path}: the dataset has no samples; a posesynth store needs at least one")
    arrays = dataset_store_arrays(dataset)
    meta = _dataset_meta(dataset)
    with StoreWriter(path, meta, overwrite=overwrite) as writer:
        for start in range(0, n, shard_size):
            writer.write_shard({k: v[start : start + shard_size] for k, v in arrays.items()})
        return writer.commit()


def compact_dtypes(float_dtype: DTypeLike) -> dict[str, np.dtype]:
    """Storage dtypes of a compact store (``generate``'s): joints in ``float_dtype``,
    visibility as ``uint8`` 0/1, image sizes as ``int32``; cameras stay float64."""
    f = np.dtype(float_dtype)
    return {**dict.fromkeys(POINT_ARRAYS, f), "visibility": np.dtype(np.uint8), "camera_image_size": np.dtype(np.int32)}


def dataset_store_arrays(dataset: PoseDataset, dtypes: Mapping[str, DTypeLike] | None = None) -> dict[str, np.ndarray]:
    """The store arrays of ``dataset`` (see the module docstring): a camera table becomes
    ``camera_index`` (the table goes to ``meta``), per-sample cameras the ``camera_*`` arrays.

    ``dtypes`` maps store array names to the dtype they are written in (e.g.
    :func:`compact_dtypes`); arrays it does not name keep the dataset's dtype.
    """
    arrays = _dataset_store_arrays(dataset)
    for name, dtype in (dtypes or {}).items():
        if name in arrays:
            arrays[name] = arrays[name].astype(dtype, copy=False)
    return arrays


def _dataset_store_arrays(dataset: PoseDataset) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for name in (*POINT_ARRAYS, "visibility", *_ID_ARRAYS):
        value = getattr(dataset, name)
        if value is not None:
            arrays[name] = storable(value, name)
    cams = dataset.cameras
    if cams is not None:
        if dataset.camera_index is not None:
            arrays["camera_index"] = np.asarray(dataset.camera_index, dtype=np.int64)
        else:
            arrays.update(camera_store_arrays(cams))
            if dataset.camera_names is not None:
                arrays["camera_name"] = storable(dataset.camera_names, "camera_names")
    for name, value in dataset.extra.items():
        if name in RESERVED_ARRAYS:
            raise ValueError(
                f"extra.{name}: the name is reserved for the store's own arrays {sorted(RESERVED_ARRAYS)}; rename it"
            )
        arrays[name] = storable(value, f"extra.{name}")
    return arrays


def camera_store_arrays(cameras: Camera) -> dict[str, np.ndarray]:
    """The ``camera_*`` store arrays of per-sample ``cameras`` (a batch of shape (N,)), in
    the cameras' own dtypes (no copies)."""
    return {name: np.asarray(getattr(cameras, field)) for name, field in _CAMERA_FIELDS.items()}


def storable(value: Any, name: str) -> np.ndarray:
    """``value`` as an array the store can hold: object arrays of str become ``<U…``."""
    arr = np.asarray(value)
    if arr.dtype.kind != "O":
        return arr
    flat = arr.ravel()
    if not all(isinstance(v, str) for v in flat):
        kinds = sorted({type(v).__name__ for v in flat if not isinstance(v, str)})
        raise ValueError(f"{name}: an object array holding {kinds} cannot be stored; expected numbers or str")
    width = max((len(v) for v in flat), default=1)
    return arr.astype(f"<U{max(width, 1)}")


def _dataset_meta(dataset: PoseDataset) -> dict[str, Any]:
    cams = dataset.cameras
    table = cams if cams is not None and dataset.camera_index is not None else None
    return pose_store_meta(
        dataset.skeleton, dataset.meta, extra=dataset.extra,
        camera_model=None if cams is None else cams.model, camera_table=table,
        camera_names=dataset.camera_names if table is not None else None,
        cameras_count=dataset.num_cameras,
    )  # fmt: skip


def pose_store_meta(
    skeleton: Skeleton,
    source_meta: Mapping[str, Any],
    *,
    extra: Iterable[str] = (),
    camera_model: CameraModel | str | None = None,
    camera_table: Camera | None = None,
    camera_names: Any = None,
    cameras_count: int | None = None,
) -> dict[str, Any]:
    """The ``meta`` of a store written from a data set (:func:`write_store_dataset`, augment),
    known before any array is written: :func:`store_meta` with the data set's own ``meta``
    as ``meta.source``.

    Args:
        skeleton: the joint layout.
        source_meta: the data set's own provenance (stored as ``meta.source``).
        extra: names of its ``extra`` arrays (their units carry over from the source's).
        camera_model: the model of per-sample cameras (``camera_*`` arrays), or None.
        camera_table: a camera table (K,) the ``camera_index`` array points into, or None.
        camera_names: (K,) ids of the table's cameras, or None.
        cameras_count: distinct cameras; for per-sample cameras it may be unknown
            (None: readers take the sample count).
    """
    source = to_jsonable(dict(source_meta))
    extra = set(extra)
    units: dict[str, Any] = {"camera_center": "m"}
    src_units = source.get("units") if isinstance(source, dict) else None
    if isinstance(src_units, dict):  # units of extra arrays (angles, height...) carry over
        units.update({k: v for k, v in src_units.items() if k in extra})
    model = camera_table.model if camera_table is not None else camera_model
    cameras = None
    if model is not None:
        cameras = camera_meta(
            model,
            count=camera_table.batch_shape[0] if camera_table is not None else cameras_count,
            table=camera_table,
            names=camera_names if camera_table is not None else None,
        )
    return store_meta(
        skeleton,
        # A stable provenance name, not an import path: it predates the move of this module
        # into posesynth.data, and every store's bytes would change with it.
        provenance={"writer": "posesynth.formats.store_io.write_store_dataset"},
        source=source,
        units=units,
        # names of generate's extra arrays' columns, kept when its stores are converted
        columns={key: source[key] for key in ("angle_names", "activity_names") if key in source},
        cameras=cameras,
    )


def store_meta(
    skeleton: Skeleton,
    *,
    provenance: Mapping[str, Any],
    source: Mapping[str, Any] | None = None,
    units: Mapping[str, str] | None = None,
    columns: Mapping[str, Any] | None = None,
    cameras: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``meta`` of a pose store: the one place it is built (``generate``, augment and
    :func:`write_store_dataset` all call this).

    Args:
        skeleton: the joint layout (``meta.skeleton``, ``Skeleton.to_dict()``).
        provenance: who wrote the store, at the top level of ``meta``: ``{"writer": ...}``
            for a written data set; ``generate``'s ``generator``, ``seed`` and ``config``
            (what regenerates any sample).
        source: the provenance of the data the store was made from (``meta.source``), or
            None.
        units: units of the arrays beyond the joints (3D in m, 2D in px, always), e.g.
            ``{"angles": "rad", "height": "m"}``.
        columns: names of the columns or codes of ``extra`` arrays (``angle_names``,
            ``activity_names``), at the top level.
        cameras: ``meta.cameras``, from :func:`camera_meta`, or None (no cameras).

    Returns:
        A JSON-ready dict; the package ``version`` is added.
    """
    meta: dict[str, Any] = {
        **provenance,
        "version": __version__,
        "skeleton": skeleton.to_dict(),
        "units": {"joints_3d": "m", "joints_2d": "px", **(units or {})},
        "frames": {"joints_3d_world": "world, Z up", "joints_3d_camera": "camera (OpenCV)"},
        **(columns or {}),
    }
    if source is not None:
        meta["source"] = source
    if cameras is not None:
        meta["cameras"] = dict(cameras)
    return meta


def camera_meta(
    model: CameraModel | str,
    *,
    count: int | None = None,
    table: Camera | None = None,
    names: Any = None,
    arrays_order: Literal["sorted", "fields"] = "sorted",
) -> dict[str, Any]:
    """``meta.cameras`` of a pose store: the model, its distortion names, the convention,
    and where the cameras are: a ``table`` (``Camera.to_dict()``, with ``names``) that the
    ``camera_index`` array points into, or one camera per sample in the ``camera_*`` arrays.

    Args:
        model: the camera model.
        count: distinct cameras (None: unknown, readers take the sample count).
        table: the camera table (K,), or None for per-sample cameras.
        names: (K,) ids of the table's cameras, or None.
        arrays_order: how the per-sample ``arrays`` are listed: ``"sorted"`` (written data
            sets, augment) or ``"fields"`` (``Camera``'s field order: ``generate``). Both
            appear in stores written so far and their bytes are pinned; readers use the
            arrays themselves, not this list.
    """
    model = CameraModel.parse(model)
    info: dict[str, Any] = {"model": model.value}
    if count is not None:
        info["count"] = int(count)
    info.update(distortion_names=list(model.distortion_names), convention=_CONVENTION)
    if table is not None:
        info.update(per_sample=False, arrays=["camera_index"], table=table.to_dict())
        if names is not None:
            info["names"] = [str(v) for v in np.asarray(names).tolist()]
    else:
        arrays = list(_CAMERA_FIELDS) if arrays_order == "fields" else sorted(_CAMERA_FIELDS)
        info.update(per_sample=True, arrays=arrays)
    return info
