"""A PoseDataset to and from posesynth's store: exact round trips, generated stores, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posesynth import __version__
from posesynth.body.skeleton import H36M17
from posesynth.data.dataset import PoseDataset
from posesynth.data.formats.store_io import is_pose_store, read_store, write_store_dataset
from posesynth.data.store import open_store, write_store
from posesynth.geometry.camera import Camera, look_at
from posesynth.jobs.generate import generate, load_config

J = 17


def camera_batch(k: int, model: str = "opencv", seed: int = 0) -> Camera:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, 3)) + np.array([0.0, -4.0, 1.5])
    rotation = look_at(centers, np.array([0.0, 0.0, 1.0]))
    size = {"opencv": 5, "fisheye": 4, "pinhole": 0, "h36m": 5}[model]
    return Camera(
        model=model,
        intrinsics=np.column_stack(
            [rng.uniform(900, 1200, k), rng.uniform(900, 1200, k), rng.uniform(400, 600, (k, 2))]
        ),
        distortion=rng.normal(scale=0.01, size=(k, size)),
        rotation=rotation,
        center=centers,
        image_size=np.tile([1000, 1002], (k, 1)),
    )


def table_dataset(n: int = 11, k: int = 3, seed: int = 1) -> PoseDataset:
    """N samples seen by a table of K opencv cameras, every optional field filled."""
    rng = np.random.default_rng(seed)
    cams = camera_batch(k, seed=seed)
    world = rng.normal(scale=0.4, size=(n, J, 3)) + np.array([0.0, 0.0, 1.0])
    index = rng.integers(0, k, size=n)
    ds = PoseDataset(
        skeleton=H36M17,
        joints_3d_world=world,
        visibility=rng.uniform(size=(n, J)),
        cameras=cams,
        camera_index=index,
        camera_names=np.array([f"S1/cam{i}" for i in range(k)], dtype=object),
        subject=np.array(["S1", "S5", "S11"] * n, dtype=object)[:n],
        action=np.array([f"Walking {i % 2}" for i in range(n)]),
        frame=np.arange(n, dtype=np.int32) * 5,
        meta={
            "source_format": "test",
            "path": Path("/data/x.npz"),
            "scale": np.float32(0.5),
            "nested": {"list": (1, 2.5), "nan": float("nan")},
        },
        extra={
            "center": rng.uniform(0, 1000, size=(n, 2)),
            "scale": rng.uniform(1, 3, size=n).astype(np.float32),
            "imgname": np.array([f"S1/img_{i:06d}.jpg" for i in range(n)], dtype=object),
            "zind": rng.integers(0, 64, size=(n, J)).astype(np.int16),
        },
    )
    return ds.complete()  # fills camera-frame 3D and 2D from the cameras


def assert_same_dataset(a: PoseDataset, b: PoseDataset) -> None:
    assert a.skeleton == b.skeleton
    for name in ("joints_3d_world", "joints_3d_camera", "joints_2d", "visibility"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert y.dtype == np.float64 and y.shape == x.shape, name
            np.testing.assert_array_equal(y, x, err_msg=name)
    for name in ("subject", "action", "frame", "camera_index", "camera_names"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_array_equal(np.asarray(y), np.asarray(x), err_msg=name)
    assert (a.cameras is None) == (b.cameras is None)
    if a.cameras is not None:
        assert b.cameras.model == a.cameras.model
        for field in ("intrinsics", "distortion", "rotation", "center", "image_size"):
            np.testing.assert_array_equal(getattr(b.cameras, field), getattr(a.cameras, field))
    assert set(b.extra) == set(a.extra)
    for name, value in a.extra.items():
        got = b.extra[name]
        assert got.dtype.kind != "O", name
        np.testing.assert_array_equal(got, np.asarray(value), err_msg=name)
        if np.asarray(value).dtype.kind != "O":
            assert got.dtype == np.asarray(value).dtype, name


def test_round_trip_with_camera_table_is_exact(tmp_path: Path) -> None:
    ds = table_dataset()
    path = write_store_dataset(ds, tmp_path / "store", shard_size=4)
    assert path == tmp_path / "store"
    store = open_store(path)
    assert [s.samples for s in store.shards] == [4, 4, 3]
    store.verify()
    assert all(spec.dtype.kind != "O" for spec in store.arrays.values())
    assert store.arrays["subject"].dtype.kind == "U" and store.arrays["imgname"].dtype.kind == "U"
    assert store.arrays["joints_3d_world"].dtype == np.float64
    assert "camera_index" in store.arrays and "camera_rotation" not in store.arrays
    meta = store.meta
    assert meta["version"] == __version__
    assert meta["skeleton"] == H36M17.to_dict()
    assert meta["cameras"]["model"] == "opencv" and meta["cameras"]["count"] == 3
    assert meta["cameras"]["names"] == ["S1/cam0", "S1/cam1", "S1/cam2"]
    assert meta["source"]["path"] == "/data/x.npz" and meta["source"]["nested"]["nan"] is None

    back = read_store(path)
    assert_same_dataset(ds, back)
    assert back.meta["source"]["source_format"] == "test"  # provenance kept
    assert back.meta["source_format"] == "posesynth" and back.meta["source_path"] == str(path)
    # and once more: a store written from a read store is the same data again
    again = read_store(write_store_dataset(back, tmp_path / "again"))
    assert_same_dataset(ds, again)
    assert again.meta["source"]["source"]["source_format"] == "test"


def test_round_trip_with_one_camera_per_sample(tmp_path: Path) -> None:
    n = 6
    rng = np.random.default_rng(2)
    ds = PoseDataset(
        skeleton=H36M17,
        joints_3d_camera=rng.normal(size=(n, J, 3)) + np.array([0, 0, 4.0]),
        cameras=camera_batch(n, model="fisheye"),
        camera_names=np.array([f"c{i}" for i in range(n)]),
    ).complete()
    back = read_store(write_store_dataset(ds, tmp_path / "s"))
    assert back.camera_index is None and back.cameras.batch_shape == (n,)
    assert_same_dataset(ds, back)
    assert "camera_rotation" in open_store(tmp_path / "s").arrays


def test_two_d_only_dataset_without_cameras(tmp_path: Path) -> None:
    uv = np.random.default_rng(3).uniform(0, 1000, size=(5, J, 2))
    uv[1, 3] = np.nan
    ds = PoseDataset(skeleton=H36M17, joints_2d=uv)
    back = read_store(write_store_dataset(ds, tmp_path / "s"))
    assert back.cameras is None and back.joints_3d_world is None
    np.testing.assert_array_equal(back.joints_2d, uv)  # NaN where NaN was


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "data"
    generate(load_config(samples=300, seed=3, shard_size=128), out, preview=False)
    return out


def test_read_generated_store(generated: Path) -> None:
    store = open_store(generated)
    ds = read_store(generated)
    assert len(ds) == 300 and ds.skeleton == H36M17
    for name in ("joints_3d_world", "joints_3d_camera", "joints_2d"):
        arr = getattr(ds, name)
        assert arr.dtype == np.float64
        np.testing.assert_array_equal(arr, store.read(name).astype(np.float64))
    np.testing.assert_array_equal(ds.visibility, store.read("visibility"))
    assert ds.camera_index is None and ds.cameras.batch_shape == (300,)
    assert ds.cameras.model.value == "pinhole"
    # the cameras are the ones that made the data: they reproduce camera 3D and 2D
    np.testing.assert_allclose(ds.cameras.world_to_camera(ds.joints_3d_world), ds.joints_3d_camera, atol=1e-5)
    np.testing.assert_allclose(ds.cameras.project_world(ds.joints_3d_world), ds.joints_2d, atol=0.02)
    assert set(ds.extra) == {"angles", "activity", "height"}
    assert ds.extra["angles"].shape == (300, len(store.meta["angle_names"]))
    assert ds.meta["seed"] == 3 and ds.meta["config"]["samples"] == 300
    assert "skeleton" not in ds.meta and "cameras" not in ds.meta


def test_generated_store_round_trip(generated: Path, tmp_path: Path) -> None:
    ds = read_store(generated)
    out = write_store_dataset(ds, tmp_path / "copy", shard_size=100)
    back = read_store(out)
    assert_same_dataset(ds, back)
    meta = open_store(out).meta
    assert meta["source"]["seed"] == 3 and meta["source"]["generator"] == "posesynth generate"
    assert meta["angle_names"] == open_store(generated).meta["angle_names"]
    assert meta["units"]["angles"] == "rad"


def test_write_refuses_existing_and_replaces_with_overwrite(tmp_path: Path) -> None:
    ds = table_dataset(n=3)
    path = write_store_dataset(ds, tmp_path / "s")
    with pytest.raises(ValueError, match="already exists"):
        write_store_dataset(ds, path)
    other = table_dataset(n=5, seed=9)
    write_store_dataset(other, path, overwrite=True)
    assert len(read_store(path)) == 5


def test_write_errors(tmp_path: Path) -> None:
    ds = table_dataset(n=3)
    with pytest.raises(ValueError, match=r"extra\.subject: the name is reserved"):
        write_store_dataset(
            PoseDataset(skeleton=H36M17, joints_2d=ds.joints_2d, extra={"subject": np.zeros(3)}),
            tmp_path / "a",
        )
    mixed = np.array(["a", 1, None], dtype=object)
    with pytest.raises(ValueError, match=r"extra\.bad: an object array holding \['NoneType', 'int'\]"):
        write_store_dataset(PoseDataset(skeleton=H36M17, joints_2d=ds.joints_2d, extra={"bad": mixed}), tmp_path / "b")
    with pytest.raises(ValueError, match="has no samples"):
        write_store_dataset(ds.select(slice(0, 0)), tmp_path / "c")
    with pytest.raises(ValueError, match="shard_size"):
        write_store_dataset(ds, tmp_path / "d", shard_size=0)
    assert not any(tmp_path.iterdir())  # nothing half-written left behind


def test_read_errors(tmp_path: Path) -> None:
    bare = write_store(tmp_path / "bare", {}, [{"joints_3d": np.zeros((2, J, 3))}])
    assert not is_pose_store(open_store(bare))
    with pytest.raises(ValueError, match=r"bare: a posesynth store without joint arrays"):
        read_store(bare)
    noskel = write_store(tmp_path / "noskel", {}, [{"joints_2d": np.zeros((2, J, 2))}])
    with pytest.raises(ValueError, match="meta has no 'skeleton'"):
        read_store(noskel)
    assert read_store(noskel, skeleton=H36M17).skeleton == H36M17
    meta = {"skeleton": H36M17.to_dict()}
    notable = write_store(
        tmp_path / "notable", meta,
        [{"joints_2d": np.zeros((2, J, 2)), "camera_index": np.zeros(2, dtype=np.int64)}],
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"notable: cameras: has a 'camera_index' array but no camera table"):
        read_store(notable)
    nomodel = write_store(
        tmp_path / "nomodel", meta,
        [{"joints_2d": np.zeros((1, J, 2)), "camera_intrinsics": np.ones((1, 4)),
          "camera_rotation": np.eye(3)[None], "camera_center": np.zeros((1, 3)),
          "camera_image_size": np.ones((1, 2), dtype=np.int32)}],
    )  # fmt: skip
    with pytest.raises(ValueError, match="no camera model in meta field 'cameras.model'"):
        read_store(nomodel)
    wrong_j = write_store(tmp_path / "wrongj", meta, [{"joints_2d": np.zeros((2, 5, 2))}])
    with pytest.raises(ValueError, match=r"wrongj: joints_2d: expected shape \(\.\.\., 17, 2\)"):
        read_store(wrong_j)


def test_meta_is_json_without_objects(tmp_path: Path) -> None:
    path = write_store_dataset(table_dataset(n=4), tmp_path / "s")
    manifest = json.loads((path / "dataset.json").read_text())
    assert manifest["meta"]["cameras"]["table"]["model"] == "opencv"
    assert manifest["meta"]["source"]["scale"] == 0.5


def test_one_meta_builder_for_generate_and_written_data_sets() -> None:
    """generate's meta and a written data set's come from the same builder: the same
    skeleton, frames, joint units and camera description, only the provenance differs."""
    from posesynth.data.formats.store_io import camera_meta, pose_store_meta
    from posesynth.jobs.generate import dataset_meta, load_config

    config = load_config(samples=50, seed=2, camera_model="opencv")
    generated = dataset_meta(config)
    written = pose_store_meta(H36M17, {"units": {"angles": "rad"}}, extra=("angles",), camera_model="opencv")
    for key in ("skeleton", "frames", "version"):
        assert generated[key] == written[key]
    assert set(generated["cameras"]) == set(written["cameras"]) | {"count"}
    assert sorted(generated["cameras"]["arrays"]) == written["cameras"]["arrays"]
    assert {k: v for k, v in generated["cameras"].items() if k not in ("arrays", "count")} == {
        k: v for k, v in written["cameras"].items() if k != "arrays"
    }
    assert generated["units"]["angles"] == written["units"]["angles"] == "rad"
    assert generated["seed"] == 2 and written["writer"] and "source" in written and "source" not in generated
    assert camera_meta("pinhole", arrays_order="fields")["arrays"][0] == "camera_intrinsics"
