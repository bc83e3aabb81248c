"""Assertions and fixtures' helpers shared by the tests."""

import errno
import hashlib
import os
import re
import signal
import subprocess
import time
import zipfile
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


def assert_vp3d_checks_fail(ds: Any, tmp_path: Path, name: str, damage: Any, expect: str) -> None:
    """Written as VideoPose3D in memory and streamed from a store, then ``damage(folder)``d: both
    checks (``check_written`` and ``check_written_chunked``) fail with ``expect``."""
    from posesynth.data.formats.registry import convert_streamed, iter_chunks, read_any, write_any, written_ids
    from posesynth.data.formats.store_io import write_store_dataset
    from posesynth.data.roundtrip import check_written, check_written_chunked

    out = tmp_path / "mem"
    write_any(ds, out, "videopose3d", name=name)
    damage(out)
    # the damage leaves readable files: what fails is the check, not the reader
    assert all(zipfile.is_zipfile(f) for f in out.glob("*.npz"))
    with pytest.raises(ValueError, match=expect):
        check_written(
            ds, out, lambda: read_any(out, format="videopose3d"), lambda: None,
            as_written=written_ids("videopose3d", out),
        )  # fmt: skip
    store = write_store_dataset(ds, tmp_path / "store")
    streamed = tmp_path / "str"
    done = convert_streamed(store, streamed, "videopose3d", "posesynth", rows=7, name=name)
    assert done is not None and done.read_back is not None
    damage(streamed)
    with pytest.raises(ValueError, match=expect):
        check_written_chunked(
            lambda: iter_chunks(store, "posesynth", 7)[1], streamed, done.read_back, lambda: None,
            as_written=written_ids("videopose3d", streamed),
        )  # fmt: skip


def patch_npz_member(path: Path, field: str, old: Any, new: Any) -> None:
    """Replace the float32 bytes of ``old`` by those of ``new`` (same size) where they occur
    once in ``field``'s zip member: a damaged file that keeps the writer's batched pickles."""
    import numpy as np

    members = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            members[info] = z.read(info)
    for info, data in members.items():
        if info.filename == f"{field}.npy":
            a, b = np.asarray(old, np.float32).tobytes(), np.asarray(new, np.float32).tobytes()
            assert data.count(a) == 1
            members[info] = data.replace(a, b)
    with zipfile.ZipFile(path, "w") as z:
        for info, data in members.items():
            z.writestr(info, data)


def streamed_same_error(source: Path, out: Path, source_format: str, rows: int = 20) -> str:
    """Reading ``source`` whole and converting it to a store chunk by chunk fail with the same
    message, and the streamed conversion leaves nothing; returns the message."""
    from posesynth.data.formats.registry import convert_streamed, read_any

    with pytest.raises(ValueError) as mem:
        read_any(source)
    with pytest.raises(ValueError) as streamed:
        convert_streamed(source, out, "posesynth", source_format, rows=rows)
    assert str(streamed.value) == str(mem.value)
    assert not out.exists() and not list(out.parent.glob(f".{out.name}*"))
    return str(mem.value)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``: relative path -> bytes."""
    return {str(f.relative_to(folder)): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()}


def assert_same_output(a: Path, b: Path) -> None:
    """Two conversion outputs are the same: byte for byte, but ``cameras.pkl`` (streamed
    MMPose pickles its dict in batches) as the same dict."""
    import numpy as np

    from posesynth.data.formats.numpy_pickle import load_numpy_pickle

    fa, fb = folder_bytes(a), folder_bytes(b)
    assert sorted(fa) == sorted(fb)
    for name in fa:
        if name.endswith("cameras.pkl"):
            da, db = load_numpy_pickle(a / name), load_numpy_pickle(b / name)
            assert list(da) == list(db)
            for key in da:
                assert list(da[key]) == list(db[key])
                for field in da[key]:
                    np.testing.assert_array_equal(np.asarray(da[key][field]), np.asarray(db[key][field]))
        else:
            assert fa[name] == fb[name], name
