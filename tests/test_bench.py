"""The benchmarks in bench/ still run against the package: what they import from it exists, and each
parses its command line (the figures on the performance page come from them; nothing else runs them)."""
from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = sorted((ROOT / "bench").glob("*.py"))


def _package_names(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted name) for every name a script takes from the package: ``from asdlib.x import y``
    anywhere in it (also inside functions), ``import asdlib.x``, and attribute chains ``asdlib.x.y``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "asdlib":
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "asdlib"]
        elif isinstance(node, ast.Attribute):
            chain, inner = [node.attr], node.value
            while isinstance(inner, ast.Attribute):
                chain.insert(0, inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name) and inner.id == "asdlib":
                found.append((node.lineno, ".".join(["asdlib", *chain])))
    return found


def _missing(dotted: str) -> str | None:
    """None when ``dotted`` names something in the package (a module, or an attribute of one), else what
    is missing."""
    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        if hasattr(obj, part):
            obj = getattr(obj, part)
            continue
        name = ".".join(parts[:i + 1])
        try:  # a submodule not imported yet: `from asdlib import plots`
            obj = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and not name.startswith(e.name):
                raise  # the module exists and lacks one of its own imports: that error, as it is
            return f"{'.'.join(parts[:i])} has no {part}"
    return None


@pytest.mark.parametrize("path", BENCH, ids=lambda p: p.name)
def test_what_a_benchmark_takes_from_the_package_exists(path):
    names = _package_names(ast.parse(path.read_text(), filename=str(path)))
    problems = [f"{path.name}:{line}: {msg}" for line, dotted in names if (msg := _missing(dotted)) is not None]
    assert not problems, "\n".join(problems)


def test_the_checker_sees_a_name_the_package_lacks():
    tree = ast.parse("def main():\n    from asdlib.features import median_filter, no_such_name\n"
                     "    import asdlib.windows\n    asdlib.windows.gather, asdlib.windows.nothing_here\n"
                     "    asdlib.models.MobileNetV2.forward\n")
    names = _package_names(tree)
    missing = [m for _, dotted in names if (m := _missing(dotted))]
    assert missing == ["asdlib.features has no no_such_name", "asdlib.windows has no nothing_here"]


# each script run as `python bench/x.py --help`, all in one fresh process (one import of torch, not eleven)
_HELP = """
import contextlib, io, json, runpy, sys
out = {}
for path in sys.argv[1:]:
    sys.argv = [path, "--help"]
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            runpy.run_path(path, run_name="__main__")
        code = "returned without exiting"
    except SystemExit as e:
        code = e.code
    except BaseException as e:
        code = f"{type(e).__name__}: {e}"
    out[path] = [code, buf.getvalue()[:200]]
print(json.dumps(out))
"""


def test_every_benchmark_parses_its_command_line():
    proc = subprocess.run([sys.executable, "-c", _HELP, *map(str, BENCH)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    bad = {Path(p).name: code for p, (code, text) in result.items() if code not in (0, None) or "usage" not in text}
    assert not bad, bad
