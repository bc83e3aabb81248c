"""``mmpose._parse_names``' one-pass parse of all image names against the name-by-name
``parse_h36m_imgname`` it replaces: the same arrays (dtypes included) or the same error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from posesynth.data.formats import mmpose
from posesynth.data.formats.mmpose import format_h36m_imgname, parse_h36m_imgname

ALPHABET = "S1_./\\\n9 -٣xé0"


def one_by_one(names: list[str]) -> tuple[str, object]:
    """What the name-by-name loop gave: its arrays, or its error (type and text)."""
    parsed = []
    for i, name in enumerate(names):
        try:
            parsed.append(parse_h36m_imgname(name))
        except ValueError as exc:
            return "error", f"ValueError: p: imgname[{i}]: {exc}"
    if not parsed:
        return "ok", None
    s, a, c, f = zip(*parsed)
    try:
        return "ok", (np.array(s), np.array(a), np.array(c), np.array(f, dtype=np.int64))
    except OverflowError as exc:  # a frame number beyond int64
        return "error", f"OverflowError: {exc}"


def at_once(names: list[str]) -> tuple[str, object]:
    try:
        out = mmpose._parse_names(names, Path("p"))
    except (ValueError, OverflowError) as exc:
        return "error", f"{type(exc).__name__}: {exc}"
    return "ok", None if not names else out


names_st = st.lists(
    st.one_of(
        st.builds(
            format_h36m_imgname,
            st.sampled_from(["S1", "S11", "s-9"]),
            st.sampled_from(["Directions_1", "Walk Dog", "posesynth", "a_b_c"]),
            st.sampled_from(["54138969", "cam0", "x"]),
            st.integers(0, 10**6),
        ),
        st.text(ALPHABET, max_size=30),
        st.builds(
            lambda s, cut, ch: s[:cut] + ch + s[cut:],
            st.just("S1/S1_Walking_1.cam3/S1_Walking_1.cam3_000012.jpg"),
            st.integers(0, 50),
            st.sampled_from(list(ALPHABET) + ["", "0" * 20]),
        ),
        st.just("S9_Posing_1.55011271_000000"),  # frame 0: refused
        st.just("S9_Posing_1.55011271_" + "9" * 25),  # beyond int64
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(names=names_st)
def test_same_as_one_by_one(names: list[str]) -> None:
    names = [n.strip() for n in names]  # as _strings hands them over
    want, got = one_by_one(names), at_once(names)
    assert got[0] == want[0], (names, got, want)
    if want[0] == "error":
        assert got[1] == want[1]
    elif want[1] is not None:
        for a, b in zip(got[1], want[1], strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)


def test_generated_names_take_the_one_pass() -> None:
    names = [format_h36m_imgname("S1", "Walk_1", f"cam{i}", i) for i in range(100)]
    out = mmpose._parse_names_at_once(names)
    assert out is not None and list(out[3]) == list(range(100))
