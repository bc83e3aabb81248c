"""A self-contained HTML page to browse samples of a data set (``posesynth view``).

For each chosen sample the page shows the 3D skeleton (world frame, Z up, if the data set has
it, else the camera frame turned so that up is up) and its 2D keypoints inside the image
rectangle (pixels, y down), side by side; a slider picks the sample. Bones whose child joint is
on the subject's left are blue, right red, the others grey (as in :mod:`posesynth.viz.preview`).

The page is one plotly figure whose samples are plotly *frames*; each slider step calls
``Plotly.animate(gd, [<frame name>], ...)``. plotly.js is embedded (no network), the plot's
div id is fixed (:data:`DIV_ID`) and coordinates are rounded, so the same input gives the
same bytes. plotly is imported lazily: it is needed only here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from posesynth.util.atomic import atomic_path
from posesynth.viz.preview import CENTRE_COLOUR, LEFT_COLOUR, RIGHT_COLOUR

if TYPE_CHECKING:
    from posesynth.data.dataset import PoseDataset

__all__ = ["DEFAULT_SAMPLES", "DIV_ID", "choose_samples", "view_html", "write_view"]

#: id of the plot's ``<div>`` (fixed so that the output is deterministic).
DIV_ID = "posesynth-view"
DEFAULT_SAMPLES = 50
#: Traces of every frame, in order: 3D left/right/centre bones and joints, then the 2D image
#: rectangle, left/right/centre bones and joints.
TRACE_NAMES = (
    "3D left", "3D right", "3D centre", "3D joints",
    "image", "2D left", "2D right", "2D centre", "2D joints",
)  # fmt: skip
_DIGITS_3D = 4  # 0.1 mm
_DIGITS_2D = 2  # 0.01 px
_SIDES = (("left", LEFT_COLOUR), ("right", RIGHT_COLOUR), ("centre", CENTRE_COLOUR))


def choose_samples(total: int, samples: int, seed: int | None = None) -> np.ndarray:
    """Sorted indices of ``min(samples, total)`` distinct samples out of ``total``.

    Without ``seed`` they are spread evenly from the first to the last sample; with ``seed``
    they are drawn at random (``numpy.random.default_rng(seed)``) without replacement.

    Raises:
        ValueError: ``samples < 1`` or ``total < 1``.
    """
    if samples < 1:
        raise ValueError(f"samples: expected >= 1, got {samples}")
    if total < 1:
        raise ValueError("dataset: holds no samples")
    k = min(samples, total)
    if seed is None:
        return np.unique(np.round(np.linspace(0, total - 1, k)).astype(np.int64))
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(total, size=k, replace=False)).astype(np.int64)


def view_html(
    dataset: PoseDataset, samples: int = DEFAULT_SAMPLES, seed: int | None = None,
    title: str | None = None, play: bool = False,
) -> str:  # fmt: skip
    """The HTML page (a string) browsing up to ``samples`` samples of ``dataset``.

    Args:
        dataset: any data set with 3D joints (world or camera frame) or 2D joints; missing
            arrays are derived where its cameras allow (:meth:`PoseDataset.complete`).
        samples: how many samples to show (at most ``len(dataset)``), >= 1.
        seed: pick the samples at random with this seed (default: evenly spread).
        title: page title (default ``posesynth view``).
        play: add Play / Pause buttons that step through the samples (frames of a video).

    Raises:
        ValueError: ``samples < 1``, an empty data set, or one with neither 3D nor 2D joints.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    index = choose_samples(len(dataset), samples, seed)
    ds = dataset.complete().select(index)
    p3d, frame_label = _points_3d(ds)
    uv_px = None if ds.joints_2d is None else np.asarray(ds.joints_2d)
    if p3d is None and uv_px is None:
        raise ValueError("dataset: has neither 3D nor 2D joints to show")
    sizes = None
    if ds.cameras is not None:
        sizes = np.asarray(ds.sample_cameras().image_size, dtype=np.float64)

    skel = ds.skeleton
    side = {**dict.fromkeys(skel.left, "left"), **dict.fromkeys(skel.right, "right")}
    bones = {name: [(p, j) for j, p in skel.bones if side.get(j, "centre") == name]
             for name, _ in _SIDES}  # fmt: skip
    page_title = title or "posesynth view"
    frames, steps = [], []
    for row, sample in enumerate(index.tolist()):
        name = str(sample)
        heading = _heading(ds, row, sample, page_title)
        data, layout = _frame(p3d, uv_px, sizes, row, bones, heading, frame_label)
        frames.append(go.Frame(data=data, name=name, layout=layout))
        steps.append({
            "label": name, "method": "animate",
            "args": [[name], {"mode": "immediate", "frame": {"duration": 0, "redraw": True},
                              "transition": {"duration": 0}}],
        })  # fmt: skip

    fig = make_subplots(
        rows=1, cols=2, specs=[[{"type": "scene"}, {"type": "xy"}]],
        subplot_titles=(f"3D ({frame_label})" if p3d is not None else "3D (none)",
                        "2D (pixels)" if uv_px is not None else "2D (none)"),
        horizontal_spacing=0.06,
    )  # fmt: skip
    for trace_no, trace in enumerate(frames[0].data):
        fig.add_trace(trace, row=1, col=1 if trace_no < 4 else 2)
    fig.frames = frames
    fig.update_layout(frames[0].layout)
    fig.update_layout(
        template="plotly_white", height=640, showlegend=False, margin={"t": 80, "b": 40},
        scene={"aspectmode": "cube", "camera": {"up": {"x": 0, "y": 0, "z": 1}},
               "xaxis": {"title": {"text": "x (m)"}},
               "yaxis": {"title": {"text": _axis_y(frame_label)}},
               "zaxis": {"title": {"text": _axis_z(frame_label)}}},
        xaxis={"title": {"text": "u (px)"}, "constrain": "domain"},
        yaxis={"title": {"text": "v (px)"}, "scaleanchor": "x", "scaleratio": 1,
               "constrain": "domain"},
        sliders=[{"active": 0, "steps": steps, "currentvalue": {"prefix": "sample "},
                  "pad": {"t": 30}, "len": 0.95, "x": 0.025}],
    )  # fmt: skip
    if play and len(steps) > 1:
        fig.update_layout(updatemenus=[{
            "type": "buttons", "direction": "left", "x": 0.0, "y": -0.02, "xanchor": "left",
            "yanchor": "top", "pad": {"t": 40},
            "buttons": [
                {"label": "Play", "method": "animate",
                 "args": [None, {"frame": {"duration": 80, "redraw": True}, "fromcurrent": True,
                                 "transition": {"duration": 0}}]},
                {"label": "Pause", "method": "animate",
                 "args": [[None], {"mode": "immediate", "frame": {"duration": 0, "redraw": False}}]},
            ],
        }])  # fmt: skip
    return fig.to_html(
        include_plotlyjs=True,
        full_html=True,
        div_id=DIV_ID,
        auto_play=False,
        config={"displaylogo": False},
        default_width="100%",
        default_height="640px",
    ).replace("<head>", f"<head><title>{_escape(page_title)}</title>", 1)


def write_view(
    dataset: PoseDataset, path: Path | str, samples: int = DEFAULT_SAMPLES,
    seed: int | None = None, overwrite: bool = False, title: str | None = None,
    play: bool = False,
) -> Path:  # fmt: skip
    """Write :func:`view_html` to ``path`` atomically (see :func:`posesynth.util.atomic.atomic_path`).

    Raises:
        ValueError: as :func:`view_html`; ``path`` exists and not ``overwrite``; its folder
            is missing.
    """
    path = Path(path)
    html = view_html(dataset, samples=samples, seed=seed, title=title, play=play)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- internals


def _points_3d(ds: PoseDataset) -> tuple[np.ndarray | None, str]:
    """3D points to plot, Z up: the world frame, else the camera frame as (x, z, -y)."""
    if ds.joints_3d_world is not None:
        return np.asarray(ds.joints_3d_world), "world, metres, Z up"
    if ds.joints_3d_camera is not None:
        p_cam = np.asarray(ds.joints_3d_camera)
        return np.stack([p_cam[..., 0], p_cam[..., 2], -p_cam[..., 1]], axis=-1), "camera, metres"
    return None, "none"


def _axis_y(frame_label: str) -> str:
    return "z forward (m)" if frame_label.startswith("camera") else "y (m)"


def _axis_z(frame_label: str) -> str:
    return "-y up (m)" if frame_label.startswith("camera") else "z (m)"


def _heading(ds: PoseDataset, row: int, sample: int, page_title: str) -> str:
    parts = [f"sample {sample}"]
    for name in ("subject", "action", "frame"):
        value = getattr(ds, name)
        if value is not None:
            parts.append(f"{name} {_escape(str(np.asarray(value)[row]))}")
    if ds.camera_names is not None and ds.cameras is not None:
        names = np.asarray(ds.camera_names)
        cam = names[row] if ds.camera_index is None else names[ds.camera_index[row]]
        parts.append(f"camera {_escape(str(cam))}")
    return f"{_escape(page_title)}: " + ", ".join(parts)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _lines(points: np.ndarray, bones: list[tuple[int, int]], digits: int) -> list[list[Any]]:
    """Per coordinate, the bone segments joined by ``None`` breaks (plotly's line gaps)."""
    coords: list[list[Any]] = [[] for _ in range(points.shape[-1])]
    for parent, child in bones:
        for k, column in enumerate(coords):
            column.extend([_num(points[parent, k], digits), _num(points[child, k], digits), None])
    return coords


def _num(value: float, digits: int) -> float | None:
    return round(float(value), digits) if np.isfinite(value) else None


def _column(points: np.ndarray, k: int, digits: int) -> list[float | None]:
    return [_num(v, digits) for v in points[:, k]]


def _frame(
    p3d: np.ndarray | None, uv_px: np.ndarray | None, sizes: np.ndarray | None, row: int,
    bones: dict[str, list[tuple[int, int]]], heading: str, frame_label: str,
) -> tuple[list[Any], dict[str, Any]]:  # fmt: skip
    """The 9 traces (:data:`TRACE_NAMES`) and the layout (title, axis ranges) of one sample."""
    import plotly.graph_objects as go

    data: list[Any] = []
    layout: dict[str, Any] = {"title": {"text": heading, "x": 0.5}}
    pts = p3d[row] if p3d is not None else np.full((0, 3), np.nan)
    for name, colour in _SIDES:
        x, y, z = _lines(pts, bones[name], _DIGITS_3D) if len(pts) else ([], [], [])
        data.append(go.Scatter3d(x=x, y=y, z=z, mode="lines", name=f"3D {name}",
                                 line={"color": colour, "width": 6}, hoverinfo="skip"))  # fmt: skip
    data.append(go.Scatter3d(
        x=_column(pts, 0, _DIGITS_3D), y=_column(pts, 1, _DIGITS_3D), z=_column(pts, 2, _DIGITS_3D),
        mode="markers", name="3D joints", marker={"size": 3, "color": "black"},
    ))  # fmt: skip
    if p3d is not None:
        layout["scene"] = _cube(pts)

    uv = uv_px[row] if uv_px is not None else np.full((0, 2), np.nan)
    if sizes is not None:
        w, h = sizes[row]
        rect_x, rect_y = [-0.5, w - 0.5, w - 0.5, -0.5, -0.5], [-0.5, -0.5, h - 0.5, h - 0.5, -0.5]
    else:
        rect_x, rect_y = [], []
    data.append(go.Scatter(x=rect_x, y=rect_y, mode="lines", name="image",
                           line={"color": "#999999", "width": 1}, hoverinfo="skip"))  # fmt: skip
    for name, colour in _SIDES:
        x, y = _lines(uv, bones[name], _DIGITS_2D) if len(uv) else ([], [])
        data.append(go.Scatter(x=x, y=y, mode="lines", name=f"2D {name}",
                               line={"color": colour, "width": 2}, hoverinfo="skip"))  # fmt: skip
    data.append(go.Scatter(
        x=_column(uv, 0, _DIGITS_2D), y=_column(uv, 1, _DIGITS_2D), mode="markers",
        name="2D joints", marker={"size": 4, "color": "black"},
    ))  # fmt: skip
    x_range, y_range = _image_ranges(uv, None if sizes is None else sizes[row])
    layout["xaxis"] = {"range": x_range, "autorange": False}
    layout["yaxis"] = {"range": y_range[::-1], "autorange": False}  # y down
    return data, layout


def _finite(points: np.ndarray) -> np.ndarray:
    return points[np.isfinite(points).all(axis=-1)]


def _cube(points: np.ndarray) -> dict[str, Any]:
    """Equal axis ranges (a cube) around the finite ``points``."""
    pts = _finite(points)
    if len(pts):
        centre = (pts.min(axis=0) + pts.max(axis=0)) / 2
        half = max(float((pts.max(axis=0) - pts.min(axis=0)).max()) / 2, 0.1) * 1.1
    else:
        centre, half = np.zeros(3), 1.0
    axes = {}
    for k, axis in enumerate(("xaxis", "yaxis", "zaxis")):
        lo, hi = round(float(centre[k] - half), 3), round(float(centre[k] + half), 3)
        axes[axis] = {"range": [lo, hi], "autorange": False}
    return {**axes, "aspectmode": "cube"}


def _image_ranges(uv_px: np.ndarray, size: np.ndarray | None) -> tuple[list[float], list[float]]:
    """x and y ranges holding the image rectangle and every finite keypoint, with a margin."""
    pts = _finite(uv_px)
    boxes = [pts] if len(pts) else []
    if size is not None:
        boxes.append(np.array([[-0.5, -0.5], [size[0] - 0.5, size[1] - 0.5]]))
    if not boxes:
        return [0.0, 1.0], [0.0, 1.0]
    allpts = np.concatenate(boxes)
    lo, hi = allpts.min(axis=0), allpts.max(axis=0)
    margin = 0.03 * max(float((hi - lo).max()), 1.0)
    return ([round(float(lo[0] - margin), 2), round(float(hi[0] + margin), 2)],
            [round(float(lo[1] - margin), 2), round(float(hi[1] + margin), 2)])  # fmt: skip
