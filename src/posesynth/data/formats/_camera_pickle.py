"""The streamed ``cameras.pkl``'s fragments: camera entries as columns, and their pickle
written from the columns, byte for byte what ``pickle.Pickler`` writes for their dicts.

:func:`posesynth.data.formats.mmpose.write_mmpose_chunks` writes ``cameras.pkl`` as one dict
pickled batch by batch (:func:`dict_items_pickle`). A generated data set has a camera per
sample: ``Pickler.dump`` of a million entry dicts (six arrays each) took 16 s, and building
the dicts 7 s more. Past its first entry, every entry of a batch has the same opcodes; only
the memo indices, the strings, the two ints and the arrays' bytes differ.
:func:`camera_items_pickle` pickles the first entry with ``pickle.Pickler`` (which memoises
the field names, NumPy's globals and the dtype) and writes the others from arrays in one
NumPy pass, following the pickler's rules:

- protocol 3: a str is BINUNICODE (UTF-8), then BINPUT; an object already in the memo (the
  same object, not an equal one) is BINGET. A key's subject and camera id repeat as objects
  (a subject shared by its cameras, the camera id that is also the entry's ``id``), so the
  memo is followed by ``id()``, as the pickler's is;
- memo indices count from 0 in order of memoisation; BINPUT / BINGET take one byte below
  256, LONG_BINPUT / LONG_BINGET four above;
- an int is BININT1, BININT2 or BININT by size;
- a dict's items go in batches of 1,000 between MARK and SETITEMS (an empty batch after a
  full last one, as the C pickler writes it);
- a float64 array pickles through ``numpy.core.multiarray._reconstruct`` (memo index 0, the
  stream's head), ``(ndarray, (0,), b'b')`` and its state ``(1, shape, dtype, False,
  bytes)``: six memo entries per array.

Anything outside these rules (fewer than two entries, a str subclass, a non-ASCII string,
an image size of 2**31 or more, an entry ``id`` that is not its key's camera-id object)
goes to ``pickle.Pickler`` whole. Tests compare both on generated and adversarial tables.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ITEMS_HEAD", "STREAM_HEAD", "CameraColumns", "camera_items_pickle", "dict_items_pickle", "seeded_pickler"]

#: NumPy's array reconstructor, the one global of array pickles whose module NumPy 2 spells
#: ``numpy._core`` (NumPy 1.x, what MMPose installations run, needs ``numpy.core``).
_RECONSTRUCT = np.zeros(1).__reduce__()[0]
#: The head of the streamed ``cameras.pkl``: PROTO 3; GLOBAL numpy.core.multiarray
#: _reconstruct, BINPUT 0, POP (kept in the memo only); EMPTY_DICT, BINPUT 1.
STREAM_HEAD = b"\x80\x03" + b"cnumpy.core.multiarray\n_reconstruct\n" + b"q\x00" + b"0" + b"}q\x01"
#: What a seeded pickler writes before a dict's items: PROTO 3, EMPTY_DICT, BINPUT 1.
ITEMS_HEAD = b"\x80\x03}q\x01"
_BATCH = 1000  # the pickler's BATCHSIZE

#: The array fields of an entry in order, and their shapes.
_ARRAYS = (("R", (3, 3)), ("T", (3, 1)), ("c", (2, 1)), ("f", (2, 1)), ("k", (3, 1)), ("p", (2, 1)))
#: Memo entries of one entry past the first, besides new key strings: the key tuple, the
#: entry dict, six per array, the name.
_PUTS = 2 + 6 * len(_ARRAYS) + 1


def seeded_pickler(file: Any) -> pickle.Pickler:
    """A protocol 3 pickler whose memo holds the array reconstructor at index 0 (written once
    by :data:`STREAM_HEAD` under its NumPy 1.x name), so no ``numpy._core`` name is written."""
    pickler = pickle.Pickler(file, protocol=3)
    pickler.memo = {id(_RECONSTRUCT): (0, _RECONSTRUCT)}
    return pickler


def dict_items_pickle(items: Mapping[Any, Any]) -> bytes:
    """The ``MARK key value ... SETITEMS`` opcodes of ``items`` for the streamed pickle
    (one item: ``key value SETITEM``); the fragment's own memo entries start at 2."""
    buf = io.BytesIO()
    seeded_pickler(buf).dump(dict(items))
    raw = buf.getvalue()
    if not raw.startswith(ITEMS_HEAD) or not raw.endswith(b".") or b"cnumpy._core" in raw:
        raise RuntimeError("cameras.pkl: unexpected pickle layout")  # a NumPy global not seeded
    return raw[len(ITEMS_HEAD) : -1]


@dataclass(frozen=True, eq=False)
class CameraColumns:
    """``cameras.pkl`` entries (E) as columns, each a Human3.6M camera as MMPose stores it.

    Attributes:
        R: (E, 3, 3) float64, camera->world rotation. T: (E, 3, 1) float64, the camera
            centre in metres. c, f: (E, 2, 1) float64, principal point and focal lengths in
            pixels. k: (E, 3, 1) float64, radial distortion k1, k2, k3. p: (E, 2, 1) float64,
            tangential p1, p2. All C-contiguous.
        size: (E,) ``[w, h]`` image sizes in pixels (Python ints).
        name, id: (E,) str, MMPose's ``camera<n>`` and the camera id.
    """

    R: np.ndarray
    T: np.ndarray
    c: np.ndarray
    f: np.ndarray
    k: np.ndarray
    p: np.ndarray
    size: list[list[int]]
    name: list[str]
    id: list[str]

    def entry(self, j: int) -> dict[str, Any]:
        """Entry ``j`` as the dict ``cameras.pkl`` holds (its arrays are rows of the columns:
        a pickle holds their values, shapes and dtypes, the bytes of copies)."""
        w, h = self.size[j]
        return {
            "R": self.R[j], "T": self.T[j], "c": self.c[j], "f": self.f[j], "k": self.k[j], "p": self.p[j],
            "w": int(w), "h": int(h), "name": self.name[j], "id": self.id[j],
        }  # fmt: skip

    def entries(self) -> list[dict[str, Any]]:
        return [self.entry(j) for j in range(len(self.name))]

    def take(self, rows: list[int]) -> CameraColumns:
        """The entries ``rows`` (the same str objects)."""
        at = np.asarray(rows, np.int64)
        arrays = {name: np.ascontiguousarray(getattr(self, name)[at]) for name, _ in _ARRAYS}
        return CameraColumns(
            **arrays,
            size=[self.size[j] for j in rows],
            name=[self.name[j] for j in rows],
            id=[self.id[j] for j in rows],
        )


def camera_items_pickle(keys: list[tuple[str, str]], cols: CameraColumns) -> bytes:
    """:func:`dict_items_pickle` of ``dict(zip(keys, cols.entries()))``, the same bytes,
    written from the columns (see the module's notes); ``keys`` distinct."""

    def by_the_pickler() -> bytes:
        return dict_items_pickle(dict(zip(keys, cols.entries(), strict=True)))

    if not _modelled(keys, cols):
        return by_the_pickler()
    buf = io.BytesIO()
    pickler = seeded_pickler(buf)
    first = cols.entry(0)
    pickler.dump({keys[0]: first})  # one item: key value SETITEM
    raw = buf.getvalue()
    if not raw.startswith(ITEMS_HEAD) or not raw.endswith(b"s.") or b"cnumpy._core" in raw:
        raise RuntimeError("cameras.pkl: unexpected pickle layout")
    memo = {key: index for key, (index, _) in pickler.memo.copy().items()}  # id(obj) -> index
    # what later entries refer to: the field names, NumPy's globals and the dtype, as memoised
    fixed = {name: memo.get(id(name)) for name in first}
    for name, obj in (("ndarray", np.ndarray), ("b", first["R"].__reduce__()[1][2]), ("dtype", first["R"].dtype)):
        fixed[name] = memo.get(id(obj))
    known = {name: index for name, index in fixed.items() if index is not None}
    if len(known) != len(fixed):
        return by_the_pickler()
    return b"(" + raw[len(ITEMS_HEAD) : -2] + _later_entries(keys, cols, memo, known) + b"u"


def _modelled(keys: list[tuple[str, str]], cols: CameraColumns) -> bool:
    """Whether :func:`_later_entries` writes these entries as the pickler would."""
    n = len(keys)
    if n < 2 or len(cols.name) != n or len(cols.id) != n or len(cols.size) != n:
        return False
    arrays = (cols.R, cols.T, cols.c, cols.f, cols.k, cols.p)
    for arr, (_, shape) in zip(arrays, _ARRAYS, strict=True):
        if arr.dtype != np.float64 or arr.shape != (n, *shape) or not arr.flags.c_contiguous:
            return False
    strings = [text for key in keys for text in key] + cols.name
    if not all(type(text) is str and text.isascii() for text in strings):
        return False
    if any(cam_id is not key[1] for cam_id, key in zip(cols.id, keys, strict=True)):
        return False  # an entry's id is its key's camera-id object: a BINGET
    named = {id(text) for key in keys for text in key}
    if len({id(name) for name in cols.name} - named) != n:  # each name a fresh object
        return False
    size = np.asarray(cols.size)
    return size.shape == (n, 2) and size.dtype.kind in "iu" and bool(((size >= 0) & (size < 2**31)).all())


class _Rows:
    """Bytes of E rows built segment by segment: each segment (E, width) uint8 with the
    bytes of each row that count; :meth:`joined` gives the rows' counted bytes in order."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.data: list[np.ndarray] = []
        self.used: list[np.ndarray] = []

    def add(self, data: np.ndarray, used: np.ndarray | None = None) -> None:
        self.data.append(np.broadcast_to(data, (self.n, data.shape[-1])))
        self.used.append(np.ones((self.n, data.shape[-1]), bool) if used is None else used)

    def const(self, raw: bytes) -> None:
        self.add(np.frombuffer(raw, np.uint8)[None, :])

    def memo(self, index: np.ndarray | int, put: np.ndarray | bool, present: np.ndarray | None = None) -> None:
        """BINPUT / LONG_BINPUT (``put``) or BINGET / LONG_BINGET of ``index`` (E,)."""
        index = np.broadcast_to(np.asarray(index, np.int64), (self.n,))
        wide = index >= 256
        short, long = np.where(put, ord("q"), ord("h")), np.where(put, ord("r"), ord("j"))
        op = np.where(wide, long, short).astype(np.uint8)
        data = np.concatenate([op[:, None], index.astype("<u4").view(np.uint8).reshape(self.n, 4)], axis=1)
        used = np.ones((self.n, 5), bool)
        used[:, 2:] = wide[:, None]
        if present is not None:
            used &= present[:, None]
        self.add(data, used)

    def text(self, strings: list[str], present: np.ndarray | None = None) -> None:
        """BINUNICODE of each (ASCII) string."""
        encoded = np.array(strings, dtype=bytes)
        width = max(encoded.dtype.itemsize, 1)
        length = np.char.str_len(encoded).astype(np.int64)
        chars = np.ascontiguousarray(encoded.astype(f"S{width}")).view(np.uint8).reshape(self.n, width)
        head = np.concatenate(
            [np.full((self.n, 1), ord("X"), np.uint8), length.astype("<u4").view(np.uint8).reshape(self.n, 4)], axis=1
        )
        used = np.arange(width)[None, :] < length[:, None]
        if present is None:
            self.add(head)
            self.add(chars, used)
        else:
            self.add(head, np.broadcast_to(present[:, None], (self.n, 5)).copy())
            self.add(chars, used & present[:, None])

    def integer(self, values: np.ndarray) -> None:
        """BININT1, BININT2 or BININT of each value in [0, 2**31)."""
        values = np.asarray(values, np.int64)
        op = np.where(values < 256, ord("K"), np.where(values < 65536, ord("M"), ord("J"))).astype(np.uint8)
        width = np.where(values < 256, 1, np.where(values < 65536, 2, 4))
        data = np.concatenate([op[:, None], values.astype("<u4").view(np.uint8).reshape(self.n, 4)], axis=1)
        self.add(data, np.arange(5)[None, :] <= width[:, None])

    def joined(self) -> bytes:
        data = np.concatenate(self.data, axis=1)
        used = np.concatenate(self.used, axis=1)
        return data[used].tobytes()


def _later_entries(
    keys: list[tuple[str, str]], cols: CameraColumns, memo: dict[int, int], fixed: dict[str, int]
) -> bytes:
    """Entries 1.. as the pickler writes them after entry 0, whose memo is ``memo`` (id ->
    index): keys, entry dicts, and a SETITEMS / MARK pair after every 1000th item."""
    n = len(keys) - 1
    seen = dict(memo)
    next_index = len(memo)
    base = np.empty(n, np.int64)
    key_index = np.empty((n, 2), np.int64)
    key_new = np.zeros((n, 2), bool)
    for j, key in enumerate(keys[1:]):  # the pickler's memo, followed object by object
        base[j] = next_index
        for side, text in enumerate(key):
            index = seen.get(id(text))
            if index is None:
                index = seen[id(text)] = next_index
                next_index += 1
                key_new[j, side] = True
            key_index[j, side] = index
        next_index += _PUTS
    put = base + key_new.sum(axis=1)  # the entry's first BINPUT past its key strings
    rows = _Rows(n)
    for side in (0, 1):
        rows.text([key[side] for key in keys[1:]], present=key_new[:, side])
        rows.memo(key_index[:, side], put=key_new[:, side])
    rows.const(b"\x86")
    rows.memo(put, put=True)
    rows.const(b"}")
    rows.memo(put + 1, put=True)
    rows.const(b"(")
    at = 2
    for (name, shape), arr in zip(_ARRAYS, (cols.R, cols.T, cols.c, cols.f, cols.k, cols.p), strict=True):
        rows.memo(fixed[name], put=False)
        rows.memo(0, put=False)  # the reconstructor
        rows.memo(fixed["ndarray"], put=False)
        rows.const(b"K\x00\x85")  # (0,)
        rows.memo(put + at, put=True)
        rows.memo(fixed["b"], put=False)
        rows.const(b"\x87")
        rows.memo(put + at + 1, put=True)
        rows.const(b"R")
        rows.memo(put + at + 2, put=True)
        rows.const(b"(K\x01" + b"".join(b"K" + bytes([d]) for d in shape) + b"\x86")  # state: 1, shape
        rows.memo(put + at + 3, put=True)
        rows.memo(fixed["dtype"], put=False)
        rows.const(b"\x89C" + bytes([arr[0].nbytes]))  # not Fortran order; SHORT_BINBYTES
        rows.add(arr[1:].reshape(n, -1).view(np.uint8))
        rows.memo(put + at + 4, put=True)
        rows.const(b"t")
        rows.memo(put + at + 5, put=True)
        rows.const(b"b")
        at += 6
    size = np.asarray(cols.size, np.int64)[1:]
    for side, name in enumerate(("w", "h")):
        rows.memo(fixed[name], put=False)
        rows.integer(size[:, side])
    rows.memo(fixed["name"], put=False)
    rows.text(cols.name[1:])
    rows.memo(put + at, put=True)
    rows.memo(fixed["id"], put=False)
    rows.memo(key_index[:, 1], put=False)
    rows.const(b"u")
    full = (np.arange(2, n + 2) % _BATCH) == 0  # after the item that fills a batch
    rows.add(np.frombuffer(b"u(", np.uint8)[None, :], np.broadcast_to(full[:, None], (n, 2)).copy())
    return rows.joined()
