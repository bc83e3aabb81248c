"""``convert`` from TRC streams: a ``.trc`` (or a folder of them) read in row blocks
(:func:`~posesynth.data.formats.trc.survey_trc`, :func:`~posesynth.data.formats.registry.iter_chunks`)
and written into a store shard by shard: the chunks are slices of the in-memory read, the store
equals the in-memory store byte for byte, and bad rows give the in-memory error with nothing written."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from helpers import streamed_same_error
from posesynth.body.skeleton import H36M17, H36M_EXTENDED
from posesynth.cli.main import app
from posesynth.data.dataset import PoseDataset
from posesynth.data.formats import registry
from posesynth.data.formats.registry import convert_streamed, iter_chunks, read_any, write_any
from posesynth.data.formats.trc import write_trc_sequences
from posesynth.jobs.generate import GenerateConfig, generate_dataset

runner = CliRunner()


def _files(folder: Path) -> dict[str, bytes]:
    return {str(f.relative_to(folder)): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()}


def _world(n: int, seed: int, skeleton=H36M_EXTENDED) -> np.ndarray:
    ds = generate_dataset(GenerateConfig(samples=n, seed=seed, skeleton=skeleton.name))
    world = ds.complete().joints_3d_world
    assert world is not None
    return world.copy()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three sequences (ids of different widths: the whole's strings are the widest), each
    with markers missing in some rows (empty cells), frames rising from 3, a time column."""
    root = tmp_path_factory.mktemp("trcsrc")
    world = _world(150, 11)
    seq = np.repeat([0, 1, 2], [70, 45, 35])
    world[[3, 80, 140], 5] = np.nan  # a missing marker in each file
    subject = np.array(["S1", "S10", "P"])[seq]
    action = np.array(["walk", "sit", "jumping-jacks"])[seq]
    frame = np.concatenate([np.arange(3, 73), np.arange(45), np.arange(10, 45)])
    ds = PoseDataset(skeleton=H36M_EXTENDED, joints_3d_world=world, subject=subject, action=action, frame=frame)
    write_trc_sequences(ds, root / "seq", rate=60.0)
    return root / "seq"


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 17-marker file (read as h36m17), 130 rows, a marker missing in row 60 only."""
    root = tmp_path_factory.mktemp("trc1")
    world = _world(130, 12, H36M17)
    world[60, 2] = np.nan
    ds = PoseDataset(skeleton=H36M17, joints_3d_world=world)
    write_trc_sequences(ds, root / "one")
    return root / "one" / "posesynth.trc"


def _assert_chunks_are_slices(path: Path, rows: int) -> None:
    whole = read_any(path)
    n, chunks = iter_chunks(path, "trc", rows)
    assert n == len(whole)
    lo = 0
    for chunk in chunks:
        assert len(chunk) == min(rows, n - lo)
        ref = whole.select(slice(lo, lo + len(chunk)))
        for name in ("joints_3d_world", "visibility", "subject", "action", "frame"):
            a, b = getattr(chunk, name), getattr(ref, name)
            assert (a is None) == (b is None), name
            if a is not None:
                assert a.dtype == b.dtype, name
                np.testing.assert_array_equal(a, b, err_msg=name)
        np.testing.assert_array_equal(chunk.extra["time"], ref.extra["time"])
        assert chunk.meta == whole.meta and chunk.skeleton.name == whole.skeleton.name
        lo += len(chunk)
    assert lo == n


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 160))
def test_folder_chunks_are_slices_of_the_whole(folder: Path, rows: int) -> None:
    _assert_chunks_are_slices(folder, rows)


@settings(max_examples=10, deadline=None)
@given(rows=st.integers(1, 140))
def test_single_file_chunks_are_slices_of_the_whole(single: Path, rows: int) -> None:
    _assert_chunks_are_slices(single, rows)
    assert read_any(single).visibility is not None  # one missing marker: a visibility for every chunk


@settings(max_examples=12, deadline=None)
@given(rows=st.integers(1, 149), shard=st.integers(8, 160))  # 1-sample shards: covered by the seed's test
def test_store_bytes_equal_in_memory(folder: Path, rows: int, shard: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        write_any(read_any(folder), out / "mem", "posesynth", shard_size=shard)
        done = convert_streamed(folder, out / "str", "posesynth", "trc", rows=rows, shard_size=shard)
        assert done is not None and done.samples == 150 and done.rows == rows and done.num_cameras == 0
        assert done.skeleton.name == "h36m_extended"
        assert _files(out / "str") == _files(out / "mem")


def test_single_file_store_bytes_equal_in_memory(single: Path, tmp_path: Path) -> None:
    write_any(read_any(single), tmp_path / "mem", "posesynth")
    done = convert_streamed(single, tmp_path / "str", "posesynth", "trc", rows=40)
    assert done is not None and done.skeleton.name == "h36m17"
    assert _files(tmp_path / "str") == _files(tmp_path / "mem")


def test_small_source_is_not_streamed(single: Path, tmp_path: Path) -> None:
    assert convert_streamed(single, tmp_path / "o", "posesynth", "trc", rows=130) is None
    assert not (tmp_path / "o").exists()


def _copy_with(path: Path, dst: Path, line: int, edit) -> Path:
    lines = path.read_text().split("\n")
    lines[line - 1] = edit(lines[line - 1])
    dst.write_text("\n".join(lines))
    return dst


def test_bad_cell_same_error_nothing_written(single: Path, tmp_path: Path) -> None:
    # line 7 + 100: row 100; its 5th cell (marker 1's Z) made text
    bad = _copy_with(
        single,
        tmp_path / "bad.trc",
        107,
        lambda ln: "\t".join(c if i != 4 else "1.0x" for i, c in enumerate(ln.split("\t"))),
    )
    msg = streamed_same_error(bad, tmp_path / "out", "trc")
    assert "line 107" in msg and "'root' Z" in msg


def test_short_row_and_count_same_error(single: Path, tmp_path: Path) -> None:
    short = _copy_with(single, tmp_path / "short.trc", 120, lambda ln: "\t".join(ln.split("\t")[:-3]))
    assert "line 120" in streamed_same_error(short, tmp_path / "out", "trc")
    text = single.read_text()
    (tmp_path / "more.trc").write_text(text + text.split("\n")[-2] + "\n")
    assert "NumFrames says 130, found 131" in streamed_same_error(tmp_path / "more.trc", tmp_path / "out2", "trc")
    # a bad row and a row too many: the count is told first, as in memory
    both = _copy_with(tmp_path / "more.trc", tmp_path / "both.trc", 10, lambda ln: ln.replace("\t", "\tx", 1))
    assert "NumFrames" in streamed_same_error(both, tmp_path / "out3", "trc")


def test_out_of_bounds_named_by_its_sample_in_the_whole(single: Path, tmp_path: Path) -> None:
    def far(ln: str) -> str:
        cells = ln.split("\t")
        cells[3] = "5000.0"
        return "\t".join(cells)

    bad = _copy_with(single, tmp_path / "far.trc", 7 + 93, far)
    assert "at sample 93" in streamed_same_error(bad, tmp_path / "out", "trc")


def test_files_with_and_without_missing_markers_join(folder: Path, tmp_path: Path) -> None:
    """A file with nothing missing beside files with missing markers: its markers are all
    there (visibility 1), in memory and streamed alike, to the same bytes."""
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for f in folder.iterdir():
        (mixed / f.name).write_bytes(f.read_bytes())
    ds = PoseDataset(skeleton=H36M_EXTENDED, joints_3d_world=_world(30, 13))
    write_trc_sequences(ds, tmp_path / "clean")
    (mixed / "Z_clean.trc").write_bytes((tmp_path / "clean" / "posesynth.trc").read_bytes())
    whole = read_any(mixed)
    assert read_any(folder).visibility is not None and whole.visibility is not None
    clean = whole.subject == "Z"
    assert clean.sum() == 30 and (whole.visibility[clean] == 1.0).all()
    _assert_chunks_are_slices(mixed, 37)
    write_any(whole, tmp_path / "mem", "posesynth", shard_size=50)
    done = convert_streamed(mixed, tmp_path / "str", "posesynth", "trc", rows=37, shard_size=50)
    assert done is not None and done.samples == 180
    assert _files(tmp_path / "str") == _files(tmp_path / "mem")


def test_cli_trc_to_store_streams_and_checks(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "STREAM_ROWS", 40)
    out = tmp_path / "st"
    res = runner.invoke(app, ["convert", str(folder), str(out), "--to", "posesynth", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["check"]["ok"] and doc["check"]["chunks"] == 4 and doc["samples"] == 150
    write_any(read_any(folder), tmp_path / "mem", "posesynth")
    assert _files(out) == _files(tmp_path / "mem")
