"""The one validator at every reader's boundary: what a data set read from a file may hold.

:func:`validate_dataset` is called by :func:`posesynth.data.formats.registry.read_any` on
whatever a reader returns, so every format (the store, MMPose, VideoPose3D, the seed's .h5,
Human3.6M's CDF, TRC, ...) is held to the same documented bounds:

================================  =========================================================
joints_3d_world, joints_3d_camera  finite or NaN (NaN = missing joint), ``|x| <= 1000 m``
joints_2d                          finite or NaN, ``|u| <= 1e6 px``
visibility                         finite, in ``[0, 1]``
camera intrinsics                  finite; ``1 <= fx, fy <= 1e6 px``; ``|cx|, |cy| <= 1e6 px``
camera distortion                  finite, ``|k| <= 1e4``
camera rotation                    finite (orthonormality is :class:`Camera`'s own check)
camera centre                      finite, ``|C| <= 1000 m``
camera image size                  integers in ``[1, 100000]`` px
camera index                       integers in ``[0, cameras)``
``meta`` rates (``*_hz``)          finite, ``> 0``
================================  =========================================================

Infinity is refused everywhere (no reader means "missing" by it). Bad input raises one
:class:`OutOfBounds` (a ``ValueError``) naming the file, the field, the first offending sample
and the bound. Readers that build cameras call :func:`validate_camera_fields` on the raw
values first, so a bad value gets this message rather than the camera's own; the posesynth
store's reader (:func:`posesynth.data.formats.store_io.read_store`) validates what it returns
like every other reader.

Resource checks made before a reader allocates anything: :func:`check_regular_file` (no FIFO
or device is ever opened), :func:`check_image_file` (pixels read from the image header, before
decoding) and :func:`check_elements` (an element count against a memory budget).
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from posesynth.data.dataset import PoseDataset

__all__ = [
    "BOUNDS",
    "Bounds",
    "OutOfBounds",
    "check_elements",
    "check_image_file",
    "check_regular_file",
    "image_size_from_header",
    "validate_camera_fields",
    "validate_dataset",
]


@dataclass(frozen=True)
class Bounds:
    """The limits :func:`validate_dataset` and the resource checks apply (see the table)."""

    max_abs_m: float = 1000.0
    max_abs_px: float = 1e6
    focal_px: tuple[float, float] = (1.0, 1e6)
    max_abs_distortion: float = 1e4
    image_size_px: tuple[int, int] = (1, 100_000)
    #: largest image decoded (pixels), checked from its header before decoding: 100 MP
    #: (a 30000 x 30000 PNG of 875 KB would otherwise take 5.6 GB; reliability audit F07)
    max_image_pixels: int = 100_000_000
    #: largest array a reader builds from a file's lists or object arrays (bytes)
    max_array_bytes: int = 2 << 30


BOUNDS = Bounds()


class OutOfBounds(ValueError):
    """A value outside the bounds of :class:`Bounds` (NaN or inf where a finite value is
    expected included): the data is wrong, not its layout."""


def _first_bad(mask: np.ndarray) -> str:
    index = np.unravel_index(int(np.argmax(mask)), mask.shape)
    return f"sample {index[0]}" + (f", index {tuple(int(i) for i in index[1:])}" if len(index) > 1 else "")


def _within(arr: np.ndarray, bound: float) -> bool:
    """Whether every value of the float array ``arr`` is NaN or within ``[-bound, bound]``,
    from its extremes ignoring NaN (``fmax``/``fmin``): no temporary as large as the
    array. The masks below, made only to name a bad value, took 1.1 GB of fresh memory
    for the points of a million poses."""
    if arr.size == 0:
        return True
    high, low = np.fmax.reduce(arr, axis=None), np.fmin.reduce(arr, axis=None)
    return not (high > bound or low < -bound)  # all NaN: both NaN, nothing out of bounds


def _check_points(where: str, name: str, value: Any, bound: float, unit: str) -> None:
    if value is None:
        return
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"{where}: {name}: expected numbers, got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    if _within(arr, bound):
        return
    with np.errstate(invalid="ignore"):
        bad = np.abs(arr) > bound  # NaN compares False (missing), +-inf True
    if bad.any():
        first = arr[np.unravel_index(int(np.argmax(bad)), bad.shape)]
        raise OutOfBounds(
            f"{where}: {name}: {first} at {_first_bad(bad)}; expected finite values with "
            f"|value| <= {bound:g} {unit} (NaN marks a missing value)"
        )


def _check_finite(where: str, name: str, value: Any, lo: float, hi: float, unit: str = "") -> None:
    if value is None:
        return
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 0 or bool(lo <= arr.min() and arr.max() <= hi):  # NaN propagates, and fails
        return
    with np.errstate(invalid="ignore"):
        bad = ~((arr >= lo) & (arr <= hi))  # NaN and inf fail
    if bad.any():
        first = arr[np.unravel_index(int(np.argmax(bad)), bad.shape)]
        raise OutOfBounds(
            f"{where}: {name}: {first} at {_first_bad(bad)}; expected finite values in "
            f"[{lo:g}, {hi:g}]{(' ' + unit) if unit else ''}"
        )


def validate_dataset(dataset: PoseDataset, where: Path | str, bounds: Bounds = BOUNDS) -> PoseDataset:
    """Return ``dataset`` unchanged if it holds what a file may hold, else raise ``ValueError``.

    Args:
        dataset: what a reader returned.
        where: the file or folder it was read from (named in the message).
        bounds: the limits (default :data:`BOUNDS`, the table in the module docstring).

    Raises:
        ValueError: ``<where>: <field>: <value> at sample <i>; expected ...``.
    """
    w = str(where)
    _check_points(w, "joints_3d_world", dataset.joints_3d_world, bounds.max_abs_m, "m")
    _check_points(w, "joints_3d_camera", dataset.joints_3d_camera, bounds.max_abs_m, "m")
    _check_points(w, "joints_2d", dataset.joints_2d, bounds.max_abs_px, "px")
    _check_finite(w, "visibility", dataset.visibility, 0.0, 1.0)
    cams = dataset.cameras
    if cams is not None:
        validate_camera_fields(
            w, intrinsics=cams.intrinsics, distortion=cams.distortion, rotation=cams.rotation,
            center=cams.center, image_size=cams.image_size, bounds=bounds,
        )  # fmt: skip
        if dataset.camera_index is not None:
            count = len(np.asarray(cams.intrinsics).reshape(-1, 4))
            _check_finite(w, "camera_index", dataset.camera_index, 0, count - 1)
    for key, value in dataset.meta.items():
        if isinstance(key, str) and key.endswith("_hz") and value is not None:
            try:
                rate = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{w}: meta.{key}: expected a rate in Hz, got {value!r}") from None
            if not (np.isfinite(rate) and rate > 0):
                raise OutOfBounds(f"{w}: meta.{key}: expected a finite rate > 0 Hz, got {rate}")
    return dataset


def validate_camera_fields(
    where: Path | str,
    *,
    intrinsics: Any,
    distortion: Any = None,
    rotation: Any = None,
    center: Any = None,
    image_size: Any = None,
    bounds: Bounds = BOUNDS,
) -> None:
    """Raise :class:`OutOfBounds` unless the camera values hold what the table allows.

    Args:
        where: the file or folder they were read from (named in the message).
        intrinsics: ``(..., 4)`` fx, fy, cx, cy in px; ``distortion`` ``(..., D)``;
            ``rotation`` ``(..., 3, 3)``; ``center`` ``(..., 3)`` m (world frame);
            ``image_size`` ``(..., 2)`` px. None skips a field.

    Only values are checked (a reader calls this before it builds a :class:`Camera`, whose
    own checks then see shapes and orthonormality); values that are not numbers raise
    ``ValueError``.
    """
    w = str(where)
    k = np.asarray(intrinsics, dtype=np.float64)
    _check_finite(w, "cameras.intrinsics (fx, fy)", k[..., :2], *bounds.focal_px, unit="px")
    _check_finite(w, "cameras.intrinsics (cx, cy)", k[..., 2:], -bounds.max_abs_px, bounds.max_abs_px, "px")
    if distortion is not None:
        d = bounds.max_abs_distortion
        _check_finite(w, "cameras.distortion", distortion, -d, d)
    _check_finite(w, "cameras.rotation", rotation, -1.0 - 1e-6, 1.0 + 1e-6)
    _check_finite(w, "cameras.center", center, -bounds.max_abs_m, bounds.max_abs_m, "m")
    _check_finite(w, "cameras.image_size", image_size, *bounds.image_size_px, unit="px")


# ------------------------------------------------------------------------- resource checks


def check_regular_file(path: Path | str, missing: str = "no such file") -> os.stat_result:
    """``os.stat(path)`` (following links), or ``ValueError`` unless it is a regular file.

    Called before opening a file a user named: a FIFO blocks a reader forever and a device
    never ends (reliability audit F22).
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ValueError(f"{path}: {missing}") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path}: not a regular file (a FIFO, device or socket); refusing to read it")
    return st


def check_elements(where: str, elements: int, itemsize: int, bounds: Bounds = BOUNDS) -> None:
    """Raise ``ValueError`` with the estimate and the limit if ``elements`` items of
    ``itemsize`` bytes exceed :attr:`Bounds.max_array_bytes` (checked before allocating)."""
    need = int(elements) * int(itemsize)
    if need > bounds.max_array_bytes:
        raise ValueError(
            f"{where}: would need {need / 2**30:.3g} GiB ({elements} values), more than the "
            f"limit of {bounds.max_array_bytes / 2**30:.3g} GiB; the file is damaged or hostile"
        )


def image_size_from_header(path: Path | str) -> tuple[int, int] | None:
    """``(width, height)`` of a PNG, JPEG, GIF, BMP or WebP file from its header alone, or
    None when the format is not recognised (nothing is decoded)."""
    with open(path, "rb") as fh:
        head = fh.read(32)
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        if head[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", head[6:10])
        if head.startswith(b"BM") and len(head) >= 26:
            w, h = struct.unpack("<ii", head[18:26])
            return abs(w), abs(h)
        if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
            return _webp_size(head)
        if head.startswith(b"\xff\xd8"):
            fh.seek(2)
            return _jpeg_size(fh)
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8X":
        w = 1 + int.from_bytes(head[24:27], "little")
        h = 1 + int.from_bytes(head[27:30], "little")
        return w, h
    if chunk == b"VP8L":
        bits = int.from_bytes(head[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", head[26:30])
        return w & 0x3FFF, h & 0x3FFF
    return None


def _jpeg_size(fh: Any) -> tuple[int, int] | None:
    for _ in range(10_000):  # markers before the frame header; bounded for hostile files
        marker = fh.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        kind = marker[1]
        if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7:
            continue
        length_bytes = fh.read(2)
        if len(length_bytes) < 2:
            return None
        length = struct.unpack(">H", length_bytes)[0]
        if 0xC0 <= kind <= 0xCF and kind not in (0xC4, 0xC8, 0xCC):
            data = fh.read(5)
            if len(data) < 5:
                return None
            h, w = struct.unpack(">HH", data[1:5])
            return w, h
        fh.seek(length - 2, os.SEEK_CUR)
    return None


def check_image_file(path: Path | str, bounds: Bounds = BOUNDS) -> tuple[int, int] | None:
    """Check, before decoding, that ``path`` is a regular file whose image has at most
    :attr:`Bounds.max_image_pixels` pixels; return its ``(width, height)`` when the header
    tells it (None for formats read without a header check, which OpenCV then caps itself).

    Raises:
        ValueError: a FIFO or device, or ``<path>: image of W x H = P pixels, more than the
            limit of ...`` (reliability audit F07/F08: a 875 KB PNG of 30000 x 30000).
    """
    check_regular_file(path)
    size = image_size_from_header(path)
    if size is not None:
        w, h = size
        if w * h > bounds.max_image_pixels:
            raise ValueError(
                f"{path}: image of {w} x {h} = {w * h} pixels (~{3 * w * h / 2**30:.3g} GiB "
                f"decoded), more than the limit of {bounds.max_image_pixels} pixels"
            )
    return size
