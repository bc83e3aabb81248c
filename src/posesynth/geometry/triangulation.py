"""Multi-view triangulation: confidence-weighted DLT, outlier views rejected, reprojection errors.

Pure, batched NumPy geometry. Conventions (CONVENTIONS.md): world frame right-handed, Z up,
metres; camera frame OpenCV (x right, y down, z forward); ``X_cam = R @ (X_world - C)`` with
``R (..., V, 3, 3)`` world->camera and ``C (..., V, 3)`` the camera centres in the world;
pixels with (0, 0) at the centre of the top-left pixel. Shapes: ``V`` views, ``J`` points
per view; leading dims ``(...)`` broadcast (usual broadcasting rules apply).

The linear solve (:func:`triangulate_rays`) is the homogeneous DLT in its ray form: each view
contributes the three rows of ``[d]_x P`` (``d`` the unit ray of the observation in the camera
frame, ``P = [R | -R C]``), whose null vector is the point. Working on rays rather than on
pixels makes it model-agnostic (any camera model that unprojects, fisheye beyond 90 degrees
included) and lets the distortion be removed exactly by the camera model's own inverse. The
algebraic residual of one view is ``|d x X_cam| = depth * sin(angle)``; one reweighting pass by
``1 / depth`` turns the minimised quantity into the sum of squared angular errors times the
weights, so near and far cameras count alike. Coordinates are centred and scaled (Hartley's
normalisation) before the SVD for conditioning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posesynth.geometry.camera import Camera
from posesynth.geometry.camera.models import model_module
from posesynth.util.checks import check_shape

__all__ = [
    "Triangulation",
    "reprojection_errors",
    "triangulate",
    "triangulate_rays",
    "triangulate_robust",
]

#: Smallest total weight of a view that counts as an observation.
_MIN_WEIGHT = 1e-12


def _skew(d: np.ndarray) -> np.ndarray:
    """``[d]_x`` of ``d (..., 3)``: ``(..., 3, 3)`` with ``[d]_x v = d x v``."""
    z = np.zeros(d.shape[:-1])
    x, y, w = d[..., 0], d[..., 1], d[..., 2]
    return np.stack([np.stack([z, -w, y], -1), np.stack([w, z, -x], -1), np.stack([-y, x, z], -1)], -2)


def _solve(rays: np.ndarray, rotation: np.ndarray, center: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """One weighted DLT solve; shapes as :func:`triangulate_rays` (already broadcast, J last
    of the point axes). Returns ``(..., J, 3)`` in the normalised frame given by ``center``."""
    # P = [R | -R C]: (..., V, 1, 3, 4); rows [d]_x P: (..., V, J, 3, 4)
    p = np.concatenate([rotation, -(rotation @ center[..., None])], axis=-1)[..., None, :, :]
    rows = _skew(rays) @ p * weights[..., None, None]
    # (..., J, 3V, 4): move the view axis next to the row axis
    a = np.moveaxis(rows, -4, -3)
    a = a.reshape(a.shape[:-3] + (a.shape[-3] * 3, 4))
    _, _, vt = np.linalg.svd(a, full_matrices=False)
    h = vt[..., -1, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        return h[..., :3] / h[..., 3:]


def triangulate_rays(
    rays_cam: np.ndarray,
    rotation: np.ndarray,
    center: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    refine: bool = True,
) -> np.ndarray:
    """Points from rays seen by several cameras, by the weighted linear (DLT) solve.

    Args:
        rays_cam: ``(..., V, J, 3)`` rays through the observations, each in its camera's frame
            (OpenCV axes; any length, not zero).
        rotation: ``(..., V, 3, 3)`` world->camera rotations.
        center: ``(..., V, 3)`` camera centres, world frame, metres.
        weights: ``(..., V, J)`` non-negative confidences (default 1); 0 leaves a view out.
            A view's rows are scaled by its weight, so its squared residual counts ``w**2``.
        refine: reweight by ``1 / depth`` after a first solve (see the module docstring).

    Returns:
        ``p_world (..., J, 3)`` metres; NaN where fewer than two views have a positive weight
        or the rays are parallel (no finite intersection).
    """
    rays = check_shape(rays_cam, (None, None, 3), "rays_cam")
    rotation = check_shape(rotation, (None, 3, 3), "rotation")
    center = check_shape(center, (None, 3), "center")
    if weights is None:
        weights = np.ones(rays.shape[:-1])
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim < 2:
        raise ValueError(f"weights: expected shape (..., V, J), got {weights.shape}")
    if (weights < 0).any() or not np.isfinite(weights).all():
        raise ValueError("weights: expected finite values >= 0")
    batch = np.broadcast_shapes(rays.shape[:-3], rotation.shape[:-3], center.shape[:-2], weights.shape[:-2])
    v, j = rays.shape[-3], rays.shape[-2]
    if rotation.shape[-3] != v or center.shape[-2] != v or weights.shape[-2:] != (v, j):
        raise ValueError(
            f"views: expected V = {v} (from rays_cam {rays.shape}) in rotation "
            f"{rotation.shape}, center {center.shape} and weights {weights.shape} (..., V, J)"
        )
    rays = np.broadcast_to(rays, batch + (v, j, 3))
    rotation = np.broadcast_to(rotation, batch + (v, 3, 3))
    center = np.broadcast_to(center, batch + (v, 3))
    weights = np.broadcast_to(weights, batch + (v, j))
    ok = np.isfinite(rays).all(-1) & (np.linalg.norm(rays, axis=-1) > 0)
    weights = np.where(ok, weights, 0.0)
    rays = np.where(ok[..., None], rays, np.array([0.0, 0.0, 1.0]))
    rays = rays / np.linalg.norm(rays, axis=-1, keepdims=True)
    # Hartley normalisation of the world: centred on the cameras, unit mean distance
    mean = center.mean(axis=-2, keepdims=True)
    scale = np.linalg.norm(center - mean, axis=-1).mean(axis=-1)[..., None, None]
    scale = np.where(scale > 0, scale, 1.0)
    c_n = (center - mean) / scale
    x_n = _solve(rays, rotation, c_n, weights)
    if refine:
        # depth of the first solution in each camera; rows / depth -> angular residuals
        depth = np.linalg.norm(
            np.einsum("...vab,...vjb->...vja", rotation, x_n[..., None, :, :] - c_n[..., :, None, :]),
            axis=-1,
        )
        good = np.isfinite(depth) & (depth > 1e-9)
        w2 = np.where(good, weights / np.where(good, depth, 1.0), weights)
        x2 = _solve(rays, rotation, c_n, w2)
        x_n = np.where(np.isfinite(x2), x2, x_n)
    x = x_n * scale + mean
    enough = (weights > _MIN_WEIGHT).sum(axis=-2) >= 2
    return np.where(enough[..., None] & np.isfinite(x), x, np.nan)


def _cameras(cameras: Camera) -> Camera:
    if not isinstance(cameras, Camera) or len(cameras.batch_shape) < 1:
        raise ValueError(
            f"cameras: expected a Camera batch of shape (..., V), got "
            f"{getattr(cameras, 'batch_shape', type(cameras).__name__)}"
        )
    return cameras


def triangulate(
    uv_px: np.ndarray, cameras: Camera, weights: np.ndarray | None = None, *, refine: bool = True
) -> np.ndarray:
    """Points from pixels in several calibrated views (weighted DLT on undistorted rays).

    Args:
        uv_px: ``(..., V, J, 2)`` observations, pixels; NaN marks a missing one.
        cameras: a :class:`Camera` batch ``(..., V)`` (any model; distortion is inverted by
            the model's own ``unproject``).
        weights: ``(..., V, J)`` confidences >= 0 (default 1).
        refine: see :func:`triangulate_rays`.

    Returns:
        ``p_world (..., J, 3)`` metres, world frame; NaN with fewer than two observations.
    """
    cameras = _cameras(cameras)
    uv = check_shape(uv_px, (None, None, 2), "uv_px")
    missing = ~np.isfinite(uv).all(-1)
    centre_px = cameras.intrinsics[..., None, 2:4]
    uv = np.where(missing[..., None], centre_px, uv)
    rays = model_module(cameras.model).unproject(uv, cameras.intrinsics, cameras.distortion)
    w = np.ones(uv.shape[:-1]) if weights is None else np.asarray(weights, np.float64)
    w = np.where(missing, 0.0, np.broadcast_to(w, np.broadcast_shapes(w.shape, missing.shape)))
    return triangulate_rays(rays, cameras.rotation, cameras.center, w, refine=refine)


def reprojection_errors(p_world: np.ndarray, uv_px: np.ndarray, cameras: Camera) -> np.ndarray:
    """Pixel distance between observations and the projections of points.

    Args:
        p_world: ``(..., J, 3)`` metres, world frame.
        uv_px: ``(..., V, J, 2)`` observations, pixels (NaN where missing).
        cameras: :class:`Camera` batch ``(..., V)``.

    Returns:
        ``(..., V, J)`` pixels; NaN where the observation or the point is missing.
    """
    cameras = _cameras(cameras)
    p = check_shape(p_world, (None, 3), "p_world")
    uv = check_shape(uv_px, (None, None, 2), "uv_px")
    with np.errstate(invalid="ignore"):
        proj = cameras.project_world(p[..., None, :, :])
        return np.linalg.norm(proj - uv, axis=-1)


@dataclass(frozen=True)
class Triangulation:
    """Result of :func:`triangulate_robust`.

    Attributes:
        points_world: ``(..., J, 3)`` metres, world frame; NaN where under ``min_views``
            views agree.
        reprojection_error_px: ``(..., V, J)`` pixels, every observed view (kept or not);
            NaN where unobserved or the point is missing.
        used: ``(..., V, J)`` bool, the views of the final solve.
    """

    points_world: np.ndarray
    reprojection_error_px: np.ndarray
    used: np.ndarray

    @property
    def views_used(self) -> np.ndarray:
        """``(..., J)`` int, views in the final solve."""
        return self.used.sum(axis=-2)


def triangulate_robust(
    uv_px: np.ndarray,
    cameras: Camera,
    weights: np.ndarray | None = None,
    *,
    max_error_px: float = 15.0,
    min_views: int = 2,
) -> Triangulation:
    """Weighted DLT that drops outlier views one at a time and solves again.

    Each round, for every point whose worst kept view reprojects more than ``max_error_px``
    away and that has more than ``min_views`` kept views, that view is dropped and the point
    re-solved; at most ``V - min_views`` rounds (vectorised over every point).

    Args:
        uv_px: ``(..., V, J, 2)`` pixels, NaN where missing.
        cameras: :class:`Camera` batch ``(..., V)``.
        weights: ``(..., V, J)`` confidences >= 0 (default 1); 0 means unobserved.
        max_error_px: reprojection error above which a view is an outlier, pixels.
        min_views: fewest views a point is solved from (>= 2).

    Returns:
        A :class:`Triangulation`. A point whose last ``min_views`` views still disagree keeps
        its solution (its errors tell); under ``min_views`` observations it is NaN.
    """
    if min_views < 2:
        raise ValueError(f"min_views: expected >= 2, got {min_views}")
    if not max_error_px > 0:
        raise ValueError(f"max_error_px: expected > 0, got {max_error_px}")
    cameras = _cameras(cameras)
    uv = check_shape(uv_px, (None, None, 2), "uv_px")
    w = np.ones(uv.shape[:-1]) if weights is None else np.asarray(weights, np.float64)
    w = np.broadcast_to(w, np.broadcast_shapes(w.shape, uv.shape[:-1]))
    used = np.isfinite(uv).all(-1) & (w > _MIN_WEIGHT)
    v = uv.shape[-3]
    p = triangulate(uv, cameras, np.where(used, w, 0.0))
    for _ in range(max(v - min_views, 0)):
        err = reprojection_errors(p, uv, cameras)
        err_used = np.where(used & np.isfinite(err), err, -np.inf)
        worst = np.argmax(err_used, axis=-2)  # (..., J)
        worst_err = np.take_along_axis(err_used, worst[..., None, :], axis=-2)[..., 0, :]
        drop = (worst_err > max_error_px) & (used.sum(axis=-2) > min_views)
        if not drop.any():
            break
        onehot = np.arange(v)[:, None] == worst[..., None, :]
        used = used & ~(onehot & drop[..., None, :])
        p_new = triangulate(uv, cameras, np.where(used, w, 0.0))
        p = np.where(drop[..., None], p_new, p)
    enough = used.sum(axis=-2) >= min_views
    p = np.where(enough[..., None], p, np.nan)
    err = reprojection_errors(p, uv, cameras)
    return Triangulation(points_world=p, reprojection_error_px=err, used=used & enough[..., None, :])
