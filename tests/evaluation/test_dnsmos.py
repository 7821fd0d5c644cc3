import numpy as np
import pytest

from clearspeech.data import demo
from clearspeech.evaluation.dnsmos import DNSMOS_METRICS, DnsmosError, dnsmos, dnsmos_many


def _speech(seconds: float = 3.0) -> np.ndarray:
    clean = demo.utterance("demo_female", 1, seed=0)
    return np.tile(clean, int(np.ceil(seconds * demo.SAMPLE_RATE / len(clean))))[: int(seconds * demo.SAMPLE_RATE)]


def test_noise_lowers_background_score_and_rates_are_resampled():
    clean = _speech()
    noisy = clean + 0.05 * np.random.default_rng(0).standard_normal(len(clean)).astype(np.float32)
    a, b = dnsmos(clean, demo.SAMPLE_RATE), dnsmos(noisy, demo.SAMPLE_RATE)
    assert set(a) == set(DNSMOS_METRICS) and all(1.0 <= v <= 5.0 for v in (*a.values(), *b.values()))
    assert b["dnsmos_bak"] < a["dnsmos_bak"] - 0.3
    at_8k = dnsmos(clean[::2].copy(), demo.SAMPLE_RATE // 2)
    assert all(1.0 <= v <= 5.0 for v in at_8k.values())


def test_short_and_silent_clips_get_a_reason_not_a_number():
    with pytest.raises(DnsmosError, match="too short for DNSMOS: 0.50 s"):
        dnsmos(_speech(0.5), demo.SAMPLE_RATE)
    with pytest.raises(DnsmosError, match="silent"):
        dnsmos(np.zeros(32000, dtype=np.float32), demo.SAMPLE_RATE)
    results = dnsmos_many([np.zeros(32000, dtype=np.float32), _speech(2.0)], demo.SAMPLE_RATE, workers=1)
    assert isinstance(results[0], str) and isinstance(results[1], dict)
