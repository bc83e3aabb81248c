"""``posesynth view DATA --out FILE.html``: a self-contained HTML page to browse a data set.

The page (:func:`posesynth.viz.viewer.write_view`) shows, per chosen sample, the 3D skeleton
and its 2D keypoints side by side with a slider over the samples; plotly.js is embedded, so
the file opens offline. Needs plotly (``pip install 'posesynth[view]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from posesynth.cli.errors import fail, user_errors
from posesynth.cli.output import print_json, stdout_to_stderr


def view(
    data: Annotated[Path, typer.Argument(metavar="DATA", help="A data set in any readable format.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write (e.g. view.html).")],
    samples: Annotated[int, typer.Option("--samples", "-n", help="How many samples to show (at most).")] = 50,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", help="Pick the samples at random with this seed (default: spread evenly from first to last)."
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON document on stdout.")
    ] = False,
) -> None:
    """Write an HTML page browsing samples of DATA: 3D skeleton and 2D keypoints, with a slider."""
    with user_errors():
        if samples < 1:
            raise ValueError(f"--samples: expected >= 1, got {samples}")
        try:
            import plotly  # noqa: F401  (an optional dependency)
        except ModuleNotFoundError:
            fail("posesynth view needs plotly: pip install 'posesynth[view]'")
        from posesynth.data.formats.registry import read_any
        from posesynth.util.outputs import HTML_MAGIC, check_output, replaces_only
        from posesynth.viz.viewer import choose_samples, write_view

        check_output(
            out,
            kind="file",
            overwrite=overwrite,
            inputs=[data],
            what="--out",
            replaceable=replaces_only(HTML_MAGIC, "an HTML page"),
        )
        with stdout_to_stderr(json_output):
            dataset = read_any(data)
            shown = choose_samples(len(dataset), samples, seed)
            write_view(
                dataset,
                out,
                samples=samples,
                seed=seed,
                overwrite=overwrite,
                title=f"posesynth view: {data.name or data}",
            )
        summary = {
            "data": str(data), "out": str(out), "samples": len(shown),
            "of": len(dataset), "indices": shown.tolist(), "seed": seed,
        }  # fmt: skip
        if json_output:
            print_json(summary)
        else:
            typer.echo(f"wrote {out}: {len(shown)} of {len(dataset)} samples of {data}", err=True)
