"""``convert --to videopose3d``'s default check on data without subject ids that several
camera rigs saw: the writer makes each rig a subject (``<name>_000000``, ...), and the check
compares with the ids as written (the rig's name, each frame's index within its rig's
sequence, the cameras named ``<rig>/<id>``), in memory and streamed. Before, it failed such
valid conversions ("no common keys", "ids: frame differs"); a wrong file still fails."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from helpers import assert_vp3d_checks_fail, patch_npz_member
from posesynth.cli.main import app
from posesynth.data.dataset import PoseDataset, concat_datasets
from posesynth.data.formats import registry
from posesynth.data.formats.registry import convert_streamed, iter_chunks, read_any, write_any, written_ids
from posesynth.data.formats.store_io import write_store_dataset
from posesynth.data.roundtrip import check_written, check_written_chunked
from posesynth.geometry.camera import concat_cameras, h36m_subject_cameras
from posesynth.jobs.generate import GenerateConfig, generate_dataset

runner = CliRunner()
H36M_IDS = ("54138969", "55011271", "58860488", "60457274")


@pytest.fixture(scope="module")
def base() -> PoseDataset:
    return generate_dataset(GenerateConfig(samples=40, seed=11)).complete()


def _rigs(base: PoseDataset, frames: dict[str, np.ndarray], *, action: bool = True, drop: int = 0) -> PoseDataset:
    """No subject ids: rig ``k`` is the two cameras 54138969 and 55011271 of Human3.6M's
    subject ``list(frames)[k]`` (one camera table), seeing a pose at each of its frame ids;
    the rigs' frame ids do not overlap. With ``drop``, rig 1's first camera misses every
    ``drop``-th frame: the poses there have another rig (its second camera alone), which the
    writer makes a third subject."""
    subjects = list(frames)
    table = concat_cameras([h36m_subject_cameras(s) for s in subjects])
    names = np.array([f"{s}/{c}" for s in subjects for c in H36M_IDS])
    parts, pose = [], 0
    for k, s in enumerate(subjects):
        t = len(frames[s])
        i = np.arange(2 * t)
        part = replace(
            base.select((pose + i // 2) % base.joints_3d_world.shape[0]),
            joints_3d_camera=None, joints_2d=None, visibility=None,
            cameras=table, camera_index=4 * k + i % 2, camera_names=names,
            subject=None, action=np.full(2 * t, "Walking") if action else None,
            frame=np.asarray(frames[s])[i // 2], extra={},
        )  # fmt: skip
        parts.append(part.complete())
        pose += t
    ds = concat_datasets(parts)
    if drop:
        gone = (ds.camera_index == 4) & (ds.frame % drop == 0)
        ds = ds.select(np.flatnonzero(~gone))
    return ds


def _in_memory(ds: PoseDataset, out: Path, name: str = "custom"):
    write_any(ds, out, "videopose3d", name=name)
    return check_written(
        ds, out, lambda: read_any(out, format="videopose3d"), lambda: None, as_written=written_ids("videopose3d", out)
    )


def _streamed(ds: PoseDataset, root: Path, rows: int, name: str = "custom"):
    store = write_store_dataset(ds, root / "store")
    out = root / "str"
    done = convert_streamed(store, out, "videopose3d", "posesynth", rows=rows, name=name)
    if done is None:  # a rig in two runs of samples: the CLI converts in memory
        return None
    assert done.read_back is not None
    return check_written_chunked(
        lambda: iter_chunks(store, "posesynth", rows)[1], out, done.read_back, lambda: None,
        as_written=written_ids("videopose3d", out),
    )  # fmt: skip


CASES = {
    "dense": ({"S1": np.arange(10), "S5": 10 + np.arange(10)}, {}),
    "sparse": ({"S1": 100 + 5 * np.arange(10), "S5": 300 + 5 * np.arange(10)}, {}),
    "missing views": ({"S1": np.arange(12), "S5": 12 + np.arange(12)}, {"drop": 3}),
    "sparse, missing views, no action": (
        {"S1": 100 + 5 * np.arange(12), "S5": 300 + 5 * np.arange(12)},
        {"drop": 3, "action": False},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_several_rigs_pass_in_memory_and_streamed(base: PoseDataset, tmp_path: Path, case: str) -> None:
    frames, kw = CASES[case]
    ds = _rigs(base, frames, **kw)
    whole = _in_memory(ds, tmp_path / "mem", name="rigs")
    assert whole.ok, whole.problems
    assert (whole.matched, whole.extra, whole.projected) == (len(ds), 0, 0)
    # the ids as written are compared, not skipped
    assert {"subject", "frame", "camera"} <= set(whole.compared_ids)
    back = read_any(tmp_path / "mem")
    rigs = ["rigs_000000", "rigs_000001"] + (["rigs_000002"] if "drop" in kw else [])
    assert sorted(set(back.subject.tolist())) == rigs
    chunked = _streamed(ds, tmp_path, 7, name="rigs")
    if "drop" in kw:  # rig 1 and the third rig alternate: not in runs, so not streamed
        assert chunked is None
        return
    assert chunked is not None and chunked.ok, chunked.problems
    assert (chunked.matched, chunked.extra, chunked.projected) == (len(ds), 0, 0)
    assert {"subject", "frame"} <= set(chunked.compared_ids)  # the streamed read-back names no cameras


def test_the_ids_as_written_are_the_files_ids(base: PoseDataset, tmp_path: Path) -> None:
    """The mapping gives each sample the subject, frame and camera name the reader gives its
    written view (an independent reference: the files read back, matched by 3D and 2D)."""
    ds = _rigs(base, {"S1": 100 + 5 * np.arange(6), "S5": 300 + 3 * np.arange(6)})
    write_any(ds, tmp_path / "o", "videopose3d", name="x")
    back = read_any(tmp_path / "o")
    mapped = written_ids("videopose3d", tmp_path / "o")(ds)
    for i in range(len(ds)):
        hit = np.flatnonzero(
            np.isclose(back.joints_2d, ds.joints_2d[i], atol=1e-3).all(axis=(1, 2))
            & np.isclose(back.joints_3d_world, ds.joints_3d_world[i], atol=1e-5).all(axis=(1, 2))
        )
        assert hit.size == 1
        j = int(hit[0])
        assert mapped.subject[i] == back.subject[j]
        assert mapped.frame[i] == back.frame[j]
        assert mapped.camera_names[i] == back.camera_names[back.camera_index[j]]


def _swap_frames(out: Path) -> None:
    """Rig 1's poses of its frames 2 and 3 trade places in the 3D file."""
    path = out / "data_3d_rigs.npz"
    with np.load(path, allow_pickle=True) as z:
        seq = z["positions_3d"].item()["rigs_000001"]["Walking"]
    patch_npz_member(path, "positions_3d", seq[2:4], seq[[3, 2]])


def _corrupt_2d(out: Path) -> None:
    """2 px off on one joint of a view (rig 1, its first camera, frame index 1)."""
    path = out / "data_2d_rigs_gt.npz"
    with np.load(path, allow_pickle=True) as z:
        uv = z["positions_2d"].item()["rigs_000001"]["Walking"][0]
    bad = uv[1].copy()
    bad[5, 0] += 2.0
    patch_npz_member(path, "positions_2d", uv[1], bad)


@pytest.mark.parametrize(
    "damage, expect", [(_swap_frames, "joints_3d_world differs"), (_corrupt_2d, "joints_2d differs")]
)
def test_a_wrong_file_still_fails(base: PoseDataset, tmp_path: Path, damage, expect: str) -> None:
    ds = _rigs(base, {"S1": 100 + 5 * np.arange(12), "S5": 300 + 5 * np.arange(12)})
    assert_vp3d_checks_fail(ds, tmp_path, "rigs", damage, expect)


def test_rigs_cameras_swapped_fail(base: PoseDataset, tmp_path: Path) -> None:
    """The two rigs' names swapped in the cameras file (each rig's 2D then pairs with the
    other rig's cameras) fail the check."""
    ds = _rigs(base, {"S1": np.arange(6), "S5": 6 + np.arange(6)})
    out = tmp_path / "o"
    write_any(ds, out, "videopose3d", name="rigs")
    f = out / "cameras_rigs.json"
    text = f.read_text().replace("rigs_000000", "TMP").replace("rigs_000001", "rigs_000000")
    f.write_text(text.replace("TMP", "rigs_000001"))
    with pytest.raises(ValueError, match="differs from the input: .*cameras.center differs"):
        check_written(
            ds, out, lambda: read_any(out, format="videopose3d"), lambda: None,
            as_written=written_ids("videopose3d", out),
        )  # fmt: skip


@pytest.mark.parametrize("rows", [None, 7])
def test_cli_default_check_passes(base: PoseDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows) -> None:
    if rows is not None:
        monkeypatch.setattr(registry, "STREAM_ROWS", rows)
    ds = _rigs(base, {"S1": 100 + 5 * np.arange(12), "S5": 300 + 5 * np.arange(12)}, drop=3)
    store = write_store_dataset(ds, tmp_path / "store")
    out = tmp_path / "out"
    res = runner.invoke(app, ["convert", str(store), str(out), "--to", "videopose3d", "--name", "h36m", "--json"])
    assert res.exit_code == 0, res.output
    assert (out / "data_2d_h36m_gt.npz").exists()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rigs=st.integers(1, 3),
    step=st.integers(1, 6),
    drop=st.sampled_from([0, 2, 3]),
    rows=st.integers(3, 25),
)
def test_both_checks_agree(
    base: PoseDataset, tmp_path_factory: pytest.TempPathFactory, rigs: int, step: int, drop: int, rows: int
) -> None:
    """Any number of rigs, frame spacing, missing views and chunking: both checks pass alike."""
    subjects = ["S1", "S5", "S6"][:rigs]
    frames = {s: 1000 * k + step * np.arange(6) for k, s in enumerate(subjects)}
    ds = _rigs(base, frames, drop=drop)
    root = tmp_path_factory.mktemp("rigs")
    whole = _in_memory(ds, root / "mem")
    assert whole.ok, whole.problems
    chunked = _streamed(ds, root, rows)
    if len(ds) > rows and not drop:
        assert chunked is not None  # in memory only for one chunk, or a rig split by missing views
    if chunked is not None:
        assert chunked.ok, chunked.problems
        assert (whole.matched, whole.extra, whole.projected) == (chunked.matched, chunked.extra, chunked.projected)
