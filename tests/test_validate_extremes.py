"""The readers' bounds checks (``data.validate``) decide from the arrays' extremes, with no
temporary as large as the data: the same verdicts and messages as the element-wise masks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from posesynth.data.validate import OutOfBounds, _check_finite, _check_points

SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 5.0, -5.0, 5.000000001, -5.000000001, 1e300]


def values(dtype: type) -> st.SearchStrategy[np.ndarray]:
    specials = SPECIALS if dtype is np.float64 else [v for v in SPECIALS if abs(v) < 3e38]
    elements = st.one_of(st.sampled_from(specials), st.floats(-6, 6, width=32 if dtype is np.float32 else 64))
    return hnp.arrays(dtype, hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6), elements=elements)


def verdict(fn, *args) -> str | None:
    try:
        fn(*args)
    except OutOfBounds as exc:
        return str(exc)
    return None


def masks_points(arr: np.ndarray, bound: float) -> bool:
    with np.errstate(invalid="ignore"):
        return bool((np.abs(arr.astype(np.float64)) > bound).any())


@settings(max_examples=300, deadline=None)
@given(arr=st.one_of(values(np.float64), values(np.float32)))
def test_points_same_verdict_as_the_mask(arr: np.ndarray) -> None:
    message = verdict(_check_points, "f.npz", "joints_3d_world", arr, 5.0, "m")
    assert (message is not None) == masks_points(arr, 5.0)
    if message is not None:  # the first bad value, named as before
        with np.errstate(invalid="ignore"):
            bad = np.abs(arr) > 5.0
        index = np.unravel_index(int(np.argmax(bad)), bad.shape)
        assert f"{arr[index]} at sample {index[0]}" in message


@settings(max_examples=300, deadline=None)
@given(arr=values(np.float64))
def test_finite_same_verdict_as_the_mask(arr: np.ndarray) -> None:
    message = verdict(_check_finite, "f.npz", "visibility", arr, 0.0, 1.0)
    with np.errstate(invalid="ignore"):
        expected = bool((~((arr >= 0.0) & (arr <= 1.0))).any())
    assert (message is not None) == expected


@pytest.mark.parametrize(
    "arr, bad",
    [
        (np.full((3, 17, 3), np.nan), False),  # all missing
        (np.empty((0, 17, 3)), False),
        (np.array([[np.nan, 4.0, -5.0]]), False),
        (np.array([[np.nan, np.inf, 0.0]]), True),
        (np.array([[np.nan, -np.inf]]), True),
        (np.array([[1, 2, 7]], dtype=np.int64), True),
    ],
)
def test_points_edge_cases(arr: np.ndarray, bad: bool) -> None:
    assert (verdict(_check_points, "f", "joints_2d", arr, 5.0, "px") is not None) == bad
