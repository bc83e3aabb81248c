"""Any 2D detector's keypoints in: Human3.6M-17, COCO-17, OpenPose BODY_25, MediaPipe-33.

:func:`read_detections` reads a detector's output file (or an OpenPose folder) and returns
:class:`Detections`: the frames' keypoints in their own layout and mapped to Human3.6M-17
(:func:`to_h36m17`), pixels, with per-joint confidence. The layout is taken from the file's
schema or its joint count, or named by the caller (``layout=``, ``--layout``); it is never
guessed: a bare array of 17 joints may be Human3.6M-17 or COCO-17, so it needs ``layout``.

Schemas (each documented with examples in ``docs/keypoints.md``):

=================  =====================================================================  ===========
schema             recognised by                                                          layout
=================  =====================================================================  ===========
array              ``.npy`` or JSON array ``(J, 2|3)`` or ``(T, J, 2|3)`` px (3rd column  by count:
                   = confidence); JSON ``{"keypoints": array, "layout": name}`` too       25, 33; 17
                                                                                          needs layout
posesynth          ``{"keypoints_2d": (17, 2)}`` (``posesynth demo --json``)              h36m17
mmpose             ``{"instance_info": [{"frame_id", "instances": [{"keypoints",          coco17 (or
                   "keypoint_scores"}]}], "meta_info": {...}}`` (MMPose / RTMPose          meta_info)
                   demos' ``--save-predictions``), or a list of such instances
                   (``MMPoseInferencer`` per-image predictions)
coco               ``[{"image_id", "keypoints": [x1, y1, v1, ...] (51), "score"}]``       coco17
                   (COCO results format; one frame per ``image_id``)
yolo               ``[{"name", "class", "confidence", "box", "keypoints": {"x": [...],    coco17
                   "y": [...], "visible": [...]}}]`` (Ultralytics ``Results.to_json()``)
openpose           ``{"people": [{"pose_keypoints_2d": [x, y, c] * 25}]}``, one file per  body25
                   frame; a folder of ``*.json`` read in name order
mediapipe          ``{"landmarks": [{"x", "y", "z"?, "visibility"?}] * 33, "image_width",  mediapipe33
                   "image_height"}`` (normalised x, y as MediaPipe gives them), or a list
                   of such per frame
=================  =====================================================================  ===========

Several people in a frame: the one with the highest mean confidence is kept (the count is
reported). A frame with nobody in it is listed in ``Detections.empty_frames`` and skipped.
Missing points (OpenPose's zero-confidence ``0, 0``, NaN) become NaN with confidence 0.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from posesynth.body.mappings import convert_keypoints

__all__ = ["LAYOUTS", "Detections", "read_detections", "to_h36m17"]

#: Layouts accepted, with their joint counts.
LAYOUTS: Mapping[str, int] = {"h36m17": 17, "coco17": 17, "body25": 25, "mediapipe33": 33}
_BY_COUNT = {25: "body25", 33: "mediapipe33"}

#: BODY_25 joint of each COCO-17 joint (OpenPose's order: 0 nose, 1 neck, 2-4 right arm,
#: 5-7 left arm, 8 mid hip, 9-11 right leg, 12-14 left leg, 15/16 right/left eye,
#: 17/18 right/left ear, 19-24 feet).
BODY25_TO_COCO17 = (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11)


@dataclass(frozen=True)
class Detections:
    """2D keypoints of ``T`` frames from a detector's file.

    Attributes:
        keypoints_2d: (T, 17, 2) pixels, Human3.6M-17 order (NaN where undefined or missing).
        confidence: (T, 17) in [0, 1] (0 = missing).
        source_keypoints: (T, J, 2) pixels in the file's own layout.
        source_confidence: (T, J).
        layout: the file's layout (``h36m17``, ``coco17``, ``body25``, ``mediapipe33``).
        schema: the schema recognised (see the module docstring).
        frames: a name per kept frame (file name, ``frame_id`` or index).
        empty_frames: names of the frames with nobody in them (skipped).
        people: the number of people found per kept frame (the most confident is kept).
    """

    keypoints_2d: np.ndarray
    confidence: np.ndarray
    source_keypoints: np.ndarray
    source_confidence: np.ndarray
    layout: str
    schema: str
    frames: tuple[str, ...]
    empty_frames: tuple[str, ...]
    people: tuple[int, ...]


def to_h36m17(points: np.ndarray, layout: str, confidence: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints ``(..., J, 2)`` of ``layout`` -> Human3.6M-17 ``(..., 17, 2)`` and ``(..., 17)``.

    COCO-17 and MediaPipe-33 go through :func:`posesynth.body.mappings.convert_keypoints`
    (root = hip midpoint, thorax = shoulder midpoint, spine = their midpoint, neck_base and
    head from the face points; see ``docs/keypoints.md``); BODY_25 first picks its COCO-17
    joints (:data:`BODY25_TO_COCO17`). Units are kept (pixels in, pixels out).

    Raises:
        ValueError: an unknown layout or a joint count other than the layout's.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {list(LAYOUTS)}, got {layout!r}")
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim < 2 or arr.shape[-2] != LAYOUTS[layout] or arr.shape[-1] != 2:
        raise ValueError(f"keypoints: layout {layout!r} expects shape (..., {LAYOUTS[layout]}, 2), got {arr.shape}")
    conf = None if confidence is None else np.asarray(confidence, dtype=np.float64)
    if layout == "h36m17":
        ok = cast(np.ndarray, np.isfinite(arr).all(axis=-1))  # (..., J): arr has ndim >= 2
        c = ok.astype(np.float64) if conf is None else np.where(ok, conf, 0.0)
        return arr, c
    if layout == "body25":
        arr = arr[..., list(BODY25_TO_COCO17), :]
        conf = None if conf is None else conf[..., list(BODY25_TO_COCO17)]
        layout = "coco17"
    return convert_keypoints(arr, layout, "h36m17", conf)


def read_detections(path: Path | str, layout: str | None = None) -> Detections:
    """Read a detector's keypoints file (or an OpenPose folder) as :class:`Detections`.

    Args:
        path: a ``.npy`` / ``.json`` file, or a folder of OpenPose per-frame ``.json``.
        layout: the layout of the keypoints when the schema does not say it (required for
            a bare array of 17 joints); when given it must agree with the schema.

    Raises:
        ValueError: naming the file (and frame, field) for an unreadable file, an unknown
            schema, an ambiguous joint count without ``layout``, a layout that contradicts
            the schema or the joint count, non-numeric values, or no person in any frame.
    """
    p = Path(path)
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"--layout: expected one of {list(LAYOUTS)}, got {layout!r}")
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() == ".json" and f.is_file())
        if not files:
            raise ValueError(f"{p}: a folder without .json files; expected OpenPose per-frame JSON")
        frames = []
        for f in files:
            doc = _load_json(f)
            if not (isinstance(doc, Mapping) and "people" in doc):
                raise ValueError(
                    f"{f}: expected OpenPose JSON with a 'people' list (a folder holds one file per frame)"
                )
            frames.append((f.name, _openpose_people(doc, f)))
        return _finish(p, "openpose", "body25", layout, frames)
    if not p.is_file():
        raise ValueError(f"{p}: no such keypoints file or folder")
    if p.suffix.lower() == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{p}: cannot read as .npy ({exc})") from None
        return _from_array(p, arr, layout, "array")
    doc = _load_json(p)
    return _from_json(p, doc, layout)


# ------------------------------------------------------------------------------- schemas
def _load_json(p: Path) -> Any:
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{p}: not a readable JSON file ({type(exc).__name__}: {exc})") from None


def _from_json(p: Path, doc: Any, layout: str | None) -> Detections:
    if isinstance(doc, Mapping):
        if "keypoints_2d" in doc:  # posesynth demo --json
            return _from_array(p, doc["keypoints_2d"], layout or "h36m17", "posesynth", fixed="h36m17")
        if "instance_info" in doc:  # MMPose / RTMPose demo --save-predictions
            return _mmpose(p, doc, layout)
        if "people" in doc:
            return _finish(p, "openpose", "body25", layout, [(p.name, _openpose_people(doc, p))])
        if "landmarks" in doc:
            return _finish(p, "mediapipe", "mediapipe33", layout, [(p.name, _mediapipe(doc, p, 0))])
        if "keypoints" in doc:
            return _from_array(p, doc["keypoints"], doc.get("layout") or layout, "array")
        raise ValueError(
            f"{p}: unknown keypoints schema (keys {sorted(doc)[:8]}); expected one of those in "
            "docs/keypoints.md (keypoints_2d, instance_info, people, landmarks, keypoints)"
        )
    if isinstance(doc, list) and doc and all(isinstance(d, Mapping) for d in doc):
        first = doc[0]
        if "keypoint_scores" in first:  # MMPoseInferencer per-image predictions
            return _mmpose(p, {"instance_info": [{"frame_id": 0, "instances": doc}]}, layout)
        if "image_id" in first and "keypoints" in first:
            return _coco(p, doc, layout)
        if isinstance(first.get("keypoints"), Mapping):
            return _yolo(p, doc, layout)
        if "landmarks" in first:
            return _finish(
                p, "mediapipe", "mediapipe33", layout, [(str(i), _mediapipe(d, p, i)) for i, d in enumerate(doc)]
            )
        raise ValueError(f"{p}: unknown keypoints schema (a list of objects with keys {sorted(first)[:8]})")
    if isinstance(doc, list) and not doc:
        raise ValueError(f"{p}: an empty list; no keypoints")
    return _from_array(p, doc, layout, "array")


def _numeric(p: Path, value: Any, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{p}: {where}: expected numbers ({exc})") from None
    if np.isinf(arr).any():
        raise ValueError(f"{p}: {where}: inf values")
    return arr


def _from_array(p: Path, value: Any, layout: str | None, schema: str, fixed: str | None = None) -> Detections:
    arr = _numeric(p, value, "keypoints")
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[-1] not in (2, 3):
        raise ValueError(f"{p}: expected keypoints of shape (J, 2|3) or (T, J, 2|3) px, got {arr.shape}")
    j = arr.shape[1]
    found: str | None
    if fixed is not None:
        found = fixed
    elif layout is None:
        found = _BY_COUNT.get(j)
        if found is None:
            raise ValueError(
                f"{p}: {j} joints is ambiguous"
                + (" between h36m17 and coco17" if j == 17 else "")
                + f"; name the layout with --layout ({', '.join(LAYOUTS)})"
            )
    else:
        found = layout
    frames = []
    for t in range(arr.shape[0]):
        conf = arr[t, :, 2] if arr.shape[-1] == 3 else np.isfinite(arr[t]).all(axis=-1).astype(np.float64)
        frames.append((str(t), [(arr[t, :, :2], conf)]))
    return _finish(p, schema, found, layout, frames)


def _mmpose(p: Path, doc: Mapping, layout: str | None) -> Detections:
    meta: Mapping[str, Any] = m if isinstance(m := doc.get("meta_info"), Mapping) else {}
    name = str(meta.get("dataset_name", "coco")).lower()
    found = "h36m17" if name in ("h36m", "h3wb") and meta.get("num_keypoints", 17) == 17 else "coco17"
    info = doc.get("instance_info")
    if not isinstance(info, list):
        raise ValueError(f"{p}: instance_info: expected a list of frames")
    frames = []
    for i, fr in enumerate(info):
        if not isinstance(fr, Mapping) or not isinstance(fr.get("instances"), list):
            raise ValueError(f"{p}: instance_info[{i}]: expected {{'frame_id', 'instances': [...]}}")
        people = []
        for k, inst in enumerate(fr["instances"]):
            if not isinstance(inst, Mapping) or "keypoints" not in inst:
                raise ValueError(f"{p}: instance_info[{i}].instances[{k}]: expected 'keypoints'")
            kp = _numeric(p, inst["keypoints"], f"instance_info[{i}].instances[{k}].keypoints")
            kp = kp.reshape(-1, kp.shape[-1]) if kp.ndim >= 2 else kp
            scores = inst.get("keypoint_scores")
            sc = (
                np.ones(len(kp))
                if scores is None
                else _numeric(p, scores, f"instance_info[{i}].instances[{k}].keypoint_scores").reshape(-1)
            )
            people.append((kp[:, :2], sc))
        frames.append((str(fr.get("frame_id", i)), people))
    return _finish(p, "mmpose", found, layout, frames)


def _coco(p: Path, doc: list, layout: str | None) -> Detections:
    by_image: dict[Any, list] = {}
    for k, d in enumerate(doc):
        flat = _numeric(p, d.get("keypoints"), f"[{k}].keypoints").reshape(-1)
        if flat.size % 3:
            raise ValueError(f"{p}: [{k}].keypoints: expected x, y, v triplets, got {flat.size} values")
        tri = flat.reshape(-1, 3)
        by_image.setdefault(d.get("image_id"), []).append((tri[:, :2], np.clip(tri[:, 2], 0, 1)))
    return _finish(p, "coco", "coco17", layout, [(str(k), v) for k, v in by_image.items()])


def _yolo(p: Path, doc: list, layout: str | None) -> Detections:
    people = []
    for k, d in enumerate(doc):
        kp = d["keypoints"]
        xy = np.stack(
            [_numeric(p, kp.get("x"), f"[{k}].keypoints.x"), _numeric(p, kp.get("y"), f"[{k}].keypoints.y")], -1
        )
        vis = kp.get("visible")
        conf = np.ones(len(xy)) if vis is None else _numeric(p, vis, f"[{k}].keypoints.visible")
        people.append((xy, conf))
    return _finish(p, "yolo", "coco17", layout, [(p.name, people)])


def _openpose_people(doc: Mapping, p: Path) -> list:
    people = []
    for k, person in enumerate(doc.get("people") or []):
        flat = _numeric(p, person.get("pose_keypoints_2d", []), f"people[{k}].pose_keypoints_2d").reshape(-1)
        if flat.size != 75:
            raise ValueError(
                f"{p}: people[{k}].pose_keypoints_2d: expected 75 values (BODY_25: 25 x, y, c), "
                f"got {flat.size}" + (" (COCO-18 OpenPose output is not supported)" if flat.size == 54 else "")
            )
        tri = flat.reshape(25, 3)
        xy = np.where((tri[:, 2:] > 0), tri[:, :2], np.nan)  # OpenPose writes 0, 0, 0 for a missing point
        people.append((xy, tri[:, 2]))
    return people


def _mediapipe(doc: Mapping, p: Path, i: int) -> list:
    marks = doc.get("landmarks")
    if not marks:
        return []
    w, h = doc.get("image_width"), doc.get("image_height")
    if not (isinstance(w, (int, float)) and isinstance(h, (int, float)) and w > 0 and h > 0):
        raise ValueError(
            f"{p}: [{i}]: image_width and image_height are needed to turn MediaPipe's normalised landmarks into pixels"
        )
    if not isinstance(marks, list) or not all(isinstance(m, Mapping) for m in marks):
        raise ValueError(f"{p}: [{i}].landmarks: expected a list of {{x, y, visibility}} objects")
    xy = np.array(
        [[_numeric(p, m.get("x"), "landmarks.x"), _numeric(p, m.get("y"), "landmarks.y")] for m in marks],
        dtype=np.float64,
    )
    conf = np.array([float(m.get("visibility", 1.0)) for m in marks])
    return [(xy * [w, h], conf)]


# ------------------------------------------------------------------------------ assemble
def _finish(p: Path, schema: str, found: str, layout: str | None, frames: Sequence[tuple[str, list]]) -> Detections:
    if layout is not None and layout != found:
        raise ValueError(
            f"{p}: --layout {layout} contradicts the file, which holds {schema} keypoints in the {found} layout"
        )
    j = LAYOUTS[found]
    kept, empty, pts, confs, counts = [], [], [], [], []
    for name, people in frames:
        if not people:
            empty.append(name)
            continue
        best, best_score = None, -np.inf
        for xy, conf in people:
            if xy.shape != (j, 2) or np.shape(conf) != (j,):
                raise ValueError(f"{p}: frame {name}: layout {found} expects {j} joints, got keypoints {xy.shape}")
            score = float(np.nanmean(conf)) if np.isfinite(conf).any() else 0.0
            if score > best_score:
                best, best_score = (xy, conf), score
        if best is None:  # every score NaN or -inf
            raise ValueError(f"{p}: frame {name}: no person with a usable confidence score")
        xy, conf = best
        conf = np.where(np.isfinite(xy).all(axis=-1), np.nan_to_num(conf, nan=0.0), 0.0)
        kept.append(name)
        pts.append(xy)
        confs.append(conf)
        counts.append(len(people))
    if not kept:
        raise ValueError(f"{p}: nobody in any of its {len(frames)} frame(s)")
    src = np.stack(pts)
    src_conf = np.stack(confs)
    h36m, h36m_conf = to_h36m17(src, found, src_conf)
    return Detections(
        keypoints_2d=h36m,
        confidence=h36m_conf,
        source_keypoints=src,
        source_confidence=src_conf,
        layout=found,
        schema=schema,
        frames=tuple(kept),
        empty_frames=tuple(empty),
        people=tuple(counts),
    )
