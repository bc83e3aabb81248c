"""The fused procedural pass (issue 15) against the step-by-step path, bit for bit.

``poses.procedural._compiled_passes`` draws the angles, then runs one compiled pass per sample
(angles -> local rotations -> root -> forward kinematics -> collision test,
``body._kernels.pose_pass``); ``_numpy_passes`` runs the same steps one after the other through
the public functions (each compiled on its own when Numba is on, NumPy otherwise). Both must
give the same bits and leave the generator in the same state, including the collision
redraw rounds.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posesynth.body.skeleton import H36M17, H36M_EXTENDED
from posesynth.poses import procedural
from posesynth.util import jit

pytestmark = pytest.mark.skipif(not jit.numba_installed(), reason="numba (the fast extra) is not installed")

WEIGHTS = [
    None,
    dict.fromkeys(procedural.ACTIVITIES, 1.0),
    {"kneel": 1.0, "reach": 2.0, "walk": 1.0},
    {"squat": 1.0, "gait": 1.0, "bend": 1.0},
]
LIMITS = [
    None,
    {"knee_flexion": (0, 40)},
    {"shoulder_elevation": (60, 170), "hip_flexion": (-10, 100)},
    # the elevation cap rejects most draws here: every redraw round runs, then the uniform fallback
    {"shoulder_elevation": (150, 180), "shoulder_plane": (100, 180)},
]


def _passes(path, seed: int, n: int, skeleton, weights, limits, tilt: float, tolerance: float):
    """(local, positions on the ground, bone offsets, angles (A, n), rejected, the generator's
    next draws) of one path (the step-by-step one lifted as ``sample_poses`` lifts it)."""
    from posesynth.body.anthropometry import rest_offsets, sample_bodies
    from posesynth.body.rom import limits_with_overrides

    rng = np.random.default_rng(seed)
    names = list(procedural.ACTIVITIES)
    w = np.array([float((weights or procedural.DEFAULT_ACTIVITY_WEIGHTS).get(a, 0.0)) for a in names])
    heights, proportions = sample_bodies(rng, n)
    rest = rest_offsets(skeleton, heights, proportions)
    activity = rng.choice(len(names), size=n, p=w / w.sum())
    bounds = limits_with_overrides(skeleton, limits)
    contact, clearance = procedural._ground_contacts(skeleton, proportions, heights)
    if path is procedural._compiled_passes:  # the lift done in its passes
        local, positions, offsets, angles, rejected = path(
            rng, skeleton, names, activity, heights, rest, bounds, tilt, tolerance, contact, clearance
        )
    else:
        local, positions, angles, rejected = path(
            rng, skeleton, names, activity, heights, rest, bounds, tilt, tolerance
        )
        lift = -(positions[:, contact, 2] - clearance).min(axis=1)
        positions[:, :, 2] += lift[:, None]
        offsets = rest.copy()
        offsets[:, 0, 2] += lift
    return local, positions, offsets, np.stack(list(angles.values())), rejected, rng.random(4)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.sampled_from([1, 2, 5, 64, 333]),
    extended=st.booleans(),
    weights=st.sampled_from(WEIGHTS),
    limits=st.sampled_from(LIMITS),
    tilt=st.sampled_from([0.0, 4.0, 25.0]),
    tolerance=st.sampled_from([0.3, 0.0, -0.2]),
)
def test_fused_pass_same_bits(seed, n, extended, weights, limits, tilt, tolerance) -> None:
    """The fused pass gives the step-by-step compiled path's bits (angles, rotations,
    positions, rejections, the generator's next draws); a negative tolerance rejects many
    draws, so several redraw rounds run."""
    skeleton = H36M_EXTENDED if extended else H36M17
    args = (seed, n, skeleton, weights, limits, tilt, tolerance)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(jit.ENV_VAR, "numba")
        try:
            ref = _passes(procedural._numpy_passes, *args)
        except ValueError as err:  # every sample still colliding: the fused path says the same
            with pytest.raises(ValueError, match="still collide"):
                _passes(procedural._compiled_passes, *args)
            assert "still collide" in str(err)
            return
        got = _passes(procedural._compiled_passes, *args)
    for a, b in zip(ref, got, strict=True):
        np.testing.assert_array_equal(b, a)
        if isinstance(a, np.ndarray):
            assert a.tobytes() == b.tobytes()  # signed zeros too


def test_fused_pass_redraws_colliding_samples() -> None:
    """With a tolerance that rejects often, the fused path redraws (rejected > 0) and every
    kept pose passes the collision check."""
    from posesynth.body.collision import colliding, collision_model

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(jit.ENV_VAR, "numba")
        batch = procedural.sample_poses(np.random.default_rng(3), 400, H36M17, collision_tolerance=0.0)
    assert batch.rejected > 0
    assert not colliding(batch.positions, batch.heights, collision_model(H36M17), 0.0).any()


@pytest.mark.parametrize("kernels", ["numba", "numpy"])
def test_sample_poses_angles_are_independent_arrays(kernels: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whichever path, ``PoseBatch.angles`` maps every angle name to an (n,) float64 array, and
    changing one leaves the others as they were."""
    monkeypatch.setenv(jit.ENV_VAR, kernels)
    batch = procedural.sample_poses(np.random.default_rng(0), 50, H36M17)
    values = {k: v.copy() for k, v in batch.angles.items()}
    first = next(iter(batch.angles))
    batch.angles[first][:] = 7.0
    for k, v in batch.angles.items():
        assert v.shape == (50,) and v.dtype == np.float64
        if k != first:
            np.testing.assert_array_equal(v, values[k])


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.sampled_from([1, 3, 64, 500]),
    extended=st.booleans(),
    tolerance=st.sampled_from([0.3, -0.2]),
)
def test_sample_poses_same_bits_on_both_paths(seed: int, n: int, extended: bool, tolerance: float) -> None:
    """Whole batches, every field (the ground contact lift and the bone offsets included),
    bit for bit between the kernels and the NumPy path, and the generator's next draws."""
    from dataclasses import fields

    skeleton = H36M_EXTENDED if extended else H36M17
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        for path in ("numpy", "numba"):
            mp.setenv(jit.ENV_VAR, path)
            rng = np.random.default_rng(seed)
            batch = procedural.sample_poses(rng, n, skeleton, collision_tolerance=tolerance)
            out[path] = (batch, rng.random(3))
    (ref, ref_next), (got, got_next) = out["numpy"], out["numba"]
    for field in fields(ref):
        a, b = getattr(ref, field.name), getattr(got, field.name)
        if isinstance(a, dict):
            assert list(a) == list(b)
            a, b = np.stack(list(a.values())), np.stack(list(b.values()))
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), field.name
    np.testing.assert_array_equal(got_next, ref_next)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shape=st.sampled_from([(), (1,), (9,), (2, 5)]), extended=st.booleans())
def test_sampled_rest_offsets_match_rest_offsets(seed: int, shape: tuple[int, ...], extended: bool) -> None:
    """The generator's unchecked rest offsets are :func:`rest_offsets`' values, and those are
    height × (proportions @ basis) summed over the proportions in order (an outside check of
    the product: each bone's vector from its proportion terms, math.fsum)."""
    import math

    from posesynth.body import anthropometry as anth

    skeleton = H36M_EXTENDED if extended else H36M17
    rng = np.random.default_rng(seed)
    heights = rng.uniform(1.45, 2.05, shape)
    props = anth.default_proportions() * rng.uniform(0.9, 1.1, shape + (len(anth.PROPORTION_NAMES),))
    got = anth.sampled_rest_offsets(skeleton, heights, props)
    ref = anth.rest_offsets(skeleton, heights, props)
    assert got.tobytes() == ref.tobytes() and got.shape == shape + (skeleton.num_joints, 3)
    basis = anth._skeleton_basis(skeleton)  # (J, P, 3)
    flat_h, flat_p = heights.reshape(-1), props.reshape(-1, props.shape[-1])
    for i in range(len(flat_h)):
        exact = [[flat_h[i] * math.fsum(flat_p[i] * basis[j, :, c]) for c in range(3)] for j in range(len(basis))]
        np.testing.assert_allclose(got.reshape(-1, skeleton.num_joints, 3)[i], exact, rtol=1e-14, atol=1e-15)


@settings(max_examples=200, deadline=None)
@given(
    x=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True, width=64),
        st.sampled_from([float(v) for v in procedural._CAP_KNOTS[0]]),
        st.floats(-1.0, 4.0),
    )
)
def test_cap_interpolation_is_numpys(x: float) -> None:
    """The kernels' shoulder-cap interpolation (the knot found by counting, NumPy's slopes)
    gives ``np.interp``'s bits: inside, at and beside the knots, outside, inf and NaN."""
    from posesynth.body import _kernels
    from posesynth.util.jit import _compile_helpers

    _compile_helpers(_kernels.__dict__)  # the compiled helper, as the kernels inline it
    xp, fp, slopes = procedural._CAP_KNOTS
    with np.errstate(over="ignore"):  # the largest float's neighbour is inf
        values = (x, float(np.nextafter(x, np.inf)), float(np.nextafter(x, -np.inf)))
    for value in values:
        got = _kernels._interp(value, xp, fp, slopes)
        ref = np.interp(value, xp, fp)
        assert np.float64(got).tobytes() == np.float64(ref).tobytes() or (np.isnan(got) and np.isnan(ref))
