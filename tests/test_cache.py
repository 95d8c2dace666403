import dataclasses
import os

import numpy as np
import pytest
import torch

from asdlib import cache as cache_mod
from asdlib.audio import load_audio
from asdlib.cache import load_features
from asdlib.features import FeatureConfig, LogMel
from asdlib.layout import list_clips


@pytest.fixture
def clips(tiny_data):
    return list_clips(tiny_data / "dev_data", "valve", split="train")[:5]


def test_features_equal_direct_computation_and_are_mapped(clips, tmp_path):
    feats = load_features(clips, tmp_path, batch_size=2, progress=False)
    assert len(feats) == 5 and isinstance(feats.data, np.memmap) and feats.data.dtype == np.float32
    direct = LogMel()(torch.from_numpy(load_audio(clips[3].path)))
    torch.testing.assert_close(feats[3], direct, atol=0, rtol=0)
    assert feats[3].shape == (128, 313)


def test_computed_once_then_read(clips, tmp_path, monkeypatch):
    load_features(clips, tmp_path, progress=False)
    monkeypatch.setattr(cache_mod, "load_audio", lambda *a, **k: pytest.fail("recomputed"))
    load_features(clips, tmp_path, progress=False)


def test_changed_parameter_or_file_recomputes(clips, tmp_path, monkeypatch):
    import shutil

    import soundfile as sf

    for c in clips:  # copies: the files are changed below
        (tmp_path / "wav").mkdir(exist_ok=True)
        shutil.copy2(c.path, tmp_path / "wav" / c.path.name)
    clips = [dataclasses.replace(c, path=tmp_path / "wav" / c.path.name) for c in clips]
    cache = tmp_path / "cache"
    a = load_features(clips, cache, progress=False)
    b = load_features(clips, cache, config=FeatureConfig(n_mels=64), progress=False)
    assert a.path != b.path and b[0].shape == (64, 313)
    first = clips[0].path
    st = os.stat(first)
    os.utime(first, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert load_features(clips, cache, progress=False).path == a.path  # touched, same bytes: reused
    y, sr = sf.read(first, dtype="int16")
    sf.write(first, y[::-1].copy(), sr, subtype="PCM_16")  # other bytes, same size ...
    os.utime(first, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and the old modification time
    assert os.stat(first).st_size == st.st_size
    c = load_features(clips, cache, progress=False)
    assert c.path not in (a.path, b.path)
    torch.testing.assert_close(c[0], LogMel()(torch.from_numpy(load_audio(first))), atol=0, rtol=0)
    monkeypatch.setenv(cache_mod.TRUST_MTIME, "1")  # the documented shortcut: size and time stand in
    d = load_features(clips, cache, progress=False)
    os.utime(first, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000))
    assert load_features(clips, cache, progress=False).path != d.path


def test_interrupted_build_is_never_taken_as_complete(clips, tmp_path, monkeypatch):
    real = cache_mod.load_audio
    calls = {"n": 0}

    def dying(path, **kw):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(path, **kw)

    monkeypatch.setattr(cache_mod, "load_audio", dying)
    with pytest.raises(KeyboardInterrupt):
        load_features(clips, tmp_path, batch_size=2, progress=False)
    assert not list(tmp_path.glob("logmel-*"))
    monkeypatch.setattr(cache_mod, "load_audio", real)
    feats = load_features(clips, tmp_path, batch_size=2, progress=False)
    assert len(feats) == 5
