"""What the store's checksums cost: ``generate`` end to end with and without hashing, the
write path alone, and reads.

    python benchmarks/bench_checksum.py                  # 1,000,000 samples
    python benchmarks/bench_checksum.py -n 200000 --repeat 3

Prints, from one run:

- hash throughput (SHA-256, the store's, and BLAKE2b) on this machine;
- ``generate`` end to end (in-process, no preview) with the store's hashing and with a no-op
  hash, alternated ``--repeat`` times, best of each and their ratio (goal, issue 14:
  checksums < 5 % of ``generate``). End to end, the difference is within the noise of a
  shared machine, so also:
- the write path alone: the shards of that run (already made, in memory) written again with
  and without hashing, alternated; the extra seconds are the checksums' cost, also given
  as a share of ``generate``'s time, and beside it what hashing the same bytes one after
  the other in the writing thread would cost (the writer hashes on a second thread while it
  writes and fsyncs);
- reading the whole store with its checksums checked at first read and with
  ``checksums=False``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from posesynth.data.store import open_store, sha256_npy
from posesynth.data.store import writer as store_writer
from posesynth.jobs.generate import generate, load_config


def _no_hash(header: bytes, data: memoryview) -> str:
    return "0" * 64


@contextlib.contextmanager
def _hashing(enabled: bool) -> Iterator[None]:
    """The store's writer as it is, or with its checksum replaced by a constant."""
    original = store_writer.sha256_npy
    if not enabled:
        store_writer.sha256_npy = _no_hash  # type: ignore[assignment]
    try:
        yield
    finally:
        store_writer.sha256_npy = original  # type: ignore[assignment]


def _throughput(name: str, data: bytes) -> float:
    start = time.perf_counter()
    hashlib.new(name, data).hexdigest()
    return len(data) / (time.perf_counter() - start) / 1e6


def _generate(n: int, out: Path, hashing: bool) -> float:
    shutil.rmtree(out, ignore_errors=True)
    with _hashing(hashing):
        start = time.perf_counter()
        generate(load_config(samples=n, seed=0), out, preview=False)
        return time.perf_counter() - start


def _write_all(shards: list[dict[str, np.ndarray]], folder: Path, hashing: bool) -> float:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    with _hashing(hashing):
        start = time.perf_counter()
        for index, arrays in enumerate(shards):
            store_writer.write_shard_files(folder / f"{index:06d}", arrays)
        return time.perf_counter() - start


def _hash_serially(shards: list[dict[str, np.ndarray]]) -> float:
    start = time.perf_counter()
    for arrays in shards:
        prepared, _ = store_writer.prepare_shard(arrays)
        for arr in prepared.values():
            sha256_npy(store_writer.npy_header(arr), store_writer._raw_bytes(arr))
    return time.perf_counter() - start


def _read_all(out: Path, checksums: bool) -> float:
    start = time.perf_counter()
    store = open_store(out, checksums=checksums)
    for arrays in store.iter_shards():  # opens (and checks) every file once
        for arr in arrays.values():
            arr.sum()  # and reads it
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-n", "--samples", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
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
        store = open_store(out, checksums=False)
        shards = [{k: np.array(v) for k, v in arrays.items()} for arrays in store.iter_shards()]
        del store
        writes: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(opts.repeat):
            for hashing in (False, True):
                writes[hashing].append(_write_all(shards, Path(tmp) / "w", hashing))
        serial = min(_hash_serially(shards) for _ in range(opts.repeat))
        extra = min(writes[True]) - min(writes[False])
        print(
            f"write path alone ({len(shards)} shards; best of {opts.repeat}): with checksums "
            f"{min(writes[True]):.2f} s, without {min(writes[False]):.2f} s; checksums add {extra:+.2f} s "
            f"= {100 * extra / without:+.1f} % of generate (hashing in the writing thread: "
            f"{serial:.2f} s = {100 * serial / without:.1f} %)"
        )
        checked = min(_read_all(out, True) for _ in range(opts.repeat))
        trusted = min(_read_all(out, False) for _ in range(opts.repeat))
        print(f"reading every shard file once: checked {checked:.2f} s, checksums=False {trusted:.2f} s")


if __name__ == "__main__":
    main()
