"""Shared plumbing of the projection models: parameter checks, broadcasting, pixel maps.

Private to ``posesynth.geometry.camera``. Shapes follow the package docstring: points ``(..., J, 3)``,
pixels ``(..., J, 2)``, intrinsics ``(..., 4) = (fx, fy, cx, cy)`` in pixels, distortion
``(..., D)``. Parameter arrays carry no J axis; the functions here insert it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from posesynth.util.checks import check_finite, check_shape

#: Iterations of every fixed-iteration Newton inverse. Newton converges quadratically, so
#: moderate distortion reaches float64 round-off in 4-5 steps; the rest is margin.
NEWTON_ITERATIONS = 12


#: Points per block in :func:`map_blocks`: a block's temporaries then stay in the CPU cache,
#: which makes the elementwise chains of the models about twice as fast on large batches.
BLOCK_POINTS = 16384


def map_blocks(
    kernel: Callable[..., np.ndarray],
    args: Sequence[tuple[np.ndarray, int]],
    out_tail: tuple[int, ...],
) -> np.ndarray:
    """``kernel(*arrays)`` evaluated block by block along the first batch axis.

    ``args`` pairs each array with its number of trailing core dims (2 for points
    ``(..., J, k)``, 1 for parameters ``(..., n)``, 2 for rotations ``(..., 3, 3)``). The
    leading dims broadcast to a batch shape; the result has shape ``batch + out_tail`` with
    ``out_tail`` e.g. ``(J, 2)``. Small inputs go to ``kernel`` in one call. The kernel must
    act independently on each batch element (it does for every model here).
    """
    batch = np.broadcast_shapes(*(a.shape[: a.ndim - core] for a, core in args))
    per_row = math.prod(batch[1:]) * math.prod(out_tail[:-1])
    n_rows = batch[0] if batch else 1
    if n_rows < 2 or n_rows * per_row <= 2 * BLOCK_POINTS:
        return kernel(*(a for a, _ in args))
    step = max(1, BLOCK_POINTS // max(per_row, 1))
    dtype = np.result_type(*(a.dtype for a, _ in args), np.float64)
    out = np.empty(batch + tuple(out_tail), dtype=dtype)
    sliced = [a.ndim - core == len(batch) and a.shape[0] != 1 for a, core in args]
    for start in range(0, n_rows, step):
        rows = slice(start, start + step)
        out[rows] = kernel(*(a[rows] if cut else a for (a, _), cut in zip(args, sliced)))
    return out


def validate_intrinsics(intrinsics: np.ndarray) -> np.ndarray:
    """Return ``intrinsics (..., 4)`` as a float array; raise unless finite with fx, fy > 0."""
    arr = check_shape(intrinsics, (4,), "intrinsics")
    check_finite(arr, "intrinsics")
    for index, name in ((0, "fx"), (1, "fy")):
        focal = arr[..., index]
        if (focal <= 0).any():
            bad = float(focal[focal <= 0].ravel()[0])
            raise ValueError(f"intrinsics: expected {name} > 0, got {bad}")
    return arr


def validate_distortion(distortion: np.ndarray | None, names: Sequence[str], model: str) -> np.ndarray:
    """Return ``distortion (..., len(names))`` as a float array; ``None`` means all zeros."""
    if distortion is None:
        return np.zeros(len(names))
    label = f"distortion ({model}: {', '.join(names)})" if names else f"distortion ({model}: none)"
    arr = check_shape(distortion, (len(names),), label)
    check_finite(arr, "distortion")
    return arr


def check_points(p: np.ndarray, size: int, name: str) -> np.ndarray:
    """Return ``p (..., J, size)`` as a float array (shape check only, no finiteness scan).

    Non-finite points are not rejected here because this runs on the hot path; they give
    non-finite outputs instead.
    """
    return check_shape(p, (None, size), name)


def check_batch(points: np.ndarray, point_name: str, **params: np.ndarray) -> tuple[int, ...]:
    """Raise unless leading dims of points ``(..., J, k)`` and parameters ``(..., n)`` broadcast.

    Returns the broadcast batch shape (without J).
    """
    shapes = [points.shape[:-2]] + [p.shape[:-1] for p in params.values()]
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        got = ", ".join([f"{point_name} {points.shape}"] + [f"{k} {v.shape}" for k, v in params.items()])
        raise ValueError(
            f"{point_name}: leading dimensions must broadcast with the camera parameters' "
            f"(points (..., J, k) against parameters (..., n)), got {got}"
        ) from None


def per_point(params: np.ndarray, index: int) -> np.ndarray:
    """Parameter ``index`` of ``params (..., n)`` as ``(..., 1)``, ready to broadcast over J."""
    return params[..., index, None]


def normalised_xy(p_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Perspective division: ``(X/Z, Y/Z)``, each ``(..., J)``. Z = 0 gives inf/NaN, silently."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_z = 1.0 / p_cam[..., 2]
        return p_cam[..., 0] * inv_z, p_cam[..., 1] * inv_z


def to_pixels(x: np.ndarray, y: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Pixels ``(..., J, 2)`` from normalised image coordinates ``x, y (..., J)``."""
    fx, fy = per_point(intrinsics, 0), per_point(intrinsics, 1)
    cx, cy = per_point(intrinsics, 2), per_point(intrinsics, 3)
    shape = np.broadcast_shapes(x.shape, y.shape, fx.shape)
    uv_px = np.empty(shape + (2,), dtype=np.result_type(x, y, intrinsics))
    u, v = uv_px[..., 0], uv_px[..., 1]
    np.multiply(x, fx, out=u)
    u += cx
    np.multiply(y, fy, out=v)
    v += cy
    return uv_px


def from_pixels(uv_px: np.ndarray, intrinsics: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised (still distorted) image coordinates ``x, y (..., J)`` from pixels."""
    x = (uv_px[..., 0] - per_point(intrinsics, 2)) / per_point(intrinsics, 0)
    y = (uv_px[..., 1] - per_point(intrinsics, 3)) / per_point(intrinsics, 1)
    return x, y


def rays_from_xy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Unit rays ``(..., J, 3)`` through normalised image points ``(x, y, 1)``."""
    rays = np.empty(np.broadcast_shapes(x.shape, y.shape) + (3,), dtype=np.result_type(x, y))
    rays[..., 0] = x
    rays[..., 1] = y
    rays[..., 2] = 1.0
    rays /= np.sqrt(x * x + y * y + 1.0)[..., None]
    return rays


Distortion2D = Callable[
    [np.ndarray, np.ndarray],
    tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
]


def newton_2d(
    xd: np.ndarray, yd: np.ndarray, distort: Distortion2D, iterations: int = NEWTON_ITERATIONS
) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``distort(x, y)[:2] == (xd, yd)`` by a fixed number of Newton steps from ``(xd, yd)``.

    ``distort(x, y)`` returns ``(gx, gy, dgx_dx, dgx_dy, dgy_dx, dgy_dy)``. Vectorised over
    all points; a (near) singular Jacobian leaves that point where it is for that step.
    Valid where the distortion is invertible (the image region of a real lens).
    """
    x = np.array(xd, dtype=np.result_type(xd, yd, float), copy=True)
    y = np.array(yd, dtype=x.dtype, copy=True)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(iterations):
            gx, gy, a, b, c, d = distort(x, y)
            ex, ey = gx - xd, gy - yd
            det = a * d - b * c
            ok = np.abs(det) > 1e-12
            inv_det = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
            x = x - (d * ex - b * ey) * inv_det
            y = y - (a * ey - c * ex) * inv_det
    return x, y


def project_compiled(
    model: str, p_cam: np.ndarray, intrinsics: np.ndarray, distortion: np.ndarray
) -> np.ndarray | None:
    """Pixels ``(..., J, 2)`` from the compiled kernel of ``model`` (checked inputs), or None
    when Numba is off or the batch dims need NumPy broadcasting (the caller's NumPy path then
    runs). Bit for bit the NumPy result except fisheye (see :mod:`posesynth.geometry._kernels`)."""
    from posesynth.geometry import _kernels
    from posesynth.util.jit import numba_enabled

    if not numba_enabled():
        return None
    flat = _kernels.flat_batch(p_cam, (intrinsics, 1), (distortion, 1))
    if flat is None:
        return None
    points, intr, dist = flat
    uv = np.empty(points.shape[:-1] + (2,))
    _kernels.project_points(_kernels.MODEL_CODES[model], points, intr, dist, uv)
    return uv.reshape(p_cam.shape[:-1] + (2,))


def apply_model(
    kernel: Callable[..., np.ndarray],
    validate: Callable[..., tuple[np.ndarray, np.ndarray]],
    points: np.ndarray,
    name: str,
    point_size: int,
    intrinsics: np.ndarray,
    distortion: np.ndarray | None,
    out_size: int,
    compiled: str | None = None,
) -> np.ndarray:
    """Check ``points`` (..., J, point_size) and a distorted model's parameters, then run
    ``kernel(points, intrinsics, distortion)`` block by block; returns (..., J, out_size).
    ``compiled`` names the model whose compiled projection kernel to use when Numba is on."""
    points = check_points(points, point_size, name)
    intrinsics, distortion = validate(intrinsics, distortion)
    check_batch(points, name, intrinsics=intrinsics, distortion=distortion)
    if compiled is not None:
        uv = project_compiled(compiled, points, intrinsics, distortion)
        if uv is not None:
            return uv
    return map_blocks(kernel, [(points, 2), (intrinsics, 1), (distortion, 1)], points.shape[-2:-1] + (out_size,))
