"""GPU benchmark of training throughput, and the wall time of the official-settings grid it implies.

One run on one GPU (issue 15) prints and writes to ``--json``, each figure
measured in this run on one machine type of the ``full`` synthetic profile
(``fan``: 3,009 training clips), at the method's batch sizes (512 AE
vectors, 32 patches or chunks):

* per run: :func:`asdlib.training.train` examples per second, from the
  epochs after the first, **eager** (``ASDLIB_CUDA_GRAPHS=0
  ASDLIB_RESIDENT=0``: features gathered on the host, one kernel launch at
  a time, the path before this benchmark existed) against the default
  **fast** path (features resident on the GPU, each full batch's step
  replayed as a CUDA graph, :mod:`asdlib.accel`), and ``precision="bfloat16"``;
  for the AE baseline, the MobileNetV2 baseline, the compact framework
  (``+ CL, MF``) and the authors' framework on waveform chunks;
* the ceiling: the same plain MobileNetV2 and AE steps at large batches
  (1,024 patches, 32,768 vectors), which the method's batch sizes cannot use;
* several models trained as one (a prototype, not used by the batch
  runner): N models' weights stacked and one ``torch.func.vmap``-ed step
  of all N captured as one graph (horizontal fusion);
* several runs at once: N processes on the one GPU, each an ``asdlib``
  training run (the batch runner's ``--runs-per-gpu``), their rates added;
* what the fast path does to the results: the book's MobileNetV2 settings
  trained from one seed eager, eager again, eager with the learning rate in
  float32 (a last-bit change of every step, on any device), on the CPU
  with the explicit padding of the low depthwise inputs
  (``asdlib.models.DepthwiseConv2d``, ``ASDLIB_DEPTHWISE_PAD=1``), and on a
  GPU fast and fast in bfloat16, each scored on the 1,200 test clips: the
  weights' and scores' difference from the first eager run and the
  official score;
* the estimated wall time of the official-settings grid (7 machine types
  x 6 systems x 3 seeds, the official baselines' and the compact recipe's
  epochs, full-size data) from the per-run rates, with the gains of several
  runs at once, and its bound if every run trained at the large-batch rate.

    python3 bench/gpu.py --work /tmp/gpu-bench --json /tmp/gpu.json      # on a machine with a GPU
    .venv/bin/python bench/gpu.py --device cpu --clips 40 --epochs 1 --quick   # the script's own check
    python3 bench/gpu.py --estimate-from /tmp/gpu.json                    # the estimates of a run again

Measured with it: ``book/performance.md``.
"""
from __future__ import annotations

import argparse
import copy
import faulthandler
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asdlib.accel import Stepper, make_optimizer  # noqa: E402
from asdlib.checkpoint import build_model  # noqa: E402
from asdlib.layout import list_clips  # noqa: E402
from asdlib.metrics import official_score  # noqa: E402
from asdlib.models import DEPTHWISE_PAD  # noqa: E402
from asdlib.notebooks import environment  # noqa: E402
from asdlib.recipes import baseline_config, recipe_config, system_config  # noqa: E402
from asdlib.scoring import clip_scores  # noqa: E402
from asdlib.synth import get_profile, synthesize  # noqa: E402
from asdlib.tables import cells, clip_frame  # noqa: E402
from asdlib.training import _batch_loss, train  # noqa: E402
from asdlib.windows import Inputs, load_inputs  # noqa: E402

MACHINE = "fan"
EAGER = {"ASDLIB_CUDA_GRAPHS": "0", "ASDLIB_RESIDENT": "0"}
FAST: dict[str, str] = {}
#: The environment switches a run sets, and their values unless its environment says otherwise.
SWITCHES = {**dict.fromkeys(EAGER, "1"), DEPTHWISE_PAD: "0"}


def log(*args) -> None:
    print(*args, flush=True)


def environ(env: dict[str, str]):
    """Every switch of SWITCHES set, to ``env``'s value or its default, for the block."""
    return environment({k: env.get(k, default) for k, default in SWITCHES.items()})


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# ---------------------------------------------------------------- the configurations


def configs(epochs: int) -> dict[str, object]:
    """The four kinds of run, official hyper-parameters but ``epochs`` (five times as many for the AE,
    whose epochs are short) and no validation split."""
    short = dict(epochs=epochs, val_fraction=0.0)
    return {
        "AE baseline": baseline_config("ae", **{**short, "epochs": 5 * epochs}),
        "MBv2 baseline": baseline_config("mbv2", **short),
        "compact + CL, MF": recipe_config("compact", median_filter="both", select="last", **short),
        "authors + CL": recipe_config("authors", select="last", track_test=False, **short),
    }


def spread(clips: list, n: int) -> list:
    """``n`` of ``clips`` taken evenly over the list (every section)."""
    return clips[::max(1, len(clips) // n)][:n]


def examples(feats, config) -> int:
    return len(Inputs(config, feats, training=True).windows())


def training_rate(feats, config, device, env) -> dict:
    """Examples per second of ``train`` under ``env``, from the epochs after the first; whether the
    graphs were used (no capture warning)."""
    stamps = []

    def stamp(_row):
        sync(device)
        stamps.append(time.perf_counter())

    with environ(env), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        trained = train(feats, config, device=device, progress=False, on_epoch=stamp)
        total = time.perf_counter() - t0
    n = examples(feats, config)
    notes = [str(w.message) for w in caught if "CUDA graphs" in str(w.message)]
    rate = n * (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else n / total
    return {"rate": rate, "examples_per_epoch": n, "first_epoch_s": stamps[0] - t0, "total_s": total,
            "graph_warning": notes[0] if notes else "", "trained": trained}


def per_run(clips, cache, device, epochs: int, quick: bool, only: list[str]) -> dict:
    out = {}
    for name, config in configs(epochs + 1).items():
        feats = load_inputs(clips, cache, config, progress=False)
        modes = {m: v for m, v in {"eager": (EAGER, config), "fast": (FAST, config)}.items() if m in only}
        if name == "MBv2 baseline" and not quick and "bf16" in only:
            modes["fast bf16"] = (FAST, config.replace(precision="bfloat16"))
        row = {}
        for mode, (env, cfg) in modes.items():
            r = training_rate(feats, cfg, device, env)
            r.pop("trained")
            row[mode] = r
            log(f"  {name:18s} {mode:10s} {r['rate']:12,.0f} examples/s  (first epoch {r['first_epoch_s']:.1f} s)"
                + (f"  [{r['graph_warning']}]" if r["graph_warning"] else ""))
        for mode in row:
            if mode != "eager" and "eager" in row:
                row[mode]["speedup"] = row[mode]["rate"] / row["eager"]["rate"]
        out[name] = row
    return out


# ---------------------------------------------------------------- the ceiling


def plain_rate(kind: str, batch: int, device, *, bf16: bool = False, seconds: float = 4.0) -> float:
    """A plain training step (random data in device memory) at ``batch``: examples per second."""
    config = baseline_config(kind)
    torch.manual_seed(0)
    model = build_model(config, 3).to(device)
    if bf16 and kind == "mbv2":
        model.to(memory_format=torch.channels_last)
    shape = (batch, config.ae_frames * 128) if kind == "ae" else (batch, 64, 128)
    x = torch.randn(shape, device=device)
    y = torch.randint(0, 3, (batch,), device=device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    n, t0, i = 0, 0.0, 0
    while True:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
            loss = F.mse_loss(out.float(), x) if kind == "ae" else F.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        i += 1
        if i == 3:
            sync(device)
            t0 = time.perf_counter()
        elif i > 3:
            n += batch
            if i % 10 == 0:
                sync(device)
                if time.perf_counter() - t0 > seconds:
                    return n / (time.perf_counter() - t0)


def ceiling(device, quick: bool) -> dict:
    sizes = {"mbv2": [32, 1024], "ae": [512, 32768]} if not quick else {"mbv2": [32], "ae": [512]}
    out = {}
    for kind, batches in sizes.items():
        for b in batches:
            out[f"{kind} batch {b}"] = plain_rate(kind, b, device)
            log(f"  plain {kind} step, batch {b:6d}: {out[f'{kind} batch {b}']:14,.0f} examples/s")
    if device.type == "cuda" and not quick:
        out["mbv2 batch 1024 bf16"] = plain_rate("mbv2", 1024, device, bf16=True)
        log(f"  plain mbv2 step, batch   1024, bf16 channels-last: {out['mbv2 batch 1024 bf16']:,.0f} examples/s")
    return out


# ---------------------------------------------------------------- several runs at once


def relative_difference(a: dict, b: dict) -> float:
    """The L2 norm of the difference of two state dicts' floating-point tensors over that of ``a``."""
    keys = [k for k in a if a[k].is_floating_point()]
    diff = sum(float((a[k].double() - b[k].double()).square().sum()) for k in keys)
    return (diff / max(sum(float(a[k].double().square().sum()) for k in keys), 1e-300)) ** 0.5


def worker(args) -> None:
    """One process of the aggregate measurement: a fast training run; prints its rate as JSON."""
    device = torch.device(args.device)
    clips = spread(list_clips(Path(args.data) / "dev_data", MACHINE, split="train"), args.clips)
    config = configs(args.epochs + 1)[args.worker]
    feats = load_inputs(clips, args.cache, config, progress=False)
    torch.zeros(1, device=device)  # CUDA's start-up before the barrier
    barrier = Path(args.barrier)
    (barrier / f"ready-{os.getpid()}").touch()
    while len(list(barrier.glob("ready-*"))) < args.n:  # all the runs start training together
        time.sleep(0.05)
    stamps = []

    def stamp(_row):
        sync(device)
        stamps.append(time.time())

    trained = train(feats, config, device=device, progress=False, on_epoch=stamp)
    n = examples(feats, config)
    if args.weights:
        torch.save({k: v.cpu() for k, v in trained.model.state_dict().items()}, args.weights)
    print(json.dumps({"rate": n * (len(stamps) - 1) / (stamps[-1] - stamps[0]),
                      "from": stamps[0], "to": stamps[-1]}))


def processes(args, kind: str, counts: list[int], work: Path) -> dict:
    out = {}
    for n in counts:
        barrier = work / f"barrier-{kind[:4]}-{n}"
        barrier.mkdir(exist_ok=True)
        for f in barrier.glob("ready-*"):
            f.unlink()
        cmd = [sys.executable, __file__, "--worker", kind, "--data", str(args.data), "--cache", str(args.cache),
               "--clips", str(args.clips), "--epochs", str(args.epochs), "--device", args.device,
               "--barrier", str(barrier), "--n", str(n)]
        procs = [subprocess.Popen(cmd + ["--weights", str(work / f"w-{kind[:4]}-{n}-{i}.pt")],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "OMP_NUM_THREADS": "1"}) for i in range(n)]
        results = []
        for p in procs:
            stdout, stderr = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(f"worker failed: {stderr[-1500:]}")
            results.append(json.loads(stdout.strip().splitlines()[-1]))
        overlap = min(r["to"] for r in results) - max(r["from"] for r in results)
        span = max(r["to"] for r in results) - min(r["from"] for r in results)
        out[n] = {"aggregate": sum(r["rate"] for r in results), "per_run": [r["rate"] for r in results],
                  "overlap_share": max(0.0, overlap) / span if span > 0 else 1.0}
        log(f"  {kind:14s} {n} process(es): {out[n]['aggregate']:12,.0f} examples/s together "
            f"(measured epochs overlapping {out[n]['overlap_share']:.0%})")
    first = torch.load(work / f"w-{kind[:4]}-{counts[0]}-0.pt")
    worst = max([0.0] + [relative_difference(first, torch.load(work / f"w-{kind[:4]}-{n}-{i}.pt"))
                         for n in counts[1:] for i in range(n)])
    out["max_weight_difference"] = worst
    log(f"  {kind}: relative L2 difference of the weights between a run alone and the same run beside "
        f"others: {worst:.3g}")
    return out


# ---------------------------------------------------------------- several models fused in one


def fused(feats, kind: str, device, counts: list[int], *, seconds: float = 4.0) -> dict:
    """N models of ``kind`` trained as one (horizontal fusion, as HFTA, Wang et al., MLSys 2021): their
    weights, batch-norm statistics and Adam's state stacked (``torch.func.stack_module_state``), one
    step of all N on N batches of the method's size mapped by ``torch.func.vmap`` (convolutions
    become grouped ones, linear layers batched products, each model's batch norm sees its own
    batch), captured as one CUDA graph on a GPU: examples per second together.  A prototype: the
    batch runner does not train so."""
    config = configs(2)[kind]
    inputs = Inputs(config, feats, training=True, device=device)
    win = inputs.windows()
    starts = torch.from_numpy(win.starts).to(device)
    targets = torch.randint(0, 3, (len(win),), device=device)
    out = {}
    for n in counts:
        try:
            out[n] = _fused_rate(config, inputs, win, starts, targets, device, n, seconds)
        except Exception as err:  # noqa: BLE001: report (an N too large for memory, say), go on
            out[n] = {"error": f"{type(err).__name__}: {err}"}
            log(f"  {kind:18s} {n:3d} model(s) fused: FAILED: {out[n]['error'][:300]}")
            continue
        log(f"  {kind:18s} {n:3d} model(s) fused, one step: {out[n]:12,.0f} examples/s together "
            f"({out[n] / n:,.0f} a model)")
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return out


def _fused_rate(config, inputs, win, starts, targets, device, n: int, seconds: float) -> float:
    """Examples per second of ``n`` fused models of ``config`` (see :func:`fused`), stepped by
    :class:`asdlib.accel.Stepper` (one CUDA graph on a GPU) with :func:`asdlib.accel.make_optimizer`'s
    Adam, as one run is."""
    from torch.func import functional_call, stack_module_state, vmap
    b = config.batch_size
    models = []
    for i in range(n):
        torch.manual_seed(i)
        models.append(build_model(config, 3).to(device).train())
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    del models
    stacked = torch.nn.Module()  # holds the stacked tensors, for the optimiser and the capture's undo
    for k, v in params.items():
        stacked.register_parameter(k.replace(".", "/"), torch.nn.Parameter(v.detach()))
    for k, v in buffers.items():
        stacked.register_buffer(k.replace(".", "/"), v)
    params = {k: stacked.get_parameter(k.replace(".", "/")) for k in params}

    def one(p, bu, x, x_cnn, y):
        loss, parts = _batch_loss(lambda *a: functional_call(base, (p, bu), a), config, x, x_cnn, y)
        return loss, parts["loss"]

    def loss_fn(x, x_cnn, y, mix=None):
        losses, parts = vmap(one, in_dims=(0, 0, 0, None if x_cnn is None else 0, 0))(params, buffers, x, x_cnn, y)
        return losses.sum(), {"loss": parts}

    graphs = device.type == "cuda"
    opt = make_optimizer(stacked, config.lr, device, graphs=graphs)
    step = Stepper(stacked, opt, loss_fn, batch_size=n, graphs=graphs)  # a "full batch": n batches of b

    def batch():
        i = torch.randint(0, len(win), (n * b,), device=device)
        x, x_cnn = inputs.batch(starts[i] if inputs.resident is not None else win.starts[i.cpu().numpy()],
                                device)
        shape = (n, b) + tuple(x.shape[1:])
        return (x.view(shape), None if x_cnn is None else x_cnn.view(shape), targets[i].view(n, b))

    count, t0, k = 0, None, 0
    while True:
        step(*batch(), config.lr)
        k += 1
        if k == 3:
            sync(device)
            t0 = time.perf_counter()
        elif k > 3:
            count += n * b
            if k % 10 == 0:
                sync(device)
                if time.perf_counter() - t0 > seconds:
                    break
    return count / (time.perf_counter() - t0)


def fused_spec(text: str) -> dict[str, list[int]]:
    """``--fused``: 'KIND=N,N,...;KIND=...' with kinds of :func:`configs`."""
    spec = {}
    for part in text.split(";"):
        kind, _, counts = part.partition("=")
        try:
            spec[kind.strip()] = [int(n) for n in counts.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r}: KIND=N,N,... expected") from None
        if kind.strip() not in configs(1) or min(spec[kind.strip()]) < 1:
            raise argparse.ArgumentTypeError(f"{part!r}: a kind of {sorted(configs(1))} and counts of 1 or more")
    return spec


def fused_all(train_clips, cache, device, spec: dict[str, list[int]], quick: bool) -> dict:
    out = {}
    for kind, counts in spec.items():
        feats = load_inputs(train_clips, cache, configs(2)[kind], progress=False)
        out[kind] = fused(feats, kind, device, counts, seconds=1.0 if quick else 4.0)
    return out


# ---------------------------------------------------------------- results


def score_of(trained, test_clips, cache, device) -> tuple[np.ndarray, float]:
    feats = load_inputs(test_clips, cache, trained.config, progress=False)
    s = clip_scores(trained, feats, device=device, progress=False)
    return s, official_score(cells(clip_frame(test_clips, s).assign(machine=MACHINE)))


@contextmanager
def float32_lr():
    """Adam's learning rate as a float32 tensor (not Python's float64) in ``train``: a change in the
    last bits of every update, as the fast path makes on a GPU, that any device can run."""
    import asdlib.training as training
    plain = training.make_optimizer

    def make(model, lr, device, *, graphs, state=None):
        opt = plain(model, lr, device, graphs=graphs, state=state)
        for group in opt.param_groups:
            group["lr"], group["foreach"] = torch.tensor(float(group["lr"]), dtype=torch.float32), False
        return opt

    training.make_optimizer = make
    try:
        yield
    finally:
        training.make_optimizer = plain


def results_effect(train_clips, test_clips, cache, device, epochs: int) -> dict:
    """The book's MobileNetV2 baseline trained from one seed several ways, each scored: against the
    first eager run, a second (on a GPU: its own non-determinism), the learning rate rounded to
    float32 (a last-bit change of every step), and on a GPU the fast path in float32 and bfloat16."""
    config = system_config("MBv2 baseline", "book").replace(epochs=epochs)
    feats = load_inputs(train_clips, cache, config, progress=False)
    runs = {"eager": (EAGER, config, False), "eager again": (EAGER, config, False),
            "eager, float32 lr": (EAGER, config, True)}
    if device.type == "cpu":  # the depthwise layers' explicit padding applies on the CPU only
        runs["eager, depthwise padded"] = ({**EAGER, DEPTHWISE_PAD: "1"}, config, False)
    if device.type == "cuda":
        runs.update({"fast": (FAST, config, False), "fast bf16": (FAST, config.replace(precision="bfloat16"), False)})
    got = {}
    for mode, (env, cfg, perturbed) in runs.items():
        with float32_lr() if perturbed else nullcontext():
            r = training_rate(feats, cfg, device, env)
        scores, official = score_of(r["trained"], test_clips, cache, device)
        got[mode] = (r["trained"], scores, official, r["rate"])
    base_w = got["eager"][0].model.state_dict()
    out = {}
    for mode, (trained, scores, official, rate) in got.items():
        out[mode] = {"official_score": official, "rate": rate,
                     "max_weight_difference": relative_difference(base_w, trained.model.state_dict()),
                     "max_score_difference": float(np.abs(scores - got["eager"][1]).max()),
                     "score_correlation": float(np.corrcoef(scores, got["eager"][1])[0, 1])}
        log(f"  book MBv2 settings, {epochs} epochs, {mode:17s}: official score {official:.4f}, "
            f"{rate:9,.0f} patches/s; against eager: relative L2 difference of the weights "
            f"{out[mode]['max_weight_difference']:.3g}, clip scores by {out[mode]['max_score_difference']:.3g} "
            f"(correlation {out[mode]['score_correlation']:.6f})")
    return out


def full_clips() -> int:
    """Training clips of one machine type of the ``full`` profile (the real data's count: 3,009)."""
    p = get_profile("full")
    return 3 * (p.train_source + p.train_target)


def estimate(per: dict, clips: int, gains: float | dict[str, float]) -> dict:
    """Hours of the official-settings grid: 7 machine types x 3 seeds x (AE 100 epochs, the MobileNetV2
    baseline 20, the compact recipe's four framework rows 20), full-size data (:func:`full_clips` a
    type, 10 % held out for validation), at the fast per-run rates measured on ``clips`` clips,
    times ``gains`` (the gain of several runs at once: one figure, or one per kind of run); training
    only (validation, scoring and start-up not counted)."""
    gains = gains if isinstance(gains, dict) else dict.fromkeys(("AE baseline", "MBv2 baseline", "compact + CL, MF"),
                                                                  float(gains))

    def seconds(name: str, epochs: int, gain: float = 1.0) -> float:
        r = per[name]["fast"]
        return epochs * 0.9 * r["examples_per_epoch"] / clips * full_clips() / r["rate"] / gain

    def one(g) -> float:
        return (seconds("AE baseline", 100, g["AE baseline"]) + seconds("MBv2 baseline", 20, g["MBv2 baseline"])
                + 4 * seconds("compact + CL, MF", 20, g["compact + CL, MF"]))

    alone, shared = one(dict.fromkeys(gains, 1.0)), one(gains)
    return {"one machine type and seed, runs one at a time (s)": alone,
            "grid, runs one at a time (h)": 21 * alone / 3600,
            "gain of several runs at once": 21 * alone / 3600 / (21 * shared / 3600),
            "gains by kind": gains,
            "grid, estimated (h)": 21 * shared / 3600}


def _best_gain(rates: dict, single: float | None = None) -> float:
    """The best rate of N at once over the rate of one (``single``, else N = 1 of the same measurement)."""
    got = {int(n): (r["aggregate"] if isinstance(r, dict) else r) for n, r in rates.items() if str(n).isdigit()}
    one = single if single else got.get(1)
    return max(got.values()) / one if one and got else 1.0


def report_estimates(result: dict) -> None:
    """Add the grid's estimates to ``result`` (from its per-run rates and aggregate gains) and print them."""
    kinds = ("AE baseline", "MBv2 baseline", "compact + CL, MF")
    options = {"estimate, runs one at a time": 1.0}
    for part, key in (("processes", "estimate, processes"), ("fused", "estimate, models fused in one")):
        got = result.get(part, {})
        if isinstance(got, dict) and "error" not in got and got:
            # the fused path's N = 1 already pays vmap's cost: gains against the plain fast run
            # a kind not measured so (the framework, by processes) takes MobileNetV2's gain
            gains = {k: _best_gain(got[k], result["per_run"][k]["fast"]["rate"] if part == "fused" else None)
                     for k in kinds if k in got}
            options[key] = {k: gains.get(k, gains.get("MBv2 baseline", 1.0)) for k in kinds}
    ceiling = result.get("ceiling", {})
    fast = {k: result["per_run"][k]["fast"]["rate"] for k in kinds}
    if "mbv2 batch 1024" in ceiling and "ae batch 32768" in ceiling:
        # every run at the plain step's large-batch rate (or at the best measured sharing, where that is
        # faster), the framework's rows taken to gain as much as MobileNetV2 (its CNN is the larger part
        # of its step): about the most that any sharing of the GPU can give
        mbv2 = ceiling["mbv2 batch 1024"] / fast["MBv2 baseline"]
        bound = {"AE baseline": ceiling["ae batch 32768"] / fast["AE baseline"], "MBv2 baseline": mbv2,
                 "compact + CL, MF": mbv2}
        for key in ("estimate, processes", "estimate, models fused in one"):
            bound = {k: max(g, options.get(key, {}).get(k, 1.0)) for k, g in bound.items()}
        options["bound: every run at the large-batch rate"] = bound
        if "mbv2 batch 1024 bf16" in ceiling:  # the same in bfloat16 (which changes the results)
            bf16 = ceiling["mbv2 batch 1024 bf16"] / fast["MBv2 baseline"]
            options["bound in bfloat16 (MobileNetV2 rows)"] = {**bound, "MBv2 baseline": bf16,
                                                               "compact + CL, MF": bf16}
    log(f"\nthe official-settings grid (7 x 6 x 3, {full_clips():,} training clips a type), training only:")
    for key, gains in options.items():
        e = result[key] = estimate(result["per_run"], result["clips"], gains)
        by = ", ".join(f"{k.split()[0]} {g:.2f}x" for k, g in e["gains by kind"].items())
        log(f"  {key:42s}: gain {e['gain of several runs at once']:.2f}x ({by}), {e['grid, estimated (h)']:.1f} h "
            f"({e['one machine type and seed, runs one at a time (s)']:.0f} s a machine type and seed alone)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default="/tmp/gpu-bench", help="scratch folder (data, cache, weights)")
    p.add_argument("--data", help="a data folder with dev_data/fan (default: synthesise the full profile's fan)")
    p.add_argument("--cache")
    p.add_argument("--device", default="cuda")
    p.add_argument("--clips", type=int, default=400, help="training clips of the rate measurements")
    p.add_argument("--epochs", type=int, default=2, help="measured epochs (after a first, not measured)")
    p.add_argument("--procs", default="1,2,4,8")
    p.add_argument("--modes", default="eager,fast,bf16", help="the per-run section's paths (comma-separated)")
    p.add_argument("--fused", type=fused_spec,
                   default=fused_spec("MBv2 baseline=1,4,8,16,32;AE baseline=1,4,16,64;compact + CL, MF=1,4,8"),
                   help="models fused in one step, per kind: 'KIND=N,N,...;KIND=...'")
    p.add_argument("--only", default="per_run,ceiling,fused,processes,results",
                   help="sections, comma-separated")
    p.add_argument("--results-epochs", type=int, help="epochs of the results section's runs (default 4, --quick 2)")
    p.add_argument("--quick", action="store_true", help="fewer variants (a check of the script)")
    p.add_argument("--json", help="write every figure here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    p.add_argument("--barrier", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--estimate-from", metavar="JSON", help="print the estimates of an earlier run's --json")
    args = p.parse_args()
    faulthandler.register(signal.SIGTERM, chain=True)  # a step stopped by its timeout says where it was
    if args.worker:
        return worker(args)
    if args.estimate_from:
        return report_estimates(json.loads(Path(args.estimate_from).read_text()))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    args.data = Path(args.data or work / "data")
    args.cache = Path(args.cache or work / "cache")
    device = torch.device(args.device)
    if not (args.data / "dev_data" / MACHINE).is_dir():
        t0 = time.perf_counter()
        synthesize(args.data, profile="full", machines=[MACHINE], progress=False)
        log(f"synthetic full-size {MACHINE}: {time.perf_counter() - t0:.0f} s")
    all_train = list_clips(args.data / "dev_data", MACHINE, split="train")
    train_clips = spread(all_train, args.clips)
    test_clips = list_clips(args.data / "dev_data", MACHINE, split="test")
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    result: dict = {"device": name, "torch": torch.__version__, "clips": len(train_clips), "epochs": args.epochs}
    log(f"{name}, torch {torch.__version__}: {len(train_clips)} training clips of {MACHINE}, "
        f"{args.epochs} measured epoch(s) after a first")

    def save():
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2, default=str))

    only = args.only.split(",")
    sections = [
        ("per_run", "per run, examples/s (training, the method's batch sizes)",
         lambda: per_run(train_clips, args.cache, device, args.epochs, args.quick, args.modes.split(","))),
        ("ceiling", "the same step at larger batches", lambda: ceiling(device, args.quick)),
        ("fused", "several models trained as one (a prototype)", lambda: fused_all(
            train_clips, args.cache, device,
            args.fused,
            args.quick)),
        ("processes", "several runs at once, one process each", lambda: {
            kind: processes(args, kind, [int(n) for n in args.procs.split(",")], work)
            for kind in ("MBv2 baseline", "AE baseline")}),
        ("results", "what the fast path does to the results",
         lambda: results_effect(all_train, test_clips, args.cache, device,
                                args.results_epochs or (2 if args.quick else 4))),
    ]
    for key, title, fn in sections:
        if key not in only:
            continue
        log(f"\n{title}:")
        t0 = time.perf_counter()
        try:
            result[key] = fn()
        except Exception as err:  # noqa: BLE001: report, and go on to the next measurement
            result[key] = {"error": f"{type(err).__name__}: {err}"}
            log(f"  FAILED: {type(err).__name__}: {err}")
        log(f"  ({time.perf_counter() - t0:.0f} s)")
        save()
    if "error" not in result.get("per_run", {"error": 1}):
        report_estimates(result)
    save()


if __name__ == "__main__":
    main()
