"""Tests for the generated demo corpus (clearspeech.data.demo)."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from scipy import signal

from clearspeech.data.demo import (
    NOISE_KINDS,
    SAMPLE_RATE,
    SPEAKERS,
    noise,
    utterance,
)

RATE = SAMPLE_RATE
# Slightly wider than the voices' ranges: autocorrelation lags are whole samples.
F0_BOUNDS = {"demo_male": (80.0, 160.0), "demo_female": (160.0, 262.0)}


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[np.ndarray]]:
    return {speaker: [utterance(speaker, i, seed=7) for i in range(24)] for speaker in SPEAKERS}


@pytest.fixture(scope="module")
def noises() -> dict[str, np.ndarray]:
    return {kind: noise(kind, 6.0, seed=3) for kind in NOISE_KINDS}


def frame_f0s(x: np.ndarray, rate: int = RATE) -> np.ndarray:
    """Autocorrelation f0 (Hz) of each loud 40 ms frame, i.e. one inside a vowel."""
    low = signal.sosfiltfilt(signal.butter(4, 900, fs=rate, output="sos"), x.astype(np.float64))
    frame = int(0.04 * rate)
    frames = np.lib.stride_tricks.sliding_window_view(low, frame)[:: frame // 2]
    energy = np.mean(frames**2, axis=1)
    shortest, longest = rate // 400, rate // 60
    f0s = []
    for chunk in frames[energy > 0.3 * energy.max()]:
        chunk = chunk - chunk.mean()
        ac = np.correlate(chunk, chunk, "full")[frame - 1 :]
        f0s.append(rate / (shortest + np.argmax(ac[shortest:longest])))
    return np.array(f0s)


def windowed_rms(x: np.ndarray, seconds: float = 0.5, hop: float = 0.1) -> np.ndarray:
    """RMS of every ``seconds`` window, one per ``hop`` seconds."""
    power = np.convolve(x.astype(np.float64) ** 2, np.ones(int(seconds * RATE)), "valid")
    return np.sqrt(power[:: int(hop * RATE)] / int(seconds * RATE))


def band_levels_db(x: np.ndarray) -> np.ndarray:
    """Share of the power in octave bands up to Nyquist, in dB."""
    power = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    freq = np.fft.rfftfreq(x.size, 1 / RATE)
    edges = [0, 125, 250, 500, 1000, 2000, 4000, RATE / 2 + 1]
    bands = np.array([power[(freq >= lo) & (freq < hi)].sum() for lo, hi in itertools.pairwise(edges)])
    return 10 * np.log10(bands / bands.sum())


def test_two_demo_speakers_and_five_demo_noise_kinds():
    assert set(SPEAKERS) == {"demo_male", "demo_female"}
    assert len(NOISE_KINDS) == 5 == len(set(NOISE_KINDS))
    assert all(kind.startswith("demo_") for kind in NOISE_KINDS)
    male, female = SPEAKERS["demo_male"], SPEAKERS["demo_female"]
    assert 80 <= male.f0_low < male.f0_high <= 160 < 165 <= female.f0_low < female.f0_high <= 260
    assert female.formant_scale > male.formant_scale
    with pytest.raises(dataclasses.FrozenInstanceError):
        male.f0_low = 50.0


def test_utterance_is_deterministic_and_varies_with_every_argument():
    first = utterance("demo_male", 5, seed=1)
    np.testing.assert_array_equal(first, utterance("demo_male", 5, seed=1))
    for other in (utterance("demo_male", 6, 1), utterance("demo_male", 5, 2), utterance("demo_female", 5, 1)):
        assert other.shape != first.shape or not np.array_equal(other, first)


def test_utterance_format_level_and_duration(corpus):
    durations = []
    for x in itertools.chain(*corpus.values()):
        assert x.dtype == np.float32 and x.ndim == 1
        assert np.isfinite(x).all()
        assert abs(np.abs(x).max() - 0.5) < 0.01
        durations.append(x.size / RATE)
    assert 1.0 <= min(durations) and max(durations) <= 4.8
    assert np.std(durations) > 0.4  # drawn per utterance, not a fixed length


def test_longest_possible_utterances_stay_within_limit():
    assert max(utterance("demo_female", i, seed=0).size for i in range(200)) <= 4.8 * RATE


def test_utterance_edges_are_near_silent_but_not_digital_zero(corpus):
    for x in itertools.chain(*corpus.values()):
        for edge in (x[: int(0.1 * RATE)], x[-int(0.1 * RATE) :]):
            assert np.abs(edge).max() < 0.005  # under -40 dB relative to the 0.5 peak
            assert np.count_nonzero(edge) == edge.size


def test_utterances_have_syllables_and_pauses(corpus):
    for x in itertools.chain(*corpus.values()):
        frames = x[: x.size // 160 * 160].reshape(-1, 160).astype(np.float64)
        level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
        loud = level > level.max() - 20
        onsets = np.count_nonzero(loud[1:] & ~loud[:-1])
        assert onsets >= 2 or x.size < 1.3 * RATE
        assert 0.1 < np.mean(level < level.max() - 40) < 0.8  # gaps drop deep, as speech does


@pytest.mark.parametrize("speaker", sorted(F0_BOUNDS))
def test_f0_lies_in_speaker_range(corpus, speaker):
    lo, hi = F0_BOUNDS[speaker]
    f0s = np.concatenate([frame_f0s(x) for x in corpus[speaker]])
    assert f0s.size > 50
    assert np.all((f0s >= lo) & (f0s <= hi)), (f0s.min(), f0s.max())


def test_female_f0_is_higher_and_pitch_moves(corpus):
    male = np.concatenate([frame_f0s(x) for x in corpus["demo_male"]])
    female = np.concatenate([frame_f0s(x) for x in corpus["demo_female"]])
    assert female.mean() > male.mean() + 50
    assert male.std() > 5 and female.std() > 5  # a contour, not a monotone buzz


def test_speech_energy_is_mostly_below_4khz(corpus):
    for x in itertools.chain(*corpus.values()):
        power = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
        freq = np.fft.rfftfreq(x.size, 1 / RATE)
        assert power[freq < 4000].sum() > 0.9 * power.sum()


@pytest.mark.parametrize("rate", [8000, 22050])
def test_utterance_at_other_rates(rate):
    x = utterance("demo_female", 0, seed=0, rate=rate)
    assert 1.0 * rate <= x.size <= 4.8 * rate and np.isfinite(x).all()


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_noise_length_level_and_determinism(kind):
    x = noise(kind, 2.37, seed=11)
    assert x.dtype == np.float32 and x.shape == (round(2.37 * RATE),)
    assert np.isfinite(x).all() and 0.1 < np.abs(x).max() <= 0.9
    np.testing.assert_array_equal(x, noise(kind, 2.37, seed=11))
    assert not np.array_equal(x, noise(kind, 2.37, seed=12))


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_noise_is_never_silent_and_varies_over_time(noises, kind):
    x = noises[kind]
    rms = windowed_rms(x)
    overall = np.sqrt(np.mean(x.astype(np.float64) ** 2))
    assert rms.min() > max(1e-3, 0.05 * overall), rms.min()
    assert rms.max() > 1.1 * rms.min()


def test_noise_kinds_differ_from_each_other(noises):
    levels = {kind: band_levels_db(x) for kind, x in noises.items()}
    for a, b in itertools.combinations(NOISE_KINDS, 2):
        assert np.abs(levels[a] - levels[b]).max() > 3.0, (a, b)
        shortest = min(noises[a].size, noises[b].size)
        assert abs(np.corrcoef(noises[a][:shortest], noises[b][:shortest])[0, 1]) < 0.5


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_noise_at_other_rate(kind):
    x = noise(kind, 1.0, seed=0, rate=8000)
    assert x.shape == (8000,) and np.isfinite(x).all()


def test_unknown_names_raise_listing_known_ones():
    with pytest.raises(ValueError, match="demo_male.*demo_female|demo_female.*demo_male"):
        utterance("alice", 0, seed=0)
    with pytest.raises(ValueError) as err:
        noise("rain", 1.0, seed=0)
    assert all(kind in str(err.value) for kind in NOISE_KINDS)


@pytest.mark.parametrize("seconds", [0.0, -1.0])
def test_noise_rejects_empty_length(seconds):
    with pytest.raises(ValueError, match="seconds"):
        noise("demo_music", seconds, seed=0)


def test_rate_too_low_is_rejected():
    with pytest.raises(ValueError, match="8000"):
        utterance("demo_male", 0, seed=0, rate=4000)
