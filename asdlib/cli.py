"""The ``asdlib`` command line: ``asdlib synth`` and ``asdlib evaluate``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


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
    from .metrics import official_score, score_table, summarize
    from .submission import evaluate

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
    print(f"\nofficial score: {official_score(cells):.6f}")
    if args.out:
        for name, table in (("cells", cells), ("summary", summary), ("table", score_table(cells))):
            write_text_atomic(args.out / f"{name}.csv", table.to_csv(index=name == "table"))
        print(f"tables written to {args.out}/cells.csv, summary.csv, table.csv")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asdlib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write synthetic machine sounds in the DCASE 2021 Task 2 layout")
    p.add_argument("--out", required=True, type=Path, help="folder to write dev_data/ (and eval_data/) into")
    p.add_argument("--profile", default="book", help="clip counts: tiny, book or full (default: book)")
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

    p = sub.add_parser("evaluate", help="score a folder of submission files as the official evaluator")
    p.add_argument("submission", type=Path, help="folder of anomaly_score_*.csv and decision_result_*.csv")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="development data (labels from the file names)")
    src.add_argument("--ground-truth", type=Path, help="folder of ground_truth_*.csv files")
    p.add_argument("--out", type=Path, help="also write cells.csv, summary.csv and table.csv here")
    p.set_defaults(func=_cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        # bad input: one clear line, no traceback (LayoutError and AudioError are ValueErrors)
        print(f"asdlib {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
