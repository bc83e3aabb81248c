"""2D → 3D lifting: a SimpleBaseline lifter, its training, checkpoints and metrics.

Needs the ``train`` extra (``pip install 'posesynth[train]'``: torch and safetensors), except
:mod:`posesynth.lift.metrics`, which is NumPy only. Importing this package does not import
torch; the names below load their module on first use, so ``import posesynth.lift.metrics``
works without torch and ``from posesynth.lift import load_lifter`` says clearly when torch
is missing. (Functions are named ``train_lifter`` / ``evaluate_lifter``, not after their
modules, so importing a submodule never shadows them.)

Modules (one job each):

=============  ===========================================================================
model          :class:`SimpleBaseline` (Martinez et al. 2017, as MMPose defines it)
normalize      image-size- and position-independent 2D input normalisation, target scaling
noise          2D noise models applied to training inputs on the fly (:class:`NoiseConfig`)
data           a :class:`~posesynth.data.dataset.PoseDataset` → lifter arrays (2D px, 3D metres)
train          :func:`train_lifter` (:class:`TrainConfig`), the batched training loop
checkpoint     checkpoint folders: ``model.safetensors`` + ``meta.json`` (+ ``train_state.pt``),
               :func:`load_lifter` → :class:`Lifter`
metrics        MPJPE, P-MPJPE, N-MPJPE, PCK3D, AUC, bone-length error (NumPy)
evaluate       :func:`evaluate_lifter` on a data set, the knee-flexion figure
=============  ===========================================================================
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and the API reference (pdoc) resolve the lazy names to
    from posesynth.lift.checkpoint import Lifter as Lifter
    from posesynth.lift.checkpoint import load_lifter as load_lifter
    from posesynth.lift.evaluate import evaluate_lifter as evaluate_lifter
    from posesynth.lift.evaluate import evaluate_path as evaluate_path
    from posesynth.lift.evaluate import save_knee_figure as save_knee_figure
    from posesynth.lift.model import SimpleBaseline as SimpleBaseline
    from posesynth.lift.noise import NoiseConfig as NoiseConfig
    from posesynth.lift.train import TrainConfig as TrainConfig
    from posesynth.lift.train import train_lifter as train_lifter

__all__ = [
    "Lifter",
    "NoiseConfig",
    "SimpleBaseline",
    "TrainConfig",
    "evaluate_lifter",
    "evaluate_path",
    "load_lifter",
    "require_torch",
    "save_knee_figure",
    "train_lifter",
]

#: Public name -> the submodule defining it (imported on first access).
_LAZY = {
    "Lifter": "checkpoint",
    "load_lifter": "checkpoint",
    "NoiseConfig": "noise",
    "SimpleBaseline": "model",
    "TrainConfig": "train",
    "train_lifter": "train",
    "evaluate_lifter": "evaluate",
    "evaluate_path": "evaluate",
    "save_knee_figure": "evaluate",
}

_EXTRA_HINT = "pip install 'posesynth[train]'"


def require_torch() -> None:
    """Raise ``ValueError`` with an install hint unless torch and safetensors can be imported."""
    for module in ("torch", "safetensors"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            raise ValueError(
                f"the lifter needs the 'train' extra (module {module!r} is missing): {_EXTRA_HINT}"
            ) from None


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'posesynth.lift' has no attribute {name!r}")
    require_torch()
    value = getattr(importlib.import_module(f"posesynth.lift.{module}"), name)
    globals()[name] = value  # later lookups skip __getattr__ (and pdoc finds it)
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
