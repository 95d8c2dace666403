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
from .layout import machine_types
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


def cells_from_scores(scores: pd.DataFrame, machine: str) -> pd.DataFrame:
    """AUC and pAUC per (section, domain) cell of a run's ``scores.csv`` (its labelled test rows)."""
    test = scores[scores["split"] == "test"]
    if test.empty or not test["label"].isin(["normal", "anomaly"]).all():
        raise ValueError(f"{machine}: the test clips carry no labels (or none were scored); evaluate "
                         f"the submission with ground truth instead (asdlib evaluate)")
    rows = []
    for (section, domain), g in test.groupby(["section", "domain"], sort=True):
        m = cell_metrics((g["label"] == "anomaly").astype(int).to_numpy(), g["score"].to_numpy(),
                         where=f"{machine} section {section} {domain}: ")
        rows.append({"machine": machine, "section": section, "domain": domain,
                     "AUC": m["AUC"], "pAUC": m["pAUC"]})
    return pd.DataFrame(rows)


def run_cells(run: SystemRun) -> pd.DataFrame:
    """AUC and pAUC of one run's test scores, one row per (section, domain) cell."""
    return cells_from_scores(run.scores, run.machine)


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
                frames.append(run_cells(run).assign(system=system, seed=int(seed)))
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


#: The columns of :func:`scores_by_machine` that :func:`seed_summary` averages over seeds.
VALUES = ("score", "source", "target", "AUC", "pAUC")


def seed_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds, per (system, machine type), of every value.

    One row per system and machine type (``"Score"``: the official score), in
    order of appearance: ``system, machine, seeds`` (how many), then
    ``<value>_mean`` and ``<value>_std`` for each of :data:`VALUES` (the
    standard deviation is empty for a single seed).  This long table is what
    ``asdlib run`` gathers into ``results.csv`` and what the results chapter reads.
    """
    rows = []
    for (system, machine), g in scores.groupby(["system", "machine"], sort=False):
        row = {"system": system, "machine": machine, "seeds": int(g["seed"].nunique())}
        for v in VALUES:
            vals = g[v].dropna()
            row[f"{v}_mean"] = float(vals.mean()) if len(vals) else np.nan
            row[f"{v}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else np.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=["system", "machine", "seeds",
                                       *[f"{v}_{s}" for v in VALUES for s in ("mean", "std")]])


def summary_tables(summary: pd.DataFrame, value: str = "score"
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One value of a :func:`seed_summary` table in the poster's layout.

    Returns ``(mean, std, table)``: systems as rows (in order of appearance),
    machine types in the poster's order and ``"Score"`` as columns; ``table``
    holds ``"mean ± std"`` strings (the mean alone for a single seed).
    """
    if value not in VALUES:
        raise ValueError(f"value must be one of {', '.join(VALUES)}, got {value!r}")
    systems = list(dict.fromkeys(summary["system"]))
    order = machine_order(summary["machine"])
    mean = summary.pivot(index="system", columns="machine", values=f"{value}_mean")
    std = summary.pivot(index="system", columns="machine", values=f"{value}_std")
    mean, std = (t.reindex(index=systems, columns=order).astype(float) for t in (mean, std))
    mean.columns.name = std.columns.name = None
    table = mean.copy().astype(object)
    for s in mean.index:
        for m in mean.columns:
            mu, sd = mean.loc[s, m], std.loc[s, m]
            table.loc[s, m] = ("" if np.isnan(mu) else f"{mu:.2f}") + ("" if np.isnan(sd) else f" ± {sd:.2f}")
    return mean, std, table


def mean_std_table(scores: pd.DataFrame, value: str = "score"
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """:func:`summary_tables` of :func:`seed_summary`: means and standard deviations over seeds."""
    return summary_tables(seed_summary(scores), value)
