"""``posesynth demo IMAGE [--model-a CKPT] [--model-b CKPT] [--keypoints FILE] [--figure FILE] [--json]``.

Photo → 2D (MediaPipe BlazePose, the ``demo`` extra) → 3D with two lifters and MediaPipe's
own world landmarks; prints hip–knee and hip–ankle distances (m) and knee flexion (°) per
leg, and elbow flexion per arm, for each model. See :mod:`posesynth.apps.demo`.
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


def demo(
    image: Annotated[
        Path,
        typer.Argument(
            metavar="IMAGE|VIDEO|FOLDER",
            help="Photo with one person (JPEG, PNG, ...), or a video / folder of images: every frame is run.",
        ),
    ],
    model_a: Annotated[
        str, typer.Option("--model-a", help="Model A: lifter checkpoint folder or shipped name.")
    ] = "everyday",
    model_b: Annotated[
        str, typer.Option("--model-b", help="Model B: lifter checkpoint folder or shipped name.")
    ] = "rom",
    keypoints: Annotated[
        Path | None,
        typer.Option(
            "--keypoints",
            help="Your own 2D, any detector's file (Human3.6M-17, COCO-17 from MMPose/RTMPose/YOLO, OpenPose BODY_25 folder, MediaPipe-33; docs/keypoints.md); skips the detector.",
        ),
    ] = None,
    layout: Annotated[
        str | None,
        typer.Option(
            "--layout",
            help="Layout of --keypoints when the file does not say it: h36m17, coco17, body25, mediapipe33 (a bare 17-joint array needs it).",
        ),
    ] = None,
    refine: Annotated[
        bool,
        typer.Option(
            "--refine",
            help="Run BlazePose's landmark model twice, the second time on the region its first landmarks give (as MediaPipe's tracking does): better 2D and MediaPipe 3D for one more landmark run (docs/real-people.md).",
        ),
    ] = False,
    track: Annotated[
        bool | None,
        typer.Option(
            "--track/--no-track",
            help="VIDEO|FOLDER: look for the person where the frame before had it, and run the detector only when it is not there (MediaPipe's video mode); default: on for a video, off for a folder.",
        ),
    ] = None,
    figure: Annotated[
        Path | None, typer.Option("--figure", help="Write a PNG: photo + 2D, and each model's 3D skeleton.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="VIDEO|FOLDER: output folder (3D data sets, angles.csv, HTML views, angles.png); default ./NAME-demo, NAME the video's or folder's name.",
        ),
    ] = None,
    max_frames: Annotated[
        int | None, typer.Option("--max-frames", min=1, help="VIDEO|FOLDER: read at most this many frames.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --figure file (or --out folder).")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON document on stdout.")
    ] = False,
) -> None:
    """Find the person in IMAGE, lift to 3D with models A and B (and MediaPipe), measure legs and arms.

    With a VIDEO or FOLDER, every frame is run (progress on stderr) and the results over time
    are written to --out.
    """
    with user_errors():
        from posesynth.apps.demo import run_demo
        from posesynth.detect.frames import is_frame_source
        from posesynth.util.outputs import PNG_MAGIC, check_output, replaces_only

        if is_frame_source(image):
            if keypoints is not None or figure is not None:
                raise ValueError("--keypoints/--figure: apply to a single IMAGE, not a video or folder")
            _demo_frames(image, out, model_a, model_b, max_frames, overwrite, json_output, refine, track)
            return
        if out is not None or max_frames is not None or track is not None:
            raise ValueError("--out/--max-frames/--track: apply to a VIDEO or FOLDER, not a single image")

        if layout is not None and keypoints is None:
            raise ValueError("--layout: applies to --keypoints only")
        if refine and keypoints is not None:
            raise ValueError("--refine: applies to the detector, not to --keypoints")
        if figure is not None:  # before any work: never a folder, an input, or unasked
            check_output(
                figure,
                kind="file",
                overwrite=overwrite,
                inputs=[image, keypoints],
                what="--figure",
                replaceable=replaces_only(PNG_MAGIC, "a PNG image"),
            )
        with stdout_to_stderr(json_output):
            doc = run_demo(
                image,
                model_a=model_a,
                model_b=model_b,
                keypoints=keypoints,
                figure=figure,
                overwrite=overwrite,
                layout=layout,
                refine=refine,
            )
        if json_output:
            print_json(doc)
        else:
            render_demo(doc, stdout_console())
            if doc.get("figure"):
                stderr_console().print(Text(f"figure: {doc['figure']}"))


def _demo_frames(
    source: Path,
    out: Path | None,
    model_a: str,
    model_b: str,
    max_frames: int | None,
    overwrite: bool,
    json_output: bool,
    refine: bool = False,
    track: bool | None = None,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from posesynth.apps.demo_video import run_demo_frames

    if out is None:  # beside the input, named after it
        base = source.stem if source.is_file() else (source.resolve().name or "frames")
        out = Path(f"{base}-demo")
    bar = Progress(
        TextColumn("demo"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=False,
    )
    task = None

    def start(total: int) -> None:  # called once inputs, output and models are checked
        nonlocal task
        bar.start()
        task = bar.add_task("frames", total=total)

    def advance(done: int, total: int) -> None:
        assert task is not None  # run_demo_frames calls start (before_frames) before any progress
        bar.update(task, completed=done, total=total)

    try:
        with stdout_to_stderr(json_output):
            result = run_demo_frames(
                source,
                out,
                model_a=model_a,
                model_b=model_b,
                max_frames=max_frames,
                overwrite=overwrite,
                progress=advance,
                before_frames=start,
                refine=refine,
                track=track,
            )
    finally:
        bar.stop()
    doc = result.to_dict()
    if json_output:
        print_json(doc)
        return
    con = stdout_console()
    found = f"{result.frames_kept} of {result.frames_read} frames with a person"
    if result.frames_tracked:
        found += f" ({result.frames_tracked} tracked from the frame before)"
    con.print(Text(f"{source}: {found} -> {out}"))
    if result.skipped:
        shown = ", ".join(result.skipped[:10]) + (" ..." if len(result.skipped) > 10 else "")
        stderr_console().print(Text(f"skipped {len(result.skipped)} frame(s) with nobody in them: {shown}"))
    for f in result.files:
        con.print(Text(f"  {out / f}"))


def _f(value: Any, spec: str) -> str:
    return "-" if value is None else format(float(value), spec)


def render_demo(doc: Mapping[str, Any], console: Console) -> None:
    """Print :func:`posesynth.apps.demo.run_demo`'s document: one table per model."""
    console.print(Text(f"{doc['image']}: 2D from {doc['source']}"))
    for key, entry in doc["models"].items():
        table = Table(title=f"model {key}: {entry['name']}", title_justify="left")
        table.add_column("side")
        table.add_column("hip-knee (m)", justify="right")
        table.add_column("hip-ankle (m)", justify="right")
        table.add_column("knee flexion (°)", justify="right")
        table.add_column("shoulder-elbow (m)", justify="right")
        table.add_column("elbow flexion (°)", justify="right")
        for side in ("left", "right"):
            leg, arm = entry["legs"][side], entry["arms"][side]
            table.add_row(
                side,
                _f(leg["hip_knee_m"], ".3f"),
                _f(leg["hip_ankle_m"], ".3f"),
                _f(leg["knee_flexion_deg"], ".1f"),
                _f(arm["shoulder_elbow_m"], ".3f"),
                _f(arm["elbow_flexion_deg"], ".1f"),
            )
        console.print(table)
