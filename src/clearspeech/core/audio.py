"""Audio input/output, resampling and level measurement.

Arrays are ``float32`` numpy arrays. Mono signals have shape ``(samples,)``; multi-channel
signals read from disk have shape ``(samples, channels)`` as soundfile returns them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from clearspeech.core.errors import UserError
from clearspeech.core.files import atomic_path

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


class AudioError(UserError, ValueError):
    """An audio file that cannot be used; the message names the file and the problem."""


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a file as float32, shape ``(samples, channels)``, and its sample rate.

    Raises :class:`AudioError` naming the file when it is not decodable audio, is empty, or
    holds NaN/inf samples.
    """
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AudioError(f"{path}: not a readable audio file ({err})") from err
    if data.shape[0] == 0:
        raise AudioError(f"{path}: audio file has no samples")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    return data, int(rate)


def to_mono(data: np.ndarray) -> np.ndarray:
    """Down-mix ``(samples, channels)`` to ``(samples,)`` by averaging the channels."""
    return data.mean(axis=1, dtype=np.float32) if data.ndim == 2 else data.astype(np.float32)


def resample(signal: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Band-limited resampling along the first axis (Kaiser-windowed sinc, high quality).

    ``signal``: ``(samples,)`` or ``(samples, channels)``; returns the same layout.
    """
    if orig_rate == new_rate:
        return signal.astype(np.float32, copy=False)
    # (channels, samples) for torchaudio; parameters match librosa's "kaiser_best".
    tensor = torch.from_numpy(np.ascontiguousarray(signal.T, dtype=np.float32))
    out = AF.resample(
        tensor,
        orig_rate,
        new_rate,
        lowpass_filter_width=64,
        rolloff=0.9475937167399596,
        resampling_method="sinc_interp_kaiser",
        beta=14.769656459379492,
    )
    return out.numpy().T.copy()


def load_mono(path: str | os.PathLike, rate: int) -> np.ndarray:
    """Read any audio file as a mono float32 signal at ``rate`` Hz, shape ``(samples,)``."""
    data, file_rate = read_audio(path)
    return resample(to_mono(data), file_rate, rate)


# libsndfile's sf_command code (sndfile.h) that turns the PEAK chunk of float WAV/AIFF off.
_SFC_SET_ADD_PEAK_CHUNK = 0x1050


def write_audio(path: str | os.PathLike, signal: np.ndarray, rate: int, subtype: str = "FLOAT") -> None:
    """Write ``signal`` atomically. The subtype is explicit because PCM_16 clips silently.

    ``signal``: ``(samples,)`` or ``(samples, channels)``. Equal input gives byte-equal files:
    libsndfile's PEAK chunk in float files carries the write time, so it is left out.
    """
    path = Path(path)
    if subtype.startswith("PCM") and np.abs(signal).max(initial=0.0) > 1.0:
        raise AudioError(f"{path}: samples exceed full scale and {subtype} would clip them")
    channels = signal.shape[1] if signal.ndim > 1 else 1
    with atomic_path(path, suffix=path.suffix) as tmp, sf.SoundFile(
            str(tmp), "w", rate, channels, subtype=subtype, format=path.suffix.lstrip(".").upper()) as out:
        if subtype in ("FLOAT", "DOUBLE"):
            # soundfile has no wrapper for this command; it calls sf_command the same way for its
            # own settings. It must come before the first sample is written.
            sf._snd.sf_command(out._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
        out.write(signal)


def rms(signal: np.ndarray) -> float:
    """Root mean square over all samples, computed in float64."""
    return float(np.sqrt(np.mean(np.square(signal, dtype=np.float64))))
