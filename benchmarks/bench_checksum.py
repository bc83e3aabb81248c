"""What the store's checksums cost: ``generate`` end to end with and without hashing, and reads.

    python benchmarks/bench_checksum.py                  # 1,000,000 samples
    python benchmarks/bench_checksum.py -n 200000 --repeat 3

Prints, from one run: hash throughput (SHA-256, the store's, and BLAKE2b) on this machine;
``generate`` end to end (in-process, no preview) with the store's hashing and with a no-op
hash, alternated ``--repeat`` times, and their ratio (goal, issue 14: checksums < 5 % of
``generate``); reading the whole store with its checksums checked at first read and with
``checksums=False``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from posesynth.data import store as store_module
from posesynth.data.store import open_store
from posesynth.jobs.generate import generate, load_config


class _NoHash:
    def update(self, _data: bytes) -> None:
        pass

    def hexdigest(self) -> str:
        return "0" * 64


class _NoHashWriter:
    """The store's hashing file wrapper, minus the hashing."""

    def __init__(self, raw):
        self._raw = raw
        self.sha256 = _NoHash()

    def write(self, data: bytes) -> int:
        return self._raw.write(data)


def _throughput(name: str, data: bytes) -> float:
    start = time.perf_counter()
    hashlib.new(name, data).hexdigest()
    return len(data) / (time.perf_counter() - start) / 1e6


def _generate(n: int, out: Path, hashing: bool) -> float:
    shutil.rmtree(out, ignore_errors=True)
    original = store_module._HashingWriter
    if not hashing:
        store_module._HashingWriter = _NoHashWriter  # type: ignore[assignment,misc]
    try:
        start = time.perf_counter()
        generate(load_config(samples=n, seed=0), out, preview=False)
        return time.perf_counter() - start
    finally:
        store_module._HashingWriter = original  # type: ignore[misc]


def _read_all(out: Path, checksums: bool) -> float:
    start = time.perf_counter()
    store = open_store(out, checksums=checksums)
    for arrays in store.iter_shards():  # opens (and checks) every file once
        for arr in arrays.values():
            arr.sum()  # and reads it
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--samples", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    opts = parser.parse_args()
    data = os.urandom(64 << 20)
    print(
        f"hash throughput: sha256 {_throughput('sha256', data):.0f} MB/s, blake2b {_throughput('blake2b', data):.0f} MB/s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "g"
        _generate(20_000, out, True)  # warm-up: JIT kernels compiled, caches loaded, before timing
        timings: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(opts.repeat):
            for hashing in (False, True):
                timings[hashing].append(_generate(opts.samples, out, hashing))
        with_hash, without = min(timings[True]), min(timings[False])
        size = sum(p.stat().st_size for p in out.rglob("*.npy"))
        print(
            f"generate -n {opts.samples} (in-process, no preview; best of {opts.repeat}): "
            f"with checksums {with_hash:.2f} s, without {without:.2f} s; "
            f"checksums cost {100 * (with_hash / without - 1):+.1f} % ({size / 1e6:.0f} MB of .npy)"
        )
        checked = min(_read_all(out, True) for _ in range(opts.repeat))
        trusted = min(_read_all(out, False) for _ in range(opts.repeat))
        print(f"reading every shard file once: checked {checked:.2f} s, checksums=False {trusted:.2f} s")


if __name__ == "__main__":
    main()
