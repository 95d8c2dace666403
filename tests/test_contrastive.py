"""The contrastive framework: its loss terms, inference parity, median filtering and the ablation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from asdlib.ablation import VARIANTS, ablation, variant_configs
from asdlib.cache import load_features
from asdlib.recipes import contrastive_config
from asdlib.features import median_filter
from asdlib.layout import list_clips
from asdlib.models import ContrastiveASD, MobileNetV2, count_parameters
from asdlib.scoring import clip_scores, section_log_odds
from asdlib.checkpoint import load_trained
from asdlib.training import train
from asdlib.windows import gather, median_filtered, windows

# few patches per clip and two epochs: the tests check the plumbing, not the accuracy
TINY = contrastive_config(epochs=2, train_hop=64, test_hop=64, lr=1e-4, batch_size=16)


@pytest.fixture(scope="module")
def fan(tiny_data, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    dev = tiny_data / "dev_data"
    return (load_features(list_clips(dev, "fan", split="train"), cache, progress=False),
            load_features(list_clips(dev, "fan", split="test"), cache, progress=False))


def test_the_framework_has_the_stated_shapes():
    net = ContrastiveASD(3)
    assert net.ae.in_dim == 64 * 128 and net.ae.bottleneck == 8
    assert (net.map_ae.in_features, net.map_ae.out_features) == (8, 256)
    assert (net.map_cnn.in_features, net.map_cnn.out_features) == (1280, 256)
    assert net.cnn.pooling == "meanmax"
    recon, logits, p, u = net(torch.randn(4, 64, 128))
    assert recon.shape == (4, 8192) and logits.shape == (4, 3) and p.shape == u.shape == (4, 256)


def test_every_loss_term_is_recorded_per_epoch(fan):
    trained = train(fan[0], TINY, progress=False)
    cols = set(trained.history.columns)
    for split in ("train", "val"):
        assert {f"{split}_{k}" for k in ("loss", "mse", "ce", "cl", "accuracy")} <= cols
    h = trained.history.iloc[-1]
    assert h["train_loss"] == pytest.approx(h["train_mse"] + h["train_ce"] + 0.0005 * h["train_cl"],
                                            rel=1e-5)


def test_inference_uses_the_cnn_alone_with_the_baselines_parameter_count(fan, tmp_path):
    train_feats, test_feats = fan
    trained = train(train_feats, TINY, checkpoint=tmp_path / "model.pt", progress=False)
    assert isinstance(trained.model, MobileNetV2)
    assert count_parameters(trained.model) == count_parameters(MobileNetV2(3)) == 691_523
    # the saved inference model holds the CNN only: no AE, maps or head
    loaded = load_trained(tmp_path / "model.pt", config=TINY)
    state = torch.load(tmp_path / "model.pt", weights_only=True)["model"]
    assert not any(k.startswith(("ae.", "map_", "head.")) for k in state)
    assert count_parameters(loaded.model) == 691_523
    scores = clip_scores(trained, test_feats, progress=False)
    np.testing.assert_array_equal(scores, clip_scores(loaded, test_feats, progress=False))
    # equal to the CNN branch called on its own, patch by patch, without the inference copy
    cnn = trained.model.eval()
    win = windows(test_feats, range(len(test_feats)), width=64, hop=TINY.test_hop)
    with torch.no_grad():
        logits = cnn(gather(test_feats, win.starts, 64))
    sec = torch.tensor([int(test_feats.clips[i].section) for i in win.clip])
    per = section_log_odds(logits, sec).numpy()
    direct = np.array([per[win.clip == i].mean() for i in range(len(test_feats))])
    np.testing.assert_allclose(scores, direct, rtol=1e-4, atol=1e-4)


def test_lambda_zero_leaves_the_cnn_untouched_by_the_contrastive_term(fan):
    # the temperature acts only through the contrastive term: with lambda = 0 it cannot
    # change the trained CNN, with lambda > 0 it must
    def cnn(config):
        return train(fan[0], config.replace(epochs=1, select="last"), progress=False).model.state_dict()

    def same(a, b):
        return all(torch.equal(a[k], b[k]) for k in a)

    off = TINY.replace(cl_weight=0.0)
    assert same(cnn(off), cnn(off.replace(temperature=0.5)))
    assert not same(cnn(TINY), cnn(TINY.replace(temperature=0.5)))


def test_median_filter_on_and_off(fan):
    train_feats, test_feats = fan
    filtered = median_filtered(test_feats, TINY)
    expected = median_filter(test_feats[0], kernel=31)
    torch.testing.assert_close(filtered[0], expected)
    assert not torch.equal(filtered[0], test_feats[0])
    trained = train(train_feats, TINY, progress=False)
    trained.config = TINY.replace(median_filter="test")  # the filter at test only
    at_test = clip_scores(trained, test_feats, progress=False)
    trained.config = TINY
    np.testing.assert_array_equal(at_test, clip_scores(trained, filtered, progress=False))
    both = train(train_feats, TINY.replace(median_filter="both"), progress=False)
    assert np.isfinite(clip_scores(both, test_feats, progress=False)).all()


def test_variants_differ_only_by_what_they_name():
    configs = variant_configs(TINY)
    assert list(configs) == list(VARIANTS)
    base = {k: v for k, v in configs["MBv2"].as_dict().items() if k not in ("cl_weight", "median_filter")}
    for config in configs.values():
        assert {k: v for k, v in config.as_dict().items()
                if k not in ("cl_weight", "median_filter")} == base
    assert [c.cl_weight for c in configs.values()] == [0.0, 0.0005, 0.0, 0.0005]
    assert [c.median_filter for c in configs.values()] == ["off", "off", "both", "both"]
    assert variant_configs(TINY, mf_mode="test")["+ MF"].median_filter == "test"


def test_select_test_is_an_option_that_reads_the_test_labels(tiny_data, tmp_path):
    from asdlib.pipeline import run_system
    run = run_system(tiny_data, "fan", TINY.replace(select="test"), tmp_path / "out",
                     cache_dir=tmp_path / "cache", progress=False)
    assert "test_score" in run.history.columns
    assert run.trained.epoch == int(run.history["test_score"].idxmax()) + 1
    with pytest.raises(ValueError, match="have none"):
        run_system(tiny_data, "fan", TINY.replace(select="test"), tmp_path / "out", dataset="eval",
                   cache_dir=tmp_path / "cache", progress=False)


def test_a_tiny_ablation_gives_the_posters_table_with_seeds(tiny_data, tmp_path):
    result = ablation(tiny_data, tmp_path / "abl", machines=["fan", "valve"], seeds=(0, 1),
                      base=TINY.replace(epochs=1), dataset_name="synthetic tiny",
                      cache_dir=tmp_path / "cache", progress=False)
    assert list(result.table.index) == list(VARIANTS)
    assert list(result.table.columns) == ["fan", "valve", "Score"]
    assert len(result.runs) == 4 * 2 * 3
    assert result.std.notna().all().all()
    assert "±" in result.table.loc["+ CL, MF", "Score"]
    assert "synthetic tiny" in result.table.columns.name


def test_an_interrupted_contrastive_run_resumes_to_the_same_selected_weights(fan, tmp_path):
    config = TINY.replace(epochs=3)
    whole = train(fan[0], config, progress=False)

    def stop(row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(fan[0], config, checkpoint=tmp_path / "model.pt", progress=False, on_epoch=stop)
    resumed = train(fan[0], config, checkpoint=tmp_path / "model.pt", progress=False)
    assert resumed.epoch == whole.epoch
    assert resumed.epoch == int(whole.history["val_ce"].idxmin()) + 1
    for k, v in whole.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
