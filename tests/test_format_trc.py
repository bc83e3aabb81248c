"""TRC marker files: Pose2Sim-style fixtures, units and axes, missing markers, round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posesynth.body.skeleton import H36M17, H36M_EXTENDED
from posesynth.data.dataset import PoseDataset
from posesynth.data.formats.trc import TRC_TO_WORLD, read_trc, trc_marker_name, write_trc

# Pose2Sim's HALPE_26 markers, in the order its triangulation writes them (tree order).
HALPE26 = [
    "Hip",
    "RHip",
    "RKnee",
    "RAnkle",
    "RBigToe",
    "RSmallToe",
    "RHeel",
    "LHip",
    "LKnee",
    "LAnkle",
    "LBigToe",
    "LSmallToe",
    "LHeel",
    "Neck",
    "Head",
    "Nose",
    "RShoulder",
    "RElbow",
    "RWrist",
    "LShoulder",
    "LElbow",
    "LWrist",
]


def trc_text(names, rows, units="m", rate=30, frames=None, num_frames=None, blank_line=False):
    """A TRC as Pose2Sim's make_trc writes it. ``rows``: (T, M, 3) in file units, NaN blank."""
    rows = np.asarray(rows, dtype=np.float64)
    t = rows.shape[0]
    frames = list(range(t)) if frames is None else frames
    header = [
        "PathFileType\t4\t(X/Y/Z)\ttrial_0-10.trc",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        "\t".join(
            map(str, [rate, rate, t if num_frames is None else num_frames, len(names), units, rate, frames[0], t])
        ),
        "Frame#\tTime\t" + "\t\t\t".join(names) + "\t\t\t",
        "\t\t" + "\t".join(f"X{i + 1}\tY{i + 1}\tZ{i + 1}" for i in range(len(names))) + "\t",
    ]
    if blank_line:  # OpenSim's own writer leaves one
        header.append("")
    body = []
    for f, row in zip(frames, rows, strict=True):
        cells = ["" if np.isnan(v) else repr(float(v)) for v in row.ravel()]
        body.append("\t".join([str(f), repr(f / rate)] + cells))
    return "\n".join(header + body) + "\n"


def halpe_rows(t: int = 4) -> np.ndarray:
    """Known marker positions (T, 22, 3), millimetres, Y up; marker i, frame f."""
    i = np.arange(len(HALPE26))[None, :]
    f = np.arange(t)[:, None]
    return np.stack(np.broadcast_arrays(100.0 * i + f, 1000.0 + 10.0 * i, -50.0 * i + 2.0 * f), axis=-1)


def write(tmp_path: Path, text: str, name: str = "trial.trc") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def world(rows_mm: np.ndarray, marker: str) -> np.ndarray:
    """Expected world position (T, 3), metres, Z up, of a marker of ``halpe_rows``."""
    x, y, z = np.moveaxis(rows_mm[:, HALPE26.index(marker)], -1, 0)
    return np.stack([z, x, y], axis=-1) / 1000.0


def test_axis_map_is_pose2sims_yup2zup_and_right_handed():
    np.testing.assert_array_equal(TRC_TO_WORLD @ [0.0, 1.0, 0.0], [0.0, 0.0, 1.0])  # up -> +Z
    np.testing.assert_array_equal(TRC_TO_WORLD @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])  # fwd -> +Y
    np.testing.assert_array_equal(TRC_TO_WORLD @ [0.0, 0.0, 1.0], [1.0, 0.0, 0.0])  # right -> +X
    np.testing.assert_array_equal(TRC_TO_WORLD @ TRC_TO_WORLD.T, np.eye(3))
    assert np.linalg.det(TRC_TO_WORLD) == pytest.approx(1.0)


def test_units_and_axes_on_a_hand_made_file(tmp_path):
    text = (
        "\n".join(
            [
                "PathFileType\t4\t(X/Y/Z)\thand.trc",
                "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
                "100\t100\t1\t2\tmm\t100\t1\t1",
                "Frame#\tTime\tRHip\t\t\tLHip\t\t",
                "\t\tX1\tY1\tZ1\tX2\tY2\tZ2",
                "",
                "1\t0.00\t100\t900\t50\t120\t880\t-150",
            ]
        )
        + "\n"
    )
    ds = read_trc(write(tmp_path, text))
    # RHip: 100 mm forward, 900 mm up, 50 mm right -> world (0.05, 0.1, 0.9) m, Z up
    np.testing.assert_allclose(ds.joints_3d_world[0, 1], [0.05, 0.1, 0.9], rtol=0, atol=1e-15)
    np.testing.assert_allclose(ds.joints_3d_world[0, 4], [-0.15, 0.12, 0.88], rtol=0, atol=1e-15)
    np.testing.assert_allclose(ds.joints_3d_world[0, 0], [-0.05, 0.11, 0.89], rtol=0, atol=1e-15)
    assert ds.frame.tolist() == [1] and ds.extra["time"].tolist() == [0.0]
    assert ds.meta["frame_rate_hz"] == 100.0 and ds.meta["units_in_file"] == "mm"


@pytest.mark.parametrize(("units", "scale"), [("mm", 1e-3), ("cm", 1e-2), ("m", 1.0)])
def test_units_convert_to_metres(tmp_path, units, scale):
    rows = halpe_rows()
    ds = read_trc(write(tmp_path, trc_text(HALPE26, rows, units=units)))
    np.testing.assert_allclose(ds.joints_3d_world[:, 1], world(rows, "RHip") * 1000.0 * scale, rtol=1e-14)


def test_halpe26_markers_map_to_the_extended_skeleton(tmp_path):
    rows = halpe_rows()
    ds = read_trc(write(tmp_path, trc_text(HALPE26, rows, units="mm")))
    assert ds.skeleton is H36M_EXTENDED and len(ds) == 4
    j = ds.skeleton.index
    w = lambda m: world(rows, m)
    np.testing.assert_allclose(ds.joints_3d_world[:, j("root")], (w("RHip") + w("LHip")) / 2, atol=1e-15)
    thorax = (w("RShoulder") + w("LShoulder")) / 2
    np.testing.assert_allclose(ds.joints_3d_world[:, j("thorax")], thorax, atol=1e-15)
    np.testing.assert_allclose(
        ds.joints_3d_world[:, j("spine")], ((w("RHip") + w("LHip")) / 2 + thorax) / 2, atol=1e-15
    )
    np.testing.assert_allclose(ds.joints_3d_world[:, j("neck_base")], (w("Neck") + w("Head")) / 2, atol=1e-15)
    for joint, marker in [
        ("head", "Head"),
        ("right_foot", "RAnkle"),
        ("left_heel", "LHeel"),
        ("right_small_toe", "RSmallToe"),
        ("nose", "Nose"),
        ("left_wrist", "LWrist"),
    ]:
        np.testing.assert_allclose(ds.joints_3d_world[:, j(joint)], w(marker), atol=1e-15, err_msg=joint)
    # HALPE_26 has no eyes, ears or finger tips: undefined, not invented
    assert np.isnan(ds.joints_3d_world[:, j("left_ear")]).all()
    assert (ds.visibility[:, j("left_hand_tip")] == 0).all()
    assert (ds.visibility[:, :23] == 1).all() and ds.visibility[:, 27].all()  # nose


def test_h36m17_skeleton(tmp_path):
    ds = read_trc(write(tmp_path, trc_text(HALPE26, halpe_rows(), units="mm")), skeleton="h36m17")
    assert ds.skeleton is H36M17 and ds.joints_3d_world.shape == (4, 17, 3)
    assert ds.visibility is None  # every H36M-17 joint has a rule and no marker is missing


def test_face_markers_give_head_and_neck_base_as_mappings_do(tmp_path):
    names = ["RHip", "LHip", "RShoulder", "LShoulder", "Nose", "LEye", "REye", "LEar", "REar"]
    rows = np.random.default_rng(2).normal(size=(3, len(names), 3))
    ds = read_trc(write(tmp_path, trc_text(names, rows)), skeleton="h36m17")
    p = {n: rows[:, k] @ TRC_TO_WORLD.T for k, n in enumerate(names)}
    head = -0.8 * p["Nose"] + 0.55 * (p["LEye"] + p["REye"]) + 0.35 * (p["LEar"] + p["REar"])
    thorax = (p["RShoulder"] + p["LShoulder"]) / 2
    neck = 0.4 * thorax + 0.15 * p["Nose"] + 0.225 * (p["LEar"] + p["REar"])
    np.testing.assert_allclose(ds.joints_3d_world[:, 10], head, atol=1e-12)
    np.testing.assert_allclose(ds.joints_3d_world[:, 9], neck, atol=1e-12)


def test_blank_cells_are_missing_markers(tmp_path):
    rows = halpe_rows()
    rows[1, HALPE26.index("RKnee")] = np.nan
    rows[2, HALPE26.index("LShoulder")] = np.nan
    ds = read_trc(write(tmp_path, trc_text(HALPE26, rows, units="mm")))
    j = ds.skeleton.index
    assert ds.meta["missing_markers"] == 2
    assert ds.visibility[1, j("right_knee")] == 0 and np.isnan(ds.joints_3d_world[1, j("right_knee")]).all()
    # derived joints that use a missing marker are missing too
    for joint in ("thorax", "spine", "left_shoulder"):
        assert ds.visibility[2, j(joint)] == 0, joint
    assert ds.visibility[2, j("root")] == 1 and ds.visibility[0].sum() == 24


def test_opensim_blank_line_crlf_and_nan_text(tmp_path):
    rows = halpe_rows()
    text = trc_text(HALPE26, rows, units="mm", blank_line=True).replace("\n", "\r\n")
    a = read_trc(write(tmp_path, text, "a.trc"))
    b = read_trc(write(tmp_path, trc_text(HALPE26, rows, units="mm"), "b.trc"))
    np.testing.assert_array_equal(a.joints_3d_world, b.joints_3d_world)
    rows[0, 3] = np.nan
    text = trc_text(HALPE26, rows, units="mm")
    line = text.split("\n")[5].split("\t")
    line[2 + 9 : 2 + 12] = ["NaN", "nan", "NaN"]
    lines = text.split("\n")
    lines[5] = "\t".join(line)
    c = read_trc(write(tmp_path, "\n".join(lines), "c.trc"))
    assert c.meta["missing_markers"] == 1


def extended_dataset(n: int = 6) -> PoseDataset:
    rng = np.random.default_rng(7)
    points = rng.normal(scale=0.5, size=(n, 32, 3)) + [0.0, 0.0, 1.0]
    points[2, 5] = np.nan
    return PoseDataset(
        skeleton=H36M_EXTENDED,
        joints_3d_world=points,
        visibility=np.isfinite(points).all(-1).astype(float),
        frame=np.arange(10, 10 + n),
        subject=np.full(n, "trial"),
    )


def test_round_trip_in_metres_is_exact(tmp_path):
    ds = extended_dataset()
    path = write_trc(ds, tmp_path / "out.trc", rate=60)
    back = read_trc(path)
    np.testing.assert_array_equal(back.joints_3d_world, ds.joints_3d_world)
    np.testing.assert_array_equal(back.visibility, ds.visibility)
    assert back.frame.tolist() == list(range(10, 16))
    np.testing.assert_allclose(back.extra["time"], np.arange(10, 16) / 60)
    assert back.meta["frame_rate_hz"] == 60.0
    # Pose2Sim's names where they exist, ours for the joints it has no marker for
    header = path.read_text().split("\n")[3].split("\t")
    assert header[:5] == ["Frame#", "Time", "root", "", ""] and "RHip" in header and "LMiddle4" in header
    assert trc_marker_name("spine") == "spine" and trc_marker_name("left_foot") == "LAnkle"


def test_round_trip_in_millimetres_and_h36m17(tmp_path):
    ds = extended_dataset()
    small = PoseDataset(skeleton=H36M17, joints_3d_world=ds.joints_3d_world[:, :17], frame=ds.frame)
    back = read_trc(write_trc(small, tmp_path / "mm.trc", rate=50.0, units="mm"), skeleton="h36m17")
    np.testing.assert_allclose(back.joints_3d_world, small.joints_3d_world, rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(np.isnan(back.joints_3d_world), np.isnan(small.joints_3d_world))


def test_writer_uses_meta_rate_and_is_atomic(tmp_path):
    ds = extended_dataset()
    with pytest.raises(ValueError, match="rate"):
        write_trc(ds, tmp_path / "a.trc")
    assert not (tmp_path / "a.trc").exists()
    ds2 = read_trc(write_trc(ds, tmp_path / "a.trc", rate=25))
    write_trc(ds2, tmp_path / "b.trc")  # rate from meta
    assert read_trc(tmp_path / "b.trc").meta["frame_rate_hz"] == 25.0
    with pytest.raises(ValueError, match="already exists"):
        write_trc(ds2, tmp_path / "b.trc")


def test_writer_refuses_repeated_frames(tmp_path):
    ds = extended_dataset()
    dup = PoseDataset(skeleton=H36M_EXTENDED, joints_3d_world=ds.joints_3d_world, frame=np.zeros(6, int))
    with pytest.raises(ValueError, match="repeated frame"):
        write_trc(dup, tmp_path / "d.trc", rate=30)


# ------------------------------------------------------------------------------ bad input


def test_fewer_rows_than_numframes_names_the_file(tmp_path):
    text = trc_text(HALPE26, halpe_rows(8), units="mm", num_frames=10)
    with pytest.raises(ValueError, match=r"trial\.trc: NumFrames says 10, found 8 data rows"):
        read_trc(write(tmp_path, text))


def test_marker_count_must_match_nummarkers(tmp_path):
    text = trc_text(HALPE26, halpe_rows(), units="mm").replace("\t22\tmm\t", "\t21\tmm\t", 1)
    with pytest.raises(ValueError, match=r"trial\.trc: line 4: NumMarkers says 21, found 22"):
        read_trc(write(tmp_path, text))


def test_unknown_units(tmp_path):
    text = trc_text(HALPE26, halpe_rows(), units="inches")
    with pytest.raises(ValueError, match=r"trial\.trc: header field 'Units'.*inches"):
        read_trc(write(tmp_path, text))


def test_text_in_a_number_cell_names_line_and_marker(tmp_path):
    lines = trc_text(HALPE26, halpe_rows(), units="mm").split("\n")
    cells = lines[6].split("\t")
    cells[2 + 3 * 2 + 1] = "abc"  # RKnee Y, second data row
    lines[6] = "\t".join(cells)
    with pytest.raises(ValueError, match=r"trial\.trc: line 7: marker 'RKnee' Y.*'abc'"):
        read_trc(write(tmp_path, "\n".join(lines)))


def test_inf_is_corrupt(tmp_path):
    rows = halpe_rows()
    rows[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"line 6: marker 'Hip' X.*inf"):
        read_trc(write(tmp_path, trc_text(HALPE26, rows)))


def test_short_row(tmp_path):
    lines = trc_text(HALPE26, halpe_rows(), units="mm").split("\n")
    lines[7] = "\t".join(lines[7].split("\t")[:-4])
    with pytest.raises(ValueError, match=r"line 8: expected 68 tab-separated cells"):
        read_trc(write(tmp_path, "\n".join(lines)))


def test_no_usable_marker(tmp_path):
    text = trc_text(["RASI", "LASI"], np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="none of the markers"):
        read_trc(write(tmp_path, text))


def test_truncated_header_and_missing_field(tmp_path):
    with pytest.raises(ValueError, match="truncated TRC header"):
        read_trc(write(tmp_path, "PathFileType\t4\t(X/Y/Z)\tx.trc\n"))
    text = trc_text(HALPE26, halpe_rows()).replace("NumFrames", "Frames", 1)
    with pytest.raises(ValueError, match="missing header field 'NumFrames'"):
        read_trc(write(tmp_path, text))
    with pytest.raises(ValueError, match="PathFileType"):
        read_trc(write(tmp_path, "a,b,c\n" * 6))


# ------------------------------------------------------------- trc and calib_toml as --to targets
@pytest.mark.parametrize("model", ["pinhole", "opencv", "fisheye", "h36m"])
def test_generated_data_round_trips_through_a_trc_folder(tmp_path, model):
    from posesynth.data.formats.registry import read_any, write_any
    from posesynth.jobs.generate import GenerateConfig, generate_dataset

    ds = generate_dataset(GenerateConfig(samples=10, seed=5, camera={"model": model}))
    files = write_any(ds, tmp_path / "trc", format="trc")
    assert [f.name for f in files] == ["posesynth.trc"]
    back = read_any(tmp_path / "trc")
    assert back.skeleton.name == ds.skeleton.name
    np.testing.assert_allclose(back.joints_3d_world, ds.joints_3d_world, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(back.frame, np.arange(len(ds)))


def test_one_trc_per_sequence_and_one_row_per_pose(tmp_path):
    from posesynth.data.formats.registry import read_any, write_any
    from posesynth.geometry.camera import h36m_subject_cameras

    rng = np.random.default_rng(0)
    world = rng.normal(scale=0.3, size=(4, 17, 3)) + [0, 0, 1]
    # two sequences of two frames, each frame seen by two cameras
    idx = np.repeat(np.arange(4), 2)
    ds = PoseDataset(
        skeleton=H36M17,
        joints_3d_world=world[idx],
        cameras=h36m_subject_cameras("S1")[np.array([0, 1])],
        camera_index=np.tile([0, 1], 4),
        subject=np.full(8, "S1"),
        action=np.where(idx < 2, "Walk", "Sit"),
        frame=idx % 2,
    )
    files = write_any(ds, tmp_path / "t", format="trc", rate=25)
    assert [f.name for f in files] == ["S1_Walk.trc", "S1_Sit.trc"]
    back = read_any(tmp_path / "t")
    assert len(back) == 4
    sit = back.select(back.action == "Sit")
    np.testing.assert_allclose(sit.joints_3d_world, world[2:], atol=1e-12)
    with pytest.raises(ValueError, match="already exists"):
        write_any(ds, tmp_path / "t", format="trc")


def test_calib_toml_target_writes_the_distinct_cameras(tmp_path):
    from posesynth.data.formats.calib_toml import read_calib_toml
    from posesynth.data.formats.registry import write_any
    from posesynth.jobs.generate import GenerateConfig, generate_dataset

    ds = generate_dataset(GenerateConfig(samples=5, seed=5, camera={"model": "fisheye"}))
    path = write_any(ds, tmp_path / "calib", format="calib_toml")
    assert path == tmp_path / "calib" / "Calib.toml"
    cams, names = read_calib_toml(path)
    assert names == [f"cam_{i:02d}" for i in range(1, 6)]
    np.testing.assert_allclose(cams.project_world(ds.joints_3d_world), ds.joints_2d, atol=1e-6)
    h36m = generate_dataset(GenerateConfig(samples=3, seed=5, camera={"model": "h36m"}))
    with pytest.raises(ValueError, match="h36m model"):
        write_any(h36m, tmp_path / "c2", format="calib_toml")
    assert not (tmp_path / "c2").exists()


def test_augment_to_trc_reads_back(tmp_path):
    from typer.testing import CliRunner

    from posesynth.cli.main import app
    from posesynth.data.formats.registry import read_any

    runner = CliRunner()
    res = runner.invoke(app, ["generate", "-n", "20", "--seed", "1", "--no-preview", "--out", str(tmp_path / "g")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app, ["augment", str(tmp_path / "g"), "--motions", "seed-knee", "--to", "trc", "--out", str(tmp_path / "a")]
    )
    assert res.exit_code == 0, res.output
    back = read_any(tmp_path / "a")  # the folder also holds augment's figure
    assert len(back) == 20 and back.joints_3d_world.shape == (20, 17, 3)
