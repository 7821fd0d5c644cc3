import subprocess
import sys

import numpy as np
import pytest

from clearspeech.core.audio import load_mono, resample
from clearspeech.data import demo as corpus_demo
from clearspeech.data.mixing import mix
from clearspeech.evaluation.metrics import METRICS, score, score_many, si_sdr

RATE = 16000


@pytest.fixture
def speech(shared_data):
    """A real 3.2 s ARCTIC utterance (slt), float32 (samples,)."""
    return load_mono(shared_data / "arctic" / "cmu_us_slt_arctic" / "wav" / "arctic_a0003.wav", RATE)


@pytest.fixture
def demo():
    """A generated speech-like signal, for the paths where real speech does not matter."""
    return corpus_demo.utterance("demo_female", 0, seed=0)


def white(samples: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(samples).astype(np.float32)


def test_a_clean_utterance_against_itself_scores_the_maximum(speech):
    result = score(speech, speech, RATE)
    assert result.errors == {}
    assert set(result.values) == set(METRICS)
    assert result.values["pesq_wb"] == pytest.approx(4.644, abs=0.005)  # P.862.2's ceiling
    assert result.values["pesq_nb"] > 4.4
    assert result.values["stoi"] > 0.99 and result.values["estoi"] > 0.99
    assert 60.0 < result.values["si_sdr"] < np.inf


def test_more_white_noise_scores_worse_on_every_metric(speech):
    noise = white(speech.size)
    by_snr = [score(m.noisy, m.clean, RATE).values for m in (mix(speech, noise, snr) for snr in (30.0, 10.0, 0.0))]
    for metric in METRICS:
        high, mid, low = (values[metric] for values in by_snr)
        assert high > mid > low, metric


@pytest.mark.parametrize("gain", [1e-3, 0.5, 7.0, -1.0])
def test_si_sdr_ignores_the_scale_of_the_estimate(demo, gain):
    estimate = demo + 0.05 * white(demo.size)
    assert si_sdr(gain * estimate, demo) == pytest.approx(si_sdr(estimate, demo), abs=1e-6)


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0])
def test_si_sdr_equals_the_snr_for_independent_noise(demo, snr):
    mixture = mix(demo, white(demo.size, seed=1), snr)
    assert si_sdr(mixture.noisy, mixture.clean) == pytest.approx(snr, abs=0.5)


def test_si_sdr_rejects_a_silent_reference(demo):
    with pytest.raises(ValueError, match="reference is silent"):
        si_sdr(demo, np.zeros_like(demo))


def test_a_silent_reference_is_an_error_for_every_metric_not_a_number(demo):
    result = score(demo, np.zeros_like(demo), RATE)
    assert result.values == {}
    assert set(result.errors) == set(METRICS)
    assert all("reference is silent" in reason for reason in result.errors.values())


def test_a_silent_estimate_has_no_pesq_and_no_si_sdr(demo):
    result = score(np.zeros_like(demo), demo, RATE)
    assert {"pesq_wb", "pesq_nb", "si_sdr"} <= set(result.errors)
    assert "silent" in result.errors["pesq_wb"]
    assert not set(result.values) & set(result.errors)


def test_too_short_for_pesq_and_stoi_is_recorded(demo):
    clip = demo[RATE // 2: RATE // 2 + int(0.2 * RATE)]  # 0.2 s from inside the speech
    result = score(clip, clip, RATE)
    for metric in ("pesq_wb", "pesq_nb"):
        assert "shorter than PESQ's minimum of 0.25 s" in result.errors[metric]
    assert "no speech frames" in result.errors["stoi"]
    assert "too short" in score(clip[:200], clip[:200], RATE).errors["estoi"]
    assert set(result.values) == {"si_sdr"}


def test_other_rates_are_resampled_to_16_khz_for_pesq(demo):
    at_11k = resample(demo, RATE, 11025)
    result = score(at_11k, at_11k, 11025)
    assert result.errors == {}
    assert result.values["pesq_wb"] > 4.5 and result.values["pesq_nb"] > 4.4


def test_rates_below_8_khz_have_no_pesq(demo):
    at_4k = resample(demo, RATE, 4000)
    result = score(at_4k, at_4k, 4000)
    assert "at least 8000 Hz" in result.errors["pesq_wb"] and "at least 8000 Hz" in result.errors["pesq_nb"]
    assert {"stoi", "estoi", "si_sdr"} == set(result.values)


def test_unequal_lengths_raise_naming_both(demo):
    with pytest.raises(ValueError, match=f"{demo.size - 1} samples but reference has {demo.size}"):
        score(demo[:-1], demo, RATE)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_raises(demo, bad):
    broken = demo.copy()
    broken[100] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        score(broken, demo, RATE)
    with pytest.raises(ValueError, match="NaN or infinite"):
        si_sdr(demo, broken)


def test_score_many_in_parallel_matches_serial(demo):
    mixtures = [mix(demo, white(demo.size, seed), snr) for seed, snr in enumerate((0.0, 10.0, 20.0))]
    pairs = [(m.noisy, m.clean) for m in mixtures] + [(demo[:3000], demo[:3000])]  # last: errors
    serial = score_many(pairs, RATE, workers=1)
    assert score_many(iter(pairs), RATE, workers=2) == serial  # exact, ESTOI included
    assert serial[1] == score(*pairs[1], RATE)
    assert serial[0].values["si_sdr"] < serial[1].values["si_sdr"] < serial[2].values["si_sdr"]
    assert "pesq_wb" in serial[3].errors


def test_scoring_leaves_numpy_global_state_alone(demo):
    errors, rng_state = np.geterr(), np.random.get_state()
    score(demo + 0.1 * white(demo.size), demo, RATE)
    score(np.zeros_like(demo), demo, RATE)
    assert np.geterr() == errors
    after = np.random.get_state()  # ESTOI draws from the global RNG; it must be restored
    assert after[0] == rng_state[0] and np.array_equal(after[1], rng_state[1]) and after[2:] == rng_state[2:]


def test_importing_has_no_numpy_side_effects():
    code = ("import numpy as np; before = np.geterr(); import clearspeech.evaluation.metrics; "
            "assert np.geterr() == before, np.geterr()")
    subprocess.run([sys.executable, "-c", code], check=True)
