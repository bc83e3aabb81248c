"""The preview PNG: valid, deterministic, atomic, and strict about shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posesynth.viz import save_preview

PARENTS = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15]
LEFT = [4, 5, 6, 11, 12, 13]
RIGHT = [1, 2, 3, 14, 15, 16]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def inputs(n: int = 3, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    joints_3d = rng.normal(scale=0.3, size=(n, 17, 3)) + [0.0, 0.0, 1.0]
    joints_2d = rng.uniform(0, 640, size=(n, 17, 2))
    return {
        "joints_2d": joints_2d,
        "joints_3d": joints_3d,
        "parents": PARENTS,
        "image_sizes": np.tile([640, 480], (n, 1)),
        "left": LEFT,
        "right": RIGHT,
    }


def test_png_is_valid_and_deterministic(tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    a = save_preview(tmp_path / "a.png", **inputs(), titles=["x", "y", "z"])
    b = save_preview(tmp_path / "b.png", **inputs(), titles=["x", "y", "z"])
    data = a.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    image = mpimg.imread(a)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > image.shape[0]
    assert data == b.read_bytes()
    assert b"Software" not in data and b"matplotlib" not in data.lower()
    c = save_preview(tmp_path / "c.png", **inputs(seed=1))  # different input, different bytes
    assert c.read_bytes() != data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "c.png"]  # no temps


def test_grid_is_capped_and_nan_joints_are_skipped(tmp_path: Path) -> None:
    args = inputs(n=12)
    args["joints_2d"][0, 5] = np.nan
    args["joints_3d"][1, 7] = np.nan
    few = save_preview(tmp_path / "few.png", **args, max_samples=2)
    many = save_preview(tmp_path / "many.png", **args)  # 8 columns
    import matplotlib.image as mpimg

    assert mpimg.imread(many).shape[1] > 3 * mpimg.imread(few).shape[1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"joints_2d": np.zeros((3, 17, 3))}, r"joints_2d: expected shape \(n, J, 2\), got \(3,"),
        ({"joints_3d": np.zeros((3, 16, 3))}, r"joints_3d: expected shape \(3, 17, 3\), got \(3,"),
        ({"parents": PARENTS[:-1]}, r"parents: expected 17 integers"),
        ({"parents": [*PARENTS[:-1], 17]}, r"parents: expected values in \[-1, 17\)"),
        ({"image_sizes": np.ones((2, 2))}, r"image_sizes: expected shape \(3, 2\)"),
        ({"image_sizes": np.zeros((3, 2))}, r"image_sizes: expected finite values > 0"),
        ({"left": [4, 99]}, r"left: expected indices in \[0, 17\)"),
        ({"titles": ["only one"]}, r"titles: expected 3 titles, got 1"),
    ],
)
def test_wrong_inputs_raise(tmp_path: Path, change: dict, message: str) -> None:
    args = {**inputs(), **change}
    with pytest.raises(ValueError, match=message):
        save_preview(tmp_path / "p.png", **args)
    assert list(tmp_path.iterdir()) == []


def test_png_suffix_required(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"expected a \.png file"):
        save_preview(tmp_path / "p.jpg", **inputs())
