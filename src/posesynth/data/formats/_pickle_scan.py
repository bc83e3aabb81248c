"""The safety scan of :func:`posesynth.data.formats.numpy_pickle.load_numpy_pickle`, compiled.

Before unpickling, every opcode of a pickle is walked to refuse what would make the C
unpickler allocate more than the file holds: a declared length (BINBYTES, BINUNICODE,
LONG4, ...) beyond the bytes left, a memo index (PUT, GET and their binary forms) larger than
the file (a pickler numbers them from 0), an unknown opcode, or no STOP. ``pickletools.genops``
does it in Python at about 2 µs per opcode: 26 s for the 16 M opcodes of a 100,000-camera
``cameras.pkl``. :func:`scan` is the same walk as one Numba loop (the ``fast`` extra,
:mod:`posesynth.util.jit`); without Numba the caller keeps ``genops``.

The argument layout of each opcode comes from ``pickletools.opcodes`` (the table the
standard library's own disassembler uses), so every protocol 0 to 5 opcode is known.
"""

from __future__ import annotations

import pickletools

import numpy as np

from posesynth.util.jit import kernel

__all__ = ["scan"]

# argument kinds of the table below
_NONE, _FIXED, _LINE, _LINES2, _LEN1, _LEN4S, _LEN4U, _LEN8U, _UNKNOWN = range(9)
_BY_N = {
    pickletools.UP_TO_NEWLINE: _LINE,
    pickletools.TAKEN_FROM_ARGUMENT1: _LEN1,
    pickletools.TAKEN_FROM_ARGUMENT4: _LEN4S,
    pickletools.TAKEN_FROM_ARGUMENT4U: _LEN4U,
    pickletools.TAKEN_FROM_ARGUMENT8U: _LEN8U,
}
_MEMO_OPS = ("PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET")


def _opcode_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(kind (256,), fixed size (256,), memo flag (256,)) of every opcode byte."""
    kind = np.full(256, _UNKNOWN, np.int64)
    size = np.zeros(256, np.int64)
    memo = np.zeros(256, np.bool_)
    for op in pickletools.opcodes:
        code = ord(op.code)
        arg = op.arg
        if arg is None:
            kind[code] = _NONE
        elif arg.n >= 0:
            kind[code], size[code] = _FIXED, arg.n
        elif arg.name == "stringnl_noescape_pair":  # GLOBAL, INST: module and name, two lines
            kind[code] = _LINES2
        else:
            kind[code] = _BY_N[arg.n]
        memo[code] = op.name in _MEMO_OPS
    for arr in (kind, size, memo):
        arr.flags.writeable = False
    return kind, size, memo


_KIND, _SIZE, _MEMO = _opcode_table()
_STOP = ord(".")  # pickletools.opcodes: STOP

#: What :func:`_scan` returns in ``result[0]``.
_OK, _TRUNCATED, _UNKNOWN_OP, _MEMO_TOO_LARGE, _BAD_DECIMAL = range(5)


@kernel
def _scan(
    data: np.ndarray, kind: np.ndarray, size: np.ndarray, memo: np.ndarray, stop: int, result: np.ndarray
) -> None:
    """Walk the opcodes of ``data (n,) uint8`` to its first STOP; ``result (3,) int64``:
    (status, position of the opcode, its memo index or declared length)."""
    n = data.shape[0]
    pos = 0
    while pos < n:
        start = pos
        op = data[pos]
        pos += 1
        k = kind[op]
        value = np.uint64(0)
        result[1] = start
        if k == 8:  # _UNKNOWN
            result[0] = 2
            return
        if k == 1:  # _FIXED: little-endian unsigned
            width = size[op]
            if pos + width > n:
                result[0] = 1
                return
            for b in range(width):
                value |= np.uint64(data[pos + b]) << np.uint64(8 * b)
            pos += width
        elif k == 2 or k == 3:  # _LINE, _LINES2: up to a newline (each)
            decimal = True
            digits = 0
            for _ in range(k - 1):
                while pos < n and data[pos] != 10:
                    c = data[pos]
                    if 48 <= c <= 57 and digits < 19:
                        value = value * np.uint64(10) + np.uint64(c - 48)
                        digits += 1
                    else:
                        decimal = False
                    pos += 1
                if pos >= n:
                    result[0] = 1
                    return
                pos += 1  # the newline
            if memo[op] and not (decimal and digits > 0):
                result[0] = 4
                return
        elif k >= 4:  # length-prefixed: _LEN1, _LEN4S, _LEN4U, _LEN8U
            width = 1 if k == 4 else 4 if k <= 6 else 8
            if pos + width > n:
                result[0] = 1
                return
            for b in range(width):
                value |= np.uint64(data[pos + b]) << np.uint64(8 * b)
            pos += width
            if k == 5 and value >= np.uint64(1 << 31):  # a negative signed 4-byte length
                result[0], result[2] = 1, -1
                return
            if value > np.uint64(n - pos):
                result[0], result[2] = 1, np.int64(min(value, np.uint64(2**62)))
                return
            pos += int(value)
        if memo[op] and value > np.uint64(n):
            result[0], result[2] = 3, np.int64(min(value, np.uint64(2**62)))
            return
        if op == stop:
            result[0] = 0
            return
    result[0], result[1] = 1, n


def _scan_in_python(data: bytes) -> None:
    """The walk by ``pickletools.genops`` (what :func:`scan` does, in Python)."""
    for op, arg, _ in pickletools.genops(data):
        if op.name in _MEMO_OPS and int(str(arg)) > len(data):
            raise ValueError(f"memo index {arg} beyond what a {len(data)}-byte pickle can hold")


def scan(data: bytes) -> None:
    """Refuse a pickle the C unpickler could not read without allocating more than ``data``
    holds (see the module docstring); compiled, so call it only when
    :func:`posesynth.util.jit.numba_enabled`.

    Raises:
        ValueError: what is wrong and where (byte offset).
    """
    result = np.zeros(3, np.int64)
    _scan(np.frombuffer(data, np.uint8), _KIND, _SIZE, _MEMO, _STOP, result)
    status, pos, value = (int(v) for v in result)
    if status == _OK:
        return
    if status == _UNKNOWN_OP:
        raise ValueError(f"unknown opcode {data[pos : pos + 1]!r} at byte {pos}")
    if status == _MEMO_TOO_LARGE:
        raise ValueError(f"memo index {value} beyond what a {len(data)}-byte pickle can hold")
    if status == _BAD_DECIMAL:  # a text memo index with signs, spaces...: Python's int() decides
        _scan_in_python(data)
        return
    raise ValueError(f"truncated: the opcode at byte {pos} declares more than the {len(data)}-byte pickle holds")
