"""Reliability audit (2026-12): damaged, hostile and absurd inputs (F06-F09, F11-F23, F25).

Every reproducer gives one ``error:`` line naming the file or option (or correct behaviour),
leaves no partial output and deletes nothing. Peak memory of the bombs is measured by
``benchmarks/bench_bombs.py``; :func:`test_bombs_stay_under_1_gb` checks it here too.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import assert_one_error_line, tree_digest
from posesynth.cli.main import app
from posesynth.data.formats.registry import read_any
from posesynth.data.formats.store_io import read_store, write_store_dataset
from posesynth.data.store import open_store
from posesynth.jobs.generate import generate, load_config

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rel") / "base"
    generate(load_config(samples=200, seed=1, shard_size=100), out, preview=False)
    return out


@pytest.fixture()
def copy(base: Path, tmp_path: Path) -> Path:
    """A private copy of ``base`` to damage."""
    import shutil

    return Path(shutil.copytree(base, tmp_path / "b2"))


def no_partials(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if ".partial" in p.name]


def png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR of ``width`` x ``height`` greyscale (no image data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


# ------------------------------------------------------------------------------ bombs


def test_f06_videopose3d_list_bomb(tmp_path: Path) -> None:
    a = np.zeros((1000, 17, 2), "f4")
    meta = {"num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    path = tmp_path / "data_2d_x.npz"
    np.savez_compressed(path, positions_2d={"S1": {"W": [a] * 200_000}}, metadata=meta)
    assert path.stat().st_size < 10_000
    assert_one_error_line(invoke("info", path), r"data_2d_x\.npz: positions_2d: would need 50\.7 GiB")


@pytest.mark.parametrize("side", [30_000, 40_000])
def test_f07_f08_png_bombs_refused_from_the_header(tmp_path: Path, side: int) -> None:
    image = tmp_path / "bomb.png"
    image.write_bytes(png_header(side, side))
    result = invoke("demo", image, "--json")
    assert_one_error_line(result, rf"bomb\.png: image of {side} x {side} = {side * side} pixels .* limit")


def test_f16_camera_count(base: Path, tmp_path: Path) -> None:
    cams = tmp_path / "cameras.yaml"
    cams.write_text("model: pinhole\ncount: 100000000\n")
    result = invoke("augment", base, "--motions", "seed-knee", "--cameras", cams, "--out", tmp_path / "a")
    assert_one_error_line(result, r"cameras\.yaml: field 'count': 100000000 .* at most 1000")
    no_partials(tmp_path)


def test_f17_network_width(base: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    result = invoke("train", base, "--out", tmp_path / "t", "--width", "10000000", "--epochs", "1")
    assert_one_error_line(result, r"width 10000000 .* parameters .* more than the limit")
    assert not (tmp_path / "t").exists()
    no_partials(tmp_path)


@pytest.mark.parametrize(
    ("samples", "shard", "pattern"),
    [
        ("1000000000", "1", r"shard_size: 1 would cut .* expected a shard size >= 100"),  # F18
        ("1000000000000", None, r"samples: 1000000000000 in shards of 20000 make 50000000 shards"),  # F19
        ("20000000", "1", r"shard_size: 1 would cut"),  # F20
        ("3000", "1", r"shard_size: 1 would cut 3000 samples into 3000 shards"),  # F21
    ],
)
def test_f18_to_f21_shard_plans_checked_before_work(
    tmp_path: Path, samples: str, shard: str | None, pattern: str
) -> None:
    args = ["generate", "-n", samples, "--no-preview", "--out", tmp_path / "L"]
    if shard is not None:
        args += ["--shard-size", shard]
    assert_one_error_line(invoke(*args), pattern)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # eight fresh interpreters (about 2 minutes on 2 cores); CI runs it
def test_bombs_stay_under_1_gb(tmp_path: Path) -> None:
    """Peak RSS of a fresh process running the audit's bombs one after the other (F06, F07,
    F08, F16, F17, F18, F19, F20) stays below 1 GB."""
    script = ROOT / "benchmarks" / "bench_bombs.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--json", "--folder", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    for row in doc["bombs"]:
        assert row["error"].startswith("error: "), row
        assert row["peak_rss_mb"] < 1000, row


# ------------------------------------------------------------------------------ tracebacks


def test_f11_videopose3d_num_joints_not_an_int(base: Path, tmp_path: Path) -> None:
    folder = tmp_path / "vp"
    assert invoke("convert", base, folder, "--to", "videopose3d").exit_code == 0
    two = next(folder.glob("data_2d_*.npz"))
    with np.load(two, allow_pickle=True) as z:
        positions, meta = z["positions_2d"].item(), z["metadata"].item()
    meta["num_joints"] = [17]
    np.savez_compressed(two, positions_2d=positions, metadata=meta)
    assert_one_error_line(invoke("info", folder), r"metadata\.num_joints: expected an integer, got \[17\]")


def trc(tmp_path: Path, rate: str = "50", first_frame: str = "1") -> Path:
    names = ["Hip", "RHip", "LHip"]
    header = [
        "PathFileType\t4\t(X/Y/Z)\tf.trc",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"{rate}\t{rate}\t2\t{len(names)}\tm\t{rate}\t1\t2",
        "Frame#\tTime\t" + "\t\t\t".join(names),
        "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, len(names) + 1)),
    ]
    rows = [f"{first_frame}\t0.0\t" + "\t".join(["0.1"] * 9), "2\t0.02\t" + "\t".join(["0.1"] * 9)]
    path = tmp_path / "f.trc"
    path.write_text("\n".join(header + rows) + "\n")
    return path


def test_f12_trc_frame_overflow(tmp_path: Path) -> None:
    assert_one_error_line(invoke("info", trc(tmp_path, first_frame="1e20")), r"f\.trc: line 6: expected a frame number")


@pytest.mark.parametrize("rate", ["nan", "-5", "inf", "0"])
def test_f25_trc_frame_rate(tmp_path: Path, rate: str) -> None:
    assert_one_error_line(
        invoke("info", trc(tmp_path, rate=rate)), r"f\.trc: header field 'DataRate': expected a frame rate > 0"
    )


def test_f13_deep_json(copy: Path, tmp_path: Path) -> None:
    (copy / "dataset.json").write_text("[" * 200_000 + "]" * 200_000)
    assert_one_error_line(invoke("info", copy), r"b2/dataset\.json: .*nested too deeply")
    ckpt = tmp_path / "ck"
    ckpt.mkdir()
    (ckpt / "meta.json").write_text("[" * 200_000 + "]" * 200_000)
    (ckpt / "model.safetensors").write_bytes(b"")
    result = invoke("evaluate", ckpt, copy)
    assert result.exit_code != 0 and "Traceback" not in result.output
    kp = tmp_path / "kp.json"
    kp.write_text("[" * 200_000 + "]" * 200_000)
    import cv2

    image = tmp_path / "i.png"
    cv2.imwrite(str(image), np.zeros((10, 10, 3), np.uint8))
    assert_one_error_line(invoke("demo", image, "--keypoints", kp), r"kp\.json")


def test_f14_generate_config_overflow(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("camera: {image_size: [16, 100000000000000000000]}\n")
    result = invoke("generate", "-c", config, "-n", "60", "--no-preview", "--out", tmp_path / "g")
    assert_one_error_line(result, r"c\.yaml, line 1: field 'camera\.image_size'.* <= 100000 px")
    assert not (tmp_path / "g").exists()
    no_partials(tmp_path)


@pytest.mark.parametrize(
    "motion",
    [
        "{angle: knee_flexion, distribution: uniform, range_deg: [.nan, .nan]}",
        "{angle: knee_flexion, distribution: uniform, range_deg: [0, .inf], mode: add}",
        "{angle: knee_flexion, distribution: normal, mean_deg: 0, sd_deg: 1.0e+300}",
    ],
)
def test_f15_motion_overflow(base: Path, tmp_path: Path, motion: str) -> None:
    motions = tmp_path / "m.yaml"
    motions.write_text(f'rom: "off"\nmotions:\n  - {motion}\n')
    result = invoke("augment", base, "--motions", motions, "--out", tmp_path / "a")
    assert_one_error_line(result, r"m\.yaml, line 3: field 'motions\.0(\.range_deg\.[01])?'")
    assert not (tmp_path / "a").exists()
    no_partials(tmp_path)


def test_binary_config_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_bytes(b"\xff\xfe\x00binary")
    assert_one_error_line(invoke("generate", "-c", config, "--out", tmp_path / "g"), r"c\.yaml: .*not UTF-8")


# ------------------------------------------------------------------------------ the store


def test_f22_fifo_in_a_store(copy: Path) -> None:
    victim = copy / "shards" / "000001" / "height.npy"
    victim.unlink()
    os.mkfifo(victim)
    assert_one_error_line(invoke("info", copy), r"height\.npy: not a regular file")


def test_fifo_as_input_file(tmp_path: Path) -> None:
    fifo = tmp_path / "x.npz"
    os.mkfifo(fifo)
    assert_one_error_line(invoke("info", fifo), r"x\.npz: not a regular file")
    config = tmp_path / "c.yaml"
    os.mkfifo(config)
    assert_one_error_line(invoke("generate", "-c", config, "--out", tmp_path / "g"), r"c\.yaml: .*not a regular file")


def test_f23_same_size_garbage_is_caught_at_first_read(copy: Path, tmp_path: Path) -> None:
    victim = copy / "shards" / "000000" / "joints_3d_world.npy"
    data = bytearray(victim.read_bytes())
    header = len(data) - 100 * 17 * 3 * 4
    data[header:] = np.random.default_rng(0).bytes(len(data) - header)
    victim.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"joints_3d_world\.npy: checksum mismatch"):
        read_any(copy)
    assert_one_error_line(invoke("train", copy, "--out", tmp_path / "t", "--epochs", "1"), "checksum mismatch")
    assert not (tmp_path / "t").exists()
    store = open_store(copy, checksums=False)  # the opt-out for trusted hot loops
    assert store.read("joints_3d_world").shape == (200, 17, 3)


@pytest.mark.parametrize(
    ("array", "value", "pattern"),
    [
        # refused by Camera itself or by the validator, whichever sees it first
        ("camera_intrinsics", np.nan, r"cameras[.:] ?intrinsics.*(NaN|nan)"),
        ("camera_intrinsics", -5.0, r"cameras[.:] ?intrinsics.*-5\.0"),
        ("camera_intrinsics", 1e9, r"cameras\.intrinsics \(fx, fy\): 1000000000\.0 .* \[1, 1e\+06\]"),
        ("joints_3d_world", np.inf, r"joints_3d_world: inf at sample 0"),
        ("joints_3d_world", 1e300, r"joints_3d_world: .* \|value\| <= 1000 m"),
        ("joints_2d", -np.inf, r"joints_2d: -inf at sample 0"),
        ("visibility", np.nan, r"visibility: nan at sample 0"),
        ("camera_center", np.inf, r"cameras\.center: inf at sample 0"),
    ],
)
def test_store_values_are_validated(base: Path, tmp_path: Path, array: str, value: float, pattern: str) -> None:
    """NaN / inf / negative focal lengths / 1e300 m in a (consistently written) store."""
    from posesynth.data.store import write_store

    store = open_store(base)
    shards = []
    for i, arrays in enumerate(store.iter_shards()):
        arrays = {k: np.array(v) for k, v in arrays.items()}
        arrays[array] = arrays[array].astype(np.float64)
        if i == 0:
            arrays[array][0, 0] = value
        shards.append(arrays)
    out = write_store(tmp_path / "bad", store.meta, shards)
    with pytest.raises(ValueError, match=rf"bad: {pattern}"):
        read_any(out)  # every command reading data (convert, view, train, evaluate, augment)
    with pytest.raises(ValueError, match=rf"bad: {pattern}"):
        read_store(out)  # the store's own reader validates too (augment's input, info)
    assert_one_error_line(invoke("convert", out, tmp_path / "c", "--to", "mmpose"), pattern)
    assert not (tmp_path / "c").exists()
    # info refuses it too, rather than describing the values or noting the store undescribed
    assert_one_error_line(invoke("info", out), rf"bad: {pattern}")
    assert_one_error_line(invoke("info", out, "--json"), rf"bad: {pattern}")


def test_a_camera_table_out_of_bounds_is_refused(tmp_path: Path) -> None:
    """A camera table lives in dataset.json, which Python's JSON parser reads NaN into: the
    validator sees it before the camera is built, and info refuses the store."""
    from test_format_store import table_dataset

    out = write_store_dataset(table_dataset(), tmp_path / "bad")
    manifest = out / "dataset.json"
    doc = json.loads(manifest.read_text())
    doc["meta"]["cameras"]["table"]["intrinsics"][1][0] = float("nan")
    manifest.write_text(json.dumps(doc))  # allow_nan: writes NaN, as a hand edit could
    pattern = r"bad: cameras\.intrinsics \(fx, fy\): nan at sample 1"
    with pytest.raises(ValueError, match=pattern):
        read_store(out)
    assert_one_error_line(invoke("info", out), pattern)


# ------------------------------------------------------------------------------ convert (F09)


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ("shift", r"joints_3d_camera differs by up to 0\.866"),  # 0.5 m on each axis
        ("drop", r"samples are missing from the output|cannot be matched \(200 in, 100 out"),
        ("px", r"joints_2d differs by up to 70\.7"),
        ("focal", r"cameras\.intrinsics differs"),
    ],
)
def test_f09_convert_checks_everything(
    base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str, pattern: str
) -> None:
    from dataclasses import replace

    from posesynth.data.formats import mmpose

    real = mmpose.write_mmpose

    def bent(dataset, out_dir, **kw):
        ds = dataset.complete()
        if change == "shift":
            ds = replace(ds, joints_3d_camera=ds.joints_3d_camera + 0.5, joints_3d_world=None)
        elif change == "drop":
            ds = ds.select(np.arange(0, len(ds), 2))
        elif change == "px":
            ds = replace(ds, joints_2d=ds.joints_2d + 50.0)
        else:
            cams = ds.cameras
            k = np.array(cams.intrinsics, dtype=np.float64)
            k[..., 0] *= 1.1
            ds = replace(ds, cameras=replace(cams, intrinsics=k))
        return real(ds, out_dir, **kw)

    monkeypatch.setattr(mmpose, "write_mmpose", bent)
    before = tree_digest(base)
    result = invoke("convert", base, tmp_path / "out", "--to", "mmpose")
    assert_one_error_line(result, rf"out: written, but it differs from the input: .*{pattern}.*removed it")
    assert not (tmp_path / "out").exists() and tree_digest(base) == before
    no_partials(tmp_path)
