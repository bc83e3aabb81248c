"""Random virtual cameras around posed bodies: intrinsics per model, orbit placement, framing.

Each sample gets its own camera, so a lifter trained on the result sees many focal lengths,
distortions, heights and headings (see "Lifting from any camera" in CONVENTIONS.md).
The camera orbits the body's centre (the middle of its 3D bounding box, jittered) at a
distance that keeps the whole body inside the field of view, times a random factor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posesynth.geometry.camera import Camera, CameraModel, h36m_camera_intrinsics, orbit
from posesynth.geometry.camera.presets import H36M_CAMERA_IDS
from posesynth.util.checks import check_finite, check_shape


@dataclass(frozen=True)
class PlacementRanges:
    """Ranges (degrees where named so) the cameras are drawn from, uniformly unless stated."""

    image_size: tuple[int, int] = (1000, 1000)
    fov_deg: tuple[float, float] = (40.0, 75.0)  # horizontal field of view, pinhole/opencv
    fisheye_fov_deg: tuple[float, float] = (120.0, 190.0)
    azimuth_deg: tuple[float, float] = (-180.0, 180.0)
    elevation_deg: tuple[float, float] = (-10.0, 45.0)
    roll_sd_deg: float = 3.0  # normal
    distance_scale: tuple[float, float] = (1.05, 2.5)  # × the distance at which the body fills the view
    principal_jitter: float = 0.03  # fraction of the image size
    target_jitter_m: float = 0.1  # normal sd of the look-at point around the body centre


def _intrinsics(rng: np.random.Generator, model: CameraModel, n: int, r: PlacementRanges):
    """(intrinsics (n, 4), distortion (n, D), image_size (n, 2), usable half-FOV (n,) radians)."""
    w, h = r.image_size
    size = np.tile(np.array([w, h], dtype=np.int64), (n, 1))
    if model is CameraModel.H36M:
        ids = rng.integers(0, len(H36M_CAMERA_IDS), n)
        presets = [h36m_camera_intrinsics(cid) for cid in H36M_CAMERA_IDS]
        intr = np.stack([presets[i][0] for i in ids])
        dist = np.stack([presets[i][1] for i in ids])
        size = np.stack([np.asarray(presets[i][2], dtype=np.int64) for i in ids])
        half = np.arctan(np.min(size, axis=1) / 2.0 / intr[:, 0])
        return intr, dist, size, half
    jitter = rng.uniform(-r.principal_jitter, r.principal_jitter, (n, 2)) * [w, h]
    centre = (np.array([w, h]) - 1.0) / 2.0 + jitter
    if model is CameraModel.FISHEYE:
        fov = np.deg2rad(rng.uniform(*r.fisheye_fov_deg, n))
        f = (w / 2.0) / (fov / 2.0)  # equidistant: r = f θ reaches the image edge at fov/2
        dist = np.stack(
            [
                rng.uniform(-0.05, 0.05, n),
                rng.uniform(-0.02, 0.02, n),
                rng.uniform(-0.01, 0.01, n),
                rng.uniform(-0.005, 0.005, n),
            ],
            axis=1,
        )
        half = np.minimum(fov / 2.0 * min(w, h) / w, np.deg2rad(80.0))
    else:
        fov = np.deg2rad(rng.uniform(*r.fov_deg, n))
        f = (w / 2.0) / np.tan(fov / 2.0)
        half = np.arctan(min(w, h) / 2.0 / f)
        if model is CameraModel.OPENCV:
            dist = np.stack(
                [
                    rng.uniform(-0.3, 0.05, n),
                    rng.uniform(-0.05, 0.15, n),
                    rng.normal(0, 1e-3, n),
                    rng.normal(0, 1e-3, n),
                    np.zeros(n),
                ],
                axis=1,
            )
        else:
            dist = np.zeros((n, model.distortion_size))
    intr = np.stack([f, f, centre[:, 0], centre[:, 1]], axis=1)
    return intr, dist, size, half


def _framing(positions: np.ndarray, jitter: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(target (n, 3): bounding-box middle + ``jitter``, radius (n,): farthest joint from it),
    metres; by the compiled kernel when Numba is on (the same bits)."""
    from posesynth.geometry import _kernels
    from posesynth.util.jit import numba_enabled

    if numba_enabled():
        target, radius = np.empty((len(positions), 3)), np.empty(len(positions))
        _kernels.framing(np.ascontiguousarray(positions, dtype=np.float64), jitter, target, radius)
        return target, radius
    lo, hi = positions.min(axis=1), positions.max(axis=1)
    target = 0.5 * (lo + hi) + jitter
    return target, np.linalg.norm(positions - target[:, None, :], axis=-1).max(axis=1)


def sample_cameras(
    rng: np.random.Generator,
    positions: np.ndarray,
    model: CameraModel | str,
    ranges: PlacementRanges | None = None,
) -> Camera:
    """One random camera (a batch of ``n``) per pose, framing the whole body.

    Args:
        rng: randomness.
        positions: (n, J, 3) poses, metres, world frame (Z up).
        model: projection model of every camera.
        ranges: where to draw from (default :class:`PlacementRanges`).

    Returns:
        A :class:`Camera` batch of shape (n,).
    """
    positions = check_finite(check_shape(positions, (None, 3), "positions"), "positions")
    if positions.ndim != 3:
        raise ValueError(f"positions: expected shape (n, J, 3), got {positions.shape}")
    model = CameraModel.parse(model)
    r = ranges or PlacementRanges()
    n = positions.shape[0]
    intr, dist, size, half = _intrinsics(rng, model, n, r)
    target, radius = _framing(positions, rng.normal(0.0, r.target_jitter_m, (n, 3)))
    usable = 0.92 * half  # keep a margin for distortion and roll
    distance = radius / np.sin(usable) * rng.uniform(*r.distance_scale, n)
    R, C = orbit(
        target,
        np.deg2rad(rng.uniform(*r.azimuth_deg, n)),
        np.deg2rad(rng.uniform(*r.elevation_deg, n)),
        distance,
        np.deg2rad(rng.normal(0.0, r.roll_sd_deg, n)),
    )
    return Camera(model=model, intrinsics=intr, distortion=dist, rotation=R, center=C, image_size=size)
