"""The ``posesynth`` command: ``app`` (the console script ``posesynth = posesynth.cli.main:app``).

Each command lives in its own module and only parses options, calls the library and prints.
Contract (docs in CONVENTIONS.md, "The command line"): ``--help`` everywhere; exit code 0 on
success; bad input gives one ``error: ...`` line on stderr and a non-zero exit code, never a
traceback; ``--json`` prints exactly one JSON document on stdout and nothing else there.
"""

from __future__ import annotations

import gc
import sys
from typing import Annotated, Any

import typer

from posesynth import __version__
from posesynth.cli import (
    augment_cmd,
    benchmark_cmd,
    convert_cmd,
    demo_cmd,
    evaluate_cmd,
    experiment_cmd,
    generate_cmd,
    import_cmd,
    info_cmd,
    models_cmd,
    train_cmd,
    view_cmd,
)
from posesynth.cli.errors import EXIT_ERROR, EXIT_USAGE, one_line, print_error
from posesynth.cli.help_format import hide_flag_types
from posesynth.util.memory import keep_freed_memory

hide_flag_types()  # flags show no <bool> placeholder in --help


class PosesynthApp(typer.Typer):
    """A ``typer.Typer`` whose usage errors (unknown option, missing argument) are one line.

    Typer's default draws a multi-line panel; the public contract asks for one
    ``error: ...`` line on stderr. Only the console-script path (``app()``) goes through here;
    ``typer.testing.CliRunner`` calls the underlying command directly.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        keep_freed_memory()  # the command owns this process: shards reuse freed memory
        kwargs.setdefault("standalone_mode", False)
        kwargs.setdefault("prog_name", "posesynth")  # also under `python -m posesynth.cli.main`
        try:
            self._run(*args, **kwargs)
        finally:
            # The interpreter's shutdown runs a full collection over every tracked object, and
            # Numba's compiler leaves hundreds of thousands of them: 0.12 s of every command
            # that loaded a kernel. Frozen, they are skipped by that sweep (and still freed);
            # only cyclic garbage made before this point goes uncollected, as the process ends.
            gc.freeze()

    def _run(self, *args: Any, **kwargs: Any) -> None:
        """Run the command; ``sys.exit`` with its code, or one ``error:`` line and its code."""
        try:
            result = super().__call__(*args, **kwargs)
        except typer.Abort:
            print_error("aborted")
            sys.exit(EXIT_ERROR)
        except Exception as exc:
            # click's ClickException/UsageError (vendored or not): format_message + exit_code
            format_message = getattr(exc, "format_message", None)
            if not (callable(format_message) and hasattr(exc, "exit_code")):
                raise
            code = exc.exit_code if isinstance(exc.exit_code, int) else EXIT_USAGE
            if type(exc).__name__ == "NoArgsIsHelpError":
                sys.exit(code)  # the help text was printed already
            message = one_line(format_message())
            ctx = getattr(exc, "ctx", None)
            if ctx is not None:
                message += f" (see '{ctx.command_path} --help')"
            print_error(message)
            sys.exit(code)
        sys.exit(result if isinstance(result, int) else 0)


app = PosesynthApp(
    name="posesynth",
    help="Synthetic 2D/3D human keypoints over the full range of motion, for 2D-to-3D lifting.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"posesynth {__version__}\n")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Synthetic 2D/3D human keypoints over the full range of motion, for 2D-to-3D lifting."""


app.command("generate")(generate_cmd.generate)
app.command("info")(info_cmd.info)
app.command("convert")(convert_cmd.convert)
app.command("augment")(augment_cmd.augment)
app.command("train")(train_cmd.train)
app.command("evaluate")(evaluate_cmd.evaluate)
app.add_typer(experiment_cmd.app, name="experiment")
app.command("import-mmpose")(import_cmd.import_mmpose)
app.command("view")(view_cmd.view)
app.command("demo")(demo_cmd.demo)
app.command("models")(models_cmd.models)
app.add_typer(benchmark_cmd.app, name="benchmark")


if __name__ == "__main__":  # python -m posesynth.cli.main
    app()
