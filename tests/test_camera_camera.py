"""The Camera container: validation, geometry methods, indexing, serialisation."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posesynth.geometry.camera import (
    Camera,
    CameraModel,
    orbit,
    project,
    stack_cameras,
    world_to_camera,
)

INTR = np.array([1000.0, 990.0, 640.0, 360.0])
DIST = np.array([-0.1, 0.02, 0.001, -0.002, 0.003])


def make_batch(n: int = 5, model: CameraModel = CameraModel.OPENCV) -> Camera:
    rng = np.random.default_rng(0)
    R, C = orbit(np.array([0.0, 0.0, 1.0]), np.linspace(0, 2 * math.pi, n, endpoint=False), 0.2, 4.0)
    dist = rng.uniform(-0.01, 0.01, (n, model.distortion_size))
    intr = INTR + rng.uniform(-5, 5, (n, 4))
    return Camera(model, intr, dist, R, C, np.tile([1280, 720], (n, 1)))


def test_fields_are_broadcast_copied_and_read_only():
    R = np.eye(3)
    cam = Camera("opencv", INTR, DIST, np.stack([R, R, R]), np.zeros(3), (1280, 720))
    assert cam.model is CameraModel.OPENCV
    assert cam.batch_shape == (3,) and len(cam) == 3
    assert cam.intrinsics.shape == (3, 4) and cam.distortion.shape == (3, 5)
    assert cam.center.shape == (3, 3) and cam.image_size.shape == (3, 2)
    assert cam.image_size.dtype == np.int64 and cam.intrinsics.dtype == np.float64
    with pytest.raises(ValueError):
        cam.intrinsics[0, 0] = 5.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        cam.model = CameraModel.PINHOLE  # type: ignore[misc]
    # The caller's array is neither aliased nor frozen.
    intr = INTR.copy()
    Camera("opencv", intr, DIST, R, np.zeros(3), (1280, 720))
    intr[0] = 1.0


def test_pinhole_distortion_defaults_to_empty():
    cam = Camera(CameraModel.PINHOLE, INTR, None, np.eye(3), np.zeros(3), (1280, 720))
    assert cam.distortion.shape == (0,)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"intrinsics": [-1.0, 1000.0, 640.0, 360.0]}, r"intrinsics: expected fx > 0, got -1\.0"),
        ({"intrinsics": [1000.0, 1000.0, np.nan, 360.0]}, r"intrinsics: expected finite"),
        ({"distortion": np.zeros(4)}, r"distortion \(opencv: k1, k2, p1, p2, k3\)"),
        ({"rotation": np.diag([1.0, 1.0, 1.001])}, r"rotation: expected orthonormal"),
        ({"rotation": np.diag([1.0, 1.0, -1.0])}, r"rotation: expected orthonormal.*det = -1"),
        ({"rotation": np.eye(4)}, r"rotation: expected shape \(\.\.\., 3, 3\), got \(4, 4\)"),
        ({"center": [0.0, np.inf, 0.0]}, r"center: expected finite"),
        ({"image_size": (1280.5, 720)}, r"image_size: expected positive integers"),
        ({"image_size": (0, 720)}, r"image_size: expected positive integers"),
        (
            {"center": np.zeros((2, 3)), "intrinsics": np.tile(INTR, (3, 1))},
            r"Camera: expected fields with broadcastable leading \(batch\) dims",
        ),
        ({"model": "kb"}, r"model: expected one of \['pinhole', 'opencv', 'fisheye', 'h36m'\]"),
    ],
)
def test_construction_validates(change, match):
    fields = dict(
        model="opencv", intrinsics=INTR, distortion=DIST, rotation=np.eye(3), center=np.zeros(3), image_size=(1280, 720)
    )
    fields.update(change)
    with pytest.raises(ValueError, match=match):
        Camera(**fields)


def test_rotation_tolerance_is_1e_6():
    R = Rotation.from_euler("z", 0.3).as_matrix()
    Camera("pinhole", INTR, None, R * (1 + 2e-7), np.zeros(3), (10, 10))
    with pytest.raises(ValueError, match="rotation"):
        Camera("pinhole", INTR, None, R * (1 + 2e-6), np.zeros(3), (10, 10))


@pytest.mark.parametrize("model", list(CameraModel))
def test_project_world_and_visible(model):
    cams = make_batch(4, model)
    p_world = np.random.default_rng(1).normal(scale=0.3, size=(4, 17, 3)) + [0, 0, 1]
    uv = cams.project_world(p_world)
    assert uv.shape == (4, 17, 2)
    expected = project(model, world_to_camera(p_world, cams.rotation, cams.center), cams.intrinsics, cams.distortion)
    np.testing.assert_array_equal(uv, expected)
    vis = cams.visible(p_world)
    assert vis.shape == (4, 17) and vis.all()
    # A point behind every camera's back is not visible.
    behind = 2 * cams.center - np.array([0.0, 0.0, 1.0])
    assert not cams.visible(behind[:, None, :]).any()
    # One pose (J, 3) seen by all cameras broadcasts to (4, J, 2).
    assert cams.project_world(p_world[0]).shape == (4, 17, 2)


def test_indexing_and_len():
    cams = make_batch(5)
    one = cams[2]
    assert one.batch_shape == ()
    np.testing.assert_array_equal(one.rotation, cams.rotation[2])
    with pytest.raises(TypeError):
        len(one)
    sub = cams[1:4]
    assert len(sub) == 3
    np.testing.assert_array_equal(sub.intrinsics, cams.intrinsics[1:4])
    picked = cams[np.array([True, False, True, False, False])]
    assert len(picked) == 2
    np.testing.assert_array_equal(picked.center, cams.center[[0, 2]])
    with pytest.raises(IndexError):
        cams[..., 0]
    with pytest.raises(IndexError):
        cams[0, 1]
    p = np.ones((5, 2, 3))
    np.testing.assert_array_equal(cams[3].project_world(p[3]), cams.project_world(p)[3])


def test_stack_cameras():
    cams = make_batch(3)
    stacked = stack_cameras([cams[i] for i in range(3)])
    for name in ("intrinsics", "distortion", "rotation", "center", "image_size"):
        np.testing.assert_array_equal(getattr(stacked, name), getattr(cams, name))
    assert stack_cameras([cams, cams]).batch_shape == (2, 3)
    with pytest.raises(ValueError, match=r"cameras: expected at least one Camera"):
        stack_cameras([])
    with pytest.raises(ValueError, match=r"cameras: expected one model"):
        stack_cameras([cams[0], make_batch(2, CameraModel.FISHEYE)[0]])
    with pytest.raises(ValueError, match=r"cameras: expected one batch shape"):
        stack_cameras([cams, cams[0]])


@pytest.mark.parametrize("model", list(CameraModel))
@pytest.mark.parametrize("batch", [(), (3,), (2, 3), (0,)])
def test_to_dict_json_round_trip_is_exact(model, batch):
    n = int(np.prod(batch, dtype=int))
    rng = np.random.default_rng(4)
    R = Rotation.random(max(n, 1), random_state=3).as_matrix()[:n].reshape(batch + (3, 3))
    cam = Camera(
        model,
        rng.uniform(100, 2000, batch + (4,)),
        rng.normal(scale=0.01, size=batch + (model.distortion_size,)),
        R,
        rng.normal(size=batch + (3,)),
        np.full(batch + (2,), 640),
    )
    data = json.loads(json.dumps(cam.to_dict()))
    assert data["model"] == model.value
    back = Camera.from_dict(data)
    assert back.model is cam.model and back.batch_shape == cam.batch_shape
    for name in ("intrinsics", "distortion", "rotation", "center", "image_size"):
        a, b = getattr(back, name), getattr(cam, name)
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_from_dict_rejects_bad_data():
    data = make_batch(2).to_dict()
    with pytest.raises(ValueError, match=r"missing \['center'\]"):
        Camera.from_dict({k: v for k, v in data.items() if k != "center"})
    with pytest.raises(ValueError, match=r"distortion_names: expected"):
        Camera.from_dict({**data, "distortion_names": ["k1", "k2", "k3", "p1", "p2"]})
