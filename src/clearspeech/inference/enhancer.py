"""Turning a trained model into a waveform-in, waveform-out enhancer.

A spectral model sees the per-bin standardised noisy log-magnitude; its output is converted back
to a log-magnitude (:func:`clearspeech.models.outputs.output_to_log_magnitude`) and the waveform
is the inverse STFT with the noisy phase. A waveform model enhances the waveform itself.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from clearspeech.core.architecture import WAVEFORM
from clearspeech.core.audio import resample
from clearspeech.core.stft import StftParams, istft, log_magnitude, stft
from clearspeech.inference.chunking import ChunkPlan, aligned_grid, process_array
from clearspeech.models import architecture
from clearspeech.models.checkpoint import load_checkpoint, model_from_checkpoint
from clearspeech.models.outputs import Standardizer, output_to_log_magnitude


@dataclasses.dataclass(frozen=True)
class ChunkSeconds:
    """How long signals are cut (seconds): kept chunk, context on each side, cross-fade.

    A bidirectional recurrent model draws on context from both sides; one second of it puts
    the seams below audibility (README gives the measured difference to a whole-signal pass).
    """

    chunk: float = 20.0
    context: float = 1.0
    fade: float = 0.25


DEFAULT_CHUNKS = ChunkSeconds()


class Enhancer:
    """A checkpoint ready to enhance float32 waveforms at its sample rate."""

    def __init__(self, payload: dict[str, Any], device: str | torch.device = "cpu") -> None:
        stft_meta = payload["stft"]
        self.arch, self.target = payload["arch"], payload["target"]
        self.device = torch.device(device)
        self.model = model_from_checkpoint(payload).to(self.device)
        self.rate = int(stft_meta["sample_rate"])
        self.spec = architecture(self.arch)
        self.kind = self.spec.output_kind(self.target)
        if self.kind == WAVEFORM:  # no STFT: the model reads and writes waveforms
            self.params = None
            return
        self.params = StftParams(stft_meta["n_fft"], stft_meta["hop"], stft_meta["window"], self.rate)
        self.floor = float(stft_meta["floor"])
        self.standardizer = Standardizer(payload["stats"]).to(self.device)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> Enhancer:
        return cls(load_checkpoint(path), device)

    @property
    def sample_rate(self) -> int:
        return self.rate

    @property
    def frame_samples(self) -> int:
        """The shortest input that fills one analysis frame (STFT size; 1 for waveform models)."""
        return self.params.n_fft if self.params else 1

    @property
    def hop(self) -> int:
        """Chunk boundaries fall on multiples of this many model-rate samples."""
        return self.params.hop if self.params else 1

    @torch.inference_mode()
    def enhance_batch(self, waves: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` float32 -> ``(batch, samples)``; inputs shorter than one frame are
        zero-padded to ``n_fft`` and the output cut back to their length."""
        if self.params is None:
            return self.model.enhance(waves.to(self.device)).cpu()
        samples = waves.shape[-1]
        padded = nn.functional.pad(waves, (0, max(0, self.params.n_fft - samples)))
        spec = stft(padded.to(self.device), self.params)
        noisy_log = log_magnitude(spec, self.floor)
        output = self.model(self.standardizer.noisy(noisy_log))
        estimate = output_to_log_magnitude(output, noisy_log, self.kind, self.standardizer)
        enhanced = istft(torch.polar(estimate.exp(), torch.angle(spec)), self.params, padded.shape[-1])
        return enhanced[..., :samples].cpu()

    def enhance(self, wave: np.ndarray) -> np.ndarray:
        """Mono ``(samples,)`` or batch ``(batch, samples)`` numpy float32 -> same shape, in one pass."""
        batch = torch.as_tensor(np.atleast_2d(wave), dtype=torch.float32)
        out = self.enhance_batch(batch).numpy()
        return out[0] if np.ndim(wave) == 1 else out

    def segment_processor(self, rate: int) -> Callable[[np.ndarray], np.ndarray]:
        """``(samples, channels)`` at ``rate`` -> enhanced, same shape; each channel on its own.

        Other rates are resampled to the model's and back (band-limited sinc, both ways).
        """
        def process(segment: np.ndarray) -> np.ndarray:
            at_model = resample(segment, rate, self.sample_rate)
            enhanced = self.enhance(np.ascontiguousarray(at_model.T)).T
            back = resample(enhanced, self.sample_rate, rate)
            # Two resamplings can leave the length one sample off; the chunk grid keeps timing exact.
            out = np.zeros_like(segment)
            out[: min(len(back), len(out))] = back[: len(out)]
            return out
        return process

    def chunk_plan(self, rate: int, seconds: ChunkSeconds) -> ChunkPlan:
        """Chunks at ``rate`` whose boundaries fall on whole STFT hops of the model."""
        grid = aligned_grid(rate, self.sample_rate, self.hop)
        return ChunkPlan.from_seconds(rate, seconds.chunk, seconds.context, seconds.fade, grid)

    def enhance_signal(self, signal: np.ndarray, rate: int, seconds: ChunkSeconds = DEFAULT_CHUNKS) -> np.ndarray:
        """``(samples, channels)`` float32 at any ``rate`` -> same shape, chunked (bounded memory)."""
        plan = self.chunk_plan(rate, seconds)
        return process_array(signal.astype(np.float32, copy=False), plan, self.segment_processor(rate))
