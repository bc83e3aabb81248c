"""Which format a file or folder holds, and reading/writing any of them by name.

:func:`detect_format` looks at the content (magic bytes, archive keys, HDF5 datasets), not
only at the name, so a corrupt file is reported as corrupt, not as "unknown". Readers and
writers are dispatched through the explicit tables :data:`READERS` and :data:`WRITERS`
(format name -> function); the format modules are imported when first used.

Formats (names as used by ``posesynth convert --to`` and ``posesynth info``):

=============  =========================================================================
posesynth      a folder with ``dataset.json`` (:mod:`posesynth.data.formats.store_io`)
mmpose         ``*.npz`` with ``imgname`` and ``part``/``S``, or a folder holding one such
               ``.npz`` and ``cameras.pkl`` (:mod:`posesynth.data.formats.mmpose`)
videopose3d    ``data_3d_*.npz`` (``positions_3d``) / ``data_2d_*.npz`` (``positions_2d``),
               or a folder holding one of each or either (:mod:`posesynth.data.formats.videopose3d`)
seed_h5        ``*.h5`` with ``S`` / ``part`` (:mod:`posesynth.data.formats.seed_h5`)
h36m_cdf       a Human3.6M ``*.cdf`` (:mod:`posesynth.data.formats.h36m_raw`)
trc            an OpenSim / Mocap ``*.trc``, or a folder of them (:mod:`posesynth.data.formats.trc`);
               written as one ``.trc`` per (subject, action) sequence into a folder
calib_toml     written only: the cameras as a Pose2Sim ``Calib.toml``
               (:mod:`posesynth.data.formats.calib_toml`); it holds no keypoints
=============  =========================================================================
"""

from __future__ import annotations

import pickle
import struct
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from posesynth.data.dataset import PoseDataset

__all__ = [
    "READERS",
    "READ_FORMATS",
    "WRITERS",
    "WRITE_FORMATS",
    "VideoPose3DWritten",
    "detect_format",
    "iter_chunks",
    "read_any",
    "write_any",
    "written_ids",
]

_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# CDF magic number 1: v3.x, v2.6/2.7, v2.5 and older
_CDF_MAGICS = (b"\xcd\xf3\x00\x01", b"\xcd\xf2\x60\x02", b"\x00\x00\xff\xff")
_TRC_MAGIC = b"PathFileType"
_SUFFIX_KIND = {".npz": "zip", ".h5": "hdf5", ".hdf5": "hdf5", ".cdf": "cdf", ".trc": "trc"}
_KIND_LABEL = {
    "zip": ".npz (zip) archive",
    "hdf5": "HDF5 file",
    "cdf": "CDF file",
    "trc": "TRC file (first line 'PathFileType')",
}
_EXPECTED = (
    "expected a posesynth store (folder with dataset.json), an MMPose .npz (or folder with "
    "it and cameras.pkl), a VideoPose3D data_3d_*/data_2d_*.npz, a seed .h5, a Human3.6M "
    ".cdf or a .trc"
)
#: Exceptions a reader raises on a damaged file; :func:`read_any` reports them as ValueError.
_CORRUPT_FILE_ERRORS = (
    KeyError,
    IndexError,
    EOFError,
    zipfile.BadZipFile,
    pickle.UnpicklingError,
    struct.error,
)


# --------------------------------------------------------------------------------- detection


def detect_format(path: Path | str) -> str:
    """The format of ``path``: ``"posesynth"``, ``"mmpose"``, ``"videopose3d"``,
    ``"seed_h5"``, ``"h36m_cdf"`` or ``"trc"`` (see the module docstring).

    Only headers and key lists are read (no pickles are loaded).

    Raises:
        ValueError: ``path`` is missing, damaged (e.g. a ``.npz`` that is not a zip
            archive) or none of the formats; the message names the path and what was found.
    """
    p = Path(path)
    if p.is_dir():
        return _detect_dir(p)
    if not p.exists():
        raise ValueError(f"{p}: no such data set (the path does not exist)")
    from posesynth.data.validate import check_regular_file

    check_regular_file(p)  # before sniffing: a FIFO would block the read forever
    head = _head(p)
    kind = _sniff(head)
    suffix = p.suffix.lower()
    expected = _SUFFIX_KIND.get(suffix)
    if expected is not None and kind != expected:
        raise ValueError(
            f"{p}: not a valid {_KIND_LABEL[expected]} (starts with {head[:12]!r}); the file is damaged or misnamed"
        )
    if kind == "zip":
        return _npz_format(p)
    if kind == "hdf5":
        return _h5_format(p)
    if kind == "cdf":
        return "h36m_cdf"
    if kind == "trc":
        return "trc"
    raise ValueError(f"{p}: unknown file type (suffix {suffix or 'none'!r}, starts with {head[:12]!r}); " + _EXPECTED)


def _head(p: Path) -> bytes:
    try:
        with open(p, "rb") as fh:
            return fh.read(16)
    except OSError as exc:
        raise ValueError(f"{p}: cannot read ({exc.strerror or exc})") from None


def _sniff(head: bytes) -> str | None:
    if head.startswith((_ZIP_MAGIC, _EMPTY_ZIP_MAGIC)):
        return "zip"
    if head.startswith(_HDF5_MAGIC):
        return "hdf5"
    if head[:4] in _CDF_MAGICS:
        return "cdf"
    if head.lstrip(b"\xef\xbb\xbf").startswith(_TRC_MAGIC):
        return "trc"
    return None


def _npz_keys(p: Path) -> list[str]:
    try:
        with np.load(p, allow_pickle=False) as npz:
            return list(npz.files)
    # NotImplementedError: zipfile's word for a damaged header ("zip file version 10.9")
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, NotImplementedError) as exc:
        raise ValueError(f"{p}: not a valid .npz archive ({exc})") from None


def _npz_kind(keys: list[str]) -> str | None:
    if "imgname" in keys and ("part" in keys or "S" in keys):
        return "mmpose"
    if "positions_3d" in keys or "positions_2d" in keys:
        return "videopose3d"
    return None


def _npz_format(p: Path) -> str:
    keys = _npz_keys(p)
    kind = _npz_kind(keys)
    if kind is None:
        raise ValueError(
            f"{p}: an .npz with keys {sorted(keys)}; expected MMPose (imgname with part and/or "
            "S) or VideoPose3D (positions_3d or positions_2d)"
        )
    return kind


def _h5_format(p: Path) -> str:
    import h5py

    try:
        with h5py.File(p, "r") as fh:
            keys = sorted(str(k) for k in fh)
    except Exception as exc:  # OSError when not HDF5; RuntimeError, KeyError... when damaged
        raise ValueError(f"{p}: not a valid HDF5 file ({type(exc).__name__}: {exc})") from None
    if "S" in keys or "part" in keys:
        return "seed_h5"
    raise ValueError(f"{p}: an HDF5 file with datasets {keys}; expected the seed's S and/or part")


def _detect_dir(p: Path) -> str:
    if (p / "dataset.json").is_file():
        return "posesynth"
    files = [e for e in p.iterdir() if e.is_file()]
    if any(e.suffix.lower() == ".trc" for e in files) and not any(e.suffix.lower() == ".npz" for e in files):
        return "trc"  # posesynth's TRC export: one .trc per sequence (and augment's figure)
    npz = sorted(f for f in p.iterdir() if f.suffix.lower() == ".npz" and f.is_file())
    if not npz and not (p / "cameras.pkl").exists():
        # most likely meant as a posesynth store: say what it lacks
        raise ValueError(f"{p / 'dataset.json'}: missing; {p} is not a posesynth data set")
    kinds = {f: _npz_kind(_npz_keys(f)) for f in npz}
    mmpose = [f for f, k in kinds.items() if k == "mmpose"]
    vp3d = [f for f, k in kinds.items() if k == "videopose3d"]
    if mmpose and (p / "cameras.pkl").is_file():
        if len(mmpose) == 1:
            return "mmpose"
        raise ValueError(f"{p}: holds {len(mmpose)} MMPose .npz files {[f.name for f in mmpose]}; pass one of them")
    if vp3d and not mmpose:
        _videopose3d_pair(p)  # raises when ambiguous
        return "videopose3d"
    found = [f.name for f in npz] + (["cameras.pkl"] if (p / "cameras.pkl").exists() else [])
    raise ValueError(
        f"{p}: a folder holding {found}, no dataset.json; expected a posesynth store, an MMPose "
        "folder (one MMPose .npz with cameras.pkl) or a VideoPose3D folder "
        "(data_3d_*.npz and/or data_2d_*.npz)"
    )


def _videopose3d_pair(folder: Path) -> tuple[Path | None, Path | None]:
    files3 = sorted(folder.glob("data_3d_*.npz"))
    files2 = sorted(folder.glob("data_2d_*.npz"))
    if len(files3) > 1 or len(files2) > 1 or not (files3 or files2):
        raise ValueError(
            f"{folder}: expected at most one data_3d_*.npz and one data_2d_*.npz, found "
            f"{[f.name for f in files3 + files2]}; pass the files to read"
        )
    return (files3[0] if files3 else None), (files2[0] if files2 else None)


# ----------------------------------------------------------------------------------- readers


def _read_posesynth(path: Path, **kw: Any) -> PoseDataset:
    from posesynth.data.formats.store_io import read_store

    # read_any validates every reader's result once; the store's own check would be a second pass
    return read_store(path, validate=False, **kw)


def _read_mmpose(path: Path, **kw: Any) -> PoseDataset:
    from posesynth.data.formats.mmpose import read_mmpose

    if path.is_dir():
        npz = [f for f in sorted(path.glob("*.npz")) if _npz_kind(_npz_keys(f)) == "mmpose"]
        if len(npz) != 1:
            raise ValueError(f"{path}: expected one MMPose .npz in the folder, found {len(npz)}")
        kw.setdefault("cameras_path", path / "cameras.pkl")
        path = npz[0]
    elif "cameras_path" not in kw and (path.parent / "cameras.pkl").is_file():
        kw["cameras_path"] = path.parent / "cameras.pkl"
    return read_mmpose(path, **kw)


def _videopose3d_paths(path: Path) -> tuple[Path | None, Path | None]:
    """The 3D and 2D files :func:`read_any` reads for ``path`` (a folder, or either file)."""
    if path.is_dir():
        return _videopose3d_pair(path)
    if "positions_3d" in _npz_keys(path):
        return path, _videopose3d_twin_2d(path)
    return _videopose3d_twin_3d(path), path


def _read_videopose3d(path: Path, **kw: Any) -> PoseDataset:
    from posesynth.data.formats.videopose3d import read_videopose3d

    path_3d, path_2d = _videopose3d_paths(path)
    kw.setdefault("path_3d", path_3d)
    kw.setdefault("path_2d", path_2d)
    return read_videopose3d(**kw)  # finds cameras_<name>.json beside the files itself


def _videopose3d_twin_2d(path_3d: Path) -> Path | None:
    """``data_2d_X.npz`` or the only ``data_2d_X_*.npz`` beside ``data_3d_X.npz``, if any."""
    if not path_3d.name.startswith("data_3d_"):
        return None
    stem = path_3d.name[len("data_3d_") : -len(".npz")]
    exact = path_3d.with_name(f"data_2d_{stem}.npz")
    if exact.is_file():
        return exact
    found = sorted(path_3d.parent.glob(f"data_2d_{stem}_*.npz"))
    return found[0] if len(found) == 1 else None


def _videopose3d_twin_3d(path_2d: Path) -> Path | None:
    """``data_3d_X.npz`` beside ``data_2d_X[_source].npz`` (the longest such ``X``), if any."""
    if not path_2d.name.startswith("data_2d_"):
        return None
    parts = path_2d.name[len("data_2d_") : -len(".npz")].split("_")
    for k in range(len(parts), 0, -1):
        twin = path_2d.with_name(f"data_3d_{'_'.join(parts[:k])}.npz")
        if twin.is_file():
            return twin
    return None


def _read_seed_h5(path: Path, **kw: Any) -> PoseDataset:
    from posesynth.data.formats.seed_h5 import read_seed_h5

    return read_seed_h5(path, **kw)


def _read_h36m_cdf(path: Path, **kw: Any) -> PoseDataset:
    from posesynth.data.formats.h36m_raw import read_h36m_cdf

    return read_h36m_cdf(path, **kw)


def _read_trc(path: Path, **kw: Any) -> PoseDataset:
    from posesynth.data.dataset import concat_datasets
    from posesynth.data.formats.trc import read_trc

    files = sorted(path.glob("*.trc")) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"{path}: a folder without .trc files")
    parts = []
    for f in files:
        opts = dict(kw)
        if "skeleton" not in opts and _trc_marker_count(f) == 17:
            opts["skeleton"] = "h36m17"  # a file of 17 markers reads back as 17 joints
        part = read_trc(f, **opts)
        if len(files) > 1:  # one file per sequence: its stem is "<subject>_<action>"
            subject, _, action = f.stem.partition("_")
            part = _with_ids(part, subject, action or None)
        parts.append(part)
    if len(parts) == 1:
        return parts[0]
    if any(p.visibility is not None for p in parts):
        parts = [_seen_everywhere(p) for p in parts]
    return concat_datasets(parts)


def _seen_everywhere(part: PoseDataset) -> PoseDataset:
    """``part`` with an all-ones visibility where it has none: a TRC file without missing
    markers joined to files with some (its markers are all there)."""
    if part.visibility is not None:
        return part
    from dataclasses import replace

    return replace(part, visibility=np.ones((len(part), part.skeleton.num_joints)))


def _trc_marker_count(path: Path) -> int | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = [fh.readline() for _ in range(3)]
        fields = dict(zip(lines[1].rstrip("\r\n").split("\t"), lines[2].rstrip("\r\n").split("\t")))
        return int(fields["NumMarkers"])
    except (OSError, KeyError, ValueError, IndexError):
        return None  # read_trc reports what is wrong


def _with_ids(part: PoseDataset, subject: str, action: str | None) -> PoseDataset:
    from dataclasses import replace

    n = len(part)
    return replace(part, subject=np.full(n, subject), action=None if action is None else np.full(n, action))


#: Format name -> reader ``(path, **options) -> PoseDataset``. The one table of readers.
READERS: dict[str, Callable[..., PoseDataset]] = {
    "posesynth": _read_posesynth,
    "mmpose": _read_mmpose,
    "videopose3d": _read_videopose3d,
    "seed_h5": _read_seed_h5,
    "h36m_cdf": _read_h36m_cdf,
    "trc": _read_trc,
}
READ_FORMATS = tuple(READERS)


def read_any(path: Path | str, format: str | None = None, **kw: Any) -> PoseDataset:
    """Read ``path`` in whatever format it holds (or ``format``) as a :class:`PoseDataset`.

    ``kw`` goes to the format's reader (e.g. ``cameras_path`` for MMPose, ``mat_path`` for
    the seed's ``.h5``, ``skeleton`` for TRC). MMPose: a ``cameras.pkl`` beside the ``.npz``
    is used unless ``cameras_path`` is given. VideoPose3D: ``data_3d_X.npz`` is paired with
    the ``data_2d_X.npz`` or the only ``data_2d_X_<source>.npz`` beside it, and a 2D file
    with the ``data_3d_X.npz`` whose ``X`` starts its name (``path_3d`` / ``path_2d``
    override).

    Raises:
        ValueError: the format is unknown or the file is damaged; one line naming the path.
    """
    from posesynth.data.validate import check_regular_file, validate_dataset

    p = Path(path)
    if p.exists() and not p.is_dir():
        check_regular_file(p)  # a FIFO or device would hang the reader
    fmt = detect_format(p) if format is None else format
    reader = READERS.get(fmt)
    if reader is None:
        raise ValueError(f"format: expected one of {list(READERS)}, got {fmt!r}")
    try:
        # one validator for every format: finite values, documented bounds
        return validate_dataset(reader(p, **kw), p)
    except ModuleNotFoundError as exc:
        raise ValueError(f"{p}: reading {fmt} needs the module {exc.name!r}, which is not available") from exc
    except _CORRUPT_FILE_ERRORS as exc:
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise ValueError(f"{p}: cannot read as {fmt} ({what}); the file may be damaged") from exc


# ----------------------------------------------------------------------------------- writers


def _write_posesynth(dataset: PoseDataset, out: Path, *, overwrite: bool = False, **kw: Any) -> Any:
    from posesynth.data.formats.store_io import write_store_dataset

    return write_store_dataset(dataset, out, overwrite=overwrite, **kw)


def _write_mmpose(dataset: PoseDataset, out: Path, *, overwrite: bool = False, **kw: Any) -> Any:
    from posesynth.data.formats.mmpose import write_mmpose

    return write_mmpose(dataset, out, overwrite=overwrite, **kw)


def _write_videopose3d(dataset: PoseDataset, out: Path, *, overwrite: bool = False, **kw: Any) -> Any:
    from posesynth.data.formats.videopose3d import write_videopose3d

    return write_videopose3d(dataset, out, overwrite=overwrite, **kw)


def _write_trc(dataset: PoseDataset, out: Path, *, overwrite: bool = False, **kw: Any) -> Any:
    from posesynth.data.formats.trc import write_trc_sequences

    return write_trc_sequences(dataset, out, overwrite=overwrite, **kw)


def _write_calib_toml(dataset: PoseDataset, out: Path, *, overwrite: bool = False, **kw: Any) -> Any:
    from posesynth.data.formats.calib_toml import write_dataset_calib

    return write_dataset_calib(dataset, out, overwrite=overwrite, **kw)


#: Format name -> writer ``(dataset, out, *, overwrite, **options)``. The one table of writers.
#: ``out`` is the store folder (posesynth) or the folder to hold the files (MMPose: the
#: ``.npz`` and ``cameras.pkl``; VideoPose3D: ``data_3d_*.npz``, ``data_2d_*.npz`` and
#: ``cameras_*.json``; TRC: one ``.trc`` per sequence; calib_toml: ``Calib.toml``, or the
#: ``.toml`` file itself when ``out`` ends in ``.toml``).
WRITERS: dict[str, Callable[..., Any]] = {
    "posesynth": _write_posesynth,
    "mmpose": _write_mmpose,
    "videopose3d": _write_videopose3d,
    "trc": _write_trc,
    "calib_toml": _write_calib_toml,
}
WRITE_FORMATS = tuple(WRITERS)


def written_ids(to: str, out: Path | str) -> Callable[[PoseDataset], PoseDataset]:
    """A function giving a data set (or a chunk of one) with its ids as the ``to`` writer
    wrote them into ``out`` and :func:`read_any` reads them back: what ``convert``'s
    round-trip check compares the output with (``as_written`` of
    :func:`posesynth.data.roundtrip.check_written`).

    TRC's files are named ``<subject>_<action>.trc`` with characters outside
    ``[A-Za-z0-9_.-]`` made ``-`` and read back from the stem
    (:func:`posesynth.data.formats.trc.ids_as_read_back`; one file or several, as ``out``
    holds). VideoPose3D names a subject-less rig ``<name>_000000``..., writes a frame as its
    index within its sequence, names cameras ``<subject>/<id>`` and projects the views a
    subject's camera lacks: :class:`VideoPose3DWritten` (a
    :class:`~posesynth.data.roundtrip.SurveyedIds`; ``<name>`` from the files in ``out``).
    MMPose's image names keep only safe characters and read a camera back as
    ``<subject>/<camera id>`` (:func:`posesynth.data.formats.mmpose.ids_as_written`).
    Every other format keeps the ids: the function returns its argument.
    """
    if to == "videopose3d":
        return VideoPose3DWritten(_vp3d_written_name(Path(out)))
    if to == "mmpose":
        from posesynth.data.formats.mmpose import ids_as_written

        return ids_as_written
    if to != "trc":
        return lambda dataset: dataset
    from dataclasses import replace

    from posesynth.data.formats.trc import ids_as_read_back

    out = Path(out)
    several = out.is_dir() and sum(1 for _ in out.glob("*.trc")) > 1

    def as_written(dataset: PoseDataset) -> PoseDataset:
        subject, action = ids_as_read_back(dataset.subject, dataset.action, len(dataset), several=several)
        if subject is None:
            return dataset
        return replace(dataset, subject=subject, action=action if action is not None else dataset.action)

    return as_written


def _vp3d_written_name(out: Path) -> str:
    """The ``<name>`` of the VideoPose3D files in ``out`` (``cameras_<name>.json``, else
    ``data_3d_<name>.npz``); ``custom``, the writer's default, when there is no one such file."""
    if out.is_dir():
        for pattern, prefix in (("cameras_*.json", "cameras_"), ("data_3d_*.npz", "data_3d_")):
            found = sorted(out.glob(pattern))
            if len(found) == 1:
                return found[0].stem[len(prefix) :]
    return "custom"


class VideoPose3DWritten:
    """A data set's ids as the VideoPose3D writer writes them into ``cameras_<name>.json``'s
    folder, for ``convert``'s check (:func:`written_ids`):

    - ``subject``: the given ids, else (as the writer) the *rig*, the set of cameras that see
      a pose, named ``<name>_000000``, ... by first appearance
      (:func:`~posesynth.data.formats.videopose3d.rig_ranks`);
    - ``frame``: its index among the distinct frame ids of its sequence, sorted (100, 105,
      110 -> 0, 1, 2); a sequence is ``(subject, action)`` as written, the action as the
      writer takes it (``action``, else the generated activity, else ``custom``);
    - camera names: ``<subject>/<id>``, the id the name's last part (``cam<k>`` for cameras
      without a table, ``k`` the camera's first appearance), or VideoPose3D's own id of a
      calibrated Human3.6M camera when every camera of the subject is one.

    A rig, and a sequence's frames, need every sample: :meth:`survey` of all the chunks first
    (the streamed check) keeps what is needed (each sequence's sorted frame ids, 8 bytes a
    distinct frame; without subject ids each sample's rig, 8 bytes a sample), and the chunks
    are then mapped in the surveyed order, each once. Called on a data set it never surveyed,
    it maps that data set as a whole (in memory). Also says the format projects the views a
    camera lacks (``projected_views``)."""

    projected_views = True

    def __init__(self, name: str = "custom") -> None:
        self.name = name
        self._survey: _Vp3dSurvey | None = None
        self._at = 0

    def survey(self, chunks: Any) -> None:
        """Note what the mapping needs from the source's chunks (all of them, in order)."""
        self._survey = _survey_vp3d(chunks)
        self._at = 0

    def __call__(self, dataset: PoseDataset) -> PoseDataset:
        if self._survey is None:
            return _vp3d_as_written(dataset, _survey_vp3d([dataset]), 0, self.name)
        out = _vp3d_as_written(dataset, self._survey, self._at, self.name)
        self._at += len(dataset)
        return out


@dataclass
class _Vp3dSurvey:
    """What :class:`VideoPose3DWritten` learnt from every source chunk."""

    #: (subject as written, action) -> sorted distinct frame ids; None: no frame ids
    frames: dict[tuple[str, str], np.ndarray] | None
    #: (N,) each sample's rig rank, and the rig count (no subject ids); else None
    rig: np.ndarray | None = None
    rigs: int = 0
    #: subject -> camera key -> slot in VideoPose3D's Human3.6M camera list (every camera of
    #: the subject a calibrated one)
    slots: dict[str, dict[int, int]] = field(default_factory=dict)
    #: (N,) first-appearance rank of each sample's camera (per-sample cameras with names)
    cam_rank: np.ndarray | None = None


def _vp3d_action(dataset: PoseDataset) -> np.ndarray:
    """(N,) each sample's action as the VideoPose3D writer takes it."""
    if dataset.action is not None:
        return np.asarray(dataset.action).astype(str)
    from posesynth.data.formats.videopose3d import _activity_names

    names = _activity_names(dataset)
    return names if names is not None else np.full(len(dataset), "custom")


def _vp3d_cam_key(dataset: PoseDataset) -> np.ndarray:
    """(N,) uint64 naming each sample's camera the same in every chunk: its index in the
    camera table, else a 64-bit hash of its parameters; without cameras the writer's
    ``extra["camera"]`` (or 0)."""
    n = len(dataset)
    if dataset.cameras is not None:
        if dataset.camera_index is not None:
            return np.asarray(dataset.camera_index).astype(np.uint64)
        from posesynth.data.formats.store_io import _CAMERA_FIELDS
        from posesynth.data.formats.videopose3d import stream_camera_key_hashes

        c = dataset.sample_cameras()
        return stream_camera_key_hashes([{f: np.asarray(getattr(c, f)) for f in _CAMERA_FIELDS.values()}])
    keys = np.asarray(dataset.extra.get("camera", np.zeros(n, np.int64)))
    return keys.astype(np.uint64) if keys.dtype.kind in "iu" and keys.shape == (n,) else np.zeros(n, np.uint64)


def _survey_vp3d(chunks: Any) -> _Vp3dSurvey:
    """One pass over the source's chunks (:class:`VideoPose3DWritten`); the writer's helpers
    are imported where a case needs them."""
    seen: dict[tuple[str, str], list[np.ndarray]] = {}
    slots: dict[str, dict[int, int]] = {}
    # without subject ids, per sample: pose key, camera key, action and frame (for the rigs)
    poses: list[np.ndarray] = []
    cams: list[np.ndarray] = []
    acts: list[np.ndarray] = []
    frames: list[np.ndarray] = []
    act_codes: dict[str, int] = {}
    pose_acts: dict[str, int] = {}
    named_cams: list[np.ndarray] = []  # per-sample cameras with names: their keys
    has_frame = True
    lo = 0
    for chunk in chunks:
        n = len(chunk)
        has_frame = chunk.frame is not None
        key = _vp3d_cam_key(chunk)
        if chunk.cameras is not None and chunk.camera_names is not None and chunk.camera_index is None:
            named_cams.append(key)
        action = _vp3d_action(chunk)
        frame = None if chunk.frame is None else np.asarray(chunk.frame).astype(np.int64)
        if chunk.subject is not None:
            subject = np.asarray(chunk.subject).astype(str)
            if frame is not None:
                for seq, rows in _vp3d_sequences(subject, action):
                    seen.setdefault(seq, []).append(np.unique(frame[rows]))
            if chunk.cameras is not None and chunk.cameras.model.value == "h36m":
                from posesynth.data.formats.videopose3d import h36m_slot_of

                for s in np.unique(subject).tolist():
                    sel = np.flatnonzero(subject == s)
                    ks, first = np.unique(key[sel], return_index=True)
                    at = sel[first] if chunk.camera_index is None else np.asarray(chunk.camera_index)[sel[first]]
                    found = h36m_slot_of(s, chunk.cameras[at])
                    slots.setdefault(s, {}).update(zip(ks.tolist(), found.tolist()))
        else:
            # the writer's pose: (action id or none, frame), augment's (source, variant), or the sample
            if frame is not None:
                pa = np.zeros(n, np.int64) if chunk.action is None else np.asarray(chunk.action).astype(str)
                code = pa if chunk.action is None else np.array([pose_acts.setdefault(a, len(pose_acts)) for a in pa])
                poses.append(np.stack([code.astype(np.int64), frame], axis=1))
            elif "source_index" in chunk.extra and "variant" in chunk.extra:
                src = np.asarray(chunk.extra["source_index"]).astype(np.int64)
                poses.append(np.stack([src, np.asarray(chunk.extra["variant"]).astype(np.int64)], axis=1))
            else:
                poses.append(np.stack([np.arange(lo, lo + n), np.zeros(n, np.int64)], axis=1))
            cams.append(key)
            acts.append(np.array([act_codes.setdefault(a, len(act_codes)) for a in action.tolist()], np.int64))
            if frame is not None:
                frames.append(frame)
        lo += n
    survey = _Vp3dSurvey(frames=None)
    survey.slots = {s: table for s, table in slots.items() if min(table.values(), default=-1) >= 0}
    if named_cams:
        from posesynth.data.formats.videopose3d import _codes

        survey.cam_rank = _codes(np.concatenate(named_cams))
    if poses:
        from posesynth.data.formats.videopose3d import _row_codes, rig_ranks

        pose = _row_codes(np.concatenate(poses))
        del poses
        survey.rig, survey.rigs = rig_ranks(pose, np.concatenate(cams))
        if frames:
            frame_all, act_all = np.concatenate(frames), np.concatenate(acts)
            act_names = np.array(list(act_codes))
            seq = survey.rig * max(len(act_codes), 1) + act_all
            order = np.argsort(seq, kind="stable")
            cuts = np.flatnonzero(np.diff(seq[order])) + 1
            from posesynth.data.formats.videopose3d import rig_names

            for rows in np.split(order, cuts):
                r = int(survey.rig[rows[0]])
                s = str(rig_names("", np.array([r]), survey.rigs)[0])  # "_<rank>": the name's suffix
                seen[(s, str(act_names[act_all[rows[0]]]))] = [np.unique(frame_all[rows])]
    if has_frame and seen:
        survey.frames = {k: np.unique(np.concatenate(parts)) for k, parts in seen.items()}
    return survey


def _vp3d_as_written(dataset: PoseDataset, survey: _Vp3dSurvey, at: int, name: str) -> PoseDataset:
    """``dataset`` (samples ``at ...`` of the surveyed source) with its ids as written."""
    from dataclasses import replace

    n = len(dataset)
    if dataset.subject is not None:
        subject = np.asarray(dataset.subject).astype(str)
        suffix = subject
    elif survey.rig is not None:
        from posesynth.data.formats.videopose3d import rig_names

        if at + n > survey.rig.size:
            raise ValueError(f"dataset: more samples than were surveyed ({survey.rig.size})")
        ranks = survey.rig[at : at + n]
        subject = rig_names(name, ranks, survey.rigs)
        suffix = rig_names("", ranks, survey.rigs)
    else:
        return dataset
    changes: dict[str, Any] = {"subject": subject}
    if dataset.frame is not None and survey.frames is not None:
        frame = np.asarray(dataset.frame).astype(np.int64)
        ranked = np.empty(n, np.int64)
        for seq, rows in _vp3d_sequences(suffix, _vp3d_action(dataset)):
            known = survey.frames.get(seq)
            if known is None:  # not in the survey: ranked alone (the comparison then tells)
                known = np.unique(frame[rows])
            ranked[rows] = np.searchsorted(known, frame[rows])
        changes["frame"] = ranked
    if dataset.cameras is not None and dataset.camera_names is not None:
        names = np.asarray(dataset.camera_names).astype(str)
        if dataset.camera_index is not None:
            index = np.asarray(dataset.camera_index).astype(np.int64)
            tail = np.char.rpartition(names, "/")[:, 2][index]
            cid = np.where(tail == "", np.char.add("cam", index.astype(str)), tail)
        elif survey.cam_rank is not None and at + n <= survey.cam_rank.size:
            cid = np.char.add("cam", survey.cam_rank[at : at + n].astype(str))
        else:
            cid = np.char.add("cam", np.arange(n).astype(str))
        if survey.slots:
            from posesynth.geometry.camera import H36M_CAMERA_IDS

            key = _vp3d_cam_key(dataset)
            for s, table in survey.slots.items():
                sel = np.flatnonzero(subject == s)
                if sel.size:
                    ids = np.array(H36M_CAMERA_IDS)
                    cid = cid.astype(object)
                    cid[sel] = [ids[table[int(k)]] for k in key[sel].tolist()]
        changes.update(
            cameras=dataset.sample_cameras(),
            camera_index=None,
            camera_names=np.char.add(np.char.add(subject, "/"), np.asarray(cid).astype(str)),
        )
    return replace(dataset, **changes)


def _vp3d_sequences(subject: np.ndarray, action: np.ndarray) -> list[tuple[tuple[str, str], np.ndarray]]:
    """``((subject, action), rows)`` of each sequence of samples with these ids (N,)."""
    n = len(subject)
    subjects, s_code = np.unique(subject, return_inverse=True)
    actions, a_code = np.unique(action, return_inverse=True)
    # two integer codes, never one joined string (NUL separators do not survive numpy strings)
    seq, seq_code = np.unique(s_code.ravel() * actions.size + a_code.ravel(), return_inverse=True)
    order = np.argsort(seq_code.ravel(), kind="stable")
    cuts = np.flatnonzero(np.diff(seq_code.ravel()[order])) + 1
    out = []
    for code, rows in zip(seq.tolist(), np.split(order, cuts) if n else [], strict=True):
        out.append(((str(subjects[code // actions.size]), str(actions[code % actions.size])), rows))
    return out


#: Samples per chunk when a conversion streams (:func:`convert_streamed`).
STREAM_ROWS = 10_000


def iter_store_chunks(path: Path | str, rows: int = STREAM_ROWS, *, name_cameras: bool = True) -> tuple[int, Any]:
    """``(samples, chunks)`` of a posesynth store read ``rows`` samples at a time.

    ``chunks`` is an iterator of :class:`PoseDataset` (each checked like :func:`read_any`'s
    output); with ``name_cameras``, per-sample cameras without names are named
    ``cam<global index>``, so ids stay unique across chunks (what a streamed writer needs;
    without it a chunk equals ``read_any(path).select(...)``). Only one chunk is in memory at
    a time.
    """
    from dataclasses import replace

    from posesynth.data.formats.store_io import dataset_from_store_arrays, is_pose_store
    from posesynth.data.store import open_store
    from posesynth.data.validate import validate_dataset

    store = open_store(path)
    if not is_pose_store(store):
        raise ValueError(f"{store.path}: a posesynth store without joint arrays (it holds {list(store.arrays)})")
    n = store.samples

    def chunks() -> Any:
        for lo in range(0, n, rows):
            data = {name: np.array(store.read(name, lo, lo + rows)) for name in store.array_names}
            part = dataset_from_store_arrays(store.meta, data, store.path)
            if name_cameras and part.cameras is not None and part.camera_index is None and part.camera_names is None:
                part = replace(part, camera_names=np.array([f"cam{lo + k}" for k in range(len(part))]))
            part = replace(part, meta={**part.meta, "source_format": "posesynth", "source_path": str(store.path)})
            del data
            for shard in store.shards:  # shards read to the end: their pages may go
                if shard.stop <= lo + rows:
                    store.release(shard.index)
            yield validate_dataset(part, store.path)

    return n, chunks()


def _mmpose_chunks(path: Path, rows: int) -> tuple[int, Any]:
    from posesynth.data.formats.mmpose import read_mmpose_chunks
    from posesynth.data.validate import validate_dataset

    kw: dict[str, Any] = {}
    if path.is_dir():
        npz = [f for f in sorted(path.glob("*.npz")) if _npz_kind(_npz_keys(f)) == "mmpose"]
        if len(npz) != 1:
            raise ValueError(f"{path}: expected one MMPose .npz in the folder, found {len(npz)}")
        kw["cameras_path"] = path / "cameras.pkl"
        path = npz[0]
    n, chunks = read_mmpose_chunks(path, rows, **kw)
    return n, (validate_dataset(chunk, path) for chunk in chunks)


def _validated(chunk: PoseDataset, where: Path, lo: int) -> PoseDataset:
    """``validate_dataset(chunk, where)`` for samples ``lo ...`` of a source read in chunks:
    a value out of bounds is named by its sample in the whole source, as :func:`read_any`
    names it."""
    import re

    from posesynth.data.validate import OutOfBounds, validate_dataset

    try:
        return validate_dataset(chunk, where)
    except OutOfBounds as exc:
        text = re.sub(r" at sample (\d+)", lambda m: f" at sample {int(m.group(1)) + lo}", str(exc), count=1)
        raise OutOfBounds(text) from None


def _trc_chunks(path: Path, rows: int) -> tuple[int, Any]:
    """``read_any(path, "trc")`` (a ``.trc`` or a folder of them, as :func:`_read_trc` reads
    it) as chunks of ``rows`` samples. The sample count comes from the headers; the first
    ``next()`` surveys every file (:func:`~posesynth.data.formats.trc.survey_trc`: every row
    parsed and checked, one block in memory) and joins their first rows as the in-memory
    reader joins the files, so the errors of the whole source come before the first chunk.
    A chunk may span files (their ids and the first file's ``meta``, as the whole)."""
    from posesynth.data.dataset import concat_datasets
    from posesynth.data.formats.trc import TrcRows, read_trc_blocks, survey_trc

    files = sorted(path.glob("*.trc")) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"{path}: a folder without .trc files")
    several = len(files) > 1
    skeletons = ["h36m17" if _trc_marker_count(f) == 17 else "h36m_extended" for f in files]
    counts = []
    for f, skeleton in zip(files, skeletons, strict=True):
        with TrcRows(f, skeleton) as reader:
            counts.append(len(reader))
    ids: list[tuple[str, str | None]] = []
    for f in files:  # one file per sequence: its stem is "<subject>_<action>"
        subject, _, action = f.stem.partition("_")
        ids.append((subject, action or None))
    # the whole's string widths: numpy joins the files' ids at their widest
    s_width = max(np.asarray(s).dtype.itemsize // 4 for s, _ in ids)
    a_width = max((np.asarray(a).dtype.itemsize // 4 for _, a in ids if a is not None), default=1)
    any_missing = False  # set by the survey: a file with missing markers gives every file a visibility

    def with_ids(part: PoseDataset, i: int) -> PoseDataset:
        if not several:
            return part
        from dataclasses import replace

        if any_missing:
            part = _seen_everywhere(part)
        subject, action = ids[i]
        k = len(part)
        return replace(
            part,
            subject=np.full(k, subject, dtype=f"<U{s_width}"),
            action=None if action is None else np.full(k, action, dtype=f"<U{a_width}"),
        )

    def chunks() -> Any:
        nonlocal any_missing
        surveys = [survey_trc(f, skeleton, rows) for f, skeleton in zip(files, skeletons, strict=True)]
        any_missing = any(s.visibility for s in surveys)
        # one row of each file, joined: the in-memory reader's errors for files that differ
        probes = [with_ids(next(iter(read_trc_blocks(s, [min(1, s.samples)]))), i) for i, s in enumerate(surveys)]
        head = concat_datasets(probes) if several else probes[0]
        meta = head.meta
        del probes, head
        pending: list[PoseDataset] = []
        held = lo = 0
        for i, survey in enumerate(surveys):
            # blocks cut where the whole's chunks are cut
            for block in read_trc_blocks(survey, _cut(survey.samples, rows, held)):
                pending.append(with_ids(block, i))
                held += len(block)
                if held == rows:
                    yield _joined(pending, meta, path, lo)
                    lo += held
                    pending, held = [], 0
        if pending:
            yield _joined(pending, meta, path, lo)

    return sum(counts), chunks()


def _cut(samples: int, rows: int, held: int) -> list[int]:
    """Block sizes of a file of ``samples`` rows that follows ``held`` samples of a chunk of
    ``rows``: the chunk's rest, then whole chunks, then what is left."""
    sizes = []
    done = 0
    room = rows - held
    while done < samples:
        k = min(room, samples - done)
        sizes.append(k)
        done += k
        room = rows
    return sizes


def _joined(parts: list[PoseDataset], meta: Mapping[str, Any], where: Path, lo: int) -> PoseDataset:
    """One chunk of the pieces ``parts`` (consecutive samples, ``lo ...``), with the whole's
    ``meta``, checked as :func:`read_any` checks the whole."""
    from dataclasses import replace

    from posesynth.data.dataset import concat_datasets

    chunk = concat_datasets(parts, meta=meta) if len(parts) > 1 else replace(parts[0], meta=meta)
    return _validated(chunk, where, lo)


def _seed_h5_chunks(path: Path, rows: int) -> tuple[int, Any]:
    """``read_any(path, "seed_h5")`` (no ``.mat``) as chunks of ``rows`` samples
    (:func:`~posesynth.data.formats.seed_h5.read_seed_h5_chunks`: the file surveyed on the
    first ``next()``), each checked as :func:`read_any` checks the whole."""
    from posesynth.data.formats.seed_h5 import read_seed_h5_chunks

    n, chunks = read_seed_h5_chunks(path, rows)

    def checked() -> Any:
        lo = 0
        for chunk in chunks:
            yield _validated(chunk, path, lo)
            lo += len(chunk)

    return n, checked()


def _videopose3d_chunks(path: Path, rows: int) -> tuple[int, Any]:
    """``read_any(path, "videopose3d")`` as chunks of ``rows`` samples, slices of the whole:
    the files are surveyed first, a subject at a time (every check and error of the in-memory
    reader, :func:`~posesynth.data.formats.videopose3d_read.survey_source`), then read again a
    subject at a time (:func:`~posesynth.data.formats.videopose3d_read.source_chunks`). A
    cameras file of more than :data:`STORE_TABLE_MAX` cameras is read an entry at a time and
    the chunks carry one camera per sample (no camera table: the same values).

    Raises:
        posesynth.data.formats.videopose3d_read.GiveUp: the files cannot be read a subject at
            a time (a pickle that refers back to a subject handed on, a member the walk does
            not read, or a 2D file whose subjects come in another order): read them whole.
    """
    from posesynth.data.formats.videopose3d_read import source_chunks, survey_source

    path_3d, path_2d = _videopose3d_paths(path)
    survey = survey_source(path_3d, path_2d, None, table_max=STORE_TABLE_MAX)

    def checked() -> Any:
        lo = 0
        for chunk in source_chunks(survey, rows):
            yield _validated(chunk, path, lo)
            lo += len(chunk)

    return survey.samples, Rereadable(checked)


@dataclass(frozen=True)
class Rereadable:
    """Chunks a caller may read again from the start, each time ``make()``'s: a source
    surveyed once (VideoPose3D: every check of the whole) is not surveyed again for a second
    pass, such as ``convert``'s check. Reading again reads the files again, and the readers
    still refuse a source that changed meanwhile."""

    make: Callable[[], Iterator[PoseDataset]]

    def __iter__(self) -> Iterator[PoseDataset]:
        return self.make()


#: Formats that read back ``rows`` samples at a time (:func:`iter_chunks`); the others are
#: read whole (:func:`read_any`).
CHUNK_READERS: dict[str, Callable[[Path, int], tuple[int, Any]]] = {
    "posesynth": lambda path, rows: iter_store_chunks(path, rows, name_cameras=False),
    "mmpose": _mmpose_chunks,
    "trc": _trc_chunks,
    "seed_h5": lambda path, rows: _seed_h5_chunks(path, rows),
    "videopose3d": _videopose3d_chunks,
}


def iter_chunks(path: Path | str, format: str, rows: int = STREAM_ROWS) -> tuple[int, Any]:
    """``(samples, chunks)``: ``read_any(path, format)`` as consecutive data sets of ``rows``
    samples (the last one shorter), each checked like :func:`read_any`'s output; only one
    chunk is read at a time.

    Formats: :data:`CHUNK_READERS` (posesynth; mmpose, whose ``cameras.pkl`` streams when
    :func:`~posesynth.data.formats.mmpose.write_mmpose_chunks` wrote it, see
    :func:`~posesynth.data.formats.mmpose.read_mmpose_chunks`).

    Raises:
        ValueError: a format that cannot be read in chunks, or what its reader raises.
    """
    reader = CHUNK_READERS.get(format)
    if reader is None:
        raise ValueError(f"format: {format!r} cannot be read in chunks; expected one of {list(CHUNK_READERS)}")
    p = Path(path)

    def damaged(exc: BaseException) -> ValueError:
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return ValueError(f"{p}: cannot read as {format} ({what}); the file may be damaged")

    try:
        n, chunks = reader(p, rows)
    except _CORRUPT_FILE_ERRORS as exc:
        raise damaged(exc) from exc

    def checked(read: Any) -> Any:
        try:
            yield from read
        except _CORRUPT_FILE_ERRORS as exc:
            raise damaged(exc) from exc

    if isinstance(chunks, Rereadable):
        return n, Rereadable(lambda: checked(chunks.make()))
    return n, checked(chunks)


def convert_streamed(
    source: Path | str,
    out: Path | str,
    to: str,
    in_format: str,
    *,
    overwrite: bool = False,
    rows: int | None = None,
    **kw: Any,
) -> Any:
    """Convert ``source`` to ``out`` chunk by chunk when the pair streams, else return None.

    Streams (memory flat in the number of samples, but for the ids some plans hold: tens of
    bytes a sample), for stores of more than ``rows`` samples (default :data:`STREAM_ROWS`;
    smaller ones take the in-memory path):

    - a posesynth store into ``mmpose``
      (:func:`posesynth.data.formats.mmpose.write_mmpose_chunks`). The files equal the
      in-memory ones byte for byte, except ``cameras.pkl``, which holds the same dict
      pickled in batches;
    - a posesynth store into ``trc``, byte for byte the in-memory files: in one pass
      (:func:`posesynth.data.formats.trc.write_trc_chunks`) when every sample is its own pose
      and frames rise within each sequence (:func:`~posesynth.data.formats.trc.plan_trc_sequences`;
      generated data); otherwise row by row (:func:`~posesynth.data.formats.trc.plan_trc_rows`
      from the ids, the kept samples gathered file by file, :func:`~posesynth.data.formats.trc.write_trc_blocks`):
      several samples per row, frames out of order. In memory only when two ``(subject,
      action)`` pairs give one file name or frame ids are not integers;
    - a posesynth store into ``videopose3d``, byte for byte the in-memory files (one writer):
      chunk by chunk (:func:`posesynth.data.formats.videopose3d.write_videopose3d_chunks`)
      when every sample is its own pose seen by its own camera (generated data,
      :func:`_vp3d_streams`); else subject by subject (:func:`_vp3d_plan`,
      :func:`~posesynth.data.formats.videopose3d.write_videopose3d_parts`) when the store has
      cameras and 3D and each subject (or rig) is one run of consecutive samples (memory: a
      part of whole subjects); otherwise in memory;
    - an MMPose ``.npz`` (with its ``cameras.pkl`` and sidecar) into a posesynth store
      (:func:`_mmpose_to_store`): two passes over the chunks, the second written shard by
      shard through :class:`posesynth.data.store.StoreWriter`. With at most
      :data:`STORE_TABLE_MAX` distinct (subject, camera) pairs the store equals
      :func:`write_any`'s byte for byte (a camera table in ``meta``); with more, it holds
      one camera per sample (``camera_*`` arrays and ``camera_name``), the same values;
    - a TRC file or folder, or the seed's ``.h5``, into a posesynth store
      (:func:`_chunks_to_store`), byte for byte :func:`write_any`'s store: the source surveyed
      first (every row parsed and checked, a block at a time,
      :func:`~posesynth.data.formats.trc.survey_trc`; the ``.h5`` in slices), then read in
      chunks that are slices of the in-memory read and written shard by shard;
    - VideoPose3D files (``data_3d_*.npz`` / ``data_2d_*.npz`` or their folder, as VideoPose3D
      or posesynth wrote them) into a posesynth store, the same way and byte for byte: the
      pickles walked a sequence at a time (:mod:`posesynth.data.formats.videopose3d_read`:
      surveyed with every check of :func:`~posesynth.data.formats.videopose3d.read_videopose3d`,
      then read side by side). In memory when the walk gives up (a pickle that refers back to
      a sequence handed on, a damaged or refused member: the in-memory reader names its error)
      or the 2D file holds the 3D file's sequences in another order;
    - a TRC, seed ``.h5`` or VideoPose3D source into ``mmpose``, ``trc`` or ``videopose3d``
      (:func:`_through_store`): streamed into a hidden store beside ``out``, which is then
      streamed into the target as a store is (the cases above); the output equals the
      in-memory one, and the store is removed once the returned conversion is let go of (after
      the check, which may read it). In memory when either step would be.

    Returns a :class:`StreamedConversion`, or None when the caller must read the whole data
    set and use :func:`write_any`.
    """
    rows = STREAM_ROWS if rows is None else rows
    if in_format == "mmpose" and to == "posesynth":
        return _mmpose_to_store(Path(source), Path(out), rows, overwrite=overwrite, **kw)
    if in_format in _WHOLE_CHUNKS and to == "posesynth":
        return _chunks_to_store(Path(source), in_format, Path(out), rows, overwrite=overwrite, **kw)
    if in_format in _WHOLE_CHUNKS and to in ("mmpose", "trc", "videopose3d"):
        return _through_store(Path(source), in_format, Path(out), to, rows, overwrite=overwrite, **kw)
    if in_format != "posesynth" or to not in ("mmpose", "trc", "videopose3d"):
        return None
    from posesynth.data.store import open_store

    store = open_store(source)
    if store.samples <= rows:
        return None
    first: list[PoseDataset] = []

    def remember(it: Any) -> Any:  # keep the first chunk's skeleton and cameras for the summary
        return _Remember(iter(it), first)

    read_back: Callable[[], Any] | None = None
    written: Any
    per_sample_cameras = False
    if to == "mmpose":
        from posesynth.data.formats.mmpose import write_mmpose_chunks

        n, chunks = iter_store_chunks(source, rows)
        written = write_mmpose_chunks(remember(chunks), Path(out), overwrite=overwrite, **kw)
    elif to == "videopose3d":
        from posesynth.data.formats.videopose3d import read_videopose3d_chunks, write_videopose3d_chunks

        if _vp3d_streams(store, rows):  # every sample its own subject: chunk by chunk
            n, chunks = iter_store_chunks(source, rows, name_cameras=False)
            written = write_videopose3d_chunks(remember(chunks), Path(out), n, overwrite=overwrite, **kw)
            read_back = partial(read_videopose3d_chunks, Path(out), kw.get("name", "custom"), rows)
        else:  # subjects in consecutive runs: part by part, each holding whole subjects
            from posesynth.data.formats.videopose3d import write_videopose3d_parts

            vp_plan = _vp3d_plan(store, rows, kw.get("name", "custom"))
            if vp_plan is None:
                return None
            n = store.samples
            per_sample_cameras = vp_plan.cam_key is not None
            # the summary's skeleton and cameras: the store's first sample (a part may hold ids only)
            first.append(next(iter_store_chunks(source, 1, name_cameras=False)[1]))
            written = write_videopose3d_parts(
                _vp3d_parts(Path(source), rows, vp_plan), Path(out), overwrite=overwrite, on_part=vp_plan.record, **kw
            )
            read_back = partial(_vp3d_read_back, Path(out), kw.get("name", "custom"), vp_plan, rows)
    else:
        from posesynth.data.formats.trc import plan_trc_rows, plan_trc_sequences, write_trc_blocks, write_trc_chunks

        names = store.array_names
        augment = "frame" not in names and "source_index" in names and "variant" in names
        # augment's views of one pose fold into one row: planned row by row below
        plan = None if augment else plan_trc_sequences(_store_ids(store, rows))
        if plan is not None:  # every sample a row, in order: one pass, a file per sequence open
            n, chunks = iter_store_chunks(source, rows, name_cameras=False)
            written = write_trc_chunks(remember(chunks), Path(out), plan, overwrite=overwrite, **kw)
            read_back = partial(_trc_read_back, Path(source), Path(out), plan, rows)
        else:  # several samples per row, or rows in another order: each file's rows gathered
            row_plan = plan_trc_rows(_store_ids(store, rows, augment=True))
            if row_plan is None:
                return None
            n = store.samples
            gather = _StoreGather(Path(source))
            if row_plan.folded:  # its pass reads every chunk as iter_store_chunks checks it
                _check_folded(Path(source), row_plan, rows, gather)
            else:
                _check_store(Path(source), rows)
            written = write_trc_blocks(
                _trc_blocks(row_plan, rows, gather, first), Path(out), row_plan.plan, overwrite=overwrite, **kw
            )
            read_back = partial(_trc_rows_read_back, Path(out), row_plan, rows, n)

    head = first[0]
    cams = head.num_cameras if head.camera_index is not None else (n if head.cameras is not None else 0)
    if per_sample_cameras:  # the parts' tables are their own distinct cameras: as read_any counts them
        cams = n
    return StreamedConversion(
        written=written, samples=n, skeleton=head.skeleton, num_cameras=cams, rows=rows, read_back=read_back
    )


#: Sources whose chunks (:func:`iter_chunks`) are slices of the whole as :func:`read_any`
#: gives it: string widths, camera table, ``meta`` and visibility those of the whole (the
#: reader surveys the source first), so a store is written from them shard by shard.
_WHOLE_CHUNKS = ("trc", "seed_h5", "videopose3d")


def _chunks_to_store(
    source: Path, in_format: str, out: Path, rows: int, *, overwrite: bool = False, shard_size: int | None = None
) -> StreamedConversion | None:
    """Stream a source of :data:`_WHOLE_CHUNKS` of more than ``rows`` samples into a
    posesynth store, byte for byte :func:`write_any`'s store of :func:`read_any`'s data set.

    The first chunk is read (the reader's survey: every error of the source) before the
    store is begun; then each chunk's arrays are written in shards of ``shard_size`` samples
    (default the in-memory writer's) through :class:`posesynth.data.store.StoreWriter`.
    Memory: a chunk and a shard. Returns None for ``rows`` samples or fewer (the in-memory path).
    """
    import itertools

    from posesynth.data.formats.store_io import (
        DEFAULT_SHARD_SIZE,
        _dataset_meta,
        dataset_store_arrays,
        pose_store_meta,
    )
    from posesynth.data.formats.videopose3d_read import GiveUp
    from posesynth.data.store import StoreWriter

    try:
        n, chunks = iter_chunks(source, in_format, rows)
    except GiveUp:  # a VideoPose3D pickle the item-by-item walk does not read: in memory
        return None
    if n <= rows:
        return None
    again = chunks.make if isinstance(chunks, Rereadable) else None
    shard_size = DEFAULT_SHARD_SIZE if shard_size is None else shard_size
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(f"shard_size: expected an integer >= 1, got {shard_size!r}")
    chunks = iter(chunks)
    first = next(chunks)
    head = first.select(np.zeros(1, np.int64))  # the summary's skeleton and cameras (a copy)
    per_sample = first.cameras is not None and first.camera_index is None
    if per_sample:  # a VideoPose3D cameras file of more than STORE_TABLE_MAX cameras
        assert first.cameras is not None
        # the whole's distinct cameras are not counted: readers take the sample count (as the
        # MMPose -> store path's per-sample stores)
        meta = pose_store_meta(first.skeleton, first.meta, extra=first.extra, camera_model=first.cameras.model)
    else:
        meta = _dataset_meta(first)
    done = 0
    with StoreWriter(out, meta, overwrite=overwrite) as writer:
        pending: list[dict[str, np.ndarray]] = []
        held = 0
        for chunk in itertools.chain([first], chunks):
            first = None  # not held past its turn
            pending.append(dataset_store_arrays(chunk))
            held += len(chunk)
            done += len(chunk)
            del chunk
            while held >= shard_size:
                shard, pending, held = _take_shard(pending, shard_size)
                writer.write_shard(shard)
        if held:
            writer.write_shard(_take_shard(pending, held)[0])
        if done != n:
            raise ValueError(f"{source}: the headers say {n} samples, read {done}; the source changed while converting")
        path = writer.commit()
    cams = 0 if head.cameras is None else (n if per_sample else head.num_cameras)
    return StreamedConversion(
        written=path, samples=n, skeleton=head.skeleton, num_cameras=cams, rows=rows, source_again=again
    )


def _through_store(
    source: Path, in_format: str, out: Path, to: str, rows: int, *, overwrite: bool = False, **kw: Any
) -> StreamedConversion | None:
    """Stream a source of :data:`_WHOLE_CHUNKS` into ``to`` (``mmpose``, ``trc`` or
    ``videopose3d``) through a store: :func:`_chunks_to_store` writes a hidden store beside
    ``out`` (``.<name>.via-store-<pid>``, byte for byte :func:`write_any`'s store of the
    source), which is then converted as a posesynth store is (:func:`convert_streamed`). The
    store is removed once the returned conversion is let go of (after the check, which may
    read it; also on an error, and at exit). None, with nothing left, when either step takes
    the in-memory path.

    The output equals :func:`write_any` of :func:`read_any`'s data set: the store holds the
    source's samples, ids, cameras and ``meta`` as read, and the writers see only those.
    """
    import os
    import weakref

    from posesynth.util.outputs import remove_path

    staged = out.parent / f".{out.name}.via-store-{os.getpid()}"
    remove_path(staged)
    try:
        via = _chunks_to_store(source, in_format, staged, rows)
        if via is None:
            return None
        inner = convert_streamed(staged, out, to, "posesynth", overwrite=overwrite, rows=rows, **kw)
    except BaseException:
        remove_path(staged)
        raise
    if inner is None:
        remove_path(staged)
        return None
    inner = replace(inner, source_again=via.source_again)  # the check reads the source, not the store
    weakref.finalize(inner, remove_path, staged)
    return inner


#: Most distinct cameras a streamed MMPose -> store conversion keeps as a camera table in the
#: store's ``meta`` (as the in-memory writer does, about 0.6 KB of JSON each); beyond, the
#: store holds one camera per sample (a generated data set exported to MMPose: one per sample).
STORE_TABLE_MAX = 10_000

# extra arrays of read_mmpose, in the order it makes them (the store's bytes follow it)
_MMPOSE_EXTRA_ORDER = ("center", "scale", "visibility_3d", "camera_id")


@dataclass
class _MMPoseSurvey:
    """The first pass over an MMPose file's chunks: what the store's layout needs before
    the first shard (string widths, extra arrays, the camera table or its absence)."""

    samples: int = 0
    widths: dict[str, int] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)
    #: camera name -> (chunk camera batch, index in it); None once over STORE_TABLE_MAX
    cameras: dict[str, tuple[Any, int]] | None = field(default_factory=dict)
    model: Any = None
    skeleton: Any = None
    meta: dict[str, Any] = field(default_factory=dict)


def _survey_mmpose(chunks: Any) -> _MMPoseSurvey:
    survey = _MMPoseSurvey()
    for chunk in chunks:
        if survey.skeleton is None:
            survey.skeleton, survey.meta = chunk.skeleton, dict(chunk.meta)
        survey.samples += len(chunk)
        strings = {"subject": chunk.subject, "action": chunk.action, **chunk.extra}
        if chunk.cameras is not None:
            survey.model = chunk.cameras.model
            strings["camera_name"] = chunk.camera_names
        for name, value in strings.items():
            arr = None if value is None else np.asarray(value)
            if arr is not None and arr.dtype.kind == "U":
                survey.widths[name] = max(survey.widths.get(name, 1), arr.dtype.itemsize // 4)
        survey.extra += [k for k in chunk.extra if k not in survey.extra]
        if chunk.cameras is not None and survey.cameras is not None:
            for j, cam_name in enumerate(np.asarray(chunk.camera_names).tolist()):
                survey.cameras.setdefault(cam_name, (chunk.cameras, j))
            if len(survey.cameras) > STORE_TABLE_MAX:
                survey.cameras = None  # per-sample cameras: nothing more to keep
    order = [k for k in _MMPOSE_EXTRA_ORDER if k in survey.extra]
    survey.extra = order + [k for k in survey.extra if k not in order]
    return survey


def _mmpose_to_store(
    source: Path, out: Path, rows: int, *, overwrite: bool = False, shard_size: int | None = None
) -> StreamedConversion | None:
    """Stream an MMPose data set of more than ``rows`` samples into a posesynth store.

    Pass 1 reads the chunks (:func:`iter_chunks`) for the layout (:class:`_MMPoseSurvey`);
    pass 2 reads them again and writes shards of ``shard_size`` samples (default the
    in-memory writer's). Memory: two chunks, a shard and up to :data:`STORE_TABLE_MAX`
    cameras. Returns None for ``rows`` samples or fewer (the in-memory path).
    """
    from dataclasses import replace

    from posesynth.data.formats.store_io import DEFAULT_SHARD_SIZE, dataset_store_arrays, pose_store_meta
    from posesynth.data.store import StoreWriter
    from posesynth.geometry.camera import concat_cameras

    n, first_pass = iter_chunks(source, "mmpose", rows)
    if n <= rows:
        return None
    shard_size = DEFAULT_SHARD_SIZE if shard_size is None else shard_size
    survey = _survey_mmpose(first_pass)
    table = names = index_of = None
    if survey.cameras is not None and survey.model is not None:
        # read_mmpose's order: sorted by "subject\0camera"
        keys = sorted(survey.cameras, key=lambda k: k.replace("/", "\x00", 1))
        table = concat_cameras([survey.cameras[k][0][[survey.cameras[k][1]]] for k in keys])
        names = np.array(keys)
        index_of = {k: i for i, k in enumerate(keys)}
    survey.cameras = None  # the chunk batches it pointed into may go
    meta = pose_store_meta(
        survey.skeleton, survey.meta, extra=survey.extra,
        camera_model=survey.model, camera_table=table, camera_names=names,
    )  # fmt: skip

    def store_arrays(chunk: PoseDataset) -> dict[str, np.ndarray]:
        extra = dict(chunk.extra)
        if "visibility_3d" in survey.extra and "visibility_3d" not in extra:
            # read_mmpose keeps S's visibility only where it differs from part's somewhere:
            # in a chunk where it does not, it equals the visibility
            extra["visibility_3d"] = np.asarray(chunk.visibility)
        if list(extra) != survey.extra:
            extra = {k: extra[k] for k in survey.extra}  # the first pass's order (KeyError: changed file)
        if chunk.cameras is not None and table is not None:
            assert index_of is not None  # made with the table
            local = np.array([index_of[k] for k in np.asarray(chunk.camera_names).tolist()], dtype=np.int64)
            chunk = replace(chunk, cameras=table, camera_index=local[chunk.camera_index], camera_names=names)
        elif chunk.cameras is not None:
            chunk = replace(
                chunk,
                cameras=chunk.sample_cameras(),
                camera_index=None,
                camera_names=np.asarray(chunk.camera_names)[chunk.camera_index],
            )
        arrays = dataset_store_arrays(replace(chunk, extra=extra))
        for name, width in survey.widths.items():  # one string width for every shard
            if name in arrays:
                arrays[name] = arrays[name].astype(f"<U{width}")
        return arrays

    done = 0
    with StoreWriter(out, meta, overwrite=overwrite) as writer:
        pending: list[dict[str, np.ndarray]] = []
        held = 0
        for chunk in iter_chunks(source, "mmpose", rows)[1]:
            pending.append(store_arrays(chunk))
            held += len(chunk)
            while held >= shard_size:
                shard, pending, held = _take_shard(pending, shard_size)
                writer.write_shard(shard)
            done += len(chunk)
        if held:
            writer.write_shard(_take_shard(pending, held)[0])
        path = writer.commit()
    if done != survey.samples:
        raise ValueError(f"{source}: read {done} samples, then {survey.samples}; the file changed while converting")
    cams = 0 if survey.model is None else (len(names) if names is not None else n)
    return StreamedConversion(written=path, samples=n, skeleton=survey.skeleton, num_cameras=cams, rows=rows)


def _take_shard(
    pending: list[dict[str, np.ndarray]], size: int
) -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]], int]:
    """The first ``size`` samples of the pending chunk arrays, the rest, and its count."""
    shard: dict[str, list[np.ndarray]] = {k: [] for k in pending[0]}
    rest: list[dict[str, np.ndarray]] = []
    need = size
    for part in pending:
        m = len(next(iter(part.values())))
        if need >= m:
            for k, v in part.items():
                shard[k].append(v)
            need -= m
        elif need > 0:
            for k, v in part.items():
                shard[k].append(v[:need])
            rest.append({k: v[need:] for k, v in part.items()})
            need = 0
        else:
            rest.append(part)
    held = sum(len(next(iter(r.values()))) for r in rest)
    return {k: np.concatenate(v) for k, v in shard.items()}, rest, held


def _vp3d_streams(store: Any, rows: int) -> bool:
    """Whether a store can stream into VideoPose3D
    (:func:`~posesynth.data.formats.videopose3d.write_videopose3d_chunks`): no subject, frame
    or augment ids and a camera per sample, no two alike (told by the hashes of their
    parameters, the camera arrays read chunk by chunk; any repeated hash: in memory)."""
    from posesynth.data.formats.store_io import _CAMERA_FIELDS
    from posesynth.data.formats.videopose3d import stream_camera_key_hashes

    names = set(store.array_names)
    if names & {"subject", "frame", "camera_index"} or {"source_index", "variant"} <= names:
        return False
    if not set(_CAMERA_FIELDS) <= names:
        return False  # no cameras (one rig for all) or distortion left out: in memory

    def cameras() -> Any:
        for lo in range(0, store.samples, rows):
            yield {field: np.array(store.read(name, lo, lo + rows)) for name, field in _CAMERA_FIELDS.items()}
            _release_read(store, lo + rows)

    hashes = stream_camera_key_hashes(cameras())
    return bool(np.unique(hashes).size == hashes.size)


@dataclass
class _Vp3dPlan:
    """How a store streams into VideoPose3D subject by subject (:func:`_vp3d_plan`): its
    subjects are consecutive runs of samples. Made from the ids and cameras alone."""

    #: (S + 1,) first sample of each subject run, then the sample count
    starts: np.ndarray
    #: each run's subject: the store's ids (None: rig names ``<prefix>_<rank>``)
    names: np.ndarray | None
    prefix: str
    width: int
    #: (N,) each sample's camera number, by first appearance (per-sample cameras; None: a table)
    cam_key: np.ndarray | None
    #: filled while writing: each sample's index among its subject's samples read back
    out_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    #: filled while writing: each run's samples read back (views projected for it included)
    out_count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    _done: int = 0
    _runs: int = 0

    def subject_names(self, runs: np.ndarray) -> np.ndarray:
        if self.names is not None:
            return self.names[runs]
        return np.char.add(f"{self.prefix}_", np.char.zfill(runs.astype(str), self.width))

    def record(self, out_index: np.ndarray, counts: dict[str, int]) -> None:
        """:func:`~posesynth.data.formats.videopose3d.write_videopose3d_parts`'s ``on_part``."""
        if self.out_index.size == 0:
            self.out_index = np.full(int(self.starts[-1]), -1, np.int64)
            self.out_count = np.zeros(self.starts.size - 1, np.int64)
        m = out_index.size
        self.out_index[self._done : self._done + m] = out_index
        self.out_count[self._runs : self._runs + len(counts)] = list(counts.values())
        self._done += m
        self._runs += len(counts)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """A 64-bit mix of unsigned integers (SplitMix64's finaliser)."""
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)).astype(np.uint64)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _runs_of(keys: np.ndarray) -> np.ndarray:
    """Start of each run of equal consecutive rows of ``keys`` (N,) or (N, K)."""
    if len(keys) == 0:
        return np.zeros(0, np.int64)
    change = keys[1:] != keys[:-1]
    if change.ndim > 1:
        change = change.any(axis=1)
    return np.r_[0, np.flatnonzero(change) + 1].astype(np.int64)


def _vp3d_plan(store: Any, rows: int, name: str) -> _Vp3dPlan | None:
    """Whether (and how) a store streams into VideoPose3D subject by subject: with cameras
    (a table, or one per sample with distortion), and the samples of each subject in one
    run of consecutive samples. The subject is the ``subject`` id, else (as the in-memory
    writer) the rig, the set of cameras of a pose, which then must come in runs of whole
    poses (a pose: ``(action, frame)``, augment's ``(source_index, variant)``, else the
    sample), each rig in one run. Per-sample cameras are numbered by first appearance from
    a 128-bit hash of their parameters. Reads the ids and the cameras chunk by chunk; holds
    about 60 bytes per sample. None: in memory."""
    from posesynth.data.formats.store_io import _CAMERA_FIELDS
    from posesynth.data.formats.videopose3d import stream_camera_key_hashes

    names = set(store.array_names)
    n = store.samples
    table = "camera_index" in names
    if not table and not set(_CAMERA_FIELDS) <= names:
        return None  # no cameras: the reader of the streamed check needs the cameras file
    if "joints_3d_world" not in names and "joints_3d_camera" not in names:
        return None  # 2D alone: no 3D file (the in-memory writer writes the 2D file alone)

    def read(key: str) -> Any:
        for lo in range(0, n, rows):
            yield np.array(store.read(key, lo, lo + rows))
            _release_read(store, lo + rows)

    cam_key = None
    if table:
        keys = np.concatenate(list(read("camera_index"))).astype(np.int64)
    else:

        def cameras() -> Any:
            for lo in range(0, n, rows):
                yield {f: np.array(store.read(k, lo, lo + rows)) for k, f in _CAMERA_FIELDS.items()}
                _release_read(store, lo + rows)

        h1 = stream_camera_key_hashes(cameras())
        pair = np.stack([h1, _splitmix(h1 ^ np.uint64(0x5851F42D4C957F2D))], axis=1)  # 128 bits
        del h1
        _, first, inverse = np.unique(pair, axis=0, return_index=True, return_inverse=True)
        del pair
        rank = np.empty(first.size, np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(first.size)
        keys = cam_key = rank[inverse.ravel()]
        del first, inverse, rank
    if "subject" in names:
        subject = np.concatenate(list(read("subject"))).astype(str)
        starts = _runs_of(subject)
        run_names = subject[starts]
        del subject
        if np.unique(run_names).size != run_names.size:
            return None  # a subject in two runs: in memory
        return _Vp3dPlan(np.r_[starts, n], run_names, name, 0, cam_key)
    # rigs: the cameras of each pose
    if "frame" in names:
        frame = np.concatenate(list(read("frame"))).astype(np.int64)
        if "action" in names:
            action = np.concatenate(list(read("action"))).astype(str)
            act = np.unique(action, return_inverse=True)[1].ravel().astype(np.int64)
            del action
        else:
            act = np.zeros(n, np.int64)
        pose_key = np.stack([act, frame], axis=1)
    elif {"source_index", "variant"} <= names:
        src = np.concatenate(list(read("source_index"))).astype(np.int64)
        var = np.concatenate(list(read("variant"))).astype(np.int64)
        pose_key = np.stack([src, var], axis=1)
    else:
        pose_key = np.arange(n, dtype=np.int64)[:, None]
    pose_starts = _runs_of(pose_key)
    if np.unique(pose_key[pose_starts], axis=0).shape[0] != pose_starts.size:
        return None  # a pose in two runs: its rig is not known where it starts
    del pose_key
    # a rig's hash: the sum of its distinct cameras' mixed numbers (order-free)
    pose_of = np.repeat(np.arange(pose_starts.size), np.diff(np.r_[pose_starts, n]))
    pairs = np.unique(np.stack([pose_of, keys], axis=1), axis=0)  # distinct (pose, camera)
    with np.errstate(over="ignore"):
        mixed = _splitmix(pairs[:, 1].astype(np.uint64))
        rig = np.zeros(pose_starts.size, np.uint64)
        np.add.at(rig, pairs[:, 0], mixed)
    del pairs, mixed, pose_of
    rig_starts = _runs_of(rig)  # runs of poses
    if np.unique(rig[rig_starts]).size != rig_starts.size:
        return None  # a rig in two runs: one subject in two places
    starts = pose_starts[rig_starts]
    width = max(6, len(str(max(starts.size - 1, 0))))
    return _Vp3dPlan(np.r_[starts, n], None, name, width, cam_key)


def _vp3d_parts(source: Path, rows: int, plan: _Vp3dPlan) -> Any:
    """The store's samples as parts of whole subjects (about ``rows`` samples, more when a
    subject is larger), each prepared as :func:`write_videopose3d_parts` needs: subject names,
    and the cameras as a table named as the in-memory writer names them.

    A part of more than ``2 * rows`` samples (a large subject) is first checked chunk by chunk
    (``rows`` samples read at a time, checked as :func:`iter_store_chunks` checks them) and,
    when the store holds world 3D and 2D, is then a
    :class:`~posesynth.data.formats.videopose3d.PartIds`: its ids and cameras in memory, its
    points read from the store by rows as the writer needs them (memory: the ids and one
    step's rows, however large a subject). Otherwise (a part of small subjects, whose many
    steps would each map the store's files again; points derived from the camera-frame 3D)
    the part's range is read at once (only the arrays the writer reads)."""
    from dataclasses import replace

    from posesynth.data.formats.store_io import _CAMERA_FIELDS, dataset_from_store_arrays
    from posesynth.data.store import open_store
    from posesynth.data.validate import validate_dataset

    store = open_store(source)
    # the points read by rows: each file was checked against its checksum by the chunk pass
    # (``store``) before any row of it is gathered, and mapped pages are released at once
    rows_store = open_store(source, checksums=False)
    have = set(store.array_names)
    # what the VideoPose3D writer reads (no angles, visibility, ...): a part holds whole subjects
    needed = {"joints_3d_world", "joints_2d", "subject", "action", "frame", "camera_index", *_CAMERA_FIELDS}
    needed |= {"source_index", "variant", "activity"}
    by_rows = {"joints_3d_world", "joints_2d"} <= have
    if not by_rows:
        needed.add("joints_3d_camera")  # world 3D or 2D derived from it
    names = [a for a in store.array_names if a in needed]
    starts = plan.starts
    done = 0
    total = int(starts[-1])
    while done < total:
        # the first subject start at least rows past done (the end of the data at the latest)
        cut = int(starts[min(int(np.searchsorted(starts, done + rows, side="left")), starts.size - 1)])
        part: Any
        if by_rows and cut - done > 2 * rows:
            for lo in range(done, cut, rows):  # checked as iter_store_chunks checks, a chunk at a time
                data = _read_range(store, names, lo, min(lo + rows, cut))
                chunk = dataset_from_store_arrays(store.meta, data, store.path)
                validate_dataset(chunk, store.path)
                del chunk, data
            ids = _read_range(store, [a for a in names if a not in ("joints_3d_world", "joints_2d")], done, cut)
            if "subject" not in ids:  # the rigs' names, as _vp3d_prepare gives them
                ids["subject"] = plan.subject_names(np.searchsorted(starts, np.arange(done, cut), side="right") - 1)
            part = _part_ids(store, rows_store, ids, done)
            del ids
        else:
            data = _read_range(store, names, done, cut)
            part = dataset_from_store_arrays(store.meta, data, store.path)
            del data
            for lo in range(0, len(part), rows):  # checked as iter_store_chunks checks, a chunk at a time
                validate_dataset(part.select(slice(lo, lo + rows)), store.path)
        part = replace(part, meta={**part.meta, "source_format": "posesynth", "source_path": str(store.path)})
        held = [part]  # handed over whole: this frame keeps no reference while the part is written
        del part
        yield _vp3d_prepare(held.pop(), done, plan)
        done = cut


def _part_ids(store: Any, rows_store: Any, ids: dict[str, np.ndarray], lo: int) -> Any:
    """The :class:`~posesynth.data.formats.videopose3d.PartIds` of the store's samples
    ``lo ...`` whose id (``subject`` included) and camera arrays are ``ids``: as
    :func:`dataset_from_store_arrays` makes them, the world 3D and 2D read from
    ``rows_store`` by rows."""
    from posesynth.data.formats.store_io import _STRUCTURAL_META, RESERVED_ARRAYS, _read_cameras, _read_skeleton
    from posesynth.data.formats.videopose3d import PartIds

    cameras, camera_index, camera_names = _read_cameras(store.meta, ids, store.path)
    return PartIds(
        skeleton=_read_skeleton(store.meta, store.path, None),
        subject=ids["subject"],
        world_rows=_store_rows(rows_store, "joints_3d_world", lo),
        uv_rows=_store_rows(rows_store, "joints_2d", lo),
        cameras=cameras,
        camera_index=camera_index,
        camera_names=camera_names,
        action=ids.get("action"),
        frame=ids.get("frame"),
        meta={k: v for k, v in store.meta.items() if k not in _STRUCTURAL_META},
        extra={k: v for k, v in ids.items() if k not in RESERVED_ARRAYS},
    )


def _store_rows(store: Any, name: str, lo: int) -> Callable[[np.ndarray], np.ndarray]:
    """A reader of array ``name``'s samples ``lo + idx`` (any order) as float64: gathered shard
    by shard from the memory maps, which are released at once (only the rows stay)."""

    def read(idx: np.ndarray) -> np.ndarray:
        return _gather_rows(store, name, np.asarray(idx, dtype=np.int64) + lo).astype(np.float64, copy=False)

    return read


def _gather_rows(store: Any, name: str, index: np.ndarray) -> np.ndarray:
    """Array ``name``'s samples ``index`` (int64, any order) in the store's dtype, gathered
    shard by shard from the memory maps; each shard read is released at once."""
    order = np.argsort(index, kind="stable")
    sorted_index = index[order]
    spec = store.arrays[name]
    out = np.empty((index.size, *spec.trailing), dtype=spec.dtype)
    for shard in store.shards:
        a, b = np.searchsorted(sorted_index, [shard.start, shard.stop])
        if a < b:
            out[order[a:b]] = store.read(name, shard.start, shard.stop)[sorted_index[a:b] - shard.start]
            store.release(shard.index)
    return out


def _read_range(store: Any, names: list[str], lo: int, hi: int) -> dict[str, np.ndarray]:
    """Samples ``[lo, hi)`` of the store's arrays ``names``, copied shard by shard into one
    array each (no second copy of a range that spans shards); the shards read to their end are
    released at once, so their mapped pages leave the resident memory."""
    out = {name: np.empty((hi - lo, *store.arrays[name].trailing), store.arrays[name].dtype) for name in names}
    for shard in store.shards:
        a, b = max(lo, shard.start), min(hi, shard.stop)
        if a >= b:
            continue
        for name in names:
            out[name][a - lo : b - lo] = store.read(name, a, b)
        if shard.stop <= hi:
            store.release(shard.index)
    return out


def _vp3d_prepare(part: PoseDataset, lo: int, plan: _Vp3dPlan) -> PoseDataset:
    """Samples ``lo ...`` of whole subjects with their subject names and, for per-sample
    cameras, the part's distinct cameras as a table named ``cam<k>`` (``k`` the camera's
    first-appearance number in the whole store, as the in-memory writer names it)."""
    from dataclasses import replace

    m = len(part)
    idx = np.arange(lo, lo + m)
    runs = np.searchsorted(plan.starts, idx, side="right") - 1
    if plan.names is None:
        part = replace(part, subject=plan.subject_names(runs))
    if plan.cam_key is not None and part.cameras is not None:
        keys = plan.cam_key[lo : lo + m]
        distinct, first, local = np.unique(keys, return_index=True, return_inverse=True)
        part = replace(
            part,
            cameras=part.sample_cameras()[first],
            camera_index=local.ravel().astype(np.int64),
            camera_names=np.char.add("cam", distinct.astype(str)),
        )
    return part


#: Bytes of finished subjects :func:`_vp3d_read_back` holds before making them into samples
#: (small subjects are made together; a large one is made before the next is read).
_READ_BACK_HELD = 8 << 20


def _vp3d_read_back(out: Path, name: str, plan: _Vp3dPlan, rows: int) -> Any:
    """The VideoPose3D files written part by part, read back in the store's chunks and
    order: each sample gets its own view of its pose (``plan.out_index`` into its subject's
    samples, :func:`~posesynth.data.formats.videopose3d.read_videopose3d_subjects`), so the
    pairs line up; the views the writer projected for no sample follow as one last chunk
    (checked as projected views, as the in-memory check checks them)."""
    from posesynth.data.dataset import concat_datasets
    from posesynth.data.formats.videopose3d import picked_dataset, read_videopose3d_subjects

    subjects = read_videopose3d_subjects(out, name)
    n = int(plan.starts[-1])
    extras: list[PoseDataset] = []
    held: dict[int, tuple[Any, np.ndarray]] = {}  # run -> (its subject as stored, used)
    next_run = 0
    for lo in range(0, n, rows):
        hi = min(lo + rows, n)
        runs = np.searchsorted(plan.starts, np.arange(lo, hi), side="right") - 1
        made: list[PoseDataset] = []
        parts: list[tuple[Any, np.ndarray]] = []  # (a subject, its samples here), made together
        size = 0  # bytes of the subjects only ``parts`` still holds
        for r in range(int(runs[0]), int(runs[-1]) + 1):
            while next_run <= r:
                if parts and size >= _READ_BACK_HELD:  # made now: finished subjects go before the next is read
                    made.append(picked_dataset(parts))
                    parts, size = [], 0
                views = next(subjects, None)
                if views is None or len(views) != plan.out_count[next_run]:
                    raise ValueError(f"{out}: subject {next_run} has other samples than were written")
                held[next_run] = (views, np.zeros(len(views), bool))
                next_run += 1
            views, used = held[r]
            pick = plan.out_index[max(lo, int(plan.starts[r])) : min(hi, int(plan.starts[r + 1]))]
            used[pick] = True
            parts.append((views, pick))
            if int(plan.starts[r + 1]) <= hi:  # its last sample: freed once its part is made
                del held[r]
                size += views.nbytes
                if not used.all():
                    extras.append(views.dataset(np.flatnonzero(~used)).complete())
            del views, used
        if parts:
            made.append(picked_dataset(parts))
        yield (made[0] if len(made) == 1 else concat_datasets(made)).complete()
        del parts, made
    if next(subjects, None) is not None:
        raise ValueError(f"{out}: more subjects than were written")
    if extras:
        yield concat_datasets(extras)


def _store_ids(store: Any, rows: int, *, augment: bool = False) -> Any:
    """``(n, subject, action, frame)`` of a store's consecutive ``rows``-sample chunks (an id
    the store lacks is None), and with ``augment`` ``source_index`` and ``variant`` after
    them; only these arrays are read."""
    names = store.array_names
    keys = ("subject", "action", "frame") + (("source_index", "variant") if augment else ())
    for lo in range(0, store.samples, rows):
        ids = [np.array(store.read(k, lo, lo + rows)) if k in names else None for k in keys]
        _release_read(store, lo + rows)
        yield (min(rows, store.samples - lo), *ids)


class _StoreGather:
    """Samples of a store by index, in any order (:meth:`take`), as :func:`iter_store_chunks`
    gives them (checked, ``meta`` naming the source). Each shard file is checked against its
    checksum once (:meth:`Store.verify`, before the first gather), then read through memory
    maps that are released after every gather, so resident memory stays that of one block."""

    def __init__(self, path: Path) -> None:
        from posesynth.data.store import open_store

        self.path = path
        self.store = open_store(path, checksums=False)
        self._verified = False

    def take(self, index: np.ndarray, arrays: Any = None) -> PoseDataset:
        from dataclasses import replace

        from posesynth.data.formats.store_io import dataset_from_store_arrays
        from posesynth.data.store import open_store
        from posesynth.data.validate import validate_dataset

        if not self._verified:
            open_store(self.path).verify()
            self._verified = True
        store = self.store
        index = np.asarray(index, dtype=np.int64)
        names = store.array_names if arrays is None else [a for a in store.array_names if a in arrays]
        data = {name: _gather_rows(store, name, index) for name in names}
        part = dataset_from_store_arrays(store.meta, data, store.path)
        part = replace(part, meta={**part.meta, "source_format": "posesynth", "source_path": str(store.path)})
        return validate_dataset(part, store.path)


def _trc_arrays(store: Any) -> set[str] | None:
    """The store arrays a TRC row needs: world 3D, frame and time (None: all of them, when
    the world 3D must be derived from camera-frame 3D and the cameras)."""
    if "joints_3d_world" not in store.array_names:
        return None
    return {"joints_3d_world", "frame", "time"}


def _trc_blocks(row_plan: Any, rows: int, gather: _StoreGather, first: list[PoseDataset]) -> Any:
    """``(file stem, rows)`` of a :class:`~posesynth.data.formats.trc.TrcRowPlan`, file by
    file, ``rows`` rows at a time: the kept samples gathered from the store."""
    for s, name in enumerate(row_plan.names):
        for lo in range(int(row_plan.bounds[s]), int(row_plan.bounds[s + 1]), rows):
            hi = min(lo + rows, int(row_plan.bounds[s + 1]))
            block = gather.take(row_plan.kept[lo:hi], _trc_arrays(gather.store))
            if not first:  # the summary's skeleton and cameras: one whole sample
                first.append(gather.take(np.zeros(1, np.int64)))
            yield name, block


def _check_store(source: Path, rows: int) -> None:
    """Every chunk of the store checked as :func:`iter_store_chunks` checks it (shapes,
    finite values and bounds of every array, 2D and cameras included), before a writer that
    gathers only some arrays (TRC rows: world 3D, frame, time) writes anything: bad input
    gives one ``ValueError`` naming the store and the field, whether or not the output is
    checked afterwards. One pass, one chunk in memory."""
    for _ in iter_store_chunks(source, rows, name_cameras=False)[1]:
        pass


def _check_folded(source: Path, row_plan: Any, rows: int, gather: _StoreGather) -> None:
    """What the in-memory TRC writer checks before writing one row for several samples: each
    sample's world 3D equals its pose's first sample's (to 1e-9 m; NaN where it is NaN).
    Chunk by chunk, the first samples gathered; ``ValueError`` as the in-memory writer's."""
    _, chunks = iter_store_chunks(source, rows, name_cameras=False)
    lo = 0
    for chunk in chunks:
        m = len(chunk)
        world = chunk.complete().joints_3d_world
        kept = row_plan.kept[row_plan.row_of[lo : lo + m]]
        other = np.flatnonzero(kept != np.arange(lo, lo + m))
        if other.size and world is not None:
            ref = gather.take(kept[other], _trc_arrays(gather.store)).complete().joints_3d_world
            assert ref is not None  # the same store: world 3D as the chunk
            same = np.isclose(world[other], ref, rtol=0.0, atol=1e-9, equal_nan=True).all(axis=(1, 2))
            if not same.all():
                bad = int(kept[other][np.argmin(same)])
                seq = row_plan.file_rows(row_plan.row_of[bad : bad + 1])[0][0]
                raise ValueError(
                    f"dataset: sequence {row_plan.names[int(seq)]}: samples of the same frame have different "
                    "world 3D poses; a TRC holds one pose per frame"
                )
        lo += m


def _in_sample_order(parts: list[PoseDataset], order: list[np.ndarray], out: Path) -> PoseDataset:
    """The TRC rows read back for one chunk, file by file (``parts[i]`` holds the samples
    ``order[i]``), as one validated data set in the samples' order; a visibility given by
    some files only is 1 in the others."""
    from dataclasses import replace

    from posesynth.data.dataset import concat_datasets
    from posesynth.data.validate import validate_dataset

    if len(parts) > 1 and any(p.visibility is not None for p in parts):
        parts = [
            p if p.visibility is not None else replace(p, visibility=np.ones(p.joints_3d_world.shape[:2]))  # type: ignore[union-attr]
            for p in parts
        ]
    chunk = parts[0] if len(parts) == 1 else concat_datasets(parts)
    # chunk row k is sample np.concatenate(order)[k]: invert to the samples' order
    return validate_dataset(chunk.select(np.argsort(np.concatenate(order), kind="stable")), out)


def _trc_rows_read_back(out: Path, row_plan: Any, rows: int, n: int) -> Any:
    """The TRC folder written from a :class:`~posesynth.data.formats.trc.TrcRowPlan` read
    back in the source's chunks and order: each sample gets its pose's row
    (:class:`~posesynth.data.formats.trc.TrcLines`, read by row number), so a pose written
    once for several samples is compared with each of them. As :func:`read_any` reads the
    folder (17 markers: ``h36m17``; several files: subject and action from the file stem)."""
    from posesynth.data.formats.trc import TrcLines

    several = len(row_plan.names) > 1
    readers: dict[int, TrcLines] = {}
    for lo in range(0, n, rows):
        seq, local = row_plan.file_rows(row_plan.row_of[lo : lo + rows])
        parts, order = [], []
        for s in dict.fromkeys(seq.tolist()):
            sel = np.flatnonzero(seq == s)
            reader = readers.get(s)
            if reader is None:
                path = out / f"{row_plan.names[s]}.trc"
                skeleton = "h36m17" if _trc_marker_count(path) == 17 else "h36m_extended"
                reader = readers[s] = TrcLines(path, skeleton)
            part = reader.rows(local[sel])
            if several:
                subj, _, act = row_plan.names[s].partition("_")
                part = _with_ids(part, subj, act or None)
            parts.append(part)
            order.append(sel)
        yield _in_sample_order(parts, order, out)


def _release_read(store: Any, upto: int) -> None:
    """Release the shards read to their end (samples before ``upto``): their memory-mapped
    pages leave the resident memory (a million samples' cameras are ~140 MB)."""
    for shard in store.shards:
        if shard.stop <= upto:
            store.release(shard.index)


def _trc_read_back(source: Path, out: Path, plan: Any, rows: int) -> Any:
    """The TRC folder ``out`` written from the store ``source`` read back in the store's
    chunks and order (:func:`iter_chunks`'s of ``source``): each chunk takes the next rows
    of each of its sequences' files (:class:`~posesynth.data.formats.trc.TrcRows`) and puts
    them in the samples' order. Read back as :func:`read_any` reads the folder (17 markers:
    ``h36m17``; several files: subject and action from the file stem)."""
    from posesynth.data.formats.trc import TrcRows, sequence_names
    from posesynth.data.store import open_store

    store = open_store(source)
    several = len(plan.counts) > 1
    readers: dict[str, TrcRows] = {}
    try:
        for n, subject, action, _ in _store_ids(store, rows):
            names = sequence_names(subject, action, n)
            uniq, start, inverse = np.unique(names, return_index=True, return_inverse=True)
            parts, order = [], []
            for u in np.argsort(start, kind="stable"):
                name = str(uniq[u])
                idx = np.flatnonzero(inverse.ravel() == u)
                reader = readers.get(name)
                if reader is None:
                    path = out / f"{name}.trc"
                    skeleton = "h36m17" if _trc_marker_count(path) == 17 else "h36m_extended"
                    reader = readers[name] = TrcRows(path, skeleton)
                part = reader.take(len(idx))
                if several:
                    subj, _, act = name.partition("_")
                    part = _with_ids(part, subj, act or None)
                parts.append(part)
                order.append(idx)
            yield _in_sample_order(parts, order, out)
    finally:
        for reader in readers.values():
            reader.close()


class _Remember:
    """The chunks of ``it`` passed on as they come, the first one's first sample copied into
    ``first`` (the summary's skeleton and cameras). An iterator, not a generator: it keeps no
    reference to a chunk it gave, so a chunk (a part of whole subjects, hundreds of MB) is
    freed by its consumer before the next one is read."""

    def __init__(self, it: Any, first: list[PoseDataset]) -> None:
        self.it, self.first = it, first

    def __iter__(self) -> _Remember:
        return self

    def __next__(self) -> PoseDataset:
        chunk = next(self.it)
        if not self.first:  # a copy: a slice's views would keep the whole first chunk alive
            self.first.append(chunk.select(np.zeros(1, np.int64)))
        return chunk


@dataclass(frozen=True)
class StreamedConversion:
    """What :func:`convert_streamed` wrote: the writer's return value and the data set's
    size, skeleton and camera count (what a summary needs, without the arrays)."""

    written: Any
    samples: int
    skeleton: Any
    num_cameras: int
    #: samples per chunk it streamed with (the chunk size of a streamed check too)
    rows: int = STREAM_ROWS
    #: the output read back in the source's chunks (:func:`iter_chunks` of the source), for
    #: a streamed check; None: ``iter_chunks(out, to, rows)`` is (MMPose keeps the order)
    read_back: Callable[[], Any] | None = None
    #: the source read again in the same chunks, for a streamed check, without surveying it
    #: again (:class:`Rereadable`); None: ``iter_chunks(source, format, rows)`` is
    source_again: Callable[[], Any] | None = None

    def __len__(self) -> int:
        return self.samples


def write_any(dataset: PoseDataset, out: Path | str, format: str, *, overwrite: bool = False, **kw: Any) -> Any:
    """Write ``dataset`` to ``out`` as ``format`` (one of :data:`WRITE_FORMATS`).

    ``kw`` goes to the writer (e.g. ``name`` for MMPose / VideoPose3D, ``shard_size`` for
    the store). Returns what the writer returns (the store path for ``posesynth``).
    """
    writer = WRITERS.get(format)
    if writer is None:
        raise ValueError(f"format: expected one of {list(WRITERS)} to write, got {format!r}")
    try:
        return writer(dataset, Path(out), overwrite=overwrite, **kw)
    except ModuleNotFoundError as exc:
        raise ValueError(f"{out}: writing {format} needs the module {exc.name!r}, which is not available") from exc
