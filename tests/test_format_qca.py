"""Qualisys ``.qca.txt`` calibration reader: synthetic files from known cameras, read back and
checked by reprojection; the conventions checked against a hand-written camera; bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posesynth.data.formats.qca import SUBPIXELS, read_qca, write_qca
from posesynth.geometry.camera import Camera, look_at

CENTERS = np.array([[1.46, -1.91, 1.90], [2.58, 0.71, 1.69], [-3.22, 2.23, 2.09], [-3.76, -1.42, 1.88]])


def _cameras() -> Camera:
    return Camera(
        model="opencv",
        intrinsics=np.array(
            [
                [1681.2, 1681.1, 533.0, 948.1],
                [1673.7, 1673.8, 534.5, 963.2],
                [1681.6, 1681.5, 513.2, 955.0],
                [1675.2, 1675.2, 540.1, 964.0],
            ]
        ),
        distortion=np.array(
            [
                [-0.046, 0.14, 0.0006, 0.0007, 0.0],
                [-0.048, 0.137, 0.001, 0.0003, 0.0],
                [-0.047, 0.138, -0.0005, -0.0005, 0.0],
                [-0.048, 0.135, 0.0003, 0.0002, 0.01],
            ]
        ),
        rotation=look_at(CENTERS, np.array([0.0, 0.0, 0.9])),
        center=CENTERS,
        image_size=np.array([1088, 1920]),
    )


NAMES = ["cam01", "cam02", "cam03", "cam04"]


def test_round_trip_reprojects_to_subpixel(tmp_path: Path) -> None:
    cams = _cameras()
    path = write_qca(cams, NAMES, tmp_path / "Calib.qca.txt")
    got, names = read_qca(path)
    assert names == NAMES
    assert got.model.value == "opencv"
    np.testing.assert_array_equal(got.image_size, cams.image_size)
    np.testing.assert_allclose(got.center, cams.center, atol=1e-12)
    np.testing.assert_allclose(got.rotation, cams.rotation, atol=1e-12)
    rng = np.random.default_rng(0)
    p_world = rng.uniform([-1.5, -1.0, 0.0], [1.0, 1.0, 2.0], (500, 3))
    uv_ref = cams.project_world(p_world[None])
    uv_got = got.project_world(p_world[None])
    assert np.abs(uv_got - uv_ref).max() < 1e-6  # far below a pixel


def test_conventions_by_hand(tmp_path: Path) -> None:
    """A camera at (0, -3, 1) m, looking along world +Y, level: Qualisys's rows are camera
    x right, y up, z backwards; position in mm; intrinsics in 1/64 px on the sensor."""
    m = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # world -> (right, up, back)
    attrs = " ".join(f'r{i + 1}{j + 1}="{m[i, j]}"' for i in range(3) for j in range(3))
    text = f"""<?xml version='1.0' encoding='ASCII'?>
<calibration><cameras>
  <camera active="1" serial="c1" model="none" viewrotation="0">
    <fov_video left="10" top="20" right="649" bottom="499"/>
    <transform x="0" y="-3000" z="1000" {attrs}/>
    <intrinsic focalLengthU="{800 * 64}" focalLengthV="{810 * 64}" centerPointU="{330 * 64}"
      centerPointV="{260 * 64}" radialDistortion1="0" radialDistortion2="0" radialDistortion3="0"
      tangentalDistortion1="0" tangentalDistortion2="0" skew="0"/>
  </camera>
</cameras></calibration>"""
    path = tmp_path / "one.qca.txt"
    path.write_text(text, encoding="ascii")
    cam, names = read_qca(path)
    assert names == ["c1"] and cam.batch_shape == (1,)
    np.testing.assert_allclose(cam.center[0], [0.0, -3.0, 1.0])
    np.testing.assert_allclose(cam.intrinsics[0], [800.0, 810.0, 320.0, 240.0])  # minus the window origin
    np.testing.assert_array_equal(cam.image_size[0], [640, 480])
    # a point 2 m in front and 0.5 m up appears on the centre column, above the centre row
    uv = cam.project_world(np.array([[[0.0, -1.0, 1.5]]]))[0, 0]
    np.testing.assert_allclose(uv, [320.0, 240.0 - 810.0 * 0.5 / 2.0])
    # a point to the world's +X is to the image's right
    assert cam.project_world(np.array([[[0.3, -1.0, 1.0]]]))[0, 0, 0] > 320.0
    # binning halves the pixels
    half, _ = read_qca(path, binning=2)
    np.testing.assert_allclose(half.intrinsics[0, :2], [400.0, 405.0])
    assert SUBPIXELS == 64.0


def test_distortion_scale(tmp_path: Path) -> None:
    cams = _cameras()
    path = write_qca(cams, NAMES, tmp_path / "c.qca.txt")  # Pose2Sim's convention: / 64
    got, _ = read_qca(path)
    np.testing.assert_allclose(got.distortion, cams.distortion, atol=1e-15)
    raw, _ = read_qca(path, distortion_scale=1.0)
    np.testing.assert_allclose(raw.distortion, cams.distortion * 64.0, atol=1e-12)


def _break(tmp_path: Path, old: str, new: str) -> Path:
    path = write_qca(_cameras(), NAMES, tmp_path / "ok.qca.txt")
    text = path.read_text(encoding="ascii")
    assert old in text
    bad = tmp_path / "bad.qca.txt"
    bad.write_text(text.replace(old, new, 1), encoding="ascii")
    return bad


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("focalLengthU=", "focalLengthX=", r"camera 0 \('cam01'\) <intrinsic> focalLengthU: missing"),
        ('r11="', 'r11="x', r"camera 0 \('cam01'\) <transform> r11: expected a number"),
        ("<intrinsic ", "<nothing ", r"camera 0 \('cam01'\): missing <intrinsic>"),
        ('serial="cam02"', 'serial="cam01"', r"camera 1 \('cam01'\) serial: 'cam01' is used by another camera"),
        ('viewrotation="0"', 'viewrotation="90"', "viewrotation: expected 0"),
        ('skew="0"', 'skew="1.5"', "skew: expected 0"),
        ("<cameras>", "<cams>", "no <cameras>/<camera>"),
    ],
)
def test_broken_files_name_file_and_field(tmp_path: Path, old: str, new: str, match: str) -> None:
    bad = _break(tmp_path, old, new)
    if old == "<cameras>":
        bad.write_text(bad.read_text(encoding="ascii").replace("</cameras>", "</cams>"), encoding="ascii")
    with pytest.raises(ValueError, match=match) as info:
        read_qca(bad)
    assert str(bad) in str(info.value)


def test_not_xml_and_not_a_rotation(tmp_path: Path) -> None:
    bad = tmp_path / "x.qca.txt"
    bad.write_text("not xml at all", encoding="ascii")
    with pytest.raises(ValueError, match="invalid XML"):
        read_qca(bad)
    scaled = _break(tmp_path, 'r11="', 'r11="2')
    with pytest.raises(ValueError, match="expected a rotation matrix"):
        read_qca(scaled)
    with pytest.raises(FileNotFoundError):
        read_qca(tmp_path / "missing.qca.txt")


@pytest.mark.skipif(
    not (Path.home() / ".cache/posesynth/pose2sim-0.10.49/Demo_MultiPerson/calibration/Calib.qca.txt").is_file(),
    reason="Pose2Sim demo not in the cache (run `posesynth benchmark real` once)",
)
def test_real_demo_calibration() -> None:
    """The shipped demo's file: four 1088 x 1920 cameras around a Z-up scene, looking at it."""
    path = Path.home() / ".cache/posesynth/pose2sim-0.10.49/Demo_MultiPerson/calibration/Calib.qca.txt"
    cams, names = read_qca(path)
    assert names == NAMES
    np.testing.assert_array_equal(cams.image_size, [[1088, 1920]] * 4)
    to_scene = np.array([0.0, 0.0, 1.0]) - cams.center
    axis = cams.rotation[:, 2]
    assert (np.einsum("vi,vi->v", axis, to_scene) / np.linalg.norm(to_scene, axis=-1) > 0.95).all()
    assert (-cams.rotation[:, 1, 2] > 0.8).all()  # image up is world up
