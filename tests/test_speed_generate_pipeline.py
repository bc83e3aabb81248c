"""In this process a sharded job writes shard k while it makes shard k+1 (issue 15): the
writing overlaps the making, the records come in order, the bytes are those of the shards
made one after the other, and errors and Ctrl-C still leave what the contract says."""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import tree_digest
from posesynth.data.store import open_store
from posesynth.jobs import shards
from posesynth.jobs.executors import ProcessExecutor
from posesynth.jobs.shards import ShardedJob, ShardTask, partial_path, run_sharded


def toy_shard(task: ShardTask) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(task.seed)
    n = task.samples
    return {"x": rng.normal(size=(n, 3)), "k": np.arange(task.start, task.start + n, dtype=np.int64)}


def _writer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("posesynth-write")]


def test_a_shard_is_written_while_the_next_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: dict[int, threading.Event] = {k: threading.Event() for k in range(5)}
    overlapped: list[int] = []
    original = shards.write_made_shard

    def make(task: ShardTask) -> dict[str, np.ndarray]:
        made[task.index].set()
        return toy_shard(task)

    def write(made_arrays, partial, task, exact_sizes=True, sync=None):
        # the next shard is made while this one is being written (the last has no next)
        if task.index + 1 in made and made[task.index + 1].wait(timeout=20):
            overlapped.append(task.index)
        assert threading.current_thread().name.startswith("posesynth-write")
        return original(made_arrays, partial, task, exact_sizes, sync)

    monkeypatch.setattr(shards, "write_made_shard", write)
    progress: list[int] = []
    job = ShardedJob(meta={"toy": 1}, sizes=(7, 7, 7, 7, 3), seed=4, make_shard=make)
    run_sharded(job, tmp_path / "toy", progress=progress.append)
    assert overlapped == [0, 1, 2, 3]
    assert progress == [7, 7, 7, 7, 3]
    store = open_store(tmp_path / "toy")
    store.verify()
    np.testing.assert_array_equal(store.read("k"), np.arange(31))
    assert _writer_threads() == []


def test_the_same_bytes_as_worker_processes(tmp_path: Path) -> None:
    job = ShardedJob(meta={"toy": 2}, sizes=(50, 50, 20), seed=9, make_shard=toy_shard)
    run_sharded(job, tmp_path / "here")
    with ProcessExecutor(2) as executor:
        run_sharded(job, tmp_path / "there", executor)
    assert tree_digest(tmp_path / "here") == tree_digest(tmp_path / "there")


def test_ctrl_c_while_a_shard_is_written_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = shards.write_made_shard
    written: list[int] = []
    started = threading.Event()

    def slow_write(made_arrays, partial, task, exact_sizes=True, sync=None):
        if task.index == 1:
            started.set()
            time.sleep(0.3)  # still writing when the next shard is interrupted
        record = original(made_arrays, partial, task, exact_sizes, sync)
        written.append(task.index)
        return record

    def make(task: ShardTask) -> dict[str, np.ndarray]:
        if task.index == 2:
            assert started.wait(timeout=20)
            raise KeyboardInterrupt
        return toy_shard(task)

    monkeypatch.setattr(shards, "write_made_shard", slow_write)
    job = ShardedJob(meta={"toy": 3}, sizes=(5, 5, 5, 5), seed=1, make_shard=make)
    with pytest.raises(KeyboardInterrupt):
        run_sharded(job, tmp_path / "toy")
    assert written == [0, 1]  # the pending write finished before the folder went
    assert not partial_path(tmp_path / "toy").exists() and not (tmp_path / "toy").exists()
    assert _writer_threads() == []


def test_a_failed_write_is_raised_and_the_shards_before_it_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = shards.write_made_shard

    def full_disk(made_arrays, partial, task, exact_sizes=True, sync=None):
        if task.index == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return original(made_arrays, partial, task, exact_sizes, sync)

    monkeypatch.setattr(shards, "write_made_shard", full_disk)
    job = ShardedJob(meta={"toy": 4}, sizes=(5, 5, 5, 5, 5), seed=2, make_shard=toy_shard)
    with pytest.raises(OSError) as err:
        run_sharded(job, tmp_path / "toy")
    assert err.value.errno == errno.ENOSPC and "2 of 5 shards are complete" in str(err.value)
    partial = partial_path(tmp_path / "toy")
    assert sorted(p.name for p in (partial / "shards").iterdir()) == ["000000", "000001"]
    assert _writer_threads() == []
    monkeypatch.undo()
    result = run_sharded(job, tmp_path / "toy")  # the rerun finishes it
    assert result.resumed == 2
    reference = run_sharded(job, tmp_path / "ref")
    assert tree_digest(result.path) == tree_digest(reference.path)


def test_max_in_flight_is_still_checked(tmp_path: Path) -> None:
    job = ShardedJob(meta={"toy": 5}, sizes=(5,), seed=2, make_shard=toy_shard)
    with pytest.raises(ValueError, match="max_in_flight"):
        run_sharded(job, tmp_path / "toy", max_in_flight=0)
    assert not partial_path(tmp_path / "toy").exists()


def test_a_record_cut_short_by_a_crash_makes_its_shard_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # records are renamed into place without a fsync: after a crash one may be empty
    original = shards.write_made_shard

    def full_disk(made_arrays, partial, task, exact_sizes=True, sync=None):
        if task.index == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return original(made_arrays, partial, task, exact_sizes, sync)

    monkeypatch.setattr(shards, "write_made_shard", full_disk)
    job = ShardedJob(meta={"toy": 6}, sizes=(5, 5, 5, 5), seed=7, make_shard=toy_shard)
    with pytest.raises(OSError):
        run_sharded(job, tmp_path / "toy")
    monkeypatch.undo()
    record = partial_path(tmp_path / "toy") / "progress" / "done" / "000001.json"
    assert record.is_file()
    record.write_bytes(b"")
    result = run_sharded(job, tmp_path / "toy")
    assert result.resumed == 2 and len(result.redone) == 1 and "000001.json" in result.redone[0]
    assert tree_digest(result.path) == tree_digest(run_sharded(job, tmp_path / "ref").path)
