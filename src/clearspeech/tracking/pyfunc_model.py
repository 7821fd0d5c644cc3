"""Models-from-code entry point of the registered enhancer (logged by ``tracking.register_model``).

MLflow executes this file when the model is loaded; ``clearspeech`` comes from the model's
``code_paths``. Nothing here logs to MLflow.
"""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch

from clearspeech.inference.enhancer import Enhancer


def as_waveform_batch(model_input: Any) -> np.ndarray:
    """Waveforms as float32 ``(batch, samples)``.

    Accepts ``(samples,)`` or ``(batch, samples)`` arrays, nested lists, and the DataFrames the
    REST server builds (one row per waveform, either one sample per column or one list per cell).
    """
    values = np.asarray(model_input.to_numpy() if isinstance(model_input, pd.DataFrame) else model_input)
    if values.dtype == object:  # one column of list cells: one waveform per row
        values = np.stack([np.asarray(row[0], dtype=np.float32) for row in values])
    batch = np.atleast_2d(values.astype(np.float32, copy=False))
    if batch.ndim != 2:
        raise ValueError(f"expected waveforms (batch, samples), got shape {batch.shape}")
    if not np.isfinite(batch).all():
        row, col = np.argwhere(~np.isfinite(batch))[0]
        raise ValueError(f"waveform {row} has a NaN or infinite sample (index {col}); send finite samples")
    return batch


class EnhancerModel(mlflow.pyfunc.PythonModel):
    """Noisy waveforms in, enhanced waveforms out, at the checkpoint's sample rate."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.enhancer = Enhancer.from_checkpoint(context.artifacts["checkpoint"], device=device)

    # np.ndarray is a hint MLflow accepts without deriving a schema (no hint, or Any, makes it warn);
    # the logged TensorSpec signature is the contract, so through pyfunc this is what arrives.
    def predict(self, context: mlflow.pyfunc.PythonModelContext, model_input: np.ndarray,
                params: dict[str, Any] | None = None) -> np.ndarray:
        """float32 ``(batch, samples)`` (or see :func:`as_waveform_batch`) -> float32 ``(batch, samples)``.

        Long waveforms are enhanced in overlapping chunks, so memory stays bounded; inputs shorter
        than one STFT frame are zero-padded.
        """
        batch = as_waveform_batch(model_input)
        out = self.enhancer.enhance_signal(batch.T, self.enhancer.sample_rate).T.astype(np.float32)
        if not np.isfinite(out).all():
            raise ValueError("the model's output has NaN or infinite samples (is the checkpoint broken?)")
        return out


mlflow.models.set_model(EnhancerModel())
