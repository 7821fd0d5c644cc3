"""Checkpoints that rebuild their model without ``params.yaml``, written atomically.

A checkpoint is a dict: ``arch``, ``model_config``, ``bins``, ``target``, ``stft`` (the STFT
settings and log floor), ``stats`` (per-bin standardisation from the train split),
``model_state``; training checkpoints add ``optimizer_state``, ``scheduler_state``, ``epoch``,
``best_valid_loss``, ``best_epoch``, ``history``, ``signature`` and ``rng_state``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from clearspeech.core.errors import UserError
from clearspeech.core.files import atomic_path
from clearspeech.models import build_model

FORMAT_VERSION = 1
_REQUIRED = ("arch", "model_config", "bins", "target", "stft", "stats", "model_state")


class CheckpointError(UserError, ValueError):
    """A file that is not a usable ClearSpeech checkpoint; the message names it."""


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` through a temporary file, so a kill never leaves half a file."""
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save({"format_version": FORMAT_VERSION, **payload}, tmp)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and check a checkpoint (tensors and plain containers only: ``weights_only``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt or foreign file
        raise CheckpointError(f"{path}: not a readable checkpoint ({err})") from err
    missing = [key for key in _REQUIRED if not isinstance(payload, dict) or key not in payload]
    if missing:
        raise CheckpointError(f"{path}: not a ClearSpeech checkpoint (missing {missing})")
    return payload


def model_from_checkpoint(payload: dict[str, Any]) -> nn.Module:
    """The model of a loaded checkpoint, with its weights, in eval mode."""
    model = build_model(payload["arch"], payload["model_config"], payload["bins"], payload["target"])
    model.load_state_dict(payload["model_state"])
    return model.eval()
