"""Cameras: projection models, extrinsics and placement, visibility, Human3.6M presets.

Geometry layer; depends on NumPy only. Conventions (see CONVENTIONS.md):

- metres and radians; world frame right-handed, Z up;
- camera frame OpenCV: x right, y down, z forward (optical axis);
- pixels: (0, 0) is the centre of the top-left pixel;
- extrinsics ``X_cam = R @ (X_world - C)``: ``R (..., 3, 3)`` world->camera, ``C (..., 3)``
  camera centre in the world; ``t = -R @ C`` where OpenCV wants a translation;
- points ``(..., J, 3)``, pixels ``(..., J, 2)``, per-camera parameters ``(...)`` with the J
  axis left out: intrinsics ``(..., 4) = (fx, fy, cx, cy)`` px, distortion ``(..., D)``.
  Leading dims broadcast. float64.

Models (one module each, with ``validate``, ``project``, ``unproject``): ``pinhole``,
``opencv`` (k1, k2, p1, p2, k3; as ``cv2.projectPoints``), ``fisheye`` (k1..k4; as
``cv2.fisheye.projectPoints``), ``h36m`` (Human3.6M's own distortion, stored as k1, k2, p1,
p2, k3). Dispatch by :class:`CameraModel` with :func:`project` / :func:`unproject`.
"""

from posesynth.geometry.camera import (
    extrinsics,
    fisheye,
    h36m,
    opencv,
    pinhole,
    presets,
    visibility,
)
from posesynth.geometry.camera.camera import Camera, concat_cameras, stack_cameras
from posesynth.geometry.camera.extrinsics import (
    camera_to_world,
    look_at,
    orbit,
    rotation_center,
    rotation_translation,
    world_to_camera,
)
from posesynth.geometry.camera.models import (
    CameraModel,
    model_module,
    project,
    unproject,
    validate,
)
from posesynth.geometry.camera.presets import (
    H36M_CAMERA_IDS,
    H36M_SUBJECTS,
    h36m_camera,
    h36m_camera_extrinsics,
    h36m_camera_intrinsics,
    h36m_subject_cameras,
)
from posesynth.geometry.camera.visibility import in_front, in_image, visible

__all__ = [
    "H36M_CAMERA_IDS",
    "H36M_SUBJECTS",
    "Camera",
    "CameraModel",
    "camera_to_world",
    "concat_cameras",
    "extrinsics",
    "fisheye",
    "h36m",
    "h36m_camera",
    "h36m_camera_extrinsics",
    "h36m_camera_intrinsics",
    "h36m_subject_cameras",
    "in_front",
    "in_image",
    "look_at",
    "model_module",
    "opencv",
    "orbit",
    "pinhole",
    "presets",
    "project",
    "rotation_center",
    "rotation_translation",
    "stack_cameras",
    "unproject",
    "validate",
    "visibility",
    "visible",
    "world_to_camera",
]
