"""MMPose SimpleBaseline import: a state dict built here in MMPose's layout, run by an
independent functional transcription of MMPose's TCN forward, must predict what the imported
posesynth lifter predicts."""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F

from posesynth.data.formats.numpy_pickle import dumps_numpy_pickle
from posesynth.lift import load_lifter
from posesynth.lift.mmpose_import import convert_state_dict, import_mmpose

WIDTH = 64


def _bn(g, prefix, width):
    return {
        f"{prefix}.weight": torch.rand(width, generator=g) + 0.5,
        f"{prefix}.bias": torch.randn(width, generator=g) * 0.1,
        f"{prefix}.running_mean": torch.randn(width, generator=g) * 0.1,
        f"{prefix}.running_var": torch.rand(width, generator=g) + 0.5,
        f"{prefix}.num_batches_tracked": torch.tensor(1000),
    }


def mmpose_state(head="head", width=WIDTH, blocks=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    conv = lambda o, i: torch.randn(o, i, 1, generator=g) * (2.0 / i) ** 0.5
    sd = {"backbone.expand_conv.conv.weight": conv(width, 34), **_bn(g, "backbone.expand_conv.bn", width)}
    for i in range(blocks):
        for c in ("conv1", "conv2"):
            sd[f"backbone.tcn_blocks.{i}.{c}.0.conv.weight"] = conv(width, width)
            sd.update(_bn(g, f"backbone.tcn_blocks.{i}.{c}.0.bn", width))
    sd[f"{head}.conv.weight"] = conv(48, width)
    sd[f"{head}.conv.bias"] = torch.randn(48, generator=g) * 0.01
    return sd


def mmpose_forward(sd, x, head="head"):
    """MMPose's TCN (kernel sizes 1) + regression head, in eval mode: x (B, 34) → (B, 48)."""

    def conv_bn_relu(h, prefix):
        h = F.conv1d(h, sd[f"{prefix}.conv.weight"])
        h = F.batch_norm(
            h,
            sd[f"{prefix}.bn.running_mean"],
            sd[f"{prefix}.bn.running_var"],
            sd[f"{prefix}.bn.weight"],
            sd[f"{prefix}.bn.bias"],
            training=False,
            eps=1e-5,
        )
        return F.relu(h)

    h = conv_bn_relu(x[:, :, None], "backbone.expand_conv")
    i = 0
    while f"backbone.tcn_blocks.{i}.conv1.0.conv.weight" in sd:
        out = conv_bn_relu(h, f"backbone.tcn_blocks.{i}.conv1.0")
        out = conv_bn_relu(out, f"backbone.tcn_blocks.{i}.conv2.0")
        h = h + out
        i += 1
    return F.conv1d(h, sd[f"{head}.conv.weight"], sd[f"{head}.conv.bias"])[:, :, 0]


@pytest.fixture()
def stats(tmp_path):
    rng = np.random.default_rng(0)
    s2 = {"mean": rng.uniform(400, 600, (17, 2)), "std": rng.uniform(50, 150, (17, 2))}
    s3 = {"mean": rng.normal(0, 0.2, (16, 3)), "std": rng.uniform(0.1, 0.4, (16, 3))}
    p2, p3 = tmp_path / "joint2d_stats.pkl", tmp_path / "joint3d_rel_stats.pkl"
    p2.write_bytes(dumps_numpy_pickle(s2))
    p3.write_bytes(dumps_numpy_pickle(s3))
    return s2, s3, p2, p3


@pytest.mark.parametrize("head", ["head", "keypoint_head"])
def test_imported_lifter_predicts_what_mmpose_would(tmp_path, stats, head):
    s2, s3, p2, p3 = stats
    sd = mmpose_state(head)
    pth = tmp_path / "simple3Dbaseline_h36m.pth"
    torch.save({"meta": {"epoch": 200}, "state_dict": sd}, pth)
    lifter = load_lifter(import_mmpose(pth, p2, p3, tmp_path / "ckpt"))
    uv = np.random.default_rng(1).uniform(200, 800, (20, 17, 2))
    # MMPose: standardise raw pixels, run the network, de-standardise, put the root back at 0
    x = torch.as_tensor(((uv - s2["mean"]) / s2["std"]).reshape(20, 34), dtype=torch.float32)
    y = mmpose_forward(sd, x, head).double().numpy().reshape(20, 16, 3) * s3["std"] + s3["mean"]
    got = lifter.predict(uv)
    np.testing.assert_allclose(got[:, 1:], y, atol=1e-5)
    np.testing.assert_array_equal(got[:, 0], 0.0)
    assert lifter.meta["normalization"]["method"] == "mmpose_pixels"


def test_bad_mmpose_checkpoints_are_refused(tmp_path, stats):
    _, _, p2, p3 = stats
    sd = mmpose_state()
    del sd["backbone.tcn_blocks.1.conv2.0.bn.running_var"]
    with pytest.raises(ValueError, match="running_var"):
        convert_state_dict(sd)
    temporal = mmpose_state()
    temporal["backbone.tcn_blocks.0.conv1.0.conv.weight"] = torch.zeros(WIDTH, WIDTH, 3)
    with pytest.raises(ValueError, match="kernel sizes"):
        convert_state_dict(temporal)
    with pytest.raises(ValueError, match="missing"):
        convert_state_dict({"foo.weight": torch.zeros(3)})
    other = mmpose_state()
    other["backbone.expand_conv.conv.weight"] = torch.zeros(WIDTH, 26, 1)  # 13 joints
    with pytest.raises(ValueError, match="17 joints"):
        convert_state_dict(other)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read"):
        import_mmpose(garbage, p2, p3, tmp_path / "x")
    pth = tmp_path / "ok.pth"
    torch.save(mmpose_state(), pth)
    bad3 = tmp_path / "bad3.pkl"
    bad3.write_bytes(dumps_numpy_pickle({"mean": np.zeros((17, 3)), "std": np.ones((17, 3))}))
    with pytest.raises(ValueError, match=r"expected \(16, 3\)"):
        import_mmpose(pth, p2, bad3, tmp_path / "y")
    assert not (tmp_path / "y").exists()


def test_cli_import_mmpose(tmp_path, stats):
    _, _, p2, p3 = stats
    pth = tmp_path / "w.pth"
    torch.save(mmpose_state(), pth)
    cmd = [
        sys.executable,
        "-m",
        "posesynth.cli.main",
        "import-mmpose",
        str(pth),
        "--stats-2d",
        str(p2),
        "--stats-3d",
        str(p3),
        "--out",
        str(tmp_path / "ck"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "ck" / "model.safetensors").is_file()
    proc = subprocess.run(cmd[:-1] + [str(tmp_path / "ck")], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1
