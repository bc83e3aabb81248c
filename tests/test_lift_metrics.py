"""Lifter metrics against hand-computed cases (NumPy only: runs without torch)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posesynth.body.skeleton import H36M17
from posesynth.lift import metrics as m


@pytest.fixture()
def poses() -> np.ndarray:
    """(8, 17, 3) random root-relative-ish poses, metres."""
    return np.random.default_rng(0).normal(scale=0.3, size=(8, 17, 3))


def test_metrics_import_without_torch() -> None:
    code = "import sys, posesynth.lift.metrics, posesynth.cli.main; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_p_mpjpe_of_similar_copy_is_zero(poses: np.ndarray) -> None:
    r = Rotation.random(len(poses), random_state=1).as_matrix()  # (8, 3, 3)
    scale = np.linspace(0.5, 2.0, len(poses))[:, None, None]
    t = np.random.default_rng(2).normal(size=(len(poses), 1, 3))
    pred = scale * np.einsum("nij,nkj->nki", r, poses) + t
    assert m.p_mpjpe(pred, poses) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(m.procrustes_align(pred, poses), poses, atol=1e-12)
    assert m.mpjpe(pred, poses) > 0.1


def test_procrustes_is_reflection_free_and_optimal(poses: np.ndarray) -> None:
    mirrored = poses * np.array([-1.0, 1.0, 1.0])
    assert m.p_mpjpe(mirrored, poses) > 0.05  # a reflection cannot be undone
    aligned = m.procrustes_align(mirrored, poses)
    # no better than the best similarity: identity is one candidate
    assert ((aligned - poses) ** 2).sum() <= ((mirrored - poses) ** 2).sum()


def test_mpjpe_of_constant_offset(poses: np.ndarray) -> None:
    offset = np.array([0.03, -0.04, 0.0])  # 50 mm, on every joint but the root
    pred = poses.copy()
    pred[:, 1:] += offset
    err = m.joint_errors(pred, poses)
    np.testing.assert_allclose(err[:, 1:], 0.05, atol=1e-12)
    np.testing.assert_allclose(err[:, 0], 0.0, atol=1e-15)
    # MPJPE averages the 17 joints, root (error 0) included, as in Human3.6M's protocol
    assert m.mpjpe(pred, poses) == pytest.approx(0.05 * 16 / 17)
    # a whole-pose translation is removed by root alignment
    assert m.mpjpe(poses + np.array([1.0, 2.0, 3.0]), poses) == pytest.approx(0.0, abs=1e-12)


def test_n_mpjpe_of_scaled_copy_is_zero(poses: np.ndarray) -> None:
    pred = 1.37 * (poses - poses[:, :1]) + np.array([0.2, 0.0, 4.0])
    assert m.n_mpjpe(pred, poses) == pytest.approx(0.0, abs=1e-12)
    assert m.mpjpe(pred, poses) > 0.05
    # rotation is not undone by scale alignment
    r = Rotation.from_euler("z", 90, degrees=True).as_matrix()
    assert m.n_mpjpe(poses @ r.T, poses) > 0.05


def test_pck_and_auc_on_constructed_errors() -> None:
    errors = np.full((4, 16), 100.0)  # mm
    assert m.pck(errors, 150.0) == 1.0
    # thresholds 0, 5, ..., 150: 100 is strictly below 105..150, i.e. 10 of 31
    assert m.auc(errors, m.AUC_THRESHOLDS_M * 1000) == pytest.approx(10 / 31)
    mixed = np.array([0.0, 50.0, 149.9, 150.0, 400.0])
    assert m.pck(mixed, 150.0) == pytest.approx(3 / 5)  # strictly below
    assert m.auc(np.zeros(3), m.AUC_THRESHOLDS_M * 1000) == pytest.approx(30 / 31)
    with pytest.raises(ValueError, match="empty"):
        m.pck(np.array([]))


def test_bone_length_error_of_stretched_bone(poses: np.ndarray) -> None:
    pred = poses.copy()
    knee, foot = H36M17.index("right_knee"), H36M17.index("right_foot")
    shin = poses[:, foot] - poses[:, knee]
    pred[:, foot] += 0.04 * shin / np.linalg.norm(shin, axis=-1, keepdims=True)  # +40 mm
    assert m.bone_length_error(pred, poses, H36M17.parents) == pytest.approx(0.04 / 16)
    doc = m.lift_metrics(pred, poses, H36M17)
    assert doc["bone_length_error_mm"] == pytest.approx(40.0 / 16)


def test_lift_metrics_document(poses: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    pred = poses + rng.normal(scale=0.02, size=poses.shape)
    doc = m.lift_metrics(pred, poses, H36M17)
    for key in ("samples", "mpjpe_mm", "p_mpjpe_mm", "n_mpjpe_mm", "pck3d_150", "auc",
                "bone_length_error_mm", "per_joint_mpjpe_mm", "by_knee_flexion"):  # fmt: skip
        assert key in doc
    assert doc["samples"] == len(poses)
    assert list(doc["per_joint_mpjpe_mm"]) == list(H36M17.joint_names)
    assert doc["per_joint_mpjpe_mm"]["root"] == 0.0
    assert doc["mpjpe_mm"] == pytest.approx(np.mean(list(doc["per_joint_mpjpe_mm"].values())))
    assert doc["p_mpjpe_mm"] <= doc["mpjpe_mm"] + 1e-9
    bins = doc["by_knee_flexion"]
    assert list(bins) == list(m.KNEE_BIN_LABELS)
    assert sum(b["samples"] for b in bins.values()) == 2 * len(poses)  # one entry per leg


def test_body_parts_partition_the_non_root_joints() -> None:
    from posesynth.body.skeleton import H36M_EXTENDED

    parts = m.body_parts(H36M17)
    names = {p: [H36M17.joint_names[j] for j in idx] for p, idx in parts.items()}
    assert names["arms"] == ["left_elbow", "left_wrist", "right_elbow", "right_wrist"]
    assert names["legs"] == ["right_hip", "right_knee", "right_foot", "left_hip", "left_knee", "left_foot"]
    assert names["trunk_head"] == ["spine", "thorax", "neck_base", "head", "left_shoulder", "right_shoulder"]
    for skeleton in (H36M17, H36M_EXTENDED):
        joined = sorted(j for idx in m.body_parts(skeleton).values() for j in idx)
        assert joined == list(range(1, skeleton.num_joints))  # each joint once, root left out
    ext = {H36M_EXTENDED.joint_names[j] for j in m.body_parts(H36M_EXTENDED)["legs"]}
    assert {"left_big_toe", "right_heel"} <= ext


def test_by_body_part_means(poses: np.ndarray) -> None:
    pred = poses.copy()
    wrist = H36M17.index("left_wrist")
    pred[:, wrist, 2] += 0.08  # 80 mm on one of the 4 arm joints, nothing elsewhere
    doc = m.lift_metrics(pred, poses, H36M17)
    assert doc["by_body_part_mm"] == pytest.approx({"legs": 0.0, "trunk_head": 0.0, "arms": 20.0})
    errors = np.arange(17.0)[None].repeat(3, axis=0)
    got = m.by_body_part(errors, H36M17)
    assert got["arms"] == pytest.approx(np.mean([12, 13, 15, 16]))
    with pytest.raises(ValueError, match=r"errors: expected shape \(\.\.\., 17\)"):
        m.by_body_part(errors[:, :16], H36M17)


def test_by_knee_flexion_bins() -> None:
    from posesynth.body.angles import local_from_angles
    from posesynth.body.kinematics import default_rest_offsets, forward_kinematics

    flex = np.deg2rad([10.0, 45.0, 100.0, 160.0])
    local = local_from_angles({"right_knee_flexion": flex, "left_knee_flexion": np.zeros(4)}, H36M17)
    pos = forward_kinematics(local, default_rest_offsets(H36M17), H36M17)
    pose_err = np.array([1.0, 2.0, 3.0, 4.0])
    knee = {"left": np.zeros(4), "right": np.array([10.0, 20.0, 30.0, 40.0])}
    bins = m.by_knee_flexion(pos, pose_err, knee, H36M17)
    assert bins["0-30"]["samples"] == 5  # 4 straight left legs + the 10° right one
    assert bins["30-60"] == {"samples": 1, "mpjpe_mm": 2.0, "knee_mm": 20.0}
    assert bins["90-120"] == {"samples": 1, "mpjpe_mm": 3.0, "knee_mm": 30.0}
    assert bins["150+"] == {"samples": 1, "mpjpe_mm": 4.0, "knee_mm": 40.0}
    assert bins["60-90"] == {"samples": 0, "mpjpe_mm": None, "knee_mm": None}


def test_shape_errors(poses: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"pred: expected the shape of gt"):
        m.mpjpe(poses[:, :16], poses)
    with pytest.raises(ValueError, match=r"expected shape \(N, 17, 3\)"):
        m.lift_metrics(poses[0], poses[0], H36M17)


def test_cli_without_torch_says_which_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from posesynth.cli.main import app\n"
        f"app(['train', {str(tmp_path)!r}, '--out', {str(tmp_path / 'c')!r}])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        ("error: the lifter needs the 'train' extra (module 'torch' is missing): pip install 'posesynth[train]'")
    ]
