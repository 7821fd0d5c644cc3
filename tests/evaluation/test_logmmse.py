import subprocess
import sys

import numpy as np
import pytest

from clearspeech.core.audio import load_mono, rms
from clearspeech.data.mixing import mix
from clearspeech.evaluation.logmmse import LogMmseConfig, enhance
from clearspeech.evaluation.metrics import score

RATE = 16000


def white(samples: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(samples).astype(np.float32)


def attenuation_db(output: np.ndarray, noisy: np.ndarray) -> float:
    return 20.0 * np.log10(rms(output) / rms(noisy))


# slt's files start with >= 0.15 s of silence, which the leading-frames noise estimate needs;
# bdl's in the shared subset start speaking within about 50 ms.
@pytest.mark.parametrize("utterance", ["arctic_a0003", "arctic_a0016"])
@pytest.mark.parametrize("noise_kind", ["machine", "water"])
@pytest.mark.parametrize("snr", [5.0, 15.0])
def test_improves_real_speech_in_real_stationary_noise(shared_data, utterance, noise_kind, snr):
    clean = load_mono(shared_data / "arctic" / "cmu_us_slt_arctic" / "wav" / f"{utterance}.wav", RATE)
    noise_file = min((shared_data / "noise" / noise_kind).iterdir())  # one file per folder
    noise = load_mono(noise_file, RATE)[5 * RATE: 5 * RATE + clean.size]  # past any fade-in
    mixture = mix(clean, noise, snr)
    enhanced = enhance(mixture.noisy, RATE)
    assert enhanced.shape == mixture.noisy.shape and enhanced.dtype == np.float32
    before = score(mixture.noisy, mixture.clean, RATE).values
    after = score(enhanced, mixture.clean, RATE).values
    assert after["si_sdr"] > before["si_sdr"] + 3.0
    assert after["pesq_wb"] > before["pesq_wb"] + 0.15


def test_stationary_noise_alone_is_attenuated_by_more_than_10_db():
    noisy = 0.01 * white(3 * RATE)
    assert attenuation_db(enhance(noisy, RATE), noisy) < -10.0


def test_the_noise_estimate_follows_a_rising_noise_floor():
    noisy = 0.01 * white(3 * RATE)
    noisy[RATE:] *= 1.5  # +3.5 dB after 1 s: only the VAD-driven update can learn it
    late = slice(2 * RATE, None)
    tracked = attenuation_db(enhance(noisy, RATE)[late], noisy[late])
    fixed = attenuation_db(enhance(noisy, RATE, LogMmseConfig(noise_update=False))[late], noisy[late])
    assert tracked < -15.0 and tracked < fixed - 5.0


@pytest.mark.parametrize("samples", [12345, 300])
def test_length_is_kept_and_output_is_deterministic(samples):
    noisy = 0.1 * white(samples, seed=2)
    first = enhance(noisy, RATE)
    assert first.shape == (samples,) and first.dtype == np.float32
    np.testing.assert_array_equal(first, enhance(noisy, RATE))


def test_digital_silence_stays_silent():
    assert not np.any(enhance(np.zeros(RATE, dtype=np.float32), RATE))


@pytest.mark.parametrize("bad, message", [(np.full(RATE, np.nan, np.float32), "NaN"),
                                          (np.zeros(100, np.float32), "more than 256 samples"),
                                          (np.zeros((RATE, 2), np.float32), "mono")])
def test_bad_input_raises(bad, message):
    with pytest.raises(ValueError, match=message):
        enhance(bad, RATE)


def test_numpy_error_state_is_unchanged_by_import_and_use():
    code = ("import numpy as np; before = np.geterr(); from clearspeech.evaluation.logmmse import enhance; "
            "enhance(np.random.default_rng(0).standard_normal(16000).astype(np.float32), 16000); "
            "enhance(np.zeros(16000, np.float32), 16000); assert np.geterr() == before, np.geterr()")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_quietest_frames_keep_the_noise_estimate_clean_when_speech_starts_at_once(shared_data):
    clean = load_mono(shared_data / "arctic" / "cmu_us_slt_arctic" / "wav" / "arctic_a0003.wav", RATE)
    clean = clean[int(np.argmax(np.abs(clean) > 0.05 * np.abs(clean).max())):]  # cut the leading silence
    noise = load_mono(min((shared_data / "noise" / "machine").iterdir()), RATE)[5 * RATE: 5 * RATE + len(clean)]
    noisy = mix(clean, noise, 15.0).noisy
    quietest = score(enhance(noisy, RATE, LogMmseConfig(noise_init="quietest")), clean, RATE).values["si_sdr"]
    leading = score(enhance(noisy, RATE, LogMmseConfig(noise_init="leading")), clean, RATE).values["si_sdr"]
    assert quietest > leading + 1.0

