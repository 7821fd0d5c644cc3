"""Training and validation batches cut from the memory-mapped feature store.

A spectral batch is three float32 arrays: noisy and clean log-magnitudes ``(batch, frames, bins)``
and frame weights ``(batch, frames)`` (0 on the zero padding of mixtures shorter than a crop). A
waveform batch is noisy and clean ``(batch, samples)`` and the true lengths ``(batch,)``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from clearspeech.data.features import FeatureSplit

Batch = tuple[np.ndarray, np.ndarray, np.ndarray]
WaveBatch = tuple[np.ndarray, np.ndarray, np.ndarray]


def to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """One batch array as a tensor on ``device``; on CUDA via page-locked memory, so the copy can
    overlap compute."""
    tensor = torch.from_numpy(array)
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


class Crops:
    """Fixed-length crops of items of ``lengths``: random ones for training, central ones for
    validation. Subclasses cut the rows and offsets into arrays (``_cut``)."""

    def __init__(self, lengths: np.ndarray, crop: int, batch_size: int) -> None:
        self.lengths, self.crop, self.batch_size = lengths, crop, batch_size

    @property
    def total(self) -> int:
        """Frames (or samples) of every item together."""
        return int(self.lengths.sum())

    def random_batch(self, rng: np.random.Generator):
        """Items drawn in proportion to their length (every unit equally likely), random offsets."""
        rows = rng.choice(len(self.lengths), size=self.batch_size, p=self.lengths / self.lengths.sum())
        offsets = rng.integers(0, np.maximum(self.lengths[rows] - self.crop, 0) + 1)
        return self._cut(rows, offsets)

    def central_batches(self) -> Iterator:
        """Every item once, its central crop; deterministic, so losses compare across epochs."""
        rows = np.arange(len(self.lengths))
        offsets = np.maximum(self.lengths - self.crop, 0) // 2
        for first in range(0, len(rows), self.batch_size):
            chosen = slice(first, first + self.batch_size)
            yield self._cut(rows[chosen], offsets[chosen])

    def _cut(self, rows: np.ndarray, offsets: np.ndarray):
        raise NotImplementedError


class CropBatches(Crops):
    """Crops of ``crop_frames`` frames of one split's stored spectra."""

    def __init__(self, split: FeatureSplit, crop_frames: int, batch_size: int) -> None:
        super().__init__(split.index["frames"].to_numpy(), crop_frames, batch_size)
        self.split = split
        self.starts = split.index["start"].to_numpy()
        self.frames = self.lengths

    def _cut(self, rows: np.ndarray, offsets: np.ndarray) -> Batch:
        bins = self.split.noisy.shape[1]
        noisy = np.zeros((len(rows), self.crop, bins), dtype=np.float32)
        clean = np.zeros_like(noisy)
        weights = np.zeros((len(rows), self.crop), dtype=np.float32)
        for slot, (row, offset) in enumerate(zip(rows, offsets)):
            length = min(self.crop, int(self.frames[row]))
            first = int(self.starts[row] + offset)
            noisy[slot, :length] = self.split.noisy[first:first + length]
            clean[slot, :length] = self.split.clean[first:first + length]
            weights[slot, :length] = 1.0
        return noisy, clean, weights


class WaveCropBatches(Crops):
    """Crops of ``crop_samples`` samples of one split's stored waveforms (shorter mixtures are
    zero-padded; the batch carries their true lengths)."""

    def __init__(self, split: FeatureSplit, crop_samples: int, batch_size: int) -> None:
        super().__init__(split.index["samples"].to_numpy(), crop_samples, batch_size)
        self.split = split
        self.starts = split.index["sample_start"].to_numpy()
        self.samples = self.lengths

    def _cut(self, rows: np.ndarray, offsets: np.ndarray) -> WaveBatch:
        noisy = np.zeros((len(rows), self.crop), dtype=np.float32)
        clean = np.zeros_like(noisy)
        lengths = np.minimum(self.samples[rows], self.crop).astype(np.int64)
        for slot, (row, offset, length) in enumerate(zip(rows, offsets, lengths)):
            first = int(self.starts[row] + offset)
            noisy[slot, :length] = self.split.noisy_wave[first:first + length]
            clean[slot, :length] = self.split.clean_wave[first:first + length]
        return noisy, clean, lengths
