"""Qualisys Track Manager calibration files (``*.qca.txt``, XML): read, and write for tests.

The part of the file this reader uses, one ``<camera>`` per camera::

    <calibration ...>
      <cameras>
        <camera active="1" serial="cam01" model="none" viewrotation="0" avg-residual="0.40">
          <fov_video left="0" top="0" right="1087" bottom="1919"/>      # pixels, inclusive
          <transform x=".." y=".." z=".." r11=".." r12=".." ... r33=".."/>
          <intrinsic focalLengthU=".." focalLengthV=".." centerPointU=".." centerPointV=".."
                     radialDistortion1=".." radialDistortion2=".." radialDistortion3=".."
                     tangentalDistortion1=".." tangentalDistortion2=".." skew="0"/>
        </camera>
      </cameras>
    </calibration>

Conventions of the file, and how they map to posesynth's (CONVENTIONS.md):

- ``x, y, z``: the camera centre in the world, **millimetres** -> ``C`` in metres.
- ``r11 .. r33``: a row-major 3 x 3 matrix ``M`` taking world vectors to Qualisys's camera
  frame, whose axes are x right, y up and z backwards (the camera looks along -z). The
  OpenCV camera frame is that one turned by pi about x, so ``R = diag(1, -1, -1) @ M`` and
  ``X_cam = R (X_world - C)``. (Pose2Sim's ``calibration.read_qca`` + ``calib_qca_fun`` arrive
  at the same ``R`` and ``t = -R C``.)
- ``focalLength*`` and ``centerPoint*`` are in sensor sub-pixel units, ``SUBPIXELS`` (64) per
  pixel, and the principal point is on the full sensor: ``cx = centerPointU / 64 / binning -
  fov.left`` (likewise ``cy`` with ``top``). ``binning`` is the video's pixel binning (2 when
  a 1080p sensor films in 540p, as Pose2Sim's ``binning_factor``).
- Distortion: Qualisys's radial (k1, k2, k3) and tangential (p1, p2) coefficients of the
  Brown-Conrady model, mapped to the ``opencv`` model's ``(k1, k2, p1, p2, k3)``. The file
  does not say which coordinates they apply to; Pose2Sim divides them by 64 like the
  intrinsics, and so does this reader by default (``distortion_scale``), so its cameras equal
  Pose2Sim's ``Calib.toml`` conversion (checked to 1e-15 on the Pose2Sim 0.10.49 demo). On that
  demo (k1 about -0.05) either choice reprojects BlazePose's triangulated landmarks equally well
  (12.3 px both): the lenses are nearly distortion-free at its image size.
- Image size: ``fov_video`` (``right - left + 1``, ``bottom - top + 1``) / ``binning``; QTM's
  ``viewrotation`` must be 0 (a rotated view would need the image axes swapped).

World frame: QTM's, kept as it is (Z up with a floor calibration, as in Pose2Sim's demos).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from posesynth.geometry.camera import Camera, CameraModel
from posesynth.util.atomic import atomic_path

__all__ = ["SUBPIXELS", "read_qca", "write_qca"]

#: Qualisys sensor sub-pixel units per pixel.
SUBPIXELS = 64.0

#: OpenCV axes from Qualisys camera axes (x right, y up, z backwards): a turn by pi about x.
_QTM_TO_OPENCV = np.diag([1.0, -1.0, -1.0])
_ROTATION_KEYS = tuple(f"r{i}{j}" for i in (1, 2, 3) for j in (1, 2, 3))
_INTRINSIC_KEYS = ("focalLengthU", "focalLengthV", "centerPointU", "centerPointV")
_DISTORTION_KEYS = (
    "radialDistortion1",
    "radialDistortion2",
    "tangentalDistortion1",
    "tangentalDistortion2",
    "radialDistortion3",
)


def _number(path: Path, where: str, element: ET.Element, key: str, default: float | None = None) -> float:
    text = element.get(key)
    if text is None:
        if default is not None:
            return default
        raise ValueError(f"{path}: {where} <{element.tag}> {key}: missing; expected a number")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{path}: {where} <{element.tag}> {key}: expected a number, got {text!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"{path}: {where} <{element.tag}> {key}: expected a finite number, got {text!r}")
    return value


def _child(path: Path, where: str, camera: ET.Element, *tags: str) -> ET.Element:
    for tag in tags:
        found = camera.find(tag)
        if found is not None:
            return found
    raise ValueError(f"{path}: {where}: missing <{tags[0]}>; expected one per camera")


def read_qca(
    path: str | Path,
    *,
    binning: int = 1,
    distortion_scale: float = SUBPIXELS,
) -> tuple[Camera, list[str]]:
    """Read the cameras of a Qualisys ``.qca.txt`` calibration.

    Args:
        path: the file.
        binning: video pixel binning (1, or 2 for a sensor filming at half resolution).
        distortion_scale: divisor of the file's distortion coefficients (64, the default, as
            Pose2Sim converts them; 1 uses them as they are).

    Returns:
        ``(cameras, names)``: one ``opencv`` :class:`Camera` of batch shape ``(K,)`` in file
        order (world frame the file's, metres; see the module docstring) and the cameras'
        ``serial`` attributes.

    Raises:
        ValueError: naming the file, the camera and the field - not XML, no ``<camera>``,
            a missing element or attribute, a non-number, skew, a ``viewrotation`` other than 0,
            a rotation that is not one, duplicate serials. ``FileNotFoundError`` if missing.
    """
    path = Path(path)
    if binning < 1:
        raise ValueError(f"binning: expected an integer >= 1, got {binning}")
    if not distortion_scale > 0:
        raise ValueError(f"distortion_scale: expected > 0, got {distortion_scale}")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{path}: not a Qualisys calibration (invalid XML: {exc})") from None
    cameras = root.findall("cameras/camera")
    if not cameras:
        raise ValueError(f"{path}: no <cameras>/<camera> element; expected one per camera")
    names: list[str] = []
    fields: dict[str, list[np.ndarray]] = {k: [] for k in ("K", "D", "R", "C", "S")}
    for i, cam in enumerate(cameras):
        serial = cam.get("serial")
        where = f"camera {i}" + (f" ({serial!r})" if serial else "")
        if not serial:
            raise ValueError(f"{path}: {where} serial: missing; expected the camera's name")
        if serial in names:
            raise ValueError(f"{path}: {where} serial: {serial!r} is used by another camera")
        view_rotation = _number(path, where, cam, "viewrotation", 0.0)
        if view_rotation != 0.0:
            raise ValueError(f"{path}: {where} viewrotation: expected 0 (an unrotated view), got {view_rotation:g}")
        fov = _child(path, where, cam, "fov_video", "fov_marker")
        left, top, right, bottom = (_number(path, where, fov, k) for k in ("left", "top", "right", "bottom"))
        size = np.array([right - left + 1.0, bottom - top + 1.0]) / binning
        if (size <= 0).any() or (size != np.round(size)).any():
            raise ValueError(f"{path}: {where} <{fov.tag}>: expected a whole positive image size, got {size.tolist()}")
        intr = _child(path, where, cam, "intrinsic")
        fu, fv, cu, cv = (_number(path, where, intr, k) for k in _INTRINSIC_KEYS)
        skew = _number(path, where, intr, "skew", 0.0)
        if skew != 0.0:
            raise ValueError(f"{path}: {where} <intrinsic> skew: expected 0, got {skew:g}")
        scale = SUBPIXELS * binning
        k = np.array([fu / scale, fv / scale, cu / scale - left, cv / scale - top])
        if (k[:2] <= 0).any():
            raise ValueError(f"{path}: {where} <intrinsic> focalLength: expected > 0, got {[fu, fv]}")
        d = np.array([_number(path, where, intr, key, 0.0 if key.endswith("3") else None) for key in _DISTORTION_KEYS])
        tr = _child(path, where, cam, "transform")
        m = np.array([_number(path, where, tr, key) for key in _ROTATION_KEYS]).reshape(3, 3)
        c_mm = np.array([_number(path, where, tr, key) for key in ("x", "y", "z")])
        r = _QTM_TO_OPENCV @ m
        err = float(np.abs(r @ r.T - np.eye(3)).max())
        if err > 1e-5 or abs(np.linalg.det(r) - 1.0) > 1e-5:
            raise ValueError(
                f"{path}: {where} <transform> r11..r33: expected a rotation matrix, got "
                f"|M M^T - I| = {err:.3g}, det {np.linalg.det(m):.6g}"
            )
        # re-orthonormalise the 6-7 printed digits so Camera's 1e-6 check holds exactly
        u, _, vt = np.linalg.svd(r)
        names.append(serial)
        fields["K"].append(k)
        fields["D"].append(d / distortion_scale)
        fields["R"].append(u @ vt)
        fields["C"].append(c_mm / 1000.0)
        fields["S"].append(size.astype(np.int64))
    return (
        Camera(
            model=CameraModel.OPENCV,
            intrinsics=np.stack(fields["K"]),
            distortion=np.stack(fields["D"]),
            rotation=np.stack(fields["R"]),
            center=np.stack(fields["C"]),
            image_size=np.stack(fields["S"]),
        ),
        names,
    )


def write_qca(
    cameras: Camera,
    names: Sequence[str],
    path: str | Path,
    *,
    distortion_scale: float = SUBPIXELS,
    overwrite: bool = False,
) -> Path:
    """Write ``opencv`` or ``pinhole`` cameras as a ``.qca.txt`` that :func:`read_qca` reads back.

    Args:
        cameras: :class:`Camera` batch ``(K,)``; metres, world frame as stored.
        names: one unique serial per camera.
        path: the file (written atomically).
        distortion_scale: multiplier of the written distortion (the reader's divisor).
        overwrite: replace an existing file.

    Returns:
        ``path``. Principal point on a sensor whose video window starts at (0, 0).
    """
    path = Path(path)
    if cameras.model not in (CameraModel.OPENCV, CameraModel.PINHOLE) or len(cameras.batch_shape) != 1:
        raise ValueError(
            f"cameras: expected a (K,) batch of opencv or pinhole cameras, got "
            f"{cameras.model.value} {cameras.batch_shape}"
        )
    names = [str(n) for n in names]
    if len(names) != cameras.batch_shape[0] or len(set(names)) != len(names):
        raise ValueError(f"names: expected {cameras.batch_shape[0]} unique names, got {names}")
    root = ET.Element("calibration", {"source": "posesynth", "type": "regular"})
    cams_el = ET.SubElement(root, "cameras")
    for i, name in enumerate(names):
        cam = ET.SubElement(cams_el, "camera", {"active": "1", "serial": name, "model": "none", "viewrotation": "0"})
        w, h = (int(v) for v in cameras.image_size[i])
        ET.SubElement(cam, "fov_video", {"left": "0", "top": "0", "right": str(w - 1), "bottom": str(h - 1)})
        m = _QTM_TO_OPENCV @ cameras.rotation[i]
        attrs = {key: repr(float(v)) for key, v in zip(_ROTATION_KEYS, m.ravel(), strict=True)}
        attrs.update({key: repr(float(v) * 1000.0) for key, v in zip("xyz", cameras.center[i], strict=True)})
        ET.SubElement(cam, "transform", attrs)
        fx, fy, cx, cy = (float(v) * SUBPIXELS for v in cameras.intrinsics[i])
        dist = cameras.distortion[i] if cameras.model == CameraModel.OPENCV else np.zeros(5)
        intr = {
            "focalLengthU": repr(fx),
            "focalLengthV": repr(fy),
            "centerPointU": repr(cx),
            "centerPointV": repr(cy),
            "skew": "0",
        }
        intr.update({key: repr(float(v) * distortion_scale) for key, v in zip(_DISTORTION_KEYS, dist, strict=True)})
        ET.SubElement(cam, "intrinsic", intr)
    ET.indent(root)
    with atomic_path(path, overwrite=overwrite) as tmp:
        ET.ElementTree(root).write(tmp, encoding="ascii", xml_declaration=True)
    return path
