"""Several systems x machine types x seeds, and their tables: the book's results and the ablation.

Data flow: :func:`run_systems` trains and scores every (system, seed,
machine type) with :func:`asdlib.pipeline.run_system` (reusing what an
earlier run left complete) and returns the *cells*, one row per (system,
seed, machine type, section, domain) with AUC and pAUC.
:func:`scores_by_machine` turns cells into scores (percent) per machine type
and the official score; :func:`mean_std_table` gives means and standard
deviations over seeds in the poster's layout.

Runs go to ``out_dir/<system slug>/seed-<n>/<dataset>/<machine>/``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .config import TrainConfig
from .layout import group_by_cell, list_clips, machine_types
from .metrics import cell_metrics, hmean
from .paper import COLUMNS
from .pipeline import SystemRun, data_folder, run_system

SCORE = "Score"  # the official score's column / machine name in the tables


def slug(system: str) -> str:
    """A folder name for a system: ``"+ CL, MF"`` -> ``"cl-mf"``, ``"AE baseline"`` -> ``"ae-baseline"``."""
    out = re.sub(r"[^a-z0-9]+", "-", system.lower()).strip("-")
    if not out:
        raise ValueError(f"system name {system!r} has no letters or digits to name a folder by")
    return out


def run_folder(out_dir: str | Path, system: str, seed: int) -> Path:
    return Path(out_dir) / slug(system) / f"seed-{seed}"


def run_cells(run: SystemRun, data_root: str | Path) -> pd.DataFrame:
    """AUC and pAUC of one run's test scores, one row per (section, domain) cell."""
    test = run.scores[run.scores["split"] == "test"].set_index("name")["score"]
    clips = list_clips(data_folder(data_root, run.dataset), run.machine, split="test")
    if any(c.y_true is None for c in clips):
        raise ValueError(f"{clips[0].path.parent}: the test clips carry no labels; evaluate the "
                         f"submission with ground truth instead (asdlib evaluate)")
    rows = []
    for (machine, section, domain), group in group_by_cell(clips).items():
        m = cell_metrics([c.y_true for c in group], test.loc[[c.name for c in group]].to_numpy(),
                         where=f"{machine} section {section} {domain}: ")
        rows.append({"machine": machine, "section": section, "domain": domain,
                     "AUC": m["AUC"], "pAUC": m["pAUC"]})
    return pd.DataFrame(rows)


def run_systems(data_root: str | Path, out_dir: str | Path, configs: Mapping[str, TrainConfig], *,
                machines: Sequence[str] | None = None, seeds: Sequence[int] = (0,),
                cache_dir: str | Path | None = None, device: str | None = None,
                progress: bool = True) -> pd.DataFrame:
    """Train and score every system on every machine type of the development set, once per seed.

    Returns the cells: columns system, seed, machine, section, domain, AUC, pAUC.
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
                frames.append(run_cells(run, data_root).assign(system=system, seed=int(seed)))
    cells = pd.concat(frames, ignore_index=True)
    return cells[["system", "seed", "machine", "section", "domain", "AUC", "pAUC"]]


def _score(g: pd.DataFrame) -> float:
    return 100 * hmean(np.concatenate([g["AUC"].to_numpy(), g["pAUC"].to_numpy()]))


def scores_by_machine(cells: pd.DataFrame) -> pd.DataFrame:
    """Per (system, seed, machine type): score, source and target scores, AUC and pAUC, in percent.

    The score is the harmonic mean of the machine type's AUC and pAUC values
    together (source and target: of those domains' cells only); each (system,
    seed) adds a row with machine ``"Score"``, the official score over all
    machine types.
    """
    rows = []
    for (system, seed), run in cells.groupby(["system", "seed"], sort=False):
        for machine, g in [*run.groupby("machine", sort=False), (SCORE, run)]:
            row = {"system": system, "seed": seed, "machine": machine, "score": _score(g)}
            for dom in ("source", "target"):
                d = g[g["domain"] == dom]
                row[dom] = _score(d) if len(d) else np.nan
            row["AUC"], row["pAUC"] = 100 * hmean(g["AUC"]), 100 * hmean(g["pAUC"])
            rows.append(row)
    return pd.DataFrame(rows)


def machine_order(machines) -> list[str]:
    """The poster's column order, then other machine types, then the official score."""
    machines = [m for m in dict.fromkeys(machines) if m != SCORE]
    return [m for m in COLUMNS if m in machines] + [m for m in machines if m not in COLUMNS] + [SCORE]


def mean_std_table(scores: pd.DataFrame, value: str = "score"
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Mean and standard deviation over seeds of one column of :func:`scores_by_machine`.

    Returns ``(mean, std, table)``: systems as rows (in order of appearance),
    machine types in the poster's order and ``"Score"`` as columns; ``table``
    holds ``"mean ± std"`` strings (the mean alone for a single seed).
    """
    systems = list(dict.fromkeys(scores["system"]))
    order = machine_order(scores["machine"])
    grouped = scores.groupby(["system", "machine"])[value]
    mean = grouped.mean().unstack().reindex(index=systems, columns=order)
    std = grouped.std(ddof=1).unstack().reindex(index=systems, columns=order)
    table = mean.copy().astype(object)
    for s in mean.index:
        for m in mean.columns:
            mu, sd = mean.loc[s, m], std.loc[s, m]
            table.loc[s, m] = ("" if np.isnan(mu) else f"{mu:.2f}") + ("" if np.isnan(sd) else f" ± {sd:.2f}")
    return mean, std, table
