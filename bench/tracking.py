"""What keeping the test clips' log-mel saves a run that tracks its test score after every epoch.

Chapter 5 trains its two rows with ``track_test``: after every epoch the
test clips are scored, to set the epoch chosen by validation beside the
one the test labels would choose.  With the authors' chunk front end each
pass used to compute the log-mel of every test chunk again (and median
filter it, under "+MF").  Now the scoring inputs of those passes are kept
(:class:`asdlib.windows.Inputs` with ``keep=True``, up to
``asdlib.windows.KEEP_BYTES``) and the later passes read them back.  This
script, on the ``book`` profile's data (written once into ``--work``),
times in one process, the reference being the same code with
``KEEP_BYTES = 0`` (every pass computes its own inputs, as before):

- the tracked scorer called once per epoch of the system's ``book``
  settings on one network, both ways, twice in alternation;
- one whole tracked run (``run_system``, ``--epochs`` epochs) both ways,
  into folders of its own under ``--work`` (removed afterwards);

and prints the seconds, the speed-ups, and whether the tracked scores,
the histories and the final scores are equal to the bit.

    .venv/bin/python bench/tracking.py --work runs/tracking             # the authors' "+ CL" row
    .venv/bin/python bench/tracking.py --work runs/tracking --system "+ CL, MF"
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    from asdlib.layout import MACHINE_TYPES  # light: no torch before the command line is read

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the data, the cache and the runs")
    ap.add_argument("--machine", default="fan", choices=MACHINE_TYPES, help="the machine type (default fan)")
    ap.add_argument("--system", default="+ CL", help="a classifier system of the book (default '+ CL')")
    ap.add_argument("--epochs", type=int, default=2, help="epochs of the whole tracked runs (default 2)")
    args = ap.parse_args()

    import asdlib.windows
    from asdlib.checkpoint import build_model, scoring_part
    from asdlib.errors import ConfigError
    from asdlib.layout import list_clips, sections
    from asdlib.pipeline import _test_set_score, run_system
    from asdlib.project import data_folder
    from asdlib.recipes import system_config
    from asdlib.synth import synthesize
    from asdlib.windows import load_inputs

    try:
        config = system_config(args.system, "book").replace(track_test=True)
        run_config = config.replace(epochs=args.epochs)  # a bad --epochs is refused here, before any work
    except ConfigError as e:
        sys.exit(f"bench/tracking.py: {e}")
    if config.model == "ae":
        sys.exit("bench/tracking.py: the AE baseline is not tracked by the book; choose a classifier system")
    data, cache = args.work / "data", args.work / "cache"
    synthesize(data, profile="book", seed=0, machines=[args.machine], workers=2, progress=False)
    dev = data_folder(data, "dev")
    train_clips, test_clips = (list_clips(dev, args.machine, split=s) for s in ("train", "test"))
    test_feats = load_inputs(test_clips, cache, config, progress=False)
    net = scoring_part(build_model(config, len(sections(train_clips))))
    kept_bytes = asdlib.windows.KEEP_BYTES

    def scorer_passes(keep: bool) -> tuple[list[float], float]:
        asdlib.windows.KEEP_BYTES = kept_bytes if keep else 0
        score = _test_set_score(args.machine, sections(train_clips), config, test_feats, None)
        start = time.perf_counter()
        values = [score(net) for _ in range(config.epochs)]
        return values, time.perf_counter() - start

    print(f"{args.system}, {args.machine} (book profile): {len(test_clips)} test clips, "
          f"{config.epochs} tracked passes per run")
    rounds = [(scorer_passes(False), scorer_passes(True)) for _ in range(2)]
    equal_passes = all(ref[0] == kept[0] for ref, kept in rounds)
    t_ref = sum(ref[1] for ref, _ in rounds) / len(rounds)
    t_kept = sum(kept[1] for _, kept in rounds) / len(rounds)
    print(f"{config.epochs} tracked passes, inputs computed each time (reference): {t_ref:7.2f} s")
    print(f"{config.epochs} tracked passes, inputs kept after the first:           {t_kept:7.2f} s   "
          f"{t_ref / t_kept:5.2f}x")

    def whole_run(keep: bool):
        asdlib.windows.KEEP_BYTES = kept_bytes if keep else 0
        folder = Path(tempfile.mkdtemp(prefix="run-", dir=args.work))
        try:
            start = time.perf_counter()
            run = run_system(data, args.machine, run_config, folder, cache_dir=cache,
                             progress=False)
            return run, time.perf_counter() - start
        finally:
            shutil.rmtree(folder)

    (ref_run, t_ref_run), (kept_run, t_kept_run) = whole_run(False), whole_run(True)
    asdlib.windows.KEEP_BYTES = kept_bytes
    equal_runs = ref_run.history.equals(kept_run.history) and ref_run.scores.equals(kept_run.scores)
    print(f"a whole tracked run of {args.epochs} epochs (train, track, score), reference: {t_ref_run:7.2f} s")
    print(f"a whole tracked run of {args.epochs} epochs, inputs kept:                   {t_kept_run:7.2f} s   "
          f"{t_ref_run / t_kept_run:5.2f}x")
    print(f"tracked scores equal to the bit: {equal_passes}; histories and final scores: {equal_runs}")
    return 0 if equal_passes and equal_runs else 1


if __name__ == "__main__":
    raise SystemExit(main())
