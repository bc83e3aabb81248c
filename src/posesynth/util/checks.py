"""Input checks shared by every layer: shapes, finiteness, positivity.

They raise ``ValueError`` naming what arrived and what was expected, so a caller several
layers up still learns which argument was wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_shape(x: np.ndarray, trailing: Sequence[int | None], name: str) -> np.ndarray:
    """Return ``x`` as a float array whose trailing dimensions match ``trailing``.

    ``trailing`` lists the last dimensions; ``None`` accepts any size there. Leading
    dimensions are free (they broadcast).
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False) if arr.dtype.kind != "f" else arr
    want = tuple(trailing)
    got = arr.shape[arr.ndim - len(want) :] if arr.ndim >= len(want) else None
    if got is None or any(w is not None and w != g for w, g in zip(want, got)):
        pretty = "(..., " + ", ".join("*" if w is None else str(w) for w in want) + ")"
        raise ValueError(f"{name}: expected shape {pretty}, got {arr.shape}")
    return arr


def check_finite(x: np.ndarray, name: str) -> np.ndarray:
    """Raise if ``x`` holds NaN or inf, saying how many and where the first one is."""
    arr = np.asarray(x)
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name}: expected finite values, got {int(bad.sum())} NaN/inf (first at index {first})")
    return arr


def check_positive(x: np.ndarray | float, name: str) -> np.ndarray:
    """Raise unless every entry of ``x`` is finite and > 0."""
    arr = np.asarray(x, dtype=np.float64)
    check_finite(arr, name)
    if (arr <= 0).any():
        raise ValueError(f"{name}: expected values > 0, got {arr[arr <= 0].ravel()[:5].tolist()}")
    return arr


def as_finite_float(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` as float64 after checking its dtype is numeric and every value is finite."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    return check_finite(arr.astype(np.float64), name)
