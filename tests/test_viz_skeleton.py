"""``posesynth.viz.skeleton``: bones drawn where the joints are, moved, axes scaled."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from posesynth.body.skeleton import H36M17
from posesynth.viz import skeleton as draw
from posesynth.viz.preview import CENTRE_COLOUR, LEFT_COLOUR, RIGHT_COLOUR


def _pose(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(17, 3))


def test_bone_colours_follow_the_sides() -> None:
    colours = draw.bone_colours(H36M17)
    assert len(colours) == 16
    assert colours[H36M17.index("left_knee") - 1] == LEFT_COLOUR
    assert colours[H36M17.index("right_wrist") - 1] == RIGHT_COLOUR
    assert colours[H36M17.index("spine") - 1] == CENTRE_COLOUR


def test_3d_lines_join_each_joint_to_its_parent_and_move() -> None:
    fig = plt.figure()
    ax = fig.add_subplot(projection="3d")
    pose, moved = _pose(0), _pose(1)
    lines = draw.draw_skeleton_3d(ax, pose, H36M17)
    par = H36M17.parents_array
    for j, line in enumerate(lines, start=1):
        np.testing.assert_allclose(np.array(line.get_data_3d()).T, pose[[par[j], j]])
    draw.move_skeleton_3d(lines, moved, H36M17)
    for j, line in enumerate(lines, start=1):
        np.testing.assert_allclose(np.array(line.get_data_3d()).T, moved[[par[j], j]])
    draw.equal_axes_3d(ax, pose, pad=0.0)
    spans = [np.ptp(lim) for lim in (ax.get_xlim(), ax.get_ylim(), ax.get_zlim())]
    np.testing.assert_allclose(spans, np.ptp(pose, axis=0).max())
    plt.close(fig)


def test_2d_lines_and_image_axes() -> None:
    fig, ax = plt.subplots()
    uv = _pose(2)[:, :2] * 100 + 300
    lines = draw.draw_skeleton_2d(ax, uv, H36M17)
    par = H36M17.parents_array
    np.testing.assert_allclose(np.array(lines[0].get_data()).T, uv[[par[1], 1]])
    draw.move_skeleton_2d(lines, uv + 5, H36M17)
    np.testing.assert_allclose(np.array(lines[0].get_data()).T, uv[[par[1], 1]] + 5)
    draw.image_axes(ax, (640, 480), "cam")
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # v grows downwards
    plt.close(fig)


def test_animation_html_is_self_contained() -> None:
    fig, ax = plt.subplots()
    (line,) = ax.plot([0, 1], [0, 1])
    html = draw.animation_html(fig, lambda i: line.set_data([0, i], [0, i]), frames=3)
    assert "<script" in html and "Animation" in html
