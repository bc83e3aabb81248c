"""``Camera``: a batch of cameras of one model - intrinsics, distortion, pose, image size.

Conventions: world frame right-handed, Z up, metres; camera frame OpenCV (x right, y down,
z forward); ``X_cam = R @ (X_world - C)`` with ``rotation`` R world->camera and ``center`` C
in the world; pixels with (0, 0) at the centre of the top-left pixel. Every field has the same
leading "batch" shape ``(...)``; world points ``(..., J, 3)`` broadcast against it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from posesynth.geometry.camera import extrinsics, visibility
from posesynth.geometry.camera.models import CameraModel, model_module
from posesynth.util.checks import check_finite, check_shape

_ROTATION_TOL = 1e-6
#: The dtypes :meth:`Camera.observe_stored` writes in one compiled pass.
_STORED_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Camera:
    """A batch of cameras sharing one projection model (immutable; arrays are read-only).

    Attributes:
        model: the projection model.
        intrinsics: ``(..., 4)`` ``(fx, fy, cx, cy)``, pixels.
        distortion: ``(..., D)`` in the model's order (``model.distortion_names``).
        rotation: ``(..., 3, 3)`` world->camera rotation (orthonormal, det +1).
        center: ``(..., 3)`` camera centre, world frame, metres.
        image_size: ``(..., 2)`` int ``(width, height)``, pixels.

    Fields may be given with broadcastable leading dims; they are broadcast to one batch
    shape and copied (float64; image_size int64). ``distortion=None`` means all zero.
    """

    model: CameraModel
    intrinsics: np.ndarray
    distortion: np.ndarray
    rotation: np.ndarray
    center: np.ndarray
    image_size: np.ndarray

    def __post_init__(self) -> None:
        model = CameraModel.parse(self.model)
        intrinsics, distortion = model_module(model).validate(self.intrinsics, self.distortion)
        rotation = check_finite(check_shape(self.rotation, (3, 3), "rotation"), "rotation")
        center = check_finite(check_shape(self.center, (3,), "center"), "center")
        image_size = _check_image_size(self.image_size)
        shapes = {
            "intrinsics": intrinsics.shape[:-1],
            "distortion": distortion.shape[:-1],
            "rotation": rotation.shape[:-2],
            "center": center.shape[:-1],
            "image_size": image_size.shape[:-1],
        }
        try:
            batch = np.broadcast_shapes(*shapes.values())
        except ValueError:
            got = ", ".join(f"{k} {v}" for k, v in shapes.items())
            raise ValueError(f"Camera: expected fields with broadcastable leading (batch) dims, got {got}") from None
        _check_rotation(rotation)

        def full(arr: np.ndarray, trailing: tuple[int, ...], dtype: type) -> np.ndarray:
            return _frozen(np.array(np.broadcast_to(arr, batch + trailing), dtype=dtype))

        object.__setattr__(self, "model", model)
        object.__setattr__(self, "intrinsics", full(intrinsics, (4,), np.float64))
        object.__setattr__(self, "distortion", full(distortion, (model.distortion_size,), np.float64))
        object.__setattr__(self, "rotation", full(rotation, (3, 3), np.float64))
        object.__setattr__(self, "center", full(center, (3,), np.float64))
        object.__setattr__(self, "image_size", full(image_size, (2,), np.int64))

    # ----------------------------------------------------------------- batch handling
    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading shape ``(...)`` shared by every field."""
        return self.intrinsics.shape[:-1]

    def __len__(self) -> int:
        if not self.batch_shape:
            raise TypeError("len() of an unbatched Camera (batch shape ())")
        return self.batch_shape[0]

    def __getitem__(self, index: Any) -> Camera:
        """Index the batch dims (int, slice, integer/bool array, or a tuple of those)."""
        parts = index if isinstance(index, tuple) else (index,)
        dims = sum(p.ndim if isinstance(p, np.ndarray) and p.dtype == bool else 1 for p in parts)
        if any(p is Ellipsis or p is None for p in parts) or dims > len(self.batch_shape):
            raise IndexError(
                f"Camera: index must address at most the {len(self.batch_shape)} batch dims "
                f"{self.batch_shape} without Ellipsis/None, got {index!r}"
            )
        return Camera(
            model=self.model,
            intrinsics=self.intrinsics[index],
            distortion=self.distortion[index],
            rotation=self.rotation[index],
            center=self.center[index],
            image_size=self.image_size[index],
        )

    # ---------------------------------------------------------------------- geometry
    def world_to_camera(self, p_world: np.ndarray) -> np.ndarray:
        """``p_world (..., J, 3)`` world metres -> ``p_cam (..., J, 3)`` camera frame, metres."""
        return extrinsics.world_to_camera(p_world, self.rotation, self.center)

    def project_world(self, p_world: np.ndarray) -> np.ndarray:
        """``p_world (..., J, 3)`` world metres -> ``uv_px (..., J, 2)`` pixels."""
        fused = self._project_world_compiled(p_world, keep_cam=False)
        if fused is not None:
            return fused[1]
        p_cam = self.world_to_camera(p_world)
        return model_module(self.model).project(p_cam, self.intrinsics, self.distortion)

    def observe(
        self,
        p_world: np.ndarray,
        min_depth: float = 1e-6,
        max_half_fov: np.ndarray | float | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Everything a data set keeps of world points seen by these cameras, in one pass.

        Args:
            p_world: ``(..., J, 3)`` world frame, metres.
            min_depth, max_half_fov: as in :meth:`visible`.

        Returns:
            ``(p_cam (..., J, 3) metres, uv_px (..., J, 2) pixels, visible (..., J) bool)``,
            the same values as :meth:`world_to_camera`, :meth:`project_world` and
            :meth:`visible`, each point transformed and projected once.
        """
        fused = self._project_world_compiled(p_world)
        if fused is None:
            p_cam = self.world_to_camera(p_world)
            uv_px = model_module(self.model).project(p_cam, self.intrinsics, self.distortion)
        else:
            kept, uv_px = fused
            assert kept is not None  # keep_cam defaults to True: p_cam is returned
            p_cam = kept
        seen = visibility.visible(p_cam, uv_px, self.model, self.image_size, min_depth, max_half_fov)
        return p_cam, uv_px, seen

    def observe_stored(
        self, p_world: np.ndarray, dtype: DTypeLike, min_depth: float = 1e-6
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`observe` as a compact store keeps it, for a store writer.

        Args:
            p_world: ``(..., J, 3)`` world frame, metres.
            dtype: the float dtype the points are kept in.
            min_depth: as in :meth:`visible` (no field-of-view limit).

        Returns:
            ``(p_world, p_cam, uv_px, visible)``: the points ``(..., J, 3)``, camera frame
            ``(..., J, 3)`` metres and pixels ``(..., J, 2)`` in ``dtype``, and ``visible
            (..., J)`` as uint8 0/1; the values of ``p_world.astype(dtype)`` and of
            :meth:`observe`'s arrays cast to ``dtype`` and uint8 (``p_world`` itself when it
            already is ``dtype``). The perspective models take one compiled pass that
            writes these arrays directly, with no float64 arrays in between.
        """
        dtype = np.dtype(dtype)
        min_depth = visibility.check_min_depth(min_depth)
        fused = self._observe_stored_compiled(p_world, dtype, min_depth)
        if fused is not None:
            return fused
        p_cam, uv_px, seen = self.observe(p_world, min_depth)
        points = np.asarray(p_world).astype(dtype, copy=False)
        return points, p_cam.astype(dtype, copy=False), uv_px.astype(dtype, copy=False), seen.astype(np.uint8)

    def _observe_stored_compiled(
        self, p_world: np.ndarray, dtype: np.dtype, min_depth: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """:meth:`observe_stored` from the compiled kernel, or None (Numba off, fisheye, a
        dtype other than float32/float64, or batch dims that need NumPy broadcasting)."""
        from posesynth.geometry import _kernels
        from posesynth.util.jit import numba_enabled

        if not numba_enabled() or self.model is CameraModel.FISHEYE or dtype not in _STORED_FLOATS:
            return None
        p_world = check_shape(p_world, (None, 3), "p_world")
        flat = _kernels.flat_batch(
            p_world,
            (self.rotation, 2), (self.center, 1), (self.intrinsics, 1), (self.distortion, 1), (self.image_size, 1),
        )  # fmt: skip
        if flat is None:
            return None
        points, R, C, intr, dist, size = flat
        keep = dtype != points.dtype
        world = np.empty(points.shape if keep else (0, 0, 3), dtype)
        p_cam, uv_px = np.empty(points.shape, dtype), np.empty(points.shape[:-1] + (2,), dtype)
        seen = np.empty(points.shape[:-1], np.uint8)
        code = _kernels.MODEL_CODES[self.model.value]
        _kernels.observe_stored(code, points, R, C, intr, dist, size, min_depth, world, p_cam, uv_px, seen)
        lead = p_world.shape[:-1]
        return (
            world.reshape(p_world.shape) if keep else p_world,
            p_cam.reshape(p_world.shape),
            uv_px.reshape(lead + (2,)),
            seen.reshape(lead),
        )

    def _project_world_compiled(
        self, p_world: np.ndarray, keep_cam: bool = True
    ) -> tuple[np.ndarray | None, np.ndarray] | None:
        """``(p_cam, uv_px)`` from the fused compiled kernel (``p_cam`` None unless
        ``keep_cam``), or None (Numba off, or batch dims that need NumPy broadcasting)."""
        from posesynth.geometry import _kernels
        from posesynth.util.jit import numba_enabled

        if not numba_enabled():
            return None
        p_world = check_shape(p_world, (None, 3), "p_world")
        flat = _kernels.flat_batch(
            p_world, (self.rotation, 2), (self.center, 1), (self.intrinsics, 1), (self.distortion, 1)
        )
        if flat is None:
            return None
        points, R, C, intr, dist = flat
        p_cam = np.empty(points.shape if keep_cam else (0, 0, 3))
        uv_px = np.empty(points.shape[:-1] + (2,))
        code = _kernels.MODEL_CODES[self.model.value]
        _kernels.project_world(code, points, R, C, intr, dist, keep_cam, p_cam, uv_px)
        return p_cam.reshape(p_world.shape) if keep_cam else None, uv_px.reshape(p_world.shape[:-1] + (2,))

    def visible(
        self,
        p_world: np.ndarray,
        min_depth: float = 1e-6,
        max_half_fov: np.ndarray | float | None = None,
    ) -> np.ndarray:
        """``(..., J)`` bool: in front of the camera (per model) and inside the image.

        See :func:`posesynth.geometry.camera.visibility.visible`; ``p_world (..., J, 3)`` metres.
        """
        return self.observe(p_world, min_depth, max_half_fov)[2]

    # ----------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (lists of Python floats/ints); ``from_dict`` restores it exactly."""
        return {
            "model": self.model.value,
            "batch_shape": list(self.batch_shape),
            "intrinsics": self.intrinsics.tolist(),
            "distortion": self.distortion.tolist(),
            "distortion_names": list(self.model.distortion_names),
            "rotation": self.rotation.tolist(),
            "center": self.center.tolist(),
            "image_size": self.image_size.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Camera:
        """Inverse of :meth:`to_dict` (``batch_shape`` and ``distortion_names`` optional)."""
        model, fields = camera_fields_from_dict(data)
        return cls(model=model, **fields)


def camera_fields_from_dict(data: Mapping[str, Any]) -> tuple[CameraModel, dict[str, np.ndarray]]:
    """The model and field arrays :meth:`Camera.from_dict` makes a ``Camera`` of, before the
    ``Camera``'s own checks (a reader that checks many such dicts as one batch uses this)."""
    required = ("model", "intrinsics", "distortion", "rotation", "center", "image_size")
    missing = [k for k in required if k not in data]
    if missing:
        raise ValueError(f"Camera.from_dict: expected keys {list(required)}, missing {missing}")
    model = CameraModel.parse(data["model"])
    names = data.get("distortion_names")
    if names is not None and tuple(names) != model.distortion_names:
        raise ValueError(
            f"distortion_names: expected {list(model.distortion_names)} for model {model.value}, got {list(names)}"
        )
    fields: dict[str, np.ndarray] = {}
    batch = data.get("batch_shape")
    for key, tail in camera_field_tails(model).items():
        arr = np.asarray(data[key])
        if batch is not None and arr.size == 0:  # empty lists lose their shape in JSON
            arr = arr.reshape(tuple(batch) + tail)
        fields[key] = arr
    return model, fields


def camera_field_tails(model: CameraModel) -> dict[str, tuple[int, ...]]:
    """Each field's trailing shape (after the batch dims) for cameras of ``model``."""
    return {
        "intrinsics": (4,),
        "distortion": (model.distortion_size,),
        "rotation": (3, 3),
        "center": (3,),
        "image_size": (2,),
    }


def stack_cameras(cameras: Sequence[Camera]) -> Camera:
    """Stack cameras of one model and one batch shape ``(...)`` into a batch ``(N, ...)``.

    Raises:
        ValueError: for an empty sequence, mixed models or mixed batch shapes.
    """
    cameras = list(cameras)
    if not cameras:
        raise ValueError("cameras: expected at least one Camera, got an empty sequence")
    models = {c.model for c in cameras}
    if len(models) > 1:
        raise ValueError(f"cameras: expected one model, got {sorted(m.value for m in models)}")
    shapes = {c.batch_shape for c in cameras}
    if len(shapes) > 1:
        raise ValueError(f"cameras: expected one batch shape, got {sorted(shapes)}")
    return Camera(
        model=cameras[0].model,
        intrinsics=np.stack([c.intrinsics for c in cameras]),
        distortion=np.stack([c.distortion for c in cameras]),
        rotation=np.stack([c.rotation for c in cameras]),
        center=np.stack([c.center for c in cameras]),
        image_size=np.stack([c.image_size for c in cameras]),
    )


def concat_cameras(cameras: Sequence[Camera]) -> Camera:
    """Concatenate 1-D camera batches ``(K_i,)`` of one model into one batch ``(sum K_i,)``.

    Raises:
        ValueError: for an empty sequence, mixed models or a batch that is not 1-D.
    """
    cameras = list(cameras)
    if not cameras:
        raise ValueError("cameras: expected at least one Camera, got an empty sequence")
    models = {c.model for c in cameras}
    if len(models) > 1:
        raise ValueError(f"cameras: expected one model, got {sorted(m.value for m in models)}")
    if any(len(c.batch_shape) != 1 for c in cameras):
        raise ValueError(f"cameras: expected 1-D batches, got {[c.batch_shape for c in cameras]}")
    return Camera(
        model=cameras[0].model,
        **{
            f: np.concatenate([getattr(c, f) for c in cameras])
            for f in ("intrinsics", "distortion", "rotation", "center", "image_size")
        },
    )


def _check_image_size(image_size: np.ndarray) -> np.ndarray:
    arr = check_finite(check_shape(image_size, (2,), "image_size"), "image_size")
    if (arr != np.round(arr)).any() or (arr <= 0).any():
        bad = arr[(arr != np.round(arr)) | (arr <= 0)].ravel()[:4].tolist()
        raise ValueError(f"image_size: expected positive integers (width, height), got {bad}")
    return arr.astype(np.int64)


def _check_rotation(rotation: np.ndarray) -> None:
    from posesynth.geometry import _kernels
    from posesynth.util.jit import numba_enabled

    if numba_enabled() and rotation.ndim >= 3:  # one pass instead of matmul + LU per camera
        flat = rotation.reshape(-1, 3, 3)
        err: np.ndarray = np.empty(len(flat))
        det: np.ndarray = np.empty(len(flat))
        _kernels.rotation_errors(flat, err, det)
        err, det = err.reshape(rotation.shape[:-2]), det.reshape(rotation.shape[:-2])
    else:
        gram = np.matmul(rotation, np.swapaxes(rotation, -1, -2))
        err = np.abs(gram - np.eye(3)).max(axis=(-2, -1))
        det = np.linalg.det(rotation)
    bad = (err > _ROTATION_TOL) | (np.abs(det - 1.0) > _ROTATION_TOL)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
        raise ValueError(
            "rotation: expected orthonormal matrices with det +1 (within "
            f"{_ROTATION_TOL:g}), got |R R^T - I| = {float(np.asarray(err)[index]):.3g} and "
            f"det = {float(np.asarray(det)[index]):.9g} at batch index {index}"
        )
