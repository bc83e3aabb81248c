"""Where output goes: machine-readable results on stdout, everything for people on stderr.

``--json`` commands print exactly one JSON document on stdout (:func:`print_json`) and nothing
else there; progress bars, tables and warnings use :func:`stderr_console`.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Iterator, Mapping
from pathlib import PurePath
from typing import Any

import numpy as np
from rich.console import Console


def stderr_console() -> Console:
    """A rich console on stderr (made per call, so it follows the current ``sys.stderr``)."""
    return Console(stderr=True, highlight=False)


def stdout_console() -> Console:
    """A rich console on stdout, for commands whose result is a human-readable report."""
    return Console(highlight=False)


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: numpy scalars/arrays, tuples and paths converted,
    non-finite floats written as ``null`` (JSON has no NaN)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [to_jsonable(v) for v in items]
    if hasattr(value, "model_dump"):  # pydantic models
        return to_jsonable(value.model_dump(mode="json"))
    return str(value)


def print_json(document: Mapping[str, Any]) -> None:
    """Print ``document`` as one JSON document on stdout."""
    sys.stdout.write(json.dumps(to_jsonable(document), indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def stdout_to_stderr(enabled: bool = True) -> Iterator[None]:
    """Send stray ``print`` output to stderr while a ``--json`` command runs library code."""
    if not enabled:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield
