"""Skeletons as data: joint names, a parent tree, and left/right pairs.

A :class:`Skeleton` is an immutable description of a kinematic tree. Joint 0 is the root
(parent ``-1``) and every other joint's parent has a smaller index, so one pass in index
order (or one vectorised step per tree level, see :attr:`Skeleton.levels`) visits parents
before children. ``left`` and ``right`` list mirrored joints pairwise (``left[i]`` mirrors
``right[i]``); :attr:`Skeleton.flip_permutation` swaps them.

Two layouts ship with the package (see ``docs/CONVENTIONS.md``):

``H36M17``
    The Human3.6M 17-joint skeleton in MMPose / VideoPose3D order. Joints 1-3 are the
    **right** leg, as in Human3.6M's metadata.
``H36M_EXTENDED``
    The same 17 joints first, in the same order (``[:17]`` is H36M-17), then 15 extra
    keypoints: per foot big toe, small toe and heel (children of the ankle), per hand the
    middle fingertip (``hand_tip``) and thumb tip (children of the wrist), and the face
    (nose, eyes, ears; children of the head, joint 10).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

__all__ = [
    "H36M17",
    "H36M_EXTENDED",
    "Skeleton",
    "get_skeleton",
    "skeleton_names",
]

_FIELDS = ("name", "joint_names", "parents", "left", "right")


def _as_int_tuple(values: Any, field: str) -> tuple[int, ...]:
    """Coerce a sequence of integers (Python or NumPy) to a tuple of ``int``."""
    try:
        items = tuple(values)
    except TypeError:
        raise ValueError(f"Skeleton.{field}: expected a sequence of integers, got {type(values).__name__}") from None
    out = []
    for k, v in enumerate(items):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"Skeleton.{field}: expected integers, got {v!r} ({type(v).__name__}) at position {k}")
        out.append(int(v))
    return tuple(out)


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class Skeleton:
    """An immutable kinematic tree.

    Attributes:
        name: identifier of the layout (e.g. ``"h36m17"``).
        joint_names: one unique, non-empty name per joint.
        parents: parent index per joint; ``parents[0] == -1`` (the root) and
            ``0 <= parents[j] < j`` for every other joint.
        left: joints on the subject's left side, paired with ``right``.
        right: the mirror of each ``left`` joint, same length and order.

    Lists and NumPy integer arrays are accepted and stored as tuples of ``int``.
    Invalid input raises ``ValueError`` naming the field and what was expected.
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    left: tuple[int, ...] = ()
    right: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Skeleton.name: expected a non-empty string, got {self.name!r}")
        try:
            names = tuple(self.joint_names)
        except TypeError:
            raise ValueError(
                f"Skeleton.joint_names: expected a sequence of strings, got {type(self.joint_names).__name__}"
            ) from None
        for k, n in enumerate(names):
            if not isinstance(n, str) or not n:
                raise ValueError(f"Skeleton.joint_names: expected non-empty strings, got {n!r} at position {k}")
        if not names:
            raise ValueError("Skeleton.joint_names: expected at least one joint, got none")
        seen: dict[str, int] = {}
        for k, n in enumerate(names):
            if n in seen:
                raise ValueError(
                    f"Skeleton.joint_names: expected unique names, got {n!r} at positions {seen[n]} and {k}"
                )
            seen[n] = k
        parents = _as_int_tuple(self.parents, "parents")
        left = _as_int_tuple(self.left, "left")
        right = _as_int_tuple(self.right, "right")
        n_j = len(names)
        if len(parents) != n_j:
            raise ValueError(f"Skeleton.parents: expected one parent per joint ({n_j}), got {len(parents)}")
        if parents[0] != -1:
            raise ValueError(f"Skeleton.parents: expected -1 for the root (joint 0), got {parents[0]}")
        for j in range(1, n_j):
            p = parents[j]
            if not 0 <= p < j:
                raise ValueError(
                    f"Skeleton.parents: expected 0 <= parent < child for joint {j} "
                    f"({names[j]!r}), got parent {p} (parents must precede their children; "
                    "this also rules out cycles and a second root)"
                )
        if len(left) != len(right):
            raise ValueError(
                f"Skeleton.left/right: expected paired lists of equal length, got "
                f"{len(left)} left and {len(right)} right"
            )
        for field, idx in (("left", left), ("right", right)):
            for i in idx:
                if not 0 <= i < n_j:
                    raise ValueError(f"Skeleton.{field}: expected joint indices in [0, {n_j}), got {i}")
            if len(set(idx)) != len(idx):
                dup = sorted({i for i in idx if idx.count(i) > 1})
                raise ValueError(f"Skeleton.{field}: expected unique indices, got repeats {dup}")
        both = sorted(set(left) & set(right))
        if both:
            raise ValueError(f"Skeleton.left/right: expected disjoint sides, got joints {both} on both")
        object.__setattr__(self, "joint_names", names)
        object.__setattr__(self, "parents", parents)
        object.__setattr__(self, "left", left)
        object.__setattr__(self, "right", right)

    # ------------------------------------------------------------------ lookups
    @property
    def num_joints(self) -> int:
        """Number of joints ``J``."""
        return len(self.joint_names)

    @cached_property
    def _name_to_index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.joint_names)}

    def index(self, name: str) -> int:
        """Index of joint ``name``; ``ValueError`` listing the valid names if unknown."""
        try:
            return self._name_to_index[name]
        except (KeyError, TypeError):
            raise ValueError(
                f"Skeleton {self.name!r}: unknown joint {name!r}; valid names are {list(self.joint_names)}"
            ) from None

    def indices(self, names: Iterable[str]) -> tuple[int, ...]:
        """Indices of several joints, in the order given."""
        if isinstance(names, str):
            raise ValueError(f"Skeleton.indices: expected a sequence of joint names, got the string {names!r}")
        return tuple(self.index(n) for n in names)

    def children(self, j: int) -> tuple[int, ...]:
        """Direct children of joint ``j`` in increasing index order."""
        j = self._check_joint(j)
        return tuple(k for k, p in enumerate(self.parents) if p == j)

    def _check_joint(self, j: Any) -> int:
        if isinstance(j, bool) or not isinstance(j, (int, np.integer)) or not 0 <= j < self.num_joints:
            raise ValueError(f"Skeleton {self.name!r}: expected a joint index in [0, {self.num_joints}), got {j!r}")
        return int(j)

    # ------------------------------------------------------------- array views
    @cached_property
    def parents_array(self) -> np.ndarray:
        """Parents as a read-only ``int64`` array ``(J,)`` (root ``-1``)."""
        return _readonly(np.asarray(self.parents, dtype=np.int64))

    @cached_property
    def depth(self) -> np.ndarray:
        """Tree depth per joint, read-only ``int64`` ``(J,)``; the root has depth 0."""
        d = np.zeros(self.num_joints, dtype=np.int64)
        for j in range(1, self.num_joints):
            d[j] = d[self.parents[j]] + 1
        return _readonly(d)

    @cached_property
    def levels(self) -> tuple[np.ndarray, ...]:
        """Joints grouped by depth: ``levels[d]`` is an ``int64`` array of depth-``d`` joints.

        Forward kinematics can then run one vectorised step per level::

            for lvl in skeleton.levels[1:]:
                pos[..., lvl, :] = pos[..., skeleton.parents_array[lvl], :] + offset[..., lvl, :]
        """
        depth = self.depth
        return tuple(_readonly(np.flatnonzero(depth == d).astype(np.int64)) for d in range(int(depth.max()) + 1))

    @cached_property
    def flip_permutation(self) -> np.ndarray:
        """Read-only ``int64`` permutation ``(J,)`` swapping each left joint with its right.

        ``points[..., skeleton.flip_permutation, :]`` relabels a pose as its mirror image
        (negate the lateral coordinate separately). The permutation is its own inverse.
        """
        perm = np.arange(self.num_joints, dtype=np.int64)
        perm[list(self.left)] = self.right
        perm[list(self.right)] = self.left
        return _readonly(perm)

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """``(child, parent)`` pairs, one per non-root joint, in child order."""
        return tuple((j, p) for j, p in enumerate(self.parents) if p >= 0)

    # ----------------------------------------------------------------- derived
    def subset(self, joints: Sequence[str | int], name: str | None = None) -> Skeleton:
        """A new skeleton keeping ``joints`` (names or indices), in this skeleton's order.

        Each kept joint is re-parented to its nearest kept ancestor. Exactly one kept joint
        may lack a kept ancestor (it becomes the root), so keep joint 0 unless the kept
        joints form a single subtree. Left/right pairs are kept where both sides are kept.
        """
        if isinstance(joints, str):
            raise ValueError(f"Skeleton.subset: expected a sequence of joint names or indices, got {joints!r}")
        idx = sorted({self.index(j) if isinstance(j, str) else self._check_joint(j) for j in joints})
        if not idx:
            raise ValueError("Skeleton.subset: expected at least one joint, got none")
        new_of_old = {old: new for new, old in enumerate(idx)}
        parents: list[int] = []
        for old in idx:
            p = self.parents[old]
            while p >= 0 and p not in new_of_old:
                p = self.parents[p]
            parents.append(new_of_old[p] if p >= 0 else -1)
        roots = [self.joint_names[old] for old, p in zip(idx, parents, strict=True) if p == -1]
        if len(roots) > 1:
            raise ValueError(
                f"Skeleton.subset: expected the kept joints to form one tree, got {len(roots)} "
                f"roots {roots}; keep a common ancestor such as {self.joint_names[0]!r}"
            )
        pairs = [
            (new_of_old[lo], new_of_old[ro])
            for lo, ro in zip(self.left, self.right, strict=True)
            if lo in new_of_old and ro in new_of_old
        ]
        return Skeleton(
            name=name if name is not None else f"{self.name}_subset",
            joint_names=tuple(self.joint_names[old] for old in idx),
            parents=tuple(parents),
            left=tuple(p[0] for p in pairs),
            right=tuple(p[1] for p in pairs),
        )

    # ----------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (str and lists of str/int); ``from_dict`` inverts it exactly."""
        return {
            "name": self.name,
            "joint_names": list(self.joint_names),
            "parents": list(self.parents),
            "left": list(self.left),
            "right": list(self.right),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Skeleton:
        """Rebuild a skeleton from :meth:`to_dict` output, validating every field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"Skeleton.from_dict: expected a mapping, got {type(data).__name__}")
        missing = [f for f in _FIELDS if f not in data]
        if missing:
            raise ValueError(f"Skeleton.from_dict: missing field(s) {missing}; expected all of {list(_FIELDS)}")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise ValueError(f"Skeleton.from_dict: unknown field(s) {unknown}; expected only {list(_FIELDS)}")
        return cls(
            name=data["name"],
            joint_names=data["joint_names"],
            parents=data["parents"],
            left=data["left"],
            right=data["right"],
        )


# --------------------------------------------------------------------- layouts
H36M17 = Skeleton(
    name="h36m17",
    joint_names=(
        "root",
        "right_hip",
        "right_knee",
        "right_foot",
        "left_hip",
        "left_knee",
        "left_foot",
        "spine",
        "thorax",
        "neck_base",
        "head",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
        "right_shoulder",
        "right_elbow",
        "right_wrist",
    ),
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    left=(4, 5, 6, 11, 12, 13),
    right=(1, 2, 3, 14, 15, 16),
)
"""Human3.6M-17 (MMPose / VideoPose3D order). ``*_foot`` is the ankle; ``head`` is the
head end-site of Human3.6M's mocap skeleton (usually called the head top)."""

H36M_EXTENDED = Skeleton(
    name="h36m_extended",
    joint_names=H36M17.joint_names
    + (
        "right_big_toe",  # 17
        "right_small_toe",  # 18
        "right_heel",  # 19
        "left_big_toe",  # 20
        "left_small_toe",  # 21
        "left_heel",  # 22
        "left_hand_tip",  # 23  middle fingertip
        "left_thumb_tip",  # 24
        "right_hand_tip",  # 25
        "right_thumb_tip",  # 26
        "nose",  # 27
        "left_eye",  # 28
        "right_eye",  # 29
        "left_ear",  # 30
        "right_ear",  # 31
    ),
    parents=H36M17.parents + (3, 3, 3, 6, 6, 6, 13, 13, 16, 16, 10, 10, 10, 10, 10),
    left=H36M17.left + (20, 21, 22, 23, 24, 28, 30),
    right=H36M17.right + (17, 18, 19, 25, 26, 29, 31),
)
"""Human3.6M-17 followed by toes, heels, hand tips, thumb tips and face keypoints."""

_LAYOUTS = (H36M17, H36M_EXTENDED)


def skeleton_names() -> tuple[str, ...]:
    """Names accepted by :func:`get_skeleton`."""
    return tuple(s.name for s in _LAYOUTS)


def get_skeleton(name: str) -> Skeleton:
    """The shipped skeleton called ``name`` (``"h36m17"`` or ``"h36m_extended"``)."""
    for s in _LAYOUTS:
        if s.name == name:
            return s
    raise ValueError(f"unknown skeleton {name!r}; valid names are {list(skeleton_names())}")
