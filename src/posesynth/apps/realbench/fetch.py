"""Fetch and cache the real recording: Pose2Sim 0.10.49's ``Demo_MultiPerson`` (BSD-3-Clause).

The sdist (``pip download --no-deps --no-binary :all: pose2sim==0.10.49``, 51 MB) is downloaded
once into the cache and only the members this benchmark uses are extracted from it, by an
allow-list: the Qualisys calibration and the four videos of ``Pose2Sim/Demo_MultiPerson``.
Every other recording in the sdist stays unread. Each extracted file is checked against the
SHA-256 this benchmark was written for.

Cache folder: ``cache_dir`` if given, else ``$POSESYNTH_CACHE``, else
``$XDG_CACHE_HOME/posesynth``, else ``~/.cache/posesynth``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEMO_FILES",
    "POSE2SIM_VERSION",
    "DemoFiles",
    "cache_root",
    "fetch_demo",
    "sha256_file",
]

POSE2SIM_VERSION = "0.10.49"
_SDIST = f"pose2sim-{POSE2SIM_VERSION}.tar.gz"
_PREFIX = f"pose2sim-{POSE2SIM_VERSION}/Pose2Sim/Demo_MultiPerson/"
#: The members used, relative to ``Demo_MultiPerson/``, with their SHA-256.
DEMO_FILES: dict[str, str] = {
    "calibration/Calib.qca.txt": "fd90e4bbae3278ef1dc0cdd42a34ee06bf88286f628a02c00a29407aa39e34c5",
    "videos/cam01.mp4": "543cee6a4c2c2b52dc9eac9137ee63d14f1f84e706a9a7264769edcb11e5ea53",
    "videos/cam02.mp4": "8895092a7cf26359205a427b7ac2f4a935c2e0bd36d9b7a5140cb33faa468a6b",
    "videos/cam03.mp4": "d3daf48cdf9f5603868ddb99166ddaf9b12279e7ce968922926560d5fd3f0c99",
    "videos/cam04.mp4": "1490149dc40e7301fa5ceae23862b044ba5c398a8b2a40df21ed894702728c09",
}


@dataclass(frozen=True)
class DemoFiles:
    """The recording's files on disk.

    Attributes:
        root: the extracted ``Demo_MultiPerson`` folder.
        calibration: its ``Calib.qca.txt``.
        videos: the four videos, camera order (``cam01`` .. ``cam04``).
    """

    root: Path
    calibration: Path
    videos: tuple[Path, ...]


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The posesynth cache folder (see the module docstring); not created here."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("POSESYNTH_CACHE"):
        return Path(os.environ["POSESYNTH_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "posesynth"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _demo_files(root: Path) -> DemoFiles:
    videos = tuple(root / k for k in DEMO_FILES if k.startswith("videos/"))
    return DemoFiles(root=root, calibration=root / "calibration/Calib.qca.txt", videos=videos)


def _complete(root: Path) -> bool:
    return all((root / k).is_file() and sha256_file(root / k) == sha for k, sha in DEMO_FILES.items())


def _download(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        f"pose2sim=={POSE2SIM_VERSION}",
        "-d",
        str(dest),
        "-q",
    ]
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ValueError(f"cannot download pose2sim=={POSE2SIM_VERSION} with pip: {exc}") from None
    sdist = dest / _SDIST
    if proc.returncode != 0 or not sdist.is_file():
        tail = " ".join(proc.stderr.split())[-300:]
        raise ValueError(f"cannot download pose2sim=={POSE2SIM_VERSION} with pip (network or index?): {tail}")
    return sdist


def fetch_demo(cache_dir: str | Path | None = None, *, download: bool = True) -> DemoFiles:
    """The ``Demo_MultiPerson`` files, downloaded and extracted into the cache if missing.

    Args:
        cache_dir: cache folder (default: :func:`cache_root`).
        download: allow running ``pip download``; if False and the files are not cached,
            raise.

    Returns:
        :class:`DemoFiles` under ``<cache>/pose2sim-0.10.49/Demo_MultiPerson``.

    Raises:
        ValueError: pip fails, the sdist lacks a member, or a member's SHA-256 differs.
    """
    base = cache_root(cache_dir) / f"pose2sim-{POSE2SIM_VERSION}"
    root = base / "Demo_MultiPerson"
    if _complete(root):
        return _demo_files(root)
    sdist = base / _SDIST
    if not sdist.is_file():
        if not download:
            raise ValueError(f"{root}: the recording is not in the cache (run once with network)")
        sdist = _download(base)
    try:
        with tarfile.open(sdist) as tf:
            for key, sha in DEMO_FILES.items():
                member = _PREFIX + key
                try:
                    src = tf.extractfile(member)
                except KeyError:
                    src = None
                if src is None:
                    raise ValueError(
                        f"{sdist}: member {member} missing; expected the Pose2Sim {POSE2SIM_VERSION} sdist"
                    )
                data = src.read()
                if hashlib.sha256(data).hexdigest() != sha:
                    raise ValueError(f"{sdist}: {member}: SHA-256 differs from the file this benchmark was written for")
                out = root / key
                out.parent.mkdir(parents=True, exist_ok=True)
                tmp = out.with_name(out.name + ".partial")
                tmp.write_bytes(data)
                tmp.replace(out)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ValueError(f"{sdist}: cannot read the sdist ({type(exc).__name__}: {exc})") from None
    return _demo_files(root)
