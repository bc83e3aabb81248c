"""``posesynth augment`` into a store, sharded (:mod:`posesynth.jobs.augment_store`): the same bytes
on every executor and as in memory, resume after SIGKILL, refusal of another source or
configuration, an interrupted commit finished, the summary kept in the store."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from helpers import enospc_after, kill_after_shards, tree_digest
from posesynth.body.skeleton import H36M17
from posesynth.data.formats.registry import read_any
from posesynth.data.formats.store_io import read_store, write_store_dataset
from posesynth.data.store import open_store
from posesynth.data.store import writer as store_writer
from posesynth.jobs.augment import augment
from posesynth.jobs.augment_source import read_source, source_positions
from posesynth.jobs.augment_store import SUMMARY_NAME, augment_to_store
from posesynth.jobs.camera_config import CamerasConfig
from posesynth.jobs.executors import DaskExecutor, ProcessExecutor
from posesynth.jobs.generate import generate_dataset, load_config
from posesynth.jobs.shards import partial_path
from posesynth.poses.motion_spec import load_motions

SHARD = 160  # variants per shard: 40 frames of 4 full-rom variants; 600 frames make 15 shards


@pytest.fixture(scope="module")
def source():
    """600 procedural poses with their own (per-sample) cameras and subject ids."""
    ds = generate_dataset(load_config(samples=600, seed=3, shard_size=200))
    return replace(ds, subject=np.array(["S1", "S5", "S11"] * 200))


@pytest.fixture(scope="module")
def motions():
    return load_motions("full-rom", H36M17)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, source, motions) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("ref") / "aug"
    summary = augment_to_store(source, motions, None, out, seed=9, shard_size=SHARD)
    return out, summary


def test_the_store_holds_the_job_and_its_summary(reference, motions) -> None:
    out, summary = reference
    store = open_store(out)
    store.verify()
    assert summary.shards == 15 and summary.resumed_shards == 0
    assert summary.rejected_rom > 0 and summary.rejected_collision >= 0
    kept = 600 * motions.variants - summary.rejected_rom - summary.rejected_collision
    assert store.samples == summary.samples == kept == summary.cameras
    on_disk = json.loads((out / SUMMARY_NAME).read_text())
    assert on_disk == {k: v for k, v in summary.to_dict().items() if k in on_disk}
    assert list(summary.to_dict())[-6:] == ["out", "shards", "resumed_shards", "redone_shards", "executor", "seconds"]
    for h in summary.angles.values():
        assert sum(h["before"]) == sum(h["after"]) == kept
        assert len(h["bin_edges_deg"]) == len(h["before"]) + 1
    meta = store.meta
    assert meta["source"]["generator"] == "posesynth augment" and meta["source"]["seed"] == 9
    assert len(meta["source"]["source_rows_sha256"]) == 64
    assert meta["cameras"]["per_sample"] is True and "count" not in meta["cameras"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["aug"]  # no partial folder, no staging


def test_in_memory_augment_gives_the_same_samples(reference, source, motions) -> None:
    out, summary = reference
    stored = read_store(out)
    mem = augment(source, motions, None, seed=9, shard_size=SHARD)
    for key in ("joints_3d_world", "joints_3d_camera", "joints_2d", "visibility", "subject"):
        np.testing.assert_array_equal(getattr(stored, key), getattr(mem.dataset, key), err_msg=key)
    for key in ("source_index", "variant"):
        np.testing.assert_array_equal(stored.extra[key], mem.dataset.extra[key])
    np.testing.assert_array_equal(stored.cameras.center, mem.dataset.cameras.center)
    counts = mem.summary.to_dict()
    assert counts == {k: v for k, v in summary.to_dict().items() if k in counts}


@pytest.mark.slow
def test_two_processes_and_dask_give_the_same_bytes(tmp_path: Path, reference, source, motions) -> None:
    pytest.importorskip("distributed")
    ref = tree_digest(reference[0])
    with ProcessExecutor(2) as ex:
        summary = augment_to_store(source, motions, None, tmp_path / "p", seed=9, shard_size=SHARD, executor=ex)
    assert summary.executor.startswith("2 local processes")
    assert tree_digest(tmp_path / "p") == ref
    with DaskExecutor(local_workers=2) as ex:
        augment_to_store(source, motions, None, tmp_path / "d", seed=9, shard_size=SHARD, executor=ex)
    assert tree_digest(tmp_path / "d") == ref
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "p"]


@pytest.mark.parametrize(
    "cameras", [CamerasConfig(model="fisheye", count=2), CamerasConfig(rig="h36m")], ids=["fisheye2", "h36m-rig"]
)
def test_new_cameras_and_rigs_match_in_memory(tmp_path: Path, source, cameras) -> None:
    motions = load_motions("seed-knee", H36M17)
    summary = augment_to_store(source, motions, cameras, tmp_path / "a", seed=1, shard_size=100)
    stored = read_store(tmp_path / "a")
    mem = augment(source, motions, cameras, seed=1, shard_size=100).dataset
    assert len(stored) == summary.samples == len(mem)
    np.testing.assert_array_equal(stored.joints_2d, mem.joints_2d)
    np.testing.assert_array_equal(stored.sample_cameras().center, mem.sample_cameras().center)
    if cameras.rig == "h36m":  # 3 subjects x 4 cameras in one table, indexed per sample
        assert stored.num_cameras == 12 == summary.cameras and stored.camera_index is not None
        assert open_store(tmp_path / "a").meta["cameras"]["count"] == 12


def test_empty_shards_are_dropped_and_the_rest_renumbered(tmp_path: Path, source) -> None:
    """Knees bent 139-140 deg further under ``rom: reject``: only poses with nearly straight
    knees stay in range; sorted most bent first, the first shards come out empty."""
    from posesynth.body.angles import pose_angles
    from posesynth.poses.motion_spec import Motion, MotionsConfig

    knees = pose_angles(source.joints_3d_world, H36M17)
    bent = np.maximum(knees["right_knee_flexion"], knees["left_knee_flexion"])
    ds = source.select(np.argsort(-bent))
    motions = MotionsConfig(
        rom="reject", collisions="off",
        motions=[Motion(angle="knee_flexion", range_deg=(139.0, 140.0), mode="add")],
    )  # fmt: skip
    summary = augment_to_store(ds, motions, None, tmp_path / "e", seed=0, shard_size=50)
    store = open_store(tmp_path / "e")
    store.verify()
    assert summary.shards == 12 and len(store.shards) < 12
    assert 0 < store.samples == summary.samples < len(ds)
    assert store.read("source_index").min() > 50  # the first shard held only bent knees
    mem = augment(ds, motions, None, seed=0, shard_size=50).dataset
    np.testing.assert_array_equal(read_store(tmp_path / "e").joints_3d_world, mem.joints_3d_world)


def test_disk_full_then_rerun_finishes_and_another_source_is_refused(
    tmp_path: Path, monkeypatch, reference, source, motions
) -> None:
    out = tmp_path / "aug"
    enospc_after(monkeypatch, good_shards=3)
    with pytest.raises(OSError, match="3 of 15 shards are complete"):
        augment_to_store(source, motions, None, out, seed=9, shard_size=SHARD)
    monkeypatch.undo()
    partial = partial_path(out)
    before = tree_digest(partial)
    moved = replace(source, joints_3d_world=source.joints_3d_world + 0.001, joints_3d_camera=None, joints_2d=None)
    with pytest.raises(ValueError, match=r"refusing to resume.*source_rows_sha256"):
        augment_to_store(moved, motions, None, out, seed=9, shard_size=SHARD)
    with pytest.raises(ValueError, match=r"meta\.source\.seed: 9 in the partial job, 10 now"):
        augment_to_store(source, motions, None, out, seed=10, shard_size=SHARD)
    assert tree_digest(partial) == before
    summary = augment_to_store(source, motions, None, out, seed=9, shard_size=SHARD)
    assert summary.resumed_shards == 3
    assert tree_digest(out) == tree_digest(reference[0])


def test_a_commit_cut_short_is_finished(tmp_path: Path, monkeypatch, reference, source, motions) -> None:
    out = tmp_path / "aug"

    def no_rename(tmp, path):
        raise OSError(errno.EIO, "simulated crash during the rename")

    monkeypatch.setattr(store_writer, "move_into_place", no_rename)  # the one commit of both writers
    with pytest.raises(OSError, match="15 of 15 shards are complete"):
        augment_to_store(source, motions, None, out, seed=9, shard_size=SHARD)
    monkeypatch.undo()
    assert not (partial_path(out) / "progress").exists()
    summary = augment_to_store(source, motions, None, out, seed=9, shard_size=SHARD)
    assert tree_digest(out) == tree_digest(reference[0])
    assert summary.samples == reference[1].samples


def test_killed_augment_resumes_to_the_same_bytes(tmp_path: Path, source, motions) -> None:
    src = write_store_dataset(source, tmp_path / "src")
    out = tmp_path / "aug"
    cmd = [sys.executable, "-m", "posesynth.cli.main", "augment", str(src), "--motions", "full-rom",
           "--out", str(out), "--seed", "4", "--shard-size", "40", "--workers", "2", "--no-figure"]  # fmt: skip
    done = partial_path(out) / "progress" / "done"
    recorded = kill_after_shards(cmd, done, 3, timeout=90)
    assert not out.exists() and 3 <= recorded < 60
    assert (partial_path(out) / "progress" / "input" / "positions.npy").is_file()  # staged for the workers

    rerun = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=180, check=False)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["resumed_shards"] >= recorded and summary["shards"] == 60

    augment_to_store(read_store(src), motions, None, tmp_path / "ref", seed=4, shard_size=40)
    assert tree_digest(out) == tree_digest(tmp_path / "ref")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aug", "ref", "src"]


def test_a_store_source_is_read_lean_and_gives_the_same_bytes(tmp_path: Path, source, motions) -> None:
    src = write_store_dataset(source, tmp_path / "src")
    lean = read_source(src)
    assert lean.joints_3d_camera is None and lean.joints_2d is None and lean.extra == {}
    full = read_any(src)
    np.testing.assert_array_equal(lean.joints_3d_world, full.joints_3d_world)
    assert lean.meta == full.meta
    augment_to_store(full, motions, None, tmp_path / "from-full", seed=9, shard_size=SHARD)
    augment_to_store(lean, motions, None, tmp_path / "from-lean", seed=9, shard_size=SHARD)
    assert tree_digest(tmp_path / "from-lean") == tree_digest(tmp_path / "from-full")


def test_read_store_selects_arrays_and_needs_joints(tmp_path: Path, source) -> None:
    src = write_store_dataset(source, tmp_path / "src")
    part = read_store(src, arrays={"joints_2d", "activity", "no_such_array"})
    assert part.joints_3d_world is None and part.joints_2d is not None and set(part.extra) == {"activity"}
    with pytest.raises(ValueError, match=r"src: none of the arrays asked for \(\['angles'\]\) holds joints"):
        read_store(src, arrays={"angles"})


def test_a_2d_only_store_is_refused_by_name(tmp_path: Path, source) -> None:
    flat = replace(source, joints_3d_world=None, joints_3d_camera=None)
    src = write_store_dataset(flat, tmp_path / "flat")
    with pytest.raises(ValueError, match=r"flat: augment: the store has no 3D joints \(2D only\)"):
        read_source(src)


def test_a_camera_3d_store_gives_world_3d_through_its_cameras(tmp_path: Path, source) -> None:
    cam_only = replace(source, joints_3d_world=None, joints_2d=None)
    lean = read_source(write_store_dataset(cam_only, tmp_path / "cam"))
    assert lean.joints_3d_world is None and lean.joints_3d_camera is not None
    np.testing.assert_allclose(source_positions(lean), source.joints_3d_world, atol=1e-6)  # float32 storage
