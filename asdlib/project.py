"""Where things are: the repository, the data folders a run reads, the log-mel cache, and what a data set is.

Used by the pipeline, the book builder, the grid runner and the chapters
alike, so that none of them has to import another to find its folders.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .layout import LayoutError, list_clips, machine_types, resolve_data_root

#: The repository (the folder holding ``notebooks/`` and ``_toc.yml``).
ROOT = Path(__file__).resolve().parents[1]


#: Where a run writes its submission files: ``<run folder>/<dataset>/submission/``.
SUBMISSION_DIR = "submission"


def slug(system: str) -> str:
    """A folder name for a system: ``"+ CL, MF"`` -> ``"cl-mf"``, ``"AE baseline"`` -> ``"ae-baseline"``."""
    out = re.sub(r"[^a-z0-9]+", "-", system.lower()).strip("-")
    if not out:
        raise ValueError(f"system name {system!r} has no letters or digits to name a folder by")
    return out


def run_folder(out_dir: str | Path, system: str, seed: int) -> Path:
    """Where one system's runs with one seed go: ``<out_dir>/<system slug>/seed-<n>/``."""
    return Path(out_dir) / slug(system) / f"seed-{seed}"


def default_cache_dir() -> Path:
    """``$ASDLIB_CACHE``, or ``~/.cache/asdlib``: where log-mel caches go unless told otherwise."""
    return Path(os.environ.get("ASDLIB_CACHE") or Path.home() / ".cache" / "asdlib")


def data_folder(data_root: str | Path, dataset: str) -> Path:
    """The ``dev_data`` (dataset "dev") or ``eval_data`` ("eval") folder under ``data_root``."""
    if dataset not in ("dev", "eval"):
        raise ValueError(f"dataset must be 'dev' or 'eval', got {dataset!r}")
    roots = resolve_data_root(data_root)
    if dataset not in roots:
        raise LayoutError(f"{data_root}: no {dataset}_data/ folder")
    return roots[dataset]


def synth_marker(root: str | Path) -> dict | None:
    """What ``asdlib synth`` recorded about a data folder it made (version, seed), None for other data."""
    from .synth.generate import MARKER

    root = Path(root)
    for base in (root, root.parent):
        if (base / MARKER).is_file():
            return json.loads((base / MARKER).read_text())
    return None


def describe_data(root: str | Path) -> str:
    """One line that names a data folder plainly: synthetic (generator version, seed) or not, and its size."""
    root = Path(root)
    counts = []
    for name, folder in resolve_data_root(root).items():
        n = sum(len(list_clips(folder, m)) for m in machine_types(folder))
        counts.append(f"{name}_data: {len(machine_types(folder))} machine types, {n:,} clips")
    meta = synth_marker(root)
    if meta is not None:
        kind = (f"synthetic machine sounds made by `asdlib synth` (data version {meta.get('version')}, "
                f"seed {meta.get('seed')}), not the DCASE recordings")
    else:
        kind = "not made by `asdlib synth`: the DCASE 2021 Task 2 data (or another set in its layout)"
    return f"`{root}`: {kind}; " + "; ".join(counts)


def chapter_data(data: str | Path, *, synth_profile: str = "book", seed: int = 0) -> Path:
    """The data folder a chapter reads: ``data`` if it holds ``dev_data/``, else synthesise it there.

    ``synth_profile=""`` never synthesises: a folder without ``dev_data/`` is then an error.
    """
    data = Path(data).expanduser().resolve()
    if (data / "dev_data").is_dir() or data.name == "dev_data":
        return data
    if not synth_profile:
        raise LayoutError(f"{data}: no dev_data/ folder (and synth_profile is empty, so none is made)")
    from .synth import synthesize

    print(f"{data} holds no dev_data/: synthesising the {synth_profile!r} profile there (seed {seed})")
    synthesize(data, profile=synth_profile, seed=seed)
    return data
