"""``convert`` streams a store into TRC when rows fold (several cameras per frame, augment's
views of one pose) or come out of order: the files equal the in-memory writer's byte for
byte, whatever the chunking, and the streamed check compares every sample with its row."""

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
from posesynth.data.dataset import PoseDataset, concat_datasets
from posesynth.data.formats import registry
from posesynth.data.formats.registry import convert_streamed, iter_chunks, read_any, write_any, written_ids
from posesynth.data.formats.store_io import write_store_dataset
from posesynth.data.formats.trc import TrcLines, plan_trc_rows, read_trc
from posesynth.data.roundtrip import compare_chunked, compare_datasets
from posesynth.jobs.generate import GenerateConfig, generate_dataset

runner = CliRunner()


def _files(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def poses() -> tuple[PoseDataset, PoseDataset]:
    """40 poses, each seen by two cameras (the same world 3D, other camera-frame 3D and 2D)."""
    a = generate_dataset(GenerateConfig(samples=40, seed=31)).complete()
    b = generate_dataset(GenerateConfig(samples=40, seed=32)).complete()
    b = replace(a, cameras=b.cameras, joints_3d_camera=None, joints_2d=None).complete()
    return a, b


def _views(poses: tuple[PoseDataset, PoseDataset], pose: np.ndarray, view: np.ndarray) -> PoseDataset:
    """Sample ``k`` shows pose ``pose[k]`` through camera ``view[k]`` (0 or 1)."""
    a, b = poses
    both = concat_datasets([a, b])
    return both.select(pose + 40 * view)


def _store(ds: PoseDataset, root: Path, name: str) -> Path:
    return write_store_dataset(ds, root / name)


def _both_ways(store: Path, tmp: Path, rows: int) -> tuple[Path, Path, object]:
    write_any(read_any(store), tmp / "mem", "trc")
    done = convert_streamed(store, tmp / "str", "trc", "posesynth", rows=rows)
    return tmp / "mem", tmp / "str", done


def test_two_cameras_per_frame_streams(poses, tmp_path: Path) -> None:
    pose = np.repeat(np.arange(40), 2)
    view = np.tile([0, 1], 40)
    ds = replace(_views(poses, pose, view), subject=np.full(80, "S1"), action=np.full(80, "walk"), frame=pose * 2)
    store = _store(ds, tmp_path, "two")
    mem, out, done = _both_ways(store, tmp_path, 15)
    assert done is not None and done.samples == 80
    assert _files(out) == _files(mem)
    assert read_trc(out / "S1_walk.trc", "h36m17").frame.tolist() == list(range(0, 80, 2))
    as_written = written_ids("trc", out)  # one file: its stem is the subject read back
    chunked = compare_chunked(map(as_written, iter_chunks(store, "posesynth", 15)[1]), done.read_back())
    whole = compare_datasets(as_written(read_any(store)), read_any(out))
    assert chunked.ok and chunked.matched == 80 and chunked.aligned_by == "order", chunked.problems
    assert whole.ok
    assert chunked.check("joints_3d_world").max_abs == whole.check("joints_3d_world").max_abs


def test_frames_out_of_order_and_interleaved_sequences(poses, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    pose = rng.permutation(40)
    seq = np.arange(40) % 3
    ds = replace(
        _views(poses, pose, np.zeros(40, int)),
        subject=np.array(["S 1", "S2", "S 1"])[seq],
        action=np.array(["a/b", "walk", "sit"])[seq],
        frame=pose,
        extra={"time": pose / 30.0},
    )
    store = _store(ds, tmp_path, "shuffled")
    mem, out, done = _both_ways(store, tmp_path, 7)
    assert done is not None
    assert sorted(_files(out)) == ["S-1_a-b.trc", "S-1_sit.trc", "S2_walk.trc"]
    assert _files(out) == _files(mem)
    as_written = written_ids("trc", out)
    chunked = compare_chunked(map(as_written, iter_chunks(store, "posesynth", 7)[1]), done.read_back())
    assert chunked.ok and chunked.matched == 40, chunked.problems
    assert chunked.compared_ids == ("action", "frame", "subject")


def test_augment_views_of_one_pose_fold(poses, tmp_path: Path) -> None:
    """No frame ids, augment's (source_index, variant) seen by two cameras, not adjacent."""
    pose = np.r_[np.arange(40), np.arange(40)[::-1]]
    view = np.r_[np.zeros(40, int), np.ones(40, int)]
    ds = _views(poses, pose, view)
    ds = replace(ds, extra={**ds.extra, "source_index": pose // 4, "variant": pose % 4})
    store = _store(ds, tmp_path, "aug")
    mem, out, done = _both_ways(store, tmp_path, 16)
    assert done is not None and _files(out) == _files(mem)
    assert len(read_trc(out / "posesynth.trc", "h36m17")) == 40
    chunked = compare_chunked(iter_chunks(store, "posesynth", 16)[1], done.read_back())
    assert chunked.ok and chunked.matched == 80, chunked.problems


def test_different_poses_of_one_frame_refused_as_in_memory(poses, tmp_path: Path) -> None:
    pose = np.arange(40)
    ds = replace(_views(poses, pose, np.zeros(40, int)), subject=np.full(40, "S1"), frame=pose // 2)
    store = _store(ds, tmp_path, "bad")
    with pytest.raises(ValueError, match="sequence S1_posesynth: samples of the same frame have different") as mem:
        write_any(read_any(store), tmp_path / "mem", "trc")
    with pytest.raises(ValueError) as streamed:
        convert_streamed(store, tmp_path / "str", "trc", "posesynth", rows=9)
    assert str(streamed.value) == str(mem.value)
    assert not (tmp_path / "str").exists() and not (tmp_path / "mem").exists()


def test_one_file_name_for_two_id_pairs_left_to_memory(poses, tmp_path: Path) -> None:
    ds = replace(
        _views(poses, np.arange(40), np.zeros(40, int)),
        subject=np.where(np.arange(40) < 20, "S 1", "S-1"),
        frame=np.r_[np.arange(20), np.arange(20, 40)[::-1]],
    )
    store = _store(ds, tmp_path, "clash")
    assert convert_streamed(store, tmp_path / "o", "trc", "posesynth", rows=10) is None


def test_cli_streams_folded_rows_and_checks(poses, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pose = np.repeat(np.arange(40), 2)[::-1].copy()
    view = np.tile([0, 1], 40)
    ds = replace(_views(poses, pose, view), subject=np.full(80, "S 7"), action=np.full(80, "jump"), frame=pose)
    store = _store(ds, tmp_path, "cli")
    monkeypatch.setattr(registry, "STREAM_ROWS", 25)
    res = runner.invoke(app, ["convert", str(store), str(tmp_path / "t"), "--to", "trc", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["check"]["ok"] and doc["check"]["chunks"] == 4 and doc["check"]["samples"] == 80
    monkeypatch.setattr(registry, "STREAM_ROWS", 10_000)
    res = runner.invoke(app, ["convert", str(store), str(tmp_path / "mem"), "--to", "trc", "--json"])
    mem = json.loads(res.stdout)
    assert _files(tmp_path / "t") == _files(tmp_path / "mem")
    for key in ("samples", "joints", "skeleton", "cameras"):
        assert doc[key] == mem[key], key
    assert mem["check"]["chunks"] == 1 and mem["check"]["ok"]


def test_check_catches_a_changed_row(poses, tmp_path: Path) -> None:
    pose = np.repeat(np.arange(40), 2)
    ds = replace(_views(poses, pose, np.tile([0, 1], 40)), subject=np.full(80, "S1"), frame=pose[::-1].copy())
    store = _store(ds, tmp_path, "chg")
    done = convert_streamed(store, tmp_path / "str", "trc", "posesynth", rows=30)
    assert done is not None
    as_written = written_ids("trc", tmp_path / "str")
    assert compare_chunked(map(as_written, iter_chunks(store, "posesynth", 30)[1]), done.read_back()).ok
    path = tmp_path / "str" / "S1_posesynth.trc"
    lines = path.read_text().split("\n")
    cells = lines[10].split("\t")
    cells[4] = repr(float(cells[4]) + 0.01)
    lines[10] = "\t".join(cells)
    path.write_text("\n".join(lines))
    bad = compare_chunked(map(as_written, iter_chunks(store, "posesynth", 30)[1]), done.read_back())
    assert not bad.ok and any("joints_3d_world" in p for p in bad.problems)


def test_trc_lines_rows_equal_read_trc(poses, tmp_path: Path) -> None:
    ds = replace(poses[0], subject=np.full(40, "S1"), frame=np.arange(40) * 3)
    write_any(ds, tmp_path / "t", "trc")
    path = tmp_path / "t" / "S1_posesynth.trc"
    whole = read_trc(path, "h36m17")
    rows = np.array([39, 0, 5, 5, 17])
    part = TrcLines(path, "h36m17").rows(rows)
    ref = whole.select(rows)
    for name in ("joints_3d_world", "frame", "subject"):
        np.testing.assert_array_equal(getattr(part, name), getattr(ref, name))
    path.write_text(path.read_text() + "0\t0.0\n")
    with pytest.raises(ValueError, match="NumFrames says 40, found 41 data rows"):
        TrcLines(path, "h36m17")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seq=st.lists(st.integers(0, 2), min_size=40, max_size=40),
    frame_order=st.permutations(list(range(40))),
    views=st.lists(st.integers(1, 2), min_size=40, max_size=40),
    shuffle=st.booleans(),
    rows=st.integers(1, 30),
)
def test_streamed_equals_in_memory_property(
    poses, tmp_path_factory: pytest.TempPathFactory, seq, frame_order, views, shuffle, rows
) -> None:
    """Any interleaving of sequences, frame order, one or two cameras per frame, samples in
    frame order or shuffled, any chunk size: the same bytes, and a passing chunked check."""
    root = tmp_path_factory.mktemp("prop")
    frame = np.array(frame_order)
    pose = np.repeat(np.arange(40), views)
    view = np.concatenate([np.arange(v) for v in views])
    if shuffle:
        perm = np.random.default_rng(len(pose)).permutation(len(pose))
        pose, view = pose[perm], view[perm]
    s = np.array(seq)[pose]
    ds = replace(_views(poses, pose, view), subject=np.array(["S1", "S 2", "S3"])[s], frame=frame[pose])
    store = _store(ds, root, "s")
    if len(ds) <= rows:
        return
    mem, out, done = _both_ways(store, root, rows)
    assert done is not None
    assert _files(out) == _files(mem)
    as_written = written_ids("trc", out)
    chunked = compare_chunked(map(as_written, iter_chunks(store, "posesynth", rows)[1]), done.read_back())
    assert chunked.ok and chunked.matched == len(ds), chunked.problems


def test_plan_rows_order() -> None:
    s = np.array(["A", "B", "A", "A", "B"])
    f = np.array([5, 1, 2, 5, 0])
    plan = plan_trc_rows([(3, s[:3], None, f[:3], None, None), (2, s[3:], None, f[3:], None, None)])
    assert plan is not None and plan.names == ("A_posesynth", "B_posesynth")
    assert plan.plan.counts == {"A_posesynth": 2, "B_posesynth": 2}
    assert plan.plan.first_frame == {"A_posesynth": 2, "B_posesynth": 0}
    assert plan.kept.tolist() == [2, 0, 4, 1] and plan.row_of.tolist() == [1, 3, 0, 1, 2] and plan.folded == 1
