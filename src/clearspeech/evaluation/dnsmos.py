"""DNSMOS P.835: non-intrusive speech quality (SIG, BAK, OVRL) with no clean reference.

Reddy et al. 2022 (arXiv 2110.01763), the model of Microsoft's DNS challenges, through the
``speechmos`` package, whose wheel carries the ONNX files (``speechmos/dnsmos_models``): nothing
is downloaded at run time. Scores are MOS values on 1..5: ``dnsmos_sig`` (speech distortion),
``dnsmos_bak`` (background intrusiveness), ``dnsmos_ovrl`` (overall quality).

Input: float mono ``(samples,)`` at any rate (resampled to 16 kHz). DNSMOS scores 9 s windows,
so a shorter clip is tiled to 9 s (the DNS challenge's own script does the same); a clip shorter
than :data:`MIN_SECONDS` or a silent one is refused with :class:`DnsmosError` (a reason, never a
number to average).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from importlib import resources

import numpy as np
import pandas as pd
from tqdm import tqdm

from clearspeech.core.audio import resample, rms
from clearspeech.core.parallel import ordered_map

log = logging.getLogger(__name__)

DNSMOS_METRICS = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")
RATE = 16000
# Below this the tiled 9 s window is mostly repetition of one syllable: not a quality judgement.
MIN_SECONDS = 1.0
SILENCE_DBFS = -60.0


class DnsmosError(ValueError):
    """A clip DNSMOS cannot judge (too short, silent, not finite); the message says why."""


@functools.cache
def _session(threads: int = 1):
    """speechmos's P.835 ONNX session, single-threaded: callers parallelise by process, and
    onnxruntime's default of one thread per core would oversubscribe."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    path = resources.files("speechmos") / "dnsmos_models" / "sig_bak_ovr.onnx"
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _windows(audio: np.ndarray) -> np.ndarray:
    """``(samples,)`` at 16 kHz -> ``(windows, 9.01 s)``: tiled up to one window, then 1 s hops
    (speechmos's segmentation)."""
    from speechmos.dnsmos import INPUT_LENGTH

    length = int(INPUT_LENGTH * RATE)
    if audio.size < length:
        audio = np.tile(audio, -(-length // audio.size))
    count = int(np.floor(audio.size / RATE) - INPUT_LENGTH) + 1
    return np.stack([audio[i * RATE: i * RATE + length] for i in range(max(count, 1))])


def check_clip(signal: np.ndarray, rate: int) -> None:
    """Raise :class:`DnsmosError` unless ``signal`` ``(samples,)`` is a finite, audible clip of at
    least :data:`MIN_SECONDS`."""
    if signal.ndim != 1:
        raise DnsmosError(f"DNSMOS needs mono (samples,) audio, got shape {signal.shape}")
    if signal.size < MIN_SECONDS * rate:
        raise DnsmosError(f"too short for DNSMOS: {signal.size / rate:.2f} s (needs at least {MIN_SECONDS:g} s)")
    if not np.isfinite(signal).all():
        raise DnsmosError("DNSMOS: the audio contains NaN or infinite samples")
    if rms(signal - np.mean(signal, dtype=np.float64)) < 10.0 ** (SILENCE_DBFS / 20.0):
        raise DnsmosError(f"silent for DNSMOS (RMS below {SILENCE_DBFS:g} dBFS)")


def dnsmos(signal: np.ndarray, rate: int) -> dict[str, float]:
    """``{dnsmos_sig, dnsmos_bak, dnsmos_ovrl}`` of mono ``signal`` ``(samples,)`` at ``rate`` Hz.

    Raises :class:`DnsmosError` for a clip it cannot judge (see :func:`check_clip`).
    """
    signal = np.asarray(signal, dtype=np.float32)
    check_clip(signal, rate)
    audio = resample(signal, rate, RATE) if rate != RATE else signal
    # The P.808 head of speechmos (a mel front end through librosa) is skipped: P.835 needs only
    # the waveform model. Its raw outputs are mapped to MOS by speechmos's own polynomials.
    from speechmos.dnsmos import DNSMOS

    session = _session()
    raw = np.array([session.run(None, {"input_1": window[np.newaxis].astype(np.float32)})[0][0]
                    for window in _windows(np.clip(audio, -1.0, 1.0))])
    sig, bak, ovrl = DNSMOS.get_polyfit_val(None, raw[:, 0], raw[:, 1], raw[:, 2], False)
    return {"dnsmos_sig": float(np.mean(sig)), "dnsmos_bak": float(np.mean(bak)), "dnsmos_ovrl": float(np.mean(ovrl))}


def score_or_reason(signal: np.ndarray, rate: int) -> dict[str, float] | str:
    """:func:`dnsmos`, or the reason it refused the clip."""
    try:
        return dnsmos(signal, rate)
    except DnsmosError as err:
        return str(err)


def dnsmos_many(signals: Iterable[np.ndarray], rate: int, workers: int) -> list[dict[str, float] | str]:
    """:func:`score_or_reason` of each signal, over ``workers`` processes (0: every core), in order."""
    return list(ordered_map(functools.partial(score_or_reason, rate=rate), signals, workers))


def dnsmos_table(keys: pd.DataFrame, signals: list[np.ndarray], rate: int, workers: int) -> pd.DataFrame:
    """``keys`` (one row per signal, e.g. ``id``, ``noise``, ``snr``, ``system``) plus the three
    ``DNSMOS_METRICS`` columns (NaN where refused) and ``dnsmos_error`` (the reason, else "")."""
    results = dnsmos_many(tqdm(signals, desc="DNSMOS", unit="clip"), rate, workers)
    values = [result if isinstance(result, dict) else dict.fromkeys(DNSMOS_METRICS, np.nan) for result in results]
    reasons = [result if isinstance(result, str) else "" for result in results]
    for (_, key), reason in zip(keys.iterrows(), reasons):
        if reason:
            log.warning("DNSMOS %s: %s", " ".join(str(value) for value in key.to_numpy()), reason)
    return pd.concat([keys.reset_index(drop=True), pd.DataFrame(values, columns=list(DNSMOS_METRICS))],
                     axis=1).assign(dnsmos_error=reasons)
