"""``util.memory.keep_freed_memory``: the allocator settings the command line makes."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from posesynth.util import memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def in_child(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_glibc_takes_both_settings() -> None:
    """glibc accepts both thresholds (``mallopt`` answers 0 to a value it refuses), once per
    process."""
    assert in_child("from posesynth.util.memory import keep_freed_memory as k; print(k(), k())") == "True True"


@pytest.mark.skipif(GLIBC, reason="elsewhere than glibc it does nothing")
def test_does_nothing_elsewhere() -> None:
    assert memory.keep_freed_memory() is False


def test_the_command_line_and_pool_workers_make_it() -> None:
    """The console script and the process pool's workers (processes posesynth owns) call it;
    importing the library does not."""
    made = "from posesynth.util import memory; print(memory.keep_freed_memory.cache_info().currsize)"
    assert in_child(f"import posesynth.api, posesynth.jobs.generate; {made}") == "0"
    cli = "from posesynth.cli.main import app\ntry:\n    app(['--version'])\nexcept SystemExit:\n    pass\n"
    assert in_child(cli + made).splitlines()[-1] == "1"
    worker = "from posesynth.jobs.executors import _init_worker; _init_worker(); "
    assert in_child(worker + made) == "1"
