"""Streamed training data (posesynth.torch.SyntheticPoses) and ``posesynth train --stream``.

What is promised (lift/stream.py): chunk k of epoch e is a pure function of the configuration,
the seed and (e, k), drawn from ``SeedSequence([seed, e, k])``; the loader yields chunks in
order for any number of workers, so runs and worker counts give identical batches and
identical weights (on one machine and software stack).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import assert_one_error_line

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

import posesynth.torch as pst
from posesynth.cli.main import app
from posesynth.jobs.generate import GenerateConfig, generate, generate_shard, load_config
from posesynth.lift.checkpoint import load_lifter
from posesynth.lift.noise import NoiseConfig
from posesynth.lift.normalize import compute_stats
from posesynth.lift.stream import StreamConfig, SyntheticPoses, load_stream_config
from posesynth.lift.train import TrainConfig, resume_stream, train_stream

runner = CliRunner()
SMALL = {"samples_per_epoch": 300, "chunk_samples": 128, "stats_samples": 400, "val_samples": 50, "workers": 0}
TINY = TrainConfig(width=16, epochs=2, seed=3, batch_size=32)


@pytest.fixture(scope="module")
def stream() -> SyntheticPoses:
    return SyntheticPoses(SMALL, batch_size=32, seed=7, epochs=2)


def _same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        p.epoch == q.epoch and p.index == q.index and torch.equal(p.x, q.x) and torch.equal(p.y, q.y)
        for p, q in zip(a, b)
    )


def test_posesynth_torch_does_not_shadow_torch() -> None:
    import posesynth.lift.stream as stream_mod

    assert pst.__name__ == "posesynth.torch" and pst.SyntheticPoses is SyntheticPoses
    assert sys.modules["torch"] is torch and stream_mod.torch is torch
    assert hasattr(torch, "nn") and "posesynth" not in Path(torch.__file__).parts


def test_epoch_layout(stream: SyntheticPoses) -> None:
    # 300 samples -> 10 batches of 32; chunks of 4 batches: 4, 4, 2
    assert (stream.steps_per_epoch, stream.chunk_batches, stream.chunks_per_epoch) == (10, 4, 3)
    chunks = list(stream.loader(0))
    assert [(c.epoch, c.index, len(c.x)) for c in chunks] == [
        (1, 0, 128), (1, 1, 128), (1, 2, 64), (2, 0, 128), (2, 1, 128), (2, 2, 64)
    ]  # fmt: skip
    assert all(c.x.shape[1:] == (34,) and c.y.shape[1:] == (48,) for c in chunks)
    assert all(c.x.dtype == torch.float32 and c.y.dtype == torch.float32 for c in chunks)
    batches = list(pst.iter_batches(iter(chunks), 32))
    assert len(batches) == 20 and all(len(x) == 32 for _, x, _ in batches)


def test_same_chunks_across_runs_and_worker_counts(stream: SyntheticPoses) -> None:
    base = list(stream.loader(0))
    again = SyntheticPoses(SMALL, batch_size=32, seed=7, epochs=2)
    assert _same(base, list(again.loader(0)))
    assert _same(base, list(stream.loader(1)))
    assert _same(base, list(stream.loader(2)))
    other = SyntheticPoses(SMALL, batch_size=32, seed=8, epochs=1)
    assert not torch.equal(other.chunk(1, 0).x, base[0].x)


def test_no_pose_seen_twice(stream: SyntheticPoses) -> None:
    ys = torch.cat([c.y for c in stream.loader(0)])
    assert len(torch.unique(ys, dim=0)) == len(ys)  # within and across both epochs


def test_chunk_follows_the_documented_stream(stream: SyntheticPoses) -> None:
    """Chunk (e, k) = the procedural generator on SeedSequence([seed, e, k]).spawn(2)[0]'s first
    child, normalised as lift/normalize.py says (recomputed here in NumPy)."""
    chunk = stream.chunk(2, 1)
    data_seq = np.random.SeedSequence([7, 2, 1]).spawn(2)[0]
    child = np.random.SeedSequence(data_seq.entropy, spawn_key=(*data_seq.spawn_key, 0))
    ds = generate_shard(GenerateConfig(), child, 128)
    uv = ds.joints_2d[:, :17].astype(np.float32).astype(np.float64)
    p = ds.joints_3d_camera[:, :17]
    st = stream.stats
    box = (uv.max(axis=1) - uv.min(axis=1)).max(axis=-1)
    x_ref = (((uv - uv[:, :1]) / box[:, None, None]).reshape(-1, 34) - st.input_mean) / st.input_std
    y_ref = ((p[:, 1:] - p[:, :1]).reshape(-1, 48) - st.target_mean) / st.target_std
    np.testing.assert_allclose(chunk.x.numpy(), x_ref, atol=2e-5)
    np.testing.assert_allclose(chunk.y.numpy(), y_ref, atol=1e-5)


def test_statistics_from_the_first_draw(stream: SyntheticPoses) -> None:
    seq = np.random.SeedSequence([7, 0, 0])
    ds = generate_shard(GenerateConfig(), np.random.SeedSequence(seq.entropy, spawn_key=(0,)), 400)
    ref = compute_stats(ds.joints_2d[:, :17].astype(np.float32), ds.joints_3d_camera[:, :17])
    np.testing.assert_allclose(stream.stats.input_std, ref.input_std, rtol=1e-6)
    np.testing.assert_allclose(stream.stats.target_mean, ref.target_mean, rtol=1e-9, atol=1e-12)
    assert len(stream.validation()[0]) == 50


def test_noise_on_the_fly(stream: SyntheticPoses) -> None:
    noisy = SyntheticPoses(SMALL, batch_size=32, seed=7, stats=stream.stats, noise=NoiseConfig(sigma_px=3.0))
    a, clean = noisy.chunk(1, 0), stream.chunk(1, 0)
    assert torch.equal(a.y, clean.y) and not torch.equal(a.x, clean.x)
    assert torch.equal(a.x, noisy.chunk(1, 0).x)  # seeded per chunk


def test_augmented_stream(tmp_path: Path) -> None:
    src = tmp_path / "src"
    generate(load_config(samples=60, seed=1), src, preview=False)
    cfg = {**SMALL, "augment": {"source": str(src), "motions": "seed-knee", "cameras": {}}}
    data = SyntheticPoses(cfg, batch_size=32, seed=2, epochs=1)
    chunks = list(data.loader(0))
    assert sum(len(c.x) for c in chunks) == 320 and torch.isfinite(torch.cat([c.x for c in chunks])).all()
    assert _same(chunks, list(data.loader(2)))
    assert data.describe()["kind"] == "augment"


def test_stream_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"(?s)generate.*samples.*set by the stream"):
        StreamConfig(generate={"samples": 10})
    with pytest.raises(ValueError, match="got both"):
        StreamConfig(generate={}, augment={"source": "x"})
    f = tmp_path / "s.yaml"
    f.write_text("samples_per_epoch: 100\nworkers: -1\n")
    with pytest.raises(ValueError, match=r"s\.yaml, line 2: field 'workers'"):
        load_stream_config(f)
    with pytest.raises(ValueError, match="unknown skeleton"):
        StreamConfig(generate={"skeleton": "coco17"})
    with pytest.raises(ValueError, match="batch_size"):
        SyntheticPoses(SMALL, batch_size=1)


def test_train_stream_same_weights_for_any_worker_count_and_resume(tmp_path: Path) -> None:
    a = train_stream(SMALL, tmp_path / "w0", TINY)
    train_stream(SMALL, tmp_path / "w2", TINY, workers=2)
    assert a.epochs_done == 2 and a.samples_train == 320 and a.samples_val == 50
    w0, w2 = load_lifter(tmp_path / "w0").model.state_dict(), load_lifter(tmp_path / "w2").model.state_dict()
    assert all(torch.equal(w0[k], w2[k]) for k in w0)
    meta = json.loads((tmp_path / "w0" / "meta.json").read_text())
    assert meta["data"]["format"] == "stream" and meta["data"]["stream"]["seed"] == 3  # the training seed
    assert meta["device"]["type"] == "cpu" and len(meta["normalization"]["input_mean"]) == 34
    # a run of 1 epoch resumed to 2 equals the straight run
    train_stream(SMALL, tmp_path / "r", TINY.model_copy(update={"epochs": 1}))
    resume_stream(tmp_path / "r", {"epochs": 2}, workers=1)
    r = load_lifter(tmp_path / "r").model.state_dict()
    assert all(torch.equal(w0[k], r[k]) for k in w0)
    with pytest.raises(ValueError, match="done 2 of 2"):
        resume_stream(tmp_path / "r", {})


def test_cli_train_stream(tmp_path: Path) -> None:
    cfg = tmp_path / "stream.yaml"
    cfg.write_text("samples_per_epoch: 200\nchunk_samples: 128\nstats_samples: 300\nval_samples: 40\nworkers: 1\n"
                   "generate:\n  camera:\n    model: opencv\n")  # fmt: skip
    out = tmp_path / "c"
    result = runner.invoke(app, ["train", "--stream", str(cfg), "-o", str(out), "--width", "16", "--epochs", "1",
                                 "--device", "cpu", "--dropout", "0", "--ema-decay", "0.99", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["samples_train"] == 256 and doc["device"]["type"] == "cpu" and doc["epochs_done"] == 1
    assert doc["config"]["dropout"] == 0 and doc["config"]["ema_decay"] == 0.99
    result = runner.invoke(app, ["train", "-o", str(out), "--resume", "--epochs", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["epochs_done"] == 2
    assert json.loads((out / "meta.json").read_text())["train_config"]["ema_decay"] == 0.99


def test_cli_train_stream_errors(tmp_path: Path) -> None:
    assert_one_error_line(runner.invoke(app, ["train", "-o", str(tmp_path / "c")]), "DATA or --stream")
    bad = tmp_path / "bad.yaml"
    bad.write_text("generate:\n  samples: 5\n")
    assert_one_error_line(
        runner.invoke(app, ["train", "--stream", str(bad), "-o", str(tmp_path / "c")]), r"bad\.yaml.*generate"
    )
    assert not (tmp_path / "c").exists()


def test_rom_share_mixes_fresh_reposed_poses_into_each_chunk() -> None:
    limits = {"knee_flexion": (-10.0, 60.0)}
    base = {**SMALL, "samples_per_epoch": 256, "chunk_samples": 256, "generate": {"angle_limits_deg": limits}}
    plain = SyntheticPoses(base, batch_size=32, seed=5, epochs=1)
    mixed = SyntheticPoses({**base, "rom_share": 0.5}, batch_size=32, seed=5, epochs=1, stats=plain.stats)

    def knee_deg(chunk) -> np.ndarray:
        p = (chunk.y.numpy().astype(np.float64) * plain.stats.target_std + plain.stats.target_mean).reshape(-1, 16, 3)
        thigh, shank = p[:, 0] - p[:, 1], p[:, 2] - p[:, 1]  # right hip, knee, foot (root dropped)
        cos = (thigh * shank).sum(-1) / np.linalg.norm(thigh, axis=-1) / np.linalg.norm(shank, axis=-1)
        return 180.0 - np.degrees(np.arccos(np.clip(cos, -1, 1)))

    a, b = plain.chunk(1, 0), mixed.chunk(1, 0)
    assert len(b.x) == len(a.x) == 256
    assert (knee_deg(a) < 62).all()  # the generator's limit
    assert (knee_deg(b) > 70).mean() > 0.1  # the reposed half goes past it
    assert torch.equal(b.x, mixed.chunk(1, 0).x)  # seeded per chunk
    with pytest.raises(ValueError, match="rom_share"):
        StreamConfig(rom_share=0.5, augment={"source": "x", "motions": "seed-knee"})


def test_unlimited_share_draws_whole_movements_past_the_limits() -> None:
    # the share comes from the same priors without angle_limits_deg: sitting with deep knees
    limits = {"knee_flexion": (-10.0, 60.0)}
    gen = {"activities": {"sit_chair": 1.0}, "angle_limits_deg": limits}
    base = {**SMALL, "samples_per_epoch": 256, "chunk_samples": 256, "generate": gen}
    plain = SyntheticPoses(base, batch_size=32, seed=5, epochs=1)
    mixed = SyntheticPoses({**base, "unlimited_share": 0.5}, batch_size=32, seed=5, epochs=1, stats=plain.stats)

    def knee_deg(chunk) -> np.ndarray:
        p = (chunk.y.numpy().astype(np.float64) * plain.stats.target_std + plain.stats.target_mean).reshape(-1, 16, 3)
        thigh, shank = p[:, 0] - p[:, 1], p[:, 2] - p[:, 1]
        cos = (thigh * shank).sum(-1) / np.linalg.norm(thigh, axis=-1) / np.linalg.norm(shank, axis=-1)
        return 180.0 - np.degrees(np.arccos(np.clip(cos, -1, 1)))

    a, b = plain.chunk(1, 0), mixed.chunk(1, 0)
    assert len(b.x) == len(a.x) == 256
    assert (knee_deg(a) < 62).all()
    past = (knee_deg(b) > 70).mean()
    assert 0.3 < past < 0.55  # about half the chunk, and those mostly past the everyday limit
    assert torch.equal(b.x, mixed.chunk(1, 0).x)
    # a share of 0 draws what the stream drew before the option existed
    zero = SyntheticPoses({**base, "unlimited_share": 0.0}, batch_size=32, seed=5, epochs=1, stats=plain.stats)
    assert torch.equal(zero.chunk(1, 0).x, a.x)
    with pytest.raises(ValueError, match="unlimited_share"):
        StreamConfig(unlimited_share=0.5, augment={"source": "x", "motions": "seed-knee"})
    with pytest.raises(ValueError, match="expected a sum below 1"):
        StreamConfig(rom_share=0.5, unlimited_share=0.5)


def test_rom_share_serves_a_remainder_of_one_sample() -> None:
    # a chunk's last draws may ask for 1 sample; with rom_share 2/3 it is all reposed
    from posesynth.lift.stream import _draw, _make_source

    source = _make_source(StreamConfig(rom_share=2 / 3, generate={"activities": {"idle": 1.0}}))
    for n in (1, 2, 3):
        uv, p = _draw(source, np.random.SeedSequence([9, n]), n)
        assert uv.shape == (n, 17, 2) and p.shape == (n, 17, 3) and np.isfinite(uv).all()
