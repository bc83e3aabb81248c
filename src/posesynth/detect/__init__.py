"""2D person detection: MediaPipe BlazePose on LiteRT (:mod:`posesynth.detect.blazepose`).

Needs the ``demo`` extra (``ai-edge-litert``), imported when a detector is built.
"""

from __future__ import annotations

from posesynth.detect.blazepose import (
    BlazePose,
    PoseResult,
    load_blazepose,
    model_paths,
)

__all__ = ["BlazePose", "PoseResult", "load_blazepose", "model_paths"]
