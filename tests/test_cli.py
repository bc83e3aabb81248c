"""The command line: help, `info` on real stores, `generate` wiring, one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pydantic
import pytest
from typer.testing import CliRunner

from helpers import assert_one_error_line
from posesynth.cli.main import app
from posesynth.data.store import write_store
from posesynth.jobs.generate import AngleCoverage, GenerateSummary

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

META = {
    "skeleton": {
        "name": "h36m17",
        "joint_names": [f"j{i}" for i in range(17)],
        "parents": [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15],
        "left": [4, 5, 6, 11, 12, 13],
        "right": [1, 2, 3, 14, 15, 16],
    },
    "cameras": {"model": "pinhole", "count": 4},
    "config": {"samples": 6, "seed": 3, "skeleton": "h36m17", "camera_model": "pinhole"},
    "seed": 3,
    "version": "0.1.0",
    "units": {"joints_3d": "m", "joints_2d": "px", "angles": "rad"},
}


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    shards = [{"joints_3d": rng.normal(size=(n, 17, 3)), "joints_2d": rng.normal(size=(n, 4, 17, 2))} for n in (2, 4)]
    return write_store(tmp_path / "data", META, shards)


# -- help --------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--help"], ["generate", "--help"], ["info", "--help"]])
def test_help(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("posesynth ")


# -- info --------------------------------------------------------------------------------------


def test_info_json(store: Path) -> None:
    result = runner.invoke(app, ["info", str(store), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # stdout is exactly one JSON document
    assert doc["format"] == "posesynth"
    assert doc["samples"] == 6
    assert doc["joints"] == 17
    assert doc["skeleton"] == "h36m17"
    assert doc["cameras"] == 4
    assert doc["units"] == META["units"]
    assert doc["arrays"]["joints_2d"] == {"dtype": "<f8", "shape": [6, 4, 17, 2]}
    assert doc["seed"] == 3 and doc["version"] == "0.1.0" and doc["config"] == META["config"]
    assert doc["verified"] is False


def test_info_human(store: Path) -> None:
    result = runner.invoke(app, ["info", str(store), "--verify"])
    assert result.exit_code == 0, result.output
    for text in ("h36m17", "joints_3d", "(6, 17, 3)", "verified", "camera_model: pinhole"):
        assert text in result.stdout


def test_info_joints_from_arrays_without_skeleton_meta(tmp_path: Path) -> None:
    path = write_store(tmp_path / "bare", {}, [{"joints_3d": np.zeros((2, 5, 3))}])
    doc = json.loads(runner.invoke(app, ["info", str(path), "--json"]).stdout)
    assert doc["joints"] == 5 and doc["skeleton"] is None and doc["cameras"] is None


def test_info_missing_path(tmp_path: Path) -> None:
    result = runner.invoke(app, ["info", str(tmp_path / "nowhere"), "--json"])
    assert_one_error_line(result, r"nowhere: no such data set")


def test_info_corrupt_manifest(store: Path) -> None:
    manifest = store / "dataset.json"
    doc = json.loads(manifest.read_text())
    del doc["samples"]
    manifest.write_text(json.dumps(doc))
    result = runner.invoke(app, ["info", str(store)])
    assert_one_error_line(result, r"dataset\.json: missing field 'samples'")


def test_info_truncated_shard(store: Path) -> None:
    file = store / "shards" / "000001" / "joints_2d.npy"
    file.write_bytes(file.read_bytes()[:-50])
    result = runner.invoke(app, ["info", str(store), "--json"])
    assert_one_error_line(result, r"000001/joints_2d\.npy: .*truncated")


def test_info_verify_detects_corruption(store: Path) -> None:
    file = store / "shards" / "000000" / "joints_3d.npy"
    data = bytearray(file.read_bytes())
    data[-3] ^= 0x01
    file.write_bytes(bytes(data))
    assert runner.invoke(app, ["info", str(store)]).exit_code == 0  # headers are fine
    result = runner.invoke(app, ["info", str(store), "--verify"])
    assert_one_error_line(result, r"joints_3d\.npy: checksum mismatch")


# -- generate (with a stand-in for the library) ------------------------------------------------


class FakeConfig(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    samples: int = pydantic.Field(100, gt=0)
    seed: int = 0
    skeleton: str = "h36m17"
    camera_model: str = "pinhole"
    shard_size: int = 20_000  # the command checks the shard plan before any work


def fake_library(calls: dict, fail: BaseException | None = None) -> types.ModuleType:
    module = types.ModuleType("posesynth.jobs.generate")

    def load_config(path: Path | None, **overrides: Any) -> FakeConfig:
        calls["load_config"] = (path, overrides)
        return FakeConfig(**{k: v for k, v in overrides.items() if v is not None})

    def generate(config, out, *, overwrite=False, progress=None, preview=True, executor=None):
        calls["generate"] = dict(config=config, out=out, overwrite=overwrite, preview=preview)
        print("stray print from the library")  # must not reach stdout under --json
        for _ in range(4):
            progress(config.samples // 4)
        if fail is not None:
            raise fail
        return GenerateSummary(
            out=str(out),
            samples=config.samples,
            cameras=4,
            seed=config.seed,
            skeleton=config.skeleton,
            camera_model=config.camera_model,
            seconds=np.float64(0.25),  # NumPy scalars must still print as JSON numbers
            activities={"walk": np.int64(config.samples - 1), "squat": 1},
            angle_coverage={"left_knee_flexion": AngleCoverage(0.0, 2.0, 35.5, 120.0, 150.25)},
            preview=None,
            shards=1,
            resumed_shards=0,
            redone_shards=0,
            executor="this process",
        )

    module.load_config = load_config
    module.generate = generate
    return module


@pytest.fixture()
def calls(monkeypatch: pytest.MonkeyPatch) -> dict:
    recorded: dict = {}
    monkeypatch.setitem(sys.modules, "posesynth.jobs.generate", fake_library(recorded))
    return recorded


def test_generate_passes_options_and_prints_json(calls: dict, tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    args = [
        "generate", "--out", str(tmp_path / "out"), "--samples", "8", "--seed", "5",
        "--config", str(cfg), "--skeleton", "h36m17", "--camera-model", "fisheye",
        "--overwrite", "--no-preview", "--json",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert calls["load_config"] == (
        cfg,
        {"samples": 8, "seed": 5, "skeleton": "h36m17", "camera_model": "fisheye"},
    )
    gen = calls["generate"]
    assert gen["out"] == tmp_path / "out"
    assert gen["overwrite"] is True and gen["preview"] is False
    assert gen["config"].camera_model == "fisheye"
    doc = json.loads(result.stdout)  # exactly one JSON document, nothing else
    assert doc["samples"] == 8 and doc["seed"] == 5 and doc["cameras"] == 4
    assert doc["activities"] == {"walk": 7, "squat": 1}
    assert doc["angle_coverage"]["left_knee_flexion"]["max_deg"] == 150.25
    assert "stray print" in result.stderr


def test_generate_defaults_and_table(calls: dict) -> None:
    result = runner.invoke(app, ["generate"])
    assert result.exit_code == 0, result.output
    assert calls["load_config"] == (
        None,
        {"samples": None, "seed": None, "skeleton": None, "camera_model": None},
    )
    assert calls["generate"]["out"] == Path("posesynth-data")
    assert calls["generate"]["overwrite"] is False and calls["generate"]["preview"] is True
    assert result.stdout.replace("stray print from the library\n", "") == ""
    for text in ("100/100", "activities", "walk", "left_knee_flexion", "150.2", "35.5"):
        assert text in result.stderr, text


def test_generate_invalid_config_is_one_line(calls: dict) -> None:
    result = runner.invoke(app, ["generate", "--samples", "0", "--json"])
    assert_one_error_line(result, r"invalid FakeConfig: samples: Input should be greater than 0")


@pytest.mark.parametrize(
    ("error", "pattern", "code"),
    [
        (ValueError("config.yaml: unknown field 'sampels'"), r"unknown field 'sampels'", 1),
        (FileExistsError(17, "File exists", "posesynth-data"), r"File exists: posesynth-data", 1),
        (KeyboardInterrupt(), r"interrupted", 130),
    ],
)
def test_generate_errors(monkeypatch: pytest.MonkeyPatch, error: BaseException, pattern: str, code: int) -> None:
    monkeypatch.setitem(sys.modules, "posesynth.jobs.generate", fake_library({}, fail=error))
    result = runner.invoke(app, ["generate", "--json"])
    assert result.exit_code == code
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert re.search(rf"^error: .*{pattern}$", result.stderr, re.MULTILINE), result.stderr


# -- the installed entry point -----------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "posesynth.cli.main", *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    missing = run_cli("info")
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert [line.lower() for line in missing.stderr.splitlines()] == [
        "error: missing argument 'path'. (see 'posesynth info --help')"
    ]
    bad = run_cli("info", str(tmp_path / "none"), "--bogus")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert bad.stderr.startswith("error: No such option: --bogus")
    corrupt = run_cli("info", str(tmp_path))
    assert corrupt.returncode == 1 and "Traceback" not in corrupt.stderr
    assert corrupt.stderr.strip().splitlines() == [
        f"error: {tmp_path}/dataset.json: missing; {tmp_path} is not a posesynth data set"
    ]


# -- README and CI agree -----------------------------------------------------------------------


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"^(python3 -m venv \.venv && .+)$", readme, re.MULTILINE)
    assert len(commands) >= 2, "README must start with an install-and-run and a test command"
    install_and_run, test = commands[0], commands[1]
    assert install_and_run.endswith("posesynth generate")
    assert "pytest" in test
    assert test in ci.splitlines(), f"{test!r} must be a line of .ci/run"


def test_debug_env_keeps_the_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["info", str(tmp_path / "none")], env={"POSESYNTH_DEBUG": "1"})
    assert result.exit_code == 1
    assert isinstance(result.exception, ValueError)


@pytest.mark.parametrize("argv", [["--version"], ["info"]])
def test_the_console_script_freezes_the_collector_before_exiting(argv: list[str], monkeypatch) -> None:
    """The interpreter's final collection would sweep every object Numba made (0.12 s a
    command): ``app()`` moves them to the permanent generation on its way out, on success
    and on a usage error alike."""
    import gc

    monkeypatch.setattr(sys, "argv", ["posesynth", *argv])
    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    with pytest.raises(SystemExit) as exited:
        app()
    assert exited.value.code == (0 if argv == ["--version"] else 2)
    assert frozen == [True]
