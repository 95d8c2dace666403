"""Benchmark of the feature front end, as ratios against references run in this process.

Times, on the same clips:

1. WAV decoding alone (the floor);
2. the official baselines' per-file loop, re-implemented faithfully: librosa
   load, mel spectrogram, log, 5-frame vectors in float64, one file at a time;
3. the project's front end, cold (decode, log-mel in batches, write the cache);
4. the project's front end from the cache (memory-mapped read and the AE
   vector views of every clip, touched as a training pass would).

Targets on a 2-core CPU: (3) no slower than (2); (4) within 2x of (1).

    .venv/bin/python bench/features.py [--data DIR] [--clips N] [--device cpu|cuda]

Without --data it first writes N synthetic fan clips into a temporary folder.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
import torch

from asdlib.audio import load_audio
from asdlib.cache import load_features
from asdlib.features import ae_vectors
from asdlib.layout import list_clips, machine_types
from asdlib.synth import get_profile, synthesize


def official_loop(paths) -> float:
    """The official file_to_vectors: librosa per file, float64 vectors (checksum returned)."""
    total = 0.0
    for p in paths:
        y, sr = librosa.load(p, sr=None, mono=True)
        mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=1024, hop_length=512, n_mels=128,
                                             power=2.0)
        logmel = 20.0 / 2.0 * np.log10(np.maximum(mel, sys.float_info.epsilon))
        n_vectors = logmel.shape[1] - 5 + 1
        vectors = np.zeros((n_vectors, 640))
        for t in range(5):
            vectors[:, 128 * t:128 * (t + 1)] = logmel[:, t:t + n_vectors].T
        total += float(vectors[0, 0])
    return total


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="a dev_data folder (default: synthetic clips)")
    ap.add_argument("--clips", type=int, default=189, help="clips to time (default 189)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.data is None:
            per_section = max(args.clips // 3 - 3, 1)
            synthesize(tmp / "data", profile=get_profile("tiny", train_source=per_section, train_target=3,
                                                         test_normal=0, test_anomaly=0),
                       machines=["fan"], progress=False)
            data = tmp / "data" / "dev_data"
        else:
            data = args.data
        clips = [c for m in machine_types(data) for c in list_clips(data, m, split="train")][:args.clips]
        paths = [c.path for c in clips]
        n = len(clips)
        for p in paths:  # warm the OS page cache so every method reads from memory
            p.read_bytes()

        # each method once on two clips first: one-time set-up (librosa's and torch's first calls,
        # about a second for torch's STFT) is not a cost per clip, for either side
        official_loop(paths[:2])
        load_features(clips[:2], tmp / "warm-up", device=args.device, progress=False)
        decode = timed(lambda: [load_audio(p) for p in paths])
        official = timed(lambda: official_loop(paths))
        cold = timed(lambda: load_features(clips, tmp / "cache", device=args.device, progress=False))

        def cached_pass():
            feats = load_features(clips, tmp / "cache", progress=False)
            return sum(float(ae_vectors(feats[i]).sum()) for i in range(len(feats)))

        warm = timed(cached_pass)

    rows = [("decode WAV only (floor)", decode), ("official per-file librosa loop", official),
            ("asdlib front end, cold", cold), ("asdlib front end, from cache", warm)]
    print(f"{n} clips of 10 s, device {args.device}, {torch.get_num_threads()} torch threads\n")
    print(f"{'method':34s} {'seconds':>8s} {'clips/s':>9s}")
    for name, t in rows:
        print(f"{name:34s} {t:8.2f} {n / t:9.1f}")
    print(f"\ncold front end vs official loop: {official / cold:5.2f}x faster (target >= 1)")
    print(f"cached pass vs decoding alone:  {warm / decode:5.2f}x the time (target <= 2)")


if __name__ == "__main__":
    main()
