"""How hard is the synthetic data? Both official baselines on every machine type, beside the real data.

Trains and scores the AE and MobileNetV2 baselines on each machine type of a
data set (by default the synthetic ``book`` profile, seed 0, written first)
and prints, per machine type, the AUC (harmonic mean over sections and
domains, as the official evaluator averages them), the source and target
AUCs, the MobileNetV2's validation accuracy, and beside them the AUCs of
the two baselines on the real DCASE 2021 evaluation set as the poster
reports them (``asdlib.paper.challenge_table``).  Then the calibration
checks of synthetic data version 4 (the targets of issue 14):

* each baseline within 8 points of the real AUC per machine type;
* the sign of (MobileNetV2 - AE) as on the real data, on at least 6 of 7 types;
* target-domain AUC below source-domain AUC on at least 5 types, for each baseline;
* the AUC of a clip's mean energy as the anomaly score between 0.3 and 0.7
  for every machine type and domain (loudness alone does not give the faults away).

    OMP_NUM_THREADS=1 .venv/bin/python bench/calibrate.py --out runs/calibration [--settings official|book]

``--settings official`` trains with the official hyper-parameters (about an
hour on the 2-core CPU; minutes on a GPU: ``--device cuda``); ``book`` with
the book's reduced settings (``asdlib.recipes.SETTINGS["book"]``), what a
reader of the default build sees.  Runs go to ``OUT/<settings>/`` and are
reused by a re-run of the same data and settings.
"""
from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from asdlib.analysis import loudness_aucs
from asdlib.errors import AsdlibError
from asdlib.layout import list_clips, machine_types
from asdlib.metrics import hmean
from asdlib.paper import COLUMNS, challenge_table
from asdlib.pipeline import run_system
from asdlib.project import data_folder
from asdlib.recipes import baseline_config, system_configs
from asdlib.synth import get_profile, synthesize

BASELINES = {"AE": ("ae", "AE baseline", "AE Baseline"), "MBv2": ("mbv2", "MBv2 baseline", "MBv2 Baseline")}


def configs(settings: str, device: str | None) -> dict:
    if settings == "official":
        return {name: baseline_config(model) for name, (model, _, _) in BASELINES.items()}
    book = system_configs(settings)
    return {name: book[system] for name, (_, system, _) in BASELINES.items()}


def _run(job) -> dict:
    data, machine, name, config, out, cache, device = job
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    t0 = time.perf_counter()
    run = run_system(data, machine, config, out / name, cache_dir=cache, device=device, progress=False)
    cells = run.cells()
    row = {"machine": machine, "system": name, "AUC": 100 * hmean(cells["AUC"]),
           "pAUC": 100 * hmean(cells["pAUC"]), "seconds": time.perf_counter() - t0}
    for dom in ("source", "target"):
        row[f"AUC {dom}"] = 100 * hmean(cells[cells["domain"] == dom]["AUC"])
    if "val_accuracy" in run.history:
        row["val accuracy"] = float(run.history["val_accuracy"].iloc[-1])
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder for the runs (reused on a re-run)")
    ap.add_argument("--data", type=Path, help="data set root (default: synthetic book profile in OUT/data)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic data (default 0)")
    ap.add_argument("--settings", choices=["official", "book", "tiny"], default="official",
                    help="the baselines' hyper-parameters: official (default), or the book's reduced ones")
    ap.add_argument("--machines", help="comma-separated machine types (default: all)")
    ap.add_argument("--workers", type=int, default=2, help="runs at a time (default 2)")
    ap.add_argument("--device", help="cpu or cuda (default: CUDA when present)")
    args = ap.parse_args()
    data = args.data
    if data is None:
        data = args.out / "data"
        synthesize(data, profile=get_profile("book"), seed=args.seed, progress=False)
    dev = data_folder(data, "dev")
    machines = args.machines.split(",") if args.machines else machine_types(dev)
    out = args.out / args.settings
    jobs = [(data, m, name, config, out, args.out / "cache", args.device)
            for name, config in configs(args.settings, args.device).items() for m in machines]
    t0 = time.perf_counter()
    try:
        with ProcessPoolExecutor(args.workers) as pool:
            rows = list(pool.map(_run, jobs))
    except AsdlibError as err:  # for example a run of OUT made on other data: one line, not a traceback
        raise SystemExit(f"bench/calibrate.py: {err}") from None
    measured = pd.DataFrame(rows)
    real = challenge_table()
    table = []
    for m in [c for c in COLUMNS if c in machines] + [m for m in machines if m not in COLUMNS]:
        row = {"machine": m}
        for name, (_, _, poster) in BASELINES.items():
            r = measured[(measured["machine"] == m) & (measured["system"] == name)].iloc[0]
            row[f"{name} AUC"] = r["AUC"]
            row[f"{name} real"] = real.loc[poster, m] if m in real.columns else np.nan
            row[f"{name} src/tgt"] = f"{r['AUC source']:.1f}/{r['AUC target']:.1f}"
            if "val accuracy" in r and not pd.isna(r.get("val accuracy")):
                row[f"{name} val acc"] = r["val accuracy"]
        table.append(row)
    table = pd.DataFrame(table).set_index("machine")
    print(f"data: {data}; settings: {args.settings}; {len(jobs)} runs in {time.perf_counter() - t0:.0f} s")
    print("AUC per machine type (harmonic mean over sections and domains, percent); 'real': the official "
          "baselines on the real DCASE 2021 evaluation set (poster's challenge table)\n")
    print(table.to_markdown(floatfmt=".1f"))
    within = {name: (table[f"{name} AUC"] - table[f"{name} real"]).abs() <= 8 for name in BASELINES}
    sign = np.sign(table["MBv2 AUC"] - table["AE AUC"]) == np.sign(table["MBv2 real"] - table["AE real"])
    harder = {name: measured[measured["system"] == name].eval("`AUC target` < `AUC source`") for name in BASELINES}
    loud = loudness_aucs([c for m in machines for c in list_clips(dev, m, split="test")])
    print(f"\nwithin 8 points of the real AUC: AE {int(within['AE'].sum())}/{len(table)}, "
          f"MBv2 {int(within['MBv2'].sum())}/{len(table)} (target: all)")
    print(f"sign of MBv2 - AE as on the real data: {int(sign.sum())}/{len(table)} (target: at least 6 of 7)")
    print("target AUC below source AUC: " + ", ".join(f"{k} {int(v.sum())}/{len(v)}" for k, v in harder.items())
          + " (target: at least 5 each)")
    print(f"mean-energy AUC per machine type and domain: {loud['energy AUC'].min():.2f} to "
          f"{loud['energy AUC'].max():.2f} (target: within 0.30 and 0.70)")
    print(loud.pivot(index="machine", columns="domain", values="energy AUC").round(2).to_markdown())


if __name__ == "__main__":
    main()
