"""posesynth: synthetic 2D/3D human keypoints over the full range of motion.

The front door (see :mod:`posesynth.api`)::

    import posesynth as ps
    ds = ps.generate(samples=10_000, seed=0)
    aug = ps.augment(ds, motions="seed-knee", cameras=ps.CameraConfig(model="fisheye", count=2))
    ps.write(aug, "mm", format="mmpose")
    lifter = ps.load_lifter("rom")
    ps.evaluate(lifter, ps.read("mm"))

Names load their module on first use, so ``import posesynth`` stays light: torch, Dask,
plotly and LiteRT are imported only by the functions that need them.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("posesynth")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
    from posesynth.api import augment as augment
    from posesynth.api import evaluate as evaluate
    from posesynth.api import generate as generate
    from posesynth.api import info as info
    from posesynth.api import load_lifter as load_lifter
    from posesynth.api import read as read
    from posesynth.api import write as write
    from posesynth.body.angles import pose_angles as pose_angles
    from posesynth.body.skeleton import get_skeleton as get_skeleton
    from posesynth.data.dataset import PoseDataset as PoseDataset
    from posesynth.geometry.camera import Camera as Camera
    from posesynth.geometry.camera import orbit as orbit
    from posesynth.jobs.camera_config import CamerasConfig as CameraConfig  # noqa: F401 (re-exported)
    from posesynth.jobs.generate import GenerateConfig as GenerateConfig
    from posesynth.poses.keypoints import add_extra_keypoints as add_extra_keypoints
    from posesynth.poses.motion_spec import MotionsConfig as MotionsConfig
    from posesynth.poses.repose import set_angles as set_angles

#: Public name -> (module, attribute), imported on first access.
_LAZY = {
    "generate": ("posesynth.api", "generate"),
    "augment": ("posesynth.api", "augment"),
    "read": ("posesynth.api", "read"),
    "write": ("posesynth.api", "write"),
    "info": ("posesynth.api", "info"),
    "load_lifter": ("posesynth.api", "load_lifter"),
    "evaluate": ("posesynth.api", "evaluate"),
    "PoseDataset": ("posesynth.data.dataset", "PoseDataset"),
    # the augment camera config (count, rig) is a superset of generate's camera section
    "CameraConfig": ("posesynth.jobs.camera_config", "CamerasConfig"),
    "GenerateConfig": ("posesynth.jobs.generate", "GenerateConfig"),
    "MotionsConfig": ("posesynth.poses.motion_spec", "MotionsConfig"),
    # poses, skeletons and cameras, for notebooks
    "get_skeleton": ("posesynth.body.skeleton", "get_skeleton"),
    "pose_angles": ("posesynth.body.angles", "pose_angles"),
    "set_angles": ("posesynth.poses.repose", "set_angles"),
    "add_extra_keypoints": ("posesynth.poses.keypoints", "add_extra_keypoints"),
    "Camera": ("posesynth.geometry.camera", "Camera"),
    "orbit": ("posesynth.geometry.camera", "orbit"),
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'posesynth' has no attribute {name!r}")
    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
