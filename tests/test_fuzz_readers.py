"""Fuzzing every reader and configuration loader (issue 14): damaged files never crash.

For each format a valid seed file is written, then mutated by hypothesis: random bytes,
truncations, bit flips, runs of huge numbers, arrays of wrong dtypes and shapes, deep JSON.
Every outcome must be a clean ``ValueError``/``OSError`` (what the CLI turns into one
``error:`` line) or a data set that passes the boundary validator; never another exception,
and the process's peak memory may not grow by more than :data:`MEMORY_BUDGET_MB`.

Default size: :data:`EXAMPLES` examples per target (the whole file runs in about a minute);
``pytest -m slow`` adds a profile ten times larger.
"""

from __future__ import annotations

import json
import resource
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posesynth.body.skeleton import H36M17
from posesynth.data.dataset import PoseDataset
from posesynth.data.formats.registry import read_any, write_any
from posesynth.data.validate import validate_dataset
from posesynth.jobs.generate import generate, load_config

EXAMPLES = 25
MEMORY_BUDGET_MB = 1000
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
SLOW = settings(max_examples=10 * EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One valid file (or folder) per format, small."""
    root = tmp_path_factory.mktemp("seeds")
    store = root / "store"
    generate(load_config(samples=24, seed=2, shard_size=12), store, preview=False)
    ds = read_any(store)
    write_any(ds, root / "mm", "mmpose")
    seq = PoseDataset(
        skeleton=H36M17, joints_3d_world=ds.joints_3d_world[:6].astype(np.float64),
        subject=np.array(["S1"] * 6), action=np.array(["Walk"] * 6), frame=np.arange(6),
    )  # fmt: skip
    write_any(seq, root / "vp", "videopose3d")
    write_any(seq, root / "trc", "trc", rate=50.0)  # a folder of one .trc per sequence
    from test_format_seed_h5 import make_fixture

    h5 = make_fixture(root)
    out = {
        "store_manifest": store / "dataset.json",
        "store_shard": store / "shards" / "000000" / "joints_3d_world.npy",
        "mmpose_npz": next((root / "mm").glob("*.npz")),
        "mmpose_pkl": root / "mm" / "cameras.pkl",
        "vp3d": next((root / "vp").glob("data_3d_*.npz")),
        "vp2d": next((root / "vp").glob("data_2d_*.npz"), None),
        "trc": next((root / "trc").glob("*.trc")),
        "h5": Path(h5["h5"]) if isinstance(h5, dict) and "h5" in h5 else next(root.glob("*.h5")),
    }
    return {k: v for k, v in out.items() if v is not None}


def _read_target(path: Path) -> Any:
    """What ``posesynth info`` does with the damaged file: read the data set it belongs to."""
    if path.name == "dataset.json" or (path.suffix == ".npy" and "shards" in path.parts):
        root = path.parent if path.name == "dataset.json" else path.parents[2]
        return read_any(root)
    if path.name == "cameras.pkl":
        return read_any(path.parent)
    return read_any(path)


def _check_outcome(call: Callable[[], Any], where: Path) -> None:
    before = _peak_mb()
    try:
        result = call()
    except (ValueError, OSError) as exc:  # the user-error family: one error: line
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
    else:
        if isinstance(result, PoseDataset):
            validate_dataset(result, where)  # read_any validated it; must hold
    assert _peak_mb() - before < MEMORY_BUDGET_MB


MUTATIONS = st.one_of(
    st.tuples(st.just("random"), st.binary(max_size=4096)),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 7)), min_size=1, max_size=16)),
    st.tuples(
        st.just("huge"),
        st.tuples(
            st.floats(0, 1),
            st.sampled_from([b"\xff" * 8, b"\x7f\xef" + b"\xff" * 6, b"\x7f\xf0" + b"\x00" * 6, b"9" * 400]),
        ),
    ),
)


def _mutate(data: bytes, mutation: tuple[str, Any]) -> bytes:
    kind, arg = mutation
    if kind == "random":
        return arg
    if kind == "truncate":
        return data[: int(arg * len(data))]
    if kind == "flip":
        out = bytearray(data)
        for where, bit in arg:
            if out:
                out[min(int(where * len(out)), len(out) - 1)] ^= 1 << bit
        return bytes(out)
    where, blob = arg
    at = int(where * len(data))
    return data[:at] + blob + data[at + len(blob) :]


@pytest.mark.parametrize(
    "target", ["store_manifest", "store_shard", "mmpose_npz", "mmpose_pkl", "vp3d", "vp2d", "trc", "h5"]
)
@FUZZ
@given(mutation=MUTATIONS)
def test_damaged_files(seeds: dict[str, Path], target: str, mutation: tuple[str, Any]) -> None:
    if target not in seeds:
        pytest.skip(f"no {target} seed")
    _fuzz_one(seeds, target, mutation)


@pytest.mark.slow
@pytest.mark.parametrize(
    "target", ["store_manifest", "store_shard", "mmpose_npz", "mmpose_pkl", "vp3d", "vp2d", "trc", "h5"]
)
@SLOW
@given(mutation=MUTATIONS)
def test_damaged_files_slow(seeds: dict[str, Path], target: str, mutation: tuple[str, Any]) -> None:
    if target not in seeds:
        pytest.skip(f"no {target} seed")
    _fuzz_one(seeds, target, mutation)


def _fuzz_one(seeds: dict[str, Path], target: str, mutation: tuple[str, Any]) -> None:
    seed = seeds[target]
    with tempfile.TemporaryDirectory() as tmp:
        # copy the data set the file belongs to, then damage the one file
        if target == "h5":  # the .h5 and the .mat beside it
            for sibling in seed.parent.glob(seed.stem + ".*"):
                shutil.copy(sibling, Path(tmp) / sibling.name)
            victim = Path(tmp) / seed.name
        else:
            src_root = seed.parents[2] if target == "store_shard" else seed.parent
            dst_root = Path(tmp) / src_root.name
            shutil.copytree(src_root, dst_root)
            victim = dst_root / seed.relative_to(src_root)
        victim.write_bytes(_mutate(seed.read_bytes(), mutation))
        _check_outcome(lambda: _read_target(victim), victim)


# ------------------------------------------------------------------ wrong dtypes and shapes

ARRAYS = st.tuples(
    st.sampled_from(["<f8", "<f4", "<i8", "<U3", "|b1", "<c16", "|u1"]),
    st.lists(st.integers(0, 40), min_size=0, max_size=4),
    st.sampled_from([0.0, np.nan, np.inf, -1e300, 1e300, 7.0]),
)


def _array(spec: tuple[str, list[int], float]) -> np.ndarray:
    dtype, shape, fill = spec
    arr = np.zeros(shape, dtype=np.float64)
    arr.fill(fill)
    with np.errstate(all="ignore"):
        return arr.astype(dtype) if np.dtype(dtype).kind != "U" else np.full(shape, "ab", dtype=dtype)


@FUZZ
@given(field=st.sampled_from(["S", "part", "imgname", "center", "scale"]), spec=ARRAYS)
def test_mmpose_wrong_arrays(seeds: dict[str, Path], field: str, spec: tuple[str, list[int], float]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mm"
        shutil.copytree(seeds["mmpose_npz"].parent, folder)
        npz = folder / seeds["mmpose_npz"].name
        with np.load(npz) as z:
            arrays = {k: z[k] for k in z.files}
        arrays[field] = _array(spec)
        np.savez(npz, **arrays)
        _check_outcome(lambda: read_any(npz), npz)


@FUZZ
@given(name=st.sampled_from(["joints_3d_world", "joints_2d", "camera_intrinsics", "visibility", "frame"]), spec=ARRAYS)
def test_store_wrong_arrays(seeds: dict[str, Path], name: str, spec: tuple[str, list[int], float]) -> None:
    """A shard file replaced by another array, the manifest made to agree (a consistent lie)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        shutil.copytree(seeds["store_manifest"].parent, root)
        doc = json.loads((root / "dataset.json").read_text())
        arr = _array(spec)
        if arr.ndim == 0 or name not in doc["arrays"]:
            return
        import hashlib

        for shard in doc["shards"]:
            part = (
                arr[: shard["samples"]]
                if len(arr) >= shard["samples"]
                else np.resize(arr, (shard["samples"], *arr.shape[1:]))
            )
            file = root / "shards" / f"{shard['index']:06d}" / f"{name}.npy"
            np.save(file, part)
            shard["files"][name] = hashlib.sha256(file.read_bytes()).hexdigest()
            doc["arrays"][name] = {"dtype": part.dtype.str, "shape": [doc["samples"], *part.shape[1:]]}
        (root / "dataset.json").write_text(json.dumps(doc))
        _check_outcome(lambda: read_any(root), root)


# ------------------------------------------------------------------------- configuration

YAML_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**30), 10**30),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def _config_loaders() -> dict[str, Callable[[Path], Any]]:
    from posesynth.jobs.camera_config import load_cameras_config
    from posesynth.poses.motion_spec import load_motions

    loaders: dict[str, Callable[[Path], Any]] = {
        "generate": lambda p: load_config(p),
        "motions": lambda p: load_motions(p, H36M17),
        "cameras": lambda p: load_cameras_config(p),
    }
    try:
        from posesynth.lift.noise import load_noise_config
        from posesynth.lift.train import load_train_config

        loaders["train"] = lambda p: load_train_config(p)
        loaders["noise"] = lambda p: load_noise_config(p)
    except ModuleNotFoundError:  # the train extra is absent
        pass
    return loaders


KEYS = {
    "generate": ["samples", "seed", "shard_size", "camera", "activities", "angle_limits_deg", "height_mean_m", "dtype"],
    "motions": ["variants", "rom", "collisions", "motions", "bone_scale", "global_rotation"],
    "cameras": ["model", "count", "rig", "fov_deg", "distance_m", "image_size"],
    "train": ["epochs", "batch_size", "lr", "width", "blocks", "dropout"],
    "noise": ["sigma_px", "sigma_bbox", "outlier_prob", "drop_prob"],
}


@pytest.mark.parametrize("loader", sorted(KEYS))
@FUZZ
@given(data=st.data())
def test_config_loaders(loader: str, data: st.DataObject) -> None:
    import yaml

    loaders = _config_loaders()
    if loader not in loaders:
        pytest.skip(f"{loader} needs an optional extra")
    kind = data.draw(st.sampled_from(["doc", "bytes", "deep"]))
    if kind == "doc":
        doc = data.draw(st.dictionaries(st.sampled_from(KEYS[loader]), YAML_VALUES, max_size=4))
        text = yaml.safe_dump(doc).encode()
    elif kind == "bytes":
        text = data.draw(st.binary(max_size=512))
    else:
        depth = data.draw(st.integers(10, 1_500))  # past Python's recursion limit of 1,000
        text = (("[" * depth) + ("]" * depth)).encode()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_bytes(text)
        _check_outcome(lambda: loaders[loader](path), path)


@FUZZ
@given(depth=st.integers(1, 300_000), opener=st.sampled_from(["[", '{"a":']))
def test_deep_json_manifest(seeds: dict[str, Path], depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        shutil.copytree(seeds["store_manifest"].parent, root)
        (root / "dataset.json").write_text(opener * depth + "1" + closer * depth)
        _check_outcome(lambda: read_any(root), root)
