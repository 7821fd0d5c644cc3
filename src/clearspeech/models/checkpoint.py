"""Checkpoints that rebuild their model without ``params.yaml``, written atomically.

A checkpoint is a dict: ``arch``, ``model_config``, ``bins``, ``target``, ``stft`` (the STFT
settings and log floor), ``stats`` (per-bin standardisation from the train split),
``model_state``; training checkpoints add ``optimizer_state``, ``scheduler_state``, ``epoch``,
``best_valid_loss``, ``best_epoch``, ``history``, ``signature`` and ``rng_state``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from clearspeech.core.architecture import WAVEFORM
from clearspeech.core.errors import UserError
from clearspeech.core.files import atomic_path
from clearspeech.models import REGISTRY, build_model

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
        raise CheckpointError(f"{path}: not a readable checkpoint ({_safe_reason(err)})") from err
    missing = [key for key in _REQUIRED if not isinstance(payload, dict) or key not in payload]
    if missing:
        raise CheckpointError(f"{path}: not a ClearSpeech checkpoint (missing {missing})")
    problem = _inconsistency(payload)
    if problem:
        raise CheckpointError(f"{path}: inconsistent checkpoint ({problem})")
    return payload


def _safe_reason(err: Exception) -> str:
    """torch's message without its advice to retry with ``weights_only=False`` (arbitrary code)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    unpickler = [line for line in lines if "WeightsUnpickler error" in line]
    if unpickler:
        return "refused: it needs code to load, " + unpickler[0].split("WeightsUnpickler error:", 1)[1].strip()
    return " ".join(line for line in lines if "weights_only" not in line) or type(err).__name__


def _inconsistency(payload: dict[str, Any]) -> str | None:
    """What makes a structurally complete checkpoint unusable, or None."""
    stft = payload["stft"]
    rate = stft.get("sample_rate") if isinstance(stft, dict) else None
    if not isinstance(rate, int) or rate <= 0:
        return f"stft.sample_rate is {rate!r}, not a positive integer"
    state = payload["model_state"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return "model_state is not a dict of tensors"
    if any(v.is_floating_point() and not torch.isfinite(v).all() for v in state.values()):
        return "the weights contain NaN or infinite values"
    spec = REGISTRY.get(payload["arch"])
    if spec is not None and spec.front_end != WAVEFORM:
        for key in ("noisy_mean", "noisy_std", "clean_mean", "clean_std"):
            values = payload["stats"].get(key) if isinstance(payload["stats"], dict) else None
            if values is None or len(values) != payload["bins"]:
                return f"stats.{key} has {0 if values is None else len(values)} values, not bins={payload['bins']}"
            if not all(math.isfinite(v) and (v > 0 or key.endswith("mean")) for v in values):
                return f"stats.{key} holds non-finite{' or non-positive' if key.endswith('std') else ''} values"
    try:
        with torch.device("meta"):
            expected = build_model(payload["arch"], payload["model_config"], payload["bins"],
                                   payload["target"]).state_dict()
    except Exception as err:  # an unknown arch or a config the model rejects
        return f"model {payload['arch']!r} cannot be built from its config: {err}"
    if set(expected) != set(state):
        return f"weights do not match the model config ({sorted(set(expected) ^ set(state))[:3]} differ)"
    wrong = [k for k, v in expected.items() if v.shape != state[k].shape]
    if wrong:
        return (f"weights do not match the model config ({wrong[0]}: {tuple(state[wrong[0]].shape)} in the file, "
                f"{tuple(expected[wrong[0]].shape)} for the config)")
    return None


def model_from_checkpoint(payload: dict[str, Any]) -> nn.Module:
    """The model of a loaded checkpoint, with its weights, in eval mode."""
    model = build_model(payload["arch"], payload["model_config"], payload["bins"], payload["target"])
    model.load_state_dict(payload["model_state"])
    return model.eval()
