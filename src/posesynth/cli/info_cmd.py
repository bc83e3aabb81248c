"""``posesynth info PATH``: print :func:`posesynth.data.report.describe_path`'s report."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from posesynth.cli.errors import user_errors
from posesynth.cli.output import print_json, stdout_console, stdout_to_stderr, to_jsonable
from posesynth.data.report import InfoReport, RomSummary, describe_path


def info(
    path: Annotated[
        Path,
        typer.Argument(
            help="A data set: posesynth store, MMPose .npz or folder, VideoPose3D .npz, the "
            "seed's .h5, a Human3.6M .cdf or a .trc."
        ),
    ],
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
    verify: Annotated[
        bool,
        typer.Option("--verify", help="Also check every file's SHA-256 (stores; reads all data)."),
    ] = False,
    rom: Annotated[
        bool,
        typer.Option("--rom/--no-rom", help="Count poses outside the range of motion (IK)."),
    ] = True,
) -> None:
    """Show what a data set holds: samples, skeleton, cameras, units, value ranges, NaNs,
    range-of-motion violations (and, for stores, arrays and configuration)."""
    with user_errors():
        with stdout_to_stderr(json_output):
            doc = describe_path(path, verify=verify, rom=rom)
        if json_output:
            print_json(doc.to_dict())
        else:
            render_info(doc, stdout_console())


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def render_info(report: InfoReport, console: Console) -> None:
    """Print :func:`describe_path`'s report as tables (a store's configuration as YAML)."""
    store, data = report.store, report.data
    overview = Table(title=str(report.path), show_header=False, title_justify="left")
    overview.add_column("field", style="bold")
    overview.add_column("value")
    units = report.units
    units_text = ", ".join(f"{k} {v}" for k, v in units.items()) if isinstance(units, Mapping) else units
    rows = [
        ("format", report.format if store is None else f"{report.format} v{store.format_version}"),
        ("samples", report.samples),
        ("shards", None if store is None else store.shards),
        ("skeleton", report.skeleton),
        ("joints", report.joints),
        ("subjects", None if data is None else data.subjects),
        ("actions", None if data is None else data.actions),
        ("cameras", report.cameras),
        ("camera model", report.camera_model),
        ("units", units_text),
        ("NaN/inf values", None if data is None else data.nan_count),
        ("seed", None if store is None else store.seed),
        ("version", None if store is None else store.version),
    ]
    if report.format == "posesynth":
        rows.append(("checksums", "verified" if store and store.verified else "not checked (use --verify)"))
    optional = {"subjects", "actions", "NaN/inf values"}
    if report.format != "posesynth":
        optional |= {"shards", "seed", "version"}
    for field, value in rows:
        if value is None and field in optional:
            continue
        overview.add_row(field, Text("-" if value is None else str(value)))
    console.print(overview)

    if data is not None and data.ranges:
        table = Table(title="value ranges (per axis)", title_justify="left")
        for col in ("array", "unit", "min", "max", "NaN/inf"):
            table.add_column(col, justify="left" if col in ("array", "unit") else "right")
        for name, r in data.ranges.items():
            nan = data.nan.get(name)
            table.add_row(Text(name), r.unit, _fmt(r.min), _fmt(r.max), _fmt(nan))
        console.print(table)

    if data is not None and data.rom is not None:
        _render_rom(data.rom, console)
    if report.note:
        console.print(Text(f"note: {report.note}"))

    if store is not None and store.arrays:
        table = Table(title="arrays", title_justify="left")
        table.add_column("name")
        table.add_column("dtype")
        table.add_column("shape", justify="right")
        for name, spec in store.arrays.items():
            table.add_row(Text(name), spec.dtype, str(spec.shape))
        console.print(table)

    config = None if store is None else store.config
    if config:
        console.print(Text("config", style="bold"))
        text = yaml.safe_dump(json.loads(json.dumps(to_jsonable(config))), sort_keys=False, default_flow_style=None)
        console.print(Text(text.rstrip()))


def _render_rom(rom: RomSummary, console: Console) -> None:
    if rom.source is None or rom.note:
        console.print(Text(f"range of motion: not checked ({rom.note})"))
        return
    line = (
        f"range of motion: {rom.samples_with_violations} of {rom.checked} poses outside "
        f"(tolerance {rom.tolerance_deg} deg, from {rom.source})"
    )
    if rom.skipped_non_finite:
        line += f"; {rom.skipped_non_finite} skipped (non-finite joints)"
    console.print(Text(line))
    if rom.most_violated:
        table = Table(title="most violated angles", title_justify="left")
        for col in ("angle", "poses", "limits (deg)", "seen min", "seen max"):
            table.add_column(col, justify="left" if col == "angle" else "right")
        for item in rom.most_violated:
            lo, hi = item.limits_deg
            table.add_row(
                Text(item.angle), str(item.samples), f"{lo:g} .. {hi:g}",
                f"{item.min_deg:.1f}", f"{item.max_deg:.1f}",
            )  # fmt: skip
        console.print(table)
