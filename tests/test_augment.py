"""``augment`` (:mod:`posesynth.jobs.augment`) and ``posesynth augment``: the seed's knee experiment,
ROM policies, skipped frames, bookkeeping extras, seeds, cameras, extra keypoints, bone scaling,
turning, and the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posesynth.body.angles import local_from_angles, pose_angles
from posesynth.body.anthropometry import rest_offsets, sample_bodies
from posesynth.body.kinematics import forward_kinematics
from posesynth.body.rom import rom_table, shoulder_elevation_cap
from posesynth.body.skeleton import H36M17, H36M_EXTENDED
from posesynth.data.dataset import PoseDataset
from posesynth.geometry.camera import CameraModel, h36m_subject_cameras
from posesynth.jobs.augment import augment
from posesynth.jobs.camera_config import CamerasConfig, load_cameras_config
from posesynth.poses.motion_spec import SEGMENTS, Motion, MotionsConfig, load_motions
from posesynth.poses.motions import set_angles
from posesynth.poses.procedural import ACTIVITIES, sample_poses

SKELETONS = [H36M17, H36M_EXTENDED]
SKEL_IDS = [s.name for s in SKELETONS]
DEG = np.pi / 180
ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "motions"


# ----------------------------------------------------------------------------- helpers
def wrapped(a, b):
    return np.abs(np.angle(np.exp(1j * (np.asarray(a) - np.asarray(b)))))


def bone_lengths(p, skeleton):
    par = skeleton.parents_array
    return np.linalg.norm(p[..., 1:, :] - p[..., par[1:], :], axis=-1)


def fk_poses(rng, n, skeleton, widen_deg=25.0):
    """Random FK poses with angles over and beyond the ROM (hyperextended knees, hips out of
    range...), the swing readings off their singularities; upright bodies (any heading) at
    random places."""
    heights, props = sample_bodies(rng, n)
    rest = rest_offsets(skeleton, heights, props)
    angles = {}
    for name, r in rom_table(skeleton).items():
        v = rng.uniform((r.min_deg - widen_deg) * DEG, (r.max_deg + widen_deg) * DEG, n)
        if name.endswith(("abduction", "lateral_flexion", "radial_deviation", "inversion")):
            v = np.clip(v, -75 * DEG, 75 * DEG)
        if name.endswith("shoulder_elevation"):
            v = np.clip(v, 5 * DEG, 175 * DEG)
        angles[name] = v
    local = local_from_angles(angles, skeleton, rest, shape=(n,))
    local[:, 0] = Rotation.from_euler("z", rng.uniform(-np.pi, np.pi, (n, 1))).as_quat()
    offsets = rest.copy()
    offsets[:, 0] = np.column_stack([rng.uniform(-3, 3, (n, 2)), np.ones(n)])
    return forward_kinematics(local, offsets, skeleton)


_CACHE: dict[tuple, np.ndarray] = {}


def procedural(skeleton, per_activity=12, seed=0):
    key = ("proc", skeleton.name, per_activity, seed)
    if key not in _CACHE:
        rng = np.random.default_rng(seed)
        _CACHE[key] = np.concatenate(
            [sample_poses(rng, per_activity, skeleton, {a: 1.0}).positions for a in ACTIVITIES]
        )
    return _CACHE[key].copy()


def mixed_sources(skeleton):
    """Procedural poses of every activity, then random FK poses partly outside the ROM whose
    elbows read as bent (clamping a hyperextended elbow is tested below)."""
    key = ("mixed", skeleton.name)
    if key not in _CACHE:
        rng = np.random.default_rng(100 + skeleton.num_joints)
        fk = fk_poses(rng, 200, skeleton)
        read = pose_angles(fk, skeleton)
        bent = (read["right_elbow_flexion"] > 1 * DEG) & (read["left_elbow_flexion"] > 1 * DEG)
        _CACHE[key] = np.concatenate([procedural(skeleton, 20, seed=1), fk[bent][:160]])
    return _CACHE[key].copy()


def dataset(positions, skeleton, **kw):
    return PoseDataset(skeleton=skeleton, joints_3d_world=positions, **kw)


def rom_problems(positions, skeleton, tol=1e-6):
    """Angle name → number of poses outside the ROM table (or above the shoulder cap)."""
    angles = pose_angles(positions, skeleton)
    table = rom_table(skeleton)
    bad = {}
    for name, v in angles.items():
        lo, hi = table[name].bounds
        out = (v < lo - tol) | (v > hi + tol)
        if name.endswith("shoulder_elevation"):
            out |= v > shoulder_elevation_cap(angles[name.replace("elevation", "plane")]) + tol
        if out.any():
            bad[name] = int(out.sum())
    return bad


def knee_only(**kw):
    base = {"rom": "off", "collisions": "off", "motions": [Motion(angle="knee_flexion", range_deg=(0, 150))]}
    return MotionsConfig(**{**base, **kw})


# ----------------------------------------------------------------------------- the seed's experiment
@pytest.fixture(scope="module")
def seed_experiment():
    rng = np.random.default_rng(2024)
    src = sample_poses(rng, 300, H36M17, angle_limits_deg={"knee_flexion": (0, 60)}).positions
    result = augment(dataset(src, H36M17), load_motions("seed-knee", H36M17), seed=0)
    return src, result


def test_seed_knee_histogram_covers_0_to_150(seed_experiment):
    src, result = seed_experiment
    before = pose_angles(src, H36M17)
    after = pose_angles(result.dataset.joints_3d_world, H36M17)
    assert len(result.dataset) == len(src)
    for side in ("right", "left"):
        name = f"{side}_knee_flexion"
        b, a = np.rad2deg(before[name]), np.rad2deg(after[name])
        assert b.min() >= -1e-6 and b.max() <= 60 + 1e-6  # the source: 0-60 deg only
        counts, _ = np.histogram(a, np.arange(0.0, 151.0, 15.0))
        assert (counts > 0).all(), (name, counts)
        assert counts.sum() == len(a)  # nothing below 0 or above 150
        assert a.min() < 2.0 and a.max() > 148.0
        h = result.summary.angles[name]
        assert h["after_range_deg"][0] == pytest.approx(a.min(), abs=0.01)
        assert h["after_range_deg"][1] == pytest.approx(a.max(), abs=0.01)
        assert sum(h["after"]) == sum(h["before"]) == len(a)
        assert h["before_range_deg"][1] <= 60.01


def test_seed_knee_feet_follow(seed_experiment):
    """Only the ankles move; the thigh and everything above stay bit for bit; shanks keep their length."""
    src, result = seed_experiment
    out = result.dataset.joints_3d_world
    np.testing.assert_array_equal(result.source_positions, src[result.dataset.extra["source_index"]])
    ankles = H36M17.indices(["right_foot", "left_foot"])
    rest = np.setdiff1d(np.arange(17), ankles)
    assert np.array_equal(out[:, rest], src[:, rest])
    moved = np.linalg.norm(out[:, ankles] - src[:, ankles], axis=-1)
    assert (moved > 1e-3).mean() > 0.95
    assert np.abs(bone_lengths(out, H36M17) - bone_lengths(src, H36M17)).max() < 1e-9


def test_seed_knee_on_the_extended_skeleton_moves_the_feet_rigidly():
    src = procedural(H36M_EXTENDED, 8)
    result = augment(dataset(src, H36M_EXTENDED), load_motions("seed-knee", H36M_EXTENDED), seed=0)
    out = result.dataset.joints_3d_world
    feet = [
        j
        for j in range(H36M_EXTENDED.num_joints)
        if H36M_EXTENDED.joint_names[j].startswith(("right_", "left_"))
        and H36M_EXTENDED.joint_names[j].endswith(("foot", "toe", "heel"))
    ]
    still = np.setdiff1d(np.arange(H36M_EXTENDED.num_joints), feet)
    assert np.array_equal(out[:, still], src[:, still])
    assert np.abs(bone_lengths(out, H36M_EXTENDED) - bone_lengths(src, H36M_EXTENDED)).max() < 1e-9
    before, after = pose_angles(src, H36M_EXTENDED), pose_angles(out, H36M_EXTENDED)
    for name in before:
        if "ankle" in name:  # the foot keeps its angles to the shank
            assert wrapped(after[name], before[name]).max() < 1e-6, name


# ----------------------------------------------------------------------------- ROM policies
ROM_SPECS = ["full-rom", str(EXAMPLES / "sport.yaml"), str(EXAMPLES / "knee-rom.yaml"),
             str(EXAMPLES / "full-rom-rotations.yaml")]  # fmt: skip


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
@pytest.mark.parametrize("policy", ["reject", "clamp"])
@pytest.mark.parametrize("spec", ROM_SPECS, ids=["full-rom", "sport", "knee-rom", "full-rom-rotations"])
def test_rom_enforced_outputs_are_never_out_of_range(skeleton, policy, spec):
    src = mixed_sources(skeleton)
    assert rom_problems(src, skeleton)  # the sources do leave the ROM
    motions = load_motions(spec, skeleton).model_copy(update={"rom": policy})
    result = augment(dataset(src, skeleton), motions, seed=3)
    out = result.dataset.joints_3d_world
    assert len(out) > 0
    assert rom_problems(out, skeleton) == {}
    s = result.summary
    assert s.samples + s.rejected_rom + s.rejected_collision == len(src) * motions.variants
    if policy == "reject":
        assert s.rejected_rom > 0
    else:
        assert s.rejected_rom == 0
    src_of = src[result.dataset.extra["source_index"]]
    if not motions.bone_scale:
        assert np.abs(bone_lengths(out, skeleton) - bone_lengths(src_of, skeleton)).max() < 1e-9


@pytest.mark.parametrize(
    "skeleton",
    [
        H36M17,
        H36M_EXTENDED,
    ],
    ids=SKEL_IDS,
)
def test_clamped_hyperextended_elbows_stay_in_range(skeleton):
    """Real data has hyperextended elbows (flexion < 0, outside the ROM): clamp brings them to
    0 deg. Repro: 20 standing poses, right elbow -10 deg, right shoulder rotation -85 deg."""
    src = procedural(skeleton, 20, seed=5)[:20]
    n = len(src)
    src = set_angles(
        src, skeleton, {"right_shoulder_rotation": np.full(n, -85 * DEG), "right_elbow_flexion": np.full(n, -10 * DEG)}
    )
    motions = MotionsConfig(rom="clamp", collisions="off", motions=[Motion(angle="knee_flexion", range_deg=(0, 90))])
    result = augment(dataset(src, skeleton), motions, seed=0)
    assert rom_problems(result.dataset.joints_3d_world, skeleton) == {}


def test_clamp_keeps_in_range_angles_and_reject_keeps_in_range_poses():
    """Procedural poses are inside the ROM: a knee-only motion rejects none of them and
    changes no other angle."""
    src = procedural(H36M17, 6)
    motions = MotionsConfig(rom="reject", collisions="off", motions=[Motion(angle="knee_flexion", range_deg=(0, 150))])
    result = augment(dataset(src, H36M17), motions, seed=0)
    assert result.summary.rejected_rom == 0 and len(result.dataset) == len(src)
    before = pose_angles(src, H36M17)
    after = pose_angles(result.dataset.joints_3d_world, H36M17)
    for name in before:
        if "knee" not in name and "hip_rotation" not in name:
            assert wrapped(after[name], before[name]).max() < 1e-6, name


# ----------------------------------------------------------------------------- skipped frames
def test_nan_and_invisible_frames_are_skipped_and_counted():
    src = procedural(H36M17, 5)  # 5 frames per activity
    n = len(src)
    src[3, 5] = np.nan
    src[11, 0, 2] = np.inf
    vis = np.ones(src.shape[:2])
    vis[7, 2] = 0.0
    vis[20, 16] = 0.5  # partly visible counts as visible
    ds = dataset(src, H36M17, visibility=vis)
    done = []
    result = augment(ds, knee_only(variants=2), seed=0, progress=done.append)
    assert result.summary.skipped_frames == 3
    assert result.summary.source_frames == n
    idx = result.dataset.extra["source_index"]
    assert not np.isin(idx, [3, 7, 11]).any() and 20 in idx
    assert len(result.dataset) == (n - 3) * 2
    assert np.isfinite(result.dataset.joints_3d_world).all()
    assert sum(done) == n  # progress counts source frames


def test_no_usable_frame_is_a_value_error():
    src = procedural(H36M17, 1)[:3]
    src[:, 0] = np.nan
    with pytest.raises(ValueError, match="no usable frames"):
        augment(dataset(src, H36M17), knee_only(), seed=0)


# ----------------------------------------------------------------------------- bookkeeping
def test_variants_source_index_and_variant_are_consistent_without_rejections():
    src = procedural(H36M17, 3)
    n = len(src)
    ds = dataset(
        src,
        H36M17,
        subject=np.array([f"S{k % 3}" for k in range(n)]),
        action=np.array(["walk"] * n),
        frame=np.arange(100, 100 + n),
    )
    result = augment(ds, knee_only(variants=3), seed=0)
    out = result.dataset
    idx, var = out.extra["source_index"], out.extra["variant"]
    assert len(out) == 3 * n and result.summary.variants == 3
    np.testing.assert_array_equal(idx, np.repeat(np.arange(n), 3))
    np.testing.assert_array_equal(var, np.tile(np.arange(3), n))
    np.testing.assert_array_equal(out.frame, ds.frame[idx])
    np.testing.assert_array_equal(out.subject, ds.subject[idx])
    np.testing.assert_array_equal(out.action, ds.action[idx])
    np.testing.assert_array_equal(result.source_positions, src[idx])
    # variants of one frame differ from each other
    assert not np.allclose(out.joints_3d_world[0::3], out.joints_3d_world[1::3])


def test_variants_source_index_and_variant_are_consistent_with_rejections():
    src = mixed_sources(H36M17)
    motions = load_motions("full-rom", H36M17)
    result = augment(dataset(src, H36M17), motions, seed=1)
    idx, var = result.dataset.extra["source_index"], result.dataset.extra["variant"]
    assert idx.dtype == np.int64 and var.dtype == np.int64
    assert (np.diff(idx) >= 0).all()
    assert (var >= 0).all() and (var < motions.variants).all()
    for k in np.unique(idx):  # kept variants of a frame are numbered 0, 1, ... in order
        np.testing.assert_array_equal(var[idx == k], np.arange((idx == k).sum()))
    np.testing.assert_array_equal(result.source_positions, src[idx])
    s = result.summary
    assert s.samples == len(result.dataset) < len(src) * motions.variants


# ----------------------------------------------------------------------------- seeds
def test_same_seed_same_output_other_seed_other_output():
    src = procedural(H36M17, 3)
    motions = load_motions(str(EXAMPLES / "sport.yaml"), H36M17)
    cams = CamerasConfig(model="opencv", count=1)
    a = augment(dataset(src, H36M17), motions, cams, seed=7)
    b = augment(dataset(src, H36M17), motions, cams, seed=7)
    c = augment(dataset(src, H36M17), motions, cams, seed=8)
    for key in ("joints_3d_world", "joints_2d", "visibility"):
        assert np.array_equal(getattr(a.dataset, key), getattr(b.dataset, key)), key
    assert np.array_equal(a.dataset.cameras.center, b.dataset.cameras.center)
    assert np.array_equal(a.dataset.extra["source_index"], b.dataset.extra["source_index"])
    assert a.summary == b.summary
    assert len(a.dataset) != len(c.dataset) or not np.array_equal(a.dataset.joints_3d_world, c.dataset.joints_3d_world)


# ----------------------------------------------------------------------------- cameras
def test_new_fisheye_cameras_two_per_pose():
    src = procedural(H36M17, 3)
    result = augment(dataset(src, H36M17), knee_only(variants=2), CamerasConfig(model="fisheye", count=2), seed=0)
    out = result.dataset
    assert len(out) == 2 * 2 * len(src) == result.summary.samples
    assert out.cameras.model == CameraModel.FISHEYE
    cams = out.sample_cameras()
    p = out.joints_3d_world
    # each (frame, variant) appears twice, the same pose seen by two different cameras
    np.testing.assert_array_equal(p[0::2], p[1::2])
    np.testing.assert_array_equal(out.extra["source_index"][0::2], out.extra["source_index"][1::2])
    np.testing.assert_array_equal(out.extra["variant"][0::2], out.extra["variant"][1::2])
    assert (np.linalg.norm(cams.center[0::2] - cams.center[1::2], axis=-1) > 1e-6).all()
    assert out.visibility.shape == (len(out), 17)
    assert set(np.unique(out.visibility)) <= {0.0, 1.0}
    np.testing.assert_array_equal(out.visibility, cams.visible(p).astype(float))
    assert out.joints_2d.shape == (len(out), 17, 2) and np.isfinite(out.joints_2d[out.visibility > 0]).all()
    assert out.visibility.mean() > 0.9  # placement frames the body


def test_h36m_rig_gives_four_cameras_per_pose():
    src = procedural(H36M17, 2)
    n = len(src)
    subjects = np.array(["S1", "S5"] * (n // 2))
    ds = dataset(src, H36M17, subject=subjects)
    result = augment(ds, knee_only(), CamerasConfig(rig="h36m"), seed=0)
    out = result.dataset
    assert len(out) == 4 * n and out.num_cameras == 8
    idx = out.extra["source_index"]
    np.testing.assert_array_equal(idx, np.repeat(np.arange(n), 4))
    for subject in ("S1", "S5"):
        rows = out.subject == subject
        assert rows.sum() == 4 * (subjects == subject).sum()
        centers = out.sample_cameras().center[rows].reshape(-1, 4, 3)
        want = h36m_subject_cameras(subject).center
        np.testing.assert_allclose(centers, np.broadcast_to(want, centers.shape), atol=1e-12)
    assert out.cameras.model == CameraModel.H36M
    assert out.visibility.shape == (4 * n, 17) and out.joints_2d.shape == (4 * n, 17, 2)


def test_h36m_rig_needs_subjects():
    with pytest.raises(ValueError, match="subject"):
        augment(dataset(procedural(H36M17, 1), H36M17), knee_only(), CamerasConfig(rig="h36m"), seed=0)


def test_source_cameras_are_kept_by_default():
    src = procedural(H36M17, 2)
    first = augment(dataset(src, H36M17), knee_only(), CamerasConfig(count=1), seed=0).dataset
    again = augment(first, knee_only(), None, seed=1)
    np.testing.assert_array_equal(
        again.dataset.sample_cameras().center, first.sample_cameras().center[again.dataset.extra["source_index"]]
    )


def test_a_large_source_camera_table_becomes_per_sample_cameras(monkeypatch):
    """A table of more than MAX_TABLE_CAMERAS cameras (a camera per frame, as MMPose files of
    generated data have) is taken apart into per-sample cameras with their names: the same
    samples, cameras and 2D as the table gives, and no table for the store's manifest."""
    from posesynth.jobs import augment_source

    src = procedural(H36M17, 3)  # 30 frames
    first = augment(dataset(src, H36M17), knee_only(), CamerasConfig(count=1), seed=0).dataset
    cams = first.sample_cameras()
    n = len(first)
    order = np.random.default_rng(1).permutation(n)  # table order differs from sample order
    table = cams[order]
    index = np.argsort(order)
    names = np.array([f"cam{k:03d}" for k in range(n)])
    source = PoseDataset(
        skeleton=H36M17, joints_3d_world=first.joints_3d_world, cameras=table, camera_index=index,
        camera_names=names,
    )  # fmt: skip
    monkeypatch.setattr(augment_source, "MAX_TABLE_CAMERAS", n)
    kept = augment(source, knee_only(), None, seed=4)
    assert kept.dataset.camera_index is not None and kept.dataset.cameras.batch_shape == (n,)
    monkeypatch.setattr(augment_source, "MAX_TABLE_CAMERAS", n - 1)
    apart = augment(source, knee_only(), None, seed=4)
    assert apart.dataset.camera_index is None and apart.summary.cameras == len(apart.dataset)
    np.testing.assert_array_equal(apart.dataset.joints_3d_world, kept.dataset.joints_3d_world)
    np.testing.assert_array_equal(apart.dataset.joints_2d, kept.dataset.joints_2d)
    for field in ("intrinsics", "distortion", "rotation", "center", "image_size"):
        np.testing.assert_array_equal(
            getattr(apart.dataset.cameras, field), getattr(kept.dataset.sample_cameras(), field)
        )
    src_rows = apart.dataset.extra["source_index"]
    np.testing.assert_array_equal(apart.dataset.camera_names, names[index[src_rows]])


def test_load_cameras_config(tmp_path):
    assert load_cameras_config(None) is None
    path = tmp_path / "cams.yaml"
    path.write_text("model: fisheye\ncount: 3\n")
    cfg = load_cameras_config(path)
    assert (cfg.model, cfg.count, cfg.rig) == ("fisheye", 3, None)
    path.write_text("model: fisheye\ncount: 0\n")
    with pytest.raises(ValueError, match="count"):
        load_cameras_config(path)
    path.write_text("modle: fisheye\n")
    with pytest.raises(ValueError, match=str(path)):
        load_cameras_config(path)


# ----------------------------------------------------------------------------- extra keypoints
def test_extra_keypoints_adds_the_15_extended_joints():
    src = procedural(H36M17, 3)
    motions = knee_only(variants=2)
    plain = augment(dataset(src, H36M17), motions, seed=4)
    extra = augment(dataset(src, H36M17), motions.model_copy(update={"extra_keypoints": True}), seed=4)
    assert extra.dataset.skeleton is H36M_EXTENDED or extra.dataset.skeleton.name == "h36m_extended"
    assert extra.dataset.joints_3d_world.shape == (len(plain.dataset), 32, 3)
    assert np.array_equal(extra.dataset.joints_3d_world[:, :17], plain.dataset.joints_3d_world)
    assert extra.summary.skeleton == "h36m_extended"


# ----------------------------------------------------------------------------- bone scale, turning
@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_bone_scale_changes_exactly_the_scaled_bones(skeleton):
    src = procedural(skeleton, 4)
    motions = MotionsConfig(rom="off", collisions="off", bone_scale={"thigh": (0.9, 1.1), "forearm": (1.0, 1.2)})
    result = augment(dataset(src, skeleton), motions, seed=0)
    ratio = bone_lengths(result.dataset.joints_3d_world, skeleton) / bone_lengths(src, skeleton)
    scaled = {}
    for seg, (lo, hi) in motions.bone_scale.items():
        cols = [skeleton.index(j) - 1 for j in SEGMENTS[seg]]
        r = ratio[:, cols]
        assert (r >= lo - 1e-12).all() and (r <= hi + 1e-12).all(), seg
        np.testing.assert_allclose(r[:, 0], r[:, 1], rtol=1e-12)  # both sides alike
        assert np.ptp(r[:, 0]) > 0.5 * (hi - lo)  # drawn per pose
        scaled.update(dict.fromkeys(cols))
    others = np.setdiff1d(np.arange(skeleton.num_joints - 1), list(scaled))
    np.testing.assert_allclose(ratio[:, others], 1.0, rtol=1e-12)
    assert np.array_equal(result.dataset.joints_3d_world[:, 0], src[:, 0])


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_global_rotation_yaw_keeps_every_angle(skeleton):
    src = procedural(skeleton, 4)
    motions = MotionsConfig(rom="off", collisions="off", global_rotation={"yaw_deg": (-30, 30)})
    result = augment(dataset(src, skeleton), motions, seed=0)
    out = result.dataset.joints_3d_world
    before, after = pose_angles(src, skeleton), pose_angles(out, skeleton)
    for name in before:
        assert wrapped(after[name], before[name]).max() < 1e-6, name
    assert np.abs(bone_lengths(out, skeleton) - bone_lengths(src, skeleton)).max() < 1e-9
    assert np.array_equal(out[:, 0], src[:, 0])
    np.testing.assert_allclose(out[..., 2], src[..., 2], atol=1e-12)
    hips = skeleton.indices(["right_hip", "left_hip"])
    v0, v1 = (x[:, hips[1], :2] - x[:, hips[0], :2] for x in (src, out))
    yaw = np.angle((v1[:, 0] + 1j * v1[:, 1]) / (v0[:, 0] + 1j * v0[:, 1]))
    assert np.abs(yaw).max() <= 30 * DEG + 1e-9
    assert np.abs(yaw).max() > 15 * DEG


def test_a_motion_with_probability_zero_changes_nothing():
    src = procedural(H36M17, 2)
    motions = MotionsConfig(
        rom="reject", collisions="off", motions=[Motion(angle="hip_flexion", range_deg=(0, 90), probability=0.0)]
    )
    result = augment(dataset(src, H36M17), motions, seed=0)
    np.testing.assert_allclose(result.dataset.joints_3d_world, src, atol=1e-12)


def test_a_motion_for_another_skeleton_is_refused():
    motions = MotionsConfig(rom="off", motions=[Motion(angle="ankle_dorsiflexion", range_deg=(0, 10))])
    with pytest.raises(ValueError, match="ankle_dorsiflexion"):
        augment(dataset(procedural(H36M17, 1), H36M17), motions, seed=0)


# ----------------------------------------------------------------------------- command line
def run_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "posesynth.cli.main", "augment", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from posesynth.jobs.generate import generate, load_config

    path = tmp_path_factory.mktemp("augment-cli") / "source"
    generate(load_config(samples=200, seed=1, shard_size=100), path, preview=False)
    return path


def test_cli_augment_seed_knee_json(store, tmp_path):
    from posesynth.data.formats.registry import read_any

    out = tmp_path / "out"
    proc = run_cli(store, "--motions", "seed-knee", "--out", out, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # one JSON document and nothing else on stdout
    for key in ("samples", "rejected_rom", "rejected_collision", "angles"):
        assert key in doc, key
    assert doc["samples"] == 200 and doc["rejected_rom"] == doc["rejected_collision"] == 0
    assert set(doc["angles"]) == {"right_knee_flexion", "left_knee_flexion"}
    ds = read_any(out)
    assert len(ds) == 200 and ds.skeleton.name == "h36m17"
    knees = np.rad2deg(pose_angles(ds.joints_3d_world, H36M17)["right_knee_flexion"])
    assert knees.min() > -0.01 and knees.max() < 150.01  # stored as float32 by default
    assert (out / "augment-pairs.png").is_file()
    assert (out / "augment-pairs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Traceback" not in proc.stderr


def test_cli_bad_motions_file_is_one_line_naming_the_line(store, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("variants: 2\nmotions:\n  - angle: toe_wiggle\n    range_deg: [0, 10]\n")
    out = tmp_path / "out"
    proc = run_cli(store, "--motions", bad, "--out", out, "--json", cwd=tmp_path)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:") and "line 3" in lines[0] and "toe_wiggle" in lines[0]
    assert "bad.yaml" in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not out.exists()
    assert not (tmp_path / "augment-pairs.png").exists()


@pytest.mark.parametrize("skeleton", SKELETONS, ids=SKEL_IDS)
def test_side_bend_turns_the_upper_body_about_the_pelvis_and_keeps_the_legs(skeleton):
    src = procedural(skeleton, 4)
    motions = MotionsConfig(rom="off", collisions="off", side_bend={"range_deg": (-40, 40), "probability": 1.0})
    out = augment(dataset(src, skeleton), motions, seed=0).dataset.joints_3d_world
    rh, lh, th = skeleton.indices(["right_hip", "left_hip", "thorax"])
    from posesynth.poses.motions import descendants

    legs = descendants(skeleton, rh) | descendants(skeleton, lh)
    legs[[0, rh, lh]] = True
    assert np.array_equal(out[:, legs], src[:, legs])
    assert np.abs(bone_lengths(out, skeleton) - bone_lengths(src, skeleton)).max() < 1e-9
    t0, t1 = src[:, th] - src[:, 0], out[:, th] - out[:, 0]
    turn = np.arccos(np.clip((t0 * t1).sum(-1) / np.linalg.norm(t0, axis=-1) / np.linalg.norm(t1, axis=-1), -1, 1))
    assert turn.max() <= 40 * DEG + 1e-9 and turn.max() > 25 * DEG
    # sideways: the trunk moves along the hips' axis, not forward or back
    side = src[:, lh] - src[:, rh]
    fwd = np.cross(side, t0)
    fwd /= np.linalg.norm(fwd, axis=-1, keepdims=True)
    np.testing.assert_allclose(((t1 - t0) * fwd).sum(-1), 0.0, atol=1e-9)


def test_side_bend_matches_scipy_and_is_off_by_default():
    from posesynth.poses.motion_spec import SideBend
    from posesynth.poses.motions import bend_sideways

    src = procedural(H36M17, 2)
    angle = np.random.default_rng(1).uniform(-1.0, 1.0, len(src))
    out = bend_sideways(src, H36M17, angle)
    rh, lh, th, head = H36M17.indices(["right_hip", "left_hip", "thorax", "head"])
    axis = np.cross(src[:, lh] - src[:, rh], src[:, th] - src[:, 0])
    rv = axis / np.linalg.norm(axis, axis=-1, keepdims=True) * angle[:, None]
    expected = Rotation.from_rotvec(rv).apply(src[:, head] - src[:, 0]) + src[:, 0]
    np.testing.assert_allclose(out[:, head], expected, atol=1e-12)
    # + turns the trunk towards the right hip's side
    moved = (out[:, th] - src[:, th]) * (src[:, lh] - src[:, rh])
    assert (np.sign(moved.sum(-1)) == -np.sign(angle)).all()
    assert not MotionsConfig().side_bend.active
    assert "side_bend" not in MotionsConfig().model_dump(mode="json")  # files written before it keep their bytes
    lean = load_motions("full-rom-lean", H36M17)
    assert MotionsConfig(**lean.model_dump(mode="json")) == lean  # and an active one round-trips
    assert load_motions("full-rom-lean", H36M17).side_bend == SideBend(range_deg=(-40, 40), probability=0.5)
    with pytest.raises(ValueError, match="-90 <= min <= max <= 90"):
        SideBend(range_deg=(10, -10))
    # off: the same bytes as a config without the field (no draw is made)
    a = augment(dataset(src, H36M17), load_motions("full-rom", H36M17), seed=0).dataset.joints_3d_world
    b = augment(
        dataset(src, H36M17),
        MotionsConfig(
            **{
                **load_motions("full-rom", H36M17).model_dump(),
                "side_bend": {"range_deg": (-40, 40), "probability": 0.0},
            }
        ),
        seed=0,
    ).dataset.joints_3d_world
    assert np.array_equal(a, b)


def _both_sides_alike(probability: float, hinges_only: bool) -> MotionsConfig:
    angles = ["knee_flexion"] if hinges_only else ["hip_flexion", "hip_abduction", "knee_flexion", "elbow_flexion"]
    return MotionsConfig(
        rom="off",
        collisions="off",
        motions=[
            Motion(angle=a, range_deg=(0, 40) if a == "hip_abduction" else (10, 120), probability=0.7) for a in angles
        ],
        bilateral={"probability": probability},
    )


@pytest.mark.parametrize("hinges_only", [True, False], ids=["hinges", "general"])
def test_bilateral_moves_both_sides_alike(hinges_only):
    from posesynth.poses.repose import repose

    src = procedural(H36M17, 3)
    base = pose_angles(src, H36M17)
    motions = _both_sides_alike(1.0, hinges_only)
    out, _, _, _ = repose(np.random.default_rng(3), src, H36M17, motions)
    got = pose_angles(out, H36M17)
    for m in motions.motions:
        right, left = got[f"right_{m.angle}"], got[f"left_{m.angle}"]
        moved = ~np.isclose(right, base[f"right_{m.angle}"], atol=1e-9)
        assert moved.mean() > 0.5  # the motion applies to ~70 % of the poses
        # a moved right side means the left took the same draw (and an unmoved one, no draw)
        np.testing.assert_allclose(left[moved], right[moved], atol=1e-6)
        np.testing.assert_allclose(left[~moved], base[f"left_{m.angle}"][~moved], atol=1e-6)
    # half of them: some poses paired, some not
    half, _, _, _ = repose(np.random.default_rng(3), src, H36M17, _both_sides_alike(0.5, hinges_only))
    k = pose_angles(half, H36M17)
    same = np.isclose(k["right_knee_flexion"], k["left_knee_flexion"], atol=1e-6)
    assert 0.2 < same.mean() < 0.9


def test_bilateral_off_by_default_draws_nothing_and_is_left_out():
    from posesynth.poses.motion_spec import Bilateral

    assert not MotionsConfig().bilateral.active
    assert "bilateral" not in MotionsConfig().model_dump(mode="json")  # files written before it keep their bytes
    pair = load_motions("full-rom-pair", H36M17)
    assert pair.bilateral == Bilateral(probability=0.5)
    assert pair.model_dump() == {
        **load_motions("full-rom-lean", H36M17).model_dump(),
        "bilateral": {"probability": 0.5},
    }
    assert MotionsConfig(**pair.model_dump(mode="json")) == pair
    with pytest.raises(ValueError):
        Bilateral(probability=1.5)
    src = procedural(H36M17, 2)
    off = MotionsConfig(**{**load_motions("full-rom", H36M17).model_dump(), "bilateral": {"probability": 0.0}})
    a = augment(dataset(src, H36M17), load_motions("full-rom", H36M17), seed=0).dataset.joints_3d_world
    b = augment(dataset(src, H36M17), off, seed=0).dataset.joints_3d_world
    assert np.array_equal(a, b)


def test_full_rom_pair_wide_is_pair_with_hip_rotation_and_shoulder_plane():
    wide = load_motions("full-rom-pair-wide", H36M17)
    pair = load_motions("full-rom-pair", H36M17)
    assert wide.motions[: len(pair.motions)] == pair.motions
    added = {m.angle: (tuple(m.range_deg), m.probability) for m in wide.motions[len(pair.motions) :]}
    assert added == {"hip_rotation": ((-45.0, 45.0), 0.5), "shoulder_plane": ((-45.0, 180.0), 0.5)}
    assert wide.bilateral == pair.bilateral and wide.side_bend == pair.side_bend
    # inside the range of motion, as `rom: reject` requires
    wide.check(H36M17)
