"""Knee range-of-motion augmentation + projection: vectorised vs the seed's per-frame loop.

Run:  .venv/bin/python benchmarks/bench_augment.py [--frames N] [--loop L]

Pinned to one core. Both sides do the same job on the same everyday frames: set both
knees to a random flexion in [0°, 150°] with the feet following, then project the 17 joints
through the frame's camera.

* posesynth: :func:`posesynth.poses.motions.set_hinge_flexion` on whole arrays (knee axis from the
  hip–knee–ankle plane, bone lengths kept) and :meth:`Camera.project_world` (OpenCV model).
* seed-style loop: per frame, guess the body's yaw from the hips, build the knee's rotation
  plane from it, swing a shank of thigh length about the knee, then ``cv2.projectPoints``.

Prints frames/s of each, measured in this run, and their ratio.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from posesynth.geometry.camera import rotation_translation  # noqa: E402
from posesynth.poses.motions import set_hinge_flexion  # noqa: E402
from posesynth.geometry.placement import sample_cameras  # noqa: E402
from posesynth.poses.procedural import sample_poses  # noqa: E402
from posesynth.body.skeleton import H36M17  # noqa: E402

KNEES = (("right_hip", "right_knee", "right_foot"), ("left_hip", "left_knee", "left_foot"))


def vectorised(positions, cameras, flexion):
    p = positions
    for (_, knee, _), f in zip(KNEES, flexion):
        p = set_hinge_flexion(p, H36M17, knee, f)
    return cameras.project_world(p)


def seed_loop(positions, K, dist, rvecs, tvecs, flexion):
    out = np.empty(positions.shape[:2] + (2,))
    for i in range(len(positions)):
        p = positions[i].copy()
        hips = p[H36M17.index("left_hip")] - p[H36M17.index("right_hip")]
        yaw = np.arctan2(hips[1], hips[0])
        c, s = np.cos(yaw), np.sin(yaw)
        for (hip, knee, foot), f in zip(KNEES, flexion):
            h, k, a = H36M17.index(hip), H36M17.index(knee), H36M17.index(foot)
            thigh = np.linalg.norm(p[k] - p[h])
            local = np.array([0.0, -np.sin(f[i]), -np.cos(f[i])]) * thigh  # in the yaw frame
            p[a] = p[k] + np.array([c * local[0] - s * local[1], s * local[0] + c * local[1], local[2]])
        uv, _ = cv2.projectPoints(p, rvecs[i], tvecs[i], K[i], dist[i])
        out[i] = uv[:, 0, :]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--loop", type=int, default=20_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rng = np.random.default_rng(0)
    n = min(args.chunk, args.frames)
    poses = sample_poses(rng, n, H36M17, {"stand": 1, "walk": 1}, {"knee_flexion": (0, 60)}).positions
    cams = sample_cameras(rng, poses, "opencv")
    flexion = np.deg2rad(rng.uniform(0, 150, (2, n)))

    vectorised(poses[:100], cams[np.arange(100)], flexion[:, :100])  # warm up
    start = time.perf_counter()
    done = 0
    while done < args.frames:
        m = min(n, args.frames - done)
        vectorised(poses[:m], cams if m == n else cams[np.arange(m)], flexion[:, :m])
        done += m
    vec_rate = done / (time.perf_counter() - start)

    L = min(args.loop, n)
    R, t = rotation_translation(np.asarray(cams.rotation[:L]), np.asarray(cams.center[:L]))
    rvecs = [cv2.Rodrigues(r)[0] for r in R]
    K = [np.array([[f[0], 0, f[2]], [0, f[1], f[3]], [0, 0, 1.0]]) for f in np.asarray(cams.intrinsics[:L])]
    dist = list(np.asarray(cams.distortion[:L]))
    start = time.perf_counter()
    seed_loop(poses[:L], K, dist, rvecs, list(t), flexion[:, :L])
    loop_rate = L / (time.perf_counter() - start)

    print(f"posesynth vectorised (chunks of {n}): {done:,} frames at {vec_rate:,.0f} frames/s")
    print(f"seed-style per-frame loop:           {L:,} frames at {loop_rate:,.0f} frames/s")
    print(f"ratio: {vec_rate / loop_rate:,.0f}x")


if __name__ == "__main__":
    main()
