"""Frame-by-frame enhancement with a causal spectral model, carrying all state between calls.

The STFT is computed as the offline one (:func:`clearspeech.core.stft.stft`: centred frames, reflect
padding), one frame as soon as its last sample has arrived, so the output equals the offline
pass. Frame ``t`` covers input samples ``[t * hop - n_fft / 2, t * hop + n_fft / 2)``; the
start's reflect padding only needs samples that frame 0 needs anyway, the end's is applied at
:meth:`StreamingEnhancer.flush`. The inverse STFT is an overlap-add divided by the summed
squared window, exactly as ``torch.istft``; a sample is emitted once no later frame covers it.
The algorithmic latency is therefore one window, ``n_fft - 1`` samples.

Signals are ``(samples, channels)`` float32; every channel is one stream of the batch.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from clearspeech.core.errors import UserError
from clearspeech.core.stft import _window
from clearspeech.inference.enhancer import Enhancer
from clearspeech.models import REGISTRY
from clearspeech.models.outputs import output_to_log_magnitude


def streamable() -> list[str]:
    """The registered architectures that declare a stream class (the causal ones), sorted."""
    return sorted(name for name, spec in REGISTRY.items() if spec.stream is not None)


class StreamingError(UserError, ValueError):
    """A model or signal that cannot be streamed; the message says why."""


class StreamingEnhancer:
    """Feed ``(samples, channels)`` blocks to :meth:`process`, then call :meth:`flush` once."""

    def __init__(self, enhancer: Enhancer, channels: int) -> None:
        if enhancer.spec.stream is None:
            raise StreamingError(f"{enhancer.arch} is not causal; streaming needs one of {streamable()}")
        self.enhancer, self.params = enhancer, enhancer.params
        self.stream = enhancer.spec.stream(enhancer.model)
        self.stream.reset(channels)
        self.window = _window(self.params).double().numpy()
        self.pad, self.channels = self.params.n_fft // 2, channels
        self.input = np.zeros((0, channels))  # every sample received (float64), trimmed as frames pass
        self.input_offset = 0  # signal index of self.input[0]
        self.output = np.zeros((0, channels))  # padded-domain overlap-add numerator from out_offset on
        self.envelope = np.zeros(0)
        self.out_offset = 0  # padded index of self.output[0]
        self.frame = 0  # next frame to compute
        self.received = 0
        self.frame_seconds = 0.0  # model time spent, for the per-frame compute figure

    @property
    def latency_ms(self) -> float:
        """Algorithmic latency: the last frame that covers a sample needs ``n_fft - 1`` more."""
        return 1000.0 * (self.params.n_fft - 1) / self.params.sample_rate

    def process(self, block: np.ndarray) -> np.ndarray:
        """Take ``(n, channels)`` new samples; return the samples now final, ``(m, channels)``."""
        self.input = np.concatenate([self.input, np.asarray(block, dtype=np.float64)])
        self.received += len(block)
        # Frame t needs samples up to t * hop + pad - 1; reflecting the start needs sample pad.
        while max(self.frame * self.params.hop + self.pad, self.pad + 1) <= self.received:
            self._frame(self._samples(self.frame * self.params.hop - self.pad, final=False))
        return self._emit(self.frame * self.params.hop)

    def flush(self) -> np.ndarray:
        """The remaining frames (reflect-padded end) and every sample not yet returned."""
        if self.received <= self.pad:
            raise StreamingError(f"{self.received} samples are too few to stream (need over {self.pad})")
        while self.frame <= self.received // self.params.hop:
            self._frame(self._samples(self.frame * self.params.hop - self.pad, final=True))
        return self._emit(self.received + self.pad)

    def _samples(self, first: int, final: bool) -> np.ndarray:
        """Input samples ``[first, first + n_fft)`` with the offline STFT's reflect padding."""
        index = np.arange(first, first + self.params.n_fft)
        index = np.where(index < 0, -index, index)
        if final:
            last = self.received - 1
            index = np.where(index > last, 2 * last - index, index)
        return self.input[index - self.input_offset]

    def _frame(self, samples: np.ndarray) -> None:
        """One STFT frame ``(n_fft, channels)`` through the model into the overlap-add buffers."""
        spec = torch.from_numpy(np.fft.rfft(samples * self.window[:, None], axis=0).T.astype(np.complex64))
        noisy_log = torch.log(spec.abs().clamp_min(self.enhancer.floor))  # (channels, bins)
        started = time.perf_counter()
        with torch.inference_mode():
            output = self.stream.step(self.enhancer.standardizer.noisy(noisy_log))
        self.frame_seconds += time.perf_counter() - started
        estimate = output_to_log_magnitude(output, noisy_log, self.enhancer.kind, self.enhancer.standardizer)
        enhanced = torch.polar(estimate.exp(), torch.angle(spec)).numpy().astype(np.complex128)
        frame = np.fft.irfft(enhanced, n=self.params.n_fft, axis=-1).T * self.window[:, None]
        start = self.frame * self.params.hop - self.out_offset
        self._grow(start + self.params.n_fft)
        self.output[start:start + self.params.n_fft] += frame
        self.envelope[start:start + self.params.n_fft] += self.window**2
        self.frame += 1
        # Later frames read from their first sample on, or reflect the start (samples 1..pad), or
        # at the end reflect at most one hop further back: keep one hop of margin.
        keep_from = max(0, self.frame * self.params.hop - self.pad - self.params.hop)
        drop = keep_from - self.input_offset
        if drop > 0:
            self.input, self.input_offset = self.input[drop:], keep_from

    def _grow(self, length: int) -> None:
        if length > len(self.envelope):
            extra = length - len(self.envelope)
            self.output = np.concatenate([self.output, np.zeros((extra, self.channels))])
            self.envelope = np.concatenate([self.envelope, np.zeros(extra)])

    def _emit(self, final_until: int) -> np.ndarray:
        """Normalised samples of padded indices ``[out_offset, final_until)``, minus the padding."""
        count = max(0, final_until - self.out_offset)
        values = self.output[:count] / np.maximum(self.envelope[:count], 1e-11)[:, None]
        first = max(0, self.pad - self.out_offset)  # padded indices below pad are before the signal
        last = min(count, self.pad + self.received - self.out_offset)
        self.output, self.envelope = self.output[count:], self.envelope[count:]
        self.out_offset += count
        return values[first:last].astype(np.float32)
