"""Range of motion: the table, the plane-dependent shoulder cap, checks, overrides and sampling."""

from __future__ import annotations

import numpy as np
import pytest

from posesynth.body import angles as A
from posesynth.body import kinematics as K
from posesynth.body import rom
from posesynth.body.skeleton import H36M17, H36M_EXTENDED

SKELETONS = [H36M17, H36M_EXTENDED]
SKEL_IDS = [s.name for s in SKELETONS]
DEG = np.pi / 180


def to_positions(angles, skeleton):
    local = A.local_from_angles(angles, skeleton)
    return K.forward_kinematics(local, K.default_rest_offsets(skeleton), skeleton)


# ----------------------------------------------------------------------------- the table
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_table_covers_every_angle(skeleton):
    table = rom.rom_table(skeleton)
    assert list(table) == list(A.angle_names(skeleton))
    for name, r in table.items():
        assert r.min_deg < r.max_deg, name
        assert r.source, name
        lo, hi = r.bounds
        assert lo == pytest.approx(np.deg2rad(r.min_deg)) and hi == pytest.approx(np.deg2rad(r.max_deg))


def test_table_values_from_the_clinical_references():
    table = rom.rom_table(H36M_EXTENDED)
    for side in ("right", "left"):
        assert table[f"{side}_knee_flexion"].max_deg >= 135
        assert table[f"{side}_knee_flexion"].min_deg <= 0  # straight knee is allowed
        assert table[f"{side}_hip_flexion"].max_deg == 120
        assert table[f"{side}_hip_flexion"].min_deg == -30  # 30° of extension
        assert table[f"{side}_hip_abduction"].max_deg == 45
        assert table[f"{side}_shoulder_elevation"].max_deg == 180  # flexion to 180°
        assert table[f"{side}_elbow_flexion"].max_deg == 150
        assert table[f"{side}_elbow_flexion"].min_deg == 0
    # both sides share one range
    for name, r in table.items():
        if name.startswith("right_"):
            assert table["left_" + name[len("right_") :]] == r


def test_shoulder_elevation_cap_by_plane():
    cap = lambda plane_deg: np.rad2deg(rom.shoulder_elevation_cap(np.deg2rad(plane_deg)))
    assert cap(0.0) == pytest.approx(180.0)  # flexion
    assert cap(90.0) == pytest.approx(180.0)  # abduction
    assert cap(180.0) == pytest.approx(60.0)  # extension
    assert cap(-45.0) == pytest.approx(110.0)  # cross-body
    assert cap(135.0) == pytest.approx(110.0)
    assert cap(157.5) == pytest.approx(85.0)  # linear in between
    assert cap(-22.5) == pytest.approx(145.0)
    planes = np.deg2rad(np.array([[0.0, 90.0], [180.0, -45.0]]))
    assert rom.shoulder_elevation_cap(planes).shape == (2, 2)


# ------------------------------------------------------------------------ violations
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_hyperflexed_knee_is_the_only_violation(skeleton):
    """A knee bent to 170° (built, posed and read back) is flagged, and nothing else is."""
    angles = {
        "right_knee_flexion": np.deg2rad(170.0),
        "right_hip_flexion": np.deg2rad(20.0),
        "left_knee_flexion": np.deg2rad(40.0),
        "right_elbow_flexion": np.deg2rad(30.0),
    }
    read = A.pose_angles(to_positions(angles, skeleton), skeleton)
    assert read["right_knee_flexion"] == pytest.approx(np.deg2rad(170.0), abs=1e-9)
    flags = rom.rom_violations(read, skeleton)
    assert set(flags) == set(A.angle_names(skeleton))
    assert [n for n, f in flags.items() if f] == ["right_knee_flexion"]
    assert rom.out_of_range(read, skeleton)
    # the same pose at 145° is fine
    read = A.pose_angles(to_positions(dict(angles, right_knee_flexion=np.deg2rad(145.0)), skeleton), skeleton)
    assert not rom.out_of_range(read, skeleton)


def test_violations_elementwise_and_tolerance():
    knee = np.deg2rad(np.array([[-20.0, 0.0, 150.0], [151.0, 60.0, -10.0]]))
    flags = rom.rom_violations({"left_knee_flexion": knee}, H36M17)
    np.testing.assert_array_equal(flags["left_knee_flexion"], [[True, False, False], [True, False, False]])
    just_over = np.deg2rad(150.0) + 1e-7
    assert rom.rom_violations({"left_knee_flexion": just_over}, H36M17)["left_knee_flexion"]
    assert not rom.rom_violations({"left_knee_flexion": just_over}, H36M17, tol=1e-6)["left_knee_flexion"]
    # names the skeleton does not know are ignored, not flagged
    assert rom.rom_violations({"right_ankle_inversion": 3.0}, H36M17) == {}


def test_violations_apply_the_shoulder_cap():
    elevation = np.deg2rad(np.array([100.0, 100.0, 170.0, 120.0, 100.0]))
    plane = np.deg2rad(np.array([180.0, 45.0, 90.0, -45.0, -30.0]))
    flags = rom.rom_violations({"right_shoulder_elevation": elevation, "right_shoulder_plane": plane}, H36M17)
    np.testing.assert_array_equal(flags["right_shoulder_elevation"], [True, False, False, True, False])
    assert not flags["right_shoulder_plane"].any()
    np.testing.assert_array_equal(
        rom.out_of_range({"right_shoulder_elevation": elevation, "right_shoulder_plane": plane}, H36M17),
        [True, False, False, True, False],
    )


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_shoulder_extension_over_the_cap_is_flagged_after_posing(skeleton):
    """Arm swung 90° backwards (plane 180°, cap 60°) violates the ROM; 50° does not."""
    for elev, bad in ((90.0, True), (50.0, False)):
        angles = {
            "left_shoulder_elevation": np.deg2rad(elev),
            "left_shoulder_plane": np.pi,
            "left_elbow_flexion": np.deg2rad(20.0),
        }
        read = A.pose_angles(to_positions(angles, skeleton), skeleton)
        flags = rom.rom_violations(read, skeleton)
        assert bool(flags["left_shoulder_elevation"]) is bad
        assert [n for n, f in flags.items() if f] == (["left_shoulder_elevation"] if bad else [])


# -------------------------------------------------------------------------- overrides
def test_limits_with_overrides_narrows():
    base = rom.limits_with_overrides(H36M17)
    assert base == {n: r.bounds for n, r in rom.rom_table(H36M17).items()}
    both = rom.limits_with_overrides(H36M17, {"knee_flexion": (0, 60)})
    for side in ("right", "left"):
        assert both[f"{side}_knee_flexion"] == pytest.approx((0.0, np.deg2rad(60.0)))
    one = rom.limits_with_overrides(H36M17, {"right_elbow_flexion": (10, 20)})
    assert one["right_elbow_flexion"] == pytest.approx((np.deg2rad(10.0), np.deg2rad(20.0)))
    assert one["left_elbow_flexion"] == base["left_elbow_flexion"]
    assert {k: v for k, v in one.items() if k != "right_elbow_flexion"} == {
        k: v for k, v in base.items() if k != "right_elbow_flexion"
    }
    # the full range itself is not a widening
    assert rom.limits_with_overrides(H36M17, {"knee_flexion": (-10, 150)}) == base


@pytest.mark.parametrize(
    "override, message",
    [
        ({"knee_flexion": (0, 170)}, r"knee_flexion.*outside the range of motion.*150"),
        ({"right_hip_flexion": (-40, 30)}, r"right_hip_flexion.*outside the range of motion"),
        ({"knee_bend": (0, 10)}, r"unknown angle 'knee_bend'"),
        ({"right_ankle_inversion": (0, 10)}, r"unknown angle 'right_ankle_inversion'"),
        ({"elbow_flexion": (90, 10)}, r"min <= max"),
    ],
)
def test_limits_with_overrides_refuses(override, message):
    with pytest.raises(ValueError, match=message):
        rom.limits_with_overrides(H36M17, override)


# --------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_sample_uniform_stays_in_range_and_spreads(skeleton):
    rng = np.random.default_rng(0)
    n = 500
    angles = rom.sample_uniform(rng, n, skeleton)
    assert list(angles) == list(A.angle_names(skeleton))
    assert not rom.out_of_range(angles, skeleton).any()
    assert rom.out_of_range(angles, skeleton).shape == (n,)
    for name, (lo, hi) in rom.limits_with_overrides(skeleton).items():
        v = angles[name]
        assert v.shape == (n,)
        assert lo <= v.min() and v.max() <= hi, name
        if not name.endswith("shoulder_elevation"):  # that one is squeezed by its cap
            assert v.max() - v.min() > 0.9 * (hi - lo), name
    for side in ("right", "left"):
        elev, plane = angles[f"{side}_shoulder_elevation"], angles[f"{side}_shoulder_plane"]
        assert (elev <= rom.shoulder_elevation_cap(plane) + 1e-12).all()
        assert elev.max() > np.deg2rad(150.0)  # the cap does not collapse the range


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_sample_uniform_survives_fk_ik_round_trip(skeleton):
    rng = np.random.default_rng(1)
    angles = rom.sample_uniform(rng, 400, skeleton)
    read = A.pose_angles(to_positions(angles, skeleton), skeleton)
    assert not rom.out_of_range(read, skeleton, tol=1e-6).any()


def test_sample_uniform_within_narrowed_limits_and_reproducible():
    limits = rom.limits_with_overrides(H36M_EXTENDED, {"knee_flexion": (0, 60), "shoulder_elevation": (10, 40)})
    a = rom.sample_uniform(np.random.default_rng(5), 300, H36M_EXTENDED, limits)
    b = rom.sample_uniform(np.random.default_rng(5), 300, H36M_EXTENDED, limits)
    c = rom.sample_uniform(np.random.default_rng(6), 300, H36M_EXTENDED, limits)
    for name, (lo, hi) in limits.items():
        assert (a[name] >= lo).all() and (a[name] <= hi).all(), name
        np.testing.assert_array_equal(a[name], b[name])
        assert not np.array_equal(a[name], c[name])
    assert a["left_knee_flexion"].max() <= np.deg2rad(60.0)


def test_sample_uniform_narrowed_elevation_stays_in_range():
    limits = rom.limits_with_overrides(H36M17, {"shoulder_elevation": (90, 180)})  # accepted: inside ROM
    angles = rom.sample_uniform(np.random.default_rng(0), 1000, H36M17, limits)
    flags = rom.rom_violations(angles, H36M17)
    bad = {n: int(f.sum()) for n, f in flags.items() if f.any()}
    assert not bad, f"out-of-range samples per angle: {bad}"
