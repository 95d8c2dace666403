"""Peak memory of a full-size machine type on the CPU: both baselines trained and scored, under /usr/bin/time -v.

Issue 15's target: a full-size machine type (3,009 training clips, the
``full`` synthetic profile) trains and scores the MobileNetV2 baseline
within 2 GB peak resident memory on the CPU.  The script writes one machine
type of the ``full`` profile (once; reused), then runs in separate
processes, each timed by GNU time (``/usr/bin/time -v``)::

    asdlib baseline mbv2 --epochs 1 --test-hop 8              # the default scoring batch (256)
    asdlib baseline mbv2 --epochs 1 --test-hop 8 --score-batch 1024   # the reference: the old default
    asdlib baseline ae --epochs 1

and prints each one's peak resident set size, wall time and the ratio of
the MobileNetV2 run to its reference (each trains its own model, in its own
folder; a re-run reuses them and measures scoring alone).

    .venv/bin/python bench/memory.py --work runs/memory             # about 35 minutes on 2 cores
    .venv/bin/python bench/memory.py --work runs/memory --train-hop 64   # shorter training, same features

Each run has its own log-mel cache, so each computes its features as a
new user's first run does; memory-mapped caches count in the resident set
as their pages are read (about 0.5 GB for a full-size type's 3,009
training clips).
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

RUNS = {
    "mbv2": ["mbv2", "--epochs", "1", "--test-hop", "8"],
    "reference": ["mbv2", "--epochs", "1", "--test-hop", "8", "--score-batch", "1024"],
    "ae": ["ae", "--epochs", "1"],
}


def timed(cmd: list[str]) -> dict:
    """Run ``cmd`` under GNU time; its peak resident set (GB) and wall time (s)."""
    time = shutil.which("time") or "/usr/bin/time"
    done = subprocess.run([time, "-v", *cmd], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    h, m, s = (["0", "0"] + re.search(r"Elapsed \(wall clock\) time.*: ([\d:.]+)", done.stderr)
               .group(1).split(":"))[-3:]
    return {"peak_gb": peak / 1024 ** 2, "seconds": 3600 * float(h) + 60 * float(m) + float(s)}


def main() -> int:
    from asdlib.layout import MACHINE_TYPES  # light: no torch before the command line is read

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the data, the cache and the runs")
    ap.add_argument("--machine", default="fan", choices=MACHINE_TYPES, help="the machine type (default fan)")
    ap.add_argument("--train-hop", type=int, help="frames between MobileNetV2 training patches "
                                                  "(default: the official 8)")
    ap.add_argument("--only", choices=list(RUNS), action="append", help="run only these (repeatable)")
    args = ap.parse_args()
    data = args.work / "data"
    if not (data / "dev_data" / args.machine).is_dir():
        subprocess.run([sys.executable, "-m", "asdlib.cli", "synth", "--out", str(data), "--profile", "full",
                        "--machines", args.machine, "--quiet"], check=True)
    results = {}
    for name in args.only or list(RUNS):
        extra = ["--train-hop", str(args.train_hop)] if args.train_hop and name != "ae" else []
        out = args.work / f"{name}-hop-{args.train_hop or 'official'}"
        cmd = [sys.executable, "-m", "asdlib.cli", "baseline", *RUNS[name], *extra, "--data", str(data),
               "--out", str(out), "--machines", args.machine, "--cache", str(out / "cache"), "--quiet"]
        results[name] = timed(cmd)
        print(f"{name:10s} peak {results[name]['peak_gb']:.2f} GB, {results[name]['seconds']:.0f} s "
              f"({' '.join(RUNS[name] + extra)})", flush=True)
    if "mbv2" in results and "reference" in results:
        print(f"MobileNetV2 peak memory: {results['mbv2']['peak_gb'] / results['reference']['peak_gb']:.2f}x "
              f"the reference's (score batch 1024)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
