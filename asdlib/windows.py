"""Examples cut from the feature cache: windows of consecutive rows, read a batch at a time.

A training or scoring example is a window of consecutive frames of a clip's
log-mel spectrogram (5 frames for the AE, 64 for MobileNetV2), named by its
first row in the memory-mapped cache (:mod:`asdlib.cache`), so a set of
examples is an array of row numbers and a batch is read by one fancy index.
A full-size machine type never has to be in memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .cache import CachedFeatures, map_features
from .features import median_filter


@dataclass
class Windows:
    """Examples: ``starts[i]`` is the first row, in the mapped file, of window ``i``."""

    starts: np.ndarray  # int64, shape=(n,)
    clip: np.ndarray  # int64, shape=(n,): the clip (index into the features) of each window
    width: int

    def __len__(self) -> int:
        return len(self.starts)


def windows(feats: CachedFeatures, clip_ids: Sequence[int], *, width: int, hop: int) -> Windows:
    """Every ``width``-frame window of the given clips, one every ``hop`` frames."""
    starts, owner = [], []
    for i in clip_ids:
        frames = int(feats.offsets[i + 1] - feats.offsets[i])
        if frames < width:
            raise ValueError(f"{feats.clips[i].path}: {frames} frames, fewer than a {width}-frame window")
        s = feats.offsets[i] + np.arange(0, frames - width + 1, hop, dtype=np.int64)
        starts.append(s)
        owner.append(np.full(len(s), i, dtype=np.int64))
    if not starts:
        return Windows(np.zeros(0, np.int64), np.zeros(0, np.int64), width)
    return Windows(np.concatenate(starts), np.concatenate(owner), width)


def gather(feats: CachedFeatures, starts: np.ndarray, width: int) -> torch.Tensor:
    """The windows starting at ``starts``: shape=(len(starts), width, n_mels), float32."""
    rows = starts[:, None] + np.arange(width, dtype=np.int64)
    return torch.from_numpy(np.ascontiguousarray(feats.data[rows]))


def median_filtered(feats: CachedFeatures, config, *, progress: bool = False) -> CachedFeatures:
    """The "+MF" input: every spectrogram median-filtered over time (``config.mf_kernel`` frames,
    reflect padding); ``config`` is a :class:`asdlib.config.TrainConfig`."""
    return map_features(feats, lambda x: median_filter(x, kernel=config.mf_kernel), progress=progress,
                        desc="median filter")


def split_clips(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation clip indices: a seeded ``val_fraction`` of whole clips (at least one)."""
    if n < 2 or val_fraction == 0:
        return np.arange(n), np.zeros(0, dtype=np.int64)
    n_val = min(n - 1, max(1, int(round(n * val_fraction))))
    order = np.random.default_rng([seed, 7]).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])
