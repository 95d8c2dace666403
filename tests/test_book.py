"""End-to-end smoke run: the book builds strictly (warnings are errors) from a clean state."""
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [c["file"] for c in toc.get("chapters", [])]


def test_book_builds_strictly(tmp_path):
    jb = Path(sys.executable).with_name("jupyter-book")
    assert jb.exists() or shutil.which("jupyter-book"), "jupyter-book is not installed"
    cmd = [str(jb if jb.exists() else "jupyter-book"), "build", str(ROOT), "--path-output",
           str(tmp_path), "-W", "-n", "--keep-going"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    html = tmp_path / "_build" / "html"
    for page in _toc_files():
        text = (html / f"{page}.html").read_text()
        assert "Traceback" not in text and "Error" not in text.replace("ErrorBoundary", "")
