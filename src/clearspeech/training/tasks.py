"""Training tasks: what one optimiser step and one validation batch are for a kind of model.

:class:`clearspeech.training.trainer.Trainer` owns the loop, the schedule, early stopping and the
checkpoints; it hands each batch to the :class:`Task` its architecture declares (``task`` of
:class:`clearspeech.core.architecture.Architecture`). This module holds the spectral tasks;
:mod:`clearspeech.training.adversarial` the waveform GAN's.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import nn

from clearspeech.core.architecture import Architecture
from clearspeech.core.stft import SpectralFrontEnd
from clearspeech.models.autoencoder import ideal_binary_mask, ideal_ratio_mask
from clearspeech.models.outputs import Standardizer, output_to_log_magnitude
from clearspeech.training.batches import Batch, to_device
from clearspeech.training.frontend import TrainingData


class Settings(Protocol):
    """The fields of :class:`clearspeech.training.trainer.TrainConfig` that tasks read."""

    lr: float
    weight_decay: float
    clip_grad: float
    loss: str
    compress: float


class Task(Protocol):
    """One kind of training. ``optimizer`` is the one the learning-rate schedule follows and
    ``last.pt`` stores as ``optimizer_state``; :meth:`extra_state` adds what else a resume needs."""

    optimizer: torch.optim.Optimizer

    def train_step(self, batch: Any) -> float:
        """One optimiser step on ``batch``; its loss (no step taken when it is not finite)."""

    def valid_sums(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The weighted loss sum of a validation batch and its weight, for exact means over batches."""

    def extra_state(self) -> dict[str, Any]:
        """More training state for ``last.pt``."""

    def load_extra_state(self, payload: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` saved."""


class SpectralTask:
    """Frame-weighted mean squared error, AdamW and gradient clipping. ``loss="target"``: in the
    model's output domain (mask, standardised log-magnitude or magnitude); ``"compressed"``:
    between estimated and clean magnitudes raised to ``compress``, which weighs loud bins more
    than a log or mask loss does, as waveform metrics (SI-SDR) do."""

    def __init__(self, spec: Architecture, model: nn.Module, data: TrainingData, cfg: Settings,
                 device: torch.device) -> None:
        self.model, self.front, self.cfg, self.device = model, data.front, cfg, device
        self.target = data.checkpoint["target"]
        self.kind = spec.output_kind(self.target)
        self.standardizer = Standardizer(data.checkpoint["stats"]).to(device)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def train_step(self, batch: Batch) -> float:
        loss = self.loss(batch)
        if not torch.isfinite(loss):
            return loss.item()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_grad)
        self.optimizer.step()
        return loss.item()

    def valid_sums(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        return self.loss(batch, reduce=False)

    def loss(self, batch: Batch, reduce: bool = True) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The mean loss of ``batch``; with ``reduce=False`` the weighted sum and the weight (valid
        frames). Waveform crops go through the model's own STFT first, on the device."""
        noisy, clean, weights = (to_device(array, self.device) for array in batch)
        waves = None
        if self.front is not None:
            waves = noisy, clean
            noisy, clean, weights = self.front.batch(noisy, clean, weights)
        return self.objective(noisy, clean, weights, waves, reduce)

    def objective(self, noisy: torch.Tensor, clean: torch.Tensor, weights: torch.Tensor,
                  waves: tuple[torch.Tensor, torch.Tensor] | None, reduce: bool):
        """Log-magnitudes ``(batch, frames, bins)``, weights ``(batch, frames)`` -> the loss."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            output = self.model(self.standardizer.noisy(noisy)).float()
        if self.cfg.loss == "compressed":
            estimate = output_to_log_magnitude(output, noisy, self.kind, self.standardizer)
            output, target = torch.exp(self.cfg.compress * estimate), torch.exp(self.cfg.compress * clean)
        elif self.kind == "mask":
            target = torch.exp(clean - noisy).clamp(0.0, 1.0)
        elif self.kind == "magnitude":
            target = torch.exp(clean)
        else:
            target = self.standardizer.clean(clean)
        squared = (output - target).square().mean(dim=-1) * weights  # (batch, frames)
        return squared.sum() / weights.sum() if reduce else (squared.sum(), weights.sum())

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, payload: dict[str, Any]) -> None:
        pass


class OwnLossTask(SpectralTask):
    """A model with its own target and ``loss(features, target, weights)`` (the autoencoder: IBM,
    IRM or mapping; MSE or BCE); it has its own STFT, so the batches are waveform crops."""

    def objective(self, noisy: torch.Tensor, clean: torch.Tensor, weights: torch.Tensor,
                  waves: tuple[torch.Tensor, torch.Tensor] | None, reduce: bool):
        target = own_target(self.target, self.model, self.front, *waves, clean, self.standardizer)
        mean = self.model.loss(self.standardizer.noisy(noisy), target, weights)
        return mean if reduce else (mean * weights.sum(), weights.sum())


def own_target(target: str, model: nn.Module, front: SpectralFrontEnd, noisy_wave: torch.Tensor,
               clean_wave: torch.Tensor, clean_log: torch.Tensor, standardizer: Standardizer) -> torch.Tensor:
    """The training target ``(batch, frames, bins)`` of a model with its own loss: the ideal
    binary or ratio mask from the clean and noise (noisy - clean) magnitudes, or the standardised
    clean log-magnitude for ``mapping``."""
    if target == "mapping":
        return standardizer.clean(clean_log)
    clean_mag, noise_mag = clean_log.exp(), front.log_spectra(noisy_wave - clean_wave).exp()
    if target == "ibm":
        return ideal_binary_mask(clean_mag, noise_mag, model.config.ibm_threshold_db)
    return ideal_ratio_mask(clean_mag, noise_mag)
