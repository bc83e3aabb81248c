"""``info`` on a store reads it a part at a time (``report.describe_chunks``, issue 15), the
range-of-motion IK on threads: the description equals :func:`describe_dataset` of the whole
store read at once on one thread, and a store the parts refuse gives the whole read's error."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posesynth.data import report
from posesynth.data.dataset import PoseDataset
from posesynth.data.formats import store_io
from posesynth.data.formats.registry import write_any
from posesynth.data.formats.store_io import read_store
from posesynth.data.report import describe_chunks, describe_dataset, describe_path
from posesynth.jobs.generate import GenerateConfig, generate_dataset


def _store(ds: PoseDataset, path: Path) -> Path:
    write_any(ds, path, "posesynth", shard_size=11)
    return path


def _datasets() -> dict[str, PoseDataset]:
    base = generate_dataset(GenerateConfig(samples=60, seed=4)).complete()
    rng = np.random.default_rng(0)
    world = np.array(base.joints_3d_world)
    # poses outside the range of motion: joints moved far from where the body puts them
    world[rng.choice(60, 15, replace=False)] += rng.normal(0.0, 0.25, (15, 17, 3))
    uv = np.array(base.joints_2d)
    uv[[2, 30, 31], [4, 0, 16]] = np.nan  # missing joints: counted as NaN, their poses skipped
    world_nan = world.copy()
    world_nan[[5, 44]] = np.nan
    wild = replace(base, joints_3d_world=world, joints_3d_camera=None, joints_2d=uv, visibility=None)
    named = replace(
        wild,
        subject=np.array([f"S{i % 7}" for i in range(60)]),
        action=np.array(["walk", "a long action", "sit"] * 20),
    )
    assert base.cameras is not None
    table = replace(named, cameras=base.cameras[np.arange(5)], camera_index=np.arange(60) % 5)
    return {
        "generated": base,
        "outside the range of motion, missing 2D": wild,
        "subjects, actions": named,
        "a camera table": table,
        "missing world poses": replace(wild, joints_3d_world=world_nan, joints_3d_camera=None),
        "no 3D": replace(base, joints_3d_world=None, joints_3d_camera=None),
    }


@pytest.mark.parametrize("case", list(_datasets()))
@pytest.mark.parametrize("rows", [7, 60])
def test_the_parts_describe_the_whole(case: str, rows: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _store(_datasets()[case], tmp_path / "s")
    monkeypatch.setattr(report, "_rom_workers", lambda: 1)
    whole = describe_dataset(read_store(path))  # one thread, batches of 10,000
    monkeypatch.setattr(report, "ROM_CHUNK", rows)  # parts and IK batches of 7: none aligned with the shards
    monkeypatch.setattr(report, "_rom_workers", lambda: 3)  # the batches' IK on 3 threads

    def whole_read(*args: object, **kw: object) -> None:
        raise AssertionError("the store was read whole")

    monkeypatch.setattr(store_io, "read_store", whole_read)
    parts = describe_path(path)
    assert parts.data is not None
    assert replace(parts.data, units=whole.units) == whole  # the units: the store's own, as before
    if case.startswith("outside"):
        assert whole.rom is not None and whole.rom.samples_with_violations > 0 and whole.rom.most_violated
    without = describe_path(path, rom=False).data
    assert without is not None and replace(without, units=whole.units) == replace(whole, rom=None)


def test_describe_chunks_of_selections_equals_the_whole() -> None:
    ds = _datasets()["subjects, actions"]
    cuts = [0, 1, 13, 14, 40, 60]
    parts = [ds.select(np.arange(a, b)) for a, b in itertools.pairwise(cuts)]
    assert describe_chunks(parts) == describe_dataset(ds)
    with pytest.raises(ValueError, match="at least one part"):
        describe_chunks([])


def test_a_refused_part_gives_the_whole_reads_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two bad values: 2D in an early part, world 3D in a later one. The whole read checks the
    world 3D first, so that is the error, as before."""
    ds = _datasets()["generated"]
    uv = np.array(ds.joints_2d)
    uv[3, 2, 0] = 1e12
    world = np.array(ds.joints_3d_world)
    world[50, 1, 2] = 5e5
    path = _store(replace(ds, joints_2d=uv, joints_3d_world=world, joints_3d_camera=None), tmp_path / "s")
    with pytest.raises(ValueError) as whole:
        read_store(path)
    monkeypatch.setattr(report, "ROM_CHUNK", 7)
    with pytest.raises(ValueError) as parts:
        describe_path(path)
    assert str(parts.value) == str(whole.value) and "joints_3d_world" in str(whole.value)


def test_an_ik_refusal_on_a_thread_gives_the_same_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The IK refusing a later batch: the same note (and no counts) on threads as on one."""
    from posesynth.body import angles

    path = _store(_datasets()["outside the range of motion, missing 2D"], tmp_path / "s")
    original = angles.pose_angles
    calls = []

    def refusing(poses: np.ndarray, skeleton: object) -> object:
        calls.append(len(poses))
        if len(calls) == 3:
            raise ValueError("a pose it cannot read")
        return original(poses, skeleton)

    monkeypatch.setattr(angles, "pose_angles", refusing)
    monkeypatch.setattr(report, "ROM_CHUNK", 7)
    got = []
    for workers in (1, 3):
        calls.clear()
        monkeypatch.setattr(report, "_rom_workers", lambda workers=workers: workers)
        got.append(describe_path(path).data)
    assert got[0] == got[1] and got[0] is not None and got[0].rom is not None
    assert got[0].rom.note is not None and "a pose it cannot read" in got[0].rom.note and got[0].rom.checked == 0


def _h36m_rig() -> PoseDataset:
    """Human3.6M's shape: two subjects, 6 frames each, seen by their 4 calibrated cameras."""
    from test_vp3d_chunks_grouped import h36m_rig

    return h36m_rig(["S9", "S11"], 6, "Walking")


@pytest.mark.parametrize(
    ("fmt", "case"),
    [
        ("mmpose", "generated"),
        ("mmpose", "h36m rig"),
        ("trc", "subjects, actions"),
        ("videopose3d", "generated"),
        ("videopose3d", "h36m rig"),
    ],
)
def test_other_formats_by_parts_describe_the_whole(
    fmt: str, case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files with a chunk reader are described a part at a time too; where each part has a
    camera table of its own (MMPose), the whole's cameras are their distinct names."""
    from posesynth.data.formats import registry
    from posesynth.data.formats.registry import read_any

    ds = _h36m_rig() if case == "h36m rig" else _datasets()[case]
    write_any(ds, tmp_path / "out", fmt)
    path = tmp_path / "out"
    monkeypatch.setattr(report, "_rom_workers", lambda: 1)
    whole = describe_dataset(read_any(path, format=fmt))
    monkeypatch.setattr(report, "ROM_CHUNK", 7)
    monkeypatch.setattr(report, "_rom_workers", lambda: 3)

    def whole_read(*args: object, **kw: object) -> None:
        raise AssertionError("the file was read whole")

    monkeypatch.setattr(registry, "read_any", whole_read)
    assert describe_path(path).data == whole


def _masked_extremes(arr: np.ndarray):
    """The reference: the mask of the points with every coordinate finite, then their
    per-axis extremes down the rows (what ``info`` did before its first-pass shortcut)."""
    finite = np.isfinite(arr)
    rows = arr[finite.all(axis=-1)]
    missing = int(arr.size - finite.sum())
    return (missing, rows.min(axis=0), rows.max(axis=0)) if len(rows) else (missing, None, None)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.sampled_from([(0, 17, 3), (1, 1, 3), (5, 17, 3), (40, 33, 2), (7, 3)]),
    specials=st.sampled_from(["none", "nan", "inf", "zeros", "all nan"]),
)
def test_point_extremes_are_the_masked_ones(seed: int, shape: tuple[int, ...], specials: str) -> None:
    """``_finite_point_extremes``: the count of non-finite values and the extremes of the
    fully finite points, bit for bit the masked reference's, signed zeros included (an
    extreme of zero is where a reduction's order shows)."""
    rng = np.random.default_rng(seed)
    arr = rng.normal(0.0, 2.0, shape)
    if arr.size:
        pick = rng.random(shape) < 0.2
        if specials == "nan":
            arr[pick] = np.nan
        elif specials == "inf":
            arr[pick] = rng.choice([np.inf, -np.inf], shape)[pick]
        elif specials == "zeros":  # every extreme a zero of either sign, in random order
            arr = np.abs(arr) * (rng.random(shape) < 0.5)
            arr[pick] = -0.0
            arr = np.where(rng.random(shape) < 0.5, arr, -arr)
        elif specials == "all nan":
            arr[:] = np.nan
    got, want = report._finite_point_extremes(arr), _masked_extremes(arr)
    assert got[0] == want[0]
    for g, w in zip(got[1:], want[1:], strict=True):
        assert (g is None) == (w is None)
        if w is not None:
            assert np.asarray(g).tobytes() == np.asarray(w).tobytes()
