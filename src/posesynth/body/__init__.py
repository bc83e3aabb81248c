"""The body: skeleton layouts, mappings between keypoint layouts, anthropometry, kinematics,
anatomical angles, the range of motion and self-collision.

Imports :mod:`posesynth.geometry` and :mod:`posesynth.util`.
"""
