"""Readers and writers of the data formats posesynth's users hold (one module per format).

Every reader returns a :class:`posesynth.data.dataset.PoseDataset` in the package's units and
frames; every writer takes one and writes atomically (:func:`posesynth.util.atomic.atomic_path`).
"""
