"""How hard is the synthetic data? Both baselines on every machine type, side by side.

Trains and scores the AE and MobileNetV2 baselines on each machine type of a
data set (by default the synthetic ``book`` profile, seed 0, written first)
and prints the harmonic-mean AUC and pAUC per machine type, in percent, as
a Markdown table: the calibration table of the book's baselines chapter.
Runs are kept under ``--out`` and reused by a re-run (their checkpoints).

    OMP_NUM_THREADS=1 .venv/bin/python bench/calibrate.py --out runs/calibration [--data DIR]

Settings (CPU time): the AE with the official hyper-parameters; MobileNetV2
with 5 epochs at lr 1e-4, training patches every 16 frames and scored
patches every 16 frames (official: 20 epochs at 1e-5, hops 8 and 1), the
rest official.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from asdlib.ablation import POSTER_ORDER
from asdlib.recipes import baseline_config
from asdlib.layout import machine_types
from asdlib.metrics import official_score
from asdlib.pipeline import run_system
from asdlib.project import data_folder
from asdlib.tables import score_table
from asdlib.submission import evaluate
from asdlib.synth import get_profile, synthesize

SYSTEMS = {
    "AE": baseline_config("ae"),
    "MBv2": baseline_config("mbv2", epochs=5, lr=1e-4, train_hop=16, test_hop=16),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder for the runs (reused on a re-run)")
    ap.add_argument("--data", type=Path, help="data set root (default: synthetic book profile in OUT/data)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic data (default 0)")
    ap.add_argument("--machines", help="comma-separated machine types (default: all)")
    ap.add_argument("--systems", default=",".join(SYSTEMS),
                    help="comma-separated systems to run (default: AE,MBv2)")
    args = ap.parse_args()
    data = args.data
    if data is None:
        data = args.out / "data"
        synthesize(data, profile=get_profile("book"), seed=args.seed, progress=False)
    dev = data_folder(data, "dev")
    machines = args.machines.split(",") if args.machines else machine_types(dev)
    columns, scores = {}, {}
    for name in args.systems.split(","):
        config = SYSTEMS[name]
        for machine in machines:
            run_system(data, machine, config, args.out / name, cache_dir=args.out / "cache")
        cells = evaluate(args.out / name / "dev" / "submission", data_dir=dev)
        table = score_table(cells)
        columns[(name, "AUC")], columns[(name, "pAUC")] = table["AUC"], table["pAUC"]
        scores[name] = official_score(cells)
    out = pd.DataFrame(columns)
    order = [m for m in POSTER_ORDER if m in out.index] + [m for m in out.index if m not in POSTER_ORDER]
    out = out.reindex(order)
    out.columns = [f"{s} {m}" for s, m in out.columns]
    print(f"data: {data} ({'synthetic book profile, seed ' + str(args.seed) if args.data is None else 'given'})")
    print("harmonic means over sections and domains, percent\n")
    print(out.to_markdown(floatfmt=".1f"))
    print("\nofficial score: " + ", ".join(f"{k} {100 * v:.2f}" for k, v in scores.items()))


if __name__ == "__main__":
    main()
