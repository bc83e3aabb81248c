"""``posesynth evaluate CKPT DATA [--keypoints FILE] [--layout L] [--pair index|frame] [--json] [--figure FILE]``.

Scores a lifter checkpoint on a data set: on its own 2D, or on any detector's keypoints file
(``--keypoints``: Human3.6M-17, COCO-17, OpenPose BODY_25 folder, MediaPipe-33;
docs/keypoints.md) mapped to Human3.6M-17, against the data set's 3D.

Needs the ``train`` extra (torch), imported inside the command. Metrics in millimetres
(CONVENTIONS.md, "Metrics"); see :mod:`posesynth.lift.metrics` for their definitions.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from posesynth.cli.errors import user_errors
from posesynth.cli.output import (
    print_json,
    stderr_console,
    stdout_console,
    stdout_to_stderr,
)
from posesynth.util.outputs import PNG_MAGIC, check_output, replaces_only

if TYPE_CHECKING:
    from posesynth.lift.evaluate import Evaluation


class Pair(str, enum.Enum):
    """How ``--keypoints`` frames pair with the data set's samples."""

    by_index = "index"
    by_frame = "frame"


def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="Lifter checkpoint folder (from 'posesynth train').")],
    data: Annotated[Path, typer.Argument(help="Data set with 2D and 3D, in any format 'posesynth info' reads.")],
    keypoints: Annotated[
        Path | None,
        typer.Option(
            "--keypoints",
            help="Score this 2D instead of DATA's own: any detector's file (Human3.6M-17, COCO-17 from "
            "MMPose/RTMPose/YOLO, OpenPose BODY_25 folder, MediaPipe-33; docs/keypoints.md), one frame per "
            "sample; the 3D ground truth is DATA's.",
        ),
    ] = None,
    layout: Annotated[
        str | None,
        typer.Option(
            "--layout",
            help="Layout of --keypoints when the file does not say it: h36m17, coco17, body25, mediapipe33 "
            "(a bare 17-joint array needs it).",
        ),
    ] = None,
    pair: Annotated[
        Pair,
        typer.Option(
            "--pair",
            help="Pair --keypoints frames with samples by index (i-th frame, i-th sample), or by frame "
            "number (the file's frame_id / image_id / file-name number = the sample's frame).",
        ),
    ] = Pair.by_index,
    figure: Annotated[Path | None, typer.Option("--figure", help="Write a PNG of error by knee-flexion bin.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --figure file.")] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the metrics as one JSON document on stdout.")
    ] = False,
) -> None:
    """Evaluate a lifter checkpoint on DATA: MPJPE, P-MPJPE, N-MPJPE, PCK3D, AUC (mm).

    Also bone-length error, per-joint MPJPE and the error by knee-flexion bin.
    """
    with user_errors():
        if keypoints is None and (layout is not None or pair is not Pair.by_index):
            raise ValueError("--layout/--pair: apply to --keypoints only")
        if figure is not None:  # before any work: never a folder, an input, or unasked
            check_output(
                figure,
                kind="file",
                overwrite=overwrite,
                inputs=[checkpoint, data] + ([] if keypoints is None else [keypoints]),
                what="--figure",
                replaceable=replaces_only(PNG_MAGIC, "a PNG image"),
            )
        from posesynth.lift import require_torch

        require_torch()  # before torch is imported: an install hint rather than a traceback
        from posesynth.lift.evaluate import evaluate_path

        with stdout_to_stderr(json_output):
            doc = evaluate_path(checkpoint, data, figure=figure, keypoints=keypoints, layout=layout, pair=pair.value)
        if json_output:
            print_json(doc.to_dict())
        else:
            render_metrics(doc, stdout_console())
            if doc.figure:
                stderr_console().print(Text(f"figure: {doc.figure}"))


def _f(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(float(value), spec)


def render_metrics(evaluation: Evaluation, console: Console) -> None:
    """Print :func:`posesynth.lift.evaluate.evaluate_path`'s :class:`Evaluation` as tables."""
    scores = evaluation.scores
    table = Table(title=f"{evaluation.checkpoint} on {evaluation.data}", show_header=False, title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("samples", str(scores.samples)),
        ("MPJPE (mm)", _f(scores.mpjpe_mm)),
        ("P-MPJPE (mm)", _f(scores.p_mpjpe_mm)),
        ("N-MPJPE (mm)", _f(scores.n_mpjpe_mm)),
        ("PCK3D @ 150 mm", _f(scores.pck3d_150, ".3f")),
        ("AUC 0-150 mm", _f(scores.auc, ".3f")),
        ("bone-length error (mm)", _f(scores.bone_length_error_mm)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    console.print(Text(f"2D scored: {evaluation.keypoints_2d.get('describe')}"))

    joints = Table(title="per-joint MPJPE (mm)", title_justify="left")
    joints.add_column("joint")
    joints.add_column("mm", justify="right")
    for joint, mm in scores.per_joint_mpjpe_mm.items():
        joints.add_row(Text(joint), _f(mm))
    console.print(joints)

    bins = scores.by_knee_flexion or {}
    if bins:
        knees = Table(title="by ground-truth knee flexion (per leg)", title_justify="left")
        for col in ("flexion (deg)", "legs", "pose MPJPE (mm)", "knee error (mm)"):
            knees.add_column(col, justify="left" if col.startswith("flexion") else "right")
        for label, b in bins.items():
            knees.add_row(label, str(b.samples), _f(b.mpjpe_mm), _f(b.knee_mm))
        console.print(knees)
