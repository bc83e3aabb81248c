"""``posesynth import-mmpose PTH --stats-2d F --stats-3d F --out CKPT``: use MMPose's weights."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from posesynth.cli.errors import user_errors
from posesynth.cli.output import print_json, stdout_to_stderr


def import_mmpose(
    checkpoint: Annotated[Path, typer.Argument(help="MMPose SimpleBaseline weights (simple3Dbaseline_h36m-*.pth).")],
    stats_2d: Annotated[
        Path, typer.Option("--stats-2d", help="MMPose joint2d_stats.pkl (keypoints mean/std, (17, 2) px).")
    ],
    stats_3d: Annotated[
        Path, typer.Option("--stats-3d", help="MMPose joint3d_rel_stats.pkl (target mean/std, (16, 3) m).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="posesynth checkpoint folder to write.")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing checkpoint.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
) -> None:
    """Convert an MMPose SimpleBaseline checkpoint and its codec statistics to a posesynth checkpoint.

    The result works with `posesynth evaluate`; it keeps MMPose's pixel normalisation, so it
    expects Human3.6M-like cameras and image sizes.
    """
    with user_errors():
        from posesynth.lift import require_torch

        require_torch()
        from posesynth.lift.mmpose_import import import_mmpose as run

        with stdout_to_stderr(json_output):
            path = run(checkpoint, stats_2d, stats_3d, out, overwrite=overwrite)
        if json_output:
            print_json({"checkpoint": str(path), "source": str(checkpoint)})
        else:
            typer.echo(f"wrote {path} from {checkpoint}")
