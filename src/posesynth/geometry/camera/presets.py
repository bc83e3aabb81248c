"""Human3.6M camera presets: the four cameras' intrinsics and the subjects' extrinsics.

Numbers are those of the dataset's calibration metadata (``metadata.xml``, as read by the
dataset's own code and 3d-pose-baseline); they agree with VideoPose3D's
``h36m_cameras_intrinsic_params`` / ``h36m_cameras_extrinsic_params`` (float32 copies) to
float32 precision, except that VideoPose3D lists the tangential coefficients swapped as
``(p2, p1)``.

Conversions made here, at the edge:
- distortion is stored in OpenCV's order ``(k1, k2, p1, p2, k3)`` for the ``h36m`` model;
- the metadata's rotation is three angles ``(a, b, c)`` with ``R = Rx(a) @ Ry(b) @ Rz(c)``
  world->camera, and its translation is the camera centre in millimetres, so
  ``X_cam = R @ (X_world - C)`` with ``C`` = translation / 1000 in metres - our convention.
  (VideoPose3D stores the camera->world quaternion (w, x, y, z), i.e. ``R.T``.)
- image size is ``(width, height)``: 1000 x 1002 for 54138969 and 60457274, 1000 x 1000
  for the other two.

World frame: Human3.6M's, Z up, metres.
"""

from __future__ import annotations

import numpy as np

from posesynth.geometry.camera.camera import Camera
from posesynth.geometry.camera.models import CameraModel

#: The four Human3.6M camera ids, in the dataset's order (cameras 1-4).
H36M_CAMERA_IDS: tuple[str, ...] = ("54138969", "55011271", "58860488", "60457274")

#: Subjects with published data and calibration.
H36M_SUBJECTS: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8", "S9", "S11")

# camera id -> ((fx, fy, cx, cy) px, (k1, k2, p1, p2, k3), (width, height) px)
_INTRINSICS: dict[str, tuple[tuple[float, ...], tuple[float, ...], tuple[int, int]]] = {
    "54138969": (
        (1145.04940458804, 1143.78109572365, 512.541504956548, 515.4514869776),
        (-0.207098910824901, 0.247775183068982, -0.00142447157470321, -0.000975698859470499, -0.00307515035078854),
        (1000, 1002),
    ),
    "55011271": (
        (1149.67569986785, 1147.59161666764, 508.848621645943, 508.064917088557),
        (-0.194213629607385, 0.240408539138292, -0.0027408943961907, -0.001619026613787, 0.00681997559022603),
        (1000, 1000),
    ),
    "58860488": (
        (1149.14071676148, 1148.7989685676, 519.815837182153, 501.402658888552),
        (-0.208338188251856, 0.255488007488945, -0.000759999321030303, 0.00148438698385668, -0.00246049749891915),
        (1000, 1000),
    ),
    "60457274": (
        (1145.51133842318, 1144.77392807652, 514.968197319863, 501.882018537695),
        (-0.198384093827848, 0.218323676298049, -0.00181336200488089, -0.000587205583421232, -0.00894780704152122),
        (1000, 1002),
    ),
}
# subject -> per camera (in H36M_CAMERA_IDS order): ((a, b, c) radians, camera centre mm)
_EXTRINSICS: dict[str, tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]] = {
    "S1": (
        (
            (-1.38382776045614, -3.16734304390158, 0.413636308164621),
            (1841.10702774543, 4955.28462344526, 1563.4453958977),
        ),
        (
            (-1.35517119070383, 3.13934427144743, 2.76026318023792),
            (1761.27853428116, -5078.00659454077, 1606.2649598335),
        ),
        (
            (-1.35460453835517, -3.09585375458873, -0.415010681416711),
            (-1846.7776610084, 5215.04650469073, 1491.97246576518),
        ),
        (
            (-1.29084725708861, -3.20353825281863, -2.72857298700043),
            (-1794.78972871109, -3722.69891503676, 1574.89272604599),
        ),
    ),
    "S5": (
        (
            (-1.37617713453938, -3.16256766548869, 0.440809992980791),
            (2097.39151027444, 4880.94465755369, 1605.73247183927),
        ),
        (
            (-1.3563050564389, 3.12931805155389, 2.74473744708868),
            (2031.70078497138, -5167.93301206581, 1612.92305082439),
        ),
        (
            (-1.3562743457011, -3.07982159789068, -0.382865371867181),
            (-1620.59486278793, 5171.65873305247, 1496.43704696787),
        ),
        (
            (-1.31332016240395, -3.22574515339158, -2.75330005891557),
            (-1637.17374540766, -3867.31734917197, 1547.03325638793),
        ),
    ),
    "S6": (
        (
            (-1.37384065585639, -3.14962908578124, 0.415338270470213),
            (1935.45174694685, 4950.24580396107, 1618.08381523153),
        ),
        (
            (-1.35273482943409, 3.12306622510911, 2.73860727855607),
            (1969.80390766216, -5128.73876071113, 1632.77883867694),
        ),
        (
            (-1.36295424416142, -3.07297741832933, -0.405919808477019),
            (-1769.59647655694, 5185.36115454991, 1476.99340929046),
        ),
        (
            (-1.31574861632979, -3.23364633451714, -2.74452670528462),
            (-1721.66874978818, -3884.13134701978, 1540.48790236846),
        ),
    ),
    "S7": (
        (
            (-1.3767900857079, -3.1563455676984, 0.437827264451112),
            (1974.51295625891, 4926.35446379868, 1597.83264487845),
        ),
        (
            (-1.35115947363283, 3.12541720944921, 2.7424245004417),
            (1937.0584290357, -5119.78981556288, 1631.56648087072),
        ),
        (
            (-1.36202017323371, -3.07639612744257, -0.385859472962769),
            (-1741.81111844229, 5208.24936307788, 1464.82464578145),
        ),
        (
            (-1.31229903526751, -3.23226714486797, -2.75617673343893),
            (-1734.71057764601, -3832.42135394085, 1548.58303462156),
        ),
    ),
    "S8": (
        (
            (-1.37729100357321, -3.16179684618815, 0.423258143295384),
            (2150.65184102118, 4896.16095051376, 1611.90470612013),
        ),
        ((-1.35529597940683, 3.129067978444, 2.7681840012377), (2219.9656703358, -5148.45307557174, 1613.04401647351)),
        (
            (-1.35633305520994, -3.07903933034276, -0.395738228536372),
            (-1571.22149997798, 5137.01858150498, 1498.17612798791),
        ),
        (
            (-1.31261466850986, -3.22669130539521, -2.76803843215725),
            (-1476.91338239988, -3896.7411238582, 1547.97220703876),
        ),
    ),
    "S9": (
        (
            (-1.38660153616472, -3.18292551468494, 0.441478757753939),
            (2044.45852504166, 4935.11727984793, 1481.22752752863),
        ),
        ((-1.36358353731923, 3.1489218957052, 2.7695783975645), (1990.9596621548, -5123.81055155997, 1568.80481574437)),
        (
            (-1.34888172298336, -3.102960692595, -0.382788963877425),
            (-1670.99215489414, 5211.98574196124, 1528.38799771705),
        ),
        (
            (-1.30216364078597, -3.20525794988117, -2.73209048976503),
            (-1696.04347097168, -3827.09988628541, 1591.41272727883),
        ),
    ),
    "S11": (
        (
            (-1.38253857374534, -3.18032944555565, 0.435684449022933),
            (2098.44023766473, 4926.55465688236, 1500.2785741283),
        ),
        (
            (-1.3670893792209, 3.14300994840839, 2.74314804826489),
            (2083.18240070009, -4912.17282366308, 1561.0785790774),
        ),
        (
            (-1.33953525239742, -3.10064240051082, -0.434419468030056),
            (-1609.81534310074, 5177.33597262935, 1537.89671533582),
        ),
        (
            (-1.3052820100275, -3.20681865219712, -2.73759301328735),
            (-1590.73799072229, -3854.16900368964, 1578.01760714384),
        ),
    ),
}


def _camera_key(camera_id: str | int) -> str:
    key = str(camera_id).strip()
    if key not in _INTRINSICS:
        raise ValueError(f"camera_id: expected one of {list(H36M_CAMERA_IDS)}, got {camera_id!r}")
    return key


def _subject_key(subject: str | int) -> str:
    key = f"S{subject}" if isinstance(subject, int) else str(subject).strip().upper()
    if key not in _EXTRINSICS:
        raise ValueError(f"subject: expected one of {list(H36M_SUBJECTS)}, got {subject!r}")
    return key


def _euler_xyz_matrix(angles: tuple[float, ...]) -> np.ndarray:
    """``Rx(a) @ Ry(b) @ Rz(c)`` for ``angles = (a, b, c)`` radians; ``(3, 3)``."""
    ca, cb, cc = np.cos(angles)
    sa, sb, sc = np.sin(angles)
    rx = np.array([[1.0, 0.0, 0.0], [0.0, ca, -sa], [0.0, sa, ca]])
    ry = np.array([[cb, 0.0, sb], [0.0, 1.0, 0.0], [-sb, 0.0, cb]])
    rz = np.array([[cc, -sc, 0.0], [sc, cc, 0.0], [0.0, 0.0, 1.0]])
    return rx @ ry @ rz


def h36m_camera_intrinsics(camera_id: str | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Published intrinsics of one Human3.6M camera.

    Args:
        camera_id: one of :data:`H36M_CAMERA_IDS` (str or int).

    Returns:
        ``intrinsics (4,)`` ``(fx, fy, cx, cy)`` pixels, ``distortion (5,)``
        ``(k1, k2, p1, p2, k3)`` for the ``h36m`` model, ``image_size (2,)`` int
        ``(width, height)`` pixels.
    """
    intrinsics, distortion, size = _INTRINSICS[_camera_key(camera_id)]
    return np.array(intrinsics), np.array(distortion), np.array(size, dtype=np.int64)


def h36m_camera_extrinsics(subject: str | int, camera_id: str | int) -> tuple[np.ndarray, np.ndarray]:
    """Published extrinsics of one camera in one subject's sessions.

    Args:
        subject: one of :data:`H36M_SUBJECTS` (``"S1"`` or ``1``).
        camera_id: one of :data:`H36M_CAMERA_IDS`.

    Returns:
        ``R (3, 3)`` world->camera rotation and ``C (3,)`` camera centre, world frame (Z up),
        metres: ``X_cam = R @ (X_world - C)``.
    """
    angles, center_mm = _EXTRINSICS[_subject_key(subject)][H36M_CAMERA_IDS.index(_camera_key(camera_id))]
    return _euler_xyz_matrix(angles), np.array(center_mm) / 1000.0


def h36m_camera(camera_id: str | int, rotation: np.ndarray, center: np.ndarray) -> Camera:
    """A ``Camera`` of model ``h36m`` with a preset's intrinsics and the given pose.

    Args:
        camera_id: one of :data:`H36M_CAMERA_IDS`.
        rotation: ``(..., 3, 3)`` world->camera rotation.
        center: ``(..., 3)`` camera centre, world frame, metres.

    Returns:
        ``Camera`` with batch shape that of ``rotation``/``center`` (broadcast).
    """
    intrinsics, distortion, image_size = h36m_camera_intrinsics(camera_id)
    return Camera(
        model=CameraModel.H36M,
        intrinsics=intrinsics,
        distortion=distortion,
        rotation=rotation,
        center=center,
        image_size=image_size,
    )


def h36m_subject_cameras(subject: str | int) -> Camera:
    """The four calibrated cameras of one subject's sessions, batch shape ``(4,)``.

    In :data:`H36M_CAMERA_IDS` order; model ``h36m``; world frame Z up, metres.
    """
    poses = [h36m_camera_extrinsics(subject, cid) for cid in H36M_CAMERA_IDS]
    intr = [h36m_camera_intrinsics(cid) for cid in H36M_CAMERA_IDS]
    return Camera(
        model=CameraModel.H36M,
        intrinsics=np.stack([i[0] for i in intr]),
        distortion=np.stack([i[1] for i in intr]),
        rotation=np.stack([p[0] for p in poses]),
        center=np.stack([p[1] for p in poses]),
        image_size=np.stack([i[2] for i in intr]),
    )
