"""Interactive use: a chapter opened in a real JupyterLab (``asdlib lab``, ``make lab``) runs top to
bottom in headless Chromium, shows its figures and progress widgets, and is saved without outputs."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from asdlib.notebooks import is_chapter, lab_command, lab_pre_save
from asdlib.project import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_a_chapter_is_saved_without_outputs_and_another_notebook_with_them():
    def model():
        return {"type": "notebook", "content": {"cells": [
            {"cell_type": "code", "execution_count": 3, "outputs": [{"output_type": "stream", "text": "x"}]},
            {"cell_type": "markdown", "source": "# title"}]}}

    chapter, mine = model(), model()
    lab_pre_save(chapter, "notebooks/03_autoencoder.ipynb")
    lab_pre_save(mine, "notebooks/my_fan_run.ipynb")
    assert chapter["content"]["cells"][0]["outputs"] == [] and chapter["content"]["cells"][0]["execution_count"] is None
    assert mine["content"]["cells"][0]["outputs"] and mine["content"]["cells"][0]["execution_count"] == 3
    assert is_chapter("08_run.ipynb") and not is_chapter("08_run-Copy1.ipynb")


def test_the_lab_command_opens_the_chapters_with_this_python_as_kernel():
    import sys

    cmd = lab_command(["--no-browser"])
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--notebook-dir={ROOT / 'notebooks'}" in cmd and cmd[-1] == "--no-browser"
    assert "--ContentsManager.pre_save_hook=asdlib.notebooks.lab_pre_save" in cmd
    elsewhere = lab_command(["--notebook-dir=/tmp/x"])  # a folder given replaces the chapters'
    assert [a for a in elsewhere if a.startswith("--notebook-dir")] == ["--notebook-dir=/tmp/x"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package chromium; "
                                             ".ci/run installs it): JupyterLab check skipped")
def test_a_chapter_runs_top_to_bottom_in_jupyterlab(tiny_data, tmp_path):
    from playwright.sync_api import sync_playwright

    lab = tmp_path / "lab"
    lab.mkdir()
    shutil.copy(ROOT / "notebooks" / "03_autoencoder.ipynb", lab)  # the repository's chapters stay untouched
    build = tmp_path / "build"  # the chapters' default folders ($ASDLIB_BUILD): tiny data, fresh runs
    build.mkdir()
    (build / "data").symlink_to(tiny_data, target_is_directory=True)
    port = _free_port()
    env = {**os.environ, "ASDLIB_BUILD": str(build), "ASDLIB_CACHE": str(tmp_path / "cache"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    cmd = [str(ROOT / ".venv" / "bin" / "asdlib") if (ROOT / ".venv" / "bin" / "asdlib").exists() else "asdlib",
           "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", f"--notebook-dir={lab}",
           "--IdentityProvider.token=", "--LabApp.expose_app_in_browser=True"]
    log = open(tmp_path / "lab.log", "w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    errors = []
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=1)
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "lab.log").read_text()[-3000:]
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM,
                                        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{port}/lab/tree/03_autoencoder.ipynb")
            kernel = "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
            page.wait_for_function(f"""() => {{ try {{ return {kernel}.status === 'idle'; }}
                                              catch (e) {{ return false; }} }}""", timeout=180_000)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_function(f"""() => {{ const w = window.jupyterapp.shell.currentWidget;
                const code = w.content.widgets.filter(c => c.model.type === 'code');
                return {kernel}.status === 'idle' && code.every(c => c.model.executionCount !== null); }}""",
                                   timeout=600_000, polling=1000)
            out = ".jp-OutputArea-output"
            stderr = page.locator(f'{out}[data-mime-type="application/vnd.jupyter.stderr"]')
            assert stderr.count() == 0, stderr.first.inner_text()[:2000]  # no error, no warning
            assert page.locator(f"{out} img").count() >= 3  # the chapter's figures
            assert page.locator(f"{out} .widget-hprogress").count() >= 1  # tqdm drew a widget
            page.screenshot(path=str(tmp_path / "lab.png"))
            page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
            page.wait_for_function("!window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
        log.close()
    assert not errors, errors
    assert (build / "runs" / "ae-baseline" / "seed-0" / "dev" / "fan" / "model.pt").exists()  # $ASDLIB_BUILD
    saved = json.loads((lab / "03_autoencoder.ipynb").read_text())
    assert all(not c.get("outputs") for c in saved["cells"] if c["cell_type"] == "code")
