"""The seed's ``annot/<split>.h5`` + ``.mat``: fixtures written as the original tools store them.

h5: ``S`` (N, 17, 3) mm camera frame, ``part`` (N, 17, 2) px, ``center`` (N, 2), ``scale``
(N,), ``zind`` (N, 17) uint8, ``imgname`` as fixed-length byte strings (h5py). ``.mat``
(scipy.io.savemat, as MATLAB's ``save``): struct ``annot`` with ``S`` (N, 3, 17), ``K`` an
N x 1 cell of 3 x 3, ``imgname`` an N x 1 cell of extension-less names, ``center``,
``scale`` (N, 1).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from posesynth.body.skeleton import H36M17
from posesynth.data.formats.mmpose import read_mmpose, write_mmpose
from posesynth.data.formats.seed_h5 import read_seed_h5
from posesynth.geometry.camera import CameraModel, h36m_camera_extrinsics, h36m_camera_intrinsics

CAMERA = "55011271"
K_55011271 = np.array(
    [
        [1149.67569986785, 0.0, 508.848621645943],
        [0.0, 1147.59161666764, 508.064917088557],
        [0.0, 0.0, 1.0],
    ]
)


def make_fixture(
    tmp_path: Path,
    n: int = 10,
    subject: str = "S9",
    camera: str = CAMERA,
    imgname=None,
    s_layout: str = "N17x3",
) -> dict:
    rng = np.random.default_rng(7)
    world = rng.normal(0.0, 0.25, (n, 17, 3)) + [0.0, 0.0, 0.9]
    if subject in ("S9", "S11") and camera in ("55011271", "54138969"):
        R, C = h36m_camera_extrinsics(subject, camera)
    else:
        R, C = h36m_camera_extrinsics("S9", CAMERA)
    s_mm = ((world - C) @ R.T) * 1000.0  # camera frame, millimetres
    uvw = s_mm @ K_55011271.T
    part = uvw[..., :2] / uvw[..., 2:]
    center = (part.min(1) + part.max(1)) / 2
    scale = (part.max(1) - part.min(1)).max(1) / 200
    zind = rng.integers(1, 65, (n, 17)).astype(np.uint8)
    names = [f"{subject}_Posing_1.{camera}_{5 * i + 1:06d}" for i in range(n)]
    h5 = tmp_path / "valid.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("S", data=s_mm if s_layout == "N17x3" else np.swapaxes(s_mm, 1, 2))
        f.create_dataset("part", data=part)
        f.create_dataset("center", data=center)
        f.create_dataset("scale", data=scale)
        f.create_dataset("zind", data=zind)
        f.create_dataset(
            "imgname",
            data=np.array([f"{s}.jpg".encode() for s in names]) if imgname is None else imgname,
        )
    mat = tmp_path / "valid.mat"
    cell_k = np.empty((n, 1), dtype=object)
    cell_names = np.empty((n, 1), dtype=object)
    for i in range(n):
        cell_k[i, 0] = K_55011271
        cell_names[i, 0] = names[i]
    annot = {
        "S": np.swapaxes(s_mm, 1, 2),
        "K": cell_k,
        "imgname": cell_names,
        "center": center,
        "scale": scale[:, None],
    }
    scipy.io.savemat(mat, {"annot": annot})
    return {
        "h5": h5,
        "mat": mat,
        "world": world,
        "s_mm": s_mm,
        "part": part,
        "center": center,
        "scale": scale,
        "zind": zind,
        "names": names,
    }


def rewrite_h5(path: Path, **changes) -> None:
    with h5py.File(path, "r") as f:
        data = {k: f[k][()] for k in f}
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    with h5py.File(path, "w") as f:
        for key, value in data.items():
            f.create_dataset(key, data=value)


def rewrite_mat_annot(path: Path, **changes) -> None:
    record = scipy.io.loadmat(path)["annot"][0, 0]
    annot = {name: record[name] for name in record.dtype.names}
    for key, value in changes.items():
        if value is None:
            annot.pop(key)
        else:
            annot[key] = value
    scipy.io.savemat(path, {"annot": annot})


def test_reads_h5_and_mat(tmp_path):
    fx = make_fixture(tmp_path)
    ds = read_seed_h5(fx["h5"], fx["mat"])
    n = len(fx["names"])
    assert ds.skeleton == H36M17 and len(ds) == n
    np.testing.assert_allclose(ds.joints_3d_camera, fx["s_mm"] / 1000.0, rtol=0, atol=1e-15)  # metres
    np.testing.assert_array_equal(ds.joints_2d, fx["part"])
    assert ds.visibility is None
    assert list(ds.subject) == ["S9"] * n and list(ds.action) == ["Posing_1"] * n
    np.testing.assert_array_equal(ds.frame, 5 * np.arange(n))  # 0-based
    assert list(ds.camera_names) == ["S9/55011271"]
    assert ds.cameras.model is CameraModel.PINHOLE
    np.testing.assert_allclose(
        ds.cameras.intrinsics[0],
        [1149.67569986785, 1147.59161666764, 508.848621645943, 508.064917088557],
    )
    np.testing.assert_array_equal(ds.cameras.image_size[0], [1000, 1000])
    np.testing.assert_allclose(ds.joints_3d_world, fx["world"], atol=1e-12)  # preset extrinsics
    np.testing.assert_array_equal(ds.extra["center"], fx["center"])
    np.testing.assert_array_equal(ds.extra["scale"], fx["scale"])
    np.testing.assert_array_equal(ds.extra["zind"], fx["zind"])
    np.testing.assert_array_equal(ds.extra["K"], np.broadcast_to(K_55011271, (n, 3, 3)))
    assert list(ds.extra["imgname"]) == fx["names"]  # the .mat's names are preferred
    # the pinhole K reprojects S onto part (the fixture has no distortion)
    np.testing.assert_allclose(ds.sample_cameras().project_world(ds.joints_3d_world), fx["part"], atol=1e-8)


def test_reads_h5_alone_with_preset_cameras(tmp_path):
    fx = make_fixture(tmp_path)
    ds = read_seed_h5(fx["h5"])
    assert ds.meta["mat_file"] is None and "K" not in ds.extra
    assert list(ds.extra["imgname"]) == [f"{s}.jpg" for s in fx["names"]]
    assert ds.cameras.model is CameraModel.H36M
    intrinsics, distortion, _size = h36m_camera_intrinsics(CAMERA)
    np.testing.assert_array_equal(ds.cameras.intrinsics[0], intrinsics)
    np.testing.assert_array_equal(ds.cameras.distortion[0], distortion)
    np.testing.assert_allclose(ds.joints_3d_world, fx["world"], atol=1e-12)


@pytest.mark.parametrize("style", ["vlen", "column", "codes", "codes_T"])
def test_h5_imgname_encodings(tmp_path, style):
    names = [f"S9_Posing_1.{CAMERA}_{5 * i + 1:06d}.jpg" for i in range(10)]
    if style == "vlen":
        data = np.array(names, dtype=h5py.string_dtype())
    elif style == "column":
        data = np.array([s.encode() for s in names])[:, None]
    else:
        width = max(map(len, names)) + 3
        data = np.zeros((10, width), dtype=np.uint8)
        for i, s in enumerate(names):
            data[i, : len(s)] = np.frombuffer(s.encode(), dtype=np.uint8)
        if style == "codes_T":
            data = data.T.astype(np.uint16)  # MATLAB-written char matrix, read transposed
    fx = make_fixture(tmp_path, imgname=data)
    ds = read_seed_h5(fx["h5"])
    assert list(ds.extra["imgname"]) == names
    np.testing.assert_array_equal(ds.frame, 5 * np.arange(10))


def test_matlab_layout_of_S_in_h5(tmp_path):
    fx = make_fixture(tmp_path, s_layout="N3x17")
    ds = read_seed_h5(fx["h5"], fx["mat"])
    np.testing.assert_allclose(ds.joints_3d_camera, fx["s_mm"] / 1000.0, atol=1e-15)


def test_names_of_unknown_subjects_give_no_cameras(tmp_path):
    fx = make_fixture(tmp_path, subject="S2")
    ds = read_seed_h5(fx["h5"], fx["mat"])
    assert list(ds.subject) == ["S2"] * 10
    assert ds.cameras is None and ds.joints_3d_world is None
    assert ds.extra["K"].shape == (10, 3, 3)


def test_unparseable_names_are_kept_raw(tmp_path):
    fx = make_fixture(tmp_path, imgname=np.array([f"img{i}.jpg".encode() for i in range(10)]))
    ds = read_seed_h5(fx["h5"])
    assert ds.subject is None and ds.frame is None and ds.cameras is None
    assert ds.extra["imgname"][3] == "img3.jpg"
    assert "imgname" in ds.meta["imgname_unparsed"]


def test_through_mmpose_writer(tmp_path):
    fx = make_fixture(tmp_path)
    ds = read_seed_h5(fx["h5"], fx["mat"])
    back = read_mmpose(write_mmpose(ds, tmp_path / "mmpose"))
    np.testing.assert_array_equal(back.joints_3d_camera, ds.joints_3d_camera)
    np.testing.assert_array_equal(back.joints_2d, ds.joints_2d)
    np.testing.assert_array_equal(back.frame, ds.frame)
    np.testing.assert_allclose(back.joints_3d_world, fx["world"], atol=1e-12)


# ------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("key", ["S", "part"])
def test_missing_dataset(tmp_path, key):
    fx = make_fixture(tmp_path)
    rewrite_h5(fx["h5"], **{key: None})
    with pytest.raises(ValueError, match=rf"valid\.h5: missing dataset\(s\) \['{key}'\]"):
        read_seed_h5(fx["h5"])


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("S", np.zeros((10, 16, 3)), r"S: expected shape \(N, 17, 3\) or \(N, 3, 17\)"),
        ("part", np.zeros((10, 17, 4)), r"part: expected shape \(N, 17, 2\)"),
        ("part", np.zeros((9, 17, 2)), r"part: expected 10 samples \(as S\)"),
        ("center", np.zeros((11, 2)), r"center: expected 10 samples"),
        ("scale", np.zeros((10, 3)), r"scale: expected shape"),
        ("zind", np.zeros((10, 16)), r"zind: expected shape \(N, 17\)"),
        ("imgname", np.array([b"a"] * 8), r"imgname: expected 10 samples"),
        ("imgname", np.zeros(10), r"imgname: expected \(N,\) strings"),
    ],
)
def test_wrong_shapes_and_counts(tmp_path, key, value, message):
    fx = make_fixture(tmp_path)
    rewrite_h5(fx["h5"], **{key: value})
    with pytest.raises(ValueError, match=r"valid\.h5: " + message):
        read_seed_h5(fx["h5"])


@pytest.mark.parametrize("key", ["S", "part", "center", "scale"])
def test_nan(tmp_path, key):
    fx = make_fixture(tmp_path)
    with h5py.File(fx["h5"], "r") as f:
        arr = f[key][()].astype(float)
    arr.reshape(-1)[3] = np.nan
    rewrite_h5(fx["h5"], **{key: arr})
    with pytest.raises(ValueError, match=rf"valid\.h5: {key}: expected finite values"):
        read_seed_h5(fx["h5"])


@pytest.mark.parametrize("which", ["h5", "mat"])
def test_truncated_files(tmp_path, which):
    fx = make_fixture(tmp_path)
    path = fx[which]
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=rf"valid\.{which}: "):
        read_seed_h5(fx["h5"], fx["mat"])


def test_missing_files(tmp_path):
    fx = make_fixture(tmp_path)
    with pytest.raises(ValueError, match="nope.h5: no such file"):
        read_seed_h5(tmp_path / "nope.h5")
    with pytest.raises(ValueError, match="nope.mat: no such file"):
        read_seed_h5(fx["h5"], tmp_path / "nope.mat")


def test_mat_disagreeing_with_h5(tmp_path):
    fx = make_fixture(tmp_path)
    s = np.swapaxes(fx["s_mm"], 1, 2).copy()
    s[2, 0, 5] += 3.0
    rewrite_mat_annot(fx["mat"], S=s)
    with pytest.raises(ValueError, match=r"valid\.mat: S: expected the same 3D joints as .*valid\.h5.*3 mm"):
        read_seed_h5(fx["h5"], fx["mat"])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"K": None}, r"missing field K"),
        ({"K": np.zeros((7, 3, 3))}, r"K: expected 10 samples"),
        (
            {"K": np.tile(np.array([[1000.0, 2.0, 500.0], [0, 1000.0, 500.0], [0, 0, 1]]), (10, 1, 1))},
            r"K\[0\]: expected \[\[fx, 0, cx\]",
        ),
        ({"K": np.full((10, 3, 3), np.nan)}, r"K: expected finite values"),
        ({"S": np.zeros((9, 3, 17))}, r"S: expected 10 samples"),
        ({"scale": np.zeros((12, 1))}, r"scale: expected 10 samples"),
        (
            {"imgname": np.array(["S9_Posing_1.55011271_000001"] * 4, dtype=object)[:, None]},
            r"imgname: expected 10 samples",
        ),
    ],
)
def test_bad_mat(tmp_path, changes, message):
    fx = make_fixture(tmp_path)
    rewrite_mat_annot(fx["mat"], **changes)
    with pytest.raises(ValueError, match=r"valid\.mat: " + message):
        read_seed_h5(fx["h5"], fx["mat"])


def test_mat_with_top_level_variables_and_stacked_k(tmp_path):
    fx = make_fixture(tmp_path)
    k = np.repeat(K_55011271[:, :, None], 10, axis=2)  # MATLAB's 3 x 3 x N
    scipy.io.savemat(fx["mat"], {"K": k, "imgname": np.array(fx["names"])})
    ds = read_seed_h5(fx["h5"], fx["mat"])
    np.testing.assert_array_equal(ds.extra["K"][4], K_55011271)
    assert list(ds.extra["imgname"]) == fx["names"]


def test_distinct_k_for_one_camera_gives_distinct_cameras(tmp_path):
    fx = make_fixture(tmp_path)
    k = np.broadcast_to(K_55011271, (10, 3, 3)).copy()
    k[5:, 0, 0] += 10.0
    rewrite_mat_annot(fx["mat"], K=k)
    ds = read_seed_h5(fx["h5"], fx["mat"])
    assert list(ds.camera_names) == ["S9/55011271", "S9/55011271#1"]
    np.testing.assert_array_equal(ds.camera_index, [0] * 5 + [1] * 5)
    np.testing.assert_allclose(ds.cameras.intrinsics[:, 0], [K_55011271[0, 0], K_55011271[0, 0] + 10])
    back = read_mmpose(write_mmpose(ds, tmp_path / "mm"))
    assert list(back.camera_names) == ["S9/55011271", "S9/55011271-1"]
    np.testing.assert_allclose(back.cameras.intrinsics, ds.cameras.intrinsics)
