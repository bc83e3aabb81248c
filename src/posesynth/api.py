"""The front door: posesynth's Python API, one function per stage, ``PoseDataset`` in and out.

::

    import posesynth as ps
    ds = ps.generate(samples=10_000, seed=0)                     # PoseDataset, in memory
    ps.generate(samples=10_000_000, seed=0, out="big", executor="dask-local:2")  # on disk
    aug = ps.augment(ds, motions="seed-knee", cameras=ps.CameraConfig(model="fisheye", count=2))
    ps.write(aug, "mm", format="mmpose")
    back = ps.read("mm")                                         # any format posesynth reads
    ps.info(back)                                                # what `posesynth info` prints
    lifter = ps.load_lifter("rom")       # lifter.predict((N, 17, 2) px) -> (N, 17, 3) m
    ps.evaluate(lifter, back)                                    # the metrics document

Every command of the command line is a thin layer over these functions (or the modules they
call). Heavy dependencies load only when used: torch with the lifter, Dask with a Dask
executor, plotly with the viewer, LiteRT with the detector.

Units and frames everywhere: metres, world Z up, OpenCV camera frame, pixels with (0, 0) at
the centre of the top-left pixel (``docs/CONVENTIONS.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from posesynth.data.dataset import PoseDataset
    from posesynth.data.report import InfoReport
    from posesynth.jobs.augment_store import AugmentJobSummary
    from posesynth.jobs.camera_config import CameraConfig, CamerasConfig
    from posesynth.jobs.executors import Executor
    from posesynth.jobs.generate import GenerateConfig, GenerateSummary
    from posesynth.lift.checkpoint import Lifter
    from posesynth.lift.evaluate import Evaluation
    from posesynth.poses.motion_spec import MotionsConfig

__all__ = ["augment", "evaluate", "generate", "info", "load_lifter", "read", "write"]


def generate(
    samples: int | None = None,
    seed: int | None = None,
    *,
    config: GenerateConfig | Mapping[str, Any] | Path | str | None = None,
    camera: CameraConfig | Mapping[str, Any] | str | None = None,
    out: Path | str | None = None,
    executor: Executor | str | None = None,
    overwrite: bool = False,
    preview: bool = True,
    progress: Callable[[int], None] | None = None,
    **overrides: Any,
) -> PoseDataset | GenerateSummary:
    """A procedural data set: bodies, whole-body poses within the range of motion, cameras, 2D.

    Args:
        samples, seed: override the config's ``samples`` / ``seed``.
        config: a :class:`~posesynth.jobs.generate.GenerateConfig`, a mapping of its fields,
            or a YAML file; default the built-in defaults.
        camera: the camera part of the config: a camera model name (``"fisheye"``), a
            :class:`~posesynth.jobs.camera_config.CameraConfig` or a mapping of its fields.
        out: a folder: the data set is written there as a sharded posesynth store
            (resumable; ``executor`` chooses where shards run) and the summary is returned.
            ``None``: the data set is returned in memory.
        executor: ``"processes:N"``, ``"dask-local:N"``, ``"tcp://HOST:PORT"`` or an executor
            (see :func:`posesynth.jobs.executors.executor_from_spec`); only with ``out``.
        overwrite, preview, progress: as ``posesynth generate`` (only with ``out``).
        overrides: any other :class:`GenerateConfig` field (``activities=...``, ``dtype=...``).

    Returns:
        The :class:`PoseDataset` (``out=None``: world and camera 3D in metres, 2D in pixels,
        one camera per sample; ``extra`` holds ``angles`` (N, A) rad, ``activity``, ``height``),
        or the :class:`~posesynth.jobs.generate.GenerateSummary` of the written store (``out``
        given; its ``to_dict()`` is what ``generate --json`` prints).
        The same seed gives the same values either way.
    """
    from posesynth.jobs import generate as job
    from posesynth.jobs.camera_config import CameraConfig
    from posesynth.jobs.executors import executor_from_spec

    fields: dict[str, Any] = {}
    path: Path | str | None = None
    if isinstance(config, (str, Path)):
        path = config
    elif isinstance(config, job.GenerateConfig):
        fields = config.model_dump()
    elif config is not None:
        fields = dict(config)
    if isinstance(camera, str):
        overrides["camera_model"] = camera
    elif isinstance(camera, CameraConfig):
        fields["camera"] = camera.model_dump(include=set(CameraConfig.model_fields))
    elif camera is not None:
        fields["camera"] = dict(camera)
    cfg = job.load_config(path, **{**fields, "samples": samples, "seed": seed, **overrides})
    if out is None:
        if executor is not None:
            raise ValueError("executor: only used when writing to out=; in memory the job runs here")
        return job.generate_dataset(cfg)
    with executor_from_spec(executor) as ex:
        return job.generate(cfg, out, overwrite=overwrite, progress=progress, preview=preview, executor=ex)


def augment(
    data: PoseDataset | Path | str,
    motions: MotionsConfig | Path | str = "full-rom",
    cameras: CamerasConfig | Mapping[str, Any] | Path | str | None = None,
    *,
    seed: int = 0,
    shard_size: int | None = None,
    out: Path | str | None = None,
    executor: Executor | str | None = None,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> PoseDataset | AugmentJobSummary:
    """Repose real (or generated) poses over the range of motion and view them anew.

    Args:
        data: a :class:`PoseDataset` with 3D, or a path in any format posesynth reads.
        motions: a preset name (``"seed-knee"``, ``"full-rom"``...), a motions YAML file or
            a :class:`~posesynth.poses.motion_spec.MotionsConfig`.
        cameras: new viewpoints: a :class:`~posesynth.jobs.camera_config.CamerasConfig`
            (``ps.CameraConfig(model="fisheye", count=2)``), a mapping of its fields or a
            YAML file; ``None`` keeps each frame's source camera.
        seed, shard_size: the random streams (same seed and shard size, same samples).
        out: a folder to write a sharded posesynth store to (the summary is returned);
            ``None`` returns the augmented :class:`PoseDataset`.
        executor, overwrite, progress: as :func:`generate` (only with ``out``).

    Returns:
        The augmented data set (``extra``: ``source_index``, ``variant``), or the job's
        :class:`~posesynth.jobs.augment_store.AugmentJobSummary` (``.to_dict()`` is the
        ``posesynth augment --json`` document).
    """
    from posesynth.data.dataset import PoseDataset
    from posesynth.data.formats.store_io import DEFAULT_SHARD_SIZE
    from posesynth.jobs.augment import augment as run_augment
    from posesynth.jobs.augment_source import read_source
    from posesynth.jobs.augment_store import augment_to_store
    from posesynth.jobs.camera_config import CamerasConfig, load_cameras_config
    from posesynth.jobs.executors import executor_from_spec
    from posesynth.poses.motion_spec import MotionsConfig, load_motions

    dataset = data if isinstance(data, PoseDataset) else read_source(data)
    spec = motions if isinstance(motions, MotionsConfig) else load_motions(motions, dataset.skeleton)
    if isinstance(cameras, (str, Path)):
        cams = load_cameras_config(cameras)
    elif isinstance(cameras, Mapping):
        cams = CamerasConfig(**cameras)
    else:
        cams = cameras
    size = DEFAULT_SHARD_SIZE if shard_size is None else shard_size
    if out is None:
        if executor is not None:
            raise ValueError("executor: only used when writing to out=; in memory the job runs here")
        return run_augment(dataset, spec, cams, seed=seed, shard_size=size, progress=progress).dataset
    with executor_from_spec(executor) as ex:
        return augment_to_store(
            dataset, spec, cams, out, seed=seed, shard_size=size, executor=ex, overwrite=overwrite, progress=progress
        )


def read(path: Path | str, format: str | None = None, **kw: Any) -> PoseDataset:
    """Read any data set posesynth reads (format detected, or named by ``format``).

    Formats: a posesynth store, MMPose ``.npz`` (+ ``cameras.pkl``), VideoPose3D ``.npz``,
    the seed's ``.h5``, Human3.6M ``.cdf``, ``.trc`` (see
    :data:`posesynth.data.formats.registry.READERS`). ``kw`` goes to the format's reader.
    """
    from posesynth.data.formats.registry import read_any

    return read_any(path, format=format, **kw)


def write(
    dataset: PoseDataset, out: Path | str, format: str = "posesynth", *, overwrite: bool = False, **kw: Any
) -> Any:
    """Write ``dataset`` to ``out`` as ``format`` (``posesynth``, ``mmpose``, ``videopose3d``...;
    see :data:`posesynth.data.formats.registry.WRITERS`), atomically. ``kw`` goes to the
    writer (e.g. ``name`` for MMPose / VideoPose3D). Returns what the writer returns."""
    from posesynth.data.formats.registry import write_any

    return write_any(dataset, out, format, overwrite=overwrite, **kw)


def info(data: PoseDataset | Path | str, *, verify: bool = False, rom: bool = True) -> InfoReport:
    """The report ``posesynth info`` prints, as a :class:`~posesynth.data.report.InfoReport`:
    samples, joints, skeleton, cameras, units; in ``.data`` value ranges, NaNs and
    range-of-motion violations (``rom``); for a store path in ``.store`` its arrays, shards and
    configuration (``verify`` checks every file's hash). ``.to_dict()`` is ``info --json``'s
    document."""
    from posesynth.data.report import describe

    return describe(data, verify=verify, rom=rom)


def load_lifter(checkpoint: Path | str = "rom") -> Lifter:
    """A lifter from a checkpoint folder or a shipped name (``"everyday"``, ``"rom"``).

    ``lifter.predict(uv)``: (N, 17, 2) pixels, Human3.6M-17 order -> (N, 17, 3) metres, camera
    frame, root-relative. Needs the ``train`` extra (torch).
    """
    from posesynth.lift import load_lifter as load

    return load(checkpoint)


def evaluate(
    lifter: Lifter | Path | str,
    data: PoseDataset | Path | str,
    keypoints: Path | str | None = None,
    layout: str | None = None,
    pair: Literal["index", "frame"] = "index",
) -> Evaluation:
    """The metrics of ``posesynth evaluate``, as an :class:`~posesynth.lift.evaluate.Evaluation`:
    in ``.scores`` MPJPE, P-MPJPE, N-MPJPE (mm), PCK3D at 150 mm, AUC, per joint, per body part
    and by knee flexion, of ``lifter`` (or a checkpoint) on ``data`` (a data set with 2D and
    camera-frame 3D, or a path); ``.checkpoint`` / ``.data`` name them when given as paths.

    ``keypoints``: any detector's keypoints file (Human3.6M-17, COCO-17, OpenPose BODY_25
    folder, MediaPipe-33; ``layout`` when the file does not say it) scored instead of the
    data set's 2D, its frames paired with the samples by ``pair`` (``"index"`` or
    ``"frame"``); ``.keypoints_2d`` says which 2D was scored."""
    from posesynth.data.dataset import PoseDataset
    from posesynth.lift import evaluate_lifter
    from posesynth.lift import load_lifter as load
    from posesynth.lift.evaluate import Evaluation, ScoredKeypoints, read_scored_keypoints

    model = load(lifter) if isinstance(lifter, (str, Path)) else lifter
    dataset = data if isinstance(data, PoseDataset) else read(data)
    if keypoints is None and layout is not None:
        raise ValueError("layout: applies to keypoints only")
    scored = ScoredKeypoints() if keypoints is None else read_scored_keypoints(keypoints, dataset, layout, pair)
    scores = evaluate_lifter(model, dataset, keypoints_2d=scored.keypoints_2d)
    return Evaluation(
        scores,
        scored.to_json(),
        checkpoint=str(lifter) if isinstance(lifter, (str, Path)) else None,
        data=str(data) if isinstance(data, (str, Path)) else None,
    )
