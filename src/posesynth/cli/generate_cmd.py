"""``posesynth generate``: a procedural data set, via :func:`posesynth.jobs.generate.generate`.

Shards run in this process by default, or on ``--workers N`` local processes, a loopback Dask
cluster (``--dask-local N``) or a running Dask scheduler (``--scheduler ADDR``); the output is
byte-identical on all of them. A killed run, rerun with the same command, finishes the job.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from posesynth.cli.errors import user_errors
from posesynth.cli.executor_options import (
    ConnectTimeout,
    DaskLocal,
    Scheduler,
    ShardSize,
    Workers,
    enter_executor,
)
from posesynth.cli.output import print_json, stderr_console, stdout_to_stderr

if TYPE_CHECKING:
    from posesynth.jobs.executors import Executor
    from posesynth.jobs.generate import GenerateConfig, GenerateSummary

DEFAULT_OUT = Path("posesynth-data")


def generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (a posesynth data set).")] = DEFAULT_OUT,
    samples: Annotated[
        int | None, typer.Option("--samples", "-n", help="Number of poses (overrides the config).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (overrides the config).")] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML configuration file; options given here win."),
    ] = None,
    skeleton: Annotated[str | None, typer.Option("--skeleton", help="Skeleton layout (overrides the config).")] = None,
    camera_model: Annotated[
        str | None,
        typer.Option("--camera-model", help="Camera model: pinhole, opencv, fisheye, h36m (overrides)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing data set at --out.")] = False,
    preview: Annotated[
        bool, typer.Option("--preview/--no-preview", help="Write a preview PNG beside the data.")
    ] = True,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON document on stdout.")
    ] = False,
    shard_size: ShardSize = None,
    workers: Workers = 1,
    dask_local: DaskLocal = None,
    scheduler: Scheduler = None,
    connect_timeout: ConnectTimeout = 10.0,
) -> None:
    """Generate a procedural data set of 3D poses, cameras and 2D projections.

    Shows progress, then a summary (activities, joint-angle coverage in degrees) on stderr.

    With --json the summary is printed on stdout as one JSON document instead.

    The same seed gives the same bytes with any number of workers. Shards stream into
    OUT.partial-job; if the job is killed, rerun the same command to make only the missing
    shards. Ctrl-C abandons the job and removes the partial folder.
    """
    with user_errors():
        # imported here: the library is heavy, and --help must work without it
        from posesynth.data.store import why_not_replaceable
        from posesynth.jobs.generate import load_config
        from posesynth.jobs.shards import check_shard_plan
        from posesynth.util.outputs import check_output

        overrides: dict[str, Any] = {
            "samples": samples, "seed": seed, "skeleton": skeleton, "camera_model": camera_model
        }  # fmt: skip
        if shard_size is not None:
            overrides["shard_size"] = shard_size
        cfg = load_config(config, **overrides)

        check_shard_plan(cfg.samples, cfg.shard_size)  # files and memory bounded, before work

        # before any work: a store is a folder, never the config file, never replaced unasked
        check_output(
            out, kind="dir", overwrite=overwrite, inputs=[config], what="--out", replaceable=why_not_replaceable
        )
        console = stderr_console()
        with stdout_to_stderr(json_output), contextlib.ExitStack() as stack:
            options = enter_executor(stack, workers, dask_local, scheduler, connect_timeout)
            summary = _run_with_progress(cfg, out, overwrite, preview, console, options.get("executor"))
        if json_output:
            print_json(summary.to_dict())
        else:
            render_summary(summary, console)


def _run_with_progress(
    cfg: GenerateConfig,
    out: Path,
    overwrite: bool,
    preview: bool,
    console: Console,
    executor: Executor | None,
) -> GenerateSummary:
    from posesynth.jobs.generate import generate

    total = cfg.samples
    columns = (
        TextColumn("generating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("generate", total=total)

        def advance(n_new: int) -> None:
            bar.advance(task, n_new)

        return generate(cfg, out, overwrite=overwrite, progress=advance, preview=preview, executor=executor)


def _fmt_deg(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}"


def render_summary(summary: GenerateSummary, console: Console) -> None:
    """Print the summary of :func:`posesynth.jobs.generate.generate` as rich tables."""
    overview = Table(title="posesynth generate", show_header=False, title_justify="left")
    overview.add_column("field", style="bold")
    overview.add_column("value")
    rows: list[tuple[str, Any]] = [
        ("out", summary.out),
        ("samples", summary.samples),
        ("cameras", summary.cameras),
        ("seed", summary.seed),
        ("skeleton", summary.skeleton),
        ("camera model", summary.camera_model),
        ("seconds", f"{float(summary.seconds):.2f}"),
        ("preview", summary.preview),
    ]
    if summary.executor:
        rows.append(("ran on", summary.executor))
    text = str(summary.shards)
    if summary.resumed_shards:
        text += f" ({summary.resumed_shards} resumed from an earlier run"
        text += f", {summary.redone_shards} made again after failing their checks)" if summary.redone_shards else ")"
    rows.append(("shards", text))
    for field, value in rows:
        overview.add_row(field, Text("-" if value is None else str(value)))
    console.print(overview)

    activities = summary.activities
    if activities:
        total = sum(activities.values()) or 1
        table = Table(title="activities", title_justify="left")
        table.add_column("activity")
        table.add_column("samples", justify="right")
        table.add_column("share", justify="right")
        for name, count in sorted(activities.items(), key=lambda kv: (-kv[1], kv[0])):
            table.add_row(Text(str(name)), str(count), f"{100.0 * count / total:.1f} %")
        console.print(table)

    coverage = summary.angle_coverage
    if coverage:
        table = Table(title="joint-angle coverage (degrees)", title_justify="left")
        table.add_column("angle")
        for col in ("min", "p5", "p50", "p95", "max"):
            table.add_column(col, justify="right")
        for name, stats in coverage.items():
            table.add_row(
                Text(str(name)),
                *(_fmt_deg(v) for v in (stats.min_deg, stats.p5_deg, stats.p50_deg, stats.p95_deg, stats.max_deg)),
            )
        console.print(table)
