"""Reliability audit (2026-12), lost data: the one output policy, once per command that writes.

Each test is an audit reproducer (F01-F05, F10, F24, F26) or the policy's own case for a
command; each asserts one ``error:`` line, no partial output and nothing deleted.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import assert_one_error_line, tree_digest
from posesynth.cli.main import app
from posesynth.jobs.generate import generate, load_config
from posesynth.util.atomic import atomic_path
from posesynth.util.outputs import (
    check_output,
    lock_file,
    output_lock,
    output_path,
    stale_partials,
)

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rel") / "base"
    generate(load_config(samples=200, seed=1, shard_size=100), out, preview=False)
    return out


@pytest.fixture()
def thesis(tmp_path: Path) -> Path:
    """A folder holding a user's file: must survive every command aimed at it."""
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "thesis.txt").write_text("x")
    return folder


def leftovers(folder: Path) -> list[str]:
    """Temporaries, partials and lock files left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name or p.name.endswith(".lock"))


# ------------------------------------------------------------------------------ the helper


def test_check_output_cases(tmp_path: Path) -> None:
    folder, file = tmp_path / "dir", tmp_path / "file.txt"
    folder.mkdir()
    file.write_text("x")
    check_output(tmp_path / "new", kind="file", overwrite=False)  # nothing there: fine
    with pytest.raises(ValueError, match="is a folder; the output is a file"):
        check_output(folder, kind="file", overwrite=True)
    with pytest.raises(ValueError, match="is a file; the output is a folder"):
        check_output(file, kind="dir", overwrite=True)
    with pytest.raises(ValueError, match="already exists"):
        check_output(file, kind="file", overwrite=False)
    check_output(file, kind="file", overwrite=True)
    with pytest.raises(ValueError, match="is the input"):
        check_output(file, kind="file", overwrite=True, inputs=[tmp_path / "." / "file.txt"])
    with pytest.raises(ValueError, match="holds the input"):
        check_output(tmp_path, kind="dir", overwrite=True, inputs=[file])
    (folder / "a.npz").write_text("x")
    with pytest.raises(ValueError, match="lies inside the input"):
        check_output(folder / "a.npz", kind="file", overwrite=True, inputs=[folder])
    check_output(folder / "new.html", kind="file", overwrite=False, inputs=[folder])  # a new file: fine


def test_output_path_is_atomic_and_locked(tmp_path: Path) -> None:
    out = tmp_path / "o.txt"
    with output_path(out, kind="file") as tmp:
        tmp.write_text("a")
        assert lock_file(out).exists() and not out.exists()
        with pytest.raises(ValueError, match="another posesynth command is writing"), output_lock(out):
            pass
    assert out.read_text() == "a" and leftovers(tmp_path) == []
    with pytest.raises(RuntimeError), output_path(out, kind="file", overwrite=True) as tmp:
        tmp.write_text("b")
        raise RuntimeError("boom")
    assert out.read_text() == "a" and leftovers(tmp_path) == []


def test_the_lock_is_held_against_another_process(tmp_path: Path) -> None:
    out = tmp_path / "o.txt"
    with output_lock(out):
        code = (
            "import sys; from posesynth.util.outputs import output_lock\n"
            "try:\n    ctx = output_lock(sys.argv[1]); ctx.__enter__()\n"
            "except ValueError as e:\n    print(e); sys.exit(3)\n"
        )
        proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 3 and "another posesynth command" in proc.stdout
    assert not lock_file(out).exists()
    fd = os.open(tmp_path / "probe", os.O_CREAT | os.O_RDWR)  # flock works on this file system
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)


def test_stale_partials_of_dead_processes_are_removed(tmp_path: Path) -> None:
    """F26: a killed writer's ``OUT.partial-<pid>-<hex>`` is removed by the next run."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(proc.stdout)
    out = tmp_path / "out"
    stale = tmp_path / f"out.partial-{dead}-abcd1234"
    stale.mkdir()
    (stale / "half.npz").write_text("x")
    alive = tmp_path / f"out.partial-{os.getpid()}-abcd1234"  # a live process's: kept
    alive.mkdir()
    other = tmp_path / f"other.partial-{dead}-abcd1234"  # another output's: kept
    other.mkdir()
    assert stale_partials(out) == [stale]
    with atomic_path(out) as tmp:
        tmp.mkdir()
    assert not stale.exists() and alive.exists() and other.exists() and out.is_dir()


def test_f26_killed_convert_partial_is_cleaned(base: Path, tmp_path: Path) -> None:
    """F26 end to end: SIGKILL mid-write leaves ``mm.partial-<pid>-<hex>``; the rerun removes it."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    partial = tmp_path / f"mm.partial-{int(proc.stdout)}-0123abcd"
    partial.mkdir()
    (partial / "h36m_train.npz").write_bytes(b"half")
    result = invoke("convert", base, tmp_path / "mm", "--to", "mmpose")
    assert result.exit_code == 0, result.output
    assert not partial.exists() and leftovers(tmp_path) == []


# ------------------------------------------------------------------------------ per command


def test_f01_view_never_replaces_a_folder(base: Path, thesis: Path) -> None:
    pytest.importorskip("plotly")
    before = tree_digest(thesis)
    result = invoke("view", base, "--out", thesis, "--overwrite")
    assert_one_error_line(result, r"d: exists and is a folder; the --out is a file")
    assert tree_digest(thesis) == before


def test_f05_view_never_replaces_its_input_or_a_data_file(base: Path, tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    mm = tmp_path / "mm"
    assert invoke("convert", base, mm, "--to", "mmpose").exit_code == 0
    before = tree_digest(mm)
    npz = mm / "h36m_train.npz"
    assert_one_error_line(invoke("view", npz, "--out", npz, "--overwrite"), r"is the input")
    assert_one_error_line(invoke("view", mm, "--out", npz, "--overwrite"), r"lies inside the input")
    # the audit's own line: another data set's file is not an HTML page, so not replaced
    assert_one_error_line(invoke("view", base, "--out", npz, "--overwrite"), r"is not an HTML page")
    assert tree_digest(mm) == before


def test_view_replaces_only_with_overwrite(base: Path, tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    out = tmp_path / "v.html"
    assert invoke("view", base, "--out", out, "-n", "3").exit_code == 0
    first = out.read_bytes()
    assert_one_error_line(invoke("view", base, "--out", out, "-n", "3"), "already exists")
    assert out.read_bytes() == first
    assert invoke("view", base, "--out", out, "-n", "4", "--overwrite").exit_code == 0
    assert out.read_bytes() != first and leftovers(tmp_path) == []


def test_f24_concurrent_view_is_refused(base: Path, tmp_path: Path) -> None:
    """F24: a second run into an output being written is refused, not silently replacing it."""
    pytest.importorskip("plotly")
    out = tmp_path / "v.html"
    with output_lock(out):  # what a running `view`/`convert` holds
        assert_one_error_line(invoke("view", base, "--out", out), "another posesynth command is writing")
        assert_one_error_line(invoke("convert", base, tmp_path / "v.html", "--to", "posesynth"),
                              "another posesynth command is writing")  # fmt: skip
    assert not out.exists()


def test_f02_f04_evaluate_figure(base: Path, tmp_path: Path, thesis: Path) -> None:
    before = tree_digest(thesis)
    # refused before the checkpoint is even opened (no torch needed)
    assert_one_error_line(
        invoke("evaluate", "shipped:rom", base, "--figure", thesis), "is a folder; the --figure is a file"
    )
    assert tree_digest(thesis) == before
    png = tmp_path / "e.png"
    png.write_text("x")
    assert_one_error_line(invoke("evaluate", "shipped:rom", base, "--figure", png), "already exists")
    assert_one_error_line(invoke("evaluate", "shipped:rom", base, "--figure", png, "--overwrite"), "not a PNG image")
    assert png.read_text() == "x"
    assert_one_error_line(invoke("evaluate", "shipped:rom", base, "--figure", base / "dataset.json", "--overwrite"),
                          "lies inside the input")  # fmt: skip


def test_f03_demo_figure(tmp_path: Path, thesis: Path) -> None:
    image = tmp_path / "img.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    kp = tmp_path / "kp.json"
    kp.write_text("[" + ",".join(f"[{100 + i}, 100]" for i in range(17)) + "]")
    before = tree_digest(thesis)
    result = invoke("demo", image, "--keypoints", kp, "--layout", "h36m17", "--figure", thesis)
    assert_one_error_line(result, "is a folder; the --figure is a file")
    assert tree_digest(thesis) == before
    assert_one_error_line(invoke("demo", image, "--keypoints", kp, "--layout", "h36m17", "--figure", image,
                                 "--overwrite"), "is the input")  # fmt: skip
    assert image.read_bytes() == b"\x89PNG\r\n\x1a\n"


def test_convert_output_policy(base: Path, tmp_path: Path, thesis: Path) -> None:
    before = tree_digest(thesis)
    assert_one_error_line(invoke("convert", base, thesis, "--to", "mmpose", "--overwrite"), "refusing to replace")
    assert tree_digest(thesis) == before
    file = tmp_path / "f"
    file.write_text("x")
    assert_one_error_line(invoke("convert", base, file, "--to", "posesynth", "--overwrite"),
                          "is a file; the OUT is a folder")  # fmt: skip
    base_before = tree_digest(base)
    assert_one_error_line(invoke("convert", base, base, "--to", "posesynth", "--overwrite"), "is the input")
    assert tree_digest(base) == base_before


def test_f10_failed_convert_leaves_no_folder(base: Path, tmp_path: Path) -> None:
    """F10: a writer refusing the data set leaves no empty OUT folder behind."""
    one = tmp_path / "one"
    assert invoke("convert", base, one, "--to", "posesynth").exit_code == 0
    import json

    doc = json.loads((one / "dataset.json").read_text())
    doc["meta"]["skeleton"]["name"] = "renamed"  # a skeleton VideoPose3D cannot place
    (one / "dataset.json").write_text(json.dumps(doc))
    result = invoke("convert", one, tmp_path / "out", "--to", "videopose3d")
    if result.exit_code == 0:  # the writer accepted it: the output must then be complete
        assert (tmp_path / "out").is_dir() and any((tmp_path / "out").iterdir())
    else:
        assert_one_error_line(result, ".")
        assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


def test_train_output_policy(base: Path, tmp_path: Path, thesis: Path) -> None:
    before = tree_digest(thesis)
    assert_one_error_line(invoke("train", base, "--out", thesis, "--overwrite"), "not a|refusing|checkpoint")
    assert tree_digest(thesis) == before
    file = tmp_path / "ckpt"
    file.write_text("x")
    assert_one_error_line(invoke("train", base, "--out", file, "--overwrite"), "is a file; the --out is a folder")
    assert_one_error_line(invoke("train", base, "--out", base / "shards", "--overwrite"), "lies inside the input")
    assert file.read_text() == "x"


def test_generate_output_policy(tmp_path: Path, thesis: Path) -> None:
    before = tree_digest(thesis)
    assert_one_error_line(invoke("generate", "-n", "10", "--no-preview", "--out", thesis, "--overwrite"),
                          "not a posesynth data set")  # fmt: skip
    assert tree_digest(thesis) == before
    file = tmp_path / "g"
    file.write_text("x")
    assert_one_error_line(invoke("generate", "-n", "10", "--no-preview", "--out", file, "--overwrite"),
                          "is a file; the --out is a folder")  # fmt: skip
    assert file.read_text() == "x" and leftovers(tmp_path) == []
    assert not list(tmp_path.glob("*.partial-job"))


def test_augment_output_policy(base: Path, tmp_path: Path, thesis: Path) -> None:
    before = tree_digest(thesis)
    assert_one_error_line(invoke("augment", base, "--motions", "seed-knee", "--out", thesis, "--overwrite"),
                          "not a posesynth data set|refusing")  # fmt: skip
    assert tree_digest(thesis) == before
    base_before = tree_digest(base)
    assert_one_error_line(invoke("augment", base, "--motions", "seed-knee", "--out", base, "--overwrite"),
                          "is the input")  # fmt: skip
    assert tree_digest(base) == base_before
    assert not list(tmp_path.glob("*.partial-job"))


def test_store_writer_replaces_only_a_store(tmp_path: Path) -> None:
    from posesynth.data.store import write_store

    out = tmp_path / "s"
    write_store(out, {}, [{"x": np.zeros((2, 3))}])
    write_store(out, {}, [{"x": np.ones((2, 3))}], overwrite=True)
    file = tmp_path / "f"
    file.write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        write_store(file, {}, [{"x": np.zeros((2, 3))}], overwrite=True)
    assert file.read_text() == "x" and leftovers(tmp_path) == []
