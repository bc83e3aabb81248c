"""Score a lifter on a data set: the metrics of :mod:`posesynth.lift.metrics`, and a figure.

The lifter sees the data set's 2D keypoints (pixels) and is compared with its camera-frame
3D joints made root-relative (joint 0 subtracted), in millimetres. Every sample must have
finite 2D and 3D (no silent dropping in an evaluation).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from posesynth.body.skeleton import H36M17
from posesynth.data.dataset import PoseDataset
from posesynth.lift.checkpoint import Lifter, load_lifter
from posesynth.lift.data import lift_arrays
from posesynth.lift.metrics import KNEE_BIN_LABELS, lift_metrics
from posesynth.util.atomic import atomic_path

__all__ = ["evaluate_lifter", "evaluate_path", "save_knee_figure"]


def evaluate_lifter(lifter: Lifter, dataset: PoseDataset, batch_size: int = 65536) -> dict[str, Any]:
    """Metrics of ``lifter`` on every sample of ``dataset`` (see :func:`lift_metrics`), mm.

    Raises:
        ValueError: an empty data set, another skeleton, no 2D / camera-frame 3D, NaN/inf in
            them, or a pose whose 2D joints all sit on one point.
    """
    if len(dataset) == 0:
        raise ValueError("dataset: holds 0 samples; nothing to evaluate")
    data = lift_arrays(dataset, invalid="raise")
    pred = lifter.predict(data.uv_px, batch_size=batch_size)
    gt = data.p_cam - data.p_cam[:, :1]
    return lift_metrics(pred, gt, H36M17)


def evaluate_path(checkpoint: Path | str, data: Path | str, figure: Path | str | None = None) -> dict[str, Any]:
    """Load checkpoint folder ``checkpoint``, read ``data`` (any format ``read_any`` reads),
    evaluate, and optionally draw the knee-flexion figure to ``figure`` (a ``.png``).

    Returns :func:`evaluate_lifter`'s document plus ``checkpoint``, ``data`` and ``figure``.
    """
    from posesynth.data.formats.registry import read_any

    if figure is not None:
        _check_png(Path(figure))
    lifter = load_lifter(checkpoint)
    dataset = read_any(data)
    try:
        doc = evaluate_lifter(lifter, dataset)
    except ValueError as exc:
        raise ValueError(f"{data}: {exc}") from None
    doc = {"checkpoint": str(checkpoint), "data": str(data), **doc, "figure": None}
    if figure is not None:
        doc["figure"] = str(save_knee_figure(doc, figure))
    return doc


def _check_png(path: Path) -> None:
    if path.suffix.lower() != ".png":
        raise ValueError(f"figure: expected a .png file, got {str(path)!r}")
    if not path.parent.is_dir():
        raise ValueError(f"figure: the folder {path.parent} does not exist")


def save_knee_figure(doc: dict[str, Any], path: Path | str, dpi: int = 100) -> Path:
    """Bar chart of error by ground-truth knee-flexion bin (from ``doc["by_knee_flexion"]``).

    Two bars per bin: the pose MPJPE and the knee's own error (mm), with the number of legs
    in the bin under its label. Matplotlib object API (Agg), no date/software metadata, so the PNG
    is byte-for-byte deterministic; written atomically. Returns ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    _check_png(path)
    bins = doc.get("by_knee_flexion")
    if not isinstance(bins, dict):
        raise ValueError("doc: expected a 'by_knee_flexion' mapping (bin -> samples, mpjpe_mm)")
    labels = [b for b in KNEE_BIN_LABELS if b in bins]
    x = np.arange(len(labels))
    pose = [bins[b]["mpjpe_mm"] if bins[b]["mpjpe_mm"] is not None else np.nan for b in labels]
    knee = [bins[b].get("knee_mm") if bins[b].get("knee_mm") is not None else np.nan for b in labels]
    fig = Figure(figsize=(6.4, 4.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    w = 0.38
    ax.bar(x - w / 2, pose, w, label="pose MPJPE", color="#1f77b4")
    ax.bar(x + w / 2, knee, w, label="knee error", color="#ff7f0e")
    top = np.nanmax(np.r_[pose, knee, 1.0])
    ax.set_ylim(0, top * 1.25)
    ax.set_xticks(x, [f"{b}°\nn={bins[b]['samples']}" for b in labels])
    ax.set_xlabel("ground-truth knee flexion (per leg; n = legs)")
    ax.set_ylabel("error (mm)")
    ax.set_title(f"error by knee flexion (MPJPE {doc.get('mpjpe_mm', float('nan')):.1f} mm overall)")
    ax.legend(loc="upper right", ncols=2, fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return path
