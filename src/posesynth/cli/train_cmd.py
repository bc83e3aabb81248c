"""``posesynth train DATA --out CKPT``: train a SimpleBaseline lifter (needs the ``train`` extra).

The library (:mod:`posesynth.lift`, torch) is imported inside the command, so ``--help`` and
the rest of the CLI work without torch. Progress (epoch, loss, validation MPJPE) goes to stderr.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Self

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from posesynth.cli.errors import user_errors
from posesynth.cli.output import print_json, stderr_console, stdout_to_stderr

if TYPE_CHECKING:
    from posesynth.lift.device import DevicePlan
    from posesynth.lift.train import TrainConfig, TrainSummary


def train(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Checkpoint folder to write (model.safetensors, meta.json, train_state.pt)."),
    ],
    data: Annotated[
        Path | None,
        typer.Argument(help="Training data: any data set 'posesynth info' reads, with 2D and 3D (or --stream)."),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="Total epochs (default 20; with --resume: train up to this).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Samples per step (default 64).")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Adam learning rate (default 1e-3).")] = None,
    lr_decay: Annotated[
        float | None, typer.Option("--lr-decay", help="Decay factor per --lr-decay-steps (default 0.96).")
    ] = None,
    lr_decay_steps: Annotated[
        int | None, typer.Option("--lr-decay-steps", help="Steps per decay factor (default 100000).")
    ] = None,
    lr_schedule: Annotated[
        str | None, typer.Option("--lr-schedule", help="'exponential' (smooth) or 'step' (staircase).")
    ] = None,
    width: Annotated[int | None, typer.Option("--width", help="Hidden width (default 1024).")] = None,
    blocks: Annotated[int | None, typer.Option("--blocks", help="Residual blocks (default 2).")] = None,
    dropout: Annotated[float | None, typer.Option("--dropout", help="Dropout probability (default 0.5).")] = None,
    ema_decay: Annotated[
        float | None,
        typer.Option(
            "--ema-decay",
            help="Weight averaging per step, e.g. 0.999: the checkpoint holds the moving average (default 0: off).",
        ),
    ] = None,
    loss: Annotated[
        str | None,
        typer.Option(
            "--loss",
            help="'mse' of the standardised targets (default; SimpleBaseline) or 'mpjpe', the mean per-joint "
            "distance in metres (VideoPose3D).",
        ),
    ] = None,
    max_norm: Annotated[
        bool | None,
        typer.Option(
            "--max-norm/--no-max-norm",
            help="Martinez's max-norm: use each weight matrix clipped to norm 1 (default on).",
        ),
    ] = None,
    val_fraction: Annotated[
        float | None, typer.Option("--val-fraction", help="Held-out validation share (default 0.1).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed: split, init, shuffling, noise, dropout (default 0).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML training config; options given here win.")
    ] = None,
    noise: Annotated[
        Path | None,
        typer.Option(
            "--noise", help="YAML noise settings (sigma_px, sigma_bbox, outlier_prob, outlier_box_scale, drop_prob)."
        ),
    ] = None,
    noise_sigma_px: Annotated[
        float | None, typer.Option("--noise-sigma-px", help="Gaussian 2D jitter, pixels.")
    ] = None,
    noise_sigma_bbox: Annotated[
        float | None,
        typer.Option("--noise-sigma-bbox", help="Gaussian 2D jitter, fraction of the bbox's longest side."),
    ] = None,
    noise_outlier_prob: Annotated[
        float | None, typer.Option("--noise-outlier-prob", help="Probability a joint jumps to a random place.")
    ] = None,
    noise_drop_prob: Annotated[
        float | None, typer.Option("--noise-drop-prob", help="Probability a joint is dropped (set to the root).")
    ] = None,
    stream: Annotated[
        Path | None,
        typer.Option(
            "--stream",
            help="Train on fresh synthetic samples every step, as this YAML says (generate or augment settings, samples_per_epoch, workers) instead of DATA.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Data-loader worker processes of --stream (default: the YAML's; any number gives the same batches).",
        ),
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="auto (cuda, then mps, then cpu), cpu, cuda or mps (default auto).")
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option("--precision", help="auto (bf16/fp16 autocast on cuda, fp32 elsewhere), fp32, bf16 or fp16."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the checkpoint at --out (its settings; --epochs may grow).")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing checkpoint at --out.")] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON document on stdout.")
    ] = False,
) -> None:
    """Train a SimpleBaseline 2D-to-3D lifter on DATA and write the checkpoint folder --out.

    Inputs are root-centred and scaled by the 2D bounding box, so the lifter works on any
    camera. The checkpoint is rewritten after every epoch; --resume continues it.
    """
    with user_errors():
        if resume and overwrite:
            raise ValueError("--resume and --overwrite exclude each other")
        if not resume:  # before any work: never a file, an input, or unasked
            from posesynth.util.outputs import check_output

            check_output(out, kind="dir", overwrite=overwrite, inputs=[data, stream], what="--out")
        if (data is None) == (stream is None) and not (resume and data is None):
            raise ValueError("expected the training data: DATA or --stream CONFIG (one of them)")
        if resume and stream is not None:
            raise ValueError("--resume continues the checkpoint's own stream (stored in it); drop --stream")
        from posesynth.lift import require_torch

        require_torch()  # before torch is imported: an install hint rather than a traceback
        from posesynth.data.formats.registry import read_any
        from posesynth.lift.noise import load_noise_config
        from posesynth.lift.train import (
            load_train_config,
            resume_lifter,
            resume_stream,
            train_lifter,
            train_stream,
        )

        flags = {
            "epochs": epochs, "batch_size": batch_size, "lr": lr, "lr_decay": lr_decay,
            "lr_decay_steps": lr_decay_steps, "lr_schedule": lr_schedule, "width": width,
            "blocks": blocks, "dropout": dropout, "ema_decay": ema_decay, "loss": loss, "max_norm": max_norm,
            "val_fraction": val_fraction, "seed": seed, "device": device, "precision": precision,
        }  # fmt: skip
        noise_flags = {
            "sigma_px": noise_sigma_px, "sigma_bbox": noise_sigma_bbox,
            "outlier_prob": noise_outlier_prob, "drop_prob": noise_drop_prob,
        }  # fmt: skip
        cfg = load_train_config(config, **flags)
        noise_given = noise is not None or any(v is not None for v in noise_flags.values())
        if noise_given:
            base = {} if noise is not None else cfg.noise.model_dump()
            noise_cfg = load_noise_config(noise, **{**base, **noise_flags})
            cfg = cfg.model_copy(update={"noise": noise_cfg})
        console = stderr_console()
        if data is None:  # streamed: fresh samples every step (posesynth.lift.stream)
            with stdout_to_stderr(json_output), _ProgressBar(console) as bar:
                if resume:
                    summary = resume_stream(out, _changes(cfg, noise_given), workers=workers, callbacks=bar)
                else:
                    assert stream is not None  # checked above: DATA or --stream (one of them)
                    summary = train_stream(stream, out, cfg, workers=workers, overwrite=overwrite, callbacks=bar)
            if json_output:
                print_json(summary.to_dict())
            else:
                render_summary(summary, console)
            return
        if workers is not None:
            raise ValueError("--workers applies to --stream only")
        dataset = read_any(data)
        with stdout_to_stderr(json_output), _ProgressBar(console) as bar:
            if resume:
                summary = resume_lifter(dataset, out, _changes(cfg, noise_given), data_path=data, callbacks=bar)
            else:
                summary = train_lifter(dataset, out, cfg, data_path=data, overwrite=overwrite, callbacks=bar)
        if json_output:
            print_json(summary.to_dict())
        else:
            render_summary(summary, console)


def _changes(cfg: TrainConfig, noise_given: bool) -> dict[str, Any]:
    """What a --resume asked for (flags, the config file, noise): only these are compared."""
    changes = {k: getattr(cfg, k) for k in cfg.model_fields_set}
    if noise_given:
        changes["noise"] = cfg.noise
    return changes


class _ProgressBar:
    """A rich progress bar on stderr; implements the trainer's callbacks
    (:class:`posesynth.lift.train.TrainCallbacks`) by duck typing, so this module needs no torch."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("val MPJPE {task.fields[val]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.task: Any = None
        self.epochs = 0

    def __enter__(self) -> Self:
        return self  # the bar starts with training (on_start): errors before it stay one line

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.progress.stop()

    def on_start(self, first_epoch: int, epochs: int, samples_per_epoch: int) -> None:
        self.progress.start()
        self.epochs = epochs
        total = max(epochs - first_epoch + 1, 0) * samples_per_epoch
        self.task = self.progress.add_task("train", total=total, epoch=f"{first_epoch}/{epochs}", loss="-", val="- mm")

    def on_batch(self, samples: int, loss: float) -> None:
        self.progress.update(self.task, advance=samples, loss=f"{loss:.4f}")

    def on_epoch(self, record: Mapping[str, Any]) -> None:
        val = record.get("val_mpjpe_mm")
        self.progress.update(
            self.task, epoch=f"{min(int(record['epoch']) + 1, self.epochs)}/{self.epochs}",
            loss=f"{record['train_loss']:.4f}", val="- mm" if val is None else f"{val:.1f} mm",
        )  # fmt: skip


def _device_text(device: DevicePlan) -> str:
    return f"{device.name} ({device.device.type}, {device.precision})"


def _fmt(value: Any, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec) if isinstance(value, float) else str(value)


def render_summary(summary: TrainSummary, console: Console) -> None:
    """Print the summary of :func:`posesynth.lift.train.train_lifter` as a table on ``console``."""
    table = Table(title="posesynth train", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    val = summary.validation or {}
    cfg = summary.config
    rows = [
        ("out", summary.out),
        ("epochs", f"{summary.epochs_done} ({summary.epochs_run} in this run)"),
        ("samples", (f"{summary.samples_train} train, {summary.samples_val} validation, "
                     f"{summary.samples_dropped} dropped")),
        ("model", f"SimpleBaseline width {cfg.width}, {cfg.blocks} blocks"),
        ("device", _device_text(summary.device)),
        ("train loss", _fmt(summary.train_loss, ".4f")),
        ("val MPJPE (mm)", _fmt(summary.val_mpjpe_mm)),
        ("val P-MPJPE (mm)", _fmt(val.get("p_mpjpe_mm"))),
        ("val PCK3D@150", _fmt(val.get("pck3d_150"), ".3f")),
        ("seconds", _fmt(summary.seconds)),
        ("samples/s", _fmt(summary.samples_per_s, ",.0f")),
    ]  # fmt: skip
    for field, value in rows:
        table.add_row(field, Text(str(value)))
    console.print(table)
