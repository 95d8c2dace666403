"""Benchmark of training and scoring throughput, as ratios against a reference run in this process.

On the same log-mel features, at the official batch sizes (512 AE vectors,
32 MobileNetV2 patches):

* reference: a plain PyTorch port of the official Keras training step
  (features in memory, AE vectors as a float32 tensor; MobileNetV2 fed the
  log-mel channel repeated three times, NCHW, torchvision's network as is);
* asdlib: :func:`asdlib.training.train` for whole epochs, batches read from
  the memory-mapped feature cache;
* scoring: MobileNetV2 patches per second with the training graph in eval
  mode against :func:`asdlib.scoring.inference_model`;
* the ablation's two recipes (``asdlib.recipes``): chunks per second of the
  framework and of the CNN alone, the authors' against the compact one.

* Keras: the official Keras training steps (``bench/keras_reference.py``: the
  official model definitions, batch sizes and optimisers, ``model.fit``) on
  the same features, run in a subprocess by a Python that has TensorFlow
  (``--keras-python``; found by itself when this Python has it), measured in
  this run; without TensorFlow the column says so;
* the AE's ceiling: the float32 matrix products of one AE training step at
  batch 512 (forward and both backward products of every layer but the
  input gradient of the first, which no training step computes: the
  examples need none), timed alone; the AE's rate is reported as a share of
  the vectors per second they allow;
* MobileNetV2 through :func:`asdlib.training.train` again with
  ``ASDLIB_DEPTHWISE_PAD=1`` (:class:`asdlib.models.DepthwiseConv2d`: faster
  on oneDNN, the weights different in their last bits, so not the default),
  against Keras and the default.

Targets (issue 15): MobileNetV2 training at least 2x Keras, the AE at least
80 % of its matrix-product ceiling.

A shared 2-core machine's speed drifts by 10-20 % within a minute, as much
as the effects measured, so the training figures are taken in rounds
(``--rounds``, default 3): in each, Keras, the plain port, asdlib and the
ceiling one after the other, and each ratio is the median of the rounds'
ratios (each taken from figures measured within a minute of each other).
The AE's epochs on 30 clips are short (about 9,000 vectors), so both asdlib
and Keras train it for at least 200,000 vectors a round.  On the CPU the
glibc allocator is set as asdlib's training sets it
(:func:`asdlib.accel.tune_host_allocator`) from the start, so the plain port
runs with it too; ``ASDLIB_MALLOC_TUNING=0`` measures everything without it.

    .venv/bin/python bench/training.py [--clips N] [--device cpu|cuda] [--epochs E] [--rounds R]
                                       [--keras-python PY]

TensorFlow beside the project's environment, to measure the Keras column:

    python3 -m venv .venv-keras && .venv-keras/bin/pip install tensorflow-cpu==2.21.0
    .venv/bin/python bench/training.py --keras-python .venv-keras/bin/python
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import torch
import torch.nn.functional as F
from torchvision.models import mobilenet_v2

from asdlib.accel import tune_host_allocator
from asdlib.cache import load_features
from asdlib.layout import list_clips
from asdlib.models import DEPTHWISE_PAD, AutoEncoder, MobileNetV2
from asdlib.recipes import RECIPES, baseline_config, recipe_variants
from asdlib.scoring import inference_model
from asdlib.synth import get_profile, synthesize
from asdlib.training import train
from asdlib.windows import Inputs, gather, load_inputs, windows

AE_LAYERS = [(640, 128), (128, 128), (128, 128), (128, 128), (128, 8),
             (8, 128), (128, 128), (128, 128), (128, 128), (128, 640)]


def official_examples(model_kind: str, feats) -> torch.Tensor:
    """The official baselines' training examples from the features, in memory: AE vectors of 5
    frames every frame (N x 640), MobileNetV2 patches of 64 frames every 8 (N x 64 x 128)."""
    if model_kind == "ae":
        win = windows(feats, range(len(feats)), width=5, hop=1)
        return gather(feats, win.starts, 5).reshape(len(win), -1)
    win = windows(feats, range(len(feats)), width=64, hop=8)
    return gather(feats, win.starts, 64)


def matmul_ceiling(device, batch: int = 512, seconds: float = 5.0) -> tuple[float, float]:
    """Vectors per second that the AE's matrix products alone allow, and their GFLOP/s.

    One training step of the official AE at ``batch`` multiplies, per layer
    of ``i`` inputs and ``o`` outputs, ``X @ W`` (forward), ``dY @ W.T`` and
    ``X.T @ dY`` (backward): ``6 * batch * i * o`` flops, but for the first
    layer's ``dY @ W.T``, the gradient of the examples, which training does
    not compute.  These products, on preallocated float32 tensors, timed
    alone, are the ceiling of any implementation of the step on this device.
    """
    g = torch.Generator().manual_seed(0)
    mats = [(torch.randn(batch, i, generator=g).to(device), torch.randn(i, o, generator=g).to(device),
             torch.randn(batch, o, generator=g).to(device)) for i, o in AE_LAYERS]

    def step():
        for layer, (x, w, dy) in enumerate(mats):
            torch.mm(x, w)
            if layer:
                torch.mm(dy, w.t())
            torch.mm(x.t(), dy)

    for _ in range(20):
        step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        n += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    per_step = (time.perf_counter() - t0) / n
    flops = sum(6 * batch * i * o for i, o in AE_LAYERS) - 2 * batch * AE_LAYERS[0][0] * AE_LAYERS[0][1]
    return batch / per_step, flops / per_step / 1e9


def keras_python(given: str | None) -> str | None:
    """The Python that runs the Keras reference: ``given``, else this one if it has TensorFlow."""
    if given:
        if not Path(given).is_file():
            raise SystemExit(f"--keras-python {given}: no such file (a Python interpreter with TensorFlow)")
        return given
    return sys.executable if importlib.util.find_spec("tensorflow") is not None else None


#: The fewest AE vectors a round trains (asdlib and Keras alike): an epoch of 30 clips is ~9,000.
AE_EXAMPLES = 200_000


def ae_epochs(feats, epochs: int) -> int:
    """Timed AE epochs: ``epochs``, or more, to train at least :data:`AE_EXAMPLES` vectors."""
    return max(epochs, math.ceil(AE_EXAMPLES / len(windows(feats, range(len(feats)), width=5, hop=1))))


def write_keras_data(feats, path: Path) -> Path:
    """The official examples of both baselines, as ``bench/keras_reference.py`` reads them."""
    patches = official_examples("mbv2", feats)
    np.savez(path, ae=official_examples("ae", feats).numpy(), patches=patches.numpy(),
             labels=np.arange(len(patches)) % 3)
    return path


def keras_rates(python: str, data: Path, feats, epochs: int) -> dict:
    """The official Keras training steps' rates (``bench/keras_reference.py``) on ``data``
    (:func:`write_keras_data` of ``feats``), ``epochs`` timed epochs of MobileNetV2 (the AE's:
    :func:`ae_epochs`)."""
    done = subprocess.run([python, str(Path(__file__).with_name("keras_reference.py")), str(data),
                           "--epochs", str(epochs), "--ae-epochs", str(ae_epochs(feats, epochs))],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench/keras_reference.py under {python} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def reference_rate(model_kind: str, feats, device, seconds: float = 4.0) -> float:
    """Examples per second of a plain port of the official training step."""
    torch.manual_seed(0)
    data = official_examples(model_kind, feats).to(device)
    if model_kind == "ae":
        model, bs = AutoEncoder().to(device), 512
    else:
        model, bs = mobilenet_v2(width_mult=0.5, num_classes=3).to(device), 32
    labels = torch.randint(0, 3, (len(data),), device=device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    n, t0, i = 0, None, 0
    while True:
        idx = torch.randint(0, len(data), (bs,), device=device)
        x = data[idx]
        if model_kind == "ae":
            loss = F.mse_loss(model(x), x)
        else:
            loss = F.cross_entropy(model(x.unsqueeze(1).repeat(1, 3, 1, 1)), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        i += 1
        if i == 3:
            t0 = time.perf_counter()  # after warm-up
        elif t0 is not None:
            n += bs
            if time.perf_counter() - t0 > seconds:
                return n / (time.perf_counter() - t0)


def training_rate(feats, config, device, epochs: int) -> float:
    """Training examples per second of :func:`asdlib.training.train` with ``config`` (trained for
    ``epochs + 1`` epochs), from the epochs after the first (set-up, warm-up)."""
    n = len(Inputs(config, feats, training=True).windows())
    stamps = []

    def stamp(_row):
        if device.type == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    train(feats, config, device=device, progress=False, on_epoch=stamp)
    return n * epochs / (stamps[-1] - stamps[0])


def asdlib_rate(model_kind: str, feats, device, epochs: int) -> float:
    """Examples per second of :func:`asdlib.training.train`, from the epochs after the first (the
    AE's: :func:`ae_epochs`)."""
    if model_kind == "ae":
        epochs = ae_epochs(feats, epochs)
    return training_rate(feats, baseline_config(model_kind, epochs=epochs + 1, val_fraction=0.0), device, epochs)


def mbv2_rate(feats, device, epochs: int, *, pad: bool) -> float:
    """:func:`asdlib_rate` of MobileNetV2 with ``ASDLIB_DEPTHWISE_PAD`` set to ``pad`` whatever the
    caller's environment says (so that the default column is the default), then restored."""
    before = os.environ.get(DEPTHWISE_PAD)
    os.environ[DEPTHWISE_PAD] = "1" if pad else "0"
    try:
        return asdlib_rate("mbv2", feats, device, epochs)
    finally:
        if before is None:
            os.environ.pop(DEPTHWISE_PAD)
        else:
            os.environ[DEPTHWISE_PAD] = before


def measure_round(feats, device, epochs: int, keras: tuple[str, Path] | None) -> dict:
    """One round: Keras (when given its Python and data), then per baseline the plain port and
    asdlib (MobileNetV2 also with the depthwise padding), then the ceiling."""
    out = {"keras": keras_rates(*keras, feats, epochs) if keras else None}
    out["ae"] = {"port": reference_rate("ae", feats, device), "asdlib": asdlib_rate("ae", feats, device, epochs)}
    out["mbv2"] = {"port": reference_rate("mbv2", feats, device), "asdlib": mbv2_rate(feats, device, epochs, pad=False)}
    if device.type == "cpu":
        out["mbv2"]["padded"] = mbv2_rate(feats, device, epochs, pad=True)
    out["ceiling"], out["gflops"] = matmul_ceiling(device, seconds=3.0)
    return out


def median_ratio(rounds: list[dict], num, den) -> float:
    """The median over the rounds of ``num(round) / den(round)``."""
    return statistics.median(num(r) / den(r) for r in rounds)


def recipe_rates(clips, cache: Path, device, epochs: int) -> dict[str, float]:
    """Training examples (chunks) per second of each recipe's framework ("+ CL") and CNN alone ("MBv2"),
    from the epochs after the first, on the same clips: the authors' recipe reads waveform chunks and
    computes their log-mel per batch, the compact one cuts patches from the cached log-mel."""
    rates = {}
    for recipe in RECIPES:
        for row, config in recipe_variants(recipe, epochs=epochs + 1, val_fraction=0.0, select="last",
                                           track_test=False).items():
            if row not in ("MBv2", "+ CL"):
                continue
            feats = load_inputs(clips, cache, config, progress=False)
            rates[f"{recipe} {row}"] = training_rate(feats, config, device, epochs)
    return rates


def scoring_rates(feats, device, seconds: float = 5.0) -> tuple[float, float]:
    model = MobileNetV2(3).to(device).eval()
    win = windows(feats, range(len(feats)), width=64, hop=1)
    x = gather(feats, win.starts[:256], 64).to(device)
    rates = []
    for m in (model, inference_model(model)):
        with torch.inference_mode():
            m(x)
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                m(x)
                n += len(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            rates.append(n / (time.perf_counter() - t0))
    return rates[0], rates[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=30, help="training clips (default 30: 10 per section)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--epochs", type=int, default=2, help="timed MobileNetV2 epochs a round (default 2)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the training figures (default 3)")
    ap.add_argument("--keras-python", help="a Python with TensorFlow for the Keras reference "
                    "(default: this one, if it has TensorFlow)")
    args = ap.parse_args()
    if args.rounds < 1 or args.epochs < 1:
        raise SystemExit("--rounds and --epochs must be at least 1")
    device = torch.device(args.device)
    kpy = keras_python(args.keras_python) if device.type == "cpu" else None
    # the allocator as asdlib's training sets it, from the start: the port runs with it too
    tuned = device.type == "cpu" and tune_host_allocator()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        per_section = max(args.clips // 3 - 1, 1)
        synthesize(tmp / "data", profile=get_profile("tiny", train_source=per_section, train_target=1,
                                                     test_normal=0, test_anomaly=0),
                   machines=["fan"], progress=False)
        clips = list_clips(tmp / "data" / "dev_data", "fan", split="train")
        feats = load_features(clips, tmp / "cache", progress=False)
        keras_ref = (kpy, write_keras_data(feats, tmp / "keras.npz")) if kpy else None
        rounds = []
        for r in range(args.rounds):
            rounds.append(measure_round(feats, device, args.epochs, keras_ref))
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        plain, folded = scoring_rates(feats, device)
        recipes = recipe_rates(clips, tmp / "cache", device, args.epochs)

    keras = rounds[0]["keras"]
    print(f"{len(clips)} clips, device {device}, {torch.get_num_threads()} torch threads, "
          f"{args.rounds} rounds (each figure a round's; ratios: the median of the rounds' ratios)")
    if device.type == "cpu":
        print("glibc allocator tuned (asdlib.accel.tune_host_allocator), for the port too" if tuned else
              "glibc allocator as it was (ASDLIB_MALLOC_TUNING=0, or not glibc)")
    print()
    print(f"{'training':9s} {'unit':8s} {'round':>5s} {'Keras/s':>8s} {'plain port/s':>13s} {'asdlib/s':>9s} "
          f"{'vs port':>8s} {'vs Keras':>9s}")
    for kind, unit in (("ae", "vectors"), ("mbv2", "patches")):
        for i, r in enumerate(rounds):
            k = r["keras"][kind] if keras else float("nan")
            print(f"{kind:9s} {unit:8s} {i + 1:5d} {k:8.0f} {r[kind]['port']:13.0f} {r[kind]['asdlib']:9.0f} "
                  f"{r[kind]['asdlib'] / r[kind]['port']:7.2f}x {r[kind]['asdlib'] / k:8.2f}x")
        vs_keras = (f"{median_ratio(rounds, lambda r: r[kind]['asdlib'], lambda r: r['keras'][kind]):8.2f}x"
                    if keras else f"{'-':>9s}")
        print(f"{kind:9s} {unit:8s} {'median':>5s} {'':8s} {'':13s} {'':9s} "
              f"{median_ratio(rounds, lambda r: r[kind]['asdlib'], lambda r: r[kind]['port']):7.2f}x {vs_keras}")
    if keras:
        print(f"Keras: the official training steps, measured in each round (TensorFlow {keras['tensorflow']}, "
              f"Keras {keras['keras']}). Target: MobileNetV2 at least 2x Keras.")
    elif device.type == "cpu":
        print("Keras: not measured (no TensorFlow; see --keras-python in this script's help)")
    if device.type == "cpu":
        padded = ", ".join(f"{r['mbv2']['padded']:.0f}" for r in rounds)
        vs_keras = (f"{median_ratio(rounds, lambda r: r['mbv2']['padded'], lambda r: r['keras']['mbv2']):.2f}x Keras, "
                    if keras else "")
        print(f"MobileNetV2 with ASDLIB_DEPTHWISE_PAD=1 (not the default: other last bits), patches/s by round: "
              f"{padded}; {vs_keras}{median_ratio(rounds, lambda r: r['mbv2']['padded'], lambda r: r['mbv2']['asdlib']):.2f}x "
              f"the default")
    share = median_ratio(rounds, lambda r: r["ae"]["asdlib"], lambda r: r["ceiling"])
    ceilings = ", ".join(f"{r['ceiling']:.0f}" for r in rounds)
    print(f"AE matrix-product ceiling at batch 512, vectors/s by round: {ceilings} "
          f"({statistics.median(r['gflops'] for r in rounds):.0f} GFLOP/s, median); "
          f"asdlib reaches {100 * share:.0f} % of it (target: 80 %)")
    print(f"\nscoring   MobileNetV2 patches/s: training graph in eval mode {plain:.0f}, "
          f"folded inference model {folded:.0f} ({folded / plain:.2f}x)")
    print("\nthe ablation's recipes, training chunks per second (a chunk: one 64-frame patch or one waveform chunk):")
    for name, rate in recipes.items():
        print(f"  {name:18s} {rate:8.1f}")
    for row in ("MBv2", "+ CL"):
        print(f"  authors' {row} / compact {row}: {recipes[f'authors {row}'] / recipes[f'compact {row}']:.2f}x")


if __name__ == "__main__":
    main()
