"""`posesynth convert` and `posesynth info` over every format; format detection and dispatch."""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import assert_one_error_line
from posesynth.body import angles as A
from posesynth.body import kinematics as K
from posesynth.body.skeleton import H36M17
from posesynth.cli.convert_cmd import MPJPE_TOLERANCE_MM, roundtrip_error
from posesynth.cli.main import app
from posesynth.data.dataset import PoseDataset
from posesynth.data.formats.registry import detect_format, read_any
from posesynth.data.formats.store_io import read_store, write_store_dataset
from posesynth.data.store import open_store, write_store
from posesynth.jobs.generate import generate, load_config

sys.path.insert(0, str(Path(__file__).parent))
from test_format_store import assert_same_dataset, camera_batch

runner = CliRunner()
J = 17
REQUIRED_INFO_KEYS = {"format", "samples", "joints", "skeleton", "cameras", "units"}


def invoke(*args: Any) -> Any:
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "data"
    generate(load_config(samples=300, seed=5, shard_size=128), out, preview=False)
    return out


def sequence_dataset(subjects=("S1", "S5"), frames: int = 4, seed: int = 0) -> PoseDataset:
    """Subjects x 2 cameras x frames: one world pose per (subject, frame), a camera table."""
    rng = np.random.default_rng(seed)
    world, subject, frame, index = [], [], [], []
    for s_i, s in enumerate(subjects):
        poses = rng.normal(scale=0.3, size=(frames, J, 3)) + np.array([0.0, 0.0, 1.0])
        for c in range(2):
            for t in range(frames):
                world.append(poses[t])
                subject.append(s)
                frame.append(t)
                index.append(2 * s_i + c)
    k = 2 * len(subjects)
    return PoseDataset(
        skeleton=H36M17, joints_3d_world=np.array(world), cameras=camera_batch(k, "pinhole"),
        camera_index=np.array(index), subject=np.array(subject),
        camera_names=np.array([f"{s}/{c}" for s in subjects for c in ("a", "b")]),
        action=np.array(["Walking"] * len(world)), frame=np.array(frame),
    ).complete()  # fmt: skip


# ------------------------------------------------------------------------------ convert


def test_convert_store_to_store_keeps_every_value(generated: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    result = invoke("convert", generated, out, "--to", "posesynth", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["in_format"] == "posesynth" and doc["to"] == "posesynth"
    assert doc["samples"] == 300 and doc["cameras"] == 300 and doc["written"] == str(out)
    assert doc["mpjpe_mm"] == 0.0
    assert doc["check"]["max_error_mm"] == 0.0 and doc["check"]["max_error_2d_px"] == 0.0
    assert doc["check"]["compared"] == ["joints_3d_camera", "joints_3d_world"]
    assert_same_dataset(read_store(generated), read_store(out))
    assert open_store(out).meta["source"]["seed"] == 5


def test_convert_summary_line_and_overwrite(generated: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    first = invoke("convert", generated, out, "--to", "posesynth")
    assert first.exit_code == 0, first.output
    assert first.stdout == ""  # a summary of work done: on stderr, like generate's
    assert first.stderr.count("\n") == 1
    assert "300 samples" in first.stderr and "MPJPE 0 mm" in first.stderr
    again = invoke("convert", generated, out, "--to", "posesynth")
    assert_one_error_line(again, r"copy: already exists; pass overwrite")
    assert invoke("convert", generated, out, "--to", "posesynth", "--overwrite").exit_code == 0


def test_convert_usage_errors(generated: Path, tmp_path: Path) -> None:
    missing = invoke("convert", tmp_path / "nowhere", tmp_path / "o", "--to", "posesynth")
    assert_one_error_line(missing, r"nowhere: no such data set \(the path does not exist\)")
    bad = invoke("convert", generated, tmp_path / "o", "--to", "csv")
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    named = invoke("convert", generated, tmp_path / "o", "--to", "posesynth", "--name", "x")
    assert_one_error_line(named, r"--name: applies to --to mmpose and videopose3d")
    assert not (tmp_path / "o").exists()


# A stand-in for an MMPose writer/reader: S carries camera-frame 3D, cameras.pkl a dummy.
def fake_mmpose(calls: dict, shift_m: float = 0.0) -> types.ModuleType:
    module = types.ModuleType("posesynth.data.formats.mmpose")

    def write_mmpose(dataset, out_dir, name="h36m_train.npz", overwrite=False):
        calls["write"] = {"name": name, "overwrite": overwrite}
        out_dir = Path(out_dir)
        out_dir.mkdir()
        ds = dataset.complete()
        n = len(ds)
        S = np.concatenate([ds.joints_3d_camera + shift_m, np.ones((n, J, 1))], axis=-1)
        part = np.concatenate([ds.joints_2d, np.ones((n, J, 1))], axis=-1)
        np.savez(out_dir / name, imgname=np.array([f"S1/x_{i}.jpg" for i in range(n)]), part=part, S=S)
        (out_dir / "cameras.pkl").write_bytes(pickle.dumps({}))
        return out_dir / name

    def read_mmpose(npz_path, cameras_path=None):
        calls["read"] = {"npz_path": Path(npz_path), "cameras_path": cameras_path}
        with np.load(npz_path) as z:
            return PoseDataset(
                skeleton=H36M17, joints_3d_camera=z["S"][..., :3], joints_2d=z["part"][..., :2],
                subject=np.array([s.split("/")[0] for s in z["imgname"]]),
            )  # fmt: skip

    module.write_mmpose = write_mmpose
    module.read_mmpose = read_mmpose
    module.ids_as_written = lambda dataset: dataset  # this writer keeps the ids as they are
    return module


def test_convert_to_mmpose_with_a_faithful_writer(
    generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: dict = {}
    monkeypatch.setitem(sys.modules, "posesynth.data.formats.mmpose", fake_mmpose(calls))
    out = tmp_path / "mm"
    result = invoke("convert", generated, out, "--to", "mmpose", "--name", "h36m_x.npz", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert calls["write"] == {"name": "h36m_x.npz", "overwrite": False}
    assert calls["read"]["npz_path"] == out / "h36m_x.npz"  # read back from the folder
    assert calls["read"]["cameras_path"] == out / "cameras.pkl"
    assert doc["mpjpe_mm"] == 0.0 and doc["check"]["compared"] == ["joints_3d_camera"]
    assert doc["written"] == str(out / "h36m_x.npz")
    assert detect_format(out) == "mmpose"


def test_convert_fails_when_the_writer_moves_joints(
    generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bent = fake_mmpose({}, shift_m=0.0)
    # move one joint by 2 mm: a root-aligned error the check must see
    write = bent.write_mmpose

    def write_moved(dataset, out_dir, **kw):
        cam = dataset.joints_3d_camera.copy()
        cam[:, 5, 0] += 0.002
        from dataclasses import replace

        return write(replace(dataset, joints_3d_camera=cam), out_dir, **kw)

    bent.write_mmpose = write_moved
    monkeypatch.setitem(sys.modules, "posesynth.data.formats.mmpose", bent)
    result = invoke("convert", generated, tmp_path / "mm", "--to", "mmpose")
    mpjpe = 2.0 / J
    assert_one_error_line(result, rf"mm: written, but it differs from the input: .*MPJPE {mpjpe:.4f}.*removed it")
    assert not (tmp_path / "mm").exists()  # a failed check leaves no output behind
    skipped = invoke("convert", generated, tmp_path / "mm2", "--to", "mmpose", "--no-check")
    assert skipped.exit_code == 0 and "not checked" in skipped.stderr


def fake_videopose3d(calls: dict) -> types.ModuleType:
    """Writes one row per sample in reversed order, keyed by subject/action/frame."""
    module = types.ModuleType("posesynth.data.formats.videopose3d")

    def write_videopose3d(dataset, out_dir, name="custom", overwrite=False):
        out_dir = Path(out_dir)
        out_dir.mkdir()
        rev = slice(None, None, -1)
        np.savez(
            out_dir / f"data_3d_{name}.npz", positions_3d=dataset.joints_3d_world[rev],
            subject=dataset.subject[rev], action=dataset.action[rev], frame=dataset.frame[rev],
        )  # fmt: skip
        return out_dir / f"data_3d_{name}.npz", None

    def read_videopose3d(path_3d=None, path_2d=None):
        calls["read"] = (path_3d, path_2d)
        with np.load(path_3d) as z:
            return PoseDataset(
                skeleton=H36M17, joints_3d_world=z["positions_3d"], subject=z["subject"],
                action=z["action"], frame=z["frame"],
            )  # fmt: skip

    module.write_videopose3d = write_videopose3d
    module.read_videopose3d = read_videopose3d
    return module


def test_convert_matches_reordered_samples_by_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict = {}
    monkeypatch.setitem(sys.modules, "posesynth.data.formats.videopose3d", fake_videopose3d(calls))
    src = write_store_dataset(sequence_dataset().select(slice(0, 8)), tmp_path / "src")  # S1 only
    result = invoke("convert", src, tmp_path / "vp", "--to", "videopose3d", "--json")
    assert result.exit_code == 0, result.output
    check = json.loads(result.stdout)["check"]
    assert calls["read"] == (tmp_path / "vp" / "data_3d_custom.npz", None)
    assert check["aligned_by"] == "keys" and check["mpjpe_mm"] == 0.0 and check["samples"] == 8
    # the same files compared by order would be far off: the key matching did the work
    back = read_any(tmp_path / "vp")
    order = roundtrip_error(read_store(src), PoseDataset(skeleton=H36M17, joints_3d_world=back.joints_3d_world))
    assert order["aligned_by"] == "order" and order["mpjpe_mm"] > 10


def test_roundtrip_error_by_joint_names_and_repeated_keys() -> None:
    ds = sequence_dataset()
    # output keeps 10 joints, one row per (subject, action, frame) and camera 3D per camera
    sub = H36M17.subset(range(10), name="first10")
    per_frame = ds.select(np.array([0, 1, 2, 3, 8, 9, 10, 11]))
    out = PoseDataset(
        skeleton=sub, joints_3d_world=per_frame.joints_3d_world[:, :10],
        subject=per_frame.subject, action=per_frame.action, frame=per_frame.frame,
    )  # fmt: skip
    res = roundtrip_error(ds, out)
    assert res["aligned_by"] == "keys" and res["samples"] == len(ds) and res["unmatched"] == 0
    assert res["mpjpe_mm"] == 0.0 and res["compared"] == ["joints_3d_world"]
    # repeated keys with differing values are not compared (several cameras, one frame id)
    cam_out = PoseDataset(
        skeleton=H36M17, joints_3d_camera=ds.joints_3d_camera, subject=ds.subject,
        action=ds.action, frame=ds.frame,
    )  # fmt: skip
    shuffled = cam_out.select(np.arange(len(ds))[::-1])
    res = roundtrip_error(ds, shuffled)
    assert res["mpjpe_mm"] is None and "differ between output samples" in res["note"]
    moved = PoseDataset(skeleton=H36M17, joints_3d_world=ds.joints_3d_world + 1.0)
    res = roundtrip_error(ds, moved)  # a global shift: MPJPE (root-aligned) 0, absolute 1.7 m
    assert res["mpjpe_mm"] == pytest.approx(0, abs=1e-9)
    assert res["max_error_mm"] == pytest.approx(1000 * np.sqrt(3))


def test_real_mmpose_round_trip(generated: Path, tmp_path: Path) -> None:
    pytest.importorskip("posesynth.data.formats.mmpose")
    result = invoke("convert", generated, tmp_path / "mm", "--to", "mmpose", "--json")
    assert result.exit_code == 0, result.output
    check = json.loads(result.stdout)["check"]
    assert check["per_array"]["joints_3d_camera"]["mpjpe_mm"] == 0.0
    assert check["mpjpe_mm"] <= MPJPE_TOLERANCE_MM
    back = invoke("convert", tmp_path / "mm", tmp_path / "store", "--to", "posesynth", "--json")
    assert back.exit_code == 0, back.output
    assert json.loads(back.stdout)["mpjpe_mm"] == 0.0


def test_real_videopose3d_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("posesynth.data.formats.videopose3d")
    ds = sequence_dataset()
    shuffled = ds.select(np.random.default_rng(1).permutation(len(ds)))
    src = write_store_dataset(shuffled, tmp_path / "src")
    result = invoke("convert", src, tmp_path / "vp", "--to", "videopose3d", "--json")
    assert result.exit_code == 0, result.output
    check = json.loads(result.stdout)["check"]
    assert check["aligned_by"] == "keys" and check["samples"] == len(ds)
    assert "joints_3d_world" in check["compared"]
    assert check["mpjpe_mm"] <= MPJPE_TOLERANCE_MM  # float32 files


# ---------------------------------------------------------------------------- detection


def make_store(p: Path) -> Path:
    return write_store_dataset(PoseDataset(skeleton=H36M17, joints_2d=np.zeros((2, J, 2))), p)


def make_mmpose_npz(p: Path) -> Path:
    np.savez(p, imgname=np.array(["S1/a.jpg"]), part=np.zeros((1, J, 3)), S=np.zeros((1, J, 4)))
    return p


def make_mmpose_dir(p: Path) -> Path:
    p.mkdir()
    make_mmpose_npz(p / "h36m_test.npz")
    (p / "cameras.pkl").write_bytes(pickle.dumps({}))
    return p


def make_vp3d_3d(p: Path) -> Path:
    np.savez(p, positions_3d={"S1": {"Walk": np.zeros((2, J, 3))}})
    return p


def make_vp3d_2d(p: Path) -> Path:
    np.savez(p, positions_2d={"S1": {"Walk": [np.zeros((2, J, 2))]}}, metadata={"num_joints": J})
    return p


def make_vp3d_dir(p: Path) -> Path:
    p.mkdir()
    make_vp3d_3d(p / "data_3d_h36m.npz")
    make_vp3d_2d(p / "data_2d_h36m_gt.npz")
    return p


def make_h5(p: Path) -> Path:
    with h5py.File(p, "w") as f:
        f["S"] = np.zeros((1, J, 3))
        f["part"] = np.zeros((1, J, 2))
    return p


def make_cdf(p: Path) -> Path:
    p.write_bytes(b"\xcd\xf3\x00\x01\x00\x00\xff\xff" + bytes(56))
    return p


def make_trc(p: Path) -> Path:
    p.write_text("PathFileType\t4\t(X/Y/Z)\tx.trc\nDataRate\tCameraRate\tNumFrames\n")
    return p


@pytest.mark.parametrize(
    ("make", "name", "expected"),
    [
        (make_store, "store", "posesynth"),
        (make_mmpose_npz, "h36m_train.npz", "mmpose"),
        (make_mmpose_dir, "mm", "mmpose"),
        (make_vp3d_3d, "data_3d_h36m.npz", "videopose3d"),
        (make_vp3d_2d, "data_2d_h36m_gt.npz", "videopose3d"),
        (make_vp3d_dir, "vp", "videopose3d"),
        (make_h5, "train.h5", "seed_h5"),
        (make_cdf, "Walking 1.cdf", "h36m_cdf"),
        (make_trc, "walk.trc", "trc"),
        (make_trc, "walk_no_suffix", "trc"),  # by content
    ],
)
def test_detect_format(tmp_path: Path, make: Any, name: str, expected: str) -> None:
    assert detect_format(make(tmp_path / name)) == expected


def test_detect_format_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nowhere: no such data set \(the path does not exist\)"):
        detect_format(tmp_path / "nowhere")
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match=r"other\.npz: an \.npz with keys \['a'\]; expected MMPose"):
        detect_format(tmp_path / "other.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match=r"bad\.npz: not a valid \.npz \(zip\) archive .*damaged"):
        detect_format(tmp_path / "bad.npz")
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["foo"] = np.zeros(1)
    with pytest.raises(ValueError, match=r"x\.h5: an HDF5 file with datasets \['foo'\]"):
        detect_format(tmp_path / "x.h5")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"notes\.txt: unknown file type \(suffix '\.txt'"):
        detect_format(tmp_path / "notes.txt")
    (tmp_path / "fake.cdf").write_text("hello")
    with pytest.raises(ValueError, match=r"fake\.cdf: not a valid CDF file"):
        detect_format(tmp_path / "fake.cdf")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"empty/dataset\.json: missing; .*not a posesynth data set"):
        detect_format(empty)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    np.savez(mixed / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match=r"mixed: a folder holding \['other\.npz'\], no dataset\.json"):
        detect_format(mixed)
    two = make_mmpose_dir(tmp_path / "two")
    make_mmpose_npz(two / "h36m_train.npz")
    with pytest.raises(ValueError, match=r"two: holds 2 MMPose \.npz files"):
        detect_format(two)


def fake_reader_module(name: str, func: str, calls: list) -> types.ModuleType:
    module = types.ModuleType(name)

    def reader(*args: Any, **kw: Any) -> PoseDataset:
        calls.append((func, args, kw))
        return PoseDataset(skeleton=H36M17, joints_3d_world=np.zeros((1, J, 3)))

    setattr(module, func, reader)
    return module


@pytest.fixture()
def fake_readers(monkeypatch: pytest.MonkeyPatch) -> list:
    calls: list = []
    for module, func in (
        ("mmpose", "read_mmpose"), ("videopose3d", "read_videopose3d"), ("seed_h5", "read_seed_h5"),
        ("h36m_raw", "read_h36m_cdf"), ("trc", "read_trc"),
    ):  # fmt: skip
        name = f"posesynth.data.formats.{module}"
        monkeypatch.setitem(sys.modules, name, fake_reader_module(name, func, calls))
    return calls


def test_read_any_dispatches_to_each_reader(tmp_path: Path, fake_readers: list) -> None:
    mm = make_mmpose_dir(tmp_path / "mm")
    read_any(mm)
    read_any(mm / "h36m_test.npz")
    vp = make_vp3d_dir(tmp_path / "vp")
    read_any(vp)
    read_any(vp / "data_3d_h36m.npz")
    read_any(vp / "data_2d_h36m_gt.npz")
    read_any(make_vp3d_2d(tmp_path / "data_2d_alone.npz"))
    read_any(make_h5(tmp_path / "train.h5"), mat_path=tmp_path / "k.mat")
    read_any(make_cdf(tmp_path / "Walking.cdf"))
    read_any(make_trc(tmp_path / "walk.trc"), skeleton="h36m17")
    pairs = {"path_3d": vp / "data_3d_h36m.npz", "path_2d": vp / "data_2d_h36m_gt.npz"}
    assert fake_readers == [
        ("read_mmpose", (mm / "h36m_test.npz",), {"cameras_path": mm / "cameras.pkl"}),
        ("read_mmpose", (mm / "h36m_test.npz",), {"cameras_path": mm / "cameras.pkl"}),
        ("read_videopose3d", (), pairs),
        ("read_videopose3d", (), pairs),
        ("read_videopose3d", (), pairs),
        ("read_videopose3d", (), {"path_3d": None, "path_2d": tmp_path / "data_2d_alone.npz"}),
        ("read_seed_h5", (tmp_path / "train.h5",), {"mat_path": tmp_path / "k.mat"}),
        ("read_h36m_cdf", (tmp_path / "Walking.cdf",), {}),
        ("read_trc", (tmp_path / "walk.trc",), {"skeleton": "h36m17"}),
    ]
    assert len(read_any(make_store(tmp_path / "store"))) == 2  # the real store reader
    with pytest.raises(ValueError, match=r"format: expected one of \['posesynth'"):
        read_any(tmp_path / "store", format="csv")


def test_read_any_reports_a_damaged_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("posesynth.data.formats.seed_h5")

    def read_seed_h5(path: Path, mat_path: Path | None = None) -> PoseDataset:
        raise KeyError("S")

    module.read_seed_h5 = read_seed_h5
    monkeypatch.setitem(sys.modules, "posesynth.data.formats.seed_h5", module)
    path = make_h5(tmp_path / "train.h5")
    with pytest.raises(ValueError, match=r"train\.h5: cannot read as seed_h5 \(KeyError: 'S'\)"):
        read_any(path)
    result = invoke("info", path)
    assert_one_error_line(result, r"cannot read as seed_h5 \(KeyError: 'S'\); the file may be damaged")


# --------------------------------------------------------------------------------- info


def test_info_json_on_a_generated_store(generated: Path) -> None:
    result = invoke("info", generated, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) >= REQUIRED_INFO_KEYS
    assert doc["format"] == "posesynth" and doc["samples"] == 300 and doc["joints"] == 17
    assert doc["skeleton"] == "h36m17" and doc["cameras"] == 300 and doc["camera_model"] == "pinhole"
    assert doc["units"]["joints_3d"] == "m" and doc["units"]["joints_2d"] == "px"
    assert doc["subjects"] is None and doc["actions"] is None and doc["nan_count"] == 0
    store = open_store(generated)
    for name in ("joints_3d_world", "joints_2d"):
        arr = store.read(name).astype(np.float64)
        np.testing.assert_array_equal(doc["ranges"][name]["min"], arr.min(axis=(0, 1)))
        np.testing.assert_array_equal(doc["ranges"][name]["max"], arr.max(axis=(0, 1)))
    assert doc["ranges"]["joints_2d"]["unit"] == "px"
    rom = doc["rom"]
    assert rom["source"] == "joints_3d_world" and rom["checked"] == 300
    assert rom["samples_with_violations"] == 0  # generated poses stay within the ROM
    assert doc["seed"] == 5 and doc["arrays"]["angles"]["shape"][0] == 300


def knee_dataset(bend_deg: float | None) -> PoseDataset:
    """6 everyday poses built by forward kinematics; pose 2's right knee bent to ``bend_deg``;
    pose 4 has a NaN joint."""
    n = 6
    angles = {
        "right_knee_flexion": np.deg2rad(np.array([0, 30, 60, 90, 20, 45.0])),
        "left_knee_flexion": np.deg2rad(np.full(n, 15.0)),
        "right_hip_flexion": np.deg2rad(np.linspace(0, 40, n)),
        "left_elbow_flexion": np.deg2rad(np.full(n, 70.0)),
    }
    if bend_deg is not None:
        angles["right_knee_flexion"][2] = np.deg2rad(bend_deg)
    local = A.local_from_angles(angles, H36M17)
    world = K.forward_kinematics(local, K.default_rest_offsets(H36M17), H36M17)
    world[4, 7] = np.nan
    return PoseDataset(skeleton=H36M17, joints_3d_world=world, subject=np.array(["S1"] * n))


def test_info_counts_rom_violations(tmp_path: Path) -> None:
    straight = write_store_dataset(knee_dataset(None), tmp_path / "straight")
    rom = json.loads(invoke("info", straight, "--json").stdout)["rom"]
    assert rom["samples_with_violations"] == 0 and rom["checked"] == 5

    bent = write_store_dataset(knee_dataset(170.0), tmp_path / "bent")
    result = invoke("info", bent, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) >= REQUIRED_INFO_KEYS
    assert doc["nan_count"] == 3 and doc["nan"] == {"joints_3d_world": 3}
    assert doc["subjects"] == 1 and doc["cameras"] == 0
    rom = doc["rom"]
    assert rom["checked"] == 5 and rom["skipped_non_finite"] == 1
    assert rom["samples_with_violations"] == 1 and rom["fraction"] == pytest.approx(0.2)
    assert rom["violations_by_angle"] == {"right_knee_flexion": 1}
    top = rom["most_violated"][0]
    assert top["angle"] == "right_knee_flexion" and top["samples"] == 1
    assert top["limits_deg"] == [-10, 150] and top["max_deg"] == pytest.approx(170, abs=0.01)

    human = invoke("info", bent)
    assert human.exit_code == 0, human.output
    assert "1 of 5 poses outside" in human.stdout and "right_knee_flexion" in human.stdout
    assert "1 skipped (non-finite joints)" in human.stdout
    assert json.loads(invoke("info", bent, "--json", "--no-rom").stdout)["rom"] is None


def test_info_on_other_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "posesynth.data.formats.mmpose", fake_mmpose({}))
    src = write_store_dataset(sequence_dataset(), tmp_path / "src")
    # the fake writer keeps no subject ids, which the round-trip check refuses
    assert invoke("convert", src, tmp_path / "mm", "--to", "mmpose", "--no-check").exit_code == 0
    result = invoke("info", tmp_path / "mm", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) >= REQUIRED_INFO_KEYS
    assert doc["format"] == "mmpose" and doc["samples"] == 16 and doc["subjects"] == 1
    assert doc["units"] == {"joints_3d": "m", "joints_2d": "px"}
    assert doc["rom"]["source"] == "joints_3d_camera" and doc["rom"]["checked"] == 16
    human = invoke("info", tmp_path / "mm" / "h36m_train.npz")
    assert human.exit_code == 0 and "mmpose" in human.stdout and "value ranges" in human.stdout


def test_info_on_a_store_without_joint_arrays(tmp_path: Path) -> None:
    path = write_store(tmp_path / "bare", {"cameras": {"count": 4}}, [{"joints_3d": np.zeros((2, 5, 3))}])
    doc = json.loads(invoke("info", path, "--json").stdout)
    assert doc["joints"] == 5 and doc["cameras"] == 4 and "rom" not in doc
    meta = {"skeleton": H36M17.to_dict()}  # joint arrays in another layout: manifest only
    other = write_store(tmp_path / "other", meta, [{"joints_2d": np.zeros((2, 4, J, 2))}])
    result = invoke("info", other, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["samples"] == 2 and "rom" not in doc
    assert re.match(r"data not described: .*joints_2d: expected shape \(N, 17, 2\)", doc["note"])


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda p: (p / "x.npz").write_bytes(b"\x00garbage") and p / "x.npz",
         r"x\.npz: not a valid \.npz \(zip\) archive"),
        (lambda p: (p / "x.h5").write_bytes(make_h5(p / "y.h5").read_bytes()[:100]) and p / "x.h5",
         r"x\.h5: not a valid HDF5 file"),
        (lambda p: (p / "x.npz").write_bytes(b"PK\x03\x04" + bytes(40)) and p / "x.npz",
         r"x\.npz: not a valid \.npz archive"),
    ],
)  # fmt: skip
def test_info_on_a_damaged_file_is_one_line(tmp_path: Path, make: Any, pattern: str) -> None:
    assert_one_error_line(invoke("info", make(tmp_path), "--json"), pattern)


def test_info_on_a_truncated_store_is_one_line(tmp_path: Path) -> None:
    path = write_store_dataset(knee_dataset(None), tmp_path / "s")
    shard = path / "shards" / "000000" / "joints_3d_world.npy"
    shard.write_bytes(shard.read_bytes()[:-20])
    assert_one_error_line(invoke("info", path), r"000000/joints_3d_world\.npy: .*truncated")


def test_damaged_file_through_the_entry_point(tmp_path: Path) -> None:
    bad = tmp_path / "h36m_train.npz"
    bad.write_bytes(b"garbage")
    proc = subprocess.run(
        [sys.executable, "-m", "posesynth.cli.main", "info", str(bad)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"error: {bad}: not a valid .npz (zip) archive (starts with b'garbage'); the file is damaged or misnamed"
    ]
