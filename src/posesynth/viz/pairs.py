"""Source / augmented pairs: each source pose beside what ``posesynth augment`` made of it."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from posesynth.viz.preview import _draw_3d, _side_colour, _write_atomic


def save_pairs(
    path: Path | str,
    source_3d: np.ndarray,
    augmented_3d: np.ndarray,
    parents: Sequence[int] | np.ndarray,
    left: Sequence[int] | np.ndarray,
    right: Sequence[int] | np.ndarray,
    titles: Sequence[str] | None = None,
    dpi: int = 80,
) -> Path:
    """Save a PNG with one column per pair: the source 3D pose above, the augmented one below.

    ``source_3d`` and ``augmented_3d`` are (n, J_src, 3) and (n, J, 3) metres, Z up (the
    augmented skeleton may carry extra joints after the source's); ``parents`` (J,) is the
    augmented skeleton's. Written atomically, deterministic bytes.
    """
    src = np.asarray(source_3d, dtype=np.float64)
    aug = np.asarray(augmented_3d, dtype=np.float64)
    par = np.asarray(parents)
    if aug.ndim != 3 or aug.shape[-1] != 3 or src.ndim != 3 or src.shape[0] != aug.shape[0]:
        raise ValueError(
            f"source_3d, augmented_3d: expected (n, J, 3) each with equal n, got {src.shape} and {aug.shape}"
        )
    if par.shape != (aug.shape[1],):
        raise ValueError(f"parents: expected {aug.shape[1]} entries, got {par.shape}")
    n = src.shape[0]
    colours = [_side_colour(j, set(map(int, left)), set(map(int, right))) for j in range(aug.shape[1])]
    bones = [(int(p), j) for j, p in enumerate(par) if p >= 0]
    src_bones = [(p, j) for p, j in bones if j < src.shape[1]]
    names = [f"pair {i}" for i in range(n)] if titles is None else [str(t) for t in titles]

    from matplotlib.figure import Figure  # lazy: matplotlib is slow to import

    fig = Figure(figsize=(2.4 * n, 5.4), dpi=dpi, layout="constrained")
    engine = fig.get_layout_engine()
    assert engine is not None  # layout="constrained"
    # keep a row's x label off the next row's title; matplotlib's stub types the base
    # LayoutEngine.set without arguments (ConstrainedLayoutEngine.set takes h_pad)
    engine.set(h_pad=0.12)  # type: ignore[call-arg]
    for col in range(n):
        top = fig.add_subplot(2, n, col + 1, projection="3d")
        _draw_3d(top, src[col], src_bones, colours)
        top.set_title(f"{names[col]}: source", fontsize=8)
        bottom = fig.add_subplot(2, n, n + col + 1, projection="3d")
        _draw_3d(bottom, aug[col], bones, colours)
        bottom.set_title("augmented", fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    path = Path(path)
    _write_atomic(path, buffer.getvalue())
    return path
