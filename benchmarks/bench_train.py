"""Throughput of lifter training: the real loop against a bare step on one fixed batch.

Run:  .venv/bin/python benchmarks/bench_train.py [--samples N] [--width W] [--batch-size B]
                                                  [--rounds R] [--threads T]

Both are measured in this run, with the same model, optimiser and thread count, in R
alternating rounds of one epoch's worth of steps each (the best round of each counts):

* **real loop**: :func:`posesynth.lift.train.run_epoch` — per step it indexes a batch out of
  the in-memory training tensors, applies the 2D noise models (Gaussian, outliers, dropped
  joints), normalises (root-centre, bounding-box scale, standardise), sets the learning rate,
  runs forward / backward / Adam step and updates the loss sum;
* **bare step**: forward / backward / Adam step on one fixed, already normalised
  batch, nothing else (under the same :func:`~posesynth.lift.train.training_mode`).

Prints samples/s of both and their ratio (the goal is >= 90 %: the data path must not stall
the model).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from posesynth.data.formats.registry import read_any
from posesynth.jobs.generate import generate, load_config
from posesynth.lift.data import lift_arrays
from posesynth.lift.noise import NoiseConfig
from posesynth.lift.normalize import normalise_inputs
from posesynth.lift.train import TrainConfig, prepare_run, run_epoch, training_mode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20_000, help="generated samples (10 %% held out)")
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed rounds; the best of each counts")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "data"
        generate(load_config(samples=args.samples, seed=0), out, preview=False)
        data = lift_arrays(read_any(out))
    noise = NoiseConfig(sigma_px=2.0, outlier_prob=0.02, drop_prob=0.02)
    config = TrainConfig(width=args.width, batch_size=args.batch_size, epochs=args.rounds, noise=noise)
    run = prepare_run(data, config)
    n_train = len(run.uv_train)
    steps_per_epoch = n_train // args.batch_size

    # warm-up: one short pass of each (allocator, kernels, lazy imports)
    x0 = normalise_inputs(run.uv_train[: args.batch_size], run.norm["input_mean"], run.norm["input_std"])
    y0 = run.y_train[: args.batch_size]
    model, opt = run.model, run.optimizer

    def bare_step() -> None:
        loss = F.mse_loss(model(x0), y0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    model.train()
    with training_mode():
        for _ in range(20):
            bare_step()

    real_rate = bare_rate = 0.0
    for _ in range(args.rounds):  # alternate, so drifting clocks or load hit both alike
        start = time.perf_counter()
        run_epoch(run)  # one epoch: every training sample once
        real_rate = max(real_rate, n_train / (time.perf_counter() - start))
        model.train()
        with training_mode():  # the same settings as the real loop (deterministic, no denormals)
            start = time.perf_counter()
            for _ in range(steps_per_epoch):
                bare_step()
        bare_rate = max(bare_rate, steps_per_epoch * args.batch_size / (time.perf_counter() - start))

    print(
        f"SimpleBaseline width {args.width}, batch {args.batch_size}, {n_train} training samples, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"best of {args.rounds} alternating rounds of {steps_per_epoch} steps each:")
    print(f"real loop (index + noise + normalise + step): {real_rate:,.0f} samples/s")
    print(f"bare forward/backward/step on one batch:      {bare_rate:,.0f} samples/s")
    print(f"real / bare: {100 * real_rate / bare_rate:.1f} %")


if __name__ == "__main__":
    main()
