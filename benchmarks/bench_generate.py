"""Throughput of the procedural pipeline: poses + forward kinematics + cameras + projection.

Run:  .venv/bin/python benchmarks/bench_generate.py [--samples N] [--chunk C] [--loop L]

Pinned to one core (BLAS/OpenMP threads = 1). Prints samples/s of the vectorised pipeline
(chunks of C samples) and of a plain per-sample Python loop over the same functions
(batch of one), both measured in this run, and their ratio.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from posesynth.geometry.placement import sample_cameras  # noqa: E402
from posesynth.poses.procedural import sample_poses  # noqa: E402
from posesynth.body.skeleton import get_skeleton  # noqa: E402


def pipeline(rng: np.random.Generator, n: int, skeleton, model: str) -> np.ndarray:
    """Procedural poses → FK → one camera each → pixels; returns uv (n, J, 2)."""
    poses = sample_poses(rng, n, skeleton)
    cameras = sample_cameras(rng, poses.positions, model)
    return cameras.project_world(poses.positions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400_000)
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--loop", type=int, default=300, help="samples for the per-sample loop")
    parser.add_argument("--skeleton", default="h36m17")
    parser.add_argument("--camera-model", default="pinhole")
    args = parser.parse_args()
    if if_os := hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    skeleton = get_skeleton(args.skeleton)
    rng = np.random.default_rng(0)
    pipeline(rng, 100, skeleton, args.camera_model)  # warm caches and imports

    start = time.perf_counter()
    done = 0
    while done < args.samples:
        n = min(args.chunk, args.samples - done)
        pipeline(rng, n, skeleton, args.camera_model)
        done += n
    vec_s = time.perf_counter() - start
    vec_rate = done / vec_s

    start = time.perf_counter()
    for _ in range(args.loop):
        pipeline(rng, 1, skeleton, args.camera_model)
    loop_s = time.perf_counter() - start
    loop_rate = args.loop / loop_s

    print(f"skeleton {args.skeleton}, camera {args.camera_model}, one core pinned: {if_os}")
    print(f"vectorised (chunks of {args.chunk}): {done} samples in {vec_s:.2f} s = {vec_rate:,.0f} samples/s")
    print(f"per-sample loop:                 {args.loop} samples in {loop_s:.2f} s = {loop_rate:,.0f} samples/s")
    print(f"ratio vectorised / loop: {vec_rate / loop_rate:,.0f}x")


if __name__ == "__main__":
    main()
