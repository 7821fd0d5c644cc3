import numpy as np
import pytest
import torch

from clearspeech.core.audio import resample
from clearspeech.data import demo
from clearspeech.inference.enhancer import ChunkSeconds, Enhancer
from clearspeech.models.checkpoint import load_checkpoint

from conftest import real_noisy_speech, write_checkpoint


@pytest.mark.parametrize("samples", [1, 100, 511, 16000, 23457])
def test_any_length_comes_back_with_the_same_length(tmp_path, samples):
    enhancer = Enhancer.from_checkpoint(write_checkpoint(tmp_path / "m.pt"))
    out = enhancer.enhance(np.random.default_rng(0).standard_normal(samples).astype(np.float32) * 0.1)
    assert out.shape == (samples,) and out.dtype == np.float32 and np.isfinite(out).all()


def test_batch_equals_one_by_one(tmp_path):
    enhancer = Enhancer.from_checkpoint(write_checkpoint(tmp_path / "m.pt"))
    batch = np.stack([demo.utterance("demo_male", i, 0)[:16000] for i in range(2)])
    np.testing.assert_allclose(enhancer.enhance(batch), np.stack([enhancer.enhance(x) for x in batch]), atol=1e-5)


def test_a_mask_of_ones_gives_back_the_input(tmp_path):
    payload = load_checkpoint(write_checkpoint(tmp_path / "m.pt", target="irm"))
    payload["model_state"]["out.weight"].zero_()
    payload["model_state"]["out.bias"].fill_(30.0)  # sigmoid(30) = 1 - 1e-13
    enhancer = Enhancer(payload)
    speech = demo.utterance("demo_female", 1, 0)
    np.testing.assert_allclose(enhancer.enhance(speech), speech, atol=1e-4)


def test_mapping_target_uses_the_clean_statistics(tmp_path):
    payload = load_checkpoint(write_checkpoint(tmp_path / "m.pt", target="mapping"))
    payload["model_state"]["out.weight"].zero_()
    payload["model_state"]["out.bias"].zero_()
    payload["stats"]["clean_mean"] = [float(np.log(1e-3))] * 257  # every bin estimated at magnitude 1e-3
    enhancer = Enhancer(payload)
    out = enhancer.enhance_batch(torch.from_numpy(demo.utterance("demo_male", 0, 0))[None])
    assert 0 < float(out.abs().max()) < 0.01


def test_chunked_matches_the_whole_signal_pass_on_real_speech(tmp_path, shared_data):
    enhancer = Enhancer.from_checkpoint(write_checkpoint(tmp_path / "m.pt"))
    noisy = real_noisy_speech(shared_data, seconds=30.0)
    whole = enhancer.enhance(noisy)
    chunked = enhancer.enhance_signal(noisy[:, None], 16000, ChunkSeconds(chunk=8.0, context=1.0, fade=0.25))[:, 0]
    seam_error = 10 * np.log10(np.sum(whole**2) / np.sum((whole - chunked) ** 2))
    assert chunked.shape == whole.shape and seam_error > 60.0, seam_error
    assert np.abs(whole - chunked).max() < 1e-3


def test_other_rates_are_resampled_to_the_model_and_back(tmp_path, shared_data):
    enhancer = Enhancer.from_checkpoint(write_checkpoint(tmp_path / "m.pt"))
    noisy = real_noisy_speech(shared_data, seconds=4.0)
    at_44k = resample(noisy, 16000, 44100)
    out = enhancer.enhance_signal(np.stack([at_44k, 0.3 * at_44k], axis=1), 44100)
    assert out.shape == (len(at_44k), 2)
    # Same result as enhancing at 16 kHz and resampling the output (up to the two resamplings).
    expected = resample(enhancer.enhance(noisy), 16000, 44100)
    assert 10 * np.log10(np.sum(expected**2) / np.sum((expected - out[:, 0]) ** 2)) > 25.0
    # Each channel is enhanced on its own: the second equals enhancing it alone.
    alone = enhancer.enhance_signal(0.3 * at_44k[:, None], 44100)[:, 0]
    np.testing.assert_allclose(out[:, 1], alone, atol=1e-5)
