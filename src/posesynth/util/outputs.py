"""One policy for everything a command writes (data sets, checkpoints, figures, HTML, JSON).

Every output goes through :func:`output_path` (directly, or through
:func:`posesynth.util.atomic.atomic_path`, which delegates here), so that every command:

- never replaces a folder with a file or a file with a folder;
- replaces an existing output only with ``overwrite=True`` (``--overwrite``), and never one
  of its own inputs (the same path, a file inside an input folder, or a folder holding an
  input) -- checked up front by :func:`check_output`, before any work;
- holds an exclusive lock on the output while writing it (``flock`` on the sibling lock file
  ``.<name>.lock``), so two runs into one output cannot replace each other silently;
- writes into a temporary sibling ``<name>.partial-<pid>-<hex>`` renamed into place only when
  complete (nothing half-written is ever at the output), and removes, on the next run, such
  a temporary left behind by a process that no longer runs (killed, power loss).

Errors are ``ValueError`` naming the output and what to do.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal

try:  # POSIX advisory locks; elsewhere concurrent runs are not detected
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

Kind = Literal["file", "dir"]

#: ``<name>.partial-<pid>-<hex>``: the temporary of a writer, with the pid that owns it.
_PARTIAL_RE = re.compile(r"^(?P<name>.+)\.partial-(?P<pid>\d+)-[0-9a-f]+$")


def _kind_of(path: Path) -> Kind | None:
    """``"dir"``, ``"file"`` (anything that is not a folder) or None when nothing is there."""
    if not os.path.lexists(path):
        return None
    return "dir" if path.is_dir() and not path.is_symlink() else "file"


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return path.absolute()


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_output(
    path: Path | str,
    *,
    kind: Kind | None,
    overwrite: bool,
    inputs: Iterable[Path | str | None] = (),
    replaceable: Callable[[Path], str | None] | None = None,
    what: str = "output",
) -> None:
    """Raise ``ValueError`` unless ``path`` may be written as a ``kind`` output.

    Args:
        path: the output file or folder.
        kind: ``"file"`` or ``"dir"``: what will be written (None: not known yet; the
            file/folder check then happens when the output is renamed into place).
        overwrite: whether an existing output may be replaced.
        inputs: the command's inputs (None entries are skipped): the output may not be one
            of them, hold one (a folder) or, when it exists, lie inside one.
        replaceable: for an existing output, why it must not be replaced even with
            ``overwrite`` (a message), or None if it may be (e.g. "not a posesynth data set").
        what: how to call the output in messages (``--out``, ``--figure``).
    """
    path = Path(path)
    out = _resolved(path)
    exists = _kind_of(path)
    for item in inputs:
        if item is None:
            continue
        source = _resolved(Path(item))
        if out == source:
            raise ValueError(f"{path}: the {what} is the input {item} itself; choose another {what}")
        if _inside(source, out) and exists is not None:
            raise ValueError(f"{path}: the {what} holds the input {item}; replacing it would delete the input")
        if _inside(out, source) and exists is not None:
            raise ValueError(
                f"{path}: the {what} lies inside the input {item} and exists; replacing it would "
                f"change the input; choose another {what}"
            )
    if exists is None:
        return
    if kind is not None and exists != kind:
        have, want = ("a folder", "a file") if exists == "dir" else ("a file", "a folder")
        raise ValueError(
            f"{path}: exists and is {have}; the {what} is {want}, refusing to replace "
            f"{have} with {want} (remove it yourself or choose another {what})"
        )
    if not overwrite:
        raise ValueError(f"{path}: already exists; pass overwrite=True (--overwrite) to replace it")
    if replaceable is not None:
        problem = replaceable(path)
        if problem is not None:
            raise ValueError(f"{path}: {problem}; refusing to replace it")


#: File signatures of the outputs commands write, for :func:`replaces_only`.
PNG_MAGIC = (b"\x89PNG\r\n\x1a\n",)
HTML_MAGIC = (b"<!doctype html", b"<html")


def replaces_only(magics: tuple[bytes, ...], what: str) -> Callable[[Path], str | None]:
    """A ``replaceable`` check for :func:`check_output`: an existing file is replaced only if
    it starts with one of ``magics`` (compared case-insensitively), i.e. is an output of the
    same kind (a PNG figure, an HTML page), never a data file that happens to be there."""

    def check(path: Path) -> str | None:
        try:
            with open(path, "rb") as fh:
                head = fh.read(max(len(m) for m in magics)).lower()
        except OSError as exc:
            return f"cannot read it to check it is {what} ({exc.strerror or exc})"
        if any(head.startswith(m.lower()) for m in magics):
            return None
        return f"exists and is not {what}"

    return check


def lock_file(path: Path | str) -> Path:
    """The sibling lock file of the output ``path`` (``.<name>.lock``)."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def output_lock(path: Path | str) -> Iterator[None]:
    """Hold an exclusive lock on the output ``path`` (``flock`` on :func:`lock_file`).

    Raises ``ValueError`` at once (no waiting) if another process holds it. The lock file is
    removed on release; a process that opened it just before is told by the inode check
    below, and takes the lock on a fresh file.
    """
    path = Path(path)
    if fcntl is None:  # pragma: no cover
        yield
        return
    file = lock_file(path)
    while True:
        try:
            fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot create the lock file ({exc.strerror})", str(file)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ValueError(
                f"{path}: another posesynth command is writing this output right now; wait for "
                "it to finish or choose another output"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(file).st_ino
        except FileNotFoundError:  # removed by the holder we waited for: take a fresh one
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(file)
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    except OverflowError:
        return False
    return True


def stale_partials(path: Path | str) -> list[Path]:
    """The temporaries ``<name>.partial-<pid>-<hex>`` of ``path`` whose process is gone."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        entries = list(parent.iterdir())
    except OSError:
        return []
    stale = []
    for entry in entries:
        match = _PARTIAL_RE.match(entry.name)
        if match and match["name"] == path.name and not _pid_alive(int(match["pid"])):
            stale.append(entry)
    return sorted(stale)


def remove_path(path: Path) -> None:
    """Remove a file, link or folder (a link itself, never what it points to)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def temporary_name(path: Path | str) -> Path:
    """A fresh temporary sibling of ``path`` owned by this process."""
    path = Path(path)
    return path.with_name(f"{path.name}.partial-{os.getpid()}-{secrets.token_hex(4)}")


def fsync_dir(path: Path | str) -> None:
    """Flush a folder's entries to disk where the platform allows it."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def move_into_place(tmp: Path, path: Path, overwrite: bool = True) -> None:
    """Rename ``tmp`` onto ``path``; an existing file or folder there is replaced (only with
    ``overwrite``, and only by one of the same kind) and put back if the rename fails."""
    existing = _kind_of(path)
    if existing is None:
        os.rename(tmp, path)
        fsync_dir(path.parent if str(path.parent) else ".")
        return
    check_output(path, kind=_kind_of(tmp), overwrite=overwrite)
    old = path.with_name(f"{path.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
    os.rename(path, old)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(old, path)
        raise
    remove_path(old)
    fsync_dir(path.parent if str(path.parent) else ".")


@contextlib.contextmanager
def output_path(
    path: Path | str,
    *,
    overwrite: bool = False,
    kind: Kind | None = None,
    inputs: Iterable[Path | str | None] = (),
    replaceable: Callable[[Path], str | None] | None = None,
    what: str = "output",
) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write a file or folder into, under the policy.

    Checks (:func:`check_output`) before and again under the lock; locks the output
    (:func:`output_lock`); removes stale temporaries of dead processes; on normal exit renames
    the temporary onto ``path`` (nothing is half-written there); on any exception,
    ``KeyboardInterrupt`` included, removes the temporary and leaves ``path`` untouched.

    Raises:
        ValueError: the output may not be written (see :func:`check_output`), its folder
            does not exist, or another process is writing it.
    """
    path = Path(path)
    inputs = list(inputs)
    check_output(path, kind=kind, overwrite=overwrite, inputs=inputs, replaceable=replaceable, what=what)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{path}: the folder {parent} does not exist")
    with output_lock(path):
        for stale in stale_partials(path):
            remove_path(stale)
        # the state may have changed while another process held the lock
        check_output(path, kind=kind, overwrite=overwrite, inputs=inputs, replaceable=replaceable, what=what)
        tmp = temporary_name(path)
        try:
            yield tmp
            if not os.path.lexists(tmp):
                raise ValueError(f"{path}: nothing was written")
            move_into_place(tmp, path, overwrite=overwrite)
        except BaseException:
            remove_path(tmp)
            raise
