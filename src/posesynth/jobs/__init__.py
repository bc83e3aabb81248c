"""Jobs: executors (in-process, local processes, Dask), sharded resumable runs, and the two
data-making jobs, ``generate`` and ``augment``.

Imports every layer above (data, poses, body, geometry, util) and :mod:`posesynth.viz`.
"""
