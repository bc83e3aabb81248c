"""Shipped checkpoints: unambiguous names (shipped:rom, a folder wins only when it is a
checkpoint) and ``posesynth models``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posesynth.cli.main import app
from posesynth.lift import shipped


def _checkpoint(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(json.dumps({"format": "posesynth-lifter"}))
    (folder / "model.safetensors").write_bytes(b"")
    return folder


def test_a_shipped_name_never_loses_to_an_unrelated_folder(tmp_path, monkeypatch):
    shipped_root = tmp_path / "pkg"
    _checkpoint(shipped_root / "rom")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rom").mkdir()  # a data set or output folder named like the model
    (tmp_path / "rom" / "dataset.json").write_text("{}")
    assert shipped.resolve_checkpoint("rom", shipped_root) == shipped_root / "rom"
    (tmp_path / "rom" / "dataset.json").unlink()
    (tmp_path / "rom").rmdir()
    (tmp_path / "rom").write_text("a file")
    assert shipped.resolve_checkpoint("rom", shipped_root) == shipped_root / "rom"


def test_a_local_checkpoint_folder_wins_and_shipped_prefix_names_the_shipped_one(tmp_path, monkeypatch):
    shipped_root = tmp_path / "pkg"
    _checkpoint(shipped_root / "rom")
    monkeypatch.chdir(tmp_path)
    _checkpoint(tmp_path / "rom")
    assert shipped.resolve_checkpoint("rom", shipped_root) == Path("rom")
    assert shipped.resolve_checkpoint("shipped:rom", shipped_root) == shipped_root / "rom"
    assert shipped.resolve_checkpoint("some/ckpt", shipped_root) == Path("some/ckpt")
    with pytest.raises(ValueError, match=r"shipped:nope: expected one of \['shipped:everyday', 'shipped:rom'\]"):
        shipped.resolve_checkpoint("shipped:nope", shipped_root)
    with pytest.raises(ValueError, match="'everyday' is not in this installation"):
        shipped.resolve_checkpoint("shipped:everyday", shipped_root)


def test_checkpoint_module_uses_the_same_rule(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from posesynth.lift import checkpoint

    monkeypatch.chdir(tmp_path)
    (tmp_path / "everyday").mkdir()
    assert checkpoint.resolve_checkpoint("everyday") == checkpoint.shipped_dir() / "everyday"
    assert checkpoint.resolve_checkpoint("shipped:everyday") == checkpoint.shipped_dir() / "everyday"


def test_models_lists_the_shipped_checkpoints_from_their_meta():
    runner = CliRunner()
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    names = [m["name"] for m in doc["models"]]
    assert names == ["everyday", "rom"]
    for m in doc["models"]:
        meta = json.loads((Path(m["path"]) / "meta.json").read_text())
        assert m["version"] == meta["version"]
        assert m["validation"]["mpjpe_mm"] == meta["metrics"]["validation"]["mpjpe_mm"]
        assert m["benchmark"] == meta["provenance"]["table"]
        assert m["made_by"] == meta["provenance"]["made_by"]
    text = runner.invoke(app, ["models"])
    assert text.exit_code == 0
    assert "shipped:rom" in text.stdout and "MPJPE" in text.stdout


def test_help_pages_show_no_bool_placeholder_and_experiment_defaults():
    import re

    runner = CliRunner()
    for cmd in (["convert", "--help"], ["demo", "--help"], ["models", "--help"]):
        out = runner.invoke(app, cmd, env={"COLUMNS": "200"}).output
        assert "<bool>" not in out, cmd
    out = runner.invoke(app, ["experiment", "rom", "--help"], env={"COLUMNS": "250"}).output
    pytest.importorskip("torch")
    from posesynth.apps.experiment import ExperimentConfig

    for opt, field in (
        ("--samples", "samples"),
        ("--test-samples", "test_samples"),
        ("--epochs", "epochs"),
        ("--width", "width"),
        ("--variants", "variants"),
        ("--seed", "seed"),
        ("--b-seed", "b_seed"),
        ("--motions", "motions"),
    ):
        line = next(ln for ln in out.splitlines() if re.search(rf"{opt}\s", ln))
        want = re.escape(str(ExperimentConfig.model_fields[field].default))
        assert re.search(rf"\[default: \(?{want}\)?\]", line), line
