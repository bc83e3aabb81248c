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
import pickle
import pickletools
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["NumpyOnlyUnpickler", "RefusedGlobal", "dumps_numpy_pickle", "load_numpy_pickle"]


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


class NumpyOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], source: Path | str) -> None:
        super().__init__(file, encoding="latin1")  # latin1: Python 2 era NumPy pickles
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise RefusedGlobal(
                f"{self._source}: refusing to unpickle the global {module}.{name}: this file "
                "may hold only containers of NumPy arrays, dtypes and scalars"
            )
        return obj


def load_numpy_pickle(path: Path | str) -> Any:
    """Load a pickle of plain containers and NumPy arrays, refusing any other global.

    Raises:
        ValueError: naming ``path`` when the file cannot be read, is not a complete pickle,
            or names a global other than NumPy's array/dtype/scalar reconstructors.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the file ({exc})") from exc
    try:
        return NumpyOnlyUnpickler(io.BytesIO(data), path).load()
    except RefusedGlobal:
        raise
    except Exception as exc:  # truncated or corrupt: EOFError, UnpicklingError, ...
        raise ValueError(f"{path}: not a valid pickle of NumPy arrays ({type(exc).__name__}: {exc})") from exc


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
