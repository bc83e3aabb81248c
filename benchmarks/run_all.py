"""The performance table of issue 15 from one run of the benchmarks.

Run:  nice .venv/bin/python benchmarks/run_all.py [--quick] [--train] [--out FILE.md]

Runs ``bench_generate.py`` and ``bench_augment.py`` (each as a child process writing its
figures as JSON; with ``--train`` also ``bench_train.py``), then prints one Markdown table:
each row's measured rate, its goal, and its ratios against the seed-style loop and against
memcpy of the same bytes measured in the same run, on 1 and 2 workers for the whole
commands; then the stage breakdown of ``posesynth augment`` on MMPose input. The load
average before and after is printed beside it: on a shared machine the absolute rates move
with other jobs, the ratios within one run less so.

``--quick`` runs small sizes (a smoke test of this script, not figures to quote).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

FULL = {
    "generate": ["--samples", "200000", "--loop", "2000", "--command-samples", "1000000", "--workers", "1", "2"],
    "augment": ["--frames", "1000000", "--loop", "5000", "--command-frames", "100000", "--workers", "1", "2"],
    "train": ["--steps", "100", "--rounds", "2", "--workers", "0,1"],
}
QUICK = {
    "generate": ["--samples", "20000", "--loop", "200", "--command-samples", "20000", "--workers", "1", "2"],
    "augment": ["--frames", "50000", "--loop", "500", "--command-frames", "2000", "--workers", "1", "2"],
    "train": ["--steps", "10", "--rounds", "1", "--workers", "0", "--width", "256"],
}


def run(script: str, args: list[str], json_path: Path | None) -> str:
    """Run ``benchmarks/<script>`` with ``args`` (and ``--json json_path``), echo and return its stdout."""
    cmd = [sys.executable, str(HERE / script), *args, *(["--json", str(json_path)] if json_path else [])]
    print(f"$ {' '.join(Path(c).name if c.startswith('/') else c for c in cmd[1:])}", file=sys.stderr, flush=True)
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    sys.stderr.write(done.stdout)
    return done.stdout


def rate(v: float, unit: str) -> str:
    return f"{v:,.0f} {unit}/s"


def times(x: float) -> str:
    return f"{x:,.0f}×" if x >= 10 else f"{x:.2f}×"


def table(gen: dict, aug: dict, train_lines: list[str]) -> list[str]:
    """The Markdown lines of the performance table from the benchmarks' JSON figures."""
    rows = ["| | now | goal | × seed-style loop | × memcpy (same bytes) | 2 workers / 1 |", "|---|---|---|---|---|---|"]
    p = gen["pipeline"]
    best = p["rates"].get("numba", p["rates"]["numpy"])
    kept = p["rates"].get("numba, freed memory kept")  # the allocator setting the command makes
    if kept is not None:
        rows.append(
            f"| procedural pipeline, in memory, one core, the command's allocator setting (`bench_generate.py`) | "
            f"{rate(kept, 'samples')} (default allocator {rate(best, 'samples')}) | ≥ 1 M samples/s | "
            f"{times(kept / p['loop'])} ({rate(p['loop'], 'samples')}) | {kept / p['memcpy']:.3f} | – |"
        )
    else:
        rows.append(
            f"| procedural pipeline, in memory, one core (`bench_generate.py`) | {rate(best, 'samples')} "
            f"(NumPy fallback {rate(p['rates']['numpy'], 'samples')}) | ≥ 1 M samples/s | "
            f"{times(best / p['loop'])} ({rate(p['loop'], 'samples')}) | {best / p['memcpy']:.3f} | – |"
        )
    k = aug["kernels"]
    best = k["rates"].get("numba", k["rates"]["numpy"])
    rows.append(
        f"| knee augmentation + OpenCV projection, one core (`bench_augment.py`) | {rate(best, 'frames')} "
        f"(NumPy fallback {rate(k['rates']['numpy'], 'frames')}) | ≥ 2 M frames/s, ≥ 100× | "
        f"{times(best / k['loop'])} ({rate(k['loop'], 'frames')}) | {best / k['memcpy']:.3f} | – |"
    )
    for name, doc, unit, goal, what in (
        ("generate", gen["command"], "samples", "≥ 50× the loop", "`posesynth generate -n {n:,} --no-preview`"),
        ("augment", aug["command"], "frames", "≥ 20× the loop",
         "`posesynth augment X.npz --motions seed-knee`, {n:,} MMPose frames"),
    ):  # fmt: skip
        if "1" not in doc:
            continue
        n = doc.get("samples", doc.get("frames"))
        one = doc["1"]["rate"]
        two = doc.get("2", {}).get("rate")
        memcpy = doc["memcpy"] if name == "generate" else doc["1"]["memcpy"]
        now = f"1 worker {rate(one, unit)}" + (f"; 2 workers {rate(two, unit)}" if two else "")
        ratio = times(one / doc["loop"]) + (f" / {times(two / doc['loop'])}" if two else "")
        rows.append(
            f"| {what.format(n=n)}, whole command | {now} | {goal} | {ratio} ({rate(doc['loop'], unit)}) | "
            f"{one / memcpy:.4f} | {'–' if not two else f'{two / one:.2f}×'} |"
        )
    rows += [train_row(line) for line in train_lines]
    return rows


#: One mode of ``bench_train.py``'s report: name, samples/s, % of bare fp32, and for the
#: streamed modes the share of the time spent waiting for data.
TRAIN_LINE = re.compile(
    r"^\s*(?P<mode>\S.*?)\s{2,}(?P<rate>[\d,]+) samples/s\s+(?P<pct>[\d.]+) % of bare fp32"
    r"(?:\s+waiting for data\s+(?P<wait>[\d.]+) % of the time)?\s*$"
)


def train_row(line: str) -> str:
    """The table row of one ``bench_train.py`` mode. The goal (≥ 90 % of bare fp32) applies
    to the streamed modes at the bare steps' thread count; a mode whose training process was
    cut to fewer torch threads (its workers' cores left free) is shown beside it, not held to
    it."""
    m = TRAIN_LINE.match(line)
    if m is None:
        raise ValueError(f"bench_train.py: unexpected report line {line!r}")
    mode = m["mode"]
    graded = mode.startswith("stream") and "thread" not in mode
    waiting = f"; waiting for data {m['wait']} % of the time" if m["wait"] is not None else ""
    return (
        f"| training, `bench_train.py`: {mode} | {m['rate']} samples/s, {m['pct']} % of bare fp32{waiting} | "
        f"{'≥ 90 % of bare fp32' if graded else '–'} | – | – | – |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test, not figures to quote")
    parser.add_argument("--train", action="store_true", help="also run bench_train.py (streamed training)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table (Markdown) to this file")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    load_before = os.getloadavg()
    started = datetime.datetime.now(datetime.UTC)
    with tempfile.TemporaryDirectory(prefix="posesynth-run-all-") as tmp:
        gen_json, aug_json = Path(tmp) / "generate.json", Path(tmp) / "augment.json"
        run("bench_generate.py", sizes["generate"], gen_json)
        run("bench_augment.py", sizes["augment"], aug_json)
        gen, aug = json.loads(gen_json.read_text()), json.loads(aug_json.read_text())
    train_lines: list[str] = []
    if args.train:
        out = run("bench_train.py", sizes["train"], None)
        train_lines = [line for line in out.splitlines() if "% of bare" in line]
    load_after = os.getloadavg()
    lines = [
        f"Measured {started:%Y-%m-%d %H:%M} UTC in one run of `benchmarks/run_all.py{' --quick' if args.quick else ''}`"
        f"{' --train' if args.train else ''} on {os.cpu_count()} cores; load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after (other jobs share the machine: "
        "absolute rates move with them, ratios within the run less so).",
        "",
        *table(gen, aug, train_lines),
    ]
    if "stages" in aug:
        frames = aug["command"].get("frames", 0)
        lines += ["", f"`posesynth augment` on {frames:,} MMPose frames, stages in one process (seconds):", ""]
        lines += ["| stage | s |", "|---|---|"]
        lines += [f"| {name} | {sec:.2f} |" for name, sec in aug["stages"].items()]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
