import numpy as np
import pytest

from clearspeech.data import demo
from clearspeech.data.mixing import measured_snr, mix, noise_segment, region_bounds, snr_gain


@pytest.mark.parametrize("snr", [-5.0, 0.0, 15.0, 20.0, 25.0])
def test_mix_hits_the_snr_exactly(snr):
    clean = demo.utterance("demo_female", 0, seed=0)
    noise = demo.noise("demo_babble", len(clean) / 16000, seed=0)[: len(clean)]
    result = mix(clean, noise, snr)
    assert abs(measured_snr(result.noisy, result.clean) - snr) < 1e-3
    assert np.abs(result.noisy).max() <= 0.99 + 1e-6


def test_loud_mixtures_are_scaled_with_their_target_not_clipped():
    clean = np.sin(np.linspace(0, 200, 16000)).astype(np.float32) * 0.95
    noise = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    result = mix(clean, noise, 0.0, peak=0.99)
    assert result.scale < 1.0
    assert np.abs(result.noisy).max() == pytest.approx(0.99, abs=1e-6)
    np.testing.assert_allclose(result.clean, clean * result.scale, rtol=1e-6)
    assert abs(measured_snr(result.noisy, result.clean)) < 1e-3


def test_silent_noise_is_rejected():
    with pytest.raises(ValueError, match="silent"):
        snr_gain(np.ones(10, dtype=np.float32), np.zeros(10, dtype=np.float32), 10.0)


def test_regions_partition_the_timeline():
    bounds = [region_bounds(1000, (0.6, 0.2, 0.2), i) for i in range(3)]
    assert bounds == [(0, 600), (600, 800), (800, 1000)]


def test_noise_segment_wraps_inside_its_region():
    timeline = np.arange(100, dtype=np.float32)
    segment = noise_segment(timeline, 30, 60, 80, 70)
    assert segment.min() >= 60 and segment.max() < 80
    assert segment[:10].tolist() == list(range(70, 80)) and segment[10] == 60
