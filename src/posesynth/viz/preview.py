"""A quick-look PNG of a few samples: 2D keypoints in their image above, 3D skeletons below.

Uses matplotlib's object API (``Figure`` + Agg canvas), never ``pyplot``, so it touches no
global state and needs no display. The PNG is deterministic (no software/date metadata) and
written atomically.
"""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

import numpy as np

LEFT_COLOUR = "#1f77b4"  # blue
RIGHT_COLOUR = "#d62728"  # red
CENTRE_COLOUR = "#555555"  # grey


def save_preview(
    path: Path | str,
    joints_2d: np.ndarray,
    joints_3d: np.ndarray,
    parents: Sequence[int] | np.ndarray,
    image_sizes: np.ndarray,
    left: Sequence[int] | np.ndarray,
    right: Sequence[int] | np.ndarray,
    titles: Sequence[str] | None = None,
    max_samples: int = 8,
    dpi: int = 80,
) -> Path:
    """Draw up to ``max_samples`` samples in a 2-row grid and save it as a PNG at ``path``.

    Top row: the 2D keypoints inside the image rectangle (pixels, y down, origin top left).
    Bottom row: the 3D skeleton in the world frame (metres, Z up) with equal axes. Bones whose
    child joint is in ``left`` are blue, in ``right`` red, the others grey.

    Args:
        path: output file, must end in ``.png``; its folder must exist.
        joints_2d: ``(n, J, 2)`` pixel coordinates (NaN joints are not drawn).
        joints_3d: ``(n, J, 3)`` world coordinates in metres, Z up.
        parents: ``(J,)`` parent index of each joint, ``-1`` for the root.
        image_sizes: ``(n, 2)`` image ``(width, height)`` in pixels, > 0.
        left, right: joint indices of the left and right limbs.
        titles: ``n`` titles (default ``sample <i>``).
        max_samples: the first ``min(n, max_samples)`` samples are drawn.
        dpi: resolution of the PNG.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: naming the argument and the expected and received shape or value.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"path: expected a .png file, got {str(path)!r}")
    j2d = np.asarray(joints_2d, dtype=np.float64)
    j3d = np.asarray(joints_3d, dtype=np.float64)
    if j2d.ndim != 3 or j2d.shape[2] != 2:
        raise ValueError(f"joints_2d: expected shape (n, J, 2), got {j2d.shape}")
    n, n_joints = j2d.shape[:2]
    if n == 0 or n_joints == 0:
        raise ValueError(f"joints_2d: expected at least one sample and joint, got {j2d.shape}")
    if j3d.shape != (n, n_joints, 3):
        raise ValueError(f"joints_3d: expected shape ({n}, {n_joints}, 3), got {j3d.shape}")
    par = np.asarray(parents)
    if par.shape != (n_joints,) or par.dtype.kind not in "iu":
        raise ValueError(f"parents: expected {n_joints} integers, got {par.dtype} {par.shape}")
    if ((par < -1) | (par >= n_joints)).any():
        raise ValueError(f"parents: expected values in [-1, {n_joints}), got {par.tolist()}")
    sizes = np.asarray(image_sizes, dtype=np.float64)
    if sizes.shape != (n, 2):
        raise ValueError(f"image_sizes: expected shape ({n}, 2) (width, height), got {sizes.shape}")
    if not (np.isfinite(sizes).all() and (sizes > 0).all()):
        raise ValueError(f"image_sizes: expected finite values > 0, got {sizes[:4].tolist()}...")
    sides = {}
    for name, idx in (("left", left), ("right", right)):
        arr = np.asarray(idx)
        if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
            raise ValueError(f"{name}: expected a list of joint indices, got {arr.dtype} {arr.shape}")
        if arr.size and ((arr < 0) | (arr >= n_joints)).any():
            raise ValueError(f"{name}: expected indices in [0, {n_joints}), got {arr.tolist()}")
        sides[name] = {int(i) for i in arr}
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles: expected {n} titles, got {len(titles)}")
    if max_samples < 1:
        raise ValueError(f"max_samples: expected >= 1, got {max_samples}")

    colours = [_side_colour(j, sides["left"], sides["right"]) for j in range(n_joints)]
    bones = [(int(p), j) for j, p in enumerate(par) if p >= 0]
    shown = min(n, max_samples)
    names = [f"sample {i}" for i in range(n)] if titles is None else [str(t) for t in titles]

    from matplotlib.figure import Figure  # lazy: matplotlib is slow to import

    fig = Figure(figsize=(2.4 * shown, 5.0), dpi=dpi, layout="constrained")
    for col in range(shown):
        ax2 = fig.add_subplot(2, shown, col + 1)
        _draw_2d(ax2, j2d[col], sizes[col], bones, colours)
        ax2.set_title(names[col], fontsize=8)
        ax3 = fig.add_subplot(2, shown, shown + col + 1, projection="3d")
        _draw_3d(ax3, j3d[col], bones, colours)

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    _write_atomic(path, buffer.getvalue())
    return path


def _side_colour(joint: int, left: set[int], right: set[int]) -> str:
    if joint in left:
        return LEFT_COLOUR
    return RIGHT_COLOUR if joint in right else CENTRE_COLOUR


def _finite_rows(points: np.ndarray) -> np.ndarray:
    return points[np.isfinite(points).all(axis=-1)]


def _draw_2d(ax, uv_px: np.ndarray, size: np.ndarray, bones, colours) -> None:
    width, height = float(size[0]), float(size[1])
    ax.add_patch(
        _rectangle((-0.5, -0.5), width, height)  # pixel centres at integers: edges at -0.5
    )
    for parent, child in bones:
        seg = uv_px[[parent, child]]
        ax.plot(seg[:, 0], seg[:, 1], color=colours[child], linewidth=1.5)
    ax.scatter(uv_px[:, 0], uv_px[:, 1], s=4, c="black", zorder=3)
    # the image rectangle plus any keypoint outside it, with a small margin
    pts = _finite_rows(uv_px)
    lo = np.minimum(pts.min(axis=0), [-0.5, -0.5]) if len(pts) else np.array([-0.5, -0.5])
    hi = np.maximum(pts.max(axis=0), [width - 0.5, height - 0.5]) if len(pts) else np.array([width - 0.5, height - 0.5])
    margin = 0.03 * float(max(hi - lo))
    ax.set_xlim(lo[0] - margin, hi[0] + margin)
    ax.set_ylim(hi[1] + margin, lo[1] - margin)  # y down
    ax.set_aspect("equal")
    ax.tick_params(labelsize=6)


def _rectangle(xy, width: float, height: float):
    from matplotlib.patches import Rectangle

    return Rectangle(xy, width, height, fill=False, edgecolor="#999999", linewidth=0.8)


def _draw_3d(ax, p_world: np.ndarray, bones, colours) -> None:
    for parent, child in bones:
        seg = p_world[[parent, child]]
        ax.plot(seg[:, 0], seg[:, 1], seg[:, 2], color=colours[child], linewidth=1.5)
    pts = _finite_rows(p_world)
    if len(pts):
        centre = (pts.min(axis=0) + pts.max(axis=0)) / 2
        half = max(float((pts.max(axis=0) - pts.min(axis=0)).max()) / 2, 0.1) * 1.05
    else:
        centre, half = np.zeros(3), 1.0
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_zlim(centre[2] - half, centre[2] + half)
    ax.set_box_aspect((1, 1, 1), zoom=0.8)  # room inside the panel for the axis labels
    ax.view_init(elev=15, azim=-70)
    from matplotlib.ticker import MaxNLocator

    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_major_locator(MaxNLocator(3))
    ax.tick_params(labelsize=5, pad=0)
    ax.set_xlabel("x (m)", fontsize=6)
    ax.set_ylabel("y (m)", fontsize=6)
    ax.set_zlabel("z (m)", fontsize=6)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
