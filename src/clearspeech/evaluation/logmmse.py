"""Log-MMSE speech enhancement: the classical statistical baseline.

The log-spectral amplitude estimator of Ephraim & Malah (1985) with the decision-directed a
priori SNR and a likelihood-ratio VAD that keeps the noise estimate current, following the
structure of Loizou's ``logmmse.m`` ("Speech Enhancement: Theory and Practice", 2013).
Implemented here because the ``logmmse`` package changes numpy's global error state on import.

Signals are float32 mono arrays of shape ``(samples,)``; spectra are ``(frames, bins)`` as in
:mod:`clearspeech.core.stft`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import exp1

from clearspeech.core.stft import StftParams, istft, stft

logger = logging.getLogger(__name__)

# Noise-PSD smoothing in frames the VAD calls noise, and the VAD threshold on the mean
# log-likelihood ratio per bin (Sohn et al. 1999), both as in Loizou's implementation.
NOISE_SMOOTHING = 0.98
VAD_THRESHOLD = 0.15
# exp1(v) diverges as v -> 0 (gamma = 0 in digitally silent bins); this floor keeps the gain
# finite. Gain * |Y| stays bounded there anyway, so the floor does not change audible output.
_V_MIN = 1e-10
# Noise PSD floor: digital silence in the leading frames would otherwise divide by zero.
_PSD_FLOOR = 1e-20


@dataclass(frozen=True)
class LogMmseConfig:
    """Log-MMSE settings.

    ``noise_seconds``: the initial noise PSD is the mean power of this much audio assumed
    speech-free: the leading frames or the quietest ones (``noise_init``). ``alpha``:
    decision-directed smoothing of the a priori SNR.
    ``xi_min_db``: floor on the a priori SNR, which limits musical noise. ``noise_update``:
    update the noise PSD in frames the VAD deems noise-only.
    """

    n_fft: int = 512
    hop: int = 128
    window: str = "hann"
    noise_seconds: float = 0.12
    alpha: float = 0.98
    xi_min_db: float = -25.0
    noise_update: bool = True
    noise_init: str = "quietest"

    def __post_init__(self) -> None:
        if self.noise_init not in ("leading", "quietest"):
            raise ValueError(f"noise_init must be 'leading' or 'quietest', not {self.noise_init!r}")

    def stft_params(self, rate: int) -> StftParams:
        return StftParams(n_fft=self.n_fft, hop=self.hop, window=self.window, sample_rate=rate)


def lsa_gain(xi: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """Ephraim-Malah log-spectral amplitude gain.

    ``G = xi / (1 + xi) * exp(0.5 * E1(v))`` with ``v = xi / (1 + xi) * gamma``.

    Parameters
    ----------
    xi, gamma : np.ndarray
        A priori and a posteriori SNR (linear), any shape, broadcastable.

    Returns
    -------
    np.ndarray
        The gain, same shape.
    """
    ratio = xi / (1.0 + xi)
    return ratio * np.exp(0.5 * exp1(np.maximum(ratio * gamma, _V_MIN)))


def _speech_absent(xi: np.ndarray, gamma: np.ndarray) -> bool:
    """Likelihood-ratio VAD of one frame: ``xi``, ``gamma`` of shape ``(bins,)``."""
    log_ratio = gamma * xi / (1.0 + xi) - np.log1p(xi)
    return float(np.mean(log_ratio)) < VAD_THRESHOLD


def _initial_noise_psd(power: np.ndarray, cfg: LogMmseConfig, rate: int) -> np.ndarray:
    """Mean power ``(bins,)`` of ``noise_seconds`` worth of frames assumed speech-free.

    ``leading``: the first frames, as in Loizou's implementation. ``quietest``: the frames of
    least energy anywhere, which stays speech-free when speech starts at once (in CMU ARCTIC
    some utterances begin within 50 ms). ``power``: ``(frames, bins)``. At least one frame.
    """
    inside = (int(cfg.noise_seconds * rate) - cfg.n_fft // 2) // cfg.hop + 1
    count = min(max(inside, 1), power.shape[0])
    frames = np.argsort(power.sum(axis=1))[:count] if cfg.noise_init == "quietest" else slice(0, count)
    logger.debug("initial noise PSD from %d %s of %d frames", count, cfg.noise_init, power.shape[0])
    return np.maximum(power[frames].mean(axis=0), _PSD_FLOOR)


def gains(power: np.ndarray, noise_psd: np.ndarray, cfg: LogMmseConfig) -> np.ndarray:
    """Log-MMSE gains with the decision-directed a priori SNR, frame by frame.

    Parameters
    ----------
    power : np.ndarray
        ``|Y|^2`` of the noisy spectrogram, float64 ``(frames, bins)``.
    noise_psd : np.ndarray
        Initial noise PSD, ``(bins,)``, positive.
    cfg : LogMmseConfig

    Returns
    -------
    np.ndarray
        Gains, ``(frames, bins)``.
    """
    xi_min = 10.0 ** (cfg.xi_min_db / 10.0)
    noise = noise_psd.copy()
    out = np.empty_like(power)
    clean_prev = noise  # first frame: G_prev^2 * gamma_prev = 1, as in Loizou's code
    for t, frame in enumerate(power):
        gamma = frame / noise
        xi = cfg.alpha * clean_prev / noise + (1.0 - cfg.alpha) * np.maximum(gamma - 1.0, 0.0)
        xi = np.maximum(xi, xi_min)
        out[t] = lsa_gain(xi, gamma)
        if cfg.noise_update and _speech_absent(xi, gamma):
            noise = np.maximum(NOISE_SMOOTHING * noise + (1.0 - NOISE_SMOOTHING) * frame, _PSD_FLOOR)
        clean_prev = out[t] ** 2 * frame
    return out


def enhance(noisy: np.ndarray, rate: int, cfg: LogMmseConfig = LogMmseConfig()) -> np.ndarray:
    """Enhance ``noisy`` with the log-MMSE estimator; the noisy phase is kept.

    Parameters
    ----------
    noisy : np.ndarray
        float32 ``(samples,)``, finite, longer than ``cfg.n_fft // 2``. Its first
        ``cfg.noise_seconds`` should hold no speech.
    rate : int
        Sample rate in Hz (sets how many frames make up the initial noise stretch).
    cfg : LogMmseConfig

    Returns
    -------
    np.ndarray
        float32 ``(samples,)``, the same length as ``noisy``.
    """
    if noisy.ndim != 1 or noisy.size <= cfg.n_fft // 2:
        raise ValueError(f"noisy must be mono (samples,) with more than {cfg.n_fft // 2} samples, "
                         f"got shape {noisy.shape}")
    if not np.isfinite(noisy).all():
        raise ValueError("noisy contains NaN or infinite samples")
    params = cfg.stft_params(rate)
    spec = stft(torch.from_numpy(np.ascontiguousarray(noisy, dtype=np.float32)), params).numpy()
    power = np.square(np.abs(spec), dtype=np.float64)
    frame_gains = gains(power, _initial_noise_psd(power, cfg, rate), cfg)
    enhanced = torch.from_numpy((spec * frame_gains).astype(np.complex64))
    return istft(enhanced, params, noisy.size).numpy().astype(np.float32, copy=False)
