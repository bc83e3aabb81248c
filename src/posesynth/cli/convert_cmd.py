"""``posesynth convert IN OUT --to FORMAT``: read any format, write another, check nothing moved.

Reading and writing go through :func:`posesynth.data.formats.registry.read_any` /
:func:`~posesynth.data.formats.registry.write_any`. Unless ``--no-check``, the output is read back
and compared with the input (:func:`roundtrip_error`): a root-aligned MPJPE above
:data:`MPJPE_TOLERANCE_MM` is an error (the output stays where it was written).
"""

from __future__ import annotations

import enum
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer

from posesynth.cli.errors import fail, user_errors
from posesynth.cli.output import print_json, stdout_to_stderr, to_jsonable

if TYPE_CHECKING:
    from posesynth.data.dataset import PoseDataset

#: Largest root-aligned MPJPE (mm) between input and output that counts as "unchanged"
#: (float32 files hold metres to ~0.5 µm).
MPJPE_TOLERANCE_MM = 1e-3


class Target(str, enum.Enum):
    """Formats ``convert`` writes (names as in :data:`posesynth.data.formats.registry.WRITERS`)."""

    posesynth = "posesynth"
    mmpose = "mmpose"
    videopose3d = "videopose3d"
    trc = "trc"
    calib_toml = "calib_toml"


class Source(str, enum.Enum):
    """Formats ``convert`` reads (names as in :data:`posesynth.data.formats.registry.READERS`)."""

    posesynth = "posesynth"
    mmpose = "mmpose"
    videopose3d = "videopose3d"
    seed_h5 = "seed_h5"
    h36m_cdf = "h36m_cdf"
    trc = "trc"


def convert(
    source: Annotated[
        Path, typer.Argument(metavar="IN", help="Input data set (any readable format).")
    ],
    out: Annotated[
        Path,
        typer.Argument(
            metavar="OUT",
            help="Output: a store folder (posesynth) or the folder to hold the files "
            "(mmpose: .npz + cameras.pkl; videopose3d: data_3d_*.npz + data_2d_*.npz)."
        ),
    ],
    to: Annotated[Target, typer.Option("--to", help="Output format.")],
    from_: Annotated[
        Source | None,
        typer.Option("--from", help="Input format (default: detected from the content)."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="mmpose: the .npz file name (default h36m_train.npz); videopose3d: the <name> "
            "of data_3d_<name>.npz (default custom).",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option("--check/--no-check", help="Read the output back and compare (MPJPE)."),
    ] = True,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON document on stdout.")
    ] = False,
) -> None:
    """Convert a data set between formats; the 3D joints are checked to be unchanged."""
    with user_errors():
        from posesynth.data.formats.registry import detect_format, read_any, write_any

        if name is not None and to is Target.posesynth:
            raise ValueError("--name: applies to --to mmpose and videopose3d, not posesynth")
        start = time.perf_counter()
        with stdout_to_stderr(json_output):
            in_format = from_.value if from_ is not None else detect_format(source)
            dataset = read_any(source, format=in_format)
            options = {} if name is None else {"name": name}
            written = write_any(dataset, out, to.value, overwrite=overwrite, **options)
            result = None
            if check and to is not Target.calib_toml:  # a Calib.toml holds no keypoints
                back_path = written if isinstance(written, Path) and to is Target.posesynth else out
                result = roundtrip_error(dataset, read_any(back_path, format=to.value))
        summary = {
            "in": str(source),
            "in_format": in_format,
            "out": str(out),
            "to": to.value,
            "written": to_jsonable(written),
            "samples": len(dataset),
            "joints": dataset.skeleton.num_joints,
            "skeleton": dataset.skeleton.name,
            "cameras": dataset.num_cameras,
            "check": result,
            "mpjpe_mm": None if result is None else result["mpjpe_mm"],
            "seconds": round(time.perf_counter() - start, 3),
        }
        if result is not None and result["mpjpe_mm"] is not None:
            if not result["mpjpe_mm"] <= MPJPE_TOLERANCE_MM:  # NaN fails too
                fail(
                    f"{out}: written, but its joints differ from {source}: MPJPE "
                    f"{result['mpjpe_mm']:.6g} mm over {result['compared']} "
                    f"(tolerance {MPJPE_TOLERANCE_MM} mm)"
                )
        if json_output:
            print_json(summary)
        else:
            typer.echo(summary_line(summary))


def summary_line(summary: dict[str, Any]) -> str:
    """One line: what was read, what was written, and the check's MPJPE."""
    line = (
        f"converted {summary['in']} ({summary['in_format']}: {summary['samples']} samples, "
        f"{summary['joints']} joints, {summary['cameras']} cameras) -> {summary['out']} "
        f"({summary['to']})"
    )
    check = summary.get("check")
    if check is None:
        return line + "; not checked"
    if check["mpjpe_mm"] is None:
        return line + f"; not compared ({check['note']})"
    return line + f"; MPJPE {check['mpjpe_mm']:.3g} mm ({check['aligned_by']})"


# ------------------------------------------------------------------------------ the check


def roundtrip_error(source: PoseDataset, output: PoseDataset) -> dict[str, Any]:
    """How far ``output``'s 3D joints are from ``source``'s, in millimetres.

    Joints are matched by name (so a writer may drop joints); samples by position when the
    counts agree and that matches, else by the keys (subject, action, frame, camera name)
    both carry (a writer may reorder samples or store one 3D pose per frame for several
    cameras). Compared: camera-frame and world 3D where both have them (after
    :meth:`PoseDataset.complete` if they share neither).

    Returns:
        ``{"mpjpe_mm"`` (root-aligned mean, worst over the compared arrays; None if
        nothing could be compared), ``"max_error_mm"`` (largest absolute joint error),
        ``"max_error_2d_px"``, ``"compared"`` (array names), ``"per_array"`` (name ->
        ``{"mpjpe_mm", "max_error_mm"}``), ``"samples"`` (matched),
        ``"unmatched"``, ``"nan_mismatch"`` (joints finite on one side only),
        ``"aligned_by"`` ("order" or "keys"), ``"note"``}.
    """
    result: dict[str, Any] = {
        "mpjpe_mm": None, "max_error_mm": None, "max_error_2d_px": None, "compared": [],
        "per_array": {},
        "samples": 0, "unmatched": 0, "nan_mismatch": 0, "aligned_by": None, "note": None,
    }  # fmt: skip
    names_out = output.skeleton.joint_names
    common = [n for n in source.skeleton.joint_names if n in names_out]
    if not common:
        result["note"] = "the skeletons share no joint names"
        return result
    src_j = np.array([source.skeleton.index(n) for n in common])
    out_j = np.array([output.skeleton.index(n) for n in common])
    arrays = [n for n in ("joints_3d_camera", "joints_3d_world") if _both(source, output, n)]
    if not arrays:
        source, output = source.complete(), output.complete()
        arrays = [n for n in ("joints_3d_camera", "joints_3d_world") if _both(source, output, n)]
    if not arrays:
        result["note"] = "input and output share no 3D joints"
        return result
    rows = _align(source, output, arrays[0], src_j, out_j)
    if rows is None:
        result["note"] = "the samples cannot be matched (different counts and no common keys)"
        return result
    src_rows, out_rows, how, rep = rows
    per_array: dict[str, dict[str, float]] = {}
    skipped: list[str] = []
    nan_mismatch = 0
    for name in arrays:
        full = np.asarray(getattr(output, name))
        if rep is not None and not np.array_equal(full, full[rep], equal_nan=True):
            skipped.append(name)  # e.g. camera-frame 3D of one frame seen by several cameras
            continue
        a = np.asarray(getattr(source, name))[src_rows][:, src_j]
        m, e, k = _errors_mm(a, full[out_rows][:, out_j])
        per_array[name] = {"mpjpe_mm": m, "max_error_mm": e}
        nan_mismatch = max(nan_mismatch, k)
    if _both(source, output, "joints_2d"):
        full = np.asarray(output.joints_2d)
        if rep is None or np.array_equal(full, full[rep], equal_nan=True):
            d = np.abs(np.asarray(source.joints_2d)[src_rows][:, src_j] - full[out_rows][:, out_j])
            result["max_error_2d_px"] = float(np.nanmax(d)) if np.isfinite(d).any() else None
    result.update(
        samples=int(len(src_rows)), unmatched=int(len(source) - len(src_rows)), aligned_by=how,
        nan_mismatch=int(nan_mismatch), compared=list(per_array), per_array=per_array,
    )  # fmt: skip
    if skipped:
        result["note"] = f"not compared: {skipped} differ between output samples with equal keys"
    if per_array:
        result["mpjpe_mm"] = float(max(v["mpjpe_mm"] for v in per_array.values()))
        result["max_error_mm"] = float(max(v["max_error_mm"] for v in per_array.values()))
    return result


def _both(a: PoseDataset, b: PoseDataset, name: str) -> bool:
    return getattr(a, name) is not None and getattr(b, name) is not None


def _errors_mm(a: np.ndarray, b: np.ndarray) -> tuple[float, float, int]:
    """(root-aligned MPJPE, largest absolute joint error, joints finite on one side only)."""
    fa, fb = np.isfinite(a).all(-1), np.isfinite(b).all(-1)
    mismatch = int((fa != fb).sum())
    with np.errstate(invalid="ignore"):
        rel = np.linalg.norm((a - a[:, :1]) - (b - b[:, :1]), axis=-1)
        absolute = np.linalg.norm(a - b, axis=-1)
    rel, absolute = rel[np.isfinite(rel)], absolute[np.isfinite(absolute)]
    if rel.size == 0:
        return float("nan"), float("nan"), mismatch
    return 1000.0 * float(rel.mean()), 1000.0 * float(absolute.max()), mismatch


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
    ks = list(zip(*(keys_src[k] for k in shared)))
    ko = list(zip(*(keys_out[k] for k in shared)))
    lookup: dict[tuple, int] = {}
    rep = np.array([lookup.setdefault(key, i) for i, key in enumerate(ko)], dtype=np.int64)
    pairs = [(i, lookup[key]) for i, key in enumerate(ks) if key in lookup]
    if not pairs:
        return None
    src_rows, out_rows = (np.array(p, dtype=np.int64) for p in zip(*pairs))
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
