"""Same seed, same bytes: pinned digests of small ``generate`` / ``augment`` / ``convert`` runs.

A refactoring must not change what the commands write. Change a pin only together with a
version bump whose note says why the bytes changed. PNG figures are left out: their bytes
depend on the matplotlib and libpng versions, not on posesynth.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

#: folder -> SHA-256 over the sorted (relative path, file SHA-256) pairs of its non-PNG files.
PINS = {
    "g": "d86846dfda8c23695125367ab465195ad6a0939d92819570909cab2e0aab69e3",
    "gf": "47c916b9aa66d35e9c44d34df73fc5f14962eb3f2ca75e63fc5f3ca160e3ca43",
    "a": "97340eb5cc337043766377c7f60bf8dcb4b8b33ec067358471734adc01227eeb",
    "am": "211d9d95f9d83425683fa55c9d9b6c1b9c81ef188f4e4411273b41403727dff7",
    "gm": "1e90b981a211d910832d3e16190316ab3110dafc12c2534878249a18b2971f9f",
}

COMMANDS = [
    ["generate", "-n", "300", "--shard-size", "100", "--seed", "3", "--no-preview", "--out", "g"],
    ["generate", "-n", "200", "--seed", "4", "--camera-model", "fisheye", "--no-preview", "--out", "gf"],
    ["augment", "g", "--motions", "seed-knee", "--out", "a"],
    ["augment", "g", "--motions", "full-rom", "--to", "mmpose", "--out", "am"],
    ["convert", "g", "gm", "--to", "mmpose"],
]


def folder_digest(folder: Path) -> str:
    """SHA-256 over ``relpath\\0sha256\\n`` of every non-PNG file under ``folder``, sorted."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".png"):
        rel = path.relative_to(folder).as_posix()
        h.update(f"{rel}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("pinned")
    for args in COMMANDS:
        subprocess.run([sys.executable, "-m", "posesynth.cli.main", *args], cwd=work, check=True, capture_output=True)
    return work


@pytest.mark.parametrize("name", sorted(PINS))
def test_output_bytes_are_pinned(outputs: Path, name: str) -> None:
    assert folder_digest(outputs / name) == PINS[name]
