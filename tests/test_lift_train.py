"""The lifter: model, normalisation, noise, training, checkpoints, evaluation (needs torch)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from posesynth.body.skeleton import H36M17, H36M_EXTENDED
from posesynth.data.dataset import PoseDataset
from posesynth.data.formats.registry import read_any
from posesynth.jobs.generate import generate, load_config
from posesynth.lift.checkpoint import Lifter, load_lifter, save_checkpoint
from posesynth.lift.data import lift_arrays
from posesynth.lift.evaluate import evaluate_lifter, evaluate_path, save_knee_figure
from posesynth.lift.model import SimpleBaseline
from posesynth.lift.noise import NoiseConfig, apply_noise, load_noise_config
from posesynth.lift.normalize import centre_and_scale
from posesynth.lift.train import (
    TrainConfig,
    prepare_run,
    resume_lifter,
    run_epoch,
    split_indices,
    train_lifter,
)

TINY = TrainConfig(width=64, epochs=2, seed=3, batch_size=64)
EVAL_DOC_KEYS = ("samples", "mpjpe_mm", "p_mpjpe_mm", "n_mpjpe_mm", "pck3d_150", "auc", "bone_length_error_mm",
                 "per_joint_mpjpe_mm", "by_body_part_mm", "by_knee_flexion")  # fmt: skip
TRAIN_KEYS = ("out", "epochs_done", "epochs_run", "steps_done", "samples_train", "samples_val", "samples_dropped",
              "train_loss", "val_mpjpe_mm", "validation", "seconds", "samples_per_s", "config", "device")  # fmt: skip


@pytest.fixture(scope="module")
def data_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lift") / "data"
    generate(load_config(samples=2000, seed=5), out, preview=False)
    return out


@pytest.fixture(scope="module")
def dataset(data_path: Path) -> PoseDataset:
    return read_any(data_path)


@pytest.fixture(scope="module")
def checkpoint(dataset: PoseDataset, data_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    train_lifter(dataset, out, TINY, data_path=data_path)
    return out


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_lifter(path).model.state_dict()


def _assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k, value in a.items():
        assert torch.equal(value, b[k]), k


# -- model, normalisation, noise ----------------------------------------------------------------


def test_model_shapes_and_max_norm() -> None:
    model = SimpleBaseline(width=32, blocks=2)
    assert model(torch.zeros(5, 34)).shape == (5, 48)
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linear) == 1 + 2 * 2 + 1
    assert model.config["max_norm"] is None
    clipped = SimpleBaseline(width=32, blocks=2, max_norm=1.0)
    clipped.load_state_dict(model.state_dict())  # same keys: the raw weights are stored
    state = dict(clipped.state_dict())
    with torch.no_grad():
        for name, m in clipped.named_modules():
            if isinstance(m, torch.nn.Linear):
                assert float(torch.linalg.matrix_norm(m.weight)) > 1.0  # He init, stored raw
                w = m.effective_weight()
                assert float(torch.linalg.matrix_norm(w)) == pytest.approx(1.0, rel=1e-5)
                state[f"{name}.weight"] = w
        # the clipped forward equals a plain model holding the clipped weights
        plain = SimpleBaseline(width=32, blocks=2).eval()
        plain.load_state_dict(state)
        x = torch.randn(4, 34)
        torch.testing.assert_close(clipped.eval()(x), plain(x))
    with pytest.raises(ValueError, match="missing"):
        SimpleBaseline.from_config({"width": 8})
    with pytest.raises(ValueError, match="dropout"):
        SimpleBaseline(dropout=1.0)
    with pytest.raises(ValueError, match="max_norm"):
        SimpleBaseline(max_norm=0.0)


def test_normalisation_ignores_image_position_and_scale(dataset: PoseDataset) -> None:
    uv = torch.as_tensor(dataset.joints_2d[:10])
    moved = uv * 3.7 + torch.tensor([812.0, -40.0])
    torch.testing.assert_close(centre_and_scale(moved), centre_and_scale(uv))
    x = centre_and_scale(uv)
    assert torch.all(x[:, 0] == 0)
    extent = (x.amax(dim=1) - x.amin(dim=1)).amax(dim=-1)
    torch.testing.assert_close(extent, torch.ones(10, dtype=extent.dtype))


def test_noise_models() -> None:
    uv = torch.rand(4000, 17, 2, dtype=torch.float64) * 200 + 300
    off = NoiseConfig()
    assert apply_noise(uv, off, torch.Generator().manual_seed(0)) is uv
    cfg = NoiseConfig(sigma_px=3.0)
    a = apply_noise(uv, cfg, torch.Generator().manual_seed(0))
    b = apply_noise(uv, cfg, torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert abs(float((a - uv).std()) - 3.0) < 0.1

    drop = apply_noise(uv, NoiseConfig(drop_prob=0.3), torch.Generator().manual_seed(1))
    moved = (drop != uv).any(dim=-1)
    assert not moved[:, 0].any()  # the root is never dropped
    assert 0.25 < float(moved[:, 1:].double().mean()) < 0.35
    torch.testing.assert_close(drop[moved], drop[:, :1].expand_as(drop)[moved])  # on the root

    out = apply_noise(uv, NoiseConfig(outlier_prob=0.2, outlier_box_scale=1.0), torch.Generator().manual_seed(2))
    hit = (out != uv).any(dim=-1)
    assert not hit[:, 0].any() and 0.15 < float(hit[:, 1:].double().mean()) < 0.25
    lo, hi = uv.amin(dim=1, keepdim=True), uv.amax(dim=1, keepdim=True)
    centre, half = (lo + hi) / 2, (hi - lo).amax(dim=-1, keepdim=True) / 2
    assert torch.all((out - centre).abs() <= half + 1e-9)  # inside the (square) box


def test_noise_config_from_yaml(tmp_path: Path) -> None:
    f = tmp_path / "noise.yaml"
    f.write_text("sigma_px: 2.0\ndrop_prob: 0.05\n")
    cfg = load_noise_config(f, drop_prob=0.1)
    assert (cfg.sigma_px, cfg.drop_prob, cfg.outlier_prob) == (2.0, 0.1, 0.0)
    f.write_text("sigma: 2.0\n")
    with pytest.raises(ValueError, match="sigma"):
        load_noise_config(f)


def test_split_is_seeded_and_disjoint() -> None:
    tr, va = split_indices(100, 0.1, 7)
    assert len(va) == 10 and len(tr) == 90 and not set(tr) & set(va)
    _, va2 = split_indices(100, 0.1, 7)
    assert np.array_equal(va, va2) and not np.array_equal(va, split_indices(100, 0.1, 8)[1])


# -- training -----------------------------------------------------------------------------------


def test_training_loss_falls(dataset: PoseDataset) -> None:
    losses: list[float] = []

    class Record:
        def on_batch(self, samples: int, loss: float) -> None:
            losses.append(loss)

    run = prepare_run(lift_arrays(dataset), TrainConfig(width=64, seed=0, noise=NoiseConfig(sigma_px=1.0)))
    before = run.model.state_dict()["head.weight"].clone()
    for _ in range(5):
        run_epoch(run, Record())
    assert run.epoch == 5 and run.step == len(losses) == 5 * 29  # 28 full batches + one of 8
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
    assert not torch.equal(before, run.model.state_dict()["head.weight"])


def test_mpjpe_loss_is_the_mean_joint_distance_in_metres(dataset: PoseDataset) -> None:
    from posesynth.lift.train import train_step

    run = prepare_run(lift_arrays(dataset), TINY.model_copy(update={"loss": "mpjpe", "dropout": 0.0}))
    x = torch.randn(8, 34)
    y = run.y_train[:8]
    with torch.no_grad():
        out = run.model(x).double().numpy()
    std = run.norm["target_std"].double().numpy()
    # independent: the un-standardised difference as 16 joints of 3 metres each
    expect = np.linalg.norm(((out - y.double().numpy()) * std).reshape(8, 16, 3), axis=-1).mean()
    assert float(train_step(run, x, y)) == pytest.approx(expect, rel=1e-5)
    losses: list[float] = []

    class Record:
        def on_batch(self, samples: int, loss: float) -> None:
            losses.append(loss)

    for _ in range(4):
        run_epoch(run, Record())
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
    with pytest.raises(ValueError):
        TrainConfig(loss="l1")


def test_train_writes_checkpoint(checkpoint: Path, data_path: Path) -> None:
    assert {p.name for p in checkpoint.iterdir()} == {"model.safetensors", "meta.json", "train_state.pt"}
    meta = json.loads((checkpoint / "meta.json").read_text())
    assert meta["format"] == "posesynth-lifter" and meta["skeleton"] == H36M17.to_dict()
    assert meta["model"] == {
        "in_features": 34,
        "out_features": 48,
        "width": 64,
        "blocks": 2,
        "dropout": 0.5,
        "max_norm": 1.0,
    }
    assert meta["normalization"]["method"] == "root_bbox"
    assert len(meta["normalization"]["input_mean"]) == 34 and len(meta["normalization"]["target_std"]) == 48
    assert meta["train_config"]["seed"] == 3 and meta["epochs_done"] == 2 and len(meta["history"]) == 2
    assert meta["data"]["samples"] == 2000 and meta["data"]["seed"] == 5
    assert meta["data"]["path"] == str(data_path.resolve())
    assert meta["data"]["split"] == {"usable": 2000, "dropped": 0, "train": 1800, "val": 200}
    assert meta["metrics"]["validation"]["samples"] == 200
    assert "version" in meta and "torch_version" in meta


def test_same_seed_same_weights(dataset: PoseDataset, checkpoint: Path, tmp_path: Path) -> None:
    again = train_lifter(dataset, tmp_path / "again", TINY)
    assert again.epochs_done == 2
    _assert_same_weights(_weights(checkpoint), _weights(tmp_path / "again"))
    train_lifter(dataset, tmp_path / "other", TINY.model_copy(update={"seed": 4}))
    assert not torch.equal(_weights(checkpoint)["head.weight"], _weights(tmp_path / "other")["head.weight"])


def test_resume_continues_exactly(dataset: PoseDataset, checkpoint: Path, tmp_path: Path) -> None:
    straight = tmp_path / "straight"
    train_lifter(dataset, straight, TINY.model_copy(update={"epochs": 3}))
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    for f in checkpoint.iterdir():
        (resumed / f.name).write_bytes(f.read_bytes())
    summary = resume_lifter(dataset, resumed, {"epochs": 3, "width": 64})
    assert summary.epochs_done == 3 and summary.epochs_run == 1
    meta = json.loads((resumed / "meta.json").read_text())
    assert [h["epoch"] for h in meta["history"]] == [1, 2, 3]
    _assert_same_weights(_weights(straight), _weights(resumed))
    with pytest.raises(ValueError, match="width 128"):
        resume_lifter(dataset, resumed, {"epochs": 4, "width": 128})
    with pytest.raises(ValueError, match="done 3 of 3 epochs"):
        resume_lifter(dataset, resumed, {})
    with pytest.raises(ValueError, match="trained on 2000 usable samples, this data set has 1000"):
        resume_lifter(dataset.select(slice(0, 1000)), resumed, {"epochs": 4})


def test_refuses_existing_out(dataset: PoseDataset, checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="already exists"):
        train_lifter(dataset, checkpoint, TINY)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a lifter checkpoint"):
        train_lifter(dataset, other, TINY, overwrite=True)
    assert (other / "todo.txt").read_text() == "mine"


def test_training_refuses_empty_or_unusable_data(tmp_path: Path) -> None:
    empty = PoseDataset(skeleton=H36M17, joints_2d=np.zeros((0, 17, 2)), joints_3d_camera=np.zeros((0, 17, 3)))
    with pytest.raises(ValueError, match="0 samples; nothing to train on"):
        train_lifter(empty, tmp_path / "x", TINY)
    nan = PoseDataset(skeleton=H36M17, joints_2d=np.full((5, 17, 2), np.nan), joints_3d_camera=np.zeros((5, 17, 3)))
    with pytest.raises(ValueError, match="none of its 5 samples is usable"):
        train_lifter(nan, tmp_path / "x", TINY)
    assert not (tmp_path / "x").exists()


def test_training_drops_non_finite_samples(dataset: PoseDataset, tmp_path: Path) -> None:
    uv = dataset.joints_2d[:300].copy()
    uv[:7, 3] = np.nan
    small = replace(dataset.select(slice(0, 300)), joints_2d=uv)
    summary = train_lifter(small, tmp_path / "c", TrainConfig(width=16, epochs=1))
    assert summary.samples_dropped == 7 and summary.samples_train + summary.samples_val == 293
    # the typed summary's document: the keys and order `posesynth train --json` has always printed,
    # config and device as the checkpoint's meta records them
    doc = summary.to_dict()
    assert list(doc) == list(TRAIN_KEYS)
    meta = json.loads((tmp_path / "c" / "meta.json").read_text())
    assert doc["config"] == meta["train_config"] and doc["device"] == meta["device"]
    assert doc["epochs_done"] == meta["epochs_done"] == 1 and doc["validation"] == meta["metrics"]["validation"]
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc


def test_extended_skeleton_uses_first_17_joints(tmp_path: Path) -> None:
    generate(load_config(samples=200, seed=1, skeleton="h36m_extended"), tmp_path / "ext", preview=False)
    ds = read_any(tmp_path / "ext")
    assert ds.skeleton == H36M_EXTENDED
    train_lifter(ds, tmp_path / "c", TrainConfig(width=16, epochs=1))
    scores = evaluate_lifter(load_lifter(tmp_path / "c"), ds)
    assert scores.samples == 200 and len(scores.per_joint_mpjpe_mm) == 17


# -- checkpoints and prediction -------------------------------------------------------------------


def test_save_load_round_trip_predicts_identically(dataset: PoseDataset, tmp_path: Path) -> None:
    run = prepare_run(lift_arrays(dataset), TrainConfig(width=32, seed=1))
    run_epoch(run)
    run.model.eval()
    in_memory = Lifter(run.model, run.stats)
    save_checkpoint(tmp_path / "c", run.model, run.stats, {"train_config": run.config.model_dump(mode="json")})
    loaded = load_lifter(tmp_path / "c")
    uv = dataset.joints_2d[:50]
    a, b = in_memory.predict(uv), loaded.predict(uv)
    assert a.shape == (50, 17, 3) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert np.all(a[:, 0] == 0)
    np.testing.assert_allclose(loaded.predict(uv[0]), b[0], atol=1e-6)  # a single pose (other BLAS path)
    # any camera: moving / scaling the 2D in the image changes nothing
    np.testing.assert_allclose(loaded.predict(uv * 0.5 + 100.0), b, atol=1e-5)


def test_predict_rejects_bad_2d(checkpoint: Path, dataset: PoseDataset) -> None:
    lifter = load_lifter(checkpoint)
    with pytest.raises(ValueError, match=r"expected shape \(N, 17, 2\).*got \(3, 16, 2\)"):
        lifter.predict(dataset.joints_2d[:3, :16])
    uv = dataset.joints_2d[:3].copy()
    uv[1, 4, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN/inf in 1 of 3 poses \(first: pose 1\)"):
        lifter.predict(uv)
    with pytest.raises(ValueError, match="one point"):
        lifter.predict(np.ones((2, 17, 2)))


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_checkpoint_with_missing_meta_keys(checkpoint: Path, tmp_path: Path) -> None:
    bad = _copy(checkpoint, tmp_path / "bad")
    meta = json.loads((bad / "meta.json").read_text())
    del meta["normalization"]
    (bad / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"meta\.json: missing key\(s\) \['normalization'\]"):
        load_lifter(bad)


def test_checkpoint_with_missing_tensors(checkpoint: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    bad = _copy(checkpoint, tmp_path / "bad")
    tensors = load_file(str(bad / "model.safetensors"))
    del tensors["head.weight"]
    save_file(tensors, str(bad / "model.safetensors"))
    with pytest.raises(ValueError, match=r"missing \['head.weight'\]"):
        load_lifter(bad)
    (bad / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot read the weights"):
        load_lifter(bad)
    (bad / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="has no weights"):
        load_lifter(bad)


def test_checkpoint_width_mismatch(checkpoint: Path, tmp_path: Path) -> None:
    bad = _copy(checkpoint, tmp_path / "bad")
    meta = json.loads((bad / "meta.json").read_text())
    meta["model"]["width"] = 128
    (bad / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="shape"):
        load_lifter(bad)


def test_checkpoint_of_another_skeleton(checkpoint: Path, tmp_path: Path) -> None:
    bad = _copy(checkpoint, tmp_path / "bad")
    meta = json.loads((bad / "meta.json").read_text())
    meta["skeleton"] = H36M_EXTENDED.to_dict()
    (bad / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="skeleton 'h36m_extended'.*only 'h36m17'"):
        load_lifter(bad)
    with pytest.raises(ValueError, match="not a lifter checkpoint"):
        load_lifter(tmp_path)


def test_data_of_another_skeleton(checkpoint: Path) -> None:
    other = H36M17.subset(range(16), name="h36m16")
    ds = PoseDataset(skeleton=other, joints_2d=np.ones((2, 16, 2)), joints_3d_camera=np.ones((2, 16, 3)))
    with pytest.raises(ValueError, match="is not Human3.6M-17"):
        evaluate_lifter(load_lifter(checkpoint), ds)


# -- evaluation -----------------------------------------------------------------------------------


def test_evaluate_document_and_figure(checkpoint: Path, data_path: Path, tmp_path: Path) -> None:
    fig = tmp_path / "knee.png"
    evaluation = evaluate_path(checkpoint, data_path, figure=fig)
    doc = evaluation.to_dict()  # the `evaluate --json` document: its keys in their order
    assert list(doc) == ["checkpoint", "data", "keypoints_2d", *EVAL_DOC_KEYS, "figure"]
    assert doc["figure"] == evaluation.figure == str(fig) and json.loads(json.dumps(doc)) == doc
    scores = evaluation.scores
    assert scores.samples == 2000 and list(scores.per_joint_mpjpe_mm) == list(H36M17.joint_names)
    assert 0 < scores.p_mpjpe_mm < scores.mpjpe_mm < 1000
    assert 0 <= scores.pck3d_150 <= 1 and 0 <= scores.auc <= scores.pck3d_150
    assert scores.by_knee_flexion is not None and sum(b.samples for b in scores.by_knee_flexion.values()) == 4000
    assert list(doc["by_knee_flexion"]["0-30"]) == ["samples", "mpjpe_mm", "knee_mm"]
    first = fig.read_bytes()
    assert first.startswith(b"\x89PNG")
    for source in (evaluation, scores, doc):  # the typed result or its document: the same figure
        save_knee_figure(source, fig)
        assert fig.read_bytes() == first  # deterministic
    with pytest.raises(ValueError, match=r"expected a \.png"):
        save_knee_figure(doc, tmp_path / "knee.jpg")


def test_evaluate_rejects_nan_2d(checkpoint: Path, dataset: PoseDataset) -> None:
    uv = dataset.joints_2d[:20].copy()
    uv[5, 0] = np.nan
    bad = replace(dataset.select(slice(0, 20)), joints_2d=uv)
    with pytest.raises(ValueError, match="NaN/inf"):
        evaluate_lifter(load_lifter(checkpoint), bad)


def test_weight_average_follows_its_formula(dataset: PoseDataset) -> None:
    from posesynth.lift.train import update_average

    run = prepare_run(lift_arrays(dataset), TINY.model_copy(update={"ema_decay": 0.9}))
    assert run.ema is not None and run.serving_model is run.ema
    with torch.no_grad():
        for p in run.ema.parameters():
            p.fill_(1.0)
        for p in run.model.parameters():
            p.fill_(3.0)
    run.step = 1000  # past the warm-up: decay 0.9
    update_average(run)
    for p in run.ema.parameters():
        assert torch.allclose(p, torch.full_like(p, 0.9 * 1.0 + 0.1 * 3.0))
    run.step = 0  # warm-up: decay min(0.9, 1/10) = 0.1
    with torch.no_grad():
        for p in run.ema.parameters():
            p.fill_(1.0)
    update_average(run)
    for p in run.ema.parameters():
        assert torch.allclose(p, torch.full_like(p, 0.1 * 1.0 + 0.9 * 3.0))
    # integer buffers (BatchNorm's batch counter) are copied, not averaged
    for avg, cur in zip(run.ema.buffers(), run.model.buffers(), strict=True):
        if not avg.dtype.is_floating_point:
            assert torch.equal(avg, cur)
    assert prepare_run(lift_arrays(dataset), TINY).ema is None


def test_averaged_checkpoint_holds_the_average_and_resumes_exactly(dataset: PoseDataset, tmp_path: Path) -> None:
    cfg = TINY.model_copy(update={"ema_decay": 0.99})
    straight = tmp_path / "straight"
    train_lifter(dataset, straight, cfg.model_copy(update={"epochs": 3}))
    state = torch.load(straight / "train_state.pt", weights_only=True)
    saved = _weights(straight)
    trained = state["trained_weights"]
    # the checkpoint predicts with the average, which is not the trained weights
    assert set(saved) == set(trained)
    assert not torch.equal(saved["head.weight"], trained["head.weight"])
    plain = tmp_path / "plain"
    train_lifter(dataset, plain, TINY.model_copy(update={"epochs": 3}))
    assert torch.equal(_weights(plain)["head.weight"], trained["head.weight"].cpu())  # averaging never steers training
    assert "trained_weights" not in torch.load(plain / "train_state.pt", weights_only=True)
    # interrupted after 2 epochs and resumed: the very weights and average of a straight run
    resumed = tmp_path / "resumed"
    train_lifter(dataset, resumed, cfg)
    resume_lifter(dataset, resumed, {"epochs": 3})
    _assert_same_weights(saved, _weights(resumed))
    back = torch.load(resumed / "train_state.pt", weights_only=True)["trained_weights"]
    for k in trained:
        assert torch.equal(trained[k], back[k])
