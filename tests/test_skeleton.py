"""Tests for posesynth.body.skeleton: layouts, validation, tree views, subset, serialisation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posesynth.body.skeleton import (
    H36M17,
    H36M_EXTENDED,
    Skeleton,
    get_skeleton,
    skeleton_names,
)

# The table of docs/CONVENTIONS.md, typed in independently of the module.
CONVENTIONS_NAMES = [
    "root", "right_hip", "right_knee", "right_foot", "left_hip", "left_knee", "left_foot",
    "spine", "thorax", "neck_base", "head", "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist",
]  # fmt: skip
CONVENTIONS_PARENTS = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15]
CONVENTIONS_LEFT = [4, 5, 6, 11, 12, 13]
CONVENTIONS_RIGHT = [1, 2, 3, 14, 15, 16]


# ----------------------------------------------------------------- layouts
def test_h36m17_matches_conventions_table():
    assert list(H36M17.joint_names) == CONVENTIONS_NAMES
    assert list(H36M17.parents) == CONVENTIONS_PARENTS
    assert list(H36M17.left) == CONVENTIONS_LEFT
    assert list(H36M17.right) == CONVENTIONS_RIGHT
    assert H36M17.name == "h36m17"
    assert H36M17.num_joints == 17


def test_h36m_extended_starts_with_h36m17():
    ext = H36M_EXTENDED
    assert ext.joint_names[:17] == H36M17.joint_names
    assert ext.parents[:17] == H36M17.parents
    assert ext.left[:6] == H36M17.left and ext.right[:6] == H36M17.right
    assert ext.num_joints == 32


@pytest.mark.parametrize(
    ("joint", "parent"),
    [
        ("right_big_toe", "right_foot"),
        ("right_small_toe", "right_foot"),
        ("right_heel", "right_foot"),
        ("left_big_toe", "left_foot"),
        ("left_small_toe", "left_foot"),
        ("left_heel", "left_foot"),
        ("left_hand_tip", "left_wrist"),
        ("left_thumb_tip", "left_wrist"),
        ("right_hand_tip", "right_wrist"),
        ("right_thumb_tip", "right_wrist"),
        ("nose", "head"),
        ("left_eye", "head"),
        ("right_eye", "head"),
        ("left_ear", "head"),
        ("right_ear", "head"),
    ],
)
def test_h36m_extended_extra_joints_hang_from_the_right_parent(joint, parent):
    ext = H36M_EXTENDED
    assert ext.parents[ext.index(joint)] == ext.index(parent)
    assert ext.index(joint) >= 17


@pytest.mark.parametrize("skel", [H36M17, H36M_EXTENDED])
def test_sides_are_named_consistently(skel):
    for lo, ro in zip(skel.left, skel.right, strict=True):
        ln, rn = skel.joint_names[lo], skel.joint_names[ro]
        assert ln.startswith("left_") and rn.startswith("right_")
        assert ln.removeprefix("left_") == rn.removeprefix("right_")
    # every left_/right_ joint is in a pair
    sided = {j for j, n in enumerate(skel.joint_names) if n.startswith(("left_", "right_"))}
    assert sided == set(skel.left) | set(skel.right)


def test_get_skeleton_and_names():
    assert skeleton_names() == ("h36m17", "h36m_extended")
    assert get_skeleton("h36m17") is H36M17
    assert get_skeleton("h36m_extended") is H36M_EXTENDED
    with pytest.raises(ValueError, match="h36m_extended"):
        get_skeleton("smpl24")


# -------------------------------------------------------------- validation
def _sk(**kw):
    base = dict(name="t", joint_names=("a", "b", "c"), parents=(-1, 0, 1), left=(), right=())
    base.update(kw)
    return Skeleton(**base)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(parents=(-1, 2, 1)), "parents"),  # a cycle b <-> c
        (dict(parents=(-1, 1, 1)), "parents"),  # self-parent
        (dict(parents=(-1, 0, 5)), "parents"),  # out of range
        (dict(parents=(0, 0, 1)), "parents"),  # root not -1
        (dict(parents=(-1, 0, -1)), "parents"),  # second root
        (dict(parents=(-1, 0)), "parents"),  # wrong length
        (dict(parents=(-1, 0, 1.0)), "parents"),  # not integers
        (dict(left=(1,), right=()), "left/right"),
        (dict(left=(1, 1), right=(2, 0)), "left"),
        (dict(left=(1,), right=(1,)), "left/right"),
        (dict(left=(7,), right=(2,)), "left"),
        (dict(joint_names=("a", "b", "a")), "joint_names"),
        (dict(joint_names=("a", "", "c")), "joint_names"),
        (dict(joint_names=()), "joint_names"),
        (dict(name=""), "name"),
    ],
)
def test_invalid_skeletons_raise_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"Skeleton.{field}"):
        _sk(**kwargs)


def test_lists_and_numpy_ints_are_coerced_to_tuples():
    s = Skeleton("t", ["a", "b"], np.array([-1, 0]), [1], [0])
    assert s.parents == (-1, 0) and type(s.parents[1]) is int
    assert s.joint_names == ("a", "b") and s.left == (1,)
    hash(s)  # hashable: every field is a tuple


def test_index_unknown_lists_valid_names():
    assert H36M17.index("thorax") == 8
    assert H36M17.indices(["root", "head"]) == (0, 10)
    with pytest.raises(ValueError, match="unknown joint 'pelvis'.*'root'"):
        H36M17.index("pelvis")
    with pytest.raises(ValueError, match="sequence"):
        H36M17.indices("root")


def test_skeleton_is_frozen():
    with pytest.raises(AttributeError):
        H36M17.name = "x"  # type: ignore[misc]
    with pytest.raises(ValueError):
        H36M17.parents_array[0] = 3


# ------------------------------------------------------------- tree views
def test_children_bones_depth():
    assert H36M17.children(0) == (1, 4, 7)
    assert H36M17.children(8) == (9, 11, 14)
    assert H36M17.children(16) == ()
    with pytest.raises(ValueError):
        H36M17.children(17)
    assert H36M17.bones[0] == (1, 0)
    assert len(H36M17.bones) == 16
    assert all(p == H36M17.parents[c] for c, p in H36M17.bones)
    assert H36M17.parents_array.dtype == np.int64
    assert H36M17.depth.tolist() == [0, 1, 2, 3, 1, 2, 3, 1, 2, 3, 4, 3, 4, 5, 3, 4, 5]


@st.composite
def random_skeletons(draw, max_joints=12):
    n = draw(st.integers(1, max_joints))
    parents = [-1] + [draw(st.integers(0, j - 1)) for j in range(1, n)]
    perm = draw(st.permutations(range(n)))
    n_pairs = draw(st.integers(0, n // 2))
    left = tuple(perm[:n_pairs])
    right = tuple(perm[n_pairs : 2 * n_pairs])
    names = tuple(f"j{k}" for k in range(n))
    return Skeleton("random", names, tuple(parents), left, right)


@settings(max_examples=60, deadline=None)
@given(random_skeletons(), st.integers(0, 2**32 - 1))
def test_levels_drive_vectorised_forward_kinematics(skel, seed):
    levels = skel.levels
    flat = np.concatenate(levels)
    assert sorted(flat.tolist()) == list(range(skel.num_joints))
    assert levels[0].tolist() == [0]
    for d, lvl in enumerate(levels):
        assert (skel.depth[lvl] == d).all()
    offsets = np.random.default_rng(seed).normal(size=(4, skel.num_joints, 3))
    pos_loop = np.zeros_like(offsets)
    for j in range(1, skel.num_joints):
        pos_loop[:, j] = pos_loop[:, skel.parents[j]] + offsets[:, j]
    pos_lvl = np.zeros_like(offsets)
    for lvl in levels[1:]:
        pos_lvl[:, lvl] = pos_lvl[:, skel.parents_array[lvl]] + offsets[:, lvl]
    np.testing.assert_allclose(pos_lvl, pos_loop, atol=1e-12)


# ------------------------------------------------------------------- flip
@pytest.mark.parametrize("skel", [H36M17, H36M_EXTENDED])
def test_flip_permutation_swaps_left_and_right_names(skel):
    perm = skel.flip_permutation
    np.testing.assert_array_equal(perm[perm], np.arange(skel.num_joints))
    for j, k in enumerate(perm):
        a, b = skel.joint_names[j], skel.joint_names[k]
        if a.startswith("left_"):
            assert b == "right_" + a.removeprefix("left_")
        elif a.startswith("right_"):
            assert b == "left_" + a.removeprefix("right_")
        else:
            assert j == k


@settings(max_examples=40, deadline=None)
@given(random_skeletons())
def test_flip_is_an_involution(skel):
    perm = skel.flip_permutation
    np.testing.assert_array_equal(perm[perm], np.arange(skel.num_joints))
    assert sorted(perm.tolist()) == list(range(skel.num_joints))


# ----------------------------------------------------------------- subset
def test_subset_reparents_to_nearest_kept_ancestor():
    sub = H36M17.subset(["root", "right_hip", "right_foot", "thorax", "head", "left_wrist", "right_shoulder"])
    names = sub.joint_names
    assert names == (
        "root",
        "right_hip",
        "right_foot",
        "thorax",
        "head",
        "left_wrist",
        "right_shoulder",
    )
    parent = {n: (names[p] if p >= 0 else None) for n, p in zip(names, sub.parents, strict=True)}
    assert parent == {
        "root": None,
        "right_hip": "root",
        "right_foot": "right_hip",  # knee dropped
        "thorax": "root",  # spine dropped
        "head": "thorax",  # neck_base dropped
        "left_wrist": "thorax",  # shoulder and elbow dropped
        "right_shoulder": "thorax",
    }
    assert sub.left == () and sub.right == ()  # no complete pair survives


def test_subset_keeps_complete_pairs_and_accepts_indices():
    sub = H36M_EXTENDED.subset(list(range(17)), name="again17")
    assert sub == Skeleton("again17", H36M17.joint_names, H36M17.parents, H36M17.left, H36M17.right)
    legs = H36M17.subset(["root", "left_hip", "right_hip", "left_knee"])
    assert legs.joint_names == ("root", "right_hip", "left_hip", "left_knee")
    assert legs.left == (2,) and legs.right == (1,)


def test_subset_rejects_a_forest():
    with pytest.raises(ValueError, match="one tree"):
        H36M17.subset(["left_knee", "right_knee"])
    one = H36M17.subset(["left_knee", "left_foot"])  # one subtree is fine
    assert one.parents == (-1, 0)
    with pytest.raises(ValueError, match="unknown joint"):
        H36M17.subset(["root", "tail"])


# ---------------------------------------------------------- serialisation
@pytest.mark.parametrize("skel", [H36M17, H36M_EXTENDED])
def test_dict_round_trip_through_json(skel):
    d = skel.to_dict()
    back = Skeleton.from_dict(json.loads(json.dumps(d)))
    assert back == skel
    assert back.to_dict() == d


@settings(max_examples=40, deadline=None)
@given(random_skeletons())
def test_dict_round_trip_random(skel):
    assert Skeleton.from_dict(json.loads(json.dumps(skel.to_dict()))) == skel


def test_from_dict_names_missing_and_unknown_fields():
    d = H36M17.to_dict()
    del d["parents"]
    with pytest.raises(ValueError, match="missing field.*'parents'"):
        Skeleton.from_dict(d)
    d = H36M17.to_dict() | {"colour": "red"}
    with pytest.raises(ValueError, match="unknown field.*'colour'"):
        Skeleton.from_dict(d)
    d = H36M17.to_dict()
    d["parents"] = d["parents"][:-1]
    with pytest.raises(ValueError, match="Skeleton.parents"):
        Skeleton.from_dict(d)
    with pytest.raises(ValueError, match="mapping"):
        Skeleton.from_dict(["h36m17"])  # type: ignore[arg-type]
