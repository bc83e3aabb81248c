"""The chunked reader's walked ``cameras.pkl`` fragments (``mmpose._CameraEntries`` with the
compiled kernels) against the same reader unpickling them (``POSESYNTH_KERNELS=numpy``):
every chunk's cameras to the bit, the same index and names, or the same error."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posesynth.data.formats import mmpose
from posesynth.data.formats.mmpose import read_mmpose, read_mmpose_chunks
from posesynth.data.formats.numpy_pickle import PickledRecords
from posesynth.data.formats.registry import convert_streamed
from posesynth.data.formats.store_io import write_store_dataset
from posesynth.util import jit
from test_speed_camera_pickle import CAMERA_FIELDS, entry, write_files

pytestmark = pytest.mark.skipif(not jit.numba_installed(), reason="numba (the fast extra) is not installed")


def chunk_outcomes(npz: Path, monkeypatch: pytest.MonkeyPatch, kernels: str, rows: int, cache: int) -> Any:
    """('ok', [per chunk: camera fields, index, names, world]) or ('error', message)."""
    monkeypatch.setenv(jit.ENV_VAR, kernels)
    out = []
    try:
        for ds in read_mmpose_chunks(npz, rows, cache_cameras=cache)[1]:
            assert ds.cameras is not None
            cams = {name: np.asarray(getattr(ds.cameras, name)) for name in CAMERA_FIELDS}
            out.append(
                (ds.cameras.model, cams, np.asarray(ds.camera_index), np.asarray(ds.camera_names), ds.joints_3d_world)
            )
    except ValueError as exc:
        return "error", str(exc)
    return "ok", out


def assert_same_chunks(fast: Any, ref: Any) -> None:
    assert fast[0] == ref[0], (fast[0], ref[0], fast[1] if fast[0] == "error" else ref[1])
    if fast[0] == "error":
        assert fast[1] == ref[1]
        return
    assert len(fast[1]) == len(ref[1])
    for (model, cams, index, names, world), (model0, cams0, index0, names0, world0) in zip(fast[1], ref[1]):
        assert model == model0
        for name in CAMERA_FIELDS:
            assert cams[name].dtype == cams0[name].dtype and cams[name].shape == cams0[name].shape, name
            assert cams[name].tobytes() == cams0[name].tobytes(), name
        assert index.dtype == index0.dtype and np.array_equal(index, index0)
        assert names.dtype == names0.dtype and np.array_equal(names, names0)
        assert world.tobytes() == world0.tobytes()


def streamed_pickle(fragments: list[dict]) -> bytes:
    """A ``cameras.pkl`` as ``write_mmpose_chunks`` writes it: one marked fragment per dict."""
    out = mmpose._STREAM_HEAD
    for part in fragments:
        fragment = mmpose._dict_items_pickle(part)
        out += mmpose._fragment_marker(len(fragment)) + fragment
    return out + b"."


@pytest.mark.parametrize("model", ["h36m", "opencv", "pinhole"])
@pytest.mark.parametrize(("rows", "cache"), [(50, 10_000), (77, 10_000), (33, 0), (300, 10_000)])
def test_generated_files_read_the_same(tmp_path, monkeypatch, model, rows, cache) -> None:
    """Chunks that match the fragments, span two or more of them (their bytes joined), or
    rescan the file (no cache): the same cameras walked as unpickled, and as the whole read."""
    from posesynth.api import generate

    # through a store, as ``convert`` streams it: camera names unique across chunks
    store = write_store_dataset(generate(230, seed=5, camera_model=model), tmp_path / "src", shard_size=100)
    convert_streamed(store, tmp_path / "m", "mmpose", "posesynth", rows=50)
    npz = tmp_path / "m" / "h36m_train.npz"
    fast = chunk_outcomes(npz, monkeypatch, "numba", rows, cache)
    assert_same_chunks(fast, chunk_outcomes(npz, monkeypatch, "numpy", rows, cache))
    whole = read_mmpose(npz)
    assert whole.cameras is not None and whole.camera_index is not None
    lo = 0
    for _, cams, index, _, _ in fast[1]:
        ref = whole.cameras[np.asarray(whole.camera_index)[lo : lo + len(index)]]
        for name in CAMERA_FIELDS:
            assert cams[name][index].tobytes() == np.asarray(getattr(ref, name)).tobytes(), name
        lo += len(index)
    assert lo == 230


def test_fragments_are_walked(tmp_path, monkeypatch) -> None:
    """With the kernels on, a chunk's entries come as one ``PickledRecords`` (no unpickling)."""
    from posesynth.api import generate

    store = write_store_dataset(generate(120, seed=2, camera_model="h36m"), tmp_path / "src")
    convert_streamed(store, tmp_path / "m", "mmpose", "posesynth", rows=60)
    monkeypatch.setenv(jit.ENV_VAR, "numba")
    unpickled = []
    real = mmpose.NumpyOnlyUnpickler.load
    monkeypatch.setattr(mmpose.NumpyOnlyUnpickler, "load", lambda self: unpickled.append(1) or real(self))
    table = mmpose._CameraEntries(tmp_path / "m" / "cameras.pkl", cache=10_000)
    keys = list(pickle.loads((tmp_path / "m" / "cameras.pkl").read_bytes()))  # file order
    taken = table.take(keys[:90])  # all of the first fragment, half of the second
    assert isinstance(taken, PickledRecords) and len(taken) == 90
    assert list(zip(taken.key0.tolist(), taken.key1.tolist())) == keys[:90]
    assert not unpickled


def _fragments(change: str) -> tuple[list[dict], list[tuple[str, str]]]:
    rng = np.random.default_rng(4)
    parts = [{("S1", str(54138969 + 10 * f + i)): entry(rng) for i in range(5)} for f in range(3)]
    used = [key for part in parts for key in part]
    middle = parts[1][used[6]]
    if change == "float size":  # the careful path accepts it: that fragment is unpickled
        middle["h"] = 1000.0
    elif change == "nan":
        middle["T"] = np.array([[np.nan], [0.0], [1.0]])
    elif change == "missing f":
        del middle["f"]
    elif change == "repeated key":  # a later fragment's entry replaces an earlier one
        parts[2][used[1]] = entry(rng)
    elif change == "missing camera":
        used.append(("S9", "1"))
    return parts, used


@pytest.mark.parametrize("change", ["none", "float size", "nan", "missing f", "repeated key", "missing camera"])
@pytest.mark.parametrize("rows", [4, 8, 15])
def test_a_fragment_the_walk_leaves_reads_as_before(tmp_path, monkeypatch, change, rows) -> None:
    """A fragment with an entry outside the lean path is unpickled; chunks that mix it with
    walked fragments read the same cameras, or raise the same error, on both paths."""
    parts, used = _fragments(change)
    npz = write_files(tmp_path, {}, used, pkl=streamed_pickle(parts))
    ref = chunk_outcomes(npz, monkeypatch, "numpy", rows, 10_000)
    assert_same_chunks(chunk_outcomes(npz, monkeypatch, "numba", rows, 10_000), ref)
    assert_same_chunks(
        chunk_outcomes(npz, monkeypatch, "numba", rows, 0), chunk_outcomes(npz, monkeypatch, "numpy", rows, 0)
    )
    if change in ("nan", "missing f", "missing camera"):
        assert ref[0] == "error" and str(npz.parent / "cameras.pkl") in ref[1]
    else:
        assert ref[0] == "ok"
    # the marked file is one pickle to anyone else
    whole = pickle.loads((npz.parent / "cameras.pkl").read_bytes())
    assert len(whole) == len({key for part in parts for key in part})
