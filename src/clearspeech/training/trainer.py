"""The train stage: fit a spectral model on the feature store, nanoGPT-plain.

Each epoch: ``steps_per_epoch`` AdamW steps on random crops (gradient clipping), then the loss
on fixed central crops of every validation mixture. ReduceLROnPlateau lowers the learning rate,
early stopping ends training, a NaN/inf loss stops it with an error instead of saving garbage.
``<checkpoint_dir>/last.pt`` is written atomically every epoch with optimizer and scheduler
state, so a killed run resumes where it stopped; ``best.pt`` holds the best validation epoch.
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

from clearspeech.core.config import above, at_least, below, one_of, validate
from clearspeech.core.files import atomic_path, file_digest, write_text_atomic
from clearspeech.data.features import load_split
from clearspeech.inference.enhancer import Standardizer, output_kind, output_to_log_magnitude
from clearspeech.models import (
    ARCHITECTURES,
    WAVEFORM_ARCHS,
    ModelParams,
    build_model,
    front_end_params,
    parameter_count,
)
from clearspeech.models.checkpoint import load_checkpoint, save_checkpoint
from clearspeech.training.batches import Batch, CropBatches
from clearspeech.training.frontend import SpectralFrontEnd, WaveCropBatches, waveform_stats

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
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


def device_rule(name: str) -> str | None:
    """A :mod:`clearspeech.core.config` rule: ``auto`` or a name ``torch.device`` accepts."""
    try:
        if name != "auto":
            torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        return "must be auto or a torch device such as cpu, cuda or cuda:1"
    return None


# "target": MSE in the model's output domain (mask, or standardised log-magnitude).
# "compressed": MSE between estimated and clean magnitudes raised to ``compress``, which weighs
# loud bins more than a log or mask loss does, as waveform metrics (SI-SDR) do.
LOSSES = ("target", "compressed")


# Fields that may change between a killed run and its resume without invalidating it.
_RESUMABLE = {"device", "epochs", "patience", "max_minutes", "threads"}


def resolve_device(name: str, threads: int) -> torch.device:
    """``auto``: CUDA when present, else CPU with ``threads`` (0 = every available core)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cpu":
        torch.set_num_threads(threads or len(os.sched_getaffinity(0)))
    return device


class Trainer:
    """Holds model, optimiser and data for one training run; ``run()`` trains to the end."""

    def __init__(self, features_dir: str | os.PathLike, model_params: ModelParams, cfg: TrainConfig,
                 checkpoint_dir: str | os.PathLike) -> None:
        self._begin(cfg, checkpoint_dir)
        self._load_data(Path(features_dir), model_params, cfg)
        self.base = {"arch": model_params.arch, "model_config": model_params.arch_config, "bins": self.stft["bins"],
                     "target": model_params.target, "stft": self.stft, "stats": self.stats}
        self.model = build_model(model_params.arch, self.base["model_config"], self.base["bins"], model_params.target)
        self.model.to(self.device)
        self.standardizer = Standardizer(self.stats).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self._end()
        log.info("%s (%s target): %d parameters, %d steps/epoch on %s",
                 model_params.arch, model_params.target, self.parameters, self.steps, self.device)

    def _begin(self, cfg: TrainConfig, checkpoint_dir: str | os.PathLike) -> None:
        """Settings, device and seed, before anything random is built."""
        self.cfg, self.checkpoint_dir = cfg, Path(checkpoint_dir)
        self.device = resolve_device(cfg.device, cfg.threads)
        torch.manual_seed(cfg.seed)

    def _end(self) -> None:
        """Schedule, signature and fresh state, once ``base``, ``model`` and ``optimizer`` exist."""
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, factor=self.cfg.lr_factor, patience=self.cfg.lr_patience)
        self.signature = _signature(self.base, self.cfg)
        self.state: dict[str, Any] = {"epoch": 0, "best_valid_loss": math.inf, "best_epoch": 0, "history": []}
        self.parameters = parameter_count(self.model)

    def _load_data(self, features_dir: Path, model_params: ModelParams, cfg: TrainConfig) -> None:
        """The stored spectra when the model uses the features stage's STFT; otherwise its own
        STFT of waveform crops of the same duration, standardised with train-split statistics."""
        store = json.loads((features_dir / "stft.json").read_text())
        params = front_end_params(model_params.arch, model_params.arch_config, store["sample_rate"])
        train_split, valid_split = load_split(features_dir, "train"), load_split(features_dir, "valid")
        if params is None:
            self.front, self.stft = None, store
            self.stats = json.loads((features_dir / "stats.json").read_text())
            self.train_data = CropBatches(train_split, cfg.crop_frames, cfg.batch_size)
            self.valid_data = CropBatches(valid_split, cfg.crop_frames, cfg.batch_size)
            self.steps = cfg.steps_per_epoch or math.ceil(
                self.train_data.total_frames / (cfg.batch_size * cfg.crop_frames))
        else:
            self.front = SpectralFrontEnd(params, store["floor"])
            self.stft = dataclasses.asdict(params) | {"floor": store["floor"], "bins": params.bins}
            log.info("%s front end: %d-point %s STFT, hop %d; statistics from the train waveforms",
                     model_params.arch, params.n_fft, params.window, params.hop)
            self.stats = waveform_stats(train_split, self.front)
            crop = cfg.crop_frames * store["hop"]  # the same crop duration as the stored spectra's
            self.train_data = WaveCropBatches(train_split, crop, cfg.batch_size)
            self.valid_data = WaveCropBatches(valid_split, crop, cfg.batch_size)
            self.steps = cfg.steps_per_epoch or math.ceil(self.train_data.total_samples / (cfg.batch_size * crop))

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
        self.load_extra_state(payload)
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
            loss = self._train_step(self.train_data.random_batch(rng))
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

    def _train_step(self, batch: Batch) -> float:
        """One optimiser step on ``batch``; its loss (not stepped when it is not finite)."""
        loss = self._loss(batch)
        if not torch.isfinite(loss):
            return loss.item()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_grad)
        self.optimizer.step()
        return loss.item()

    @torch.no_grad()
    def validate(self) -> float:
        """Weighted mean loss over the central crop of every validation mixture."""
        self.model.eval()
        total = weight = 0.0
        for batch in self.valid_data.central_batches():
            loss_sum, frames = self._loss(batch, reduce=False)
            total, weight = total + loss_sum.item(), weight + frames.item()
        return total / weight

    def _loss(self, batch: Batch, reduce: bool = True) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Frame-weighted mean squared error in the model's output domain; with ``reduce=False``
        the weighted sum and the weight (valid frames), for exact means over many batches."""
        noisy, clean, weights = (_to_device(array, self.device) for array in batch)
        if self.front is not None:  # waveform crops: this model's own STFT, on the device
            waves = noisy, clean
            noisy, clean, weights = self.front.batch(noisy, clean, weights)
        if hasattr(self.model, "loss"):  # the autoencoder: its own target (IBM/IRM/mapping) and loss
            target = own_target(self.base["target"], self.model, self.front, *waves, clean, self.standardizer)
            mean = self.model.loss(self.standardizer.noisy(noisy), target, weights)
            return mean if reduce else (mean * weights.sum(), weights.sum())
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            output = self.model(self.standardizer.noisy(noisy)).float()
        kind = output_kind(self.model)
        if self.cfg.loss == "compressed":
            estimate = output_to_log_magnitude(output, noisy, kind, self.standardizer)
            output, target = torch.exp(self.cfg.compress * estimate), torch.exp(self.cfg.compress * clean)
        elif kind == "mask":
            target = torch.exp(clean - noisy).clamp(0.0, 1.0)
        elif kind == "magnitude":
            target = torch.exp(clean)
        else:
            target = self.standardizer.clean(clean)
        squared = (output - target).square().mean(dim=-1) * weights  # (batch, frames)
        return squared.sum() / weights.sum() if reduce else (squared.sum(), weights.sum())

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
            "signature": self.signature, **self.extra_state(), **self.state})

    def extra_state(self) -> dict[str, Any]:
        """More training state for ``last.pt`` (a GAN's discriminators); none here."""
        return {}

    def load_extra_state(self, payload: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` saved."""

    def model_payload(self) -> dict[str, Any]:
        """What a checkpoint needs to rebuild and use the model, with the current weights."""
        weights = {key: value.detach().cpu() for key, value in self.model.state_dict().items()}
        return {**self.base, "model_state": weights, "epoch": self.state["epoch"]}


def own_target(target: str, model: torch.nn.Module, front: SpectralFrontEnd, noisy_wave: torch.Tensor,
               clean_wave: torch.Tensor, clean_log: torch.Tensor, standardizer: Standardizer) -> torch.Tensor:
    """The training target ``(batch, frames, bins)`` of a model with its own loss: the ideal
    binary or ratio mask from the clean and noise (noisy - clean) magnitudes, or the standardised
    clean log-magnitude for ``mapping``."""
    from clearspeech.models.autoencoder import ideal_binary_mask, ideal_ratio_mask

    if target == "mapping":
        return standardizer.clean(clean_log)
    clean_mag, noise_mag = clean_log.exp(), front.log_spectra(noisy_wave - clean_wave).exp()
    if target == "ibm":
        return ideal_binary_mask(clean_mag, noise_mag, model.config.ibm_threshold_db)
    return ideal_ratio_mask(clean_mag, noise_mag)


def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """On CUDA via page-locked memory, so the copy can overlap compute."""
    tensor = torch.from_numpy(array)
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


def _signature(base: dict[str, Any], cfg: TrainConfig) -> str:
    """Hash of everything that makes a checkpoint belong to this run: model and training params,
    data statistics, and the architecture's source file (a fix there must not resume old weights)."""
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _RESUMABLE}
    code = file_digest(inspect.getsourcefile(ARCHITECTURES[base["arch"]][1]))
    text = json.dumps({**base, "train": settings, "code": code}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def train(features_dir: str | os.PathLike, model_params: ModelParams, cfg: TrainConfig,
          checkpoint_dir: str | os.PathLike, model_out: str | os.PathLike, metrics_dir: str | os.PathLike,
          on_epoch: Callable[[dict[str, float]], None] | None = None) -> dict[str, Any]:
    """Train (resuming when possible), then write the best model and ``train.json`` /
    ``train_curve.csv`` into ``metrics_dir``; returns the summary written to ``train.json``.

    ``checkpoint_dir`` is a root: each configuration keeps ``last.pt`` / ``best.pt`` in its own
    ``<signature[:16]>/`` folder, so switching params back and forth resumes each of them.
    """
    trainer_cls = Trainer
    if model_params.arch in WAVEFORM_ARCHS:
        from clearspeech.training.adversarial import SEGANTrainer  # it imports this module

        trainer_cls = SEGANTrainer
    trainer = trainer_cls(features_dir, model_params, cfg, checkpoint_dir)
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
    metrics_dir = Path(metrics_dir)
    write_text_atomic(metrics_dir / "train.json", json.dumps(summary, indent=2) + "\n")
    curve = pd.DataFrame(state["history"], columns=["epoch", "train_loss", "valid_loss", "lr", "seconds"])
    with atomic_path(metrics_dir / "train_curve.csv", suffix=".csv") as tmp:
        curve.to_csv(tmp, index=False, float_format="%.6g")
    return summary

