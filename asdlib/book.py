"""Building the book: data, papermill-executed chapters, then a strict Jupyter Book render.

``build_book`` is what ``make book`` runs (through ``asdlib book``).  Under
``out`` (``_build/`` by default, never a tracked folder):

* ``data/``: the synthetic data set, when no real data is given;
* ``runs/``, ``cache/``: trained models, scores and log-mel caches, shared
  by the chapters (a system trained in one chapter is reused by the next)
  and by re-runs;
* ``src/``: the book's source with every notebook replaced by its
  executed copy (papermill, parameters injected);
* ``html/``: the rendered book (Jupyter Book 1.x with execution off, warnings
  and nitpicks as errors);
* ``timings.csv``: the wall time of every step.

Notebooks read their data through :func:`asdlib.project.chapter_data`,
which synthesises the data set when a notebook is run interactively without one.

The chapters run ``jobs`` at a time (two by default), in reading order:
where two chapters need the same run, the second waits for the first
(:func:`asdlib.pipeline.run_system` locks a run's folder) and reuses it, and
a chapter that reads earlier chapters' runs as it finds them starts only
after those chapters (:data:`AFTER`), so every chapter shows what it would
show alone, to the bit: each kernel keeps its own thread count.
"""
from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Collection, Mapping, Sequence

import pandas as pd
import yaml

from ._atomic import write_text_atomic
from .errors import NotebookError
from .layout import machine_types, resolve_data_root
from .notebooks import check_parameters, environment, execute_notebook, notebook_parameters
from .project import ROOT, check_classifiable, data_folder, fresh_folder, own_folder, training_sections

#: What the book's source is made of, besides the notebooks: copied into ``src/``.
SOURCE_FILES = ("_config.yml", "_toc.yml", "references.bib", "book")


def toc_notebooks(root: str | Path = ROOT) -> list[Path]:
    """The notebooks the book's table of contents names, in reading order."""
    root = Path(root)
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    entries = [toc["root"]]
    stack = list(toc.get("chapters", [])) + [c for p in toc.get("parts", []) for c in p["chapters"]]
    entries += [c["file"] for c in stack]
    return [root / f"{e}.ipynb" for e in entries if (root / f"{e}.ipynb").exists()]


#: How the book builder names itself in the folders it owns (:func:`asdlib.project.own_folder`).
BUILDER = "asdlib book"


def check_book_data(data_root: str | Path, params: Mapping[str, Any]) -> None:
    """Refuse, before anything runs, data the chapters cannot train their section classifiers on.

    Chapters 4 to 6 train on one machine type (``machine``, or the first one
    with two or more training sections); the results chapter trains every one
    of ``machines`` (all, by default) unless a gathered table (``results_table``)
    is given.  A :class:`asdlib.layout.LayoutError` names the machine types with
    a single section.
    """
    dev = data_folder(data_root, "dev")
    found = machine_types(dev)
    machine = params.get("machine")
    if machine in found:
        check_classifiable(dev, [machine])
    elif not any(len(training_sections(dev, m)) >= 2 for m in found):
        check_classifiable(dev, found)
    if not params.get("results_table"):
        check_classifiable(dev, [m for m in params.get("machines") or found if m in found])


def check_values(declared: Mapping[str, Any], given: Mapping[str, Any]) -> None:
    """Refuse, before anything runs, a parameter value a chapter would refuse only when its turn came.

    ``declared``: the chapter's parameters (:func:`asdlib.notebooks.notebook_parameters`), whose
    defaults fill what ``given`` leaves out.  Checks what the chapters' first cells check, when the
    chapter has the parameter: the settings, recipe and seed (every system's configuration is
    built), ``system`` with ``config``, ``systems``, ``backends``, ``augment``, ``dataset`` and
    ``device``.  Raises the error the chapter would raise (:class:`asdlib.errors.ConfigError`,
    ``ValueError``).
    """
    from .backends import check_backends
    from .checkpoint import pick_device
    from .config import check_overrides
    from .recipes import system_config, system_configs

    values = {name: p.default for name, p in declared.items()} | dict(given)
    if "settings" not in values:
        return
    settings, recipe, seed = values["settings"], values.get("recipe") or None, values.get("seed", 0)
    every = system_configs(settings, recipe=recipe, seed=seed)
    if "system" in values:
        system_config(values["system"], settings, seed=seed, recipe=recipe, overrides=values.get("config") or {})
    for system in values.get("systems", ()):
        system_config(system, settings, seed=seed, recipe=recipe)
    check_backends(values.get("backends", {}))
    for name, fields in values.get("augment", {}).items():
        every["MBv2 baseline"].replace(**check_overrides(fields, where=f"augment {name!r}: "))
    if values.get("dataset", "dev") not in ("dev", "eval"):
        raise ValueError(f"dataset must be 'dev' or 'eval', got {values['dataset']!r}")
    if values.get("device"):
        pick_device(values["device"])


#: Chapters run at once by default.
JOBS = 2

#: Chapters that read what earlier chapters trained, as they find it, without training it themselves: each
#: starts only once those have finished, or what it shows would depend on which chapter ran faster.  The
#: results chapter sets the runs of chapters 3 to 6 beside the gathered grid's (a fresh build on a Zen 3
#: started it while chapter 6 still trained its last row, and it showed five runs instead of six).
AFTER = {"07_results": ("03_autoencoder", "04_mobilenetv2", "05_contrastive", "06_median_filter")}

#: The chapters' kernels' environment when several run at once.  Torch's OpenMP threads (libgomp) wait
#: for work by spinning, by default for longer than a step of the other kernel takes: two processes of two
#: threads on two cores trained 6 to 11 times slower than one after the other (bench/chapters.py on the
#: 2-core machine).  Spinning 1,000 rounds, then sleeping, two at once were 0.98-1.10 times as fast as one
#: after the other, a process alone as fast as with the default, and the weights the same to the bit.
#: A variable the user has set is kept.
CONCURRENT_ENV = {"GOMP_SPINCOUNT": "1000"}


def run_in_order(items: Sequence[Any], work: Callable[[Any], None], jobs: int,
                 on_failure: Callable[[Any, BaseException], None] | None = None,
                 after: Mapping[Any, Collection[Any]] | None = None) -> None:
    """Call ``work`` on ``items``, at most ``jobs`` at a time (each in a thread), starting them in their order.

    ``after``: item -> the items that must have finished before it starts
    (those not among ``items`` are ignored); while an item waits for them,
    the next ones in order whose own are done start in its place.  After a
    failure no further item starts; the running ones finish, then the first
    failure is raised (``on_failure`` is told of each at once).  An interrupt
    (Ctrl-C) is raised at once: the threads are daemons, left to end with the
    process (a chapter's kernel then stops with it).
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    items = list(items)
    after = after or {}
    needs = {i: {items.index(d) for d in after.get(item, ()) if d in items} for i, item in enumerate(items)}
    finished: queue.Queue = queue.Queue()

    def run(i: int) -> None:
        try:
            work(items[i])
        except BaseException as err:  # noqa: BLE001: handed to the caller's thread
            finished.put((i, err))
        else:
            finished.put((i, None))

    pending, done, running = list(range(len(items))), set(), 0
    first: BaseException | None = None
    while running or (pending and first is None):
        while first is None and running < jobs:
            ready = [i for i in pending if needs[i] <= done]
            if not ready:
                break
            pending.remove(ready[0])
            threading.Thread(target=run, args=(ready[0],), daemon=True).start()
            running += 1
        if not running:  # nothing runs and nothing can start: a prerequisite that cannot finish
            raise ValueError(f"{items[pending[0]]!r} waits for items that cannot finish first: "
                             f"{', '.join(repr(items[d]) for d in sorted(needs[pending[0]] - done))}")
        i, err = finished.get()
        running -= 1
        done.add(i)
        if err is not None:
            if on_failure is not None:
                on_failure(items[i], err)
            first = first or err
    if first is not None:
        raise first


def build_book(out: str | Path = ROOT / "_build", *, data: str | Path | None = None,
               profile: str = "book", settings: str = "book", seed: int = 0,
               device: str = "", params: Mapping[str, Any] | None = None,
               root: str | Path = ROOT, jobs: int = JOBS, progress: bool = True) -> Path:
    """Execute every chapter with papermill and render the book; return the HTML folder.

    Parameters
    ----------
    data : a folder holding the real ``dev_data/`` (and ``eval_data/``); None:
        synthesise ``profile`` into ``out/data`` first.
    settings : the training settings of :data:`asdlib.config.SETTINGS`.
    params : further notebook parameters; each goes to the notebooks that declare it.
    jobs : chapters executed at once (see the module's docstring).
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    out, root = Path(out).resolve(), Path(root).resolve()
    timings: list[dict] = []

    def step(name: str, t0: float) -> None:
        timings.append({"step": name, "seconds": round(time.perf_counter() - t0, 1)})
        if progress:
            print(f"[book] {name}: {timings[-1]['seconds']:.0f} s", flush=True)

    start = t0 = time.perf_counter()
    data_root = out / "data" if data is None else Path(data).expanduser().resolve()
    if data is not None:
        resolve_data_root(data_root)  # a clear error before anything runs
        check_book_data(data_root, params or {})
    common = {"data": str(data_root), "runs": str(out / "runs"), "cache": str(out / "cache"),
              "settings": settings, "seed": seed, "device": device, "synth_profile": "",
              **(params or {})}
    notebooks = toc_notebooks(root)
    given_to = {}  # every notebook's parameters, checked before the first one runs
    for nb in notebooks:
        declared = notebook_parameters(nb)
        given_to[nb] = {k: v for k, v in common.items() if k in declared}
        check_parameters(nb, given_to[nb], declared=declared)
        try:
            check_values(declared, given_to[nb])
        except ValueError as err:  # a ConfigError, a bad dataset or device: named now, not when the chapter runs
            raise NotebookError(f"{nb.relative_to(root)}: {err}") from None
    unused = sorted(set(params or {}) - {k for g in given_to.values() for k in g})
    if unused:
        raise NotebookError(f"no chapter has a parameter named {', '.join(map(repr, unused))}")
    out.mkdir(parents=True, exist_ok=True)
    # the folders the build replaces are its own, or it stops here, before anything is written
    src, html, staging = out / "src", out / "html", out / ".jb"
    for folder, made_before in ((src, "_toc.yml"), (html, "objects.inv"), (staging, "_build")):
        own_folder(folder, BUILDER, made_before=(made_before,))
    if data is None:
        from .synth import synthesize

        synthesize(data_root, profile=profile, seed=seed, progress=progress)
        step(f"synthetic data ({profile})", t0)
    fresh_folder(src, BUILDER)
    for name in SOURCE_FILES:
        if (root / name).is_dir():
            shutil.copytree(root / name, src / name)
        else:
            shutil.copy2(root / name, src / name)
    def chapter(nb: Path) -> None:
        t0 = time.perf_counter()
        if progress:
            print(f"[book] running {nb.relative_to(root)} with {given_to[nb]}", flush=True)
        execute_notebook(nb, src / nb.relative_to(root), given_to[nb], cwd=nb.parent)
        step(f"notebook {nb.stem}", t0)

    def failed(nb: Path, err: BaseException) -> None:
        if progress:
            print(f"[book] {nb.relative_to(root)} failed; the book stops once the chapters running finish",
                  flush=True)

    # the kernels' environment, set once for the chapters running side by side (execute_notebook's env is
    # set and restored by each call, which two calls at once would interleave)
    env = {"ASDLIB_CACHE": str(out / "cache")}
    if jobs > 1 and not {"OMP_WAIT_POLICY", *CONCURRENT_ENV} & set(os.environ):
        env.update(CONCURRENT_ENV)
    with environment(env):
        run_in_order(notebooks, chapter, jobs, on_failure=failed,
                     after={nb: [n for n in notebooks if n.stem in AFTER.get(nb.stem, ())] for nb in notebooks})
    timings.sort(key=lambda t: [f"notebook {nb.stem}" for nb in notebooks].index(t["step"])
                 if t["step"].startswith("notebook ") else -1)

    t0 = time.perf_counter()
    fresh_folder(staging, BUILDER)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(src), "--path-output", str(staging),
           "--all", "-W", "-n", "--keep-going"]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        raise NotebookError("jupyter-book build failed (warnings are errors):\n"
                            + (run.stdout[-4000:] + run.stderr[-4000:]).strip())
    shutil.rmtree(own_folder(html, BUILDER))  # the build's own, as checked before the first chapter ran
    os.replace(staging / "_build" / "html", html)
    own_folder(html, BUILDER, made_before=("objects.inv",))
    shutil.rmtree(staging)
    step("jupyter-book build", t0)
    timings.append({"step": "total", "seconds": round(time.perf_counter() - start, 1)})
    write_text_atomic(out / "timings.csv", pd.DataFrame(timings).to_csv(index=False))
    if progress:
        print(f"[book] total: {timings[-1]['seconds'] / 60:.1f} min; the book: {html / 'index.html'}")
    return html
