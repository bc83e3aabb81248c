"""Video or image folder -> 2D per frame -> 3D per model, over time: ``posesynth demo VIDEO|FOLDER``.

For every frame: BlazePose (the ``demo`` extra) finds the person (a frame with nobody is
reported and skipped), its 33 landmarks are mapped to Human3.6M-17, and lifters A and B lift
all frames at once; MediaPipe's own world landmarks are the third model. In a video the person
is tracked as MediaPipe's video mode does: the landmark model looks first where the person was
in the frame before, and the detector runs only when it finds no one there. Written into the
output folder (built under a temporary name, renamed when complete):

``3d_<model>/``        a posesynth store per model (``a``, ``b``, ``mediapipe``):
                       ``joints_3d_camera`` (T, 17, 3) m, root-relative, camera frame (OpenCV);
                       ``joints_2d`` (T, 17, 2) px; ``frame`` = the video frame index;
                       readable by every command (``posesynth info``, ``view``, ``convert``).
``angles.csv``         one row per (frame, model): time, knee and elbow flexion (°) and
                       hip-knee, hip-ankle, shoulder-elbow lengths (m), left and right.
``view_<model>.html``  the animated 3D + 2D page of ``posesynth view`` (a slider and a Play
                       button over the frames).
``angles.png``         knee and elbow flexion over time, per model.
``summary.json``       frames read, kept, tracked, skipped (with their names), fps, files.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posesynth.apps.demo import limb_measures, mediapipe_world_to_h36m17
from posesynth.body.mappings import convert_keypoints
from posesynth.body.skeleton import H36M17
from posesynth.util.atomic import atomic_path

__all__ = ["VideoDemoResult", "run_demo_frames"]

#: At most this many frames go into each HTML page (evenly spread), to keep it light.
VIEW_FRAMES = 300

_CSV_COLUMNS = (
    "frame",
    "name",
    "time_s",
    "model",
    "left_knee_flexion_deg",
    "right_knee_flexion_deg",
    "left_elbow_flexion_deg",
    "right_elbow_flexion_deg",
    "left_hip_knee_m",
    "right_hip_knee_m",
    "left_hip_ankle_m",
    "right_hip_ankle_m",
    "left_shoulder_elbow_m",
    "right_shoulder_elbow_m",
)


@dataclass(frozen=True)
class VideoDemoResult:
    """What :func:`run_demo_frames` did.

    Attributes:
        out: the output folder.
        frames_read: frames decoded; ``frames_kept``: with a person; ``skipped``: names of
            the frames with nobody in them.
        frames_tracked: of the kept frames, those whose person was found where the frame
            before had it, without the detector (0 when tracking is off).
        fps: the video's rate (None for a folder).
        models: model key -> checkpoint (or ``mediapipe``).
        files: what was written, relative to ``out``.
    """

    out: Path
    frames_read: int
    frames_kept: int
    skipped: tuple[str, ...]
    fps: float | None
    models: dict[str, str]
    files: tuple[str, ...]
    frames_tracked: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "frames_read": self.frames_read,
            "frames_kept": self.frames_kept,
            "frames_tracked": self.frames_tracked,
            "skipped": list(self.skipped),
            "fps": self.fps,
            "models": dict(self.models),
            "files": list(self.files),
        }


def run_demo_frames(
    source: Path | str,
    out: Path | str,
    model_a: str = "everyday",
    model_b: str = "rom",
    max_frames: int | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    before_frames: Callable[[int], None] | None = None,
    refine: bool = False,
    track: bool | None = None,
) -> VideoDemoResult:
    """Run the demo on every frame of a video or image folder (see the module docstring).

    Everything that can fail on bad input (the source, the output folder, the checkpoints,
    the detector's extra) is checked before the first frame is read, so an error comes
    before any progress is shown.

    Args:
        source: a video file or a folder of images.
        out: the folder to create (replaced only with ``overwrite``).
        model_a, model_b: lifter checkpoints (folder, shipped name or ``shipped:<name>``).
        max_frames: read at most this many frames.
        overwrite: replace an existing ``out`` folder.
        progress: called as ``progress(done, total)`` after each frame.
        before_frames: called with the frame count once everything is checked, before the
            first frame (e.g. to start a progress bar).
        refine: a second landmark run per frame on the region of the first landmarks
            (:class:`posesynth.detect.blazepose.BlazePose`).
        track: look for the person where the frame before had it, before running the
            detector (``previous`` of :class:`posesynth.detect.blazepose.BlazePose`).
            Default: on for a video, off for a folder (its images may be unrelated photos).

    Raises:
        ValueError: bad source, existing ``out`` without ``overwrite``, a bad checkpoint, a
            missing extra, or nobody in any frame.
    """
    from posesynth.data.dataset import PoseDataset
    from posesynth.data.formats.store_io import write_store_dataset
    from posesynth.detect import load_blazepose
    from posesynth.detect.frames import open_frames
    from posesynth.lift import load_lifter
    from posesynth.util.outputs import check_output
    from posesynth.viz.angle_plot import save_angle_plot
    from posesynth.viz.viewer import write_view

    out = Path(out)
    frames = open_frames(source, max_frames)
    check_output(out, kind="dir", overwrite=overwrite, inputs=[Path(source)], what="--out")
    lifters = {"a": load_lifter(model_a), "b": load_lifter(model_b)}
    detector = load_blazepose()
    if before_frames is not None:
        before_frames(frames.count)

    if track is None:
        track = frames.kind == "video"
    kept_index, kept_names, skipped = [], [], []
    kp2d, vis2d, mp3d = [], [], []
    read = tracked = 0
    res = None
    for i, name, rgb in frames:
        read += 1
        res = detector(rgb, refine=refine, previous=res if track else None)
        if res is None:
            skipped.append(name)
        else:
            tracked += res.tracked
            uv, vis = convert_keypoints(res.keypoints_2d, "mediapipe33", "h36m17", res.visibility)
            kept_index.append(i)
            kept_names.append(name)
            kp2d.append(uv)
            vis2d.append(vis)
            mp3d.append(mediapipe_world_to_h36m17(res.world, res.visibility))
        if progress is not None:
            progress(read, frames.count)
    if not kept_index:
        raise ValueError(f"{source}: nobody found in any of its {read} frames")
    uv = np.stack(kp2d)
    vis = np.stack(vis2d)
    p3d = {key: lifter.predict(uv) for key, lifter in lifters.items()}
    p3d["mediapipe"] = np.stack(mp3d)
    index = np.asarray(kept_index, dtype=np.int64)
    time = index / frames.fps if frames.fps else index.astype(np.float64)
    time_label = "time (s)" if frames.fps else "frame"
    checkpoints = {k: str(v.path) for k, v in lifters.items()} | {
        "mediapipe": "pose_landmark_full.tflite (world landmarks" + (", refined)" if refine else ")")
    }

    rows, series = [], {}
    for key, pts in p3d.items():
        cols: dict[str, list[float]] = {c: [] for c in _CSV_COLUMNS[4:]}
        for t in range(len(index)):
            m = limb_measures(pts[t])
            for side in ("left", "right"):
                leg, arm = m["legs"][side], m["arms"][side]
                cols[f"{side}_knee_flexion_deg"].append(_num(leg["knee_flexion_deg"]))
                cols[f"{side}_elbow_flexion_deg"].append(_num(arm["elbow_flexion_deg"]))
                cols[f"{side}_hip_knee_m"].append(_num(leg["hip_knee_m"]))
                cols[f"{side}_hip_ankle_m"].append(_num(leg["hip_ankle_m"]))
                cols[f"{side}_shoulder_elbow_m"].append(_num(arm["shoulder_elbow_m"]))
        series[key] = {k: np.asarray(v) for k, v in cols.items()}
        for t in range(len(index)):
            rows.append(
                [
                    int(index[t]),
                    kept_names[t],
                    float(time[t]) if frames.fps else "",
                    key,
                    *(cols[c][t] for c in _CSV_COLUMNS[4:]),
                ]
            )

    stem = Path(source).stem or Path(source).name
    files = []
    with atomic_path(out, overwrite=overwrite) as tmp:
        tmp.mkdir()
        for key, pts in p3d.items():
            ds = PoseDataset(
                skeleton=H36M17,
                joints_3d_camera=pts,
                joints_2d=uv,
                visibility=vis,
                frame=index,
                subject=np.full(len(index), stem),
                action=np.full(len(index), f"demo_{key}"),
                meta={
                    "source": str(source),
                    "model": key,
                    "checkpoint": checkpoints[key],
                    "frame_3d": "camera (OpenCV), root-relative",
                    "fps": frames.fps,
                },
            )
            write_store_dataset(ds, tmp / f"3d_{key}")
            write_view(
                ds,
                tmp / f"view_{key}.html",
                samples=min(len(ds), VIEW_FRAMES),
                title=f"posesynth demo: {stem}, model {key}",
                play=True,
            )
            files += [f"3d_{key}", f"view_{key}.html"]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(_CSV_COLUMNS)
        writer.writerows(rows)
        (tmp / "angles.csv").write_text(buf.getvalue(), encoding="utf-8")
        save_angle_plot(
            tmp / "angles.png", time, series, time_label=time_label, title=f"{stem}: knee and elbow flexion per model"
        )
        files += ["angles.csv", "angles.png", "summary.json"]
        result = VideoDemoResult(
            out=out,
            frames_read=read,
            frames_kept=len(index),
            frames_tracked=tracked,
            skipped=tuple(skipped),
            fps=frames.fps,
            models=checkpoints,
            files=tuple(files),
        )
        (tmp / "summary.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    return result


def _num(value: float | None) -> float:
    return float("nan") if value is None else float(value)
