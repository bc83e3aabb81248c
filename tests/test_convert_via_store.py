"""``convert`` from TRC, the seed's ``.h5`` and VideoPose3D into MMPose, TRC and VideoPose3D
streams through a hidden store beside the output (:func:`~posesynth.data.formats.registry._through_store`):
the output equals the in-memory one byte for byte, the store is gone afterwards (also after an
error), and the CLI's round-trip check passes."""

from __future__ import annotations

import gc
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import assert_same_output
from posesynth.body.skeleton import H36M17
from posesynth.cli.main import app
from posesynth.data.dataset import PoseDataset
from posesynth.data.formats import registry
from posesynth.data.formats.registry import convert_streamed, read_any, write_any
from posesynth.data.formats.trc import write_trc_sequences
from test_convert_stream_sources_seed_h5 import _names
from test_convert_vp3d_source_stream import _h36m, _save
from test_format_seed_h5 import make_fixture, rewrite_h5

ROWS = 7
#: Pairs whose store does not stream into the target (convert_streamed): VideoPose3D needs
#: cameras (the TRC source has none) and subjects in consecutive runs (the seed's alternate):
#: in memory, nothing left behind
IN_MEMORY = {("trc", "videopose3d"), ("seed_h5", "videopose3d")}


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".via-store-" in p.name]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    root = tmp_path_factory.mktemp("via")
    p3, p2 = _h36m(21)
    vp = _save(root / "vp", "compressed", p3, p2)
    rng = np.random.default_rng(4)
    n = 60
    seq = np.repeat([0, 1], [35, 25])
    world = rng.normal(0, 0.3, (n, 17, 3)) + [0, 0, 1]
    world[7, 3] = np.nan
    ds = PoseDataset(
        skeleton=H36M17,
        joints_3d_world=world,
        subject=np.array(["S1", "S7"])[seq],
        action=np.array(["walk", "sit"])[seq],
        frame=np.concatenate([np.arange(35), np.arange(25)]),
    )
    write_trc_sequences(ds, root / "trc", rate=50.0)
    (root / "seed").mkdir()
    fx = make_fixture(root / "seed", n=45)
    rewrite_h5(fx["h5"], imgname=np.array([s.encode() for s in _names(45)]))
    return {
        "videopose3d": (vp, "videopose3d"),
        "trc": (root / "trc", "trc"),
        "seed_h5": (fx["h5"], "seed_h5"),
    }


@pytest.mark.parametrize("kind", ["videopose3d", "trc", "seed_h5"])
@pytest.mark.parametrize("to", ["mmpose", "trc", "videopose3d"])
def test_same_output_as_in_memory(sources: dict[str, tuple[Path, str]], tmp_path: Path, kind: str, to: str) -> None:
    source, fmt = sources[kind]
    whole = read_any(source)
    try:
        write_any(whole, tmp_path / "mem", to)
    except ValueError as exc:  # a pair the in-memory writer refuses refuses streamed too
        with pytest.raises(ValueError) as streamed:
            convert_streamed(source, tmp_path / "str", to, fmt, rows=ROWS)
        # the store -> mmpose writer names a NaN's index within its chunk (as it always has)
        assert re.sub(r"at index \(\d+", "at index (", str(streamed.value)) == re.sub(
            r"at index \(\d+", "at index (", str(exc)
        )
        assert not _leftovers(tmp_path)
        return
    made = convert_streamed(source, tmp_path / "str", to, fmt, rows=ROWS)
    if (kind, to) in IN_MEMORY:
        assert made is None and not (tmp_path / "str").exists() and not _leftovers(tmp_path)
        return
    assert made is not None, "expected the streamed path"
    assert made.samples == len(whole)
    assert_same_output(tmp_path / "mem", tmp_path / "str")
    assert _leftovers(tmp_path), "the store stays while the conversion is held (its check may read it)"
    del made
    gc.collect()
    assert not _leftovers(tmp_path)


@pytest.mark.parametrize(
    ("kind", "to"),
    [
        ("videopose3d", "trc"),
        ("videopose3d", "videopose3d"),
        ("seed_h5", "trc"),
        ("seed_h5", "mmpose"),
        ("trc", "trc"),
    ],
)
def test_cli_checks_the_output(
    sources: dict[str, tuple[Path, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, to: str
) -> None:
    """``posesynth convert`` streams (chunks of 7) and its round-trip check passes, also into
    MMPose, whose image names clean the ids (VideoPose3D's ``custom_000001`` is written
    ``custom-000001``) and read a camera back as ``<subject>/<camera id>``."""
    source, _ = sources[kind]
    calls: list[bool] = []
    original = registry._through_store

    def spy(*args: Any, **kw: Any) -> Any:
        made = original(*args, **kw)
        calls.append(made is not None)
        return made

    monkeypatch.setattr(registry, "STREAM_ROWS", ROWS)
    monkeypatch.setattr(registry, "_through_store", spy)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["convert", str(source), str(out), "--to", to])
    assert result.exit_code == 0, result.output
    assert "MPJPE" in result.output
    assert calls == [True]
    gc.collect()
    assert not _leftovers(tmp_path)
    write_any(read_any(source), tmp_path / "mem", to)
    assert_same_output(tmp_path / "mem", out)


def test_an_error_leaves_no_store(sources: dict[str, tuple[Path, str]], tmp_path: Path) -> None:
    """The target's writer refuses the data (a missing 2D point for MMPose) after the store is
    made: the error, and neither output nor store left."""
    source, fmt = sources["videopose3d"]
    with pytest.raises(ValueError, match="expected finite values for MMPose"):
        convert_streamed(source, tmp_path / "out", "mmpose", fmt, rows=ROWS)
    assert not (tmp_path / "out").exists()
    assert not _leftovers(tmp_path)
