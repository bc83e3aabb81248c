"""OpenSim / Pose2Sim marker files (``.trc``): read and write.

A TRC file is tab-separated text::

    PathFileType<TAB>4<TAB>(X/Y/Z)<TAB>walk.trc
    DataRate<TAB>CameraRate<TAB>NumFrames<TAB>NumMarkers<TAB>Units<TAB>OrigDataRate<TAB>...
    60<TAB>60<TAB>120<TAB>22<TAB>m<TAB>60<TAB>...
    Frame#<TAB>Time<TAB>RHip<TAB><TAB><TAB>RKnee<TAB><TAB><TAB>...
    <TAB><TAB>X1<TAB>Y1<TAB>Z1<TAB>X2<TAB>Y2<TAB>Z2...
    (optional blank line)
    0<TAB>0.0<TAB>x<TAB>y<TAB>z<TAB>...

An empty cell (or ``NaN``) is a missing marker. ``Units`` is ``m``, ``cm`` or ``mm``.

Axes. OpenSim's ground frame is **Y up** (X forward, Z to the right). Pose2Sim computes in its
calibration's Z-up world and writes TRC files with ``zup2yup``, i.e. ``(X, Y, Z)_trc = (Y, Z,
X)_world`` (and reads them back with ``yup2zup``). posesynth's world is Z up too, so the
reader applies Pose2Sim's ``yup2zup``::

    X_world = Z_trc,   Y_world = X_trc,   Z_world = Y_trc

a cyclic permutation of the axes (a proper rotation, determinant +1, so right-handed frames
stay right-handed: OpenSim's forward X becomes world +Y, its up Y world +Z, its right Z world
+X). The writer applies the inverse. Points read from a Pose2Sim TRC therefore lie in the same
world as the cameras of its ``Calib*.toml`` (:mod:`posesynth.data.formats.calib_toml`).

Markers are mapped to ``h36m_extended`` (or its first 17 joints, ``h36m17``). For each joint
the first rule whose markers all exist in the file is used, for the whole file (names match
case-insensitively). posesynth's own joint name always comes first, so files written by
:func:`write_trc` read back exactly; then Pose2Sim's names (HALPE_26, COCO_133, BODY_25):

- limbs: ``RHip RKnee RAnkle LHip LKnee LAnkle RShoulder RElbow RWrist LShoulder LElbow
  LWrist`` (H36M ``*_foot`` is the ankle);
- feet and face: ``RBigToe RSmallToe RHeel LBigToe LSmallToe LHeel Nose LEye REye LEar REar``;
  hand tips: ``LMiddle4``/``RMiddle4`` (middle fingertip), ``LThumb4``/``RThumb4``;
- ``root`` = hip midpoint ``(RHip + LHip) / 2``, else a ``Hip``/``CHip``/``Pelvis`` marker;
- ``thorax`` = shoulder midpoint, else ``Neck`` (as :mod:`posesynth.body.mappings`; Pose2Sim's
  ``Neck`` keypoint is not used when both shoulders exist);
- ``spine`` = ``(root + thorax) / 2``;
- ``head`` (H36M's head end-site, the head top) = ``Head``, else derived from the face as in
  :mod:`posesynth.body.mappings` (``-0.8 nose + 1.1 eye midpoint + 0.7 ear midpoint``);
- ``neck_base`` = ``0.4 thorax + 0.15 nose + 0.45 ear midpoint`` (as
  :mod:`posesynth.body.mappings`), else the midpoint of ``Neck`` and ``Head`` (HALPE_26 has no
  ears), else undefined.

Joints without a rule stay NaN with visibility 0. A derived joint is missing in a frame if one
of its markers is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posesynth.body.mappings import LayoutMapping, apply_mapping
from posesynth.body.skeleton import H36M17, H36M_EXTENDED, Skeleton
from posesynth.data.dataset import PoseDataset
from posesynth.util.atomic import atomic_path

__all__ = [
    "TRC_TO_WORLD",
    "UNITS_TO_METRES",
    "TrcSurvey",
    "ids_as_read_back",
    "read_trc",
    "read_trc_blocks",
    "survey_trc",
    "trc_marker_name",
    "write_trc",
    "write_trc_sequences",
]

#: ``p_world = TRC_TO_WORLD @ p_trc`` (Pose2Sim's ``yup2zup``); its transpose maps back.
TRC_TO_WORLD = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
TRC_TO_WORLD.setflags(write=False)

#: Metres per file unit for the ``Units`` values accepted (case-insensitive).
UNITS_TO_METRES = {"m": 1.0, "cm": 0.01, "mm": 0.001}

_Rule = dict[str, float]  # marker or joint name (lower case) -> weight

# Pose2Sim's name for the joints that have one marker of their own (writer and reader).
_POSE2SIM_NAMES = {
    "right_hip": "RHip",
    "right_knee": "RKnee",
    "right_foot": "RAnkle",
    "left_hip": "LHip",
    "left_knee": "LKnee",
    "left_foot": "LAnkle",
    "head": "Head",
    "left_shoulder": "LShoulder",
    "left_elbow": "LElbow",
    "left_wrist": "LWrist",
    "right_shoulder": "RShoulder",
    "right_elbow": "RElbow",
    "right_wrist": "RWrist",
    "right_big_toe": "RBigToe",
    "right_small_toe": "RSmallToe",
    "right_heel": "RHeel",
    "left_big_toe": "LBigToe",
    "left_small_toe": "LSmallToe",
    "left_heel": "LHeel",
    "left_hand_tip": "LMiddle4",
    "left_thumb_tip": "LThumb4",
    "right_hand_tip": "RMiddle4",
    "right_thumb_tip": "RThumb4",
    "nose": "Nose",
    "left_eye": "LEye",
    "right_eye": "REye",
    "left_ear": "LEar",
    "right_ear": "REar",
}

_EAR_MID = {"lear": 0.5, "rear": 0.5}
# Derived joints: candidate rules in order of preference. Names in rules are marker names or,
# prefixed with "@", already-resolved joints (root, thorax).
_DERIVED: dict[str, list[_Rule]] = {
    "root": [{"rhip": 0.5, "lhip": 0.5}, {"hip": 1.0}, {"chip": 1.0}, {"pelvis": 1.0}],
    "thorax": [{"rshoulder": 0.5, "lshoulder": 0.5}, {"neck": 1.0}],
    "spine": [{"@root": 0.5, "@thorax": 0.5}],
    "head": [
        {"head": 1.0},
        {"nose": -0.8, "leye": 0.55, "reye": 0.55, "lear": 0.35, "rear": 0.35},
    ],
    "neck_base": [
        {"@thorax": 0.4, "nose": 0.15, **{k: 0.45 * v for k, v in _EAR_MID.items()}},
        {"neck": 0.5, "head": 0.5},
    ],
}
# Joints resolved in this order so "@" references exist when used.
_ORDER = ("root", "thorax") + tuple(n for n in H36M_EXTENDED.joint_names if n not in ("root", "thorax"))


def trc_marker_name(joint: str) -> str:
    """The marker name :func:`write_trc` uses for a posesynth joint: Pose2Sim's where it has
    one (``right_hip`` -> ``RHip``), else the posesynth name (``root``, ``spine``,
    ``thorax``, ``neck_base``)."""
    return _POSE2SIM_NAMES.get(joint, joint)


def _rules_for(joint: str) -> list[_Rule]:
    """Candidate rules for ``joint``: its own name, Pose2Sim's name, then derivations."""
    rules: list[_Rule] = [{joint: 1.0}]
    if joint in _POSE2SIM_NAMES:
        rules.append({_POSE2SIM_NAMES[joint].lower(): 1.0})
    rules += _DERIVED.get(joint, [])
    out: list[_Rule] = []
    for r in rules:
        if r not in out:
            out.append(r)
    return out


def _build_mapping(markers: list[str]) -> tuple[LayoutMapping, dict[str, str]]:
    """Weights ``(32, M)`` from the file's markers to ``h36m_extended``, and the rule used."""
    index = {m.lower(): i for i, m in enumerate(markers)}
    resolved: dict[str, np.ndarray] = {}
    used: dict[str, str] = {}
    for joint in _ORDER:
        for rule in _rules_for(joint):
            names = [k[1:] if k.startswith("@") else k for k in rule]
            ok = all((n in resolved) if k.startswith("@") else (n in index) for k, n in zip(rule, names, strict=True))
            if not ok:
                continue
            row = np.zeros(len(markers))
            for k, w in rule.items():
                if k.startswith("@"):
                    row += w * resolved[k[1:]]
                else:
                    row[index[k]] += w
            resolved[joint] = row
            used[joint] = " + ".join(
                f"{w:g}*{k[1:] if k.startswith('@') else markers[index[k]]}" for k, w in rule.items()
            )
            break
    weights = np.zeros((H36M_EXTENDED.num_joints, len(markers)))
    for j, joint in enumerate(H36M_EXTENDED.joint_names):
        if joint in resolved:
            weights[j] = resolved[joint]
    weights = np.where(np.abs(weights) < 1e-12, 0.0, weights)
    defined = np.any(weights != 0.0, axis=1)
    return (
        LayoutMapping(weights=weights, defined=defined, src="trc", dst="h36m_extended", notes=""),
        used,
    )


def _header_fields(path: Path, lines: list[str]) -> dict[str, str]:
    if len(lines) < 5:
        raise ValueError(f"{path}: truncated TRC header: expected 5 header lines, got {len(lines)}")
    if not lines[0].startswith("PathFileType"):
        raise ValueError(f"{path}: line 1: expected a TRC header starting with 'PathFileType', got {lines[0][:40]!r}")
    keys = lines[1].split("\t")
    values = lines[2].split("\t")
    fields = {k.strip(): v.strip() for k, v in zip(keys, values, strict=False) if k.strip()}
    for key in ("DataRate", "NumFrames", "NumMarkers", "Units"):
        if key not in fields or fields[key] == "":
            raise ValueError(f"{path}: line 2-3: missing header field {key!r}")
    return fields


def _header_int(path: Path, fields: dict[str, str], key: str) -> int:
    try:
        value = float(fields[key])
    except ValueError:
        raise ValueError(f"{path}: header field {key!r}: expected a number, got {fields[key]!r}") from None
    if not value.is_integer() or value < 0:
        raise ValueError(f"{path}: header field {key!r}: expected a count, got {fields[key]!r}")
    return int(value)


def _parse_rows(
    path: Path, rows: list[tuple[int, str]], markers: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(frame (T,) int, time (T,), values (T, M, 3))`` with NaN for missing cells."""
    m = len(markers)
    t = len(rows)
    values = np.full((t, m * 3), np.nan)
    frame = np.zeros(t, dtype=np.int64)
    time = np.zeros(t)
    for r, (lineno, line) in enumerate(rows):
        cells = line.split("\t")
        while len(cells) > 2 + 3 * m and cells[-1].strip() == "":
            cells.pop()
        if len(cells) != 2 + 3 * m:
            raise ValueError(
                f"{path}: line {lineno}: expected {2 + 3 * m} tab-separated cells (Frame#, "
                f"Time, X/Y/Z of {m} markers), got {len(cells)}"
            )
        try:
            f = float(cells[0])
            if not f.is_integer():
                raise ValueError
            frame[r] = int(f)
            time[r] = float(cells[1])
        except (ValueError, OverflowError):  # 1e20 does not fit the int64 frame column
            raise ValueError(
                f"{path}: line {lineno}: expected a frame number and a time, got {cells[0]!r}, {cells[1]!r}"
            ) from None
        for c, cell in enumerate(cells[2:]):
            text = cell.strip()
            if text == "" or text.lower() == "nan":
                continue
            try:
                v = float(text)
            except ValueError:
                v = math.inf
            if not math.isfinite(v):
                axis = "XYZ"[c % 3]
                raise ValueError(
                    f"{path}: line {lineno}: marker {markers[c // 3]!r} {axis}: expected a "
                    f"number or an empty cell, got {text!r}"
                )
            values[r, c] = v
    return frame, time, values.reshape(t, m, 3)


def read_trc(path: str | Path, skeleton: str | Skeleton = "h36m_extended") -> PoseDataset:
    """Read a TRC marker file as posesynth joints, world frame Z up, metres.

    Args:
        path: the ``.trc`` file.
        skeleton: ``"h36m_extended"`` (default) or ``"h36m17"`` (or those Skeletons).

    Returns:
        A :class:`PoseDataset` with one sample per data row: ``joints_3d_world (T, J, 3)``
        metres, world frame (the TRC's Y-up frame mapped with :data:`TRC_TO_WORLD`; see the
        module docstring), ``visibility (T, J)`` (0 where the marker is missing or the joint
        has no rule; None when nothing is missing), ``frame`` from the ``Frame#`` column,
        ``subject`` the file stem, ``extra["time"]`` seconds, and ``meta`` with the markers,
        the rule used per joint, the rate (``frame_rate_hz``) and the count of missing
        marker values (``missing_markers``).

    Raises:
        ValueError: naming the file (and line, marker or header field) for a malformed
            header, unknown ``Units``, a marker count other than ``NumMarkers``, a row count
            other than ``NumFrames``, rows with the wrong number of cells, text or inf where
            a number belongs, or no marker usable for the skeleton.
            ``FileNotFoundError`` for a missing file.
    """
    path = Path(path)
    skel = _skeleton(skeleton)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except IsADirectoryError:
        raise ValueError(f"{path}: expected a .trc file, got a directory") from None
    lines = [ln.rstrip("\r\n") for ln in text.split("\n")]
    head = _parse_header(path, lines[:5])
    rows = [(i + 1, ln) for i, ln in enumerate(lines[5:], start=5) if ln.strip()]
    if len(rows) != head.num_frames:
        raise ValueError(
            f"{path}: NumFrames says {head.num_frames}, found {len(rows)} data rows (truncated or damaged file?)"
        )
    markers = head.markers
    frame, time, values = _parse_rows(path, rows, markers)
    return _trc_dataset(path, skel, head, frame, time, values)


@dataclass(frozen=True)
class _Header:
    """A TRC's header: its fields (line 2 -> line 3), units, counts, rate and marker names."""

    fields: dict[str, str]
    units: str
    num_frames: int
    rate: float
    markers: list[str]


def _parse_header(path: Path, lines: list[str]) -> _Header:
    """The first five lines of a TRC, checked (see :func:`read_trc`'s errors)."""
    fields = _header_fields(path, lines)
    units = fields["Units"].strip().lower()
    if units not in UNITS_TO_METRES:
        raise ValueError(
            f"{path}: header field 'Units': expected one of {list(UNITS_TO_METRES)}, got {fields['Units']!r}"
        )
    num_frames = _header_int(path, fields, "NumFrames")
    num_markers = _header_int(path, fields, "NumMarkers")
    try:
        rate = float(fields["DataRate"])
    except ValueError:
        raise ValueError(f"{path}: header field 'DataRate': expected a number, got {fields['DataRate']!r}") from None
    if not math.isfinite(rate) or rate <= 0:  # the writer refuses these too
        raise ValueError(f"{path}: header field 'DataRate': expected a frame rate > 0 Hz, got {rate}")
    names_line = lines[3].split("\t")
    if len(names_line) < 2 or names_line[0].strip() != "Frame#":
        raise ValueError(f"{path}: line 4: expected 'Frame#', 'Time' and marker names")
    markers = [c.strip() for c in names_line[2:] if c.strip()]
    if len(markers) != num_markers:
        raise ValueError(f"{path}: line 4: NumMarkers says {num_markers}, found {len(markers)} marker names")
    lowered = [m.lower() for m in markers]
    dup = sorted({m for m in lowered if lowered.count(m) > 1})
    if dup:
        raise ValueError(f"{path}: line 4: duplicate marker names {dup}")
    return _Header(fields, units, num_frames, rate, markers)


def _trc_dataset(
    path: Path, skel: Skeleton, head: _Header, frame: np.ndarray, time: np.ndarray, values: np.ndarray
) -> PoseDataset:
    """:func:`read_trc`'s data set of parsed rows (all of a file's, or a block of them)."""
    markers = head.markers
    p_trc = values * UNITS_TO_METRES[head.units]
    p_world = p_trc @ TRC_TO_WORLD.T
    mapping, used = _build_mapping(markers)
    if not mapping.defined.any():
        raise ValueError(
            f"{path}: none of the markers {markers} matches a posesynth joint; expected "
            f"Pose2Sim names such as {sorted(set(_POSE2SIM_NAMES.values()))[:8]}... or "
            "posesynth joint names"
        )
    points, vis = apply_mapping(mapping, p_world)
    points, vis = points[:, : skel.num_joints], vis[:, : skel.num_joints]
    meta: dict[str, Any] = {
        "format": "trc",
        "file": str(path),
        "frame_rate_hz": head.rate,
        "units_in_file": head.units,
        "axes": "world (X, Y, Z) = trc (Z, X, Y) (Pose2Sim yup2zup)",
        "markers": markers,
        "rules": {j: used[j] for j in skel.joint_names if j in used},
        "undefined_joints": [j for j in skel.joint_names if j not in used],
        "missing_markers": int(np.isnan(values).any(axis=-1).sum()),
        "header": head.fields,
    }
    n = len(frame)
    return PoseDataset(
        skeleton=skel,
        joints_3d_world=points,
        visibility=None if (vis == 1).all() else vis,
        subject=np.full(n, path.stem),
        frame=frame,
        meta=meta,
        extra={"time": time},
    )


class TrcRows:
    """A TRC file read a block of rows at a time (:meth:`take`); only the header and one
    block are held. ``len()`` is the header's ``NumFrames``.

    ``take(k)`` equals ``read_trc(path, skeleton).select(slice(lo, lo + k))`` for the next
    ``lo``, except ``visibility`` (None when the block has nothing missing) and
    ``meta["missing_markers"]`` (the block's count). Use as a context manager (closes the file).
    """

    def __init__(self, path: str | Path, skeleton: str | Skeleton = "h36m_extended") -> None:
        self.path = Path(path)
        self.skeleton = _skeleton(skeleton)
        if self.path.is_dir():
            raise ValueError(f"{self.path}: expected a .trc file, got a directory")
        # bytes, split on b"\n" alone, as read_trc splits its text
        self._fh = open(self.path, "rb")  # noqa: SIM115
        try:
            lines = [self._line(self._fh.readline()) for _ in range(5)]
            self.header = _parse_header(self.path, [ln for ln in lines if ln is not None])
        except BaseException:
            self._fh.close()
            raise
        self._lineno = 5
        self._done = 0

    def __len__(self) -> int:
        return self.header.num_frames

    def __enter__(self) -> TrcRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._fh.close()

    @staticmethod
    def _line(raw: bytes) -> str | None:
        return None if not raw else raw.decode("utf-8", errors="replace").rstrip("\r\n")

    def take(self, k: int) -> PoseDataset:
        """The next ``k`` data rows (blank lines skipped) as a data set.

        Raises:
            ValueError: fewer rows than ``NumFrames`` says, or a bad row (as :func:`read_trc`).
        """
        rows: list[tuple[int, str]] = []
        while len(rows) < k:
            line = self._line(self._fh.readline())
            if line is None:
                raise ValueError(
                    f"{self.path}: NumFrames says {len(self)}, found {self._done + len(rows)} data rows "
                    "(truncated or damaged file?)"
                )
            self._lineno += 1
            if line.strip():
                rows.append((self._lineno, line))
        self._done += k
        if self._done == len(self):  # nothing may follow the last row
            rest = [ln for ln in self._fh if ln.strip()]  # bytes lines: strip() works alike
            if rest:
                raise ValueError(
                    f"{self.path}: NumFrames says {len(self)}, found {len(self) + len(rest)} data rows "
                    "(truncated or damaged file?)"
                )
        frame, time, values = _parse_rows(self.path, rows, self.header.markers)
        return _trc_dataset(self.path, self.skeleton, self.header, frame, time, values)


@dataclass(frozen=True)
class TrcSurvey:
    """What a whole TRC file gives its rows that one block of them cannot tell
    (:func:`survey_trc`): :func:`read_trc`'s ``visibility`` is None only when no row misses
    a joint, and ``meta["missing_markers"]`` counts the whole file's."""

    path: Path
    skeleton: Skeleton
    #: data rows (the header's ``NumFrames``, checked against the file)
    samples: int
    missing_markers: int
    #: whether :func:`read_trc` gives a visibility (some row misses a joint)
    visibility: bool


def _count_data_rows(path: Path) -> int:
    """The non-blank lines after the five header lines, split on ``b"\\n"`` as :func:`read_trc`
    splits its text (one pass over the bytes, nothing parsed)."""
    count = 0
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number > 5 and raw.strip():
                count += 1
    return count


def survey_trc(
    path: str | Path,
    skeleton: str | Skeleton = "h36m_extended",
    rows: int = 10_000,
) -> TrcSurvey:
    """One pass over a TRC file, ``rows`` rows parsed at a time (memory: one block): every
    row checked as :func:`read_trc` checks it, in its order (the header, then the row count
    against ``NumFrames``, then each row), and what the whole file gives its rows
    (:class:`TrcSurvey`). :func:`read_trc_blocks` then reads the rows as :func:`read_trc` does.

    Raises:
        ValueError: what :func:`read_trc` raises for the file (same messages).
    """
    path = Path(path)
    with TrcRows(path, skeleton) as reader:
        found = _count_data_rows(path)
        if found != len(reader):  # read_trc counts the rows before it parses any
            raise ValueError(
                f"{path}: NumFrames says {len(reader)}, found {found} data rows (truncated or damaged file?)"
            )
        missing, visibility = 0, False
        for lo in range(0, len(reader), rows):
            block = reader.take(min(rows, len(reader) - lo))
            missing += int(block.meta["missing_markers"])
            visibility = visibility or block.visibility is not None
        if len(reader) == 0:  # no row: read_trc's mapping check, as it makes it
            block = reader.take(0)
    return TrcSurvey(path, _skeleton(skeleton), found, missing, visibility)


def read_trc_blocks(survey: TrcSurvey, sizes: Iterable[int]) -> Iterable[PoseDataset]:
    """The rows of ``survey``'s file as consecutive blocks of ``sizes`` rows, each equal to
    ``read_trc(path, skeleton).select(slice(lo, lo + size))`` (its ``visibility`` and
    ``meta["missing_markers"]`` those of the whole file); one block in memory.

    Raises:
        ValueError: the file changed since the survey (:class:`TrcRows`'s errors).
    """
    from dataclasses import replace

    with TrcRows(survey.path, survey.skeleton) as reader:
        for k in sizes:
            block = reader.take(k)
            vis = block.visibility
            if survey.visibility and vis is None:  # nothing missing here, something elsewhere
                vis = np.ones((len(block), survey.skeleton.num_joints))
            yield replace(
                block,
                visibility=vis if survey.visibility else None,
                meta={**block.meta, "missing_markers": survey.missing_markers},
            )


def _skeleton(skeleton: str | Skeleton) -> Skeleton:
    name = skeleton.name if isinstance(skeleton, Skeleton) else skeleton
    for s in (H36M_EXTENDED, H36M17):
        if name == s.name:
            return s
    raise ValueError(f"skeleton: expected 'h36m_extended' or 'h36m17', got {skeleton!r}")


def _format(v: float) -> str:
    return "" if not math.isfinite(v) else repr(v)


def write_trc(
    dataset: PoseDataset,
    path: str | Path,
    rate: float | None = None,
    *,
    units: str = "m",
    overwrite: bool = False,
) -> Path:
    """Write the dataset's world 3D as a TRC file (Y up, as OpenSim and Pose2Sim write it).

    One row per sample, in order; markers are the skeleton's joints named by
    :func:`trc_marker_name` (Pose2Sim's names where they exist). Points that are not finite
    are written as empty cells (missing markers); visibility is not used otherwise (a TRC has
    no visibility).

    Args:
        dataset: skeleton ``h36m17`` or ``h36m_extended``; world 3D, or camera-frame 3D with
            cameras (:meth:`PoseDataset.complete`).
        path: the ``.trc`` file to write (atomically).
        rate: frame rate in Hz; default ``dataset.meta["frame_rate_hz"]``.
        units: ``"m"``, ``"cm"`` or ``"mm"``.
        overwrite: replace an existing file.

    Returns:
        ``path``. ``Frame#`` is ``dataset.frame`` (default 0, 1, ...); ``Time`` is
        ``extra["time"]`` when present, else ``frame / rate`` (as Pose2Sim writes it).

    Raises:
        ValueError: other skeletons, no world 3D, no or non-positive rate, unknown units,
            repeated frame ids, or an existing ``path`` without ``overwrite``.
    """
    path = Path(path)
    skel = _skeleton(dataset.skeleton)
    if skel.joint_names != dataset.skeleton.joint_names:
        raise ValueError(f"dataset.skeleton: expected {skel.name}'s joint order")
    if units not in UNITS_TO_METRES:
        raise ValueError(f"units: expected one of {list(UNITS_TO_METRES)}, got {units!r}")
    if rate is None:
        rate = dataset.meta.get("frame_rate_hz")
        if rate is None:
            raise ValueError("rate: not given and dataset.meta has no 'frame_rate_hz'")
    rate = float(rate)
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"rate: expected a positive frame rate in Hz, got {rate}")
    world = dataset.complete().joints_3d_world
    if world is None:
        raise ValueError("dataset: has no world 3D (and no cameras to derive it); TRC needs it")
    n = world.shape[0]
    frame = np.arange(n) if dataset.frame is None else np.asarray(dataset.frame)
    if frame.dtype.kind not in "iu":
        raise ValueError(f"dataset.frame: expected integers, got dtype {frame.dtype}")
    if np.unique(frame).size != n:
        raise ValueError(
            "dataset.frame: repeated frame ids; a TRC holds one pose per frame (select one "
            "camera's samples, e.g. dataset.select(dataset.camera_index == 0))"
        )
    time = dataset.extra.get("time")
    time = frame / rate if time is None else np.asarray(time, dtype=np.float64)
    header = _header_lines(path.name, skel, rate, n, units, int(frame[0]) if n else 0)
    body = _body_lines(world, frame, time, units)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text("\n".join(header + body) + "\n", encoding="utf-8")
    return path


def _header_lines(file_name: str, skel: Skeleton, rate: float, n: int, units: str, first_frame: int) -> list[str]:
    """:func:`write_trc`'s five header lines and the blank line after them."""
    j = skel.num_joints
    markers = [trc_marker_name(n_) for n_ in skel.joint_names]
    return [
        f"PathFileType\t4\t(X/Y/Z)\t{file_name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        "\t".join(str(v) for v in (_num(rate), _num(rate), n, j, units, _num(rate), first_frame, n)),
        "Frame#\tTime\t" + "\t\t\t".join(markers) + "\t\t",
        "\t\t" + "\t".join(f"X{i + 1}\tY{i + 1}\tZ{i + 1}" for i in range(j)),
        "",
    ]


def _body_lines(world: np.ndarray, frame: np.ndarray, time: np.ndarray, units: str) -> list[str]:
    """One data row per pose: world ``(T, J, 3)`` metres -> the file's Y-up axes and unit."""
    n, j = world.shape[:2]
    p_trc = (world @ TRC_TO_WORLD) / UNITS_TO_METRES[units]  # row vectors: p @ M == M.T @ p
    flat = p_trc.reshape(n, j * 3)
    return [f"{int(frame[r])}\t{float(time[r])!r}\t" + "\t".join(map(_format, flat[r].tolist())) for r in range(n)]


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


#: Frame rate written for data without one (synthetic poses have no time): Human3.6M's 50 Hz.
DEFAULT_RATE_HZ = 50.0


def write_trc_sequences(
    dataset: PoseDataset,
    out_dir: str | Path,
    rate: float | None = None,
    *,
    units: str = "m",
    overwrite: bool = False,
) -> list[Path]:
    """Write a data set as TRC files, one per (subject, action) sequence, into ``out_dir``.

    A TRC holds one pose per frame, so samples that show one pose through several cameras
    (same ``(subject, action, frame)``, or augment's ``(source_index, variant)``; see
    :func:`posesynth.data.formats.videopose3d.pose_ids`) are written once. Files are named
    ``<subject>_<action>.trc`` (characters outside ``[A-Za-z0-9_.-]`` become ``-``), or
    ``posesynth.trc`` for a data set without subject and action ids (generated data: one row
    per pose, ``Frame#`` 0, 1, ...). The folder is built under a temporary name and renamed:
    on any error nothing is left.

    Args:
        dataset: as :func:`write_trc` (skeleton ``h36m17`` or ``h36m_extended``; world 3D
            or camera-frame 3D with cameras).
        out_dir: the folder to create (an existing one only with ``overwrite``).
        rate: Hz; default ``dataset.meta["frame_rate_hz"]``, else :data:`DEFAULT_RATE_HZ`.
        units: ``"m"``, ``"cm"`` or ``"mm"``.
        overwrite: replace an existing folder.

    Returns:
        The files written, in sequence order (first appearance).

    Raises:
        ValueError: as :func:`write_trc`, and for samples of one frame with different poses.
    """
    from posesynth.data.formats.videopose3d import pose_ids

    out_dir = Path(out_dir)
    ds = dataset.complete()
    if ds.joints_3d_world is None:
        raise ValueError("dataset: has no world 3D (and no cameras to derive it); TRC needs it")
    if rate is None:
        rate = float(ds.meta.get("frame_rate_hz") or DEFAULT_RATE_HZ)
    n = len(ds)
    pose, _ = pose_ids(ds)
    seq_name = sequence_names(ds.subject, ds.action, n)
    _, first_seq = np.unique(seq_name, return_index=True)
    plans = []
    for i in np.sort(first_seq):
        name = str(seq_name[i])
        idx = np.flatnonzero(seq_name == name)
        _p_ids, first, inverse = np.unique(pose[idx], return_index=True, return_inverse=True)
        keep = idx[first]
        if ds.frame is not None:
            keep = keep[np.argsort(np.asarray(ds.frame)[keep], kind="stable")]
        else:
            keep = np.sort(keep)
        world = ds.joints_3d_world
        same = np.allclose(world[idx], world[idx[first]][inverse.ravel()], rtol=0.0, atol=1e-9, equal_nan=True)
        if not same:
            raise ValueError(
                f"dataset: sequence {name}: samples of the same frame have different world 3D "
                "poses; a TRC holds one pose per frame"
            )
        part = PoseDataset(
            skeleton=ds.skeleton,
            joints_3d_world=world[keep],
            frame=None if ds.frame is None else np.asarray(ds.frame)[keep],
            meta={"frame_rate_hz": rate},
            extra={"time": np.asarray(ds.extra["time"])[keep]} if "time" in ds.extra else {},
        )
        plans.append((f"{name}.trc", part))
    _check_out_dir(out_dir, overwrite)
    with atomic_path(out_dir, overwrite=overwrite) as tmp:
        tmp.mkdir()
        for file_name, part in plans:
            write_trc(part, tmp / file_name, rate, units=units)
    return [out_dir / f for f, _ in plans]


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not overwrite:
        raise ValueError(f"{out_dir}: already exists; pass overwrite=True (--overwrite) to replace it")
    if out_dir.exists() and (
        not out_dir.is_dir() or any(not (e.is_file() and e.suffix in (".trc", ".png")) for e in out_dir.iterdir())
    ):
        raise ValueError(f"{out_dir}: refusing to replace something other than a folder of .trc files (and figures)")


def sequence_names(subject: np.ndarray | None, action: np.ndarray | None, n: int) -> np.ndarray:
    """The file stem of each of ``n`` samples' sequence (:func:`write_trc_sequences`):
    ``<subject>_<action>`` with characters outside ``[A-Za-z0-9_.-]`` made ``-``, or
    ``posesynth`` when the data carry neither id."""
    import re

    subj = None if subject is None else np.asarray(subject).astype(str)
    act = None if action is None else np.asarray(action).astype(str)
    if subj is None and act is None:
        return np.full(n, "posesynth")
    subj = np.full(n, "S0") if subj is None else subj
    act = np.full(n, "posesynth") if act is None else act
    names = np.char.add(np.char.add(subj, "_"), act)
    return np.array([re.sub(r"[^A-Za-z0-9_.-]", "-", s) for s in names.tolist()]) if n else names


#: Most TRC files :func:`write_trc_chunks` keeps open at once: a data set of many short
#: sequences (a subject per sample) would otherwise open one per sequence, past the system's
#: limit. A file closed early is reopened to append when its sequence goes on.
MAX_OPEN_FILES = 256


def ids_as_read_back(
    subject: np.ndarray | None, action: np.ndarray | None, n: int, *, several: bool
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The ``(subject, action)`` ids that reading a written TRC folder back gives ``n``
    samples of these ids: the names as written, which ``convert``'s check compares.

    A file is named by :func:`sequence_names` (``S 2`` / ``a/b`` -> ``S-2_a-b.trc``), and the
    reader (:func:`posesynth.data.formats.registry.read_any`) takes the ids from the file
    stem: with ``several`` files, subject before the first ``_`` and action after it
    (``S_1`` / ``walk`` -> ``S`` / ``1_walk``); a single file gives its whole stem as the
    subject and no action. Samples without either id keep none (``(None, None)``).
    """
    if subject is None and action is None:
        return None, None
    stems = sequence_names(subject, action, n)
    if not several:
        return stems, None
    parts = np.char.partition(stems.astype(str), "_")
    return parts[:, 0], parts[:, 2]


@dataclass(frozen=True)
class TrcPlan:
    """What :func:`write_trc_chunks` writes, known before the samples are read: per
    sequence (file stem, in order of first appearance) its row count and first frame.
    Made by :func:`plan_trc_sequences` from the ids alone."""

    counts: dict[str, int]
    first_frame: dict[str, int]
    #: whether the samples carry frame ids (else each sequence numbers its rows 0, 1, ...)
    has_frame: bool


def plan_trc_sequences(
    ids: Iterable[tuple[int, np.ndarray | None, np.ndarray | None, np.ndarray | None]],
) -> TrcPlan | None:
    """The :class:`TrcPlan` of samples given as consecutive chunks of ``(n, subject, action,
    frame)`` ids (each id None or (n,)), or None when they cannot be written in one pass.

    One pass writes what :func:`write_trc_sequences` writes when every sample is its own
    pose and each sequence's rows are already in order: without frame ids (each sample a
    pose; the caller checks that there is no augment ``(source_index, variant)``), or with
    frame ids that rise strictly within each sequence (no two samples of one frame, e.g.
    one pose through several cameras, which the in-memory writer folds into one row).
    Memory: the sequences' names and last frames.
    """
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    has_frame: bool | None = None
    for n, subject, action, frame in ids:
        if has_frame is None:
            has_frame = frame is not None
        if n == 0:
            continue
        names = sequence_names(subject, action, n)
        uniq, start, inverse = np.unique(names, return_index=True, return_inverse=True)
        if frame is not None:
            frame = np.asarray(frame)
            if frame.dtype.kind not in "iu":
                return None  # the in-memory writer words the error
        for u in np.argsort(start, kind="stable"):
            name = str(uniq[u])
            rows = np.flatnonzero(inverse.ravel() == u)
            counts[name] = counts.get(name, 0) + len(rows)
            if frame is None:
                continue
            f = frame[rows].astype(np.int64)
            if name in last:
                f = np.concatenate([[last[name]], f])
            else:
                first[name] = int(f[0])
            if np.any(np.diff(f) <= 0):
                return None  # frames out of order or repeated: sorted and folded in memory
            last[name] = int(f[-1])
    return TrcPlan(counts, first, bool(has_frame))


def _checked_chunk(chunk: PoseDataset, rate: float | None) -> tuple[PoseDataset, np.ndarray, Skeleton, float]:
    """A chunk completed and checked for TRC, with its world 3D ``(N, J, 3)`` m, its skeleton
    (in that skeleton's joint order) and the frame rate: ``rate`` if given, else the chunk's
    ``frame_rate_hz``, else the default."""
    ds = chunk.complete()
    if ds.joints_3d_world is None:
        raise ValueError("dataset: has no world 3D (and no cameras to derive it); TRC needs it")
    skel = _skeleton(ds.skeleton)
    if skel.joint_names != ds.skeleton.joint_names:
        raise ValueError(f"dataset.skeleton: expected {skel.name}'s joint order")
    if rate is None:
        rate = float(ds.meta.get("frame_rate_hz") or DEFAULT_RATE_HZ)
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"rate: expected a positive frame rate in Hz, got {rate}")
    return ds, ds.joints_3d_world, skel, rate


def write_trc_chunks(
    chunks: Iterable[PoseDataset],
    out_dir: str | Path,
    plan: TrcPlan,
    rate: float | None = None,
    *,
    units: str = "m",
    overwrite: bool = False,
) -> list[Path]:
    """:func:`write_trc_sequences` of a data set given as consecutive chunks, in one pass.

    Every file is opened with its header (its row count from ``plan``,
    :func:`plan_trc_sequences`) and each chunk's rows are appended to their sequence's file,
    so memory is one chunk; the bytes equal :func:`write_trc_sequences`'s for the same data.
    A file is closed once its sequence is complete, and at most :data:`MAX_OPEN_FILES` are open.
    The folder is built under a temporary name and renamed (on any error nothing is left).

    Args:
        chunks: the samples in order, as the ids given to :func:`plan_trc_sequences`; one
            skeleton (``h36m17`` or ``h36m_extended``), world 3D (or camera-frame 3D with
            cameras).
        out_dir, units, overwrite: as :func:`write_trc_sequences`.
        rate: Hz; default the first chunk's ``meta["frame_rate_hz"]``, else
            :data:`DEFAULT_RATE_HZ`.

    Raises:
        ValueError: as :func:`write_trc`, or chunks whose sequences or counts differ from ``plan``.
    """
    out_dir = Path(out_dir)
    if units not in UNITS_TO_METRES:
        raise ValueError(f"units: expected one of {list(UNITS_TO_METRES)}, got {units!r}")
    _check_out_dir(out_dir, overwrite)
    written = dict.fromkeys(plan.counts, 0)
    with atomic_path(out_dir, overwrite=overwrite) as tmp:
        tmp.mkdir()
        files: dict[str, Any] = {}
        started: set[str] = set()
        try:
            for chunk in chunks:
                ds, world, skel, rate = _checked_chunk(chunk, rate)
                names = sequence_names(ds.subject, ds.action, len(ds))
                uniq, start, inverse = np.unique(names, return_index=True, return_inverse=True)
                for u in np.argsort(start, kind="stable"):
                    name = str(uniq[u])
                    rows = np.flatnonzero(inverse.ravel() == u)
                    if name not in written or written[name] + len(rows) > plan.counts[name]:
                        raise ValueError(f"chunks: sequence {name!r} does not match the plan of the samples")
                    if plan.has_frame:
                        frame = np.asarray(ds.frame)[rows]
                    else:
                        frame = np.arange(written[name], written[name] + len(rows))
                    time = ds.extra.get("time")
                    time = frame / rate if time is None else np.asarray(time, dtype=np.float64)[rows]
                    fh = files.get(name)
                    if fh is None:
                        if len(files) >= MAX_OPEN_FILES:  # the longest open first (dict order)
                            files.pop(next(iter(files))).close()
                        if name in started:  # closed to bound the open files: carry on where it stopped
                            fh = open(tmp / f"{name}.trc", "a", encoding="utf-8", newline="")  # noqa: SIM115
                        else:
                            fh = open(tmp / f"{name}.trc", "w", encoding="utf-8", newline="")  # noqa: SIM115
                            first = plan.first_frame.get(name, 0)
                            head = _header_lines(f"{name}.trc", skel, rate, plan.counts[name], units, first)
                            fh.write("\n".join(head) + "\n")
                            started.add(name)
                        files[name] = fh
                    fh.write("\n".join(_body_lines(world[rows], frame, time, units)) + "\n")
                    written[name] += len(rows)
                    if written[name] == plan.counts[name]:  # complete: nothing more comes to it
                        files.pop(name).close()
        finally:
            for fh in files.values():
                fh.close()
        short = [name for name, count in plan.counts.items() if written[name] != count]
        if short:
            raise ValueError(
                f"chunks: sequence {short[0]!r} has {written[short[0]]} samples, the plan says {plan.counts[short[0]]}"
            )
    return [out_dir / f"{name}.trc" for name in plan.counts]


# ------------------------------------------------------------------- rows in another order
@dataclass(frozen=True)
class TrcRowPlan:
    """Where every sample's pose goes in the files of :func:`write_trc_sequences` when the
    rows do not follow the samples (several samples of one pose, frames out of order):
    made by :func:`plan_trc_rows` from the ids alone, about 40 bytes per sample.

    ``plan`` has the files' names, row counts and first frames (:func:`write_trc_blocks`);
    file ``s`` (``names[s]``) holds rows ``bounds[s]:bounds[s + 1]``; ``kept[r]`` is the
    sample whose pose row ``r`` writes (the first sample of the pose); ``row_of[i]`` is the
    row of sample ``i``'s pose; ``folded`` counts the samples written by another's row.
    """

    plan: TrcPlan
    names: tuple[str, ...]
    bounds: np.ndarray
    kept: np.ndarray
    row_of: np.ndarray
    folded: int

    def file_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(file index, row in that file)`` of global rows ``rows``."""
        seq = np.searchsorted(self.bounds, rows, side="right") - 1
        return seq, rows - self.bounds[seq]


def plan_trc_rows(
    ids: Iterable[
        tuple[int, np.ndarray | None, np.ndarray | None, np.ndarray | None, np.ndarray | None, np.ndarray | None]
    ],
) -> TrcRowPlan | None:
    """The :class:`TrcRowPlan` of samples given as consecutive chunks of ``(n, subject,
    action, frame, source_index, variant)`` ids (each None or (n,)), with the rules of
    :func:`write_trc_sequences`: a sequence per file name (:func:`sequence_names`), a pose
    per ``frame`` within it (else per augment ``(source_index, variant)``, else per sample),
    one row per pose (its first sample's), rows in ``frame`` order (else in order of first
    appearance).

    None when that writer would refuse (non-integer frames) or when two different
    ``(subject, action)`` pairs give one file name (``S 2`` and ``S-2``): both are left to
    the in-memory writer, which words the error or folds them as it does.
    """
    seq_of: dict[str, int] = {}
    raw_of: dict[str, str] = {}  # file name -> its subject and action
    seqs, k1s, k2s = [], [], []
    has_frame: bool | None = None
    augment = False
    lo = 0
    for n, subject, action, frame, source, variant in ids:
        if has_frame is None:
            has_frame = frame is not None
            augment = frame is None and source is not None and variant is not None
        names = sequence_names(subject, action, n)
        subj = np.full(n, "") if subject is None else np.asarray(subject).astype(str)
        act = np.full(n, "") if action is None else np.asarray(action).astype(str)
        # "\x1f" (unit separator), not "\x00": NumPy drops a string's trailing NULs
        pairs, pair_first = np.unique(np.char.add(np.char.add(subj, "\x1f"), act), return_index=True)
        for pair, name in zip(pairs.tolist(), names[pair_first].tolist(), strict=True):
            if raw_of.setdefault(name, pair) != pair:
                return None  # two id pairs, one file name: the in-memory writer decides
        uniq, first, inverse = np.unique(names, return_index=True, return_inverse=True)
        codes = np.empty(len(uniq), dtype=np.int64)
        for u in np.argsort(first, kind="stable"):  # numbered by first appearance, as the files
            codes[u] = seq_of.setdefault(str(uniq[u]), len(seq_of))
        seqs.append(codes[inverse.ravel()])
        if frame is not None:
            f = np.asarray(frame)
            if f.dtype.kind not in "iu":
                return None
            k1s.append(f.astype(np.int64))
            k2s.append(np.zeros(n, np.int64))
        elif augment:
            assert source is not None and variant is not None  # augment: both ids
            k1s.append(np.asarray(source).astype(np.int64))
            k2s.append(np.asarray(variant).astype(np.int64))
        else:
            k1s.append(np.arange(lo, lo + n, dtype=np.int64))
            k2s.append(np.zeros(n, np.int64))
        lo += n
    if has_frame is None or lo == 0:
        return None
    seq = np.concatenate(seqs)
    k1, k2 = np.concatenate(k1s), np.concatenate(k2s)
    del seqs, k1s, k2s
    index = np.arange(lo, dtype=np.int64)
    order = np.lexsort((index, k2, k1, seq))  # by file, pose, then sample
    s_, a_, b_ = seq[order], k1[order], k2[order]
    new = np.ones(lo, dtype=bool)
    new[1:] = (s_[1:] != s_[:-1]) | (a_[1:] != a_[:-1]) | (b_[1:] != b_[:-1])
    group = np.cumsum(new) - 1
    first_of_group = order[new]  # the pose's first sample (index breaks ties)
    group_seq = s_[new]
    del s_, a_, b_, k2
    # rows: by frame (the pose order already), else by the pose's first appearance
    perm = np.arange(first_of_group.size) if has_frame else np.lexsort((first_of_group, group_seq))
    kept = first_of_group[perm]
    rank = np.empty_like(perm)
    rank[perm] = np.arange(perm.size)
    row_of = np.empty(lo, dtype=np.int64)
    row_of[order] = rank[group]
    bounds = np.searchsorted(group_seq[perm], np.arange(len(seq_of) + 1))
    names_ = tuple(seq_of)
    counts = {name: int(bounds[s + 1] - bounds[s]) for s, name in enumerate(names_)}
    first_frame = {name: int(k1[kept[bounds[s]]]) for s, name in enumerate(names_)} if has_frame else {}
    return TrcRowPlan(
        plan=TrcPlan(counts, first_frame, bool(has_frame)),
        names=names_,
        bounds=bounds,
        kept=kept,
        row_of=row_of,
        folded=int(lo - kept.size),
    )


def write_trc_blocks(
    blocks: Iterable[tuple[str, PoseDataset]],
    out_dir: str | Path,
    plan: TrcPlan,
    rate: float | None = None,
    *,
    units: str = "m",
    overwrite: bool = False,
) -> list[Path]:
    """:func:`write_trc_sequences` of rows given file by file: ``(file stem, rows)`` blocks,
    each file's blocks together and in row order, in ``plan``'s file order (the rows of a
    :class:`TrcRowPlan`, read in that order). One file is open at a time, memory is a block;
    the bytes equal the in-memory writer's. The folder is built under a temporary name.

    Raises:
        ValueError: as :func:`write_trc`, or blocks that do not follow ``plan``.
    """
    out_dir = Path(out_dir)
    if units not in UNITS_TO_METRES:
        raise ValueError(f"units: expected one of {list(UNITS_TO_METRES)}, got {units!r}")
    _check_out_dir(out_dir, overwrite)
    order = list(plan.counts)
    with atomic_path(out_dir, overwrite=overwrite) as tmp:
        tmp.mkdir()
        current: str | None = None
        at = -1  # current's place in ``order`` (not order.index: quadratic in files)
        written = 0
        fh: Any = None
        try:
            for name, block in blocks:
                ds, world, skel, rate = _checked_chunk(block, rate)
                if name != current:
                    if current is not None and written != plan.counts[current]:
                        break
                    at += 1
                    expected = order[at] if at < len(order) else None
                    if name != expected:
                        raise ValueError(f"blocks: file {name!r} where the plan has {expected!r}")
                    if fh is not None:
                        fh.close()
                    current, written = name, 0
                    fh = open(tmp / f"{name}.trc", "w", encoding="utf-8", newline="")  # noqa: SIM115
                    head = _header_lines(
                        f"{name}.trc", skel, rate, plan.counts[name], units, plan.first_frame.get(name, 0)
                    )
                    fh.write("\n".join(head) + "\n")
                m = len(ds)
                if written + m > plan.counts[name]:
                    raise ValueError(f"blocks: file {name!r} gets more rows than the plan's {plan.counts[name]}")
                frame = np.asarray(ds.frame) if plan.has_frame else np.arange(written, written + m)
                if frame.dtype.kind not in "iu":
                    raise ValueError(f"dataset.frame: expected integers, got dtype {frame.dtype}")
                time = ds.extra.get("time")
                time = frame / rate if time is None else np.asarray(time, dtype=np.float64)
                fh.write("\n".join(_body_lines(world, frame, time, units)) + "\n")
                written += m
        finally:
            if fh is not None:
                fh.close()
        if current != (order[-1] if order else None) or (current is not None and written != plan.counts[current]):
            raise ValueError(f"blocks: file {current!r} has {written} rows, or files are missing; the plan differs")
    return [out_dir / f"{name}.trc" for name in order]


class TrcLines:
    """A TRC file's data rows read by row number (:meth:`rows`): the byte offset and line
    number of each row are found once (12 bytes a row), then only the rows asked for are read
    and parsed."""

    def __init__(self, path: str | Path, skeleton: str | Skeleton = "h36m_extended") -> None:
        self.path = Path(path)
        self.skeleton = _skeleton(skeleton)
        offsets: list[int] = []
        numbers: list[int] = []
        lines: list[str] = []
        with open(self.path, "rb") as fh:  # split on b"\n" alone, as read_trc splits its text
            at = 0
            for number, raw in enumerate(fh, start=1):
                if number <= 5:
                    lines.append(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
                elif raw.strip():
                    offsets.append(at)
                    numbers.append(number)
                at += len(raw)
        self.header = _parse_header(self.path, lines)
        if len(offsets) != self.header.num_frames:
            raise ValueError(
                f"{self.path}: NumFrames says {self.header.num_frames}, found {len(offsets)} data rows "
                "(truncated or damaged file?)"
            )
        self.offsets = np.array(offsets, dtype=np.int64)
        self.numbers = np.array(numbers, dtype=np.int32)

    def rows(self, rows: np.ndarray) -> PoseDataset:
        """Data rows ``rows`` (0-based, any order, repeats allowed) as :func:`read_trc` gives
        them (``read_trc(path).select(rows)``, but ``visibility`` and the missing count are
        those of these rows)."""
        rows = np.asarray(rows, dtype=np.int64)
        uniq, inverse = np.unique(rows, return_inverse=True)
        texts: list[tuple[int, str]] = []
        with open(self.path, "rb") as fh:
            for r in uniq.tolist():
                fh.seek(int(self.offsets[r]))
                line = fh.readline().decode("utf-8", errors="replace").rstrip("\r\n")
                texts.append((int(self.numbers[r]), line))
        frame, time, values = _parse_rows(self.path, texts, self.header.markers)
        inv = inverse.ravel()
        return _trc_dataset(self.path, self.skeleton, self.header, frame[inv], time[inv], values[inv])
