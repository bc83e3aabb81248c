"""Random cameras around procedural poses: every model frames the whole body, reproducibly."""

from __future__ import annotations

import re

import numpy as np
import pytest

from posesynth.body.skeleton import H36M17, H36M_EXTENDED
from posesynth.geometry.camera import Camera, CameraModel
from posesynth.geometry.placement import PlacementRanges, sample_cameras
from posesynth.poses.procedural import sample_poses

MODELS = ["pinhole", "opencv", "fisheye", "h36m"]
SKELETONS = [H36M17, H36M_EXTENDED]
SKEL_IDS = [s.name for s in SKELETONS]
N = 300


@pytest.fixture(scope="module", params=SKELETONS, ids=SKEL_IDS)
def poses(request):
    skeleton = request.param
    return skeleton, sample_poses(np.random.default_rng(100), N, skeleton).positions


@pytest.mark.parametrize("model", MODELS)
def test_every_model_frames_the_body(poses, model):
    skeleton, positions = poses
    cams = sample_cameras(np.random.default_rng(1), positions, model)
    assert isinstance(cams, Camera)
    assert cams.model is CameraModel.parse(model)
    assert cams.batch_shape == (N,)
    p_cam = cams.world_to_camera(positions)
    assert (p_cam[..., 2] > 0).all(), "a joint behind the camera"
    visible = cams.visible(positions)
    assert visible.shape == (N, skeleton.num_joints)
    assert visible.mean() >= 0.99, f"only {visible.mean():.3%} of joints visible"
    assert visible.all(axis=1).mean() >= 0.99, f"only {visible.all(axis=1).mean():.3%} of bodies whole"
    # the body is framed, not a speck: its 2D extent is a fair part of the image
    uv = cams.project_world(positions)
    extent = (uv.max(axis=1) - uv.min(axis=1)).max(axis=1) / cams.image_size.max(axis=1)
    assert extent.min() > 0.05 and np.median(extent) > 0.15
    # cameras stand upright (small roll, elevation ≤ 45°): the head is above the feet in the image
    head = uv[:, skeleton.index("head"), 1]
    feet = uv[:, list(skeleton.indices(["right_foot", "left_foot"])), 1].max(axis=1)
    assert (head < feet).mean() >= 0.95


@pytest.mark.parametrize("model", MODELS)
def test_same_seed_same_cameras(poses, model):
    _, positions = poses
    a = sample_cameras(np.random.default_rng(5), positions, model)
    b = sample_cameras(np.random.default_rng(5), positions, CameraModel.parse(model))
    c = sample_cameras(np.random.default_rng(6), positions, model)
    for field in ("intrinsics", "distortion", "rotation", "center", "image_size"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    assert a.to_dict() == b.to_dict()
    assert not np.allclose(a.center, c.center)
    assert not np.allclose(a.rotation, c.rotation)


def test_h36m_model_uses_the_dataset_intrinsics(poses):
    _, positions = poses
    cams = sample_cameras(np.random.default_rng(7), positions, "h36m")
    # Human3.6M's cameras: focal lengths ≈ 1145-1150 px, images ≈ 1000 px
    assert (np.abs(cams.intrinsics[:, :2] - 1147) < 10).all()
    assert (np.abs(cams.image_size - 1000) <= 2).all()
    assert np.abs(cams.distortion).max() > 0  # real distortion, not zeros


def test_ranges_are_honoured(poses):
    _, positions = poses
    ranges = PlacementRanges(
        image_size=(640, 480),
        fov_deg=(60.0, 60.0),
        azimuth_deg=(30.0, 30.0),
        elevation_deg=(20.0, 20.0),
        roll_sd_deg=0.0,
        principal_jitter=0.0,
        target_jitter_m=0.0,
    )
    cams = sample_cameras(np.random.default_rng(8), positions, "pinhole", ranges)
    np.testing.assert_array_equal(cams.image_size, np.tile([640, 480], (N, 1)))
    f = 320.0 / np.tan(np.deg2rad(30.0))
    np.testing.assert_allclose(cams.intrinsics, np.tile([f, f, 319.5, 239.5], (N, 1)), rtol=1e-12)
    assert not np.abs(cams.distortion).any()
    # looking at the body's bounding-box centre from azimuth 30°, elevation 20°
    centre = 0.5 * (positions.min(axis=1) + positions.max(axis=1))
    out = cams.center - centre
    out /= np.linalg.norm(out, axis=-1, keepdims=True)
    el, az = np.deg2rad(20.0), np.deg2rad(30.0)
    np.testing.assert_allclose(
        out, np.tile([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], (N, 1)), atol=1e-9
    )
    optical_axis = cams.rotation[:, 2, :]  # third row: camera z in world coordinates
    np.testing.assert_allclose(optical_axis, -out, atol=1e-9)
    assert cams.visible(positions).mean() >= 0.99


def test_single_pose_batch():
    positions = sample_poses(np.random.default_rng(9), 1, H36M17).positions
    cams = sample_cameras(np.random.default_rng(10), positions, "fisheye")
    assert cams.batch_shape == (1,)
    assert cams.visible(positions).all()


def test_unknown_model_raises():
    positions = sample_poses(np.random.default_rng(11), 2, H36M17).positions
    with pytest.raises(ValueError, match=r"model: expected one of.*'orthographic'"):
        sample_cameras(np.random.default_rng(0), positions, "orthographic")


@pytest.mark.parametrize("shape", [(5, 17, 2), (17, 3)])
def test_wrong_shape_positions_raise_a_clear_error(shape):
    bad = np.zeros(shape)
    with pytest.raises(ValueError, match=r"positions.*" + re.escape(str(shape))):
        sample_cameras(np.random.default_rng(0), bad, "pinhole")
