"""Human3.6M presets: numbers against independent copies, conventions, builders."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posesynth.geometry.camera import (
    H36M_CAMERA_IDS,
    H36M_SUBJECTS,
    CameraModel,
    h36m_camera,
    h36m_camera_extrinsics,
    h36m_camera_intrinsics,
    h36m_subject_cameras,
    in_image,
)

# VideoPose3D's float32 copies (common/h36m_dataset.py): center, focal_length,
# radial_distortion, tangential_distortion - the latter listed as (p2, p1).
VIDEOPOSE3D_INTRINSICS = {
    "54138969": (
        [512.54150390625, 515.4514770507812],
        [1145.0494384765625, 1143.7811279296875],
        [-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043],
        [-0.0009756988729350269, -0.00142447161488235],
    ),
    "58860488": (
        [519.8158569335938, 501.40264892578125],
        [1149.1407470703125, 1148.7989501953125],
        [-0.2083381861448288, 0.25548800826072693, -0.0024604974314570427],
        [0.0014843869721516967, -0.0007599993259645998],
    ),
}

# VideoPose3D's extrinsics: camera->world quaternion (w, x, y, z), camera centre in mm.
VIDEOPOSE3D_EXTRINSICS = {
    ("S1", "54138969"): (
        [0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088],
        [1841.1070556640625, 4955.28466796875, 1563.4454345703125],
    ),
    ("S9", "58860488"): (
        [0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915],
        [-1670.9921875, 5211.98583984375, 1528.387939453125],
    ),
    ("S11", "60457274"): (
        [0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809],
        [-1590.738037109375, -3854.1689453125, 1578.017578125],
    ),
}

# World->camera rotation of S1, camera 54138969 as 3d-pose-baseline's cameras.h5 holds it.
S1_54138969_R = [
    [-0.9153617321513369, 0.40180836633680234, 0.02574754463350265],
    [0.051548117060134555, 0.1803735689384521, -0.9822464900705729],
    [-0.399319034032262, -0.8977836111057917, -0.185819527201491],
]


@pytest.mark.parametrize("camera_id", sorted(VIDEOPOSE3D_INTRINSICS))
def test_intrinsics_match_videopose3d_with_swapped_tangential(camera_id):
    c, f, k, p = VIDEOPOSE3D_INTRINSICS[camera_id]
    intr, dist, _size = h36m_camera_intrinsics(camera_id)
    np.testing.assert_allclose(intr, f + c, rtol=1e-7)
    np.testing.assert_allclose(dist[[0, 1, 4]], k, rtol=1e-6)
    np.testing.assert_allclose(dist[[3, 2]], p, rtol=1e-6)  # VideoPose3D lists (p2, p1)
    assert dist.shape == (5,) and intr.shape == (4,)


def test_image_sizes_and_ids():
    sizes = {cid: tuple(h36m_camera_intrinsics(cid)[2]) for cid in H36M_CAMERA_IDS}
    assert sizes == {
        "54138969": (1000, 1002),
        "55011271": (1000, 1000),
        "58860488": (1000, 1000),
        "60457274": (1000, 1002),
    }
    assert h36m_camera_intrinsics(54138969)[2].dtype == np.int64
    with pytest.raises(ValueError, match=r"camera_id: expected one of \['54138969'.*got '123'"):
        h36m_camera_intrinsics("123")


@pytest.mark.parametrize("subject, camera_id", sorted(VIDEOPOSE3D_EXTRINSICS))
def test_extrinsics_match_videopose3d(subject, camera_id):
    (w, x, y, z), t_mm = VIDEOPOSE3D_EXTRINSICS[(subject, camera_id)]
    cam_to_world = Rotation.from_quat([x, y, z, w]).as_matrix()
    R, C = h36m_camera_extrinsics(subject, camera_id)
    np.testing.assert_allclose(R, cam_to_world.T, atol=2e-7)
    np.testing.assert_allclose(C, np.array(t_mm) / 1000.0, atol=1e-6)


def test_extrinsics_match_3d_pose_baseline_matrix():
    R, _ = h36m_camera_extrinsics("S1", "54138969")
    np.testing.assert_allclose(R, S1_54138969_R, atol=1e-12)
    R_int, _ = h36m_camera_extrinsics(1, 54138969)
    np.testing.assert_array_equal(R, R_int)


@pytest.mark.parametrize("subject", H36M_SUBJECTS)
def test_every_subject_camera_is_a_rotation_looking_at_the_capture_area(subject):
    cams = h36m_subject_cameras(subject)
    assert cams.model is CameraModel.H36M and cams.batch_shape == (4,)
    R = cams.rotation
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    # Cameras stand ~1.5 m high, ~5 m out; Z is up: world up points to the image top.
    assert ((cams.center[:, 2] > 1.0) & (cams.center[:, 2] < 2.0)).all()
    up_cam = R @ np.array([0.0, 0.0, 1.0])
    assert (up_cam[:, 1] < -0.9).all()
    # A person standing at the middle of the floor is in every image.
    body = np.array([[0.0, 0.0, 0.1], [0.0, 0.0, 1.0], [0.0, 0.0, 1.7]])
    uv = cams.project_world(body)
    assert in_image(uv, cams.image_size[:, 0], cams.image_size[:, 1]).all()
    assert cams.visible(body).all()


def test_builder_and_bad_subject():
    R, C = h36m_camera_extrinsics("S5", "55011271")
    cam = h36m_camera("55011271", R, C)
    assert cam.model is CameraModel.H36M and cam.batch_shape == ()
    np.testing.assert_array_equal(cam.intrinsics, h36m_camera_intrinsics("55011271")[0])
    np.testing.assert_array_equal(cam.rotation, h36m_subject_cameras("S5")[1].rotation)
    batch = h36m_camera("55011271", np.stack([R, R]), C)
    assert batch.batch_shape == (2,)
    with pytest.raises(ValueError, match=r"subject: expected one of \['S1', 'S5'.*got 'S2'"):
        h36m_camera_extrinsics("S2", "55011271")
