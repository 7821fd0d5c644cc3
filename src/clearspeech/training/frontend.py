"""Front ends computed on the fly from the waveforms of the feature store.

The default CRNN trains on the features stage's stored spectra. Architectures with another
STFT (size, hop, window) get their spectra here, on the training device, from random waveform
crops of the memory-mapped ``<split>/noisy_wave.npy`` / ``clean_wave.npy``; their per-bin
standardisation statistics come from the train split's waveforms, as the features stage's do.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from clearspeech.core.stft import StftParams, log_magnitude, stft
from clearspeech.data.features import FeatureSplit, finish_stats
from clearspeech.training.batches import Crops

WaveBatch = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclasses.dataclass(frozen=True)
class SpectralFrontEnd:
    """An STFT front end and its log floor."""

    params: StftParams
    floor: float = 1e-5

    def log_spectra(self, waves: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` -> log-magnitudes ``(batch, frames, bins)``."""
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


def waveform_stats(split: FeatureSplit, front: SpectralFrontEnd) -> dict:
    """Per-bin mean and standard deviation of noisy and clean log-magnitudes over every mixture
    of ``split``, as the features stage's ``stats.json`` (same keys, same arithmetic)."""
    sums = {f"{kind}_{stat}": np.zeros(front.params.bins) for kind in ("noisy", "clean") for stat in ("sum", "sumsq")}
    sums["frames"] = 0
    for start, samples in split.index[["sample_start", "samples"]].to_numpy():
        for kind in ("noisy", "clean"):
            wave = torch.from_numpy(np.asarray(getattr(split, f"{kind}_wave")[start:start + samples], np.float32))
            values = front.log_spectra(wave).double().numpy()
            sums[f"{kind}_sum"] += values.sum(axis=0)
            sums[f"{kind}_sumsq"] += np.square(values).sum(axis=0)
        sums["frames"] += front.params.frames(int(samples))
    return finish_stats(sums)


class WaveCropBatches(Crops):
    """Fixed-length waveform crops of one split: random for training, central for validation.

    A batch is noisy and clean ``(batch, samples)`` float32 and the true lengths ``(batch,)``
    (shorter mixtures are zero-padded).
    """

    def __init__(self, split: FeatureSplit, crop_samples: int, batch_size: int) -> None:
        super().__init__(split.index["samples"].to_numpy(), crop_samples, batch_size)
        self.split = split
        self.starts = split.index["sample_start"].to_numpy()
        self.samples = self.lengths

    @property
    def total_samples(self) -> int:
        return int(self.samples.sum())

    def _cut(self, rows: np.ndarray, offsets: np.ndarray) -> WaveBatch:
        noisy = np.zeros((len(rows), self.crop), dtype=np.float32)
        clean = np.zeros_like(noisy)
        lengths = np.minimum(self.samples[rows], self.crop).astype(np.int64)
        for slot, (row, offset, length) in enumerate(zip(rows, offsets, lengths)):
            first = int(self.starts[row] + offset)
            noisy[slot, :length] = self.split.noisy_wave[first:first + length]
            clean[slot, :length] = self.split.clean_wave[first:first + length]
        return noisy, clean, lengths
