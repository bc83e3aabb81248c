"""Random keypoint definitions applied to a data set: the same moved keypoints in 3D and 2D.

The training-data side of :func:`posesynth.body.definitions.random_offsets` (why it helps:
see there). Used by the streamed training data (``keypoint_jitter`` of
:class:`posesynth.lift.stream.StreamConfig`) and the ROM experiment
(:mod:`posesynth.apps.experiment`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from posesynth.body.definitions import estimate_height, keep_lengths, offset_joints, random_offsets
from posesynth.body.skeleton import H36M17
from posesynth.data.dataset import PoseDataset

__all__ = ["jitter_keypoints"]


def jitter_keypoints(
    dataset: PoseDataset,
    sigma: float,
    rng: np.random.Generator,
    limb_factor: float = 1.0,
    keep_distal: bool = False,
) -> PoseDataset:
    """``dataset`` with every pose's keypoints moved by a fresh random definition.

    Args:
        dataset: Human3.6M-17 poses with world 3D (metres, Z-up world frame) and per-sample
            cameras, e.g. ``posesynth generate``'s or ``augment``'s; the body heights are read
            from ``extra["height"]`` when present, else estimated from the limb bones.
        sigma: offset standard deviation, a fraction of body height (0 returns ``dataset``).
        rng: the random generator (one table of ``17 × 3`` normals per pose).
        limb_factor: the elbows', wrists', knees' and feet's offsets scaled by it
            (:func:`~posesynth.body.definitions.random_offsets`).
        keep_distal: the forearms and shanks keep their lengths
            (:func:`~posesynth.body.definitions.keep_lengths`): the wrists and feet move about
            the elbows and knees, not towards or away from them.

    Returns:
        A data set with world 3D, camera 3D, 2D and visibility of the moved keypoints, and
        everything else (cameras, ids, extras) as before, and ``meta["keypoint_jitter"] = sigma``.

    Raises:
        ValueError: another skeleton, or no world 3D or cameras to re-project with.
    """
    if sigma == 0:
        return dataset
    if dataset.skeleton.name != H36M17.name:
        raise ValueError(f"keypoint jitter: expected Human3.6M-17 poses, got skeleton {dataset.skeleton.name!r}")
    if dataset.joints_3d_world is None or dataset.cameras is None:
        raise ValueError("keypoint jitter: expected world 3D and cameras to re-project the moved keypoints")
    heights = dataset.extra.get("height") if dataset.extra else None
    world = np.asarray(dataset.joints_3d_world, np.float64)
    h = estimate_height(world) if heights is None else np.asarray(heights, np.float64)
    moved = offset_joints(world, random_offsets(rng, len(world), sigma, limb_factor=limb_factor), h)
    if keep_distal:
        moved = keep_lengths(moved, world)
    p_cam, uv, seen = dataset.sample_cameras().observe(moved)
    return replace(
        dataset,
        joints_3d_world=moved,
        joints_3d_camera=p_cam,
        joints_2d=uv,
        visibility=seen.astype(np.float64),
        meta={
            **dataset.meta,
            "keypoint_jitter": float(sigma),
            **({"keypoint_jitter_limbs": float(limb_factor)} if limb_factor != 1.0 else {}),
            **({"keypoint_jitter_keep_distal": True} if keep_distal else {}),
        },
    )
