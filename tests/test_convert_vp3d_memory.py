"""``convert STORE OUT --to videopose3d`` of large subjects (Human3.6M's ~300k samples each)
keeps one subject's output arrays in memory, not its input, and never two subjects at once:

- a part's points stay in the store (:class:`~posesynth.data.formats.videopose3d.PartIds`,
  read by rows), with the same files as the in-memory writer;
- a batch of a dict past ``BATCH_BYTES`` (a large subject) is pickled into its zip member as
  the pickler makes it (counted first, then written), the same bytes as the pickle made whole;
- the streamed check reads a subject's batch into one buffer and hands each subject on
  without keeping it (the generators hold no subject while the next one is read).

The memory itself is measured by ``benchmarks/bench_convert.py`` (docs/performance.md)."""

from __future__ import annotations

import gc
import io
import struct
import weakref
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posesynth.data.dataset import PoseDataset
from posesynth.data.formats import registry, videopose3d
from posesynth.data.formats._camera_pickle import dict_items_pickle as _dict_items_pickle
from posesynth.data.formats.mmpose import _fragment_marker
from posesynth.data.formats.registry import convert_streamed, read_any, write_any
from posesynth.data.formats.store_io import write_store_dataset
from posesynth.data.store import open_store
from posesynth.geometry.camera import concat_cameras, h36m_subject_cameras
from posesynth.jobs.generate import GenerateConfig, generate_dataset

H36M_IDS = ("54138969", "55011271", "58860488", "60457274")


@pytest.fixture(scope="module")
def base() -> PoseDataset:
    return generate_dataset(GenerateConfig(samples=50, seed=23)).complete()


def _rig(base: PoseDataset, subjects: list[str], frames: int, drop: bool = False) -> PoseDataset:
    """Each subject's ``frames`` poses through its 4 calibrated cameras (a camera table, one
    action); with ``drop`` the second camera misses every third frame (projected views)."""
    table = concat_cameras([h36m_subject_cameras(s) for s in subjects])
    names = np.array([f"{s}/{c}" for s in subjects for c in H36M_IDS])
    k = len(subjects) * frames * 4
    i = np.arange(k)
    subj = i // (frames * 4)
    ds = replace(
        base.select((i // 4) % base.joints_3d_world.shape[0]), joints_3d_camera=None, joints_2d=None,
        visibility=None, cameras=table, camera_index=subj * 4 + i % 4, camera_names=names,
        subject=np.array(subjects)[subj], action=np.full(k, "Walking"), frame=(i // 4) % frames, extra={},
    )  # fmt: skip
    ds = ds.complete()
    if drop:
        ds = ds.select(np.flatnonzero(~((i % 4 == 1) & (ds.frame % 3 == 0))))
    return ds


def _files(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


# ----------------------------------------------------------------------- streamed pickles
_arrays = st.builds(
    lambda n, j, f32: np.arange(n * j * 2, dtype=np.float32 if f32 else np.float64).reshape(n, j, 2) / 7.0,
    st.sampled_from([0, 1, 3, 2100]),  # 2100 x 17 x 2 float64: 571 KB, written past the pickler's buffer
    st.sampled_from([17, 32]),
    st.booleans(),
)
_values = st.one_of(_arrays, st.lists(_arrays, max_size=4), st.dictionaries(st.text(max_size=6), _arrays, max_size=3))


@settings(max_examples=40, deadline=None)
@given(items=st.dictionaries(st.text(max_size=8), _values, min_size=1, max_size=4))
def test_items_pickle_equals_the_whole_pickle(items: dict) -> None:
    """The streamed batch is byte for byte what ``_dict_items_pickle`` returns (the previous
    writer's fragment), however the pickler splits its writes; counting gives its length."""
    whole = _dict_items_pickle(items)
    out = io.BytesIO()
    sizes = []

    def write(b) -> None:
        sizes.append(len(b))
        out.write(b)

    assert videopose3d._items_pickle(items, None) == len(whole)
    assert videopose3d._items_pickle(items, write) == len(whole)
    assert out.getvalue() == whole
    if any(isinstance(v, np.ndarray) and v.nbytes > 1 << 16 for v in items.values()):
        assert max(sizes) > 1 << 16  # a large array went straight through, not via a copy


@pytest.mark.parametrize("limit", [videopose3d.BATCH_BYTES, 1000])
def test_batches_write_the_marker_then_the_fragment(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    """A batch of small arrays is pickled once in memory; one past ``BATCH_BYTES`` (a large
    subject) is counted, then streamed: the same bytes either way."""
    monkeypatch.setattr(videopose3d, "BATCH_BYTES", limit)
    streamed = []
    real = videopose3d._items_pickle
    monkeypatch.setattr(videopose3d, "_items_pickle", lambda i, w: streamed.append(w) or real(i, w))
    items = {"S1": {"walk": np.ones((3000, 17, 2), np.float32)}, "S2": {"sit": np.zeros((2, 17, 2))}}
    out = io.BytesIO()
    batches = videopose3d._Batches(out.write)
    batches.add(items)
    batches.flush()
    # with the small limit S1 closes its own batch (streamed), S2 goes alone (in memory)
    groups = [items] if limit > 1000 else [{"S1": items["S1"]}, {"S2": items["S2"]}]
    expect = b"".join(_fragment_marker(len(f)) + f for f in map(_dict_items_pickle, groups))
    assert out.getvalue() == expect
    assert batches.batches == len(groups)
    assert len(streamed) == (0 if limit > 1000 else 2)  # counted, then written


# --------------------------------------------------------------------------- writing by rows
@pytest.mark.parametrize("drop", [False, True])
@pytest.mark.parametrize("rows", [7, 40, 150])
def test_parts_read_by_rows_give_the_in_memory_files(base: PoseDataset, tmp_path: Path, drop: bool, rows: int) -> None:
    """Subjects larger than a chunk, projected views or not: the parts' points read from the
    store by rows give the in-memory writer's bytes."""
    ds = _rig(base, ["S1", "S5", "S9"], 40, drop=drop)
    store = write_store_dataset(ds, tmp_path / "store")
    write_any(read_any(store), tmp_path / "mem", "videopose3d", name="h36m")
    done = convert_streamed(store, tmp_path / "str", "videopose3d", "posesynth", rows=rows, name="h36m")
    assert done is not None
    assert _files(tmp_path / "str") == _files(tmp_path / "mem")


def test_a_part_is_ids_and_rows(base: PoseDataset, tmp_path: Path) -> None:
    """A part of a store with world 3D and 2D holds its ids, not its points; its row readers
    give the store's values (float64, any order), and it is not kept by the parts' generator
    once handed on."""
    ds = _rig(base, ["S1", "S5"], 30)
    store_path = write_store_dataset(ds, tmp_path / "store")
    plan = registry._vp3d_plan(open_store(store_path), 50, "custom")
    assert plan is not None
    parts = registry._vp3d_parts(store_path, 50, plan)
    part = next(parts)
    assert isinstance(part, videopose3d.PartIds) and len(part) == 120
    assert not any(isinstance(v, np.ndarray) and v.ndim == 3 for v in vars(part).values())
    idx = np.array([5, 119, 0, 64, 5])
    np.testing.assert_array_equal(part.world_rows(idx), ds.joints_3d_world[idx])
    np.testing.assert_array_equal(part.uv_rows(idx), ds.joints_2d[idx])
    assert part.uv_rows(idx).dtype == np.float64
    ref = weakref.ref(part.subject)
    del part
    gc.collect()
    assert ref() is None  # the generator keeps no reference while suspended
    assert len(next(parts)) == 120


# ------------------------------------------------------------------------- the streamed check
def test_subjects_read_back_one_at_a_time(base: PoseDataset, tmp_path: Path) -> None:
    """Each subject's arrays are handed on: once the caller drops them, nothing keeps them
    (not while the next subject is read)."""
    ds = _rig(base, ["S1", "S5", "S9"], 30)
    write_any(ds, tmp_path / "o", "videopose3d", name="h36m")
    subjects = videopose3d.read_videopose3d_subjects(tmp_path / "o", "h36m")
    first = next(subjects)
    assert first.subject == "S1" and len(first) == 120
    refs = [weakref.ref(first.actions[0][1])] + [weakref.ref(v) for v in first.actions[0][2]]
    assert first.actions[0][1].shape == (30, 17, 3)  # the 17 joints read back are kept, not 32
    del first
    gc.collect()
    assert all(r() is None for r in refs)
    assert [s.subject for s in subjects] == ["S5", "S9"]


def test_damaged_batch_length_is_refused_without_allocating(base: PoseDataset, tmp_path: Path) -> None:
    """A batch marker claiming more bytes than its member holds: an error naming the file,
    not an allocation of that size."""
    ds = _rig(base, ["S1"], 10)
    out = tmp_path / "o"
    write_any(ds, out, "videopose3d", name="h36m")
    path = out / "data_2d_h36m_gt.npz"
    with zipfile.ZipFile(path) as z:
        members = {i: z.read(i) for i in z.infolist()}
    for info, data in members.items():
        if info.filename == "positions_2d.npy":
            at = data.index(b"posesynth-fragment:")
            members[info] = data[:at] + b"posesynth-fragment:9999999999999999" + data[at + 35 :]
    with zipfile.ZipFile(path, "w") as z:
        for info, data in members.items():
            z.writestr(info, data)
    with pytest.raises(ValueError, match=r"data_2d_h36m_gt\.npz: positions_2d: truncated"):
        list(videopose3d.read_videopose3d_subjects(out, "h36m"))


def test_stored_check_equals_the_float64_check(tmp_path: Path) -> None:
    """The read-back's no-copy check (``_stored``) refuses what ``_numeric`` refuses, with the
    same message (inf counted over blocks, the first one's index)."""
    arr = np.zeros((9000, 17, 2), np.float32)
    arr[8500, 3, 1] = np.inf
    arr[8999, 0, 0] = -np.inf
    for check in (videopose3d._numeric, videopose3d._stored):
        with pytest.raises(ValueError) as err:
            check(Path("f.npz"), "positions_2d['S1']['a'][0]", arr, (2,))
        assert str(err.value).endswith("got 2 inf (first at index (8500, 3, 1))")
    ok = np.ones((5000, 17, 3), np.float32)
    assert videopose3d._stored(Path("f.npz"), "x", ok, (3,)) is ok


def test_marker_layout_is_what_the_reader_expects() -> None:
    """The reader finds a batch by the marker the writer puts before it (its byte length)."""
    marker = _fragment_marker(1234)
    assert marker.startswith(b"X" + struct.pack("<I", 35) + b"posesynth-fragment:")
    assert int(marker[len(b"X") + 4 + len("posesynth-fragment:") : -1]) == 1234
