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
import warnings
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

#: Exceptions that bad input reaches too, deep inside Python, NumPy, OpenCV or torch (a number
#: too large for an integer, JSON nested 200,000 deep, an array of 7 TiB, a field of the wrong
#: type in a file): reported as one line, with what kind of problem it is.
RESOURCE_ERRORS: tuple[type[BaseException], ...] = (
    OverflowError,
    RecursionError,
    MemoryError,
    TypeError,
    UnicodeError,
    LookupError,
)

_KIND = {
    OverflowError: "a number is too large",
    RecursionError: "the input is nested too deeply",
    MemoryError: "not enough memory for this request",
    UnicodeError: "not valid text",
    TypeError: "a value of the wrong type",
    LookupError: "a missing or invalid entry",
}


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` is bad input (reported as one line) rather than a bug.

    Besides :data:`USER_ERRORS` and :data:`RESOURCE_ERRORS`: OpenCV's ``cv2.error`` (an image
    too large or unreadable) and torch's allocation failures (``RuntimeError`` on a network
    too large for the memory), recognised without importing either library.
    """
    if isinstance(exc, USER_ERRORS + RESOURCE_ERRORS):
        return True
    cls = type(exc)
    if cls.__module__.startswith("cv2") and cls.__name__ == "error":
        return True
    return isinstance(exc, RuntimeError) and (
        cls.__name__ == "OutOfMemoryError"
        or any(s in str(exc) for s in ("alloc", "not enough memory", "out of memory"))
    )


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
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply (more levels than Python's recursion limit)"
    text = one_line(str(exc))
    if isinstance(exc, USER_ERRORS):
        return text or type(exc).__name__
    kind = next((k for cls, k in _KIND.items() if isinstance(exc, cls)), None)
    if kind is None:  # cv2.error, torch allocation failures
        kind = (
            "cannot process the input"
            if type(exc).__module__.startswith("cv2")
            else ("not enough memory for this request")
        )
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{kind} ({type(exc).__name__}: {text})" if text else kind


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

    Warnings raised meanwhile are held back: shown after the body succeeds (or fails with a
    bug), dropped when the command ends on an error line, so that line stays alone.
    """
    debug = bool(os.environ.get("POSESYNTH_DEBUG"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            yield
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)
        except typer.Exit:
            raise
        except Exception as exc:
            if debug or not is_user_error(exc):
                _replay(caught)
                raise
            fail(error_message(exc))
    _replay(caught)


def _replay(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)
