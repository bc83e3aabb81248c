"""``convert STORE OUT --to trc`` streams row by row (frames out of order, several samples a
row) gathering only the arrays a TRC holds (world 3D, frame, time). The source's other arrays,
its 2D above all, are still checked first: bad input gives one error naming the store and the
field before anything is written, with ``--no-check`` as with the check, and leaves no output."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from posesynth.cli.main import app
from posesynth.data.dataset import PoseDataset
from posesynth.data.formats import registry, trc
from posesynth.data.formats.store_io import dataset_store_arrays, pose_store_meta
from posesynth.data.store import StoreWriter
from posesynth.jobs.generate import GenerateConfig, generate_dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def shuffled() -> PoseDataset:
    """40 samples of one sequence, frames in a random order (TRC rows gathered, not folded)."""
    ds = generate_dataset(GenerateConfig(samples=40, seed=31)).complete()
    return replace(ds, subject=np.full(40, "S1"), frame=np.random.default_rng(3).permutation(40))


@pytest.fixture(scope="module")
def folded(shuffled: PoseDataset) -> PoseDataset:
    """Two cameras' samples of each of 20 poses (one TRC row holds two samples)."""
    pose = np.arange(40) // 2
    world = np.asarray(shuffled.joints_3d_world)[pose]
    ds = replace(shuffled, joints_3d_world=world, joints_3d_camera=None, joints_2d=None, visibility=None).complete()
    return replace(ds, frame=pose)


@pytest.fixture(scope="module")
def generated(shuffled: PoseDataset) -> PoseDataset:
    """Generated data (no subject or frame ids): the one-pass path, which checks each chunk
    as it reads it and writes into a temporary folder."""
    return replace(shuffled, subject=None, frame=None)


def _bad_store(ds: PoseDataset, root: Path, damage: Callable[[dict[str, np.ndarray]], None]) -> Path:
    """``ds`` as a store of two shards whose arrays ``damage`` changed (written by the store's
    own writer, which checks layouts, not values: the checksums are right)."""
    arrays = {k: np.array(v, copy=True) for k, v in dataset_store_arrays(ds).items()}
    damage(arrays)
    meta = pose_store_meta(ds.skeleton, ds.meta, extra=list(ds.extra), camera_model=ds.cameras.model)
    writer = StoreWriter(root / "store", meta)
    writer.write_shard({k: v[:20] for k, v in arrays.items()})
    writer.write_shard({k: v[20:] for k, v in arrays.items()})
    return writer.commit()


def _inf_2d(a: dict[str, np.ndarray]) -> None:
    a["joints_2d"][33, 5, 0] = np.inf


def _far_2d(a: dict[str, np.ndarray]) -> None:
    a["joints_2d"][27, 2, 1] = 5e7  # beyond the documented bound of a pixel coordinate


def _nan_camera(a: dict[str, np.ndarray]) -> None:
    a["camera_intrinsics"][25, 0] = np.nan


CASES = [(_inf_2d, "joints_2d: inf at sample"), (_far_2d, "joints_2d"), (_nan_camera, "intrinsics")]


@pytest.mark.parametrize("layout", ["shuffled", "folded", "generated"])
@pytest.mark.parametrize("damage, field", CASES)
@pytest.mark.parametrize("check", ["--no-check", "--check"])
def test_bad_source_refused_before_writing(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout, damage, field, check
) -> None:
    store = _bad_store(request.getfixturevalue(layout), tmp_path, damage)
    monkeypatch.setattr(registry, "STREAM_ROWS", 7)
    written = []
    real = trc.write_trc_blocks
    monkeypatch.setattr(trc, "write_trc_blocks", lambda *a, **k: written.append(1) or real(*a, **k))
    out = tmp_path / "out"
    res = runner.invoke(app, ["convert", str(store), str(out), "--to", "trc", check])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {store}: ") and field in lines[0], res.output
    assert "written" not in lines[0]  # the source is refused, not a written output
    assert not written and not out.exists()


def test_good_source_still_streams_row_by_row(shuffled: PoseDataset, tmp_path: Path, monkeypatch) -> None:
    """The same store without damage: written by the row writer (the pass changes nothing)."""
    store = _bad_store(shuffled, tmp_path, lambda a: None)
    monkeypatch.setattr(registry, "STREAM_ROWS", 7)
    written = []
    real = trc.write_trc_blocks
    monkeypatch.setattr(trc, "write_trc_blocks", lambda *a, **k: written.append(1) or real(*a, **k))
    for check in ("--no-check", "--check"):
        out = tmp_path / f"out{check}"
        res = runner.invoke(app, ["convert", str(store), str(out), "--to", "trc", check])
        assert res.exit_code == 0, res.output
        assert (out / "S1_posesynth.trc").is_file()
    assert written == [1, 1]
