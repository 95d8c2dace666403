"""The baseline networks: parameter counts, the folded input channel, pooling, the inference copy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import asdlib.models
from asdlib.models import DEPTHWISE_PAD, AutoEncoder, DepthwiseConv2d, MobileNetV2, count_parameters
from asdlib.scoring import inference_model, section_log_odds


def test_autoencoder_has_the_official_parameter_count():
    assert count_parameters(AutoEncoder()) == 267_928


@pytest.mark.parametrize("n_sections, expected", [(3, 691_523), (6, 695_366)])
def test_mobilenetv2_has_the_keras_parameter_count(n_sections, expected):
    assert count_parameters(MobileNetV2(n_sections)) == expected


def test_one_channel_input_equals_the_repeated_rgb_input_of_the_official_baseline():
    torch.manual_seed(0)
    net = MobileNetV2(3).eval()
    x = torch.randn(2, 64, 128) * 10 - 40
    rgb = x.unsqueeze(1).repeat(1, 3, 1, 1)  # what the official baseline feeds
    ref = net.classifier(net.features(rgb).mean(dim=(2, 3)))
    torch.testing.assert_close(net(x), ref, rtol=1e-5, atol=1e-5)


def test_embedding_is_1280_values_for_both_poolings():
    x = torch.randn(3, 64, 128)
    for pooling in ("avg", "meanmax"):
        net = MobileNetV2(3, pooling=pooling).eval()
        assert net.embed(x).shape == (3, 1280)
    fmap = net.feature_map(x)
    assert fmap.shape == (3, 1280, 2, 4)
    expected = fmap.mean(dim=3).mean(dim=2) + fmap.mean(dim=3).amax(dim=2)
    torch.testing.assert_close(net.embed(x), expected)


def test_depthwise_layers_are_made_without_drawing_random_numbers():
    net = MobileNetV2(3)
    depthwise = [m for m in net.modules() if isinstance(m, DepthwiseConv2d)]
    assert len(depthwise) == 17 and not any(type(m) is torch.nn.Conv2d and m.groups > 1 for m in net.modules())
    state = torch.random.get_rng_state()
    again = DepthwiseConv2d.replacing(depthwise[0])
    assert torch.equal(torch.random.get_rng_state(), state) and again.weight is depthwise[0].weight


@pytest.mark.parametrize("height", [1, 2, 3])
def test_low_depthwise_inputs_train_with_explicit_padding_and_the_same_numbers(monkeypatch, height):
    """With ASDLIB_DEPTHWISE_PAD=1 inputs lower than the kernel go through F.pad in CPU training only,
    with the same output and the gradients up to float32 rounding; scoring, taller inputs and the
    default (the switch unset) do not."""
    torch.manual_seed(0)
    plain = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
    layer = DepthwiseConv2d.replacing(plain)
    pads = []
    real_pad = torch.nn.functional.pad
    monkeypatch.setattr(asdlib.models.F, "pad", lambda *a, **k: pads.append(a[1]) or real_pad(*a, **k))
    monkeypatch.setenv(DEPTHWISE_PAD, "1")
    x = torch.randn(4, 8, height, 5, requires_grad=True)
    g = torch.randn(4, 8, height, 5)
    grads = []
    for conv in (plain, layer):
        x.grad = conv.weight.grad = None
        out = conv(x)
        out.backward(g)
        grads.append((out.detach(), x.grad.clone(), conv.weight.grad.clone()))
    assert pads == ([(0, 0, 1, 1)] if height < 3 else [])
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        layer(x)
    monkeypatch.delenv(DEPTHWISE_PAD)
    layer(x)
    assert len(pads) == (1 if height < 3 else 0)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="pooling"):
        MobileNetV2(3, pooling="max")
    with pytest.raises(ValueError, match="at least one section"):
        MobileNetV2(0)


@pytest.mark.parametrize("kind", ["ae", "mbv2"])
def test_inference_copy_computes_what_the_trained_network_computes(kind):
    torch.manual_seed(0)
    if kind == "ae":
        net, x = AutoEncoder(), torch.randn(64, 640) * 10
    else:
        net, x = MobileNetV2(3), torch.randn(8, 64, 128) * 10 - 30
    net.train()
    net(x)  # move the batch-norm statistics away from their initial values
    net.eval()
    fast = inference_model(net)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in fast.modules())
    with torch.no_grad():
        torch.testing.assert_close(fast(x), net(x), rtol=1e-4, atol=1e-4)
    assert net.training is False and any(p.requires_grad for p in net.parameters())  # original untouched


def test_log_odds_equals_the_formula_and_the_official_form_is_the_misplaced_parenthesis():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 0.0], [-3.0, 1.0, 4.0]])
    section = torch.tensor([0, 1, 2])
    p = torch.softmax(logits.double(), dim=1)[torch.arange(3), section].numpy()
    ours = section_log_odds(logits, section).numpy()
    np.testing.assert_allclose(ours, np.log(1 - p) - np.log(p), rtol=1e-6)
    eps = np.finfo(np.float64).eps
    p32 = torch.softmax(logits, dim=1)[torch.arange(3), section].double().numpy()
    official = section_log_odds(logits, section, form="official").numpy()
    np.testing.assert_allclose(official, np.log(np.maximum(1 - p32, eps) - np.log(np.maximum(p32, eps))))


def test_log_odds_stays_finite_where_p_rounds_to_one():
    logits = torch.tensor([[60.0, 0.0, 0.0], [80.0, 0.0, 0.0]])
    section = torch.tensor([0, 0])
    ours = section_log_odds(logits, section).numpy()
    assert np.all(np.isfinite(ours)) and ours[1] < ours[0]  # still ordered past float32 saturation
    official = section_log_odds(logits, section, form="official").numpy()
    assert official[0] == official[1]  # the official form saturates at log(eps)


def test_the_two_forms_rank_clips_differently():
    # clip A: patches p = 0.5, 0.5; clip B: p = 0.95, 0.01 (mean log-odds orders them one way,
    # the official form the other)
    def logits_for(p):
        p = torch.tensor(p, dtype=torch.float64)
        return torch.stack([torch.log(p), torch.log((1 - p) / 2), torch.log((1 - p) / 2)], dim=1).float()

    sec = torch.zeros(2, dtype=torch.long)
    a, b = logits_for([0.5, 0.5]), logits_for([0.95, 0.01])
    ours = [float(section_log_odds(x, sec).mean()) for x in (a, b)]
    official = [float(section_log_odds(x, sec, form="official").mean()) for x in (a, b)]
    assert (ours[0] < ours[1]) != (official[0] < official[1])
    with pytest.raises(ValueError, match="form"):
        section_log_odds(a, sec, form="odds")


@pytest.mark.parametrize("make, shape", [(lambda: MobileNetV2(3), (8, 64, 128)), (lambda: AutoEncoder(), (16, 640))])
def test_stacked_models_under_vmap_train_as_each_model_alone(make, shape):
    """What bench/gpu.py's fused section relies on: N networks' weights stacked, one vmap-ed
    training pass gives each its own outputs and its own batch-norm statistics."""
    from torch.func import functional_call, stack_module_state, vmap
    torch.manual_seed(0)
    nets = [make().train() for _ in range(3)]
    params, buffers = stack_module_state(nets)
    base = make().to("meta")  # the architecture, no weights
    x = torch.randn(3, *shape)
    out = vmap(lambda p, b, xi: functional_call(base, (p, b), (xi,)))(params, buffers, x)
    for i, net in enumerate(nets):
        torch.testing.assert_close(out[i], net(x[i]), rtol=1e-4, atol=1e-4)
        for name, buf in net.named_buffers():
            if buf.is_floating_point():
                torch.testing.assert_close(buffers[name][i], buf, rtol=1e-4, atol=1e-6)
            else:
                assert int(buffers[name][i]) == int(buf) == 1
