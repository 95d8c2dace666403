"""The GPU fast path (:mod:`asdlib.accel`): resident features, captured steps, portable optimiser state.

The parts that run anywhere are tested on the CPU; the CUDA graphs themselves
only where a GPU is present (skipped otherwise; ``bench/gpu.sh`` runs them on
a lent GPU).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from asdlib.accel import Resident, make_optimizer, optimizer_state
from asdlib.cache import load_features, load_waveforms
from asdlib.checkpoint import build_model, load_checkpoint
from asdlib.layout import list_clips
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
    assert float(parts["loss"]) == float(loss) * 4
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


# ---------------------------------------------------------------- CUDA


def _weights_close(a: torch.nn.Module, b: torch.nn.Module, rel: float) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    keys = [k for k in sa if sa[k].is_floating_point()]
    diff = sum(float((sa[k].double().cpu() - sb[k].double().cpu()).square().sum()) for k in keys) ** 0.5
    norm = sum(float(sa[k].double().cpu().square().sum()) for k in keys) ** 0.5
    assert diff <= rel * norm, f"relative difference {diff / norm:.3g}"
    return diff / norm


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
    _weights_close(fast.model, eager.model, 1e-3 if config.dropout == 0 else 0.5)  # dropout draws differ
    np.testing.assert_allclose(fast.history["train_loss"], eager.history["train_loss"], rtol=1e-3)


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
