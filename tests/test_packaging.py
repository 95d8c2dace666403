"""The pinned requirement set and environment.yml cannot drift apart; the environment `make` installs is compiled."""
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines):
    return {l.strip() for l in lines if re.match(r"^[A-Za-z0-9_.\-]+==", l.strip())}


def test_environment_yml_names_the_same_pins():
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert _pins(pip) == req
    assert "python=3.11" in env["dependencies"]
    assert {"torch==2.11.0", "torchaudio==2.11.0", "torchvision==0.26.0"} <= req


def test_readme_names_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_makefiles_environment_is_compiled_to_bytecode():
    import sys

    import torch

    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip("not the environment `make` installs (.venv)")
    # without it, where PYTHONDONTWRITEBYTECODE is set, every process imports torch from source (25 s against 9 s
    # on the 2-core machine): uv needs --compile-bytecode, which pip does by default
    cached = list((Path(torch.__file__).parent / "__pycache__").glob("__init__.*.pyc"))
    assert cached, f"{torch.__file__} has no compiled bytecode beside it"
