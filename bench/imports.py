"""The package's import graph: floors, arrows, and arrows that skip a floor.

A module's floor is one more than the highest floor among the package
modules it imports (a module importing none is on floor 1); an arrow
skips a floor when it points more than one floor down.  Printed per module
with what it imports, then the totals; ``--leaves`` leaves out the arrows
to the small modules every floor uses (errors, numbers, atomic writes).

    python3 bench/imports.py [--leaves]
"""
from __future__ import annotations

import argparse
import ast
import pathlib
import sys

LEAVES = ("asdlib.errors", "asdlib._numeric", "asdlib._atomic")


def graph(root: pathlib.Path) -> dict[str, set[str]]:
    mods = {}
    for p in sorted(root.rglob("*.py")):
        name = ".".join(p.relative_to(root.parent).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = p
    deps = {}
    for name, p in mods.items():
        pkg = name if p.name == "__init__.py" else name.rsplit(".", 1)[0]
        found = set()
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in mods]
                found.update(subs or ([target] if target in mods else []))
        found.discard(name)
        deps[name] = found
    return deps


def floors(deps: dict[str, set[str]]) -> dict[str, int]:
    out: dict[str, int] = {}

    def floor(n: str, stack: tuple = ()) -> int:
        if n in stack:
            sys.exit(f"import cycle: {' -> '.join(stack + (n,))}")
        if n not in out:
            out[n] = 1 + max((floor(d, stack + (n,)) for d in deps[n]), default=0)
        return out[n]

    for n in deps:
        floor(n)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--leaves", action="store_true", help="leave out arrows to " + ", ".join(LEAVES))
    args = ap.parse_args()
    deps = graph(pathlib.Path(__file__).resolve().parents[1] / "asdlib")
    level = floors(deps)
    arrows = [(a, b) for a, ds in deps.items() for b in ds if not (args.leaves and b in LEAVES)]
    for n in sorted(deps, key=lambda n: (level[n], n)):
        print(f"{level[n]:2d} {n:28s} <- {', '.join(sorted(d.split('.')[-1] for d in deps[n]))}")
    skipping = sum(level[a] - level[b] > 1 for a, b in arrows)
    print(f"\n{len(deps)} modules, {max(level.values())} floors, {len(arrows)} arrows, {skipping} skip a floor")


if __name__ == "__main__":
    main()
