"""Coupled pose priors (posesynth.poses.prior) and their place among the activities."""

from __future__ import annotations

import numpy as np
import pytest

from posesynth.body.angles import angle_names
from posesynth.body.rom import limits_with_overrides, shoulder_elevation_cap
from posesynth.body.skeleton import H36M17, H36M_EXTENDED
from posesynth.poses.prior import (
    COUPLED_ACTIVITIES,
    PELVIS_TILT,
    PELVIS_TILT_LIMITS_RAD,
    CoupledPrior,
    Term,
    sample_coupled,
)
from posesynth.poses.procedural import (
    ACTIVITIES,
    DEFAULT_ACTIVITY_WEIGHTS,
    INDEPENDENT_ACTIVITIES,
    activity_names,
    sample_angles,
    sample_poses,
)

DEG = np.pi / 180


def draw(prior: CoupledPrior, n: int = 4000, seed: int = 0, skeleton=H36M17) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    lead_right = rng.random(n) < 0.5
    return sample_coupled(rng, prior, angle_names(skeleton), limits_with_overrides(skeleton), lead_right)


@pytest.mark.parametrize("activity", list(COUPLED_ACTIVITIES))
@pytest.mark.parametrize("skeleton", [H36M17, H36M_EXTENDED])
def test_every_angle_inside_its_range_and_shoulder_cap(activity, skeleton):
    limits = limits_with_overrides(skeleton)
    out = sample_angles(np.random.default_rng(1), activity, 3000, skeleton, limits)
    tilt = out.pop(PELVIS_TILT, None)
    assert (tilt is not None) == (PELVIS_TILT in COUPLED_ACTIVITIES[activity].terms)
    if tilt is not None:
        lo, hi = PELVIS_TILT_LIMITS_RAD
        assert tilt.shape == (3000,) and (tilt >= lo).all() and (tilt <= hi).all()
    assert set(out) == set(angle_names(skeleton))
    for name, v in out.items():
        lo, hi = limits[name]
        assert v.shape == (3000,) and np.isfinite(v).all()
        assert (v >= lo - 1e-12).all() and (v <= hi + 1e-12).all(), name
    for side in ("left_", "right_"):
        assert (out[side + "shoulder_elevation"] <= shoulder_elevation_cap(out[side + "shoulder_plane"]) + 1e-9).all()


def test_gait_couples_opposite_legs_and_opposite_arm():
    a = draw(COUPLED_ACTIVITIES["gait"])
    r_hip, l_hip = a["right_hip_flexion"], a["left_hip_flexion"]
    assert np.corrcoef(r_hip, l_hip)[0, 1] < -0.8  # half a cycle apart
    # an arm swings forward (plane near 0, flexion) when its own side's hip extends
    flex = lambda s: a[s + "shoulder_elevation"] * np.cos(a[s + "shoulder_plane"])
    assert np.corrcoef(flex("right_"), r_hip)[0, 1] < -0.6
    assert np.corrcoef(flex("right_"), l_hip)[0, 1] > 0.6
    # independent priors (walk) draw the hips on their own
    rng = np.random.default_rng(0)
    w = sample_angles(rng, "walk", 4000, H36M17, limits_with_overrides(H36M17))
    assert np.corrcoef(w["right_hip_flexion"], w["right_shoulder_elevation"])[0, 1] > -0.6


def test_shared_factor_correlates_both_elbows_and_independent_sd_does_not():
    shared = CoupledPrior({"elbow_flexion": Term(60, 5, {"arms": 20})}, {"arms": "normal"})
    alone = CoupledPrior({"elbow_flexion": Term(60, 20.6)})
    s, a = draw(shared), draw(alone)
    assert np.corrcoef(s["left_elbow_flexion"], s["right_elbow_flexion"])[0, 1] > 0.85
    assert abs(np.corrcoef(a["left_elbow_flexion"], a["right_elbow_flexion"])[0, 1]) < 0.06
    # the marginal is the factor model's: mean 60, sd sqrt(20² + 5²)
    for d in (s, a):
        v = d["right_elbow_flexion"] / DEG
        assert abs(v.mean() - 60) < 1.5 and abs(v.std() - np.hypot(20, 5)) < 1.5


def test_shoulder_components_make_elevation_and_plane():
    prior = CoupledPrior({"shoulder_flex": Term(30, 0), "shoulder_abd": Term(40, 0)})
    a = draw(prior, n=10)
    np.testing.assert_allclose(a["right_shoulder_elevation"], np.hypot(30, 40) * DEG)
    np.testing.assert_allclose(a["left_shoulder_plane"], np.arctan2(40, 30))
    back = draw(CoupledPrior({"shoulder_flex": Term(-30, 0), "shoulder_abd": Term(0, 0)}), n=5)
    np.testing.assert_allclose(back["right_shoulder_plane"], np.pi)  # extension
    np.testing.assert_allclose(back["right_shoulder_elevation"], 30 * DEG)


def test_lead_and_trail_terms_fall_back_to_the_shared_one():
    prior = CoupledPrior({"lead_elbow_flexion": Term(100, 0), "elbow_flexion": Term(20, 0)})
    rng = np.random.default_rng(3)
    lead_right = rng.random(500) < 0.5
    a = sample_coupled(rng, prior, angle_names(H36M17), limits_with_overrides(H36M17), lead_right)
    np.testing.assert_allclose(a["right_elbow_flexion"], np.where(lead_right, 100, 20) * DEG)
    np.testing.assert_allclose(a["left_elbow_flexion"], np.where(lead_right, 20, 100) * DEG)


def test_phase_harmonics_and_shift():
    prior = CoupledPrior(
        {"lead_knee_flexion": Term(50, 0, {"p.cos": 30}), "trail_knee_flexion": Term(50, 0, {"p.cos@0.5": 30})},
        {"p": "phase"},
    )
    a = draw(prior, n=2000)
    np.testing.assert_allclose(a["right_knee_flexion"] + a["left_knee_flexion"], 100 * DEG, atol=1e-12)


def test_out_of_range_values_are_redrawn_not_piled_at_the_limit():
    a = draw(CoupledPrior({"elbow_flexion": Term(5, 10)}), n=20000)
    v = a["right_elbow_flexion"]
    assert (v >= 0).all()
    assert (v == 0).mean() < 0.001  # redrawn, not clipped


def test_same_seed_same_angles_and_bad_priors_refused():
    p = COUPLED_ACTIVITIES["throw"]
    a, b = draw(p, seed=5), draw(p, seed=5)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    with pytest.raises(ValueError, match="undeclared factor 'x'"):
        CoupledPrior({"elbow_flexion": Term(1, 1, {"x": 1})})
    with pytest.raises(ValueError, match="unknown factor kinds"):
        CoupledPrior({}, {"x": "cauchy"})


def test_coupled_activities_come_after_the_independent_ones_and_default_mix_unchanged():
    names = activity_names()
    assert names[: len(INDEPENDENT_ACTIVITIES)] == INDEPENDENT_ACTIVITIES
    assert set(names[len(INDEPENDENT_ACTIVITIES) :]) == set(COUPLED_ACTIVITIES)
    assert set(DEFAULT_ACTIVITY_WEIGHTS) == set(INDEPENDENT_ACTIVITIES)
    assert all(isinstance(ACTIVITIES[a], CoupledPrior) for a in COUPLED_ACTIVITIES)


def test_sample_poses_with_coupled_activities():
    batch = sample_poses(np.random.default_rng(0), 300, H36M17, {"gait": 1.0, "one_leg": 1.0, "stand": 1.0})
    assert batch.positions.shape == (300, 17, 3) and np.isfinite(batch.positions).all()
    used = {activity_names()[i] for i in np.unique(batch.activity)}
    assert used == {"gait", "one_leg", "stand"}
    assert batch.positions[..., 2].min() > -1e-9  # on the ground


def _lean_and_thigh_deg(positions: np.ndarray, skeleton=H36M17) -> tuple[np.ndarray, np.ndarray]:
    """(n,) forward lean of pelvis -> thorax and of knee -> pelvis from the vertical, degrees,
    forward + (the facing direction: up x (left hip - right hip))."""
    ix = {n: i for i, n in enumerate(skeleton.joint_names)}
    p = positions
    facing = np.cross(np.array([0.0, 0.0, 1.0]), p[:, ix["left_hip"]] - p[:, ix["right_hip"]])[:, :2]
    facing /= np.linalg.norm(facing, axis=1, keepdims=True)
    knee = (p[:, ix["left_knee"]] + p[:, ix["right_knee"]]) / 2

    def lean(v: np.ndarray) -> np.ndarray:
        return np.degrees(np.arctan2(-(v[:, :2] * facing).sum(axis=1), v[:, 2]))

    return lean(p[:, ix["thorax"]] - p[:, ix["root"]]), lean(p[:, ix["root"]] - knee)


def test_bend_tilts_the_pelvis_forward_over_legs_that_stay_near_vertical():
    """A hip hinge: the trunk leans far forward while the thighs stay near vertical, which
    upright-pelvis activities (sport: the trunk bent in the spine, thighs forward) never do."""
    limits = {"knee_flexion": (0.0, 60.0), "hip_flexion": (-30.0, 60.0)}
    bend = sample_poses(np.random.default_rng(0), 2000, H36M17, {"bend": 1.0}, limits)
    sport = sample_poses(np.random.default_rng(0), 2000, H36M17, {"sport": 1.0}, limits)
    lean, thigh = _lean_and_thigh_deg(bend.positions)
    assert 30 < np.median(lean) < 55 and np.percentile(lean, 95) < 80
    assert abs(np.median(thigh)) < 15
    s_lean, s_thigh = _lean_and_thigh_deg(sport.positions)
    assert np.median(s_lean) < 20 and np.median(s_thigh) < -30  # knees ahead of the hips
    # the hinge lives in the root orientation, not in the angles
    assert PELVIS_TILT not in bend.angles


def test_priors_without_a_pelvis_tilt_draw_the_same_poses_as_before_it_existed():
    """The tilt is drawn after every angle, and only for priors that name it."""
    a = draw(COUPLED_ACTIVITIES["idle"], seed=3)
    tilted = CoupledPrior(
        {**COUPLED_ACTIVITIES["idle"].terms, PELVIS_TILT: Term(20, 5)}, COUPLED_ACTIVITIES["idle"].factors
    )
    b = draw(tilted, seed=3)
    assert np.degrees(b.pop(PELVIS_TILT)).mean() == pytest.approx(20, abs=0.5)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
