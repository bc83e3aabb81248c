"""Where a lifter's error on the real benchmark comes from (issue 17), measured seven ways.

All seven read the real benchmark's cached per-person data (``posesynth benchmark real`` writes
it; ``--real PERSONS.npz``) and score with the benchmark's own
:func:`posesynth.apps.realbench.score.score_models` (P-MPJPE in mm against the triangulated
pseudo ground truth, 364 person x frame x view samples):

``groups``      From ideal 2D (the ground truth reprojected), replace one joint group's 2D by
                BlazePose's, and the reverse: from BlazePose 2D, replace one group by the
                ideal 2D. The change against the pure inputs is what that group's detector
                error costs the lifter.
``visibility``  BlazePose's 2D error per joint (against the ideal 2D, as a fraction of the
                person's box) in the lower, middle and upper third of BlazePose's own
                visibility for that joint, and their correlation.
``fusion``      The lifter's 3D from BlazePose 2D blended with BlazePose's world landmarks
                (similarity-aligned to it first), ``(1 - w) lifter + w BlazePose``.
``refine``      A second run of BlazePose's landmark model on the region its first landmarks
                give (as MediaPipe's tracking does from frame to frame), for every scored
                sample; then BlazePose's world landmarks and the lifter from the refined 2D.
                Needs the recording in the cache (``fetch_demo(download=False)``) and the
                ``demo`` extra.
``predictable`` Whether BlazePose's 2D errors follow from the pose: a ridge regression of
                each sample's residual (BlazePose minus ideal 2D, in units of the person's box)
                on its root-centred, box-scaled ideal 2D, fitted on one person and scored on the
                other (R² against the other person's mean residual and against no correction).
                A model of the errors that transfers would be something to train on.
``bones``       Each predicted bone set to the mean of its length and its mirror's (left/right
                symmetry), directions kept, for the lifter from both inputs and for BlazePose's
                world landmarks; with the mean left/right length difference of the ground truth.
``quality``     The scores on subsets chosen by the pseudo ground truth alone, never by a
                model's error: by the triangulation's mean reprojection error in the person's
                frame (all, <= 30, 20, 16 px), by the trunk's lean (pelvis to thorax from the
                vertical, world frame), by person and lean, with the ground truth's median thigh
                length in each; then, per lean bin, which way the trunk leans (its forward and
                sideways components in the body's own frame) and the pelvis' sideways tilt. Says
                whether the lifter's ratio to BlazePose depends on how good the ground truth is,
                or on the posture.

Run (about 1 minute each on 2 cores; ``refine`` 1 minute more)::

    python benchmarks/diagnose_real.py --real PERSONS.npz --model rom groups visibility fusion refine \
        predictable bones quality
"""

from __future__ import annotations

import argparse
import dataclasses
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posesynth.apps.realbench import PersonData
from posesynth.apps.realbench.score import sample_mask, score_models
from posesynth.body.skeleton import H36M17
from posesynth.lift.checkpoint import Lifter, load_lifter
from posesynth.lift.metrics import p_mpjpe, procrustes_align

#: Human3.6M-17 joint groups (indices).
GROUPS: dict[str, tuple[int, ...]] = {
    "pelvis and hips": (0, 1, 4),
    "knees": (2, 5),
    "ankles": (3, 6),
    "spine and thorax": (7, 8),
    "neck and head": (9, 10),
    "shoulders": (11, 14),
    "elbows": (12, 15),
    "wrists": (13, 16),
}
#: (name, MediaPipe-33 index, Human3.6M-17 index) of the limb joints BlazePose rates.
VISIBILITY_JOINTS = (
    ("left shoulder", 11, 11),
    ("left elbow", 13, 12),
    ("left wrist", 15, 13),
    ("right shoulder", 12, 14),
    ("right elbow", 14, 15),
    ("right wrist", 16, 16),
    ("left hip", 23, 4),
    ("right hip", 24, 1),
    ("left knee", 25, 5),
    ("right knee", 26, 2),
    ("left ankle", 27, 6),
    ("right ankle", 28, 3),
)
FUSION_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
#: Ridge penalties of ``predictable`` (on standardised-free box units; the residuals are ~0.03).
RIDGE_PENALTIES = (0.01, 0.1, 1.0, 10.0, 100.0)


@dataclass(frozen=True)
class Fixed:
    """A lifter that lifts a prepared input whatever ``score_models`` hands it.

    ``score_models`` calls ``predict`` with the scored samples of one input; this stands in for
    a lifter whose 2D was assembled beforehand in the same sample order.
    """

    lifter: Lifter
    uv: np.ndarray  #: (N, 17, 2) px, in score_models' sample order

    def predict(self, uv: np.ndarray) -> np.ndarray:
        if uv.shape != self.uv.shape:
            raise ValueError(f"expected {self.uv.shape} inputs, got {uv.shape}")
        return self.lifter.predict(self.uv)


@dataclass(frozen=True)
class Fused:
    """``(1 - w)`` lifter + ``w`` BlazePose world landmarks aligned to the lifter's pose."""

    lifter: Lifter
    world: np.ndarray  #: (N, 17, 3) m, BlazePose world landmarks, root-relative
    weight: float

    def predict(self, uv: np.ndarray) -> np.ndarray:
        pred = self.lifter.predict(uv)
        aligned = procrustes_align(self.world, pred)
        fused = (1.0 - self.weight) * pred + self.weight * aligned
        return fused - fused[:, :1]


def _p_mpjpe(data: PersonData, models: Mapping[str, object], input_name: str) -> dict[str, float]:
    """P-MPJPE (mm) of every model on one input, plus BlazePose's world landmarks."""
    out = {}
    for row in score_models(data, models):  # type: ignore[arg-type]
        if row.model == "blazepose_world" or row.input == input_name:
            out[row.model] = row.overall.p_mpjpe_mm
    return out


def groups(data: PersonData, lifter: Lifter) -> None:
    mask = sample_mask(data)
    ideal, blaze = data.ideal_2d()[mask], data.blazepose_2d()[mask]
    models: dict[str, object] = {"ideal 2D": Fixed(lifter, ideal), "BlazePose 2D": Fixed(lifter, blaze)}
    for name, idx in GROUPS.items():
        u = ideal.copy()
        u[:, list(idx)] = blaze[:, list(idx)]
        models[f"ideal, {name} BlazePose's"] = Fixed(lifter, u)
        u = blaze.copy()
        u[:, list(idx)] = ideal[:, list(idx)]
        models[f"BlazePose, {name} ideal"] = Fixed(lifter, u)
    scores = _p_mpjpe(data, models, "ideal_2d")
    base_i, base_b = scores["ideal 2D"], scores["BlazePose 2D"]
    print(f"\n## groups: P-MPJPE (mm); ideal 2D {base_i:.1f}, BlazePose 2D {base_b:.1f}\n")
    print("| joint group | ideal 2D + this group's BlazePose 2D | BlazePose 2D + this group's ideal 2D |")
    print("|---|---|---|")
    for name in GROUPS:
        a, b = scores[f"ideal, {name} BlazePose's"], scores[f"BlazePose, {name} ideal"]
        print(f"| {name} | {a:.1f} ({a - base_i:+.1f}) | {b:.1f} ({b - base_b:+.1f}) |")


def visibility(data: PersonData) -> None:
    mask = sample_mask(data)
    ideal, blaze = data.ideal_2d()[mask], data.blazepose_2d()[mask]
    box = (ideal.max(axis=1) - ideal.min(axis=1)).max(axis=-1)
    err = np.linalg.norm(blaze - ideal, axis=-1) / box[:, None]
    vis = data.blazepose_visibility[mask]
    print("\n## visibility: BlazePose 2D error (fraction of the box) by its visibility tercile\n")
    print("| joint | visibility terciles | error, lower third | middle | upper | correlation |")
    print("|---|---|---|---|---|---|")
    for name, mp, h36m in VISIBILITY_JOINTS:
        v, e = vis[:, mp], err[:, h36m]
        q1, q2 = np.quantile(v, [1 / 3, 2 / 3])
        lo, mid, hi = e[v < q1], e[(v >= q1) & (v < q2)], e[v >= q2]
        cells = [f"{x.mean():.3f}" if len(x) else "–" for x in (lo, mid, hi)]
        corr = np.corrcoef(v, e)[0, 1] if v.std() > 0 else float("nan")
        print(f"| {name} | {q1:.3f}, {q2:.3f} | {' | '.join(cells)} | {corr:+.2f} |")


def fusion(data: PersonData, lifter: Lifter) -> None:
    world = data.blazepose_world()[sample_mask(data)]
    models = {f"w={w}": Fused(lifter, world, w) for w in FUSION_WEIGHTS}
    scores = _p_mpjpe(data, models, "blazepose_2d")
    print("\n## fusion: P-MPJPE (mm) of (1 - w) lifter(BlazePose 2D) + w BlazePose world\n")
    print("| w | " + " | ".join(str(w) for w in FUSION_WEIGHTS) + " |")
    print("|---" * (len(FUSION_WEIGHTS) + 1) + "|")
    print("| P-MPJPE | " + " | ".join(f"{scores[f'w={w}']:.1f}" for w in FUSION_WEIGHTS) + " |")


def refine(data: PersonData, lifter: Lifter) -> None:
    from posesynth.apps.realbench.detect import read_frames, roi_from_landmarks
    from posesynth.apps.realbench.fetch import fetch_demo
    from posesynth.detect.blazepose import load_blazepose, run_landmarks

    demo = fetch_demo(download=False)
    model = load_blazepose()
    mask = sample_mask(data)
    kp, world = data.blazepose_2d_mp33.copy(), data.blazepose_world_mp33.copy()
    lost = 0
    for v, video in enumerate(demo.videos):
        for f, (_, rgb) in enumerate(read_frames(video, data.frames)):
            for p in np.flatnonzero(mask[:, f, v]):
                roi = roi_from_landmarks(data.blazepose_2d_mp33[p, f, v])
                if roi is None:
                    lost += 1
                    continue
                r = run_landmarks(model.landmarker, rgb, *roi)
                kp[p, f, v], world[p, f, v] = r["keypoints_2d"], r["world"]
    refined = dataclasses.replace(data, blazepose_2d_mp33=kp, blazepose_world_mp33=world)
    print("\n## refine: a second landmark run on the region of the first landmarks (P-MPJPE, mm)\n")
    print("| detections | BlazePose world | lifter from BlazePose 2D | ratio |")
    print("|---|---|---|---|")
    for name, d in (("one run (the benchmark's)", data), ("refined", refined)):
        s = _p_mpjpe(d, {"lifter": lifter}, "blazepose_2d")
        print(f"| {name} | {s['blazepose_world']:.1f} | {s['lifter']:.1f} | {s['lifter'] / s['blazepose_world']:.3f} |")
    if lost:
        print(f"({lost} samples kept their first landmarks: no hips or shoulders to place a region)")
    print("(the pseudo ground truth stays the triangulation of the first run's detections)")


def _box_units(ideal: np.ndarray, blaze: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 34) root-centred ideal 2D and (N, 34) BlazePose residual, both / the box's longest side."""
    box = (ideal.max(axis=1) - ideal.min(axis=1)).max(axis=-1)[:, None, None]
    x = (ideal - ideal[:, :1]) / box
    return x.reshape(len(x), -1), ((blaze - ideal) / box).reshape(len(x), -1)


def predictable(data: PersonData) -> None:
    mask = sample_mask(data)
    ideal, blaze = data.ideal_2d(), data.blazepose_2d()
    people = [_box_units(ideal[p][mask[p]], blaze[p][mask[p]]) for p in range(len(mask))]
    if len(people) != 2:
        raise ValueError(f"{len(people)} people in the data; predictable fits on one and scores on the other")
    print("\n## predictable: ridge regression of BlazePose's 2D residual on the pose, across people\n")
    print("| penalty | fit on 0, R² on 1 (vs its mean / vs none) | fit on 1, R² on 0 (vs its mean / vs none) |")
    print("|---|---|---|")
    for lam in RIDGE_PENALTIES:
        cells = []
        for (xa, ra), (xb, rb) in ((people[0], people[1]), (people[1], people[0])):
            mu = xa.mean(axis=0)
            a = np.c_[xa - mu, np.ones(len(xa))]
            w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ ra)
            sse = ((rb - np.c_[xb - mu, np.ones(len(xb))] @ w) ** 2).sum()
            r2_mean = 1.0 - sse / ((rb - rb.mean(axis=0)) ** 2).sum()
            cells.append(f"{r2_mean:+.3f} / {1.0 - sse / (rb**2).sum():+.3f}")
        print(f"| {lam:g} | {cells[0]} | {cells[1]} |")


def _symmetric_bones(pose: np.ndarray) -> np.ndarray:
    """(N, 17, 3) with each bone's length the mean of its own and its mirror's, directions kept."""
    parents = np.asarray(H36M17.parents)
    flip = np.asarray(H36M17.flip_permutation)
    length = np.linalg.norm(pose[:, 1:] - pose[:, parents[1:]], axis=-1)
    length = np.concatenate([np.zeros((len(pose), 1)), length], axis=1)
    target = 0.5 * (length + length[:, flip])
    out = pose.copy()
    for j in range(1, pose.shape[1]):  # parents come first in the joint order
        bone = pose[:, j] - pose[:, parents[j]]
        unit = bone / np.maximum(np.linalg.norm(bone, axis=-1, keepdims=True), 1e-12)
        out[:, j] = out[:, parents[j]] + unit * target[:, j : j + 1]
    return out


def bones(data: PersonData, lifter: Lifter) -> None:
    mask = sample_mask(data)
    truth = data.ground_truth_camera()[mask]
    parents, flip = np.asarray(H36M17.parents), np.asarray(H36M17.flip_permutation)
    length = np.linalg.norm(truth[:, 1:] - truth[:, parents[1:]], axis=-1)
    length = np.concatenate([np.zeros((len(truth), 1)), length], axis=1)
    asym = np.abs(length - length[:, flip]).mean(axis=0) * 1000.0
    print("\n## bones: left/right symmetric bone lengths at test time (P-MPJPE, mm)\n")
    print("| prediction | as predicted | bones made symmetric |")
    print("|---|---|---|")
    inputs = {"BlazePose 2D": data.blazepose_2d()[mask], "ideal 2D": data.ideal_2d()[mask]}
    rows = {f"lifter from {k}": lifter.predict(u) for k, u in inputs.items()}
    rows["BlazePose world"] = data.blazepose_world()[mask]
    for name, pred in rows.items():
        print(f"| {name} | {p_mpjpe(pred, truth) * 1000:.1f} | {p_mpjpe(_symmetric_bones(pred), truth) * 1000:.1f} |")
    names = H36M17.joint_names
    print(
        "ground truth's mean |right - left| bone length (mm), by one side's bone: "
        + ", ".join(f"{names[parents[j]]}->{names[j]} {asym[j]:.0f}" for j in range(1, len(names)) if j < flip[j])
    )


#: Upper bounds (px) of the person-frame mean reprojection error of the ground-truth subsets.
QUALITY_PX = (np.inf, 30.0, 20.0, 16.0)
#: Trunk lean bins (degrees from the vertical).
LEAN_BINS_DEG = ((0.0, 15.0), (15.0, 30.0), (30.0, 90.0))


def _per_sample_mm(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N,) P-MPJPE of each sample, mm."""
    return np.linalg.norm(procrustes_align(pred, truth) - truth, axis=-1).mean(axis=-1) * 1000.0


def quality(data: PersonData, lifter: Lifter) -> None:
    mask = sample_mask(data)
    person, frame, _ = np.nonzero(mask)
    truth = data.ground_truth_camera()[mask]
    errors = {
        "BlazePose world": _per_sample_mm(data.blazepose_world()[mask], truth),
        "lifter from BlazePose 2D": _per_sample_mm(lifter.predict(data.blazepose_2d()[mask]), truth),
        "lifter from ideal 2D": _per_sample_mm(lifter.predict(data.ideal_2d()[mask]), truth),
    }
    used = data.views_used
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a person-frame with no view solved: NaN
        frame_px = np.nanmean(np.where(used, data.reprojection_error_px, np.nan), axis=(2, 3))  # (P, F)
    sample_px = frame_px[person, frame]
    world = data.points_world[person, frame]  # (N, 17, 3), Z up
    trunk = world[:, 8] - world[:, 0]  # pelvis -> thorax
    lean = np.degrees(np.arccos(np.clip(trunk[:, 2] / np.linalg.norm(trunk, axis=-1), -1.0, 1.0)))
    subsets: dict[str, np.ndarray] = {}
    for px in QUALITY_PX:
        subsets["all samples" if np.isinf(px) else f"reprojection <= {px:g} px"] = sample_px <= px
    for lo, hi in LEAN_BINS_DEG:
        subsets[f"trunk lean {lo:g}-{hi:g} deg"] = (lean >= lo) & (lean < hi)
    for p in np.unique(person):
        subsets[f"person {p}"] = person == p
        for lo, hi in LEAN_BINS_DEG:
            subsets[f"person {p}, trunk lean {lo:g}-{hi:g} deg"] = (person == p) & (lean >= lo) & (lean < hi)
    print("\n## quality: scores on subsets chosen by the ground truth (P-MPJPE, mm; ratio to BlazePose)\n")
    # thigh length (hip -> knee, both sides): the ground truth's definition drifts with posture
    thighs = np.linalg.norm(truth[:, [2, 5]] - truth[:, [1, 4]], axis=-1).mean(axis=-1) * 1000.0
    print(
        "| subset | samples | BlazePose world | lifter from BlazePose 2D (ratio) | lifter from ideal 2D "
        "| ground truth's thigh, median mm |"
    )
    print("|---|---|---|---|---|---|")
    for name, sel in subsets.items():
        if not sel.any():
            continue
        b, lb, li = (float(errors[k][sel].mean()) for k in errors)
        print(
            f"| {name} | {int(sel.sum())} | {b:.1f} | {lb:.1f} ({lb / b:.3f}) | {li:.1f} | {np.median(thighs[sel]):.0f} |"
        )
    print(
        f"(person-frame reprojection error of the ground truth, px: median {np.nanmedian(frame_px):.1f}, "
        f"90th percentile {np.nanpercentile(frame_px, 90):.1f})"
    )
    forward, sideways, pelvis = _lean_components(world)
    print("\nWhich way the trunk leans (medians of the absolute angles, degrees; body frame from the hips' axis):\n")
    print("| subset | samples | trunk forward / back | trunk sideways | pelvis tilted sideways |")
    print("|---|---|---|---|---|")
    for lo, hi in LEAN_BINS_DEG:
        sel = (lean >= lo) & (lean < hi)
        if sel.any():
            f, sd, pv = (float(np.median(np.abs(a[sel]))) for a in (forward, sideways, pelvis))
            print(f"| trunk lean {lo:g}-{hi:g} deg | {int(sel.sum())} | {f:.0f} | {sd:.0f} | {pv:.0f} |")


def _lean_components(world: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The trunk's lean split by direction, and the pelvis' sideways tilt, all (N,) degrees.

    ``world`` (N, 17, 3) is Human3.6M-17 in metres, Z up. The body's frame: sideways is the hips'
    axis (right -> left hip) made horizontal, forward is sideways x up. Returns the trunk's
    (pelvis -> thorax) angle from the vertical in the forward-up plane (+ forward) and in the
    sideways-up plane (+ to the left), and the hips' axis from the horizontal (+ left hip up).
    """
    hips = world[:, 4] - world[:, 1]
    side = hips * np.array([1.0, 1.0, 0.0])
    side /= np.linalg.norm(side, axis=-1, keepdims=True)
    fwd = np.cross(side, np.array([0.0, 0.0, 1.0]))
    trunk = world[:, 8] - world[:, 0]
    up = trunk[:, 2]
    forward = np.degrees(np.arctan2(np.einsum("ni,ni->n", trunk, fwd), up))
    sideways = np.degrees(np.arctan2(np.einsum("ni,ni->n", trunk, side), up))
    pelvis = np.degrees(np.arcsin(np.clip(hips[:, 2] / np.linalg.norm(hips, axis=-1), -1.0, 1.0)))
    return forward, sideways, pelvis


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "what", nargs="+", choices=["groups", "visibility", "fusion", "refine", "predictable", "bones", "quality"]
    )
    ap.add_argument("--real", type=Path, required=True, help="persons-*.npz of posesynth benchmark real")
    ap.add_argument("--model", default="rom", help="a checkpoint folder or a shipped name")
    args = ap.parse_args()
    data = PersonData.load(args.real)
    lifter = load_lifter(args.model)
    runs: dict[str, Callable[[], None]] = {
        "groups": lambda: groups(data, lifter),
        "visibility": lambda: visibility(data),
        "fusion": lambda: fusion(data, lifter),
        "refine": lambda: refine(data, lifter),
        "predictable": lambda: predictable(data),
        "bones": lambda: bones(data, lifter),
        "quality": lambda: quality(data, lifter),
    }
    print(f"model {args.model}, data {args.real.name}")
    for name in args.what:
        runs[name]()


if __name__ == "__main__":
    main()
