"""``posesynth convert IN OUT --to FORMAT``: read any format, write another, check nothing moved.

Reading and writing go through :func:`posesynth.data.formats.registry.read_any` /
:func:`~posesynth.data.formats.registry.write_any`. Unless ``--no-check``, the output is read back
and compared with the input (:func:`posesynth.data.roundtrip.check_written`): sample count, ids,
world and camera 3D (absolute), 2D and cameras; any difference is an error and the output is
removed. The output policy (:mod:`posesynth.util.outputs`) is checked before any work.

Memory: more than ``registry.STREAM_ROWS`` samples stream
(:func:`~posesynth.data.formats.registry.convert_streamed` says when each pair does and what
falls back to memory):

- a posesynth store into MMPose, TRC or VideoPose3D;
- MMPose, TRC, the seed's ``.h5`` and VideoPose3D files (Human3.6M's as VideoPose3D writes
  them, or posesynth's own, its cameras file read entry by entry) into a posesynth store;
- TRC and the seed's ``.h5`` into MMPose or TRC, VideoPose3D files into MMPose, TRC or
  VideoPose3D, through a hidden store beside OUT (removed after the check).

The check streams with them (:func:`~posesynth.data.roundtrip.check_written_chunked`: the input
and the written files read back chunk by chunk, compared pair by pair). Every other pair (MMPose
into MMPose, TRC or VideoPose3D; Human3.6M's raw ``.cdf``; ``calib_toml``) and the fallbacks
are converted in memory, and the check then holds the input and the output read back (about
twice the data set).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from posesynth.cli.errors import user_errors
from posesynth.cli.output import print_json, stdout_to_stderr, to_jsonable

if TYPE_CHECKING:
    from posesynth.data.dataset import PoseDataset

#: Largest root-aligned MPJPE (mm) between input and output that counts as "unchanged"
#: (float32 files hold metres to ~0.5 µm); the check itself compares absolute values with
#: the tolerances of :data:`posesynth.data.roundtrip.TOLERANCES`.
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
    source: Annotated[Path, typer.Argument(metavar="IN", help="Input data set (any readable format).")],
    out: Annotated[
        Path,
        typer.Argument(
            metavar="OUT",
            help="Output: a store folder (posesynth) or the folder to hold the files "
            "(mmpose: .npz + cameras.pkl; videopose3d: data_3d_*.npz + data_2d_*.npz).",
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
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check/--no-check",
            help="Read the output back and compare (ids, absolute 3D, 2D, cameras); chunk by chunk when "
            "the conversion streams.",
        ),
    ] = True,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON document on stdout.")
    ] = False,
) -> None:
    """Convert a data set between formats; the 3D joints are checked to be unchanged."""
    with user_errors():
        from posesynth.data.formats import registry as formats
        from posesynth.data.formats.registry import convert_streamed, detect_format, iter_chunks, read_any, write_any
        from posesynth.data.roundtrip import check_written, check_written_chunked
        from posesynth.util.outputs import check_output

        if name is not None and to is Target.posesynth:
            raise ValueError("--name: applies to --to mmpose and videopose3d, not posesynth")
        # before any work: never the input, never a file for a folder, never replaced unasked
        kind: Literal["dir"] | None = "dir" if to in (Target.posesynth, Target.mmpose) else None
        check_output(out, kind=kind, overwrite=overwrite, inputs=[source], what="OUT")
        start = time.perf_counter()
        existed = out.exists()
        with stdout_to_stderr(json_output):
            in_format = from_.value if from_ is not None else detect_format(source)
            options: dict[str, Any] = {} if name is None else {"name": name}
            try:
                # large stores stream into mmpose (memory flat in samples), the check too
                streamed = convert_streamed(source, out, to.value, in_format, overwrite=overwrite, **options)
                dataset = streamed if streamed is not None else read_any(source, format=in_format)
                written = (
                    streamed.written
                    if streamed is not None
                    else write_any(dataset, out, to.value, overwrite=overwrite, **options)
                )
            except BaseException:
                if not existed:  # e.g. an empty folder made before the writer refused
                    _remove_created(out)
                raise
            result = None
            if check and streamed is not None:
                rows = streamed.rows
                read_back = streamed.read_back or (lambda: iter_chunks(out, to.value, rows)[1])
                source_again = streamed.source_again or (lambda: iter_chunks(source, in_format, rows)[1])
                result = check_written_chunked(
                    source_again, out, read_back,
                    lambda: _remove_written(out, written, existed), as_written=formats.written_ids(to.value, out),
                )  # fmt: skip
            elif check:
                back_path = written if isinstance(written, Path) and to is Target.posesynth else out
                result = check_written(
                    dataset, out, lambda: read_any(back_path, format=to.value),
                    lambda: _remove_written(out, written, existed), as_written=formats.written_ids(to.value, out),
                )  # fmt: skip
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
            "check": None if result is None else result.to_json(),
            "mpjpe_mm": None if result is None else result.mpjpe_mm,
            "seconds": round(time.perf_counter() - start, 3),
        }
        if json_output:
            print_json(summary)
        else:
            typer.echo(summary_line(summary), err=True)


def _remove_created(out: Path) -> None:
    """Remove ``out``, which this command created (it did not exist before)."""
    from posesynth.util.outputs import remove_path

    remove_path(out)


def _remove_written(out: Path, written: Any, existed: bool) -> None:
    """Remove what this command wrote: ``out`` when it made it, else the files it wrote."""
    from posesynth.util.outputs import output_lock, remove_path

    with output_lock(out):
        if not existed:
            remove_path(out)
            return
        for path in _paths(written):
            remove_path(path)


def _paths(written: Any) -> list[Path]:
    if isinstance(written, (str, Path)):
        return [Path(written)]
    if isinstance(written, Mapping):
        return [p for v in written.values() for p in _paths(v)]
    if isinstance(written, (list, tuple)):
        return [p for v in written for p in _paths(v)]
    return []


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
    """:func:`posesynth.data.roundtrip.compare_datasets` as the JSON document ``convert
    --json`` prints under ``check`` (``ok``, ``problems``, ``mpjpe_mm``, ``max_error_mm``,
    ``max_error_2d_px``, ``per_array``, ``cameras``, ``samples``, ``unmatched``, ...)."""
    from posesynth.data.roundtrip import compare_datasets

    return compare_datasets(source, output).to_json()
