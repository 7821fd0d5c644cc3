"""Report figures: the training curve and spectrogram comparisons, written as PNG atomically.

Figures are built on the Agg canvas directly (no pyplot), so plotting needs no display and
leaves no global figure state behind in a long-lived process.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from clearspeech.core.files import atomic_path
from clearspeech.core.stft import StftParams, stft

DPI = 110
# Colour range below the loudest bin: quieter detail is noise floor on any of these signals.
DYNAMIC_RANGE_DB = 80.0
_FRAME_SECONDS = 0.032
_POWER_FLOOR = 1e-12


def _save(fig: Figure, dest: str | os.PathLike) -> None:
    """Render ``fig`` with Agg into ``dest`` through a temporary file."""
    FigureCanvasAgg(fig)
    with atomic_path(dest, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)


def plot_curve(curve: pd.DataFrame, dest: str | os.PathLike) -> None:
    """Train and valid loss per epoch (log y when positive) with the learning rate on a twin axis.

    ``curve``: one row per epoch with columns ``epoch``, ``train_loss``, ``valid_loss``, ``lr``.
    """
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    for column, style in (("train_loss", "-o"), ("valid_loss", "-s")):
        ax.plot(curve["epoch"], curve[column], style, markersize=3, label=column.replace("_", " "))
    losses = curve[["train_loss", "valid_loss"]].to_numpy()
    # A loss that can go negative (e.g. SI-SDR) has no log scale.
    if len(curve) and np.all(losses[np.isfinite(losses)] > 0):
        ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="loss")
    lr_ax = ax.twinx()
    lr_ax.step(curve["epoch"], curve["lr"], where="mid", color="tab:gray", linestyle="--", label="lr")
    lr_ax.set(ylabel="learning rate", yscale="log" if len(curve) and (curve["lr"] > 0).all() else "linear")
    lines = ax.get_lines() + lr_ax.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], loc="upper right")
    _save(fig, dest)


def _power_db(signal: np.ndarray, rate: int) -> np.ndarray:
    """Mono ``(samples,)`` -> log-power spectrogram ``(frames, bins)`` in dB (32 ms frames)."""
    n_fft = 1 << max(6, round(math.log2(_FRAME_SECONDS * rate)))
    params = StftParams(n_fft=n_fft, hop=n_fft // 4, window="hann", sample_rate=rate)
    spec = stft(torch.as_tensor(np.asarray(signal, dtype=np.float32)), params)
    return 10.0 * np.log10(np.maximum(spec.abs().square().numpy(), _POWER_FLOOR))


def plot_spectrograms(signals: Mapping[str, np.ndarray], rate: int, dest: str | os.PathLike, title: str) -> None:
    """One row per named mono signal ``(samples,)``, log-power in dB on one shared colour scale."""
    if not signals:
        raise ValueError("plot_spectrograms needs at least one signal")
    spectra = {name: _power_db(signal, rate) for name, signal in signals.items()}
    top = max(float(spec.max()) for spec in spectra.values())
    fig = Figure(figsize=(8, 1.0 + 1.8 * len(spectra)), layout="constrained")
    axes = fig.subplots(len(spectra), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, spec), signal in zip(axes, spectra.items(), signals.values(), strict=True):
        image = ax.imshow(spec.T, origin="lower", aspect="auto", cmap="magma", vmin=top - DYNAMIC_RANGE_DB,
                          vmax=top, extent=(0.0, len(signal) / rate, 0.0, rate / 2000.0))
        ax.set_ylabel(f"{name}\nfrequency (kHz)")
    axes[-1].set_xlabel("time (s)")
    fig.colorbar(image, ax=list(axes), label="power (dB)")
    fig.suptitle(title)
    _save(fig, dest)


def plot_gain_by_snr(gains: pd.DataFrame, dest: str | os.PathLike, metric: str = "PESQ-WB") -> None:
    """Mean paired gain over the noisy input per SNR: ``gains`` has column ``snr`` and one column
    per system (:func:`clearspeech.evaluation.summary.delta_by_snr`'s table)."""
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for system in gains.columns.drop("snr"):
        ax.plot(gains["snr"], gains[system], "-o", markersize=4, label=system)
    ax.axhline(0.0, color="tab:gray", linewidth=0.8)
    ax.set(xlabel="input SNR (dB)", ylabel=f"{metric} gain over noisy", xticks=sorted(gains["snr"].unique()))
    ax.legend(loc="best")
    _save(fig, dest)
