"""The declarative motions file (YAML) of ``posesynth augment``: schema, validation, presets.

Example (``examples/motions/knee-rom.yaml``)::

    variants: 4            # augmented copies of every source frame
    rom: reject            # reject | clamp | off: what to do with poses outside the ROM
                           # (clamp: angles clamped into range; a pose that still reads
                           # out of range, e.g. a limb clamped straight, is rejected)
    collisions: reject     # reject | off: limb-limb interpenetration check
    motions:               # applied in this order
      - angle: knee_flexion          # base name (both sides) or sided (right_knee_flexion)
        side: both                   # both | left | right (sided angles only)
        distribution: uniform        # uniform | normal | activity
        range_deg: [0, 150]
        probability: 1.0
        mode: set                    # set | add (relative to the source angle)
    bilateral:             # both sides alike: with this probability the left side
      probability: 0.5     # takes the right side's draws (default 0: off)
    hand_targets:          # per arm, with this probability the hand reaches for a target
      probability: 0.5     # on or around the body (default 0: off; weights per target)
    bone_scale:            # per segment: uniform factor range, both sides alike
      thigh: [0.95, 1.05]
    global_rotation:
      yaw_deg: [-180, 180]

Errors name the file, the line and the field. With ``rom`` other than ``off``, a motion that
asks for angles outside the range of motion is refused up front.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from posesynth.body.rom import base_angle_name, rom_table
from posesynth.body.skeleton import Skeleton
from posesynth.poses.hand_targets import TARGETS
from posesynth.poses.procedural import ACTIVITIES
from posesynth.util.checks import check_weights
from posesynth.util.yaml_config import describe, line_of, read_mapping

#: Bone-scale segment name → the joints whose incoming bone it scales.
SEGMENTS: dict[str, tuple[str, ...]] = {
    "thigh": ("right_knee", "left_knee"),
    "shank": ("right_foot", "left_foot"),
    "upper_arm": ("right_elbow", "left_elbow"),
    "forearm": ("right_wrist", "left_wrist"),
    "pelvis": ("right_hip", "left_hip"),
    "shoulders": ("right_shoulder", "left_shoulder"),
    "lower_trunk": ("spine",),
    "upper_trunk": ("thorax",),
    "neck": ("neck_base",),
    "head": ("head",),
}


#: Largest angle (or spread) a motion may name, in degrees: two full turns.
MAX_ABS_DEG = 720.0


class Motion(BaseModel):
    """One angle change, drawn per augmented pose."""

    # NaN, inf and 1e300 degrees would overflow the samplers (reliability audit F15)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    angle: str
    side: Literal["both", "left", "right"] = "both"
    distribution: Literal["uniform", "normal", "activity"] = "uniform"
    range_deg: tuple[float, float] | None = None
    mean_deg: float | None = None
    sd_deg: float | None = Field(None, ge=0)
    activity: str | None = None
    probability: float = Field(1.0, ge=0, le=1)
    mode: Literal["set", "add"] = "set"

    @model_validator(mode="after")
    def _parameters(self) -> Motion:
        for name in ("range_deg", "mean_deg", "sd_deg"):
            value = getattr(self, name)
            if value is not None and np.max(np.abs(value)) > MAX_ABS_DEG:
                raise ValueError(f"{name}: expected degrees within +-{MAX_ABS_DEG}, got {value}")
        if self.distribution == "uniform":
            if self.range_deg is None:
                raise ValueError("distribution 'uniform' needs range_deg: [min, max]")
            if self.range_deg[0] > self.range_deg[1]:
                raise ValueError(f"range_deg: expected [min, max] with min <= max, got {list(self.range_deg)}")
        elif self.distribution == "normal":
            if self.mean_deg is None or self.sd_deg is None:
                raise ValueError("distribution 'normal' needs mean_deg and sd_deg")
        elif (
            self.activity not in ACTIVITIES or self.activity == "rom" or not isinstance(ACTIVITIES[self.activity], dict)
        ):
            # a coupled prior (posesynth.poses.prior) has no per-angle law to draw one angle from
            choices = sorted(a for a, p in ACTIVITIES.items() if isinstance(p, dict) and a != "rom")
            raise ValueError(f"activity: expected one of {choices}, got {self.activity!r}")
        else:
            prior = ACTIVITIES[self.activity]
            assert isinstance(prior, dict)  # checked just above
            base = base_angle_name(self.angle)
            spec = prior.get(base) or prior.get(f"lead_{base}") or prior.get(f"trail_{base}")
            if spec is not None and spec[0] == "follow":
                raise ValueError(
                    f"activity: {self.activity!r} draws {base} relative to {spec[1]} (a 'follow' prior), "
                    "which one motion cannot draw on its own; use distribution uniform or normal"
                )
        return self

    def targets(self, skeleton: Skeleton) -> list[str]:
        """The sided angle names this motion moves on ``skeleton``."""
        table = rom_table(skeleton)
        if self.angle in table:
            return [self.angle]
        names = [n for n in table if base_angle_name(n) == self.angle]
        if not names:
            raise ValueError(
                f"angle: unknown {self.angle!r} for skeleton {skeleton.name!r}; expected one of {sorted(set(map(base_angle_name, table)))}"
            )
        if self.side != "both":
            names = [n for n in names if n.startswith(self.side + "_")] or names
        return names

    def draw(self, rng: np.random.Generator, n: int, name: str) -> np.ndarray:
        """``n`` values (radians) for angle ``name``."""
        if self.distribution == "uniform":
            assert self.range_deg is not None  # checked by _parameters (the model is frozen)
            return np.deg2rad(rng.uniform(self.range_deg[0], self.range_deg[1], n))
        if self.distribution == "normal":
            assert self.mean_deg is not None and self.sd_deg is not None  # checked by _parameters
            return np.deg2rad(rng.normal(self.mean_deg, self.sd_deg, n))
        assert self.activity is not None  # checked by _parameters: a known activity
        prior = ACTIVITIES[self.activity]
        assert isinstance(prior, dict)  # checked by _parameters: not a coupled prior
        base = base_angle_name(name)
        spec = prior.get(base) or prior.get(f"lead_{base}") or prior.get(f"trail_{base}")
        if spec is None:
            return np.zeros(n)
        kind, a, b = spec
        a = cast(float, a)  # uniform and normal priors: a number (a follow prior names an angle)
        return np.deg2rad(rng.uniform(a, b, n) if kind == "uniform" else rng.normal(a, b, n))

    def support_deg(self) -> tuple[float, float] | None:
        """Smallest and largest value (degrees) the motion can ask for, if bounded."""
        if self.mode == "add":
            return None
        if self.distribution == "uniform":
            return self.range_deg
        return None


class GlobalRotation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    yaw_deg: tuple[float, float] = (0.0, 0.0)


class SideBend(BaseModel):
    """The upper body (trunk, head and arms) turned sideways about the pelvis, the legs kept
    (:func:`posesynth.poses.motions.bend_sideways`): with ``probability``, by U(``range_deg``).

    What a pelvis tilted sideways over spread legs shows in keypoints (real people leaning to
    one side, docs/real-people.md round 7). It is a rotation of joint positions, not an angle of
    the ROM table, so ``rom`` does not judge it; ``collisions`` does.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    range_deg: tuple[float, float] = (0.0, 0.0)
    probability: float = Field(1.0, ge=0, le=1)

    @field_validator("range_deg")
    @classmethod
    def _range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not -90 <= v[0] <= v[1] <= 90:
            raise ValueError(f"expected -90 <= min <= max <= 90 degrees, got {list(v)}")
        return v

    @property
    def active(self) -> bool:
        return self.probability > 0 and self.range_deg != (0.0, 0.0)


class Bilateral(BaseModel):
    """Both sides moved alike: with ``probability``, a pose's left-side angles take the draws of
    its right side (the value, and whether the motion applies), per motion of both sides.

    Independent draws rarely bend both sides far at once (both knees past 95° with both hips
    past 75° in 0.6 % of ``full-rom``'s poses), while squats, kneeling and jumps do
    (docs/real-people.md, round 9). Anatomical angles are signed alike on both sides, so equal
    values give mirror-image limbs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    probability: float = Field(0.0, ge=0, le=1)

    @property
    def active(self) -> bool:
        return self.probability > 0


class HandTargets(BaseModel):
    """Hands moved to targets on or around the body (:func:`posesynth.poses.hand_targets.reach_targets`):
    per arm, with ``probability``, a target drawn by ``weights`` (names of
    :data:`~posesynth.poses.hand_targets.TARGETS`: the knees, feet, hips, head, chest; forward,
    out to the side, overhead). Two-bone inverse kinematics places the elbow and wrist; an arm
    that would leave its range of motion keeps its pose, whatever ``rom`` says. Applied after
    the angle motions.

    Angle draws move each arm on its own, so reposed bodies rarely hold a foot, rest their hands
    on their knees or spread their arms to balance (docs/real-people.md, round 12).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    probability: float = Field(0.0, ge=0, le=1)
    weights: dict[str, float] = Field(default_factory=lambda: dict.fromkeys(TARGETS, 1.0))
    offset_sd_m: float = Field(0.05, ge=0, le=0.5)
    swivel_deg: float = Field(45.0, ge=0, le=180)

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        return check_weights(v, TARGETS, "targets")

    @property
    def active(self) -> bool:
        return self.probability > 0


def _factor_range(v: tuple[float, float]) -> tuple[float, float]:
    if not 0 < v[0] <= v[1]:
        raise ValueError(f"expected 0 < min <= max, got {list(v)}")
    return v


def _off_is_not_false(v: Any) -> Any:
    """YAML 1.1 reads an unquoted ``off`` as false; take it as the word that was written."""
    return "off" if v is False else v


if TYPE_CHECKING:
    Segment = str  # a static type; at run time the Literal of SEGMENTS, which pydantic checks
else:
    Segment = Literal[tuple(SEGMENTS)]
FactorRange = Annotated[tuple[float, float], AfterValidator(_factor_range)]


class MotionsConfig(BaseModel):
    """A whole motions file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    variants: int = Field(1, ge=1, le=10_000)
    rom: Annotated[Literal["reject", "clamp", "off"], BeforeValidator(_off_is_not_false)] = "reject"
    collisions: Annotated[Literal["reject", "off"], BeforeValidator(_off_is_not_false)] = "reject"
    motions: list[Motion] = Field(default_factory=list)
    bone_scale: dict[Segment, FactorRange] = Field(default_factory=dict)
    global_rotation: GlobalRotation = Field(default_factory=GlobalRotation)
    side_bend: SideBend = Field(default_factory=SideBend)
    bilateral: Bilateral = Field(default_factory=Bilateral)
    hand_targets: HandTargets = Field(default_factory=HandTargets)

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # inactive fields added later are left out, so files written before them keep their bytes
        data: dict[str, Any] = handler(self)
        if not self.side_bend.active:
            data.pop("side_bend", None)
        if not self.bilateral.active:
            data.pop("bilateral", None)
        if not self.hand_targets.active:
            data.pop("hand_targets", None)
        return data

    extra_keypoints: bool = False

    def check(self, skeleton: Skeleton) -> None:
        """Raise if a motion names an unknown angle, or leaves the ROM while ``rom`` is enforced."""
        table = rom_table(skeleton)
        for k, m in enumerate(self.motions):
            try:
                names = m.targets(skeleton)
            except ValueError as exc:
                raise ValueError(f"motions[{k}]: {exc}") from None
            for name in names:
                support = m.support_deg()
                r = table[name]
                if self.rom != "off" and support and (support[0] < r.min_deg - 1e-9 or support[1] > r.max_deg + 1e-9):
                    raise ValueError(
                        f"motions[{k}]: {name} range {list(support)} deg leaves the range of motion "
                        f"[{r.min_deg}, {r.max_deg}] deg while rom is {self.rom!r}"
                    )


#: Built-in presets usable as ``--motions NAME``.
PRESETS: dict[str, dict[str, Any]] = {
    # The seed's experiment: both knees over 0-150 deg of flexion, feet following.
    "seed-knee": {
        "variants": 1,
        "rom": "off",
        "collisions": "off",
        "motions": [{"angle": "knee_flexion", "side": "both", "distribution": "uniform", "range_deg": [0, 150]}],
    },
    # Hip flexion and abduction, knee, shoulder elevation, elbow and spine flexion over their full
    # ranges, both sides, with ROM and collision checks (hip and shoulder rotation and the shoulder
    # plane stay as in the source pose).
    "full-rom": {
        "variants": 4,
        "rom": "reject",
        "collisions": "reject",
        "motions": [
            {"angle": "hip_flexion", "distribution": "uniform", "range_deg": [-30, 120], "probability": 0.7},
            {"angle": "hip_abduction", "distribution": "uniform", "range_deg": [-20, 45], "probability": 0.5},
            {"angle": "knee_flexion", "distribution": "uniform", "range_deg": [0, 150]},
            {"angle": "shoulder_elevation", "distribution": "uniform", "range_deg": [0, 180], "probability": 0.5},
            {"angle": "elbow_flexion", "distribution": "uniform", "range_deg": [0, 150], "probability": 0.5},
            {"angle": "spine_flexion", "distribution": "uniform", "range_deg": [-15, 50], "probability": 0.5},
        ],
    },
}
# full-rom, and half of the reposed poses bent sideways at the pelvis by up to 40 deg either way
# (people leaning to one side over their legs; docs/real-people.md, round 7).
PRESETS["full-rom-lean"] = {**PRESETS["full-rom"], "side_bend": {"range_deg": [-40, 40], "probability": 0.5}}
# full-rom-lean, with half of the poses moved alike on both sides (squats, kneeling: round 9)
PRESETS["full-rom-pair"] = {**PRESETS["full-rom-lean"], "bilateral": {"probability": 0.5}}
# full-rom-pair, and half of the poses with the hips rotated and the arms raised in any plane
# (round 9's three levers together; the shipped rom of round 11)
PRESETS["full-rom-pair-wide"] = {
    **PRESETS["full-rom-pair"],
    "motions": [
        *PRESETS["full-rom-pair"]["motions"],
        {"angle": "hip_rotation", "distribution": "uniform", "range_deg": [-45, 45], "probability": 0.5},
        {"angle": "shoulder_plane", "distribution": "uniform", "range_deg": [-45, 180], "probability": 0.5},
    ],
}
# full-rom-pair-wide, and one arm in two reaching for a target on or around the body: the
# knees, feet, hips, head, chest; forward, to the side, overhead (round 12)
PRESETS["full-rom-hands"] = {**PRESETS["full-rom-pair-wide"], "hand_targets": {"probability": 0.5}}


def load_motions(spec: str | Path, skeleton: Skeleton) -> MotionsConfig:
    """A validated :class:`MotionsConfig` from a preset name or a YAML file."""
    source = str(spec)
    node = None
    if source in PRESETS:
        data = PRESETS[source]
    else:
        try:
            data, node = read_mapping(spec, "motions")
        except ValueError as exc:
            raise ValueError(f"{exc}; presets are {sorted(PRESETS)}") from None
        if not data:
            raise ValueError(f"{spec}: expected a mapping of motions settings at the top level, got an empty file")
    try:
        config = MotionsConfig(**data)
    except ValidationError as err:
        raise ValueError(describe(err, source, node)) from None
    try:
        config.check(skeleton)
    except ValueError as exc:
        msg = str(exc)
        line = None
        if msg.startswith("motions[") and node is not None:
            line = line_of(node, ("motions", int(msg[len("motions[") : msg.index("]")])))
        where = f"{source}, line {line}" if line else source
        raise ValueError(f"{where}: {msg}") from None
    return config
