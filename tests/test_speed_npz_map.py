"""The MMPose reader maps a stored ``.npz``'s members instead of copying them (issue 15:
gigabytes of fresh memory at a million frames): the arrays are ``np.load``'s, bit for bit,
as writeable copy-on-write views; every member's CRC-32 is still checked; and anything that cannot be
mapped is read as before, with the same errors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posesynth.data.formats import _npz_map, mmpose
from posesynth.data.formats.registry import write_any
from posesynth.jobs.generate import GenerateConfig, generate_dataset


def _members(path: Path) -> dict[str, np.ndarray | None]:
    mapping = _npz_map.file_mapping(path)
    assert mapping is not None
    with zipfile.ZipFile(path) as zf:
        return {i.filename[:-4]: _npz_map.mapped_member(mapping, i) for i in zf.infolist()}


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from(["<f8", "<f4", ">f8", "<i2", "u1", "<U7", "?"]),
    shape=st.sampled_from([(0,), (1,), (13,), (5, 3), (4, 17, 3), (2, 0, 3)]),
    name_len=st.integers(1, 9),
)
def test_stored_members_map_to_np_loads_arrays(tmp_path_factory, seed, dtype, shape, name_len) -> None:
    """Any dtype, shape and member name length (which moves the data's alignment)."""
    rng = np.random.default_rng(seed)
    arr = (rng.normal(0, 100, shape) if np.dtype(dtype).kind != "U" else rng.integers(0, 999, shape)).astype(dtype)
    other = rng.normal(0, 1, 7)
    path = tmp_path_factory.mktemp("npz") / "a.npz"
    np.savez(path, **{"k" * name_len: arr, "other": other})
    mapped = _members(path)
    with np.load(path) as want:
        for key, got in mapped.items():
            assert got is not None, key
            ref = want[key]
            assert got.dtype == ref.dtype and got.shape == ref.shape
            assert got.tobytes() == ref.tobytes()
            assert got.flags.writeable or got.size == 0


def test_what_cannot_be_mapped_is_read_as_before(tmp_path) -> None:
    """Compressed members, Fortran order and object arrays give None; a damaged member fails
    its CRC-32 (None), and the reader then raises np.load's error."""
    rng = np.random.default_rng(1)
    compressed = tmp_path / "c.npz"
    np.savez_compressed(compressed, a=rng.normal(size=(50, 3)))
    assert _members(compressed) == {"a": None}
    fortran = tmp_path / "f.npz"
    np.savez(fortran, a=np.asfortranarray(rng.normal(size=(6, 4))), b=np.array([1, "x"], dtype=object))
    assert _members(fortran) == {"a": None, "b": None}
    damaged = tmp_path / "d.npz"
    np.savez(damaged, S=rng.normal(size=(40, 17, 4)), part=rng.normal(size=(40, 17, 3)), imgname=np.array(["x"] * 40))
    data = bytearray(damaged.read_bytes())
    data[data.index(b"\x93NUMPY") + 200] ^= 0xFF  # a byte of the first member's (S) data
    damaged.write_bytes(bytes(data))
    assert None in _members(damaged).values()
    with pytest.raises(ValueError, match=r"d\.npz: \w+: cannot read \(BadZipFile: Bad CRC-32"):
        mmpose._load_npz(damaged, required=("imgname", "S", "part"), optional=())


def test_read_mmpose_is_the_same_mapped_or_copied(tmp_path, monkeypatch) -> None:
    """A data set written to MMPose reads back the same with its members mapped (some
    unaligned: the compiled kernels take them) as copied by np.load; writing into the
    mapped arrays changes neither the file nor another read of it."""
    ds = generate_dataset(GenerateConfig(samples=120, seed=3)).complete()
    out = tmp_path / "mm"
    write_any(ds, out, "mmpose")
    npz = out / "h36m_train.npz"
    mapped = mmpose._load_npz(npz, required=("imgname", "S", "part"), optional=("center", "scale"))
    assert any(not a.flags.aligned for a in mapped.values())
    before = npz.read_bytes()
    mapped["S"][:] = 7.0
    again = mmpose._load_npz(npz, required=("imgname", "S", "part"), optional=())
    assert npz.read_bytes() == before and not (again["S"] == 7.0).any()
    got = mmpose.read_mmpose(npz)
    monkeypatch.setattr(mmpose, "file_mapping", lambda path: None)
    copied = mmpose._load_npz(npz, required=("imgname", "S", "part"), optional=("center", "scale"))
    assert all(a.flags.writeable for a in copied.values())
    want = mmpose.read_mmpose(npz)
    for name in ("joints_3d_world", "joints_3d_camera", "joints_2d", "visibility"):
        assert getattr(got, name).tobytes() == getattr(want, name).tobytes(), name
    assert got.cameras is not None and want.cameras is not None
    assert got.cameras.rotation.tobytes() == want.cameras.rotation.tobytes()
    assert list(got.subject) == list(want.subject) and list(got.frame) == list(want.frame)
    got.joints_2d[0, 0] = 1.0  # as writeable as a store's
