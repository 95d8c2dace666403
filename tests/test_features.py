import numpy as np
import pytest
import scipy.ndimage
import torch

from asdlib.audio import load_audio
from asdlib.features import LogMel, ae_vectors, cnn_patches, median_filter, official_logmel
from asdlib.layout import list_clips


def _signals(rng, tiny_data):
    t = np.arange(160_000) / 16_000
    sig = {
        "white noise": 0.1 * rng.standard_normal(t.size),
        "quiet noise": 1e-4 * rng.standard_normal(t.size),
        "loud low tone": 0.99 * np.sin(2 * np.pi * 100 * t),
        "two tones": 0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * np.sin(2 * np.pi * 7000 * t),
        "chirp": 0.5 * np.sin(2 * np.pi * (50 + 400 * t) * t),
    }
    sig = {k: v.astype(np.float32) for k, v in sig.items()}
    for machine in ("fan", "valve"):
        clip = [c for c in list_clips(tiny_data / "dev_data", machine, split="test")
                if c.label == "anomaly"][0]
        sig[f"synthetic {machine}"] = load_audio(clip.path)
    return sig


def test_logmel_matches_the_official_librosa_computation(rng, tiny_data):
    lm = LogMel()
    for name, y in _signals(rng, tiny_data).items():
        ref = official_logmel(y)
        got = lm(torch.from_numpy(y)).numpy()
        assert got.shape == ref.shape == (128, 313) and got.dtype == np.float32
        above = ref > -100
        assert np.abs(got - ref)[above].max() <= 0.01, name


def test_logmel_is_batched(rng):
    x = torch.from_numpy(rng.standard_normal((3, 16_000)).astype(np.float32))
    batch = LogMel()(x)
    assert batch.shape == (3, 128, 32)
    torch.testing.assert_close(batch[1], LogMel()(x[1]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_logmel_on_cuda(rng):
    x = torch.from_numpy(rng.standard_normal((2, 16_000)).astype(np.float32))
    torch.testing.assert_close(LogMel().cuda()(x.cuda()).cpu(), LogMel()(x), atol=1e-3, rtol=0)


def test_ae_vectors_layout_and_views(rng):
    spec = torch.from_numpy(rng.standard_normal((313, 128)).astype(np.float32)).T  # as the cache stores
    v = ae_vectors(spec)
    assert v.shape == (309, 640)
    assert v.data_ptr() == spec.data_ptr() and v._base is not None  # a view, no copy
    # the official layout: vector t = [frame t, frame t+1, ..., frame t+4], 128 mels each
    for t in (0, 100, 308):
        np.testing.assert_array_equal(v[t].numpy(), spec[:, t:t + 5].T.reshape(-1).numpy())
    batched = ae_vectors(torch.stack([spec, spec]))
    assert batched.shape == (2, 309, 640)


def test_cnn_patches_train_and_test_hops(rng):
    spec = torch.from_numpy(rng.standard_normal((313, 128)).astype(np.float32)).T
    train, test = cnn_patches(spec, hop=8), cnn_patches(spec, hop=1)
    assert train.shape == (32, 64, 128) and test.shape == (250, 64, 128)
    assert train.data_ptr() == spec.data_ptr()
    np.testing.assert_array_equal(train[3].numpy(), spec[:, 24:88].T.numpy())
    with pytest.raises(ValueError, match="too short"):
        cnn_patches(spec[:, :10])


@pytest.mark.parametrize("mode", ["reflect", "mirror"])
@pytest.mark.parametrize("kernel", [31, 5, 1])
def test_median_filter_matches_scipy(rng, mode, kernel):
    x = rng.standard_normal((2, 3, 16, 100)).astype(np.float32)
    ref = scipy.ndimage.median_filter(x, size=(1, 1, 1, kernel), mode=mode)
    got = median_filter(torch.from_numpy(x), kernel=kernel, mode=mode, chunk=4).numpy()
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("mode", ["reflect", "mirror"])
def test_the_cpus_running_median_equals_the_median_of_each_window_to_the_bit(rng, mode):
    from asdlib.features import _median_windows

    # values in a few steps of a dB, so that most windows hold ties; rows as short as the padding allows
    for frames, dtype in [(64, np.float32), (313, np.float32), (16, np.float64), (17, np.float32)]:
        x = torch.from_numpy((np.round(rng.normal(-40, 3, size=(3, 20, frames))) / 4).astype(dtype))
        got = median_filter(x, kernel=31, mode=mode)
        assert torch.equal(got, _median_windows(x, 15, mode, chunk=16)) and got.dtype == x.dtype
    for view in (x.transpose(1, 2)[..., :15],  # not contiguous
                 x.transpose(1, 2).contiguous().transpose(1, 2)):  # frames-major, as the chunk front end gives
        got, want = median_filter(view, kernel=9, mode=mode), _median_windows(view, 4, mode, chunk=16)
        # the same layout too: the network's convolutions give other last bits for another one
        assert torch.equal(got, want) and got.stride() == want.stride()
    x[1, 2, 5] = float("nan")  # a NaN: the window path, which gives NaN where a window holds it
    got = median_filter(x, kernel=5, mode=mode)
    assert got[1, 2, 3:8].isnan().all() and not got[0].isnan().any()
    grad = x[0].clone().requires_grad_()
    assert median_filter(grad, kernel=5, mode=mode).requires_grad  # the window path keeps the graph


def test_median_filter_bad_input():
    with pytest.raises(ValueError, match="odd"):
        median_filter(torch.zeros(4, 50), kernel=30)
    with pytest.raises(ValueError, match="too short"):
        median_filter(torch.zeros(4, 10), kernel=31)
