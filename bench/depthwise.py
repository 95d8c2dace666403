"""MobileNetV2 training on the CPU with and without the explicit padding of low depthwise inputs.

oneDNN computes a depthwise 3 x 3 convolution's weight gradient 20 to 50
times slower than its forward when the input is lower than the kernel
(:class:`asdlib.models.DepthwiseConv2d`).  This script measures, in one
process, what making the height padding explicit gains on a whole training
step (forward, backward, Adam) at the method's batch size, 32 patches of
64 x 128, for the official network (width 0.5) and the authors' CNN
(width 1.0, one input channel):

* per layer: the weight gradient of each low depthwise layer, oneDNN's
  path against the padded one, and their relative difference;
* per step: rounds that alternate the two paths (``ASDLIB_DEPTHWISE_PAD``
  0, the default, then 1, each from the same weights, data and Adam state), a
  figure per round and the median of the rounds' ratios (a shared 2-core
  machine drifts by 10-20 % within a minute).

    .venv/bin/python bench/depthwise.py [--rounds 5] [--steps 10] [--threads 2]
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

import torch
import torch.nn.functional as F

from asdlib.accel import make_optimizer, tune_host_allocator
from asdlib.models import DEPTHWISE_PAD, DepthwiseConv2d, MobileNetV2

NETWORKS = {
    "official (width 0.5)": {},
    "authors' CNN (width 1.0)": {"width_mult": 1.0, "in_channels": 1},
}


def set_padding(on: bool) -> None:
    os.environ[DEPTHWISE_PAD] = "1" if on else "0"


def low_layers(model: MobileNetV2, x: torch.Tensor) -> list[tuple[DepthwiseConv2d, torch.Tensor]]:
    """The depthwise layers whose input is lower than their kernel, with that input."""
    seen = []
    hooks = [m.register_forward_hook(lambda m, inp, out: seen.append((m, inp[0].detach())))
             for m in model.modules() if isinstance(m, DepthwiseConv2d)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return [(m, inp) for m, inp in seen if inp.shape[-2] < m.kernel_size[0]]


def layer_gradients(model: MobileNetV2, x: torch.Tensor, repeat: int) -> list[str]:
    lines = []
    for layer, inp in low_layers(model, x):
        layer = copy.deepcopy(layer)
        grad = torch.randn_like(layer(inp))
        times, weights = {}, {}
        for on in (False, True):
            set_padding(on)
            layer.weight.grad = None
            out = layer(inp)
            t0 = time.perf_counter()
            for _ in range(repeat):
                layer.weight.grad = None
                out = layer(inp)
                out.backward(grad)
            times[on] = (time.perf_counter() - t0) / repeat
            weights[on] = layer.weight.grad.clone()
        diff = ((weights[True] - weights[False]).norm() / weights[False].norm()).item()
        shape = "x".join(str(s) for s in inp.shape)
        lines.append(f"  input {shape:>14}: oneDNN {1e3 * times[False]:6.2f} ms, padded "
                     f"{1e3 * times[True]:6.2f} ms ({times[False] / times[True]:.1f}x), forward and "
                     f"backward; weight gradients {diff:.1e} apart (relative)")
    return lines


def step_rates(kwargs: dict, rounds: int, steps: int) -> list[tuple[float, float]]:
    """Patches/s of whole training steps, (oneDNN's path, padded) per round, alternating."""
    torch.manual_seed(0)
    model = MobileNetV2(6, **kwargs).to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, 1e-3, torch.device("cpu"), graphs=False)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(32, 64, 128, generator=gen), torch.randint(0, 6, (32,), generator=gen)

    def run(on: bool) -> float:
        set_padding(on)
        state = copy.deepcopy((model.state_dict(), optimizer.state_dict()))
        for i in range(steps + 2):
            if i == 2:
                t0 = time.perf_counter()
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        rate = 32 * steps / (time.perf_counter() - t0)
        model.load_state_dict(state[0])
        optimizer.load_state_dict(state[1])
        return rate

    return [(run(False), run(True)) for _ in range(rounds)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds per network (default 5)")
    ap.add_argument("--steps", type=int, default=10, help="timed training steps per path and round (default 10)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(),
                    help=f"torch threads (default {torch.get_num_threads()})")
    args = ap.parse_args()
    if args.rounds < 1 or args.steps < 1:
        ap.error("--rounds and --steps must be at least 1")
    torch.set_num_threads(args.threads)
    tune_host_allocator()
    before = os.environ.get(DEPTHWISE_PAD)
    print(f"MobileNetV2 training steps on the CPU, batch 32 of 64 x 128, {args.threads} torch threads, "
          f"{args.rounds} rounds of {args.steps} steps per path")
    try:
        for name, kwargs in NETWORKS.items():
            torch.manual_seed(0)
            model = MobileNetV2(6, **kwargs).to(memory_format=torch.channels_last)
            x = torch.randn(32, 64, 128).contiguous()
            print(f"\n{name}: the depthwise layers lower than their kernel")
            print("\n".join(layer_gradients(model, x, repeat=max(args.steps, 5))))
            rates = step_rates(kwargs, args.rounds, args.steps)
            for i, (plain, padded) in enumerate(rates, 1):
                print(f"  round {i}: oneDNN's path {plain:6.1f} patches/s, padded {padded:6.1f} "
                      f"({padded / plain:.2f}x)")
            ratio = statistics.median(p / q for q, p in rates)
            print(f"  training step, padded / oneDNN's path: {ratio:.2f}x (median of {len(rates)} rounds)")
    finally:
        if before is None:
            os.environ.pop(DEPTHWISE_PAD, None)
        else:
            os.environ[DEPTHWISE_PAD] = before
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
