"""``augment-pairs.png``: a few augmented samples drawn beside the source poses they came from.

The samples are picked evenly over the output; from a store only their rows are read, so the
figure costs the same whatever the size of the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posesynth.body.skeleton import Skeleton
from posesynth.data.dataset import PoseDataset

__all__ = ["FIGURE_NAME", "FigurePairs", "pairs_from_dataset", "pairs_from_store", "save_augment_figure"]

FIGURE_NAME = "augment-pairs.png"
#: Samples drawn in the figure.
PAIRS = 6


@dataclass(frozen=True)
class FigurePairs:
    """The picked output samples: their indices (P,), source frame indices (P,), world 3D
    (P, J, 3) metres and skeleton."""

    pick: np.ndarray
    source_index: np.ndarray
    p_out: np.ndarray
    skeleton: Skeleton


def _picks(n: int) -> np.ndarray:
    return np.linspace(0, n - 1, min(PAIRS, n)).astype(int)


def pairs_from_dataset(dataset: PoseDataset) -> FigurePairs:
    """The figure's samples of an augmented data set in memory (``extra['source_index']``)."""
    if dataset.joints_3d_world is None or "source_index" not in dataset.extra:
        raise ValueError("augment figure: expected world 3D and extra 'source_index' (an augment output)")
    pick = _picks(len(dataset))
    return FigurePairs(
        pick, np.asarray(dataset.extra["source_index"])[pick], dataset.joints_3d_world[pick], dataset.skeleton
    )


def pairs_from_store(out: Path | str) -> FigurePairs:
    """The figure's samples read from the augment store at ``out``, row by row."""
    from posesynth.data.store import open_store

    store = open_store(out)
    pick = _picks(store.samples)
    rows = lambda name: np.concatenate([store.read(name, i, i + 1) for i in pick])
    return FigurePairs(pick, rows("source_index"), rows("joints_3d_world"), Skeleton.from_dict(store.meta["skeleton"]))


def save_augment_figure(source_positions: np.ndarray, pairs: FigurePairs, out: Path | str) -> Path:
    """Draw :data:`FIGURE_NAME` in ``out`` (a folder) or beside it (a file): each picked
    sample beside its source pose ``source_positions[source_index]`` ((N, J, 3) metres, Z up)."""
    from posesynth.viz.pairs import save_pairs

    out = Path(out)
    folder = out if out.is_dir() else out.parent
    skeleton = pairs.skeleton
    return save_pairs(
        folder / FIGURE_NAME, source_positions[pairs.source_index], pairs.p_out,
        skeleton.parents_array, skeleton.left, skeleton.right,
        titles=[f"sample {i}" for i in pairs.pick],
    )  # fmt: skip
