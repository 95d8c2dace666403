"""Several systems x machine types x seeds: the runs behind the book's results and the ablation.

:func:`run_systems` trains and scores every (system, seed, machine type)
with :func:`asdlib.pipeline.run_system` (reusing what an earlier run left
complete) and returns the *cells*, one row per (system, seed, machine type,
section, domain) with AUC and pAUC; :mod:`asdlib.tables` turns them into
scores per machine type and means over seeds.

Runs go to ``out_dir/<system slug>/seed-<n>/<dataset>/<machine>/``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from .config import TrainConfig
from .layout import machine_types
from .pipeline import run_system
from .project import data_folder, run_folder


def run_systems(data_root: str | Path, out_dir: str | Path, configs: Mapping[str, TrainConfig], *,
                machines: Sequence[str] | None = None, seeds: Sequence[int] = (0,),
                cache_dir: str | Path | None = None, device: str | None = None,
                progress: bool = True) -> pd.DataFrame:
    """Train and score every system on every machine type of the development set, once per seed.

    Returns the cells: columns system, seed, machine, section, domain, AUC,
    pAUC, then each cell's clip counts and bootstrap intervals
    (:func:`asdlib.tables.cell_intervals`).
    """
    if not seeds:
        raise ValueError("at least one seed")
    machines = list(machines) if machines else machine_types(data_folder(data_root, "dev"))
    frames = []
    for system, config in configs.items():
        for seed in seeds:
            out = run_folder(out_dir, system, seed)
            for machine in machines:
                run = run_system(data_root, machine, config.replace(seed=int(seed)), out,
                                 cache_dir=cache_dir, device=device, progress=progress)
                frames.append(run.cells(intervals=True).assign(system=system, seed=int(seed)))
    cells = pd.concat(frames, ignore_index=True)
    first = ["system", "seed", "machine", "section", "domain", "AUC", "pAUC"]
    return cells[first + [c for c in cells.columns if c not in first]]
