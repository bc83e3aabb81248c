"""``posesynth models``: the shipped checkpoints, their provenance and benchmark figures."""

from __future__ import annotations

from typing import Annotated

import typer

from posesynth.cli.errors import user_errors
from posesynth.cli.output import print_json


def models(
    json_output: Annotated[bool, typer.Option("--json", help="Print the list as one JSON document on stdout.")] = False,
) -> None:
    """List the shipped lifter checkpoints (name them as `everyday` / `rom`, or `shipped:rom`)."""
    with user_errors():
        from posesynth.lift.shipped import PREFIX, shipped_models

        found = shipped_models()
        if json_output:
            print_json({"models": [m.to_dict() for m in found]})
            return
        if not found:
            typer.echo("no shipped checkpoints in this installation")
            return
        for m in found:
            v = m.validation
            typer.echo(f"{m.name}  ({PREFIX}{m.name})  {m.role or ''}")
            typer.echo(
                f"  made by: {m.made_by}  posesynth {m.version}, torch {m.torch_version}, stored {m.stored_dtype}"
            )
            cfg = ", ".join(f"{k} {v_}" for k, v_ in m.config.items())
            typer.echo(f"  trained on {m.train_samples} samples, {m.epochs} epochs; {cfg}")
            if v:
                typer.echo(
                    f"  validation: MPJPE {v.get('mpjpe_mm', float('nan')):.1f} mm, "
                    f"P-MPJPE {v.get('p_mpjpe_mm', float('nan')):.1f} mm, PCK3D@150 {v.get('pck3d_150', float('nan')):.3f}"
                )
            for test_set, row in m.benchmark.items():
                if isinstance(row, dict) and isinstance(row.get("mpjpe_mm"), dict):
                    figures = ", ".join(f"{k} {val:.1f}" for k, val in row["mpjpe_mm"].items())
                    typer.echo(f"  benchmark '{test_set}' test set, MPJPE mm: {figures}")
            typer.echo(f"  {m.path}")
