"""``convert``'s round-trip check chunk by chunk: MMPose read back in row blocks, a marked
``cameras.pkl`` read fragment by fragment, and the chunked comparison equal to the whole one."""

from __future__ import annotations

import json
import pickle
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import assert_one_error_line
from posesynth.body.skeleton import H36M17
from posesynth.cli.main import app
from posesynth.data.dataset import PoseDataset
from posesynth.data.formats import mmpose as mm
from posesynth.data.formats import registry
from posesynth.data.formats.mmpose import read_mmpose, read_mmpose_chunks, write_mmpose, write_mmpose_chunks
from posesynth.data.formats.numpy_pickle import load_numpy_pickle
from posesynth.data.formats.registry import convert_streamed, iter_chunks, read_any
from posesynth.data.formats.store_io import write_store_dataset
from posesynth.data.roundtrip import compare_chunked, compare_datasets
from posesynth.geometry.camera import h36m_subject_cameras
from posesynth.jobs.generate import GenerateConfig, generate_dataset

runner = CliRunner()
CAMERA_FIELDS = ("intrinsics", "distortion", "rotation", "center", "image_size")


def _per_sample(ds: PoseDataset, name: str) -> np.ndarray:
    assert ds.cameras is not None
    value = np.asarray(getattr(ds.cameras, name))
    return value if ds.camera_index is None else value[np.asarray(ds.camera_index)]


def _chunks_equal_whole(chunks, whole: PoseDataset) -> int:
    """Every chunk equals the whole data set's rows, sample by sample; returns the count."""
    lo = 0
    for chunk in chunks:
        ref = whole.select(slice(lo, lo + len(chunk)))
        for name in ("joints_3d_camera", "joints_3d_world", "joints_2d", "visibility", "subject", "action", "frame"):
            np.testing.assert_array_equal(getattr(chunk, name), getattr(ref, name), err_msg=name)
        for name in CAMERA_FIELDS:
            np.testing.assert_array_equal(_per_sample(chunk, name), _per_sample(ref, name), err_msg=name)
        assert chunk.cameras is not None and ref.cameras is not None
        assert chunk.cameras.model == ref.cameras.model
        lo += len(chunk)
    return lo


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("chunks")
    out = {}
    for model in ("pinhole", "fisheye"):
        ds = generate_dataset(GenerateConfig(samples=230, seed=3, camera={"model": model}))
        out[model] = write_store_dataset(ds, root / f"src-{model}", shard_size=100)
    return out


@pytest.mark.parametrize("model", ["pinhole", "fisheye"])
def test_streamed_mmpose_reads_back_in_chunks(stores: dict[str, Path], tmp_path: Path, model: str) -> None:
    convert_streamed(stores[model], tmp_path / "mm", "mmpose", "posesynth", rows=60)
    whole = read_mmpose(tmp_path / "mm" / "h36m_train.npz")
    n, chunks = read_mmpose_chunks(tmp_path / "mm" / "h36m_train.npz", rows=60)
    assert n == 230
    assert _chunks_equal_whole(chunks, whole) == 230
    # the marked cameras.pkl is one pickle to anyone else: the same dict as the restricted loader's
    with open(tmp_path / "mm" / "cameras.pkl", "rb") as fh:
        plain = pickle.load(fh)
    restricted = load_numpy_pickle(tmp_path / "mm" / "cameras.pkl")
    assert list(plain) == list(restricted) and len(plain) == 230
    assert (tmp_path / "mm" / mm.SIDECAR_FILE).is_file() == (model == "fisheye")


def test_chunks_of_an_in_memory_export_and_a_compressed_npz(stores: dict[str, Path], tmp_path: Path) -> None:
    """cameras.pkl without fragments is loaded whole; a deflated .npz streams too."""
    ds = read_any(stores["pinhole"])
    npz = write_mmpose(ds, tmp_path / "mem")
    whole = read_mmpose(npz)
    assert _chunks_equal_whole(read_mmpose_chunks(npz, rows=77)[1], whole) == 230
    with np.load(npz) as archive:
        np.savez_compressed(tmp_path / "mem" / "packed.npz", **{k: archive[k] for k in archive.files})
    with zipfile.ZipFile(tmp_path / "mem" / "packed.npz") as zf:
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in zf.infolist())
    packed = read_mmpose_chunks(tmp_path / "mem" / "packed.npz", rows=50)[1]
    assert _chunks_equal_whole(packed, whole) == 230


def test_a_shared_camera_table_with_entries_dropped_and_found_again(tmp_path: Path) -> None:
    """Chunks reuse the same four cameras; with no cache every later chunk rescans the file."""
    gen = generate_dataset(GenerateConfig(samples=90, seed=8))
    rng = np.random.default_rng(0)
    ds = PoseDataset(
        skeleton=H36M17,
        joints_3d_world=gen.joints_3d_world,
        cameras=h36m_subject_cameras("S5"),
        camera_index=rng.integers(0, 4, 90),
        camera_names=np.array(["S5/54138969", "S5/55011271", "S5/58860488", "S5/60457274"]),
        subject=np.array(["S5"] * 90),
        action=np.array(["Walking"] * 90),
        frame=np.arange(90),
    ).complete()
    write_mmpose_chunks((ds.select(slice(i, i + 20)) for i in range(0, 90, 20)), tmp_path / "mm")
    whole = read_mmpose(tmp_path / "mm" / "h36m_train.npz")
    chunks = read_mmpose_chunks(tmp_path / "mm" / "h36m_train.npz", rows=13, cache_cameras=0)[1]
    assert _chunks_equal_whole(chunks, whole) == 90


def test_chunked_comparison_equals_the_whole_one(stores: dict[str, Path], tmp_path: Path) -> None:
    convert_streamed(stores["fisheye"], tmp_path / "mm", "mmpose", "posesynth", rows=60)
    chunked = compare_chunked(
        iter_chunks(stores["fisheye"], "posesynth", 60)[1], iter_chunks(tmp_path / "mm", "mmpose", 60)[1]
    )
    whole = compare_datasets(read_any(stores["fisheye"]), read_any(tmp_path / "mm"))
    assert chunked.ok and whole.ok and chunked.chunks == 4 and whole.chunks == 1
    a, b = chunked.to_json(), whole.to_json()
    for key in ("samples", "samples_in", "samples_out", "unmatched", "extra", "ids", "compared", "aligned_by", "note"):
        assert a[key] == b[key], key
    assert a["cameras"] == b["cameras"] and a["max_error_2d_px"] == b["max_error_2d_px"]
    assert a["max_error_mm"] == b["max_error_mm"]
    assert a["mpjpe_mm"] == pytest.approx(b["mpjpe_mm"], rel=1e-12)


def test_chunked_comparison_finds_a_moved_joint_and_lost_samples(stores: dict[str, Path]) -> None:
    src = read_any(stores["pinhole"])
    parts = [src.select(slice(i, i + 60)) for i in range(0, 230, 60)]
    moved = [*parts[:3], replace(parts[3], joints_2d=np.asarray(parts[3].joints_2d) + [0.0, 2.0])]
    result = compare_chunked(parts, moved)
    assert not result.ok and result.check("joints_2d").max_abs == pytest.approx(2.0)
    assert result.problems == ("joints_2d differs by up to 2 px",)
    lost = compare_chunked(parts, parts[:3])
    assert lost.problems == ("50 of 230 samples are missing from the output",)
    assert lost.samples_in == 230 and lost.samples_out == 180
    shifted = [*parts[:2], replace(parts[2], joints_3d_world=np.asarray(parts[2].joints_3d_world) + 0.01), parts[3]]
    bad = compare_chunked(parts, shifted)
    assert any(p.startswith("joints_3d_world differs by up to 0.01") for p in bad.problems)


def test_convert_streams_with_its_check_and_never_reads_whole(
    stores: dict[str, Path], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(registry, "STREAM_ROWS", 50)

    def whole_read(*args, **kwargs):
        raise AssertionError("read_any: the streamed check must not read a data set whole")

    monkeypatch.setattr(registry, "read_any", whole_read)
    res = runner.invoke(app, ["convert", str(stores["fisheye"]), str(tmp_path / "mm"), "--to", "mmpose", "--json"])
    assert res.exit_code == 0, res.output
    check = json.loads(res.stdout)["check"]
    assert check["ok"] and check["chunks"] == 5 and check["samples"] == 230 and check["aligned_by"] == "order"
    assert check["max_error_2d_px"] < 1e-6 and set(check["compared"]) == {"joints_3d_camera", "joints_3d_world"}


def test_convert_removes_a_streamed_output_that_differs(stores: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(registry, "STREAM_ROWS", 50)
    real = mm.write_mmpose_chunks

    def wrong_writer(chunks, *args, **kwargs):  # the fourth chunk's 2D written 3 px off
        def moved():
            for i, chunk in enumerate(chunks):
                yield replace(chunk, joints_2d=np.asarray(chunk.joints_2d) + 3.0) if i == 3 else chunk

        return real(moved(), *args, **kwargs)

    monkeypatch.setattr(mm, "write_mmpose_chunks", wrong_writer)
    out = tmp_path / "mm"
    res = runner.invoke(app, ["convert", str(stores["pinhole"]), str(out), "--to", "mmpose"])
    assert_one_error_line(
        res, r"written, but it differs from the input: joints_2d differs by up to 4\.24\d* px; removed it"
    )
    assert not out.exists()
