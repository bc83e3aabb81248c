"""posesynth: synthetic 2D/3D human keypoints over the full range of motion."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("posesynth")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
