"""Assertions shared by the CLI tests."""

import re
from typing import Any


def assert_one_error_line(result: Any, pattern: str) -> None:
    """A typer ``CliRunner`` result failed with exactly one ``error: ...`` line matching ``pattern``."""
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert re.search(pattern, lines[0]), lines[0]
