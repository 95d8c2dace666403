import warnings

import numpy as np
import pytest
import soundfile as sf

from asdlib.audio import (AudioError, ClipLengthWarning, SilentClipWarning, check_lengths, load_audio,
                          write_audio)


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


def test_non_finite_samples_are_an_error_naming_the_file(tmp_path):
    y = np.zeros(16_000, dtype=np.float32)
    y[100] = np.nan
    sf.write(tmp_path / "nan.wav", y, 16_000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan.wav: 1 sample\(s\) are not finite"):
        load_audio(tmp_path / "nan.wav")


def test_a_silent_clip_reads_with_a_warning_naming_it(tmp_path, rng):
    sf.write(tmp_path / "zero.wav", np.zeros(16_000), 16_000, subtype="PCM_16")
    y = rng.integers(-1000, 1000, 16_000) / 32768  # exact in 16 bits: the channels cancel exactly
    sf.write(tmp_path / "cancel.wav", np.stack([y, -y], axis=1), 16_000, subtype="PCM_16")
    with pytest.warns(SilentClipWarning, match="zero.wav: the clip is silent \\(digital silence\\)"):
        load_audio(tmp_path / "zero.wav")
    with pytest.warns(SilentClipWarning, match="cancel.wav: .*channels cancel"):
        load_audio(tmp_path / "cancel.wav")


def test_a_clip_of_another_length_is_named_in_a_warning(tmp_path):
    from types import SimpleNamespace

    for i, seconds in enumerate((2, 2, 2, 1)):
        sf.write(tmp_path / f"c{i}.wav", np.zeros(16_000 * seconds) + 0.1, 16_000, subtype="PCM_16")
    clips = [SimpleNamespace(path=p) for p in sorted(tmp_path.glob("*.wav"))]
    with pytest.warns(ClipLengthWarning, match=r"c3.wav: 1.00 s long where the other clips .* are 2.00 s"):
        check_lengths(clips)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_lengths(clips[:3])  # all alike: silent
