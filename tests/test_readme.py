"""The README works verbatim: every ``console`` block after the set-up runs, in order, as written.

The blocks run in one scratch folder with the venv's ``bin`` first on ``PATH`` (what the
README's "activate the venv" line gives), with the repository's ``examples/`` beside them. Only
sizes are made tiny, by rewriting ``--samples N``, ``-n N`` and ``--epochs N``; a command
whose line ends with ``# (long)`` is skipped here and tested by its own tests (it downloads a
data set or trains for minutes). The Python session of the README runs too, with small sizes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LONG = "# (long)"
TINY = ((r"(--samples|-n) [0-9_]+", r"\1 300"), (r"--epochs \d+", "--epochs 1"))

pytestmark = [pytest.mark.readme, pytest.mark.slow]  # about a minute: downloads, a video, training


def _blocks(kind: str) -> list[str]:
    """The README's fenced blocks of ``kind`` after the set-up (the first two commands)."""
    text = README.read_text(encoding="utf-8")
    body = text.split("## ", 1)[1]  # the set-up commands come before the first section
    return re.findall(rf"^```{kind}\n(.*?)^```", body, flags=re.MULTILINE | re.DOTALL)


def readme_commands() -> list[str]:
    """Every command of the README's console blocks, continuation lines joined, comments
    dropped, sizes made tiny; ``# (long)`` commands left out."""
    commands = []
    for block in _blocks("console"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if not line or line.startswith("#") or line.endswith(LONG):
                continue
            line = re.sub(r"\s+#\s.*$", "", line)  # a trailing comment
            for pattern, repl in TINY:
                line = re.sub(pattern, repl, line)
            commands.append(line)
    return commands


def test_the_readme_has_commands_to_run() -> None:
    commands = readme_commands()
    assert len(commands) >= 10, commands
    assert any(c.startswith("posesynth generate") for c in commands)


def test_every_readme_command_runs(tmp_path: Path) -> None:
    work = tmp_path / "readme"
    work.mkdir()
    shutil.copytree(ROOT / "examples", work / "examples")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("POSESYNTH_DEBUG", None)
    for command in readme_commands():
        proc = subprocess.run(
            ["bash", "-c", f"set -eo pipefail; {command}"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if proc.returncode != 0 and "pip download" in command and "Could not" in proc.stderr:
            pytest.skip(f"no network for {command!r}")
        assert proc.returncode == 0, f"{command!r} failed ({proc.returncode}):\n{proc.stderr[-2000:]}"


def test_the_readme_python_session_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (session,) = [b for b in _blocks("python") if "import posesynth as ps" in b][:1]
    for pattern, repl in ((r"samples=10_000_000", "samples=400"), (r"samples=10_000", "samples=300")):
        session = re.sub(pattern, repl, session)
    monkeypatch.chdir(tmp_path)
    exec(compile(session, "README.md", "exec"), {})
