"""The store writers' fsyncs on a background thread (``data.store.writer.BackgroundSync``):
the same bytes as synced in line, and an fsync error reaches the caller and leaves no store."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from posesynth.data.store import BackgroundSync, write_shard_files, write_store
from posesynth.jobs.generate import generate, load_config


def arrays(seed: int, n: int = 50) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"joints_3d_world": rng.normal(size=(n, 17, 3)), "frame": np.arange(n, dtype=np.int64)}


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def fail_in_background(monkeypatch: pytest.MonkeyPatch, after: int = 0) -> list[int]:
    """Make ``os.fsync`` fail on the background thread after ``after`` calls there."""
    real = os.fsync
    calls = [0]

    def fsync(fd: int) -> None:
        if threading.current_thread().name.startswith("posesynth-fsync"):
            calls[0] += 1
            if calls[0] > after:
                raise OSError(5, "Input/output error")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


def test_same_bytes_with_and_without_the_background_thread(tmp_path: Path) -> None:
    sync = BackgroundSync()
    try:
        a = write_shard_files(tmp_path / "a", arrays(1), sync)
        sync.wait()
    finally:
        sync.close()
    b = write_shard_files(tmp_path / "b", arrays(1))
    assert a == b and files(tmp_path / "a") == files(tmp_path / "b")


def test_fsync_error_truncates_the_shard_and_reaches_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_in_background(monkeypatch)
    sync = BackgroundSync()
    try:
        write_shard_files(tmp_path / "s", arrays(2), sync)
        with pytest.raises(OSError, match="fsync failed") as info:
            sync.wait()
        assert info.value.filename == str(tmp_path / "s")
        sync.wait()  # raised once
    finally:
        sync.close()
    assert all(p.stat().st_size == 0 for p in (tmp_path / "s").iterdir())  # fails its checksums later


def test_store_writer_commits_nothing_after_a_background_fsync_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_in_background(monkeypatch, after=3)  # a later shard's file
    out = tmp_path / "store"
    with pytest.raises(OSError, match="fsync failed"):
        write_store(out, {"k": 1}, (arrays(s) for s in range(4)))
    assert not out.exists() and os.listdir(tmp_path) == []


def test_generate_commits_nothing_after_a_background_fsync_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sharded job (in process): the error reaches the caller, no store at ``out``."""
    calls = fail_in_background(monkeypatch, after=20)
    out = tmp_path / "g"
    with pytest.raises(OSError, match="fsync failed"):
        generate(load_config(samples=400, shard_size=100, seed=4), out, preview=False)
    assert calls[0] > 20 and not out.exists()


def test_generate_same_bytes_as_synced_in_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In process (background fsyncs) and with the fsyncs in line (as a worker process
    writes) the store is the same, file for file."""
    from posesynth.data.store import writer

    config = load_config(samples=300, shard_size=100, seed=5)
    generate(config, tmp_path / "bg", preview=False)
    real = writer._save_shard
    monkeypatch.setattr(writer, "_save_shard", lambda d, p, sync=None: real(d, p, None))
    generate(config, tmp_path / "inline", preview=False)
    assert files(tmp_path / "bg") == files(tmp_path / "inline")


def record_fadvise(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Record each ``posix_fadvise`` advice with the order of the fsyncs around it: a list of
    ("fsync", fd) and ("drop", fd) in call order."""
    calls: list[tuple[str, int]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        calls.append(("fsync", fd))
        real_fsync(fd)

    def fadvise(fd: int, offset: int, length: int, advice: int) -> None:
        assert (offset, length, advice) == (0, 0, os.POSIX_FADV_DONTNEED)
        calls.append(("drop", fd))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "posix_fadvise", fadvise, raising=False)
    return calls


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise on this platform")
def test_drop_written_drops_each_file_once_it_is_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = record_fadvise(monkeypatch)
    sync = BackgroundSync(drop_written=True)
    try:
        write_shard_files(tmp_path / "a", arrays(1), sync)
        sync.wait()
    finally:
        sync.close()
    # the two files and the folder synced, then the two files (not the folder) dropped
    assert [what for what, _ in calls] == ["fsync"] * 3 + ["drop"] * 2
    assert [fd for _, fd in calls[3:]] == [fd for _, fd in calls[:2]]
    write_shard_files(tmp_path / "b", arrays(1))
    assert files(tmp_path / "a") == files(tmp_path / "b")


def test_without_drop_written_or_posix_fadvise_nothing_is_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = record_fadvise(monkeypatch)
    sync = BackgroundSync()
    write_shard_files(tmp_path / "a", arrays(1), sync)
    sync.wait()
    sync.close()
    monkeypatch.delattr(os, "posix_fadvise")  # macOS has none
    sync = BackgroundSync(drop_written=True)
    assert not sync.drop_written
    write_shard_files(tmp_path / "b", arrays(1), sync)
    sync.wait()
    sync.close()
    assert [what for what, _ in calls if what == "drop"] == []
    assert files(tmp_path / "a") == files(tmp_path / "b")


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise on this platform")
def test_generate_in_process_drops_its_shards_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = record_fadvise(monkeypatch)
    generate(load_config(samples=300, shard_size=100), tmp_path / "g", preview=False)
    # three shards, each of its files once (the preview and the summary read only a few rows)
    shard_files = list((tmp_path / "g").glob("shards/*/*.npy"))
    assert len([what for what, _ in calls if what == "drop"]) == len(shard_files) > 0
