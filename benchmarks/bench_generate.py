"""Throughput of procedural generation: the in-memory pipeline and the whole ``generate`` command.

Run:  nice .venv/bin/python benchmarks/bench_generate.py [--samples N] [--loop L]
          [--command-samples M] [--workers 1 2] [--repeat R] [--baseline SRC]

Everything below is measured in this one run, and every ratio is between figures of it.

Pipeline (one core pinned; BLAS/OpenMP threads = 1): procedural poses -> forward kinematics
-> collision redraws -> one random camera each -> world -> camera -> pixels -> visibility, on
chunks of ``--chunk`` samples,

* with the compiled kernels (Numba, the ``fast`` extra) and with the NumPy fallback
  (``POSESYNTH_KERNELS=numpy``);
* the seed-style per-sample loop: per sample, its joints' rotation matrices from Euler
  angles (one SciPy call), a parent-to-child forward kinematics loop, a look-at camera and
  ``cv2.projectPoints`` (the way the seed's scripts work, one frame at a time);
* memcpy of the same bytes (the float64 3D, camera 3D and 2D each sample produces): the limit.

Whole command: ``posesynth generate -n M --no-preview`` as a child process, on each
``--workers`` count (``--repeat R`` times, the median shown), wall clock including start-up,
with the caller's thread settings (the kernels' pipeline runs on one thread), against the
in-memory pipeline (the kernel), the seed-style loop writing its arrays to disk (``np.save``;
once per round beside the command's runs, the median; each loop warmed up by one untimed
sample) and memcpy of the bytes the store holds per sample; then the command's stages
(``--no-stages`` skips them), each its own time, in a child process through the functions the
command calls: start-up (imports; the command on one sample), the configuration, the kernel
(the poses' first draw, the collision checks, the collision redraws, the rest of the poses,
the cameras, world -> camera -> pixels), the kernel's arrays made the store's, writing the
shard files, the fsyncs, the shard records, the summary statistics, the commit.

``--baseline SRC`` (the ``src/`` of the code before a change, e.g. ``git archive COMMIT src |
tar -x -C /tmp/before``) runs the command and its stages with that code too, alternated with
this checkout's, in the same run.

``--kernel-repeat K`` runs the pipeline with the kernels ``K`` times more, each in a child
process, alternated with ``--baseline``'s code when given (the medians and the median of the
per-round ratios), then times the pipeline's stages (ns per sample, each its own time: the
bodies, the rest offsets, the angle draws, the local rotations, the root, forward kinematics,
the collision test, or the fused pass that does those and the ground contact's lift; the
bookkeeping, the cameras, the projection) once per version, each in a child process.
"""

from __future__ import annotations

import os

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: the caller's thread settings: the whole command runs with them, as a user's would (the
#: command limits BLAS itself); the kernels' pipeline runs on one thread
USER_THREADS = {var: os.environ.get(var) for var in _THREAD_VARS}
_KEEP_THREADS = "POSESYNTH_BENCH_USER_THREADS"  # set for the stages' child: it times the command
if os.environ.get(_KEEP_THREADS) != "1":
    for var in _THREAD_VARS:
        os.environ[var] = "1"

import argparse  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from bench_fresh_memory import system_seconds  # noqa: E402
from posesynth.body.angles import angle_names  # noqa: E402
from posesynth.body.skeleton import get_skeleton  # noqa: E402
from posesynth.geometry.placement import sample_cameras  # noqa: E402
from posesynth.poses.procedural import sample_poses  # noqa: E402
from posesynth.util.jit import ENV_VAR, numba_installed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: the mark of a stage timed on another thread than the main one (it overlaps the main one's)
OFF_PATH = "[writer thread]"


def pipeline(rng: np.random.Generator, n: int, skeleton, model: str) -> np.ndarray:
    """Procedural poses -> one camera each -> camera 3D, pixels, visibility; returns uv (n, J, 2).

    The poses as ``generate`` asks for them: without local rotations and bone offsets, which
    none of these outputs need (code before ``with_rotations`` makes them)."""
    try:
        poses = sample_poses(rng, n, skeleton, with_rotations=False)
    except TypeError:  # the code before session 33 (--baseline)
        poses = sample_poses(rng, n, skeleton)
    cameras = sample_cameras(rng, poses.positions, model)
    return cameras.observe(poses.positions)[1]


def seed_style_sample(rng: np.random.Generator, skeleton, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One sample the seed's way, frame by frame: its joints' Euler angles -> matrices (one
    SciPy call), a parent-to-child forward kinematics loop, a look-at camera and
    cv2.projectPoints. Returns (3D (J, 3), 2D (J, 2))."""
    from scipy.spatial.transform import Rotation

    J = skeleton.num_joints
    parents = skeleton.parents
    local = Rotation.from_euler("xyz", rng.uniform(-0.4, 0.4, (J, 3))).as_matrix()
    glob = np.empty((J, 3, 3))
    pos = np.zeros((J, 3))
    glob[0] = local[0]
    for j in range(1, J):
        glob[j] = glob[parents[j]] @ local[j]
        pos[j] = pos[parents[j]] + glob[parents[j]] @ rest[j]
    pos[:, 2] -= pos[:, 2].min()
    azimuth, distance = rng.uniform(-np.pi, np.pi), rng.uniform(3.0, 6.0)
    centre = pos.mean(axis=0) + distance * np.array([np.cos(azimuth), np.sin(azimuth), 0.2])
    forward = pos.mean(axis=0) - centre
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    R = np.stack([right, np.cross(forward, right), forward])
    f = rng.uniform(600.0, 1200.0)
    K = np.array([[f, 0.0, 500.0], [0.0, f, 500.0], [0.0, 0.0, 1.0]])
    uv, _ = cv2.projectPoints(pos, cv2.Rodrigues(R)[0], -R @ centre, K, np.zeros(5))
    return pos, uv[:, 0, :]


def seed_style_loop(n: int, skeleton, out: Path | None = None) -> float:
    """Seconds for ``n`` seed-style samples (and, with ``out``, saving them with np.save)."""
    from posesynth.body.kinematics import default_rest_offsets

    rng = np.random.default_rng(1)
    rest = default_rest_offsets(skeleton)
    # one sample first, untimed: SciPy's and OpenCV's first calls set themselves up (0.1-0.2 s,
    # a third of a 2,000-sample loop), and a seed script pays that once, not per sample
    seed_style_sample(np.random.default_rng(0), skeleton, rest)
    start = time.perf_counter()
    p3, p2 = np.empty((n, skeleton.num_joints, 3)), np.empty((n, skeleton.num_joints, 2))
    for i in range(n):
        p3[i], p2[i] = seed_style_sample(rng, skeleton, rest)
    if out is not None:
        np.save(out / "joints_3d.npy", p3)
        np.save(out / "joints_2d.npy", p2)
    return time.perf_counter() - start


def memcpy_rate(bytes_per_sample: int, samples: int = 200_000) -> float:
    """Samples/s of copying ``bytes_per_sample`` per sample (best of 5)."""
    src = np.ones(bytes_per_sample * samples // 8)
    dst = np.empty_like(src)
    best = np.inf
    for _ in range(5):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return samples / best


def pipeline_rate(samples: int, chunk: int, skeleton, model: str, kernels: str) -> float:
    os.environ[ENV_VAR] = kernels
    rng = np.random.default_rng(0)
    pipeline(rng, 100, skeleton, model)  # compile / load the kernels, warm caches
    start = time.perf_counter()
    done = 0
    while done < samples:
        n = min(chunk, samples - done)
        pipeline(rng, n, skeleton, model)
        done += n
    return done / (time.perf_counter() - start)


#: The pipeline's stages for ``--kernel-repeat``: label -> the functions (module, name) whose own
#: time it counts; a name a version of the code lacks is skipped.
PIPELINE_STAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "bodies (heights, proportions)": (("procedural", "sample_bodies"),),
    "rest offsets": (("procedural", "rest_offsets"), ("procedural", "sampled_rest_offsets")),
    "angle draws (priors, shoulder caps)": (
        ("procedural", "sample_angles"), ("procedural", "_draw_into"), ("kernels", "prior_draws"),
        ("kernels", "shoulder_cap"),
    ),
    "angles -> local rotations": (("procedural", "local_from_angles"),),
    "root orientation": (("procedural", "_root_rotation"), ("procedural", "_root_half_angles")),
    "forward kinematics": (("procedural", "forward_kinematics"),),
    "collision test": (("procedural", "colliding"),),
    "fused pass: local rotations, root, FK, collision, lift": (("kernels", "pose_pass"),),
    "ground contact clearances": (("procedural", "_ground_contacts"),),
    "sample_poses' bookkeeping": (
        ("bench", "sample_poses"), ("procedural", "_compiled_passes"), ("procedural", "_numpy_passes"),
    ),
    "cameras (sample_cameras)": (("bench", "sample_cameras"),),
    "world -> camera -> pixels, visibility (observe)": (("camera", "observe"),),
}  # fmt: skip


def pipeline_stages(samples: int, chunk: int, skeleton, model: str) -> dict[str, float]:
    """ns per sample of each of :data:`PIPELINE_STAGES` in :func:`pipeline` with the kernels
    (their own time: a timed call inside another counts for itself), and the rest."""
    from posesynth.body import _kernels as kernels
    from posesynth.geometry.camera import Camera
    from posesynth.poses import procedural

    # "bench": this module, whose pipeline() calls the names it imported
    owners = {"procedural": procedural, "kernels": kernels, "camera": Camera, "bench": sys.modules[__name__]}
    os.environ[ENV_VAR] = "numba"
    timers: dict[str, float] = {}
    inner: list[float] = []
    undo = []
    for label, names in PIPELINE_STAGES.items():
        for owner_name, attr in names:
            owner = owners[owner_name]
            original = getattr(owner, attr, None)
            if original is None:  # not in this version of the code
                continue

            def timed(*a, _original=original, _label=label, **k):
                inner.append(0.0)
                start = time.perf_counter()
                try:
                    return _original(*a, **k)
                finally:
                    elapsed = time.perf_counter() - start
                    own = elapsed - inner.pop()
                    if inner:
                        inner[-1] += elapsed
                    timers[_label] = timers.get(_label, 0.0) + own

            undo.append((owner, attr, original))
            setattr(owner, attr, timed)
    pipeline(np.random.default_rng(0), 100, skeleton, model)  # compile / load the kernels, warm caches
    timers.clear()
    rng = np.random.default_rng(0)
    try:
        start = time.perf_counter()
        done = 0
        while done < samples:
            n = min(chunk, samples - done)
            pipeline(rng, n, skeleton, model)
            done += n
        total = time.perf_counter() - start
    finally:
        for owner, attr, original in reversed(undo):
            setattr(owner, attr, original)
    result = {label: timers[label] * 1e9 / samples for label in PIPELINE_STAGES if label in timers}
    result["the rest (glue, calls)"] = (total - sum(timers.values())) * 1e9 / samples
    result["the pipeline"] = total * 1e9 / samples
    return result


def pipeline_in_child(args: argparse.Namespace, package: Path | None, what: str) -> dict[str, float]:
    """``{"rate": samples/s}`` of the kernels' pipeline (``what`` "rate") or its stages
    (``what`` "stages"), in a child process with ``package`` (None: this checkout), one core."""
    import json

    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--pipeline-child", what, str(args.samples),
               str(args.chunk), args.skeleton, args.camera_model, str(report)]  # fmt: skip
        subprocess.run(cmd, cwd=ROOT, env=_env(package), check=True)
        return json.loads(report.read_text())


def kernel_rounds(args: argparse.Namespace) -> dict:
    """The pipeline with the kernels ``--kernel-repeat`` times per version, each in a child
    process, the versions alternated in every round (so the load moves both alike); then its
    stages once per version. Prints and returns the figures."""
    versions: list[tuple[str, Path | None]] = [("now", None)]
    if args.baseline is not None:
        versions.insert(0, ("before", args.baseline.resolve()))
    rates: dict[str, list[float]] = {tag: [] for tag, _ in versions}
    for _ in range(args.kernel_repeat):
        for tag, package in versions:
            rates[tag].append(pipeline_in_child(args, package, "rate")["rate"])
    out: dict = {"rounds": rates, "median": {tag: float(np.median(r)) for tag, r in rates.items()}}
    print(f"\n  the kernels' pipeline, {args.kernel_repeat} alternated rounds (a child process each), samples/s:")
    for tag, r in rates.items():
        print(f"    {tag:<7} median {out['median'][tag]:>12,.0f}   rounds: " + ", ".join(f"{v:,.0f}" for v in r))
    if len(versions) > 1:
        ratios = [now / before for now, before in zip(rates["now"], rates["before"], strict=True)]
        out["ratio_median"] = float(np.median(ratios))
        print(f"    now / before: median of the per-round ratios {out['ratio_median']:.2f}x "
              f"({', '.join(f'{r:.2f}' for r in ratios)})")  # fmt: skip
    stages = {tag: pipeline_in_child(args, package, "stages") for tag, package in versions}
    out["stages"] = stages
    names = list(dict.fromkeys(name for table in stages.values() for name in table))
    print("\n  the kernels' pipeline, stages (ns per sample, each its own time; a child process per version):")
    print(f"    {'':<52}" + "".join(f"{tag:>10}" for tag in stages))
    for name in names:
        print(f"    {name:<52}" + "".join(f"{stages[tag].get(name, float('nan')):10.1f}" for tag in stages))
    return out


def command_rate(samples: int, workers: int, base: Path, package: Path | None = None) -> tuple[float, float]:
    """(samples/s of the wall clock, of the job time the command reports) of ``posesynth
    generate``, with the package in ``package`` (None: this checkout)."""
    import json

    out = base / f"g-{workers}"
    cmd = [sys.executable, "-m", "posesynth.cli.main", "generate", "-n", str(samples), "--workers", str(workers),
           "--no-preview", "--json", "--out", str(out)]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=ROOT, env=_env(package, user_threads=True), check=True, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    summary = json.loads(done.stdout)
    shutil.rmtree(out)
    return samples / wall, samples / summary["seconds"]


def stage_breakdown(samples: int, out: Path) -> dict[str, float]:
    """Seconds per stage of ``posesynth generate -n SAMPLES --no-preview`` (one worker, in
    this process, through the functions the command calls; the kernels loaded first).

    Stages: the configuration; the kernel (the procedural poses' first draw, the collision
    checks, the collision redraws, the cameras, world -> camera -> pixels); the kernel's
    arrays turned into the store's (rounding, dtypes, the data set record); writing the
    shard files (page cache and SHA-256s on the critical path) and waiting for the
    background fsyncs; the shard records; the summary statistics; the commit (manifest,
    rename); and what is left (the driver's loop, opening the partial folder). Stages that a
    version of the code lacks are skipped; each stage counts its own time, not that of the
    timed stages it calls."""
    from posesynth.body.skeleton import get_skeleton as skeleton_of
    from posesynth.data.store import writer
    from posesynth.geometry.camera import Camera
    from posesynth.jobs import generate, shards
    from posesynth.poses import procedural

    try:  # the allocator settings the console script makes (versions that have them)
        from posesynth.util.memory import keep_freed_memory

        keep_freed_memory()
    except ImportError:
        pass
    os.environ.pop(ENV_VAR, None)
    skeleton_of("h36m17")
    generate.generate(generate.load_config(samples=1000), out, preview=False)  # the kernels loaded
    shutil.rmtree(out)
    timers: dict[str, float] = {}
    system: dict[str, float] = {}  # of which system time, per stage (its own, on its thread)
    undo: list[tuple[object, str, object]] = []
    draw_round = [0]  # 0 in a shard's first draw, > 0 in its collision redraws

    # per thread, per open timed call: seconds spent in timed calls inside it
    local = threading.local()

    def wrap(owner: object, attr: str, label: str | None, hook=None) -> None:
        """Time ``owner.attr`` under ``label`` (None: the first draw or the redraws), its own
        time only: time in timed calls inside it goes to theirs (``""``: a hook, not timed)."""
        original = getattr(owner, attr, None)
        if original is None:  # not in this version of the code
            return

        def timed(*args, **kwargs):
            if hook is not None:
                hook()
                if label == "":
                    return original(*args, **kwargs)
            inner = local.__dict__.setdefault("inner", [])
            inner_sys = local.__dict__.setdefault("inner_sys", [])
            inner.append(0.0)
            inner_sys.append(0.0)
            start, sys_start = time.perf_counter(), system_seconds()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                elapsed_sys = system_seconds() - sys_start
                own = elapsed - inner.pop()
                own_sys = elapsed_sys - inner_sys.pop()
                if inner:
                    inner[-1] += elapsed
                    inner_sys[-1] += elapsed_sys
                name = label if label is not None else ("kernel: collision redraws" if draw_round[0] else
                                                        "kernel: poses, first draw")  # fmt: skip
                if threading.current_thread() is not threading.main_thread():
                    name += f" {OFF_PATH}"
                timers[name] = timers.get(name, 0.0) + own
                system[name] = system.get(name, 0.0) + own_sys

        undo.append((owner, attr, original))
        setattr(owner, attr, timed)

    def new_shard() -> None:
        draw_round[0] = 0

    def next_round() -> None:
        draw_round[0] += 1

    wrap(generate, "load_config", "config")
    wrap(generate, "generate_task", "shard: kernel -> store arrays")
    wrap(generate, "_store_shard", "shard: kernel -> store arrays")  # absent before the two-stage shards
    wrap(generate, "sample_poses", "kernel: poses (bodies, ground contact, the rest)", new_shard)
    for name in ("sample_angles", "local_from_angles", "_root_rotation", "forward_kinematics"):
        wrap(procedural, name, None)
    wrap(procedural, "colliding", "kernel: collision checks")
    wrap(procedural, "colliding", "", next_round)  # after the check: the next draw is a redraw
    wrap(generate, "sample_cameras", "kernel: cameras")
    wrap(Camera, "observe", "kernel: world -> camera -> pixels, visibility")
    # since session 33: in the store's dtypes, in one pass (inside the store arrays' stage)
    wrap(Camera, "observe_stored", "kernel: world -> camera -> pixels, visibility")
    wrap(writer, "_save_shard", "write the shard files (page cache, SHA-256s)")
    if hasattr(writer, "BackgroundSync"):
        wrap(writer.BackgroundSync, "submit", "fsyncs: back-pressure while shards are made")
        wrap(writer.BackgroundSync, "wait", "fsyncs: waiting before the commit")
    wrap(shards._PartialJob, "record", "shard records")
    wrap(generate, "_summarize", "summary statistics")
    wrap(shards._PartialJob, "commit", "commit (manifest, rename)")
    try:
        start = time.perf_counter()
        config = generate.load_config(samples=samples)
        generate.generate(config, out, preview=False)
        total = time.perf_counter() - start
    finally:
        for owner, attr, original in reversed(undo):
            setattr(owner, attr, original)
    order = [
        "config", "kernel: poses, first draw", "kernel: collision checks", "kernel: collision redraws",
        "kernel: poses (bodies, ground contact, the rest)", "kernel: cameras", "kernel: world -> camera -> pixels, visibility",
        "shard: kernel -> store arrays", "write the shard files (page cache, SHA-256s)",
        "fsyncs: back-pressure while shards are made", "fsyncs: waiting before the commit", "shard records",
        "summary statistics", "commit (manifest, rename)",
    ]  # fmt: skip
    order = [n for name in order for n in (name, f"{name} {OFF_PATH}")]
    result = {name: timers[name] for name in order if name in timers}
    on_path = {k: v for k, v in result.items() if not k.endswith(OFF_PATH)}
    result["kernel (all)"] = sum(v for k, v in on_path.items() if k.startswith("kernel"))
    result["rest (driver loop, waiting for the writer thread, partial folder)"] = total - sum(on_path.values())
    result["all (in process)"] = total
    # system time on each stage's own thread, where it is a tenth of a second or more: on the
    # development machine fresh pages cost up to 17 µs each (bench_fresh_memory.py)
    for name in order:
        if system.get(name, 0.0) >= 0.1:
            result[f"  of which system time: {name}"] = system[name]
    return result


def startup_seconds(package: Path | None, out: Path) -> dict[str, float]:
    """Wall seconds of a child process importing what ``posesynth generate`` imports, and of
    the whole command on 1 sample (start-up, imports, kernels loaded, a one-sample job)."""
    env = _env(package, user_threads=True)
    start = time.perf_counter()
    code = "import posesynth.cli.main, posesynth.jobs.generate"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    imports = time.perf_counter() - start
    cmd = [
        sys.executable,
        "-m",
        "posesynth.cli.main",
        "generate",
        "-n",
        "1",
        "--no-preview",
        "--json",
        "--out",
        str(out),
    ]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    one = time.perf_counter() - start
    shutil.rmtree(out)
    return {"start-up: interpreter + imports": imports, "start-up: the command on 1 sample": one}


def _env(package: Path | None, user_threads: bool = False) -> dict[str, str]:
    """The environment of a child process: the kernels' choice left to the command, and
    ``package`` (a ``src`` folder of another version) first on the module path; with
    ``user_threads``, the caller's thread settings (else one thread)."""
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    if user_threads:
        for var, value in USER_THREADS.items():
            env.pop(var, None)
            if value is not None:
                env[var] = value
        env.pop(_KEEP_THREADS, None)
    if package is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(package), env.get("PYTHONPATH", "")])
    return env


def stages_in_child(samples: int, out: Path, package: Path | None) -> dict[str, float]:
    """:func:`stage_breakdown` in a child process with ``package`` (None: this checkout)."""
    import json

    report = out.with_suffix(".json")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--stages-child", str(samples), str(out), str(report)]
    subprocess.run(cmd, cwd=ROOT, env={**_env(package, user_threads=True), _KEEP_THREADS: "1"}, check=True)
    seconds = json.loads(report.read_text())
    report.unlink()
    shutil.rmtree(out, ignore_errors=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400_000)
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--loop", type=int, default=3_000, help="samples for the seed-style loop")
    parser.add_argument("--skeleton", default="h36m17")
    parser.add_argument("--camera-model", default="pinhole")
    parser.add_argument("--command-samples", type=int, default=1_000_000, help="0: skip the whole command")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--dir", type=Path, default=None, help="where the command writes (default: beside the repo)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--stages", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the command's stages (in a child process)")  # fmt: skip
    parser.add_argument("--baseline", type=Path, default=None,
                        help="the src/ folder of the code before a change: the command and its stages run "
                             "with it too, alternated with this checkout's, in this run")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of the command per version and worker count (the median is shown)")  # fmt: skip
    parser.add_argument("--kernel-repeat", type=int, default=0,
                        help="also run the kernels' pipeline this many times per version (child processes, "
                             "alternated with --baseline's code), then its stages")  # fmt: skip
    parser.add_argument("--stages-child", nargs=3, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--pipeline-child", nargs=6, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pipeline_child is not None:  # a child of pipeline_in_child: WHAT SAMPLES CHUNK SKELETON MODEL REPORT
        import json

        what, samples, chunk, name, model, report = args.pipeline_child
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        if what == "rate-kept":  # the allocator setting the console script makes
            from posesynth.util.memory import keep_freed_memory

            keep_freed_memory()
        if what in ("rate", "rate-kept"):
            figures = {"rate": pipeline_rate(int(samples), int(chunk), get_skeleton(name), model, "numba")}
        else:
            figures = pipeline_stages(int(samples), int(chunk), get_skeleton(name), model)
        Path(report).write_text(json.dumps(figures))
        return
    if args.stages_child is not None:  # a child of stages_in_child: SAMPLES OUT REPORT
        import json

        samples, out, report = args.stages_child
        Path(report).write_text(json.dumps(stage_breakdown(int(samples), Path(out))))
        return
    results: dict = {"pipeline": {}, "command": {}}
    skeleton = get_skeleton(args.skeleton)
    J = skeleton.num_joints
    main_affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if main_affinity:
        os.sched_setaffinity(0, {min(main_affinity)})

    print(
        f"procedural pipeline: skeleton {args.skeleton}, camera {args.camera_model}, one core, chunks of {args.chunk}"
    )
    rates = {}
    if numba_installed():
        rates["numba"] = pipeline_rate(args.samples, args.chunk, skeleton, args.camera_model, "numba")
    rates["numpy"] = pipeline_rate(max(args.samples // 4, args.chunk), args.chunk, skeleton, args.camera_model, "numpy")
    if numba_installed():  # a child process pinned to one core, as the rounds below
        rates["numba, freed memory kept"] = pipeline_in_child(args, None, "rate-kept")["rate"]
    loop_rate = args.loop / seed_style_loop(args.loop, skeleton)
    copy_rate = memcpy_rate(J * (3 + 3 + 2) * 8)
    best = max(rates.values())
    labels = {"numba": "compiled kernels", "numpy": "NumPy fallback  ",
              "numba, freed memory kept": "compiled, with the command's allocator setting (freed arrays kept)"}  # fmt: skip
    for name, rate in rates.items():
        print(f"  {labels[name]}: {rate:>12,.0f} samples/s")
    print(f"  seed-style loop : {loop_rate:>12,.0f} samples/s")
    print(f"  memcpy, same bytes ({J * 8 * 8} B/sample): {copy_rate:,.0f} samples/s")
    print(f"  ratios: kernels / seed loop {best / loop_rate:,.0f}x; kernels / NumPy {best / rates['numpy']:.1f}x; "
          f"kernels / memcpy {best / copy_rate:.3f} (goal: >= 1,000,000 samples/s)")  # fmt: skip
    results["pipeline"] = {"rates": rates, "loop": loop_rate, "memcpy": copy_rate, "samples": args.samples}
    if args.kernel_repeat > 0 and numba_installed():
        if main_affinity:  # the children pin themselves to one core
            os.sched_setaffinity(0, main_affinity)
        results["pipeline"]["rounds"] = kernel_rounds(args)
        now = results["pipeline"]["rounds"]["median"]["now"]
        print(f"  the kernels' median / the seed-style loop: {now / loop_rate:,.0f}x (goal: >= 1,000,000 samples/s)")
        if main_affinity:
            os.sched_setaffinity(0, {min(main_affinity)})

    if args.command_samples <= 0:
        _dump(args.json, results)
        return
    if main_affinity:
        os.sched_setaffinity(0, main_affinity)
    base = Path(tempfile.mkdtemp(prefix="posesynth-bench-generate-", dir=args.dir or ROOT.parent))
    try:
        print(f"\nwhole command: posesynth generate -n {args.command_samples:,} --no-preview "
              f"({len(main_affinity or [0])} cores available)")  # fmt: skip
        # the loop runs once per round, beside the command's runs, and its median is the
        # reference: a single 2,000-sample loop moved by 1.2-1.4x between runs of this script
        loops = [args.loop / seed_style_loop(args.loop, skeleton, base)]
        # the store's bytes per sample: float32 3D world + camera + 2D + angles, uint8 visibility
        # and activity, float32 height, float64 camera (4 + D + 9 + 3) and int32 image size
        store_bytes = J * (3 + 3 + 2) * 4 + J + 1 + 4 + len(angle_names(skeleton)) * 4 + (4 + 9 + 3) * 8 + 8
        copy_cmd = memcpy_rate(store_bytes)
        versions: list[tuple[str, Path | None]] = [("now", None)]
        if args.baseline is not None:
            versions.insert(0, ("before", args.baseline.resolve()))
            # the baseline's kernels compiled into its own cache before anything is timed
            command_rate(1000, 1, base, versions[0][1])
        first: dict[str, float] = {}
        measured: list[tuple[int, dict[str, list[tuple[float, float]]]]] = []
        for workers in args.workers:
            runs: dict[str, list[tuple[float, float]]] = {tag: [] for tag, _ in versions}
            for round_ in range(args.repeat):  # alternated, so that the load moves both alike
                if round_ > 0 or workers != args.workers[0]:
                    loops.append(args.loop / seed_style_loop(args.loop, skeleton, base))
                for tag, package in versions:
                    runs[tag].append(command_rate(args.command_samples, workers, base, package))
            measured.append((workers, runs))
        # every ratio against the loop's median over all rounds (the lines below come after the
        # last round: a line printed mid-run divided by the rounds measured so far)
        loop_disk = float(np.median(loops))
        for workers, runs in measured:
            for tag, _ in versions:
                if args.repeat > 1:
                    shown = ", ".join(f"{wall:,.0f}" for wall, _ in runs[tag])
                    print(f"  {tag}: {workers} worker(s), each run: {shown} samples/s; the median below")
                wall, job = sorted(runs[tag])[len(runs[tag]) // 2]
                first.setdefault(tag, wall)
                print(f"  {tag + ': ' if len(versions) > 1 else ''}{workers} worker{'s' if workers > 1 else ' '}: "
                      f"{wall:>10,.0f} samples/s wall clock ({job:,.0f}/s job time); "
                      f"{wall / loop_disk:,.1f}x the seed-style loop to disk; {wall / best:.2f} of the kernel; "
                      f"{wall / copy_cmd:.4f} of memcpy; {wall / first[tag]:.2f}x one worker")  # fmt: skip
                figures = {"rate": wall, "job_rate": job}
                if tag == "now":  # run_all.py reads this checkout's figures here
                    results["command"][str(workers)] = figures
                else:
                    results["command"].setdefault(tag, {})[str(workers)] = figures
        print(f"  seed-style loop to disk: {loop_disk:,.0f} samples/s (median of {len(loops)} rounds: "
              f"{', '.join(f'{v:,.0f}' for v in loops)}); memcpy of the store's "
              f"{store_bytes} B/sample: {copy_cmd:,.0f} samples/s (goal: >= 50x the loop)")  # fmt: skip
        results["command"].update(loop=loop_disk, memcpy=copy_cmd, samples=args.command_samples, kernel=best)
        if args.stages:
            table: dict[str, dict[str, float]] = {}
            for tag, package in versions:
                seconds = startup_seconds(package, base / f"one-{tag}")
                seconds.update(stages_in_child(args.command_samples, base / f"stages-{tag}", package))
                table[tag] = seconds
            names = list(dict.fromkeys(name for seconds in table.values() for name in seconds))
            print(f"\n  stages of the command ({args.command_samples:,} samples, one worker, in a child process; "
                  "start-up in their own), seconds:")  # fmt: skip
            print(f"    {'':<56}" + "".join(f"{tag:>10}" for tag in table))
            for name in names:
                print(f"    {name:<56}" + "".join(f"{table[tag].get(name, float('nan')):10.2f}" for tag in table))
            results["stages"] = table
    finally:
        shutil.rmtree(base, ignore_errors=True)
    _dump(args.json, results)


def _dump(path: Path | None, results: dict) -> None:
    if path is not None:
        import json

        path.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
