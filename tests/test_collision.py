"""Capsule collisions: segment distance against brute force, rest pose clear, self-intersection caught."""

from __future__ import annotations

import numpy as np
import pytest

from posesynth.body import collision as C
from posesynth.body.anthropometry import rest_positions, sample_bodies
from posesynth.body.skeleton import H36M17, H36M_EXTENDED

SKELETONS = [H36M17, H36M_EXTENDED]
SKEL_IDS = [s.name for s in SKELETONS]
N_SAMPLES = 501  # points per segment for the brute force


def brute_force_distance(p0, p1, q0, q1, n=N_SAMPLES):
    """Min distance over an n × n grid of points on both segments, and the grid's resolution bound.

    The true distance lies in [brute - bound, brute]: each true closest point is within half a
    grid step of a sample.
    """
    s = np.linspace(0.0, 1.0, n)
    a = p0 + s[:, None] * (p1 - p0)
    b = q0 + s[:, None] * (q1 - q0)
    d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)).min()
    bound = 0.5 * (np.linalg.norm(p1 - p0) + np.linalg.norm(q1 - q0)) / (n - 1)
    return d, bound


def random_segment_cases(rng, n):
    cases = []
    for _ in range(n):
        cases.append(rng.normal(size=(4, 3)))  # generic skew
    for _ in range(n // 2):  # parallel, overlapping or not
        p0, d, off = rng.normal(size=3), rng.normal(size=3), rng.normal(size=3) * 0.3
        s = rng.uniform(-2, 2, 2)
        cases.append(np.stack([p0, p0 + d, p0 + off + s[0] * d, p0 + off + s[1] * d]))
    for _ in range(n // 2):  # crossing: both segments through one common point
        x, d1, d2 = rng.normal(size=(3, 3))
        a, b = rng.uniform(0.1, 0.9, 2)
        cases.append(np.stack([x - a * d1, x + (1 - a) * d1, x - b * d2, x + (1 - b) * d2]))
    for _ in range(n // 4):  # touching at ends
        p0, p1, q1 = rng.normal(size=(3, 3))
        cases.append(np.stack([p0, p1, p1, q1]))
        cases.append(np.stack([p0, p1, q1, p0]))
    for _ in range(n // 4):  # collinear
        p0, d = rng.normal(size=(2, 3))
        s = np.sort(rng.uniform(-1, 3, 2))
        cases.append(np.stack([p0, p0 + d, p0 + s[0] * d, p0 + s[1] * d]))
    for _ in range(n // 4):  # degenerate: one or both segments a point
        p0, p1, q0 = rng.normal(size=(3, 3))
        cases.append(np.stack([p0, p1, q0, q0]))
        cases.append(np.stack([q0, q0, p0, p1]))
        cases.append(np.stack([p0, p0, q0, q0]))
    return np.stack(cases)


def test_segment_distance_matches_brute_force():
    rng = np.random.default_rng(0)
    cases = random_segment_cases(rng, 40)
    got = C.segment_distance(cases[:, 0], cases[:, 1], cases[:, 2], cases[:, 3])
    assert got.shape == (len(cases),)
    for k, (p0, p1, q0, q1) in enumerate(cases):
        brute, bound = brute_force_distance(p0, p1, q0, q1)
        # never farther than a sampled pair; never closer than the grid can hide
        assert got[k] <= brute + 1e-12, (k, got[k], brute)
        assert got[k] >= brute - bound * (1 + 1e-3) - 1e-12, (k, got[k], brute, bound)


@pytest.mark.parametrize(
    "p0, p1, q0, q1, want",
    [
        # parallel, overlapping along their length, 0.3 apart
        ([0, 0, 0], [1, 0, 0], [0.5, 0.3, 0], [1.5, 0.3, 0], 0.3),
        # parallel, end to end with a gap: nearest endpoints
        ([0, 0, 0], [1, 0, 0], [2, 0.0, 0.0], [3, 0, 0], 1.0),
        ([0, 0, 0], [1, 0, 0], [4, 4, 0], [2, 4, 0], np.hypot(1, 4)),
        # an X in the plane: they cross
        ([-1, 0, 0], [1, 0, 0], [0, -1, 0], [0, 1, 0], 0.0),
        # skew lines crossing above one another, 0.2 apart
        ([-1, 0, 0], [1, 0, 0], [0, -1, 0.2], [0, 1, 0.2], 0.2),
        # skew, but the lines' closest points lie off both segments
        ([-1, 0, 0], [-0.5, 0, 0], [0, 1, 1], [0, 2, 1], np.sqrt(0.25 + 1 + 1)),
        # touching at ends (a shared joint)
        ([0, 0, 0], [1, 1, 0], [1, 1, 0], [2, 0, 5], 0.0),
        # T: one end on the other's interior
        ([0, 0, 0], [2, 0, 0], [1, 0, 0], [1, 3, 0], 0.0),
        # point to segment (interior projection), segment to point, point to point
        ([0.5, 2, 0], [0.5, 2, 0], [0, 0, 0], [1, 0, 0], 2.0),
        ([0, 0, 0], [1, 0, 0], [3, 0, 4], [3, 0, 4], np.hypot(2, 4)),
        ([1, 2, 3], [1, 2, 3], [4, 6, 3], [4, 6, 3], 5.0),
    ],
)
def test_segment_distance_known_cases(p0, p1, q0, q1, want):
    args = [np.asarray(v, dtype=np.float64) for v in (p0, p1, q0, q1)]
    assert C.segment_distance(*args) == pytest.approx(want, abs=1e-12)
    # symmetric in the two segments and in each segment's direction
    assert C.segment_distance(args[2], args[3], args[0], args[1]) == pytest.approx(want, abs=1e-12)
    assert C.segment_distance(args[1], args[0], args[3], args[2]) == pytest.approx(want, abs=1e-12)


def test_segment_distance_scales_with_the_segments():
    """Distance is homogeneous: shrinking the whole configuration shrinks the distance alike."""
    x = 1e-3 * np.array([[-0.5, 0, 0], [0.5, 0, 0], [0, -0.5, 0], [0, 0.5, 0]])  # 1 mm X
    assert C.segment_distance(*x) == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(3)
    cases = random_segment_cases(rng, 20)
    full = C.segment_distance(cases[:, 0], cases[:, 1], cases[:, 2], cases[:, 3])
    small = 1e-4 * cases
    got = C.segment_distance(small[:, 0], small[:, 1], small[:, 2], small[:, 3])
    np.testing.assert_allclose(got, 1e-4 * full, rtol=1e-6, atol=1e-13)


def test_segment_distance_broadcasts():
    rng = np.random.default_rng(1)
    p0, p1 = rng.normal(size=(2, 3, 4, 3))
    q0, q1 = rng.normal(size=(2, 4, 3))  # broadcast against (3, 4)
    got = C.segment_distance(p0, p1, q0, q1)
    assert got.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            assert got[i, j] == pytest.approx(C.segment_distance(p0[i, j], p1[i, j], q0[j], q1[j]), abs=0)


# ----------------------------------------------------------------------------- poses
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_rest_pose_does_not_collide(skeleton):
    model = C.collision_model(skeleton)
    assert len(model.names) == len(C.PAIRS)  # both skeletons carry every capsule
    heights, props = sample_bodies(np.random.default_rng(2), 50)
    poses = rest_positions(skeleton, heights, props)
    assert not C.colliding(poses, heights, model).any()
    assert C.colliding(poses, heights, model).shape == (50,)
    depth = C.penetration(poses, heights, model)
    assert depth.shape == (50, len(model.names))


def _move_joints(positions, skeleton, names, delta):
    out = positions.copy()
    out[list(skeleton.indices(names))] += delta
    return out


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_right_foot_inside_left_thigh_collides(skeleton):
    height = 1.70
    pose = rest_positions(skeleton, height)
    model = C.collision_model(skeleton)
    i = {n: skeleton.index(n) for n in ("left_hip", "left_knee", "right_foot")}
    inside = pose.copy()
    inside[i["right_foot"]] = 0.5 * (pose[i["left_hip"]] + pose[i["left_knee"]])  # mid-thigh
    assert C.colliding(inside, height, model)
    depth = C.penetration(inside, height, model)
    pair = model.names.index(("right_shank", "left_thigh"))
    assert int(np.argmax(depth)) == pair
    assert depth[pair] == pytest.approx(model.radius_sum[pair] * height, abs=1e-12)  # distance 0
    # a batch: only the second pose collides
    batch = np.stack([pose, inside, pose])
    np.testing.assert_array_equal(C.colliding(batch, np.full(3, height), model), [False, True, False])


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_thighs_pressed_together_respect_the_tolerance(skeleton):
    """Thigh capsules may overlap by up to 30 % of their radius sum (soft tissue) and no more."""
    height = 1.70
    pose = rest_positions(skeleton, height)
    model = C.collision_model(skeleton)
    pair = model.names.index(("right_thigh", "left_thigh"))
    radius_sum = model.radius_sum[pair] * height
    gap = pose[skeleton.index("right_hip"), 0] - pose[skeleton.index("left_hip"), 0]
    left_leg = [
        n
        for n in skeleton.joint_names
        if n.startswith("left_") and any(k in n for k in ("hip", "knee", "foot", "toe", "heel"))
    ]
    for frac, expect in ((0.72, False), (0.68, True)):
        moved = _move_joints(pose, skeleton, left_leg, [gap - frac * radius_sum, 0.0, 0.0])
        d = C.segment_distance(
            moved[skeleton.index("right_hip")],
            moved[skeleton.index("right_knee")],
            moved[skeleton.index("left_hip")],
            moved[skeleton.index("left_knee")],
        )
        assert d == pytest.approx(frac * radius_sum, abs=1e-12)
        assert bool(C.colliding(moved, height, model)) is expect, frac
    # the tolerance is a parameter: with none, any overlap collides
    moved = _move_joints(pose, skeleton, left_leg, [gap - 0.95 * radius_sum, 0.0, 0.0])
    assert not C.colliding(moved, height, model)
    assert C.colliding(moved, height, model, tolerance=0.0)


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_forearm_through_trunk_collides(skeleton):
    height = 1.70
    pose = rest_positions(skeleton, height)
    model = C.collision_model(skeleton)
    through = pose.copy()
    mid_trunk = 0.5 * (pose[skeleton.index("root")] + pose[skeleton.index("thorax")])
    through[skeleton.index("right_wrist")] = mid_trunk + [-0.05, 0.0, 0.0]
    assert C.colliding(through, height, model)
    assert int(np.argmax(C.penetration(through, height, model))) == model.names.index(("trunk", "right_forearm"))


def test_collision_model_drops_pairs_with_missing_joints():
    legs = H36M17.subset(["root", "right_hip", "right_knee", "right_foot", "left_hip", "left_knee", "left_foot"])
    model = C.collision_model(legs)
    assert set(model.names) == {
        ("right_thigh", "left_thigh"),
        ("right_thigh", "left_shank"),
        ("right_shank", "left_thigh"),
        ("right_shank", "left_shank"),
    }
    pose = rest_positions(legs, 1.7)
    assert not C.colliding(pose, 1.7, model)
    trunk_only = H36M17.subset(["root", "spine", "thorax"])
    empty = C.collision_model(trunk_only)
    assert empty.names == ()
    assert C.colliding(rest_positions(trunk_only, 1.7)[None], np.array([1.7]), empty).tolist() == [False]
