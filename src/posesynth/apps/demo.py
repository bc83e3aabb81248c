"""Photo → 2D keypoints → 3D: the library behind ``posesynth demo``.

1. 2D: MediaPipe BlazePose (:mod:`posesynth.detect`, the ``demo`` extra) finds one person and
   its 33 landmarks, mapped to Human3.6M-17 with
   ``convert_keypoints(points, "mediapipe33", "h36m17")``; or the user's own (17, 2) pixels
   from a ``.npy`` / ``.json`` file (then no detector runs).
2. 3D: the two lifters, model A (``everyday`` by default) and model B (``rom``), each on the
   same 2D keypoints; and MediaPipe's own world landmarks mapped to Human3.6M-17 as a third
   model (``mediapipe``, only when the detector ran).
3. Per model: hip–knee and hip–ankle distances and knee flexion per leg, shoulder–elbow and
   shoulder–wrist distances and elbow flexion per arm.

Frames and units: every 3D pose is (17, 3) metres, Human3.6M-17 order, OpenCV camera axes
(x right, y down, z forward), root-relative (row 0 is the origin). MediaPipe's world
landmarks already have x right and y down as in the image and z growing away from the camera,
so they need no axis change, only re-centring on the Human3.6M root (the hip midpoint).
Flexion is ``180° − interior angle``: 0° for a straight limb.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from posesynth.body.mappings import convert_keypoints
from posesynth.body.skeleton import H36M17
from posesynth.util.atomic import atomic_path

__all__ = [
    "ARMS",
    "LEGS",
    "flexion_deg",
    "limb_measures",
    "mediapipe_world_to_h36m17",
    "read_image",
    "read_keypoints",
    "run_demo",
    "save_demo_figure",
]

#: Human3.6M-17 indices (hip, knee, ankle) per leg, following the metadata: 1–3 is the right leg.
LEGS: dict[str, tuple[int, int, int]] = {"left": (4, 5, 6), "right": (1, 2, 3)}
#: Human3.6M-17 indices (shoulder, elbow, wrist) per arm.
ARMS: dict[str, tuple[int, int, int]] = {"left": (11, 12, 13), "right": (14, 15, 16)}
#: MediaPipe-33 indices (hip, knee, ankle) per leg, for the "found" flags.
_MP_LEGS = {"left": (23, 25, 27), "right": (24, 26, 28)}
_MP_ARMS = {"left": (11, 13, 15), "right": (12, 14, 16)}
VISIBLE = 0.5


def read_image(path: Path | str) -> np.ndarray:
    """The image at ``path`` as (H, W, 3) uint8 RGB.

    Raises:
        ValueError: missing file, or a file OpenCV cannot decode as an image.
    """
    import cv2

    from posesynth.data.validate import check_image_file

    p = Path(path)
    if not p.exists():
        raise ValueError(f"{p}: no such image file")
    check_image_file(p)  # a regular file of at most 100 MP, from its header, before decoding
    data = np.fromfile(p, dtype=np.uint8)
    try:
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except cv2.error as exc:  # e.g. OpenCV's own pixel cap on formats without a header check
        raise ValueError(f"{p}: cannot decode the image ({' '.join(str(exc).split())[:200]})") from None
    if bgr is None:
        raise ValueError(f"{p}: cannot read it as an image (not a JPEG/PNG/... file, or damaged)")
    return np.ascontiguousarray(bgr[..., ::-1])


def read_keypoints(path: Path | str, layout: str | None = None) -> np.ndarray:
    """User-supplied 2D keypoints of one frame, as Human3.6M-17 (17, 2) pixels.

    Any detector's file that :func:`posesynth.data.formats.detections.read_detections`
    reads: Human3.6M-17, COCO-17 (MMPose / RTMPose / YOLO / COCO-results JSON), OpenPose
    BODY_25 and MediaPipe-33, mapped to Human3.6M-17 (docs/keypoints.md). A bare array of 17
    joints is ambiguous (Human3.6M-17 or COCO-17) and needs ``layout``; ``posesynth demo
    --json`` output (``keypoints_2d``) is Human3.6M-17.

    Raises:
        ValueError: unreadable file, unknown schema, ambiguous or contradicting layout, more
            than one frame, or a joint the lifters need that the file does not give.
    """
    from posesynth.data.formats.detections import read_detections

    det = read_detections(path, layout)
    if len(det.frames) != 1:
        raise ValueError(
            f"{path}: holds {len(det.frames)} frames with people; --keypoints takes one frame "
            "(pass a video or a folder of images to run every frame)"
        )
    arr = det.keypoints_2d[0]
    missing = [H36M17.joint_names[j] for j in np.flatnonzero(~np.isfinite(arr).all(axis=-1))]
    if missing:
        raise ValueError(
            f"{path}: the {det.layout} keypoints leave Human3.6M-17 joints {missing} undefined "
            "(missing points in the file); the lifters need all 17"
        )
    return arr


def mediapipe_world_to_h36m17(world: np.ndarray, visibility: np.ndarray | None = None) -> np.ndarray:
    """MediaPipe world landmarks (33, 3) m → Human3.6M-17 (17, 3) m, OpenCV camera axes, root-relative.

    MediaPipe's world frame is x right, y down (image axes), z away from the camera, origin at
    the hip centre: the OpenCV camera axes already, so only the root is subtracted.
    """
    pts, _ = convert_keypoints(np.asarray(world, np.float64), "mediapipe33", "h36m17", visibility)
    return pts - pts[0]


def _angle_deg(u: np.ndarray, v: np.ndarray) -> float | None:
    nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    if not (nu > 1e-9 and nv > 1e-9) or not (np.isfinite(nu) and np.isfinite(nv)):
        return None
    c = float(np.clip(np.dot(u, v) / (nu * nv), -1.0, 1.0))
    return float(np.degrees(np.arccos(c)))


def flexion_deg(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float | None:
    """Flexion at joint ``b`` of the chain a → b → c (points (3,) m): the angle in degrees between
    the directions a→b and b→c, i.e. 180° − the interior angle (0° = straight). None if degenerate."""
    return _angle_deg(np.asarray(b) - np.asarray(a), np.asarray(c) - np.asarray(b))


def _dist(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(p) - np.asarray(q)))


def limb_measures(p3d: np.ndarray) -> dict[str, Any]:
    """Leg and arm measures of one Human3.6M-17 pose (17, 3) metres.

    Returns:
        ``{"legs": {side: {hip_knee_m, hip_ankle_m, knee_ankle_m, knee_flexion_deg}},
        "arms": {side: {shoulder_elbow_m, shoulder_wrist_m, elbow_wrist_m, elbow_flexion_deg}}}``
        for sides ``left`` and ``right`` (Human3.6M metadata sides).
    """
    p = np.asarray(p3d, np.float64)
    if p.shape != (17, 3):
        raise ValueError(f"p3d: expected shape (17, 3), got {p.shape}")
    legs = {
        side: {
            "hip_knee_m": _dist(p[h], p[k]),
            "hip_ankle_m": _dist(p[h], p[a]),
            "knee_ankle_m": _dist(p[k], p[a]),
            "knee_flexion_deg": flexion_deg(p[h], p[k], p[a]),
        }
        for side, (h, k, a) in LEGS.items()
    }
    arms = {
        side: {
            "shoulder_elbow_m": _dist(p[s], p[e]),
            "shoulder_wrist_m": _dist(p[s], p[w]),
            "elbow_wrist_m": _dist(p[e], p[w]),
            "elbow_flexion_deg": flexion_deg(p[s], p[e], p[w]),
        }
        for side, (s, e, w) in ARMS.items()
    }
    return {"legs": legs, "arms": arms}


def _model_entry(name: str, checkpoint: str, p3d: np.ndarray) -> dict[str, Any]:
    return {"name": name, "checkpoint": checkpoint, "keypoints_3d": p3d, **limb_measures(p3d)}


def run_demo(
    image: Path | str,
    model_a: Path | str = "everyday",
    model_b: Path | str = "rom",
    keypoints: Path | str | None = None,
    figure: Path | str | None = None,
    overwrite: bool = True,
    layout: str | None = None,
    refine: bool = False,
) -> dict[str, Any]:
    """Run the whole demo on one photo and return its JSON-ready document.

    Args:
        image: photo path (any format OpenCV reads).
        model_a, model_b: lifter checkpoints (folder or shipped name, see ``load_lifter``).
        keypoints: optional 2D keypoints file of any detector (:func:`read_keypoints`);
            skips the detector (and so the ``mediapipe`` model).
        figure: optional PNG path for :func:`save_demo_figure`.
        overwrite: replace an existing figure file.
        layout: the layout of ``keypoints`` when its schema does not say it
            (``h36m17``, ``coco17``, ``body25``, ``mediapipe33``).
        refine: a second landmark run on the region of the first landmarks
            (:class:`posesynth.detect.blazepose.BlazePose`); ignored with ``keypoints``.

    Returns:
        ``{"image", "source", "skeleton", "units", "keypoints_2d" (17, 2) px,
        "visibility_2d" (17,), "mediapipe33" (detector only: keypoints_2d (33, 2) px,
        visibility (33,), world (33, 3) m, detection_score, score; legs/arms found flags),
        "models": {"a" | "b" | "mediapipe": {name, checkpoint, keypoints_3d (17, 3) m,
        legs, arms}}, "figure"}``.

    Raises:
        ValueError: unreadable image or keypoints, no person found, a checkpoint that is not
            a Human3.6M-17 lifter, or a missing extra (torch, ai-edge-litert).
    """
    from posesynth.lift import load_lifter

    rgb = read_image(image)
    doc: dict[str, Any] = {
        "image": str(image),
        "image_size": [int(rgb.shape[1]), int(rgb.shape[0])],
        "skeleton": "h36m17",
        "joint_names": list(H36M17.joint_names),
        "units": {"keypoints_2d": "px", "keypoints_3d": "m", "angles": "deg"},
        "frame_3d": "camera (OpenCV: x right, y down, z forward), root-relative",
    }
    mp_3d = None
    if keypoints is not None:
        kp2d = read_keypoints(keypoints, layout)
        vis2d = np.ones(17)
        doc["source"] = f"keypoints file {keypoints}"
    else:
        from posesynth.detect import load_blazepose

        res = load_blazepose()(rgb, refine=refine)
        if res is None:
            raise ValueError(f"{image}: no person found")
        kp2d, vis2d = convert_keypoints(res.keypoints_2d, "mediapipe33", "h36m17", res.visibility)
        mp_3d = mediapipe_world_to_h36m17(res.world, res.visibility)
        doc["source"] = "mediapipe blazepose full (LiteRT)" + (", refined" if refine else "")
        doc["mediapipe33"] = {
            "keypoints_2d": res.keypoints_2d,
            "visibility": res.visibility,
            "world": res.world,
            "detection_score": res.detection_score,
            "score": res.score,
            "found": {
                "legs": {s: bool(np.all(res.visibility[list(ix)] >= VISIBLE)) for s, ix in _MP_LEGS.items()},
                "knees": {s: bool(res.visibility[ix[1]] >= VISIBLE) for s, ix in _MP_LEGS.items()},
                "arms": {s: bool(np.all(res.visibility[list(ix)] >= VISIBLE)) for s, ix in _MP_ARMS.items()},
            },
        }
    doc["keypoints_2d"] = kp2d
    doc["visibility_2d"] = vis2d

    models: dict[str, Any] = {}
    for key, spec in (("a", model_a), ("b", model_b)):
        lifter = load_lifter(spec)
        p3d = lifter.predict(kp2d)
        models[key] = _model_entry(str(lifter.meta.get("name") or Path(str(spec)).name), str(lifter.path or spec), p3d)
    if mp_3d is not None:
        models["mediapipe"] = _model_entry("mediapipe", "pose_landmark_full.tflite (world landmarks)", mp_3d)
    doc["models"] = models
    doc["figure"] = None
    if figure is not None:
        doc["figure"] = str(save_demo_figure(figure, rgb, kp2d, models, overwrite=overwrite))
    return doc


_LEFT = set(H36M17.left)
_RIGHT = set(H36M17.right)


def _bone_colour(j: int) -> str:
    return "tab:blue" if j in _LEFT else "tab:red" if j in _RIGHT else "0.3"


def save_demo_figure(
    path: Path | str,
    rgb: np.ndarray,
    keypoints_2d: np.ndarray,
    models: Mapping[str, Mapping[str, Any]],
    overwrite: bool = True,
    dpi: int = 100,
) -> Path:
    """One PNG: the photo with the 2D skeleton, then each model's 3D skeleton side by side.

    Args:
        path: PNG file to write (atomically).
        rgb: (H, W, 3) uint8 photo.
        keypoints_2d: (17, 2) px, Human3.6M-17.
        models: key → entry with ``keypoints_3d`` (17, 3) m (camera frame, root-relative) and
            ``legs`` (for the knee-flexion caption).
        overwrite: replace an existing file.

    All 3D panels share one viewpoint and one scale: camera axes drawn as x right, z (depth)
    into the page, −y up; left side blue, right side red.
    """
    from matplotlib.figure import Figure  # lazy: slow import; object API, no pyplot

    parents = H36M17.parents
    n = 1 + len(models)
    fig = Figure(figsize=(4.0 * n, 4.6), dpi=dpi, layout="constrained")
    ax = fig.add_subplot(1, n, 1)
    ax.imshow(rgb)
    kp = np.asarray(keypoints_2d)
    for j in range(1, 17):
        p = parents[j]
        ax.plot(kp[[p, j], 0], kp[[p, j], 1], color=_bone_colour(j), lw=2)
    ax.scatter(kp[:, 0], kp[:, 1], s=8, c="yellow", zorder=3)
    ax.set_title("photo + 2D (H36M-17)")
    ax.set_axis_off()
    all_pts = np.concatenate([np.asarray(m["keypoints_3d"]) for m in models.values()]) if models else np.zeros((1, 3))
    half = max(float(np.nanmax(np.abs(all_pts))), 0.5) * 1.05
    for i, (key, entry) in enumerate(models.items()):
        ax3 = fig.add_subplot(1, n, i + 2, projection="3d")
        p3 = np.asarray(entry["keypoints_3d"])
        xs, ys, zs = p3[:, 0], p3[:, 2], -p3[:, 1]  # display: x right, depth, up
        for j in range(1, 17):
            p = parents[j]
            ax3.plot(xs[[p, j]], ys[[p, j]], zs[[p, j]], color=_bone_colour(j), lw=2)
        ax3.set_xlim(-half, half)
        ax3.set_ylim(-half, half)
        ax3.set_zlim(-half, half)
        ax3.set_box_aspect((1, 1, 1), zoom=0.85)  # room inside the panel for the labels
        ax3.view_init(elev=12, azim=-65)
        from matplotlib.ticker import MaxNLocator

        for axis in (ax3.xaxis, ax3.yaxis, ax3.zaxis):  # few ticks: no overlapping labels
            axis.set_major_locator(MaxNLocator(4))
        ax3.tick_params(labelsize=7, pad=1)
        ax3.set_xlabel("x (m)", fontsize=8)
        ax3.set_ylabel("z (m)", fontsize=8)
        ax3.set_zlabel("-y (m)", fontsize=8)
        legs = entry.get("legs", {})
        kf = [legs.get(s, {}).get("knee_flexion_deg") for s in ("left", "right")]
        kf_txt = "/".join("-" if v is None else f"{v:.0f}" for v in kf)
        ax3.set_title(f"{key}: {entry.get('name', key)}\nknee flex L/R {kf_txt}°", fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return path
