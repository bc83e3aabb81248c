"""Throughput of lifter training: bare steps, a fixed array set, and fresh streamed data.

Run:  .venv/bin/python benchmarks/bench_train.py [--steps S] [--width W] [--batch-size B]
          [--rounds R] [--workers 0,1,2] [--chunk-samples C] [--threads T] [--device D]

Every mode below is measured in this one run, with the same model, optimiser, thread count
and device, in R alternating rounds of S optimiser steps each (the best round of each mode
counts, so drifting clocks or other load hit all alike):

* **bare**: forward / backward / Adam step on one fixed, already normalised batch on the
  device, nothing else — the most the model can do (fp32, and bf16 autocast beside it);
* **fixed arrays**: :func:`posesynth.lift.train.run_epoch` on an in-memory array set of
  S · B samples (indexing, 2D noise, normalisation, the step);
* **stream, W workers**: :func:`posesynth.lift.train.train_step` on the chunks of a
  :class:`posesynth.lift.stream.SyntheticPoses` loader with W worker processes (0: made in
  the training process), procedural poses with fresh cameras, the same 2D noise. The loader
  is started, and its first chunk taken, before the clock starts (start-up is a one-time cost
  of a run); the time the loop spends waiting in ``next(loader)`` is reported too. On the
  CPU each worker count is also measured with the training process's torch threads cut to
  ``cores - workers`` (so workers and the model's threads do not share cores).

Prints samples/s of each mode and its ratio to bare fp32 (the goal: the streamed loop at
>= 90 % of bare).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from posesynth.jobs.generate import generate_dataset, load_config
from posesynth.lift.data import lift_arrays
from posesynth.lift.noise import NoiseConfig
from posesynth.lift.normalize import normalise_inputs
from posesynth.lift.stream import StreamChunk, StreamConfig, SyntheticPoses
from posesynth.lift.train import TrainConfig, TrainRun, prepare_run, run_epoch, train_step, training_mode


def _bare(run: TrainRun, x: torch.Tensor, y: torch.Tensor, steps: int, bf16: bool) -> float:
    """Seconds for ``steps`` bare steps on one batch (fp32, or under CPU/CUDA bf16 autocast)."""
    model, opt = run.model, run.optimizer
    dev = run.plan.device
    model.train()
    with training_mode(run.plan.deterministic):
        _sync(dev)
        start = time.perf_counter()
        for _ in range(steps):
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                out = model(x)
            loss = F.mse_loss(out.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        _sync(dev)
        return time.perf_counter() - start


def _streamed(run: TrainRun, chunks: Iterator[StreamChunk], steps: int, batch: int) -> tuple[float, float]:
    """(seconds for ``steps`` steps on streamed chunks, seconds of it spent waiting for data)."""
    dev = run.plan.device
    run.model.train()
    waited = 0.0
    done = 0
    with training_mode(run.plan.deterministic):
        _sync(dev)
        start = time.perf_counter()
        while done < steps:
            t = time.perf_counter()
            chunk = next(chunks)
            waited += time.perf_counter() - t
            x, y = chunk.x.to(dev, non_blocking=True), chunk.y.to(dev, non_blocking=True)
            for s in range(0, len(x), batch):
                if done == steps:
                    break
                train_step(run, x[s : s + batch], y[s : s + batch])
                done += 1
        _sync(dev)
        return time.perf_counter() - start, waited


def _with_threads(threads: int, fn: Callable[[], tuple[float, float]]) -> tuple[float, float]:
    """``fn()`` with torch using ``threads`` threads in this process, then the count restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn()
    finally:
        torch.set_num_threads(before)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="optimiser steps per mode and round")
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed rounds; the best of each counts")
    parser.add_argument("--workers", default="0,1,2", help="worker counts of the streamed modes")
    parser.add_argument("--chunk-samples", type=int, default=4096, help="samples per streamed chunk")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads of the training process (default: torch's)"
    )
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda or mps")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    steps, bs = args.steps, args.batch_size
    workers = [int(w) for w in args.workers.split(",") if w.strip()]

    noise = NoiseConfig(sigma_px=2.0, outlier_prob=0.02, drop_prob=0.02)
    config = TrainConfig(
        width=args.width, batch_size=bs, val_fraction=0.0, noise=noise, device=args.device, precision="fp32"
    )
    data = lift_arrays(generate_dataset(load_config(samples=steps * bs, seed=0, shard_size=steps * bs)))
    run = prepare_run(data, config)
    dev = run.plan.device
    x0 = normalise_inputs(run.uv_train[:bs], run.norm["input_mean"], run.norm["input_std"])
    y0 = run.y_train[:bs]

    stream_cfg = StreamConfig(
        samples_per_epoch=10**9, chunk_samples=args.chunk_samples, stats_samples=20_000, val_samples=0
    )
    stream = SyntheticPoses(stream_cfg, batch_size=bs, noise=noise, seed=0)
    loaders: dict[int, Iterator[StreamChunk]] = {}
    for w in workers:  # started now; each keeps its prefetched chunks ready (idle workers block)
        loaders[w] = iter(stream.loader(w, pin_memory=dev.type == "cuda"))
        next(loaders[w])

    bf16_ok = dev.type == "cpu" or (dev.type == "cuda" and torch.cuda.is_bf16_supported())
    modes: dict[str, Callable[[], tuple[float, float]]] = {
        "bare fp32": lambda: (_bare(run, x0, y0, steps, False), 0.0),
        "fixed arrays (run_epoch)": lambda: (_timed_epoch(run), 0.0),
    }
    if bf16_ok:
        modes["bare bf16 autocast"] = lambda: (_bare(run, x0, y0, steps, True), 0.0)
    threads, cores = torch.get_num_threads(), os.cpu_count() or 1
    for w in workers:
        name = f"stream, {w} worker{'s' if w != 1 else ''}"
        modes[name] = lambda w=w: _streamed(run, loaders[w], steps, bs)
        fewer = max(1, cores - w)
        if dev.type == "cpu" and w > 0 and fewer < threads:  # leave the workers their cores
            modes[f"{name}, {fewer} thread{'s' if fewer != 1 else ''}"] = lambda w=w, t=fewer: _with_threads(
                t, lambda: _streamed(run, loaders[w], steps, bs)
            )
    _bare(run, x0, y0, 20, False)  # warm-up: allocator, kernels (bf16's too), lazy imports
    if bf16_ok:
        _bare(run, x0, y0, 20, True)
    best: dict[str, tuple[float, float]] = {}
    for _ in range(args.rounds):
        for name, fn in modes.items():
            seconds, waited = fn()
            if name not in best or seconds < best[name][0]:
                best[name] = (seconds, waited)

    print(
        f"SimpleBaseline width {args.width}, batch {bs}, {steps} steps per mode and round, device {run.plan.name}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, stream chunks of {stream.chunk_batches * bs} samples"
    )
    print(f"best of {args.rounds} alternating rounds:")
    bare = steps * bs / best["bare fp32"][0]
    for name, (seconds, waited) in best.items():
        rate = steps * bs / seconds
        wait = f"   waiting for data {100 * waited / seconds:4.1f} % of the time" if name.startswith("stream") else ""
        print(f"  {name:<26} {rate:>9,.0f} samples/s   {100 * rate / bare:5.1f} % of bare fp32{wait}")


def _timed_epoch(run: TrainRun) -> float:
    _sync(run.plan.device)
    start = time.perf_counter()
    run_epoch(run)
    _sync(run.plan.device)
    return time.perf_counter() - start


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
