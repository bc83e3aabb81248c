"""Sharded jobs: deterministic, resumable, memory-bounded, on any executor.

A :class:`ShardedJob` is cut into shards of fixed sizes; shard ``k`` draws only from its own
stream ``SeedSequence(seed).spawn(n_shards)[k]``, so the bytes written do not depend on the
number of workers or on the order in which shards finish. :func:`run_sharded` runs the shards
through an executor (:mod:`posesynth.jobs.executors`): each worker makes one shard, writes it
into the job's partial folder under a temporary name and renames it when complete; the
driver records it; at most ``max_in_flight`` shards are under way, and no shard's arrays ever
pass through the driver, so memory stays flat whatever the number of samples.

The partial folder has a fixed name, ``<out>.partial-job``, so that a killed job, rerun with
the same command, finds it and makes only the missing shards::

    <out>.partial-job/
        shards/NNNNNN/<array>.npy         complete shards (the store's own layout)
        progress/job.json                 what is being made: meta (config, version, seed)
                                          and the shard sizes; a rerun must match it
        progress/done/NNNNNN.json         one record per complete shard: samples, sha256s
        progress/tmp/NNNNNN-<token>/      shards being written
        progress/lock                     held (flock) by the running job

A job whose shards keep a variable share of their input (``exact_sizes=False``, e.g.
``posesynth augment``, which rejects poses) counts its shards' sizes in input units; each
shard writes as many samples as it keeps, possibly none. Empty shards write no folder and
the commit numbers the others consecutively. A shard may also return statistics
(:class:`ShardOutput`), kept in its record and handed to ``before_commit``.

A shard counts as done only once its record exists (each record is written to a temporary
file and renamed). On resume every recorded shard's files are checked against its SHA-256s
(one that fails is deleted and made again); unrecorded shard folders and temporaries are
deleted. The commit writes ``dataset.json`` (shards in index order), removes ``progress/``
and renames the folder to ``<out>``: the result is byte-identical to an uninterrupted run.
A commit cut short (``dataset.json`` written, ``progress/`` gone) is finished by the rerun.

Records are one file per shard rather than one manifest rewritten per shard, so that a
job of many thousands of shards costs O(1) per shard, not O(shards).

Failures: Ctrl-C (``KeyboardInterrupt``) abandons the job and removes the partial folder
(``posesynth generate``'s contract: an interrupted job leaves nothing). Any other failure (a
full disk, a lost worker, a bug) removes only the shard being written and keeps the
complete ones, so that the same command finishes the job once the cause is fixed; so does
a kill (SIGKILL, power loss), which cannot clean up at all.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from posesynth.data.store import (
    MANIFEST_NAME,
    SHARDS_DIR,
    ArraySpec,
    BackgroundSync,
    check_replaceable,
    check_same_layout,
    finish_store,
    manifest_bytes,
    meta_to_json,
    publish_store,
    shard_dir_name,
    shard_file,
    shard_problem,
    write_json_atomic,
    write_shard_files,
)
from posesynth.jobs.executors import Executor, InProcessExecutor
from posesynth.util.outputs import output_lock

try:  # POSIX advisory locks; elsewhere two runs on one folder are not detected
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

PARTIAL_SUFFIX = ".partial-job"
PROGRESS_DIR = "progress"
JOB_FILE = "job.json"
DONE_DIR = "done"
TMP_DIR = "tmp"
LOCK_FILE = "lock"
JOB_FORMAT = "posesynth-partial-job"
JOB_FORMAT_VERSION = 1


@dataclass(frozen=True)
class ShardOutput:
    """What a shard made: its arrays and JSON-compatible statistics kept in its record."""

    arrays: Mapping[str, np.ndarray]
    stats: Any = None


@dataclass(frozen=True)
class DeferredShard:
    """A shard whose last steps run where it is written: ``finish()`` returns its arrays or
    :class:`ShardOutput`.

    In-process, the writer thread runs them while the next shard is made, so a job whose
    making has two halves (``generate``: poses, then cameras, projection and the store's
    dtypes) runs them as a two-stage pipeline on two cores. ``finish`` may be called once.
    """

    finish: Callable[[], Mapping[str, np.ndarray] | ShardOutput]


#: Most shards one job may have: each costs a few files and a record, and the driver keeps
#: one task per shard (1e5 shards of the default 20,000 samples are 2e9 samples).
MAX_SHARDS = 100_000
#: Smallest shard size allowed in a job of more than :data:`FEW_SHARDS` shards: below it the
#: files (one per array) and records outweigh the data (reliability audit F21: ``-n 3000
#: --shard-size 1`` made 36,001 files). Small jobs (tests, examples) may use any size.
MIN_SHARD_SIZE = 100
FEW_SHARDS = 100
#: Most samples (or input units) in one shard: a shard is made in memory at once.
MAX_SHARD_SIZE = 5_000_000


def shard_sizes(samples: int, shard_size: int) -> list[int]:
    """Sizes of the shards a job of ``samples`` is cut into (all ``shard_size`` but the last).

    Checked before any work or allocation (see :func:`check_shard_plan`).
    """
    check_shard_plan(samples, shard_size)
    full, rest = divmod(samples, shard_size)
    return [shard_size] * full + ([rest] if rest else [])


def check_shard_plan(samples: int, shard_size: int) -> int:
    """The number of shards of a job of ``samples`` cut into ``shard_size``; ``ValueError``
    with the estimate and the limit when the plan is absurd (too many shards, shards too
    small to be worth their files, or too large to make in memory)."""
    for name, value in (("samples", samples), ("shard_size", shard_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"expected {name} >= 1 (an integer), got {value!r}")
    samples, shard_size = int(samples), int(shard_size)
    shards = -(-samples // shard_size)
    if shards > FEW_SHARDS and shard_size < MIN_SHARD_SIZE:
        raise ValueError(
            f"shard_size: {shard_size} would cut {samples} samples into {shards} shards of a few "
            f"files each; expected a shard size >= {MIN_SHARD_SIZE} (or at most {FEW_SHARDS} shards)"
        )
    if shard_size > MAX_SHARD_SIZE and samples > MAX_SHARD_SIZE:
        raise ValueError(
            f"shard_size: {shard_size} samples would be made in memory at once; expected at most {MAX_SHARD_SIZE}"
        )
    if shards > MAX_SHARDS:
        raise ValueError(
            f"samples: {samples} in shards of {shard_size} make {shards} shards, more than the "
            f"limit of {MAX_SHARDS} per job; ask for fewer samples or a larger shard size"
        )
    return shards


@dataclass(frozen=True)
class ShardTask:
    """Shard ``index`` of a job: ``samples`` units (samples, or input rows of a job with
    ``exact_sizes=False``) starting at unit ``start``, from the random stream ``seed``."""

    index: int
    samples: int
    seed: np.random.SeedSequence
    start: int = 0


#: ``make_shard(task) -> {name: (n, ...) array}``, a :class:`ShardOutput` or a
#: :class:`DeferredShard`; a pure function of the task, picklable (top-level or a
#: :func:`functools.partial` of one).
MakeShard = Callable[[ShardTask], "Mapping[str, np.ndarray] | ShardOutput | DeferredShard"]


@dataclass(frozen=True)
class ShardedJob:
    """A job cut into shards.

    Attributes:
        meta: JSON-compatible provenance stored as the store's ``meta`` (configuration,
            seed, package version, ...); a partial job resumes only under identical meta.
        sizes: samples per shard, in order (input units when not ``exact_sizes``).
        seed: the root seed; shard ``k`` gets ``SeedSequence(seed).spawn(len(sizes))[k]``.
        make_shard: the pure function making one shard (top-level or a
            :func:`functools.partial` of one, so that worker processes can unpickle it).
        exact_sizes: True when shard ``k`` writes exactly ``sizes[k]`` samples; False when
            it writes any number (zero included) made from ``sizes[k]`` input units.
    """

    meta: Mapping[str, Any]
    sizes: tuple[int, ...]
    seed: int
    make_shard: MakeShard
    exact_sizes: bool = True

    def tasks(self) -> list[ShardTask]:
        """One task per shard, in index order."""
        seeds = np.random.SeedSequence(self.seed).spawn(len(self.sizes))
        starts = np.concatenate([[0], np.cumsum(self.sizes, dtype=np.int64)[:-1]]).tolist()
        return [ShardTask(k, n, s, int(a)) for k, (n, s, a) in enumerate(zip(self.sizes, seeds, starts))]

    @property
    def samples(self) -> int:
        return sum(self.sizes)


@dataclass(frozen=True)
class ShardRecord:
    """A complete shard: its index, samples, ``{array: sha256}``, ``{array: spec}`` and
    the statistics it returned (an empty shard has no files and no specs)."""

    index: int
    samples: int
    files: Mapping[str, str]
    specs: Mapping[str, ArraySpec]
    stats: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "samples": self.samples,
            "files": dict(self.files),
            "arrays": {
                name: {"dtype": spec.dtype.str, "trailing": list(spec.trailing)} for name, spec in self.specs.items()
            },
            "stats": self.stats,
        }

    @classmethod
    def from_json(cls, doc: Any) -> ShardRecord:
        """Parse a record; ``ValueError``/``KeyError``/``TypeError`` if malformed."""
        specs = {
            str(name): ArraySpec(np.dtype(spec["dtype"]), (int(doc["samples"]), *map(int, spec["trailing"])))
            for name, spec in doc["arrays"].items()
        }
        files = {str(k): str(v) for k, v in doc["files"].items()}
        if set(files) != set(specs) or (int(doc["samples"]) == 0) != (not files):
            raise ValueError("files and arrays differ")
        return cls(int(doc["index"]), int(doc["samples"]), files, specs, doc.get("stats"))


@dataclass
class RunResult:
    """What :func:`run_sharded` did."""

    path: Path
    shards: int
    samples: int
    #: shards found complete and intact in the partial folder (not made again)
    resumed: int = 0
    #: why shards recorded by an earlier run were made again (failed checksums, ...)
    redone: list[str] = field(default_factory=list)
    executor: str = ""


def partial_path(out: Path | str) -> Path:
    """The fixed name of the partial folder of a job writing ``out``."""
    out = Path(out)
    return out.with_name(out.name + PARTIAL_SUFFIX)


def staging_path(out: Path | str) -> Path:
    """Where a job writing ``out`` may stage input for its workers (absolute; inside the
    partial folder's ``progress/``, so it is kept across resumes and removed by the commit)."""
    return partial_path(Path(out).absolute()).resolve() / PROGRESS_DIR / "input"


# --------------------------------------------------------------------------------------------
# worker side
# --------------------------------------------------------------------------------------------


def produce_shard(
    make_shard: MakeShard, partial: str, task: ShardTask, exact_sizes: bool = True, sync: BackgroundSync | None = None
) -> ShardRecord:
    """Make shard ``task.index`` and move it, complete, to ``partial/shards/NNNNNN``.

    Runs on a worker: the arrays are written there and only the record travels back.
    Written first to ``partial/progress/tmp/NNNNNN-<token>/`` (removed again on any failure,
    e.g. a full disk), then renamed. If the shard folder exists already (the same shard made
    twice, e.g. a task a Dask worker ran again), it must hold the same bytes. Without
    ``exact_sizes`` a shard of no samples writes nothing and returns an empty record.
    ``sync`` (in the driver's process only): the files' fsyncs run on its thread while
    the next shard is made; the driver waits for them before the commit.
    """
    with one_blas_thread():
        return write_made_shard(make_shard(task), partial, task, exact_sizes, sync)


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """BLAS (OpenBLAS, MKL) on one thread while shards are made and written.

    A shard's matrix products are small (thousands of rows by tens of columns), and between
    calls a BLAS thread pool spins, taking the core the writer thread needs: in a
    million-sample ``generate`` on two cores the spinning cost 3.7 s of CPU, 40 % of the
    job's. Shards are the unit of parallelism. The limit is process-wide and undone on exit.
    """
    return threadpool_limits(limits=1, user_api="blas")


def write_made_shard(
    made: Mapping[str, np.ndarray] | ShardOutput | DeferredShard,
    partial: str,
    task: ShardTask,
    exact_sizes: bool = True,
    sync: BackgroundSync | None = None,
) -> ShardRecord:
    """The second half of :func:`produce_shard`: write what ``make_shard(task)`` returned
    (``made``) and move it into place; return its record."""
    root = Path(partial)
    if isinstance(made, DeferredShard):
        made = made.finish()
    arrays, stats = (made.arrays, made.stats) if isinstance(made, ShardOutput) else (made, None)
    n_rows = {int(np.shape(a)[0]) for a in arrays.values() if np.ndim(a) > 0}
    if not exact_sizes and n_rows == {0}:
        return ShardRecord(task.index, 0, {}, {}, stats)
    tmp = root / PROGRESS_DIR / TMP_DIR / f"{shard_dir_name(task.index)}-{os.getpid()}-{secrets.token_hex(4)}"
    written = write_shard_files(tmp, arrays, sync)
    if exact_sizes and written.samples != task.samples:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ValueError(f"shard {task.index}: expected {task.samples} samples, got {written.samples}")
    final = root / SHARDS_DIR / shard_dir_name(task.index)
    try:
        os.rename(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not final.is_dir():
            raise
        problem = shard_problem(root, task.index, written.files)
        if problem is not None:
            raise ValueError(f"shard {task.index} was made twice with different bytes: {problem}") from None
    return ShardRecord(task.index, written.samples, dict(written.files), dict(written.specs), stats)


# --------------------------------------------------------------------------------------------
# driver side
# --------------------------------------------------------------------------------------------


def _made_then_written(
    make_shard: MakeShard, partial: str, tasks: Sequence[ShardTask], exact_sizes: bool, sync: BackgroundSync
) -> Iterator[tuple[int, ShardRecord]]:
    """Run ``tasks`` in this process, yielding ``(position, record)`` in order: shard k's files
    are written (page cache, SHA-256s) on a second thread while shard k+1 is made.

    The writes and the hashing release the GIL, and so do the kernels, so on a second core
    the writing costs the job almost nothing (it was 1.2 s of 10 at 1 M samples). At most
    one shard waits to be written (one shard's arrays more in memory). A write's error is
    raised here when its record is due; on any exit the shard being written is finished (or
    removed, on its own error) before this returns, so the caller's clean-up sees no writer.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="posesynth-write") as writer:
        pending: tuple[int, Future[ShardRecord]] | None = None
        try:
            for position, task in enumerate(tasks):
                made = make_shard(task)
                if pending is not None:
                    yield pending[0], pending[1].result()
                pending = position, writer.submit(write_made_shard, made, partial, task, exact_sizes, sync)
                del made  # the writer holds the arrays until they are written
            if pending is not None:
                done, pending = pending, None
                yield done[0], done[1].result()
        finally:
            if pending is not None:  # abandoned (an error, Ctrl-C): let the write end first
                pending[1].cancel()
                with contextlib.suppress(BaseException):
                    pending[1].exception()


def _diff(a: Any, b: Any, where: str = "") -> list[str]:
    """Where two JSON documents differ: ``path: A in the partial job, B now`` per leaf."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            path = f"{where}.{key}" if where else str(key)
            if key not in a:
                out.append(f"{path}: absent in the partial job, {_short(b[key])} now")
            elif key not in b:
                out.append(f"{path}: {_short(a[key])} in the partial job, absent now")
            else:
                out.extend(_diff(a[key], b[key], path))
        return out
    if a != b:
        return [f"{where or '(top level)'}: {_short(a)} in the partial job, {_short(b)} now"]
    return []


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


class _PartialJob:
    """The partial folder of one job, opened (locked, checked, cleaned) for writing."""

    def __init__(self, root: Path, identity: dict[str, Any], sizes: Sequence[int], exact_sizes: bool = True) -> None:
        self.root = root
        self.identity = identity
        self.sizes = list(sizes)
        self.exact_sizes = exact_sizes
        #: an interrupted commit was found: every shard is made, only the renaming is left
        self.committing = False
        self.progress = root / PROGRESS_DIR
        self.done: dict[int, ShardRecord] = {}
        self.redone: list[str] = []
        self._lock_fd: int | None = None
        self._specs: dict[str, ArraySpec] | None = None

    # -- opening ----------------------------------------------------------------------------

    def open(self) -> None:
        """Lock the folder (creating it if needed), check it is this job's, clean it up and
        load the records of its complete shards. The lock is released again on failure."""
        try:
            self._open()
        except BaseException:
            self.unlock()
            raise

    def _open(self) -> None:
        root = self.root
        if root.is_symlink() or (root.exists() and not root.is_dir()):
            raise ValueError(f"{root}: exists and is not a folder of a partial posesynth job; remove it")
        if root.is_dir() and not (self.progress / JOB_FILE).is_file():
            if (root / MANIFEST_NAME).is_file():
                self._adopt_committing()
                return
            unknown = sorted(p.name for p in root.iterdir() if p.name not in (SHARDS_DIR, PROGRESS_DIR))
            if unknown:
                raise ValueError(
                    f"{root}: exists but is not a partial posesynth job (it holds {unknown[:5]}); "
                    "remove it or choose another --out"
                )
        root.mkdir(exist_ok=True)
        (root / SHARDS_DIR).mkdir(exist_ok=True)
        self.progress.mkdir(exist_ok=True)
        self._lock()
        job_file = self.progress / JOB_FILE
        if job_file.is_file():
            self._check_identity(self._read_json(job_file))
        else:
            # a folder killed before its job file was written holds nothing worth keeping
            shutil.rmtree(root / SHARDS_DIR)
            shutil.rmtree(self.progress / DONE_DIR, ignore_errors=True)
            (root / SHARDS_DIR).mkdir()
            write_json_atomic(job_file, self.identity)
        shutil.rmtree(self.progress / TMP_DIR, ignore_errors=True)
        (self.progress / TMP_DIR).mkdir()
        (self.progress / DONE_DIR).mkdir(exist_ok=True)
        self._load_records()

    def _lock(self) -> None:
        if fcntl is None:  # pragma: no cover
            return
        fd = os.open(self.progress / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ValueError(
                f"{self.root}: another posesynth job is writing this folder right now; wait for it to finish or stop it"
            ) from None
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _read_json(self, file: Path) -> Any:
        try:
            return json.loads(file.read_text(encoding="ascii"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{file}: cannot read the partial job's description ({exc}); remove {self.root}") from None

    def _check_identity(self, stored: Any) -> None:
        if stored == self.identity:
            return
        diffs = _diff(stored, self.identity) if isinstance(stored, dict) else ["(not a job description)"]
        shown = "; ".join(diffs[:3]) + (f"; and {len(diffs) - 3} more" if len(diffs) > 3 else "")
        raise ValueError(
            f"{self.root}: holds an unfinished job of another configuration, refusing to resume it "
            f"({shown}); rerun with the configuration it was started with to finish it, "
            f"or delete {self.root} to start over"
        )

    def _load_records(self) -> None:
        done_dir = self.progress / DONE_DIR
        for file in sorted(done_dir.iterdir()):
            if file.suffix != ".json":  # a record cut short while being written
                _remove(file)
                continue
            record: ShardRecord | None = None
            try:
                record = ShardRecord.from_json(json.loads(file.read_text(encoding="ascii")))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                reason = f"{file.name}: unreadable record"
            if record is not None:
                fits = 0 <= record.index < len(self.sizes) and (
                    record.samples == self.sizes[record.index] if self.exact_sizes else record.samples >= 0
                )
                if file.name != f"{shard_dir_name(record.index)}.json" or not fits:
                    reason = f"{file.name}: record does not fit the job"
                    record = None
                elif record.samples > 0:
                    problem = shard_problem(self.root, record.index, record.files)
                    if problem is not None:
                        reason = problem
                        record = None
            if record is None:
                self.redone.append(reason)
                file.unlink()
                continue
            try:
                self._check_layout(record)
            except ValueError as exc:
                self.redone.append(str(exc))
                file.unlink()
                continue
            self.done[record.index] = record
        # shard folders without a (valid) record are incomplete work: make them again; an
        # empty shard has no folder (one there is left from a renumbering cut short)
        for entry in (self.root / SHARDS_DIR).iterdir():
            record = self.done.get(int(entry.name)) if entry.name.isdigit() else None
            if record is None or record.samples == 0:
                _remove(entry)

    def _adopt_committing(self) -> None:
        """Finish a commit that was cut short: ``dataset.json`` written, ``progress/`` gone."""
        manifest_file = self.root / MANIFEST_NAME
        manifest = self._read_json(manifest_file)
        if not isinstance(manifest, dict) or not isinstance(manifest.get("shards"), list):
            raise ValueError(f"{manifest_file}: not a posesynth manifest; remove {self.root}")
        # a job of variable shard sizes cannot be checked against the store's sizes (empty
        # shards were dropped, the rest renumbered): its meta must match alone
        sizes = [e.get("samples") for e in manifest["shards"] if isinstance(e, dict)]
        stored = {
            "format": JOB_FORMAT,
            "format_version": JOB_FORMAT_VERSION,
            "meta": manifest.get("meta"),
            "shards": sizes if self.exact_sizes else self.sizes,
        }
        self.committing = True
        self.progress.mkdir(exist_ok=True)
        self._lock()
        self._check_identity(stored)
        arrays = manifest.get("arrays") or {}
        for entry in manifest["shards"]:
            try:
                record = ShardRecord.from_json(
                    {
                        "index": entry["index"], "samples": entry["samples"], "files": entry["files"],
                        "arrays": {k: {"dtype": v["dtype"], "trailing": v["shape"][1:]} for k, v in arrays.items()},
                    }
                )  # fmt: skip
            except (ValueError, KeyError, TypeError, AttributeError):
                raise ValueError(f"{manifest_file}: damaged manifest; delete {self.root} to start over") from None
            problem = shard_problem(self.root, record.index, record.files)
            if problem is not None:
                raise ValueError(
                    f"{self.root}: an interrupted commit left a damaged shard ({problem}); "
                    f"delete {self.root} to start over"
                )
            self.done[record.index] = record
            self._check_layout(record)

    # -- recording --------------------------------------------------------------------------

    def _check_layout(self, record: ShardRecord) -> None:
        if record.samples == 0:
            return
        if self._specs is None:
            self._specs = dict(record.specs)
        else:
            check_same_layout(self._specs, record.specs, record.index)

    def record(self, record: ShardRecord) -> None:
        """Check a finished shard's layout and that its files are here, then record it."""
        self._check_layout(record)
        shard_dir = self.root / SHARDS_DIR / shard_dir_name(record.index)
        missing = [name for name in record.files if not (shard_dir / f"{name}.npy").is_file()]
        if missing:
            raise ValueError(
                f"{shard_dir}: the worker reported shard {record.index} complete, but "
                f"{missing[0]}.npy is not there; with a Dask cluster the output folder must be "
                "on a file system that every worker and this machine share"
            )
        done_dir = self.progress / DONE_DIR
        _write_record(done_dir / f"{shard_dir_name(record.index)}.json", record.to_json())
        self.done[record.index] = record

    # -- committing -------------------------------------------------------------------------

    def commit(self, out: Path, overwrite: bool, meta: Mapping[str, Any]) -> Path:
        if self.committing:  # made and numbered by the interrupted commit
            records = [self.done[k] for k in sorted(self.done)]
        else:
            records = self._renumber([self.done[k] for k in range(len(self.sizes))])
        specs = self._specs or {}
        shards = [{"index": r.index, "samples": r.samples, "files": r.files} for r in records]
        check_replaceable(out, overwrite)  # before the progress records are dropped
        with output_lock(out):
            # the manifest first, then progress/ goes: a commit cut short between them is
            # finished by the rerun (_adopt_committing)
            finish_store(self.root, meta, specs, shards)
            shutil.rmtree(self.progress)
            self.unlock()
            publish_store(self.root, out, overwrite)
        return out

    def _renumber(self, records: list[ShardRecord]) -> list[ShardRecord]:
        """The non-empty shards, their folders renamed to consecutive indices (a store's
        shards are numbered 0, 1, ... and hold at least one sample each)."""
        kept = [r for r in records if r.samples > 0]
        if not kept:
            raise ValueError("every shard of the job came out empty: there are no samples to write")
        shards = self.root / SHARDS_DIR
        out = []
        for new, record in enumerate(kept):
            if record.index != new:
                os.rename(shards / shard_dir_name(record.index), shards / shard_dir_name(new))
                record = replace(record, index=new)
            out.append(record)
        return out


def _write_record(file: Path, document: Mapping[str, Any]) -> None:
    """Write a shard's record: a temporary sibling renamed into place, not fsynced.

    A record only spares a resumed job from making its shard again; one lost or cut short by
    a crash is unreadable or absent, and its shard is made again (as a recorded shard whose
    files' background fsyncs had not run fails its checksums), so a fsync per record (3-6 ms
    on the driver's path, 0.15-0.3 s of ``generate -n 1000000``) buys nothing."""
    tmp = file.with_name(f"{file.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(manifest_bytes(document))
        os.replace(tmp, file)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def read_shard_array(root: Path | str, index: int, name: str, rows: int | None = None) -> np.ndarray:
    """The first ``rows`` (default all) of array ``name`` of shard ``index`` under ``root``,
    read into memory (a partial folder or a store: the same layout)."""
    file = shard_file(Path(root), index, name)
    arr = np.load(file, mmap_mode="r", allow_pickle=False)
    return np.array(arr if rows is None else arr[:rows])


def run_sharded(
    job: ShardedJob,
    out: Path | str,
    executor: Executor | None = None,
    *,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    before_commit: Callable[[Path, Mapping[int, Any]], None] | None = None,
    before_run: Callable[[Path], None] | None = None,
    max_in_flight: int | None = None,
) -> RunResult:
    """Run ``job`` on ``executor`` (default: in this process) into the store ``out``.

    Resumes the partial folder ``<out>.partial-job`` of an earlier run of the same job (see
    the module docstring). ``progress(n)`` is called with the size (``job.sizes``) of each
    finished shard (first with those of the shards resumed). ``before_commit(folder,
    stats)`` may add files (a preview, a summary) to the finished store before it is renamed
    to ``out``; ``stats`` maps each shard index to the statistics it returned (absent for
    shards whose records an interrupted commit had already removed). ``before_run(folder)``
    is called once the partial folder is open and locked, before any shard is made: a job
    may stage its input for the workers under ``folder/progress/`` (see
    :func:`staging_path`), which the commit removes.

    Raises:
        ValueError: ``out`` exists (without ``overwrite``), the partial folder belongs to
            another configuration (the message names the differences), another run holds it,
            or a shard is inconsistent.
        OSError: writing failed (e.g. a full disk); the complete shards are kept, the
            message says where, and rerunning the same command finishes the job.
    """
    out = Path(out)
    executor = executor if executor is not None else InProcessExecutor()
    meta = meta_to_json(job.meta)
    sizes = list(job.sizes)
    if not sizes or any(int(n) < 1 for n in sizes):
        raise ValueError(f"expected at least one shard of >= 1 samples, got sizes {sizes[:5]}")
    check_replaceable(out, overwrite)
    if not out.parent.is_dir():
        out.parent.mkdir(parents=True, exist_ok=True)
    root = partial_path(out)
    identity = {"format": JOB_FORMAT, "format_version": JOB_FORMAT_VERSION, "meta": meta, "shards": sizes}
    state = _PartialJob(root, identity, sizes, job.exact_sizes)
    state.open()
    result = RunResult(out, len(sizes), sum(sizes), len(state.done), list(state.redone), executor.description)
    try:
        if progress is not None and state.done:
            progress(sum(sizes) if state.committing else sum(sizes[k] for k in state.done))
        todo = [] if state.committing else [t for t in job.tasks() if t.index not in state.done]
        if before_run is not None and todo:
            before_run(root)
        # in this process, the shards' fsyncs overlap the next shard's computing (a recorded
        # shard not yet on disk fails its checksums on resume and is made again)
        in_process = isinstance(executor, InProcessExecutor)
        # a job's shards are not read again here: once on disk they leave the page cache
        sync = BackgroundSync(drop_written=True) if in_process else None
        partial = str(root.resolve())
        fn = functools.partial(produce_shard, job.make_shard, partial, exact_sizes=job.exact_sizes, sync=sync)
        try:
            if sync is not None:  # in this process, each shard written while the next is made
                if max_in_flight is not None and int(max_in_flight) < 1:  # as the executor checks it
                    raise ValueError(f"max_in_flight: expected an integer >= 1, got {max_in_flight}")
                runs: Iterator[tuple[int, ShardRecord]] = _made_then_written(
                    job.make_shard, partial, todo, job.exact_sizes, sync
                )
            else:
                runs = executor.map_unordered(fn, todo, max_in_flight)
            with one_blas_thread(), contextlib.closing(runs) as finished:  # type: ignore[type-var]
                for _, record in finished:
                    state.record(record)
                    if progress is not None:
                        progress(sizes[record.index])
            if sync is not None:
                sync.wait()  # nothing is committed that is not on disk
        finally:
            if sync is not None:
                sync.close()
        if before_commit is not None:
            before_commit(root, {k: r.stats for k, r in state.done.items() if r.stats is not None})
        state.commit(out, overwrite, meta)
        return result
    except KeyboardInterrupt:
        state.unlock()
        shutil.rmtree(root, ignore_errors=True)
        raise
    except OSError as exc:
        state.unlock()
        if not root.exists():
            raise
        reason = exc.strerror or str(exc)
        if exc.filename is not None:
            reason += f" ({exc.filename})"
        message = (
            f"{reason}; {len(state.done)} of {len(sizes)} shards are complete in {root}: "
            "fix the cause and rerun the same command to finish the job"
        )
        try:
            error = type(exc)(exc.errno, message)
        except TypeError:  # an OSError subclass with another constructor
            error = OSError(exc.errno, message)
        raise error from exc
    except Exception:
        if state.done or state.committing:
            raise
        # nothing complete to resume (e.g. a configuration every shard fails on, reliability
        # audit F14/F15): leave nothing behind
        state.unlock()
        shutil.rmtree(root, ignore_errors=True)
        raise
    finally:
        state.unlock()
