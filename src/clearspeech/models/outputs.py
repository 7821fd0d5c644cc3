"""What spectral models read and write: standardised log-magnitudes in, an output of a declared
kind out (:data:`clearspeech.core.architecture.OUTPUT_KINDS`), turned back into a log-magnitude.

Training and inference both use these, so they live with the models, not in either.
"""

from __future__ import annotations

import torch
from torch import nn


class Standardizer(nn.Module):
    """Per-bin standardisation of log-magnitudes with train-split statistics (buffers)."""

    def __init__(self, stats: dict[str, list[float]]) -> None:
        super().__init__()
        for key in ("noisy_mean", "noisy_std", "clean_mean", "clean_std"):
            self.register_buffer(key, torch.tensor(stats[key], dtype=torch.float32))

    def noisy(self, log_mag: torch.Tensor) -> torch.Tensor:
        return (log_mag - self.noisy_mean) / self.noisy_std

    def clean(self, log_mag: torch.Tensor) -> torch.Tensor:
        return (log_mag - self.clean_mean) / self.clean_std

    def unclean(self, standardised: torch.Tensor) -> torch.Tensor:
        return standardised * self.clean_std + self.clean_mean


def output_to_log_magnitude(output: torch.Tensor, noisy_log_mag: torch.Tensor, kind: str,
                            standardizer: Standardizer) -> torch.Tensor:
    """Model output ``(..., frames, bins)`` of output kind ``kind`` (``mask``, ``magnitude`` or
    ``log_magnitude``) -> estimated clean log-magnitude, same shape."""
    if kind == "mask":
        return noisy_log_mag + torch.log(output.float().clamp_min(1e-6))
    if kind == "magnitude":
        return torch.log(output.float().clamp_min(1e-7))
    return standardizer.unclean(output.float())
