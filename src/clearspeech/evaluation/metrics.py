"""Objective quality and intelligibility metrics of one signal against its clean reference.

Signals are float32 mono arrays of shape ``(samples,)`` at ``rate`` Hz; the estimate is an
enhanced (or noisy) version of the reference, time-aligned and of the same length.

Metrics (``METRICS``):

- ``pesq_wb``, ``pesq_nb``: ITU-T P.862.2 wideband and P.862 narrowband PESQ (MOS-LQO) from the
  ``pesq`` package. Wideband is computed at 16 kHz; narrowband at 8 or 16 kHz. Any other rate
  of at least 8 kHz is resampled to 16 kHz for both (so wideband scores of audio below 16 kHz
  measure a band-limited signal and are not comparable with true wideband ones). Rates below
  8 kHz are recorded as errors.
- ``stoi``, ``estoi``: STOI (Taal et al. 2011) and extended STOI (Jensen & Taal 2016) from
  ``pystoi``, which resamples to 10 kHz itself.
- ``si_sdr``: scale-invariant SDR in dB (Le Roux et al. 2019), implemented here.

A metric that cannot be computed for a pair (silent reference, too short for PESQ, no speech
frames left for STOI, ...) is recorded in :attr:`Scores.errors` with the reason, never as a
number. Malformed input (unequal lengths, NaN/inf, not mono) raises ``ValueError``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pesq as pesq_lib
import pystoi

from clearspeech.core.audio import resample, rms
from clearspeech.core.errors import UserError
from clearspeech.core.parallel import ordered_map

logger = logging.getLogger(__name__)

METRICS = ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr")

# A reference quieter than this (RMS, dB re full scale) is treated as silence: it is below the
# quantisation noise of a few 16-bit steps, so no speech can be in it.
SILENCE_DBFS = -90.0
PESQ_RATE = 16000
PESQ_NB_RATE = 8000  # narrowband's other native rate, and the lowest rate PESQ is given
PESQ_MIN_SECONDS = 0.25

_PESQ_REASONS = {
    pesq_lib.PesqError.INVALID_SAMPLE_RATE: "PESQ rejected the sample rate",
    pesq_lib.PesqError.OUT_OF_MEMORY_REF: "PESQ could not allocate memory",
    pesq_lib.PesqError.OUT_OF_MEMORY_DEG: "PESQ could not allocate memory",
    pesq_lib.PesqError.OUT_OF_MEMORY_TMP: "PESQ could not allocate memory",
    pesq_lib.PesqError.BUFFER_TOO_SHORT: f"signal shorter than PESQ's minimum of {PESQ_MIN_SECONDS} s",
    pesq_lib.PesqError.NO_UTTERANCES_DETECTED: "PESQ detected no utterances (silent signal?)",
}
_STOI_NO_FRAMES = "Not enough STFT frames"  # start of pystoi's warning when it returns 1e-5


class MetricError(UserError, ValueError):
    """A metric that is undefined for this pair of signals; the message says why."""


@dataclass(frozen=True)
class Scores:
    """Metric values of one pair.

    ``values``: metric -> value, only for the metrics that succeeded.
    ``errors``: metric -> reason, for the metrics that could not be computed.
    """

    values: dict[str, float]
    errors: dict[str, str]


def _is_silent(signal: np.ndarray) -> bool:
    return rms(signal - np.mean(signal, dtype=np.float64)) < 10.0 ** (SILENCE_DBFS / 20.0)


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al. 2019).

    Parameters
    ----------
    estimate, reference : np.ndarray
        ``(samples,)`` each, same length. Both are made zero-mean first (in float64).

    Returns
    -------
    float
        ``10 log10(|a s|^2 / |a s - e|^2)`` with the optimal scale ``a``. Finite even for a
        perfect estimate: the error energy is floored at float64 eps of the target energy,
        which caps the value near 156 dB while keeping it invariant to scaling the estimate.
        ``-inf`` for an estimate exactly orthogonal to the reference.

    Raises
    ------
    MetricError
        (a ``ValueError``) when the reference is silent or the estimate is all constant.
    """
    _check_pair(estimate, reference)
    if _is_silent(reference):
        raise MetricError(f"reference is silent (RMS below {SILENCE_DBFS:g} dBFS)")
    est = estimate.astype(np.float64) - np.mean(estimate, dtype=np.float64)
    ref = reference.astype(np.float64) - np.mean(reference, dtype=np.float64)
    if not np.any(est):
        raise MetricError("estimate is silent (constant), SI-SDR is undefined")
    target = (np.dot(est, ref) / np.dot(ref, ref)) * ref
    target_energy = np.dot(target, target)
    error = est - target
    error_energy = np.dot(error, error) + np.finfo(np.float64).eps * target_energy
    if target_energy == 0.0:  # estimate orthogonal to the reference
        return -np.inf
    return float(10.0 * np.log10(target_energy / error_energy))


def _pesq(mode: str, estimate: np.ndarray, reference: np.ndarray, rate: int) -> float:
    """PESQ in ``mode`` ('wb' or 'nb'), at a rate it supports (see the module notes)."""
    if rate < PESQ_NB_RATE:
        raise MetricError(f"PESQ needs a sample rate of at least {PESQ_NB_RATE} Hz, got {rate}")
    native = rate == PESQ_RATE or (mode == "nb" and rate == PESQ_NB_RATE)
    pesq_rate = rate if native else PESQ_RATE
    ref, est = (resample(x, rate, pesq_rate) for x in (reference, estimate))
    try:
        # RETURN_VALUES: the C code's error codes come back as negative numbers, and a silent
        # degraded signal as NaN (in raising mode that NaN surfaces as an unrelated ValueError).
        result = pesq_lib.pesq(pesq_rate, ref, est, mode, on_error=pesq_lib.PesqError.RETURN_VALUES)
    except pesq_lib.PesqError as err:  # not expected in RETURN_VALUES mode; kept explicit
        raise MetricError(f"PESQ failed: {err}") from err
    if np.isnan(result):
        raise MetricError("PESQ is undefined: the estimate is silent")
    if result < 0:
        raise MetricError(_PESQ_REASONS.get(int(result), f"PESQ failed with code {int(result)}"))
    return float(result)


@contextlib.contextmanager
def _numpy_global_rng_kept() -> Iterator[None]:
    # ESTOI adds eps-scaled draws from numpy's global RNG; restoring its state keeps callers'
    # seeded sequences intact and makes repeated scores identical.
    state = np.random.get_state()
    try:
        yield
    finally:
        np.random.set_state(state)


def _stoi(extended: bool, estimate: np.ndarray, reference: np.ndarray, rate: int) -> float:
    """STOI or ESTOI from pystoi; its 'no frames' fallback value becomes an error."""
    with warnings.catch_warnings(record=True) as caught, _numpy_global_rng_kept():
        warnings.simplefilter("always")
        try:
            value = pystoi.stoi(reference.astype(np.float64), estimate.astype(np.float64), rate, extended=extended)
        except (ValueError, IndexError) as err:  # numpy's AxisError: not one full frame
            raise MetricError("signal too short for STOI (less than one of its 25.6 ms frames)") from err
    for warning in caught:
        if str(warning.message).startswith(_STOI_NO_FRAMES):
            raise MetricError("no speech frames after pystoi's silence removal (needs about 0.4 s of speech)")
        logger.warning("pystoi: %s", warning.message)
    return float(value)


_METRIC_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray, int], float]] = {
    "pesq_wb": functools.partial(_pesq, "wb"),
    "pesq_nb": functools.partial(_pesq, "nb"),
    "stoi": functools.partial(_stoi, False),
    "estoi": functools.partial(_stoi, True),
    "si_sdr": lambda estimate, reference, rate: si_sdr(estimate, reference),
}


def _check_pair(estimate: np.ndarray, reference: np.ndarray) -> None:
    """Raise ValueError unless both are finite, non-empty ``(samples,)`` arrays of one length."""
    for name, signal in (("estimate", estimate), ("reference", reference)):
        if signal.ndim != 1 or signal.size == 0:
            raise ValueError(f"{name} must be a non-empty mono (samples,) array, got shape {signal.shape}")
        if not np.isfinite(signal).all():
            raise ValueError(f"{name} contains NaN or infinite samples")
    if estimate.size != reference.size:
        raise ValueError(
            f"estimate has {estimate.size} samples but reference has {reference.size}; align them first")


def score(estimate: np.ndarray, reference: np.ndarray, rate: int) -> Scores:
    """All ``METRICS`` of ``estimate`` against ``reference``.

    Parameters
    ----------
    estimate, reference : np.ndarray
        float32 ``(samples,)`` each, same length, time-aligned.
    rate : int
        Sample rate in Hz of both.

    Returns
    -------
    Scores
        Values of the metrics that could be computed; the reason for each that could not.
        A silent reference makes every metric an error.

    Raises
    ------
    ValueError
        On unequal lengths, NaN/inf samples, non-mono input or a non-positive rate.
    """
    _check_pair(estimate, reference)
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    if _is_silent(reference):
        reason = f"reference is silent (RMS below {SILENCE_DBFS:g} dBFS)"
        return Scores(values={}, errors=dict.fromkeys(METRICS, reason))
    values, errors = {}, {}
    for name in METRICS:
        try:
            values[name] = _METRIC_FUNCTIONS[name](estimate, reference, rate)
        except MetricError as err:
            errors[name] = str(err)
            logger.debug("%s not computed: %s", name, err)
    return Scores(values=values, errors=errors)


def _score_pair(pair: tuple[np.ndarray, np.ndarray], rate: int) -> Scores:
    estimate, reference = pair
    return score(estimate, reference, rate)


def score_many(pairs: Iterable[tuple[np.ndarray, np.ndarray]], rate: int, workers: int) -> list[Scores]:
    """:func:`score` of each ``(estimate, reference)`` pair, over ``workers`` processes, in order.

    ``workers`` follows :func:`clearspeech.core.parallel.ordered_map` (0: every core, 1: in-process).
    """
    return list(ordered_map(functools.partial(_score_pair, rate=rate), pairs, workers))
