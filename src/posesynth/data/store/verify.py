"""The store's checks of its files: SHA-256 checksums, ``.npy`` headers and sizes, regular files.

A checksum is the SHA-256 of a whole ``.npy`` file (header and data). The writer computes it
from the bytes it holds in memory (:func:`sha256_npy`, no read-back); readers compute it from
the file (:func:`sha256_file`) the first time they read it. SHA-256 rather than BLAKE2b:
with OpenSSL's SHA extensions it hashes 2.6x faster on the machines measured
(``benchmarks/bench_checksum.py``), and every store written so far carries it.
"""

from __future__ import annotations

import hashlib
import math
import os
import tokenize
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from posesynth.data import validate
from posesynth.data.store.manifest import SHARDS_DIR, shard_dir_name, shard_file

__all__ = ["check_npy_header", "check_regular_file", "sha256_file", "sha256_npy", "shard_problem"]

_HASH_CHUNK = 1 << 20


def check_regular_file(path: Path) -> os.stat_result:
    """``os.stat(path)``, or ``ValueError`` unless ``path`` is a regular file (a FIFO would
    block the reader forever, a device would never end: reliability audit F22)."""
    return validate.check_regular_file(path, missing="missing shard file")


def sha256_file(path: Path) -> str:
    """SHA-256 (hex) of the regular file ``path``, read in 1 MiB chunks."""
    check_regular_file(path)
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_npy(header: bytes, data: memoryview) -> str:
    """SHA-256 (hex) of the ``.npy`` file made of ``header`` followed by ``data`` (the array's
    raw bytes, C order), computed in memory. ``hashlib`` releases the GIL on large buffers,
    so this may run in a thread beside the file writes."""
    digest = hashlib.sha256(header)
    digest.update(data)
    return digest.hexdigest()


def shard_problem(root: Path | str, index: int, files: Mapping[str, str]) -> str | None:
    """Why shard ``index`` under ``root`` does not match ``files`` (``{name: sha256}``):
    a missing, unreadable, extra or changed file; ``None`` if every file matches."""
    shard_dir = Path(root) / SHARDS_DIR / shard_dir_name(index)
    try:
        present = {p.name for p in shard_dir.iterdir()}
    except OSError as exc:
        return f"{shard_dir}: cannot list ({exc.strerror or exc})"
    expected = {f"{name}.npy" for name in files}
    if present != expected:
        return f"{shard_dir}: holds {sorted(present)}, expected {sorted(expected)}"
    for name, digest in sorted(files.items()):
        file = shard_file(Path(root), index, name)
        try:
            got = sha256_file(file)
        except OSError as exc:
            return f"{file}: cannot read ({exc.strerror or exc})"
        if got != digest:
            return f"{file}: checksum mismatch (expected sha256 {digest[:16]}..., got {got[:16]}...)"
    return None


def check_npy_header(file: Path, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    """Check that ``file`` is a complete C-order ``.npy`` of ``dtype`` and ``shape`` (its
    header and size only: no data is read)."""
    size = check_regular_file(file).st_size
    try:
        with open(file, "rb") as fh:
            try:
                major, _minor = np.lib.format.read_magic(fh)
                if major == 1:
                    got_shape, fortran, got_dtype = np.lib.format.read_array_header_1_0(fh)
                elif major in (2, 3):
                    got_shape, fortran, got_dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    raise ValueError(f"unsupported .npy version {major}")
            except (ValueError, SyntaxError, tokenize.TokenError) as exc:  # numpy parses the header as Python
                raise ValueError(f"{file}: not a valid .npy file ({' '.join(str(exc).split())[:200]})") from None
            offset = fh.tell()
    except FileNotFoundError:
        raise ValueError(f"{file}: missing shard file") from None
    except OSError as exc:
        raise ValueError(f"{file}: cannot read ({exc.strerror or exc})") from exc
    if got_dtype != dtype or tuple(got_shape) != shape:
        raise ValueError(
            f"{file}: expected dtype {dtype.str} shape {shape}, got dtype {got_dtype.str} shape {tuple(got_shape)}"
        )
    if fortran:
        raise ValueError(f"{file}: expected C order, got Fortran order")
    expected_size = offset + math.prod(shape) * dtype.itemsize
    if size != expected_size:
        raise ValueError(
            f"{file}: {size} bytes, expected {expected_size} for dtype {dtype.str} shape "
            f"{shape}; the file is {'truncated' if size < expected_size else 'too long'}"
        )
