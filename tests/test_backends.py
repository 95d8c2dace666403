"""Inlier back ends on embeddings (asdlib.backends) and training augmentations (asdlib.augment)."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from asdlib.augment import augment_batch, batch_rng, mixup, spec_mask
from asdlib.backends import compare_backends, fit_backend, knn_score, pairwise_distances
from asdlib.config import SCORING_FIELDS, TrainConfig
from asdlib.errors import ConfigError, SectionError
from asdlib.grid import expand, make_grid
from asdlib.recipes import baseline_config
from asdlib.tables import scores_by_machine

MBV2 = baseline_config("mbv2", epochs=1, train_hop=32, test_hop=64, lr=1e-4)


# ---------------------------------------------------------------- back ends, by hand


def test_knn_distances_by_hand():
    ref = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    q = np.array([[2.0, 0.0]])
    # cosine: 1 - cos = 0 (same direction), 1 (orthogonal), 1 - 0.6
    assert pairwise_distances(q, ref, "cosine") == pytest.approx(np.array([[0.0, 1.0, 0.4]]))
    assert pairwise_distances(q, ref, "euclidean") == pytest.approx(np.array([[1.0, np.sqrt(8), np.sqrt(17)]]))
    assert knn_score(q, ref, k=1, metric="euclidean") == pytest.approx([1.0])
    assert knn_score(q, ref, k=2, metric="euclidean") == pytest.approx([(1.0 + np.sqrt(8)) / 2])
    # leave-one-out: a reference row is not its own neighbour
    loo = knn_score(ref, ref, k=1, metric="euclidean", leave_out=np.arange(3))
    assert loo == pytest.approx([np.sqrt(5), np.sqrt(5), np.sqrt(13)])
    with pytest.raises(ConfigError, match="knn_metric"):
        pairwise_distances(q, ref, "manhattan")


CENTRES = np.array([[3.0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 3.0]])


def _clusters(rng, n=40, dim=6):
    """Two sections whose normal embeddings sit around different centres (in different directions)."""
    a = rng.normal(0.0, 0.5, size=(n, dim)) + CENTRES[0]
    b = rng.normal(0.0, 0.5, size=(n, dim)) + CENTRES[1]
    return np.vstack([a, b]), np.array(["00"] * n + ["01"] * n), np.array((["source"] * (n - 4) + ["target"] * 4) * 2)


def test_each_back_end_is_fitted_per_section_on_training_embeddings_only(rng):
    train, sections, domains = _clusters(rng)
    centre0, far0 = CENTRES[:1], CENTRES[1:]  # section 01's centre, scored as section 00
    for fields in ({"backend": "knn"}, {"backend": "knn", "knn_metric": "euclidean", "knn_k": 3},
                   {"backend": "mahalanobis"}, {"backend": "mahalanobis", "per_domain": True},
                   {"backend": "gmm"}, {"backend": "gmm", "per_domain": True, "gmm_components": 1}):
        config = MBV2.replace(**fields)
        fitted = fit_backend(config, train, sections, domains)
        near = fitted.score(np.vstack([centre0, far0]), ["00", "00"])
        assert near[0] < near[1], fields  # a section's own centre is more normal than another's
        own = fitted.score(np.vstack([far0, centre0]), ["01", "01"])
        assert own[0] < own[1], fields
        again = fit_backend(config, train, sections, domains).score(train, sections, training=True)
        assert np.array_equal(again, fitted.score(train, sections, training=True))  # deterministic
        assert np.isfinite(again).all() and again.shape == (len(train),)


def test_a_clip_s_score_does_not_depend_on_the_other_test_clips(rng):
    train, sections, domains = _clusters(rng)
    test = rng.normal(0.0, 2.0, size=(7, 6)) + CENTRES[0]
    for fields in ({"backend": "knn", "knn_k": 2}, {"backend": "mahalanobis", "per_domain": True},
                   {"backend": "gmm"}):
        fitted = fit_backend(MBV2.replace(**fields), train, sections, domains)
        together = fitted.score(test, ["00"] * 7)
        alone = np.concatenate([fitted.score(test[i:i + 1], ["00"]) for i in range(7)])
        assert together == pytest.approx(alone), fields  # fitted on the training clips, nothing else


def test_mahalanobis_is_the_ledoit_wolf_distance_and_the_single_gaussian_mixture_its_log_density(rng):
    from sklearn.covariance import LedoitWolf

    train = rng.normal(size=(30, 4)) * np.array([1.0, 2.0, 0.5, 1.0])
    sections, domains = ["00"] * 30, ["source"] * 30
    x = rng.normal(size=(5, 4))
    lw = LedoitWolf().fit(train)
    d = x - lw.location_
    expected = np.sqrt(np.einsum("ij,jk,ik->i", d, np.linalg.inv(lw.covariance_), d))
    got = fit_backend(MBV2.replace(backend="mahalanobis"), train, sections, domains).score(x, ["00"] * 5)
    assert got == pytest.approx(expected, rel=1e-6)
    # one diagonal component: the Gaussian of the per-dimension means and variances (+ the floor)
    var = train.var(axis=0) + 0.01 * train.var(axis=0).mean()
    nll = 0.5 * (((x - train.mean(axis=0)) ** 2 / var).sum(axis=1) + np.log(2 * np.pi * var).sum())
    got = fit_backend(MBV2.replace(backend="gmm", gmm_components=1), train, sections, domains).score(x, ["00"] * 5)
    assert got == pytest.approx(nll, rel=1e-4)


def test_mahalanobis_with_fewer_clips_than_dimensions_and_with_a_singular_covariance(rng):
    from sklearn.covariance import LedoitWolf

    train = rng.normal(size=(12, 40)) @ rng.normal(size=(40, 40))  # as the book: fewer clips than values
    x = rng.normal(size=(6, 40))
    lw = LedoitWolf().fit(train)  # scikit-learn's own precision: a pseudo-inverse by eigendecomposition
    d = x - lw.location_
    expected = np.sqrt(np.einsum("ij,jk,ik->i", d, lw.precision_, d))
    fitted = fit_backend(MBV2.replace(backend="mahalanobis"), train, ["00"] * 12, ["source"] * 12)
    assert fitted.score(x, ["00"] * 6) == pytest.approx(expected, rel=1e-9)
    same = np.zeros((3, 40))  # no spread at all: the covariance is zero, pseudo-inverted as scikit-learn does
    flat = fit_backend(MBV2.replace(backend="mahalanobis"), same, ["00"] * 3, ["source"] * 3)
    assert flat.score(x, ["00"] * 6).tolist() == [0.0] * 6


def test_per_domain_takes_the_nearer_domain_and_needs_two_clips(rng):
    train = np.vstack([rng.normal(0, 1, size=(20, 3)), rng.normal(10, 1, size=(3, 3))])
    sections, domains = ["00"] * 23, ["source"] * 20 + ["target"] * 3
    x = np.full((1, 3), 10.0)  # at the target domain's centre
    joint = fit_backend(MBV2.replace(backend="mahalanobis"), train, sections, domains).score(x, ["00"])
    split = fit_backend(MBV2.replace(backend="mahalanobis", per_domain=True), train, sections, domains).score(x, ["00"])
    assert split[0] < joint[0]
    with pytest.raises(ConfigError, match="section 00.*two training clips"):
        fit_backend(MBV2.replace(backend="mahalanobis"), train[:1], ["00"], ["source"])
    with pytest.raises(SectionError, match="section 07 has no training clip"):
        fit_backend(MBV2.replace(backend="knn"), train, sections, domains).score(x, ["07"])


def test_back_ends_are_scoring_fields_and_refused_for_the_autoencoder():
    assert {"backend", "knn_k", "knn_metric", "per_domain", "gmm_components"} <= set(SCORING_FIELDS)
    assert MBV2.replace(backend="knn").training_dict() == MBV2.training_dict()
    with pytest.raises(ConfigError, match="AE baseline"):
        TrainConfig(model="ae", backend="knn")
    with pytest.raises(ConfigError, match="backend must be one of"):
        MBV2.replace(backend="lof")
    with pytest.raises(ConfigError, match="mixup_alpha must be >= 0"):
        TrainConfig(model="contrastive", mixup_alpha=-0.2)


# ---------------------------------------------------------------- a trained classifier, scored


@pytest.fixture(scope="module")
def fan_run(tiny_data, tmp_path_factory):
    from asdlib.pipeline import run_system

    out = tmp_path_factory.mktemp("backends")
    return run_system(tiny_data, "fan", MBV2, out / "runs", cache_dir=out / "cache", progress=False), out


def test_a_trained_model_is_scored_by_any_back_end_without_retraining(tiny_data, fan_run):
    from asdlib.pipeline import run_system

    run, out = fan_run
    weights = (run.folder / "model.pt").read_bytes()
    knn = run_system(tiny_data, "fan", MBV2.replace(backend="knn"), out / "runs", cache_dir=out / "cache",
                     progress=False)
    assert (run.folder / "model.pt").read_bytes() == weights  # reused, not trained again
    assert not np.allclose(knn.scores["score"], run.scores["score"])
    assert np.isfinite(knn.scores["score"]).all() and np.isfinite(knn.threshold)
    train = knn.scores[knn.scores["split"] == "train"]["score"]
    assert (train > 0).all()  # leave-one-out: no training clip is its own neighbour


def test_compare_backends_scores_every_back_end_from_one_set_of_embeddings(tiny_data, fan_run):
    from asdlib.pipeline import embed_system

    run, out = fan_run
    weights = (run.folder / "model.pt").read_bytes()
    emb = embed_system(tiny_data, "fan", MBV2, out / "runs", cache_dir=out / "cache", progress=False)
    assert (run.folder / "model.pt").read_bytes() == weights  # the run's model, reused
    assert emb.train.shape == (len(emb.train_clips), 1280) and emb.test.shape == (len(emb.test_clips), 1280)
    # the log-odds of the same pass are the run's own test scores
    assert np.array_equal(emb.log_odds, run.scores.loc[run.scores["split"] == "test", "score"].to_numpy())
    table = compare_backends({"MBv2 baseline": {"fan": emb}},
                             {"kNN": {"backend": "knn"}, "Mahalanobis": {"backend": "mahalanobis"}})
    assert list(dict.fromkeys(table["backend"])) == ["log-odds", "kNN", "Mahalanobis"]
    row = table[(table["backend"] == "log-odds") & (table["machine"] == "fan")].iloc[0]
    direct = scores_by_machine(run.cells().assign(system="MBv2 baseline", seed=0))
    assert row["score"] == pytest.approx(direct.loc[direct["machine"] == "fan", "score"].iloc[0])
    assert table[["source", "target"]].notna().all().all()
    with pytest.raises(ConfigError, match="'odd': lr are not scoring fields"):
        compare_backends({"MBv2 baseline": {"fan": emb}}, {"odd": {"lr": 0.1}})
    with pytest.raises(ConfigError, match="'knn_k' must be int"):  # a clear error, not a comparison's
        compare_backends({"MBv2 baseline": {"fan": emb}}, {"odd": {"backend": "knn", "knn_k": "3"}})
    with pytest.raises(ConfigError, match="AE baseline has no section classifier"):
        embed_system(tiny_data, "fan", baseline_config("ae", epochs=1), out / "ae", progress=False)
    assert not (out / "ae").exists()  # refused before anything was trained or written


def test_a_runs_passes_are_kept_and_read_back_instead_of_a_forward_pass(tiny_data, fan_run, monkeypatch):
    import asdlib.backends as backends
    import asdlib.scoring as scoring
    from asdlib.backends import Embeddings
    from asdlib.layout import list_clips
    from asdlib.pipeline import PASSES, embed_system, run_system
    from asdlib.scoring import clip_scores
    from asdlib.windows import load_inputs

    run, out = fan_run
    kept, path = out / "kept", out / "kept" / "dev" / "fan" / PASSES
    kept.mkdir()
    (kept / "dev").mkdir()
    (kept / "dev" / "fan").mkdir()
    (kept / "dev" / "fan" / "model.pt").write_bytes((run.folder / "model.pt").read_bytes())
    args = dict(cache_dir=out / "cache", progress=False)
    plain = run_system(tiny_data, "fan", MBV2, kept, **args)
    assert not path.exists()  # not asked to keep them
    first = run_system(tiny_data, "fan", MBV2, kept, keep_embeddings=True, **args)
    assert path.exists()
    assert first.scores.equals(plain.scores) and first.threshold == plain.threshold  # to the bit
    # the passes' log-odds are the plain scoring function's, to the bit, on both splits
    feats = {split: load_inputs(list_clips(tiny_data / "dev_data", "fan", split=split), out / "cache", MBV2,
                                progress=False) for split in ("train", "test")}
    for split in ("train", "test"):
        plain = clip_scores(run.trained, feats[split], progress=False)
        assert np.array_equal(first.scores.loc[first.scores["split"] == split, "score"].to_numpy(), plain)

    calls = []
    real = backends.clip_means
    for module in (backends, scoring):  # every forward pass over a set of clips goes through it
        monkeypatch.setattr(module, "clip_means", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = run_system(tiny_data, "fan", MBV2, kept, **args)
    emb = embed_system(tiny_data, "fan", MBV2, kept, **args)
    assert calls == []  # read back: no forward pass
    assert again.scores.equals(first.scores) and again.threshold == first.threshold
    assert np.array_equal(emb.train_log_odds, first.scores.loc[first.scores["split"] == "train", "score"])
    knn = run_system(tiny_data, "fan", MBV2.replace(backend="knn", knn_k=3), kept, **args)
    assert calls == [] and not knn.scores.equals(first.scores)  # another back end, the same passes

    batch = run_system(tiny_data, "fan", MBV2.replace(score_batch=7), kept, **args)  # other windows per pass
    assert len(calls) == 2  # scored afresh (train and test), and not kept over the saved ones
    assert np.allclose(batch.scores["score"], first.scores["score"], rtol=1e-5, atol=1e-6)
    path.write_bytes(b"not an npz")  # a damaged file is computed again, not an error
    run_system(tiny_data, "fan", MBV2, kept, keep_embeddings=True, **args)
    assert len(calls) == 4 and np.load(path)["train"].shape == emb.train.shape
    with np.load(path) as z:
        key = json.loads(str(z["key"]))
    assert Embeddings.load(path, key, run.trained, feats["train"], feats["test"]) is not None
    assert Embeddings.load(path, {**key, "checkpoint": "other"}, run.trained, feats["train"], feats["test"]) is None
    assert Embeddings.load(path, key, run.trained, feats["test"], feats["train"]) is None  # other clip counts
    run_system(tiny_data, "fan", MBV2.replace(backend="knn", score_batch=7), kept, **args)  # a back end's passes
    assert len(calls) == 6  # computed, and not kept over the saved ones:
    assert Embeddings.load(path, key, run.trained, feats["train"], feats["test"]) is not None
    assert set(key) == {"checkpoint", "train", "test", "config", "device", "torch"}
    assert "backend" not in key["config"] and "track_test" not in key["config"]
    assert key["config"]["score_batch"] == 0  # the default: chosen by the device when scoring


def test_the_default_scoring_batch_is_chosen_by_device_and_network_and_scores_alike(tiny_data, fan_run,
                                                                                  monkeypatch):
    import asdlib.scoring as scoring
    from asdlib.layout import list_clips
    from asdlib.scoring import CPU_CLASSIFIER_BATCH, SCORE_BATCH, clip_scores, scoring_batch
    from asdlib.windows import load_inputs

    assert MBV2.score_batch == 0
    assert scoring_batch(MBV2, "cpu") == CPU_CLASSIFIER_BATCH == 64
    assert scoring_batch(MBV2, torch.device("cuda")) == SCORE_BATCH == 256  # a device object: no GPU needed
    assert scoring_batch(baseline_config("ae"), "cpu") == 256  # the AE's vectors: as before
    assert scoring_batch(MBV2.replace(score_batch=7), "cpu") == 7  # a given size is kept
    with pytest.raises(ConfigError, match="score_batch must be >= 0"):
        MBV2.replace(score_batch=-1)

    run, out = fan_run
    feats = load_inputs(list_clips(tiny_data / "dev_data", "fan", split="test"), out / "cache", MBV2,
                        progress=False)
    seen = []
    real = scoring.inference_model

    def counting(model):  # the inference network, built once per pass as before, counting its batches
        net = real(model)
        return lambda x: seen.append(len(x)) or net(x)

    monkeypatch.setattr(scoring, "inference_model", counting)
    auto = clip_scores(run.trained, feats, device="cpu", progress=False)
    total = sum(seen)

    def batches(size):
        return [min(size, total - i) for i in range(0, total, size)]

    assert total > 64 and seen == batches(64)  # the windows went through 64 at a time
    seen.clear()
    before = clip_scores(dataclasses.replace(run.trained, config=MBV2.replace(score_batch=256)), feats,
                         device="cpu", progress=False)
    assert seen == batches(256) != batches(64)
    # bench/score_batch.py measured the book's classifiers equal to the bit at 64 and 256 on the CPU
    np.testing.assert_allclose(auto, before, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_a_grid_scores_one_trained_model_several_ways(tiny_data, tmp_path):
    from asdlib.batch import run_grid
    from asdlib.grid import read_result

    grid = make_grid({"data": tiny_data, "machines": ["fan"], "systems": ["MBv2 baseline"], "settings": "tiny",
                      "overrides": {"log-odds": {}, "maha": {"config": {"backend": "mahalanobis", "per_domain": True}}}})
    runs = expand(grid, tmp_path / "out", ["fan"])
    assert [r.model_from for r in runs] == ["", runs[0].name]
    report = run_grid(grid, tmp_path / "out", workers=2, progress=False, log=lambda s: None)
    assert [o.status for o in report.outcomes] == ["complete"] * 2
    trained = [o.run.checkpoint.read_bytes() for o in report.outcomes]
    assert trained[1] == trained[0]  # one model, scored two ways
    configs = [read_result(o.run)["config"] for o in report.outcomes]
    assert [c["backend"] for c in configs] == ["classifier", "mahalanobis"]
    scores = [read_result(o.run)["metrics"]["score"] for o in report.outcomes]
    assert scores[0] != scores[1]


def test_runs_that_differ_in_training_fields_each_train(tiny_data, tmp_path):
    grid = make_grid({"data": tiny_data, "machines": ["fan"], "systems": ["MBv2 baseline"], "settings": "tiny",
                      "overrides": {"a": {"config": {"lr": 0.001}}, "b": {"config": {"lr": 0.001, "knn_k": 3}},
                                    "c": {"config": {"lr": 0.0001, "backend": "knn"}}}})
    runs = expand(grid, tmp_path / "out", ["fan"])
    assert [r.model_from for r in runs] == ["", runs[0].name, ""]


# ---------------------------------------------------------------- augmentations


def test_spec_masks_set_bands_to_the_patch_mean_and_are_drawn_from_seed_epoch_and_step():
    x = torch.arange(2 * 10 * 8, dtype=torch.float32).reshape(2, 10, 8)
    y = spec_mask(x, batch_rng(0, 1, 2), time_masks=1, time_width=3, freq_masks=1, freq_width=2)
    again = spec_mask(x, batch_rng(0, 1, 2), time_masks=1, time_width=3, freq_masks=1, freq_width=2)
    assert torch.equal(y, again) and not torch.equal(y, spec_mask(x, batch_rng(0, 1, 3), time_masks=1,
                                                                   time_width=3, freq_masks=1, freq_width=2))
    changed = y != x
    for i in range(2):
        assert torch.all(y[i][changed[i]] == x[i].mean())
        rows, cols = changed[i].all(dim=1), changed[i].all(dim=0)  # masked frames, masked mel bins
        assert rows.sum() <= 3 and cols.sum() <= 2
        assert torch.equal(changed[i], rows[:, None] | cols[None, :])  # only whole bands change


def test_mixup_mixes_examples_and_the_loss_mixes_their_targets():
    x = torch.stack([torch.full((4, 3), float(i)) for i in range(5)])
    mixed, perm, lam = mixup(x, batch_rng(0, 0, 0), alpha=0.4)
    assert 0 < lam < 1
    assert torch.allclose(mixed, lam * x + (1 - lam) * x[torch.from_numpy(perm)])
    config = MBV2.replace(mixup_alpha=0.4)
    y = torch.arange(5) % 3
    xa, xc, mix = augment_batch(config, x, None, y, epoch=0, step=0)
    assert xc is None and mix.lam == pytest.approx(lam) and torch.equal(mix.partner, y[torch.from_numpy(perm)])


def test_augmentations_change_only_training_batches(tiny_data, fan_run):
    from asdlib.cache import load_features
    from asdlib.layout import list_clips

    config = MBV2.replace(spec_time_masks=2, spec_freq_masks=2)
    x = torch.randn(4, 64, 128)
    xa, xc, mix = augment_batch(config, x, None, None, epoch=0, step=0)
    assert xa is x and xc is not None and not torch.equal(xc, x) and mix is None
    assert augment_batch(MBV2, x, None, None, epoch=0, step=0) == (x, None, None)
    # framework: the masks go to the CNN's input; the AE branch keeps its chunk
    fw = TrainConfig(model="contrastive", spec_freq_masks=1)
    xa, xc, _ = augment_batch(fw, x, None, None, epoch=0, step=0)
    assert xa is x and xc is not None
    # scoring never augments: the same network scores the same under an augmenting configuration
    from dataclasses import replace as dc_replace

    from asdlib.scoring import clip_scores

    run, out = fan_run
    feats = load_features(list_clips(tiny_data / "dev_data", "fan", split="test"), out / "cache", progress=False)
    plain = clip_scores(run.trained, feats, progress=False)
    masked = clip_scores(dc_replace(run.trained, config=config.replace(mixup_alpha=0.4)), feats, progress=False)
    assert np.array_equal(plain, masked)


def test_training_with_augmentations_is_reproducible(tiny_data, tmp_path):
    from asdlib.pipeline import run_system

    config = MBV2.replace(spec_time_masks=2, spec_freq_masks=2, mixup_alpha=0.2, epochs=2)
    a = run_system(tiny_data, "fan", config, tmp_path / "a", cache_dir=tmp_path / "cache", progress=False)
    b = run_system(tiny_data, "fan", config, tmp_path / "b", cache_dir=tmp_path / "cache", progress=False)
    plain = run_system(tiny_data, "fan", MBV2.replace(epochs=2), tmp_path / "c", cache_dir=tmp_path / "cache",
                       progress=False)
    assert np.array_equal(a.scores["score"], b.scores["score"])
    assert a.history["train_loss"].tolist() != plain.history["train_loss"].tolist()
