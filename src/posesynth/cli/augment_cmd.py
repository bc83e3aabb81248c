"""``posesynth augment INPUT --motions FILE [--cameras FILE] --out OUT``: repose real data.

Into a posesynth store (the default ``--to``) the job is sharded and resumable and runs
here, on ``--workers N`` local processes or on Dask, with the same bytes on each
(:func:`posesynth.jobs.augment_store.augment_to_store`); the other formats are written from
memory (:func:`posesynth.jobs.augment.augment`), with the same samples.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from posesynth.cli.errors import user_errors
from posesynth.cli.executor_options import (
    ConnectTimeout,
    DaskLocal,
    Scheduler,
    ShardSize,
    Workers,
    enter_executor,
    wants_executor,
)
from posesynth.cli.output import print_json, stderr_console, stdout_to_stderr

_BARS = " ▁▂▃▄▅▆▇█"


def _sparkline(counts: list[int]) -> str:
    top = max(counts) or 1
    return "".join(_BARS[round(c / top * (len(_BARS) - 1))] for c in counts)


def augment(
    source: Annotated[Path, typer.Argument(help="Input data set (any readable format).")],
    motions: Annotated[
        str,
        typer.Option(
            "--motions",
            "-m",
            help="Motions YAML file, or a preset: seed-knee, full-rom, full-rom-lean, full-rom-pair, full-rom-pair-wide, full-rom-hands.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output (store folder, or folder for the files).")],
    cameras: Annotated[
        Path | None, typer.Option("--cameras", help="Cameras YAML (new viewpoints); default: the source's cameras.")
    ] = None,
    to: Annotated[str, typer.Option("--to", help="Output format: posesynth, mmpose, videopose3d.")] = "posesynth",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    figure: Annotated[
        bool,
        typer.Option(
            "--figure/--no-figure", help="Write augment-pairs.png (source/augmented pairs) beside the output."
        ),
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
    """Repose the poses of a data set over the range of motion, view them from new cameras, write them.

    Only keypoints are produced: images are not re-rendered.

    Into a posesynth store the job runs in shards (--workers, --dask-local, --scheduler),
    the same bytes on any of them; a killed run, rerun with the same command, makes only
    the missing shards.
    """
    with user_errors():
        from posesynth.data.formats.registry import WRITERS
        from posesynth.data.formats.store_io import DEFAULT_SHARD_SIZE
        from posesynth.jobs.augment_figure import pairs_from_store, save_augment_figure
        from posesynth.jobs.augment_source import read_source, source_positions
        from posesynth.jobs.camera_config import load_cameras_config
        from posesynth.poses.motion_spec import load_motions

        if to not in WRITERS:
            raise ValueError(f"--to: expected one of {list(WRITERS)}, got {to!r}")
        if to != "posesynth" and wants_executor(workers, dask_local, scheduler):
            raise ValueError(
                f"--workers/--dask-local/--scheduler: need --to posesynth ({to} files are written "
                "from memory); augment into a store, then `posesynth convert` it"
            )
        from posesynth.data.store import why_not_replaceable
        from posesynth.util.outputs import check_output

        # before any work: never a file for a store, one of the inputs, or unasked
        check_output(
            out,
            kind="dir" if to == "posesynth" else None,
            overwrite=overwrite,
            inputs=[source, motions if Path(motions).exists() else None, cameras],
            what="--out",
            replaceable=why_not_replaceable if to == "posesynth" else None,
        )
        dataset = read_source(source)
        motions_cfg = load_motions(motions, dataset.skeleton)
        cameras_cfg = load_cameras_config(cameras)
        console = stderr_console()
        options: dict[str, Any] = {"seed": seed, "shard_size": DEFAULT_SHARD_SIZE if shard_size is None else shard_size}
        with stdout_to_stderr(json_output), contextlib.ExitStack() as stack:
            columns = (TextColumn("augmenting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=console) as bar:
                task = bar.add_task("augment (source frames)", total=len(dataset))
                advance = lambda n: bar.advance(task, n)
                if to == "posesynth":
                    from posesynth.jobs.augment_store import augment_to_store

                    options.update(enter_executor(stack, workers, dask_local, scheduler, connect_timeout))
                    done = augment_to_store(
                        dataset, motions_cfg, cameras_cfg, out, overwrite=overwrite, progress=advance, **options
                    )
                    summary: dict[str, Any] = {"format": to, **done.to_dict(), "out": str(out)}
                    written: Any = [str(out)]
                    pairs = pairs_from_store(out) if figure else None
                else:
                    summary, written, pairs = _augment_in_memory(
                        dataset, motions_cfg, cameras_cfg, out, to, overwrite, advance, options
                    )
            if figure and pairs is not None:
                summary["figure"] = str(save_augment_figure(source_positions(dataset), pairs, out))
        summary["written"] = written
        if json_output:
            print_json(summary)
        else:
            render_summary(summary, console)


def _augment_in_memory(dataset: Any, motions: Any, cameras: Any, out: Path, to: str, overwrite: bool,
                       progress: Any, options: Mapping[str, Any]) -> tuple[dict[str, Any], Any, Any]:  # fmt: skip
    from posesynth.data.formats.registry import write_any
    from posesynth.jobs.augment import augment as run_augment
    from posesynth.jobs.augment_figure import pairs_from_dataset

    result = run_augment(dataset, motions, cameras, progress=progress, **options)
    written = write_any(result.dataset, out, to, overwrite=overwrite)
    return {"out": str(out), "format": to, **result.summary.to_dict()}, written, pairs_from_dataset(result.dataset)


def render_summary(summary: Mapping[str, Any], console: Any) -> None:
    """Counts, then per moved angle its range before/after and a histogram of each (15° bins)."""
    overview = Table(title="posesynth augment", show_header=False, title_justify="left")
    overview.add_column("field", style="bold")
    overview.add_column("value")
    for key in (
        "out",
        "format",
        "source_frames",
        "skipped_frames",
        "variants",
        "rejected_rom",
        "rejected_collision",
        "samples",
        "cameras",
        "skeleton",
        "shards",
        "resumed_shards",
        "executor",
        "figure",
    ):
        if key in summary:
            overview.add_row(key.replace("_", " "), str(summary[key]))
    console.print(overview)
    angles = summary.get("angles") or {}
    if angles:
        table = Table(title="moved angles (degrees; histograms over 15° bins)", title_justify="left")
        for col in ("angle", "before", "after", "before histogram", "after histogram"):
            table.add_column(col)
        for name, h in angles.items():
            b, a = h["before_range_deg"], h["after_range_deg"]
            table.add_row(
                name,
                f"{b[0]:.0f}…{b[1]:.0f}",
                f"{a[0]:.0f}…{a[1]:.0f}",
                _sparkline(h["before"]),
                _sparkline(h["after"]),
            )
        console.print(table)
