"""The ROM experiment end to end at toy size, shipped-checkpoint resolution and float16 export."""

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

from posesynth.apps.experiment import ExperimentConfig, run_experiment
from posesynth.jobs.generate import generate_dataset, load_config
from posesynth.lift import checkpoint
from posesynth.util.jsonable import to_jsonable


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp")
    cfg = ExperimentConfig(samples=600, test_samples=200, epochs=2, width=32, batch_size=64)
    return out, run_experiment(cfg, out)


def test_experiment_reports_both_models_on_both_test_sets(toy):
    out, result = toy
    assert json.loads((out / "result.json").read_text())["table"] == result.table  # the library writes it
    # the file is the typed result's document, keys in the order result.json has always had
    written = json.loads((out / "result.json").read_text())
    assert list(written) == ["config", "shipped", "data", "models", "table", "uncommon_by_activity", "reference",
                             "real", "goals", "seconds", "checkpoints"]  # fmt: skip
    assert written == json.loads(json.dumps(to_jsonable(result.to_dict())))
    # everyday poses from the coupled priors, plus the earlier protocol's everyday set
    assert set(result.table) == {"everyday", "uncommon", "everyday_independent"}
    assert result.config.prior == "coupled" and not result.config.detector_noise
    for row in result.table.values():
        a, b = row["mpjpe_mm"]["a_everyday"], row["mpjpe_mm"]["b_rom"]
        assert a > 0 and b > 0 and row["mpjpe_change"] == pytest.approx(b / a - 1)
    data = result.data
    assert data["b_train"] == data["everyday_train"] + data["rom_augmented"]
    assert 0 < data["rom_augmented"] <= data["everyday_train"]
    # the same number of optimiser steps (up to one epoch's rounding)
    per_epoch = lambda n: int(np.ceil(n * 0.95 / 64))
    steps_a = per_epoch(data["everyday_train"]) * result.models["everyday"]["epochs"]
    steps_b = per_epoch(data["b_train"]) * result.models["rom"]["epochs"]
    assert abs(steps_b - steps_a) <= per_epoch(data["b_train"])
    assert set(result.goals) == {"uncommon_mpjpe_cut_at_least_40pct", "everyday_mpjpe_at_most_5pct_worse"}
    for name in ("everyday", "rom"):
        assert (out / name / "model.safetensors").is_file()


def test_per_activity_rows_cover_the_uncommon_set(toy):
    _, result = toy
    rows = result.uncommon_by_activity
    assert set(rows) == {"squat", "lunge", "kick", "quad_stretch", "kneel"}
    assert sum(r["poses"] for r in rows.values()) == result.data["test_samples"]["uncommon"]
    # the poses' mean of the per-activity errors is the whole set's error
    for model in ("a_everyday", "b_rom"):
        mean = sum(r["poses"] * r["mpjpe_mm"][model] for r in rows.values()) / 200
        assert mean == pytest.approx(result.table["uncommon"]["mpjpe_mm"][model], rel=1e-9)
    for r in rows.values():
        assert r["mpjpe_change"] == pytest.approx(r["mpjpe_mm"]["b_rom"] / r["mpjpe_mm"]["a_everyday"] - 1)


def test_body_part_rows_come_from_each_models_per_joint_errors(toy):
    _, result = toy
    for test, row in result.table.items():
        assert set(row["by_body_part_mm"]) == {"legs", "trunk_head", "arms"}
        for model, key in (("everyday", "a_everyday"), ("rom", "b_rom")):
            joints = result.models[model]["tests"][test]["per_joint_mpjpe_mm"]
            arms = np.mean([joints[n] for n in ("left_elbow", "left_wrist", "right_elbow", "right_wrist")])
            assert row["by_body_part_mm"]["arms"][key] == pytest.approx(arms)
        for part in row["by_body_part_mm"].values():
            assert part["mpjpe_change"] == pytest.approx(part["b_rom"] / part["a_everyday"] - 1)


def test_b_seed_redraws_b_alone(toy, tmp_path):
    _out, result = toy
    cfg = ExperimentConfig(samples=600, test_samples=200, epochs=2, width=32, batch_size=64, b_seed=1)
    other = run_experiment(cfg, tmp_path / "b1")
    assert other.models["everyday"]["tests"] == result.models["everyday"]["tests"]  # the same A
    assert other.table["uncommon"]["mpjpe_mm"]["b_rom"] != result.table["uncommon"]["mpjpe_mm"]["b_rom"]
    assert other.data["augment"] != result.data["augment"]  # another augmentation draw


def test_uncommon_test_set_holds_deep_knees_and_everyday_does_not():
    everyday = generate_dataset(
        load_config(
            samples=300,
            seed=1,
            activities={"stand": 1, "walk": 1, "sit": 1, "reach": 1},
            angle_limits_deg={"knee_flexion": (-10, 60)},
        )
    )
    names = everyday.meta["angle_names"]
    knees = [names.index("right_knee_flexion"), names.index("left_knee_flexion")]
    assert np.rad2deg(everyday.extra["angles"][:, knees]).max() <= 60 + 1e-4


def test_shipped_names_resolve_and_float16_export_predicts_the_same(toy, tmp_path, monkeypatch):
    out, _ = toy
    monkeypatch.setattr(checkpoint, "shipped_dir", lambda: tmp_path / "shipped")
    with pytest.raises(ValueError, match="not in this installation"):
        checkpoint.resolve_checkpoint("rom")
    folder = checkpoint.export_shipped(out / "rom", "rom")
    assert checkpoint.resolve_checkpoint("rom") == folder
    assert checkpoint.resolve_checkpoint(out / "rom") == out / "rom"  # a real path wins
    from safetensors.torch import load_file

    tensors = load_file(str(folder / "model.safetensors"))
    assert all(t.dtype.is_floating_point is False or str(t.dtype) == "torch.float16" for t in tensors.values())
    assert not (folder / "train_state.pt").exists()
    full, half = checkpoint.load_lifter(out / "rom"), checkpoint.load_lifter("rom")
    uv = generate_dataset(load_config(samples=50, seed=9)).joints_2d
    assert np.abs(full.predict(uv) - half.predict(uv)).max() < 5e-3  # metres
    with pytest.raises(ValueError, match="expected one of"):
        checkpoint.export_shipped(out / "rom", "best")


def test_cli_experiment_json(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "posesynth.cli.main",
            "experiment",
            "rom",
            "--out",
            str(tmp_path / "e"),
            "--samples",
            "300",
            "--test-samples",
            "100",
            "--epochs",
            "1",
            "--width",
            "16",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["table"]["uncommon"]["mpjpe_mm"]["a_everyday"] > 0
    assert json.loads((tmp_path / "e" / "result.json").read_text())["table"] == doc["table"]


@pytest.mark.slow
def test_cli_experiment_motions_file_is_used_and_a_bad_one_fails_before_any_work(tmp_path):
    cmd = [sys.executable, "-m", "posesynth.cli.main", "experiment", "rom", "--samples", "200",
           "--test-samples", "50", "--epochs", "1", "--width", "16", "--json"]  # fmt: skip
    motions = tmp_path / "knees.yaml"
    motions.write_text("motions:\n  - angle: knee_flexion\n    range_deg: [0, 150]\n")
    proc = subprocess.run([*cmd, "--out", str(tmp_path / "e"), "--motions", str(motions)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["config"]["motions"] == str(motions)
    # knees set within their range: rejections are rare (a knee set near straight hands the
    # thigh's unobservable twist to the hip, whose rotation may then read out of range)
    augment = doc["data"]["augment"]
    assert augment["rejected_rom"] <= 0.01 * augment["source_frames"] * augment["variants"], augment
    motions.write_text("motions:\n  - angle: knee_flexion\n    range_deg: [0, 170]\n")
    proc = subprocess.run([*cmd, "--out", str(tmp_path / "f"), "--motions", str(motions)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "knee_flexion range [0.0, 170.0] deg leaves the range of motion" in proc.stderr
    assert not (tmp_path / "f").exists()  # refused before any training


@pytest.mark.parametrize("name", ["everyday", "rom"])
def test_shipped_checkpoints_load_by_name_and_lift(name):
    from posesynth.apps.experiment import EVERYDAY, EVERYDAY_LIMITS_DEG
    from posesynth.lift.evaluate import evaluate_lifter

    lifter = checkpoint.load_lifter(name)
    assert lifter.meta["shipped_as"] == name and lifter.meta["stored_dtype"] == "float16"
    assert lifter.meta["provenance"]["made_by"].startswith("posesynth experiment rom")
    data = generate_dataset(
        load_config(samples=300, seed=77, activities=EVERYDAY, angle_limits_deg=EVERYDAY_LIMITS_DEG)
    )
    assert evaluate_lifter(lifter, data).mpjpe_mm < 90.0  # the experiment measured ~51 mm
    size = sum(f.stat().st_size for f in checkpoint.shipped_dir().glob("*/*"))
    assert size <= 20e6


def test_render_prints_every_table(toy):
    from rich.console import Console

    from posesynth.cli.experiment_cmd import render

    _, result = toy
    console = Console(record=True, width=200)
    render(result, console)
    text = console.export_text()
    assert "ROM experiment" in text and "MPJPE by body part" in text and "per activity" in text
    arms = result.table["uncommon"]["by_body_part_mm"]["arms"]
    assert f"{arms['a_everyday']:.1f}" in text and f"{100 * arms['mpjpe_change']:+.1f} %" in text
    assert "trunk & head" in text and "quad_stretch" in text


def test_reference_model_c_trains_on_uncommon_poses(toy, tmp_path):
    from rich.console import Console

    from posesynth.cli.experiment_cmd import render

    _, plain = toy
    assert plain.reference == {} and "c" not in plain.checkpoints
    cfg = ExperimentConfig(samples=600, test_samples=200, epochs=2, width=32, batch_size=64, reference=True)
    result = run_experiment(cfg, tmp_path / "ref")
    assert result.table == plain.table  # A and B untouched by C
    ref, c = result.reference, result.models["uncommon"]
    assert result.data["c_train"] == 600 and (tmp_path / "ref" / "uncommon" / "model.safetensors").is_file()
    for test in ("everyday", "uncommon"):
        assert ref["mpjpe_mm"][test] == c["tests"][test]["mpjpe_mm"]
        a = result.models["everyday"]["tests"][test]["mpjpe_mm"]
        assert ref["mpjpe_change_vs_a"][test] == pytest.approx(ref["mpjpe_mm"][test] / a - 1)
    assert set(ref["uncommon_by_activity_mm"]) == {"squat", "lunge", "kick", "quad_stretch", "kneel"}
    console = Console(record=True, width=200)
    render(result, console)
    text = console.export_text()
    assert "reference model C" in text and f"{ref['mpjpe_mm']['uncommon']:.1f}" in text


def test_real_goals_follow_issue_17():
    from posesynth.apps.experiment import real_goals

    def doc(a_bp, a_id, b_bp, b_id, ratio):
        row = lambda p, r=1.0: {"p_mpjpe_mm": p, "p_mpjpe_ratio_to_blazepose": r}
        return {
            "models": {
                "everyday": {"blazepose_2d": row(a_bp), "ideal_2d": row(a_id)},
                "rom": {"blazepose_2d": row(b_bp, ratio), "ideal_2d": row(b_id)},
            }
        }

    assert real_goals({}) == {}
    assert all(real_goals(doc(60, 50, 61, 51, 0.80)).values())
    g = real_goals(doc(60, 50, 62, 56, 0.86))
    assert g == {
        "real_rom_at_most_3pct_worse": False,
        "real_rom_at_most_0_85_blazepose": False,
        "real_rom_ideal_2d_at_most_55mm": False,
    }


def test_in_definition_moves_the_2d_and_on_request_the_3d():
    from posesynth.apps.experiment import in_definition
    from posesynth.body.definitions import KeypointDefinition

    ds = generate_dataset(load_config(samples=50, seed=5))
    hips = KeypointDefinition("t", {"right_hip": (0.02, 0.0, 0.03), "left_hip": (0.02, 0.0, 0.03)})
    two_d = in_definition(ds, hips)
    np.testing.assert_array_equal(two_d.joints_3d_camera, ds.cameras.world_to_camera(ds.joints_3d_world))
    moved = np.abs(two_d.joints_2d - ds.joints_2d).max(axis=(0, 2))
    assert moved[[0, 1, 4]].min() > 0.5 and moved[[2, 3, 5, 6, 7, 8]].max() < 1e-2  # px (float32-rounded 2D)
    both = in_definition(ds, hips, output_3d=True)
    assert np.abs(both.joints_3d_camera[:, 1] - two_d.joints_3d_camera[:, 1]).max() > 0.01
    assert both.meta["keypoint_definition"] == {"name": "t", "input_2d": True, "output_3d": True}


def test_keypoint_jitter_trains_both_models_on_moved_keypoints(toy, tmp_path):
    _out, result = toy
    cfg = ExperimentConfig(samples=600, test_samples=200, epochs=2, width=32, batch_size=64, keypoint_jitter=0.03)
    other = run_experiment(cfg, tmp_path / "jit")
    assert other.config.keypoint_jitter == 0.03
    assert other.data["everyday_train"] == result.data["everyday_train"]
    # the same poses and test sets, other training keypoints: both models change
    for model in ("everyday", "rom"):
        assert other.models[model]["tests"]["everyday"] != result.models[model]["tests"]["everyday"]


def test_stream_protocol_trains_both_models_on_fresh_samples(tmp_path):
    cfg = ExperimentConfig(
        samples=512, test_samples=100, epochs=2, width=16, batch_size=64, stream=True, prior="broad", variants=1,
        dropout=0.1,
    )  # fmt: skip
    result = run_experiment(cfg, tmp_path / "s")
    assert result.data["stream"] is True and result.data["b_rom_share"] == 0.5
    assert result.models["everyday"]["epochs"] == result.models["rom"]["epochs"] == 2  # the same steps
    meta = json.loads((tmp_path / "s" / "rom" / "meta.json").read_text())
    assert meta["data"]["stream"]["config"]["rom_share"] == 0.5
    for name in ("everyday", "rom"):  # the configured dropout, not SimpleBaseline's 0.5
        assert json.loads((tmp_path / "s" / name / "meta.json").read_text())["model"]["dropout"] == 0.1
    assert set(result.table) == {"everyday", "uncommon", "everyday_independent"}


def test_rom_share_sets_b_stream_share_and_needs_the_stream(tmp_path):
    cfg = ExperimentConfig(
        samples=256, test_samples=50, epochs=1, width=16, batch_size=64, stream=True, prior="broad", rom_share=0.6,
    )  # fmt: skip
    result = run_experiment(cfg, tmp_path / "s")
    assert result.data["b_rom_share"] == 0.6
    meta = json.loads((tmp_path / "s" / "rom" / "meta.json").read_text())
    assert meta["data"]["stream"]["config"]["rom_share"] == 0.6
    with pytest.raises(ValueError, match="rom_share: applies to streamed training"):
        ExperimentConfig(rom_share=0.6)


def test_unlimited_share_reaches_b_stream_only(tmp_path):
    cfg = ExperimentConfig(
        samples=256, test_samples=50, epochs=1, width=16, batch_size=64, stream=True, prior="broad",
        rom_share=0.25, unlimited_share=0.25,
    )  # fmt: skip
    result = run_experiment(cfg, tmp_path / "s")
    assert result.data["b_unlimited_share"] == 0.25
    streams = {
        n: json.loads((tmp_path / "s" / n / "meta.json").read_text())["data"]["stream"] for n in ("everyday", "rom")
    }
    assert streams["rom"]["config"]["unlimited_share"] == 0.25 and streams["rom"]["config"]["rom_share"] == 0.25
    assert streams["everyday"]["config"]["unlimited_share"] == 0.0
    with pytest.raises(ValueError, match="unlimited_share: applies to streamed training"):
        ExperimentConfig(unlimited_share=0.2)
    with pytest.raises(ValueError, match="expected a sum below 1"):
        ExperimentConfig(stream=True, unlimited_share=0.5)  # with the default share 0.5


def test_tilt_sd_tilts_the_training_bodies_and_not_the_test_sets(tmp_path):
    cfg = ExperimentConfig(
        samples=256, test_samples=50, epochs=1, width=16, batch_size=64, stream=True, prior="broad", tilt_sd_deg=20,
    )  # fmt: skip
    result = run_experiment(cfg, tmp_path / "s")
    for name in ("everyday", "rom"):
        meta = json.loads((tmp_path / "s" / name / "meta.json").read_text())
        assert meta["data"]["stream"]["config"]["generate"]["tilt_sd_deg"] == 20
    default = run_experiment(cfg.model_copy(update={"tilt_sd_deg": 4.0}), tmp_path / "d")
    assert result.data == default.data  # the same sizes; only the training bodies' tilt differs

    def up_angle(ds):  # the trunk (pelvis -> thorax) from the world's vertical, degrees
        idx = {n: i for i, n in enumerate(H36M17.joint_names)}
        trunk = ds.joints_3d_world[:, idx["thorax"]] - ds.joints_3d_world[:, idx["root"]]
        return np.degrees(np.arccos(trunk[:, 2] / np.linalg.norm(trunk, axis=-1)))

    from posesynth.apps.experiment import EVERYDAY_BROAD, _everyday
    from posesynth.body.skeleton import H36M17

    upright, tilted = _everyday(400, 1, EVERYDAY_BROAD), _everyday(400, 1, EVERYDAY_BROAD, 20.0)
    assert np.median(up_angle(tilted)) > np.median(up_angle(upright)) + 8
