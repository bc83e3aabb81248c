"""Extra keypoints (toes, heels, hand and thumb tips, nose, eyes, ears) for 17-joint poses.

A Human3.6M-17 pose is solved by inverse kinematics; the extended skeleton's extra joints
then hang from the ankle, wrist and head frames with the anthropometric rest offsets of
:mod:`posesynth.body.anthropometry`, scaled to the body's height estimated from its limb bones.

Orientation rules (the 17 joints do not show them, so they are chosen, and documented):

* foot: the ankle frame is the shank frame (its twist set by the knee's plane, see
  :mod:`posesynth.body.kinematics`), then dorsi/plantar-flexed so the foot's long axis is level with
  the ground (z = 0 plane) when that foot is within ``support_height`` of the lower ankle, i.e.
  a supporting foot stands flat; clamped to the ankle's range of motion. A raised foot keeps
  the neutral ankle.
* hand: the wrist frame is the forearm frame — palms forward for a hanging arm (anatomical
  position), turning with the elbow's plane otherwise.
* face: the head frame is the neck frame, so the face looks where the upper trunk points,
  tilted with the neck.
"""

from __future__ import annotations

import numpy as np

from posesynth.body.anthropometry import LIMB_PROPORTIONS, PROPORTION_NAMES, default_proportions, rest_offsets
from posesynth.body.kinematics import forward_kinematics, inverse_kinematics
from posesynth.body.rom import rom_table
from posesynth.body.skeleton import H36M17, H36M_EXTENDED
from posesynth.geometry import rotations as rot
from posesynth.util.checks import check_finite, check_shape


def estimate_height(positions: np.ndarray) -> np.ndarray:
    """Body height (N,) metres from the limb bones of H36M-17 poses (N, 17, 3), least squares."""
    props = default_proportions()
    j = np.array(H36M17.indices(list(LIMB_PROPORTIONS)))
    frac = np.array([props[PROPORTION_NAMES.index(b)] for b in LIMB_PROPORTIONS.values()])
    lengths = np.linalg.norm(positions[..., j, :] - positions[..., H36M17.parents_array[j], :], axis=-1)
    return lengths @ frac / (frac @ frac)


def add_extra_keypoints(positions: np.ndarray, support_height: float = 0.12) -> np.ndarray:
    """Extended-skeleton poses (N, 32, 3) from H36M-17 poses (N, 17, 3), metres, Z up.

    The first 17 joints are copied exactly; the others follow the rules of the module
    docstring. ``support_height`` (metres above the lower ankle) decides which feet stand flat.
    """
    positions = check_finite(check_shape(positions, (17, 3), "positions"), "positions")
    lead = positions.shape[:-2]
    local17, offsets17 = inverse_kinematics(positions, H36M17)
    J = H36M_EXTENDED.num_joints
    local = rot.quat_identity(lead + (J,))
    local[..., :17, :] = local17
    offsets = rest_offsets(H36M_EXTENDED, estimate_height(positions))
    offsets[..., :17, :] = offsets17

    # level the supporting feet: a rotation about the ankle frame's x axis
    _, g = forward_kinematics(local, offsets, H36M_EXTENDED, return_global=True)
    ankles = np.array(H36M17.indices(["right_foot", "left_foot"]))
    lowest = positions[..., ankles, 2].min(axis=-1, keepdims=True)
    m = rot.quat_to_matrix(g[..., ankles, :])  # (..., 2, 3, 3), columns = ankle frame axes
    theta = np.arctan2(-m[..., 2, 1], m[..., 2, 2])  # makes R_x(θ)·ŷ horizontal
    lo, hi = rom_table(H36M_EXTENDED)["right_ankle_dorsiflexion"].bounds
    theta = np.where(positions[..., ankles, 2] - lowest <= support_height, np.clip(theta, lo, hi), 0.0)
    local[..., ankles, :] = rot.axis_angle_to_quat(np.array([1.0, 0.0, 0.0]), theta)

    out = forward_kinematics(local, offsets, H36M_EXTENDED)
    out[..., :17, :] = positions
    return out
