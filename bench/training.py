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
  batch 512 (forward and both backward products of every layer), timed
  alone; the AE's rate is reported as a share of the vectors per second they
  allow.

Targets (issue 15): MobileNetV2 training at least 2x Keras, the AE at least
80 % of its matrix-product ceiling.

    .venv/bin/python bench/training.py [--clips N] [--device cpu|cuda] [--epochs E] [--keras-python PY]

TensorFlow beside the project's environment, to measure the Keras column:

    python3 -m venv .venv-keras && .venv-keras/bin/pip install tensorflow-cpu==2.21.0
    .venv/bin/python bench/training.py --keras-python .venv-keras/bin/python
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import torch
import torch.nn.functional as F
from torchvision.models import mobilenet_v2

from asdlib.cache import load_features
from asdlib.layout import list_clips
from asdlib.models import AutoEncoder, MobileNetV2
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
    ``X.T @ dY`` (backward): ``6 * batch * i * o`` flops.  These products,
    on preallocated float32 tensors, timed alone, are the ceiling of any
    implementation of the step on this device.
    """
    g = torch.Generator().manual_seed(0)
    mats = [(torch.randn(batch, i, generator=g).to(device), torch.randn(i, o, generator=g).to(device),
             torch.randn(batch, o, generator=g).to(device)) for i, o in AE_LAYERS]

    def step():
        for x, w, dy in mats:
            torch.mm(x, w)
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
    flops = sum(6 * batch * i * o for i, o in AE_LAYERS)
    return batch / per_step, flops / per_step / 1e9


def keras_python(given: str | None) -> str | None:
    """The Python that runs the Keras reference: ``given``, else this one if it has TensorFlow."""
    if given:
        if not Path(given).is_file():
            raise SystemExit(f"--keras-python {given}: no such file (a Python interpreter with TensorFlow)")
        return given
    return sys.executable if importlib.util.find_spec("tensorflow") is not None else None


def keras_rates(python: str, feats, epochs: int) -> dict:
    """The official Keras training steps' rates (``bench/keras_reference.py``) on the same features."""
    patches = official_examples("mbv2", feats)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "features.npz"
        np.savez(path, ae=official_examples("ae", feats).numpy(), patches=patches.numpy(),
                 labels=np.arange(len(patches)) % 3)
        done = subprocess.run([python, str(Path(__file__).with_name("keras_reference.py")), str(path),
                               "--epochs", str(epochs)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench/keras_reference.py under {python} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def reference_rate(model_kind: str, feats, device, seconds: float = 8.0) -> float:
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
    """Examples per second of :func:`asdlib.training.train`, from the epochs after the first."""
    return training_rate(feats, baseline_config(model_kind, epochs=epochs + 1, val_fraction=0.0), device, epochs)


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
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs of asdlib's training")
    ap.add_argument("--keras-python", help="a Python with TensorFlow for the Keras reference "
                    "(default: this one, if it has TensorFlow)")
    args = ap.parse_args()
    kpy = keras_python(args.keras_python)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        per_section = max(args.clips // 3 - 1, 1)
        synthesize(tmp / "data", profile=get_profile("tiny", train_source=per_section, train_target=1,
                                                     test_normal=0, test_anomaly=0),
                   machines=["fan"], progress=False)
        clips = list_clips(tmp / "data" / "dev_data", "fan", split="train")
        feats = load_features(clips, tmp / "cache", progress=False)
        rows = []
        for kind, unit in (("ae", "vectors"), ("mbv2", "patches")):
            ref = reference_rate(kind, feats, device)
            ours = asdlib_rate(kind, feats, device, args.epochs)
            rows.append((kind, unit, ref, ours))
        keras = keras_rates(kpy, feats, args.epochs + 1) if kpy and device.type == "cpu" else None
        ceiling, gflops = matmul_ceiling(device)
        plain, folded = scoring_rates(feats, device)
        recipes = recipe_rates(clips, tmp / "cache", device, args.epochs)

    print(f"{len(clips)} clips, device {device}, {torch.get_num_threads()} torch threads\n")
    print(f"{'training':10s} {'unit':8s} {'plain port/s':>13s} {'asdlib/s':>10s} {'vs port':>8s} "
          f"{'Keras/s':>8s} {'vs Keras':>9s}")
    for kind, unit, ref, ours in rows:
        k = f"{keras[kind]:8.0f} {ours / keras[kind]:8.2f}x" if keras else f"{'-':>8s} {'-':>9s}"
        print(f"{kind:10s} {unit:8s} {ref:13.0f} {ours:10.0f} {ours / ref:7.2f}x {k}")
    if keras:
        print(f"Keras: the official training steps, measured in this run (TensorFlow {keras['tensorflow']}, "
              f"Keras {keras['keras']}). Target: MobileNetV2 at least 2x Keras.")
    elif device.type == "cpu":
        print("Keras: not measured (no TensorFlow; see --keras-python in this script's help)")
    ae = rows[0][3]
    print(f"AE matrix-product ceiling at batch 512: {ceiling:.0f} vectors/s ({gflops:.0f} GFLOP/s); "
          f"asdlib reaches {100 * ae / ceiling:.0f} % of it (target: 80 %)")
    print(f"\nscoring   MobileNetV2 patches/s: training graph in eval mode {plain:.0f}, "
          f"folded inference model {folded:.0f} ({folded / plain:.2f}x)")
    print("\nthe ablation's recipes, training chunks per second (a chunk: one 64-frame patch or one waveform chunk):")
    for name, rate in recipes.items():
        print(f"  {name:18s} {rate:8.1f}")
    for row in ("MBv2", "+ CL"):
        print(f"  authors' {row} / compact {row}: {recipes[f'authors {row}'] / recipes[f'compact {row}']:.2f}x")


if __name__ == "__main__":
    main()
