"""Fresh synthetic training data for the lifter, made inside the ``DataLoader`` workers.

:class:`SyntheticPoses` is a PyTorch ``IterableDataset`` (also reachable as
``posesynth.torch.SyntheticPoses``). It draws new samples every step, either procedural
(:func:`posesynth.jobs.generate.generate_shard`: whole-body poses within the range of motion,
one random camera each, projected) or augmented (:func:`posesynth.jobs.augment.augment_shard`
over random frames of a source data set: reposed by a motions file, viewed by new or the
source's cameras), and hands them out already shaped for
:class:`~posesynth.lift.model.SimpleBaseline`: ``x`` (n, 34) float32 noisy, normalised 2D
(:mod:`posesynth.lift.noise`, then :func:`posesynth.lift.normalize.normalise_inputs`) and
``y`` (n, 48) float32 standardised root-relative camera-frame 3D targets.

**Epochs, chunks, batches.** An epoch is ``steps = ceil(samples_per_epoch / batch_size)``
full batches. Samples are made in *chunks* of ``chunk_batches = max(1, chunk_samples //
batch_size)`` batches (the last chunk of an epoch holds the rest); one item of the dataset is
one chunk (:class:`StreamChunk`, ``x`` of ``k · batch_size`` rows), and :func:`iter_batches`
cuts chunks into optimiser batches. Chunks amortise the per-call cost of the generators
(measured: 4k samples/s at 64 samples per call, 36k/s at 4096).

**Random streams** (the determinism promise). Chunk ``k`` of epoch ``e`` (both 0-based
``k``, 1-based ``e``) is a pure function of the configuration and
``numpy.random.SeedSequence([seed, e, k])``: its first spawned child draws the poses and
cameras, its second seeds the ``torch.Generator`` of the 2D noise. The worker that makes a
chunk does not enter its seed: with ``W`` workers, worker ``w`` makes the chunks whose global
index (``(e - first_epoch) · chunks_per_epoch + k``) is ``w`` modulo ``W``, and the
``DataLoader`` returns workers' items round-robin, so the loader yields chunk 0, 1, 2, ... in
order whatever ``W`` is. Hence, promised and tested: **the same seed and configuration give
identical chunks, in the same order, across runs and for any number of workers (0, 1, 2...)**,
on one machine and software stack (the same NumPy, torch and posesynth); different epochs use
different streams, so no epoch sees the pose of another (the poses are continuous random
draws; an augmented stream reuses source frames, but each with its own reposing and camera).
``epoch = 0`` is reserved: ``SeedSequence([seed, 0, 0])`` draws the normalisation statistics
and ``SeedSequence([seed, 0, 1])`` the fixed, noise-free validation set.

**Normalisation statistics** are computed once, from a first draw of ``stats_samples`` clean
samples (stream ``[seed, 0, 0]``), before any worker starts, and travel to the workers with
the dataset; training stores them in the checkpoint (``normalization``), so a resumed run and
every prediction use the same ones.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from posesynth.body.skeleton import get_skeleton
from posesynth.data.dataset import PoseDataset
from posesynth.data.keypoint_jitter import jitter_keypoints
from posesynth.jobs.augment import AugmentPlan, augment_shard, make_plan
from posesynth.jobs.augment_source import read_source
from posesynth.jobs.camera_config import CamerasConfig, load_cameras_config
from posesynth.jobs.generate import GenerateConfig, generate_shard
from posesynth.jobs.shards import ShardTask
from posesynth.lift.data import NUM_JOINTS, check_h36m17
from posesynth.lift.noise import NoiseConfig, apply_noise
from posesynth.lift.normalize import (
    NormStats,
    compute_stats,
    normalise_inputs,
    targets_from_3d,
)
from posesynth.poses.motion_spec import MotionsConfig, load_motions
from posesynth.util.yaml_config import load_model

__all__ = [
    "AugmentStream",
    "StreamChunk",
    "StreamConfig",
    "SyntheticPoses",
    "as_stream_config",
    "chunk_seed",
    "iter_batches",
    "load_stream_config",
]

#: Keys of a generate config the stream sets itself.
_STREAM_OWNED = ("samples", "seed", "shard_size")
#: A chunk gives up when this many draws in a row yield no usable sample.
MAX_EMPTY_DRAWS = 50
#: spawn-key suffix of the keypoint-jitter draws (a child the generators never spawn)
_JITTER_KEY = 0x4A17
#: spawn-key suffix of the rom_share part's draws (source poses, reposing, mixing)
_ROM_KEY = 0x50F
#: spawn-key suffix of the unlimited_share part's draws (its poses, mixing)
_UNLIMITED_KEY = 0x0F11


class AugmentStream(BaseModel):
    """An augmented stream: random frames of ``source`` reposed by ``motions``.

    Attributes:
        source: a data set with 3D (any format ``posesynth augment`` reads), Human3.6M-17.
        motions: a motions YAML file or a preset name (``seed-knee``, ``full-rom``).
        cameras: new random cameras (a mapping of :class:`~posesynth.jobs.augment.CamerasConfig`
            fields, ``{}`` for the defaults, or a cameras YAML path); None keeps the source's
            cameras (then the source must have cameras and world 3D).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    motions: str = "full-rom"
    cameras: CamerasConfig | str | None = None


class StreamConfig(BaseModel):
    """The streamed training data (YAML: ``posesynth train --stream FILE``).

    Exactly one of ``generate`` (a ``posesynth generate`` config without ``samples``,
    ``seed`` and ``shard_size``) and ``augment`` (:class:`AugmentStream`); neither means the
    default procedural generator.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    samples_per_epoch: int = Field(100_000, ge=1, description="samples per epoch (rounded up to whole batches)")
    workers: int = Field(2, ge=0, le=64, description="DataLoader worker processes (0: in the training process)")
    seed: int | None = Field(None, ge=0, description="data seed; None: the training seed")
    chunk_samples: int = Field(
        8192, ge=1, description="samples made per generator call (rounded down to whole batches)"
    )
    prefetch: int = Field(4, ge=1, description="chunks each worker keeps ready")
    stats_samples: int = Field(50_000, ge=2, description="clean samples drawn once for the normalisation statistics")
    val_samples: int = Field(5_000, ge=0, description="fixed noise-free validation samples")
    rom_share: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="share of each procedural chunk made of freshly generated poses reposed by rom_motions "
        "(the ROM experiment's augmentation, on fresh data); 0: generated poses only",
    )
    rom_motions: str = Field("full-rom", description="motions preset or YAML file of the rom_share part")
    unlimited_share: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="share of each procedural chunk drawn from generate's activity priors without its "
        "angle_limits_deg (the priors' own ranges: whole movements over the full range, not reposed); "
        "0: none",
    )
    keypoint_jitter: float = Field(
        0.0,
        ge=0,
        le=0.1,
        description="random keypoint definition per sample, 2D and 3D alike: offset sd as a fraction of body "
        "height (data.keypoint_jitter; 0: posesynth's joint centres)",
    )
    keypoint_jitter_limbs: float = Field(
        1.0,
        ge=0,
        le=1,
        description="the keypoint jitter of the elbows, wrists, knees and feet, a factor of keypoint_jitter "
        "(body.definitions.LIMB_ENDS)",
    )
    keypoint_jitter_keep_distal: bool = Field(
        False,
        description="under the keypoint jitter the forearms and shanks keep their lengths "
        "(body.definitions.keep_lengths)",
    )
    generate: GenerateConfig | None = None
    augment: AugmentStream | None = None

    @field_validator("generate", mode="before")
    @classmethod
    def _generate(cls, v: Any) -> Any:
        if isinstance(v, Mapping):
            owned = [k for k in _STREAM_OWNED if k in v]
            if owned:
                raise ValueError(f"{owned} are set by the stream (samples_per_epoch, seed); remove them")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> StreamConfig:
        if self.generate is not None and self.augment is not None:
            raise ValueError("expected one of 'generate' and 'augment', got both")
        if self.generate is not None:
            check_h36m17(get_skeleton(self.generate.skeleton), "generate.skeleton")
        for name in ("rom_share", "unlimited_share"):
            if getattr(self, name) and self.augment is not None:
                raise ValueError(f"{name}: applies to procedural streams ('generate'), not to 'augment'")
        if self.rom_share + self.unlimited_share >= 1:
            raise ValueError(
                f"rom_share + unlimited_share: expected a sum below 1 (some plain generated poses), "
                f"got {self.rom_share} + {self.unlimited_share}"
            )
        return self

    @property
    def kind(self) -> str:
        """``"augment"`` or ``"generate"``."""
        return "augment" if self.augment is not None else "generate"


def load_stream_config(path: Path | str | None = None, **overrides: Any) -> StreamConfig:
    """A :class:`StreamConfig` from an optional YAML file plus overrides (``None`` ignored);
    errors name the file, the line and the field."""
    return load_model(StreamConfig, path, overrides, what="stream config")


def as_stream_config(config: StreamConfig | Mapping[str, Any] | Path | str) -> StreamConfig:
    """``config`` as a :class:`StreamConfig`: itself, validated from a mapping, or read from YAML."""
    if isinstance(config, StreamConfig):
        return config
    if isinstance(config, (str, Path)):
        return load_stream_config(config)
    if isinstance(config, Mapping):
        return load_model(StreamConfig, data=config, what="stream config")
    raise ValueError(f"stream config: expected a StreamConfig, a mapping or a YAML path, got {type(config).__name__}")


def chunk_seed(seed: int, epoch: int, chunk: int) -> np.random.SeedSequence:
    """The random stream of chunk ``chunk`` of epoch ``epoch`` (0: statistics / validation)."""
    return np.random.SeedSequence([seed, epoch, chunk])


# -- sources: (seed sequence, n) -> clean 2D px (n, 17, 2) and camera 3D m (n, 17, 3) ---------------


@dataclass(frozen=True)
class _Jitter:
    """The stream's random keypoint definitions (``keypoint_jitter*`` of :class:`StreamConfig`)."""

    sigma: float = 0.0
    limbs: float = 1.0
    keep_distal: bool = False

    def apply(self, dataset: PoseDataset, seq: np.random.SeedSequence) -> PoseDataset:
        """``dataset`` in random keypoint definitions; their draws come from a child of ``seq``
        that the generators never use, so a jitter of 0 leaves every other draw as it was."""
        if self.sigma == 0:
            return dataset
        child = np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, _JITTER_KEY))
        return jitter_keypoints(dataset, self.sigma, np.random.default_rng(child), self.limbs, self.keep_distal)


@dataclass(frozen=True, eq=False)
class _Procedural:
    config: GenerateConfig
    jitter: _Jitter = _Jitter()
    rom_share: float = 0.0
    rom_motions: MotionsConfig | None = None
    unlimited_share: float = 0.0

    def make(self, seq: np.random.SeedSequence, n: int) -> tuple[np.ndarray, np.ndarray]:
        n_unlimited = round(n * self.unlimited_share)
        if n_unlimited == 0:
            return self._limited(seq, n)
        # Its own children: with unlimited_share 0 every other draw is as it was.
        own, mix = (
            np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, _UNLIMITED_KEY, i)) for i in range(2)
        )
        unlimited = self.config.model_copy(update={"angle_limits_deg": {}})
        parts = [self._limited(seq, n - n_unlimited)] if n > n_unlimited else []
        parts.append(_lift_pair(self.jitter.apply(generate_shard(unlimited, own, n_unlimited), own)))
        return _shuffled(parts, mix)

    def _limited(self, seq: np.random.SeedSequence, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` samples within the config's limits: plain, and the rom_share part reposed."""
        n_rom = round(n * self.rom_share / (1.0 - self.unlimited_share))
        if n_rom == 0 or self.rom_motions is None:
            return _lift_pair(self.jitter.apply(generate_shard(self.config, seq, n), seq))
        # Children under their own keys: the plain part (rom_share 0) keeps drawing from seq itself.
        src_seq, aug_seq, mix_seq = (
            np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, _ROM_KEY, i)) for i in range(3)
        )
        parts = []
        if n > n_rom:  # a small remainder of a chunk may be all reposed
            parts.append(_lift_pair(self.jitter.apply(generate_shard(self.config, seq, n - n_rom), seq)))
        sources = math.ceil(n_rom / self.rom_motions.variants)
        plan = make_plan(generate_shard(self.config, src_seq, sources), self.rom_motions, CamerasConfig())
        assert not isinstance(plan.rows, str)  # make_plan keeps the rows in memory
        reposed = augment_shard(plan, ShardTask(0, len(plan.rows["frame_index"]), aug_seq, 0)).dataset
        if reposed is not None:
            parts.append(_lift_pair(self.jitter.apply(reposed, aug_seq)))
        if not parts:  # every copy rejected and no plain part: _draw asks again
            return _lift_pair(None)
        return _shuffled(parts, mix_seq)


@dataclass(frozen=True, eq=False)
class _Augmented:
    plan: AugmentPlan
    per_frame: int  # samples one source frame yields before rejections (variants × cameras)
    jitter: _Jitter = _Jitter()

    def make(self, seq: np.random.SeedSequence, n: int) -> tuple[np.ndarray, np.ndarray]:
        pick, shard = seq.spawn(2)
        rows = self.plan.rows  # in memory: _make_source builds the plan with make_plan
        assert not isinstance(rows, str)  # make_plan keeps the rows in memory, never a folder
        frames = max(1, math.ceil(n / self.per_frame))
        idx = np.sort(np.random.default_rng(pick).integers(0, len(rows["frame_index"]), frames))
        plan = replace(self.plan, rows={k: v[idx] for k, v in rows.items()})
        made: Any = augment_shard(plan, ShardTask(0, frames, shard, 0))
        # a shard result holds a PoseDataset (``dataset``, None when all was rejected) or
        # store ``arrays``: accept either, the jobs layer has used both
        made = getattr(made, "dataset", None) if hasattr(made, "dataset") else made.arrays
        if isinstance(made, PoseDataset):
            made = self.jitter.apply(made, seq)
        return _lift_pair(made)


def _shuffled(parts: list[tuple[np.ndarray, np.ndarray]], seq: np.random.SeedSequence) -> tuple[np.ndarray, np.ndarray]:
    """The ``(2D, 3D)`` parts of a chunk concatenated, in one random order drawn from ``seq``,
    so every batch mixes them."""
    uv = np.concatenate([p[0] for p in parts])
    p3 = np.concatenate([p[1] for p in parts])
    order = np.random.default_rng(seq).permutation(len(uv))
    return uv[order], p3[order]


def _lift_pair(made: Any) -> tuple[np.ndarray, np.ndarray]:
    """2D px (n, 17, 2) and camera 3D m (n, 17, 3) of a shard: a PoseDataset, store arrays,
    or None (nothing kept)."""
    if made is None or (isinstance(made, Mapping) and "joints_2d" not in made):
        return np.zeros((0, NUM_JOINTS, 2)), np.zeros((0, NUM_JOINTS, 3))
    if isinstance(made, Mapping):
        uv, p = made["joints_2d"], made["joints_3d_camera"]
    else:
        uv, p = made.joints_2d, made.joints_3d_camera
    return np.asarray(uv)[:, :NUM_JOINTS], np.asarray(p)[:, :NUM_JOINTS]


def _jitter_of(config: StreamConfig) -> _Jitter:
    return _Jitter(config.keypoint_jitter, config.keypoint_jitter_limbs, config.keypoint_jitter_keep_distal)


def _make_source(config: StreamConfig) -> _Procedural | _Augmented:
    if config.augment is None:
        rom = None
        if config.rom_share:
            rom = load_motions(config.rom_motions, get_skeleton((config.generate or GenerateConfig()).skeleton))
        return _Procedural(
            config.generate or GenerateConfig(), _jitter_of(config), config.rom_share, rom, config.unlimited_share
        )
    aug = config.augment
    dataset = read_source(aug.source)
    where = f"stream augment.source {aug.source}"
    check_h36m17(dataset.skeleton, where)
    motions = load_motions(aug.motions, dataset.skeleton)
    cameras = load_cameras_config(aug.cameras) if isinstance(aug.cameras, str) else aug.cameras
    plan = make_plan(dataset, motions, cameras)
    if plan.camera_mode == "none":
        raise ValueError(
            f"{where}: has no cameras (or no world 3D) to project the reposed poses with; "
            "give augment.cameras ({} for new random cameras)"
        )
    per_pose = cameras.count if plan.camera_mode == "new" and cameras is not None else plan.rig_size
    return _Augmented(plan, motions.variants * per_pose, _jitter_of(config))


def _draw(source: _Procedural | _Augmented, seq: np.random.SeedSequence, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Exactly ``n`` usable samples (finite, 2D box of positive size): float32 2D (n, 17, 2)
    px and float64 camera 3D (n, 17, 3) m. Attempt ``i`` draws from child ``i`` of ``seq``
    until enough are usable (most sources need one attempt)."""
    uvs, ps, have, empty = [], [], 0, 0
    for attempt in itertools.count():
        child = np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, attempt))
        uv, p = source.make(child, n - have)
        uv = np.asarray(uv, dtype=np.float32)
        p = np.asarray(p, dtype=np.float64)
        ok = np.isfinite(uv).all(axis=(1, 2)) & np.isfinite(p).all(axis=(1, 2))
        with np.errstate(invalid="ignore"):
            ok &= np.nan_to_num(np.ptp(uv, axis=1).max(axis=-1)) > 0
        take = np.flatnonzero(ok)[: n - have]
        uvs.append(uv[take])
        ps.append(p[take])
        have += len(take)
        empty = empty + 1 if len(take) == 0 else 0
        if have >= n:
            break
        if empty >= MAX_EMPTY_DRAWS:
            raise ValueError(
                f"stream: {MAX_EMPTY_DRAWS} draws in a row gave no usable sample (every variant rejected "
                "by the ROM or collision checks, or projected to nothing); loosen the motions"
            )
    return np.concatenate(uvs), np.concatenate(ps)


class StreamChunk(NamedTuple):
    """One item of :class:`SyntheticPoses`: whole batches of one epoch.

    Attributes:
        epoch: 1-based epoch; index: 0-based chunk of that epoch.
        x: (k · batch_size, 34) float32 noisy normalised 2D inputs.
        y: (k · batch_size, 48) float32 standardised root-relative camera-frame 3D targets.
    """

    epoch: int
    index: int  # type: ignore[assignment]  # the field shadows tuple.index on purpose (public name)
    x: torch.Tensor
    y: torch.Tensor


class SyntheticPoses(IterableDataset):
    """Fresh procedural or augmented lifter samples every step (see the module docstring).

    Args:
        config: a :class:`StreamConfig`, a mapping of its fields, or a YAML path.
        batch_size: optimiser batch size (an epoch is ``ceil(samples_per_epoch / batch_size)``
            full batches).
        noise: 2D noise applied to every training sample (default none).
        stats: normalisation statistics to use (a resumed run's); None draws them
            (stream ``[seed, 0, 0]``, ``config.stats_samples`` samples).
        seed: the data seed; None uses ``config.seed``, and 0 if that is None too.
        first_epoch: the 1-based epoch the iteration starts at.
        epochs: the last epoch iterated (inclusive); None iterates without end.

    Raises:
        ValueError: a bad configuration, an unreadable or unusable augment source.
    """

    def __init__(
        self,
        config: StreamConfig | Mapping[str, Any] | Path | str,
        *,
        batch_size: int = 64,
        noise: NoiseConfig | None = None,
        stats: NormStats | None = None,
        seed: int | None = None,
        first_epoch: int = 1,
        epochs: int | None = None,
    ) -> None:
        super().__init__()
        config = as_stream_config(config)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
            raise ValueError(f"batch_size: expected an integer >= 2 (BatchNorm needs two), got {batch_size!r}")
        if first_epoch < 1 or (epochs is not None and epochs < first_epoch):
            raise ValueError(f"epochs: expected 1 <= first_epoch <= epochs, got {first_epoch} and {epochs}")
        self.config: StreamConfig = config
        self.seed = seed if seed is not None else (config.seed or 0)
        self.batch_size = batch_size
        self.noise = noise or NoiseConfig()
        self.first_epoch, self.epochs = first_epoch, epochs
        self.steps_per_epoch = math.ceil(config.samples_per_epoch / batch_size)
        self.chunk_batches = max(1, config.chunk_samples // batch_size)
        self.chunks_per_epoch = math.ceil(self.steps_per_epoch / self.chunk_batches)
        self.source = _make_source(config)
        if stats is None:
            uv, p = _draw(self.source, chunk_seed(self.seed, 0, 0), config.stats_samples)
            stats = compute_stats(uv, p)
        self.stats = stats

    @property
    def samples_per_epoch(self) -> int:
        """Samples an epoch really has: whole batches."""
        return self.steps_per_epoch * self.batch_size

    def validation(self) -> tuple[np.ndarray, np.ndarray]:
        """The fixed noise-free validation set (stream ``[seed, 0, 1]``): 2D (M, 17, 2) px
        float32 and camera-frame 3D (M, 17, 3) m float64, ``M = config.val_samples``."""
        if self.config.val_samples == 0:
            return np.zeros((0, NUM_JOINTS, 2), np.float32), np.zeros((0, NUM_JOINTS, 3))
        return _draw(self.source, chunk_seed(self.seed, 0, 1), self.config.val_samples)

    def chunk(self, epoch: int, index: int) -> StreamChunk:
        """Chunk ``index`` of epoch ``epoch``: a pure function of the configuration, the seed,
        the statistics, the noise and ``(epoch, index)``."""
        if epoch < 1 or not 0 <= index < self.chunks_per_epoch:
            raise ValueError(
                f"chunk: expected epoch >= 1 and 0 <= index < {self.chunks_per_epoch}, got {epoch}, {index}"
            )
        batches = min(self.chunk_batches, self.steps_per_epoch - index * self.chunk_batches)
        n = batches * self.batch_size
        data_seq, noise_seq = chunk_seed(self.seed, epoch, index).spawn(2)
        uv, p = _draw(self.source, data_seq, n)
        g = torch.Generator().manual_seed(int(noise_seq.generate_state(1, np.uint64)[0] >> np.uint64(1)))
        st = self.stats
        with torch.no_grad():
            noisy = apply_noise(torch.from_numpy(uv), self.noise, g)
            x = normalise_inputs(noisy, torch.from_numpy(st.input_mean).float(), torch.from_numpy(st.input_std).float())
            y = (targets_from_3d(torch.from_numpy(p)) - torch.from_numpy(st.target_mean)) / torch.from_numpy(
                st.target_std
            )
        return StreamChunk(epoch, index, x.contiguous(), y.float().contiguous())

    def _global_chunks(self) -> Iterator[tuple[int, int]]:
        for g in itertools.count():
            epoch = self.first_epoch + g // self.chunks_per_epoch
            if self.epochs is not None and epoch > self.epochs:
                return
            yield epoch, g % self.chunks_per_epoch

    def __iter__(self) -> Iterator[StreamChunk]:
        info = get_worker_info()
        workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
        for epoch, index in itertools.islice(self._global_chunks(), worker, None, workers):
            yield self.chunk(epoch, index)

    def loader(self, workers: int | None = None, *, pin_memory: bool = False) -> DataLoader:
        """A ``DataLoader`` over this dataset yielding :class:`StreamChunk` items in order
        (``workers`` default ``config.workers``; each keeps ``config.prefetch`` chunks ready)."""
        w = self.config.workers if workers is None else workers
        if w < 0:
            raise ValueError(f"workers: expected >= 0, got {w}")
        extra: dict[str, Any] = {"prefetch_factor": self.config.prefetch} if w > 0 else {}
        return DataLoader(self, batch_size=None, num_workers=w, pin_memory=pin_memory, **extra)

    def describe(self) -> dict[str, Any]:
        """JSON-safe provenance for a checkpoint: the configuration and the derived sizes."""
        return {
            "kind": self.config.kind,
            "config": _config_record(self.config),
            "seed": self.seed,
            "batch_size": self.batch_size,
            "samples_per_epoch": self.samples_per_epoch,
            "steps_per_epoch": self.steps_per_epoch,
            "chunk_batches": self.chunk_batches,
            "seed_streams": "chunk k of epoch e: SeedSequence([seed, e, k]); statistics [seed, 0, 0]; validation [seed, 0, 1]",
        }


def _config_record(config: StreamConfig) -> dict[str, Any]:
    """``config`` as JSON with the generate settings spelled out (defaults included) and
    without the keys the stream owns, so ``StreamConfig(**record)`` rebuilds it."""
    doc = config.model_dump(mode="json")
    if config.keypoint_jitter_limbs == 1.0:  # records written before the field keep their bytes
        doc.pop("keypoint_jitter_limbs")
    if not config.keypoint_jitter_keep_distal:
        doc.pop("keypoint_jitter_keep_distal")
    if config.kind == "generate":
        doc["generate"] = (config.generate or GenerateConfig()).model_dump(mode="json", exclude=set(_STREAM_OWNED))
    return doc


def iter_batches(chunks: Iterator[StreamChunk], batch_size: int) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """``(epoch, x, y)`` optimiser batches of ``batch_size`` rows cut from ``chunks`` (views)."""
    for chunk in chunks:
        for start in range(0, len(chunk.x), batch_size):
            yield chunk.epoch, chunk.x[start : start + batch_size], chunk.y[start : start + batch_size]
