"""Matplotlib drawing of skeletons, for notebooks and figures: 3D bones, 2D bones in an image
rectangle, equal-scale 3D axes, and animations rendered as inline HTML (no ffmpeg).

Colours follow the other figures: the subject's left blue, right red, the trunk grey. Points
are plain arrays: 3D ``(J, 3)`` metres (world frame, Z up, or any frame the caller names),
2D ``(J, 2)`` pixels with (0, 0) the centre of the top-left pixel and v pointing down.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from posesynth.body.skeleton import Skeleton
from posesynth.viz.preview import CENTRE_COLOUR, LEFT_COLOUR, RIGHT_COLOUR

__all__ = [
    "animation_html",
    "bone_colours",
    "draw_skeleton_2d",
    "draw_skeleton_3d",
    "equal_axes_3d",
    "image_axes",
    "move_skeleton_2d",
    "move_skeleton_3d",
]


def bone_colours(skeleton: Skeleton) -> list[str]:
    """One colour per bone, bone ``j - 1`` ending at joint ``j`` (1..J-1): left, right, trunk."""
    left, right = set(skeleton.left), set(skeleton.right)
    return [
        LEFT_COLOUR if j in left else RIGHT_COLOUR if j in right else CENTRE_COLOUR
        for j in range(1, skeleton.num_joints)
    ]


def _segments(points: np.ndarray, skeleton: Skeleton) -> list[np.ndarray]:
    """(2, D) parent/child points of every bone, in :func:`bone_colours` order."""
    par = skeleton.parents_array
    return [points[[par[j], j]] for j in range(1, skeleton.num_joints)]


def draw_skeleton_3d(ax: Any, pose: np.ndarray, skeleton: Skeleton, lw: float = 2.5) -> list[Any]:
    """Draw ``pose`` (J, 3) on the 3D axes ``ax``; returns one line per bone (to move later)."""
    return [
        ax.plot(*seg.T, color=c, lw=lw)[0]
        for seg, c in zip(_segments(np.asarray(pose), skeleton), bone_colours(skeleton))
    ]


def move_skeleton_3d(lines: Sequence[Any], pose: np.ndarray, skeleton: Skeleton) -> None:
    """Move the lines of :func:`draw_skeleton_3d` to ``pose`` (J, 3)."""
    for line, seg in zip(lines, _segments(np.asarray(pose), skeleton)):
        line.set_data_3d(seg[:, 0], seg[:, 1], seg[:, 2])


def draw_skeleton_2d(ax: Any, uv_px: np.ndarray, skeleton: Skeleton, lw: float = 2.0) -> list[Any]:
    """Draw the 2D pose ``uv_px`` (J, 2) pixels on ``ax``; returns one line per bone."""
    return [
        ax.plot(*seg.T, color=c, lw=lw)[0]
        for seg, c in zip(_segments(np.asarray(uv_px), skeleton), bone_colours(skeleton))
    ]


def move_skeleton_2d(lines: Sequence[Any], uv_px: np.ndarray, skeleton: Skeleton) -> None:
    """Move the lines of :func:`draw_skeleton_2d` to ``uv_px`` (J, 2)."""
    for line, seg in zip(lines, _segments(np.asarray(uv_px), skeleton)):
        line.set_data(seg[:, 0], seg[:, 1])


def equal_axes_3d(ax: Any, points: np.ndarray, pad: float = 0.1) -> None:
    """Cube limits around ``points`` (..., 3) metres plus ``pad``, so a metre is as long on
    every axis; labels the axes in metres."""
    p = np.asarray(points, dtype=float).reshape(-1, 3)
    p = p[np.isfinite(p).all(axis=1)]
    mid, half = (p.max(0) + p.min(0)) / 2, (p.max(0) - p.min(0)).max() / 2 + pad
    ax.set_xlim(mid[0] - half, mid[0] + half)
    ax.set_ylim(mid[1] - half, mid[1] + half)
    ax.set_zlim(mid[2] - half, mid[2] + half)
    ax.set_box_aspect((1, 1, 1))
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_zlabel("z (m)")


def image_axes(ax: Any, size: Sequence[float] | np.ndarray, title: str = "") -> None:
    """Pixel axes for an image of ``size`` (width, height): its rectangle drawn, v down."""
    from matplotlib.patches import Rectangle

    w, h = (float(v) for v in size)
    ax.add_patch(Rectangle((0, 0), w, h, fill=False, lw=1.5, ec="k"))
    ax.set_xlim(-0.05 * w, 1.05 * w)
    ax.set_ylim(1.05 * h, -0.05 * h)  # v grows downwards, as pixel rows do
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.set_xlabel("u (px)")
    ax.set_ylabel("v (px)")


def animation_html(fig: Any, update: Callable[[int], Any], frames: int, interval_ms: int = 120) -> str:
    """The animation of ``update(frame)`` over ``frames`` frames as self-contained HTML/JS
    (matplotlib's ``to_jshtml``: no ffmpeg); closes ``fig`` so no static copy shows too."""
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    anim = FuncAnimation(fig, update, frames=frames, interval=interval_ms, blit=False)
    html = anim.to_jshtml(default_mode="loop")
    plt.close(fig)
    return str(html)
