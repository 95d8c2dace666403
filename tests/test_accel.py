"""The GPU fast path (:mod:`asdlib.accel`): resident features, captured steps, portable optimiser state.

The parts that run anywhere are tested on the CPU; the CUDA graphs themselves
only where a GPU is present (skipped otherwise; ``bench/gpu.sh`` runs them on
a lent GPU).
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from asdlib.accel import Resident, Stepper, make_optimizer, optimizer_state
from asdlib.cache import load_features, load_waveforms
from asdlib.checkpoint import build_model, load_checkpoint
from asdlib.layout import list_clips
from asdlib.losses import nt_xent
from asdlib.models import ReLU6
from asdlib.recipes import authors_config, baseline_config, contrastive_config
from asdlib.training import _batch_loss, train
from asdlib.windows import Inputs, gather, load_inputs

MBV2 = baseline_config("mbv2", epochs=2, train_hop=32, test_hop=64, lr=1e-4)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.fixture(scope="module")
def fan(tiny_data, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    clips = list_clips(tiny_data / "dev_data", "fan", split="train")
    return clips, cache, load_features(clips, cache, progress=False)


def test_resident_rows_gather_what_the_cache_gives(fan, rng):
    clips, cache, feats = fan
    waves = load_waveforms(clips[:3], cache, progress=False)  # int16 on disk, scaled to [-1, 1]
    for f, width in ((feats, 64), (waves, 4096)):
        starts = rng.integers(0, len(f.data) - width, size=17)
        got = Resident(f, torch.device("cpu")).gather(torch.from_numpy(starts), width)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, gather(f, starts, width), rtol=0, atol=0)


def test_inputs_gather_the_same_batch_from_resident_rows(fan, rng):
    _, _, feats = fan
    config = contrastive_config(median_filter="both")  # two inputs: the AE's raw, the CNN's filtered
    inputs = Inputs(config, feats, training=True, device="cpu")
    assert inputs.resident is None  # never on the CPU
    starts = inputs.windows().starts[rng.integers(0, len(inputs.windows()), size=9)]
    x, xf = inputs.batch(starts, "cpu")
    inputs.resident = Resident(feats, torch.device("cpu"))
    inputs.resident_filtered = Resident(inputs.filtered, torch.device("cpu"))
    x2, xf2 = inputs.batch(torch.from_numpy(starts), "cpu")
    torch.testing.assert_close(x2, x, rtol=0, atol=0)
    torch.testing.assert_close(xf2, xf, rtol=0, atol=0)
    assert not torch.equal(x, xf)


def test_the_history_parts_are_float64_sums_over_the_batch(fan):
    _, _, feats = fan
    torch.manual_seed(0)
    model = build_model(MBV2, 3).eval()
    x = torch.randn(4, 64, 128)
    y = torch.tensor([0, 1, 2, 0])
    loss, parts = _batch_loss(model, MBV2, x, None, y)
    assert parts["loss"].dtype == torch.float64 and parts["accuracy"].dtype == torch.float64
    assert float(parts["loss"]) == float(loss.detach()) * 4
    assert 0 <= float(parts["accuracy"]) <= 4


def test_a_saved_optimiser_state_resumes_on_any_device():
    model = torch.nn.Linear(3, 2)
    opt = make_optimizer(model, 1e-3, torch.device("cpu"), graphs=False)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    opt.param_groups[0]["lr"] = torch.tensor(5e-4)  # as a capturable optimiser holds it
    opt.param_groups[0]["capturable"] = True
    state = optimizer_state(opt)
    assert state["param_groups"][0]["lr"] == pytest.approx(5e-4, rel=1e-7)  # float32 on the device
    assert state["param_groups"][0]["capturable"] is False
    again = make_optimizer(model, 1e-3, torch.device("cpu"), graphs=False, state=state)
    assert again.param_groups[0]["lr"] == state["param_groups"][0]["lr"]
    model(torch.ones(1, 3)).sum().backward()
    again.step()  # a capturable state would refuse CPU parameters here


def test_bfloat16_training_runs_and_changes_the_weights_but_not_their_type(fan):
    _, _, feats = fan
    config = MBV2.replace(epochs=1)
    plain = train(feats, config, device="cpu", progress=False)
    half = train(feats, config.replace(precision="bfloat16"), device="cpu", progress=False)
    assert np.isfinite(half.history["train_loss"]).all()
    a, b = plain.model.state_dict(), half.model.state_dict()
    assert all(b[k].dtype == a[k].dtype for k in a)
    assert any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())


# ---------------------------------------------------------------- the CPU's faster step


def _old_cpu_step(model, config, x, y, optimizer):
    """A CPU training step as it was before the CPU's speed work: in-place ReLU6 (torchvision's),
    the AE's loss as the mean of the examples' means, one-tensor-at-a-time Adam."""
    n = len(x)
    if config.model == "ae":
        flat = x.reshape(n, -1)
        loss = (model(flat) - flat).square().mean(dim=1).mean()
    elif config.model == "mbv2":
        loss = torch.nn.functional.cross_entropy(model(x), y)
    else:
        recon, logits, p, u = model(x)
        loss = (recon - x.reshape(n, -1)).square().mean() + torch.nn.functional.cross_entropy(logits, y) \
            + config.cl_weight * nt_xent(p, u, temperature=config.temperature, normalize=config.cl_normalize)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


@pytest.mark.parametrize("config", [baseline_config("ae", batch_size=128), MBV2.replace(batch_size=8),
                                    contrastive_config(batch_size=8)], ids=["ae", "mbv2", "contrastive"])
def test_the_cpu_step_trains_to_the_bit_as_the_plain_step_did(fan, config):
    """Out-of-place ReLU6 in training, the AE's fused loss where 1/n is exact, Adam over all tensors
    at once: the same weights to the bit as the plain step, full batches and short ones alike."""
    _, _, feats = fan
    inputs = Inputs(config, feats, training=True)
    starts = inputs.windows().starts
    size = config.batch_size
    got = []
    for new in (True, False):
        torch.manual_seed(0)
        model = build_model(config, 3)
        if not new:  # torchvision's in-place ReLU6, PyTorch's default Adam
            for parent in model.modules():
                for name, child in parent.named_children():
                    if isinstance(child, ReLU6):
                        setattr(parent, name, torch.nn.ReLU6(inplace=True))
        model.to(memory_format=torch.channels_last)
        model.train()
        opt = (make_optimizer(model, config.lr, torch.device("cpu"), graphs=False) if new else
               torch.optim.Adam(model.parameters(), lr=config.lr))
        step = Stepper(model, opt, lambda x, xc, y, mix=None, m=model: _batch_loss(m, config, x, xc, y, mix),
                       batch_size=size, graphs=False)
        for b, n in [(b, size) for b in range(0, size * 4, size)] + [(size * 4, 7), (size * 5, 3)]:
            x, _ = inputs.batch(starts[b:b + n], "cpu")  # four full batches, two short ones
            y = torch.arange(len(x)) % 3
            if new:
                step(x, None, y, config.lr)
            else:
                _old_cpu_step(model, config, x, y, opt)
        got.append({k: v.clone() for k, v in model.state_dict().items()})
    changed = [k for k in got[0] if not torch.equal(got[0][k], got[1][k])]
    assert not changed, f"{len(changed)} tensors differ, first {changed[:3]}"


def test_relu6_works_in_place_only_where_no_gradient_is_recorded():
    relu = ReLU6()
    x = torch.linspace(-3, 9, 13)
    with torch.no_grad():
        y = relu(x.clone())
    torch.testing.assert_close(y, x.clamp(0, 6))
    a = x.clone()
    with torch.no_grad():
        assert relu(a).data_ptr() == a.data_ptr()  # scoring: no copy
    w = torch.ones(13, requires_grad=True)
    b = x * w
    out = relu(b)
    assert out.data_ptr() != b.data_ptr()  # training: the input is left as it was
    out.sum().backward()
    torch.testing.assert_close(w.grad, ((x > 0) & (x < 6)).float() * x)


TUNED = "from asdlib.accel import tune_host_allocator; print(tune_host_allocator(), tune_host_allocator())"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
def test_the_allocator_is_tuned_once_on_glibc_unless_turned_off():
    """The switch, in fresh processes (the setting is the process's). Its effect, the page faults
    of a step, is measured rather than tested: on this machine the counts of one process vary
    from run to run in both settings (bench/training.py, book/baselines.md)."""
    for tuning, expected in (("1", "True True"), ("0", "False False")):
        done = subprocess.run([sys.executable, "-c", TUNED], capture_output=True, text=True, check=True,
                              env={**os.environ, "ASDLIB_MALLOC_TUNING": tuning})
        assert done.stdout.split() == expected.split()


class _Recorded:
    """A stand-in for ``torch.cuda.CUDAGraph`` on the CPU: replaying re-runs the recorded step."""

    def replay(self):
        st = self.stepper
        st.optimizer.zero_grad(set_to_none=True)
        loss, parts = st.loss_fn(*st.static)
        loss.backward()
        st.optimizer.step()
        for k in st.parts:
            st.parts[k].copy_(parts[k])


def test_capturing_leaves_the_weights_and_adam_as_an_eager_step_would(fan, monkeypatch):
    """The capture's warm-up steps are undone: with the CUDA calls replaced by ones that re-run the
    step, a captured run trains exactly as eager steps with the same (capturable) optimiser."""
    import contextlib

    import importlib

    modules = [importlib.import_module(f"torch.optim.{m}") for m in ("optimizer", "adam")]
    devices = modules[0]._get_capturable_supported_devices
    for module in modules:
        monkeypatch.setattr(module, "_get_capturable_supported_devices",
                            lambda supports_xla=True: devices(supports_xla) + ["cpu"])

    class Stream:
        def wait_stream(self, other):
            pass

    monkeypatch.setattr(torch.cuda, "Stream", Stream)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda: Stream())
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "CUDAGraph", _Recorded)
    monkeypatch.setattr(torch.cuda, "graph", lambda g: contextlib.nullcontext())
    from asdlib import accel

    capture = accel.Stepper._capture

    def recorded(self, *args):
        capture(self, *args)
        self.graph.stepper = self

    monkeypatch.setattr(accel.Stepper, "_capture", recorded)
    _, _, feats = fan
    config = MBV2.replace(epochs=1, batch_size=16)
    inputs = Inputs(config, feats, training=True)
    starts = inputs.windows().starts
    got = []
    for graphs in (False, True):
        torch.manual_seed(0)
        model = build_model(config, 3)
        opt = make_optimizer(model, config.lr, torch.device("cpu"), graphs=True)
        step = accel.Stepper(model, opt, lambda x, xc, y, mix=None, m=model: _batch_loss(m, config, x, xc, y, mix),
                             batch_size=16, graphs=graphs)
        losses = []
        for b in range(0, 16 * 5 + 7, 16):  # five full batches and a short one
            x, xc = inputs.batch(starts[b:b + 16], "cpu")
            y = torch.arange(len(x)) % 3
            losses.append(float(step(x, xc, y, config.lr)["loss"]))
        assert (step.graph is not None) == graphs
        got.append((losses, {k: v.clone() for k, v in model.state_dict().items()}))
    assert got[0][0] == got[1][0]
    assert all(torch.equal(got[0][1][k], got[1][1][k]) for k in got[0][1])


def test_a_float32_learning_rate_moves_the_ae_weights_not_its_loss(fan):
    """Why the CUDA test compares losses: the official AE (linear layers before batch norms, Adam)
    is chaotic in the directions its loss does not see."""
    _, _, feats = fan
    config = baseline_config("ae", epochs=1, batch_size=256, val_fraction=0.0)
    a = train(feats, config, device="cpu", progress=False)
    b = train(feats, config.replace(lr=float(np.float32(config.lr))), device="cpu", progress=False)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    keys = [k for k in sa if sa[k].is_floating_point()]
    moved = sum(float((sa[k] - sb[k]).double().square().sum()) for k in keys) ** 0.5 / \
        sum(float(sa[k].double().square().sum()) for k in keys) ** 0.5
    assert moved > 0.01  # a relative change of 5e-8 in the learning rate
    np.testing.assert_allclose(a.history["train_loss"], b.history["train_loss"], rtol=1e-3)


# ---------------------------------------------------------------- CUDA


@cuda
@pytest.mark.parametrize("config", [baseline_config("ae", epochs=2, batch_size=256), MBV2,
                                    contrastive_config(median_filter="both", epochs=2, train_hop=32),
                                    authors_config(epochs=2, train_hop=32, select="last", track_test=False)],
                         ids=["ae", "mbv2", "compact", "authors"])
def test_captured_steps_train_as_eager_ones(fan, config, monkeypatch):
    clips, cache, _ = fan
    feats = load_inputs(clips, cache, config, progress=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fast = train(feats, config, device="cuda", progress=False)
    assert not [w for w in caught if "CUDA graphs" in str(w.message)]  # the steps were captured
    monkeypatch.setenv("ASDLIB_CUDA_GRAPHS", "0")
    monkeypatch.setenv("ASDLIB_RESIDENT", "0")
    eager = train(feats, config, device="cuda", progress=False)
    # not the weights: Adam's float32 learning rate alone moves the AE's weights by 26 % (relative
    # L2, one epoch; see test_a_float32_learning_rate_moves_the_ae_weights_not_its_loss); the
    # authors' dropout draws differ between the two
    np.testing.assert_allclose(fast.history["train_loss"], eager.history["train_loss"],
                               rtol=1e-2 if config.dropout == 0 else 5e-2)


@cuda
def test_a_run_captured_on_cuda_resumes_on_the_cpu(fan, tmp_path):
    _, _, feats = fan
    ckpt = tmp_path / "model.pt"

    def stop(row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(feats, MBV2, device="cuda", checkpoint=ckpt, progress=False, on_epoch=stop)
    assert load_checkpoint(ckpt).epoch == 1
    done = train(feats, MBV2, device="cpu", checkpoint=ckpt, progress=False)
    assert done.epoch == 2 and len(done.history) == 2


@cuda
def test_features_are_resident_on_cuda_unless_turned_off(fan, monkeypatch):
    _, _, feats = fan
    assert Inputs(MBV2, feats, training=True, device="cuda").resident is not None
    monkeypatch.setenv("ASDLIB_RESIDENT", "0")
    assert Inputs(MBV2, feats, training=True, device="cuda").resident is None
