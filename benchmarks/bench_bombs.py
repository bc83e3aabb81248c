"""Peak memory of every resource bomb of the reliability audit (2026-12), one process each.

    python benchmarks/bench_bombs.py            # the audit's real files (PNG bombs of 875 KB / 1.5 MB)
    python benchmarks/bench_bombs.py --quick    # header-only PNGs (what the tests run)
    python benchmarks/bench_bombs.py --json

Each bomb runs ``python -m posesynth.cli.main ...`` in a fresh process; its peak resident set
size comes from ``os.wait4``. Goal (issue 14): every bomb ends in one ``error:`` line, under
1 GB. Before the fixes the audit measured 5.6 GB (F07), 5.3 GB (F19), 3.4 GB (F20), and
tracebacks after hitting 4-8 GB limits (F06, F18) or allocating (F16, F17).
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np


def png(path: Path, side: int, quick: bool) -> Path:
    """A ``side`` x ``side`` all-zero greyscale PNG (``quick``: the header only)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + ihdr)
        if not quick:
            comp = zlib.compressobj(9)
            row = bytes(side + 1)  # filter byte + pixels
            parts = [comp.compress(row) for _ in range(side)]
            fh.write(chunk(b"IDAT", b"".join(parts) + comp.flush()))
        fh.write(chunk(b"IEND", b""))
    return path


def build(folder: Path, quick: bool) -> list[tuple[str, list[str]]]:
    """The bombs: ``(audit id, posesynth arguments)``."""
    a = np.zeros((1000, 17, 2), "f4")
    meta = {"num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    vp = folder / "data_2d_x.npz"
    np.savez_compressed(vp, positions_2d={"S1": {"W": [a] * 200_000}}, metadata=meta)
    cams = folder / "cameras.yaml"
    cams.write_text("model: pinhole\ncount: 100000000\n")
    base = folder / "base"
    if not base.exists():
        subprocess.run(
            [sys.executable, "-m", "posesynth.cli.main", "generate", "-n", "200", "--shard-size", "100",
             "--no-preview", "--out", str(base)], check=True, capture_output=True,
        )  # fmt: skip
    out = str(folder / "out")
    return [
        ("F06", ["info", str(vp)]),
        ("F07", ["demo", str(png(folder / "bomb30k.png", 30_000, quick))]),
        ("F08", ["demo", str(png(folder / "bomb40k.png", 40_000, quick))]),
        ("F16", ["augment", str(base), "--motions", "seed-knee", "--cameras", str(cams), "--out", out]),
        ("F17", ["train", str(base), "--out", out, "--width", "10000000", "--epochs", "1"]),
        ("F18", ["generate", "-n", "1000000000", "--shard-size", "1", "--out", out]),
        ("F19", ["generate", "-n", "1000000000000", "--out", out]),
        ("F20", ["generate", "-n", "20000000", "--shard-size", "1", "--out", out]),
    ]


def run(args: list[str]) -> dict:
    """Run one command; its exit code, last stderr line, peak RSS (MB) and seconds."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "posesynth.cli.main", *args], stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    return {
        "rc": proc.returncode,
        "error": lines[-1] if lines else "",
        "stderr_lines": len(lines),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        "seconds": round(time.perf_counter() - start, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="header-only PNG bombs")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--folder", type=Path, default=None, help="where to build the bombs (default: a temporary folder)"
    )
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = opts.folder or Path(tmp)
        rows = []
        for bomb, args in build(folder, opts.quick):
            rows.append(
                {
                    "bomb": bomb,
                    "command": "posesynth " + " ".join(Path(a).name if "/" in a else a for a in args),
                    **run(args),
                }
            )
    if opts.json:
        print(json.dumps({"quick": opts.quick, "bombs": rows}, indent=2))
        return
    print(f"{'bomb':5} {'peak RSS':>9} {'s':>6}  error line")
    for r in rows:
        print(f"{r['bomb']:5} {r['peak_rss_mb']:>6.0f} MB {r['seconds']:>6.1f}  {r['error'][:110]}")
    print(f"largest peak: {max(r['peak_rss_mb'] for r in rows):.0f} MB (goal < 1000 MB)")


if __name__ == "__main__":
    main()
