"""Train a SimpleBaseline lifter on any data set with 2D and camera-frame 3D.

The data path never stalls the model: the whole training split lives in memory as two
tensors (clean 2D pixels ``(N, 17, 2)`` and standardised targets ``(N, 48)``), and each step
indexes a batch out of them, adds 2D noise (:mod:`posesynth.lift.noise`) and normalises it
(:mod:`posesynth.lift.normalize`) with a handful of batched tensor operations — no
per-sample Python, no ``DataLoader``.

Recipe (Martinez et al. 2017): MSE on standardised targets, Adam (lr 1e-3), learning rate
``lr · lr_decay^(step / lr_decay_steps)`` (``exponential``; ``step`` floors the exponent:
Martinez's staircase 0.96 every 100 000 steps), batch size 64, dropout 0.5, width 1024,
2 blocks, max-norm on (Martinez's weight clipping, :class:`~posesynth.lift.model.MaxNormLinear`;
MMPose leaves it out; ``max_norm=False`` does too). On a procedural set (18k training
samples, width 256, 8 epochs) max-norm lowered the validation MPJPE from 106 to 96 mm.

Determinism: a seed fixes everything. The held-out validation split is a permutation from
``numpy.random.default_rng(seed)``; epoch ``e`` draws its shuffling, its noise and its dropout
masks from three streams of ``SeedSequence([seed, e])`` (dropout through torch's global
generator, seeded inside ``torch.random.fork_rng`` so the caller's state is untouched), and
``torch.use_deterministic_algorithms(True)`` is on while training (and denormal floats are
flushed to zero, see :func:`training_mode`). So a run resumed at an epoch boundary gives
the very weights of an uninterrupted one (on the same machine and thread count).

The checkpoint folder (:mod:`posesynth.lift.checkpoint`) is rewritten atomically after every
epoch, so an interrupted run loses at most one epoch and can be resumed.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from posesynth.data.dataset import PoseDataset
from posesynth.lift.checkpoint import (
    check_out,
    load_checkpoint,
    load_train_state,
    save_checkpoint,
)
from posesynth.lift.data import LiftData, lift_arrays, provenance
from posesynth.lift.metrics import joint_errors, lift_metrics
from posesynth.lift.model import SimpleBaseline
from posesynth.lift.noise import NoiseConfig, apply_noise
from posesynth.lift.normalize import (
    NormStats,
    compute_stats,
    normalise_inputs,
    targets_from_3d,
)
from posesynth.body.skeleton import H36M17
from posesynth.util.yaml_config import load_model

__all__ = [
    "TrainCallbacks",
    "TrainConfig",
    "TrainRun",
    "load_train_config",
    "predict_normalised",
    "prepare_run",
    "resume_lifter",
    "run_epoch",
    "split_indices",
    "train_lifter",
    "training_mode",
]

#: Options that may differ when resuming; every other one must match the checkpoint's.
RESUMABLE_CHANGES = frozenset({"epochs"})


class TrainConfig(BaseModel):
    """Everything that determines a training run (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(20, ge=1, description="total epochs (a resumed run continues up to this)")
    batch_size: int = Field(64, ge=2)
    lr: float = Field(1e-3, gt=0)
    lr_decay: float = Field(0.96, gt=0, le=1)
    lr_decay_steps: int = Field(100_000, ge=1)
    lr_schedule: Literal["exponential", "step"] = "exponential"
    width: int = Field(1024, ge=1)
    blocks: int = Field(2, ge=0)
    dropout: float = Field(0.5, ge=0, lt=1)
    max_norm: bool = True
    val_fraction: float = Field(0.1, ge=0, lt=1)
    seed: int = Field(0, ge=0)
    noise: NoiseConfig = Field(default_factory=NoiseConfig)

    def lr_at(self, step: int) -> float:
        """Learning rate at optimiser step ``step`` (0-based)."""
        k = step / self.lr_decay_steps
        return self.lr * self.lr_decay ** (math.floor(k) if self.lr_schedule == "step" else k)


def load_train_config(path: Path | str | None = None, **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` from an optional YAML file plus overrides (``None`` ignored);
    a ``noise`` override (a :class:`NoiseConfig` or mapping) replaces the file's noise."""
    return load_model(TrainConfig, path, overrides, what="train config")


class TrainCallbacks:
    """Hooks for progress display; the defaults do nothing. Any object with these three
    methods will do (duck typing), so a caller need not import this module to define one."""

    def on_start(self, first_epoch: int, epochs: int, samples_per_epoch: int) -> None:
        """Called once: epochs ``first_epoch..epochs`` (1-based) of ``samples_per_epoch``."""

    def on_batch(self, samples: int, loss: float) -> None:
        """After each optimiser step: ``samples`` in the batch, its loss (standardised MSE)."""

    def on_epoch(self, record: Mapping[str, Any]) -> None:
        """After each epoch with its history record (``epoch``, ``train_loss``, ``val_mpjpe_mm``...)."""


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) sorted indices of ``n`` samples, by a permutation seeded with ``seed``.

    The validation split has ``round(n · val_fraction)`` samples (at least one when the
    fraction is > 0 and ``n >= 3``).
    """
    perm = np.random.default_rng(seed).permutation(n)
    n_val = round(n * val_fraction)
    if val_fraction > 0 and n_val == 0 and n >= 3:
        n_val = 1
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


@dataclass(eq=False)
class TrainRun:
    """Everything the training loop touches; built by :func:`prepare_run`.

    Attributes:
        uv_train: (N, 17, 2) float32 clean 2D pixels of the training split.
        y_train: (N, 48) float32 standardised targets of the training split.
        x_val: (M, 34) float32 normalised clean inputs of the validation split.
        p_val: (M, 17, 3) float64 root-relative camera-frame 3D (m) of the validation split.
        step: optimiser steps done; epoch: epochs done; history: one record per epoch.
    """

    config: TrainConfig
    model: SimpleBaseline
    optimizer: torch.optim.Optimizer
    stats: NormStats
    uv_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    p_val: np.ndarray
    norm: dict[str, torch.Tensor]
    data_info: dict[str, Any]
    step: int = 0
    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def _epoch_seeds(seed: int, epoch: int) -> tuple[int, int, int]:
    s = np.random.SeedSequence([seed, epoch]).generate_state(3, dtype=np.uint64)
    return int(s[0] >> np.uint64(1)), int(s[1] >> np.uint64(1)), int(s[2] >> np.uint64(1))


def prepare_run(data: LiftData, config: TrainConfig, stats: NormStats | None = None) -> TrainRun:
    """Split ``data``, compute (or reuse) the statistics and build model and optimiser.

    The model's initial weights come from ``torch.manual_seed(config.seed)`` inside a forked
    RNG (the caller's torch state is left as it was).

    Raises:
        ValueError: fewer than 2 training samples.
    """
    train_idx, val_idx = split_indices(len(data), config.val_fraction, config.seed)
    if len(train_idx) < 2:
        raise ValueError(
            f"dataset: {len(data)} usable samples ({data.dropped} of {data.total} dropped for NaN/inf "
            f"or a zero-size 2D box) leave {len(train_idx)} for training; at least 2 are needed"
        )
    if stats is None:
        stats = compute_stats(data.uv_px[train_idx], data.p_cam[train_idx])
    norm = stats.tensors()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = SimpleBaseline(
            width=config.width, blocks=config.blocks, dropout=config.dropout,
            max_norm=1.0 if config.max_norm else None,
        )  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    y = targets_from_3d(torch.as_tensor(data.p_cam[train_idx]))
    y_train = ((y - torch.as_tensor(stats.target_mean)) / torch.as_tensor(stats.target_std)).float()
    uv_val = torch.as_tensor(data.uv_px[val_idx], dtype=torch.float32)
    p_val = data.p_cam[val_idx] - data.p_cam[val_idx][:, :1]
    return TrainRun(
        config=config,
        model=model,
        optimizer=optimizer,
        stats=stats,
        uv_train=torch.as_tensor(data.uv_px[train_idx], dtype=torch.float32).contiguous(),
        y_train=y_train.contiguous(),
        x_val=normalise_inputs(uv_val, norm["input_mean"], norm["input_std"]),
        p_val=p_val,
        norm=norm,
        data_info={"usable": len(data), "dropped": data.dropped, "train": len(train_idx), "val": len(val_idx)},
    )


@contextlib.contextmanager
def training_mode() -> Iterator[None]:
    """Deterministic algorithms on, and denormal floats flushed to zero, for the duration.

    Denormals (|x| < 1.2e-38 in float32) turn up transiently early in training and make CPU
    steps up to ten times slower (measured at width 1024: 230 instead of 28 ms per step, and
    one first epoch of 500 s instead of 8 s); flushing them left the losses and weights of a
    10-epoch run unchanged to the printed digits, and runs stay deterministic. Both settings are put back afterwards
    (torch has no getter for the denormal mode; its default, off, is restored).
    """
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
        torch.use_deterministic_algorithms(before)


def run_epoch(run: TrainRun, callbacks: Any = None) -> float:
    """Train one epoch (epoch ``run.epoch + 1``) in place; returns its mean training loss.

    A final batch of a single sample is skipped (BatchNorm needs two).
    """
    cfg = run.config
    epoch = run.epoch + 1
    s_shuffle, s_noise, s_dropout = _epoch_seeds(cfg.seed, epoch)
    g_shuffle = torch.Generator().manual_seed(s_shuffle)
    g_noise = torch.Generator().manual_seed(s_noise)
    model, opt = run.model, run.optimizer
    mean, std = run.norm["input_mean"], run.norm["input_std"]
    n = len(run.uv_train)
    total = torch.zeros((), dtype=torch.float64)
    seen = 0
    with torch.random.fork_rng(devices=[]), training_mode():
        torch.manual_seed(s_dropout)
        model.train()
        perm = torch.randperm(n, generator=g_shuffle)
        for start in range(0, n, cfg.batch_size):
            idx = perm[start : start + cfg.batch_size]
            if len(idx) < 2:
                break
            uv = apply_noise(run.uv_train[idx], cfg.noise, g_noise)
            x = normalise_inputs(uv, mean, std)
            lr = cfg.lr_at(run.step)
            for group in opt.param_groups:
                group["lr"] = lr
            loss = F.mse_loss(model(x), run.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            run.step += 1
            loss = loss.detach()
            total += loss * len(idx)
            seen += len(idx)
            if callbacks is not None:
                callbacks.on_batch(len(idx), float(loss))
    run.epoch = epoch
    return float(total) / max(seen, 1)


@torch.no_grad()
def predict_normalised(model: SimpleBaseline, x: torch.Tensor, norm: Mapping[str, torch.Tensor], batch_size: int = 65536) -> np.ndarray:
    """Root-relative 3D (M, 17, 3) float64 metres (root row 0) from normalised inputs (M, 34)."""
    model.eval()
    out = np.zeros((len(x), 17, 3))
    for start in range(0, len(x), batch_size):
        y = model(x[start : start + batch_size]) * norm["target_std"] + norm["target_mean"]
        out[start : start + batch_size, 1:] = y.reshape(-1, 16, 3).double().numpy()
    return out


def _val_mpjpe_mm(run: TrainRun) -> float | None:
    if len(run.x_val) == 0:
        return None
    pred = predict_normalised(run.model, run.x_val, run.norm)
    return float(joint_errors(pred, run.p_val).mean() * 1000.0)


def _checkpoint_meta(run: TrainRun, data_prov: Mapping[str, Any], metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "train_config": run.config.model_dump(mode="json"),
        "data": {**data_prov, "split": dict(run.data_info), "split_seed": run.config.seed},
        "epochs_done": run.epoch,
        "steps_done": run.step,
        "history": run.history,
        "metrics": dict(metrics),
    }


def _train_state(run: TrainRun) -> dict[str, Any]:
    return {"optimizer": run.optimizer.state_dict(), "epoch": run.epoch, "step": run.step}


def _loop(
    run: TrainRun, out: Path, data_prov: Mapping[str, Any], callbacks: Any
) -> dict[str, Any]:
    cfg = run.config
    cb = callbacks or TrainCallbacks()
    first = run.epoch + 1
    cb.on_start(first, cfg.epochs, run.data_info["train"])
    start_all = time.perf_counter()
    trained = 0
    metrics: dict[str, Any] = dict(run.history[-1]) if run.history else {}
    for _ in range(first, cfg.epochs + 1):
        t0 = time.perf_counter()
        loss = run_epoch(run, cb)
        trained += run.data_info["train"]
        record = {
            "epoch": run.epoch,
            "train_loss": loss,
            "val_mpjpe_mm": _val_mpjpe_mm(run),
            "lr": cfg.lr_at(run.step),
            "seconds": round(time.perf_counter() - t0, 3),
        }
        run.history.append(record)
        metrics = dict(record)
        if run.epoch == cfg.epochs and len(run.x_val):
            pred = predict_normalised(run.model, run.x_val, run.norm)
            full = lift_metrics(pred, run.p_val, H36M17)
            metrics["validation"] = {k: v for k, v in full.items() if k != "per_joint_mpjpe_mm"}
        save_checkpoint(out, run.model, run.stats, _checkpoint_meta(run, data_prov, metrics), _train_state(run))
        cb.on_epoch(record)
    seconds = time.perf_counter() - start_all
    return {
        "out": str(out),
        "epochs_done": run.epoch,
        "epochs_run": run.epoch - first + 1,
        "steps_done": run.step,
        "samples_train": run.data_info["train"],
        "samples_val": run.data_info["val"],
        "samples_dropped": run.data_info["dropped"],
        "train_loss": metrics.get("train_loss"),
        "val_mpjpe_mm": metrics.get("val_mpjpe_mm"),
        "validation": metrics.get("validation"),
        "seconds": round(seconds, 3),
        "samples_per_s": round(trained / seconds, 1) if trained and seconds > 0 else None,
        "config": cfg.model_dump(mode="json"),
    }


def _usable(dataset: PoseDataset, where: Path | str | None) -> LiftData:
    name = "dataset" if where is None else str(where)
    if len(dataset) == 0:
        raise ValueError(f"{name}: holds 0 samples; nothing to train on")
    try:
        data = lift_arrays(dataset, invalid="drop")
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    if len(data) == 0:
        raise ValueError(
            f"{name}: none of its {data.total} samples is usable (NaN/inf or a zero-size 2D box); "
            "nothing to train on"
        )
    return data


def train_lifter(
    dataset: PoseDataset,
    out: Path | str,
    config: TrainConfig | None = None,
    *,
    data_path: Path | str | None = None,
    overwrite: bool = False,
    callbacks: Any = None,
) -> dict[str, Any]:
    """Train a new lifter on ``dataset`` and write its checkpoint folder ``out``.

    Args:
        dataset: a Human3.6M-17 (or extended) data set with 2D and camera-frame 3D (or world
            3D and cameras); samples with NaN/inf or a zero-size 2D box are left out and counted.
        out: the checkpoint folder to create (rewritten after every epoch).
        config: hyper-parameters, noise and seed (default :class:`TrainConfig`).
        data_path: where ``dataset`` was read from, recorded as provenance.
        overwrite: replace an existing checkpoint at ``out``.
        callbacks: progress hooks.

    Returns:
        A summary: epochs, samples (train/val/dropped), final loss and validation MPJPE (mm),
        full validation metrics, seconds, samples/s and the resolved config.

    Raises:
        ValueError: an empty or unusable data set, another skeleton, no 2D/3D, or ``out``
            existing without ``overwrite``.
    """
    config = config or TrainConfig()
    out = check_out(out, overwrite)
    data = _usable(dataset, data_path)
    run = prepare_run(data, config)
    return _loop(run, out, provenance(dataset, data_path), callbacks)


def resume_lifter(
    dataset: PoseDataset,
    out: Path | str,
    changes: Mapping[str, Any] | None = None,
    *,
    data_path: Path | str | None = None,
    callbacks: Any = None,
) -> dict[str, Any]:
    """Continue training the checkpoint ``out`` on ``dataset`` (the one it was trained on).

    Model, optimiser, step and epoch counters come from ``out``; the run goes on to
    ``changes["epochs"]`` (default: the checkpoint's own total). Every other setting is the
    checkpoint's: a ``changes`` entry (``None`` values ignored) that differs raises.

    Raises:
        ValueError: ``out`` is no resumable checkpoint, a setting differs, the data set has
            another number of usable samples, or the run is already complete.
    """
    out = Path(out)
    model, stats, meta = load_checkpoint(out)
    state = load_train_state(out)
    try:
        stored = TrainConfig(**meta.get("train_config", {}))
    except ValidationError as exc:
        raise ValueError(f"{out}: meta.json train_config is invalid ({exc.errors()[0]['msg']})") from None
    changes = {k: v for k, v in (changes or {}).items() if v is not None}
    current = stored.model_dump()
    clash = []
    for k, v in changes.items():
        if k not in current:
            raise ValueError(f"resume: unknown setting {k!r}")
        new = v.model_dump() if isinstance(v, BaseModel) else v
        if k not in RESUMABLE_CHANGES and new != current[k]:
            clash.append(f"{k} {new!r} (checkpoint: {current[k]!r})")
    if clash:
        raise ValueError(f"resume: settings differ from the checkpoint's: {', '.join(clash)}; drop them to resume")
    config = stored.model_copy(update={"epochs": changes.get("epochs", stored.epochs)})
    data = _usable(dataset, data_path)
    usable = meta.get("data", {}).get("split", {}).get("usable")
    if usable is not None and usable != len(data):
        raise ValueError(
            f"resume: the checkpoint was trained on {usable} usable samples, this data set has {len(data)}; "
            "resume with the same data"
        )
    done = int(state.get("epoch", meta.get("epochs_done", 0)))
    if done >= config.epochs:
        raise ValueError(f"resume: {out} has done {done} of {config.epochs} epochs; pass a larger --epochs")
    run = prepare_run(data, config, stats=stats)
    run.model.load_state_dict(model.state_dict())
    run.optimizer.load_state_dict(state["optimizer"])
    run.epoch, run.step = done, int(state.get("step", 0))
    run.history = list(meta.get("history", []))
    prov = meta.get("data") or provenance(dataset, data_path)
    prov = {k: v for k, v in prov.items() if k not in ("split", "split_seed")}
    return _loop(run, out, prov, callbacks)
