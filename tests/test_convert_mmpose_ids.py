"""``convert --to mmpose``'s round-trip check compares the ids as MMPose's image names hold
them (:func:`posesynth.data.formats.mmpose.ids_as_written`): VideoPose3D's subjects
``custom_000001`` are written ``custom-000001``, and that is not a difference, while any other
change of an id still is."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from posesynth.cli.main import app
from posesynth.data.formats import registry
from posesynth.data.formats.mmpose import ids_as_written
from posesynth.data.formats.registry import read_any, write_any
from posesynth.data.roundtrip import compare_datasets


@pytest.fixture(scope="module")
def vp3d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VideoPose3D folder of 40 generated samples: one subject ``custom_0000NN`` each."""
    root = tmp_path_factory.mktemp("vp3d")
    runner = CliRunner()
    for args in (
        ["generate", "-n", "40", "--seed", "3", "--out", str(root / "g"), "--no-preview"],
        ["convert", str(root / "g"), str(root / "vp"), "--to", "videopose3d"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    return root / "vp"


@pytest.mark.parametrize("rows", [None, 7])
def test_videopose3d_to_mmpose_passes_its_check(vp3d: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows):
    if rows is not None:  # through a store, chunk by chunk
        monkeypatch.setattr(registry, "STREAM_ROWS", rows)
    out = tmp_path / "mm"
    result = CliRunner().invoke(app, ["convert", str(vp3d), str(out), "--to", "mmpose"])
    assert result.exit_code == 0, result.output
    assert "MPJPE" in result.output
    back = read_any(out)
    assert str(back.subject[0]).startswith("custom-")


def test_ids_as_written_are_the_ids_read_back(vp3d: Path, tmp_path: Path):
    source = read_any(vp3d)
    source = replace(source, action=np.where(np.arange(len(source)) % 2 == 0, "Walk Dog", "sit.down"))
    write_any(source, tmp_path / "mm", "mmpose")
    back = read_any(tmp_path / "mm")
    expected = ids_as_written(source)
    assert list(back.subject) == list(expected.subject)
    assert set(back.action) == {"Walk_Dog", "sit-down"}
    assert list(back.action) == list(expected.action)
    cams = lambda ds: list(np.asarray(ds.camera_names)[ds.camera_index])
    assert cams(back) == cams(expected)
    assert compare_datasets(expected, back).ok
    # the cameras were gathered to the (subject, camera) pairs, not changed
    np.testing.assert_array_equal(
        expected.cameras.intrinsics[expected.camera_index], source.cameras.intrinsics[source.camera_index]
    )


def test_another_id_still_differs(vp3d: Path, tmp_path: Path):
    source = read_any(vp3d)
    write_any(source, tmp_path / "mm", "mmpose")
    back = read_any(tmp_path / "mm")
    moved = np.asarray(back.subject).copy()
    moved[3] = "someone-else"
    result = compare_datasets(ids_as_written(source), replace(back, subject=moved))
    assert not result.ok and any("subject" in p for p in result.problems)
