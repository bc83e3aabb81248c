"""``convert`` from VideoPose3D streams: ``data_3d_*.npz`` / ``data_2d_*.npz`` as VideoPose3D's
own scripts write them (one pickled dict per field, ``np.savez`` / ``np.savez_compressed`` or a
plain ``pickle`` of any protocol) or as posesynth writes them, read a subject at a time
(:mod:`posesynth.data.formats.videopose3d_read`): the chunks are slices of the in-memory read,
the store equals the in-memory store byte for byte, bad input gives the in-memory error with
nothing written, and a pickle that refers back to a subject already handed on is read whole."""

from __future__ import annotations

import io
import pickle
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers import streamed_same_error
from posesynth.data.formats import videopose3d_read
from posesynth.data.formats.registry import convert_streamed, iter_chunks, read_any, write_any
from posesynth.data.formats.videopose3d_read import GiveUp, dict_items

H36M_META = {
    "layout_name": "h36m",
    "num_joints": 17,
    "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]],
}
COCO_META = {
    "layout_name": "coco",
    "num_joints": 17,
    "keypoints_symmetry": [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]],
}


def _files(folder: Path) -> dict[str, bytes]:
    return {str(f.relative_to(folder)): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()}


def _h36m(seed: int, dtype: Any = np.float32, joints_3d: int = 32, extra_2d: int = 2) -> tuple[dict, dict]:
    """Human3.6M's shape: subjects with published cameras, 4 views each, 2D a few frames
    longer than 3D (as VideoPose3D's files), one 2D sequence without 3D, a missing point."""
    rng = np.random.default_rng(seed)
    p3: dict[str, dict[str, np.ndarray]] = {}
    p2: dict[str, dict[str, list[np.ndarray]]] = {}
    for s in ("S1", "S5", "S11"):
        p3[s], p2[s] = {}, {}
        for a in ("Walking 1", "Eating", "SittingDown 2")[: 2 + (s == "S5")]:
            t = int(rng.integers(4, 12))
            p3[s][a] = (rng.normal(0, 0.3, size=(t, joints_3d, 3)) + [0, 0, 1]).astype(dtype)
            p2[s][a] = [rng.uniform(10, 990, size=(t + extra_2d, 17, 2)).astype(dtype) for _ in range(4)]
    p2["S5"]["Eating"][1][3, 4] = np.nan
    p2["S11"]["Extra"] = [rng.uniform(10, 990, size=(3, 17, 2)).astype(dtype) for _ in range(4)]
    return p3, p2


def _npy_pickle(value: Any, protocol: int) -> bytes:
    holder = np.empty((), dtype=object)
    holder[()] = value
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, np.lib.format.header_data_from_array_1_0(holder))
    return buf.getvalue() + pickle.dumps(holder, protocol=protocol)


def _save(folder: Path, how: str, p3: dict | None, p2: dict | None, meta: dict = H36M_META) -> Path:
    """The files as VideoPose3D saves them: ``savez_compressed``, ``savez``, or members that
    are a plain ``pickle.dumps`` of protocol ``pN`` (deflated)."""
    folder.mkdir(parents=True)
    fields = {}
    if p3 is not None:
        fields["data_3d_h36m.npz"] = {"positions_3d": p3}
    if p2 is not None:
        fields["data_2d_h36m_gt.npz"] = {"positions_2d": p2, "metadata": meta}
    for name, members in fields.items():
        if how == "compressed":
            np.savez_compressed(folder / name, **members)
        elif how == "plain":
            np.savez(folder / name, **members)
        else:
            protocol = int(how[1:])
            with zipfile.ZipFile(folder / name, "w", zipfile.ZIP_DEFLATED) as z:
                for key, value in members.items():
                    z.writestr(f"{key}.npy", _npy_pickle(value, protocol))
    return folder


def _same_store(source: Path, tmp: Path, rows: int = 7) -> None:
    whole = read_any(source)
    write_any(whole, tmp / "mem", "posesynth")
    streamed = convert_streamed(source, tmp / "str", "posesynth", "videopose3d", rows=rows)
    assert streamed is not None, "expected the streamed path"
    assert streamed.samples == len(whole)
    assert _files(tmp / "mem") == _files(tmp / "str")
    n, chunks = iter_chunks(source, "videopose3d", rows)
    assert n == len(whole)
    lo = 0
    for chunk in chunks:
        ref = whole.select(slice(lo, lo + len(chunk)))
        for name in ("joints_3d_world", "joints_2d", "visibility", "subject", "action", "frame", "camera_index"):
            a, b = getattr(chunk, name), getattr(ref, name)
            assert (a is None) == (b is None), name
            if a is not None:
                assert a.dtype == b.dtype, name
                np.testing.assert_array_equal(a, b, err_msg=name)
        assert chunk.meta == whole.meta
        lo += len(chunk)
    assert lo == len(whole)


@pytest.mark.parametrize("how", ["compressed", "plain", "p2", "p3", "p4", "p5"])
def test_videopose3d_files_stream_into_the_same_store(tmp_path: Path, how: str) -> None:
    p3, p2 = _h36m(1)
    src = _save(tmp_path / "src", how, p3, p2)
    _same_store(src, tmp_path)


def test_float64_17_joints_and_either_file_alone(tmp_path: Path) -> None:
    """A plain pickle of float64 arrays (17-joint 3D, 2D as long as 3D), the folder and each
    file on its own (3D only; 2D only, no twin beside it)."""
    p3, p2 = _h36m(2, dtype=np.float64, joints_3d=17, extra_2d=0)
    src = _save(tmp_path / "both", "p4", p3, p2)
    _same_store(src, tmp_path / "a")
    _same_store(src / "data_3d_h36m.npz", tmp_path / "b")
    only_3d = _save(tmp_path / "only3d", "compressed", p3, None)
    _same_store(only_3d / "data_3d_h36m.npz", tmp_path / "c")
    only_2d = _save(tmp_path / "only2d", "compressed", None, p2)
    _same_store(only_2d / "data_2d_h36m_gt.npz", tmp_path / "d")


def test_coco_2d_with_scores_and_no_cameras(tmp_path: Path) -> None:
    """COCO-17 2D with a score column (visibility from it, converted to Human3.6M-17), subjects
    without published cameras (no camera table), video_metadata in the metadata."""
    rng = np.random.default_rng(3)
    p3 = {f"P{i}": {"jump": rng.normal(size=(5 + i, 17, 3)).astype(np.float32)} for i in range(4)}
    p2 = {
        s: {
            "jump": [
                np.concatenate(
                    [rng.uniform(0, 500, (len(v["jump"]), 17, 2)), rng.uniform(0, 1, (len(v["jump"]), 17, 1))], -1
                )
            ]
        }
        for s, v in p3.items()
    }
    meta = {**COCO_META, "video_metadata": {s: {"w": 640, "h": 480} for s in p3}}
    src = _save(tmp_path / "src", "compressed", p3, p2, meta)
    _same_store(src, tmp_path, rows=4)


def test_posesynth_written_files_stream(tmp_path: Path) -> None:
    """posesynth's own output (batched pickles, its cameras file, a subject per sample)."""
    from posesynth.jobs.generate import GenerateConfig, generate_dataset

    ds = generate_dataset(GenerateConfig(samples=40, seed=5))
    write_any(ds, tmp_path / "vp", "videopose3d")
    _same_store(tmp_path / "vp", tmp_path, rows=9)


def test_subjects_are_handed_on_before_the_dict_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk hands a subject on once the next one starts, not when the pickle's SETITEMS
    closes the dict: at most one subject is on the unpickler's stack."""
    p3, _ = _h36m(4)
    src = _save(tmp_path / "src", "compressed", p3, None)
    most = []
    original = videopose3d_read._ItemsUnpickler._hand_on

    def spy(self: Any, pairs: list) -> None:
        most.append(sum(isinstance(v, dict) for level in [*self.metastack, self.stack] for v in level))
        original(self, pairs)

    monkeypatch.setattr(videopose3d_read._ItemsUnpickler, "_hand_on", spy)
    got = list(dict_items(src / "data_3d_h36m.npz", "positions_3d"))
    assert [s for s, _ in got] == list(p3)
    assert len(most) == len(p3)  # two handed on early, the last at SETITEMS
    assert max(most) <= 3  # the top dict, the subject handed on, the next subject's dict


def test_a_pickle_referring_back_is_read_whole(tmp_path: Path) -> None:
    """The same array object in two subjects: the pickler writes a memo GET to the first
    subject's array; the walk gives up and the conversion runs in memory (same store)."""
    p3, p2 = _h36m(6)
    p3["S11"]["Walking 1"] = p3["S1"]["Walking 1"]
    p2["S11"]["Walking 1"] = p2["S1"]["Walking 1"]
    src = _save(tmp_path / "src", "compressed", p3, p2)
    with pytest.raises(GiveUp):
        list(dict_items(src / "data_3d_h36m.npz", "positions_3d"))
    whole = read_any(src)
    write_any(whole, tmp_path / "mem", "posesynth")
    assert convert_streamed(src, tmp_path / "str", "posesynth", "videopose3d", rows=7) is None


def test_subjects_in_another_order_are_read_whole(tmp_path: Path) -> None:
    p3, p2 = _h36m(7)
    p2 = dict(reversed(list(p2.items())))
    src = _save(tmp_path / "src", "compressed", p3, p2)
    assert convert_streamed(src, tmp_path / "str", "posesynth", "videopose3d", rows=7) is None


def _bad(tmp_path: Path, name: str, change: Any, meta: dict = H36M_META) -> str:
    p3, p2 = _h36m(8)
    change(p3, p2)
    src = _save(tmp_path / name, "compressed", p3, p2, meta)
    return streamed_same_error(src, tmp_path / f"{name}-out", "videopose3d", rows=5)


def test_bad_input_gives_the_in_memory_error(tmp_path: Path) -> None:
    def inf_3d(p3: dict, p2: dict) -> None:
        p3["S5"]["Eating"][2, 3, 1] = np.inf

    def short_2d(p3: dict, p2: dict) -> None:
        p2["S11"]["Eating"][2] = p2["S11"]["Eating"][2][:1]

    def missing_2d(p3: dict, p2: dict) -> None:
        del p2["S5"]["Walking 1"]

    def joints_3d(p3: dict, p2: dict) -> None:
        p3["S11"]["Eating"] = p3["S11"]["Eating"][:, :17]

    def not_str(p3: dict, p2: dict) -> None:
        p3["S11"][3] = p3["S11"]["Eating"]
        p3["S1"]["Eating"][0, 0, 0] = np.inf  # an earlier array's error: the names are checked first

    def empty_views(p3: dict, p2: dict) -> None:
        p2["S1"]["Eating"] = []

    def dims_2d(p3: dict, p2: dict) -> None:
        p2["S5"]["Eating"][0] = p2["S5"]["Eating"][0][..., :1]

    assert "expected finite values" in _bad(tmp_path, "inf", inf_3d)
    assert "fewer than the" in _bad(tmp_path, "short", short_2d)
    assert "missing S5/Walking 1" in _bad(tmp_path, "missing", missing_2d)
    assert "expected 32 joints like the other sequences" in _bad(tmp_path, "joints", joints_3d)
    assert "expected action names (str)" in _bad(tmp_path, "names", not_str)
    assert "non-empty list" in _bad(tmp_path, "views", empty_views)
    assert "expected shape" in _bad(tmp_path, "dims", dims_2d)
    assert "keypoints_symmetry" in _bad(
        tmp_path, "sym", lambda a, b: None, {**H36M_META, "keypoints_symmetry": [[1], [2]]}
    )
    assert "num_joints" in _bad(tmp_path, "num", lambda a, b: None, {**H36M_META, "num_joints": 16})


def _read_whole_with_the_error(src: Path, out: Path) -> str:
    """The walk gives up (nothing written), so ``convert`` reads the files whole, which raises."""
    with pytest.raises(ValueError) as mem:
        read_any(src)
    assert convert_streamed(src, out, "posesynth", "videopose3d", rows=5) is None
    assert not out.exists()
    return str(mem.value)


def test_refused_global_and_damaged_member(tmp_path: Path) -> None:
    """A pickle naming another global, and a truncated member: read whole (its error)."""
    p3, p2 = _h36m(9)
    src = _save(tmp_path / "src", "compressed", p3, p2)
    with zipfile.ZipFile(src / "data_3d_h36m.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("positions_3d.npy", _npy_pickle({"S1": {"a": np.dtype}, "S2": {"b": shutil.rmtree}}, 3))
    assert "refusing to unpickle" in _read_whole_with_the_error(src, tmp_path / "o1")
    shutil.rmtree(src)
    src = _save(tmp_path / "src", "compressed", p3, p2)
    raw = _npy_pickle(p3, 3)
    with zipfile.ZipFile(src / "data_3d_h36m.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("positions_3d.npy", raw[: len(raw) // 2])
    assert "cannot be read" in _read_whole_with_the_error(src, tmp_path / "o2")


def test_cli_streams_with_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``posesynth convert data_3d_x.npz OUT --to posesynth`` streams (chunks of 7 here) and its
    round-trip check passes; the store is the in-memory one."""
    from typer.testing import CliRunner

    from posesynth.cli.main import app
    from posesynth.data.formats import registry

    p3, p2 = _h36m(10)
    src = _save(tmp_path / "src", "compressed", p3, p2)
    write_any(read_any(src), tmp_path / "mem", "posesynth")
    calls = []
    original = registry._chunks_to_store

    def spy(*args: Any, **kw: Any) -> Any:
        made = original(*args, **kw)
        calls.append(made is not None)
        return made

    monkeypatch.setattr(registry, "STREAM_ROWS", 7)
    monkeypatch.setattr(registry, "_chunks_to_store", spy)
    result = CliRunner().invoke(
        app, ["convert", str(src / "data_3d_h36m.npz"), str(tmp_path / "out"), "--to", "posesynth"]
    )
    assert result.exit_code == 0, result.output
    assert "MPJPE 0 mm" in result.output
    assert calls == [True]
    assert _files(tmp_path / "mem") == _files(tmp_path / "out")


def test_sequences_read_in_blocks_of_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sequences longer than a block (3 frames here) give the same chunks and store."""
    monkeypatch.setattr(videopose3d_read, "BLOCK", 3)
    p3, p2 = _h36m(11)
    _same_store(_save(tmp_path / "both", "compressed", p3, p2), tmp_path / "a", rows=5)
    _same_store(_save(tmp_path / "only2d", "p5", None, p2) / "data_2d_h36m_gt.npz", tmp_path / "b", rows=5)


def _sequence_like(v: Any) -> bool:
    """A sequence's data: a non-empty array or list of arrays (not the npy holder's template,
    nor the empty list that will hold the dict, nor the next sequence's empty list)."""
    if isinstance(v, np.ndarray):
        return v.size > 0
    return isinstance(v, list) and len(v) > 0 and all(isinstance(x, np.ndarray) for x in v)


def test_sequences_are_handed_on_one_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read as sequences, a subject's actions (filled after a MARK) are handed on one by one:
    the unpickler holds one sequence, not a subject; the events are the dict's, in order."""
    from posesynth.data.formats.videopose3d_read import WHOLE, sequences

    p3, p2 = _h36m(12)
    src = _save(tmp_path / "src", "p3", p3, p2)
    handed: list[tuple[Any, Any]] = []
    arrays_held: list[int] = []
    original = videopose3d_read._ItemsUnpickler._hand_on

    def spy(self: Any, items: list) -> None:
        handed.extend((s, a) for s, a, _ in items)
        arrays_held.append(sum(_sequence_like(v) for level in [*self.metastack, self.stack] for v in level))
        original(self, items)

    monkeypatch.setattr(videopose3d_read._ItemsUnpickler, "_hand_on", spy)
    got = [(s, a) for s, a, _ in sequences(src / "data_2d_h36m_gt.npz", "positions_2d") if a is not WHOLE]
    assert got == [(s, a) for s, acts in p2.items() for a in acts]
    inner = [(s, a) for s, a in handed if a is not WHOLE]
    assert len(inner) == len(got)  # every subject here has two or more actions: all handed one by one
    assert max(arrays_held) == 1  # the sequence handed on, nothing else
    values = [v for s, a, v in sequences(src / "data_3d_h36m.npz", "positions_3d") if a is not WHOLE]
    for v, ref in zip(values, [v for acts in p3.values() for v in acts.values()], strict=True):
        np.testing.assert_array_equal(v, ref)
