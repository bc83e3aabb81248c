"""The front door: ``import posesynth as ps`` and one function per stage (``posesynth.api``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import posesynth as ps
from posesynth.data.dataset import PoseDataset
from posesynth.jobs.generate import GenerateSummary


def test_import_is_light() -> None:
    """Importing posesynth (and touching its names) loads no torch, Dask, plotly or LiteRT."""
    code = (
        "import sys, posesynth as ps; ps.generate; ps.CameraConfig; ps.PoseDataset; "
        "print(sorted(m for m in ('torch', 'dask', 'distributed', 'plotly', 'ai_edge_litert') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'generat'"):
        ps.generat  # noqa: B018


def test_the_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's Python session, with small sizes: every stage passes a PoseDataset."""
    monkeypatch.chdir(tmp_path)
    ds = ps.generate(samples=300, seed=0)
    assert isinstance(ds, PoseDataset) and len(ds) == 300
    summary = ps.generate(samples=300, seed=0, out="big", executor="processes:2", preview=False)
    assert isinstance(summary, GenerateSummary) and summary.samples == 300
    on_disk = ps.read("big")
    np.testing.assert_array_equal(on_disk.joints_3d_world, ds.joints_3d_world)  # same seed, same values
    np.testing.assert_array_equal(on_disk.joints_2d, ds.joints_2d)

    aug = ps.augment(ds, motions="seed-knee", cameras=ps.CameraConfig(model="fisheye", count=2))
    assert isinstance(aug, PoseDataset) and len(aug) == 2 * len(ds)
    assert aug.cameras is not None and aug.cameras.model.value == "fisheye"
    ps.write(aug, "mm", format="mmpose")
    back = ps.read("mm")
    assert len(back) == len(aug) and back.cameras is not None and back.cameras.model.value == "fisheye"
    np.testing.assert_allclose(back.joints_2d, aug.joints_2d, atol=1e-3)

    report = ps.info(back)
    assert report.samples == len(aug) and report.joints == 17

    pytest.importorskip("torch")
    lifter = ps.load_lifter("rom")
    assert lifter.predict(back.joints_2d[:5]).shape == (5, 17, 3)
    metrics = ps.evaluate(lifter, back)
    assert metrics.scores.samples == len(aug) and 0 < metrics.scores.p_mpjpe_mm < metrics.scores.mpjpe_mm
    assert metrics.keypoints_2d["source"] == "dataset" and metrics.checkpoint is None and metrics.data is None


def test_generate_takes_a_camera_and_config_fields() -> None:
    ds = ps.generate(samples=50, seed=1, camera="opencv", activities={"squat": 1.0})
    assert ds.cameras is not None and ds.cameras.model.value == "opencv"
    assert set(ds.extra["activity"].tolist()) == {list(ds.meta["activity_names"]).index("squat")}


def test_executor_without_out_is_refused() -> None:
    with pytest.raises(ValueError, match="executor: only used when writing"):
        ps.generate(samples=10, executor="processes:2")


def test_bad_executor_spec_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="executor: expected"):
        ps.generate(samples=10, out=tmp_path / "x", executor="gpu:9")


STORE_KEYS = ["path", "format", "format_version", "samples", "joints", "skeleton", "cameras", "camera_model", "units",
              "shards", "arrays", "seed", "version", "config", "verified"]  # fmt: skip
DATA_KEYS = ["joint_names", "subjects", "actions", "arrays_present", "ranges", "nan", "nan_count", "rom"]


def test_info_report_is_typed_and_keeps_the_json_document(tmp_path: Path) -> None:
    """ps.info returns an InfoReport; to_dict() is `posesynth info --json`'s document, keys in
    the order it has always had (a store's manifest fields, then the data's)."""
    from posesynth.data.report import InfoReport

    ps.generate(samples=40, seed=2, out=tmp_path / "s", preview=False)
    report = ps.info(tmp_path / "s")
    assert isinstance(report, InfoReport) and report.store is not None and report.data is not None
    doc = report.to_dict()
    assert list(doc) == STORE_KEYS + DATA_KEYS
    assert doc["units"] == report.units and doc["units"] is not report.units  # the document owns its values
    assert doc["arrays"]["joints_2d"] == {"dtype": "<f4", "shape": [40, 17, 2]}
    rom = report.data.rom
    assert (
        rom is not None and doc["rom"]["checked"] == rom.checked == 40 and isinstance(doc["rom"]["most_violated"], list)
    )
    cli = subprocess.run(
        [sys.executable, "-m", "posesynth.cli.main", "info", str(tmp_path / "s"), "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(cli.stdout) == json.loads(json.dumps(doc))

    in_memory = ps.info(ps.read(tmp_path / "s"), rom=False)
    assert in_memory.store is None and in_memory.path is None
    assert list(in_memory.to_dict()) == ["path", "format", "samples", "joints", "skeleton", "joint_names", "subjects",
                                         "actions", "cameras", "camera_model", "units", "arrays_present", "ranges",
                                         "nan", "nan_count", "rom"]  # fmt: skip
    assert in_memory.to_dict()["rom"] is None and in_memory.data is not None
    assert in_memory.to_dict()["ranges"]["joints_2d"]["unit"] == "px"
