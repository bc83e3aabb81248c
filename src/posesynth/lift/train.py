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

Devices (:mod:`posesynth.lift.device`): ``TrainConfig.device`` (``auto``: cuda, then mps, then
cpu) and ``precision`` (``auto``: bf16 or fp16 autocast on CUDA, fp32 elsewhere). The model,
its optimiser state and the data live on that device; the noise draws from a generator on it,
so the same seed gives the same weights on the same device type only. The checkpoint records
the device it trained on (``meta.json`` ``device``); it loads on any device (to the CPU).

Weight averaging (``ema_decay`` > 0): the checkpoint's weights are an exponential moving
average of the trained ones (BatchNorm statistics included), updated after every step with
decay ``min(ema_decay, (1 + t) / (10 + t))`` at step ``t`` (the warm-up keeps the random
initial weights out of the average). The average is what validation scores and what the
checkpoint predicts with; the trained weights go to the training state, so a resumed run
continues both. With a constant learning rate the trained weights wander around a minimum
from step to step; their average sits nearer its centre.

Streamed data (:func:`train_stream`): instead of a fixed array set, every step trains on
fresh samples made in ``DataLoader`` workers by :class:`posesynth.lift.stream.SyntheticPoses`
(random streams, determinism and statistics documented there); the checkpoint stores the
stream's configuration and statistics, so :func:`resume_stream` needs nothing else.
"""

from __future__ import annotations

import contextlib
import copy
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

from posesynth.body.skeleton import H36M17
from posesynth.data.dataset import PoseDataset
from posesynth.lift.checkpoint import (
    check_out,
    load_checkpoint,
    load_train_state,
    save_checkpoint,
)
from posesynth.lift.data import LiftData, lift_arrays, provenance
from posesynth.lift.device import DeviceName, DevicePlan, PrecisionName, device_plan
from posesynth.lift.metrics import joint_errors, lift_metrics
from posesynth.lift.model import SimpleBaseline
from posesynth.lift.noise import NoiseConfig, apply_noise
from posesynth.lift.normalize import (
    NormStats,
    compute_stats,
    normalise_inputs,
    targets_from_3d,
)
from posesynth.lift.stream import (
    StreamChunk,
    StreamConfig,
    SyntheticPoses,
    as_stream_config,
)
from posesynth.util.yaml_config import load_model

__all__ = [
    "TrainCallbacks",
    "TrainConfig",
    "TrainRun",
    "TrainSummary",
    "load_train_config",
    "predict_normalised",
    "prepare_run",
    "prepare_stream_run",
    "resume_lifter",
    "resume_stream",
    "run_epoch",
    "run_stream_epoch",
    "split_indices",
    "train_lifter",
    "train_stream",
    "training_mode",
]

#: Options that may differ when resuming; every other one must match the checkpoint's.
RESUMABLE_CHANGES = frozenset({"epochs", "device", "precision"})


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
    ema_decay: float = Field(
        0.0, ge=0, lt=1, description="weight averaging per step (0: off); the checkpoint holds the average"
    )
    max_norm: bool = True
    loss: Literal["mse", "mpjpe"] = Field(
        "mse",
        description="mse: of the standardised targets (SimpleBaseline); mpjpe: the mean per-joint distance in "
        "metres (VideoPose3D), whose best guess for a 2D pose with two 3D readings leans to the likelier one "
        "instead of their mean",
    )
    val_fraction: float = Field(0.1, ge=0, lt=1)
    seed: int = Field(0, ge=0)
    noise: NoiseConfig = Field(default_factory=NoiseConfig)
    device: DeviceName = Field("auto", description="auto (cuda, then mps, then cpu), cpu, cuda or mps")
    precision: PrecisionName = Field(
        "auto", description="auto (bf16/fp16 autocast on cuda, else fp32), fp32, bf16, fp16"
    )

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
        """After each optimiser step: ``samples`` in the batch, its loss (``TrainConfig.loss``)."""

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
        uv_train: (N, 17, 2) float32 clean 2D pixels of the training split (N = 0 for a
            streamed run, whose data comes from :attr:`stream`).
        y_train: (N, 48) float32 standardised targets of the training split.
        x_val: (M, 34) float32 normalised clean inputs of the validation split.
        p_val: (M, 17, 3) float64 root-relative camera-frame 3D (m) of the validation split.
        step: optimiser steps done; epoch: epochs done; history: one record per epoch.
        plan: the device and precision; tensors above (but ``p_val``) live on its device.
        scaler: the fp16 gradient scaler, or None.
        stream: the streamed data set, or None.
        ema: the weight average (``config.ema_decay`` > 0), in eval mode, or None.
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
    plan: DevicePlan = field(default_factory=lambda: device_plan("cpu", "fp32"))
    scaler: Any = None
    stream: SyntheticPoses | None = None
    ema: SimpleBaseline | None = None

    @property
    def serving_model(self) -> SimpleBaseline:
        """The weights the checkpoint holds: the average when there is one."""
        return self.model if self.ema is None else self.ema


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
    plan = device_plan(config.device, config.precision)
    dev = plan.device
    norm = stats.tensors(device=dev)
    model, optimizer, scaler = _model_and_optimizer(config, plan)
    y = targets_from_3d(torch.as_tensor(data.p_cam[train_idx]))
    y_train = ((y - torch.as_tensor(stats.target_mean)) / torch.as_tensor(stats.target_std)).float()
    uv_val = torch.as_tensor(data.uv_px[val_idx], dtype=torch.float32, device=dev)
    p_val = data.p_cam[val_idx] - data.p_cam[val_idx][:, :1]
    return TrainRun(
        config=config,
        model=model,
        optimizer=optimizer,
        stats=stats,
        uv_train=torch.as_tensor(data.uv_px[train_idx], dtype=torch.float32).contiguous().to(dev),
        y_train=y_train.contiguous().to(dev),
        x_val=normalise_inputs(uv_val, norm["input_mean"], norm["input_std"]),
        p_val=p_val,
        norm=norm,
        data_info={"usable": len(data), "dropped": data.dropped, "train": len(train_idx), "val": len(val_idx)},
        plan=plan,
        scaler=scaler,
        ema=_averaged(model, config),
    )


def _averaged(model: SimpleBaseline, config: TrainConfig) -> SimpleBaseline | None:
    """A copy of ``model`` to hold the weight average (None without ``ema_decay``)."""
    if not config.ema_decay:
        return None
    ema = copy.deepcopy(model)
    ema.eval()
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def update_average(run: TrainRun) -> None:
    """Move the weight average towards the trained weights after step ``run.step``
    (decay ``min(ema_decay, (1 + step) / (10 + step))``; integer buffers are copied)."""
    if run.ema is None:
        return
    decay = min(run.config.ema_decay, (1 + run.step) / (10 + run.step))
    for avg, cur in zip(run.ema.parameters(), run.model.parameters(), strict=True):
        avg.lerp_(cur, 1.0 - decay)
    for buf, now in zip(run.ema.buffers(), run.model.buffers(), strict=True):
        if buf.dtype.is_floating_point:
            buf.lerp_(now, 1.0 - decay)
        else:
            buf.copy_(now)


def _model_and_optimizer(config: TrainConfig, plan: DevicePlan) -> tuple[SimpleBaseline, torch.optim.Optimizer, Any]:
    """The model (initial weights from ``torch.manual_seed(config.seed)`` on the CPU, in a
    forked RNG, so they do not depend on the device), moved to the device, its Adam optimiser
    and, for fp16, a gradient scaler."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = SimpleBaseline(
            width=config.width, blocks=config.blocks, dropout=config.dropout,
            max_norm=1.0 if config.max_norm else None,
        )  # fmt: skip
    model.to(plan.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scaler = torch.amp.GradScaler(plan.device.type) if plan.grad_scaling else None
    return model, optimizer, scaler


def prepare_stream_run(stream: SyntheticPoses, config: TrainConfig) -> TrainRun:
    """A run whose batches come from ``stream`` (statistics: the stream's); validation on
    its fixed validation draw. Model and optimiser as :func:`prepare_run` builds them."""
    plan = device_plan(config.device, config.precision)
    dev = plan.device
    norm = stream.stats.tensors(device=dev)
    model, optimizer, scaler = _model_and_optimizer(config, plan)
    uv_val, p_val = stream.validation()
    x_val = normalise_inputs(
        torch.as_tensor(uv_val, dtype=torch.float32, device=dev), norm["input_mean"], norm["input_std"]
    )
    return TrainRun(
        config=config,
        model=model,
        optimizer=optimizer,
        stats=stream.stats,
        uv_train=torch.zeros((0, 17, 2), device=dev),
        y_train=torch.zeros((0, 48), device=dev),
        x_val=x_val,
        p_val=p_val - p_val[:, :1],
        norm=norm,
        data_info={
            "usable": stream.samples_per_epoch,
            "dropped": 0,
            "train": stream.samples_per_epoch,
            "val": len(p_val),
        },
        plan=plan,
        scaler=scaler,
        stream=stream,
        ema=_averaged(model, config),
    )


@contextlib.contextmanager
def training_mode(deterministic: bool = True) -> Iterator[None]:
    """Deterministic algorithms on (unless ``deterministic`` is False: a CUDA run without
    ``CUBLAS_WORKSPACE_CONFIG``), and denormal floats flushed to zero, for the duration.

    Denormals (|x| < 1.2e-38 in float32) turn up transiently early in training and make CPU
    steps up to ten times slower (measured at width 1024: 230 instead of 28 ms per step, and
    one first epoch of 500 s instead of 8 s); flushing them left the losses and weights of a
    10-epoch run unchanged to the printed digits, and runs stay deterministic. Both settings are put back afterwards
    (torch has no getter for the denormal mode; its default, off, is restored).
    """
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(deterministic)
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
        torch.use_deterministic_algorithms(before)


@contextlib.contextmanager
def _epoch_scope(run: TrainRun, dropout_seed: int) -> Iterator[None]:
    """Training mode, and torch's global RNG (dropout's) seeded with ``dropout_seed`` inside a
    fork of the CPU's (and the CUDA device's) RNG state, so the caller's state is untouched."""
    dev = run.plan.device
    devices = [dev.index if dev.index is not None else 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), training_mode(run.plan.deterministic):
        torch.manual_seed(dropout_seed)
        run.model.train()
        yield


def train_step(run: TrainRun, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One optimiser step on normalised inputs ``x`` (B, 34) and standardised targets ``y``
    (B, 48) on the run's device: the learning rate of ``run.step``, forward under the run's
    autocast, the config's loss on float32 outputs, backward (scaled for fp16), Adam. Returns the
    detached loss."""
    cfg, opt = run.config, run.optimizer
    lr = cfg.lr_at(run.step)
    for group in opt.param_groups:
        group["lr"] = lr
    with run.plan.autocast():
        out = run.model(x)
    if cfg.loss == "mse":
        loss = F.mse_loss(out.float(), y)
    else:  # metres per joint: the standardisation undone
        diff = (out.float() - y) * run.norm["target_std"]
        loss = torch.linalg.vector_norm(diff.view(len(diff), -1, 3), dim=-1).mean()
    opt.zero_grad(set_to_none=True)
    if run.scaler is not None:
        run.scaler.scale(loss).backward()
        run.scaler.step(opt)
        run.scaler.update()
    else:
        loss.backward()
        opt.step()
    run.step += 1
    update_average(run)
    return loss.detach()


def _sum_dtype(dev: torch.device) -> torch.dtype:
    """The loss sum's dtype: float64, but float32 on MPS (which has no float64)."""
    return torch.float32 if dev.type == "mps" else torch.float64


def run_epoch(run: TrainRun, callbacks: Any = None) -> float:
    """Train one epoch (epoch ``run.epoch + 1``) of the in-memory training split in place;
    returns its mean training loss.

    A final batch of a single sample is skipped (BatchNorm needs two).
    """
    cfg = run.config
    epoch = run.epoch + 1
    s_shuffle, s_noise, s_dropout = _epoch_seeds(cfg.seed, epoch)
    dev = run.plan.device
    g_shuffle = torch.Generator().manual_seed(s_shuffle)
    g_noise = torch.Generator(device=dev).manual_seed(s_noise)
    mean, std = run.norm["input_mean"], run.norm["input_std"]
    n = len(run.uv_train)
    total = torch.zeros((), dtype=_sum_dtype(dev), device=dev)
    seen = 0
    with _epoch_scope(run, s_dropout):
        perm = torch.randperm(n, generator=g_shuffle).to(dev)
        for start in range(0, n, cfg.batch_size):
            idx = perm[start : start + cfg.batch_size]
            if len(idx) < 2:
                break
            uv = apply_noise(run.uv_train[idx], cfg.noise, g_noise)
            loss = train_step(run, normalise_inputs(uv, mean, std), run.y_train[idx])
            total += loss * len(idx)
            seen += len(idx)
            if callbacks is not None:
                callbacks.on_batch(len(idx), float(loss))
    run.epoch = epoch
    return float(total) / max(seen, 1)


def run_stream_epoch(run: TrainRun, chunks: Iterator[StreamChunk], callbacks: Any = None) -> float:
    """Train one epoch (epoch ``run.epoch + 1``) on the next chunks of ``chunks`` (the
    iterator of ``run.stream``'s loader, which runs across epochs); returns its mean loss.

    Raises:
        RuntimeError: a chunk of another epoch arrives (the iterator and the run disagree).
    """
    stream = run.stream
    if stream is None:
        raise ValueError("run_stream_epoch: the run has no stream (build it with prepare_stream_run)")
    epoch = run.epoch + 1
    dev = run.plan.device
    total = torch.zeros((), dtype=_sum_dtype(dev), device=dev)
    seen = steps = 0
    bs = stream.batch_size
    with _epoch_scope(run, _epoch_seeds(run.config.seed, epoch)[2]):
        while steps < stream.steps_per_epoch:
            chunk = next(chunks)
            if chunk.epoch != epoch:
                raise RuntimeError(
                    f"stream: expected a chunk of epoch {epoch}, got epoch {chunk.epoch} chunk {chunk.index}"
                )
            x = chunk.x.to(dev, non_blocking=True)
            y = chunk.y.to(dev, non_blocking=True)
            for start in range(0, len(x), bs):
                loss = train_step(run, x[start : start + bs], y[start : start + bs])
                total += loss * bs
                seen += bs
                steps += 1
                if callbacks is not None:
                    callbacks.on_batch(bs, float(loss))
    run.epoch = epoch
    return float(total) / max(seen, 1)


@torch.no_grad()
def predict_normalised(
    model: SimpleBaseline, x: torch.Tensor, norm: Mapping[str, torch.Tensor], batch_size: int = 65536
) -> np.ndarray:
    """Root-relative 3D (M, 17, 3) float64 metres (root row 0) from normalised inputs (M, 34)
    (model, ``x`` and ``norm`` on one device; always float32, no autocast)."""
    model.eval()
    out = np.zeros((len(x), 17, 3))
    for start in range(0, len(x), batch_size):
        y = model(x[start : start + batch_size]) * norm["target_std"] + norm["target_mean"]
        out[start : start + batch_size, 1:] = y.reshape(-1, 16, 3).cpu().double().numpy()  # MPS has no float64
    return out


def _val_mpjpe_mm(run: TrainRun) -> float | None:
    if len(run.x_val) == 0:
        return None
    pred = predict_normalised(run.serving_model, run.x_val, run.norm)
    return float(joint_errors(pred, run.p_val).mean() * 1000.0)


def _checkpoint_meta(run: TrainRun, data_prov: Mapping[str, Any], metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "train_config": run.config.model_dump(mode="json"),
        "data": {**data_prov, "split": dict(run.data_info), "split_seed": run.config.seed},
        "epochs_done": run.epoch,
        "steps_done": run.step,
        "history": run.history,
        "metrics": dict(metrics),
        "device": run.plan.to_dict(),
    }


def _train_state(run: TrainRun) -> dict[str, Any]:
    state = {"optimizer": run.optimizer.state_dict(), "epoch": run.epoch, "step": run.step}
    if run.ema is not None:  # the checkpoint holds the average; training goes on from these
        state["trained_weights"] = run.model.state_dict()
    if run.scaler is not None:
        state["grad_scaler"] = run.scaler.state_dict()
    return state


def _loop(run: TrainRun, out: Path, data_prov: Mapping[str, Any], callbacks: Any) -> TrainSummary:
    cfg = run.config
    cb = callbacks or TrainCallbacks()
    first = run.epoch + 1
    cb.on_start(first, cfg.epochs, run.data_info["train"])
    start_all = time.perf_counter()
    trained = 0
    metrics: dict[str, Any] = dict(run.history[-1]) if run.history else {}
    chunks: Iterator[StreamChunk] | None = None
    if run.stream is not None:  # one loader for the whole run: workers keep making chunks across epochs
        stream = run.stream
        stream.first_epoch, stream.epochs = first, cfg.epochs
        chunks = iter(stream.loader(pin_memory=run.plan.device.type == "cuda"))
    for _ in range(first, cfg.epochs + 1):
        t0 = time.perf_counter()
        loss = run_epoch(run, cb) if chunks is None else run_stream_epoch(run, chunks, cb)
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
            pred = predict_normalised(run.serving_model, run.x_val, run.norm)
            full = lift_metrics(pred, run.p_val, H36M17)
            metrics["validation"] = {k: v for k, v in full.items() if k != "per_joint_mpjpe_mm"}
        save_checkpoint(out, run.serving_model, run.stats, _checkpoint_meta(run, data_prov, metrics), _train_state(run))
        cb.on_epoch(record)
    seconds = time.perf_counter() - start_all
    return TrainSummary(
        out=str(out),
        epochs_done=run.epoch,
        epochs_run=run.epoch - first + 1,
        steps_done=run.step,
        samples_train=run.data_info["train"],
        samples_val=run.data_info["val"],
        samples_dropped=run.data_info["dropped"],
        train_loss=metrics.get("train_loss"),
        val_mpjpe_mm=metrics.get("val_mpjpe_mm"),
        validation=metrics.get("validation"),
        seconds=round(seconds, 3),
        samples_per_s=round(trained / seconds, 1) if trained and seconds > 0 else None,
        config=cfg,
        device=run.plan,
    )


@dataclass(frozen=True)
class TrainSummary:
    """What a training run did (returned by :func:`train_lifter`, :func:`resume_lifter`,
    :func:`train_stream` and :func:`resume_stream`); :meth:`to_dict` is the document
    ``posesynth train --json`` prints.

    Losses are in normalised target units; MPJPE in millimetres; ``seconds`` is the wall
    time of this run's epochs (a resumed run counts only its own).
    """

    out: str  #: the checkpoint folder
    epochs_done: int  #: epochs the checkpoint holds in all
    epochs_run: int  #: epochs run by this call
    steps_done: int  #: optimiser steps in all
    samples_train: int  #: training samples per epoch
    samples_val: int  #: held-out samples
    samples_dropped: int  #: samples left out (NaN/inf or a zero-size 2D box)
    train_loss: float | None  #: the last epoch's mean training loss
    val_mpjpe_mm: float | None  #: the last epoch's validation MPJPE (None without validation)
    #: the final epoch's validation metrics (:func:`~posesynth.lift.metrics.lift_metrics`
    #: without the per-joint table); None when no epoch ran to the end or without validation
    validation: Mapping[str, Any] | None
    seconds: float
    samples_per_s: float | None
    config: TrainConfig  #: the resolved configuration
    device: DevicePlan  #: where it ran

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (keys in this order; config and device as in the checkpoint's meta)."""
        return {
            "out": self.out,
            "epochs_done": self.epochs_done,
            "epochs_run": self.epochs_run,
            "steps_done": self.steps_done,
            "samples_train": self.samples_train,
            "samples_val": self.samples_val,
            "samples_dropped": self.samples_dropped,
            "train_loss": self.train_loss,
            "val_mpjpe_mm": self.val_mpjpe_mm,
            "validation": None if self.validation is None else dict(self.validation),
            "seconds": self.seconds,
            "samples_per_s": self.samples_per_s,
            "config": self.config.model_dump(mode="json"),
            "device": self.device.to_dict(),
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
            f"{name}: none of its {data.total} samples is usable (NaN/inf or a zero-size 2D box); nothing to train on"
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
) -> TrainSummary:
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
        A :class:`TrainSummary`: epochs, samples (train/val/dropped), final loss and validation
        MPJPE (mm), full validation metrics, seconds, samples/s, the resolved config and the
        device; ``summary.to_dict()`` is the document ``posesynth train --json`` prints.

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
) -> TrainSummary:
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
    config = _resume_config(out, meta, changes)
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
    _restore(run, model, state, meta, done)
    prov = meta.get("data") or provenance(dataset, data_path)
    prov = {k: v for k, v in prov.items() if k not in ("split", "split_seed")}
    return _loop(run, out, prov, callbacks)


def _restore(
    run: TrainRun, model: SimpleBaseline, state: Mapping[str, Any], meta: Mapping[str, Any], done: int
) -> None:
    """Weights, optimiser (and scaler) state, counters and history of a checkpoint into ``run``
    (the stored tensors are on the CPU; they move to the run's device here)."""
    if run.ema is not None:
        if "trained_weights" not in state:
            raise ValueError("resume: the training state holds no trained weights next to the averaged ones")
        run.ema.load_state_dict(model.state_dict())
        run.model.load_state_dict(state["trained_weights"])
    else:
        run.model.load_state_dict(model.state_dict())
    run.optimizer.load_state_dict(state["optimizer"])
    if run.scaler is not None and "grad_scaler" in state:
        run.scaler.load_state_dict(state["grad_scaler"])
    run.epoch, run.step = done, int(state.get("step", 0))
    run.history = list(meta.get("history", []))


def _resume_config(out: Path, meta: Mapping[str, Any], changes: Mapping[str, Any] | None) -> TrainConfig:
    """The checkpoint's :class:`TrainConfig` with the allowed ``changes`` (``None`` ignored)."""
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
    return stored.model_copy(update={k: changes[k] for k in RESUMABLE_CHANGES if k in changes})


def train_stream(
    stream: StreamConfig | Mapping[str, Any] | Path | str,
    out: Path | str,
    config: TrainConfig | None = None,
    *,
    stream_path: Path | str | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    callbacks: Any = None,
) -> TrainSummary:
    """Train a new lifter on fresh synthetic samples every step and write checkpoint ``out``.

    Args:
        stream: the data (:class:`~posesynth.lift.stream.StreamConfig`, a mapping of its
            fields, or its YAML path): procedural or augmented, samples per epoch, workers.
        out: the checkpoint folder to create (rewritten after every epoch).
        config: hyper-parameters, noise, seed, device (default :class:`TrainConfig`); the
            stream's data seed is ``stream.seed``, or ``config.seed`` when that is None.
        stream_path: where the stream's YAML was read from, recorded as provenance.
        workers: ``DataLoader`` workers (default: the stream's ``workers``); any number gives
            the same batches, hence the same weights.
        overwrite: replace an existing checkpoint at ``out``.
        callbacks: progress hooks.

    Returns:
        The :class:`TrainSummary` of :func:`train_lifter` (``samples_train`` is the samples
        per epoch).

    Raises:
        ValueError: a bad stream configuration or augment source, ``out`` existing without
            ``overwrite``, a device that is not there.
    """
    config = config or TrainConfig()
    out = check_out(out, overwrite)
    device_plan(config.device, config.precision)  # a missing device fails before any data is drawn
    if isinstance(stream, (str, Path)):
        stream_path = stream_path or stream
    stream_cfg = as_stream_config(stream)
    if workers is not None:
        stream_cfg = stream_cfg.model_copy(update={"workers": workers})
    seed = config.seed if stream_cfg.seed is None else stream_cfg.seed
    data = SyntheticPoses(stream_cfg, batch_size=config.batch_size, noise=config.noise, seed=seed)
    run = prepare_stream_run(data, config)
    return _loop(run, out, _stream_provenance(data, stream_path), callbacks)


def _stream_provenance(data: SyntheticPoses, path: Path | str | None) -> dict[str, Any]:
    return {"path": None if path is None else str(Path(path).resolve()), "format": "stream", "stream": data.describe()}


def resume_stream(
    out: Path | str, changes: Mapping[str, Any] | None = None, *, workers: int | None = None, callbacks: Any = None
) -> TrainSummary:
    """Continue the streamed run of checkpoint ``out`` up to ``changes["epochs"]``.

    The stream's configuration, its seed and the normalisation statistics come from the
    checkpoint, so the resumed epochs see exactly the chunks an uninterrupted run would
    (and the same weights result, on the same device type). ``changes`` as in
    :func:`resume_lifter`; ``workers`` may differ.

    Raises:
        ValueError: ``out`` is no resumable streamed checkpoint, a setting differs, or the
            run is already complete.
    """
    out = Path(out)
    model, stats, meta = load_checkpoint(out)
    state = load_train_state(out)
    prov = meta.get("data") or {}
    described = prov.get("stream")
    if not isinstance(described, Mapping) or "config" not in described:
        raise ValueError(
            f"{out}: meta.json data.stream is missing; the checkpoint was not trained on a stream (resume it with its DATA)"
        )
    config = _resume_config(out, meta, changes)
    done = int(state.get("epoch", meta.get("epochs_done", 0)))
    if done >= config.epochs:
        raise ValueError(f"resume: {out} has done {done} of {config.epochs} epochs; pass a larger --epochs")
    stream_cfg = StreamConfig(**described["config"])
    if workers is not None:
        stream_cfg = stream_cfg.model_copy(update={"workers": workers})
    data = SyntheticPoses(
        stream_cfg, batch_size=config.batch_size, noise=config.noise, stats=stats, seed=int(described["seed"])
    )
    run = prepare_stream_run(data, config)
    _restore(run, model, state, meta, done)
    return _loop(run, out, dict(prov), callbacks)
