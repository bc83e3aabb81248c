"""The one writer of a store: shard files, the commit, and :class:`StoreWriter`.

Two paths write the same bytes through the same functions: :class:`StoreWriter` (in memory,
shard after shard, into ``<path>.partial-<pid>-<random>``) and the sharded jobs of
:mod:`posesynth.jobs.shards` (each worker calls :func:`write_shard_files`, the driver
:func:`finish_store` and :func:`publish_store`, the two steps of :func:`commit_store`).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np

from posesynth.data.store.manifest import (
    MANIFEST_NAME,
    SHARDS_DIR,
    ArraySpec,
    build_manifest,
    check_array_name,
    check_dtype,
    meta_to_json,
    shard_dir_name,
    write_manifest,
)
from posesynth.data.store.verify import sha256_npy
from posesynth.util.atomic import write_synced
from posesynth.util.outputs import (
    check_output,
    fsync_dir,
    move_into_place,
    output_lock,
    remove_path,
    stale_partials,
    temporary_name,
)

__all__ = [
    "BackgroundSync",
    "StoreWriter",
    "WrittenShard",
    "check_replaceable",
    "check_same_layout",
    "commit_store",
    "finish_store",
    "npy_header",
    "prepare_shard",
    "publish_store",
    "why_not_replaceable",
    "write_shard_files",
    "write_store",
]


# --------------------------------------------------------------------------------------------
# shard files
# --------------------------------------------------------------------------------------------


def prepare_shard(arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
    """Check one shard's arrays and return them C-contiguous, sorted by name, with ``n``.

    Args:
        arrays: ``{name: (n, ...) array}`` sharing the leading dimension ``n >= 1``.

    Raises:
        ValueError: naming the array and what was wrong (name, dtype, shape, length).
    """
    if not arrays:
        raise ValueError("write_shard: expected at least one array, got none")
    prepared: dict[str, np.ndarray] = {}
    for name in sorted(arrays):
        check_array_name(name)
        arr = np.ascontiguousarray(arrays[name])
        check_dtype(arr.dtype, f"array '{name}'")
        if arr.ndim == 0:
            raise ValueError(f"array '{name}': expected shape (n, ...), got a scalar")
        prepared[name] = arr
    lengths = {name: arr.shape[0] for name, arr in prepared.items()}
    n = next(iter(lengths.values()))
    if any(length != n for length in lengths.values()):
        raise ValueError(
            "write_shard: arrays must share their first dimension, got "
            + ", ".join(f"'{k}' {prepared[k].shape}" for k in prepared)
        )
    if n == 0:
        raise ValueError("write_shard: expected at least one sample, got arrays of length 0")
    return prepared, int(n)


def check_same_layout(first: Mapping[str, ArraySpec], specs: Mapping[str, ArraySpec], index: int) -> None:
    """Raise ``ValueError`` unless shard ``index``'s arrays have the names, dtypes and
    trailing shapes of the first shard's (``first``)."""
    if set(specs) != set(first):
        missing = sorted(set(first) - set(specs))
        extra = sorted(set(specs) - set(first))
        raise ValueError(
            f"shard {index}: arrays must be the first shard's {sorted(first)}; missing {missing}, unexpected {extra}"
        )
    for name, spec in specs.items():
        want = first[name]
        if spec.dtype != want.dtype:
            raise ValueError(f"shard {index}, array '{name}': expected dtype {want.dtype.str}, got {spec.dtype.str}")
        if spec.trailing != want.trailing:
            pattern = "(" + ", ".join(["n", *map(str, want.trailing)])
            pattern += ",)" if not want.trailing else ")"
            raise ValueError(f"shard {index}, array '{name}': expected shape {pattern}, got {spec.shape}")


def npy_header(arr: np.ndarray) -> bytes:
    """The ``.npy`` header ``np.save`` writes for the C-contiguous ``arr`` (format 1.0, or
    2.0 when the header outgrows 1.0's 64 KiB: numpy's own choice)."""
    header = np.lib.format.header_data_from_array_1_0(arr)
    buffer = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buffer, header)
    except ValueError:
        buffer = io.BytesIO()
        np.lib.format.write_array_header_2_0(buffer, header)
    return buffer.getvalue()


def _raw_bytes(arr: np.ndarray) -> memoryview:
    """The data of the C-contiguous ``arr`` as a flat byte view (no copy)."""
    if arr.nbytes == 0:
        return memoryview(b"")
    return memoryview(arr.reshape(-1).view(np.uint8))  # type: ignore[arg-type]


def _write_npy(fh: BinaryIO, header: bytes, data: memoryview) -> None:
    """Fill ``fh`` with one ``.npy`` file: the bytes of ``np.save``, without its copies."""
    fh.write(header)
    fh.write(data)


class BackgroundSync:
    """Durability off the critical path: one thread fsyncs the files of each finished
    shard (and its folder) while the caller computes the next one.

    A shard written with a :class:`BackgroundSync` is complete in the page cache when
    :func:`write_shard_files` returns; its files stay open (duplicated descriptors, so a
    rename of the folder does not matter) until the thread has synced them. :meth:`wait`
    blocks until every shard handed over is on disk and raises the first error (an
    ``OSError`` naming the shard folder); the writers call it before the commit, so nothing
    is committed that is not durable. A shard whose ``fsync`` fails has its files truncated
    to 0 bytes, so that it fails its checksums and is made again if its job is resumed.
    At most :attr:`max_pending` shards wait at once (each holds a descriptor per file).

    With ``drop_written``, a shard's files leave the page cache once they are on disk
    (``posix_fadvise(POSIX_FADV_DONTNEED)``, where the platform has it), as ``dd
    oflag=nocache`` does: a job that streams gigabytes it does not read again then writes
    each shard into the pages the one before it freed, instead of into fresh memory. On the
    development machine, a virtual machine whose host backs each fresh page on first touch,
    that took ``generate -n 1000000`` from 2.5 to 0.9 s of system time. Reading the store
    afterwards goes to the disk rather than the cache.
    """

    max_pending = 2

    def __init__(self, drop_written: bool = False) -> None:
        self.drop_written = bool(drop_written) and hasattr(os, "posix_fadvise")
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="posesynth-fsync")
        self._pending: list[Future[None]] = []
        self._error: BaseException | None = None

    def submit(self, files: Sequence[int], folder: int, where: Path) -> None:
        """Hand over the open descriptors of a shard's ``files`` and of its ``folder``
        (closed by the thread); ``where`` names the shard in an error."""
        while len(self._pending) >= self.max_pending:
            self._settle(self._pending.pop(0))
        self._pending.append(self._pool.submit(_sync_and_close, list(files), folder, where, self.drop_written))

    def wait(self) -> None:
        """Block until every shard handed over is synced; raise the first error."""
        while self._pending:
            self._settle(self._pending.pop(0))
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        """Let the thread finish (closing every descriptor) and stop it; errors are dropped
        (the writer is being abandoned, or :meth:`wait` raised them already)."""
        with contextlib.suppress(BaseException):
            while self._pending:
                self._pending.pop(0).exception()
        self._error = None
        self._pool.shutdown(wait=True)

    def _settle(self, future: Future[None]) -> None:
        error = future.exception()
        if error is not None and self._error is None:
            self._error = error


def _sync_and_close(files: list[int], folder: int, where: Path, drop: bool = False) -> None:
    """``fsync`` each descriptor (files, then the folder) and close them all; on an error,
    truncate the files (their shard must not pass its checksums later) and raise it. With
    ``drop``, the files' pages then leave the page cache (advice: a refusal is ignored)."""
    try:
        for fd in [*files, folder]:
            os.fsync(fd)
        if drop:
            for fd in files:  # clean now, so the kernel may drop them
                with contextlib.suppress(OSError):
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError as exc:
        for fd in files:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
        raise OSError(exc.errno, f"fsync failed: {exc.strerror or exc}", str(where)) from exc
    finally:
        for fd in [*files, folder]:
            with contextlib.suppress(OSError):
                os.close(fd)


def _write_unsynced(file: Path, header: bytes, data: memoryview) -> int:
    """Create ``file`` (which must not exist), write the ``.npy`` and return a duplicate of
    its descriptor (for :class:`BackgroundSync`); on failure the file is removed."""
    try:
        with open(file, "xb") as fh:
            _write_npy(fh, header, data)
            fh.flush()
            return os.dup(fh.fileno())
    except BaseException:
        remove_path(file)
        raise


def _save_shard(
    shard_dir: Path, prepared: Mapping[str, np.ndarray], sync: BackgroundSync | None = None
) -> dict[str, str]:
    """Write each array as ``shard_dir/<name>.npy`` (fsynced); return ``{name: sha256}``.

    The checksums are computed from the bytes in memory (nothing is read back) on a second
    thread while this one writes and fsyncs the files: ``hashlib`` and the file system both
    release the GIL, so the hashing costs little more than the writes alone
    (``benchmarks/bench_checksum.py``). With ``sync`` the fsyncs are handed to its
    thread instead (see :class:`BackgroundSync`). ``shard_dir`` must not exist (its parent
    must). On any failure (a full disk, an interrupt) ``shard_dir`` is removed again, so no
    half-written shard is left behind.
    """
    shard_dir.mkdir()
    fds: list[int] = []
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="posesynth-sha256") as hasher:
            digests: dict[str, Future[str]] = {}
            for name, arr in prepared.items():
                header, data = npy_header(arr), _raw_bytes(arr)
                digests[name] = hasher.submit(sha256_npy, header, data)
                if sync is None:
                    write_synced(shard_dir / f"{name}.npy", functools.partial(_write_npy, header=header, data=data))
                else:
                    fds.append(_write_unsynced(shard_dir / f"{name}.npy", header, data))
            files = {name: digest.result() for name, digest in digests.items()}
        if sync is None:
            fsync_dir(shard_dir)
        else:
            folder = os.open(shard_dir, os.O_RDONLY)
            sync.submit(fds, folder, shard_dir)
            fds = []  # the thread closes them now
    except BaseException:
        for fd in fds:
            os.close(fd)
        shutil.rmtree(shard_dir, ignore_errors=True)
        raise
    return files


@dataclass(frozen=True)
class WrittenShard:
    """What :func:`write_shard_files` wrote: sample count, ``{name: sha256}`` and each
    array's dtype and shape."""

    samples: int
    files: Mapping[str, str]
    specs: Mapping[str, ArraySpec]


def write_shard_files(
    shard_dir: Path | str, arrays: Mapping[str, np.ndarray], sync: BackgroundSync | None = None
) -> WrittenShard:
    """Write one shard's arrays into the new folder ``shard_dir`` as raw ``.npy`` files.

    The same bytes as :meth:`StoreWriter.write_shard` writes. ``shard_dir`` must not exist;
    on failure it is removed (see :func:`prepare_shard` for the checks). With ``sync`` the
    files are durable only once ``sync.wait()`` has returned (see :class:`BackgroundSync`).
    """
    prepared, n = prepare_shard(arrays)
    files = _save_shard(Path(shard_dir), prepared, sync)
    specs = {name: ArraySpec(arr.dtype, arr.shape) for name, arr in prepared.items()}
    return WrittenShard(n, files, specs)


# --------------------------------------------------------------------------------------------
# the commit (both writers)
# --------------------------------------------------------------------------------------------


def _is_store_or_empty_dir(path: Path) -> bool:
    return path.is_dir() and ((path / MANIFEST_NAME).is_file() or not any(path.iterdir()))


def why_not_replaceable(path: Path) -> str | None:
    """Why the existing ``path`` may not be replaced by a store (None: it may, with
    ``overwrite``): only a posesynth store or an empty folder is ever replaced."""
    if path.is_symlink() or not _is_store_or_empty_dir(path):
        return f"exists and is not a posesynth data set (no {MANIFEST_NAME})"
    return None


def check_replaceable(path: Path | str, overwrite: bool) -> None:
    """Raise ``ValueError`` if ``path`` exists and may not be replaced: without
    ``overwrite``, when it is a file, or when it is neither a posesynth store nor an empty
    folder (the output policy of :mod:`posesynth.util.outputs`)."""
    check_output(Path(path), kind="dir", overwrite=overwrite, replaceable=why_not_replaceable)


def commit_store(
    folder: Path,
    out: Path,
    meta: Mapping[str, Any],
    specs: Mapping[str, ArraySpec],
    shards: Sequence[Mapping[str, Any]],
    overwrite: bool,
) -> Path:
    """Finish a store written into ``folder`` and move it to ``out``: the one commit of
    both writers (:class:`StoreWriter`, and the sharded jobs of :mod:`posesynth.jobs.shards`,
    which call its two steps apart to drop their progress records in between).

    The caller holds ``out``'s lock (:func:`posesynth.util.outputs.output_lock`).
    """
    finish_store(folder, meta, specs, shards)
    return publish_store(folder, out, overwrite)


def finish_store(
    folder: Path,
    meta: Mapping[str, Any],
    specs: Mapping[str, ArraySpec],
    shards: Sequence[Mapping[str, Any]],
) -> None:
    """Write ``folder/dataset.json`` (see :func:`~posesynth.data.store.manifest.build_manifest`)
    atomically and flush the folder: after this, ``folder`` is a complete store."""
    write_manifest(folder, build_manifest(meta, specs, shards))


def publish_store(folder: Path, out: Path, overwrite: bool) -> Path:
    """Rename the complete store ``folder`` onto ``out``: an existing store or empty folder
    there is replaced only with ``overwrite``; anything else is refused."""
    check_replaceable(out, overwrite)
    move_into_place(folder, out)  # replaceable: checked on the line above
    return out


# --------------------------------------------------------------------------------------------
# the in-memory writer
# --------------------------------------------------------------------------------------------


class StoreWriter:
    """Write a posesynth store shard by shard, atomically.

    Use as a context manager::

        with StoreWriter(Path("posesynth-data"), meta) as writer:
            for arrays in batches:
                writer.write_shard(arrays)     # {name: (n, ...) array}
        # leaving the block commits; an exception removes everything written

    Args:
        path: where the store will be; nothing is written there before :meth:`commit`.
        meta: JSON-compatible dict stored as the manifest's ``meta`` (numpy scalars and arrays
            are converted; NaN/inf and other objects raise ``ValueError`` naming the key).
        overwrite: replace an existing store at ``path`` on commit. Even then, only an existing
            posesynth store (a directory holding ``dataset.json``) or an empty directory is ever
            replaced; anything else raises ``ValueError``.

    Raises:
        ValueError: ``path`` exists and ``overwrite`` is false, or ``meta`` is not JSON.
    """

    def __init__(self, path: Path | str, meta: Mapping[str, Any], overwrite: bool = False) -> None:
        self.path = Path(path)
        self.overwrite = bool(overwrite)
        self.meta = meta_to_json(meta)
        check_replaceable(self.path, self.overwrite)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # the output policy (posesynth.util.outputs): locked from here to commit or abort,
        # stale temporaries of dead writers removed
        self._lock = contextlib.ExitStack()
        self._lock.enter_context(output_lock(self.path))
        try:
            for stale in stale_partials(self.path):
                remove_path(stale)
            check_replaceable(self.path, self.overwrite)
            self.tmp_path = temporary_name(self.path)
            self.tmp_path.mkdir()
            (self.tmp_path / SHARDS_DIR).mkdir()
        except BaseException:
            self._lock.close()
            raise
        self._specs: dict[str, ArraySpec] | None = None
        self._shards: list[dict[str, Any]] = []
        self._samples = 0
        self._committed: Path | None = None
        self._aborted = False
        # each shard's fsyncs run while the caller makes the next shard; commit waits for them
        self._sync = BackgroundSync()

    # -- context manager ----------------------------------------------------------------------

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
            return
        if self._committed is None and not self._aborted:
            try:
                self.commit()
            except BaseException:
                self.abort()
                raise

    # -- public API ---------------------------------------------------------------------------

    @property
    def samples(self) -> int:
        """Samples written so far."""
        return self._samples

    def write_shard(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Append one shard.

        Args:
            arrays: ``{name: (n, ...) array}``; every array shares the leading dimension
                ``n >= 1``. Names, dtypes and trailing shapes must equal the first shard's.

        Raises:
            ValueError: naming the array and the expected and received shape or dtype.
        """
        self._check_open()
        prepared, n = prepare_shard(arrays)
        specs = {name: ArraySpec(arr.dtype, arr.shape) for name, arr in prepared.items()}
        index = len(self._shards)
        if self._specs is None:
            self._specs = specs
        else:
            check_same_layout(self._specs, specs, index)
        shard_dir = self.tmp_path / SHARDS_DIR / shard_dir_name(index)
        files = _save_shard(shard_dir, prepared, self._sync)
        self._shards.append({"index": index, "samples": n, "files": files})
        self._samples += n

    def commit(self) -> Path:
        """Write ``dataset.json`` and move the store to ``path``; return ``path``.

        Every shard's files are on disk first (the background fsyncs are waited for);
        the manifest is written to a temporary file, fsynced and renamed into place; then the
        temporary directory is renamed to ``path`` (an existing store there is replaced only
        when ``overwrite`` was given).

        Raises:
            ValueError: no shard was written, or ``path`` appeared meanwhile and may not be
                replaced.
            OSError: a shard's ``fsync`` failed (nothing is committed).
        """
        self._check_open()
        if self._specs is None:
            raise ValueError(f"{self.path}: nothing to commit, write at least one shard first")
        self._sync.wait()
        self._sync.close()
        commit_store(self.tmp_path, self.path, self.meta, self._specs, self._shards, self.overwrite)
        self._committed = self.path
        self._lock.close()
        return self.path

    def abort(self) -> None:
        """Remove the temporary directory; nothing is left at ``path`` or beside it."""
        self._sync.close()
        if self._committed is None:
            shutil.rmtree(self.tmp_path, ignore_errors=True)
        self._aborted = True
        self._lock.close()

    # -- internals ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._committed is not None:
            raise ValueError(f"{self.path}: store already committed")
        if self._aborted:
            raise ValueError(f"{self.path}: store writer was aborted")


def write_store(
    path: Path | str,
    meta: Mapping[str, Any],
    shards: Iterable[Mapping[str, np.ndarray]],
    overwrite: bool = False,
) -> Path:
    """Write ``shards`` (an iterable of ``{name: (n, ...) array}``) as a store at ``path``."""
    with StoreWriter(path, meta, overwrite=overwrite) as writer:
        for arrays in shards:
            writer.write_shard(arrays)
        return writer.commit()
