"""Pose2Sim / Anipose calibration files, checked against OpenCV's projection."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from posesynth.data.formats.calib_toml import read_calib_toml, write_calib_toml
from posesynth.data.formats.trc import TRC_TO_WORLD, read_trc
from posesynth.geometry.camera import Camera, look_at, rotation_translation

CENTERS = np.array([[3.2, 0.4, 1.5], [-2.5, 2.8, 1.1], [0.3, -3.9, 2.4]])


def extrinsics(k: int) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV rvec, tvec (metres) of a camera at CENTERS[k] looking at the origin area."""
    R = look_at(CENTERS[k], np.array([0.0, 0.0, 1.0]))
    _, t = rotation_translation(R, CENTERS[k])
    rvec, _ = cv2.Rodrigues(R)  # OpenCV's own conversion, independent of posesynth's
    return rvec.ravel(), t


def fmt(values) -> str:
    return "[ " + ", ".join(repr(float(v)) for v in np.ravel(values)) + "]"


def pose2sim_table(table, name, size, K, dist, rvec, tvec, fisheye=False) -> str:
    """One camera as Pose2Sim's calibration.toml_write formats it (floats in size too)."""
    return (
        f"[{table}]\n"
        f'name = "{name}"\n'
        f"size = [ {float(size[0])}, {float(size[1])}]\n"
        f"matrix = [ [ {K[0][0]}, 0.0, {K[0][2]}], [ 0.0, {K[1][1]}, {K[1][2]}], [ 0.0, 0.0, 1.0]]\n"
        f"distortions = {fmt(dist)}\n"
        f"rotation = {fmt(rvec)}\n"
        f"translation = {fmt(tvec)}\n"
        f"fisheye = {'true' if fisheye else 'false'}\n\n"
    )


K1 = [[1402.5, 0.0, 959.3], [0.0, 1398.1, 541.7], [0.0, 0.0, 1.0]]
K2 = [[812.0, 0.0, 640.5], [0.0, 815.5, 358.2], [0.0, 0.0, 1.0]]
K3 = [[600.0, 0.0, 960.0], [0.0, 600.0, 960.0], [0.0, 0.0, 1.0]]
D1 = [-0.12, 0.045, 0.0012, -0.0008]
D2 = [0.08, -0.031, -0.0005, 0.0011]
DF = [0.021, -0.006, 0.0013, -0.0002]
METADATA = "[metadata]\nadjusted = false\nerror = 0.0\n"


def pose2sim_file(tmp_path: Path, fisheye_third: bool = False) -> Path:
    tables = [
        pose2sim_table("cam_01", "cam_01", (1920, 1080), K1, D1, *extrinsics(0)),
        pose2sim_table("cam_02", "cam_02", (1280, 720), K2, D2, *extrinsics(1)),
    ]
    if fisheye_third:
        tables.append(pose2sim_table("cam_03", "cam_03", (1920, 1920), K3, DF, *extrinsics(2), True))
    p = tmp_path / "Calib_board.toml"
    p.write_text("".join(tables) + METADATA)
    return p


def points_world(n: int = 40) -> np.ndarray:
    rng = np.random.default_rng(11)
    return rng.uniform([-0.6, -0.6, 0.0], [0.6, 0.6, 1.9], size=(n, 3))


def test_projection_matches_cv2_projectpoints(tmp_path):
    cams, names = read_calib_toml(pose2sim_file(tmp_path))
    assert names == ["cam_01", "cam_02"]
    assert cams.batch_shape == (2,) and cams.model.value == "opencv"
    assert cams.image_size.tolist() == [[1920, 1080], [1280, 720]]
    p = points_world()
    for k, (K, D) in enumerate([(K1, D1), (K2, D2)]):
        rvec, tvec = extrinsics(k)
        ref, _ = cv2.projectPoints(p, rvec, tvec, np.array(K), np.array(D))
        np.testing.assert_allclose(cams[k].project_world(p), ref[:, 0], atol=1e-6)
        np.testing.assert_allclose(cams[k].center, CENTERS[k], atol=1e-12)


def test_fisheye_camera_matches_cv2_fisheye_and_mixed_models_give_a_list(tmp_path):
    cams, names = read_calib_toml(pose2sim_file(tmp_path, fisheye_third=True))
    assert isinstance(cams, list) and [c.model.value for c in cams] == ["opencv", "opencv", "fisheye"]
    assert names[2] == "cam_03" and cams[2].batch_shape == ()
    p = points_world()
    rvec, tvec = extrinsics(2)
    ref, _ = cv2.fisheye.projectPoints(p[:, None], rvec, tvec, np.array(K3), np.array(DF))
    np.testing.assert_allclose(cams[2].project_world(p), ref[:, 0], atol=1e-6)


def test_anipose_five_coefficients_and_millimetres(tmp_path):
    rvec, t_m = extrinsics(0)
    d5 = D1 + [0.0031]
    text = pose2sim_table("cam_0", "A", (1920, 1080), K1, d5, rvec, t_m * 1000.0) + METADATA
    path = tmp_path / "calibration.toml"
    path.write_text(text)
    cams, names = read_calib_toml(path, units="mm")
    p = points_world()
    ref, _ = cv2.projectPoints(p * 1000.0, rvec, t_m * 1000.0, np.array(K1), np.array(d5))
    np.testing.assert_allclose(cams[0].project_world(p), ref[:, 0], atol=1e-6)
    assert names == ["A"]


def test_trc_and_calib_share_pose2sims_world(tmp_path):
    """Reproject TRC markers as Pose2Sim's reproj_from_trc_calib does (yup2zup, then cv2)."""
    cams, _ = read_calib_toml(pose2sim_file(tmp_path))
    rng = np.random.default_rng(4)
    q_trc = rng.uniform([-0.5, 0.2, -0.5], [0.5, 1.8, 0.5], size=(3, 2, 3))  # Y up, metres
    names = ["RHip", "LHip"]
    header = [
        "PathFileType\t4\t(X/Y/Z)\tt.trc",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        "30\t30\t3\t2\tm\t30\t0\t3",
        "Frame#\tTime\tRHip\t\t\tLHip\t\t\t",
        "\t\tX1\tY1\tZ1\tX2\tY2\tZ2\t",
    ]
    body = ["\t".join([str(f), str(f / 30)] + [repr(float(v)) for v in q_trc[f].ravel()]) for f in range(3)]
    (tmp_path / "t.trc").write_text("\n".join(header + body) + "\n")
    ds = read_trc(tmp_path / "t.trc")
    zup = q_trc[..., [2, 0, 1]]  # Pose2Sim's yup2zup: columns (Z, X, Y)
    for k, (K, D) in enumerate([(K1, D1), (K2, D2)]):
        rvec, tvec = extrinsics(k)
        ref, _ = cv2.projectPoints(zup.reshape(-1, 3), rvec, tvec, np.array(K), np.array(D))
        ours = cams[k].project_world(ds.joints_3d_world[:, [1, 4]])  # right_hip, left_hip
        np.testing.assert_allclose(ours.reshape(-1, 2), ref[:, 0], atol=1e-6)
    assert np.allclose(zup, q_trc @ TRC_TO_WORLD.T)
    del names


def test_round_trip(tmp_path):
    R = look_at(CENTERS, np.array([0.0, 0.0, 1.0]))
    opencv = Camera(
        model="opencv",
        intrinsics=[[1000.0, 1010.0, 960.0, 540.0], [800.0, 805.0, 640.0, 360.0], [700.0, 700.0, 320.0, 240.0]],
        distortion=[[-0.1, 0.02, 0.001, -0.002, 0.0], [0.05, -0.01, 0.0, 0.0, 0.003], [0.0] * 5],
        rotation=R,
        center=CENTERS,
        image_size=[[1920, 1080], [1280, 720], [640, 480]],
    )
    names = ["cam_01", "side cam", "top"]
    path = write_calib_toml(opencv, names, tmp_path / "Calib.toml")
    back, back_names = read_calib_toml(path)
    assert back_names == names and back.model.value == "opencv"
    for field in ("intrinsics", "distortion", "image_size"):
        np.testing.assert_array_equal(getattr(back, field), getattr(opencv, field))
    np.testing.assert_allclose(back.rotation, opencv.rotation, atol=1e-14)
    np.testing.assert_allclose(back.center, opencv.center, atol=1e-13)
    text = path.read_text()
    assert "distortions = [ -0.1, 0.02, 0.001, -0.002]\n" in text  # 4 values when k3 = 0
    assert '["side cam"]' in text and text.endswith("[metadata]\nadjusted = false\nerror = 0.0\n")

    fish = Camera(
        model="fisheye",
        intrinsics=[600.0, 600.0, 960.0, 960.0],
        distortion=DF,
        rotation=R[0],
        center=CENTERS[0],
        image_size=[1920, 1920],
    )
    pin = Camera(
        model="pinhole",
        intrinsics=[500.0, 500.0, 320.0, 240.0],
        distortion=None,
        rotation=R[1],
        center=CENTERS[1],
        image_size=[640, 480],
    )
    path2 = write_calib_toml([fish, pin], ["f", "p"], tmp_path / "Calib2.toml", units="mm")
    back2, _ = read_calib_toml(path2, units="mm")
    assert [c.model.value for c in back2] == ["fisheye", "opencv"]
    np.testing.assert_array_equal(back2[0].distortion, DF)
    np.testing.assert_array_equal(back2[1].distortion, np.zeros(5))
    np.testing.assert_allclose(back2[1].center, CENTERS[1], atol=1e-12)
    with pytest.raises(ValueError, match="already exists"):
        write_calib_toml([fish, pin], ["f", "p"], path2)


# ------------------------------------------------------------------------------ bad input


def corrupt(tmp_path: Path, old: str, new: str) -> Path:
    p = pose2sim_file(tmp_path)
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new, 1))
    return p


def test_invalid_toml_names_the_file(tmp_path):
    p = corrupt(tmp_path, "[cam_02]", "[cam_02")
    with pytest.raises(ValueError, match=r"Calib_board\.toml: not valid TOML"):
        read_calib_toml(p)


def test_missing_field_names_table_and_field(tmp_path):
    p = corrupt(tmp_path, "matrix = ", "matrixx = ")
    with pytest.raises(ValueError, match=r"Calib_board\.toml: \[cam_01\]: missing field\(s\) \['matrix'\]"):
        read_calib_toml(p)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("rotation = [", "rotation = [ 0.1,", r"\[cam_01\] rotation: expected shape \(3,\)"),
        ("distortions = [", "distortions = [ 0.0, 0.0,", r"\[cam_01\] distortions: expected 4 or 5"),
        ("[ 0.0, 1398.1", "[ 0.5, 1398.1", r"\[cam_01\] matrix: .*no skew"),
        ("size = [ 1920.0", "size = [ 1920.5", r"\[cam_01\] size"),
        ("translation = [", "translation = [ nan, ", r"\[cam_01\] translation"),
        ("fisheye = false", 'fisheye = "no"', r"\[cam_01\] fisheye"),
        ('name = "cam_02"', 'name = "cam_01"', r"\[cam_02\] name: 'cam_01' is used"),
    ],
)
def test_bad_fields(tmp_path, old, new, message):
    with pytest.raises(ValueError, match=message):
        read_calib_toml(corrupt(tmp_path, old, new))


def test_fisheye_needs_four_coefficients(tmp_path):
    text = pose2sim_table("c", "c", (640, 480), K2, D1 + [0.1], *extrinsics(0), True)
    (tmp_path / "f.toml").write_text(text)
    with pytest.raises(ValueError, match="expected 4 values k1..k4"):
        read_calib_toml(tmp_path / "f.toml")


def test_no_camera(tmp_path):
    (tmp_path / "m.toml").write_text(METADATA)
    with pytest.raises(ValueError, match="no camera table"):
        read_calib_toml(tmp_path / "m.toml")


def test_writer_refuses_what_it_cannot_write(tmp_path):
    from posesynth.geometry.camera import h36m_subject_cameras

    with pytest.raises(ValueError, match="h36m model"):
        write_calib_toml(h36m_subject_cameras("S1"), ["a", "b", "c", "d"], tmp_path / "x.toml")
    cams, _ = read_calib_toml(pose2sim_file(tmp_path))
    with pytest.raises(ValueError, match="expected 2 names"):
        write_calib_toml(cams, ["a"], tmp_path / "x.toml")
    with pytest.raises(ValueError, match="unique"):
        write_calib_toml(cams, ["a", "a"], tmp_path / "x.toml")
    with pytest.raises(ValueError, match="not allowed"):
        write_calib_toml(cams, ["a", "metadata"], tmp_path / "x.toml")
    assert not (tmp_path / "x.toml").exists()
