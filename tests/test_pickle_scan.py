"""The compiled safety scan of pickles (``data/formats/_pickle_scan.py``) against the
``pickletools.genops`` walk it replaces: the same files accepted, the same loaded objects,
and the bombs refused before unpickling."""

from __future__ import annotations

import pickle
import pickletools
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posesynth.data.formats import _pickle_scan
from posesynth.data.formats.numpy_pickle import dumps_numpy_pickle, load_numpy_pickle
from posesynth.util import jit

pytestmark = pytest.mark.skipif(not jit.numba_installed(), reason="numba (the fast extra) is not installed")


def cameras(n: int = 3) -> dict:
    rng = np.random.default_rng(n)
    return {
        (f"S{k}", str(54138969 + k)): {
            "R": rng.normal(size=(3, 3)), "T": rng.normal(size=(3, 1)), "c": rng.normal(size=(2, 1)),
            "f": rng.normal(size=(2, 1)), "k": rng.normal(size=(3, 1)), "p": rng.normal(size=(2, 1)),
            "w": 1000, "h": 1002, "name": f"cam{k}", "id": str(k), "big": 2**70 + k, "x": 0.25 * k,
            "raw": bytes(range(k + 1)), "ok": True, "none": None, "tags": {"a", "b"}, "list": [1, 2.0, "3"],
        }
        for k in range(n)
    }  # fmt: skip


def pickles() -> list[bytes]:
    obj = cameras()
    return [pickle.dumps(obj, protocol=p) for p in range(6)] + [dumps_numpy_pickle(obj)]


def genops_walk(data: bytes) -> None:
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET") and int(str(arg)) > len(data):
            raise ValueError("memo index")


@pytest.mark.parametrize("k", range(7))
def test_valid_pickles_of_every_protocol_pass(k: int) -> None:
    data = pickles()[k]
    genops_walk(data)
    _pickle_scan.scan(data)


def test_bombs_are_refused() -> None:
    small = pickle.dumps({"a": np.ones(3)}, protocol=2)
    memo = b"\x80\x02]r" + struct.pack("<I", 0x7FFFFFF0) + b"."  # LONG_BINPUT far beyond the file
    with pytest.raises(ValueError, match="memo index 2147483632 beyond"):
        _pickle_scan.scan(memo)
    for declared in (b"B" + struct.pack("<I", 2**31), b"\x8e" + struct.pack("<Q", 2**63 + 5), b"T\xff\xff\xff\xff"):
        with pytest.raises(ValueError, match="declares more than"):
            _pickle_scan.scan(b"\x80\x03" + declared + b"xx.")
    with pytest.raises(ValueError, match="unknown opcode"):
        _pickle_scan.scan(b"\x80\x02\xff.")
    with pytest.raises(ValueError, match="declares more than"):
        _pickle_scan.scan(small[:-1])  # no STOP
    with pytest.raises(ValueError, match="declares more than"):
        _pickle_scan.scan(b"cnumpy\nndarr")  # a GLOBAL's second line never ends


def outcome(data: bytes, tmp_path, monkeypatch, path: str):
    """What load_numpy_pickle gives on ``data`` with the kernels ``path``: ('ok', object) or ('error', None)."""
    monkeypatch.setenv(jit.ENV_VAR, path)
    f = tmp_path / "c.pkl"
    f.write_bytes(data)
    try:
        return "ok", load_numpy_pickle(f)
    except ValueError:
        return "error", None


def same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and (a == b or (a != a and b != b))


@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    which=st.integers(0, 6),
    edits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255), st.sampled_from("fdi")), max_size=3
    ),
    cut=st.floats(0.5, 1.0),
)
def test_damaged_pickles_load_the_same_either_way(tmp_path, monkeypatch, which, edits, cut) -> None:
    """Flipped, deleted and inserted bytes and truncations: load_numpy_pickle refuses the
    same files and loads the same objects with the compiled scan as with genops."""
    data = bytearray(pickles()[which][: max(1, int(len(pickles()[which]) * cut))])
    for where, byte, how in edits:
        i = int(where * len(data))
        if how == "f" and data:
            data[i] = byte
        elif how == "d" and len(data) > 1:
            del data[i]
        else:
            data.insert(i, byte)
    ref = outcome(bytes(data), tmp_path, monkeypatch, "numpy")
    got = outcome(bytes(data), tmp_path, monkeypatch, "numba")
    assert got[0] == ref[0] and same(got[1], ref[1])
