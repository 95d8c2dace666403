"""Log-mel features, in PyTorch: the official baselines' front end and the authors' per-chunk one.

* :class:`LogMel`: the official front end (librosa ``melspectrogram`` with
  ``n_fft=1024, hop_length=512, n_mels=128, power=2.0``, centred frames
  padded by reflection as librosa 0.6 pads them, Slaney mel scale and
  normalisation, then ``10 * log10(max(mel, eps))`` with eps the float64
  machine epsilon), computed with torchaudio, batched, on the CPU or CUDA,
  once per clip.
* :class:`ChunkLogMel`: the front end of the authors' public code
  (``../shared/method.md`` section 6): torchaudio's ``MelSpectrogram``
  (HTK mel scale, no filterbank normalisation) and ``AmplitudeToDB(top_db=120)``
  applied to a batch of waveform chunks inside the training and scoring
  steps.

Which one a system uses, and their parameters, are fields of
:class:`FeatureConfig` and of the training configuration.

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
from .errors import ConfigError
from .layout import SAMPLE_RATE

#: torchaudio's floor under the power spectrogram before the logarithm, with ``floor="top_db"``.
AMIN = 1e-10


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel parameters; the defaults are the official baselines' values.

    Attributes
    ----------
    sample_rate, n_fft, hop_length, n_mels, power : the STFT and the mel bands.
    f_max : the top of the mel filterbank in Hz (None: half the sample rate,
        8,000 Hz, the official and the authors' value).
    mel_scale, mel_norm : ``"slaney"`` and ``"slaney"`` (librosa's defaults,
        the official baselines) or ``"htk"`` and ``"none"`` (torchaudio's
        defaults, the authors' code).
    pad_mode : how centred frames are padded at the ends of a clip:
        ``"reflect"`` (librosa 0.6, which the official code pins) or
        ``"constant"`` (zeros, librosa 0.10 and later).  The two differ in
        the first and last two frames only.
    floor : ``"eps"``, ``10 log10(max(mel, eps))`` (official), or
        ``"top_db"``, torchaudio's ``AmplitudeToDB``: ``10 log10(max(mel,
        1e-10))``, then nothing below the maximum minus ``top_db`` dB (the
        authors').
    top_db : the range kept by ``floor="top_db"`` (120 dB in the authors' code).
    """

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 128
    power: float = 2.0
    f_max: float | None = None
    mel_scale: str = "slaney"
    mel_norm: str = "slaney"
    pad_mode: str = "reflect"
    floor: str = "eps"
    top_db: float = 120.0

    def __post_init__(self):
        for name, allowed in (("mel_scale", ("slaney", "htk")), ("mel_norm", ("slaney", "none")),
                              ("pad_mode", ("reflect", "constant")), ("floor", ("eps", "top_db"))):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"features.{name} must be one of {', '.join(allowed)}, "
                                  f"got {getattr(self, name)!r}")
        if self.f_max is not None and not 0 < self.f_max <= self.sample_rate / 2:
            raise ConfigError(f"features.f_max must be in (0, {self.sample_rate / 2:g}] Hz, got {self.f_max}")

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def top_hz(self) -> float:
        """The top of the mel filterbank in Hz."""
        return float(self.f_max) if self.f_max is not None else self.sample_rate / 2

    def chunk_samples(self, frames: int) -> int:
        """Samples of a waveform chunk whose non-centred STFT has ``frames`` frames (33,280 for 64)."""
        return self.n_fft + (frames - 1) * self.hop_length


def to_db(mel: torch.Tensor, config: FeatureConfig) -> torch.Tensor:
    """A mel power spectrogram ``(..., n_mels, frames)`` in dB, with the floor of ``config.floor``.

    With ``"top_db"`` the floor is the maximum of the whole input minus
    ``top_db``: for a batch of chunks ``(batch, n_mels, frames)``, one
    maximum over the batch, as torchaudio's ``AmplitudeToDB`` takes it.
    """
    if config.floor == "eps":
        return 10.0 * torch.log10(torch.clamp(mel, min=EPS))
    db = 10.0 * torch.log10(torch.clamp(mel, min=AMIN))
    return torch.maximum(db, db.amax() - config.top_db)


class LogMel(torch.nn.Module):
    """``waveform (..., samples)`` -> log-mel ``(..., n_mels, frames)`` in dB, float32: one clip at a time.

    The power spectrogram comes from torchaudio (periodic Hann window,
    centred frames, ``config.pad_mode`` padding); the mel basis is librosa's
    own filterbank (torchaudio's Slaney filterbank differs by up to 2 % at
    the filter edges, which moves quiet bands beside loud tones by a tenth of
    a dB).  The STFT runs in float64 (``precision``) with a window computed
    in float64: a float32 window alone raises the leakage floor to about
    140 dB below a tone and moves the quiet bands around it by up to a dB.
    The result is float32.  With ``floor="top_db"`` each spectrogram of the
    batch keeps its own maximum.
    """

    def __init__(self, config: FeatureConfig = FeatureConfig(), *,
                 precision: torch.dtype = torch.float64):
        super().__init__()
        self.config = config
        self.precision = precision
        self.spectrogram = torchaudio.transforms.Spectrogram(
            n_fft=config.n_fft, hop_length=config.hop_length, power=config.power,
            center=True, pad_mode=config.pad_mode, window_fn=torch.hann_window,
            wkwargs={"periodic": True, "dtype": torch.float64})
        basis = librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels,
                                    fmax=config.top_hz, htk=config.mel_scale == "htk",
                                    norm="slaney" if config.mel_norm == "slaney" else None)
        self.register_buffer("mel_basis", torch.from_numpy(basis), persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        spec = self.spectrogram.to(self.precision)(waveform.to(self.precision))
        mel = torch.matmul(self.mel_basis.to(self.precision), spec)
        if self.config.floor == "top_db" and mel.ndim > 2:  # one maximum per spectrogram
            return torch.stack([to_db(m, self.config) for m in mel.reshape(-1, *mel.shape[-2:])]
                               ).reshape(mel.shape).to(torch.float32)
        return to_db(mel, self.config).to(torch.float32)


class ChunkLogMel(torch.nn.Module):
    """A batch of waveform chunks ``(batch, samples)`` -> log-mel ``(batch, n_mels, frames)``, float32.

    torchaudio's ``MelSpectrogram`` with the arguments of ``config``
    (``win_length = n_fft``, ``f_min = 0``, ``pad_mode``, ``mel_scale``,
    ``norm``) followed by the dB conversion of :func:`to_db`: the front end
    the authors' code runs inside its models, computed per chunk, in float32.
    ``center``: centred frames (66 for a chunk of 33,280 samples: the
    authors' CNN) or not (64: the training path of their contrastive model).

    With ``floor="top_db"`` the floor follows the maximum of the whole batch,
    as ``AmplitudeToDB`` takes it for a training batch of 32 chunks; when
    scoring, the authors pass one clip's chunks at a time, and ``groups``
    (the clip of each chunk) gives each clip its own maximum.
    """

    def __init__(self, config: FeatureConfig, *, center: bool = True):
        super().__init__()
        self.config, self.center = config, center
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=config.sample_rate, n_fft=config.n_fft, win_length=config.n_fft,
            hop_length=config.hop_length, f_min=0.0, f_max=config.f_max, n_mels=config.n_mels,
            power=config.power, center=center, pad_mode=config.pad_mode,
            norm="slaney" if config.mel_norm == "slaney" else None, mel_scale=config.mel_scale)

    def forward(self, chunks: torch.Tensor, groups: np.ndarray | None = None) -> torch.Tensor:
        mel = self.mel(chunks.float())
        if groups is None or self.config.floor != "top_db":
            return to_db(mel, self.config)
        out = torch.empty_like(mel)
        for g in np.unique(groups):
            idx = torch.from_numpy(np.flatnonzero(groups == g)).to(mel.device)
            out[idx] = to_db(mel[idx], self.config)
        return out


def official_logmel(y: np.ndarray, config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """The official baselines' front end, for comparison: librosa's mel spectrogram, then
    ``10 log10(max(mel, eps))`` in float64, shape=(n_mels, frames).  :class:`LogMel` is the
    project's (faster, batched) equal of this."""
    mel = librosa.feature.melspectrogram(y=np.asarray(y, dtype=np.float32), sr=config.sample_rate,
                                         n_fft=config.n_fft, hop_length=config.hop_length,
                                         n_mels=config.n_mels, power=config.power,
                                         pad_mode=config.pad_mode, fmax=config.top_hz,
                                         htk=config.mel_scale == "htk",
                                         norm="slaney" if config.mel_norm == "slaney" else None)
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
    chunk : spectrograms filtered at once on a GPU (bounds the memory of the window view).

    Returns
    -------
    torch.Tensor, shape as ``logmel``; equal to
    ``scipy.ndimage.median_filter(x, size=(..., 1, kernel), mode=mode)``.

    On the CPU, a running median over the padded rows laid end to end
    (:func:`_median_rows`, a fraction of the time); on a GPU, for a tensor
    that requires a gradient and for one with a NaN, the median of each
    window (:func:`_median_windows`).  A median is a selection, so both give
    the same values to the bit.
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
    if logmel.device.type == "cpu" and not logmel.requires_grad and logmel.dtype in (torch.float32, torch.float64):
        rows = logmel.reshape(-1, frames).numpy()
        if not np.isnan(rows).any():  # a NaN has no place in an order: the window path propagates it
            # laid out in memory as the window path's result (empty_like keeps the input's strides): the
            # network's convolutions give other last bits for another layout
            out = torch.empty_like(logmel.reshape(-1, *logmel.shape[-2:])).reshape(logmel.shape)
            return out.copy_(torch.from_numpy(_median_rows(rows, half, mode)).view(logmel.shape))
    return _median_windows(logmel, half, mode, chunk)


def _pad_index(frames: int, half: int, mode: str) -> np.ndarray:
    """The source frame of each of the ``frames + 2 * half`` padded frames."""
    inner = np.arange(frames)
    if mode == "reflect":
        return np.concatenate([inner[half - 1::-1], inner, inner[:frames - half - 1:-1]])
    return np.concatenate([inner[half:0:-1], inner, inner[-2:-half - 2:-1]])


def _median_rows(rows: np.ndarray, half: int, mode: str) -> np.ndarray:
    """:func:`median_filter` of 2-D ``rows`` on the CPU: each row padded, the padded rows
    laid end to end, and one running median over the whole line (scipy's 1-D rank filter, which
    keeps the window sorted from one sample to the next); the outputs whose window lies within its
    own row are the filter's."""
    from scipy.ndimage import median_filter as running_median

    frames = rows.shape[1]
    padded = rows[:, _pad_index(frames, half, mode)]  # a contiguous copy
    line = running_median(padded.reshape(-1), size=2 * half + 1, mode="nearest")  # the ends are cut away
    return np.ascontiguousarray(line.reshape(padded.shape)[:, half:half + frames])


def _median_windows(logmel: torch.Tensor, half: int, mode: str, chunk: int) -> torch.Tensor:
    """:func:`median_filter` as the median of each padded window (``unfold``), ``chunk`` spectrograms at once."""
    kernel, frames = 2 * half + 1, logmel.shape[-1]
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
