"""The compiled kernels against the NumPy path (the float64 reference) and outside references.

Every test that takes ``kernels`` runs twice: with Numba (``POSESYNTH_KERNELS=numba``) and
with the NumPy fallback (``numpy``), so both paths stay covered. Exact where the kernel does
the same operations in the same order (forward kinematics, collision, world -> camera,
pinhole / OpenCV / Human3.6M projection); within documented tolerances elsewhere.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posesynth.body.angles import angle_names, local_from_angles
from posesynth.body.collision import colliding, collision_model, penetration
from posesynth.body.kinematics import forward_kinematics
from posesynth.body.rom import limits_with_overrides
from posesynth.body.skeleton import H36M17, H36M_EXTENDED
from posesynth.geometry.camera import Camera, fisheye, h36m, opencv, pinhole, rotation_translation, world_to_camera
from posesynth.geometry.placement import sample_cameras
from posesynth.poses.motions import hinge_flexion, repose_hinge, set_hinge_flexion
from posesynth.poses.procedural import sample_poses
from posesynth.util import jit

pytestmark = pytest.mark.skipif(not jit.numba_installed(), reason="numba (the fast extra) is not installed")

RAD_TOL = 1e-12  # local rotations: C-library sin/cos against NumPy's
FISHEYE_PX_TOL = 1e-9
MODULES = {"pinhole": pinhole, "opencv": opencv, "fisheye": fisheye, "h36m": h36m}


@pytest.fixture(params=["numba", "numpy"])
def kernels(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(jit.ENV_VAR, request.param)
    return request.param


def both(monkeypatch: pytest.MonkeyPatch, fn):
    """``fn()`` with the NumPy path, then with the compiled kernels."""
    monkeypatch.setenv(jit.ENV_VAR, "numpy")
    ref = fn()
    monkeypatch.setenv(jit.ENV_VAR, "numba")
    return ref, fn()


def test_env_var_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(jit.ENV_VAR, "fortran")
    with pytest.raises(ValueError, match="POSESYNTH_KERNELS: expected 'numba' or 'numpy'"):
        jit.numba_enabled()
    monkeypatch.setenv(jit.ENV_VAR, "numpy")
    assert not jit.numba_enabled()
    monkeypatch.setenv(jit.ENV_VAR, "numba")
    assert jit.numba_enabled()


def random_quats(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    q = rng.normal(size=shape + (4,))
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shape=st.sampled_from([(), (1,), (7,), (3, 5)]), shared=st.booleans())
def test_forward_kinematics_same_bits(seed: int, shape: tuple[int, ...], shared: bool) -> None:
    rng = np.random.default_rng(seed)
    J = H36M17.num_joints
    q = random_quats(rng, shape + (J,))
    o = rng.normal(0.0, 0.3, ((J,) if shared else shape + (J,)) + (3,))
    with pytest.MonkeyPatch.context() as mp:
        (p_ref, g_ref), (p, g) = both(mp, lambda: forward_kinematics(q, o, H36M17, return_global=True))
    assert p.shape == shape + (J, 3) and g.shape == shape + (J, 4)
    np.testing.assert_array_equal(p, p_ref)
    np.testing.assert_array_equal(g, g_ref)


def test_forward_kinematics_against_scipy(kernels: str) -> None:
    """Positions from chained SciPy rotations, joint by joint (an outside reference)."""
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(1)
    J = H36M17.num_joints
    q, o = random_quats(rng, (20, J)), rng.normal(0.0, 0.3, (20, J, 3))
    p = forward_kinematics(q, o, H36M17)
    for n in range(20):
        glob = [Rotation.from_quat(q[n, 0])]
        pos = [o[n, 0]]
        for j in range(1, J):
            parent = H36M17.parents[j]
            pos.append(pos[parent] + glob[parent].apply(o[n, j]))
            glob.append(glob[parent] * Rotation.from_quat(q[n, j]))
        np.testing.assert_allclose(p[n], np.array(pos), atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), scale=st.floats(0.2, 1.5))
def test_collision_same_bits(seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    pos = rng.normal(0.0, scale * 0.3, (40, H36M17.num_joints, 3))
    pos[3, 2] = pos[3, 1]  # a zero-length segment
    heights = rng.uniform(1.4, 2.0, 40)
    model = collision_model(H36M17)
    with pytest.MonkeyPatch.context() as mp:
        (d_ref, c_ref), (d, c) = both(
            mp, lambda: (penetration(pos, heights, model), colliding(pos, heights, model, 0.2))
        )
    np.testing.assert_array_equal(d, d_ref)
    np.testing.assert_array_equal(c, c_ref)


def test_colliding_rejects_what_the_depth_says(kernels: str) -> None:
    rng = np.random.default_rng(3)
    poses = sample_poses(rng, 500, H36M17)
    pos = poses.positions + rng.normal(0.0, 0.08, poses.positions.shape)
    model = collision_model(H36M17)
    depth = penetration(pos, poses.heights, model)
    expected = (depth > 0.3 * model.radius_sum * poses.heights[:, None]).any(axis=1)
    np.testing.assert_array_equal(colliding(pos, poses.heights, model, 0.3), expected)
    assert 0 < expected.sum() < 500


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), extended=st.booleans(), per_sample_rest=st.booleans())
def test_local_from_angles_matches_numpy(seed: int, extended: bool, per_sample_rest: bool) -> None:
    skeleton = H36M_EXTENDED if extended else H36M17
    rng = np.random.default_rng(seed)
    limits = limits_with_overrides(skeleton, None)
    names = angle_names(skeleton)
    given_names = [n for n in names if rng.random() < 0.8]  # some angles left out (zero)
    angles = {n: rng.uniform(*limits[n], 30) for n in given_names}
    rest = None
    if per_sample_rest:
        from posesynth.body.anthropometry import rest_offsets, sample_bodies

        h, prop = sample_bodies(rng, 30)
        rest = rest_offsets(skeleton, h, prop)
    with pytest.MonkeyPatch.context() as mp:
        ref, got = both(mp, lambda: local_from_angles(angles, skeleton, rest, shape=(30,)))
    np.testing.assert_allclose(got, ref, rtol=0, atol=RAD_TOL)


def test_local_from_angles_broadcasts_scalars(kernels: str) -> None:
    out = local_from_angles({"right_knee_flexion": np.deg2rad(90.0)}, H36M17, shape=(4, 2))
    assert out.shape == (4, 2, H36M17.num_joints, 4)
    knee = H36M17.index("right_knee")
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-15)
    np.testing.assert_allclose(out[..., knee, 3], np.cos(np.deg2rad(45.0)), atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), joint=st.sampled_from(["right_knee", "left_knee", "right_elbow", "left_elbow"]))
def test_hinge_reposing_same_bits(seed: int, joint: str) -> None:
    rng = np.random.default_rng(seed)
    poses = sample_poses(rng, 60, H36M17).positions
    poses[0, H36M17.index(joint) + 1] = poses[0, H36M17.index(joint)] + (  # a straight limb
        poses[0, H36M17.index(joint)] - poses[0, H36M17.parents[H36M17.index(joint)]]
    )
    target = rng.uniform(0.0, 2.5, 60)
    take = rng.random(60) < 0.6
    with pytest.MonkeyPatch.context() as mp:
        (p_ref, c_ref), (p, c) = both(mp, lambda: repose_hinge(poses, H36M17, joint, target, take))
    np.testing.assert_array_equal(p, p_ref)
    np.testing.assert_array_equal(c, c_ref)
    np.testing.assert_allclose(p[~take], poses[~take], rtol=0, atol=1e-15)  # a zero turn
    with pytest.MonkeyPatch.context() as mp:
        ref, got = both(mp, lambda: hinge_flexion(poses, H36M17, joint))
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(got, c)


def test_hinge_reposing_sets_the_angle(kernels: str) -> None:
    rng = np.random.default_rng(5)
    poses = sample_poses(rng, 200, H36M17).positions
    target = rng.uniform(0.0, 2.5, 200)
    out = set_hinge_flexion(poses, H36M17, "left_knee", target)
    np.testing.assert_allclose(hinge_flexion(out, H36M17, "left_knee"), target, atol=1e-9)
    bones = lambda p: np.linalg.norm(p[:, 1:] - p[:, H36M17.parents_array[1:]], axis=-1)
    np.testing.assert_allclose(bones(out), bones(poses), atol=1e-12)
    moved = np.zeros(H36M17.num_joints, bool)
    moved[H36M17.index("left_foot")] = True
    np.testing.assert_array_equal(out[:, ~moved], poses[:, ~moved])


def test_hinge_reposing_rejects_nan(kernels: str) -> None:
    poses = sample_poses(np.random.default_rng(0), 5, H36M17).positions
    poses[2, 4, 1] = np.nan
    with pytest.raises(
        ValueError, match=r"positions: expected finite values, got 1 NaN/inf \(first at index \(2, 4, 1\)\)"
    ):
        set_hinge_flexion(poses, H36M17, "right_knee", np.zeros(5))


@pytest.mark.parametrize("model", ["pinhole", "opencv", "fisheye", "h36m"])
def test_projection_same_bits_or_within_tolerance(model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    poses = sample_poses(rng, 300, H36M17).positions
    cams = sample_cameras(rng, poses, model)
    (pc_ref, uv_ref, obs_ref), (pc, uv, obs) = both(
        monkeypatch, lambda: (cams.world_to_camera(poses), cams.project_world(poses), cams.observe(poses))
    )
    np.testing.assert_array_equal(pc, pc_ref)
    if model == "fisheye":
        np.testing.assert_allclose(uv, uv_ref, rtol=0, atol=FISHEYE_PX_TOL)
    else:
        np.testing.assert_array_equal(uv, uv_ref)
    np.testing.assert_array_equal(obs[0], pc)
    np.testing.assert_array_equal(obs[1], uv)
    np.testing.assert_array_equal(obs[2], obs_ref[2])
    np.testing.assert_array_equal(obs[2], cams.visible(poses))
    # the model modules' own project (camera-frame input) takes the same kernel
    np.testing.assert_array_equal(MODULES[model].project(pc, cams.intrinsics, cams.distortion), uv)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shape=st.sampled_from([(1,), (9,), (2, 4)]), shared=st.booleans())
def test_world_to_camera_same_bits(seed: int, shape: tuple[int, ...], shared: bool) -> None:
    rng = np.random.default_rng(seed)
    p = rng.normal(0.0, 2.0, shape + (17, 3))
    from scipy.spatial.transform import Rotation

    cam_shape = () if shared else shape
    R = Rotation.random(int(np.prod(cam_shape)), random_state=seed % 2**31).as_matrix().reshape(cam_shape + (3, 3))
    C = rng.normal(0.0, 3.0, cam_shape + (3,))
    with pytest.MonkeyPatch.context() as mp:
        ref, got = both(mp, lambda: world_to_camera(p, R, C))
    # the kernel's fused multiply-adds are what BLAS computes on FMA hardware; elsewhere 1 ulp
    np.testing.assert_allclose(got, ref, rtol=4e-16, atol=4e-16)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    joints=st.sampled_from([1, 17, 33]),
    strided=st.booleans(),
)
def test_world_from_camera_same_bits(seed: int, n: int, joints: int, strided: bool) -> None:
    """``PoseDataset.complete``'s world 3D: the compiled pass and the NumPy path give the
    same bits, whatever the layout (a reader's column slices, Fortran-order rotations);
    within 1 ulp of ``einsum``, and the inverse of ``world_to_camera``."""
    from scipy.spatial.transform import Rotation

    from posesynth.data.dataset import _world_from_camera

    rng = np.random.default_rng(seed)
    cam = rng.normal(0.0, 2.0, (n, joints, 4))[..., :3] if strided else rng.normal(0.0, 2.0, (n, joints, 3))
    R = Rotation.random(n, random_state=seed % 2**31).as_matrix()
    if strided:
        R = np.swapaxes(np.ascontiguousarray(np.swapaxes(R, 1, 2)), 1, 2)  # Fortran-order matrices
    C = rng.normal(0.0, 3.0, (n, 3))
    cam[0, 0] = -0.0  # signed zeros: every product of a point -0.0, and a centre -0.0
    C[0] = -0.0
    with pytest.MonkeyPatch.context() as mp:
        ref, got = both(mp, lambda: _world_from_camera(cam, R, C))
    np.testing.assert_array_equal(got.view(np.uint64), ref.view(np.uint64))
    np.testing.assert_allclose(got, np.einsum("nji,nkj->nki", R, cam) + C[:, None, :], rtol=0, atol=4e-15)
    np.testing.assert_allclose(world_to_camera(got, R, C), cam, rtol=0, atol=1e-13)


@pytest.mark.parametrize("model", ["opencv", "fisheye"])
def test_projection_against_opencv(model: str, kernels: str) -> None:
    rng = np.random.default_rng(11)
    poses = sample_poses(rng, 50, H36M17).positions
    cams = sample_cameras(rng, poses, model)
    uv = cams.project_world(poses)
    R, t = rotation_translation(np.asarray(cams.rotation), np.asarray(cams.center))
    for n in range(50):
        f = cams.intrinsics[n]
        K = np.array([[f[0], 0, f[2]], [0, f[1], f[3]], [0, 0, 1.0]])
        rvec = cv2.Rodrigues(R[n])[0]
        if model == "opencv":
            ref, _ = cv2.projectPoints(poses[n], rvec, t[n], K, cams.distortion[n])
        else:
            ref, _ = cv2.fisheye.projectPoints(poses[n][:, None, :], rvec, t[n], K, cams.distortion[n])
        np.testing.assert_allclose(uv[n], ref[:, 0, :], atol=1e-6)


def test_camera_batch_broadcast_falls_back(kernels: str) -> None:
    """One camera for a (B, T) batch of poses: the kernels take stride-0 parameters."""
    rng = np.random.default_rng(2)
    poses = sample_poses(rng, 12, H36M17).positions.reshape(3, 4, 17, 3)
    cam = sample_cameras(rng, poses[0], "opencv")[0]
    per = Camera(cam.model, cam.intrinsics, cam.distortion, cam.rotation, cam.center, cam.image_size)
    uv = per.project_world(poses)
    assert uv.shape == (3, 4, 17, 2)
    np.testing.assert_array_equal(uv[1, 2], per.project_world(poses[1, 2]))


def _angles_and_state(activity: str, seed: int, n: int, skeleton, limits_deg):
    """The angles ``sample_angles`` draws (stacked) and the generator's next draws after them."""
    from posesynth.poses.procedural import sample_angles

    rng = np.random.default_rng(seed)
    drawn = sample_angles(rng, activity, n, skeleton, limits_with_overrides(skeleton, limits_deg))
    assert list(drawn) == list(angle_names(skeleton))
    return np.stack(list(drawn.values())), rng.random(4)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.sampled_from([1, 2, 37, 400]),
    extended=st.booleans(),
    activity=st.sampled_from(
        ["stand", "walk", "sit", "squat", "lunge", "reach", "kick", "quad_stretch", "kneel", "rom"]
    ),
    narrow=st.sampled_from([None, {"knee_flexion": (0, 20)}, {"hip_flexion": (-5, 5), "shoulder_elevation": (0, 30)}]),
)
def test_prior_draws_same_bits(seed: int, n: int, extended: bool, activity: str, narrow) -> None:
    """The compiled independent-prior draws give the NumPy path's angles bit for bit, from
    the same draws of the generator in the same order (its next draws agree too), also with
    limits narrow enough that many values are redrawn or end uniform in range."""
    skeleton = H36M_EXTENDED if extended else H36M17
    with pytest.MonkeyPatch.context() as mp:
        (ref, ref_next), (got, got_next) = both(mp, lambda: _angles_and_state(activity, seed, n, skeleton, narrow))
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(got_next, ref_next)


def test_prior_draws_keep_the_prior_and_the_limits(kernels: str) -> None:
    """Outside references for the draws: a uniform prior's values are uniform over its range
    (Kolmogorov-Smirnov), a normal one's mean and spread are its own, every value lies in its
    limits, and ``follow`` (kneel's knee) sits at its hip + 90 deg +- 5 deg."""
    from scipy import stats

    angles, _ = _angles_and_state("sit", 11, 20000, H36M17, None)
    names = list(angle_names(H36M17))
    limits = limits_with_overrides(H36M17, None)
    for i, name in enumerate(names):
        assert limits[name][0] <= angles[i].min() and angles[i].max() <= limits[name][1]
    knee = np.rad2deg(angles[names.index("right_knee_flexion")])  # sit: uniform over [60, 115] deg
    assert stats.kstest(knee, stats.uniform(60, 55).cdf).pvalue > 1e-3
    rotation = np.rad2deg(angles[names.index("left_shoulder_rotation")])  # sit: normal(20, 15) deg
    assert abs(rotation.mean() - 20) < 0.5 and abs(rotation.std() - 15) < 0.5
    kneel, _ = _angles_and_state("kneel", 12, 20000, H36M17, None)
    hip = np.rad2deg(kneel[names.index("left_hip_flexion")])
    offset = np.rad2deg(kneel[names.index("left_knee_flexion")]) - hip
    inside = hip < 40  # the knee's 150 deg limit is 4 sd away: no truncation there
    assert abs(offset[inside].mean() - 90) < 0.3 and abs(offset[inside].std() - 5) < 0.3


def test_sample_poses_same_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole procedural batches (every activity, both skeletons, narrowed limits) agree bit
    for bit between the paths, angles, rotations, positions and the generator's state."""
    from posesynth.poses.procedural import ACTIVITIES

    def batch(skeleton, weights, limits):
        rng = np.random.default_rng(5)
        b = sample_poses(rng, 600, skeleton, weights, limits)
        return np.stack(list(b.angles.values())), b.local_rotations, b.positions, b.activity, rng.random(3)

    for skeleton in (H36M17, H36M_EXTENDED):
        for weights, limits in [(None, None), (dict.fromkeys(ACTIVITIES, 1.0), {"knee_flexion": (0, 40)})]:
            ref, got = both(monkeypatch, lambda s=skeleton, w=weights, lim=limits: batch(s, w, lim))
            for a, b in zip(ref, got, strict=True):
                np.testing.assert_array_equal(b, a)


@pytest.mark.slow
def test_commands_write_the_same_bytes_with_and_without_numba(tmp_path) -> None:
    """generate (pinhole, OpenCV) and augment (the knee fast path) write identical files on
    both paths: a data set does not depend on whether the fast extra is installed."""
    import os
    import subprocess
    import sys

    from helpers import tree_digest

    commands = [
        ["generate", "-n", "300", "--shard-size", "100", "--seed", "3", "--no-preview", "--out", "g"],
        ["generate", "-n", "200", "--seed", "4", "--camera-model", "opencv", "--no-preview", "--out", "go"],
        ["augment", "g", "--motions", "seed-knee", "--out", "a", "--no-figure"],
    ]
    digests = {}
    for path in ("numba", "numpy"):
        work = tmp_path / path
        work.mkdir()
        env = {**os.environ, jit.ENV_VAR: path}
        for args in commands:
            subprocess.run(
                [sys.executable, "-m", "posesynth.cli.main", *args], cwd=work, env=env, check=True, capture_output=True
            )
        digests[path] = {name: tree_digest(work / name) for name in ("g", "go", "a")}
    assert digests["numba"] == digests["numpy"]


TWO_KERNELS = """
from posesynth.util.jit import kernel

JIT_HELPERS = ("_twice",)


def _twice(x):
    return 2.0 * x


@kernel
def first(a):
    total = 0.0
    for v in a:
        total += _twice(v)
    return total


@kernel
def second(a):
    total = 0.0
    for v in a:
        total -= _twice(v)
    return total
"""


def test_two_threads_may_call_a_modules_first_kernels_at_once(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two threads calling a kernel module's first kernels at once (a library caller's
    threads, say) set its helpers up once, whichever comes first: a helper compiled twice
    raised ``TypeError`` (seen while trying the cameras of ``generate`` on its main thread
    and the projection of the shard before on the writer thread)."""
    import importlib
    import threading
    import time

    (tmp_path / "two_kernels_mod.py").write_text(TWO_KERNELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(jit.ENV_VAR, "numba")
    import numba

    module = importlib.import_module("two_kernels_mod")
    njit = numba.njit
    helpers_made: list[str] = []

    def slow_njit(*args, **kwargs):  # widens the window in which the other thread could come in
        if kwargs.get("inline") == "always":
            helpers_made.append(threading.current_thread().name)
            time.sleep(0.2)
        return njit(*args, **kwargs)

    monkeypatch.setattr(numba, "njit", slow_njit)
    start = threading.Barrier(2)
    results: dict[str, object] = {}

    def run(name: str) -> None:
        start.wait()
        try:
            results[name] = getattr(module, name)(np.arange(4.0))
        except Exception as exc:  # reported by the assertion below
            results[name] = exc

    threads = [threading.Thread(target=run, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {"first": 12.0, "second": -12.0}
    assert len(helpers_made) == 1  # one helper, compiled by one of the threads


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 40),
    special=st.booleans(),
)
def test_orbit_same_bits(seed: int, n: int, special: bool) -> None:
    """``orbit`` with one camera per target: the compiled pass and the NumPy code give the
    same bits, at the poles, at signed zeros and at half turns too."""
    from posesynth.geometry.camera import orbit

    rng = np.random.default_rng(seed)
    target = rng.normal(0.0, 1.0, (n, 3))
    az, el = rng.uniform(-np.pi, np.pi, n), rng.uniform(-np.pi / 2, np.pi / 2, n)
    dist, roll = rng.uniform(0.5, 8.0, n), rng.normal(0.0, 0.5, n)
    if special and n:
        picks = np.array([0.0, -0.0, np.pi / 2, -np.pi / 2, np.pi, -np.pi])
        az, el, roll = (np.where(rng.random(n) < 0.5, rng.choice(picks, n), v) for v in (az, el, roll))
        target[rng.random((n, 3)) < 0.3] = -0.0
    with pytest.MonkeyPatch.context() as mp:
        (R_ref, C_ref), (R, C) = both(mp, lambda: orbit(target, az, el, dist, roll))
    assert R.shape == (n, 3, 3) and C.shape == (n, 3)
    np.testing.assert_array_equal(R.view(np.uint64), R_ref.view(np.uint64))
    np.testing.assert_array_equal(C.view(np.uint64), C_ref.view(np.uint64))


def test_orbit_broadcasts_on_the_numpy_path(kernels: str) -> None:
    """One target for many angles, scalars, and (B, T) batches: NumPy's broadcasting."""
    from posesynth.geometry.camera import look_at, orbit

    rng = np.random.default_rng(4)
    az, el = rng.uniform(-3, 3, (2, 5)), rng.uniform(-1, 1, (2, 5))
    R, C = orbit(np.zeros(3), az, el, 3.0, 0.1)
    assert R.shape == (2, 5, 3, 3) and C.shape == (2, 5, 3)
    np.testing.assert_allclose(R, look_at(C, np.zeros(3), roll=0.1), atol=1e-12)
    R1, C1 = orbit(np.zeros((4, 3)), az[0, :4], el[0, :4], np.full(4, 3.0), 0.1)
    np.testing.assert_array_equal(R1, R[0, :4])
    np.testing.assert_array_equal(C1, C[0, :4])
