"""Sharded jobs: the same bytes on every executor, resume after a kill, refusals, full disks."""

from __future__ import annotations

import errno
import functools
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import enospc_after, kill_after_shards, tree_digest
from posesynth.data.store import open_store
from posesynth.data.store import writer as store_writer
from posesynth.jobs.executors import DaskExecutor, ProcessExecutor
from posesynth.jobs.generate import generate, load_config
from posesynth.jobs.shards import (
    DeferredShard,
    ShardedJob,
    ShardOutput,
    ShardTask,
    partial_path,
    run_sharded,
    shard_sizes,
)

CFG = {"samples": 1300, "seed": 11, "shard_size": 250}  # 6 shards, the last one short


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """File hashes of an uninterrupted in-process run of ``CFG``."""
    out = tmp_path_factory.mktemp("ref") / "data"
    generate(load_config(**CFG), out)
    return tree_digest(out)


def test_shard_sizes() -> None:
    assert shard_sizes(1300, 250) == [250] * 5 + [50]
    assert shard_sizes(500, 250) == [250, 250]
    assert shard_sizes(3, 10) == [3]
    with pytest.raises(ValueError, match="samples >= 1"):
        shard_sizes(0, 10)


def test_in_process_and_two_processes_give_the_same_bytes(tmp_path: Path, reference) -> None:
    assert len([k for k in reference if k.endswith("joints_2d.npy")]) == 6
    assert "preview.png" in reference and "dataset.json" in reference
    with ProcessExecutor(2) as ex:
        summary = generate(load_config(**CFG), tmp_path / "p", executor=ex, max_in_flight=3)
    assert tree_digest(tmp_path / "p") == reference
    assert summary.shards == 6 and summary.resumed_shards == 0
    assert summary.executor.startswith("2 local processes")
    doc = summary.to_dict()  # the `generate --json` document: its keys and order, plain JSON values
    assert list(doc) == ["out", "samples", "cameras", "seed", "skeleton", "camera_model", "seconds", "activities",
                         "angle_coverage", "preview", "shards", "resumed_shards", "redone_shards", "executor"]  # fmt: skip
    first = doc["angle_coverage"][next(iter(doc["angle_coverage"]))]
    assert list(first) == ["min_deg", "p5_deg", "p50_deg", "p95_deg", "max_deg"]
    assert json.loads(json.dumps(doc)) == doc
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]  # no partial folder left


def test_dask_local_cluster_gives_the_same_bytes(tmp_path: Path, reference) -> None:
    pytest.importorskip("distributed")
    with DaskExecutor(local_workers=2) as ex:
        generate(load_config(**CFG), tmp_path / "d", executor=ex)
    assert tree_digest(tmp_path / "d") == reference


def test_summary_is_bounded_and_exact_where_it_matters(tmp_path: Path, monkeypatch) -> None:
    from posesynth.jobs import generate as generate_module

    full = generate(load_config(**CFG), tmp_path / "a", preview=False)
    monkeypatch.setattr(generate_module, "COVERAGE_SAMPLES", 300)  # subsample the percentiles
    sub = generate(load_config(**CFG), tmp_path / "b", preview=False)
    assert sub.activities == full.activities
    for name, stats in full.angle_coverage.items():
        other = sub.angle_coverage[name]
        assert (other.min_deg, other.max_deg) == (stats.min_deg, stats.max_deg)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")


# -- resume ------------------------------------------------------------------------------------


def test_disk_full_removes_the_partial_shard_and_a_rerun_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference
) -> None:
    out = tmp_path / "data"
    partial = partial_path(out)
    enospc_after(monkeypatch, good_shards=2)
    with pytest.raises(OSError) as err:
        generate(load_config(**CFG), out)
    assert err.value.errno == errno.ENOSPC
    assert "2 of 6 shards are complete" in str(err.value) and "rerun the same command" in str(err.value)
    assert not out.exists()
    assert sorted(p.name for p in (partial / "shards").iterdir()) == ["000000", "000001"]
    assert list((partial / "progress" / "tmp").iterdir()) == []  # the partial shard is gone
    assert len(list((partial / "progress" / "done").iterdir())) == 2
    monkeypatch.undo()

    # leftovers of a kill: a stray shard folder without record, a temporary, a half record
    (partial / "shards" / "000004").mkdir()
    (partial / "shards" / "000004" / "joints_2d.npy").write_bytes(b"half")
    (partial / "progress" / "tmp" / "000003-1-ab").mkdir()
    (partial / "progress" / "done" / "000003.json.tmp").write_text("{")
    progress: list[int] = []
    summary = generate(load_config(**CFG), out, progress=progress.append)
    assert summary.resumed_shards == 2 and summary.redone_shards == 0
    assert progress[0] == 500 and sum(progress) == 1300  # resumed samples reported first
    assert tree_digest(out) == reference
    assert not partial.exists()


def test_a_recorded_shard_that_fails_its_checksum_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference
) -> None:
    out = tmp_path / "data"
    enospc_after(monkeypatch, good_shards=3)
    with pytest.raises(OSError):
        generate(load_config(**CFG), out)
    monkeypatch.undo()
    victim = partial_path(out) / "shards" / "000001" / "angles.npy"
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    summary = generate(load_config(**CFG), out)
    assert summary.resumed_shards == 2 and summary.redone_shards == 1
    assert tree_digest(out) == reference


def test_refuses_to_resume_another_configuration(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "data"
    enospc_after(monkeypatch, good_shards=1)
    with pytest.raises(OSError):
        generate(load_config(**CFG), out)
    monkeypatch.undo()
    before = tree_digest(partial_path(out))
    with pytest.raises(ValueError) as err:
        generate(load_config(**{**CFG, "seed": 12}), out)
    message = str(err.value)
    assert "another configuration, refusing to resume" in message
    assert "meta.config.seed: 11 in the partial job, 12 now" in message
    assert "meta.seed" in message and f"delete {partial_path(out)}" in message
    with pytest.raises(ValueError, match=r"meta\.config\.shard_size: 250 in the partial job, 300 now"):
        generate(load_config(**{**CFG, "shard_size": 300}), out)
    assert tree_digest(partial_path(out)) == before  # untouched
    assert not out.exists()


def test_a_commit_cut_short_is_finished(tmp_path: Path, monkeypatch, reference) -> None:
    out = tmp_path / "data"

    def no_rename(tmp, path):
        raise OSError(errno.EIO, "simulated crash during the rename")

    monkeypatch.setattr(store_writer, "move_into_place", no_rename)  # the one commit of both writers
    with pytest.raises(OSError, match="6 of 6 shards are complete"):
        generate(load_config(**CFG), out)
    monkeypatch.undo()
    partial = partial_path(out)
    assert (partial / "dataset.json").is_file() and not (partial / "progress").exists()
    summary = generate(load_config(**CFG), out)
    assert summary.resumed_shards == 6
    assert tree_digest(out) == reference


def test_a_running_job_locks_its_folder(tmp_path: Path) -> None:
    fcntl = pytest.importorskip("fcntl")
    out = tmp_path / "data"
    progress = partial_path(out) / "progress"
    progress.mkdir(parents=True)
    with open(progress / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ValueError, match="another posesynth job is writing"):
            generate(load_config(**CFG), out)
    assert not out.exists()


def test_refuses_a_foreign_folder_in_the_way(tmp_path: Path) -> None:
    out = tmp_path / "data"
    partial_path(out).mkdir()
    (partial_path(out) / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="is not a partial posesynth job"):
        generate(load_config(**CFG), out)
    assert (partial_path(out) / "notes.txt").read_text() == "mine"


def test_existing_output_is_refused_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "data"
    out.mkdir()
    (out / "x").write_text("x")
    with pytest.raises(ValueError, match="already exists"):
        generate(load_config(**CFG), out)
    assert not partial_path(out).exists()


# -- any job -----------------------------------------------------------------------------------


def toy_shard(scale: float, task: ShardTask) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(task.seed)
    n = task.samples
    return {"x": scale * rng.normal(size=(n, 2)), "k": np.arange(task.start, task.start + n, dtype=np.int32)}


def test_any_job_runs_sharded(tmp_path: Path) -> None:
    job = ShardedJob(meta={"toy": True}, sizes=(4, 4, 1), seed=3, make_shard=functools.partial(toy_shard, 2.0))
    result = run_sharded(job, tmp_path / "toy", max_in_flight=1)
    store = open_store(result.path)
    store.verify()
    assert store.samples == 9 and store.meta == {"toy": True}
    seeds = np.random.SeedSequence(3).spawn(3)
    np.testing.assert_array_equal(store.read("x", 4, 8), toy_shard(2.0, ShardTask(1, 4, seeds[1], 4))["x"])
    np.testing.assert_array_equal(store.read("k"), np.arange(9))


def _threads_of_blas() -> list[int]:
    from threadpoolctl import threadpool_info

    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def deferred_toy_shard(scale: float, task: ShardTask) -> DeferredShard:
    """``toy_shard`` in two halves: the second runs where the shard is written, and records
    its thread and the BLAS thread counts it saw."""
    import threading

    def finish() -> ShardOutput:
        seen = {"thread": threading.current_thread().name, "blas_threads": _threads_of_blas()}
        return ShardOutput(toy_shard(scale, task), stats=seen)

    return DeferredShard(finish)


def _make_on_main_thread(task: ShardTask) -> DeferredShard:
    import threading

    assert threading.current_thread() is threading.main_thread()
    assert set(_threads_of_blas()) <= {1}
    return deferred_toy_shard(2.0, task)


def test_a_deferred_shard_finishes_on_the_writer_thread_with_the_same_bytes(tmp_path: Path) -> None:
    seen: dict[int, dict] = {}
    job = ShardedJob(meta={"toy": True}, sizes=(4, 4, 1), seed=3, make_shard=_make_on_main_thread)
    run_sharded(job, tmp_path / "deferred", before_commit=lambda _root, stats: seen.update(stats))
    plain = run_sharded(
        ShardedJob(meta={"toy": True}, sizes=(4, 4, 1), seed=3, make_shard=functools.partial(toy_shard, 2.0)),
        tmp_path / "plain",
    )
    assert tree_digest(tmp_path / "deferred") == tree_digest(plain.path)
    assert sorted(seen) == [0, 1, 2]
    # the second half ran off the thread that makes shards, with BLAS on one thread
    assert all(s["thread"].startswith("posesynth-write") for s in seen.values())
    assert all(set(s["blas_threads"]) <= {1} for s in seen.values())


def test_a_deferred_shard_finishes_in_the_worker_process(tmp_path: Path) -> None:
    seen: dict[int, dict] = {}
    job = ShardedJob(meta={}, sizes=(3, 3), seed=5, make_shard=functools.partial(deferred_toy_shard, 1.0))
    with ProcessExecutor(2) as ex:
        run_sharded(job, tmp_path / "p", executor=ex, before_commit=lambda _root, stats: seen.update(stats))
    assert sorted(seen) == [0, 1]
    assert all(set(s["blas_threads"]) <= {1} for s in seen.values())


def test_a_shard_of_the_wrong_layout_is_an_error(tmp_path: Path) -> None:
    def uneven(task):
        n = task.samples
        return {"x": np.zeros((n, 2 if n > 1 else 3))}

    job = ShardedJob(meta={}, sizes=(2, 1), seed=0, make_shard=uneven)
    with pytest.raises(ValueError, match=r"shard 1, array 'x': expected shape \(n, 2\)"):
        run_sharded(job, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


# -- the command line: kill -9 and rerun ---------------------------------------------------------


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "posesynth.cli.main", "generate", *args]


@pytest.mark.slow
def test_killed_job_resumes_to_the_same_bytes(tmp_path: Path) -> None:
    out = tmp_path / "big"
    args = ("--out", str(out), "--samples", "30000", "--seed", "5", "--shard-size", "250",
            "--workers", "2")  # fmt: skip
    done = partial_path(out) / "progress" / "done"
    recorded = kill_after_shards(cli(*args), done, 3, timeout=60)
    assert not out.exists()
    assert 3 <= recorded < 120

    rerun = subprocess.run(  # the same command again
        cli(*args, "--json"), capture_output=True, text=True, timeout=120, check=False
    )
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["resumed_shards"] >= recorded and summary["shards"] == 120

    generate(load_config(samples=30000, seed=5, shard_size=250), tmp_path / "ref")
    assert tree_digest(out) == tree_digest(tmp_path / "ref")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big", "ref"]


def test_cli_unreachable_scheduler_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    start = time.perf_counter()
    proc = subprocess.run(
        cli("--out", str(tmp_path / "o"), "--samples", "10", "--scheduler", "tcp://127.0.0.1:9",
            "--connect-timeout", "1"),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert time.perf_counter() - start < 30
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not reach a Dask scheduler within 1 s" in lines[0], proc.stderr
    assert not list(tmp_path.iterdir())
