"""Pseudo ground truth: each person triangulated from BlazePose in every view, and its quality.

Per person and frame, the 33 MediaPipe landmarks of the views the person was associated in
(and, where the detector missed the person in a view, the landmarks found in the region where
the person projects there: "guided" detections) are triangulated by :func:`posesynth.geometry.triangulation.triangulate_robust` (DLT weighted
by BlazePose's visibility, a view dropped and the point re-solved while its reprojection error
exceeds ``max_error_px``), then mapped to Human3.6M-17 with
``convert_keypoints(..., "mediapipe33", "h36m17")``. A Human3.6M joint more than
``max_jump_m`` from the median of its own trajectory within ``window_s`` seconds is a gross
error (most often a landmark seen by only two nearly opposite cameras, whose depth along their
baseline is ill-determined) and is set to NaN, so poses holding it are not scored. The ground truth is therefore in
**BlazePose's keypoint definition**, not Human3.6M's joint centres:

- hips, knees, ankles, shoulders, elbows, wrists: BlazePose's landmarks of those names (its
  hips sit higher and wider than anatomical hip-joint centres; H36M ``foot`` = ankle);
- ``root`` = mid-hip, ``thorax`` = mid-shoulder, ``spine`` = mean of root and thorax;
- ``neck_base`` = 0.4 thorax + 0.15 nose + 0.45 ear midpoint and ``head`` (head top) =
  -0.8 nose + 1.1 eye midpoint + 0.7 ear midpoint (posesynth's affine fits at rest).

:class:`PersonData` holds everything, per person, that the scores and a noise / keypoint-
definition study need, and is written to (and read from) one ``.npz``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from posesynth.apps.realbench.associate import Association
from posesynth.apps.realbench.detect import ViewDetections
from posesynth.body.mappings import convert_keypoints
from posesynth.body.skeleton import H36M17
from posesynth.geometry.camera import Camera, CameraModel
from posesynth.geometry.triangulation import triangulate_robust

__all__ = ["PersonData", "PseudoGtQuality", "build_person_data", "pseudo_gt_quality", "temporal_outliers"]

#: Human3.6M-17 joint definitions of the pseudo ground truth (documented in the output).
GT_DEFINITION = (
    "BlazePose (MediaPipe-33) landmarks triangulated from 4 views, mapped to Human3.6M-17: "
    "limb joints = BlazePose landmarks of the same name (foot = ankle); root = mid-hip; "
    "thorax = mid-shoulder; spine = mean of root and thorax; neck_base = 0.4 thorax + 0.15 nose "
    "+ 0.45 ear midpoint; head = -0.8 nose + 1.1 eye midpoint + 0.7 ear midpoint"
)


@dataclass(frozen=True)
class PersonData:
    """Per-person pseudo ground truth and detections; ``P`` people, ``F`` frames, ``V`` views.

    People are numbered as :mod:`posesynth.apps.realbench.associate` says (by the mean world X
    of their centroid), so the numbers do not depend on the frames sampled; on Pose2Sim's
    ``Demo_MultiPerson`` person 0 is the man in black shorts and cap, person 1 the woman in a
    white T-shirt and jeans.

    The ``.npz`` written by :meth:`save` holds every attribute below under its name (the
    cameras as ``camera_model``, ``camera_intrinsics`` (V, 4) px, ``camera_distortion``
    (V, 5) OpenCV ``k1, k2, p1, p2, k3``, ``camera_rotation`` (V, 3, 3) world->camera,
    ``camera_center`` (V, 3) m, ``camera_image_size`` (V, 2)), plus ``gt_definition``,
    ``joint_names_h36m17`` and the derived arrays ``blazepose_2d_h36m17``,
    ``ideal_2d_h36m17`` (P, F, V, 17, 2) px, ``blazepose_world_h36m17`` and
    ``ground_truth_camera_h36m17`` (P, F, V, 17, 3) m, camera axes, root-relative.

    Frames: world = the calibration's (Z up, metres); camera = OpenCV axes of each view.
    NaN marks what is missing (a person not found in a frame, or not detected in a view).

    Attributes:
        frames: ``(F,)`` int, 0-based video frame indices.
        fps: video frame rate.
        camera_names: ``(V,)`` str, the calibration's camera serials (= video stems).
        cameras: :class:`Camera` batch ``(V,)`` (``opencv`` model).
        points_world_mp33: ``(P, F, 33, 3)`` m, triangulated MediaPipe-33 landmarks, world.
        points_world: ``(P, F, 17, 3)`` m, Human3.6M-17 pseudo ground truth, world (NaN where
            a joint was not triangulated or was rejected as a temporal outlier).
        temporal_outlier: ``(P, F, 17)`` bool, joints rejected as temporal outliers.
        reprojection_error_px: ``(P, F, V, 33)`` px, of ``points_world_mp33`` in every view the
            person was detected in (kept or rejected).
        views_used: ``(P, F, V, 33)`` bool, the views each landmark was solved from.
        blazepose_2d_mp33: ``(P, F, V, 33, 2)`` px, BlazePose image landmarks.
        blazepose_visibility: ``(P, F, V, 33)`` 0-1.
        blazepose_world_mp33: ``(P, F, V, 33, 3)`` m, BlazePose world landmarks (camera axes,
            origin BlazePose's hip centre).
        blazepose_score: ``(P, F, V)`` landmark-model presence score (0 where undetected).
        guided_2d_mp33: ``(P, F, V, 33, 2)`` px, landmarks found in the region the person
            projects to, in views where the detector missed them (NaN elsewhere); used for the
            triangulation only.
        guided_visibility: ``(P, F, V, 33)`` 0-1.
    """

    frames: np.ndarray
    fps: float
    camera_names: np.ndarray
    cameras: Camera
    points_world_mp33: np.ndarray
    points_world: np.ndarray
    temporal_outlier: np.ndarray
    reprojection_error_px: np.ndarray
    views_used: np.ndarray
    blazepose_2d_mp33: np.ndarray
    blazepose_visibility: np.ndarray
    blazepose_world_mp33: np.ndarray
    blazepose_score: np.ndarray
    guided_2d_mp33: np.ndarray
    guided_visibility: np.ndarray

    @property
    def num_people(self) -> int:
        """``P``."""
        return int(self.points_world.shape[0])

    # ---------------------------------------------------------------- derived views
    def blazepose_2d(self) -> np.ndarray:
        """``(P, F, V, 17, 2)`` px, BlazePose's 2D mapped to Human3.6M-17."""
        return convert_keypoints(self.blazepose_2d_mp33, "mediapipe33", "h36m17")[0]

    def blazepose_world(self) -> np.ndarray:
        """``(P, F, V, 17, 3)`` m, BlazePose world landmarks in Human3.6M-17, camera axes,
        root-relative (MediaPipe's world axes are the camera's: x right, y down, z away)."""
        pts = convert_keypoints(self.blazepose_world_mp33, "mediapipe33", "h36m17")[0]
        return pts - pts[..., :1, :]

    def ideal_2d(self) -> np.ndarray:
        """``(P, F, V, 17, 2)`` px, the pseudo ground truth projected into each view (with the
        lens distortion), for every frame the person was triangulated."""
        with np.errstate(invalid="ignore"):
            return self.cameras.project_world(self.points_world[:, :, None])

    def ground_truth_camera(self) -> np.ndarray:
        """``(P, F, V, 17, 3)`` m, the pseudo ground truth in each camera's frame, root-relative."""
        p_cam = self.cameras.world_to_camera(self.points_world[:, :, None])
        return p_cam - p_cam[..., :1, :]

    # ------------------------------------------------------------------ file
    def save(self, path: Path) -> Path:
        """Write every field to ``path`` (``.npz``; cameras as their arrays + model name)."""
        arrays: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Camera):
                for key in ("intrinsics", "distortion", "rotation", "center", "image_size"):
                    arrays[f"camera_{key}"] = getattr(value, key)
                arrays["camera_model"] = np.array(value.model.value)
            else:
                arrays[f.name] = np.asarray(value)
        arrays["gt_definition"] = np.array(GT_DEFINITION)
        arrays["joint_names_h36m17"] = np.array(H36M17.joint_names)
        # the derived views too, for readers without posesynth (ignored by :meth:`load`)
        arrays["blazepose_2d_h36m17"] = self.blazepose_2d()
        arrays["ideal_2d_h36m17"] = self.ideal_2d()
        arrays["blazepose_world_h36m17"] = self.blazepose_world()
        arrays["ground_truth_camera_h36m17"] = self.ground_truth_camera()
        path = Path(path)
        tmp = path.with_name(path.name + ".partial.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> PersonData:
        """Read a file written by :meth:`save`; ``ValueError`` naming a missing key."""
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError) as exc:
            raise ValueError(f"{path}: cannot read person data ({type(exc).__name__}: {exc})") from None
        try:
            cameras = Camera(
                model=CameraModel.parse(str(data["camera_model"])),
                intrinsics=data["camera_intrinsics"],
                distortion=data["camera_distortion"],
                rotation=data["camera_rotation"],
                center=data["camera_center"],
                image_size=data["camera_image_size"],
            )
            kw = {f.name: data[f.name] for f in fields(cls) if f.name != "cameras"}
        except KeyError as exc:
            raise ValueError(f"{path}: key {exc} missing; expected a file written by PersonData.save") from None
        kw["fps"] = float(kw["fps"])
        return cls(cameras=cameras, **kw)


def temporal_outliers(
    points: np.ndarray, times_s: np.ndarray, *, window_s: float, max_jump_m: float, min_frames: int = 3
) -> np.ndarray:
    """Points far from the median of their own trajectory nearby in time.

    Args:
        points: ``(P, F, J, 3)`` metres (NaN where missing).
        times_s: ``(F,)`` seconds.
        window_s: half-width of the time window (widened to the median frame spacing when
            frames are sparser).
        max_jump_m: largest distance from the window's median, metres.
        min_frames: windows with fewer finite points test nothing (sparse frames keep all).

    Returns:
        ``(P, F, J)`` bool, True where a point is an outlier.
    """
    t = np.asarray(times_s, np.float64)
    # sparse (subsampled) frames: widen the window to reach one neighbour on each side; a
    # median of three samples keeps any monotone motion, so real movement is not rejected
    if t.size > 1:
        window_s = max(window_s, 1.01 * float(np.median(np.diff(np.sort(t)))))
    near = np.abs(t[:, None] - t[None, :]) <= window_s + 1e-9  # (F, F)
    # (P, F, F', J, 3): the trajectory, NaN outside each frame's window
    win = np.where(near[None, :, :, None, None], points[:, None], np.nan)
    count = np.isfinite(win).all(-1).sum(axis=2)  # (P, F, J)
    with warnings.catch_warnings():  # all-NaN windows are expected
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(win, axis=2)
    dev = np.linalg.norm(points - med, axis=-1)
    return (count >= min_frames) & np.isfinite(dev) & (dev > max_jump_m)


def build_person_data(
    detections: ViewDetections,
    association: Association,
    cameras: Camera,
    camera_names: list[str],
    fps: float,
    guided: ViewDetections | None = None,
    *,
    max_error_px: float = 30.0,
    min_weight: float = 0.05,
    window_s: float = 2.5 / 60.0,
    max_jump_m: float = 0.15,
) -> PersonData:
    """Triangulate every associated person and gather their per-view detections.

    Args:
        detections: all detections, ``(V, F, K, ...)``.
        association: ``assignment (F, P, V)`` from :func:`associate_people`.
        cameras: :class:`Camera` batch ``(V,)``.
        camera_names: ``V`` names.
        fps: frames per second of the videos.
        guided: optional guided detections ``(V, F, P, ...)`` (slot = person), used in the
            views where the person has no detection of its own.
        max_error_px: outlier threshold of :func:`triangulate_robust`.
        min_weight: floor of the visibility weights, so an occluded landmark still counts a
            little (its position is BlazePose's guess, often near the truth).
        window_s, max_jump_m: the temporal outlier test (see :func:`temporal_outliers`).

    Returns:
        :class:`PersonData`.
    """
    assign = np.moveaxis(association.assignment, 0, 1)  # (P, F, V)
    _, f, v = assign.shape
    seen = assign >= 0
    vi = np.arange(v)[None, None, :]
    fi = np.arange(f)[None, :, None]
    slot = np.clip(assign, 0, None)

    def gather(arr: np.ndarray, fill: float) -> np.ndarray:  # arr (V, F, K, ...) -> (P, F, V, ...)
        out = arr[vi, fi, slot]
        mask = seen.reshape(seen.shape + (1,) * (out.ndim - 3))
        return np.where(mask, out, fill)

    kp = gather(detections.keypoints_2d, np.nan)
    vis = gather(detections.visibility, 0.0)
    world = gather(detections.world, np.nan)
    score = gather(detections.score, 0.0)
    if guided is not None:
        g_kp = np.moveaxis(guided.keypoints_2d, (0, 1, 2), (2, 1, 0))  # (P, F, V, 33, 2)
        g_vis = np.moveaxis(guided.visibility, (0, 1, 2), (2, 1, 0))
        g_kp = np.where(seen[..., None, None], np.nan, g_kp)
        g_vis = np.where(seen[..., None], 0.0, g_vis)
    else:
        g_kp = np.full(kp.shape, np.nan)
        g_vis = np.zeros(vis.shape)
    all_kp = np.where(seen[..., None, None], kp, g_kp)
    all_vis = np.where(seen[..., None], vis, g_vis)
    weights = np.where(np.isfinite(all_kp).all(-1), np.clip(all_vis, min_weight, 1.0), 0.0)
    tri = triangulate_robust(all_kp, cameras, weights, max_error_px=max_error_px)
    pts33 = tri.points_world
    pts17 = convert_keypoints(pts33, "mediapipe33", "h36m17")[0]
    times = np.asarray(detections.frames, np.float64) / fps
    outlier = temporal_outliers(pts17, times, window_s=window_s, max_jump_m=max_jump_m)
    pts17 = np.where(outlier[..., None], np.nan, pts17)
    return PersonData(
        frames=np.asarray(detections.frames, np.int64),
        fps=float(fps),
        camera_names=np.array(camera_names),
        cameras=cameras,
        points_world_mp33=pts33,
        points_world=pts17,
        temporal_outlier=outlier,
        reprojection_error_px=tri.reprojection_error_px,
        views_used=tri.used,
        blazepose_2d_mp33=kp,
        blazepose_visibility=vis,
        blazepose_world_mp33=world,
        blazepose_score=score,
        guided_2d_mp33=g_kp,
        guided_visibility=g_vis,
    )


@dataclass(frozen=True)
class PseudoGtQuality:
    """How good the pseudo ground truth is.

    Attributes:
        poses: person-frames with all 17 joints triangulated.
        reprojection_error_px: mean reprojection error of the triangulated landmarks the
            Human3.6M-17 joints are built from, over the views each was solved from, px.
        reprojection_error_median_px: the median of the same.
        reprojection_error_all_views_px: mean over every view the person was detected in,
            rejected views included, px.
        rejected_fraction: share of observations dropped as outliers.
        temporal_outliers: Human3.6M joints set to NaN as temporal outliers.
        bone_length_std_mm: mean over bones and people of each bone's standard deviation
            over frames, mm (a rigid skeleton would give 0).
        bone_length_std_per_bone_mm: bone (``parent-child`` names) -> mm, mean over people.
        per_view_reprojection_error_px: camera name -> mean over its kept observations.
    """

    poses: int
    reprojection_error_px: float
    reprojection_error_median_px: float
    reprojection_error_all_views_px: float
    rejected_fraction: float
    temporal_outliers: int
    bone_length_std_mm: float
    bone_length_std_per_bone_mm: dict[str, float]
    per_view_reprojection_error_px: dict[str, float]


#: MediaPipe-33 landmarks the Human3.6M-17 mapping uses (nose, eyes, ears, limbs).
_MP_USED = np.array([0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28])


def pseudo_gt_quality(data: PersonData) -> PseudoGtQuality:
    """Reprojection error and bone-length stability of ``data``'s pseudo ground truth."""
    complete = np.isfinite(data.points_world).all(axis=(-1, -2))  # (P, F)
    err = data.reprojection_error_px[..., _MP_USED]  # (P, F, V, L)
    used = data.views_used[..., _MP_USED] & complete[..., None, None] & np.isfinite(err)
    observed = np.isfinite(err) & complete[..., None, None]
    names = [str(n) for n in data.camera_names]
    per_view = {
        names[i]: float(err[:, :, i][used[:, :, i]].mean()) if used[:, :, i].any() else float("nan")
        for i in range(len(names))
    }
    parents = np.asarray(H36M17.parents)
    child = np.flatnonzero(parents >= 0)
    pts = data.points_world
    lengths = np.linalg.norm(pts[:, :, child] - pts[:, :, parents[child]], axis=-1)  # (P, F, B)
    stds = []
    for person in range(pts.shape[0]):
        ok = complete[person]
        if ok.sum() >= 2:
            stds.append(lengths[person, ok].std(axis=0) * 1000.0)
    std = np.mean(stds, axis=0) if stds else np.full(len(child), np.nan)
    bones = {
        f"{H36M17.joint_names[parents[c]]}-{H36M17.joint_names[c]}": float(s) for c, s in zip(child, std, strict=True)
    }
    return PseudoGtQuality(
        poses=int(complete.sum()),
        reprojection_error_px=float(err[used].mean()) if used.any() else float("nan"),
        reprojection_error_median_px=float(np.median(err[used])) if used.any() else float("nan"),
        reprojection_error_all_views_px=float(err[observed].mean()) if observed.any() else float("nan"),
        rejected_fraction=float(1.0 - used.sum() / max(observed.sum(), 1)),
        temporal_outliers=int(data.temporal_outlier.sum()),
        bone_length_std_mm=float(np.mean(std)),
        bone_length_std_per_bone_mm=bones,
        per_view_reprojection_error_px=per_view,
    )
