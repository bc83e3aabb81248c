"""`posesynth view`: the HTML page (self-contained, deterministic) and, in headless Chromium,
that its slider really moves the plotted skeleton to the next sample."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("plotly")

from posesynth.body.skeleton import H36M17
from posesynth.cli.main import app
from posesynth.data.dataset import PoseDataset
from posesynth.data.formats.store_io import write_store_dataset
from posesynth.viz.viewer import DIV_ID, choose_samples, view_html, write_view

runner = CliRunner()
N, J = 12, H36M17.num_joints


def make_dataset(world: bool = True) -> PoseDataset:
    """N distinct poses (sample i sits i metres along x) with 2D, subjects and actions."""
    rng = np.random.default_rng(3)
    p = rng.uniform(-0.3, 0.3, size=(N, J, 3)) + np.array([0.0, 0.0, 1.0])
    p[:, :, 0] += np.arange(N)[:, None]
    uv = rng.uniform(10, 990, size=(N, J, 2))
    ids = {"subject": np.array([f"S{i % 3}" for i in range(N)]),
           "action": np.array([f"act{i}" for i in range(N)])}  # fmt: skip
    if world:
        return PoseDataset(H36M17, joints_3d_world=p, joints_2d=uv, **ids)
    return PoseDataset(H36M17, joints_3d_camera=p, joints_2d=uv, **ids)


def js_list(values: np.ndarray, digits: int) -> str:
    """How the page writes one coordinate of the joints of a sample (rounded, compact JSON)."""
    return json.dumps([round(float(v), digits) for v in values], separators=(",", ":"))


def assert_one_error_line(result: Any, pattern: str) -> None:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert re.search(pattern, lines[0]), lines[0]


# ------------------------------------------------------------------------- without a browser


def test_choose_samples_even_seeded_and_clamped() -> None:
    assert choose_samples(10, 3).tolist() == [0, 4, 9]  # first and last included, evenly
    assert choose_samples(5, 50).tolist() == [0, 1, 2, 3, 4]
    a, b = choose_samples(1000, 7, seed=1), choose_samples(1000, 7, seed=1)
    assert np.array_equal(a, b) and len(set(a.tolist())) == 7 and list(a) == sorted(a)
    assert not np.array_equal(a, choose_samples(1000, 7, seed=2))
    with pytest.raises(ValueError, match="samples: expected >= 1, got 0"):
        choose_samples(10, 0)


def test_page_is_self_contained_and_holds_the_chosen_samples(tmp_path: Path) -> None:
    ds = make_dataset()
    out = write_view(ds, tmp_path / "view.html", samples=4)
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", html)  # plotly.js is inline, nothing fetched
    assert not re.search(r"<link[^>]+href=", html)  # (plotly.js itself names cdn.plot.ly
    # for geo topojson, which this page never plots)
    assert len(html) > 1_000_000 and "Plotly.newPlot" in html and f'id="{DIV_ID}"' in html
    chosen = choose_samples(N, 4).tolist()
    assert chosen == [0, 4, 7, 11]
    for i in range(N):
        present = js_list(ds.joints_3d_world[i, :, 0], 4) in html
        assert present == (i in chosen), i
        assert (js_list(ds.joints_2d[i, :, 1], 2) in html) == (i in chosen), i
    assert "sample 7, subject S1, action act7" in html
    # deterministic: same input, same bytes
    assert write_view(ds, tmp_path / "again.html", samples=4).read_bytes() == out.read_bytes()
    # seeded choice
    seeded = view_html(ds, samples=3, seed=5)
    for i in choose_samples(N, 3, seed=5).tolist():
        assert js_list(ds.joints_3d_world[i, :, 2], 4) in seeded


def test_camera_frame_is_shown_z_up() -> None:
    ds = make_dataset(world=False)
    html = view_html(ds, samples=2)
    p_cam = ds.joints_3d_camera[0]
    # plotted as (x, z, -y): the camera's forward axis is the plot's y, its -y (up) is z
    assert js_list(p_cam[:, 2], 4) in html
    assert js_list(-p_cam[:, 1], 4) in html
    assert "camera, metres" in html


def test_bad_arguments_are_value_errors(tmp_path: Path) -> None:
    ds = make_dataset()
    with pytest.raises(ValueError, match="samples"):
        view_html(ds, samples=0)
    (tmp_path / "v.html").write_text("old")
    with pytest.raises(ValueError, match="already exists"):
        write_view(ds, tmp_path / "v.html")
    assert (tmp_path / "v.html").read_text() == "old"  # untouched
    write_view(ds, tmp_path / "v.html", samples=1, overwrite=True)
    assert "Plotly" in (tmp_path / "v.html").read_text()


def test_cli_view_and_its_errors(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_store_dataset(make_dataset(), data)
    out = tmp_path / "view.html"
    result = runner.invoke(app, ["view", str(data), "--out", str(out), "--samples", "3", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["samples"] == 3 and summary["of"] == N and summary["indices"] == [0, 6, 11]
    assert out.is_file() and not list(tmp_path.glob("*.partial-*"))

    x_html = str(tmp_path / "x.html")
    bad = runner.invoke(app, ["view", str(data), "--out", x_html, "--samples", "0"])
    assert_one_error_line(bad, r"--samples: expected >= 1")
    assert not (tmp_path / "x.html").exists()
    missing = runner.invoke(app, ["view", str(tmp_path / "nope"), "--out", x_html])
    assert_one_error_line(missing, "nope")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    assert_one_error_line(runner.invoke(app, ["view", str(junk), "--out", x_html]), "junk")
    again = runner.invoke(app, ["view", str(data), "--out", str(out)])
    assert_one_error_line(again, "already exists")


# ------------------------------------------------------------------ in headless Chromium (CDP)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


_PAGE_JS = """
(async () => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  let gd = null;
  for (let i = 0; i < 300; i++) {
    gd = document.getElementById(%(div)s);
    const frames = gd && gd._transitionData && gd._transitionData._frames;
    if (window.Plotly && gd && gd._fullLayout && frames && frames.length === %(frames)d) break;
    await sleep(50);
  }
  const read = () => ({
    x: Array.from(gd.data[3].x), y: Array.from(gd.data[3].y), z: Array.from(gd.data[3].z),
    u: Array.from(gd.data[8].x), title: gd.layout.title.text,
    zrange: Array.from(gd.layout.scene.zaxis.range),
  });
  const before = read();
  const slider = gd.layout.sliders[0];
  const step = slider.steps[1];
  await Plotly[step.method](gd, ...step.args);  // what a click on the slider's step 1 runs
  const after = read();
  return JSON.stringify({before, after, steps: slider.steps.map((s) => s.label),
                         method: step.method, hasScene: !!gd._fullLayout.scene});
})()
"""


def _cdp_evaluate(ws_url: str, expression: str, timeout: float) -> Any:
    import websocket  # websocket-client

    ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
    try:
        ws.send(json.dumps({"id": 1, "method": "Runtime.evaluate", "params": {
            "expression": expression, "awaitPromise": True, "returnByValue": True}}))  # fmt: skip
        while True:
            message = json.loads(ws.recv())
            if message.get("id") == 1:
                break
    finally:
        ws.close()
    if "error" in message:
        # A page target can exist before its first document commits; evaluating then fails with
        # "Cannot find default execution context" or "Execution context was destroyed".
        raise _NoContextYet(str(message["error"]))
    result = message["result"]
    assert "exceptionDetails" not in result, result["exceptionDetails"]
    return json.loads(result["result"]["value"])


class _NoContextYet(RuntimeError):
    pass


def test_slider_moves_the_plot_to_the_next_sample_in_chromium(tmp_path: Path) -> None:
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no chromium / chromium-browser binary on PATH")
    pytest.importorskip("websocket", reason="websocket-client is needed to drive Chromium")
    ds = make_dataset()
    page = write_view(ds, tmp_path / "view.html", samples=4)
    chosen = choose_samples(N, 4).tolist()
    profile = tmp_path / "profile"
    profile.mkdir()
    proc = subprocess.Popen(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--enable-unsafe-swiftshader", f"--user-data-dir={profile}",
         "--remote-debugging-port=0", "--remote-allow-origins=*", page.resolve().as_uri()],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + 15
        while not (port_file.is_file() and port_file.read_text().strip()):
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"chromium did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets: list[dict[str, Any]] = []
        while not any(t.get("type") == "page" and t["url"].startswith("file:") for t in targets):
            if time.monotonic() > deadline:
                pytest.fail(f"no page target: {targets}")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                targets = json.load(r)
            time.sleep(0.1)
        target = next(t for t in targets if t.get("type") == "page" and t["url"].startswith("file:"))
        js = _PAGE_JS % {"div": json.dumps(DIV_ID), "frames": len(chosen)}
        deadline = time.monotonic() + 30
        while True:
            try:
                state = _cdp_evaluate(target["webSocketDebuggerUrl"], js, timeout=20)
                break
            except _NoContextYet as error:
                if time.monotonic() > deadline:
                    pytest.fail(f"the page never got a JavaScript context: {error}")
                time.sleep(0.2)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    assert state["steps"] == [str(i) for i in chosen] and state["method"] == "animate"
    assert state["hasScene"]
    p = ds.joints_3d_world
    for key, sample in (("before", chosen[0]), ("after", chosen[1])):
        plotted = state[key]
        for k, axis in enumerate("xyz"):
            np.testing.assert_allclose(plotted[axis], p[sample, :, k], atol=1e-4)
        np.testing.assert_allclose(plotted["u"], ds.joints_2d[sample, :, 0], atol=1e-2)
        assert f"sample {sample}," in plotted["title"]
    assert state["before"]["zrange"] != state["after"]["zrange"] or chosen[0] == chosen[1]


def test_2d_only_data_set_is_shown() -> None:
    ds = make_dataset()
    only_2d = PoseDataset(H36M17, joints_2d=ds.joints_2d, subject=ds.subject)
    html = view_html(only_2d, samples=2)
    assert js_list(ds.joints_2d[N - 1, :, 0], 2) in html and "3D (none)" in html
