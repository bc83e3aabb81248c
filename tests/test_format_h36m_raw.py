"""Raw Human3.6M CDF files, written with cdflib's own writer in the dataset's layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cdflib.cdfwrite import CDF

from posesynth.body.mappings import H36M32_TO_17
from posesynth.body.skeleton import H36M17
from posesynth.data.formats.h36m_raw import read_h36m_cdf
from posesynth.geometry.camera import h36m_subject_cameras

KEEP = list(H36M32_TO_17)
T = 9


def write_cdf(path: Path, data: np.ndarray, variable: str = "Pose", dtype=CDF.CDF_FLOAT) -> Path:
    """One record of ``data.shape`` values, as Human3.6M's files hold ``Pose`` (1, T, 96)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = {
        "Variable": variable,
        "Data_Type": dtype,
        "Num_Elements": 1,
        "Rec_Vary": True,
        "Dim_Sizes": list(data.shape),
    }
    with CDF(path) as cdf:
        cdf.write_var(spec, var_data=data[None])
    return path


def world_mm(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(scale=300.0, size=(T, 32, 3)) + np.array([100.0, -200.0, 900.0])


def world_file(root: Path, pose_mm: np.ndarray, name: str = "Directions 1.cdf") -> Path:
    return write_cdf(
        root / "S1" / "MyPoseFeatures" / "D3_Positions" / name,
        pose_mm.reshape(T, 96),
        dtype=CDF.CDF_DOUBLE,
    )


def test_world_positions_are_reduced_to_17_joints_in_metres(tmp_path):
    pose = world_mm()
    ds = read_h36m_cdf(world_file(tmp_path, pose))
    assert ds.skeleton is H36M17 and len(ds) == T
    np.testing.assert_array_equal(ds.joints_3d_world, pose[:, KEEP] / 1000.0)
    assert ds.joints_3d_camera is None and ds.cameras is None and ds.visibility is None
    assert (ds.subject[0], ds.action[0]) == ("S1", "Directions 1")
    assert list(ds.frame) == list(range(T))
    assert ds.meta["space"] == "world" and ds.meta["frame_rate_hz"] == 50.0


def test_float32_records_as_the_dataset_stores_them(tmp_path):
    pose = world_mm().astype(np.float32)
    path = write_cdf(tmp_path / "S5" / "MyPoseFeatures" / "D3_Positions" / "Walking.cdf", pose.reshape(T, 96))
    ds = read_h36m_cdf(path)
    np.testing.assert_array_equal(ds.joints_3d_world, pose[:, KEEP].astype(np.float64) / 1000.0)
    assert ds.subject[0] == "S5" and ds.action[0] == "Walking"


def test_camera_frame_file_gets_its_preset_camera(tmp_path):
    pose_m = world_mm(1) / 1000.0
    cams = h36m_subject_cameras("S1")
    p_cam_mm = cams[2].world_to_camera(pose_m) * 1000.0  # camera 58860488
    path = write_cdf(
        tmp_path / "S1" / "MyPoseFeatures" / "D3_Positions_mono" / "Directions 1.58860488.cdf",
        p_cam_mm.reshape(T, 96),
        dtype=CDF.CDF_DOUBLE,
    )
    ds = read_h36m_cdf(path)
    assert ds.action[0] == "Directions 1" and ds.meta["camera_id"] == "58860488"
    assert ds.joints_3d_world is None
    assert list(ds.camera_names) == ["S1/58860488"]
    full = ds.complete()
    np.testing.assert_allclose(full.joints_3d_world, pose_m[:, KEEP], atol=1e-12)
    np.testing.assert_allclose(full.joints_2d, cams[2].project_world(pose_m[:, KEEP]), atol=1e-9)


def test_overrides(tmp_path):
    path = world_file(tmp_path, world_mm(), name="Directions 1.54138969.cdf")
    ds = read_h36m_cdf(path, subject="S9", action="Dir", space="world")
    assert (ds.subject[0], ds.action[0]) == ("S9", "Dir")
    assert ds.joints_3d_world is not None
    with pytest.raises(ValueError, match="space"):
        read_h36m_cdf(path, space="image")


def test_nan_is_a_missing_joint(tmp_path):
    pose = world_mm()
    pose[4, 2] = np.nan  # raw joint 2 (right knee), kept as joint 2
    ds = read_h36m_cdf(world_file(tmp_path, pose))
    assert ds.meta["missing_points"] == 1
    assert ds.visibility[4, 2] == 0 and ds.visibility.sum() == ds.visibility.size - 1


def test_inf_is_an_error(tmp_path):
    pose = world_mm()
    pose[1, 0, 2] = np.inf
    with pytest.raises(ValueError, match=r"Directions 1\.cdf.*'Pose'.*inf"):
        read_h36m_cdf(world_file(tmp_path, pose))


def test_missing_variable_names_it(tmp_path):
    path = write_cdf(tmp_path / "S1" / "D3_Positions" / "A.cdf", world_mm().reshape(T, 96), "Angles")
    with pytest.raises(ValueError, match=r"A\.cdf: missing variable 'Pose'.*Angles"):
        read_h36m_cdf(path)


def test_wrong_shape(tmp_path):
    path = write_cdf(tmp_path / "S1" / "D3_Positions" / "A.cdf", np.zeros((T, 95)))
    with pytest.raises(ValueError, match=r"A\.cdf: variable 'Pose': expected shape .*96.*95"):
        read_h36m_cdf(path)


def test_corrupt_and_truncated_files(tmp_path):
    bad = tmp_path / "S1" / "junk.cdf"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"definitely not a CDF file" * 10)
    with pytest.raises(ValueError, match=r"junk\.cdf: not a readable CDF"):
        read_h36m_cdf(bad)
    good = world_file(tmp_path, world_mm())
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"Directions 1\.cdf"):
        read_h36m_cdf(good)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        read_h36m_cdf("/nonexistent/S1/MyPoseFeatures/D3_Positions/Directions 1.cdf")


def test_camera_frame_without_camera_id(tmp_path):
    path = write_cdf(
        tmp_path / "S1" / "MyPoseFeatures" / "D3_Positions_mono" / "Directions 1.cdf",
        world_mm().reshape(T, 96),
    )
    with pytest.raises(ValueError, match="camera id"):
        read_h36m_cdf(path)
