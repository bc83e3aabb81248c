"""Several hinges reposed in one pass (``motions.repose_hinges``, the path of
``augment --motions seed-knee``): the same bits as :func:`repose_hinge` on each hinge in turn,
with the compiled kernels and with the NumPy fallback."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from posesynth.body.skeleton import H36M17, H36M_EXTENDED
from posesynth.poses.motions import descendants, repose_hinge, repose_hinges
from posesynth.poses.procedural import sample_poses
from posesynth.util import jit

KNEES = ["right_knee", "left_knee"]
HINGE_SETS = [
    KNEES,
    ["left_knee", "right_knee"],
    ["right_elbow", "left_elbow"],
    ["right_knee", "left_elbow", "left_knee", "right_elbow"],
    ["right_knee"],
    ["right_knee", "right_knee"],  # not independent: one after the other
]


def sequential(poses, skeleton, joints, flexion, take):
    """The reference: :func:`repose_hinge` on each hinge in turn, NumPy path."""
    out, before = poses, []
    for joint, f, t in zip(joints, flexion, take, strict=True):
        out, cur = repose_hinge(out, skeleton, joint, f, t)
        before.append(cur)
    return out, before


def assert_same_bits(got: np.ndarray, ref: np.ndarray) -> None:
    assert got.shape == ref.shape and got.dtype == ref.dtype
    assert got.tobytes() == ref.tobytes()


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.sampled_from([(), (1,), (7,), (3, 5), (33,)]),
    joints=st.sampled_from(HINGE_SETS),
    extended=st.booleans(),
    scalar=st.booleans(),
    masked=st.booleans(),
    straight=st.booleans(),
)
def test_repose_hinges_same_bits_as_one_after_the_other(
    seed: int, shape: tuple[int, ...], joints: list[str], extended: bool, scalar: bool, masked: bool, straight: bool
) -> None:
    skeleton = H36M_EXTENDED if extended else H36M17
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    poses = sample_poses(rng, n, skeleton).positions
    if straight:  # a straight limb: the carried lateral axis is the hinge axis
        j = skeleton.index(joints[0])
        (child,) = skeleton.children(j)
        poses[0, child] = poses[0, j] + (poses[0, j] - poses[0, skeleton.parents_array[j]])
    poses = poses.reshape(shape + (skeleton.num_joints, 3))
    flexion = [float(rng.uniform(0, 2.5)) if scalar else rng.uniform(0.0, 2.5, shape) for _ in joints]
    take = [rng.random(shape) < 0.6 if masked else None for _ in joints]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(jit.ENV_VAR, "numpy")
        ref, ref_before = sequential(poses, skeleton, joints, flexion, take)
        for path in (["numba"] if jit.numba_installed() else []) + ["numpy"]:
            mp.setenv(jit.ENV_VAR, path)
            got, before = repose_hinges(poses, skeleton, joints, flexion, take)
            assert_same_bits(got, ref)
            assert len(before) == len(joints)
            for b, r in zip(before, ref_before, strict=True):
                assert_same_bits(b, r)


def test_repose_hinges_moves_only_the_shanks(kernels: str) -> None:
    rng = np.random.default_rng(3)
    poses = sample_poses(rng, 300, H36M17).positions
    target = [rng.uniform(0.0, 2.5, 300), rng.uniform(0.0, 2.5, 300)]
    out, before = repose_hinges(poses, H36M17, KNEES, target)
    moved = descendants(H36M17, H36M17.index("right_knee")) | descendants(H36M17, H36M17.index("left_knee"))
    np.testing.assert_array_equal(out[:, ~moved], poses[:, ~moved])
    for joint, t in zip(KNEES, target, strict=True):
        np.testing.assert_allclose(repose_hinge(out, H36M17, joint, 0.0)[1], t, atol=1e-9)
    bones = lambda p: np.linalg.norm(p[:, 1:] - p[:, H36M17.parents_array[1:]], axis=-1)
    np.testing.assert_allclose(bones(out), bones(poses), atol=1e-12)
    assert not np.array_equal(before[0], before[1])  # each hinge read from its own leg


def test_repose_hinges_rejects_nan(kernels: str) -> None:
    poses = sample_poses(np.random.default_rng(0), 5, H36M17).positions
    poses[3, 9, 2] = np.inf
    with pytest.raises(
        ValueError, match=r"positions: expected finite values, got 1 NaN/inf \(first at index \(3, 9, 2\)\)"
    ):
        repose_hinges(poses, H36M17, KNEES, [np.zeros(5), np.zeros(5)])


def test_repose_hinges_rejects_bad_arguments(kernels: str) -> None:
    poses = sample_poses(np.random.default_rng(0), 4, H36M17).positions
    with pytest.raises(ValueError, match=r"flexion: expected one value per joint \(2\), got 1"):
        repose_hinges(poses, H36M17, KNEES, [0.3])
    with pytest.raises(ValueError, match=r"take: expected one mask \(or None\) per joint \(2\), got 3"):
        repose_hinges(poses, H36M17, KNEES, [0.3, 0.3], [None, None, None])
    with pytest.raises(ValueError, match="joint: expected a knee or elbow, got 'right_hip'"):
        repose_hinges(poses, H36M17, ["right_knee", "right_hip"], [0.3, 0.3])


def test_repose_hinges_of_nothing_returns_the_poses(kernels: str) -> None:
    poses = sample_poses(np.random.default_rng(1), 3, H36M17).positions
    out, before = repose_hinges(poses, H36M17, [], [])
    np.testing.assert_array_equal(out, poses)
    assert before == []


@settings(max_examples=60, deadline=None)
@given(
    u=st.tuples(*[st.floats(-2.0, 2.0, allow_subnormal=False)] * 3).filter(lambda u: np.linalg.norm(u) > 1e-3),
    v=st.tuples(*[st.floats(-2.0, 2.0, allow_subnormal=False)] * 3).filter(lambda v: np.linalg.norm(v) > 1e-3),
    opposite=st.booleans(),
)
@example(u=(1.0, 0.1, 0.0), v=(0.0, 1.0, 0.0), opposite=True)  # helper axis y
@example(u=(0.1, 1.0, 0.3), v=(0.0, 1.0, 0.0), opposite=True)  # helper axis x
def test_quat_between_select_is_quat_between(
    u: tuple[float, float, float], v: tuple[float, float, float], opposite: bool
) -> None:
    """The branch-free shortest arc of the vectorised hinge kernel: the bits of the branching
    one, the half turn of opposite directions included (both helper axes)."""
    from posesynth.body import _kernels

    if opposite:
        v = (-2.0 * u[0], -2.0 * u[1], -2.0 * u[2])  # exactly opposite: the half-turn branch
    ref = np.array(_kernels._quat_between(*u, *v))
    got = np.array(_kernels._quat_between_select(*u, *v))
    assert got.tobytes() == ref.tobytes()
