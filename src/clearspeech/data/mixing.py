"""Mixing clean speech with noise at an exact SNR, and picking the noise segment.

Signals are float32 mono arrays of shape ``(samples,)``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from clearspeech.core.audio import rms


@dataclasses.dataclass(frozen=True)
class Mixture:
    """A mixture and its clean target (already scaled by ``scale``), shape ``(samples,)``."""

    noisy: np.ndarray
    clean: np.ndarray
    gain: float
    scale: float


def region_bounds(length: int, fractions: tuple[float, ...], index: int) -> tuple[int, int]:
    """Sample range ``[start, end)`` of region ``index`` when ``length`` is cut by ``fractions``.

    Consecutive regions share only their boundary, so their samples never overlap.
    """
    edges = np.floor(np.cumsum((0.0, *fractions)) / sum(fractions) * length).astype(int)
    return int(edges[index]), int(edges[index + 1])


def noise_segment(timeline: np.ndarray, length: int, start: int, end: int, offset: int) -> np.ndarray:
    """``length`` samples of ``timeline[start:end]`` beginning at ``offset``, wrapping inside it.

    Wrapping (rather than running into the next region) keeps a split's noise inside its own
    region even when the region is shorter than the utterance.
    """
    if end <= start:
        raise ValueError(f"empty noise region [{start}, {end})")
    index = start + (offset - start + np.arange(length)) % (end - start)
    return timeline[index]


def snr_gain(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> float:
    """Gain g such that ``20*log10(rms(clean) / rms(g * noise)) == snr_db``."""
    noise_rms = rms(noise)
    if noise_rms == 0.0 or rms(clean) == 0.0:
        raise ValueError("cannot set an SNR with a silent clean signal or a silent noise segment")
    return rms(clean) / (noise_rms * 10.0 ** (snr_db / 20.0))


def mix(clean: np.ndarray, noise: np.ndarray, snr_db: float, peak: float = 0.99) -> Mixture:
    """Add ``noise`` to ``clean`` at ``snr_db``; never exceed ``peak``.

    When the mixture would exceed ``peak`` the mixture and the clean target are scaled together,
    which keeps the SNR exact; ``scale`` records the factor.
    """
    gain = snr_gain(clean, noise, snr_db)
    noisy = clean.astype(np.float64) + gain * noise.astype(np.float64)
    top = float(np.abs(noisy).max())
    scale = min(1.0, peak / top) if top > 0 else 1.0
    return Mixture(
        noisy=(noisy * scale).astype(np.float32),
        clean=(clean.astype(np.float64) * scale).astype(np.float32),
        gain=gain,
        scale=scale,
    )


def measured_snr(noisy: np.ndarray, clean: np.ndarray) -> float:
    """SNR in dB of ``noisy`` against its clean target: ``20*log10(rms(clean)/rms(noisy-clean))``."""
    residual = noisy.astype(np.float64) - clean.astype(np.float64)
    return float(20.0 * np.log10(rms(clean) / rms(residual)))
