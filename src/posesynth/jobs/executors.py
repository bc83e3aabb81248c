"""Executors: run one function over many tasks, here, in local processes or on a Dask cluster.

One small interface, used by every sharded job (:mod:`posesynth.jobs.shards`)::

    with make_executor(workers=4) as executor:
        for index, result in executor.map_unordered(fn, tasks, max_in_flight=8):
            ...   # results arrive as tasks finish, in any order; index is the task's position

- :class:`InProcessExecutor` runs the tasks one after the other in this process (the default).
- :class:`ProcessExecutor` runs them in ``N`` local worker processes
  (:class:`concurrent.futures.ProcessPoolExecutor` with the ``forkserver`` start method where
  the platform has it, else ``spawn``; never ``fork``, which is unsafe once threads exist).
- :class:`DaskExecutor` submits them to a Dask distributed cluster: an existing scheduler
  (``tcp://host:port``) or a :class:`dask.distributed.LocalCluster` of ``N`` single-threaded
  worker processes on loopback. Dask is imported only here, and only when used: the core
  imports without it (install the ``scale`` extra to use it).

No executor schedules anything itself: at most ``max_in_flight`` tasks are submitted at once
(so queued tasks and their results never pile up in memory), and a new task is submitted
each time one finishes. ``fn`` and the tasks must be picklable (top-level functions,
:func:`functools.partial` of them, plain data) for the process and Dask executors, and on a
Dask cluster ``fn``'s module must be importable on every worker (posesynth installed there).
As with any ``multiprocessing`` code, a script that uses :class:`ProcessExecutor` must guard
its entry point with ``if __name__ == "__main__":`` (the workers import the main module).

Failures: an exception raised by ``fn`` is re-raised by ``map_unordered`` with its own type;
a worker process that dies (killed, out of memory) raises :class:`WorkerLostError`.
Leaving the iteration early (an exception in the consumer, ``close()`` of the iterator)
cancels the tasks not yet started and waits for the running ones of local processes.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Seconds to wait for a Dask scheduler to answer before giving up.
DEFAULT_CONNECT_TIMEOUT_S = 10.0


class WorkerLostError(ChildProcessError):
    """A worker process died while running a task (killed by a signal, out of memory)."""


class Executor(Protocol):
    """What a sharded job needs from an executor."""

    #: Human-readable description, e.g. ``"2 local processes"``.
    description: str
    #: How many tasks can run at the same time.
    workers: int

    def map_unordered(
        self, fn: Callable[[T], R], tasks: Iterable[T], max_in_flight: int | None = None
    ) -> Generator[tuple[int, R], None, None]:
        """Yield ``(index, fn(tasks[index]))`` as tasks finish, keeping at most
        ``max_in_flight`` (default ``2 * workers``) submitted and not yet yielded."""
        ...

    def close(self) -> None:
        """Release the workers (idempotent)."""
        ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None: ...


class _Closing:
    """Context-manager boilerplate: ``with executor:`` closes it on the way out."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        pass


def _limit(max_in_flight: int | None, workers: int) -> int:
    limit = 2 * workers if max_in_flight is None else int(max_in_flight)
    if limit < 1:
        raise ValueError(f"max_in_flight: expected an integer >= 1, got {max_in_flight}")
    return limit


class InProcessExecutor(_Closing):
    """Run every task in this process, one after the other, in order."""

    description = "in-process"
    workers = 1

    def map_unordered(
        self, fn: Callable[[T], R], tasks: Iterable[T], max_in_flight: int | None = None
    ) -> Generator[tuple[int, R], None, None]:
        _limit(max_in_flight, 1)
        for index, task in enumerate(tasks):
            yield index, fn(task)


def _keep_freed_memory() -> bool:
    """:func:`posesynth.util.memory.keep_freed_memory`, imported where it runs (a worker)."""
    from posesynth.util.memory import keep_freed_memory

    return keep_freed_memory()


def _init_worker() -> None:
    """Worker initializer: Ctrl-C is the parent's to handle (it cancels and cleans up); the
    worker is this pool's own process, so its allocator keeps freed shard arrays for reuse
    (:func:`posesynth.util.memory.keep_freed_memory`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _keep_freed_memory()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT meanwhile (in the main thread only), so that processes started now
    inherit the ignored disposition."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def default_start_method() -> str:
    """``forkserver`` where the platform offers it (Linux, macOS), else ``spawn``."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


class ProcessExecutor(_Closing):
    """Run tasks in ``workers`` local processes (``ProcessPoolExecutor``).

    Args:
        workers: number of worker processes, >= 1.
        start_method: ``"forkserver"`` or ``"spawn"`` (default: :func:`default_start_method`).
    """

    def __init__(self, workers: int, start_method: str | None = None) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers: expected an integer >= 1, got {workers!r}")
        method = start_method or default_start_method()
        if method not in ("forkserver", "spawn"):
            raise ValueError(f"start_method: expected 'forkserver' or 'spawn', got {method!r}")
        self.workers = workers
        self.description = f"{workers} local process{'es' if workers > 1 else ''} ({method})"
        self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context(method),
            initializer=_init_worker,
        )

    def map_unordered(
        self, fn: Callable[[T], R], tasks: Iterable[T], max_in_flight: int | None = None
    ) -> Generator[tuple[int, R], None, None]:
        limit = _limit(max_in_flight, self.workers)
        pool = self._pool
        if pool is None:
            raise ValueError("ProcessExecutor: already closed")
        source = enumerate(tasks)
        pending: dict[Future[R], int] = {}

        def fill() -> None:
            while len(pending) < limit:
                item = next(source, None)
                if item is None:
                    return
                pending[pool.submit(fn, item[1])] = item[0]

        try:
            fill()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=pending.__getitem__):
                    index = pending.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        raise WorkerLostError(
                            errno.ECHILD,
                            "a worker process died while running a task (killed, or out of memory)",
                        ) from None
                    yield index, result
                fill()
        finally:
            for future in pending:
                future.cancel()
            # tasks already running cannot be stopped: let them end before anyone cleans up
            wait([f for f in pending if not f.cancelled()])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskExecutor(_Closing):
    """Run tasks on a Dask distributed cluster.

    Give exactly one of:

    Args:
        address: a running scheduler, e.g. ``"tcp://10.0.0.5:8786"``.
        local_workers: start a :class:`~dask.distributed.LocalCluster` of this many
            single-threaded worker processes listening on 127.0.0.1 only (no dashboard).
        timeout_s: seconds to wait for the scheduler to answer.

    Raises:
        ValueError: Dask is not installed, or no scheduler answered at ``address`` within
            ``timeout_s`` (the message names the address and the reason).
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        local_workers: int | None = None,
        timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    ) -> None:
        if (address is None) == (local_workers is None):
            raise ValueError("DaskExecutor: give either address or local_workers, not both")
        if local_workers is not None and (
            isinstance(local_workers, bool) or not isinstance(local_workers, int) or local_workers < 1
        ):
            raise ValueError(f"local_workers: expected an integer >= 1, got {local_workers!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s: expected seconds > 0, got {timeout_s!r}")
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:
            raise ValueError(f"Dask is not installed ({exc}); install it with pip install 'posesynth[scale]'") from None
        self._cluster: Any = None
        self._client: Any = None
        if local_workers is not None:
            # the workers inherit an ignored SIGINT: Ctrl-C is this process's to handle
            with _sigint_ignored():
                self._cluster = LocalCluster(
                    n_workers=local_workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            where = f"a local Dask cluster of {local_workers} worker{'s' if local_workers > 1 else ''}"
            try:
                self._client = Client(self._cluster, timeout=timeout_s)
                # workers this executor started are its own processes (a remote cluster is not)
                self._client.run(_keep_freed_memory)
            except BaseException:
                if self._client is not None:
                    self._client.close()
                self._cluster.close()
                raise
        else:
            where = f"the Dask scheduler at {address}"
            try:
                self._client = Client(address, timeout=timeout_s)
            except Exception as exc:
                reason = " ".join(str(exc).split()) or type(exc).__name__
                raise ValueError(
                    f"{address}: could not reach a Dask scheduler within {timeout_s:g} s ({reason})"
                ) from None
        threads = sum(self._client.nthreads().values())
        self.workers = max(1, threads)
        self.description = f"{where} ({threads} thread{'s' if threads != 1 else ''})"

    @property
    def client(self) -> Any:
        """The :class:`dask.distributed.Client` (``None`` once closed)."""
        return self._client

    def map_unordered(
        self, fn: Callable[[T], R], tasks: Iterable[T], max_in_flight: int | None = None
    ) -> Generator[tuple[int, R], None, None]:
        from dask.distributed import as_completed

        client = self._client
        if client is None:
            raise ValueError("DaskExecutor: already closed")
        limit = _limit(max_in_flight, self.workers)
        source = enumerate(tasks)
        pending: dict[Any, tuple[int, Any]] = {}  # key -> (index, future)
        futures = as_completed()

        def fill() -> None:
            while len(pending) < limit:
                item = next(source, None)
                if item is None:
                    return
                future = client.submit(fn, item[1], pure=False)
                pending[future.key] = (item[0], future)
                futures.add(future)

        try:
            fill()
            for future in futures:
                index, _ = pending.pop(future.key)
                result = future.result()
                future.release()
                yield index, result
                fill()
        finally:
            if pending:
                client.cancel([future for _, future in pending.values()])

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def make_executor(
    workers: int | None = None,
    *,
    dask_local: int | None = None,
    scheduler: str | None = None,
    timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
) -> InProcessExecutor | ProcessExecutor | DaskExecutor:
    """The executor the command line asks for (at most one of the three options).

    Args:
        workers: local worker processes; ``None`` or 1 runs in this process.
        dask_local: start a loopback Dask ``LocalCluster`` of this many single-threaded workers.
        scheduler: address of a running Dask scheduler (``tcp://HOST:PORT``).
        timeout_s: seconds to wait for the Dask scheduler.

    Raises:
        ValueError: more than one option, a count < 1, Dask missing or not answering.
    """
    chosen = [
        name
        for name, value in (("--workers", workers if workers not in (None, 1) else None),
                            ("--dask-local", dask_local), ("--scheduler", scheduler))
        if value is not None
    ]  # fmt: skip
    if len(chosen) > 1:
        raise ValueError(f"choose one of --workers N, --dask-local N, --scheduler ADDR; got {' and '.join(chosen)}")
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise ValueError(f"--workers: expected an integer >= 1, got {workers}")
    if scheduler is not None:
        return DaskExecutor(scheduler, timeout_s=timeout_s)
    if dask_local is not None:
        if dask_local < 1:
            raise ValueError(f"--dask-local: expected an integer >= 1, got {dask_local}")
        return DaskExecutor(local_workers=dask_local, timeout_s=timeout_s)
    if workers is None or workers == 1:
        return InProcessExecutor()
    return ProcessExecutor(workers)


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def executor_from_spec(spec: str | Executor | None) -> Executor:
    """An executor from a short text spec (the Python API's ``executor=`` argument).

    ``None``, ``"inprocess"`` or ``"processes:1"``: this process; ``"processes:N"``: N local
    worker processes; ``"dask-local:N"``: a loopback Dask ``LocalCluster`` of N workers;
    ``"tcp://HOST:PORT"`` (or ``"dask:tcp://HOST:PORT"``): a running Dask scheduler. An
    :class:`Executor` is returned as it is. Use the result as a context manager.

    Raises:
        ValueError: an unknown spec or a count that is not an integer >= 1.
    """
    if spec is None or spec == "inprocess":
        return InProcessExecutor()
    if not isinstance(spec, str):
        return spec
    kind, _, arg = spec.partition(":")
    if kind in ("processes", "dask-local"):
        try:
            count = int(arg)
        except ValueError:
            raise ValueError(f"executor: expected {kind}:N with an integer N >= 1, got {spec!r}") from None
        if count < 1:
            raise ValueError(f"executor: expected {kind}:N with N >= 1, got {spec!r}")
        return make_executor(count) if kind == "processes" else make_executor(dask_local=count)
    if kind == "dask" and arg.startswith("tcp://"):
        return make_executor(scheduler=arg)
    if kind == "tcp":
        return make_executor(scheduler=spec)
    raise ValueError(
        f"executor: expected 'inprocess', 'processes:N', 'dask-local:N' or 'tcp://HOST:PORT', got {spec!r}"
    )
