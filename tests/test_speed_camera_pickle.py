"""The fast read of an MMPose ``cameras.pkl`` (``numpy_pickle.load_numpy_pickle(records=...)``,
``_pickle_scan.records``, ``mmpose._cameras_from_records``) against the guarded unpickler.

Every test compares ``read_mmpose`` (or ``load_numpy_pickle``) with the compiled kernels on,
which takes the fast path, and with ``POSESYNTH_KERNELS=numpy``, which unpickles: the same
cameras to the bit, the same index and names (dtype included), or the same error.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from posesynth.data.formats import _pickle_scan, mmpose
from posesynth.data.formats.mmpose import format_h36m_imgname, read_mmpose, write_mmpose, write_mmpose_chunks
from posesynth.data.formats.numpy_pickle import PickledRecords, dumps_numpy_pickle, load_numpy_pickle
from posesynth.util import jit

pytestmark = pytest.mark.skipif(not jit.numba_installed(), reason="numba (the fast extra) is not installed")

FIELDS = ("R", "T", "c", "f", "k", "p", "w", "h")
CAMERA_FIELDS = ("intrinsics", "distortion", "rotation", "center", "image_size")


def entry(rng: np.random.Generator, shape: str = "column", k: bool = True, p: bool = True) -> dict[str, Any]:
    """One camera as MMPose's ``preprocess_h36m.py`` writes it (R camera->world, T metres)."""

    def vec(values: np.ndarray) -> np.ndarray:
        return {"column": values[:, None], "flat": values, "row": values[None, :]}[shape]

    out: dict[str, Any] = {
        "R": Rotation.from_quat(rng.normal(size=4)).as_matrix(),
        "T": vec(rng.uniform(-5, 5, 3)),
        "c": vec(rng.uniform(400, 600, 2)),
        "f": vec(rng.uniform(800, 1500, 2)),
        "w": int(rng.integers(500, 2000)),
        "h": int(rng.integers(500, 2000)),
        "name": "camera1",
        "id": "54138969",
    }
    if k:
        out["k"] = vec(rng.uniform(-0.3, 0.3, 3))
    if p:
        out["p"] = vec(rng.uniform(-0.01, 0.01, 2))
    return out


def write_files(
    root: Path, table: dict, used: list[tuple[str, str]], pkl: bytes | None = None, protocol: int = 4
) -> Path:
    """An MMPose ``.npz`` whose samples use the cameras ``used`` (in that order, one frame
    each), beside ``cameras.pkl`` (``pkl``, else ``table`` pickled with ``protocol``)."""
    root.mkdir(parents=True, exist_ok=True)
    n = len(used)
    names = [format_h36m_imgname(s, "Walking_1", c, i) for i, (s, c) in enumerate(used)]
    rng = np.random.default_rng(n)
    s_cam = rng.normal(0, 0.3, (n, 17, 3)) + np.array([0, 0, 4.0])
    np.savez(
        root / "h36m_test.npz",
        imgname=np.array(names),
        S=np.concatenate([s_cam, np.ones((n, 17, 1))], axis=2),
        part=rng.uniform(0, 1000, (n, 17, 3)),
    )
    (root / "cameras.pkl").write_bytes(pkl if pkl is not None else pickle.dumps(table, protocol=protocol))
    return root / "h36m_test.npz"


def outcome(npz: Path, monkeypatch: pytest.MonkeyPatch, kernels: str) -> tuple[str, Any]:
    """('ok', (camera fields, index, names)) or ('error', message) of read_mmpose."""
    monkeypatch.setenv(jit.ENV_VAR, kernels)
    try:
        ds = read_mmpose(npz)
    except ValueError as exc:
        return "error", str(exc)
    cams = {name: np.asarray(getattr(ds.cameras, name)) for name in CAMERA_FIELDS}
    return "ok", (cams, np.asarray(ds.camera_index), np.asarray(ds.camera_names), ds.joints_3d_world)


def assert_same(fast: tuple[str, Any], ref: tuple[str, Any]) -> None:
    assert fast[0] == ref[0], (fast, ref)
    if fast[0] == "error":
        assert fast[1] == ref[1]
        return
    (cams, index, names, world), (cams0, index0, names0, world0) = fast[1], ref[1]
    for name in CAMERA_FIELDS:
        assert cams[name].dtype == cams0[name].dtype and cams[name].shape == cams0[name].shape, name
        assert cams[name].tobytes() == cams0[name].tobytes(), name  # the same bits
    assert index.dtype == index0.dtype and np.array_equal(index, index0)
    assert names.dtype == names0.dtype and np.array_equal(names, names0)
    assert world.tobytes() == world0.tobytes()


def took_fast_path(path: Path, monkeypatch: pytest.MonkeyPatch) -> bool:
    monkeypatch.setenv(jit.ENV_VAR, "numba")
    return isinstance(load_numpy_pickle(path, records=FIELDS), PickledRecords)


# ------------------------------------------------------------------------ same cameras
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n_cams=st.integers(0, 40),
    n_used=st.integers(0, 60),
    seed=st.integers(0, 2**32 - 1),
    shape=st.sampled_from(["column", "flat", "row"]),
    k=st.booleans(),
    p=st.booleans(),
    protocol=st.sampled_from([3, 4, 5, "posesynth"]),
)
def test_same_camera_table_as_the_guarded_unpickler(
    tmp_path, monkeypatch, n_cams, n_used, seed, shape, k, p, protocol
) -> None:
    """Hypothesis over camera counts, field values and layouts (vector shapes, k/p absent,
    pickle protocols, posesynth's NumPy 1.x names): bit-equal cameras, index and names."""
    rng = np.random.default_rng(seed)
    table = {(f"S{i % 7}", str(54138969 + i)): entry(rng, shape, k, p) for i in range(n_cams)}
    keys = list(table)
    used = [keys[int(i)] for i in rng.integers(0, len(keys), n_used)] if keys else []
    pkl = dumps_numpy_pickle(table) if protocol == "posesynth" else pickle.dumps(table, protocol=protocol)
    npz = write_files(tmp_path / f"t{seed}-{protocol}", table, used, pkl=pkl)
    assert took_fast_path(npz.parent / "cameras.pkl", monkeypatch)
    assert_same(outcome(npz, monkeypatch, "numba"), outcome(npz, monkeypatch, "numpy"))


@pytest.mark.parametrize("model", ["h36m", "opencv", "pinhole"])
@pytest.mark.parametrize("streamed", [False, True])
def test_posesynth_written_files(tmp_path, monkeypatch, model, streamed) -> None:
    """``write_mmpose`` and the streamed ``write_mmpose_chunks`` (fragments, sidecar for
    opencv): read the same with the fast path as unpickled."""
    from posesynth.api import generate

    ds = generate(300, seed=3, camera_model=model)
    out = tmp_path / "m"
    if streamed:
        write_mmpose_chunks([ds.select(slice(0, 120)), ds.select(slice(120, None))], out)
    else:
        write_mmpose(ds, out)
    (npz,) = out.glob("*.npz")
    assert took_fast_path(out / "cameras.pkl", monkeypatch)
    assert_same(outcome(npz, monkeypatch, "numba"), outcome(npz, monkeypatch, "numpy"))


def test_mmpose_tool_fixture(tmp_path, monkeypatch) -> None:
    """The MMPose-tool fixture of test_format_mmpose (``pickle.dump`` of the dict)."""
    from tests.test_format_mmpose import write_tool_fixture

    fx = write_tool_fixture(tmp_path)
    assert took_fast_path(fx["npz"].parent.parent / "cameras.pkl", monkeypatch)
    assert_same(outcome(fx["npz"], monkeypatch, "numba"), outcome(fx["npz"], monkeypatch, "numpy"))


# ------------------------------------------------------------------------ fallbacks
def _changed(change: str, rng: np.random.Generator) -> tuple[dict, list[tuple[str, str]], int]:
    table = {("S1", str(54138969 + i)): entry(rng) for i in range(4)}
    used = list(table)[:3]
    first = table[used[0]]
    protocol = 4
    if change == "protocol 2":
        protocol = 2
    elif change == "non-ASCII name":
        first["name"] = "kamera-ü"
    elif change == "bytes key":
        table[(b"S1", b"54138969")] = table.pop(used[0])
    elif change == "numpy int size":
        first["w"] = np.int64(first["w"])
    elif change == "float size":
        first["h"] = 1000.0
    elif change == "missing f":
        del first["f"]
    elif change == "rational k":
        first["k"] = np.zeros((6, 1))
    elif change == "nan":
        first["T"] = np.array([[np.nan], [0.0], [1.0]])
    elif change == "big-endian":
        first["R"] = first["R"].astype(">f8")
    elif change == "fortran":
        first["R"] = np.asfortranarray(first["R"])
    elif change == "float32":
        first["c"] = first["c"].astype(np.float32)
    elif change == "list field":
        first["extra"] = [1, 2]
    elif change == "unused entry not a dict":
        table[("S9", "1")] = None
    elif change == "bad rotation":
        first["R"] = first["R"] * 2.0
    elif change == "bad image size":
        first["w"] = 10**7
    elif change == "key not a pair":
        table[("S1",)] = entry(rng)
    elif change == "missing camera":
        used.append(("S5", "55011271"))
    return table, used, protocol


CHANGES = [
    "protocol 2", "non-ASCII name", "bytes key", "numpy int size", "float size", "missing f", "rational k", "nan",
    "big-endian", "fortran", "float32", "list field", "unused entry not a dict", "bad rotation", "bad image size",
    "key not a pair", "missing camera",
]  # fmt: skip


@pytest.mark.parametrize("change", CHANGES)
def test_what_the_fast_path_does_not_take_reads_as_before(tmp_path, monkeypatch, change) -> None:
    """Layouts, fields and values outside the lean path: the careful path decides (the same
    cameras, or the same error naming the file, camera and field)."""
    table, used, protocol = _changed(change, np.random.default_rng(1))
    npz = write_files(tmp_path, table, used, protocol=protocol)
    ref = outcome(npz, monkeypatch, "numpy")
    assert_same(outcome(npz, monkeypatch, "numba"), ref)
    if change in ("missing f", "nan", "bad rotation", "key not a pair", "missing camera"):
        assert ref[0] == "error" and str(npz.parent / "cameras.pkl") in ref[1]


def test_fallback_is_taken(tmp_path, monkeypatch) -> None:
    """A used entry the fast path leaves alone is read by the guarded unpickler."""
    table, used, protocol = _changed("float size", np.random.default_rng(2))  # walked, not lean
    npz = write_files(tmp_path, table, used, protocol=protocol)
    calls = []
    real = mmpose.load_numpy_pickle

    def spy(path: Any, records: Any = None) -> Any:
        calls.append(records)
        return real(path, records=records)

    monkeypatch.setattr(mmpose, "load_numpy_pickle", spy)
    monkeypatch.setenv(jit.ENV_VAR, "numba")
    read_mmpose(npz)
    assert calls == [FIELDS, None]  # the fast read, then the unpickling


# ------------------------------------------------------------------------ safety
def test_the_scan_still_refuses(tmp_path, monkeypatch) -> None:
    """Bombs and foreign globals are refused with records= as without."""
    monkeypatch.setenv(jit.ENV_VAR, "numba")
    f = tmp_path / "c.pkl"
    memo = b"\x80\x02]r" + struct.pack("<I", 0x7FFFFFF0) + b"."
    for data, match in [
        (memo, "memo index"),
        (b"\x80\x03B" + struct.pack("<I", 2**31) + b"xx.", "declares more than"),
        (pickle.dumps({("S1", "1"): entry(np.random.default_rng(0))})[:-1], "declares more than"),
        (b"cos\nsystem\n(S'echo'\ntR.", "refusing to unpickle the global os.system"),
    ]:
        f.write_bytes(data)
        with pytest.raises(ValueError, match=match):
            load_numpy_pickle(f, records=FIELDS)


def records_agree(rec: PickledRecords, obj: Any) -> bool:
    """The fast read holds what unpickling gives: the dict's keys and, per field, the kind,
    shape and bits of each value."""
    if not isinstance(obj, dict):
        return False
    last = {(str(a), str(b)): e for e, (a, b) in enumerate(zip(rec.key0, rec.key1))}
    if set(last) != set(obj):
        return False
    for key, e in last.items():
        value = obj[key]
        ok = isinstance(value, dict) and all(isinstance(k, str) for k in value)
        if bool(rec.entry_ok[e]) != ok:
            return False
        if not ok:
            continue
        for j, name in enumerate(rec.fields):
            kind = int(rec.kind[e, j])
            got = value.get(name, None) if name in value else _ABSENT
            if got is _ABSENT:
                want = _pickle_scan.FIELD_ABSENT
            elif isinstance(got, np.ndarray) and got.dtype == np.dtype("<f8") and got.ndim <= 2:
                want = _pickle_scan.FIELD_FLOATS
                ndim, d0, d1, _ = rec.dims[e, j]
                if (ndim, *(d0, d1)[:ndim]) != (got.ndim, *got.shape):
                    return False
                if got.size and rec.floats(name, got.size, np.array([e])).tobytes() != got.tobytes():
                    return False
            elif type(got) is int:
                want = _pickle_scan.FIELD_INT
                if int(rec.value[e, j]) != got:
                    return False
            else:
                want = _pickle_scan.FIELD_OTHER
            if kind != want:
                return False
    return True


_ABSENT = object()


def _source_pickles() -> list[bytes]:
    rng = np.random.default_rng(5)
    table = {("S1", str(i)): entry(rng, shape, i % 2 == 0) for i, shape in enumerate(["column", "flat", "row"])}
    table[("S2", "x")] = {"R": np.zeros((0,)), "w": -3, "n": None, "b": True, "s": "t", "y": b"z", "f": 0.5}
    return [pickle.dumps(table, protocol=p) for p in (3, 4, 5)] + [dumps_numpy_pickle(table)]


@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    which=st.integers(0, 3),
    edits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255), st.sampled_from("fdi")), max_size=3
    ),
    cut=st.floats(0.5, 1.0),
)
def test_damaged_pickles(tmp_path, monkeypatch, which, edits, cut) -> None:
    """Flipped, deleted and inserted bytes and truncations: whatever the fast read accepts,
    the guarded unpickler loads to the same content; whatever it does not, loads as before."""
    src = _source_pickles()[which]
    data = bytearray(src[: max(1, int(len(src) * cut))])
    for where, byte, how in edits:
        i = int(where * len(data))
        if how == "f" and data:
            data[i] = byte
        elif how == "d" and len(data) > 1:
            del data[i]
        else:
            data.insert(i, byte)
    f = tmp_path / "c.pkl"
    f.write_bytes(bytes(data))

    def load(kernels: str, records: Any) -> tuple[str, Any]:
        monkeypatch.setenv(jit.ENV_VAR, kernels)
        try:
            return "ok", load_numpy_pickle(f, records=records)
        except ValueError as exc:
            return "error", str(exc)

    ref = load("numba", None)  # the same compiled scan, then the guarded unpickler
    got = load("numba", FIELDS)
    if isinstance(got[1], PickledRecords):
        assert ref[0] == "ok" and records_agree(got[1], ref[1])
    else:
        assert got[0] == ref[0]
        if got[0] == "error":
            assert got[1] == ref[1]


def test_gathered_floats_same_on_both_paths(tmp_path, monkeypatch) -> None:
    """``PickledRecords.floats``: the compiled gather and the NumPy one, C and Fortran order
    (MMPose's own R is a transposed matrix), against the unpickled arrays."""
    rng = np.random.default_rng(7)
    table = {
        ("S1", str(i)): {"R": np.asfortranarray(rng.normal(size=(3, 3))) if i % 2 else rng.normal(size=(3, 3)),
                         "Q": rng.normal(size=(2, 3)).T, "T": rng.normal(size=(3, 1))}
        for i in range(6)
    }  # fmt: skip
    f = tmp_path / "c.pkl"
    f.write_bytes(pickle.dumps(table))
    monkeypatch.setenv(jit.ENV_VAR, "numba")
    rec = load_numpy_pickle(f, records=("R", "Q", "T"))
    assert isinstance(rec, PickledRecords)
    rows = np.array([5, 0, 3, 3])
    for kernels in ("numba", "numpy"):
        monkeypatch.setenv(jit.ENV_VAR, kernels)
        for name, size in (("R", 9), ("Q", 6), ("T", 3)):
            want = np.stack([table[("S1", str(r))][name].reshape(size) for r in rows])  # C order
            assert rec.floats(name, size, rows).tobytes() == want.tobytes(), (kernels, name)


@settings(max_examples=15, deadline=None)
@given(
    n_cams=st.integers(0, 30),
    seed=st.integers(0, 2**32 - 1),
    protocol=st.sampled_from([3, 4, 5, "posesynth"]),
)
def test_walk_buffers_int32_and_int64_agree(n_cams: int, seed: int, protocol) -> None:
    """The walk's buffers are int32 below 2 GiB (half the memory it touches) and int64 above:
    both widths read the same records, and a file they cannot read alike is refused alike."""
    rng = np.random.default_rng(seed)
    table = {(f"S{i % 7}", str(54138969 + i)): entry(rng, ["column", "flat", "row"][i % 3]) for i in range(n_cams)}
    pkl = dumps_numpy_pickle(table) if protocol == "posesynth" else pickle.dumps(table, protocol=protocol)
    narrow = _pickle_scan.records(pkl, FIELDS, np.int32)
    wide = _pickle_scan.records(pkl, FIELDS, np.int64)
    assert narrow is not None and wide is not None
    for a, b in zip(narrow, wide, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert _pickle_scan.records(pkl[: len(pkl) // 2], FIELDS, np.int32) is None
    assert _pickle_scan.records(pkl[: len(pkl) // 2], FIELDS, np.int64) is None


def test_the_fast_read_maps_the_file(tmp_path, monkeypatch) -> None:
    """The records walk reads the file mapped (page-cache pages, not a copy of a 590 MB file);
    an empty file, which cannot be mapped, goes the unpickling path and is refused there."""
    import mmap

    f = tmp_path / "cameras.pkl"
    f.write_bytes(pickle.dumps({("S1", "54138969"): entry(np.random.default_rng(0))}))
    monkeypatch.setenv(jit.ENV_VAR, "numba")
    rec = load_numpy_pickle(f, records=FIELDS)
    assert isinstance(rec, PickledRecords) and isinstance(rec.data, mmap.mmap)
    assert rec.floats("T", 3, np.array([0])).shape == (1, 3)
    f.write_bytes(b"")
    with pytest.raises(ValueError, match=f"{f}: not a valid pickle of NumPy arrays"):
        load_numpy_pickle(f, records=FIELDS)


def _walk_with_elems(pkl: bytes, elems_rows: int) -> int:
    """The walk's status over ``pkl`` with ``elems_rows`` rows for tuple elements and room
    to spare in the other buffers."""
    raw = np.frombuffer(pkl, np.uint8)
    n = len(raw)
    rows = [64 + n, 64 + n, 64 + n, elems_rows, 64 + n, 64 + n, 64 + n]
    widths = [3, 1, 4, 3, 7, 7, 2]
    buffers = [np.zeros((r, w), np.int32) for r, w in zip(rows, widths, strict=True)]
    return int(
        _pickle_scan._walk(raw, _pickle_scan._GLOBAL_BLOB, _pickle_scan._GLOBAL_TABLE, *buffers, np.zeros(5, np.int64))
    )


@pytest.mark.parametrize("protocol", [3, 4, 5, "posesynth"])
def test_the_walk_keeps_only_the_tuples_it_reads_again(protocol) -> None:
    """A tuple consumed by REDUCE or BUILD (an array's arguments, shape and state: 66 rows
    of the 68 a camera made) frees its rows again; the keys' tuples stay, also those of
    earlier SETITEMS batches (a pickler sets a dict's items 1,000 at a time, and they leave
    the stack). 2,100 cameras walk in 2 rows each plus a few, and every key is read back
    from its own rows."""
    n = 2100
    rng = np.random.default_rng(7)
    table = {(f"S{i % 7}", str(54138969 + i)): entry(rng, ["column", "flat", "row"][i % 3]) for i in range(n)}
    pkl = dumps_numpy_pickle(table) if protocol == "posesynth" else pickle.dumps(table, protocol=protocol)
    assert _walk_with_elems(pkl, 2 * n + 64) == _pickle_scan._WALK_OK
    assert _walk_with_elems(pkl, 2 * n - 1) == _pickle_scan._ROOM + 3  # the keys need their rows
    got = _pickle_scan.records(pkl, FIELDS)
    assert got is not None
    keys = got[0]
    for e, key in enumerate(table):  # every key read back from its own rows
        first = pkl[keys[e, 0] : keys[e, 0] + keys[e, 1]].decode()
        second = pkl[keys[e, 2] : keys[e, 2] + keys[e, 3]].decode()
        assert (first, second) == key


def test_a_tuple_fetched_again_sends_the_file_to_the_unpickler(tmp_path, monkeypatch) -> None:
    """A pickler fetches a memoized tuple (BINGET) when the same tuple object is pickled
    twice; its rows may have been freed, so the walk gives up and the file is unpickled:
    the same cameras, or the same error, as the NumPy path."""
    rng = np.random.default_rng(3)
    key = ("S1", "54138969")
    table = {key: {**entry(rng), "name": key}, ("S1", "55011271"): entry(rng)}
    pkl = pickle.dumps(table, protocol=4)
    assert b"h" in pkl  # BINGET
    assert _pickle_scan.records(pkl, FIELDS) is None
    npz = write_files(tmp_path, table, [key, ("S1", "55011271")], pkl=pkl)
    assert not took_fast_path(npz.parent / "cameras.pkl", monkeypatch)
    assert_same(outcome(npz, monkeypatch, "numba"), outcome(npz, monkeypatch, "numpy"))
