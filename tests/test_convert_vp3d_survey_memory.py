"""What the streamed VideoPose3D reader holds per sequence (issue 16, ``convert`` at most
500 MB at 1 M samples): the survey's rows are arrays (:class:`videopose3d_read._Rows`), equal
to the list of rows they replace, and an unpickled batch is freed as soon as it is dropped
(``NumpyOnlyUnpickler`` clears its memo: its guards refer back to it, a reference cycle that
kept every batch of a subject per sample until a full garbage collection)."""

from __future__ import annotations

import gc
import io
import pickle
import tracemalloc
import weakref
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posesynth.data.formats import videopose3d_read
from posesynth.data.formats.numpy_pickle import NumpyOnlyUnpickler
from posesynth.data.formats.registry import write_any
from posesynth.data.formats.videopose3d_read import _Rows, _Seq

# names as an unpickled ``str`` may hold them: any code point, a lone surrogate included
NAMES = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), min_size=0, max_size=6)


@st.composite
def row_lists(draw: st.DrawFn) -> tuple[list[_Seq], bool, bool]:
    """Rows as the in-memory reader makes them: a subject's rows consecutive, every row with
    3D or none, with 2D views or none."""
    with_3d = draw(st.booleans())
    with_2d = draw(st.booleans()) or not with_3d
    subjects = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    rows = []
    for s in subjects:
        for a in draw(st.lists(NAMES, min_size=1, max_size=4, unique=True)):
            t3 = draw(st.integers(0, 2**40)) if with_3d else None
            views = tuple(draw(st.lists(st.integers(0, 2**40), min_size=1, max_size=4))) if with_2d else None
            rows.append(_Seq(s, a, t3, views))
    return rows, with_3d, with_2d


@settings(max_examples=200, deadline=None)
@given(row_lists(), st.booleans())
def test_rows_equal_the_list_they_replace(made: tuple[list[_Seq], bool, bool], views_later: bool) -> None:
    want, _, with_2d = made
    rows = _Rows()
    for q in want:
        rows.add(q.subject, q.action, q.frames_3d, None if views_later else q.frames_2d)
    if views_later and with_2d:  # as the 2D walk matches them to the 3D rows, in order
        for q in want:
            assert q.frames_2d is not None
            rows.add_views(q.frames_2d)
    assert len(rows) == len(want)
    assert list(rows) == want
    assert [rows[i] for i in range(len(want))] == want
    with pytest.raises(IndexError):
        rows[len(want)]
    assert list(rows.subject_names()) == list(dict.fromkeys(q.subject for q in want))
    assert rows.with_2d == with_2d
    assert rows.subjects.width == max(len(q.subject) for q in want)
    assert rows.actions.width == max(len(q.action) for q in want)
    samples = 0  # the survey's count before the rows were arrays
    for q in want:
        if q.frames_3d is not None:
            samples += q.frames_3d * (1 if q.frames_2d is None else len(q.frames_2d))
        else:
            assert q.frames_2d is not None
            samples += sum(q.frames_2d)
    assert rows.samples() == samples
    for k, s in enumerate(rows.subject_names()):
        assert [want[i].subject for i in rows.subject_rows(k)] == [s] * len(rows.subject_rows(k))


def test_a_repeated_action_is_stored_once_up_to_the_memo() -> None:
    rows = _Rows()
    for i in range(3000):
        rows.add(f"S{i}", ["walk", "sit"][i % 2], 1, (1,))
    assert len(rows.actions) == 2 and len(rows.subjects) == 3000
    assert [q.action for q in rows][:4] == ["walk", "sit", "walk", "sit"]


def test_an_unpickled_batch_is_freed_when_dropped() -> None:
    """No reference cycle keeps the memo's objects: with the collector off, the arrays of a
    loaded dict go when the dict goes."""
    data = pickle.dumps(np.array({f"S{i}": np.full((3, 17, 3), i, np.float32) for i in range(50)}), protocol=2)
    gc.collect()
    gc.disable()
    try:
        got = NumpyOnlyUnpickler(io.BytesIO(data), "x.npy").load().item()
        refs = [weakref.ref(v) for v in got.values()]
        assert all(r() is not None for r in refs)
        del got
        assert all(r() is None for r in refs)
    finally:
        gc.enable()


@pytest.fixture(scope="module")
def vp_sources(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """posesynth's VideoPose3D output of generated data, a subject per sample, at two sizes, in
    batches of 50 subjects (what the reader holds at once is then the same at both sizes)."""
    from posesynth.data.formats import videopose3d
    from posesynth.jobs.generate import GenerateConfig, generate_dataset

    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(videopose3d, "BATCH_ITEMS", 50)
        for n in (300, 1500):
            folder = tmp_path_factory.mktemp("vp") / f"vp{n}"
            write_any(generate_dataset(GenerateConfig(samples=n, seed=5)), folder, "videopose3d")
            out[n] = folder
    return out


def _survey_memory(folder: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """Bytes of Python memory (traced) the survey of ``folder`` holds after it, and at its
    peak, with a table limit small enough that no camera table is kept (a camera per
    sample, as at 1 M); cameras checked 50 at a time and the cameras file read 4 KB at a
    time (blocks held at both sizes, as at 1 M: a block of 1,024 cameras, of 1 MB)."""
    from posesynth.data.formats._json_stream import JsonItems

    monkeypatch.setattr(videopose3d_read, "CAMERA_CHECK_BLOCK", 50)
    monkeypatch.setattr(JsonItems, "BLOCK", 1 << 12)
    # pieces are converted in runs of BLOCK frames (2,048: a few MB, whatever the size); at 50
    # a run is far smaller than either source, so what grows with the subjects shows
    monkeypatch.setattr(videopose3d_read, "BLOCK", 50)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        survey = videopose3d_read.survey_source(
            folder / "data_3d_custom.npz", folder / "data_2d_custom_gt.npz", None, table_max=10
        )
        gc.collect()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert survey.file_cameras is not None
    return held - before, peak - before


def test_the_survey_holds_tens_of_bytes_a_subject(vp_sources: dict[int, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A subject per sample: what the survey keeps grows by less than 100 bytes a subject
    (its rows: name, action index, frame counts, about 63; a ``_Seq`` per subject and its
    tuple were about 135), and its peak by less than 300 (about 134; 709 before, the
    unpickled batches kept by a reference cycle)."""
    _survey_memory(vp_sources[300], monkeypatch)  # imports and one-time caches first
    small = _survey_memory(vp_sources[300], monkeypatch)
    large = _survey_memory(vp_sources[1500], monkeypatch)
    held, peak = ((b - a) / 1200 for a, b in zip(small, large, strict=True))
    assert held < 100, held
    assert peak < 300, peak


@pytest.mark.parametrize("block", [1, 4, 7, 1024])
def test_entries_checked_a_block_at_a_time_refuse_as_one_by_one(
    vp_sources: dict[int, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """A camera that :class:`Camera` refuses (not a rotation), in per-sample mode: whatever the
    block it is checked in, the file is read whole and the in-memory reader's error is given;
    a good file gives the same survey."""
    import json
    import shutil

    from posesynth.data.formats import registry
    from posesynth.data.formats.registry import convert_streamed, read_any

    monkeypatch.setattr(videopose3d_read, "CAMERA_CHECK_BLOCK", block)
    src = tmp_path / "src"
    shutil.copytree(vp_sources[300], src)
    monkeypatch.setattr(registry, "STORE_TABLE_MAX", 5)
    good = videopose3d_read.survey_source(src / "data_3d_custom.npz", src / "data_2d_custom_gt.npz", None, 5)
    assert good.file_cameras is not None and good.file_cameras.count == 300
    path = src / "cameras_custom.json"
    doc = json.loads(path.read_text())
    entry = doc["cameras"][list(doc["cameras"])[150]]
    entry["cameras"]["rotation"] = [[[2.0, 0, 0], [0, 1, 0], [0, 0, 1]]]
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError) as whole:
        read_any(src)
    with pytest.raises(ValueError) as streamed:
        convert_streamed(src, tmp_path / "out", "posesynth", "videopose3d", rows=64)
    assert str(streamed.value) == str(whole.value)
    assert not (tmp_path / "out").exists()
