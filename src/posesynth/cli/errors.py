"""Turn expected failures into one readable line on stderr and a non-zero exit code.

Bad input (a missing file, a corrupt data set, an invalid configuration) is the user's to fix,
so it gets ``error: <message>`` and exit code 1, never a traceback; Ctrl-C gets exit code 130.
Anything else is a bug and keeps its traceback. Set ``POSESYNTH_DEBUG=1`` to get the traceback
of a reported error too (a ``ValueError`` from deep inside NumPy may be a bug after all).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import NoReturn

import pydantic
import typer

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Exceptions that mean "bad input", not "bug". ``FileNotFoundError`` and ``FileExistsError``
#: are ``OSError``s; pydantic's ``ValidationError`` is a ``ValueError`` but formatted apart.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, pydantic.ValidationError)


def one_line(text: str) -> str:
    """Collapse ``text`` onto one line (newlines and runs of spaces become single spaces)."""
    return " ".join(text.split())


def error_message(exc: BaseException) -> str:
    """A one-line, human-readable description of ``exc``."""
    if isinstance(exc, pydantic.ValidationError):
        problems = []
        for err in exc.errors():
            where = ".".join(str(part) for part in err.get("loc", ())) or "(config)"
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        return one_line(f"invalid {exc.title}: " + "; ".join(problems))
    if isinstance(exc, OSError) and exc.strerror:
        target = exc.filename if exc.filename is not None else ""
        if exc.filename2 is not None:
            target = f"{target} -> {exc.filename2}"
        return one_line(f"{exc.strerror}: {target}" if target != "" else exc.strerror)
    text = one_line(str(exc))
    return text or type(exc).__name__


def print_error(message: str) -> None:
    """Write ``error: <message>`` as one line on stderr (no markup, no colour)."""
    sys.stderr.write(f"error: {one_line(message)}\n")
    sys.stderr.flush()


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print ``error: <message>`` and exit with ``code``."""
    print_error(message)
    raise typer.Exit(code)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Run a command body; report ``USER_ERRORS`` and Ctrl-C as one line and exit non-zero.

    Usage::

        with user_errors():
            store = open_store(path)
    """
    try:
        yield
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)
    except USER_ERRORS as exc:
        if os.environ.get("POSESYNTH_DEBUG"):
            raise
        fail(error_message(exc))
