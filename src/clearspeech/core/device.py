"""Which device runs a model, shared by training, evaluation and the CLI."""

from __future__ import annotations

import os

import torch


def resolve_device(name: str, threads: int) -> torch.device:
    """``auto``: CUDA when present, else CPU with ``threads`` (0 = every available core)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cpu":
        torch.set_num_threads(threads or len(os.sched_getaffinity(0)))
    return device


def device_rule(name: str) -> str | None:
    """A :mod:`clearspeech.core.config` rule: ``auto`` or a name ``torch.device`` accepts."""
    try:
        if name != "auto":
            torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        return "must be auto or a torch device such as cpu, cuda or cuda:1"
    return None
