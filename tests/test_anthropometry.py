"""Tests for posesynth.body.anthropometry: rest geometry, proportions, body sampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posesynth.body.anthropometry import (
    PROPORTION_NAMES,
    bone_lengths,
    default_proportions,
    proportion_names,
    rest_offsets,
    rest_positions,
    sample_bodies,
)
from posesynth.body.skeleton import H36M17, H36M_EXTENDED, Skeleton

EXT = H36M_EXTENDED
P = len(PROPORTION_NAMES)


def _bone(lengths, skel, name):
    return lengths[..., skel.index(name)]


def _off(offsets, name, skel=EXT):
    return offsets[..., skel.index(name), :]


# ------------------------------------------------------------ proportions
def test_proportion_table_values_from_winter_fig_4_1():
    props = dict(zip(proportion_names(), default_proportions(), strict=True))
    assert proportion_names() == PROPORTION_NAMES and len(props) == P
    # values taken unchanged from Drillis & Contini via Winter (2009) Fig. 4.1
    for name, value in {
        "thigh": 0.245,
        "shank": 0.246,
        "forearm": 0.146,
        "hand": 0.108,
        "foot_length": 0.152,
        "foot_width": 0.055,
        "ankle_height": 0.039,
        "head_size": 0.130,
    }.items():
        assert props[name] == pytest.approx(value)
    # hip joints at the figure's hip height, trunk = shoulder height - hip height
    assert props["ankle_height"] + props["shank"] + props["thigh"] == pytest.approx(0.530)
    assert props["lower_trunk"] + props["upper_trunk"] == pytest.approx(0.818 - 0.530)
    assert default_proportions() is not default_proportions()


# -------------------------------------------------------- rest geometry
def test_plausible_h36m_like_lengths_at_170():
    lengths = bone_lengths(rest_offsets(H36M17, 1.70))
    expect = {
        "right_knee": (0.40, 0.46),  # thigh
        "left_foot": (0.40, 0.46),  # shank
        "left_hip": (0.12, 0.14),  # hip half-width
        "spine": (0.23, 0.26),
        "thorax": (0.23, 0.26),
        "neck_base": (0.09, 0.12),
        "head": (0.10, 0.13),
        "left_shoulder": (0.13, 0.17),
        "left_elbow": (0.26, 0.30),  # upper arm
        "right_wrist": (0.23, 0.27),  # forearm
    }
    for name, (lo, hi) in expect.items():
        assert lo <= _bone(lengths, H36M17, name) <= hi, name
    assert lengths[0] == 0


def test_rest_pose_directions():
    o = rest_offsets(EXT, 1.70)
    x, y, z = 0, 1, 2
    assert (o[0] == 0).all()
    for side, s in (("right", 1), ("left", -1)):  # x = subject's right
        assert np.sign(_off(o, f"{side}_hip")[x]) == s and _off(o, f"{side}_hip")[z] <= 0
        assert np.sign(_off(o, f"{side}_shoulder")[x]) == s
        for limb in ("knee", "foot", "elbow", "wrist", "hand_tip"):
            v = _off(o, f"{side}_{limb}")
            assert v[z] < 0 and abs(v[x]) < 1e-12 and abs(v[y]) < 1e-12, limb  # straight down
        heel, big, small = (_off(o, f"{side}_{j}") for j in ("heel", "big_toe", "small_toe"))
        assert heel[y] < 0 and heel[z] < 0
        assert big[y] > 0 and big[z] < 0 and np.sign(big[x]) == -s  # medial
        assert small[y] > 0 and small[z] < 0 and np.sign(small[x]) == s  # lateral
        assert big[y] > small[y]
        thumb = _off(o, f"{side}_thumb_tip")
        assert np.sign(thumb[x]) == s and thumb[y] > 0 and thumb[z] < 0
        eye, ear = _off(o, f"{side}_eye"), _off(o, f"{side}_ear")
        assert np.sign(eye[x]) == s and eye[y] > 0 and eye[z] < 0
        assert np.sign(ear[x]) == s and abs(ear[x]) > abs(eye[x])
    for j in ("spine", "thorax", "neck_base", "head"):
        assert _off(o, j)[z] > 0
    assert _off(o, "neck_base")[y] >= 0
    nose = _off(o, "nose")
    assert nose[y] > 0 and nose[z] < 0 and nose[x] == 0
    assert nose[y] > _off(o, "left_eye")[y]  # the nose sticks out furthest


def test_feet_flat_on_the_floor_and_stature():
    h = 1.70
    pos = rest_positions(EXT, h)
    props = dict(zip(PROPORTION_NAMES, default_proportions(), strict=True))
    floor = -(props["ankle_height"] + props["shank"] + props["thigh"]) * h
    for side in ("left", "right"):
        for j in ("heel", "big_toe", "small_toe"):
            assert pos[EXT.index(f"{side}_{j}"), 2] == pytest.approx(floor)
    assert floor == pytest.approx(-0.530 * h)
    head_above_floor = pos[EXT.index("head"), 2] - floor
    assert 0.93 * h < head_above_floor < 0.98 * h  # a few cm under the vertex
    assert pos[EXT.index("left_shoulder"), 2] - floor == pytest.approx(0.818 * h)


def test_rest_positions_are_cumulative_offsets():
    off = rest_offsets(EXT, 1.8)
    pos = rest_positions(EXT, 1.8)
    fk = np.zeros_like(off)
    for j in range(1, EXT.num_joints):
        fk[j] = fk[EXT.parents[j]] + off[j]
    np.testing.assert_allclose(pos, fk, atol=1e-12)


def test_subset_skeleton_offsets_follow_the_reparenting():
    sub = H36M17.subset(["root", "left_hip", "left_foot", "thorax", "left_wrist"])
    o_full = rest_offsets(H36M17, 1.7)
    o_sub = rest_offsets(sub, 1.7)
    np.testing.assert_allclose(
        _off(o_sub, "left_foot", sub),
        _off(o_full, "left_knee", H36M17) + _off(o_full, "left_foot", H36M17),
    )
    np.testing.assert_allclose(
        _off(o_sub, "left_wrist", sub),
        sum(_off(o_full, n, H36M17) for n in ("left_shoulder", "left_elbow", "left_wrist")),
    )


@settings(max_examples=50, deadline=None)
@given(h=st.floats(0.5, 2.5), k=st.floats(0.2, 5.0))
def test_lengths_scale_linearly_with_height(h, k):
    a = rest_offsets(EXT, h)
    b = rest_offsets(EXT, h * k)
    np.testing.assert_allclose(b, k * a, rtol=1e-12, atol=1e-15)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), h=st.floats(1.2, 2.2))
def test_left_right_mirror_symmetry(seed, h):
    _, props = sample_bodies(np.random.default_rng(seed), 1)
    o = rest_offsets(EXT, h, props[0])
    mirrored = o[EXT.flip_permutation] * np.array([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(mirrored, o, atol=1e-12)


def test_broadcasting_over_leading_dims():
    heights = np.array([[1.5, 1.6, 1.7], [1.8, 1.9, 2.0]])
    o = rest_offsets(H36M17, heights)
    assert o.shape == (2, 3, 17, 3)
    np.testing.assert_allclose(o[1, 2], rest_offsets(H36M17, 2.0))
    props = np.tile(default_proportions(), (4, 1))
    props[1, PROPORTION_NAMES.index("thigh")] *= 1.1
    o2 = rest_offsets(H36M17, 1.7, props)
    assert o2.shape == (4, 17, 3)
    lengths = bone_lengths(o2)
    assert lengths[1, 2] == pytest.approx(1.1 * lengths[0, 2])
    assert rest_offsets(H36M17, np.ones((3, 1)), props).shape == (3, 4, 17, 3)


def test_bone_lengths():
    o = rest_offsets(EXT, np.array([1.6, 1.7]))
    lengths = bone_lengths(o)
    assert lengths.shape == (2, EXT.num_joints)
    np.testing.assert_allclose(lengths, np.sqrt((o**2).sum(-1)))
    assert (lengths[:, 0] == 0).all() and (lengths[:, 1:] > 0).all()
    with pytest.raises(ValueError, match="offsets"):
        bone_lengths(np.zeros((17, 2)))


# ------------------------------------------------------------- validation
@pytest.mark.parametrize("bad", [0.0, -1.7, np.nan, np.inf, [1.7, 0.0]])
def test_heights_must_be_finite_and_positive(bad):
    with pytest.raises(ValueError, match="height_m"):
        rest_offsets(H36M17, bad)


def test_proportions_validated():
    with pytest.raises(ValueError, match="proportions"):
        rest_offsets(H36M17, 1.7, np.ones(P - 1))
    bad = default_proportions()
    bad[3] = -0.1
    with pytest.raises(ValueError, match="proportions"):
        rest_offsets(H36M17, 1.7, bad)


def test_unknown_joint_names_are_reported():
    skel = Skeleton("odd", ("root", "left_hip", "tail"), (-1, 0, 0))
    with pytest.raises(ValueError, match="'tail'"):
        rest_offsets(skel, 1.7)
    with pytest.raises(ValueError, match="Skeleton"):
        rest_offsets("h36m17", 1.7)  # type: ignore[arg-type]


# --------------------------------------------------------------- sampling
def test_sample_bodies_deterministic_and_in_range():
    h1, p1 = sample_bodies(np.random.default_rng(7), 500)
    h2, p2 = sample_bodies(np.random.default_rng(7), 500)
    np.testing.assert_array_equal(h1, h2)
    np.testing.assert_array_equal(p1, p2)
    h3, _ = sample_bodies(np.random.default_rng(8), 500)
    assert not np.array_equal(h1, h3)
    assert h1.shape == (500,) and p1.shape == (500, P)
    assert ((h1 >= 1.45) & (h1 <= 2.05)).all()
    assert abs(h1.mean() - 1.70) < 0.02 and 0.06 < h1.std() < 0.11
    assert (p1 > 0).all()
    ratio = p1 / default_proportions()
    assert 0.02 < np.log(ratio).std() < 0.06
    assert np.abs(np.log(ratio)).max() <= 2 * 2.5 * 0.04  # truncation, then the stature rescale


def test_sample_bodies_keeps_stature_and_symmetry():
    heights, props = sample_bodies(np.random.default_rng(3), 64, variation=0.08)
    pos = rest_positions(EXT, heights, props)
    floor = pos[:, EXT.index("left_heel"), 2]
    head = pos[:, EXT.index("head"), 2]
    default_frac = (lambda p: p[EXT.index("head"), 2] - p[EXT.index("left_heel"), 2])(rest_positions(EXT, 1.0))
    np.testing.assert_allclose((head - floor) / heights, default_frac, rtol=1e-12)
    lengths = bone_lengths(rest_offsets(EXT, heights, props))
    np.testing.assert_allclose(lengths[:, EXT.left], lengths[:, EXT.right], rtol=1e-12)
    assert np.ptp(lengths[:, EXT.index("left_knee")] / heights) > 0.01  # proportions do vary


def test_sample_bodies_edge_cases():
    h, p = sample_bodies(np.random.default_rng(0), 0)
    assert h.shape == (0,) and p.shape == (0, P)
    h, p = sample_bodies(np.random.default_rng(0), 5, height_sd=0.0, variation=0.0)
    np.testing.assert_array_equal(h, np.full(5, 1.70))
    np.testing.assert_allclose(p, np.tile(default_proportions(), (5, 1)), rtol=1e-12)
    h, _ = sample_bodies(np.random.default_rng(0), 200, height_mean=1.5, height_sd=0.5, height_range=(1.45, 1.6))
    assert ((h >= 1.45) & (h <= 1.6)).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n=-1),
        dict(n=2.5),
        dict(height_sd=-0.1),
        dict(variation=-0.01),
        dict(height_range=(1.8, 1.5)),
        dict(height_range=(0.0, 2.0)),
        dict(height_mean=2.5),
        dict(height_mean=np.nan),
    ],
)
def test_sample_bodies_rejects_bad_arguments(kwargs):
    args = dict(n=3) | kwargs
    with pytest.raises(ValueError):
        sample_bodies(np.random.default_rng(0), **args)
    with pytest.raises(ValueError, match="rng"):
        sample_bodies(0, 3)  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    bounds=st.sampled_from([(-2.5, 2.5), (-2.0, 3.5), (-1.0, 0.5), (-3.0, -0.2)]),
    shape=st.sampled_from([(0,), (1,), (40,), (7, 16)]),
)
def test_truncated_normal_ppf_is_scipys_truncnorm(seed: int, bounds: tuple[float, float], shape) -> None:
    """The inverse CDF the bodies are drawn with, against ``scipy.stats.truncnorm.ppf``
    (another algorithm), and within its bounds, whatever the batch shape; ``u`` untouched."""
    from scipy.stats import truncnorm

    from posesynth.body.anthropometry import _truncated_normal_ppf

    a, b = bounds
    u = np.random.default_rng(seed).random(shape)
    u.ravel()[:2] = [0.0, 1.0][: u.size]
    before = u.copy()
    got = _truncated_normal_ppf(u, a, b)
    assert got.shape == u.shape and got.dtype == np.float64
    np.testing.assert_array_equal(u, before)
    np.testing.assert_allclose(got, truncnorm.ppf(u, a, b), rtol=0, atol=1e-9)
    assert np.all((got >= a) & (got <= b))
