"""``generate``'s summary statistics, made cheaper (issue 15: extremes in the stored dtype,
percentiles along contiguous rows, each shard's counts and extremes made on the writer thread
and kept in its record), give the same summary as the straightforward pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posesynth.jobs import generate as gen
from posesynth.jobs.shards import read_shard_array


def _reference(root: Path, sizes: tuple[int, ...], n_activities: int, names: list[str]) -> gen._ShardStats:
    """The summary the way it was computed before: every angle in float64 degrees, the
    percentiles down the columns."""
    total = sum(sizes)
    counts = np.zeros(n_activities, dtype=np.int64)
    lo, hi = np.full(len(names), np.inf), np.full(len(names), -np.inf)
    kept = []
    for index, n in enumerate(sizes):
        counts += np.bincount(read_shard_array(root, index, "activity"), minlength=n_activities)
        angles = read_shard_array(root, index, "angles")
        deg = np.rad2deg(angles.astype(np.float64))
        lo, hi = np.minimum(lo, deg.min(axis=0)), np.maximum(hi, deg.max(axis=0))
        rows = n if total <= gen.COVERAGE_SAMPLES else -(-n * gen.COVERAGE_SAMPLES // total)
        kept.append(angles[:rows].copy())
    q = np.percentile(np.rad2deg(np.concatenate(kept).astype(np.float64)), [0, 5, 50, 95, 100], axis=0)
    q[0], q[4] = lo, hi
    coverage = {n: gen.AngleCoverage(*(round(float(v), 2) for v in q[:, j])) for j, n in enumerate(names)}
    return gen._ShardStats(counts, coverage)


@pytest.mark.parametrize(
    ("overrides", "coverage_samples"),
    [
        ({"samples": 900, "shard_size": 250}, 200_000),  # every sample: exact percentiles
        ({"samples": 900, "shard_size": 250}, 300),  # subsampled shards
        ({"samples": 400, "shard_size": 400, "dtype": "float64", "skeleton": "h36m_extended"}, 200_000),
        ({"samples": 300, "activities": {"squat": 1.0}, "angle_limits_deg": {"knee_flexion": (0.0, 0.0)}}, 100),
    ],
)
def test_summary_is_the_straightforward_one(tmp_path, monkeypatch, overrides, coverage_samples) -> None:
    monkeypatch.setattr(gen, "COVERAGE_SAMPLES", coverage_samples)
    config = gen.load_config(**overrides)
    summary = gen.generate(config, tmp_path / "data", preview=False)
    meta = gen.dataset_meta(config)
    sizes = gen.generate_job(config).sizes
    want = _reference(Path(summary.out), sizes, len(meta["activity_names"]), meta["angle_names"])
    assert summary.activities == {a: int(c) for a, c in zip(meta["activity_names"], want.activities)}
    assert dict(summary.angle_coverage) == want.coverage
    # the same floats, signed zeros included (the JSON would differ)
    got = [np.copysign(1.0, v) for c in summary.angle_coverage.values() for v in vars(c).values()]
    ref = [np.copysign(1.0, v) for c in want.coverage.values() for v in vars(c).values()]
    assert got == ref
    # shards whose records hold no statistics (a partial job of an older version) are read
    for recorded in ({}, {0: gen._shard_stats(len(meta["activity_names"]), _stored(Path(summary.out), 0))}):
        again = gen._summarize(Path(summary.out), sizes, len(meta["activity_names"]), meta["angle_names"], recorded)
        assert again.activities.tolist() == want.activities.tolist()
        assert again.coverage == want.coverage


def _stored(root: Path, index: int) -> dict[str, np.ndarray]:
    return {k: read_shard_array(root, index, k) for k in ("activity", "angles")}


def test_shard_statistics_travel_in_the_records_as_exact_floats(tmp_path) -> None:
    import json

    config = gen.load_config(samples=50, shard_size=20)
    task = next(iter(gen.generate_job(config).tasks()))
    made = gen.generate_task(config, task).finish()
    stats = json.loads(json.dumps(made.stats))
    angles = made.arrays["angles"]
    assert angles.dtype == np.float32
    assert np.array_equal(np.asarray(stats["angle_min"], dtype=np.float32), angles.min(axis=0))
    assert np.array_equal(np.asarray(stats["angle_max"], dtype=np.float32), angles.max(axis=0))
    assert sum(stats["activities"]) == task.samples


def test_in_process_the_summary_reads_no_shard_back(tmp_path, monkeypatch) -> None:
    """In this process the percentiles' rows are kept as the shards are made (their pages
    leave the cache once on disk); on worker processes, and for resumed shards, they are
    read back. The summaries are the same."""
    from posesynth.jobs.executors import ProcessExecutor

    monkeypatch.setattr(gen, "COVERAGE_SAMPLES", 500)
    config = gen.load_config(samples=1300, shard_size=400)
    reads: list[tuple[int, str, int | None]] = []

    def reading(root, index, name, rows=None):
        reads.append((index, name, rows))
        return read_shard_array(root, index, name, rows)

    monkeypatch.setattr(gen, "read_shard_array", reading)
    here = gen.generate(config, tmp_path / "here", preview=False)
    assert reads == []
    with ProcessExecutor(2) as workers:
        there = gen.generate(config, tmp_path / "there", preview=False, executor=workers)
    assert sorted(reads) == [(0, "angles", 154), (1, "angles", 154), (2, "angles", 154), (3, "angles", 39)]
    assert here.angle_coverage == there.angle_coverage and here.activities == there.activities
