"""TRC file names hold cleaned ids (``S 2`` -> ``S-2``): ``convert``'s round-trip check compares
the source's ids as the files write them, in memory and streamed alike (issue 16)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from posesynth.cli.main import app
from posesynth.data.formats import registry
from posesynth.data.formats.registry import read_any, written_ids
from posesynth.data.formats.store_io import write_store_dataset
from posesynth.data.formats.trc import ids_as_read_back
from posesynth.jobs.generate import GenerateConfig, generate_dataset

runner = CliRunner()

CASES = {
    # label: (subject, action) of the two interleaved halves
    "space-slash": (["S 2", "S1"], ["walk", "a/b"]),
    "underscore": (["S_1", "S2"], ["walk", "sit"]),
    "single": (["S1", "S1"], ["walk", "walk"]),
}


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("names")
    ds = generate_dataset(GenerateConfig(samples=60, seed=6))
    n = len(ds)
    seq = np.arange(n) % 2
    out = {}
    for label, (subjects, actions) in CASES.items():
        frame = np.arange(n) if label == "single" else np.arange(n) // 2
        d = replace(ds, subject=np.array(subjects)[seq], action=np.array(actions)[seq], frame=frame)
        out[label] = write_store_dataset(d, root / label)
    return out


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("label", sorted(CASES))
def test_convert_trc_names_needing_cleaning_pass_the_check(
    stores: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, label: str, streamed: bool
) -> None:
    if streamed:
        monkeypatch.setattr(registry, "STREAM_ROWS", 20)
    out = tmp_path / "trc"
    res = runner.invoke(app, ["convert", str(stores[label]), str(out), "--to", "trc", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["check"]["ok"] and doc["check"]["samples"] == 60
    assert doc["check"]["chunks"] == (3 if streamed else 1)
    assert "subject" in doc["check"]["ids"]
    back = read_any(out)
    expected = {
        "space-slash": {("S-2", "walk"), ("S1", "a-b")},
        "underscore": {("S", "1_walk"), ("S2", "sit")},
        "single": {("S1_walk", None)},
    }[label]
    actions = [None] * len(back) if back.action is None else back.action.tolist()
    got = set(zip(back.subject.tolist(), actions, strict=True))
    assert got == expected


def test_ids_as_read_back_mirror_the_reader() -> None:
    subject = np.array(["S 2", "S_1", "S1"])
    action = np.array(["a/b", "walk", "sit"])
    s, a = ids_as_read_back(subject, action, 3, several=True)
    assert s.tolist() == ["S-2", "S", "S1"] and a is not None and a.tolist() == ["a-b", "1_walk", "sit"]
    s, a = ids_as_read_back(subject, action, 3, several=False)
    assert s.tolist() == ["S-2_a-b", "S_1_walk", "S1_sit"] and a is None
    s, a = ids_as_read_back(None, None, 3, several=False)
    assert s is None and a is None


def test_written_ids_leave_other_formats_alone(stores: dict[str, Path], tmp_path: Path) -> None:
    ds = read_any(stores["space-slash"])
    assert written_ids("posesynth", tmp_path)(ds) is ds  # MMPose: tests/test_convert_mmpose_ids.py
    (tmp_path / "S-2_walk.trc").write_text("")
    (tmp_path / "S1_a-b.trc").write_text("")
    mapped = written_ids("trc", tmp_path)(ds)
    assert set(mapped.subject.tolist()) == {"S-2", "S1"} and set(mapped.action.tolist()) == {"walk", "a-b"}
    np.testing.assert_array_equal(mapped.joints_3d_world, ds.joints_3d_world)


def test_check_still_catches_a_wrong_name(stores: dict[str, Path], tmp_path: Path) -> None:
    """The mapping is the writer's: a file renamed after writing no longer matches."""
    from posesynth.data.formats.registry import write_any
    from posesynth.data.roundtrip import check_written

    ds = read_any(stores["space-slash"])
    out = tmp_path / "trc"
    write_any(ds, out, "trc")
    (out / "S-2_walk.trc").rename(out / "S-3_walk.trc")
    removed = []
    with pytest.raises(ValueError, match="differs from the input"):
        check_written(ds, out, lambda: read_any(out), lambda: removed.append(1), as_written=written_ids("trc", out))
    assert removed == [1]
