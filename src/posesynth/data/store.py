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
  same layout through a resumable ``<path>.partial-job`` folder instead, with these helpers:
  :func:`write_shard_files`, :func:`build_manifest`, :func:`write_manifest`.)
- **Lazy.** :class:`Store` reads arrays as read-only memory maps; :meth:`Store.read` copies only
  the requested slice when it spans several shards.
- **Checked.** Opening a store validates the manifest and every shard file's ``.npy`` header and
  size (cheap, no data read); :meth:`Store.verify` also checks the SHA-256 of every file.

Every problem with a store raises ``ValueError`` naming the file and the field, e.g.
``posesynth-data/dataset.json: missing field 'shards'``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np

from posesynth.util.atomic import move_into_place

FORMAT_NAME = "posesynth"
FORMAT_VERSION = 1
MANIFEST_NAME = "dataset.json"
SHARDS_DIR = "shards"

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# bool, signed/unsigned integers, floats, complex, byte strings, unicode strings: all of them
# round-trip through .npy without pickling.
_DTYPE_KINDS = "biufcSU"
_MANIFEST_KEYS = ("format", "format_version", "meta", "arrays", "shards", "samples")
_HASH_CHUNK = 1 << 20


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
        f"{where}: {type(value).__name__} cannot be written to JSON; convert it to str, number, "
        "list or dict first"
    )


def _manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    text = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=True, allow_nan=False)
    return (text + "\n").encode("ascii")


def _fsync_dir(path: Path) -> None:
    """Flush a directory entry to disk where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _HashingWriter:
    """File-like object for ``np.save`` that writes through and hashes what passes."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.sha256.update(data)
        return self._raw.write(data)


def _sha256_file(path: Path) -> str:
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


def check_same_layout(
    first: Mapping[str, ArraySpec], specs: Mapping[str, ArraySpec], index: int
) -> None:
    """Raise ``ValueError`` unless shard ``index``'s arrays have the names, dtypes and
    trailing shapes of the first shard's (``first``)."""
    if set(specs) != set(first):
        missing = sorted(set(first) - set(specs))
        extra = sorted(set(specs) - set(first))
        raise ValueError(
            f"shard {index}: arrays must be the first shard's {sorted(first)}; "
            f"missing {missing}, unexpected {extra}"
        )
    for name, spec in specs.items():
        want = first[name]
        if spec.dtype != want.dtype:
            raise ValueError(
                f"shard {index}, array '{name}': expected dtype {want.dtype.str}, "
                f"got {spec.dtype.str}"
            )
        if spec.trailing != want.trailing:
            pattern = "(" + ", ".join(["n", *map(str, want.trailing)])
            pattern += ",)" if not want.trailing else ")"
            raise ValueError(
                f"shard {index}, array '{name}': expected shape {pattern}, got {spec.shape}"
            )


def _save_shard(shard_dir: Path, prepared: Mapping[str, np.ndarray]) -> dict[str, str]:
    """Write each array as ``shard_dir/<name>.npy`` (fsynced); return ``{name: sha256}``.

    ``shard_dir`` must not exist (its parent must). On any failure (a full disk, an
    interrupt) ``shard_dir`` is removed again, so no half-written shard is left behind.
    """
    shard_dir.mkdir()
    try:
        files: dict[str, str] = {}
        for name, arr in prepared.items():
            with open(shard_dir / f"{name}.npy", "wb") as fh:
                writer = _HashingWriter(fh)
                np.save(writer, arr, allow_pickle=False)  # type: ignore[arg-type]
                fh.flush()
                os.fsync(fh.fileno())
            files[name] = writer.sha256.hexdigest()
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
        "arrays": {
            name: {"dtype": spec.dtype.str, "shape": [samples, *spec.trailing]}
            for name, spec in specs.items()
        },
        "shards": [
            {"index": int(e["index"]), "samples": int(e["samples"]), "files": dict(e["files"])}
            for e in shards
        ],
        "samples": samples,
    }


def write_json_atomic(file: Path, document: Mapping[str, Any]) -> None:
    """Write ``document`` (sorted keys, ASCII) to ``file`` via a fsynced temporary + rename."""
    data = _manifest_bytes(document)
    tmp = file.with_name(f"{file.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, file)


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
    ``overwrite``, or when it is neither a posesynth store nor an empty folder."""
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
        token = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.tmp_path = self.path.with_name(f"{self.path.name}.partial-{token}")
        self.tmp_path.mkdir()
        (self.tmp_path / SHARDS_DIR).mkdir()
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
        manifest = build_manifest(self.meta, self._specs, self._shards)
        write_manifest(self.tmp_path, manifest)

        _check_replaceable(self.path, self.overwrite)
        move_into_place(self.tmp_path, self.path)
        _fsync_dir(self.path.parent)
        self._committed = self.path
        return self.path

    def abort(self) -> None:
        """Remove the temporary directory; nothing is left at ``path`` or beside it."""
        if self._committed is None:
            shutil.rmtree(self.tmp_path, ignore_errors=True)
        self._aborted = True

    # -- internals ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._committed is not None:
            raise ValueError(f"{self.path}: store already committed")
        if self._aborted:
            raise ValueError(f"{self.path}: store writer was aborted")


def _is_store_or_empty_dir(path: Path) -> bool:
    return path.is_dir() and ((path / MANIFEST_NAME).is_file() or not any(path.iterdir()))


def _check_replaceable(path: Path, overwrite: bool) -> None:
    if not os.path.lexists(path):
        return
    if not overwrite:
        raise ValueError(f"{path}: already exists; pass overwrite=True (--overwrite) to replace it")
    if path.is_symlink() or not _is_store_or_empty_dir(path):
        raise ValueError(
            f"{path}: exists and is not a posesynth data set (no {MANIFEST_NAME}); "
            "refusing to replace it"
        )


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

    def __init__(self, path: Path, manifest: Mapping[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        self.format_version: int = manifest["format_version"]
        self.meta: dict[str, Any] = manifest["meta"]
        self.samples: int = manifest["samples"]
        self.arrays: dict[str, ArraySpec] = {
            name: ArraySpec(np.dtype(spec["dtype"]), tuple(spec["shape"]))
            for name, spec in sorted(manifest["arrays"].items())
        }
        shards: list[ShardInfo] = []
        start = 0
        for entry in manifest["shards"]:
            shards.append(ShardInfo(entry["index"], entry["samples"], start, dict(entry["files"])))
            start += entry["samples"]
        self.shards: tuple[ShardInfo, ...] = tuple(shards)
        self._starts = np.array([s.start for s in shards], dtype=np.int64)
        self._maps: dict[tuple[int, str], np.ndarray] = {}  # memory maps opened so far

    def __len__(self) -> int:
        return self.samples

    def __repr__(self) -> str:
        arrays = ", ".join(f"{k}{v.shape}" for k, v in self.arrays.items())
        return (
            f"Store({str(self.path)!r}, samples={self.samples}, shards={len(self.shards)}, "
            f"{arrays})"
        )

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
        """Check every shard file's SHA-256 against the manifest.

        Raises:
            ValueError: ``<file>: checksum mismatch (expected sha256 ..., got ...)``.
        """
        for shard in self.shards:
            for name, expected in sorted(shard.files.items()):
                file = _shard_file(self.path, shard.index, name)
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
            raise ValueError(
                f"{self.path}: no array '{name}'; it holds {list(self.arrays)}"
            ) from None

    def _load(self, index: int, name: str) -> np.ndarray:
        cached = self._maps.get((index, name))
        if cached is not None:
            return cached
        file = _shard_file(self.path, index, name)
        spec = self.arrays[name]
        shape = (self.shards[index].samples, *spec.trailing)
        if math.prod(shape) == 0:
            return np.empty(shape, dtype=spec.dtype)
        try:
            arr = np.load(file, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{file}: cannot read ({exc})") from exc
        if arr.shape != shape or arr.dtype != spec.dtype:
            raise ValueError(
                f"{file}: expected {spec.dtype.str} {shape}, got {arr.dtype.str} {arr.shape}"
            )
        self._maps[(index, name)] = arr
        return arr


def open_store(path: Path | str) -> Store:
    """Open the posesynth store at ``path`` for reading.

    Validates the manifest and every shard file's ``.npy`` header and size (no data is read).

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
    if not manifest_path.is_file():
        raise ValueError(f"{manifest_path}: missing; {root} is not a posesynth data set")
    try:
        text = manifest_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{manifest_path}: cannot read ({exc})") from exc
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{manifest_path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    _validate_manifest(manifest, manifest_path)
    store = Store(root, manifest)
    for shard in store.shards:
        for name, spec in store.arrays.items():
            _check_npy_header(
                _shard_file(root, shard.index, name), spec.dtype, (shard.samples, *spec.trailing)
            )
    return store


def _validate_manifest(manifest: Any, where: Path) -> None:
    def fail(message: str) -> ValueError:
        return ValueError(f"{where}: {message}")

    if not isinstance(manifest, dict):
        raise fail(f"expected a JSON object, got {type(manifest).__name__}")
    for key in _MANIFEST_KEYS:
        if key not in manifest:
            raise fail(f"missing field '{key}'")
    if manifest["format"] != FORMAT_NAME:
        raise fail(f"field 'format' is {manifest['format']!r}, expected {FORMAT_NAME!r}")
    version = manifest["format_version"]
    if not _is_int(version) or version < 1:
        raise fail(f"field 'format_version' is {version!r}, expected a positive integer")
    if version > FORMAT_VERSION:
        raise fail(
            f"field 'format_version' is {version}, newer than this posesynth reads "
            f"({FORMAT_VERSION}); upgrade posesynth"
        )
    if not isinstance(manifest["meta"], dict):
        raise fail(f"field 'meta' must be an object, got {type(manifest['meta']).__name__}")
    samples = manifest["samples"]
    if not _is_int(samples) or samples < 0:
        raise fail(f"field 'samples' is {samples!r}, expected an integer >= 0")

    arrays = manifest["arrays"]
    if not isinstance(arrays, dict):
        raise fail(f"field 'arrays' must be an object, got {type(arrays).__name__}")
    for name, spec in arrays.items():
        field = f"arrays.{name}"
        try:
            _check_array_name(name)
        except ValueError as exc:
            raise fail(f"field '{field}': {exc}") from None
        if not isinstance(spec, dict):
            raise fail(f"field '{field}' must be an object, got {type(spec).__name__}")
        for key in ("dtype", "shape"):
            if key not in spec:
                raise fail(f"missing field '{field}.{key}'")
        try:
            dtype = np.dtype(spec["dtype"]) if isinstance(spec["dtype"], str) else None
        except TypeError:
            dtype = None
        if dtype is None:
            raise fail(f"field '{field}.dtype' is {spec['dtype']!r}, expected a numpy dtype string")
        try:
            _check_dtype(dtype, f"field '{field}.dtype'")
        except ValueError as exc:
            raise fail(str(exc)) from None
        shape = spec["shape"]
        if (
            not isinstance(shape, list)
            or not shape
            or not all(_is_int(d) and d >= 0 for d in shape)
        ):
            raise fail(f"field '{field}.shape' is {shape!r}, expected a list of integers >= 0")
        if shape[0] != samples:
            raise fail(
                f"field '{field}.shape' starts with {shape[0]}, expected samples = {samples}"
            )

    shards = manifest["shards"]
    if not isinstance(shards, list):
        raise fail(f"field 'shards' must be a list, got {type(shards).__name__}")
    total = 0
    for i, entry in enumerate(shards):
        field = f"shards[{i}]"
        if not isinstance(entry, dict):
            raise fail(f"field '{field}' must be an object, got {type(entry).__name__}")
        for key in ("index", "samples", "files"):
            if key not in entry:
                raise fail(f"missing field '{field}.{key}'")
        if entry["index"] != i or not _is_int(entry["index"]):
            raise fail(f"field '{field}.index' is {entry['index']!r}, expected {i}")
        n = entry["samples"]
        if not _is_int(n) or n < 1:
            raise fail(f"field '{field}.samples' is {n!r}, expected an integer >= 1")
        total += n
        files = entry["files"]
        if not isinstance(files, dict):
            raise fail(f"field '{field}.files' must be an object, got {type(files).__name__}")
        if set(files) != set(arrays):
            raise fail(
                f"field '{field}.files' lists {sorted(files)}, expected the arrays {sorted(arrays)}"
            )
        for name, digest in files.items():
            if not isinstance(digest, str) or not _SHA256_RE.match(digest):
                raise fail(
                    f"field '{field}.files.{name}' is {digest!r}, expected a sha256 hex digest"
                )
    if total != samples:
        raise fail(f"field 'samples' is {samples}, but the shards hold {total}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_npy_header(file: Path, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    """Check that ``file`` is a complete C-order ``.npy`` of ``dtype`` and ``shape``."""
    try:
        size = file.stat().st_size
        with open(file, "rb") as fh:
            try:
                major, _minor = np.lib.format.read_magic(fh)
                if major == 1:
                    got_shape, fortran, got_dtype = np.lib.format.read_array_header_1_0(fh)
                elif major in (2, 3):
                    got_shape, fortran, got_dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    raise ValueError(f"unsupported .npy version {major}")
            except ValueError as exc:
                raise ValueError(f"{file}: not a valid .npy file ({exc})") from None
            offset = fh.tell()
    except FileNotFoundError:
        raise ValueError(f"{file}: missing shard file") from None
    except OSError as exc:
        raise ValueError(f"{file}: cannot read ({exc.strerror or exc})") from exc
    if got_dtype != dtype or tuple(got_shape) != shape:
        raise ValueError(
            f"{file}: expected dtype {dtype.str} shape {shape}, "
            f"got dtype {got_dtype.str} shape {tuple(got_shape)}"
        )
    if fortran:
        raise ValueError(f"{file}: expected C order, got Fortran order")
    expected_size = offset + math.prod(shape) * dtype.itemsize
    if size != expected_size:
        raise ValueError(
            f"{file}: {size} bytes, expected {expected_size} for dtype {dtype.str} shape "
            f"{shape}; the file is {'truncated' if size < expected_size else 'too long'}"
        )
