"""``posesynth evaluate --keypoints``: any detector's 2D scored against a data set's 3D.

The keypoint files are written here from each format's documented schema, in that format's own
joint order (COCO's, OpenPose BODY_25's, MediaPipe's), from generated bodies that carry face
points. The reference is the data set evaluated on its own 2D, where that 2D is what the
COCO -> Human3.6M-17 mapping gives (its documented formula, written out below): there the
mapping is exact, so the figures must be equal.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import assert_one_error_line
from posesynth.cli.main import app

pytest.importorskip("torch")
pytest.importorskip("safetensors")

runner = CliRunner()
CKPT = "shipped:everyday"
N = 12
W, H = 1000, 1000  # the generated cameras' image size

#: COCO-17, from the COCO keypoints documentation ("keypoints" of the person category).
COCO_ORDER = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
              "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
              "right_knee", "left_ankle", "right_ankle")  # fmt: skip
#: OpenPose BODY_25 (output_format doc, POSE_BODY_25_BODY_PARTS), as names of the bodies here.
BODY25_ORDER = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
                "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
                "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe",
                "left_heel", "right_big_toe", "right_small_toe", "right_heel")  # fmt: skip
#: MediaPipe Pose landmarks (PoseLandmark enum order).
MEDIAPIPE_ORDER = ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
                   "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
                   "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
                   "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
                   "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
                   "right_heel", "left_foot_index", "right_foot_index")  # fmt: skip


@pytest.fixture(scope="module")
def bodies(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A generated data set with face points (``exact``: its H36M-17 2D replaced by the COCO
    mapping's, written as a store) and its 2D per joint name."""
    from posesynth.data.formats.registry import read_any, write_any
    from posesynth.jobs.generate import GenerateConfig, generate_dataset

    ds = generate_dataset(GenerateConfig(samples=N, seed=5, skeleton="h36m_extended"))
    names = ds.skeleton.joint_names
    uv = np.asarray(ds.joints_2d, dtype=np.float64)
    point = {name: uv[:, names.index(name)] for name in names}
    point["right_ankle"], point["left_ankle"] = point["right_foot"], point["left_foot"]
    mid = lambda a, b: (point[a] + point[b]) / 2
    # the mapping's documented formula (docs/keypoints.md), written out independently
    root, thorax = mid("left_hip", "right_hip"), mid("left_shoulder", "right_shoulder")
    mapped = dict(point)
    mapped.update(
        root=root,
        thorax=thorax,
        spine=(root + thorax) / 2,
        neck_base=0.4 * thorax + 0.15 * point["nose"] + 0.45 * mid("left_ear", "right_ear"),
        head=-0.8 * point["nose"] + 1.1 * mid("left_eye", "right_eye") + 0.7 * mid("left_ear", "right_ear"),
    )
    exact_uv = uv.copy()
    for j, name in enumerate(names[:17]):
        exact_uv[:, j] = mapped[name]
    root_dir = tmp_path_factory.mktemp("evalkp")
    exact = replace(ds, joints_2d=exact_uv, frame=np.arange(100, 100 + N))
    write_any(exact, root_dir / "exact", "posesynth")
    own = root_dir / "own"
    write_any(ds, own, "posesynth")
    # OpenPose's extra points: neck and mid-hip (midpoints), feet from the body's own toes/heels
    point["neck"], point["mid_hip"] = thorax, root
    return {"dir": root_dir, "exact": read_any(root_dir / "exact"), "own": own, "point": point, "uv17": uv[:, :17]}


def _evaluate(data: Path, *extra: str) -> dict:
    result = runner.invoke(app, ["evaluate", CKPT, str(data), "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _same_figures(doc: dict, ref: dict, atol: float = 0.0) -> None:
    for key in ("samples", "mpjpe_mm", "p_mpjpe_mm", "n_mpjpe_mm", "pck3d_150", "auc", "bone_length_error_mm"):
        np.testing.assert_allclose(doc[key], ref[key], rtol=0, atol=atol, err_msg=key)
    for joint, value in ref["per_joint_mpjpe_mm"].items():
        np.testing.assert_allclose(doc["per_joint_mpjpe_mm"][joint], value, rtol=0, atol=atol, err_msg=joint)


def _coco_results(point: dict, order: list[int]) -> list[dict]:
    out = []
    for i in order:
        flat = [v for name in COCO_ORDER for v in (*point[name][i].tolist(), 2)]
        out.append({"image_id": 100 + i, "category_id": 1, "keypoints": flat, "score": 0.9})
    return out


def test_coco_results_equal_the_data_sets_own_2d(bodies: dict) -> None:
    path = bodies["dir"] / "coco.json"
    path.write_text(json.dumps(_coco_results(bodies["point"], list(range(N)))))
    ref = _evaluate(bodies["dir"] / "exact")
    doc = _evaluate(bodies["dir"] / "exact", "--keypoints", str(path))
    _same_figures(doc, ref, atol=1e-9)
    assert ref["keypoints_2d"]["source"] == "dataset"
    scored = doc["keypoints_2d"]
    assert (scored["source"], scored["layout"], scored["schema"], scored["mapped_to"], scored["paired_by"]) == (
        "file", "coco17", "coco", "h36m17", "index",
    )  # fmt: skip
    human = runner.invoke(app, ["evaluate", CKPT, str(bodies["dir"] / "exact"), "--keypoints", str(path)])
    assert human.exit_code == 0, human.output
    assert f"2D scored: {path} (coco17, coco schema) mapped to H36M-17, paired by index" in " ".join(
        human.stdout.split()
    )


def test_order_matters_the_mapping_is_not_skipped(bodies: dict) -> None:
    """The same file read as if it were H36M-17 gives other figures (the check can fail)."""
    uv = np.stack([bodies["point"][name] for name in COCO_ORDER], axis=1)
    path = bodies["dir"] / "coco17-as-array.json"
    path.write_text(json.dumps(uv.tolist()))
    ref = _evaluate(bodies["dir"] / "exact")
    as_coco = _evaluate(bodies["dir"] / "exact", "--keypoints", str(path), "--layout", "coco17")
    as_h36m = _evaluate(bodies["dir"] / "exact", "--keypoints", str(path), "--layout", "h36m17")
    _same_figures(as_coco, ref, atol=1e-9)
    assert abs(as_h36m["mpjpe_mm"] - ref["mpjpe_mm"]) > 1.0


def test_h36m17_array_equals_the_data_sets_own_2d_exactly(bodies: dict) -> None:
    path = bodies["dir"] / "h36m.npy"
    np.save(path, bodies["uv17"])
    ref = _evaluate(bodies["own"])
    doc = _evaluate(bodies["own"], "--keypoints", str(path), "--layout", "h36m17")
    _same_figures(doc, ref)
    assert doc["keypoints_2d"]["describe"] == f"{path} (h36m17, array schema), paired by index"


def test_openpose_folder_body25(bodies: dict) -> None:
    folder = bodies["dir"] / "openpose"
    folder.mkdir()
    point = bodies["point"]
    for i in range(N):
        flat = [v for name in BODY25_ORDER for v in (*point[name][i].tolist(), 0.8)]
        doc = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": flat}]}
        (folder / f"clip_{i:012d}_keypoints.json").write_text(json.dumps(doc))
    ref = _evaluate(bodies["dir"] / "exact")
    doc = _evaluate(bodies["dir"] / "exact", "--keypoints", str(folder))
    _same_figures(doc, ref, atol=1e-9)
    assert (doc["keypoints_2d"]["layout"], doc["keypoints_2d"]["schema"]) == ("body25", "openpose")


def test_mediapipe_normalised_landmarks(bodies: dict) -> None:
    point = bodies["point"]
    rng = np.random.default_rng(0)
    frames = []
    for i in range(N):
        marks = []
        for name in MEDIAPIPE_ORDER:  # landmarks the mapping does not use: anywhere on the image
            xy = point[name][i] if name in point else rng.uniform(0, W, 2)
            marks.append({"x": xy[0] / W, "y": xy[1] / H, "z": 0.0, "visibility": 0.99})
        frames.append({"landmarks": marks, "image_width": W, "image_height": H})
    path = bodies["dir"] / "mediapipe.json"
    path.write_text(json.dumps(frames))
    ref = _evaluate(bodies["dir"] / "exact")
    doc = _evaluate(bodies["dir"] / "exact", "--keypoints", str(path))
    _same_figures(doc, ref, atol=1e-6)  # x / width * width: rounding only
    assert doc["keypoints_2d"]["layout"] == "mediapipe33"


def test_mmpose_predictions_paired_by_frame_id(bodies: dict) -> None:
    """Frames listed out of order pair by their frame_id with the samples' frame numbers."""
    point = bodies["point"]
    order = list(np.random.default_rng(1).permutation(N))
    info = [
        {
            "frame_id": 100 + int(i),
            "instances": [
                {
                    "keypoints": [point[name][i].tolist() for name in COCO_ORDER],
                    "keypoint_scores": [0.9] * 17,
                    "bbox": [[0, 0, W, H]],
                }
            ],
        }
        for i in order
    ]
    path = bodies["dir"] / "mmpose.json"
    path.write_text(json.dumps({"meta_info": {"dataset_name": "coco", "num_keypoints": 17}, "instance_info": info}))
    ref = _evaluate(bodies["dir"] / "exact")
    doc = _evaluate(bodies["dir"] / "exact", "--keypoints", str(path), "--pair", "frame")
    _same_figures(doc, ref, atol=1e-9)
    by_index = _evaluate(bodies["dir"] / "exact", "--keypoints", str(path))  # shuffled: wrong pairs
    assert by_index["mpjpe_mm"] > ref["mpjpe_mm"] + 1.0


def test_api_takes_keypoints(bodies: dict) -> None:
    import posesynth as ps

    path = bodies["dir"] / "coco-api.json"
    path.write_text(json.dumps(_coco_results(bodies["point"], list(range(N)))))
    ref = ps.evaluate(CKPT, bodies["exact"])
    doc = ps.evaluate(CKPT, bodies["exact"], keypoints=path)
    _same_figures(doc.to_dict(), ref.to_dict(), atol=1e-9)
    assert doc.keypoints_2d["file"] == str(path) and ref.keypoints_2d["source"] == "dataset"
    assert doc.checkpoint == CKPT and doc.figure is None


def test_count_mismatch_and_bad_pairing_are_one_error_line(bodies: dict) -> None:
    exact = str(bodies["dir"] / "exact")
    short = bodies["dir"] / "short.json"
    short.write_text(json.dumps(_coco_results(bodies["point"], list(range(N - 1)))))
    assert_one_error_line(
        runner.invoke(app, ["evaluate", CKPT, exact, "--keypoints", str(short)]),
        r"short\.json: holds 11 frames of keypoints, the data set 12 samples",
    )
    assert_one_error_line(
        runner.invoke(app, ["evaluate", CKPT, str(bodies["own"]), "--keypoints", str(short), "--pair", "frame"]),
        r"needs frame numbers in the data set",
    )
    bare = bodies["dir"] / "bare17.npy"
    np.save(bare, bodies["uv17"])
    assert_one_error_line(
        runner.invoke(app, ["evaluate", CKPT, exact, "--keypoints", str(bare)]), r"17 joints is ambiguous"
    )
    empty = bodies["dir"] / "op-empty"
    empty.mkdir()
    for i in range(N):
        people = [] if i == 3 else [{"pose_keypoints_2d": [1.0 + k for k in range(75)]}]
        (empty / f"f_{i:04d}_keypoints.json").write_text(json.dumps({"people": people}))
    assert_one_error_line(
        runner.invoke(app, ["evaluate", CKPT, exact, "--keypoints", str(empty)]), r"1 frame\(s\) have nobody in them"
    )
    assert_one_error_line(runner.invoke(app, ["evaluate", CKPT, exact, "--layout", "coco17"]), r"--keypoints only")
