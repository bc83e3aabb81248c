"""Ablation towards real people: one lever at a time, everything else fixed (issue 17).

Every row trains one lifter from scratch on synthetic data only, with the same budget
(``--samples`` poses, ``--epochs`` epochs, width, noise, seed), and reports:

* the real benchmark (``posesynth benchmark real``'s cached per-person data, ``--real``):
  P-MPJPE from ideal 2D and from BlazePose 2D, overall and on person 1 alone (person 0 is what
  the noise and definition levers are measured on), and BlazePose's world landmarks on the
  same samples;
* synthetic test sets of the ROM experiment (:mod:`posesynth.apps.experiment`, its seeds):
  everyday (legacy stand / walk / sit / reach, knees and hips ≤ 60°) and uncommon poses, MPJPE.

Levers (``--rows``; each changes one thing against ``baseline``):

``baseline``      posesynth generate's default mix (the independent priors incl. ``rom``), 1 px noise
``prior``         its everyday part (stand, walk, sit, reach) replaced by the coupled priors of
                  :mod:`posesynth.poses.prior` (idle, hold, gesture, gait, run, sit_chair,
                  one_leg, throw, dance, sport, floor), same total weight
``noise``         + BlazePose-like per-joint 2D noise measured on person 0 (bbox fractions)
``definition``    2D (input) and 3D (target) in a keypoint definition fitted on person 0
                  (offsets in body frames): not synthetic-only, a measure of what definitions cost
``budget``        twice the samples
``combined``      prior + noise (+ the others named with ``--combine``)

Beside the rows, ``definition_fit`` reports the post-hoc correction: the baseline's
predictions (ideal 2D) moved by offsets fitted on person 0, scored on person 1.

Run (about 4 minutes a row on 2 cores at the defaults)::

    nice python benchmarks/ablation_real.py --real PERSONS.npz --out ablation-out
    nice python benchmarks/ablation_real.py --real PERSONS.npz --rows baseline,prior --out ablation-out

``PERSONS.npz`` is the benchmark's cached :class:`posesynth.apps.realbench.PersonData`
(printed by ``posesynth benchmark real``). Results accumulate in ``OUT/rows.json``; a row already
there is not trained again (delete it to redo).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posesynth.apps.experiment import EVERYDAY, everyday_test_set, in_definition, uncommon_test_set
from posesynth.body.definitions import KeypointDefinition, fit_definition
from posesynth.data.dataset import PoseDataset
from posesynth.jobs.generate import generate_dataset, load_config
from posesynth.lift.checkpoint import load_lifter
from posesynth.lift.evaluate import evaluate_lifter
from posesynth.lift.noise import NoiseConfig, detector_sigma_joints
from posesynth.lift.train import TrainConfig, train_lifter
from posesynth.poses.prior import COUPLED_ACTIVITIES
from posesynth.poses.procedural import DEFAULT_ACTIVITY_WEIGHTS

#: The baseline's mix with its everyday part (stand, walk, sit, reach) replaced by the coupled priors.
COUPLED_MIX = {
    **{a: w for a, w in DEFAULT_ACTIVITY_WEIGHTS.items() if a not in EVERYDAY},
    **{a: len(EVERYDAY) / len(COUPLED_ACTIVITIES) for a in COUPLED_ACTIVITIES},
}


@dataclass(frozen=True)
class Lever:
    """One row's training recipe."""

    activities: dict[str, float]
    samples_factor: float = 1.0
    noise_from_person0: bool = False
    definition_from_person0: bool = False


def levers(combine: list[str]) -> dict[str, Lever]:
    base = Lever(dict(DEFAULT_ACTIVITY_WEIGHTS))
    rows = {
        "baseline": base,
        "prior": Lever(COUPLED_MIX),
        "noise": Lever(base.activities, noise_from_person0=True),
        "definition": Lever(base.activities, definition_from_person0=True),
        "budget": Lever(base.activities, samples_factor=2.0),
    }
    rows["combined"] = Lever(
        COUPLED_MIX,
        noise_from_person0=True,
        samples_factor=2.0 if "budget" in combine else 1.0,
        definition_from_person0="definition" in combine,
    )
    return rows


def real_scores(data: Any, lifter: Any) -> dict[str, Any]:
    """P-MPJPE / MPJPE (mm) of ``lifter`` and BlazePose on the benchmark, overall and per person."""
    from posesynth.apps.realbench.score import score_models

    rows = score_models(data, {"m": lifter})
    out: dict[str, Any] = {}
    for r in rows:
        key = r.model if r.model != "m" else r.input
        out[key] = {
            "p_mpjpe_mm": r.overall.p_mpjpe_mm,
            "mpjpe_mm": r.overall.mpjpe_mm,
            "person1_p_mpjpe_mm": r.per_person["1"].p_mpjpe_mm if "1" in r.per_person else None,
            "p_mpjpe_by_part_mm": r.overall.p_mpjpe_by_part_mm,
            "samples": r.overall.samples,
        }
    return out


def person_arrays(data: Any, person: int) -> dict[str, np.ndarray]:
    """Scored samples of one person: BlazePose 2D, ideal 2D (px) and the ground truth (camera, m)."""
    from posesynth.apps.realbench.score import sample_mask

    mask = sample_mask(data)
    keep = np.zeros_like(mask)
    keep[person] = mask[person]
    return {
        "blazepose_2d": data.blazepose_2d()[keep],
        "ideal_2d": data.ideal_2d()[keep],
        "gt": data.ground_truth_camera()[keep],
    }


def fitted_definition(data: Any, lifter: Any) -> KeypointDefinition:
    p0 = person_arrays(data, 0)
    pred = lifter.predict(p0["ideal_2d"])
    return fit_definition(
        pred, p0["gt"], "fit-person0", source="offsets fitted on the real benchmark's person 0", ridge=0.1
    )


def train_row(
    name: str, lever: Lever, args: argparse.Namespace, data: Any, defn: KeypointDefinition | None
) -> dict[str, Any]:
    n = round(args.samples * lever.samples_factor)
    start = time.perf_counter()
    ds = generate_dataset(load_config(samples=n, seed=args.seed, activities=lever.activities))
    if lever.definition_from_person0:
        ds = in_definition(ds, defn, output_3d=True)
    noise = {"sigma_px": 1.0}
    if lever.noise_from_person0:
        p0 = person_arrays(data, 0)
        noise["sigma_joints"] = detector_sigma_joints(p0["blazepose_2d"], p0["ideal_2d"])
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=256,
        width=args.width,
        seed=args.seed,
        val_fraction=0.05,
        noise=NoiseConfig(**noise),
    )
    out = Path(args.out) / name
    summary = train_lifter(
        PoseDataset(skeleton=ds.skeleton, joints_3d_camera=ds.joints_3d_camera, joints_2d=ds.joints_2d),
        out,
        cfg,
        overwrite=True,
    )
    lifter = load_lifter(out)
    tests = {
        "everyday": everyday_test_set(args.test_samples, args.seed + 1000),
        "uncommon": uncommon_test_set(args.test_samples, args.seed + 2000),
    }
    return {
        "samples": n,
        "epochs": args.epochs,
        "width": args.width,
        "noise": noise,
        "train_seconds": summary.seconds,
        "seconds": round(time.perf_counter() - start, 1),
        "synthetic_mpjpe_mm": {t: evaluate_lifter(lifter, d).mpjpe_mm for t, d in tests.items()},
        "real": real_scores(data, lifter),
    }


def definition_fit_row(data: Any, lifter: Any) -> dict[str, Any]:
    """The post-hoc definition correction: fit on person 0, score person 1 before and after."""
    from posesynth.body.definitions import apply_definition
    from posesynth.lift.metrics import procrustes_errors

    defn = fitted_definition(data, lifter)
    p1 = person_arrays(data, 1)
    out = {"offsets_height_fraction": {k: list(v) for k, v in defn.offsets.items()}}
    for inp in ("ideal_2d", "blazepose_2d"):
        pred = lifter.predict(p1[inp])
        moved = apply_definition(pred, defn)
        moved = moved - moved[:, :1]
        out[inp] = {
            "person1_p_mpjpe_mm": float(procrustes_errors(pred, p1["gt"]).mean() * 1000),
            "person1_p_mpjpe_mm_corrected": float(procrustes_errors(moved, p1["gt"]).mean() * 1000),
        }
    return out


def render(rows: dict[str, Any]) -> str:
    head = (
        "| lever | real P-MPJPE ideal 2D | real P-MPJPE BlazePose 2D | person 1: ideal / BlazePose 2D "
        "| BlazePose world | synthetic uncommon MPJPE | synthetic everyday MPJPE |\n|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for name, r in rows.items():
        if "real" not in r:
            continue
        re = r["real"]
        lines.append(
            f"| {name} | {re['ideal_2d']['p_mpjpe_mm']:.1f} | {re['blazepose_2d']['p_mpjpe_mm']:.1f} | "
            f"{re['ideal_2d']['person1_p_mpjpe_mm']:.1f} / {re['blazepose_2d']['person1_p_mpjpe_mm']:.1f} | "
            f"{re['blazepose_world']['p_mpjpe_mm']:.1f} | {r['synthetic_mpjpe_mm']['uncommon']:.1f} | "
            f"{r['synthetic_mpjpe_mm']['everyday']:.1f} |"
        )
    if "definition_fit" in rows:
        d = rows["definition_fit"]
        lines.append(
            "\ndefinition offsets fitted on person 0, person 1 P-MPJPE before -> after: "
            + ", ".join(
                f"{k} {d[k]['person1_p_mpjpe_mm']:.1f} -> {d[k]['person1_p_mpjpe_mm_corrected']:.1f}"
                for k in ("ideal_2d", "blazepose_2d")
            )
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--real", required=True, help="the real benchmark's per-person .npz (PersonData)")
    ap.add_argument("--out", default="ablation-out")
    ap.add_argument("--rows", default="baseline,prior,noise,definition,budget,combined")
    ap.add_argument("--combine", default="", help="levers added to prior + noise in the combined row")
    ap.add_argument("--samples", type=int, default=100_000)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--test-samples", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    from posesynth.apps.realbench import PersonData

    data = PersonData.load(Path(args.real))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = out / "rows.json"
    rows: dict[str, Any] = json.loads(store.read_text()) if store.exists() else {}
    table = levers([c for c in args.combine.split(",") if c])
    defn = None
    for name in [r for r in args.rows.split(",") if r]:
        if name not in table:
            raise SystemExit(f"error: --rows: unknown row {name!r}; expected some of {sorted(table)}")
        if name in rows:
            continue
        if table[name].definition_from_person0 and defn is None:
            if "baseline" not in rows:
                raise SystemExit("error: the definition row needs the baseline row first")
            defn = fitted_definition(data, load_lifter(out / "baseline"))
        print(f"[{time.strftime('%H:%M:%S')}] training row {name!r}", file=sys.stderr, flush=True)
        rows[name] = train_row(name, table[name], args, data, defn)
        if name == "baseline":
            rows["definition_fit"] = definition_fit_row(data, load_lifter(out / "baseline"))
        store.write_text(json.dumps(rows, indent=1) + "\n")
        print(render(rows), flush=True)
    print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
