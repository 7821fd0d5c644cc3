"""The STFT front end shared by features, training and enhancement.

Spectra are frame-major: a complex spectrogram has shape ``(frames, bins)`` with
``bins = n_fft // 2 + 1`` and ``frames = 1 + samples // hop`` (centred frames).
"""

from __future__ import annotations

import dataclasses

import torch

WINDOWS = {"hann": torch.hann_window, "hamming": torch.hamming_window, "blackman": torch.blackman_window}


@dataclasses.dataclass(frozen=True)
class StftParams:
    """STFT settings; enough to rebuild a waveform from a magnitude and a phase."""

    n_fft: int = 512
    hop: int = 128
    window: str = "hann"
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        if self.window not in WINDOWS:
            raise ValueError(f"unknown window {self.window!r}; choose one of {sorted(WINDOWS)}")
        if not 0 < self.hop <= self.n_fft:
            raise ValueError(f"hop must be in (0, n_fft], got hop={self.hop}, n_fft={self.n_fft}")

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    def frames(self, samples: int) -> int:
        """Number of frames for a signal of ``samples`` samples."""
        return 1 + samples // self.hop


def _window(params: StftParams, device: torch.device | None = None) -> torch.Tensor:
    # Periodic windows: with hop = n_fft / 4 their overlap-add is constant (exact reconstruction).
    return WINDOWS[params.window](params.n_fft, periodic=True, device=device)


def stft(signal: torch.Tensor, params: StftParams) -> torch.Tensor:
    """Complex spectrogram. ``signal``: ``(..., samples)`` -> ``(..., frames, bins)``."""
    spec = torch.stft(
        signal, params.n_fft, params.hop, window=_window(params, signal.device),
        center=True, pad_mode="reflect", return_complex=True,
    )
    return spec.transpose(-1, -2)


def istft(spec: torch.Tensor, params: StftParams, samples: int) -> torch.Tensor:
    """Inverse of :func:`stft`. ``spec``: ``(..., frames, bins)`` -> ``(..., samples)``."""
    return torch.istft(
        spec.transpose(-1, -2), params.n_fft, params.hop, window=_window(params, spec.device),
        center=True, length=samples,
    )


def log_magnitude(spec: torch.Tensor, floor: float) -> torch.Tensor:
    """``log(max(|spec|, floor))``; the floor keeps silence finite. Shape preserved."""
    return torch.log(spec.abs().clamp_min(floor))


def reconstruct(log_mag: torch.Tensor, phase_source: torch.Tensor, params: StftParams, samples: int) -> torch.Tensor:
    """Waveform from a log-magnitude and the phase of ``phase_source`` (a complex spectrogram).

    ``log_mag``, ``phase_source``: ``(..., frames, bins)``; returns ``(..., samples)``.
    """
    phase = torch.angle(phase_source)
    return istft(torch.polar(log_mag.exp().to(torch.float32), phase), params, samples)


@dataclasses.dataclass(frozen=True)
class SpectralFrontEnd:
    """An STFT and its log floor: the one log-magnitude front end of the features stage, of the
    on-the-fly training path and of their statistics."""

    params: StftParams
    floor: float = 1e-5

    def log_spectra(self, waves: torch.Tensor) -> torch.Tensor:
        """``(..., samples)`` -> log-magnitudes ``(..., frames, bins)``."""
        return log_magnitude(stft(waves, self.params), self.floor)

    def frame_weights(self, lengths: torch.Tensor, frames: int) -> torch.Tensor:
        """``(batch,)`` sample counts -> ``(batch, frames)`` weights, 0 on frames of zero padding."""
        first_sample = torch.arange(frames, device=lengths.device) * self.params.hop
        return (first_sample[None, :] < lengths[:, None]).float()

    def batch(self, noisy: torch.Tensor, clean: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Waveform crops ``(batch, samples)`` -> noisy and clean log-magnitudes ``(batch, frames,
        bins)`` and frame weights ``(batch, frames)``, the layout of :mod:`clearspeech.training.batches`."""
        noisy_log, clean_log = self.log_spectra(noisy), self.log_spectra(clean)
        return noisy_log, clean_log, self.frame_weights(lengths, noisy_log.shape[1])
