"""Where output goes: machine-readable results on stdout, everything for people on stderr.

``--json`` commands print exactly one JSON document on stdout (:func:`print_json`) and nothing
else there; progress bars, tables and warnings use :func:`stderr_console`.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from rich.console import Console

from posesynth.util.jsonable import to_jsonable


def stderr_console() -> Console:
    """A rich console on stderr (made per call, so it follows the current ``sys.stderr``)."""
    return Console(stderr=True, highlight=False)


def stdout_console() -> Console:
    """A rich console on stdout, for commands whose result is a human-readable report."""
    return Console(highlight=False)


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
