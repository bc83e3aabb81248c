"""``posesynth experiment rom``: train an everyday and a ROM-augmented lifter, compare them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from posesynth.cli.errors import user_errors
from posesynth.cli.output import print_json, stderr_console, stdout_to_stderr

if TYPE_CHECKING:
    from posesynth.apps.experiment import ExperimentResult

app = typer.Typer(help="Experiments that measure what posesynth's data does for a lifter.", no_args_is_help=True)


@app.command("rom")
def rom(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the two checkpoints (everyday/, rom/) and result.json.")
    ] = Path("rom-experiment"),
    samples: Annotated[
        int | None, typer.Option("--samples", show_default="40000", help="Everyday training poses.")
    ] = None,
    test_samples: Annotated[
        int | None, typer.Option("--test-samples", show_default="5000", help="Poses per test set.")
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", show_default="16", help="Epochs of model A (B gets as many steps).")
    ] = None,
    width: Annotated[
        int | None, typer.Option("--width", show_default="1024", help="Hidden width of the lifters.")
    ] = None,
    dropout: Annotated[
        float | None,
        typer.Option(
            "--dropout", show_default="0.5", help="Dropout of both lifters (fresh data every epoch needs little)."
        ),
    ] = None,
    ema_decay: Annotated[
        float | None,
        typer.Option("--ema-decay", show_default="0", help="Weight averaging per step of both lifters (0: off)."),
    ] = None,
    loss: Annotated[
        str | None,
        typer.Option(
            "--loss",
            show_default="mse",
            help="Training loss of both lifters: 'mse' (standardised targets) or 'mpjpe' (metres per joint).",
        ),
    ] = None,
    variants: Annotated[
        int | None,
        typer.Option("--variants", show_default="1", help="Augmented copies of each everyday pose in B's data."),
    ] = None,
    rom_share: Annotated[
        float | None,
        typer.Option(
            "--rom-share",
            show_default="variants / (variants + 1)",
            help="With --stream: the share of B's samples that are reposed.",
        ),
    ] = None,
    unlimited_share: Annotated[
        float | None,
        typer.Option(
            "--unlimited-share",
            show_default="0",
            help="With --stream: the share of B's samples drawn from A's priors without the everyday limits.",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", show_default="0", help="Random seed.")] = None,
    b_seed: Annotated[
        int | None,
        typer.Option(
            "--b-seed",
            show_default="0",
            help="Another draw of model B alone (augmentation and training); A stays the same.",
        ),
    ] = None,
    motions: Annotated[
        str | None,
        typer.Option(
            "--motions", show_default="full-rom", help="Motions of B's augmentation: a preset name or a YAML file."
        ),
    ] = None,
    prior: Annotated[
        str | None,
        typer.Option(
            "--prior",
            help="Everyday poses from the 'coupled' priors of standing, walking and sitting (default), "
            "'broad' (every coupled prior) or the earlier 'independent' ones.",
        ),
    ] = None,
    detector_noise: Annotated[
        bool | None,
        typer.Option(
            "--detector-noise/--no-detector-noise",
            help="Add BlazePose's per-joint 2D spread to training inputs (default off).",
        ),
    ] = None,
    stream: Annotated[
        bool,
        typer.Option(
            "--stream",
            help="Fresh training samples every epoch (--samples per epoch); B's reposed share made on the fly.",
        ),
    ] = False,
    keypoint_jitter: Annotated[
        float | None,
        typer.Option(
            "--keypoint-jitter",
            help="Random keypoint definition per training sample, 2D and 3D alike: sd as a fraction of body height (default 0).",
        ),
    ] = None,
    keypoint_jitter_limbs: Annotated[
        float | None,
        typer.Option(
            "--keypoint-jitter-limbs",
            show_default="1",
            help="The jitter of the elbows, wrists, knees and feet, a factor of --keypoint-jitter.",
        ),
    ] = None,
    keypoint_jitter_keep_distal: Annotated[
        bool,
        typer.Option(
            "--keypoint-jitter-keep-distal",
            help="Under the keypoint jitter, the forearms and shanks keep their lengths.",
        ),
    ] = False,
    tilt_sd: Annotated[
        float | None,
        typer.Option(
            "--tilt-sd",
            help="Sd (degrees) of the training bodies' whole-body pitch and roll; the test sets keep 4 (default 4).",
        ),
    ] = None,
    real: Annotated[
        Path | None,
        typer.Option(
            "--real",
            help="The real benchmark's per-person .npz (from posesynth benchmark real): score both models on real people and check the real goals.",
        ),
    ] = None,
    reference: Annotated[
        bool,
        typer.Option(
            "--reference",
            help="Also train model C on uncommon poses themselves: what a lifter that has seen them reaches (a bound for B).",
        ),
    ] = False,
    ship: Annotated[
        bool,
        typer.Option(
            "--ship", help="Store both models in the package as the shipped checkpoints 'everyday' and 'rom' (float16)."
        ),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON document on stdout.")
    ] = False,
) -> None:
    """Model A trains on everyday poses, model B on the same plus ROM augmentation; both are
    evaluated on held-out everyday poses and on uncommon ones (squat, lunge, kick, quad
    stretch, kneeling). Prints the table and writes OUT/result.json."""
    with user_errors():
        from posesynth.lift import require_torch

        require_torch()
        from posesynth.apps.experiment import ExperimentConfig, run_experiment

        overrides = dict(
            samples=samples,
            test_samples=test_samples,
            epochs=epochs,
            width=width,
            dropout=dropout,
            ema_decay=ema_decay,
            loss=loss,
            seed=seed,
            variants=variants,
            rom_share=rom_share,
            unlimited_share=unlimited_share,
            motions=motions,
            b_seed=b_seed,
            reference=reference or None,
            prior=prior,
            detector_noise=detector_noise,
            keypoint_jitter=keypoint_jitter,
            keypoint_jitter_limbs=keypoint_jitter_limbs,
            keypoint_jitter_keep_distal=keypoint_jitter_keep_distal or None,
            tilt_sd_deg=tilt_sd,
            stream=stream or None,
            real=None if real is None else str(real),
        )
        if real is not None and not real.is_file():
            raise ValueError(f"--real: {real} is not a file; expected the real benchmark's per-person .npz")
        config = ExperimentConfig(**{k: v for k, v in overrides.items() if v is not None})
        console = stderr_console()
        with stdout_to_stderr(json_output):
            result = run_experiment(config, out, log=lambda m: console.print(f"[dim]{m}[/dim]"), ship=ship)
        if json_output:
            print_json(result.to_dict())
        else:
            render(result, console)


def render(result: ExperimentResult, console: Any) -> None:
    """The comparison table: MPJPE / P-MPJPE of A and B on each test set, and the change."""
    table = Table(title="ROM experiment (mm; change = B / A - 1)", title_justify="left")
    for col in ("test set", "A everyday MPJPE", "B rom MPJPE", "change", "A P-MPJPE", "B P-MPJPE"):
        table.add_column(col, justify="right")
    for name, row in result.table.items():
        m, p = row["mpjpe_mm"], row["p_mpjpe_mm"]
        table.add_row(
            name,
            f"{m['a_everyday']:.1f}",
            f"{m['b_rom']:.1f}",
            f"{100 * row['mpjpe_change']:+.1f} %",
            f"{p['a_everyday']:.1f}",
            f"{p['b_rom']:.1f}",
        )
    console.print(table)
    parts = Table(title="MPJPE by body part (mm; root left out)", title_justify="left")
    for col in ("test set", "part", "A everyday", "B rom", "change"):
        parts.add_column(col, justify="right")
    for name, row in result.table.items():
        for part, m in (row.get("by_body_part_mm") or {}).items():
            parts.add_row(
                name,
                part.replace("_", " & "),
                f"{m['a_everyday']:.1f}",
                f"{m['b_rom']:.1f}",
                f"{100 * m['mpjpe_change']:+.1f} %",
            )
    if parts.row_count:
        console.print(parts)
    activities = result.uncommon_by_activity
    if activities:
        per = Table(title="uncommon test set per activity (MPJPE, mm)", title_justify="left")
        for col in ("activity", "poses", "A everyday", "B rom", "change"):
            per.add_column(col, justify="right")
        for name, row in activities.items():
            m = row["mpjpe_mm"]
            per.add_row(
                name,
                str(row["poses"]),
                f"{m['a_everyday']:.1f}",
                f"{m['b_rom']:.1f}",
                f"{100 * row['mpjpe_change']:+.1f} %",
            )
        console.print(per)
    ref = result.reference
    if ref:
        c = Table(title="reference model C, trained on uncommon poses (MPJPE, mm)", title_justify="left")
        part_names = list(ref["by_body_part_mm"]["uncommon"])
        for col in ("test set", "C MPJPE", "change vs A", *(n.replace("_", " & ") for n in part_names)):
            c.add_column(col, justify="right")
        for name, mm in ref["mpjpe_mm"].items():
            c.add_row(
                name,
                f"{mm:.1f}",
                f"{100 * ref['mpjpe_change_vs_a'][name]:+.1f} %",
                *(f"{ref['by_body_part_mm'][name][n]:.1f}" for n in part_names),
            )
        console.print(c)
    for goal, met in result.goals.items():
        console.print(f"{goal.replace('_', ' ')}: {'met' if met else 'NOT met'}")
    console.print(f"{result.seconds} s; checkpoints {', '.join(result.checkpoints.values())}")
    for name, info in (result.shipped).items():
        change = ", ".join(f"{t} {d:+.2f} mm" for t, d in info["float16_change_mm"].items())
        console.print(f"shipped '{name}' ({info['bytes'] / 1e6:.1f} MB, float16; MPJPE change {change})")
    real = result.real
    if real:
        rt = Table(
            title="real benchmark (P-MPJPE / MPJPE, mm; ratio = P-MPJPE / BlazePose world's)", title_justify="left"
        )
        for col in ("model", "input", "P-MPJPE", "MPJPE", "ratio"):
            rt.add_column(col, justify="right")
        for model, inputs in real["models"].items():
            for inp, m in inputs.items():
                if inp == "keypoints":
                    continue
                rt.add_row(
                    model,
                    inp,
                    f"{m['p_mpjpe_mm']:.1f}",
                    f"{m['mpjpe_mm']:.1f}",
                    f"{m['p_mpjpe_ratio_to_blazepose']:.3f}",
                )
        console.print(rt)
        console.print(f"[dim]ground truth: {real['ground_truth_definition']}[/dim]")
