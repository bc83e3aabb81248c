"""VideoPose3D sources read a subject at a time: ``data_3d_<name>.npz`` / ``data_2d_<name>.npz``
as VideoPose3D's own ``prepare_data_h36m.py`` writes them (each field one pickled dict in a
0-d object array, ``np.savez`` or ``np.savez_compressed``), or as posesynth writes them.

:func:`read_videopose3d` unpickles each field whole: Human3.6M's files (about 900,000 poses,
3.6 M 2D samples) then take gigabytes. Here a field's top-level dict ``{subject: value}`` is
handed over one item at a time (:func:`dict_items`):

- a member written by posesynth (:class:`~posesynth.data.formats.videopose3d._StreamedDict`:
  batches after no-op markers) is read batch by batch with the C unpickler
  (:func:`~posesynth.data.formats.videopose3d._member_fragments`);
- any other member is run through :class:`_ItemsUnpickler`, the standard library's pure-Python
  unpickler with the NumPy-only globals of :mod:`posesynth.data.formats.numpy_pickle` (nothing
  else is found, so nothing else runs), reading the member as a stream (a deflated member is
  inflated as it is read, 1 MB at a time; nothing is written to disk). Once the pickle has made
  a subject's value and started the next key, the pair is taken off the unpickler's stack and
  handed on; read as :func:`sequences`, so is each action of a subject whose dict is filled
  after a MARK (two or more actions), so one sequence is in memory, not a subject. The memo
  entries made for what was handed on that hold containers, arrays or raw data are replaced by
  a tombstone (an array's raw bytes at once). A pickle that later refers to what was handed on (an opcode reaching below the
  taken pair, or the memo reading a tombstone) cannot be read this way: the walk gives up
  (:class:`GiveUp`) and the caller reads the file whole, as before. A pickler never does that
  for a dict of dicts of arrays (it refers back only to globals, dtypes and strings, which are
  kept).

:func:`survey_source` walks both files (every check of the in-memory reader, in its order,
with its messages; then the visibility of every sample) and :func:`source_chunks` then gives
the samples of :func:`read_videopose3d` in its order, ``rows`` at a time, each a slice of the
whole (the whole's string widths, camera table, ``meta`` and visibility), the files read side
by side a sequence at a time and converted :data:`BLOCK` frames at a time. Memory: a
sequence's 3D and 2D (a subject's for posesynth's own files, a subject with one action), a
block and a chunk.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from posesynth.body.skeleton import H36M17
from posesynth.data.dataset import PoseDataset
from posesynth.data.formats.numpy_pickle import NumpyOnlyUnpickler
from posesynth.geometry.camera import Camera

__all__ = ["GiveUp", "SourceSurvey", "dict_items", "source_chunks", "survey_source"]


class GiveUp(Exception):
    """The member cannot be read item by item (see the module docstring): read it whole."""


class _Tomb:
    """What a memo entry handed on with its subject is replaced by."""


_TOMB = _Tomb()
_SMALL_BYTES = 1024


def _small(value: Any) -> bool:
    """Kept in the memo after its subject is handed on: globals, dtypes, scalars, short
    strings and bytes, tuples of those (what a pickler refers back to across items)."""
    if value is None or isinstance(value, (bool, int, float, complex, np.dtype, np.generic, type)):
        return True
    if isinstance(value, (str, bytes)):
        return len(value) <= _SMALL_BYTES
    if isinstance(value, tuple):
        return len(value) <= 64 and all(_small(v) for v in value)
    return callable(value) and not isinstance(value, (np.ndarray, dict, list, bytearray))


#: The inner key of :meth:`_ItemsUnpickler.items`' top-level items.
WHOLE = object()


class _Dropped(dict):
    """A dict whose items are not kept (a field's entry that no check reads)."""

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


#: :mod:`pickle` untyped: typeshed types its pure-Python ``_Unpickler`` as the C one.
_PICKLE: Any = pickle
_BASE: Any = _PICKLE._Unpickler


class _ItemsUnpickler(_BASE):
    """The pure-Python unpickler run as a generator of the first dict's items (see the module
    docstring); globals as :class:`NumpyOnlyUnpickler` finds them."""

    dispatch: ClassVar[dict[int, Any]] = dict(_BASE.dispatch)

    def __init__(
        self, file: Any, source: str, limit_bytes: int, drop: frozenset[str] = frozenset(), nested: bool = False
    ) -> None:
        super().__init__(file, encoding="latin1")
        self._guard = NumpyOnlyUnpickler(io.BytesIO(b""), source, limit_bytes=limit_bytes)
        self._drop = drop
        self._nested = nested
        self._top: dict | None = None
        self._target: int | None = None  # len(metastack) inside the top dict's MARK
        self._removed = False
        # nested: the value dict being filled inside its MARK (a subject's actions), its key
        self._sub: dict | None = None
        self._sub_key: Any = None
        self._target2: int | None = None
        self._removed2 = False
        self._in_setitems = False
        self._out: list[tuple[Any, Any, Any]] = []
        self._fresh: list[Any] = []

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._guard.find_class(module, name)
        except ValueError as exc:
            raise GiveUp(str(exc)) from None

    # ---------------------------------------------------------------- the items
    def _at_target(self) -> bool:
        return self._target is not None and len(self.metastack) == self._target

    def _at_target2(self) -> bool:
        """Inside the MARK of the current value dict's items (nested)."""
        meta = self.metastack
        return self._target2 is not None and len(meta) == self._target2 and bool(meta[-1]) and meta[-1][-1] is self._sub

    def _hand_on(self, items: list[tuple[Any, Any, Any]]) -> None:
        """Pass ``(key, WHOLE, value)`` (the top dict's items) or ``(key, inner key, value)``
        (a value dict's items, nested) on; the memo's entries made for them go."""
        self._out.extend(items)
        for index in self._fresh:
            if index in self.memo and not _small(self.memo[index]):
                self.memo[index] = _TOMB
        self._fresh = []

    def load_empty_dictionary(self) -> None:
        stack = self.stack
        if self._top is None:
            self._top = {}
            self.append(self._top)
            return
        if self._at_target():
            if stack and isinstance(stack[-1], str) and stack[-1] in self._drop:
                self.append(_Dropped())
                return
            # [key, value, next key]: a new dict starts the next value, so the first pair is made
            if len(stack) == 3 and type(stack[1]) is dict and isinstance(stack[2], str):
                self._hand_on([(stack[0], WHOLE, stack[1])])
                del stack[:2]
                self._removed = True
        self.append({})

    dispatch[pickle.EMPTY_DICT[0]] = load_empty_dictionary

    def load_mark(self) -> None:
        stack = self.stack
        enters_top = self._top is not None and stack and stack[-1] is self._top
        # a value dict of the top's (its key and it alone at the top's level) gets its items
        enters_sub = (
            self._nested and self._at_target() and len(stack) == 2 and type(stack[1]) is dict and not enters_top
        )
        super().load_mark()
        if enters_top:
            if self._target is None:
                self._target = len(self.metastack)
            elif self._target != len(self.metastack):
                raise GiveUp("the dict's items at another depth")
            self._removed = False
        elif enters_sub:
            self._sub, self._sub_key = stack[1], stack[0]
            if self._target2 is None:
                self._target2 = len(self.metastack)
            elif self._target2 != len(self.metastack):
                raise GiveUp("the value dicts' items at another depth")
            self._removed2 = False

    dispatch[pickle.MARK[0]] = load_mark

    def pop_mark(self) -> list:
        if not self._in_setitems and ((self._removed and self._at_target()) or (self._removed2 and self._at_target2())):
            raise GiveUp("an opcode reaches what was handed on")
        return super().pop_mark()

    def _after_op(self) -> None:
        """Nested: ``[key, value, next key, next value's start]`` inside a value dict's MARK,
        the value an array or a list (VideoPose3D's sequences): the first pair is made."""
        if self._target2 is None or not self._at_target2():
            return
        st = self.stack
        if len(st) == 4 and isinstance(st[2], str) and type(st[1]) in (np.ndarray, list):
            self._hand_on([(self._sub_key, st[0], st[1])])
            del st[:2]
            self._removed2 = True

    def load_setitems(self) -> None:
        if self._at_target2():
            self._in_setitems = True
            try:
                items = self.pop_mark()
            finally:
                self._in_setitems = False
            if len(items) % 2 or not self.stack or self.stack[-1] is not self._sub:
                raise GiveUp("SETITEMS of a value dict's items on something else")
            self._hand_on([(self._sub_key, items[i], items[i + 1]) for i in range(0, len(items), 2)])
            return
        if not self._at_target():
            super().load_setitems()
            if self.stack and isinstance(self.stack[-1], _Dropped):  # its items' memo entries go too
                for index in self._fresh:  # tombstones, not deletions: MEMOIZE counts the memo
                    if index in self.memo and not _small(self.memo[index]):
                        self.memo[index] = _TOMB
                self._fresh = []
            return
        self._in_setitems = True
        try:
            items = self.pop_mark()
        finally:
            self._in_setitems = False
        if len(items) % 2 or not self.stack or self.stack[-1] is not self._top:
            raise GiveUp("SETITEMS of the dict's items on something else")
        self._hand_on([(items[i], WHOLE, items[i + 1]) for i in range(0, len(items), 2)])

    dispatch[pickle.SETITEMS[0]] = load_setitems

    def load_pop(self) -> None:
        if not self.stack and ((self._removed and self._at_target()) or (self._removed2 and self._at_target2())):
            raise GiveUp("POP reaches what was handed on")
        super().load_pop()

    dispatch[pickle.POP[0]] = load_pop

    # ---------------------------------------------------------------- the memo
    def _got(self, index: int) -> None:
        value = self.memo.get(index, _TOMB)
        if value is _TOMB:  # handed on, or never put
            raise GiveUp(f"the memo's entry {index} was handed on or never made")
        self.append(value)

    def load_binget(self) -> None:
        self._got(self.read(1)[0])

    def load_long_binget(self) -> None:
        self._got(int.from_bytes(self.read(4), "little"))

    def load_get(self) -> None:
        raise GiveUp("text memo opcodes")

    def _put(self, index: int) -> None:
        value = self.stack[-1]
        # an array's raw data, and the state tuple holding it: a pickler makes them afresh for
        # each array and never refers back to them, so they are not kept beside the array they
        # become (a GET of one gives up)
        parts = value if isinstance(value, tuple) else (value,)
        big = any(isinstance(v, (bytes, bytearray)) and len(v) > _SMALL_BYTES for v in parts)
        self.memo[index] = _TOMB if big else value
        self._fresh.append(index)

    def load_binput(self) -> None:
        self._put(self.read(1)[0])

    def load_long_binput(self) -> None:
        self._put(int.from_bytes(self.read(4), "little"))

    def load_memoize(self) -> None:
        self._put(len(self.memo))

    dispatch[pickle.BINGET[0]] = load_binget
    dispatch[pickle.LONG_BINGET[0]] = load_long_binget
    dispatch[pickle.GET[0]] = load_get
    dispatch[pickle.PUT[0]] = load_get
    dispatch[pickle.BINPUT[0]] = load_binput
    dispatch[pickle.LONG_BINPUT[0]] = load_long_binput
    dispatch[pickle.MEMOIZE[0]] = load_memoize

    # ---------------------------------------------------------------- the loop
    def items(self) -> Iterator[tuple[Any, Any, Any]]:
        """The top dict's items in order as ``(key, WHOLE, value)``, and when nested, the
        items of its value dicts as ``(key, inner key, inner value)`` before their
        ``(key, WHOLE, the rest of the value dict)``; then checks the pickle held that dict in
        a 0-d object array (what ``np.save`` writes) or was that dict."""
        self._unframer = _PICKLE._Unframer(self._file_read, self._file_readline)
        self.read = self._unframer.read
        self.readinto = self._unframer.readinto
        self.readline = self._unframer.readline
        self.metastack: list[list[Any]] = []
        self.stack: list[Any] = []
        self.append = self.stack.append
        self.proto = 0
        read, dispatch, out, nested = self.read, self.dispatch, self._out, self._nested
        try:
            while True:
                key = read(1)
                if not key:
                    raise GiveUp("no STOP")
                dispatch[key[0]](self)
                if nested:
                    self._after_op()
                while out:
                    yield out.pop(0)
        except _PICKLE._Stop as stop:
            value = stop.value
        holder = (
            value.item() if isinstance(value, np.ndarray) and value.shape == () and value.dtype == object else value
        )
        if holder is not self._top:
            raise GiveUp("not a dict")
        top = self._top
        while top:  # items set one by one (a dict of one item), or after a MARK not seen as the top's
            first = next(iter(top))
            yield first, WHOLE, top.pop(first)


class _Pieces(io.RawIOBase):
    """A zip member read at most 1 MB at a time. ``ZipExtFile.read(n)`` joins what it inflates
    into a growing ``bytes`` (about three copies of an array's data at once);
    :class:`io.BufferedReader` over this fills the one ``bytes`` of the array in place."""

    def __init__(self, member: Any) -> None:
        super().__init__()
        self.member = member

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        with memoryview(b) as view, view.cast("B") as flat:
            data = self.member.read(min(flat.nbytes, 1 << 20))
            n = len(data)
            flat[:n] = data
        return n


def sequences(path: Path, key: str) -> Iterator[tuple[Any, Any, Any]]:
    """``(subject, action, value)`` of the dict of dicts stored as field ``key``, one
    sequence at a time when the pickle fills each subject's dict after a MARK (a pickler does
    for two or more actions), else a subject at a time; ``(subject, WHOLE, value)`` after a
    subject's sequences, with ``value`` what was not handed on (an empty dict, or a value
    that is not a dict). Raises :class:`GiveUp` as :func:`dict_items`."""
    for subject, action, value in dict_items(path, key, nested=True):
        if action is not WHOLE:
            # handed on through a box: this frame keeps no reference while it waits, so the
            # caller's sequence is freed before the next one is read, not after
            box = [value]
            del value
            yield subject, action, box.pop()
            continue
        if isinstance(value, dict):
            while value:  # popped: not kept here while the caller uses it
                first = next(iter(value))
                yield subject, first, value.pop(first)
        yield subject, WHOLE, value
        del value


def _fragmented(path: Path, member: str) -> bool:
    """Whether ``member`` was written batch by batch by posesynth (markers after the head)."""
    import struct

    from posesynth.data.formats.mmpose import _FRAGMENT_TAG

    prefix = b"X" + struct.pack("<I", len(_FRAGMENT_TAG) + 16) + _FRAGMENT_TAG.encode("ascii")
    with zipfile.ZipFile(path) as zf, zf.open(member) as fh:
        return fh.read(1 << 16).find(prefix) >= 0


def dict_items(
    path: Path, key: str, drop: frozenset[str] = frozenset(), fragments: bool = True, nested: bool = False
) -> Iterator[Any]:
    """``(key, value)`` of the dict stored as field ``key`` of the ``.npz`` ``path``, one item
    at a time (see the module docstring), values as :func:`read_videopose3d` unpickles them.
    ``drop``: keys whose dict values are read but not kept (an empty dict is given);
    ``fragments``: a member posesynth wrote batch by batch is read by its batches (the
    batched dict must be the top one: not so for ``metadata``).

    Raises:
        GiveUp: the member is missing, not a pickled 0-d object array, damaged, or refers back
            to what was handed on: the caller reads the file whole (which names the error).
    """
    from posesynth.data.formats.videopose3d import _subject_items, npy_header

    member = f"{key}.npy"
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo(member)
    except (KeyError, OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise GiveUp(str(exc)) from None
    try:
        if fragments and _fragmented(path, member):
            for subject, value in _subject_items(path, key):
                box = [value]  # no reference kept here while the caller uses it (see sequences)
                del value
                yield (subject, WHOLE, box.pop()) if nested else (subject, box.pop())
            return
        with zipfile.ZipFile(path) as zf, zf.open(member) as fh:
            version, shape, dtype = npy_header(fh)
            if dtype is None:
                raise GiveUp(f"npy version {version}")
            if dtype != np.dtype(object) or shape != ():
                raise GiveUp("not a 0-d object array")
            reader = io.BufferedReader(_Pieces(fh), 1 << 16)
            walk = _ItemsUnpickler(reader, f"{path} (field {key!r})", info.file_size, drop, nested)
            for item in walk.items():
                box = [item if nested else (item[0], item[2])]  # no reference kept here (see sequences)
                del item
                yield box.pop()
    except GiveUp:
        raise
    except Exception as exc:  # damaged members, CRC errors, refused globals: the whole read names them
        raise GiveUp(f"{type(exc).__name__}: {exc}") from None


# --------------------------------------------------------------------------------- survey


@dataclass(slots=True)
class _Seq:
    """One row of the in-memory reader: a sequence, its 3D length and its 2D views' lengths."""

    subject: str
    action: str
    frames_3d: int | None
    frames_2d: tuple[int, ...] | None


class _Strings:
    """Strings held as one UTF-8 buffer and the end of each (no Python object per string: a
    million names are about 20 bytes each, and nothing small is left between the walk's
    freed objects). With ``memo``, the first ``memo`` distinct strings are stored once and a
    repeat gets the first one's index (action names)."""

    __slots__ = ("_index", "_memo", "data", "ends", "width")

    def __init__(self, memo: int = 0) -> None:
        self.data = bytearray()
        self.ends = array("q")
        self.width = 0  # the longest, in characters (the ``<U`` width)
        self._index: dict[str, int] = {}
        self._memo = memo

    def add(self, s: str) -> int:
        """Store ``s`` (or find it in the memo); its index."""
        k = self._index.get(s)
        if k is not None:
            return k
        self.data += s.encode("utf-8", "surrogatepass")  # an unpickled str may hold surrogates
        self.ends.append(len(self.data))
        self.width = max(self.width, len(s))
        k = len(self.ends) - 1
        if len(self._index) < self._memo:
            self._index[s] = k
        return k

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, k: int) -> str:
        lo = self.ends[k - 1] if k else 0
        return self.data[lo : self.ends[k]].decode("utf-8", "surrogatepass")


class _Rows:
    """The in-memory reader's rows (a sequence each: subject, action, 3D length, 2D views'
    lengths) held as arrays, about 60 bytes a sequence of one view, not Python objects (a
    subject per sample: a million of them, whose objects also kept the walk's freed memory
    from being reused, about 230 bytes a subject). A subject's rows are consecutive (a
    dict's keys), so a subject is stored once with its first row. Rows are given as
    :class:`_Seq` made on the way (:meth:`__iter__`, :meth:`__getitem__`), not kept."""

    def __init__(self) -> None:
        self.subjects = _Strings()
        self.first = array("q")  # each subject's first row
        self.actions = _Strings(memo=4096)
        self.action = array("q")  # per row: its action's index in ``actions``
        self.frames_3d = array("q")  # per row; -1: no 3D
        self.views_end = array("q")  # per row with 2D: the end of its views in ``view_frames``
        self.view_frames = array("q")
        self._last: str | None = None  # the last row's subject

    def add(self, subject: str, action: str, frames_3d: int | None, frames_2d: tuple[int, ...] | None = None) -> None:
        """A row after the last (its subject's rows consecutive); its 2D views' lengths now or
        later, in row order (:meth:`add_views`)."""
        if subject != self._last or not self.first:
            self.subjects.add(subject)
            self.first.append(len(self.action))
            self._last = subject
        self.action.append(self.actions.add(action))
        self.frames_3d.append(-1 if frames_3d is None else frames_3d)
        if frames_2d is not None:
            self.add_views(frames_2d)

    def add_views(self, frames_2d: tuple[int, ...]) -> None:
        """The 2D views' lengths of the next row without them."""
        self.view_frames.extend(frames_2d)
        self.views_end.append(len(self.view_frames))

    def __len__(self) -> int:
        return len(self.action)

    @property
    def with_2d(self) -> bool:
        return len(self.views_end) == len(self.action) and len(self.action) > 0

    def subject_rows(self, k: int) -> range:
        """The rows of subject ``k``."""
        end = self.first[k + 1] if k + 1 < len(self.first) else len(self.action)
        return range(self.first[k], end)

    def views(self, i: int) -> tuple[int, ...] | None:
        """Row ``i``'s 2D views' lengths (None: not given)."""
        if i >= len(self.views_end):
            return None
        lo = self.views_end[i - 1] if i else 0
        return tuple(self.view_frames[lo : self.views_end[i]])

    def row(self, i: int, subject: str) -> _Seq:
        """Row ``i`` of ``subject`` (its name already at hand)."""
        t3 = self.frames_3d[i]
        return _Seq(subject, self.actions[self.action[i]], None if t3 < 0 else t3, self.views(i))

    def __getitem__(self, i: int) -> _Seq:
        if not 0 <= i < len(self.action):
            raise IndexError(i)
        return self.row(i, self.subjects[bisect_right(self.first, i) - 1])

    def __iter__(self) -> Iterator[_Seq]:
        for k in range(len(self.first)):
            subject = self.subjects[k]
            for i in self.subject_rows(k):
                yield self.row(i, subject)

    def subject_names(self) -> Iterator[str]:
        """Each subject's name, in row order."""
        return (self.subjects[k] for k in range(len(self.subjects)))

    def samples(self) -> int:
        """Samples of the in-memory reader: a 3D sequence's frames once per view (once without
        2D), a 2D-only sequence's frames summed over its views."""
        n = len(self.action)
        t3 = np.frombuffer(self.frames_3d, dtype=np.int64) if n else np.zeros(0, np.int64)
        if not self.with_2d:
            return int(t3.sum())
        ends = np.frombuffer(self.views_end, dtype=np.int64)
        count = np.diff(ends, prepend=0)
        if (t3 >= 0).all():
            return int((t3 * count).sum())
        return int(np.frombuffer(self.view_frames, dtype=np.int64).sum())


@dataclass
class SourceSurvey:
    """What :func:`survey_source` learnt: the whole's ids, widths, cameras and ``meta``."""

    path_3d: Path | None
    path_2d: Path | None
    layout_3d: str | None
    layout_2d: str | None
    seqs: _Rows
    samples: int
    subject_width: int
    action_width: int
    all_seen: bool
    cameras: Any
    camera_names: np.ndarray | None
    camera_offset: dict[str, int] | None
    per_subject: int  # cameras per subject in the table (presets: 4); 0 with own cameras
    meta: dict[str, Any] = field(default_factory=dict)
    #: the cameras file read again as the chunks need it (one camera per sample), in place of
    #: ``cameras`` (a table) when it holds more cameras than ``survey_source``'s ``table_max``
    file_cameras: FileCameras | None = None


@dataclass
class FileCameras:
    """A cameras file's cameras given one per sample (:func:`source_chunks`): the entries of its
    ``cameras`` object read one at a time from ``start``, in the data's subject order."""

    path: Path
    #: byte offset just after the ``cameras`` object's ``{`` (:class:`~posesynth.data.formats._json_stream.JsonItems`)
    start: int
    #: the model name every entry has
    model: Any
    #: cameras of the data's subjects (the in-memory reader's table length)
    count: int
    #: the longest camera name ``<subject>/<id>``
    name_width: int


def _nested_error(path: Path, key: str, subject: Any, action: Any, value: Any, first: bool) -> ValueError | None:
    """What :func:`~posesynth.data.formats.videopose3d._nested` raises for this event of
    :func:`sequences` (``first``: the subject's first event), if anything."""
    if first and not isinstance(subject, str):
        return ValueError(f"{path}: {key}: expected subject names (str), got {subject!r}")
    if action is WHOLE:
        if not isinstance(value, dict):
            return ValueError(f"{path}: {key}[{subject!r}]: expected a dict of actions, got {type(value).__name__}")
        return None
    if not isinstance(action, str):
        return ValueError(f"{path}: {key}[{subject!r}]: expected action names (str), got {action!r}")
    return None


def _size(value: Any) -> int:
    """Elements of a sequence's arrays (what the in-memory reader's ``total`` counts)."""
    if isinstance(value, np.ndarray):
        return int(np.size(value))
    if isinstance(value, (list, tuple)):
        return sum(int(np.size(item)) for item in value if isinstance(item, np.ndarray))
    return 0


class _Matcher:
    """The 2D file's sequences matched to the 3D file's as the 2D walk makes them (one forward
    pass, nothing held per 2D sequence): each matched 3D row gets its 2D views' lengths
    (:meth:`_Rows.add_views`); a 2D sequence that is not the next 3D one is taken as one
    without 3D (a 3D one then never matched: missing, or the files in another order). The
    in-memory reader's checks of the pairing come after every check of the 2D file, so their
    first error waits (:meth:`finish`)."""

    def __init__(self, rows: _Rows, path_3d: Path, path_2d: Path) -> None:
        self.rows, self.path_3d, self.path_2d = rows, path_3d, path_2d
        self.at = 0
        self.unmatched: list[tuple[str, str]] = []
        self.trimmed: list[dict[str, Any]] = []
        self.error: ValueError | None = None
        self._subject = -1  # the subject of row ``at`` (its index, its name)
        self._name = ""

    def _key(self, i: int) -> tuple[str, str]:
        """Row ``i``'s ``(subject, action)`` (rows asked in order: the subject's name decoded once)."""
        rows = self.rows
        while self._subject + 1 < len(rows.first) and rows.first[self._subject + 1] <= i:
            self._subject += 1
            self._name = rows.subjects[self._subject]
        return self._name, rows.actions[rows.action[i]]

    def add(self, s: str, a: str, frames: tuple[int, ...]) -> None:
        if self.error is not None:
            return
        if self.at >= len(self.rows) or self._key(self.at) != (s, a):
            self.unmatched.append((s, a))
            return
        t3 = self.rows.frames_3d[self.at]
        for c, t2 in enumerate(frames):
            if t2 < t3:
                self.error = ValueError(
                    f"{self.path_2d}: positions_2d[{s!r}][{a!r}][{c}]: {t2} frames, fewer than the {t3} frames "
                    f"of {self.path_3d} (positions_3d[{s!r}][{a!r}])"
                )
                return
            if t2 > t3:
                self.trimmed.append({"subject": s, "action": a, "camera": c, "frames_2d": t2, "frames_3d": t3})
        self.rows.add_views(frames)
        self.at += 1

    def finish(self) -> _Rows:
        """The rows; raises the first pairing error (GiveUp: the files in another order)."""
        if self.error is not None:
            raise self.error
        if self.at < len(self.rows):
            s, a = self._key(self.at)
            if (s, a) in set(self.unmatched):
                raise GiveUp("the 2D file's sequences in another order")
            raise ValueError(
                f"{self.path_2d}: positions_2d: missing {s}/{a}, which {self.path_3d} has (positions_3d[{s!r}][{a!r}])"
            )
        return self.rows


def _walk_field(path: Path, key: str, two_d: bool, match: _Matcher | None = None) -> tuple[_Rows, int | None]:
    """The sequences of field ``key`` as rows (3D: each one's frames; 2D: its views' frames)
    and the joint count, a sequence in memory, checked as
    :func:`~posesynth.data.formats.videopose3d._read_3d` / ``_read_2d`` check them, raising
    their first error (the dict's names first, then the size, then the arrays in order).
    With ``match``, the 2D sequences go to it instead (no rows returned)."""
    from posesynth.data.formats.videopose3d import _LAYOUT_BY_COUNT, _stored, camera_views
    from posesynth.data.validate import check_elements

    nested: ValueError | None = None
    first: ValueError | None = None
    total = 0
    rows = _Rows()
    joints: int | None = None
    count = 0
    starts = True  # the next event is a subject's first
    for subject, action, value in sequences(path, key):
        if nested is None:
            nested = _nested_error(path, key, subject, action, value, starts)
        starts = action is WHOLE
        if nested is not None or action is WHOLE:
            continue
        if two_d == isinstance(value, (list, tuple)):  # 3D: arrays; 2D: lists of arrays
            total += _size(value)
        if first is not None:
            continue
        where = f"{key}[{subject!r}][{action!r}]"
        try:
            if two_d:
                views, joints = camera_views(path, where, value, joints, _stored)
                frames = tuple(int(arr.shape[0]) for arr in views)
                count += 1
                if match is not None:
                    match.add(subject, action, frames)
                else:
                    rows.add(subject, action, None, frames)
            else:
                arr = _stored(path, where, value, (3,))
                if joints is None:
                    joints = arr.shape[1]
                    if joints not in _LAYOUT_BY_COUNT:
                        raise ValueError(
                            f"{path}: {where}: expected 17 (Human3.6M-17) or 32 (raw Human3.6M) joints, got {joints}"
                        )
                elif arr.shape[1] != joints:
                    raise ValueError(
                        f"{path}: {where}: expected {joints} joints like the other sequences, got {arr.shape[1]}"
                    )
                count += 1
                rows.add(subject, action, int(arr.shape[0]))
        except ValueError as exc:
            first = exc
        del value
    if nested is not None:
        raise nested
    check_elements(f"{path}: {key}", total, 8)
    if first is not None:
        raise first
    if not count:
        raise ValueError(f"{path}: {key}: expected at least one sequence, got none")
    return rows, joints


def _metadata(path: Path) -> dict[str, Any]:
    """The 2D file's ``metadata`` dict without ``video_metadata``'s entries (no check reads them)."""
    return dict(dict_items(path, "metadata", frozenset({"video_metadata"}), fragments=False))


#: Cameras file entries checked as one :class:`~posesynth.geometry.camera.Camera` at a time
#: when no table is kept (:func:`_survey_cameras`)
CAMERA_CHECK_BLOCK = 1024


class _ReadWhole(Exception):
    """The cameras file is not one :func:`_survey_cameras` reads entry by entry."""


def _survey_cameras(
    path: Path, rows: _Rows, table_max: int | None
) -> tuple[Any, np.ndarray, dict[str, int]] | FileCameras:
    """:func:`~posesynth.data.formats.videopose3d._read_cameras_file` of a cameras file read
    an entry at a time (:mod:`posesynth.data.formats._json_stream`: a block of text and one
    subject's cameras held, not the document): the same checks, messages and order, and its
    result (table, names, offsets) for at most ``table_max`` cameras; beyond, a
    :class:`FileCameras` (every entry checked, nothing kept).

    The ``cameras`` object's entries are matched to the rows' subjects in order (as posesynth writes
    the file; entries of other subjects are skipped). A file that is not ASCII JSON, whose
    ``format``, ``version`` or ``cameras`` are not as written, that lacks a subject or lists
    the subjects in another order, or (beyond ``table_max``) holds a camera that
    :class:`~posesynth.geometry.camera.Camera` refuses, is read whole by the in-memory reader,
    which names its error (the index in the whole table) or reads it. (A subject listed twice: json.loads keeps the last entry, this the
    first; posesynth never writes one twice.)
    """
    from posesynth.data.formats._json_stream import END, JsonItems, json_layout
    from posesynth.data.formats.videopose3d import (
        _CAM_FIELDS,
        CAMERAS_FORMAT,
        CAMERAS_VERSION,
        _camera_entry,
        _check_views,
        _read_cameras_file,
    )
    from posesynth.geometry.camera import Camera

    def whole() -> tuple[Any, np.ndarray, dict[str, int]]:
        subjects = list(rows.subject_names())
        return _read_cameras_file(path, subjects, [(q.subject, q.action, None, q.frames_2d) for q in rows])

    try:
        starts, values = json_layout(path, {("cameras",), ("videopose3d",)})
        start = starts.get(("cameras",))
        if values.get(("format",)) != CAMERAS_FORMAT or values.get(("version",)) != CAMERAS_VERSION:
            raise _ReadWhole
        if start is None:
            raise _ReadWhole
        with open(path, "rb") as fh:
            fh.seek(start - 1)
            if fh.read(1) != b"{":  # a list, not subject -> entry
                raise _ReadWhole
        items = JsonItems(path, start, pairs=True)
    except (OSError, ValueError, _ReadWhole):
        return whole()
    fields: dict[str, list[np.ndarray]] | None = {f: [] for f in _CAM_FIELDS}
    names: list[str] = []
    offsets: dict[str, int] = {}
    k = width = 0
    model: Any = None
    refused = False  # an entry Camera refuses (in per-sample mode): the in-memory reader says where
    # per-sample mode: entries checked as one table, :data:`CAMERA_CHECK_BLOCK` at a time (one
    # Camera each took 60% of this walk)
    checking: dict[str, list[np.ndarray]] = {f: [] for f in _CAM_FIELDS}

    def refuses(batch: dict[str, list[np.ndarray]]) -> bool:
        """Whether :class:`Camera` refuses these entries as a table (then emptied)."""
        try:
            Camera(model=model, **{f: np.concatenate(v) for f, v in batch.items()})
        except ValueError:
            return True
        finally:
            for v in batch.values():
                v.clear()
        return False

    i = 0  # the subject matched next
    s = rows.subjects[0]
    try:
        while i < len(rows.subjects):
            item = items.next()
            if item is END:
                break
            key, entry = item
            if key != s:
                continue
            model, ids, arrays = _camera_entry(path, s, entry, model)
            for j in rows.subject_rows(i):
                views = rows.views(j)
                assert views is not None  # cameras are read with a 2D file
                _check_views(path, s, rows.actions[rows.action[j]], len(views), len(ids))
            at = k  # the subject's first camera in the table
            k += len(ids)
            here = [f"{s}/{cid}" for cid in ids]
            width = max([width, *map(len, here)])
            if fields is not None and table_max is not None and k > table_max:
                if fields["center"]:  # the entries kept so far, checked as the table would be
                    refused = refuses(fields)
                fields = None  # one camera per sample: the table is not kept
                names, offsets = [], {}
            if fields is not None:  # nothing kept per subject beyond the table (an offset each was 130 MB at 1 M)
                offsets[s] = at
                for f in _CAM_FIELDS:
                    fields[f].append(arrays[f])
                names += here
            elif not refused:  # what the whole table's Camera would refuse, said after the checks
                for f in _CAM_FIELDS:
                    checking[f].append(arrays[f])
                if len(checking["center"]) >= CAMERA_CHECK_BLOCK:
                    refused = refuses(checking)
            i += 1
            if i < len(rows.subjects):
                s = rows.subjects[i]
    except ValueError as exc:
        if "not valid JSON" in str(exc) or "not ASCII" in str(exc):
            return whole()
        raise
    finally:
        items.close()
    if fields is None and not refused and checking["center"]:
        refused = refuses(checking)
    if i < len(rows.subjects) or refused:  # a subject missing, the subjects in another order, a bad camera
        return whole()
    if fields is None:
        return FileCameras(path=path, start=start, model=model, count=k, name_width=max(width, 1))
    try:
        cameras = Camera(model=model, **{f: np.concatenate(v) for f, v in fields.items()})
    except ValueError as exc:
        raise ValueError(f"{path}: cameras: {exc}") from None
    return cameras, np.array(names), offsets


def survey_source(
    path_3d: Path | None, path_2d: Path | None, cameras_path: Path | None, table_max: int | None = None
) -> SourceSurvey:
    """Walk the files once (a subject at a time) with every check of :func:`read_videopose3d`,
    in its order; what the chunks need (see :class:`SourceSurvey`).

    A cameras file is read an entry at a time (:func:`_survey_cameras`). With more than
    ``table_max`` cameras (None: no limit) the survey keeps no camera table: the chunks then
    carry one camera per sample (:class:`FileCameras`), the same values.

    Raises:
        ValueError: what :func:`read_videopose3d` raises for these files.
        GiveUp: the files cannot be read a subject at a time (the caller reads them whole).
    """
    from posesynth.data.formats.videopose3d import (
        _LAYOUT_BY_COUNT,
        _h36m_cameras,
        _layout_2d,
        cameras_file_for,
    )
    from posesynth.geometry.camera import H36M_CAMERA_IDS, H36M_SUBJECTS

    if path_3d is None and path_2d is None:
        raise ValueError("read_videopose3d: expected path_3d, path_2d or both, got neither")
    layout_3d = layout_2d = None
    seqs_3d = seqs_2d = None
    match: _Matcher | None = None
    if path_3d is not None:
        if not path_3d.is_file():
            raise FileNotFoundError(2, "No such file", str(path_3d))
        _load_fields_head(path_3d, ("positions_3d",))
        seqs_3d, joints3 = _walk_field(path_3d, "positions_3d", two_d=False)
        assert joints3 is not None
        layout_3d = _LAYOUT_BY_COUNT[joints3]
    if path_2d is not None:
        if not path_2d.is_file():
            raise FileNotFoundError(2, "No such file", str(path_2d))
        _load_fields_head(path_2d, ("positions_2d", "metadata"))
        metadata = _metadata(path_2d)  # the in-memory reader loads both fields before any check
        match = None if seqs_3d is None else _Matcher(seqs_3d, path_3d, path_2d)  # type: ignore[arg-type]
        seqs_2d, joints2 = _walk_field(path_2d, "positions_2d", two_d=True, match=match)
        assert joints2 is not None
        layout_2d = _layout_2d(path_2d, metadata, joints2)
    meta: dict[str, Any] = {
        "format": "videopose3d",
        "files": {k: str(v) for k, v in (("3d", path_3d), ("2d", path_2d)) if v is not None},
        "layout_3d": layout_3d,
        "layout_2d": layout_2d,
        "units": {"joints_3d_world": "m", "joints_2d": "px"},
    }
    rows: _Rows
    if seqs_3d is not None and path_2d is not None:
        assert match is not None
        rows = match.finish()
        meta["trimmed_2d"] = match.trimmed
        meta["unmatched_2d"] = [f"{s}/{a}" for s, a in match.unmatched]
    elif seqs_3d is not None:
        rows = seqs_3d
    else:
        assert seqs_2d is not None
        rows = seqs_2d
    with_2d = path_2d is not None
    del seqs_3d, seqs_2d
    if cameras_path is None:
        for p in (path_3d, path_2d):
            if p is not None and cameras_path is None:
                cameras_path = cameras_file_for(p)
    own = None
    file_cameras = None
    if cameras_path is not None and with_2d:
        read = _survey_cameras(Path(cameras_path), rows, table_max)
        if isinstance(read, FileCameras):
            file_cameras = read
        else:
            own = read
    use_presets = (
        own is None
        and file_cameras is None
        and with_2d
        and all(s in H36M_SUBJECTS for s in rows.subject_names())
        and bool((np.diff(np.frombuffer(rows.views_end, dtype=np.int64), prepend=0) == len(H36M_CAMERA_IDS)).all())
    )
    cameras = camera_names = offsets = None
    per_subject = 0
    if use_presets:
        subjects = list(rows.subject_names())  # Human3.6M's, so a few
        cameras, camera_names = _h36m_cameras(subjects)
        offsets = {s: i * len(H36M_CAMERA_IDS) for i, s in enumerate(subjects)}
        per_subject = len(H36M_CAMERA_IDS)
    elif own is not None:
        cameras, camera_names, offsets = own
    survey = SourceSurvey(
        path_3d=path_3d,
        path_2d=path_2d,
        layout_3d=layout_3d,
        layout_2d=layout_2d,
        seqs=rows,
        samples=rows.samples(),
        subject_width=rows.subjects.width,
        action_width=rows.actions.width,
        all_seen=True,
        cameras=cameras,
        camera_names=camera_names,
        camera_offset=offsets,
        per_subject=per_subject,
        meta=meta,
        file_cameras=file_cameras,
    )
    missing = 0
    for run in _runs(survey):
        vis = run.vis
        k = int((vis == 0).sum())
        missing += k
        if survey.all_seen and not (vis == 1).all():
            survey.all_seen = False
    meta["missing_points"] = missing
    if use_presets:
        meta["cameras"] = "human3.6m presets (VideoPose3D camera order)"
    elif own is not None or file_cameras is not None:
        meta["cameras"] = str(cameras_path)
    else:
        meta["cameras"] = None
    return survey


#: Frames of a sequence converted at a time (float64 copies of a block, not of a sequence; the
#: keypoint mapping's temporaries are a few times a block: 8,192 frames took about 40 MB).
BLOCK = 2048

#: A sequence's frames ``first:first + T`` of one view as stored: ``(sequence, view, first,
#: 3D (T, J, 3) float64 or None, 2D (T, J, 2|3) float64 or None)``.
_RawPiece = tuple[_Seq, int, int, "np.ndarray | None", "np.ndarray | None"]


@dataclass(frozen=True)
class _Run:
    """Consecutive pieces of :func:`_runs` converted together: per piece its sequence, view,
    first frame and frame count; the pieces' samples, in order, as Human3.6M-17 world 3D
    (B, 17, 3) or None, 2D (B, 17, 2) or None and visibility (B, 17)."""

    seqs: list[_Seq]
    views: list[int]
    firsts: list[int]
    lengths: list[int]
    world: np.ndarray | None
    uv: np.ndarray | None
    vis: np.ndarray


def _block(value: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Frames ``lo:hi`` of a stored array as :func:`~posesynth.data.formats.videopose3d._numeric`
    converts the whole (float64; checked by the survey)."""
    return np.asarray(value[lo:hi]).astype(np.float64)


def _raw_pieces(sv: SourceSurvey) -> Iterator[_RawPiece]:
    """The files' sequences as :data:`_RawPiece` blocks of at most :data:`BLOCK` frames, in
    :func:`read_videopose3d`'s sample order (view by view, frame by frame). The files are read
    a sequence at a time, side by side (the survey checked that the 2D file holds the 3D
    file's sequences in its order)."""
    p3, p2 = sv.path_3d, sv.path_2d
    rows = iter(sv.seqs)
    if p3 is not None:
        seqs_2d = sequences(p2, "positions_2d") if p2 is not None else None
        for subject, action, stored in sequences(p3, "positions_3d"):
            if action is WHOLE:
                continue
            q = next(rows)
            cams: list = [None]
            if seqs_2d is not None:
                for s2, a2, v2 in seqs_2d:
                    if (s2, a2) == (subject, action):
                        # a list of its own, emptied view by view: a view done with is freed
                        cams = list(v2)
                        break
                    del v2
                else:
                    raise ValueError(f"{p2}: changed while it was read ({subject}/{action})")
                del v2  # not kept while the next sequence is read
            t3 = int(stored.shape[0])
            for c in range(len(cams)):
                item, cams[c] = cams[c], None
                for lo in range(0, t3, BLOCK):
                    hi = min(lo + BLOCK, t3)
                    yield q, c, lo, _block(stored, lo, hi), None if item is None else _block(item, lo, hi)
                del item
            del stored, cams
        return
    assert p2 is not None
    for _, action, value in sequences(p2, "positions_2d"):
        if action is WHOLE:
            continue
        q = next(rows)
        cams = list(value)  # emptied view by view, as above
        del value
        for c in range(len(cams)):
            item, cams[c] = cams[c], None
            t2 = int(item.shape[0])
            for lo in range(0, t2, BLOCK):
                yield q, c, lo, None, _block(item, lo, min(lo + BLOCK, t2))
            del item
        del cams


def _frames(piece: _RawPiece) -> int:
    points = piece[3] if piece[3] is not None else piece[4]
    assert points is not None  # a piece has 3D or 2D
    return int(points.shape[0])


def _shapes(piece: _RawPiece) -> tuple[Any, Any]:
    """A piece's per-frame shapes: pieces are converted together only where these agree."""
    _, _, _, p3, p2 = piece
    return (None if p3 is None else p3.shape[1:]), (None if p2 is None else p2.shape[1:])


def _runs(sv: SourceSurvey) -> Iterator[_Run]:
    """:func:`_raw_pieces` as Human3.6M-17, pieces gathered until a run holds :data:`BLOCK`
    frames and converted at once (short sequences, such as a subject per sample, are not
    converted one by one). Every step of the conversion is per frame, so the values are
    those of each piece converted alone. An error while reading comes after the run of the
    pieces read before it."""
    from posesynth.body.mappings import mapping

    # each layout's mapping made once, not per sequence (a subject per sample: per sample)
    m3, m2 = (None if lay in (None, "h36m17") else mapping(lay, "h36m17") for lay in (sv.layout_3d, sv.layout_2d))
    pieces = _raw_pieces(sv)
    batch: list[_RawPiece] = []
    frames = 0
    while True:
        try:
            piece = next(pieces, None)
        except ValueError:
            if batch:
                yield _converted(sv, batch, m3, m2)
            raise
        if piece is None:
            break
        if batch and _shapes(piece) != _shapes(batch[0]):
            yield _converted(sv, batch, m3, m2)
            batch, frames = [], 0
        frames += _frames(piece)
        batch.append(piece)
        del piece
        if frames >= BLOCK:
            yield _converted(sv, batch, m3, m2)
            batch, frames = [], 0
    if batch:
        yield _converted(sv, batch, m3, m2)


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _converted(sv: SourceSurvey, batch: list[_RawPiece], m3: Any, m2: Any) -> _Run:
    """The pieces of ``batch`` as one :class:`_Run` (``m3``, ``m2``: the layouts' mappings)."""
    from posesynth.data.formats.videopose3d import _to_h36m17

    world = uv = v3 = v2 = None
    if batch[0][3] is not None:
        assert sv.layout_3d is not None
        world, v3 = _to_h36m17(_joined([p[3] for p in batch if p[3] is not None]), sv.layout_3d, m=m3)
    if batch[0][4] is not None:
        assert sv.layout_2d is not None
        raw2 = _joined([p[4] for p in batch if p[4] is not None])
        conf = raw2[..., 2] if raw2.shape[-1] == 3 else None
        uv, v2 = _to_h36m17(raw2[..., :2], sv.layout_2d, conf, m2)
    vis = v2 if v3 is None else v3 if v2 is None else np.minimum(v2, v3)
    assert vis is not None  # a piece has 3D or 2D
    lengths = [_frames(p) for p in batch]
    return _Run([p[0] for p in batch], [p[1] for p in batch], [p[2] for p in batch], lengths, world, uv, vis)


class _SubjectCameras:
    """The entries of a cameras file read in the data's subject order (:class:`FileCameras`):
    one subject's cameras held at a time."""

    def __init__(self, fc: FileCameras) -> None:
        from posesynth.data.formats._json_stream import JsonItems

        self.fc = fc
        self.width = fc.name_width
        self.items = JsonItems(fc.path, fc.start, pairs=True)
        self.subject: str | None = None
        self.ids: list = []
        self.arrays: dict[str, np.ndarray] = {}

    def camera(self, subject: str, c: int) -> tuple[dict[str, np.ndarray], str]:
        """Camera ``c`` of ``subject`` as ``{field: (1, ...) float64}`` and its name."""
        from posesynth.data.formats._json_stream import END
        from posesynth.data.formats.videopose3d import _camera_entry

        while subject != self.subject:
            item = self.items.next()
            if item is END:
                self.items.close()
                raise ValueError(f"{self.fc.path}: changed while it was read (no cameras for {subject!r})")
            key, entry = item
            if key == subject:  # checked by the survey
                _, self.ids, self.arrays = _camera_entry(self.fc.path, subject, entry, self.fc.model)
                self.subject = subject
        return {f: v[c : c + 1] for f, v in self.arrays.items()}, f"{subject}/{self.ids[c]}"


def source_chunks(sv: SourceSurvey, rows: int) -> Iterator[PoseDataset]:
    """The samples of :func:`read_videopose3d` (before ``read_any``'s check), ``rows`` at a
    time, each a slice of the whole: its ``meta``, string widths, camera table and visibility."""
    from posesynth.data.formats.videopose3d import _CAM_FIELDS

    with_3d, with_2d = sv.path_3d is not None, sv.path_2d is not None
    keys = ("world", "uv", "vis", "subject", "action", "frame", "cam", "cidx", "cname", *_CAM_FIELDS)
    pending: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    held = 0
    per_sample = _SubjectCameras(sv.file_cameras) if sv.file_cameras is not None else None

    def cut(upto: int) -> PoseDataset:
        nonlocal pending, held
        whole = {k: np.concatenate(v) if v else None for k, v in pending.items()}
        # the rest copied: a view would keep the whole joined arrays while the next chunk is made
        rest = {k: ([] if v is None or upto >= len(v) else [v[upto:].copy()]) for k, v in whole.items()}
        take = {k: (None if v is None else v[:upto]) for k, v in whole.items()}
        pending, held = rest, held - upto
        cam = take["cam"]
        cameras, names = sv.cameras, sv.camera_names
        if per_sample is not None:
            assert sv.file_cameras is not None
            per_field: dict[str, Any] = {f: take[f] for f in _CAM_FIELDS}
            cameras = Camera(model=sv.file_cameras.model, **per_field)
            names = take["cname"]
        return PoseDataset(
            skeleton=H36M17,
            joints_3d_world=take["world"] if with_3d else None,
            joints_2d=take["uv"] if with_2d else None,
            visibility=None if sv.all_seen else take["vis"],
            cameras=cameras,
            camera_index=take["cidx"],
            camera_names=names,
            subject=take["subject"],
            action=take["action"],
            frame=take["frame"],
            meta=dict(sv.meta),
            extra={} if cam is None else {"camera": cam},
        )

    done = 0
    for run in _runs(sv):
        t = run.vis.shape[0]
        counts = np.asarray(run.lengths, dtype=np.int64)
        if run.world is not None:
            pending["world"].append(run.world)
        if run.uv is not None:
            pending["uv"].append(run.uv)
        pending["vis"].append(run.vis)
        subjects = [q.subject for q in run.seqs]
        pending["subject"].append(np.repeat(np.array(subjects, dtype=f"<U{sv.subject_width}"), counts))
        pending["action"].append(
            np.repeat(np.array([q.action for q in run.seqs], dtype=f"<U{sv.action_width}"), counts)
        )
        # each piece's frames first, first + 1, ...: a running count restarted at each piece
        starts = np.cumsum(counts) - counts
        pending["frame"].append(np.arange(t, dtype=np.int64) + np.repeat(np.asarray(run.firsts) - starts, counts))
        if with_2d:
            views = np.asarray(run.views, dtype=np.int64)
            pending["cam"].append(np.repeat(views, counts))
            if sv.camera_offset is not None:  # the subject's first camera in the table, then its slot
                offsets = np.array([sv.camera_offset[s] for s in subjects], dtype=np.int64)
                pending["cidx"].append(np.repeat(offsets + views, counts))
            elif per_sample is not None:  # the subject's camera c, once per sample
                got = [per_sample.camera(s, c) for s, c in zip(subjects, run.views)]
                for f in _CAM_FIELDS:
                    pending[f].append(np.repeat(np.concatenate([g[0][f] for g in got]), counts, axis=0))
                names = np.array([g[1] for g in got], dtype=f"<U{per_sample.width}")
                pending["cname"].append(np.repeat(names, counts))
        held += t
        while held >= rows:
            done += rows
            yield cut(rows)
    if held:
        done += held
        yield cut(held)
    if per_sample is not None:
        per_sample.items.close()
    if done != sv.samples:
        raise ValueError(
            f"{sv.path_3d or sv.path_2d}: changed while it was read ({done} samples, {sv.samples} surveyed)"
        )


def _load_fields_head(path: Path, required: tuple[str, ...]) -> None:
    """The archive checks of :func:`~posesynth.data.formats.videopose3d._load_fields` that come
    before any pickle is read: a zip holding the required members (the same errors)."""
    from posesynth.data.formats.videopose3d import _ZIP_MAGIC

    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != _ZIP_MAGIC:
        raise ValueError(f"{path}: not an .npz (zip) archive (starts with {magic!r})")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from exc
    with archive:
        members = {n[: -len(".npy")] for n in archive.namelist() if n.endswith(".npy")}
    for key in required:
        if key not in members:
            raise ValueError(f"{path}: missing field {key!r} (fields present: {sorted(members)})")
