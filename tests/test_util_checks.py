"""``util.checks``: the finiteness checks every reader and generator input goes through."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from posesynth.util.checks import as_finite_float, check_finite


@settings(max_examples=200, deadline=None)
@given(
    arr=hnp.arrays(
        dtype=st.sampled_from([np.float16, np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6),
        elements={"allow_nan": True, "allow_infinity": True},
    )
)
def test_check_finite_agrees_with_isfinite(arr: np.ndarray) -> None:
    """The min/max shortcut accepts exactly what ``np.isfinite`` accepts (signed zeros,
    subnormals and the largest finite values included) and names the first bad index."""
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        with pytest.raises(
            ValueError,
            match=re.escape(f"x: expected finite values, got {int(bad.sum())} NaN/inf (first at index {first})"),
        ):
            check_finite(arr, "x")
    else:
        assert check_finite(arr, "x") is arr


@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.int64, np.bool_])
def test_integers_and_bools_are_finite(dtype) -> None:
    arr = np.arange(12).reshape(3, 4).astype(dtype)
    assert check_finite(arr, "x") is arr


def test_as_finite_float_copies_only_to_convert() -> None:
    f64 = np.array([[1.0, -0.0], [np.finfo(np.float64).max, 5e-324]])
    assert as_finite_float(f64, "x") is f64  # already float64: no copy of a million poses
    f32 = np.array([1.5, 2.5], np.float32)
    out = as_finite_float(f32, "x")
    assert out.dtype == np.float64 and out.tolist() == [1.5, 2.5]
    with pytest.raises(ValueError, match="x: expected finite values, got 1 NaN/inf"):
        as_finite_float(np.array([0.0, -np.inf]), "x")
    with pytest.raises(ValueError, match="x: expected a numeric array, got dtype <U1"):
        as_finite_float(np.array(["a"]), "x")
