"""Examples cut from a cache, and how a batch of them becomes a model's input.

A training or scoring example is a window of consecutive rows of a clip in
a memory-mapped cache (:mod:`asdlib.cache`), named by its first row, so a
set of examples is an array of row numbers and a batch is read by one fancy
index; a full-size machine type never has to be in memory.  With the clip
front end the rows are log-mel frames (5 for an AE vector, 64 for a CNN
patch); with the chunk front end they are waveform samples (33,280 for a
chunk, whose log-mel is computed per batch, as the authors' code does).

:class:`Inputs` gathers what a configuration reads in training or in
scoring: the windows' width and hop, the per-chunk front end, and where the
"+MF" median filter acts.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .accel import Resident
from .cache import CachedFeatures, load_features, load_waveforms, map_features
from .features import ChunkLogMel, median_filter


@dataclass
class Windows:
    """Examples: ``starts[i]`` is the first row, in the mapped file, of window ``i``."""

    starts: np.ndarray  # int64, shape=(n,)
    clip: np.ndarray  # int64, shape=(n,): the clip (index into the features) of each window
    width: int

    def __len__(self) -> int:
        return len(self.starts)

    def take(self, index: np.ndarray) -> "Windows":
        return Windows(self.starts[index], self.clip[index], self.width)


def windows(feats: CachedFeatures, clip_ids: Sequence[int], *, width: int, hop: int) -> Windows:
    """Every ``width``-row window of the given clips, one every ``hop`` rows."""
    starts, owner = [], []
    unit = "samples" if feats.is_waveform else "frames"
    for i in clip_ids:
        frames = int(feats.offsets[i + 1] - feats.offsets[i])
        if frames < width:
            raise ValueError(f"{feats.clips[i].path}: {frames} {unit}, fewer than a {width}-{unit[:-1]} window")
        s = feats.offsets[i] + np.arange(0, frames - width + 1, hop, dtype=np.int64)
        starts.append(s)
        owner.append(np.full(len(s), i, dtype=np.int64))
    if not starts:
        return Windows(np.zeros(0, np.int64), np.zeros(0, np.int64), width)
    return Windows(np.concatenate(starts), np.concatenate(owner), width)


def gather(feats: CachedFeatures, starts: np.ndarray, width: int) -> torch.Tensor:
    """The windows starting at ``starts``, float32: shape=(len(starts), width, n_mels), or
    (len(starts), width) for waveforms."""
    rows = starts[:, None] + np.arange(width, dtype=np.int64)
    return torch.from_numpy(feats.rows(rows))


def median_filtered(feats: CachedFeatures, config, *, progress: bool = False) -> CachedFeatures:
    """The "+MF" input: every spectrogram median-filtered over time (``config.mf_kernel`` frames,
    ``config.mf_mode`` padding); ``config`` is a :class:`asdlib.config.TrainConfig`."""
    return map_features(feats, lambda x: median_filter(x, kernel=config.mf_kernel, mode=config.mf_mode),
                        progress=progress, desc="median filter")


def split_clips(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation clip indices: a seeded ``val_fraction`` of whole clips (at least one)."""
    if n < 2 or val_fraction == 0:
        return np.arange(n), np.zeros(0, dtype=np.int64)
    n_val = min(n - 1, max(1, int(round(n * val_fraction))))
    order = np.random.default_rng([seed, 7]).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def load_inputs(clips, cache_dir: str | Path, config, *, device: str | torch.device = "cpu",
                progress: bool = True) -> CachedFeatures:
    """The cache a configuration reads: the clips' log-mel (clip front end) or their waveforms (chunk)."""
    if config.frontend == "chunk":
        return load_waveforms(clips, cache_dir, sample_rate=config.features.sample_rate, progress=progress)
    return load_features(clips, cache_dir, config=config.features, device=device, progress=progress)


def geometry(config, *, training: bool) -> tuple[int, int]:
    """The width and the hop of a configuration's examples, in rows of its cache."""
    if config.model == "ae":
        return config.ae_frames, 1
    hop = config.train_hop if training else config.test_hop
    if config.frontend == "chunk":
        return config.features.chunk_samples(config.patch_frames), hop * config.features.hop_length
    return config.patch_frames, hop


#: The most bytes of model inputs that :class:`Inputs` keeps with ``keep=True``.
KEEP_BYTES = 512 * 2**20


class Inputs:
    """What a configuration reads in training (``training=True``) or in scoring, from one cache.

    :meth:`batch` returns ``(x, x_cnn)``: ``x`` is the input of the AE (and
    of the CNN when ``x_cnn`` is None), shape=(batch, frames, n_mels) or
    (batch, 640)-like for AE vectors; ``x_cnn`` the CNN's input where it
    differs (the median-filtered chunk of "+MF" when the framework's AE
    keeps the unfiltered one).

    * Clip front end: windows of the log-mel cache; under "+MF" the whole
      spectrograms are filtered once, up front.
    * Chunk front end: windows of the waveform cache; the batch goes through
      :class:`asdlib.features.ChunkLogMel` (centred frames in scoring, and in
      training when ``config.train_center``), then the median filter, per
      chunk, as the authors' code does.  With ``mf_stage="waveform"`` the
      framework's training path filters the waveform before the front end.

    ``hop``: another hop between examples, in frames (for the decision
    threshold's training scores, ``config.threshold_hop``).

    ``device``: on a GPU with room for them, the rows (and the filtered
    rows of "+MF") are copied there once (:class:`asdlib.accel.Resident`,
    ``resident``), and :meth:`batch` also takes ``starts`` as a tensor on
    that device, gathering there.

    ``keep``: for inputs scored again and again (the test clips of a run that
    tracks its test score after every epoch), the chunk front end's output of
    each batch is kept and read back when the same windows are asked for
    again, the same tensors, so the scores are the same to the bit; up to
    :data:`KEEP_BYTES` in all (the ``book`` profile's test clips of one
    machine type: 124 MiB), beyond which every pass computes its own.
    """

    def __init__(self, config, feats: CachedFeatures, *, training: bool, hop: int | None = None,
                 progress: bool = False, device: torch.device | str | None = None, keep: bool = False):
        self.config, self.feats, self.training = config, feats, training
        self.kept: dict | None = {} if keep else None
        self._kept_bytes = 0
        self.chunk = config.frontend == "chunk"
        if self.chunk != feats.is_waveform:
            what = "waveforms" if self.chunk else "log-mel spectrograms"
            raise ValueError(f"the {config.frontend!r} front end reads {what}: load them with load_inputs()")
        self.width, self.hop = geometry(config, training=training)
        if hop:
            self.hop = hop * (config.features.hop_length if self.chunk else 1)
        active = config.median_filter == "both" or (not training and config.median_filter == "test")
        self.filter = active and config.model != "ae"
        self.frontend = ChunkLogMel(config.features, center=config.train_center if training else True) \
            if self.chunk else None
        self.filtered = median_filtered(feats, config, progress=progress) \
            if self.filter and not self.chunk else None
        self.resident = self.resident_filtered = None
        copies = 1 if self.filtered is None else 2  # "+MF": the filtered rows too
        if device is not None and Resident.fits(feats, torch.device(device), copies=copies):
            self.resident = Resident(feats, torch.device(device))
            if self.filtered is not None:
                self.resident_filtered = Resident(self.filtered, torch.device(device))

    def windows(self, clip_ids: Sequence[int] | None = None) -> Windows:
        ids = range(len(self.feats)) if clip_ids is None else clip_ids
        return windows(self.feats, ids, width=self.width, hop=self.hop)

    def _median(self, x: torch.Tensor) -> torch.Tensor:
        return median_filter(x, kernel=self.config.mf_kernel, mode=self.config.mf_mode)

    def _gather(self, filtered: bool, starts, device) -> torch.Tensor:
        if torch.is_tensor(starts):
            return (self.resident_filtered if filtered else self.resident).gather(starts, self.width)
        return gather(self.filtered if filtered else self.feats, starts, self.width).to(device, non_blocking=True)

    def batch(self, starts: np.ndarray | torch.Tensor, device: torch.device | str, clips: np.ndarray | None = None
              ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The model's inputs for the windows starting at ``starts`` (``clips``: the clip of each,
        so that in scoring each clip's chunks take their own dB floor, as the authors' code
        scores one clip at a time); ``starts`` a tensor on the device: the resident rows."""
        config = self.config
        split = config.model == "contrastive" and not config.mf_ae  # the AE keeps the raw chunk
        if not self.chunk:
            x = self._gather(False, starts, device)
            if self.filtered is None:
                return x, None
            xf = self._gather(True, starts, device)
            return (x, xf) if split else (xf, None)
        key = None if self.kept is None or torch.is_tensor(starts) else \
            (np.asarray(starts).tobytes(), str(device), clips is None)
        if key in (self.kept or {}):
            return self.kept[key]
        out = self._chunk_batch(starts, device, clips)
        if key is not None:
            size = sum(t.element_size() * t.numel() for t in out if t is not None)
            if self._kept_bytes + size <= KEEP_BYTES:
                self.kept[key], self._kept_bytes = out, self._kept_bytes + size
        return out

    def _chunk_batch(self, starts, device, clips) -> tuple[torch.Tensor, torch.Tensor | None]:
        config = self.config
        split = config.model == "contrastive" and not config.mf_ae
        wave = self._gather(False, starts, device)
        frontend = self.frontend.to(device)
        if self.filter and self.training and config.mf_stage == "waveform":
            return frontend(self._median(wave.unsqueeze(1)).squeeze(1)).transpose(1, 2), None
        logmel = frontend(wave, None if self.training else clips)  # (batch, n_mels, frames)
        x = logmel.transpose(1, 2)
        if not self.filter:
            return x, None
        xf = self._median(logmel).transpose(1, 2)
        return (x, xf) if split else (xf, None)
