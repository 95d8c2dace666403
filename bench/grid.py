"""Benchmark of `asdlib run`: one tiny grid on a local Dask cluster of one worker, then of W workers.

The reference is the same grid run by one worker in this script (the runs
one after another, each with all the cores); the ratio says what running
the grid's runs side by side buys on this machine. Both runs start from an
empty output folder and log-mel cache, on the same synthetic data.

    .venv/bin/python bench/grid.py [--workers W] [--machines fan,valve] [--seeds 0,1]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from asdlib.batch import run_grid
from asdlib.grid import make_grid
from asdlib.synth import synthesize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="workers of the parallel run (default: the CPU cores)")
    parser.add_argument("--machines", default="fan,valve")
    parser.add_argument("--systems", default="ae-baseline,mbv2-baseline,cl-mf")
    parser.add_argument("--seeds", default="0,1")
    args = parser.parse_args()
    machines = args.machines.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        synthesize(tmp / "data", profile="tiny", seed=0, machines=machines, progress=False)
        grid = make_grid({"data": tmp / "data", "machines": machines, "systems": args.systems.split(","),
                          "seeds": [int(s) for s in args.seeds.split(",")], "settings": "tiny"})
        times = {}
        for workers in (1, args.workers):
            t0 = time.perf_counter()
            report = run_grid(grid, tmp / f"out-{workers}", workers=workers, progress=False,
                              log=lambda s: None)
            times[workers] = time.perf_counter() - t0
            assert report.count("complete") == len(report.outcomes), report.failures
            print(f"{len(report.outcomes)} runs, {workers} worker(s): {times[workers]:.1f} s "
                  f"({times[workers] / len(report.outcomes):.1f} s per run)", flush=True)
    print(f"speed-up of {args.workers} workers over 1 on {os.cpu_count()} cores: "
          f"{times[1] / times[args.workers]:.2f}x")


if __name__ == "__main__":
    main()
