"""Input checks shared by every layer: shapes, finiteness, positivity.

They raise ``ValueError`` naming what arrived and what was expected, so a caller several
layers up still learns which argument was wrong.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

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
    if arr.dtype.kind in "iub" or (arr.dtype.kind == "f" and _finite_extremes(arr)):
        return arr
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


def _finite_extremes(arr: np.ndarray) -> bool:
    """Whether every value of a float array is finite, from its min and max (NaN propagates
    through both): two passes and no temporary, where ``isfinite`` makes a mask as large as
    the array (a million poses read from a file: 68 MB of fresh pages per check)."""
    if arr.size == 0:
        return True
    low, high = arr.min(), arr.max()
    return bool(np.isfinite(low) and np.isfinite(high))


def as_finite_float(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` as float64 (itself when it already is) after checking its dtype is numeric
    and every value is finite."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    return check_finite(arr.astype(np.float64, copy=False), name)


def check_weights(weights: Mapping[str, float], known: Iterable[str], kind: str) -> dict[str, float]:
    """Named mixture weights: every name in ``known``, each finite and >= 0, a positive sum.

    Returns them as a plain dict; raises ValueError naming the unknown ``kind`` (e.g.
    "activities") or the bad weights.
    """
    unknown = sorted(set(weights) - set(known))
    if unknown:
        raise ValueError(f"unknown {kind} {unknown}; expected some of {sorted(known)}")
    values = list(weights.values())
    if any(not (math.isfinite(w) and w >= 0) for w in values) or sum(values) <= 0:
        raise ValueError(f"expected non-negative weights with a positive sum, got {dict(weights)}")
    return dict(weights)
