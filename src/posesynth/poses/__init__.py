"""Poses: procedural sampling of whole-body poses, reposing operations, the motions YAML schema,
and extra keypoints derived from the kinematic chain.

Imports :mod:`posesynth.body`, :mod:`posesynth.geometry` and :mod:`posesynth.util`.
"""
