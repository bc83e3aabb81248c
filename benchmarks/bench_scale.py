"""Scale of ``posesynth generate`` and ``posesynth augment``: samples/s on 1 and 2 workers,
peak memory at 1 M and 10 M samples.

Run:  .venv/bin/python benchmarks/bench_scale.py [--job generate|augment] [--rate-samples N]
                                                 [--workers 1 2] [--rss-samples 1000000 10000000]
                                                 [--rss-workers W] [--dir DIR]

Every figure comes from the real command, ``python -m posesynth.cli.main generate ...
--no-preview --json`` (or ``augment SOURCE --motions FILE ... --no-figure --json``), run as a
child process, writing to a real store under ``--dir`` (default: a temporary folder beside
the repository; 10 M samples take about 9 GB of disk, removed afterwards).

``--job augment`` first generates a source of ``--source-frames`` poses (default 250,000)
and reposes it with the ``full-rom`` motions, their ``variants`` set so that the output has
the asked number of samples (before the ROM and collision rejections, about a tenth); the
rates count written samples.

- samples/s: ``--rate-samples`` samples with each ``--workers`` count, from the job time the
  command reports (worker start-up excluded) and from the wall clock (included); goal: 2
  workers >= 1.7x one worker on 2 cores.
- peak RSS: for each ``--rss-samples`` size, the peak resident memory of the largest process
  of the job (from ``wait4``: the command, or its largest worker) and, on Linux, the peak of
  the sum over the whole process tree (sampled every 0.1 s); goal: < 1 GB and flat in N.

BLAS/OpenMP threads are pinned to 1 per process, so that N workers use N cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _tree_rss_bytes(pid: int) -> int:
    """Sum of VmRSS over ``pid`` and its descendants (Linux /proc; 0 elsewhere)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry.name}/statm") as fh:
                resident_pages = int(fh.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        child = int(entry.name)
        children.setdefault(int(fields[1]), []).append(child)
        rss[child] = resident_pages * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


def generate_cmd(out: Path, samples: int, workers: int, shard_size: int | None) -> list[str]:
    cmd = [sys.executable, "-m", "posesynth.cli.main", "generate", "--out", str(out),
           "--samples", str(samples), "--workers", str(workers), "--no-preview", "--json"]  # fmt: skip
    return cmd + (["--shard-size", str(shard_size)] if shard_size is not None else [])


def augment_cmd(source: Path, frames: int, out: Path, samples: int, workers: int, shard_size: int | None) -> list[str]:
    """``posesynth augment`` of ``source`` (``frames`` poses) with ``full-rom`` motions of
    ``samples / frames`` variants, written beside ``out`` as a motions file."""
    import yaml

    from posesynth.poses.motion_spec import PRESETS

    motions = out.with_name(out.name + "-motions.yaml")
    motions.write_text(yaml.safe_dump({**PRESETS["full-rom"], "variants": max(1, samples // frames)}))
    cmd = [sys.executable, "-m", "posesynth.cli.main", "augment", str(source), "--motions", str(motions),
           "--out", str(out), "--workers", str(workers), "--no-figure", "--json"]  # fmt: skip
    return cmd + (["--shard-size", str(shard_size)] if shard_size is not None else [])


def run_job(cmd: list[str]) -> dict:
    """Run the command; return its summary plus wall seconds and peak memory figures."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV, cwd=ROOT)
    peak_tree = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        while not stop.wait(0.1):
            peak_tree = max(peak_tree, _tree_rss_bytes(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    if sys.platform.startswith("linux"):
        sampler.start()
    stdout = proc.stdout.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"the job failed with exit code {proc.returncode}: {' '.join(cmd)}")
    summary = json.loads(stdout)
    summary["wall_seconds"] = wall
    summary["peak_rss_largest_process_mb"] = usage.ru_maxrss / 1024  # Linux: kilobytes
    summary["peak_rss_process_tree_mb"] = peak_tree / 2**20 if peak_tree else None
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", choices=["generate", "augment"], default="generate")
    parser.add_argument("--source-frames", type=int, default=250_000, help="augment: poses of the source")
    parser.add_argument("--rate-samples", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2], help="none: skip the rate runs")
    parser.add_argument("--rss-samples", type=int, nargs="*", default=[1_000_000, 10_000_000], help="none: skip")
    parser.add_argument("--rss-workers", type=int, default=1, help="workers for the memory runs")
    parser.add_argument("--shard-size", type=int, default=None, help="default: the config's (20000)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: beside the repo)")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="posesynth-bench-scale-", dir=args.dir or ROOT.parent))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"posesynth {args.job}, {cores} cores available, writing under {base}")

    def command(out: Path, samples: int, workers: int) -> list[str]:
        if args.job == "generate":
            return generate_cmd(out, samples, workers, args.shard_size)
        return augment_cmd(source, args.source_frames, out, samples, workers, args.shard_size)

    try:
        source = base / "source"
        if args.job == "augment":
            run_job(generate_cmd(source, args.source_frames, 2, None))
        rates: dict[int, float] = {}
        for workers in args.workers:
            s = run_job(command(base / f"rate-{workers}", args.rate_samples, workers))
            rates[workers] = s["samples"] / s["seconds"]
            print(
                f"samples/s, {workers} worker{'s' if workers > 1 else ' '}: {rates[workers]:>9,.0f} "
                f"(job {s['seconds']:.1f} s; wall clock incl. start-up {s['wall_seconds']:.1f} s = "
                f"{s['samples'] / s['wall_seconds']:,.0f}/s; {s['samples']:,} samples, "
                f"{s['shards']} shards)"
            )
            shutil.rmtree(base / f"rate-{workers}")
        if 1 in rates:
            for workers, rate in rates.items():
                if workers != 1:
                    print(f"speed-up {workers} workers / 1 worker: {rate / rates[1]:.2f}x")
        for samples in args.rss_samples:
            s = run_job(command(base / f"rss-{samples}", samples, args.rss_workers))
            tree = s["peak_rss_process_tree_mb"]
            print(
                f"peak RSS, {s['samples']:>11,} samples, {args.rss_workers} worker(s): largest process "
                f"{s['peak_rss_largest_process_mb']:,.0f} MB, whole process tree "
                f"{'n/a' if tree is None else f'{tree:,.0f} MB'} "
                f"(job {s['seconds']:.0f} s, {s['samples'] / s['seconds']:,.0f} samples/s)"
            )
            shutil.rmtree(base / f"rss-{samples}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
