"""Compiled passes of the MMPose reader: image names split into their parts, and the
cameras of ``cameras.pkl`` checked and gathered from the pickle's bytes.

:func:`posesynth.data.formats.mmpose._parse_name_array` reads the ``.npz``'s fixed-width
``imgname`` array as character codes, (N, W) ``uint32`` (``U`` strings) or ``uint8``
(``S`` strings), without a Python string per name. :func:`name_parts` walks each row once
(its length, its characters, the base name after the last ``/`` or ``\\``, the ``_``, ``.``,
``_`` that bound subject, action and camera, the frame's digits and the extension);
:func:`cut` copies one part of every name into a fixed-width array. Compiled by
:func:`posesynth.util.jit.kernel` (the ``fast`` extra); without Numba the caller keeps its
NumPy passes.

:func:`camera_fields` checks and gathers the used entries of a ``cameras.pkl`` read by
:func:`posesynth.data.formats._pickle_scan.records`, one pass per entry over all of its
fields (the NumPy path took a gather per field and column: about 20 passes over (K, 8, 4)
arrays for a million cameras).
"""

from __future__ import annotations

import numpy as np

from posesynth.util.jit import kernel

__all__ = ["CAMERA_FIELDS", "MAX_FRAME_DIGITS", "camera_fields", "cut", "name_parts"]

#: The longest frame number read here (more digits: the string path decides, int64 or not).
MAX_FRAME_DIGITS = 18


@kernel
def name_parts(codes: np.ndarray, out: np.ndarray) -> int:
    """Split every name of ``codes (N, W)`` (character codes, NUL-padded) into
    ``<subject>_<action>.<camera>_<frame>[.<ext>]`` after its last ``/`` or ``\\``.

    ``out (N, 5) int64``: per name, where the subject starts, the ``_`` after it, the ``.``
    after the action, the ``_`` after the camera, and the frame number (1-based, as written).

    Returns -1 when every name is one the caller's string path would parse alike, else the
    first row that is not: a code outside printable ASCII and space, a space at either end,
    NUL inside a name, an empty part, a ``.`` in the subject or the camera, a frame without
    digits, of more than :data:`MAX_FRAME_DIGITS` digits or 0, anything after the digits but
    a ``.`` and one or more ASCII letters and digits.
    """
    n, w = codes.shape
    for i in range(n):
        length = 0
        while length < w and codes[i, length] != 0:
            length += 1
        if length == 0:
            return i
        for j in range(length, w):
            if codes[i, j] != 0:
                return i
        base = 0
        for j in range(length):
            c = codes[i, j]
            if c < 32 or c > 126:
                return i
            if c == 47 or c == 92:  # / or \
                base = j + 1
        if codes[i, 0] == 32 or codes[i, length - 1] == 32:  # str.strip would cut it
            return i
        u1 = -1
        for j in range(base, length):
            c = codes[i, j]
            if c == 46:  # a "." in the subject
                return i
            if c == 95:
                u1 = j
                break
        if u1 <= base:  # no "_", or an empty subject
            return i
        d1 = -1
        for j in range(u1 + 1, length):
            if codes[i, j] == 46:
                d1 = j
                break
        if d1 < u1 + 2:  # no ".", or an empty action
            return i
        u2 = -1
        for j in range(d1 + 1, length):
            c = codes[i, j]
            if c == 46:  # a "." in the camera
                return i
            if c == 95:
                u2 = j
                break
        if u2 < d1 + 2:  # no "_", or an empty camera
            return i
        end = u2 + 1
        frame = np.int64(0)
        while end < length and 48 <= codes[i, end] <= 57:
            if end - u2 > MAX_FRAME_DIGITS:
                return i
            frame = frame * 10 + (np.int64(codes[i, end]) - 48)
            end += 1
        if end == u2 + 1 or frame < 1:
            return i
        if end < length:
            if codes[i, end] != 46 or end + 1 >= length:
                return i
            for j in range(end + 1, length):
                c = codes[i, j]
                if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122):
                    return i
        out[i, 0] = base
        out[i, 1] = u1
        out[i, 2] = d1
        out[i, 3] = u2
        out[i, 4] = frame
    return -1


@kernel
def cut(codes: np.ndarray, at: np.ndarray, subject: np.ndarray, action: np.ndarray, camera: np.ndarray) -> None:
    """The parts of every name of ``codes (N, W)``, as :func:`name_parts` found them (``at``):
    ``subject``, ``action``, ``camera`` (N, L) uint32 NUL-padded (``L`` >= each part's longest),
    in one pass over the names."""
    for i in range(codes.shape[0]):
        for out, start, stop in ((subject, at[i, 0], at[i, 1]), (action, at[i, 1] + 1, at[i, 2]),
                                 (camera, at[i, 2] + 1, at[i, 3])):  # fmt: skip
            k = 0
            for j in range(start, stop):
                out[i, k] = codes[i, j]
                k += 1
            for j in range(k, out.shape[1]):
                out[i, j] = 0


#: The fields :func:`camera_fields` gathers, in the order of its output arrays, with their sizes.
CAMERA_FIELDS = {"R": 9, "T": 3, "c": 2, "f": 2, "k": 3, "p": 2}


@kernel
def camera_fields(
    data: np.ndarray,
    rows: np.ndarray,
    entry_ok: np.ndarray,
    kind: np.ndarray,
    dims: np.ndarray,
    offset: np.ndarray,
    value: np.ndarray,
    cols: np.ndarray,
    out: tuple[np.ndarray, ...],
    size: np.ndarray,
) -> int:
    """The cameras ``rows (K,)`` of a ``records`` read of ``cameras.pkl`` (``data (n,) uint8``
    its bytes; ``entry_ok``, ``kind``, ``dims``, ``offset``, ``value`` its per-entry arrays;
    ``cols (8,)`` the columns of R, T, c, f, k, p, w, h in them), checked as
    ``mmpose._cameras_from_records``' NumPy path checks them.

    Returns -1 with ``out`` (six (K, s) uint64 arrays: the bits of R (s = 9, C order), T, c,
    f, k, p, as :data:`CAMERA_FIELDS`; an absent k or p is 0.0) and ``size (K, 2) int64``
    (w, h) filled, or the first row that path would not take (the outputs then hold the rows
    before it only): not a dict of str keys; R, T, c or f not a float64 array; R not (3, 3);
    a vector not (s,), (s, 1) or (1, s); k or p neither such an array nor absent; w or h not
    a positive int. Checks and values in one pass per entry, with scalar reads only (array
    views per field cost reference counting on every row).
    """
    for i in range(rows.shape[0]):
        r = rows[i]
        if not entry_ok[r]:
            return i
        for f in range(4):  # R, T, c, f present as float64 arrays
            if kind[r, cols[f]] != 1:
                return i
        c = cols[0]
        if dims[r, c, 0] != 2 or dims[r, c, 1] != 3 or dims[r, c, 2] != 3:
            return i
        for f in range(1, 6):  # T, c, f, k, p
            n = out[f].shape[1]
            c = cols[f]
            nd, d0, d1 = dims[r, c, 0], dims[r, c, 1], dims[r, c, 2]
            shaped = (nd == 1 and d0 == n) or (nd == 2 and ((d0 == n and d1 == 1) or (d0 == 1 and d1 == n)))
            k = kind[r, c]
            if not ((k == 1 and shaped) or (k == 0 and f >= 4)):
                return i
        for f in (6, 7):  # w, h
            if kind[r, cols[f]] != 2 or value[r, cols[f]] <= 0:
                return i
        for f in range(6):  # the entry's values, in the same pass
            dst = out[f]
            n = dst.shape[1]
            c = cols[f]
            if kind[r, c] != 1:  # an absent k or p
                for v in range(n):
                    dst[i, v] = 0
                continue
            d0, d1 = dims[r, c, 1], dims[r, c, 2]
            transposed = dims[r, c, 3] == 1 and dims[r, c, 0] == 2 and d0 * d1 == n
            base = offset[r, c]
            for v in range(n):
                src = v
                if transposed:  # C index (a, b) = v; Fortran data holds column b's values together
                    src = (v % d1) * d0 + v // d1
                pos = base + 8 * src
                bits = np.uint64(0)
                for b in range(8):
                    bits |= np.uint64(data[pos + b]) << np.uint64(8 * b)
                dst[i, v] = bits
        size[i, 0] = value[r, cols[6]]
        size[i, 1] = value[r, cols[7]]
    return -1
