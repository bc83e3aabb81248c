"""PyTorch-facing API of posesynth: fresh synthetic lifter data as an ``IterableDataset``.

Example::

    from posesynth.torch import SyntheticPoses

    data = SyntheticPoses({"samples_per_epoch": 100_000, "workers": 2}, batch_size=64)
    for chunk in data.loader():          # StreamChunk(epoch, index, x (n, 34), y (n, 48))
        ...

See :mod:`posesynth.lift.stream` for the random streams, the determinism promise and how
the normalisation statistics are drawn. Needs the ``train`` extra (torch).

This module is ``posesynth.torch``; it does not shadow the real ``torch``: every module of
the package imports with absolute imports (``import torch`` is the real one, tested in
``tests/test_train_stream.py``).
"""

from __future__ import annotations

from posesynth.lift.stream import (
    AugmentStream,
    StreamChunk,
    StreamConfig,
    SyntheticPoses,
    chunk_seed,
    iter_batches,
    load_stream_config,
)

__all__ = [
    "AugmentStream",
    "StreamChunk",
    "StreamConfig",
    "SyntheticPoses",
    "chunk_seed",
    "iter_batches",
    "load_stream_config",
]
