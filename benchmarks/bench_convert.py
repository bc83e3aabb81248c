"""``posesynth convert`` memory: peak resident memory at 100k and 1 M samples (issue 16).

Generates two stores (``posesynth generate``, pinhole cameras, one per sample), converts each
to MMPose in a child process, with the default round-trip check and with ``--no-check``, and
prints the child's peak RSS (``wait4``'s ``ru_maxrss``), the time, and the ratio 1 M / 100k per
mode (flat memory: a ratio near 1). A store of more than ``registry.STREAM_ROWS`` samples
streams chunk by chunk (:func:`posesynth.data.formats.registry.convert_streamed`), and so does
the check (:func:`posesynth.data.roundtrip.check_written_chunked`: the store and the written
files read back one chunk at a time); the goal is <= 500 MB at 1 M samples in both modes.

Run::

    nice python benchmarks/bench_convert.py --work /tmp/bench-convert
    nice python benchmarks/bench_convert.py --work /tmp/bench-convert --sizes 100000 --modes check

About 2 minutes to generate 1 M samples, 4 minutes to convert them without the check and
about 8 with it, on 2 cores; about 4 GB of disk under ``--work`` (kept, so a rerun skips the
generation).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

GOAL_MB = 500.0


def posesynth(*args: str) -> list[str]:
    return [sys.executable, "-m", "posesynth.cli.main", *args]


def peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd``; its peak resident memory (MB) and wall time (s)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-400:]}")
    return usage.ru_maxrss / 1024.0, seconds  # Linux: kilobytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the stores and outputs")
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated sample counts")
    parser.add_argument(
        "--modes", default="check,--no-check", help="comma-separated: check (the default convert), --no-check"
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for n in sizes:
        store = args.work / f"g{n}"
        if not (store / "dataset.json").is_file():
            shutil.rmtree(store, ignore_errors=True)
            subprocess.run(
                posesynth("generate", "-n", str(n), "--seed", "1", "--no-preview", "--out", str(store)),
                check=True,
                capture_output=True,
            )
        modes = [(m, [] if m == "check" else [m]) for m in args.modes.split(",")]
        for label, extra in modes:
            out = args.work / f"mm{n}{label}"
            shutil.rmtree(out, ignore_errors=True)
            mb, seconds = peak_rss_mb(posesynth("convert", str(store), str(out), "--to", "mmpose", *extra))
            size_mb = sum(f.stat().st_size for f in out.iterdir()) / 1e6
            shutil.rmtree(out)
            rows.append((n, label, mb, seconds, size_mb))
            print(
                f"convert --to mmpose {label:10s} {n:>9,d} samples: peak RSS {mb:7.1f} MB, "
                f"{seconds:6.1f} s, output {size_mb:7.1f} MB",
                flush=True,
            )
    for mode in dict.fromkeys(label for _, label, _, _, _ in rows):
        peak = {n: mb for n, label, mb, _, _ in rows if label == mode}
        if len(peak) >= 2:
            lo, hi = min(peak), max(peak)
            print(
                f"{mode:10s} peak RSS ratio {hi:,d} / {lo:,d} samples: {peak[hi] / peak[lo]:.2f} (x{hi // lo} samples)"
            )
        if 1_000_000 in peak:
            verdict = "met" if peak[1_000_000] <= GOAL_MB else "NOT met"
            print(f"{mode:10s} goal <= {GOAL_MB:.0f} MB at 1 M samples: {verdict} ({peak[1_000_000]:.1f} MB)")


if __name__ == "__main__":
    main()
