"""The ``asdlib`` command line: ``synth``, ``baseline``, ``ablation``, ``book``, ``run``, ``evaluate`` and ``lab``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _add_backend_args(p: argparse.ArgumentParser) -> None:
    """The scoring back end of a classifier (:mod:`asdlib.backends`)."""
    from .config import BACKENDS

    p.add_argument("--backend", choices=list(BACKENDS),
                   help="how a classifier scores clips: its own log-odds (classifier, default) or a back end "
                        "fitted on the training clips' embeddings (knn, mahalanobis, gmm); a trained model is "
                        "reused, not trained again")
    p.add_argument("--knn-k", type=int, help="neighbours of the knn back end (default 1)")
    p.add_argument("--knn-metric", choices=["cosine", "euclidean"], help="distance of the knn back end "
                                                                          "(default cosine)")
    p.add_argument("--per-domain", action="store_const", const=True,
                   help="mahalanobis, gmm: one model per section and domain, the nearer one scores")
    p.add_argument("--gmm-components", type=int, help="components of the gmm back end (default 2)")


def _backend(args: argparse.Namespace) -> dict:
    return {"backend": args.backend, "knn_k": args.knn_k, "knn_metric": args.knn_metric,
            "per_domain": args.per_domain, "gmm_components": args.gmm_components}


def _machines(text: str | None) -> list[str] | None:
    return [m.strip() for m in text.split(",") if m.strip()] if text else None


def _cmd_synth(args: argparse.Namespace) -> int:
    from .synth import get_profile, summary, synthesize

    profile = get_profile(args.profile, train_source=args.train_source, train_target=args.train_target,
                          test_normal=args.test_normal, test_anomaly=args.test_anomaly)
    table = synthesize(args.out, profile=profile, seed=args.seed, machines=_machines(args.machines),
                       with_eval=args.eval, workers=args.workers, progress=not args.quiet)
    print(f"Synthetic DCASE 2021 Task 2 data, profile {profile.name!r}, seed {args.seed}, in {args.out}")
    print(summary(table))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import pandas as pd

    from ._atomic import write_text_atomic
    from .metrics import official_score
    from .submission import evaluate, incomplete
    from .tables import score_table, summarize

    cells = evaluate(args.submission, data_dir=args.data, ground_truth=args.ground_truth)
    summary = summarize(cells)
    with pd.option_context("display.width", 160, "display.max_columns", 20,
                           "display.float_format", "{:.4f}".format):
        print("Per section and domain:")
        print(cells.to_string(index=False))
        print("\nPer machine type (harmonic means):")
        print(summary[summary["mean"] == "harmonic"].drop(columns="mean").to_string(index=False))
    print("\nAs the book shows it (percent):")
    print(score_table(cells).to_string(na_rep=""))
    lacking = incomplete(cells)
    print(f"\nofficial score: {official_score(cells):.6f}" + (" (PARTIAL)" if lacking else ""))
    if lacking:
        print(f"asdlib evaluate: the submission is incomplete: {lacking}", file=sys.stderr)
    if args.out:
        for name, table in (("cells", cells), ("summary", summary), ("table", score_table(cells))):
            write_text_atomic(args.out / f"{name}.csv", table.to_csv(index=name == "table"))
        print(f"tables written to {args.out}/cells.csv, summary.csv, table.csv")
    return 0


def _cmd_baseline(args: argparse.Namespace) -> int:
    import pandas as pd

    from .recipes import baseline_config
    from .layout import machine_types
    from .metrics import official_score
    from .pipeline import run_system
    from .project import data_folder
    from .submission import evaluate
    from .tables import score_table

    config = baseline_config(args.system, epochs=args.epochs, seed=args.seed, score=args.score,
                             test_hop=args.test_hop, train_hop=args.train_hop, lr=args.lr,
                             batch_size=args.batch_size, score_batch=args.score_batch, **_backend(args))
    data_dir = data_folder(args.data, args.dataset)
    machines = _machines(args.machines) or machine_types(data_dir)
    for machine in machines:
        run = run_system(args.data, machine, config, args.out, dataset=args.dataset,
                         cache_dir=args.cache, device=args.device, progress=not args.quiet)
        last = run.history.iloc[-1].to_dict() if len(run.history) else {}
        print(f"{machine}: {len(run.history)} epochs, "
              + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "epoch")
              + f"; threshold {run.threshold:.4g}")
    sub = args.out / args.dataset / "submission"
    print(f"submission files in {sub}")
    if args.dataset == "dev":
        cells = evaluate(sub, data_dir=data_dir)
        table = score_table(cells)
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(table.to_string(na_rep=""))
        print(f"official score: {official_score(cells):.6f}")
    return 0


def _cmd_ablation(args: argparse.Namespace) -> int:
    from .ablation import ablation
    from .recipes import RECIPES, recipe_config

    base = recipe_config(args.recipe, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                         train_hop=args.train_hop, test_hop=args.test_hop, temperature=args.temperature,
                         select=args.select, score=args.score, **_backend(args))
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seeds takes comma-separated integers, got {args.seeds!r}") from None
    result = ablation(args.data, args.out, machines=_machines(args.machines), seeds=seeds, base=base,
                      mf_mode=args.mf_mode, cnn_rows=RECIPES[args.recipe].cnn_rows, cache_dir=args.cache,
                      device=args.device, progress=not args.quiet)
    print(result.table.to_string())
    if base.select == "test":
        print("epochs chosen by the test-set score: optimistic (the test labels were read)")
    return 0


def parse_assignment(text: str) -> tuple[str, object]:
    """``name=value`` with value a Python literal (``3``, ``[0, 1]``, ``'x'``) or else a plain string."""
    import ast

    name, sep, value = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise ValueError(f"--set {text!r}: expected name=value")
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    return name.strip(), parsed


def _cmd_book(args: argparse.Namespace) -> int:
    from .book import build_book

    params = dict(parse_assignment(a) for a in args.set or [])
    build_book(args.out, data=args.data, profile=args.profile, settings=args.settings, seed=args.seed,
               device=args.device or "", params=params, jobs=args.jobs, progress=not args.quiet)
    return 0


def _cmd_lab(args: argparse.Namespace) -> int:
    import os

    from .notebooks import lab_command

    cmd = lab_command(args.jupyter_args)
    print("asdlib lab: " + " ".join(cmd), flush=True)
    os.execv(cmd[0], cmd)  # JupyterLab takes over this process (and its Ctrl-C)
    return 0  # not reached


def _cmd_run(args: argparse.Namespace) -> int:
    import ast
    import signal

    from .batch import run_grid
    from .grid import make_grid, read_grid_file

    file = read_grid_file(args.grid) if args.grid else {}
    where = f"{args.grid}: " if args.grid else ""
    seeds = None
    if args.seeds is not None:
        try:
            seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        except ValueError:
            raise ValueError(f"--seeds takes comma-separated integers, got {args.seeds!r}") from None
    params = dict(parse_assignment(a) for a in args.set or [])
    if args.device is not None:
        params["device"] = args.device
    overrides = None
    if args.override:
        overrides = []
        for text in args.override:
            try:
                overrides.append(ast.literal_eval(text))
            except (ValueError, SyntaxError):
                raise ValueError(f"--override {text!r}: expected a mapping such as "
                                 f"\"{{'config': {{'lr': 0.0001}}}}\"") from None
    grid = make_grid(file, where=where, data=args.data, machines=_machines(args.machines),
                     systems=args.systems, seeds=seeds, settings=args.settings, params=params or None,
                     overrides=overrides, synth=args.synth, notebook=args.notebook, dataset=args.dataset,
                     ground_truth=args.ground_truth)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a terminated run cleans up as on Ctrl-C
    try:
        report = run_grid(grid, args.out, workers=args.workers, scheduler=args.scheduler,
                          runs_per_gpu=args.runs_per_gpu, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"asdlib run: interrupted; complete runs are kept in {args.out}/runs, and the same command "
              f"resumes the grid", file=sys.stderr)
        return 130
    minutes = report.seconds / 60
    print(f"\n{len(report.outcomes)} runs in {minutes:.1f} min: {report.count('complete')} complete, "
          f"{report.count('skipped')} skipped (complete before), {report.count('failed')} failed")
    for prefix, what in (("", "development set"), ("eval_", "evaluation set")):
        if f"{prefix}results" in report.files:
            print(f"{what}: {report.files[prefix + 'results']} and {report.files[prefix + 'markdown'].name}; "
                  f"submission folders: {report.files[prefix + 'submissions']}/<system>/seed-<n>/")
    if report.failures:
        print(f"\n{len(report.failures)} failed run(s) (executed notebooks kept; the same command "
              f"runs them again):", file=sys.stderr)
        for o in report.failures:
            print(f"  {o.run.name}: {o.error.splitlines()[0] if o.error else 'failed'}\n"
                  f"    notebook: {o.notebook}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .book import JOBS
    from .config import SCORES, SELECT
    from .synth.generate import PROFILES
    from .recipes import OFFICIAL, RECIPES, SETTINGS, contrastive_config, recipe_config

    framework = contrastive_config()
    parser = argparse.ArgumentParser(prog="asdlib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write synthetic machine sounds in the DCASE 2021 Task 2 layout")
    p.add_argument("--out", required=True, type=Path, help="folder to write dev_data/ (and eval_data/) into")
    p.add_argument("--profile", default="book", help="clip counts per section: " + ", ".join(PROFILES)
                   + " (default: book)")
    p.add_argument("--seed", type=int, default=0, help="the data set's seed (default: 0)")
    p.add_argument("--machines", help="comma-separated machine types (default: all seven)")
    p.add_argument("--eval", action="store_true",
                   help="also write eval_data/ (sections 03-05) and ground_truth_data/")
    for name, what in (("train-source", "source training clips per section"),
                       ("train-target", "target training clips per section"),
                       ("test-normal", "normal test clips per section and domain"),
                       ("test-anomaly", "anomalous test clips per section and domain")):
        p.add_argument(f"--{name}", type=int, help=f"override the profile's {what}")
    p.add_argument("--workers", type=int, help="processes (default: the number of CPUs, at most 8)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("baseline", help="train and score an official baseline, write its submission files")
    p.add_argument("system", choices=list(OFFICIAL), help="the autoencoder or the MobileNetV2 baseline")
    p.add_argument("--data", required=True, type=Path, help="folder holding dev_data/ (and eval_data/)")
    p.add_argument("--out", required=True, type=Path,
                   help="output folder: <dataset>/<machine>/model.pt ... and <dataset>/submission/")
    p.add_argument("--dataset", choices=["dev", "eval"], default="dev",
                   help="train on this data set's train/ and score its tests (default: dev)")
    p.add_argument("--machines", help="comma-separated machine types (default: all found)")
    p.add_argument("--epochs", type=int, help="override the official number of epochs")
    p.add_argument("--seed", type=int, help="seed of the weights, split and batch order "
                                            f"(default {framework.seed})")
    p.add_argument("--score", choices=list(SCORES),
                   help="MobileNetV2 clip score: correct log-odds (default) or the official code's form")
    p.add_argument("--lr", type=float, help="override the official learning rate")
    p.add_argument("--batch-size", type=int, help="override the official batch size")
    p.add_argument("--train-hop", type=int, help="frames between training patches (default: the official "
                                                 "baseline's)")
    p.add_argument("--test-hop", type=int, help="frames between scored patches (default: the official "
                                                "baseline's)")
    p.add_argument("--score-batch", type=int, help="windows per forward pass when scoring (default: 64 for "
                                                   "MobileNetV2 on the CPU, else 256; more: more memory, and on "
                                                   "a GPU perhaps more speed)")
    _add_backend_args(p)
    p.add_argument("--device", help="cpu, cuda, ... (default: CUDA when present)")
    p.add_argument("--cache", type=Path, help="log-mel cache folder (default: $ASDLIB_CACHE or ~/.cache/asdlib)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_baseline)

    p = sub.add_parser("ablation", help="the paper's ablation: MBv2, + CL, + MF, + CL, MF over seeds")
    p.add_argument("--data", required=True, type=Path, help="folder holding dev_data/")
    p.add_argument("--out", required=True, type=Path, help="output folder (runs are reused on a re-run)")
    p.add_argument("--machines", help="comma-separated machine types (default: all found)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--recipe", choices=list(RECIPES), default="authors",
                   help="how the rows are trained: " + "; ".join(f"{k}: {r.description}" for k, r in RECIPES.items())
                        + " (default: authors)")
    p.add_argument("--epochs", type=int, help="epochs (default: the recipe's, " + ", ".join(
        f"{k} {recipe_config(k).epochs}" for k in RECIPES) + ")")
    p.add_argument("--lr", type=float, help="learning rate (default: the recipe's, " + ", ".join(
        f"{k} {recipe_config(k).lr:g}" for k in RECIPES) + ")")
    p.add_argument("--batch-size", type=int, help=f"batch size (default {framework.batch_size})")
    p.add_argument("--train-hop", type=int, help=f"frames between training chunks (default {framework.train_hop})")
    p.add_argument("--test-hop", type=int, help="frames between scored patches (default: the recipe's, " + ", ".join(
        f"{k} {recipe_config(k).test_hop}" for k in RECIPES) + ")")
    p.add_argument("--temperature", type=float, help=f"contrastive temperature (default {framework.temperature:g})")
    p.add_argument("--mf-mode", choices=["both", "test"], default="both",
                   help="+MF filters in training and test (default) or at test only")
    p.add_argument("--select", choices=list(SELECT),
                   help="epoch kept: best validation loss, last, or best test score (reads the test labels; "
                        "the authors' recipe's default)")
    p.add_argument("--score", choices=list(SCORES), help="clip score form (default: the recipe's, " + ", ".join(
        f"{k} {recipe_config(k).score}" for k in RECIPES) + ")")
    _add_backend_args(p)
    p.add_argument("--device", help="cpu, cuda, ... (default: CUDA when present)")
    p.add_argument("--cache", type=Path, help="log-mel cache folder (default: $ASDLIB_CACHE or ~/.cache/asdlib)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_ablation)

    p = sub.add_parser("book", help="execute every chapter with papermill and render the book (make book)")
    p.add_argument("--out", type=Path, default=Path("_build"),
                   help="build folder: data/, runs/, cache/, src/ and html/ (default: _build)")
    p.add_argument("--data", type=Path, help="folder holding the real dev_data/ (default: synthetic data)")
    p.add_argument("--profile", default="book", help="synthetic data profile when --data is not given: "
                   + ", ".join(PROFILES) + " (default: book)")
    p.add_argument("--settings", default="book", choices=list(SETTINGS),
                   help="training settings (default: book, " + SETTINGS["book"].description + ")")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the runs (default 0)")
    p.add_argument("--device", help="cpu, cuda, ... (default: CUDA when present)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="a notebook parameter, for every notebook that has it (repeatable)")
    p.add_argument("--jobs", type=int, default=JOBS,
                   help=f"chapters executed at once, in reading order (default {JOBS}; a chapter that needs "
                        "another's run waits for it, and shows the same results either way)")
    p.add_argument("--quiet", action="store_true", help="less output")
    p.set_defaults(func=_cmd_book)

    p = sub.add_parser("run", help="run a grid of notebooks (machine types x systems x seeds x overrides) "
                                   "on a Dask cluster, resumably, and gather the results")
    p.add_argument("grid", nargs="?", type=Path,
                   help="grid file (.yml, .yaml or .toml); the options below replace its keys")
    p.add_argument("--out", required=True, type=Path,
                   help="output folder: runs/<run>/ (notebook, result.json), results.csv/.md, submissions/")
    p.add_argument("--data", type=Path, help="folder holding dev_data/")
    p.add_argument("--machines", help="comma-separated machine types (default: all in dev_data/)")
    p.add_argument("--systems", nargs="+", metavar="SYSTEM",
                   help="systems by name or folder name: ae-baseline mbv2-baseline mbv2 cl mf cl-mf "
                        "(default: all six)")
    p.add_argument("--seeds", help="comma-separated seeds (default: 0)")
    p.add_argument("--settings", choices=list(SETTINGS),
                   help="training settings (default: paper, " + SETTINGS["paper"].description + ")")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="a parameter of the run notebook for every run, e.g. \"config={'epochs': 5}\"")
    p.add_argument("--override", action="append", metavar="MAPPING",
                   help="one more set of parameters that multiplies the grid (repeatable), "
                        "e.g. \"{'config': {'lr': 0.0001}}\"; '{}' keeps a run without")
    p.add_argument("--device", help="device parameter of every run: cpu, cuda (default: CUDA when present)")
    p.add_argument("--workers", type=int,
                   help="workers of the local Dask cluster, one run each at a time (default: --runs-per-gpu "
                        "per GPU, else one per CPU core, at most 8)")
    p.add_argument("--runs-per-gpu", type=int, metavar="N",
                   help="runs sharing each GPU at once (default 4, asdlib.batch.RUNS_PER_GPU: their training "
                        "steps take turns on the GPU, their other work (features, scoring) overlaps)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="use the Dask cluster of this scheduler (tcp://host:8786) instead of a local one")
    p.add_argument("--synth", metavar="PROFILE",
                   help="write synthetic data of this profile into --data first when it holds none")
    p.add_argument("--notebook", type=Path, help="the notebook run per grid cell (default: notebooks/08_run.ipynb)")
    p.add_argument("--dataset", choices=["dev", "eval", "both"],
                   help="train and score on dev_data (default), on eval_data (sections 03-05, the challenge's "
                        "submission), or both")
    p.add_argument("--ground-truth", type=Path, metavar="DIR",
                   help="the evaluation set's ground_truth_*.csv files (default: DATA/ground_truth_data "
                        "when present; without them evaluation runs write submission files only)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("evaluate", help="score a folder of submission files as the official evaluator")
    p.add_argument("submission", type=Path, help="folder of anomaly_score_*.csv and decision_result_*.csv")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="development data (labels from the file names)")
    src.add_argument("--ground-truth", type=Path, help="folder of ground_truth_*.csv files")
    p.add_argument("--out", type=Path, help="also write cells.csv, summary.csv and table.csv here")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("lab", help="JupyterLab on the chapters, this environment as their kernel (make lab)",
                       description="Opens JupyterLab on notebooks/ with this environment's Python as the "
                                   "kernel; a chapter is saved without its outputs. Further arguments go "
                                   "to JupyterLab (e.g. --no-browser --port 8899).")
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="options for JupyterLab")
    p.set_defaults(func=_cmd_lab)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .errors import AsdlibError

    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["lab"] and argv[1:] not in (["-h"], ["--help"]):
        # everything after `lab` is JupyterLab's (argparse's REMAINDER refuses a leading option)
        args = parser.parse_args(["lab"])
        args.jupyter_args = argv[1:]
    else:
        args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (AsdlibError, ValueError) as err:
        # the package's own errors and bad values: one clear line, no traceback
        print(f"asdlib {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a read-only or full disk, a file where a folder should be, ...
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        print(f"asdlib {args.command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"asdlib {args.command}: interrupted; every file written so far is complete (files are "
              f"written atomically) and the same command goes on from there", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
