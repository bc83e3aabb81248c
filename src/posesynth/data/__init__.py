"""Data: :class:`~posesynth.data.dataset.PoseDataset` (the one currency between stages), the
sharded store and the file formats posesynth reads and writes.

Imports :mod:`posesynth.body`, :mod:`posesynth.geometry` and :mod:`posesynth.util`.
"""
