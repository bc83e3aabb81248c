"""The store's layout and its manifest ``dataset.json``: names, format version, the pydantic model.

Everything that says where a file of a store lives or what ``dataset.json`` holds is here;
:mod:`~posesynth.data.store.writer` and :mod:`~posesynth.data.store.reader` only use it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pydantic
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator, model_validator

from posesynth.util.atomic import write_bytes_atomic
from posesynth.util.outputs import fsync_dir

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "MAX_MANIFEST_BYTES",
    "SHARDS_DIR",
    "ArrayEntry",
    "ArraySpec",
    "Manifest",
    "ShardEntry",
    "ShardInfo",
    "build_manifest",
    "check_array_name",
    "check_dtype",
    "manifest_bytes",
    "meta_to_json",
    "parse_manifest",
    "shard_dir_name",
    "shard_file",
    "write_json_atomic",
    "write_manifest",
]

FORMAT_NAME = "posesynth"
FORMAT_VERSION = 1
MANIFEST_NAME = "dataset.json"
SHARDS_DIR = "shards"
#: Largest ``dataset.json`` read (a manifest holds no per-sample data: 1 M shards fit).
MAX_MANIFEST_BYTES = 256 << 20

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# bool, signed/unsigned integers, floats, complex, byte strings, unicode strings: all of them
# round-trip through .npy without pickling.
_DTYPE_KINDS = "biufcSU"


def shard_dir_name(index: int) -> str:
    """Folder name of shard ``index`` inside ``shards/`` (``000042``)."""
    return f"{index:06d}"


def shard_file(root: Path, index: int, name: str) -> Path:
    """Path of array ``name`` of shard ``index`` in the store (or partial job) at ``root``:
    always ``shards/{index:06d}/{name}.npy``, so the manifest does not store it."""
    return root / SHARDS_DIR / shard_dir_name(index) / f"{name}.npy"


def check_array_name(name: object) -> str:
    """``name`` if it can name a store array (a file name), else ``ValueError``."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name in (".", ".."):
        raise ValueError(
            f"array name {name!r}: expected letters, digits, '_', '.', '-' (a valid file name, "
            "at most 128 characters, not starting with '.' or '-')"
        )
    return name


def check_dtype(dtype: np.dtype, what: str) -> np.dtype:
    """``dtype`` if a store can hold it without pickling, else ``ValueError`` naming ``what``."""
    if dtype.kind not in _DTYPE_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(
            f"{what}: dtype {dtype} cannot be stored; expected bool, integer, float, complex or "
            "string arrays (no object or structured dtypes)"
        )
    return dtype


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
# meta as JSON
# --------------------------------------------------------------------------------------------


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


def meta_to_json(meta: Mapping[str, Any]) -> dict[str, Any]:
    """``meta`` as plain JSON types, as a store's manifest holds it (numpy scalars and arrays
    converted; NaN/inf and other objects raise ``ValueError`` naming the key path)."""
    return _jsonable(dict(meta), "meta")


# --------------------------------------------------------------------------------------------
# writing the manifest
# --------------------------------------------------------------------------------------------


def build_manifest(
    meta: Mapping[str, Any],
    specs: Mapping[str, ArraySpec],
    shards: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The ``dataset.json`` document of a store.

    Args:
        meta: JSON-compatible meta (already passed through :func:`meta_to_json`).
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


def manifest_bytes(document: Mapping[str, Any]) -> bytes:
    """``document`` as the store writes JSON: sorted keys, two-space indent, ASCII, a final
    newline, no NaN (the same document always gives the same bytes)."""
    text = json.dumps(document, sort_keys=True, indent=2, ensure_ascii=True, allow_nan=False)
    return (text + "\n").encode("ascii")


def write_json_atomic(file: Path, document: Mapping[str, Any]) -> None:
    """Write ``document`` (see :func:`manifest_bytes`) to ``file`` via a fsynced temporary + rename."""
    write_bytes_atomic(file, manifest_bytes(document))


def write_manifest(root: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``root/dataset.json`` atomically and flush ``root`` and its shards to disk."""
    write_json_atomic(root / MANIFEST_NAME, manifest)
    fsync_dir(root / SHARDS_DIR)
    fsync_dir(root)


# --------------------------------------------------------------------------------------------
# the manifest model
# --------------------------------------------------------------------------------------------


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
        check_dtype(dtype, repr(value))
        return value


class ShardEntry(BaseModel):
    """``shards[i]`` of a manifest: its index, sample count and ``{array: sha256 hex}``."""

    model_config = ConfigDict(frozen=True)

    index: StrictInt
    samples: Annotated[StrictInt, Field(ge=1)]
    files: dict[str, Annotated[StrictStr, Field(pattern=_SHA256_RE.pattern)]]


class Manifest(BaseModel):
    """The ``dataset.json`` of a store (see :mod:`posesynth.data.store`), checked as a whole.

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
                check_array_name(name)
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
