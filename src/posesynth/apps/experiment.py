"""The ROM experiment: does range-of-motion augmentation help a lifter on uncommon postures?

Protocol (``posesynth experiment rom``; every number comes from this run):

1. **Everyday training poses** with knee flexion ≤ 60° and hip flexion ≤ 60° — the ordinary
   movement that fills data sets such as Human3.6M: by default (``prior="coupled"``, issue 17)
   the coupled priors of :mod:`posesynth.poses.prior` (idle, hold, gesture, gait, sit_chair)
   plus the independent ``reach`` (:data:`EVERYDAY_COUPLED`); with ``prior="broad"`` every
   coupled prior and reach (:data:`EVERYDAY_BROAD`, the shipped checkpoints' mix); with
   ``prior="independent"`` the earlier stand / walk / sit / reach (:data:`EVERYDAY`).
2. **Model A** (``everyday``) trains on them. With ``stream``, on fresh ones every epoch
   (``samples`` per epoch, :mod:`posesynth.lift.stream`) instead of one fixed set.
3. **Model B** (``rom``) trains on the same poses plus ``variants`` (default 1) reposed copies of each
   (:func:`posesynth.jobs.augment.augment` with the ``full-rom`` motions: hip flexion and abduction,
   knees, shoulder elevation, elbows and spine flexion over their full range, ROM and
   collision checks on; another preset or file with ``--motions``), seen by new random
   cameras. Both models get the same number of optimiser steps (B: proportionally fewer
   epochs), architecture, noise and seed. With ``stream``, B's reposed copies are made on the
   fly from fresh everyday poses: a share ``variants / (variants + 1)`` of every chunk (the
   stream's ``rom_share``), the same samples per epoch and epochs as A. With
   ``keypoint_jitter``, both train on keypoints moved by a random definition per sample
   (:mod:`posesynth.data.keypoint_jitter`; the test sets are not). The 2D noise: ``noise_sigma_px`` everywhere plus,
   with ``detector_noise`` (off by default: the ablation found it no help), BlazePose's per-joint spread
   (:data:`BLAZEPOSE_SIGMA_JOINTS`, measured on person 0 of the real benchmark).
4. **Test sets**, drawn with other seeds: held-out everyday poses (the training mix), and
   uncommon ones (deep squat, lunge, kick, quad stretch, kneeling) over their full ranges;
   with the coupled prior also the earlier protocol's everyday set (``everyday_independent``).
5. MPJPE / P-MPJPE of both models on both sets, and the relative change of B against A;
   MPJPE per body part (legs, trunk and head, arms) of both sets and per activity of the
   uncommon set.
6. Optionally (``reference``), **model C** trains on uncommon poses themselves (as many as A's
   everyday ones, drawn with yet another seed; A's number of steps): a lifter that has seen
   these postures and their activities' arm and trunk priors, which no augmentation of
   everyday poses knows. It bounds what B can be expected to reach on the uncommon set.

7. Optionally (``real``: the per-person ``.npz`` of ``posesynth benchmark real``), both models
   on real people (:func:`real_scores`): P-MPJPE / MPJPE from BlazePose 2D and from ideal 2D,
   and BlazePose's own world landmarks on the same samples.

The goals (issue 5): B's MPJPE on uncommon poses ≥ 40 % lower than A's, and on everyday poses
at most 5 % higher; with ``real`` (issue 17, :func:`real_goals`): B no more than 3 % worse than
A on the real benchmark, B from BlazePose 2D ≤ 0.85 × BlazePose's world landmarks and from
ideal 2D ≤ 55 mm (P-MPJPE). The result says whether they were met; nothing is tuned to them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from posesynth.body.definitions import KeypointDefinition, apply_definition, get_definition
from posesynth.body.skeleton import H36M17
from posesynth.data.dataset import PoseDataset
from posesynth.data.keypoint_jitter import jitter_keypoints
from posesynth.jobs.augment import augment
from posesynth.jobs.camera_config import CamerasConfig
from posesynth.jobs.generate import GenerateConfig, generate_dataset, load_config
from posesynth.lift.checkpoint import export_shipped, load_lifter
from posesynth.lift.evaluate import evaluate_lifter
from posesynth.lift.noise import NoiseConfig
from posesynth.lift.stream import StreamConfig
from posesynth.lift.train import TrainConfig, train_lifter, train_stream
from posesynth.poses.motion_spec import load_motions
from posesynth.poses.procedural import activity_names
from posesynth.util.atomic import write_bytes_atomic
from posesynth.util.jsonable import to_jsonable

EVERYDAY = {"stand": 1.0, "walk": 1.0, "sit": 1.0, "reach": 1.0}
#: The everyday mix with the coupled priors of :mod:`posesynth.poses.prior` where they exist
#: (standing: idle / hold / gesture; walking: gait; sitting: sit_chair); reach stays independent.
EVERYDAY_COUPLED = {"idle": 0.5, "hold": 0.25, "gesture": 0.25, "gait": 1.0, "sit_chair": 1.0, "reach": 1.0}
#: BlazePose's per-joint 2D spread (fractions of the bbox's longest side, Human3.6M-17 order):
#: RMS residual of its landmarks against the multi-view triangulation reprojected, on person 0
#: of the real benchmark (``benchmarks/ablation_real.py``, ``detector_sigma_joints``).
BLAZEPOSE_SIGMA_JOINTS = (
    0.019,
    0.023,
    0.03,
    0.048,
    0.018,
    0.027,
    0.047,
    0.015,
    0.014,
    0.013,
    0.015,
    0.017,
    0.041,
    0.077,
    0.02,
    0.037,
    0.048,
)
EVERYDAY_LIMITS_DEG = {"knee_flexion": (-10.0, 60.0), "hip_flexion": (-30.0, 60.0)}
#: SeedSequence suffix of the training sets' keypoint-jitter draws (A's everyday poses, B's copies).
_JITTER_STREAM = 0x4A17
#: The coupled priors of standing, holding, gesturing, walking, running, sitting, one leg,
#: throwing, dancing, sport and floor, and the independent reach, within the everyday limits:
#: everyday knees and hips with the arm and trunk postures of all of them. Named one by one,
#: so the shipped checkpoints' mix stays what it was when a prior is added (``bend``, a hip
#: hinge, was measured as a lever and left out: docs/real-people.md, round 6).
EVERYDAY_BROAD = dict.fromkeys(
    ("idle", "hold", "gesture", "gait", "run", "sit_chair", "one_leg", "throw", "dance", "sport", "floor", "reach"), 1.0
)
UNCOMMON = {"squat": 1.0, "lunge": 1.0, "kick": 1.0, "quad_stretch": 1.0, "kneel": 1.0}


class ExperimentConfig(BaseModel):
    """Sizes and training budget; defaults finish in about a quarter of an hour on 2 cores."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    samples: int = Field(40_000, gt=0, description="everyday training poses")
    test_samples: int = Field(5_000, gt=0, description="poses per test set")
    epochs: int = Field(16, ge=1, description="epochs of model A; B gets the same number of steps")
    batch_size: int = Field(256, ge=2)
    width: int = Field(1024, ge=8)
    dropout: float = Field(
        0.5,
        ge=0,
        lt=1,
        description="dropout of both lifters; 0.5 (SimpleBaseline's) regularises a fixed data set, fresh samples "
        "every epoch (stream) need little",
    )
    ema_decay: float = Field(
        0.0, ge=0, lt=1, description="weight averaging per step of both lifters (lift.train; 0: off)"
    )
    loss: Literal["mse", "mpjpe"] = Field(
        "mse", description="training loss of both lifters (lift.train.TrainConfig.loss): mse or mpjpe"
    )
    noise_sigma_px: float = Field(1.0, ge=0)
    prior: Literal["independent", "coupled", "broad"] = Field(
        "coupled",
        description="everyday poses from the independent priors (EVERYDAY), the coupled ones of standing, "
        "walking and sitting (EVERYDAY_COUPLED) or every coupled prior (EVERYDAY_BROAD), within the everyday limits",
    )
    stream: bool = Field(
        False,
        description="fresh samples every epoch (samples per epoch = samples, lift.stream): A on generated everyday "
        "poses, B with the same share of reposed copies as the fixed protocol (rom_share), made on the fly",
    )
    detector_noise: bool = Field(
        False, description="add BlazePose's per-joint 2D spread (BLAZEPOSE_SIGMA_JOINTS) to training inputs"
    )
    keypoint_jitter: float = Field(
        0.0,
        ge=0,
        le=0.1,
        description="random keypoint definition per training sample, 2D and 3D alike (sd, fraction of body "
        "height; data.keypoint_jitter); the test sets stay in posesynth's joint centres",
    )
    keypoint_jitter_limbs: float = Field(
        1.0,
        ge=0,
        le=1,
        description="the keypoint jitter of the elbows, wrists, knees and feet, a factor of keypoint_jitter",
    )
    keypoint_jitter_keep_distal: bool = Field(
        False, description="under the keypoint jitter the forearms and shanks keep their lengths"
    )
    tilt_sd_deg: float = Field(
        4.0,
        ge=0,
        le=45,
        description="sd of the training bodies' whole-body pitch and roll (GenerateConfig.tilt_sd_deg): real people "
        "lean sideways and forward as a whole; the test sets keep generate's default",
    )
    real: str | None = Field(
        None, description="the real benchmark's per-person .npz: score both models on real people too"
    )
    motions: str = Field("full-rom", description="motions preset or YAML file of B's augmentation")
    variants: int = Field(1, ge=1, le=16, description="augmented copies of each everyday pose in B's data")
    rom_share: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="with stream: the share of B's samples that are reposed (default variants / (variants + 1), "
        "the fixed protocol's share)",
    )
    unlimited_share: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="with stream: the share of B's samples drawn from A's activity priors without the everyday "
        "limits (whole movements over their own ranges, not reposed); taken from the plain part",
    )
    seed: int = Field(0, ge=0)
    b_seed: int = Field(
        0, ge=0, description="another draw of B alone (its augmentation and training); 0: the seed's own"
    )
    reference: bool = Field(False, description="also train model C on uncommon poses (a bound for B)")

    @model_validator(mode="after")
    def _share_needs_stream(self) -> ExperimentConfig:
        if self.rom_share is not None and not self.stream:
            raise ValueError(
                "rom_share: applies to streamed training (stream); the fixed protocol's share is set by variants"
            )
        if self.unlimited_share and not self.stream:
            raise ValueError("unlimited_share: applies to streamed training (stream)")
        share = self.rom_share if self.rom_share is not None else self.variants / (self.variants + 1)
        if self.unlimited_share and share + self.unlimited_share >= 1:
            raise ValueError(
                f"rom_share + unlimited_share: expected a sum below 1 (some plain everyday poses in B's data), "
                f"got {share:g} + {self.unlimited_share:g}"
            )
        return self


@dataclass(frozen=True)
class ExperimentResult:
    """What :func:`run_experiment` measured; :meth:`to_dict` is ``out/result.json``.

    The tables stay mappings (their rows depend on the test sets, models and options run);
    errors in mm, changes as fractions (B / A - 1).

    Attributes:
        config: the configuration run.
        shipped: per shipped model (``--ship``): path, bytes, float16 MPJPE and its change.
        data: training and test set sizes (and the augmentation summary, or the stream's share).
        models: per model (``everyday``, ``rom``, ``uncommon``): training size, epochs and
            seconds, the metrics document of each test set, MPJPE per uncommon activity.
        table: per test set: MPJPE and P-MPJPE of A and B, the change, per body part.
        uncommon_by_activity: per activity of the uncommon test set: poses, A and B, change.
        reference: model C against A (empty without ``reference``).
        real: the real benchmark's scores (empty without ``real``).
        goals: goal name -> met.
        seconds: wall time of the whole run.
        checkpoints: ``a``, ``b`` (and ``c``) -> checkpoint folder.
    """

    config: ExperimentConfig
    shipped: Mapping[str, Any]
    data: Mapping[str, Any]
    models: Mapping[str, Any]
    table: Mapping[str, Any]
    uncommon_by_activity: Mapping[str, Any]
    reference: Mapping[str, Any]
    real: Mapping[str, Any]
    goals: Mapping[str, bool]
    seconds: float
    checkpoints: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (keys in this order)."""
        doc = {f.name: getattr(self, f.name) for f in fields(self)}
        doc = {k: dict(v) if isinstance(v, Mapping) else v for k, v in doc.items()}
        doc["config"] = self.config.model_dump()
        return doc


def _everyday(
    samples: int, seed: int, activities: dict[str, float] | None = None, tilt_sd_deg: float | None = None
) -> PoseDataset:
    cfg = load_config(  # a None tilt keeps generate's default
        samples=samples,
        seed=seed,
        activities=activities or EVERYDAY,
        angle_limits_deg=EVERYDAY_LIMITS_DEG,
        tilt_sd_deg=tilt_sd_deg,
    )
    return generate_dataset(cfg)


def _uncommon(samples: int, seed: int, tilt_sd_deg: float | None = None) -> PoseDataset:
    return generate_dataset(load_config(samples=samples, seed=seed, activities=UNCOMMON, tilt_sd_deg=tilt_sd_deg))


def everyday_test_set(samples: int, seed: int, activities: dict[str, float] | None = None) -> PoseDataset:
    """Held-out everyday poses (2D and camera 3D only): ``activities`` (default: the legacy
    :data:`EVERYDAY` mix) with knees and hips within :data:`EVERYDAY_LIMITS_DEG`."""
    return _lift_view(_everyday(samples, seed, activities))


def uncommon_test_set(samples: int, seed: int) -> PoseDataset:
    """Uncommon poses (:data:`UNCOMMON`, full ranges; 2D and camera 3D only)."""
    return _lift_view(_uncommon(samples, seed))


def in_definition(
    dataset: PoseDataset, definition: str | KeypointDefinition, *, output_3d: bool = False
) -> PoseDataset:
    """A generated data set with its 2D (and, with ``output_3d``, its camera-frame 3D) in another
    keypoint definition (:mod:`posesynth.body.definitions`), seen by the same cameras.

    Args:
        dataset: Human3.6M-17 poses with world 3D and per-sample cameras (``posesynth generate``).
        definition: a name or a :class:`KeypointDefinition`.
        output_3d: also move the 3D targets (a lifter trained on it outputs that definition);
            else the 3D stays in posesynth's joint centres.
    """
    if dataset.joints_3d_world is None or dataset.cameras is None:
        raise ValueError("keypoint definition: expected a data set with world 3D and cameras (posesynth generate's)")
    heights = dataset.extra.get("height") if dataset.extra else None
    moved = apply_definition(
        dataset.joints_3d_world, definition, None if heights is None else np.asarray(heights, np.float64)
    )
    cams = dataset.cameras
    return PoseDataset(
        skeleton=dataset.skeleton,
        joints_3d_camera=cams.world_to_camera(moved if output_3d else dataset.joints_3d_world),
        joints_2d=cams.project_world(moved),
        meta={
            "keypoint_definition": {"name": get_definition(definition).name, "input_2d": True, "output_3d": output_3d}
        },
    )


def _lift_view(ds: PoseDataset) -> PoseDataset:
    """Only what the lifter reads: 2D and camera-frame 3D."""
    ds = ds.complete()
    return PoseDataset(skeleton=ds.skeleton, joints_3d_camera=ds.joints_3d_camera, joints_2d=ds.joints_2d)


def _concat(a: PoseDataset, b: PoseDataset) -> PoseDataset:
    a, b = _lift_view(a), _lift_view(b)
    return PoseDataset(
        skeleton=H36M17,
        joints_3d_camera=np.concatenate([a.joints_3d_camera, b.joints_3d_camera]),
        joints_2d=np.concatenate([a.joints_2d, b.joints_2d]),
        meta={"parts": ["everyday", "rom-augmented everyday"], "samples": [len(a), len(b)]},
    )


def by_activity(lifter: Any, dataset: PoseDataset) -> dict[str, dict[str, float | int]]:
    """MPJPE (mm) and pose count of ``lifter`` per activity of a generated ``dataset``."""
    names = activity_names()
    codes = np.asarray(dataset.extra["activity"])
    out = {}
    for code in np.unique(codes):
        part = _lift_view(dataset.select(codes == code))
        out[names[int(code)]] = {"poses": len(part), "mpjpe_mm": evaluate_lifter(lifter, part).mpjpe_mm}
    return out


def real_scores(path: str | Path, lifters: dict[str, Any]) -> dict[str, Any]:
    """The lifters on the real benchmark's cached per-person data (``posesynth benchmark real``).

    Returns ``{model: {input: {p_mpjpe_mm, mpjpe_mm, p_mpjpe_ratio, person: {..}}}}`` with
    BlazePose's world landmarks as ``blazepose_world`` (under the benchmark's input name), and the
    keypoint definitions of the models and of the ground truth.
    """
    from posesynth.apps.realbench import PersonData
    from posesynth.apps.realbench.pseudo_gt import GT_DEFINITION
    from posesynth.apps.realbench.score import score_models

    rows = score_models(PersonData.load(Path(path)), lifters)
    out: dict[str, Any] = {"data": str(path), "ground_truth_definition": GT_DEFINITION, "models": {}}
    for r in rows:
        out["models"].setdefault(r.model, {"keypoints": r.keypoints})[r.input] = {
            "p_mpjpe_mm": r.overall.p_mpjpe_mm,
            "mpjpe_mm": r.overall.mpjpe_mm,
            "pck3d_150": r.overall.pck3d_150,
            "p_mpjpe_ratio_to_blazepose": r.p_mpjpe_ratio,
            "samples": r.overall.samples,
            "p_mpjpe_by_part_mm": r.overall.p_mpjpe_by_part_mm,
            "per_person_p_mpjpe_mm": {k: v.p_mpjpe_mm for k, v in r.per_person.items()},
        }
    return out


def real_goals(real: dict[str, Any]) -> dict[str, bool]:
    """Issue 17's goals on the real benchmark (empty without it): B no more than 3 % worse than
    A (P-MPJPE, from BlazePose 2D and from ideal 2D), B from BlazePose 2D ≤ 0.85 × BlazePose's
    world landmarks, B from ideal 2D ≤ 55 mm (P-MPJPE)."""
    if not real:
        return {}
    a, b = real["models"]["everyday"], real["models"]["rom"]
    return {
        "real_rom_at_most_3pct_worse": all(
            b[i]["p_mpjpe_mm"] <= 1.03 * a[i]["p_mpjpe_mm"] for i in ("blazepose_2d", "ideal_2d")
        ),
        "real_rom_at_most_0_85_blazepose": b["blazepose_2d"]["p_mpjpe_ratio_to_blazepose"] <= 0.85,
        "real_rom_ideal_2d_at_most_55mm": b["ideal_2d"]["p_mpjpe_mm"] <= 55.0,
    }


def run_experiment(
    config: ExperimentConfig,
    out: Path | str,
    log: Callable[[str], None] = lambda _: None,
    *,
    ship: bool = False,
) -> ExperimentResult:
    """Run the protocol of the module docstring; checkpoints go to ``out/everyday``, ``out/rom``
    (and ``out/uncommon`` for the reference model C).

    With ``ship``, both are also stored in the package as the shipped checkpoints ``everyday``
    and ``rom`` (float16), and evaluated again in that form to measure what float16 costs.

    Returns an :class:`ExperimentResult`: the data sizes, both models' metrics on both test
    sets, the relative changes and whether each goal was met; its ``to_dict()`` is written
    to ``out/result.json`` (and printed by ``experiment rom --json``).
    """
    motions = load_motions(config.motions, H36M17).model_copy(update={"variants": config.variants})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    seed = config.seed
    mix = {"coupled": EVERYDAY_COUPLED, "broad": EVERYDAY_BROAD}.get(config.prior, EVERYDAY)
    if config.keypoint_jitter:
        at_ends = "" if config.keypoint_jitter_limbs == 1 else f", x {config.keypoint_jitter_limbs:g} at the limb ends"
        kept = ", forearms and shanks at their lengths" if config.keypoint_jitter_keep_distal else ""
        log(f"keypoint definitions jittered per training sample (sd {config.keypoint_jitter} x height{at_ends}{kept})")
    if config.stream:
        log(f"everyday training poses: {config.samples} fresh ones per epoch ({config.prior} priors)")
        stream_a = StreamConfig(
            samples_per_epoch=config.samples,
            workers=1,
            keypoint_jitter=config.keypoint_jitter,
            keypoint_jitter_limbs=config.keypoint_jitter_limbs,
            keypoint_jitter_keep_distal=config.keypoint_jitter_keep_distal,
            generate=GenerateConfig(
                activities=mix, angle_limits_deg=EVERYDAY_LIMITS_DEG, tilt_sd_deg=config.tilt_sd_deg
            ),
        )
        share = config.rom_share if config.rom_share is not None else config.variants / (config.variants + 1)
        stream_b = stream_a.model_copy(
            update={"rom_share": share, "rom_motions": config.motions, "unlimited_share": config.unlimited_share}
        )
        data_info: dict[str, Any] = {
            "stream": True,
            "samples_per_epoch": config.samples,
            "b_rom_share": share,
            "b_unlimited_share": config.unlimited_share,
        }
        data_a: PoseDataset | StreamConfig = stream_a
        data_b: PoseDataset | StreamConfig = stream_b
        epochs_b = config.epochs
    else:
        log(f"everyday training poses: {config.samples} ({config.prior} priors)")
        everyday = _everyday(config.samples, seed, mix, config.tilt_sd_deg)
        log(f"augmenting them with '{config.motions}' (new random cameras)")
        rom = augment(everyday, motions, CamerasConfig(), seed=seed + 1 + 100 * config.b_seed)
        train_a, train_b = everyday, rom.dataset
        if config.keypoint_jitter:
            rng_a, rng_b = (np.random.default_rng(s) for s in np.random.SeedSequence([seed, _JITTER_STREAM]).spawn(2))
            limbs, keep = config.keypoint_jitter_limbs, config.keypoint_jitter_keep_distal
            train_a = jitter_keypoints(everyday, config.keypoint_jitter, rng_a, limbs, keep)
            train_b = jitter_keypoints(rom.dataset, config.keypoint_jitter, rng_b, limbs, keep)
        data_a, data_b = _lift_view(train_a), _concat(train_a, train_b)
        steps = int(np.ceil(len(data_a) * 0.95 / config.batch_size)) * config.epochs
        per_epoch_b = int(np.ceil(len(data_b) * 0.95 / config.batch_size))
        epochs_b = max(1, round(steps / per_epoch_b))
        data_info = {
            "everyday_train": len(data_a),
            "rom_augmented": len(rom.dataset),
            "b_train": len(data_b),
            "augment": {k: v for k, v in rom.summary.to_dict().items() if k != "angles"},
        }
    tests = {
        "everyday": _everyday(config.test_samples, seed + 1000, mix),
        "uncommon": _uncommon(config.test_samples, seed + 2000),
    }
    if config.prior != "independent":  # the earlier protocol's everyday set, to compare with its figures
        tests["everyday_independent"] = _everyday(config.test_samples, seed + 1000)

    base = dict(
        batch_size=config.batch_size,
        width=config.width,
        dropout=config.dropout,
        ema_decay=config.ema_decay,
        loss=config.loss,
        seed=seed,
        val_fraction=0.05,
        noise=NoiseConfig(
            sigma_px=config.noise_sigma_px, sigma_joints=BLAZEPOSE_SIGMA_JOINTS if config.detector_noise else None
        ),
    )
    runs: dict[str, tuple[PoseDataset | StreamConfig, int, int]] = {
        "everyday": (data_a, config.epochs, seed),
        "rom": (data_b, epochs_b, seed + config.b_seed),
    }
    if config.reference:
        log(f"uncommon training poses of reference model C: {config.samples}")
        runs["uncommon"] = (_lift_view(_uncommon(config.samples, seed + 3000, config.tilt_sd_deg)), config.epochs, seed)
    results: dict[str, Any] = {}
    for name, (data, epochs, train_seed) in runs.items():
        size = data.samples_per_epoch if isinstance(data, StreamConfig) else len(data)
        log(f"training model '{name}' on {size}{' fresh' if config.stream else ''} samples for {epochs} epochs")
        train = TrainConfig(epochs=epochs, **{**base, "seed": train_seed})
        if isinstance(data, StreamConfig):
            summary = train_stream(data, out / name, train, overwrite=True)
        else:
            summary = train_lifter(data, out / name, train, overwrite=True)
        lifter = load_lifter(out / name)
        results[name] = {
            "train_samples": size,
            "epochs": epochs,
            "train_seconds": summary.seconds,
            "tests": {t: evaluate_lifter(lifter, _lift_view(ds)).to_dict() for t, ds in tests.items()},
            "uncommon_by_activity": by_activity(lifter, tests["uncommon"]),
        }
    table = {}
    for t in tests:
        a = results["everyday"]["tests"][t]
        b = results["rom"]["tests"][t]
        table[t] = {
            "mpjpe_mm": {"a_everyday": a["mpjpe_mm"], "b_rom": b["mpjpe_mm"]},
            "p_mpjpe_mm": {"a_everyday": a["p_mpjpe_mm"], "b_rom": b["p_mpjpe_mm"]},
            "mpjpe_change": b["mpjpe_mm"] / a["mpjpe_mm"] - 1.0,
            "by_body_part_mm": {
                part: {
                    "a_everyday": mm,
                    "b_rom": b["by_body_part_mm"][part],
                    "mpjpe_change": b["by_body_part_mm"][part] / mm - 1.0,
                }
                for part, mm in a["by_body_part_mm"].items()
            },
        }
    per_activity = {
        name: {
            "poses": a["poses"], "mpjpe_mm": {"a_everyday": a["mpjpe_mm"], "b_rom": b["mpjpe_mm"]},
            "mpjpe_change": b["mpjpe_mm"] / a["mpjpe_mm"] - 1.0,
        }
        for (name, a), b in zip(
            results["everyday"]["uncommon_by_activity"].items(),
            results["rom"]["uncommon_by_activity"].values(), strict=True,
        )
    }  # fmt: skip
    reference = {}
    if "uncommon" in results:
        c = results["uncommon"]
        reference = {
            "mpjpe_mm": {t: c["tests"][t]["mpjpe_mm"] for t in tests},
            "mpjpe_change_vs_a": {
                t: c["tests"][t]["mpjpe_mm"] / results["everyday"]["tests"][t]["mpjpe_mm"] - 1.0 for t in tests
            },
            "by_body_part_mm": {t: c["tests"][t]["by_body_part_mm"] for t in tests},
            "uncommon_by_activity_mm": {k: v["mpjpe_mm"] for k, v in c["uncommon_by_activity"].items()},
        }
    real = real_scores(config.real, {n: load_lifter(out / n) for n in ("everyday", "rom")}) if config.real else {}
    shipped = {}
    if ship:
        for name in ("everyday", "rom"):
            folder = export_shipped(
                out / name,
                name,
                {
                    "made_by": "posesynth experiment rom --ship",
                    "experiment_config": config.model_dump(),
                    "role": "model A: everyday poses only"
                    if name == "everyday"
                    else "model B: everyday + ROM augmentation",
                    "table": table,
                },
            )
            lifter = load_lifter(folder)
            fp16 = {t: evaluate_lifter(lifter, _lift_view(ds)).mpjpe_mm for t, ds in tests.items()}
            shipped[name] = {
                "path": str(folder),
                "bytes": sum(f.stat().st_size for f in folder.iterdir()),
                "mpjpe_mm_float16": fp16,
                "float16_change_mm": {t: fp16[t] - results[name]["tests"][t]["mpjpe_mm"] for t in tests},
            }
    result = ExperimentResult(
        config=config,
        shipped=shipped,
        data={
            **data_info,
            "test_samples": {t: len(ds) for t, ds in tests.items()},
            **({"c_train": results["uncommon"]["train_samples"]} if reference else {}),
        },
        models=results,
        table=table,
        uncommon_by_activity=per_activity,
        reference=reference,
        real=real,
        goals={
            "uncommon_mpjpe_cut_at_least_40pct": table["uncommon"]["mpjpe_change"] <= -0.40,
            "everyday_mpjpe_at_most_5pct_worse": table["everyday"]["mpjpe_change"] <= 0.05,
            **real_goals(real),
        },
        seconds=round(time.perf_counter() - start, 1),
        checkpoints={
            "a": str(out / "everyday"),
            "b": str(out / "rom"),
            **({"c": str(out / "uncommon")} if reference else {}),
        },
    )
    write_bytes_atomic(
        out / "result.json", (json.dumps(to_jsonable(result.to_dict()), indent=2) + "\n").encode("ascii")
    )
    return result
