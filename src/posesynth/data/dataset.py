"""``PoseDataset``: the one in-memory form every reader returns and every writer takes.

Samples are rows: ``N`` poses of one skeleton, each seen by one camera of a table of ``K``
cameras (``camera_index`` maps sample → camera). Any of the 3D world, 3D camera and 2D arrays
may be missing (a VideoPose3D 3D file has no 2D; an MMPose file has no world 3D), and
:meth:`PoseDataset.complete` derives what the cameras allow.

Units and frames follow CONVENTIONS.md: metres, world Z up, OpenCV camera frame, pixels with
(0, 0) at the centre of the top-left pixel; readers convert from their file's units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from posesynth.body.skeleton import Skeleton
from posesynth.geometry.camera import Camera, concat_cameras
from posesynth.util.checks import check_shape

_POINT_ARRAYS = {"joints_3d_world": 3, "joints_3d_camera": 3, "joints_2d": 2}
_ID_ARRAYS = ("subject", "action", "frame")


@dataclass(frozen=True, eq=False)
class PoseDataset:
    """Arrays of ``N`` samples of one skeleton, with their cameras and provenance.

    Attributes:
        skeleton: joint layout of every pose (``J`` joints).
        joints_3d_world: (N, J, 3) metres, world frame (Z up), or None.
        joints_3d_camera: (N, J, 3) metres, camera frame (OpenCV), or None.
        joints_2d: (N, J, 2) pixels, or None.
        visibility: (N, J) in [0, 1] (0 = missing / not visible), or None (all visible).
        cameras: a :class:`Camera` batch of shape (K,), or None.
        camera_index: (N,) int in [0, K): the camera of each sample; None when K == N
            (one camera per sample) or when there are no cameras.
        camera_names: (K,) str ids of the cameras (e.g. ``"S1/54138969"``), or None.
        subject, action: (N,) str, or None. frame: (N,) int, or None.
        meta: provenance (source format and files, config, seed, version...), JSON-safe.
        extra: further per-sample arrays (N, ...) a format carries (e.g. ``center``, ``scale``).
    """

    skeleton: Skeleton
    joints_3d_world: np.ndarray | None = None
    joints_3d_camera: np.ndarray | None = None
    joints_2d: np.ndarray | None = None
    visibility: np.ndarray | None = None
    cameras: Camera | None = None
    camera_index: np.ndarray | None = None
    camera_names: np.ndarray | None = None
    subject: np.ndarray | None = None
    action: np.ndarray | None = None
    frame: np.ndarray | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        J = self.skeleton.num_joints
        n = None
        for name, dim in _POINT_ARRAYS.items():
            arr = getattr(self, name)
            if arr is None:
                continue
            arr = check_shape(arr, (J, dim), name)
            if arr.ndim != 3:
                raise ValueError(f"{name}: expected shape (N, {J}, {dim}), got {arr.shape}")
            n = self._same_n(n, arr.shape[0], name)
            object.__setattr__(self, name, arr.astype(np.float64, copy=False))
        if n is None:
            raise ValueError("dataset: expected at least one of joints_3d_world, joints_3d_camera, joints_2d")
        if self.visibility is not None:
            vis = check_shape(self.visibility, (J,), "visibility")
            if vis.shape != (n, J):
                raise ValueError(f"visibility: expected shape ({n}, {J}), got {vis.shape}")
            object.__setattr__(self, "visibility", vis.astype(np.float64, copy=False))
        for name in _ID_ARRAYS:
            arr = getattr(self, name)
            if arr is not None:
                arr = np.asarray(arr)
                if arr.shape != (n,):
                    raise ValueError(f"{name}: expected shape ({n},), got {arr.shape}")
                object.__setattr__(self, name, arr)
        for name, arr in self.extra.items():
            if np.shape(arr)[:1] != (n,):
                raise ValueError(f"extra.{name}: expected {n} rows, got shape {np.shape(arr)}")
        self._check_cameras(n)

    @staticmethod
    def _same_n(n: int | None, m: int, name: str) -> int:
        if n is not None and m != n:
            raise ValueError(f"{name}: expected {n} samples like the other arrays, got {m}")
        return m

    def _check_cameras(self, n: int) -> None:
        if self.cameras is None:
            if self.camera_index is not None:
                raise ValueError("camera_index: given without cameras")
            return
        if len(self.cameras.batch_shape) != 1:
            raise ValueError(f"cameras: expected a 1-D batch (K,), got batch shape {self.cameras.batch_shape}")
        k = self.cameras.batch_shape[0]
        if self.camera_index is None:
            if k != n:
                raise ValueError(f"camera_index: required when there are {k} cameras for {n} samples")
        else:
            idx = np.asarray(self.camera_index)
            if idx.shape != (n,) or idx.dtype.kind not in "iu":
                raise ValueError(f"camera_index: expected ({n},) integers, got {idx.shape} {idx.dtype}")
            if n and (idx.min() < 0 or idx.max() >= k):
                raise ValueError(f"camera_index: expected values in [0, {k}), got range [{idx.min()}, {idx.max()}]")
            object.__setattr__(self, "camera_index", idx.astype(np.int64, copy=False))
        if self.camera_names is not None and np.shape(self.camera_names) != (k,):
            raise ValueError(f"camera_names: expected shape ({k},), got {np.shape(self.camera_names)}")

    def __len__(self) -> int:
        for name in _POINT_ARRAYS:
            arr = getattr(self, name)
            if arr is not None:
                return arr.shape[0]
        return 0  # unreachable: __post_init__ requires one array

    @property
    def num_cameras(self) -> int:
        """K, the number of distinct cameras (0 without cameras)."""
        return 0 if self.cameras is None else self.cameras.batch_shape[0]

    def sample_cameras(self) -> Camera:
        """The camera of every sample, a batch of shape (N,)."""
        if self.cameras is None:
            raise ValueError("dataset: has no cameras")
        return self.cameras if self.camera_index is None else self.cameras[self.camera_index]

    def complete(self) -> PoseDataset:
        """Fill camera-frame 3D from world 3D (or back) and 2D from camera-frame 3D, where cameras allow."""
        if self.cameras is None:
            return self
        cams = self.sample_cameras()
        world, cam, uv = self.joints_3d_world, self.joints_3d_camera, self.joints_2d
        R, C = np.asarray(cams.rotation), np.asarray(cams.center)
        if cam is None and world is not None:
            cam = cams.world_to_camera(world)
        if world is None and cam is not None:
            world = _world_from_camera(cam, R, C)
        if uv is None and cam is not None:
            from posesynth.geometry.camera import project

            uv = project(cams.model, cam, cams.intrinsics, cams.distortion)
        return replace(self, joints_3d_world=world, joints_3d_camera=cam, joints_2d=uv)

    def select(self, index: np.ndarray | slice) -> PoseDataset:
        """The samples ``index`` (boolean mask, integer indices or slice), cameras kept whole."""
        take = lambda a: None if a is None else np.asarray(a)[index]
        cams, cidx = self.cameras, self.camera_index
        if cams is not None and cidx is None:  # one camera per sample: select them too
            cams = cams[np.arange(len(self))[index]]
        return replace(
            self,
            joints_3d_world=take(self.joints_3d_world),
            joints_3d_camera=take(self.joints_3d_camera),
            joints_2d=take(self.joints_2d),
            visibility=take(self.visibility),
            cameras=cams,
            camera_index=take(cidx),
            subject=take(self.subject),
            action=take(self.action),
            frame=take(self.frame),
            extra={k: np.asarray(v)[index] for k, v in self.extra.items()},
            camera_names=self.camera_names if cidx is not None else take(self.camera_names),
        )


def _world_from_camera(cam: np.ndarray, R: np.ndarray, C: np.ndarray) -> np.ndarray:
    """World points ``(N, J, 3)`` metres from camera-frame points ``cam (N, J, 3)`` and each
    sample's world->camera ``R (N, 3, 3)`` and centre ``C (N, 3)``: ``R^T cam + C``.

    Each coordinate is the three products summed in row order, then ``C`` added, whatever
    the arrays' memory layout (``np.einsum``, used before, summed differently for strided
    inputs: up to 1 ulp apart). Compiled in one pass when Numba is on (the same bits; a
    reader's million frames took seconds through ``einsum``)."""
    from posesynth.util.jit import numba_enabled

    cam = np.asarray(cam, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    C = np.asarray(C, dtype=np.float64)
    if numba_enabled() and cam.ndim == 3 and R.shape == (len(cam), 3, 3) and C.shape == (len(cam), 3):
        from posesynth.geometry import _kernels

        world = np.empty(cam.shape)
        _kernels.camera_to_world(cam, R, C, world)  # any strides: a reader's column slice is not copied
        return world
    world = cam[..., 0:1] * R[:, None, 0, :]
    world += cam[..., 1:2] * R[:, None, 1, :]
    world += cam[..., 2:3] * R[:, None, 2, :]
    world += C[:, None, :]
    return world


def concat_datasets(parts: Sequence[PoseDataset], meta: Mapping[str, Any] | None = None) -> PoseDataset:
    """The samples of ``parts`` one after the other, as one :class:`PoseDataset`.

    Every part must have the same skeleton (by name and parents), the same arrays, the same
    ``extra`` names, and cameras of one kind: one camera per sample (concatenated) or the same
    camera table object (its ``camera_index`` arrays concatenated). ``meta`` defaults to the
    first part's.

    Raises:
        ValueError: for no parts or parts that differ in any of the above.
    """
    parts = list(parts)
    if not parts:
        raise ValueError("datasets: expected at least one PoseDataset to concatenate")
    first = parts[0]
    for i, part in enumerate(parts[1:], 1):
        if part.skeleton.to_dict() != first.skeleton.to_dict():
            raise ValueError(f"datasets[{i}]: skeleton {part.skeleton.name!r} differs from {first.skeleton.name!r}")
        if sorted(part.extra) != sorted(first.extra):
            raise ValueError(f"datasets[{i}]: extra arrays {sorted(part.extra)} differ from {sorted(first.extra)}")
        for name in (*_POINT_ARRAYS, "visibility", *_ID_ARRAYS, "camera_index"):
            if (getattr(part, name) is None) != (getattr(first, name) is None):
                raise ValueError(f"datasets[{i}]: {name} is present in some parts and missing in others")
        if (part.cameras is None) != (first.cameras is None) or (
            first.camera_index is not None and part.cameras is not first.cameras
        ):
            raise ValueError(f"datasets[{i}]: cameras differ (expected per-sample cameras or one shared table)")

    def cat(name: str) -> np.ndarray | None:
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else np.concatenate(values)

    cameras, names = first.cameras, first.camera_names
    if cameras is not None and first.camera_index is None:
        cameras = concat_cameras([p.cameras for p in parts])  # type: ignore[misc]
        names = cat("camera_names")
    return PoseDataset(
        skeleton=first.skeleton,
        **{name: cat(name) for name in (*_POINT_ARRAYS, "visibility", *_ID_ARRAYS, "camera_index")},
        cameras=cameras,
        camera_names=names,
        meta=dict(first.meta if meta is None else meta),
        extra={k: np.concatenate([p.extra[k] for p in parts]) for k in first.extra},
    )
