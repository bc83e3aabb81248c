"""One VideoPose3D writer: a data set gives the same bytes whether ``convert`` writes it in
memory or streams it chunk by chunk (issue 16), and the files load as the same dicts."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posesynth.data.formats import registry
from posesynth.data.formats import videopose3d as vp
from posesynth.data.formats.registry import convert_streamed, iter_chunks, read_any, write_any
from posesynth.data.formats.store_io import write_store_dataset
from posesynth.data.roundtrip import compare_chunked
from posesynth.jobs.generate import GenerateConfig, generate_dataset


def _files(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ds = generate_dataset(GenerateConfig(samples=90, seed=21, camera={"model": "opencv"}))
    return write_store_dataset(ds, tmp_path_factory.mktemp("vpb") / "g")


@pytest.fixture(scope="module")
def in_memory(store: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("vpm") / "mem"
    write_any(read_any(store), out, "videopose3d", name="syn")
    return _files(out)


@pytest.mark.parametrize("threshold", [10_000, 7])
def test_convert_both_paths_same_bytes(
    store: Path, in_memory: dict[str, bytes], tmp_path: Path, threshold: int
) -> None:
    """The CLI's choice of path (the STREAM_ROWS threshold) does not change a byte."""
    from typer.testing import CliRunner

    from posesynth.cli.main import app

    registry_rows = registry.STREAM_ROWS
    try:
        registry.STREAM_ROWS = threshold
        res = CliRunner().invoke(
            app, ["convert", str(store), str(tmp_path / "o"), "--to", "videopose3d", "--name", "syn", "--json"]
        )
    finally:
        registry.STREAM_ROWS = registry_rows
    assert res.exit_code == 0, res.output
    assert '"ok": true' in res.stdout
    assert _files(tmp_path / "o") == in_memory


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.integers(1, 89), batch=st.sampled_from([1, 4, 1000]))
def test_streamed_bytes_equal_in_memory_any_chunking(
    store: Path, tmp_path_factory: pytest.TempPathFactory, rows: int, batch: int
) -> None:
    out = tmp_path_factory.mktemp("vps")
    old = vp.BATCH_ITEMS
    try:
        vp.BATCH_ITEMS = batch
        write_any(read_any(store), out / "mem", "videopose3d", name="syn")
        done = convert_streamed(store, out / "str", "videopose3d", "posesynth", rows=rows, name="syn")
        assert done is not None
        assert _files(out / "str") == _files(out / "mem")
        chunked = compare_chunked(iter_chunks(store, "posesynth", rows)[1], done.read_back())
        assert chunked.ok and chunked.matched == 90 and chunked.aligned_by == "order", chunked.problems
    finally:
        vp.BATCH_ITEMS = old


def test_bytes_do_not_depend_on_the_clock(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    ds = read_any(store)
    write_any(ds, tmp_path / "a", "videopose3d")
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)  # 2033
    monkeypatch.setattr(time, "localtime", lambda *_: (2033, 5, 18, 3, 33, 20, 2, 138, 0))
    write_any(ds, tmp_path / "b", "videopose3d")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    with zipfile.ZipFile(tmp_path / "b" / "data_3d_custom.npz") as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_batches_load_as_the_whole_dicts(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small batches (3 subjects, or arrays over 1 KB) still load as VideoPose3D's plain dicts,
    with NumPy's own loader and posesynth's, in order."""
    monkeypatch.setattr(vp, "BATCH_ITEMS", 3)
    ds = read_any(store)
    write_any(ds, tmp_path / "a", "videopose3d")
    with np.load(tmp_path / "a" / "data_3d_custom.npz", allow_pickle=True) as npz:
        p3 = npz["positions_3d"].item()
    assert list(p3) == [f"custom_{i:06d}" for i in range(90)]
    with np.load(tmp_path / "a" / "data_2d_custom_gt.npz", allow_pickle=True) as npz:
        meta = npz["metadata"].item()
        p2 = npz["positions_2d"].item()
    assert list(meta["video_metadata"]) == list(p3) == list(p2)
    assert meta["num_joints"] == 17
    monkeypatch.setattr(vp, "BATCH_BYTES", 1024)
    write_any(ds, tmp_path / "b", "videopose3d")
    with np.load(tmp_path / "b" / "data_3d_custom.npz", allow_pickle=True) as npz:
        p3b = npz["positions_3d"].item()
    assert list(p3b) == list(p3)
    for k, acts in p3.items():
        assert list(p3b[k]) == list(acts)
        for a, arr in acts.items():
            np.testing.assert_array_equal(p3b[k][a], arr)
    back = read_any(tmp_path / "b")
    np.testing.assert_allclose(back.joints_3d_world, ds.joints_3d_world, atol=1e-6)


def test_fragments_per_batch(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """BATCH_ITEMS items per batch: 90 subjects in batches of 40 are three batches."""
    monkeypatch.setattr(vp, "BATCH_ITEMS", 40)
    write_any(read_any(store), tmp_path / "a", "videopose3d")
    sizes = [len(b) for b in vp._member_fragments(tmp_path / "a" / "data_3d_custom.npz", "positions_3d")]
    assert sizes == [40, 40, 10]


def test_metadata_whole_without_cameras(tmp_path: Path) -> None:
    """No cameras, so no ``video_metadata``: ``metadata`` is one plain pickle, no cameras file."""
    ds = generate_dataset(GenerateConfig(samples=12, seed=3)).complete()
    bare = replace(ds, cameras=None, joints_3d_camera=None)
    write_any(bare, tmp_path / "a", "videopose3d")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["data_2d_custom_gt.npz", "data_3d_custom.npz"]
    assert list(vp._member_fragments(tmp_path / "a" / "data_2d_custom_gt.npz", "metadata")) == []
    with np.load(tmp_path / "a" / "data_2d_custom_gt.npz", allow_pickle=True) as npz:
        meta = npz["metadata"].item()
    assert meta == {
        "layout_name": "h36m",
        "num_joints": 17,
        "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]],
    }
    with zipfile.ZipFile(tmp_path / "a" / "data_2d_custom_gt.npz") as zf:
        assert io.BytesIO(zf.read("metadata.npy")).read(6) == b"\x93NUMPY"
