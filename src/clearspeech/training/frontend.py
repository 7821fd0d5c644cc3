"""What a model trains on, chosen by its architecture's front end.

- ``stored``: crops of the features stage's spectra and its ``stats.json``.
- ``own_stft``: random waveform crops of the memory-mapped ``<split>/noisy_wave.npy`` /
  ``clean_wave.npy`` (the same duration as the stored spectra's crops), turned into spectra on the
  training device by the model's own STFT; per-bin statistics from the train split's waveforms,
  with the features stage's arithmetic (:class:`clearspeech.data.features.BinStats`).
- ``waveform``: waveform crops of the model's ``window`` samples, no spectra, no statistics.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clearspeech.core.architecture import OWN_STFT, STORED, Architecture
from clearspeech.core.config import from_mapping
from clearspeech.core.stft import SpectralFrontEnd
from clearspeech.data.features import BinStats, FeatureSplit, load_split
from clearspeech.models import ModelParams
from clearspeech.training.batches import CropBatches, Crops, WaveCropBatches

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """Batches of both splits, optimiser steps per epoch, what a checkpoint records of the front
    end (``bins``, ``target``, ``stft``, ``stats``) and the on-the-fly front end (None unless
    ``own_stft``)."""

    train: Crops
    valid: Crops
    steps: int
    checkpoint: dict[str, Any]
    front: SpectralFrontEnd | None = None


def waveform_stats(split: FeatureSplit, front: SpectralFrontEnd) -> dict:
    """Per-bin mean and standard deviation of noisy and clean log-magnitudes over every mixture
    of ``split``, as the features stage's ``stats.json`` (same keys, same arithmetic)."""
    stats = BinStats(front.params.bins)
    for start, samples in split.index[["sample_start", "samples"]].to_numpy():
        waves = (np.asarray(getattr(split, f"{kind}_wave")[start:start + samples], np.float32)
                 for kind in ("noisy", "clean"))
        stats.add(*(front.log_spectra(torch.from_numpy(wave)).double().numpy() for wave in waves))
    return stats.finish()


def training_data(features_dir: Path, spec: Architecture, model_params: ModelParams, crop_frames: int,
                  batch_size: int, steps_per_epoch: int) -> TrainingData:
    """The batches and front end of ``spec`` on the store in ``features_dir``; ``steps_per_epoch``
    0 means one pass over the train split's frames (or samples) on average."""
    store = json.loads((features_dir / "stft.json").read_text())
    train_split, valid_split = load_split(features_dir, "train"), load_split(features_dir, "valid")
    target = spec.target_for(model_params.target)
    front = None
    if spec.front_end == STORED:
        checkpoint = {"bins": store["bins"], "target": target, "stft": store,
                      "stats": json.loads((features_dir / "stats.json").read_text())}
        train, valid = (CropBatches(split, crop_frames, batch_size) for split in (train_split, valid_split))
    elif spec.front_end == OWN_STFT:
        params = spec.stft(model_params.arch_config, store["sample_rate"])
        front = SpectralFrontEnd(params, store["floor"])
        log.info("%s front end: %d-point %s STFT, hop %d; statistics from the train waveforms",
                 spec.name, params.n_fft, params.window, params.hop)
        checkpoint = {"bins": params.bins, "target": target,
                      "stft": dataclasses.asdict(params) | {"floor": store["floor"], "bins": params.bins},
                      "stats": waveform_stats(train_split, front)}
        crop = crop_frames * store["hop"]  # the same crop duration as the stored spectra's
        train, valid = (WaveCropBatches(split, crop, batch_size) for split in (train_split, valid_split))
    else:  # waveform
        config = from_mapping(spec.config, model_params.arch_config)
        if store["sample_rate"] != config.sample_rate:
            raise ValueError(f"model.{spec.name}.sample_rate is {config.sample_rate} Hz, the data "
                             f"{store['sample_rate']} Hz")
        checkpoint = {"bins": 0, "target": target, "stft": {"sample_rate": store["sample_rate"]}, "stats": {}}
        train, valid = (WaveCropBatches(split, config.window, batch_size) for split in (train_split, valid_split))
    steps = steps_per_epoch or math.ceil(train.total / (batch_size * train.crop))
    return TrainingData(train, valid, steps, checkpoint, front)
