"""One fix to the help pages of every command: flags show no ``<bool>`` placeholder.

Typer (0.29) prints each option's type in ``--help``, ``<bool>`` for flags too, although a
flag takes no value (``--json``, not ``--json <bool>``). :func:`hide_flag_types` (called by
``cli.main``) makes flags show no type; options with values keep theirs (``<path>``, ``<int>``).
It wraps one method of Typer's option class, once, whatever the command or sub-app.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

__all__ = ["hide_flag_types"]


def hide_flag_types() -> None:
    """Make ``TyperOption.display_type_rich`` return nothing for flags (idempotent)."""
    current = TyperOption.display_type_rich
    if getattr(current, "_posesynth_flags", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        if self.is_flag:  # a flag takes no value: no "<bool>"
            return None
        return current(self, ctx)

    display_type_rich._posesynth_flags = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
