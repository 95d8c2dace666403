"""Training-time augmentations of the classifiers' patches: SpecAugment-style masks and mixup.

Neither is in the poster or the official baselines; the poster closes by
saying that augmentation should help, and later DCASE Task 2 systems use
both.  Both are configuration fields, off by default
(:class:`asdlib.config.TrainConfig`), and act on training batches only:
validation batches and scoring never see them.

* **Masks** (Park et al., 2019): ``spec_time_masks`` bands of up to
  ``spec_time_width`` frames and ``spec_freq_masks`` bands of up to
  ``spec_freq_width`` mel bins, each band's width and place drawn per patch,
  set to the patch's mean (a log-mel patch has no natural zero).  They act
  on what the CNN reads: in the framework the AE branch keeps its chunk.
* **Mixup** (Zhang et al., 2018): each batch is mixed with a permutation
  of itself, ``lam * x + (1 - lam) * x[perm]`` with one
  ``lam ~ Beta(alpha, alpha)`` per batch, and the classification loss is
  the same mixture of the two section targets' cross-entropies.  In the
  framework both branches read the mixed chunk, so its two views still
  pair up in the contrastive loss.

The draws depend on the seed, the epoch and the step only, so a run resumed
from its checkpoint augments as an uninterrupted one does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import TrainConfig

_SALT = 0xA06  # keeps these draws apart from the other users of (seed, epoch)


@dataclass
class Mix:
    """What mixup did to a batch: the partner of each example's target, and the weight of its own."""

    partner: torch.Tensor  # section targets of the mixed-in examples, shape=(batch,)
    lam: float


def batch_rng(seed: int, epoch: int, step: int) -> np.random.Generator:
    """The random numbers of one training step's augmentations."""
    return np.random.default_rng([seed, epoch, step, _SALT])


def _bands(rng: np.random.Generator, n: int, size: int, masks: int, width: int) -> np.ndarray:
    """Boolean (n, size): ``masks`` bands per row, each of a width drawn from 0..width (at most ``size``)."""
    if masks == 0:
        return np.zeros((n, size), dtype=bool)
    widths = rng.integers(0, min(width, size) + 1, size=(n, masks))
    starts = rng.integers(0, size - widths + 1)
    pos = np.arange(size)
    inside = (pos >= starts[..., None]) & (pos < (starts + widths)[..., None])  # (n, masks, size)
    return inside.any(axis=1)


def spec_mask(x: torch.Tensor, rng: np.random.Generator, *, time_masks: int, time_width: int,
              freq_masks: int, freq_width: int) -> torch.Tensor:
    """A copy of patches ``x`` (batch, frames, n_mels) with time and frequency bands set to each
    patch's mean."""
    n, frames, mels = x.shape
    t = torch.from_numpy(_bands(rng, n, frames, time_masks, time_width))
    f = torch.from_numpy(_bands(rng, n, mels, freq_masks, freq_width))
    mask = (t[:, :, None] | f[:, None, :]).to(x.device)
    return torch.where(mask, x.mean(dim=(1, 2), keepdim=True), x)


def mixup(x: torch.Tensor, rng: np.random.Generator, alpha: float) -> tuple[torch.Tensor, np.ndarray, float]:
    """``lam * x + (1 - lam) * x[perm]``; returns the mixed batch, ``perm`` and ``lam``."""
    lam = float(rng.beta(alpha, alpha))
    perm = rng.permutation(len(x))
    return lam * x + (1.0 - lam) * x[torch.from_numpy(perm).to(x.device)], perm, lam


def augment_batch(config: TrainConfig, x: torch.Tensor, x_cnn: torch.Tensor | None, y: torch.Tensor | None,
                  *, epoch: int, step: int) -> tuple[torch.Tensor, torch.Tensor | None, Mix | None]:
    """The training batch as the configuration augments it: ``(x, x_cnn, mix)``.

    ``x_cnn`` is what the CNN reads when it differs from ``x`` (see
    :meth:`asdlib.windows.Inputs.batch`); masks go there (made from ``x``
    when it is None), so the framework's AE branch keeps the plain chunk.
    """
    if not config.augmented:
        return x, x_cnn, None
    rng = batch_rng(config.seed, epoch, step)
    mix = None
    if config.mixup_alpha > 0:
        x, perm, lam = mixup(x, rng, config.mixup_alpha)
        if x_cnn is not None:
            x_cnn = lam * x_cnn + (1.0 - lam) * x_cnn[torch.from_numpy(perm).to(x.device)]
        mix = Mix(partner=y[torch.from_numpy(perm).to(y.device)], lam=lam)
    if config.spec_time_masks or config.spec_freq_masks:
        x_cnn = spec_mask(x if x_cnn is None else x_cnn, rng, time_masks=config.spec_time_masks,
                          time_width=config.spec_time_width, freq_masks=config.spec_freq_masks,
                          freq_width=config.spec_freq_width)
    return x, x_cnn, mix
