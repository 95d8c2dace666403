"""What keeping a run's scoring passes saves: a classifier scored again, and by the back ends.

The book's chapters score some runs more than once: chapter 6 re-runs
chapter 5's two rows (to set them beside the median-filtered ones) and
chapter 9 takes the embeddings of five classifiers.  Each scoring is two
forward passes over the machine type's clips (training and test), unless
the run kept them (``run_system(..., keep_embeddings=True)``, the file
``passes.npz`` beside the checkpoint).  This script trains one system for
one epoch (on the ``book`` profile's data, written once into ``--work``),
then, in the same process, times:

- ``run_system`` scoring without passes (the reference: what every re-run
  cost before), scoring through the passes and keeping them, and again
  reading them back;
- ``embed_system`` (what chapter 9 calls) reading them back;

and prints the seconds, the speed-ups against the reference, and whether
the scores are equal to the bit.

    .venv/bin/python bench/passes.py --work runs/passes                 # the authors' "+ CL" row
    .venv/bin/python bench/passes.py --work runs/passes --system "MBv2 baseline"
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def main() -> int:
    from asdlib.layout import MACHINE_TYPES  # light: no torch before the command line is read

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the data, the cache and the runs")
    ap.add_argument("--machine", default="fan", choices=MACHINE_TYPES, help="the machine type (default fan)")
    ap.add_argument("--system", default="+ CL", help="a classifier system of the book (default '+ CL')")
    args = ap.parse_args()

    from asdlib.errors import ConfigError
    from asdlib.pipeline import PASSES, embed_system, run_system
    from asdlib.project import run_folder
    from asdlib.recipes import system_config
    from asdlib.synth import synthesize

    try:
        config = system_config(args.system, "book").replace(epochs=1)
    except ConfigError as e:
        sys.exit(f"bench/passes.py: {e}")
    if config.model == "ae":
        sys.exit("bench/passes.py: the AE baseline has no embedding; choose a classifier system")
    data, cache = args.work / "data", args.work / "cache"
    runs = run_folder(args.work / "runs", args.system, 0)  # one folder per system
    synthesize(data, profile="book", seed=0, machines=[args.machine], workers=2, progress=False)
    common = dict(cache_dir=cache, progress=False)
    t0 = time.perf_counter()
    run_system(data, args.machine, config, runs, **common)  # trains (or reuses) the one-epoch model
    print(f"{args.system}, {args.machine} (book profile), one epoch: trained and scored in "
          f"{time.perf_counter() - t0:.1f} s")
    passes = runs / "dev" / args.machine / PASSES
    passes.unlink(missing_ok=True)

    def timed(fn):
        start = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - start

    plain, t_plain = timed(lambda: run_system(data, args.machine, config, runs, **common))
    computed, t_computed = timed(lambda: run_system(data, args.machine, config, runs, keep_embeddings=True,
                                                    **common))
    reread, t_reread = timed(lambda: run_system(data, args.machine, config, runs, **common))
    emb, t_embed = timed(lambda: embed_system(data, args.machine, config, runs, **common))
    equal = plain.scores.equals(computed.scores) and computed.scores.equals(reread.scores) and np.array_equal(
        emb.log_odds, computed.scores.loc[computed.scores["split"] == "test", "score"].to_numpy())
    print(f"run_system, scored without passes (reference): {t_plain:7.2f} s")
    print(f"run_system, passes computed and kept:          {t_computed:7.2f} s   {t_plain / t_computed:6.2f}x")
    print(f"run_system, passes read back:                  {t_reread:7.2f} s   {t_plain / t_reread:6.1f}x")
    print(f"embed_system, passes read back:                {t_embed:7.2f} s   {t_plain / t_embed:6.1f}x")
    print(f"scores equal to the bit: {equal}; {PASSES}: {passes.stat().st_size / 1e6:.1f} MB for "
          f"{len(emb.train_clips) + len(emb.test_clips)} clips")
    return 0 if equal else 1


if __name__ == "__main__":
    raise SystemExit(main())
