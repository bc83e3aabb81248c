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

The package, by job:

- :mod:`~posesynth.data.store.manifest`: the layout's names, the format version, the
  pydantic :class:`Manifest`, writing ``dataset.json``;
- :mod:`~posesynth.data.store.writer`: the one writer (:func:`write_shard_files`,
  :func:`commit_store`) behind both :class:`StoreWriter` (in memory) and the sharded jobs
  (:mod:`posesynth.jobs.shards`);
- :mod:`~posesynth.data.store.reader`: :func:`open_store` and :class:`Store`;
- :mod:`~posesynth.data.store.verify`: checksums, ``.npy`` headers, regular files.

Every name is importable from ``posesynth.data.store``.

Properties:

- **Deterministic.** The same arrays and meta give byte-identical files: raw ``.npy`` (no zip
  headers with timestamps, unlike ``np.savez``), C order, and a manifest with sorted keys, no
  timestamps and no absolute paths.
- **Atomic.** :class:`StoreWriter` writes into a sibling ``<path>.partial-<pid>-<random>``
  directory and renames it to ``path`` only in :meth:`StoreWriter.commit`; an exception
  (``KeyboardInterrupt`` included) inside its ``with`` block removes the temporary directory, so
  nothing half-written is ever at ``path``. (Sharded jobs, :mod:`posesynth.jobs.shards`, write the
  same layout through a resumable ``<path>.partial-job`` folder instead, with the same
  helpers: :func:`write_shard_files` per shard, :func:`commit_store`'s two steps at the end.)
  The output is locked while written and a temporary of a dead writer is removed by the next
  one (:mod:`posesynth.util.outputs`).
- **Lazy.** :class:`Store` reads arrays as read-only memory maps; :meth:`Store.read` copies only
  the requested slice when it spans several shards.
- **Checked.** Opening a store validates the manifest (:class:`Manifest`, a pydantic model) and
  every shard file's ``.npy`` header and size (cheap, no data read), and refuses anything
  that is not a regular file (a FIFO would hang the reader). Every file's SHA-256 is checked
  the first time it is read (``open_store(path, checksums=False)`` skips that for trusted hot
  loops); :meth:`Store.verify` checks them all at once. The writer hashes the bytes it holds
  in memory, on a second thread while it writes (:mod:`~posesynth.data.store.verify`).
  The values themselves (finite, bounded) are checked where a store becomes a data set
  (:func:`posesynth.data.formats.store_io.read_store`, by :mod:`posesynth.data.validate`).

Every problem with a store raises ``ValueError`` naming the file and the field, e.g.
``posesynth-data/dataset.json: missing field 'shards'``.
"""

from __future__ import annotations

from posesynth.data.store.manifest import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    SHARDS_DIR,
    ArrayEntry,
    ArraySpec,
    Manifest,
    ShardEntry,
    ShardInfo,
    build_manifest,
    check_array_name,
    check_dtype,
    manifest_bytes,
    meta_to_json,
    parse_manifest,
    shard_dir_name,
    shard_file,
    write_json_atomic,
    write_manifest,
)
from posesynth.data.store.reader import Store, open_store, read_manifest
from posesynth.data.store.verify import check_npy_header, check_regular_file, sha256_file, sha256_npy, shard_problem
from posesynth.data.store.writer import (
    BackgroundSync,
    StoreWriter,
    WrittenShard,
    check_replaceable,
    check_same_layout,
    commit_store,
    finish_store,
    npy_header,
    prepare_shard,
    publish_store,
    why_not_replaceable,
    write_shard_files,
    write_store,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "MAX_MANIFEST_BYTES",
    "SHARDS_DIR",
    "ArrayEntry",
    "ArraySpec",
    "BackgroundSync",
    "Manifest",
    "ShardEntry",
    "ShardInfo",
    "Store",
    "StoreWriter",
    "WrittenShard",
    "build_manifest",
    "check_array_name",
    "check_dtype",
    "check_npy_header",
    "check_regular_file",
    "check_replaceable",
    "check_same_layout",
    "commit_store",
    "finish_store",
    "manifest_bytes",
    "meta_to_json",
    "npy_header",
    "open_store",
    "parse_manifest",
    "prepare_shard",
    "publish_store",
    "read_manifest",
    "sha256_file",
    "sha256_npy",
    "shard_dir_name",
    "shard_file",
    "shard_problem",
    "why_not_replaceable",
    "write_json_atomic",
    "write_manifest",
    "write_shard_files",
    "write_store",
]
