"""``read_videopose3d_chunks`` makes a chunk's subjects into samples together
(``videopose3d._subjects_dataset``): every chunk equals, arrays and dtypes, what the
per-subject datasets concatenated gave."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from posesynth.data.dataset import PoseDataset, concat_datasets
from posesynth.data.formats import videopose3d
from posesynth.data.formats.registry import read_any, write_any
from posesynth.data.formats.videopose3d import read_videopose3d_chunks
from posesynth.geometry.camera import concat_cameras, h36m_subject_cameras
from posesynth.jobs.generate import GenerateConfig, generate_dataset

H36M_IDS = ("54138969", "55011271", "58860488", "60457274")
ARRAYS = ("joints_3d_world", "joints_3d_camera", "joints_2d", "visibility", "subject", "action", "frame")


def per_subject(subjects: list) -> PoseDataset:
    parts = [s.dataset() for s in subjects]
    return parts[0] if len(parts) == 1 else concat_datasets(parts)


def assert_same_chunks(got: list[PoseDataset], want: list[PoseDataset]) -> None:
    assert [len(c) for c in got] == [len(c) for c in want]
    for a, b in zip(got, want, strict=True):
        for name in ARRAYS:
            x, y = getattr(a, name), getattr(b, name)
            assert (x is None) == (y is None), name
            if x is not None:
                assert x.dtype == y.dtype and x.shape == y.shape, name
                assert x.tobytes() == y.tobytes(), name
        assert a.extra.keys() == b.extra.keys()
        assert a.extra["camera"].tobytes() == b.extra["camera"].tobytes()
        assert a.cameras is not None and b.cameras is not None and a.cameras.model == b.cameras.model
        for f in ("intrinsics", "distortion", "rotation", "center", "image_size"):
            assert np.asarray(getattr(a.cameras, f)).tobytes() == np.asarray(getattr(b.cameras, f)).tobytes(), f
        assert a.meta == b.meta and a.camera_index is None and b.camera_index is None


def h36m_rig(subjects: list[str], frames: int, action: str) -> PoseDataset:
    """Human3.6M's shape: per subject ``frames`` poses seen by its 4 cameras (a table)."""
    base = generate_dataset(GenerateConfig(samples=40, seed=2)).complete()
    table = concat_cameras([h36m_subject_cameras(s) for s in subjects])
    k = len(subjects) * frames * 4
    i = np.arange(k)
    subj = i // (frames * 4)
    ds = replace(
        base.select((i // 4) % 40), joints_3d_camera=None, joints_2d=None, visibility=None,
        cameras=table, camera_index=subj * 4 + i % 4,
        camera_names=np.array([f"{s}/{c}" for s in subjects for c in H36M_IDS]),
        subject=np.array(subjects)[subj], action=np.full(k, action), frame=(i // 4) % frames, extra={},
    )  # fmt: skip
    return ds.complete()


@pytest.mark.parametrize("layout", ["a subject per sample", "fisheye", "h36m rig", "two actions, long names"])
@pytest.mark.parametrize("rows", [1, 7, 50, 1000])
def test_grouped_chunks_equal_per_subject_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout, rows) -> None:
    if layout == "a subject per sample":
        ds = generate_dataset(GenerateConfig(samples=120, seed=5))
    elif layout == "fisheye":
        ds = generate_dataset(GenerateConfig(samples=90, seed=6, camera={"model": "fisheye"}))
    elif layout == "h36m rig":
        ds = h36m_rig(["S9", "S11", "S1"], 5, "Walking")
    else:
        a = h36m_rig(["S9", "S11"], 4, "Walking")
        b = h36m_rig(["S9", "S11"], 3, "Sitting Down With A Long Name")
        ds = concat_datasets([a, replace(b, cameras=a.cameras)])
    write_any(ds, tmp_path / "vp", "videopose3d")
    got = list(read_videopose3d_chunks(tmp_path / "vp", rows=rows))
    monkeypatch.setattr(videopose3d, "_subjects_dataset", per_subject)
    want = list(read_videopose3d_chunks(tmp_path / "vp", rows=rows))
    assert_same_chunks(got, want)
    whole = read_any(tmp_path / "vp")
    assert sum(len(c) for c in got) == len(whole)
