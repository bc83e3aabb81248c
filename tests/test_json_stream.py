"""``_json_stream.JsonItems``: a JSON list's items (or an object's pairs) one at a time, equal
to ``json.loads``' whatever the white space and the buffer's block size, and the same items
or the same error with the compact reads (``_next_compact``, ``_next_compact_pair``) as
through the careful path alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posesynth.data.formats import _json_stream
from posesynth.data.formats._json_stream import END, JsonItems

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.sampled_from(list('ab[]{},:" \\\n')), max_size=6),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=12,
)


def read_all(
    path: Path, offset: int, monkeypatch: pytest.MonkeyPatch, block: int, compact: bool, pairs: bool = False
) -> tuple[str, Any]:
    monkeypatch.setattr(JsonItems, "BLOCK", block)
    if not compact:
        monkeypatch.setattr(JsonItems, "_next_compact", lambda self: _json_stream._UNDECIDED)
        monkeypatch.setattr(JsonItems, "_next_compact_pair", lambda self: _json_stream._UNDECIDED)
    items = JsonItems(path, offset, pairs=pairs)
    out = []
    try:
        while (item := items.next()) is not END:
            out.append(item)
    except ValueError as exc:
        return "error", str(exc)
    finally:
        items.close()
        monkeypatch.undo()
    return "ok", out


def _document(tmp_path_factory: Any, key: str, value: Any, compact: bool, damage: int | None) -> tuple[Path, str]:
    """A file holding ``{"a": 1, "<key>": value}`` (compact or spaced), with one character
    dropped after the first 16 where ``damage`` says."""
    separators = (",", ":") if compact else (" ,\n ", " : ")
    text = f'{{"a": 1, "{key}": ' + json.dumps(value, separators=separators) + "}"
    if damage is not None and len(text) > 20:
        at = 16 + damage % (len(text) - 17)
        text = text[:at] + text[at + 1 :]  # one character dropped
    path = tmp_path_factory.mktemp("json") / "doc.json"
    path.write_text(text, encoding="ascii")
    return path, text


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    items=st.lists(_VALUES, max_size=12),
    compact=st.booleans(),
    block=st.sampled_from([1, 3, 7, 64, 1 << 20]),
    damage=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_items_are_json_loads_items(tmp_path_factory, monkeypatch, items, compact, block, damage) -> None:
    """Compact or spaced lists read back as ``json.loads``' items; a damaged one gives the
    same items, or the same error, with the compact read as without it."""
    path, text = _document(tmp_path_factory, "list", items, compact, damage)
    offset = text.index("[") + 1
    fast = read_all(path, offset, monkeypatch, block, compact=True)
    assert fast == read_all(path, offset, monkeypatch, block, compact=False)
    if damage is None:
        assert fast == ("ok", items)


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pairs=st.dictionaries(st.text(alphabet=st.sampled_from(list('ab:,"{} \\')), max_size=4), _VALUES, max_size=10),
    compact=st.booleans(),
    block=st.sampled_from([1, 3, 7, 64, 1 << 20]),
    damage=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_pairs_are_json_loads_items(tmp_path_factory, monkeypatch, pairs, compact, block, damage) -> None:
    """An object's pairs read as ``json.loads``' items; a damaged one gives the same pairs, or
    the same error, with the compact read as without it."""
    path, text = _document(tmp_path_factory, "obj", pairs, compact, damage)
    offset = text.index('"obj": ') + len('"obj": ') + 1
    fast = read_all(path, offset, monkeypatch, block, compact=True, pairs=True)
    assert fast == read_all(path, offset, monkeypatch, block, compact=False, pairs=True)
    if damage is None:
        assert fast == ("ok", list(pairs.items()))
