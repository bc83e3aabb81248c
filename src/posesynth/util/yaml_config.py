"""Configuration files: YAML mappings validated by pydantic, errors naming file, line and field.

Every job's configuration (``generate``, ``augment``'s motions and cameras, the lifter's
training and noise) goes through :func:`load_model`, so all of them report a bad value the
same way: ``FILE, line N: field 'a.b': what was expected``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


#: Largest configuration file read (they are a few KB).
MAX_CONFIG_BYTES = 16 << 20


def read_mapping(path: Path | str, what: str = "config") -> tuple[dict[str, Any], yaml.Node | None]:
    """The top-level mapping of YAML file ``path`` and its node tree (for line numbers).

    Raises ``ValueError`` naming the file (and the line of a syntax error) when it cannot be
    read, is not YAML, or is not a mapping. An empty file is an empty mapping.
    """
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block forever
            raise ValueError(f"{path}: the {what} file is not a regular file (a FIFO or device)")
        if st.st_size > MAX_CONFIG_BYTES:
            raise ValueError(f"{path}: {st.st_size} bytes, more than a {what} file holds ({MAX_CONFIG_BYTES})")
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the {what} file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: the {what} file is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except RecursionError:
        raise ValueError(f"{path}: not a {what} file (YAML nested too deeply)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"{where}: not valid YAML ({problem})") from None
    if data is not None and not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of {what} settings at the top level, got {type(data).__name__}")
    return dict(data or {}), node


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at a pydantic error location (the deepest one found)."""
    line = None
    for key in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


def describe(err: ValidationError, source: str, node: yaml.Node | None = None) -> str:
    """One line for the first error of ``err``: source, line (if known), field, message, value."""
    first = err.errors()[0]
    loc = tuple(first["loc"])
    line = line_of(node, loc)
    where = f"{source}, line {line}" if line else source
    field = ".".join(str(p) for p in loc) or "(top level)"
    value = first.get("input")
    got = "" if isinstance(value, (dict, list)) or first["type"] == "missing" else f", got {value!r}"
    return f"{where}: field '{field}': {first['msg']}{got}"


def load_model(
    model: type[Model],
    path: Path | str | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    what: str = "config",
    data: Mapping[str, Any] | None = None,
) -> Model:
    """A validated ``model`` from YAML file ``path`` (or ``data``) updated by ``overrides``.

    Overrides whose value is None are ignored. Errors raise ``ValueError`` (see :func:`describe`).
    """
    node = None
    source = what
    values: dict[str, Any] = dict(data or {})
    if path is not None:
        values, node = read_mapping(path, what)
        source = str(path)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return model(**values)
    except ValidationError as err:
        raise ValueError(describe(err, source, node)) from None
