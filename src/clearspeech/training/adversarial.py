"""Adversarial training of the waveform model (SEGAN) in the same stage, loop and checkpoints.

The generator is trained on random pre-emphasised windows of the stored waveforms with the
least-squares GAN + L1 step of :func:`clearspeech.models.segan.train_step`. Validation is the
L1 distance to the clean waveform on the central window of every validation mixture (the
adversarial terms say little about quality); it drives the learning-rate schedule of the
generator, early stopping and ``best.pt`` exactly as for the spectral models. ``last.pt`` also
holds the discriminators and their optimiser, so a killed run resumes.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clearspeech.core.config import from_mapping
from clearspeech.data.features import load_split
from clearspeech.models import ModelParams, parameter_count
from clearspeech.models.segan import (
    Generator,
    SEGANConfig,
    build_discriminators,
    make_optimizers,
    preemphasis,
    train_step,
)
from clearspeech.training.frontend import WaveBatch, WaveCropBatches
from clearspeech.training.trainer import TrainConfig, Trainer, _to_device

log = logging.getLogger(__name__)


class SEGANTrainer(Trainer):
    """:class:`Trainer` for SEGAN: two optimisers, waveform windows, L1 validation."""

    def __init__(self, features_dir: str | os.PathLike, model_params: ModelParams, cfg: TrainConfig,
                 checkpoint_dir: str | os.PathLike) -> None:
        # Not Trainer.__init__: that one builds a spectral model and its data.
        self._begin(cfg, checkpoint_dir)
        self.config = from_mapping(SEGANConfig, model_params.arch_config)
        features_dir = Path(features_dir)
        store = json.loads((features_dir / "stft.json").read_text())
        if store["sample_rate"] != self.config.sample_rate:
            raise ValueError(f"model.segan.sample_rate is {self.config.sample_rate} Hz, the data "
                             f"{store['sample_rate']} Hz")
        self.train_data = WaveCropBatches(load_split(features_dir, "train"), self.config.window, cfg.batch_size)
        self.valid_data = WaveCropBatches(load_split(features_dir, "valid"), self.config.window, cfg.batch_size)
        self.steps = cfg.steps_per_epoch or math.ceil(
            self.train_data.total_samples / (cfg.batch_size * self.config.window))
        self.base = {"arch": model_params.arch, "model_config": model_params.arch_config, "bins": 0,
                     "target": "waveform", "stft": {"sample_rate": store["sample_rate"]}, "stats": {}}
        self.model = Generator(self.config).to(self.device)
        self.discriminator, self.noise_discriminator = (
            None if d is None else d.to(self.device) for d in build_discriminators(self.config))
        self.optimizer, self.optimizer_d = make_optimizers(
            self.model, self.discriminator, self.noise_discriminator, self.config)
        self._end()
        log.info("segan: generator %d parameters, discriminator %d, %d steps/epoch of %d-sample windows on %s",
                 self.parameters, parameter_count(self.discriminator), self.steps, self.config.window, self.device)

    def _windows(self, batch: WaveBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pre-emphasised noisy and clean windows ``(batch, window)`` and valid-sample masks."""
        noisy, clean, lengths = batch
        mask = (np.arange(self.config.window)[None, :] < lengths[:, None]).astype(np.float32)
        noisy, clean, mask = (_to_device(array, self.device) for array in (noisy, clean, mask))
        coef = self.config.preemphasis
        return preemphasis(noisy, coef), preemphasis(clean, coef), mask

    def _train_step(self, batch: WaveBatch) -> float:
        self.model.train()
        self.discriminator.train()
        noisy, clean, _ = self._windows(batch)
        losses = train_step(self.model, self.discriminator, self.noise_discriminator, self.optimizer,
                            self.optimizer_d, noisy, clean, self.config, self.cfg.clip_grad)
        return losses["g_l1"]

    @torch.no_grad()
    def validate(self) -> float:
        """Mean absolute error to the clean (pre-emphasised) window over valid samples."""
        self.model.eval()
        total = weight = 0.0
        for batch in self.valid_data.central_batches():
            noisy, clean, mask = self._windows(batch)
            total += float(((self.model(noisy) - clean).abs() * mask).sum())
            weight += float(mask.sum())
        return total / weight

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
