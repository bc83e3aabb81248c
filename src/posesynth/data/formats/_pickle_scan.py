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

:func:`records` reads a scanned pickle of MMPose's ``cameras.pkl`` layout (a dict keyed by
two strings of dicts of float64 arrays and ints) without unpickling it: a compiled walk
records where each key and each array's raw bytes lie, and :func:`gather_floats` copies the
values into batched arrays. Unpickling the 100,000 camera dicts of a generated file took
4 s and building the camera table from them 2 s more; the walk takes about 0.25 s.
"""

from __future__ import annotations

import mmap
import pickletools
from typing import Any

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


# --------------------------------------------------------------------------------------------
# records: a dict of dicts of float64 arrays and ints, read without unpickling
# --------------------------------------------------------------------------------------------
#
# :func:`_walk` runs the pickle machine over a restricted set of opcodes with symbolic values:
# nothing is called and no Python object is made; a value is a token (kind, a, b) and an
# array is where its raw bytes lie in the file. Anything outside the recognised layout (an
# opcode, a global, a dtype, a shape the machine does not model) stops it with ``_GIVE_UP``
# and the caller unpickles the file the guarded way instead; the walk never decides that a
# file is bad, so it can only make a file load faster, never differently.

# token kinds
_T_NONE, _T_BOOL, _T_INT, _T_FLOAT, _T_STR, _T_BYTES, _T_TUPLE, _T_DICT, _T_ARRAY, _T_DTYPE, _T_GLOBAL = range(11)
# the globals the walk models (others: give up)
_G_RECONSTRUCT, _G_NDARRAY, _G_DTYPE, _G_FROMBUFFER = range(4)
_WALK_OK, _GIVE_UP, _ROOM = 0, 1, 10
# field kinds of :func:`records`
FIELD_ABSENT, FIELD_FLOATS, FIELD_INT, FIELD_OTHER = range(4)


def _global_names() -> tuple[np.ndarray, np.ndarray]:
    """(bytes (L,) uint8, table (G, 5) int64: module offset, length, name offset, length, which)."""
    names = [("numpy", "ndarray", _G_NDARRAY), ("numpy", "dtype", _G_DTYPE)]
    for core in ("numpy.core", "numpy._core"):
        names += [
            (f"{core}.multiarray", "_reconstruct", _G_RECONSTRUCT),
            (f"{core}.numeric", "_frombuffer", _G_FROMBUFFER),
        ]
    blob = bytearray()
    table = []
    for module, name, which in names:
        m = len(blob)
        blob += module.encode("ascii")
        n = len(blob)
        blob += name.encode("ascii")
        table.append((m, len(module), n, len(name), which))
    out = np.frombuffer(bytes(blob), np.uint8).copy(), np.array(table, np.int64)
    for arr in out:
        arr.flags.writeable = False
    return out


_GLOBAL_BLOB, _GLOBAL_TABLE = _global_names()


def _uint(data: np.ndarray, pos: int, width: int) -> int:
    value = 0
    for b in range(width):
        value |= int(data[pos + b]) << (8 * b)
    return value


def _same_bytes(data: np.ndarray, pos: int, length: int, blob: np.ndarray, off: int, blen: int) -> bool:
    if length != blen:
        return False
    for i in range(length):  # noqa: SIM110 - a plain loop: Numba compiles no generator into all()
        if data[pos + i] != blob[off + i]:
            return False
    return True


def _which_global(
    data: np.ndarray, mpos: int, mlen: int, npos: int, nlen: int, blob: np.ndarray, table: np.ndarray
) -> int:
    for g in range(table.shape[0]):
        if _same_bytes(data, mpos, mlen, blob, table[g, 0], table[g, 1]) and _same_bytes(
            data, npos, nlen, blob, table[g, 2], table[g, 3]
        ):
            return table[g, 4]
    return -1


def _ascii(data: np.ndarray, pos: int, length: int) -> bool:
    """ASCII without NUL: decodes alike as UTF-8 and from a NumPy ``S`` array."""
    for i in range(length):
        c = data[pos + i]
        if c == 0 or c >= 128:
            return False
    return True


JIT_HELPERS = ("_uint", "_same_bytes", "_which_global", "_ascii", "_set_array", "_reclaimed")


@kernel
def _walk(
    data: np.ndarray,
    blob: np.ndarray,
    gtable: np.ndarray,
    stack: np.ndarray,
    marks: np.ndarray,
    memo: np.ndarray,
    elems: np.ndarray,
    items: np.ndarray,
    arrays: np.ndarray,
    dtypes: np.ndarray,
    out: np.ndarray,
) -> int:
    """Run the pickle ``data (n,) uint8`` symbolically (see above), in the caller's buffers.

    Buffers (rows, int64; zeroed): ``stack (S, 3)`` tokens, ``marks (M, 1)``, ``memo (P, 4)``
    set flag and token, ``elems (E, 3)`` tuple elements, ``items (I, 7)`` dict id, key token,
    value token, ``arrays (A, 7)`` built, ndim, d0, d1, data offset, dtype id, Fortran order, ``dtypes (D, 2)``
    built, little-endian float64. Tokens are (kind, a, b): STR/BYTES (offset, length), INT
    (value), TUPLE (first element, length), DICT/ARRAY/DTYPE (id), GLOBAL (which).

    Returns ``_WALK_OK`` (``out (5,)``: top token, items, arrays), ``_GIVE_UP``, or
    ``_ROOM + k``: buffer ``k`` (in the order above) is too small; the caller enlarges it and
    walks again (the buffers are the walk's only arrays: growing them inside the loop made
    every opcode pay reference counting).
    """
    n = data.shape[0]
    sp = nm = n_memo = ne = ni = na = nd = n_dicts = 0
    pos = 0
    while True:
        if pos >= n:
            return _GIVE_UP
        op = data[pos]
        pos += 1
        push = False
        kind = a = b = 0
        if op == 0x80:  # PROTO
            pos += 1
        elif op == 0x95:  # FRAME
            pos += 8
        elif op == 0x2E:  # STOP
            break
        elif op == 0x28:  # MARK
            if nm >= marks.shape[0]:
                return _ROOM + 1
            marks[nm, 0] = sp
            nm += 1
        elif op == 0x30:  # POP
            if sp == 0 or (nm > 0 and marks[nm - 1, 0] == sp):
                return _GIVE_UP
            sp -= 1
        elif op == 0x7D:  # EMPTY_DICT
            kind, a, push = _T_DICT, n_dicts, True
            n_dicts += 1
        elif op == 0x29:  # EMPTY_TUPLE
            kind, a, b, push = _T_TUPLE, ne, 0, True
        elif op == 0x74 or op == 0x85 or op == 0x86 or op == 0x87:  # TUPLE, TUPLE1..3
            if op == 0x74:
                if nm == 0:
                    return _GIVE_UP
                nm -= 1
                start = marks[nm, 0]
            else:
                start = sp - (op - 0x84)
                if start < 0 or (nm > 0 and marks[nm - 1, 0] > start):
                    return _GIVE_UP
            count = sp - start
            if ne + count >= elems.shape[0]:
                return _ROOM + 3
            for i in range(count):
                for c in range(3):
                    elems[ne + i, c] = stack[start + i, c]
            sp = start
            kind, a, b, push = _T_TUPLE, ne, count, True
            ne += count
        elif op == 0x73 or op == 0x75:  # SETITEM, SETITEMS
            if op == 0x73:
                start = sp - 2
                if start < 1 or (nm > 0 and marks[nm - 1, 0] > start):
                    return _GIVE_UP
            else:
                if nm == 0:
                    return _GIVE_UP
                nm -= 1
                start = marks[nm, 0]
            count = sp - start
            if start < 1 or count % 2 or stack[start - 1, 0] != _T_DICT:
                return _GIVE_UP
            if ni + count // 2 >= items.shape[0]:
                return _ROOM + 4
            for i in range(0, count, 2):
                items[ni, 0] = stack[start - 1, 1]
                for c in range(3):
                    items[ni, 1 + c] = stack[start + i, c]
                    items[ni, 4 + c] = stack[start + i + 1, c]
                ni += 1
            sp = start
        elif op == 0x58 or op == 0x8C or op == 0x8D or op == 0x42 or op == 0x43 or op == 0x8E or op == 0x96:
            # BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
            width = 4 if op == 0x58 or op == 0x42 else 1 if op == 0x8C or op == 0x43 else 8
            if pos + width > n:
                return _GIVE_UP
            length = _uint(data, pos, width)
            pos += width
            if length < 0 or length > n - pos:
                return _GIVE_UP
            is_text = op == 0x58 or op == 0x8C or op == 0x8D
            if is_text and not _ascii(data, pos, length):
                return _GIVE_UP
            kind, a, b, push = (_T_STR if is_text else _T_BYTES), pos, length, True
            pos += length
        elif op == 0x4B or op == 0x4D or op == 0x4A:  # BININT1, BININT2, BININT
            width = 1 if op == 0x4B else 2 if op == 0x4D else 4
            if pos + width > n:
                return _GIVE_UP
            a = _uint(data, pos, width)
            if width == 4 and a >= 1 << 31:
                a -= 1 << 32
            pos += width
            kind, push = _T_INT, True
        elif op == 0x88 or op == 0x89:  # NEWTRUE, NEWFALSE
            kind, a, push = _T_BOOL, int(op == 0x88), True
        elif op == 0x4E:  # NONE
            kind, push = _T_NONE, True
        elif op == 0x47:  # BINFLOAT (its value is not needed)
            pos += 8
            kind, push = _T_FLOAT, True
        elif op == 0x63:  # GLOBAL: module\nname\n
            mpos = pos
            while pos < n and data[pos] != 10:
                pos += 1
            mlen = pos - mpos
            pos += 1
            npos = pos
            while pos < n and data[pos] != 10:
                pos += 1
            nlen = pos - npos
            pos += 1
            if pos > n:
                return _GIVE_UP
            which = _which_global(data, mpos, mlen, npos, nlen, blob, gtable)
            if which < 0:
                return _GIVE_UP
            kind, a, push = _T_GLOBAL, which, True
        elif op == 0x93:  # STACK_GLOBAL
            if sp < 2 or (nm > 0 and marks[nm - 1, 0] > sp - 2):
                return _GIVE_UP
            if stack[sp - 2, 0] != _T_STR or stack[sp - 1, 0] != _T_STR:
                return _GIVE_UP
            which = _which_global(
                data, stack[sp - 2, 1], stack[sp - 2, 2], stack[sp - 1, 1], stack[sp - 1, 2], blob, gtable
            )
            if which < 0:
                return _GIVE_UP
            sp -= 2
            kind, a, push = _T_GLOBAL, which, True
        elif op == 0x52:  # REDUCE: callable(*args)
            if sp < 2 or (nm > 0 and marks[nm - 1, 0] > sp - 2):
                return _GIVE_UP
            if stack[sp - 2, 0] != _T_GLOBAL or stack[sp - 1, 0] != _T_TUPLE:
                return _GIVE_UP
            which = stack[sp - 2, 1]
            e0, count = stack[sp - 1, 1], stack[sp - 1, 2]
            if which == _G_RECONSTRUCT:  # _reconstruct(ndarray, (0,), b'b'): an empty array, built later
                if not (
                    count == 3
                    and elems[e0, 0] == _T_GLOBAL
                    and elems[e0, 1] == _G_NDARRAY
                    and elems[e0 + 1, 0] == _T_TUPLE
                    and elems[e0 + 1, 2] == 1
                    and elems[elems[e0 + 1, 1], 0] == _T_INT
                    and elems[elems[e0 + 1, 1], 1] == 0
                    and elems[e0 + 2, 0] == _T_BYTES
                    and elems[e0 + 2, 2] == 1
                    and data[elems[e0 + 2, 1]] == 98
                ):
                    return _GIVE_UP
                if na >= arrays.shape[0]:
                    return _ROOM + 5
                for c in range(arrays.shape[1]):
                    arrays[na, c] = 0
                kind, a = _T_ARRAY, na
                na += 1
            elif which == _G_DTYPE:  # dtype('f8', align, copy): little-endian once built
                if not (
                    count == 3
                    and elems[e0, 0] == _T_STR
                    and elems[e0, 2] == 2
                    and data[elems[e0, 1]] == 102
                    and data[elems[e0, 1] + 1] == 56
                ):
                    return _GIVE_UP
                if nd >= dtypes.shape[0]:
                    return _ROOM + 6
                dtypes[nd, 0] = 0
                dtypes[nd, 1] = 0
                kind, a = _T_DTYPE, nd
                nd += 1
            elif which == _G_FROMBUFFER:  # _frombuffer(buffer, dtype, shape, 'C')
                if not (
                    count == 4
                    and elems[e0, 0] == _T_BYTES
                    and elems[e0 + 1, 0] == _T_DTYPE
                    and elems[e0 + 2, 0] == _T_TUPLE
                    and elems[e0 + 3, 0] == _T_STR
                    and elems[e0 + 3, 2] == 1
                    and (data[elems[e0 + 3, 1]] == 67 or data[elems[e0 + 3, 1]] == 70)  # 'C', 'F'
                ):
                    return _GIVE_UP
                d = elems[e0 + 1, 1]
                if dtypes[d, 0] != 1 or dtypes[d, 1] != 1:
                    return _GIVE_UP
                if na >= arrays.shape[0]:
                    return _ROOM + 5
                if not _set_array(arrays, na, elems, elems[e0 + 2, 1], elems[e0 + 2, 2], elems[e0, 1], elems[e0, 2], d):
                    return _GIVE_UP
                arrays[na, 6] = data[elems[e0 + 3, 1]] == 70
                kind, a = _T_ARRAY, na
                na += 1
            else:
                return _GIVE_UP
            sp -= 2
            ne = _reclaimed(ne, e0, count, elems)
            push = True
        elif op == 0x62:  # BUILD: obj.__setstate__(state)
            if sp < 2 or (nm > 0 and marks[nm - 1, 0] > sp - 2) or stack[sp - 1, 0] != _T_TUPLE:
                return _GIVE_UP
            e0, count = stack[sp - 1, 1], stack[sp - 1, 2]
            target, t = stack[sp - 2, 0], stack[sp - 2, 1]
            if target == _T_DTYPE:  # (3, '<', None, None, None, -1, -1, 0)
                if dtypes[t, 0] != 0 or not (
                    count == 8
                    and elems[e0, 0] == _T_INT
                    and elems[e0, 1] == 3
                    and elems[e0 + 1, 0] == _T_STR
                    and elems[e0 + 1, 2] == 1
                    and data[elems[e0 + 1, 1]] == 60
                    and elems[e0 + 2, 0] == _T_NONE
                    and elems[e0 + 3, 0] == _T_NONE
                    and elems[e0 + 4, 0] == _T_NONE
                    and elems[e0 + 5, 0] == _T_INT
                    and elems[e0 + 5, 1] == -1
                    and elems[e0 + 6, 0] == _T_INT
                    and elems[e0 + 6, 1] == -1
                    and elems[e0 + 7, 0] == _T_INT
                    and elems[e0 + 7, 1] == 0
                ):
                    return _GIVE_UP
                dtypes[t, 0] = 1
                dtypes[t, 1] = 1
            elif target == _T_ARRAY:  # (1, shape, dtype, is_fortran, raw bytes)
                if arrays[t, 0] != 0 or not (
                    count == 5
                    and elems[e0, 0] == _T_INT
                    and elems[e0, 1] == 1
                    and elems[e0 + 1, 0] == _T_TUPLE
                    and elems[e0 + 2, 0] == _T_DTYPE
                    and elems[e0 + 3, 0] == _T_BOOL
                    and elems[e0 + 4, 0] == _T_BYTES
                ):
                    return _GIVE_UP
                d = elems[e0 + 2, 1]
                if dtypes[d, 0] != 1 or dtypes[d, 1] != 1:
                    return _GIVE_UP
                if not _set_array(
                    arrays, t, elems, elems[e0 + 1, 1], elems[e0 + 1, 2], elems[e0 + 4, 1], elems[e0 + 4, 2], d
                ):
                    return _GIVE_UP
                arrays[t, 6] = elems[e0 + 3, 1]
            else:
                return _GIVE_UP
            sp -= 1
            ne = _reclaimed(ne, e0, count, elems)
        elif op == 0x71 or op == 0x72 or op == 0x94:  # BINPUT, LONG_BINPUT, MEMOIZE
            if op == 0x94:
                index = n_memo  # len(memo): indices are numbered from 0 without gaps here
            else:
                width = 1 if op == 0x71 else 4
                if pos + width > n:
                    return _GIVE_UP
                index = _uint(data, pos, width)
                pos += width
            # a pickler numbers its memo from 0 without gaps: anything else is left to Python
            if sp == 0 or (nm > 0 and marks[nm - 1, 0] == sp) or index > n_memo:
                return _GIVE_UP
            if index >= memo.shape[0]:
                return _ROOM + 2
            if memo[index, 0] == 0:
                n_memo += 1
            memo[index, 0] = 1
            for c in range(3):
                memo[index, 1 + c] = stack[sp - 1, c]
        elif op == 0x68 or op == 0x6A:  # BINGET, LONG_BINGET
            width = 1 if op == 0x68 else 4
            if pos + width > n:
                return _GIVE_UP
            index = _uint(data, pos, width)
            pos += width
            if index >= memo.shape[0] or memo[index, 0] == 0:
                return _GIVE_UP
            kind, a, b, push = memo[index, 1], memo[index, 2], memo[index, 3], True
            if kind == _T_TUPLE and b > 0:  # its rows may hold another tuple now (_reclaimed)
                return _GIVE_UP
        else:
            return _GIVE_UP
        if pos > n:
            return _GIVE_UP
        if push:
            if sp >= stack.shape[0]:
                return _ROOM + 0
            stack[sp, 0] = kind
            stack[sp, 1] = a
            stack[sp, 2] = b
            sp += 1
    if sp != 1 or nm != 0:
        return _GIVE_UP
    for c in range(3):
        out[c] = stack[0, c]
    out[3] = ni
    out[4] = na
    return _WALK_OK


def _reclaimed(ne: int, e0: int, count: int, elems: np.ndarray) -> int:
    """The tuple ``elems[e0:e0 + count]`` was just consumed (by REDUCE or BUILD): where the
    next tuple's elements may start. When it is the latest tuple, its rows are free again,
    and so are those of the tuples nested in it just below it (an array's shape).

    Nothing can read the freed rows again. A tuple's token is in one place at a time: the
    stack, then the one tuple, dict item or call that takes it off the stack. The memo keeps
    a copy too, but the walk gives up on a GET of a tuple (a pickler memoizes every tuple
    and fetches one only when the same tuple object is pickled twice, which a dict of
    arrays does not do). So once the consumed tuple is gone, so are the tuples only it held.
    Without this, the walk kept every tuple of the file: 68 rows per camera of
    ``cameras.pkl``, 0.8 GB at 1,000,000 cameras, where only the keys' 2 are read later."""
    if e0 + count != ne:
        return ne
    low = e0
    found = True
    while found:  # the nested tuples laid out just below, innermost last
        found = False
        for i in range(e0, e0 + count):
            if elems[i, 0] == _T_TUPLE and elems[i, 2] > 0 and elems[i, 1] + elems[i, 2] == low:
                low = elems[i, 1]
                found = True
    return low


def _set_array(
    arrays: np.ndarray, t: int, elems: np.ndarray, shape0: int, ndim: int, data_pos: int, data_len: int, dtype: int
) -> bool:
    """Record array ``t`` as built: float64, ``ndim`` <= 2 dims from ``elems[shape0:]``, its
    ``data_len`` bytes at ``data_pos`` (False: not a layout the walk models)."""
    if ndim > 2:
        return False
    count = 1
    arrays[t, 2] = 0
    arrays[t, 3] = 0
    for i in range(ndim):
        if elems[shape0 + i, 0] != _T_INT or elems[shape0 + i, 1] < 0 or elems[shape0 + i, 1] > data_len:
            return False
        arrays[t, 2 + i] = elems[shape0 + i, 1]
        count *= elems[shape0 + i, 1]  # each factor <= the file's size: no overflow
    if count * 8 != data_len:
        return False
    arrays[t, 0] = 1
    arrays[t, 1] = ndim
    arrays[t, 4] = data_pos
    arrays[t, 5] = dtype
    return True


@kernel
def _records(
    data: np.ndarray,
    top: np.ndarray,
    items: np.ndarray,
    elems: np.ndarray,
    arrays: np.ndarray,
    n_items: int,
    blob: np.ndarray,
    fields: np.ndarray,
) -> tuple[Any, ...]:
    """The walk's top-level ``{(str, str): {str: value}}`` as per-entry field slots.

    ``fields (F, 2)``: offset and length of each field name in ``blob``. Returns (status,
    keys (E, 4): offsets and lengths of both key strings, entry_ok (E,): the value is a dict
    whose keys are all str, kind (E, F), dims (E, F, 4): ndim, d0, d1, Fortran order (0/1),
    offset (E, F) of a
    float64 array's data, value (E, F) of an int; E).
    """
    nf = fields.shape[0]
    n_dicts = 0
    for i in range(n_items):
        n_dicts = max(n_dicts, items[i, 0] + 1)
    if top[0] == _T_DICT:
        n_dicts = max(n_dicts, top[1] + 1)
    else:
        n_dicts = 0
    # items grouped by dict, each group in file order (the order Python assigns them in)
    starts = np.zeros(n_dicts + 1, np.int64)
    for i in range(n_items):
        starts[items[i, 0] + 1] += 1
    for d in range(n_dicts):
        starts[d + 1] += starts[d]
    order = np.zeros(n_items, np.int64)
    fill = starts[:-1].copy()
    for i in range(n_items):
        d = items[i, 0]
        order[fill[d]] = i
        fill[d] += 1
    n_top = starts[top[1] + 1] - starts[top[1]] if top[0] == _T_DICT else 0
    keys = np.zeros((n_top, 4), np.int64)
    ok = np.zeros(n_top, np.bool_)
    kind = np.zeros((n_top, nf), np.int64)
    dims = np.zeros((n_top, nf, 4), np.int64)
    offset = np.zeros((n_top, nf), np.int64)
    value = np.zeros((n_top, nf), np.int64)
    if top[0] != _T_DICT:
        return _GIVE_UP, keys, ok, kind, dims, offset, value, 0
    for e in range(n_top):
        item = items[order[starts[top[1]] + e]]
        if item[1] != _T_TUPLE or item[3] != 2:
            return _GIVE_UP, keys, ok, kind, dims, offset, value, 0
        k0 = item[2]
        if elems[k0, 0] != _T_STR or elems[k0 + 1, 0] != _T_STR:
            return _GIVE_UP, keys, ok, kind, dims, offset, value, 0
        keys[e, 0], keys[e, 1], keys[e, 2], keys[e, 3] = elems[k0, 1], elems[k0, 2], elems[k0 + 1, 1], elems[k0 + 1, 2]
        if item[4] != _T_DICT:
            continue
        entry = item[5]
        ok[e] = True
        if entry >= n_dicts:  # an empty dict
            continue
        for j in range(starts[entry], starts[entry + 1]):
            field = items[order[j]]
            if field[1] != _T_STR:
                ok[e] = False
                continue
            for f in range(nf):
                if not _same_bytes(data, field[2], field[3], blob, fields[f, 0], fields[f, 1]):
                    continue
                if field[4] == _T_ARRAY and arrays[field[5], 0] == 1:
                    arr = arrays[field[5]]
                    kind[e, f] = FIELD_FLOATS
                    dims[e, f, 0], dims[e, f, 1], dims[e, f, 2], dims[e, f, 3] = arr[1], arr[2], arr[3], arr[6]
                    offset[e, f] = arr[4]
                elif field[4] == _T_INT:
                    kind[e, f] = FIELD_INT
                    value[e, f] = field[5]
                else:
                    kind[e, f] = FIELD_OTHER
    return _WALK_OK, keys, ok, kind, dims, offset, value, n_top


def records(
    data: bytes | mmap.mmap, fields: tuple[str, ...], index_dtype: type[np.signedinteger] | None = None
) -> tuple[np.ndarray, ...] | None:
    """A pickle ``{(str, str): {str: value}}`` whose arrays are little-endian float64, read
    without unpickling (compiled; call it only when :func:`posesynth.util.jit.numba_enabled`).
    Every read is bounded by ``data``'s size and every opcode it takes is complete and
    well-formed, so a file it reads is one :func:`scan` accepts (``load_numpy_pickle`` scans
    only what it unpickles).

    Returns None when the file holds anything the walk does not model (the caller unpickles
    it instead), else (keys (E, 4): offset and length in ``data`` of each key's two strings,
    ASCII without NUL; entry_ok (E,) bool: the value is a dict with only str keys; kind
    (E, F) of each of ``fields``: :data:`FIELD_ABSENT`, :data:`FIELD_FLOATS`,
    :data:`FIELD_INT` or :data:`FIELD_OTHER`; dims (E, F, 4): ndim, d0, d1 of an array and
    whether its data is in Fortran order (MMPose's own ``R`` is a transposed matrix);
    offset (E, F): where its float64 data starts in ``data``; value (E, F): an int's value),
    entries in file order (a repeated key: the last one is the dict's).

    The walk's buffers hold offsets, lengths, counts and 32-bit ints: ``int32`` below 2 GiB
    (``index_dtype`` chooses; tests compare both). They are what the walk touches beyond the
    file (a 1,000,000-camera file: 2.6 GB as int64), so their width is its memory and much of
    its time (first touches of fresh pages).
    """
    raw = np.frombuffer(data, np.uint8)
    n = len(raw)
    if index_dtype is None:
        index_dtype = np.int32 if n < 2**31 - 1 else np.int64
    # first sizes: what a cameras.pkl needs (about 1 tuple element per 9 bytes, an item per 50)
    # (a dtype about every 6 MB: a 1,000,000-camera file outgrew 64 and walked twice)
    rows = [64 + n // 256, 64, 64 + n // 8, 64 + n // 6, 64 + n // 32, 64 + n // 64, 64 + n // 65536]
    widths = [3, 1, 4, 3, 7, 7, 2]
    while True:
        buffers: list[np.ndarray] = [np.zeros((r, w), index_dtype) for r, w in zip(rows, widths)]
        out = np.zeros(5, np.int64)
        status = _walk(raw, _GLOBAL_BLOB, _GLOBAL_TABLE, *buffers, out)
        if status < _ROOM:
            break
        rows[status - _ROOM] *= 4  # bounded: each buffer's rows never exceed the file's opcodes
    if status != _WALK_OK:
        return None
    top, n_items = out[:3], int(out[3])
    items, elems, arrays = buffers[4], buffers[3], buffers[5]
    blob = np.frombuffer("".join(fields).encode("ascii"), np.uint8)
    lengths = np.array([len(f) for f in fields], np.int64)
    table = np.stack([np.cumsum(lengths) - lengths, lengths], axis=1)
    status, keys, ok, kind, dims, offset, value, _ = _records(raw, top, items, elems, arrays, n_items, blob, table)
    if status != _WALK_OK:
        return None
    return keys, ok, kind, dims, offset, value


@kernel
def gather_floats(data: np.ndarray, offset: np.ndarray, dims: np.ndarray, out: np.ndarray) -> None:
    """``out (R, size) uint64``: the bits of ``size`` float64 little-endian values at each
    ``offset (R,)`` of ``data (n,) uint8``, in C order (``dims (R, 4)``: ndim, d0, d1,
    Fortran order; a 2-D array in Fortran order of ``size`` values is read transposed).
    Every ``offset + 8 * size`` must lie within ``data``."""
    size = out.shape[1]
    for r in range(offset.shape[0]):
        transposed = dims[r, 3] == 1 and dims[r, 0] == 2 and dims[r, 1] * dims[r, 2] == size
        for v in range(size):
            src = v
            if transposed:  # C index (i, j) = v; the data holds column j's values together
                src = (v % dims[r, 2]) * dims[r, 1] + v // dims[r, 2]
            at = offset[r] + 8 * src
            bits = np.uint64(0)
            for b in range(8):
                bits |= np.uint64(data[at + b]) << np.uint64(8 * b)
            out[r, v] = bits
