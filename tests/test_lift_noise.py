"""Per-joint, detector-like 2D noise (posesynth.lift.noise: sigma_joints, detector_sigma_joints)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from posesynth.lift.noise import NoiseConfig, apply_noise, detector_sigma_joints, load_noise_config


def poses(b: int = 20000, j: int = 5, box: float = 200.0) -> torch.Tensor:
    """(B, J, 2) px whose bbox's longest side is exactly ``box``."""
    uv = torch.zeros((b, j, 2), dtype=torch.float64)
    uv[:, 1:, 0] = torch.linspace(0, box, j - 1, dtype=torch.float64)
    uv[:, 1:, 1] = 0.5 * box
    return uv


def test_per_joint_sigma_is_a_bbox_fraction_per_joint():
    uv = poses()
    frac = (0.0, 0.01, 0.05, 0.0, 0.1)
    out = apply_noise(uv, NoiseConfig(sigma_joints=frac), torch.Generator().manual_seed(0))
    std = (out - uv).std(dim=0).mean(dim=-1).numpy()
    np.testing.assert_allclose(std, np.array(frac) * 200.0, rtol=0.03, atol=1e-12)
    # combined with the global terms in quadrature
    both = apply_noise(uv, NoiseConfig(sigma_px=3.0, sigma_joints=frac), torch.Generator().manual_seed(1))
    std = (both - uv).std(dim=0).mean(dim=-1).numpy()
    np.testing.assert_allclose(std, np.hypot(3.0, np.array(frac) * 200.0), rtol=0.03)


def test_per_joint_sigma_checked():
    with pytest.raises(ValueError, match="expected 5 values"):
        apply_noise(poses(4), NoiseConfig(sigma_joints=(0.1, 0.1)), torch.Generator().manual_seed(0))
    with pytest.raises(ValidationError, match="fractions of the bbox"):
        NoiseConfig(sigma_joints=(0.1, -0.2))
    assert not NoiseConfig(sigma_joints=(0.0, 0.0)).active
    assert load_noise_config(sigma_joints=[0.01, 0.02]).sigma_joints == (0.01, 0.02)


def test_detector_sigma_joints_measures_what_apply_noise_draws():
    uv = poses(30000)
    frac = (0.02, 0.0, 0.04, 0.01, 0.08)
    noisy = apply_noise(uv, NoiseConfig(sigma_joints=frac), torch.Generator().manual_seed(2)).numpy()
    ref = uv.numpy().copy()
    noisy[:5] = np.nan  # rows with a missing joint are left out
    np.testing.assert_allclose(detector_sigma_joints(noisy, ref), frac, rtol=0.03, atol=1e-12)
    with pytest.raises(ValueError, match=r"two \(N, J, 2\) arrays"):
        detector_sigma_joints(noisy[:, :3], ref)
    with pytest.raises(ValueError, match="no sample"):
        detector_sigma_joints(np.full_like(ref, np.nan), ref)
