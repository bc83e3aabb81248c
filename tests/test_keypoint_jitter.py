"""Random keypoint definitions: body.definitions.random_offsets / offset_joints and
data.keypoint_jitter.jitter_keypoints, and the stream's ``keypoint_jitter``."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from posesynth.body.definitions import (
    KeypointDefinition,
    apply_definition,
    body_frames,
    offset_joints,
    random_offsets,
)
from posesynth.body.skeleton import H36M17
from posesynth.data.keypoint_jitter import jitter_keypoints
from posesynth.geometry.camera.models import CameraModel
from posesynth.jobs.generate import GenerateConfig, generate_shard
from posesynth.lift.stream import SyntheticPoses

J = {n: i for i, n in enumerate(H36M17.joint_names)}
SWAP = H36M17.flip_permutation


@pytest.fixture(scope="module")
def shard():
    return generate_shard(GenerateConfig(camera={"model": "pinhole"}), np.random.SeedSequence(5), 400)


def test_random_offsets_statistics() -> None:
    t = random_offsets(np.random.default_rng(0), 40_000, 0.02)
    assert t.shape == (40_000, 17, 3) and not t[:, 0].any()
    np.testing.assert_allclose(t[:, 1:].std(axis=0), 0.02, rtol=0.05)
    # a left joint's offset, un-mirrored, follows its right partner's with correlation 0.8
    left, right = J["left_knee"], J["right_knee"]
    mirrored = t[:, left] * np.array([-1.0, 1.0, 1.0])
    for axis in range(3):
        r = np.corrcoef(mirrored[:, axis], t[:, right, axis])[0, 1]
        assert abs(r - 0.8) < 0.02
    assert not random_offsets(np.random.default_rng(0), 5, 0.0).any()
    with pytest.raises(ValueError, match="sigma"):
        random_offsets(np.random.default_rng(0), 5, -0.1)


def test_offset_joints_one_table_is_apply_definition(shard) -> None:
    d = KeypointDefinition("t", {"right_hip": (0.01, 0.02, 0.03), "head": (0.0, 0.01, -0.02)})
    p = shard.joints_3d_world
    np.testing.assert_allclose(offset_joints(p, d.table()), apply_definition(p, d), atol=1e-12)


def test_offset_joints_moves_each_joint_in_its_body_frame(shard) -> None:
    p, h = shard.joints_3d_world[:50], shard.extra["height"][:50]
    t = random_offsets(np.random.default_rng(1), 50, 0.03)
    moved = offset_joints(p, t, h)
    frames = body_frames(p)
    knee = J["right_knee"]  # a pelvis-frame joint: its move, in pelvis axes, is its offset x height
    local = np.einsum("nab,na->nb", frames[:, 0], moved[:, knee] - p[:, knee])
    np.testing.assert_allclose(local, t[:, knee] * h[:, None], atol=1e-9)
    np.testing.assert_allclose(moved[:, 0], 0.5 * (moved[:, J["right_hip"]] + moved[:, J["left_hip"]])
                               - 0.5 * (p[:, J["right_hip"]] + p[:, J["left_hip"]]) + p[:, 0], atol=1e-9)  # fmt: skip


def test_jitter_keypoints_reprojects_the_moved_keypoints(shard) -> None:
    out = jitter_keypoints(shard, 0.02, np.random.default_rng(2))
    assert out.meta["keypoint_jitter"] == 0.02 and out.cameras is shard.cameras
    moved = np.linalg.norm(out.joints_3d_world - shard.joints_3d_world, axis=-1)[:, 1:]
    expect = 0.02 * np.sqrt(8 / np.pi) * np.median(shard.extra["height"])  # mean of a 3-D normal's norm
    assert 0.7 * expect < moved.mean() < 1.3 * expect
    # 2D = the pinhole projection of the moved world points (OpenCV as the reference)
    cams = shard.sample_cameras()
    assert cams.model == CameraModel.PINHOLE
    for i in range(0, 400, 97):
        rvec, _ = cv2.Rodrigues(cams.rotation[i])
        tvec = -cams.rotation[i] @ cams.center[i]
        fx, fy, cx, cy = cams.intrinsics[i]
        k = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
        uv, _ = cv2.projectPoints(out.joints_3d_world[i], rvec, tvec, k, None)
        np.testing.assert_allclose(out.joints_2d[i], uv[:, 0], atol=1e-6)
        np.testing.assert_allclose(
            out.joints_3d_camera[i], (out.joints_3d_world[i] - cams.center[i]) @ cams.rotation[i].T, atol=1e-9
        )
    assert jitter_keypoints(shard, 0.0, np.random.default_rng(2)) is shard


def test_jitter_keypoints_errors(shard) -> None:
    from dataclasses import replace

    with pytest.raises(ValueError, match="world 3D and cameras"):
        jitter_keypoints(replace(shard, cameras=None), 0.01, np.random.default_rng(0))


def test_stream_keypoint_jitter() -> None:
    small = {"samples_per_epoch": 128, "chunk_samples": 128, "stats_samples": 200, "val_samples": 20, "workers": 0}
    plain = SyntheticPoses(small, batch_size=32, seed=4, epochs=1)
    jit = SyntheticPoses({**small, "keypoint_jitter": 0.02}, batch_size=32, seed=4, epochs=1, stats=plain.stats)
    a, b = plain.chunk(1, 0), jit.chunk(1, 0)
    assert not torch.equal(a.y, b.y) and not torch.equal(a.x, b.x)
    # the same poses underneath: the targets move by centimetres, not by a new pose
    gap = (b.y - a.y).reshape(-1, 16, 3) * torch.as_tensor(plain.stats.target_std, dtype=torch.float32).reshape(16, 3)
    assert 0.005 < gap.norm(dim=-1).mean().item() < 0.08
    assert torch.equal(b.x, jit.chunk(1, 0).x)  # seeded per chunk
    assert plain.describe()["config"]["keypoint_jitter"] == 0.0


def test_limb_factor_scales_the_limb_ends_of_the_same_draws(shard) -> None:
    from posesynth.body.definitions import LIMB_ENDS

    full = random_offsets(np.random.default_rng(3), 50, 0.03)
    half = random_offsets(np.random.default_rng(3), 50, 0.03, limb_factor=0.3)
    ends = [J[j] for j in LIMB_ENDS]
    assert (
        sorted(H36M17.joint_names[i].split("_")[1] for i in ends)
        == ["elbow"] * 2 + ["foot"] * 2 + ["knee"] * 2 + ["wrist"] * 2
    )
    np.testing.assert_array_equal(half[:, ends], 0.3 * full[:, ends])
    rest = np.setdiff1d(np.arange(17), ends)
    np.testing.assert_array_equal(half[:, rest], full[:, rest])
    with pytest.raises(ValueError, match="limb_factor"):
        random_offsets(np.random.default_rng(0), 5, 0.03, limb_factor=-1.0)
    # through the data set: the same moved trunk, limb ends moved less; recorded when not 1
    a = jitter_keypoints(shard, 0.03, np.random.default_rng(4))
    b = jitter_keypoints(shard, 0.03, np.random.default_rng(4), limb_factor=0.3)
    assert "keypoint_jitter_limbs" not in a.meta and b.meta["keypoint_jitter_limbs"] == 0.3
    np.testing.assert_allclose(b.joints_3d_world[:, J["head"]], a.joints_3d_world[:, J["head"]], atol=1e-12)
    w = J["right_wrist"]
    gap_a, gap_b = (np.linalg.norm(d.joints_3d_world[:, w] - shard.joints_3d_world[:, w], axis=-1) for d in (a, b))
    np.testing.assert_allclose(gap_b, 0.3 * gap_a, rtol=1e-9)


def test_stream_limb_jitter_is_recorded_only_when_set() -> None:
    small = {"samples_per_epoch": 128, "chunk_samples": 128, "stats_samples": 200, "val_samples": 20, "workers": 0}
    jit = SyntheticPoses({**small, "keypoint_jitter": 0.03}, batch_size=32, seed=4, epochs=1)
    limbs = SyntheticPoses(
        {**small, "keypoint_jitter": 0.03, "keypoint_jitter_limbs": 0.3},
        batch_size=32,
        seed=4,
        epochs=1,
        stats=jit.stats,
    )
    assert "keypoint_jitter_limbs" not in jit.describe()["config"]
    assert limbs.describe()["config"]["keypoint_jitter_limbs"] == 0.3
    a, b = jit.chunk(1, 0), limbs.chunk(1, 0)
    std = torch.as_tensor(jit.stats.target_std, dtype=torch.float32).reshape(16, 3)
    ya, yb = (c.y.reshape(-1, 16, 3) * std for c in (a, b))
    wrist = J["right_wrist"] - 1  # targets hold joints 1..16
    head = J["head"] - 1
    assert torch.allclose(ya[:, head], yb[:, head], atol=1e-5)  # the same poses, the same trunk offsets
    assert not torch.allclose(ya[:, wrist], yb[:, wrist], atol=1e-3)


def test_keep_distal_keeps_forearms_and_shanks_and_moves_their_ends_about_them(shard) -> None:
    from posesynth.body.definitions import DISTAL_BONES, keep_lengths

    free = jitter_keypoints(shard, 0.03, np.random.default_rng(6))
    kept = jitter_keypoints(shard, 0.03, np.random.default_rng(6), keep_distal=True)
    assert kept.meta["keypoint_jitter_keep_distal"] is True and "keypoint_jitter_keep_distal" not in free.meta

    def length(d, a, b):
        return np.linalg.norm(d.joints_3d_world[:, J[a]] - d.joints_3d_world[:, J[b]], axis=-1)

    for a, b in DISTAL_BONES:
        np.testing.assert_allclose(length(kept, a, b), length(shard, a, b), atol=1e-12)
        assert np.std(length(free, a, b) - length(shard, a, b)) > 0.03  # the free jitter changes them by cm
        # the child sits on the line from its parent through where the free jitter put it
        u = kept.joints_3d_world[:, J[b]] - kept.joints_3d_world[:, J[a]]
        v = free.joints_3d_world[:, J[b]] - free.joints_3d_world[:, J[a]]
        np.testing.assert_allclose(np.cross(u, v), 0.0, atol=1e-12)
        assert ((u * v).sum(-1) > 0).all()
    others = [J[n] for n in H36M17.joint_names if n not in {b for _, b in DISTAL_BONES}]
    np.testing.assert_array_equal(kept.joints_3d_world[:, others], free.joints_3d_world[:, others])
    # a zero-length moved bone keeps its child
    p = np.zeros((1, 17, 3))
    np.testing.assert_array_equal(keep_lengths(p, shard.joints_3d_world[:1]), p)


def test_stream_keep_distal_is_recorded_only_when_set() -> None:
    small = {"samples_per_epoch": 64, "chunk_samples": 64, "stats_samples": 100, "val_samples": 10, "workers": 0}
    jit = SyntheticPoses({**small, "keypoint_jitter": 0.03}, batch_size=32, seed=4, epochs=1)
    kept = SyntheticPoses(
        {**small, "keypoint_jitter": 0.03, "keypoint_jitter_keep_distal": True}, batch_size=32, seed=4, epochs=1
    )
    assert "keypoint_jitter_keep_distal" not in jit.describe()["config"]
    assert kept.describe()["config"]["keypoint_jitter_keep_distal"] is True
    assert not torch.equal(jit.chunk(1, 0).y, kept.chunk(1, 0).y)
