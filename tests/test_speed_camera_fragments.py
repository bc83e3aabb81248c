"""The fast paths of MMPose's streamed export and its chunked read, each against what it
replaced:

- the walked ``cameras.pkl`` fragments (``mmpose._CameraEntries`` with the compiled kernels)
  against the same reader unpickling them (``POSESYNTH_KERNELS=numpy``): every chunk's
  cameras to the bit, the same index and names, or the same error;
- the one-pass statistics, the camera entries as columns and the image names made at once:
  the same bytes and strings;
- the entries pickled from columns (``_camera_pickle.camera_items_pickle``) against
  ``pickle.Pickler``: the same bytes."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posesynth.data.formats import mmpose
from posesynth.data.formats._camera_pickle import STREAM_HEAD, CameraColumns, camera_items_pickle, dict_items_pickle
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
    out = STREAM_HEAD
    for part in fragments:
        fragment = dict_items_pickle(part)
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


# ------------------------------------------------------------------------ statistics
def _stats_one_view_at_a_time(part: np.ndarray, s: np.ndarray, rows: int) -> dict[str, dict[str, np.ndarray]]:
    """The streamed statistics as they were computed before: two passes per statistic."""
    views = {
        "joint2d_stats.pkl": lambda a, b: a[..., :2],
        "joint3d_stats.pkl": lambda a, b: b[..., :3],
        "joint2d_rel_stats.pkl": lambda a, b: a[:, 1:, :2] - a[:, :1, :2],
        "joint3d_rel_stats.pkl": lambda a, b: b[:, 1:, :3] - b[:, :1, :3],
    }
    n = len(part)
    out = {}
    for name, view in views.items():
        total = sum(view(part[lo : lo + rows], s[lo : lo + rows]).sum(axis=0) for lo in range(0, n, rows))
        mean = total / n
        sq = sum(((view(part[lo : lo + rows], s[lo : lo + rows]) - mean) ** 2).sum(axis=0) for lo in range(0, n, rows))
        out[name] = {"mean": mean, "std": np.sqrt(sq / n)}
    return out


@pytest.mark.parametrize(("n", "rows"), [(1, 65536), (7, 3), (100, 100), (1000, 64), (1000, 65536)])
def test_streamed_statistics_one_pass_for_all(tmp_path, n, rows) -> None:
    """One read of each block per pass gives the bits the per-statistic passes gave, and
    ``_joint_stats``' (the in-memory writer's) when the rows fit one block."""
    rng = np.random.default_rng(n)
    part = rng.uniform(0, 1000, (n, 17, 3))
    s = rng.normal(0, 1, (n, 17, 4))
    part.tofile(tmp_path / "part.bin")
    s.tofile(tmp_path / "S.bin")
    got = mmpose._joint_stats_streamed(tmp_path / "part.bin", tmp_path / "S.bin", n, rows)
    ref = _stats_one_view_at_a_time(part, s, rows)
    assert list(got) == list(ref)
    for name in ref:
        for key in ("mean", "std"):
            assert got[name][key].tobytes() == ref[name][key].tobytes(), (name, key)
    if n <= rows:
        whole = mmpose._joint_stats(part[..., :2], s[..., :3])
        for name in whole:
            for key in ("mean", "std"):
                assert got[name][key].tobytes() == whole[name][key].tobytes(), (name, key)


# ------------------------------------------------------------------------ camera entries
def _entries_one_by_one(cams: Any, ks: np.ndarray, ids: list[str], base: int) -> list[dict[str, Any]]:
    """``cameras.pkl`` entries as they were built before: arrays made per entry."""
    dist = np.asarray(cams.distortion, dtype=np.float64)[ks]
    if cams.model.value in ("h36m", "opencv"):
        k1, k2, p1, p2, k3 = dist.T
    else:
        k1 = k2 = p1 = p2 = k3 = np.zeros(len(ks))
    intr = np.asarray(cams.intrinsics, dtype=np.float64)[ks]
    rot_pkl = np.swapaxes(np.asarray(cams.rotation, dtype=np.float64)[ks], -1, -2)
    centre = np.asarray(cams.center, dtype=np.float64)[ks]
    size = np.asarray(cams.image_size)[ks].tolist()
    out = []
    for j, k in enumerate(ks.tolist()):
        cam_id = ids[j]
        known = cam_id in mmpose.H36M_CAMERA_IDS
        out.append(
            {
                "R": rot_pkl[j].copy(),
                "T": centre[j].reshape(3, 1).copy(),
                "c": intr[j, 2:4].reshape(2, 1).copy(),
                "f": intr[j, 0:2].reshape(2, 1).copy(),
                "k": np.array([[k1[j]], [k2[j]], [k3[j]]]),
                "p": np.array([[p1[j]], [p2[j]]]),
                "w": int(size[j][0]),
                "h": int(size[j][1]),
                "name": f"camera{mmpose.H36M_CAMERA_IDS.index(cam_id) + 1}" if known else f"camera{base + k + 1}",
                "id": cam_id,
            }
        )
    return out


@pytest.mark.parametrize("model", ["h36m", "opencv", "pinhole", "fisheye"])
@pytest.mark.parametrize("h36m_ids", [False, True])
def test_camera_entries_pickle_to_the_same_bytes(model, h36m_ids) -> None:
    """Entries whose arrays are rows of stacked arrays pickle (whole, and as a streamed
    fragment) to the bytes of entries built array by array."""
    from posesynth.api import generate
    from posesynth.data.formats.numpy_pickle import dumps_numpy_pickle

    cams = generate(40, seed=6, camera_model=model).cameras
    assert cams is not None
    ks = np.random.default_rng(1).permutation(40)[:25]
    ids = [mmpose.H36M_CAMERA_IDS[i % 4] if h36m_ids else f"cam{i}" for i in range(len(ks))]
    subjects = [f"S{j}" for j in range(7)]  # a subject object shared by its cameras
    keys = [(subjects[i // 4], cam_id) for i, cam_id in enumerate(ids)]
    table = mmpose._camera_columns(cams, ks, ids, base=7)
    got = dict(zip(keys, table.entries(), strict=True))
    ref = dict(zip(keys, _entries_one_by_one(cams, ks, ids, base=7), strict=True))
    assert dumps_numpy_pickle(got) == dumps_numpy_pickle(ref)
    assert dict_items_pickle(got) == dict_items_pickle(ref)
    assert camera_items_pickle(keys, table) == dict_items_pickle(ref)


# ------------------------------------------------------------------------ image names
_TEXT = st.text(alphabet=st.sampled_from(list("aZ9 _-./\\ü\t")), max_size=6)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    subjects=st.lists(_TEXT, min_size=1, max_size=8),
    actions=st.lists(_TEXT, min_size=1, max_size=8),
    frames=st.one_of(st.none(), st.lists(st.integers(0, 10**7), min_size=8, max_size=8)),
    as_bytes=st.booleans(),
)
def test_image_names_at_once_are_format_h36m_imgname(subjects, actions, frames, as_bytes) -> None:
    """The writer's names (actions cleaned once per distinct value, names formatted without
    the parse-back check) are MMPose's names of the cleaned ids (as ``format_h36m_imgname`` makes them), which parse back."""
    from dataclasses import replace

    from posesynth.api import generate

    n = 8
    ds = generate(n, seed=1)
    subject = np.array([subjects[i % len(subjects)] for i in range(n)])
    action = np.array([actions[i % len(actions)] for i in range(n)])
    if as_bytes:
        action = np.char.encode(action, "utf-8")
    ds = replace(ds, subject=subject, action=action, frame=None if frames is None else np.array(frames))
    annotations, _, _ = mmpose._mmpose_payload(ds)
    names = annotations["imgname"].tolist()
    _, cam_id = mmpose._camera_ids(ds.camera_names, ds.num_cameras)
    clean_subject = [mmpose._clean_id(s) or mmpose.DEFAULT_SUBJECT for s in subject.tolist()]
    clean_action = [mmpose._clean_action(a) for a in action]  # one by one, as before
    frame = [0] * n if frames is None else frames  # a camera per sample: each counter starts at 0
    want = []
    for s, a, c, f in zip(clean_subject, clean_action, cam_id, frame, strict=True):
        stem = f"{s}_{a}.{c}"  # MMPose's layout: S1/S1_Walk_1.54138969/S1_Walk_1.54138969_000001.jpg
        want.append(f"{s}/{stem}/{stem}_{f + 1:06d}.jpg")
        assert mmpose.parse_h36m_imgname(want[-1]) == (s, a, c, f)
        assert mmpose.format_h36m_imgname(s, a, c, f) == want[-1]
    assert names == want
    assert annotations["imgname"].dtype == np.array(want).dtype


# ------------------------------------------------------------------------ the direct pickle
def columns(rng: np.random.Generator, n: int, sizes: tuple[int, int], ids: list[str]) -> CameraColumns:
    def arr(*shape: int) -> np.ndarray:
        return rng.normal(size=(n, *shape)) * rng.choice([1e-300, 1.0, 1e300], size=(n, *shape))

    return CameraColumns(
        R=arr(3, 3), T=arr(3, 1), c=arr(2, 1), f=arr(2, 1), k=arr(3, 1), p=arr(2, 1),
        size=rng.integers(sizes[0], sizes[1], (n, 2)).tolist(),
        name=[f"camera{i + 1}" for i in range(n)],
        id=ids,
    )  # fmt: skip


def fresh(text: str) -> str:
    """An equal str that is a new object (as ``tolist()`` or a cleaning regex gives)."""
    return "".join([text[:1], text[1:]]) if len(text) > 1 else text


SUBJECTS = {
    "one object": lambda i: "S1",
    "fresh per key": lambda i: fresh(f"S{i % 3}"),
    "shared in blocks": lambda i: None,  # filled per block below: memo hits past index 255
    "field names": lambda i: "Rchkpwf<"[i % 8],  # one-character strs are singletons: the memo's
}


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    n=st.one_of(st.integers(1, 40), st.sampled_from([999, 1000, 1001, 1999, 2000, 2001])),
    subjects=st.sampled_from(sorted(SUBJECTS)),
    shared_ids=st.booleans(),
    sizes=st.sampled_from([(1, 256), (256, 65536), (65536, 2**31), (0, 2**31)]),
    seed=st.integers(0, 2**32 - 1),
)
def test_direct_pickle_is_the_picklers_bytes(n, subjects, shared_ids, sizes, seed) -> None:
    """Entries written from columns: byte for byte ``pickle.Pickler``'s, through memo indices
    past 255, subjects and camera ids repeated as objects (or equal but fresh), subjects
    that are the field names' own objects, ints of every width, and batches of 1,000."""
    rng = np.random.default_rng(seed)
    blocks = [fresh(f"S{b}") for b in range(n // 10 + 1)]
    subject = [blocks[i // 10] if subjects == "shared in blocks" else SUBJECTS[subjects](i) for i in range(n)]
    cam_objects = [fresh(f"{54138969 + j}") for j in range(4)]
    if shared_ids:  # a shared camera table: one camera-id object under many subjects
        subject = [fresh(f"S{i // 4}") for i in range(n)]
        cam_id = [cam_objects[i % 4] for i in range(n)]
    else:
        cam_id = [fresh(f"cam{i}") for i in range(n)]
    keys = list(zip(subject, cam_id, strict=True))
    assume_distinct = len(set(keys)) == n
    if not assume_distinct:
        keys = [(s, fresh(f"{c}-{i}")) for i, (s, c) in enumerate(keys)]
    cols = columns(rng, n, sizes, [key[1] for key in keys])
    want = dict_items_pickle(dict(zip(keys, cols.entries(), strict=True)))
    assert camera_items_pickle(keys, cols) == want
    assert pickle.loads(STREAM_HEAD + want + b".").keys() == dict(zip(keys, keys, strict=True)).keys()


@pytest.mark.parametrize(
    "change", ["none", "one entry", "non-ASCII subject", "id not the key's", "size 2**31", "name is a key's"]
)
def test_direct_pickle_leaves_what_it_does_not_model(monkeypatch, change) -> None:
    """Input outside the direct writer's rules goes to the pickler (the same bytes either way)."""
    from posesynth.data.formats import _camera_pickle

    rng = np.random.default_rng(3)
    n = 30
    keys = [(fresh(f"S{i // 5}"), fresh(f"cam{i}")) for i in range(n)]
    cols = columns(rng, n, (1, 5000), [key[1] for key in keys])
    if change == "one entry":
        keys, cols = keys[:1], cols.take([0])
    elif change == "non-ASCII subject":
        keys[3] = ("Sü", keys[3][1])
    elif change == "id not the key's":
        cols.id[3] = fresh(keys[3][1])
    elif change == "size 2**31":
        cols.size[3] = [2**31, 10]
    elif change == "name is a key's":
        cols.name[5] = keys[2][1]
    want = dict_items_pickle(dict(zip(keys, cols.entries(), strict=True)))
    calls = []
    real = _camera_pickle.dict_items_pickle
    monkeypatch.setattr(_camera_pickle, "dict_items_pickle", lambda items: calls.append(1) or real(items))
    assert camera_items_pickle(keys, cols) == want
    assert calls == ([] if change == "none" else [1])


def _taken_by(monkeypatch) -> dict[str, int]:
    """Counts of the chunks served by ``take_in_order`` (fragment rows) and by ``take`` (keys)."""
    counts = {"in_order": 0, "by_key": 0}
    in_order, by_key = mmpose._CameraEntries.take_in_order, mmpose._CameraEntries.take

    def spy_in_order(self, subject, camera_id):
        out = in_order(self, subject, camera_id)
        counts["in_order"] += out is not None
        return out

    def spy_by_key(self, keys):
        counts["by_key"] += 1
        return by_key(self, keys)

    monkeypatch.setattr(mmpose._CameraEntries, "take_in_order", spy_in_order)
    monkeypatch.setattr(mmpose._CameraEntries, "take", spy_by_key)
    return counts


@pytest.mark.parametrize("rows", [50, 30, 77, 230])
def test_chunks_in_the_files_order_take_fragment_rows(tmp_path, monkeypatch, rows) -> None:
    """What ``convert`` writes and reads back (a camera per sample, fragments in the samples'
    order): every chunk, aligned with the fragments of 50 or not, is served as rows of the
    walked fragments, with no key looked up one by one, and reads as the whole file."""
    from posesynth.api import generate

    store = write_store_dataset(generate(230, seed=3, camera_model="h36m"), tmp_path / "src", shard_size=100)
    convert_streamed(store, tmp_path / "m", "mmpose", "posesynth", rows=50)
    npz = tmp_path / "m" / "h36m_train.npz"
    ref = chunk_outcomes(npz, monkeypatch, "numpy", rows, 10_000)
    counts = _taken_by(monkeypatch)
    fast = chunk_outcomes(npz, monkeypatch, "numba", rows, 10_000)
    assert counts == {"in_order": -(-230 // rows), "by_key": 0}
    assert_same_chunks(fast, ref)


@pytest.mark.parametrize("order", ["rig", "reversed", "shuffled"])
def test_chunks_out_of_the_files_order_fall_back_to_keys(tmp_path, monkeypatch, order) -> None:
    """Cameras reused by later chunks (a rig), or used in another order than the file's: the
    chunks the fragments' rows cannot serve go by key (a rescan finds the entries handed
    out before), with the same cameras as the NumPy path."""
    rng = np.random.default_rng(6)
    parts = [{("S1", str(54138969 + 10 * f + i)): entry(rng) for i in range(4)} for f in range(3)]
    keys = [key for part in parts for key in part]
    if order == "rig":
        used = keys[:4] * 3 + keys[4:] * 2
    elif order == "reversed":
        used = keys[::-1]
    else:
        used = [keys[i] for i in np.random.default_rng(1).permutation(len(keys))]
    npz = write_files(tmp_path, {}, used, pkl=streamed_pickle(parts))
    for rows in (4, 5):
        ref = chunk_outcomes(npz, monkeypatch, "numpy", rows, 10_000)
        with pytest.MonkeyPatch.context() as spy:
            counts = _taken_by(spy)
            fast = chunk_outcomes(npz, monkeypatch, "numba", rows, 10_000)
        assert_same_chunks(fast, ref)
        assert ref[0] == "ok" and counts["by_key"] > 0
