"""Procedural poses: reproducible, inside the ROM, collision-free, on the ground, per activity."""

from __future__ import annotations

import numpy as np
import pytest

from posesynth.body import angles as A
from posesynth.body import kinematics as K
from posesynth.body import rom
from posesynth.body.anthropometry import default_proportions, proportion_names
from posesynth.body.collision import colliding, collision_model
from posesynth.body.skeleton import H36M17, H36M_EXTENDED
from posesynth.poses.procedural import (
    ACTIVITIES,
    KNEE_CLEARANCE,
    activity_names,
    sample_poses,
)

SKELETONS = [H36M17, H36M_EXTENDED]
SKEL_IDS = [s.name for s in SKELETONS]
TOL = 1e-6  # radians
DEG = np.pi / 180
STANDING = dict.fromkeys(("stand", "walk", "reach"), 1.0)
ANKLE_HEIGHT = float(default_proportions()[proportion_names().index("ankle_height")])


def wrapped_diff(a, b):
    return np.abs(np.angle(np.exp(1j * (np.asarray(a) - np.asarray(b)))))


def read_back(batch, skeleton):
    return A.pose_angles(batch.positions, skeleton, batch.rest_offsets)


def only(activity):
    return {activity: 1.0}


def both_knees(angles):
    return np.concatenate([angles["right_knee_flexion"], angles["left_knee_flexion"]])


# ----------------------------------------------------------------------- reproducibility
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_same_seed_same_poses_other_seed_other_poses(skeleton):
    a = sample_poses(np.random.default_rng(7), 100, skeleton)
    b = sample_poses(np.random.default_rng(7), 100, skeleton)
    c = sample_poses(np.random.default_rng(8), 100, skeleton)
    for field in ("positions", "local_rotations", "bone_offsets", "rest_offsets", "heights", "activity"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    assert a.rejected == b.rejected
    assert a.angles.keys() == b.angles.keys()
    for name in a.angles:
        np.testing.assert_array_equal(a.angles[name], b.angles[name], err_msg=name)
    assert not np.allclose(a.positions, c.positions)
    assert not np.array_equal(a.heights, c.heights)


@pytest.mark.parametrize("kernels", ["numba", "numpy"])
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_without_rotations_the_rest_is_the_same(skeleton, kernels, monkeypatch):
    """``with_rotations=False`` (what ``generate`` asks): no rotations or offsets, and every
    other field, and the generator's next draws, as with them (redraws included: a narrow
    squat collides often)."""
    from posesynth.util import jit

    if kernels == "numba" and not jit.numba_installed():
        pytest.skip("numba (the fast extra) is not installed")
    monkeypatch.setenv(jit.ENV_VAR, kernels)
    mix = {"squat": 1.0, "quad_stretch": 1.0, "rom": 1.0}
    rng_a, rng_b = np.random.default_rng(11), np.random.default_rng(11)
    a = sample_poses(rng_a, 300, skeleton, mix, tilt_sd_deg=8.0)
    b = sample_poses(rng_b, 300, skeleton, mix, tilt_sd_deg=8.0, with_rotations=False)
    assert b.local_rotations is None and b.bone_offsets is None
    assert a.local_rotations is not None and a.bone_offsets is not None
    for field in ("positions", "rest_offsets", "heights", "activity"):
        assert getattr(a, field).tobytes() == getattr(b, field).tobytes(), field
    assert a.rejected == b.rejected and a.rejected > 0
    assert all(a.angles[k].tobytes() == b.angles[k].tobytes() for k in a.angles) and a.angles.keys() == b.angles.keys()
    assert rng_a.random(4).tolist() == rng_b.random(4).tolist()


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_batch_is_consistent(skeleton):
    n = 150
    batch = sample_poses(np.random.default_rng(9), n, skeleton)
    J = skeleton.num_joints
    assert batch.positions.shape == (n, J, 3) and batch.local_rotations.shape == (n, J, 4)
    assert batch.bone_offsets.shape == (n, J, 3) and batch.rest_offsets.shape == (n, J, 3)
    assert batch.heights.shape == (n,) and batch.activity.shape == (n,)
    assert set(batch.angles) == set(A.angle_names(skeleton))
    assert all(v.shape == (n,) for v in batch.angles.values())
    assert np.isfinite(batch.positions).all()
    assert batch.rejected >= 0
    assert ((batch.activity >= 0) & (batch.activity < len(activity_names()))).all()
    # the stored kinematic state reproduces the stored positions
    np.testing.assert_allclose(
        K.forward_kinematics(batch.local_rotations, batch.bone_offsets, skeleton), batch.positions, atol=1e-9
    )
    # bones keep the body's rest lengths
    np.testing.assert_allclose(
        np.linalg.norm(batch.bone_offsets[:, 1:], axis=-1),
        np.linalg.norm(batch.rest_offsets[:, 1:], axis=-1),
        rtol=1e-12,
    )
    assert (batch.heights > 1.3).all() and (batch.heights < 2.2).all()


# ------------------------------------------------------------------------------- ROM
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_angles_inside_rom_and_read_back(skeleton):
    batch = sample_poses(np.random.default_rng(10), 300, skeleton)
    assert not rom.out_of_range(batch.angles, skeleton).any()
    got = read_back(batch, skeleton)
    assert not rom.out_of_range(got, skeleton, tol=TOL).any()
    for name, want in batch.angles.items():
        ok = np.ones_like(want, dtype=bool)  # skip angles the pose leaves undefined
        if name.endswith("shoulder_plane"):
            ok = np.abs(batch.angles[name.replace("plane", "elevation")]) > 1e-6
        if name.endswith("hip_rotation"):
            ok = np.abs(batch.angles[name.replace("hip_rotation", "knee_flexion")]) > 1e-6
        if name.endswith("shoulder_rotation"):
            ok = np.abs(batch.angles[name.replace("shoulder_rotation", "elbow_flexion")]) > 1e-6
        assert wrapped_diff(got[name][ok], want[ok]).max() < TOL, name


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
@pytest.mark.parametrize("activities", [None, only("squat"), only("rom")], ids=["mix", "squat", "rom"])
def test_narrowed_limits_are_respected(skeleton, activities):
    limits_deg = {"knee_flexion": (0.0, 60.0), "right_hip_flexion": (-10.0, 30.0)}
    batch = sample_poses(np.random.default_rng(11), 200, skeleton, activities, limits_deg)
    got = read_back(batch, skeleton)
    narrowed = rom.limits_with_overrides(skeleton, limits_deg)
    for name in ("right_knee_flexion", "left_knee_flexion", "right_hip_flexion"):
        lo, hi = narrowed[name]
        for values in (batch.angles[name], got[name]):
            assert values.min() >= lo - TOL and values.max() <= hi + TOL, name
    assert not rom.out_of_range(got, skeleton, tol=TOL).any()
    # the narrowed knee range is used, not collapsed onto its upper bound
    assert np.ptp(both_knees(got)) > 30 * DEG


# ------------------------------------------------------------------------- collisions
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_no_sample_collides(skeleton):
    batch = sample_poses(np.random.default_rng(12), 300, skeleton)
    model = collision_model(skeleton)
    assert not colliding(batch.positions, batch.heights, model).any()
    strict = sample_poses(np.random.default_rng(12), 100, skeleton, only("rom"), collision_tolerance=0.1)
    assert not colliding(strict.positions, strict.heights, model, tolerance=0.1).any()
    assert strict.rejected > 0  # uniform ROM poses do collide: the check really redraws


# ----------------------------------------------------------------------------- ground
def _lowest_contact(batch, skeleton, feet, foot_gap):
    """Lowest of the feet (minus their clearance) and the knees (minus the knee clearance)."""
    p = batch.positions[:, :, 2]
    knees = list(skeleton.indices(["right_knee", "left_knee"]))
    knee = p[:, knees].min(axis=1) - KNEE_CLEARANCE * batch.heights
    return np.minimum((p[:, feet] - foot_gap[:, None]).min(axis=1), knee)


def test_extended_skeleton_touches_the_ground():
    batch = sample_poses(np.random.default_rng(13), 300, H36M_EXTENDED)
    contact = [H36M_EXTENDED.index(f"{s}_{k}") for s in ("right", "left") for k in ("heel", "big_toe", "small_toe")]
    lowest = _lowest_contact(batch, H36M_EXTENDED, contact, np.zeros(300))
    np.testing.assert_allclose(lowest, 0.0, atol=1e-12)
    standing = sample_poses(np.random.default_rng(13), 300, H36M_EXTENDED, {"stand": 1})
    np.testing.assert_allclose(standing.positions[:, contact, 2].min(axis=1), 0.0, atol=1e-12)


def test_kneeling_knees_rest_on_the_ground():
    batch = sample_poses(np.random.default_rng(16), 300, H36M17, {"kneel": 1})
    knees = list(H36M17.indices(["right_knee", "left_knee"]))
    gap = batch.positions[:, knees, 2].min(axis=1) - KNEE_CLEARANCE * batch.heights
    # knees never through the floor; the shins lie low (the ankle may touch first)
    assert (gap >= -1e-12).all() and np.median(gap) < 0.05 and (np.abs(gap) < 1e-12).mean() > 0.2


def test_h36m17_ankles_at_ankle_height():
    batch = sample_poses(np.random.default_rng(14), 300, H36M17, STANDING, body_variation=0.0)
    ankles = batch.positions[:, list(H36M17.indices(["right_foot", "left_foot"])), 2].min(axis=1)
    np.testing.assert_allclose(ankles, ANKLE_HEIGHT * batch.heights, atol=1e-9)
    # with varied proportions the clearance stays close to the default fraction of height
    batch = sample_poses(np.random.default_rng(15), 300, H36M17, STANDING)
    ankles = batch.positions[:, list(H36M17.indices(["right_foot", "left_foot"])), 2].min(axis=1)
    ratio = ankles / (ANKLE_HEIGHT * batch.heights)
    assert (ratio > 0.8).all() and (ratio < 1.25).all()
    assert ratio.std() > 0.01  # each body's own ankle height, not the default fraction


# ------------------------------------------------------------------------- activities
@pytest.mark.parametrize("activity", list(ACTIVITIES))
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_each_activity_runs(skeleton, activity):
    batch = sample_poses(np.random.default_rng(16), 80, skeleton, only(activity))
    assert (batch.activity == activity_names().index(activity)).all()
    assert np.isfinite(batch.positions).all()
    got = read_back(batch, skeleton)
    assert not rom.out_of_range(got, skeleton, tol=TOL).any()
    assert not colliding(batch.positions, batch.heights, collision_model(skeleton)).any()


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_activities_look_like_their_names(skeleton):
    def angles_of(activity, seed):
        return read_back(sample_poses(np.random.default_rng(seed), 150, skeleton, only(activity)), skeleton)

    squat, stand, sit = angles_of("squat", 17), angles_of("stand", 18), angles_of("sit", 19)
    assert both_knees(squat).mean() > 90 * DEG
    assert both_knees(stand).mean() < 20 * DEG
    hips = lambda a: np.concatenate([a["right_hip_flexion"], a["left_hip_flexion"]])
    assert hips(sit).mean() > 60 * DEG and hips(stand).mean() < 20 * DEG
    # lunge: one hip forward (lead), the other behind (trail), either side leading
    lunge = angles_of("lunge", 20)
    right, left = lunge["right_hip_flexion"], lunge["left_hip_flexion"]
    right_leads = right > left
    lead = np.where(right_leads, right, left)
    trail = np.where(right_leads, left, right)
    assert (lead >= 55 * DEG - TOL).all() and (lead <= 100 * DEG + TOL).all()
    assert (trail >= -30 * DEG - TOL).all() and (trail <= -5 * DEG + TOL).all()
    assert 0.3 < right_leads.mean() < 0.7


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_reach_keeps_the_lead_arm_raised(skeleton):
    """Reach: lead arm elevation prior U(80°, 180°), so at least one arm is raised ≥ 80°."""
    batch = sample_poses(np.random.default_rng(21), 300, skeleton, only("reach"))
    got = read_back(batch, skeleton)
    high = np.maximum(got["right_shoulder_elevation"], got["left_shoulder_elevation"])
    assert (high >= 80 * DEG - TOL).all(), np.rad2deg(np.sort(high)[:5])


@pytest.mark.parametrize("activities", [None, only("rom")], ids=["mix", "rom"])
def test_narrowed_shoulder_elevation_stays_in_rom(activities):
    batch = sample_poses(np.random.default_rng(23), 300, H36M17, activities, {"shoulder_elevation": (90.0, 180.0)})
    got = read_back(batch, H36M17)
    flags = rom.rom_violations(got, H36M17, tol=TOL)
    bad = {n: int(f.sum()) for n, f in flags.items() if f.any()}
    assert not bad, f"out-of-range samples per angle: {bad}"


def test_walk_lead_side_is_shared_by_hip_and_arm():
    """Walk: the leading leg's side swings its arm back (plane ≈ 170°), the trailing side forward."""
    batch = sample_poses(np.random.default_rng(24), 200, H36M17, only("walk"))
    a = batch.angles
    right_leads = a["right_hip_flexion"] > a["left_hip_flexion"]
    lead_plane = np.where(right_leads, a["right_shoulder_plane"], a["left_shoulder_plane"])
    trail_plane = np.where(right_leads, a["left_shoulder_plane"], a["right_shoulder_plane"])
    assert (lead_plane > 120 * DEG).all() and (trail_plane < 60 * DEG).all()
    assert 0.3 < right_leads.mean() < 0.7


def test_activity_mix_follows_weights():
    batch = sample_poses(np.random.default_rng(22), 400, H36M17, {"stand": 3.0, "squat": 1.0, "walk": 0.0})
    names = np.array(activity_names())[batch.activity]
    assert set(names) <= {"stand", "squat"}
    assert 0.65 < (names == "stand").mean() < 0.85


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 0}, r"samples: expected a positive count, got 0"),
        ({"n": -5}, r"got -5"),
        ({"activity_weights": {"juggle": 1.0}}, r"unknown \['juggle'\]"),
        ({"activity_weights": {"stand": 1.0, "squat": -0.5}}, r"non-negative weights.*-0.5"),
        ({"activity_weights": {"stand": 0.0}}, r"positive sum"),
        ({"activity_weights": {}}, r"positive sum"),
        ({"angle_limits_deg": {"knee_flexion": (0.0, 170.0)}}, r"outside the range of motion"),
        ({"angle_limits_deg": {"knee_bend": (0.0, 10.0)}}, r"unknown angle 'knee_bend'"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    args = {"n": 10, **kwargs}
    n = args.pop("n")
    with pytest.raises(ValueError, match=message):
        sample_poses(np.random.default_rng(0), n, H36M17, **args)
