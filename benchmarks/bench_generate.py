"""Throughput of procedural generation: the in-memory pipeline and the whole ``generate`` command.

Run:  .venv/bin/python benchmarks/bench_generate.py [--samples N] [--loop L]
                                                    [--command-samples M] [--workers 1 2]

Everything below is measured in this one run, and every ratio is between figures of it.

Pipeline (one core pinned; BLAS/OpenMP threads = 1): procedural poses -> forward kinematics
-> collision redraws -> one random camera each -> world -> camera -> pixels -> visibility, on
chunks of ``--chunk`` samples,

* with the compiled kernels (Numba, the ``fast`` extra) and with the NumPy fallback
  (``POSESYNTH_KERNELS=numpy``);
* the seed-style per-sample loop: per sample, its joints' rotation matrices from Euler
  angles (one SciPy call), a parent-to-child forward kinematics loop, a look-at camera and
  ``cv2.projectPoints`` (the way the seed's scripts work, one frame at a time);
* memcpy of the same bytes (the float64 3D, camera 3D and 2D each sample produces): the limit.

Whole command: ``posesynth generate -n M --no-preview`` as a child process, on each
``--workers`` count, wall clock including start-up, against the seed-style loop writing its
arrays to disk (``np.save``) and memcpy of the bytes the store holds per sample; then the
command's stages timed in this process (``--no-stages`` skips them): making the shards,
writing their files, waiting for the background fsyncs, the commit.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from posesynth.body.angles import angle_names  # noqa: E402
from posesynth.body.skeleton import get_skeleton  # noqa: E402
from posesynth.geometry.placement import sample_cameras  # noqa: E402
from posesynth.poses.procedural import sample_poses  # noqa: E402
from posesynth.util.jit import ENV_VAR, numba_installed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def pipeline(rng: np.random.Generator, n: int, skeleton, model: str) -> np.ndarray:
    """Procedural poses -> one camera each -> camera 3D, pixels, visibility; returns uv (n, J, 2)."""
    poses = sample_poses(rng, n, skeleton)
    cameras = sample_cameras(rng, poses.positions, model)
    return cameras.observe(poses.positions)[1]


def seed_style_sample(rng: np.random.Generator, skeleton, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One sample the seed's way, frame by frame: its joints' Euler angles -> matrices (one
    SciPy call), a parent-to-child forward kinematics loop, a look-at camera and
    cv2.projectPoints. Returns (3D (J, 3), 2D (J, 2))."""
    from scipy.spatial.transform import Rotation

    J = skeleton.num_joints
    parents = skeleton.parents
    local = Rotation.from_euler("xyz", rng.uniform(-0.4, 0.4, (J, 3))).as_matrix()
    glob = np.empty((J, 3, 3))
    pos = np.zeros((J, 3))
    glob[0] = local[0]
    for j in range(1, J):
        glob[j] = glob[parents[j]] @ local[j]
        pos[j] = pos[parents[j]] + glob[parents[j]] @ rest[j]
    pos[:, 2] -= pos[:, 2].min()
    azimuth, distance = rng.uniform(-np.pi, np.pi), rng.uniform(3.0, 6.0)
    centre = pos.mean(axis=0) + distance * np.array([np.cos(azimuth), np.sin(azimuth), 0.2])
    forward = pos.mean(axis=0) - centre
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    R = np.stack([right, np.cross(forward, right), forward])
    f = rng.uniform(600.0, 1200.0)
    K = np.array([[f, 0.0, 500.0], [0.0, f, 500.0], [0.0, 0.0, 1.0]])
    uv, _ = cv2.projectPoints(pos, cv2.Rodrigues(R)[0], -R @ centre, K, np.zeros(5))
    return pos, uv[:, 0, :]


def seed_style_loop(n: int, skeleton, out: Path | None = None) -> float:
    """Seconds for ``n`` seed-style samples (and, with ``out``, saving them with np.save)."""
    from posesynth.body.kinematics import default_rest_offsets

    rng = np.random.default_rng(1)
    rest = default_rest_offsets(skeleton)
    start = time.perf_counter()
    p3, p2 = np.empty((n, skeleton.num_joints, 3)), np.empty((n, skeleton.num_joints, 2))
    for i in range(n):
        p3[i], p2[i] = seed_style_sample(rng, skeleton, rest)
    if out is not None:
        np.save(out / "joints_3d.npy", p3)
        np.save(out / "joints_2d.npy", p2)
    return time.perf_counter() - start


def memcpy_rate(bytes_per_sample: int, samples: int = 200_000) -> float:
    """Samples/s of copying ``bytes_per_sample`` per sample (best of 5)."""
    src = np.ones(bytes_per_sample * samples // 8)
    dst = np.empty_like(src)
    best = np.inf
    for _ in range(5):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return samples / best


def pipeline_rate(samples: int, chunk: int, skeleton, model: str, kernels: str) -> float:
    os.environ[ENV_VAR] = kernels
    rng = np.random.default_rng(0)
    pipeline(rng, 100, skeleton, model)  # compile / load the kernels, warm caches
    start = time.perf_counter()
    done = 0
    while done < samples:
        n = min(chunk, samples - done)
        pipeline(rng, n, skeleton, model)
        done += n
    return done / (time.perf_counter() - start)


def command_rate(samples: int, workers: int, base: Path) -> tuple[float, float]:
    """(samples/s of the wall clock, of the job time the command reports) of ``posesynth generate``."""
    import json

    out = base / f"g-{workers}"
    cmd = [sys.executable, "-m", "posesynth.cli.main", "generate", "-n", str(samples), "--workers", str(workers),
           "--no-preview", "--json", "--out", str(out)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    summary = json.loads(done.stdout)
    shutil.rmtree(out)
    return samples / wall, samples / summary["seconds"]


def stage_breakdown(samples: int, out: Path) -> dict[str, float]:
    """Seconds per stage of ``posesynth generate -n SAMPLES --no-preview`` (one worker, in
    this process, through the functions the command calls): making the shards, writing their
    files (on the critical path), waiting for the background fsyncs (their back-pressure while
    shards are made, and before the commit), and the commit."""
    from posesynth.data.store import writer
    from posesynth.jobs import generate, shards

    os.environ.pop(ENV_VAR, None)
    timers: dict[str, float] = {}
    undo: list[tuple[object, str, object]] = []

    def wrap(owner: object, attr: str, label: str) -> None:
        original = getattr(owner, attr, None)
        if original is None:  # not in this version of the code
            return

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timers[label] = timers.get(label, 0.0) + time.perf_counter() - start

        undo.append((owner, attr, original))
        setattr(owner, attr, timed)

    wrap(generate, "generate_shard", "make the shards (poses, cameras, 2D)")
    wrap(writer, "_save_shard", "write the shard files (critical path: in-line fsyncs, or back-pressure below)")
    if hasattr(writer, "BackgroundSync"):
        wrap(writer.BackgroundSync, "submit", "wait for the background fsyncs: back-pressure")
        wrap(writer.BackgroundSync, "wait", "wait for the background fsyncs: before the commit")
    wrap(shards._PartialJob, "commit", "commit (manifest, rename)")
    try:
        start = time.perf_counter()
        generate.generate(generate.load_config(samples=samples), out, preview=False)
        timers["all (in process)"] = time.perf_counter() - start
    finally:
        for owner, attr, original in reversed(undo):
            setattr(owner, attr, original)
    return timers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400_000)
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--loop", type=int, default=3_000, help="samples for the seed-style loop")
    parser.add_argument("--skeleton", default="h36m17")
    parser.add_argument("--camera-model", default="pinhole")
    parser.add_argument("--command-samples", type=int, default=1_000_000, help="0: skip the whole command")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--dir", type=Path, default=None, help="where the command writes (default: beside the repo)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--stages", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the command's stages in this process")  # fmt: skip
    args = parser.parse_args()
    results: dict = {"pipeline": {}, "command": {}}
    skeleton = get_skeleton(args.skeleton)
    J = skeleton.num_joints
    main_affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if main_affinity:
        os.sched_setaffinity(0, {min(main_affinity)})

    print(
        f"procedural pipeline: skeleton {args.skeleton}, camera {args.camera_model}, one core, chunks of {args.chunk}"
    )
    rates = {}
    if numba_installed():
        rates["numba"] = pipeline_rate(args.samples, args.chunk, skeleton, args.camera_model, "numba")
    rates["numpy"] = pipeline_rate(max(args.samples // 4, args.chunk), args.chunk, skeleton, args.camera_model, "numpy")
    loop_rate = args.loop / seed_style_loop(args.loop, skeleton)
    copy_rate = memcpy_rate(J * (3 + 3 + 2) * 8)
    best = rates.get("numba", rates["numpy"])
    for name, rate in rates.items():
        print(f"  {'compiled kernels' if name == 'numba' else 'NumPy fallback  '}: {rate:>12,.0f} samples/s")
    print(f"  seed-style loop : {loop_rate:>12,.0f} samples/s")
    print(f"  memcpy, same bytes ({J * 8 * 8} B/sample): {copy_rate:,.0f} samples/s")
    print(f"  ratios: kernels / seed loop {best / loop_rate:,.0f}x; kernels / NumPy {best / rates['numpy']:.1f}x; "
          f"kernels / memcpy {best / copy_rate:.3f} (goal: >= 1,000,000 samples/s)")  # fmt: skip
    results["pipeline"] = {"rates": rates, "loop": loop_rate, "memcpy": copy_rate, "samples": args.samples}

    if args.command_samples <= 0:
        _dump(args.json, results)
        return
    if main_affinity:
        os.sched_setaffinity(0, main_affinity)
    base = Path(tempfile.mkdtemp(prefix="posesynth-bench-generate-", dir=args.dir or ROOT.parent))
    try:
        print(f"\nwhole command: posesynth generate -n {args.command_samples:,} --no-preview "
              f"({len(main_affinity or [0])} cores available)")  # fmt: skip
        loop_disk = args.loop / seed_style_loop(args.loop, skeleton, base)
        # the store's bytes per sample: float32 3D world + camera + 2D + angles, uint8 visibility
        # and activity, float32 height, float64 camera (4 + D + 9 + 3) and int32 image size
        store_bytes = J * (3 + 3 + 2) * 4 + J + 1 + 4 + len(angle_names(skeleton)) * 4 + (4 + 9 + 3) * 8 + 8
        copy_cmd = memcpy_rate(store_bytes)
        one = None
        for workers in args.workers:
            wall, job = command_rate(args.command_samples, workers, base)
            one = one or wall
            print(f"  {workers} worker{'s' if workers > 1 else ' '}: {wall:>10,.0f} samples/s wall clock "
                  f"({job:,.0f}/s job time); {wall / loop_disk:,.1f}x the seed-style loop to disk; "
                  f"{wall / copy_cmd:.4f} of memcpy; {wall / one:.2f}x one worker")  # fmt: skip
            results["command"][str(workers)] = {"rate": wall, "job_rate": job}
        print(f"  seed-style loop to disk: {loop_disk:,.0f} samples/s; memcpy of the store's "
              f"{store_bytes} B/sample: {copy_cmd:,.0f} samples/s (goal: >= 50x the loop)")  # fmt: skip
        results["command"].update(loop=loop_disk, memcpy=copy_cmd, samples=args.command_samples)
        if args.stages:
            seconds = stage_breakdown(args.command_samples, base / "stages")
            print(f"\n  stages of the command in this process ({args.command_samples:,} samples, one worker), seconds:")
            for name, value in seconds.items():
                print(f"    {name:<72} {value:8.2f}")
            results["stages"] = seconds
    finally:
        shutil.rmtree(base, ignore_errors=True)
    _dump(args.json, results)


def _dump(path: Path | None, results: dict) -> None:
    if path is not None:
        import json

        path.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
