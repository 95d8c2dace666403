"""A grid of runs: machine types x systems x seeds x overrides, from a YAML or TOML file and the command line.

A grid file names the data and the axes; every key is optional except
``data`` (which may also come from the command line)::

    # grid.yml
    data: /data/dcase2021            # holds dev_data/; relative paths are relative to this file
    machines: [fan, valve]           # default: every machine type of dev_data/
    systems:                         # names or folder names (ae-baseline, cl-mf); default: all six
      - AE baseline
      - "+ CL, MF"
    seeds: [0, 1, 2]                 # default: [0]
    settings: paper                  # training settings (default: paper, the official ones)
    params: {device: cuda}           # further parameters of the run notebook, for every run
    overrides:                       # each entry multiplies the grid (default: none)
      official: {}
      lr-1e-4: {config: {lr: 0.0001}}
    synth: ""                        # a synthetic profile to write into `data` when it holds no dev_data/
    notebook: notebooks/08_run.ipynb # the notebook executed per run (default)
    dataset: dev                     # dev (default), eval (trained on eval_data/, sections 03-05) or both
    ground_truth: ""                 # eval: folder of ground_truth_*.csv ("": <data>/ground_truth_data if any)

:func:`expand` turns a :class:`Grid` into :class:`RunSpec` s (the notebook
parameters of each run and the folder it writes), and :func:`check` refuses
a grid with a bad parameter before anything is written: an unknown name or a
value of the wrong type for the notebook's ``parameters`` cell, an unknown
system, machine type or training setting, or two runs with one name.
"""
from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from .recipes import SYSTEMS, system_config
from .errors import GridError, NotebookError
from .notebooks import check_parameters, notebook_parameters
from .config import SCORING_FIELDS
from .project import ROOT, run_folder, slug

DEFAULT_NOTEBOOK = ROOT / "notebooks" / "08_run.ipynb"
#: Keys of a grid file.
KEYS = ("data", "machines", "systems", "seeds", "settings", "params", "overrides", "synth", "notebook",
        "dataset", "ground_truth")
#: What the ``dataset`` key may say, and the data sets each means.
DATASETS = {"dev": ("dev",), "eval": ("eval",), "both": ("dev", "eval")}
#: Notebook parameters the runner sets itself (the axes of the grid and the run's own folders).
MANAGED = ("data", "synth_profile", "runs", "cache", "system", "machine", "seed", "progress", "dataset",
           "ground_truth")
RUNS_DIR = "runs"
RESULT = "result.json"  # written last, atomically: the run is complete


@dataclass(frozen=True)
class Grid:
    """What to run: every (seed, override, system, machine type) of these axes."""

    data: Path
    machines: tuple[str, ...] = ()
    systems: tuple[str, ...] = SYSTEMS
    seeds: tuple[int, ...] = (0,)
    settings: str = "paper"
    params: Mapping[str, Any] = field(default_factory=dict)
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: {"": {}})
    synth: str = ""
    notebook: Path = DEFAULT_NOTEBOOK
    datasets: tuple[str, ...] = ("dev",)
    ground_truth: Path | None = None  # None: <data>/ground_truth_data when present

    def as_dict(self) -> dict:
        return {"data": str(self.data), "machines": list(self.machines), "systems": list(self.systems),
                "seeds": list(self.seeds), "settings": self.settings, "params": dict(self.params),
                "overrides": {k: dict(v) for k, v in self.overrides.items()}, "synth": self.synth,
                "notebook": str(self.notebook),
                "dataset": next(k for k, v in DATASETS.items() if v == tuple(self.datasets)),
                "ground_truth": str(self.ground_truth) if self.ground_truth else None}


@dataclass(frozen=True)
class RunSpec:
    """One run: the notebook's parameters and the folder that holds all it writes."""

    name: str
    machine: str
    system: str
    seed: int
    override: str  # the override's label ("" for none)
    params: Mapping[str, Any]
    folder: Path
    dataset: str = "dev"  # "dev" or "eval": whose train/ trains the model and whose tests it scores
    model_from: str = ""  # a run of the grid that trains the same model: its checkpoint is reused

    @property
    def label(self) -> str:
        """The system as the gathered tables name it: with the override's label, when there is one."""
        return f"{self.system} [{self.override}]" if self.override else self.system

    @property
    def notebook(self) -> Path:
        """The executed notebook, named by the run's parameters."""
        return self.folder / f"{self.name}.ipynb"

    @property
    def work(self) -> Path:
        """The ``runs`` folder given to the notebook: model, scores and submission files."""
        return self.folder / "work"

    @property
    def checkpoint(self) -> Path:
        """Where the run's notebook keeps its trained model (:func:`asdlib.project.run_folder`)."""
        return run_folder(self.work, self.system, self.seed) / self.dataset / self.machine / "model.pt"


def read_result(run: RunSpec) -> dict | None:
    """The run's result, when the run is complete (its result file says so and its notebook exists)."""
    try:
        result = json.loads((run.folder / RESULT).read_text())
    except (OSError, ValueError):
        return None
    if result.get("status") != "complete" or not run.notebook.exists():
        return None
    return result


def read_grid_file(path: str | Path) -> dict[str, Any]:
    """The keys of a YAML (``.yml``/``.yaml``) or TOML (``.toml``) grid file, paths made absolute."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise GridError(f"{path}: cannot read the grid file ({err.strerror})") from None
    try:
        if path.suffix == ".toml":
            raw = tomllib.loads(text)
        elif path.suffix in (".yml", ".yaml"):
            raw = yaml.safe_load(text) or {}
        else:
            raise GridError(f"{path}: a grid file is .yml, .yaml or .toml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as err:
        raise GridError(f"{path}: not valid {path.suffix[1:].upper()}: {err}") from None
    if not isinstance(raw, dict):
        raise GridError(f"{path}: a grid file is a mapping of keys ({', '.join(KEYS)})")
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise GridError(f"{path}: unknown key(s) {', '.join(map(repr, unknown))}; a grid file has "
                        f"{', '.join(KEYS)}")
    for key in ("data", "notebook", "ground_truth"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise GridError(f"{path}: {key} must be a path, got {raw[key]!r}")
        if raw.get(key):
            raw[key] = (path.parent / Path(raw[key]).expanduser()).resolve()
    return raw


def _label(override: Mapping[str, Any]) -> str:
    def flat(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, Mapping):
                yield from flat(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}={v}"
    return re.sub(r"[^A-Za-z0-9._=+-]+", "-", ",".join(flat(override))).strip("-")


def _overrides(value: Any, where: str) -> dict[str, dict]:
    """A list of parameter mappings (labelled by their content) or a mapping label -> parameters."""
    if value is None or value == [] or value == {}:
        return {"": {}}
    items = list(value.items()) if isinstance(value, Mapping) else [(None, v) for v in value] \
        if isinstance(value, (list, tuple)) else None
    if items is None:
        raise GridError(f"{where}overrides must be a list of parameter mappings or a mapping "
                        f"name -> parameters, got {value!r}")
    out: dict[str, dict] = {}
    for name, params in items:
        if not isinstance(params, Mapping):
            raise GridError(f"{where}each override is a mapping of notebook parameters, got {params!r}")
        label = _label(params) if name is None else str(name)
        if name is not None and label and not re.fullmatch(r"[A-Za-z0-9._=+-]+", label):
            raise GridError(f"{where}override name {label!r}: use letters, digits and . _ = + - only")
        if label in out:
            raise GridError(f"{where}two overrides are both named {label!r}")
        out[label] = dict(params)
    return out


def _systems(names: Sequence[str], where: str) -> tuple[str, ...]:
    by_slug = {slug(s): s for s in SYSTEMS}
    out = []
    for name in names:
        system = name if name in SYSTEMS else by_slug.get(str(name).strip().lower())
        if system is None:
            raise GridError(f"{where}unknown system {name!r}; choose among {', '.join(SYSTEMS)} "
                            f"(or {', '.join(by_slug)})")
        out.append(system)
    return tuple(dict.fromkeys(out))


def _seeds(values: Sequence[Any], where: str) -> tuple[int, ...]:
    if isinstance(values, (str, int)) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                 for v in values):
        raise GridError(f"{where}seeds must be a list of integers, got {values!r}")
    if not values:
        raise GridError(f"{where}at least one seed")
    return tuple(dict.fromkeys(int(v) for v in values))


def make_grid(file: Mapping[str, Any] | None = None, *, where: str = "", **given: Any) -> Grid:
    """A :class:`Grid` from a grid file's keys and the command line's (``None``: not given).

    A command-line value replaces the file's; ``params`` are merged, the
    command line's winning.
    """
    file = dict(file or {})
    merged = {k: v for k, v in file.items()}
    for key, value in given.items():
        if key not in KEYS:
            raise TypeError(f"make_grid() got an unknown key {key!r}")
        if value is None:
            continue
        merged[key] = {**file.get("params", {}), **value} if key == "params" else value
    if not merged.get("data"):
        raise GridError(f"{where}no data folder: give `data` in the grid file or --data")
    params = merged.get("params") or {}
    if not isinstance(params, Mapping):
        raise GridError(f"{where}params must be a mapping of notebook parameters, got {params!r}")
    machines = merged.get("machines") or ()
    if isinstance(machines, str) or not all(isinstance(m, str) for m in machines):
        raise GridError(f"{where}machines must be a list of machine type names, got {machines!r}")
    settings = merged.get("settings", "paper")
    if not isinstance(settings, str):
        raise GridError(f"{where}settings must be a name (paper, book, tiny), got {settings!r}")
    dataset = merged.get("dataset") or "dev"
    if dataset not in DATASETS:
        raise GridError(f"{where}dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    ground_truth = merged.get("ground_truth") or None
    return Grid(data=Path(merged["data"]).expanduser().resolve(),
                machines=tuple(dict.fromkeys(machines)),
                systems=_systems(merged.get("systems") or SYSTEMS, where),
                seeds=_seeds(merged.get("seeds", [0]), where),
                settings=settings, params=dict(params),
                overrides=_overrides(merged.get("overrides"), where),
                synth=str(merged.get("synth") or ""),
                notebook=Path(merged.get("notebook") or DEFAULT_NOTEBOOK).expanduser().resolve(),
                datasets=DATASETS[dataset],
                ground_truth=Path(ground_truth).expanduser().resolve() if ground_truth else None)


def run_name(machine: str, system: str, seed: int, override: str = "", dataset: str = "dev") -> str:
    """``fan_cl-mf_seed-0`` (``_<override>`` appended when there is one, ``_eval`` for the evaluation
    set): the run's folder and notebook."""
    return (f"{machine}_{slug(system)}_seed-{seed}" + (f"_{override}" if override else "")
            + ("_eval" if dataset == "eval" else ""))


def expand(grid: Grid, out: str | Path, machines: Sequence[str]) -> list[RunSpec]:
    """Every run of the grid, seeds outermost and machine types innermost.

    With machine types innermost, the runs that start together read
    different machine types' clips (and build different feature caches).
    A run on the evaluation set gets ``dataset`` and ``ground_truth`` (the
    grid's, else ``<data>/ground_truth_data`` when present, else none); a
    development run's parameters do not name them.
    """
    from .project import default_ground_truth

    out = Path(out).resolve()
    truth = grid.ground_truth or default_ground_truth(grid.data)
    runs = []
    for seed in grid.seeds:
        for label, override in grid.overrides.items():
            for system in grid.systems:
                for dataset in grid.datasets:
                    for machine in machines:
                        name = run_name(machine, system, seed, label, dataset)
                        folder = out / RUNS_DIR / name
                        params = {"data": str(grid.data), "synth_profile": "", "settings": grid.settings,
                                  **grid.params, **override,
                                  "system": system, "machine": machine, "seed": seed, "progress": False,
                                  "runs": str(folder / "work"), "cache": str(out / "cache")}
                        if dataset == "eval":
                            params.update(dataset="eval", ground_truth=str(truth) if truth else "")
                        runs.append(RunSpec(name=name, machine=machine, system=system, seed=seed,
                                            override=label, params=params, folder=folder, dataset=dataset))
    return share_models(runs)


def _training_key(run: RunSpec) -> str:
    """What decides a run's trained model: its parameters less its folders, progress and the
    configuration's scoring fields (:data:`asdlib.config.SCORING_FIELDS`)."""
    params = {k: v for k, v in run.params.items() if k not in ("runs", "progress")}
    config = params.get("config") or {}
    params["config"] = {k: v for k, v in config.items() if k not in SCORING_FIELDS}
    return json.dumps(params, sort_keys=True, default=str)


def share_models(runs: Sequence[RunSpec]) -> list[RunSpec]:
    """The runs, each that trains the same model as an earlier one (overrides that only change how
    clips are scored, e.g. ``{config: {backend: knn}}``) marked to reuse that run's checkpoint
    (``model_from``) instead of training it again."""
    first: dict[str, str] = {}
    out = []
    for run in runs:
        key = _training_key(run)
        trainer = first.setdefault(key, run.name)
        out.append(replace(run, model_from="" if trainer == run.name else trainer))
    return out


def check(grid: Grid, runs: Sequence[RunSpec], machines_found: Sequence[str] | None) -> None:
    """Refuse the grid, before anything runs, when any run's parameters are bad.

    ``machines_found``: the data's machine types (None when the data is yet to
    be synthesised). Raises :class:`GridError` naming every distinct problem
    and a run that has it.
    """
    problems: dict[str, str] = {}

    def problem(msg: str, run: str) -> None:
        problems.setdefault(msg, run)

    for source in (grid.params, *grid.overrides.values()):
        for name in sorted(set(source) & set(MANAGED)):
            problem(f"parameter {name!r} is set by the runner (the grid's axes and folders); "
                    f"use the grid's own keys", "every run")
    if machines_found is not None:
        for m in grid.machines:
            if m not in machines_found:
                where = " and ".join(f"{d}_data" for d in grid.datasets)
                problem(f"machine type {m!r} is not in {grid.data}/{where} "
                        f"(it has {', '.join(machines_found) or 'none'})", "every run")
    declared = notebook_parameters(grid.notebook)
    for run in runs:
        try:
            check_parameters(grid.notebook, run.params, declared=declared)
        except NotebookError as err:
            problem(str(err), run.name)
            continue
        config = run.params.get("config", {})
        try:
            system_config(run.system, run.params["settings"], seed=run.seed,
                          recipe=run.params.get("recipe") or None, overrides=config)
        except ValueError as err:
            problem(f"{err}", run.name)
    names = [r.name for r in runs]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problem(f"two runs are both named {name!r}", name)
    if problems:
        lines = [f"  {msg} (run {run})" for msg, run in problems.items()]
        raise GridError("the grid cannot start, nothing was run:\n" + "\n".join(lines))


def describe(grid: Grid, machines: Sequence[str]) -> str:
    """One paragraph naming the grid: axes and how many runs."""
    n = len(machines) * len(grid.systems) * len(grid.seeds) * len(grid.overrides) * len(grid.datasets)
    over = [k for k in grid.overrides if k]
    return (f"{n} runs: {len(machines)} machine type(s) ({', '.join(machines)}) x {len(grid.systems)} "
            f"system(s) ({'; '.join(grid.systems)}) x seeds {list(grid.seeds)}"
            + (f" x overrides {over}" if over else "")
            + (f" x data sets {list(grid.datasets)}" if grid.datasets != ("dev",) else "")
            + f"; settings {grid.settings!r}"
            + (f"; params {json.dumps(dict(grid.params))}" if grid.params else ""))
