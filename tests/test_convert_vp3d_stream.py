"""``convert`` streams a store into VideoPose3D subject by subject: data with subject and
frame ids, a shared camera rig, repeated cameras, augment's poses. The files equal the
in-memory writer's byte for byte, and the streamed check pairs every sample with its view."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from posesynth.cli.main import app
from posesynth.data.dataset import PoseDataset
from posesynth.data.formats import registry
from posesynth.data.formats.registry import convert_streamed, iter_chunks, read_any, write_any
from posesynth.data.formats.store_io import write_store_dataset
from posesynth.data.roundtrip import compare_chunked, compare_datasets
from posesynth.geometry.camera import concat_cameras, h36m_subject_cameras
from posesynth.jobs.generate import GenerateConfig, generate_dataset

runner = CliRunner()
H36M_IDS = ("54138969", "55011271", "58860488", "60457274")


def _files(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def base() -> PoseDataset:
    return generate_dataset(GenerateConfig(samples=60, seed=41)).complete()


def _rig(base: PoseDataset, subjects: list[str], frames: int, *, action: str = "Walking") -> PoseDataset:
    """Human3.6M's shape: per subject ``frames`` poses, each seen by its 4 calibrated cameras
    (a camera table), samples frame by frame; subjects in the order given."""
    table = concat_cameras([h36m_subject_cameras(s) for s in subjects])
    names = np.array([f"{s}/{c}" for s in subjects for c in H36M_IDS])
    k = len(subjects) * frames * 4
    i = np.arange(k)
    subj = i // (frames * 4)
    pose = (i // 4) % base.joints_3d_world.shape[0]
    ds = replace(
        base.select(pose), joints_3d_camera=None, joints_2d=None, visibility=None,
        cameras=table, camera_index=subj * 4 + i % 4, camera_names=names,
        subject=np.array(subjects)[subj], action=np.full(k, action), frame=(i // 4) % frames, extra={},
    )  # fmt: skip
    return ds.complete()


def _both(ds: PoseDataset, root: Path, rows: int, **kw) -> tuple[Path, object]:
    store = write_store_dataset(ds, root / "store")
    write_any(read_any(store), root / "mem", "videopose3d", **kw)
    done = convert_streamed(store, root / "str", "videopose3d", "posesynth", rows=rows, **kw)
    return store, done


@pytest.mark.parametrize("subjects", [["S1", "S5"], ["S9", "S11"]])
@pytest.mark.parametrize("rows", [5, 33, 64])
def test_h36m_rig_with_ids_streams_same_bytes(base: PoseDataset, tmp_path: Path, subjects, rows: int) -> None:
    """Subject and frame ids, each pose through the 4 calibrated cameras (VideoPose3D's own
    camera order); S9 before S11 (not sorted) as in MMPose's test set."""
    ds = _rig(base, subjects, 12)
    store, done = _both(ds, tmp_path, rows, name="h36m")
    assert done is not None and done.samples == 96 and done.num_cameras == 8
    assert _files(tmp_path / "str") == _files(tmp_path / "mem")
    doc = json.loads((tmp_path / "str" / "cameras_h36m.json").read_text())
    assert list(doc["cameras"]) == subjects and doc["projected_views"] == 0
    chunked = compare_chunked(iter_chunks(store, "posesynth", rows)[1], done.read_back())
    whole = compare_datasets(read_any(store), read_any(tmp_path / "mem"))
    assert whole.ok and chunked.ok, (whole.problems, chunked.problems)
    assert chunked.matched == 96 and chunked.aligned_by == "order"
    assert set(chunked.compared_ids) >= {"subject", "action", "frame"}
    for name in ("joints_3d_world", "joints_2d", "cameras.rotation", "cameras.intrinsics"):
        assert chunked.check(name).max_abs == whole.check(name).max_abs, name


def test_missing_views_projected_alike(base: PoseDataset, tmp_path: Path) -> None:
    """A camera that misses frames: both writers project the same views; both checks count
    them as extra output (the in-memory check's own verdict, kept)."""
    ds = _rig(base, ["S1", "S7"], 10)
    keep = ~((ds.subject == "S7") & (ds.camera_index % 4 != 1))  # S7: camera 55011271 alone
    ds = ds.select(np.flatnonzero(keep))
    store, done = _both(ds, tmp_path, 16, name="h36m")
    assert done is not None
    assert _files(tmp_path / "str") == _files(tmp_path / "mem")
    assert json.loads((tmp_path / "str" / "cameras_h36m.json").read_text())["projected_views"] == 30
    whole = compare_datasets(read_any(store), read_any(tmp_path / "mem"))
    chunked = compare_chunked(iter_chunks(store, "posesynth", 16)[1], done.read_back())
    assert whole.extra == chunked.extra == 30 and whole.matched == chunked.matched == len(ds)
    assert whole.problems == chunked.problems


def test_augmented_rigs_stream(base: PoseDataset, tmp_path: Path) -> None:
    """Augment's shape: no subject ids, (source_index, variant) poses, the variants of a
    source through its camera (a camera per sample, repeated): a subject per source."""
    counts = np.array([3, 1, 4, 2, 3, 1, 2, 4, 1, 3] * 2)
    src = np.repeat(np.arange(counts.size), counts)
    var = np.concatenate([np.arange(c) for c in counts])
    cams = base.sample_cameras()[src % base.num_cameras]
    ds = replace(
        base.select(np.arange(src.size) % 60), joints_3d_camera=None, joints_2d=None, cameras=cams,
        camera_index=None, camera_names=None, extra={"source_index": src, "variant": var},
    ).complete()  # fmt: skip
    store, done = _both(ds, tmp_path, 9)
    assert done is not None and done.num_cameras == len(ds)
    assert _files(tmp_path / "str") == _files(tmp_path / "mem")
    back = read_any(tmp_path / "mem")
    assert np.unique(back.subject).size == counts.size
    chunked = compare_chunked(iter_chunks(store, "posesynth", 9)[1], done.read_back())
    assert chunked.ok and chunked.matched == len(ds), chunked.problems


def test_subject_ids_with_per_sample_cameras(base: PoseDataset, tmp_path: Path) -> None:
    """Subject ids and a camera per sample, the same 3 cameras again and again in a subject
    (a rig stored per sample), frames out of order."""
    n = 63
    subj = np.repeat(["A", "C", "B"], 21)
    cam = base.sample_cameras()[np.tile([0, 1, 2], 21) + 3 * (np.arange(n) // 21)]
    frame = np.tile(np.repeat(np.arange(7)[::-1], 3), 3)
    pose = frame + 10 * (np.arange(n) // 21)
    ds = replace(
        base.select(pose), joints_3d_camera=None, joints_2d=None, cameras=cam, camera_index=None,
        camera_names=None, subject=subj, frame=frame, extra={},
    ).complete()  # fmt: skip
    store, done = _both(ds, tmp_path, 7)
    assert done is not None
    assert _files(tmp_path / "str") == _files(tmp_path / "mem")
    chunked = compare_chunked(iter_chunks(store, "posesynth", 7)[1], done.read_back())
    assert chunked.ok and chunked.matched == n, chunked.problems


def test_not_streamed_when_a_subject_comes_back(base: PoseDataset, tmp_path: Path) -> None:
    ds = _rig(base, ["S1", "S5"], 6)
    order = np.r_[np.arange(12), np.arange(24, 48), np.arange(12, 24)]  # S1, S5, S1 again
    store = write_store_dataset(ds.select(order), tmp_path / "s")
    assert convert_streamed(store, tmp_path / "o", "videopose3d", "posesynth", rows=10) is None
    bare = write_store_dataset(replace(ds, cameras=None, camera_index=None, camera_names=None), tmp_path / "b")
    assert convert_streamed(bare, tmp_path / "o", "videopose3d", "posesynth", rows=10) is None
    flat = replace(ds, joints_3d_world=None, joints_3d_camera=None)  # 2D alone: written in memory
    assert (
        convert_streamed(write_store_dataset(flat, tmp_path / "f"), tmp_path / "o", "videopose3d", "posesynth", rows=10)
        is None
    )
    assert not (tmp_path / "o").exists()


def test_cli_streams_h36m_rig_and_checks(base: PoseDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _rig(base, ["S9", "S11"], 15)
    store = write_store_dataset(ds, tmp_path / "s")
    monkeypatch.setattr(registry, "STREAM_ROWS", 25)
    res = runner.invoke(app, ["convert", str(store), str(tmp_path / "vp"), "--to", "videopose3d", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["check"]["ok"] and doc["check"]["chunks"] == 5 and doc["samples"] == 120 and doc["cameras"] == 8
    monkeypatch.setattr(registry, "STREAM_ROWS", 10_000)
    res = runner.invoke(app, ["convert", str(store), str(tmp_path / "vm"), "--to", "videopose3d", "--json"])
    assert res.exit_code == 0, res.output
    assert _files(tmp_path / "vp") == _files(tmp_path / "vm")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(1, 9), min_size=1, max_size=8),
    views=st.integers(1, 3),
    ids=st.booleans(),
    rows=st.integers(1, 40),
)
def test_streamed_equals_in_memory_property(
    base: PoseDataset, tmp_path_factory: pytest.TempPathFactory, sizes, views, ids, rows
) -> None:
    """Subjects of any sizes, each pose through 1-3 cameras of its own (per sample), with
    subject and frame ids or none (rigs), any chunk size: the same bytes, a passing check."""
    root = tmp_path_factory.mktemp("vprop")
    subj = np.repeat(np.arange(len(sizes)), np.array(sizes) * views)
    frame = np.concatenate([np.repeat(np.arange(s), views) for s in sizes])
    slot = np.concatenate([np.tile(np.arange(views), s) for s in sizes])
    cam = base.sample_cameras()[(subj * 3 + slot) % 60]
    pose = (subj * 7 + frame) % 60
    ds = replace(
        base.select(pose), joints_3d_camera=None, joints_2d=None, cameras=cam, camera_index=None,
        camera_names=None, extra={},
        subject=np.char.add("P", subj.astype(str)) if ids else None, frame=frame if ids else None,
    ).complete()  # fmt: skip
    if not ids:  # a pose per (source, variant): the rig of each pose is its subject's cameras
        ds = replace(ds, extra={"source_index": subj, "variant": frame})
    if len(ds) <= rows:
        return
    store, done = _both(ds, root, rows)
    assert done is not None
    assert _files(root / "str") == _files(root / "mem")
    chunked = compare_chunked(iter_chunks(store, "posesynth", rows)[1], done.read_back())
    assert chunked.ok and chunked.matched == len(ds), chunked.problems


def test_subject_views_pick_and_chunks_equal_the_whole_reader(base: PoseDataset, tmp_path: Path) -> None:
    from posesynth.data.formats.videopose3d import read_videopose3d_chunks, read_videopose3d_subjects

    ds = _rig(base, ["S9", "S11"], 7)
    write_any(ds, tmp_path / "vp", "videopose3d", name="h36m")
    whole = read_any(tmp_path / "vp")
    chunks = list(read_videopose3d_chunks(tmp_path / "vp", "h36m", rows=9))
    assert [len(c) for c in chunks] == [9] * 6 + [2]
    for name in ("joints_3d_world", "joints_2d", "subject", "action", "frame"):
        got = np.concatenate([getattr(c, name) for c in chunks])
        np.testing.assert_array_equal(got, getattr(whole, name), err_msg=name)
    np.testing.assert_array_equal(
        np.concatenate([c.sample_cameras().rotation for c in chunks]), whole.sample_cameras().rotation
    )
    first = next(read_videopose3d_subjects(tmp_path / "vp", "h36m"))
    pick = np.array([27, 0, 5, 5, 13])
    part, ref = first.dataset(pick), first.dataset().select(pick)
    for name in ("joints_3d_world", "joints_2d", "subject", "action", "frame"):
        np.testing.assert_array_equal(getattr(part, name), getattr(ref, name), err_msg=name)
    np.testing.assert_array_equal(part.extra["camera"], ref.extra["camera"])
    assert len(first) == 28 and first.subject == "S9"


def test_pose_ids_keep_subject_action_and_frame_apart(base: PoseDataset) -> None:
    """("S1", "walk1", 2) and ("S1", "walk", 12) are two poses (a string key without
    separators, NumPy dropping trailing NULs, once made them one)."""
    from posesynth.data.formats.videopose3d import pose_ids

    ds = replace(
        base.select(np.arange(4)),
        subject=np.array(["S1", "S1", "S1", "S2"]),
        action=np.array(["walk1", "walk", "walk1", "walk1"]),
        frame=np.array([2, 12, 2, 2]),
    )
    pose, how = pose_ids(ds)
    assert how == "frame" and pose.tolist() == [0, 1, 0, 2]
