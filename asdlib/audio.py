"""Reading and writing WAV clips with soundfile.

Clips are returned as float32 mono at 16 kHz: several channels are averaged
to mono, as the official loader does; another sample rate is an error (no
silent resampling); a corrupt or truncated file is an error naming it.
"""
from __future__ import annotations

import struct
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from ._atomic import atomic_path
from .errors import AudioError
from .layout import SAMPLE_RATE


def _check_riff(path: Path) -> None:
    """Raise if a RIFF/WAVE file's ``data`` chunk is longer than the file (truncated)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return  # not RIFF: let soundfile judge it
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                if pos + 8 + chunk_size > size:
                    raise AudioError(f"{path}: truncated WAV file: its data chunk declares "
                                     f"{chunk_size} bytes but only {size - pos - 8} are present")
                return
            pos += 8 + chunk_size + (chunk_size & 1)
    raise AudioError(f"{path}: corrupt WAV file: no data chunk")


def load_audio(path: str | Path, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Load a clip as float32 mono in [-1, 1].

    Parameters
    ----------
    path : WAV file.
    sample_rate : the rate the file must have (Hz); another rate is an error.

    Returns
    -------
    np.ndarray, shape=(n_samples,), dtype float32
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    _check_riff(path)
    try:
        y, sr = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as err:
        raise AudioError(f"{path}: cannot decode audio ({err})") from err
    if sr != sample_rate:
        raise AudioError(f"{path}: sample rate is {sr} Hz, expected {sample_rate} Hz "
                         f"(resample the data set first; nothing is resampled silently)")
    if y.shape[0] == 0:
        raise AudioError(f"{path}: audio file holds no samples")
    if not np.isfinite(y).all():
        bad = int((~np.isfinite(y)).any(axis=1).sum())
        raise AudioError(f"{path}: {bad} sample(s) are not finite numbers (NaN or infinity); "
                         f"the clip cannot be used")
    mono = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
    if not mono.any():
        what = "its channels cancel in the mono mix" if y.any() else "digital silence"
        warnings.warn(f"{path}: the clip is silent ({what}); its log-mel is the floor everywhere",
                      SilentClipWarning, stacklevel=2)
    return mono


class SilentClipWarning(UserWarning):
    """A clip whose mono signal is all zeros: it reads, but tells a model nothing."""


def write_audio(path: str | Path, y: np.ndarray, *, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write a mono clip as 16-bit PCM WAV, atomically.

    ``y`` is float in [-1, 1], shape=(n_samples,); values beyond are clipped.
    """
    y = np.clip(np.asarray(y, dtype=np.float64), -1.0, 1.0 - 2.0 ** -15)
    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(tmp, y, sample_rate, subtype="PCM_16", format="WAV")
    return Path(path)


class ClipLengthWarning(UserWarning):
    """Clips of one machine type whose lengths differ from the others' (the official clips are 10 s)."""


def check_lengths(clips: Sequence) -> None:
    """Warn, naming them, about clips whose length differs from the most common one among ``clips``.

    Read from the file headers only.  Both baselines and the framework take
    any length (their clip score is a mean over windows), so a clip of
    another length is scored, but its score is a mean over another number of
    windows than its neighbours': the warning says so.
    """
    from collections import Counter

    lengths = {c.path: sf.info(str(c.path)).frames for c in clips}
    if len(set(lengths.values())) <= 1:
        return
    usual, _ = Counter(lengths.values()).most_common(1)[0]
    odd = sorted(p for p, n in lengths.items() if n != usual)
    warnings.warn(f"{odd[0]}" + (f" and {len(odd) - 1} other clip(s)" if len(odd) > 1 else "")
                  + f": {lengths[odd[0]] / SAMPLE_RATE:.2f} s long where the other clips of the machine type "
                  f"are {usual / SAMPLE_RATE:.2f} s; scored as a mean over its own windows",
                  ClipLengthWarning, stacklevel=2)
