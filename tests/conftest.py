"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest

from posesynth.util import jit


@pytest.fixture(params=["numba", "numpy"])
def kernels(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with the compiled kernels (skipped without Numba), then with the NumPy
    fallback: ``POSESYNTH_KERNELS`` set for the test's duration."""
    if request.param == "numba" and not jit.numba_installed():
        pytest.skip("numba (the fast extra) is not installed")
    monkeypatch.setenv(jit.ENV_VAR, request.param)
    return request.param
