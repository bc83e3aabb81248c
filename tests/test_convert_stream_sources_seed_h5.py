"""``convert`` from the seed's ``.h5`` streams: the datasets read in slices
(:func:`~posesynth.data.formats.seed_h5.read_seed_h5_chunks`), every chunk a slice of the
in-memory read, the store byte for byte the in-memory store, bad input the in-memory error with
nothing written."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from helpers import streamed_same_error
from posesynth.cli.main import app
from posesynth.data.formats import registry
from posesynth.data.formats.registry import convert_streamed, iter_chunks, read_any, write_any
from test_format_seed_h5 import make_fixture, rewrite_h5

runner = CliRunner()
N = 90


def _files(folder: Path) -> dict[str, bytes]:
    return {str(f.relative_to(folder)): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()}


def _names(n: int) -> list[str]:
    """Two subjects, three cameras, actions of different lengths: a camera table of 6, by
    first appearance, and string widths that differ between chunks."""
    subjects = ["S9", "S11", "S9"]
    cameras = ["55011271", "54138969", "60457274"]
    actions = ["Posing_1", "Walk", "Directions_1"]
    out = []
    for i in range(n):
        k = (i // 7) % 3
        out.append(f"{subjects[k]}_{actions[(i // 11) % 3]}.{cameras[(i // 5) % 3]}_{i + 1:06d}.jpg")
    return out


@pytest.fixture(scope="module")
def h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("seed")
    fx = make_fixture(root, n=N)
    rewrite_h5(fx["h5"], imgname=np.array([s.encode() for s in _names(N)]))
    return fx["h5"]


@pytest.fixture(scope="module")
def h5_variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Layouts the reader accepts: S as MATLAB's (N, 3, 17), a visibility column, names as
    transposed character codes; names that do not parse (no ids, no cameras); no names."""
    out = {}
    for kind in ("matlab", "unparsed", "nonames", "unknown"):
        root = tmp_path_factory.mktemp(kind)
        fx = make_fixture(root, n=N, s_layout="N3x17" if kind == "matlab" else "N17x3")
        if kind == "matlab":
            names = _names(N)
            codes = np.zeros((N, 40), np.uint16)
            for i, s in enumerate(names):
                codes[i, : len(s)] = [ord(c) for c in s]
            with h5py.File(fx["h5"], "r") as f:
                part = f["part"][()]
            vis = (np.arange(N * 17).reshape(N, 17, 1) % 3 > 0).astype(float)
            rewrite_h5(fx["h5"], imgname=codes.T, part=np.concatenate([part, vis], axis=-1))
        elif kind == "unparsed":
            names = _names(N)
            names[50] = "frame_fifty.jpg"  # after the first chunks: the whole has no ids
            rewrite_h5(fx["h5"], imgname=np.array(names, dtype=h5py.string_dtype()))
        elif kind == "unknown":  # ids parse, but S2 is no Human3.6M subject with cameras: no cameras
            names = [n.replace("S11_", "S2_") for n in _names(N)]
            rewrite_h5(fx["h5"], imgname=np.array(names, dtype=h5py.string_dtype()))
        else:
            rewrite_h5(fx["h5"], imgname=None)
        out[kind] = fx["h5"]
    return out


def _assert_chunks_are_slices(path: Path, rows: int) -> None:
    whole = read_any(path)
    n, chunks = iter_chunks(path, "seed_h5", rows)
    assert n == len(whole) == N
    lo = 0
    for chunk in chunks:
        assert len(chunk) == min(rows, n - lo)
        ref = whole.select(slice(lo, lo + len(chunk)))
        for name in ("joints_3d_camera", "joints_3d_world", "joints_2d", "visibility", "subject", "action", "frame"):
            a, b = getattr(chunk, name), getattr(ref, name)
            assert (a is None) == (b is None), name
            if a is not None:
                assert a.dtype == b.dtype, name
                np.testing.assert_array_equal(a, b, err_msg=name)
        assert list(chunk.extra) == list(ref.extra)
        for key in chunk.extra:
            assert chunk.extra[key].dtype == ref.extra[key].dtype, key
            np.testing.assert_array_equal(chunk.extra[key], ref.extra[key], err_msg=key)
        assert (chunk.cameras is None) == (ref.cameras is None)
        if chunk.cameras is not None:
            np.testing.assert_array_equal(chunk.camera_index, ref.camera_index)
            np.testing.assert_array_equal(chunk.camera_names, ref.camera_names)
            for f in ("intrinsics", "distortion", "rotation", "center", "image_size"):
                np.testing.assert_array_equal(getattr(chunk.cameras, f), getattr(ref.cameras, f), err_msg=f)
        assert chunk.meta == whole.meta
        lo += len(chunk)
    assert lo == n


@settings(max_examples=20, deadline=None)
@given(rows=st.integers(1, N + 5))
def test_chunks_are_slices_of_the_whole(h5: Path, rows: int) -> None:
    _assert_chunks_are_slices(h5, rows)


@pytest.mark.parametrize("kind", ["matlab", "unparsed", "nonames", "unknown"])
@pytest.mark.parametrize("rows", [1, 16, 89])
def test_layouts_chunks_are_slices(h5_variants: dict[str, Path], kind: str, rows: int) -> None:
    _assert_chunks_are_slices(h5_variants[kind], rows)


def test_the_fixture_covers_the_cases(h5: Path, h5_variants: dict[str, Path]) -> None:
    assert read_any(h5).num_cameras == 6
    assert read_any(h5_variants["matlab"]).visibility is not None
    unparsed = read_any(h5_variants["unparsed"])
    assert unparsed.subject is None and "frame_fifty" in unparsed.meta["imgname_unparsed"]
    assert "imgname" not in read_any(h5_variants["nonames"]).extra
    unknown = read_any(h5_variants["unknown"])
    assert unknown.cameras is None and "S2" in set(unknown.subject.tolist())


@settings(max_examples=15, deadline=None)
@given(rows=st.integers(1, N - 1), shard=st.integers(1, N + 10))
def test_store_bytes_equal_in_memory(h5: Path, rows: int, shard: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        write_any(read_any(h5), out / "mem", "posesynth", shard_size=shard)
        done = convert_streamed(h5, out / "str", "posesynth", "seed_h5", rows=rows, shard_size=shard)
        assert done is not None and done.samples == N and done.num_cameras == 6
        assert _files(out / "str") == _files(out / "mem")


@pytest.mark.parametrize("kind", ["matlab", "unparsed", "nonames", "unknown"])
def test_layouts_store_bytes_equal_in_memory(h5_variants: dict[str, Path], kind: str, tmp_path: Path) -> None:
    write_any(read_any(h5_variants[kind]), tmp_path / "mem", "posesynth")
    assert convert_streamed(h5_variants[kind], tmp_path / "str", "posesynth", "seed_h5", rows=17) is not None
    assert _files(tmp_path / "str") == _files(tmp_path / "mem")


def _bad_copy(h5: Path, tmp_path: Path, **changes) -> Path:
    dst = tmp_path / "bad.h5"
    dst.write_bytes(h5.read_bytes())
    rewrite_h5(dst, **changes)
    return dst


@pytest.mark.parametrize("key", ["S", "part", "center", "scale", "zind"])
def test_nan_named_by_its_index_in_the_whole(h5: Path, tmp_path: Path, key: str) -> None:
    with h5py.File(h5, "r") as f:
        arr = f[key][()].astype(float)
    arr[[61, 75]] = np.nan  # two samples after the first chunks: the count and first index of the whole
    msg = streamed_same_error(_bad_copy(h5, tmp_path, **{key: arr}), tmp_path / "out", "seed_h5")
    assert f"{key}: expected finite values" in msg and "(first at index (61" in msg


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("S", np.zeros((N, 16, 3)), "S: expected shape"),
        ("part", np.zeros((N, 17, 4)), "part: expected shape"),
        ("part", np.zeros((N - 1, 17, 2)), "part: expected 90 samples"),
        ("center", np.zeros((N + 1, 2)), "center: expected 90 samples"),
        ("scale", np.zeros((N, 3)), "scale: expected shape"),
        ("imgname", np.array([b"a"] * 8), "imgname: expected 90 samples"),
        ("imgname", np.zeros(N), "imgname: expected (N,) strings"),
        ("imgname", np.full((N, 3), -1, np.int32), "imgname: character codes out of range"),
        ("part", None, "missing dataset(s) ['part']"),
    ],
)
def test_bad_layout_same_error(h5: Path, tmp_path: Path, key: str, value, message: str) -> None:
    assert message in streamed_same_error(_bad_copy(h5, tmp_path, **{key: value}), tmp_path / "out", "seed_h5")


def test_bad_name_bytes_same_error(h5: Path, tmp_path: Path) -> None:
    names = [s.encode() for s in _names(N)]
    names[70] = b"\xff\xfe"
    assert "imgname[70]: not UTF-8" in streamed_same_error(
        _bad_copy(h5, tmp_path, imgname=np.array(names)), tmp_path / "o", "seed_h5"
    )


def test_out_of_bounds_named_by_its_sample_in_the_whole(h5: Path, tmp_path: Path) -> None:
    with h5py.File(h5, "r") as f:
        part = f["part"][()]
    part[77, 3, 0] = 5e6  # px beyond the validator's bound
    assert "at sample 77" in streamed_same_error(_bad_copy(h5, tmp_path, part=part), tmp_path / "out", "seed_h5")


def test_small_file_is_not_streamed(h5: Path, tmp_path: Path) -> None:
    assert convert_streamed(h5, tmp_path / "o", "posesynth", "seed_h5", rows=N) is None
    assert not (tmp_path / "o").exists()


def test_cli_seed_h5_to_store_streams_and_checks(h5: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "STREAM_ROWS", 25)
    out = tmp_path / "st"
    res = runner.invoke(app, ["convert", str(h5), str(out), "--to", "posesynth", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["check"]["ok"] and doc["check"]["chunks"] == 4 and doc["samples"] == N and doc["cameras"] == 6
    write_any(read_any(h5), tmp_path / "mem", "posesynth")
    assert _files(out) == _files(tmp_path / "mem")
