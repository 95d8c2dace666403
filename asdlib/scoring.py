"""Anomaly scores of clips from a trained network.

* Autoencoder: the mean over the clip's 5-frame vectors of the squared
  reconstruction error (mean over the 640 values, then over the vectors).
* MobileNetV2 (the baseline's, or the contrastive framework's CNN, which is
  all that the framework keeps for inference): the mean over the clip's 64-frame patches (one per frame step
  in the official baseline) of a score of ``p``, the softmax probability of
  the clip's own section:

  - ``"log_odds"`` (default): ``log(1 - p) - log(p)``, computed from the
    logits in float64 as ``logsumexp(other logits) - own logit``, exact even
    where ``p`` rounds to 1 in float32;
  - ``"official"``: what the official code computes,
    ``log(max(1 - p, eps) - log(max(p, eps)))`` with ``p`` in float32 and
    eps the float64 machine epsilon: a misplaced parenthesis puts the second
    logarithm inside the first.  Both fall as ``p`` rises, so they agree on
    each patch's order, but a clip's score is a mean over patches and the
    means rank clips differently;
  - ``"clamped"``: the authors' code, ``log(max(1 - p, eps)) - log(max(p,
    eps))`` with ``p`` the float32 softmax: the log-odds, except that it
    saturates at ``log(eps)`` (-36.04) once ``p`` rounds to 1.

With the "+MF" median filter (``median_filter`` "both" or "test"), the
patches are cut from the median-filtered spectrogram.  The windows and the
front end are those of :class:`asdlib.windows.Inputs` in scoring: every
``test_hop`` frames, and with the chunk front end the log-mel of each
waveform chunk.

A clip whose section the network was not trained on is an error that names
it (the official code quietly scores it with the last class).  Scoring runs
without gradients, on a copy of the network whose batch normalisations are
folded into the preceding layers (and channels-last on the CPU), three
times faster than the training graph on this machine and equal to float
rounding.
"""
from __future__ import annotations

import copy
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval
from tqdm.auto import tqdm

from ._numeric import EPS
from .accel import tune_host_allocator
from .cache import CachedFeatures
from .checkpoint import Trained, pick_device
from .errors import SectionError
from .models import reconstruction_error
from .windows import Inputs


def inference_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` for scoring: eval mode, batch norms folded, channels-last on the CPU."""
    model = copy.deepcopy(model).eval()
    for parent in model.modules():
        names = list(parent._modules)
        for a, b in zip(names, names[1:]):
            layer, norm = parent._modules[a], parent._modules[b]
            if isinstance(norm, nn.BatchNorm2d) and isinstance(layer, nn.Conv2d):
                parent._modules[a], parent._modules[b] = fuse_conv_bn_eval(layer, norm), nn.Identity()
            elif isinstance(norm, nn.BatchNorm1d) and isinstance(layer, nn.Linear):
                parent._modules[a], parent._modules[b] = fuse_linear_bn_eval(layer, norm), nn.Identity()
    if next(model.parameters()).device.type == "cpu" and any(
            isinstance(m, nn.Conv2d) for m in model.modules()):
        model.to(memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def section_log_odds(logits: torch.Tensor, section: torch.Tensor, *, form: str = "log_odds"
                     ) -> torch.Tensor:
    """Per-patch anomaly score from section logits, float64.

    Parameters
    ----------
    logits : shape=(n, n_sections)
    section : the own section's class index of each patch, shape=(n,)
    form : ``"log_odds"``, ``"official"`` or ``"clamped"`` (see the module docstring).
    """
    own = logits.gather(1, section[:, None])[:, 0]
    if form in ("official", "clamped"):
        p = torch.softmax(logits.float(), dim=1).gather(1, section[:, None])[:, 0].double()
        if form == "clamped":
            return torch.log(torch.clamp(1.0 - p, min=EPS)) - torch.log(torch.clamp(p, min=EPS))
        return torch.log(torch.clamp(1.0 - p, min=EPS) - torch.log(torch.clamp(p, min=EPS)))
    if form != "log_odds":
        raise ValueError(f"form must be 'log_odds', 'official' or 'clamped', got {form!r}")
    x = logits.double()
    others = x.scatter(1, section[:, None], float("-inf"))
    return torch.logsumexp(others, dim=1) - own.double()


#: Windows per forward pass of :func:`scoring_batch` for ``score_batch=0``: a classifier on the CPU,
#: and everything else.  On the 2-core CPU the book's classifiers scored 1.09-1.23 times as fast at
#: 64 as at 256 with the same scores to the bit (``bench/score_batch.py``; most likely a smaller
#: batch's feature maps stay in the caches); the AE's vectors and a GPU keep 256 (not measured there).
CPU_CLASSIFIER_BATCH, SCORE_BATCH = 64, 256


def scoring_batch(config, device: str | torch.device) -> int:
    """Windows per forward pass when scoring with ``config`` on ``device``: its ``score_batch``, or
    for 0 :data:`CPU_CLASSIFIER_BATCH` for a classifier on the CPU and :data:`SCORE_BATCH` otherwise."""
    if config.score_batch:
        return config.score_batch
    cpu = torch.device(device).type == "cpu"
    return CPU_CLASSIFIER_BATCH if cpu and config.model != "ae" else SCORE_BATCH


def check_trained_sections(trained: Trained, clips: Sequence) -> None:
    """Raise :class:`SectionError` naming every test section the model was not trained on (the
    classifier has no output for it; the autoencoder never heard it: its score would mean nothing)."""
    unseen = sorted({(c.section, str(c.path.parent)) for c in clips if c.section not in trained.sections})
    if unseen:
        raise SectionError("\n".join(
            f"{folder}: section {s} of {trained.machine} was not in training (the model knows "
            f"sections {', '.join(trained.sections)}); train on this data set's own train/ folder"
            for s, folder in unseen))


def clip_means(trained: Trained, feats: CachedFeatures | Inputs, per_window: Callable, *,
               device: str | torch.device | None = None, batch: int | None = None,
               progress: bool = False, desc: str = "scoring", hop: int | None = None) -> np.ndarray:
    """The mean over each clip's windows of ``per_window(model, x, clip)``, shape=(n_clips, ...).

    The windows are the ones scoring uses (:class:`asdlib.windows.Inputs`
    with ``training=False``): 5-frame AE vectors at every frame for the
    autoencoder, ``patch_frames`` patches every ``test_hop`` frames
    (median-filtered under "+MF") for a classifier, whose test sections must
    have been trained.  ``feats`` is the cache the configuration reads, or
    scoring inputs made from it already (reused across calls: the "+MF"
    filter is then computed once).  ``hop``: another hop in frames (the
    decision threshold's).  ``per_window`` gets the inference network, a
    batch of windows and the index of each window's clip, and returns a
    tensor with one row per window.
    """
    config = trained.config
    device = pick_device(device)
    if device.type == "cpu":
        tune_host_allocator()
    inputs = feats if isinstance(feats, Inputs) else Inputs(config, feats, training=False, hop=hop,
                                                            progress=progress)
    feats = inputs.feats
    if config.model != "ae":
        check_trained_sections(trained, feats.clips)
    win = inputs.windows()
    model = inference_model(trained.model.to(device))
    batch = batch or scoring_batch(config, device)
    sums = None
    counts = np.bincount(win.clip, minlength=len(feats)).astype(np.float64)
    with torch.inference_mode(), tqdm(total=len(win), desc=desc, unit="window",
                                      disable=not progress, leave=False) as bar:
        for b in range(0, len(win), batch):
            sl = slice(b, b + batch)
            x, x_cnn = inputs.batch(win.starts[sl], device, win.clip[sl])
            x = x if x_cnn is None else x_cnn
            per = per_window(model, x, win.clip[sl]).double().cpu().numpy()
            if sums is None:
                sums = np.zeros((len(feats), *per.shape[1:]))
            np.add.at(sums, win.clip[sl], per)
            bar.update(len(x))
    return sums / counts.reshape(-1, *([1] * (sums.ndim - 1)))


def clip_scores(trained: Trained, feats: CachedFeatures | Inputs, *, device: str | torch.device | None = None,
                progress: bool = True, desc: str = "scoring", hop: int | None = None) -> np.ndarray:
    """The anomaly score of every clip of ``feats``, shape=(n_clips,), float64 (``hop``: see
    :func:`clip_means`)."""
    config = trained.config
    if config.model == "ae":
        def per_window(model, x, clip):
            return reconstruction_error(model, x)
    else:
        index = {s: i for i, s in enumerate(trained.sections)}
        clips = feats.feats.clips if isinstance(feats, Inputs) else feats.clips
        section_of = np.array([index.get(c.section, -1) for c in clips], dtype=np.int64)

        def per_window(model, x, clip):
            sec = torch.from_numpy(section_of[clip]).to(x.device)
            return section_log_odds(model(x), sec, form=config.score)
    return clip_means(trained, feats, per_window, device=device, progress=progress, desc=desc, hop=hop)


def clip_embeddings(trained: Trained, feats: CachedFeatures | Inputs, *, device: str | torch.device | None = None,
                    progress: bool = True, desc: str = "embedding", hop: int | None = None) -> np.ndarray:
    """The mean over each clip's scored patches of the classifier's pooled embedding (the 1,280
    values its last layer reads), shape=(n_clips, 1280), float64: what :mod:`asdlib.backends` fits."""
    if trained.config.model == "ae":
        raise ValueError("the autoencoder has no section classifier and no embedding to score")

    def per_window(model, x, clip):
        return model.embed(x)
    return clip_means(trained, feats, per_window, device=device, progress=progress, desc=desc, hop=hop)
