"""``posesynth info PATH``: what a posesynth data set holds."""

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
from posesynth.cli.output import print_json, stdout_console, to_jsonable
from posesynth.store import Store, open_store


def info(
    path: Annotated[Path, typer.Argument(help="A posesynth data set (folder with dataset.json).")],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON document on stdout.")
    ] = False,
    verify: Annotated[
        bool, typer.Option("--verify", help="Also check every file's SHA-256 (reads all data).")
    ] = False,
) -> None:
    """Show what a data set holds: samples, skeleton, cameras, units, arrays, configuration."""
    with user_errors():
        store = open_store(path)
        if verify:
            store.verify()
        doc = describe_store(store, verified=verify)
        if json_output:
            print_json(doc)
        else:
            render_info(doc, stdout_console())


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def describe_store(store: Store, verified: bool = False) -> dict[str, Any]:
    """A JSON-ready description of ``store``.

    Reads the ``meta`` that ``posesynth generate`` writes (``skeleton``, ``cameras``, ``units``,
    ``config``, ``seed``, ``version``); fields a store lacks are ``None``. ``joints`` falls back
    to the joint axis of ``joints_3d``/``joints_2d`` when the skeleton is not described.
    """
    meta = store.meta
    skeleton = _dict(meta.get("skeleton"))
    cameras = _dict(meta.get("cameras"))
    joint_names = skeleton.get("joint_names")
    joints: int | None = len(joint_names) if isinstance(joint_names, list) else None
    if joints is None:
        for name in ("joints_3d", "joints_2d"):
            spec = store.arrays.get(name)
            if spec is not None and len(spec.shape) >= 3:
                joints = spec.shape[-2]
                break
    count = cameras.get("count")
    return {
        "path": str(store.path),
        "format": "posesynth",
        "format_version": store.format_version,
        "samples": store.samples,
        "joints": joints,
        "skeleton": skeleton.get("name"),
        "cameras": count if isinstance(count, int) else None,
        "camera_model": cameras.get("model"),
        "units": meta.get("units"),
        "shards": len(store.shards),
        "arrays": {
            name: {"dtype": spec.dtype.str, "shape": list(spec.shape)}
            for name, spec in store.arrays.items()
        },
        "seed": meta.get("seed"),
        "version": meta.get("version"),
        "config": meta.get("config"),
        "verified": verified,
    }


def render_info(doc: Mapping[str, Any], console: Console) -> None:
    """Print :func:`describe_store`'s document as tables, the configuration as YAML."""
    overview = Table(title=str(doc["path"]), show_header=False, title_justify="left")
    overview.add_column("field", style="bold")
    overview.add_column("value")
    units = doc.get("units")
    units_text = (
        ", ".join(f"{k} {v}" for k, v in units.items()) if isinstance(units, Mapping) else units
    )
    rows = [
        ("format", f"{doc['format']} v{doc['format_version']}"),
        ("samples", doc["samples"]),
        ("shards", doc["shards"]),
        ("skeleton", doc["skeleton"]),
        ("joints", doc["joints"]),
        ("cameras", doc["cameras"]),
        ("camera model", doc["camera_model"]),
        ("units", units_text),
        ("seed", doc["seed"]),
        ("version", doc["version"]),
        ("checksums", "verified" if doc.get("verified") else "not checked (use --verify)"),
    ]
    for field, value in rows:
        overview.add_row(field, Text("-" if value is None else str(value)))
    console.print(overview)

    arrays = Table(title="arrays", title_justify="left")
    arrays.add_column("name")
    arrays.add_column("dtype")
    arrays.add_column("shape", justify="right")
    for name, spec in doc["arrays"].items():
        arrays.add_row(Text(name), spec["dtype"], str(tuple(spec["shape"])))
    console.print(arrays)

    config = doc.get("config")
    if config:
        console.print(Text("config", style="bold"))
        text = yaml.safe_dump(
            json.loads(json.dumps(to_jsonable(config))), sort_keys=False, default_flow_style=None
        )
        console.print(Text(text.rstrip()))
