"""Submission files in the official format, and their evaluation.

Per (machine type, section, domain), two CSV files without header::

    anomaly_score_<machine>_section_<SS>_<domain>_test.csv    <file name>,<score>
    decision_result_<machine>_section_<SS>_<domain>_test.csv  <file name>,<0|1>

:func:`evaluate` reads a folder of them and scores it against labels from
the development file names or from the official ground-truth CSV files,
computing what the official DCASE 2021 Task 2 evaluator computes: rows are
matched by file name (the evaluator sorts both sides by name).
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ._atomic import write_text_atomic
from .layout import Clip, group_by_cell, list_clips, machine_types, read_ground_truth
from .errors import ScoreError
from .metrics import check_finite
from .tables import cells

_SUB_RE = re.compile(r"^(?P<kind>anomaly_score|decision_result)_(?P<machine>.+)_section_"
                     r"(?P<section>\d{2})_(?P<domain>source|target)_test\.csv$")


def score_file_name(machine: str, section: str, domain: str) -> str:
    return f"anomaly_score_{machine}_section_{section}_{domain}_test.csv"


def decision_file_name(machine: str, section: str, domain: str) -> str:
    return f"decision_result_{machine}_section_{section}_{domain}_test.csv"


def _csv_text(rows) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def write_cell(out_dir: str | Path, machine: str, section: str, domain: str,
               names: Sequence[str], scores: Sequence[float], decisions: Sequence[int]) -> None:
    """Write one cell's anomaly-score and decision-result files, atomically, sorted by name."""
    scores = check_finite(names, scores, where=f"{machine} section {section} {domain}: ")
    if not (len(names) == len(scores) == len(decisions)):
        raise ValueError(f"{len(names)} names, {len(scores)} scores and {len(decisions)} decisions")
    order = np.argsort(np.asarray(names))
    out_dir = Path(out_dir)
    write_text_atomic(out_dir / score_file_name(machine, section, domain),
                      _csv_text([names[i], repr(float(scores[i]))] for i in order))
    write_text_atomic(out_dir / decision_file_name(machine, section, domain),
                      _csv_text([names[i], int(decisions[i])] for i in order))


def write_submission(out_dir: str | Path, clips: Sequence[Clip], scores: Sequence[float],
                     threshold: float) -> Path:
    """Write every cell of ``clips`` with their scores; decisions are ``score > threshold``."""
    scores = np.asarray(scores, dtype=np.float64)
    by_name = {c.path: s for c, s in zip(clips, scores)}
    for (machine, section, domain), cell in group_by_cell(clips).items():
        s = [by_name[c.path] for c in cell]
        write_cell(out_dir, machine, section, domain, [c.name for c in cell], s,
                   [int(x > threshold) for x in s])
    return Path(out_dir)


def _read_rows(path: Path, *, decisions: bool) -> dict[str, float]:
    rows: dict[str, float] = {}
    with open(path, newline="") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if not row:
                continue
            try:
                if len(row) != 2:
                    raise ValueError
                value = int(row[1]) if decisions else float(row[1])
                if decisions and value not in (0, 1):
                    raise ValueError
            except ValueError:
                what = "<0|1>" if decisions else "<score>"
                raise ScoreError(f"{path}, line {lineno}: expected '<file name>,{what}', "
                                 f"got {','.join(row)!r}") from None
            if row[0] in rows:
                raise ScoreError(f"{path}, line {lineno}: {row[0]} appears twice")
            rows[row[0]] = value
    return rows


def read_submission(sub_dir: str | Path) -> dict[tuple[str, str, str], dict[str, dict]]:
    """Read a submission folder: ``{(machine, section, domain): {"scores": {...}, "decisions": {...}}}``."""
    sub_dir = Path(sub_dir)
    if not sub_dir.is_dir():
        raise ScoreError(f"{sub_dir}: submission folder not found")
    out: dict[tuple[str, str, str], dict[str, dict]] = {}
    for path in sorted(sub_dir.glob("*.csv")):
        m = _SUB_RE.match(path.name)
        if m is None:
            continue  # result tables and other files may sit beside the submission
        cell = (m["machine"], m["section"], m["domain"])
        key = "scores" if m["kind"] == "anomaly_score" else "decisions"
        out.setdefault(cell, {})[key] = _read_rows(path, decisions=key == "decisions")
    if not out:
        raise ScoreError(f"{sub_dir}: no anomaly_score_<machine>_section_<SS>_<domain>_test.csv files")
    return out


def _dev_folder(data_dir: str | Path) -> Path:
    """``data_dir/dev_data`` when there is one, else ``data_dir`` itself (a ``dev_data`` folder given)."""
    data_dir = Path(data_dir)
    return data_dir / "dev_data" if (data_dir / "dev_data").is_dir() else data_dir


def labels_from_data(data_dir: str | Path, machines: Sequence[str] | None = None
                     ) -> dict[tuple[str, str, str], dict[str, int]]:
    """Labels of the test clips of a development folder, from their file names."""
    data_dir = _dev_folder(data_dir)
    out: dict[tuple[str, str, str], dict[str, int]] = {}
    for machine in machines or machine_types(data_dir):
        for cell, clips in group_by_cell(list_clips(data_dir, machine, split="test")).items():
            if any(c.y_true is None for c in clips):
                raise ScoreError(f"{clips[0].path.parent}: test clips are unlabelled; "
                                 f"use the ground-truth CSV files (--ground-truth)")
            out[cell] = {c.name: int(c.y_true) for c in clips}
    return out


def evaluate(sub_dir: str | Path, *, data_dir: str | Path | None = None,
             ground_truth: str | Path | None = None) -> pd.DataFrame:
    """Score a submission folder; one row per cell with the metrics of :mod:`asdlib.metrics`.

    Labels come from the development file names under ``data_dir`` or from
    the ground-truth CSV files under ``ground_truth``.  Every cell of the
    label source is evaluated for each machine type that the submission
    covers; a missing file, a clip missing from or extra in a file, a NaN
    score or a cell of one class is an error that says so.
    """
    if (data_dir is None) == (ground_truth is None):
        raise ValueError("give exactly one label source: data_dir or ground_truth")
    sub = read_submission(sub_dir)
    machines = sorted({m for m, _, _ in sub})
    if ground_truth is not None:
        every = read_ground_truth(ground_truth)
        labelled = sorted({k[0] for k in every})
        labels = {k: v for k, v in every.items() if k[0] in machines}
    else:
        labelled = machine_types(_dev_folder(data_dir))
        labels = labels_from_data(data_dir, machines)
    frames = []
    for cell, truth in sorted(labels.items()):
        machine, section, domain = cell
        where = f"{machine} section {section} {domain}: "
        files = sub.get(cell, {})
        if "scores" not in files:
            raise ScoreError(f"{Path(sub_dir) / score_file_name(*cell)}: file missing")
        scores, decisions = files["scores"], files.get("decisions")
        for what, got in (("anomaly scores", scores), ("decisions", decisions)):
            if got is None:
                continue
            missing, extra = sorted(set(truth) - set(got)), sorted(set(got) - set(truth))
            if missing or extra:
                raise ScoreError(f"{where}{what} do not match the test set: "
                                 f"{len(missing)} missing {missing[:5]}, {len(extra)} extra {extra[:5]}")
        names = sorted(truth)
        frames.append(pd.DataFrame({
            "machine": machine, "section": section, "domain": domain,
            "y_true": [truth[n] for n in names],
            "score": check_finite(names, [scores[n] for n in names], where=where),
            "decision": np.nan if decisions is None else [decisions[n] for n in names]}))
    unknown = sorted(set(sub) - set(labels))
    if unknown:
        raise ScoreError(f"the submission has cells with no labels: {unknown[:5]}")
    out = cells(pd.concat(frames, ignore_index=True))
    out.attrs["missing machine types"] = [m for m in labelled if m not in machines]
    out.attrs["missing decision files"] = [decision_file_name(*cell) for cell in sorted(labels)
                                           if "decisions" not in sub.get(cell, {})]
    return out


def incomplete(cells: pd.DataFrame) -> str:
    """What an evaluated submission lacks (:func:`evaluate`'s ``attrs``), in words; "" when complete."""
    parts = []
    if cells.attrs.get("missing machine types"):
        parts.append("no files for machine type(s) " + ", ".join(cells.attrs["missing machine types"])
                     + " of the labels: the official score covers only the machine types present")
    if cells.attrs.get("missing decision files"):
        names = cells.attrs["missing decision files"]
        parts.append(f"{len(names)} decision file(s) missing ({', '.join(names[:3])}"
                     + (", ..." if len(names) > 3 else "") + "): no precision, recall or F1 for those cells")
    return "; ".join(parts)
