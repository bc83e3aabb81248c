"""Write files and folders under a temporary name, then rename: nothing is ever half-written."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        path.unlink()


def move_into_place(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` onto ``path``; an existing file or folder there is replaced, and put back
    if the rename fails."""
    if not os.path.lexists(path):
        os.rename(tmp, path)
        return
    old = path.with_name(f"{path.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
    os.rename(path, old)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(old, path)
        raise
    _remove(old)


@contextmanager
def atomic_path(path: Path | str, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write a file or folder into.

    On normal exit the temporary is renamed onto ``path`` (replacing an existing file or
    folder only if ``overwrite``); on any exception, KeyboardInterrupt included, it is removed
    and ``path`` is untouched. Raises ``ValueError`` up front if ``path`` exists and not
    ``overwrite``.
    """
    path = Path(path)
    if os.path.lexists(path) and not overwrite:
        raise ValueError(f"{path}: already exists; pass overwrite=True (--overwrite) to replace it")
    if not path.parent.is_dir():
        raise ValueError(f"{path}: the folder {path.parent} does not exist")
    tmp = path.with_name(f"{path.name}.partial-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        yield tmp
        move_into_place(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
