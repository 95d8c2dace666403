"""Looking inside trained networks: what the book's figures show beyond the clip scores.

* :func:`ae_error_map`: where in time and frequency the autoencoder fails to
  reconstruct a clip;
* :func:`section_probabilities`: the section classifier's mean softmax per
  clip (for its accuracy and confusion matrix on test clips);
* :func:`view_embeddings`: the contrastive framework's two views ``p`` (AE)
  and ``u`` (CNN) of chunks of clips.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .cache import CachedFeatures
from .checkpoint import Trained, pick_device
from .config import TrainConfig
from .models import ContrastiveASD, reconstruction_error
from .scoring import clip_means, inference_model
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
    median-filtered under "+MF"), ``batch`` at a time (default ``score_batch``).
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
        for b in range(0, len(win), config.score_batch):
            x, xc = inputs.batch(win.starts[b:b + config.score_batch], device)
            _, _, p, u = model(x, xc)
            ps.append(F.normalize(p, dim=1).cpu())
            us.append(F.normalize(u, dim=1).cpu())
    return torch.cat(ps).numpy(), torch.cat(us).numpy(), win.clip
