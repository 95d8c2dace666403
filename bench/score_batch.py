"""Windows per forward pass when scoring on the CPU: the time of the book's scoring at several batch sizes.

Every scoring pass of the book (a run's training and test clips, chapter
5's tracked passes) feeds the inference network ``score_batch`` windows at
a time.  This script trains each chosen system for one epoch on the ``book``
profile's data (written once into ``--work``), then times, in one process,
``run_system`` scoring that trained model again (its passes computed and
kept, as the chapters call it; the AE baseline has none) at each batch size
of ``--sizes``, alternating the sizes in ``--rounds`` rounds, and prints per
system the median time of each size, its ratio against the reference size
(``--reference``, the default before: 256 windows), and whether the scores
of every size are equal to the reference's to the bit.

    .venv/bin/python bench/score_batch.py --work runs/score-batch
    .venv/bin/python bench/score_batch.py --work runs/score-batch --systems "AE baseline" --sizes 256 4096
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

BOOK_SYSTEMS = ("MBv2 baseline", "+ CL", "+ CL, MF")


def main() -> int:
    from asdlib.layout import MACHINE_TYPES  # light: no torch before the command line is read

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the data, the cache and the runs")
    ap.add_argument("--machine", default="fan", choices=MACHINE_TYPES, help="the machine type (default fan)")
    ap.add_argument("--systems", nargs="+", default=list(BOOK_SYSTEMS), metavar="SYSTEM",
                    help=f"systems of the book (default: {', '.join(BOOK_SYSTEMS)})")
    ap.add_argument("--sizes", nargs="+", type=int, default=[32, 64, 256], metavar="N",
                    help="windows per forward pass to time (default 32 64 256)")
    ap.add_argument("--reference", type=int, default=256, help="the size the ratios divide by (default 256)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds, each timing every size once (default 2)")
    args = ap.parse_args()
    if args.rounds < 1 or min(args.sizes) < 1:
        ap.error("--rounds and every --sizes value must be at least 1")
    if args.reference not in args.sizes:
        ap.error(f"--reference {args.reference} is not among --sizes {' '.join(map(str, args.sizes))}")

    from asdlib.errors import ConfigError
    from asdlib.pipeline import PASSES, run_system
    from asdlib.project import run_folder
    from asdlib.recipes import system_config
    from asdlib.scoring import scoring_batch
    from asdlib.synth import synthesize

    try:
        configs = {s: system_config(s, "book").replace(epochs=1) for s in args.systems}
    except ConfigError as e:
        sys.exit(f"bench/score_batch.py: {e}")
    data, cache = args.work / "data", args.work / "cache"
    synthesize(data, profile="book", seed=0, machines=[args.machine], workers=2, progress=False)
    common = dict(cache_dir=cache, progress=False)
    print(f"{args.machine} (book profile), each system trained for one epoch; {args.rounds} rounds; "
          f"seconds of run_system scoring again (median of the rounds)")
    ok = True
    for system, config in configs.items():
        runs = run_folder(args.work / "runs", system, 0)
        run_system(data, args.machine, config, runs, **common)  # trains (or reuses) the one-epoch model
        sizes, kept = args.sizes, config.model != "ae"  # the AE has no passes to keep
        times = {n: [] for n in sizes}
        scores = {}
        for _ in range(args.rounds):
            for n in sizes:
                (runs / "dev" / args.machine / PASSES).unlink(missing_ok=True)  # computed, not read back
                t0 = time.perf_counter()
                run = run_system(data, args.machine, config.replace(score_batch=n), runs, keep_embeddings=kept,
                                 **common)
                times[n].append(time.perf_counter() - t0)
                scores.setdefault(n, run.scores)
        ref = statistics.median(times[args.reference])
        for n in sizes:
            t = statistics.median(times[n])
            equal = scores[n].equals(scores[args.reference])
            ok &= equal
            print(f"{system:14s} score_batch {n:6d}: {t:7.2f} s  {ref / t:5.2f}x  "
                  f"scores {'equal to the bit' if equal else 'DIFFERENT'}", flush=True)
        print(f"{system:14s} the default (score_batch 0) scores {scoring_batch(config, 'cpu')} windows a pass on "
              f"the CPU")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
