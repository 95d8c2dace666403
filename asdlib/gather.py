"""Gathering a grid's result files into one table and into DCASE submission folders.

Every complete run's ``result.json`` holds the AUC and pAUC of each of its
(section, domain) cells.  :func:`gather` stacks those cells, computes the
scores per machine type and the official score of every (system, seed)
that has all the grid's machine types (:func:`asdlib.tables.scores_by_machine`),
and the mean and standard deviation over seeds
(:func:`asdlib.tables.seed_summary`).  It writes, under the grid's
output folder:

* ``results.csv``: that summary, one row per system and machine type (and
  ``"Score"``, the official score): ``seeds``, then ``<value>_mean`` and
  ``<value>_std`` for score, source, target, AUC and pAUC, in percent;
* ``results.md``: the same as tables to read;
* ``scores.csv`` (per seed) and ``cells.csv`` (per cell);
* ``submissions/<system>/seed-<n>/``: every run's official submission files,
  one folder per system (with its override) and seed, that ``asdlib
  evaluate`` scores.

The runs on the evaluation set (a grid's ``dataset: eval`` or ``both``) are
gathered apart, into ``eval/``: the same files, ``eval/grid.json`` naming the
evaluation data, and tables of the runs that had ground truth to be scored
against (the submission folders hold every run's files either way).

A system that ran with an override is named ``"<system> [<override>]"``.
:func:`read_results` reads ``results.csv`` back (the results chapter uses it).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Sequence

import pandas as pd

from ._atomic import write_text_atomic
from .grid import RunSpec, read_result
from .project import SUBMISSION_DIR, run_folder, slug
from .tables import SCORE, VALUES, scores_by_machine, seed_summary, summary_tables

RESULTS = "results.csv"


def run_results(runs: Sequence[RunSpec]) -> list[tuple[RunSpec, dict]]:
    """The complete runs among ``runs`` and their result files."""
    return [(run, result) for run in runs if (result := read_result(run)) is not None]


#: What names the machine and software a run was made with (its result file's ``versions``).
MADE_WITH = ("platform", "cuda", "python", "torch", "numpy", "git")


def made_with(results: Sequence[tuple[RunSpec, dict]]) -> list[dict]:
    """Where the runs were made: one entry per distinct platform, CUDA, Python, torch, NumPy and
    source commit (``cuda`` None: no GPU), with its number of runs, the most common first.

    A grid can be run on another machine (a GPU) and resumed or gathered here; the gatherer's own
    versions say nothing about the runs.
    """
    from collections import Counter

    counts = Counter(tuple(res.get("versions", {}).get(k) for k in MADE_WITH) for _, res in results)
    return [{**dict(zip(MADE_WITH, key)), "runs": n} for key, n in counts.most_common()]


def made_sentence(made: Sequence[dict]) -> str:
    """``made_with`` in words, e.g. "126 runs on a GPU (CUDA 13.0), Python 3.12.3, torch 2.11.0, ..."."""
    parts = []
    for m in made:
        where = f"a GPU (CUDA {m['cuda']})" if m.get("cuda") else "the CPU"
        parts.append(f"{m['runs']} run(s) on {where}, Python {m.get('python')}, torch {m.get('torch')}, "
                     f"NumPy {m.get('numpy')}, commit `{m.get('git')}` ({m.get('platform')})")
    return "; ".join(parts) if parts else "no run recorded"


def result_cells(results: Sequence[tuple[RunSpec, dict]]) -> pd.DataFrame:
    """Every cell of every result: system (label), seed, machine, section, domain, AUC, pAUC (and
    the decision results, clip counts and intervals where the result files hold them).  A run
    without metrics (evaluation clips without ground truth) has no cells."""
    frames = [pd.DataFrame(res["metrics"]["cells"]).assign(system=run.label, seed=run.seed,
                                                            machine=run.machine)
              for run, res in results if res["metrics"].get("cells")]
    cols = ["system", "seed", "machine", "section", "domain", "AUC", "pAUC"]
    if not frames:
        return pd.DataFrame(columns=cols)
    cells = pd.concat(frames, ignore_index=True)
    cells = cells[cols + [c for c in cells.columns if c not in cols]]
    cells["section"] = cells["section"].astype(str).str.zfill(2)
    return cells


def grid_scores(cells: pd.DataFrame, machines: Sequence[str]) -> pd.DataFrame:
    """:func:`scores_by_machine`, without the official score of a (system, seed) that lacks a machine type."""
    if cells.empty:
        return pd.DataFrame(columns=["system", "seed", "machine", *VALUES])
    scores = scores_by_machine(cells)
    have = cells.groupby(["system", "seed"])["machine"].agg(lambda m: set(m) >= set(machines))
    whole = scores.apply(lambda r: r["machine"] != SCORE or bool(have[(r["system"], r["seed"])]), axis=1)
    return scores[whole].reset_index(drop=True)


def _markdown(summary: pd.DataFrame, meta: dict) -> str:
    evaluation = meta.get("dataset") == "eval"
    lines = ["# Results of `asdlib run`" + (" on the evaluation set" if evaluation else ""), ""]
    if meta:
        lines += [f"- Data: {meta.get('description', meta.get('data'))}",
                  f"- Settings: `{meta.get('settings')}`; seeds {meta.get('seeds')}; "
                  f"{meta.get('complete')} of {meta.get('runs')} runs complete",
             f"- Made with: {made_sentence(meta.get('made', []))}", ""]
    if summary.empty:
        return "\n".join(lines + ["No run is scored: no evaluation run had ground truth (its submission "
                                  "files are in `submissions/`)." if evaluation and meta.get("complete")
                                  else "No run is complete yet.", ""])
    what = {"score": "Score per machine type (harmonic mean of its AUC and pAUC values) and the "
                     "official score, percent",
            "source": "Source domain only", "target": "Target domain only",
            "AUC": "AUC (harmonic mean over sections and domains)", "pAUC": "pAUC (the same)"}
    for value in VALUES:
        table = summary_tables(summary, value)[2]
        table.index.name = "system"
        lines += [f"## {what[value]}", "", "Mean ± standard deviation over seeds (the mean alone "
                  "for one seed).", "", table.to_markdown(disable_numparse=True, colalign=["left"] + ["right"] * len(table.columns)), ""]
    return "\n".join(lines)


def _submissions(out: Path, results: Sequence[tuple[RunSpec, dict]]) -> Path:
    """Copy every run's submission files into ``submissions/<system>/seed-<n>/``, replacing the old tree."""
    final, tmp = out / "submissions", out / ".submissions.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for run, _ in results:
        src = run_folder(run.work, run.system, run.seed) / run.dataset / SUBMISSION_DIR
        dest = tmp / slug(run.system) / f"seed-{run.seed}" if not run.override else \
            tmp / f"{slug(run.system)}_{run.override}" / f"seed-{run.seed}"
        dest.mkdir(parents=True, exist_ok=True)
        for f in sorted(src.glob(f"*_{run.machine}_section_*_test.csv")):
            shutil.copy2(f, dest / f.name)
    old = out / ".submissions.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


EVAL_DIR = "eval"


def gather(out: str | Path, runs: Sequence[RunSpec], machines: Sequence[str]) -> dict[str, Path]:
    """Write the gathered tables and submission folders of ``runs`` under ``out`` (the evaluation
    set's under ``out/eval``); return their paths (the evaluation set's named ``eval_<file>``)."""
    out = Path(out)
    meta_path = out / "grid.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    dev = [r for r in runs if r.dataset == "dev"]
    evaluation = [r for r in runs if r.dataset == "eval"]
    files = _gather_set(out, dev, machines, meta, meta_path) if dev or not evaluation else {}
    if evaluation:
        eval_meta = {k: v for k, v in meta.items() if k not in ("identity", "eval_identity")}
        if meta:
            eval_meta.update(identity=meta.get("eval_identity", {}), dataset="eval",
                             runs=len(evaluation))
        folder = out / EVAL_DIR
        folder.mkdir(exist_ok=True)
        files.update({f"eval_{k}": v for k, v in _gather_set(folder, evaluation, machines, eval_meta,
                                                               folder / "grid.json").items()})
    return files


def _gather_set(out: Path, runs: Sequence[RunSpec], machines: Sequence[str], meta: dict,
                meta_path: Path) -> dict[str, Path]:
    """:func:`gather` for the runs of one data set, into ``out``; ``meta`` is rewritten to ``meta_path``."""
    results = run_results(runs)
    cells = result_cells(results)
    scores = grid_scores(cells, machines)
    summary = seed_summary(scores)
    if meta:  # the record of the grid says how much of it is complete
        meta["complete"] = len(results)
        meta["made"] = made_with(results)
        write_text_atomic(meta_path, json.dumps(meta, indent=2))
    files = {"results": out / RESULTS, "markdown": out / "results.md", "scores": out / "scores.csv",
             "cells": out / "cells.csv"}
    write_text_atomic(files["cells"], cells.to_csv(index=False))
    write_text_atomic(files["scores"], scores.to_csv(index=False))
    write_text_atomic(files["results"], summary.to_csv(index=False))
    write_text_atomic(files["markdown"], _markdown(summary, meta))
    files["submissions"] = _submissions(out, results)
    return files


def read_gathered(path: str | Path) -> dict:
    """A gathered grid: ``results`` (:func:`read_results`), ``meta`` (``grid.json``), ``scores`` (per
    seed) and ``cells`` (per cell), read from ``results.csv`` and the files beside it."""
    summary, meta = read_results(path)
    folder = Path(path).expanduser().parent
    out = {"results": summary, "meta": meta}
    for name in ("scores", "cells"):
        try:
            out[name] = pd.read_csv(folder / f"{name}.csv", dtype={"section": str})
        except FileNotFoundError:
            raise FileNotFoundError(f"{folder / (name + '.csv')}: missing beside {path} (asdlib run writes it)") \
                from None
    return out


def read_results(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """A gathered ``results.csv`` and the ``grid.json`` beside it (``{}`` when absent).

    Errors name the file: a missing file, or a CSV without the columns :func:`gather` writes.
    """
    path = Path(path).expanduser()
    try:
        summary = pd.read_csv(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such results table (asdlib run writes results.csv)") from None
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable CSV table ({err})") from None
    need = ["system", "machine", "seeds", *[f"{v}_{s}" for v in VALUES for s in ("mean", "std")]]
    missing = [c for c in need if c not in summary.columns]
    if missing:
        raise ValueError(f"{path}: not a table gathered by asdlib run (missing columns "
                         f"{', '.join(missing)})")
    summary[[c for c in need[3:]]] = summary[need[3:]].astype(float)
    meta_path = path.parent / "grid.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return summary, meta


#: Where the repository keeps the gathered tables of the book's grids (``make results``).
BOOK_RESULTS = Path(__file__).resolve().parents[1] / "results" / "book"


def gathered_for(root: str | Path, name: str, *, settings: str, given: str | Path = "",
                 folder: str | Path = BOOK_RESULTS) -> tuple[dict | None, str]:
    """The gathered grid a chapter shows, and how to say where it comes from.

    ``given``: a ``results.csv`` named by the reader (always shown); else
    the repository's ``folder/name/results.csv`` when it was computed on the
    data under ``root`` (:func:`asdlib.project.same_data`) with these
    settings; else ``(None, "")``: the chapter trains itself.
    """
    from .project import same_data

    if given:
        return read_gathered(given), f"`{given}`"
    path = Path(folder) / name / RESULTS
    if path.exists():
        grid = read_gathered(path)
        if grid["meta"].get("settings") == settings and same_data(root, grid["meta"].get("identity", {})):
            return grid, f"the repository's `results/book/{name}/` (gathered by `make results`; 'Made with' says where the runs ran)"
    return None, ""
