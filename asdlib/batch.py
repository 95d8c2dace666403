"""Running a grid: every run's notebook executed with papermill on a Dask cluster, resumably.

:func:`run_grid` is what ``asdlib run`` does.  Under ``out``::

    grid.json                 the grid as resolved (data, axes, settings), for the record
    runs/<name>/<name>.ipynb  each run's executed notebook (<name>.failed.ipynb when a cell failed)
    runs/<name>/result.json   its metrics, parameters, versions, data identity, seed and wall time
    runs/<name>/work/         its model, history, clip scores and submission files
    cache/                    the log-mel cache, shared by the runs
    results.csv, results.md   the gathered table (:mod:`asdlib.gather`), cells.csv, scores.csv
    submissions/<system>/seed-<n>/   DCASE submission folders (``asdlib evaluate`` reads them)
    summary.json              the last invocation: every run's status and the failures

A run is *complete* when its ``result.json`` (written last, atomically)
says so and its notebook exists; a re-run skips it.  Any other run folder
is what an interrupted or failed run left: it is removed and the run done
again from scratch.  A failed run keeps its executed notebook (with the
error) and the others go on; :func:`run_grid` reports the failures.

The runs are tasks of a Dask distributed cluster: a local one by default
(``workers`` processes, one run each at a time; on a machine with GPUs,
one worker per GPU, each run seeing only its own GPU), or the cluster whose
scheduler ``scheduler`` names (its workers must see the same paths).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from . import __version__
from ._atomic import exclusive_lock, write_text_atomic
from .errors import GridError, NotebookError
from .gather import gather
from .grid import RESULT, Grid, RunSpec, check, describe, expand, read_result
from .layout import LayoutError, machine_types
from .notebooks import execute_notebook, failed_path
from .project import ROOT, data_folder, data_identity, describe_data, own_folder, run_folder
from .tables import labelled, scores_by_machine, test_cells

LOCK = ".asdlib-run.lock"
#: How the grid runner names itself in the folders it owns (:func:`asdlib.project.own_folder`).
RUNNER = "asdlib run"


@dataclass
class Outcome:
    """What became of one run in one invocation: ``complete``, ``skipped`` (complete before) or ``failed``."""

    run: RunSpec
    status: str
    seconds: float = 0.0
    error: str = ""

    @property
    def notebook(self) -> Path:
        return failed_path(self.run.notebook) if self.status == "failed" else self.run.notebook


@dataclass
class GridReport:
    out: Path
    outcomes: list[Outcome]
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)  # what gathering wrote

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)


# ---------------------------------------------------------------- one run (runs on a worker)


def versions() -> dict[str, Any]:
    """The versions a run ran with: Python, the main packages, the platform and the source commit."""
    import dask
    import distributed
    import numpy
    import papermill
    import torch

    out = {"asdlib": __version__, "python": platform.python_version(), "torch": torch.__version__,
           "numpy": numpy.__version__, "pandas": pd.__version__, "papermill": papermill.__version__,
           "dask": dask.__version__, "distributed": distributed.__version__,
           "platform": platform.platform(), "cuda": torch.version.cuda if torch.cuda.is_available() else None}
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        out["git"] = (head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")) \
            if head.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        out["git"] = None
    return out


def _metrics(run: RunSpec) -> tuple[dict, dict]:
    """Metrics of a finished run from the files its notebook left, and its run.json.

    An evaluation run without ground truth has no metrics: its threshold, and no cells.
    """
    folder = run_folder(run.work, run.system, run.seed) / run.dataset / run.machine
    try:
        scores = pd.read_csv(folder / "scores.csv", dtype={"section": str})
        info = json.loads((folder / "run.json").read_text())
    except (OSError, ValueError) as err:
        raise GridError(f"{folder}: the notebook finished without its scores ({err})") from None
    if not labelled(scores):
        return {"threshold": info["threshold"], "cells": [], "labelled": False}, info
    cells = test_cells(scores, run.machine, threshold=info["threshold"], intervals=True)
    row = scores_by_machine(cells.assign(system=run.system, seed=run.seed))
    row = row[row["machine"] == run.machine].iloc[0]
    metrics = {k: float(row[k]) for k in ("score", "source", "target", "AUC", "pAUC")}
    metrics["threshold"] = info["threshold"]
    metrics["cells"] = cells.drop(columns="machine").to_dict(orient="records")
    return metrics, info


def kernel_env(context: dict, worker: str | int | None = None) -> dict[str, str]:
    """Environment of a run's kernel: its OpenMP threads, and on a local GPU cluster its one GPU.

    Worker ``i`` of a local cluster with GPUs ``context["gpus"]`` runs on
    ``gpus[i]`` alone (``CUDA_VISIBLE_DEVICES``).
    """
    env = {k: str(context["threads"]) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
           if context.get("threads")}
    if context.get("gpus"):
        env["CUDA_VISIBLE_DEVICES"] = str(context["gpus"][int(worker) % len(context["gpus"])])
    return env


def execute_run(run: RunSpec, context: dict, after: Any = None) -> dict:
    """Run one grid cell from scratch: execute its notebook, then write its result file.

    A Dask task.  ``context``: ``data`` (each data set's identity per machine
    type: ``{"dev": {machine: ...}, "eval": ...}``), ``threads`` (OpenMP
    threads of the run's kernel) and ``gpus`` (GPU ids of a local cluster: the
    worker named ``i`` runs on ``gpus[i]``).  ``after``: the outcome of the
    run named by ``run.model_from`` (a Dask dependency; unused).  A run with
    ``model_from`` starts from a copy of that run's checkpoint, which the
    notebook reuses when it is complete (the two differ in scoring fields
    only); without one (that run failed) it trains its own.
    Returns a dict: status, seconds, error.
    """
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    shutil.rmtree(run.folder, ignore_errors=True)  # whatever an interrupted or failed attempt left
    run.folder.mkdir(parents=True)
    if run.model_from:
        trainer = replace(run, name=run.model_from, folder=run.folder.parent / run.model_from)
        if trainer.checkpoint.is_file():
            run.checkpoint.parent.mkdir(parents=True)
            shutil.copy2(trainer.checkpoint, run.checkpoint)
    worker = None
    if context.get("gpus"):
        from distributed import get_worker

        worker = get_worker().name
    env = kernel_env(context, worker)
    try:
        execute_notebook(context["notebook"], run.notebook, run.params, env=env)
        metrics, info = _metrics(run)
    except NotebookError as err:
        return {"status": "failed", "seconds": time.perf_counter() - t0, "error": str(err)}
    except Exception as err:  # noqa: BLE001: any other failure is this run's, reported, not raised
        return {"status": "failed", "seconds": time.perf_counter() - t0,
                "error": f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=3)}"}
    seconds = time.perf_counter() - t0
    result = {"status": "complete", "run": run.name, "machine": run.machine, "system": run.system,
              "seed": run.seed, "override": run.override, "label": run.label,
              "metrics": metrics, "parameters": dict(run.params), "config": info["config"],
              "notebook": run.notebook.name, "source_notebook": str(context["notebook"]),
              "dataset": run.dataset, "data": context["data"][run.dataset][run.machine],
              "versions": versions(),
              "host": platform.node(), "env": env,
              "started": started.isoformat(timespec="seconds"), "wall_seconds": round(seconds, 2)}
    write_text_atomic(run.folder / RESULT, json.dumps(result, indent=2, default=str))
    return {"status": "complete", "seconds": seconds, "error": ""}


# ---------------------------------------------------------------- the grid


def _gpus() -> list[int]:
    try:
        import torch

        return list(range(torch.cuda.device_count()))
    except Exception:  # noqa: BLE001: no usable CUDA is no GPU
        return []


#: Runs that share one GPU at a time by default (``--runs-per-gpu``). Their training steps take turns
#: on the GPU (two or four fast-path runs trained 1.02-1.03x as fast together as one alone on an H100,
#: ``bench/gpu.py``); what a run does besides training (decoding, features, scoring, its notebook)
#: runs on the CPU meanwhile.
RUNS_PER_GPU = 4


def default_workers(gpus: Sequence[int], runs_per_gpu: int | None = None) -> int:
    """``runs_per_gpu`` workers per GPU (default :data:`RUNS_PER_GPU`); without GPUs, one per CPU
    core, at most 8.

    On the project's 2-core machine a tiny grid ran 1.59x faster on two
    single-threaded workers than on one worker with two threads
    (``bench/grid.py``).
    """
    if gpus:
        return len(gpus) * (runs_per_gpu or RUNS_PER_GPU)
    return max(1, min(8, os.cpu_count() or 1))


@contextlib.contextmanager
def _lock(out: Path):
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(exclusive_lock(out / LOCK, wait=False))
        except BlockingIOError:
            raise GridError(f"{out}: another `asdlib run` is using this folder") from None
        yield


@contextlib.contextmanager
def _dask(workers: int, scheduler: str | None, gpus: Sequence[int]):
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, timeout="30s") as client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit=0, silence_logs=logging.ERROR,
                      resources={"GPU": 1} if gpus else None) as cluster, Client(cluster) as client:
        yield client


def _machines_found(grid: Grid) -> list[str]:
    """The machine types present in every data set the grid runs on (development order)."""
    try:
        present = [machine_types(data_folder(grid.data, ds)) for ds in grid.datasets]
    except LayoutError as err:
        raise GridError(f"the grid cannot start: {err} (the grid's dataset is "
                        f"{'/'.join(grid.datasets)})") from None
    return [m for m in present[0] if all(m in p for p in present[1:])]


def run_grid(grid: Grid, out: str | Path, *, workers: int | None = None, scheduler: str | None = None,
             runs_per_gpu: int | None = None, progress: bool = True,
             log: Callable[[str], None] = print) -> GridReport:
    """Run every run of ``grid`` that is not complete yet, then gather all of them. See the module docstring.

    Bad parameters raise before anything is written (:func:`asdlib.grid.check`).
    """
    t0 = time.perf_counter()
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if runs_per_gpu is not None and runs_per_gpu < 1:
        raise ValueError(f"runs_per_gpu must be at least 1, got {runs_per_gpu}")
    out = Path(out).resolve()
    has_data = (grid.data / "dev_data").is_dir() or grid.data.name == "dev_data"
    if has_data:
        found = _machines_found(grid)
    elif grid.synth:
        from .layout import MACHINE_TYPES

        found = None
        bad = [m for m in grid.machines if m not in MACHINE_TYPES]
        if bad:
            raise GridError(f"the grid cannot start: synthetic data has no machine type {bad[0]!r} "
                                f"(it has {', '.join(MACHINE_TYPES)})")
    else:
        raise GridError(f"{grid.data}: no dev_data/ folder; give the DCASE data, or make synthetic "
                            f"data there first (asdlib synth --out {grid.data} --profile tiny, or the "
                            f"grid's `synth` key)")
    machines = list(grid.machines) or list(found or [])
    runs = expand(grid, out, machines or ["?"])
    check(grid, runs, found)  # nothing is written before this passes
    own_folder(out, RUNNER, made_before=("grid.json",))  # a folder of the user's is refused, untouched
    with _lock(out):
        if not has_data:
            from .synth import synthesize

            log(f"{grid.data} holds no dev_data/: writing the synthetic {grid.synth!r} profile there")
            synthesize(grid.data, profile=grid.synth, seed=0, machines=list(grid.machines) or None,
                       with_eval="eval" in grid.datasets, progress=progress)
            found = _machines_found(grid)
            machines = list(grid.machines) or found
            runs = expand(grid, out, machines)
            check(grid, runs, found)
        identity = {ds: {m: data_identity(grid.data, m, ds) for m in machines} for ds in grid.datasets}
        done = {r.name: r for r in runs if _still_valid(r, read_result(r), identity[r.dataset][r.machine])}
        write_text_atomic(out / "grid.json", json.dumps(
            {**grid.as_dict(), "machines": machines, "runs": len(runs),
             "description": describe_data(grid.data), "identity": identity.get("dev", {}),
             **({"eval_identity": identity["eval"]} if "eval" in identity else {}),
             "versions": versions()}, indent=2))
        log(f"asdlib run: {describe(grid, machines)}")
        outcomes = {name: Outcome(r, "skipped") for name, r in done.items()}
        todo = [r for r in runs if r.name not in outcomes]
        if outcomes:
            log(f"{len(outcomes)} run(s) complete already: skipped")
        if todo:
            _dispatch(todo, outcomes, grid, identity, workers, scheduler, progress, log, runs_per_gpu)
        files = gather(out, runs, machines)
        report = GridReport(out=out, outcomes=[outcomes[r.name] for r in runs],
                            seconds=time.perf_counter() - t0, files=files)
        summary = {"finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "seconds": round(report.seconds, 1),
                   "runs": [{"run": o.run.name, "status": o.status, "seconds": round(o.seconds, 1),
                             "notebook": str(o.notebook), "error": o.error} for o in report.outcomes]}
        write_text_atomic(out / "summary.json", json.dumps(summary, indent=2))
    return report


#: Parameters that only say where the grid lives (the data by its path, the run's folders): a grid
#: folder moved, or made on another machine and copied here, is still the same grid.  The data
#: themselves are compared by their fingerprint.
LOCATIONS = ("data", "runs", "cache")


def _comparable(params: dict) -> dict:
    """A run's parameters without where things live; of the ground truth, whether there is any (an
    evaluation run made without it has no metrics, and is not the run a grid with it asks for)."""
    out = {k: v for k, v in json.loads(json.dumps(params)).items() if k not in LOCATIONS}
    if "ground_truth" in out:
        out["ground_truth"] = bool(out["ground_truth"])
    return out


def _still_valid(run: RunSpec, result: dict | None, identity: dict) -> bool:
    """Whether a run's result may be kept: complete, with these parameters, on these data.

    A complete run made with other parameters or other data (the same
    output folder used for another grid) is refused rather than overwritten.
    """
    if result is None:
        return False
    same_params = _comparable(result.get("parameters") or {}) == _comparable(dict(run.params))
    made_on = result.get("data", {})
    # names and sizes, and for synthetic data the generator's version and seed: a newer generator
    # writes files of the same names and sizes with other sounds in them
    same_data = (made_on.get("fingerprint") == identity["fingerprint"]
                 and made_on.get("synthetic") == identity.get("synthetic"))
    if not (same_params and same_data):
        what = "parameters" if not same_params else "data (its files differ, or another generator made them)"
        raise GridError(f"{run.folder}: this complete run was made with other {what} than the grid "
                        f"asks for; use another --out, or remove the run's folder to run it again")
    return True


def _dispatch(todo: list[RunSpec], outcomes: dict[str, Outcome], grid: Grid, identity: dict,
              workers: int | None,
              scheduler: str | None, progress: bool, log: Callable[[str], None],
              runs_per_gpu: int | None = None) -> None:
    from distributed import as_completed
    from tqdm.auto import tqdm

    gpus = [] if scheduler else _gpus()
    workers = min(workers or default_workers(gpus, runs_per_gpu), len(todo))
    # a local cluster shares this machine's cores among its workers; a remote cluster's workers
    # keep the threads their own environment gives them
    threads = None if scheduler else 1 if gpus else max(1, (os.cpu_count() or 1) // workers)
    context = {"notebook": grid.notebook, "threads": threads, "gpus": gpus, "data": identity}
    where = f"scheduler {scheduler}" if scheduler else (
        f"a local Dask cluster of {workers} worker(s)" + (f" on {len(gpus)} GPU(s)" if gpus else
                                                          f", {threads} thread(s) per run"))
    log(f"running {len(todo)} run(s) on {where}")
    with _dask(workers, scheduler, gpus) as client:
        resources = None
        if gpus or any("GPU" in w.get("resources", {}) for w in client.scheduler_info()["workers"].values()):
            resources = {"GPU": 1}  # one run per GPU at a time
        futures, by_name = {}, {}
        for run in sorted(todo, key=lambda r: bool(r.model_from)):  # the runs that train first
            future = client.submit(execute_run, run, context, by_name.get(run.model_from),
                                   key=f"asdlib-run-{run.name}", pure=False, resources=resources)
            futures[future], by_name[run.name] = run, future
        bar = tqdm(total=len(todo), desc="grid", unit="run", disable=not progress, file=sys.stdout)
        say = bar.write if progress else log
        try:
            for future in as_completed(futures):
                run = futures[future]
                try:
                    res = future.result()
                except Exception as err:  # noqa: BLE001: a worker that died (KilledWorker) or the like
                    res = {"status": "failed", "seconds": 0.0, "error": f"{type(err).__name__}: {err}"}
                outcomes[run.name] = Outcome(run, res["status"], res["seconds"], res["error"])
                mark = "ok" if res["status"] == "complete" else "FAILED"
                say(f"  {mark:6s} {run.name} ({res['seconds']:.0f} s)"
                          + (f": {res['error'].splitlines()[0]}" if res["error"] else ""))
                bar.update()
                bar.set_postfix(complete=sum(o.status == "complete" for o in outcomes.values()),
                                failed=sum(o.status == "failed" for o in outcomes.values()))
        finally:
            bar.close()
