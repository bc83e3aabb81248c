"""``posesynth augment INPUT --motions FILE [--cameras FILE] --out OUT``: repose real data."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import numpy as np
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
from posesynth.cli.output import print_json, stderr_console, stdout_to_stderr

_BARS = " ▁▂▃▄▅▆▇█"


def _sparkline(counts: list[int]) -> str:
    top = max(counts) or 1
    return "".join(_BARS[int(round(c / top * (len(_BARS) - 1)))] for c in counts)


def augment(
    source: Annotated[Path, typer.Argument(help="Input data set (any readable format).")],
    motions: Annotated[
        str, typer.Option("--motions", "-m", help="Motions YAML file, or a preset: seed-knee, full-rom.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output (store folder, or folder for the files).")],
    cameras: Annotated[
        Path | None, typer.Option("--cameras", help="Cameras YAML (new viewpoints); default: the source's cameras.")
    ] = None,
    to: Annotated[str, typer.Option("--to", help="Output format: posesynth, mmpose, videopose3d.")] = "posesynth",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    figure: Annotated[
        bool, typer.Option("--figure/--no-figure", help="Write augment-pairs.png (source/augmented pairs) beside the output.")
    ] = True,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON document on stdout.")] = False,
) -> None:
    """Repose the poses of a data set over the range of motion, view them from new cameras, write them.

    Only keypoints are produced: images are not re-rendered.
    """
    with user_errors():
        from posesynth.augment import augment as run_augment
        from posesynth.augment import load_cameras_config
        from posesynth.formats.detect import WRITERS, read_any, write_any
        from posesynth.motions_file import load_motions

        if to not in WRITERS:
            raise ValueError(f"--to: expected one of {list(WRITERS)}, got {to!r}")
        if out.exists() and not overwrite:
            raise ValueError(f"{out}: already exists; pass --overwrite to replace it")
        dataset = read_any(source)
        motions_cfg = load_motions(motions, dataset.skeleton)
        cameras_cfg = load_cameras_config(cameras)
        console = stderr_console()
        with stdout_to_stderr(json_output):
            total = len(dataset) * motions_cfg.variants
            columns = (TextColumn("augmenting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=console) as bar:
                task = bar.add_task("augment", total=total)
                result = run_augment(dataset, motions_cfg, cameras_cfg, seed=seed,
                                     progress=lambda n: bar.advance(task, n))
            written = write_any(result.dataset, out, to, overwrite=overwrite)
            summary: dict[str, Any] = {"out": str(out), "format": to, **result.summary}
            if figure:
                summary["figure"] = str(_save_figure(result, out))
        summary["written"] = written
        if json_output:
            print_json(summary)
        else:
            render_summary(summary, console)


def _save_figure(result: Any, out: Path) -> Path:
    from posesynth.viz.pairs import save_pairs

    ds = result.dataset
    pick = np.linspace(0, len(ds) - 1, min(6, len(ds))).astype(int)
    skeleton = ds.skeleton
    folder = out if out.is_dir() else out.parent
    return save_pairs(
        folder / "augment-pairs.png", result.source_positions[pick], ds.joints_3d_world[pick],
        skeleton.parents_array, skeleton.left, skeleton.right,
        titles=[f"sample {i}" for i in pick],
    )


def render_summary(summary: Mapping[str, Any], console: Any) -> None:
    """Counts, then per moved angle its range before/after and a histogram of each (15° bins)."""
    overview = Table(title="posesynth augment", show_header=False, title_justify="left")
    overview.add_column("field", style="bold")
    overview.add_column("value")
    for key in ("out", "format", "source_frames", "skipped_frames", "variants", "rejected_rom",
                "rejected_collision", "samples", "cameras", "skeleton", "figure"):
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
            table.add_row(name, f"{b[0]:.0f}…{b[1]:.0f}", f"{a[0]:.0f}…{a[1]:.0f}",
                          _sparkline(h["before"]), _sparkline(h["after"]))
        console.print(table)
