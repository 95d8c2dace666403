"""One system on one machine type, end to end: files -> features -> model -> scores -> submission.

As the official baselines do, a model is trained per machine type on the
``train/`` folder of one data set (``dev_data`` for the development
sections, ``eval_data`` for the evaluation sections) and scores that data
set's test clips.  The decision threshold is the gamma fit to the scores of
the training clips.  What a run writes, under ``out_dir/<dataset>/``::

    <machine>/model.pt      checkpoint (written after every epoch; a re-run resumes or reuses it)
    <machine>/history.csv   loss (and accuracy) per epoch
    <machine>/scores.csv    every clip's score, split, section, domain and label (the training
                            clips scored as the decision threshold is fitted: every
                            ``threshold_hop`` frames when it is set)
    <machine>/run.json      configuration, sections and decision threshold
    <machine>/passes.npz    a classifier's clips' mean embeddings and log-odds (with
                            ``keep_embeddings``, and by :func:`embed_system`): a re-run or
                            another back end on the same checkpoint, clips and scoring
                            configuration reads them instead of a forward pass
    <machine>/.asdlib-lock  held while a process trains or scores the run (:data:`RUN_LOCK`)
    submission/             the official anomaly_score_*.csv and decision_result_*.csv files

Two processes given the same run (two chapters of a book built two at a
time, a notebook beside a batch job) take turns: the second waits for the
first to finish, then reuses its checkpoint and passes.
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ._atomic import exclusive_lock, write_text_atomic
from .audio import check_lengths
from .checkpoint import Trained, pick_device
from .config import SCORING_FIELDS, TrainConfig
from .errors import ConfigError
from .layout import label_from_ground_truth, list_clips, sections
from .metrics import gamma_threshold, official_score
from .project import SUBMISSION_DIR, clips_fingerprint, data_folder, default_cache_dir, file_digest
from .backends import Embeddings, backend_scores, from_passes
from .scoring import check_trained_sections, clip_scores
from .submission import write_submission
from .tables import cells, clip_frame, labelled, test_cells
from .training import train
from .windows import Inputs, load_inputs


def _test_set_score(machine, trained_sections, config, test_feats, device):
    """For ``select="test"`` and ``track_test``: the official score of a network on the labelled test clips."""
    unlabelled = [c for c in test_feats.clips if c.y_true is None]
    if unlabelled:
        raise ValueError(f"{unlabelled[0].path.parent}: select='test' and track_test read the test "
                         f"labels, and these test clips have none")
    # "+MF": the test clips are filtered once; the chunk front end's log-mel is kept for the next epoch's pass
    inputs = Inputs(config, test_feats, training=False, keep=True)

    def score(net) -> float:
        run = Trained(model=net, machine=machine, sections=trained_sections, config=config,
                      history=pd.DataFrame())
        s = clip_scores(run, inputs, device=device, progress=False)
        return official_score(cells(clip_frame(test_feats.clips, s).assign(machine=machine)))

    return score


@dataclass
class SystemRun:
    """What :func:`run_system` produced for one machine type."""

    machine: str
    dataset: str
    trained: Trained
    threshold: float
    scores: pd.DataFrame  # one row per clip: name, split, section, domain, label, score
    folder: Path  # out_dir/<dataset>/<machine>
    submission: Path  # out_dir/<dataset>/submission

    @property
    def history(self) -> pd.DataFrame:
        return self.trained.history

    @property
    def labelled(self) -> bool:
        """Whether every test clip has a label (development data, or evaluation data with ground truth)."""
        return labelled(self.scores)

    def cells(self, *, decisions: bool = False, intervals: bool = False) -> pd.DataFrame:
        """AUC and pAUC of the run's labelled test clips, one row per (section, domain) cell;
        ``decisions``: with the precision, recall and F1 of the decision threshold;
        ``intervals``: with the clip counts and bootstrap intervals (:func:`asdlib.tables.test_cells`)."""
        return test_cells(self.scores, self.machine, threshold=self.threshold if decisions else None,
                          intervals=intervals)


#: Configuration fields that do not change what a run trains and scores (tracking the test score
#: after every epoch only adds a column to the history).
NOT_THE_EXPERIMENT = ("track_test",)


def same_experiment(folder: str | Path, config: TrainConfig) -> bool:
    """Whether the run folder of one machine type (its ``run.json``) holds a run of ``config``.

    False when the folder holds no complete run, or a run of another configuration.
    """
    try:  # a run made before a field existed holds that field's default
        made = TrainConfig.from_dict(json.loads((Path(folder) / "run.json").read_text())["config"]).as_dict()
    except (OSError, ValueError, KeyError, TypeError):  # ConfigError is a ValueError
        return False
    wanted = config.as_dict()
    return {k: v for k, v in made.items() if k not in NOT_THE_EXPERIMENT} == \
        {k: v for k, v in wanted.items() if k not in NOT_THE_EXPERIMENT}


@dataclass
class _Trained:
    """A trained (or reused) system with the clips and inputs it was trained and is scored on."""

    folder: Path
    train_clips: list
    test_clips: list
    train_feats: object
    test_feats: object
    trained: Trained


#: The file a process locks (:func:`asdlib._atomic.exclusive_lock`) while it trains or scores a run.
RUN_LOCK = ".asdlib-lock"


@contextlib.contextmanager
def _run_lock(folder: Path, progress: bool):
    """Hold the lock of one run's folder; a wait for another holder is said when ``progress``."""
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(exclusive_lock(folder / RUN_LOCK, wait=False))
        except BlockingIOError:
            if progress:
                print(f"{folder}: another process is training or scoring this run; waiting for it", flush=True)
            held.enter_context(exclusive_lock(folder / RUN_LOCK))
        yield


def _train_system(data_root, machine, config, out_dir, *, dataset, ground_truth, cache_dir, device,
                  progress) -> _Trained:
    """What :func:`run_system` and :func:`embed_system` share: the clips, their inputs and the
    network, trained or reused from ``out_dir/<dataset>/<machine>/model.pt``; called with the run's
    lock held."""
    data_dir = data_folder(data_root, dataset)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = Path(out_dir) / dataset / machine
    folder.mkdir(parents=True, exist_ok=True)
    train_clips = list_clips(data_dir, machine, split="train")
    test_clips = list_clips(data_dir, machine, split="test")
    if ground_truth:
        test_clips = label_from_ground_truth(test_clips, ground_truth)
    check_lengths([*train_clips, *test_clips])
    train_feats = load_inputs(train_clips, cache_dir, config, device=device or "cpu", progress=progress)
    test_feats = load_inputs(test_clips, cache_dir, config, device=device or "cpu", progress=progress)
    epoch_score = None
    if config.select == "test" or config.track_test:
        epoch_score = _test_set_score(machine, sections(train_clips), config, test_feats, device)
    trained = train(train_feats, config, machine=machine, checkpoint=folder / "model.pt",
                    device=device, progress=progress, epoch_score=epoch_score)
    check_trained_sections(trained, test_clips)  # before any scoring work, for every system
    return _Trained(folder, train_clips, test_clips, train_feats, test_feats, trained)


#: A run's saved scoring passes (:class:`asdlib.backends.Embeddings`), beside its checkpoint.
PASSES = "passes.npz"
#: Scoring fields that choose a back end, not the passes it reads.
_BACKEND_ONLY = tuple(f for f in SCORING_FIELDS if f not in ("score", "test_hop", "score_batch"))


def _passes_key(t: _Trained, device) -> dict:
    """What a run's scoring passes depend on: the checkpoint's bytes, the clips' names and bytes, the
    configuration (less what only tracks or picks a back end), the device type and torch's version."""
    config = {k: v for k, v in t.trained.config.as_dict().items()
              if k not in NOT_THE_EXPERIMENT + _BACKEND_ONLY}
    return {"checkpoint": file_digest(t.folder / "model.pt"), "train": clips_fingerprint(t.train_clips),
            "test": clips_fingerprint(t.test_clips), "config": config, "device": pick_device(device).type,
            "torch": torch.__version__}


def _passes(t: _Trained, *, compute: bool, keep: bool, device, progress) -> Embeddings | None:
    """The run's scoring passes: read from ``PASSES`` when it holds them for the same checkpoint,
    clips, configuration and device, else computed when ``compute`` (and written there when
    ``keep``); None when neither."""
    path, key = t.folder / PASSES, _passes_key(t, device)
    emb = Embeddings.load(path, key, t.trained, t.train_feats, t.test_feats)
    if emb is None and compute:
        emb = Embeddings.of(t.trained, t.train_feats, t.test_feats, device=device, progress=progress)
        if keep:
            emb.save(path, key)
    return emb


def run_system(data_root: str | Path, machine: str, config: TrainConfig, out_dir: str | Path, *,
               dataset: str = "dev", ground_truth: str | Path | None = None,
               cache_dir: str | Path | None = None, keep_embeddings: bool = False,
               device: str | torch.device | None = None, progress: bool = True) -> SystemRun:
    """Train (or resume, or reuse) one system on one machine type, score it and write its submission.

    Parameters
    ----------
    data_root : a folder holding ``dev_data/`` (and ``eval_data/``), or one of them.
    dataset : ``"dev"`` or ``"eval"``: whose ``train/`` trains the model and whose tests are scored.
    ground_truth : a folder of the official ``ground_truth_*.csv`` files: the labels of the
        evaluation test clips (:func:`asdlib.layout.label_from_ground_truth`); without it an
        evaluation run writes its submission files and has no metrics.
    out_dir : see the module docstring.
    cache_dir : log-mel cache (default :func:`default_cache_dir`).
    keep_embeddings : for a classifier (whose decision threshold reads the scored windows:
        ``threshold_hop`` 0 or ``test_hop``), score through the passes that also give its clips'
        mean embeddings, and write both (``passes.npz``, float64: 1,280 values a clip, about
        4 MB for a machine type of the ``book`` profile, 43 MB full size), so that a re-run or
        :func:`embed_system` on the same checkpoint, clips and scoring configuration needs no
        forward pass (the scores are the same to the bit).  Saved passes are read whether or
        not this is set.
    """
    data_folder(data_root, dataset)  # a dataset other than dev and eval is refused before a folder is made
    with _run_lock(Path(out_dir) / dataset / machine, progress):
        t = _train_system(data_root, machine, config, out_dir, dataset=dataset, ground_truth=ground_truth,
                          cache_dir=cache_dir, device=device, progress=progress)
        trained, folder = t.trained, t.folder
        write_text_atomic(folder / "history.csv", trained.history.to_csv(index=False))
        passes = None
        if from_passes(config):  # saved passes serve; new ones are made when kept or for a back end
            passes = _passes(t, compute=keep_embeddings or config.backend != "classifier", keep=keep_embeddings,
                             device=device, progress=progress)
        train_scores, test_scores = backend_scores(trained, t.train_feats, t.test_feats, embeddings=passes,
                                                   device=device, progress=progress)
        threshold = gamma_threshold(train_scores)
        submission = write_submission(Path(out_dir) / dataset / SUBMISSION_DIR, t.test_clips, test_scores,
                                      threshold)
        scores = clip_frame([*t.train_clips, *t.test_clips], np.concatenate([train_scores, test_scores]))
        write_text_atomic(folder / "scores.csv", scores.to_csv(index=False))
        write_text_atomic(folder / "run.json", json.dumps(
            {"machine": machine, "dataset": dataset, "data": str(data_folder(data_root, dataset)),
             "sections": trained.sections, "ground_truth": str(ground_truth) if ground_truth else None,
             "threshold": threshold, "config": config.as_dict()}, indent=2))
        return SystemRun(machine=machine, dataset=dataset, trained=trained, threshold=threshold,
                         scores=scores, folder=folder, submission=submission)


def embed_system(data_root: str | Path, machine: str, config: TrainConfig, out_dir: str | Path, *,
                 dataset: str = "dev", ground_truth: str | Path | None = None,
                 cache_dir: str | Path | None = None, device: str | torch.device | None = None,
                 progress: bool = True) -> Embeddings:
    """One classifier's clip embeddings (and its test clips' log-odds), for :mod:`asdlib.backends`.

    The network is the one :func:`run_system` trains into the same ``out_dir``
    (its checkpoint reused when complete, trained otherwise); the passes are
    read from the run's ``passes.npz`` when it holds them for the same
    checkpoint, clips and scoring configuration, and written there otherwise.
    """
    if config.model == "ae":  # before any training
        raise ConfigError("the AE baseline has no section classifier and no embedding: back ends score "
                          "the classifiers (MBv2 baseline and the ablation's rows)")
    data_folder(data_root, dataset)
    with _run_lock(Path(out_dir) / dataset / machine, progress):
        t = _train_system(data_root, machine, config, out_dir, dataset=dataset, ground_truth=ground_truth,
                          cache_dir=cache_dir, device=device, progress=progress)
        return _passes(t, compute=True, keep=True, device=device, progress=progress)
