"""The motions file (:mod:`posesynth.poses.motion_spec`): presets, examples, draws, and errors that
name the file and the line."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from posesynth.body.rom import rom_table
from posesynth.body.skeleton import H36M17, H36M_EXTENDED
from posesynth.poses.motion_spec import (
    PRESETS,
    SEGMENTS,
    Motion,
    MotionsConfig,
    load_motions,
)
from posesynth.poses.procedural import ACTIVITIES

SKELETONS = [H36M17, H36M_EXTENDED]
SKEL_IDS = [s.name for s in SKELETONS]
EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples" / "motions").glob("*.yaml"))


def write(tmp_path, text, name="motions.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path, skeleton=H36M17):
    with pytest.raises(ValueError) as info:
        load_motions(path, skeleton)
    return str(info.value)


def named_line(message):
    m = re.search(r"line (\d+)", message)
    return None if m is None else int(m.group(1))


# ----------------------------------------------------------------------------- presets, examples
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_load(preset, skeleton):
    cfg = load_motions(preset, skeleton)
    assert isinstance(cfg, MotionsConfig)
    for m in cfg.motions:
        assert set(m.targets(skeleton)) <= set(rom_table(skeleton))


def test_seed_knee_preset_is_the_seed_experiment():
    cfg = load_motions("seed-knee", H36M17)
    assert cfg.variants == 1 and cfg.rom == "off" and cfg.collisions == "off"
    (m,) = cfg.motions
    assert m.targets(H36M17) == ["right_knee_flexion", "left_knee_flexion"]
    assert (m.distribution, m.range_deg, m.mode, m.probability) == ("uniform", (0.0, 150.0), "set", 1.0)


def test_full_rom_preset_enforces_the_rom():
    cfg = load_motions("full-rom", H36M17)
    assert cfg.rom == "reject" and cfg.collisions == "reject" and cfg.variants > 1
    table = rom_table(H36M17)
    for m in cfg.motions:
        for name in m.targets(H36M17):
            lo, hi = m.support_deg()
            assert table[name].min_deg <= lo <= hi <= table[name].max_deg


def test_the_examples_exist():
    assert {p.name for p in EXAMPLES} >= {"knee-rom.yaml", "sport.yaml"}


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_load(path, skeleton):
    cfg = load_motions(path, skeleton)
    assert cfg.motions
    cfg.check(skeleton)
    for seg in cfg.bone_scale:
        assert seg in SEGMENTS


def test_sport_example_values():
    cfg = load_motions(next(p for p in EXAMPLES if p.name == "sport.yaml"), H36M17)
    assert cfg.variants == 8 and cfg.rom == "clamp" and cfg.collisions == "reject"
    assert cfg.bone_scale["thigh"] == (0.95, 1.05)
    assert cfg.global_rotation.yaw_deg == (-180.0, 180.0)
    hip = cfg.motions[0]
    assert (hip.distribution, hip.activity, hip.probability) == ("activity", "squat", 0.5)


def test_loading_a_path_object_or_a_string_is_the_same(tmp_path):
    path = write(tmp_path, "variants: 3\nmotions:\n  - angle: elbow_flexion\n    range_deg: [0, 90]\n")
    assert load_motions(path, H36M17) == load_motions(str(path), H36M17)


def test_defaults(tmp_path):
    cfg = load_motions(write(tmp_path, "variants: 2\n"), H36M17)
    got = (cfg.variants, cfg.rom, cfg.collisions, cfg.motions, cfg.extra_keypoints)
    assert got == (2, "reject", "reject", [], False)
    assert cfg.global_rotation.yaw_deg == (0.0, 0.0)


# ----------------------------------------------------------------------------- Motion
def test_targets_by_base_name_side_and_sided_name():
    assert Motion(angle="hip_flexion", range_deg=(0, 10)).targets(H36M17) == ["right_hip_flexion", "left_hip_flexion"]
    assert Motion(angle="hip_flexion", side="left", range_deg=(0, 10)).targets(H36M17) == ["left_hip_flexion"]
    assert Motion(angle="right_elbow_flexion", range_deg=(0, 10)).targets(H36M17) == ["right_elbow_flexion"]
    assert Motion(angle="spine_flexion", range_deg=(0, 10)).targets(H36M17) == ["spine_flexion"]
    ankle = Motion(angle="ankle_dorsiflexion", range_deg=(0, 10))
    assert ankle.targets(H36M_EXTENDED) == ["right_ankle_dorsiflexion", "left_ankle_dorsiflexion"]
    with pytest.raises(ValueError, match="ankle_dorsiflexion"):
        ankle.targets(H36M17)  # the 17-joint skeleton has no foot frame


def test_draws_follow_the_distribution():
    rng = np.random.default_rng(0)
    n = 4000
    u = Motion(angle="knee_flexion", range_deg=(10, 40)).draw(rng, n, "right_knee_flexion")
    assert u.shape == (n,)
    assert np.deg2rad(10) <= u.min() and u.max() <= np.deg2rad(40)
    assert abs(np.rad2deg(u.mean()) - 25) < 1.0
    g = Motion(angle="knee_flexion", distribution="normal", mean_deg=30, sd_deg=5).draw(rng, n, "left_knee_flexion")
    assert abs(np.rad2deg(g.mean()) - 30) < 0.5 and abs(np.rad2deg(g.std()) - 5) < 0.3
    squat = Motion(angle="knee_flexion", distribution="activity", activity="squat").draw(rng, n, "right_knee_flexion")
    kind, lo, hi = ACTIVITIES["squat"]["knee_flexion"]
    assert kind == "uniform" and np.deg2rad(lo) <= squat.min() and squat.max() <= np.deg2rad(hi)
    # sided priors (walk: lead_/trail_ hip flexion) are found too
    walk = Motion(angle="hip_flexion", distribution="activity", activity="walk").draw(rng, n, "left_hip_flexion")
    assert np.ptp(walk) > 0
    # the same generator state gives the same values
    a = Motion(angle="knee_flexion", range_deg=(0, 150)).draw(np.random.default_rng(3), 10, "right_knee_flexion")
    b = Motion(angle="knee_flexion", range_deg=(0, 150)).draw(np.random.default_rng(3), 10, "right_knee_flexion")
    assert np.array_equal(a, b)


def test_support_deg():
    assert Motion(angle="knee_flexion", range_deg=(0, 90)).support_deg() == (0.0, 90.0)
    assert Motion(angle="knee_flexion", range_deg=(0, 90), mode="add").support_deg() is None
    assert Motion(angle="knee_flexion", distribution="normal", mean_deg=0, sd_deg=1).support_deg() is None


def test_rom_off_allows_angles_outside_the_rom(tmp_path):
    path = write(tmp_path, 'rom: "off"\nmotions:\n  - angle: knee_flexion\n    range_deg: [0, 170]\n')
    assert load_motions(path, H36M17).rom == "off"


def test_add_mode_is_not_refused_up_front(tmp_path):
    text = "rom: reject\nmotions:\n  - angle: knee_flexion\n    mode: add\n    range_deg: [-200, 200]\n"
    path = write(tmp_path, text)
    assert load_motions(path, H36M17).motions[0].mode == "add"


# ----------------------------------------------------------------------------- errors with lines
BAD_FILES = {
    # name: (file text, line the error must name, text the message must hold)
    "unknown angle": (
        "variants: 2\nrom: reject\nmotions:\n  - angle: knee_flexion\n    range_deg: [0, 90]\n"
        "  - angle: toe_wiggle\n    range_deg: [0, 10]\n",
        6,
        "toe_wiggle",
    ),
    "outside the ROM while rom is reject": (
        "rom: reject\nmotions:\n  - angle: knee_flexion\n    range_deg: [0, 170]\n",
        3,
        "reject",
    ),
    "outside the ROM while rom is clamp": (
        "rom: clamp\nmotions:\n  - angle: elbow_flexion\n    range_deg: [0, 150]\n"
        "  - angle: hip_flexion\n    distribution: uniform\n    range_deg: [-40, 90]\n",
        5,
        "clamp",
    ),
    "shoulder elevation outside the ROM": (
        "variants: 1\nmotions:\n  - angle: left_shoulder_elevation\n    range_deg: [0, 200]\n",
        3,
        "left_shoulder_elevation",
    ),
    "negative probability": (
        "motions:\n  - angle: knee_flexion\n    range_deg: [0, 90]\n    probability: -0.5\n",
        4,
        "probability",
    ),
    "probability above one": (
        "motions:\n  - angle: knee_flexion\n    range_deg: [0, 90]\n    probability: 1.5\n",
        4,
        "probability",
    ),
    "unknown key in a motion (typo)": (
        "variants: 2\nmotions:\n  - angle: knee_flexion\n    rnage_deg: [0, 90]\n",
        4,
        "rnage_deg",
    ),
    "unknown top-level key (typo)": (
        "variants: 2\nrom: reject\nvariant: 3\n",
        3,
        "variant",
    ),
    "missing range_deg for uniform": (
        "variants: 1\nmotions:\n  - angle: knee_flexion\n    distribution: uniform\n",
        3,
        "range_deg",
    ),
    "missing sd_deg for normal": (
        "variants: 1\nmotions:\n  - angle: knee_flexion\n    distribution: normal\n    mean_deg: 10\n",
        3,
        "sd_deg",
    ),
    "unknown activity": (
        "variants: 1\nmotions:\n  - angle: hip_flexion\n    distribution: activity\n    activity: breakdance\n",
        3,
        "breakdance",
    ),
    "reversed range": (
        "variants: 1\nmotions:\n  - angle: knee_flexion\n    range_deg: [90, 0]\n",
        3,
        "min <= max",
    ),
    "unknown distribution": (
        "variants: 1\nmotions:\n  - angle: knee_flexion\n    distribution: gaussian\n    range_deg: [0, 9]\n",
        4,
        "distribution",
    ),
    "unknown side": (
        "variants: 1\nmotions:\n  - angle: knee_flexion\n    side: middle\n    range_deg: [0, 9]\n",
        4,
        "side",
    ),
    "zero variants": ("rom: reject\nvariants: 0\n", 2, "variants"),
    "unknown rom policy": ("variants: 1\nrom: ignore\n", 2, "rom"),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_bad_files_name_the_file_and_the_line(tmp_path, case):
    text, line, needle = BAD_FILES[case]
    path = write(tmp_path, text)
    message = error_of(path)
    assert str(path) in message
    assert named_line(message) == line, message
    assert needle in message
    assert "\n" not in message


def test_unknown_angle_for_the_skeleton_names_the_line(tmp_path):
    """Ankle angles exist on the extended skeleton only."""
    path = write(tmp_path, "variants: 1\nmotions:\n  - angle: ankle_dorsiflexion\n    range_deg: [-10, 10]\n")
    assert load_motions(path, H36M_EXTENDED).motions[0].angle == "ankle_dorsiflexion"
    message = error_of(path, H36M17)
    assert str(path) in message and named_line(message) == 3 and "ankle_dorsiflexion" in message


def test_unknown_bone_scale_segment_is_refused(tmp_path):
    path = write(tmp_path, "variants: 1\nbone_scale:\n  thigh: [0.9, 1.1]\n  femur: [0.9, 1.1]\n")
    message = error_of(path)
    assert str(path) in message and "femur" in message and "thigh" in message


def test_unknown_bone_scale_segment_names_its_line(tmp_path):
    path = write(tmp_path, "variants: 1\nbone_scale:\n  thigh: [0.9, 1.1]\n  femur: [0.9, 1.1]\n")
    assert named_line(error_of(path)) in (2, 3, 4)  # the bone_scale block, ideally 4 (femur)


def test_bad_bone_scale_range_names_its_line(tmp_path):
    path = write(tmp_path, "variants: 1\nbone_scale:\n  thigh: [1.1, 0.9]\n")
    message = error_of(path)
    assert "thigh" in message and named_line(message) in (2, 3)


def test_bad_bone_scale_range_is_refused(tmp_path):
    for text in ("bone_scale:\n  thigh: [1.1, 0.9]\n", "bone_scale:\n  shank: [0, 1.1]\n"):
        message = error_of(write(tmp_path, text))
        assert "bone_scale" in message


@pytest.mark.parametrize("key", ["rom", "collisions"])
def test_unquoted_off_is_accepted(tmp_path, key):
    path = write(tmp_path, f"{key}: off\nmotions:\n  - angle: knee_flexion\n    range_deg: [0, 150]\n")
    assert getattr(load_motions(path, H36M17), key) == "off"


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "variants: 1\nmotions: [\n  - angle: knee_flexion\n")
    message = error_of(path)
    assert str(path) in message and named_line(message) is not None


def test_yaml_syntax_error_is_a_value_error(tmp_path):
    path = write(tmp_path, "variants: 1\nmotions: [\n  - angle: knee_flexion\n")
    message = error_of(path)
    assert str(path) in message and "YAML" in message


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", ""])
def test_top_level_must_be_a_mapping(tmp_path, text):
    path = write(tmp_path, text)
    message = error_of(path)
    assert str(path) in message and "mapping" in message


def test_missing_file_names_the_file_and_the_presets(tmp_path):
    message = error_of(tmp_path / "nope.yaml")
    assert "nope.yaml" in message and "seed-knee" in message and "full-rom" in message


def test_check_refuses_out_of_rom_configs_built_in_code():
    cfg = MotionsConfig(rom="reject", motions=[Motion(angle="elbow_flexion", range_deg=(-20, 90))])
    with pytest.raises(ValueError, match=r"motions\[0\].*elbow_flexion"):
        cfg.check(H36M17)
    MotionsConfig(rom="off", motions=[Motion(angle="elbow_flexion", range_deg=(-20, 90))]).check(H36M17)


def test_an_activity_follow_prior_is_refused_for_one_motion():
    """kneel draws knee flexion relative to hip flexion: one motion cannot draw it alone."""
    import pydantic

    from posesynth.poses.motion_spec import Motion

    with pytest.raises(pydantic.ValidationError, match="'follow' prior"):
        Motion(distribution="activity", activity="kneel", angle="knee_flexion")
