"""Normal range of motion (ROM) per anatomical angle: the table, checks and sampling.

Sources. Unless noted, limits are the American Academy of Orthopaedic Surgeons' averages
(AAOS, *Joint Motion: Method of Measuring and Recording*, 1965; reprinted in Greene &
Heckman, *The Clinical Measurement of Joint Motion*, AAOS 1994) as tabulated in Norkin &
White, *Measurement of Joint Motion: A Guide to Goniometry*, 5th ed., F. A. Davis, 2016.
Departures, each on purpose:

* knee flexion extends to 150° (AAOS active: 135°): deep squatting and kneeling reach
  150–160° (Hemmerich et al., *J. Orthop. Res.* 24:770, 2006), and those postures are the
  point of this package; 10° of hyperextension is allowed (common in standing).
* thoracolumbar motion (AAOS: flexion 80°, extension 25°, lateral flexion 35°, rotation 45°)
  is split between the lumbar ``spine`` joint and the ``thorax`` joint so the sums match.
* the shoulder uses elevation / plane of elevation / axial rotation (ISB style). Elevation's
  upper limit depends on the plane, interpolated linearly between AAOS figures: flexion
  180° (plane 0°), abduction 180° (plane 90°), extension 60° (plane 180°), and horizontal
  adduction 135° from abduction (plane −45°, where we allow 110° of elevation).
* head angles (extended skeleton) are the craniocervical share of AAOS cervical motion.

Angles are radians in code; the table is in degrees (``*_deg``) because clinicians quote it so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posesynth.body.angles import angle_names
from posesynth.body.skeleton import Skeleton


@dataclass(frozen=True)
class Range:
    """Inclusive limits of one angle, degrees, and where they come from."""

    min_deg: float
    max_deg: float
    source: str = "AAOS / Norkin & White 2016"

    @property
    def bounds(self) -> tuple[float, float]:
        """(min, max) in radians."""
        return float(np.deg2rad(self.min_deg)), float(np.deg2rad(self.max_deg))


_BASE: dict[str, Range] = {
    "spine_flexion": Range(-15, 50, "AAOS thoracolumbar, lumbar share"),
    "spine_lateral_flexion": Range(-20, 20, "AAOS thoracolumbar, lumbar share"),
    "thorax_flexion": Range(-10, 30, "AAOS thoracolumbar, thoracic share"),
    "thorax_lateral_flexion": Range(-15, 15, "AAOS thoracolumbar, thoracic share"),
    "thorax_rotation": Range(-45, 45),
    "neck_flexion": Range(-45, 45),
    "neck_lateral_flexion": Range(-45, 45),
    "head_flexion": Range(-20, 20, "craniocervical share of AAOS cervical"),
    "head_lateral_flexion": Range(-10, 10, "craniocervical share of AAOS cervical"),
    "head_rotation": Range(-60, 60),
    "hip_flexion": Range(-30, 120),
    "hip_abduction": Range(-30, 45),
    "hip_rotation": Range(-45, 45),
    "knee_flexion": Range(-10, 150, "AAOS 0-135 active; 150 for deep squat/kneeling (Hemmerich 2006)"),
    "ankle_dorsiflexion": Range(-50, 20),
    "ankle_inversion": Range(-15, 35),
    "ankle_adduction": Range(-20, 20, "forefoot abduction/adduction, Norkin & White"),
    "shoulder_elevation": Range(0, 180),
    "shoulder_plane": Range(-45, 180, "plane of elevation: -45 cross-body, 0 flexion, 90 abduction, 180 extension"),
    "shoulder_rotation": Range(-90, 70),
    "elbow_flexion": Range(0, 150),
    "wrist_flexion": Range(-70, 80),
    "wrist_radial_deviation": Range(-30, 20),
    "forearm_pronation": Range(-80, 80),
}

#: Shoulder elevation limit (deg) against plane of elevation (deg), interpolated linearly.
SHOULDER_ELEVATION_CAP_DEG = ((-45.0, 110.0), (0.0, 180.0), (90.0, 180.0), (135.0, 110.0), (180.0, 60.0))


def base_angle_name(name: str) -> str:
    """The angle's name without its side: ``right_knee_flexion`` → ``knee_flexion``."""
    for prefix in ("left_", "right_"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def rom_table(skeleton: Skeleton) -> dict[str, Range]:
    """The ROM of every angle observable on ``skeleton`` (names as in :func:`angle_names`)."""
    return {n: _BASE[base_angle_name(n)] for n in angle_names(skeleton)}


def shoulder_elevation_cap(plane: np.ndarray) -> np.ndarray:
    """Largest shoulder elevation (radians) for a plane of elevation (radians), same shape."""
    knots = np.deg2rad(np.array(SHOULDER_ELEVATION_CAP_DEG))
    return np.interp(plane, knots[:, 0], knots[:, 1])


def limits_with_overrides(
    skeleton: Skeleton, overrides_deg: dict[str, tuple[float, float]] | None = None
) -> dict[str, tuple[float, float]]:
    """ROM bounds (radians) per angle, narrowed by ``overrides_deg``.

    An override may name a sided angle (``right_knee_flexion``) or both sides at once
    (``knee_flexion``). It must stay within the ROM: widening raises ``ValueError``.
    """
    table = rom_table(skeleton)
    out = {n: r.bounds for n, r in table.items()}
    for key, (lo, hi) in (overrides_deg or {}).items():
        targets = [n for n in table if n == key or base_angle_name(n) == key]
        if not targets:
            raise ValueError(
                f"angle limits: unknown angle {key!r}; expected one of {sorted(set(map(base_angle_name, table)))}"
            )
        if lo > hi:
            raise ValueError(f"angle limits: {key}: expected min <= max, got [{lo}, {hi}]")
        for n in targets:
            r = table[n]
            if lo < r.min_deg - 1e-9 or hi > r.max_deg + 1e-9:
                raise ValueError(
                    f"angle limits: {key}: [{lo}, {hi}] deg is outside the range of motion "
                    f"[{r.min_deg}, {r.max_deg}] deg ({r.source})"
                )
            out[n] = (float(np.deg2rad(lo)), float(np.deg2rad(hi)))
    for elev in [a for a in out if base_angle_name(a) == "shoulder_elevation"]:
        plane = elev.replace("elevation", "plane")
        if plane in out and not _feasible_planes(out[plane], out[elev][0]):
            raise ValueError(
                f"angle limits: {elev} >= {np.rad2deg(out[elev][0]):.1f} deg is impossible for any "
                f"{plane} in {np.rad2deg(out[plane]).round(1).tolist()} deg (elevation cap by plane)"
            )
    return out


def rom_violations(angles: dict[str, np.ndarray], skeleton: Skeleton, tol: float = 1e-9) -> dict[str, np.ndarray]:
    """Per angle, a boolean array (...) that is True where the angle leaves its ROM.

    ``angles`` are radians as returned by :func:`posesynth.body.angles.pose_angles`. The shoulder's
    elevation is checked against its plane-dependent cap. ``tol`` (radians) absorbs rounding.
    """
    table = rom_table(skeleton)
    out = {}
    for name, value in angles.items():
        if name not in table:
            continue
        lo, hi = table[name].bounds
        v = np.asarray(value)
        bad = (v < lo - tol) | (v > hi + tol)
        if base_angle_name(name) == "shoulder_elevation":
            plane = angles.get(name.replace("elevation", "plane"))
            if plane is not None:
                # elevation near 0 leaves the plane undefined: the cap cannot be broken there
                bad |= v > shoulder_elevation_cap(np.asarray(plane)) + tol
        out[name] = bad
    return out


def out_of_range(angles: dict[str, np.ndarray], skeleton: Skeleton, tol: float = 1e-9) -> np.ndarray:
    """Boolean (...) True where any angle of a pose is outside its ROM."""
    flags = list(rom_violations(angles, skeleton, tol).values())
    return np.logical_or.reduce(flags) if flags else np.zeros((), dtype=bool)


def _feasible_planes(plane_bounds: tuple[float, float], min_elevation: float) -> bool:
    planes = np.linspace(*plane_bounds, 721)
    return bool((shoulder_elevation_cap(planes) >= min_elevation - 1e-12).any())


def sample_uniform(
    rng: np.random.Generator,
    n: int,
    skeleton: Skeleton,
    limits: dict[str, tuple[float, float]] | None = None,
) -> dict[str, np.ndarray]:
    """``n`` poses' angles (radians, each (n,)) drawn uniformly within ``limits`` (default ROM).

    A shoulder's (plane, elevation) pair is drawn uniformly over the part of its box that
    respects the plane-dependent elevation cap (rejection), so no sample is ever out of range.
    """
    limits = limits or {n_: r.bounds for n_, r in rom_table(skeleton).items()}
    out = {name: rng.uniform(lo, hi, n) for name, (lo, hi) in limits.items()}
    for elev in [a for a in limits if base_angle_name(a) == "shoulder_elevation"]:
        plane = elev.replace("elevation", "plane")
        if plane not in limits:
            continue
        if not _feasible_planes(limits[plane], limits[elev][0]):
            raise ValueError(
                f"angle limits: {elev} >= {np.rad2deg(limits[elev][0]):.1f} deg is impossible for any "
                f"{plane} in {np.rad2deg(limits[plane]).round(1).tolist()} deg (elevation cap by plane)"
            )
        for _ in range(10_000):
            bad = out[elev] > shoulder_elevation_cap(out[plane])
            if not bad.any():
                break
            out[plane][bad] = rng.uniform(*limits[plane], int(bad.sum()))
            out[elev][bad] = rng.uniform(*limits[elev], int(bad.sum()))
    return out
