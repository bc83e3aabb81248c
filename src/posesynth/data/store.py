"""posesynth's own data set format: a directory of raw ``.npy`` shards and a JSON manifest.

Layout::

    <path>/
        dataset.json                  # manifest (below)
        shards/000000/<array>.npy     # one folder per shard, one raw .npy file per array
        shards/000001/<array>.npy
        ...

``dataset.json``::

    {"format": "posesynth", "format_version": 1,
     "meta": {...},                                  # free JSON (skeleton, cameras, config, ...)
     "arrays": {name: {"dtype": "<f8", "shape": [total, ...trailing]}},
     "shards": [{"index": 0, "samples": n0, "files": {name: "<sha256 hex>"}}, ...],
     "samples": total}

Shard ``i`` of array ``name`` is always ``shards/{i:06d}/{name}.npy``; the path is not stored.

Properties:

- **Deterministic.** The same arrays and meta give byte-identical files: raw ``.npy`` (no zip
  headers with timestamps, unlike ``np.savez``), C order, and a manifest with sorted keys, no
  timestamps and no absolute paths.
- **Atomic.** :class:`StoreWriter` writes into a sibling ``<path>.partial-<pid>-<random>``
  directory and renames it to ``path`` only in :meth:`StoreWriter.commit`; an exception
  (``KeyboardInterrupt`` included) inside its ``with`` block removes the temporary directory, so
  nothing half-written is ever at ``path``. (Sharded jobs, :mod:`posesynth.jobs.shards`, write the
  same layout through a resumable ``<path>.partial-job`` folder instead, with the same
  helpers: :func:`write_shard_files` per shard, :func:`commit_store` at the end.) The output
  is locked while written and a temporary of a dead writer is removed by the next one
  (:mod:`posesynth.util.outputs`).
- **Lazy.** :class:`Store` reads arrays as read-only memory maps; :meth:`Store.read` copies only
  the requested slice when it spans several shards.
- **Checked.** Opening a store validates the manifest (:class:`Manifest`, a pydantic model) and
  every shard file's ``.npy`` header and size (cheap, no data read), and refuses anything
  that is not a regular file (a FIFO would hang the reader). Every file's SHA-256 is checked
  the first time it is read (``open_store(path, checksums=False)`` skips that for trusted hot
  loops); :meth:`Store.verify` checks them all at once. SHA-256 rather than BLAKE2b: with
  OpenSSL's SHA extensions it hashes 2.6x faster on the machines measured
  (``benchmarks/bench_checksum.py``), and every store written so far carries it.

Every problem with a store raises ``ValueError`` naming the file and the field, e.g.
``posesynth-data/dataset.json: missing field 'shards'``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import tokenize
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, BinaryIO, Literal

import numpy as np
import pydantic
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator, model_validator

from posesynth.data import validate
from posesynth.util.atomic import write_bytes_atomic, write_synced
from posesynth.util.outputs import (
    check_output,
    fsync_dir,
    move_into_place,
    output_lock,
    remove_path,
    stale_partials,
    temporary_name,
)

FORMAT_NAME = "posesynth"
FORMAT_VERSION = 1
MANIFEST_NAME = "dataset.json"
SHARDS_DIR = "shards"

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# bool, signed/unsigned integers, floats, complex, byte strings, unicode strings: all of them
# round-trip through .npy without pickling.
_DTYPE_KINDS = "biufcSU"
_HASH_CHUNK = 1 << 20
#: Largest ``dataset.json`` read (a manifest holds no per-sample data: 1 M shards fit).
MAX_MANIFEST_BYTES = 256 << 20


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def shard_dir_name(index: int) -> str:
    """Folder name of shard ``index`` inside ``shards/`` (``000042``)."""
    return f"{index:06d}"


def _shard_file(root: Path, index: int, name: str) -> Path:
    return root / SHARDS_DIR / shard_dir_name(index) / f"{name}.npy"


def _check_array_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or name in (".", ".."):
        raise ValueError(
            f"array name {name!r}: expected letters, digits, '_', '.', '-' (a valid file name, "
            "at most 128 characters, not starting with '.' or '-')"
        )
    return name


def _check_dtype(dtype: np.dtype, what: str) -> np.dtype:
    if dtype.kind not in _DTYPE_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(
            f"{what}: dtype {dtype} cannot be stored; expected bool, integer, float, complex or "
            "string arrays (no object or structured dtypes)"
        )
    return dtype


def _jsonable(value: Any, where: str) -> Any:
    """Return ``value`` as plain JSON types (numpy scalars/arrays and tuples converted).

    Raises ``ValueError`` naming the key path of anything that JSON cannot hold exactly.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            raise ValueError(f"{where}: {f} cannot be written to JSON; use null or a finite number")
        return f
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist(), where)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: keys must be strings, got {key!r}")
            out[key] = _jsonable(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise ValueError(
        f"{where}: {type(value).__name__} cannot be written to JSON; convert it to str, number, list or dict first"
    )


def _manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    text = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=True, allow_nan=False)
    return (text + "\n").encode("ascii")


def _fsync_dir(path: Path) -> None:
    """Flush a directory entry to disk where the platform allows it."""
    fsync_dir(path)


class _HashingWriter:
    """File-like object for ``np.save`` that writes through and hashes what passes."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.sha256.update(data)
        return self._raw.write(data)


def check_regular_file(path: Path) -> os.stat_result:
    """``os.stat(path)``, or ``ValueError`` unless ``path`` is a regular file (a FIFO would
    block the reader forever, a device would never end: reliability audit F22)."""
    return validate.check_regular_file(path, missing="missing shard file")


def _sha256_file(path: Path) -> str:
    check_regular_file(path)
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ArraySpec:
    """Dtype and total shape ``(samples, *trailing)`` of one array of a store."""

    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def trailing(self) -> tuple[int, ...]:
        return self.shape[1:]


@dataclass(frozen=True)
class ShardInfo:
    """One shard: its index, its sample range ``[start, stop)`` and its files' SHA-256."""

    index: int
    samples: int
    start: int
    files: Mapping[str, str]

    @property
    def stop(self) -> int:
        return self.start + self.samples


# --------------------------------------------------------------------------------------------
# writing
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
        _check_array_name(name)
        arr = np.ascontiguousarray(arrays[name])
        _check_dtype(arr.dtype, f"array '{name}'")
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


def _save_shard(shard_dir: Path, prepared: Mapping[str, np.ndarray]) -> dict[str, str]:
    """Write each array as ``shard_dir/<name>.npy`` (fsynced); return ``{name: sha256}``.

    ``shard_dir`` must not exist (its parent must). On any failure (a full disk, an
    interrupt) ``shard_dir`` is removed again, so no half-written shard is left behind.
    """
    shard_dir.mkdir()
    try:
        files: dict[str, str] = {}
        for name, arr in prepared.items():
            hashing: list[_HashingWriter] = []

            def save(fh: BinaryIO, arr: np.ndarray = arr, out: list[_HashingWriter] = hashing) -> None:
                out.append(_HashingWriter(fh))
                np.save(out[0], arr, allow_pickle=False)

            write_synced(shard_dir / f"{name}.npy", save)
            files[name] = hashing[0].sha256.hexdigest()
        _fsync_dir(shard_dir)
    except BaseException:
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


def write_shard_files(shard_dir: Path | str, arrays: Mapping[str, np.ndarray]) -> WrittenShard:
    """Write one shard's arrays into the new folder ``shard_dir`` as raw ``.npy`` files.

    The same bytes as :meth:`StoreWriter.write_shard` writes. ``shard_dir`` must not exist;
    on failure it is removed (see :func:`prepare_shard` for the checks).
    """
    prepared, n = prepare_shard(arrays)
    files = _save_shard(Path(shard_dir), prepared)
    specs = {name: ArraySpec(arr.dtype, arr.shape) for name, arr in prepared.items()}
    return WrittenShard(n, files, specs)


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
        file = _shard_file(Path(root), index, name)
        try:
            got = _sha256_file(file)
        except OSError as exc:
            return f"{file}: cannot read ({exc.strerror or exc})"
        if got != digest:
            return f"{file}: checksum mismatch (expected sha256 {digest[:16]}..., got {got[:16]}...)"
    return None


def build_manifest(
    meta: Mapping[str, Any],
    specs: Mapping[str, ArraySpec],
    shards: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The ``dataset.json`` document of a store.

    Args:
        meta: JSON-compatible meta (already passed through the JSON check).
        specs: ``{name: ArraySpec}`` of any shard (only dtype and trailing shape are used).
        shards: ``[{"index": i, "samples": n, "files": {name: sha256}}]`` in index order.
    """
    samples = sum(int(entry["samples"]) for entry in shards)
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "meta": meta,
        "arrays": {name: {"dtype": spec.dtype.str, "shape": [samples, *spec.trailing]} for name, spec in specs.items()},
        "shards": [{"index": int(e["index"]), "samples": int(e["samples"]), "files": dict(e["files"])} for e in shards],
        "samples": samples,
    }


def write_json_atomic(file: Path, document: Mapping[str, Any]) -> None:
    """Write ``document`` (sorted keys, ASCII) to ``file`` via a fsynced temporary + rename."""
    write_bytes_atomic(file, _manifest_bytes(document))


def write_manifest(root: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``root/dataset.json`` atomically and flush ``root`` and its shards to disk."""
    write_json_atomic(root / MANIFEST_NAME, manifest)
    _fsync_dir(root / SHARDS_DIR)
    _fsync_dir(root)


def meta_to_json(meta: Mapping[str, Any]) -> dict[str, Any]:
    """``meta`` as plain JSON types, as a store's manifest holds it (see :class:`StoreWriter`)."""
    return _jsonable(dict(meta), "meta")


def check_replaceable(path: Path | str, overwrite: bool) -> None:
    """Raise ``ValueError`` if ``path`` exists and may not be replaced: without
    ``overwrite``, when it is a file, or when it is neither a posesynth store nor an empty
    folder (the output policy of :mod:`posesynth.util.outputs`)."""
    _check_replaceable(Path(path), overwrite)


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
        self.meta = _jsonable(dict(meta), "meta")
        _check_replaceable(self.path, self.overwrite)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # the output policy (posesynth.util.outputs): locked from here to commit or abort,
        # stale temporaries of dead writers removed
        self._lock = contextlib.ExitStack()
        self._lock.enter_context(output_lock(self.path))
        try:
            for stale in stale_partials(self.path):
                remove_path(stale)
            _check_replaceable(self.path, self.overwrite)
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
        files = _save_shard(shard_dir, prepared)
        self._shards.append({"index": index, "samples": n, "files": files})
        self._samples += n

    def commit(self) -> Path:
        """Write ``dataset.json`` and move the store to ``path``; return ``path``.

        The manifest is written to a temporary file, fsynced and renamed into place; then the
        temporary directory is renamed to ``path`` (an existing store there is replaced only
        when ``overwrite`` was given).

        Raises:
            ValueError: no shard was written, or ``path`` appeared meanwhile and may not be
                replaced.
        """
        self._check_open()
        if self._specs is None:
            raise ValueError(f"{self.path}: nothing to commit, write at least one shard first")
        commit_store(self.tmp_path, self.path, self.meta, self._specs, self._shards, self.overwrite)
        self._committed = self.path
        self._lock.close()
        return self.path

    def abort(self) -> None:
        """Remove the temporary directory; nothing is left at ``path`` or beside it."""
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


def _is_store_or_empty_dir(path: Path) -> bool:
    return path.is_dir() and ((path / MANIFEST_NAME).is_file() or not any(path.iterdir()))


def why_not_replaceable(path: Path) -> str | None:
    """Why the existing ``path`` may not be replaced by a store (None: it may, with
    ``overwrite``): only a posesynth store or an empty folder is ever replaced."""
    if path.is_symlink() or not _is_store_or_empty_dir(path):
        return f"exists and is not a posesynth data set (no {MANIFEST_NAME})"
    return None


def _check_replaceable(path: Path, overwrite: bool) -> None:
    check_output(path, kind="dir", overwrite=overwrite, replaceable=why_not_replaceable)


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
    """Write ``folder/dataset.json`` (see :func:`build_manifest`) atomically and flush the
    folder: after this, ``folder`` is a complete store."""
    write_manifest(folder, build_manifest(meta, specs, shards))


def publish_store(folder: Path, out: Path, overwrite: bool) -> Path:
    """Rename the complete store ``folder`` onto ``out``: an existing store or empty folder
    there is replaced only with ``overwrite``; anything else is refused."""
    _check_replaceable(out, overwrite)
    move_into_place(folder, out)  # replaceable: checked on the line above
    return out


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


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------


class Store:
    """A posesynth store opened for reading (see :func:`open_store`).

    Attributes:
        path: the store's directory.
        meta: the manifest's ``meta`` dict.
        samples: total number of samples.
        arrays: ``{name: ArraySpec}`` with the total shape of each array.
        shards: the shards in order, as :class:`ShardInfo`.
    """

    def __init__(self, path: Path, manifest: Manifest | Mapping[str, Any], checksums: bool = True) -> None:
        if not isinstance(manifest, Manifest):
            manifest = parse_manifest(manifest, path / MANIFEST_NAME)
        self.path = path
        self.manifest = manifest.model_dump()
        self.format_version: int = manifest.format_version
        self.meta: dict[str, Any] = self.manifest["meta"]
        self.samples: int = manifest.samples
        self.arrays: dict[str, ArraySpec] = {
            name: ArraySpec(np.dtype(spec.dtype), tuple(spec.shape)) for name, spec in sorted(manifest.arrays.items())
        }
        shards: list[ShardInfo] = []
        start = 0
        for entry in manifest.shards:
            shards.append(ShardInfo(entry.index, entry.samples, start, dict(entry.files)))
            start += entry.samples
        self.shards: tuple[ShardInfo, ...] = tuple(shards)
        #: whether each shard file's checksum is checked the first time it is read
        self.checksums = checksums
        self._starts = np.array([s.start for s in shards], dtype=np.int64)
        self._maps: dict[tuple[int, str], np.ndarray] = {}  # memory maps opened so far

    def __len__(self) -> int:
        return self.samples

    def __repr__(self) -> str:
        arrays = ", ".join(f"{k}{v.shape}" for k, v in self.arrays.items())
        return f"Store({str(self.path)!r}, samples={self.samples}, shards={len(self.shards)}, {arrays})"

    @property
    def array_names(self) -> tuple[str, ...]:
        """Names of the stored arrays, sorted."""
        return tuple(self.arrays)

    def shard_path(self, index: int, name: str) -> Path:
        """Path of array ``name`` in shard ``index``."""
        self._spec(name)
        return _shard_file(self.path, index, name)

    def read(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Samples ``[start, stop)`` of array ``name``, shape ``(stop - start, *trailing)``.

        ``start``/``stop`` follow Python slice rules (negative values count from the end, out of
        range values are clipped). A range inside one shard is returned as a read-only memory
        map (no copy); a range spanning shards is concatenated (only that range is read).
        """
        spec = self._spec(name)
        lo, hi, _ = slice(start, stop).indices(self.samples)
        if hi <= lo or not self.shards:
            return np.empty((0, *spec.trailing), dtype=spec.dtype)
        first = int(np.searchsorted(self._starts, lo, side="right")) - 1
        parts: list[np.ndarray] = []
        for shard in self.shards[first:]:
            if shard.start >= hi:
                break
            arr = self._load(shard.index, name)
            first_row, stop_row = max(lo, shard.start), min(hi, shard.stop)
            parts.append(arr[first_row - shard.start : stop_row - shard.start])
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    def release(self, index: int) -> None:
        """Drop the kept memory maps of shard ``index``, so the pages read from it leave this
        process's resident memory (streamed reads of large stores); reading it again maps it
        again."""
        for name in self.arrays:
            self._maps.pop((index, name), None)

    def iter_shards(self, names: Sequence[str] | None = None) -> Iterator[dict[str, np.ndarray]]:
        """Yield, shard by shard in order, ``{name: memory-mapped (n_shard, ...) array}``.

        ``names`` selects arrays (default: all). Pair with :attr:`shards` for sample ranges.
        """
        selected = self.array_names if names is None else tuple(names)
        for name in selected:
            self._spec(name)
        for shard in self.shards:
            yield {name: self._load(shard.index, name) for name in selected}

    def verify(self) -> None:
        """Check every shard file's SHA-256 against the manifest (all of them, now).

        Raises:
            ValueError: ``<file>: checksum mismatch (expected sha256 ..., got ...)``.
        """
        for shard in self.shards:
            for name in sorted(shard.files):
                self._check_file(shard.index, name)

    def _check_file(self, index: int, name: str) -> None:
        """Raise ``ValueError`` unless shard ``index``'s file of ``name`` has its recorded SHA-256."""
        expected = self.shards[index].files[name]
        file = _shard_file(self.path, index, name)
        try:
            got = _sha256_file(file)
        except OSError as exc:
            raise ValueError(f"{file}: cannot read ({exc.strerror or exc})") from exc
        if got != expected:
            raise ValueError(
                f"{file}: checksum mismatch (expected sha256 {expected[:16]}..., "
                f"got {got[:16]}...); the file was modified or corrupted"
            )

    # -- internals ----------------------------------------------------------------------------

    def _spec(self, name: str) -> ArraySpec:
        try:
            return self.arrays[name]
        except KeyError:
            raise ValueError(f"{self.path}: no array '{name}'; it holds {list(self.arrays)}") from None

    def _load(self, index: int, name: str) -> np.ndarray:
        cached = self._maps.get((index, name))
        if cached is not None:
            return cached
        file = _shard_file(self.path, index, name)
        spec = self.arrays[name]
        shape = (self.shards[index].samples, *spec.trailing)
        if math.prod(shape) == 0:
            return np.empty(shape, dtype=spec.dtype)
        if self.checksums:  # once per file: the memory map is kept
            self._check_file(index, name)
        else:
            check_regular_file(file)
        try:
            arr = np.load(file, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{file}: cannot read ({exc})") from exc
        if arr.shape != shape or arr.dtype != spec.dtype:
            raise ValueError(f"{file}: expected {spec.dtype.str} {shape}, got {arr.dtype.str} {arr.shape}")
        self._maps[(index, name)] = arr
        return arr


def open_store(path: Path | str, *, checksums: bool = True) -> Store:
    """Open the posesynth store at ``path`` for reading.

    Validates the manifest and every shard file's ``.npy`` header and size (no data is read).
    With ``checksums`` (the default), every shard file's SHA-256 is checked the first time
    it is read (:meth:`Store.read`, :meth:`Store.iter_shards`); ``checksums=False`` skips that
    for trusted hot loops (a store this process just wrote).

    Raises:
        ValueError: naming the file and field, e.g.
            ``posesynth-data/dataset.json: missing field 'shards'``.
    """
    root = Path(path)
    manifest_path = root / MANIFEST_NAME
    if not root.exists():
        raise ValueError(f"{root}: no such data set (the path does not exist)")
    if not root.is_dir():
        raise ValueError(f"{root}: not a posesynth data set (expected a directory)")
    if not os.path.lexists(manifest_path):
        raise ValueError(f"{manifest_path}: missing; {root} is not a posesynth data set")
    size = check_regular_file(manifest_path).st_size
    if size > MAX_MANIFEST_BYTES:
        raise ValueError(f"{manifest_path}: {size} bytes, more than a manifest holds (limit {MAX_MANIFEST_BYTES})")
    try:
        text = manifest_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{manifest_path}: cannot read ({exc})") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{manifest_path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    except RecursionError:
        raise ValueError(f"{manifest_path}: not a manifest (JSON nested too deeply)") from None
    manifest = parse_manifest(document, manifest_path)
    store = Store(root, manifest, checksums=checksums)
    for shard in store.shards:
        for name, spec in store.arrays.items():
            _check_npy_header(_shard_file(root, shard.index, name), spec.dtype, (shard.samples, *spec.trailing))
    return store


class ArrayEntry(BaseModel):
    """``arrays.<name>`` of a manifest: dtype string and total shape ``[samples, ...]``."""

    model_config = ConfigDict(frozen=True)

    dtype: StrictStr
    shape: Annotated[list[Annotated[StrictInt, Field(ge=0)]], Field(min_length=1)]

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, value: str) -> str:
        try:
            dtype = np.dtype(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a numpy dtype string") from None
        _check_dtype(dtype, repr(value))
        return value


class ShardEntry(BaseModel):
    """``shards[i]`` of a manifest: its index, sample count and ``{array: sha256 hex}``."""

    model_config = ConfigDict(frozen=True)

    index: StrictInt
    samples: Annotated[StrictInt, Field(ge=1)]
    files: dict[str, Annotated[StrictStr, Field(pattern=_SHA256_RE.pattern)]]


class Manifest(BaseModel):
    """The ``dataset.json`` of a store (see the module docstring), checked as a whole.

    Field types are checked by pydantic; :meth:`_consistent` checks what ties the fields
    together (version, array names, shapes against ``samples``, shard indices and files).
    """

    model_config = ConfigDict(frozen=True)

    format: Literal["posesynth"]
    format_version: Annotated[StrictInt, Field(ge=1)]
    meta: dict[str, Any]
    arrays: dict[str, ArrayEntry]
    shards: list[ShardEntry]
    samples: Annotated[StrictInt, Field(ge=0)]

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if self.format_version > FORMAT_VERSION:
            raise ValueError(
                f"field 'format_version' is {self.format_version}, newer than this posesynth "
                f"reads ({FORMAT_VERSION}); upgrade posesynth"
            )
        for name, spec in self.arrays.items():
            try:
                _check_array_name(name)
            except ValueError as exc:
                raise ValueError(f"field 'arrays.{name}': {exc}") from None
            if spec.shape[0] != self.samples:
                raise ValueError(
                    f"field 'arrays.{name}.shape' starts with {spec.shape[0]}, expected samples = {self.samples}"
                )
        for i, entry in enumerate(self.shards):
            if entry.index != i:
                raise ValueError(f"field 'shards[{i}].index' is {entry.index!r}, expected {i}")
            if set(entry.files) != set(self.arrays):
                raise ValueError(
                    f"field 'shards[{i}].files' lists {sorted(entry.files)}, expected the arrays {sorted(self.arrays)}"
                )
        total = sum(entry.samples for entry in self.shards)
        if total != self.samples:
            raise ValueError(f"field 'samples' is {self.samples}, but the shards hold {total}")
        return self


def _loc(parts: Sequence[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_manifest(document: Any, where: Path) -> Manifest:
    """``document`` (parsed JSON) as a :class:`Manifest`, or one ``ValueError`` naming
    ``where`` and the first field that is wrong."""
    if not isinstance(document, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(document).__name__}")
    try:
        return Manifest.model_validate(document)
    except pydantic.ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = _loc(err.get("loc", ()))
        if err["type"] == "missing":
            raise ValueError(f"{where}: missing field '{field}'") from None
        message = str(err.get("msg", "invalid"))
        if err["type"] == "value_error" and not field:  # from _consistent: a full sentence
            raise ValueError(f"{where}: {message.removeprefix('Value error, ')}") from None
        message = message.removeprefix("Value error, ")
        shown = repr(err.get("input"))
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise ValueError(f"{where}: field '{field}' is {shown}: {message}") from None


def _check_npy_header(file: Path, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    """Check that ``file`` is a complete C-order ``.npy`` of ``dtype`` and ``shape``."""
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
