"""The authors' recipe as their code has it, the compact recipe, and the switches between them."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchaudio

from asdlib.cache import load_waveforms
from asdlib.checkpoint import build_model, load_checkpoint, scoring_network
from asdlib.config import TrainConfig
from asdlib.errors import ConfigError
from asdlib.features import ChunkLogMel, median_filter
from asdlib.layout import list_clips
from asdlib.losses import nt_xent, nt_xent_chance
from asdlib.models import MobileNetV2, count_parameters
from asdlib.recipes import (AUTHORS_FEATURES, SETTINGS, authors_config, departures_table, recipe_variants,
                            system_configs)
from asdlib.scoring import section_log_odds
from asdlib.windows import Inputs, geometry


def test_the_authors_networks_have_their_parameter_counts():
    rows = recipe_variants("authors")
    assert count_parameters(build_model(rows["MBv2"], 3)) == 2_227_139  # their CNN alone
    assert count_parameters(build_model(rows["+ CL"], 3)) == 4_897_755  # the whole framework in training
    # at inference the framework keeps its CNN alone
    assert count_parameters(scoring_network(rows["+ CL"], 3)) == 2_227_139
    assert isinstance(scoring_network(rows["+ CL, MF"], 3), MobileNetV2)


def test_the_chunk_front_end_is_torchaudios_own_transforms_with_the_authors_arguments(rng):
    chunks = torch.from_numpy(rng.normal(0, 0.1, (4, 33_280)).astype(np.float32))
    chunks[1] *= 1e-4  # a quiet chunk: the 120 dB floor follows the loudest of the batch
    cnn = torch.nn.Sequential(  # their MobileNetV2's front end (f_max left at its default)
        torchaudio.transforms.MelSpectrogram(f_min=0, sample_rate=16000, win_length=1024, n_fft=1024,
                                             hop_length=512, n_mels=128),
        torchaudio.transforms.AmplitudeToDB(top_db=120))
    framework = torch.nn.Sequential(  # their contrastive model's training path
        torchaudio.transforms.MelSpectrogram(f_min=0, f_max=8000, sample_rate=16000, win_length=1024,
                                             n_fft=1024, hop_length=512, n_mels=128, center=False),
        torchaudio.transforms.AmplitudeToDB(top_db=120))
    ours_cnn = ChunkLogMel(AUTHORS_FEATURES, center=True)(chunks)
    ours_framework = ChunkLogMel(AUTHORS_FEATURES, center=False)(chunks)
    assert ours_cnn.shape == (4, 128, 66) and ours_framework.shape == (4, 128, 64)
    torch.testing.assert_close(ours_cnn, cnn(chunks), rtol=0, atol=1e-4)
    torch.testing.assert_close(ours_framework, framework(chunks), rtol=0, atol=1e-4)
    # scoring one clip's chunks at a time, as their evaluation loop does
    groups = np.array([0, 1, 1, 0])
    per_clip = ChunkLogMel(AUTHORS_FEATURES, center=True)(chunks, groups)
    torch.testing.assert_close(per_clip[[0, 3]], cnn(chunks[[0, 3]]), rtol=0, atol=1e-4)
    torch.testing.assert_close(per_clip[[1, 2]], cnn(chunks[[1, 2]]), rtol=0, atol=1e-4)


def _supcon_written_out(a: torch.Tensor, b: torch.Tensor, temperature: float) -> float:
    """SupCon's loss without labels (contrast_mode "all", base temperature = temperature), by a loop."""
    z = torch.cat([a, b]).double()
    n, total = len(a), 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        logits = [float(z[i] @ z[k]) / temperature for k in range(2 * n) if k != i]
        top = max(logits)
        log_denominator = top + np.log(sum(np.exp(v - top) for v in logits))
        total += -(float(z[i] @ z[positive]) / temperature - log_denominator)
    return total / (2 * n)


def test_the_contrastive_term_on_raw_head_outputs_is_supcons_formula(rng):
    a = torch.from_numpy(rng.normal(0, 2.0, (6, 5)))
    b = torch.from_numpy(rng.normal(0, 2.0, (6, 5)))
    got = nt_xent(a, b, temperature=0.07, normalize=False)
    assert float(got) == pytest.approx(_supcon_written_out(a, b, 0.07), rel=1e-9)
    # normalising first is SimCLR's NT-Xent: a different number on the same inputs
    assert float(nt_xent(a, b, temperature=0.07)) != pytest.approx(float(got), rel=1e-3)
    # the chance level: every similarity equal
    same = torch.ones(32, 4)
    assert float(nt_xent(same, same)) == pytest.approx(nt_xent_chance(32)) == pytest.approx(np.log(63))


def test_the_schedule_steps_at_the_milestones_in_epochs_or_in_iterations():
    by_epoch = TrainConfig(lr=1e-5, lr_milestones=(30, 60, 90), lr_gamma=0.5, lr_step="epoch")
    assert [by_epoch.learning_rate(e, step=100, steps_per_epoch=200) for e in (29, 30, 59, 60, 90)] == \
        pytest.approx([1e-5, 5e-6, 5e-6, 2.5e-6, 1.25e-6])
    # the authors' ignite handler steps MultiStepLR after every iteration
    by_step = TrainConfig(lr=1e-5, lr_milestones=(30, 60, 90), lr_gamma=0.5, lr_step="iteration")
    assert [by_step.learning_rate(0, s, 100) for s in (29, 30, 60, 89, 90)] == \
        pytest.approx([1e-5, 5e-6, 2.5e-6, 2.5e-6, 1.25e-6])
    assert by_step.learning_rate(99, 5, 100) == pytest.approx(1.25e-6)
    assert authors_config().lr_step == "iteration" and authors_config().lr_milestones == (30, 60, 90)
    # the same schedule as PyTorch's MultiStepLR stepped once per iteration
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-5)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[30, 60, 90], gamma=0.5)
    for step in range(120):
        assert opt.param_groups[0]["lr"] == pytest.approx(by_step.learning_rate(0, step, 1000))
        opt.step()
        sched.step()


def test_a_clip_gives_31_chunks_in_training_and_in_scoring(tiny_data, tmp_path):
    clips = list_clips(tiny_data / "dev_data", "fan", split="train")[:3]
    waves = load_waveforms(clips, tmp_path / "cache", progress=False)
    assert waves.data.dtype == np.int16  # 16-bit PCM clips are kept as they are
    config = authors_config()
    assert geometry(config, training=True) == (33_280, 4_096)
    for training in (True, False):
        win = Inputs(config, waves, training=training).windows()
        assert np.bincount(win.clip).tolist() == [31, 31, 31]
    x, x_cnn = Inputs(config, waves, training=True).batch(np.array([0, 4096]), "cpu")
    assert x.shape == (2, 64, 128) and x_cnn is None  # the framework's training path: 64 frames
    x, _ = Inputs(config, waves, training=False).batch(np.array([0, 4096]), "cpu", np.array([0, 0]))
    assert x.shape == (2, 66, 128)  # scoring: the CNN's own centred front end


def test_kept_scoring_inputs_are_read_back_the_same_and_only_up_to_their_bound(tiny_data, tmp_path, monkeypatch):
    import asdlib.windows as windows_module

    clips = list_clips(tiny_data / "dev_data", "fan", split="test")[:2]
    waves = load_waveforms(clips, tmp_path / "cache", progress=False)
    config = authors_config(median_filter="both", mf_ae=False)  # the AE's raw chunk beside the filtered one
    computed = []
    compute = Inputs._chunk_batch
    monkeypatch.setattr(Inputs, "_chunk_batch", lambda self, *a: computed.append(len(a[0])) or compute(self, *a))

    def passes(inputs, n):
        win = inputs.windows()
        return [[inputs.batch(win.starts[b:b + 16], "cpu", win.clip[b:b + 16]) for b in range(0, len(win), 16)]
                for _ in range(n)]

    first, again = passes(Inputs(config, waves, training=False, keep=True), 2)
    assert len(computed) == len(first) > 1  # the second pass computed nothing
    fresh = passes(Inputs(config, waves, training=False), 1)[0]
    for (x, xf), (kx, kxf), (fx, fxf) in zip(again, first, fresh):
        assert x is kx and xf is kxf and xf is not None
        assert torch.equal(x, fx) and torch.equal(xf, fxf)  # what a pass without keeping computes
    computed.clear()
    one_batch = sum(t.element_size() * t.numel() for t in first[0])
    monkeypatch.setattr(windows_module, "KEEP_BYTES", one_batch)
    passes(Inputs(config, waves, training=False, keep=True), 2)
    assert len(computed) == 2 * len(first) - 1  # only the first batch was kept


def _median_pool_1x31(x: torch.Tensor) -> torch.Tensor:
    """The authors' MedianPool2d((1, 31), same=True) on (batch, n_mels, frames), written out."""
    padded = F.pad(x.unsqueeze(1), (15, 15, 0, 0), mode="reflect")
    return padded.unfold(3, 31, 1).median(dim=-1).values.squeeze(1)


def test_the_median_filter_pads_as_the_authors_median_pool(rng):
    x = torch.from_numpy(rng.normal(size=(3, 8, 66)).astype(np.float32))
    torch.testing.assert_close(median_filter(x, kernel=31, mode="mirror"), _median_pool_1x31(x))
    assert authors_config().mf_mode == "mirror"


def test_the_clamped_score_is_the_authors_formula():
    logits = torch.tensor([[2.0, 0.0, -1.0], [60.0, 0.0, 0.0]], dtype=torch.float64)
    section = torch.tensor([0, 0])
    p = torch.softmax(logits.float(), dim=1)[:, 0].double()
    eps = np.finfo(np.float64).eps
    expected = torch.log(torch.clamp(1 - p, min=eps)) - torch.log(torch.clamp(p, min=eps))
    got = section_log_odds(logits, section, form="clamped")
    torch.testing.assert_close(got, expected)
    assert float(got[1]) == pytest.approx(np.log(eps))  # saturates where p rounds to 1 in float32
    assert float(section_log_odds(logits, section)[1]) < -59  # the exact log-odds does not


def test_an_authors_run_trains_and_keeps_the_cnn_alone(tiny_data, tmp_path):
    from asdlib.pipeline import run_system

    config = authors_config(epochs=1, train_hop=32, test_hop=32, seed=0)  # select="test", as theirs
    run = run_system(tiny_data, "fan", config, tmp_path / "run", cache_dir=tmp_path / "cache", progress=False)
    assert run.trained.epoch == 1 and "test_score" in run.history
    ckpt = load_checkpoint(tmp_path / "run" / "dev" / "fan" / "model.pt")
    assert sum(v.numel() for k, v in ckpt.model.items() if "running" not in k and "num_batches" not in k) \
        == 2_227_139
    assert not any(k.startswith(("ae.", "map_", "head.")) for k in ckpt.model)
    assert set(run.scores["split"]) == {"train", "test"} and run.scores["score"].notna().all()


def test_the_tail_split_holds_out_the_last_examples_in_file_order(tiny_data, tmp_path):
    from asdlib.cache import load_features
    from asdlib.training import _prepare

    clips = list_clips(tiny_data / "dev_data", "fan", split="train")
    feats = load_features(clips, tmp_path / "cache", progress=False)
    config = TrainConfig(model="mbv2", val_split="tail", val_fraction=0.1, train_hop=8)
    data = _prepare(feats, config, sorted({c.section for c in clips}), False)
    n = len(data.train) + len(data.val)
    assert len(data.train) == int(n * 0.9)
    assert data.val.starts.min() > data.train.starts.max()  # the end of the last clips
    last = clips[data.val.clip[-1]]
    assert (last.section, last.domain) == ("02", "target")


def test_the_settings_name_their_recipe_and_every_row_of_the_book_is_honest():
    book = system_configs("book")
    assert SETTINGS["paper"].recipe == "authors"
    for name in ("MBv2", "+ CL", "+ MF", "+ CL, MF"):
        assert book[name].select == "val" and book[name].val_fraction > 0  # no test label is read
        assert book[name].width_mult == 1.0 and book[name].frontend == "chunk"  # the architecture kept
    paper = system_configs("paper")
    assert paper["+ CL"] == authors_config().replace(seed=647) == authors_config()
    assert paper["MBv2"].model == "mbv2" and paper["+ CL"].model == "contrastive"
    compact = system_configs("paper", recipe="compact")
    assert compact["MBv2"].model == "contrastive" and compact["MBv2"].cl_weight == 0


def test_the_departures_table_reads_the_configurations():
    table = departures_table().set_index("field")
    assert table.loc["width_mult", "authors' code"] == "1.0"
    assert table.loc["width_mult", "compact recipe"] == "0.5"
    assert table.loc["lr_milestones, lr_step", "authors' code"] == "[30, 60, 90], iteration"
    assert (table["authors' code"] != table["compact recipe"]).all()  # every line is a departure


def test_bad_recipe_fields_are_refused():
    with pytest.raises(ConfigError, match="lr_step must be one of"):
        TrainConfig(lr_step="week")
    with pytest.raises(ConfigError, match="lr_milestones must be increasing"):
        TrainConfig(lr_milestones=(60, 30))
    with pytest.raises(ConfigError, match="mf_stage='waveform'"):
        TrainConfig(model="mbv2", mf_stage="waveform")
    with pytest.raises(ConfigError, match="unknown recipe"):
        system_configs("paper", recipe="mine")


def test_a_run_that_tracked_the_test_score_serves_one_that_does_not(tiny_data, tmp_path):
    from asdlib.checkpoint import load_checkpoint
    from asdlib.pipeline import run_system
    from asdlib.recipes import baseline_config

    config = baseline_config("mbv2", epochs=1, train_hop=32, test_hop=32, lr=3e-4, select="val")
    tracked = run_system(tiny_data, "fan", config.replace(track_test=True), tmp_path / "run",
                         cache_dir=tmp_path / "cache", progress=False)
    plain = run_system(tiny_data, "fan", config, tmp_path / "run", cache_dir=tmp_path / "cache", progress=False)
    assert plain.scores["score"].tolist() == tracked.scores["score"].tolist()
    assert "test_score" in plain.history  # the reused run's history
    # the other way round (chapter 6 run before chapter 5): trained again, tracking, to the same weights
    other = tmp_path / "other"
    untracked = run_system(tiny_data, "fan", config, other, cache_dir=tmp_path / "cache", progress=False)
    assert "test_score" not in untracked.history
    again = run_system(tiny_data, "fan", config.replace(track_test=True), other, cache_dir=tmp_path / "cache",
                       progress=False)
    assert "test_score" in again.history and load_checkpoint(other / "dev" / "fan" / "model.pt").config.track_test
    assert again.scores["score"].tolist() == untracked.scores["score"].tolist() == tracked.scores["score"].tolist()
    assert again.history.drop(columns="test_score").equals(untracked.history)
