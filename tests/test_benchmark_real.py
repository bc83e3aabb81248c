"""``posesynth benchmark real`` on a synthetic multi-view scene (no download, no BlazePose).

The scene: four calibrated cameras (written as a Qualisys ``.qca.txt``), two rigid "people"
of 33 MediaPipe landmarks walking past each other, a passer-by seen by one camera only, and
one frame where nobody is seen. The videos are tiny real video files whose pixel values tell
a fake detector which camera and frame it is looking at; the fake detector answers with the
exact projections of the scene. So the pseudo ground truth must come back equal to the scene.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from posesynth.apps.realbench import (
    BenchmarkOptions,
    PersonData,
    RealBenchmarkResult,
    run_real_benchmark,
)
from posesynth.apps.realbench.associate import associate_frame
from posesynth.apps.realbench.fetch import DemoFiles, fetch_demo
from posesynth.body.mappings import convert_keypoints
from posesynth.cli.main import app
from posesynth.data.formats.qca import write_qca
from posesynth.detect.blazepose import PoseResult
from posesynth.geometry.camera import Camera, look_at

FRAMES = 12
EMPTY_FRAME = 7
NAMES = ["cam01", "cam02", "cam03", "cam04"]
CENTERS = np.array([[3.0, -2.0, 1.8], [3.2, 2.0, 1.7], [-3.0, 2.2, 2.0], [-3.5, -1.5, 1.9]])


def _cameras() -> Camera:
    return Camera(
        model="opencv",
        intrinsics=np.array([900.0, 900.0, 540.0, 960.0]),
        distortion=np.array([-0.05, 0.1, 0.0005, -0.0005, 0.0]),
        rotation=look_at(CENTERS, np.array([0.0, 0.0, 0.9])),
        center=CENTERS,
        image_size=np.array([1088, 1920]),
    )


def _template(rng: np.random.Generator, height: float) -> np.ndarray:
    """(33, 3) m: a rigid body-like cloud, MediaPipe order (hips 23/24, shoulders 11/12)."""
    z = np.empty(33)
    z[:11] = 0.93  # face
    z[11:23] = [0.82, 0.82, 0.62, 0.62, 0.45, 0.45, 0.42, 0.42, 0.42, 0.42, 0.43, 0.43]
    z[23:] = [0.52, 0.52, 0.28, 0.28, 0.04, 0.04, 0.02, 0.02, 0.0, 0.0]
    x = rng.uniform(-0.12, 0.12, 33)
    x[11:33:2] = -np.abs(x[11:33:2]) - 0.1  # left side at -x
    x[12:33:2] = np.abs(x[12:33:2]) + 0.1
    y = rng.uniform(-0.1, 0.1, 33)
    return np.stack([x, y, z * height], axis=-1)


def _scene() -> np.ndarray:
    """(3, F, 33, 3) world metres: person at x = -1 (walking +y), person at x = +0.8, passer-by."""
    rng = np.random.default_rng(0)
    t = np.arange(FRAMES) / 60.0
    a = _template(rng, 1.8)[None] + np.stack([np.full(FRAMES, -1.0), 0.8 * t, np.zeros(FRAMES)], -1)[:, None]
    b = _template(rng, 1.6)[None] + np.stack([np.full(FRAMES, 0.8), -0.5 * t, np.zeros(FRAMES)], -1)[:, None]
    c = np.broadcast_to(_template(rng, 1.7) + np.array([6.0, -6.0, 0.0]), a.shape)
    return np.stack([a, b, c])


class FakeDetector:
    """Reads camera and frame from the pixels; answers the scene's exact projections."""

    def __init__(self, cameras: Camera, scene: np.ndarray) -> None:
        self.cameras, self.scene = cameras, scene
        self.noise = np.random.default_rng(1)

    def detect_all(self, rgb: np.ndarray, max_people: int) -> list[PoseResult]:
        view = round((float(rgb[..., 1].mean()) - 20.0) / 40.0)
        frame = round((float(rgb[..., 0].mean()) - 5.0) / 20.0)
        if frame == EMPTY_FRAME:
            return []
        people = [0, 1] + ([2] if view == 0 else [])  # the passer-by in one view only
        out = []
        for p in people:
            p_world = self.scene[p, frame]
            p_cam = self.cameras[view].world_to_camera(p_world)
            hip = p_cam[[23, 24]].mean(axis=0)
            out.append(
                PoseResult(
                    keypoints_2d=self.cameras[view].project_world(p_world),
                    visibility=np.ones(33),
                    presence=np.ones(33),
                    # BlazePose's own 3D: the truth in camera axes, about the hip centre, 1 cm off
                    world=p_cam - hip + self.noise.normal(0.0, 0.01, (33, 3)),
                    depth=np.zeros(33),
                    score=1.0,
                    detection_score=0.9,
                )
            )
        return out[:max_people]

    def landmarks_in_roi(self, rgb: np.ndarray, centre: np.ndarray, side: float, rot: float) -> PoseResult | None:
        return None


class FlatLifter:
    """A stand-in lifter: the 2D, root-centred, scaled to metres, at depth 0."""

    def predict(self, joints_2d: np.ndarray) -> np.ndarray:
        uv = np.asarray(joints_2d, np.float64)
        out = np.concatenate([uv - uv[:, :1], np.zeros(uv.shape[:-1] + (1,))], axis=-1) / 500.0
        return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    root = tmp_path_factory.mktemp("demo")
    (root / "calibration").mkdir()
    (root / "videos").mkdir()
    calib = write_qca(_cameras(), NAMES, root / "calibration/Calib.qca.txt")
    videos = []
    for v, name in enumerate(NAMES):
        path = root / "videos" / f"{name}.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 60.0, (32, 24))
        for f in range(FRAMES):
            rgb = np.zeros((24, 32, 3), np.uint8)
            rgb[..., 0] = 5 + 20 * f
            rgb[..., 1] = 20 + 40 * v
            writer.write(np.ascontiguousarray(rgb[..., ::-1]))
        writer.release()
        videos.append(path)
    return DemoFiles(root=root, calibration=calib, videos=tuple(videos))


Run = tuple[RealBenchmarkResult, Path, FakeDetector]


@pytest.fixture(scope="module")
def result(demo: DemoFiles, tmp_path_factory: pytest.TempPathFactory) -> Run:
    cache = tmp_path_factory.mktemp("cache")
    det = FakeDetector(_cameras(), _scene())
    return run_real_benchmark({"flat": FlatLifter()}, cache_dir=cache, demo=demo, detector=det), cache, det


def test_pseudo_ground_truth_is_the_scene(result: Run) -> None:
    res, _, _ = result
    data = PersonData.load(res.data_path)
    assert data.num_people == 2  # the passer-by (one view) is not a person
    truth = convert_keypoints(_scene()[:2], "mediapipe33", "h36m17")[0]  # person 0 at x = -1
    ok = np.isfinite(data.points_world).all(axis=(-1, -2))
    assert ok.sum() == 2 * (FRAMES - 1)
    np.testing.assert_allclose(data.points_world[ok], truth[ok], atol=1e-6)
    assert res.quality.reprojection_error_px < 1e-4
    assert res.quality.bone_length_std_mm < 1e-3  # rigid bodies
    assert res.quality.rejected_fraction == 0.0
    # ideal 2D = the detector's exact 2D at the limb joints (copied landmarks); derived joints
    # (root = mid-hip, ...) differ by the perspective: a projected mean is not a mean projected
    ideal = data.ideal_2d()
    blaze = data.blazepose_2d()
    seen = np.isfinite(blaze).all(axis=(-1, -2))
    limbs = [1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16]
    np.testing.assert_allclose(ideal[seen][:, limbs], blaze[seen][:, limbs], atol=1e-6)
    assert np.abs(ideal[seen] - blaze[seen]).max() < 5.0


def test_empty_frame_reported_and_skipped(result: Run) -> None:
    res, _, _ = result
    assert res.empty_frames == (EMPTY_FRAME,)
    assert res.frames_without_people == (EMPTY_FRAME,)
    assert res.samples == 2 * (FRAMES - 1) * 4


def test_scores_rows_and_ratios(result: Run) -> None:
    res, _, _ = result
    assert [(r.model, r.input) for r in res.scores] == [
        ("blazepose_world", "image"),
        ("flat", "blazepose_2d"),
        ("flat", "ideal_2d"),
    ]
    ref = res.score("blazepose_world")
    # BlazePose's own 3D is the truth plus 1 cm noise per axis
    assert 5.0 < ref.overall.p_mpjpe_mm < 25.0
    flat = res.score("flat", "blazepose_2d")
    assert flat.overall.p_mpjpe_mm > ref.overall.p_mpjpe_mm
    assert flat.p_mpjpe_ratio == pytest.approx(flat.overall.p_mpjpe_mm / ref.overall.p_mpjpe_mm)
    # exact 2D: both inputs nearly the same here (see the derived joints above)
    assert res.score("flat", "ideal_2d").overall.p_mpjpe_mm == pytest.approx(flat.overall.p_mpjpe_mm, rel=0.02)
    assert set(flat.per_view) == set(NAMES) and set(flat.per_person) == {"0", "1"}
    assert set(flat.overall.p_mpjpe_by_part_mm) == {"legs", "trunk_head", "arms"}
    assert "BlazePose" in res.definitions["ground_truth"] and "posesynth" in res.definitions["flat"]
    doc = json.loads(json.dumps(res.to_dict(), default=str))
    assert doc["scores"][0]["overall"]["samples"] == res.samples


def test_warm_run_reads_the_cache(result: Run, demo: DemoFiles) -> None:
    res, cache, det = result
    again = run_real_benchmark({"flat": FlatLifter()}, cache_dir=cache, demo=demo, detector=det)
    assert again.cached and not res.cached
    assert again.data_path == res.data_path
    assert again.score("flat", "blazepose_2d").overall == res.score("flat", "blazepose_2d").overall
    # another frame selection is another cache entry
    fewer = run_real_benchmark(
        {"flat": FlatLifter()}, options=BenchmarkOptions(frames=6), cache_dir=cache, demo=demo, detector=det
    )
    assert fewer.data_path != res.data_path and fewer.frames == 6


def test_missing_camera_is_one_clear_error(demo: DemoFiles, tmp_path: Path) -> None:
    calib = tmp_path / "Calib.qca.txt"
    cams = _cameras()
    write_qca(cams[:3], NAMES[:3], calib)
    broken = DemoFiles(root=demo.root, calibration=calib, videos=demo.videos)
    with pytest.raises(ValueError, match=r"Calib.qca.txt: no camera 'cam04' for video cam04.avi"):
        run_real_benchmark(
            {"flat": FlatLifter()}, cache_dir=tmp_path, demo=broken, detector=FakeDetector(cams, _scene())
        )


def test_unreadable_video_is_one_clear_error(demo: DemoFiles, tmp_path: Path) -> None:
    bad = tmp_path / "cam02.avi"
    bad.write_text("not a video", encoding="ascii")
    videos = (demo.videos[0], bad, *demo.videos[2:])
    broken = DemoFiles(root=demo.root, calibration=demo.calibration, videos=videos)
    with pytest.raises(ValueError, match=r"cam02.avi: cannot read the video"):
        run_real_benchmark(
            {"flat": FlatLifter()}, cache_dir=tmp_path, demo=broken, detector=FakeDetector(_cameras(), _scene())
        )


def test_association_picks_consistent_views() -> None:
    """Two people, detections listed in a different order per view: the right pairs win."""
    cams = _cameras()
    scene = _scene()[:2, 0][:, [0, 11, 12, 23, 24, 25, 26]]  # (2, J, 3)
    uv = cams.project_world(scene[:, None])  # (2, V, J, 2)
    kp = np.stack([uv[::-1, v] if v % 2 else uv[:, v] for v in range(4)])  # (V, K=2, J, 2)
    assign, points = associate_frame(kp, np.ones(kp.shape[:-1]), cams, max_error_px=20.0)
    assert assign.shape == (2, 4)
    for row, p in zip(assign, points, strict=True):
        person = 0 if np.allclose(p, scene[0], atol=1e-6) else 1
        np.testing.assert_allclose(p, scene[person], atol=1e-6)
        assert row.tolist() == [person, 1 - person, person, 1 - person]


def test_cli_help_and_error_line(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["benchmark", "real", "--help"])
    assert out.exit_code == 0 and "--frames" in out.output and "--model" in out.output
    # a cached sdist without the recording: one error line, no download, no traceback
    base = tmp_path / "pose2sim-0.10.49"
    base.mkdir()
    with tarfile.open(base / "pose2sim-0.10.49.tar.gz", "w:gz") as tf:
        info = tarfile.TarInfo("pose2sim-0.10.49/README.md")
        tf.addfile(info)
    out = runner.invoke(app, ["benchmark", "real", "--cache", str(tmp_path), "--model", "everyday"])
    assert out.exit_code != 0
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "member" in lines[0], out.output


def test_fetch_without_download_says_so(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not in the cache"):
        fetch_demo(tmp_path, download=False)


_REAL = Path.home() / ".cache/posesynth/pose2sim-0.10.49/Demo_MultiPerson"


@pytest.mark.skipif(not (_REAL / "calibration/Calib.qca.txt").is_file(), reason="Pose2Sim demo not in the cache")
def test_real_recording_if_cached(tmp_path: Path) -> None:
    """On 8 frames of the real recording (BlazePose runs: ~10 s): two people triangulated
    within tens of pixels, BlazePose's 3D within 150 mm P-MPJPE."""
    pytest.importorskip("ai_edge_litert")
    demo = fetch_demo(download=False)
    res = run_real_benchmark({"flat": FlatLifter()}, options=BenchmarkOptions(frames=8), cache_dir=tmp_path, demo=demo)
    assert res.people == 2
    assert res.quality.reprojection_error_px < 30.0
    assert res.score("blazepose_world").overall.p_mpjpe_mm < 150.0
