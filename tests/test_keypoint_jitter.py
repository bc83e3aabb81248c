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
