"""Executors: one interface, in-process, local processes and Dask; bounded, errors that say why."""

from __future__ import annotations

import functools
import math
import operator
import os
import socket
import subprocess
import sys
import time

import pytest

from posesynth.jobs.executors import (
    DaskExecutor,
    InProcessExecutor,
    ProcessExecutor,
    WorkerLostError,
    make_executor,
)


class CountingTasks:
    """An iterable that counts how many tasks the executor has taken from it."""

    def __init__(self, tasks: list) -> None:
        self.tasks = tasks
        self.taken = 0

    def __iter__(self):
        for task in self.tasks:
            self.taken += 1
            yield task


def run_all(executor, fn, tasks, max_in_flight=None) -> dict:
    return dict(executor.map_unordered(fn, tasks, max_in_flight))


def test_in_process_runs_in_order() -> None:
    with InProcessExecutor() as ex:
        assert list(ex.map_unordered(operator.neg, [3, 1, 2])) == [(0, -3), (1, -1), (2, -2)]
        assert ex.workers == 1 and ex.description == "in-process"


def test_processes_run_every_task_with_bounded_submission() -> None:
    tasks = CountingTasks([0.05 * (i % 3) for i in range(12)])  # sleep durations
    with ProcessExecutor(2) as ex:
        assert ex.workers == 2
        results = []
        for index, _result in ex.map_unordered(time.sleep, tasks, max_in_flight=3):
            results.append(index)
            assert tasks.taken <= len(results) + 3  # never more than 3 in flight
        assert sorted(results) == list(range(12))
        # the pool is reused: a second map works too
        assert run_all(ex, math.sqrt, [4.0, 9.0]) == {0: 2.0, 1: 3.0}


def test_process_error_keeps_its_type() -> None:
    with ProcessExecutor(2) as ex, pytest.raises(ValueError, match="invalid literal"):
        run_all(ex, int, ["1", "x", "3"])


def test_dead_worker_is_reported() -> None:
    with ProcessExecutor(1) as ex, pytest.raises(WorkerLostError, match="worker process died"):
        run_all(ex, os._exit, [3])


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_bad_worker_counts(bad) -> None:
    with pytest.raises(ValueError, match="workers"):
        ProcessExecutor(bad)


def test_make_executor_choices() -> None:
    assert isinstance(make_executor(), InProcessExecutor)
    assert isinstance(make_executor(1), InProcessExecutor)
    with make_executor(2) as ex:
        assert isinstance(ex, ProcessExecutor)
    with pytest.raises(ValueError, match="choose one of"):
        make_executor(2, dask_local=2)
    with pytest.raises(ValueError, match="choose one of"):
        make_executor(dask_local=2, scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="max_in_flight"):
        list(InProcessExecutor().map_unordered(operator.neg, [1], max_in_flight=0))


def test_missing_dask_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails
    with pytest.raises(ValueError, match=r"Dask is not installed.*posesynth\[scale\]"):
        make_executor(dask_local=2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_scheduler_that_does_not_answer_fails_fast() -> None:
    pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{free_port()}"
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"{address}: could not reach a Dask scheduler within 1 s"):
        DaskExecutor(address, timeout_s=1.0)
    assert time.perf_counter() - start < 10


def _allocator_set() -> int:
    from posesynth.util import memory

    return memory.keep_freed_memory.cache_info().currsize


def test_dask_local_cluster() -> None:
    pytest.importorskip("distributed")
    tasks = CountingTasks(list(range(10)))
    with DaskExecutor(local_workers=2) as ex:
        assert ex.workers == 2 and "local Dask cluster of 2 workers" in ex.description
        got = {}
        for index, result in ex.map_unordered(functools.partial(operator.mul, 3), tasks, 2):
            got[index] = result
            assert tasks.taken <= len(got) + 2
        assert got == {i: 3 * i for i in range(10)}
        with pytest.raises(ValueError, match="invalid literal"):
            run_all(ex, int, ["1", "x"])
        # the workers it started keep freed shard arrays for reuse, as the console script does
        made = ex.client.run(_allocator_set)
        assert list(made.values()) == [1, 1]
    assert ex.client is None


def test_the_core_imports_without_dask() -> None:
    code = (
        "import sys, posesynth.jobs.generate, posesynth.jobs.shards, posesynth.jobs.executors, posesynth.cli.main; "
        "assert not {'dask', 'distributed'} & set(sys.modules), 'dask imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
