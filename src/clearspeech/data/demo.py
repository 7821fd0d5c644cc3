"""Generated demo corpus: speech-like signals and noises. THIS IS NOT SPEECH.

The ``synthetic`` download source uses this module so that the whole pipeline runs
offline, in minutes, on a fresh clone with no data files. Every signal is generated:
"utterances" are a source-filter toy (glottal pulses through moving vowel formants,
with fricative-like bursts) for two demo voices, and the noises are five simple
generated kinds. They are for offline runs and tests only; a model trained on them
is a demo, not a speech enhancer. Output is deterministic in its arguments.
"""

from __future__ import annotations

import zlib
from collections import namedtuple
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from scipy import signal

SAMPLE_RATE = 16000
MIN_SECONDS, MAX_SECONDS = 1.0, 4.8
UTTERANCE_PEAK = 0.5
NOISE_PEAK = 0.8
FLOOR = 1e-4  # std of the floor under "silence": real recordings are never digital zero


@dataclass(frozen=True)
class VoiceSpec:
    """One demo voice: f0 range (Hz), formant scaling, glottal open quotient,
    aspiration noise relative to the pulses, and mean vowel length (s)."""

    f0_low: float
    f0_high: float
    formant_scale: float
    open_quotient: float
    breathiness: float
    vowel_seconds: float


SPEAKERS: dict[str, VoiceSpec] = {
    "demo_male": VoiceSpec(85.0, 155.0, 1.0, 0.55, 0.03, 0.20),
    "demo_female": VoiceSpec(165.0, 255.0, 1.17, 0.65, 0.06, 0.18),
}

# Adult male formants F1-F4 (Hz) after Peterson & Barney, rows /a/ /i/ /u/ /e/ /o/.
_VOWELS = np.array(
    [[730, 1090, 2440, 3400], [270, 2290, 3010, 3700], [300, 870, 2240, 3300],
     [530, 1840, 2480, 3500], [570, 840, 2410, 3300]], dtype=float)
_BANDWIDTHS = np.array([80.0, 100.0, 140.0, 200.0])
_FRICATIVE_BANDS = ((4000.0, 7000.0), (2000.0, 4500.0), (1200.0, 6000.0))  # /s/ /sh/ /f/


# fricative: first sample of the fricative onset (== start when none); start: first voiced one.
_Syllable = namedtuple("_Syllable", "fricative start length vowel")


def _lookup(table: dict, name: str, what: str, rate: int):
    if name not in table:
        raise ValueError(f"unknown {what} {name!r}; known: {', '.join(table)}")
    if rate < 8000:  # formants and fricative bands need a Nyquist frequency of 4 kHz or more
        raise ValueError(f"rate must be at least 8000 Hz, got {rate}")
    return table[name]


def _rng(seed: int, name: str, index: int) -> np.random.Generator:
    # crc32, not hash(): str hashes are salted per process and would break determinism.
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode()), index]))


def _walk(rng: np.random.Generator, n: int, step: float) -> np.ndarray:
    """Smooth random curve, shape (n,): N(0, 1) knots every ``step`` samples, linearly joined."""
    knots = rng.standard_normal(int(n / step) + 2)
    return np.interp(np.arange(n) / step, np.arange(knots.size), knots)


def _add_at(out: np.ndarray, pos: int, event: np.ndarray) -> None:
    """Add ``event`` into ``out`` starting at ``pos`` (may be negative), cropping at both ends."""
    lo, hi = max(pos, 0), min(out.size, pos + event.size)
    if hi > lo:
        out[lo:hi] += event[lo - pos:hi - pos]


@lru_cache(maxsize=128)
def _sos(rate: int, btype: str, edges: tuple[float, ...]) -> np.ndarray:
    return signal.butter(2, edges if len(edges) > 1 else edges[0], btype, fs=rate, output="sos")


def _filt(x: np.ndarray, rate: int, btype: str, *edges: float) -> np.ndarray:
    """Second-order Butterworth filter of ``x`` (any shape, along the last axis)."""
    caps = (0.3 * rate, 0.45 * rate)[-len(edges):]  # keeps bands ordered below Nyquist at 8 kHz
    edges = tuple(round(min(e, cap)) for e, cap in zip(edges, caps))
    return signal.sosfilt(_sos(rate, btype, edges), x)


def _colored(rng: np.random.Generator, n: int, rate: int, exponent: float) -> np.ndarray:
    """Unit-std noise with power ~ 1/f**exponent (1: pink, 2: brown) above 20 Hz, shape (n,).

    Nothing below 20 Hz: inaudible rumble would otherwise dominate the RMS used for SNRs."""
    freq = np.fft.rfftfreq(n, 1.0 / rate)
    shape = np.where(freq < 20.0, 0.0, np.maximum(freq, 20.0) ** (-exponent / 2))
    x = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * shape, n)
    return x / (x.std() + 1e-12)


def _plan(rng: np.random.Generator, voice: VoiceSpec, start: int, stop: int, rate: int):
    """Syllables (optional fricative onset, then a vowel) filling samples [start, stop)."""
    shortest, syllables, pos = int(0.08 * rate), [], start
    while True:
        fric = 0 if not syllables or rng.random() < 0.6 else int(rng.uniform(0.04, 0.1) * rate)
        length = int(rng.uniform(0.6, 1.5) * voice.vowel_seconds * rate)
        if pos + fric + shortest > stop:
            return syllables
        length = min(length, stop - pos - fric)
        syllables.append(_Syllable(pos, pos + fric, length, int(rng.integers(len(_VOWELS)))))
        pause = 0.25 if rng.random() < 0.15 else 0.05  # mostly short gaps, some phrase breaks
        pos += fric + length + int(rng.uniform(0.5, 1.5) * pause * rate)


def _pitch(rng: np.random.Generator, voice: VoiceSpec, syllables, n: int, rate: int) -> np.ndarray:
    """f0 in Hz, shape (n,): declining line, accents on some syllables, drift and jitter."""
    pos = np.arange(n)
    u = np.linspace(rng.uniform(0.55, 0.85), rng.uniform(0.1, 0.3), n)
    for s in syllables:
        if rng.random() < 0.4:
            centre, width = s.start + s.length / 2, s.length / 2
            u += rng.uniform(0.1, 0.25) * np.exp(-0.5 * ((pos - centre) / width) ** 2)
    u += 0.05 * _walk(rng, n, 0.25 * rate)
    f0 = voice.f0_low + (voice.f0_high - voice.f0_low) * np.clip(u, 0.0, 1.0)
    f0 *= 1.0 + 0.008 * _walk(rng, n, 0.005 * rate)  # cycle-scale jitter
    return np.clip(f0, voice.f0_low, voice.f0_high)


def _glottal(f0: np.ndarray, voice: VoiceSpec, rate: int) -> np.ndarray:
    """Rosenberg glottal-flow derivative (includes lip-radiation tilt), shape like ``f0``."""
    phase = np.cumsum(f0 / rate) % 1.0
    rise, fall = 0.7 * voice.open_quotient, 0.3 * voice.open_quotient  # opening is the slow part
    closing = np.cos(0.5 * np.pi * np.clip((phase - rise) / fall, 0.0, 1.0))
    flow = np.where(phase < rise, 0.5 - 0.5 * np.cos(np.pi * phase / rise),
                    np.where(phase < voice.open_quotient, closing, 0.0))
    return np.diff(flow, prepend=0.0)


def _formants(x: np.ndarray, syllables, voice: VoiceSpec, rate: int) -> np.ndarray:
    """Cascade of four resonators whose formants glide between vowel targets, shape like ``x``.

    Coefficients change every 10 ms block; the filter state carries across blocks."""
    block = rate // 100
    blocks = -(-x.size // block)
    times, targets, prev = [], [], syllables[0].vowel
    for s in syllables:  # glide from the previous vowel, reach the target 40 % into the vowel
        times += [s.start, s.start + 0.4 * s.length]
        targets += [_VOWELS[prev], _VOWELS[s.vowel]]
        prev = s.vowel
    centres, targets = (np.arange(blocks) + 0.5) * block, np.array(targets)
    freq = np.stack([np.interp(centres, times, targets[:, k]) for k in range(4)], axis=1)
    freq = np.minimum(freq * voice.formant_scale, 0.45 * rate)
    radius = np.exp(-np.pi * _BANDWIDTHS * voice.formant_scale / rate)
    a1, a2 = -2 * radius * np.cos(2 * np.pi * freq / rate), np.broadcast_to(radius**2, freq.shape)
    # One 8th-order denominator per block: a single lfilter call is ~10x cheaper than sosfilt.
    den = np.ones((blocks, 1))
    for k in range(4):
        den = (np.pad(den, ((0, 0), (0, 2))) + a1[:, k:k + 1] * np.pad(den, ((0, 0), (1, 1)))
               + a2[:, k:k + 1] * np.pad(den, ((0, 0), (2, 0))))
    gain = den.sum(axis=1)  # unit gain at DC, so level follows the source, not the vowel
    out, state = np.empty_like(x), np.zeros(8)
    for b in range(blocks):
        seg = slice(b * block, (b + 1) * block)
        out[seg], state = signal.lfilter(gain[b:b + 1], den[b], x[seg], zi=state)
    return out


def _speak(rng: np.random.Generator, voice: VoiceSpec, rate: int) -> np.ndarray:
    """One speech-like utterance for ``voice``, float64 shape (samples,), peak 0.5."""
    n = int(rng.uniform(MIN_SECONDS, MAX_SECONDS) * rate)
    lead, trail = (int(rng.uniform(0.1, 0.3) * rate) for _ in range(2))
    syllables = _plan(rng, voice, lead, n - trail, rate)
    envelope, hiss = np.zeros(n), np.zeros(n)
    for i, s in enumerate(syllables):
        loud = rng.uniform(0.6, 1.0) * (1.0 - 0.3 * i / len(syllables))  # loudness declines too
        attack, decay = rng.uniform(0.015, 0.04) * rate, rng.uniform(0.04, 0.1) * rate
        corners = [0, min(attack, s.length / 2), max(s.length - decay, s.length / 2), s.length]
        envelope[s.start:s.start + s.length] = loud * np.interp(
            np.arange(s.length), corners, [0, 1, 1, 0])
        if s.start > s.fricative:
            band = _FRICATIVE_BANDS[rng.integers(len(_FRICATIVE_BANDS))]
            burst = _filt(rng.standard_normal(s.start - s.fricative), rate, "bandpass", *band)
            hiss[s.fricative:s.start] = rng.uniform(0.1, 0.25) * burst * np.hanning(burst.size)
    source = _glottal(_pitch(rng, voice, syllables, n, rate), voice, rate)
    source += voice.breathiness * np.abs(source).max() * rng.standard_normal(n)
    voiced = _formants(source * envelope, syllables, voice, rate)
    out = voiced / np.abs(voiced).max() + hiss
    return UTTERANCE_PEAK * out / np.abs(out).max() + FLOOR * rng.standard_normal(n)


def utterance(speaker: str, index: int, seed: int, rate: int = SAMPLE_RATE) -> np.ndarray:
    """One generated speech-like demo utterance (not speech).

    Returns float32, shape (samples,), peak about 0.5, duration drawn per utterance in
    [1.0, 4.8) s with 0.1-0.3 s of near-silence at each end. Same arguments, same array.
    Raises ValueError for an unknown ``speaker`` (the message lists ``SPEAKERS``).
    """
    voice = _lookup(SPEAKERS, speaker, "speaker", rate)
    return _speak(_rng(seed, speaker, index), voice, rate).astype(np.float32)


def _decaying(rng: np.random.Generator, rate: int, freqs, decay: float, seconds: float):
    """Decaying sinusoids at ``freqs`` (Hz), k-th weighted 1/k, float64 shape (samples,)."""
    t = np.arange(int(seconds * rate)) / rate
    freqs = np.minimum(np.atleast_1d(freqs), 0.45 * rate)[:, None]
    tones = np.sin(2 * np.pi * freqs * t + rng.uniform(0, 2 * np.pi, freqs.shape))
    envelope = np.minimum(t / 0.002, 1.0) * np.exp(-t / decay)  # 2 ms attack: no onset click
    return (tones / np.arange(1, freqs.shape[0] + 1)[:, None]).sum(axis=0) * envelope


def _babble(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Restaurant-like babble: 4-7 overlapping streams of demo utterances, varied voices."""
    out = np.zeros(n)
    for talker in range(int(rng.integers(4, 8))):
        base = SPEAKERS[("demo_male", "demo_female")[talker % 2]]
        shift, tract = rng.uniform(0.85, 1.15), rng.uniform(0.93, 1.07)  # a different person
        voice = replace(base, f0_low=base.f0_low * shift, f0_high=base.f0_high * shift,
                                    formant_scale=base.formant_scale * tract)
        pos, gain = -int(rng.integers(0, 2 * rate)), rng.uniform(0.4, 1.0)  # stagger the pauses
        while pos < n:
            speech = _speak(rng, voice, rate)
            _add_at(out, pos, gain * speech)
            pos += speech.size - int(rng.uniform(0.2, 0.5) * rate)
    return out


def _burst(rng: np.random.Generator, rate: int, seconds: float, decay: float, btype: str,
           *edges: float) -> np.ndarray:
    """Filtered white noise with an exponential decay (drum hits), shape (samples,)."""
    hit = _filt(rng.standard_normal(int(seconds * rate)), rate, btype, *edges)
    return hit * np.exp(-np.arange(hit.size) / (decay * rate))


def _music(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Pop-like music: I-IV-V-vi chords, a melody note and bass per beat, kick/snare/hi-hat."""
    beat = int(rate * 60 / rng.uniform(84, 132))
    root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    chords = ((0, 4, 7), (5, 9, 12), (7, 11, 14), (9, 12, 16))
    harmonics = np.arange(1, 7)
    out = np.zeros(n)
    for b, pos in enumerate(range(0, n, beat)):
        if b % 4 == 0:  # a new chord each bar, held as a slowly decaying pad
            chord = root * 2 ** (np.array(chords[rng.integers(len(chords))]) / 12)
            for tone in chord:
                pad = _decaying(rng, rate, tone * harmonics[:4], 1.5, 4 * beat / rate)
                _add_at(out, pos, 0.2 * pad)
        melody = 2 * rng.choice(chord) * harmonics
        _add_at(out, pos, 0.5 * _decaying(rng, rate, melody, 0.25, beat / rate))
        _add_at(out, pos, 0.6 * _decaying(rng, rate, chord[0] / 2, 0.4, beat / rate))
        if b % 2 == 0:
            _add_at(out, pos, _decaying(rng, rate, 55.0, 0.06, 0.3))  # kick on 1 and 3
        else:
            _add_at(out, pos, 0.3 * _burst(rng, rate, 0.15, 0.05, "bandpass", 1000, 5000))  # snare
        for half in (0, beat // 2):
            _add_at(out, pos + half, 0.15 * _burst(rng, rate, 0.04, 0.01, "highpass", 6000))
    return out


def _machine(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Washing-machine-like: motor hum with harmonics, drum-rotation sloshing and thumps, rumble."""
    t = np.arange(n) / rate
    motor = rng.uniform(45, 70) * (1 + 0.04 * _walk(rng, n, 2 * rate))  # motor speed wanders
    phase = 2 * np.pi * np.cumsum(motor) / rate
    hum = sum(np.sin(h * phase + rng.uniform(0, 2 * np.pi)) / h for h in range(1, 9))
    drum = rng.uniform(0.7, 1.5)  # rotations per second
    slosh = _filt(rng.standard_normal(n), rate, "bandpass", 150, 900)
    slosh *= (0.5 + 0.5 * np.sin(2 * np.pi * drum * t)) ** 3
    out = 0.3 * hum + slosh + 0.7 * _filt(_colored(rng, n, rate, 2.0), rate, "lowpass", 250)
    for pos in np.arange(0, n, rate / drum).astype(int):
        _add_at(out, pos, rng.uniform(0.5, 1.5) * _decaying(rng, rate, 40.0, 0.06, 0.3))
    return out


def _traffic(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Traffic / sports-field-like: low-passed brown and pink noise with slow level changes
    and occasional passing vehicles (noise swell plus an engine tone with a Doppler glide)."""
    out = _filt(_colored(rng, n, rate, 2.0), rate, "lowpass", rng.uniform(600, 1500))
    out += 0.3 * _filt(_colored(rng, n, rate, 1.0), rate, "lowpass", 3000)
    out *= 10 ** (0.25 * _walk(rng, n, 2 * rate))
    for _ in range(1 + rng.poisson(n / rate / 5)):
        m = int(rng.uniform(2, 5) * rate)
        u = np.linspace(-0.5, 0.5, m)
        engine = rng.uniform(70, 140) * (1 - 0.06 * np.tanh(12 * u))  # higher, then lower
        hum = sum(np.sin(h * 2 * np.pi * np.cumsum(engine) / rate) / h for h in range(1, 5))
        whoosh = _filt(rng.standard_normal(m), rate, "lowpass", 2000)
        event = rng.uniform(1.5, 4.0) * np.exp(-0.5 * (u / 0.15) ** 2) * (0.5 * hum + whoosh)
        _add_at(out, int(rng.integers(-m // 2, n)), event)
    return out


def _impulsive(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Dishes / park-like: random clinks (ringing partials plus a click) over soft ambience."""
    out = 0.3 * _filt(_colored(rng, n, rate, 1.0), rate, "lowpass", 4000)
    out *= 10 ** (0.2 * _walk(rng, n, rate))
    for pos in rng.integers(0, n, rng.poisson(rng.uniform(2, 6) * n / rate)):
        clink = _decaying(rng, rate, rng.uniform(1500, 6500, 3), rng.uniform(0.005, 0.04), 0.12)
        clink[: int(0.003 * rate)] += rng.standard_normal(int(0.003 * rate))
        _add_at(out, int(pos), rng.lognormal(0.0, 0.5) * clink)
    return out


_NOISES = {"demo_babble": _babble, "demo_music": _music, "demo_machine": _machine,
           "demo_traffic": _traffic, "demo_impulsive": _impulsive}
NOISE_KINDS: tuple[str, ...] = tuple(_NOISES)


def noise(kind: str, seconds: float, seed: int, rate: int = SAMPLE_RATE) -> np.ndarray:
    """A generated demo noise of one of ``NOISE_KINDS`` (not a recording).

    Returns float32, shape (round(seconds * rate),), peak 0.8, with no stretch of
    silence. Same arguments, same array. Raises ValueError for an unknown ``kind``
    (the message lists ``NOISE_KINDS``) or a non-positive length.
    """
    make = _lookup(_NOISES, kind, "noise kind", rate)
    n = int(round(seconds * rate))
    if n < 1:
        raise ValueError(f"seconds must give at least one sample, got {seconds}")
    rng = _rng(seed, kind, 0)
    x = make(rng, n, rate) * 10 ** (0.15 * _walk(rng, n, rate))  # even steady kinds drift
    return (NOISE_PEAK * x / np.abs(x).max()).astype(np.float32)
