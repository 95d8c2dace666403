"""The "+MF" median filter on the CPU: a running median against the median of each window.

On the CPU, :func:`asdlib.features.median_filter` lays the padded rows end
to end and runs scipy's 1-D running median over the line; on a GPU (and
for a tensor that needs a gradient or holds a NaN) it takes the median of
each unfolded window, as it did on the CPU too before.  On the ``book``
profile's data (written once into ``--work``) this script times, in one
process, the two alternately (``--rounds`` rounds; medians of the
rounds' ratios):

- the authors' per-chunk filter: the chunk front end's log-mel of one
  training batch, in the front end's own frames-major layout (what every
  "+MF" training step and scoring batch of their recipe filters);
- the official front end's whole spectrograms (the clip front end's
  "+MF", filtered once per run), ``--clips`` of them;
- one training epoch of the authors' "+ CL, MF" at the book settings,
  and the scoring of the test clips with the trained network, with either
  filter (``--no-epoch`` leaves both out);

and checks that the filters' outputs, the trained weights and the clips'
scores are equal to the bit (exit 1 if not).

    .venv/bin/python bench/median.py --work runs/median
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch


def _timed(fn, repeat: int = 1):
    start = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    return out, (time.perf_counter() - start) / repeat


def main() -> int:
    from asdlib.layout import MACHINE_TYPES  # light: no torch before the command line is read

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the data and the cache")
    ap.add_argument("--machine", default="fan", choices=MACHINE_TYPES, help="the machine type (default fan)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of the two filters, alternating (default 5)")
    ap.add_argument("--clips", type=int, default=64, help="whole spectrograms filtered per round (default 64)")
    ap.add_argument("--no-epoch", action="store_true", help="leave out the training epochs")
    args = ap.parse_args()
    if args.rounds < 1 or args.clips < 1:
        ap.error("--rounds and --clips must be at least 1")

    import asdlib.windows
    from asdlib.cache import load_features
    from asdlib.features import _median_windows, median_filter
    from asdlib.layout import list_clips
    from asdlib.project import data_folder
    from asdlib.recipes import system_config
    from asdlib.scoring import clip_scores
    from asdlib.synth import synthesize
    from asdlib.training import train
    from asdlib.windows import Inputs, load_inputs

    data, cache = args.work / "data", args.work / "cache"
    synthesize(data, profile="book", seed=0, machines=[args.machine], workers=2, progress=False)
    clips = list_clips(data_folder(data, "dev"), args.machine, split="train")
    config = system_config("+ CL, MF", "book").replace(epochs=1)
    kernel, mode = config.mf_kernel, config.mf_mode

    def windowed(x, *, kernel=31, mode="reflect", chunk=16):  # the median of each window, as before
        return _median_windows(x, kernel // 2, mode, chunk)

    # the authors' chunk log-mel of one training batch, and whole spectrograms of the official front end
    waves = load_inputs(clips, cache, config, progress=False)
    inputs = Inputs(config, waves, training=True)
    starts = inputs.windows().starts[:config.batch_size]
    chunk = inputs.frontend(asdlib.windows.gather(waves, starts, inputs.width))  # frames-major, as filtered
    feats = load_features(clips[:args.clips], cache, progress=False)
    specs = [feats[i] for i in range(len(feats))]  # (n_mels, frames) views of the cache

    equal = True
    chunk_row = "one chunk batch " + "x".join(map(str, chunk.shape)) + " (frames-major)"
    rows = {chunk_row: (lambda f: f(chunk, kernel=kernel, mode=mode), 5),
            f"{len(specs)} whole spectrograms": (lambda f: [f(s, kernel=kernel, mode="reflect") for s in specs], 1)}
    for name, (work, repeat) in rows.items():
        ratios, times, same = [], {"window": [], "running": []}, True
        for _ in range(args.rounds):
            a, t_window = _timed(lambda: work(windowed), repeat)
            b, t_running = _timed(lambda: work(median_filter), repeat)
            same &= all(torch.equal(x, y) for x, y in zip(a if isinstance(a, list) else [a],
                                                          b if isinstance(b, list) else [b]))
            times["window"].append(t_window)
            times["running"].append(t_running)
            ratios.append(t_window / t_running)
        equal &= same
        print(f"{name}: median of each window {statistics.median(times['window']) * 1e3:8.1f} ms, "
              f"running median {statistics.median(times['running']) * 1e3:8.1f} ms: "
              f"{statistics.median(ratios):.2f}x (rounds {min(ratios):.2f}-{max(ratios):.2f}), equal: {same}")

    if not args.no_epoch:
        trained, seconds = {}, {}
        for name, f in (("window", windowed), ("running", median_filter)):
            asdlib.windows.median_filter = f  # what Inputs filters each batch with
            torch.manual_seed(0)
            t, seconds[name] = _timed(lambda: train(waves, config, machine=args.machine, progress=False))
            trained[name] = t.model.state_dict()
        same = all(torch.equal(v, trained["running"][k]) for k, v in trained["window"].items())
        equal &= same
        print(f"one epoch of '+ CL, MF' (book settings, {len(clips)} clips): median of each window "
              f"{seconds['window']:.1f} s, running median {seconds['running']:.1f} s: "
              f"{seconds['window'] / seconds['running']:.2f}x; weights equal to the bit: {same}")
        test = list_clips(data_folder(data, "dev"), args.machine, split="test")
        test_waves = load_inputs(test, cache, config, progress=False)
        scores = {}
        for name, f in (("window", windowed), ("running", median_filter)):
            asdlib.windows.median_filter = f
            scores[name], seconds[name] = _timed(lambda: clip_scores(t, test_waves, progress=False))
        same = np.array_equal(scores["window"], scores["running"])
        equal &= same
        print(f"scoring its {len(test)} test clips: median of each window {seconds['window']:.1f} s, running "
              f"median {seconds['running']:.1f} s: {seconds['window'] / seconds['running']:.2f}x; "
              f"scores equal to the bit: {same}")
    asdlib.windows.median_filter = median_filter
    return 0 if equal else 1


if __name__ == "__main__":
    raise SystemExit(main())
