"""Knee range-of-motion augmentation + projection: the kernels and the whole ``augment`` command.

Run:  .venv/bin/python benchmarks/bench_augment.py [--frames N] [--loop L]
          [--command-frames M [M ...]] [--workers 1 2] [--repeat R] [--baseline SRC]
          [--kernel-workers 1 2] [--kernel-repeat K]

Everything below is measured in this one run, and every ratio is between figures of it.

Kernels (one core pinned): set both knees to a random flexion in [0°, 150°] with the feet
following, then project the 17 joints through each frame's OpenCV-model camera, on the same
everyday frames:

* posesynth: :func:`posesynth.poses.motions.repose_hinges` on whole arrays, both knees in
  one pass (knee axis from the hip–knee–ankle plane, bone lengths kept) and
  :meth:`Camera.project_world`, with the compiled kernels (Numba, the ``fast`` extra) and
  with the NumPy fallback;
* seed-style loop: per frame, guess the body's yaw from the hips, build the knee's rotation
  plane from it, swing a shank of thigh length about the knee, then ``cv2.projectPoints``;
* memcpy of the same bytes (the float64 3D in and the 2D out): the limit.

The compiled kernels and the loop are alternated ``--kernel-repeat K`` times (the medians,
and the median of the per-round ratios, are shown); then the kernel path's stages (seconds
in each function it calls, ns per frame); then the compiled kernels on each
``--kernel-workers`` count (child processes, each pinned to its own core, running at the
same time over the same frames: the sum of their rates). With ``--baseline SRC`` the
kernels and their stages also run with that code (a child process per round, alternated).

Whole command: ``posesynth augment X --motions seed-knee`` on an MMPose file of each
``--command-frames`` size (made first by ``posesynth generate`` + ``posesynth convert
--to mmpose``: one camera per frame), as a child process on each ``--workers`` count
(``--repeat R`` times, the median shown), wall clock including start-up and reading, against
the seed-style loop over the same file (np.load of the npz, pickle.load of the cameras, the
per-frame loop above, np.savez of the result), the kernel above (the compiled knee
reposing + projection) and memcpy of the bytes it writes; then the command's stages
(``--no-stages`` skips them) in a child process through the functions the command calls,
and its start-up (the command on 200 frames).

``--baseline SRC`` (the ``src/`` of the code before a change, e.g. ``git worktree add
/tmp/aug-before HEAD`` then ``--baseline /tmp/aug-before/src``) runs the command, its
start-up and its stages with that code too, alternated with this checkout's, in this run.
"""

from __future__ import annotations

import os

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: the caller's thread settings: the commands run with them, as a user's would (the sharded
#: jobs limit BLAS themselves); the kernels run on one thread
USER_THREADS = {var: os.environ.get(var) for var in _THREAD_VARS}
for var in _THREAD_VARS:
    os.environ[var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Mapping  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from bench_fresh_memory import system_seconds  # noqa: E402
from posesynth.body.skeleton import H36M17  # noqa: E402
from posesynth.geometry.camera import rotation_translation  # noqa: E402
from posesynth.geometry.placement import sample_cameras  # noqa: E402
from posesynth.poses.motions import repose_hinges  # noqa: E402
from posesynth.poses.procedural import sample_poses  # noqa: E402
from posesynth.util.jit import ENV_VAR, numba_installed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

KNEES = (("right_hip", "right_knee", "right_foot"), ("left_hip", "left_knee", "left_foot"))


def vectorised(positions, cameras, flexion):
    # both knees in one pass, as `augment --motions seed-knee` runs them (poses.repose)
    p, _ = repose_hinges(positions, H36M17, [knee for _, knee, _ in KNEES], list(flexion))
    return cameras.project_world(p)


def seed_loop(positions, K, dist, rvecs, tvecs, flexion):
    out = np.empty(positions.shape[:2] + (2,))
    for i in range(len(positions)):
        p = positions[i].copy()
        hips = p[H36M17.index("left_hip")] - p[H36M17.index("right_hip")]
        yaw = np.arctan2(hips[1], hips[0])
        c, s = np.cos(yaw), np.sin(yaw)
        for (hip, knee, foot), f in zip(KNEES, flexion):
            h, k, a = H36M17.index(hip), H36M17.index(knee), H36M17.index(foot)
            thigh = np.linalg.norm(p[k] - p[h])
            local = np.array([0.0, -np.sin(f[i]), -np.cos(f[i])]) * thigh  # in the yaw frame
            p[a] = p[k] + np.array([c * local[0] - s * local[1], s * local[0] + c * local[1], local[2]])
        uv, _ = cv2.projectPoints(p, rvecs[i], tvecs[i], K[i], dist[i])
        out[i] = uv[:, 0, :]
    return out


def kernel_rate(poses, cams, flexion, frames: int, kernels: str) -> float:
    os.environ[ENV_VAR] = kernels
    n = len(poses)
    vectorised(poses[:100], cams[np.arange(100)], flexion[:, :100])  # compile / load, warm up
    start = time.perf_counter()
    done = 0
    while done < frames:
        m = min(n, frames - done)
        vectorised(poses[:m], cams if m == n else cams[np.arange(m)], flexion[:, :m])
        done += m
    return done / (time.perf_counter() - start)


#: The functions of the knee kernel path, (module, class or None, attribute, label), timed by
#: kernel_stages (a function absent from a version, say before a refactor, is skipped).
KERNEL_STAGES = (
    ("posesynth.poses.motions", None, "_hinge_plan", "plan: hinge constants (cached)"),
    ("posesynth.body._kernels", None, "hinge_geometry", "kernel: hinge geometry (both knees, one pass)"),
    ("numpy", None, "arctan2", "NumPy: atan2 (flexion before)"),
    ("numpy", None, "sin", "NumPy: sin (half angles)"),
    ("numpy", None, "cos", "NumPy: cos (half angles)"),
    ("posesynth.body._kernels", None, "rotate_subtree", "kernel: turn the shanks, poses written once"),
    ("posesynth.geometry._kernels", None, "project_world", "kernel: world -> camera -> pixels (OpenCV)"),
    ("posesynth.poses.motions", None, "repose_hinges", "all: repose_hinges"),
    ("posesynth.geometry.camera.camera", "Camera", "project_world", "all: Camera.project_world"),
)


def kernel_stages(poses, cams, flexion, frames: int) -> dict[str, float]:
    """ns per frame spent in each function of :data:`KERNEL_STAGES` while the compiled
    kernel path runs over ``frames`` frames (the rest of the path: NumPy glue)."""
    import importlib

    os.environ[ENV_VAR] = "numba"
    vectorised(poses[:100], cams[np.arange(100)], flexion[:, :100])
    stages = Stages()
    for module, cls, attr, label in KERNEL_STAGES:
        owner = importlib.import_module(module)
        stages.wrap(getattr(owner, cls) if cls else owner, attr, label)
    import posesynth.poses.motions as motions

    try:
        start = time.perf_counter()
        done, n = 0, len(poses)
        while done < frames:
            m = min(n, frames - done)
            p, _ = motions.repose_hinges(poses[:m], H36M17, [k for _, k, _ in KNEES], list(flexion[:, :m]))
            (cams if m == n else cams[np.arange(m)]).project_world(p)
            done += m
        total = time.perf_counter() - start
    finally:
        stages.restore()
    out = {label: stages.seconds[label] / done * 1e9 for *_, label in KERNEL_STAGES if label in stages.seconds}
    out["all: the path"] = total / done * 1e9
    return out


def kernel_child(args: argparse.Namespace) -> dict:
    """A child's figures for the main process: this code's kernel rate (its own core), and
    with ``--kernel-child stages`` its stages."""
    poses, cams, flexion = kernel_inputs(args)
    out = {"rate": kernel_rate(poses, cams, flexion, args.frames, "numba")}
    if args.kernel_child == "stages":
        out["stages"] = kernel_stages(poses, cams, flexion, args.frames)
    return out


def kernel_inputs(args: argparse.Namespace):
    """The benchmark's frames: everyday poses, an OpenCV-model camera each, both knees' flexion."""
    rng = np.random.default_rng(0)
    n = min(args.chunk, args.frames)
    poses = sample_poses(rng, n, H36M17, {"stand": 1, "walk": 1}, {"knee_flexion": (0, 60)}).positions
    cams = sample_cameras(rng, poses, "opencv")
    flexion = np.deg2rad(rng.uniform(0, 150, (2, n)))
    return poses, cams, flexion


def run_kernel_children(args: argparse.Namespace, workers: int, package: Path | None, mode: str) -> list[dict]:
    """``workers`` children (this script, ``--kernel-child MODE``) at the same time, each
    pinned to its own core, with ``package`` (None: this checkout) first on the path."""
    cores = args.cores or [0]
    procs = []
    for w in range(workers):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--kernel-child", mode, "--frames", str(args.frames),
               "--chunk", str(args.chunk), "--pin", str(cores[w % len(cores)])]  # fmt: skip
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=_env(package), stdout=subprocess.PIPE, text=True))
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"kernel child failed ({proc.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def memcpy_rate(bytes_per_frame: int, frames: int = 200_000) -> float:
    """Frames/s of copying ``bytes_per_frame`` per frame (best of 5)."""
    src = np.ones(bytes_per_frame * frames // 8)
    dst = np.empty_like(src)
    best = np.inf
    for _ in range(5):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return frames / best


def _env(package: Path | None, user_threads: bool = False) -> dict[str, str]:
    """A child's environment: the kernels' choice left to the command, and ``package`` (a
    ``src`` folder of another version) first on the module path; with ``user_threads``, the
    caller's thread settings (else one thread)."""
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    if user_threads:
        for var, value in USER_THREADS.items():
            env.pop(var, None)
            if value is not None:
                env[var] = value
    if package is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(package), env.get("PYTHONPATH", "")])
    return env


def cli(*args: str, package: Path | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "posesynth.cli.main", *args], cwd=ROOT,
                          env=_env(package, user_threads=True), check=True, capture_output=True, text=True)  # fmt: skip
    return done.stdout


def command_run(npz: Path, out: Path, workers: int, package: Path | None) -> tuple[float, dict]:
    """(wall seconds, the --json summary) of ``posesynth augment NPZ --motions seed-knee``."""
    start = time.perf_counter()
    summary = json.loads(cli("augment", str(npz), "--motions", "seed-knee", "--out", str(out), "--workers",
                             str(workers), "--no-figure", "--json", package=package))  # fmt: skip
    wall = time.perf_counter() - start
    return wall, summary


def mmpose_source(frames: int, folder: Path, workers: int) -> Path:
    """An MMPose ``.npz`` + ``cameras.pkl`` of ``frames`` generated frames (a camera each)."""
    cli("generate", "-n", str(frames), "--camera-model", "h36m", "--no-preview", "--out", str(folder / "g"),
        "--workers", str(workers))  # fmt: skip
    cli("convert", str(folder / "g"), str(folder / "m"), "--to", "mmpose", "--no-check")
    shutil.rmtree(folder / "g")
    (npz,) = (folder / "m").glob("*.npz")
    return npz


def seed_loop_on_file(npz: Path, cameras_pkl: Path, out: Path, flex_seed: int = 0) -> tuple[int, float]:
    """(frames, seconds) of the seed-style loop over an MMPose file: load it, per frame swing
    both shanks and project with the frame's camera (cv2.projectPoints), save the result."""
    import pickle

    start = time.perf_counter()
    data = np.load(npz)
    S = data["S"][..., :3]  # camera-frame metres
    names = data["imgname"]
    with open(cameras_pkl, "rb") as fh:
        cams = pickle.load(fh)
    n = len(S)
    rng = np.random.default_rng(flex_seed)
    flexion = np.deg2rad(rng.uniform(0, 150, (2, n)))
    part = np.empty((n, 17, 3))
    for i in range(n):
        subject, rest = str(names[i]).split("/", 1)
        cam = cams[(subject, rest.split("/")[0].split(".")[-1])]
        K = np.array([[cam["f"][0, 0], 0, cam["c"][0, 0]], [0, cam["f"][1, 0], cam["c"][1, 0]], [0, 0, 1.0]])
        dist = np.array([cam["k"][0, 0], cam["k"][1, 0], cam["p"][0, 0], cam["p"][1, 0], cam["k"][2, 0]])
        p = S[i].copy()  # camera frame: y down; the seed swings the shank in the hips' plane
        for (hip, knee, foot), f in zip(KNEES, flexion):
            h, k, a = H36M17.index(hip), H36M17.index(knee), H36M17.index(foot)
            thigh = np.linalg.norm(p[k] - p[h])
            p[a] = p[k] + np.array([0.0, np.cos(f[i]), -np.sin(f[i])]) * thigh
        uv, _ = cv2.projectPoints(p, np.zeros(3), np.zeros(3), K, dist)
        part[i, :, :2] = uv[:, 0, :]
        part[i, :, 2] = 1.0
    np.savez(out / "seed-loop.npz", S=S, part=part, imgname=names)
    return n, time.perf_counter() - start


class Stages:
    """Seconds spent in named functions while a block runs: each is wrapped by a timer for
    the block (a function that is not there, say after a refactor, is skipped)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.system: dict[str, float] = {}  # of which the kernel's time on this thread (page faults, I/O)
        self._undo: list[tuple[object, str, object]] = []

    def wrap(self, owner: object, attr: str, label: str) -> None:
        original = getattr(owner, attr, None)
        if original is None:
            return

        def timed(*args, **kwargs):
            start, sys_start = time.perf_counter(), system_seconds()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - start
                self.system[label] = self.system.get(label, 0.0) + system_seconds() - sys_start

        self._undo.append((owner, attr, original))
        setattr(owner, attr, timed)

    def restore(self) -> None:
        for owner, attr, original in reversed(self._undo):
            setattr(owner, attr, original)
        self._undo.clear()


def stage_breakdown(npz: Path, out: Path, warm: Path | None = None) -> dict[str, float]:
    """Seconds per stage of ``posesynth augment NPZ --motions seed-knee`` (one worker, no
    figure), run in this process through the functions the command calls: reading (the npz,
    the safety scan of cameras.pkl, unpickling, the camera table), the source rows, the
    augmentation per shard, writing the shards and the manifest, the summary."""
    from posesynth.data.dataset import PoseDataset
    from posesynth.data.formats import mmpose, numpy_pickle
    from posesynth.jobs import augment, augment_store
    from posesynth.jobs.augment_source import read_source
    from posesynth.poses.motion_spec import load_motions

    os.environ.pop(ENV_VAR, None)  # the kernels as the command runs them (kernel_rate set the variable)
    if warm is not None:  # the kernels loaded (their first calls), as start-up measures them apart
        augment_store.augment_to_store(read_source(warm), load_motions("seed-knee", H36M17), None, out)
        shutil.rmtree(out)
    stages = Stages()
    stages.wrap(mmpose, "_load_npz", "read: npz arrays")
    stages.wrap(numpy_pickle, "_check_opcodes", "read: cameras.pkl safety scan")
    stages.wrap(numpy_pickle, "_pickled_records", "read: cameras.pkl fast read (compiled walk, arrays gathered)")
    stages.wrap(numpy_pickle.NumpyOnlyUnpickler, "load", "read: cameras.pkl unpickling (guarded; the fallback)")
    stages.wrap(mmpose, "_cameras_for", "read: camera table (batched cameras, index, names)")
    stages.wrap(mmpose, "_parse_names", "read: image names -> subject, action, camera, frame")
    stages.wrap(mmpose, "_parse_name_array", "read: image names, array passes (compiled)")
    stages.wrap(mmpose, "_lean_fields", "read: camera table: fields checked + gathered (inside the above)")
    stages.wrap(PoseDataset, "complete", "read: world 3D from camera 3D (PoseDataset.complete)")
    stages.wrap(augment, "source_rows", "plan: usable rows, cameras per sample")
    stages.wrap(augment_store, "rows_checksum", "plan: rows checksum (resume identity)")
    stages.wrap(augment, "augment_shard", "job: reposing + collision + cameras + 2D (kernels)")
    stages.wrap(augment, "dataset_store_arrays", "job: shard data set -> store arrays")
    stages.wrap(augment_store, "run_sharded", "job: run_sharded (all of the job)")
    stages.wrap(augment_store, "augment_summary", "job: summary statistics")
    stages.wrap(augment_store, "write_json_atomic", "job: summary file")
    total: dict[str, float] = {}
    system: dict[str, float] = {}
    try:
        start, sys_start = time.perf_counter(), system_seconds()
        dataset = read_source(npz)
        total["read (all)"] = time.perf_counter() - start
        system["read (all)"] = system_seconds() - sys_start
        motions = load_motions("seed-knee", dataset.skeleton)
        start, sys_start = time.perf_counter(), system_seconds()
        augment_store.augment_to_store(dataset, motions, None, out)
        total["augment_to_store (all)"] = time.perf_counter() - start
        system["augment_to_store (all)"] = system_seconds() - sys_start
    finally:
        stages.restore()
    seconds = {**total, **stages.seconds}
    job = seconds.get("job: run_sharded (all of the job)", 0.0)
    inside = sum(v for k, v in seconds.items() if k.startswith("job: ") and "run_sharded" not in k)
    seconds["job: writing shards + manifest + commit (rest of run_sharded)"] = max(job - inside, 0.0)
    # the system time of the main thread in each stage, where it is a tenth of a second or more
    for label, value in {**system, **stages.system}.items():
        if value >= 0.1:
            seconds[f"  of which system time: {label}"] = value
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--loop", type=int, default=20_000)
    parser.add_argument("--command-frames", type=int, nargs="*", default=[200_000],
                        help="MMPose file sizes for the whole command (0 or none: skip it)")  # fmt: skip
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--dir", type=Path, default=None, help="where the command writes (default: beside the repo)")
    parser.add_argument("--stages", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the command's stages in this process")  # fmt: skip
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="the src/ folder of the code before a change: the command, its start-up and its "
                             "stages run with it too, alternated with this checkout's, in this run")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of the command per version and worker count (the median is shown)")  # fmt: skip
    parser.add_argument("--kernel-repeat", type=int, default=3,
                        help="rounds of the compiled kernels and the seed-style loop, alternated (the median)")  # fmt: skip
    parser.add_argument("--kernel-workers", type=int, nargs="*", default=[1, 2],
                        help="also run the compiled kernels on these worker counts (processes, at once)")  # fmt: skip
    parser.add_argument("--kernel-stages", action=argparse.BooleanOptionalAction, default=True,
                        help="time the kernel path's stages")  # fmt: skip
    parser.add_argument("--stages-child", nargs=4, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--kernel-child", choices=["rate", "stages"], default=None, help=argparse.SUPPRESS)
    parser.add_argument("--pin", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stages_child is not None:  # a child of stages_in_child: NPZ OUT REPORT WARM
        npz, out, report, warm = args.stages_child
        Path(report).write_text(json.dumps(stage_breakdown(Path(npz), Path(out), Path(warm))))
        return
    if args.kernel_child is not None:  # a child of run_kernel_children: its figures, one JSON line
        if args.pin is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {args.pin})
        print(json.dumps(kernel_child(args)))
        return
    args.command_frames = [n for n in args.command_frames if n > 0]
    results: dict = {"kernels": {}, "command": {}}
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    args.cores = sorted(affinity) if affinity else None  # the kernel children's cores, the first one first
    if affinity:
        os.sched_setaffinity(0, {min(affinity)})
    poses, cams, flexion = kernel_inputs(args)
    n = len(poses)

    L = min(args.loop, n)
    R, t = rotation_translation(np.asarray(cams.rotation[:L]), np.asarray(cams.center[:L]))
    rvecs = [cv2.Rodrigues(r)[0] for r in R]
    K = [np.array([[f[0], 0, f[2]], [0, f[1], f[3]], [0, 0, 1.0]]) for f in np.asarray(cams.intrinsics[:L])]
    dist = list(np.asarray(cams.distortion[:L]))
    baseline = args.baseline.resolve() if args.baseline is not None else None
    rounds: dict[str, list[float]] = {"numba": [], "loop": [], "ratio": [], "before": []}
    for _ in range(max(args.kernel_repeat, 1)):  # alternated, so that the load moves all alike
        if numba_installed():
            rounds["numba"].append(kernel_rate(poses, cams, flexion, args.frames, "numba"))
        start = time.perf_counter()
        seed_loop(poses[:L], K, dist, rvecs, list(t), flexion[:, :L])
        rounds["loop"].append(L / (time.perf_counter() - start))
        if rounds["numba"]:
            rounds["ratio"].append(rounds["numba"][-1] / rounds["loop"][-1])
        if baseline is not None and numba_installed():
            rounds["before"].append(run_kernel_children(args, 1, baseline, "rate")[0]["rate"])
    rates = {"numba": median(rounds["numba"])} if rounds["numba"] else {}
    rates["numpy"] = kernel_rate(poses, cams, flexion, max(args.frames // 4, n), "numpy")
    loop_rate = median(rounds["loop"])
    copy_rate = memcpy_rate(17 * (3 + 2) * 8)
    best = rates.get("numba", rates["numpy"])
    ratio = median(rounds["ratio"]) if rounds["ratio"] else best / loop_rate

    runs = f"median of {len(rounds['loop'])} alternated rounds, " if len(rounds["loop"]) > 1 else ""
    print(f"knee augmentation + OpenCV projection, one core, chunks of {n:,} ({runs}load average "
          f"{os.getloadavg()[0]:.2f} at the end)")  # fmt: skip
    for name, rate in rates.items():
        print(f"  {'compiled kernels' if name == 'numba' else 'NumPy fallback  '}: {rate:>12,.0f} frames/s")
    if rounds["before"]:
        print(f"  compiled, --baseline code: {median(rounds['before']):>12,.0f} frames/s (a child per round); "
              f"now / before {best / median(rounds['before']):.2f}x")  # fmt: skip
    print(f"  seed-style loop : {loop_rate:>12,.0f} frames/s ({L:,} frames)")
    print(f"  memcpy, same bytes (680 B/frame): {copy_rate:,.0f} frames/s")
    if len(rounds["ratio"]) > 1:
        print(f"  per round: kernels {', '.join(f'{r:,.0f}' for r in rounds['numba'])}; loop "
              f"{', '.join(f'{r:,.0f}' for r in rounds['loop'])}; ratio {', '.join(f'{r:.0f}x' for r in rounds['ratio'])}")  # fmt: skip
    print(f"  ratios: kernels / seed loop {ratio:,.0f}x; kernels / NumPy {best / rates['numpy']:.1f}x; "
          f"kernels / memcpy {best / copy_rate:.3f} (goals: >= 2,000,000 frames/s, >= 100x the loop)")  # fmt: skip
    results["kernels"] = {"rates": rates, "loop": loop_rate, "memcpy": copy_rate, "frames": args.frames,
                          "ratio": ratio, "rounds": rounds}  # fmt: skip
    if numba_installed() and args.kernel_stages:
        versions: list[tuple[str, Path | None]] = [("now", None)] + ([("before", baseline)] if baseline else [])
        per_run: dict[str, list[dict[str, float]]] = {tag: [] for tag, _ in versions}
        for _ in range(max(args.kernel_repeat, 1)):  # each in a child on the first core, alternated
            for tag, package in versions:
                per_run[tag].append(run_kernel_children(args, 1, package, "stages")[0]["stages"])
        table = {
            tag: {name: median([run.get(name, float("nan")) for run in runs]) for name in runs[0]}
            for tag, runs in per_run.items()
        }
        print(f"\n  the kernel path's stages, ns per frame (one core, a child process each, the median of "
              f"{max(args.kernel_repeat, 1)} alternated runs; the rest of a path is NumPy glue):")  # fmt: skip
        print(f"    {'':<52}" + "".join(f"{tag:>9}" for tag in table))
        for name in dict.fromkeys(name for stages in table.values() for name in stages):
            print(f"    {name:<52}" + "".join(f"{table[tag].get(name, float('nan')):9.1f}" for tag in table))
        results["kernels"]["stages"] = table
    for workers in args.kernel_workers:
        if workers < 1 or not numba_installed():
            continue
        each = [r["rate"] for r in run_kernel_children(args, workers, None, "rate")]
        print(f"  compiled kernels on {workers} worker{'s' if workers > 1 else ''} (processes, a core each, at "
              f"once): {sum(each):,.0f} frames/s ({' + '.join(f'{r:,.0f}' for r in each)}); "
              f"{sum(each) / loop_rate:,.0f}x the loop")  # fmt: skip
        results["kernels"].setdefault("workers", {})[str(workers)] = {"rate": sum(each), "each": each}
    if not args.command_frames:
        _dump(args.json, results)
        return
    if affinity:
        os.sched_setaffinity(0, affinity)
    versions: list[tuple[str, Path | None]] = [("now", None)]
    if args.baseline is not None:
        versions.insert(0, ("before", args.baseline.resolve()))
    base = Path(tempfile.mkdtemp(prefix="posesynth-bench-augment-", dir=args.dir or ROOT.parent))
    try:
        tiny = mmpose_source(200, base / "tiny", 1)
        for _, package in versions:  # kernels compiled into each version's cache first
            command_run(tiny, base / "warm", 1, package)
            shutil.rmtree(base / "warm")
        starts: dict[str, list[float]] = {tag: [] for tag, _ in versions}
        for _ in range(args.repeat):  # alternated; the median
            for tag, package in versions:
                starts[tag].append(command_run(tiny, base / "warm", 1, package)[0])
                shutil.rmtree(base / "warm")
        startup = {tag: sorted(walls)[len(walls) // 2] for tag, walls in starts.items()}
        for size in args.command_frames:
            results["command"] = command_sizes = results.get("command") or {}
            figures = whole_command(args, size, base, versions, best, startup, tiny)
            results.setdefault("sizes", {})[str(size)] = figures
            if size == args.command_frames[0]:  # run_all.py reads the first size's figures here
                command_sizes.update(figures["now"])
                command_sizes.update(loop=figures["loop"], frames=figures["frames"])
                if "stages" in figures:
                    results["stages"] = figures["stages"]["now"]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    _dump(args.json, results)


def whole_command(args: argparse.Namespace, size: int, base: Path, versions: list[tuple[str, Path | None]],
                  kernel: float, startup: Mapping[str, float], tiny: Path) -> dict:  # fmt: skip
    """The whole command on an MMPose file of ``size`` frames, each version alternated
    ``args.repeat`` times per worker count (medians), the seed-style loop over the file, and
    the stages in a child process per version; prints them and returns the figures."""
    folder = base / f"src-{size}"
    npz = mmpose_source(size, folder, max(args.workers))
    print(f"\nwhole command: posesynth augment {npz.name} --motions seed-knee ({size:,} MMPose frames, "
          f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} cores available)")  # fmt: skip
    frames, loop_s = seed_loop_on_file(npz, folder / "m" / "cameras.pkl", folder)
    loop_cmd = frames / loop_s
    (folder / "seed-loop.npz").unlink()
    figures: dict = {"loop": loop_cmd, "frames": frames, "kernel": kernel}
    for workers in args.workers:
        runs: dict[str, list[tuple[float, dict]]] = {tag: [] for tag, _ in versions}
        sizes: dict[str, int] = {}
        for _ in range(args.repeat):  # alternated, so that the load moves both alike
            for tag, package in versions:
                out = base / f"a-{tag}-{workers}"
                runs[tag].append(command_run(npz, out, workers, package))
                sizes[tag] = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
                shutil.rmtree(out)
        for tag, _ in versions:
            walls = sorted(wall for wall, _ in runs[tag])
            wall = walls[len(walls) // 2]
            samples, written = runs[tag][0][1]["samples"], sizes[tag]
            rate = frames / wall
            one = figures.get(tag, {}).get("1", {}).get("rate", rate)
            copy_cmd = memcpy_rate(max(written // max(samples, 1), 1))
            shown = f" (runs: {', '.join(f'{frames / w:,.0f}' for w in walls)})" if args.repeat > 1 else ""
            print(f"  {tag + ': ' if len(versions) > 1 else ''}{workers} worker{'s' if workers > 1 else ' '}: "
                  f"{rate:>10,.0f} frames/s wall clock{shown}; {rate / loop_cmd:,.2f}x the seed-style loop; "
                  f"{rate / kernel:.4f} of the kernel; {rate / copy_cmd:.4f} of memcpy of the "
                  f"{written // max(samples, 1)} B/sample written; {rate / one:.2f}x one worker")  # fmt: skip
            figures.setdefault(tag, {})[str(workers)] = {"rate": rate, "wall_s": wall, "memcpy": copy_cmd,
                                                         "runs_s": walls}  # fmt: skip
    print(f"  seed-style loop over the file: {loop_cmd:,.0f} frames/s; the kernel (knee reposing + projection, "
          f"compiled): {kernel:,.0f} frames/s (goal: augment >= 20x the loop)")  # fmt: skip
    if len(versions) > 1 and "1" in figures.get("now", {}) and "1" in figures.get("before", {}):
        print(f"  now / before, 1 worker: {figures['now']['1']['rate'] / figures['before']['1']['rate']:.2f}x")
    if args.stages:
        per_run: dict[str, list[dict[str, float]]] = {tag: [] for tag, _ in versions}
        for _ in range(args.repeat):  # alternated; the median of each stage
            for tag, package in versions:
                per_run[tag].append(stages_in_child(npz, base / f"stages-{tag}", package, tiny))
        table = {}
        for tag, _ in versions:
            seconds = {"start-up: the command on 200 frames (wall, own process)": startup[tag]}
            for name in dict.fromkeys(name for run in per_run[tag] for name in run):
                values = sorted(run.get(name, 0.0) for run in per_run[tag])
                seconds[name] = values[len(values) // 2]
            table[tag] = seconds
        names = list(dict.fromkeys(name for seconds in table.values() for name in seconds))
        runs = f"the median of {args.repeat} runs per version, alternated, " if args.repeat > 1 else ""
        print(f"\n  stages of the command ({frames:,} frames, one worker, {runs}in a child process), seconds:")
        print(f"    {'':<72}" + "".join(f"{tag:>9}" for tag in table))
        for name in names:
            print(f"    {name:<72}" + "".join(f"{table[tag].get(name, float('nan')):9.2f}" for tag in table))
        figures["stages"] = table
    shutil.rmtree(folder, ignore_errors=True)
    return figures


def stages_in_child(npz: Path, out: Path, package: Path | None, warm: Path) -> dict[str, float]:
    """:func:`stage_breakdown` in a child process with ``package`` (None: this checkout), its
    kernels loaded first by a run over ``warm`` (a small file)."""
    report = out.with_suffix(".json")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--stages-child", str(npz), str(out), str(report), str(warm)]
    subprocess.run(cmd, cwd=ROOT, env=_env(package), check=True)
    seconds = json.loads(report.read_text())
    report.unlink()
    shutil.rmtree(out, ignore_errors=True)
    return seconds


def _dump(path: Path | None, results: dict) -> None:
    if path is not None:
        path.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
