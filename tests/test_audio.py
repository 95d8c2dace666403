import numpy as np
import pytest
import soundfile as sf

from asdlib.audio import AudioError, load_audio, write_audio


def test_round_trip_is_float32_mono(tmp_path, rng):
    y = 0.3 * rng.standard_normal(16000).clip(-3, 3) / 3
    path = write_audio(tmp_path / "a.wav", y)
    assert sf.info(path).subtype == "PCM_16"
    z = load_audio(path)
    assert z.dtype == np.float32 and z.shape == (16000,)
    assert np.max(np.abs(z - y)) < 2 ** -15 + 1e-7


def test_channels_are_averaged(tmp_path, rng):
    st = rng.uniform(-0.5, 0.5, (800, 2))
    sf.write(tmp_path / "s.wav", st, 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(tmp_path / "s.wav"), st.mean(axis=1), atol=1e-6)


def test_other_sample_rate_is_an_error_naming_both_rates(tmp_path):
    sf.write(tmp_path / "r.wav", np.zeros(441), 44100)
    with pytest.raises(AudioError, match=r"r\.wav: sample rate is 44100 Hz, expected 16000 Hz"):
        load_audio(tmp_path / "r.wav")


def test_truncated_and_corrupt_files(tmp_path, rng):
    path = write_audio(tmp_path / "t.wav", rng.uniform(-0.1, 0.1, 16000))
    data = path.read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match=r"cut\.wav: truncated WAV"):
        load_audio(tmp_path / "cut.wav")
    (tmp_path / "junk.wav").write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(AudioError, match=r"junk\.wav: cannot decode"):
        load_audio(tmp_path / "junk.wav")
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "missing.wav")
