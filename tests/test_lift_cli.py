"""``posesynth train`` / ``posesynth evaluate``: JSON documents and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import assert_one_error_line
from posesynth.cli.main import app
from posesynth.jobs.generate import generate, load_config

pytest.importorskip("torch")
pytest.importorskip("safetensors")

runner = CliRunner()
EVAL_KEYS = ("samples", "mpjpe_mm", "p_mpjpe_mm", "n_mpjpe_mm", "pck3d_150", "auc",
             "per_joint_mpjpe_mm", "bone_length_error_mm", "by_knee_flexion")  # fmt: skip
TINY = ["--width", "32", "--epochs", "2", "--seed", "1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "data"
    generate(load_config(samples=600, seed=2), out, preview=False)
    return out


@pytest.fixture(scope="module")
def ckpt(data: Path) -> Path:
    out = data.parent / "ckpt"
    result = runner.invoke(app, ["train", str(data), "--out", str(out), *TINY, "--noise-sigma-px", "1.5", "--json"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("args", [["train", "--help"], ["evaluate", "--help"]])
def test_help(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "Usage" in result.stdout


def test_train_json(data: Path, tmp_path: Path) -> None:
    noise = tmp_path / "noise.yaml"
    noise.write_text("outlier_prob: 0.01\n")
    out = tmp_path / "c"
    result = runner.invoke(
        app, ["train", str(data), "-o", str(out), *TINY, "--noise", str(noise), "--noise-drop-prob", "0.02", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # exactly one JSON document on stdout
    assert doc["epochs_done"] == 2 and doc["samples_train"] == 540 and doc["samples_val"] == 60
    assert doc["config"]["noise"]["outlier_prob"] == 0.01 and doc["config"]["noise"]["drop_prob"] == 0.02
    assert doc["val_mpjpe_mm"] > 0 and doc["validation"]["samples"] == 60
    meta = json.loads((out / "meta.json").read_text())
    assert meta["train_config"] == doc["config"]


def test_train_resume(ckpt: Path, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "c"
    out.mkdir()
    for f in ckpt.iterdir():
        (out / f.name).write_bytes(f.read_bytes())
    result = runner.invoke(app, ["train", str(data), "-o", str(out), "--resume", "--epochs", "3", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["epochs_done"] == 3 and doc["epochs_run"] == 1 and doc["config"]["noise"]["sigma_px"] == 1.5
    result = runner.invoke(app, ["train", str(data), "-o", str(out), "--resume", "--epochs", "4", "--width", "64"])
    assert_one_error_line(result, r"width 64 \(checkpoint: 32\)")


def test_train_human_output(data: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", str(data), "-o", str(tmp_path / "c"), "--width", "16", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # tables and progress go to stderr
    assert "val MPJPE" in result.stderr


def test_evaluate_json(ckpt: Path, data: Path, tmp_path: Path) -> None:
    fig = tmp_path / "knee.png"
    result = runner.invoke(app, ["evaluate", str(ckpt), str(data), "--json", "--figure", str(fig)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    for key in EVAL_KEYS:
        assert key in doc
    assert doc["samples"] == 600 and len(doc["per_joint_mpjpe_mm"]) == 17
    assert set(doc["by_knee_flexion"]) == {"0-30", "30-60", "60-90", "90-120", "120-150", "150+"}
    assert fig.read_bytes().startswith(b"\x89PNG") and doc["figure"] == str(fig)


def test_evaluate_human(ckpt: Path, data: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(ckpt), str(data)])
    assert result.exit_code == 0, result.output
    for text in ("MPJPE (mm)", "P-MPJPE", "right_knee", "120-150"):
        assert text in result.stdout


def test_train_errors(data: Path, ckpt: Path, tmp_path: Path) -> None:
    assert_one_error_line(
        runner.invoke(app, ["train", str(tmp_path / "nowhere"), "-o", str(tmp_path / "c")]), "nowhere"
    )
    assert_one_error_line(runner.invoke(app, ["train", str(data), "-o", str(ckpt)]), "already exists")
    assert_one_error_line(
        runner.invoke(app, ["train", str(data), "-o", str(tmp_path / "c"), "--batch-size", "1"]), "batch_size"
    )
    assert_one_error_line(
        runner.invoke(app, ["train", str(data), "-o", str(tmp_path / "c"), "--noise-drop-prob", "2"]), "drop_prob"
    )
    assert_one_error_line(
        runner.invoke(app, ["train", str(data), "-o", str(tmp_path / "c"), "--resume"]), "train_state|meta.json|folder"
    )
    assert not (tmp_path / "c").exists()


def test_train_on_empty_data_set(tmp_path: Path) -> None:
    empty = tmp_path / "empty.npz"  # an MMPose annotation file without rows
    np.savez(empty, imgname=np.zeros((0,), dtype="<U10"), center=np.zeros((0, 2)), scale=np.zeros((0,)),
             part=np.zeros((0, 17, 3)), S=np.zeros((0, 17, 4)))  # fmt: skip
    result = runner.invoke(app, ["train", str(empty), "-o", str(tmp_path / "c")])
    assert_one_error_line(result, r"empty\.npz: holds 0 samples; nothing to train on")


def test_evaluate_errors(data: Path, ckpt: Path, tmp_path: Path) -> None:
    assert_one_error_line(runner.invoke(app, ["evaluate", str(tmp_path), str(data)]), "not a lifter checkpoint")
    assert_one_error_line(
        runner.invoke(app, ["evaluate", str(ckpt), str(data), "--figure", str(tmp_path / "f.jpg")]), r"\.png"
    )
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in ckpt.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    meta = json.loads((bad / "meta.json").read_text())
    del meta["model"]
    (bad / "meta.json").write_text(json.dumps(meta))
    assert_one_error_line(
        runner.invoke(app, ["evaluate", str(bad), str(data), "--json"]), r"missing key\(s\) \['model'\]"
    )
