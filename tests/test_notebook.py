"""notebooks/tour.ipynb runs end to end (small sizes) and shows its two animations.

Needs nbclient, nbformat and ipykernel (the ``python3`` kernel of this interpreter); skips
without them.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs the whole notebook in a kernel

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "tour.ipynb"
SMALL = {"FRAMES": 6, "SAMPLES": 50}
ANIMATION_MARKERS = ("<script", "_anim_img", "new Animation(")


def _with_small_parameters(nb):
    """The notebook with its parameter cell (the first code cell) set to SMALL."""
    cell = next(c for c in nb.cells if c.cell_type == "code")
    source = cell.source
    for name, value in SMALL.items():
        source, n = re.subn(rf"^{name}\s*=\s*\d+", f"{name} = {value}", source, flags=re.MULTILINE)
        assert n == 1, f"parameter cell: expected one assignment of {name}, got {n}:\n{cell.source}"
    cell.source = source
    return nb


def _sections(nb):
    """Section number -> the code cells under its ``## <n>.`` markdown heading."""
    sections, current = {}, None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.match(r"\s*##\s+(\d+)\.", cell.source)
            if m:
                current = int(m.group(1))
                sections[current] = []
        elif current is not None:
            sections[current].append(cell)
    return sections


def _html_outputs(cells):
    return [
        out["data"]["text/html"]
        for cell in cells
        for out in cell.get("outputs", [])
        if "text/html" in out.get("data", {})
    ]


@pytest.fixture(scope="module")
def executed():
    nb = _with_small_parameters(nbformat.read(NOTEBOOK, as_version=4))
    from jupyter_client.kernelspec import NoSuchKernel

    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=120,
        allow_errors=False,
        resources={"metadata": {"path": str(ROOT)}},  # working directory: the repo root
    )
    try:
        client.execute()
    except NoSuchKernel:  # pragma: no cover - depends on the environment
        pytest.skip(f"no 'python3' Jupyter kernel for {sys.executable}")
    return nb


def test_notebook_is_valid_and_starts_with_parameters():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", [])
    for name in SMALL:
        assert re.search(rf"^{name}\s*=\s*\d+", first.source, flags=re.MULTILINE), name
    # committed without outputs, so the file stays small and reviewable
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_notebook_runs_without_errors(executed):
    errors = [
        (i, out.get("ename"), out.get("evalue"))
        for i, cell in enumerate(executed.cells)
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert errors == []
    assert all(c.execution_count for c in executed.cells if c.cell_type == "code")


def test_each_section_starts_with_markdown_and_has_outputs(executed):
    sections = _sections(executed)
    assert sorted(sections) == [1, 2, 3]
    for number, cells in sections.items():
        assert cells, f"section {number}: no code cells"
        assert any(c.outputs for c in cells), f"section {number}: no outputs"


@pytest.mark.parametrize("section", [1, 2])
def test_sections_show_an_animation(executed, section):
    html = _html_outputs(_sections(executed)[section])
    animations = [h for h in html if all(m in h for m in ANIMATION_MARKERS)]
    assert len(animations) == 1, f"section {section}: expected one inline JS animation"
    frames = re.findall(r"frames\[\d+\] = \"data:image/png;base64,", animations[0])
    assert len(frames) == SMALL["FRAMES"]


def test_knee_sweep_reads_back_the_set_angle_and_keeps_bones(executed):
    text = "".join(
        out.get("text", "") for c in _sections(executed)[1] for out in c.outputs if out.output_type == "stream"
    )
    m = re.search(r"largest change of any of the \d+ bones over the sweep: (\S+) m", text)
    assert m and float(m.group(1)) < 1e-9, text


def test_dataset_section_shows_figures(executed):
    cells = _sections(executed)[3]
    pngs = [out for c in cells for out in c.outputs if "image/png" in out.get("data", {})]
    assert len(pngs) == 2  # the grid of samples and the knee flexion histogram
    text = "".join(out.get("text", "") for c in cells for out in c.outputs if out.output_type == "stream")
    assert f"{SMALL['SAMPLES']} samples" in text


def test_the_notebook_uses_the_front_door_and_the_library_plotting():
    """Only ``import posesynth as ps`` and ``posesynth.viz`` from posesynth; no hand-written
    skeleton drawing (the bones come from ``posesynth.viz.skeleton``)."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    imports = sorted(set(re.findall(r"^\s*(?:from|import) (posesynth\S*)", code, flags=re.MULTILINE)))
    assert imports == ["posesynth", "posesynth.viz"], imports
    assert "parents_array[j]" not in code and "def skeleton_lines" not in code
