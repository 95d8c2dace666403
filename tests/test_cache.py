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


def test_changed_parameter_or_file_recomputes(clips, tmp_path):
    a = load_features(clips, tmp_path, progress=False)
    b = load_features(clips, tmp_path, config=FeatureConfig(n_mels=64), progress=False)
    assert a.path != b.path and b[0].shape == (64, 313)
    st = os.stat(clips[0].path)
    os.utime(clips[0].path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    c = load_features(clips, tmp_path, progress=False)
    assert c.path not in (a.path, b.path)


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
