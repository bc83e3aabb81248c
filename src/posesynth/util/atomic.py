"""Write files and folders under a temporary name, then rename: nothing is ever half-written.

Two tools, used by every writer of the package:

- :func:`atomic_path` for a command's outputs: the output policy of
  :mod:`posesynth.util.outputs` (file/folder check, ``overwrite``, lock, stale temporaries);
- :func:`write_bytes_atomic` / :func:`save_npy_atomic` for files inside a folder the caller
  already owns (a store's manifest, a job's records): temporary, ``fsync``, rename.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from posesynth.util.outputs import fsync_dir, move_into_place, output_path, remove_path

__all__ = ["atomic_path", "fsync_dir", "move_into_place", "write_bytes_atomic", "write_synced"]


@contextmanager
def atomic_path(path: Path | str, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write a file or folder into.

    On normal exit the temporary is renamed onto ``path`` (replacing an existing one of the
    same kind, file or folder, only if ``overwrite``); on any exception, KeyboardInterrupt
    included, it is removed and ``path`` is untouched. The output is locked while written
    and stale temporaries of dead processes are removed (:func:`posesynth.util.outputs.output_path`).
    Raises ``ValueError`` up front if ``path`` exists and not ``overwrite``.
    """
    with output_path(path, overwrite=overwrite) as tmp:
        yield tmp


def write_synced(file: Path | str, write: Callable[[BinaryIO], object]) -> None:
    """Create ``file`` (which must not exist), let ``write(fh)`` fill it, flush and ``fsync``.

    On any failure the file is removed. The one place the package writes a file durably;
    :func:`write_bytes_atomic` adds the rename.
    """
    file = Path(file)
    try:
        with open(file, "xb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        remove_path(file)
        raise


def write_bytes_atomic(file: Path | str, data: bytes) -> None:
    """Replace ``file`` by ``data`` atomically: a fsynced temporary sibling, then a rename.

    For files inside a folder the caller owns (locked); readers see the old or the new
    content, never a mix.
    """
    file = Path(file)
    tmp = file.with_name(f"{file.name}.tmp-{os.getpid()}")
    remove_path(tmp)
    write_synced(tmp, lambda fh: fh.write(data))
    try:
        os.replace(tmp, file)
    except BaseException:
        remove_path(tmp)
        raise
