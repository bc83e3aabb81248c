"""Assertions and fixtures' helpers shared by the tests."""

import errno
import hashlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from posesynth.data.store import writer as store_writer


def assert_one_error_line(result: Any, pattern: str) -> None:
    """A typer ``CliRunner`` result failed with exactly one ``error: ...`` line matching ``pattern``."""
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert re.search(pattern, lines[0]), lines[0]


def tree_digest(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root``."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def enospc_after(monkeypatch: pytest.MonkeyPatch, good_shards: int) -> None:
    """Make every ``.npy`` write fail with ENOSPC once ``good_shards`` shards are written."""
    original = store_writer._save_shard
    calls = {"n": 0}

    def failing_write(fh, header, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def save_shard(shard_dir, prepared, sync=None):
        calls["n"] += 1
        if calls["n"] > good_shards:
            monkeypatch.setattr(store_writer, "_write_npy", failing_write)
        return original(shard_dir, prepared, sync)

    monkeypatch.setattr(store_writer, "_save_shard", save_shard)


def kill_after_shards(cmd: list[str], done: Path, shards: int, timeout: float) -> int:
    """Run ``cmd`` in its own session, SIGKILL it and its workers once ``shards`` shard records
    are in ``done`` (no cleanup can run) and return how many records there are then."""
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + timeout
        while time.time() < deadline and proc.poll() is None:
            if done.is_dir() and len(list(done.glob("*.json"))) >= shards:
                break
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the job ended before it could be killed"
    return len(list(done.glob("*.json")))
