"""``posesynth benchmark real``: lifters against a triangulated real multi-view recording.

Pipeline (each stage a function of this package):

1. :func:`~posesynth.apps.realbench.fetch.fetch_demo`: Pose2Sim 0.10.49's ``Demo_MultiPerson``
   (four calibrated 1088 x 1920 videos at 60 fps, two people), downloaded once and cached.
2. :func:`~posesynth.data.formats.qca.read_qca`: the Qualisys calibration -> cameras.
3. :func:`~posesynth.apps.realbench.detect.detect_videos`: BlazePose on every frame of every
   view, up to ``max_people`` people each.
4. :func:`~posesynth.apps.realbench.associate.associate_people`: people across views and time.
5. Guided landmarks where the detector missed a triangulated person
   (:func:`~posesynth.apps.realbench.detect.detect_in_regions`), then the robust triangulation
   and the Human3.6M-17 mapping (:func:`~posesynth.apps.realbench.pseudo_gt.build_person_data`).
6. :func:`~posesynth.apps.realbench.score.score_models`.

Stage 3 is cached as ``detections-<key>.npz`` (every detection, :class:`ViewDetections`) and
stages 1-5 as ``persons-<key>.npz`` (:class:`PersonData`) under ``<cache>/realbench/``, each
keyed by a SHA-256 of its inputs (file hashes of the videos, the calibration as read and the
detector models, the frames, the options, the posesynth version); a warm run only scores, so
scoring a new checkpoint takes seconds::

    from posesynth.apps.realbench import run_real_benchmark
    result = run_real_benchmark({"mine": "path/to/checkpoint"})
    print(result.score("mine", "blazepose_2d").overall.p_mpjpe_mm)
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from posesynth import __version__
from posesynth.apps.realbench.associate import associate_people
from posesynth.apps.realbench.detect import (
    BlazePoseDetector,
    MultiPersonDetector,
    ViewDetections,
    detect_in_regions,
    detect_videos,
    video_frame_count,
)
from posesynth.apps.realbench.fetch import (
    DemoFiles,
    cache_root,
    fetch_demo,
    sha256_file,
)
from posesynth.apps.realbench.pseudo_gt import (
    GT_DEFINITION,
    PersonData,
    PseudoGtQuality,
    build_person_data,
    pseudo_gt_quality,
)
from posesynth.apps.realbench.score import (
    BLAZEPOSE,
    BLAZEPOSE_DEFINITION,
    LIFTER_DEFINITION,
    LifterLike,
    ModelScore,
    score_models,
)
from posesynth.data.formats.qca import read_qca

__all__ = [
    "BenchmarkOptions",
    "PreparedBenchmark",
    "RealBenchmarkResult",
    "prepare_real_benchmark",
    "run_real_benchmark",
    "save_benchmark_figure",
]

#: MediaPipe-33 landmarks used to associate people (nose, shoulders, elbows, wrists, hips,
#: knees, ankles): the ones BlazePose places most reliably.
CORE_LANDMARKS = np.array([0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28])
DEFAULT_LIFTERS = ("everyday", "rom")
#: Bump when the association, triangulation or filtering changes what the cache holds
#: (the posesynth version alone does not change between development commits).
PSEUDO_GT_REVISION = 2


@dataclass(frozen=True)
class BenchmarkOptions:
    """Everything that changes the pseudo ground truth (part of the cache key).

    Attributes:
        frames: run every frame (None) or this many, evenly spaced.
        max_people: detections kept per image.
        detection_threshold: BlazePose detector score threshold.
        association_error_px: largest median reprojection error of a view of one person.
        outlier_error_px: reprojection error above which a view of a landmark is dropped.
        min_track_fraction: shortest track kept as a person, as a fraction of the frames.
        guided: run the landmark model where the detector missed a triangulated person (off by
            default: on this recording it made the pseudo ground truth worse, the regions
            often holding the other person).
        window_s, max_jump_m: temporal outlier rejection of the pseudo ground truth.
        fps: frame rate of the videos (the recording's 60).
    """

    frames: int | None = None
    max_people: int = 4
    detection_threshold: float = 0.3
    association_error_px: float = 40.0
    outlier_error_px: float = 30.0
    min_track_fraction: float = 0.2
    guided: bool = False
    window_s: float = 2.5 / 60.0
    max_jump_m: float = 0.15
    fps: float = 60.0


@dataclass(frozen=True)
class PreparedBenchmark:
    """The cached pseudo ground truth and how it was made.

    Attributes:
        data: :class:`PersonData`.
        path: its ``.npz`` in the cache.
        quality: :class:`PseudoGtQuality`.
        empty_frames: frames (0-based) where no view detected anybody (skipped).
        frames_without_people: frames where nobody could be triangulated (skipped).
        cached: True if read from the cache.
        seconds: wall time of the preparation (reading the cache when cached).
    """

    data: PersonData
    path: Path
    quality: PseudoGtQuality
    empty_frames: tuple[int, ...]
    frames_without_people: tuple[int, ...]
    cached: bool
    seconds: float


@dataclass(frozen=True)
class RealBenchmarkResult:
    """Everything ``posesynth benchmark real`` reports.

    Attributes:
        scores: BlazePose's world landmarks, then every lifter from BlazePose 2D and ideal 2D.
        quality: the pseudo ground truth's quality.
        people, frames, views: what was scored (views: camera names).
        samples: person x frame x view samples scored.
        empty_frames, frames_without_people: skipped frames (see :class:`PreparedBenchmark`).
        data_path: the per-person ``.npz`` (:class:`PersonData`).
        definitions: keypoint definition of the ground truth and of each model.
        cached: the pseudo ground truth came from the cache.
        seconds: ``prepare`` and ``score`` wall times.
        figure: the figure written, if any.
    """

    scores: tuple[ModelScore, ...]
    quality: PseudoGtQuality
    people: int
    frames: int
    views: tuple[str, ...]
    samples: int
    empty_frames: tuple[int, ...]
    frames_without_people: tuple[int, ...]
    data_path: Path
    definitions: dict[str, str]
    cached: bool
    seconds: dict[str, float]
    figure: Path | None = None
    source: dict[str, Any] = field(default_factory=dict)

    def score(self, model: str, input: str | None = None) -> ModelScore:
        """The row of ``model`` (a lifter name or ``blazepose_world``) on ``input``."""
        for row in self.scores:
            if row.model == model and (input is None or row.input == input):
                return row
        raise KeyError(f"no score for model {model!r} input {input!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready document (``--json``)."""
        doc = asdict(self)
        doc["scores"] = [r.to_dict() for r in self.scores]
        doc["data_path"] = str(self.data_path)
        doc["figure"] = None if self.figure is None else str(self.figure)
        doc["units"] = {"errors": "mm", "pck3d_150": "fraction", "reprojection": "px", "bone_length_std": "mm"}
        return doc


def _frame_indices(n_video: int, frames: int | None) -> np.ndarray:
    if frames is None or frames >= n_video:
        return np.arange(n_video)
    if frames < 1:
        raise ValueError(f"frames: expected a positive number of frames, got {frames}")
    return np.unique(np.linspace(0, n_video - 1, frames).round().astype(np.int64))


def _key(parts: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _check_cameras(calibration: Path, names: list[str], videos: tuple[Path, ...]) -> list[int]:
    """Index of each video's camera (matched by file stem = camera serial)."""
    order = []
    for video in videos:
        if video.stem not in names:
            raise ValueError(
                f"{calibration}: no camera {video.stem!r} for video {video.name} (cameras in the file: {names})"
            )
        order.append(names.index(video.stem))
    return order


def prepare_real_benchmark(
    options: BenchmarkOptions = BenchmarkOptions(),
    *,
    cache_dir: str | Path | None = None,
    demo: DemoFiles | None = None,
    detector: MultiPersonDetector | None = None,
    progress: Callable[[str], None] | None = None,
) -> PreparedBenchmark:
    """The pseudo ground truth and detections, from the cache or computed (stages 1-5).

    Args:
        options: :class:`BenchmarkOptions`.
        cache_dir: cache folder (default: ``$POSESYNTH_CACHE``, ``$XDG_CACHE_HOME/posesynth``
            or ``~/.cache/posesynth``).
        demo: the recording's files (default: :func:`fetch_demo`; tests pass their own).
        detector: a :class:`MultiPersonDetector` (default BlazePose, ``demo`` extra).
        progress: called with short progress messages.

    Raises:
        ValueError: a camera missing from the calibration, an unreadable video or
            calibration, no person found in any frame.
    """
    t0 = time.perf_counter()
    say = progress or (lambda _m: None)
    root = cache_root(cache_dir)
    demo = demo or fetch_demo(root)
    cameras, names = read_qca(demo.calibration)
    order = _check_cameras(demo.calibration, names, demo.videos)
    cameras = cameras[np.asarray(order)]
    names = [names[i] for i in order]
    n_video = min(video_frame_count(v) for v in demo.videos)
    frames = _frame_indices(n_video, options.frames)
    if detector is None:
        from posesynth.detect.blazepose import model_paths

        models = {p.name: sha256_file(p) for p in model_paths()}
        detector_id = f"blazepose-full-litert:{models}"
    else:
        detector_id = f"{type(detector).__module__}.{type(detector).__qualname__}"
    det_inputs = {
        "version": __version__,
        "videos": [sha256_file(v) for v in demo.videos],
        "frames": frames.tolist(),
        "detector": detector_id,
        "max_people": options.max_people,
        "detection_threshold": options.detection_threshold,
    }
    det_key = _key(det_inputs)
    key = _key(
        {
            **det_inputs,
            "revision": PSEUDO_GT_REVISION,
            "calibration": sha256_file(demo.calibration),
            # the cameras as read, so a change in the reader's conventions is a new entry too
            "cameras": hashlib.sha256(json.dumps(cameras.to_dict()).encode()).hexdigest(),
            "options": asdict(options),
        }
    )
    out_dir = root / "realbench"
    path = out_dir / f"persons-{key}.npz"
    empty_path = out_dir / f"persons-{key}.skipped.json"
    if path.is_file() and empty_path.is_file():
        data = PersonData.load(path)
        skipped = json.loads(empty_path.read_text(encoding="utf-8"))
        return PreparedBenchmark(
            data=data,
            path=path,
            quality=pseudo_gt_quality(data),
            empty_frames=tuple(skipped["empty_frames"]),
            frames_without_people=tuple(skipped["frames_without_people"]),
            cached=True,
            seconds=time.perf_counter() - t0,
        )
    if detector is None:
        detector = BlazePoseDetector(detection_threshold=options.detection_threshold)
    # every detection of every view, cached on its own: association and triangulation
    # options can change without running the detector again
    det_path = out_dir / f"detections-{det_key}.npz"
    detections = _load_detections(det_path)
    if detections is None:
        detections = detect_videos(demo.videos, frames, detector, options.max_people, say)
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp_det = det_path.with_name(det_path.name + ".partial.npz")
        arrays: dict[str, Any] = detections.arrays()
        np.savez_compressed(tmp_det, **arrays)
        tmp_det.replace(det_path)
    anybody = detections.present.any(axis=(0, 2))  # (F,)
    empty = tuple(int(f) for f in frames[~anybody])
    if empty:
        say(f"{len(empty)} frame(s) with nobody detected in any view, skipped: {list(empty)[:10]}")
    say("associating people across views and frames")
    core_w = np.where(
        detections.present[..., None], np.clip(detections.visibility[..., CORE_LANDMARKS], 0.05, 1.0), 0.0
    )
    association = associate_people(
        detections.keypoints_2d[..., CORE_LANDMARKS, :],
        core_w,
        cameras,
        frames / options.fps,
        max_error_px=options.association_error_px,
        min_track_fraction=options.min_track_fraction,
    )
    if association.assignment.shape[1] == 0:
        raise ValueError(
            f"{demo.root}: no person could be associated across views in {len(frames)} frames "
            "(nobody detected in two views at once?)"
        )

    def triangulate_people(guided: ViewDetections | None) -> PersonData:
        return build_person_data(
            detections,
            association,
            cameras,
            names,
            options.fps,
            guided,
            max_error_px=options.outlier_error_px,
            window_s=options.window_s,
            max_jump_m=options.max_jump_m,
        )

    data = triangulate_people(None)
    if options.guided:
        # where a triangulated person was missed by the detector, run the landmark model on
        # the region the person projects to; only the triangulation uses these
        with np.errstate(invalid="ignore"):
            proj = cameras.project_world(data.points_world_mp33[:, :, None])  # (P, F, V, 33, 2)
        missing = (association.assignment.transpose(1, 0, 2) < 0) & np.isfinite(data.points_world).all(axis=(-1, -2))[
            ..., None
        ]
        regions = np.where(missing[..., None, None], proj, np.nan)
        guided = detect_in_regions(demo.videos, frames, np.moveaxis(regions, (0, 1, 2), (2, 1, 0)), detector, say)
        data = triangulate_people(guided)
    complete = np.isfinite(data.points_world).all(axis=(-1, -2)).any(axis=0)
    nobody = tuple(int(f) for f in frames[~complete])
    out_dir.mkdir(parents=True, exist_ok=True)
    data.save(path)
    tmp = empty_path.with_name(empty_path.name + ".partial")
    tmp.write_text(json.dumps({"empty_frames": empty, "frames_without_people": nobody}), encoding="utf-8")
    tmp.replace(empty_path)
    return PreparedBenchmark(
        data=data,
        path=path,
        quality=pseudo_gt_quality(data),
        empty_frames=empty,
        frames_without_people=nobody,
        cached=False,
        seconds=time.perf_counter() - t0,
    )


def _load_detections(path: Path) -> ViewDetections | None:
    """Cached detections, or None if absent or unreadable (then they are computed again)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return ViewDetections(**{k: z[k] for k in ViewDetections.__dataclass_fields__})
    except (OSError, ValueError, KeyError, EOFError):
        return None


def _load(spec: LifterLike | str | Path) -> LifterLike:
    if isinstance(spec, (str, Path)):
        from posesynth.lift.checkpoint import load_lifter

        return load_lifter(spec)
    if not callable(getattr(spec, "predict", None)):
        raise ValueError(f"lifters: expected a Lifter, a checkpoint path or a shipped name, got {type(spec).__name__}")
    return spec


def run_real_benchmark(
    lifters: Mapping[str, LifterLike | str | Path] | None = None,
    *,
    options: BenchmarkOptions = BenchmarkOptions(),
    cache_dir: str | Path | None = None,
    figure: str | Path | None = None,
    demo: DemoFiles | None = None,
    detector: MultiPersonDetector | None = None,
    progress: Callable[[str], None] | None = None,
) -> RealBenchmarkResult:
    """Score lifters on the real multi-view recording (see the module docstring).

    Args:
        lifters: name -> :class:`posesynth.lift.Lifter`, checkpoint folder or shipped name
            (default ``everyday`` and ``rom``).
        options: :class:`BenchmarkOptions` (``frames`` to subsample).
        cache_dir: cache folder.
        figure: write a PNG of the scores here.
        demo, detector, progress: see :func:`prepare_real_benchmark`.

    Returns:
        :class:`RealBenchmarkResult`.
    """
    if lifters is None:
        lifters = {name: name for name in DEFAULT_LIFTERS}
    loaded = {name: _load(spec) for name, spec in lifters.items()}
    prepared = prepare_real_benchmark(options, cache_dir=cache_dir, demo=demo, detector=detector, progress=progress)
    t0 = time.perf_counter()
    rows = tuple(score_models(prepared.data, loaded))
    data = prepared.data
    definitions = {"ground_truth": GT_DEFINITION, BLAZEPOSE: BLAZEPOSE_DEFINITION}
    definitions.update(dict.fromkeys(loaded, LIFTER_DEFINITION))
    result = RealBenchmarkResult(
        scores=rows,
        quality=prepared.quality,
        people=data.num_people,
        frames=len(data.frames),
        views=tuple(str(n) for n in data.camera_names),
        samples=rows[0].overall.samples,
        empty_frames=prepared.empty_frames,
        frames_without_people=prepared.frames_without_people,
        data_path=prepared.path,
        definitions=definitions,
        cached=prepared.cached,
        seconds={"prepare": round(prepared.seconds, 3), "score": round(time.perf_counter() - t0, 3)},
        source={"recording": "Pose2Sim 0.10.49 Demo_MultiPerson (BSD-3-Clause)", "posesynth": __version__},
    )
    if figure is not None:
        save_benchmark_figure(result, figure)
        result = replace(result, figure=Path(figure))
    return result


def save_benchmark_figure(result: RealBenchmarkResult, path: str | Path) -> Path:
    """P-MPJPE per model and input, overall and per body part, and per view (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result.scores
    labels = [r.model if r.model == BLAZEPOSE else f"{r.model}\n{r.input.replace('_', ' ')}" for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    parts = ("overall", "legs", "trunk_head", "arms")
    width = 0.8 / len(parts)
    x = np.arange(len(rows))
    for i, part in enumerate(parts):
        vals = [r.overall.p_mpjpe_mm if part == "overall" else r.overall.p_mpjpe_by_part_mm[part] for r in rows]
        axes[0].bar(x + (i - 1.5) * width, vals, width, label=part.replace("_", " & "))
    axes[0].set_xticks(x, labels, fontsize=8)
    axes[0].set_ylabel("P-MPJPE (mm)")
    axes[0].set_title("by body part (all views)")
    axes[0].legend(fontsize=8)
    views = result.views
    width = 0.8 / max(len(views), 1)
    for i, view in enumerate(views):
        vals = [r.per_view[view].p_mpjpe_mm if view in r.per_view else np.nan for r in rows]
        axes[1].bar(x + (i - (len(views) - 1) / 2) * width, vals, width, label=view)
    axes[1].set_xticks(x, labels, fontsize=8)
    axes[1].set_ylabel("P-MPJPE (mm)")
    axes[1].set_title("by view")
    axes[1].legend(fontsize=8)
    q = result.quality
    fig.suptitle(
        f"Real benchmark: Pose2Sim Demo_MultiPerson, {result.people} people, {result.frames} frames, "
        f"{result.samples} samples; pseudo-GT reprojection {q.reprojection_error_px:.1f} px, "
        f"bone-length std {q.bone_length_std_mm:.1f} mm",
        fontsize=10,
    )
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
