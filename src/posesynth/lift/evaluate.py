"""Score a lifter on a data set: the metrics of :mod:`posesynth.lift.metrics`, and a figure.

The lifter sees 2D keypoints (pixels) and is compared with the data set's camera-frame 3D
joints made root-relative (joint 0 subtracted), in millimetres. The 2D is the data set's own,
or any detector's keypoints file (:func:`posesynth.data.formats.detections.read_detections`:
Human3.6M-17, COCO-17, OpenPose BODY_25, MediaPipe-33) mapped to Human3.6M-17 and paired
with the samples by index, or by the frame number the file carries (:func:`pair_detections`).
Every sample must have finite 2D and 3D (no silent dropping in an evaluation).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from posesynth.body.skeleton import H36M17
from posesynth.data.dataset import PoseDataset
from posesynth.data.formats.detections import Detections, read_detections
from posesynth.lift.checkpoint import Lifter, load_lifter
from posesynth.lift.data import check_h36m17, check_joints_2d, lift_arrays
from posesynth.lift.metrics import KNEE_BIN_LABELS, lift_metrics
from posesynth.util.atomic import atomic_path

__all__ = [
    "Evaluation",
    "KneeBin",
    "LiftScores",
    "ScoredKeypoints",
    "evaluate_lifter",
    "evaluate_path",
    "pair_detections",
    "read_scored_keypoints",
    "save_knee_figure",
]

#: How a keypoints file's frames are paired with a data set's samples.
Pairing = Literal["index", "frame"]
_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")


@dataclass(frozen=True)
class ScoredKeypoints:
    """Which 2D an evaluation scored: the data set's own, or a keypoints file's.

    Attributes:
        keypoints_2d: (N, 17, 2) px, Human3.6M-17 order, one row per sample of the data set
            (None: the data set's own 2D).
        file: the keypoints file or OpenPose folder (None: the data set's own 2D).
        layout: the file's layout (``h36m17``, ``coco17``, ``body25``, ``mediapipe33``).
        schema: the file's schema (``coco``, ``mmpose``, ``yolo``, ``openpose``, ...).
        paired_by: ``"index"`` (the i-th frame of the file scores sample i) or ``"frame"``
            (the file's frame number equals the sample's ``frame``).
    """

    keypoints_2d: np.ndarray | None = None
    file: str | None = None
    layout: str | None = None
    schema: str | None = None
    paired_by: Pairing | None = None

    def describe(self) -> str:
        """One phrase: ``the data set's own`` or ``FILE (LAYOUT, SCHEMA) mapped to H36M-17, ...``."""
        if self.file is None:
            return "the data set's own"
        mapped = "" if self.layout == "h36m17" else " mapped to H36M-17"
        return f"{self.file} ({self.layout}, {self.schema} schema){mapped}, paired by {self.paired_by}"

    def to_json(self) -> dict[str, Any]:
        """The ``keypoints_2d`` entry of the metrics document."""
        if self.file is None:
            return {"source": "dataset", "describe": self.describe()}
        return {
            "source": "file",
            "file": self.file,
            "layout": self.layout,
            "schema": self.schema,
            "mapped_to": "h36m17",
            "paired_by": self.paired_by,
            "describe": self.describe(),
        }


@dataclass(frozen=True)
class KneeBin:
    """Errors of the legs whose ground-truth knee flexion falls in one bin (see
    :func:`posesynth.lift.metrics.by_knee_flexion`)."""

    samples: int  #: legs in the bin (a pose counts once per leg)
    mpjpe_mm: float | None  #: mean pose MPJPE of those legs' poses; None for an empty bin
    knee_mm: float | None  #: mean error of those legs' own knee; None for an empty bin


@dataclass(frozen=True)
class LiftScores:
    """The metrics of a lifter on a data set (:func:`evaluate_lifter`), errors in mm,
    root-relative camera-frame 3D, every sample scored.

    Attributes:
        per_joint_mpjpe_mm: joint name -> mm, Human3.6M-17 order.
        by_body_part_mm: body part -> mm (:func:`posesynth.lift.metrics.by_body_part`).
        by_knee_flexion: bin label -> :class:`KneeBin`, in the bins' order; None when the
            skeleton has no knees (the document then has no such key).
    """

    samples: int
    mpjpe_mm: float
    p_mpjpe_mm: float  #: after a similarity (Procrustes) alignment per pose
    n_mpjpe_mm: float  #: after a per-pose scale alignment
    pck3d_150: float  #: fraction of non-root joints within 150 mm
    auc: float  #: area under the PCK curve 0-150 mm, fraction
    bone_length_error_mm: float
    per_joint_mpjpe_mm: Mapping[str, float]
    by_body_part_mm: Mapping[str, float]
    by_knee_flexion: Mapping[str, KneeBin] | None = None

    @classmethod
    def from_metrics(cls, doc: Mapping[str, Any]) -> LiftScores:
        """From :func:`~posesynth.lift.metrics.lift_metrics`' document."""
        knees = doc.get("by_knee_flexion")
        return cls(
            samples=int(doc["samples"]),
            mpjpe_mm=doc["mpjpe_mm"],
            p_mpjpe_mm=doc["p_mpjpe_mm"],
            n_mpjpe_mm=doc["n_mpjpe_mm"],
            pck3d_150=doc["pck3d_150"],
            auc=doc["auc"],
            bone_length_error_mm=doc["bone_length_error_mm"],
            per_joint_mpjpe_mm=dict(doc["per_joint_mpjpe_mm"]),
            by_body_part_mm=dict(doc["by_body_part_mm"]),
            by_knee_flexion=None if knees is None else {k: KneeBin(**v) for k, v in knees.items()},
        )

    def to_dict(self) -> dict[str, Any]:
        """The metrics document (keys in :func:`lift_metrics`' order; ``by_knee_flexion`` only
        when there are knees)."""
        doc = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "by_knee_flexion"}
        doc["per_joint_mpjpe_mm"] = dict(self.per_joint_mpjpe_mm)
        doc["by_body_part_mm"] = dict(self.by_body_part_mm)
        if self.by_knee_flexion is not None:
            doc["by_knee_flexion"] = {k: asdict(v) for k, v in self.by_knee_flexion.items()}
        return doc


@dataclass(frozen=True)
class Evaluation:
    """A lifter scored on a data set (:func:`evaluate_path`, ``ps.evaluate``); :meth:`to_dict`
    is the document ``posesynth evaluate --json`` prints."""

    scores: LiftScores
    #: which 2D was scored (:meth:`ScoredKeypoints.to_json`: the data set's own, or a file's)
    keypoints_2d: Mapping[str, Any]
    checkpoint: str | None = None  #: the checkpoint folder or shipped name; None for a lifter object
    data: str | None = None  #: the data set's path; None for a data set in memory
    figure: str | None = None  #: the knee-flexion figure written, if any

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "data": self.data,
            "keypoints_2d": dict(self.keypoints_2d),
            **self.scores.to_dict(),
            "figure": self.figure,
        }


def pair_detections(detections: Detections, dataset: PoseDataset, where: str, pair: Pairing = "index") -> np.ndarray:
    """The detections' Human3.6M-17 2D as one row per sample of ``dataset``, (N, 17, 2) px.

    ``pair="index"``: the file's frames in their order (OpenPose folder: file-name order;
    MMPose: ``instance_info`` order; COCO: order of first appearance of ``image_id``) pair
    with samples 0, 1, ...; the counts must be equal. ``pair="frame"``: each frame's number
    (MMPose ``frame_id``, COCO ``image_id``, the last number of an OpenPose file name, the
    index for arrays) pairs with the sample whose ``frame`` equals it; ``dataset.frame`` must
    exist and be distinct, and every sample must find its frame.

    Raises:
        ValueError: naming ``where`` (the keypoints file): a frame with nobody in it, a count
            mismatch, or frame numbers that do not pair.
    """
    n = len(dataset)
    if detections.empty_frames:
        shown = list(detections.empty_frames[:5])
        raise ValueError(
            f"{where}: {len(detections.empty_frames)} frame(s) have nobody in them (first: {shown}); "
            "evaluate scores every sample, so every frame needs 2D keypoints"
        )
    kp = np.asarray(detections.keypoints_2d, dtype=np.float64)
    if pair == "index":
        if len(kp) != n:
            raise ValueError(
                f"{where}: holds {len(kp)} frames of keypoints, the data set {n} samples; frames pair "
                "with samples by index, so the counts must be equal"
            )
        return kp
    if pair != "frame":
        raise ValueError(f"--pair: expected 'index' or 'frame', got {pair!r}")
    if dataset.frame is None:
        raise ValueError(f"{where}: --pair frame needs frame numbers in the data set, which has none")
    frames = np.asarray(dataset.frame).astype(np.int64)
    if len(np.unique(frames)) != n:
        raise ValueError(
            f"{where}: --pair frame needs distinct frame numbers in the data set, which repeats "
            f"{n - len(np.unique(frames))} (several cameras or sequences); use --pair index"
        )
    ids = []
    for name in detections.frames:
        found = _LAST_NUMBER.search(name)
        if found is None:
            raise ValueError(f"{where}: frame {name!r} carries no frame number; use --pair index")
        ids.append(int(found.group(1)))
    row = {}
    for i, frame_id in enumerate(ids):
        if frame_id in row:
            raise ValueError(f"{where}: frame number {frame_id} appears twice; use --pair index")
        row[frame_id] = i
    missing = [int(f) for f in frames if int(f) not in row]
    if missing or len(ids) != n:
        raise ValueError(
            f"{where}: holds {len(ids)} frames of keypoints, the data set {n} samples; "
            + (f"{len(missing)} sample frame numbers are not in the file (first: {missing[0]})" if missing
               else "the file holds frames that no sample has")
        )  # fmt: skip
    return kp[np.array([row[int(f)] for f in frames], dtype=np.int64)]


def read_scored_keypoints(
    path: Path | str, dataset: PoseDataset, layout: str | None = None, pair: Pairing = "index"
) -> ScoredKeypoints:
    """Read a detector's keypoints file (:func:`read_detections`, ``layout`` as there) and
    pair its frames with ``dataset``'s samples (:func:`pair_detections`)."""
    detections = read_detections(path, layout)
    rows = pair_detections(detections, dataset, str(path), pair)
    return ScoredKeypoints(rows, str(path), detections.layout, detections.schema, pair)


def evaluate_lifter(
    lifter: Lifter,
    dataset: PoseDataset,
    batch_size: int = 65536,
    keypoints_2d: np.ndarray | None = None,
) -> LiftScores:
    """Metrics of ``lifter`` on every sample of ``dataset`` (see :func:`lift_metrics`), mm,
    as :class:`LiftScores`.

    Args:
        keypoints_2d: (N, 17, 2) px, Human3.6M-17, one row per sample, scored instead of the
            data set's own 2D (e.g. :attr:`ScoredKeypoints.keypoints_2d`); the 3D ground
            truth stays the data set's.

    Raises:
        ValueError: an empty data set, another skeleton, no 2D / camera-frame 3D, NaN/inf in
            them, a ``keypoints_2d`` of another shape, or a pose whose 2D joints all sit on
            one point.
    """
    if len(dataset) == 0:
        raise ValueError("dataset: holds 0 samples; nothing to evaluate")
    if keypoints_2d is None:
        data = lift_arrays(dataset, invalid="raise")
        uv_px, p_cam = data.uv_px, data.p_cam
    else:
        uv_px = check_joints_2d(keypoints_2d, "keypoints_2d")
        if len(uv_px) != len(dataset):
            raise ValueError(f"keypoints_2d: expected {len(dataset)} rows (one per sample), got {len(uv_px)}")
        p_cam = _camera_3d(dataset)
    pred = lifter.predict(uv_px, batch_size=batch_size)
    gt = p_cam - p_cam[:, :1]
    return LiftScores.from_metrics(lift_metrics(pred, gt, H36M17))


def _camera_3d(dataset: PoseDataset) -> np.ndarray:
    """The data set's camera-frame 3D, (N, 17, 3) m, finite (derived from world 3D and cameras)."""
    check_h36m17(dataset.skeleton)
    ds = dataset if dataset.joints_3d_camera is not None else dataset.complete()
    if ds.joints_3d_camera is None:
        raise ValueError("dataset: evaluation needs camera-frame 3D joints (or world 3D and cameras), got none")
    p_cam = np.asarray(ds.joints_3d_camera[:, : H36M17.num_joints], dtype=np.float64)
    bad = ~np.isfinite(p_cam).all(axis=(1, 2))
    if bad.any():
        raise ValueError(
            f"joints_3d_camera: expected finite 3D joints, got NaN/inf in {int(bad.sum())} of "
            f"{len(p_cam)} poses (first: pose {int(np.flatnonzero(bad)[0])})"
        )
    return p_cam


def evaluate_path(
    checkpoint: Path | str,
    data: Path | str,
    figure: Path | str | None = None,
    keypoints: Path | str | None = None,
    layout: str | None = None,
    pair: Pairing = "index",
) -> Evaluation:
    """Load checkpoint folder ``checkpoint``, read ``data`` (any format ``read_any`` reads),
    evaluate, and optionally draw the knee-flexion figure to ``figure`` (a ``.png``).

    ``keypoints``: a detector's keypoints file (or OpenPose folder) scored instead of the data
    set's own 2D, ``layout`` and ``pair`` as :func:`read_scored_keypoints`; the 3D ground
    truth is ``data``'s.

    Returns an :class:`Evaluation`: :func:`evaluate_lifter`'s scores with ``checkpoint``,
    ``data``, ``keypoints_2d`` (:meth:`ScoredKeypoints.to_json`: which 2D was scored) and
    ``figure``.
    """
    from posesynth.data.formats.registry import read_any

    if figure is not None:
        _check_png(Path(figure))
    if layout is not None and keypoints is None:
        raise ValueError("--layout: applies to --keypoints only")
    lifter = load_lifter(checkpoint)
    dataset = read_any(data)
    scored = ScoredKeypoints() if keypoints is None else read_scored_keypoints(keypoints, dataset, layout, pair)
    try:
        scores = evaluate_lifter(lifter, dataset, keypoints_2d=scored.keypoints_2d)
    except ValueError as exc:
        where = keypoints if keypoints is not None and str(exc).startswith("keypoints_2d") else data
        raise ValueError(f"{where}: {exc}") from None
    drawn = None if figure is None else str(save_knee_figure(scores, figure))
    return Evaluation(scores, scored.to_json(), checkpoint=str(checkpoint), data=str(data), figure=drawn)


def _check_png(path: Path) -> None:
    if path.suffix.lower() != ".png":
        raise ValueError(f"figure: expected a .png file, got {str(path)!r}")
    if not path.parent.is_dir():
        raise ValueError(f"figure: the folder {path.parent} does not exist")


def save_knee_figure(scores: LiftScores | Evaluation | Mapping[str, Any], path: Path | str, dpi: int = 100) -> Path:
    """Bar chart of error by ground-truth knee-flexion bin (``by_knee_flexion`` of ``scores``:
    :class:`LiftScores`, an :class:`Evaluation`, or a metrics document).

    Two bars per bin: the pose MPJPE and the knee's own error (mm), with the number of legs
    in the bin under its label. Matplotlib object API (Agg), no date/software metadata, so the PNG
    is byte-for-byte deterministic; written atomically. Returns ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    _check_png(path)
    if isinstance(scores, Evaluation):
        scores = scores.scores
    doc = scores.to_dict() if isinstance(scores, LiftScores) else scores
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
