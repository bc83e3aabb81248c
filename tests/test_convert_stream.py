"""``convert`` streaming beyond store -> MMPose: TRC written chunk by chunk (same bytes as in
memory), read back in the store's chunks, and the CLI's streamed check."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from posesynth.cli.main import app
from posesynth.data.formats import mmpose as mm
from posesynth.data.formats import registry
from posesynth.data.formats._json_stream import JsonItems
from posesynth.data.formats.registry import convert_streamed, iter_chunks, read_any, write_any
from posesynth.data.formats.store_io import write_store_dataset
from posesynth.data.formats.trc import TrcRows, plan_trc_sequences, read_trc, write_trc_sequences
from posesynth.data.roundtrip import compare_chunked, compare_datasets
from posesynth.jobs.generate import GenerateConfig, generate_dataset

runner = CliRunner()


def _files(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stream")
    ds = generate_dataset(GenerateConfig(samples=230, seed=5))
    return write_store_dataset(ds, root / "g")


@pytest.fixture(scope="module")
def sequences(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of three interleaved (subject, action) sequences with rising frames and a time."""
    root = tmp_path_factory.mktemp("seq")
    ds = generate_dataset(GenerateConfig(samples=210, seed=6))
    n = len(ds)
    seq = np.arange(n) % 3
    subject = np.array(["S1", "S2", "S1"])[seq]
    action = np.array(["walk", "walk", "sit"])[seq]
    frame = (np.arange(n) // 3) * 2 + seq  # rising within each sequence, not starting at 0
    ds = replace(ds, subject=subject, action=action, frame=frame, extra={**ds.extra, "time": frame / 25.0})
    return write_store_dataset(ds, root / "s")


@pytest.mark.parametrize("rows", [1, 37, 100, 229])
def test_trc_streamed_bytes_equal_in_memory(generated: Path, tmp_path: Path, rows: int) -> None:
    write_any(read_any(generated), tmp_path / "mem", "trc")
    done = convert_streamed(generated, tmp_path / "str", "trc", "posesynth", rows=rows)
    assert done is not None and done.samples == 230 and done.rows == rows
    assert _files(tmp_path / "str") == _files(tmp_path / "mem")
    assert [p.name for p in done.written] == ["posesynth.trc"]


@pytest.mark.parametrize("rows", [7, 64])
def test_trc_streamed_sequences_bytes_and_check(sequences: Path, tmp_path: Path, rows: int) -> None:
    write_trc_sequences(read_any(sequences), tmp_path / "mem")
    done = convert_streamed(sequences, tmp_path / "str", "trc", "posesynth", rows=rows)
    assert done is not None and done.read_back is not None
    assert _files(tmp_path / "str") == _files(tmp_path / "mem")
    assert sorted(_files(tmp_path / "str")) == ["S1_sit.trc", "S1_walk.trc", "S2_walk.trc"]
    # the aligned read back: chunked comparison equals the whole one
    whole = compare_datasets(read_any(sequences), read_any(tmp_path / "str"))
    chunked = compare_chunked(iter_chunks(sequences, "posesynth", rows)[1], done.read_back())
    assert whole.ok and chunked.ok, (whole.problems, chunked.problems)
    assert chunked.samples_in == chunked.samples_out == chunked.matched == 210
    assert chunked.aligned_by == "order"
    assert chunked.chunks == -(-210 // rows)
    assert chunked.check("joints_3d_world").max_abs == whole.check("joints_3d_world").max_abs


def test_trc_read_back_catches_a_changed_row(sequences: Path, tmp_path: Path) -> None:
    done = convert_streamed(sequences, tmp_path / "str", "trc", "posesynth", rows=50)
    assert done is not None and done.read_back is not None
    path = tmp_path / "str" / "S1_walk.trc"
    lines = path.read_text().split("\n")
    cells = lines[20].split("\t")
    cells[5] = repr(float(cells[5]) + 0.01)  # 1 cm on one coordinate
    lines[20] = "\t".join(cells)
    path.write_text("\n".join(lines))
    result = compare_chunked(iter_chunks(sequences, "posesynth", 50)[1], done.read_back())
    assert not result.ok
    assert any("joints_3d_world" in p for p in result.problems)


def test_trc_frames_out_of_order_stream_by_rows(tmp_path: Path) -> None:
    """Frames out of order: planned row by row (tests/test_convert_trc_rows.py), the same bytes."""
    from posesynth.data.store import open_store

    ds = generate_dataset(GenerateConfig(samples=40, seed=2))
    back = replace(ds, subject=np.full(40, "S1"), frame=np.arange(40)[::-1].copy())
    store = write_store_dataset(back, tmp_path / "back")
    assert plan_trc_sequences(registry._store_ids(open_store(store), 10)) is None  # not the one-pass plan
    done = convert_streamed(store, tmp_path / "o2", "trc", "posesynth", rows=10)
    assert done is not None
    write_any(read_any(store), tmp_path / "mem", "trc")
    assert _files(tmp_path / "o2") == _files(tmp_path / "mem")


def test_plan_refuses_repeated_frames_across_chunks() -> None:
    s = np.full(2, "S1")
    ok = plan_trc_sequences([(2, s, None, np.array([0, 1])), (2, s, None, np.array([2, 5]))])
    assert ok is not None and ok.counts == {"S1_posesynth": 4} and ok.first_frame == {"S1_posesynth": 0}
    assert plan_trc_sequences([(2, s, None, np.array([0, 1])), (2, s, None, np.array([1, 2]))]) is None


def test_trc_rows_blocks_equal_read_trc(generated: Path, tmp_path: Path) -> None:
    write_any(read_any(generated), tmp_path / "t", "trc")
    path = tmp_path / "t" / "posesynth.trc"
    whole = read_trc(path, "h36m17")
    lo = 0
    with TrcRows(path, "h36m17") as reader:
        assert len(reader) == 230
        for k in (1, 100, 129):
            part = reader.take(k)
            ref = whole.select(slice(lo, lo + k))
            for name in ("joints_3d_world", "frame", "subject"):
                np.testing.assert_array_equal(getattr(part, name), getattr(ref, name))
            np.testing.assert_array_equal(part.extra["time"], ref.extra["time"])
            lo += k
        with pytest.raises(ValueError, match="NumFrames says 230, found 230 data rows"):
            reader.take(1)


def test_trc_rows_extra_rows_refused(generated: Path, tmp_path: Path) -> None:
    write_any(read_any(generated), tmp_path / "t", "trc")
    path = tmp_path / "t" / "posesynth.trc"
    text = path.read_text()
    path.write_text(text + text.split("\n")[-2] + "\n")  # the last row twice
    with TrcRows(path, "h36m17") as reader, pytest.raises(ValueError, match="found 231 data rows"):
        reader.take(230)


def test_cli_convert_trc_streams_and_checks(generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "STREAM_ROWS", 50)
    out = tmp_path / "trc"
    res = runner.invoke(app, ["convert", str(generated), str(out), "--to", "trc", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["samples"] == 230 and doc["check"]["ok"] and doc["check"]["chunks"] == 5
    assert doc["check"]["samples"] == 230 and doc["mpjpe_mm"] < 1e-3
    write_any(read_any(generated), tmp_path / "mem", "trc")
    assert _files(out) == _files(tmp_path / "mem")


# ----------------------------------------------------------------------- mmpose -> posesynth


def _stores_equal(a: Path, b: Path) -> None:
    """Same manifest (but the shard checksums' paths) and the same shard files, byte for byte."""
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


@pytest.fixture(scope="module")
def h36m_mmpose(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MMPose folder of Human3.6M-like data: 4 calibrated cameras of 2 subjects (a table),
    S's visibility differing from part's in a few samples only."""
    from posesynth.data.formats.mmpose import write_mmpose
    from posesynth.geometry.camera import concat_cameras, h36m_subject_cameras

    root = tmp_path_factory.mktemp("mm")
    ds = generate_dataset(GenerateConfig(samples=260, seed=9))
    table = concat_cameras([h36m_subject_cameras("S1"), h36m_subject_cameras("S5")])
    k = np.arange(260) % 8
    names = np.array([f"{s}/{c}" for s in ("S1", "S5") for c in ("54138969", "55011271", "58860488", "60457274")])
    ds = replace(
        ds,
        joints_3d_camera=None,
        joints_2d=None,
        cameras=table,
        camera_index=k,
        camera_names=names,
        subject=np.where(k < 4, "S1", "S5"),
        action=np.where(np.arange(260) < 130, "Walking_1", "SittingDown_2"),
        frame=np.arange(260) // 8,
        extra={},
    ).complete()
    vis = np.ones((260, 17))
    vis[200:203, 3] = 0.0
    ds = replace(ds, visibility=vis)
    write_mmpose(ds, root / "mm")
    return root / "mm"


@pytest.mark.parametrize("rows", [33, 100])
def test_mmpose_to_store_streamed_equals_in_memory(h36m_mmpose: Path, tmp_path: Path, rows: int) -> None:
    from posesynth.data.formats.store_io import read_store

    whole = read_any(h36m_mmpose)
    write_any(whole, tmp_path / "mem", "posesynth", shard_size=64)
    done = convert_streamed(h36m_mmpose, tmp_path / "str", "posesynth", "mmpose", rows=rows, shard_size=64)
    assert done is not None and done.samples == 260 and done.num_cameras == 8
    _stores_equal(tmp_path / "str", tmp_path / "mem")
    back = read_store(tmp_path / "str")
    assert back.num_cameras == 8 and back.camera_index is not None
    chunked = compare_chunked(
        iter_chunks(h36m_mmpose, "mmpose", rows)[1], iter_chunks(tmp_path / "str", "posesynth", rows)[1]
    )
    assert chunked.ok and chunked.matched == 260, chunked.problems


def test_mmpose_to_store_per_sample_cameras_beyond_the_table_limit(
    generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A generated set exported to MMPose has a camera per sample: past STORE_TABLE_MAX the
    store holds them per sample, with the same values as the in-memory store's table."""
    monkeypatch.setattr(registry, "STORE_TABLE_MAX", 100)
    done = convert_streamed(generated, tmp_path / "mm", "mmpose", "posesynth", rows=50)
    assert done is not None
    conv = convert_streamed(tmp_path / "mm", tmp_path / "st", "posesynth", "mmpose", rows=50)
    assert conv is not None and conv.num_cameras == 230
    from posesynth.data.store import open_store

    store = open_store(tmp_path / "st")
    assert "camera_name" in store.array_names and "camera_index" not in store.array_names
    whole = compare_datasets(read_any(tmp_path / "mm"), read_any(tmp_path / "st"))
    assert whole.ok and whole.aligned_by == "order", whole.problems
    assert whole.check("cameras.rotation").max_abs == 0.0


def test_mmpose_small_is_not_streamed(h36m_mmpose: Path, tmp_path: Path) -> None:
    assert convert_streamed(h36m_mmpose, tmp_path / "x", "posesynth", "mmpose", rows=260) is None
    assert not (tmp_path / "x").exists()


def test_cli_mmpose_to_store_streams_and_checks(
    h36m_mmpose: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "STREAM_ROWS", 40)
    out = tmp_path / "st"
    res = runner.invoke(app, ["convert", str(h36m_mmpose), str(out), "--to", "posesynth", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["check"]["ok"] and doc["check"]["chunks"] == 7 and doc["samples"] == 260 and doc["cameras"] == 8


# ------------------------------------------------------------- the opencv / fisheye sidecar


@pytest.fixture(scope="module")
def opencv_mm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ocv")
    ds = generate_dataset(GenerateConfig(samples=230, seed=4, camera={"model": "opencv"}))
    store = write_store_dataset(ds, root / "g")
    assert convert_streamed(store, root / "mm", "mmpose", "posesynth", rows=60) is not None
    assert (root / "mm" / mm.SIDECAR_FILE).is_file()
    return root / "mm"


def _assert_chunks_equal_whole(chunks, whole) -> int:
    lo = 0
    for chunk in chunks:
        ref = whole.select(slice(lo, lo + len(chunk)))
        for name in ("joints_3d_camera", "joints_3d_world", "joints_2d", "subject", "action", "frame"):
            np.testing.assert_array_equal(getattr(chunk, name), getattr(ref, name), err_msg=name)
        for name in ("intrinsics", "distortion", "rotation", "center", "image_size"):
            a = np.asarray(getattr(chunk.sample_cameras(), name))
            b = np.asarray(getattr(ref.sample_cameras(), name))
            np.testing.assert_array_equal(a, b, err_msg=name)
        assert chunk.cameras.model == ref.cameras.model
        lo += len(chunk)
    return lo


@pytest.mark.parametrize(("block", "cache"), [(5, 50_000), (4096, 50_000), (37, 10)])
def test_sidecar_streamed_equals_whole(
    opencv_mm: Path, monkeypatch: pytest.MonkeyPatch, block: int, cache: int
) -> None:
    whole = mm.read_mmpose(opencv_mm / "h36m_train.npz")
    assert whole.cameras.model.value == "opencv"
    monkeypatch.setattr(mm, "SIDECAR_WHOLE_BYTES", 0)
    monkeypatch.setattr(JsonItems, "BLOCK", block)
    n, chunks = mm.read_mmpose_chunks(opencv_mm / "h36m_train.npz", 45, cache_cameras=cache)
    assert _assert_chunks_equal_whole(chunks, whole) == n == 230


def test_sidecar_streamed_rescans_after_dropping(opencv_mm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys asked out of file order with a tiny cache: dropped cameras are found again."""
    monkeypatch.setattr(mm, "SIDECAR_WHOLE_BYTES", 0)
    entries = mm._SidecarEntries(opencv_mm / mm.SIDECAR_FILE, cache=5)
    whole_slot, whole_cams = mm._load_sidecar(opencv_mm / mm.SIDECAR_FILE)
    keys = list(whole_slot)
    for ask in (keys[100:110], keys[3:8], keys[200:230], keys[0:2]):
        slot, cams = entries.take(ask)
        assert list(slot) == ask
        ref = whole_cams[np.array([whole_slot[k] for k in ask])]
        np.testing.assert_array_equal(cams.rotation, ref.rotation)
        np.testing.assert_array_equal(cams.distortion, ref.distortion)
    entries.close()


def test_sidecar_streamed_damaged(opencv_mm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mm, "SIDECAR_WHOLE_BYTES", 0)
    side = tmp_path / mm.SIDECAR_FILE
    doc = json.loads((opencv_mm / mm.SIDECAR_FILE).read_text())
    doc["cameras"]["center"] = doc["cameras"]["center"][:-1]  # one centre short
    side.write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")))
    entries = mm._SidecarEntries(side, cache=1000)
    keys = [tuple(k) for k in doc["keys"]]
    with pytest.raises(ValueError, match=r"\['center'\] end after 229 items"):
        entries.take(keys)
    side.write_text((opencv_mm / mm.SIDECAR_FILE).read_text()[:-5000])  # truncated
    with pytest.raises(ValueError, match="not valid JSON"):
        mm._SidecarEntries(side, cache=1000).take(keys)
    doc = json.loads((opencv_mm / mm.SIDECAR_FILE).read_text())
    doc["format"] = "something-else"
    side.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="format: expected 'posesynth-mmpose-cameras'"):
        mm._SidecarEntries(side, cache=1000)


def test_cli_opencv_store_to_mmpose_streamed_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole streamed convert of an opencv store, its check reading the sidecar in steps."""
    ds = generate_dataset(GenerateConfig(samples=120, seed=8, camera={"model": "fisheye"}))
    store = write_store_dataset(ds, tmp_path / "g")
    monkeypatch.setattr(registry, "STREAM_ROWS", 25)
    monkeypatch.setattr(mm, "SIDECAR_WHOLE_BYTES", 0)
    monkeypatch.setattr(mm, "_load_sidecar", None)  # never loaded whole
    res = runner.invoke(app, ["convert", str(store), str(tmp_path / "mm"), "--to", "mmpose", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["check"]["ok"] and doc["check"]["chunks"] == 5
    assert doc["check"]["cameras"]["distortion"] == 0.0


# ------------------------------------------------------------------------------ videopose3d


def _npz_dicts(path: Path) -> dict[str, object]:
    with np.load(path, allow_pickle=True) as npz:
        return {k: npz[k].item() for k in npz.files}


def _assert_same(a: object, b: object, where: str = "") -> None:
    """Equal nested dicts / lists of arrays: same keys in the same order, same dtypes and bits."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b, where


@pytest.mark.parametrize("model", ["pinhole", "opencv"])
@pytest.mark.parametrize("rows", [1, 64])
def test_videopose3d_streamed_equals_in_memory(tmp_path: Path, model: str, rows: int) -> None:
    ds = generate_dataset(GenerateConfig(samples=150, seed=11, camera={"model": model}))
    store = write_store_dataset(ds, tmp_path / "g")
    write_any(read_any(store), tmp_path / "mem", "videopose3d", name="syn")
    done = convert_streamed(store, tmp_path / "str", "videopose3d", "posesynth", rows=rows, name="syn")
    assert done is not None and done.samples == 150
    assert sorted(p.name for p in (tmp_path / "str").iterdir()) == sorted(p.name for p in (tmp_path / "mem").iterdir())
    for f in ("data_3d_syn.npz", "data_2d_syn_gt.npz"):
        _assert_same(_npz_dicts(tmp_path / "mem" / f), _npz_dicts(tmp_path / "str" / f), f)
    assert _files(tmp_path / "str") == _files(tmp_path / "mem")  # one writer: the same bytes
    # posesynth's own reader: whole, and chunk by chunk in the store's order
    whole = compare_datasets(read_any(tmp_path / "mem"), read_any(tmp_path / "str"))
    assert whole.ok and whole.matched == 150, whole.problems
    chunked = compare_chunked(iter_chunks(store, "posesynth", rows)[1], done.read_back())
    assert chunked.ok and chunked.matched == 150 and chunked.aligned_by == "order", chunked.problems
    assert chunked.chunks == -(-150 // rows)
    assert chunked.check("joints_2d") is not None and chunked.check("cameras.distortion") is not None


def test_videopose3d_streamed_check_catches_a_change(tmp_path: Path) -> None:
    """A camera changed in the cameras file is found by the chunked read back."""
    ds = generate_dataset(GenerateConfig(samples=40, seed=12))
    store = write_store_dataset(ds, tmp_path / "g")
    done = convert_streamed(store, tmp_path / "vp", "videopose3d", "posesynth", rows=16)
    assert done is not None
    assert compare_chunked(iter_chunks(store, "posesynth", 16)[1], done.read_back()).ok
    path = tmp_path / "vp" / "cameras_custom.json"
    doc = json.loads(path.read_text())
    doc["cameras"]["custom_000017"]["cameras"]["intrinsics"][0][0] += 5.0  # fx of sample 17
    path.write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n")
    bad = compare_chunked(iter_chunks(store, "posesynth", 16)[1], done.read_back())
    assert not bad.ok and any("cameras.intrinsics" in p for p in bad.problems), bad.problems
    doc["cameras"].pop("custom_000039")  # a subject missing from the cameras file
    path.write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n")
    with pytest.raises(ValueError, match="expected subject 'custom_000039' next"):
        compare_chunked(iter_chunks(store, "posesynth", 16)[1], done.read_back())


def test_videopose3d_repeated_cameras_stream_by_subject(tmp_path: Path) -> None:
    """A repeated camera (one rig for two poses) or subject ids: the subject-by-subject path
    (tests/test_convert_vp3d_stream.py), the same bytes as in memory."""
    from posesynth.data.store import open_store

    ds = generate_dataset(GenerateConfig(samples=30, seed=13))
    cams = ds.cameras
    assert cams is not None
    same = replace(ds, cameras=cams[np.r_[0, np.arange(29)]], joints_3d_camera=None, joints_2d=None)
    store = write_store_dataset(same.complete(), tmp_path / "g")  # samples 0 and 1 share a camera
    assert registry._vp3d_streams(open_store(store), 10) is False  # not the chunk-by-chunk path
    for src, out in (
        (store, "o1"),
        (write_store_dataset(replace(ds, subject=np.full(30, "S1")), tmp_path / "s"), "o2"),
    ):
        done = convert_streamed(src, tmp_path / out, "videopose3d", "posesynth", rows=10)
        assert done is not None
        write_any(read_any(src), tmp_path / f"{out}-mem", "videopose3d")
        assert _files(tmp_path / out) == _files(tmp_path / f"{out}-mem")


def test_cli_videopose3d_streams_and_checks(generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "STREAM_ROWS", 50)
    out = tmp_path / "vp"
    res = runner.invoke(app, ["convert", str(generated), str(out), "--to", "videopose3d", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["check"]["ok"] and doc["check"]["chunks"] == 5 and doc["check"]["samples"] == 230


def test_videopose3d_chunks_error_leaves_nothing(tmp_path: Path) -> None:
    from posesynth.data.formats.videopose3d import write_videopose3d_chunks

    ds = generate_dataset(GenerateConfig(samples=20, seed=14))
    bad = replace(ds.select(slice(10, 20)), subject=np.full(10, "S1"))
    with pytest.raises(ValueError, match="expected samples without subject or frame ids"):
        write_videopose3d_chunks([ds.select(slice(0, 10)), bad], tmp_path / "vp", 20)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "vp").mkdir()  # an existing folder: its files are replaced one by one, none left half-written
    with pytest.raises(ValueError, match="chunks: 10 samples, expected 20"):
        write_videopose3d_chunks([ds.select(slice(0, 10))], tmp_path / "vp", 20)
    assert list((tmp_path / "vp").iterdir()) == []


def test_mmpose_without_cameras_to_store_streamed(h36m_mmpose: Path, tmp_path: Path) -> None:
    """No cameras.pkl: the camera ids stay as an extra string array of one width in every shard."""
    import shutil

    npz = tmp_path / "solo" / "h36m_train.npz"
    npz.parent.mkdir()
    shutil.copy(h36m_mmpose / "h36m_train.npz", npz)
    write_any(read_any(npz), tmp_path / "mem", "posesynth", shard_size=64)
    done = convert_streamed(npz, tmp_path / "str", "posesynth", "mmpose", rows=50, shard_size=64)
    assert done is not None and done.num_cameras == 0
    _stores_equal(tmp_path / "str", tmp_path / "mem")


@settings(max_examples=60, deadline=None)
@given(
    seq=st.lists(st.integers(0, 2), min_size=1, max_size=40),
    step=st.lists(st.integers(0, 3), min_size=40, max_size=40),
    rows=st.integers(1, 15),
)
def test_plan_trc_sequences_property(seq: list[int], step: list[int], rows: int) -> None:
    """The plan exists exactly when frames rise strictly within each sequence; its counts and
    first frames are those of the whole ids, whatever the chunking."""
    n = len(seq)
    subject = np.array([f"S{s}" for s in seq])
    frame = np.cumsum(np.array(step[:n]))  # rising overall, repeated where a step is 0
    chunks = [
        (len(subject[lo : lo + rows]), subject[lo : lo + rows], None, frame[lo : lo + rows]) for lo in range(0, n, rows)
    ]
    plan = plan_trc_sequences(chunks)
    rising = all(np.all(np.diff(frame[subject == s]) > 0) for s in set(subject.tolist()))
    assert (plan is not None) == rising
    if plan is not None:
        names = [f"S{s}_posesynth" for s in dict.fromkeys(seq)]
        assert list(plan.counts) == names
        assert plan.counts == {f"{s}_posesynth": int(np.sum(subject == s)) for s in dict.fromkeys(subject.tolist())}
        assert plan.first_frame == {
            f"{s}_posesynth": int(frame[subject == s][0]) for s in dict.fromkeys(subject.tolist())
        }


@pytest.mark.parametrize("per_sample", [False, True])
def test_trc_streamed_keeps_few_files_open(
    sequences: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, per_sample: bool
) -> None:
    """More sequences than :data:`~posesynth.data.formats.trc.MAX_OPEN_FILES`, interleaved (files
    closed early are reopened to append) or one sample each (closed when complete): the same
    bytes as in memory, with never more than the bound open."""
    import posesynth.data.formats.trc as trc

    monkeypatch.setattr(trc, "MAX_OPEN_FILES", 2)
    source = sequences
    if per_sample:  # a subject per sample, as VideoPose3D's export of generated data gives
        ds = read_any(sequences)
        ds = replace(ds, subject=np.array([f"s{i:03d}" for i in range(len(ds))]), frame=np.zeros(len(ds), np.int64))
        source = write_store_dataset(ds, tmp_path / "per_sample")
    write_trc_sequences(read_any(source), tmp_path / "mem")
    handles: list = []
    most = [0]
    real_open = open

    def counting_open(*args, **kw):
        fh = real_open(*args, **kw)
        if str(args[0]).endswith(".trc") and "str" in str(args[0]):
            handles.append(fh)
            most[0] = max(most[0], sum(not h.closed for h in handles))
        return fh

    monkeypatch.setattr("builtins.open", counting_open)
    done = convert_streamed(source, tmp_path / "str", "trc", "posesynth", rows=7)
    assert done is not None
    assert _files(tmp_path / "str") == _files(tmp_path / "mem")
    assert len(handles) >= len(_files(tmp_path / "mem")) and most[0] <= 2
    if not per_sample:  # three interleaved sequences through two open files: some reopened
        assert len(handles) > 3
