"""Reading a store: :func:`open_store` checks the manifest and every file's header, :class:`Store`
maps the arrays lazily and checks each file's SHA-256 the first time it is read."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from posesynth.data.store.manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    ArraySpec,
    Manifest,
    ShardInfo,
    parse_manifest,
    shard_file,
)
from posesynth.data.store.verify import check_npy_header, check_regular_file, sha256_file

__all__ = ["Store", "open_store", "read_manifest"]


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
        return shard_file(self.path, index, name)

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
        file = shard_file(self.path, index, name)
        try:
            got = sha256_file(file)
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
        file = shard_file(self.path, index, name)
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


def read_manifest(root: Path) -> Manifest:
    """The checked manifest of the store at ``root`` (see :func:`open_store` for the errors)."""
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
    return parse_manifest(document, manifest_path)


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
    store = Store(root, read_manifest(root), checksums=checksums)
    for shard in store.shards:
        for name, spec in store.arrays.items():
            check_npy_header(shard_file(root, shard.index, name), spec.dtype, (shard.samples, *spec.trailing))
    return store
