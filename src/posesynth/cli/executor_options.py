"""The command-line options that choose where a sharded job runs (generate, augment)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from posesynth.jobs.executors import Executor

ShardSize = Annotated[
    int | None,
    typer.Option("--shard-size", min=1, help="Samples per shard (changes the data; default 20,000)."),
]
Workers = Annotated[
    int,
    typer.Option(
        "--workers", "-w", min=1,
        help="Local worker processes (1: in this process, which already writes on a second thread; "
        "each extra process starts in about 1 s, so more pay off only beyond 2 cores).",
    ),
]  # fmt: skip
DaskLocal = Annotated[
    int | None,
    typer.Option(
        "--dask-local", min=1,
        help="Start a Dask LocalCluster of N single-threaded workers on loopback (needs dask).",
    ),
]  # fmt: skip
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Run on the Dask scheduler at ADDR (tcp://HOST:PORT); --out must be on a file system the workers share.",
    ),
]
ConnectTimeout = Annotated[
    float, typer.Option("--connect-timeout", min=0.1, help="Seconds to wait for the Dask scheduler.")
]


def wants_executor(workers: int, dask_local: int | None, scheduler: str | None) -> bool:
    """True when the options ask for anything but this process."""
    return workers != 1 or dask_local is not None or scheduler is not None


def enter_executor(
    stack: contextlib.ExitStack,
    workers: int,
    dask_local: int | None,
    scheduler: str | None,
    connect_timeout: float,
) -> dict[str, Executor]:
    """``{"executor": ...}`` opened on ``stack`` when the options ask for one, else ``{}``
    (the default path runs in this process and imports nothing more)."""
    if not wants_executor(workers, dask_local, scheduler):
        return {}
    from posesynth.jobs.executors import make_executor

    executor = make_executor(workers, dask_local=dask_local, scheduler=scheduler, timeout_s=connect_timeout)
    return {"executor": stack.enter_context(executor)}
