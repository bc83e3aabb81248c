"""``posesynth evaluate CKPT DATA [--json] [--figure FILE]``: score a lifter checkpoint on a data set.

Needs the ``train`` extra (torch), imported inside the command. Metrics in millimetres
(CONVENTIONS.md, "Metrics"); see :mod:`posesynth.lift.metrics` for their definitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

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
from posesynth.cli.train_cmd import import_lift
from posesynth.util.outputs import PNG_MAGIC, check_output, replaces_only


def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="Lifter checkpoint folder (from 'posesynth train').")],
    data: Annotated[Path, typer.Argument(help="Data set with 2D and 3D, in any format 'posesynth info' reads.")],
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
        if figure is not None:  # before any work: never a folder, an input, or unasked
            check_output(
                figure,
                kind="file",
                overwrite=overwrite,
                inputs=[checkpoint, data],
                what="--figure",
                replaceable=replaces_only(PNG_MAGIC, "a PNG image"),
            )
        library = import_lift("evaluate")
        with stdout_to_stderr(json_output):
            doc = library.evaluate_path(checkpoint, data, figure=figure)
        if json_output:
            print_json(doc)
        else:
            render_metrics(doc, stdout_console())
            if doc.get("figure"):
                stderr_console().print(Text(f"figure: {doc['figure']}"))


def _f(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(float(value), spec)


def render_metrics(doc: Mapping[str, Any], console: Console) -> None:
    """Print :func:`posesynth.lift.evaluate.evaluate_path`'s document as tables."""
    table = Table(title=f"{doc.get('checkpoint')} on {doc.get('data')}", show_header=False, title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("samples", str(doc["samples"])),
        ("MPJPE (mm)", _f(doc["mpjpe_mm"])),
        ("P-MPJPE (mm)", _f(doc["p_mpjpe_mm"])),
        ("N-MPJPE (mm)", _f(doc["n_mpjpe_mm"])),
        ("PCK3D @ 150 mm", _f(doc["pck3d_150"], ".3f")),
        ("AUC 0-150 mm", _f(doc["auc"], ".3f")),
        ("bone-length error (mm)", _f(doc.get("bone_length_error_mm"))),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)

    joints = Table(title="per-joint MPJPE (mm)", title_justify="left")
    joints.add_column("joint")
    joints.add_column("mm", justify="right")
    for name, value in doc["per_joint_mpjpe_mm"].items():
        joints.add_row(Text(name), _f(value))
    console.print(joints)

    bins = doc.get("by_knee_flexion") or {}
    if bins:
        knees = Table(title="by ground-truth knee flexion (per leg)", title_justify="left")
        for col in ("flexion (deg)", "legs", "pose MPJPE (mm)", "knee error (mm)"):
            knees.add_column(col, justify="left" if col.startswith("flexion") else "right")
        for label, b in bins.items():
            knees.add_row(label, str(b["samples"]), _f(b["mpjpe_mm"]), _f(b.get("knee_mm")))
        console.print(knees)
