"""Camera pose: world <-> camera transforms, look-at and orbit placement.

Conventions: world frame right-handed, Z up, metres; camera frame OpenCV (x right, y down,
z forward). ``X_cam = R @ (X_world - C)`` with ``R (..., 3, 3)`` the world->camera rotation
(its rows are the camera axes written in world coordinates) and ``C (..., 3)`` the camera
centre in the world; ``t = -R @ C`` where a translation is needed. Column vectors throughout.
Angles in radians. Usual broadcasting rules apply to the leading dims.
"""

from __future__ import annotations

import numpy as np

from posesynth.geometry.camera import _common
from posesynth.util.checks import check_finite, check_positive, check_shape

# Below this sine of the angle between the viewing direction and ``up``, look_at falls back.
_PARALLEL_EPS = 1e-9


def _check_pose(R: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return check_shape(R, (3, 3), "R"), check_shape(C, (3,), "C")


def world_to_camera(p_world: np.ndarray, R: np.ndarray, C: np.ndarray) -> np.ndarray:
    """World points to the camera frame: ``p_cam = R @ (p_world - C)``.

    Args:
        p_world: ``(..., J, 3)`` points, world frame, metres.
        R: ``(..., 3, 3)`` world->camera rotation.
        C: ``(..., 3)`` camera centre, world frame, metres.

    Returns:
        ``p_cam (..., J, 3)``, camera frame (OpenCV), metres.
    """
    p_world = _common.check_points(p_world, 3, "p_world")
    R, C = _check_pose(R, C)
    _common.check_batch(p_world, "p_world", R=R[..., 0], C=C)
    p_cam = _world_to_camera_compiled(p_world, R, C)
    if p_cam is not None:
        return p_cam
    return _common.map_blocks(_world_to_camera, [(p_world, 2), (R, 2), (C, 1)], p_world.shape[-2:-1] + (3,))


def _world_to_camera_compiled(p_world: np.ndarray, R: np.ndarray, C: np.ndarray) -> np.ndarray | None:
    """The compiled kernel's ``R (p - C)`` (the same bits as NumPy's matmul where BLAS uses
    FMA), or None when Numba is off or the batch dims need NumPy broadcasting."""
    from posesynth.geometry import _kernels
    from posesynth.util.jit import numba_enabled

    if not numba_enabled():
        return None
    flat = _kernels.flat_batch(p_world, (R, 2), (C, 1))
    if flat is None:
        return None
    points, R_flat, C_flat = flat
    p_cam = np.empty(points.shape)
    _kernels.world_to_camera(points, R_flat, C_flat, p_cam)
    return p_cam.reshape(p_world.shape)


def _world_to_camera(p_world: np.ndarray, R: np.ndarray, C: np.ndarray) -> np.ndarray:
    return np.matmul(p_world - C[..., None, :], np.swapaxes(R, -1, -2))


def camera_to_world(p_cam: np.ndarray, R: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Camera-frame points to the world: ``p_world = R.T @ p_cam + C``.

    Args:
        p_cam: ``(..., J, 3)`` points (or rays), camera frame (OpenCV), metres.
        R: ``(..., 3, 3)`` world->camera rotation.
        C: ``(..., 3)`` camera centre, world frame, metres.

    Returns:
        ``p_world (..., J, 3)``, world frame, metres.
    """
    p_cam = _common.check_points(p_cam, 3, "p_cam")
    R, C = _check_pose(R, C)
    _common.check_batch(p_cam, "p_cam", R=R[..., 0], C=C)
    return _common.map_blocks(_camera_to_world, [(p_cam, 2), (R, 2), (C, 1)], p_cam.shape[-2:-1] + (3,))


def _camera_to_world(p_cam: np.ndarray, R: np.ndarray, C: np.ndarray) -> np.ndarray:
    p_world = np.matmul(p_cam, R)
    p_world += C[..., None, :]
    return p_world


def rotation_translation(R: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV-style extrinsics from ours: ``(R, t)`` with ``t = -R @ C``.

    Args:
        R: ``(..., 3, 3)`` world->camera rotation.
        C: ``(..., 3)`` camera centre, world frame, metres.

    Returns:
        ``R (..., 3, 3)`` (the same rotation) and ``t (..., 3)`` metres, so that
        ``X_cam = R @ X_world + t`` (``cv2.projectPoints``' rvec/tvec convention).
    """
    R, C = _check_pose(R, C)
    return R, -np.einsum("...ij,...j->...i", R, C)


def rotation_center(R: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Our extrinsics from OpenCV-style ones: ``(R, C)`` with ``C = -R.T @ t``.

    Args:
        R: ``(..., 3, 3)`` world->camera rotation.
        t: ``(..., 3)`` translation, metres (``X_cam = R @ X_world + t``).

    Returns:
        ``R (..., 3, 3)`` (the same rotation) and ``C (..., 3)`` camera centre, world, metres.
    """
    R = check_shape(R, (3, 3), "R")
    t = check_shape(t, (3,), "t")
    return R, -np.einsum("...ji,...j->...i", R, t)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _roll_about_optical_axis(R: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """``M(roll) @ R``: new camera axes x' = c x + s y, y' = -s x + c y, z' = z."""
    c, s = np.cos(roll)[..., None], np.sin(roll)[..., None]
    x, y, z = R[..., 0, :], R[..., 1, :], R[..., 2, :]
    return np.stack(np.broadcast_arrays(c * x + s * y, c * y - s * x, z), axis=-2)


def look_at(
    eye: np.ndarray,
    target: np.ndarray,
    up: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 1.0),
    roll: np.ndarray | float = 0.0,
) -> np.ndarray:
    """World->camera rotation of a camera at ``eye`` looking at ``target``.

    The optical axis (camera +z) points from ``eye`` to ``target``; with ``roll = 0`` the
    image "up" (camera -y) is the direction of ``up`` seen from the camera (``up`` projected
    on the image plane), so world-vertical lines look vertical and ``up`` points to the top
    of the image. ``roll`` then turns the camera about its optical axis, from camera x towards
    camera y (clockwise seen from behind the camera), so the scene turns counter-clockwise in
    the image.

    Fallback: when the viewing direction is (anti)parallel to ``up`` (camera looking straight
    down or up; sine of the angle below 1e-9), ``up`` gives no image direction, and the world
    axis least aligned with ``up`` (first of X, Y, Z on ties) is used instead: for the default
    ``up = +Z``, world +X points to the top of the image.

    Args:
        eye: ``(..., 3)`` camera centre, world frame, metres.
        target: ``(..., 3)`` point looked at, world frame, metres; must differ from ``eye``.
        up: ``(..., 3)`` world "up" direction (any non-zero length); default world +Z.
        roll: ``(...)`` radians.

    Returns:
        ``R (..., 3, 3)`` world->camera rotation (rows: camera x, y, z in world coordinates).

    Raises:
        ValueError: on bad shapes, non-finite values, ``eye == target`` or ``up == 0``.
    """
    eye = check_finite(check_shape(eye, (3,), "eye"), "eye")
    target = check_finite(check_shape(target, (3,), "target"), "target")
    up = check_finite(check_shape(np.asarray(up), (3,), "up"), "up")
    roll = check_finite(np.asarray(roll, dtype=np.float64), "roll")
    forward = target - eye
    distance = np.linalg.norm(forward, axis=-1)
    if (distance <= 0).any():
        index = tuple(int(i) for i in np.argwhere(distance <= 0)[0])
        raise ValueError(f"target: expected a point different from eye, got the same point at index {index}")
    up_norm = np.linalg.norm(up, axis=-1)
    if (up_norm <= 0).any():
        raise ValueError(f"up: expected a non-zero vector, got {up.tolist()}")
    z = forward / distance[..., None]
    up = up / up_norm[..., None]
    down = np.sum(up * z, axis=-1, keepdims=True) * z - up
    down_norm = np.linalg.norm(down, axis=-1, keepdims=True)
    parallel = down_norm < _PARALLEL_EPS
    if parallel.any():
        axis = np.eye(3)[np.argmin(np.abs(up), axis=-1)]
        down_fallback = np.sum(axis * z, axis=-1, keepdims=True) * z - axis
        down = np.where(parallel, down_fallback, down)
        down_norm = np.linalg.norm(down, axis=-1, keepdims=True)
    y = down / down_norm
    # Second Gram-Schmidt pass: near the fallback cone, cancellation in ``down`` leaves a
    # component along z of ~eps / sin(angle); remove it so R is orthonormal to round-off.
    y = _unit(y - np.sum(y * z, axis=-1, keepdims=True) * z)
    x = np.cross(y, z)
    R = np.stack(np.broadcast_arrays(x, y, z), axis=-2)
    return _roll_about_optical_axis(R, roll)


def _orbit_compiled(
    ca: np.ndarray,
    sa: np.ndarray,
    ce: np.ndarray,
    se: np.ndarray,
    roll: np.ndarray,
    target: np.ndarray,
    distance: np.ndarray,
) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`orbit`'s ``(R, C)`` from the compiled kernel (the trigonometry stays NumPy's),
    or None: Numba off, or anything but one value per camera ``(n,)`` and targets ``(n, 3)``
    (broadcasting is left to the NumPy code)."""
    from posesynth.geometry import _kernels
    from posesynth.util.jit import numba_enabled

    n = ca.shape[0] if ca.ndim == 1 else -1
    shapes_ok = all(a.shape == (n,) for a in (ca, ce, roll, distance)) and target.shape == (n, 3)
    if not (shapes_ok and numba_enabled()):
        return None
    R, C = np.empty((n, 3, 3)), np.empty((n, 3))
    _kernels.orbit(ca, sa, ce, se, np.cos(roll), np.sin(roll), np.asarray(target, dtype=np.float64), distance, R, C)
    return R, C


def orbit(
    target: np.ndarray,
    azimuth: np.ndarray | float,
    elevation: np.ndarray | float,
    distance: np.ndarray | float,
    roll: np.ndarray | float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Camera on a sphere around ``target``, looking at it, world Z up.

    ``C = target + distance * (cos el cos az, cos el sin az, sin el)``: azimuth in the world XY
    plane from +X towards +Y, elevation above the XY plane. The rotation equals
    ``look_at(C, target, up=+Z, roll)``, computed in closed form so that it stays defined at
    the poles (elevation = +-pi/2), where image up is the direction of increasing elevation,
    ``(-sin el cos az, -sin el sin az, cos el)``.

    Args:
        target: ``(..., 3)`` world frame, metres.
        azimuth: ``(...)`` radians.
        elevation: ``(...)`` radians.
        distance: ``(...)`` metres, > 0.
        roll: ``(...)`` radians, about the optical axis as in :func:`look_at`.

    Returns:
        ``R (..., 3, 3)`` world->camera rotation and ``C (..., 3)`` camera centre, world, metres.
    """
    target = check_finite(check_shape(target, (3,), "target"), "target")
    azimuth = check_finite(np.asarray(azimuth, dtype=np.float64), "azimuth")
    elevation = check_finite(np.asarray(elevation, dtype=np.float64), "elevation")
    distance = check_positive(distance, "distance")
    roll = check_finite(np.asarray(roll, dtype=np.float64), "roll")
    ca, sa = np.cos(azimuth), np.sin(azimuth)
    ce, se = np.cos(elevation), np.sin(elevation)
    compiled = _orbit_compiled(ca, sa, ce, se, roll, target, distance)
    if compiled is not None:
        return compiled
    zero = np.zeros_like(ca)
    outward = np.stack(np.broadcast_arrays(ce * ca, ce * sa, se), axis=-1)
    x = np.stack(np.broadcast_arrays(-sa, ca, zero), axis=-1)
    y = np.stack(np.broadcast_arrays(se * ca, se * sa, -ce), axis=-1)
    R = np.stack(np.broadcast_arrays(x, y, -outward), axis=-2)
    C = target + distance[..., None] * outward
    R = _roll_about_optical_axis(R, roll)
    batch = np.broadcast_shapes(C.shape[:-1], R.shape[:-2])
    R = R if R.shape[:-2] == batch else np.array(np.broadcast_to(R, batch + (3, 3)))
    C = C if C.shape[:-1] == batch else np.array(np.broadcast_to(C, batch + (3,)))
    return R, C
