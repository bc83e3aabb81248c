"""``posesynth convert`` memory: peak resident memory per pair of formats at 100k and 1 M samples
(issue 16).

For each size, generates the sources once (``posesynth generate``, one camera per sample: a
pinhole store and an ``--camera-model opencv`` store; an MMPose folder converted from the
pinhole store), then runs each ``--pairs`` conversion in a child process, with the default
round-trip check and/or ``--no-check`` (``--modes``), and prints the child's peak RSS
(``wait4``'s ``ru_maxrss``), the time, the output size, and per pair and mode the ratio of the
largest to the smallest size (flat memory: a ratio near 1) and the goal's verdict (<= 500 MB
at 1 M samples).

Pairs are ``SOURCE:TARGET``; sources ``posesynth`` (pinhole store), ``posesynth-opencv``
(opencv store; its MMPose output carries the exact-camera sidecar), ``mmpose``, and stores
with ids derived from the pinhole store chunk by chunk (:func:`derived_store`):
``posesynth-views`` (each pose seen by two cameras: samples ``2k`` and ``2k + 1`` show pose
``k`` as frame ``k`` of one of 100 subjects, so a TRC row holds two samples),
``posesynth-shuffled`` (every sample its own frame, frames falling within each of 100
subjects: TRC rows in another order than the samples) and ``posesynth-h36m`` (Human3.6M's
shape: 10 subjects in consecutive blocks, 4 fixed cameras per subject in a camera table,
frames rising, each pose seen by the 4 cameras), ``posesynth-h36m-large`` (the same with
subjects of 300,000 samples, as large as Human3.6M's training subjects: 4 subjects at 1 M) and
``posesynth-augment`` (augment's shape:
no subject or frame ids, ``(source_index, variant)`` with 3 variants per source, each the
source's pose moved by ``variant`` cm and seen through the source's camera: a VideoPose3D
subject per source), and sources in other formats made from the pinhole store: ``trc`` (its
``convert --to trc --no-check`` folder: one ``posesynth.trc`` of a row per sample) and
``seed_h5`` (the seed's ``.h5``: ``S`` in mm, ``part``, ``center``, ``scale`` and Human3.6M
image names, so its cameras are Human3.6M's presets, :func:`seed_h5_file`), ``videopose3d``
(its ``convert --to videopose3d --no-check`` folder: a subject per sample, posesynth's batched
pickles and cameras file), ``videopose3d-h36m`` (``posesynth-h36m-large``'s VideoPose3D output
saved again as VideoPose3D saves it, :func:`vp3d_as_videopose3d_writes`: subjects of one
action of 75,000 frames, 4 views) and ``videopose3d-actions`` (Human3.6M's layout from random
values: 7 subjects of 30 actions, :func:`vp3d_actions`); targets as ``convert --to``. Which pairs stream is said in
:func:`posesynth.data.formats.registry.convert_streamed`; the others run in memory, and
``--max-memory-samples`` skips their runs above that size (an in-memory pair needs about
16 KB per sample: 1.6 GB at 100k).

``--baseline SRC`` runs every conversion twice in the same run, alternated, with the package
in ``SRC`` (the code before a change, e.g. ``git worktree add /tmp/before HEAD`` then
``--baseline /tmp/before/src``) and with this checkout's, and prints the ratio after / before.

Run::

    nice python benchmarks/bench_convert.py --work /tmp/bench-convert
    nice python benchmarks/bench_convert.py --work /tmp/bench-convert --sizes 100000 \\
        --pairs posesynth:trc,mmpose:posesynth --modes check

About 2 minutes to generate 1 M samples per store on 2 cores, and 1 to 24 minutes per
streamed pair at 1 M with the check (the ``videopose3d`` source, a subject per sample, the
slowest: 12 minutes without the check on a loaded machine); about 6 GB of disk under
``--work`` at 1 M (the sources, 3.6 GB with the 100k ones, are kept, so a rerun skips them).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

GOAL_MB = 500.0
DERIVED = ("posesynth-views", "posesynth-shuffled", "posesynth-h36m", "posesynth-h36m-large", "posesynth-augment")
#: Samples per subject of ``posesynth-h36m-large`` (Human3.6M's training subjects: about 300k
#: samples each, 4 cameras)
LARGE_SUBJECT = 300_000
#: Sources in other formats than a store, made from the pinhole store (:func:`file_source`)
#: or, for ``videopose3d-h36m``, from ``posesynth-h36m-large`` (:func:`vp3d_as_videopose3d_writes`)
FILES = ("trc", "seed_h5", "videopose3d", "videopose3d-h36m", "videopose3d-actions")
SOURCES = ("posesynth", "posesynth-opencv", "mmpose", *DERIVED, *FILES)
TARGETS = ("posesynth", "mmpose", "videopose3d", "trc")
DEFAULT_PAIRS = "posesynth:mmpose,posesynth:trc,posesynth:videopose3d,mmpose:posesynth,posesynth-opencv:mmpose"
#: Pairs that stream for these sources (registry.convert_streamed); the rest run in memory.
STREAMED = {
    "posesynth:mmpose",
    "posesynth:trc",
    "posesynth:videopose3d",
    "mmpose:posesynth",
    "posesynth-opencv:mmpose",
    "posesynth-views:trc",
    "posesynth-shuffled:trc",
    "posesynth-h36m:videopose3d",
    "posesynth-h36m-large:videopose3d",
    "posesynth-augment:videopose3d",
    "posesynth-augment:trc",
    "trc:posesynth",
    "seed_h5:posesynth",
    "videopose3d:posesynth",
    "videopose3d-h36m:posesynth",
    "videopose3d-actions:posesynth",
    # through a hidden store (registry._through_store)
    *(
        f"{src}:{dst}"
        for src in ("trc", "seed_h5", "videopose3d", "videopose3d-h36m", "videopose3d-actions")
        for dst in ("mmpose", "trc")
    ),
    "videopose3d-h36m:videopose3d",
    "videopose3d-actions:videopose3d",
    "videopose3d:videopose3d",  # a subject per sample: subject by subject (registry._vp3d_plan)
}


def posesynth(*args: str) -> list[str]:
    return [sys.executable, "-m", "posesynth.cli.main", *args]


def peak_rss_mb(cmd: list[str], package: Path | None = None) -> tuple[float, float]:
    """Run ``cmd`` (with ``package`` first on the module path when given); its peak resident
    memory (MB) and wall time (s)."""
    env = None
    if package is not None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(package), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-400:]}")
    return usage.ru_maxrss / 1024.0, seconds  # Linux: kilobytes


def source_path(work: Path, source: str, n: int) -> Path:
    """The source data set of ``source`` at ``n`` samples, made on first use."""
    if source in DERIVED:
        out = work / f"{source}{n}"
        if not (out / "dataset.json").is_file():
            source_path(work, "posesynth", n)
            # in a child: this process stays small, and its size is where every child's peak starts
            cmd = [sys.executable, __file__, "--work", str(work), "--make", source, "--sizes", str(n)]
            subprocess.run(cmd, check=True, capture_output=True)
        return out
    if source == "trc":
        out = work / f"trc{n}"
        if not (out / "posesynth.trc").is_file():
            shutil.rmtree(out, ignore_errors=True)
            store = source_path(work, "posesynth", n)
            subprocess.run(
                posesynth("convert", str(store), str(out), "--to", "trc", "--no-check"), check=True, capture_output=True
            )
        return out
    if source == "seed_h5":
        out = work / f"seed{n}.h5"
        if not out.is_file():
            source_path(work, "posesynth", n)
            cmd = [sys.executable, __file__, "--work", str(work), "--make", source, "--sizes", str(n)]
            subprocess.run(cmd, check=True, capture_output=True)
        return out
    if source == "videopose3d":
        out = work / f"vp{n}"
        if not (out / "data_2d_custom_gt.npz").is_file():
            shutil.rmtree(out, ignore_errors=True)
            store = source_path(work, "posesynth", n)
            subprocess.run(
                posesynth("convert", str(store), str(out), "--to", "videopose3d", "--no-check"),
                check=True,
                capture_output=True,
            )
        return out
    if source == "videopose3d-h36m":
        out = work / f"vph{n}"
        if not (out / "data_2d_custom_gt.npz").is_file():
            shutil.rmtree(out, ignore_errors=True)
            source_path(work, "posesynth-h36m-large", n)
            cmd = [sys.executable, __file__, "--work", str(work), "--make", source, "--sizes", str(n)]
            subprocess.run(cmd, check=True, capture_output=True)
        return out
    if source == "videopose3d-actions":
        out = work / f"vpa{n}"
        if not (out / "data_2d_h36m_gt.npz").is_file():
            cmd = [sys.executable, __file__, "--work", str(work), "--make", source, "--sizes", str(n)]
            subprocess.run(cmd, check=True, capture_output=True)
        return out
    if source == "mmpose":
        out = work / f"mm{n}"
        if not (out / "cameras.pkl").is_file():
            shutil.rmtree(out, ignore_errors=True)
            store = source_path(work, "posesynth", n)
            subprocess.run(
                posesynth("convert", str(store), str(out), "--to", "mmpose", "--no-check"),
                check=True,
                capture_output=True,
            )
        return out
    model = "opencv" if source == "posesynth-opencv" else "pinhole"
    store = work / (f"g{n}" if model == "pinhole" else f"g{n}-{model}")
    if not (store / "dataset.json").is_file():
        shutil.rmtree(store, ignore_errors=True)
        subprocess.run(
            posesynth(
                "generate", "-n", str(n), "--seed", "1", "--no-preview", "--camera-model", model, "--out", str(store)
            ),
            check=True,
            capture_output=True,
        )
    return store


def derived_store(work: Path, kind: str, n: int) -> Path:
    """A store of ``n`` samples with ids (``kind`` in :data:`DERIVED`, see the module
    docstring), made from the pinhole store chunk by chunk (never held whole)."""
    from dataclasses import replace

    import numpy as np

    from posesynth.data.formats.registry import iter_store_chunks
    from posesynth.data.formats.store_io import dataset_store_arrays, pose_store_meta
    from posesynth.data.store import StoreWriter

    out = work / f"{kind}{n}"
    if (out / "dataset.json").is_file():
        return out
    shutil.rmtree(out, ignore_errors=True)
    base = source_path(work, "posesynth", n)
    h36m = kind in ("posesynth-h36m", "posesynth-h36m-large")
    if kind == "posesynth-h36m-large":
        subjects = -(-n // LARGE_SUBJECT)
        per_subject = LARGE_SUBJECT
    else:
        subjects = 10 if h36m else 100
        per_subject = -(-n // subjects)
    table = names = None
    if h36m:
        from posesynth.geometry.camera import concat_cameras, h36m_subject_cameras

        table = concat_cameras([h36m_subject_cameras("S1")] * subjects)
        names = np.array([f"P{s:02d}/cam{c}" for s in range(subjects) for c in range(4)])
    writer = None
    lo = 0
    for chunk in iter_store_chunks(base, 30_000, name_cameras=False)[1]:
        m = len(chunk)
        i = np.arange(lo, lo + m)
        subject = i // per_subject
        if kind == "posesynth-views":
            pose = i - (i % 2)  # samples 2k and 2k+1: the pose of sample 2k (chunks of 30,000)
            world = chunk.joints_3d_world[pose - lo]
            part = replace(chunk, joints_3d_world=world, joints_3d_camera=None, joints_2d=None).complete()
            part = replace(part, subject=np.char.add("S", subject.astype(str)), frame=i // 2)
        elif kind == "posesynth-augment":  # variants 0-2 of source k through sample 3k's camera
            first = (i - i % 3) - lo  # this chunk: a multiple of 3 samples
            cams = chunk.sample_cameras()[first]
            # variant v: the source's pose moved v cm (in view of its camera, as augment's are)
            world = chunk.joints_3d_world[first] + 0.01 * (i % 3)[:, None, None]
            part = replace(chunk, joints_3d_world=world, cameras=cams, joints_3d_camera=None, joints_2d=None)
            part = part.complete()
            part = replace(part, extra={**part.extra, "source_index": i // 3, "variant": i % 3})
        elif kind == "posesynth-shuffled":
            frame = per_subject - 1 - (i % per_subject)  # falling within each subject
            part = replace(chunk, subject=np.char.add("S", subject.astype(str)), frame=frame)
        else:  # h36m: pose k seen by the subject's 4 cameras as samples 4k..4k+3
            pose = i - (i % 4)
            world = chunk.joints_3d_world[pose - lo]
            cam = subject * 4 + i % 4
            part = replace(
                chunk, joints_3d_world=world, joints_3d_camera=None, joints_2d=None,
                cameras=table, camera_index=cam, camera_names=names,
            ).complete()  # fmt: skip
            part = replace(
                part, subject=np.char.add("P", np.char.zfill(subject.astype(str), 2)),
                action=np.full(m, "walk"), frame=(i % per_subject) // 4,
            )  # fmt: skip
        arrays = dataset_store_arrays(part)
        for k in ("subject", "action"):
            if k in arrays:
                arrays[k] = arrays[k].astype("<U8")
        if writer is None:
            meta = pose_store_meta(
                part.skeleton, part.meta, extra=list(part.extra),
                camera_model=None if part.cameras is None else part.cameras.model,
                camera_table=table, camera_names=names,
            )  # fmt: skip
            writer = StoreWriter(out, meta)
        writer.write_shard(arrays)
        lo += m
    assert writer is not None
    writer.commit()
    return out


def seed_h5_file(work: Path, n: int) -> Path:
    """The seed's ``.h5`` of ``n`` samples made from the pinhole store chunk by chunk: ``S``
    (camera 3D, mm), ``part`` (2D), ``center``, ``scale`` and ``imgname`` as Human3.6M's
    (``S9_Walk_1.55011271_000001.jpg``: 7 subjects in consecutive blocks, 4 cameras in
    turn, frames rising), so its cameras are the Human3.6M presets (a table of 28)."""
    import h5py
    import numpy as np

    from posesynth.data.formats.registry import iter_store_chunks
    from posesynth.geometry.camera import H36M_CAMERA_IDS

    out = work / f"seed{n}.h5"
    if out.is_file():
        return out
    base = source_path(work, "posesynth", n)
    subjects = ["S1", "S5", "S6", "S7", "S8", "S9", "S11"]
    per_subject = -(-n // len(subjects))
    tmp = out.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        s = f.create_dataset("S", (n, 17, 3), np.float64)
        part = f.create_dataset("part", (n, 17, 2), np.float64)
        center = f.create_dataset("center", (n, 2), np.float64)
        scale = f.create_dataset("scale", (n,), np.float64)
        names = f.create_dataset("imgname", (n,), "S40")
        lo = 0
        for chunk in iter_store_chunks(base, 50_000, name_cameras=False)[1]:
            chunk = chunk.complete()
            m = len(chunk)
            i = np.arange(lo, lo + m)
            s[lo : lo + m] = chunk.joints_3d_camera * 1000.0
            uv = chunk.joints_2d
            part[lo : lo + m] = uv
            center[lo : lo + m] = (uv.min(1) + uv.max(1)) / 2
            scale[lo : lo + m] = (uv.max(1) - uv.min(1)).max(1) / 200
            subject = np.array(subjects)[i // per_subject]
            camera = np.array(H36M_CAMERA_IDS)[i % 4]
            frame = (i % per_subject) // 4 + 1
            names[lo : lo + m] = [
                f"{a}_Walk_1.{c}_{k:06d}.jpg".encode() for a, c, k in zip(subject, camera, frame.tolist(), strict=True)
            ]
            lo += m
    tmp.rename(out)
    return out


def vp3d_as_videopose3d_writes(work: Path, n: int) -> Path:
    """``posesynth-h36m-large`` converted to VideoPose3D, then each field saved again as
    VideoPose3D's ``prepare_data_h36m.py`` saves it: one pickled dict per field,
    ``np.savez_compressed`` (posesynth's writer pickles a dict in batches; this is the layout
    of the files users bring), with posesynth's ``cameras_custom.json`` beside them."""
    import numpy as np

    store = source_path(work, "posesynth-h36m-large", n)
    written = work / f"vph{n}-posesynth"
    shutil.rmtree(written, ignore_errors=True)
    subprocess.run(
        posesynth("convert", str(store), str(written), "--to", "videopose3d", "--no-check"),
        check=True,
        capture_output=True,
    )
    out = work / f"vph{n}"
    partial = work / f"vph{n}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    shutil.copy(written / "cameras_custom.json", partial / "cameras_custom.json")
    with np.load(written / "data_3d_custom.npz", allow_pickle=True) as z:  # our own file
        np.savez_compressed(partial / "data_3d_custom.npz", positions_3d=z["positions_3d"].item())
    with np.load(written / "data_2d_custom_gt.npz", allow_pickle=True) as z:
        np.savez_compressed(
            partial / "data_2d_custom_gt.npz", positions_2d=z["positions_2d"].item(), metadata=z["metadata"].item()
        )
    shutil.rmtree(written)
    partial.rename(out)
    return out


def vp3d_actions(work: Path, n: int) -> Path:
    """VideoPose3D files of Human3.6M's layout at about ``n`` 2D samples, as its
    ``prepare_data_h36m.py`` saves them (``np.savez_compressed`` of one dict per field): 7
    subjects with published cameras (so Human3.6M's presets), 30 actions each of equal length
    (about 36,000 frames a subject at 1 M), 32-joint float32 3D, 4 float32 2D views 3 frames
    longer (trimmed on reading), random values (seed 0): the shape of the files users bring."""
    import numpy as np

    rng = np.random.default_rng(0)
    subjects = ["S1", "S5", "S6", "S7", "S8", "S9", "S11"]
    frames = n // (4 * len(subjects) * 30)
    p3: dict = {}
    p2: dict = {}
    for s in subjects:
        p3[s], p2[s] = {}, {}
        for k in range(30):
            a = f"Action{k} 1"
            p3[s][a] = (rng.normal(0, 0.3, (frames, 32, 3)) + [0, 0, 1]).astype(np.float32)
            p2[s][a] = [rng.uniform(10, 990, (frames + 3, 17, 2)).astype(np.float32) for _ in range(4)]
    meta = {
        "layout_name": "h36m",
        "num_joints": 17,
        "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]],
    }
    out = work / f"vpa{n}"
    partial = work / f"vpa{n}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    np.savez_compressed(partial / "data_3d_h36m.npz", positions_3d=p3)
    np.savez_compressed(partial / "data_2d_h36m_gt.npz", positions_2d=p2, metadata=meta)
    partial.rename(out)
    return out


def size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the sources and outputs")
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated sample counts")
    parser.add_argument("--pairs", default=DEFAULT_PAIRS, help="comma-separated SOURCE:TARGET")
    parser.add_argument(
        "--modes", default="check,--no-check", help="comma-separated: check (the default convert), --no-check"
    )
    parser.add_argument(
        "--max-memory-samples",
        type=int,
        default=100_000,
        help="skip pairs that convert in memory above this many samples",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="folder holding the posesynth package before a change (its src/): every run is made "
        "with it too, alternated, and the ratio after / before printed",
    )
    parser.add_argument(
        "--make", choices=(*DERIVED, "seed_h5", "videopose3d-h36m", "videopose3d-actions"), help=argparse.SUPPRESS
    )  # a source, in a child
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.make == "videopose3d-actions":
        vp3d_actions(args.work, sizes[0])
        return
    if args.make == "videopose3d-h36m":
        vp3d_as_videopose3d_writes(args.work, sizes[0])
        return
    if args.make == "seed_h5":
        seed_h5_file(args.work, sizes[0])
        return
    if args.make:
        derived_store(args.work, args.make, sizes[0])
        return
    pairs = [p.strip() for p in args.pairs.split(",") if p.strip()]
    for pair in pairs:
        src, _, dst = pair.partition(":")
        if src not in SOURCES or dst not in TARGETS or src == dst:
            raise SystemExit(f"--pairs: {pair!r}: expected SOURCE:TARGET with SOURCE in {SOURCES}, TARGET in {TARGETS}")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    rows = []
    for n in sizes:
        for pair in pairs:
            src, _, dst = pair.partition(":")
            if pair not in STREAMED and n > args.max_memory_samples:
                print(f"{pair:26s} {n:>9,d} samples: skipped (converts in memory)", flush=True)
                continue
            source = source_path(args.work, src, n)
            for label in modes:
                extra = [] if label == "check" else [label]
                out = args.work / f"out-{src}-{dst}-{n}{label}"
                before = None
                for package in ([args.baseline] if args.baseline is not None else []) + [None]:
                    shutil.rmtree(out, ignore_errors=True)
                    cmd = posesynth("convert", str(source), str(out), "--to", dst, *extra)
                    mb, seconds = peak_rss_mb(cmd, package)
                    out_mb = size_mb(out)
                    shutil.rmtree(out)
                    tag = "before" if package is not None else ("after" if args.baseline is not None else "")
                    ratio = "" if before is None else f", after / before {mb / before:.3f}"
                    print(
                        f"{pair:26s} {label:10s} {n:>9,d} samples{' ' + tag if tag else ''}: peak RSS {mb:7.1f} MB, "
                        f"{seconds:7.1f} s, output {out_mb:8.1f} MB{ratio}",
                        flush=True,
                    )
                    if package is not None:
                        before = mb
                rows.append((pair, n, label, mb, seconds, out_mb))
    for pair, label in dict.fromkeys((p, m) for p, _, m, _, _, _ in rows):
        peak = {n: mb for p, n, m, mb, _, _ in rows if p == pair and m == label}
        what = f"{pair:26s} {label:10s}"
        if len(peak) >= 2:
            lo, hi = min(peak), max(peak)
            print(f"{what} peak RSS ratio {hi:,d} / {lo:,d} samples: {peak[hi] / peak[lo]:.2f} (x{hi // lo} samples)")
        if 1_000_000 in peak:
            verdict = "met" if peak[1_000_000] <= GOAL_MB else "NOT met"
            print(f"{what} goal <= {GOAL_MB:.0f} MB at 1 M samples: {verdict} ({peak[1_000_000]:.1f} MB)")


if __name__ == "__main__":
    main()
