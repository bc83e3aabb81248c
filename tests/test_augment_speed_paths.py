"""The fast paths of ``posesynth augment``'s MMPose reading against the code they replace.

* ``mmpose._parse_name_array`` (image names split by passes over the ``.npz``'s character
  codes, compiled or NumPy) against ``_parse_names(_strings(arr))``: the same four arrays,
  dtypes included, wherever it decides (None: the string path reads it, errors included);
* ``mmpose._lean_fields`` (the used cameras of a ``cameras.pkl`` checked and gathered by one
  compiled pass per entry) against its NumPy path: the same arrays to the bit, or None alike;
* ``read_mmpose`` with every camera used (the look-up skipped) and with unused ones.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posesynth.data.formats import mmpose
from posesynth.data.formats.mmpose import format_h36m_imgname
from posesynth.data.formats.numpy_pickle import PickledRecords, load_numpy_pickle
from posesynth.util import jit

needs_numba = pytest.mark.skipif(not jit.numba_installed(), reason="numba (the fast extra) is not installed")
KERNELS = ["numpy", pytest.param("numba", marks=needs_numba)]
ALPHABET = "S1_./\\9 -x0aZ\t\x00é٣"


def string_path(arr: np.ndarray) -> tuple[str, Any]:
    """What the string path gives: its four arrays, or its error (type and text)."""
    try:
        return "ok", mmpose._parse_names(mmpose._strings(arr, Path("p"), "imgname"), Path("p"))
    except (ValueError, OverflowError) as exc:
        return "error", f"{type(exc).__name__}: {exc}"


def assert_same_arrays(got: tuple[np.ndarray, ...], want: tuple[np.ndarray, ...]) -> None:
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), (a, b)


names_st = st.lists(
    st.one_of(
        st.builds(
            format_h36m_imgname,
            st.sampled_from(["S1", "S11", "s-9", "S 1"]),
            st.sampled_from(["Directions_1", "Walk Dog", "posesynth", "a_b_c"]),
            st.sampled_from(["54138969", "cam0", "x", "c m"]),
            st.integers(0, 10**6),
        ),
        st.builds(lambda s: s.replace(".jpg", ""), st.just("S9/S9_Posing_1.55011271/S9_Posing_1.55011271_000001.jpg")),
        st.text(ALPHABET, max_size=30),
        st.builds(
            lambda s, cut, ch: s[:cut] + ch + s[cut:],
            st.just("S1/S1_Walking_1.cam3/S1_Walking_1.cam3_000012.jpg"),
            st.integers(0, 50),
            st.sampled_from([*ALPHABET, "", "0" * 20, "9" * 12, ".png", " "]),
        ),
        st.just("S9_Posing_1.55011271_000000"),  # frame 0: refused
        st.just("S9_Posing_1.55011271_" + "9" * 18),  # the longest frame read here
        st.just("S9_Posing_1.55011271_" + "9" * 19),  # left to the string path
    ),
    min_size=1,
    max_size=6,
)


@pytest.mark.parametrize("kernels", KERNELS)
@settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names=names_st, kind=st.sampled_from(["U", "S", "U column", "U wide"]))
def test_name_array_same_as_the_string_path(monkeypatch, kernels, names, kind) -> None:
    monkeypatch.setenv(jit.ENV_VAR, kernels)
    if kind == "S":
        try:
            arr = np.array([n.encode("utf-8") for n in names])
        except UnicodeEncodeError:
            return
    else:
        arr = np.array(names, dtype=f"<U{max(map(len, names), default=1) + (9 if kind == 'U wide' else 0)}")
    if kind == "U column":
        arr = arr[:, None]
    want = string_path(arr)
    got = mmpose._parse_name_array(arr)
    if got is not None:
        assert want[0] == "ok", (names, want)
        assert_same_arrays(got, want[1])
    # what the reader does: the fast result, or the string path's own result or error
    try:
        listed, parsed = mmpose._names_parsed(arr, Path("p"))
    except (ValueError, OverflowError) as exc:
        assert want == ("error", f"{type(exc).__name__}: {exc}")
        return
    assert want[0] == "ok"
    assert_same_arrays(parsed, want[1])
    assert [mmpose._name(listed, i) for i in range(len(listed))] == [n.strip() for n in names]


@pytest.mark.parametrize("kernels", KERNELS)
def test_generated_names_take_the_array_path(monkeypatch, kernels) -> None:
    monkeypatch.setenv(jit.ENV_VAR, kernels)
    names = [format_h36m_imgname("S1", "Walk_1", f"cam{i}", i * 997) for i in range(300)]
    names += ["S11_x.y_000003", "S2/S2_a.b/S2_a.b_12.JPG"]
    for arr in (np.array(names), np.array(names).astype("S")):
        got = mmpose._parse_name_array(arr)
        assert got is not None
        assert_same_arrays(got, string_path(arr)[1])
        assert list(got[3][:300]) == [i * 997 for i in range(300)]


@pytest.mark.parametrize(
    "arr",
    [
        np.array([], dtype="<U5"),  # empty: the string path types it
        np.array(["S1_a.b_1"], dtype=">U8"),  # non-native byte order
        np.array([["S1_a.b_1", "S1_a.b_2"]]),  # (1, 2): the string path refuses it
        np.array([1, 2]),  # not strings
    ],
)
def test_array_path_leaves_odd_arrays_to_the_string_path(arr) -> None:
    assert mmpose._parse_name_array(arr) is None


# ------------------------------------------------------------------------------ cameras
def entry(rng: np.random.Generator, shape: str, k: bool, p: bool, fortran: bool, damage: str) -> dict[str, Any]:
    def vec(values: np.ndarray) -> np.ndarray:
        return {"column": values[:, None], "flat": values, "row": values[None, :]}[shape]

    rot = rng.normal(size=(3, 3))
    out: dict[str, Any] = {
        "R": np.asfortranarray(rot) if fortran else rot,
        "T": vec(rng.uniform(-5, 5, 3)),
        "c": vec(rng.uniform(400, 600, 2)),
        "f": vec(rng.uniform(800, 1500, 2)),
        "w": int(rng.integers(500, 2000)),
        "h": int(rng.integers(500, 2000)),
        "name": "camera1",
    }
    if k:
        out["k"] = vec(rng.uniform(-0.3, 0.3, 3))
    if p:
        out["p"] = vec(rng.uniform(-0.01, 0.01, 2))
    if damage == "R shape":
        out["R"] = rng.normal(size=(2, 3))
    elif damage == "w float":
        out["w"] = 1000.0
    elif damage == "h zero":
        out["h"] = 0
    elif damage == "nan":
        out["T"] = np.array([np.nan, 0.0, 1.0])
    elif damage == "k size":
        out["k"] = np.zeros(6)
    elif damage == "no f":
        del out["f"]
    elif damage == "p list":
        out["p"] = [0.0, 0.0]
    return out


@needs_numba
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n_cams=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
    shape=st.sampled_from(["column", "flat", "row"]),
    k=st.booleans(),
    p=st.booleans(),
    fortran=st.booleans(),
    damage=st.sampled_from(["none"] * 4 + ["R shape", "w float", "h zero", "nan", "k size", "no f", "p list"]),
    protocol=st.sampled_from([3, 4, 5]),
)
def test_lean_fields_compiled_same_as_numpy(
    tmp_path, monkeypatch, n_cams, seed, shape, k, p, fortran, damage, protocol
) -> None:
    rng = np.random.default_rng(seed)
    table = {("S1", f"c{i}"): entry(rng, shape, k, p, fortran, damage if i == n_cams // 2 else "none")
             for i in range(n_cams)}  # fmt: skip
    path = tmp_path / f"c{seed}.pkl"
    path.write_bytes(pickle.dumps(table, protocol=protocol))
    monkeypatch.setenv(jit.ENV_VAR, "numba")
    rec = load_numpy_pickle(path, records=mmpose._RECORD_FIELDS)
    if not isinstance(rec, PickledRecords):  # a layout the walk does not model (a list)
        assert damage == "p list"
        return
    rows = rng.permutation(n_cams)[: int(rng.integers(1, n_cams + 1))]
    got = mmpose._lean_fields(rec, rows)
    monkeypatch.setenv(jit.ENV_VAR, "numpy")
    want = mmpose._lean_fields(rec, rows)
    assert (got is None) == (want is None), (damage, got, want)
    if want is None:
        return
    assert got is not None
    for name in want[0]:
        assert got[0][name].dtype == want[0][name].dtype and got[0][name].tobytes() == want[0][name].tobytes(), name
    assert got[1].dtype == want[1].dtype and np.array_equal(got[1], want[1])
    if damage == "none":  # against the unpickled entries
        keys = list(table)
        for i, r in enumerate(rows):
            e = table[keys[r]]
            assert np.array_equal(got[0]["R"][i], np.asarray(e["R"]).reshape(9))
            assert np.array_equal(got[0]["k"][i], np.asarray(e["k"]).reshape(3) if k else np.zeros(3))


@needs_numba
@pytest.mark.parametrize("unused", [0, 3])
def test_read_with_all_or_some_cameras_used(tmp_path, monkeypatch, unused) -> None:
    """Every camera of the file used (the look-up skipped) or not: the cameras, index and
    names of the guarded unpickler's path, to the bit."""
    from tests.test_speed_camera_pickle import assert_same, outcome, write_files
    from tests.test_speed_camera_pickle import entry as mmpose_entry

    rng = np.random.default_rng(unused)
    table = {(f"S{i % 3}", f"cam{i}"): mmpose_entry(rng) for i in range(12 + unused)}
    keys = list(table)[unused:]
    used = [keys[i] for i in rng.permutation(len(keys))] + keys[:2]  # every camera, some twice
    npz = write_files(tmp_path / f"u{unused}", table, used)
    assert_same(outcome(npz, monkeypatch, "numba"), outcome(npz, monkeypatch, "numpy"))


# ------------------------------------------------------------------ the walk before the scan
@needs_numba
@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    protocol=st.sampled_from([3, 4, 5]),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
    insert=st.one_of(st.none(), st.tuples(st.integers(0, 10**6), st.binary(min_size=1, max_size=9))),
)
def test_what_the_walk_reads_the_scan_accepts(protocol, edits, cut, insert) -> None:
    """``load_numpy_pickle(records=...)`` scans only what it unpickles: every damaged file
    (bytes changed, cut short, bytes inserted) that the records walk reads is one the scan
    accepts, and the walk reads no byte outside the file (it returns, it does not crash)."""
    from posesynth.data.formats import _pickle_scan

    rng = np.random.default_rng(protocol)
    table = {("S1", f"c{i}"): entry(rng, "column", True, i % 2 == 0, i == 1, "none") for i in range(3)}
    data = bytearray(pickle.dumps(table, protocol=protocol))
    for at, value in edits:
        data[at % len(data)] = value
    if insert is not None:
        at = insert[0] % (len(data) + 1)
        data[at:at] = insert[1]
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    found = _pickle_scan.records(bytes(data), mmpose._RECORD_FIELDS)
    if found is not None:
        _pickle_scan.scan(bytes(data))  # raises if the scan would refuse it
