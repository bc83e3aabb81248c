"""Compiled kernels of the body's hot paths: forward kinematics, angles -> local rotations,
the hinge reposing and the capsule collision check.

Private to ``posesynth.body`` (and :mod:`posesynth.poses.motions`). Each kernel loops over a
flat batch of poses ``(N, J, ...)`` float64 and is compiled by Numba
(:mod:`posesynth.util.jit`); the public functions call it when Numba is enabled and run
their NumPy code otherwise. Quaternions are XYZW, positions metres, angles radians.

Exactness against the NumPy path:

* forward kinematics and the collision distances: the same operations in the same order,
  so the same bits (tested bit for bit);
* the hinge reposing: its geometry kernel and its rotation kernel are exact too (matrix
  products as the fused multiply-adds of NumPy's BLAS matmul, in its order, as on every
  x86-64 CPU since 2013; SIMD across poses, IEEE lane by lane; a bent limb's lanes skip
  the work that only decides a sign, and the lanes where that sign or "bent" is not
  clear-cut are redone by the full formulas); the ``atan2``, ``sin`` and ``cos`` between
  them run in NumPy, one call for all the hinges of a batch;
* angles -> local rotations use ``sin`` and ``cos`` of the C library where NumPy uses its
  own SIMD code, so they agree to round-off: within 1e-12 rad (tested with hypothesis).
"""

from __future__ import annotations

import math

import numpy as np

from posesynth.util.jit import fma_reference, kernel

fma = fma_reference  # replaced by the hardware fused multiply-add when the kernels compile

JIT_HELPERS = (
    "_forward_pose",
    "_angle_rotation",
    "_clip01",
    "_segment_distance",
    "_quat_between",
    "_quat_mul",
    "_norm3",
    "_frame_dots",
    "_quat_between_select",
    "_hinge_lane",
    "_draw_angle",
    "_draw_value",
    "_interp",
    "_segment_distance_rows",
    "_clip01_select",
)

#: Angle kinds of :func:`local_from_angles` (``posesynth.body.angles.JointDofs.kind``).
KIND_CODES = {"euler": 0, "limb": 1, "hinge": 2, "shoulder": 3, "trunk": 4}


@kernel
def forward_kinematics(q: np.ndarray, o: np.ndarray, parents: np.ndarray, g: np.ndarray, p: np.ndarray) -> None:
    """Global rotations ``g (N, J, 4)`` and positions ``p (N, J, 3)`` from local rotations
    ``q (N, J, 4)`` and bone offsets ``o (N, J, 3)`` (row 0 the root position); ``parents``
    (J,) int64, parents before children. Same formulas as the NumPy path."""
    for i in range(q.shape[0]):
        _forward_pose(q, o, parents, i, g[i], p)


def _forward_pose(q: np.ndarray, o: np.ndarray, parents: np.ndarray, i: int, g: np.ndarray, p: np.ndarray) -> None:
    """Pose ``i`` of :func:`forward_kinematics`: positions ``p[i] (J, 3)`` and global rotations
    ``g (J, 4)`` from its local rotations ``q[i] (J, 4)`` and bone offsets ``o[i] (J, 3)``."""
    for c in range(4):
        g[0, c] = q[i, 0, c]
    for c in range(3):
        p[i, 0, c] = o[i, 0, c]
    for j in range(1, q.shape[1]):
        a = parents[j]
        ax, ay, az, aw = g[a, 0], g[a, 1], g[a, 2], g[a, 3]
        bx, by, bz, bw = q[i, j, 0], q[i, j, 1], q[i, j, 2], q[i, j, 3]
        g[j, 0] = aw * bx + ax * bw + ay * bz - az * by
        g[j, 1] = aw * by - ax * bz + ay * bw + az * bx
        g[j, 2] = aw * bz + ax * by - ay * bx + az * bw
        g[j, 3] = aw * bw - ax * bx - ay * by - az * bz
        vx, vy, vz = o[i, j, 0], o[i, j, 1], o[i, j, 2]
        tx, ty, tz = 2 * (ay * vz - az * vy), 2 * (az * vx - ax * vz), 2 * (ax * vy - ay * vx)
        p[i, j, 0] = p[i, a, 0] + vx + aw * tx + (ay * tz - az * ty)
        p[i, j, 1] = p[i, a, 1] + vy + aw * ty + (az * tx - ax * tz)
        p[i, j, 2] = p[i, a, 2] + vz + aw * tz + (ax * ty - ay * tx)


def _clip01(x: float) -> float:
    if x < 0.0:
        return 0.0
    if x > 1.0:
        return 1.0
    return x


def _segment_distance(pos: np.ndarray, i: int, a0: int, a1: int, b0: int, b1: int) -> float:
    """Distance between segments [a0, a1] and [b0, b1] of pose ``i`` of ``pos (N, J, 3)``;
    operation for operation :func:`posesynth.body.collision.segment_distance`."""
    d10 = pos[i, a1, 0] - pos[i, a0, 0]
    d11 = pos[i, a1, 1] - pos[i, a0, 1]
    d12 = pos[i, a1, 2] - pos[i, a0, 2]
    d20 = pos[i, b1, 0] - pos[i, b0, 0]
    d21 = pos[i, b1, 1] - pos[i, b0, 1]
    d22 = pos[i, b1, 2] - pos[i, b0, 2]
    r0 = pos[i, a0, 0] - pos[i, b0, 0]
    r1 = pos[i, a0, 1] - pos[i, b0, 1]
    r2 = pos[i, a0, 2] - pos[i, b0, 2]
    a = d10 * d10 + d11 * d11 + d12 * d12
    e = d20 * d20 + d21 * d21 + d22 * d22
    f = d20 * r0 + d21 * r1 + d22 * r2
    c = d10 * r0 + d11 * r1 + d12 * r2
    b = d10 * d20 + d11 * d21 + d12 * d22
    denom = a * e - b * b
    eps = 1e-30
    safe_a = a if a > eps else 1.0
    safe_e = e if e > eps else 1.0
    s0 = _clip01((b * f - c * e) / denom) if denom > 1e-12 * a * e else 0.0
    t0 = (b * s0 + f) / safe_e if e > eps else 0.0
    if t0 < 0.0:
        s = _clip01(-c / safe_a)
    elif t0 > 1.0:
        s = _clip01((b - c) / safe_a)
    else:
        s = s0
    t = _clip01(t0)
    if not e > eps:
        s = _clip01(-c / safe_a)
    if not a > eps:
        t = _clip01(f / safe_e)
        s = 0.0
    x = (r0 + d10 * s) - d20 * t
    y = (r1 + d11 * s) - d21 * t
    z = (r2 + d12 * s) - d22 * t
    return math.sqrt(x * x + y * y + z * z)


@kernel
def penetration(
    pos: np.ndarray,
    heights: np.ndarray,
    a0: np.ndarray,
    a1: np.ndarray,
    b0: np.ndarray,
    b1: np.ndarray,
    radius_sum: np.ndarray,
    depth: np.ndarray,
) -> None:
    """Overlap ``depth (N, P)`` metres of each capsule pair of poses ``pos (N, J, 3)`` with
    body ``heights (N,)``: ``radius_sum × height − distance``."""
    for i in range(pos.shape[0]):
        for k in range(a0.shape[0]):
            dist = _segment_distance(pos, i, a0[k], a1[k], b0[k], b1[k])
            depth[i, k] = radius_sum[k] * heights[i] - dist


@kernel
def colliding(
    pos: np.ndarray,
    heights: np.ndarray,
    a0: np.ndarray,
    a1: np.ndarray,
    b0: np.ndarray,
    b1: np.ndarray,
    radius_sum: np.ndarray,
    tolerance: float,
    hit: np.ndarray,
) -> None:
    """``hit (N,)``: any pair overlapping by more than ``tolerance × radius_sum × height``
    (stops at the first such pair of a pose)."""
    for i in range(pos.shape[0]):
        hit[i] = False
        for k in range(a0.shape[0]):
            dist = _segment_distance(pos, i, a0[k], a1[k], b0[k], b1[k])
            if radius_sum[k] * heights[i] - dist > tolerance * radius_sum[k] * heights[i]:
                hit[i] = True
                break


def _quat_between(
    ux: float, uy: float, uz: float, vx: float, vy: float, vz: float
) -> tuple[float, float, float, float]:
    """Shortest-arc rotation taking direction u onto v (non-zero; the half turn about the
    axis of ``rotations.quat_between`` when opposite)."""
    nu = math.sqrt(ux * ux + uy * uy + uz * uz)
    nv = math.sqrt(vx * vx + vy * vy + vz * vz)
    ux, uy, uz = ux / nu, uy / nu, uz / nu
    vx, vy, vz = vx / nv, vy / nv, vz / nv
    dot = ux * vx + uy * vy + uz * vz
    qx, qy, qz, qw = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx, 1.0 + dot
    if 1.0 + dot < 1e-12:
        if abs(ux) < 0.9:  # helper x: axis = u × x
            qx, qy, qz = 0.0, uz, -uy
        else:  # helper y: axis = u × y
            qx, qy, qz = -uz, 0.0, ux
        na = math.sqrt(qx * qx + qy * qy + qz * qz)
        qx, qy, qz, qw = qx / na, qy / na, qz / na, 0.0
    nq = math.sqrt(qx * qx + qy * qy + qz * qz + qw * qw)
    return qx / nq, qy / nq, qz / nq, qw / nq


def _quat_between_select(
    ux: float, uy: float, uz: float, vx: float, vy: float, vz: float
) -> tuple[float, float, float, float]:
    """:func:`_quat_between` with its branches as selects (both sides computed), so that a
    loop calling it compiles to SIMD; the same bits."""
    nu = math.sqrt(ux * ux + uy * uy + uz * uz)
    nv = math.sqrt(vx * vx + vy * vy + vz * vz)
    ux, uy, uz = ux / nu, uy / nu, uz / nu
    vx, vy, vz = vx / nv, vy / nv, vz / nv
    dot = ux * vx + uy * vy + uz * vz
    opposite = 1.0 + dot < 1e-12
    helper_x = abs(ux) < 0.9  # axis = u × x; else u × y
    hx = 0.0 if helper_x else -uz
    hy = uz if helper_x else 0.0
    hz = -uy if helper_x else ux
    na = math.sqrt(hx * hx + hy * hy + hz * hz)
    qx = hx / na if opposite else uy * vz - uz * vy
    qy = hy / na if opposite else uz * vx - ux * vz
    qz = hz / na if opposite else ux * vy - uy * vx
    qw = 0.0 if opposite else 1.0 + dot
    nq = math.sqrt(qx * qx + qy * qy + qz * qz + qw * qw)
    return qx / nq, qy / nq, qz / nq, qw / nq


def _quat_mul(
    ax: float, ay: float, az: float, aw: float, bx: float, by: float, bz: float, bw: float
) -> tuple[float, float, float, float]:
    return (
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    )


def _angle_rotation(
    k: int,
    v0: float,
    v1: float,
    v2: float,
    twist: bool,
    s0: float,
    s1: float,
    s2: float,
    rx: float,
    ry: float,
    rz: float,
) -> tuple[float, float, float, float]:
    """Local rotation (XYZW) of one moving joint of kind ``k`` (:data:`KIND_CODES`) from its
    angles ``v0..v2`` radians and signs ``s0..s2``; ``(rx, ry, rz)`` its primary child's rest
    offset (normalised here, as ``angles._rest_directions`` divides); ``twist``: a third angle
    twists it about the rest direction, applied first. The formulas of
    ``posesynth.body.angles.local_from_angles``, in its order."""
    if k == 0:  # intrinsic X-Y-Z Euler angles with per-angle signs
        ha, hb, hc = 0.5 * (s0 * v0), 0.5 * (s1 * v1), 0.5 * (s2 * v2)
        qx, qy, qz, qw = _quat_mul(math.sin(ha), 0.0, 0.0, math.cos(ha), 0.0, math.sin(hb), 0.0, math.cos(hb))
        return _quat_mul(qx, qy, qz, qw, 0.0, 0.0, math.sin(hc), math.cos(hc))
    if k == 1:  # limb (hips)
        f, a = v0, s0 * v1
        dx, dy, dz = math.sin(a), math.cos(a) * math.sin(f), -math.cos(a) * math.cos(f)
    elif k == 2:  # hinge
        dx, dy, dz = 0.0, s0 * math.sin(v0), -math.cos(v0)
    elif k == 3:  # shoulder
        se = math.sin(v0)
        dx, dy, dz = s0 * se * math.sin(v1), se * math.cos(v1), -math.cos(v0)
    else:  # trunk
        dx, dy, dz = math.sin(v1), math.cos(v1) * math.sin(v0), math.cos(v1) * math.cos(v0)
    nr = _norm3(rx, ry, rz)  # the unit rest direction, as angles._rest_directions divides
    if nr > 0:
        rx, ry, rz = rx / nr, ry / nr, rz / nr
    qx, qy, qz, qw = _quat_between(rx, ry, rz, dx, dy, dz)
    if twist:  # twist about the rest direction, applied first
        h = 0.5 * (s1 * v2)
        s = math.sin(h)
        qx, qy, qz, qw = _quat_mul(qx, qy, qz, qw, rx * s, ry * s, rz * s, math.cos(h))
    return qx, qy, qz, qw


@kernel
def local_from_angles(
    values: np.ndarray,
    joint: np.ndarray,
    kind: np.ndarray,
    sign0: np.ndarray,
    sign1: np.ndarray,
    sign2: np.ndarray,
    columns: np.ndarray,
    primary: np.ndarray,
    rest: np.ndarray,
    local: np.ndarray,
) -> None:
    """Local rotations ``local (N, J, 4)`` (identities where no angle moves a joint) from angle columns
    ``values (N, A)`` radians. Per moving joint d: its index ``joint[d]``, ``kind[d]``
    (:data:`KIND_CODES`), signs ``sign0..2`` (D,), the columns of its up to three angles ``columns (D, 3)``
    (-1: absent), its primary child ``primary[d]``; ``rest (R, J, 3)`` rest bone offsets,
    R = 1 (shared) or N. The formulas of ``posesynth.body.angles.local_from_angles``, in its
    order (only ``sin`` and ``cos`` come from another library)."""
    n, J = values.shape[0], local.shape[1]
    for i in range(n):
        ri = i if rest.shape[0] > 1 else 0
        for j in range(J):
            local[i, j, 0], local[i, j, 1], local[i, j, 2], local[i, j, 3] = 0.0, 0.0, 0.0, 1.0
        for d in range(joint.shape[0]):
            j = joint[d]
            v0 = values[i, columns[d, 0]]
            v1 = values[i, columns[d, 1]] if columns[d, 1] >= 0 else 0.0
            v2 = values[i, columns[d, 2]] if columns[d, 2] >= 0 else 0.0
            c = primary[d]
            qx, qy, qz, qw = _angle_rotation(
                kind[d], v0, v1, v2, columns[d, 2] >= 0, sign0[d], sign1[d], sign2[d],
                rest[ri, c, 0], rest[ri, c, 1], rest[ri, c, 2],
            )  # fmt: skip
            local[i, j, 0], local[i, j, 1], local[i, j, 2], local[i, j, 3] = qx, qy, qz, qw


#: Poses per block of :func:`pose_pass`: the block's buffers (joint-coordinate rows) stay in L1/L2.
POSE_BLOCK = 64


def _segment_distance_rows(rows: np.ndarray, k: int, a0: int, a1: int, b0: int, b1: int) -> float:
    """:func:`_segment_distance` of pose ``k`` of a block whose joint coordinates are rows
    (``rows[3 j + c, k]``), with its branches as selects (both sides computed) so that a loop
    over a block's poses compiles to SIMD: the same bits."""
    d10 = rows[3 * a1, k] - rows[3 * a0, k]
    d11 = rows[3 * a1 + 1, k] - rows[3 * a0 + 1, k]
    d12 = rows[3 * a1 + 2, k] - rows[3 * a0 + 2, k]
    d20 = rows[3 * b1, k] - rows[3 * b0, k]
    d21 = rows[3 * b1 + 1, k] - rows[3 * b0 + 1, k]
    d22 = rows[3 * b1 + 2, k] - rows[3 * b0 + 2, k]
    r0 = rows[3 * a0, k] - rows[3 * b0, k]
    r1 = rows[3 * a0 + 1, k] - rows[3 * b0 + 1, k]
    r2 = rows[3 * a0 + 2, k] - rows[3 * b0 + 2, k]
    a = d10 * d10 + d11 * d11 + d12 * d12
    e = d20 * d20 + d21 * d21 + d22 * d22
    f = d20 * r0 + d21 * r1 + d22 * r2
    c = d10 * r0 + d11 * r1 + d12 * r2
    b = d10 * d20 + d11 * d21 + d12 * d22
    denom = a * e - b * b
    eps = 1e-30
    a_pos = a > eps
    e_pos = e > eps
    safe_a = a if a_pos else 1.0
    safe_e = e if e_pos else 1.0
    s0 = _clip01_select((b * f - c * e) / denom) if denom > 1e-12 * a * e else 0.0
    t0 = (b * s0 + f) / safe_e if e_pos else 0.0
    s_low = _clip01_select(-c / safe_a)
    s_high = _clip01_select((b - c) / safe_a)
    s = s_low if t0 < 0.0 else (s_high if t0 > 1.0 else s0)
    t = _clip01_select(t0)
    s = s if e_pos else s_low
    t = t if a_pos else _clip01_select(f / safe_e)
    s = s if a_pos else 0.0
    x = (r0 + d10 * s) - d20 * t
    y = (r1 + d11 * s) - d21 * t
    z = (r2 + d12 * s) - d22 * t
    return math.sqrt(x * x + y * y + z * z)


def _clip01_select(x: float) -> float:
    """:func:`_clip01` as selects (NaN passes through, as there)."""
    return 0.0 if x < 0.0 else (1.0 if x > 1.0 else x)


@kernel
def pose_pass(
    angles: np.ndarray,
    rows: np.ndarray,
    root_sin: np.ndarray,
    root_cos: np.ndarray,
    rest: np.ndarray,
    heights: np.ndarray,
    joint: np.ndarray,
    kind: np.ndarray,
    signs: np.ndarray,
    columns: np.ndarray,
    primary: np.ndarray,
    parents: np.ndarray,
    pairs: np.ndarray,
    radius_sum: np.ndarray,
    tolerance: float,
    contact: np.ndarray,
    clearance: np.ndarray,
    local: np.ndarray,
    positions: np.ndarray,
    offsets: np.ndarray,
    hit: np.ndarray,
) -> None:
    """One pass of ``poses.procedural.sample_poses`` over the samples ``rows (m,)`` int64 of a
    batch of ``n``: angles -> local rotations -> root orientation -> forward kinematics ->
    collision test -> (the samples that pass) the ground contact, with no intermediate array
    of the batch.

    ``angles (n, A)`` radians; per moving joint d: ``joint[d]``, ``kind[d]``
    (:data:`KIND_CODES`), ``signs (3, D)``, the rows of its angles ``columns (D, 3)`` (-1:
    absent), its primary child ``primary[d]``; ``root_sin``, ``root_cos (3, m)``: sine and
    cosine of half the heading (about z), pitch (about x) and roll (about y), the root's
    rotation heading ⊗ pitch ⊗ roll; ``rest (n, J, 3)`` rest bone offsets (row 0 the root
    position); ``heights (n,)`` metres; ``parents (J,)`` int64; capsule pairs ``pairs (P, 4)``
    (a0, a1, b0, b1) with ``radius_sum (P,)`` fractions of height. Writes rows ``rows`` of
    ``local (n, J, 4)`` and ``positions (n, J, 3)``, and ``hit (m,)``: a pair overlapping by
    more than ``tolerance`` × its radius sum × height. A sample that does not collide is
    final: it is lifted so that its lowest contact joint ``contact (K,)`` stands at its
    ``clearance (n, K)`` above z = 0 (``lift = -min(z[contact] - clearance)`` added to every
    z), and its row of ``offsets (n, J, 3)`` is its rest offsets with the root raised by the
    lift; a colliding one is drawn again in the next pass. ``local`` and ``offsets`` with no
    rows are not written (a caller that keeps only the positions).

    Operation for operation :func:`local_from_angles`, ``rotations.axis_angle_to_quat`` and
    ``quat_multiply`` (the root; its ``sin``/``cos`` come from NumPy), :func:`forward_kinematics`
    and :func:`colliding`, then the lift of ``sample_poses``: the same bits as those steps one
    after the other. The poses go in
    blocks of :data:`POSE_BLOCK`: per pose, the trigonometry (C-library calls) and the Euler
    joints; then, across the block's poses with the coordinates as rows (loops without
    branches, which compile to SIMD; IEEE operations lane by lane give the same bits), the
    shortest arcs of the other joints, forward kinematics and the capsule distances.
    """
    m, J, D = rows.shape[0], positions.shape[1], joint.shape[0]
    keep = local.shape[0] > 0  # zero rows of local and offsets: they are not wanted
    B = POSE_BLOCK + 8  # padded rows: a stride of a power of two maps rows onto the same cache sets
    rest_t = np.empty((J * 3, B))  # rest offsets, rows 3 j + c
    q_t = np.empty((J * 4, B))  # local rotations, rows 4 j + c
    g_t = np.empty((J * 4, B))  # global rotations
    p_t = np.empty((J * 3, B))  # positions
    d_t = np.empty((D * 5, B))  # per moving joint: its bone direction (3 rows), twist sine, cosine
    h_t = np.empty(B)  # heights
    hit_t = np.empty(B)  # 1.0 where a pair overlaps
    rest_flat = rest.reshape(rest.shape[0], J * 3)
    local_flat = local.reshape(local.shape[0], J * 4)
    positions_flat = positions.reshape(positions.shape[0], J * 3)
    offsets_flat = offsets.reshape(offsets.shape[0], J * 3)
    for lo in range(0, m, POSE_BLOCK):
        nb = min(lo + POSE_BLOCK, m) - lo
        for k in range(nb):
            i = rows[lo + k]
            h_t[k] = heights[i]
            for r in range(J * 3):
                rest_t[r, k] = rest_flat[i, r]
            for j in range(J):
                q_t[4 * j, k], q_t[4 * j + 1, k], q_t[4 * j + 2, k], q_t[4 * j + 3, k] = 0.0, 0.0, 0.0, 1.0
            for d in range(D):
                v0 = angles[i, columns[d, 0]]
                v1 = angles[i, columns[d, 1]] if columns[d, 1] >= 0 else 0.0
                v2 = angles[i, columns[d, 2]] if columns[d, 2] >= 0 else 0.0
                kd, s0, s1 = kind[d], signs[0, d], signs[1, d]
                if kd == 0:  # intrinsic X-Y-Z Euler angles with per-angle signs: done here
                    ha, hb, hc = 0.5 * (s0 * v0), 0.5 * (s1 * v1), 0.5 * (signs[2, d] * v2)
                    qx, qy, qz, qw = _quat_mul(
                        math.sin(ha), 0.0, 0.0, math.cos(ha), 0.0, math.sin(hb), 0.0, math.cos(hb)
                    )
                    qx, qy, qz, qw = _quat_mul(qx, qy, qz, qw, 0.0, 0.0, math.sin(hc), math.cos(hc))
                    j4 = joint[d] * 4
                    q_t[j4, k], q_t[j4 + 1, k], q_t[j4 + 2, k], q_t[j4 + 3, k] = qx, qy, qz, qw
                    continue
                if kd == 1:  # limb (hips)
                    f, a = v0, s0 * v1
                    dx, dy, dz = math.sin(a), math.cos(a) * math.sin(f), -math.cos(a) * math.cos(f)
                elif kd == 2:  # hinge
                    dx, dy, dz = 0.0, s0 * math.sin(v0), -math.cos(v0)
                elif kd == 3:  # shoulder
                    se = math.sin(v0)
                    dx, dy, dz = s0 * se * math.sin(v1), se * math.cos(v1), -math.cos(v0)
                else:  # trunk
                    dx, dy, dz = math.sin(v1), math.cos(v1) * math.sin(v0), math.cos(v1) * math.cos(v0)
                d5 = d * 5
                d_t[d5, k], d_t[d5 + 1, k], d_t[d5 + 2, k] = dx, dy, dz
                if columns[d, 2] >= 0:  # the twist about the rest direction
                    h = 0.5 * (s1 * v2)
                    d_t[d5 + 3, k], d_t[d5 + 4, k] = math.sin(h), math.cos(h)
            # the root: axis_angle_to_quat(z, heading) ⊗ (x, pitch) ⊗ (y, roll), zeros times
            # the sines as NumPy multiplies them (the signs of the zeros are kept)
            sy, sp, sr = root_sin[0, lo + k], root_sin[1, lo + k], root_sin[2, lo + k]
            qx, qy, qz, qw = _quat_mul(
                0.0 * sy, 0.0 * sy, 1.0 * sy, root_cos[0, lo + k], 1.0 * sp, 0.0 * sp, 0.0 * sp, root_cos[1, lo + k]
            )
            qx, qy, qz, qw = _quat_mul(qx, qy, qz, qw, 0.0 * sr, 1.0 * sr, 0.0 * sr, root_cos[2, lo + k])
            q_t[0, k], q_t[1, k], q_t[2, k], q_t[3, k] = qx, qy, qz, qw
        for d in range(D):  # the shortest arcs (and twists), across the block
            if kind[d] == 0:
                continue
            d5, j4, c3 = d * 5, joint[d] * 4, primary[d] * 3
            twist = columns[d, 2] >= 0
            for k in range(nb):
                rx, ry, rz = rest_t[c3, k], rest_t[c3 + 1, k], rest_t[c3 + 2, k]
                nr = _norm3(rx, ry, rz)  # the unit rest direction, as angles._rest_directions divides
                rx = rx / nr if nr > 0 else rx
                ry = ry / nr if nr > 0 else ry
                rz = rz / nr if nr > 0 else rz
                qx, qy, qz, qw = _quat_between_select(rx, ry, rz, d_t[d5, k], d_t[d5 + 1, k], d_t[d5 + 2, k])
                if twist:  # twist about the rest direction, applied first
                    s = d_t[d5 + 3, k]
                    qx, qy, qz, qw = _quat_mul(qx, qy, qz, qw, rx * s, ry * s, rz * s, d_t[d5 + 4, k])
                q_t[j4, k], q_t[j4 + 1, k], q_t[j4 + 2, k], q_t[j4 + 3, k] = qx, qy, qz, qw
        for k in range(nb):  # forward kinematics, across the block
            g_t[0, k], g_t[1, k], g_t[2, k], g_t[3, k] = q_t[0, k], q_t[1, k], q_t[2, k], q_t[3, k]
            p_t[0, k], p_t[1, k], p_t[2, k] = rest_t[0, k], rest_t[1, k], rest_t[2, k]
        for j in range(1, J):
            a4, a3, j4, j3 = parents[j] * 4, parents[j] * 3, j * 4, j * 3
            for k in range(nb):
                ax, ay, az, aw = g_t[a4, k], g_t[a4 + 1, k], g_t[a4 + 2, k], g_t[a4 + 3, k]
                bx, by, bz, bw = q_t[j4, k], q_t[j4 + 1, k], q_t[j4 + 2, k], q_t[j4 + 3, k]
                g_t[j4, k] = aw * bx + ax * bw + ay * bz - az * by
                g_t[j4 + 1, k] = aw * by - ax * bz + ay * bw + az * bx
                g_t[j4 + 2, k] = aw * bz + ax * by - ay * bx + az * bw
                g_t[j4 + 3, k] = aw * bw - ax * bx - ay * by - az * bz
                vx, vy, vz = rest_t[j3, k], rest_t[j3 + 1, k], rest_t[j3 + 2, k]
                tx, ty, tz = 2 * (ay * vz - az * vy), 2 * (az * vx - ax * vz), 2 * (ax * vy - ay * vx)
                p_t[j3, k] = p_t[a3, k] + vx + aw * tx + (ay * tz - az * ty)
                p_t[j3 + 1, k] = p_t[a3 + 1, k] + vy + aw * ty + (az * tx - ax * tz)
                p_t[j3 + 2, k] = p_t[a3 + 2, k] + vz + aw * tz + (ax * ty - ay * tx)
        for k in range(nb):
            hit_t[k] = 0.0
        for pk in range(pairs.shape[0]):  # the capsule pairs, across the block
            a0, a1, b0, b1 = pairs[pk, 0], pairs[pk, 1], pairs[pk, 2], pairs[pk, 3]
            rsum = radius_sum[pk]
            for k in range(nb):
                h = h_t[k]
                dist = _segment_distance_rows(p_t, k, a0, a1, b0, b1)
                hit_t[k] = 1.0 if rsum * h - dist > tolerance * rsum * h else hit_t[k]
        for k in range(nb):
            i = rows[lo + k]
            hit[lo + k] = hit_t[k] != 0.0
            if keep:
                for r in range(J * 4):
                    local_flat[i, r] = q_t[r, k]
            if hit_t[k] != 0.0:  # drawn again: its positions are only kept for the caller's view
                for r in range(J * 3):
                    positions_flat[i, r] = p_t[r, k]
                continue
            low = p_t[3 * contact[0] + 2, k] - clearance[i, 0]
            for c in range(1, contact.shape[0]):
                v = p_t[3 * contact[c] + 2, k] - clearance[i, c]
                if v < low or v != v:  # NaN wins, as in np.min
                    low = v
                    if v != v:
                        break
            lift = -low
            for r in range(J * 3):
                positions_flat[i, r] = p_t[r, k] + lift if r % 3 == 2 else p_t[r, k]
            if keep:
                for r in range(J * 3):
                    offsets_flat[i, r] = rest_t[r, k]
                offsets_flat[i, 2] = rest_t[2, k] + lift


def _norm3(x: float, y: float, z: float) -> float:
    return math.sqrt(x * x + y * y + z * z)


def _frame_dots(
    c0: float, c1: float, c2: float, ref_t: tuple[float, ...], u: tuple[float, ...], w: tuple[float, ...]
) -> tuple[float, float]:
    """Row ``(c0, c1, c2)`` of ``G = cur @ ref_t`` times ``u`` (3,) and times ``w`` (3,), with
    the fused multiply-adds of NumPy's BLAS matmul, in its order; ``ref_t`` row-major (9,).
    Tuples, not arrays: values the compiler keeps in registers (an array could alias the
    block's stores, and would be reloaded for every pose)."""
    g0 = fma(c2, ref_t[6], fma(c1, ref_t[3], c0 * ref_t[0]))
    g1 = fma(c2, ref_t[7], fma(c1, ref_t[4], c0 * ref_t[1]))
    g2 = fma(c2, ref_t[8], fma(c1, ref_t[5], c0 * ref_t[2]))
    return fma(g2, u[2], fma(g1, u[1], g0 * u[0])), fma(g2, w[2], fma(g1, w[1], g0 * w[0]))


def _hinge_lane(
    frame: np.ndarray,
    rows: np.ndarray,
    k: int,
    up: int,
    jt: int,
    ch: int,
    rt: tuple[float, ...],
    ru: tuple[float, ...],
    hu: tuple[float, ...],
    res: np.ndarray,
    exact: bool,
) -> None:
    """One hinge of pose ``k`` of a :func:`hinge_geometry` block: ``res[0:5, k]`` = its axis
    and atan2's two sides, operation for operation ``motions._hinge_geometry``.

    ``exact`` False (a compile-time constant once inlined) is the branch-free case of a bent
    limb that the block loop vectorises, with 10 of the 16 divisions and 3 of the 6 square
    roots left out (the divider bounds this kernel): the axis of a bent limb is ± its plane's
    normal ``n = bone × lower``, and the lateral axis carried along the bone only gives the
    sign, ``n · lateral``. That sign is read from the turn by the unnormalised shortest-arc
    quaternion ``(G r_up × bone, |bone| + G r_up · bone)`` (``|G r_up|`` = 1 to round-off),
    which is the lateral axis times ``|q|²``; and "bent" from squared lengths. ``res[5, k]``
    is set to 1 where that cannot be settled so: the limb straight or within 1e-6 relative
    of the straight threshold, ``|n · lateral|`` under 1e-6 of its bound, the bone within
    1e-6 of opposite its carried rest direction (the half turn), squared lengths near
    under/overflow, NaN. Those lanes are then redone with ``exact`` True, the full formulas:
    the same bits on every lane (the bent lanes' outputs depend only on the sign, the
    normal, the bone and the lower bone)."""
    # rows of G = frame @ ref_t times r_up and times h (matmul's fused multiply-adds)
    grx, ghx = _frame_dots(frame[0, k], frame[3, k], frame[6, k], rt, ru, hu)
    gry, ghy = _frame_dots(frame[1, k], frame[4, k], frame[7, k], rt, ru, hu)
    grz, ghz = _frame_dots(frame[2, k], frame[5, k], frame[8, k], rt, ru, hu)
    bx = rows[jt, k] - rows[up, k]
    by = rows[jt + 1, k] - rows[up + 1, k]
    bz = rows[jt + 2, k] - rows[up + 2, k]
    lx = rows[ch, k] - rows[jt, k]
    ly = rows[ch + 1, k] - rows[jt + 1, k]
    lz = rows[ch + 2, k] - rows[jt + 2, k]
    nx, ny, nz = by * lz - bz * ly, bz * lx - bx * lz, bx * ly - by * lx
    n2 = nx * nx + ny * ny + nz * nz
    n_len = math.sqrt(n2)  # _norm3(nx, ny, nz)
    b2 = bx * bx + by * by + bz * bz
    l2 = lx * lx + ly * ly + lz * lz
    if exact:
        # the lateral axis carried along the upper bone: quat_between(G r_up, bone) on G h
        cx, cy, cz, cw = _quat_between_select(grx, gry, grz, bx, by, bz)
        tx, ty, tz = 2.0 * (cy * ghz - cz * ghy), 2.0 * (cz * ghx - cx * ghz), 2.0 * (cx * ghy - cy * ghx)
        latx = ghx + cw * tx + (cy * tz - cz * ty)
        laty = ghy + cw * ty + (cz * tx - cx * tz)
        latz = ghz + cw * tz + (cx * ty - cy * tx)
        bent = n_len > 1e-9 * math.sqrt(b2) * math.sqrt(l2)
        sgn = -1.0 if nx * latx + ny * laty + nz * latz < 0 else 1.0
        unsure = False
    else:
        # |n| > 1e-9 |b| |l| from the squares: sure outside a 1e-6 band (either side's
        # rounding is ~1e-15) and where the squares cannot under/overflow
        t = 1e-18 * (b2 * l2)
        bent = n2 > t * (1.0 + 1e-6)
        # q g q* for q = (v, w) unnormalised: (w² - |v|²) g + 2 (v·g) v + 2 w (v × g), the
        # lateral axis times |q|² (its sign against n is all a bent limb needs)
        b_len = math.sqrt(b2)
        qx, qy, qz = gry * bz - grz * by, grz * bx - grx * bz, grx * by - gry * bx
        qw = b_len + (grx * bx + gry * by + grz * bz)
        qq = qx * qx + qy * qy + qz * qz
        qg = 2.0 * (qx * ghx + qy * ghy + qz * ghz)
        ww = qw * qw - qq
        latx = ww * ghx + qg * qx + 2.0 * qw * (qy * ghz - qz * ghy)
        laty = ww * ghy + qg * qy + 2.0 * qw * (qz * ghx - qx * ghz)
        latz = ww * ghz + qg * qz + 2.0 * qw * (qx * ghy - qy * ghx)
        d = nx * latx + ny * laty + nz * latz
        sgn = -1.0 if d < 0 else 1.0
        sure = (  # bitwise: no branch
            bent
            & (t > 1e-290)
            & (t < 1e290)
            & (b2 > 1e-150)
            & (b2 < 1e150)
            & (qw > 1e-6 * b_len)
            & (abs(d) > 1e-6 * n_len * (qw * qw + qq))
        )
        unsure = not sure
    ax = sgn * nx / n_len if bent else latx  # the normal; the lateral axis if straight
    ay = sgn * ny / n_len if bent else laty
    az = sgn * nz / n_len if bent else latz
    na = _norm3(ax, ay, az)
    ax, ay, az = ax / na, ay / na, az / na
    res[0, k], res[1, k], res[2, k] = ax, ay, az
    # np.sum adds from +0.0: a sum of -0.0 terms is +0.0 there (atan2 reads the sign of zero)
    res[3, k] = 0.0 + nx * ax + ny * ay + nz * az
    res[4, k] = 0.0 + bx * lx + by * ly + bz * lz
    if not exact:
        res[5, k] = 1.0 if unsure else 0.0


#: Poses per block of :func:`hinge_geometry`: the block's poses, transposed, stay in the L1/L2
#: cache between the passes over it.
HINGE_BLOCK = 128
#: Padding of the transposed block's rows (doubles): a row stride that is a multiple of the
#: 4 KiB page maps every row onto the same cache sets (a 128-pose block ran 1.7× slower).
_ROW_PAD = 8


@kernel
def hinge_geometry(
    pos: np.ndarray,
    joints: np.ndarray,
    ref_t: np.ndarray,
    r_up: np.ndarray,
    h_unit: np.ndarray,
    axis: np.ndarray,
    sides: np.ndarray,
) -> int:
    """Hinge axes ``axis (H, N, 3)`` of H knees or elbows of poses ``pos (N, J, 3)``
    (C-contiguous) and ``sides (2, H, N)``: the two arguments of ``atan2`` (``sides[0]`` the
    sine side, ``sides[1]`` the cosine side) giving the signed angle upper bone -> lower bone
    about each axis (flexion = sign × atan2).

    Hinge h: ``joints[h]`` = (trunk, its primary child, secondary vector from, to, upper
    joint, hinge joint, child) int64; per pose the trunk frame times ``ref_t[h]`` (its rest
    frame transposed; a trunk frame shared with the previous hinge is built once); the
    lateral axis ``h_unit[h]`` carried along the upper bone by the shortest arc from its rest
    direction ``r_up[h]``; the limb plane's normal signed by it (it, for a straight limb).
    Operation for operation ``posesynth.poses.motions._hinge_geometry``, so the same bits.

    One pass over the poses for all H hinges, in blocks of :data:`HINGE_BLOCK` poses
    transposed to joint-coordinate rows, so that the loops over a block's poses have no
    branch and compile to SIMD (the branches of the scalar formulas become selects: IEEE
    operations lane by lane give the same bits). Returns the number of NaN or inf values
    in ``pos`` (0: all finite).
    """
    n, J, H = pos.shape[0], pos.shape[1], joints.shape[0]
    flat = pos.reshape(n, J * 3)
    rows = np.empty((J * 3, HINGE_BLOCK + _ROW_PAD))  # rows[3 j + c, k]: pose lo + k
    frame = np.empty((9, HINGE_BLOCK + _ROW_PAD))  # trunk frame columns e1, e2, e3 per pose
    res = np.empty((6, HINGE_BLOCK + _ROW_PAD))  # axis x, y, z, atan2's sin and cos sides, flag
    bad = 0
    for lo in range(0, n, HINGE_BLOCK):
        m = min(lo + HINGE_BLOCK, n) - lo
        for k in range(m):
            for r in range(J * 3):
                rows[r, k] = flat[lo + k, r]
        for r in range(J * 3):
            for k in range(m):
                v = rows[r, k]
                if v - v != 0.0:  # NaN for NaN and inf
                    bad += 1
        for h in range(H):
            t, a, b, c = joints[h, 0] * 3, joints[h, 1] * 3, joints[h, 2] * 3, joints[h, 3] * 3
            up, jt, ch = joints[h, 4] * 3, joints[h, 5] * 3, joints[h, 6] * 3
            if h == 0 or not (
                joints[h, 0] == joints[h - 1, 0]
                and joints[h, 1] == joints[h - 1, 1]
                and joints[h, 2] == joints[h - 1, 2]
                and joints[h, 3] == joints[h - 1, 3]
            ):
                for k in range(m):  # rotations.frame_from_two_vectors(primary bone, secondary)
                    ux = rows[a, k] - rows[t, k]
                    uy = rows[a + 1, k] - rows[t + 1, k]
                    uz = rows[a + 2, k] - rows[t + 2, k]
                    vx = rows[c, k] - rows[b, k]
                    vy = rows[c + 1, k] - rows[b + 1, k]
                    vz = rows[c + 2, k] - rows[b + 2, k]
                    nu = math.sqrt(ux * ux + uy * uy + uz * uz)
                    e1x, e1y, e1z = ux / nu, uy / nu, uz / nu
                    dv = vx * e1x + vy * e1y + vz * e1z
                    wx, wy, wz = vx - dv * e1x, vy - dv * e1y, vz - dv * e1z
                    nw = math.sqrt(wx * wx + wy * wy + wz * wz)
                    e2x, e2y, e2z = wx / nw, wy / nw, wz / nw
                    frame[0, k], frame[1, k], frame[2, k] = e1x, e1y, e1z
                    frame[3, k], frame[4, k], frame[5, k] = e2x, e2y, e2z
                    frame[6, k] = e1y * e2z - e1z * e2y
                    frame[7, k] = e1z * e2x - e1x * e2z
                    frame[8, k] = e1x * e2y - e1y * e2x
            rt = (ref_t[h, 0, 0], ref_t[h, 0, 1], ref_t[h, 0, 2], ref_t[h, 1, 0], ref_t[h, 1, 1], ref_t[h, 1, 2],
                  ref_t[h, 2, 0], ref_t[h, 2, 1], ref_t[h, 2, 2])  # fmt: skip
            ru = (r_up[h, 0], r_up[h, 1], r_up[h, 2])
            hu = (h_unit[h, 0], h_unit[h, 1], h_unit[h, 2])
            for k in range(m):  # SIMD: the common case only; a lane it cannot settle is flagged
                _hinge_lane(frame, rows, k, up, jt, ch, rt, ru, hu, res, False)
            flagged = 0
            for k in range(m):
                flagged += res[5, k] != 0.0
            if flagged:  # rare: else the loop below would still run (vectorised, masked)
                for k in range(m):  # the flagged lanes (opposite directions, near-straight limbs), exactly
                    if res[5, k] != 0.0:
                        _hinge_lane(frame, rows, k, up, jt, ch, rt, ru, hu, res, True)
            for k in range(m):
                axis[h, lo + k, 0], axis[h, lo + k, 1], axis[h, lo + k, 2] = res[0, k], res[1, k], res[2, k]
                sides[0, h, lo + k], sides[1, h, lo + k] = res[3, k], res[4, k]
    return bad


@kernel
def rotate_subtree(
    pos: np.ndarray,
    pivots: np.ndarray,
    below: np.ndarray,
    start: np.ndarray,
    axis: np.ndarray,
    sin_half: np.ndarray,
    cos_half: np.ndarray,
    out: np.ndarray,
) -> None:
    """``out (N, J, 3)``: poses ``pos (N, J, 3)`` with H subtrees turned, written once.

    Subtree h holds the joints ``below[start[h]:start[h + 1]]``, turned about ``axis (H, N, 3)``
    through joint ``pivots[h]`` by the angle whose half has ``sin_half``, ``cos_half`` (H, N);
    the other joints are copied. Every turn reads ``pos``, so the subtrees must be disjoint
    and hold no pivot (independent turns: then this is the turns one after the other).
    Operation for operation ``motions.rotate_subtree``."""
    n, J = pos.shape[0], pos.shape[1]
    for i in range(n):
        for j in range(J):
            for c in range(3):
                out[i, j, c] = pos[i, j, c]
        for h in range(pivots.shape[0]):
            s = sin_half[h, i]
            qx, qy, qz, qw = axis[h, i, 0] * s, axis[h, i, 1] * s, axis[h, i, 2] * s, cos_half[h, i]
            p = pivots[h]
            px, py, pz = pos[i, p, 0], pos[i, p, 1], pos[i, p, 2]
            for k in range(start[h], start[h + 1]):
                m = below[k]
                vx, vy, vz = pos[i, m, 0] - px, pos[i, m, 1] - py, pos[i, m, 2] - pz
                tx, ty, tz = 2.0 * (qy * vz - qz * vy), 2.0 * (qz * vx - qx * vz), 2.0 * (qx * vy - qy * vx)
                out[i, m, 0] = vx + qw * tx + (qy * tz - qz * ty) + px
                out[i, m, 1] = vy + qw * ty + (qz * tx - qx * tz) + py
                out[i, m, 2] = vz + qw * tz + (qx * ty - qy * tx) + pz


#: Distributions of :func:`prior_draws` (``posesynth.poses.procedural``'s ``uniform``,
#: ``normal`` and ``follow`` priors).
PRIOR_KINDS = {"uniform": 0, "normal": 1, "follow": 2}
#: The distribution of ``rom``'s angles in :func:`prior_draws`: uniform over the angle's bounds
#: (radians), as ``rng.uniform(lo, hi, n)`` draws them.
PRIOR_BOUNDS = 3
#: Rows a prior spec of :func:`prior_draws` applies to: all, those whose right side leads,
#: those whose left side leads, none.
PRIOR_ROWS = {"all": 0, "right_leads": 1, "left_leads": 2, "none": 3}


def _draw_angle(
    rng: np.random.Generator,
    lead_right: np.ndarray,
    idx: np.ndarray,
    kind: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    rows: np.ndarray,
    follow: np.ndarray,
    start: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    angle_rows: np.ndarray,
    redraws: int,
    out: np.ndarray,
    i: int,
    pending: np.ndarray,
) -> None:
    """Angle ``i`` of a plan of :func:`prior_draws` into ``out[idx[r], angle_rows[i]]`` for the
    samples ``r`` of ``lead_right (m,)``: 0 clipped into its bounds, then each of its specs
    draws its rows, redrawn while outside the bounds (see there). ``pending (>= m,)`` int64
    scratch: the samples still outside, in order, so that a redraw round visits only those
    (the NumPy path's rounds draw for the same samples in the same order)."""
    m = lead_right.shape[0]
    row = angle_rows[i]
    low, high = lo[i], hi[i]
    neutral = min(max(0.0, low), high)  # np.clip(0, lo, hi)
    for r in range(m):
        out[idx[r], row] = neutral
    for s in range(start[i], start[i + 1]):
        if rows[s] == 3:
            continue
        k = kind[s]
        sa, sb = (low, high) if k == 3 else (a[s], b[s])
        count = 0
        for r in range(m):  # the first draw of every sample the spec applies to
            if rows[s] == 1 and not lead_right[r]:
                continue
            if rows[s] == 2 and lead_right[r]:
                continue
            v = _draw_value(rng, k, sa, sb, out, angle_rows, follow[s], idx[r])
            out[idx[r], row] = v
            if v < low or v > high:
                pending[count] = r
                count += 1
        for attempt in range(1, redraws + 2):  # redraws, then uniform within the bounds
            if count == 0:
                break
            left = 0
            for q in range(count):
                r = pending[q]
                if attempt == redraws + 1:
                    out[idx[r], row] = rng.uniform(low, high)
                    continue
                v = _draw_value(rng, k, sa, sb, out, angle_rows, follow[s], idx[r])
                out[idx[r], row] = v
                if v < low or v > high:
                    pending[left] = r
                    left += 1
            count = left


def _draw_value(
    rng: np.random.Generator, k: int, sa: float, sb: float, out: np.ndarray, angle_rows: np.ndarray, f: int, c: int
) -> float:
    """One value (radians) of a spec of kind ``k`` of :func:`prior_draws` for sample (row) ``c``
    of ``out`` (:data:`PRIOR_BOUNDS`: ``sa, sb`` are the angle's bounds)."""
    to_rad = np.pi / 180.0  # NumPy's deg2rad: x * (pi / 180)
    if k == 0:
        return rng.uniform(sa, sb) * to_rad
    if k == 1:
        return rng.normal(sa, sb) * to_rad
    if k == 3:
        return rng.uniform(sa, sb)
    return out[c, angle_rows[f]] + (sb + rng.normal(0.0, 5.0)) * to_rad


@kernel
def prior_draws(
    rng: np.random.Generator,
    lead_right: np.ndarray,
    idx: np.ndarray,
    kind: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    rows: np.ndarray,
    follow: np.ndarray,
    start: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    angle_rows: np.ndarray,
    redraws: int,
    out: np.ndarray,
) -> None:
    """Angles radians drawn from independent priors, inside ``[lo, hi] (A,)``, into
    ``out[idx[r], angle_rows[i]]`` for angle ``i`` of the plan and sample ``r`` of
    ``lead_right (m,)`` bool (``idx (m,)`` int64 rows of ``out (n, A')``, a sample per row).

    Angle ``i`` starts at 0 clipped into its bounds, then each of its specs ``s`` in
    ``start[i] .. start[i + 1]`` draws the rows ``rows[s]`` (:data:`PRIOR_ROWS`, against
    ``lead_right``) from ``kind[s]`` (:data:`PRIOR_KINDS`, degrees ``a[s], b[s]``:
    uniform over [a, b]; normal with mean a, sd b; follow: angle ``follow[s]`` of the plan
    plus b ± N(0, 5); :data:`PRIOR_BOUNDS`: uniform over the bounds); values outside the
    bounds are redrawn from the spec up to ``redraws`` times, then uniformly within the
    bounds. The draws of ``posesynth.poses.procedural``'s NumPy path, one at a time in its
    order, from the same generator: the same bits.
    """
    pending = np.empty(lead_right.shape[0], np.int64)
    for i in range(lo.shape[0]):
        _draw_angle(rng, lead_right, idx, kind, a, b, rows, follow, start, lo, hi, angle_rows, redraws, out, i, pending)


def _interp(x: float, xp: np.ndarray, fp: np.ndarray, slopes: np.ndarray) -> float:
    """``np.interp(x, xp, fp)`` for one value, operation for operation NumPy's loop, with the
    knot found by counting (no unpredictable branch) and ``slopes (K - 1,)`` precomputed as
    NumPy does (``(fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])``); ``xp`` strictly increasing,
    at least two knots; NaN stays NaN."""
    n = xp.shape[0]
    j = 0
    for k in range(1, n - 1):  # xp[j] <= x < xp[j + 1] inside the knots
        j += x >= xp[k]
    res = slopes[j] * (x - xp[j]) + fp[j]
    # NaN one way (an infinite slope): the other, as NumPy does
    other = slopes[j] * (x - xp[j + 1]) + fp[j + 1]
    other = fp[j] if other != other and fp[j] == fp[j + 1] else other
    res = other if res != res else res
    res = fp[j] if x == xp[j] else res
    res = fp[0] if x < xp[0] else res
    res = fp[n - 1] if x >= xp[n - 1] else res
    return x if x != x else res


@kernel
def shoulder_cap(
    rng: np.random.Generator,
    lead_right: np.ndarray,
    idx: np.ndarray,
    kind: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    rows: np.ndarray,
    follow: np.ndarray,
    start: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    angle_rows: np.ndarray,
    redraws: int,
    plane: int,
    elevation: int,
    knot_x: np.ndarray,
    knot_y: np.ndarray,
    slopes: np.ndarray,
    out: np.ndarray,
    bad: np.ndarray,
) -> int:
    """A shoulder's elevation cap on the samples ``idx`` of :func:`prior_draws`' ``out``: where
    the elevation (plan angle ``elevation``) exceeds ``np.interp(plane angle, knot_x, knot_y)
    + 1e-12`` (``slopes`` of the knots, see :func:`_interp`), the plane then the elevation are redrawn from the plan (those samples only,
    in order), up to ``redraws`` rounds. Returns how many samples still exceed it, marked in
    ``bad (m,)`` (the caller draws them uniformly from the feasible region), 0 if none.
    ``poses.procedural.sample_angles``' loop, draw for draw."""
    m = idx.shape[0]
    pr, er = angle_rows[plane], angle_rows[elevation]
    scratch = np.empty(m, np.int64)  # _draw_angle's samples still outside their bounds
    count = 0
    for r in range(m):
        c = idx[r]
        bad[r] = out[c, er] > _interp(out[c, pr], knot_x, knot_y, slopes) + 1e-12
        count += bad[r]
    for _ in range(redraws):
        if count == 0:
            return 0
        sub = np.empty(count, np.int64)  # the samples above the cap, in order
        sub_right = np.empty(count, np.bool_)
        at = np.empty(count, np.int64)
        k = 0
        for r in range(m):
            if bad[r]:
                sub[k], sub_right[k], at[k] = idx[r], lead_right[r], r
                k += 1
        for angle in (plane, elevation):
            _draw_angle(
                rng, sub_right, sub, kind, a, b, rows, follow, start, lo, hi, angle_rows, redraws, out, angle, scratch
            )
        count = 0  # only the redrawn samples can change: the others stay below the cap
        for k in range(sub.shape[0]):
            c = sub[k]
            bad[at[k]] = out[c, er] > _interp(out[c, pr], knot_x, knot_y, slopes) + 1e-12
            count += bad[at[k]]
    return count
