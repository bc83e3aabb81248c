"""The checkpoints shipped inside the package, by name, without importing torch.

Wherever a checkpoint path is expected, ``everyday`` (model A) and ``rom`` (model B) name the
shipped checkpoints. The rule that keeps the name unambiguous (:func:`resolve_checkpoint`):

- ``shipped:rom`` always means the shipped one;
- a bare ``rom`` means a local folder ``./rom`` **only when that folder is a lifter
  checkpoint** (its ``meta.json`` says ``"format": "posesynth-lifter"``); any other file or
  folder of that name (a data set, an output folder) never shadows the shipped one;
- any other spec is a path.

:func:`shipped_models` lists them with their provenance and benchmark figures, read from their
``meta.json`` (``posesynth models``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PREFIX", "SHIPPED", "ShippedModel", "is_checkpoint_dir", "resolve_checkpoint", "shipped_models"]

#: Checkpoints shipped inside the package, usable by name wherever a checkpoint path goes.
SHIPPED = ("everyday", "rom")
#: Prefix naming a shipped checkpoint explicitly (``shipped:rom``).
PREFIX = "shipped:"
_FORMAT = "posesynth-lifter"
_META = "meta.json"
_WEIGHTS = "model.safetensors"


def default_shipped_dir() -> Path:
    """The package folder holding the shipped checkpoints (``everyday/``, ``rom/``)."""
    return Path(__file__).resolve().parent / "checkpoints"


def is_checkpoint_dir(path: Path) -> bool:
    """Whether ``path`` is a folder whose ``meta.json`` names the lifter checkpoint format."""
    try:
        return json.loads((Path(path) / _META).read_text()).get("format") == _FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def resolve_checkpoint(spec: Path | str, folder: Path | None = None) -> Path:
    """The checkpoint folder ``spec`` names (see the module docstring for the rule).

    Args:
        spec: a path, a shipped name (``everyday``, ``rom``) or ``shipped:<name>``.
        folder: where the shipped checkpoints are (default: inside the package).

    Raises:
        ValueError: ``shipped:<name>`` with an unknown name, or a shipped checkpoint that
            this installation lacks.
    """
    text = str(spec)
    folder = default_shipped_dir() if folder is None else Path(folder)
    if text.startswith(PREFIX):
        name = text[len(PREFIX) :]
        if name not in SHIPPED:
            raise ValueError(f"{text}: expected one of {[PREFIX + s for s in SHIPPED]}")
    elif text in SHIPPED and not is_checkpoint_dir(Path(text)):
        name = text  # a shipped name never loses to a folder that is not a checkpoint
    else:
        return Path(spec)
    shipped = folder / name
    if not (shipped / _WEIGHTS).is_file():
        raise ValueError(f"shipped checkpoint {name!r} is not in this installation ({shipped} has no weights)")
    return shipped


@dataclass(frozen=True)
class ShippedModel:
    """One shipped checkpoint as ``posesynth models`` shows it.

    Attributes:
        name: ``everyday`` or ``rom`` (``shipped:<name>`` names it explicitly).
        path: its folder.
        role: what it is (from its provenance).
        made_by: the command that made it.
        version: the posesynth version that trained it; ``torch_version`` likewise.
        stored_dtype: the dtype of its stored weights.
        train_samples: samples it was trained on; ``epochs``: epochs done.
        config: the experiment's configuration (samples, epochs, width, motions, seed...).
        validation: its validation metrics at the last epoch (mm, PCK, AUC).
        benchmark: the experiment's test-set table (test set -> metric -> model -> value).
    """

    name: str
    path: Path
    role: str | None
    made_by: str | None
    version: str | None
    torch_version: str | None
    stored_dtype: str | None
    train_samples: int | None
    epochs: int | None
    config: Mapping[str, Any] = field(default_factory=dict)
    validation: Mapping[str, Any] = field(default_factory=dict)
    benchmark: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (``path`` as text)."""
        return {
            "name": self.name,
            "path": str(self.path),
            "role": self.role,
            "made_by": self.made_by,
            "version": self.version,
            "torch_version": self.torch_version,
            "stored_dtype": self.stored_dtype,
            "train_samples": self.train_samples,
            "epochs": self.epochs,
            "config": dict(self.config),
            "validation": dict(self.validation),
            "benchmark": dict(self.benchmark),
        }


_VALIDATION_KEYS = ("samples", "mpjpe_mm", "p_mpjpe_mm", "n_mpjpe_mm", "pck3d_150", "auc", "bone_length_error_mm")


def shipped_models(folder: Path | None = None) -> list[ShippedModel]:
    """The shipped checkpoints present in this installation, from their ``meta.json``.

    Raises:
        ValueError: a shipped ``meta.json`` that is not a JSON object (naming the file).
    """
    folder = default_shipped_dir() if folder is None else Path(folder)
    out = []
    for name in SHIPPED:
        meta_path = folder / name / _META
        if not meta_path.is_file():
            continue
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{meta_path}: cannot read ({exc})") from None
        if not isinstance(meta, dict):
            raise ValueError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
        prov: dict[str, Any] = p if isinstance(p := meta.get("provenance"), dict) else {}
        metrics: dict[str, Any] = m if isinstance(m := meta.get("metrics"), dict) else {}
        val: dict[str, Any] = v if isinstance(v := metrics.get("validation"), dict) else {}
        data: dict[str, Any] = d if isinstance(d := meta.get("data"), dict) else {}
        split: dict[str, Any] = s if isinstance(s := data.get("split"), dict) else {}
        out.append(
            ShippedModel(
                name=name,
                path=folder / name,
                role=prov.get("role"),
                made_by=prov.get("made_by"),
                version=meta.get("version"),
                torch_version=meta.get("torch_version"),
                stored_dtype=meta.get("stored_dtype"),
                train_samples=split.get("train"),
                epochs=meta.get("epochs_done"),
                config=prov.get("experiment_config") or {},
                validation={k: val[k] for k in _VALIDATION_KEYS if k in val},
                benchmark=prov.get("table") or {},
            )
        )
    return out
