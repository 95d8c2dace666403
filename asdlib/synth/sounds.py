"""Signal building blocks for the synthetic machine sounds.

Every function takes a NumPy random generator (where it draws anything) and
returns float64 arrays of ``n`` samples at ``sr`` Hz.  Nothing here knows
about machines; :mod:`asdlib.synth.machines` composes these pieces.
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.fft
from scipy.ndimage import uniform_filter1d
from scipy.signal import oaconvolve


def unit_rms(x: np.ndarray) -> np.ndarray:
    """Scale ``x`` to unit root-mean-square (zeros stay zeros)."""
    r = np.sqrt(np.mean(np.square(x))) if len(x) else 0.0  # no BLAS: its threads would fight the workers'
    return x / r if r > 0 else x


@functools.lru_cache(maxsize=256)
def _band_gain(n: int, sr: int, lo: float, hi: float | None, slope: float) -> np.ndarray:
    f = np.fft.rfftfreq(n, 1.0 / sr)
    lf = np.log2(np.maximum(f, 1e-3))
    gain = np.ones_like(f)
    if lo > 0:
        gain *= np.clip((lf - np.log2(lo)) / 0.25 + 0.5, 0, 1)
    if hi is not None and hi < sr / 2:
        gain *= np.clip((np.log2(hi) - lf) / 0.25 + 0.5, 0, 1)
    if slope:
        gain /= np.maximum(f, max(lo, 20.0)) ** (slope / 2)
    gain[0] = 0.0
    gain = gain.astype(np.float32)
    gain.flags.writeable = False
    return gain


def shaped_noise(rng: np.random.Generator, n: int, sr: int, *, lo: float = 0.0,
                 hi: float | None = None, slope: float = 0.0) -> np.ndarray:
    """Gaussian noise band-limited to [lo, hi] Hz with a 1/f**slope power tilt, unit RMS.

    The spectrum is drawn directly (complex Gaussian bins, which is what the
    FFT of white Gaussian noise is); the band edges are linear ramps a
    quarter of an octave wide on a log frequency axis, so narrow bands do not
    ring.
    """
    m = n // 2 + 1
    spec = rng.standard_normal(2 * m, dtype=np.float32).view(np.complex64)
    spec *= _band_gain(n, sr, float(lo), hi, float(slope))
    return unit_rms(scipy.fft.irfft(spec, n).astype(np.float64))


def convolve(x: np.ndarray, response_fft: np.ndarray, size: int) -> np.ndarray:
    """``x`` convolved with an impulse response given by its real FFT at ``size`` (>= the full
    length), cut to ``len(x)`` samples."""
    return scipy.fft.irfft(scipy.fft.rfft(x, size) * response_fft, size)[:len(x)]


def smooth_random(rng: np.random.Generator, n: int, sr: int, *, rate: float) -> np.ndarray:
    """A slowly varying random curve in about [-1, 1], with about ``rate`` changes per second."""
    k = max(int(n / sr * rate) + 2, 2)
    knots = rng.uniform(-1, 1, k)
    return np.interp(np.linspace(0, k - 1, n), np.arange(k), knots)


def phase_of(freq: np.ndarray | float, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Running phase (radians) of an oscillator with instantaneous frequency ``freq`` (Hz)."""
    freq = np.broadcast_to(np.asarray(freq, dtype=float), (n,))
    return 2 * np.pi * np.cumsum(freq) / sr + rng.uniform(0, 2 * np.pi)


def harmonics(phase: np.ndarray, amps, rng: np.random.Generator, *, f0: float, sr: int,
              sideband: tuple[np.ndarray, float] | None = None) -> np.ndarray:
    """Sum of harmonics ``amps[k-1] * sin(k * phase + random)``, those below Nyquist only.

    The k-th harmonic is the k-th power of ``exp(i * phase)`` (one complex
    product per harmonic instead of a sine), computed in single precision
    from the wrapped phase.  ``sideband=(mod_phase, depth)``
    amplitude-modulates every harmonic by ``1 + depth * cos(mod_phase)``:
    sidebands at the modulation rate.
    """
    wrapped = (phase - (2 * np.pi) * np.floor(phase / (2 * np.pi))).astype(np.float32)
    z = np.empty(len(wrapped), dtype=np.complex64)
    z.real, z.imag = np.cos(wrapped), np.sin(wrapped)
    zk = np.ones_like(z)
    acc = np.zeros_like(z)
    for k, a in enumerate(amps, start=1):
        zk *= z
        if a and k * f0 < 0.45 * sr:
            acc += np.complex64(a * np.exp(1j * rng.uniform(0, 2 * np.pi))) * zk
    out = acc.imag.astype(np.float64)
    if sideband is not None:
        mod_phase, depth = sideband
        out *= 1 + depth * np.cos(mod_phase)
    return out


def resonance(sr: int, *, freq: float, decay_s: float) -> np.ndarray:
    """Impulse response of a struck resonance: a damped sinusoid of ``freq`` Hz."""
    t = np.arange(int(sr * decay_s * 5)) / sr
    return np.sin(2 * np.pi * freq * t) * np.exp(-t / decay_s)


def events(n: int, sr: int, times: np.ndarray, amps: np.ndarray | float,
           kernel: np.ndarray) -> np.ndarray:
    """Place ``kernel`` at each of ``times`` (seconds) with amplitude ``amps``."""
    x = np.zeros(n)
    times = np.asarray(times, dtype=float)
    idx = np.round(times * sr).astype(int)
    keep = (idx >= 0) & (idx < n)
    np.add.at(x, idx[keep], np.broadcast_to(amps, times.shape)[keep])
    return oaconvolve(x, kernel)[:n]


def periodic_times(rng: np.random.Generator, seconds: float, *, period: float,
                   jitter: float = 0.0) -> np.ndarray:
    """Event times every ``period`` s from a random start, each jittered by N(0, jitter*period)."""
    t = np.arange(rng.uniform(0, period), seconds, period)
    return t + rng.normal(0, jitter * period, t.shape) if jitter else t


def gate(n: int, sr: int, starts: np.ndarray, lengths: np.ndarray | float,
         ramp_s: float = 0.01) -> np.ndarray:
    """An envelope that is 1 on [start, start + length) for each start, 0 elsewhere, with ramps."""
    env = np.zeros(n)
    lengths = np.broadcast_to(np.asarray(lengths, dtype=float), np.shape(starts))
    for s, length in zip(starts, lengths):
        a, b = int(max(s, 0) * sr), int(min(s + length, n / sr) * sr)
        if b > a:
            env[a:b] = 1.0
    return uniform_filter1d(env, size=max(int(ramp_s * sr), 1) * 2 + 1, mode="constant")
