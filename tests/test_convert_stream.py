"""``convert`` streaming beyond store -> MMPose: TRC written chunk by chunk (same bytes as in
memory), read back in the store's chunks, and the CLI's streamed check."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from posesynth.cli.main import app
from posesynth.data.formats import registry
from posesynth.data.formats.registry import convert_streamed, iter_chunks, read_any, write_any
from posesynth.data.formats.store_io import write_store_dataset
from posesynth.data.formats.trc import TrcRows, plan_trc_sequences, read_trc, write_trc_sequences
from posesynth.data.roundtrip import compare_chunked, compare_datasets
from posesynth.jobs.generate import GenerateConfig, generate_dataset

runner = CliRunner()


def _files(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stream")
    ds = generate_dataset(GenerateConfig(samples=230, seed=5))
    return write_store_dataset(ds, root / "g")


@pytest.fixture(scope="module")
def sequences(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of three interleaved (subject, action) sequences with rising frames and a time."""
    root = tmp_path_factory.mktemp("seq")
    ds = generate_dataset(GenerateConfig(samples=210, seed=6))
    n = len(ds)
    seq = np.arange(n) % 3
    subject = np.array(["S1", "S2", "S1"])[seq]
    action = np.array(["walk", "walk", "sit"])[seq]
    frame = (np.arange(n) // 3) * 2 + seq  # rising within each sequence, not starting at 0
    ds = replace(ds, subject=subject, action=action, frame=frame, extra={**ds.extra, "time": frame / 25.0})
    return write_store_dataset(ds, root / "s")


@pytest.mark.parametrize("rows", [1, 37, 100, 229])
def test_trc_streamed_bytes_equal_in_memory(generated: Path, tmp_path: Path, rows: int) -> None:
    write_any(read_any(generated), tmp_path / "mem", "trc")
    done = convert_streamed(generated, tmp_path / "str", "trc", "posesynth", rows=rows)
    assert done is not None and done.samples == 230 and done.rows == rows
    assert _files(tmp_path / "str") == _files(tmp_path / "mem")
    assert [p.name for p in done.written] == ["posesynth.trc"]


@pytest.mark.parametrize("rows", [7, 64])
def test_trc_streamed_sequences_bytes_and_check(sequences: Path, tmp_path: Path, rows: int) -> None:
    write_trc_sequences(read_any(sequences), tmp_path / "mem")
    done = convert_streamed(sequences, tmp_path / "str", "trc", "posesynth", rows=rows)
    assert done is not None and done.read_back is not None
    assert _files(tmp_path / "str") == _files(tmp_path / "mem")
    assert sorted(_files(tmp_path / "str")) == ["S1_sit.trc", "S1_walk.trc", "S2_walk.trc"]
    # the aligned read back: chunked comparison equals the whole one
    whole = compare_datasets(read_any(sequences), read_any(tmp_path / "str"))
    chunked = compare_chunked(iter_chunks(sequences, "posesynth", rows)[1], done.read_back())
    assert whole.ok and chunked.ok, (whole.problems, chunked.problems)
    assert chunked.samples_in == chunked.samples_out == chunked.matched == 210
    assert chunked.aligned_by == "order"
    assert chunked.chunks == -(-210 // rows)
    assert chunked.check("joints_3d_world").max_abs == whole.check("joints_3d_world").max_abs


def test_trc_read_back_catches_a_changed_row(sequences: Path, tmp_path: Path) -> None:
    done = convert_streamed(sequences, tmp_path / "str", "trc", "posesynth", rows=50)
    assert done is not None and done.read_back is not None
    path = tmp_path / "str" / "S1_walk.trc"
    lines = path.read_text().split("\n")
    cells = lines[20].split("\t")
    cells[5] = repr(float(cells[5]) + 0.01)  # 1 cm on one coordinate
    lines[20] = "\t".join(cells)
    path.write_text("\n".join(lines))
    result = compare_chunked(iter_chunks(sequences, "posesynth", 50)[1], done.read_back())
    assert not result.ok
    assert any("joints_3d_world" in p for p in result.problems)


def test_trc_not_streamed_when_frames_fold(tmp_path: Path) -> None:
    """Two cameras per frame (one TRC row per frame) or frames out of order: in memory."""
    ds = generate_dataset(GenerateConfig(samples=40, seed=2))
    two = replace(ds, subject=np.full(40, "S1"), frame=np.arange(40) // 2)
    store = write_store_dataset(two, tmp_path / "two")
    assert convert_streamed(store, tmp_path / "o1", "trc", "posesynth", rows=10) is None
    back = replace(ds, subject=np.full(40, "S1"), frame=np.arange(40)[::-1].copy())
    store = write_store_dataset(back, tmp_path / "back")
    assert convert_streamed(store, tmp_path / "o2", "trc", "posesynth", rows=10) is None
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_plan_refuses_repeated_frames_across_chunks() -> None:
    s = np.full(2, "S1")
    ok = plan_trc_sequences([(2, s, None, np.array([0, 1])), (2, s, None, np.array([2, 5]))])
    assert ok is not None and ok.counts == {"S1_posesynth": 4} and ok.first_frame == {"S1_posesynth": 0}
    assert plan_trc_sequences([(2, s, None, np.array([0, 1])), (2, s, None, np.array([1, 2]))]) is None


def test_trc_rows_blocks_equal_read_trc(generated: Path, tmp_path: Path) -> None:
    write_any(read_any(generated), tmp_path / "t", "trc")
    path = tmp_path / "t" / "posesynth.trc"
    whole = read_trc(path, "h36m17")
    lo = 0
    with TrcRows(path, "h36m17") as reader:
        assert len(reader) == 230
        for k in (1, 100, 129):
            part = reader.take(k)
            ref = whole.select(slice(lo, lo + k))
            for name in ("joints_3d_world", "frame", "subject"):
                np.testing.assert_array_equal(getattr(part, name), getattr(ref, name))
            np.testing.assert_array_equal(part.extra["time"], ref.extra["time"])
            lo += k
        with pytest.raises(ValueError, match="NumFrames says 230, found 230 data rows"):
            reader.take(1)


def test_trc_rows_extra_rows_refused(generated: Path, tmp_path: Path) -> None:
    write_any(read_any(generated), tmp_path / "t", "trc")
    path = tmp_path / "t" / "posesynth.trc"
    text = path.read_text()
    path.write_text(text + text.split("\n")[-2] + "\n")  # the last row twice
    with TrcRows(path, "h36m17") as reader, pytest.raises(ValueError, match="found 231 data rows"):
        reader.take(230)


def test_cli_convert_trc_streams_and_checks(generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "STREAM_ROWS", 50)
    out = tmp_path / "trc"
    res = runner.invoke(app, ["convert", str(generated), str(out), "--to", "trc", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["samples"] == 230 and doc["check"]["ok"] and doc["check"]["chunks"] == 5
    assert doc["check"]["samples"] == 230 and doc["mpjpe_mm"] < 1e-3
    write_any(read_any(generated), tmp_path / "mem", "trc")
    assert _files(out) == _files(tmp_path / "mem")
