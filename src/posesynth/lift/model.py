"""SimpleBaseline (Martinez et al., "A simple yet effective baseline for 3d human pose
estimation", ICCV 2017), laid out as in the paper and in MMPose (whose ``simplebaseline3d``
config is a ``TCN`` backbone with kernel sizes (1, 1, 1) plus a ``TemporalRegressionHead``:
the same layers written as 1 × 1 convolutions)::

    x (B, 34) ─ Linear(34, w) ─ BN ─ ReLU ─ Dropout
              ─ [ residual block: (Linear(w, w) ─ BN ─ ReLU ─ Dropout) × 2, + skip ] × blocks
              ─ Linear(w, 48) → (B, 48)

Input: 17 normalised 2D joints (:mod:`posesynth.lift.normalize`); output: 16 standardised
root-relative camera-frame 3D joints. Width ``w`` (1024 in the paper), ``blocks`` (2) and
dropout (0.5) are configurable. Weights use He (Kaiming normal) initialisation as in the
paper's code; biases start at 0.

**Max-norm** (the paper's ``--max_norm``; MMPose leaves it out; off by default here, on by
default in :class:`~posesynth.lift.train.TrainConfig`): with ``max_norm=1.0`` every
``Linear`` multiplies by its weight matrix clipped to Frobenius norm ``<= max_norm``,
``w · min(1, max_norm / ‖w‖)``, computed in the forward pass exactly like the paper's
``tf.clip_by_norm(w, 1)``, so gradients flow through the clip and the stored (raw) weights
keep their He-initialised scale. (Projecting the stored weights onto the
norm ball after each step instead would make every Adam step of 1e-3 huge relative to
weights of ~1e-3 and train much worse.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MaxNormLinear", "SimpleBaseline"]


#: Largest network SimpleBaseline builds (1 GiB of float32 weights; width 1024 with 2 blocks
#: has 4.2 M).
MAX_PARAMETERS = 1 << 28


class MaxNormLinear(nn.Linear):
    """``nn.Linear`` whose weight is used clipped to Frobenius norm ``<= max_norm`` (None: off).

    The parameters and state-dict keys are those of ``nn.Linear`` (the raw weight is stored).
    """

    def __init__(self, n_in: int, n_out: int, max_norm: float | None = None) -> None:
        super().__init__(n_in, n_out)
        self.max_norm = max_norm

    def effective_weight(self) -> torch.Tensor:
        """The weight the layer multiplies by: (n_out, n_in), clipped when ``max_norm`` is set."""
        if self.max_norm is None:
            return self.weight
        norm = torch.linalg.matrix_norm(self.weight)
        return self.weight * torch.clamp(self.max_norm / norm, max=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight(), self.bias)


def _layer(n_in: int, n_out: int, dropout: float, max_norm: float | None) -> list[nn.Module]:
    return [MaxNormLinear(n_in, n_out, max_norm), nn.BatchNorm1d(n_out), nn.ReLU(), nn.Dropout(dropout)]


class _Residual(nn.Module):
    """Two Linear-BN-ReLU-Dropout layers of width ``w`` with an identity skip."""

    def __init__(self, width: int, dropout: float, max_norm: float | None) -> None:
        super().__init__()
        self.layers = nn.Sequential(*_layer(width, width, dropout, max_norm), *_layer(width, width, dropout, max_norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class SimpleBaseline(nn.Module):
    """The SimpleBaseline lifter: (B, in_features) → (B, out_features); see the module docstring.

    Args:
        in_features: 2 × input joints (34 for Human3.6M-17).
        out_features: 3 × output joints (48: joints 1..16).
        width: hidden width (1024 in the paper).
        blocks: residual blocks (2 in the paper).
        dropout: dropout probability (0.5 in the paper).
        max_norm: clip every weight matrix to this Frobenius norm in the forward pass (the
            paper uses 1.0; None, the default, turns it off as MMPose does).
    """

    def __init__(
        self,
        in_features: int = 34,
        out_features: int = 48,
        width: int = 1024,
        blocks: int = 2,
        dropout: float = 0.5,
        max_norm: float | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features), ("width", width)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"SimpleBaseline.{name}: expected a positive integer, got {value!r}")
        if not isinstance(blocks, int) or blocks < 0:
            raise ValueError(f"SimpleBaseline.blocks: expected an integer >= 0, got {blocks!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"SimpleBaseline.dropout: expected a probability in [0, 1), got {dropout!r}")
        if max_norm is not None and not (isinstance(max_norm, (int, float)) and max_norm > 0):
            raise ValueError(f"SimpleBaseline.max_norm: expected a number > 0 or None, got {max_norm!r}")
        # checked before any allocation: a width from a flag or a checkpoint's meta.json of
        # 1e7 would ask torch for hundreds of TB (reliability audit F17)
        params = in_features * width + 2 * blocks * width * width + width * out_features
        if params > MAX_PARAMETERS:
            raise ValueError(
                f"SimpleBaseline: width {width} and {blocks} blocks make {params:.3g} parameters "
                f"(~{4 * params / 2**30:.3g} GiB of float32), more than the limit {MAX_PARAMETERS:.3g}"
            )
        max_norm = None if max_norm is None else float(max_norm)
        self.config = {
            "in_features": in_features, "out_features": out_features,
            "width": width, "blocks": blocks, "dropout": float(dropout), "max_norm": max_norm,
        }  # fmt: skip
        self.stem = nn.Sequential(*_layer(in_features, width, dropout, max_norm))
        self.blocks = nn.Sequential(*(_Residual(width, dropout, max_norm) for _ in range(blocks)))
        self.head = MaxNormLinear(width, out_features, max_norm)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight)
                nn.init.zeros_(m.bias)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SimpleBaseline:
        """A fresh model from :attr:`config` (``in_features``, ``out_features``, ``width``,
        ``blocks``, ``dropout``, optional ``max_norm``); ``ValueError`` naming a missing or
        unknown key."""
        keys = ("in_features", "out_features", "width", "blocks", "dropout")
        missing = [k for k in keys if k not in config]
        unknown = sorted(set(config) - {*keys, "max_norm"})
        if missing or unknown:
            raise ValueError(
                f"model config: expected keys {list(keys)} (+ max_norm), missing {missing}, unknown {unknown}"
            )
        return cls(**{k: config[k] for k in keys}, max_norm=config.get("max_norm"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_features) normalised 2D → (B, out_features) standardised 3D."""
        return self.head(self.blocks(self.stem(x)))
