"""Looking inside trained networks: what the book's figures show beyond the clip scores.

* :func:`ae_error_map`: where in time and frequency the autoencoder fails to
  reconstruct a clip;
* :func:`section_probabilities`: the section classifier's mean softmax per
  clip (for its accuracy and confusion matrix on test clips);
* :func:`view_embeddings`: the contrastive framework's two views ``p`` (AE)
  and ``u`` (CNN) of chunks of clips;
* :func:`listening_set`, :func:`loudness_aucs`: clips to listen to, and
  whether loudness alone gives the faults away.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .cache import CachedFeatures
from .checkpoint import Trained, pick_device
from .config import TrainConfig
from .models import ContrastiveASD, reconstruction_error
from .scoring import clip_means, inference_model, scoring_batch
from .windows import Inputs


def ae_error_map(trained: Trained, logmel: torch.Tensor, *, device: str | None = None) -> np.ndarray:
    """Squared reconstruction error of one clip per mel band and vector, shape=(n_mels, n_vectors).

    ``logmel``: shape=(n_mels, frames).  Vector ``t`` covers frames ``t`` to
    ``t + ae_frames - 1``; its error per band is the mean over those frames.
    The clip's score is the mean of this map.
    """
    if trained.config.model != "ae":
        raise ValueError(f"ae_error_map needs an autoencoder, not a {trained.config.model!r} model")
    device = pick_device(device)
    n_mels, frames = logmel.shape
    width = trained.config.ae_frames
    x = logmel.T.unfold(0, width, 1).transpose(1, 2).reshape(frames - width + 1, -1)  # (n, width*n_mels)
    with torch.inference_mode():
        err = reconstruction_error(inference_model(trained.model.to(device)), x.to(device),
                                   per_value=True).cpu()
    return err.reshape(-1, width, n_mels).mean(dim=1).T.numpy()


def section_probabilities(trained: Trained, feats: CachedFeatures, *, device: str | None = None,
                          batch: int | None = None) -> np.ndarray:
    """The classifier's softmax averaged over each clip's patches, shape=(n_clips, n_sections).

    Columns follow ``trained.sections``; patches as in scoring (``test_hop``,
    median-filtered under "+MF"), ``batch`` at a time (default: :func:`asdlib.scoring.scoring_batch`).
    """
    if trained.config.model == "ae":
        raise ValueError("section_probabilities needs a section classifier, not an autoencoder")
    return clip_means(trained, feats, lambda model, x, clip: torch.softmax(model(x), dim=1),
                      device=device, batch=batch)


def view_embeddings(model: ContrastiveASD, feats: CachedFeatures, clip_ids: Sequence[int],
                    config: TrainConfig, *, hop: int = 64, device: str | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two views of every ``hop``-th chunk of some clips, after the shared head.

    Returns ``(p, u, clip)``: AE-view and CNN-view projections, shape=(n, proj_dim)
    each, L2-normalised as the contrastive loss compares them, and the index
    (into ``feats``) of each chunk's clip.  The chunks are cut and filtered as
    in training (:class:`asdlib.windows.Inputs`), one every ``hop`` frames:
    under "+MF" the CNN sees the filtered chunk and the AE what the
    configuration gives it.  ``feats`` is the cache the configuration reads
    (:func:`asdlib.windows.load_inputs`).
    """
    device = pick_device(device)
    inputs = Inputs(config, feats, training=True, hop=hop)
    win = inputs.windows(list(clip_ids))
    model = model.to(device).eval()
    ps, us = [], []
    with torch.inference_mode():
        step = scoring_batch(config, device)
        for b in range(0, len(win), step):
            x, xc = inputs.batch(win.starts[b:b + step], device)
            _, _, p, u = model(x, xc)
            ps.append(F.normalize(p, dim=1).cpu())
            us.append(F.normalize(u, dim=1).cpu())
    return torch.cat(ps).numpy(), torch.cat(us).numpy(), win.clip


def listening_set(clips: Sequence, *, section: str | None = None) -> dict[tuple[str, str], object]:
    """One test clip per (domain, label) of a section (default: the first section): what a reader listens to.

    ``clips``: a machine type's test clips; returns ``{(domain, label): clip}``
    for the labels present (normal and anomaly on the development set).
    """
    tests = [c for c in clips if c.split == "test"]
    section = section or min(c.section for c in tests)
    chosen = {}
    for c in tests:
        key = (c.domain, c.label)
        if c.section == section and key not in chosen:
            chosen[key] = c
    return dict(sorted(chosen.items()))


def clip_levels(clips: Sequence) -> np.ndarray:
    """Each clip's mean energy in dB (relative to full scale), shape=(n_clips,)."""
    from .audio import load_audio

    return np.array([10 * np.log10(np.mean(np.square(load_audio(c.path), dtype=np.float64)) + 1e-20)
                     for c in clips])


def loudness_aucs(clips: Sequence) -> pd.DataFrame:
    """How well loudness alone tells anomalous clips from normal ones: the AUC of the mean energy
    as the anomaly score, per machine type and domain (0.5: not at all; far from 0.5 either way:
    the faults change the level).  ``clips``: labelled test clips of one or more machine types."""
    from sklearn.metrics import roc_auc_score

    clips = [c for c in clips if c.label in ("normal", "anomaly")]
    level = clip_levels(clips)
    frame = pd.DataFrame({"machine": [c.machine for c in clips], "domain": [c.domain for c in clips],
                          "anomaly": [c.label == "anomaly" for c in clips], "level": level})
    rows = [{"machine": m, "domain": d, "energy AUC": roc_auc_score(g["anomaly"], g["level"])}
            for (m, d), g in frame.groupby(["machine", "domain"], sort=False)]
    return pd.DataFrame(rows)


def median_filtered_audio(y: np.ndarray, *, kernel: int = 31, n_fft: int = 1024, hop_length: int = 512) -> np.ndarray:
    """A clip with its short-time spectrum median-filtered over time, back as sound (to listen to "+MF").

    The magnitude of every frequency bin is replaced by its median over
    ``kernel`` frames (the filter of :func:`asdlib.features.median_filter`,
    here on the STFT rather than the log-mel), the phases are kept, and the
    inverse STFT gives a waveform of the clip's length, float32.
    """
    from .features import median_filter

    x = torch.from_numpy(np.asarray(y, dtype=np.float32))
    window = torch.hann_window(n_fft)
    spec = torch.stft(x, n_fft, hop_length, window=window, return_complex=True)
    magnitude = median_filter(spec.abs(), kernel=kernel)
    out = torch.istft(torch.polar(magnitude, spec.angle()), n_fft, hop_length, window=window, length=len(x))
    return out.numpy()
