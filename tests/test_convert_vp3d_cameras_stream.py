"""VideoPose3D sources with posesynth's cameras file (``cameras_<name>.json``, a subject per
sample each with its own camera) read entry by entry: at most ``registry.STORE_TABLE_MAX``
cameras, the store is the in-memory one byte for byte (a camera table in ``meta``); beyond,
it holds one camera per sample (``camera_*`` arrays and ``camera_name``) with the same
values, and ``mmpose`` / ``trc`` / ``videopose3d`` through the store equal the in-memory
output. A cameras file that is not one the entry-by-entry reader takes is read whole, with the
in-memory reader's errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers import assert_same_output, folder_bytes
from posesynth.data.formats import registry, videopose3d_read
from posesynth.data.formats.registry import convert_streamed, iter_chunks, read_any, write_any
from posesynth.data.store import open_store


@pytest.fixture(scope="module")
def vp_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """posesynth's VideoPose3D output of 30 generated samples: 30 subjects, 30 cameras."""
    from posesynth.jobs.generate import GenerateConfig, generate_dataset

    folder = tmp_path_factory.mktemp("vp") / "vp"
    write_any(generate_dataset(GenerateConfig(samples=30, seed=7)), folder, "videopose3d")
    return folder


def _never_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if the cameras file is read whole (json.loads of the document)."""
    from posesynth.data.formats import videopose3d

    def refuse(*args: Any, **kw: Any) -> Any:
        raise AssertionError("the cameras file was read whole")

    monkeypatch.setattr(videopose3d, "_read_cameras_file", refuse)


def test_under_the_table_limit_the_store_is_the_in_memory_one(
    vp_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = read_any(vp_source)
    write_any(whole, tmp_path / "mem", "posesynth")
    _never_whole(monkeypatch)
    for limit in (30, 10_000):  # exactly at the limit, and far under it
        out = tmp_path / f"str{limit}"
        monkeypatch.setattr(registry, "STORE_TABLE_MAX", limit)
        assert convert_streamed(vp_source, out, "posesynth", "videopose3d", rows=7) is not None
        assert folder_bytes(tmp_path / "mem") == folder_bytes(out)


def test_over_the_limit_one_camera_per_sample(vp_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = read_any(vp_source)
    _never_whole(monkeypatch)
    monkeypatch.setattr(registry, "STORE_TABLE_MAX", 29)
    made = convert_streamed(vp_source, tmp_path / "str", "posesynth", "videopose3d", rows=7)
    assert made is not None and made.samples == 30 and made.num_cameras == 30
    store = open_store(tmp_path / "str")
    assert "camera_index" not in store.array_names
    assert {"camera_intrinsics", "camera_rotation", "camera_center", "camera_name"} <= set(store.array_names)
    back = read_any(tmp_path / "str")
    assert back.camera_index is None
    want = whole.sample_cameras()
    got = back.sample_cameras()
    for f in ("intrinsics", "distortion", "rotation", "center", "image_size"):
        np.testing.assert_array_equal(getattr(got, f), getattr(want, f), err_msg=f)
    assert got.model == want.model
    np.testing.assert_array_equal(back.camera_names, np.asarray(whole.camera_names)[whole.camera_index])
    for name in ("joints_3d_world", "joints_2d", "visibility", "subject", "action", "frame"):
        a, b = getattr(back, name), getattr(whole, name)
        assert (a is None) == (b is None), name
        if a is not None:
            np.testing.assert_array_equal(a, b, err_msg=name)
    np.testing.assert_array_equal(back.extra["camera"], whole.extra["camera"])
    # the chunks: per-sample cameras, each a slice of the whole's values
    n, chunks = iter_chunks(vp_source, "videopose3d", 7)
    lo = 0
    for chunk in chunks:
        assert chunk.camera_index is None and chunk.cameras is not None
        np.testing.assert_array_equal(chunk.cameras.center, want.center[lo : lo + len(chunk)])
        lo += len(chunk)
    assert lo == n == 30


@pytest.mark.parametrize("to", ["mmpose", "trc", "videopose3d"])
def test_through_the_store_equals_the_in_memory_output(
    vp_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, to: str
) -> None:
    whole = read_any(vp_source)
    write_any(whole, tmp_path / "mem", to)
    monkeypatch.setattr(registry, "STORE_TABLE_MAX", 5)
    made = convert_streamed(vp_source, tmp_path / "str", to, "videopose3d", rows=7)
    assert made is not None
    assert_same_output(tmp_path / "mem", tmp_path / "str")


def test_cli_check_passes_over_the_limit(vp_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from posesynth.cli.main import app

    monkeypatch.setattr(registry, "STREAM_ROWS", 7)
    monkeypatch.setattr(registry, "STORE_TABLE_MAX", 10)
    result = CliRunner().invoke(app, ["convert", str(vp_source), str(tmp_path / "out"), "--to", "posesynth"])
    assert result.exit_code == 0, result.output
    assert "MPJPE 0 mm" in result.output
    assert "camera_name" in open_store(tmp_path / "out").array_names


def _cameras_file(folder: Path) -> Path:
    (path,) = folder.glob("cameras_*.json")
    return path


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def _streamed_error(src: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch, limit: int) -> str:
    monkeypatch.setattr(registry, "STORE_TABLE_MAX", limit)
    with pytest.raises(ValueError) as got:
        convert_streamed(src, tmp / f"out{limit}", "posesynth", "videopose3d", rows=7)
    assert not (tmp / f"out{limit}").exists()
    return str(got.value)


def _in_memory_error(src: Path) -> str:
    with pytest.raises(ValueError) as got:
        read_any(src)
    return str(got.value)


@pytest.mark.parametrize(
    "damage",
    [
        "bad_field",  # a subject's field not numbers
        "wrong_count",  # a subject's field with another count than its ids
        "other_model",  # a later subject of another model
        "no_ids",  # an entry without ids
        "bad_rotation",  # what Camera refuses (not a rotation): the file read whole says where
    ],
)
def test_bad_entries_give_the_in_memory_error(
    vp_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    src = _copy(vp_source, tmp_path / "src")
    path = _cameras_file(src)
    doc = json.loads(path.read_text())
    subjects = list(doc["cameras"])
    entry = doc["cameras"][subjects[20]]
    if damage == "bad_field":
        entry["cameras"]["center"] = [["x", 0, 0]]
    elif damage == "wrong_count":
        entry["cameras"]["center"] = entry["cameras"]["center"] * 2
    elif damage == "other_model":
        entry["cameras"]["model"] = "opencv"
    elif damage == "no_ids":
        del entry["ids"]
    else:
        entry["cameras"]["rotation"] = [[[2.0, 0, 0], [0, 1, 0], [0, 0, 1]]]
    path.write_text(json.dumps(doc))
    want = _in_memory_error(src)
    if damage != "bad_rotation":
        _never_whole(monkeypatch)
    for limit in (5, 10_000):  # per-sample cameras, and a table
        assert _streamed_error(src, tmp_path, monkeypatch, limit) == want


@pytest.mark.parametrize("damage", ["missing_subject", "reordered", "format", "not_json", "non_ascii"])
def test_files_not_read_entry_by_entry_are_read_whole(
    vp_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    """A subject missing, subjects in another order, a wrong format, bad JSON, non-ASCII text:
    the in-memory reader reads the file (its error, or the same store)."""
    src = _copy(vp_source, tmp_path / "src")
    path = _cameras_file(src)
    doc = json.loads(path.read_text())
    cams = doc["cameras"]
    if damage == "missing_subject":
        del cams[list(cams)[12]]
    elif damage == "reordered":
        doc["cameras"] = dict(reversed(list(cams.items())))
    elif damage == "format":
        doc["format"] = "something else"
    elif damage == "non_ascii":
        doc["about"] = "caméras"
    path.write_text(json.dumps(doc, ensure_ascii=False))
    if damage == "not_json":
        path.write_text(path.read_text()[:-3])
    if damage in ("reordered", "non_ascii"):  # readable: the in-memory store, byte for byte
        write_any(read_any(src), tmp_path / "mem", "posesynth")
        monkeypatch.setattr(registry, "STORE_TABLE_MAX", 5)
        assert convert_streamed(src, tmp_path / "str", "posesynth", "videopose3d", rows=7) is not None
        monkeypatch.setattr(registry, "STORE_TABLE_MAX", 10_000)
        assert convert_streamed(src, tmp_path / "str2", "posesynth", "videopose3d", rows=7) is not None
        assert folder_bytes(tmp_path / "mem") == folder_bytes(tmp_path / "str2")
        return
    want = _in_memory_error(src)
    assert _streamed_error(src, tmp_path, monkeypatch, 5) == want


def test_one_subject_camera_held_at_a_time(vp_source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chunks read each subject's entry once, in order, as they reach it: at most a run of
    pieces (``BLOCK`` frames, converted together) ahead of the chunk."""
    from posesynth.data.formats import videopose3d

    seen: list[str] = []
    original = videopose3d._camera_entry

    def spy(path: Path, s: str, entry: Any, model: Any) -> Any:
        seen.append(s)
        return original(path, s, entry, model)

    monkeypatch.setattr(videopose3d, "_camera_entry", spy)
    monkeypatch.setattr(registry, "STORE_TABLE_MAX", 3)
    survey = videopose3d_read.survey_source(
        vp_source / "data_3d_custom.npz", vp_source / "data_2d_custom_gt.npz", None, table_max=3
    )
    assert survey.cameras is None and survey.file_cameras is not None and survey.file_cameras.count == 30
    subjects = list(dict.fromkeys(q.subject for q in survey.seqs))
    assert seen == subjects
    seen.clear()
    monkeypatch.setattr(videopose3d_read, "BLOCK", 5)
    chunks = videopose3d_read.source_chunks(survey, 4)
    first = next(chunks)
    assert seen == subjects[:5]  # a sample per subject: the chunk's 4 and the rest of its run
    assert first.camera_names.tolist() == [f"{s}/cam{i}" for i, s in enumerate(subjects[:4])]
    rest = list(chunks)
    assert seen == subjects and sum(map(len, rest)) == 26


def test_streamed_mmpose_writer_names_the_sample_in_the_whole_data_set(tmp_path: Path) -> None:
    """A NaN in the second chunk: the error names its index in the whole data set, as
    ``write_mmpose`` of the whole does, and nothing is written."""
    from posesynth.data.formats.mmpose import write_mmpose, write_mmpose_chunks
    from posesynth.jobs.generate import GenerateConfig, generate_dataset

    ds = generate_dataset(GenerateConfig(samples=12, seed=3))
    uv = np.array(ds.joints_2d, dtype=np.float64)
    uv[9, 4, 1] = np.nan
    from dataclasses import replace

    ds = replace(ds, joints_2d=uv)
    with pytest.raises(ValueError) as whole:
        write_mmpose(ds, tmp_path / "whole")
    chunks = [ds.select(slice(lo, lo + 5)) for lo in range(0, 12, 5)]
    with pytest.raises(ValueError, match=r"first at index \(9, 4, 1\)") as streamed:
        write_mmpose_chunks(chunks, tmp_path / "out")
    assert str(streamed.value) == str(whole.value)
    assert not (tmp_path / "out").exists()
