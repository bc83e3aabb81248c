"""Knee and elbow angles over time, one line per model (``posesynth demo VIDEO``'s plot)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from posesynth.util.atomic import atomic_path

__all__ = ["save_angle_plot"]

_PANELS = (("knee_flexion_deg", "knee flexion (°)"), ("elbow_flexion_deg", "elbow flexion (°)"))


def save_angle_plot(
    path: Path | str,
    time: np.ndarray,
    angles: Mapping[str, Mapping[str, np.ndarray]],
    time_label: str = "time (s)",
    title: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a PNG: knee (top) and elbow (bottom) flexion over time, left and right, per model.

    Args:
        path: the ``.png`` to write (atomically).
        time: (T,) seconds (or frame numbers, with ``time_label``).
        angles: model name -> ``{"left_knee_flexion_deg", "right_knee_flexion_deg",
            "left_elbow_flexion_deg", "right_elbow_flexion_deg"}`` -> (T,) degrees (NaN =
            undefined, drawn as a gap).
        time_label: the x axis label.
        title: the figure title.
        overwrite: replace an existing file.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.asarray(time, dtype=np.float64)
    fig, axes = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True, layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (key, label) in zip(axes, _PANELS):
        for m, (model, series) in enumerate(angles.items()):
            c = colours[m % len(colours)]
            ax.plot(t, np.asarray(series[f"left_{key}"], float), color=c, lw=1.5, label=f"{model} left")
            ax.plot(t, np.asarray(series[f"right_{key}"], float), color=c, lw=1.5, ls="--", label=f"{model} right")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize="small")  # off the curves
    axes[-1].set_xlabel(time_label)
    if title:
        fig.suptitle(title)
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
