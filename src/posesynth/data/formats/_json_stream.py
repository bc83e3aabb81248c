"""Reading a large JSON file's lists and objects item by item (the MMPose camera sidecar,
VideoPose3D's cameras file), holding a block of text and one item, never the whole document.

The file must be ASCII (``json.dumps``' default output), so byte offsets are character
offsets. :func:`json_layout` walks a document once and says where its large containers start;
:class:`JsonItems` then reads one of them from there.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

__all__ = ["END", "JsonItems", "json_layout"]

#: What :meth:`JsonItems.next` returns after the last item.
END = object()


class JsonItems:
    """The items of one JSON list (or, with ``pairs``, the ``(key, value)`` items of one
    object), read from ``offset`` (just after its ``[`` or ``{``) one at a time with
    ``json.JSONDecoder.raw_decode`` over a buffer refilled in blocks of :attr:`BLOCK`."""

    BLOCK = 1 << 20

    def __init__(self, path: Path, offset: int, *, pairs: bool = False) -> None:
        self.path = path
        self.pairs = pairs
        self.fh = open(path, "rb")  # noqa: SIM115
        self.decoder = json.JSONDecoder()
        self.seek(offset)

    def seek(self, offset: int) -> None:
        """Stand at byte ``offset`` as at the first item of a container."""
        self.fh.seek(offset)
        self.pos = offset  # file offset of buf[0]
        self.buf = ""
        self.i = 0
        self.eof = False
        self.first = True
        self.done = False

    def close(self) -> None:
        self.fh.close()

    def offset(self) -> int:
        """The byte offset reached."""
        return self.pos + self.i

    def _fill(self, need: int = 1) -> None:
        while not self.eof and len(self.buf) - self.i < need:
            block = self.fh.read(self.BLOCK)
            if not block:
                self.eof = True
                break
            try:
                text = block.decode("ascii")
            except UnicodeDecodeError:
                raise ValueError(f"{self.path}: not ASCII JSON (as posesynth writes it)") from None
            self.pos += self.i
            self.buf = self.buf[self.i :] + text
            self.i = 0

    def peek(self) -> str:
        """The next character that is not white space ('' at the end of the file)."""
        while True:
            self._fill()
            while self.i < len(self.buf) and self.buf[self.i] in " \t\r\n":
                self.i += 1
            if self.i < len(self.buf) or self.eof:
                return self.buf[self.i] if self.i < len(self.buf) else ""

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise ValueError(f"{self.path}: not valid JSON (expected {ch!r} at byte {self.offset()})")
        self.i += 1

    def value(self) -> Any:
        """The JSON value at the current position (after white space)."""
        self.peek()
        while True:  # a value may straddle the buffer's end: read on until it decodes whole
            try:
                value, end = self.decoder.raw_decode(self.buf, self.i)
                # a number cut at the buffer's end decodes short ("0." as 0, "1e" as 1): take
                # it once the text after it holds more than a number's characters
                if self.eof or not _NUMBER_TAIL.match(self.buf, end):
                    self.i = end
                    return value
            except json.JSONDecodeError:
                if self.eof:
                    raise ValueError(f"{self.path}: not valid JSON (at byte {self.offset()})") from None
            before = len(self.buf) - self.i
            self._fill(before + self.BLOCK)
            if len(self.buf) - self.i == before:
                self.eof = True

    def _compact_start(self, close: str) -> Any:
        """Where the next item of a compact container starts (after its comma), :data:`END`
        once ``close`` is consumed, or :data:`_UNDECIDED` (nothing consumed)."""
        buf, i = self.buf, self.i
        n = len(buf)
        if i >= n:
            return _UNDECIDED
        if buf[i] == close:
            self.i, self.done = i + 1, True
            return END
        if not self.first:
            if buf[i] != ",":
                return _UNDECIDED
            i += 1
        return _UNDECIDED if i >= n or buf[i] in " \t\r\n" else i

    def _next_compact(self) -> Any:
        """:meth:`next` of a list item without white space around it (as ``json.dumps`` with
        compact separators writes them) and held whole in the buffer, in one step: the
        600,000 items of a 100,000-camera sidecar and its layout walk took 1.96 s through
        :meth:`peek` and :meth:`value`, 1.53 s so (decoding many items per ``json.loads``
        was slower: the numbers' decoding is most of what is left). :data:`_UNDECIDED`, with
        nothing consumed, for anything else (white space, a buffer that may cut the item, an
        item that does not decode), which :meth:`next`'s careful path then reads or refuses."""
        i = self._compact_start("]")
        if not isinstance(i, int):
            return i
        buf = self.buf
        try:
            value, end = self.decoder.raw_decode(buf, i)
        except json.JSONDecodeError:
            return _UNDECIDED
        if end >= len(buf) or buf[end] not in ",]":  # maybe a number cut at the buffer's end
            return _UNDECIDED
        self.i, self.first = end, False
        return value

    def _next_compact_pair(self) -> Any:
        """:meth:`_next_compact` of an object's ``"key":value`` item (VideoPose3D's cameras
        file, an entry per subject: a subject per sample makes a million): the key and the
        value decoded in two steps, or :data:`_UNDECIDED` with nothing consumed."""
        i = self._compact_start("}")
        if not isinstance(i, int):
            return i
        buf = self.buf
        n = len(buf)
        if buf[i] != '"':
            return _UNDECIDED
        try:
            key, end = self.decoder.raw_decode(buf, i)
            if end >= n or buf[end] != ":":
                return _UNDECIDED
            value, end = self.decoder.raw_decode(buf, end + 1)
        except json.JSONDecodeError:
            return _UNDECIDED
        if end >= n or buf[end] not in ",}":  # maybe a number cut at the buffer's end
            return _UNDECIDED
        self.i, self.first = end, False
        return key, value

    def next(self) -> Any:
        """The next item (``(key, value)`` with ``pairs``), or :data:`END` after the last
        (the closing bracket consumed)."""
        if self.done:
            return END
        item = self._next_compact_pair() if self.pairs else self._next_compact()
        if item is not _UNDECIDED:
            return item
        close = "}" if self.pairs else "]"
        ch = self.peek()
        if ch == close:
            self.i += 1
            self.done = True
            return END
        if not self.first:
            if ch != ",":
                raise ValueError(f"{self.path}: not valid JSON (expected ',' or {close!r} at byte {self.offset()})")
            self.i += 1
        self.first = False
        if not self.pairs:
            return self.value()
        key = self.value()
        if not isinstance(key, str):
            raise ValueError(f"{self.path}: not valid JSON (an object key at byte {self.offset()} is not a string)")
        self.expect(":")
        return key, self.value()


#: What :meth:`JsonItems._next_compact` returns when the careful path must decide.
_UNDECIDED = object()
#: The buffer from here on may be the start of a longer number: all number characters.
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*\Z")


def json_layout(
    path: Path, skip: set[tuple[str, ...]]
) -> tuple[dict[tuple[str, ...], int], dict[tuple[str, ...], Any]]:
    """Walk the JSON object in ``path`` once: ``(starts, values)``.

    ``starts``: for each key path in ``skip`` (e.g. ``("cameras", "rotation")``) whose value
    is a list or an object, the byte offset just after its opening bracket (for
    :class:`JsonItems`); its items are skipped one at a time, none held. Other objects are
    walked into; every other value is decoded and returned in ``values`` by key path (so
    they must be small).
    """
    starts: dict[tuple[str, ...], int] = {}
    values: dict[tuple[str, ...], Any] = {}
    cur = JsonItems(path, 0)
    try:

        def walk(where: tuple[str, ...]) -> None:
            cur.expect("{")
            first = True
            while True:
                if cur.peek() == "}":
                    cur.i += 1
                    return
                if not first:
                    cur.expect(",")
                first = False
                key = cur.value()
                if not isinstance(key, str):
                    raise ValueError(f"{path}: not valid JSON (an object key at byte {cur.offset()} is not a string)")
                cur.expect(":")
                here = (*where, key)
                ch = cur.peek()
                if here in skip and ch in "[{":
                    cur.i += 1
                    starts[here] = cur.offset()
                    sub = JsonItems(path, starts[here], pairs=ch == "{")
                    try:
                        while sub.next() is not END:
                            pass
                        end = sub.offset()
                    finally:
                        sub.close()
                    cur.seek(end)
                elif ch == "{":
                    walk(here)
                else:
                    values[here] = cur.value()

        walk(())
    finally:
        cur.close()
    return starts, values
