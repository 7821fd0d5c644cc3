"""The adversarial task: the waveform GAN (SEGAN) in the same stage, loop and checkpoints.

The generator is trained on random pre-emphasised windows of the stored waveforms with the
least-squares GAN + L1 step of :func:`clearspeech.models.segan.train_step`. Validation is the
L1 distance to the clean waveform on the central window of every validation mixture (the
adversarial terms say little about quality); it drives the learning-rate schedule of the
generator, early stopping and ``best.pt`` exactly as for the spectral models. ``last.pt`` also
holds the discriminators and their optimiser, so a killed run resumes.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import nn

from clearspeech.core.architecture import Architecture
from clearspeech.models import parameter_count
from clearspeech.models.segan import build_discriminators, make_optimizers, preemphasis, train_step
from clearspeech.training.batches import WaveBatch, to_device
from clearspeech.training.frontend import TrainingData
from clearspeech.training.tasks import Settings

log = logging.getLogger(__name__)


class AdversarialTask:
    """Generator and discriminator steps on waveform windows; L1 validation."""

    def __init__(self, spec: Architecture, model: nn.Module, data: TrainingData, cfg: Settings,
                 device: torch.device) -> None:
        self.model, self.config, self.clip_grad, self.device = model, model.config, cfg.clip_grad, device
        self.discriminator, self.noise_discriminator = (
            None if d is None else d.to(device) for d in build_discriminators(self.config))
        self.optimizer, self.optimizer_d = make_optimizers(
            self.model, self.discriminator, self.noise_discriminator, self.config)
        log.info("%s: discriminator %d parameters, %d-sample windows",
                 spec.name, parameter_count(self.discriminator), self.config.window)

    def _windows(self, batch: WaveBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pre-emphasised noisy and clean windows ``(batch, window)`` and valid-sample masks."""
        noisy, clean, lengths = batch
        mask = (np.arange(self.config.window)[None, :] < lengths[:, None]).astype(np.float32)
        noisy, clean, mask = (to_device(array, self.device) for array in (noisy, clean, mask))
        coef = self.config.preemphasis
        return preemphasis(noisy, coef), preemphasis(clean, coef), mask

    def train_step(self, batch: WaveBatch) -> float:
        self.model.train()
        self.discriminator.train()
        noisy, clean, _ = self._windows(batch)
        losses = train_step(self.model, self.discriminator, self.noise_discriminator, self.optimizer,
                            self.optimizer_d, noisy, clean, self.config, self.clip_grad)
        return losses["g_l1"]

    def valid_sums(self, batch: WaveBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Absolute error to the clean (pre-emphasised) window summed over valid samples, and their count."""
        noisy, clean, mask = self._windows(batch)
        return ((self.model(noisy) - clean).abs() * mask).sum(), mask.sum()

    def extra_state(self) -> dict[str, Any]:
        state = {"discriminator_state": self.discriminator.state_dict(),
                 "optimizer_d_state": self.optimizer_d.state_dict()}
        if self.noise_discriminator is not None:
            state["noise_discriminator_state"] = self.noise_discriminator.state_dict()
        return state

    def load_extra_state(self, payload: dict[str, Any]) -> None:
        self.discriminator.load_state_dict(payload["discriminator_state"])
        self.optimizer_d.load_state_dict(payload["optimizer_d_state"])
        if self.noise_discriminator is not None:
            self.noise_discriminator.load_state_dict(payload["noise_discriminator_state"])
