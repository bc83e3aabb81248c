"""``--device`` and ``--precision``: CPU and ``auto`` everywhere; CUDA / MPS where present
(skipped elsewhere). A checkpoint records its device and loads on the CPU."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from posesynth.cli.main import app
from posesynth.jobs.generate import generate_dataset, load_config
from posesynth.lift.checkpoint import load_lifter
from posesynth.lift.device import device_plan, resolve_device
from posesynth.lift.train import TrainConfig, resume_lifter, train_lifter, train_stream

runner = CliRunner()
CUDA = torch.cuda.is_available()
MPS = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
TINY = TrainConfig(width=32, epochs=2, seed=1, batch_size=64)
STREAM = {"samples_per_epoch": 512, "chunk_samples": 256, "stats_samples": 500, "val_samples": 100, "workers": 1}


@pytest.fixture(scope="module")
def dataset():
    return generate_dataset(load_config(samples=600, seed=4))


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_lifter(path).model.state_dict()


def test_device_resolution() -> None:
    assert device_plan("cpu").device.type == "cpu" and device_plan("cpu").precision == "fp32"
    auto = resolve_device("auto")
    assert auto.type == ("cuda" if CUDA else "mps" if MPS else "cpu")
    assert device_plan("cpu", "bf16").autocast_dtype == torch.bfloat16
    with pytest.raises(ValueError, match="fp16.*CPU"):
        device_plan("cpu", "fp16")
    with pytest.raises(ValueError, match="device: expected one of"):
        device_plan("tpu")
    with pytest.raises(ValueError, match="precision: expected one of"):
        device_plan("cpu", "int8")


@pytest.mark.skipif(CUDA, reason="this machine has CUDA")
def test_missing_cuda_is_one_clear_error(tmp_path: Path, dataset) -> None:
    with pytest.raises(ValueError, match="'cuda' was asked for.*no CUDA GPU"):
        train_lifter(dataset, tmp_path / "c", TINY.model_copy(update={"device": "cuda"}))
    assert not (tmp_path / "c").exists()


def test_cpu_and_auto(tmp_path: Path, dataset) -> None:
    """--device cpu trains and records the CPU; where auto resolves to the CPU, it gives the
    very weights of --device cpu."""
    out = tmp_path / "cpu"
    result = runner.invoke(app, ["train", "--device", "cpu", "-o", str(out), "--width", "32", "--epochs", "2",
                                 "--seed", "1", "--json", _store(dataset, tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (
        doc["device"]["type"] == "cpu" and doc["device"]["precision"] == "fp32" and doc["device"]["requested"] == "cpu"
    )
    meta = json.loads((out / "meta.json").read_text())
    assert meta["device"]["type"] == "cpu" and meta["train_config"]["device"] == "cpu"
    train_lifter(dataset, tmp_path / "auto", TINY.model_copy(update={"device": "auto"}))
    auto = json.loads((tmp_path / "auto" / "meta.json").read_text())["device"]
    assert auto["requested"] == "auto"
    if auto["type"] == "cpu":
        cpu = train_lifter(dataset, tmp_path / "cpu2", TINY.model_copy(update={"device": "cpu"}))
        assert cpu.device.device.type == "cpu"
        a, b = _weights(tmp_path / "auto"), _weights(tmp_path / "cpu2")
        assert all(torch.equal(a[k], b[k]) for k in a)


def _store(dataset, tmp_path: Path) -> str:
    from posesynth.data.formats.registry import write_any

    path = tmp_path / "data"
    if not path.exists():
        write_any(dataset, path, "posesynth")
    return str(path)


def test_cpu_bf16_autocast_trains(tmp_path: Path, dataset) -> None:
    summary = train_lifter(
        dataset, tmp_path / "bf16", TINY.model_copy(update={"device": "cpu", "precision": "bf16", "epochs": 3})
    )
    assert summary.device.precision == "bf16" and np.isfinite(summary.train_loss)
    meta = json.loads((tmp_path / "bf16" / "meta.json").read_text())
    assert [h["train_loss"] for h in meta["history"]][-1] < meta["history"][0]["train_loss"]
    # stored float32 weights; the lifter predicts in float32 on the CPU
    assert all(v.dtype in (torch.float32, torch.int64) for v in _weights(tmp_path / "bf16").values())


# -- accelerators: run where present, skipped elsewhere -------------------------------------------


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_cuda_training_in_memory_and_streamed(tmp_path: Path, dataset, precision: str) -> None:
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    cfg = TrainConfig(width=64, epochs=3, seed=2, device="cuda", precision=precision)
    summary = train_lifter(dataset, tmp_path / "mem", cfg)
    assert summary.device.device.type == "cuda" and summary.device.precision == precision
    meta = json.loads((tmp_path / "mem" / "meta.json").read_text())
    assert meta["history"][-1]["train_loss"] < meta["history"][0]["train_loss"]
    lifter = load_lifter(tmp_path / "mem")  # a CUDA checkpoint loads on the CPU
    assert next(lifter.model.parameters()).device.type == "cpu"
    pred = lifter.predict(dataset.joints_2d[:20])
    assert pred.shape == (20, 17, 3) and np.isfinite(pred).all()
    # resumed on the CPU from the CUDA checkpoint's optimiser state
    resumed = resume_lifter(dataset, tmp_path / "mem", {"epochs": 4, "device": "cpu", "precision": "fp32"})
    assert resumed.epochs_done == 4 and resumed.device.device.type == "cpu"
    streamed = train_stream(STREAM, tmp_path / "stream", cfg)
    assert streamed.device.device.type == "cuda" and np.isfinite(streamed.train_loss)


@pytest.mark.skipif(
    not CUDA or not os.environ.get("CUBLAS_WORKSPACE_CONFIG"), reason="needs CUDA and CUBLAS_WORKSPACE_CONFIG"
)
def test_cuda_fp32_is_deterministic(tmp_path: Path, dataset) -> None:
    cfg = TrainConfig(width=64, epochs=2, seed=5, device="cuda", precision="fp32")
    train_lifter(dataset, tmp_path / "a", cfg)
    train_lifter(dataset, tmp_path / "b", cfg)
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.skipif(not MPS, reason="needs an Apple MPS device")
def test_mps_training(tmp_path: Path, dataset) -> None:
    summary = train_lifter(dataset, tmp_path / "mps", TINY.model_copy(update={"device": "mps"}))
    assert summary.device.device.type == "mps" and np.isfinite(summary.train_loss)
    assert load_lifter(tmp_path / "mps").predict(dataset.joints_2d[:5]).shape == (5, 17, 3)
