"""VideoPose3D files: fixtures written as VideoPose3D writes them, round trips, clear errors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from posesynth.body.mappings import H36M32_TO_17
from posesynth.body.skeleton import H36M17, H36M_EXTENDED
from posesynth.data.dataset import PoseDataset
from posesynth.data.formats.videopose3d import read_videopose3d, write_videopose3d
from posesynth.geometry.camera import H36M_CAMERA_IDS, Camera, h36m_subject_cameras, look_at

KEEP = list(H36M32_TO_17)
H36M_META = {"num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
COCO_META = {
    "layout_name": "coco",
    "num_joints": 17,
    "keypoints_symmetry": [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]],
}
LENGTHS = {("S1", "Walking"): 6, ("S1", "Eating 2"): 4, ("S5", "Walking"): 5}


def make_3d(seed: int = 0) -> dict:
    """``positions_3d`` as prepare_data_h36m.py makes it: 32 joints, world metres, float32."""
    rng = np.random.default_rng(seed)
    out: dict = {}
    for (s, a), t in LENGTHS.items():
        pose = rng.normal(scale=0.3, size=(t, 32, 3)) + np.array([0.0, 0.0, 1.0])
        out.setdefault(s, {})[a] = pose.astype("float32")
    return out


def make_2d_gt(positions_3d: dict, extra_frames: int = 0) -> dict:
    """``positions_2d`` as prepare_data_h36m.py makes it: the 3D projected by each camera."""
    out: dict = {}
    for s, actions in positions_3d.items():
        cams = h36m_subject_cameras(s)
        for a, pose in actions.items():
            world = pose[:, KEEP].astype(np.float64)
            per_cam = []
            for c in range(4):
                uv = cams[c].project_world(world)
                if c == 0 and extra_frames:  # Human3.6M videos may have a few more frames
                    uv = np.concatenate([uv, np.repeat(uv[-1:], extra_frames, axis=0)])
                per_cam.append(uv.astype("float32"))
            out.setdefault(s, {})[a] = per_cam
    return out


def write_files(tmp_path: Path, positions_3d=None, positions_2d=None, metadata=H36M_META):
    p3 = p2 = None
    if positions_3d is not None:
        # exactly VideoPose3D's call: the name without .npz, the dict as a keyword
        np.savez_compressed(tmp_path / "data_3d_h36m", positions_3d=positions_3d)
        p3 = tmp_path / "data_3d_h36m.npz"
    if positions_2d is not None:
        np.savez_compressed(tmp_path / "data_2d_h36m_gt", positions_2d=positions_2d, metadata=metadata)
        p2 = tmp_path / "data_2d_h36m_gt.npz"
    return p3, p2


def test_read_3d_keeps_the_17_joints_in_metres(tmp_path):
    pos = make_3d()
    p3, _ = write_files(tmp_path, pos)
    ds = read_videopose3d(p3)
    assert ds.skeleton is H36M17
    assert len(ds) == sum(LENGTHS.values())
    assert ds.joints_2d is None and ds.cameras is None and ds.visibility is None
    np.testing.assert_array_equal(ds.joints_3d_world[:6], pos["S1"]["Walking"][:, KEEP])
    np.testing.assert_array_equal(ds.joints_3d_world[10:], pos["S5"]["Walking"][:, KEEP])
    assert list(ds.subject[:11]) == ["S1"] * 10 + ["S5"]
    assert list(ds.action[5:7]) == ["Walking", "Eating 2"]
    assert list(ds.frame[:7]) == [0, 1, 2, 3, 4, 5, 0]


def test_read_3d_and_2d_pairs_each_list_entry_with_its_h36m_camera(tmp_path):
    pos = make_3d()
    p3, p2 = write_files(tmp_path, pos, make_2d_gt(pos, extra_frames=2))
    ds = read_videopose3d(p3, p2)
    assert len(ds) == 4 * sum(LENGTHS.values())
    assert ds.num_cameras == 8
    assert list(ds.camera_names[:4]) == [f"S1/{c}" for c in H36M_CAMERA_IDS]
    assert ds.cameras.model.value == "h36m"
    # The camera order rule is right iff every sample's 2D is its camera's projection.
    uv = ds.sample_cameras().project_world(ds.joints_3d_world)
    np.testing.assert_allclose(uv, ds.joints_2d, atol=1e-3)
    # world 3D repeated per camera, camera index in the file kept
    walk = (ds.subject == "S1") & (ds.action == "Walking")
    assert list(ds.extra["camera"][walk]) == [c for c in range(4) for _ in range(6)]
    np.testing.assert_array_equal(ds.joints_3d_world[walk][:6], ds.joints_3d_world[walk][18:])
    # the longer 2D sequence was cut to the 3D length, as VideoPose3D's run.py does
    assert ds.meta["trimmed_2d"] == [
        {"subject": s, "action": a, "camera": 0, "frames_2d": t + 2, "frames_3d": t} for (s, a), t in LENGTHS.items()
    ]


def test_read_2d_only(tmp_path):
    pos = make_3d()
    _, p2 = write_files(tmp_path, None, make_2d_gt(pos))
    ds = read_videopose3d(path_2d=p2)
    assert ds.joints_3d_world is None
    assert len(ds) == 4 * sum(LENGTHS.values())
    assert ds.num_cameras == 8


def test_custom_coco_2d_converts_to_h36m17_without_cameras(tmp_path):
    rng = np.random.default_rng(3)
    kp = rng.uniform(0, 640, size=(7, 17, 2)).astype("float32")
    meta = dict(COCO_META, video_metadata={"clip.mp4": {"w": 640, "h": 480}})
    _, p2 = write_files(tmp_path, None, {"clip.mp4": {"custom": [kp]}}, meta)
    ds = read_videopose3d(path_2d=p2)
    assert ds.cameras is None and len(ds) == 7
    root = (kp[:, 11].astype(np.float64) + kp[:, 12]) / 2  # COCO hips
    np.testing.assert_allclose(ds.joints_2d[:, 0], root, rtol=1e-12)
    np.testing.assert_array_equal(ds.joints_2d[:, 1], kp[:, 12])  # right hip
    assert ds.meta["layout_2d"] == "coco17"


def test_round_trip_of_a_read_dataset_is_exact(tmp_path):
    pos = make_3d()
    p3, p2 = write_files(tmp_path, pos, make_2d_gt(pos))
    ds = read_videopose3d(p3, p2)
    q3, q2 = write_videopose3d(ds, tmp_path / "out", name="synth")
    assert (q3.name, q2.name) == ("data_3d_synth.npz", "data_2d_synth_gt.npz")
    back = read_videopose3d(q3, q2)
    for field in ("joints_3d_world", "joints_2d", "camera_index", "frame", "subject", "action"):
        np.testing.assert_array_equal(getattr(back, field), getattr(ds, field), err_msg=field)
    # the files have VideoPose3D's layout
    with np.load(q3, allow_pickle=True) as f:
        p = f["positions_3d"].item()
    assert p["S1"]["Walking"].shape == (6, 32, 3) and p["S1"]["Walking"].dtype == np.float32
    np.testing.assert_array_equal(p["S1"]["Walking"][:, KEEP], pos["S1"]["Walking"][:, KEEP])
    with np.load(q2, allow_pickle=True) as f:
        meta, p2d = f["metadata"].item(), f["positions_2d"].item()
    assert meta["layout_name"] == "h36m" and meta["num_joints"] == 17
    assert meta["keypoints_symmetry"] == [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]
    assert meta["video_metadata"]["S1"] == {"w": 1000, "h": 1002}
    assert isinstance(p2d["S5"]["Walking"], list) and len(p2d["S5"]["Walking"]) == 4


def synthetic(n_frames: int = 5, float64_cameras: bool = True) -> PoseDataset:
    """Two sequences seen by two cameras, h36m_extended, in no particular sample order."""
    rng = np.random.default_rng(5)
    centers = np.array([[3.0, 0.5, 1.4], [-2.0, 2.5, 1.6]])
    cams = Camera(
        model="opencv",
        intrinsics=[[900.0, 900.0, 480.0, 270.0], [700.0, 710.0, 320.0, 240.0]],
        distortion=None,
        rotation=look_at(centers, np.array([0.0, 0.0, 1.0])),
        center=centers,
        image_size=[[960, 540], [640, 480]],
    )
    seqs = {
        ("S9", "Jump"): rng.normal(scale=0.3, size=(n_frames, 32, 3)) + [0, 0, 1],
        ("S9", "Sit"): rng.normal(scale=0.3, size=(n_frames, 32, 3)) + [0, 0, 1],
    }
    world, subj, act, frame, cidx = [], [], [], [], []
    for (s, a), pose in seqs.items():
        for c in (1, 0):  # camera 1 first: the writer must still list camera 0 first
            for f in range(n_frames):
                world.append(pose[f])
                subj.append(s), act.append(a), frame.append(f), cidx.append(c)
    order = rng.permutation(len(world))
    ds = PoseDataset(
        skeleton=H36M_EXTENDED,
        joints_3d_world=np.array(world)[order],
        cameras=cams,
        camera_index=np.array(cidx)[order],
        subject=np.array(subj)[order],
        action=np.array(act)[order],
        frame=np.array(frame)[order],
    )
    return ds.complete()


def test_round_trip_of_a_synthetic_dataset_in_float64(tmp_path):
    ds = synthetic()
    q3, q2 = write_videopose3d(ds, tmp_path, name="s", layout_3d="h36m17", dtype=np.float64)
    back = read_videopose3d(q3, q2)
    assert len(back) == len(ds)
    # back is ordered (sequence, camera, frame); match each sample to its original
    key = lambda d, i: (
        d.action[i],
        int(d.frame[i]),
        int(d.extra["camera"][i]) if "camera" in d.extra else int(d.camera_index[i]),
    )
    orig = {key(ds, i): i for i in range(len(ds))}
    for i in range(len(back)):
        j = orig[key(back, i)]
        np.testing.assert_array_equal(back.joints_3d_world[i], ds.joints_3d_world[j, :17])
        np.testing.assert_array_equal(back.joints_2d[i], ds.joints_2d[j, :17])


def test_writer_fills_32_joints_from_ancestors(tmp_path):
    ds = synthetic()
    q3, _ = write_videopose3d(ds, tmp_path)
    with np.load(q3, allow_pickle=True) as f:
        p = f["positions_3d"].item()["S9"]["Jump"]
    assert p.shape == (5, 32, 3)
    np.testing.assert_array_equal(p[:, 4], p[:, 3])  # right toe base = right ankle
    np.testing.assert_array_equal(p[:, 16], p[:, 12])  # left clavicle = its parent spine1


def test_missing_points_are_nan_with_visibility_zero(tmp_path):
    pos = make_3d()
    pos["S1"]["Walking"][2, 1] = np.nan  # raw joint 1 = right hip (kept)
    p3, _ = write_files(tmp_path, pos)
    ds = read_videopose3d(p3)
    assert ds.meta["missing_points"] == 1
    assert ds.visibility[2, 1] == 0 and ds.visibility.sum() == ds.visibility.size - 1
    assert np.isnan(ds.joints_3d_world[2, 1]).all()


# ------------------------------------------------------------------------------ bad input


def test_not_a_zip_names_the_file(tmp_path):
    bad = tmp_path / "data_3d_x.npz"
    bad.write_text("not a zip")
    with pytest.raises(ValueError, match=r"data_3d_x\.npz.*not an \.npz"):
        read_videopose3d(bad)


def test_truncated_file_names_the_file(tmp_path):
    p3, _ = write_files(tmp_path, make_3d())
    data = p3.read_bytes()
    p3.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="data_3d_h36m.npz"):
        read_videopose3d(p3)


def test_corrupt_member_names_file_and_field(tmp_path):
    p3, _ = write_files(tmp_path, make_3d())
    data = bytearray(p3.read_bytes())
    with zipfile.ZipFile(p3) as z:
        info = z.getinfo("positions_3d.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 20
    data[start : start + 40] = b"\x00" * 40
    p3.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"data_3d_h36m\.npz.*positions_3d"):
        read_videopose3d(p3)


class _Evil:
    """Unpickling it would create a file: a stand-in for arbitrary code."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_pickles_naming_other_globals_are_refused_before_running(tmp_path):
    marker = tmp_path / "pwned"
    np.savez_compressed(tmp_path / "data_3d_evil", positions_3d={"S1": {"A": _Evil(marker)}})
    with pytest.raises(ValueError, match=r"data_3d_evil\.npz.*refusing to unpickle the global"):
        read_videopose3d(tmp_path / "data_3d_evil.npz")
    assert not marker.exists()


def test_written_files_load_with_plain_numpy_and_name_numpy_core(tmp_path):
    import pickletools

    q3, q2 = write_videopose3d(synthetic(), tmp_path)
    with np.load(q2, allow_pickle=True) as f:
        assert f["metadata"].item()["num_joints"] == 17
    with zipfile.ZipFile(q3) as z:
        raw = z.read("positions_3d.npy")
    pickle_start = raw.index(b"\n") + 1  # after the .npy header line
    modules = {str(arg).split(" ")[0] for op, arg, _ in pickletools.genops(raw[pickle_start:]) if op.name == "GLOBAL"}
    assert modules and all(m in ("numpy", "numpy.core.multiarray") for m in modules), modules


def test_missing_field(tmp_path):
    np.savez_compressed(tmp_path / "data_3d_x", poses={"S1": {}})
    with pytest.raises(ValueError, match=r"data_3d_x\.npz: missing field 'positions_3d'"):
        read_videopose3d(tmp_path / "data_3d_x.npz")


def test_field_that_is_not_a_dict(tmp_path):
    np.savez_compressed(tmp_path / "data_3d_x", positions_3d=np.zeros((3, 17, 3)))
    with pytest.raises(ValueError, match="positions_3d.*pickled dict"):
        read_videopose3d(tmp_path / "data_3d_x.npz")


def test_wrong_shape_names_subject_and_action(tmp_path):
    pos = make_3d()
    pos["S5"]["Walking"] = pos["S5"]["Walking"][..., :2]
    p3, _ = write_files(tmp_path, pos)
    with pytest.raises(ValueError, match=r"positions_3d\['S5'\]\['Walking'\].*\(T, J, 3\)"):
        read_videopose3d(p3)


def test_unknown_joint_count(tmp_path):
    pos = {"S1": {"A": np.zeros((3, 20, 3), "float32")}}
    p3, _ = write_files(tmp_path, pos)
    with pytest.raises(ValueError, match="17 .* or 32 .* joints, got 20"):
        read_videopose3d(p3)


def test_inf_is_corrupt(tmp_path):
    pos = make_3d()
    pos["S1"]["Eating 2"][1, 5, 2] = np.inf
    p3, _ = write_files(tmp_path, pos)
    with pytest.raises(ValueError, match=r"data_3d_h36m\.npz.*Eating 2.*inf"):
        read_videopose3d(p3)


def test_2d_shorter_than_3d_is_an_error(tmp_path):
    pos = make_3d()
    p2d = make_2d_gt(pos)
    p2d["S5"]["Walking"][2] = p2d["S5"]["Walking"][2][:3]
    p3, p2 = write_files(tmp_path, pos, p2d)
    with pytest.raises(ValueError, match=r"data_2d_h36m_gt\.npz.*\[2\]: 3 frames, fewer than the 5"):
        read_videopose3d(p3, p2)


def test_3d_sequence_without_2d(tmp_path):
    pos = make_3d()
    p2d = make_2d_gt(pos)
    del p2d["S1"]["Eating 2"]
    p3, p2 = write_files(tmp_path, pos, p2d)
    with pytest.raises(ValueError, match="missing S1/Eating 2"):
        read_videopose3d(p3, p2)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"keypoints_symmetry": H36M_META["keypoints_symmetry"]}, "num_joints"),
        ({"num_joints": 16, "keypoints_symmetry": H36M_META["keypoints_symmetry"]}, "says 16"),
        ({"num_joints": 17}, "keypoints_symmetry"),
        (dict(H36M_META, keypoints_symmetry=[[1, 2, 3], [4, 5, 6]]), "keypoints_symmetry"),
        (dict(H36M_META, layout_name="humaneva15"), "layout_name"),
    ],
)
def test_metadata_that_contradicts_the_arrays(tmp_path, metadata, message):
    pos = make_3d()
    _, p2 = write_files(tmp_path, None, make_2d_gt(pos), metadata)
    with pytest.raises(ValueError, match=message):
        read_videopose3d(path_2d=p2)


def test_missing_metadata(tmp_path):
    np.savez_compressed(tmp_path / "data_2d_x", positions_2d=make_2d_gt(make_3d()))
    with pytest.raises(ValueError, match="missing field 'metadata'"):
        read_videopose3d(path_2d=tmp_path / "data_2d_x.npz")


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        read_videopose3d("/nonexistent/data_3d_h36m.npz")


def test_writer_refuses_inconsistent_sequences(tmp_path):
    ds = synthetic()
    world = ds.joints_3d_world.copy()
    world[0] += 0.1  # one camera's copy of a frame now disagrees
    bad = PoseDataset(
        skeleton=ds.skeleton,
        joints_3d_world=world,
        joints_2d=ds.joints_2d,
        cameras=ds.cameras,
        camera_index=ds.camera_index,
        subject=ds.subject,
        action=ds.action,
        frame=ds.frame,
    )
    with pytest.raises(ValueError, match="same frame have different world 3D"):
        write_videopose3d(bad, tmp_path)
    keep = ~((ds.camera_index == 1) & (ds.frame == 2))  # camera 1 misses frame 2
    no_cams = PoseDataset(
        skeleton=ds.skeleton,
        joints_2d=ds.joints_2d[keep],
        subject=ds.subject[keep],
        action=ds.action[keep],
        frame=ds.frame[keep],
        extra={"camera": ds.camera_index[keep]},
    )
    with pytest.raises(
        ValueError, match=r"camera cam1 .* no 2D for 1 of 5 frames \(first: frame 2\).*cannot be projected"
    ):
        write_videopose3d(no_cams, tmp_path / "b")
    assert not (tmp_path / "b").exists()  # F10: no empty folder left on error


def test_a_missing_view_is_projected_through_its_camera(tmp_path):
    ds = synthetic()
    keep = ~((ds.camera_index == 1) & (ds.frame == 2))  # camera 1 misses frame 2
    _, q2 = write_videopose3d(ds.select(keep), tmp_path, layout_3d="h36m17", dtype=np.float64)
    with np.load(q2, allow_pickle=True) as f:
        jump = f["positions_2d"].item()["S9"]["Jump"]
    sel = (ds.camera_index == 1) & (ds.frame == 2) & (ds.action == "Jump")
    np.testing.assert_allclose(jump[1][2], ds.joints_2d[sel][0, :17], atol=1e-9)


def test_writer_does_not_overwrite_unless_asked(tmp_path):
    ds = synthetic()
    write_videopose3d(ds, tmp_path)
    with pytest.raises(ValueError, match="already exists"):
        write_videopose3d(ds, tmp_path)
    write_videopose3d(ds, tmp_path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cameras_custom.json",
        "data_2d_custom_gt.npz",
        "data_3d_custom.npz",
    ]


# ------------------------------------------------------------------ VideoPose3D's pairing rule
# VideoPose3D's common/h36m_dataset.py lists each Human3.6M subject's cameras in this order,
# and run.py pairs keypoints[subject][action][i] with dataset.cameras()[subject][i].
VIDEOPOSE3D_CAMERA_ORDER = ["54138969", "55011271", "58860488", "60457274"]


def _vp3d_qrot(q_wxyz: np.ndarray, v: np.ndarray) -> np.ndarray:
    """VideoPose3D's common/quaternion.py qrot: rotate v (..., 3) by q (w, x, y, z)."""
    qvec = q_wxyz[1:]
    uv = np.cross(qvec, v)
    uuv = np.cross(qvec, uv)
    return v + 2 * (q_wxyz[0] * uv + uuv)


def _vp3d_project(world: np.ndarray, cam: dict) -> np.ndarray:
    """VideoPose3D's world_to_camera then project_to_2d (common/camera.py), on raw pixel
    intrinsics; its tangential_distortion is listed (p2, p1) of Human3.6M's metadata."""
    q = np.asarray(cam["orientation"])
    q_inv = q * np.array([1, -1, -1, -1])
    x = _vp3d_qrot(q_inv, world - np.asarray(cam["translation"]))
    xx = x[..., :2] / x[..., 2:]
    r2 = np.sum(xx**2, axis=-1, keepdims=True)
    k = np.asarray(cam["radial_distortion"])
    p = np.asarray(cam["tangential_distortion"])
    radial = 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3
    tan = np.sum(p * xx, axis=-1, keepdims=True)
    xxx = xx * (radial + tan) + p * r2
    return np.asarray(cam["focal_length"]) * xxx + np.asarray(cam["center"])


def _preset_as_vp3d(subject: str, cid: str) -> dict:
    """A Human3.6M camera in VideoPose3D's dict form, from the presets (which
    tests/test_camera_presets.py checks against VideoPose3D's own numbers)."""
    from scipy.spatial.transform import Rotation

    cam = h36m_subject_cameras(subject)[VIDEOPOSE3D_CAMERA_ORDER.index(cid)]
    x, y, z, w = Rotation.from_matrix(cam.rotation.T).as_quat()
    fx, fy, cx, cy = cam.intrinsics
    k1, k2, p1, p2, k3 = cam.distortion
    return {
        "orientation": [w, x, y, z],
        "translation": cam.center,
        "center": [cx, cy],
        "focal_length": [fx, fy],
        "radial_distortion": [k1, k2, k3],
        "tangential_distortion": [p2, p1],
    }


def test_every_2d_array_sits_at_the_index_of_the_camera_videopose3d_pairs_it_with(tmp_path):
    """Human3.6M frames with one camera each, from several subjects (S7 and S8 hold camera
    55011271 alone, the case that used to shift onto 54138969)."""
    views = {"S1": "54138969", "S5": "58860488", "S7": "55011271", "S8": "55011271"}
    rng = np.random.default_rng(0)
    cams, names, world, cidx, subj, frame = [], [], [], [], [], []
    for k, (s, cid) in enumerate(views.items()):
        cams.append(h36m_subject_cameras(s)[np.array([H36M_CAMERA_IDS.index(cid)])])
        names.append(f"{s}/{cid}")
        for f in range(3):
            world.append(rng.normal(scale=0.25, size=(17, 3)) + [0.0, 0.0, 1.0])
            cidx.append(k), subj.append(s), frame.append(f)
    from posesynth.geometry.camera import concat_cameras

    ds = PoseDataset(
        skeleton=H36M17,
        joints_3d_world=np.array(world),
        cameras=concat_cameras(cams),
        camera_index=np.array(cidx),
        camera_names=np.array(names),
        subject=np.array(subj),
        action=np.full(len(world), "Directions_1"),
        frame=np.array(frame),
    ).complete()
    q3, q2 = write_videopose3d(ds, tmp_path / "vp", name="h36m", layout_3d="h36m17", dtype=np.float64)
    with np.load(q3, allow_pickle=True) as f3, np.load(q2, allow_pickle=True) as f2:
        p3, p2 = f3["positions_3d"].item(), f2["positions_2d"].item()
    for s, cid in views.items():
        seq3 = p3[s]["Directions_1"]
        seq2 = p2[s]["Directions_1"]
        assert len(seq2) == 4  # one array per camera of the subject, in VideoPose3D's order
        for i, cam_id in enumerate(VIDEOPOSE3D_CAMERA_ORDER):
            expected = _vp3d_project(seq3, _preset_as_vp3d(s, cam_id))
            np.testing.assert_allclose(seq2[i], expected, atol=1e-6, err_msg=f"{s} camera {i}")
        # the source's own view is stored as is, at its camera's index
        i = VIDEOPOSE3D_CAMERA_ORDER.index(cid)
        np.testing.assert_array_equal(seq2[i], ds.joints_2d[ds.subject == s])
    back = read_videopose3d(q3, q2)
    assert len(back) == 4 * len(ds)  # every view, the projected ones included


@pytest.mark.parametrize("model", ["pinhole", "opencv", "fisheye", "h36m"])
def test_generated_data_round_trips(tmp_path, model):
    """Generated data: one subject per rig (here per pose), action = activity, its cameras."""
    from posesynth.data.formats.registry import read_any, write_any
    from posesynth.jobs.generate import GenerateConfig, generate_dataset

    ds = generate_dataset(GenerateConfig(samples=12, seed=2, camera={"model": model}))
    out = tmp_path / "vp"
    write_any(ds, out, format="videopose3d", name="gen")
    assert (out / "cameras_gen.json").is_file()
    back = read_any(out)
    assert len(back) == len(ds)
    assert back.cameras.model.value == model
    order = np.argsort(np.array([int(s.rsplit("_", 1)[1]) for s in back.subject]), kind="stable")
    back = back.select(order)
    np.testing.assert_allclose(back.joints_3d_world, ds.joints_3d_world, atol=1e-5)  # float32
    np.testing.assert_allclose(back.joints_2d, ds.joints_2d, atol=1e-3)
    for field in ("intrinsics", "distortion", "rotation", "center", "image_size"):
        np.testing.assert_array_equal(getattr(back.sample_cameras(), field), getattr(ds.sample_cameras(), field))
    from posesynth.poses.procedural import activity_names

    assert list(back.action) == [activity_names()[a] for a in ds.extra["activity"]]
