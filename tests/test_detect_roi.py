"""The landmark model's region from landmarks (MediaPipe's tracking region), without the models."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from posesynth.detect.blazepose import roi_from_landmarks

HIPS, SHOULDERS = (23, 24), (11, 12)


def _upright(height: float = 200.0) -> np.ndarray:
    """33 landmarks of a person standing upright in the image: hips at y 400, shoulders at 300."""
    uv = np.zeros((33, 2))
    uv[:, 0] = 300.0
    uv[:, 1] = np.linspace(400.0 - height, 400.0 + height * 0.9, 33)
    uv[list(HIPS)] = [[290.0, 400.0], [310.0, 400.0]]
    uv[list(SHOULDERS)] = [[280.0, 300.0], [320.0, 300.0]]
    return uv


def test_upright_person_gives_an_unturned_region_on_the_hips() -> None:
    uv = _upright()
    centre, side, rot = roi_from_landmarks(uv)
    np.testing.assert_allclose(centre, [300.0, 400.0])
    radius = np.linalg.norm(uv - [300.0, 400.0], axis=-1).max()
    assert math.isclose(side, 2.0 * 1.25 * radius)
    assert math.isclose(rot, 0.0, abs_tol=1e-12)


@given(st.floats(-math.pi + 1e-3, math.pi - 1e-3), st.floats(0.5, 3.0))
def test_region_turns_and_scales_with_the_person(angle: float, scale: float) -> None:
    """Turning the landmarks about the hip centre turns the region by the same angle (image y
    down: a turn of +angle in image coordinates is a rotation of +angle); scaling scales it."""
    uv = _upright()
    hip = np.array([300.0, 400.0])
    c, s = math.cos(angle), math.sin(angle)
    turned = (uv - hip) @ np.array([[c, s], [-s, c]]) * scale + hip
    centre0, side0, rot0 = roi_from_landmarks(uv)
    centre, side, rot = roi_from_landmarks(turned)
    np.testing.assert_allclose(centre, centre0, atol=1e-9)
    assert math.isclose(side, side0 * scale, rel_tol=1e-9)
    diff = (rot - rot0 - angle + math.pi) % (2 * math.pi) - math.pi
    assert abs(diff) < 1e-9


def test_missing_hips_or_shoulders_give_no_region() -> None:
    for joints in (HIPS, SHOULDERS):
        uv = _upright()
        uv[joints[0]] = np.nan
        assert roi_from_landmarks(uv) is None
    collapsed = np.zeros((33, 2))
    assert roi_from_landmarks(collapsed) is None
