"""Tests for posesynth.body.mappings: layouts, weight tables, conversion, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posesynth.body.anthropometry import rest_positions
from posesynth.body.mappings import (
    H36M32_TO_17,
    apply_mapping,
    convert_keypoints,
    keypoint_layout_names,
    layout_joint_names,
    mapping,
    mmpose_coco17_to_h36m17,
    supported_pairs,
)
from posesynth.body.skeleton import H36M17, H36M_EXTENDED

KEPT_32 = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]

REQUIRED_PAIRS = [
    ("coco17", "h36m17"),
    ("h36m17", "coco17"),
    ("mpii16", "h36m17"),
    ("h36m17", "mpii16"),
    ("mediapipe33", "h36m17"),
    ("mediapipe33", "h36m_extended"),
    ("h36m32", "h36m17"),
    ("h36m17", "h36m32"),
    ("h36m_extended", "h36m17"),
    ("h36m_extended", "coco17"),
]


def _rng(seed=0):
    return np.random.default_rng(seed)


def _pts(layout, lead=(), d=3, seed=0):
    return _rng(seed).normal(size=(*lead, len(layout_joint_names(layout)), d))


def _col(layout, name):
    return layout_joint_names(layout).index(name)


# ----------------------------------------------------------------- layouts
def test_layout_sizes_and_unique_names():
    sizes = {
        "h36m17": 17,
        "h36m_extended": 32,
        "h36m32": 32,
        "coco17": 17,
        "mpii16": 16,
        "mediapipe33": 33,
    }
    assert set(keypoint_layout_names()) == set(sizes)
    for layout, n in sizes.items():
        names = layout_joint_names(layout)
        assert len(names) == n == len(set(names))
    assert layout_joint_names("h36m17") == H36M17.joint_names
    assert tuple(H36M32_TO_17) == tuple(KEPT_32)
    with pytest.raises(ValueError, match="coco17"):
        layout_joint_names("openpose25")


def test_known_orders():
    assert layout_joint_names("mpii16")[:10] == (
        "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
        "pelvis", "thorax", "upper_neck", "head_top",
    )  # fmt: skip
    coco = layout_joint_names("coco17")
    assert coco[0] == "nose" and coco[5] == "left_shoulder" and coco[16] == "right_ankle"
    mp = layout_joint_names("mediapipe33")
    assert mp[0] == "nose" and mp[11] == "left_shoulder" and mp[23] == "left_hip"
    assert mp[29] == "left_heel" and mp[32] == "right_foot_index" and mp[21] == "left_thumb"


@pytest.mark.parametrize(("src", "dst"), REQUIRED_PAIRS)
def test_required_pairs_exist_with_affine_rows(src, dst):
    m = mapping(src, dst)
    assert (src, dst) in supported_pairs()
    assert m.weights.shape == (len(layout_joint_names(dst)), len(layout_joint_names(src)))
    assert m.src == src and m.dst == dst and m.notes
    np.testing.assert_allclose(m.weights[m.defined].sum(axis=1), 1.0, atol=1e-12)
    assert not m.weights[~m.defined].any()
    assert not m.weights.flags.writeable and not m.defined.flags.writeable


@pytest.mark.parametrize(("src", "dst"), supported_pairs())
def test_every_supported_pair_is_translation_equivariant(src, dst):
    p = _pts(src, (3,))
    shift = np.array([0.3, -2.0, 5.0])
    a, va = convert_keypoints(p, src, dst)
    b, vb = convert_keypoints(p + shift, src, dst)
    m = mapping(src, dst)
    np.testing.assert_allclose(b[:, m.defined], a[:, m.defined] + shift, atol=1e-12)
    np.testing.assert_array_equal(va, vb)


def test_unknown_pair_lists_supported_ones():
    with pytest.raises(ValueError, match="no keypoint mapping.*supported pairs"):
        mapping("coco17", "mediapipe33")
    with pytest.raises(ValueError, match="unknown keypoint layout"):
        mapping("coco17", "smpl")


# ------------------------------------------------------------- h36m32
def test_h36m32_to_17_to_32_keeps_the_kept_joints():
    p32 = _pts("h36m32", (5,))
    p17, v17 = convert_keypoints(p32, "h36m32", "h36m17")
    np.testing.assert_array_equal(p17, p32[:, KEPT_32])
    assert (v17 == 1).all()
    back, vb = convert_keypoints(p17, "h36m17", "h36m32")
    np.testing.assert_array_equal(back[:, KEPT_32], p32[:, KEPT_32])
    dropped = sorted(set(range(32)) - set(KEPT_32))
    assert np.isnan(back[:, dropped]).all()
    assert (vb[:, dropped] == 0).all() and (vb[:, KEPT_32] == 1).all()


def test_h36m32_names_line_up_with_h36m17():
    m = mapping("h36m32", "h36m17")
    assert m.sources("left_shoulder") == {"left_arm": 1.0}  # raw LeftShoulder is the clavicle
    assert m.sources("head") == {"head_site": 1.0}
    assert m.sources("neck_base") == {"head": 1.0}
    assert m.sources("thorax") == {"neck": 1.0}
    assert m.sources("spine") == {"spine1": 1.0}


# --------------------------------------------------------------- coco17
def test_coco_to_h36m_derived_joints():
    c = _pts("coco17", (4,), d=2)
    h, v = convert_keypoints(c, "coco17", "h36m17")
    col = lambda n: c[:, _col("coco17", n)]
    hip_mid = 0.5 * (col("left_hip") + col("right_hip"))
    sh_mid = 0.5 * (col("left_shoulder") + col("right_shoulder"))
    np.testing.assert_allclose(h[:, H36M17.index("root")], hip_mid)
    np.testing.assert_allclose(h[:, H36M17.index("thorax")], sh_mid)
    np.testing.assert_allclose(h[:, H36M17.index("spine")], 0.5 * (hip_mid + sh_mid))
    np.testing.assert_array_equal(h[:, H36M17.index("right_foot")], col("right_ankle"))
    np.testing.assert_array_equal(h[:, H36M17.index("left_wrist")], col("left_wrist"))
    assert np.isfinite(h).all() and (v == 1).all()


def test_h36m_to_coco_face_is_undefined():
    h = _pts("h36m17", (2, 3))
    c, v = convert_keypoints(h, "h36m17", "coco17")
    assert c.shape == (2, 3, 17, 3)
    assert np.isnan(c[..., :5, :]).all() and (v[..., :5] == 0).all()
    np.testing.assert_array_equal(c[..., _col("coco17", "left_knee"), :], h[..., H36M17.index("left_knee"), :])
    assert (v[..., 5:] == 1).all()


def test_rest_pose_survives_extended_to_coco_to_h36m():
    """The fitted neck_base/head weights agree with posesynth's rest geometry."""
    rest = rest_positions(H36M_EXTENDED, np.array([1.55, 1.70, 1.95]))
    coco, _ = convert_keypoints(rest, "h36m_extended", "coco17")
    h17, _ = convert_keypoints(coco, "coco17", "h36m17")
    err = np.linalg.norm(h17 - rest[:, :17], axis=-1)
    assert err.max() < 0.005
    exact = [H36M17.index(n) for n in H36M17.joint_names if n not in ("neck_base", "head")]
    assert err[:, exact].max() < 1e-12


def test_mmpose_convention():
    c = _pts("coco17", (3,), d=2)
    h, _ = apply_mapping(mmpose_coco17_to_h36m17(), c)
    np.testing.assert_array_equal(h[:, H36M17.index("neck_base")], c[:, 0])
    np.testing.assert_allclose(h[:, H36M17.index("head")], 0.5 * (c[:, 1] + c[:, 2]))
    ours, _ = convert_keypoints(c, "coco17", "h36m17")
    others = [j for j in range(17) if j not in (9, 10)]
    np.testing.assert_array_equal(h[:, others], ours[:, others])


# ---------------------------------------------------------------- mpii16
def test_mpii_round_trip_and_derived_spine():
    h = _pts("h36m17", (6,))
    m16, v16 = convert_keypoints(h, "h36m17", "mpii16")
    assert (v16 == 1).all()
    np.testing.assert_array_equal(m16[:, _col("mpii16", "head_top")], h[:, 10])
    np.testing.assert_array_equal(m16[:, _col("mpii16", "right_ankle")], h[:, 3])
    back, _ = convert_keypoints(m16, "mpii16", "h36m17")
    not_spine = [j for j in range(17) if j != H36M17.index("spine")]
    np.testing.assert_array_equal(back[:, not_spine], h[:, not_spine])
    np.testing.assert_allclose(back[:, 7], 0.5 * (h[:, 0] + h[:, 8]))


def test_composed_mapping_marks_unreachable_joints_undefined():
    m = mapping("mpii16", "coco17")  # via h36m17: no face
    assert m.defined.tolist() == [False] * 5 + [True] * 12
    assert "via h36m17" in m.notes


# ----------------------------------------------------------- mediapipe33
def _mediapipe_from_rest(height=1.70):
    """A synthetic BlazePose landmark array built from the extended rest pose."""
    rest = rest_positions(H36M_EXTENDED, height)
    ext = dict(zip(H36M_EXTENDED.joint_names, rest, strict=True))
    mp = {}
    for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear"):
        mp[n] = ext[n]
    for side, s in (("left", 1.0), ("right", -1.0)):
        for j in ("shoulder", "elbow", "wrist", "hip", "knee"):
            mp[f"{side}_{j}"] = ext[f"{side}_{j}"]
        mp[f"{side}_ankle"] = ext[f"{side}_foot"]
        mp[f"{side}_heel"] = ext[f"{side}_heel"]
        mp[f"{side}_foot_index"] = ext[f"{side}_big_toe"]
        wrist, tip = ext[f"{side}_wrist"], ext[f"{side}_hand_tip"]
        knuckle = 0.5 * (wrist + tip)
        mp[f"{side}_index"] = knuckle + np.array([-0.03 * s, 0.0, 0.0])
        mp[f"{side}_pinky"] = knuckle + np.array([0.03 * s, 0.0, 0.0])
        mp[f"{side}_thumb"] = ext[f"{side}_thumb_tip"]
        mp[f"{side}_eye_inner"] = ext[f"{side}_eye"] + np.array([-0.01 * s, 0, 0])
        mp[f"{side}_eye_outer"] = ext[f"{side}_eye"] + np.array([0.01 * s, 0, 0])
    mp["mouth_left"] = ext["nose"] + np.array([0.02, 0.0, -0.03])
    mp["mouth_right"] = ext["nose"] + np.array([-0.02, 0.0, -0.03])
    arr = np.stack([mp[n] for n in layout_joint_names("mediapipe33")])
    return arr, rest


def test_mediapipe_to_h36m17_on_synthetic_landmarks():
    lm, rest = _mediapipe_from_rest()
    h, v = convert_keypoints(lm, "mediapipe33", "h36m17")
    np.testing.assert_allclose(h, rest[:17], atol=0.005)
    np.testing.assert_allclose(h[0], 0.5 * (lm[23] + lm[24]), atol=1e-12)  # pelvis = hip midpoint
    np.testing.assert_array_equal(h[3], lm[28])  # right ankle
    assert (v == 1).all()


def test_mediapipe_to_extended_feet_hands_face():
    lm, rest = _mediapipe_from_rest()
    vis = np.linspace(0.1, 0.9, 33)
    e, v = convert_keypoints(lm, "mediapipe33", "h36m_extended", vis)
    ix = H36M_EXTENDED.index
    small = [ix("left_small_toe"), ix("right_small_toe")]
    assert np.isnan(e[small]).all() and (v[small] == 0).all()
    defined = [j for j in range(32) if j not in small]
    np.testing.assert_allclose(e[defined], rest[defined], atol=0.005)
    for j in ("left_heel", "right_big_toe", "left_hand_tip", "right_thumb_tip", "nose", "left_ear"):
        assert np.linalg.norm(e[ix(j)] - rest[ix(j)]) < 1e-9
    mp = layout_joint_names("mediapipe33")
    # visibility of a derived joint is the min over its sources
    assert v[ix("left_hand_tip")] == pytest.approx(
        min(vis[mp.index("left_index")], vis[mp.index("left_pinky")], vis[mp.index("left_wrist")])
    )
    assert v[ix("root")] == pytest.approx(min(vis[23], vis[24]))
    assert v[ix("right_big_toe")] == pytest.approx(vis[mp.index("right_foot_index")])


# ------------------------------------------------------ NaN, visibility
def test_missing_source_only_spoils_joints_that_use_it():
    c = _pts("coco17", (2,), d=2)
    c[0, _col("coco17", "left_hip")] = np.nan
    h, v = convert_keypoints(c, "coco17", "h36m17")
    uses_left_hip = [H36M17.index(n) for n in ("root", "spine", "left_hip")]
    assert np.isnan(h[0, uses_left_hip]).all() and (v[0, uses_left_hip] == 0).all()
    others = [j for j in range(17) if j not in uses_left_hip]
    assert np.isfinite(h[0, others]).all() and (v[0, others] == 1).all()
    assert np.isfinite(h[1]).all() and (v[1] == 1).all()


def test_visibility_broadcasts_and_takes_the_minimum():
    c = _pts("coco17", (4,), d=2)
    vis = np.linspace(0.05, 0.85, 17)
    _, v = convert_keypoints(c, "coco17", "h36m17", vis)  # (17,) broadcast over (4,)
    assert v.shape == (4, 17)
    assert v[0, H36M17.index("thorax")] == pytest.approx(min(vis[5], vis[6]))
    assert v[0, H36M17.index("head")] == pytest.approx(vis[:5].min())
    assert v[0, H36M17.index("right_knee")] == pytest.approx(vis[14])


@settings(max_examples=40, deadline=None)
@given(
    lead=st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple),
    d=st.sampled_from([2, 3]),
    pair=st.sampled_from(REQUIRED_PAIRS),
    seed=st.integers(0, 2**31),
)
def test_any_leading_dims_match_the_matrix_product(lead, d, pair, seed):
    src, dst = pair
    p = _pts(src, lead, d, seed)
    out, vis = convert_keypoints(p, src, dst)
    m = mapping(src, dst)
    assert out.shape == (*lead, m.weights.shape[0], d) and vis.shape == (*lead, m.weights.shape[0])
    expected = np.einsum("oi,...id->...od", m.weights, p)
    np.testing.assert_allclose(out[..., m.defined, :], expected[..., m.defined, :], atol=1e-12)
    assert np.isnan(out[..., ~m.defined, :]).all()
    np.testing.assert_array_equal(vis, np.broadcast_to(m.defined.astype(float), vis.shape))


# ---------------------------------------------------------------- errors
def test_wrong_joint_count_names_layout_expected_and_received():
    with pytest.raises(ValueError, match=r"'coco17' expects 17 joints, received 16"):
        convert_keypoints(np.zeros((16, 2)), "coco17", "h36m17")
    with pytest.raises(ValueError, match=r"'mediapipe33' expects 33 joints, received 17"):
        convert_keypoints(np.zeros((5, 17, 3)), "mediapipe33", "h36m17")
    with pytest.raises(ValueError, match="D = 2 or 3"):
        convert_keypoints(np.zeros((17, 4)), "coco17", "h36m17")
    with pytest.raises(ValueError, match="expects 17 joints"):
        convert_keypoints(np.zeros(17), "coco17", "h36m17")
    with pytest.raises(ValueError, match=r"visibility: layout 'coco17' expects 17 joints, received 16"):
        convert_keypoints(np.zeros((17, 2)), "coco17", "h36m17", np.ones(16))
    with pytest.raises(ValueError, match="visibility"):
        convert_keypoints(np.zeros((3, 17, 2)), "coco17", "h36m17", np.ones((2, 17)))
    with pytest.raises(ValueError, match="numeric"):
        convert_keypoints(np.full((17, 2), "a"), "coco17", "h36m17")


def test_identity_mapping():
    p = _pts("mpii16", (2,))
    out, v = convert_keypoints(p, "mpii16", "mpii16")
    np.testing.assert_array_equal(out, p)
    assert (v == 1).all()
