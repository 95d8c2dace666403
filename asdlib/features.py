"""Log-mel features of the official DCASE 2021 Task 2 baselines, in PyTorch.

The front end is the official one (librosa ``melspectrogram`` with
``n_fft=1024, hop_length=512, n_mels=128, power=2.0``, centred frames with
zero padding, Slaney mel scale and normalisation, then
``10 * log10(max(mel, eps))`` with eps the float64 machine epsilon),
computed with torchaudio, batched, on the CPU or CUDA.

Shapes: a log-mel spectrogram is ``(..., n_mels, frames)`` as librosa gives
it; a 10 s clip has 313 frames.  :func:`ae_vectors` and :func:`cnn_patches`
return views (no copy) when the spectrogram is the transpose of a contiguous
``(frames, n_mels)`` array, which is how :mod:`asdlib.cache` stores it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import librosa
import numpy as np
import torch
import torchaudio

from ._numeric import EPS
from .layout import SAMPLE_RATE


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel parameters; the defaults are the official baselines' values."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 128
    power: float = 2.0

    def as_dict(self) -> dict:
        return asdict(self)


class LogMel(torch.nn.Module):
    """``waveform (..., samples)`` -> log-mel ``(..., n_mels, frames)`` in dB, float32.

    The power spectrogram comes from torchaudio (periodic Hann window,
    centred frames, zero padding); the mel basis is librosa's own Slaney
    filterbank (torchaudio's differs by up to 2 % at the filter edges, which
    moves quiet bands beside loud tones by a tenth of a dB).  The STFT runs
    in float64 (``precision``) with a window computed in float64: a float32
    window alone raises the leakage floor to about 140 dB below a tone and
    moves the quiet bands around it by up to a dB.  The result is float32.
    """

    def __init__(self, config: FeatureConfig = FeatureConfig(), *,
                 precision: torch.dtype = torch.float64):
        super().__init__()
        self.config = config
        self.precision = precision
        self.spectrogram = torchaudio.transforms.Spectrogram(
            n_fft=config.n_fft, hop_length=config.hop_length, power=config.power,
            center=True, pad_mode="constant", window_fn=torch.hann_window,
            wkwargs={"periodic": True, "dtype": torch.float64})
        basis = librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels)
        self.register_buffer("mel_basis", torch.from_numpy(basis), persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        spec = self.spectrogram.to(self.precision)(waveform.to(self.precision))
        mel = torch.matmul(self.mel_basis.to(self.precision), spec)
        return (10.0 * torch.log10(torch.clamp(mel, min=EPS))).to(torch.float32)


def official_logmel(y: np.ndarray, config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """The official baselines' front end, for comparison: librosa's mel spectrogram, then
    ``10 log10(max(mel, eps))`` in float64, shape=(n_mels, frames).  :class:`LogMel` is the
    project's (faster, batched) equal of this."""
    mel = librosa.feature.melspectrogram(y=np.asarray(y, dtype=np.float32), sr=config.sample_rate,
                                         n_fft=config.n_fft, hop_length=config.hop_length,
                                         n_mels=config.n_mels, power=config.power)
    return 10.0 * np.log10(np.maximum(mel, EPS))


def ae_vectors(logmel: torch.Tensor, *, n_frames: int = 5) -> torch.Tensor:
    """Concatenate ``n_frames`` consecutive frames: the autoencoder baseline's input.

    Parameters
    ----------
    logmel : shape=(..., n_mels, frames)

    Returns
    -------
    torch.Tensor, shape=(..., frames - n_frames + 1, n_frames * n_mels); vector ``t``
    holds frames ``t .. t + n_frames - 1``, frame-major as the official code
    lays them out.  A view when ``logmel`` is the transpose of a contiguous
    ``(frames, n_mels)`` array, a copy otherwise.
    """
    n_mels, frames = logmel.shape[-2:]
    if frames < n_frames:
        raise ValueError(f"a spectrogram of {frames} frames is too short for {n_frames}-frame vectors")
    v = logmel.unfold(-1, n_frames, 1).movedim(-3, -1)  # (..., T', n_frames, n_mels)
    return v.reshape(*v.shape[:-2], n_frames * n_mels)


def cnn_patches(logmel: torch.Tensor, *, n_frames: int = 64, hop: int = 8) -> torch.Tensor:
    """Cut ``n_frames``-frame patches every ``hop`` frames: the MobileNetV2 baseline's input.

    Parameters
    ----------
    logmel : shape=(..., n_mels, frames)
    hop : 8 for training, 1 for testing in the official baseline.

    Returns
    -------
    torch.Tensor, shape=(..., n_patches, n_frames, n_mels), always a view, with
    ``n_patches = (frames - n_frames) // hop + 1``.
    """
    frames = logmel.shape[-1]
    if frames < n_frames:
        raise ValueError(f"a spectrogram of {frames} frames is too short for {n_frames}-frame patches")
    return logmel.unfold(-1, n_frames, hop).movedim(-3, -1)


def median_filter(logmel: torch.Tensor, *, kernel: int = 31, mode: str = "reflect",
                  chunk: int = 16) -> torch.Tensor:
    """Median over time with a ``1 x kernel`` window ("+MF"), batched, on the input's device.

    Parameters
    ----------
    logmel : shape=(..., n_mels, frames)
    kernel : odd window length in frames.
    mode : edge padding, named as in ``scipy.ndimage``: ``"reflect"``
        (``d c b a | a b c d``, the default) or ``"mirror"`` (``d c b | a b c d``).
    chunk : spectrograms filtered at once (bounds the memory of the window view).

    Returns
    -------
    torch.Tensor, shape as ``logmel``; equal to
    ``scipy.ndimage.median_filter(x, size=(..., 1, kernel), mode=mode)``.
    """
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"the median kernel must be an odd number of frames, got {kernel}")
    if mode not in ("reflect", "mirror"):
        raise ValueError(f"mode must be 'reflect' or 'mirror', got {mode!r}")
    half, frames = kernel // 2, logmel.shape[-1]
    if half == 0:
        return logmel.clone()
    if frames <= half:
        raise ValueError(f"a spectrogram of {frames} frames is too short for a {kernel}-frame median")
    flat = logmel.reshape(-1, *logmel.shape[-2:])
    out = torch.empty_like(flat)
    for i in range(0, flat.shape[0], chunk):
        x = flat[i:i + chunk]
        if mode == "reflect":
            left, right = x[..., :half].flip(-1), x[..., -half:].flip(-1)
        else:
            left, right = x[..., 1:half + 1].flip(-1), x[..., -half - 1:-1].flip(-1)
        padded = torch.cat([left, x, right], dim=-1)
        out[i:i + chunk] = padded.unfold(-1, kernel, 1).median(dim=-1).values
    return out.reshape(logmel.shape)
