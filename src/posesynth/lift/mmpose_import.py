"""Import MMPose's SimpleBaseline weights (``simple3Dbaseline_h36m-*.pth``) as a posesynth lifter.

MMPose builds SimpleBaseline as a ``TCN`` backbone with kernel sizes (1, 1, 1) plus a 1 × 1
convolution head: the same layers as :class:`posesynth.lift.model.SimpleBaseline`, written as
convolutions without bias (a BatchNorm follows each). State-dict keys (MMPose 1.x; checkpoints of
0.x name the head ``keypoint_head``)::

    backbone.expand_conv.conv.weight                 [w, 34, 1]  → stem.0.weight   (bias 0)
    backbone.expand_conv.bn.*                                    → stem.1.*
    backbone.tcn_blocks.{i}.conv1.0.conv.weight      [w, w, 1]   → blocks.{i}.layers.0.weight
    backbone.tcn_blocks.{i}.conv1.0.bn.*                         → blocks.{i}.layers.1.*
    backbone.tcn_blocks.{i}.conv2.0.conv.weight      [w, w, 1]   → blocks.{i}.layers.4.weight
    backbone.tcn_blocks.{i}.conv2.0.bn.*                         → blocks.{i}.layers.5.*
    head.conv.{weight [48, w, 1], bias [48]}                     → head.{weight, bias}

The codec statistics come from MMPose's ``joint2d_stats.pkl`` (``keypoints_mean``/``_std``,
(17, 2) px) and ``joint3d_rel_stats.pkl`` (``target_mean``/``_std``, (16, 3) m, root removed),
as its ``tools/dataset_converters/preprocess_h36m.py`` writes them (dicts with ``mean`` and
``std``), or as arrays. The imported checkpoint normalises its input the MMPose way
(``mmpose_pixels``: raw pixels standardised by those statistics), so it expects Human3.6M-like
cameras and images — the limitation CONVENTIONS.md describes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from posesynth.data.formats.numpy_pickle import load_numpy_pickle
from posesynth.lift.checkpoint import save_checkpoint
from posesynth.lift.model import SimpleBaseline
from posesynth.lift.normalize import MMPOSE_METHOD, NormStats

_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_HEADS = ("head.conv", "keypoint_head.conv")


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such checkpoint file") from None
    except Exception as exc:
        raise ValueError(f"{path}: cannot read as a PyTorch checkpoint ({type(exc).__name__}: {exc})") from None
    if isinstance(obj, Mapping) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a state dict of tensors (or a checkpoint holding 'state_dict')")
    return dict(obj)


def convert_state_dict(state: Mapping[str, torch.Tensor], source: str = "state dict") -> tuple[SimpleBaseline, dict]:
    """A :class:`SimpleBaseline` (eval mode) holding MMPose's weights, and its config.

    Raises:
        ValueError: missing keys (named), kernel sizes other than 1 (a temporal VideoPose3D
            model), shortcut convolutions, or shapes that do not fit 17 joints in, 16 out.
    """
    head = next((h for h in _HEADS if f"{h}.weight" in state), None)
    need = ["backbone.expand_conv.conv.weight", *(f"backbone.expand_conv.bn.{k}" for k in _BN[:4])]
    missing = [k for k in need if k not in state] + (
        [] if head else ["head.conv.weight (or keypoint_head.conv.weight)"]
    )
    if missing:
        raise ValueError(f"{source}: not an MMPose SimpleBaseline state dict; missing {missing}")
    stem_w = state["backbone.expand_conv.conv.weight"]
    if stem_w.ndim != 3 or stem_w.shape[1] != 34:
        raise ValueError(
            f"{source}: backbone.expand_conv.conv.weight has shape {tuple(stem_w.shape)}, expected (width, 34, 1) for 17 joints"
        )
    kernels = {k: v.shape[-1] for k, v in state.items() if k.endswith("conv.weight") and v.ndim == 3}
    if any(size != 1 for size in kernels.values()):
        raise ValueError(
            f"{source}: kernel sizes {sorted(set(kernels.values()))}; a SimpleBaseline has 1 (this is a temporal model)"
        )
    if any("short_cut" in k for k in state):
        raise ValueError(f"{source}: has shortcut convolutions; SimpleBaseline blocks have identity skips")
    blocks = sorted({int(m.group(1)) for k in state if (m := re.match(r"backbone\.tcn_blocks\.(\d+)\.", k))})
    width = stem_w.shape[0]
    head_w = state[f"{head}.weight"]
    if tuple(head_w.shape) != (48, width, 1):
        raise ValueError(
            f"{source}: {head}.weight has shape {tuple(head_w.shape)}, expected (48, {width}, 1) (16 joints × 3)"
        )
    model = SimpleBaseline(width=width, blocks=len(blocks), dropout=0.5)
    mapping = {
        "stem.0.weight": "backbone.expand_conv.conv.weight",
        "head.weight": f"{head}.weight",
        "head.bias": f"{head}.bias",
    }
    mapping.update({f"stem.1.{k}": f"backbone.expand_conv.bn.{k}" for k in _BN})
    for i in blocks:
        for conv, (lin, bn) in (("conv1", (0, 1)), ("conv2", (4, 5))):
            src = f"backbone.tcn_blocks.{i}.{conv}.0"
            mapping[f"blocks.{i}.layers.{lin}.weight"] = f"{src}.conv.weight"
            mapping.update({f"blocks.{i}.layers.{bn}.{k}": f"{src}.bn.{k}" for k in _BN})
    target = model.state_dict()
    absent = sorted(v for k, v in mapping.items() if v not in state and not k.endswith("num_batches_tracked"))
    if absent:
        raise ValueError(f"{source}: missing {absent[:6]}{'...' if len(absent) > 6 else ''}")
    new = {}
    for ours, theirs in mapping.items():
        if theirs not in state:  # num_batches_tracked is optional
            continue
        value = state[theirs]
        value = value[..., 0] if value.ndim == 3 else value
        if tuple(value.shape) != tuple(target[ours].shape):
            raise ValueError(
                f"{source}: {theirs} has shape {tuple(state[theirs].shape)}, expected {tuple(target[ours].shape)}"
            )
        new[ours] = value.to(target[ours].dtype)
    for k, v in target.items():  # conv layers have no bias: a BatchNorm follows each
        new.setdefault(k, torch.zeros_like(v))
    model.load_state_dict(new, strict=True)
    return model.eval(), model.config


def _stats(value: Any, shape: tuple[int, int], name: str) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) from a stats pickle path, a {'mean', 'std'} mapping or a (mean, std) pair."""
    source = name
    if isinstance(value, (str, Path)):
        source = str(value)
        value = load_numpy_pickle(value)
    if isinstance(value, Mapping):
        missing = [k for k in ("mean", "std") if k not in value]
        if missing:
            raise ValueError(f"{source}: missing {missing}; expected a dict with 'mean' and 'std'")
        mean, std = value["mean"], value["std"]
    else:
        mean, std = value
    mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    for label, arr in (("mean", mean), ("std", std)):
        if arr.shape != shape:
            raise ValueError(f"{source}: {label} has shape {arr.shape}, expected {shape}")
    return mean.reshape(-1), std.reshape(-1)


def import_mmpose(
    checkpoint: Path | str,
    stats_2d: Any,
    stats_3d: Any,
    out: Path | str,
    *,
    overwrite: bool = False,
) -> Path:
    """Write posesynth checkpoint folder ``out`` from an MMPose SimpleBaseline ``.pth``.

    ``stats_2d`` / ``stats_3d``: MMPose's ``joint2d_stats.pkl`` / ``joint3d_rel_stats.pkl``
    paths, ``{'mean', 'std'}`` mappings or ``(mean, std)`` pairs of shape (17, 2) px and
    (16, 3) m. Returns ``out``.
    """
    from posesynth.lift.checkpoint import check_out

    checkpoint = Path(checkpoint)
    out = check_out(out, overwrite)
    model, config = convert_state_dict(_load_state_dict(checkpoint), str(checkpoint))
    in_mean, in_std = _stats(stats_2d, (17, 2), "stats_2d")
    t_mean, t_std = _stats(stats_3d, (16, 3), "stats_3d")
    stats = NormStats(in_mean, in_std, t_mean, t_std, method=MMPOSE_METHOD)
    meta = {"imported_from": {"format": "mmpose", "checkpoint": str(checkpoint), "model": config}}
    return save_checkpoint(out, model, stats, meta)
