"""An on-disk cache of log-mel spectrograms (and of waveforms), read back memory-mapped.

The log-mel spectrograms of a list of clips are computed once and stored as
one float32 file, each clip a contiguous ``(frames, n_mels)`` block, beside a
JSON index.  :func:`load_waveforms` keeps the decoded samples the same way
(16-bit integers when every clip is 16-bit PCM, float32 otherwise), for the
front ends that compute log-mel per waveform chunk.  The cache is keyed by the feature parameters and by the list
of files with their sizes and modification times: a changed parameter or
file means another key and a recomputation.  It is built in a temporary
folder that is renamed into place only when complete, so a cache left by an
interrupted run is never taken as complete.

Reading is a memory map: a full-size machine type (3,009 clips, 482 MB of
spectrograms, 2.4 GB as 640-value AE vectors) never has to be in memory at
once, and the AE vectors and CNN patches of :mod:`asdlib.features` are views
into the mapped file.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ._atomic import TMP_PREFIX
from .audio import load_audio
from .errors import CacheError
from .features import FeatureConfig, LogMel
from .layout import SAMPLE_RATE, Clip
from .project import file_digest

CACHE_VERSION = 2  # 2: FeatureConfig gained pad_mode, mel scale and floor fields
DATA_FILE = "logmel.f32"
INDEX_FILE = "index.json"
WAVE_FILES = {"int16": "wave.i16", "float32": "wave.f32"}


@dataclass
class CachedFeatures:
    """The log-mel spectrograms (or the waveforms) of a list of clips, memory-mapped.

    ``features[i]`` is clip ``i``'s spectrogram as a tensor of
    shape=(n_mels, frames): a transposed view of the mapped file, read-only;
    for waveforms, its samples, shape=(samples,), float32.  ``data`` has one
    row per frame (per sample for waveforms); ``scale`` turns stored values
    into float32 (1/32768 for 16-bit samples).
    """

    clips: list[Clip]
    data: np.ndarray  # shape=(total_frames, n_mels), float32, or (total_samples,): a memory map, or in memory
    offsets: np.ndarray  # shape=(n_clips + 1,): clip i holds rows offsets[i]:offsets[i+1]
    path: Path
    scale: float = 1.0

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def is_waveform(self) -> bool:
        return self.data.ndim == 1

    def rows(self, index: np.ndarray) -> np.ndarray:
        """The stored rows at ``index`` (any shape) as float32 (waveforms scaled to [-1, 1])."""
        block = np.asarray(self.data[index])
        return block.astype(np.float32) * np.float32(self.scale) if self.scale != 1.0 else \
            np.ascontiguousarray(block, dtype=np.float32)

    def __getitem__(self, i: int) -> torch.Tensor:
        if self.is_waveform:
            return torch.from_numpy(self.rows(np.arange(self.offsets[i], self.offsets[i + 1])))
        block = np.asarray(self.data[self.offsets[i]:self.offsets[i + 1]])
        with warnings.catch_warnings():  # read-only on purpose: the map is shared, never written
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            return torch.from_numpy(block).T

    def frames(self) -> np.ndarray:
        """Frames per clip (samples for waveforms), shape=(n_clips,)."""
        return np.diff(self.offsets)


#: Set to 1 to key the cache on each file's path, size and modification time alone (faster on very
#: large data sets; a file rewritten with its size and time restored then reads its old features).
TRUST_MTIME = "ASDLIB_TRUST_MTIME"


def cache_key(clips: Sequence[Clip], config: FeatureConfig | None) -> str:
    """A hash of the feature parameters (None: waveforms) and of each file's path and contents.

    The contents are read whole (BLAKE2b): a file whose bytes changed is never
    served its old features, whatever its size and modification time say.
    With ``ASDLIB_TRUST_MTIME=1`` the size and modification time stand in for
    the contents.  ``bench/features.py`` measures the cost against decoding.
    """
    h = hashlib.sha256()
    what = config.as_dict() if config is not None else {"waveform": True}
    h.update(json.dumps({"version": CACHE_VERSION, **what}, sort_keys=True).encode())
    trust = os.environ.get(TRUST_MTIME, "") == "1"
    for c in clips:
        if trust:
            st = os.stat(c.path)
            h.update(f"\n{Path(c.path).resolve()}\t{st.st_size}\t{st.st_mtime_ns}".encode())
        else:
            h.update(f"\n{Path(c.path).resolve()}\t{file_digest(c.path)}".encode())
    return h.hexdigest()[:24]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(cache_dir: Path, key: str) -> None:
    """Remove temporary folders of this key whose building process has died."""
    for tmp in cache_dir.glob(f"{TMP_PREFIX}{key}-*"):
        try:
            pid = int(tmp.name.rsplit("-", 2)[-2])
        except ValueError:
            continue
        if not _pid_alive(pid):
            shutil.rmtree(tmp, ignore_errors=True)


def load_features(clips: Sequence[Clip], cache_dir: str | Path, *,
                  config: FeatureConfig = FeatureConfig(), device: str | torch.device = "cpu",
                  batch_size: int = 32, progress: bool = True) -> CachedFeatures:
    """The log-mel spectrograms of ``clips``, from the cache or computed into it.

    Parameters
    ----------
    clips : the clips, in the order the result keeps.
    cache_dir : folder of the cache (one sub-folder per key).
    device : where the spectrograms are computed ("cpu", "cuda").
    batch_size : clips decoded and transformed at once.
    """
    if not clips:
        raise ValueError("no clips to compute features for")
    final = _cached(clips, Path(cache_dir), "logmel", config,
                    lambda f: _write_logmel(f, clips, config, device, batch_size, progress))
    return _open(final, clips, config)


def load_waveforms(clips: Sequence[Clip], cache_dir: str | Path, *, sample_rate: int = SAMPLE_RATE,
                   progress: bool = True) -> CachedFeatures:
    """The decoded samples of ``clips`` (mono, ``sample_rate``), from the cache or decoded into it.

    Stored as 16-bit integers when every clip is a 16-bit PCM mono file (as
    the DCASE data and the synthetic data are: lossless, half the size),
    as float32 otherwise.
    """
    if not clips:
        raise ValueError("no clips to decode")
    dtype = "int16" if all(_is_pcm16_mono(c.path) for c in clips) else "float32"
    final = _cached(clips, Path(cache_dir), "wave", None,
                    lambda f: _write_waves(f, clips, sample_rate, dtype, progress), dtype=dtype)
    index = json.loads((final / INDEX_FILE).read_text())
    offsets = np.asarray(index["offsets"], dtype=np.int64)
    _check_index(final, index, clips, offsets)
    data = np.memmap(final / WAVE_FILES[index["dtype"]], dtype=index["dtype"], mode="r",
                     shape=(int(offsets[-1]),))
    return CachedFeatures(clips=list(clips), data=data, offsets=offsets, path=final,
                          scale=1 / 32768 if index["dtype"] == "int16" else 1.0)


def _is_pcm16_mono(path) -> bool:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError):
        return False  # load_audio names the problem when the clip is read
    return info.subtype == "PCM_16" and info.channels == 1


def _cached(clips, cache_dir: Path, kind: str, config: FeatureConfig | None, write, *, dtype: str = "") -> Path:
    """The folder of a complete cache of ``kind``, built by ``write(data file)`` when missing."""
    key = cache_key(clips, config) + (f"-{dtype}" if dtype else "")
    final = cache_dir / f"{kind}-{key}"
    if (final / INDEX_FILE).is_file():
        return final
    cache_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale(cache_dir, key)
    tmp = cache_dir / f"{TMP_PREFIX}{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        data_file = tmp / (WAVE_FILES[dtype] if kind == "wave" else DATA_FILE)
        with open(data_file, "wb") as f:
            offsets = write(f)
        index = {"version": CACHE_VERSION, "config": None if config is None else config.as_dict(),
                 "offsets": offsets, "files": [str(c.path) for c in clips], "dtype": dtype or "float32"}
        (tmp / INDEX_FILE).write_text(json.dumps(index))
        try:
            os.replace(tmp, final)  # atomic: the cache appears complete or not at all
        except OSError:
            if not (final / INDEX_FILE).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process finished it first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _write_logmel(f, clips, config, device, batch_size, progress) -> list[int]:
    logmel = LogMel(config).to(device)
    offsets = [0]
    with torch.inference_mode(), tqdm(total=len(clips), desc="log-mel", unit="clip",
                                      disable=not progress) as bar:
        for start in range(0, len(clips), batch_size):
            waves = [load_audio(c.path, sample_rate=config.sample_rate)
                     for c in clips[start:start + batch_size]]
            groups = [waves] if len({len(w) for w in waves}) == 1 else [[w] for w in waves]
            for group in groups:
                x = torch.from_numpy(np.stack(group)).to(device)
                spec = logmel(x).transpose(-1, -2).contiguous().cpu().numpy()
                for s in spec:  # (frames, n_mels) blocks, clip after clip
                    f.write(s.astype(np.float32, copy=False).tobytes())
                    offsets.append(offsets[-1] + s.shape[0])
            bar.update(len(waves))
    return offsets


def _write_waves(f, clips, sample_rate: int, dtype: str, progress: bool) -> list[int]:
    offsets = [0]
    for c in tqdm(clips, desc="decode", unit="clip", disable=not progress):
        y = load_audio(c.path, sample_rate=sample_rate)
        out = np.round(y.astype(np.float64) * 32768).astype(np.int16) if dtype == "int16" else y
        f.write(out.astype(dtype, copy=False).tobytes())
        offsets.append(offsets[-1] + len(y))
    return offsets


def _check_index(final: Path, index: dict, clips: Sequence[Clip], offsets: np.ndarray) -> None:
    if index["files"] != [str(c.path) for c in clips] or len(offsets) != len(clips) + 1:
        raise CacheError(f"{final}: cache index does not match the clips asked for; delete the folder")


def _open(final: Path, clips: Sequence[Clip], config: FeatureConfig) -> CachedFeatures:
    index = json.loads((final / INDEX_FILE).read_text())
    offsets = np.asarray(index["offsets"], dtype=np.int64)
    _check_index(final, index, clips, offsets)
    data = np.memmap(final / DATA_FILE, dtype=np.float32, mode="r",
                     shape=(int(offsets[-1]), config.n_mels))
    return CachedFeatures(clips=list(clips), data=data, offsets=offsets, path=final)


def map_features(feats: CachedFeatures, fn, *, batch: int = 16, progress: bool = False,
                 desc: str = "transform") -> CachedFeatures:
    """``fn`` applied to every clip's spectrogram, the result held in memory.

    ``fn`` takes and returns a batch of spectrograms of shape
    ``(batch, n_mels, frames)`` (clips of equal length are batched); the
    result keeps the clips, the layout and the offsets of ``feats``.  Used for
    the median-filtered input of "+MF" (:func:`asdlib.features.median_filter`).
    """
    out = np.empty(feats.data.shape, dtype=np.float32)
    frames = feats.frames()
    i = 0
    with tqdm(total=len(feats), desc=desc, unit="clip", disable=not progress, leave=False) as bar:
        while i < len(feats):
            j = i + 1
            while j < len(feats) and j - i < batch and frames[j] == frames[i]:
                j += 1
            block = torch.stack([feats[k] for k in range(i, j)])  # (b, n_mels, frames)
            with torch.inference_mode():
                result = fn(block).transpose(-1, -2).contiguous().numpy()  # (b, frames, n_mels)
            out[feats.offsets[i]:feats.offsets[j]] = result.reshape(-1, result.shape[-1])
            bar.update(j - i)
            i = j
    return CachedFeatures(clips=list(feats.clips), data=out, offsets=feats.offsets.copy(), path=feats.path)
