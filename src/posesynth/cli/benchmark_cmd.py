"""``posesynth benchmark real``: lifters against a triangulated real multi-view recording.

Only parses options, calls :func:`posesynth.apps.realbench.run_real_benchmark` and prints
(tables on stderr; ``--json``: one document on stdout).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from posesynth.cli.errors import user_errors
from posesynth.cli.output import print_json, stderr_console, stdout_console, stdout_to_stderr

app = typer.Typer(help="Benchmarks of the lifters on real data.", no_args_is_help=True)


@app.command("real")
def real(
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model", "-m", help="Lifter checkpoint folder or shipped name (repeatable; default: everyday and rom)."
        ),
    ] = None,
    frames: Annotated[
        int | None,
        typer.Option("--frames", help="Use this many evenly spaced frames of the 100 (faster, fewer samples)."),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(
            "--cache", help="Cache folder (default $POSESYNTH_CACHE, $XDG_CACHE_HOME/posesynth or ~/.cache/posesynth)."
        ),
    ] = None,
    figure: Annotated[
        Path | None, typer.Option("--figure", help="Write a PNG of P-MPJPE by model, body part and view.")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON document on stdout.")
    ] = False,
) -> None:
    """Score lifters on Pose2Sim's real 4-camera recording (Demo_MultiPerson, two people).

    BlazePose runs on every frame of every view; people are associated across views and
    triangulated into a pseudo ground truth (Human3.6M-17 in BlazePose's keypoint definition).
    Each lifter is scored per view from BlazePose's 2D and from the pseudo ground truth
    projected ("ideal 2D"), next to BlazePose's own 3D. The first run downloads Pose2Sim's
    sdist (51 MB) and caches detections; later runs only score.
    """
    with user_errors():
        from posesynth.apps.realbench import BenchmarkOptions, run_real_benchmark

        console = stderr_console()
        names = model or ["everyday", "rom"]
        lifters = {_label(n): n for n in names}
        if len(lifters) != len(names):
            raise ValueError(f"--model: expected distinct models, got {names}")
        options = BenchmarkOptions(frames=frames)
        with stdout_to_stderr(json_output):
            result = run_real_benchmark(
                lifters,
                options=options,
                cache_dir=cache,
                figure=figure,
                progress=lambda m: console.print(f"[dim]{m}[/dim]"),
            )
        if json_output:
            print_json(result.to_dict())
        else:
            render(result, stdout_console())  # the result asked for: stdout, like evaluate's


def _label(spec: str) -> str:
    """A short name for a model given as a name or a checkpoint path."""
    path = Path(spec)
    return path.name if path.name else spec


def _f(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(float(value), spec)


def render(result: Any, console: Any) -> None:
    """The scores table, per view, the pseudo ground truth's quality and the definitions."""
    table = Table(
        title=f"Real benchmark: Pose2Sim Demo_MultiPerson, {result.people} people, {result.frames} frames, "
        f"{len(result.views)} views, {result.samples} samples (mm; PCK150: PCK3D at 150 mm; P / BP, M / BP: "
        "P-MPJPE and MPJPE over BlazePose world's)",
        title_justify="left",
    )
    for col in ("model", "input", "P-MPJPE", "MPJPE", "PCK150", "P / BP", "M / BP"):
        table.add_column(
            col, justify="left" if col in ("model", "input") else "right", no_wrap=col in ("model", "input")
        )
    for row in result.scores:
        o = row.overall
        table.add_row(
            row.model,
            row.input,
            _f(o.p_mpjpe_mm),
            _f(o.mpjpe_mm),
            _f(o.pck3d_150, ".3f"),
            _f(row.p_mpjpe_ratio, ".2f"),
            _f(row.mpjpe_ratio, ".2f"),
        )
    console.print(table)
    parts = Table(title="P-MPJPE by body part (mm; root left out)", title_justify="left")
    for col in ("model", "input", "legs", "trunk & head", "arms"):
        parts.add_column(col, justify="left" if col in ("model", "input") else "right", no_wrap=True)
    for row in result.scores:
        parts.add_row(
            row.model, row.input, *(_f(row.overall.p_mpjpe_by_part_mm[p]) for p in ("legs", "trunk_head", "arms"))
        )
    console.print(parts)
    counts = ", ".join(
        f"{v} {result.scores[0].per_view[v].samples}" for v in result.views if v in result.scores[0].per_view
    )
    per_view = Table(title=f"P-MPJPE per view (mm; samples: {counts})", title_justify="left")
    per_view.add_column("model", no_wrap=True)
    per_view.add_column("input", no_wrap=True)
    for view in result.views:
        per_view.add_column(view, justify="right")
    for row in result.scores:
        per_view.add_row(
            row.model,
            row.input,
            *(_f(row.per_view[v].p_mpjpe_mm) if v in row.per_view else "-" for v in result.views),
        )
    console.print(per_view)
    per_person = Table(title="P-MPJPE per person (mm)", title_justify="left")
    per_person.add_column("model", no_wrap=True)
    per_person.add_column("input", no_wrap=True)
    people = sorted({p for row in result.scores for p in row.per_person}, key=int)
    for p in people:
        per_person.add_column(f"person {p}", justify="right")
    for row in result.scores:
        per_person.add_row(
            row.model, row.input, *(_f(row.per_person[p].p_mpjpe_mm) if p in row.per_person else "-" for p in people)
        )
    console.print(per_person)
    q = result.quality
    console.print(
        Text(
            f"pseudo ground truth: {q.poses} person-frames; reprojection error {q.reprojection_error_px:.1f} px mean, "
            f"{q.reprojection_error_median_px:.1f} px median (views kept), {q.reprojection_error_all_views_px:.1f} px over "
            f"every detected view; {100 * q.rejected_fraction:.1f} % of observations rejected as outliers, "
            f"{q.temporal_outliers} joints as temporal outliers; bone-length std over frames {q.bone_length_std_mm:.1f} mm "
            "(mean over bones and people)"
        )
    )
    console.print(
        Text("per view: " + ", ".join(f"{k} {v:.1f} px" for k, v in q.per_view_reprojection_error_px.items()))
    )
    console.print(Text("keypoint definitions:"))
    for key, text in result.definitions.items():
        console.print(Text(f"  {key}: {text}"))
    if result.empty_frames:
        console.print(Text(f"frames with nobody detected, skipped: {list(result.empty_frames)}"))
    if result.frames_without_people:
        console.print(
            Text(f"frames with no complete triangulated person, skipped: {list(result.frames_without_people)}")
        )
    cached = "cached" if result.cached else "computed"
    console.print(
        Text(
            f"per-person data ({cached}): {result.data_path}; prepare {result.seconds['prepare']:.1f} s, "
            f"score {result.seconds['score']:.1f} s"
        )
    )
    if result.figure is not None:
        console.print(Text(f"figure: {result.figure}"))
