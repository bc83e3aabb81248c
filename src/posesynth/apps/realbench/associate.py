"""Who is who: detections associated across views (reprojection consistency) and over time.

1. **Across views, per frame** (:func:`associate_frame`): every way of taking at most one
   detection per view (at least two views) is triangulated on a few reliable landmarks
   (``core``) and scored by the median reprojection error of each of its views. Candidates
   whose every view agrees within ``max_error_px`` are picked greedily, most views first, then
   lowest error, without reusing a detection. With ``K`` detections per view that is at most
   ``(K + 1)^V`` candidates per frame, solved in one batched triangulation.
2. **Over time** (:func:`track`): each frame's people are linked to the tracks of earlier
   frames by the distance of their 3D centroids (Hungarian assignment), within
   ``max_speed_m_s`` times the time since the track was last seen (plus ``slack_m``).
3. **Identity**: tracks seen in at least ``min_track_fraction`` of the frames are the people;
   they are numbered by the mean world X of their centroid, ascending (person 0 is the one
   further towards -X of the calibration's world). A frame-order-free rule, so the same people
   get the same numbers whatever frames are sampled.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from posesynth.geometry.camera import Camera
from posesynth.geometry.triangulation import reprojection_errors, triangulate

__all__ = ["Association", "associate_frame", "associate_people", "track"]


@dataclass(frozen=True)
class Association:
    """People found in every frame.

    Attributes:
        assignment: ``(F, P, V)`` int, the detection slot of person ``p`` in view ``v`` at frame
            ``f``, or -1 (not seen, or not associated).
        centroid_world: ``(F, P, 3)`` metres, centroid of the person's triangulated core
            landmarks; NaN where the person is not found.
        dropped_tracks: number of short tracks left out (spurious associations, passers-by).
    """

    assignment: np.ndarray
    centroid_world: np.ndarray
    dropped_tracks: int


def associate_frame(
    keypoints_2d: np.ndarray,
    weights: np.ndarray,
    cameras: Camera,
    *,
    max_error_px: float,
) -> tuple[np.ndarray, np.ndarray]:
    """People in one frame, from detections in several views.

    Args:
        keypoints_2d: ``(V, K, J, 2)`` px, the core landmarks of every detection slot (NaN
            where a slot is empty).
        weights: ``(V, K, J)`` confidences >= 0.
        cameras: :class:`Camera` batch ``(V,)``.
        max_error_px: largest median reprojection error of any view of a person, px.

    Returns:
        ``(assignment (P, V) int, points_world (P, J, 3) m)``: per person found, the slot
        used in each view (-1: none) and its triangulated core landmarks; ``P`` may be 0.
    """
    v, k = keypoints_2d.shape[:2]
    present = np.isfinite(keypoints_2d).all(-1).any(-1)  # (V, K)
    choices = [[-1, *np.flatnonzero(present[i]).tolist()] for i in range(v)]
    cand = np.array([c for c in itertools.product(*choices) if sum(x >= 0 for x in c) >= 2], np.int64)
    if cand.size == 0:
        return np.zeros((0, v), np.int64), np.zeros((0, keypoints_2d.shape[2], 3))
    seen = cand >= 0  # (T, V)
    slot = np.clip(cand, 0, None)
    views = np.arange(v)[None, :]
    uv = np.where(seen[..., None, None], keypoints_2d[views, slot], np.nan)  # (T, V, J, 2)
    w = np.where(seen[..., None], weights[views, slot], 0.0)
    p = triangulate(uv, cameras, w)  # (T, J, 3)
    err = reprojection_errors(p, uv, cameras)  # (T, V, J)
    finite = np.isfinite(err)
    with warnings.catch_warnings():  # all-NaN rows (unseen views) are expected here
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(np.where(finite, err, np.nan), axis=-1)
        cost = np.nanmean(np.where(seen, med, np.nan), axis=1)
    med = np.where(seen & finite.any(-1), med, np.nan)
    ok = np.where(seen, med < max_error_px, True).all(axis=1) & (np.isfinite(med).sum(1) >= 2)
    order = np.lexsort((np.where(ok, cost, np.inf), -seen.sum(1)))
    taken = np.zeros((v, k), bool)
    picked: list[int] = []
    for t in order:
        if not ok[t] or taken[seen[t].nonzero()[0], cand[t][seen[t]]].any():
            continue
        picked.append(int(t))
        taken[seen[t].nonzero()[0], cand[t][seen[t]]] = True
    return cand[picked], p[picked]


def track(
    centroids: list[np.ndarray],
    times_s: np.ndarray,
    *,
    max_speed_m_s: float = 3.0,
    slack_m: float = 0.25,
) -> list[np.ndarray]:
    """Link per-frame people into tracks.

    Args:
        centroids: per frame, ``(P_f, 3)`` metres.
        times_s: ``(F,)`` seconds of each frame.
        max_speed_m_s, slack_m: a person may move ``slack_m + max_speed_m_s * dt`` metres
            between sightings ``dt`` seconds apart.

    Returns:
        Per frame, ``(P_f,)`` int track ids (0, 1, ... in order of first appearance).
    """
    last_pos: list[np.ndarray] = []
    last_t: list[float] = []
    out: list[np.ndarray] = []
    for c, t in zip(centroids, times_s, strict=True):
        ids = np.full(len(c), -1, np.int64)
        if len(c) and last_pos:
            d = np.linalg.norm(np.stack(last_pos)[:, None] - c[None], axis=-1)  # (tracks, P_f)
            reach = slack_m + max_speed_m_s * (t - np.asarray(last_t))
            big = 1e6
            cost = np.where(d <= reach[:, None], d, big)
            rows, cols = linear_sum_assignment(cost)
            for r, col in zip(rows, cols, strict=True):
                if cost[r, col] < big:
                    ids[col] = r
        for i in range(len(c)):
            if ids[i] < 0:
                ids[i] = len(last_pos)
                last_pos.append(c[i])
                last_t.append(float(t))
            else:
                last_pos[ids[i]] = c[i]
                last_t[ids[i]] = float(t)
        out.append(ids)
    return out


def associate_people(
    keypoints_2d: np.ndarray,
    weights: np.ndarray,
    cameras: Camera,
    times_s: np.ndarray,
    *,
    max_error_px: float = 40.0,
    min_track_fraction: float = 0.2,
) -> Association:
    """People across views and frames, numbered as the module docstring says.

    Args:
        keypoints_2d: ``(V, F, K, J, 2)`` px, core landmarks of every detection slot (NaN:
            empty slot).
        weights: ``(V, F, K, J)`` confidences >= 0.
        cameras: :class:`Camera` batch ``(V,)``.
        times_s: ``(F,)`` seconds.
        max_error_px: see :func:`associate_frame`.
        min_track_fraction: a track seen in fewer frames than this fraction is dropped.

    Returns:
        :class:`Association`.
    """
    v, f = keypoints_2d.shape[:2]
    per_frame = [
        associate_frame(keypoints_2d[:, i], weights[:, i], cameras, max_error_px=max_error_px) for i in range(f)
    ]
    with warnings.catch_warnings():  # a landmark no view pair solved is NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        centroids = [np.nanmean(p, axis=1) if len(p) else np.zeros((0, 3)) for _, p in per_frame]
    ids = track(centroids, np.asarray(times_s, np.float64))
    n_tracks = int(max((i.max() + 1 for i in ids if len(i)), default=0))
    count = np.zeros(n_tracks, np.int64)
    xsum = np.zeros(n_tracks)
    for frame_ids, c in zip(ids, centroids, strict=True):
        np.add.at(count, frame_ids, 1)
        np.add.at(xsum, frame_ids, c[:, 0] if len(c) else np.zeros(0))
    keep = np.flatnonzero(count >= max(1, min_track_fraction * f))
    keep = keep[np.argsort(xsum[keep] / count[keep], kind="stable")]
    rank = {int(t): p for p, t in enumerate(keep)}
    assignment = np.full((f, len(keep), v), -1, np.int64)
    centroid = np.full((f, len(keep), 3), np.nan)
    for fi, ((assign, _), frame_ids, c) in enumerate(zip(per_frame, ids, centroids, strict=True)):
        for row, tid in enumerate(frame_ids):
            p = rank.get(int(tid))
            if p is not None:
                assignment[fi, p] = assign[row]
                centroid[fi, p] = c[row]
    return Association(assignment=assignment, centroid_world=centroid, dropped_tracks=n_tracks - len(keep))
