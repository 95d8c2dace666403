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


def clip_frame(clips, scores: np.ndarray) -> pd.DataFrame:
    """One row per clip: name, split, section, domain, label and score (what ``scores.csv`` holds)."""
    return pd.DataFrame([{"name": c.name, "split": c.split, "section": c.section,
                          "domain": c.domain, "label": c.label, "score": s} for c, s in zip(clips, scores)])


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


def labelled(scores: pd.DataFrame) -> bool:
    """Whether every test clip of a run's ``scores.csv`` frame has a label (development data, or
    evaluation data scored with its ground truth): only then can its metrics be computed."""
    return bool(scores.loc[scores["split"] == "test", "label"].isin(("normal", "anomaly")).all())


def test_cells(scores: pd.DataFrame, machine: str, *, threshold: float | None = None,
               intervals: bool = False) -> pd.DataFrame:
    """AUC and pAUC per (section, domain) cell of one run's ``scores.csv`` (its test rows).

    ``threshold``: also the precision, recall and F1 of deciding ``score >
    threshold`` anomalous; ``intervals``: also the clip counts and the
    bootstrap intervals of :func:`cell_intervals`.
    """
    test = scores[scores["split"] == "test"].assign(machine=machine)
    if test.empty:
        raise ValueError(f"{machine}: no test clips were scored")
    if threshold is not None:
        test = test.assign(decision=(test["score"] > threshold).astype(int))
    out = cells_with_intervals(test) if intervals else cells(test, where=f"{machine}: ")
    keep = [c for c in out.columns if threshold is not None or c not in ("precision", "recall", "F1")]
    return out[keep]


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


# ---------------------------------------------------------------- uncertainty


def _partial_areas(normal: np.ndarray, anomaly: np.ndarray, max_fpr: float) -> tuple[np.ndarray, np.ndarray]:
    """AUC and McClish-standardised partial AUC of score sets ``(B, m)`` normal, ``(B, k)`` anomalous.

    The ROC curve's segment where the false positive rate passes the j-th
    highest normal score has the height of the share of anomalous scores
    above it (ties count half: the diagonal step): summing those heights
    over every normal gives the AUC, over the highest ``max_fpr * m``
    (the last one in part) the partial area, standardised as scikit-learn
    does (0.5 for a random scorer, 1 for a perfect one).
    """
    m, k = normal.shape[1], anomaly.shape[1]
    top = -np.sort(-normal, axis=1)  # (B, m), highest first
    above = (anomaly[:, None, :] > top[:, :, None]).sum(-1) + 0.5 * (anomaly[:, None, :] == top[:, :, None]).sum(-1)
    height = above / k  # (B, m): TPR over the segment of each normal
    auc = height.mean(axis=1)
    j = max_fpr * m
    whole = int(np.floor(j))
    weights = np.zeros(m)
    weights[:whole] = 1.0
    if whole < m:
        weights[whole] = j - whole
    partial = (height * weights).sum(axis=1) / m
    lo, hi = 0.5 * max_fpr ** 2, max_fpr
    return auc, 0.5 * (1 + (partial - lo) / (hi - lo))


def cell_intervals(y_true, y_score, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
                   max_fpr: float = 0.1) -> dict[str, float]:
    """Bootstrap confidence intervals of one cell's AUC and pAUC.

    The normal and the anomalous clips are resampled separately (the cell
    keeps its counts), ``n_boot`` times with a fixed seed; the interval is
    the central ``level`` share of the resampled values.  Returns
    ``AUC_lo, AUC_hi, pAUC_lo, pAUC_hi`` and the counts ``normal`` and
    ``anomalous``.
    """
    y_true, y_score = np.asarray(y_true, dtype=bool), np.asarray(y_score, dtype=np.float64)
    normal, anomaly = y_score[~y_true], y_score[y_true]
    rng = np.random.default_rng(seed)
    out = {"normal": int(len(normal)), "anomalous": int(len(anomaly))}
    aucs, paucs = [], []
    for start in range(0, n_boot, 250):
        b = min(250, n_boot - start)
        a, p = _partial_areas(normal[rng.integers(0, len(normal), (b, len(normal)))],
                              anomaly[rng.integers(0, len(anomaly), (b, len(anomaly)))], max_fpr)
        aucs.append(a)
        paucs.append(p)
    tail = 100 * (1 - level) / 2
    for name, values in (("AUC", np.concatenate(aucs)), ("pAUC", np.concatenate(paucs))):
        out[f"{name}_lo"], out[f"{name}_hi"] = (float(v) for v in np.percentile(values, [tail, 100 - tail]))
    return out


def cells_with_intervals(scores: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """:func:`cells` with each cell's clip counts and the bootstrap intervals of :func:`cell_intervals`."""
    out = cells(scores)
    if "y_true" not in scores:
        scores = scores.assign(y_true=(scores["label"] == "anomaly").astype(int))
    extra = [cell_intervals(g["y_true"], g["score"], **kwargs)
             for _, g in scores.groupby(list(CELL_KEYS), sort=True)]
    return pd.concat([out, pd.DataFrame(extra)], axis=1)


def paired_differences(scores: pd.DataFrame, a: str, b: str, value: str = "score") -> pd.DataFrame:
    """System ``a`` minus system ``b``, seed by seed, per machine type (and the official score).

    ``scores``: :func:`scores_by_machine` of runs that share their seeds.
    One row per machine type: the mean and standard deviation of the
    per-seed differences (points), the number of seeds, and in how many of
    them ``a`` is ahead.  A difference whose mean is smaller than its
    standard deviation is not told apart from the noise by these seeds.
    """
    wide = scores.pivot_table(index=["machine", "seed"], columns="system", values=value)
    if a not in wide or b not in wide:
        raise ValueError(f"both systems must have been measured: {a!r}, {b!r}")
    diff = (wide[a] - wide[b]).dropna()
    rows = []
    for machine in machine_order(diff.index.get_level_values("machine")):
        if machine not in diff.index.get_level_values("machine"):
            continue
        d = diff.xs(machine, level="machine")
        rows.append({"machine": machine, "mean": float(d.mean()),
                     "std": float(d.std(ddof=1)) if len(d) > 1 else np.nan,
                     "seeds": int(len(d)), "ahead": int((d > 0).sum())})
    return pd.DataFrame(rows).set_index("machine")


# ---------------------------------------------------------------- beside the poster


#: The poster's names of the official baselines (rows of its challenge table).
POSTER_BASELINES = {"AE baseline": "AE Baseline", "MBv2 baseline": "MBv2 Baseline"}


def _row(summary: pd.DataFrame, system: str, machine: str) -> pd.Series | None:
    r = summary[(summary["system"] == system) & (summary["machine"] == machine)]
    return None if r.empty else r.iloc[0]


def against_real(summary: pd.DataFrame) -> pd.DataFrame:
    """The two official baselines as measured beside the same baselines on the real data.

    ``summary``: a :func:`seed_summary` table.  Per machine type: each
    baseline's AUC (mean and standard deviation over seeds, percent), its
    AUC on the real DCASE 2021 evaluation set as the poster's challenge
    table reports it, the difference, and whether MobileNetV2 minus AE has
    the sign it has on the real data.
    """
    from .paper import challenge_table

    real = challenge_table()
    rows = []
    for machine in machine_order(summary["machine"])[:-1]:
        row = {"machine": machine}
        for system, poster in POSTER_BASELINES.items():
            short = system.split()[0]
            r = _row(summary, system, machine)
            row[f"{short} AUC"] = np.nan if r is None else r["AUC_mean"]
            row[f"{short} sd"] = np.nan if r is None else r["AUC_std"]
            row[f"{short} real"] = real.loc[poster, machine] if machine in real.columns else np.nan
            row[f"{short} difference"] = row[f"{short} AUC"] - row[f"{short} real"]
        row["same sign of MBv2 - AE"] = bool(np.sign(row["MBv2 AUC"] - row["AE AUC"])
                                             == np.sign(row["MBv2 real"] - row["AE real"]))
        rows.append(row)
    return pd.DataFrame(rows).set_index("machine")


def against_challenge(summary: pd.DataFrame) -> pd.DataFrame:
    """An evaluation-set grid's systems beside the poster's challenge table, in its metrics.

    ``summary``: a :func:`seed_summary` table gathered from runs on the
    evaluation set (``asdlib run`` with ``dataset: eval``, ``eval/results.csv``).
    One row per measured system (``"<system>, measured"``: the mean over seeds
    of its AUC per machine type and of its official score) and one per row of
    the poster's table (``"<row>, reported by the poster"``); columns: the
    machine types both have, in the poster's order, then ``"Score"``.
    """
    from .paper import challenge_table

    poster = challenge_table()
    machines = [m for m in machine_order(summary["machine"]) if m != SCORE and m in poster.columns]
    rows = {}
    for system in dict.fromkeys(summary["system"]):
        row = {m: (r["AUC_mean"] if (r := _row(summary, system, m)) is not None else np.nan) for m in machines}
        score = _row(summary, system, SCORE)
        row[SCORE] = score["score_mean"] if score is not None else np.nan
        rows[f"{system}, measured"] = row
    for name in poster.index:
        rows[f"{name}, reported by the poster"] = {**{m: poster.loc[name, m] for m in machines},
                                                   SCORE: poster.loc[name, "Score"]}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=[*machines, SCORE])
    table.index.name = "evaluation set"
    return table


def against_poster(summary: pd.DataFrame, systems=None) -> pd.DataFrame:
    """Every system and machine type as measured (mean ± sd over seeds) beside the poster's number.

    The poster reports the ablation rows on the real development set (its
    first table; which metric its per-machine columns hold it does not say:
    the book reads them as the machine type's score, the harmonic mean of
    its AUC and pAUC values) and the baselines on the real evaluation set
    (its challenge table: AUCs per machine type, the official score).  The
    measured value is taken in the same metric as the poster's.
    """
    from .paper import ablation_table, challenge_table

    ablation, challenge = ablation_table(), challenge_table()
    systems = systems or list(dict.fromkeys(summary["system"]))
    rows = []
    for system in systems:
        for machine in machine_order(summary["machine"]):
            r = _row(summary, system, machine)
            if r is None:
                continue
            if system in POSTER_BASELINES:
                poster, where = challenge.loc[POSTER_BASELINES[system], machine], "evaluation set"
                value = "score" if machine == SCORE else "AUC"
                metric = "official score" if machine == SCORE else "AUC"
            elif system in ablation.index:
                poster, where = ablation.loc[system, machine], "development set"
                value, metric = "score", ("official score" if machine == SCORE else "not stated (read as score)")
            else:
                poster, where, value, metric = np.nan, "", "score", ""
            mean, std = r[f"{value}_mean"], r[f"{value}_std"]
            rows.append({"system": system, "machine": machine, "measured": mean, "sd": std,
                         "seeds": int(r["seeds"]), "poster": poster, "poster's metric": metric,
                         "poster's data": where, "measured - poster": mean - poster})
    return pd.DataFrame(rows)


def difference_sentence(diff: pd.DataFrame, name: str) -> str:
    """What a :func:`paired_differences` table says, in one sentence (Markdown).

    The official score's difference is called told apart from the noise
    when every seed agrees on its sign and its mean is larger than its
    standard deviation; per machine type, the types where every seed puts
    the first system ahead (or behind) with such a margin are named.
    """
    total = diff.loc[SCORE]
    if total["seeds"] < 2:
        return f"- **{name}**: {total['mean']:+.2f} points of official score, one seed: no spread to judge it by."

    def held(r):
        return r["seeds"] > 1 and r["ahead"] in (0, r["seeds"]) and abs(r["mean"]) > r["std"]

    rows = diff.drop(index=SCORE)
    ahead = [m for m, r in rows.iterrows() if held(r) and r["mean"] > 0]
    behind = [m for m, r in rows.iterrows() if held(r) and r["mean"] < 0]
    return (f"- **{name}**: {total['mean']:+.2f} ± {total['std']:.2f} points of official score over "
            f"{int(total['seeds'])} seeds, " + ("the same sign in every seed" if held(total) else
                                                "not told apart from the seed-to-seed spread")
            + f"; ahead in every seed on {', '.join(ahead) or 'no machine type'}, behind in every seed on "
            f"{', '.join(behind) or 'none'}.")
