"""The real multi-view benchmark (``posesynth benchmark real``); see :mod:`.benchmark`.

Score a new checkpoint in seconds once the pseudo ground truth is cached::

    from posesynth.apps.realbench import run_real_benchmark
    result = run_real_benchmark({"mine": "path/to/checkpoint", "rom": "rom"})
    result.score("mine", "blazepose_2d").overall.p_mpjpe_mm

The per-person data (:class:`PersonData`, ``result.data_path``) serve noise and keypoint-
definition studies: ``PersonData.load(path)``.
"""

from posesynth.apps.realbench.benchmark import (
    BenchmarkOptions,
    PreparedBenchmark,
    RealBenchmarkResult,
    prepare_real_benchmark,
    run_real_benchmark,
    save_benchmark_figure,
)
from posesynth.apps.realbench.pseudo_gt import PersonData, PseudoGtQuality
from posesynth.apps.realbench.score import ModelScore, Scores

__all__ = [
    "BenchmarkOptions",
    "ModelScore",
    "PersonData",
    "PreparedBenchmark",
    "PseudoGtQuality",
    "RealBenchmarkResult",
    "Scores",
    "prepare_real_benchmark",
    "run_real_benchmark",
    "save_benchmark_figure",
]
