"""Geometry: rotations (XYZW quaternions), camera models and extrinsics, camera placement.

Pure, batched functions over ``(..., 3)`` / ``(..., 4)`` arrays; knows nothing of bodies.
Imports only :mod:`posesynth.util`.
"""
