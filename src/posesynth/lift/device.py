"""Where a lifter trains: the device (``auto``, ``cpu``, ``cuda``, ``mps``) and its precision.

``auto`` picks CUDA, then Apple's MPS, then the CPU. Precision ``auto`` picks:

======  ==========================================================================
cuda    bf16 autocast where the GPU supports bf16 (Ampere and later), else fp16
        autocast with a gradient scaler
mps     fp32 (MPS autocast was not measured here)
cpu     fp32: bf16 autocast on the CPU is opt-in (``precision="bf16"``), since it was
        not faster at the lifter's default sizes on the machine it was measured on
        (``benchmarks/bench_train.py`` prints both; see ``docs/training.md``)
======  ==========================================================================

Under autocast the matrix products run in the low precision; the weights, the optimiser
state, BatchNorm statistics and the loss stay float32 (the loss is taken on float32 outputs).

Determinism: on the CPU (and MPS) :func:`posesynth.lift.train.training_mode` turns on
``torch.use_deterministic_algorithms``; on CUDA it does so only when the environment
variable ``CUBLAS_WORKSPACE_CONFIG`` is set (``:4096:8``), which cuBLAS needs for
reproducible matrix products; without it a CUDA run is not bit-reproducible, and the
checkpoint says so (``device.deterministic``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch

__all__ = ["DEVICES", "PRECISIONS", "DeviceName", "DevicePlan", "PrecisionName", "device_plan", "resolve_device"]

DeviceName = Literal["auto", "cpu", "cuda", "mps"]
PrecisionName = Literal["auto", "fp32", "bf16", "fp16"]
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: str) -> torch.device:
    """The torch device of ``device`` (``auto``: cuda, then mps, then cpu).

    Raises:
        ValueError: an unknown name, or a device this torch build cannot see.
    """
    if device not in DEVICES:
        raise ValueError(f"device: expected one of {list(DEVICES)}, got {device!r}")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device: 'cuda' was asked for, but torch {torch.__version__} sees no CUDA GPU "
                f"(built with CUDA {torch.version.cuda or 'none'}); use --device auto or cpu"
            )
        return torch.device("cuda", torch.cuda.current_device())
    if device == "mps" and not _mps_available():
        raise ValueError(
            f"device: 'mps' was asked for, but torch {torch.__version__} sees no Apple MPS device; use --device auto or cpu"
        )
    return torch.device(device)


@dataclass(frozen=True)
class DevicePlan:
    """The resolved device and precision of a training run.

    Attributes:
        device: where the model, its optimiser state and each batch live.
        precision: ``fp32``, ``bf16`` or ``fp16`` (the autocast dtype of the matrix products).
        requested: the device name asked for (``auto``...).
        name: a readable name (the GPU's, or ``cpu``/``mps``).
        deterministic: whether deterministic algorithms are on (see the module docstring).
    """

    device: torch.device
    precision: Literal["fp32", "bf16", "fp16"]
    requested: str = "cpu"
    name: str = "cpu"
    deterministic: bool = True

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The autocast dtype, or None for fp32."""
        return _DTYPES.get(self.precision)

    @property
    def grad_scaling(self) -> bool:
        """fp16 needs a gradient scaler (its range underflows small gradients); bf16 does not."""
        return self.precision == "fp16"

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Autocast to :attr:`autocast_dtype` on this device for the duration (nothing for fp32)."""
        if self.autocast_dtype is None:
            yield
            return
        with torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype):
            yield

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe record for the checkpoint's ``meta.json`` (``device``)."""
        return {
            "requested": self.requested,
            "type": self.device.type,
            "name": self.name,
            "precision": self.precision,
            "deterministic": self.deterministic,
            "torch_version": torch.__version__,
        }


def _resolve_precision(precision: str, device: torch.device) -> Literal["fp32", "bf16", "fp16"]:
    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {list(PRECISIONS)}, got {precision!r}")
    kind = device.type
    if precision == "auto":
        if kind == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"
    if precision == "fp16" and kind == "cpu":
        raise ValueError(
            "precision: 'fp16' is not offered on the CPU (slow and without a scaler there); use bf16 or fp32"
        )
    if precision == "bf16" and kind == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(
            f"precision: 'bf16' is not supported by {torch.cuda.get_device_name(device)}; use fp16 or fp32"
        )
    return precision  # type: ignore[return-value]


def device_plan(device: str = "auto", precision: str = "auto") -> DevicePlan:
    """Resolve ``device`` and ``precision`` (see the module docstring) into a :class:`DevicePlan`.

    Raises:
        ValueError: an unknown name, a device that is not there, or a precision the device
            does not offer (fp16 on the CPU, bf16 on a GPU without it).
    """
    dev = resolve_device(device)
    prec = _resolve_precision(precision, dev)
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
        deterministic = bool(os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    else:
        name, deterministic = dev.type, True
    return DevicePlan(device=dev, precision=prec, requested=device, name=name, deterministic=deterministic)
