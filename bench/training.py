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

The issue's reference figures for the official Keras baselines on this
2-core CPU are 8,000 AE vectors/s and 150 MobileNetV2 patches/s; the targets
are 4x and 2x those.

    .venv/bin/python bench/training.py [--clips N] [--device cpu|cuda] [--epochs E]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

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

KERAS = {"ae": 8000.0, "mbv2": 150.0}
TARGET = {"ae": 4.0, "mbv2": 2.0}


def reference_rate(model_kind: str, feats, device, seconds: float = 8.0) -> float:
    """Examples per second of a plain port of the official training step."""
    torch.manual_seed(0)
    if model_kind == "ae":
        win = windows(feats, range(len(feats)), width=5, hop=1)
        data = gather(feats, win.starts, 5).reshape(len(win), -1).to(device)
        model, bs = AutoEncoder().to(device), 512
    else:
        win = windows(feats, range(len(feats)), width=64, hop=8)
        data = gather(feats, win.starts, 64).to(device)
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
    args = ap.parse_args()
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
        plain, folded = scoring_rates(feats, device)
        recipes = recipe_rates(clips, tmp / "cache", device, args.epochs)

    print(f"{len(clips)} clips, device {device}, {torch.get_num_threads()} torch threads\n")
    print(f"{'training':10s} {'unit':8s} {'plain port/s':>13s} {'asdlib/s':>10s} {'vs port':>8s} "
          f"{'vs Keras':>9s} {'target':>7s}")
    for kind, unit, ref, ours in rows:
        print(f"{kind:10s} {unit:8s} {ref:13.0f} {ours:10.0f} {ours / ref:7.2f}x "
              f"{ours / KERAS[kind]:8.2f}x {TARGET[kind]:6.1f}x")
    print(f"\nscoring   MobileNetV2 patches/s: training graph in eval mode {plain:.0f}, "
          f"folded inference model {folded:.0f} ({folded / plain:.2f}x)")
    print(f"Keras figures (issue 4, same CPU): AE {KERAS['ae']:.0f} vectors/s, "
          f"MobileNetV2 {KERAS['mbv2']:.0f} patches/s")
    print("\nthe ablation's recipes, training chunks per second (a chunk: one 64-frame patch or one waveform chunk):")
    for name, rate in recipes.items():
        print(f"  {name:18s} {rate:8.1f}")
    for row in ("MBv2", "+ CL"):
        print(f"  authors' {row} / compact {row}: {recipes[f'authors {row}'] / recipes[f'compact {row}']:.2f}x")


if __name__ == "__main__":
    main()
