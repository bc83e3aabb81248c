"""Compiled kernels of the camera hot path: world -> camera -> pixels, fused per point.

Private to ``posesynth.geometry``. Each kernel is a loop over a flat batch ``(N, J, k)`` with
per-camera parameters ``(N, n)`` (a stride-0 broadcast for one shared camera), compiled by
Numba (:mod:`posesynth.util.jit`); the public functions of :mod:`posesynth.geometry.camera`
call them when Numba is enabled and use their NumPy code otherwise.

Exactness against the NumPy path (tested bit for bit):

* world -> camera ``R (p - C)``: each row as ``fma(d2, r2, fma(d1, r1, d0 r0))``, which is
  what NumPy's ``matmul`` computes through BLAS on CPUs with FMA (every x86-64 since 2013);
  elsewhere the two differ by at most 1 ulp.
* pinhole, OpenCV and Human3.6M projection: the same operations in the same order, so the
  same bits.
* fisheye: ``atan2`` and ``hypot`` come from the C library here and from NumPy's SIMD code
  there: within 2e-15 rad, i.e. < 1e-9 px for any real image.

Model codes: 0 pinhole, 1 opencv, 2 fisheye, 3 h36m (see :data:`MODEL_CODES`).
"""

from __future__ import annotations

import math

import numpy as np

from posesynth.util.jit import fma_reference, kernel

fma = fma_reference  # replaced by the hardware fused multiply-add when the kernels compile
JIT_HELPERS = (
    "_pinhole",
    "_opencv",
    "_h36m",
    "_fisheye",
    "_distort",
    "_pixels",
    "_coefficients",
    "_camera_rows",
    "_pose_rows",
)

MODEL_CODES = {"pinhole": 0, "opencv": 1, "fisheye": 2, "h36m": 3}


def _pinhole(xc: float, yc: float, zc: float) -> tuple[float, float]:
    inv_z = 1.0 / zc
    return xc * inv_z, yc * inv_z


def _opencv(
    xc: float, yc: float, zc: float, k1: float, k2: float, p1: float, p2: float, k3: float
) -> tuple[float, float]:
    """OpenCV (Brown-Conrady) distorted normalised coordinates."""
    inv_z = 1.0 / zc
    x = xc * inv_z
    y = yc * inv_z
    xy = x * y
    x2 = x * x
    y2 = y * y
    r2 = x2 + y2
    a = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * a + 2.0 * p1 * xy + p2 * (r2 + 2.0 * x2)
    yd = y * a + p1 * (r2 + 2.0 * y2) + 2.0 * p2 * xy
    return xd, yd


def _h36m(
    xc: float, yc: float, zc: float, k1: float, k2: float, p1: float, p2: float, k3: float
) -> tuple[float, float]:
    """Human3.6M's own tangential term."""
    inv_z = 1.0 / zc
    x = xc * inv_z
    y = yc * inv_z
    r2 = x * x + y * y
    ab = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3)) + p2 * x + p1 * y
    return x * ab + p2 * r2, y * ab + p1 * r2


def _fisheye(xc: float, yc: float, zc: float, k1: float, k2: float, k3: float, k4: float) -> tuple[float, float]:
    """Kannala-Brandt."""
    r = math.hypot(xc, yc)
    theta = math.atan2(r, zc)
    t2 = theta * theta
    theta_d = theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
    if r == 0.0:  # theta_d / r -> 1 / Z in front; undefined behind
        scale = 1.0 / zc if zc > 0.0 else math.nan
    else:
        scale = theta_d / r
    return xc * scale, yc * scale


def _distort(
    model: int, xc: float, yc: float, zc: float, c0: float, c1: float, c2: float, c3: float, c4: float
) -> tuple[float, float]:
    """Distorted normalised coordinates of one camera-frame point (the models' formulas,
    operation for operation as in their NumPy code); ``c0..c4`` the camera's distortion
    coefficients in the model's order (0 past its count)."""
    if model == 2:
        return _fisheye(xc, yc, zc, c0, c1, c2, c3)
    if model == 0:
        return _pinhole(xc, yc, zc)
    if model == 1:
        return _opencv(xc, yc, zc, c0, c1, c2, c3, c4)
    return _h36m(xc, yc, zc, c0, c1, c2, c3, c4)


def _pixels(
    model: int,
    J: int,
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    c0: float,
    c1: float,
    c2: float,
    c3: float,
    c4: float,
    fx: float,
    fy: float,
    cx: float,
    cy: float,
    us: np.ndarray,
    vs: np.ndarray,
) -> None:
    """``us, vs (J,)`` pixels of one camera's points ``xs, ys, zs (J,)`` (camera frame).

    One loop per model, its branch outside the loop: over these contiguous rows, with no
    branch inside, the loop compiles to SIMD across the points (fisheye's ``atan2`` and
    ``hypot`` are calls: that loop stays scalar)."""
    if model == 1:
        for j in range(J):
            xd, yd = _opencv(xs[j], ys[j], zs[j], c0, c1, c2, c3, c4)
            us[j] = xd * fx + cx
            vs[j] = yd * fy + cy
    elif model == 0:
        for j in range(J):
            xd, yd = _pinhole(xs[j], ys[j], zs[j])
            us[j] = xd * fx + cx
            vs[j] = yd * fy + cy
    elif model == 3:
        for j in range(J):
            xd, yd = _h36m(xs[j], ys[j], zs[j], c0, c1, c2, c3, c4)
            us[j] = xd * fx + cx
            vs[j] = yd * fy + cy
    else:
        for j in range(J):
            xd, yd = _fisheye(xs[j], ys[j], zs[j], c0, c1, c2, c3)
            us[j] = xd * fx + cx
            vs[j] = yd * fy + cy


def _coefficients(dist: np.ndarray, i: int) -> tuple[float, float, float, float, float]:
    """Camera ``i``'s distortion coefficients ``dist (N, D)``, D <= 5, padded with zeros."""
    D = dist.shape[1]
    c0 = dist[i, 0] if D > 0 else 0.0
    c1 = dist[i, 1] if D > 1 else 0.0
    c2 = dist[i, 2] if D > 2 else 0.0
    c3 = dist[i, 3] if D > 3 else 0.0
    c4 = dist[i, 4] if D > 4 else 0.0
    return c0, c1, c2, c3, c4


@kernel
def project_points(model: int, p_cam: np.ndarray, intr: np.ndarray, dist: np.ndarray, uv: np.ndarray) -> None:
    """``uv (N, J, 2)`` pixels of camera-frame points ``p_cam (N, J, 3)`` metres, with
    intrinsics ``(N, 4)`` and distortion ``(N, D)`` of the model ``model`` (a code)."""
    n, J = p_cam.shape[0], p_cam.shape[1]
    xs, ys, zs, us, vs = np.empty(J), np.empty(J), np.empty(J), np.empty(J), np.empty(J)
    for i in range(n):
        fx, fy, cx, cy = intr[i, 0], intr[i, 1], intr[i, 2], intr[i, 3]
        c0, c1, c2, c3, c4 = _coefficients(dist, i)
        for j in range(J):
            xs[j], ys[j], zs[j] = p_cam[i, j, 0], p_cam[i, j, 1], p_cam[i, j, 2]
        _pixels(model, J, xs, ys, zs, c0, c1, c2, c3, c4, fx, fy, cx, cy, us, vs)
        for j in range(J):
            uv[i, j, 0] = us[j]
            uv[i, j, 1] = vs[j]


@kernel
def world_to_camera(p_world: np.ndarray, R: np.ndarray, C: np.ndarray, p_cam: np.ndarray) -> None:
    """``p_cam (N, J, 3) = R (p_world - C)`` for ``p_world (N, J, 3)``, ``R (N, 3, 3)``,
    ``C (N, 3)``, metres."""
    n, J = p_world.shape[0], p_world.shape[1]
    for i in range(n):
        for j in range(J):
            d0 = p_world[i, j, 0] - C[i, 0]
            d1 = p_world[i, j, 1] - C[i, 1]
            d2 = p_world[i, j, 2] - C[i, 2]
            for k in range(3):
                p_cam[i, j, k] = fma(d2, R[i, k, 2], fma(d1, R[i, k, 1], d0 * R[i, k, 0]))


@kernel
def camera_to_world(p_cam: np.ndarray, R: np.ndarray, C: np.ndarray, p_world: np.ndarray) -> None:
    """``p_world (N, J, 3) = R^T p_cam + C`` for ``p_cam (N, J, 3)``, ``R (N, 3, 3)``,
    ``C (N, 3)``, metres: each coordinate the three products (each rounded) summed in row
    order, then ``C`` added; the bits of the NumPy path of
    :meth:`posesynth.data.dataset.PoseDataset.complete`."""
    n, J = p_cam.shape[0], p_cam.shape[1]
    for i in range(n):
        r00, r01, r02 = R[i, 0, 0], R[i, 0, 1], R[i, 0, 2]
        r10, r11, r12 = R[i, 1, 0], R[i, 1, 1], R[i, 1, 2]
        r20, r21, r22 = R[i, 2, 0], R[i, 2, 1], R[i, 2, 2]
        e0, e1, e2 = C[i, 0], C[i, 1], C[i, 2]
        for j in range(J):
            x, y, z = p_cam[i, j, 0], p_cam[i, j, 1], p_cam[i, j, 2]
            p_world[i, j, 0] = ((x * r00 + y * r10) + z * r20) + e0
            p_world[i, j, 1] = ((x * r01 + y * r11) + z * r21) + e1
            p_world[i, j, 2] = ((x * r02 + y * r12) + z * r22) + e2


def _camera_rows(
    p_world: np.ndarray, R: np.ndarray, C: np.ndarray, i: int, xs: np.ndarray, ys: np.ndarray, zs: np.ndarray
) -> None:
    """Pose ``i``'s points ``p_world[i] (J, 3)`` in camera ``i``'s frame, into the contiguous
    rows ``xs, ys, zs (J,)``: ``R (p - C)``, each row as ``fma(d2, r2, fma(d1, r1, d0 r0))``."""
    # the camera's parameters in locals, read once: the stores below could alias them for
    # the compiler, which would otherwise reload them for every point
    r00, r01, r02 = R[i, 0, 0], R[i, 0, 1], R[i, 0, 2]
    r10, r11, r12 = R[i, 1, 0], R[i, 1, 1], R[i, 1, 2]
    r20, r21, r22 = R[i, 2, 0], R[i, 2, 1], R[i, 2, 2]
    e0, e1, e2 = C[i, 0], C[i, 1], C[i, 2]
    for j in range(p_world.shape[1]):
        d0 = p_world[i, j, 0] - e0
        d1 = p_world[i, j, 1] - e1
        d2 = p_world[i, j, 2] - e2
        xs[j] = fma(d2, r02, fma(d1, r01, d0 * r00))
        ys[j] = fma(d2, r12, fma(d1, r11, d0 * r10))
        zs[j] = fma(d2, r22, fma(d1, r21, d0 * r20))


def _pose_rows(
    model: int,
    p_world: np.ndarray,
    R: np.ndarray,
    C: np.ndarray,
    intr: np.ndarray,
    dist: np.ndarray,
    i: int,
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    us: np.ndarray,
    vs: np.ndarray,
) -> None:
    """Pose ``i`` seen by camera ``i``: its points in the camera frame into the rows ``xs, ys,
    zs (J,)`` (:func:`_camera_rows`), then their pixels into ``us, vs (J,)`` (:func:`_pixels`)."""
    fx, fy, cx, cy = intr[i, 0], intr[i, 1], intr[i, 2], intr[i, 3]
    c0, c1, c2, c3, c4 = _coefficients(dist, i)
    _camera_rows(p_world, R, C, i, xs, ys, zs)
    _pixels(model, p_world.shape[1], xs, ys, zs, c0, c1, c2, c3, c4, fx, fy, cx, cy, us, vs)


@kernel
def project_world(
    model: int,
    p_world: np.ndarray,
    R: np.ndarray,
    C: np.ndarray,
    intr: np.ndarray,
    dist: np.ndarray,
    keep_cam: bool,
    p_cam: np.ndarray,
    uv: np.ndarray,
) -> None:
    """:func:`world_to_camera` then :func:`project_points`, fused: one pass over the poses;
    fills ``uv (N, J, 2)`` pixels and, with ``keep_cam``, ``p_cam (N, J, 3)`` metres.

    Per pose, its points go to the camera frame into three contiguous rows (x, y, z), then
    the model's loop over those rows makes the pixels (SIMD across the points; the same
    operations as the scalar formulas, so the same bits), written back interleaved."""
    n, J = p_world.shape[0], p_world.shape[1]
    xs, ys, zs, us, vs = np.empty(J), np.empty(J), np.empty(J), np.empty(J), np.empty(J)
    for i in range(n):
        _pose_rows(model, p_world, R, C, intr, dist, i, xs, ys, zs, us, vs)
        if keep_cam:
            for j in range(J):
                p_cam[i, j, 0], p_cam[i, j, 1], p_cam[i, j, 2] = xs[j], ys[j], zs[j]
        for j in range(J):
            uv[i, j, 0] = us[j]
            uv[i, j, 1] = vs[j]


@kernel
def observe_stored(
    model: int,
    p_world: np.ndarray,
    R: np.ndarray,
    C: np.ndarray,
    intr: np.ndarray,
    dist: np.ndarray,
    size: np.ndarray,
    min_depth: float,
    world_out: np.ndarray,
    cam_out: np.ndarray,
    uv_out: np.ndarray,
    seen_out: np.ndarray,
) -> None:
    """:func:`project_world` plus visibility, written straight in a store's dtypes, for the
    perspective models (pinhole, OpenCV, Human3.6M; not fisheye, whose visibility takes
    NumPy's ``hypot``, which is not the C library's).

    Fills ``cam_out (N, J, 3)`` metres, ``uv_out (N, J, 2)`` pixels and, unless it has no
    rows, ``world_out (N, J, 3)`` (the points themselves), in the outputs' float dtype: each
    value is the float64 of :func:`project_world` rounded once, as ``astype`` rounds it.
    ``seen_out (N, J)`` is 1 where the point is visible and 0 elsewhere, as
    ``posesynth.geometry.camera.visibility.visible`` decides from the float64 values with
    no field-of-view limit: depth ``> min_depth`` and inside the image ``size (N, 2)``
    (width, height) pixels."""
    n, J = p_world.shape[0], p_world.shape[1]
    keep_world = world_out.shape[0] == n
    xs, ys, zs, us, vs = np.empty(J), np.empty(J), np.empty(J), np.empty(J), np.empty(J)
    for i in range(n):
        _pose_rows(model, p_world, R, C, intr, dist, i, xs, ys, zs, us, vs)
        right, bottom = size[i, 0] - 0.5, size[i, 1] - 0.5
        for j in range(J):
            x, y, z, u, v = xs[j], ys[j], zs[j], us[j], vs[j]
            if keep_world:
                world_out[i, j, 0], world_out[i, j, 1], world_out[i, j, 2] = (
                    p_world[i, j, 0],
                    p_world[i, j, 1],
                    p_world[i, j, 2],
                )
            cam_out[i, j, 0], cam_out[i, j, 1], cam_out[i, j, 2] = x, y, z
            uv_out[i, j, 0], uv_out[i, j, 1] = u, v
            inside = u >= -0.5 and u < right and v >= -0.5 and v < bottom
            seen_out[i, j] = 1 if z > min_depth and inside else 0


@kernel
def orbit(
    ca: np.ndarray,
    sa: np.ndarray,
    ce: np.ndarray,
    se: np.ndarray,
    cr: np.ndarray,
    sr: np.ndarray,
    target: np.ndarray,
    distance: np.ndarray,
    R: np.ndarray,
    C: np.ndarray,
) -> None:
    """``R (N, 3, 3)`` and ``C (N, 3)`` of ``posesynth.geometry.camera.extrinsics.orbit`` from
    the cosines and sines ``(N,)`` of the azimuth (``ca, sa``), elevation (``ce, se``) and
    roll (``cr, sr``), ``target (N, 3)`` and ``distance (N,)`` metres: the operations of its
    NumPy code, in its order (the same bits)."""
    for i in range(R.shape[0]):
        o0, o1, o2 = ce[i] * ca[i], ce[i] * sa[i], se[i]  # outward, from the target
        x0, x1, x2 = -sa[i], ca[i], 0.0
        y0, y1, y2 = se[i] * ca[i], se[i] * sa[i], -ce[i]
        c, s = cr[i], sr[i]
        R[i, 0, 0], R[i, 0, 1], R[i, 0, 2] = c * x0 + s * y0, c * x1 + s * y1, c * x2 + s * y2
        R[i, 1, 0], R[i, 1, 1], R[i, 1, 2] = c * y0 - s * x0, c * y1 - s * x1, c * y2 - s * x2
        R[i, 2, 0], R[i, 2, 1], R[i, 2, 2] = -o0, -o1, -o2
        d = distance[i]
        C[i, 0], C[i, 1], C[i, 2] = target[i, 0] + d * o0, target[i, 1] + d * o1, target[i, 2] + d * o2


@kernel
def framing(positions: np.ndarray, jitter: np.ndarray, target: np.ndarray, radius: np.ndarray) -> None:
    """Per pose of ``positions (N, J, 3)`` metres: ``target (N, 3)`` = the middle of its
    bounding box + ``jitter (N, 3)``, and ``radius (N,)`` = the largest joint distance from
    it. The operations of ``posesynth.geometry.placement.sample_cameras``, in its order."""
    n, J = positions.shape[0], positions.shape[1]
    for i in range(n):
        for c in range(3):
            lo = positions[i, 0, c]
            hi = lo
            for j in range(1, J):
                v = positions[i, j, c]
                lo = min(lo, v)
                hi = max(hi, v)
            target[i, c] = 0.5 * (lo + hi) + jitter[i, c]
        best = 0.0
        for j in range(J):
            dx = positions[i, j, 0] - target[i, 0]
            dy = positions[i, j, 1] - target[i, 1]
            dz = positions[i, j, 2] - target[i, 2]
            r = math.sqrt(dx * dx + dy * dy + dz * dz)
            best = r if j == 0 else max(best, r)
        radius[i] = best


@kernel
def rotation_errors(R: np.ndarray, err: np.ndarray, det: np.ndarray) -> None:
    """Per rotation matrix of ``R (N, 3, 3)``: ``err (N,)`` the largest ``|R R^T - I|`` entry
    and ``det (N,)`` its determinant (validation only; not bit-matched to NumPy's)."""
    for i in range(R.shape[0]):
        worst = 0.0
        for a in range(3):
            for b in range(3):
                g = R[i, a, 0] * R[i, b, 0] + R[i, a, 1] * R[i, b, 1] + R[i, a, 2] * R[i, b, 2]
                e = abs(g - (1.0 if a == b else 0.0))
                if not e <= worst:  # NaN wins, as in NumPy's max
                    worst = e
        err[i] = worst
        det[i] = (
            R[i, 0, 0] * (R[i, 1, 1] * R[i, 2, 2] - R[i, 1, 2] * R[i, 2, 1])
            - R[i, 0, 1] * (R[i, 1, 0] * R[i, 2, 2] - R[i, 1, 2] * R[i, 2, 0])
            + R[i, 0, 2] * (R[i, 1, 0] * R[i, 2, 1] - R[i, 1, 1] * R[i, 2, 0])
        )


def flat_batch(points: np.ndarray, *params: tuple[np.ndarray, int]) -> tuple[np.ndarray, ...] | None:
    """Points ``(..., J, k)`` as ``(N, J, k)`` and each parameter ``(..., *core)`` as
    ``(N, *core)`` float64 views (stride 0 where broadcast), or None when the parameters'
    batch dims are not those of the points or empty (the caller then takes its NumPy path).

    ``params`` pairs each array with its number of core dims (1 for ``(..., n)``, 2 for
    ``(..., 3, 3)``).
    """
    if points.ndim < 2 or points.dtype != np.float64:
        return None
    lead = points.shape[:-2]
    out = [points.reshape((-1,) + points.shape[-2:])]
    n = out[0].shape[0]
    for arr, core in params:
        arr = np.asarray(arr, dtype=np.float64)
        batch = arr.shape[: arr.ndim - core]
        if batch == lead:
            out.append(arr.reshape((n,) + arr.shape[arr.ndim - core :]))
        elif batch == ():
            out.append(np.broadcast_to(arr, (n,) + arr.shape))
        else:
            return None
    return tuple(out)
