"""Any detector's keypoints in: schemas, layouts (never guessed), and the COCO->H36M mapping."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posesynth.body.mappings import apply_mapping, convert_keypoints, layout_joint_names, mmpose_coco17_to_h36m17
from posesynth.data.formats.detections import BODY25_TO_COCO17, read_detections, to_h36m17

COCO = layout_joint_names("coco17")
MP33 = layout_joint_names("mediapipe33")


@pytest.fixture(scope="module")
def person():
    """Generated h36m_extended bodies seen by their cameras: true H36M-17 and COCO-17 2D px."""
    from posesynth.jobs.generate import GenerateConfig, generate_dataset

    ds = generate_dataset(GenerateConfig(samples=6, seed=11, skeleton="h36m_extended"))
    uv = ds.joints_2d
    coco, _ = convert_keypoints(uv, "h36m_extended", "coco17")
    return {"h36m": uv[:, :17], "coco": coco}


# ---------------------------------------------------------------- the COCO -> H36M mapping
def mmpose_convert_keypoint_definition(kp: np.ndarray) -> np.ndarray:
    """MMPose's COCO -> Human3.6M conversion for its lifting demo
    (``convert_keypoint_definition``, pose_det_dataset 'coco', pose_lift_dataset 'h36m'),
    transcribed: pelvis = hip midpoint, thorax = shoulder midpoint, spine = midpoint of
    those, head = eye midpoint, the rest rearranged."""
    out = np.zeros(kp.shape[:-2] + (17, kp.shape[-1]))
    out[..., 0, :] = (kp[..., 11, :] + kp[..., 12, :]) / 2
    out[..., 8, :] = (kp[..., 5, :] + kp[..., 6, :]) / 2
    out[..., 7, :] = (out[..., 0, :] + out[..., 8, :]) / 2
    out[..., 10, :] = (kp[..., 1, :] + kp[..., 2, :]) / 2
    out[..., [1, 2, 3, 4, 5, 6, 9, 11, 12, 13, 14, 15, 16], :] = kp[
        ..., [12, 14, 16, 11, 13, 15, 0, 5, 7, 9, 6, 8, 10], :
    ]
    return out


def test_mmpose_coco_mapping_equals_mmposes_own_formula(person):
    got, _ = apply_mapping(mmpose_coco17_to_h36m17(), person["coco"])
    np.testing.assert_allclose(got, mmpose_convert_keypoint_definition(person["coco"]), atol=1e-9)


def test_default_coco_mapping_limbs_exact_and_derived_joints_close(person):
    got, conf = to_h36m17(person["coco"], "coco17")
    assert (conf == 1).all()
    true = person["h36m"]
    limbs = [1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16]
    np.testing.assert_allclose(got[:, limbs], true[:, limbs], atol=1e-9)
    np.testing.assert_allclose(got[:, 0], (person["coco"][:, 11] + person["coco"][:, 12]) / 2)
    np.testing.assert_allclose(got[:, 8], (person["coco"][:, 5] + person["coco"][:, 6]) / 2)
    np.testing.assert_allclose(got[:, 7], (got[:, 0] + got[:, 8]) / 2)
    # neck_base and head are derived from the face: close to the body's own, in pixels
    size = np.ptp(true, axis=1).max(axis=1)  # body height in px
    err = np.linalg.norm(got[:, [9, 10]] - true[:, [9, 10]], axis=-1) / size[:, None]
    assert err.max() < 0.08


# --------------------------------------------------------------------------- the schemas
def _write(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc))
    return path


def test_mmpose_predictions_with_an_empty_frame_and_two_people(tmp_path, person):
    coco = person["coco"]
    inst = lambda i, s: {"keypoints": coco[i].tolist(), "keypoint_scores": [s] * 17, "bbox": [[0, 0, 1, 1]]}
    doc = {
        "meta_info": {"dataset_name": "coco", "num_keypoints": 17},
        "instance_info": [
            {"frame_id": 0, "instances": [inst(0, 0.9)]},
            {"frame_id": 1, "instances": []},
            {"frame_id": 2, "instances": [inst(1, 0.3), inst(2, 0.8)]},
        ],
    }
    det = read_detections(_write(tmp_path / "mmpose.json", doc))
    assert (det.schema, det.layout) == ("mmpose", "coco17")
    assert det.frames == ("0", "2") and det.empty_frames == ("1",) and det.people == (1, 2)
    np.testing.assert_allclose(det.source_keypoints[1], coco[2])  # the more confident person
    np.testing.assert_allclose(det.keypoints_2d, to_h36m17(coco[[0, 2]], "coco17")[0])
    with pytest.raises(ValueError, match="--layout h36m17 contradicts the file"):
        read_detections(tmp_path / "mmpose.json", layout="h36m17")
    # MMPoseInferencer's per-image list of instances
    det = read_detections(_write(tmp_path / "inf.json", [inst(3, 0.7)]))
    assert det.layout == "coco17"


def test_coco_results_and_yolo(tmp_path, person):
    coco = person["coco"]
    flat = lambda i: np.concatenate([coco[i], np.full((17, 1), 2.0)], 1).ravel().tolist()
    det = read_detections(
        _write(
            tmp_path / "res.json",
            [
                {"image_id": 5, "category_id": 1, "keypoints": flat(0), "score": 0.9},
                {"image_id": 7, "category_id": 1, "keypoints": flat(1), "score": 0.9},
            ],
        )
    )
    assert (det.schema, det.layout, det.frames) == ("coco", "coco17", ("5", "7"))
    np.testing.assert_allclose(det.source_keypoints, coco[:2])
    yolo = [
        {
            "name": "person",
            "class": 0,
            "confidence": 0.9,
            "box": {"x1": 0, "y1": 0, "x2": 1, "y2": 1},
            "keypoints": {"x": coco[4, :, 0].tolist(), "y": coco[4, :, 1].tolist(), "visible": [0.9] * 17},
        }
    ]
    det = read_detections(_write(tmp_path / "yolo.json", yolo))
    assert (det.schema, det.layout) == ("yolo", "coco17")
    np.testing.assert_allclose(det.source_keypoints[0], coco[4])


def _body25(coco: np.ndarray) -> np.ndarray:
    """A BODY_25 pose from COCO-17 (neck, mid hip and feet filled in)."""
    b = np.zeros((25, 3))
    b[list(BODY25_TO_COCO17), :2] = coco
    b[1, :2] = coco[[5, 6]].mean(0)
    b[8, :2] = coco[[11, 12]].mean(0)
    b[19:25, :2] = coco[[15, 15, 15, 16, 16, 16]]
    b[:, 2] = 0.8
    return b


def test_openpose_folder_with_an_empty_frame(tmp_path, person):
    folder = tmp_path / "op"
    folder.mkdir()
    for t in range(3):
        people = (
            [] if t == 1 else [{"person_id": [-1], "pose_keypoints_2d": _body25(person["coco"][t]).ravel().tolist()}]
        )
        _write(folder / f"video_{t:012d}_keypoints.json", {"version": 1.3, "people": people})
    det = read_detections(folder)
    assert (det.schema, det.layout) == ("openpose", "body25")
    assert det.empty_frames == ("video_000000000001_keypoints.json",)
    np.testing.assert_allclose(det.keypoints_2d, to_h36m17(person["coco"][[0, 2]], "coco17")[0])
    # a missing point (0, 0, 0) is NaN, not the image corner
    b = _body25(person["coco"][0])
    b[4] = 0
    det = read_detections(_write(tmp_path / "one.json", {"people": [{"pose_keypoints_2d": b.ravel().tolist()}]}))
    assert np.isnan(det.source_keypoints[0, 4]).all() and det.source_confidence[0, 4] == 0
    assert np.isnan(det.keypoints_2d[0, 16]).all()  # right wrist


def test_mediapipe_json_normalised_to_pixels(tmp_path, person):
    w, h = 1280, 720
    pts = np.full((33, 2), 0.5)
    for name, xy in zip(COCO, person["coco"][0]):
        pts[MP33.index(name)] = xy / [w, h]
    doc = {
        "image_width": w,
        "image_height": h,
        "landmarks": [{"x": x, "y": y, "z": 0.0, "visibility": 0.9} for x, y in pts],
    }
    det = read_detections(_write(tmp_path / "mp.json", doc))
    assert (det.schema, det.layout) == ("mediapipe", "mediapipe33")
    np.testing.assert_allclose(det.keypoints_2d[0], to_h36m17(person["coco"][0], "coco17")[0], atol=1e-9)
    del doc["image_width"]
    with pytest.raises(ValueError, match="image_width and image_height"):
        read_detections(_write(tmp_path / "mp2.json", doc))


def test_bare_arrays_need_a_layout_for_17_joints(tmp_path, person):
    np.save(tmp_path / "k17.npy", person["h36m"][0])
    with pytest.raises(
        ValueError, match=r"17 joints is ambiguous between h36m17 and coco17; name the layout with --layout"
    ):
        read_detections(tmp_path / "k17.npy")
    det = read_detections(tmp_path / "k17.npy", layout="h36m17")
    np.testing.assert_array_equal(det.keypoints_2d[0], person["h36m"][0])
    det = read_detections(tmp_path / "k17.npy", layout="coco17")
    assert det.layout == "coco17"
    np.save(tmp_path / "k25.npy", _body25(person["coco"][0]))
    assert read_detections(tmp_path / "k25.npy").layout == "body25"
    with pytest.raises(ValueError, match="expects 17 joints"):
        read_detections(tmp_path / "k25.npy", layout="coco17")
    _write(tmp_path / "named.json", {"keypoints": person["coco"][0].tolist(), "layout": "coco17"})
    assert read_detections(tmp_path / "named.json").layout == "coco17"
    _write(tmp_path / "own.json", {"keypoints_2d": person["h36m"][0].tolist()})
    assert read_detections(tmp_path / "own.json").layout == "h36m17"
    with pytest.raises(ValueError, match="unknown keypoints schema"):
        read_detections(_write(tmp_path / "x.json", {"foo": 1}))
    with pytest.raises(ValueError, match="--layout: expected one of"):
        read_detections(tmp_path / "k17.npy", layout="coco18")


def test_lifter_predict_takes_any_layout(person):
    pytest.importorskip("torch")
    from posesynth.lift import load_lifter

    lifter = load_lifter("everyday")
    via_coco = lifter.predict(person["coco"], layout="coco17")
    direct = lifter.predict(to_h36m17(person["coco"], "coco17")[0])
    np.testing.assert_allclose(via_coco, direct)
