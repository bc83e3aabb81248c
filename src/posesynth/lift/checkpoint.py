"""Lifter checkpoints: a folder, written whole or not at all.

Layout of a checkpoint folder ``CKPT/``::

    model.safetensors   the SimpleBaseline's parameters and BatchNorm buffers (float32)
    meta.json           everything else needed to use it and to know where it came from
    train_state.pt      optimiser, schedule and epoch counters, for ``posesynth train --resume``
                        (not needed to predict; may be deleted from a shipped checkpoint)

``meta.json`` holds: ``format`` (``"posesynth-lifter"``), ``format_version``,
``architecture``, ``model`` (``in_features``, ``out_features``, ``width``, ``blocks``,
``dropout``), ``skeleton`` (:meth:`Skeleton.to_dict`), ``normalization``
(:meth:`NormStats.to_dict`: the method, its description and the statistics), ``input`` /
``output`` (joints, units, frames), ``train_config``, ``data`` (provenance of the training
set), ``epochs_done``, ``history`` (per epoch), ``metrics`` (at the end of the last epoch),
``version`` (posesynth) and ``torch_version``.

:func:`load_lifter` reads one into a :class:`Lifter`, whose :meth:`Lifter.predict` maps 2D
pixels of any camera to root-relative 3D in metres.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from posesynth import __version__
from posesynth.body.skeleton import H36M17, Skeleton
from posesynth.lift import shipped as _shipped
from posesynth.lift.data import check_joints_2d
from posesynth.lift.model import SimpleBaseline
from posesynth.lift.normalize import MMPOSE_METHOD, NormStats, normalise_inputs
from posesynth.util.atomic import atomic_path
from posesynth.util.jsonable import to_jsonable

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Lifter",
    "load_checkpoint",
    "load_lifter",
    "load_train_state",
    "read_meta",
    "save_checkpoint",
]

FORMAT = "posesynth-lifter"
FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
META_FILE = "meta.json"
STATE_FILE = "train_state.pt"
REQUIRED_META = ("format", "format_version", "model", "skeleton", "normalization")


def _is_checkpoint_dir(path: Path) -> bool:
    return _shipped.is_checkpoint_dir(path)


def check_out(path: Path | str, overwrite: bool) -> Path:
    """``path`` as the folder a new checkpoint may be written to; ``ValueError`` if it exists
    (and not ``overwrite``), is a file, or is a folder holding something else than a checkpoint."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise ValueError(f"{path}: already exists; pass --overwrite to replace it or --resume to continue it")
        if not path.is_dir() or (any(path.iterdir()) and not _is_checkpoint_dir(path)):
            raise ValueError(f"{path}: refusing to replace something that is not a lifter checkpoint folder")
    if not path.parent.is_dir():
        raise ValueError(f"{path}: the folder {path.parent} does not exist")
    return path


def save_checkpoint(
    path: Path | str,
    model: SimpleBaseline,
    stats: NormStats,
    meta: Mapping[str, Any],
    train_state: Mapping[str, Any] | None = None,
    *,
    half: bool = False,
) -> Path:
    """Write the checkpoint folder ``path`` atomically, replacing an existing checkpoint there.

    ``half`` stores the floating-point tensors as float16 (for the shipped checkpoints).

    ``meta`` (training config, data provenance, history, metrics...) is added to the keys this
    function writes itself (format, model config, skeleton, normalisation, versions), which
    ``meta`` cannot override. Returns ``path``.
    """
    from safetensors.torch import save_file

    path = Path(path)
    structural = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": "SimpleBaseline",
        "model": dict(model.config),
        "skeleton": H36M17.to_dict(),
        "normalization": stats.to_dict(),
        "input": {"joints": 17, "unit": "px", "layout": "h36m17", "any_camera": True},
        "output": {"joints": 17, "unit": "m", "frame": "camera (OpenCV), root-relative; root row 0"},
        "version": __version__,
        "torch_version": torch.__version__,
    }
    doc = {**structural, **{k: v for k, v in meta.items() if k not in structural}}
    text = json.dumps(to_jsonable(doc), indent=2, allow_nan=False)  # NaN (a diverged loss) -> null
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:  # floating tensors to float16 (halves the file); loading casts them back
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    with atomic_path(path, overwrite=True) as tmp:
        tmp.mkdir()
        save_file(tensors, str(tmp / MODEL_FILE), metadata={"format": "pt", "posesynth": FORMAT})
        (tmp / META_FILE).write_text(text + "\n")
        if train_state is not None:
            torch.save(dict(train_state), tmp / STATE_FILE)
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    return path


#: Checkpoints shipped inside the package, usable by name wherever a checkpoint path goes.
SHIPPED = _shipped.SHIPPED


def shipped_dir() -> Path:
    """The package folder holding the shipped checkpoints (``everyday/``, ``rom/``)."""
    return _shipped.default_shipped_dir()


def resolve_checkpoint(spec: Path | str) -> Path:
    """The checkpoint folder ``spec`` names: ``shipped:<name>`` is always the shipped one; a
    bare ``everyday`` / ``rom`` is a local folder of that name only when it is a lifter
    checkpoint, else the shipped one; anything else is a path
    (:func:`posesynth.lift.shipped.resolve_checkpoint`).

    Raises:
        ValueError: an unknown ``shipped:`` name, or a shipped checkpoint this installation lacks.
    """
    return _shipped.resolve_checkpoint(spec, shipped_dir())


def export_shipped(source: Path | str, name: str, provenance: Mapping[str, Any] | None = None) -> Path:
    """Copy checkpoint ``source`` into the package as shipped checkpoint ``name``, float16,
    without its training state; ``provenance`` (how it was made) goes into its meta.
    Returns the new folder."""
    if name not in SHIPPED:
        raise ValueError(f"name: expected one of {list(SHIPPED)}, got {name!r}")
    model, stats, meta = load_checkpoint(source)
    shipped_dir().mkdir(exist_ok=True)
    meta = {**meta, "shipped_as": name, "stored_dtype": "float16", "provenance": dict(provenance or {})}
    folder = save_checkpoint(shipped_dir() / name, model, stats, meta, half=True)
    for f in folder.iterdir():  # package data: readable by everyone
        f.chmod(0o644)
    return folder


def read_meta(path: Path | str) -> dict[str, Any]:
    """The validated ``meta.json`` of checkpoint folder ``path``.

    Raises:
        ValueError: no such folder or file, not JSON, another format or version, missing keys,
            or a skeleton other than Human3.6M-17.
    """
    path = Path(path)
    if not path.is_dir():
        what = "a file" if path.exists() else "no such folder"
        raise ValueError(f"{path}: expected a lifter checkpoint folder (with {META_FILE} and {MODEL_FILE}), got {what}")
    meta_path = path / META_FILE
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{meta_path}: missing; {path} is not a lifter checkpoint") from None
    except OSError as exc:
        raise ValueError(f"{meta_path}: cannot read ({exc.strerror})") from None
    except ValueError as exc:
        raise ValueError(f"{meta_path}: not valid JSON ({exc})") from None
    except RecursionError:  # '[' * 200000 (reliability audit F13)
        raise ValueError(f"{meta_path}: not a checkpoint's meta (JSON nested too deeply)") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise ValueError(f"{meta_path}: missing key(s) {missing}; expected all of {list(REQUIRED_META)}")
    if meta["format"] != FORMAT:
        raise ValueError(f"{meta_path}: format {meta['format']!r}, expected {FORMAT!r}")
    if meta["format_version"] != FORMAT_VERSION:
        raise ValueError(
            f"{meta_path}: format_version {meta['format_version']!r}, this posesynth reads {FORMAT_VERSION}"
        )
    try:
        skeleton = Skeleton.from_dict(meta["skeleton"])
    except ValueError as exc:
        raise ValueError(f"{meta_path}: skeleton: {exc}") from None
    if skeleton != H36M17:
        raise ValueError(
            f"{meta_path}: checkpoint for skeleton {skeleton.name!r} ({skeleton.num_joints} joints); "
            "this lifter supports only 'h36m17'"
        )
    return meta


def load_checkpoint(path: Path | str) -> tuple[SimpleBaseline, NormStats, dict[str, Any]]:
    """Model (eval mode, CPU), normalisation statistics and meta of checkpoint folder ``path``.

    Raises:
        ValueError: see :func:`read_meta`; also a missing or unreadable ``model.safetensors``,
            or tensors missing, unexpected or of the wrong shape for the model ``meta`` names.
    """
    from safetensors.torch import load_file

    path = Path(path)
    meta = read_meta(path)
    try:
        stats = NormStats.from_dict(meta["normalization"])
        model = SimpleBaseline.from_config(meta["model"])
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path / META_FILE}: {exc}") from None
    weights = path / MODEL_FILE
    if not weights.is_file():
        raise ValueError(f"{weights}: missing; the checkpoint has no weights")
    try:
        tensors = load_file(str(weights))
    except Exception as exc:
        raise ValueError(f"{weights}: cannot read the weights ({type(exc).__name__}: {exc})") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{weights}: tensors do not match the model in {META_FILE} "
            f"(width {model.config['width']}, blocks {model.config['blocks']}): "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    for k, v in expected.items():
        if tuple(tensors[k].shape) != tuple(v.shape):
            raise ValueError(f"{weights}: tensor {k!r} has shape {tuple(tensors[k].shape)}, expected {tuple(v.shape)}")
    model.load_state_dict(tensors, strict=True)
    model.eval()
    return model, stats, meta


def load_train_state(path: Path | str) -> dict[str, Any]:
    """The ``train_state.pt`` of checkpoint folder ``path`` (``ValueError`` if missing)."""
    state_path = Path(path) / STATE_FILE
    if not state_path.is_file():
        raise ValueError(f"{state_path}: missing; the checkpoint cannot be resumed (no training state)")
    try:
        return torch.load(state_path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{state_path}: cannot read ({type(exc).__name__}: {exc})") from None


@dataclass(eq=False)
class Lifter:
    """A trained lifter: 2D keypoints in pixels (any camera) → root-relative 3D in metres.

    Attributes:
        model: the network, in eval mode.
        stats: its input/target normalisation statistics.
        meta: the checkpoint's ``meta.json``.
        path: where it was loaded from (None if built in memory).
    """

    model: SimpleBaseline
    stats: NormStats
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def skeleton(self) -> Skeleton:
        """The Human3.6M-17 skeleton of the inputs and outputs."""
        return H36M17

    @torch.no_grad()
    def predict(
        self, joints_2d: np.ndarray, batch_size: int = 65536, layout: str = "h36m17", *, flip: bool | None = None
    ) -> np.ndarray:
        """3D poses of 2D keypoints.

        Args:
            joints_2d: (N, J, 2) pixels in ``layout`` (a single (J, 2) pose is also
                accepted). Position and scale in the image do not matter.
            batch_size: poses per forward pass.
            layout: the 2D layout: ``h36m17`` (default), ``coco17``, ``body25`` or
                ``mediapipe33``; others are mapped to Human3.6M-17 first
                (:func:`posesynth.data.formats.detections.to_h36m17`, docs/keypoints.md).
            flip: test-time flip augmentation (as VideoPose3D's and MMPose's flip test): also
                lift the pose mirrored about its root's vertical image line, with left and
                right swapped, mirror that prediction back (camera x → −x, sides swapped)
                and return the mean of both. The mirror of a pose is as plausible as the
                pose, so averaging halves what the network learnt one-sidedly; on the real
                benchmark it lowers P-MPJPE by 2–3 mm (docs/real-people.md). ``None`` (default):
                on for posesynth's own lifters, off for imported MMPose ones (method
                ``mmpose_pixels``), which reproduce MMPose's forward pass exactly.

        Returns:
            (N, 17, 3) float64, metres, camera frame (OpenCV axes), root-relative: row 0 is 0.

        Raises:
            ValueError: another shape, NaN/inf, or a pose with every joint on one point.
        """
        arr = np.asarray(joints_2d)
        if layout != "h36m17":
            from posesynth.data.formats.detections import to_h36m17

            arr = to_h36m17(arr, layout)[0]
        single = arr.ndim == 2
        uv = check_joints_2d(arr[None] if single else arr)
        out = self._lift(uv, batch_size)
        if flip is None:
            flip = self.stats.method != MMPOSE_METHOD
        if flip:
            swap = H36M17.flip_permutation
            mirrored = uv[:, swap].copy()
            # about the root's own vertical line, so the pose keeps its place in the image
            mirrored[..., 0] = 2.0 * uv[:, :1, 0] - mirrored[..., 0]
            back = self._lift(mirrored, batch_size)[:, swap]
            back[..., 0] *= -1.0
            out = 0.5 * (out + back)
        return out[0] if single else out

    def _lift(self, uv: np.ndarray, batch_size: int) -> np.ndarray:
        """The network alone: ``(N, 17, 2)`` px → ``(N, 17, 3)`` m, root row 0."""
        t = self.stats.tensors()
        self.model.eval()
        out = np.zeros((len(uv), 17, 3))
        for start in range(0, len(uv), batch_size):
            batch = torch.as_tensor(uv[start : start + batch_size], dtype=torch.float32)
            x = normalise_inputs(batch, t["input_mean"], t["input_std"], self.stats.method)
            y = self.model(x) * t["target_std"] + t["target_mean"]
            out[start : start + batch_size, 1:] = y.reshape(-1, 16, 3).double().numpy()
        return out


def load_lifter(path: Path | str) -> Lifter:
    """The :class:`Lifter` stored in checkpoint folder ``path``, or a shipped one by name
    (``everyday``, ``rom``, ``shipped:rom``; see :func:`resolve_checkpoint`).

    Raises:
        ValueError: ``path`` is no checkpoint, misses keys or tensors, or is for another skeleton.
    """
    path = resolve_checkpoint(path)
    model, stats, meta = load_checkpoint(path)
    return Lifter(model=model, stats=stats, meta=meta, path=path)
