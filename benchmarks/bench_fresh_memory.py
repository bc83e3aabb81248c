"""What a fresh page of memory costs on this machine, against a page used again.

Run:  .venv/bin/python benchmarks/bench_fresh_memory.py [--gib 1]

Maps ``--gib`` GiB of anonymous memory three ways and touches one byte per 4 KiB page:
fresh with 4 KiB pages (``MADV_NOHUGEPAGE``), fresh with transparent huge pages
(``MADV_HUGEPAGE``), and the same mapping touched again. Prints wall and system seconds per
GiB and the page faults, all measured in this run. On a virtual machine whose host backs
guest memory on first touch (the development machine), the fresh rows are what every array a
command allocates anew costs: this is why ``posesynth`` keeps freed shard arrays for reuse
(``posesynth.util.memory``) and why the whole commands' stage times move with their memory.
"""

from __future__ import annotations

import argparse
import mmap
import resource
import time


def system_seconds() -> float:
    """This thread's system (kernel) CPU seconds so far (Linux), else the process's. The
    stage tables of ``bench_generate.py`` and ``bench_augment.py`` report it per stage: it
    tells which stages pay for fresh memory."""
    who = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)
    return resource.getrusage(who).ru_stime


def touch(m: mmap.mmap, size: int) -> None:
    for offset in range(0, size, 4096):
        m[offset] = 1


def measure(size: int, advice: int | None, again: bool) -> tuple[float, float, int]:
    """(wall s, system s, minor faults) of touching every page of a fresh mapping (or, with
    ``again``, of touching it a second time)."""
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if advice is not None:
        m.madvise(advice)
    if again:
        touch(m, size)
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    touch(m, size)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    m.close()
    return wall, after.ru_stime - before.ru_stime, after.ru_minflt - before.ru_minflt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gib", type=float, default=1.0)
    args = parser.parse_args()
    size = int(args.gib * 2**30) // 4096 * 4096
    rows = [
        ("fresh, 4 KiB pages", getattr(mmap, "MADV_NOHUGEPAGE", None), False),
        ("fresh, huge pages", getattr(mmap, "MADV_HUGEPAGE", None), False),
        ("touched again", None, True),
    ]
    print(f"{args.gib:g} GiB, one byte per 4 KiB page; per GiB:")
    results = {}
    for label, advice, again in rows:
        wall, system, faults = measure(size, advice, again)
        results[label] = wall
        print(f"  {label:20s} {wall / args.gib:7.2f} s wall, {system / args.gib:7.2f} s system, {faults:>9,} faults")
    ratio = results["fresh, 4 KiB pages"] / max(results["touched again"], 1e-9)
    print(f"  fresh 4 KiB pages / touched again: {ratio:.0f}x")


if __name__ == "__main__":
    main()
