"""Real-people ablation on streamed training data: fresh samples every epoch (issue 17).

Every row trains one lifter from scratch with :func:`posesynth.lift.train.train_stream` on
``--samples`` fresh procedural samples per epoch for ``--epochs`` epochs (the mix of
``benchmarks/ablation_real.py``'s ``prior`` row: posesynth generate's default activities with
the everyday part drawn from the coupled priors), and scores it after **every** epoch on the
real benchmark's cached per-person data (``posesynth benchmark real``), from ideal 2D and from
BlazePose 2D, with and without the lifter's test-time flip. At the end it adds the ROM
experiment's synthetic test sets (everyday and uncommon, MPJPE). Only the row's lever changes:

``baseline``         posesynth's joint centres, 1 px noise
``jitter<S>``        a random keypoint definition per sample (sd ``S`` x body height, e.g.
                     ``jitter0.03``; :func:`posesynth.data.keypoint_jitter.jitter_keypoints`)
``jitter<S>+det``    the same plus BlazePose's per-joint 2D spread
                     (:data:`posesynth.apps.experiment.BLAZEPOSE_SIGMA_JOINTS`)
``...+dropout<D>``   the same with dropout ``D`` instead of SimpleBaseline's 0.5 (e.g.
                     ``jitter0.03+dropout0``): fresh samples every epoch leave nothing to
                     memorise, and dropout then only takes capacity
``...+ema<D>``       the checkpoint holds a moving average of the weights (decay ``D`` per step)
``...+rom<S>``       a share ``S`` of every chunk is fresh poses reposed by ``full-rom`` (the
                     ROM experiment's model B)
``...+tilt<D>``      the training bodies' whole-body pitch and roll drawn with sd ``D`` degrees
                     instead of 4 (``GenerateConfig.tilt_sd_deg``; the synthetic test sets keep 4)
``...+lean``         the reposed share made by ``full-rom-lean`` instead of ``full-rom`` (half of
                     it bent sideways at the pelvis by up to 40 degrees)

Run (about 2 minutes an epoch of 200k samples at width 512 on one loaded core)::

    OMP_NUM_THREADS=1 nice python benchmarks/ablation_stream.py --real PERSONS.npz \\
        --rows baseline,jitter0.015,jitter0.03,jitter0.05 --epochs 6 --out ablation-stream

Results accumulate in ``OUT/rows.json`` (a finished row is not trained again) and the table
is printed from them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ablation_real import COUPLED_MIX
from posesynth.apps.experiment import BLAZEPOSE_SIGMA_JOINTS, everyday_test_set, uncommon_test_set
from posesynth.apps.realbench import PersonData
from posesynth.apps.realbench.score import score_models
from posesynth.lift.checkpoint import Lifter, load_lifter
from posesynth.lift.evaluate import evaluate_lifter
from posesynth.lift.train import TrainConfig, train_stream


@dataclass(frozen=True)
class Row:
    """One row's levers (everything else as the baseline)."""

    jitter: float = 0.0  #: keypoint jitter sd (x body height)
    det: bool = False  #: BlazePose's per-joint 2D spread added to the inputs
    dropout: float = 0.5  #: TrainConfig's (SimpleBaseline's) default
    ema: float = 0.0  #: weight averaging decay per step (0: off)
    rom: float = 0.0  #: the stream's rom_share (fresh poses reposed by full-rom)
    tilt: float | None = None  #: the training bodies' tilt sd, degrees (None: generate's default)
    lean: bool = False  #: the reposed share by full-rom-lean (sideways bends) instead of full-rom


def parse_row(name: str) -> Row:
    """``baseline`` or ``+``-joined levers ``jitter<S>``, ``det``, ``dropout<D>``, ``ema<D>``,
    ``rom<S>``, ``tilt<D>``, ``lean`` -> :class:`Row`."""
    fields: dict[str, Any] = {}
    for part in name.split("+"):
        key = part.rstrip("0123456789.")
        if part == "baseline":
            continue
        if part in ("det", "lean"):
            fields[part] = True
            continue
        try:
            if key not in ("jitter", "dropout", "ema", "rom", "tilt"):
                raise ValueError(part)
            fields[key] = float(part[len(key) :])
        except ValueError:
            raise SystemExit(
                f"unknown row {name!r}; expected baseline or '+'-joined jitter<S>, det, dropout<D>, ema<D>, rom<S>, tilt<D>, lean"
            ) from None
    return Row(**fields)


class _NoFlip:
    def __init__(self, lifter: Lifter) -> None:
        self.lifter = lifter

    def predict(self, uv: Any) -> Any:
        return self.lifter.predict(uv, flip=False)


def real_row(data: PersonData, lifter: Lifter) -> dict[str, Any]:
    """P-MPJPE (mm) from both inputs, with and without flip, with per-part and per-person figures."""
    out: dict[str, Any] = {}
    for tag, model in (("flip", lifter), ("no_flip", _NoFlip(lifter))):
        for r in score_models(data, {"m": model}):
            key = "blazepose_world" if r.model != "m" else f"{r.input}_{tag}"
            out[key] = {
                "p_mpjpe_mm": round(r.overall.p_mpjpe_mm, 2),
                "mpjpe_mm": round(r.overall.mpjpe_mm, 2),
                "by_part_mm": {k: round(v, 1) for k, v in r.overall.p_mpjpe_by_part_mm.items()},
                "per_person_mm": {k: round(v.p_mpjpe_mm, 1) for k, v in r.per_person.items()},
            }
    return out


def train_row(name: str, args: argparse.Namespace, data: PersonData) -> dict[str, Any]:
    row = parse_row(name)
    stream = {
        "samples_per_epoch": args.samples,
        "workers": 1,
        "keypoint_jitter": row.jitter,
        "rom_share": row.rom,
        "rom_motions": "full-rom-lean" if row.lean else "full-rom",
        "generate": {"activities": COUPLED_MIX, **({} if row.tilt is None else {"tilt_sd_deg": row.tilt})},
    }
    noise: dict[str, Any] = {"sigma_px": 1.0, **({"sigma_joints": BLAZEPOSE_SIGMA_JOINTS} if row.det else {})}
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=256,
        width=args.width,
        dropout=row.dropout,
        ema_decay=row.ema,
        seed=args.seed,
        noise=noise,
        device="cpu",
    )
    out = Path(args.out) / name
    epochs: list[dict[str, Any]] = []

    class Progress:
        def on_start(self, *_: Any) -> None: ...

        def on_batch(self, *_: Any) -> None: ...

        def on_epoch(self, record: Any) -> None:
            real = real_row(data, load_lifter(out))
            epochs.append({"epoch": record["epoch"], "seconds": record["seconds"], "real": real})
            r = real
            print(
                f"{name} epoch {record['epoch']}: P-MPJPE ideal 2D {r['ideal_2d_flip']['p_mpjpe_mm']:.1f} "
                f"(no flip {r['ideal_2d_no_flip']['p_mpjpe_mm']:.1f}), BlazePose 2D "
                f"{r['blazepose_2d_flip']['p_mpjpe_mm']:.1f} (no flip {r['blazepose_2d_no_flip']['p_mpjpe_mm']:.1f})",
                file=sys.stderr,
                flush=True,
            )

    start = time.perf_counter()
    train_stream(stream, out, cfg, overwrite=True, callbacks=Progress())
    lifter = load_lifter(out)
    tests = {
        "everyday": everyday_test_set(args.test_samples, args.seed + 1000),
        "uncommon": uncommon_test_set(args.test_samples, args.seed + 2000),
    }
    return {
        **asdict(row),
        "samples_per_epoch": args.samples,
        "epochs": args.epochs,
        "width": args.width,
        "seconds": round(time.perf_counter() - start, 1),
        "per_epoch": epochs,
        "synthetic_mpjpe_mm": {t: evaluate_lifter(lifter, d).mpjpe_mm for t, d in tests.items()},
    }


def render(rows: dict[str, Any]) -> str:
    lines = [
        "| row | epochs | real P-MPJPE ideal 2D (no flip) | real P-MPJPE BlazePose 2D (no flip) | best epoch ideal / BlazePose "
        "| BlazePose world | synthetic uncommon MPJPE | synthetic everyday MPJPE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        last = r["per_epoch"][-1]["real"]
        best_i = min(e["real"]["ideal_2d_flip"]["p_mpjpe_mm"] for e in r["per_epoch"])
        best_b = min(e["real"]["blazepose_2d_flip"]["p_mpjpe_mm"] for e in r["per_epoch"])
        lines.append(
            f"| {name} | {r['epochs']} | {last['ideal_2d_flip']['p_mpjpe_mm']:.1f} "
            f"({last['ideal_2d_no_flip']['p_mpjpe_mm']:.1f}) | {last['blazepose_2d_flip']['p_mpjpe_mm']:.1f} "
            f"({last['blazepose_2d_no_flip']['p_mpjpe_mm']:.1f}) | {best_i:.1f} / {best_b:.1f} | "
            f"{last['blazepose_world']['p_mpjpe_mm']:.1f} | {r['synthetic_mpjpe_mm']['uncommon']:.1f} | "
            f"{r['synthetic_mpjpe_mm']['everyday']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--real", required=True, help="the real benchmark's per-person .npz (PersonData)")
    ap.add_argument("--out", default="ablation-stream")
    ap.add_argument("--rows", default="baseline,jitter0.03")
    ap.add_argument("--samples", type=int, default=200_000, help="fresh samples per epoch")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--test-samples", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    data = PersonData.load(Path(args.real))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = out / "rows.json"
    rows: dict[str, Any] = json.loads(store.read_text()) if store.exists() else {}
    for name in args.rows.split(","):
        parse_row(name)
        if name in rows:
            continue
        rows[name] = train_row(name, args, data)
        store.write_text(json.dumps(rows, indent=1))
    print(render({k: rows[k] for k in args.rows.split(",")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
