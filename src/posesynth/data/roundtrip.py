"""Did a written data set keep what it was given? ``convert``'s round-trip check.

:func:`compare_datasets` matches the samples of a data set and of what was read back from
its written copy, and compares everything both hold: the sample count and ids, world and
camera-frame 3D (absolute, not root-relative: a global shift is a change), 2D, and every
camera parameter. :func:`check_written` reads an output back, compares, and removes the output
when the check fails, so a wrong file never stays behind a failed command.

:func:`compare_chunked` / :func:`check_written_chunked` do the same chunk by chunk: the i-th
chunk of the source is compared with the i-th chunk of the output read back (equal sizes),
and the per-chunk results are merged into one :class:`RoundTrip` (maxima of the differences,
sums of the counts, MPJPE weighted by joints), so memory is that of two chunks, not of two
data sets. Samples are matched within their chunk (by order, else by keys), so an output
must keep the source's order up to a reordering inside a chunk.

Ids are compared as the format writes them (``as_written``, e.g.
:func:`posesynth.data.formats.registry.written_ids`): a TRC file name holds ``S-2`` for the
subject ``S 2``, and the reader takes subject and action from the file name; VideoPose3D
writes a frame as its index within its sequence. An ``as_written`` that needs the whole data
set's ids (:class:`SurveyedIds`: VideoPose3D's frame ranks) is shown every source chunk once
before the chunked comparison.

**Projected views.** A format that holds every camera of a rig for every frame (VideoPose3D:
each 2D array sits at its camera's index) projects the views the source lacks. With
``projected_views`` (or an ``as_written`` whose ``projected_views`` is true), output samples
that match no input sample are such views when their 2D equals the projection of their world
3D through their camera (the ``projected_2d`` check, the 2D tolerance): they are counted in
``RoundTrip.projected``, not as extra; one off by more is a problem, and an output sample
that cannot be projected (no world 3D, 2D or camera) stays extra.

Tolerances (what the formats' float32 storage loses), on each joint's distance: 3D
``1e-5 m + 1e-6 |x|``, 2D ``1e-3 px + 1e-6 |u|``, cameras ``1e-6`` relative (``1e-6`` absolute for rotations and
distortion, ``1e-6 m`` for centres), image sizes exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from posesynth.data.dataset import PoseDataset

__all__ = [
    "ArrayCheck",
    "RoundTrip",
    "SurveyedIds",
    "check_written",
    "check_written_chunked",
    "compare_chunked",
    "compare_datasets",
]

POINTS_3D = ("joints_3d_camera", "joints_3d_world")
#: (absolute, relative) tolerance per compared quantity, in its unit.
TOLERANCES: Mapping[str, tuple[float, float]] = {
    "joints_3d_camera": (1e-5, 1e-6),
    "joints_3d_world": (1e-5, 1e-6),
    "joints_2d": (1e-3, 1e-6),
    "projected_2d": (1e-3, 1e-6),
    "cameras.intrinsics": (1e-6, 1e-6),
    "cameras.distortion": (1e-6, 1e-6),
    "cameras.rotation": (1e-6, 0.0),
    "cameras.center": (1e-6, 1e-6),
    "cameras.image_size": (0.0, 0.0),
}


@dataclass(frozen=True)
class ArrayCheck:
    """One compared quantity: its largest absolute difference (in ``unit``), whether it is
    within tolerance, and joints finite on one side only (3D and 2D)."""

    name: str
    unit: str
    max_abs: float
    ok: bool
    nan_mismatch: int = 0
    #: 3D only: root-aligned mean per-joint error (mm), the MPJPE
    mpjpe_mm: float | None = None
    #: 3D only: how many joint distances ``mpjpe_mm`` averages (to merge chunks' MPJPEs)
    mpjpe_joints: int = 0


@dataclass(frozen=True)
class RoundTrip:
    """What :func:`compare_datasets` found. ``problems`` is empty when the output kept
    everything; each problem is one sentence."""

    samples_in: int
    samples_out: int
    matched: int
    unmatched: int
    extra: int
    aligned_by: str | None
    checks: tuple[ArrayCheck, ...] = ()
    problems: tuple[str, ...] = ()
    note: str | None = None
    compared_ids: tuple[str, ...] = ()
    #: chunks compared one at a time (:func:`compare_chunked`); 1 for :func:`compare_datasets`
    chunks: int = 1
    #: output samples matching no input that are views the format projected (``projected_views``)
    projected: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def check(self, name: str) -> ArrayCheck | None:
        return next((c for c in self.checks if c.name == name), None)

    @property
    def mpjpe_mm(self) -> float | None:
        """Worst root-aligned MPJPE over the compared 3D arrays (None: no 3D compared)."""
        values = [c.mpjpe_mm for c in self.checks if c.mpjpe_mm is not None]
        return float(max(values)) if values else None

    def to_json(self) -> dict[str, Any]:
        """The JSON document ``convert --json`` prints under ``check``."""
        three = [c for c in self.checks if c.name in POINTS_3D]
        two = self.check("joints_2d")
        return {
            "ok": self.ok,
            "problems": list(self.problems),
            "mpjpe_mm": self.mpjpe_mm,
            "max_error_mm": float(max(1000 * c.max_abs for c in three)) if three else None,
            "max_error_2d_px": None if two is None else two.max_abs,
            "compared": [c.name for c in three],
            "per_array": {c.name: {"mpjpe_mm": c.mpjpe_mm, "max_error_mm": 1000 * c.max_abs} for c in three},
            "cameras": {c.name.split(".", 1)[1]: c.max_abs for c in self.checks if c.name.startswith("cameras.")},
            "ids": list(self.compared_ids),
            "samples": self.matched,
            "samples_in": self.samples_in,
            "samples_out": self.samples_out,
            "unmatched": self.unmatched,
            "extra": self.extra,
            "projected": self.projected,
            "nan_mismatch": max((c.nan_mismatch for c in self.checks), default=0),
            "aligned_by": self.aligned_by,
            "note": self.note,
            "chunks": self.chunks,
        }


@runtime_checkable
class SurveyedIds(Protocol):
    """An ``as_written`` that needs every source sample's ids before it can map one chunk
    (VideoPose3D's frame index within a sequence: :func:`posesynth.data.formats.registry.written_ids`).
    ``survey`` is given all the source's chunks once; called on a data set it never surveyed,
    it maps that data set as a whole. ``projected_views``: the format projects the views a
    rig's camera lacks (see the module docstring)."""

    projected_views: bool

    def survey(self, chunks: Iterable[PoseDataset]) -> None: ...

    def __call__(self, dataset: PoseDataset) -> PoseDataset: ...


def compare_datasets(source: PoseDataset, output: PoseDataset, *, projected_views: bool = False) -> RoundTrip:
    """Compare ``output`` (a written copy read back) with ``source``.

    Joints are matched by name (a writer may drop joints it cannot hold); samples by position
    when the counts agree and the 3D agrees, else by the keys (subject, action, frame,
    camera name) both carry (a writer may reorder samples, or store one 3D pose per frame
    for several cameras: arrays that differ between output samples of equal keys are then
    not compared, and said so in ``note``).

    Problems: samples lost or added, ids that differ, any 3D, 2D or camera value off by more
    than :data:`TOLERANCES`, joints finite on one side only, or nothing comparable at all.
    With ``projected_views``, output samples matching no input are checked as projected
    views (module docstring) instead of counted as extra.
    """
    return _result([_compare(source, output, projected_views)])


def compare_chunked(
    source: Iterable[PoseDataset], output: Iterable[PoseDataset], *, projected_views: bool = False
) -> RoundTrip:
    """:func:`compare_datasets` of two data sets given as consecutive chunks, one pair at a time.

    The i-th chunks of ``source`` and ``output`` are compared (:func:`compare_datasets`'s
    rules inside the pair) and the results merged: counts summed, largest differences kept,
    MPJPE averaged over all joints, each problem stated once for the whole data set. A chunk
    without a partner (one side has more) counts as missing or extra samples (with
    ``projected_views``, an output chunk alone may hold projected views, checked as such).
    Only the current pair is held; ``chunks`` in the result says how many pairs there were.
    """
    parts = []
    for a, b in zip_longest(source, output):
        if a is None:
            alone = _Partial(samples_in=0, samples_out=len(b), extra=len(b))
            if projected_views:
                _take_projected(alone, b, np.arange(len(b)))
            parts.append(alone)
        elif b is None:
            parts.append(_Partial(samples_in=len(a), samples_out=0, unmatched=len(a)))
        else:
            parts.append(_compare(a, b, projected_views))
    return _result(parts)


@dataclass
class _Partial:
    """What one comparison found, before the problems are worded (merged over chunks)."""

    samples_in: int
    samples_out: int
    matched: int = 0
    unmatched: int = 0
    extra: int = 0
    aligned_by: str | None = None
    checks: list[ArrayCheck] = field(default_factory=list)
    id_differ: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    no_cameras_out: bool = False
    fatal: str | None = None
    projected: int = 0


def _compare(source: PoseDataset, output: PoseDataset, projected_views: bool = False) -> _Partial:
    n_in, n_out = len(source), len(output)
    unaligned = _Partial(n_in, n_out, unmatched=n_in, extra=n_out)
    names_out = output.skeleton.joint_names
    common = [j for j in source.skeleton.joint_names if j in names_out]
    if not common:
        unaligned.fatal = "the skeletons share no joint names"
        return unaligned
    src_j = np.array([source.skeleton.index(j) for j in common])
    out_j = np.array([output.skeleton.index(j) for j in common])
    arrays = [a for a in POINTS_3D if _both(source, output, a)]
    if not arrays:
        source, output = source.complete(), output.complete()
        arrays = [a for a in POINTS_3D if _both(source, output, a)]
    if not arrays:
        unaligned.fatal = "input and output share no 3D joints"
        return unaligned
    rows = _align(source, output, arrays[0], src_j, out_j)
    if rows is None:
        unaligned.fatal = "the samples cannot be matched ({n_in} in, {n_out} out, no common keys)"
        return unaligned
    src_rows, out_rows, how, rep = rows
    matched = len(src_rows)
    used = np.unique(out_rows)  # with repeated keys: the first output row of each key
    extra = n_out - len(used) if rep is None else int(np.sum(~np.isin(rep, used)))
    part = _Partial(n_in, n_out, matched, n_in - matched, max(extra, 0), how)
    if projected_views and extra > 0:
        alone = ~np.isin(np.arange(n_out) if rep is None else rep, used)
        _take_projected(part, output, np.flatnonzero(alone))

    def pick(ds: PoseDataset, name: str, rows_: np.ndarray, joints: np.ndarray) -> np.ndarray:
        full = np.asarray(getattr(ds, name))
        if how != "order":  # "order": every row, in order, so no gather (read only below)
            full = full[rows_]
        return full if np.array_equal(joints, np.arange(full.shape[1])) else full[:, joints]

    def comparable(name: str) -> bool:
        full = np.asarray(getattr(output, name))
        if rep is not None and not np.array_equal(full, full[rep], equal_nan=True):
            part.skipped.append(name)  # e.g. camera-frame 3D of one frame seen by several cameras
            return False
        return True

    for name in arrays:
        if comparable(name):
            a, b = pick(source, name, src_rows, src_j), pick(output, name, out_rows, out_j)
            part.checks.append(_points(name, "m", a, b, mpjpe=True))
    if _both(source, output, "joints_2d") and comparable("joints_2d"):
        a, b = pick(source, "joints_2d", src_rows, src_j), pick(output, "joints_2d", out_rows, out_j)
        part.checks.append(_points("joints_2d", "px", a, b, mpjpe=False))
    if source.cameras is not None and output.cameras is not None:
        part.checks.extend(_cameras(source, output, src_rows, out_rows))
    part.id_differ = _compare_ids(source, output, src_rows, out_rows)
    part.no_cameras_out = source.cameras is not None and output.cameras is None  # a format without cameras
    return part


def _merge_checks(checks: list[ArrayCheck]) -> list[ArrayCheck]:
    """One check per name, in first-seen order: largest difference, all ok, mismatches summed,
    MPJPE averaged over every joint distance."""
    by_name: dict[str, list[ArrayCheck]] = {}
    for c in checks:
        by_name.setdefault(c.name, []).append(c)
    out = []
    for name, group in by_name.items():
        if len(group) == 1:
            out.append(group[0])
            continue
        joints = sum(c.mpjpe_joints for c in group)
        with_mpjpe = [c for c in group if c.mpjpe_mm is not None]
        mpjpe = None
        if with_mpjpe:
            mpjpe = sum(c.mpjpe_mm * c.mpjpe_joints for c in with_mpjpe if c.mpjpe_mm is not None) / max(joints, 1)
        out.append(
            ArrayCheck(
                name,
                group[0].unit,
                max(c.max_abs for c in group),
                all(c.ok for c in group),
                sum(c.nan_mismatch for c in group),
                mpjpe,
                joints,
            )
        )
    return out


def _result(parts: list[_Partial]) -> RoundTrip:
    """The :class:`RoundTrip` of one comparison or of consecutive chunks' comparisons."""
    n_in = sum(p.samples_in for p in parts)
    n_out = sum(p.samples_out for p in parts)
    matched = sum(p.matched for p in parts)
    unmatched = sum(p.unmatched for p in parts)
    extra = sum(p.extra for p in parts)
    projected = sum(p.projected for p in parts)
    fatal = list(dict.fromkeys(p.fatal for p in parts if p.fatal is not None))
    if len(parts) == 1 and fatal:
        # one comparison that could not start: its reason alone, as compare_datasets words it
        fatal = [fatal[0].format(n_in=n_in, n_out=n_out)]
        return RoundTrip(n_in, n_out, 0, n_in, n_out, None, problems=tuple(fatal))
    problems = [f.format(n_in=n_in, n_out=n_out) for f in fatal]
    if unmatched:
        problems.append(f"{unmatched} of {n_in} samples are missing from the output")
    if extra > 0:
        problems.append(f"the output holds {extra} samples that match none of the input")
    checks = _merge_checks([c for p in parts for c in p.checks])
    id_differ: dict[str, int] = {}
    for p in parts:
        for name, differ in p.id_differ.items():
            id_differ[name] = id_differ.get(name, 0) + differ
    for name in sorted(id_differ):
        if id_differ[name]:
            problems.append(f"ids: {name} differs on {id_differ[name]} samples")
    for c in checks:
        if not c.ok:
            problems.append(
                f"{c.name} differs by up to {c.max_abs:.6g} {c.unit}"
                + (f" (MPJPE {c.mpjpe_mm:.6g} mm)" if c.mpjpe_mm is not None else "")
            )
        if c.nan_mismatch:
            problems.append(f"{c.name}: {c.nan_mismatch} joints are missing on one side only")
    if not any(c.name in POINTS_3D for c in checks):
        problems.append("no 3D could be compared")
    skipped = list(dict.fromkeys(name for p in parts for name in p.skipped))
    notes = [f"not compared: {skipped} differ between output samples with equal keys"] if skipped else []
    if any(p.no_cameras_out for p in parts):
        notes.append("the output holds no cameras")
    hows = {p.aligned_by for p in parts if p.aligned_by is not None}
    how = None if not hows else ("order" if hows == {"order"} else "keys")
    return RoundTrip(
        n_in,
        n_out,
        matched,
        unmatched,
        max(extra, 0),
        how,
        tuple(checks),
        tuple(problems),
        "; ".join(notes) or None,
        tuple(sorted(id_differ)),
        len(parts),
        projected,
    )


def check_written_chunked(
    source: Callable[[], Iterable[PoseDataset]],
    out: Path,
    read_back: Callable[[], Iterable[PoseDataset]],
    remove: Callable[[], None],
    *,
    as_written: Callable[[PoseDataset], PoseDataset] | None = None,
) -> RoundTrip:
    """:func:`check_written` chunk by chunk: ``source()`` and ``read_back()`` give the input
    and the written output as consecutive chunks of equal sizes (e.g.
    :func:`posesynth.data.formats.registry.iter_chunks`), compared by :func:`compare_chunked`.
    ``as_written`` maps each source chunk's ids as in :func:`check_written`; a
    :class:`SurveyedIds` is first shown every source chunk (one more pass over ``source()``:
    its ids, held as it needs). On any problem, or a failure to read either back,
    ``remove()`` is called and a ``ValueError`` names ``out``."""
    try:
        if isinstance(as_written, SurveyedIds):
            as_written.survey(source())
        chunks = source() if as_written is None else map(as_written, source())
        result = compare_chunked(chunks, read_back(), projected_views=_projects(as_written))
    except ValueError as exc:
        remove()
        raise ValueError(f"{out}: written, but it cannot be read back ({exc}); removed it") from None
    if not result.ok:
        remove()
        raise ValueError(f"{out}: written, but it differs from the input: {'; '.join(result.problems)}; removed it")
    return result


def check_written(
    source: PoseDataset,
    out: Path,
    read_back: Callable[[], PoseDataset],
    remove: Callable[[], None],
    *,
    as_written: Callable[[PoseDataset], PoseDataset] | None = None,
) -> RoundTrip:
    """Read the written output back (``read_back()``), compare it with ``source``, and on any
    problem call ``remove()`` (removing what this command wrote) and raise ``ValueError``
    naming ``out`` and the problems. A failure to read it back is a problem too.

    ``as_written`` gives the source with its ids as the format writes them (e.g.
    :func:`posesynth.data.formats.registry.written_ids`: TRC file names hold ``S-2`` for a
    subject ``S 2``); the output is compared with that, so a name the format must clean is
    not a difference, and a name other than the cleaned one still is. An ``as_written`` whose
    ``projected_views`` is true (VideoPose3D's) has the output's unmatched samples checked as
    projected views (:func:`compare_datasets`)."""
    try:
        if as_written is not None:
            source = as_written(source)
        result = compare_datasets(source, read_back(), projected_views=_projects(as_written))
    except ValueError as exc:
        remove()
        raise ValueError(f"{out}: written, but it cannot be read back ({exc}); removed it") from None
    if not result.ok:
        remove()
        raise ValueError(f"{out}: written, but it differs from the input: {'; '.join(result.problems)}; removed it")
    return result


# ------------------------------------------------------------------------------- internals


def _projects(as_written: Callable[[PoseDataset], PoseDataset] | None) -> bool:
    """Whether the format behind ``as_written`` projects the views a rig's camera lacks."""
    return bool(getattr(as_written, "projected_views", False))


def _both(a: PoseDataset, b: PoseDataset, name: str) -> bool:
    return getattr(a, name) is not None and getattr(b, name) is not None


def _close(a: np.ndarray, b: np.ndarray, name: str) -> tuple[float, bool]:
    atol, rtol = TOLERANCES[name]
    with np.errstate(invalid="ignore"):
        d = np.abs(a.astype(np.float64) - b.astype(np.float64))
        fine = d <= atol + rtol * np.abs(a.astype(np.float64))
    both = np.isfinite(a) & np.isfinite(b)
    worst = float(d[both].max()) if both.any() else 0.0
    return worst, bool(fine[both].all())


def _points(name: str, unit: str, a: np.ndarray, b: np.ndarray, mpjpe: bool) -> ArrayCheck:
    """Per-joint Euclidean distances (``max_abs`` is the largest), against the tolerance
    applied to the distance and the point's norm."""
    fa, fb = np.isfinite(a).all(-1), np.isfinite(b).all(-1)
    mismatch = int((fa != fb).sum())
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)  # no copy of float64
    with np.errstate(invalid="ignore"):
        dist = np.linalg.norm(a64 - b64, axis=-1)
    both = fa & fb
    atol, rtol = TOLERANCES[name]
    worst = float(dist[both].max()) if both.any() else 0.0
    ok = bool((dist[both] <= atol + rtol * np.linalg.norm(a64, axis=-1)[both]).all())
    value = None
    count = 0
    if mpjpe:
        with np.errstate(invalid="ignore"):
            rel = np.linalg.norm((a - a[:, :1]) - (b - b[:, :1]), axis=-1)
        rel = rel[np.isfinite(rel)]
        value = 1000.0 * float(rel.mean()) if rel.size else None
        count = int(rel.size)
    return ArrayCheck(name, unit, worst, ok and mismatch == 0, mismatch, value, count)


def _cameras(source: PoseDataset, output: PoseDataset, src_rows: np.ndarray, out_rows: np.ndarray) -> list[ArrayCheck]:
    def per_sample(ds: PoseDataset, rows: np.ndarray, attr: str) -> np.ndarray:
        value = np.asarray(getattr(ds.cameras, attr))
        index = rows if ds.camera_index is None else np.asarray(ds.camera_index)[rows]
        return value[index]

    assert source.cameras is not None and output.cameras is not None  # compare_datasets checks both
    out: list[ArrayCheck] = []
    for attr, unit in (("intrinsics", "px"), ("rotation", ""), ("center", "m"), ("image_size", "px")):
        a, b = per_sample(source, src_rows, attr), per_sample(output, out_rows, attr)
        worst, ok = _close(a, b, f"cameras.{attr}")
        out.append(ArrayCheck(f"cameras.{attr}", unit, worst, ok))
    da = source.cameras.distortion
    db = output.cameras.distortion
    if source.cameras.model == output.cameras.model and da is not None and db is not None:
        a, b = per_sample(source, src_rows, "distortion"), per_sample(output, out_rows, "distortion")
        worst, ok = _close(a, b, "cameras.distortion")
        out.append(ArrayCheck("cameras.distortion", "", worst, ok))
    elif source.cameras.model != output.cameras.model:
        # another model holds the same projection only when the source has no distortion
        nonzero = da is not None and bool(np.any(np.asarray(da)[_rows(source, src_rows)] != 0))
        out.append(ArrayCheck("cameras.distortion", "", float("inf") if nonzero else 0.0, not nonzero))
    return out


def _take_projected(part: _Partial, output: PoseDataset, rows: np.ndarray) -> None:
    """Check output ``rows`` (samples matching no input) as views the format projected: 2D
    ``(M, J, 2)`` px against the projection of world 3D ``(M, J, 3)`` m through each sample's
    camera (its own model), within the 2D tolerance, joint by joint. The rows that agree move
    from ``part.extra`` to ``part.projected``; the largest difference is the ``projected_2d``
    check. Without world 3D, 2D or cameras nothing can be verified: they stay extra."""
    if rows.size == 0 or output.joints_3d_world is None or output.joints_2d is None or output.cameras is None:
        return
    from posesynth.geometry.camera import project, world_to_camera

    cams = output.cameras[_rows(output, rows)]
    world = np.asarray(output.joints_3d_world, dtype=np.float64)[rows]
    p_cam = world_to_camera(world, np.asarray(cams.rotation, np.float64), np.asarray(cams.center, np.float64))
    dist = None if cams.distortion is None else np.asarray(cams.distortion, np.float64)
    expected = project(cams.model, p_cam, np.asarray(cams.intrinsics, np.float64), dist)
    got = np.asarray(output.joints_2d, dtype=np.float64)[rows]
    fe, fg = np.isfinite(expected).all(-1), np.isfinite(got).all(-1)
    both = fe & fg
    with np.errstate(invalid="ignore"):
        d = np.linalg.norm(expected - got, axis=-1)
    atol, rtol = TOLERANCES["projected_2d"]
    fine = np.where(both, d <= atol + rtol * np.linalg.norm(np.where(both[..., None], expected, 0.0), axis=-1), True)
    row_ok = fine.all(-1) & (fe == fg).all(-1)
    good = int(row_ok.sum())
    part.projected += good
    part.extra -= good
    worst = float(d[both].max()) if both.any() else 0.0
    part.checks.append(ArrayCheck("projected_2d", "px", worst, bool(row_ok.all()), int((fe != fg).sum())))


def _rows(ds: PoseDataset, rows: np.ndarray) -> np.ndarray:
    return rows if ds.camera_index is None else np.asarray(ds.camera_index)[rows]


def _compare_ids(
    source: PoseDataset, output: PoseDataset, src_rows: np.ndarray, out_rows: np.ndarray
) -> dict[str, int]:
    """Per id both carry (subject, action, frame, camera): on how many matched samples it differs."""
    ks, ko = _keys(source), _keys(output)
    differ = {}
    for name in sorted(set(ks) & set(ko)):
        a = np.asarray(ks[name], dtype=object)[src_rows]
        b = np.asarray(ko[name], dtype=object)[out_rows]
        differ[name] = int(np.sum(a != b))
    return differ


def _align(
    source: PoseDataset, output: PoseDataset, name: str, src_j: np.ndarray, out_j: np.ndarray
) -> tuple[np.ndarray, np.ndarray, str, np.ndarray | None] | None:
    """Matching rows ``(source rows, output rows, how, rep)``, or None.

    ``rep`` (only when output keys repeat) maps each output row to the first output row with
    its keys; an array is comparable only where it is equal along ``rep``.
    """
    n = len(source)
    order = (np.arange(n), np.arange(n), "order", None)
    if len(output) == n:
        a = np.asarray(getattr(source, name))[:, src_j]
        b = np.asarray(getattr(output, name))[:, out_j]
        fa, fb = np.isfinite(a), np.isfinite(b)
        if (fa == fb).all() and np.allclose(a[fa], b[fb], rtol=0, atol=1e-6):
            return order
    keys_src, keys_out = _keys(source), _keys(output)
    shared = sorted(set(keys_src) & set(keys_out))
    if not shared:
        return order if len(output) == n else None
    ks = list(zip(*(keys_src[k] for k in shared), strict=True))
    ko = list(zip(*(keys_out[k] for k in shared), strict=True))
    lookup: dict[tuple, int] = {}
    rep = np.array([lookup.setdefault(key, i) for i, key in enumerate(ko)], dtype=np.int64)
    pairs = [(i, lookup[key]) for i, key in enumerate(ks) if key in lookup]
    if not pairs:
        return None
    src_rows, out_rows = (np.array(p, dtype=np.int64) for p in zip(*pairs, strict=True))
    return src_rows, out_rows, "keys", (rep if len(lookup) < len(ko) else None)


def _keys(ds: PoseDataset) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for name in ("subject", "action", "frame"):
        value = getattr(ds, name)
        if value is not None:
            keys[name] = [str(v) for v in np.asarray(value).tolist()]
    if ds.camera_names is not None and ds.cameras is not None:
        names = np.asarray(ds.camera_names)
        per_sample = names if ds.camera_index is None else names[ds.camera_index]
        keys["camera"] = [str(v) for v in per_sample.tolist()]
    return keys
