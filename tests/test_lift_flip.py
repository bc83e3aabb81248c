"""Test-time flip augmentation of :meth:`posesynth.lift.checkpoint.Lifter.predict`."""

import numpy as np
import pytest

from posesynth.body.skeleton import H36M17
from posesynth.lift.checkpoint import load_lifter

SWAP = H36M17.flip_permutation


def _mirror_2d(uv: np.ndarray) -> np.ndarray:
    out = uv[:, SWAP].copy()
    out[..., 0] = 2.0 * uv[:, :1, 0] - out[..., 0]
    return out


def _mirror_3d(p: np.ndarray) -> np.ndarray:
    out = p[:, SWAP].copy()
    out[..., 0] *= -1.0
    return out


@pytest.fixture(scope="module")
def poses_2d() -> np.ndarray:
    import posesynth as ps

    return np.asarray(ps.generate(samples=64, seed=3).joints_2d)


def test_flip_is_the_mean_of_the_pose_and_its_mirror(poses_2d: np.ndarray) -> None:
    lifter = load_lifter("shipped:rom")
    plain = lifter.predict(poses_2d, flip=False)
    mirrored = _mirror_3d(lifter.predict(_mirror_2d(poses_2d), flip=False))
    np.testing.assert_allclose(lifter.predict(poses_2d, flip=True), 0.5 * (plain + mirrored), atol=1e-9)
    assert np.abs(plain - mirrored).max() > 1e-3  # the network alone is not mirror-symmetric


def test_flipped_prediction_is_mirror_equivariant(poses_2d: np.ndarray) -> None:
    # lifting the mirrored image gives the mirrored pose: exact with the flip, not without it
    lifter = load_lifter("shipped:everyday")
    a = lifter.predict(_mirror_2d(poses_2d))
    b = _mirror_3d(lifter.predict(poses_2d))
    np.testing.assert_allclose(a, b, atol=1e-6)
    c = lifter.predict(_mirror_2d(poses_2d), flip=False)
    d = _mirror_3d(lifter.predict(poses_2d, flip=False))
    assert np.abs(c - d).max() > 1e-3


def test_flip_default_is_on_for_posesynth_lifters(poses_2d: np.ndarray) -> None:
    lifter = load_lifter("shipped:rom")
    np.testing.assert_array_equal(lifter.predict(poses_2d), lifter.predict(poses_2d, flip=True))
    single = lifter.predict(poses_2d[0])
    np.testing.assert_allclose(single, lifter.predict(poses_2d[:1])[0], atol=1e-9)
