"""MMPose Human3.6M annotations: fixtures written the way MMPose's own tool writes them.

The fixture transcribes, independently of posesynth, MMPose's ``preprocess_h36m.py``
(camera dict from the metadata angles, ``imgname``, ``center``/``scale``), MMPose's
``SimpleCamera.world_to_camera`` (row vectors: ``X @ R + (-T.T @ R)``), and Human3.6M's
projection formula of CONVENTIONS.md (``ProjectPointRadial``).
"""

from __future__ import annotations

import os
import pickle
import pickletools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from posesynth.body.skeleton import H36M17, H36M_EXTENDED
from posesynth.data.dataset import PoseDataset
from posesynth.data.formats import mmpose
from posesynth.data.formats.mmpose import (
    STATS_FILES,
    format_h36m_imgname,
    parse_h36m_imgname,
    read_mmpose,
    write_mmpose,
)
from posesynth.data.formats.numpy_pickle import dumps_numpy_pickle, load_numpy_pickle
from posesynth.geometry.camera import (
    Camera,
    CameraModel,
    h36m_camera_extrinsics,
    h36m_subject_cameras,
    project,
)

# Human3.6M metadata for subject S1: rotation angles (rad), centre (mm); intrinsics
# f, c (px), k = (k1, k2, k3), p = (p1, p2); image width, height.
METADATA = {
    "54138969": (
        (-1.38382776045614, -3.16734304390158, 0.413636308164621),
        (1841.10702774543, 4955.28462344526, 1563.4453958977),
        (1145.04940458804, 1143.78109572365),
        (512.541504956548, 515.4514869776),
        (-0.207098910824901, 0.247775183068982, -0.00307515035078854),
        (-0.00142447157470321, -0.000975698859470499),
        (1000, 1002),
    ),
    "55011271": (
        (-1.35517119070383, 3.13934427144743, 2.76026318023792),
        (1761.27853428116, -5078.00659454077, 1606.2649598335),
        (1149.67569986785, 1147.59161666764),
        (508.848621645943, 508.064917088557),
        (-0.194213629607385, 0.240408539138292, 0.00681997559022603),
        (-0.0027408943961907, -0.001619026613787),
        (1000, 1000),
    ),
}


def mmpose_camera_entry(camera_id: str, index: int) -> dict:
    """``PreprocessH36m._get_camera_params`` transcribed: R is camera->world, T metres (3, 1)."""
    (a, b, c), centre_mm, f, cc, k, p, (w, h) = METADATA[camera_id]
    x, y, z = -a, b, -c
    r_x = np.array([[1, 0, 0], [0, np.cos(x), np.sin(x)], [0, -np.sin(x), np.cos(x)]])
    r_y = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    r_z = np.array([[np.cos(z), np.sin(z), 0], [-np.sin(z), np.cos(z), 0], [0, 0, 1]])
    T = np.array(centre_mm).reshape(-1, 1)
    T = T * 0.001
    return {
        "R": (r_x @ r_y @ r_z).T,
        "T": T,
        "c": np.array(cc)[:, None],
        "f": np.array(f)[:, None],
        "k": np.array(k)[:, None],
        "p": np.array(p)[:, None],
        "w": w,
        "h": h,
        "name": f"camera{index + 1}",
        "id": camera_id,
    }


def world_to_camera_rows(x_world: np.ndarray, entry: dict) -> np.ndarray:
    """MMPose's SimpleCamera.world_to_camera: row vectors, ``X @ R_w2c + T_w2c``."""
    R, T = entry["R"], entry["T"]
    return x_world @ R + (-T.T @ R)


def h36m_projection(x_cam: np.ndarray, f, c, k, p) -> np.ndarray:
    """Human3.6M's radial + tangential projection (CONVENTIONS.md), camera frame -> pixels."""
    k1, k2, k3 = np.ravel(k)
    p1, p2 = np.ravel(p)
    x = x_cam[..., 0] / x_cam[..., 2]
    y = x_cam[..., 1] / x_cam[..., 2]
    r2 = x**2 + y**2
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    tan = p1 * y + p2 * x
    u = np.ravel(f)[0] * (x * (radial + tan) + p2 * r2) + np.ravel(c)[0]
    v = np.ravel(f)[1] * (y * (radial + tan) + p1 * r2) + np.ravel(c)[1]
    return np.stack([u, v], axis=-1)


def world_poses(n: int, seed: int = 0) -> np.ndarray:
    """(n, 17, 3) world metres: a person-sized cloud near the capture area's centre, Z up."""
    rng = np.random.default_rng(seed)
    pts = rng.normal(0.0, 0.25, (n, 17, 3)) + rng.normal(0.0, 0.4, (n, 1, 3))
    pts[..., 2] += 0.9
    return pts


def write_tool_fixture(root: Path, n: int = 12, imgname_style: str = "str") -> dict:
    """MMPose's layout: root/annotation_body3d/{cameras.pkl, fps50/h36m_train.npz}."""
    cams = {("S1", cid): mmpose_camera_entry(cid, i) for i, cid in enumerate(METADATA)}
    world = world_poses(n)
    ids = ["54138969" if i % 3 else "55011271" for i in range(n)]
    s_cam = np.stack([world_to_camera_rows(world[i], cams[("S1", ids[i])]) for i in range(n)])
    part2d = np.stack([h36m_projection(s_cam[i], *(cams[("S1", ids[i])][key] for key in "fckp")) for i in range(n)])
    part = np.concatenate([part2d, np.ones((n, 17, 1))], axis=2)
    S = np.concatenate([s_cam, np.ones((n, 17, 1))], axis=2)
    bboxes = np.stack([part[:, :, 0].min(1), part[:, :, 1].min(1), part[:, :, 0].max(1), part[:, :, 1].max(1)], 1)
    centers = np.stack([(bboxes[:, 0] + bboxes[:, 2]) / 2, (bboxes[:, 1] + bboxes[:, 3]) / 2], 1)
    scales = 1.2 * np.max(bboxes[:, 2:] - bboxes[:, :2], axis=1) / 200
    names = []
    for i, cid in enumerate(ids):
        sub_base = "S1_" + f"Directions 1.{cid}".replace(" ", "_")
        names.append(f"S1/{sub_base}/{sub_base}_{i + 1:06d}.jpg")
    imgname = np.array(names)
    if imgname_style == "bytes":
        imgname = np.array([s.encode() for s in names])
    elif imgname_style == "column":
        imgname = imgname[:, None]
    ann = root / "annotation_body3d"
    (ann / "fps50").mkdir(parents=True)
    with open(ann / "cameras.pkl", "wb") as fh:
        pickle.dump(cams, fh)
    npz = ann / "fps50" / "h36m_train.npz"
    np.savez(npz, imgname=imgname, center=centers, scale=scales, part=part, S=S)
    return {
        "npz": npz,
        "cams": cams,
        "world": world,
        "S": S,
        "part": part,
        "ids": ids,
        "center": centers,
        "scale": scales,
        "names": names,
    }


def resave(npz: Path, **changes) -> None:
    data = dict(np.load(npz))
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    np.savez(npz, **data)


def mpjpe_mm(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b, axis=-1).mean() * 1000.0)


# ----------------------------------------------------------------------------- reading
@pytest.mark.parametrize("style", ["str", "bytes", "column"])
def test_reads_mmpose_tool_layout(tmp_path, style):
    fx = write_tool_fixture(tmp_path, imgname_style=style)
    ds = read_mmpose(fx["npz"])  # cameras.pkl found one folder up
    n = len(fx["ids"])
    assert len(ds) == n and ds.skeleton == H36M17
    np.testing.assert_array_equal(ds.joints_3d_camera, fx["S"][..., :3])
    np.testing.assert_array_equal(ds.joints_2d, fx["part"][..., :2])
    np.testing.assert_array_equal(ds.visibility, np.ones((n, 17)))
    np.testing.assert_array_equal(ds.extra["center"], fx["center"])
    np.testing.assert_array_equal(ds.extra["scale"], fx["scale"])
    assert "visibility_3d" not in ds.extra
    assert list(ds.subject) == ["S1"] * n
    assert list(ds.action) == ["Directions_1"] * n
    np.testing.assert_array_equal(ds.frame, np.arange(n))  # 0-based
    assert list(ds.camera_names) == ["S1/54138969", "S1/55011271"]
    assert [ds.camera_names[k].split("/")[1] for k in ds.camera_index] == fx["ids"]
    assert ds.cameras.model is CameraModel.H36M
    np.testing.assert_array_equal(ds.cameras.image_size, [[1000, 1002], [1000, 1000]])
    # the world frame is Human3.6M's again: MPJPE 0 against the poses the fixture started from
    assert mpjpe_mm(ds.joints_3d_world, fx["world"]) < 1e-9
    assert ds.meta["cameras_file"].endswith(os.path.join("annotation_body3d", "cameras.pkl"))


def test_cameras_pkl_transpose_is_undone(tmp_path):
    """Reader's world->camera R equals the presets' (metadata angles, R = Rx Ry Rz)."""
    fx = write_tool_fixture(tmp_path)
    ds = read_mmpose(fx["npz"])
    for k, cid in enumerate(["54138969", "55011271"]):
        R, C = h36m_camera_extrinsics("S1", cid)
        np.testing.assert_allclose(ds.cameras.rotation[k], R, atol=1e-12)
        np.testing.assert_allclose(ds.cameras.center[k], C, atol=1e-12)


def test_h36m_projection_of_S_reproduces_part(tmp_path):
    fx = write_tool_fixture(tmp_path)
    ds = read_mmpose(fx["npz"])
    cams = ds.sample_cameras()
    uv = project(cams.model, ds.joints_3d_camera, cams.intrinsics, cams.distortion)
    np.testing.assert_allclose(uv, fx["part"][..., :2], atol=1e-9)
    np.testing.assert_allclose(cams.project_world(ds.joints_3d_world), fx["part"][..., :2], atol=1e-8)
    # OpenCV's tangential term is a different model: it misses part by a visible amount
    uv_cv = project("opencv", ds.joints_3d_camera, cams.intrinsics, cams.distortion)
    assert np.abs(uv_cv - fx["part"][..., :2]).max() > 1e-3


def test_without_camera_file_there_are_no_cameras(tmp_path):
    fx = write_tool_fixture(tmp_path)
    (fx["npz"].parent.parent / "cameras.pkl").unlink()
    ds = read_mmpose(fx["npz"])
    assert ds.cameras is None and ds.joints_3d_world is None
    assert list(ds.extra["camera_id"]) == fx["ids"]
    np.testing.assert_array_equal(ds.joints_3d_camera, fx["S"][..., :3])


def test_explicit_camera_path_and_3d_visibility(tmp_path):
    fx = write_tool_fixture(tmp_path)
    moved = tmp_path / "elsewhere.pkl"
    (fx["npz"].parent.parent / "cameras.pkl").rename(moved)
    S = fx["S"].copy()
    S[0, 3, 3] = 0.0
    resave(fx["npz"], S=S)
    ds = read_mmpose(fx["npz"], cameras_path=moved)
    assert ds.cameras is not None
    assert ds.extra["visibility_3d"][0, 3] == 0.0 and ds.visibility[0, 3] == 1.0
    with pytest.raises(ValueError, match="missing.pkl"):
        read_mmpose(fx["npz"], cameras_path=tmp_path / "missing.pkl")


# ---------------------------------------------------------------------------- imgname
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg",
            ("S1", "Directions_1", "54138969", 0),
        ),
        ("S11_WalkDog_1.60457274_001234.jpg", ("S11", "WalkDog_1", "60457274", 1233)),
        ("S9_Posing_1.55011271_000006", ("S9", "Posing_1", "55011271", 5)),
        ("S5_Directions.58860488_000010.png", ("S5", "Directions", "58860488", 9)),
        ("images\\S7_Eating_2.54138969_000003.jpg", ("S7", "Eating_2", "54138969", 2)),
    ],
)
def test_parse_imgname(name, expected):
    assert parse_h36m_imgname(name) == expected
    subject, action, camera, frame = expected
    assert parse_h36m_imgname(format_h36m_imgname(subject, action, camera, frame)) == expected


@pytest.mark.parametrize(
    "name",
    [
        "S1Directions.54138969_000001.jpg",
        "S1_Directions_1_54138969_000001.jpg",
        "S1_Directions_1.54138969_000000.jpg",
        "S1_Directions_1.54138969.jpg",
        "",
    ],
)
def test_parse_imgname_rejects(name):
    with pytest.raises(ValueError, match="imgname"):
        parse_h36m_imgname(name)


def test_format_imgname():
    assert format_h36m_imgname("S1", "Directions_1", "54138969", 0) == (
        "S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg"
    )
    for bad in (
        ("S_1", "A", "1", 0),
        ("S1", "A.b", "1", 0),
        ("S1", "A", "1_2", 0),
        ("S1", "A", "1", -1),
    ):
        with pytest.raises(ValueError, match="imgname"):
            format_h36m_imgname(*bad)


def test_unparseable_imgname_names_file_and_index(tmp_path):
    fx = write_tool_fixture(tmp_path)
    names = np.array(fx["names"])
    names[4] = "S1/frame4.jpg"
    resave(fx["npz"], imgname=names)
    with pytest.raises(ValueError, match=r"h36m_train\.npz: imgname\[4\]"):
        read_mmpose(fx["npz"])


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("key", ["imgname", "S", "part"])
def test_missing_key(tmp_path, key):
    fx = write_tool_fixture(tmp_path)
    resave(fx["npz"], **{key: None})
    with pytest.raises(ValueError, match=rf"h36m_train\.npz: missing key\(s\) \['{key}'\]"):
        read_mmpose(fx["npz"])


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "S",
            np.zeros((12, 16, 4)),
            r"S: expected shape \(N, 17, 3\) or \(N, 17, 4\), got \(12, 16, 4\)",
        ),
        ("part", np.zeros((12, 17)), r"part: expected shape"),
        ("center", np.zeros((12, 3)), r"center: expected shape \(N, 2\)"),
        ("scale", np.zeros((12, 2)), r"scale: expected shape"),
        ("S", np.zeros((11, 17, 4)), r"S: expected 12 samples \(as imgname\), got 11"),
        ("center", np.zeros((13, 2)), r"center: expected 12 samples"),
        ("part", np.full((12, 17, 3), "x"), r"part: expected a numeric array"),
    ],
)
def test_wrong_shapes_and_counts(tmp_path, key, value, message):
    fx = write_tool_fixture(tmp_path)
    resave(fx["npz"], **{key: value})
    with pytest.raises(ValueError, match=r"h36m_train\.npz: " + message):
        read_mmpose(fx["npz"])


@pytest.mark.parametrize("key", ["S", "part", "center", "scale"])
def test_nan(tmp_path, key):
    fx = write_tool_fixture(tmp_path)
    arr = np.array(np.load(fx["npz"])[key], dtype=float)
    arr.reshape(-1)[5] = np.nan
    resave(fx["npz"], **{key: arr})
    with pytest.raises(ValueError, match=rf"h36m_train\.npz: {key}: expected finite values"):
        read_mmpose(fx["npz"])


def test_object_array_refused(tmp_path):
    fx = write_tool_fixture(tmp_path)
    data = dict(np.load(fx["npz"]))
    data["imgname"] = np.array(fx["names"], dtype=object)
    np.savez(fx["npz"], **data)
    with pytest.raises(ValueError, match=r"h36m_train\.npz: imgname: cannot read"):
        read_mmpose(fx["npz"])


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_truncated_npz(tmp_path, keep):
    fx = write_tool_fixture(tmp_path)
    raw = fx["npz"].read_bytes()
    fx["npz"].write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(ValueError, match=r"h36m_train\.npz"):
        read_mmpose(fx["npz"])


def test_not_a_file(tmp_path):
    with pytest.raises(ValueError, match="nothing.npz: no such file"):
        read_mmpose(tmp_path / "nothing.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="text.npz: not a readable .npz"):
        read_mmpose(tmp_path / "text.npz")


def test_truncated_cameras_pkl(tmp_path):
    fx = write_tool_fixture(tmp_path)
    pkl = fx["npz"].parent.parent / "cameras.pkl"
    raw = pkl.read_bytes()
    pkl.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"cameras\.pkl: not a valid pickle"):
        read_mmpose(fx["npz"])


def test_unknown_camera(tmp_path):
    fx = write_tool_fixture(tmp_path)
    pkl = fx["npz"].parent.parent / "cameras.pkl"
    cams = dict(fx["cams"])
    del cams[("S1", "55011271")]
    pkl.write_bytes(pickle.dumps(cams))
    with pytest.raises(ValueError, match=r"cameras\.pkl: no camera \('S1', '55011271'\).*sample 0"):
        read_mmpose(fx["npz"])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("f", None, r"missing field\(s\) \['f'\]"),
        ("T", np.zeros((4, 1)), r"T: expected shape \(3, 1\)"),
        ("R", np.eye(3) * 2.0, r"rotation: expected orthonormal"),
        ("k", np.zeros((6, 1)), r"rational model"),
        ("h", 1002.5, r"h: expected an integer image size"),
        ("c", np.array([[np.nan], [1.0]]), r"c: expected finite values"),
    ],
)
def test_bad_camera_entry(tmp_path, field, value, message):
    fx = write_tool_fixture(tmp_path)
    pkl = fx["npz"].parent.parent / "cameras.pkl"
    cams = {k: dict(v) for k, v in fx["cams"].items()}
    if value is None:
        del cams[("S1", "54138969")][field]
    else:
        cams[("S1", "54138969")][field] = value
    pkl.write_bytes(pickle.dumps(cams))
    with pytest.raises(ValueError, match=r"cameras\.pkl: camera \('S1', '54138969'\).*" + message):
        read_mmpose(fx["npz"])


class _Exploit:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_malicious_pickle_is_refused(tmp_path):
    fx = write_tool_fixture(tmp_path)
    pkl = fx["npz"].parent.parent / "cameras.pkl"
    marker = tmp_path / "pwned"
    cams = dict(fx["cams"])
    cams[("S1", "54138969")] = dict(cams[("S1", "54138969")], name=_Exploit(marker))
    pkl.write_bytes(pickle.dumps(cams))
    with pytest.raises(ValueError, match=r"cameras\.pkl: refusing to unpickle the global (posix|nt|os)\.system"):
        read_mmpose(fx["npz"])
    assert not marker.exists()


def test_pickle_naming_a_class_is_refused(tmp_path):
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"a": _Exploit(tmp_path)}, protocol=2))
    with pytest.raises(ValueError, match=r"x\.pkl: refusing to unpickle the global"):
        load_numpy_pickle(path)
    path.write_bytes(b"cbuiltins\neval\n(S'1+1'\ntR.")
    with pytest.raises(ValueError, match=r"builtins\.eval"):
        load_numpy_pickle(path)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_numpy_pickles_of_any_protocol_load(tmp_path, protocol):
    obj = {
        ("S1", "1"): {
            "R": np.eye(3),
            "k": np.arange(3.0)[:, None],
            "w": np.int64(1000),
            "x": np.float32(2.5),
        }
    }
    path = tmp_path / "c.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    got = load_numpy_pickle(path)
    np.testing.assert_array_equal(got[("S1", "1")]["k"], obj[("S1", "1")]["k"])
    assert got[("S1", "1")]["w"] == 1000 and got[("S1", "1")]["x"] == np.float32(2.5)


def test_written_pickles_use_numpy1_names():
    obj = {"m": np.ones((2, 1)), "s": np.float64(3.0)}
    raw = dumps_numpy_pickle(obj)
    globals_ = [arg for op, arg, _ in pickletools.genops(raw) if op.name == "GLOBAL"]
    assert globals_ and not any("numpy._core" in g for g in globals_)
    assert "numpy.core.multiarray _reconstruct" in globals_
    back = pickle.loads(raw)
    np.testing.assert_array_equal(back["m"], obj["m"])
    assert back["s"] == 3.0


# ----------------------------------------------------------------------------- writing
def preset_dataset(n: int = 16, seed: int = 3, **fields) -> PoseDataset:
    rng = np.random.default_rng(seed)
    vis = np.ones((n, 17))
    vis[1, [2, 5]] = 0.0
    base = dict(
        skeleton=H36M17,
        joints_3d_world=world_poses(n, seed),
        visibility=vis,
        cameras=h36m_subject_cameras("S5"),
        camera_index=rng.integers(0, 4, n),
        camera_names=np.array(["S5/54138969", "S5/55011271", "S5/58860488", "S5/60457274"]),
        subject=np.array(["S5"] * n),
        action=np.array(["Walking 1" if i % 2 else "Eating_2" for i in range(n)]),
        frame=np.arange(n) * 5,
    )
    base.update(fields)
    return PoseDataset(**base).complete()


def test_round_trip_preserves_arrays(tmp_path):
    ds = preset_dataset()
    out = write_mmpose(ds, tmp_path / "export")
    assert out == tmp_path / "export" / "h36m_train.npz"
    back = read_mmpose(out)
    assert mpjpe_mm(back.joints_3d_camera, ds.joints_3d_camera) == 0.0
    assert mpjpe_mm(back.joints_3d_world, ds.joints_3d_world) < 1e-9
    np.testing.assert_array_equal(back.joints_2d, ds.joints_2d)
    np.testing.assert_array_equal(back.visibility, ds.visibility)
    np.testing.assert_array_equal(back.frame, ds.frame)
    assert list(back.subject) == list(ds.subject)
    assert list(back.action) == ["Walking_1" if i % 2 else "Eating_2" for i in range(len(ds))]
    used = sorted(set(ds.camera_names[ds.camera_index].tolist()))
    assert list(back.camera_names) == used
    for k, name in enumerate(back.camera_names):
        src = list(ds.camera_names).index(name)
        for field in ("intrinsics", "distortion", "rotation", "center", "image_size"):
            np.testing.assert_allclose(getattr(back.cameras, field)[k], getattr(ds.cameras, field)[src], atol=1e-15)
    np.testing.assert_array_equal(back.camera_names[back.camera_index], ds.camera_names[ds.camera_index])
    # center/scale: bounding box of the visible joints, 1.2 x longest side / 200
    uv = ds.joints_2d[1][ds.visibility[1] > 0]
    np.testing.assert_allclose(back.extra["center"][1], (uv.min(0) + uv.max(0)) / 2)
    np.testing.assert_allclose(back.extra["scale"][1], 1.2 * (uv.max(0) - uv.min(0)).max() / 200)


def test_written_files_are_what_mmpose_loads(tmp_path):
    ds = preset_dataset()
    out = write_mmpose(ds, tmp_path / "export", name="h36m_test.npz")
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == sorted(["h36m_test.npz", "cameras.pkl", *STATS_FILES])
    with np.load(out, allow_pickle=False) as npz:  # MMPose: np.load without pickles
        assert sorted(npz.files) == ["S", "center", "imgname", "part", "scale"]
        assert npz["imgname"].dtype.kind == "U"
        assert npz["S"].shape == (16, 17, 4) and npz["part"].shape == (16, 17, 3)
        assert npz["center"].shape == (16, 2) and npz["scale"].shape == (16,)
        imgname = npz["imgname"]
        S, part = npz["S"], npz["part"]
    # MMPose's Human36mDataset._parse_h36m_imgname
    subj, rest = os.path.basename(imgname[0]).split("_", 1)
    _action, rest = rest.split(".", 1)
    camera, rest = rest.split("_", 1)
    cams = pickle.loads((out.parent / "cameras.pkl").read_bytes())  # mmengine.load = pickle.load
    entry = cams[(subj, camera)]
    assert entry["R"].shape == (3, 3) and entry["T"].shape == (3, 1)
    assert entry["f"].shape == entry["c"].shape == entry["p"].shape == (2, 1) and entry["k"].shape == (3, 1)
    assert isinstance(entry["w"], int) and isinstance(entry["h"], int) and entry["id"] == camera
    # S through cameras.pkl with Human3.6M's model reproduces part; world via MMPose's rows form
    np.testing.assert_allclose(
        h36m_projection(S[0, :, :3], entry["f"], entry["c"], entry["k"], entry["p"]),
        part[0, :, :2],
        atol=1e-8,
    )
    np.testing.assert_allclose(world_to_camera_rows(ds.joints_3d_world[0], entry), S[0, :, :3], atol=1e-12)
    # statistics as preprocess_h36m.py computes them; shapes the ImagePoseLifting codec asserts
    stats = {name: pickle.loads((out.parent / name).read_bytes()) for name in STATS_FILES}
    kp2d = ds.joints_2d
    rel3d = ds.joints_3d_camera[:, 1:] - ds.joints_3d_camera[:, :1]
    assert stats["joint2d_stats.pkl"]["mean"].shape == (17, 2)
    assert stats["joint3d_rel_stats.pkl"]["mean"].shape == (16, 3)
    assert stats["joint3d_stats.pkl"]["std"].shape == (17, 3)
    assert stats["joint2d_rel_stats.pkl"]["std"].shape == (16, 2)
    np.testing.assert_allclose(stats["joint2d_stats.pkl"]["mean"], kp2d.mean(0))
    np.testing.assert_allclose(stats["joint2d_stats.pkl"]["std"], kp2d.std(0))
    np.testing.assert_allclose(stats["joint3d_rel_stats.pkl"]["mean"], rel3d.mean(0))
    np.testing.assert_allclose(stats["joint3d_rel_stats.pkl"]["std"], rel3d.std(0))


def test_written_imgnames_are_synthesised_when_missing(tmp_path):
    world = world_poses(6)
    cams = h36m_subject_cameras("S1")[np.array([0, 2])]
    ds = PoseDataset(
        skeleton=H36M17,
        joints_3d_world=world,
        cameras=cams,
        camera_index=np.array([0, 1, 0, 0, 1, 1]),
    ).complete()
    out = write_mmpose(ds, tmp_path / "x")
    names = np.load(out)["imgname"].tolist()
    assert names[:3] == [
        "S0/S0_posesynth.cam0/S0_posesynth.cam0_000001.jpg",
        "S0/S0_posesynth.cam1/S0_posesynth.cam1_000001.jpg",
        "S0/S0_posesynth.cam0/S0_posesynth.cam0_000002.jpg",
    ]
    back = read_mmpose(out)
    np.testing.assert_array_equal(back.frame, [0, 0, 1, 2, 1, 2])
    assert list(back.camera_names) == ["S0/cam0", "S0/cam1"]
    assert mpjpe_mm(back.joints_3d_world, world) < 1e-9


def test_extended_skeleton_writes_its_first_17_joints(tmp_path):
    rng = np.random.default_rng(1)
    world = rng.normal(0, 0.3, (4, H36M_EXTENDED.num_joints, 3)) + [0, 0, 1.0]
    ds = PoseDataset(
        skeleton=H36M_EXTENDED,
        joints_3d_world=world,
        cameras=h36m_subject_cameras("S1"),
        camera_index=np.array([0, 1, 2, 3]),
    ).complete()
    back = read_mmpose(write_mmpose(ds, tmp_path / "x"))
    np.testing.assert_allclose(back.joints_3d_world, world[:, :17], atol=1e-12)


def test_pinhole_and_radial_opencv_cameras_are_written(tmp_path):
    base = h36m_subject_cameras("S1")[np.array([0])]
    for model, dist in (("pinhole", None), ("opencv", [0.1, -0.05, 0.0, 0.0, 0.01])):
        cam = Camera(model, base.intrinsics, dist, base.rotation, base.center, base.image_size)
        ds = PoseDataset(
            skeleton=H36M17,
            joints_3d_world=world_poses(3),
            cameras=cam,
            camera_index=np.zeros(3, dtype=int),
        ).complete()
        back = read_mmpose(write_mmpose(ds, tmp_path / model))
        np.testing.assert_allclose(back.joints_2d, ds.joints_2d)
        cams = back.sample_cameras()
        np.testing.assert_allclose(cams.project_world(back.joints_3d_world), ds.joints_2d, atol=1e-8)


@pytest.mark.parametrize(
    ("model", "dist"),
    [
        ("opencv", [0.1, -0.05, 0.001, -0.002, 0.01]),
        ("opencv", [0.1, -0.05, 0.0, 0.0, 0.01]),
        ("fisheye", [0.03, -0.01, 0.004, -0.001]),
    ],
)
def test_opencv_and_fisheye_round_trip_exactly_through_the_sidecar(tmp_path, model, dist):
    base = h36m_subject_cameras("S1")[np.array([0, 1])]
    cam = Camera(model, base.intrinsics, np.array([dist, dist]), base.rotation, base.center, base.image_size)
    ds = PoseDataset(
        skeleton=H36M17,
        joints_3d_world=world_poses(4),
        cameras=cam,
        camera_index=np.array([0, 1, 1, 0]),
    ).complete()
    out = write_mmpose(ds, tmp_path / "x")
    # part is the true projection: cv2's own model of each camera, independently of posesynth
    cv2 = pytest.importorskip("cv2")
    part = np.load(out)["part"][..., :2]
    for i, k in enumerate([0, 1, 1, 0]):
        rvec = cv2.Rodrigues(cam.rotation[k])[0]
        tvec = -cam.rotation[k] @ cam.center[k]
        fx, fy, cx, cy = cam.intrinsics[k]
        K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
        pts = ds.joints_3d_world[i].reshape(-1, 1, 3)
        if model == "fisheye":
            uv = cv2.fisheye.projectPoints(pts, rvec, tvec, K, np.array(dist))[0]
        else:
            uv = cv2.projectPoints(pts, rvec, tvec, K, np.array(dist))[0]
        np.testing.assert_allclose(part[i], uv.reshape(-1, 2), atol=1e-6)
    # cameras.pkl holds the exact pose and intrinsics, as MMPose reads them
    pkl = load_numpy_pickle(out.parent / "cameras.pkl")
    entry = pkl[("S0", "cam1")]
    np.testing.assert_array_equal(entry["R"].T, cam.rotation[1])
    np.testing.assert_array_equal(entry["T"].ravel(), cam.center[1])
    np.testing.assert_array_equal(entry["f"].ravel(), cam.intrinsics[1, :2])
    assert (out.parent / mmpose.SIDECAR_FILE).is_file()
    back = read_mmpose(out)
    got = back.sample_cameras()
    assert got.model.value == model
    for field in ("intrinsics", "distortion", "rotation", "center", "image_size"):
        np.testing.assert_array_equal(getattr(got, field), getattr(ds.sample_cameras(), field))
    np.testing.assert_allclose(back.joints_2d, ds.joints_2d, atol=0)
    np.testing.assert_allclose(back.joints_3d_world, ds.joints_3d_world, atol=1e-12)


def test_pinhole_and_h36m_need_no_sidecar(tmp_path):
    ds = preset_dataset()
    out = write_mmpose(ds, tmp_path / "x")
    assert not (out.parent / mmpose.SIDECAR_FILE).exists()


def test_stale_or_foreign_sidecar_is_refused(tmp_path):
    base = h36m_subject_cameras("S1")[np.array([0])]
    cam = Camera("fisheye", base.intrinsics, [0.01, 0, 0, 0], base.rotation, base.center, base.image_size)
    ds = PoseDataset(
        skeleton=H36M17, joints_3d_world=world_poses(2), cameras=cam, camera_index=np.zeros(2, dtype=int)
    ).complete()
    out = write_mmpose(ds, tmp_path / "x")
    side = out.parent / mmpose.SIDECAR_FILE
    import json

    doc = json.loads(side.read_text())
    doc["cameras"]["center"][0][0] += 0.5
    side.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"posesynth_cameras\.json: camera \('S0', 'cam0'\): center differs"):
        read_mmpose(out)
    doc["keys"] = [["S9", "cam0"]]
    side.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"posesynth_cameras\.json: no exact model for camera \('S0', 'cam0'\)"):
        read_mmpose(out)
    side.write_text("{")
    with pytest.raises(ValueError, match=r"posesynth_cameras\.json: not a readable JSON"):
        read_mmpose(out)


def test_reader_builds_one_camera_batch_not_one_per_sample(tmp_path, monkeypatch):
    """100 samples with 100 cameras: the Camera constructor runs once, not per sample."""
    base = h36m_subject_cameras("S1")
    n = 100
    pick = np.arange(n) % 4
    cams = Camera("pinhole", base.intrinsics[pick], None, base.rotation[pick], base.center[pick], base.image_size[pick])
    ds = PoseDataset(skeleton=H36M17, joints_3d_world=world_poses(n), cameras=cams).complete()
    out = write_mmpose(ds, tmp_path / "x")
    calls = {"n": 0}
    real_init = Camera.__post_init__

    def counting(self):
        calls["n"] += 1
        real_init(self)

    monkeypatch.setattr(Camera, "__post_init__", counting)
    back = read_mmpose(out)
    assert back.num_cameras == n
    assert calls["n"] <= 3  # the table, the per-sample view in complete(), nothing per sample
    np.testing.assert_allclose(back.joints_2d, ds.joints_2d, atol=1e-9)


def test_writer_rejects_bad_datasets(tmp_path):
    ds = preset_dataset()
    with pytest.raises(ValueError, match="needs cameras"):
        write_mmpose(replace(ds, cameras=None, camera_index=None, camera_names=None), tmp_path / "a")
    bad = ds.joints_2d.copy()
    bad[3, 4, 0] = np.nan
    with pytest.raises(ValueError, match=r"joints_2d: expected finite.*\(3, 4, 0\)"):
        write_mmpose(replace(ds, joints_2d=bad), tmp_path / "b")
    with pytest.raises(ValueError, match="name"):
        write_mmpose(ds, tmp_path / "c", name="sub/h36m.npz")
    with pytest.raises(ValueError, match="name"):
        write_mmpose(ds, tmp_path / "c", name="h36m.txt")
    with pytest.raises(ValueError, match="frame"):
        write_mmpose(replace(ds, frame=-np.ones(len(ds), dtype=int)), tmp_path / "d")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_existing_folders(tmp_path):
    ds = preset_dataset()
    out_dir = tmp_path / "export"
    out_dir.mkdir()  # empty: used
    write_mmpose(ds, out_dir)
    with pytest.raises(ValueError, match="already exists"):
        write_mmpose(ds, out_dir)
    small = ds.select(slice(0, 4))
    write_mmpose(small, out_dir, name="h36m_test.npz", overwrite=True)  # replaces the export
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(["h36m_test.npz", "cameras.pkl", *STATS_FILES])
    assert len(read_mmpose(out_dir / "h36m_test.npz")) == 4
    (out_dir / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="refusing to replace"):
        write_mmpose(ds, out_dir, overwrite=True)
    assert (out_dir / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        write_mmpose(ds, tmp_path / "file", overwrite=True)


def test_failure_midway_leaves_nothing(tmp_path, monkeypatch):
    ds = preset_dataset()
    calls = {"n": 0}
    real = mmpose.dumps_numpy_pickle

    def flaky(obj):
        calls["n"] += 1
        if calls["n"] == 3:  # after the .npz and cameras.pkl are on disk
            raise OSError("disk full")
        return real(obj)

    monkeypatch.setattr(mmpose, "dumps_numpy_pickle", flaky)
    with pytest.raises(OSError, match="disk full"):
        write_mmpose(ds, tmp_path / "export")
    assert list(tmp_path.iterdir()) == []

    # replacing an export: a failure keeps the previous one intact
    monkeypatch.setattr(mmpose, "dumps_numpy_pickle", real)
    out = write_mmpose(ds, tmp_path / "export")
    before = {p.name: p.read_bytes() for p in out.parent.iterdir()}
    calls["n"] = 0
    monkeypatch.setattr(mmpose, "dumps_numpy_pickle", flaky)
    with pytest.raises(OSError, match="disk full"):
        write_mmpose(ds.select(slice(0, 3)), tmp_path / "export", overwrite=True)
    assert {p.name: p.read_bytes() for p in out.parent.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["export"]


def test_augmented_fisheye_data_round_trips_through_mmpose(tmp_path):
    """The front door's example: augment with 2 fisheye cameras, write MMPose, read it back."""
    from posesynth.data.formats.registry import read_any, write_any
    from posesynth.jobs.augment import augment
    from posesynth.jobs.camera_config import CamerasConfig
    from posesynth.poses.motion_spec import load_motions

    src = preset_dataset(n=6)
    aug = augment(src, load_motions("seed-knee", src.skeleton), CamerasConfig(model="fisheye", count=2), seed=1).dataset
    assert aug.cameras.model.value == "fisheye"
    write_any(aug, tmp_path / "mm", format="mmpose")
    back = read_any(tmp_path / "mm")
    want, got = aug.sample_cameras(), back.sample_cameras()
    assert got.model.value == "fisheye"
    for field in ("intrinsics", "distortion", "rotation", "center", "image_size"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field))
    np.testing.assert_allclose(back.joints_2d, aug.complete().joints_2d[:, :17], atol=1e-9)


@pytest.mark.parametrize("model", ["pinhole", "opencv", "fisheye", "h36m"])
def test_generated_data_round_trips(tmp_path, model):
    from posesynth.data.formats.registry import read_any, write_any
    from posesynth.jobs.generate import GenerateConfig, generate_dataset

    ds = generate_dataset(GenerateConfig(samples=12, seed=2, camera={"model": model}))
    write_any(ds, tmp_path / "mm", format="mmpose")
    back = read_any(tmp_path / "mm")
    assert len(back) == len(ds)
    # pinhole comes back as h36m with zero distortion (the same projection); others exactly
    assert back.cameras.model.value == ("h36m" if model == "pinhole" else model)
    got, want = back.sample_cameras(), ds.sample_cameras()
    for field in ("intrinsics", "rotation", "center", "image_size"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field))
    np.testing.assert_allclose(back.joints_2d, ds.joints_2d, atol=1e-9)
    np.testing.assert_allclose(back.joints_3d_world, ds.joints_3d_world, atol=1e-6)  # via R.T, C
    np.testing.assert_allclose(got.project_world(back.joints_3d_world), ds.joints_2d, atol=1e-5)


# ------------------------------------------------------------------------ streamed writing
def _same_mmpose_exports(a, b):
    """Every file byte-identical, except cameras.pkl (same dict, batch-pickled)."""
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        if name != "cameras.pkl":
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
    import pickle as _pickle

    pa = load_numpy_pickle(a / "cameras.pkl")
    pb = _pickle.loads((b / "cameras.pkl").read_bytes())  # plain pickle loads it too
    assert list(pa) == list(pb)
    for key in pa:
        assert pa[key].keys() == pb[key].keys()
        for field in pa[key]:
            np.testing.assert_array_equal(np.asarray(pa[key][field]), np.asarray(pb[key][field]))
    load_numpy_pickle(b / "cameras.pkl")  # only NumPy globals, NumPy 1.x names


@pytest.mark.parametrize("model", ["pinhole", "fisheye"])
def test_streamed_export_of_a_store_equals_the_in_memory_one(tmp_path, model):
    from posesynth.data.formats.registry import convert_streamed, read_any, write_any
    from posesynth.data.formats.store_io import write_store_dataset
    from posesynth.jobs.generate import GenerateConfig, generate_dataset

    ds = generate_dataset(GenerateConfig(samples=250, seed=3, camera={"model": model}))
    src = write_store_dataset(ds, tmp_path / "src", shard_size=100)
    write_any(read_any(src), tmp_path / "mem", format="mmpose")
    done = convert_streamed(src, tmp_path / "str", "mmpose", "posesynth", rows=70)
    assert len(done) == 250 and done.num_cameras == 250
    _same_mmpose_exports(tmp_path / "mem", tmp_path / "str")
    assert convert_streamed(src, tmp_path / "x", "mmpose", "posesynth", rows=1000) is None  # small: in memory


def test_streamed_export_with_a_camera_table_and_synthesised_frames(tmp_path):
    """A shared camera table: entries written once, frame numbers continuing across chunks."""
    from posesynth.data.formats.mmpose import write_mmpose_chunks

    ds = preset_dataset(n=40)
    ds = replace(ds, frame=None, subject=None, action=None)
    write_mmpose(ds, tmp_path / "mem")
    write_mmpose_chunks((ds.select(slice(i, i + 7)) for i in range(0, 40, 7)), tmp_path / "str")
    _same_mmpose_exports(tmp_path / "mem", tmp_path / "str")


def test_convert_streams_a_large_store_without_the_check(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from posesynth.cli.main import app
    from posesynth.data.formats import registry
    from posesynth.data.formats.store_io import write_store_dataset
    from posesynth.jobs.generate import GenerateConfig, generate_dataset

    ds = generate_dataset(GenerateConfig(samples=120, seed=4))
    src = write_store_dataset(ds, tmp_path / "src")
    calls = []
    from posesynth.data.formats import mmpose as _mm

    orig = _mm.write_mmpose_chunks

    def spy(chunks, *a, **k):
        calls.append(1)
        return orig(chunks, *a, **k)

    monkeypatch.setattr(_mm, "write_mmpose_chunks", spy)
    monkeypatch.setattr(registry, "STREAM_ROWS", 50)
    res = CliRunner().invoke(app, ["convert", str(src), str(tmp_path / "mm"), "--to", "mmpose", "--no-check", "--json"])
    assert res.exit_code == 0, res.output
    assert calls == [1]
    import json as _json

    doc = _json.loads(res.stdout)
    assert doc["samples"] == 120 and doc["cameras"] == 120 and doc["skeleton"] == "h36m17"
    back = read_mmpose(tmp_path / "mm" / "h36m_train.npz")
    np.testing.assert_allclose(back.joints_2d, ds.joints_2d, atol=1e-9)
