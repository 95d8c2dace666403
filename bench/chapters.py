"""Two trainings at once on the CPU, as ``make book`` runs two chapters: their time against one after the other.

``asdlib book`` runs two chapters at a time, each kernel with torch's own
thread count (two on the 2-core machine), so that every chapter's weights
are those it gets alone.  This script measures what that gains on the
training the chapters spend their time on, in rounds that each time:

* **alone**: one process trains ``--system`` (the book's settings) for
  ``--epochs`` on ``--clips`` training clips of fan, with libgomp's default
  waiting, then again with each ``GOMP_SPINCOUNT`` of ``--spin``;
* **two at once** with each ``GOMP_SPINCOUNT`` of ``--spin``: two such
  processes started together (both wait, imports and data loaded, for a
  common start), the time from the start to the later one's end;
* with ``--libgomp-default``, also two at once with libgomp's default
  waiting, which spins for longer than a step takes (minutes: the reason
  the book sets the variable).

It prints each figure per round, the median over the rounds of two alone
(twice the alone time) divided by two at once (above 1: running them
together is faster) and of alone by alone with the variable (1: it costs a
process alone nothing), and whether every process's weights are the same
to the bit.  ``--threads`` sets each process's torch threads.

    .venv/bin/python bench/chapters.py --work runs/chapters [--rounds 3] [--clips 60] [--libgomp-default]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MACHINE = "fan"


def child(args: argparse.Namespace) -> None:
    """One training, started when the file ``args.go`` appears; prints its seconds and weights' digest."""
    import torch

    torch.set_num_threads(args.threads)
    from asdlib.layout import list_clips
    from asdlib.project import data_folder
    from asdlib.recipes import system_config
    from asdlib.training import train
    from asdlib.windows import load_inputs

    config = system_config(args.system, "book").replace(epochs=args.epochs)
    clips = list_clips(data_folder(args.work / "data", "dev"), MACHINE, split="train")
    clips = clips[::max(1, len(clips) // args.clips)][:args.clips]
    feats = load_inputs(clips, args.work / "cache", config, progress=False)
    Path(args.ready).touch()
    while not Path(args.go).exists():
        time.sleep(0.01)
    t0 = time.perf_counter()
    trained = train(feats, config, machine=MACHINE, device="cpu", progress=False)
    seconds = time.perf_counter() - t0
    digest = hashlib.sha256()
    for name, value in trained.model.state_dict().items():
        digest.update(name.encode() + value.contiguous().numpy().tobytes())
    print(json.dumps({"seconds": seconds, "end": time.time(), "weights": digest.hexdigest()[:16]}))


def together(args: argparse.Namespace, n: int, env: dict) -> tuple[float, list[str]]:
    """``n`` processes trained at once: seconds from their common start to the last end, their digests."""
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        go, cmds = Path(tmp) / "go", []
        for i in range(n):
            cmds.append([sys.executable, __file__, "--child", "--work", str(args.work), "--system", args.system,
                         "--clips", str(args.clips), "--epochs", str(args.epochs), "--threads", str(args.threads),
                         "--ready", str(Path(tmp) / f"ready-{i}"), "--go", str(go)])
        base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
        procs = [subprocess.Popen(c, stdout=subprocess.PIPE, text=True, env={**base, **env}) for c in cmds]
        while not all((Path(tmp) / f"ready-{i}").exists() for i in range(n)):
            if any(p.poll() not in (None, 0) for p in procs):
                sys.exit("bench/chapters.py: a training process failed (its error is above)")
            time.sleep(0.05)
        start = time.time()
        go.touch()
        printed = [p.communicate()[0] for p in procs]
        if any(p.returncode for p in procs):
            sys.exit("bench/chapters.py: a training process failed (its error is above)")
        outs = [json.loads(text.strip().splitlines()[-1]) for text in printed]
    return max(o["end"] for o in outs) - start, [o["weights"] for o in outs]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the data and the cache")
    ap.add_argument("--system", default="+ CL", help="the system trained (default '+ CL', the authors' framework)")
    ap.add_argument("--clips", type=int, default=60, help="training clips of fan (default 60)")
    ap.add_argument("--epochs", type=int, default=1, help="epochs (default 1)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per process (default: torch's)")
    ap.add_argument("--spin", nargs="+", type=int, default=[1000], metavar="N",
                    help="GOMP_SPINCOUNT values for two at once (default 1000, the book's)")
    ap.add_argument("--libgomp-default", action="store_true",
                    help="also two at once with libgomp's default waiting (slow: minutes a round)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ready", help=argparse.SUPPRESS)
    ap.add_argument("--go", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if min(args.clips, args.epochs, args.rounds, *args.spin) < 1 or (args.threads is not None and args.threads < 1):
        ap.error("--clips, --epochs, --rounds, --threads and --spin must be at least 1")
    if args.child:
        child(args)
        return 0

    import torch

    from asdlib.errors import ConfigError
    from asdlib.recipes import system_config
    from asdlib.synth import synthesize

    try:
        system_config(args.system, "book")
    except ConfigError as e:
        sys.exit(f"bench/chapters.py: {e}")
    args.threads = args.threads or torch.get_num_threads()
    args.work.mkdir(parents=True, exist_ok=True)
    synthesize(args.work / "data", profile="book", seed=0, machines=[MACHINE], workers=2, progress=False)
    together(args, 1, {})  # the features into the cache, untimed
    modes = {"alone": (1, {})}
    for n in args.spin:
        modes[f"alone, GOMP_SPINCOUNT={n}"] = (1, {"GOMP_SPINCOUNT": str(n)})
        modes[f"two at once, GOMP_SPINCOUNT={n}"] = (2, {"GOMP_SPINCOUNT": str(n)})
    if args.libgomp_default:
        modes["two at once, libgomp's default"] = (2, {})
    print(f"{args.system}, book settings, {args.epochs} epoch(s) on {args.clips} fan clips; {args.threads} torch "
          f"threads a process on {os.cpu_count()} CPUs; seconds from the common start to the last end")
    times = {m: [] for m in modes}
    digests = set()
    for r in range(args.rounds):
        for mode, (n, env) in modes.items():
            seconds, weights = together(args, n, env)
            times[mode].append(seconds)
            digests.update(weights)
            print(f"  round {r + 1}: {mode:40s} {seconds:7.1f} s", flush=True)
    print()
    for mode, (n, _) in modes.items():
        if mode != "alone":  # against the alone time of the same round, with libgomp's default waiting
            ratios = [n * a / t for a, t in zip(times["alone"], times[mode])]
            what = "two alone / two at once" if n == 2 else "alone (default) / alone (this)"
            print(f"{mode:40s} {what}: {statistics.median(ratios):.2f} (median of "
                  f"{', '.join(f'{x:.2f}' for x in ratios)})")
    print(f"weights of every process the same to the bit: {'yes' if len(digests) == 1 else 'NO'}")
    return 0 if len(digests) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
