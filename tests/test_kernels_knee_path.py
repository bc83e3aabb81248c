"""The knee augmentation path's kernels against the NumPy path, byte for byte (issue 15).

* ``hinge_geometry`` settles most lanes in a branch-free pass (no half turn, "bent" from
  squared lengths) and redoes the lanes it flags exactly: poses built to hit each flag (the
  upper bone opposite its carried rest direction; limbs at, near and far from the straight
  threshold) must give the NumPy path's bits, mixed into batches of ordinary poses.
* ``project_world`` / ``project_points`` run one branch-free loop per model over a pose's
  camera-frame rows: the same bits as the NumPy path for pinhole, OpenCV and Human3.6M,
  fisheye within 1e-9 px, for any batch shape, shared cameras and both skeletons.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posesynth.body.kinematics import default_rest_offsets
from posesynth.body.skeleton import H36M17, H36M_EXTENDED
from posesynth.geometry.camera import Camera, fisheye, h36m, opencv, pinhole
from posesynth.geometry.placement import sample_cameras
from posesynth.poses import motions
from posesynth.poses.motions import hinge_axis, hinge_flexion, repose_hinges
from posesynth.poses.procedural import sample_poses
from posesynth.util import jit

pytestmark = pytest.mark.skipif(not jit.numba_installed(), reason="numba (the fast extra) is not installed")

KNEES = ["right_knee", "left_knee"]
MODULES = {"pinhole": pinhole, "opencv": opencv, "fisheye": fisheye, "h36m": h36m}
FISHEYE_PX_TOL = 1e-9


def both(fn):
    """``(fn() on the NumPy path, fn() with the compiled kernels)``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(jit.ENV_VAR, "numpy")
        ref = fn()
        mp.setenv(jit.ENV_VAR, "numba")
        return ref, fn()


def same_bytes(got, ref) -> None:
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape and got.dtype == ref.dtype
    assert got.tobytes() == ref.tobytes()


def carried_rest_direction(poses: np.ndarray, joint: str) -> np.ndarray:
    """(N, 3) unit direction the upper bone of ``joint`` has in the rest pose, carried by the
    trunk frame of each pose (``G r_up`` of the hinge geometry)."""
    rest = default_rest_offsets(H36M17)
    j = H36M17.index(joint)
    trunk = H36M17.parents_array[H36M17.parents_array[j]]
    g = motions._frame_joint_frame(poses, H36M17, rest, trunk)
    r_up = rest[j] / np.linalg.norm(rest[j])
    return g @ r_up


def limb_at(poses: np.ndarray, i: int, joint: str, direction: np.ndarray, bend: float) -> None:
    """Pose ``i``: the upper bone of ``joint`` along ``direction`` (its length kept) and the
    lower bone turned ``bend`` radians off the upper bone's line (0: straight)."""
    j = H36M17.index(joint)
    up = H36M17.parents_array[j]
    (child,) = H36M17.children(j)
    u = direction / np.linalg.norm(direction)
    perp = np.cross(u, [0.3, 1.0, 0.2])
    perp /= np.linalg.norm(perp)
    poses[i, j] = poses[i, up] + np.linalg.norm(poses[i, j] - poses[i, up]) * u
    lower = np.linalg.norm(poses[i, child] - poses[i, j])
    poses[i, child] = poses[i, j] + lower * (np.cos(bend) * u + np.sin(bend) * perp)


def hinge_results(poses, joints, target):
    out, before = repose_hinges(poses, H36M17, joints, target)
    reads = [(hinge_axis(poses, H36M17, j), hinge_flexion(poses, H36M17, j)) for j in joints]
    return out, before, reads


def assert_hinges_same(poses, joints, target) -> None:
    (p_ref, b_ref, r_ref), (p, b, r) = both(lambda: hinge_results(poses, joints, target))
    same_bytes(p, p_ref)
    for got, ref in zip(b, b_ref, strict=True):
        same_bytes(got, ref)
    for (ax, fl), (ax_ref, fl_ref) in zip(r, r_ref, strict=True):
        same_bytes(ax, ax_ref)
        same_bytes(fl, fl_ref)


# the straight-limb threshold is |thigh x shank| > 1e-9 |thigh| |shank|: bends at it, inside
# and outside the band the branch-free pass leaves to the exact one, and far from it
BENDS = [0.0, 1e-12, 1e-9, 1e-9 * (1 + 1e-9), 1e-9 * (1 - 1e-9), 1e-9 * (1 + 1e-5), 1e-9 * (1 - 1e-5), 1e-6, 0.4]


@pytest.mark.parametrize("bend", BENDS)
def test_near_straight_limbs_same_bits(bend: float) -> None:
    rng = np.random.default_rng(21)
    poses = sample_poses(rng, 300, H36M17).positions
    for i in range(0, 300, 7):  # scattered through the blocks of 128 poses
        joint = KNEES[i % 2]
        thigh = poses[i, H36M17.index(joint)] - poses[i, H36M17.parents_array[H36M17.index(joint)]]
        limb_at(poses, i, joint, thigh, bend)
    assert_hinges_same(poses, KNEES, [rng.uniform(0, 2.5, 300), rng.uniform(0, 2.5, 300)])


@pytest.mark.parametrize("joint", KNEES)
def test_upper_bone_opposite_its_rest_direction_same_bits(joint: str) -> None:
    """The thigh pointing exactly against its carried rest direction: the half turn of the
    shortest arc, which the branch-free pass leaves to the exact one."""
    rng = np.random.default_rng(4)
    poses = sample_poses(rng, 260, H36M17).positions
    opposite = -carried_rest_direction(poses, joint)
    for i in (0, 1, 127, 128, 200, 259):
        limb_at(poses, i, joint, opposite[i], 0.7 if i % 2 else 0.0)
    assert_hinges_same(poses, KNEES, [rng.uniform(0, 2.5, 260), 0.3])


@pytest.mark.parametrize("bend", [1e-3, 0.5, 2.0])
def test_limb_bent_across_its_lateral_axis_same_bits(bend: float) -> None:
    """The lower bone bent toward the carried lateral axis: the limb's normal is
    perpendicular to it, so the sign of ``normal · lateral`` is round-off (the branch-free
    pass leaves such lanes to the exact one)."""
    rng = np.random.default_rng(13)
    poses = sample_poses(rng, 270, H36M17).positions
    rows = list(range(0, 270, 9))
    for joint in KNEES:
        j = H36M17.index(joint)
        up, (child,) = H36M17.parents_array[j], H36M17.children(j)
        straight = poses.copy()
        for i in rows:
            limb_at(straight, i, joint, poses[i, j] - poses[i, up], 0.0)
        lateral = hinge_axis(straight, H36M17, joint)  # a straight limb's axis: the lateral axis
        for i in rows:
            u = poses[i, j] - poses[i, up]
            u /= np.linalg.norm(u)
            side = lateral[i] - (lateral[i] @ u) * u
            side /= np.linalg.norm(side)
            lower = np.linalg.norm(poses[i, child] - poses[i, j])
            poses[i, child] = poses[i, j] + lower * (np.cos(bend) * u + np.sin(bend) * side)
    assert_hinges_same(poses, KNEES, [rng.uniform(0, 2.5, 270), rng.uniform(0, 2.5, 270)])


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 300),
    bend=st.one_of(st.sampled_from(BENDS), st.floats(0.0, 3.0), st.floats(1e-10, 1e-8)),
    opposite=st.booleans(),
)
def test_hinge_lanes_same_bits(seed: int, n: int, bend: float, opposite: bool) -> None:
    rng = np.random.default_rng(seed)
    poses = sample_poses(rng, n, H36M17).positions
    joint = KNEES[seed % 2]
    rows = rng.choice(n, size=max(1, n // 5), replace=False)
    direction = -carried_rest_direction(poses, joint) if opposite else None
    for i in rows:
        thigh = poses[i, H36M17.index(joint)] - poses[i, H36M17.parents_array[H36M17.index(joint)]]
        limb_at(poses, i, joint, direction[i] if direction is not None else thigh, bend)
    assert_hinges_same(poses, KNEES, [rng.uniform(0, 2.5, n), rng.uniform(0, 2.5, n)])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    model=st.sampled_from(sorted(MODULES)),
    shape=st.sampled_from([(), (1,), (5,), (2, 3), (130,)]),
    shared=st.booleans(),
    extended=st.booleans(),
)
def test_projection_same_bits(seed: int, model: str, shape: tuple[int, ...], shared: bool, extended: bool) -> None:
    skeleton = H36M_EXTENDED if extended else H36M17
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    poses = sample_poses(rng, max(n, 1), skeleton).positions
    flat = sample_cameras(rng, poses, model)  # a camera per pose, batch (max(n, 1),)
    if shared:  # one camera for the whole batch (stride-0 parameters in the kernel)
        shape_cam: tuple[int, ...] = ()
        pick = lambda a: np.asarray(a)[0]
    else:
        shape_cam = shape
        pick = lambda a: np.asarray(a)[:n].reshape(shape + np.asarray(a).shape[1:])
    cams = Camera(
        flat.model, pick(flat.intrinsics), pick(flat.distortion), pick(flat.rotation), pick(flat.center),
        pick(flat.image_size),
    )  # fmt: skip
    assert cams.batch_shape == shape_cam
    p = poses[:n].reshape(shape + (skeleton.num_joints, 3)) if shape else poses[0]

    def run():
        p_cam, uv, seen = cams.observe(p)
        return cams.project_world(p), p_cam, uv, seen, MODULES[model].project(p_cam, cams.intrinsics, cams.distortion)

    (uv_ref, pc_ref, obs_ref, seen_ref, mod_ref), (uv, pc, obs, seen, mod) = both(run)
    same_bytes(pc, pc_ref)
    same_bytes(seen, seen_ref)
    for got, ref in ((uv, uv_ref), (obs, obs_ref), (mod, mod_ref)):
        assert got.shape == p.shape[:-1] + (2,)
        if model == "fisheye":
            np.testing.assert_allclose(got, ref, rtol=0, atol=FISHEYE_PX_TOL)
        else:
            same_bytes(got, ref)
    same_bytes(obs, uv)  # observe's pixels are project_world's


def test_hinge_plan_follows_edited_rest_offsets() -> None:
    """The hinges' constants are kept per rest-offset content: an array edited in place
    between two calls is read afresh (the NumPy path's result each time)."""
    rng = np.random.default_rng(8)
    poses = sample_poses(rng, 40, H36M17).positions
    for i in range(40):  # straight legs: the hinge axis is the lateral axis carried from the rest pose
        thigh = poses[i, H36M17.index("right_knee")] - poses[i, H36M17.index("right_hip")]
        limb_at(poses, i, "right_knee", thigh, 0.0)
    rest = default_rest_offsets(H36M17).copy()
    target = [rng.uniform(0, 2.5, 40), rng.uniform(0, 2.5, 40)]
    results = []
    for tilt in (0.0, 0.3):
        rest[H36M17.index("right_knee")] += [0.0, tilt, 0.0]  # the thigh's rest direction moves
        ref, got = both(lambda: repose_hinges(poses, H36M17, KNEES, target, rest_offsets=rest)[0])
        same_bytes(got, ref)
        results.append(got)
    assert not np.array_equal(results[0], results[1])
