"""The generate job end to end: determinism, provenance, atomicity, configuration errors."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from posesynth.body.angles import angle_names
from posesynth.body.rom import rom_table
from posesynth.body.skeleton import get_skeleton
from posesynth.data.store import open_store
from posesynth.geometry.camera import Camera
from posesynth.jobs.generate import generate, load_config
from posesynth.poses.procedural import KNEE_CLEARANCE


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    cfg = load_config(samples=700, seed=3, shard_size=300)
    generate(cfg, tmp_path / "a")
    generate(cfg, tmp_path / "b")
    generate(load_config(samples=700, seed=4, shard_size=300), tmp_path / "c")
    a, b, c = (tree_digest(tmp_path / k) for k in "abc")
    assert a == b
    assert a["shards/000000/joints_2d.npy"] != c["shards/000000/joints_2d.npy"]
    assert "preview.png" in a


@pytest.mark.parametrize("model", ["pinhole", "opencv", "fisheye", "h36m"])
def test_store_contents_are_consistent(tmp_path, model):
    cfg = load_config(samples=400, seed=1, skeleton="h36m_extended", camera_model=model, dtype="float64")
    summary = generate(cfg, tmp_path / "d", preview=False)
    store = open_store(tmp_path / "d")
    skeleton = get_skeleton("h36m_extended")
    meta = store.meta
    assert meta["seed"] == 1 and meta["config"]["camera"]["model"] == model
    assert meta["skeleton"] == skeleton.to_dict() and meta["version"]
    assert summary.samples == store.samples == 400
    world = store.read("joints_3d_world")
    assert world.shape == (400, skeleton.num_joints, 3)
    cams = Camera(
        model=model,
        intrinsics=store.read("camera_intrinsics"),
        distortion=store.read("camera_distortion"),
        rotation=store.read("camera_rotation"),
        center=store.read("camera_center"),
        image_size=store.read("camera_image_size"),
    )
    # the stored cameras reproduce the stored camera-frame 3D and 2D
    np.testing.assert_allclose(cams.world_to_camera(world), store.read("joints_3d_camera"), atol=1e-9)
    np.testing.assert_allclose(cams.project_world(world), store.read("joints_2d"), atol=1e-6)
    assert store.read("visibility").mean() > 0.98
    # every stored angle lies inside the range of motion
    angles = store.read("angles")
    table = rom_table(skeleton)
    for k, name in enumerate(angle_names(skeleton)):
        lo, hi = table[name].bounds
        assert lo - 1e-9 <= angles[:, k].min() and angles[:, k].max() <= hi + 1e-9, name
    # on the ground: the feet, or the knees of kneeling poses (at the knee clearance)
    feet = [skeleton.index(n) for n in skeleton.joint_names if n.endswith(("heel", "toe"))]
    knees = list(skeleton.indices(["right_knee", "left_knee"]))
    knee_gap = world[:, knees, 2].min(axis=1) - KNEE_CLEARANCE * store.read("height")
    np.testing.assert_allclose(np.minimum(world[:, feet, 2].min(axis=1), knee_gap), 0.0, atol=1e-9)


def test_angle_limits_from_config_file(tmp_path):
    cfg_file = tmp_path / "everyday.yaml"
    cfg_file.write_text("samples: 300\nangle_limits_deg:\n  knee_flexion: [0, 60]\nactivities: {stand: 1, squat: 1}\n")
    summary = generate(load_config(cfg_file), tmp_path / "e", preview=False)
    for side in ("left", "right"):
        cov = summary.angle_coverage[f"{side}_knee_flexion"]
        assert cov.max_deg <= 60.0 + 1e-6 and cov.min_deg >= -1e-6
    assert {k for k, v in summary.activities.items() if v} <= {"stand", "squat"}


@pytest.mark.parametrize(
    "text, field",
    [
        ("samples: -5\n", "samples"),
        ("samples: lots\n", "samples"),
        ("skeleton: octopus\n", "skeleton"),
        ("camera: {model: orthographic}\n", "camera.model"),
        ("camera: {fov_deg: [80, 30]}\n", "camera.fov_deg"),
        ("activities: {juggle: 1}\n", "activities"),
        ("angle_limits_deg: {knee_flexion: [0, 200]}\n", "range of motion"),
        ("sample: 10\n", "sample"),
        ("- just\n- a list\n", "mapping"),
        ("samples: [\n", "YAML"),
    ],
)
def test_bad_config_names_the_field(tmp_path, text, field):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as err:
        load_config(path)
    assert field in str(err.value) and "bad.yaml" in str(err.value)


def test_cli_bad_config_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("samples: 0\n")
    proc = subprocess.run(
        [sys.executable, "-m", "posesynth.cli.main", "generate", "--config", str(path), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "samples" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


def test_interrupted_generate_leaves_nothing(tmp_path):
    out = tmp_path / "big"
    log = tmp_path / "stderr.txt"
    with log.open("wb") as err:  # the traceback behind the error line, should this ever fail
        proc = subprocess.Popen(
            [sys.executable, "-m", "posesynth.cli.main", "generate", "--out", str(out), "--samples", "5000000"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "POSESYNTH_DEBUG": "1"},
        )
    deadline = time.time() + 60
    while time.time() < deadline and not list(tmp_path.glob("big.partial-*/shards/*")):
        time.sleep(0.05)
    assert list(tmp_path.glob("big.partial-*/shards/*")), "generation never started writing"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert not out.exists()
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("big.partial-*/**/*"))
    why = f"exit {proc.returncode}; left {left[:10]}; stderr: {log.read_text(errors='replace')[-1500:]}"
    assert not list(tmp_path.glob("big.partial-*")), why


def test_json_summary_on_stdout(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "posesynth.cli.main",
            "generate",
            "--out",
            str(tmp_path / "j"),
            "--samples",
            "200",
            "--seed",
            "5",
            "--json",
            "--no-preview",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["samples"] == 200 and doc["seed"] == 5 and "right_knee_flexion" in doc["angle_coverage"]


def test_activity_weights_refuse_nan_and_unknown_names():
    from posesynth.jobs.generate import GenerateConfig

    with pytest.raises(ValueError, match="positive sum"):
        GenerateConfig(activities={"squat": float("nan")})
    with pytest.raises(ValueError, match="unknown activities"):
        GenerateConfig(activities={"juggling": 1.0})
