"""posesynth's store: round trips, determinism, atomicity, clear errors on damaged data."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posesynth.data.store import StoreWriter, open_store, write_store

SHARD_SIZES = (3, 5, 1, 4)


def make_shards(seed: int = 0, sizes=SHARD_SIZES) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    shards = []
    for n in sizes:
        shards.append(
            {
                "joints_3d": rng.normal(size=(n, 17, 3)),
                "joints_2d": rng.uniform(0, 1000, size=(n, 17, 2)).astype(np.float32),
                "camera_index": rng.integers(0, 4, size=n, dtype=np.int32),
                "visible": rng.random(size=(n, 17)) > 0.2,
                "activity": np.array([f"act{i % 3}" for i in range(n)], dtype="<U8"),
            }
        )
    return shards


META = {"skeleton": {"name": "h36m17"}, "seed": 7, "version": "0.1.0", "scale": np.float64(1.5)}


def file_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture()
def store_path(tmp_path: Path) -> Path:
    return write_store(tmp_path / "data", META, make_shards())


def test_round_trip(store_path: Path) -> None:
    shards = make_shards()
    store = open_store(store_path)
    assert store.samples == sum(SHARD_SIZES) == len(store)
    assert [s.samples for s in store.shards] == list(SHARD_SIZES)
    assert store.array_names == ("activity", "camera_index", "joints_2d", "joints_3d", "visible")
    assert store.meta == {**META, "scale": 1.5}
    for name in store.array_names:
        expected = np.concatenate([s[name] for s in shards])
        got = store.read(name)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
        assert store.arrays[name].shape == expected.shape
    for shard, arrays in zip(shards, store.iter_shards(["joints_3d", "activity"]), strict=True):
        assert set(arrays) == {"joints_3d", "activity"}
        np.testing.assert_array_equal(arrays["joints_3d"], shard["joints_3d"])
        np.testing.assert_array_equal(arrays["activity"], shard["activity"])
    store.verify()


def test_read_is_lazy_and_spans_shards(store_path: Path) -> None:
    store = open_store(store_path)
    full = np.concatenate([s["joints_3d"] for s in make_shards()])
    inside = store.read("joints_3d", 3, 7)  # inside shard 1: a view of the memory map
    assert isinstance(inside, np.memmap) or isinstance(inside.base, np.memmap)
    assert not inside.flags.writeable
    np.testing.assert_array_equal(inside, full[3:7])
    spanning = store.read("joints_3d", 2, 10)  # shards 0, 1, 2 and 3
    np.testing.assert_array_equal(spanning, full[2:10])
    np.testing.assert_array_equal(store.read("joints_3d", -2), full[-2:])
    assert store.read("joints_3d", 5, 5).shape == (0, 17, 3)
    assert store.read("joints_3d", 100, 200).shape == (0, 17, 3)


def test_read_any_slice_matches_numpy(tmp_path: Path) -> None:
    shards = make_shards(3, sizes=(2, 7, 1, 1, 5))
    store = open_store(write_store(tmp_path / "d", {}, shards))
    full = np.concatenate([s["joints_2d"] for s in shards])

    @settings(max_examples=150, deadline=None)
    @given(st.integers(-20, 20), st.none() | st.integers(-20, 20))
    def check(start: int, stop: int | None) -> None:
        np.testing.assert_array_equal(store.read("joints_2d", start, stop), full[start:stop])

    check()


def test_unknown_array_name(store_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no array 'nope'.*joints_3d"):
        open_store(store_path).read("nope")


def test_identical_inputs_give_identical_bytes(tmp_path: Path) -> None:
    a = write_store(tmp_path / "a", META, make_shards())
    b = write_store(tmp_path / "b" / "nested", META, make_shards())
    ha, hb = file_hashes(a), file_hashes(b)
    assert ha == hb
    assert "dataset.json" in ha and "shards/000003/joints_3d.npy" in ha
    manifest = (a / "dataset.json").read_text()
    assert str(tmp_path) not in manifest  # no absolute paths
    doc = json.loads(manifest)
    assert doc["format"] == "posesynth" and doc["format_version"] == 1
    assert doc["samples"] == sum(SHARD_SIZES)
    assert doc["arrays"]["joints_3d"] == {"dtype": "<f8", "shape": [13, 17, 3]}
    # a different input changes the bytes (the comparison above can fail)
    c = write_store(tmp_path / "c", META, make_shards(seed=1))
    assert file_hashes(c) != ha


def test_fortran_order_input_gives_same_bytes(tmp_path: Path) -> None:
    arr = np.arange(24.0).reshape(4, 6)
    a = write_store(tmp_path / "a", {}, [{"x": arr}])
    b = write_store(tmp_path / "b", {}, [{"x": np.asfortranarray(arr)}])
    assert file_hashes(a) == file_hashes(b)


@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_exception_leaves_nothing(tmp_path: Path, exc_type: type[BaseException]) -> None:
    target = tmp_path / "data"
    with pytest.raises(exc_type), StoreWriter(target, META) as writer:
        writer.write_shard(make_shards()[0])
        assert any(p.name.startswith("data.partial-") for p in tmp_path.iterdir())
        raise exc_type("stop")
    assert list(tmp_path.iterdir()) == []


def test_nothing_at_path_before_commit(tmp_path: Path) -> None:
    target = tmp_path / "data"
    writer = StoreWriter(target, META)
    writer.write_shard(make_shards()[0])
    assert not target.exists()
    assert writer.commit() == target
    assert [p.name for p in tmp_path.iterdir()] == ["data"]
    with pytest.raises(ValueError, match="already committed"):
        writer.write_shard(make_shards()[0])


def test_refuses_existing_path_unless_overwrite(tmp_path: Path, store_path: Path) -> None:
    with pytest.raises(ValueError, match="already exists"):
        StoreWriter(store_path, META)
    assert [p.name for p in tmp_path.iterdir()] == ["data"]
    write_store(store_path, {"new": True}, make_shards(5, sizes=(2,)), overwrite=True)
    store = open_store(store_path)
    assert store.meta == {"new": True} and store.samples == 2
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no .old-/.partial- leftovers


def test_overwrite_never_replaces_a_foreign_directory(tmp_path: Path) -> None:
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(ValueError, match="not a posesynth data set"):
        StoreWriter(foreign, META, overwrite=True)
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_layout_mismatch_errors(tmp_path: Path) -> None:
    with StoreWriter(tmp_path / "d", {}) as writer:
        writer.write_shard({"a": np.zeros((2, 3)), "b": np.zeros(2, dtype=np.int64)})
        with pytest.raises(ValueError, match=r"array 'a': expected shape \(n, 3\), got \(2, 4\)"):
            writer.write_shard({"a": np.zeros((2, 4)), "b": np.zeros(2, dtype=np.int64)})
        with pytest.raises(ValueError, match=r"array 'b': expected dtype <i8, got <f8"):
            writer.write_shard({"a": np.zeros((2, 3)), "b": np.zeros(2)})
        with pytest.raises(ValueError, match=r"missing \['b'\], unexpected \['c'\]"):
            writer.write_shard({"a": np.zeros((2, 3)), "c": np.zeros(2)})
        with pytest.raises(ValueError, match="share their first dimension"):
            writer.write_shard({"a": np.zeros((2, 3)), "b": np.zeros(3, dtype=np.int64)})
        with pytest.raises(ValueError, match="object"):
            writer.write_shard({"a": np.zeros((2, 3)), "b": np.array([None, 1], dtype=object)})
        with pytest.raises(ValueError, match="array name"):
            writer.write_shard({"../evil": np.zeros((2, 3))})
        writer.write_shard({"a": np.ones((1, 3)), "b": np.ones(1, dtype=np.int64)})
    assert open_store(tmp_path / "d").samples == 3


def test_meta_must_be_json(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"meta\.config\.sigma: nan"):
        StoreWriter(tmp_path / "d", {"config": {"sigma": float("nan")}})
    with pytest.raises(ValueError, match=r"meta\.when: datetime"):
        import datetime

        StoreWriter(tmp_path / "d", {"when": datetime.datetime(2024, 1, 1)})
    assert list(tmp_path.iterdir()) == []


def test_commit_without_shards_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="write at least one shard"), StoreWriter(tmp_path / "d", {}):
        pass
    assert list(tmp_path.iterdir()) == []


# -- damaged stores ----------------------------------------------------------------------------


def test_missing_store_and_manifest(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        open_store(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty/dataset\.json: missing"):
        open_store(tmp_path / "empty")


def test_manifest_missing_field(store_path: Path) -> None:
    manifest = store_path / "dataset.json"
    doc = json.loads(manifest.read_text())
    del doc["shards"]
    manifest.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"data/dataset\.json: missing field 'shards'"):
        open_store(store_path)


def test_manifest_not_json(store_path: Path) -> None:
    manifest = store_path / "dataset.json"
    manifest.write_text(manifest.read_text()[:-40])
    with pytest.raises(ValueError, match=r"dataset\.json: not valid JSON .*line \d+"):
        open_store(store_path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(format="other"), r"field 'format' is 'other'"),
        (lambda d: d.update(format_version=99), r"format_version' is 99, newer"),
        (lambda d: d.update(samples=12), r"field 'arrays\.activity\.shape' starts with 13"),
        (lambda d: d["shards"][1].update(samples=0), r"shards\[1\]\.samples' is 0"),
        (lambda d: d["shards"][2].update(index=7), r"shards\[2\]\.index' is 7, expected 2"),
        (lambda d: d["shards"][0]["files"].pop("visible"), r"shards\[0\]\.files' lists"),
        (lambda d: d["arrays"]["visible"].update(dtype="O"), r"arrays\.visible\.dtype.*object"),
        (lambda d: d["arrays"]["visible"].pop("shape"), r"missing field 'arrays\.visible\.shape'"),
    ],
)
def test_manifest_inconsistent(store_path: Path, edit, message: str) -> None:
    manifest = store_path / "dataset.json"
    doc = json.loads(manifest.read_text())
    edit(doc)
    manifest.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=message):
        open_store(store_path)


def test_truncated_npy(store_path: Path) -> None:
    file = store_path / "shards" / "000001" / "joints_3d.npy"
    file.write_bytes(file.read_bytes()[:-8])
    with pytest.raises(ValueError, match=r"shards/000001/joints_3d\.npy: .*truncated"):
        open_store(store_path)
    file.write_bytes(file.read_bytes()[:20])  # header cut too
    with pytest.raises(ValueError, match=r"joints_3d\.npy: not a valid \.npy file"):
        open_store(store_path)


def test_missing_or_wrong_shard_file(store_path: Path) -> None:
    victim = store_path / "shards" / "000002" / "visible.npy"
    victim.unlink()
    with pytest.raises(ValueError, match=r"shards/000002/visible\.npy: missing shard file"):
        open_store(store_path)
    np.save(victim, np.zeros((1, 17), dtype=np.float64))  # right shape, wrong dtype
    with pytest.raises(ValueError, match=r"visible\.npy: expected dtype \|b1 shape \(1, 17\)"):
        open_store(store_path)
    np.save(victim, np.zeros((2, 17), dtype=bool))  # wrong shape
    with pytest.raises(ValueError, match=r"got dtype \|b1 shape \(2, 17\)"):
        open_store(store_path)


def test_verify_detects_changed_bytes(store_path: Path) -> None:
    file = store_path / "shards" / "000003" / "joints_2d.npy"
    data = bytearray(file.read_bytes())
    data[-1] ^= 0xFF  # same size, so only the checksum can tell
    file.write_bytes(bytes(data))
    store = open_store(store_path)
    with pytest.raises(ValueError, match=r"shards/000003/joints_2d\.npy: checksum mismatch"):
        store.verify()


_STORABLE_DTYPES = st.sampled_from(
    ["|b1", "|u1", "<i2", "<u4", "<i8", "<f2", "<f4", "<f8", ">f8", "<c16", "|S3", "<U1", "<U7"]
)


@settings(max_examples=60, deadline=None)
@given(
    dtype=_STORABLE_DTYPES,
    shape=st.lists(st.integers(0, 4), min_size=0, max_size=3).map(
        lambda t: (int(np.prod(t, dtype=np.int64)) % 5 + 1, *t)
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_shard_files_are_np_save_bytes_and_checksums_their_sha256(tmp_path_factory, dtype, shape, seed) -> None:
    """The writer skips np.save's copies (header + raw bytes) and hashes in memory: the files
    must still be exactly np.save's, and the checksums the SHA-256 of the files as read back."""
    import io

    from posesynth.data.store import sha256_file, write_shard_files

    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize, dtype=np.uint8)
    arr = np.frombuffer(raw.tobytes(), dtype=dtype).reshape(shape) if raw.size else np.zeros(shape, dtype=dtype)
    folder = tmp_path_factory.mktemp("shard") / "s"
    written = write_shard_files(
        folder, {"a": arr, "b": np.asfortranarray(np.arange(shape[0] * 2).reshape(shape[0], 2))}
    )
    for name, value in (("a", arr), ("b", np.arange(shape[0] * 2).reshape(shape[0], 2))):
        expected = io.BytesIO()
        np.save(expected, np.ascontiguousarray(value), allow_pickle=False)
        file = folder / f"{name}.npy"
        assert file.read_bytes() == expected.getvalue()
        assert written.files[name] == sha256_file(file) == hashlib.sha256(expected.getvalue()).hexdigest()
