"""From clip scores to every table: cells, machine types, systems and seeds.

One route, used by the pipeline, the experiments, the grid, the evaluator
and the chapters:

1. :func:`cells`: clip scores (with labels, and decisions where there are
   some) -> one row per (machine type, section, domain) *cell* with the
   official metrics of :func:`asdlib.metrics.cell_metrics`;
2. :func:`machine_summary`: cells -> one row per machine type (and one for
   all of them) with the harmonic means the official evaluator reports: AUC,
   pAUC, their source-only and target-only means, and the score (the
   harmonic mean of the AUC and pAUC values together; over all machine
   types, the official score);
3. :func:`score_table` (one run, for display), :func:`scores_by_machine`
   (per system and seed), :func:`seed_summary` and :func:`summary_tables`
   (means and standard deviations over seeds, in the poster's layout).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from .layout import DOMAINS
from .metrics import METRICS, cell_metrics, hmean, official_score
from .paper import COLUMNS

SCORE = "Score"  # the official score's column / machine name in the tables
#: The columns of :func:`scores_by_machine` that :func:`seed_summary` averages over seeds.
VALUES = ("score", "source", "target", "AUC", "pAUC")
CELL_KEYS = ("machine", "section", "domain")


def cells(scores: pd.DataFrame, *, where: str = "") -> pd.DataFrame:
    """The official metrics of every (machine type, section, domain) cell of some scored test clips.

    Parameters
    ----------
    scores : one row per labelled test clip with columns ``machine``,
        ``section``, ``domain``, ``y_true`` (1 anomalous, 0 normal) or
        ``label`` (``"anomaly"``/``"normal"``), ``score`` and optionally
        ``decision`` (0/1; without it precision, recall and F1 are NaN).
    where : prefix of error messages (what the scores are of).

    Returns
    -------
    One row per cell, sorted: machine, section, domain, AUC, pAUC, precision, recall, F1.
    """
    if "y_true" not in scores:
        if not scores["label"].isin(["normal", "anomaly"]).all():
            raise ValueError(f"{where}the test clips carry no labels; evaluate the submission with "
                             f"ground truth instead (asdlib evaluate)")
        scores = scores.assign(y_true=(scores["label"] == "anomaly").astype(int))
    rows = []
    for (machine, section, domain), g in scores.groupby(list(CELL_KEYS), sort=True):
        decisions = g["decision"].to_numpy() if "decision" in g and g["decision"].notna().all() else None
        m = cell_metrics(g["y_true"].to_numpy(), g["score"].to_numpy(), decisions,
                         where=f"{where}{machine} section {section} {domain}: ")
        rows.append({"machine": machine, "section": section, "domain": domain, **m})
    return pd.DataFrame(rows, columns=[*CELL_KEYS, *METRICS])


def test_cells(scores: pd.DataFrame, machine: str) -> pd.DataFrame:
    """AUC and pAUC per (section, domain) cell of one run's ``scores.csv`` (its test rows)."""
    test = scores[scores["split"] == "test"]
    if test.empty:
        raise ValueError(f"{machine}: no test clips were scored")
    return cells(test.assign(machine=machine), where=f"{machine}: ")[[*CELL_KEYS, "AUC", "pAUC"]]


def _summary_row(g: pd.DataFrame) -> dict:
    row = {"AUC": hmean(g["AUC"]), "pAUC": hmean(g["pAUC"])}
    for dom in DOMAINS:
        d = g[g["domain"] == dom]
        if not d.empty:
            row[f"AUC ({dom})"], row[f"pAUC ({dom})"] = hmean(d["AUC"]), hmean(d["pAUC"])
            row[f"score ({dom})"] = official_score(d)
    row["score"] = official_score(g)
    return row


def machine_summary(cells: pd.DataFrame) -> pd.DataFrame:
    """Harmonic means per machine type (in order of appearance), then over all of them (row ``"Score"``).

    Columns, as fractions: AUC, pAUC, ``AUC (source)``, ``pAUC (source)``,
    ``score (source)`` and the same for ``target`` where the domain has
    cells, and ``score``, the harmonic mean of the AUC and pAUC values
    together (in the last row: the official score).
    """
    rows = {machine: _summary_row(g) for machine, g in cells.groupby("machine", sort=False)}
    rows[SCORE] = _summary_row(cells)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "machine"
    return table


def score_table(cells: pd.DataFrame, *, blanks: bool = False) -> pd.DataFrame:
    """One run's table as the book and the poster show it, in percent.

    One row per machine type: harmonic means of AUC and pAUC over all its
    cells, then over source and target cells, and the machine type's own
    score (harmonic mean of its AUC and pAUC values together); the last row,
    ``"official score"``, holds the official score over all machine types and
    the harmonic means of all AUC and all pAUC values.  ``blanks``: empty
    strings instead of NaN where a value does not exist (the official
    score's per-domain cells), for display.
    """
    summary = machine_summary(cells)
    columns = ["AUC", "pAUC", *[f"{m} ({d})" for d in DOMAINS for m in ("AUC", "pAUC")
                                if f"{m} ({d})" in summary], "score"]
    table = summary[columns].copy()
    for c in columns[2:-1]:
        table.loc[SCORE, c] = np.nan  # the official score is not given per domain
    table = table.rename(index={SCORE: "official score"})
    table = (100 * table).round(2)
    return table.astype(object).where(table.notna(), "") if blanks else table


def scores_by_machine(cells: pd.DataFrame) -> pd.DataFrame:
    """Per (system, seed, machine type): score, source and target scores, AUC and pAUC, in percent.

    ``cells`` has the columns system, seed, machine, section, domain, AUC and
    pAUC.  The score is the harmonic mean of the machine type's AUC and pAUC
    values together (source and target: of those domains' cells only); each
    (system, seed) adds a row with machine ``"Score"``, the official score
    over all machine types.
    """
    rows = []
    for (system, seed), run in cells.groupby(["system", "seed"], sort=False):
        summary = machine_summary(run)
        for machine, s in summary.iterrows():
            rows.append({"system": system, "seed": seed, "machine": machine,
                         "score": 100 * s["score"],
                         "source": 100 * s.get("score (source)", np.nan),
                         "target": 100 * s.get("score (target)", np.nan),
                         "AUC": 100 * s["AUC"], "pAUC": 100 * s["pAUC"]})
    return pd.DataFrame(rows, columns=["system", "seed", "machine", *VALUES])


def machine_order(machines: Iterable[str]) -> list[str]:
    """The poster's column order, then other machine types, then the official score."""
    machines = [m for m in dict.fromkeys(machines) if m != SCORE]
    return [m for m in COLUMNS if m in machines] + [m for m in machines if m not in COLUMNS] + [SCORE]


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


def summarize(cells: pd.DataFrame) -> pd.DataFrame:
    """Per machine type: arithmetic and harmonic means of every metric over its cells.

    ``cells`` has columns machine, section, domain and the metrics (one row
    per cell, as :func:`asdlib.submission.evaluate` returns).  The result is
    tidy: columns machine, subset (all, source, target), mean (arithmetic,
    harmonic) and one column per metric.
    """
    rows = []
    for machine, group in cells.groupby("machine", sort=False):
        for subset in ("all", *DOMAINS):
            g = group if subset == "all" else group[group["domain"] == subset]
            if g.empty:
                continue
            for mean, fn in (("arithmetic", np.mean), ("harmonic", hmean)):
                rows.append({"machine": machine, "subset": subset, "mean": mean,
                             **{m: (fn(g[m].to_numpy()) if g[m].notna().all() else np.nan)
                                for m in METRICS}})
    return pd.DataFrame(rows)
