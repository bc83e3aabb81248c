"""VideoPose3D with a subject per sample (and other subjects seen by one camera), made for
many samples at once (issue 15): every fast path against the one-by-one path it replaced.

* The writer's payload (``videopose3d._one_camera_plan``): the same files, byte for byte, and
  the same read-back index.
* The read-back's grouped camera check (``videopose3d._group_tables``): the same subjects, and
  for a damaged entry in the middle of a group the same subjects before it and the same error.
* The part-by-part read-back (``videopose3d.picked_dataset``): the subjects' data sets joined.
* The source reader's runs (``videopose3d_read._runs``): the same chunks whether pieces are
  converted one frame at a time or in runs; a check that reads the source again without a
  second survey; rigs of one camera per pose ranked without a dict per pose.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posesynth.data.dataset import PoseDataset
from posesynth.data.formats import videopose3d, videopose3d_read
from posesynth.data.formats.registry import iter_chunks, write_any
from posesynth.data.formats.videopose3d import read_videopose3d_subjects, write_videopose3d
from posesynth.jobs.generate import GenerateConfig, generate_dataset

FILES = ("data_3d_{}.npz", "data_2d_{}_gt.npz", "cameras_{}.json")


def _generated(model: str, n: int = 40, seed: int = 3) -> PoseDataset:
    return generate_dataset(GenerateConfig(samples=n, seed=seed, camera={"model": model}))


def _written(ds: PoseDataset, out: Path, **kw: Any) -> dict[str, bytes]:
    write_videopose3d(ds, out, "t", **kw)
    return {f.format("t"): (out / f.format("t")).read_bytes() for f in FILES if (out / f.format("t")).exists()}


def _sequences() -> PoseDataset:
    """Sequences of 1 to 9 frames of one camera each, some points NaN (missing)."""
    base = _generated("opencv", n=60, seed=8).complete()
    lengths = [1, 9, 2, 5, 1, 7, 3, 4, 8, 6, 1, 13]
    subj = np.repeat([f"P{i}" for i in range(len(lengths))], lengths)
    frame = np.concatenate([np.arange(t) for t in lengths])
    uv = np.array(base.joints_2d)
    uv[[3, 17, 40], [2, 5, 16]] = np.nan
    starts = np.cumsum(lengths) - lengths
    assert base.cameras is not None
    return replace(
        base.select(np.arange(len(subj))),
        joints_2d=uv[: len(subj)],
        joints_3d_camera=None,
        visibility=None,
        cameras=base.cameras[starts],  # a camera per subject, its first sample's
        camera_index=np.repeat(np.arange(len(lengths)), lengths),
        subject=subj,
        frame=frame,
        action=np.full(len(subj), "a"),
    )


def _augment_like(n_sources: int = 12) -> PoseDataset:
    """augment's shape: variants 0-2 of each source seen through one camera (a rig of three
    poses, so a subject of three samples)."""
    base = _generated("opencv", n=n_sources, seed=9).complete()
    assert base.cameras is not None
    k = np.repeat(np.arange(n_sources), 3)
    world = np.array(base.joints_3d_world)[k] + 0.01 * np.tile(np.arange(3), n_sources)[:, None, None]
    ds = replace(
        base.select(k),
        joints_3d_world=world,
        joints_3d_camera=None,
        joints_2d=None,
        visibility=None,
        extra={"source_index": k, "variant": np.tile(np.arange(3), n_sources)},
    )
    return ds.complete()


def _cases() -> dict[str, tuple[PoseDataset, dict[str, Any]]]:
    pin = _generated("pinhole")
    n = len(pin)
    named = replace(
        pin,
        camera_names=np.array([f"rig/cam_{i}" for i in range(n)]),
        camera_index=np.arange(n),
        frame=np.arange(n) * 3 + 1,
        action=np.array(["walk", "a long action name"] * (n // 2)),
    )
    h36m = _generated("h36m")
    seqs = _sequences()
    rng = np.random.default_rng(3)
    assert seqs.frame is not None
    shuffled = seqs.select(rng.permutation(len(seqs)))  # frames out of order, subjects interleaved
    two_actions = replace(shuffled, action=np.where(np.asarray(shuffled.frame) % 3 == 0, "b", "a"))
    assert pin.cameras is not None
    i = np.arange(n)
    two_cameras = replace(  # subjects of 2 frames seen by 2 cameras each: the loop
        pin,
        joints_3d_world=np.asarray(pin.joints_3d_world)[i // 2],
        joints_3d_camera=None,
        visibility=None,
        subject=np.array([f"P{k}" for k in i // 4]),
        action=np.full(n, "a"),
        cameras=pin.cameras[np.arange(n // 2)],
        camera_index=i % 2 + 2 * (i // 4),
        frame=(i // 2) % 2,
    )
    return {
        "pinhole": (pin, {}),
        "opencv": (_generated("opencv", seed=4), {}),
        "fisheye": (_generated("fisheye", seed=5), {}),
        "h36m model, generated names": (h36m, {}),
        "h36m model, Human3.6M subject names": (
            replace(h36m.select(np.arange(7)), subject=np.array(["S1", "S5", "S6", "S7", "S8", "S9", "S11"])),
            {},
        ),
        "named cameras, frames, actions": (named, {}),
        "float64, 17 joints": (pin, {"dtype": np.float64, "layout_3d": "h36m17"}),
        "no 2D": (replace(pin, joints_2d=None, joints_3d_camera=None, visibility=None), {}),
        "no cameras": (replace(pin, cameras=None, joints_3d_camera=None, visibility=None), {}),
        "augment's shape": (_augment_like(), {}),
        "sequences, frames out of order": (shuffled, {}),
        "two actions a subject": (two_actions, {}),
        "two cameras a subject": (two_cameras, {}),
    }


LOOP_ONLY = ("h36m model, Human3.6M subject names", "two cameras a subject")


@pytest.mark.parametrize("case", list(_cases()))
def test_one_camera_payload_writes_the_loops_bytes(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds, kw = _cases()[case]
    index: list[np.ndarray] = []  # where each sample is read back (the check pairs them by it)
    payload = videopose3d._vp3d_payload

    def kept(*args: Any) -> Any:
        out = payload(*args)
        index.append(out[4])
        return out

    monkeypatch.setattr(videopose3d, "_vp3d_payload", kept)
    fast = _written(ds, tmp_path / "fast", **kw)
    planned: list[bool] = []
    original = videopose3d._one_camera_plan

    def spy(*args: Any) -> Any:
        planned.append(original(*args) is not None)
        return None

    monkeypatch.setattr(videopose3d, "_one_camera_plan", spy)
    loop = _written(ds, tmp_path / "loop", **kw)
    assert fast.keys() == loop.keys() and fast
    for name in fast:
        assert fast[name] == loop[name], name
    assert planned == [case not in LOOP_ONLY]  # the rows path ran where it may
    assert len(index) == 2 and index[0].dtype == index[1].dtype and np.array_equal(index[0], index[1])


def test_a_frame_twice_in_a_sequence_gives_the_loops_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _sequences()
    frame = np.array(ds.frame)
    frame[2] = frame[1]  # the second sequence's first two samples: one frame, two poses
    with pytest.raises(ValueError) as fast:
        write_videopose3d(replace(ds, frame=frame), tmp_path / "a", "t")
    monkeypatch.setattr(videopose3d, "_one_camera_plan", lambda *args: None)
    with pytest.raises(ValueError) as loop:
        write_videopose3d(replace(ds, frame=frame), tmp_path / "b", "t")
    assert str(fast.value) == str(loop.value) and "different world 3D poses" in str(fast.value)


def _subjects(folder: Path) -> list[tuple[str, Any, dict[str, bytes], list[tuple[str, bytes, list[bytes]]]]]:
    out = []
    for s in read_videopose3d_subjects(folder, "t"):
        params = {f: (v.dtype.str, v.shape, v.tobytes()) for f, v in s.params.items()}
        actions = [(a, p3.tobytes(), [v.tobytes() for v in views]) for a, p3, views in s.actions]
        out.append((s.subject, s.model, params, actions))
    return out


@pytest.mark.parametrize("model", ["pinhole", "opencv", "fisheye", "h36m"])
@pytest.mark.parametrize("group", [2, 5, 512])
def test_grouped_camera_check_reads_the_same_subjects(
    model: str, group: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_videopose3d(_generated(model, n=23), tmp_path, "t")
    monkeypatch.setattr(videopose3d, "_GROUP_SUBJECTS", group)
    grouped = _subjects(tmp_path)
    monkeypatch.setattr(videopose3d, "_GROUP_SUBJECTS", 1)
    assert grouped == _subjects(tmp_path) and len(grouped) == 23


def _damage(entry: dict[str, Any], how: str) -> None:
    cam = entry["cameras"]
    if how == "not a rotation":
        cam["rotation"][0][0] = [2.0, 0.0, 0.0]
    elif how == "negative focal":
        cam["intrinsics"][0][0] = -5.0
    elif how == "another model":
        cam["model"] = "opencv"
    elif how == "integer intrinsics":
        cam["intrinsics"] = [[500, 500, 320, 240]]
    elif how == "boolean centre":
        cam["center"] = [[True, 0.5, 1.0]]
    elif how == "missing field":
        del cam["center"]
    elif how == "wrong distortion names":
        cam["distortion_names"] = ["k9"]
    elif how == "two rows of one field":
        cam["image_size"] = [[640, 480], [640, 480]]
    elif how == "float image size":
        cam["image_size"] = [[1000.0, 1000.0]]
    elif how == "image size 0.5":
        cam["image_size"] = [[0.5, 1000]]
    elif how == "not a dict":
        entry["cameras"] = [1, 2]
    else:
        raise AssertionError(how)


def _read_until_error(folder: Path) -> tuple[list[str], str | None]:
    seen: list[str] = []
    try:
        for s in read_videopose3d_subjects(folder, "t"):
            seen.append(s.subject)
    except (ValueError, TypeError) as exc:
        return seen, f"{type(exc).__name__}: {exc}"
    return seen, None


HOW = [
    "not a rotation",
    "negative focal",
    "another model",
    "integer intrinsics",
    "boolean centre",
    "missing field",
    "wrong distortion names",
    "two rows of one field",
    "float image size",
    "image size 0.5",
    "not a dict",
]


@pytest.mark.parametrize("how", HOW)
def test_a_damaged_entry_in_a_group_gives_the_one_by_one_result(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_videopose3d(_generated("pinhole", n=12), tmp_path, "t")
    path = tmp_path / "cameras_t.json"
    doc = json.loads(path.read_text())
    subject = list(doc["cameras"])[6]  # in the middle of a group of 5 (subjects 5 to 9)
    _damage(doc["cameras"][subject], how)
    path.write_text(json.dumps(doc))
    monkeypatch.setattr(videopose3d, "_GROUP_SUBJECTS", 5)
    grouped = _read_until_error(tmp_path)
    monkeypatch.setattr(videopose3d, "_GROUP_SUBJECTS", 1)
    assert grouped == _read_until_error(tmp_path)
    if how in ("float image size", "integer intrinsics", "boolean centre"):  # accepted one by one too
        assert grouped[1] is None
    elif how != "two rows of one field":  # broadcast by Camera one by one: refused later by its 2D count
        assert grouped[1] is not None and grouped[0] == list(doc["cameras"])[:6]


def _chunks(folder: Path, rows: int) -> list[PoseDataset]:
    path = next(folder.glob("data_3d_*.npz"), None) or next(folder.glob("data_2d_*.npz"))
    _, chunks = iter_chunks(path, "videopose3d", rows)
    return list(chunks)


def _same(a: PoseDataset, b: PoseDataset) -> None:
    for name in ("joints_3d_world", "joints_3d_camera", "joints_2d", "visibility", "subject", "action", "frame"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), name
    assert a.meta == b.meta and a.extra.keys() == b.extra.keys()
    for k in a.extra:
        assert a.extra[k].tobytes() == b.extra[k].tobytes(), k
    assert (a.cameras is None) == (b.cameras is None)
    if a.cameras is not None and b.cameras is not None:
        for f in ("intrinsics", "distortion", "rotation", "center", "image_size"):
            assert np.asarray(getattr(a.cameras, f)).tobytes() == np.asarray(getattr(b.cameras, f)).tobytes(), f
    for name in ("camera_index", "camera_names"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None) and (x is None or x.tobytes() == y.tobytes()), name


@pytest.mark.parametrize("source", ["a subject per sample", "sequences, missing points", "2D only"])
@pytest.mark.parametrize("rows", [1, 6, 1000])
@pytest.mark.parametrize("table_max", [None, 3])
def test_runs_give_the_chunks_of_pieces_one_frame_at_a_time(
    source: str, rows: int, table_max: int | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from posesynth.data.formats import registry

    ds = _generated("pinhole", n=30) if source == "a subject per sample" else _sequences()
    write_any(ds, tmp_path / "vp", "videopose3d")
    if source == "2D only":
        (tmp_path / "vp" / "data_3d_custom.npz").unlink()
    if table_max is not None:  # a camera per sample from the cameras file, not a table
        monkeypatch.setattr(registry, "STORE_TABLE_MAX", table_max)
    monkeypatch.setattr(videopose3d_read, "BLOCK", 4)
    runs = _chunks(tmp_path / "vp", rows)
    monkeypatch.setattr(videopose3d_read, "BLOCK", 1)  # every piece one frame, converted alone
    one = _chunks(tmp_path / "vp", rows)
    monkeypatch.setattr(videopose3d_read, "BLOCK", 2048)
    whole = _chunks(tmp_path / "vp", rows)
    assert [len(c) for c in runs] == [len(c) for c in one] == [len(c) for c in whole]
    assert sum(map(len, one)) == len(ds)
    for a, b, c in zip(runs, one, whole, strict=True):
        _same(a, b)
        _same(c, b)


def test_the_check_reads_the_source_again_without_surveying_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``convert``'s check reads a VideoPose3D source a second time from the conversion's
    survey (``registry.Rereadable``): one survey, the same store as in memory."""
    from typer.testing import CliRunner

    from posesynth.cli.main import app
    from posesynth.data.formats import registry
    from posesynth.data.formats.registry import read_any

    write_any(_generated("pinhole", n=30), tmp_path / "vp", "videopose3d")
    surveys: list[Path] = []
    original = videopose3d_read.survey_source

    def spy(path_3d: Any, *args: Any, **kw: Any) -> Any:
        surveys.append(path_3d)
        return original(path_3d, *args, **kw)

    monkeypatch.setattr(videopose3d_read, "survey_source", spy)
    monkeypatch.setattr(registry, "STREAM_ROWS", 7)
    for to, out in (("posesynth", "st"), ("mmpose", "mm")):  # the second through a hidden store
        surveys.clear()
        res = CliRunner().invoke(app, ["convert", str(tmp_path / "vp"), str(tmp_path / out), "--to", to, "--json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["check"]["ok"] is True
        assert len(surveys) == 1, to
    back, whole = read_any(tmp_path / "st"), read_any(tmp_path / "vp")
    np.testing.assert_array_equal(back.joints_2d, whole.joints_2d)


def test_chunks_read_again_read_the_files_again(tmp_path: Path) -> None:
    """Reading a ``Rereadable`` again reads the files, not what was read before: a changed
    value shows, and a source with fewer samples is refused."""
    from posesynth.data.formats.registry import Rereadable

    ds = _generated("pinhole", n=12)
    write_any(ds, tmp_path / "vp", "videopose3d")
    n, chunks = iter_chunks(tmp_path / "vp", "videopose3d", 5)
    assert isinstance(chunks, Rereadable) and n == 12
    first = np.concatenate([c.joints_2d for c in chunks])
    moved = replace(ds, joints_2d=np.asarray(ds.joints_2d) + 1.0, joints_3d_camera=None, visibility=None)
    write_any(moved, tmp_path / "vp", "videopose3d", overwrite=True)
    np.testing.assert_allclose(np.concatenate([c.joints_2d for c in chunks]), first + 1.0, atol=1e-3)
    write_any(ds.select(np.arange(10)), tmp_path / "vp", "videopose3d", overwrite=True)
    with pytest.raises(ValueError, match="changed while it was read"):
        list(chunks)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    cams_of_pose=st.lists(st.lists(st.integers(0, 6), min_size=1, max_size=3), min_size=1, max_size=30),
    single=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_rig_ranks_of_one_camera_per_pose_equal_the_pose_by_pose_ranks(
    cams_of_pose: list[list[int]], single: bool, seed: int
) -> None:
    """Each pose seen by one camera (generated data) is ranked without a dict per pose: the
    same ranks and count as pose by pose, samples shuffled, poses and cameras any ids."""
    rng = np.random.default_rng(seed)
    pose_ids = rng.permutation(1000)[: len(cams_of_pose)]
    rows = [(p, c) for p, cams in zip(pose_ids, cams_of_pose, strict=True) for c in (cams[:1] if single else cams)]
    rows += [rows[i] for i in rng.integers(0, len(rows), len(rows) // 2)]  # samples seen twice
    pose, cam = (np.array(v, dtype=np.int64) for v in zip(*[rows[i] for i in rng.permutation(len(rows))], strict=True))
    cam = (cam * 7919).astype(np.uint64)
    order = np.lexsort((cam, pose))
    bounds = np.flatnonzero(np.diff(pose[order])) + 1
    got = videopose3d.rig_ranks(pose, cam)
    want = videopose3d._rig_ranks_by_pose(pose, cam, order, bounds)
    assert got[1] == want[1] and got[0].dtype == want[0].dtype and np.array_equal(got[0], want[0])


@pytest.mark.parametrize("source", ["augment's shape", "a subject per sample", "fisheye"])
def test_picked_dataset_equals_the_subjects_datasets_joined(source: str, tmp_path: Path) -> None:
    from posesynth.data.dataset import concat_datasets

    ds = {
        "augment's shape": _augment_like,
        "a subject per sample": lambda: _generated("pinhole", n=15),
        "fisheye": lambda: _generated("fisheye", n=15, seed=2),
    }[source]()
    write_videopose3d(ds, tmp_path, "t")
    rng = np.random.default_rng(1)
    picks = [
        (views, rng.permutation(len(views))[: rng.integers(1, len(views) + 1)])
        for views in read_videopose3d_subjects(tmp_path, "t")
    ]
    got = videopose3d.picked_dataset(picks)
    want = concat_datasets([views.dataset(pick) for views, pick in picks])
    _same(got, want)
    assert got.meta == want.meta


@pytest.mark.parametrize("held", [0, 8 << 20])
def test_read_back_by_groups_equals_subject_by_subject(
    held: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``convert``'s read-back of augment's shape exported part by part: finished subjects
    made into samples together, or each before the next is read, give the same chunks."""
    from posesynth.data.formats import registry
    from posesynth.data.formats.registry import convert_streamed

    write_any(_augment_like(30), tmp_path / "st", "posesynth", shard_size=17)
    done = convert_streamed(tmp_path / "st", tmp_path / "vp", "videopose3d", "posesynth", rows=20)
    assert done is not None and done.read_back is not None
    monkeypatch.setattr(registry, "_READ_BACK_HELD", held)
    got = list(done.read_back())
    monkeypatch.setattr(videopose3d, "picked_dataset", lambda picks: concat_datasets_of(picks))
    want = list(done.read_back())
    assert [len(c) for c in got] == [len(c) for c in want] and sum(map(len, got)) == 90
    for a, b in zip(got, want, strict=True):
        _same(a, b)


def concat_datasets_of(picks: list[tuple[Any, np.ndarray]]) -> PoseDataset:
    from posesynth.data.dataset import concat_datasets

    parts = [views.dataset(pick) for views, pick in picks]
    return parts[0] if len(parts) == 1 else concat_datasets(parts)


def _vp3d_native(tmp_path: Path) -> Path:
    """VideoPose3D's own layout: 3D in 32 joints, 2D with a score column in one view of one
    sequence and sequences of several lengths (written as its scripts save them)."""
    rng = np.random.default_rng(4)
    p3 = {
        "S1": {"a": rng.normal(size=(5, 32, 3)), "b": rng.normal(size=(1, 32, 3))},
        "S2": {"a": rng.normal(size=(3, 32, 3))},
    }
    p2 = {
        s: {a: [rng.normal(size=(len(w) + 1, 17, 2)) * 100 for _ in range(2)] for a, w in acts.items()}
        for s, acts in p3.items()
    }
    p2["S1"]["b"][1] = np.concatenate([p2["S1"]["b"][1], rng.uniform(size=(2, 17, 1))], axis=-1)  # a score column
    p2["S2"]["a"][0][1, 3] = np.nan  # a missing point
    meta = {
        "layout_name": "h36m",
        "num_joints": 17,
        "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]],
    }
    np.savez_compressed(tmp_path / "data_3d_n.npz", positions_3d=np.array(p3, dtype=object))
    np.savez_compressed(tmp_path / "data_2d_n_gt.npz", positions_2d=np.array(p2, dtype=object), metadata=meta)
    return tmp_path / "data_3d_n.npz"


@pytest.mark.parametrize("source", ["a subject per sample", "augment's shape", "VideoPose3D's own files"])
def test_sequences_converted_together_read_as_one_by_one(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``read_videopose3d`` converts short sequences together (``CONVERT_FRAMES``): the data
    set equals the one read a sequence at a time."""
    from posesynth.data.formats.registry import read_any

    if source == "VideoPose3D's own files":
        path = _vp3d_native(tmp_path)
    else:
        write_videopose3d(
            _augment_like() if source == "augment's shape" else _generated("fisheye", n=20), tmp_path, "t"
        )
        path = tmp_path / "data_3d_t.npz"
    together = read_any(path, format="videopose3d")
    monkeypatch.setattr(videopose3d, "CONVERT_FRAMES", 1)
    _same(together, read_any(path, format="videopose3d"))
