"""Pickles of NumPy arrays: a loader that refuses everything else, and a portable writer.

Formats such as MMPose's ``cameras.pkl`` are pickles of plain containers (dict, tuple, list,
str, int, float) holding NumPy arrays. Unpickling runs whatever callables a file names, so
:func:`load_numpy_pickle` resolves only the globals NumPy's own array, dtype and scalar
pickles use; any other global (``os.system``, a user class...) raises ``ValueError`` naming
the file and the global before anything is called.

:func:`dumps_numpy_pickle` writes protocol 3 pickles whose NumPy globals are spelled
``numpy.core.*``: NumPy 2 writes ``numpy._core.*``, which NumPy 1.x (what most MMPose
installations run) cannot import, while NumPy 2 still resolves ``numpy.core.*`` names.
"""

from __future__ import annotations

import codecs
import io
import mmap
import pickle
import pickletools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["NumpyOnlyUnpickler", "PickledRecords", "RefusedGlobal", "dumps_numpy_pickle", "load_numpy_pickle"]


def _numpy_pickle_globals() -> dict[tuple[str, str], Any]:
    """The callables NumPy's own pickles name, under both NumPy 1.x and 2.x module names."""
    reconstruct = np.zeros(1).__reduce__()[0]  # multiarray._reconstruct
    scalar = np.float64(0.0).__reduce__()[0]  # multiarray.scalar
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]  # numeric._frombuffer (protocol 5)
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,  # protocol <= 2 pickles bytes with it
    }
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.multiarray", "scalar")] = scalar
        if getattr(frombuffer, "__name__", "") == "_frombuffer":
            allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return allowed


def _latin1_encode(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """``_codecs.encode`` limited to what protocol 2 uses for bytes: latin-1, strict."""
    if str(encoding).lower().replace("_", "-") not in ("latin1", "latin-1") or errors != "strict":
        raise ValueError(f"_codecs.encode: only latin-1/strict is allowed, got {encoding!r}/{errors!r}")
    return codecs.encode(text, "latin-1")


_ALLOWED = _numpy_pickle_globals()


class RefusedGlobal(ValueError):
    """A pickle named a global outside the allowed NumPy set."""


#: Bytes any one allocation of an unpickled NumPy object may take beyond the file's own size:
#: a pickle's array data is in the file, so a template or scalar larger than it is a bomb.
MIN_ALLOCATION_BYTES = 1 << 20


def _nbytes(shape: Any, dtype: Any) -> int:
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    count = 1
    for d in dims:
        count *= max(int(d), 0)
    return 0 if count == 0 else count * np.dtype(dtype).itemsize  # NumPy pickles: (0,) templates


class _NdarrayGuard:
    """``numpy.ndarray`` as a damaged pickle may call it: sizes bounded like everything else."""

    def __init__(self, unpickler: NumpyOnlyUnpickler) -> None:
        self._unpickler = unpickler

    def __call__(self, shape: Any, dtype: Any = float, *args: Any, **kwargs: Any) -> np.ndarray:
        self._unpickler._bounded("an array", _nbytes(shape, dtype))
        return np.ndarray(shape, dtype, *args, **kwargs)


class NumpyOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], source: Path | str, limit_bytes: int | None = None) -> None:
        super().__init__(file, encoding="latin1")  # latin1: Python 2 era NumPy pickles
        self._source = source
        self._limit = MIN_ALLOCATION_BYTES if limit_bytes is None else max(limit_bytes, MIN_ALLOCATION_BYTES)

    def load(self) -> Any:
        try:
            return super().load()
        finally:
            # the guards find_class returns refer back to this unpickler and its memo holds
            # them: a reference cycle, so the memo (every array, its raw bytes, every key of
            # the pickle) would outlive the load until a full garbage collection; a batch
            # read per 500 subjects left about 350 bytes a subject behind (issue 16)
            self.memo.clear()

    def _bounded(self, what: str, nbytes: int) -> None:
        if nbytes > self._limit:
            raise ValueError(
                f"{self._source}: {what} would allocate {nbytes} bytes, more than the file could "
                f"hold ({self._limit} bytes); the pickle is damaged or hostile"
            )

    def find_class(self, module: str, name: str) -> Any:
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise RefusedGlobal(
                f"{self._source}: refusing to unpickle the global {module}.{name}: this file "
                "may hold only containers of NumPy arrays, dtypes and scalars"
            )
        if obj is np.ndarray:
            # NumPy's pickles pass ndarray to _reconstruct as the subtype; a damaged one may
            # call it instead, with any shape
            return _NdarrayGuard(self)
        if name == "_reconstruct":

            def reconstruct(subtype: Any, shape: Any, dtype: Any) -> Any:
                self._bounded("an array", _nbytes(shape, dtype))
                return obj(np.ndarray if isinstance(subtype, _NdarrayGuard) else subtype, shape, dtype)

            return reconstruct
        if name == "scalar":

            def scalar(dtype: Any, *args: Any) -> Any:
                self._bounded("a scalar", np.dtype(dtype).itemsize)
                return obj(dtype, *args)

            return scalar
        if obj is np.dtype:

            def dtype(*args: Any, **kwargs: Any) -> np.dtype:
                made = np.dtype(*args, **kwargs)
                self._bounded("a dtype", made.itemsize)
                return made

            return dtype
        return obj


def _check_opcodes(data: bytes) -> None:
    """Refuse a pickle whose declared sizes the file cannot back, before unpickling it.

    The C unpickler allocates a declared BINBYTES / BINUNICODE length before reading it, and
    grows its memo to the largest PUT index: in a damaged file one flipped bit can ask for
    gigabytes. ``pickletools.genops`` reads every argument without allocating more than the
    file holds; a memo index cannot exceed the file's size (a pickler numbers them from 0).
    With Numba (the ``fast`` extra) the same walk runs compiled (:mod:`._pickle_scan`).
    """
    from posesynth.util.jit import numba_enabled

    if numba_enabled():
        from posesynth.data.formats._pickle_scan import scan

        scan(data)
        return
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET") and int(str(arg)) > len(data):
            raise ValueError(f"memo index {arg} beyond what a {len(data)}-byte pickle can hold")


def load_numpy_pickle(path: Path | str, records: Sequence[str] | None = None) -> Any:
    """Load a pickle of plain containers and NumPy arrays, refusing any other global.

    Args:
        path: the pickle.
        records: field names. When given, with the compiled kernels on, and when the file is
            a dict ``{(str, str): {str: value}}`` whose arrays are little-endian float64 (the
            layout of MMPose's ``cameras.pkl``, as MMPose and posesynth write it), the result
            is a :class:`PickledRecords` of these fields, read without unpickling; any other
            file is unpickled as without ``records``.

    Raises:
        ValueError: naming ``path`` when the file cannot be read, is not a complete pickle,
            or names a global other than NumPy's array/dtype/scalar reconstructors.
    """
    path = Path(path)
    if records is not None:
        from posesynth.util.jit import numba_enabled

        # The records walk bounds every read by the file and takes only complete,
        # well-formed opcodes (any other gives up), so a file it reads is one the scan
        # accepts: the scan guards what is unpickled (1.3 s of a 1 M-camera file). It reads
        # the file mapped: its pages are the page cache's, not a copy (590 MB of fresh
        # memory for a 1 M-camera file).
        mapped = _mapped(path) if numba_enabled() else None
        if mapped is not None:
            try:
                fast = _pickled_records(path, mapped, tuple(records))
            except Exception as exc:  # as the unpickling path below words it
                raise ValueError(f"{path}: not a valid pickle of NumPy arrays ({type(exc).__name__}: {exc})") from exc
            if fast is not None:
                return fast
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the file ({exc})") from exc
    try:
        _check_opcodes(data)
        return NumpyOnlyUnpickler(io.BytesIO(data), path, limit_bytes=len(data)).load()
    except RefusedGlobal:
        raise
    except Exception as exc:  # truncated or corrupt: EOFError, UnpicklingError, ...
        raise ValueError(f"{path}: not a valid pickle of NumPy arrays ({type(exc).__name__}: {exc})") from exc


def _mapped(path: Path) -> mmap.mmap | None:
    """The file mapped read-only, or None where it cannot be (empty, not a regular file, no
    mmap): the caller then reads it into memory."""
    try:
        with path.open("rb") as fh:
            return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # an empty file cannot be mapped; a pipe, a missing file
        return None


@dataclass(frozen=True, eq=False)
class PickledRecords:
    """A pickle ``{(str, str): {str: value}}`` read without unpickling it, E entries in file
    order (a key repeated: its last entry is the dict's value), for the fields asked for.

    Attributes:
        path: the file; ``data``: its bytes, mapped read-only (the arrays' data stays there
            until gathered).
        key0, key1: (E,) str, the two strings of each key (ASCII, no NUL).
        entry_ok: (E,) bool, the value is a dict whose keys are all str.
        fields: the field names; ``kind`` (E, F): ``FIELD_ABSENT`` 0, ``FIELD_FLOATS`` 1 (a
            float64 array), ``FIELD_INT`` 2 (a Python int), ``FIELD_OTHER`` 3 (anything else),
            of :mod:`posesynth.data.formats._pickle_scan`.
        dims: (E, F, 4) int64, ndim, d0, d1 of each array (ndim <= 2) and 1 where its data
            is in Fortran order.
        offset: (E, F) int64, where each array's float64 data starts in ``data``.
        value: (E, F) int64, each int's value.
    """

    path: Path
    data: bytes | mmap.mmap
    key0: np.ndarray
    key1: np.ndarray
    entry_ok: np.ndarray
    fields: tuple[str, ...]
    kind: np.ndarray
    dims: np.ndarray
    offset: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return len(self.key0)

    def floats(self, field: str, size: int, rows: np.ndarray) -> np.ndarray:
        """(len(rows), size) float64: field ``field``'s array in each entry of ``rows``,
        flattened in C order (meaningful where that array holds ``size`` values; the caller
        checks ``kind`` and ``dims``)."""
        from posesynth.util.jit import numba_enabled

        j = self.fields.index(field)
        raw = np.frombuffer(self.data, np.uint8)
        if len(raw) < 8 * size:
            return np.zeros((len(rows), size))
        start = np.clip(self.offset[rows, j], 0, len(raw) - 8 * size)
        if numba_enabled():
            from posesynth.data.formats._pickle_scan import gather_floats

            bits = np.empty((len(rows), size), np.uint64)
            gather_floats(raw, start, np.ascontiguousarray(self.dims[rows, j]), bits)
            return bits.view(np.float64)
        # every 8-byte window of the file, as rows (a view): one index per value, not per byte
        windows = np.lib.stride_tricks.as_strided(raw, shape=(len(raw) - 7, 8), strides=(1, 1), writeable=False)
        picked = windows[start[:, None] + 8 * np.arange(size)]  # (rows, size, 8) bytes
        values = np.ascontiguousarray(picked).view("<f8").astype(np.float64).reshape(len(rows), size)
        dims = self.dims[rows, j]
        fortran = (dims[:, 3] == 1) & (dims[:, 0] == 2) & (dims[:, 1] * dims[:, 2] == size)
        for d0, d1 in {(int(a), int(b)) for a, b in dims[fortran, 1:3]}:  # a few distinct shapes
            sel = fortran & (dims[:, 1] == d0) & (dims[:, 2] == d1)
            values[sel] = values[sel].reshape(-1, d1, d0).swapaxes(1, 2).reshape(-1, size)
        return values


def _strings(raw: np.ndarray, offset: np.ndarray, length: np.ndarray) -> np.ndarray:
    """(E,) str of the ASCII byte ranges ``raw[offset:offset + length]``, gathered at once."""
    width = max(int(length.max(initial=0)), 1)
    cols = np.arange(width)
    picked = raw[np.minimum(offset[:, None] + cols, max(len(raw) - 1, 0))] if len(raw) else np.zeros((0, width))
    picked = np.where(cols < length[:, None], picked, 0).astype(np.uint8)
    return np.ascontiguousarray(picked).view(f"S{width}").reshape(len(offset)).astype(str)


def _pickled_records(path: Path, data: bytes | mmap.mmap, fields: tuple[str, ...]) -> PickledRecords | None:
    from posesynth.data.formats._pickle_scan import records

    found = records(data, fields)
    if found is None:
        return None
    keys, ok, kind, dims, offset, value = found
    raw = np.frombuffer(data, np.uint8)
    return PickledRecords(
        path=path,
        data=data,
        key0=_strings(raw, keys[:, 0], keys[:, 1]),
        key1=_strings(raw, keys[:, 2], keys[:, 3]),
        entry_ok=ok,
        fields=fields,
        kind=kind,
        dims=dims,
        offset=offset,
        value=value,
    )


def dumps_numpy_pickle(obj: Any) -> bytes:
    """Pickle ``obj`` (protocol 3) so that NumPy 1.x and 2.x both load it.

    ``GLOBAL`` opcodes naming ``numpy._core.<mod>`` are rewritten to ``numpy.core.<mod>``;
    protocol 3 has no frames and memo indices do not depend on byte offsets, so replacing
    whole opcodes is safe. The result loads with :func:`load_numpy_pickle` and plain
    ``pickle.loads``.
    """
    raw = pickle.dumps(obj, protocol=3)
    ops = list(pickletools.genops(raw))
    out = bytearray()
    last: int | None = 0  # genops gives int positions here (bytes input); typed as Optional
    for k, (op, arg, pos) in enumerate(ops):
        if op.name != "GLOBAL":
            continue
        module, name = str(arg).split(" ", 1)
        if not module.startswith("numpy._core"):
            continue
        end = ops[k + 1][2] if k + 1 < len(ops) else len(raw)
        legacy = "numpy.core" + module[len("numpy._core") :]
        out += raw[last:pos] + b"c" + legacy.encode("ascii") + b"\n" + name.encode("ascii") + b"\n"
        last = end
    out += raw[last:]
    return bytes(out)
