"""Training, checkpoints and scoring of the baselines on the tiny synthetic data set."""
from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from asdlib.cache import load_features
from asdlib.checkpoint import CheckpointError, load_checkpoint
from asdlib.errors import TrainingError
from asdlib.config import TrainConfig
from asdlib.recipes import baseline_config
from asdlib.layout import list_clips
from asdlib.metrics import official_score
from asdlib.pipeline import run_system, same_experiment
from asdlib.scoring import SectionError, clip_scores
from asdlib.submission import evaluate
from asdlib.checkpoint import load_trained
from asdlib.training import train
from asdlib.windows import split_clips

AE = baseline_config("ae", epochs=2, batch_size=256)
MBV2 = baseline_config("mbv2", epochs=2, train_hop=32, test_hop=64, lr=1e-4)  # few patches: fast


@pytest.fixture(scope="module")
def fan(tiny_data, tmp_path_factory):
    """Log-mel features of the tiny fan training and test clips."""
    cache = tmp_path_factory.mktemp("cache")
    dev = tiny_data / "dev_data"
    train_feats = load_features(list_clips(dev, "fan", split="train"), cache, progress=False)
    test_feats = load_features(list_clips(dev, "fan", split="test"), cache, progress=False)
    return train_feats, test_feats


def _states_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_official_hyper_parameters_are_the_defaults():
    ae, mb = baseline_config("ae"), baseline_config("mbv2")
    assert (ae.epochs, ae.batch_size, ae.lr, ae.val_fraction) == (100, 512, 1e-3, 0.1)
    assert (mb.epochs, mb.batch_size, mb.lr, mb.val_fraction) == (20, 32, 1e-5, 0.1)
    assert (mb.patch_frames, mb.train_hop, mb.test_hop, ae.ae_frames) == (64, 8, 1, 5)
    assert TrainConfig.from_dict(mb.as_dict()) == mb
    with pytest.raises(ValueError, match="epochs"):
        baseline_config("ae", epochs=0)
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_config("vae")


def test_a_device_the_machine_lacks_is_named_before_anything_moves_there(monkeypatch):
    from asdlib.checkpoint import pick_device

    assert pick_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device 'gpu0' is not a torch device"):
        pick_device("gpu0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device 'cuda': this machine has no CUDA devices"):
        pick_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert pick_device("cuda:0") == torch.device("cuda", 0)  # nothing is moved: only the name is checked
    with pytest.raises(ValueError, match="device 'cuda:1': this machine has 1 CUDA device$"):
        pick_device("cuda:1")


def test_validation_split_takes_whole_clips_reproducibly():
    tr, va = split_clips(30, 0.1, seed=0)
    assert len(va) == 3 and not set(tr) & set(va) and sorted([*tr, *va]) == list(range(30))
    assert np.array_equal(split_clips(30, 0.1, seed=0)[1], va)
    assert not np.array_equal(split_clips(30, 0.1, seed=1)[1], va)


@pytest.mark.parametrize("config", [AE, MBV2], ids=["ae", "mbv2"])
def test_training_twice_gives_identical_weights_and_scores(fan, config):
    train_feats, test_feats = fan
    a = train(train_feats, config, progress=False)
    b = train(train_feats, config, progress=False)
    assert _states_equal(a.model, b.model)
    np.testing.assert_array_equal(clip_scores(a, test_feats, progress=False),
                                  clip_scores(b, test_feats, progress=False))
    hist = a.history
    assert list(hist["epoch"]) == [1, 2]
    assert {"train_loss", "val_loss"} <= set(hist.columns)
    if config.model == "mbv2":
        assert hist["val_accuracy"].between(0, 1).all()
    c = train(train_feats, config.replace(seed=1), progress=False)
    assert not _states_equal(a.model, c.model)


def test_checkpoint_round_trip_gives_identical_scores(fan, tmp_path):
    train_feats, test_feats = fan
    trained = train(train_feats, MBV2, checkpoint=tmp_path / "model.pt", progress=False)
    loaded = load_trained(tmp_path / "model.pt", machine="fan", config=MBV2)
    assert loaded.sections == ["00", "01", "02"]
    assert list(loaded.history["epoch"]) == [1, 2]
    np.testing.assert_array_equal(clip_scores(trained, test_feats, progress=False),
                                  clip_scores(loaded, test_feats, progress=False))
    # a complete checkpoint is reused, not retrained
    again = train(train_feats, MBV2, checkpoint=tmp_path / "model.pt", progress=False)
    assert _states_equal(again.model, trained.model)


def test_an_interrupted_run_resumes_to_the_same_weights(fan, tmp_path):
    train_feats, _ = fan
    whole = train(train_feats, AE, progress=False)

    def stop(row):
        raise KeyboardInterrupt

    ckpt = tmp_path / "model.pt"
    with pytest.raises(KeyboardInterrupt):
        train(train_feats, AE, checkpoint=ckpt, progress=False, on_epoch=stop)
    assert load_checkpoint(ckpt).epoch == 1
    with pytest.raises(CheckpointError, match="stopped after epoch 1 of 2"):
        load_trained(ckpt)
    resumed = train(train_feats, AE, checkpoint=ckpt, progress=False)
    assert _states_equal(resumed.model, whole.model)
    assert list(resumed.history["epoch"]) == [1, 2]


def test_checkpoints_of_another_configuration_or_machine_are_refused(fan, tmp_path):
    train_feats, _ = fan
    ckpt = tmp_path / "model.pt"
    train(train_feats, AE, checkpoint=ckpt, progress=False)
    with pytest.raises(CheckpointError, match=r"lr: 0\.001 in the file, 0\.01 asked for"):
        train(train_feats, AE.replace(lr=1e-2), checkpoint=ckpt, progress=False)
    with pytest.raises(CheckpointError, match="another configuration"):
        load_checkpoint(ckpt, config=MBV2)
    with pytest.raises(CheckpointError, match="machine type 'fan', not 'valve'"):
        load_checkpoint(ckpt, machine="valve")
    # scoring fields may differ: the caller's are kept
    assert load_checkpoint(ckpt, config=AE.replace(test_hop=4)).config.test_hop == 4


def test_a_checkpoint_trained_on_other_clips_is_refused_not_reused(tiny_data, tmp_path):
    """Another data set with the same file names and sizes (another seed, one clip changed)."""
    import shutil

    import soundfile as sf

    other = tmp_path / "other"
    shutil.copytree(tiny_data / "dev_data" / "fan", other / "dev_data" / "fan")
    clips = list_clips(tiny_data / "dev_data", "fan", split="train")
    ckpt = tmp_path / "model.pt"
    first = train(load_features(clips, tmp_path / "cache", progress=False), AE, checkpoint=ckpt, progress=False)
    changed = list_clips(other / "dev_data", "fan", split="train")
    y, sr = sf.read(changed[0].path, dtype="int16")
    sf.write(changed[0].path, y[::-1].copy(), sr, subtype="PCM_16")  # same name, same size, other sound
    assert changed[0].path.stat().st_size == clips[0].path.stat().st_size
    feats = load_features(changed, tmp_path / "cache", progress=False)
    with pytest.raises(CheckpointError, match="trained on other training clips than these"):
        train(feats, AE, checkpoint=ckpt, progress=False)
    again = train(load_features(clips, tmp_path / "cache", progress=False), AE, checkpoint=ckpt, progress=False)
    assert _states_equal(first.model, again.model)  # the same clips: reused


def test_training_stops_at_an_epoch_that_is_not_finite_and_names_the_cause(fan, tmp_path):
    import dataclasses

    train_feats, _ = fan
    ckpt = tmp_path / "model.pt"
    with pytest.raises(TrainingError, match="epoch 1: a loss or the weights are not finite; every clip's features are finite: the "
                                            "training diverged"):
        train(train_feats, AE.replace(lr=1e30), checkpoint=ckpt, progress=False)
    assert not ckpt.exists()  # nothing of the failed epoch was saved
    data = np.array(train_feats.data)
    data[train_feats.offsets[1] + 3, 5] = np.nan  # one value of the second clip
    broken = dataclasses.replace(train_feats, data=data)
    with pytest.raises(TrainingError, match=f"1 clip\\(s\\) are not finite: {train_feats.clips[1].path.name}"):
        train(broken, AE, progress=False)


class Payload:
    """Any class: unpickling it would run code, so weights_only refuses it."""


def test_unsafe_or_broken_files_are_refused(tmp_path):
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"format": "asdlib-checkpoint", "object": Payload()}, unsafe)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(unsafe)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="broken.pt"):
        load_checkpoint(broken)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not an asdlib checkpoint"):
        load_checkpoint(foreign)


def test_a_section_the_model_never_saw_is_an_error_naming_it(tiny_data, tmp_path):
    dev = tiny_data / "dev_data"
    seen = [c for c in list_clips(dev, "fan", split="train") if c.section != "02"]
    trained = train(load_features(seen, tmp_path, progress=False), MBV2.replace(epochs=1), progress=False)
    test = load_features(list_clips(dev, "fan", split="test"), tmp_path, progress=False)
    with pytest.raises(SectionError, match=r"section 02 of fan was not in training"):
        clip_scores(trained, test, progress=False)


def test_the_autoencoder_too_refuses_a_test_section_it_never_heard(tiny_data, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_data / "dev_data" / "fan", data / "dev_data" / "fan")
    for f in (data / "dev_data" / "fan" / "train").glob("section_02_*"):
        f.unlink()
    with pytest.raises(SectionError, match=r"section 02 of fan was not in training"):
        run_system(data, "fan", AE.replace(epochs=1), tmp_path / "out", cache_dir=tmp_path / "cache",
                   progress=False)
    assert not list((tmp_path / "out").rglob("scores.csv"))  # refused before scoring


def test_training_refuses_test_clips_and_mixed_machine_types(tiny_data, tmp_path):
    dev = tiny_data / "dev_data"
    with pytest.raises(ValueError, match="test folders"):
        train(load_features(list_clips(dev, "fan"), tmp_path, progress=False), AE, progress=False)
    mixed = list_clips(dev, "fan", split="train") + list_clips(dev, "valve", split="train")
    with pytest.raises(ValueError, match="one model per machine type"):
        train(load_features(mixed, tmp_path, progress=False), AE, progress=False)


@pytest.mark.parametrize("config", [AE, MBV2], ids=["ae", "mbv2"])
def test_end_to_end_on_the_development_and_evaluation_layouts(tiny_data, tmp_path, config):
    for dataset in ("dev", "eval"):
        run = run_system(tiny_data, "valve", config, tmp_path / "out", dataset=dataset,
                         cache_dir=tmp_path / "cache", progress=False)
        assert (run.folder / "model.pt").is_file() and (run.folder / "history.csv").is_file()
        assert np.isfinite(run.threshold) and np.isfinite(run.scores["score"]).all()
    dev = evaluate(tmp_path / "out" / "dev" / "submission", data_dir=tiny_data)
    ev = evaluate(tmp_path / "out" / "eval" / "submission", ground_truth=tiny_data / "ground_truth_data")
    assert len(dev) == 6 and len(ev) == 6  # 3 sections x 2 domains each
    assert set(ev["section"]) == {"03", "04", "05"}
    assert 0 < official_score(dev) <= 1
    if config is AE:  # the folder says which experiment it holds; tracking the test score is not another one
        assert same_experiment(run.folder, config) and same_experiment(run.folder, config.replace(track_test=True))
        assert not same_experiment(run.folder, config.replace(epochs=config.epochs + 1))
        assert not same_experiment(tmp_path / "nowhere", config)


def test_command_line_trains_scores_and_evaluates(tiny_data, tmp_path):
    cmd = [sys.executable, "-m", "asdlib.cli", "baseline", "ae", "--data", str(tiny_data),
           "--out", str(tmp_path / "out"), "--machines", "fan", "--cache", str(tmp_path / "cache"),
           "--quiet", "--epochs"]
    done = subprocess.run([*cmd, "1"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "official score" in done.stdout
    assert sorted(p.name for p in (tmp_path / "out" / "dev" / "submission").iterdir())[0] == \
        "anomaly_score_fan_section_00_source_test.csv"
    bad = subprocess.run([*cmd, "3"], capture_output=True, text=True)
    assert bad.returncode == 2 and "epochs: 1 in the file, 3 asked for" in bad.stderr


@pytest.mark.parametrize("config", [AE, MBV2], ids=["ae", "mbv2"])
def test_clip_scores_and_section_probabilities_equal_a_plain_loop_over_each_clips_windows(fan, config):
    from asdlib.analysis import section_probabilities
    from asdlib.scoring import inference_model, section_log_odds

    train_feats, test_feats = fan
    trained = train(train_feats, config.replace(epochs=1), progress=False)
    model = inference_model(trained.model)
    scores, probs = [], []
    with torch.inference_mode():
        for i, clip in enumerate(test_feats.clips):
            spec = test_feats[i].T  # (frames, n_mels)
            if config.model == "ae":
                x = spec.unfold(0, config.ae_frames, 1).transpose(1, 2).reshape(-1, config.ae_frames * spec.shape[1])
                scores.append(float((model(x) - x).square().mean(dim=1).double().mean()))
            else:
                starts = range(0, spec.shape[0] - config.patch_frames + 1, config.test_hop)
                logits = model(torch.stack([spec[s:s + config.patch_frames] for s in starts]))
                own = torch.full((len(logits),), trained.sections.index(clip.section))
                scores.append(float(section_log_odds(logits, own).mean()))
                probs.append(torch.softmax(logits, dim=1).double().mean(dim=0).numpy())
    np.testing.assert_allclose(clip_scores(trained, test_feats, progress=False), scores, rtol=1e-5)
    if config.model != "ae":
        got = section_probabilities(trained, test_feats)
        np.testing.assert_allclose(got, np.array(probs), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-6)  # float32 softmax


def test_a_second_process_given_the_same_run_waits_for_the_first_and_reuses_it(tiny_data, tmp_path, capsys):
    """run_system holds its run folder's lock: a chapter that needs another chapter's run while that one
    trains it (make book runs two at a time) waits, then reuses the finished checkpoint."""
    import threading

    from asdlib._atomic import exclusive_lock
    from asdlib.pipeline import RUN_LOCK

    folder = tmp_path / "runs" / "dev" / "fan"
    args = dict(cache_dir=tmp_path / "cache", progress=True)
    elsewhere = run_system(tiny_data, "fan", AE, tmp_path / "other", **args)  # the other process's training
    done = []
    with exclusive_lock(folder / RUN_LOCK):  # as another process training this run would
        waiting = threading.Thread(target=lambda: done.append(run_system(tiny_data, "fan", AE, tmp_path / "runs",
                                                                          **args)))
        waiting.start()
        waiting.join(timeout=3)
        assert waiting.is_alive() and not (folder / "model.pt").exists()
        assert "another process is training or scoring this run; waiting for it" in capsys.readouterr().out
        shutil.copy2(elsewhere.folder / "model.pt", folder / "model.pt")  # its checkpoint, finished
        made = (folder / "model.pt").stat().st_mtime_ns
    waiting.join(timeout=300)
    assert done and (folder / "model.pt").stat().st_mtime_ns == made  # reused, not trained again
    assert np.array_equal(done[0].scores["score"], elsewhere.scores["score"])
