"""``posesynth augment`` into a store: the sharded, resumable job on any executor.

The usable source frames are cut into blocks (:func:`posesynth.jobs.augment.frames_per_shard`);
shard ``k`` reposes its block from its own random stream (:mod:`posesynth.jobs.shards`), so the
store's bytes are the same in this process, on local processes or on a Dask cluster, and
the same as :func:`posesynth.jobs.augment.augment` gives in memory. Workers other than this
process read the source frames from ``<out>.partial-job/progress/input/`` (written once,
memory-mapped by each worker, removed by the commit) rather than receiving them with each
task. The source itself is held in memory (its frames are read by the formats' readers);
the output streams to disk shard by shard, so memory does not grow with
``variants`` × cameras.

The finished store holds ``augment.json``: the job's summary (frames, skipped, rejected by
the ROM and collision checks, samples, the moved angles' histograms before and after).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from posesynth.data.dataset import PoseDataset
from posesynth.data.formats.store_io import DEFAULT_SHARD_SIZE
from posesynth.data.store import write_json_atomic
from posesynth.jobs.augment import (
    AugmentSummary,
    augment_job,
    augment_meta,
    augment_summary,
    make_plan,
    rows_checksum,
)
from posesynth.jobs.camera_config import CamerasConfig
from posesynth.jobs.executors import Executor, InProcessExecutor
from posesynth.jobs.shards import run_sharded, staging_path
from posesynth.poses.motion_spec import MotionsConfig

#: The summary file of an augmented store.
SUMMARY_NAME = "augment.json"


@dataclass(frozen=True)
class AugmentJobSummary(AugmentSummary):
    """An augment job written to a store: its counts (:class:`AugmentSummary`) and the job's
    own record; :meth:`to_dict` is the ``posesynth augment --json`` document (keys in order)."""

    out: str  #: the store's folder
    shards: int
    resumed_shards: int  #: shards kept from an earlier, killed run
    redone_shards: int  #: shards of an earlier run made again after failing their checks
    executor: str  #: where the shards ran, in words
    seconds: float  #: wall time of the job


def stage_rows(rows: Mapping[str, np.ndarray], folder: Path) -> None:
    """Write ``rows`` as ``folder/<name>.npy`` (each to a temporary name, then renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in rows.items():
        tmp = folder / f".{name}.npy.tmp"
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, folder / f"{name}.npy")


def augment_to_store(
    dataset: PoseDataset,
    motions: MotionsConfig,
    cameras: CamerasConfig | None,
    out: Path | str,
    *,
    seed: int = 0,
    shard_size: int = DEFAULT_SHARD_SIZE,
    executor: Executor | None = None,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    max_in_flight: int | None = None,
) -> AugmentJobSummary:
    """Augment ``dataset`` into the posesynth store ``out`` and return the summary.

    Shards run on ``executor`` (default: in this process), at most ``max_in_flight`` at
    once; ``progress(n)`` is called with source frames done (skipped ones at once). Nothing
    appears at ``out`` unless the job completes; a killed run, rerun with the same
    arguments, makes only the missing shards (see :func:`posesynth.jobs.shards.run_sharded`),
    and a partial job of another configuration or another source is refused.

    Returns:
        The job's :class:`AugmentJobSummary`: the counts of ``augment.json``
        (:class:`~posesynth.jobs.augment.AugmentSummary`) plus ``out``, ``shards``,
        ``resumed_shards``, ``redone_shards``, ``executor`` and ``seconds`` (of the job,
        reading the source excluded).

    Raises:
        ValueError: bad input (no usable frame, rig without subjects...), an existing
            ``out`` without ``overwrite``, another job's partial folder, or every variant
            rejected.
        OSError: writing failed; the finished shards are kept for the rerun.
    """
    out = Path(out)
    start = time.perf_counter()
    plan = make_plan(dataset, motions, cameras)
    rows = plan.memory_rows()
    frames = len(rows["frame_index"])
    meta = augment_meta(plan, dataset.meta, seed, shard_size, rows_checksum(rows))
    in_process = executor is None or isinstance(executor, InProcessExecutor)
    staged = staging_path(out)
    if not in_process:
        plan = replace(plan, rows=str(staged))
    job = augment_job(plan, meta, frames, seed, shard_size)
    skipped = len(dataset) - frames
    if progress is not None and skipped:
        progress(skipped)

    def write_summary(root: Path, stats: Mapping[int, Any]) -> None:
        if len(stats) < len(job.sizes):  # resumed after the summary was written
            return
        doc = augment_summary(plan, len(dataset), skipped, [stats[k] for k in sorted(stats)])
        write_json_atomic(root / SUMMARY_NAME, doc.to_dict())

    result = run_sharded(
        job, out, executor, overwrite=overwrite, progress=progress, before_commit=write_summary,
        before_run=None if in_process else (lambda _root: stage_rows(rows, staged)),
        max_in_flight=max_in_flight,
    )  # fmt: skip
    counts = json.loads((result.path / SUMMARY_NAME).read_text(encoding="ascii"))
    return AugmentJobSummary(
        **counts, out=str(result.path), shards=result.shards, resumed_shards=result.resumed,
        redone_shards=len(result.redone), executor=result.executor,
        seconds=round(time.perf_counter() - start, 3),
    )  # fmt: skip
