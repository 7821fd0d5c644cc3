"""The train stage: fit a model on the feature store, nanoGPT-plain.

Each epoch: ``steps_per_epoch`` optimiser steps on random crops, then the loss on fixed central
crops of every validation mixture; what a step and a validation loss are is the architecture's
task (:mod:`clearspeech.training.tasks`, :mod:`clearspeech.training.adversarial`). ReduceLROnPlateau
lowers the learning rate, early stopping ends training, a NaN/inf loss stops it with an error
instead of saving garbage. ``<checkpoint_dir>/last.pt`` is written atomically every epoch with
optimizer and scheduler state, so a killed run resumes where it stopped; ``best.pt`` holds the
best validation epoch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from clearspeech.core.architecture import ADVERSARIAL, OWN_LOSS, SPECTRAL, Architecture
from clearspeech.core.config import above, at_least, below, one_of, validate
from clearspeech.core.device import device_rule, resolve_device
from clearspeech.core.errors import UserError
from clearspeech.core.files import atomic_path, file_digest, write_text_atomic
from clearspeech.models import ModelParams, architecture, parameter_count
from clearspeech.models.checkpoint import load_checkpoint, save_checkpoint
from clearspeech.training.adversarial import AdversarialTask
from clearspeech.training.frontend import training_data
from clearspeech.training.tasks import OwnLossTask, SpectralTask, Task

TASKS: dict[str, Callable[..., Task]] = {SPECTRAL: SpectralTask, OWN_LOSS: OwnLossTask, ADVERSARIAL: AdversarialTask}

log = logging.getLogger(__name__)


class TrainingDiverged(UserError, RuntimeError):
    """The loss became NaN or infinite."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The ``train`` section of ``params.yaml``."""

    device: str = "auto"
    epochs: int = 40
    batch_size: int = 32
    crop_frames: int = 192
    steps_per_epoch: int = 0
    lr: float = 1e-3
    weight_decay: float = 1e-4
    clip_grad: float = 5.0
    lr_factor: float = 0.5
    lr_patience: int = 2
    patience: int = 6
    max_minutes: float = 0.0
    threads: int = 0
    seed: int = 0
    loss: str = "compressed"
    compress: float = 0.3

    def __post_init__(self) -> None:
        validate(self, "train", device=device_rule, epochs=at_least(0), batch_size=at_least(1),
                 crop_frames=at_least(1), steps_per_epoch=at_least(0), lr=above(0), weight_decay=at_least(0),
                 clip_grad=above(0), lr_factor=(above(0), below(1)), lr_patience=at_least(0), patience=at_least(1),
                 max_minutes=at_least(0), threads=at_least(0), seed=at_least(0), loss=one_of(LOSSES),
                 compress=above(0))


# "target": MSE in the model's output domain (mask, or standardised log-magnitude).
# "compressed": MSE between estimated and clean magnitudes raised to ``compress``, which weighs
# loud bins more than a log or mask loss does, as waveform metrics (SI-SDR) do.
LOSSES = ("target", "compressed")


# Fields that may change between a killed run and its resume without invalidating it.
_RESUMABLE = {"device", "epochs", "patience", "max_minutes", "threads"}


class Trainer:
    """Holds model, task, schedule and data for one training run; ``run()`` trains to the end."""

    def __init__(self, features_dir: str | os.PathLike, model_params: ModelParams, cfg: TrainConfig,
                 checkpoint_dir: str | os.PathLike) -> None:
        self.cfg, self.checkpoint_dir = cfg, Path(checkpoint_dir)
        self.device = resolve_device(cfg.device, cfg.threads)
        torch.manual_seed(cfg.seed)  # before anything random is built
        spec = architecture(model_params.arch)
        self.data = training_data(Path(features_dir), spec, model_params, cfg.crop_frames, cfg.batch_size,
                                  cfg.steps_per_epoch)
        self.train_data, self.valid_data, self.steps = self.data.train, self.data.valid, self.data.steps
        self.base = {"arch": spec.name, "model_config": model_params.arch_config, **self.data.checkpoint}
        self.model = spec.build(self.base["model_config"], self.base["bins"], self.base["target"]).to(self.device)
        self.task = TASKS[spec.task](spec, self.model, self.data, cfg, self.device)
        self.optimizer = self.task.optimizer
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, factor=cfg.lr_factor, patience=cfg.lr_patience)
        self.signature = signature(self.base, cfg, spec)
        self.state: dict[str, Any] = {"epoch": 0, "best_valid_loss": math.inf, "best_epoch": 0, "history": []}
        self.parameters = parameter_count(self.model)
        log.info("%s (%s target, %s task): %d parameters, %d steps/epoch on %s",
                 spec.name, self.base["target"], spec.task, self.parameters, self.steps, self.device)

    def resume(self) -> bool:
        """Continue from ``last.pt`` when it belongs to this configuration."""
        last = self.checkpoint_dir / "last.pt"
        if not last.is_file():
            return False
        payload = load_checkpoint(last, self.device)
        if payload.get("signature") != self.signature:
            log.warning("%s belongs to other params or data; starting afresh", last)
            return False
        self.model.load_state_dict(payload["model_state"])
        self.optimizer.load_state_dict(payload["optimizer_state"])
        self.scheduler.load_state_dict(payload["scheduler_state"])
        torch.set_rng_state(payload["rng_state"].cpu())  # loaded onto the device, needed on the host
        self.task.load_extra_state(payload)
        self.state = {key: payload[key] for key in self.state}
        log.info("resumed from %s after epoch %d", last, self.state["epoch"])
        return True

    def run(self, on_epoch: Callable[[dict[str, float]], None] | None = None) -> dict[str, Any]:
        """Train until ``epochs``, early stopping or the time budget; returns the final state."""
        started = time.monotonic()
        for row in self.state["history"]:
            if on_epoch:
                on_epoch(row)
        reason = "epochs"
        while self.state["epoch"] < self.cfg.epochs:
            if self.state["epoch"] - self.state["best_epoch"] >= self.cfg.patience and self.state["epoch"]:
                reason = "early stopping"
                break
            if self.cfg.max_minutes and time.monotonic() - started > 60 * self.cfg.max_minutes:
                reason = "time budget"
                break
            row = self._epoch(self.state["epoch"] + 1)
            if on_epoch:
                on_epoch(row)
        log.info("training ended (%s); best epoch %d, valid loss %.4f",
                 reason, self.state["best_epoch"], self.state["best_valid_loss"])
        return {**self.state, "stopped_by": reason}

    def _epoch(self, epoch: int) -> dict[str, float]:
        tick = time.monotonic()
        rng = np.random.default_rng([self.cfg.seed, epoch])  # resumable: no generator state to save
        self.model.train()
        losses = []
        for _ in tqdm(range(self.steps), desc=f"epoch {epoch}", unit="step", leave=False):
            loss = self.task.train_step(self.train_data.random_batch(rng))
            if not math.isfinite(loss):
                raise TrainingDiverged(f"training loss became {loss} at epoch {epoch}; "
                                       "nothing was saved for this epoch (lower train.lr or check the features)")
            losses.append(loss)
        valid_loss = self.validate()
        if not math.isfinite(valid_loss):
            raise TrainingDiverged(f"validation loss became {valid_loss} at epoch {epoch}; nothing was saved "
                                   "for this epoch (lower train.lr or check the features)")
        self.scheduler.step(valid_loss)
        row = {"epoch": epoch, "train_loss": float(np.mean(losses)), "valid_loss": valid_loss,
               "lr": self.optimizer.param_groups[0]["lr"], "seconds": time.monotonic() - tick}
        self._save(row)
        log.info("epoch %d: train %.4f valid %.4f lr %.2g (%.0f s)",
                 epoch, row["train_loss"], valid_loss, row["lr"], row["seconds"])
        return row

    @torch.no_grad()
    def validate(self) -> float:
        """Weighted mean loss over the central crop of every validation mixture."""
        self.model.eval()
        total = weight = 0.0
        for batch in self.valid_data.central_batches():
            loss_sum, frames = self.task.valid_sums(batch)
            total, weight = total + loss_sum.item(), weight + frames.item()
        return total / weight

    def _save(self, row: dict[str, float]) -> None:
        epoch = row["epoch"]
        self.state["epoch"] = epoch
        self.state["history"] = [*self.state["history"], row]
        if row["valid_loss"] < self.state["best_valid_loss"]:
            self.state.update(best_valid_loss=row["valid_loss"], best_epoch=epoch)
            save_checkpoint(self.checkpoint_dir / "best.pt", self.model_payload())
        save_checkpoint(self.checkpoint_dir / "last.pt", {
            **self.model_payload(), "optimizer_state": self.optimizer.state_dict(),
            "scheduler_state": self.scheduler.state_dict(), "rng_state": torch.get_rng_state(),
            "signature": self.signature, **self.task.extra_state(), **self.state})

    def model_payload(self) -> dict[str, Any]:
        """What a checkpoint needs to rebuild and use the model, with the current weights."""
        weights = {key: value.detach().cpu() for key, value in self.model.state_dict().items()}
        return {**self.base, "model_state": weights, "epoch": self.state["epoch"]}


def signature(base: dict[str, Any], cfg: TrainConfig, spec: Architecture) -> str:
    """Hash of everything that makes a checkpoint belong to this run: model and training params,
    data statistics, and the architecture's source file (a fix there must not resume old weights)."""
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _RESUMABLE}
    code = file_digest(inspect.getsourcefile(spec.model))
    text = json.dumps({**base, "train": settings, "code": code}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def train(features_dir: str | os.PathLike, model_params: ModelParams, cfg: TrainConfig,
          checkpoint_dir: str | os.PathLike, model_out: str | os.PathLike, summary_json: str | os.PathLike,
          curve_csv: str | os.PathLike, on_epoch: Callable[[dict[str, float]], None] | None = None) -> dict[str, Any]:
    """Train (resuming when possible), then write the best model to ``model_out``, the summary
    (returned too) to ``summary_json`` and one row per epoch to ``curve_csv``.

    ``checkpoint_dir`` is a root: each configuration keeps ``last.pt`` / ``best.pt`` in its own
    ``<signature[:16]>/`` folder, so switching params back and forth resumes each of them.
    """
    trainer = Trainer(features_dir, model_params, cfg, checkpoint_dir)
    trainer.checkpoint_dir = Path(checkpoint_dir) / trainer.signature[:16]
    trainer.resume()
    state = trainer.run(on_epoch)
    best = load_checkpoint(trainer.checkpoint_dir / "best.pt")
    save_checkpoint(model_out, {**best, "valid_loss": state["best_valid_loss"]})
    summary = {
        "arch": model_params.arch, "target": model_params.target, "parameters": trainer.parameters,
        "device": trainer.device.type, "epochs": state["epoch"], "best_epoch": state["best_epoch"],
        "best_valid_loss": state["best_valid_loss"], "stopped_by": state["stopped_by"],
        "train_seconds": round(sum(row["seconds"] for row in state["history"]), 1),
    }
    write_text_atomic(summary_json, json.dumps(summary, indent=2) + "\n")
    curve = pd.DataFrame(state["history"], columns=["epoch", "train_loss", "valid_loss", "lr", "seconds"])
    with atomic_path(curve_csv, suffix=".csv") as tmp:
        curve.to_csv(tmp, index=False, float_format="%.6g")
    return summary

