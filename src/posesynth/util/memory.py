"""The C allocator's policy for a process that makes arrays of the same sizes over and over.

A job makes every shard's arrays afresh (a few MB each: 20,000 poses of float64 joints are
8 MB). glibc's ``malloc`` serves blocks that large with ``mmap`` and gives them back with
``munmap`` when freed, and trims the top of its heaps, so the next shard's arrays are fresh
pages again: a page fault per 4 KiB, and the kernel zeroes each page. ``posesynth generate
-n 1000000`` took 0.33 page faults per sample that way, 1.5-3 s of system time of a 4-6 s
command on the development machine (a virtual machine, where a fresh page costs 16 µs: the
host backs it on first touch).

:func:`keep_freed_memory` raises the ``mmap`` threshold to glibc's largest (32 MiB) and the
trim threshold out of reach, so freed blocks stay in the process and the next shard reuses
them: 0.04 faults per sample. Only processes posesynth owns call it: the console script, the
process pool's workers and the workers of a local Dask cluster it starts. The library never
changes a caller's allocator. Elsewhere than glibc it does nothing. Bytes written do not
change: this is where memory comes from, not what it holds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

#: ``mallopt`` parameters (glibc's ``malloc.h``).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Above every shard array and below the batch-sized ones (a million poses: hundreds of MB),
#: which stay with mmap; older glibc refuses more than 32 MiB (``HEAP_MAX_SIZE / 2``).
MMAP_THRESHOLD = 32 * 1024 * 1024
#: Trim a heap only above 2 GiB of free space at its top (``mallopt`` takes an int): a
#: command's working set stays mapped until it exits.
TRIM_THRESHOLD = 2**31 - 1


@functools.cache
def keep_freed_memory() -> bool:
    """Keep freed blocks of up to 32 MiB in this process for reuse (glibc only; once per
    process). Returns whether the allocator took both settings."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
