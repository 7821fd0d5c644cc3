"""A peer's fixed output delay: measured by cross-correlation, then removed.

Signals are float32 mono ``(samples,)`` at one rate. A positive delay means the output lags
its input.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps


def estimate_delay(output: np.ndarray, reference: np.ndarray, max_lag: int) -> int:
    """The lag in samples, within ``[-max_lag, max_lag]``, maximising the cross-correlation of
    ``output`` with ``reference`` (lengths may differ). Its magnitude is used: a denoiser keeps
    the speech's polarity, but a sign flip should not move the estimate elsewhere."""
    if max_lag < 0:
        raise ValueError(f"max_lag must be >= 0, got {max_lag}")
    corr = sps.correlate(output.astype(np.float64), reference.astype(np.float64), mode="full", method="fft")
    lags = sps.correlation_lags(len(output), len(reference), mode="full")
    window = np.abs(lags) <= max_lag
    if not np.any(np.abs(corr[window]) > 0):
        raise ValueError("cross-correlation is zero at every lag: the output is silent")
    return int(lags[window][np.argmax(np.abs(corr[window]))])


def compensate(output: np.ndarray, delay: int, length: int) -> np.ndarray:
    """``output`` shifted earlier by ``delay`` samples, cut or zero-padded to ``length``."""
    shifted = output[delay:] if delay >= 0 else np.concatenate([np.zeros(-delay, np.float32), output])
    return np.pad(shifted[:length], (0, max(0, length - len(shifted)))).astype(np.float32)
